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
};

struct bk_pstate {
    struct bk_pstate_entry *v; /* owned, sorted by producer_id */
    size_t n, cap;
};

enum bk_pstate_verdict {
    BK_PSTATE_APPEND = 0,   /* new batch: append it */
    BK_PSTATE_DUPLICATE,    /* already appended: answer with *dup */
    BK_PSTATE_BAD_EPOCH,    /* INVALID_PRODUCER_EPOCH */
    BK_PSTATE_OUT_OF_ORDER, /* OUT_OF_ORDER_SEQUENCE_NUMBER */
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

/* Records an appended batch. Returns 0 or BK_ENOMEM. */
int bk_pstate_update(struct bk_pstate *ps,
                     int64_t producer_id,
                     int16_t epoch,
                     int32_t first_seq,
                     int32_t count,
                     int64_t first_offset,
                     int64_t timestamp);

/* Removes every batch at or past offset (after a log truncation). */
void bk_pstate_truncate(struct bk_pstate *ps, int64_t offset);

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
