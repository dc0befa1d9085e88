/* The transaction state machine (txn.h): Kafka's TransactionMetadata
 * transitions and the checks TransactionCoordinator makes before each. */
#include <string.h>

#include "common/err.h"
#include "protocol/kerr.h"
#include "txn/txn.h"

static const char *const state_names[BK_TXN_NSTATES] = {
    "Empty",          "Ongoing",       "PrepareCommit", "PrepareAbort",
    "CompleteCommit", "CompleteAbort", "Dead",          "PrepareEpochFence",
};

/* Bit s set in allowed_from[t]: state t may follow state s. */
#define BIT(s) (1u << (s))
static const unsigned allowed_from[BK_TXN_NSTATES] = {
    [BK_TXN_EMPTY] = BIT(BK_TXN_EMPTY) | BIT(BK_TXN_COMPLETE_COMMIT) |
                     BIT(BK_TXN_COMPLETE_ABORT),
    [BK_TXN_ONGOING] = BIT(BK_TXN_ONGOING) | BIT(BK_TXN_EMPTY) |
                       BIT(BK_TXN_COMPLETE_COMMIT) | BIT(BK_TXN_COMPLETE_ABORT),
    [BK_TXN_PREPARE_COMMIT] = BIT(BK_TXN_ONGOING),
    /* Transaction version 2 also aborts nothing at a new epoch. */
    [BK_TXN_PREPARE_ABORT] = BIT(BK_TXN_ONGOING) |
                             BIT(BK_TXN_PREPARE_EPOCH_FENCE) |
                             BIT(BK_TXN_EMPTY) | BIT(BK_TXN_COMPLETE_COMMIT) |
                             BIT(BK_TXN_COMPLETE_ABORT),
    [BK_TXN_COMPLETE_COMMIT] = BIT(BK_TXN_PREPARE_COMMIT),
    [BK_TXN_COMPLETE_ABORT] = BIT(BK_TXN_PREPARE_ABORT),
    [BK_TXN_DEAD] = BIT(BK_TXN_EMPTY) | BIT(BK_TXN_COMPLETE_COMMIT) |
                    BIT(BK_TXN_COMPLETE_ABORT),
    [BK_TXN_PREPARE_EPOCH_FENCE] = BIT(BK_TXN_ONGOING),
};

const char *bk_txn_state_name(int state)
{
    if (state < 0 || state >= BK_TXN_NSTATES) {
        return "Unknown";
    }
    return state_names[state];
}

bool bk_txn_can_transit(enum bk_txn_state from, enum bk_txn_state to)
{
    if ((unsigned)from >= BK_TXN_NSTATES || (unsigned)to >= BK_TXN_NSTATES) {
        return false;
    }
    return (allowed_from[to] & BIT(from)) != 0;
}

bool bk_txn_epoch_exhausted(int16_t epoch)
{
    return epoch >= INT16_MAX - 1;
}

void bk_txn_meta_init(struct bk_txn_meta *m, int64_t pid, int64_t now_ms)
{
    memset(m, 0, sizeof(*m));
    m->cur.producer_id = pid;
    m->cur.prev_producer_id = BK_TXN_NO_PID;
    m->cur.next_producer_id = BK_TXN_NO_PID;
    m->cur.epoch = BK_TXN_NO_EPOCH;
    m->cur.last_epoch = BK_TXN_NO_EPOCH;
    m->cur.state = BK_TXN_EMPTY;
    m->cur.update_ms = now_ms;
    m->cur.start_ms = -1;
}

void bk_txn_meta_load(struct bk_txn_meta *m, struct bk_txn_value *v)
{
    memset(m, 0, sizeof(*m));
    m->cur = *v;
    m->cur.last_epoch = BK_TXN_NO_EPOCH;
    v->parts = NULL;
    v->nparts = 0;
}

void bk_txn_meta_free(struct bk_txn_meta *m)
{
    bk_txn_value_free(&m->cur);
}

/* next = a copy of m's value moved to `state` at now_ms, with no
 * partitions (the callers that keep them copy them). */
static void prepare(const struct bk_txn_meta *m,
                    enum bk_txn_state state,
                    int64_t now_ms,
                    struct bk_txn_value *next)
{
    *next = m->cur;
    next->parts = NULL;
    next->nparts = 0;
    next->state = (int8_t)state;
    next->update_ms = now_ms;
}

/* prepareIncrementProducerEpoch: Empty at the next epoch, or the current
 * one again for a retry that sent the epoch before the last bump. */
