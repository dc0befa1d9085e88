#include "protocol/prim.h"

#include <string.h>

#include "common/err.h"

struct bk_str bk_str_c(const char *s)
{
    if (s == NULL) {
        return BK_STR_NULL;
    }
    return (struct bk_str){ s, (int32_t)strlen(s) };
}

bool bk_str_eq(struct bk_str a, struct bk_str b)
{
    if (a.len != b.len) {
        return false;
    }
    return a.len <= 0 || memcmp(a.ptr, b.ptr, (size_t)a.len) == 0;
}

bool bk_str_eq_c(struct bk_str a, const char *s)
{
    return bk_str_eq(a, bk_str_c(s));
}

bool bk_str_has_nul(struct bk_str s)
{
    return s.len > 0 && memchr(s.ptr, '\0', (size_t)s.len) != NULL;
}

bool bk_uuid_is_zero(const struct bk_uuid *u)
{
    for (size_t i = 0; i < sizeof(u->b); i++) {
        if (u->b[i] != 0) {
            return false;
        }
    }
    return true;
}

void bk_rd_init(struct bk_rd *rd, const void *buf, size_t len)
{
    rd->buf = buf;
    rd->len = len;
    rd->pos = 0;
    rd->err = 0;
}

int bk_rd_fail(struct bk_rd *rd)
{
    rd->err = BK_EPROTO;
    rd->pos = rd->len;
    return BK_EPROTO;
}

const uint8_t *bk_rd_raw(struct bk_rd *rd, size_t n)
{
    if (rd->err != 0 || bk_rd_left(rd) < n) {
        bk_rd_fail(rd);
        return NULL;
    }
    const uint8_t *p = rd->buf + rd->pos;
    rd->pos += n;
    return p;
}

void bk_rd_skip(struct bk_rd *rd, size_t n)
{
    (void)bk_rd_raw(rd, n);
}

static uint64_t rd_be(struct bk_rd *rd, size_t n)
{
    const uint8_t *p = bk_rd_raw(rd, n);
    uint64_t v = 0;
    if (p == NULL) {
        return 0;
    }
    for (size_t i = 0; i < n; i++) {
        v = (v << 8) | p[i];
    }
    return v;
}

bool bk_rd_bool(struct bk_rd *rd)
{
    return rd_be(rd, 1) != 0;
}

int8_t bk_rd_i8(struct bk_rd *rd)
{
    return (int8_t)rd_be(rd, 1);
}

int16_t bk_rd_i16(struct bk_rd *rd)
{
    return (int16_t)rd_be(rd, 2);
}

uint16_t bk_rd_u16(struct bk_rd *rd)
{
    return (uint16_t)rd_be(rd, 2);
}

int32_t bk_rd_i32(struct bk_rd *rd)
{
    return (int32_t)(uint32_t)rd_be(rd, 4);
}

uint32_t bk_rd_u32(struct bk_rd *rd)
{
    return (uint32_t)rd_be(rd, 4);
}

int64_t bk_rd_i64(struct bk_rd *rd)
{
    return (int64_t)rd_be(rd, 8);
}

double bk_rd_f64(struct bk_rd *rd)
{
    uint64_t bits = rd_be(rd, 8);
    double d;
    memcpy(&d, &bits, sizeof(d));
    return d;
}

void bk_rd_uuid(struct bk_rd *rd, struct bk_uuid *out)
{
    const uint8_t *p = bk_rd_raw(rd, 16);
    if (p == NULL) {
        memset(out->b, 0, 16);
    } else {
        memcpy(out->b, p, 16);
    }
}

static uint64_t rd_uvarint_n(struct bk_rd *rd, unsigned max_bytes)
{
    uint64_t v = 0;
    for (unsigned i = 0; i < max_bytes; i++) {
        const uint8_t *p = bk_rd_raw(rd, 1);
        if (p == NULL) {
            return 0;
        }
        v |= (uint64_t)(*p & 0x7f) << (7 * i);
        if ((*p & 0x80) == 0) {
            return v;
        }
    }
    bk_rd_fail(rd); /* longer than the type allows */
    return 0;
}

uint32_t bk_rd_uvarint(struct bk_rd *rd)
{
    uint64_t v = rd_uvarint_n(rd, 5);
    if (v > UINT32_MAX) {
        bk_rd_fail(rd);
        return 0;
    }
    return (uint32_t)v;
}

int32_t bk_rd_varint(struct bk_rd *rd)
{
    uint64_t v = rd_uvarint_n(rd, 5);
    if (v > UINT32_MAX) {
        bk_rd_fail(rd);
        return 0;
    }
    uint32_t u = (uint32_t)v;
    return (int32_t)((u >> 1) ^ (~(u & 1) + 1));
}

