/* The transaction coordinator's state machine for one transactional id
 * (Kafka's TransactionMetadata and the checks of TransactionCoordinator),
 * as pure logic: no I/O, times passed in.
 *
 * Every change follows Kafka's two steps so that memory never runs ahead
 * of the log: a bk_txn_* check builds the next state as a copy (`next`),
 * bk_txn_begin() marks it pending, the caller appends it to
 * __transaction_state, and bk_txn_finish() makes it current once the
 * append is committed (or drops it when the append failed). While a
 * change is pending every request meets CONCURRENT_TRANSACTIONS (one
 * transition in flight per id).
 *
 * States and the states they may follow (TransactionState.scala):
 *   Empty 0           Empty, CompleteCommit, CompleteAbort
 *   Ongoing 1         Ongoing, Empty, CompleteCommit, CompleteAbort
 *   PrepareCommit 2   Ongoing
 *   PrepareAbort 3    Ongoing, PrepareEpochFence
 *   CompleteCommit 4  PrepareCommit
 *   CompleteAbort 5   PrepareAbort
 *   Dead 6            Empty, CompleteCommit, CompleteAbort
 *   PrepareEpochFence 7  Ongoing
 * PrepareEpochFence is never written: as in Kafka, the fence bumps the
 * epoch in memory and goes straight on to PrepareAbort, which is.
 *
 * bk_txn_end is the transaction version 0/1 protocol (EndTxn up to v4);
 * bk_txn_end_v2 (state_v2.c) bumps the epoch per transaction (KIP-890
 * part 2, EndTxn v5).
 *
 * Prefix: bk_txn_. Record formats of __transaction_state: records.h. */
#ifndef BK_TXN_TXN_H
#define BK_TXN_TXN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "protocol/prim.h"

enum bk_txn_state {
    BK_TXN_EMPTY = 0,
    BK_TXN_ONGOING = 1,
    BK_TXN_PREPARE_COMMIT = 2,
    BK_TXN_PREPARE_ABORT = 3,
    BK_TXN_COMPLETE_COMMIT = 4,
    BK_TXN_COMPLETE_ABORT = 5,
    BK_TXN_DEAD = 6,
    BK_TXN_PREPARE_EPOCH_FENCE = 7,
};
#define BK_TXN_NSTATES 8

/* Kafka's RecordBatch.NO_PRODUCER_EPOCH / NO_PRODUCER_ID. */
#define BK_TXN_NO_EPOCH ((int16_t)-1)
#define BK_TXN_NO_PID   ((int64_t)-1)

/* Kafka's name of a state ("PrepareCommit"), as DescribeTransactions and
 * ListTransactions report it; "Unknown" out of range. */
const char *bk_txn_state_name(int state);

/* Whether `to` may follow `from` (the table above). */
bool bk_txn_can_transit(enum bk_txn_state from, enum bk_txn_state to);

/* An epoch past which a producer id is rotated: Kafka's
 * TransactionMetadata.isEpochExhausted (Short.MaxValue - 1, so that one
 * fencing bump still fits). */
bool bk_txn_epoch_exhausted(int16_t epoch);

/* One partition of a transaction; topic is owned (bk_heap). */
struct bk_txn_tp {
    char *topic;
    int32_t partition;
};

/* What __transaction_state holds for an id: TransactionLogValue's fields.
 * parts is owned (bk_txn_value_free), sorted by topic then partition. */
struct bk_txn_value {
    int64_t producer_id;
    int64_t prev_producer_id; /* -1: none (value v1 tag 0) */
    int64_t next_producer_id; /* -1: none (value v1 tag 1, TV2) */
    int16_t epoch;
    /* The epoch before the last bump, or -1; memory only (Kafka's
     * lastProducerEpoch is not in the record): it lets a KIP-360 retry
     * whose answer was lost get the same epoch again. */
    int16_t last_epoch;
    int32_t timeout_ms;
    int8_t state; /* enum bk_txn_state */
    struct bk_txn_tp *parts;
    size_t nparts;
    int64_t update_ms;
    int64_t start_ms;       /* -1 unless a transaction is open */
    int16_t client_version; /* value v1 tag 2 */
};

