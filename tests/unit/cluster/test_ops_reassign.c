/* Partition reassignment on the controller (cluster/ops_reassign.c):
 * AlterPartitionReassignments' state changes as Kafka's KRaft controller
 * makes them (replicas O u T, adding T - O, removing O - T), completion when
 * AlterPartition brings the last adding replica into the ISR (with a new
 * leader and NEW_LEADER_ELECTED when the leader is removed), immediate
 * completion, cancel, retargeting, Kafka's errors, and the record's
 * round trip through records and snapshots. */
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
#include "common/arena.h"
#include "common/heap.h"

#define UNKNOWN_TOPIC_OR_PARTITION  3
#define INVALID_REPLICA_ASSIGNMENT  39
#define NO_REASSIGNMENT_IN_PROGRESS 85
#define NEW_LEADER_ELECTED          108

struct env {
    struct bk_arena arena;
    struct bk_md_recs recs;
    struct bk_md_image *img;
    struct bk_uuid topic;
    char msg[BK_MD_MSG_SIZE];
};

static void commit(struct env *e)
{
    struct bk_md_image *next;
    assert_int_equal(
        bk_md_image_apply(e->img, e->recs.v, e->recs.n, NULL, &next), 0);
    assert_int_equal(next->n_skipped, e->img->n_skipped);
    bk_md_image_release(e->img);
    e->img = next;
    bk_arena_reset(&e->arena);
    bk_md_recs_init(&e->recs, &e->arena);
}

