/* Config describing and the checks in front of config changes
 * (src/api/configs.c): values and sources, Kafka's synonyms, broker
 * settings, and the refusal of static broker settings. */
/* clang-format off */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
/* clang-format on */
#include <stdlib.h>
#include <string.h>

#include "api/configs.h"
#include "cluster/image.h"
#include "cluster/ops.h"
#include "cluster/records.h"
#include "common/arena.h"

static uint64_t fixed_next(void *data)
{
    uint64_t *s = data;
    return ++*s * 0x9e3779b97f4a7c15ull;
}

struct env {
    struct bk_arena arena;
    struct bk_md_image *img;
    struct bk_api_ctx ctx;
    char msg[BK_MD_MSG_SIZE];
};

static void commit(struct env *e, struct bk_md_recs *recs)
{
    struct bk_md_image *next;
    assert_int_equal(bk_md_image_apply(e->img, recs->v, recs->n, NULL, &next),
                     0);
    bk_md_image_release(e->img);
    e->img = next;
}

static void add_broker_setting(struct bk_api_ctx *ctx,
                               const char *name,
                               const char *value,
                               bool is_default)
{
    struct bk_api_broker_config *bc =
        &ctx->broker_configs[ctx->n_broker_configs++];
    bc->name = name;
    bc->doc = "doc";
    strcpy(bc->value, value);
    bc->type = BK_MD_CFG_STRING;
    bc->is_default = is_default;
    bc->dynamic = false;
}

static int setup(void **state)
{
    struct env *e = calloc(1, sizeof(*e));
    bk_arena_init(&e->arena, 4096, 0);
    e->img = bk_md_image_new();
    e->ctx.node_id = 1;
    add_broker_setting(&e->ctx, "log.dirs", "/data", false);
    add_broker_setting(&e->ctx, "num.partitions", "1", true);
    /* One broker and topic "t" with retention.ms set. */
    struct bk_md_recs recs;
    bk_md_recs_init(&recs, &e->arena);
    int64_t epoch;
    assert_int_equal(bk_md_op_register_broker(e->img, 1, "127.0.0.1", 9092,
                                              NULL, &recs, &epoch, e->msg),
                     0);
    commit(e, &recs);
    bk_md_recs_init(&recs, &e->arena);
    uint64_t seed = 1;
    struct bk_md_rng rng = { fixed_next, &seed };
    struct bk_md_kv_in kv = { "retention.ms", "1000" };
    struct bk_md_topic_spec spec = { .name = bk_str_c("t"),
                                     .num_partitions = 1,
                                     .replication_factor = 1,
                                     .n_configs = 1,
                                     .configs = &kv };
    struct bk_md_defaults defs = { 1, 1 };
    struct bk_md_create_result res;
    assert_int_equal(
        bk_md_op_create_topic(e->img, &spec, &defs, &rng, &recs, &res, e->msg),
        0);
    commit(e, &recs);
    *state = e;
    return 0;
}

static int teardown(void **state)
{
    struct env *e = *state;
    bk_md_image_release(e->img);
    bk_arena_destroy(&e->arena);
    free(e);
    return 0;
}

static void test_topic_explicit_and_default(void **state)
{
    struct env *e = *state;
    const struct bk_md_topic *t = bk_md_image_topic(e->img, "t", 1);
    assert_non_null(t);
    struct bk_cfg_entry c;
    bk_cfg_describe_topic(&e->ctx, bk_md_topic_cfg_find("retention.ms"),
                          &t->configs, &c);
    assert_string_equal(c.value, "1000");
    assert_int_equal(c.source, BK_CFG_SRC_DYNAMIC_TOPIC);
    assert_int_equal(c.type, BK_MD_CFG_LONG);
    assert_false(c.read_only);
    assert_false(c.sensitive);
    assert_non_null(c.doc);
    /* Synonyms in order of precedence: the topic's own value, then the
     * broker setting that gives the default. */
    assert_int_equal(c.n_synonyms, 2);
    assert_string_equal(c.synonyms[0].name, "retention.ms");
    assert_string_equal(c.synonyms[0].value, "1000");
    assert_int_equal(c.synonyms[0].source, BK_CFG_SRC_DYNAMIC_TOPIC);
    assert_string_equal(c.synonyms[1].name, "log.retention.hours");
    assert_string_equal(c.synonyms[1].value, "168");
    assert_int_equal(c.synonyms[1].source, BK_CFG_SRC_DEFAULT);

    bk_cfg_describe_topic(&e->ctx, bk_md_topic_cfg_find("cleanup.policy"),
                          &t->configs, &c);
    assert_string_equal(c.value, "delete");
    assert_int_equal(c.source, BK_CFG_SRC_DEFAULT);
    assert_int_equal(c.type, BK_MD_CFG_LIST);
    assert_int_equal(c.n_synonyms, 1);
    assert_string_equal(c.synonyms[0].name, "log.cleanup.policy");

    /* No broker synonym: no synonyms at all for a default value. */
    bk_cfg_describe_topic(
        &e->ctx, bk_md_topic_cfg_find("leader.replication.throttled.replicas"),
        NULL, &c);
    assert_string_equal(c.value, "");
    assert_int_equal(c.n_synonyms, 0);
}

