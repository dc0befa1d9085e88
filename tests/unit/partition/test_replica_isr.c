/* The leader's side of replication on the fake disk (replica_isr.c):
 * the high watermark as the smallest log end of the in-sync replicas, the
 * strict min.insync.replicas rule, acks=all waits (completed, timed out,
 * lost with leadership, refused before the append), ISR expansion and
 * shrinking proposals and the controller's answers, the diverging-epoch
 * check of follower fetches, and stale assignments
 * (replication-notes.md sections 1, 2, 4, 5 and 6). */
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
#include <uv.h>

#include "batch_gen.h"
#include "common/err.h"
#include "log/batch.h"
#include "partition/replica.h"
#include "protocol/kerr.h"
#include "storage_fixture.h"

#define SELF 1
#define LAG  30000

struct fx {
    struct bk_clock clock;
    struct bk_disk *disk;
    struct bk_storage st;
    uv_loop_t loop;
    struct bk_part_table parts;
    struct bk_md_topic topic;
    struct bk_partition *p;
    uint8_t buf[1 << 15];
    int isr_changes; /* on_isr_change calls */
    int done_calls;  /* acks=all answers */
    int16_t done_error;
};

static void isr_changed(void *data, struct bk_partition *p)
{
    struct fx *f = data;
    (void)p;
    f->isr_changes++;
}

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof(*f));
    f->disk = fake_disk_new(20261207u);
    test_storage_init(&f->st, &f->clock, f->disk, 16);
    f->st.node_id = SELF;
    f->st.replica_lag_time_max_ms = LAG;
    uv_loop_init(&f->loop);
    assert_int_equal(bk_part_table_init(&f->parts, &f->st, &f->loop), 0);
    f->parts.on_isr_change = isr_changed;
    f->parts.on_isr_change_data = f;
    f->topic.name = "orders";
    f->topic.id.b[0] = 7;
    f->topic.n_partitions = 1;
    char err[BK_ERRMSG_SIZE];
    assert_int_equal(bk_part_get(&f->parts, &f->topic, 0, 0, &f->p, err), 0);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    bk_part_table_close(&f->parts, true);
    uv_run(&f->loop, UV_RUN_DEFAULT);
    uv_loop_close(&f->loop);
    test_storage_free(&f->st);
    fake_disk_free(f->disk);
    free(f);
    return 0;
}

/* The metadata's word on the partition: replicas {1, 2, 3}, isr as
 * given, led by this node at leader_epoch. */
static void assign(struct fx *f,
                   const int32_t *isr,
                   int32_t n_isr,
                   int32_t leader_epoch,
                   int32_t partition_epoch)
{
    static const int32_t replicas[] = { SELF, 2, 3 };
    struct bk_md_partition mp = {
        .n_replicas = 3,
        .replicas = (int32_t *)replicas,
        .n_isr = n_isr,
        .isr = (int32_t *)isr,
        .leader = SELF,
        .leader_epoch = leader_epoch,
        .partition_epoch = partition_epoch,
    };
    assert_int_equal(bk_replica_become_leader(f->p, leader_epoch), 0);
    assert_int_equal(bk_replica_set_assignment(f->p, &mp, TEST_NOW_MS), 0);
}

static void on_done(struct bk_replica_append *a, int16_t error)
{
    struct fx *f = a->data;
    f->done_calls++;
    f->done_error = error;
}

/* Appends nrec records; returns whether the answer waits (acks=all). */
static bool produce(struct fx *f,
                    struct bk_replica_append *a,
                    int nrec,
                    bool acks_all)
{
    memset(a, 0, sizeof(*a));
    a->batch = f->buf;
    a->len = test_batch_build(f->buf, sizeof(f->buf), nrec, TEST_NOW_MS, 1, 10,
                              (uint32_t)nrec);
    a->produce_version = 9;
    a->wait_durable = acks_all;
    a->timeout_ms = 5000;
    a->durable_cb = on_done;
    a->data = f;
    return bk_replica_append_leader(f->p, a);
}