/* The id's state in memory: the current value and the change in
 * flight. */
struct bk_txn_meta {
    struct bk_txn_value cur;
    bool pending; /* a change is being written */
    bool fencing; /* that change is the abort of a fenced epoch */
};

/* Frees v's partitions and empties it. */
void bk_txn_value_free(struct bk_txn_value *v);
/* Deep copy into *dst (overwritten). Returns 0 or BK_ENOMEM. */
int bk_txn_value_copy(struct bk_txn_value *dst, const struct bk_txn_value *src);
/* Whether v holds topic/partition. */
bool bk_txn_value_has(const struct bk_txn_value *v,
                      struct bk_str topic,
                      int32_t partition);
/* Adds topic/partition to v unless present. Returns 0 or BK_ENOMEM. */
int bk_txn_value_add(struct bk_txn_value *v,
                     struct bk_str topic,
                     int32_t partition);

/* Starts m for an id seen for the first time (Kafka: a new
 * TransactionMetadata): producer id pid, no epoch yet, Empty. */
void bk_txn_meta_init(struct bk_txn_meta *m, int64_t pid, int64_t now_ms);
/* Sets m from a value read back from the log (takes ownership of v's
 * partitions; *v is emptied). */
void bk_txn_meta_load(struct bk_txn_meta *m, struct bk_txn_value *v);
void bk_txn_meta_free(struct bk_txn_meta *m);

/* What the caller does with a check's result. */
enum bk_txn_action {
    BK_TXN_ANSWER = 0, /* nothing to write: answer with the error (or
                          NONE and the current producer id/epoch) */
    BK_TXN_WRITE,      /* write `next`, finish, then answer */
    BK_TXN_NEED_PID,   /* a new producer id is needed: call again with
                          new_pid set */
    BK_TXN_FENCE,      /* write `next` (PrepareAbort at a bumped epoch),
                          answer CONCURRENT_TRANSACTIONS, and complete the
                          abort (markers, then bk_txn_complete) */
};

/* InitProducerId for m (prepareInitProducerIdTransit): has_expected with
 * pid/epoch is KIP-360's current pair (v3+); new_pid is a fresh producer
 * id or -1. Returns the Kafka error (fencing as PRODUCER_FENCED: the
 * caller maps it to INVALID_PRODUCER_EPOCH below v4) and sets *action;
 * with WRITE or FENCE, `next` is filled (owned by the caller). */
int16_t bk_txn_init_pid(const struct bk_txn_meta *m,
                        bool has_expected,
                        int64_t pid,
                        int16_t epoch,
                        int32_t timeout_ms,
                        int64_t new_pid,
                        int64_t now_ms,
                        enum bk_txn_action *action,
                        struct bk_txn_value *next);

/* The pid/epoch check shared by AddPartitionsToTxn, AddOffsetsToTxn and
 * EndTxn: INVALID_PRODUCER_ID_MAPPING, PRODUCER_FENCED,
 * CONCURRENT_TRANSACTIONS (a change in flight, or the producer id that
 * takes over once the ending transaction completes) or NONE. */
int16_t bk_txn_check_producer(const struct bk_txn_meta *m,
                              int64_t pid,
                              int16_t epoch);

/* AddPartitionsToTxn / AddOffsetsToTxn (prepareAddPartitions): adds the
 * n partitions (topics[i], partitions[i], borrowed). Returns the error;
 * *action is ANSWER (nothing new, or an error) or WRITE (next: Ongoing
 * with the union, started now unless already Ongoing). */
int16_t bk_txn_add_partitions(const struct bk_txn_meta *m,
                              int64_t pid,
                              int16_t epoch,
                              const struct bk_str *topics,
                              const int32_t *partitions,
                              size_t n,
                              int64_t now_ms,
                              enum bk_txn_action *action,
                              struct bk_txn_value *next);

/* AddPartitionsToTxn v4+ with VerifyOnly (KIP-890 part 1), asked by a
 * partition leader before the first transactional batch of a producer
 * there: errs[i] (n of them, caller's) is NONE when topics[i] /
 * partitions[i] is in m's Ongoing transaction, TRANSACTION_ABORTABLE
 * when it is not, or the producer check's error. Returns that error
 * (INVALID_PRODUCER_ID_MAPPING, PRODUCER_FENCED, CONCURRENT_TRANSACTIONS:
 * a change in flight or a Prepare state) or NONE. Writes nothing. */