static void test_every_topic_config_described(void **state)
{
    (void)state;
    size_t n;
    const struct bk_md_cfg_def *defs = bk_md_topic_cfg_table(&n);
    size_t without = 0;
    for (size_t i = 0; i < n; i++) {
        struct bk_cfg_entry c;
        bk_cfg_describe_topic(NULL, &defs[i], NULL, &c);
        assert_string_equal(c.name, defs[i].name);
        assert_string_equal(c.value, defs[i].dflt);
        assert_int_equal(c.source, BK_CFG_SRC_DEFAULT);
        const char *dflt = NULL;
        if (bk_cfg_topic_broker_synonym(defs[i].name, &dflt) == NULL) {
            without++;
        } else {
            assert_non_null(dflt);
        }
    }
    /* Only the throttled-replica lists and remote.storage.enable have no
     * broker setting behind them in Kafka. */
    assert_int_equal(without, 3);
}

/* A topic that does not set a config takes the broker's setting for it,
 * scaled to the topic config's unit, with the broker's source (Kafka's
 * STATIC_BROKER_CONFIG when the config file sets it). */
static void test_topic_value_from_broker_setting(void **state)
{
    struct env *e = *state;
    add_broker_setting(&e->ctx, "log.retention.hours", "24", false);
    add_broker_setting(&e->ctx, "log.cleanup.policy", "delete", true);
    const struct bk_md_topic *t = bk_md_image_topic(e->img, "t", 1);
    struct bk_cfg_entry c;
    bk_cfg_describe_topic(&e->ctx, bk_md_topic_cfg_find("retention.ms"), NULL,
                          &c);
    assert_string_equal(c.value, "86400000");
    assert_int_equal(c.source, BK_CFG_SRC_STATIC_BROKER);
    assert_int_equal(c.n_synonyms, 1);
    assert_string_equal(c.synonyms[0].name, "log.retention.hours");
    assert_string_equal(c.synonyms[0].value, "24");
    assert_int_equal(c.synonyms[0].source, BK_CFG_SRC_STATIC_BROKER);
    /* The topic's own value still wins. */
    bk_cfg_describe_topic(&e->ctx, bk_md_topic_cfg_find("retention.ms"),
                          &t->configs, &c);
    assert_string_equal(c.value, "1000");
    assert_int_equal(c.source, BK_CFG_SRC_DYNAMIC_TOPIC);
    assert_int_equal(c.synonyms[1].source, BK_CFG_SRC_STATIC_BROKER);
    /* A broker setting left at its default is a DEFAULT_CONFIG. */
    bk_cfg_describe_topic(&e->ctx, bk_md_topic_cfg_find("cleanup.policy"), NULL,
                          &c);
    assert_string_equal(c.value, "delete");
    assert_int_equal(c.source, BK_CFG_SRC_DEFAULT);

    /* Dynamic broker values come first, this broker's before the
     * cluster's, and give the value (scaled for hours). */
    struct bk_md_kv kv_b = { (char *)"log.retention.hours", (char *)"2" };
    struct bk_md_kv kv_d = { (char *)"log.retention.hours", (char *)"3" };
    struct bk_md_configs mine = { 1, &kv_b };
    struct bk_md_configs all = { 1, &kv_d };
    const struct bk_md_cfg_def *rms = bk_md_topic_cfg_find("retention.ms");
    bk_cfg_describe_topic_dyn(&e->ctx, rms, NULL, &mine, &all, &c);
    assert_string_equal(c.value, "7200000");
    assert_int_equal(c.source, BK_CFG_SRC_DYNAMIC_BROKER);
    assert_int_equal(c.n_synonyms, 3);
    assert_string_equal(c.synonyms[1].value, "3");
    assert_int_equal(c.synonyms[1].source, BK_CFG_SRC_DYNAMIC_DEFAULT_BROKER);
    assert_int_equal(c.synonyms[2].source, BK_CFG_SRC_STATIC_BROKER);
    bk_cfg_describe_topic_dyn(&e->ctx, rms, NULL, NULL, &all, &c);
    assert_string_equal(c.value, "10800000");
    assert_int_equal(c.source, BK_CFG_SRC_DYNAMIC_DEFAULT_BROKER);
    /* With a topic value: all four, the topic's first. */
    bk_cfg_describe_topic_dyn(&e->ctx, rms, &t->configs, &mine, &all, &c);
    assert_string_equal(c.value, "1000");
    assert_int_equal(c.source, BK_CFG_SRC_DYNAMIC_TOPIC);
    assert_int_equal(c.n_synonyms, 4);
    assert_int_equal(c.synonyms[1].source, BK_CFG_SRC_DYNAMIC_BROKER);
}

