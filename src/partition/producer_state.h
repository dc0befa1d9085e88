/* Idempotent producer state of one partition (Kafka's ProducerStateManager).
 *
 * Per producer id: the current epoch and the last five batches (first and
 * last sequence, first and last offset), ProducerStateEntry's
 * NUM_BATCHES_TO_RETAIN. The rules (protocol-notes.md section d):
 *   - an epoch older than the stored one: INVALID_PRODUCER_EPOCH (47);
 *   - a newer epoch must start at sequence 0, else
 *     OUT_OF_ORDER_SEQUENCE_NUMBER (45);
 *   - the same epoch must continue at last sequence + 1 (wrapping at
 *     INT32_MAX), else 45 — unless the batch equals one of the five cached
 *     ones, which is a duplicate: success with the original offsets;
 *   - an unknown producer (never seen, or its state expired) is accepted at
 *     any sequence.
 *
 * Transactions (KIP-98; Kafka's ProducerAppendInfo): a transactional
 * batch opens its producer's transaction at its base offset unless one
 * is open; a non-transactional batch while one is open is
 * INVALID_TXN_STATE (48); a marker closes it (bk_pstate_end_txn). A
 * transaction stays unstable until its marker is below the high
 * watermark: the last stable offset is the first offset of the oldest
 * unstable one, bounded by the high watermark.
 *
 * The state is owned by the partition's shard (no locks). It is saved next
 * to the log as a snapshot at a given offset and rebuilt on open by replaying
 * the batch headers after that offset, so deduplication survives restarts
 * and crashes. */
#ifndef BK_PARTITION_PRODUCER_STATE_H
#define BK_PARTITION_PRODUCER_STATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/disk.h"

#define BK_PRODUCER_BATCHES 5

struct bk_pstate_batch {
    int32_t first_seq;
    int32_t last_seq;
    int64_t first_offset;
    int64_t last_offset;
};

struct bk_pstate_entry {
    int64_t producer_id;
    int16_t epoch;
    uint8_t nbatches; /* valid entries in batches[], newest last */
    struct bk_pstate_batch batches[BK_PRODUCER_BATCHES];
    int64_t last_timestamp;
    /* The first offset of its open transaction, or -1 (Kafka's
     * currentTxnFirstOffset). */
    int64_t txn_first_offset;
    /* The coordinator epoch of the last marker, or -1. */
    int32_t coordinator_epoch;
    /* Markers applied since the entry was made; memory only. A
     * verification of KIP-890 holds only while no marker came in between
     * (bk_pstate_verify_guard). */
    uint32_t markers;
};

/* A transaction closed by a marker (Kafka's CompletedTxn). */
struct bk_pstate_txn {
    int64_t producer_id;
    int64_t first_offset;
    int64_t last_offset; /* the marker's offset */
    bool aborted;
};

/* An aborted transaction (Kafka's AbortedTxn, one .txnindex entry):
 * read_committed fetches that overlap it are told to drop its
 * producer's records from first_offset to the marker at last_offset. */
struct bk_pstate_aborted {
    int64_t producer_id;
    int64_t first_offset;
    int64_t last_offset;
    /* The last stable offset once it was closed: a fetch ending at or
     * below it needs no later entry (TransactionIndex.collectAbortedTxns). */
    int64_t last_stable;
};

struct bk_pstate {
    struct bk_pstate_entry *v; /* owned, sorted by producer_id */
    size_t n, cap;
    /* The aborted transactions of the retained log, in marker order
     * (owned). Kept here, with the snapshot, rather than in per-segment
     * .txnindex files. */
    struct bk_pstate_aborted *aborted;
    size_t naborted, cap_aborted;
    /* Closed transactions whose marker is not yet below the high
     * watermark: still unstable (owned, in marker order). */
    struct bk_pstate_txn *done;
    size_t ndone, cap_done;
    /* Producers with a transaction open: with none (and nothing in
     * done), the last stable offset is the high watermark at no cost. */
    size_t nopen;
};

