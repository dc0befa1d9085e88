/* Records, image and state machine: encode/decode round trips, apply
 * sequences, conflicts, copy-on-write, snapshot/restore and determinism, and
 * the lock-free publication under concurrent readers. */
// clang-format off
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
// clang-format on
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "cluster/fsm.h"
#include "cluster/image.h"
#include "cluster/records.h"
#include "common/arena.h"
#include "common/diag.h"
#include "common/err.h"
#include "common/heap.h"

static struct bk_uuid uuid_of(uint8_t seed)
{
    struct bk_uuid u;
    for (int i = 0; i < 16; i++) {
        u.b[i] = (uint8_t)(seed * 31 + i);
    }
    return u;
}

static struct bk_md_rec broker_rec(int32_t id, const char *rack)
{
    struct bk_md_rec r = { .type = BK_MD_REC_BROKER };
    r.u.broker.id = id;
    r.u.broker.epoch = 10 + id;
    r.u.broker.host = bk_str_c("127.0.0.1");
    r.u.broker.port = 9092 + id;
    r.u.broker.rack = bk_str_c(rack);
    r.u.broker.incarnation.b[3] = (uint8_t)id;
    r.u.broker.in_controlled_shutdown = id == 2;
    return r;
}

static struct bk_md_rec controller_rec(int32_t id, int32_t port)
{
    struct bk_md_rec r = { .type = BK_MD_REC_CONTROLLER };
    r.u.controller.id = id;
    r.u.controller.incarnation.b[0] = (uint8_t)port;
    r.u.controller.host = bk_str_c("127.0.0.1");
    r.u.controller.port = port;
    return r;
}

static struct bk_md_rec cluster_rec(const char *id)
{
    struct bk_md_rec r = { .type = BK_MD_REC_CLUSTER };
    r.u.cluster.cluster_id = bk_str_c(id);
    return r;
}

static struct bk_md_rec acl_rec(uint8_t seed,
                                const char *topic,
                                int pattern,
                                const char *principal,
                                int op,
                                int perm)
{
    struct bk_md_rec r = { .type = BK_MD_REC_ACL };
    r.u.acl.id.b[0] = seed;
    r.u.acl.res_type = BK_ACL_RES_TOPIC;
    r.u.acl.name = bk_str_c(topic);
    r.u.acl.pattern = (int8_t)pattern;
    r.u.acl.principal = bk_str_c(principal);
    r.u.acl.host = bk_str_c("*");
    r.u.acl.op = (int8_t)op;
    r.u.acl.perm = (int8_t)perm;
    return r;
}

static struct bk_md_rec remove_acl_rec(uint8_t seed)
{
    struct bk_md_rec r = { .type = BK_MD_REC_REMOVE_ACL };
    r.u.remove_acl.id.b[0] = seed;
    return r;
}

static struct bk_md_rec topic_rec(const char *name, uint8_t seed)
{
    struct bk_md_rec r = { .type = BK_MD_REC_TOPIC };
    r.u.topic.name = bk_str_c(name);
    r.u.topic.id = uuid_of(seed);
    return r;
}

static const int32_t R123[] = { 1, 2, 3 };
static const int32_t R231[] = { 2, 3, 1 };
static const int32_t ELR3[] = { 3 };

static struct bk_md_rec part_rec(uint8_t seed,
                                 int32_t p,
                                 int32_t leader,
                                 int32_t epoch)
{
    struct bk_md_rec r = { .type = BK_MD_REC_PARTITION };
    r.u.partition.topic_id = uuid_of(seed);
    r.u.partition.partition = p;
    r.u.partition.replicas = (p % 2) ? R231 : R123;
    r.u.partition.n_replicas = 3;
    r.u.partition.isr = (p % 2) ? R231 : R123;
    r.u.partition.n_isr = 2;
    r.u.partition.leader = leader;
    r.u.partition.leader_epoch = epoch;
    r.u.partition.partition_epoch = epoch;
    r.u.partition.leader_recovery_state = (int8_t)(p % 2);
    /* Odd partitions carry KIP-966's lists (record version 3). */
    r.u.partition.n_elr = p % 2;
    r.u.partition.elr = (p % 2) ? ELR3 : NULL;
    r.u.partition.n_last_known_elr = p % 2;
    r.u.partition.last_known_elr = (p % 2) ? R231 : NULL;
    return r;
}

static struct bk_md_rec config_rec(int8_t type,
                                   const char *res,
                                   const char *name,
                                   const char *value)
{
    struct bk_md_rec r = { .type = BK_MD_REC_CONFIG };
    r.u.config.resource_type = type;
    r.u.config.resource = bk_str_c(res);
    r.u.config.name = bk_str_c(name);
    r.u.config.value = bk_str_c(value);
    return r;
}

static struct bk_md_rec remove_rec(uint8_t seed)
{
    struct bk_md_rec r = { .type = BK_MD_REC_REMOVE_TOPIC };
    r.u.remove_topic.topic_id = uuid_of(seed);
    return r;
}

static struct bk_md_rec pid_rec(int64_t first, int32_t count)
{
    struct bk_md_rec r = { .type = BK_MD_REC_PRODUCER_IDS };
    r.u.producer_ids.broker_id = 1;
    r.u.producer_ids.broker_epoch = 11;
    r.u.producer_ids.first_id = first;
    r.u.producer_ids.count = count;
    return r;
}

static struct bk_md_rec feature_rec(const char *name, int16_t level)
{
    struct bk_md_rec r = { .type = BK_MD_REC_FEATURE };
    r.u.feature.name = bk_str_c(name);
    r.u.feature.level = level;
    return r;
}

