/* The topic config table and the typed settings resolved from it
 * (src/cluster/topic_config.c): every row's default is valid, the broker
 * synonym's default gives the same value, values parse to the types the
 * partitions apply, and a topic resolves from the broker's defaults. */
/* clang-format off */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
/* clang-format on */
#include <string.h>

#include "cluster/image.h"
#include "cluster/topic_config.h"

static void test_every_default_is_valid(void **state)
{
    (void)state;
    char msg[BK_MD_MSG_SIZE];
    size_t n;
    const struct bk_md_cfg_def *t = bk_md_topic_cfg_table(&n);
    for (size_t i = 0; i < n; i++) {
        if (i > 0) {
            assert_true(strcmp(t[i - 1].name, t[i].name) < 0);
        }
        assert_non_null(t[i].doc);
        assert_int_equal(bk_md_topic_cfg_check(t[i].name, t[i].dflt, msg), 0);
        if (t[i].has_min && t[i].has_max) {
            assert_true(t[i].min <= t[i].max);
        }
        /* The broker synonym's default, scaled, is the topic default: so
         * DescribeConfigs shows the same value either way. */
        if (t[i].broker != NULL) {
            char num[32];
            assert_non_null(t[i].broker_dflt);
            assert_true(t[i].broker_scale >= 1);
            const char *v = bk_topic_cfg_from_broker(&t[i], t[i].broker_dflt,
                                                     num, sizeof(num));
            assert_non_null(v);
            assert_string_equal(v, t[i].dflt);
        }
    }
}

static void test_defaults_are_typed(void **state)
{
    (void)state;
    struct bk_topic_settings s;
    bk_topic_settings_default(&s);
    assert_int_equal(s.retention_ms, 604800000);
    assert_int_equal(s.retention_bytes, -1);
    assert_int_equal(s.segment_bytes, 1073741824);
    assert_int_equal(s.max_message_bytes, 1048588);
    assert_int_equal(s.flush_messages, INT64_MAX);
    assert_int_equal(s.message_timestamp_after_max_ms, 3600000);
    assert_int_equal(s.cleanup_policy, BK_TOPIC_CLEANUP_DELETE);
    assert_int_equal(s.compression_type, BK_TOPIC_COMPRESSION_PRODUCER);
    assert_int_equal(s.message_timestamp_type, BK_TOPIC_TIMESTAMP_CREATE_TIME);
    assert_true(s.min_cleanable_dirty_ratio == 0.5);
    assert_true(s.message_downconversion_enable);
    assert_false(s.preallocate);
}

/* The enums follow the order of the rows' valid lists. */
static void test_enums_match_valid_lists(void **state)
{
    (void)state;
    static const struct {
        const char *v;
        int32_t e;
    } comp[] = {
        { "uncompressed", BK_TOPIC_COMPRESSION_UNCOMPRESSED },
        { "zstd", BK_TOPIC_COMPRESSION_ZSTD },
        { "lz4", BK_TOPIC_COMPRESSION_LZ4 },
        { "snappy", BK_TOPIC_COMPRESSION_SNAPPY },
        { "gzip", BK_TOPIC_COMPRESSION_GZIP },
        { "producer", BK_TOPIC_COMPRESSION_PRODUCER },
    };
    char msg[BK_MD_MSG_SIZE];
    struct bk_topic_settings s;
    bk_topic_settings_default(&s);
    for (size_t i = 0; i < sizeof(comp) / sizeof(comp[0]); i++) {
        assert_int_equal(
            bk_topic_settings_set(&s, "compression.type", comp[i].v, msg), 0);
        assert_int_equal(s.compression_type, comp[i].e);
    }
    assert_int_equal(bk_topic_settings_set(&s, "message.timestamp.type",
                                           "LogAppendTime", msg),
                     0);
    assert_int_equal(s.message_timestamp_type,
                     BK_TOPIC_TIMESTAMP_LOG_APPEND_TIME);
    assert_int_equal(
        bk_topic_settings_set(&s, "cleanup.policy", "compact, delete", msg), 0);
    assert_int_equal(s.cleanup_policy,
                     BK_TOPIC_CLEANUP_COMPACT | BK_TOPIC_CLEANUP_DELETE);
    assert_int_equal(
        bk_topic_settings_set(&s, "cleanup.policy", "compact", msg), 0);
    assert_int_equal(s.cleanup_policy, BK_TOPIC_CLEANUP_COMPACT);
    assert_int_equal(bk_topic_settings_set(&s, "cleanup.policy", "", msg), 0);
    assert_int_equal(s.cleanup_policy, 0);
}