/* Brokers 1-4; topic "t" of one partition on {1, 2}, led by 1, ISR {1, 2}. */
static int setup(void **state)
{
    struct env *e = calloc(1, sizeof(*e));
    bk_arena_init(&e->arena, 4096, 0);
    bk_md_recs_init(&e->recs, &e->arena);
    e->img = bk_md_image_new();
    for (int32_t id = 1; id <= 4; id++) {
        assert_int_equal(
            bk_md_op_register_broker(e->img, id, "127.0.0.1", 9092 + id, NULL,
                                     &e->recs, NULL, e->msg),
            0);
    }
    commit(e);
    static const int32_t r12[] = { 1, 2 };
    struct bk_md_replicas a = { 0, 2, r12 };
    struct bk_md_topic_spec spec = { bk_str_c("t"), -1, -1, 0, NULL, 1, &a };
    struct bk_md_defaults defs = { 1, 1 };
    struct bk_md_create_result res;
    assert_int_equal(
        bk_md_op_create_topic(e->img, &spec, &defs, bk_md_rng_system(),
                              &e->recs, &res, e->msg),
        0);
    commit(e);
    e->topic = res.topic_id;
    assert_int_equal(bk_md_op_change_partition(e->img, &e->topic, 0, 0, 1, r12,
                                               2, &e->recs, e->msg),
                     0);
    commit(e);
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

static const struct bk_md_partition *part(const struct env *e)
{
    return bk_md_topic_partition(bk_md_image_topic(e->img, "t", 1), 0);
}

static int16_t reassign(struct env *e, const int32_t *target, int32_t n)
{
    return bk_md_op_reassign(e->img, "t", 1, 0, target, n, &e->recs, e->msg);
}

static void assert_ids(const int32_t *got,
                       int32_t n_got,
                       const int32_t *want,
                       int32_t n_want)
{
    assert_int_equal(n_got, n_want);
    for (int32_t i = 0; i < n_want; i++) {
        assert_int_equal(got[i], want[i]);
    }
}

/* The leader's AlterPartition: ISR isr at the current epochs. */
static int16_t alter_isr(struct env *e, const int32_t *isr, int32_t n)
{
    const struct bk_md_partition *p = part(e);
    struct bk_md_isr_member m[8];
    for (int32_t i = 0; i < n; i++) {
        m[i] = (struct bk_md_isr_member){ isr[i], -1 };
    }
    struct bk_md_alter_isr req = {
        .sender = p->leader,
        .leader_epoch = p->leader_epoch,
        .partition_epoch = p->partition_epoch,
        .n_isr = n,
        .isr = m,
        .v2 = true,
    };
    struct bk_md_isr_state st;
    return bk_md_op_alter_partition(e->img, &e->topic, 0, &req, &e->recs, &st,
                                    e->msg);
}

/* {1, 2} -> {2, 3}: the replicas grow, 3 joins, the move completes and
 * leadership leaves the removed leader 1. */
static void test_move_completes(void **state)
{
    struct env *e = *state;
    static const int32_t t23[] = { 2, 3 };
    int32_t epoch0 = part(e)->leader_epoch;
    assert_int_equal(reassign(e, t23, 2), 0);
    commit(e);
    const struct bk_md_partition *p = part(e);
    static const int32_t all[] = { 2, 3, 1 }, add[] = { 3 }, rm[] = { 1 };
    static const int32_t isr12[] = { 1, 2 };
    assert_ids(p->replicas, p->n_replicas, all, 3);
    assert_ids(p->adding, p->n_adding, add, 1);
    assert_ids(p->removing, p->n_removing, rm, 1);
    assert_ids(p->isr, p->n_isr, isr12, 2);
    assert_int_equal(p->leader, 1);
    assert_int_equal(p->leader_epoch, epoch0);
    assert_true(bk_md_reassigning(p));

    /* A shrink of the ISR does not complete it. */
    static const int32_t isr1[] = { 1 };
    assert_int_equal(alter_isr(e, isr1, 1), 0);
    commit(e);
    assert_true(bk_md_reassigning(part(e)));
    assert_int_equal(alter_isr(e, isr12, 2), 0);
    commit(e);

    /* 3 caught up: the leader's expansion completes the move. */
    static const int32_t isr123[] = { 1, 2, 3 };
    int32_t pe = part(e)->partition_epoch;
    assert_int_equal(alter_isr(e, isr123, 3), NEW_LEADER_ELECTED);
    assert_int_equal(e->recs.n, 1);
    commit(e);
    p = part(e);
    assert_false(bk_md_reassigning(p));
    assert_ids(p->replicas, p->n_replicas, t23, 2);
    assert_ids(p->isr, p->n_isr, t23, 2);
    assert_int_equal(p->leader, 2);
    assert_int_equal(p->leader_epoch, epoch0 + 1);
    assert_int_equal(p->partition_epoch, pe + 1);

    /* Nothing left to cancel. */
    assert_int_equal(reassign(e, NULL, -1), NO_REASSIGNMENT_IN_PROGRESS);
    assert_int_equal(e->recs.n, 0);
}

/* A leader that stays keeps leading; the epoch still goes up because a
 * replica left. */
static void test_move_keeps_leader(void **state)
{
    struct env *e = *state;
    static const int32_t t13[] = { 1, 3 };
    int32_t epoch0 = part(e)->leader_epoch;
    assert_int_equal(reassign(e, t13, 2), 0);
    commit(e);
    static const int32_t isr123[] = { 1, 2, 3 };
    assert_int_equal(alter_isr(e, isr123, 3), 0);
    commit(e);
    const struct bk_md_partition *p = part(e);
    assert_ids(p->replicas, p->n_replicas, t13, 2);
    assert_ids(p->isr, p->n_isr, t13, 2);
    assert_int_equal(p->leader, 1);
    assert_int_equal(p->leader_epoch, epoch0 + 1);
}

/* A target already met completes in the same record: a shrink, a
 * reorder, a subset of the ISR. The same target again changes nothing. */
static void test_immediate(void **state)
{
    struct env *e = *state;
    static const int32_t t12[] = { 1, 2 }, t21[] = { 2, 1 }, t2[] = { 2 };
    assert_int_equal(reassign(e, t12, 2), 0);
    assert_int_equal(e->recs.n, 0);
    assert_int_equal(reassign(e, t21, 2), 0);
    commit(e);
    assert_false(bk_md_reassigning(part(e)));
    assert_ids(part(e)->replicas, part(e)->n_replicas, t21, 2);
    assert_int_equal(part(e)->leader, 1);
    assert_int_equal(reassign(e, t2, 1), 0);
    commit(e);
    const struct bk_md_partition *p = part(e);
    assert_false(bk_md_reassigning(p));
    assert_ids(p->replicas, p->n_replicas, t2, 1);
    assert_ids(p->isr, p->n_isr, t2, 1);
    assert_int_equal(p->leader, 2);
}

/* Cancel goes back to the original replicas; the adding ones leave the
 * ISR. */
static void test_cancel(void **state)
{
    struct env *e = *state;
    static const int32_t t34[] = { 3, 4 }, t12[] = { 1, 2 };
    assert_int_equal(reassign(e, t34, 2), 0);
    commit(e);
    static const int32_t isr123[] = { 1, 2, 3 };
    assert_int_equal(alter_isr(e, isr123, 3), 0);
    commit(e);
    assert_true(bk_md_reassigning(part(e)));
    int32_t epoch = part(e)->leader_epoch;
    assert_int_equal(reassign(e, NULL, -1), 0);
    commit(e);
    const struct bk_md_partition *p = part(e);
    assert_false(bk_md_reassigning(p));
    assert_ids(p->replicas, p->n_replicas, t12, 2);
    assert_ids(p->isr, p->n_isr, t12, 2);
    assert_int_equal(p->leader, 1);
    assert_int_equal(p->leader_epoch, epoch + 1);
}

/* A new target replaces the one in progress, from the original
 * replicas. */
static void test_retarget(void **state)
{
    struct env *e = *state;
    static const int32_t t3[] = { 3 }, t4[] = { 4 };
    assert_int_equal(reassign(e, t3, 1), 0);
    commit(e);
    assert_int_equal(reassign(e, t4, 1), 0);
    commit(e);
    const struct bk_md_partition *p = part(e);
    static const int32_t all[] = { 4, 1, 2 }, rm[] = { 1, 2 };
    assert_ids(p->replicas, p->n_replicas, all, 3);
    assert_ids(p->adding, p->n_adding, t4, 1);
    assert_ids(p->removing, p->n_removing, rm, 2);
}

static void test_errors(void **state)
{
    struct env *e = *state;
    static const int32_t dup[] = { 1, 1 }, unknown[] = { 1, 9 };
    assert_int_equal(reassign(e, dup, 0), INVALID_REPLICA_ASSIGNMENT);
    assert_string_equal(e->msg,
                        "The manual partition assignment includes an empty "
                        "replica list.");
    assert_int_equal(reassign(e, dup, 2), INVALID_REPLICA_ASSIGNMENT);
    assert_int_equal(reassign(e, unknown, 2), INVALID_REPLICA_ASSIGNMENT);
    assert_int_equal(
        bk_md_op_reassign(e->img, "u", 1, 0, dup, 1, &e->recs, e->msg),
        UNKNOWN_TOPIC_OR_PARTITION);
    assert_int_equal(
        bk_md_op_reassign(e->img, "t", 1, 1, dup, 1, &e->recs, e->msg),
        UNKNOWN_TOPIC_OR_PARTITION);
    assert_int_equal(reassign(e, NULL, -1), NO_REASSIGNMENT_IN_PROGRESS);
    assert_int_equal(e->recs.n, 0);
}

/* adding and removing survive the record codec and a snapshot. */
static void test_snapshot(void **state)
{
    struct env *e = *state;
    static const int32_t t3[] = { 3 };
    assert_int_equal(reassign(e, t3, 1), 0);
    commit(e);
    void *buf;
    size_t len;
    assert_int_equal(bk_md_image_snapshot(e->img, bk_malloc, &buf, &len), 0);
    struct bk_md_image *back;
    assert_int_equal(bk_md_image_restore(buf, len, &back), 0);
    bk_free(buf);
    const struct bk_md_partition *p =
        bk_md_topic_partition(bk_md_image_topic(back, "t", 1), 0);
    static const int32_t rm[] = { 1, 2 };
    assert_ids(p->adding, p->n_adding, t3, 1);
    assert_ids(p->removing, p->n_removing, rm, 2);
    bk_md_image_release(back);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_move_completes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_move_keeps_leader, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_immediate, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cancel, setup, teardown),
        cmocka_unit_test_setup_teardown(test_retarget, setup, teardown),
        cmocka_unit_test_setup_teardown(test_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_snapshot, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
