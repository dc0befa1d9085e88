/* What transactional and control batches do to producer state
 * (partition.h, bk_part_txn_apply): the same for the leader's appends,
 * a follower's and the replay after a restart, so that a follower that
 * becomes leader, or a restarted broker, knows which transactions are
 * open and where the last stable offset is. */
#include "common/diag.h"
#include "log/batch.h"
#include "log/log.h"
#include "partition/partition.h"
#include "protocol/control.h"

void bk_part_txn_apply(struct bk_partition *p,
                       const uint8_t *batch,
                       size_t len,
                       int64_t base_offset)
{
    if (len < BK_BATCH_HEADER_SIZE) {
        return;
    }
    struct bk_batch_hdr h;
    bk_batch_hdr_decode(batch, &h);
    if (h.producer_id < 0 ||
        (h.attributes & BK_BATCH_ATTR_TRANSACTIONAL) == 0) {
        return;
    }
    if ((h.attributes & BK_BATCH_ATTR_CONTROL) == 0) {
        bk_pstate_begin_txn(&p->pstate, h.producer_id, h.producer_epoch,
                            base_offset);
        return;
    }
    bool commit;
    int32_t coordinator_epoch;
    if (bk_ctrl_marker_read(batch, len, &commit, &coordinator_epoch) != 0) {
        return; /* compacted empty, or not a transaction marker */
    }
    /* Closed transactions the high watermark has passed are stable:
     * forget them before adding one. */
    bk_pstate_stable_to(&p->pstate, bk_log_hw(p->log));
    bk_pstate_trim_aborted(&p->pstate, bk_log_start_offset(p->log));
    struct bk_pstate_txn t;
    int rv = bk_pstate_end_txn(&p->pstate, h.producer_id, h.producer_epoch,
                               coordinator_epoch, commit, base_offset, &t);
    if (rv < 0) {
        bk_diag_warn("partition",
                     "topic=%s partition=%d msg=\"producer state: out of "
                     "memory\"",
                     p->topic, p->index);
    }
}
