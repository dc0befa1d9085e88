#include "log/batch.h"

#include "common/crc32c.h"
#include "common/err.h"

/* batchLength counts from partitionLeaderEpoch: 61 - 12 = 49 bytes of
 * header at least. */
#define MIN_BATCH_LENGTH (BK_BATCH_HEADER_SIZE - BK_BATCH_LOG_OVERHEAD)

void bk_batch_hdr_decode(const uint8_t *b, struct bk_batch_hdr *h)
{
    h->base_offset = (int64_t)bk_be64(b + 0);
    h->length = (int32_t)bk_be32(b + 8);
    h->leader_epoch = (int32_t)bk_be32(b + 12);
    h->magic = (int8_t)b[16];
    h->crc = bk_be32(b + 17);
    h->attributes = (int16_t)((b[21] << 8) | b[22]);
    h->last_offset_delta = (int32_t)bk_be32(b + 23);
    h->base_timestamp = (int64_t)bk_be64(b + 27);
    h->max_timestamp = (int64_t)bk_be64(b + 35);
    h->producer_id = (int64_t)bk_be64(b + 43);
    h->producer_epoch = (int16_t)((b[51] << 8) | b[52]);
    h->base_sequence = (int32_t)bk_be32(b + 53);
    h->records_count = (int32_t)bk_be32(b + 57);
}

int bk_batch_hdr_check(const struct bk_batch_hdr *h,
                       int64_t avail,
                       enum bk_batch_check check)
{
    if (h->length < MIN_BATCH_LENGTH) {
        return BK_EPROTO;
    }
    if (h->magic != 2) {
        return BK_EUNSUPPORTED;
    }
    if (h->last_offset_delta < 0 || h->records_count < 0 ||
        h->base_offset < 0 ||
        h->base_offset > INT64_MAX - h->last_offset_delta) {
        return BK_EPROTO;
    }
    if (check == BK_BATCH_CHECK_PRODUCE) {
        if (h->records_count < 1 ||
            (int64_t)h->records_count != (int64_t)h->last_offset_delta + 1) {
            return BK_EPROTO;
        }
    } else if ((int64_t)h->records_count > (int64_t)h->last_offset_delta + 1) {
        return BK_EPROTO;
    }
    if (bk_batch_hdr_size(h) > avail) {
        return BK_EAGAIN;
    }
    return 0;
}

int bk_batch_validate(const void *buf,
                      size_t len,
                      enum bk_batch_check check,
                      struct bk_batch_hdr *out)
{
    /* tmp is written by bk_batch_hdr_decode before it is read. */
    struct bk_batch_hdr tmp;
    /* cppcheck-suppress uninitvar */
    struct bk_batch_hdr *h = out != NULL ? out : &tmp;
    const uint8_t *b = buf;
    if (len < BK_BATCH_HEADER_SIZE) {
        return BK_EPROTO;
    }
    bk_batch_hdr_decode(b, h);
    int rv = bk_batch_hdr_check(h, (int64_t)len, check);
    if (rv == BK_EAGAIN) {
        return BK_EPROTO; /* batchLength claims more than was sent */
    }
    if (rv != 0) {
        return rv;
    }
    if (bk_batch_hdr_size(h) != (int64_t)len) {
        return BK_EPROTO;
    }
    uint32_t crc =
        bk_crc32c(0, b + BK_BATCH_CRC_START, len - BK_BATCH_CRC_START);
    if (crc != h->crc) {
        return BK_ECORRUPT;
    }
    return 0;
}

void bk_batch_set_base_offset(uint8_t *buf, int64_t base_offset)
{
    bk_put_be64(buf + BK_BATCH_OFF_BASE_OFFSET, (uint64_t)base_offset);
}

void bk_batch_set_leader_epoch(uint8_t *buf, int32_t epoch)
{
    bk_put_be32(buf + BK_BATCH_OFF_LEADER_EPOCH, (uint32_t)epoch);
}

void bk_batch_set_log_append_time(uint8_t *buf, size_t len, int64_t ts)
{
    buf[BK_BATCH_OFF_ATTRIBUTES + 1] |= BK_BATCH_ATTR_LOG_APPEND_TIME;
    bk_put_be64(buf + BK_BATCH_OFF_MAX_TS, (uint64_t)ts);
    uint32_t crc =
        bk_crc32c(0, buf + BK_BATCH_CRC_START, len - BK_BATCH_CRC_START);
    bk_put_be32(buf + BK_BATCH_OFF_CRC, crc);
}

/* Reads a zigzag varint of at most max_bytes; returns false past the end or
 * on an over-long encoding. */
static bool read_varint(const uint8_t **p,
                        const uint8_t *end,
                        int max_bytes,
                        int64_t *out)
{
    uint64_t v = 0;
    for (int i = 0; i < max_bytes; i++) {
        if (*p >= end) {
            return false;
        }
        uint8_t b = *(*p)++;
        v |= (uint64_t)(b & 0x7f) << (7 * i);
        if ((b & 0x80) == 0) {
            *out = (int64_t)(v >> 1) ^ -(int64_t)(v & 1);
            return true;
        }
    }
    return false;
}

int bk_batch_find_timestamp(const uint8_t *buf,
                            size_t len,
                            int64_t ts,
                            int64_t *offset,
                            int64_t *found_ts)
{
    struct bk_batch_hdr h;
    if (len < BK_BATCH_HEADER_SIZE) {
        return BK_EPROTO;
    }
    bk_batch_hdr_decode(buf, &h);
    if (h.max_timestamp < ts) {
        return BK_ENOTFOUND;
    }
    /* With LogAppendTime every record carries maxTimestamp, and a
     * compressed batch would need its codec: answer with the batch. */
    if ((h.attributes & BK_BATCH_ATTR_COMPRESSION_MASK) != 0 ||
        (h.attributes & BK_BATCH_ATTR_LOG_APPEND_TIME) != 0) {
        *offset = h.base_offset;
        *found_ts = h.max_timestamp;
        return 0;
    }
    const uint8_t *p = buf + BK_BATCH_HEADER_SIZE;
    const uint8_t *end = buf + len;
    for (int32_t i = 0; i < h.records_count; i++) {
        int64_t rec_len, ts_delta, off_delta;
        if (!read_varint(&p, end, 5, &rec_len) || rec_len < 0 ||
            rec_len > end - p) {
            break;
        }
        const uint8_t *rec_end = p + rec_len;
        const uint8_t *q = p + 1; /* attributes */
        if (q > rec_end || !read_varint(&q, rec_end, 10, &ts_delta) ||
            !read_varint(&q, rec_end, 5, &off_delta)) {
            break;
        }
        if (h.base_timestamp + ts_delta >= ts) {
            *offset = h.base_offset + off_delta;
            *found_ts = h.base_timestamp + ts_delta;
            return 0;
        }
        p = rec_end;
    }
    *offset = h.base_offset;
    *found_ts = h.max_timestamp;
    return 0;
}
