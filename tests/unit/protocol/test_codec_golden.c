/* Golden request frames captured from real clients.
 *
 * Captured with tests/unit/protocol/capture_request.py (frame bodies, i.e.
 * without the INT32 size prefix):
 * - kcat 1.7 / librdkafka 2.0.2, `kcat -b 127.0.0.1:PORT -L`: its first
 *   request is ApiVersions v3 (flexible, header v2).
 * - kafka-python 2.0.2, KafkaConsumer(client_id="kpy-golden"): its version
 *   probe pipelines ApiVersions v0 and Metadata v0 (empty topic list). */
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
#include "protocol/header.h"
#include "protocol/kerr.h"

static const uint8_t kcat_api_versions_v3[] = {
    0x00, 0x12, 0x00, 0x03, 0x00, 0x00, 0x00, 0x01, 0x00, 0x07, 0x72, 0x64,
    0x6b, 0x61, 0x66, 0x6b, 0x61, 0x00, 0x0b, 0x6c, 0x69, 0x62, 0x72, 0x64,
    0x6b, 0x61, 0x66, 0x6b, 0x61, 0x06, 0x32, 0x2e, 0x30, 0x2e, 0x32, 0x00,
};

static const uint8_t kpy_api_versions_v0[] = {
    0x00, 0x12, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x0a,
    0x6b, 0x70, 0x79, 0x2d, 0x67, 0x6f, 0x6c, 0x64, 0x65, 0x6e,
};

static const uint8_t kpy_metadata_v0[] = {
    0x00, 0x03, 0x00, 0x00, 0x00, 0x00, 0x00, 0x02, 0x00, 0x0a, 0x6b, 0x70,
    0x79, 0x2d, 0x67, 0x6f, 0x6c, 0x64, 0x65, 0x6e, 0x00, 0x00, 0x00, 0x00,
};

struct decoded {
    struct bk_arena arena;
    struct bk_req_header h;
    void *req;
    size_t body_off;
};

/* Parses the header, decodes the body through the api table, and checks
 * that re-encoding the body gives back the captured bytes. */
static void decode_frame(struct decoded *d, const uint8_t *frame, size_t len)
{
    bk_arena_init(&d->arena, 4096, 1 << 20);
    struct bk_rd rd;
    bk_rd_init(&rd, frame, len);
    assert_int_equal(bk_req_header_parse(&rd, &d->h), 0);
    d->body_off = rd.pos;
    const struct bk_api_desc *api = bk_api_desc(d->h.api_key);
    assert_non_null(api);
    d->req = bk_arena_alloc(&d->arena, api->req_struct_size);
    assert_non_null(d->req);
    assert_int_equal(api->req_decode(d->req, &rd, d->h.api_version, &d->arena),
                     0);
    assert_int_equal(rd.pos, len);

    size_t n = api->req_size(d->req, d->h.api_version);
    assert_int_equal(n, len - d->body_off);
    uint8_t *buf = malloc(n + 1);
    assert_non_null(buf);
    struct bk_wr wr;
    bk_wr_init(&wr, buf, n);
    assert_int_equal(api->req_encode(d->req, &wr, d->h.api_version), 0);
    assert_int_equal(wr.len, n);
    assert_memory_equal(buf, frame + d->body_off, n);
    free(buf);
}

static void test_librdkafka_api_versions_v3(void **state)
{
    (void)state;
    struct decoded d;
    decode_frame(&d, kcat_api_versions_v3, sizeof(kcat_api_versions_v3));
    assert_int_equal(d.h.api_key, BK_API_API_VERSIONS);
    assert_int_equal(d.h.api_version, 3);
    assert_int_equal(d.h.correlation_id, 1);
    assert_true(d.h.flexible);
    assert_true(bk_str_eq_c(d.h.client_id, "rdkafka"));
    const struct bk_msg_api_versions_request *r = d.req;
    assert_true(bk_str_eq_c(r->client_software_name, "librdkafka"));
    assert_true(bk_str_eq_c(r->client_software_version, "2.0.2"));
    bk_arena_destroy(&d.arena);
}

static void test_kafka_python_api_versions_v0(void **state)
{
    (void)state;
    struct decoded d;
    decode_frame(&d, kpy_api_versions_v0, sizeof(kpy_api_versions_v0));
    assert_int_equal(d.h.api_key, BK_API_API_VERSIONS);
    assert_int_equal(d.h.api_version, 0);
    assert_int_equal(d.h.correlation_id, 1);
    assert_false(d.h.flexible);
    assert_true(bk_str_eq_c(d.h.client_id, "kpy-golden"));
    const struct bk_msg_api_versions_request *r = d.req;
    /* Absent before v3: the defaults (empty strings). */
    assert_int_equal(r->client_software_name.len, 0);
    bk_arena_destroy(&d.arena);
}

static void test_kafka_python_metadata_v0(void **state)
{
    (void)state;
    struct decoded d;
    decode_frame(&d, kpy_metadata_v0, sizeof(kpy_metadata_v0));
    assert_int_equal(d.h.api_key, BK_API_METADATA);
    assert_int_equal(d.h.api_version, 0);
    assert_int_equal(d.h.correlation_id, 2);
    assert_false(d.h.flexible);
    assert_true(bk_str_eq_c(d.h.client_id, "kpy-golden"));
    const struct bk_msg_metadata_request *r = d.req;
    /* v0: an empty array means all topics. */
    assert_int_equal(r->topics_count, 0);
    assert_true(r->allow_auto_topic_creation);
    bk_arena_destroy(&d.arena);
}

