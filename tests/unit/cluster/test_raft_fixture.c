/* Three metadata FSMs agreeing through raft's in-memory fixture: propose on
 * the leader, all converge; kill the leader, a new one is elected and more
 * entries commit; the old leader comes back (by snapshot install) and ends
 * byte-identical. */
// clang-format off
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
// clang-format on
#include <raft.h>
#include <raft/fixture.h>
#include <stdlib.h>
#include <string.h>

#include "cluster/fsm.h"
#include "cluster/ops.h"
#include "common/arena.h"
#include "common/heap.h"

#define N 3

static uint64_t counter_next(void *data)
{
    uint64_t *s = data;
    *s = *s * 6364136223846793005ull + 1442695040888963407ull;
    return *s;
}

struct fx {
    struct raft_fixture f;
    struct bk_md_fsm fsms[N];
    uint64_t seed;
    struct bk_md_rng rng;
    int applied;
    int failed;
};

static void apply_done(struct raft_apply *req, int status, void *result)
{
    struct fx *x = req->data;
    (void)result;
    if (status == 0) {
        x->applied++;
    } else {
        x->failed++;
    }
    bk_free(req);
}

/* Proposes "create topic name" on server i; returns the entry index. */
static raft_index propose_topic(struct fx *x, unsigned i, const char *name)
{
    struct raft *r = raft_fixture_get(&x->f, i);
    struct bk_md_image *img = bk_md_fsm_acquire(&x->fsms[i]);
    struct bk_arena arena;
    bk_arena_init(&arena, 4096, 0);
    struct bk_md_recs recs;
    bk_md_recs_init(&recs, &arena);
    char msg[BK_MD_MSG_SIZE];
    struct bk_md_topic_spec spec = { bk_str_c(name), 3, 3, 0, NULL, 0, NULL };
    struct bk_md_defaults defs = { 1, 1 };
    assert_int_equal(
        bk_md_op_create_topic(img, &spec, &defs, &x->rng, &recs, NULL, msg), 0);
    bk_md_image_release(img);
    struct raft_buffer buf;
    void *base;
    assert_int_equal(
        bk_md_batch_encode(recs.v, recs.n, raft_malloc, &base, &buf.len), 0);
    buf.base = base;
    bk_arena_destroy(&arena);
    struct raft_apply *req = bk_malloc(sizeof(*req));
    req->data = x;
    assert_int_equal(raft_apply(r, req, &buf, 1, apply_done), 0);
    return req->index;
}

static void *snapshot_of(struct bk_md_fsm *f, size_t *len)
{
    void *buf;
    assert_int_equal(bk_md_image_snapshot(f->cur, bk_malloc, &buf, len), 0);
    return buf;
}

static void assert_same(struct fx *x, unsigned a, unsigned b)
{
    size_t la, lb;
    void *sa = snapshot_of(&x->fsms[a], &la);
    void *sb = snapshot_of(&x->fsms[b], &lb);
    assert_int_equal(la, lb);
    assert_memory_equal(sa, sb, la);
    bk_free(sa);
    bk_free(sb);
}

static void register_brokers(struct fx *x, unsigned leader)
{
    /* The brokers themselves, so that replication factor 3 is possible. */
    struct bk_arena arena;
    bk_arena_init(&arena, 4096, 0);
    struct bk_md_recs recs;
    bk_md_recs_init(&recs, &arena);
    char msg[BK_MD_MSG_SIZE];
    struct bk_md_image *img = bk_md_fsm_acquire(&x->fsms[leader]);
    for (int32_t id = 0; id < N; id++) {
        assert_int_equal(
            bk_md_op_register_broker(img, id, "127.0.0.1", 9092 + id, NULL,
                                     &recs, NULL, msg),
            0);
    }
    bk_md_image_release(img);
    struct raft_buffer buf;
    void *base;
    assert_int_equal(
        bk_md_batch_encode(recs.v, recs.n, raft_malloc, &base, &buf.len), 0);
    buf.base = base;
    bk_arena_destroy(&arena);
    struct raft_apply *req = bk_malloc(sizeof(*req));
    req->data = x;
    assert_int_equal(
        raft_apply(raft_fixture_get(&x->f, leader), req, &buf, 1, apply_done),
        0);
    assert_true(raft_fixture_step_until_applied(&x->f, N, req->index, 5000));
}

