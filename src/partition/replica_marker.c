/* Transaction markers written by this partition's leader
 * (WriteTxnMarkers; replica.h, bk_replica_write_marker).
 *
 * Happy path: the marker's producer epoch and coordinator epoch are
 * checked against producer state (Kafka's appendEndTxnMarker), a control
 * batch with one marker is appended at the leader epoch, and producer
 * state closes the transaction (an abort is listed for read_committed
 * fetches). The caller then waits for the marker to be committed, as
 * Kafka writes markers with acks=all. Failure modes: not the leader, a
 * fenced producer epoch or coordinator, the log's append errors. */
#include "common/err.h"
#include "common/heap.h"
#include "partition/replica.h"
#include "partition/replica_int.h"
#include "protocol/control.h"
#include "protocol/kerr.h"

int16_t bk_replica_write_marker(struct bk_partition *p,
                                int64_t producer_id,
                                int16_t producer_epoch,
                                bool commit,
                                int32_t coordinator_epoch,
                                int64_t timestamp,
                                int64_t *offset)
{
    if (p->role != BK_REPLICA_LEADER) {
        return BK_KERR_NOT_LEADER_OR_FOLLOWER;
    }
    switch (bk_pstate_check_marker(&p->pstate, producer_id, producer_epoch,
                                   coordinator_epoch)) {
        case BK_PSTATE_BAD_EPOCH:
            return BK_KERR_INVALID_PRODUCER_EPOCH;
        case BK_PSTATE_FENCED:
            return BK_KERR_TRANSACTION_COORDINATOR_FENCED;
        default:
            break;
    }
    uint8_t *batch;
    size_t len;
    if (bk_ctrl_marker_batch(producer_id, producer_epoch, commit,
                             coordinator_epoch, timestamp, NULL, &batch,
                             &len) != 0) {
        return BK_KERR_UNKNOWN_SERVER_ERROR;
    }
    int64_t base, last;
    int rv =
        bk_replica_append_records(p, batch, len, 1, timestamp, &base, &last);
    if (rv == 0) {
        *offset = base; /* producer state closed it (bk_part_txn_apply) */
    }
    bk_free(batch);
    if (rv == BK_ENOTLEADER) {
        return BK_KERR_NOT_LEADER_OR_FOLLOWER;
    }
    if (rv != 0) {
        return bk_replica_append_error(rv);
    }
    return BK_KERR_NONE;
}
