/* The partition log: open, close, append, healing after write errors and
 * the periodic tick. The other jobs have files of their own (see the map
 * in log_int.h): segments and indexes (segment.c), the sync queue and
 * checkpoints (sync_queue.c), the leader-epoch cache (epoch.c), reads
 * (read.c), truncation and retention (retention.c), recovery (recover.c).
 *
 * On disk, in the partition directory:
 *   00000000000000000000.log        record batches as the clients sent them
 *   00000000000000000000.index      sparse offset index, 8-byte entries:
 *                                   relative base offset u32, position u32
 *   00000000000000000000.timeindex  time index, 12-byte entries: running
 *                                   max timestamp i64, relative offset u32
 *   log-checkpoint                  log start offset and recovery point
 *   leader-epoch-checkpoint         Kafka's format: version, count, pairs
 * All integers in index files are big-endian, as in Kafka. An index entry
 * is added for a batch when at least index.interval.bytes were appended
 * since the previous entry, so no entry has position 0, and entries are
 * strictly increasing in both fields: a zero or torn entry is detectable.
 *
 * Invariants (checked by recovery):
 *   - segment i's base offset equals the first offset of its first batch
 *     and the end offset of segment i-1;
 *   - everything below the checkpointed recovery point is on stable storage,
 *     index entries included (the checkpoint item syncs them first);
 *   - the last time-index entry of a sealed segment holds the segment's
 *     largest timestamp (written at roll). */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/diag.h"
#include "common/err.h"
#include "common/heap.h"
#include "log/batch.h"
#include "log/log_int.h"

void bk_log_config_default(struct bk_log_config *c)
{
    c->segment_bytes = 1 << 30;
    c->segment_ms = 7LL * 24 * 3600 * 1000;
    c->index_interval_bytes = 4096;
    c->retention_ms = 7LL * 24 * 3600 * 1000;
    c->retention_bytes = -1;
    c->flush_messages = INT64_MAX;
    c->flush_ms = INT64_MAX;
    c->max_message_bytes = 1048576 + 12;
    c->recovery_checkpoint_bytes = 64LL << 20;
    c->log_append_time = false;
    c->cleanup_delete = true;
    c->cleanup_compact = false;
    c->delete_retention_ms = 86400000;
    c->min_compaction_lag_ms = 0;
    c->max_compaction_lag_ms = INT64_MAX;
    c->min_cleanable_dirty_ratio = 0.5;
    c->producer_id_expiration_ms = 86400000;
    c->cleaner_enable = true;
    c->cleaner_backoff_ms = 15000;
    c->cleaner_map_bytes = 128LL << 20;
    c->write_errors_fatal = false;
}

/* ---- healing ---- */

/* After a failed write the active segment's file may hold part of a batch
 * past its size: cut it back and check it, so that the next append starts
 * on a batch boundary and offsets stay contiguous. */
static int heal_tail(struct bk_log *log)
{
    struct segment *s = log->segs[log->nsegs - 1];
    int rv = file_truncate(log, s->log_f, s->size);
    int64_t size = 0;
    if (rv == 0) {
        size = file_stat_size(log, s->log_f);
        rv = size < 0 ? (int)size : size != s->size ? BK_EIO : 0;
    }
    if (rv == 0) {
        log->tail_dirty = false;
    }
    return rv;
}

int log_fail(struct bk_log *log, int rv)
{
    bk_diag_error("log", "dir=%s err=%s msg=\"log failed\"", log->dir,
                  bk_errname(rv));
    atomic_store(&log->failed, 1);
    return BK_EIO;
}

/* An append could not write. A transient error (too many open files, out
 * of memory) or a full disk changed nothing the log relies on: the append
 * fails with that error and the next one tries again. Anything else fails
 * the log for good, as does any error when write_errors_fatal is set.
 * Logged when the error changes, not per append. */
