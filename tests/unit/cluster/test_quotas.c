/* Client quotas in the metadata image (src/cluster/quotas.c): the client
 * quota record round-trips, applies into the image (set, replace, remove,
 * copy on write between images, snapshot and restore), entities and values
 * are checked as Kafka's controller checks them, and a (user, client id)
 * pair resolves through Kafka's eight levels in order. */
/* clang-format off */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
/* clang-format on */
#include <string.h>

#include "cluster/image.h"
#include "cluster/quotas.h"
#include "common/err.h"
#include "common/heap.h"

/* A client quota record for "user=U,client-id=C" style specs: each part is
 * "type=name" or "type" for the default. */
static struct bk_md_rec quota_rec(const char *user,
                                  const char *client,
                                  const char *key,
                                  double value,
                                  bool remove)
{
    struct bk_md_rec r;
    memset(&r, 0, sizeof(r));
    r.type = BK_MD_REC_CLIENT_QUOTA;
    struct bk_md_client_quota_rec *q = &r.u.client_quota;
    /* "*" is the default, NULL leaves the part out. */
    if (user != NULL) {
        q->entity[q->n_entity].type = bk_str_c("user");
        q->entity[q->n_entity].name =
            strcmp(user, "*") == 0 ? BK_STR_NULL : bk_str_c(user);
        q->n_entity++;
    }
    if (client != NULL) {
        q->entity[q->n_entity].type = bk_str_c("client-id");
        q->entity[q->n_entity].name =
            strcmp(client, "*") == 0 ? BK_STR_NULL : bk_str_c(client);
        q->n_entity++;
    }
    q->key = bk_str_c(key);
    q->value = value;
    q->remove = remove;
    return r;
}

static struct bk_md_image *apply(struct bk_md_image *base,
                                 const struct bk_md_rec *recs,
                                 size_t n)
{
    struct bk_md_image *img = NULL;
    assert_int_equal(bk_md_image_apply(base, recs, n, NULL, &img), 0);
    return img;
}

static void test_record_round_trip(void **state)
{
    (void)state;
    struct bk_md_rec in[2] = {
        quota_rec("alice", "*", "producer_byte_rate", 1048576, false),
        quota_rec(NULL, "app", "request_percentage", 12.5, true),
    };
    void *buf;
    size_t len;
    assert_int_equal(bk_md_batch_encode(in, 2, bk_malloc, &buf, &len), 0);
    struct bk_arena arena;
    bk_arena_init(&arena, 1024, 0);
    struct bk_md_rec *out;
    size_t n;
    assert_int_equal(bk_md_batch_decode(buf, len, &arena, &out, &n), 0);
    assert_int_equal(n, 2);
    const struct bk_md_client_quota_rec *q = &out[0].u.client_quota;
    assert_int_equal(out[0].type, BK_MD_REC_CLIENT_QUOTA);
    assert_int_equal(q->n_entity, 2);
    assert_int_equal(q->entity[0].name.len, 5);
    assert_memory_equal(q->entity[0].name.ptr, "alice", 5);
    assert_true(q->entity[1].name.len < 0);
    assert_true(q->value == 1048576.0);
    assert_false(q->remove);
    q = &out[1].u.client_quota;
    assert_int_equal(q->n_entity, 1);
    assert_true(q->value == 12.5);
    assert_true(q->remove);
    assert_string_equal(bk_md_rec_type_name(BK_MD_REC_CLIENT_QUOTA),
                        "client_quota");
    /* A record with no entity part is malformed. */
    struct bk_md_rec bad =
        quota_rec(NULL, NULL, "producer_byte_rate", 1, false);
    void *bbuf;
    size_t blen;
    assert_int_equal(bk_md_batch_encode(&bad, 1, bk_malloc, &bbuf, &blen), 0);
    assert_int_equal(bk_md_batch_decode(bbuf, blen, &arena, &out, &n),
                     BK_EPROTO);
    bk_free(bbuf);
    bk_free(buf);
    bk_arena_destroy(&arena);
}

