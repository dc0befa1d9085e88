/* Malformed input: every decoder must answer BK_EPROTO (or BK_ENOMEM when
 * the arena's limit is hit), never crash or read out of bounds. Run under
 * ASan (BK_SANITIZE=ON). */
/* cmocka.h needs these headers first. */
/* clang-format off */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
/* clang-format on */
#include <stdlib.h>
#include <string.h>

#include "common/arena.h"
#include "common/err.h"
#include "protocol/gen/all.h"
#include "unit/protocol/gen_fill.h"

static const struct bk_fill_entry *entry(const char *name)
{
    for (size_t i = 0; i < bk_fill_entries_count; i++) {
        if (strcmp(bk_fill_entries[i].name, name) == 0) {
            return &bk_fill_entries[i];
        }
    }
    fail_msg("no entry %s", name);
    return NULL;
}

static int decode_buf(const struct bk_fill_entry *e,
                      const uint8_t *buf,
                      size_t len,
                      int16_t v,
                      size_t arena_limit)
{
    struct bk_arena a;
    bk_arena_init(&a, 1024, arena_limit);
    void *msg = malloc(e->struct_size);
    assert_non_null(msg);
    /* A heap copy of exactly len bytes, so that ASan sees any overread. */
    uint8_t *copy = malloc(len > 0 ? len : 1);
    assert_non_null(copy);
    if (len > 0) {
        memcpy(copy, buf, len);
    }
    struct bk_rd rd;
    bk_rd_init(&rd, copy, len);
    int rc = e->decode(msg, &rd, v, &a);
    free(copy);
    free(msg);
    bk_arena_destroy(&a);
    return rc;
}

/* Encodes a filled message, then decodes every strict prefix of it. */
static void truncate_all(const char *name, int16_t v, uint64_t seed)
{
    const struct bk_fill_entry *e = entry(name);
    struct bk_arena a;
    bk_arena_init(&a, 4096, 0);
    void *msg = bk_arena_alloc(&a, e->struct_size);
    uint64_t rng = seed;
    e->fill(msg, v, &a, &rng);
    size_t n = e->size(msg, v);
    uint8_t *buf = malloc(n);
    assert_non_null(buf);
    struct bk_wr wr;
    bk_wr_init(&wr, buf, n);
    assert_int_equal(e->encode(msg, &wr, v), 0);
    assert_int_equal(decode_buf(e, buf, n, v, 0), 0);
    for (size_t len = 0; len < n; len++) {
        int rc = decode_buf(e, buf, len, v, 0);
        if (rc != BK_EPROTO) {
            fail_msg("%s v%d: prefix %zu of %zu gave %d", name, v, len, n, rc);
        }
    }
    free(buf);
    bk_arena_destroy(&a);
}

static void test_truncated(void **state)
{
    (void)state;
    for (uint64_t seed = 1; seed <= 4; seed++) {
        truncate_all("MetadataRequest", 0, seed);
        truncate_all("MetadataRequest", 12, seed);
        truncate_all("MetadataResponse", 1, seed);
        truncate_all("MetadataResponse", 13, seed);
        truncate_all("ProduceRequest", 3, seed);
        truncate_all("ProduceRequest", 12, seed);
        truncate_all("FetchRequest", 4, seed);
        truncate_all("FetchRequest", 17, seed);
        truncate_all("FetchResponse", 17, seed);
        truncate_all("ApiVersionsResponse", 3, seed);
        truncate_all("JoinGroupRequest", 9, seed);
        truncate_all("DescribeTopicPartitionsRequest", 0, seed);
        truncate_all("ConsumerGroupHeartbeatResponse", 1, seed);
        truncate_all("RequestHeader", 2, seed);
        truncate_all("ConsumerProtocolSubscription", 3, seed);
    }
}

static void test_huge_array_count(void **state)
{
    (void)state;
    const struct bk_fill_entry *e = entry("MetadataRequest");
    /* Metadata v1: INT32 topic count 0x7fffffff, then a few bytes. */
    const uint8_t big[] = { 0x7f, 0xff, 0xff, 0xff, 0, 1, 'a', 0 };
    assert_int_equal(decode_buf(e, big, sizeof(big), 1, 0), BK_EPROTO);
    /* Metadata v9 (compact): count+1 = 2^32-1 as an UNSIGNED_VARINT. */
    const uint8_t cbig[] = { 0xff, 0xff, 0xff, 0xff, 0x0f, 0, 0 };
    assert_int_equal(decode_buf(e, cbig, sizeof(cbig), 9, 0), BK_EPROTO);
    /* A varint longer than 5 bytes. */
    const uint8_t vlong[] = { 0x80, 0x80, 0x80, 0x80, 0x80, 0x01, 0, 0 };
    assert_int_equal(decode_buf(e, vlong, sizeof(vlong), 9, 0), BK_EPROTO);
    /* Negative counts other than -1, and null where not nullable (v0). */
    const uint8_t neg[] = { 0xff, 0xff, 0xff, 0xfe };
    assert_int_equal(decode_buf(e, neg, sizeof(neg), 1, 0), BK_EPROTO);
    const uint8_t null_arr[] = { 0xff, 0xff, 0xff, 0xff };
    assert_int_equal(decode_buf(e, null_arr, sizeof(null_arr), 0, 0),
                     BK_EPROTO);
    assert_int_equal(decode_buf(e, null_arr, sizeof(null_arr), 1, 0), 0);
    /* A count that fits the bytes but not the arena: BK_ENOMEM. */
    uint8_t many[4 + 2 * 1000];
    memset(many, 0, sizeof(many));
    many[2] = 0x03;
    many[3] = 0xe8; /* 1000 topics with empty names */
    assert_int_equal(decode_buf(e, many, sizeof(many), 1, 0), 0);
    assert_int_equal(decode_buf(e, many, sizeof(many), 1, 512), BK_ENOMEM);
}

