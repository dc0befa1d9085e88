/* Control records: the transaction markers that close a producer's
 * transaction on a partition (KIP-98), in Kafka's format:
 *
 *   a control batch: attributes CONTROL (0x20) | TRANSACTIONAL (0x10),
 *   the transaction's producer id and epoch, base sequence -1, and
 *   exactly one record:
 *     key   = int16 version 0 + int16 type (ControlRecordType: 0 ABORT,
 *             1 COMMIT; 2-6 are KRaft's, never in a data partition)
 *     value = int16 version 0 + int32 coordinator epoch
 *             (EndTransactionMarker)
 *
 * (Kafka's clients/src/main/java/org/apache/kafka/common/record/
 * ControlRecordType.java and EndTransactionMarker.java.) Readers accept
 * a higher value version with more bytes after the epoch, as Kafka does.
 *
 * Prefix: bk_ctrl_. */
#ifndef BK_PROTOCOL_CONTROL_H
#define BK_PROTOCOL_CONTROL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "protocol/prim.h"

struct bk_arena;

#define BK_CTRL_ABORT  0
#define BK_CTRL_COMMIT 1

#define BK_CTRL_KEY_SIZE   4
#define BK_CTRL_VALUE_SIZE 6

/* The marker's key and value into out (fixed sizes above). */
void bk_ctrl_marker_key(uint8_t out[BK_CTRL_KEY_SIZE], bool commit);
void bk_ctrl_marker_value(uint8_t out[BK_CTRL_VALUE_SIZE],
                          int32_t coordinator_epoch);

/* A control record's type from its key. Returns 0, BK_EPROTO (too short)
 * or BK_EUNSUPPORTED (a key version other than 0). */
int bk_ctrl_key_decode(struct bk_bytes key, int16_t *type);

/* A marker's coordinator epoch from its value. Returns 0, BK_EPROTO or
 * BK_EUNSUPPORTED (a negative version). */
int bk_ctrl_marker_value_decode(struct bk_bytes value,
                                int32_t *coordinator_epoch);

/* A whole control batch with one marker for producer_id/epoch, at
 * timestamp, into *out (arena-owned, or heap-owned when arena is NULL).
 * Returns 0, BK_ENOMEM or BK_EIO. */
int bk_ctrl_marker_batch(int64_t producer_id,
                         int16_t producer_epoch,
                         bool commit,
                         int32_t coordinator_epoch,
                         int64_t timestamp,
                         struct bk_arena *arena,
                         uint8_t **out,
                         size_t *out_len);

/* Reads the marker of a control batch (borrowed). Returns 0 with *commit
 * and *coordinator_epoch, BK_ENOTFOUND when the batch holds no record (a
 * compacted one) or another control type, or a decoding error. */
int bk_ctrl_marker_read(const uint8_t *batch,
                        size_t len,
                        bool *commit,
                        int32_t *coordinator_epoch);

#endif /* BK_PROTOCOL_CONTROL_H */
