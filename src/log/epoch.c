/* The leader-epoch cache: the first offset of each leader epoch, as in
 * Kafka's leader-epoch-checkpoint (KIP-101, KIP-279), kept in memory and
 * written through the sync queue when it changes. */
#include <string.h>

#include "common/err.h"
#include "common/heap.h"
#include "log/log_int.h"

/* ---- leader epochs ---- */

int epochs_assign(struct bk_log *log, int32_t epoch, int64_t start)
{
    if (log->nepochs > 0 && log->epochs[log->nepochs - 1].epoch >= epoch) {
        return 0;
    }
    if (log->nepochs == log->epochs_cap) {
        int cap = log->epochs_cap == 0 ? 2 : log->epochs_cap * 2;
        struct epoch_entry *n =
            bk_realloc(log->epochs, (size_t)cap * sizeof *n);
        if (n == NULL) {
            return BK_ENOMEM;
        }
        log->epochs = n;
        log->epochs_cap = cap;
    }
    log->epochs[log->nepochs++] = (struct epoch_entry){ epoch, start };
    return queue_epochs(log);
}

void epochs_truncate_end(struct bk_log *log, int64_t leo)
{
    int n = log->nepochs;
    while (log->nepochs > 0 && log->epochs[log->nepochs - 1].start >= leo) {
        log->nepochs--;
    }
    if (n != log->nepochs) {
        queue_epochs(log);
    }
}

void epochs_truncate_start(struct bk_log *log, int64_t start)
{
    int drop = 0;
    while (drop + 1 < log->nepochs && log->epochs[drop + 1].start <= start) {
        drop++;
    }
    if (drop > 0 || (log->nepochs > 0 && log->epochs[0].start < start)) {
        memmove(log->epochs, log->epochs + drop,
                (size_t)(log->nepochs - drop) * sizeof *log->epochs);
        log->nepochs -= drop;
        log->epochs[0].start = start;
        queue_epochs(log);
    }
}

int bk_log_assign_epoch(struct bk_log *log, int32_t epoch)
{
    if (epoch < 0 || epoch < bk_log_latest_epoch(log)) {
        return BK_EINVAL;
    }
    if (atomic_load(&log->failed)) {
        return BK_EIO;
    }
    return epochs_assign(log, epoch, log->leo);
}

int32_t bk_log_latest_epoch(const struct bk_log *log)
{
    return log->nepochs > 0 ? log->epochs[log->nepochs - 1].epoch : -1;
}

int64_t bk_log_epoch_first_start(const struct bk_log *log)
{
    return log->nepochs > 0 ? log->epochs[0].start : -1;
}

int bk_log_epoch_end_offset(const struct bk_log *log,
                            int32_t epoch,
                            int32_t *found_epoch,
                            int64_t *end_offset)
{
    for (int i = log->nepochs - 1; i >= 0; i--) {
        if (log->epochs[i].epoch <= epoch) {
            *found_epoch = log->epochs[i].epoch;
            *end_offset =
                i + 1 < log->nepochs ? log->epochs[i + 1].start : log->leo;
            return 0;
        }
    }
    *found_epoch = -1;
    *end_offset = -1;
    return BK_ENOTFOUND;
}