static int16_t bump_epoch(const struct bk_txn_meta *m,
                          bool has_expected,
                          int16_t expected,
                          int32_t timeout_ms,
                          int64_t now_ms,
                          struct bk_txn_value *next)
{
    int16_t epoch = (int16_t)(m->cur.epoch + 1);
    int16_t last = BK_TXN_NO_EPOCH;
    if (has_expected) {
        if (m->cur.epoch == BK_TXN_NO_EPOCH || expected == m->cur.epoch) {
            last = m->cur.epoch;
        } else if (expected == m->cur.last_epoch) {
            /* A retry whose answer was lost: the epoch it was given. */
            epoch = m->cur.epoch;
            last = m->cur.last_epoch;
        } else {
            return BK_KERR_PRODUCER_FENCED;
        }
    }
    prepare(m, BK_TXN_EMPTY, now_ms, next);
    next->epoch = epoch;
    next->last_epoch = last;
    next->timeout_ms = timeout_ms;
    next->start_ms = -1;
    return BK_KERR_NONE;
}

/* Whether a KIP-360 pair may touch m (isValidProducerId): m was just
 * created, it is m's producer id, or it is the previous id at an
 * exhausted epoch (a retry after a rotation). */
static bool valid_expected(const struct bk_txn_meta *m,
                           int64_t pid,
                           int16_t epoch)
{
    return m->cur.epoch == BK_TXN_NO_EPOCH || pid == m->cur.producer_id ||
           (pid == m->cur.prev_producer_id && bk_txn_epoch_exhausted(epoch));
}

int16_t bk_txn_init_pid(const struct bk_txn_meta *m,
                        bool has_expected,
                        int64_t pid,
                        int16_t epoch,
                        int32_t timeout_ms,
                        int64_t new_pid,
                        int64_t now_ms,
                        enum bk_txn_action *action,
                        struct bk_txn_value *next)
{
    *action = BK_TXN_ANSWER;
    if (m->pending) {
        return BK_KERR_CONCURRENT_TRANSACTIONS;
    }
    if (has_expected && !valid_expected(m, pid, epoch)) {
        return BK_KERR_PRODUCER_FENCED;
    }
    switch ((enum bk_txn_state)m->cur.state) {
        case BK_TXN_PREPARE_COMMIT:
        case BK_TXN_PREPARE_ABORT:
            return BK_KERR_CONCURRENT_TRANSACTIONS;
        case BK_TXN_ONGOING: {
            /* A zombie's transaction: abort it at a bumped epoch first; the
             * client retries and its retry bumps again, so the fencing epoch
             * never reaches a producer. */
            int16_t err = bk_txn_fence_abort(m, now_ms, next);
            if (err == BK_KERR_NONE) {
                *action = BK_TXN_FENCE;
            }
            return err;
        }
        case BK_TXN_EMPTY:
        case BK_TXN_COMPLETE_COMMIT:
        case BK_TXN_COMPLETE_ABORT:
            break;
        default:
            return BK_KERR_INVALID_TXN_STATE;
    }
    if (bk_txn_epoch_exhausted(m->cur.epoch) &&
        (!has_expected || epoch == m->cur.epoch)) {
        /* prepareProducerIdRotation: a new id at epoch 0. */
        if (new_pid < 0) {
            *action = BK_TXN_NEED_PID;
            return BK_KERR_NONE;
        }
        prepare(m, BK_TXN_EMPTY, now_ms, next);
        next->prev_producer_id = m->cur.producer_id;
        next->producer_id = new_pid;
        next->epoch = 0;
        next->last_epoch = has_expected ? m->cur.epoch : BK_TXN_NO_EPOCH;
        next->timeout_ms = timeout_ms;
        next->start_ms = -1;
        *action = BK_TXN_WRITE;
        return BK_KERR_NONE;
    }
    int16_t err = bump_epoch(m, has_expected, epoch, timeout_ms, now_ms, next);
    if (err == BK_KERR_NONE) {
        *action = BK_TXN_WRITE;
    }
    return err;
}

int16_t bk_txn_check_producer(const struct bk_txn_meta *m,
                              int64_t pid,
                              int16_t epoch)
{
    if (m->cur.next_producer_id >= 0 && pid == m->cur.next_producer_id) {
        /* The client was told its new id at the end of a transaction
         * that is still being completed: it may go on once it is. */
        return BK_KERR_CONCURRENT_TRANSACTIONS;
    }
    if (pid != m->cur.producer_id) {
        return BK_KERR_INVALID_PRODUCER_ID_MAPPING;
    }
    if (epoch != m->cur.epoch) {
        return BK_KERR_PRODUCER_FENCED;
    }
    if (m->pending) {
        return BK_KERR_CONCURRENT_TRANSACTIONS;
    }
    return BK_KERR_NONE;
}

