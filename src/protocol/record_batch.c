/* Record-level batch work: validation, timestamps, recompression, reading
 * and building.
 *
 * The record walker is a pointer pair and inline varint decoders rather
 * than bk_rd: the produce path runs it over every record of every
 * uncompressed batch, and it must stay one cheap pass (issue 5: "no
 * per-record work beyond validation"). Varints follow Kafka's ByteUtils
 * limits: at most 5 bytes for a varint and 10 for a varlong; a varint whose
 * value does not fit 32 bits is rejected, as prim.c does. */
#include "protocol/record_batch.h"

#include <string.h>

#include "common/arena.h"
#include "common/crc32c.h"
#include "common/err.h"
#include "common/heap.h"

/* Header offsets (shared/kafka-protocol/README.md). */
#define OFF_LENGTH        8
#define OFF_LEADER_EPOCH  12
#define OFF_MAGIC         16
#define OFF_CRC           17
#define OFF_ATTRIBUTES    21
#define OFF_LAST_DELTA    23
#define OFF_BASE_TS       27
#define OFF_MAX_TS        35
#define OFF_PRODUCER_ID   43
#define OFF_PRODUCER_EP   51
#define OFF_BASE_SEQUENCE 53
#define OFF_RECORDS_COUNT 57
#define LOG_OVERHEAD      12

/* The smallest record: length, attributes, timestampDelta, offsetDelta,
 * key length, value length, header count, one byte each. */
#define MIN_RECORD_SIZE 7

/* Kafka's LogValidator wording, where it has one. */
#define R_RECORD_SIZE  "Invalid record size"
#define R_STRUCTURE    "Found invalid record structure"
#define R_HEADERS      "Found invalid number of record headers"
#define R_HEADER_KEY   "Invalid negative header key size"
#define R_EOF          "Incorrect declared batch size, premature EOF reached"
#define R_REMAINING    "Incorrect declared batch size, records still remaining"
#define R_INNER_OFFSET "Inner record offset deltas are not 0..count-1"
#define R_NO_KEY       "Compacted topic cannot accept message without key"
#define R_TS_LOW \
    "Record timestamp is before now - message.timestamp.before.max.ms"
#define R_TS_HIGH \
    "Record timestamp is after now + message.timestamp.after.max.ms"

static uint16_t be16(const uint8_t *p)
{
    return (uint16_t)(p[0] << 8 | p[1]);
}

static uint32_t be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 |
           (uint32_t)p[3];
}

static uint64_t be64(const uint8_t *p)
{
    return (uint64_t)be32(p) << 32 | be32(p + 4);
}

static void put_be32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

/* What every function here relies on: a whole magic-2 batch. */
static int check_frame(const uint8_t *batch, size_t len)
{
    if (batch == NULL || len < BK_RB_HEADER_SIZE) {
        return BK_EPROTO;
    }
    int32_t blen = (int32_t)be32(batch + OFF_LENGTH);
    if (blen < 0 || (size_t)blen + LOG_OVERHEAD != len) {
        return BK_EPROTO;
    }
    if (batch[OFF_MAGIC] != 2) {
        return BK_EUNSUPPORTED;
    }
    if ((int32_t)be32(batch + OFF_RECORDS_COUNT) < 0) {
        return BK_EPROTO;
    }
    return 0;
}

static enum bk_codec batch_codec(const uint8_t *batch)
{
    return (enum bk_codec)(batch[OFF_ATTRIBUTES + 1] & BK_RB_ATTR_CODEC_MASK);
}

/* ---- the record walker ----------------------------------------------- */

struct cur {
    const uint8_t *p;
    const uint8_t *end;
};

static inline bool cur_uvarint(struct cur *c, unsigned max_bytes, uint64_t *v)
{
    uint64_t x = 0;
    for (unsigned i = 0; i < max_bytes; i++) {
        if (c->p == c->end) {
            return false;
        }
        uint8_t b = *c->p++;
        x |= (uint64_t)(b & 0x7f) << (7 * i);
        if ((b & 0x80) == 0) {
            *v = x;
            return true;
        }
    }
    return false;
}

