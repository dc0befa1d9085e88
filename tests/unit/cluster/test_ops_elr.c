/* Eligible leader replicas on the controller (cluster/ops_elr.c and its
 * callers; KIP-966 part 1 as Kafka's PartitionChangeBuilder keeps them):
 * the ELR grows while the ISR is below min.insync.replicas, loses a
 * replica that rejoins the ISR, empties at min ISR, under feature level 0,
 * on an unclean election and on a change of min.insync.replicas; an
 * empty ISR elects a live ELR member cleanly. */
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

struct env {
    struct bk_arena arena;
    struct bk_md_recs recs;
    struct bk_md_image *img;
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

static int setup(void **state)
{
    struct env *e = calloc(1, sizeof(*e));
    bk_arena_init(&e->arena, 4096, 0);
    bk_md_recs_init(&e->recs, &e->arena);
    e->img = bk_md_image_new();
    for (int32_t id = 1; id <= 3; id++) {
        assert_int_equal(
            bk_md_op_register_broker(e->img, id, "127.0.0.1", 9092 + id, NULL,
                                     &e->recs, NULL, e->msg),
            0);
    }
    commit(e);
    /* A new log finalizes eligible.leader.replicas.version 1. */
    assert_true(bk_md_elr_enabled(e->img));
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

static const int32_t R123[] = { 1, 2, 3 };

/* Topic "t": one partition on 1, 2, 3 with min.insync.replicas min_isr
 * (NULL: the default 1), led by 1 with the full ISR. */
static const struct bk_md_topic *topic(struct env *e, const char *min_isr)
{
    struct bk_md_replicas a = { 0, 3, R123 };
    struct bk_md_kv_in cfg = { "min.insync.replicas", min_isr };
    struct bk_md_topic_spec spec = {
        bk_str_c("t"), -1, -1, min_isr != NULL ? 1 : 0, &cfg, 1, &a
    };
    struct bk_md_defaults defs = { 1, 1 };
    struct bk_md_create_result res;
    assert_int_equal(
        bk_md_op_create_topic(e->img, &spec, &defs, bk_md_rng_system(),
                              &e->recs, &res, e->msg),
        0);
    commit(e);
    return bk_md_image_topic(e->img, "t", 1);
}

static const struct bk_md_partition *part(const struct env *e)
{
    return bk_md_topic_partition(bk_md_image_topic(e->img, "t", 1), 0);
}

/* The ISR becomes isr (n), the leader stays (as AlterPartition). */
static void set_isr(struct env *e, const int32_t *isr, int32_t n)
{
    const struct bk_md_topic *t = bk_md_image_topic(e->img, "t", 1);
    const struct bk_md_partition *p = part(e);
    assert_int_equal(
        bk_md_op_change_partition(e->img, &t->id, 0, p->partition_epoch,
                                  p->leader, isr, n, &e->recs, e->msg),
        0);
    commit(e);
}

static void broker(struct env *e, int32_t id, enum bk_md_broker_change c)
{
    assert_int_equal(
        bk_md_op_broker_change(e->img, id, c, false, &e->recs, e->msg), 0);
    commit(e);
}

static void assert_list(const int32_t *v,
                        int32_t n,
                        const int32_t *want,
                        int32_t n_want)
{
    assert_int_equal(n, n_want);
    for (int32_t i = 0; i < n; i++) {
        assert_int_equal(v[i], want[i]);
    }
}

#define ELR(...)                                            \
    do {                                                    \
        static const int32_t w_[] = { __VA_ARGS__ };        \
        assert_list(part(e)->elr, part(e)->n_elr, w_,       \
                    (int32_t)(sizeof(w_) / sizeof(w_[0]))); \
    } while (0)

/* RF 3, min ISR 2: the replica that takes the ISR below 2 joins the ELR
 * (it has every committed record: the high watermark stops there); the
 * one that left while the ISR was still at 2 does not. Back at min ISR,
 * the ELR empties. */
static void test_shrink_below_min_isr(void **state)
{
    struct env *e = *state;
    topic(e, "2");
    static const int32_t i12[] = { 1, 2 }, i1[] = { 1 }, i13[] = { 1, 3 };
    set_isr(e, i12, 2);
    assert_int_equal(part(e)->n_elr, 0);
    set_isr(e, i1, 1);
    ELR(2);
    assert_int_equal(part(e)->n_last_known_elr, 0);
    /* 3 catches up: the ISR is at min ISR again. */
    set_isr(e, i13, 2);
    assert_int_equal(part(e)->n_elr, 0);
    assert_int_equal(part(e)->n_last_known_elr, 0);
}

/* A replica that rejoins the ISR leaves the ELR, the others stay while
 * the ISR is still below min ISR (3 here). */
static void test_rejoin_leaves_elr(void **state)
{
    struct env *e = *state;
    topic(e, "3");
    static const int32_t i1[] = { 1 }, i12[] = { 1, 2 };
    set_isr(e, i1, 1);
    ELR(2, 3);
    set_isr(e, i12, 2);
    ELR(3);
    set_isr(e, R123, 3);
    assert_int_equal(part(e)->n_elr, 0);
}

/* min ISR 1 (the default): an ISR is never below it while not empty. */
static void test_default_min_isr_keeps_no_elr(void **state)
{
    struct env *e = *state;
    topic(e, NULL);
    static const int32_t i1[] = { 1 };
    set_isr(e, i1, 1);
    assert_int_equal(part(e)->n_elr, 0);
}

/* min ISR above the replica count counts as the replica count, as the
 * leader's high watermark rule does. */
static void test_min_isr_bounded_by_replicas(void **state)
{
    struct env *e = *state;
    topic(e, "5");
    assert_int_equal(
        bk_md_effective_min_isr(e->img, bk_md_image_topic(e->img, "t", 1), 3),
        3);
    assert_int_equal(part(e)->n_elr, 0);
    static const int32_t i12[] = { 1, 2 };
    set_isr(e, i12, 2);
    ELR(3);
}

/* Level 0: no ELR is kept, and the last ISR member stays in the ISR when
 * it is fenced (the partition goes offline until it returns). */
static void test_feature_off(void **state)
{
    struct env *e = *state;
    struct bk_md_feature_update off = {
        bk_str_c("eligible.leader.replicas.version"), 0, BK_MD_SAFE_DOWNGRADE
    };
    assert_int_equal(
        bk_md_op_update_features(e->img, 1, &off, 1, &e->recs, e->msg), 0);
    commit(e);
    assert_false(bk_md_elr_enabled(e->img));
    topic(e, "2");
    static const int32_t i1[] = { 1 };
    set_isr(e, i1, 1);
    assert_int_equal(part(e)->n_elr, 0);
    broker(e, 1, BK_MD_FENCE);
    assert_int_equal(part(e)->leader, -1);
    assert_int_equal(part(e)->n_isr, 1);
    assert_int_equal(part(e)->n_elr, 0);
    /* An empty ISR is refused without ELR. */
    const struct bk_md_topic *t = bk_md_image_topic(e->img, "t", 1);
    assert_int_equal(
        bk_md_op_change_partition(e->img, &t->id, 0, part(e)->partition_epoch,
                                  -1, NULL, 0, &e->recs, e->msg),
        BK_MD_KERR_INELIGIBLE_REPLICA);
}

/* Lowering the feature to 0 empties every ELR with it. */
static void test_feature_off_clears(void **state)
{
    struct env *e = *state;
    topic(e, "3");
    static const int32_t i1[] = { 1 };
    set_isr(e, i1, 1);
    ELR(2, 3);
    struct bk_md_feature_update off = {
        bk_str_c("eligible.leader.replicas.version"), 0, BK_MD_SAFE_DOWNGRADE
    };
    assert_int_equal(
        bk_md_op_update_features(e->img, 1, &off, 1, &e->recs, e->msg), 0);
    assert_int_equal(e->recs.n, 2);
    commit(e);
    assert_false(bk_md_elr_enabled(e->img));
    assert_int_equal(part(e)->n_elr, 0);
    assert_int_equal(part(e)->n_isr, 1);
    assert_int_equal(part(e)->leader, 1);
}

/* The integration scenario on the controller: two followers drop out one
 * after the other, then the lone leader is fenced. The ISR empties, the
 * leader joins the ELR, nobody live is eligible; 3 (out of the ISR
 * while it was still at min ISR) may not lead when it returns, 2 (in the
 * ELR) leads cleanly with the ISR of itself. */
static void test_fenced_leader_elr_elects(void **state)
{
    struct env *e = *state;
    topic(e, "2");
    broker(e, 3, BK_MD_FENCE);
    assert_int_equal(part(e)->n_isr, 2);
    assert_int_equal(part(e)->n_elr, 0);
    broker(e, 2, BK_MD_FENCE);
    assert_int_equal(part(e)->n_isr, 1);
    ELR(2);
    int32_t epoch = part(e)->leader_epoch;
    broker(e, 1, BK_MD_FENCE);
    assert_int_equal(part(e)->leader, -1);
    assert_int_equal(part(e)->n_isr, 0);
    ELR(1, 2);
    broker(e, 3, BK_MD_UNFENCE);
    assert_int_equal(part(e)->leader, -1);
    broker(e, 2, BK_MD_UNFENCE);
    assert_int_equal(part(e)->leader, 2);
    assert_int_equal(part(e)->leader_epoch, epoch + 2);
    assert_int_equal(part(e)->leader_recovery_state, BK_MD_RECOVERED);
    assert_int_equal(part(e)->n_isr, 1);
    assert_int_equal(part(e)->isr[0], 2);
    ELR(1);
}

/* A leader leaving (fenced or in controlled shutdown) with an empty ISR
 * left hands over to the first live ELR member at once. */
static void test_leader_leaves_to_live_elr(void **state)
{
    struct env *e = *state;
    topic(e, "3");
    static const int32_t i1[] = { 1 };
    set_isr(e, i1, 1);
    ELR(2, 3);
    broker(e, 1, BK_MD_SHUT_DOWN);
    assert_int_equal(part(e)->leader, 2);
    assert_int_equal(part(e)->n_isr, 1);
    assert_int_equal(part(e)->isr[0], 2);
    assert_int_equal(part(e)->leader_recovery_state, BK_MD_RECOVERED);
    ELR(1, 3);
    broker(e, 2, BK_MD_FENCE);
    assert_int_equal(part(e)->leader, 3);
    ELR(1, 2);
}

/* ElectLeaders UNCLEAN on an empty ISR takes a live ELR member cleanly;
 * an unclean election (no ELR member alive) empties the ELR. */
static void test_elect_leaders(void **state)
{
    struct env *e = *state;
    topic(e, "2");
    broker(e, 3, BK_MD_FENCE);
    broker(e, 2, BK_MD_FENCE);
    broker(e, 1, BK_MD_FENCE);
    ELR(1, 2);
    /* 2 comes back unfenced in img without taking the partition (as
     * when the partition was created after its unfencing). */
    struct bk_md_registration reg = { .id = 2, .host = "h", .port = 1 };
    int64_t epoch;
    assert_int_equal(bk_md_op_register(e->img, &reg, &e->recs, &epoch, e->msg),
                     0);
    commit(e);
    assert_int_equal(part(e)->leader, -1);
    assert_int_equal(
        bk_md_op_elect_leader(e->img, "t", 1, 0, BK_MD_ELECT_UNCLEAN, &e->recs,
                              e->msg),
        0);
    commit(e);
    assert_int_equal(part(e)->leader, 2);
    assert_int_equal(part(e)->leader_recovery_state, BK_MD_RECOVERED);
    ELR(1);

    /* Now only 3 is alive: an unclean election, and no ELR after it. */
    broker(e, 2, BK_MD_FENCE);
    ELR(1, 2);
    reg.id = 3;
    assert_int_equal(bk_md_op_register(e->img, &reg, &e->recs, &epoch, e->msg),
                     0);
    commit(e);
    assert_int_equal(
        bk_md_op_elect_leader(e->img, "t", 1, 0, BK_MD_ELECT_UNCLEAN, &e->recs,
                              e->msg),
        0);
    commit(e);
    assert_int_equal(part(e)->leader, 3);
    assert_int_equal(part(e)->leader_recovery_state, BK_MD_RECOVERING);
    assert_int_equal(part(e)->n_elr, 0);
    assert_int_equal(part(e)->n_last_known_elr, 0);
}

/* Changing the topic's min.insync.replicas empties its ELR. */
static void test_min_isr_change_clears(void **state)
{
    struct env *e = *state;
    topic(e, "3");
    static const int32_t i1[] = { 1 };
    set_isr(e, i1, 1);
    ELR(2, 3);
    int32_t epoch = part(e)->partition_epoch;
    struct bk_md_alter set = { "min.insync.replicas", BK_MD_ALTER_SET, "2" };
    assert_int_equal(bk_md_op_alter_configs(e->img, BK_MD_RES_TOPIC, "t", &set,
                                            1, &e->recs, e->msg),
                     0);
    commit(e);
    assert_int_equal(part(e)->n_elr, 0);
    assert_int_equal(part(e)->partition_epoch, epoch + 1);
    assert_int_equal(part(e)->leader, 1);
    /* Another config changes nothing in the partition. */
    struct bk_md_alter other = { "retention.ms", BK_MD_ALTER_SET, "1000" };
    assert_int_equal(bk_md_op_alter_configs(e->img, BK_MD_RES_TOPIC, "t",
                                            &other, 1, &e->recs, e->msg),
                     0);
    assert_int_equal(e->recs.n, 1);
}

/* The last known ELR: replicas that dropped out of the ELR (an unclean
 * shutdown) while the ISR is below min ISR; emptied at min ISR. */
static void test_last_known_elr(void **state)
{
    struct env *e = *state;
    topic(e, "3");
    static const int32_t i1[] = { 1 };
    set_isr(e, i1, 1);
    const struct bk_md_topic *t = bk_md_image_topic(e->img, "t", 1);
    int32_t elr[3], lke[3], n_elr, n_lke;
    bk_md_elr_target(e->img, t, part(e), i1, 1, 3, elr, &n_elr, lke, &n_lke);
    static const int32_t w2[] = { 2 }, w3[] = { 3 };
    assert_list(elr, n_elr, w2, 1);
    assert_list(lke, n_lke, w3, 1);
    bk_md_elr_target(e->img, t, part(e), R123, 3, 3, elr, &n_elr, lke, &n_lke);
    assert_int_equal(n_elr, 0);
    assert_int_equal(n_lke, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_shrink_below_min_isr, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_rejoin_leaves_elr, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_default_min_isr_keeps_no_elr,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_min_isr_bounded_by_replicas, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_feature_off, setup, teardown),
        cmocka_unit_test_setup_teardown(test_feature_off_clears, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_fenced_leader_elr_elects, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_leader_leaves_to_live_elr, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_elect_leaders, setup, teardown),
        cmocka_unit_test_setup_teardown(test_min_isr_change_clears, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_last_known_elr, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