int16_t bk_txn_add_partitions(const struct bk_txn_meta *m,
                              int64_t pid,
                              int16_t epoch,
                              const struct bk_str *topics,
                              const int32_t *partitions,
                              size_t n,
                              int64_t now_ms,
                              enum bk_txn_action *action,
                              struct bk_txn_value *next)
{
    *action = BK_TXN_ANSWER;
    int16_t err = bk_txn_check_producer(m, pid, epoch);
    if (err != BK_KERR_NONE) {
        return err;
    }
    enum bk_txn_state s = (enum bk_txn_state)m->cur.state;
    if (s == BK_TXN_PREPARE_COMMIT || s == BK_TXN_PREPARE_ABORT) {
        return BK_KERR_CONCURRENT_TRANSACTIONS;
    }
    if (!bk_txn_can_transit(s, BK_TXN_ONGOING)) {
        return BK_KERR_INVALID_TXN_STATE;
    }
    bool all = s == BK_TXN_ONGOING;
    for (size_t i = 0; i < n && all; i++) {
        all = bk_txn_value_has(&m->cur, topics[i], partitions[i]);
    }
    if (all) {
        return BK_KERR_NONE; /* nothing new: no write */
    }
    if (bk_txn_value_copy(next, &m->cur) != 0) {
        return BK_KERR_COORDINATOR_NOT_AVAILABLE;
    }
    next->state = BK_TXN_ONGOING;
    next->update_ms = now_ms;
    if (s != BK_TXN_ONGOING) {
        next->start_ms = now_ms; /* the transaction starts here */
    }
    for (size_t i = 0; i < n; i++) {
        if (bk_txn_value_add(next, topics[i], partitions[i]) != 0) {
            bk_txn_value_free(next);
            return BK_KERR_COORDINATOR_NOT_AVAILABLE;
        }
    }
    *action = BK_TXN_WRITE;
    return BK_KERR_NONE;
}

int16_t bk_txn_verify(const struct bk_txn_meta *m,
                      int64_t pid,
                      int16_t epoch,
                      const struct bk_str *topics,
                      const int32_t *partitions,
                      size_t n,
                      int16_t *errs)
{
    int16_t err = bk_txn_check_producer(m, pid, epoch);
    enum bk_txn_state s = (enum bk_txn_state)m->cur.state;
    if (err == BK_KERR_NONE &&
        (s == BK_TXN_PREPARE_COMMIT || s == BK_TXN_PREPARE_ABORT)) {
        /* The transaction is ending: the producer retries, and by then
         * its epoch or state tells. */
        err = BK_KERR_CONCURRENT_TRANSACTIONS;
    }
    for (size_t i = 0; i < n; i++) {
        if (err != BK_KERR_NONE) {
            errs[i] = err;
        } else {
            /* Only an Ongoing transaction holds partitions; a partition
             * it lacks would open a transaction no coordinator knows,
             * which would hang the last stable offset (KAFKA-12671). */
            errs[i] =
                s == BK_TXN_ONGOING &&
                        bk_txn_value_has(&m->cur, topics[i], partitions[i])
                    ? BK_KERR_NONE
                    : BK_KERR_TRANSACTION_ABORTABLE;
        }
    }
    return err;
}

/* next = m moved to `state`, keeping its partitions. */
static int16_t prepare_keep(const struct bk_txn_meta *m,
                            enum bk_txn_state state,
                            int64_t now_ms,
                            struct bk_txn_value *next)
{
    if (bk_txn_value_copy(next, &m->cur) != 0) {
        return BK_KERR_COORDINATOR_NOT_AVAILABLE;
    }
    next->state = (int8_t)state;
    next->update_ms = now_ms;
    return BK_KERR_NONE;
}