static inline bool cur_varint(struct cur *c, int32_t *v)
{
    uint64_t u;
    if (!cur_uvarint(c, 5, &u) || u > UINT32_MAX) {
        return false;
    }
    uint32_t w = (uint32_t)u;
    *v = (int32_t)((w >> 1) ^ (~(w & 1) + 1));
    return true;
}

static inline bool cur_varlong(struct cur *c, int64_t *v)
{
    uint64_t u;
    if (!cur_uvarint(c, 10, &u)) {
        return false;
    }
    *v = (int64_t)((u >> 1) ^ (~(u & 1) + 1));
    return true;
}

/* A length-prefixed field: n >= 0 bytes follow, n < 0 is null (Java reads
 * any negative length as null). */
static inline bool cur_field(struct cur *c, const uint8_t **ptr, int32_t *n)
{
    if (!cur_varint(c, n)) {
        return false;
    }
    if (*n < 0) {
        *ptr = NULL;
        *n = -1;
        return true;
    }
    if ((size_t)*n > (size_t)(c->end - c->p)) {
        return false;
    }
    *ptr = c->p;
    c->p += *n;
    return true;
}

struct rec_view {
    int8_t attributes;
    int64_t ts_delta;
    int32_t offset_delta;
    const uint8_t *key;
    int32_t key_len;
    const uint8_t *value;
    int32_t value_len;
    int32_t headers_count;
    const uint8_t *headers;
    size_t headers_len;
};

/* Reads one record at c (advanced past it). Returns 0 or BK_EPROTO with
 * *reason. */
static int parse_record(struct cur *c, struct rec_view *r, const char **reason)
{
    int32_t size;
    if (!cur_varint(c, &size)) {
        *reason = c->p == c->end ? R_EOF : R_RECORD_SIZE;
        return BK_EPROTO;
    }
    if (size < 0 || (size_t)size > (size_t)(c->end - c->p)) {
        *reason = R_RECORD_SIZE;
        return BK_EPROTO;
    }
    struct cur body = { c->p, c->p + size };
    c->p += size;
    *reason = R_STRUCTURE;
    if (body.p == body.end) {
        return BK_EPROTO;
    }
    r->attributes = (int8_t)*body.p++;
    if (!cur_varlong(&body, &r->ts_delta) ||
        !cur_varint(&body, &r->offset_delta) ||
        !cur_field(&body, &r->key, &r->key_len) ||
        !cur_field(&body, &r->value, &r->value_len) ||
        !cur_varint(&body, &r->headers_count)) {
        return BK_EPROTO;
    }
    if (r->headers_count < 0) {
        *reason = R_HEADERS;
        return BK_EPROTO;
    }
    r->headers = body.p;
    for (int32_t i = 0; i < r->headers_count; i++) {
        const uint8_t *p;
        int32_t n;
        if (!cur_varint(&body, &n)) {
            return BK_EPROTO;
        }
        if (n < 0) {
            *reason = R_HEADER_KEY;
            return BK_EPROTO;
        }
        if ((size_t)n > (size_t)(body.end - body.p)) {
            return BK_EPROTO;
        }
        body.p += n;
        if (!cur_field(&body, &p, &n)) {
            return BK_EPROTO;
        }
    }
    r->headers_len = (size_t)(body.p - r->headers);
    if (body.p != body.end) {
        *reason = R_RECORD_SIZE; /* the body is longer than its fields */
        return BK_EPROTO;
    }
    *reason = NULL;
    return 0;
}

/* Decompresses the records section of a checked batch: *records points
 * into the batch (uncompressed) or at arena/heap memory (*heap set when
 * the caller must bk_free it). */