int64_t bk_rd_varlong(struct bk_rd *rd)
{
    uint64_t u = rd_uvarint_n(rd, 10);
    return (int64_t)((u >> 1) ^ (~(u & 1) + 1));
}

/* Reads a length prefix: INT16/INT32 or compact (N+1). Returns -1 for null,
 * -2 after an error. */
static int64_t rd_len(struct bk_rd *rd, bool compact, bool wide)
{
    int64_t n;
    if (compact) {
        n = (int64_t)bk_rd_uvarint(rd) - 1;
    } else if (wide) {
        n = bk_rd_i32(rd);
    } else {
        n = bk_rd_i16(rd);
    }
    if (rd->err != 0) {
        return -2;
    }
    if (n < -1) {
        bk_rd_fail(rd);
        return -2;
    }
    return n;
}

struct bk_str bk_rd_str(struct bk_rd *rd, bool compact, bool nullable)
{
    int64_t n = rd_len(rd, compact, false);
    if (n == -1 && nullable) {
        return BK_STR_NULL;
    }
    if (n < 0 || n > INT16_MAX || (size_t)n > bk_rd_left(rd)) {
        bk_rd_fail(rd);
        return (struct bk_str){ "", 0 };
    }
    const uint8_t *p = bk_rd_raw(rd, (size_t)n);
    return (struct bk_str){ (const char *)p, (int32_t)n };
}

struct bk_bytes bk_rd_bytes(struct bk_rd *rd, bool compact, bool nullable)
{
    int64_t n = rd_len(rd, compact, true);
    if (n == -1 && nullable) {
        return BK_BYTES_NULL;
    }
    if (n < 0 || (size_t)n > bk_rd_left(rd)) {
        bk_rd_fail(rd);
        return (struct bk_bytes){ (const uint8_t *)"", 0 };
    }
    const uint8_t *p = bk_rd_raw(rd, (size_t)n);
    return (struct bk_bytes){ p, (int32_t)n };
}

int32_t bk_rd_array_len(struct bk_rd *rd,
                        bool compact,
                        bool nullable,
                        size_t min_elem_size)
{
    int64_t n = rd_len(rd, compact, true);
    if (n == -1 && nullable) {
        return -1;
    }
    if (n < 0) {
        bk_rd_fail(rd);
        return 0;
    }
    if (min_elem_size == 0) {
        min_elem_size = 1;
    }
    if ((uint64_t)n > bk_rd_left(rd) / min_elem_size) {
        bk_rd_fail(rd);
        return 0;
    }
    return (int32_t)n;
}

void bk_wr_init(struct bk_wr *wr, void *buf, size_t cap)
{
    wr->buf = buf;
    wr->cap = cap;
    wr->len = 0;
    wr->err = 0;
    wr->holes = NULL;
    wr->nholes = 0;
    wr->holes_cap = 0;
}

void bk_wr_raw(struct bk_wr *wr, const void *p, size_t n)
{
    if (wr->err != 0 || wr->cap - wr->len < n) {
        wr->err = BK_ERANGE;
        return;
    }
    if (n > 0) {
        memcpy(wr->buf + wr->len, p, n);
    }
    wr->len += n;
}

static void wr_be(struct bk_wr *wr, uint64_t v, size_t n)
{
    uint8_t tmp[8];
    for (size_t i = 0; i < n; i++) {
        tmp[n - 1 - i] = (uint8_t)(v >> (8 * i));
    }
    bk_wr_raw(wr, tmp, n);
}

void bk_wr_bool(struct bk_wr *wr, bool v)
{
    wr_be(wr, v ? 1 : 0, 1);
}

void bk_wr_i8(struct bk_wr *wr, int8_t v)
{
    wr_be(wr, (uint8_t)v, 1);
}

void bk_wr_i16(struct bk_wr *wr, int16_t v)
{
    wr_be(wr, (uint16_t)v, 2);
}

void bk_wr_u16(struct bk_wr *wr, uint16_t v)
{
    wr_be(wr, v, 2);
}

void bk_wr_i32(struct bk_wr *wr, int32_t v)
{
    wr_be(wr, (uint32_t)v, 4);
}

void bk_wr_u32(struct bk_wr *wr, uint32_t v)
{
    wr_be(wr, v, 4);
}

void bk_wr_i64(struct bk_wr *wr, int64_t v)
{
    wr_be(wr, (uint64_t)v, 8);
}

void bk_wr_f64(struct bk_wr *wr, double v)
{
    uint64_t bits;
    memcpy(&bits, &v, sizeof(bits));
    wr_be(wr, bits, 8);
}

void bk_wr_uuid(struct bk_wr *wr, const struct bk_uuid *u)
{
    bk_wr_raw(wr, u->b, 16);
}