int log_write_failed(struct bk_log *log, int rv)
{
    if (log->cfg.write_errors_fatal ||
        !(bk_err_transient(rv) || bk_err_nospace(rv))) {
        return log_fail(log, rv);
    }
    if (rv != log->write_err) {
        bk_diag_warn("log",
                     "dir=%s err=%s msg=\"append failed, refusing appends "
                     "until a retry works: %s\"",
                     log->dir, bk_errname(rv), bk_strerror(rv));
        log->write_err = rv;
    }
    return rv;
}

/* ---- open / close ---- */

int bk_log_root_begin(const struct bk_disk *disk,
                      const char *root,
                      bool *was_clean)
{
    char path[BK_LOG_PATH_MAX];
    snprintf(path, sizeof path, "%s/%s", root, CLEAN_NAME);
    int rv = disk->mkdir(disk, root);
    if (rv != 0) {
        return rv;
    }
    int64_t size;
    *was_clean = disk->stat_size(disk, path, &size) == 0;
    if (*was_clean) {
        rv = disk->unlink(disk, path);
        if (rv == 0) {
            rv = disk->fsync_dir(disk, root);
        }
    }
    return rv;
}

int bk_log_root_end(const struct bk_disk *disk, const char *root)
{
    char path[BK_LOG_PATH_MAX];
    snprintf(path, sizeof path, "%s/%s", root, CLEAN_NAME);
    return bk_disk_write_atomic(disk, root, path, "1\n", 2);
}

int bk_log_open(const char *dir,
                const struct bk_log_config *config,
                const struct bk_disk *disk,
                const struct bk_clock *clock,
                struct bk_fdcache *fc,
                struct bk_syncer *syncer,
                bool clean,
                struct bk_log **out,
                char *errmsg)
{
    if (config->segment_bytes < 1024 || config->segment_bytes > INT32_MAX ||
        config->index_interval_bytes < 1) {
        if (errmsg != NULL) {
            snprintf(errmsg, BK_ERRMSG_SIZE, "invalid log config");
        }
        return BK_ECONFIG;
    }
    struct bk_log *log = bk_calloc(1, sizeof *log);
    if (log == NULL) {
        return BK_ENOMEM;
    }
    log->dir = bk_strdup(dir);
    if (log->dir == NULL) {
        bk_free(log);
        return BK_ENOMEM;
    }
    log->cfg = *config;
    log->disk = disk;
    log->clock = clock;
    log->fc = fc;
    log->syncer = syncer;
    log->hint_offset = -1;
    log->clean_horizon = INT64_MAX;
    log->flush_ms = log->rp_ckpt_ms = bk_clock_mono_ms(clock);
    log->clean_check_ms = log->flush_ms;
    if (disk->boot_id == NULL ||
        disk->boot_id(disk, log->boot_id, sizeof log->boot_id) != 0 ||
        strchr(log->boot_id, ' ') != NULL) {
        log->boot_id[0] = '\0';
    }
    int rv = disk->mkdir(disk, dir);
    if (rv == 0) {
        rv = log_recover(log, clean, errmsg);
    } else if (errmsg != NULL) {
        snprintf(errmsg, BK_ERRMSG_SIZE, "mkdir %s: %s", dir, bk_strerror(rv));
    }
    if (rv != 0) {
        bk_syncer_barrier(syncer);
        for (int i = 0; i < log->nsegs; i++) {
            seg_free(log->segs[i]);
        }
        bk_free(log->segs);
        bk_free(log->epochs);
        bk_free(log->dir);
        bk_free(log);
        return rv;
    }
    *out = log;
    return 0;
}

int bk_log_close_begin(struct bk_log *log, bool clean)
{
    int rv = 0;
    clean_detach(log);
    /* Opened from a clean close and untouched since: the files and the
     * checkpoint on disk already say what this close would write. */
    bool unchanged = log->clean_on_disk && !log->tail_dirty &&
                     atomic_load(&log->lost) == log->lost_seen;
    if (clean && !unchanged && !atomic_load(&log->failed)) {
        struct segment *act = log->segs[log->nsegs - 1];
        if (log->tail_dirty) {
            heal_tail(log);
        }
        rv = queue_resync(log);
        if (rv == 0) {
            rv = queue_checkpoint(log, act, true);
        }
    }
    return rv;
}

