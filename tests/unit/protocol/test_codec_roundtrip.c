/* Round-trips every generated message at every valid version.
 *
 * gen_fill.c (generated with the codec) sets every field present in a version
 * to pseudo-random values; the test encodes, checks that size() predicted the
 * bytes written, decodes, and re-encodes to the same bytes. */
/* cmocka.h needs these headers first. */
/* clang-format off */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
/* clang-format on */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/arena.h"
#include "common/err.h"
#include "protocol/gen/all.h"
#include "unit/protocol/gen_fill.h"

#define SEEDS 32

static size_t total_bytes; /* sanity: the fill functions produce content */

static uint8_t *encode_or_fail(const struct bk_fill_entry *e,
                               const void *msg,
                               int16_t v,
                               size_t *len)
{
    size_t n = e->size(msg, v);
    uint8_t *buf = malloc(n + 1);
    assert_non_null(buf);
    struct bk_wr wr;
    bk_wr_init(&wr, buf, n);
    int rc = e->encode(msg, &wr, v);
    if (rc != 0 || wr.len != n) {
        fail_msg("%s v%d: encode rc=%d wrote %zu, size() said %zu", e->name, v,
                 rc, wr.len, n);
    }
    *len = n;
    return buf;
}

static void roundtrip_one(const struct bk_fill_entry *e,
                          int16_t v,
                          uint64_t seed)
{
    struct bk_arena a;
    bk_arena_init(&a, 4096, 0);
    void *msg = bk_arena_alloc(&a, e->struct_size);
    void *back = bk_arena_alloc(&a, e->struct_size);
    assert_non_null(msg);
    assert_non_null(back);
    uint64_t rng = seed * UINT64_C(0x9e3779b97f4a7c15) + (uint64_t)v + 1;
    e->fill(msg, v, &a, &rng);

    size_t n1;
    uint8_t *b1 = encode_or_fail(e, msg, v, &n1);

    struct bk_rd rd;
    bk_rd_init(&rd, b1, n1);
    int rc = e->decode(back, &rd, v, &a);
    if (rc != 0 || rd.pos != n1) {
        fail_msg("%s v%d seed %llu: decode rc=%d read %zu of %zu", e->name, v,
                 (unsigned long long)seed, rc, rd.pos, n1);
    }

    total_bytes += n1;
    size_t n2;
    uint8_t *b2 = encode_or_fail(e, back, v, &n2);
    if (n1 != n2 || memcmp(b1, b2, n1) != 0) {
        fail_msg("%s v%d seed %llu: re-encoding differs (%zu vs %zu bytes)",
                 e->name, v, (unsigned long long)seed, n1, n2);
    }

    /* One byte short of room: the writer must refuse, not overflow. */
    if (n1 > 0) {
        struct bk_wr wr;
        bk_wr_init(&wr, b2, n1 - 1);
        assert_int_equal(e->encode(msg, &wr, v), BK_ERANGE);
    }
    free(b1);
    free(b2);
    bk_arena_destroy(&a);
}

static void test_roundtrip_all(void **state)
{
    (void)state;
    size_t versions = 0;
    for (size_t i = 0; i < bk_fill_entries_count; i++) {
        const struct bk_fill_entry *e = &bk_fill_entries[i];
        for (int16_t v = e->min_version; v <= e->max_version; v++) {
            for (uint64_t seed = 0; seed < SEEDS; seed++) {
                roundtrip_one(e, v, seed);
            }
            versions++;
        }
    }
    /* Every request and response of every API, plus headers and the
     * consumer protocol structs. */
    assert_true(bk_fill_entries_count >= 2 * 60 + 4);
    assert_true(versions > 300);
    print_message("%zu messages, %zu versions, %zu bytes encoded\n",
                  bk_fill_entries_count, versions, total_bytes);
    assert_true(total_bytes > 500000);
}

static void test_defaults(void **state)
{
    (void)state;
    struct bk_msg_metadata_request mr;
    bk_msg_metadata_request_init(&mr);
    assert_true(mr.allow_auto_topic_creation);
    assert_int_equal(mr.topics_count, 0);

    struct bk_msg_fetch_request fr;
    bk_msg_fetch_request_init(&fr);
    assert_int_equal(fr.replica_id, -1);
    assert_int_equal(fr.max_bytes, 0x7fffffff);
    assert_int_equal(fr.session_epoch, -1);
    assert_int_equal(fr.rack_id.len, 0);

    struct bk_msg_api_versions_response ar;
    bk_msg_api_versions_response_init(&ar);
    assert_int_equal(ar.finalized_features_epoch, -1);

    struct bk_msg_produce_request pr;
    bk_msg_produce_request_init(&pr);
    assert_int_equal(pr.transactional_id.len, -1);

    struct bk_msg_describe_groups_response_described_group g;
    memset(&g, 0xff, sizeof(g));
    struct bk_msg_describe_groups_response dr;
    bk_msg_describe_groups_response_init(&dr);
    assert_int_equal(dr.groups_count, 0);
}

