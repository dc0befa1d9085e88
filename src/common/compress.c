/* Codec glue over zlib, snappy (C API), liblz4 (frame API) and libzstd.
 *
 * Decoding writes into a growable heap buffer whose capacity never exceeds
 * max_out + 1 bytes: a decoder that fills the last byte has produced more
 * than allowed, which is how a bomb is detected without asking the codec
 * for the true size (gzip and lz4 frames usually do not carry one). When
 * the size is known up front (snappy, zstd and lz4 frames with a content
 * size) the buffer is sized once and a lie is caught by the decoder or by
 * the limit. At the end the bytes move to the caller's arena, or the heap
 * block is handed over as is. */
#include "common/compress.h"

#include <lz4frame.h>
#include <snappy-c.h>
#include <stdint.h>
#include <string.h>
#include <zlib.h>
#include <zstd.h>
#include <zstd_errors.h>

#include "common/arena.h"
#include "common/err.h"
#include "common/heap.h"

/* Java's SnappyOutputStream: 8 bytes of magic, INT32 version, INT32 minimum
 * compatible version, then chunks. */
static const uint8_t xerial_magic[8] = {
    0x82, 'S', 'N', 'A', 'P', 'P', 'Y', 0
};
#define XERIAL_HEADER_SIZE 16
#define XERIAL_BLOCK_SIZE  32768 /* SnappyOutputStream's default */

/* Codecs take int-sized lengths; Kafka batches are far below this. */
#define CODEC_MAX_INPUT ((size_t)INT32_MAX)

/* Hands zlib and friends at most this much per call (uInt fields). */
#define STEP_MAX ((size_t)1 << 30)

const char *bk_codec_name(int codec)
{
    switch (codec) {
        case BK_CODEC_NONE:
            return "none";
        case BK_CODEC_GZIP:
            return "gzip";
        case BK_CODEC_SNAPPY:
            return "snappy";
        case BK_CODEC_LZ4:
            return "lz4";
        case BK_CODEC_ZSTD:
            return "zstd";
        default:
            return "unknown";
    }
}

int bk_codec_from_name(const char *name, enum bk_codec *out)
{
    static const struct {
        const char *name;
        enum bk_codec codec;
    } names[] = {
        { "none", BK_CODEC_NONE }, { "uncompressed", BK_CODEC_NONE },
        { "gzip", BK_CODEC_GZIP }, { "snappy", BK_CODEC_SNAPPY },
        { "lz4", BK_CODEC_LZ4 },   { "zstd", BK_CODEC_ZSTD },
    };
    if (name == NULL) {
        return BK_EINVAL;
    }
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        if (strcmp(name, names[i].name) == 0) {
            *out = names[i].codec;
            return 0;
        }
    }
    return BK_EINVAL;
}

bool bk_codec_valid(int codec)
{
    return codec >= BK_CODEC_NONE && codec <= BK_CODEC_MAX;
}

/* ---- output buffer -------------------------------------------------- */

struct obuf {
    uint8_t *p;  /* owned heap block */
    size_t len;  /* bytes written */
    size_t cap;  /* bytes allocated */
    size_t hard; /* cap never exceeds this (max_out + 1 when decoding) */
};

static void obuf_init(struct obuf *b, size_t hard)
{
    b->p = NULL;
    b->len = 0;
    b->cap = 0;
    b->hard = hard;
}

static void obuf_free(struct obuf *b)
{
    bk_free(b->p);
    b->p = NULL;
    b->len = b->cap = 0;
}

/* Sets the capacity to n (clamped to hard, at least 1). */
static int obuf_resize(struct obuf *b, size_t n)
{
    if (n > b->hard) {
        n = b->hard;
    }
    if (n == 0) {
        n = 1;
    }
    if (n <= b->cap) {
        return 0;
    }
    uint8_t *p = bk_realloc(b->p, n);
    if (p == NULL) {
        return BK_ENOMEM;
    }
    b->p = p;
    b->cap = n;
    return 0;
}