int bk_log_close_end(struct bk_log *log)
{
    int rv = atomic_load(&log->failed) ? BK_EIO : 0;
    for (int i = 0; i < log->nsegs; i++) {
        seg_free(log->segs[i]);
    }
    bk_free(log->segs);
    bk_free(log->epochs);
    bk_free(log->dir);
    bk_free(log);
    return rv;
}

int bk_log_close(struct bk_log *log, bool clean)
{
    int rv = bk_log_close_begin(log, clean);
    /* Items queued by this log reference it: wait until they ran. */
    bk_syncer_barrier(log->syncer);
    int end = bk_log_close_end(log);
    return end != 0 ? end : rv;
}

void bk_log_set_config(struct bk_log *log, const struct bk_log_config *c)
{
    log->cfg = *c;
}

void bk_log_set_space(struct bk_log *log, struct bk_log_space *sp)
{
    log->space = sp;
}

/* ---- append ---- */

int bk_log_append(struct bk_log *log,
                  uint8_t *buf,
                  size_t len,
                  int32_t leader_epoch,
                  enum bk_log_append_mode mode,
                  struct bk_log_append_result *result)
{
    if (atomic_load(&log->failed)) {
        return BK_EIO;
    }
    if ((int64_t)len > log->cfg.max_message_bytes ||
        (int64_t)len > log->cfg.segment_bytes) {
        return BK_ETOOLARGE;
    }
    struct bk_batch_hdr h;
    int rv =
        bk_batch_validate(buf, len,
                          mode == BK_LOG_APPEND_LEADER ? BK_BATCH_CHECK_PRODUCE
                                                       : BK_BATCH_CHECK_STORED,
                          &h);
    if (rv != 0) {
        return rv;
    }
    int64_t base = log->leo;
    if (mode == BK_LOG_APPEND_FOLLOWER) {
        /* Kafka's follower append: offsets only go forward, and may skip
         * (batches the leader's cleaner removed whole). */
        if (h.base_offset < base) {
            return BK_EINVAL;
        }
        base = h.base_offset;
        leader_epoch = h.leader_epoch;
    }
    if (leader_epoch < bk_log_latest_epoch(log)) {
        return BK_EINVAL;
    }
    if (mode == BK_LOG_APPEND_LEADER &&
        bk_log_space_low(log->space, (int64_t)len)) {
        return BK_ENOSPC; /* below log.dir.min.free.bytes */
    }
    if (log->tail_dirty && (rv = heal_tail(log)) != 0) {
        return log_write_failed(log, rv);
    }
    struct segment *s = log->segs[log->nsegs - 1];
    if ((rv = seg_index_load(log, s)) != 0) {
        return log_write_failed(log, rv);
    }
    int64_t now = bk_clock_wall_ms(log->clock);
    int64_t last = base + h.last_offset_delta;
    if (s->size > 0 && (s->size + (int64_t)len > log->cfg.segment_bytes ||
                        now - s->created_ms >= log->cfg.segment_ms ||
                        last - s->base > (int64_t)UINT32_MAX)) {
        if ((rv = seg_roll(log)) != 0) {
            return log_write_failed(log, rv);
        }
        s = log->segs[log->nsegs - 1];
    }
    if (mode == BK_LOG_APPEND_LEADER) {
        bk_batch_set_base_offset(buf, base);
        bk_batch_set_leader_epoch(buf, leader_epoch);
    }
    result->log_append_time = -1;
    int64_t max_ts = h.max_timestamp;
    if (mode == BK_LOG_APPEND_LEADER && log->cfg.log_append_time) {
        bk_batch_set_log_append_time(buf, len, now);
        result->log_append_time = now;
        max_ts = now;
    }
    if (s->size == 0) {
        s->created_ms = now;
    }
    rv = file_pwrite(log, s->log_f, buf, len, s->size);
    if (rv != 0) {
        /* Cut off whatever part made it, so the file ends on a batch; if
         * that fails too, the next append does it before writing. */
        log->tail_dirty = true;
        heal_tail(log);
        return log_write_failed(log, rv);
    }
    if (log->write_err != 0) {
        bk_diag_info("log", "dir=%s msg=\"appends work again\"", log->dir);
        log->write_err = 0;
    }
    int64_t pos = s->size;
    s->size += (int64_t)len;
    log->leo = last + 1;
    log->clean_on_disk = false;
    seg_note_batch(log, s, base, pos, (int64_t)len, max_ts);
    if (leader_epoch >= 0 && leader_epoch > bk_log_latest_epoch(log)) {
        epochs_assign(log, leader_epoch, base);
    }
    result->base_offset = base;
    result->last_offset = last;
    log->rp_bytes += (int64_t)len;
    if (++log->unflushed >= log->cfg.flush_messages) {
        queue_sync(log);
    }
    if (log->rp_bytes >= log->cfg.recovery_checkpoint_bytes) {
        queue_soft_checkpoint(log);
    }
    return 0;
}