static void fetch_from(struct fx *f, int32_t id, int64_t offset, int64_t now)
{
    struct bk_replica_fetch_from from = {
        .replica_id = id,
        .broker_epoch = 10 + id,
        .fetch_offset = offset,
        .log_start = 0,
        .last_fetched_epoch = -1,
        .current_leader_epoch = f->p->leader_epoch,
    };
    int32_t de;
    int64_t dend;
    assert_int_equal(bk_replica_check_follower(f->p, &from, &de, &dend), 0);
    assert_int_equal(de, -1);
    bk_replica_follower_fetched(f->p, &from, now);
}

static void test_hw_is_the_smallest_isr_log_end(void **state)
{
    struct fx *f = *state;
    const int32_t isr[] = { SELF, 2, 3 };
    assign(f, isr, 3, 1, 1);
    struct bk_replica_append a;
    assert_false(produce(f, &a, 5, false));
    assert_int_equal(a.error, 0);
    /* Nobody else has it yet. */
    assert_int_equal(bk_replica_high_watermark(f->p), 0);
    assert_int_equal(bk_replica_visible_end(f->p, BK_ISOLATION_LOG_END), 5);
    fetch_from(f, 2, 5, TEST_NOW_MS);
    assert_int_equal(bk_replica_high_watermark(f->p), 0);
    fetch_from(f, 3, 3, TEST_NOW_MS);
    assert_int_equal(bk_replica_high_watermark(f->p), 3);
    fetch_from(f, 3, 5, TEST_NOW_MS);
    assert_int_equal(bk_replica_high_watermark(f->p), 5);
    /* Never back, even if a follower reports less (after a restart). */
    fetch_from(f, 3, 2, TEST_NOW_MS);
    assert_int_equal(bk_replica_high_watermark(f->p), 5);
    assert_int_equal(f->isr_changes, 0);
}

static void test_strict_min_isr(void **state)
{
    struct fx *f = *state;
    f->p->min_isr = 2;
    const int32_t isr[] = { SELF };
    assign(f, isr, 1, 1, 1);
    struct bk_replica_append a;
    /* acks=all is refused before anything is written. */
    assert_false(produce(f, &a, 2, true));
    assert_int_equal(a.error, BK_KERR_NOT_ENOUGH_REPLICAS);
    assert_int_equal(bk_replica_log_end(f->p), 0);
    /* acks=1 is written but stays invisible (KAFKA-15583). */
    assert_false(produce(f, &a, 2, false));
    assert_int_equal(a.error, 0);
    assert_int_equal(bk_replica_log_end(f->p), 2);
    assert_int_equal(bk_replica_high_watermark(f->p), 0);
    /* min.insync.replicas above the replica count counts as the count. */
    f->p->min_isr = 5;
    const int32_t all[] = { SELF, 2, 3 };
    assign(f, all, 3, 1, 2);
    fetch_from(f, 2, 2, TEST_NOW_MS);
    fetch_from(f, 3, 2, TEST_NOW_MS);
    assert_int_equal(bk_replica_high_watermark(f->p), 2);
}

static void test_acks_all_waits_for_sync_and_isr(void **state)
{
    struct fx *f = *state;
    const int32_t isr[] = { SELF, 2 };
    assign(f, isr, 2, 1, 1);
    struct bk_replica_append a;
    assert_true(produce(f, &a, 3, true));
    assert_int_equal(a.error, 0);
    assert_int_equal(a.base_offset, 0);
    /* On this disk first: the follower has not fetched yet. */
    while (bk_syncer_run_once(f->st.syncer) > 0) {
    }
    assert_int_equal(f->done_calls, 0);
    fetch_from(f, 2, 3, TEST_NOW_MS);
    assert_int_equal(f->done_calls, 1);
    assert_int_equal(f->done_error, 0);
}

static void test_acks_all_times_out_or_loses_leadership(void **state)
{
    struct fx *f = *state;
    const int32_t isr[] = { SELF, 2 };
    assign(f, isr, 2, 1, 1);
    struct bk_replica_append a, b;
    assert_true(produce(f, &a, 1, true));
    while (bk_syncer_run_once(f->st.syncer) > 0) {
    }
    bk_replica_isr_tick(f->p, TEST_NOW_MS + 4999);
    assert_int_equal(f->done_calls, 0);
    bk_replica_isr_tick(f->p, TEST_NOW_MS + 5000);
    assert_int_equal(f->done_calls, 1);
    assert_int_equal(f->done_error, BK_KERR_REQUEST_TIMED_OUT);
    assert_true(produce(f, &b, 1, true));
    while (bk_syncer_run_once(f->st.syncer) > 0) {
    }
    assert_int_equal(bk_replica_become_follower(f->p, 2, 2), 0);
    assert_int_equal(f->done_calls, 2);
    assert_int_equal(f->done_error, BK_KERR_NOT_LEADER_OR_FOLLOWER);
}