/* Encodes recs as one entry with bk_malloc. */
static void *entry(const struct bk_md_rec *recs, size_t n, size_t *len)
{
    void *buf;
    assert_int_equal(bk_md_batch_encode(recs, n, bk_malloc, &buf, len), 0);
    return buf;
}

static void apply_entry(struct bk_md_fsm *f,
                        const struct bk_md_rec *recs,
                        size_t n)
{
    size_t len;
    void *buf = entry(recs, n, &len);
    assert_int_equal(bk_md_fsm_apply_entry(f, buf, len), 0);
    bk_free(buf);
}

static void assert_rec_equal(const struct bk_md_rec *a,
                             const struct bk_md_rec *b)
{
    assert_int_equal(a->type, b->type);
    switch (a->type) {
        case BK_MD_REC_BROKER:
            assert_int_equal(a->u.broker.id, b->u.broker.id);
            assert_int_equal(a->u.broker.epoch, b->u.broker.epoch);
            assert_true(bk_str_eq(a->u.broker.host, b->u.broker.host));
            assert_int_equal(a->u.broker.port, b->u.broker.port);
            assert_true(bk_str_eq(a->u.broker.rack, b->u.broker.rack));
            assert_int_equal(a->u.broker.fenced, b->u.broker.fenced);
            assert_memory_equal(a->u.broker.incarnation.b,
                                b->u.broker.incarnation.b, 16);
            assert_int_equal(a->u.broker.in_controlled_shutdown,
                             b->u.broker.in_controlled_shutdown);
            break;
        case BK_MD_REC_CLUSTER:
            assert_true(
                bk_str_eq(a->u.cluster.cluster_id, b->u.cluster.cluster_id));
            break;
        case BK_MD_REC_CONTROLLER:
            assert_int_equal(a->u.controller.id, b->u.controller.id);
            assert_memory_equal(a->u.controller.incarnation.b,
                                b->u.controller.incarnation.b, 16);
            assert_true(bk_str_eq(a->u.controller.host, b->u.controller.host));
            assert_int_equal(a->u.controller.port, b->u.controller.port);
            break;
        case BK_MD_REC_TOPIC:
            assert_true(bk_str_eq(a->u.topic.name, b->u.topic.name));
            assert_memory_equal(a->u.topic.id.b, b->u.topic.id.b, 16);
            break;
        case BK_MD_REC_PARTITION: {
            const struct bk_md_partition_rec *x = &a->u.partition;
            const struct bk_md_partition_rec *y = &b->u.partition;
            assert_memory_equal(x->topic_id.b, y->topic_id.b, 16);
            assert_int_equal(x->partition, y->partition);
            assert_int_equal(x->n_replicas, y->n_replicas);
            assert_memory_equal(x->replicas, y->replicas,
                                4 * (size_t)x->n_replicas);
            assert_int_equal(x->n_isr, y->n_isr);
            assert_memory_equal(x->isr, y->isr, 4 * (size_t)x->n_isr);
            assert_int_equal(x->leader, y->leader);
            assert_int_equal(x->leader_epoch, y->leader_epoch);
            assert_int_equal(x->partition_epoch, y->partition_epoch);
            assert_int_equal(x->leader_recovery_state,
                             y->leader_recovery_state);
            assert_int_equal(x->n_elr, y->n_elr);
            if (x->n_elr > 0) {
                assert_memory_equal(x->elr, y->elr, 4 * (size_t)x->n_elr);
            }
            assert_int_equal(x->n_last_known_elr, y->n_last_known_elr);
            if (x->n_last_known_elr > 0) {
                assert_memory_equal(x->last_known_elr, y->last_known_elr,
                                    4 * (size_t)x->n_last_known_elr);
            }
            break;
        }
        case BK_MD_REC_CONFIG:
            assert_int_equal(a->u.config.resource_type,
                             b->u.config.resource_type);
            assert_true(bk_str_eq(a->u.config.resource, b->u.config.resource));
            assert_true(bk_str_eq(a->u.config.name, b->u.config.name));
            assert_true(bk_str_eq(a->u.config.value, b->u.config.value));
            break;
        case BK_MD_REC_REMOVE_TOPIC:
            assert_memory_equal(a->u.remove_topic.topic_id.b,
                                b->u.remove_topic.topic_id.b, 16);
            break;
        case BK_MD_REC_PRODUCER_IDS:
            assert_memory_equal(&a->u.producer_ids, &b->u.producer_ids,
                                sizeof(a->u.producer_ids));
            break;
        case BK_MD_REC_FEATURE:
            assert_true(bk_str_eq(a->u.feature.name, b->u.feature.name));
            assert_int_equal(a->u.feature.level, b->u.feature.level);
            break;
        case BK_MD_REC_ACL: {
            const struct bk_md_acl_rec *x = &a->u.acl;
            const struct bk_md_acl_rec *y = &b->u.acl;
            assert_memory_equal(x->id.b, y->id.b, 16);
            assert_int_equal(x->res_type, y->res_type);
            assert_true(bk_str_eq(x->name, y->name));
            assert_int_equal(x->pattern, y->pattern);
            assert_true(bk_str_eq(x->principal, y->principal));
            assert_true(bk_str_eq(x->host, y->host));
            assert_int_equal(x->op, y->op);
            assert_int_equal(x->perm, y->perm);
            break;
        }
        case BK_MD_REC_REMOVE_ACL:
            assert_memory_equal(a->u.remove_acl.id.b, b->u.remove_acl.id.b, 16);
            break;
        default:
            fail();
    }
}

