/* Record-level work on a magic-2 record batch: what lies inside it.
 *
 * The 61-byte header is checked elsewhere (log/batch.h bk_batch_validate(),
 * which the produce handler runs first: magic, lengths, CRC). The functions
 * here take a whole batch buf[0..len) and still check what they rely on
 * (len >= 61, batchLength + 12 == len, magic 2) so that they are safe on any
 * bytes, but they do not check the CRC.
 *
 * Layout (shared/kafka-protocol/README.md): the records section starts at
 * byte 61 and is compressed as a whole with the codec in attributes bits
 * 0-2. Each record: length VARINT, attributes INT8, timestampDelta VARLONG,
 * offsetDelta VARINT, key (VARINT length, -1 null), value (same), header
 * count VARINT, headers (key VARINT length >= 0, value VARINT length -1
 * null).
 *
 * Error mapping for the produce handler (Kafka's LogValidator):
 *   BK_EPROTO        malformed records, wrong count, inner offsets, missing
 *                    key on a compacted topic   -> INVALID_RECORD (87)
 *   BK_ECORRUPT      records that do not decompress -> CORRUPT_MESSAGE (2)
 *   BK_ERANGE        a timestamp out of bounds  -> INVALID_TIMESTAMP (32)
 *   BK_ETOOLARGE     decompressed size over the limit -> CORRUPT_MESSAGE (2)
 *                    (Kafka has no such limit; the bytes cannot be read)
 *   BK_EUNSUPPORTED  codec 5..7 -> CORRUPT_MESSAGE (2)
 *   BK_ENOMEM        out of memory -> UNKNOWN_SERVER_ERROR (-1)
 * The zstd-needs-Produce-v7 and max.message.bytes checks belong to the
 * handler (they need the request version and the whole batch size). */
#ifndef BK_PROTOCOL_RECORD_BATCH_H
#define BK_PROTOCOL_RECORD_BATCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/compress.h"
#include "protocol/prim.h"

struct bk_arena;

#define BK_RB_HEADER_SIZE 61

/* attributes bits (same values as log/batch.h). */
#define BK_RB_ATTR_CODEC_MASK      0x07
#define BK_RB_ATTR_LOG_APPEND_TIME 0x08
#define BK_RB_ATTR_TRANSACTIONAL   0x10
#define BK_RB_ATTR_CONTROL         0x20
#define BK_RB_ATTR_DELETE_HORIZON  0x40

/* Kafka's RecordBatch.NO_TIMESTAMP. */
#define BK_RB_NO_TIMESTAMP (-1)

/* ---- validation ------------------------------------------------------ */

enum {
    /* Every record must have a non-null key (cleanup.policy=compact). */
    BK_RB_REQUIRE_KEYS = 1 << 0,
};

struct bk_batch_records_info {
    int32_t records;     /* records walked */
    enum bk_codec codec; /* from the attributes */
    size_t records_size; /* bytes of the (decompressed) records section */
    /* Over record timestamps other than BK_RB_NO_TIMESTAMP; both are
     * BK_RB_NO_TIMESTAMP when no record has one. */
    int64_t min_timestamp;
    int64_t max_timestamp;
    /* The decompressed records section when an arena was given (arena-owned);
     * for an uncompressed batch, a view into the batch. NULL otherwise. */
    const uint8_t *records_data;
    /* On failure: a static reason string (Kafka's wording where it has one)
     * and the index of the offending record, or -1 for the batch. */
    const char *reason;
    int32_t bad_record;
    /* Indexes of the records holding min/max_timestamp (-1: none), for
     * bk_batch_check_timestamps()'s bad_record. */
    int32_t min_timestamp_index;
    int32_t max_timestamp_index;
};

/* Validates the records of one batch (borrowed) and fills *info (never
 * NULL): decompresses the records section (output at most max_uncompressed
 * bytes), then walks every record once: lengths consistent, recordsCount
 * records exactly, offsetDelta == 0, 1, ... n-1 in order ("inner offsets"),
 * header keys not null, keys present when flags has BK_RB_REQUIRE_KEYS, no
 * bytes left over. An uncompressed batch costs one pass over the varints
 * and no allocation.
 *
 * arena: where the decompressed records go (then info->records_data points
 * there, for bk_batch_rebuild() or the caller); NULL decompresses into a
 * temporary heap buffer that is freed before returning.
 * Returns 0 or BK_EPROTO / BK_ECORRUPT / BK_ETOOLARGE / BK_EUNSUPPORTED /
 * BK_ENOMEM (see the mapping above). */
int bk_batch_records_validate(const uint8_t *batch,
                              size_t len,
                              unsigned flags,
                              size_t max_uncompressed,
                              struct bk_arena *arena,
                              struct bk_batch_records_info *info);