static void test_expand_then_shrink(void **state)
{
    struct fx *f = *state;
    const int32_t isr[] = { SELF, 2 };
    assign(f, isr, 2, 1, 4);
    struct bk_replica_append a;
    assert_false(produce(f, &a, 4, false));
    fetch_from(f, 2, 4, TEST_NOW_MS);
    assert_int_equal(bk_replica_high_watermark(f->p), 4);
    /* 3 is behind the high watermark: not yet. */
    fetch_from(f, 3, 2, TEST_NOW_MS);
    assert_int_equal(f->isr_changes, 0);
    fetch_from(f, 3, 4, TEST_NOW_MS);
    assert_int_equal(f->isr_changes, 1);
    int32_t want[8], n, le, pe;
    assert_true(bk_replica_isr_proposal(f->p, want, 8, &n, &le, &pe));
    assert_int_equal(n, 3);
    assert_int_equal(want[2], 3);
    assert_int_equal(le, 1);
    assert_int_equal(pe, 4);
    /* One change in flight: no second proposal meanwhile. */
    fetch_from(f, 3, 4, TEST_NOW_MS);
    assert_int_equal(f->isr_changes, 1);
    assert_int_equal(bk_replica_isr_size(f->p), 3); /* maximal ISR */
    const int32_t committed[] = { SELF, 2, 3 };
    bk_replica_isr_answer(f->p, 0, 1, 5, committed, 3);
    assert_false(bk_replica_isr_proposal(f->p, want, 8, &n, &le, &pe));
    assert_int_equal(f->p->n_isr, 3);
    assert_int_equal(f->p->partition_epoch, 5);
    /* 2 stops fetching while the log grows: out after the lag. */
    assert_false(produce(f, &a, 1, false));
    fetch_from(f, 3, 5, TEST_NOW_MS + LAG);
    bk_replica_isr_tick(f->p, TEST_NOW_MS + LAG);
    assert_int_equal(f->isr_changes, 1);
    bk_replica_isr_tick(f->p, TEST_NOW_MS + LAG + 1);
    assert_int_equal(f->isr_changes, 2);
    assert_true(bk_replica_isr_proposal(f->p, want, 8, &n, &le, &pe));
    assert_int_equal(n, 2);
    assert_int_equal(want[0], SELF);
    assert_int_equal(want[1], 3);
    /* The shrinking member still counts until the change is committed. */
    assert_int_equal(bk_replica_high_watermark(f->p), 4);
    /* Refused: back to the committed ISR, and proposed again later. */
    bk_replica_isr_answer(f->p, BK_KERR_INELIGIBLE_REPLICA, -1, -1, NULL, 0);
    assert_false(bk_replica_isr_proposal(f->p, want, 8, &n, &le, &pe));
    bk_replica_isr_tick(f->p, TEST_NOW_MS + LAG + 2);
    assert_int_equal(f->isr_changes, 3);
    /* A stale partition epoch waits for the metadata, which ends it. */
    bk_replica_isr_answer(f->p, BK_KERR_INVALID_UPDATE_VERSION, -1, -1, NULL,
                          0);
    assert_true(bk_replica_isr_proposal(f->p, want, 8, &n, &le, &pe));
    const int32_t shrunk[] = { SELF, 3 };
    assign(f, shrunk, 2, 1, 6);
    assert_false(bk_replica_isr_proposal(f->p, want, 8, &n, &le, &pe));
    assert_int_equal(bk_replica_high_watermark(f->p), 5);
}

/* A proposal told to wait for metadata that never comes does not block
 * the partition's ISR changes for ever: after the lag it is dropped, and
 * the next check proposes again. */
