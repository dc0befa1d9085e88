/* Writes seed inputs for the fuzz corpora: for every API and version, one
 * request frame body (header + body) under OUT/fuzz_request/ and one
 * response input (key, version, body) under OUT/fuzz_response/, filled by the
 * generated test fill functions. Usage: fuzz_seed_gen OUT_DIR */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/arena.h"
#include "protocol/gen/all.h"
#include "protocol/header.h"
#include "unit/protocol/gen_fill.h"

static void write_file(const char *path, const uint8_t *p, size_t n)
{
    FILE *f = fopen(path, "wb");
    if (f == NULL || fwrite(p, 1, n, f) != n || fclose(f) != 0) {
        perror(path);
        exit(1);
    }
}

static void emit(const char *out, const struct bk_fill_entry *e, int16_t v)
{
    bool is_req = strstr(e->name, "Request") != NULL;
    struct bk_arena a;
    bk_arena_init(&a, 4096, 0);
    void *msg = bk_arena_alloc(&a, e->struct_size);
    uint64_t rng = (uint64_t)e->api_key * 131 + (uint64_t)v + 7;
    e->fill(msg, v, &a, &rng);
    size_t body = e->size(msg, v);
    size_t cap = body + 64;
    uint8_t *buf = malloc(cap);
    struct bk_wr wr;
    bk_wr_init(&wr, buf, cap);
    if (is_req) {
        bk_wr_i16(&wr, e->api_key);
        bk_wr_i16(&wr, v);
        bk_wr_i32(&wr, 1);
        bk_wr_str(&wr, bk_str_c("seed"), false);
        if (bk_api_is_flexible(e->api_key, v)) {
            bk_wr_uvarint(&wr, 0);
        }
    } else {
        bk_wr_i16(&wr, e->api_key);
        bk_wr_i16(&wr, v);
    }
    if (e->encode(msg, &wr, v) != 0) {
        fprintf(stderr, "%s v%d: encode failed\n", e->name, v);
        exit(1);
    }
    char path[512];
    snprintf(path, sizeof(path), "%s/%s/%s-v%d", out,
             is_req ? "fuzz_request" : "fuzz_response", e->name, v);
    write_file(path, buf, wr.len);
    free(buf);
    bk_arena_destroy(&a);
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: %s OUT_DIR\n", argv[0]);
        return 2;
    }
    for (size_t i = 0; i < bk_fill_entries_count; i++) {
        const struct bk_fill_entry *e = &bk_fill_entries[i];
        if (e->api_key < 0) {
            continue;
        }
        for (int16_t v = e->min_version; v <= e->max_version; v++) {
            emit(argv[1], e, v);
        }
    }
    return 0;
}
