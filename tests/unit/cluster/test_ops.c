/* Controller operations and CreateTopics validation: topic names, configs,
 * partitions, replication factor, incremental config changes, producer id
 * blocks and broker registration, applied through the image. */
// clang-format off
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
// clang-format on
#include <stdlib.h>
#include <string.h>

#include "cluster/image.h"
#include "cluster/ops.h"
#include "cluster/topic_config.h"
#include "common/arena.h"
#include "common/err.h"

/* A reproducible rng (splitmix64). */
static uint64_t split_next(void *data)
{
    uint64_t *s = data;
    uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

struct env {
    struct bk_arena arena;
    struct bk_md_recs recs;
    struct bk_md_image *img;
    uint64_t seed;
    struct bk_md_rng rng;
    struct bk_md_defaults defs;
    char msg[BK_MD_MSG_SIZE];
};

static void env_commit(struct env *e)
{
    struct bk_md_image *next;
    assert_int_equal(
        bk_md_image_apply(e->img, e->recs.v, e->recs.n, NULL, &next), 0);
    bk_md_image_release(e->img);
    e->img = next;
    bk_arena_reset(&e->arena);
    bk_md_recs_init(&e->recs, &e->arena);
}

static int setup(void **state)
{
    struct env *e = calloc(1, sizeof(*e));
    bk_arena_init(&e->arena, 4096, 0);
    bk_md_recs_init(&e->recs, &e->arena);
    e->img = bk_md_image_new();
    e->seed = 7;
    e->rng = (struct bk_md_rng){ split_next, &e->seed };
    e->defs = (struct bk_md_defaults){ 3, 1 };
    const char *racks[] = { "a", "b", "c" };
    for (int32_t id = 1; id <= 3; id++) {
        int64_t epoch;
        assert_int_equal(
            bk_md_op_register_broker(e->img, id, "127.0.0.1", 9092 + id,
                                     racks[id - 1], &e->recs, &epoch, e->msg),
            0);
    }
    env_commit(e);
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

static void test_topic_names(void **state)
{
    (void)state;
    char msg[BK_MD_MSG_SIZE];
    assert_int_equal(bk_md_topic_name_check("orders.v1_x-Y", 13, msg), 0);
    assert_int_equal(bk_md_topic_name_check("", 0, msg), 17);
    assert_string_equal(msg, "Topic name is illegal, it can't be empty");
    assert_int_equal(bk_md_topic_name_check(".", 1, msg), 17);
    assert_int_equal(bk_md_topic_name_check("..", 2, msg), 17);
    assert_int_equal(bk_md_topic_name_check("...", 3, msg), 0);
    assert_int_equal(bk_md_topic_name_check("a b", 3, msg), 17);
    assert_non_null(strstr(msg, "ASCII alphanumerics"));
    assert_int_equal(bk_md_topic_name_check("caf\xc3\xa9", 5, msg), 17);
    /* Every byte counts: a NUL is no end of the name but a bad byte, and
     * the message shows no raw control bytes. */
    assert_int_equal(bk_md_topic_name_check("x\0y", 3, msg), 17);
    assert_non_null(strstr(msg, "\"x?y\""));
    assert_int_equal(bk_md_topic_name_check("\0", 1, msg), 17);
    assert_int_equal(bk_md_topic_name_check("ok\0", 3, msg), 17);
    static const char bad_bytes[] = ":/\\ \t\n\x01\x7f\x80\xff+=,*?\"'";
    for (size_t i = 0; i < sizeof(bad_bytes) - 1; i++) {
        char n[3] = { 'a', bad_bytes[i], 'b' };
        assert_int_equal(bk_md_topic_name_check(n, 3, msg), 17);
    }
    char longname[251];
    memset(longname, 'x', sizeof(longname));
    assert_int_equal(bk_md_topic_name_check(longname, 249, msg), 0);
    assert_int_equal(bk_md_topic_name_check(longname, 250, msg), 17);
    assert_non_null(strstr(msg, "249"));
    assert_true(bk_md_topic_names_collide("a.b", 3, "a_b", 3));
    assert_false(bk_md_topic_names_collide("a.b", 3, "a.b", 3));
    assert_false(bk_md_topic_names_collide("a.b", 3, "a-b", 3));
}

static void test_topic_configs(void **state)
{
    (void)state;
    char msg[BK_MD_MSG_SIZE];
    size_t n;
    const struct bk_md_cfg_def *t = bk_md_topic_cfg_table(&n);
    assert_true(n >= 25);
    for (size_t i = 1; i < n; i++) {
        assert_true(strcmp(t[i - 1].name, t[i].name) < 0);
    }
    /* Every default passes its own check. */
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(bk_md_topic_cfg_check(t[i].name, t[i].dflt, msg), 0);
    }
    const char *required[] = {
        "cleanup.policy",
        "compression.type",
        "delete.retention.ms",
        "file.delete.delay.ms",
        "flush.messages",
        "flush.ms",
        "index.interval.bytes",
        "max.compaction.lag.ms",
        "max.message.bytes",
        "message.timestamp.type",
        "message.timestamp.before.max.ms",
        "message.timestamp.after.max.ms",
        "min.cleanable.dirty.ratio",
        "min.compaction.lag.ms",
        "min.insync.replicas",
        "preallocate",
        "retention.bytes",
        "retention.ms",
        "segment.bytes",
        "segment.index.bytes",
        "segment.jitter.ms",
        "segment.ms",
        "unclean.leader.election.enable",
        "message.downconversion.enable",
    };
    for (size_t i = 0; i < sizeof(required) / sizeof(required[0]); i++) {
        assert_non_null(bk_md_topic_cfg_find(required[i]));
    }
    assert_int_equal(bk_md_topic_cfg_find("retention.ms")->type,
                     BK_MD_CFG_LONG);
    assert_string_equal(bk_md_topic_cfg_find("retention.ms")->dflt,
                        "604800000");

    assert_int_equal(bk_md_topic_cfg_check("nope", "1", msg), 40);
    assert_string_equal(msg, "Unknown topic config name: nope");
    assert_int_equal(bk_md_topic_cfg_check("retention.ms", "abc", msg), 40);
    assert_string_equal(msg,
                        "Invalid value abc for configuration "
                        "retention.ms: Not a number of type LONG");
    assert_int_equal(bk_md_topic_cfg_check("retention.ms", "-1", msg), 0);
    assert_int_equal(bk_md_topic_cfg_check("retention.ms", "-2", msg), 40);
    assert_non_null(strstr(msg, "at least -1"));
    assert_int_equal(bk_md_topic_cfg_check("retention.ms", " 100 ", msg), 0);
    assert_int_equal(
        bk_md_topic_cfg_check("max.message.bytes", "2147483648", msg), 40);
    assert_int_equal(
        bk_md_topic_cfg_check("retention.bytes", "9223372036854775807", msg),
        0);
    assert_int_equal(
        bk_md_topic_cfg_check("retention.bytes", "9223372036854775808", msg),
        40);
    assert_int_equal(bk_md_topic_cfg_check("segment.bytes", "1000", msg), 40);
    assert_int_equal(bk_md_topic_cfg_check("min.insync.replicas", "0", msg),
                     40);
    assert_int_equal(
        bk_md_topic_cfg_check("min.cleanable.dirty.ratio", "0.9", msg), 0);
    assert_int_equal(
        bk_md_topic_cfg_check("min.cleanable.dirty.ratio", "1.5", msg), 40);
    assert_non_null(strstr(msg, "no more than 1"));
    assert_int_equal(bk_md_topic_cfg_check("preallocate", "TRUE", msg), 0);
    assert_int_equal(bk_md_topic_cfg_check("preallocate", "yes", msg), 40);
    assert_int_equal(bk_md_topic_cfg_check("compression.type", "zstd", msg), 0);
    assert_int_equal(bk_md_topic_cfg_check("compression.type", "brotli", msg),
                     40);
    assert_non_null(strstr(msg, "String must be one of"));
    assert_int_equal(
        bk_md_topic_cfg_check("cleanup.policy", "compact,delete", msg), 0);
    assert_int_equal(
        bk_md_topic_cfg_check("cleanup.policy", "compact, delete", msg), 0);
    assert_int_equal(bk_md_topic_cfg_check("cleanup.policy", "compact,x", msg),
                     40);
    assert_int_equal(
        bk_md_topic_cfg_check("message.timestamp.type", "LogAppendTime", msg),
        0);
    assert_int_equal(bk_md_topic_cfg_check("retention.ms", NULL, msg), 40);
}

static void test_create_topic(void **state)
{
    struct env *e = *state;
    struct bk_md_kv_in cfg[] = { { "retention.ms", "1000" },
                                 { "cleanup.policy", "compact" } };
    struct bk_md_topic_spec spec = {
        bk_str_c("orders"), 6, 3, 2, cfg, 0, NULL
    };
    struct bk_md_create_result res;
    assert_int_equal(bk_md_op_create_topic(e->img, &spec, &e->defs, &e->rng,
                                           &e->recs, &res, e->msg),
                     0);
    assert_int_equal(e->recs.n, 1 + 6 + 2);
    assert_int_equal(res.num_partitions, 6);
    assert_int_equal(res.replication_factor, 3);
    assert_false(bk_uuid_is_zero(&res.topic_id));
    assert_int_equal(res.topic_id.b[6] >> 4, 4);
    /* Same name again in the same request. */
    struct bk_md_topic_spec dup = {
        bk_str_c("orders"), 1, 1, 0, NULL, 0, NULL
    };
    assert_int_equal(bk_md_op_create_topic(e->img, &dup, &e->defs, &e->rng,
                                           &e->recs, NULL, e->msg),
                     BK_MD_KERR_INVALID_REQUEST);
    assert_int_equal(e->recs.n, 9);
    env_commit(e);

    const struct bk_md_topic *t = bk_md_image_topic(e->img, "orders", 6);
    assert_non_null(t);
    /* A name with a NUL byte matches no topic, however it starts. */
    assert_null(bk_md_image_topic(e->img, "orders\0", 7));
    assert_null(bk_md_image_topic(e->img, "orders\0xyz", 10));
    assert_null(bk_md_image_topic(e->img, "orde", 4));
    /* Nor does it create one: "orders\0x" is no duplicate of "orders"
     * but an illegal name, and "x\0y" does not create "x". */
    struct bk_md_topic_spec nul[] = {
        { { "orders\0x", 8 }, 1, 1, 0, NULL, 0, NULL },
        { { "x\0y", 3 }, 1, 1, 0, NULL, 0, NULL },
        { { "x\0", 2 }, 1, 1, 0, NULL, 0, NULL },
    };
    for (size_t i = 0; i < sizeof(nul) / sizeof(nul[0]); i++) {
        assert_int_equal(bk_md_op_create_topic(e->img, &nul[i], &e->defs,
                                               &e->rng, &e->recs, NULL, e->msg),
                         BK_MD_KERR_INVALID_TOPIC_EXCEPTION);
        assert_int_equal(e->recs.n, 0);
    }
    assert_memory_equal(t->id.b, res.topic_id.b, 16);
    assert_int_equal(t->n_partitions, 6);
    int leaders[4] = { 0 };
    for (int p = 0; p < 6; p++) {
        const struct bk_md_partition *pp = bk_md_topic_partition(t, p);
        assert_int_equal(pp->n_replicas, 3);
        /* Empty everywhere: every (live) replica starts in sync. */
        assert_int_equal(pp->n_isr, 3);
        assert_memory_equal(pp->isr, pp->replicas, 3 * sizeof(int32_t));
        assert_int_equal(pp->leader, pp->replicas[0]);
        leaders[pp->leader]++;
    }
    assert_int_equal(leaders[1], 2);
    assert_int_equal(leaders[2], 2);
    assert_int_equal(leaders[3], 2);
    assert_string_equal(bk_md_configs_get(&t->configs, "cleanup.policy"),
                        "compact");

    /* Errors, each with Kafka's code. */
    struct {
        struct bk_md_topic_spec spec;
        int16_t code;
    } bad[] = {
        { { bk_str_c("orders"), 1, 1, 0, NULL, 0, NULL }, 36 },
        { { bk_str_c("orders.x/y"), 1, 1, 0, NULL, 0, NULL }, 17 },
        { { bk_str_c(".."), 1, 1, 0, NULL, 0, NULL }, 17 },
        { { bk_str_c("new"), 0, 1, 0, NULL, 0, NULL }, 37 },
        { { bk_str_c("new"), -5, 1, 0, NULL, 0, NULL }, 37 },
        { { bk_str_c("new"), BK_MD_MAX_PARTITIONS + 1, 1, 0, NULL, 0, NULL },
          37 },
        { { bk_str_c("new"), 1, 0, 0, NULL, 0, NULL }, 38 },
        { { bk_str_c("new"), 1, 4, 0, NULL, 0, NULL }, 38 },
        { { bk_str_c("new"), 1, 1, 1, (struct bk_md_kv_in[]){ { "x.y", "1" } },
            0, NULL },
          40 },
        { { bk_str_c("new"), 1, 1, 1,
            (struct bk_md_kv_in[]){ { "segment.ms", "0" } }, 0, NULL },
          40 },
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_int_equal(bk_md_op_create_topic(e->img, &bad[i].spec, &e->defs,
                                               &e->rng, &e->recs, NULL, e->msg),
                         bad[i].code);
        assert_true(strlen(e->msg) > 0);
        assert_int_equal(e->recs.n, 0);
    }
    struct bk_md_topic_spec rf4 = { bk_str_c("new"), 1, 4, 0, NULL, 0, NULL };
    bk_md_op_create_topic(e->img, &rf4, &e->defs, &e->rng, &e->recs, NULL,
                          e->msg);
    assert_string_equal(e->msg,
                        "Unable to replicate the partition 4 time(s): The "
                        "target replication factor of 4 cannot be reached "
                        "because only 3 broker(s) are registered.");
    /* '.' / '_' collision with an existing topic. */
    struct bk_md_topic_spec a = { bk_str_c("a.b"), 1, 1, 0, NULL, 0, NULL };
    struct bk_md_topic_spec b = { bk_str_c("a_b"), 1, 1, 0, NULL, 0, NULL };
    assert_int_equal(bk_md_op_create_topic(e->img, &a, &e->defs, &e->rng,
                                           &e->recs, NULL, e->msg),
                     0);
    assert_int_equal(bk_md_op_create_topic(e->img, &b, &e->defs, &e->rng,
                                           &e->recs, NULL, e->msg),
                     17);
    assert_non_null(strstr(e->msg, "collides"));
    env_commit(e);
    assert_int_equal(bk_md_op_create_topic(e->img, &b, &e->defs, &e->rng,
                                           &e->recs, NULL, e->msg),
                     17);
    /* Defaults. */
    struct bk_md_topic_spec d = { bk_str_c("dflt"), -1, -1, 0, NULL, 0, NULL };
    assert_int_equal(bk_md_op_create_topic(e->img, &d, &e->defs, &e->rng,
                                           &e->recs, &res, e->msg),
                     0);
    assert_int_equal(res.num_partitions, 3);
    assert_int_equal(res.replication_factor, 1);
    env_commit(e);
}

static void test_delete_and_partitions(void **state)
{
    struct env *e = *state;
    struct bk_md_topic_spec spec = { bk_str_c("t1"), 2, 2, 0, NULL, 0, NULL };
    assert_int_equal(bk_md_op_create_topic(e->img, &spec, &e->defs, &e->rng,
                                           &e->recs, NULL, e->msg),
                     0);
    env_commit(e);
    assert_int_equal(bk_md_op_create_partitions(e->img, "t1", 2, 2, NULL, 0,
                                                &e->rng, &e->recs, e->msg),
                     37);
    assert_string_equal(e->msg, "Topic already has 2 partition(s).");
    assert_int_equal(bk_md_op_create_partitions(e->img, "t1", 2, 1, NULL, 0,
                                                &e->rng, &e->recs, e->msg),
                     37);
    assert_int_equal(bk_md_op_create_partitions(e->img, "zz", 2, 5, NULL, 0,
                                                &e->rng, &e->recs, e->msg),
                     3);
    assert_int_equal(bk_md_op_create_partitions(e->img, "t1", 2, 5, NULL, 0,
                                                &e->rng, &e->recs, e->msg),
                     0);
    assert_int_equal(e->recs.n, 3);
    /* Not "t1": the name is every byte given. */
    assert_int_equal(bk_md_op_create_partitions(e->img, "t1\0zz", 5, 9, NULL, 0,
                                                &e->rng, &e->recs, e->msg),
                     3);
    assert_int_equal(e->recs.n, 3);
    env_commit(e);
    const struct bk_md_topic *t = bk_md_image_topic(e->img, "t1", 2);
    assert_int_equal(t->n_partitions, 5);
    assert_int_equal(bk_md_topic_partition(t, 4)->n_replicas, 2);
    struct bk_uuid id = t->id;

    assert_int_equal(bk_md_op_delete_topic(e->img, "zz", 2, &e->recs, e->msg),
                     3);
    assert_int_equal(
        bk_md_op_delete_topic(e->img, "t1\0zz", 5, &e->recs, e->msg), 3);
    assert_int_equal(bk_md_op_delete_topic(e->img, "t1\0", 3, &e->recs, e->msg),
                     3);
    assert_int_equal(e->recs.n, 0);
    struct bk_uuid zero = { { 0 } };
    assert_int_equal(bk_md_op_delete_topic_id(e->img, &zero, &e->recs, e->msg),
                     100);
    assert_int_equal(bk_md_op_delete_topic(e->img, "t1", 2, &e->recs, e->msg),
                     0);
    env_commit(e);
    assert_null(bk_md_image_topic(e->img, "t1", 2));
    assert_null(bk_md_image_topic_by_id(e->img, &id));
}

static void test_alter_configs(void **state)
{
    struct env *e = *state;
    struct bk_md_topic_spec spec = { bk_str_c("c"), 1, 1, 0, NULL, 0, NULL };
    assert_int_equal(bk_md_op_create_topic(e->img, &spec, &e->defs, &e->rng,
                                           &e->recs, NULL, e->msg),
                     0);
    env_commit(e);
    struct bk_md_alter ops[] = {
        { "retention.ms", BK_MD_ALTER_SET, "5000" },
        { "cleanup.policy", BK_MD_ALTER_APPEND, "compact" },
        { "leader.replication.throttled.replicas", BK_MD_ALTER_APPEND,
          "0:1,0:2" },
    };
    assert_int_equal(bk_md_op_alter_configs(e->img, BK_MD_RES_TOPIC, "c", ops,
                                            3, &e->recs, e->msg),
                     0);
    env_commit(e);
    const struct bk_md_topic *t = bk_md_image_topic(e->img, "c", 1);
    assert_string_equal(bk_md_configs_get(&t->configs, "retention.ms"), "5000");
    assert_string_equal(bk_md_configs_get(&t->configs, "cleanup.policy"),
                        "delete,compact");
    struct bk_md_alter ops2[] = {
        { "retention.ms", BK_MD_ALTER_DELETE, NULL },
        { "cleanup.policy", BK_MD_ALTER_SUBTRACT, "delete" },
        { "leader.replication.throttled.replicas", BK_MD_ALTER_APPEND,
          "0:2,0:3" },
    };
    assert_int_equal(bk_md_op_alter_configs(e->img, BK_MD_RES_TOPIC, "c", ops2,
                                            3, &e->recs, e->msg),
                     0);
    env_commit(e);
    t = bk_md_image_topic(e->img, "c", 1);
    assert_null(bk_md_configs_get(&t->configs, "retention.ms"));
    assert_string_equal(bk_md_configs_get(&t->configs, "cleanup.policy"),
                        "compact");
    assert_string_equal(
        bk_md_configs_get(&t->configs, "leader.replication.throttled.replicas"),
        "0:1,0:2,0:3");

    struct {
        const char *res;
        struct bk_md_alter op;
        int16_t code;
    } bad[] = {
        { "nope", { "retention.ms", BK_MD_ALTER_SET, "1" }, 3 },
        { "c", { "retention.ms", BK_MD_ALTER_APPEND, "1" }, 40 },
        { "c", { "bogus", BK_MD_ALTER_SET, "1" }, 40 },
        { "c", { "retention.ms", BK_MD_ALTER_SET, "x" }, 40 },
        { "c", { "retention.ms", BK_MD_ALTER_SET, NULL }, 42 },
        { "c", { "cleanup.policy", BK_MD_ALTER_APPEND, "zap" }, 40 },
        { "c", { "retention.ms", 9, "1" }, 42 },
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_int_equal(
            bk_md_op_alter_configs(e->img, BK_MD_RES_TOPIC, bad[i].res,
                                   &bad[i].op, 1, &e->recs, e->msg),
            bad[i].code);
        assert_int_equal(e->recs.n, 0);
    }
    struct bk_md_alter dups[] = { { "retention.ms", 0, "1" },
                                  { "retention.ms", 0, "2" } };
    assert_int_equal(bk_md_op_alter_configs(e->img, BK_MD_RES_TOPIC, "c", dups,
                                            2, &e->recs, e->msg),
                     42);
    assert_int_equal(e->recs.n, 0);

    /* Broker resources: cluster default and one broker. */
    struct bk_md_alter b[] = { { "log.retention.ms", 0, "1000" } };
    assert_int_equal(bk_md_op_alter_configs(e->img, BK_MD_RES_BROKER, "", b, 1,
                                            &e->recs, e->msg),
                     0);
    assert_int_equal(bk_md_op_alter_configs(e->img, BK_MD_RES_BROKER, "2", b, 1,
                                            &e->recs, e->msg),
                     0);
    assert_int_equal(bk_md_op_alter_configs(e->img, BK_MD_RES_BROKER, "x", b, 1,
                                            &e->recs, e->msg),
                     42);
    env_commit(e);
    assert_string_equal(
        bk_md_configs_get(bk_md_image_broker_configs(e->img, "2"),
                          "log.retention.ms"),
        "1000");
}

static void test_producer_ids_and_registration(void **state)
{
    struct env *e = *state;
    const struct bk_md_broker *b = bk_md_image_broker(e->img, 2);
    int64_t epoch = b->epoch;
    int64_t first;
    assert_int_equal(
        bk_md_op_alloc_producer_ids(e->img, 2, epoch, &e->recs, &first, e->msg),
        0);
    assert_int_equal(first, 0);
    env_commit(e);
    assert_int_equal(e->img->next_producer_id, 1000);
    assert_int_equal(
        bk_md_op_alloc_producer_ids(e->img, 2, epoch, &e->recs, &first, e->msg),
        0);
    assert_int_equal(first, 1000);
    /* A block computed from the same (stale) image is skipped in apply. */
    assert_int_equal(
        bk_md_op_alloc_producer_ids(e->img, 2, epoch, &e->recs, &first, e->msg),
        0);
    uint8_t skipped[2];
    struct bk_md_image *next;
    assert_int_equal(
        bk_md_image_apply(e->img, e->recs.v, e->recs.n, skipped, &next), 0);
    assert_int_equal(skipped[0], 0);
    assert_int_equal(skipped[1], 1);
    assert_int_equal(next->next_producer_id, 2000);
    bk_md_image_release(next);
    bk_arena_reset(&e->arena);
    bk_md_recs_init(&e->recs, &e->arena);

    assert_int_equal(bk_md_op_alloc_producer_ids(e->img, 2, epoch + 1, &e->recs,
                                                 &first, e->msg),
                     77);
    assert_int_equal(
        bk_md_op_alloc_producer_ids(e->img, 9, 0, &e->recs, &first, e->msg),
        77);
    /* Re-registration gets a higher epoch. */
    int64_t e2;
    assert_int_equal(bk_md_op_register_broker(e->img, 2, "h", 1, NULL, &e->recs,
                                              &e2, e->msg),
                     0);
    assert_true(e2 > epoch);
    env_commit(e);
    assert_int_equal(bk_md_image_broker(e->img, 2)->epoch, e2);
    assert_null(bk_md_image_broker(e->img, 2)->rack);
    assert_int_equal(bk_md_op_register_broker(e->img, 2, "h", 0, NULL, &e->recs,
                                              &e2, e->msg),
                     42);
}

static void test_manual_assignment(void **state)
{
    struct env *e = *state;
    const int32_t p0[] = { 3, 1 };
    const int32_t p1[] = { 2, 3 };
    struct bk_md_replicas as[] = { { 1, 2, p1 }, { 0, 2, p0 } };
    struct bk_md_topic_spec spec = {
        bk_str_c("manual"), -1, -1, 0, NULL, 2, as
    };
    struct bk_md_create_result res;
    assert_int_equal(bk_md_op_create_topic(e->img, &spec, &e->defs, &e->rng,
                                           &e->recs, &res, e->msg),
                     0);
    assert_int_equal(res.num_partitions, 2);
    assert_int_equal(res.replication_factor, 2);
    env_commit(e);
    const struct bk_md_topic *t = bk_md_image_topic(e->img, "manual", 6);
    assert_memory_equal(bk_md_topic_partition(t, 0)->replicas, p0, 8);
    assert_memory_equal(bk_md_topic_partition(t, 1)->replicas, p1, 8);
    assert_int_equal(bk_md_topic_partition(t, 1)->leader, 2);

    /* Kafka 4.1's answers, observed on a Kafka 4.1 broker (the size
     * mismatch needs two brokers and follows Kafka's rule). */
    const int32_t dup[] = { 1, 1 };
    const int32_t unknown[] = { 1, 9 };
    const int32_t unknown_twice[] = { 9, 9 };
    const int32_t three[] = { 1, 2, 3 };
    const char *empty =
        "The manual partition assignment includes an empty "
        "replica list.";
    const char *gap =
        "partitions should be a consecutive 0-based integer "
        "sequence";
    const char *no9 =
        "The manual partition assignment includes broker 9, but "
        "no such broker is registered.";
    struct {
        struct bk_md_replicas a[2];
        size_t n;
        int32_t parts;
        int16_t rf;
        int16_t code;
        const char *msg;
    } bad[] = {
        { { { 0, 2, p0 } },
          1,
          3,
          -1,
          42,
          "A manual partition assignment was specified, but numPartitions "
          "was not set to -1." },
        { { { 0, 2, p0 } },
          1,
          3,
          2,
          42,
          "A manual partition assignment was specified, but replication "
          "factor was not set to -1." },
        { { { 1, 2, p0 } }, 1, -1, -1, 39, gap },
        { { { -1, 2, p0 } }, 1, -1, -1, 39, gap },
        { { { 0, 2, p0 }, { 0, 2, p1 } },
          2,
          -1,
          -1,
          39,
          "Found multiple manual partition assignments for partition 0" },
        { { { 0, 2, dup } },
          1,
          -1,
          -1,
          39,
          "The manual partition assignment includes the broker 1 more than "
          "once." },
        { { { 0, 2, unknown } }, 1, -1, -1, 39, no9 },
        { { { 0, 2, unknown_twice } }, 1, -1, -1, 39, no9 },
        /* The ids are checked after every replica list. */
        { { { 2, 2, p0 }, { 0, 2, unknown } }, 2, -1, -1, 39, no9 },
        { { { 0, 2, p0 }, { 1, 3, three } },
          2,
          -1,
          -1,
          39,
          "The manual partition assignment includes a partition with 3 "
          "replica(s), but this is not consistent with previous partitions, "
          "which have 2 replica(s)." },
        { { { 0, 0, p0 } }, 1, -1, -1, 39, empty },
        { { { 0, 2, p0 }, { 1, 0, p0 } }, 2, -1, -1, 39, empty },
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct bk_md_topic_spec b = {
            bk_str_c("m2"), bad[i].parts, bad[i].rf, 0,
            NULL,           bad[i].n,     bad[i].a,
        };
        assert_int_equal(bk_md_op_create_topic(e->img, &b, &e->defs, &e->rng,
                                               &e->recs, NULL, e->msg),
                         bad[i].code);
        assert_string_equal(e->msg, bad[i].msg);
        assert_int_equal(e->recs.n, 0);
    }
}

static void test_manual_partitions(void **state)
{
    struct env *e = *state;
    struct bk_md_topic_spec spec = { bk_str_c("g"), 1, 2, 0, NULL, 0, NULL };
    assert_int_equal(bk_md_op_create_topic(e->img, &spec, &e->defs, &e->rng,
                                           &e->recs, NULL, e->msg),
                     0);
    env_commit(e);
    const int32_t a[] = { 3, 2 };
    const int32_t b[] = { 2, 1 };
    const int32_t one[] = { 1 };
    const int32_t dup[] = { 2, 2 };
    /* Kafka 4.1's answers, observed on a Kafka 4.1 broker. */
    struct bk_md_replicas two[] = { { 0, 2, a }, { 0, 2, b } };
    assert_int_equal(bk_md_op_create_partitions(e->img, "g", 1, 4, two, 2,
                                                &e->rng, &e->recs, e->msg),
                     39);
    assert_string_equal(e->msg,
                        "Attempted to add 3 additional partition(s), "
                        "but only 2 assignment(s) were specified.");
    assert_int_equal(bk_md_op_create_partitions(e->img, "g", 1, 2, two, 0,
                                                &e->rng, &e->recs, e->msg),
                     39);
    assert_string_equal(e->msg,
                        "Attempted to add 1 additional partition(s), "
                        "but only 0 assignment(s) were specified.");
    struct bk_md_replicas bad[] = { { 0, 2, dup } };
    assert_int_equal(bk_md_op_create_partitions(e->img, "g", 1, 2, bad, 1,
                                                &e->rng, &e->recs, e->msg),
                     39);
    assert_string_equal(e->msg,
                        "The manual partition assignment includes "
                        "the broker 2 more than once.");
    struct bk_md_replicas small[] = { { 0, 1, one } };
    assert_int_equal(bk_md_op_create_partitions(e->img, "g", 1, 2, small, 1,
                                                &e->rng, &e->recs, e->msg),
                     39);
    assert_int_equal(bk_md_op_create_partitions(e->img, "g", 1, 1, two, 0,
                                                &e->rng, &e->recs, e->msg),
                     37);
    assert_string_equal(e->msg, "Topic already has 1 partition(s).");
    assert_int_equal(bk_md_op_create_partitions(e->img, "g", 1, 0, NULL, 0,
                                                &e->rng, &e->recs, e->msg),
                     37);
    assert_string_equal(e->msg,
                        "The topic g currently has 1 partition(s); 0 "
                        "would not be an increase.");
    assert_int_equal(e->recs.n, 0);
    assert_int_equal(bk_md_op_create_partitions(e->img, "g", 1, 3, two, 2,
                                                &e->rng, &e->recs, e->msg),
                     0);
    env_commit(e);
    const struct bk_md_topic *t = bk_md_image_topic(e->img, "g", 1);
    assert_int_equal(t->n_partitions, 3);
    assert_memory_equal(bk_md_topic_partition(t, 1)->replicas, a, 8);
    assert_memory_equal(bk_md_topic_partition(t, 2)->replicas, b, 8);
    assert_int_equal(bk_md_topic_partition(t, 2)->leader, 2);
}

static void test_change_partition_and_fence(void **state)
{
    struct env *e = *state;
    struct bk_md_topic_spec spec = { bk_str_c("p"), 1, 3, 0, NULL, 0, NULL };
    struct bk_md_create_result res;
    assert_int_equal(bk_md_op_create_topic(e->img, &spec, &e->defs, &e->rng,
                                           &e->recs, &res, e->msg),
                     0);
    env_commit(e);
    const struct bk_md_partition *p =
        bk_md_topic_partition(bk_md_image_topic(e->img, "p", 1), 0);
    int32_t leader = p->leader;
    int32_t other = p->replicas[1];
    /* Shrink the ISR, same leader: partition epoch only. */
    int32_t isr1[] = { leader, other };
    assert_int_equal(
        bk_md_op_change_partition(e->img, &res.topic_id, 0, 0, leader, isr1, 2,
                                  &e->recs, e->msg),
        0);
    env_commit(e);
    p = bk_md_topic_partition(bk_md_image_topic(e->img, "p", 1), 0);
    assert_int_equal(p->n_isr, 2);
    assert_int_equal(p->leader_epoch, 0);
    assert_int_equal(p->partition_epoch, 1);
    /* Stale epoch. */
    assert_int_equal(
        bk_md_op_change_partition(e->img, &res.topic_id, 0, 0, leader, isr1, 2,
                                  &e->recs, e->msg),
        95);
    /* New leader: both epochs. */
    int32_t isr2[] = { other };
    assert_int_equal(
        bk_md_op_change_partition(e->img, &res.topic_id, 0, 1, other, isr2, 1,
                                  &e->recs, e->msg),
        0);
    env_commit(e);
    p = bk_md_topic_partition(bk_md_image_topic(e->img, "p", 1), 0);
    assert_int_equal(p->leader, other);
    assert_int_equal(p->leader_epoch, 1);
    assert_int_equal(p->partition_epoch, 2);
    /* Ineligible: leader outside ISR, non-replica, duplicates. */
    int32_t bad1[] = { 9 };
    int32_t bad2[] = { other, other };
    assert_int_equal(
        bk_md_op_change_partition(e->img, &res.topic_id, 0, 2, leader, isr2, 1,
                                  &e->recs, e->msg),
        107);
    assert_int_equal(bk_md_op_change_partition(e->img, &res.topic_id, 0, 2, -1,
                                               bad1, 1, &e->recs, e->msg),
                     107);
    assert_int_equal(
        bk_md_op_change_partition(e->img, &res.topic_id, 0, 2, other, bad2, 2,
                                  &e->recs, e->msg),
        107);
    assert_int_equal(
        bk_md_op_change_partition(e->img, &res.topic_id, 5, 2, other, isr2, 1,
                                  &e->recs, e->msg),
        3);
    struct bk_uuid zero = { { 0 } };
    assert_int_equal(bk_md_op_change_partition(e->img, &zero, 0, 2, other, isr2,
                                               1, &e->recs, e->msg),
                     100);
    assert_int_equal(e->recs.n, 0);

    /* Fencing: fenced brokers get no new replicas. */
    assert_int_equal(
        bk_md_op_broker_change(e->img, 3, BK_MD_FENCE, false, &e->recs, e->msg),
        0);
    assert_int_equal(
        bk_md_op_broker_change(e->img, 7, BK_MD_FENCE, false, &e->recs, e->msg),
        8);
    env_commit(e);
    assert_true(bk_md_image_broker(e->img, 3)->fenced);
    assert_string_equal(bk_md_image_broker(e->img, 3)->rack, "c");
    assert_int_equal(bk_md_image_live_brokers(e->img), 2);
    struct bk_md_topic_spec q = { bk_str_c("q"), 4, 2, 0, NULL, 0, NULL };
    assert_int_equal(bk_md_op_create_topic(e->img, &q, &e->defs, &e->rng,
                                           &e->recs, NULL, e->msg),
                     0);
    env_commit(e);
    const struct bk_md_topic *qt = bk_md_image_topic(e->img, "q", 1);
    for (int i = 0; i < 4; i++) {
        const struct bk_md_partition *pp = bk_md_topic_partition(qt, i);
        assert_int_not_equal(pp->replicas[0], 3);
        assert_int_not_equal(pp->replicas[1], 3);
    }
    struct bk_md_topic_spec q3 = { bk_str_c("q3"), 1, 3, 0, NULL, 0, NULL };
    assert_int_equal(bk_md_op_create_topic(e->img, &q3, &e->defs, &e->rng,
                                           &e->recs, NULL, e->msg),
                     38);
}

static const struct bk_md_partition *part_of(struct env *e,
                                             const char *topic,
                                             int32_t p)
{
    const struct bk_md_topic *t =
        bk_md_image_topic(e->img, topic, strlen(topic));
    assert_non_null(t);
    return bk_md_topic_partition(t, p);
}

/* Issue 12: a registration starts fenced, a retry of the same incarnation
 * gets its epoch back, another cluster id is refused; fencing moves
 * leaders to live in-sync replicas or leaves the partition leaderless, and
 * unfencing takes the leaderless ones back. */
static void test_membership(void **state)
{
    struct env *e = *state;
    struct bk_md_registration reg = { .id = 9,
                                      .incarnation = { { 1, 2, 3 } },
                                      .cluster_id = "abc",
                                      .host = "127.0.0.1",
                                      .port = 9099,
                                      .fenced = true };
    int64_t epoch = -1;
    assert_int_equal(bk_md_op_register(e->img, &reg, &e->recs, &epoch, e->msg),
                     0);
    assert_int_equal(epoch, e->img->offset);
    env_commit(e);
    assert_string_equal(e->img->cluster_id, "abc");
    assert_true(bk_md_image_broker(e->img, 9)->fenced);
    int64_t again = -1;
    assert_int_equal(bk_md_op_register(e->img, &reg, &e->recs, &again, e->msg),
                     0);
    assert_int_equal(again, epoch);
    assert_int_equal(e->recs.n, 0);
    reg.cluster_id = "other";
    reg.incarnation.b[0] = 9;
    assert_int_equal(bk_md_op_register(e->img, &reg, &e->recs, &again, e->msg),
                     104);
    assert_string_equal(e->msg,
                        "Expected cluster ID abc, but got cluster ID other.");
    assert_int_equal(e->recs.n, 0);

    /* Two partitions: "solo" on broker 2 alone, "pair" led by 2 with 1. */
    const int32_t solo[] = { 2 }, pair[] = { 2, 1 };
    struct bk_md_replicas a1 = { 0, 1, solo }, a2 = { 0, 2, pair };
    struct bk_md_topic_spec s1 = { bk_str_c("solo"), -1, -1, 0, NULL, 1, &a1 };
    struct bk_md_topic_spec s2 = { bk_str_c("pair"), -1, -1, 0, NULL, 1, &a2 };
    assert_int_equal(bk_md_op_create_topic(e->img, &s1, &e->defs, &e->rng,
                                           &e->recs, NULL, e->msg),
                     0);
    assert_int_equal(bk_md_op_create_topic(e->img, &s2, &e->defs, &e->rng,
                                           &e->recs, NULL, e->msg),
                     0);
    env_commit(e);
    assert_int_equal(part_of(e, "pair", 0)->n_isr, 2); /* both, empty */
    assert_int_equal(bk_md_led_partitions(e->img, 2), 2);
    assert_int_equal(
        bk_md_op_broker_change(e->img, 2, BK_MD_FENCE, false, &e->recs, e->msg),
        0);
    env_commit(e);
    assert_true(bk_md_image_broker(e->img, 2)->fenced);
    assert_int_equal(part_of(e, "solo", 0)->leader, -1);
    /* ELR is on (a new log): the ISR empties, the last member is
     * eligible (KIP-966). */
    assert_int_equal(part_of(e, "solo", 0)->n_isr, 0);
    assert_int_equal(part_of(e, "solo", 0)->n_elr, 1);
    assert_int_equal(part_of(e, "solo", 0)->elr[0], 2);
    assert_int_equal(part_of(e, "solo", 0)->leader_epoch, 1);
    assert_int_equal(part_of(e, "pair", 0)->leader, 1);
    assert_int_equal(part_of(e, "pair", 0)->n_isr, 1);
    assert_int_equal(bk_md_led_partitions(e->img, 2), 0);

    assert_int_equal(bk_md_op_broker_change(e->img, 2, BK_MD_UNFENCE, false,
                                            &e->recs, e->msg),
                     0);
    env_commit(e);
    assert_false(bk_md_image_broker(e->img, 2)->fenced);
    assert_int_equal(part_of(e, "solo", 0)->leader, 2);
    assert_int_equal(part_of(e, "solo", 0)->leader_epoch, 2);
    assert_int_equal(part_of(e, "solo", 0)->n_isr, 1); /* itself */
    assert_int_equal(part_of(e, "solo", 0)->n_elr, 0);
    assert_int_equal(part_of(e, "pair", 0)->leader, 1); /* not in the ISR */

    /* A controlled shutdown leaves the broker unfenced, leading nothing. */
    assert_int_equal(bk_md_op_broker_change(e->img, 2, BK_MD_SHUT_DOWN, false,
                                            &e->recs, e->msg),
                     0);
    env_commit(e);
    assert_true(bk_md_image_broker(e->img, 2)->in_controlled_shutdown);
    assert_false(bk_md_image_broker(e->img, 2)->fenced);
    assert_int_equal(bk_md_led_partitions(e->img, 2), 0);

    /* Controller endpoints: written when new or changed, else nothing. */
    struct bk_uuid inc = { { 5 } };
    assert_int_equal(bk_md_op_register_controller(e->img, 1, &inc, "h", 7,
                                                  "abc", &e->recs, e->msg),
                     0);
    assert_int_equal(e->recs.n, 1);
    env_commit(e);
    assert_int_equal(bk_md_image_controller(e->img, 1)->port, 7);
    assert_int_equal(bk_md_op_register_controller(e->img, 1, &inc, "h", 7,
                                                  "abc", &e->recs, e->msg),
                     0);
    assert_int_equal(e->recs.n, 0);
    assert_int_equal(bk_md_op_register_controller(e->img, 1, &inc, "h", 7,
                                                  "zzz", &e->recs, e->msg),
                     104);
}

static int16_t update1(struct env *e, const char *name, int16_t level, int8_t t)
{
    struct bk_md_feature_update u = { bk_str_c(name), level, t };
    return bk_md_op_update_features(e->img, 1, &u, 1, &e->recs, e->msg);
}

/* The first registration finalized the initial levels; UpdateFeatures
 * validates as Kafka 4.1 does and writes only changed levels. */
static void test_update_features(void **state)
{
    struct env *e = *state;
    assert_true(e->img->features_finalized);
    assert_int_equal(e->img->features[BK_MD_FEAT_METADATA], 7);
    assert_int_equal(e->img->features[BK_MD_FEAT_GROUP], 1);
    assert_int_equal(e->img->features[BK_MD_FEAT_TXN], 2);
    assert_int_equal(e->img->features[BK_MD_FEAT_ELR], 1);
    /* A later registration writes no feature records. */
    int64_t epoch;
    assert_int_equal(bk_md_op_register_broker(e->img, 4, "h", 1, NULL, &e->recs,
                                              &epoch, e->msg),
                     0);
    assert_int_equal(e->recs.n, 1);
    bk_md_recs_init(&e->recs, &e->arena);

    assert_int_equal(update1(e, "foo", 1, BK_MD_UPGRADE), 95);
    assert_string_equal(e->msg,
                        "The update failed for all features since the "
                        "following feature had an error: Invalid update "
                        "version 1 for feature foo. Local controller 1 does "
                        "not support this feature.");
    assert_int_equal(update1(e, "metadata.version", 8, BK_MD_UPGRADE), 95);
    assert_non_null(strstr(e->msg, "only supports versions 7-7"));
    assert_int_equal(update1(e, "group.version", 0, BK_MD_UPGRADE), 95);
    assert_non_null(strstr(e->msg, "Can't downgrade the version"));
    assert_int_equal(update1(e, "group.version", -1, BK_MD_SAFE_DOWNGRADE), 95);
    assert_non_null(strstr(e->msg, "cannot be less than 0"));
    assert_int_equal(update1(e, "group.version", 1, 4), 95);
    assert_non_null(strstr(e->msg, "given upgrade type"));
    assert_int_equal(e->recs.n, 0);
    /* Unchanged: valid, nothing to write. */
    assert_int_equal(update1(e, "group.version", 1, BK_MD_UPGRADE), 0);
    assert_int_equal(e->recs.n, 0);
    /* One bad update fails the request and appends nothing. */
    struct bk_md_feature_update two[] = {
        { bk_str_c("group.version"), 0, BK_MD_SAFE_DOWNGRADE },
        { bk_str_c("kraft.version"), 1, BK_MD_UPGRADE },
    };
    assert_int_equal(
        bk_md_op_update_features(e->img, 1, two, 2, &e->recs, e->msg), 95);
    assert_int_equal(e->recs.n, 0);
    assert_int_equal(update1(e, "group.version", 0, BK_MD_UNSAFE_DOWNGRADE), 0);
    assert_int_equal(e->recs.n, 1);
    env_commit(e);
    assert_int_equal(e->img->features[BK_MD_FEAT_GROUP], 0);
    assert_int_equal(update1(e, "group.version", 1, BK_MD_SAFE_DOWNGRADE), 95);
    assert_non_null(strstr(e->msg, "Can't downgrade to a newer version."));
    assert_int_equal(update1(e, "group.version", 1, BK_MD_UPGRADE), 0);
    env_commit(e);
    assert_int_equal(e->img->features[BK_MD_FEAT_GROUP], 1);
}

/* A log that holds topics before its features are finalized predates
 * feature records: it keeps eligible.leader.replicas.version at 0, as a
 * Kafka cluster upgraded in place does; the other initial levels apply. */
static void test_bootstrap_old_log_no_elr(void **state)
{
    (void)state;
    struct bk_md_image *empty = bk_md_image_new();
    assert_non_null(empty);
    struct bk_md_rec t = { .type = BK_MD_REC_TOPIC };
    t.u.topic.name = bk_str_c("old");
    t.u.topic.id.b[0] = 9;
    struct bk_md_image *img;
    assert_int_equal(bk_md_image_apply(empty, &t, 1, NULL, &img), 0);
    struct bk_arena arena;
    bk_arena_init(&arena, 4096, 0);
    struct bk_md_recs recs;
    bk_md_recs_init(&recs, &arena);
    assert_int_equal(bk_md_op_bootstrap_features(img, &recs), 0);
    assert_int_equal(recs.n, BK_MD_N_FEATURES);
    struct bk_md_image *next;
    assert_int_equal(bk_md_image_apply(img, recs.v, recs.n, NULL, &next), 0);
    assert_int_equal(next->features[BK_MD_FEAT_ELR], 0);
    assert_int_equal(next->features[BK_MD_FEAT_TXN], 2);
    /* On an empty log ELR is finalized at 1. */
    bk_md_recs_init(&recs, &arena);
    assert_int_equal(bk_md_op_bootstrap_features(empty, &recs), 0);
    struct bk_md_image *fresh;
    assert_int_equal(bk_md_image_apply(empty, recs.v, recs.n, NULL, &fresh), 0);
    assert_int_equal(fresh->features[BK_MD_FEAT_ELR], 1);
    bk_md_image_release(fresh);
    bk_md_image_release(next);
    bk_md_image_release(img);
    bk_md_image_release(empty);
    bk_arena_destroy(&arena);
}

static void test_random_uuid(void **state)
{
    (void)state;
    struct bk_uuid a = bk_md_random_uuid(bk_md_rng_system());
    struct bk_uuid b = bk_md_random_uuid(bk_md_rng_system());
    assert_memory_not_equal(a.b, b.b, 16);
    assert_int_equal(a.b[6] >> 4, 4);
    assert_int_equal(a.b[8] >> 6, 2);
    assert_int_not_equal(a.b[0] >> 2, 62);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_topic_names),
        cmocka_unit_test(test_topic_configs),
        cmocka_unit_test_setup_teardown(test_create_topic, setup, teardown),
        cmocka_unit_test_setup_teardown(test_delete_and_partitions, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_alter_configs, setup, teardown),
        cmocka_unit_test_setup_teardown(test_producer_ids_and_registration,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_manual_partitions, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_manual_assignment, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_change_partition_and_fence, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_update_features, setup, teardown),
        cmocka_unit_test_setup_teardown(test_membership, setup, teardown),
        cmocka_unit_test(test_bootstrap_old_log_no_elr),
        cmocka_unit_test(test_random_uuid),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
