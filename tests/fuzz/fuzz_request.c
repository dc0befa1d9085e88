/* libFuzzer target: a request frame body (the bytes after the INT32 size).
 *
 * Parses the request header, decodes the body with the api table row for its
 * key and version into a size-limited arena, and on success re-encodes it:
 * size() must match the bytes written, and decoding the re-encoded bytes and
 * encoding again must give the same bytes. Any crash, sanitizer report or
 * abort() is a finding. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/arena.h"
#include "common/err.h"
#include "protocol/gen/api.h"
#include "protocol/header.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Requests are limited by the broker's max request size; the arena limit
 * stands in for the per-request memory limit. */
#define ARENA_LIMIT (4u << 20)

static uint8_t *encode(const struct bk_api_desc *d,
                       const void *msg,
                       int16_t v,
                       size_t *len)
{
    size_t n = d->req_size(msg, v);
    uint8_t *buf = malloc(n > 0 ? n : 1);
    if (buf == NULL) {
        abort();
    }
    struct bk_wr wr;
    bk_wr_init(&wr, buf, n);
    if (d->req_encode(msg, &wr, v) != 0 || wr.len != n) {
        abort(); /* size() and encode() disagree */
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
    struct bk_req_header h;
    if (bk_req_header_parse(&rd, &h) != 0) {
        return 0;
    }
    const struct bk_api_desc *d = bk_api_desc(h.api_key);
    if (d == NULL) {
        return 0;
    }
    void *msg = bk_arena_alloc(&arena, d->req_struct_size);
    void *back = bk_arena_alloc(&arena, d->req_struct_size);
    if (msg == NULL || back == NULL) {
        abort();
    }
    if (d->req_decode(msg, &rd, h.api_version, &arena) == 0) {
        size_t n1;
        uint8_t *b1 = encode(d, msg, h.api_version, &n1);
        struct bk_rd rd2;
        bk_rd_init(&rd2, b1, n1);
        int rc = d->req_decode(back, &rd2, h.api_version, &arena);
        if (rc == 0) {
            size_t n2;
            uint8_t *b2 = encode(d, back, h.api_version, &n2);
            if (n1 != n2 || memcmp(b1, b2, n1) != 0 || rd2.pos != n1) {
                abort(); /* encode(decode(encode(x))) != encode(x) */
            }
            free(b2);
        } else if (rc != BK_ENOMEM) {
            abort(); /* our own encoding did not decode */
        }
        free(b1);
    }
    bk_arena_reset(&arena);
    return 0;
}
