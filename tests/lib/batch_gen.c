#include "batch_gen.h"

#include <string.h>

#include "common/crc32c.h"

static size_t put_varint(uint8_t *p, int64_t v)
{
    uint64_t z = ((uint64_t)v << 1) ^ ((uint64_t)0 - ((uint64_t)v >> 63));
    size_t n = 0;
    while (z >= 0x80) {
        p[n++] = (uint8_t)(z | 0x80);
        z >>= 7;
    }
    p[n++] = (uint8_t)z;
    return n;
}

static void be32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

static void be64(uint8_t *p, uint64_t v)
{
    be32(p, (uint32_t)(v >> 32));
    be32(p + 4, (uint32_t)v);
}

size_t test_batch_size_bound(int nrec, size_t value_len)
{
    return 61 + (size_t)nrec * (value_len + 40);
}

size_t test_batch_build(uint8_t *buf,
                        size_t cap,
                        int nrec,
                        int64_t base_ts,
                        int64_t ts_step,
                        size_t value_len,
                        uint32_t seed)
{
    if (cap < test_batch_size_bound(nrec, value_len)) {
        return 0;
    }
    size_t pos = 61;
    uint32_t x = seed * 2654435761u + 1;
    int64_t max_ts = base_ts;
    for (int i = 0; i < nrec; i++) {
        uint8_t body[64];
        size_t b = 0;
        body[b++] = 0; /* attributes */
        b += put_varint(body + b, (int64_t)i * ts_step);
        b += put_varint(body + b, i);
        b += put_varint(body + b, -1); /* null key */
        b += put_varint(body + b, (int64_t)value_len);
        size_t total = b + value_len + 1; /* + headers count */
        pos += put_varint(buf + pos, (int64_t)total);
        memcpy(buf + pos, body, b);
        pos += b;
        for (size_t j = 0; j < value_len; j++) {
            x = x * 1103515245u + 12345u;
            buf[pos++] = (uint8_t)(x >> 16);
        }
        pos += put_varint(buf + pos, 0);
        if (base_ts + (int64_t)i * ts_step > max_ts) {
            max_ts = base_ts + (int64_t)i * ts_step;
        }
    }
    be64(buf + 0, 0);
    be32(buf + 8, (uint32_t)(pos - 12));
    be32(buf + 12, (uint32_t)-1);
    buf[16] = 2;
    buf[21] = 0;
    buf[22] = 0;
    be32(buf + 23, (uint32_t)(nrec - 1));
    be64(buf + 27, (uint64_t)base_ts);
    be64(buf + 35, (uint64_t)max_ts);
    be64(buf + 43, (uint64_t)-1);
    buf[51] = 0xff;
    buf[52] = 0xff;
    be32(buf + 53, (uint32_t)-1);
    be32(buf + 57, (uint32_t)nrec);
    be32(buf + 17, bk_crc32c(0, buf + 21, pos - 21));
    return pos;
}