/* Called when the buffer is full: doubles it, up to hard. */
static int obuf_grow(struct obuf *b)
{
    if (b->cap >= b->hard) {
        return BK_ETOOLARGE;
    }
    size_t n = b->cap < b->hard / 2 ? b->cap * 2 : b->hard;
    if (n < 4096) {
        n = 4096;
    }
    return obuf_resize(b, n);
}

static size_t obuf_free_space(const struct obuf *b)
{
    return b->cap - b->len;
}

/* Moves the result to the caller; the obuf is empty afterwards. */
static int obuf_finish(struct obuf *b,
                       struct bk_arena *arena,
                       void **out,
                       size_t *out_len)
{
    if (arena != NULL) {
        uint8_t *p = bk_arena_alloc(arena, b->len > 0 ? b->len : 1);
        if (p == NULL) {
            obuf_free(b);
            return BK_ENOMEM;
        }
        if (b->len > 0) {
            memcpy(p, b->p, b->len);
        }
        *out = p;
        *out_len = b->len;
        obuf_free(b);
        return 0;
    }
    if (b->p == NULL) {
        b->p = bk_malloc(1);
        if (b->p == NULL) {
            return BK_ENOMEM;
        }
        b->cap = 1;
    } else if (b->cap > b->len + 4096) {
        uint8_t *p = bk_realloc(b->p, b->len > 0 ? b->len : 1);
        if (p != NULL) { /* keep the larger block if shrinking fails */
            b->p = p;
            b->cap = b->len > 0 ? b->len : 1;
        }
    }
    *out = b->p;
    *out_len = b->len;
    b->p = NULL;
    b->len = b->cap = 0;
    return 0;
}

/* Initial capacity of a decode buffer with no size hint: a few times the
 * input, as typical ratios go, bounded by the limit. */
static size_t guess_size(size_t in_len)
{
    size_t n = in_len > SIZE_MAX / 4 ? SIZE_MAX : in_len * 4;
    return n < 4096 ? 4096 : n;
}

/* ---- gzip ------------------------------------------------------------ */

static voidpf z_alloc_cb(voidpf opaque, uInt items, uInt size)
{
    (void)opaque;
    return bk_calloc(items, size);
}

static void z_free_cb(voidpf opaque, voidpf address)
{
    (void)opaque;
    bk_free(address);
}

static int gzip_decompress(const uint8_t *in, size_t in_len, struct obuf *b)
{
    if (in_len == 0) {
        return BK_ECORRUPT;
    }
    z_stream zs;
    memset(&zs, 0, sizeof(zs));
    zs.zalloc = z_alloc_cb;
    zs.zfree = z_free_cb;
    /* 32 + MAX_WBITS: gzip or zlib header, detected. */
    int zr = inflateInit2(&zs, 32 + MAX_WBITS);
    if (zr != Z_OK) {
        return zr == Z_MEM_ERROR ? BK_ENOMEM : BK_EIO;
    }
    /* A gzip stream ends with ISIZE (length mod 2^32): a good first guess. */
    size_t hint = guess_size(in_len);
    if (in_len >= 18 && in[0] == 0x1f && in[1] == 0x8b) {
        const uint8_t *t = in + in_len - 4;
        size_t isize = (size_t)t[0] | (size_t)t[1] << 8 | (size_t)t[2] << 16 |
                       (size_t)t[3] << 24;
        /* A lie cannot make us allocate past deflate's best ratio. */
        size_t most = in_len > SIZE_MAX / 1032 ? SIZE_MAX : in_len * 1032;
        hint = isize < most ? isize + 1 : most;
    }
    int rc = obuf_resize(b, hint);
    size_t pos = 0;
    while (rc == 0) {
        if (obuf_free_space(b) == 0 && (rc = obuf_grow(b)) != 0) {
            break;
        }
        size_t in_step = in_len - pos < STEP_MAX ? in_len - pos : STEP_MAX;
        size_t out_step = obuf_free_space(b);
        if (out_step > STEP_MAX) {
            out_step = STEP_MAX;
        }
        /* zlib's next_in is not const; it does not write through it. */
        /* NOLINTNEXTLINE(performance-no-int-to-ptr) */
        zs.next_in = (Bytef *)(uintptr_t)(in + pos);
        zs.avail_in = (uInt)in_step;
        zs.next_out = b->p + b->len;
        zs.avail_out = (uInt)out_step;
        zr = inflate(&zs, Z_NO_FLUSH);
        size_t used = in_step - zs.avail_in;
        size_t made = out_step - zs.avail_out;
        pos += used;
        b->len += made;
        if (b->len >= b->hard) {
            rc = BK_ETOOLARGE;
            break;
        }
        if (zr == Z_STREAM_END) {
            if (pos == in_len) {
                break;
            }
            /* Concatenated members, as GZIPInputStream reads them. */
            if (in_len - pos >= 2 && in[pos] == 0x1f && in[pos + 1] == 0x8b &&
                inflateReset(&zs) == Z_OK) {
                continue;
            }
            rc = BK_ECORRUPT;
        } else if (zr == Z_OK) {
            continue;
        } else if (zr == Z_MEM_ERROR) {
            rc = BK_ENOMEM;
        } else {
            rc = BK_ECORRUPT; /* data error or truncated input */
        }
    }
    inflateEnd(&zs);
    return rc;
}