static int open_records(const uint8_t *batch,
                        size_t len,
                        size_t max_uncompressed,
                        struct bk_arena *arena,
                        const uint8_t **records,
                        size_t *records_len,
                        void **heap)
{
    enum bk_codec codec = batch_codec(batch);
    const uint8_t *in = batch + BK_RB_HEADER_SIZE;
    size_t in_len = len - BK_RB_HEADER_SIZE;
    *heap = NULL;
    if (codec == BK_CODEC_NONE) {
        if (in_len > max_uncompressed) {
            return BK_ETOOLARGE;
        }
        *records = in;
        *records_len = in_len;
        return 0;
    }
    void *out;
    int rc = bk_decompress((int)codec, in, in_len, max_uncompressed, arena,
                           &out, records_len);
    if (rc != 0) {
        return rc;
    }
    *records = out;
    if (arena == NULL) {
        *heap = out;
    }
    return 0;
}

/* ---- validation ------------------------------------------------------ */

static int fail(struct bk_batch_records_info *info,
                int rc,
                const char *reason,
                int32_t index)
{
    info->reason = reason;
    info->bad_record = index;
    return rc;
}

int bk_batch_records_validate(const uint8_t *batch,
                              size_t len,
                              unsigned flags,
                              size_t max_uncompressed,
                              struct bk_arena *arena,
                              struct bk_batch_records_info *info)
{
    memset(info, 0, sizeof(*info));
    info->min_timestamp = BK_RB_NO_TIMESTAMP;
    info->max_timestamp = BK_RB_NO_TIMESTAMP;
    info->bad_record = -1;
    info->min_timestamp_index = -1;
    info->max_timestamp_index = -1;
    int rc = check_frame(batch, len);
    if (rc != 0) {
        return fail(info, rc, "Malformed record batch header", -1);
    }
    info->codec = batch_codec(batch);
    if (!bk_codec_valid((int)info->codec)) {
        return fail(info, BK_EUNSUPPORTED, "Unknown compression type", -1);
    }
    int32_t count = (int32_t)be32(batch + OFF_RECORDS_COUNT);
    uint64_t base_ts = be64(batch + OFF_BASE_TS);

    const uint8_t *records;
    size_t records_len;
    void *heap;
    rc = open_records(batch, len, max_uncompressed, arena, &records,
                      &records_len, &heap);
    if (rc != 0) {
        return fail(info, rc,
                    rc == BK_ETOOLARGE
                        ? "Records exceed the decompression limit"
                        : "Records do not decompress",
                    -1);
    }
    info->records_size = records_len;

    /* A count that the bytes cannot hold fails before the walk. */
    if ((size_t)count > records_len / MIN_RECORD_SIZE) {
        rc = fail(info, BK_EPROTO, R_EOF, -1);
        goto out;
    }
    struct cur c = { records, records + records_len };
    int64_t min_ts = INT64_MAX;
    int64_t max_ts = INT64_MIN;
    for (int32_t i = 0; i < count; i++) {
        struct rec_view r;
        const char *reason;
        if (parse_record(&c, &r, &reason) != 0) {
            rc = fail(info, BK_EPROTO, reason, i);
            goto out;
        }
        if (r.offset_delta != i) {
            rc = fail(info, BK_EPROTO, R_INNER_OFFSET, i);
            goto out;
        }
        if (r.key == NULL && (flags & BK_RB_REQUIRE_KEYS) != 0) {
            rc = fail(info, BK_EPROTO, R_NO_KEY, i);
            goto out;
        }
        /* Java's long addition wraps; so does this, without UB. */
        int64_t ts = (int64_t)(base_ts + (uint64_t)r.ts_delta);
        if (ts == BK_RB_NO_TIMESTAMP) {
            continue;
        }
        if (ts < min_ts) {
            min_ts = ts;
            info->min_timestamp_index = i;
        }
        if (ts > max_ts) {
            max_ts = ts;
            info->max_timestamp_index = i;
        }
    }
    if (c.p != c.end) {
        rc = fail(info, BK_EPROTO, R_REMAINING, -1);
        goto out;
    }
    info->records = count;
    if (info->min_timestamp_index >= 0) {
        info->min_timestamp = min_ts;
        info->max_timestamp = max_ts;
    }
    if (arena != NULL || info->codec == BK_CODEC_NONE) {
        info->records_data = records;
    }
out:
    bk_free(heap);
    return rc;
}