static void test_records_roundtrip(void **state)
{
    (void)state;
    struct bk_md_rec recs[] = {
        broker_rec(1, "r1"),
        broker_rec(2, NULL),
        topic_rec("orders", 1),
        part_rec(1, 0, 1, 0),
        part_rec(1, 1, 2, 5),
        config_rec(BK_MD_RES_TOPIC, "orders", "retention.ms", "1000"),
        config_rec(BK_MD_RES_TOPIC, "orders", "segment.ms", NULL),
        remove_rec(1),
        pid_rec(0, 1000),
        feature_rec("group.version", 1),
        cluster_rec("MkU3OEVBNTcwNTJENDM2Qk"),
        controller_rec(3, 9093),
        acl_rec(4, "orders", BK_ACL_PAT_PREFIXED, "User:CN=a", BK_ACL_OP_READ,
                BK_ACL_PERM_ALLOW),
        remove_acl_rec(4),
    };
    size_t n = sizeof(recs) / sizeof(recs[0]);
    size_t len;
    void *buf = entry(recs, n, &len);
    struct bk_arena arena;
    bk_arena_init(&arena, 4096, 0);
    struct bk_md_rec *out;
    size_t n_out;
    assert_int_equal(bk_md_batch_decode(buf, len, &arena, &out, &n_out), 0);
    assert_int_equal(n_out, n);
    for (size_t i = 0; i < n; i++) {
        assert_rec_equal(&recs[i], &out[i]);
    }
    /* Every strict prefix is rejected cleanly (no crash, no success). */
    for (size_t cut = 0; cut < len; cut++) {
        bk_arena_reset(&arena);
        assert_int_not_equal(bk_md_batch_decode(buf, cut, &arena, &out, &n_out),
                             0);
    }
    /* Trailing garbage is rejected too. */
    uint8_t *big = bk_malloc(len + 1);
    memcpy(big, buf, len);
    big[len] = 0x55;
    assert_int_equal(bk_md_batch_decode(big, len + 1, &arena, &out, &n_out),
                     BK_EPROTO);
    /* Up to 7 zero bytes of raft padding are accepted, 8 are not. */
    uint8_t *pad = bk_calloc(1, len + 8);
    memcpy(pad, buf, len);
    assert_int_equal(bk_md_batch_decode(pad, len + 7, &arena, &out, &n_out), 0);
    assert_int_equal(n_out, n);
    assert_int_equal(bk_md_batch_decode(pad, len + 8, &arena, &out, &n_out),
                     BK_EPROTO);
    bk_free(pad);
    /* An unknown batch format or record type is unsupported. */
    big[0] = 9;
    assert_int_equal(bk_md_batch_decode(big, len, &arena, &out, &n_out),
                     BK_EUNSUPPORTED);
    bk_free(big);
    uint8_t unknown[] = { BK_MD_BATCH_FORMAT, 1, 99, 0, 0 };
    assert_int_equal(
        bk_md_batch_decode(unknown, sizeof(unknown), &arena, &out, &n_out),
        BK_EUNSUPPORTED);
    assert_string_equal(bk_md_rec_type_name(BK_MD_REC_PARTITION), "partition");
    bk_arena_destroy(&arena);
    bk_free(buf);
}

/* Feature records set the finalized levels; an unknown feature or a
 * negative level is skipped; a snapshot keeps the levels, and an image
 * without any keeps none (so a restored old log still gets bootstrapped). */
static void test_features_apply_and_snapshot(void **state)
{
    (void)state;
    struct bk_md_fsm f;
    assert_int_equal(bk_md_fsm_init(&f), 0);
    struct bk_md_image *img = bk_md_fsm_acquire(&f);
    assert_false(img->features_finalized);
    bk_md_image_release(img);
    struct bk_md_rec e1[] = {
        feature_rec("metadata.version", 7),
        feature_rec("group.version", 1),
        feature_rec("no.such.version", 3),
        feature_rec("transaction.version", -1),
        cluster_rec("c1"),
        cluster_rec("c2"), /* skipped: the id is written once */
        controller_rec(2, 9093),
        broker_rec(2, NULL),
    };
    apply_entry(&f, e1, 8);
    img = bk_md_fsm_acquire(&f);
    assert_string_equal(img->cluster_id, "c1");
    assert_int_equal(bk_md_image_controller(img, 2)->port, 9093);
    assert_null(bk_md_image_controller(img, 1));
    assert_true(img->features_finalized);
    assert_int_equal(img->features[BK_MD_FEAT_METADATA], 7);
    assert_int_equal(img->features[BK_MD_FEAT_GROUP], 1);
    assert_int_equal(img->features[BK_MD_FEAT_TXN], 0);
    assert_int_equal(img->n_skipped, 3);
    assert_int_equal(img->offset, 8);
    void *buf;
    size_t len;
    assert_int_equal(bk_md_image_snapshot(img, bk_malloc, &buf, &len), 0);
    struct bk_md_image *back;
    assert_int_equal(bk_md_image_restore(buf, len, &back), 0);
    assert_true(back->features_finalized);
    assert_memory_equal(back->features, img->features, sizeof(img->features));
    /* The snapshot keeps the cluster id, the controllers and the brokers'
     * incarnations. */
    assert_string_equal(back->cluster_id, "c1");
    assert_int_equal(bk_md_image_controller(back, 2)->incarnation.b[0],
                     9093 & 0xff);
    assert_int_equal(bk_md_image_broker(back, 2)->incarnation.b[3], 2);
    assert_true(bk_md_image_broker(back, 2)->in_controlled_shutdown);
    bk_md_image_release(back);
    bk_free(buf);
    bk_md_image_release(img);
    bk_md_fsm_close(&f);

    struct bk_md_image *empty = bk_md_image_new();
    assert_int_equal(bk_md_image_snapshot(empty, bk_malloc, &buf, &len), 0);
    assert_int_equal(bk_md_image_restore(buf, len, &back), 0);
    assert_false(back->features_finalized);
    assert_null(back->cluster_id);
    bk_md_image_release(back);
    bk_md_image_release(empty);
    bk_free(buf);
}

