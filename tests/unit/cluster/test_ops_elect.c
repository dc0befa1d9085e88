/* Leader elections on the controller (cluster/ops_elect.c, and the unclean
 * elections of ops_brokers.c): ElectLeaders' preferred and unclean rules
 * with Kafka's answers, unclean.leader.election.enable when a broker is
 * fenced or comes back, the leaderless retry, and the preferred-leader
 * rebalance with leader.imbalance.per.broker.percentage. These run with
 * eligible.leader.replicas.version 0, where the ISR never empties;
 * test_ops_elr.c has the rules at 1. */
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

#define UNKNOWN_TOPIC_OR_PARTITION     3
#define PREFERRED_LEADER_NOT_AVAILABLE 80
#define ELIGIBLE_LEADERS_NOT_AVAILABLE 83
#define ELECTION_NOT_NEEDED            84

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
    struct bk_md_feature_update off = {
        bk_str_c("eligible.leader.replicas.version"), 0, BK_MD_SAFE_DOWNGRADE
    };
    assert_int_equal(
        bk_md_op_update_features(e->img, 1, &off, 1, &e->recs, e->msg), 0);
    commit(e);
    assert_false(bk_md_elr_enabled(e->img));
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

/* Topic name with n partitions on replicas reps (n_reps), each led by
 * leader with ISR isr (n_isr); unclean: its unclean config. */
static void topic(struct env *e,
                  const char *name,
                  int32_t n,
                  const int32_t *reps,
                  int32_t n_reps,
                  int32_t leader,
                  const int32_t *isr,
                  int32_t n_isr,
                  const char *unclean)
{
    struct bk_md_replicas a[16];
    for (int32_t p = 0; p < n; p++) {
        a[p] = (struct bk_md_replicas){ p, n_reps, reps };
    }
    struct bk_md_kv_in cfg = { "unclean.leader.election.enable", unclean };
    struct bk_md_topic_spec spec = {
        bk_str_c(name), -1, -1, unclean ? 1 : 0, &cfg, (size_t)n, a
    };
    struct bk_md_defaults defs = { 1, 1 };
    struct bk_md_create_result res;
    assert_int_equal(
        bk_md_op_create_topic(e->img, &spec, &defs, bk_md_rng_system(),
                              &e->recs, &res, e->msg),
        0);
    commit(e);
    for (int32_t p = 0; p < n; p++) {
        assert_int_equal(
            bk_md_op_change_partition(e->img, &res.topic_id, p, 0, leader, isr,
                                      n_isr, &e->recs, e->msg),
            0);
    }
    commit(e);
}

static const struct bk_md_partition *part(const struct env *e,
                                          const char *name,
                                          int32_t p)
{
    return bk_md_topic_partition(bk_md_image_topic(e->img, name, strlen(name)),
                                 p);
}

static int16_t elect(struct env *e,
                     const char *name,
                     int32_t p,
                     enum bk_md_election type)
{
    return bk_md_op_elect_leader(e->img, name, strlen(name), p, type, &e->recs,
                                 e->msg);
}

static void fence(struct env *e, int32_t id, bool unclean)
{
    assert_int_equal(bk_md_op_broker_change(e->img, id, BK_MD_FENCE, unclean,
                                            &e->recs, e->msg),
                     0);
    commit(e);
}

static void test_preferred(void **state)
{
    struct env *e = *state;
    static const int32_t reps[] = { 1, 2, 3 }, all[] = { 1, 2, 3 };
    topic(e, "t", 1, reps, 3, 2, all, 3, NULL);
    assert_int_equal(part(e, "t", 0)->leader, 2);
    int32_t epoch = part(e, "t", 0)->leader_epoch;
    /* replicas[0] is live and in sync: it leads again. */
    assert_int_equal(elect(e, "t", 0, BK_MD_ELECT_PREFERRED), 0);
    commit(e);
    assert_int_equal(part(e, "t", 0)->leader, 1);
    assert_int_equal(part(e, "t", 0)->leader_epoch, epoch + 1);
    assert_int_equal(part(e, "t", 0)->n_isr, 3);
    assert_int_equal(elect(e, "t", 0, BK_MD_ELECT_PREFERRED),
                     ELECTION_NOT_NEEDED);
    /* replicas[0] fenced: leadership moves to 2 and stays there. */
    fence(e, 1, false);
    assert_int_equal(part(e, "t", 0)->leader, 2);
    assert_int_equal(elect(e, "t", 0, BK_MD_ELECT_PREFERRED),
                     PREFERRED_LEADER_NOT_AVAILABLE);
    assert_int_equal(e->recs.n, 0);
    /* Back, but not in the ISR: still not available. */
    assert_int_equal(bk_md_op_broker_change(e->img, 1, BK_MD_UNFENCE, false,
                                            &e->recs, e->msg),
                     0);
    commit(e);
    assert_int_equal(elect(e, "t", 0, BK_MD_ELECT_PREFERRED),
                     PREFERRED_LEADER_NOT_AVAILABLE);
    assert_int_equal(elect(e, "t", 7, BK_MD_ELECT_PREFERRED),
                     UNKNOWN_TOPIC_OR_PARTITION);
    assert_int_equal(elect(e, "nope", 0, BK_MD_ELECT_PREFERRED),
                     UNKNOWN_TOPIC_OR_PARTITION);
}