static void test_broker_settings(void **state)
{
    struct env *e = *state;
    struct bk_cfg_entry c;
    bk_cfg_describe_broker(&e->ctx.broker_configs[0], NULL, NULL, &c);
    assert_string_equal(c.name, "log.dirs");
    assert_string_equal(c.value, "/data");
    assert_int_equal(c.source, BK_CFG_SRC_STATIC_BROKER);
    assert_true(c.read_only);
    bk_cfg_describe_broker(&e->ctx.broker_configs[1], NULL, NULL, &c);
    assert_int_equal(c.source, BK_CFG_SRC_DEFAULT);

    /* A dynamic per-broker value wins over the cluster default, which
     * wins over the static value. */
    struct bk_md_kv kv_b = { (char *)"num.partitions", (char *)"6" };
    struct bk_md_kv kv_d = { (char *)"num.partitions", (char *)"4" };
    struct bk_md_configs per_broker = { 1, &kv_b };
    struct bk_md_configs all = { 1, &kv_d };
    bk_cfg_describe_broker(&e->ctx.broker_configs[1], &per_broker, &all, &c);
    assert_string_equal(c.value, "6");
    assert_int_equal(c.source, BK_CFG_SRC_DYNAMIC_BROKER);
    assert_int_equal(c.n_synonyms, 3);
    assert_int_equal(c.synonyms[1].source, BK_CFG_SRC_DYNAMIC_DEFAULT_BROKER);
    assert_int_equal(c.synonyms[2].source, BK_CFG_SRC_DEFAULT);
    bk_cfg_describe_broker(&e->ctx.broker_configs[1], NULL, &all, &c);
    assert_string_equal(c.value, "4");
    assert_int_equal(c.source, BK_CFG_SRC_DYNAMIC_DEFAULT_BROKER);

    assert_ptr_equal(bk_cfg_broker_find(&e->ctx, "num.partitions"),
                     &e->ctx.broker_configs[1]);
    assert_null(bk_cfg_broker_find(&e->ctx, "nope"));
}