/* What validation accepts is what the partition applies: Kafka trims
 * numbers and booleans, so " 100 " is 100 (partitions used to re-parse the
 * string without trimming and fell back to the default). */
static void test_set_parses_what_check_accepts(void **state)
{
    (void)state;
    char msg[BK_MD_MSG_SIZE];
    struct bk_topic_settings s;
    bk_topic_settings_default(&s);
    assert_int_equal(bk_md_topic_cfg_check("retention.ms", " 100 ", msg), 0);
    assert_int_equal(bk_topic_settings_set(&s, "retention.ms", " 100 ", msg),
                     0);
    assert_int_equal(s.retention_ms, 100);
    assert_int_equal(
        bk_topic_settings_set(&s, "min.cleanable.dirty.ratio", " 0.9 ", msg),
        0);
    assert_true(s.min_cleanable_dirty_ratio == 0.9);
    assert_int_equal(bk_topic_settings_set(&s, "preallocate", "TRUE", msg), 0);
    assert_true(s.preallocate);
}

static void test_out_of_range_is_refused(void **state)
{
    (void)state;
    char msg[BK_MD_MSG_SIZE];
    struct bk_topic_settings s;
    bk_topic_settings_default(&s);
    assert_int_equal(bk_topic_settings_set(&s, "segment.bytes", "1000", msg),
                     BK_MD_KERR_INVALID_CONFIG);
    assert_string_equal(msg,
                        "Invalid value 1000 for configuration "
                        "segment.bytes: Value must be at least 1048576");
    assert_int_equal(s.segment_bytes, 1073741824); /* unchanged */
    assert_int_equal(
        bk_topic_settings_set(&s, "max.message.bytes", "2147483648", msg),
        BK_MD_KERR_INVALID_CONFIG);
    assert_string_equal(msg,
                        "Invalid value 2147483648 for configuration "
                        "max.message.bytes: Not a number of type INT");
    assert_int_equal(
        bk_topic_settings_set(&s, "min.cleanable.dirty.ratio", "1.5", msg),
        BK_MD_KERR_INVALID_CONFIG);
    assert_non_null(strstr(msg, "no more than 1"));
    assert_int_equal(
        bk_topic_settings_set(&s, "compression.type", "brotli", msg),
        BK_MD_KERR_INVALID_CONFIG);
    assert_non_null(strstr(msg, "String must be one of: uncompressed, zstd"));
    assert_int_equal(s.compression_type, BK_TOPIC_COMPRESSION_PRODUCER);
    assert_int_equal(bk_topic_settings_set(&s, "nope", "1", msg),
                     BK_MD_KERR_INVALID_CONFIG);
    assert_string_equal(msg, "Unknown topic config name: nope");
}

struct broker {
    const char *names[4];
    const char *values[4];
};

static const char *lookup(const char *name,
                          void *data,
                          char *buf,
                          size_t buflen)
{
    (void)buf;
    (void)buflen;
    const struct broker *b = data;
    for (size_t i = 0; i < 4 && b->names[i] != NULL; i++) {
        if (strcmp(b->names[i], name) == 0) {
            return b->values[i];
        }
    }
    return NULL;
}