static void test_preferred_without_leader(void **state)
{
    struct env *e = *state;
    static const int32_t reps[] = { 1, 2 }, one[] = { 1 };
    topic(e, "t", 1, reps, 2, 1, one, 1, NULL);
    fence(e, 1, false);
    assert_int_equal(part(e, "t", 0)->leader, -1);
    /* No live in-sync replica: nothing to elect. */
    assert_int_equal(elect(e, "t", 0, BK_MD_ELECT_PREFERRED),
                     PREFERRED_LEADER_NOT_AVAILABLE);
    assert_int_equal(e->recs.n, 0);
}

static void test_unclean(void **state)
{
    struct env *e = *state;
    static const int32_t reps[] = { 1, 2, 3 }, one[] = { 1 };
    topic(e, "t", 2, reps, 3, 1, one, 1, NULL);
    assert_int_equal(elect(e, "t", 0, BK_MD_ELECT_UNCLEAN),
                     ELECTION_NOT_NEEDED);
    fence(e, 1, false); /* clean rules: offline, ISR kept */
    assert_int_equal(part(e, "t", 0)->leader, -1);
    assert_int_equal(part(e, "t", 0)->n_isr, 1);
    int32_t epoch = part(e, "t", 0)->leader_epoch;
    /* ElectLeaders UNCLEAN: the first live replica, alone, recovering. */
    assert_int_equal(elect(e, "t", 0, BK_MD_ELECT_UNCLEAN), 0);
    commit(e);
    const struct bk_md_partition *p = part(e, "t", 0);
    assert_int_equal(p->leader, 2);
    assert_int_equal(p->n_isr, 1);
    assert_int_equal(p->isr[0], 2);
    assert_int_equal(p->leader_epoch, epoch + 1);
    assert_int_equal(p->leader_recovery_state, BK_MD_RECOVERING);
    /* With nobody alive: not available. */
    fence(e, 2, false);
    fence(e, 3, false);
    assert_int_equal(elect(e, "t", 1, BK_MD_ELECT_UNCLEAN),
                     ELIGIBLE_LEADERS_NOT_AVAILABLE);
    assert_int_equal(e->recs.n, 0);
}

static void test_unclean_prefers_isr(void **state)
{
    struct env *e = *state;
    static const int32_t reps[] = { 1, 2, 3 }, isr[] = { 1, 3 };
    topic(e, "t", 1, reps, 3, 1, isr, 2, NULL);
    fence(e, 1, false);
    fence(e, 3, false);
    assert_int_equal(part(e, "t", 0)->leader, -1);
    assert_int_equal(bk_md_op_broker_change(e->img, 3, BK_MD_UNFENCE, false,
                                            &e->recs, e->msg),
                     0);
    commit(e);
    assert_int_equal(part(e, "t", 0)->leader, 3); /* took it back cleanly */
    assert_int_equal(part(e, "t", 0)->leader_recovery_state, BK_MD_RECOVERED);
}