static void test_unanswered_proposal_expires(void **state)
{
    struct fx *f = *state;
    const int32_t isr[] = { SELF, 2, 3 };
    assign(f, isr, 3, 1, 4);
    struct bk_replica_append a;
    assert_false(produce(f, &a, 2, false));
    fetch_from(f, 3, 2, TEST_NOW_MS + LAG);
    bk_replica_isr_tick(f->p, TEST_NOW_MS + LAG + 1); /* 2 is out */
    assert_int_equal(f->isr_changes, 1);
    bk_replica_isr_answer(f->p, BK_KERR_FENCED_LEADER_EPOCH, -1, -1, NULL, 0);
    int32_t want[8], n, le, pe;
    assert_true(bk_replica_isr_proposal(f->p, want, 8, &n, &le, &pe));
    fetch_from(f, 3, 2, TEST_NOW_MS + 2 * LAG);
    bk_replica_isr_tick(f->p, TEST_NOW_MS + 2 * LAG + 1);
    assert_true(bk_replica_isr_proposal(f->p, want, 8, &n, &le, &pe));
    assert_int_equal(f->isr_changes, 1);
    bk_replica_isr_tick(f->p, TEST_NOW_MS + 2 * LAG + 2); /* expired */
    assert_false(bk_replica_isr_proposal(f->p, want, 8, &n, &le, &pe));
    bk_replica_isr_tick(f->p, TEST_NOW_MS + 2 * LAG + 3); /* again */
    assert_int_equal(f->isr_changes, 2);
    assert_true(bk_replica_isr_proposal(f->p, want, 8, &n, &le, &pe));
    assert_int_equal(n, 2);
}

static void test_follower_checks(void **state)
{
    struct fx *f = *state;
    const int32_t isr[] = { SELF, 2, 3 };
    assign(f, isr, 3, 1, 1);
    struct bk_replica_append a;
    assert_false(produce(f, &a, 3, false)); /* epoch 1: offsets 0-2 */
    assign(f, isr, 3, 3, 2);
    assert_false(produce(f, &a, 2, false)); /* epoch 3: offsets 3-4 */
    struct bk_replica_fetch_from from = { .replica_id = 9,
                                          .fetch_offset = 5,
                                          .last_fetched_epoch = 3,
                                          .current_leader_epoch = -1 };
    int32_t de;
    int64_t dend;
    assert_int_equal(bk_replica_check_follower(f->p, &from, &de, &dend),
                     BK_KERR_NOT_LEADER_OR_FOLLOWER);
    from.current_leader_epoch = 3;
    assert_int_equal(bk_replica_check_follower(f->p, &from, &de, &dend),
                     BK_KERR_UNKNOWN_LEADER_EPOCH);
    /* In step: no divergence. */
    from.replica_id = 2;
    assert_int_equal(bk_replica_check_follower(f->p, &from, &de, &dend), 0);
    assert_int_equal(de, -1);
    /* A follower that wrote epoch 2 past offset 3 (a leader this log
     * never followed): cut back to where epoch 1 ended. */
    from.last_fetched_epoch = 2;
    from.fetch_offset = 6;
    assert_int_equal(bk_replica_check_follower(f->p, &from, &de, &dend), 0);
    assert_int_equal(de, 1);
    assert_int_equal(dend, 3);
    /* Same epoch, but further than this log has it. */
    from.last_fetched_epoch = 1;
    from.fetch_offset = 4;
    assert_int_equal(bk_replica_check_follower(f->p, &from, &de, &dend), 0);
    assert_int_equal(de, 1);
    assert_int_equal(dend, 3);
    from.fetch_offset = 3;
    assert_int_equal(bk_replica_check_follower(f->p, &from, &de, &dend), 0);
    assert_int_equal(de, -1);
    /* An epoch older than any this log has (the follower led alone before
     * an unclean election): it ends where this log's first epoch starts. */
    from.last_fetched_epoch = 0;
    from.fetch_offset = 4;
    assert_int_equal(bk_replica_check_follower(f->p, &from, &de, &dend), 0);
    assert_int_equal(de, 0);
    assert_int_equal(dend, 0);
    /* A follower is refused once this replica follows. */
    assert_int_equal(bk_replica_become_follower(f->p, 4, 2), 0);
    assert_int_equal(bk_replica_check_follower(f->p, &from, &de, &dend),
                     BK_KERR_NOT_LEADER_OR_FOLLOWER);
}