/* Checks CreateTime timestamps as Kafka 3.6+ does (KIP-937): every record
 * timestamp other than BK_RB_NO_TIMESTAMP must lie within
 * [now_ms - before_max_ms, now_ms + after_max_ms]
 * (message.timestamp.before.max.ms / after.max.ms; INT64_MAX disables a
 * side). Uses the min/max that bk_batch_records_validate() found, so it costs
 * nothing per record. Not for LogAppendTime topics, whose timestamps the broker
 * sets. Returns 0 or BK_ERANGE with info->reason set. */
int bk_batch_check_timestamps(struct bk_batch_records_info *info,
                              int64_t now_ms,
                              int64_t before_max_ms,
                              int64_t after_max_ms);

/* One record that fails Kafka's per-record checks (LogValidator's
 * validateRecord): what bk_batch_record_errors() reports. */
enum bk_batch_record_fault {
    BK_RB_FAULT_NO_KEY = 1,    /* null key where BK_RB_REQUIRE_KEYS */
    BK_RB_FAULT_TIMESTAMP = 2, /* timestamp outside [lo, hi] */
};

struct bk_batch_record_error {
    int32_t index; /* in the batch, from 0 */
    enum bk_batch_record_fault fault;
    int64_t offset;    /* the batch's base offset as sent + offset delta */
    int64_t timestamp; /* the record's timestamp */
};

typedef void (*bk_batch_record_error_cb)(void *arg,
                                         const struct bk_batch_record_error *e);

/* Kafka's per-record checks, for answering a batch that failed them with
 * every invalid record (Produce v8+ record_errors), as Kafka does: walks
 * the records section records[0..records_len) of batch (both borrowed; the
 * section as bk_batch_records_validate() returned it, which must have
 * accepted the batch's structure) and calls fn(arg, e) once per invalid
 * record, in order. A record without a key fails with BK_RB_FAULT_NO_KEY
 * when flags has BK_RB_REQUIRE_KEYS; otherwise a timestamp other than
 * BK_RB_NO_TIMESTAMP outside [lo, hi] fails with BK_RB_FAULT_TIMESTAMP (Kafka
 * checks the key first, and reports one error per record). fn may be NULL
 * to count. Returns the number of invalid records. */
int32_t bk_batch_record_errors(const uint8_t *batch,
                               const uint8_t *records,
                               size_t records_len,
                               unsigned flags,
                               int64_t lo,
                               int64_t hi,
                               bk_batch_record_error_cb fn,
                               void *arg);

/* ---- rebuilding ------------------------------------------------------ */

/* Builds a batch from the 61 header bytes of an existing batch (borrowed;
 * only read) and a plain records section records[0..records_len), with
 * codec at level: every header field is kept (base offset, leader epoch,
 * attributes other than the codec bits, timestamps, producer id/epoch, base
 * sequence, records count) except batchLength, the codec and the CRC-32C,
 * which are recomputed. *out is arena-owned, or heap-owned (bk_free) when
 * arena is NULL. Returns 0, BK_ENOMEM, BK_ETOOLARGE (over 2 GiB) or
 * BK_EIO. */
int bk_batch_rebuild(const uint8_t *header,
                     const uint8_t *records,
                     size_t records_len,
                     enum bk_codec codec,
                     int level,
                     struct bk_arena *arena,
                     uint8_t **out,
                     size_t *out_len);

/* Recompresses a whole batch (borrowed) with another codec (or
 * BK_CODEC_NONE): decompresses its records (at most max_uncompressed bytes)
 * and calls bk_batch_rebuild(). The records are not validated here; run
 * bk_batch_records_validate() first (and pass its records_data to
 * bk_batch_rebuild() to decompress once). Output ownership as
 * bk_batch_rebuild(). Returns 0 or the errors of both steps (BK_EPROTO for a
 * malformed header). */
int bk_batch_recompress(const uint8_t *batch,
                        size_t len,
                        enum bk_codec codec,
                        int level,
                        size_t max_uncompressed,
                        struct bk_arena *arena,
                        uint8_t **out,
                        size_t *out_len);

/* ---- reading records ------------------------------------------------- */

struct bk_record {
    int64_t offset;    /* baseOffset + offsetDelta */
    int64_t timestamp; /* baseTimestamp + delta; maxTimestamp when the batch
                        * has LogAppendTime */
    int8_t attributes;
    struct bk_bytes key;   /* views (len -1: null) into the batch or arena */
    struct bk_bytes value; /* same */
    int32_t headers_count;
    struct bk_rd headers; /* the header section; read with
                           * bk_record_header_next() */
    int32_t headers_left; /* internal */
};