/* KIP-511: an ApiVersions request with a version we do not know (here 9)
 * is read with header v2 so that the client id and the fallback work. */
static void test_api_versions_unknown_version_header(void **state)
{
    (void)state;
    uint8_t frame[sizeof(kcat_api_versions_v3)];
    memcpy(frame, kcat_api_versions_v3, sizeof(frame));
    frame[3] = 9;
    struct bk_rd rd;
    bk_rd_init(&rd, frame, sizeof(frame));
    struct bk_req_header h;
    assert_int_equal(bk_req_header_parse(&rd, &h), 0);
    assert_int_equal(h.api_version, 9);
    assert_true(h.flexible);
    assert_true(bk_str_eq_c(h.client_id, "rdkafka"));
    /* The body starts after the header's empty tagged section. */
    assert_int_equal(rd.pos, 2 + 2 + 4 + 2 + 7 + 1);
    const struct bk_api_desc *api = bk_api_desc(h.api_key);
    struct bk_msg_api_versions_request req;
    struct bk_arena a;
    bk_arena_init(&a, 1024, 0);
    assert_int_equal(api->req_decode(&req, &rd, h.api_version, &a),
                     BK_EUNSUPPORTED);
    bk_arena_destroy(&a);

    /* Unknown keys are read as header v1. */
    const uint8_t unk[] = { 0x7f, 0x00, 0, 1, 0, 0, 0, 5, 0xff, 0xff, 0xaa };
    bk_rd_init(&rd, unk, sizeof(unk));
    assert_int_equal(bk_req_header_parse(&rd, &h), 0);
    assert_false(h.flexible);
    assert_int_equal(h.client_id.len, -1);
    assert_int_equal(rd.pos, 10);
    assert_null(bk_api_desc(h.api_key));
}

static void test_header_truncated(void **state)
{
    (void)state;
    for (size_t n = 0; n < 2 + 2 + 4 + 2 + 7 + 1; n++) {
        struct bk_rd rd;
        bk_rd_init(&rd, kcat_api_versions_v3, n);
        struct bk_req_header h;
        assert_int_equal(bk_req_header_parse(&rd, &h), BK_EPROTO);
    }
}

static void test_response_header(void **state)
{
    (void)state;
    uint8_t buf[8];
    struct bk_wr wr;

    /* ApiVersions responses always use header v0, even for v3+. */
    assert_false(bk_resp_header_flexible(BK_API_API_VERSIONS, 3));
    assert_false(bk_resp_header_flexible(BK_API_API_VERSIONS, 4));
    assert_true(bk_resp_header_flexible(BK_API_METADATA, 9));
    assert_false(bk_resp_header_flexible(BK_API_METADATA, 8));
    assert_false(bk_resp_header_flexible(BK_API_SASL_HANDSHAKE, 1));

    bk_wr_init(&wr, buf, sizeof(buf));
    assert_int_equal(bk_resp_header_encode(&wr, 0x01020304, false), 0);
    assert_int_equal(wr.len, bk_resp_header_size(false));
    const uint8_t v0[] = { 1, 2, 3, 4 };
    assert_memory_equal(buf, v0, sizeof(v0));

    bk_wr_init(&wr, buf, sizeof(buf));
    assert_int_equal(bk_resp_header_encode(&wr, 7, true), 0);
    assert_int_equal(wr.len, bk_resp_header_size(true));
    const uint8_t v1[] = { 0, 0, 0, 7, 0 };
    assert_memory_equal(buf, v1, sizeof(v1));

    bk_wr_init(&wr, buf, 3);
    assert_int_equal(bk_resp_header_encode(&wr, 7, false), BK_ERANGE);
}

/* The KIP-511 fallback answer: a v0 body with error 35 and key 18 only. */
static void test_api_versions_fallback_response(void **state)
{
    (void)state;
    struct bk_msg_api_versions_response_api_version key = {
        .api_key = BK_API_API_VERSIONS,
        .min_version = 0,
        .max_version = 4,
    };
    struct bk_msg_api_versions_response m;
    bk_msg_api_versions_response_init(&m);
    m.error_code = BK_KERR_UNSUPPORTED_VERSION;
    m.api_keys = &key;
    m.api_keys_count = 1;
    uint8_t buf[32];
    struct bk_wr wr;
    bk_wr_init(&wr, buf, sizeof(buf));
    assert_int_equal(bk_msg_api_versions_response_encode(&m, &wr, 0), 0);
    const uint8_t want[] = { 0, 35, 0, 0, 0, 1, 0, 18, 0, 0, 0, 4 };
    assert_int_equal(wr.len, sizeof(want));
    assert_memory_equal(buf, want, sizeof(want));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_librdkafka_api_versions_v3),
        cmocka_unit_test(test_kafka_python_api_versions_v0),
        cmocka_unit_test(test_kafka_python_metadata_v0),
        cmocka_unit_test(test_api_versions_unknown_version_header),
        cmocka_unit_test(test_header_truncated),
        cmocka_unit_test(test_response_header),
        cmocka_unit_test(test_api_versions_fallback_response),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