/* ---- state and offsets ---- */

bool bk_log_failed(const struct bk_log *log)
{
    return atomic_load(&((struct bk_log *)log)->failed) != 0;
}

const char *bk_log_dir(const struct bk_log *log)
{
    return log->dir;
}

int64_t bk_log_start_offset(const struct bk_log *log)
{
    return log->log_start;
}

int64_t bk_log_end_offset(const struct bk_log *log)
{
    return log->leo;
}

int64_t bk_log_hw(const struct bk_log *log)
{
    return log->hw;
}

void bk_log_set_hw(struct bk_log *log, int64_t hw)
{
    if (hw > log->leo) {
        hw = log->leo;
    }
    if (hw < log->log_start) {
        hw = log->log_start;
    }
    log->hw = hw;
}

/* ---- periodic work ---- */

int bk_log_tick(struct bk_log *log)
{
    if (atomic_load(&log->failed)) {
        return BK_EIO;
    }
    queue_resync(log);
    int64_t now = bk_clock_mono_ms(log->clock);
    if (log->unflushed > 0 && now - log->flush_ms >= log->cfg.flush_ms) {
        queue_sync(log);
    }
    /* Kafka checkpoints recovery points every 60 s by default
     * (log.flush.offset.checkpoint.interval.ms). */
    if (log->leo > log->rp && now - log->rp_ckpt_ms >= 60000) {
        queue_checkpoint(log, log->segs[log->nsegs - 1], false);
    }
    bk_log_retention(log);
    return 0;
}

/* ---- introspection ---- */

int64_t bk_log_size_bytes(const struct bk_log *log)
{
    int64_t n = 0;
    for (int i = 0; i < log->nsegs; i++) {
        n += log->segs[i]->size;
    }
    return n;
}

int bk_log_segment_count(const struct bk_log *log)
{
    return log->nsegs;
}

int64_t bk_log_segment_base(const struct bk_log *log, int i)
{
    return i >= 0 && i < log->nsegs ? log->segs[i]->base : -1;
}

size_t bk_log_memory(const struct bk_log *log)
{
    size_t m = sizeof *log + strlen(log->dir) + 1;
    m += (size_t)log->cap * sizeof *log->segs;
    m += (size_t)log->epochs_cap * sizeof *log->epochs;
    for (int i = 0; i < log->nsegs; i++) {
        struct segment *s = log->segs[i];
        m += s->pend != NULL ? sizeof *s->pend : 0;
        m += sizeof *s + bk_fdc_file_memory(s->log_f) +
             bk_fdc_file_memory(s->idx_f) + bk_fdc_file_memory(s->tim_f);
    }
    return m;
}

int64_t bk_log_recovery_point(const struct bk_log *log)
{
    return log->rp;
}

int64_t bk_log_recovery_scanned(const struct bk_log *log)
{
    return log->scanned;
}