static void test_resolves_from_broker_default(void **state)
{
    (void)state;
    char msg[BK_MD_MSG_SIZE];
    struct broker b = {
        { "log.retention.hours", "log.cleanup.policy", "message.max.bytes" },
        { "24", "compact", "2000000" },
    };
    struct bk_topic_settings dflt;
    assert_int_equal(bk_topic_settings_broker_defaults(&dflt, lookup, &b, msg),
                     0);
    assert_int_equal(dflt.retention_ms, 24LL * 3600000);
    assert_int_equal(dflt.cleanup_policy, BK_TOPIC_CLEANUP_COMPACT);
    assert_int_equal(dflt.max_message_bytes, 2000000);
    assert_int_equal(dflt.segment_bytes, 1073741824); /* Kafka's */

    /* A topic's own configs win; a stored value that no longer parses
     * keeps the broker's default. */
    struct bk_md_kv kv[] = {
        { (char *)"message.max.bytes", (char *)"x" },
        { (char *)"retention.ms", (char *)"5000" },
    };
    struct bk_md_configs explicit = { 2, kv };
    struct bk_topic_settings s;
    bk_topic_settings_resolve(&s, &dflt, &explicit);
    assert_int_equal(s.retention_ms, 5000);
    assert_int_equal(s.max_message_bytes, 2000000);
    assert_int_equal(s.cleanup_policy, BK_TOPIC_CLEANUP_COMPACT);
    bk_topic_settings_resolve(&s, NULL, NULL);
    assert_int_equal(s.retention_ms, 604800000);

    /* A negative retention in hours means no limit. */
    b.values[0] = "-1";
    assert_int_equal(bk_topic_settings_broker_defaults(&dflt, lookup, &b, msg),
                     0);
    assert_int_equal(dflt.retention_ms, -1);

    /* A broker value the topic config refuses names the broker setting. */
    b.values[1] = "shred";
    assert_int_equal(bk_topic_settings_broker_defaults(&dflt, lookup, &b, msg),
                     BK_MD_KERR_INVALID_CONFIG);
    assert_non_null(strstr(msg, "log.cleanup.policy: Invalid value shred"));
}

static void test_dynamic_broker_values_overlay(void **state)
{
    (void)state;
    char msg[BK_MD_MSG_SIZE];
    struct broker b = {
        { "message.max.bytes", "log.segment.bytes" },
        { "2000000", "1073741824" },
    };
    struct bk_md_kv all_kv[] = {
        { (char *)"message.max.bytes", (char *)"3000" },
        { (char *)"log.segment.bytes", (char *)"2097152" },
        { (char *)"log.retention.ms", (char *)"1" }, /* not brokerd's */
    };
    struct bk_md_kv mine_kv[] = {
        { (char *)"message.max.bytes", (char *)"4000" },
    };
    struct bk_md_configs all = { 3, all_kv };
    struct bk_md_configs mine = { 1, mine_kv };
    struct bk_topic_dyn_lookup dl = { &mine, &all, lookup, &b };
    struct bk_topic_settings s;
    assert_int_equal(
        bk_topic_settings_broker_defaults(&s, bk_topic_dyn_lookup, &dl, msg),
        0);
    /* This broker's value, then the cluster's, then the static one. */
    assert_int_equal(s.max_message_bytes, 4000);
    assert_int_equal(s.segment_bytes, 2097152);
    /* A key the static settings do not have changes nothing. */
    assert_int_equal(s.retention_ms, 604800000);

    dl.per_broker = NULL;
    dl.cluster = NULL;
    assert_int_equal(
        bk_topic_settings_broker_defaults(&s, bk_topic_dyn_lookup, &dl, msg),
        0);
    assert_int_equal(s.max_message_bytes, 2000000);
    assert_int_equal(s.segment_bytes, 1073741824);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_default_is_valid),
        cmocka_unit_test(test_defaults_are_typed),
        cmocka_unit_test(test_enums_match_valid_lists),
        cmocka_unit_test(test_set_parses_what_check_accepts),
        cmocka_unit_test(test_out_of_range_is_refused),
        cmocka_unit_test(test_resolves_from_broker_default),
        cmocka_unit_test(test_dynamic_broker_values_overlay),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