int bk_batch_check_timestamps(struct bk_batch_records_info *info,
                              int64_t now_ms,
                              int64_t before_max_ms,
                              int64_t after_max_ms)
{
    if (info->min_timestamp_index < 0) {
        return 0; /* no record carries a timestamp */
    }
    int64_t lo;
    int64_t hi;
    if (before_max_ms < 0) {
        before_max_ms = 0;
    }
    if (after_max_ms < 0) {
        after_max_ms = 0;
    }
    if (__builtin_sub_overflow(now_ms, before_max_ms, &lo)) {
        lo = INT64_MIN;
    }
    if (__builtin_add_overflow(now_ms, after_max_ms, &hi)) {
        hi = INT64_MAX;
    }
    if (info->min_timestamp < lo) {
        return fail(info, BK_ERANGE, R_TS_LOW, info->min_timestamp_index);
    }
    if (info->max_timestamp > hi) {
        return fail(info, BK_ERANGE, R_TS_HIGH, info->max_timestamp_index);
    }
    return 0;
}

int32_t bk_batch_record_errors(const uint8_t *batch,
                               const uint8_t *records,
                               size_t records_len,
                               unsigned flags,
                               int64_t lo,
                               int64_t hi,
                               bk_batch_record_error_cb fn,
                               void *arg)
{
    int32_t count = (int32_t)be32(batch + OFF_RECORDS_COUNT);
    uint64_t base_ts = be64(batch + OFF_BASE_TS);
    int64_t base_offset = (int64_t)be64(batch);
    struct cur c = { records, records + records_len };
    int32_t n = 0;
    for (int32_t i = 0; i < count; i++) {
        struct rec_view r;
        const char *reason;
        if (parse_record(&c, &r, &reason) != 0) {
            break; /* not for batches the validation refused */
        }
        struct bk_batch_record_error e = {
            .index = i,
            .offset = (int64_t)((uint64_t)base_offset +
                                (uint64_t)(int64_t)r.offset_delta),
            .timestamp = (int64_t)(base_ts + (uint64_t)r.ts_delta),
        };
        if (r.key == NULL && (flags & BK_RB_REQUIRE_KEYS) != 0) {
            e.fault = BK_RB_FAULT_NO_KEY;
        } else if (e.timestamp != BK_RB_NO_TIMESTAMP &&
                   (e.timestamp < lo || e.timestamp > hi)) {
            e.fault = BK_RB_FAULT_TIMESTAMP;
        } else {
            continue;
        }
        n++;
        if (fn != NULL) {
            fn(arg, &e);
        }
    }
    return n;
}

/* ---- rebuilding ------------------------------------------------------ */

int bk_batch_rebuild(const uint8_t *header,
                     const uint8_t *records,
                     size_t records_len,
                     enum bk_codec codec,
                     int level,
                     struct bk_arena *arena,
                     uint8_t **out,
                     size_t *out_len)
{
    if (!bk_codec_valid((int)codec)) {
        return BK_EUNSUPPORTED;
    }
    const uint8_t *body = records;
    size_t body_len = records_len;
    void *tmp = NULL;
    if (codec != BK_CODEC_NONE) {
        int rc = bk_compress((int)codec, level, records, records_len, NULL,
                             &tmp, &body_len);
        if (rc != 0) {
            return rc;
        }
        body = tmp;
    }
    int rc = 0;
    if (body_len > (size_t)INT32_MAX - BK_RB_HEADER_SIZE) {
        rc = BK_ETOOLARGE;
        goto out;
    }
    size_t total = BK_RB_HEADER_SIZE + body_len;
    uint8_t *buf =
        arena != NULL ? bk_arena_alloc(arena, total) : bk_malloc(total);
    if (buf == NULL) {
        rc = BK_ENOMEM;
        goto out;
    }
    memcpy(buf, header, BK_RB_HEADER_SIZE);
    if (body_len > 0) {
        memcpy(buf + BK_RB_HEADER_SIZE, body, body_len);
    }
    put_be32(buf + OFF_LENGTH, (uint32_t)(total - LOG_OVERHEAD));
    buf[OFF_MAGIC] = 2;
    buf[OFF_ATTRIBUTES + 1] = (uint8_t)(((unsigned)buf[OFF_ATTRIBUTES + 1] &
                                         ~(unsigned)BK_RB_ATTR_CODEC_MASK) |
                                        (unsigned)codec);
    put_be32(buf + OFF_CRC,
             bk_crc32c(0, buf + OFF_ATTRIBUTES, total - OFF_ATTRIBUTES));
    *out = buf;
    *out_len = total;
out:
    bk_free(tmp);
    return rc;
}