enum bk_pstate_verdict {
    BK_PSTATE_APPEND = 0,   /* new batch: append it */
    BK_PSTATE_DUPLICATE,    /* already appended: answer with *dup */
    BK_PSTATE_BAD_EPOCH,    /* INVALID_PRODUCER_EPOCH */
    BK_PSTATE_OUT_OF_ORDER, /* OUT_OF_ORDER_SEQUENCE_NUMBER */
    BK_PSTATE_BAD_TXN,      /* INVALID_TXN_STATE */
    BK_PSTATE_FENCED,       /* TRANSACTION_COORDINATOR_FENCED */
};

void bk_pstate_init(struct bk_pstate *ps);
void bk_pstate_free(struct bk_pstate *ps);

/* Checks a batch from producer_id/epoch with sequences
 * [first_seq, first_seq + count - 1]. On DUPLICATE, *dup gets the cached
 * batch (its offsets are the answer). producer_id < 0 (not idempotent) is
 * always APPEND. */
enum bk_pstate_verdict bk_pstate_check(const struct bk_pstate *ps,
                                       int64_t producer_id,
                                       int16_t epoch,
                                       int32_t first_seq,
                                       int32_t count,
                                       struct bk_pstate_batch *dup);

/* The entry of producer_id, added at epoch with no batches when missing
 * (borrowed; valid until the next change of ps). NULL when out of
 * memory. */
struct bk_pstate_entry *bk_pstate_entry_get(struct bk_pstate *ps,
                                            int64_t producer_id,
                                            int16_t epoch);
/* The entry of producer_id (borrowed), or NULL. */
const struct bk_pstate_entry *bk_pstate_entry_find(const struct bk_pstate *ps,
                                                   int64_t producer_id);

/* Records an appended batch. Returns 0 or BK_ENOMEM. */
int bk_pstate_update(struct bk_pstate *ps,
                     int64_t producer_id,
                     int16_t epoch,
                     int32_t first_seq,
                     int32_t count,
                     int64_t first_offset,
                     int64_t timestamp);

/* Removes every batch at or past offset (after a log truncation); a
 * transaction opened there is forgotten, one whose marker was there is
 * open again, and so are the aborted ones. */
void bk_pstate_truncate(struct bk_pstate *ps, int64_t offset);

/* ---- transactions (producer_txn.c) ---- */

/* The transaction rule of a data batch from producer_id: BAD_TXN when it
 * is not transactional and the producer has a transaction open, else
 * APPEND. */
enum bk_pstate_verdict bk_pstate_check_txn(const struct bk_pstate *ps,
                                           int64_t producer_id,
                                           bool transactional);

/* KIP-890 part 1: whether producer_id has its transaction open here at
 * epoch (Kafka's hasOngoingTransaction). A transactional batch of a
 * producer without one is verified with its coordinator first. */
bool bk_pstate_txn_open_at(const struct bk_pstate *ps,
                           int64_t producer_id,
                           int16_t epoch);

/* The verification guard of producer_id: taken before the coordinator
 * is asked, and compared before the verified batch is appended. A
 * different value means a marker ended a transaction in between, so the
 * answer may be stale and the batch is refused (Kafka's
 * VerificationGuard). */
uint32_t bk_pstate_verify_guard(const struct bk_pstate *ps,
                                int64_t producer_id);

/* After bk_pstate_update() of a transactional batch: opens the
 * producer's transaction at first_offset unless one is open (adding the
 * producer at epoch when it has no entry). */
void bk_pstate_begin_txn(struct bk_pstate *ps,
                         int64_t producer_id,
                         int16_t epoch,
                         int64_t first_offset);

/* Checks a marker for producer_id at epoch from a coordinator at
 * coordinator_epoch (-1: written by an admin, KIP-664, never fenced):
 * BAD_EPOCH when epoch is older than the producer's, FENCED when the
 * coordinator epoch is older than the last marker's, else APPEND. */