static void test_unclean_on_fence(void **state)
{
    struct env *e = *state;
    static const int32_t reps[] = { 1, 2 }, one[] = { 1 };
    topic(e, "allowed", 1, reps, 2, 1, one, 1, "true");
    topic(e, "strict", 1, reps, 2, 1, one, 1, "false");
    topic(e, "dflt", 1, reps, 2, 1, one, 1, NULL);
    fence(e, 1, false);
    assert_int_equal(part(e, "allowed", 0)->leader, 2);
    assert_int_equal(part(e, "allowed", 0)->isr[0], 2);
    assert_int_equal(part(e, "allowed", 0)->leader_recovery_state,
                     BK_MD_RECOVERING);
    assert_int_equal(part(e, "strict", 0)->leader, -1);
    assert_int_equal(part(e, "dflt", 0)->leader, -1);
    assert_int_equal(part(e, "dflt", 0)->isr[0], 1);

    /* The broker default (the controller's static setting) applies to
     * topics without the config; when 2 comes back it takes "dflt". */
    fence(e, 2, true);
    assert_int_equal(bk_md_op_broker_change(e->img, 2, BK_MD_UNFENCE, true,
                                            &e->recs, e->msg),
                     0);
    commit(e);
    assert_int_equal(part(e, "dflt", 0)->leader, 2);
    assert_int_equal(part(e, "dflt", 0)->leader_recovery_state,
                     BK_MD_RECOVERING);
    assert_int_equal(part(e, "strict", 0)->leader, -1);
}

static void test_unclean_cluster_config(void **state)
{
    struct env *e = *state;
    static const int32_t reps[] = { 1, 2 }, one[] = { 1 };
    topic(e, "t", 1, reps, 2, 1, one, 1, NULL);
    fence(e, 1, false);
    assert_int_equal(part(e, "t", 0)->leader, -1);
    assert_int_equal(bk_md_op_elect_leaderless(e->img, false, 10, &e->recs), 0);
    /* The cluster-wide broker config turns it on: the retry elects. */
    struct bk_md_alter set = { "unclean.leader.election.enable",
                               BK_MD_ALTER_SET, "true" };
    assert_int_equal(bk_md_op_alter_configs(e->img, BK_MD_RES_BROKER, "", &set,
                                            1, &e->recs, e->msg),
                     0);
    commit(e);
    assert_int_equal(bk_md_op_elect_leaderless(e->img, false, 10, &e->recs), 1);
    commit(e);
    assert_int_equal(part(e, "t", 0)->leader, 2);
    assert_int_equal(part(e, "t", 0)->leader_recovery_state, BK_MD_RECOVERING);
}

static void test_balance(void **state)
{
    struct env *e = *state;
    static const int32_t r12[] = { 1, 2 }, r21[] = { 2, 1 }, isr[] = { 1, 2 };
    /* Broker 1 is preferred for 10 partitions and leads 9 of them. */
    topic(e, "a", 9, r12, 2, 1, isr, 2, NULL);
    topic(e, "b", 1, r12, 2, 2, isr, 2, NULL);
    /* Broker 2 is preferred for 4 and leads 3. */
    topic(e, "c", 3, r21, 2, 2, isr, 2, NULL);
    topic(e, "d", 1, r21, 2, 1, isr, 2, NULL);
    /* 1 of 10 (10%) is not above 10%; 1 of 4 (25%) is. */
    assert_int_equal(bk_md_op_balance_leaders(e->img, 10, 100, &e->recs), 1);
    commit(e);
    assert_int_equal(part(e, "d", 0)->leader, 2);
    assert_int_equal(part(e, "b", 0)->leader, 2);
    /* At 5%, broker 1's 10% is above: "b" moves too. */
    assert_int_equal(bk_md_op_balance_leaders(e->img, 5, 100, &e->recs), 1);
    commit(e);
    assert_int_equal(part(e, "b", 0)->leader, 1);
    assert_int_equal(bk_md_op_balance_leaders(e->img, 0, 100, &e->recs), 0);

    /* A preferred replica out of the ISR is left alone; max caps. */
    static const int32_t only2[] = { 2 };
    topic(e, "f", 3, r12, 2, 2, only2, 1, NULL);
    topic(e, "g", 3, r21, 2, 1, isr, 2, NULL);
    assert_int_equal(bk_md_op_balance_leaders(e->img, 0, 2, &e->recs), 2);
    commit(e);
    assert_int_equal(bk_md_op_balance_leaders(e->img, 0, 100, &e->recs), 1);
    commit(e);
    assert_int_equal(part(e, "f", 0)->leader, 2);
    for (int32_t p = 0; p < 3; p++) {
        assert_int_equal(part(e, "g", p)->leader, 2);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_preferred, setup, teardown),
        cmocka_unit_test_setup_teardown(test_preferred_without_leader, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_unclean, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unclean_prefers_isr, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_unclean_on_fence, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unclean_cluster_config, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_balance, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
