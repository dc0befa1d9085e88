/* SCRAM credentials in the metadata image: records round-trip through a
 * batch, apply upserts, replaces and removes them, skips invalid ones,
 * and a snapshot rebuilds the same set. */
/* cmocka.h needs these headers first. */
/* clang-format off */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
/* clang-format on */
#include <string.h>

#include "cluster/image.h"
#include "cluster/records.h"
#include "cluster/scram.h"
#include "common/arena.h"
#include "common/err.h"
#include "common/heap.h"

static uint8_t salt[16], k32[32], k64[64];

static struct bk_md_rec scram(const char *name, int8_t mech, int32_t iters)
{
    size_t kl = mech == 2 ? 64 : 32;
    const uint8_t *k = mech == 2 ? k64 : k32;
    struct bk_md_rec r = { .type = BK_MD_REC_SCRAM };
    r.u.scram = (struct bk_md_scram_rec){
        .name = bk_str_c(name),
        .mechanism = mech,
        .salt = { salt, sizeof(salt) },
        .stored_key = { k, (int32_t)kl },
        .server_key = { k, (int32_t)kl },
        .iterations = iters,
    };
    return r;
}

static struct bk_md_rec removal(const char *name, int8_t mech)
{
    struct bk_md_rec r = { .type = BK_MD_REC_REMOVE_SCRAM };
    r.u.remove_scram.name = bk_str_c(name);
    r.u.remove_scram.mechanism = mech;
    return r;
}

/* Encodes recs as a batch and decodes it back (arena), as the log does. */
static struct bk_md_rec *roundtrip(const struct bk_md_rec *recs,
                                   size_t n,
                                   struct bk_arena *arena,
                                   void **buf)
{
    size_t len;
    assert_int_equal(bk_md_batch_encode(recs, n, bk_malloc, buf, &len), 0);
    struct bk_md_rec *out;
    size_t got;
    assert_int_equal(bk_md_batch_decode(*buf, len, arena, &out, &got), 0);
    assert_int_equal(got, n);
    return out;
}

static void test_apply_and_snapshot(void **state)
{
    (void)state;
    memset(salt, 7, sizeof(salt));
    memset(k32, 3, sizeof(k32));
    memset(k64, 4, sizeof(k64));
    struct bk_md_rec recs[] = {
        scram("bob", 2, 8192),   scram("alice", 1, 4096),
        scram("alice", 2, 4096), scram("alice", 1, 5000), /* replaces */
        removal("bob", 2),       removal("carol", 1),     /* skipped */
        scram("", 1, 4096),      scram("dave", 3, 4096),  /* skipped */
        scram("erin", 1, 4096),
    };
    recs[8].u.scram.stored_key.len = 31; /* wrong key length: skipped */
    size_t n = sizeof(recs) / sizeof(recs[0]);
    struct bk_arena arena;
    bk_arena_init(&arena, 4096, 0);
    void *buf;
    struct bk_md_rec *dec = roundtrip(recs, n, &arena, &buf);
    assert_int_equal(dec[0].u.scram.iterations, 8192);
    assert_memory_equal(dec[0].u.scram.salt.ptr, salt, sizeof(salt));

    struct bk_md_image *empty = bk_md_image_new(), *img;
    uint8_t skipped[16];
    assert_int_equal(bk_md_image_apply(empty, dec, n, skipped, &img), 0);
    const uint8_t want[] = { 0, 0, 0, 0, 0, 1, 1, 1, 1 };
    assert_memory_equal(skipped, want, n);
    const struct bk_md_scram *all = bk_md_image_scram_all(img);
    assert_int_equal(all->n, 2);
    const struct bk_md_scram_cred *c = bk_md_image_scram(img, "alice", 5, 1);
    assert_non_null(c);
    assert_int_equal(c->iterations, 5000);
    assert_int_equal(c->key_len, 32);
    assert_null(bk_md_image_scram(img, "bob", 3, 2));
    assert_null(bk_md_image_scram(img, "alic", 4, 1));
    /* The base is untouched (copy on apply). */
    assert_int_equal(bk_md_image_scram_all(empty)->n, 0);

    /* A snapshot restores the same credentials. */
    void *snap;
    size_t snap_len;
    assert_int_equal(bk_md_image_snapshot(img, bk_malloc, &snap, &snap_len), 0);
    struct bk_md_image *back;
    assert_int_equal(bk_md_image_restore(snap, snap_len, &back), 0);
    assert_int_equal(bk_md_image_scram_all(back)->n, 2);
    c = bk_md_image_scram(back, "alice", 5, 2);
    assert_non_null(c);
    assert_memory_equal(c->server_key, k64, 64);
    bk_free(snap);
    bk_md_image_release(back);
    bk_md_image_release(img);
    bk_md_image_release(empty);
    bk_free(buf);
    bk_arena_destroy(&arena);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_apply_and_snapshot),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
