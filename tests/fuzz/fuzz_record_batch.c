/* libFuzzer target: record batches and the codecs inside them.
 *
 * Input: one mode byte, then the payload.
 *   mode & 0x80: the payload is a compressed stream; it is decompressed with
 *                codec mode & 7 under a 1 MiB limit, and what comes out is
 *                compressed again with codec (mode >> 3) & 7 and must
 *                decompress to the same bytes.
 *   otherwise:   the payload is one record batch. Its batchLength is set to
 *                the payload size (so the fuzzer need not find it), then the
 *                header checks of log/batch.h run (no CRC), then
 *                bk_batch_records_validate() and the timestamp check. When
 *                the records are valid, the iterator must read exactly that
 *                many records, and recompressing to codec (mode >> 3) % 5
 *                must give a batch that validates again with the same
 *                records, timestamps and a correct CRC.
 * Any crash, sanitizer report or abort() is a finding. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/arena.h"
#include "common/compress.h"
#include "common/err.h"
#include "common/heap.h"
#include "log/batch.h"
#include "protocol/record_batch.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_OUT     (1u << 20)
#define ARENA_LIMIT (4u << 20)

static void fuzz_codec(uint8_t mode, const uint8_t *p, size_t n)
{
    void *out;
    size_t out_len;
    int rc = bk_decompress(mode & 7, p, n, MAX_OUT, NULL, &out, &out_len);
    if (rc != 0) {
        return;
    }
    if (out_len > MAX_OUT) {
        abort();
    }
    int again = (mode >> 3) & 7;
    void *z;
    size_t zlen;
    rc = bk_compress(again, BK_COMPRESS_LEVEL_DEFAULT, out, out_len, NULL, &z,
                     &zlen);
    if (rc == 0) {
        void *back;
        size_t back_len;
        if (bk_decompress(again, z, zlen, out_len, NULL, &back, &back_len) !=
                0 ||
            back_len != out_len || memcmp(back, out, out_len) != 0) {
            abort(); /* our own output does not round-trip */
        }
        bk_free(back);
        bk_free(z);
    } else if (rc != BK_EUNSUPPORTED) {
        abort();
    }
    bk_free(out);
}

static void fuzz_batch(uint8_t mode, uint8_t *b, size_t n, struct bk_arena *a)
{
    if (n >= BK_BATCH_HEADER_SIZE) {
        bk_put_be32(b + BK_BATCH_OFF_LENGTH, (uint32_t)(n - 12));
        struct bk_batch_hdr h;
        bk_batch_hdr_decode(b, &h);
        (void)bk_batch_hdr_check(&h, (int64_t)n, BK_BATCH_CHECK_PRODUCE);
    }
    struct bk_batch_records_info info;
    int rc = bk_batch_records_validate(b, n, mode & 1 ? BK_RB_REQUIRE_KEYS : 0,
                                       MAX_OUT, a, &info);
    if (rc != 0) {
        /* The iterator must cope with whatever validate refused. */
        struct bk_record_iter it;
        struct bk_record rec;
        if (bk_record_iter_init(&it, b, n, a, MAX_OUT) == 0) {
            while (bk_record_iter_next(&it, &rec) == 1) {
                struct bk_str k;
                struct bk_bytes v;
                while (bk_record_header_next(&rec, &k, &v) == 1) {
                }
            }
        }
        return;
    }
    (void)bk_batch_check_timestamps(&info, 1700000000000, 1000, 1000);

    struct bk_record_iter it;
    struct bk_record rec;
    if (bk_record_iter_init(&it, b, n, a, MAX_OUT) != 0) {
        abort(); /* validated, yet unreadable */
    }
    int32_t count = 0;
    while ((rc = bk_record_iter_next(&it, &rec)) == 1) {
        struct bk_str k;
        struct bk_bytes v;
        int hr;
        int32_t headers = 0;
        while ((hr = bk_record_header_next(&rec, &k, &v)) == 1) {
            headers++;
        }
        if (hr != 0 || headers != rec.headers_count) {
            abort();
        }
        count++;
    }
    if (rc != 0 || count != info.records) {
        abort();
    }

    enum bk_codec to = (enum bk_codec)((mode >> 3) % 5);
    uint8_t *out;
    size_t out_len;
    rc = bk_batch_recompress(b, n, to, 1, MAX_OUT, NULL, &out, &out_len);
    if (rc != 0) {
        abort();
    }
    struct bk_batch_records_info again;
    if (bk_batch_records_validate(out, out_len, 0, MAX_OUT, NULL, &again) !=
            0 ||
        again.records != info.records ||
        again.min_timestamp != info.min_timestamp ||
        again.max_timestamp != info.max_timestamp ||
        again.records_size != info.records_size) {
        abort();
    }
    struct bk_batch_hdr h;
    bk_batch_hdr_decode(out, &h);
    if (bk_batch_hdr_check(&h, (int64_t)out_len, BK_BATCH_CHECK_STORED) == 0 &&
        bk_batch_validate(out, out_len, BK_BATCH_CHECK_STORED, NULL) != 0) {
        abort(); /* the CRC we wrote is wrong */
    }
    bk_free(out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct bk_arena arena;
    static int init;
    if (!init) {
        bk_arena_init(&arena, 16384, ARENA_LIMIT);
        init = 1;
    }
    if (size < 1) {
        return 0;
    }
    uint8_t mode = data[0];
    if (mode & 0x80) {
        fuzz_codec(mode, data + 1, size - 1);
        return 0;
    }
    /* A private copy: the batch length is patched. */
    uint8_t *b = malloc(size);
    if (b == NULL) {
        abort();
    }
    memcpy(b, data + 1, size - 1);
    fuzz_batch(mode, b, size - 1, &arena);
    free(b);
    bk_arena_reset(&arena);
    return 0;
}