int bk_batch_recompress(const uint8_t *batch,
                        size_t len,
                        enum bk_codec codec,
                        int level,
                        size_t max_uncompressed,
                        struct bk_arena *arena,
                        uint8_t **out,
                        size_t *out_len)
{
    int rc = check_frame(batch, len);
    if (rc != 0) {
        return rc;
    }
    if (!bk_codec_valid((int)batch_codec(batch))) {
        return BK_EUNSUPPORTED;
    }
    const uint8_t *records;
    size_t records_len;
    void *heap;
    rc = open_records(batch, len, max_uncompressed, NULL, &records,
                      &records_len, &heap);
    if (rc != 0) {
        return rc;
    }
    rc = bk_batch_rebuild(batch, records, records_len, codec, level, arena, out,
                          out_len);
    bk_free(heap);
    return rc;
}

/* ---- reading records ------------------------------------------------- */

int bk_record_iter_init(struct bk_record_iter *it,
                        const uint8_t *batch,
                        size_t len,
                        struct bk_arena *arena,
                        size_t max_uncompressed)
{
    memset(it, 0, sizeof(*it));
    bk_rd_init(&it->rd, NULL, 0);
    int rc = check_frame(batch, len);
    if (rc != 0) {
        it->err = rc;
        it->reason = "Malformed record batch header";
        return rc;
    }
    it->base_offset = (int64_t)be64(batch);
    it->leader_epoch = (int32_t)be32(batch + OFF_LEADER_EPOCH);
    it->attributes = (int16_t)be16(batch + OFF_ATTRIBUTES);
    it->last_offset_delta = (int32_t)be32(batch + OFF_LAST_DELTA);
    it->base_timestamp = (int64_t)be64(batch + OFF_BASE_TS);
    it->max_timestamp = (int64_t)be64(batch + OFF_MAX_TS);
    it->producer_id = (int64_t)be64(batch + OFF_PRODUCER_ID);
    it->producer_epoch = (int16_t)be16(batch + OFF_PRODUCER_EP);
    it->base_sequence = (int32_t)be32(batch + OFF_BASE_SEQUENCE);
    it->records_count = (int32_t)be32(batch + OFF_RECORDS_COUNT);
    enum bk_codec codec = batch_codec(batch);
    if (!bk_codec_valid((int)codec)) {
        rc = BK_EUNSUPPORTED;
    } else if (codec != BK_CODEC_NONE && arena == NULL) {
        rc = BK_EINVAL;
    }
    const uint8_t *records = NULL;
    size_t records_len = 0;
    void *heap;
    if (rc == 0) {
        rc = open_records(batch, len, max_uncompressed, arena, &records,
                          &records_len, &heap);
    }
    if (rc != 0) {
        it->err = rc;
        it->reason = "Records cannot be read";
        return rc;
    }
    bk_rd_init(&it->rd, records, records_len);
    return 0;
}