static int clamp_level(int level, int def, int lo, int hi)
{
    if (level == BK_COMPRESS_LEVEL_DEFAULT) {
        return def;
    }
    return level < lo ? lo : level > hi ? hi : level;
}

static int gzip_compress(int level,
                         const uint8_t *in,
                         size_t in_len,
                         struct obuf *b)
{
    z_stream zs;
    memset(&zs, 0, sizeof(zs));
    zs.zalloc = z_alloc_cb;
    zs.zfree = z_free_cb;
    level = clamp_level(level, Z_DEFAULT_COMPRESSION, 1, 9);
    /* 16 + MAX_WBITS: a gzip wrapper, as GZIPOutputStream writes. */
    int zr = deflateInit2(&zs, level, Z_DEFLATED, 16 + MAX_WBITS, 8,
                          Z_DEFAULT_STRATEGY);
    if (zr != Z_OK) {
        return zr == Z_MEM_ERROR ? BK_ENOMEM : BK_EIO;
    }
    size_t bound = deflateBound(&zs, (uLong)in_len);
    int rc = obuf_resize(b, bound);
    if (rc == 0) {
        /* As above: zlib only reads next_in. */
        /* NOLINTNEXTLINE(performance-no-int-to-ptr) */
        zs.next_in = (Bytef *)(uintptr_t)in;
        zs.avail_in = (uInt)in_len;
        zs.next_out = b->p;
        zs.avail_out = (uInt)b->cap;
        zr = deflate(&zs, Z_FINISH);
        if (zr == Z_STREAM_END) {
            b->len = b->cap - zs.avail_out;
        } else {
            rc = zr == Z_MEM_ERROR ? BK_ENOMEM : BK_EIO;
        }
    }
    deflateEnd(&zs);
    return rc;
}

/* ---- snappy ---------------------------------------------------------- */

static bool is_xerial(const uint8_t *in, size_t in_len)
{
    return in_len >= XERIAL_HEADER_SIZE &&
           memcmp(in, xerial_magic, sizeof(xerial_magic)) == 0;
}

static uint32_t rd_be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 |
           (uint32_t)p[3];
}

static void wr_be32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

/* Walks the xerial chunks. With b == NULL it only adds up the sizes the
 * blocks declare (into *total, failing past limit); otherwise it
 * decompresses them into b, which has room for *total bytes. */