static void test_stale_assignment_changes_nothing(void **state)
{
    struct fx *f = *state;
    const int32_t isr[] = { SELF, 2, 3 };
    assign(f, isr, 3, 1, 7);
    const int32_t old[] = { SELF };
    static const int32_t replicas[] = { SELF, 2, 3 };
    struct bk_md_partition mp = { .n_replicas = 3,
                                  .replicas = (int32_t *)replicas,
                                  .n_isr = 1,
                                  .isr = (int32_t *)old,
                                  .leader = SELF,
                                  .leader_epoch = 1,
                                  .partition_epoch = 6 };
    assert_int_equal(bk_replica_set_assignment(f->p, &mp, TEST_NOW_MS), 0);
    assert_int_equal(f->p->n_isr, 3);
    assert_int_equal(f->p->partition_epoch, 7);
}

/* KIP-207: a new leader does not answer a latest offset below what
 * consumers of the previous leader may have seen. */
static void test_new_leader_latest_offset(void **state)
{
    struct fx *f = *state;
    const int32_t isr[] = { SELF, 2, 3 };
    assign(f, isr, 3, 1, 1);
    struct bk_replica_append a;
    assert_false(produce(f, &a, 5, false));
    fetch_from(f, 2, 3, TEST_NOW_MS);
    fetch_from(f, 3, 3, TEST_NOW_MS);
    int64_t off, ts;
    int32_t epoch;
    assert_int_equal(
        bk_replica_list_offset(f->p, -1, BK_ISOLATION_READ_UNCOMMITTED, &off,
                               &ts, &epoch),
        0);
    assert_int_equal(off, 3);
    assign(f, isr, 3, 2, 2); /* a new epoch starts at offset 5 */
    assert_int_equal(
        bk_replica_list_offset(f->p, -1, BK_ISOLATION_READ_UNCOMMITTED, &off,
                               &ts, &epoch),
        BK_KERR_OFFSET_NOT_AVAILABLE);
    fetch_from(f, 2, 5, TEST_NOW_MS);
    fetch_from(f, 3, 5, TEST_NOW_MS);
    assert_int_equal(
        bk_replica_list_offset(f->p, -1, BK_ISOLATION_READ_UNCOMMITTED, &off,
                               &ts, &epoch),
        0);
    assert_int_equal(off, 5);
}

/* Kafka's replication-offset-checkpoint: a replica opened again does not
 * show consumers more than was committed when it stopped. */
static void test_high_watermark_survives_a_restart(void **state)
{
    struct fx *f = *state;
    const int32_t isr[] = { SELF, 2, 3 };
    assign(f, isr, 3, 1, 1);
    struct bk_replica_append a;
    assert_false(produce(f, &a, 5, false));
    fetch_from(f, 2, 3, TEST_NOW_MS);
    fetch_from(f, 3, 3, TEST_NOW_MS);
    assert_int_equal(bk_replica_high_watermark(f->p), 3);
    bk_part_table_close(&f->parts, true);
    uv_run(&f->loop, UV_RUN_DEFAULT);
    assert_int_equal(bk_part_table_init(&f->parts, &f->st, &f->loop), 0);
    char err[BK_ERRMSG_SIZE];
    assert_int_equal(bk_part_get(&f->parts, &f->topic, 0, 1, &f->p, err), 0);
    assert_int_equal(bk_replica_log_end(f->p), 5);
    assert_int_equal(bk_replica_high_watermark(f->p), 3);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_hw_is_the_smallest_isr_log_end,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_strict_min_isr, setup, teardown),
        cmocka_unit_test_setup_teardown(test_acks_all_waits_for_sync_and_isr,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_acks_all_times_out_or_loses_leadership, setup, teardown),
        cmocka_unit_test_setup_teardown(test_expand_then_shrink, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_unanswered_proposal_expires, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_follower_checks, setup, teardown),
        cmocka_unit_test_setup_teardown(test_stale_assignment_changes_nothing,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_high_watermark_survives_a_restart,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_new_leader_latest_offset, setup,
                                        teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