/* ACL records change the image's set copy-on-write: an image published
 * before keeps its ACLs; duplicates (id or binding) and invalid ACLs are
 * skipped; a snapshot keeps the set with its ids. */
static void test_acls_apply_and_snapshot(void **state)
{
    (void)state;
    struct bk_md_fsm f;
    assert_int_equal(bk_md_fsm_init(&f), 0);
    struct bk_md_rec e1[] = {
        acl_rec(1, "t", BK_ACL_PAT_LITERAL, "User:a", BK_ACL_OP_READ,
                BK_ACL_PERM_ALLOW),
        acl_rec(1, "u", BK_ACL_PAT_LITERAL, "User:a", BK_ACL_OP_READ,
                BK_ACL_PERM_ALLOW), /* same id: skipped */
        acl_rec(2, "t", BK_ACL_PAT_LITERAL, "User:a", BK_ACL_OP_READ,
                BK_ACL_PERM_ALLOW), /* same binding: skipped */
        acl_rec(3, "p-", BK_ACL_PAT_PREFIXED, "User:b", BK_ACL_OP_WRITE,
                BK_ACL_PERM_DENY),
        acl_rec(4, "t", BK_ACL_PAT_MATCH, "User:a", BK_ACL_OP_READ,
                BK_ACL_PERM_ALLOW), /* invalid: skipped */
        acl_rec(5, "t", BK_ACL_PAT_LITERAL, "nocolon", BK_ACL_OP_READ,
                BK_ACL_PERM_ALLOW), /* invalid: skipped */
    };
    apply_entry(&f, e1, 6);
    struct bk_md_image *before = bk_md_fsm_acquire(&f);
    assert_int_equal(bk_acl_set_count(before->acls), 2);
    assert_int_equal(before->n_skipped, 4);
    struct bk_md_rec e2[] = { remove_acl_rec(1), remove_acl_rec(9) };
    apply_entry(&f, e2, 2);
    struct bk_md_image *img = bk_md_fsm_acquire(&f);
    assert_int_equal(bk_acl_set_count(img->acls), 1);
    assert_int_equal(bk_acl_set_count(before->acls), 2);
    assert_int_equal(img->n_skipped, 5);
    void *buf;
    size_t len;
    assert_int_equal(bk_md_image_snapshot(before, bk_malloc, &buf, &len), 0);
    struct bk_md_image *back;
    assert_int_equal(bk_md_image_restore(buf, len, &back), 0);
    assert_int_equal(bk_acl_set_count(back->acls), 2);
    for (size_t i = 0; i < 2; i++) {
        const struct bk_acl *x = bk_acl_set_at(before->acls, i);
        const struct bk_acl *y = bk_acl_set_at(back->acls, i);
        assert_memory_equal(x->id, y->id, 16);
        assert_string_equal(x->name, y->name);
        assert_string_equal(x->principal, y->principal);
        assert_int_equal(x->perm, y->perm);
    }
    bk_md_image_release(back);
    bk_free(buf);
    bk_md_image_release(img);
    bk_md_image_release(before);
    bk_md_fsm_close(&f);
}

/* A newer writer appended a field (version 1 of remove_topic): an old
 * reader skips it; the same extra bytes at the known version are an error. */
/* Topic and resource names come off the wire as counted strings that may
 * hold NUL bytes; a lookup must neither match on the prefix before the NUL
 * nor read the stored name past its end (found by the live fuzzer). */
static void test_lookup_counted_names(void **state)
{
    (void)state;
    struct bk_md_fsm f;
    assert_int_equal(bk_md_fsm_init(&f), 0);
    struct bk_md_rec e1[] = {
        broker_rec(1, "a"),
        topic_rec("lf-a", 1),
        topic_rec("orders", 2),
        config_rec(BK_MD_RES_BROKER, "1", "log.retention.ms", "5"),
    };
    apply_entry(&f, e1, 4);
    struct bk_md_image *img = bk_md_fsm_acquire(&f);
    /* A wire name: "orders", a NUL, then trailing bytes that a stored name
     * shorter than the view must never be compared with (the old strncmp
     * read past the stored name). The trailing bytes are arbitrary. */
    static const char wire[] = "orders\0trailing-bytes-after-nul";
    char *buf = malloc(sizeof(wire));
    assert_non_null(buf);
    memcpy(buf, wire, sizeof(wire));
    assert_non_null(bk_md_image_topic(img, buf, 6));
    assert_null(bk_md_image_topic(img, buf, 7));
    assert_null(bk_md_image_topic(img, buf, sizeof(wire) - 1));
    assert_null(bk_md_image_topic(img, buf, 3));
    assert_null(bk_md_image_topic(img, "lf-a\0", 5));
    assert_non_null(bk_md_image_topic(img, "lf-a\0", 4));
    assert_null(bk_md_image_topic(img, "", 0));
    free(buf);
    bk_md_image_release(img);
    bk_md_fsm_close(&f);
}