int bk_record_iter_next(struct bk_record_iter *it, struct bk_record *rec)
{
    if (it->err != 0) {
        return it->err;
    }
    if (it->index >= it->records_count) {
        if (bk_rd_left(&it->rd) != 0) {
            it->err = BK_EPROTO;
            it->reason = R_REMAINING;
            return it->err;
        }
        return 0;
    }
    struct cur c = { it->rd.buf + it->rd.pos, it->rd.buf + it->rd.len };
    struct rec_view r;
    const char *reason;
    if (parse_record(&c, &r, &reason) != 0) {
        it->err = BK_EPROTO;
        it->reason = reason;
        return it->err;
    }
    it->rd.pos = (size_t)(c.p - it->rd.buf);
    it->index++;
    rec->offset = (int64_t)((uint64_t)it->base_offset +
                            (uint64_t)(int64_t)r.offset_delta);
    if ((it->attributes & BK_RB_ATTR_LOG_APPEND_TIME) != 0) {
        rec->timestamp = it->max_timestamp;
    } else {
        rec->timestamp =
            (int64_t)((uint64_t)it->base_timestamp + (uint64_t)r.ts_delta);
    }
    rec->attributes = r.attributes;
    rec->key = (struct bk_bytes){ r.key, r.key_len };
    rec->value = (struct bk_bytes){ r.value, r.value_len };
    rec->headers_count = r.headers_count;
    rec->headers_left = r.headers_count;
    bk_rd_init(&rec->headers, r.headers, r.headers_len);
    return 1;
}

int bk_record_header_next(struct bk_record *rec,
                          struct bk_str *key,
                          struct bk_bytes *value)
{
    if (rec->headers_left <= 0) {
        return 0;
    }
    struct cur c = { rec->headers.buf + rec->headers.pos,
                     rec->headers.buf + rec->headers.len };
    const uint8_t *k;
    const uint8_t *v;
    int32_t klen;
    int32_t vlen;
    if (!cur_field(&c, &k, &klen) || k == NULL || !cur_field(&c, &v, &vlen)) {
        rec->headers_left = 0;
        return BK_EPROTO;
    }
    rec->headers.pos = (size_t)(c.p - rec->headers.buf);
    rec->headers_left--;
    *key = (struct bk_str){ (const char *)k, klen };
    *value = (struct bk_bytes){ v, vlen };
    return 1;
}

/* ---- building -------------------------------------------------------- */

void bk_batch_builder_init(struct bk_batch_builder *b, enum bk_codec codec)
{
    memset(b, 0, sizeof(*b));
    b->codec = codec;
    b->level = BK_COMPRESS_LEVEL_DEFAULT;
    b->leader_epoch = -1;
    b->producer_id = -1;
    b->producer_epoch = -1;
    b->base_sequence = -1;
    b->base_timestamp = BK_RB_NO_TIMESTAMP;
    b->max_timestamp = BK_RB_NO_TIMESTAMP;
}

static size_t bytes_size(struct bk_bytes v)
{
    return v.len < 0 ? bk_varint_size(-1)
                     : bk_varint_size(v.len) + (size_t)v.len;
}