static int xerial_walk(const uint8_t *in,
                       size_t in_len,
                       size_t limit,
                       size_t *total,
                       struct obuf *b)
{
    size_t pos = XERIAL_HEADER_SIZE;
    size_t sum = 0;
    while (pos < in_len) {
        /* A second stream appended to the first (SnappyInputStream reads
         * on past a repeated header). */
        if (in_len - pos >= sizeof(xerial_magic) &&
            memcmp(in + pos, xerial_magic, sizeof(xerial_magic)) == 0) {
            if (in_len - pos < XERIAL_HEADER_SIZE) {
                return BK_ECORRUPT;
            }
            pos += XERIAL_HEADER_SIZE;
            continue;
        }
        if (in_len - pos < 4) {
            return BK_ECORRUPT;
        }
        size_t clen = rd_be32(in + pos);
        pos += 4;
        if (clen > in_len - pos) {
            return BK_ECORRUPT;
        }
        if (clen == 0) {
            continue;
        }
        const char *blk = (const char *)(in + pos);
        size_t ulen;
        if (snappy_uncompressed_length(blk, clen, &ulen) != SNAPPY_OK) {
            return BK_ECORRUPT;
        }
        if (ulen > limit - sum) {
            return BK_ETOOLARGE;
        }
        if (b != NULL) {
            size_t n = b->cap - b->len;
            if (ulen > n ||
                snappy_uncompress(blk, clen, (char *)b->p + b->len, &n) !=
                    SNAPPY_OK ||
                n != ulen) {
                return BK_ECORRUPT;
            }
            b->len += n;
        }
        sum += ulen;
        pos += clen;
    }
    *total = sum;
    return 0;
}

static int snappy_decompress_(const uint8_t *in,
                              size_t in_len,
                              size_t max_out,
                              struct obuf *b)
{
    size_t total;
    int rc;
    if (is_xerial(in, in_len)) {
        rc = xerial_walk(in, in_len, max_out, &total, NULL);
        if (rc == 0) {
            rc = obuf_resize(b, total);
        }
        if (rc == 0) {
            rc = xerial_walk(in, in_len, max_out, &total, b);
        }
        return rc;
    }
    const char *src = (const char *)in;
    if (in_len == 0 ||
        snappy_uncompressed_length(src, in_len, &total) != SNAPPY_OK) {
        return BK_ECORRUPT;
    }
    if (total > max_out) {
        return BK_ETOOLARGE;
    }
    if ((rc = obuf_resize(b, total)) != 0) {
        return rc;
    }
    size_t n = b->cap;
    if (snappy_uncompress(src, in_len, (char *)b->p, &n) != SNAPPY_OK ||
        n != total) {
        return BK_ECORRUPT;
    }
    b->len = n;
    return 0;
}

static int snappy_compress_(const uint8_t *in, size_t in_len, struct obuf *b)
{
    size_t nblocks = (in_len + XERIAL_BLOCK_SIZE - 1) / XERIAL_BLOCK_SIZE;
    size_t per = 4 + snappy_max_compressed_length(XERIAL_BLOCK_SIZE);
    int rc = obuf_resize(b, XERIAL_HEADER_SIZE + nblocks * per);
    if (rc != 0) {
        return rc;
    }
    memcpy(b->p, xerial_magic, sizeof(xerial_magic));
    wr_be32(b->p + 8, 1);  /* version */
    wr_be32(b->p + 12, 1); /* minimum compatible version */
    b->len = XERIAL_HEADER_SIZE;
    for (size_t pos = 0; pos < in_len; pos += XERIAL_BLOCK_SIZE) {
        size_t n =
            in_len - pos < XERIAL_BLOCK_SIZE ? in_len - pos : XERIAL_BLOCK_SIZE;
        size_t clen = b->cap - b->len - 4;
        if (snappy_compress((const char *)in + pos, n,
                            (char *)b->p + b->len + 4, &clen) != SNAPPY_OK) {
            return BK_EIO;
        }
        wr_be32(b->p + b->len, (uint32_t)clen);
        b->len += 4 + clen;
    }
    return 0;
}

/* ---- lz4 ------------------------------------------------------------- */

