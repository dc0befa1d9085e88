/* libFuzzer target: response bodies, as brokerctl and the replica fetcher
 * decode them. The first four bytes pick the API key and version (INT16
 * each); the rest is the body. The same checks as fuzz_request.c. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/arena.h"
#include "common/err.h"
#include "protocol/gen/api.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define ARENA_LIMIT (4u << 20)

static uint8_t *encode(const struct bk_api_desc *d,
                       const void *msg,
                       int16_t v,
                       size_t *len)
{
    size_t n = d->resp_size(msg, v);
    uint8_t *buf = malloc(n > 0 ? n : 1);
    if (buf == NULL) {
        abort();
    }
    struct bk_wr wr;
    bk_wr_init(&wr, buf, n);
    if (d->resp_encode(msg, &wr, v) != 0 || wr.len != n) {
        abort();
    }
    *len = n;
    return buf;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct bk_arena arena;
    static int init;
    if (!init) {
        bk_arena_init(&arena, 16384, ARENA_LIMIT);
        init = 1;
    }
    struct bk_rd rd;
    bk_rd_init(&rd, data, size);
    int16_t key = bk_rd_i16(&rd);
    int16_t v = bk_rd_i16(&rd);
    const struct bk_api_desc *d = bk_api_desc(key);
    if (rd.err != 0 || d == NULL) {
        return 0;
    }
    void *msg = bk_arena_alloc(&arena, d->resp_struct_size);
    void *back = bk_arena_alloc(&arena, d->resp_struct_size);
    if (msg == NULL || back == NULL) {
        abort();
    }
    if (d->resp_decode(msg, &rd, v, &arena) == 0) {
        size_t n1;
        uint8_t *b1 = encode(d, msg, v, &n1);
        struct bk_rd rd2;
        bk_rd_init(&rd2, b1, n1);
        int rc = d->resp_decode(back, &rd2, v, &arena);
        if (rc == 0) {
            size_t n2;
            uint8_t *b2 = encode(d, back, v, &n2);
            if (n1 != n2 || memcmp(b1, b2, n1) != 0 || rd2.pos != n1) {
                abort();
            }
            free(b2);
        } else if (rc != BK_ENOMEM) {
            abort();
        }
        free(b1);
    }
    bk_arena_reset(&arena);
    return 0;
}