/* A topic's partitions arrive one record each; the array must grow
 * geometrically, not by one entry per record (quadratic copying: a mutated
 * CreatePartitions to 32767 partitions took 44 s under ASan, found by the
 * live fuzzer). Counted through the heap seam: each partition allocates its
 * replicas and ISR, so growth by one needs 3 allocations a partition. */
static void test_many_partitions_grow_geometrically(void **state)
{
    (void)state;
    enum { N = 2048 };
    struct bk_md_fsm f;
    assert_int_equal(bk_md_fsm_init(&f), 0);
    struct bk_md_rec *recs = calloc(N + 1, sizeof(*recs));
    assert_non_null(recs);
    recs[0] = topic_rec("wide", 7);
    for (int32_t p = 0; p < N; p++) {
        recs[p + 1] = part_rec(7, p, 1, 0);
        /* No ELR: it is one more allocation per list. */
        recs[p + 1].u.partition.n_elr = 0;
        recs[p + 1].u.partition.n_last_known_elr = 0;
    }
    size_t len;
    void *buf = entry(recs, N + 1, &len);
    bk_heap_fault_config(N * 5 / 2, 1);
    int rv = bk_md_fsm_apply_entry(&f, buf, len);
    bk_heap_fault_config(-1, 0);
    assert_int_equal(rv, 0);
    struct bk_md_image *img = bk_md_fsm_acquire(&f);
    const struct bk_md_topic *t = bk_md_image_topic(img, "wide", 4);
    assert_non_null(t);
    assert_int_equal(t->n_partitions, N);
    assert_int_equal(bk_md_topic_partition(t, N - 1)->leader, 1);
    bk_md_image_release(img);
    bk_free(buf);
    free(recs);
    bk_md_fsm_close(&f);
}

static void test_records_forward_compat(void **state)
{
    (void)state;
    uint8_t b[1 + 1 + 3 + 16 + 2];
    size_t k = 0;
    b[k++] = BK_MD_BATCH_FORMAT;
    b[k++] = 1;
    b[k++] = BK_MD_REC_REMOVE_TOPIC;
    b[k++] = 1;  /* version 1, newer than ours */
    b[k++] = 18; /* body: uuid + 2 new bytes */
    struct bk_uuid u = uuid_of(7);
    memcpy(&b[k], u.b, 16);
    k += 16;
    b[k++] = 0xaa;
    b[k++] = 0xbb;
    struct bk_arena arena;
    bk_arena_init(&arena, 4096, 0);
    struct bk_md_rec *out;
    size_t n;
    assert_int_equal(bk_md_batch_decode(b, k, &arena, &out, &n), 0);
    assert_int_equal(n, 1);
    assert_memory_equal(out[0].u.remove_topic.topic_id.b, u.b, 16);
    assert_int_equal(out[0].version, 1);
    b[3] = 0;
    assert_int_equal(bk_md_batch_decode(b, k, &arena, &out, &n), BK_EPROTO);
    bk_arena_destroy(&arena);
}

/* A partition record of version 2 (before KIP-966) decodes with empty
 * ELR and last known ELR; version 3 carries them. */
static void test_partition_v2_has_no_elr(void **state)
{
    (void)state;
    struct bk_md_rec r = part_rec(5, 1, 2, 4);
    void *buf;
    size_t len;
    assert_int_equal(bk_md_batch_encode(&r, 1, bk_malloc, &buf, &len), 0);
    uint8_t *b = buf;
    struct bk_arena arena;
    bk_arena_init(&arena, 4096, 0);
    struct bk_md_rec *out;
    size_t n;
    assert_int_equal(b[3], BK_MD_PARTITION_VERSION);
    assert_int_equal(bk_md_batch_decode(b, len, &arena, &out, &n), 0);
    assert_int_equal(out[0].u.partition.n_elr, 1);
    assert_int_equal(out[0].u.partition.elr[0], 3);
    assert_int_equal(out[0].u.partition.n_last_known_elr, 1);
    assert_int_equal(out[0].u.partition.last_known_elr[0], 2);
    /* The same body as version 2: the two arrays (5 bytes each: a length
     * and one int32) are not there. */
    b[3] = 2;
    b[4] = (uint8_t)(b[4] - 10);
    assert_int_equal(bk_md_batch_decode(b, len - 10, &arena, &out, &n), 0);
    assert_int_equal(out[0].u.partition.n_elr, 0);
    assert_null(out[0].u.partition.elr);
    assert_int_equal(out[0].u.partition.n_last_known_elr, 0);
    assert_int_equal(out[0].u.partition.leader, 2);
    bk_arena_destroy(&arena);
    bk_free(buf);
}

