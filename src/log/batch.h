/* Record batch (magic 2) header access and validation.
 *
 * Layout (shared/kafka-protocol/README.md): baseOffset@0 i64,
 * batchLength@8 i32 (bytes after this field), partitionLeaderEpoch@12 i32,
 * magic@16 i8, crc@17 u32 (CRC-32C over offset 21..end), attributes@21 i16,
 * lastOffsetDelta@23 i32, baseTimestamp@27 i64, maxTimestamp@35 i64,
 * producerId@43 i64, producerEpoch@51 i16, baseSequence@53 i32,
 * recordsCount@57 i32, records@61. All big-endian.
 *
 * The produce handler reuses bk_batch_validate() and maps BK_EPROTO /
 * BK_ECORRUPT to Kafka's CORRUPT_MESSAGE (and BK_EUNSUPPORTED to
 * UNSUPPORTED_FOR_MESSAGE_FORMAT). No function here allocates. */
#ifndef BK_LOG_BATCH_H
#define BK_LOG_BATCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define BK_BATCH_HEADER_SIZE  61 /* fixed header, through recordsCount */
#define BK_BATCH_LOG_OVERHEAD 12 /* baseOffset + batchLength */
#define BK_BATCH_CRC_START    21 /* first byte covered by the CRC */

#define BK_BATCH_OFF_BASE_OFFSET   0
#define BK_BATCH_OFF_LENGTH        8
#define BK_BATCH_OFF_LEADER_EPOCH  12
#define BK_BATCH_OFF_MAGIC         16
#define BK_BATCH_OFF_CRC           17
#define BK_BATCH_OFF_ATTRIBUTES    21
#define BK_BATCH_OFF_LAST_DELTA    23
#define BK_BATCH_OFF_BASE_TS       27
#define BK_BATCH_OFF_MAX_TS        35
#define BK_BATCH_OFF_PRODUCER_ID   43
#define BK_BATCH_OFF_RECORDS_COUNT 57

#define BK_BATCH_ATTR_COMPRESSION_MASK 0x07
#define BK_BATCH_ATTR_LOG_APPEND_TIME  0x08
#define BK_BATCH_ATTR_TRANSACTIONAL    0x10
#define BK_BATCH_ATTR_CONTROL          0x20

/* Validation strictness. */
enum bk_batch_check {
    /* A batch from a producer: recordsCount >= 1 and
     * recordsCount == lastOffsetDelta + 1 (Kafka's LogValidator). */
    BK_BATCH_CHECK_PRODUCE = 0,
    /* A batch read back from disk or from a leader: compaction may leave
     * gaps, so only 0 <= recordsCount <= lastOffsetDelta + 1. */
    BK_BATCH_CHECK_STORED = 1,
};

/* Decoded fixed header (host byte order). */
struct bk_batch_hdr {
    int64_t base_offset;
    int32_t length; /* batchLength: total size - 12 */
    int32_t leader_epoch;
    int8_t magic;
    uint32_t crc;
    int16_t attributes;
    int32_t last_offset_delta;
    int64_t base_timestamp;
    int64_t max_timestamp;
    int64_t producer_id;
    int16_t producer_epoch;
    int32_t base_sequence;
    int32_t records_count;
};

static inline int64_t bk_batch_hdr_size(const struct bk_batch_hdr *h)
{
    return (int64_t)h->length + BK_BATCH_LOG_OVERHEAD;
}

static inline int64_t bk_batch_hdr_last_offset(const struct bk_batch_hdr *h)
{
    return h->base_offset + h->last_offset_delta;
}

/* Decodes the fixed header from len >= BK_BATCH_HEADER_SIZE bytes (borrowed)
 * without checking anything. */
void bk_batch_hdr_decode(const uint8_t *buf, struct bk_batch_hdr *out);

/* Checks a decoded header's fields against each other and against `avail`
 * bytes known to follow its start (a short tail gives BK_EAGAIN, so a reader
 * can tell "need more bytes" from "bad"): magic 2 (else BK_EUNSUPPORTED),
 * batchLength >= 49 (else BK_EPROTO), the counts per `check`. The CRC is not
 * checked. Returns 0 or a BK_E* code. */
int bk_batch_hdr_check(const struct bk_batch_hdr *h,
                       int64_t avail,
                       enum bk_batch_check check);

/* Validates exactly one batch that must fill buf[0..len): header checks as
 * above, batchLength + 12 == len (BK_EPROTO otherwise), CRC-32C over the
 * covered bytes (BK_ECORRUPT on mismatch). Fills *out when non-NULL. */
int bk_batch_validate(const void *buf,
                      size_t len,
                      enum bk_batch_check check,
                      struct bk_batch_hdr *out);

/* Rewrites fields in place (buf borrowed, at least BK_BATCH_HEADER_SIZE).
 * Neither base offset nor leader epoch is covered by the CRC. */
void bk_batch_set_base_offset(uint8_t *buf, int64_t base_offset);
void bk_batch_set_leader_epoch(uint8_t *buf, int32_t epoch);
/* Sets the LogAppendTime attribute and maxTimestamp and recomputes the CRC
 * over the whole batch of len bytes. */
void bk_batch_set_log_append_time(uint8_t *buf, size_t len, int64_t ts);

/* Finds the first record whose timestamp is >= ts in a batch of len bytes
 * and returns its offset and timestamp. For a compressed or LogAppendTime
 * batch, or records that cannot be parsed, answers the batch's base offset
 * and maxTimestamp. Returns 0, or BK_ENOTFOUND when maxTimestamp < ts. */
int bk_batch_find_timestamp(const uint8_t *buf,
                            size_t len,
                            int64_t ts,
                            int64_t *offset,
                            int64_t *found_ts);

static inline uint32_t bk_be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 |
           (uint32_t)p[3];
}

static inline uint64_t bk_be64(const uint8_t *p)
{
    return (uint64_t)bk_be32(p) << 32 | bk_be32(p + 4);
}

static inline void bk_put_be32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

static inline void bk_put_be64(uint8_t *p, uint64_t v)
{
    bk_put_be32(p, (uint32_t)(v >> 32));
    bk_put_be32(p + 4, (uint32_t)v);
}

#endif /* BK_LOG_BATCH_H */