static void test_bad_lengths(void **state)
{
    (void)state;
    const struct bk_fill_entry *e = entry("MetadataRequest");
    /* One topic whose name has length -5. */
    const uint8_t neg_str[] = { 0, 0, 0, 1, 0xff, 0xfb };
    assert_int_equal(decode_buf(e, neg_str, sizeof(neg_str), 1, 0), BK_EPROTO);
    /* Null name where the name is not nullable (v1). */
    const uint8_t null_str[] = { 0, 0, 0, 1, 0xff, 0xff, 1 };
    assert_int_equal(decode_buf(e, null_str, sizeof(null_str), 1, 0),
                     BK_EPROTO);
    /* A name longer than the bytes left. */
    const uint8_t long_str[] = { 0, 0, 0, 1, 0x7f, 0xff, 'a' };
    assert_int_equal(decode_buf(e, long_str, sizeof(long_str), 1, 0),
                     BK_EPROTO);

    const struct bk_fill_entry *p = entry("ProduceRequest");
    /* Produce v3: null transactional id, acks, timeout, one topic "t" with
     * one partition whose records claim 100 bytes but carry 2. */
    const uint8_t rec[] = { 0xff, 0xff, 0, 1, 0,   0, 0,   0, 0, 0,
                            0,    1,    0, 1, 't', 0, 0,   0, 1, 0,
                            0,    0,    0, 0, 0,   0, 100, 1, 2 };
    assert_int_equal(decode_buf(p, rec, sizeof(rec), 3, 0), BK_EPROTO);
    /* Records length -2. */
    uint8_t rec2[sizeof(rec)];
    memcpy(rec2, rec, sizeof(rec));
    rec2[23] = 0xff;
    rec2[24] = 0xff;
    rec2[25] = 0xff;
    rec2[26] = 0xfe;
    assert_int_equal(decode_buf(p, rec2, sizeof(rec2), 3, 0), BK_EPROTO);
    /* Records null (-1) is accepted as a null view. */
    rec2[26] = 0xff;
    assert_int_equal(decode_buf(p, rec2, 27, 3, 0), 0);
}

static void test_bad_tagged_fields(void **state)
{
    (void)state;
    const struct bk_fill_entry *e = entry("ApiVersionsResponse");
    /* error, empty array, throttle, then one tag whose size overruns. */
    const uint8_t over[] = { 0, 0, 1, 0, 0, 0, 0, 1, 1, 9, 0, 0 };
    assert_int_equal(decode_buf(e, over, sizeof(over), 3, 0), BK_EPROTO);
    /* Known tag 1 (int64) with only 4 bytes. */
    const uint8_t shortf[] = { 0, 0, 1, 0, 0, 0, 0, 1, 1, 4, 0, 0, 0, 1 };
    assert_int_equal(decode_buf(e, shortf, sizeof(shortf), 3, 0), BK_EPROTO);
    /* A tag count larger than the bytes left. */
    const uint8_t count[] = { 0, 0, 1, 0, 0, 0, 0, 0x7f };
    assert_int_equal(decode_buf(e, count, sizeof(count), 3, 0), BK_EPROTO);
}

static void test_unsupported_version(void **state)
{
    (void)state;
    const uint8_t buf[] = { 0, 0, 0, 0 };
    assert_int_equal(decode_buf(entry("FetchRequest"), buf, sizeof(buf), 3, 0),
                     BK_EUNSUPPORTED);
    assert_int_equal(decode_buf(entry("FetchRequest"), buf, sizeof(buf), 18, 0),
                     BK_EUNSUPPORTED);
    assert_int_equal(
        decode_buf(entry("ApiVersionsRequest"), buf, sizeof(buf), -1, 0),
        BK_EUNSUPPORTED);
    struct bk_msg_fetch_request m;
    bk_msg_fetch_request_init(&m);
    uint8_t out[64];
    struct bk_wr wr;
    bk_wr_init(&wr, out, sizeof(out));
    assert_int_equal(bk_msg_fetch_request_encode(&m, &wr, 99), BK_EUNSUPPORTED);
    assert_int_equal(bk_msg_fetch_request_size(&m, 99), 0);
}

/* Random bytes into every request and response decoder at every version. */
static void test_random_garbage(void **state)
{
    (void)state;
    uint64_t x = 88172645463325252ULL;
    uint8_t buf[64];
    for (size_t i = 0; i < bk_fill_entries_count; i++) {
        const struct bk_fill_entry *e = &bk_fill_entries[i];
        for (int16_t v = e->min_version; v <= e->max_version; v++) {
            for (int round = 0; round < 20; round++) {
                for (size_t j = 0; j < sizeof(buf); j++) {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    /* Bias toward small values so that lengths parse. */
                    buf[j] = (x & 3) == 0 ? (uint8_t)(x >> 8) : 0;
                }
                size_t len = (size_t)(x >> 32) % sizeof(buf);
                int rc = decode_buf(e, buf, len, v, 1 << 16);
                assert_true(rc == 0 || rc == BK_EPROTO || rc == BK_ENOMEM);
            }
        }
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_truncated),
        cmocka_unit_test(test_huge_array_count),
        cmocka_unit_test(test_bad_lengths),
        cmocka_unit_test(test_bad_tagged_fields),
        cmocka_unit_test(test_unsupported_version),
        cmocka_unit_test(test_random_garbage),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