int16_t bk_txn_verify(const struct bk_txn_meta *m,
                      int64_t pid,
                      int16_t epoch,
                      const struct bk_str *topics,
                      const int32_t *partitions,
                      size_t n,
                      int16_t *errs);

/* EndTxn from the client (TV0/1): commit or abort. Returns the error;
 * *action is ANSWER (an idempotent retry of a completed end: NONE; or an
 * error) or WRITE (next: PrepareCommit / PrepareAbort). */
int16_t bk_txn_end(const struct bk_txn_meta *m,
                   int64_t pid,
                   int16_t epoch,
                   bool commit,
                   int64_t now_ms,
                   enum bk_txn_action *action,
                   struct bk_txn_value *next);

/* EndTxn v5+ (transaction version 2, KIP-890 part 2): as bk_txn_end,
 * but the end bumps the epoch (next carries it: the markers use it and
 * the answer returns it), a retry of a decided end carries the epoch
 * before the bump, and an abort with nothing open (Empty, Complete*)
 * still ends at a new epoch with no partitions. A commit retried after
 * the coordinator aborted is TRANSACTION_ABORTABLE. From an exhausted
 * epoch the end also rotates the producer id (Kafka's NextProducerId):
 * next names new_pid, which takes over at epoch 0 on completion; with
 * new_pid -1 the action is NEED_PID. The pair to answer with is
 * bk_txn_answer_pair's. */
int16_t bk_txn_end_v2(const struct bk_txn_meta *m,
                      int64_t pid,
                      int16_t epoch,
                      bool commit,
                      int64_t new_pid,
                      int64_t now_ms,
                      enum bk_txn_action *action,
                      struct bk_txn_value *next);

/* The producer id and epoch a client goes on with after an EndTxn v5 that
 * left v: the next producer id at epoch 0 while a rotation is pending,
 * else v's own pair. */
void bk_txn_answer_pair(const struct bk_txn_value *v,
                        int64_t *pid,
                        int16_t *epoch);

/* The coordinator's own abort of m's open transaction, at an epoch bumped
 * to fence its producer (prepareFenceProducerEpoch then PrepareAbort):
 * after a timeout or an InitProducerId that found it Ongoing. Returns
 * NONE and fills next, or CONCURRENT_TRANSACTIONS / INVALID_TXN_STATE
 * when m is not Ongoing with nothing pending. */
int16_t bk_txn_fence_abort(const struct bk_txn_meta *m,
                           int64_t now_ms,
                           struct bk_txn_value *next);

/* After every marker of a Prepare state is written: next is
 * CompleteCommit / CompleteAbort with no partitions. Returns NONE or
 * INVALID_TXN_STATE when m is in no Prepare state. */
int16_t bk_txn_complete(const struct bk_txn_meta *m,
                        int64_t now_ms,
                        struct bk_txn_value *next);

/* Whether m's open transaction has run past its timeout with no change
 * in flight (the periodic abort of TransactionStateManager). */
bool bk_txn_timed_out(const struct bk_txn_meta *m, int64_t now_ms);

/* Whether m may be removed (Dead, then a tombstone): no transaction open
 * or deciding, nothing pending, and unused for expiration_ms
 * (transactional.id.expiration.ms). */
bool bk_txn_id_expired(const struct bk_txn_meta *m,
                       int64_t now_ms,
                       int64_t expiration_ms);

/* Marks next as m's pending change (fencing: it is the abort of
 * bk_txn_fence_abort). */
void bk_txn_begin(struct bk_txn_meta *m, bool fencing);

/* The pending change was written (ok) or failed. On success next becomes
 * current (m takes ownership of its partitions; *next is emptied). On
 * failure next is freed and m is left as it was. */
void bk_txn_finish(struct bk_txn_meta *m, struct bk_txn_value *next, bool ok);

#endif /* BK_TXN_TXN_H */
