/* Kafka wire primitives: a bounds-checked reader and a fixed-size writer.
 *
 * The reader has a sticky error: the first failure (a read past the end, a
 * length that does not fit the bytes left, a varint over its maximum width)
 * sets rd->err to BK_EPROTO and every later read returns zero values, so a
 * decoder may check once at the end. Strings and bytes are views into the
 * reader's buffer (borrowed; valid while that buffer lives).
 *
 * The writer writes into a buffer sized beforehand (the generated _size()
 * functions compute it); an overflow sets wr->err instead of writing past the
 * end. All integers are big-endian (shared/kafka-protocol/README.md). */
#ifndef BK_PROTOCOL_PRIM_H
#define BK_PROTOCOL_PRIM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* A string view; len == -1 means null. Not NUL-terminated. */
struct bk_str {
    const char *ptr;
    int32_t len;
};

/* A byte view; len == -1 means null. */
struct bk_bytes {
    const uint8_t *ptr;
    int32_t len;
};

struct bk_uuid {
    uint8_t b[16];
};

#define BK_STR_NULL   ((struct bk_str){ NULL, -1 })
#define BK_BYTES_NULL ((struct bk_bytes){ NULL, -1 })

/* Borrows s (may be NULL, giving the null string). */
struct bk_str bk_str_c(const char *s);
bool bk_str_eq(struct bk_str a, struct bk_str b);
bool bk_str_eq_c(struct bk_str a, const char *s);
/* Whether s (null or not) holds a NUL byte. Such a string from the wire
 * cannot become a C string without changing its meaning ("x\0y" would read
 * as "x"), so whoever keeps it as one refuses it first. */
bool bk_str_has_nul(struct bk_str s);
bool bk_uuid_is_zero(const struct bk_uuid *u);

struct bk_rd {
    const uint8_t *buf; /* borrowed */
    size_t len;
    size_t pos;
    int err; /* 0 or BK_EPROTO, sticky */
};

void bk_rd_init(struct bk_rd *rd, const void *buf, size_t len);
static inline size_t bk_rd_left(const struct bk_rd *rd)
{
    return rd->len - rd->pos;
}
/* Sets the sticky error; always returns BK_EPROTO. */
int bk_rd_fail(struct bk_rd *rd);

bool bk_rd_bool(struct bk_rd *rd);
int8_t bk_rd_i8(struct bk_rd *rd);
int16_t bk_rd_i16(struct bk_rd *rd);
uint16_t bk_rd_u16(struct bk_rd *rd);
int32_t bk_rd_i32(struct bk_rd *rd);
uint32_t bk_rd_u32(struct bk_rd *rd);
int64_t bk_rd_i64(struct bk_rd *rd);
double bk_rd_f64(struct bk_rd *rd);
void bk_rd_uuid(struct bk_rd *rd, struct bk_uuid *out);
uint32_t bk_rd_uvarint(struct bk_rd *rd);
int32_t bk_rd_varint(struct bk_rd *rd);
int64_t bk_rd_varlong(struct bk_rd *rd);
/* Raw n bytes as a view; fails if fewer are left. */
const uint8_t *bk_rd_raw(struct bk_rd *rd, size_t n);
void bk_rd_skip(struct bk_rd *rd, size_t n);

/* STRING / NULLABLE_STRING (compact == false) or the COMPACT_ forms. A null
 * where nullable is false is a protocol error. */
struct bk_str bk_rd_str(struct bk_rd *rd, bool compact, bool nullable);
/* BYTES / NULLABLE_BYTES or COMPACT_ forms (also RECORDS). */
struct bk_bytes bk_rd_bytes(struct bk_rd *rd, bool compact, bool nullable);
/* An array length: INT32 or UNSIGNED_VARINT count+1. Returns -1 for null
 * (an error unless nullable). Fails when the count could not possibly fit in
 * the bytes left (each element takes at least min_elem_size bytes), so a
 * peer cannot make the decoder allocate for a count it did not send. */
int32_t bk_rd_array_len(struct bk_rd *rd,
                        bool compact,
                        bool nullable,
                        size_t min_elem_size);

/* One entry of a tagged-field section (after its UNSIGNED_VARINT count):
 * reads the tag and the size, points sub at the field's bytes and skips them
 * in rd. Returns the tag; on a malformed entry rd->err is set and sub is
 * empty. */
uint32_t bk_rd_tag(struct bk_rd *rd, struct bk_rd *sub);
/* Skips a whole tagged-field section (count, then tag/size/bytes each). */
void bk_rd_tags_skip(struct bk_rd *rd);

/* A deferred region: bytes that belong at `pos` of the encoded output but
 * are not in the writer's buffer (they go out from a file with sendfile). */
struct bk_wr_hole {
    size_t pos; /* offset in buf where the region belongs */
    size_t len;
};

struct bk_wr {
    uint8_t *buf; /* borrowed */
    size_t cap;
    size_t len;
    int err; /* 0 or BK_ERANGE, sticky */
    /* Optional (NULL = none): a bytes value with ptr == NULL and len > 0 is
     * a deferred region; its length prefix is written, its bytes are not,
     * and the region is recorded here. Plaintext Fetch uses this to send
     * records with sendfile. A deferred region without room here is an
     * error (BK_ERANGE). */
    struct bk_wr_hole *holes; /* borrowed */
    size_t nholes;
    size_t holes_cap;
};

void bk_wr_init(struct bk_wr *wr, void *buf, size_t cap);
void bk_wr_bool(struct bk_wr *wr, bool v);
void bk_wr_i8(struct bk_wr *wr, int8_t v);
void bk_wr_i16(struct bk_wr *wr, int16_t v);
void bk_wr_u16(struct bk_wr *wr, uint16_t v);
void bk_wr_i32(struct bk_wr *wr, int32_t v);
void bk_wr_u32(struct bk_wr *wr, uint32_t v);
void bk_wr_i64(struct bk_wr *wr, int64_t v);
void bk_wr_f64(struct bk_wr *wr, double v);
void bk_wr_uuid(struct bk_wr *wr, const struct bk_uuid *u);
void bk_wr_uvarint(struct bk_wr *wr, uint32_t v);
void bk_wr_varint(struct bk_wr *wr, int32_t v);
void bk_wr_varlong(struct bk_wr *wr, int64_t v);
void bk_wr_raw(struct bk_wr *wr, const void *p, size_t n);
void bk_wr_str(struct bk_wr *wr, struct bk_str s, bool compact);
void bk_wr_bytes(struct bk_wr *wr, struct bk_bytes b, bool compact);
/* count == -1 writes null. */
void bk_wr_array_len(struct bk_wr *wr, int32_t count, bool compact);

/* Encoded sizes, for the generated _size() functions. */
size_t bk_uvarint_size(uint32_t v);
size_t bk_varint_size(int32_t v);
size_t bk_varlong_size(int64_t v);
size_t bk_str_size(struct bk_str s, bool compact);
size_t bk_bytes_size(struct bk_bytes b, bool compact);
size_t bk_array_len_size(int32_t count, bool compact);

#endif /* BK_PROTOCOL_PRIM_H */