static void test_apply_set_remove_and_share(void **state)
{
    (void)state;
    struct bk_md_image *empty = bk_md_image_new();
    struct bk_md_rec recs[] = {
        quota_rec("alice", NULL, "producer_byte_rate", 100, false),
        quota_rec("alice", NULL, "consumer_byte_rate", 200, false),
        quota_rec("alice", NULL, "producer_byte_rate", 300, false),
        quota_rec(NULL, "*", "request_percentage", 50, false),
        /* Skipped: an unknown key. */
        quota_rec("bob", NULL, "bytes_per_fortnight", 1, false),
    };
    uint8_t skipped[5];
    struct bk_md_image *a = NULL;
    assert_int_equal(bk_md_image_apply(empty, recs, 5, skipped, &a), 0);
    assert_int_equal(skipped[4], 1);
    assert_int_equal(a->n_skipped, 1);
    assert_non_null(a->quotas);
    assert_int_equal(a->quotas->n, 2);
    struct bk_md_qentity alice = { .set = 1, .name = { "alice" } };
    const struct bk_md_qentry *e = bk_md_quotas_find(a->quotas, &alice);
    assert_non_null(e);
    assert_true(e->v[BK_MD_QK_PRODUCER_BYTE_RATE] == 300);
    assert_true(e->v[BK_MD_QK_CONSUMER_BYTE_RATE] == 200);

    /* An apply without quota records shares the table. */
    struct bk_md_rec other = { .type = BK_MD_REC_PRODUCER_IDS };
    other.u.producer_ids.count = 1;
    struct bk_md_image *b = apply(a, &other, 1);
    assert_ptr_equal(b->quotas, a->quotas);

    /* Removing every key of an entity removes it; a copies on write. */
    struct bk_md_rec rm[] = {
        quota_rec("alice", NULL, "producer_byte_rate", 0, true),
        quota_rec("alice", NULL, "consumer_byte_rate", 0, true),
        quota_rec("carol", NULL, "consumer_byte_rate", 0, true),
    };
    struct bk_md_image *c = apply(b, rm, 3);
    assert_ptr_not_equal(c->quotas, b->quotas);
    assert_int_equal(c->quotas->n, 1);
    assert_null(bk_md_quotas_find(c->quotas, &alice));
    assert_non_null(bk_md_quotas_find(b->quotas, &alice));

    /* Snapshot and restore keep the table. */
    void *snap;
    size_t len;
    assert_int_equal(bk_md_image_snapshot(a, bk_malloc, &snap, &len), 0);
    struct bk_md_image *r = NULL;
    assert_int_equal(bk_md_image_restore(snap, len, &r), 0);
    assert_int_equal(r->quotas->n, 2);
    e = bk_md_quotas_find(r->quotas, &alice);
    assert_non_null(e);
    assert_true(e->v[BK_MD_QK_PRODUCER_BYTE_RATE] == 300);
    bk_free(snap);
    bk_md_image_release(r);
    bk_md_image_release(c);
    bk_md_image_release(b);
    bk_md_image_release(a);
    bk_md_image_release(empty);
}

static int parse(const char *t0,
                 const char *n0,
                 const char *t1,
                 const char *n1,
                 struct bk_md_qentity *e,
                 struct bk_arena *arena)
{
    struct bk_str types[2], names[2];
    size_t n = 0;
    if (t0 != NULL) {
        types[n] = bk_str_c(t0);
        names[n++] = n0 != NULL ? bk_str_c(n0) : BK_STR_NULL;
    }
    if (t1 != NULL) {
        types[n] = bk_str_c(t1);
        names[n++] = n1 != NULL ? bk_str_c(n1) : BK_STR_NULL;
    }
    char msg[BK_MD_QMSG];
    return bk_md_qentity_parse(types, names, n, arena, e, msg);
}

static void test_entity_and_value_checks(void **state)
{
    (void)state;
    struct bk_arena arena;
    bk_arena_init(&arena, 1024, 0);
    struct bk_md_qentity e;
    char msg[BK_MD_QMSG];
    assert_int_equal(parse("user", "u", "client-id", NULL, &e, &arena), 0);
    assert_int_equal(e.set, 3);
    assert_int_equal(e.dflt, 2);
    assert_int_equal(parse(NULL, NULL, NULL, NULL, &e, &arena), -1);
    assert_int_equal(parse("group", "g", NULL, NULL, &e, &arena), -1);
    assert_int_equal(parse("user", "a", "user", "b", &e, &arena), -1);
    assert_int_equal(parse("ip", "1.2.3.4", "user", "b", &e, &arena), -1);
    assert_int_equal(parse("ip", "example", NULL, NULL, &e, &arena), -1);
    assert_int_equal(parse("ip", "::1", NULL, NULL, &e, &arena), 0);
    assert_int_equal(
        bk_md_qvalue_check(&e, BK_MD_QK_CONNECTION_CREATION_RATE, 3, msg), 0);
    assert_int_equal(
        bk_md_qvalue_check(&e, BK_MD_QK_PRODUCER_BYTE_RATE, 3, msg), -1);
    {
        struct bk_str t = bk_str_c("user");
        struct bk_str nul = { "a\0b", 3 };
        assert_int_equal(bk_md_qentity_parse(&t, &nul, 1, &arena, &e, msg), -1);
    }
    assert_int_equal(parse("user", "u", NULL, NULL, &e, &arena), 0);
    assert_int_equal(
        bk_md_qvalue_check(&e, BK_MD_QK_PRODUCER_BYTE_RATE, 1024, msg), 0);
    assert_int_equal(
        bk_md_qvalue_check(&e, BK_MD_QK_PRODUCER_BYTE_RATE, -1, msg), -1);
    assert_int_equal(
        bk_md_qvalue_check(&e, BK_MD_QK_PRODUCER_BYTE_RATE, 1.5, msg), -1);
    assert_non_null(strstr(msg, "must be a Long value"));
    assert_int_equal(
        bk_md_qvalue_check(&e, BK_MD_QK_REQUEST_PERCENTAGE, 1.5, msg), 0);
    assert_int_equal(
        bk_md_qvalue_check(&e, BK_MD_QK_CONNECTION_CREATION_RATE, 1, msg), -1);
    assert_int_equal(bk_md_qkey_parse(bk_str_c("consumer_byte_rate")),
                     BK_MD_QK_CONSUMER_BYTE_RATE);
    assert_int_equal(bk_md_qkey_parse(bk_str_c("consumer_byte_rat")), -1);
    bk_arena_destroy(&arena);
}