static void wr_uvarint64(struct bk_wr *wr, uint64_t v)
{
    uint8_t tmp[10];
    size_t n = 0;
    while (v >= 0x80) {
        tmp[n++] = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    tmp[n++] = (uint8_t)v;
    bk_wr_raw(wr, tmp, n);
}

void bk_wr_uvarint(struct bk_wr *wr, uint32_t v)
{
    wr_uvarint64(wr, v);
}

void bk_wr_varint(struct bk_wr *wr, int32_t v)
{
    wr_uvarint64(wr, ((uint32_t)v << 1) ^ (0u - ((uint32_t)v >> 31)));
}

void bk_wr_varlong(struct bk_wr *wr, int64_t v)
{
    wr_uvarint64(wr, ((uint64_t)v << 1) ^ ((uint64_t)0 - ((uint64_t)v >> 63)));
}

void bk_wr_str(struct bk_wr *wr, struct bk_str s, bool compact)
{
    if (compact) {
        bk_wr_uvarint(wr, s.len < 0 ? 0 : (uint32_t)s.len + 1);
    } else {
        bk_wr_i16(wr, (int16_t)(s.len < 0 ? -1 : s.len));
    }
    if (s.len > 0) {
        bk_wr_raw(wr, s.ptr, (size_t)s.len);
    }
}

void bk_wr_bytes(struct bk_wr *wr, struct bk_bytes b, bool compact)
{
    if (compact) {
        bk_wr_uvarint(wr, b.len < 0 ? 0 : (uint32_t)b.len + 1);
    } else {
        bk_wr_i32(wr, b.len < 0 ? -1 : b.len);
    }
    if (b.len > 0 && b.ptr == NULL) {
        if (wr->err != 0 || wr->nholes >= wr->holes_cap) {
            wr->err = BK_ERANGE;
            return;
        }
        wr->holes[wr->nholes].pos = wr->len;
        wr->holes[wr->nholes].len = (size_t)b.len;
        wr->nholes++;
        return;
    }
    if (b.len > 0) {
        bk_wr_raw(wr, b.ptr, (size_t)b.len);
    }
}

void bk_wr_array_len(struct bk_wr *wr, int32_t count, bool compact)
{
    if (compact) {
        bk_wr_uvarint(wr, count < 0 ? 0 : (uint32_t)count + 1);
    } else {
        bk_wr_i32(wr, count < 0 ? -1 : count);
    }
}

static size_t uvarint64_size(uint64_t v)
{
    size_t n = 1;
    while (v >= 0x80) {
        v >>= 7;
        n++;
    }
    return n;
}

size_t bk_uvarint_size(uint32_t v)
{
    return uvarint64_size(v);
}

size_t bk_varint_size(int32_t v)
{
    return uvarint64_size(((uint32_t)v << 1) ^ (0u - ((uint32_t)v >> 31)));
}

size_t bk_varlong_size(int64_t v)
{
    return uvarint64_size(((uint64_t)v << 1) ^
                          ((uint64_t)0 - ((uint64_t)v >> 63)));
}

size_t bk_str_size(struct bk_str s, bool compact)
{
    size_t body = s.len > 0 ? (size_t)s.len : 0;
    if (compact) {
        return bk_uvarint_size(s.len < 0 ? 0 : (uint32_t)s.len + 1) + body;
    }
    return 2 + body;
}

size_t bk_bytes_size(struct bk_bytes b, bool compact)
{
    size_t body = b.len > 0 ? (size_t)b.len : 0;
    if (compact) {
        return bk_uvarint_size(b.len < 0 ? 0 : (uint32_t)b.len + 1) + body;
    }
    return 4 + body;
}

size_t bk_array_len_size(int32_t count, bool compact)
{
    if (compact) {
        return bk_uvarint_size(count < 0 ? 0 : (uint32_t)count + 1);
    }
    return 4;
}

uint32_t bk_rd_tag(struct bk_rd *rd, struct bk_rd *sub)
{
    uint32_t tag = bk_rd_uvarint(rd);
    uint32_t size = bk_rd_uvarint(rd);
    const uint8_t *p = bk_rd_raw(rd, size);
    bk_rd_init(sub, p, p == NULL ? 0 : size);
    if (p == NULL) {
        sub->buf = (const uint8_t *)"";
    }
    return tag;
}

void bk_rd_tags_skip(struct bk_rd *rd)
{
    uint32_t n = bk_rd_uvarint(rd);
    for (uint32_t i = 0; i < n && rd->err == 0; i++) {
        (void)bk_rd_uvarint(rd);
        bk_rd_skip(rd, bk_rd_uvarint(rd));
    }
}
