/* EndTxn under transaction version 2 (KIP-890 part 2; txn.h): every end
 * bumps the producer's epoch, so that a batch or request left over from
 * the transaction, carrying the old epoch, is fenced everywhere. */
#include "common/err.h"
#include "protocol/kerr.h"
#include "txn/txn.h"

/* next = m at `state` and the next epoch, keeping m's partitions when
 * keep (an ended transaction), none otherwise (an abort of nothing).
 * From an exhausted epoch the bump is the last one of the producer id:
 * next_pid takes over at epoch 0 once the transaction completes
 * (NextProducerId, bk_txn_complete). */
static int16_t bump_to(const struct bk_txn_meta *m,
                       enum bk_txn_state state,
                       bool keep,
                       int64_t next_pid,
                       int64_t now_ms,
                       struct bk_txn_value *next)
{
    if (m->cur.epoch == INT16_MAX) {
        return BK_KERR_PRODUCER_FENCED; /* cannot happen: rotated before */
    }
    if (bk_txn_value_copy(next, &m->cur) != 0) {
        return BK_KERR_COORDINATOR_NOT_AVAILABLE;
    }
    if (!keep) {
        bk_txn_value_free(next);
        *next = m->cur;
        next->parts = NULL;
        next->nparts = 0;
        next->start_ms = now_ms;
    }
    next->state = (int8_t)state;
    next->update_ms = now_ms;
    next->last_epoch = m->cur.epoch;
    next->epoch = (int16_t)(m->cur.epoch + 1);
    next->client_version = 2;
    if (bk_txn_epoch_exhausted(m->cur.epoch)) {
        next->next_producer_id = next_pid;
    }
    return BK_KERR_NONE;
}

/* A retry of the end that rotated the producer id: the previous id at
 * the epoch before the last bump, after the rotation completed. */
static bool rotated_retry(const struct bk_txn_meta *m,
                          int64_t pid,
                          int16_t epoch)
{
    enum bk_txn_state s = (enum bk_txn_state)m->cur.state;
    return m->cur.prev_producer_id >= 0 && pid == m->cur.prev_producer_id &&
           epoch == INT16_MAX - 1 && m->cur.epoch == 0 &&
           (s == BK_TXN_COMPLETE_COMMIT || s == BK_TXN_COMPLETE_ABORT);
}

int16_t bk_txn_end_v2(const struct bk_txn_meta *m,
                      int64_t pid,
                      int16_t epoch,
                      bool commit,
                      int64_t new_pid,
                      int64_t now_ms,
                      enum bk_txn_action *action,
                      struct bk_txn_value *next)
{
    *action = BK_TXN_ANSWER;
    if (rotated_retry(m, pid, epoch)) {
        bool same = (m->cur.state == BK_TXN_COMPLETE_COMMIT) == commit;
        return same ? BK_KERR_NONE : BK_KERR_INVALID_TXN_STATE;
    }
    if (pid != m->cur.producer_id) {
        return BK_KERR_INVALID_PRODUCER_ID_MAPPING;
    }
    enum bk_txn_state s = (enum bk_txn_state)m->cur.state;
    bool decided = s == BK_TXN_PREPARE_COMMIT || s == BK_TXN_PREPARE_ABORT ||
                   s == BK_TXN_COMPLETE_COMMIT || s == BK_TXN_COMPLETE_ABORT;
    /* The end already bumped the epoch: a retry of it carries the one
     * before. */
    bool retry = decided && m->cur.epoch > 0 && epoch == m->cur.epoch - 1;
    if (epoch != m->cur.epoch && !retry) {
        return BK_KERR_PRODUCER_FENCED;
    }
    if (m->pending) {
        return BK_KERR_CONCURRENT_TRANSACTIONS;
    }
    enum bk_txn_state prep =
        commit ? BK_TXN_PREPARE_COMMIT : BK_TXN_PREPARE_ABORT;
    bool bumps = s == BK_TXN_ONGOING ||
                 (!retry && !commit &&
                  (s == BK_TXN_EMPTY || s == BK_TXN_COMPLETE_COMMIT ||
                   s == BK_TXN_COMPLETE_ABORT));
    if (bumps && bk_txn_epoch_exhausted(m->cur.epoch) && new_pid < 0) {
        *action = BK_TXN_NEED_PID;
        return BK_KERR_NONE;
    }
    int16_t err = BK_KERR_INVALID_TXN_STATE;
    switch (s) {
        case BK_TXN_ONGOING:
            err = bump_to(m, prep, true, new_pid, now_ms, next);
            break;
        case BK_TXN_PREPARE_COMMIT:
        case BK_TXN_PREPARE_ABORT:
            return retry && prep == s ? BK_KERR_CONCURRENT_TRANSACTIONS
                                      : BK_KERR_INVALID_TXN_STATE;
        case BK_TXN_COMPLETE_COMMIT:
        case BK_TXN_COMPLETE_ABORT:
        case BK_TXN_EMPTY:
            if (retry) {
                bool same = (s == BK_TXN_COMPLETE_COMMIT) == commit;
                /* A commit of what the coordinator aborted (its timeout,
                 * a fence): the client aborts and goes on. */
                return same ? BK_KERR_NONE
                            : (commit ? BK_KERR_TRANSACTION_ABORTABLE
                                      : BK_KERR_INVALID_TXN_STATE);
            }
            if (commit) {
                return BK_KERR_INVALID_TXN_STATE; /* nothing to commit */
            }
            /* The client cannot know whether its failed batches added
             * partitions, so it always aborts: end nothing, at a new
             * epoch, as Kafka does. */
            err =
                bump_to(m, BK_TXN_PREPARE_ABORT, false, new_pid, now_ms, next);
            break;
        default:
            return BK_KERR_INVALID_TXN_STATE;
    }
    if (err == BK_KERR_NONE) {
        *action = BK_TXN_WRITE;
    }
    return err;
}