struct bk_record_iter {
    /* Header fields, decoded by bk_record_iter_init(). */
    int64_t base_offset;
    int32_t leader_epoch;
    int16_t attributes;
    int32_t last_offset_delta;
    int64_t base_timestamp;
    int64_t max_timestamp;
    int64_t producer_id;
    int16_t producer_epoch;
    int32_t base_sequence;
    int32_t records_count;
    /* Iteration state. */
    struct bk_rd rd;    /* over the (decompressed) records section */
    int32_t index;      /* records returned so far */
    int err;            /* sticky: 0 or the error returned */
    const char *reason; /* after an error: why */
};

/* Starts reading the records of a batch (borrowed: it must outlive the
 * iterator and the views it hands out). A compressed batch is decompressed
 * into arena (required then; the views point there), at most
 * max_uncompressed bytes. The iterator does not check offset deltas against
 * the index (a compacted batch has gaps) and works on stored batches and
 * control batches alike (attributes tell them apart).
 * Returns 0 or BK_EPROTO / BK_ECORRUPT / BK_ETOOLARGE / BK_EUNSUPPORTED /
 * BK_ENOMEM / BK_EINVAL (compressed and no arena). */
int bk_record_iter_init(struct bk_record_iter *it,
                        const uint8_t *batch,
                        size_t len,
                        struct bk_arena *arena,
                        size_t max_uncompressed);

/* Reads the next record into *rec. Returns 1 with a record, 0 at the end
 * (recordsCount records read, no bytes left), or BK_EPROTO with it->reason
 * set for a malformed record; after 0 or an error it keeps returning the
 * same. */
int bk_record_iter_next(struct bk_record_iter *it, struct bk_record *rec);

/* Reads the next header of rec. Returns 1 with *key and *value (views;
 * value len -1: null), 0 when none is left, BK_EPROTO if malformed. */
int bk_record_header_next(struct bk_record *rec,
                          struct bk_str *key,
                          struct bk_bytes *value);

/* ---- building -------------------------------------------------------- */

struct bk_record_header_kv {
    struct bk_str key; /* not null */
    struct bk_bytes value;
};

/* Builds one magic-2 batch from records added one by one (brokerctl
 * produce, internal topics such as __consumer_offsets). The fields below
 * may be set after init and before finish; their defaults are those of a
 * plain non-idempotent producer. */
struct bk_batch_builder {
    enum bk_codec codec;
    int level;              /* BK_COMPRESS_LEVEL_DEFAULT */
    int64_t base_offset;    /* 0 */
    int32_t leader_epoch;   /* -1 */
    int16_t attributes;     /* 0; the codec bits are set by finish */
    int64_t producer_id;    /* -1 */
    int16_t producer_epoch; /* -1 */
    int32_t base_sequence;  /* -1 */
    /* Internal. */
    uint8_t *buf; /* owned: the records section, uncompressed */
    size_t len;
    size_t cap;
    int32_t count;
    int64_t base_timestamp;
    int64_t max_timestamp;
};

void bk_batch_builder_init(struct bk_batch_builder *b, enum bk_codec codec);

/* Appends a record (all arguments borrowed and copied) with offsetDelta =
 * the number of records so far. timestamp may be BK_RB_NO_TIMESTAMP. key
 * and value may be null (len -1). Returns 0, BK_ENOMEM, or BK_ETOOLARGE
 * when the batch would pass 2 GiB or INT32_MAX records. */
int bk_batch_builder_add(struct bk_batch_builder *b,
                         int64_t timestamp,
                         struct bk_bytes key,
                         struct bk_bytes value,
                         const struct bk_record_header_kv *headers,
                         size_t headers_count);

/* Records added so far, and the size of the records section before
 * compression (an upper bound of the finished batch is that plus 61 plus
 * the codec's overhead). */
int32_t bk_batch_builder_count(const struct bk_batch_builder *b);
size_t bk_batch_builder_size(const struct bk_batch_builder *b);

/* Writes the batch (header, compressed records, CRC-32C) into *out: arena-
 * owned, or heap-owned (bk_free) when arena is NULL. The builder keeps its
 * records (finish may be called again, e.g. with another codec). A builder
 * with no records gives BK_EINVAL: Kafka has no empty batches from
 * producers. Returns 0, BK_EINVAL, BK_ENOMEM or BK_EIO. */
int bk_batch_builder_finish(struct bk_batch_builder *b,
                            struct bk_arena *arena,
                            uint8_t **out,
                            size_t *out_len);

/* Frees the records; the builder may be initialised again. */
void bk_batch_builder_free(struct bk_batch_builder *b);

#endif /* BK_PROTOCOL_RECORD_BATCH_H */