int bk_batch_builder_add(struct bk_batch_builder *b,
                         int64_t timestamp,
                         struct bk_bytes key,
                         struct bk_bytes value,
                         const struct bk_record_header_kv *headers,
                         size_t headers_count)
{
    if (b->count == INT32_MAX || headers_count > INT32_MAX) {
        return BK_ETOOLARGE;
    }
    if (b->count == 0) {
        b->base_timestamp = timestamp;
    }
    int64_t ts_delta =
        (int64_t)((uint64_t)timestamp - (uint64_t)b->base_timestamp);
    /* Sizes add up in 64 bits: each part is below 2^31 and there are at
     * most 2^31 headers, so nothing wraps. */
    uint64_t body = 1 + bk_varlong_size(ts_delta) + bk_varint_size(b->count) +
                    bytes_size(key) + bytes_size(value) +
                    bk_varint_size((int32_t)headers_count);
    for (size_t i = 0; i < headers_count; i++) {
        if (headers[i].key.len < 0) {
            return BK_EINVAL;
        }
        body += bk_varint_size(headers[i].key.len) +
                (size_t)headers[i].key.len + bytes_size(headers[i].value);
    }
    if (body > INT32_MAX) {
        return BK_ETOOLARGE;
    }
    size_t need = bk_varint_size((int32_t)body) + (size_t)body;
    if (need > (size_t)INT32_MAX - BK_RB_HEADER_SIZE - b->len) {
        return BK_ETOOLARGE;
    }
    if (b->cap - b->len < need) {
        size_t cap = b->cap < 256 ? 256 : b->cap;
        while (cap - b->len < need) {
            cap *= 2;
        }
        uint8_t *p = bk_realloc(b->buf, cap);
        if (p == NULL) {
            return BK_ENOMEM;
        }
        b->buf = p;
        b->cap = cap;
    }
    struct bk_wr wr;
    bk_wr_init(&wr, b->buf + b->len, need);
    bk_wr_varint(&wr, (int32_t)body);
    bk_wr_i8(&wr, 0);
    bk_wr_varlong(&wr, ts_delta);
    bk_wr_varint(&wr, b->count);
    struct bk_bytes kv[2] = { key, value };
    for (int i = 0; i < 2; i++) {
        bk_wr_varint(&wr, kv[i].len < 0 ? -1 : kv[i].len);
        if (kv[i].len > 0) {
            bk_wr_raw(&wr, kv[i].ptr, (size_t)kv[i].len);
        }
    }
    bk_wr_varint(&wr, (int32_t)headers_count);
    for (size_t i = 0; i < headers_count; i++) {
        bk_wr_varint(&wr, headers[i].key.len);
        if (headers[i].key.len > 0) {
            bk_wr_raw(&wr, headers[i].key.ptr, (size_t)headers[i].key.len);
        }
        struct bk_bytes v = headers[i].value;
        bk_wr_varint(&wr, v.len < 0 ? -1 : v.len);
        if (v.len > 0) {
            bk_wr_raw(&wr, v.ptr, (size_t)v.len);
        }
    }
    if (wr.err != 0 || wr.len != need) {
        return BK_EIO; /* size computation and writer disagree: a bug */
    }
    b->len += need;
    b->count++;
    if (timestamp > b->max_timestamp) {
        b->max_timestamp = timestamp;
    }
    return 0;
}

int32_t bk_batch_builder_count(const struct bk_batch_builder *b)
{
    return b->count;
}

size_t bk_batch_builder_size(const struct bk_batch_builder *b)
{
    return b->len;
}

int bk_batch_builder_finish(struct bk_batch_builder *b,
                            struct bk_arena *arena,
                            uint8_t **out,
                            size_t *out_len)
{
    if (b->count == 0) {
        return BK_EINVAL;
    }
    uint8_t hdr[BK_RB_HEADER_SIZE];
    struct bk_wr wr;
    bk_wr_init(&wr, hdr, sizeof(hdr));
    bk_wr_i64(&wr, b->base_offset);
    bk_wr_i32(&wr, 0); /* batchLength, set by rebuild */
    bk_wr_i32(&wr, b->leader_epoch);
    bk_wr_i8(&wr, 2);
    bk_wr_u32(&wr, 0); /* crc, set by rebuild */
    bk_wr_i16(&wr, (int16_t)(b->attributes & ~BK_RB_ATTR_CODEC_MASK));
    bk_wr_i32(&wr, b->count - 1);
    bk_wr_i64(&wr, b->base_timestamp);
    bk_wr_i64(&wr, b->max_timestamp);
    bk_wr_i64(&wr, b->producer_id);
    bk_wr_i16(&wr, b->producer_epoch);
    bk_wr_i32(&wr, b->base_sequence);
    bk_wr_i32(&wr, b->count);
    return bk_batch_rebuild(hdr, b->buf, b->len, b->codec, b->level, arena, out,
                            out_len);
}

void bk_batch_builder_free(struct bk_batch_builder *b)
{
    bk_free(b->buf);
    b->buf = NULL;
    b->len = b->cap = 0;
    b->count = 0;
}