/* Kafka's order, most specific first: with every level configured, the
 * level given by the test wins; removing it falls to the next one. */
static void test_precedence(void **state)
{
    (void)state;
    static const struct {
        const char *user, *client;
    } levels[8] = {
        { "u", "c" }, { "u", "*" },  { "u", NULL }, { "*", "c" },
        { "*", "*" }, { "*", NULL }, { NULL, "c" }, { NULL, "*" },
    };
    struct bk_md_rec recs[8];
    for (int i = 0; i < 8; i++) {
        recs[i] = quota_rec(levels[i].user, levels[i].client,
                            "producer_byte_rate", 1000 + i, false);
    }
    struct bk_md_image *base = bk_md_image_new();
    struct bk_md_image *img = apply(base, recs, 8);
    bk_md_image_release(base);
    for (int i = 0; i < 8; i++) {
        double v[BK_MD_QK_N];
        uint8_t level[BK_MD_QK_N];
        uint8_t found = bk_md_quota_resolve(img->quotas, "u", "c", v, level);
        assert_int_equal(found, 1u << BK_MD_QK_PRODUCER_BYTE_RATE);
        assert_true(v[BK_MD_QK_PRODUCER_BYTE_RATE] == 1000 + i);
        assert_int_equal(level[BK_MD_QK_PRODUCER_BYTE_RATE], i + 1);
        /* Another user and client id match only the default levels. */
        found = bk_md_quota_resolve(img->quotas, "x", "y", v, level);
        assert_int_equal(found, 1u << BK_MD_QK_PRODUCER_BYTE_RATE);
        int want = i <= 4 ? 4 : (i == 5 ? 5 : 7);
        assert_true(v[BK_MD_QK_PRODUCER_BYTE_RATE] == 1000 + want);
        struct bk_md_rec rm = quota_rec(levels[i].user, levels[i].client,
                                        "producer_byte_rate", 0, true);
        struct bk_md_image *next = apply(img, &rm, 1);
        bk_md_image_release(img);
        img = next;
    }
    double v[BK_MD_QK_N];
    assert_int_equal(bk_md_quota_resolve(img->quotas, "u", "c", v, NULL), 0);
    assert_int_equal(bk_md_quota_resolve(NULL, "u", "c", v, NULL), 0);
    bk_md_image_release(img);
}

/* Keys resolve independently: a specific level with one key does not
 * hide another key set at a default level. */
static void test_keys_resolve_independently(void **state)
{
    (void)state;
    struct bk_md_rec recs[] = {
        quota_rec("u", NULL, "producer_byte_rate", 10, false),
        quota_rec(NULL, "*", "consumer_byte_rate", 20, false),
        quota_rec("*", NULL, "request_percentage", 30, false),
    };
    struct bk_md_image *base = bk_md_image_new();
    struct bk_md_image *img = apply(base, recs, 3);
    double v[BK_MD_QK_N];
    uint8_t level[BK_MD_QK_N];
    uint8_t found = bk_md_quota_resolve(img->quotas, "u", "c", v, level);
    assert_int_equal(found, 7);
    assert_true(v[BK_MD_QK_PRODUCER_BYTE_RATE] == 10);
    assert_int_equal(level[BK_MD_QK_PRODUCER_BYTE_RATE], 3);
    assert_true(v[BK_MD_QK_CONSUMER_BYTE_RATE] == 20);
    assert_int_equal(level[BK_MD_QK_CONSUMER_BYTE_RATE], 8);
    assert_true(v[BK_MD_QK_REQUEST_PERCENTAGE] == 30);
    assert_int_equal(level[BK_MD_QK_REQUEST_PERCENTAGE], 6);
    bk_md_image_release(img);
    bk_md_image_release(base);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_record_round_trip),
        cmocka_unit_test(test_apply_set_remove_and_share),
        cmocka_unit_test(test_entity_and_value_checks),
        cmocka_unit_test(test_precedence),
        cmocka_unit_test(test_keys_resolve_independently),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