static int lz4_decompress(const uint8_t *in,
                          size_t in_len,
                          size_t max_out,
                          struct obuf *b)
{
    if (in_len == 0) {
        return BK_ECORRUPT;
    }
    LZ4F_dctx *dctx;
    if (LZ4F_isError(LZ4F_createDecompressionContext(&dctx, LZ4F_VERSION))) {
        return BK_ENOMEM;
    }
    int rc = 0;
    size_t pos = 0;
    size_t hint = guess_size(in_len);
    LZ4F_frameInfo_t info;
    size_t hdr = in_len;
    size_t r = LZ4F_getFrameInfo(dctx, &info, in, &hdr);
    if (LZ4F_isError(r)) {
        rc = BK_ECORRUPT;
        goto out;
    }
    pos = hdr;
    if (info.contentSize != 0) {
        if (info.contentSize > max_out) {
            rc = BK_ETOOLARGE;
            goto out;
        }
        hint = (size_t)info.contentSize + 1;
    }
    rc = obuf_resize(b, hint);
    /* r is 0 only right after a frame has ended. A header-only frame
     * (empty content) leaves r > 0 here until its end mark is read. */
    while (rc == 0) {
        if (r == 0 && pos == in_len) {
            break;
        }
        if (obuf_free_space(b) == 0 && (rc = obuf_grow(b)) != 0) {
            break;
        }
        size_t src_n = in_len - pos;
        size_t dst_n = obuf_free_space(b);
        r = LZ4F_decompress(dctx, b->p + b->len, &dst_n, in + pos, &src_n,
                            NULL);
        if (LZ4F_isError(r)) {
            rc = BK_ECORRUPT;
            break;
        }
        pos += src_n;
        b->len += dst_n;
        if (b->len >= b->hard) {
            rc = BK_ETOOLARGE;
            break;
        }
        if (src_n == 0 && dst_n == 0 && r != 0 && obuf_free_space(b) > 0) {
            rc = BK_ECORRUPT; /* truncated: the frame wants more input */
        }
    }
out:
    LZ4F_freeDecompressionContext(dctx);
    return rc;
}

static int lz4_compress(int level,
                        const uint8_t *in,
                        size_t in_len,
                        struct obuf *b)
{
    LZ4F_preferences_t prefs;
    memset(&prefs, 0, sizeof(prefs));
    prefs.frameInfo.blockSizeID = LZ4F_max64KB;
    prefs.frameInfo.blockMode = LZ4F_blockIndependent;
    /* Kafka's default level (9) keeps the fast compressor (KIP-390); other
     * levels select the high-compression one. */
    level = clamp_level(level, 9, 1, 17);
    prefs.compressionLevel = level == 9 ? 0 : level;
    size_t bound = LZ4F_compressFrameBound(in_len, &prefs);
    int rc = obuf_resize(b, bound);
    if (rc != 0) {
        return rc;
    }
    size_t n = LZ4F_compressFrame(b->p, b->cap, in, in_len, &prefs);
    if (LZ4F_isError(n)) {
        return BK_EIO;
    }
    b->len = n;
    return 0;
}

/* ---- zstd ------------------------------------------------------------ */

static int zstd_error(size_t r)
{
    switch (ZSTD_getErrorCode(r)) {
        case ZSTD_error_memory_allocation:
            return BK_ENOMEM;
        case ZSTD_error_frameParameter_windowTooLarge:
            return BK_ETOOLARGE;
        default:
            return BK_ECORRUPT;
    }
}

static int zstd_decompress(const uint8_t *in,
                           size_t in_len,
                           size_t max_out,
                           struct obuf *b)
{
    if (in_len == 0) {
        return BK_ECORRUPT;
    }
    size_t hint = guess_size(in_len);
    unsigned long long cs = ZSTD_getFrameContentSize(in, in_len);
    if (cs == ZSTD_CONTENTSIZE_ERROR) {
        return BK_ECORRUPT;
    }
    if (cs != ZSTD_CONTENTSIZE_UNKNOWN) {
        if (cs > max_out) {
            return BK_ETOOLARGE;
        }
        hint = (size_t)cs + 1;
    }
    ZSTD_DCtx *dctx = ZSTD_createDCtx();
    if (dctx == NULL) {
        return BK_ENOMEM;
    }
    int rc = obuf_resize(b, hint);
    ZSTD_inBuffer ib = { in, in_len, 0 };
    size_t r = 1;
    while (rc == 0) {
        if (r == 0 && ib.pos == ib.size) {
            break;
        }
        if (obuf_free_space(b) == 0 && (rc = obuf_grow(b)) != 0) {
            break;
        }
        ZSTD_outBuffer ob = { b->p + b->len, obuf_free_space(b), 0 };
        size_t before = ib.pos;
        r = ZSTD_decompressStream(dctx, &ob, &ib);
        if (ZSTD_isError(r)) {
            rc = zstd_error(r);
            break;
        }
        b->len += ob.pos;
        if (b->len >= b->hard) {
            rc = BK_ETOOLARGE;
            break;
        }
        if (ib.pos == before && ob.pos == 0 && r != 0 &&
            obuf_free_space(b) > 0) {
            rc = BK_ECORRUPT; /* truncated frame */
        }
    }
    ZSTD_freeDCtx(dctx);
    return rc;
}