/* Fields absent in the decoded version keep their defaults. */
static void test_absent_fields_default(void **state)
{
    (void)state;
    /* Metadata v0 request: topics array only. */
    const uint8_t body[] = { 0, 0, 0, 1, 0, 3, 'f', 'o', 'o' };
    struct bk_arena a;
    bk_arena_init(&a, 1024, 0);
    struct bk_rd rd;
    bk_rd_init(&rd, body, sizeof(body));
    struct bk_msg_metadata_request m;
    assert_int_equal(bk_msg_metadata_request_decode(&m, &rd, 0, &a), 0);
    assert_int_equal(m.topics_count, 1);
    assert_true(bk_str_eq_c(m.topics[0].name, "foo"));
    assert_true(m.allow_auto_topic_creation);
    assert_false(m.include_topic_authorized_operations);
    bk_arena_destroy(&a);
}

/* A tagged field is written only when it differs from its default, and read
 * back from the tagged section. */
static void test_tagged_fields(void **state)
{
    (void)state;
    struct bk_msg_api_versions_response m;
    bk_msg_api_versions_response_init(&m);
    uint8_t buf[64];
    struct bk_wr wr;
    bk_wr_init(&wr, buf, sizeof(buf));
    assert_int_equal(bk_msg_api_versions_response_encode(&m, &wr, 3), 0);
    /* error_code, empty compact array, throttle, empty tagged section */
    const uint8_t want[] = { 0, 0, 1, 0, 0, 0, 0, 0 };
    assert_int_equal(wr.len, sizeof(want));
    assert_memory_equal(buf, want, sizeof(want));

    m.finalized_features_epoch = 5;
    m.zk_migration_ready = true;
    bk_wr_init(&wr, buf, sizeof(buf));
    assert_int_equal(bk_msg_api_versions_response_encode(&m, &wr, 3), 0);
    /* two tags: 1 (int64, 8 bytes) and 3 (bool) */
    const uint8_t want2[] = { 0, 0, 1, 0, 0, 0, 0, 2, 1, 8, 0,
                              0, 0, 0, 0, 0, 0, 5, 3, 1, 1 };
    assert_int_equal(wr.len, sizeof(want2));
    assert_memory_equal(buf, want2, sizeof(want2));
    assert_int_equal(bk_msg_api_versions_response_size(&m, 3), sizeof(want2));

    struct bk_arena a;
    bk_arena_init(&a, 1024, 0);
    struct bk_rd rd;
    bk_rd_init(&rd, buf, wr.len);
    struct bk_msg_api_versions_response back;
    assert_int_equal(bk_msg_api_versions_response_decode(&back, &rd, 3, &a), 0);
    assert_int_equal(back.finalized_features_epoch, 5);
    assert_true(back.zk_migration_ready);
    assert_int_equal(back.supported_features_count, 0);

    /* An unknown tag (9) is skipped. */
    const uint8_t unk[] = { 0, 0, 1, 0, 0, 0, 0, 1, 9, 2, 0xaa, 0xbb };
    bk_rd_init(&rd, unk, sizeof(unk));
    assert_int_equal(bk_msg_api_versions_response_decode(&back, &rd, 3, &a), 0);
    assert_int_equal(rd.pos, sizeof(unk));
    assert_int_equal(back.finalized_features_epoch, -1);
    bk_arena_destroy(&a);
}

static void test_api_table(void **state)
{
    (void)state;
    const struct bk_api_desc *d = bk_api_desc(BK_API_API_VERSIONS);
    assert_non_null(d);
    assert_string_equal(d->name, "ApiVersions");
    assert_int_equal(d->key, 18);
    assert_int_equal(d->min_version, 0);
    assert_int_equal(d->max_version, 4);
    assert_int_equal(d->flexible_min, 3);
    assert_int_equal(d->req_struct_size,
                     sizeof(struct bk_msg_api_versions_request));
    assert_true(bk_api_is_flexible(18, 3));
    assert_false(bk_api_is_flexible(18, 2));
    assert_false(bk_api_is_flexible(18, 5));

    d = bk_api_desc(BK_API_PRODUCE);
    assert_non_null(d);
    assert_string_equal(d->name, "Produce");
    assert_int_equal(d->flexible_min, 9);

    d = bk_api_desc(BK_API_SASL_HANDSHAKE);
    assert_non_null(d);
    assert_int_equal(d->flexible_min, -1);
    assert_false(bk_api_is_flexible(17, 1));

    /* Metadata and JoinGroup decode the versions old clients still send. */
    assert_int_equal(bk_api_desc(BK_API_METADATA)->min_version, 0);
    assert_int_equal(bk_api_desc(BK_API_JOIN_GROUP)->min_version, 0);

    /* ZooKeeper-era and controller-only keys are not served. */
    assert_null(bk_api_desc(4));
    assert_null(bk_api_desc(7));
    assert_null(bk_api_desc(52)); /* Vote: controller only */
    assert_null(bk_api_desc(-1));
    assert_null(bk_api_desc(BK_API_KEY_MAX + 1));
    assert_null(bk_api_desc(INT16_MAX));

    int n = 0;
    for (int k = 0; k <= BK_API_KEY_MAX; k++) {
        d = bk_api_desc((int16_t)k);
        if (d == NULL) {
            continue;
        }
        n++;
        assert_int_equal(d->key, k);
        assert_true(d->min_version <= d->max_version);
        assert_non_null(d->req_decode);
        assert_non_null(d->resp_encode);
    }
    assert_true(n >= 60);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_roundtrip_all),
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_absent_fields_default),
        cmocka_unit_test(test_tagged_fields),
        cmocka_unit_test(test_api_table),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