int16_t bk_txn_end(const struct bk_txn_meta *m,
                   int64_t pid,
                   int16_t epoch,
                   bool commit,
                   int64_t now_ms,
                   enum bk_txn_action *action,
                   struct bk_txn_value *next)
{
    *action = BK_TXN_ANSWER;
    int16_t err = bk_txn_check_producer(m, pid, epoch);
    if (err != BK_KERR_NONE) {
        return err;
    }
    switch ((enum bk_txn_state)m->cur.state) {
        case BK_TXN_ONGOING:
            err = prepare_keep(
                m, commit ? BK_TXN_PREPARE_COMMIT : BK_TXN_PREPARE_ABORT,
                now_ms, next);
            if (err == BK_KERR_NONE) {
                *action = BK_TXN_WRITE;
            }
            return err;
        case BK_TXN_COMPLETE_COMMIT:
            /* A retry of the end that completed: success, nothing written. */
            return commit ? BK_KERR_NONE : BK_KERR_INVALID_TXN_STATE;
        case BK_TXN_COMPLETE_ABORT:
            return commit ? BK_KERR_INVALID_TXN_STATE : BK_KERR_NONE;
        case BK_TXN_PREPARE_COMMIT:
            return commit ? BK_KERR_CONCURRENT_TRANSACTIONS
                          : BK_KERR_INVALID_TXN_STATE;
        case BK_TXN_PREPARE_ABORT:
            return commit ? BK_KERR_INVALID_TXN_STATE
                          : BK_KERR_CONCURRENT_TRANSACTIONS;
        default:
            return BK_KERR_INVALID_TXN_STATE; /* Empty: nothing to end */
    }
}

int16_t bk_txn_fence_abort(const struct bk_txn_meta *m,
                           int64_t now_ms,
                           struct bk_txn_value *next)
{
    if (m->pending) {
        return BK_KERR_CONCURRENT_TRANSACTIONS;
    }
    if (m->cur.state != BK_TXN_ONGOING) {
        return BK_KERR_INVALID_TXN_STATE;
    }
    int16_t err = prepare_keep(m, BK_TXN_PREPARE_ABORT, now_ms, next);
    if (err != BK_KERR_NONE) {
        return err;
    }
    /* Kafka keeps the epoch when it is already at Short.MaxValue: the
     * abort still goes out, at the epoch the zombie holds. */
    if (m->cur.epoch < INT16_MAX) {
        next->last_epoch = m->cur.epoch;
        next->epoch = (int16_t)(m->cur.epoch + 1);
    }
    return BK_KERR_NONE;
}

int16_t bk_txn_complete(const struct bk_txn_meta *m,
                        int64_t now_ms,
                        struct bk_txn_value *next)
{
    enum bk_txn_state to;
    if (m->cur.state == BK_TXN_PREPARE_COMMIT) {
        to = BK_TXN_COMPLETE_COMMIT;
    } else if (m->cur.state == BK_TXN_PREPARE_ABORT) {
        to = BK_TXN_COMPLETE_ABORT;
    } else {
        return BK_KERR_INVALID_TXN_STATE;
    }
    prepare(m, to, now_ms, next); /* the partition set is done with */
    if (m->cur.next_producer_id >= 0) {
        /* The end rotated the producer id (transaction version 2). */
        next->prev_producer_id = m->cur.producer_id;
        next->producer_id = m->cur.next_producer_id;
        next->next_producer_id = BK_TXN_NO_PID;
        next->epoch = 0;
        next->last_epoch = BK_TXN_NO_EPOCH;
    }
    return BK_KERR_NONE;
}

void bk_txn_answer_pair(const struct bk_txn_value *v,
                        int64_t *pid,
                        int16_t *epoch)
{
    if (v->next_producer_id >= 0) {
        *pid = v->next_producer_id;
        *epoch = 0;
    } else {
        *pid = v->producer_id;
        *epoch = v->epoch;
    }
}

bool bk_txn_timed_out(const struct bk_txn_meta *m, int64_t now_ms)
{
    return !m->pending && m->cur.state == BK_TXN_ONGOING &&
           m->cur.start_ms + m->cur.timeout_ms < now_ms;
}

bool bk_txn_id_expired(const struct bk_txn_meta *m,
                       int64_t now_ms,
                       int64_t expiration_ms)
{
    enum bk_txn_state s = (enum bk_txn_state)m->cur.state;
    return !m->pending && bk_txn_can_transit(s, BK_TXN_DEAD) &&
           m->cur.update_ms + expiration_ms <= now_ms;
}

void bk_txn_begin(struct bk_txn_meta *m, bool fencing)
{
    m->pending = true;
    m->fencing = fencing;
}

void bk_txn_finish(struct bk_txn_meta *m, struct bk_txn_value *next, bool ok)
{
    m->pending = false;
    m->fencing = false;
    if (!ok) {
        bk_txn_value_free(next);
        return;
    }
    bk_txn_value_free(&m->cur);
    m->cur = *next;
    next->parts = NULL;
    next->nparts = 0;
}