enum bk_pstate_verdict bk_pstate_check_marker(const struct bk_pstate *ps,
                                              int64_t producer_id,
                                              int16_t epoch,
                                              int32_t coordinator_epoch);

/* Applies a marker appended at offset: the producer takes its epoch and
 * coordinator epoch, and its open transaction, if any, closes (an abort
 * is added to the aborted transactions). Returns 1 with *out (the closed
 * transaction, which stays unstable until bk_pstate_stable_to passes its
 * marker), 0 when none was open (the marker changes nothing else), or
 * BK_ENOMEM. */
int bk_pstate_end_txn(struct bk_pstate *ps,
                      int64_t producer_id,
                      int16_t epoch,
                      int32_t coordinator_epoch,
                      bool commit,
                      int64_t offset,
                      struct bk_pstate_txn *out);

/* The last stable offset for a closed transaction's AbortedTxn entry
 * (Kafka's ProducerStateManager.lastStableOffset): the first offset of
 * the oldest transaction still open by another producer, else the
 * marker's offset + 1. */
int64_t bk_pstate_txn_lso(const struct bk_pstate *ps,
                          const struct bk_pstate_txn *t);

/* Appends an aborted transaction (its marker after every other's).
 * Returns 0 or BK_ENOMEM. */
int bk_pstate_add_aborted(struct bk_pstate *ps,
                          const struct bk_pstate_aborted *a);

/* Collects the aborted transactions a read_committed fetch from
 * fetch_offset up to (not including) upper must be told of: those with
 * last_offset >= fetch_offset and first_offset < upper. Calls fn for
 * each, oldest marker first. Returns how many. */
size_t bk_pstate_collect_aborted(const struct bk_pstate *ps,
                                 int64_t fetch_offset,
                                 int64_t upper,
                                 void (*fn)(void *arg,
                                            const struct bk_pstate_aborted *a),
                                 void *arg);

/* Forgets aborted transactions whose marker is below log_start (removed
 * by retention or DeleteRecords). */
void bk_pstate_trim_aborted(struct bk_pstate *ps, int64_t log_start);

/* Recounts nopen (after a truncation or a load). */
void bk_pstate_count_open(struct bk_pstate *ps);

/* Forgets closed transactions whose marker is below hw. */
void bk_pstate_stable_to(struct bk_pstate *ps, int64_t hw);

/* The last stable offset at high watermark hw: hw, or the first offset of
 * the oldest unstable transaction (open, or closed with its marker not
 * below hw) when that is lower. */
int64_t bk_pstate_last_stable(const struct bk_pstate *ps, int64_t hw);

/* Serializes the state as of log offset `offset` into a new buffer
 * (returns owned, bk_free it). Returns 0, BK_ENOMEM or BK_ETOOLARGE. */
int bk_pstate_encode(const struct bk_pstate *ps,
                     int64_t offset,
                     uint8_t **out,
                     size_t *out_len);

/* Writes encoded state to path durably (temp + fdatasync + rename + fsync
 * of the directory). Blocking: never on a shard thread. */
int bk_pstate_write(const struct bk_disk *disk,
                    const char *path,
                    const uint8_t *buf,
                    size_t len);

/* Writes the state as of log offset `offset` to path (temp + fsync +
 * rename). Returns 0 or BK_EIO. */
int bk_pstate_save(const struct bk_pstate *ps,
                   const struct bk_disk *disk,
                   const char *path,
                   int64_t offset);

/* Loads a snapshot; *offset gets the log offset it was taken at. A missing
 * file gives an empty state and *offset = -1; a damaged one is BK_ECORRUPT
 * (the caller then rebuilds from the log). */
int bk_pstate_load(struct bk_pstate *ps,
                   const struct bk_disk *disk,
                   const char *path,
                   int64_t *offset);

#endif /* BK_PARTITION_PRODUCER_STATE_H */
