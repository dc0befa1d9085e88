/* cmocka.h needs these headers first. */
/* clang-format off */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
/* clang-format on */
#include <lz4frame.h>
#include <snappy-c.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>
#include <zstd.h>

#include "common/arena.h"
#include "common/compress.h"
#include "common/err.h"
#include "common/heap.h"

#define MIB (1u << 20)

static const int codecs[] = { BK_CODEC_NONE, BK_CODEC_GZIP, BK_CODEC_SNAPPY,
                              BK_CODEC_LZ4, BK_CODEC_ZSTD };
#define NCODECS (sizeof(codecs) / sizeof(codecs[0]))

/* xorshift, seeded per test so failures reproduce. */
static uint64_t rng_state;

static uint64_t rng(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

static uint8_t *random_bytes(size_t n)
{
    uint8_t *p = malloc(n > 0 ? n : 1);
    assert_non_null(p);
    for (size_t i = 0; i < n; i++) {
        p[i] = (uint8_t)rng();
    }
    return p;
}

/* Text-like data: words from a small vocabulary, so every codec shrinks it. */
static uint8_t *compressible_bytes(size_t n)
{
    static const char *words[] = { "offset ", "partition ", "broker ",
                                   "record ", "batch ",     "leader ",
                                   "epoch ",  "12345 " };
    uint8_t *p = malloc(n > 0 ? n : 1);
    assert_non_null(p);
    size_t i = 0;
    while (i < n) {
        const char *w = words[rng() % 8];
        for (size_t j = 0; w[j] != '\0' && i < n; j++) {
            p[i++] = (uint8_t)w[j];
        }
    }
    return p;
}

static void roundtrip(int codec, const uint8_t *data, size_t n)
{
    struct bk_arena arena;
    bk_arena_init(&arena, 4096, 0);
    void *c;
    size_t clen;
    /* Heap output. */
    assert_int_equal(
        bk_compress(codec, BK_COMPRESS_LEVEL_DEFAULT, data, n, NULL, &c, &clen),
        0);
    assert_non_null(c);
    void *d;
    size_t dlen;
    assert_int_equal(bk_decompress(codec, c, clen, n, NULL, &d, &dlen), 0);
    assert_non_null(d);
    assert_int_equal(dlen, n);
    assert_memory_equal(d, data, n > 0 ? n : 0);
    bk_free(d);
    /* Arena output, and one byte less than needed fails. */
    assert_int_equal(bk_decompress(codec, c, clen, n, &arena, &d, &dlen), 0);
    assert_int_equal(dlen, n);
    if (n > 0) {
        assert_memory_equal(d, data, n);
        assert_int_equal(
            bk_decompress(codec, c, clen, n - 1, &arena, &d, &dlen),
            BK_ETOOLARGE);
    }
    bk_free(c);
    /* Compress into the arena, at another level. */
    assert_int_equal(bk_compress(codec, 1, data, n, &arena, &c, &clen), 0);
    assert_int_equal(bk_decompress(codec, c, clen, n, NULL, &d, &dlen), 0);
    assert_int_equal(dlen, n);
    bk_free(d);
    bk_arena_destroy(&arena);
}

static void test_roundtrip_sizes(void **state)
{
    (void)state;
    rng_state = 0x9e3779b97f4a7c15ull;
    static const uint8_t one = 'x';
    uint8_t *rnd = random_bytes(MIB);
    uint8_t *txt = compressible_bytes(MIB);
    for (size_t i = 0; i < NCODECS; i++) {
        roundtrip(codecs[i], &one, 0);
        roundtrip(codecs[i], &one, 1);
        roundtrip(codecs[i], rnd, MIB);
        roundtrip(codecs[i], txt, MIB);
        roundtrip(codecs[i], txt, 100000);
        /* Compressible data actually shrinks. */
        if (codecs[i] != BK_CODEC_NONE) {
            void *c;
            size_t clen;
            assert_int_equal(bk_compress(codecs[i], BK_COMPRESS_LEVEL_DEFAULT,
                                         txt, MIB, NULL, &c, &clen),
                             0);
            assert_true(clen < MIB / 2);
            bk_free(c);
        }
    }
    free(rnd);
    free(txt);
}

static void test_levels(void **state)
{
    (void)state;
    rng_state = 7;
    uint8_t *txt = compressible_bytes(200000);
    static const int levels[] = { -200000, -5, 0, 1, 3, 9, 12, 17, 22, 1000 };
    for (size_t i = 0; i < NCODECS; i++) {
        for (size_t j = 0; j < sizeof(levels) / sizeof(levels[0]); j++) {
            void *c;
            size_t clen;
            assert_int_equal(
                bk_compress(codecs[i], levels[j], txt, 200000, NULL, &c, &clen),
                0);
            void *d;
            size_t dlen;
            assert_int_equal(
                bk_decompress(codecs[i], c, clen, 200000, NULL, &d, &dlen), 0);
            assert_int_equal(dlen, 200000);
            assert_memory_equal(d, txt, dlen);
            bk_free(c);
            bk_free(d);
        }
    }
    free(txt);
}

/* 64 MiB of zeros shrinks to a few KiB with every codec; a 1 MiB limit must
 * stop it without allocating the whole. */
static void test_bomb(void **state)
{
    (void)state;
    size_t n = 64u * MIB;
    uint8_t *zeros = calloc(1, n);
    assert_non_null(zeros);
    for (size_t i = 1; i < NCODECS; i++) {
        void *c;
        size_t clen;
        assert_int_equal(bk_compress(codecs[i], BK_COMPRESS_LEVEL_DEFAULT,
                                     zeros, n, NULL, &c, &clen),
                         0);
        assert_true(clen < n / 10);
        void *d = NULL;
        size_t dlen = 0;
        struct bk_arena arena;
        bk_arena_init(&arena, 4096, 0);
        assert_int_equal(
            bk_decompress(codecs[i], c, clen, MIB, &arena, &d, &dlen),
            BK_ETOOLARGE);
        /* Nothing reached the arena. */
        assert_int_equal(arena.used, 0);
        bk_arena_destroy(&arena);
        assert_int_equal(bk_decompress(codecs[i], c, clen, 0, NULL, &d, &dlen),
                         BK_ETOOLARGE);
        bk_free(c);
    }
    /* The plain copy is limited too. */
    void *d;
    size_t dlen;
    assert_int_equal(
        bk_decompress(BK_CODEC_NONE, zeros, 10, 9, NULL, &d, &dlen),
        BK_ETOOLARGE);
    free(zeros);
}

/* A snappy block, a zstd frame and an lz4 frame that declare a huge size
 * fail on the declaration, before any allocation. */
static void test_bomb_declared_size(void **state)
{
    (void)state;
    /* Raw snappy: varint 0xffffffff then nothing. */
    static const uint8_t snappy_lie[] = { 0xff, 0xff, 0xff, 0xff, 0x0f, 0x00 };
    void *d;
    size_t dlen;
    assert_int_equal(bk_decompress(BK_CODEC_SNAPPY, snappy_lie,
                                   sizeof(snappy_lie), MIB, NULL, &d, &dlen),
                     BK_ETOOLARGE);
    /* zstd and lz4 frames of 2 MiB with the content size recorded. */
    size_t n = 2 * MIB;
    uint8_t *zeros = calloc(1, n);
    assert_non_null(zeros);
    size_t zcap = ZSTD_compressBound(n);
    uint8_t *z = malloc(zcap);
    size_t zlen = ZSTD_compress(z, zcap, zeros, n, 3);
    assert_false(ZSTD_isError(zlen));
    assert_int_equal(
        bk_decompress(BK_CODEC_ZSTD, z, zlen, MIB, NULL, &d, &dlen),
        BK_ETOOLARGE);
    LZ4F_preferences_t prefs;
    memset(&prefs, 0, sizeof(prefs));
    prefs.frameInfo.contentSize = n;
    size_t lcap = LZ4F_compressFrameBound(n, &prefs);
    uint8_t *l = malloc(lcap);
    size_t llen = LZ4F_compressFrame(l, lcap, zeros, n, &prefs);
    assert_false(LZ4F_isError(llen));
    assert_int_equal(bk_decompress(BK_CODEC_LZ4, l, llen, MIB, NULL, &d, &dlen),
                     BK_ETOOLARGE);
    /* Under a big enough limit both decode. */
    assert_int_equal(bk_decompress(BK_CODEC_LZ4, l, llen, n, NULL, &d, &dlen),
                     0);
    assert_int_equal(dlen, n);
    bk_free(d);
    assert_int_equal(bk_decompress(BK_CODEC_ZSTD, z, zlen, n, NULL, &d, &dlen),
                     0);
    assert_int_equal(dlen, n);
    bk_free(d);
    free(l);
    free(z);
    free(zeros);
}

static void test_truncated_and_corrupt(void **state)
{
    (void)state;
    rng_state = 42;
    size_t n = 100000;
    uint8_t *txt = compressible_bytes(n);
    for (size_t i = 1; i < NCODECS; i++) {
        void *c;
        size_t clen;
        assert_int_equal(bk_compress(codecs[i], BK_COMPRESS_LEVEL_DEFAULT, txt,
                                     n, NULL, &c, &clen),
                         0);
        /* Every prefix: an error, or (xerial cut at a chunk boundary, which
         * is a valid shorter stream) fewer bytes. Never the whole. */
        for (size_t cut = 0; cut < clen; cut += cut < 64 ? 1 : 97) {
            void *d;
            size_t dlen;
            int rc = bk_decompress(codecs[i], c, cut, n, NULL, &d, &dlen);
            if (rc == 0) {
                assert_int_equal(codecs[i], BK_CODEC_SNAPPY);
                assert_true(dlen < n);
                bk_free(d);
            }
        }
        /* Random corruption: any answer but a crash (ASan watches). */
        /* clen > 0: every codec writes a header. */
        /* NOLINTNEXTLINE(clang-analyzer-optin.portability.UnixAPI) */
        uint8_t *bad = malloc(clen);
        for (int round = 0; round < 300; round++) {
            memcpy(bad, c, clen);
            int flips = 1 + (int)(rng() % 4);
            for (int f = 0; f < flips; f++) {
                bad[rng() % clen] ^= (uint8_t)(1u << (rng() % 8));
            }
            void *d;
            size_t dlen;
            if (bk_decompress(codecs[i], bad, clen, n, NULL, &d, &dlen) == 0) {
                assert_true(dlen <= n);
                bk_free(d);
            }
        }
        free(bad);
        bk_free(c);
        /* Empty input is not a stream (snappy: not a length either). */
        void *d;
        size_t dlen;
        assert_int_not_equal(
            bk_decompress(codecs[i], txt, 0, n, NULL, &d, &dlen), 0);
        /* Garbage. */
        assert_int_not_equal(
            bk_decompress(codecs[i], txt, 1000, n, NULL, &d, &dlen), 0);
    }
    free(txt);
}

/* The framing Java's SnappyOutputStream writes (kafka-python 2.0.2's
 * snappy_encode(b"x" * 100), which follows it): magic, version 1,
 * compatible 1, one chunk. */
static const uint8_t xerial_x100[] = {
    0x82, 0x53, 0x4e, 0x41, 0x50, 0x50, 0x59, 0x00, 0x00, 0x00,
    0x00, 0x01, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x09,
    0x64, 0x00, 0x78, 0xfe, 0x01, 0x00, 0x8a, 0x01, 0x00,
};

static void test_snappy_framings(void **state)
{
    (void)state;
    uint8_t x100[100];
    memset(x100, 'x', sizeof(x100));
    void *d;
    size_t dlen;
    assert_int_equal(bk_decompress(BK_CODEC_SNAPPY, xerial_x100,
                                   sizeof(xerial_x100), 1000, NULL, &d, &dlen),
                     0);
    assert_int_equal(dlen, 100);
    assert_memory_equal(d, x100, 100);
    bk_free(d);

    /* What we write is xerial too: same header, 32 KiB chunks. */
    rng_state = 3;
    size_t n = 100000;
    uint8_t *txt = compressible_bytes(n);
    void *c;
    size_t clen;
    assert_int_equal(bk_compress(BK_CODEC_SNAPPY, BK_COMPRESS_LEVEL_DEFAULT,
                                 txt, n, NULL, &c, &clen),
                     0);
    assert_memory_equal(c, xerial_x100, 16);
    /* Two streams back to back read as one (SnappyInputStream does). */
    uint8_t *two = malloc(2 * clen);
    memcpy(two, c, clen);
    memcpy(two + clen, c, clen);
    assert_int_equal(
        bk_decompress(BK_CODEC_SNAPPY, two, 2 * clen, 2 * n, NULL, &d, &dlen),
        0);
    assert_int_equal(dlen, 2 * n);
    assert_memory_equal(d, txt, n);
    assert_memory_equal((uint8_t *)d + n, txt, n);
    bk_free(d);
    free(two);
    bk_free(c);

    /* Raw snappy, as some non-Java clients send. */
    size_t rcap = snappy_max_compressed_length(n);
    char *raw = malloc(rcap);
    size_t rlen = rcap;
    assert_int_equal(snappy_compress((const char *)txt, n, raw, &rlen),
                     SNAPPY_OK);
    assert_int_equal(
        bk_decompress(BK_CODEC_SNAPPY, raw, rlen, n, NULL, &d, &dlen), 0);
    assert_int_equal(dlen, n);
    assert_memory_equal(d, txt, n);
    bk_free(d);
    free(raw);
    free(txt);
}

static void test_gzip_variants(void **state)
{
    (void)state;
    static const char msg[] = "hello gzip member";
    size_t n = sizeof(msg) - 1;
    void *c;
    size_t clen;
    assert_int_equal(bk_compress(BK_CODEC_GZIP, BK_COMPRESS_LEVEL_DEFAULT, msg,
                                 n, NULL, &c, &clen),
                     0);
    /* gzip magic and deflate method, as GZIPOutputStream writes. */
    assert_int_equal(((uint8_t *)c)[0], 0x1f);
    assert_int_equal(((uint8_t *)c)[1], 0x8b);
    assert_int_equal(((uint8_t *)c)[2], 8);
    /* Concatenated members. */
    uint8_t *two = malloc(2 * clen);
    memcpy(two, c, clen);
    memcpy(two + clen, c, clen);
    void *d;
    size_t dlen;
    assert_int_equal(
        bk_decompress(BK_CODEC_GZIP, two, 2 * clen, 1000, NULL, &d, &dlen), 0);
    assert_int_equal(dlen, 2 * n);
    assert_memory_equal(d, msg, n);
    assert_memory_equal((uint8_t *)d + n, msg, n);
    bk_free(d);
    /* Trailing garbage after a member is refused. */
    two[clen] = 0;
    assert_int_equal(
        bk_decompress(BK_CODEC_GZIP, two, clen + 4, 1000, NULL, &d, &dlen),
        BK_ECORRUPT);
    free(two);
    bk_free(c);
    /* A zlib stream is read as well. */
    uLongf zlen = compressBound((uLong)n);
    uint8_t *z = malloc(zlen);
    assert_int_equal(compress(z, &zlen, (const Bytef *)msg, (uLong)n), Z_OK);
    assert_int_equal(
        bk_decompress(BK_CODEC_GZIP, z, zlen, 1000, NULL, &d, &dlen), 0);
    assert_int_equal(dlen, n);
    assert_memory_equal(d, msg, n);
    bk_free(d);
    free(z);
}

/* zstd frames without a content size (streaming producers) and several
 * frames in a row. */
static void test_zstd_streaming(void **state)
{
    (void)state;
    rng_state = 11;
    size_t n = 300000;
    uint8_t *txt = compressible_bytes(n);
    ZSTD_CCtx *cctx = ZSTD_createCCtx();
    size_t cap = 2 * ZSTD_compressBound(n);
    uint8_t *z = malloc(cap);
    ZSTD_outBuffer ob = { z, cap, 0 };
    for (int frame = 0; frame < 2; frame++) {
        /* Input first, end later: the size is not known when the frame
         * header is written. */
        ZSTD_inBuffer ib = { txt, n, 0 };
        while (ib.pos < ib.size) {
            assert_false(ZSTD_isError(
                ZSTD_compressStream2(cctx, &ob, &ib, ZSTD_e_continue)));
        }
        size_t r;
        do {
            r = ZSTD_compressStream2(cctx, &ob, &ib, ZSTD_e_end);
            assert_false(ZSTD_isError(r));
        } while (r != 0);
        if (frame == 0) {
            assert_int_equal(ZSTD_getFrameContentSize(z, ob.pos),
                             ZSTD_CONTENTSIZE_UNKNOWN);
        }
    }
    ZSTD_freeCCtx(cctx);
    void *d;
    size_t dlen;
    assert_int_equal(
        bk_decompress(BK_CODEC_ZSTD, z, ob.pos, 2 * n, NULL, &d, &dlen), 0);
    assert_int_equal(dlen, 2 * n);
    assert_memory_equal(d, txt, n);
    assert_memory_equal((uint8_t *)d + n, txt, n);
    bk_free(d);
    assert_int_equal(
        bk_decompress(BK_CODEC_ZSTD, z, ob.pos, 2 * n - 1, NULL, &d, &dlen),
        BK_ETOOLARGE);
    free(z);
    free(txt);
}

/* Our lz4 frames are what Kafka's KafkaLZ4BlockOutputStream writes: FLG
 * version 01, independent blocks, no checksums, no content size; BD 64 KiB. */
static void test_lz4_frame_header(void **state)
{
    (void)state;
    static const char msg[] = "lz4 frame";
    void *c;
    size_t clen;
    assert_int_equal(bk_compress(BK_CODEC_LZ4, BK_COMPRESS_LEVEL_DEFAULT, msg,
                                 sizeof(msg), NULL, &c, &clen),
                     0);
    const uint8_t *p = c;
    assert_true(clen > 7);
    assert_int_equal(p[0], 0x04);
    assert_int_equal(p[1], 0x22);
    assert_int_equal(p[2], 0x4d);
    assert_int_equal(p[3], 0x18);
    assert_int_equal(p[4], 0x60); /* FLG: version 01, block independence */
    assert_int_equal(p[5], 0x40); /* BD: 64 KiB */
    bk_free(c);
}

static void test_names_and_errors(void **state)
{
    (void)state;
    enum bk_codec c;
    assert_int_equal(bk_codec_from_name("zstd", &c), 0);
    assert_int_equal(c, BK_CODEC_ZSTD);
    assert_int_equal(bk_codec_from_name("uncompressed", &c), 0);
    assert_int_equal(c, BK_CODEC_NONE);
    assert_int_equal(bk_codec_from_name("producer", &c), BK_EINVAL);
    assert_int_equal(bk_codec_from_name(NULL, &c), BK_EINVAL);
    assert_string_equal(bk_codec_name(BK_CODEC_SNAPPY), "snappy");
    assert_string_equal(bk_codec_name(7), "unknown");
    void *d;
    size_t dlen;
    assert_int_equal(bk_decompress(5, "x", 1, 10, NULL, &d, &dlen),
                     BK_EUNSUPPORTED);
    assert_int_equal(bk_compress(-1, 0, "x", 1, NULL, &d, &dlen),
                     BK_EUNSUPPORTED);
}

/* Every allocation failure surfaces as BK_ENOMEM (ASan reports leaks). */
static void test_oom(void **state)
{
    (void)state;
    rng_state = 5;
    size_t n = 50000;
    uint8_t *txt = compressible_bytes(n);
    for (size_t i = 0; i < NCODECS; i++) {
        void *c;
        size_t clen;
        assert_int_equal(bk_compress(codecs[i], BK_COMPRESS_LEVEL_DEFAULT, txt,
                                     n, NULL, &c, &clen),
                         0);
        for (int k = 0; k < 8; k++) {
            void *d;
            size_t dlen;
            bk_heap_fault_config(k, 1);
            int rc = bk_decompress(codecs[i], c, clen, n, NULL, &d, &dlen);
            bk_heap_fault_config(-1, 0);
            if (rc == 0) {
                assert_int_equal(dlen, n);
                bk_free(d);
            } else {
                assert_int_equal(rc, BK_ENOMEM);
            }
            bk_heap_fault_config(k, 1);
            rc = bk_compress(codecs[i], 1, txt, n, NULL, &d, &dlen);
            bk_heap_fault_config(-1, 0);
            if (rc == 0) {
                bk_free(d);
            } else {
                assert_int_equal(rc, BK_ENOMEM);
            }
        }
        bk_free(c);
    }
    free(txt);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_roundtrip_sizes),
        cmocka_unit_test(test_levels),
        cmocka_unit_test(test_bomb),
        cmocka_unit_test(test_bomb_declared_size),
        cmocka_unit_test(test_truncated_and_corrupt),
        cmocka_unit_test(test_snappy_framings),
        cmocka_unit_test(test_gzip_variants),
        cmocka_unit_test(test_zstd_streaming),
        cmocka_unit_test(test_lz4_frame_header),
        cmocka_unit_test(test_names_and_errors),
        cmocka_unit_test(test_oom),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