static void test_apply_sequence(void **state)
{
    (void)state;
    struct bk_md_fsm f;
    assert_int_equal(bk_md_fsm_init(&f), 0);
    struct bk_md_rec e1[] = {
        broker_rec(1, "a"),
        broker_rec(2, "b"),
        broker_rec(3, NULL),
        topic_rec("orders", 1),
        part_rec(1, 0, 1, 0),
        part_rec(1, 1, 2, 0),
        config_rec(BK_MD_RES_TOPIC, "orders", "retention.ms", "1000"),
        config_rec(BK_MD_RES_BROKER, "", "log.retention.ms", "5"),
    };
    apply_entry(&f, e1, 8);
    struct bk_md_image *img = bk_md_fsm_acquire(&f);
    assert_int_equal(img->offset, 8);
    assert_int_equal(img->n_skipped, 0);
    assert_int_equal(img->n_brokers, 3);
    assert_int_equal(bk_md_image_live_brokers(img), 3);
    assert_string_equal(bk_md_image_broker(img, 1)->rack, "a");
    assert_null(bk_md_image_broker(img, 3)->rack);
    assert_null(bk_md_image_broker(img, 4));
    const struct bk_md_topic *t = bk_md_image_topic(img, "orders", 6);
    assert_non_null(t);
    assert_null(bk_md_image_topic(img, "order", 5));
    struct bk_uuid id1 = uuid_of(1);
    assert_ptr_equal(bk_md_image_topic_by_id(img, &id1), t);
    assert_int_equal(t->n_partitions, 2);
    assert_int_equal(bk_md_topic_partition(t, 1)->leader, 2);
    assert_null(bk_md_topic_partition(t, 2));
    assert_string_equal(bk_md_configs_get(&t->configs, "retention.ms"), "1000");
    assert_string_equal(bk_md_configs_get(bk_md_image_broker_configs(img, ""),
                                          "log.retention.ms"),
                        "5");

    /* Conflicts are skipped deterministically and reported. */
    struct bk_md_rec e2[] = {
        topic_rec("orders", 2), /* name exists */
        topic_rec("other", 1),  /* id exists */
        part_rec(1, 5, 1, 0),   /* past the end */
        part_rec(9, 0, 1, 0),   /* unknown topic */
        config_rec(BK_MD_RES_TOPIC, "nope", "retention.ms", "1"),
        pid_rec(5, 10),       /* not at next id */
        part_rec(1, 1, 3, 1), /* fine: leader change */
        pid_rec(0, 1000),     /* fine */
        config_rec(BK_MD_RES_TOPIC, "orders", "retention.ms", NULL),
    };
    apply_entry(&f, e2, 9);
    const uint8_t want[] = { 1, 1, 1, 1, 1, 1, 0, 0, 0 };
    size_t n_flags;
    const uint8_t *flags = bk_md_fsm_skipped(&f, f.seq, &n_flags);
    assert_non_null(flags);
    assert_int_equal(n_flags, 9);
    assert_memory_equal(flags, want, 9);
    assert_null(bk_md_fsm_skipped(&f, f.seq + 1, &n_flags));
    struct bk_md_image *img2 = bk_md_fsm_acquire(&f);
    assert_int_equal(img2->offset, 17);
    assert_int_equal(img2->n_skipped, 6);
    assert_int_equal(img2->next_producer_id, 1000);
    const struct bk_md_topic *t2 = bk_md_image_topic(img2, "orders", 6);
    assert_int_equal(bk_md_topic_partition(t2, 1)->leader, 3);
    assert_null(bk_md_configs_get(&t2->configs, "retention.ms"));
    /* The old image is untouched (copy-on-write). */
    assert_int_equal(bk_md_topic_partition(t, 1)->leader, 2);
    assert_string_equal(bk_md_configs_get(&t->configs, "retention.ms"), "1000");
    assert_int_equal(img->offset, 8);

    /* Untouched topics are shared between images. */
    struct bk_md_rec e3[] = { topic_rec("zeta", 3), part_rec(3, 0, 1, 0) };
    apply_entry(&f, e3, 2);
    struct bk_md_image *img3 = bk_md_fsm_acquire(&f);
    assert_ptr_equal(bk_md_image_topic(img3, "orders", 6), t2);
    assert_int_equal(img3->n_topics, 2);

    /* Removal drops the topic by name and id, with its configs. */
    struct bk_md_rec e4[] = { remove_rec(1), remove_rec(1),
                              broker_rec(2, "c") };
    e4[2].u.broker.fenced = true;
    apply_entry(&f, e4, 3);
    struct bk_md_image *img4 = bk_md_fsm_acquire(&f);
    assert_null(bk_md_image_topic(img4, "orders", 6));
    assert_null(bk_md_image_topic_by_id(img4, &id1));
    assert_int_equal(img4->n_topics, 1);
    assert_int_equal(img4->n_skipped, 7);
    assert_int_equal(bk_md_image_live_brokers(img4), 2);
    assert_string_equal(bk_md_image_broker(img4, 2)->rack, "c");
    /* A stale registration (lower epoch) is skipped. */
    struct bk_md_rec e5[] = { broker_rec(2, "old") };
    e5[0].u.broker.epoch = 1;
    apply_entry(&f, e5, 1);
    assert_int_equal(bk_md_fsm_skipped(&f, f.seq, &n_flags)[0], 1);
    /* The flags of older entries are remembered for a while. */
    assert_int_equal(bk_md_fsm_skipped(&f, f.seq - 3, &n_flags)[5], 1);

    /* Undecodable entries are skipped whole, not fatal. */
    uint8_t junk[] = { 77, 1, 2 };
    assert_int_equal(bk_md_fsm_apply_entry(&f, junk, sizeof(junk)), 0);
    assert_int_equal(f.n_bad_entries, 1);

    bk_md_image_release(img);
    bk_md_image_release(img2);
    bk_md_image_release(img3);
    bk_md_image_release(img4);
    bk_md_fsm_close(&f);
}