static void test_three_nodes_agree(void **state)
{
    (void)state;
    struct fx *x = calloc(1, sizeof(*x));
    x->seed = 99;
    x->rng = (struct bk_md_rng){ counter_next, &x->seed };
    assert_int_equal(raft_fixture_initialize(&x->f), 0);
    for (unsigned i = 0; i < N; i++) {
        assert_int_equal(bk_md_fsm_init(&x->fsms[i]), 0);
        assert_int_equal(raft_fixture_grow(&x->f, &x->fsms[i].raft), 0);
        struct raft *r = raft_fixture_get(&x->f, i);
        raft_set_pre_vote(r, true);
        /* Snapshot often so that the revived node needs InstallSnapshot. */
        raft_set_snapshot_threshold(r, 4);
        raft_set_snapshot_trailing(r, 1);
    }
    struct raft_configuration conf;
    assert_int_equal(raft_fixture_configuration(&x->f, N, &conf), 0);
    assert_int_equal(raft_fixture_bootstrap(&x->f, &conf), 0);
    raft_configuration_close(&conf);
    assert_int_equal(raft_fixture_start(&x->f), 0);

    assert_true(raft_fixture_step_until_has_leader(&x->f, 10000));
    unsigned leader = raft_fixture_leader_index(&x->f);
    register_brokers(x, leader);

    raft_index last = 0;
    char name[32];
    for (int k = 0; k < 5; k++) {
        snprintf(name, sizeof(name), "topic-%d", k);
        last = propose_topic(x, leader, name);
    }
    assert_true(raft_fixture_step_until_applied(&x->f, N, last, 5000));
    for (unsigned i = 0; i < N; i++) {
        struct bk_md_image *img = bk_md_fsm_acquire(&x->fsms[i]);
        assert_int_equal(img->n_topics, 5);
        assert_int_equal(img->n_brokers, N);
        assert_non_null(bk_md_image_topic(img, "topic-4", 7));
        bk_md_image_release(img);
    }
    assert_same(x, 0, 1);
    assert_same(x, 0, 2);

    /* Kill the leader: the others elect a new one and keep committing. */
    raft_fixture_kill(&x->f, leader);
    assert_true(raft_fixture_step_until_has_no_leader(&x->f, 20000));
    assert_true(raft_fixture_step_until_has_leader(&x->f, 20000));
    unsigned next = raft_fixture_leader_index(&x->f);
    assert_int_not_equal(next, leader);
    for (int k = 5; k < 15; k++) {
        snprintf(name, sizeof(name), "topic-%d", k);
        last = propose_topic(x, next, name);
    }
    for (unsigned i = 0; i < N; i++) {
        if (i != leader) {
            assert_true(raft_fixture_step_until_applied(&x->f, i, last, 5000));
        }
    }
    struct bk_md_image *img = bk_md_fsm_acquire(&x->fsms[next]);
    assert_int_equal(img->n_topics, 15);
    bk_md_image_release(img);

    /* The old leader comes back and catches up (snapshot install). */
    raft_fixture_revive(&x->f, leader);
    assert_true(raft_fixture_step_until_applied(&x->f, leader, last, 10000));
    assert_same(x, 0, 1);
    assert_same(x, 0, 2);
    assert_int_equal(x->failed, 0);
    assert_int_equal(x->applied, 16);

    raft_fixture_close(&x->f);
    for (unsigned i = 0; i < N; i++) {
        bk_md_fsm_close(&x->fsms[i]);
    }
    free(x);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_three_nodes_agree),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