static void test_alter_checks(void **state)
{
    struct env *e = *state;
    struct bk_md_recs recs;
    bk_md_recs_init(&recs, &e->arena);

    /* Static broker settings: INVALID_REQUEST naming each of them. */
    struct bk_md_alter ops[] = {
        { "log.dirs", BK_MD_ALTER_SET, "/x" },
        { "custom.key", BK_MD_ALTER_SET, "1" },
        { "num.partitions", BK_MD_ALTER_DELETE, NULL },
    };
    assert_int_equal(bk_cfg_alter(&e->ctx, e->img, BK_MD_RES_BROKER, "1", ops,
                                  3, &recs, e->msg),
                     BK_MD_KERR_INVALID_REQUEST);
    assert_string_equal(e->msg,
                        "Cannot update these configs dynamically: "
                        "Set(log.dirs, num.partitions)");
    assert_int_equal(recs.n, 0);

    /* Keys brokerd does not know are stored, as Kafka does. */
    assert_int_equal(bk_cfg_alter(&e->ctx, e->img, BK_MD_RES_BROKER, "",
                                  &ops[1], 1, &recs, e->msg),
                     0);
    assert_int_equal(recs.n, 1);

    /* Topic changes are checked by the controller operation. */
    struct bk_md_alter bad = { "retention.ms", BK_MD_ALTER_SET, "soon" };
    assert_int_equal(bk_cfg_alter(&e->ctx, e->img, BK_MD_RES_TOPIC, "t", &bad,
                                  1, &recs, e->msg),
                     BK_MD_KERR_INVALID_CONFIG);
    struct bk_md_alter good = { "retention.ms", BK_MD_ALTER_SET, "5000" };
    assert_int_equal(bk_cfg_alter(&e->ctx, e->img, BK_MD_RES_TOPIC, "t", &good,
                                  1, &recs, e->msg),
                     0);
    assert_int_equal(recs.n, 2);
    assert_int_equal(bk_cfg_alter(&e->ctx, e->img, BK_MD_RES_TOPIC, "none",
                                  &good, 1, &recs, e->msg),
                     BK_MD_KERR_UNKNOWN_TOPIC_OR_PARTITION);

    /* Another broker's settings are changed through that broker. */
    assert_int_equal(bk_cfg_alter(&e->ctx, e->img, BK_MD_RES_BROKER, "2",
                                  &ops[1], 1, &recs, e->msg),
                     BK_MD_KERR_INVALID_REQUEST);
    assert_string_equal(e->msg,
                        "Unexpected broker id, expected 1, but received 2");

    /* Other resource types. */
    assert_int_equal(
        bk_cfg_alter(&e->ctx, e->img, 8, "x", &good, 1, &recs, e->msg),
        BK_MD_KERR_INVALID_REQUEST);
    assert_string_equal(e->msg, "Unsupported resource type 8");

    /* A dynamic setting's new value is checked as Kafka 4.1 checks it. */
    struct bk_api_broker_config *seg =
        &e->ctx.broker_configs[e->ctx.n_broker_configs++];
    memset(seg, 0, sizeof(*seg));
    seg->name = "log.segment.bytes";
    strcpy(seg->value, "1073741824");
    seg->type = BK_MD_CFG_INT;
    seg->dynamic = true;
    seg->min = 1048576;
    seg->max = INT32_MAX;
    struct bk_md_alter seg_ops[] = {
        { "log.segment.bytes", BK_MD_ALTER_SET, "abc" },
        { "log.segment.bytes", BK_MD_ALTER_SET, "3000000000" },
        { "log.segment.bytes", BK_MD_ALTER_SET, "10" },
        { "log.segment.bytes", BK_MD_ALTER_APPEND, "1" },
        { "log.segment.bytes", BK_MD_ALTER_SET, "2097152" },
    };
    size_t before = recs.n;
    assert_int_equal(bk_cfg_alter(&e->ctx, e->img, BK_MD_RES_BROKER, "",
                                  &seg_ops[0], 1, &recs, e->msg),
                     BK_MD_KERR_INVALID_REQUEST);
    assert_string_equal(e->msg,
                        "Invalid value abc for configuration "
                        "log.segment.bytes: Not a number of type INT");
    assert_int_equal(bk_cfg_alter(&e->ctx, e->img, BK_MD_RES_BROKER, "",
                                  &seg_ops[1], 1, &recs, e->msg),
                     BK_MD_KERR_INVALID_REQUEST);
    assert_int_equal(bk_cfg_alter(&e->ctx, e->img, BK_MD_RES_BROKER, "1",
                                  &seg_ops[2], 1, &recs, e->msg),
                     BK_MD_KERR_INVALID_REQUEST);
    assert_string_equal(e->msg,
                        "Invalid value 10 for configuration log.segment.bytes: "
                        "Value must be at least 1048576");
    assert_int_equal(bk_cfg_alter(&e->ctx, e->img, BK_MD_RES_BROKER, "",
                                  &seg_ops[3], 1, &recs, e->msg),
                     BK_MD_KERR_INVALID_CONFIG);
    assert_int_equal(recs.n, before);
    assert_int_equal(bk_cfg_alter(&e->ctx, e->img, BK_MD_RES_BROKER, "",
                                  &seg_ops[4], 1, &recs, e->msg),
                     0);
    assert_int_equal(recs.n, before + 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_topic_explicit_and_default, setup,
                                        teardown),
        cmocka_unit_test(test_every_topic_config_described),
        cmocka_unit_test_setup_teardown(test_topic_value_from_broker_setting,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_broker_settings, setup, teardown),
        cmocka_unit_test_setup_teardown(test_alter_checks, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