/* A pseudo-random but reproducible workload. */
static void feed(struct bk_md_fsm *f, unsigned seed, int from, int to)
{
    char names[8][16];
    for (int i = 0; i < 8; i++) {
        snprintf(names[i], sizeof(names[i]), "t%d.x", i);
    }
    for (int step = from; step < to; step++) {
        unsigned r = seed * 2654435761u + (unsigned)step * 40503u;
        uint8_t s = (uint8_t)(r % 8);
        struct bk_md_rec recs[4];
        size_t n = 0;
        char val[16];
        snprintf(val, sizeof(val), "%u", r % 1000);
        switch ((r >> 8) % 5) {
            case 0:
                recs[n++] = topic_rec(names[s], s);
                recs[n++] = part_rec(s, 0, 1, 0);
                break;
            case 1:
                recs[n++] = part_rec(s, (int32_t)((r >> 12) % 3),
                                     (int32_t)(r % 3) + 1, step);
                break;
            case 2:
                recs[n++] = config_rec(BK_MD_RES_TOPIC, names[s],
                                       "retention.ms", (r & 1) ? val : NULL);
                recs[n++] = config_rec(BK_MD_RES_BROKER, "1", "x", val);
                break;
            case 3:
                recs[n++] = remove_rec(s);
                break;
            default:
                recs[n++] = broker_rec((int32_t)(r % 5), (r & 2) ? "r" : NULL);
                recs[n++] = pid_rec(f->cur->next_producer_id, 1000);
                break;
        }
        apply_entry(f, recs, n);
    }
}

static void *snap(struct bk_md_fsm *f, size_t *len)
{
    struct raft_buffer *bufs;
    unsigned n;
    assert_int_equal(f->raft.snapshot(&f->raft, &bufs, &n), 0);
    assert_int_equal(n, 1);
    void *copy = bk_malloc(bufs[0].len);
    memcpy(copy, bufs[0].base, bufs[0].len);
    *len = bufs[0].len;
    assert_int_equal(f->raft.snapshot_finalize(&f->raft, &bufs, &n), 0);
    return copy;
}

static void test_snapshot_restore_determinism(void **state)
{
    (void)state;
    struct bk_md_fsm a, b, c;
    assert_int_equal(bk_md_fsm_init(&a), 0);
    assert_int_equal(bk_md_fsm_init(&b), 0);
    assert_int_equal(bk_md_fsm_init(&c), 0);
    feed(&a, 42, 0, 300);
    feed(&b, 42, 0, 150);

    /* c restores b's snapshot half way, then both get the rest. */
    size_t len;
    void *s = snap(&b, &len);
    struct raft_buffer rb = { .base = raft_malloc(len), .len = len };
    memcpy(rb.base, s, len);
    assert_int_equal(c.raft.restore(&c.raft, &rb), 0);
    bk_free(s);
    assert_int_equal(c.cur->offset, b.cur->offset);
    feed(&b, 42, 150, 300);
    feed(&c, 42, 150, 300);

    size_t la, lb, lc;
    void *sa = snap(&a, &la);
    void *sb = snap(&b, &lb);
    void *sc = snap(&c, &lc);
    assert_int_equal(la, lb);
    assert_int_equal(la, lc);
    assert_memory_equal(sa, sb, la);
    assert_memory_equal(sa, sc, la);
    assert_true(a.cur->n_topics > 0);
    assert_true(a.cur->n_skipped > 0);

    /* Restoring a snapshot and snapshotting again gives the same bytes. */
    struct bk_md_image *r;
    assert_int_equal(bk_md_image_restore(sa, la, &r), 0);
    void *again;
    size_t lr;
    assert_int_equal(bk_md_image_snapshot(r, bk_malloc, &again, &lr), 0);
    assert_int_equal(lr, la);
    assert_memory_equal(again, sa, la);
    assert_int_equal(r->next_producer_id, a.cur->next_producer_id);
    bk_free(again);
    bk_md_image_release(r);

    /* Corrupt snapshots are refused. */
    ((uint8_t *)sa)[0] ^= 1;
    assert_int_equal(bk_md_image_restore(sa, la, &r), BK_ECORRUPT);
    struct raft_buffer bad = { .base = raft_malloc(la), .len = la };
    memcpy(bad.base, sa, la);
    assert_int_not_equal(c.raft.restore(&c.raft, &bad), 0);
    raft_free(bad.base);
    ((uint8_t *)sa)[0] ^= 1;
    for (size_t cut = 0; cut < la; cut += 7) {
        assert_int_not_equal(bk_md_image_restore(sa, cut, &r), 0);
    }

    bk_free(sa);
    bk_free(sb);
    bk_free(sc);
    bk_md_fsm_close(&a);
    bk_md_fsm_close(&b);
    bk_md_fsm_close(&c);
}

/* Random corruptions of a valid entry and of a snapshot: decode and
 * restore either succeed or fail cleanly; never crash or leak (ASan). */