static int zstd_compress(int level,
                         const uint8_t *in,
                         size_t in_len,
                         struct obuf *b)
{
    level = clamp_level(level, ZSTD_CLEVEL_DEFAULT, ZSTD_minCLevel(),
                        ZSTD_maxCLevel());
    int rc = obuf_resize(b, ZSTD_compressBound(in_len));
    if (rc != 0) {
        return rc;
    }
    size_t n = ZSTD_compress(b->p, b->cap, in, in_len, level);
    if (ZSTD_isError(n)) {
        return zstd_error(n) == BK_ENOMEM ? BK_ENOMEM : BK_EIO;
    }
    b->len = n;
    return 0;
}

/* ---- entry points ---------------------------------------------------- */

int bk_decompress(int codec,
                  const void *in,
                  size_t in_len,
                  size_t max_out,
                  struct bk_arena *arena,
                  void **out,
                  size_t *out_len)
{
    if (!bk_codec_valid(codec)) {
        return BK_EUNSUPPORTED;
    }
    if (max_out >= SIZE_MAX) {
        max_out = SIZE_MAX - 1;
    }
    struct obuf b;
    obuf_init(&b, max_out + 1);
    int rc;
    switch (codec) {
        case BK_CODEC_GZIP:
            rc = gzip_decompress(in, in_len, &b);
            break;
        case BK_CODEC_SNAPPY:
            rc = snappy_decompress_(in, in_len, max_out, &b);
            break;
        case BK_CODEC_LZ4:
            rc = lz4_decompress(in, in_len, max_out, &b);
            break;
        case BK_CODEC_ZSTD:
            rc = zstd_decompress(in, in_len, max_out, &b);
            break;
        default: /* BK_CODEC_NONE */
            if (in_len > max_out) {
                rc = BK_ETOOLARGE;
            } else if ((rc = obuf_resize(&b, in_len)) == 0 && in_len > 0) {
                memcpy(b.p, in, in_len);
                b.len = in_len;
            }
            break;
    }
    if (rc == 0 && b.len > max_out) {
        rc = BK_ETOOLARGE;
    }
    if (rc != 0) {
        obuf_free(&b);
        return rc;
    }
    return obuf_finish(&b, arena, out, out_len);
}

int bk_compress(int codec,
                int level,
                const void *in,
                size_t in_len,
                struct bk_arena *arena,
                void **out,
                size_t *out_len)
{
    if (!bk_codec_valid(codec)) {
        return BK_EUNSUPPORTED;
    }
    if (in_len > CODEC_MAX_INPUT) {
        return BK_ETOOLARGE;
    }
    struct obuf b;
    obuf_init(&b, SIZE_MAX);
    int rc;
    switch (codec) {
        case BK_CODEC_GZIP:
            rc = gzip_compress(level, in, in_len, &b);
            break;
        case BK_CODEC_SNAPPY:
            rc = snappy_compress_(in, in_len, &b);
            break;
        case BK_CODEC_LZ4:
            rc = lz4_compress(level, in, in_len, &b);
            break;
        case BK_CODEC_ZSTD:
            rc = zstd_compress(level, in, in_len, &b);
            break;
        default: /* BK_CODEC_NONE */
            if ((rc = obuf_resize(&b, in_len)) == 0 && in_len > 0) {
                memcpy(b.p, in, in_len);
                b.len = in_len;
            }
            break;
    }
    if (rc != 0) {
        obuf_free(&b);
        return rc;
    }
    return obuf_finish(&b, arena, out, out_len);
}