static void test_decode_mutations(void **state)
{
    (void)state;
    struct bk_md_fsm f;
    assert_int_equal(bk_md_fsm_init(&f), 0);
    feed(&f, 7, 0, 60);
    size_t slen;
    void *snapbuf = snap(&f, &slen);
    struct bk_md_rec recs[] = {
        broker_rec(1, "r1"),
        topic_rec("orders", 1),
        part_rec(1, 0, 1, 0),
        config_rec(BK_MD_RES_TOPIC, "orders", "retention.ms", "1000"),
        pid_rec(0, 1000),
    };
    size_t elen;
    uint8_t *ent = entry(recs, 5, &elen);
    uint8_t *copy = bk_malloc(slen > elen ? slen : elen);
    struct bk_arena arena;
    bk_arena_init(&arena, 4096, 0);
    uint32_t x = 12345;
    for (int round = 0; round < 4000; round++) {
        bool is_snap = round % 2;
        const uint8_t *src = is_snap ? snapbuf : ent;
        size_t len = is_snap ? slen : elen;
        memcpy(copy, src, len);
        int flips = 1 + round % 4;
        for (int k = 0; k < flips; k++) {
            x = x * 1103515245u + 12345u;
            size_t at = (x >> 8) % len;
            x = x * 1103515245u + 12345u;
            copy[at] = (uint8_t)(x >> 16);
        }
        if (is_snap) {
            struct bk_md_image *img;
            if (bk_md_image_restore(copy, len, &img) == 0) {
                bk_md_image_release(img);
            }
        } else {
            struct bk_md_rec *out;
            size_t n;
            bk_arena_reset(&arena);
            (void)bk_md_batch_decode(copy, len, &arena, &out, &n);
            assert_int_equal(bk_md_fsm_apply_entry(&f, copy, len), 0);
        }
    }
    bk_arena_destroy(&arena);
    bk_free(copy);
    bk_free(ent);
    bk_free(snapbuf);
    bk_md_fsm_close(&f);
}

/* Out of memory at every allocation of an apply: the apply fails with
 * BK_ENOMEM and the published image is unchanged; once memory is back the
 * same entry applies. */
static void test_apply_oom(void **state)
{
    (void)state;
    struct bk_md_fsm f;
    assert_int_equal(bk_md_fsm_init(&f), 0);
    feed(&f, 3, 0, 40);
    struct bk_md_rec recs[] = {
        broker_rec(9, "z"),
        topic_rec("oom.topic", 200),
        part_rec(200, 0, 1, 0),
        part_rec(200, 1, 2, 0),
        config_rec(BK_MD_RES_TOPIC, "oom.topic", "retention.ms", "1"),
        config_rec(BK_MD_RES_BROKER, "9", "a", "b"),
        pid_rec(f.cur->next_producer_id, 5),
    };
    size_t len;
    void *buf = entry(recs, 7, &len);
    size_t before_len;
    void *before = snap(&f, &before_len);
    int failures = 0;
    for (int countdown = 0; countdown < 400; countdown++) {
        bk_heap_fault_config(countdown, 1);
        int rv = bk_md_fsm_apply_entry(&f, buf, len);
        bk_heap_fault_config(-1, 0);
        if (rv == 0) {
            break;
        }
        failures++;
        assert_int_equal(rv, BK_ENOMEM);
        size_t now_len;
        void *now = snap(&f, &now_len);
        assert_int_equal(now_len, before_len);
        assert_memory_equal(now, before, now_len);
        bk_free(now);
    }
    assert_true(failures > 5);
    assert_non_null(bk_md_image_topic(f.cur, "oom.topic", 9));
    bk_free(before);
    bk_free(buf);
    bk_md_fsm_close(&f);
}

struct reader_arg {
    struct bk_md_fsm *f;
    atomic_int *stop;
    long checks;
};

static void *reader_main(void *arg)
{
    struct reader_arg *ra = arg;
    int64_t last = 0;
    while (!atomic_load(ra->stop)) {
        struct bk_md_image *img = bk_md_fsm_acquire(ra->f);
        /* Offsets only move forward, and the image is intact. */
        if (img->offset < last) {
            abort();
        }
        last = img->offset;
        const struct bk_md_topic *t = bk_md_image_topic(img, "hot", 3);
        if (t != NULL && t->n_partitions > 0 &&
            t->partitions[0].n_replicas != 3) {
            abort();
        }
        bk_md_image_release(img);
        ra->checks++;
    }
    return NULL;
}

static void test_publication_concurrent_readers(void **state)
{
    (void)state;
    struct bk_md_fsm f;
    assert_int_equal(bk_md_fsm_init(&f), 0);
    struct bk_md_rec t[] = { topic_rec("hot", 4), part_rec(4, 0, 1, 0) };
    apply_entry(&f, t, 2);
    atomic_int stop;
    atomic_init(&stop, 0);
    pthread_t th[3];
    struct reader_arg ra[3];
    for (int i = 0; i < 3; i++) {
        ra[i] = (struct reader_arg){ .f = &f, .stop = &stop };
        assert_int_equal(pthread_create(&th[i], NULL, reader_main, &ra[i]), 0);
    }
    for (int i = 0; i < 3000; i++) {
        struct bk_md_rec p = part_rec(4, 0, 1 + i % 3, i);
        apply_entry(&f, &p, 1);
    }
    atomic_store(&stop, 1);
    for (int i = 0; i < 3; i++) {
        pthread_join(th[i], NULL);
    }
    assert_int_equal(f.cur->offset, 3002);
    bk_md_fsm_close(&f);
}

int main(void)
{
    bk_diag_set_level(BK_DIAG_OFF);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_records_roundtrip),
        cmocka_unit_test(test_partition_v2_has_no_elr),
        cmocka_unit_test(test_records_forward_compat),
        cmocka_unit_test(test_features_apply_and_snapshot),
        cmocka_unit_test(test_acls_apply_and_snapshot),
        cmocka_unit_test(test_lookup_counted_names),
        cmocka_unit_test(test_many_partitions_grow_geometrically),
        cmocka_unit_test(test_apply_sequence),
        cmocka_unit_test(test_snapshot_restore_determinism),
        cmocka_unit_test(test_decode_mutations),
        cmocka_unit_test(test_apply_oom),
        cmocka_unit_test(test_publication_concurrent_readers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
