/* The replica manager on the fake disk: an image queues the replicas this
 * shard hosts, the loop opens them one per turn, a request for one still
 * queued gets BK_EAGAIN and moves it to the front, a partition without a
 * directory opens at once, deleted topics close, and a failed open is
 * reported to the next request. */
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

#include "common/err.h"
#include "common/hash.h"
#include "fake_disk.h"
#include "log/log.h"
#include "partition/manager.h"
#include "partition/replica.h"
#include "storage_fixture.h"

#define NOW   TEST_NOW_MS
#define NODE  1
#define NPART 6

struct fx {
    struct bk_clock clock;
    struct bk_disk *disk;
    struct bk_storage st;
    uv_loop_t loop;
    struct bk_rmgr m;
    bool m_open;
    struct bk_md_image *img; /* owned */
};

static struct bk_uuid topic_id(uint8_t seed)
{
    struct bk_uuid u;
    for (int i = 0; i < 16; i++) {
        u.b[i] = (uint8_t)(seed * 31 + i);
    }
    return u;
}

static const int32_t HERE[] = { NODE };
static const int32_t ELSEWHERE[] = { 2, 3 };

/* Applies recs to the fixture's image. */
static void apply(struct fx *f, const struct bk_md_rec *recs, size_t n)
{
    struct bk_md_image *next;
    assert_int_equal(bk_md_image_apply(f->img, recs, n, NULL, &next), 0);
    bk_md_image_release(f->img);
    f->img = next;
}

/* Topic `name` (id from seed) with NPART partitions on this node, or on
 * nodes 2 and 3. */
static void add_topic(struct fx *f, const char *name, uint8_t seed, bool here)
{
    struct bk_md_rec recs[1 + NPART];
    memset(recs, 0, sizeof(recs));
    recs[0].type = BK_MD_REC_TOPIC;
    recs[0].u.topic.name = bk_str_c(name);
    recs[0].u.topic.id = topic_id(seed);
    for (int32_t p = 0; p < NPART; p++) {
        struct bk_md_partition_rec *r = &recs[1 + p].u.partition;
        recs[1 + p].type = BK_MD_REC_PARTITION;
        r->topic_id = topic_id(seed);
        r->partition = p;
        r->replicas = r->isr = here ? HERE : ELSEWHERE;
        r->n_replicas = r->n_isr = here ? 1 : 2;
        r->leader = here ? NODE : 2;
        r->leader_epoch = 3;
    }
    apply(f, recs, 1 + NPART);
}

static void remove_topic(struct fx *f, uint8_t seed)
{
    struct bk_md_rec r = { .type = BK_MD_REC_REMOVE_TOPIC };
    r.u.remove_topic.topic_id = topic_id(seed);
    apply(f, &r, 1);
}

static void start_manager(struct fx *f, unsigned shard, unsigned nshards)
{
    assert_int_equal(
        bk_rmgr_init(&f->m, &f->st, &f->loop, NODE, shard, nshards), 0);
    f->m_open = true;
}

static void stop_manager(struct fx *f)
{
    bk_rmgr_drain(&f->m);
    uv_run(&f->loop, UV_RUN_DEFAULT);
    bk_rmgr_close(&f->m, true);
    f->m_open = false;
}

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof(*f));
    f->disk = fake_disk_new(20261207u);
    test_storage_init(&f->st, &f->clock, f->disk, 64);
    uv_loop_init(&f->loop);
    f->img = bk_md_image_new();
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    if (f->m_open) {
        stop_manager(f);
    }
    uv_run(&f->loop, UV_RUN_DEFAULT);
    uv_loop_close(&f->loop);
    bk_md_image_release(f->img);
    test_storage_free(&f->st);
    fake_disk_free(f->disk);
    free(f);
    return 0;
}

static int get(struct fx *f, const char *topic, int32_t p)
{
    const struct bk_md_topic *t =
        bk_md_image_topic(f->img, topic, strlen(topic));
    assert_non_null(t);
    struct bk_partition *out = NULL;
    char err[BK_ERRMSG_SIZE] = "";
    int rv = bk_rmgr_get(&f->m, t, p, 3, &out, err);
    assert_true(rv != 0 || out != NULL);
    return rv;
}

/* Gives every partition of "orders" a directory, then restarts the
 * manager, as a broker restart does. */
static void with_existing_dirs(struct fx *f)
{
    add_topic(f, "orders", 1, true);
    start_manager(f, 0, 1);
    for (int32_t p = 0; p < NPART; p++) {
        assert_int_equal(get(f, "orders", p), 0);
    }
    stop_manager(f);
    start_manager(f, 0, 1);
}

/* A new topic has nothing to recover: its partitions open on the first
 * request, before the opener reaches them. */
static void test_new_partition_opens_at_once(void **state)
{
    struct fx *f = *state;
    add_topic(f, "orders", 1, true);
    start_manager(f, 0, 1);
    bk_rmgr_apply(&f->m, f->img);
    assert_int_equal(f->m.queued, NPART);
    assert_int_equal(get(f, "orders", 4), 0);
    assert_int_equal(f->m.queued, NPART - 1);
    assert_int_equal(f->m.parts.n, 1);
    /* The opener creates no files for the others: nothing to recover. */
    uv_run(&f->loop, UV_RUN_DEFAULT);
    assert_true(bk_rmgr_settled(&f->m));
    assert_int_equal(f->m.parts.n, 1);
    assert_int_equal(fake_disk_size(f->disk,
                                    "/data/orders-3/"
                                    "00000000000000000000.log"),
                     -1);
    /* A new image does not queue them again; a request opens one. */
    bk_rmgr_apply(&f->m, f->img);
    assert_int_equal(f->m.queued, 0);
    assert_int_equal(get(f, "orders", 3), 0);
    assert_int_equal(f->m.parts.n, 2);
}

/* After a restart every replica waits for the opener, which opens one per
 * loop turn; a request for one still queued is told to retry and moves it
 * to the front. */
static void test_existing_replicas_open_in_background(void **state)
{
    struct fx *f = *state;
    with_existing_dirs(f);
    bk_rmgr_apply(&f->m, f->img);
    assert_int_equal(f->m.queued, NPART);
    assert_int_equal(f->m.parts.n, 0);
    assert_false(bk_rmgr_settled(&f->m));

    assert_int_equal(get(f, "orders", 5), BK_EAGAIN);
    assert_int_equal(f->m.parts.n, 0);
    uv_run(&f->loop, UV_RUN_NOWAIT);
    assert_int_equal(f->m.parts.n, 1);
    /* The one asked for opened first. */
    assert_int_equal(get(f, "orders", 5), 0);

    while (!bk_rmgr_settled(&f->m)) {
        size_t before = f->m.parts.n;
        uv_run(&f->loop, UV_RUN_NOWAIT);
        assert_int_equal(f->m.parts.n, before + 1);
    }
    assert_int_equal(f->m.parts.n, NPART);
    for (int32_t p = 0; p < NPART; p++) {
        assert_int_equal(get(f, "orders", p), 0);
    }
    /* A new image queues nothing that is open. */
    bk_rmgr_apply(&f->m, f->img);
    assert_int_equal(f->m.queued, 0);
}

/* Each shard queues only the partitions bk_shard_for_partition gives it,
 * and only those this node hosts. */
static void test_only_this_shards_replicas(void **state)
{
    struct fx *f = *state;
    with_existing_dirs(f);
    stop_manager(f);
    add_topic(f, "elsewhere", 2, false);
    start_manager(f, 1, 4);
    bk_rmgr_apply(&f->m, f->img);
    uint64_t th = bk_hash64(topic_id(1).b, 16);
    size_t mine = 0;
    for (int32_t p = 0; p < NPART; p++) {
        mine += bk_shard_for_partition(th, p, 4) == 1;
    }
    assert_true(mine > 0 && mine < NPART);
    assert_int_equal(f->m.queued, mine);
    uv_run(&f->loop, UV_RUN_DEFAULT);
    assert_int_equal(f->m.parts.n, mine);
    assert_true(bk_rmgr_settled(&f->m));
}

/* Deleting a topic closes its open replicas and forgets queued ones. */
static void test_deleted_topic_closes_and_unqueues(void **state)
{
    struct fx *f = *state;
    with_existing_dirs(f);
    bk_rmgr_apply(&f->m, f->img);
    uv_run(&f->loop, UV_RUN_NOWAIT);
    uv_run(&f->loop, UV_RUN_NOWAIT);
    assert_int_equal(f->m.parts.n, 2);
    remove_topic(f, 1);
    assert_int_equal(bk_rmgr_apply(&f->m, f->img), 2);
    assert_int_equal(f->m.parts.n, 0);
    assert_int_equal(f->m.queued, 0);
    assert_true(bk_rmgr_settled(&f->m));
}

/* A reassignment that moved a replica to other brokers closes it here
 * (KIP-455: the removed broker stops serving and fetching it); the
 * others stay open. */
static void test_moved_away_replica_closes(void **state)
{
    struct fx *f = *state;
    with_existing_dirs(f);
    bk_rmgr_apply(&f->m, f->img);
    uv_run(&f->loop, UV_RUN_DEFAULT);
    assert_int_equal(f->m.parts.n, NPART);
    struct bk_md_rec r = { .type = BK_MD_REC_PARTITION };
    struct bk_md_partition_rec *pr = &r.u.partition;
    pr->topic_id = topic_id(1);
    pr->partition = 4;
    pr->replicas = pr->isr = ELSEWHERE;
    pr->n_replicas = pr->n_isr = 2;
    pr->leader = 2;
    pr->leader_epoch = 4;
    pr->partition_epoch = 1;
    apply(f, &r, 1);
    assert_int_equal(bk_rmgr_apply(&f->m, f->img), 1);
    assert_int_equal(f->m.parts.n, NPART - 1);
    const struct bk_uuid id = topic_id(1);
    assert_null(bk_part_find(&f->m.parts, &id, 4));
    assert_non_null(bk_part_find(&f->m.parts, &id, 3));
    assert_int_equal(f->m.queued, 0);
}

/* An open that fails in the background is not retried in a loop; the
 * requests open it themselves and get the error, and once the disk
 * works again the next request succeeds. */
static void test_failed_open_reported_to_request(void **state)
{
    struct fx *f = *state;
    with_existing_dirs(f);
    fake_disk_fail_opens(f->disk, BK_EMFILE);
    bk_rmgr_apply(&f->m, f->img);
    uv_run(&f->loop, UV_RUN_DEFAULT); /* ends: nothing is retried */
    assert_true(bk_rmgr_settled(&f->m));
    assert_int_equal(f->m.parts.n, 0);
    for (int i = 0; i < 3; i++) {
        int rv = get(f, "orders", 0);
        assert_int_not_equal(rv, 0);
        assert_int_not_equal(rv, BK_EAGAIN);
    }
    fake_disk_fail_opens(f->disk, 0);
    assert_int_equal(get(f, "orders", 0), 0);
    /* The others failed too: their requests open them. */
    assert_int_equal(get(f, "orders", 1), 0);
}

/* Partition 2 of "orders" at leader_epoch, led here or by node 2. */
static void move_leader(struct fx *f, int32_t leader, int32_t epoch)
{
    struct bk_md_rec r = { .type = BK_MD_REC_PARTITION };
    struct bk_md_partition_rec *pr = &r.u.partition;
    static const int32_t BOTH[] = { NODE, 2 };
    pr->topic_id = topic_id(1);
    pr->partition = 2;
    pr->replicas = pr->isr = BOTH;
    pr->n_replicas = pr->n_isr = 2;
    pr->leader = leader;
    pr->leader_epoch = epoch;
    pr->partition_epoch = epoch; /* moves forward with every change */
    apply(f, &r, 1);
}

/* The image gives open replicas their role: a new leader elsewhere makes
 * this one a follower (client appends refused), a later epoch here makes
 * it leader again with the epoch in its leader-epoch cache (KIP-101). */
static void test_image_sets_roles(void **state)
{
    struct fx *f = *state;
    with_existing_dirs(f);
    bk_rmgr_apply(&f->m, f->img);
    uv_run(&f->loop, UV_RUN_DEFAULT);
    struct bk_partition *p =
        bk_part_find(&f->m.parts, &f->img->by_id[0]->id, 2);
    assert_non_null(p);
    assert_true(bk_replica_is_leader(p));

    move_leader(f, 2, 4);
    bk_rmgr_apply(&f->m, f->img);
    assert_false(bk_replica_is_leader(p));
    assert_int_equal(p->leader_id, 2);
    assert_int_equal(p->leader_epoch, 4);

    move_leader(f, NODE, 6);
    bk_rmgr_apply(&f->m, f->img);
    assert_true(bk_replica_is_leader(p));
    assert_int_equal(p->leader_epoch, 6);
    assert_int_equal(bk_replica_latest_epoch(p), 6);
    /* An older image changes nothing. */
    move_leader(f, 2, 5);
    bk_rmgr_apply(&f->m, f->img);
    assert_true(bk_replica_is_leader(p));
    assert_int_equal(p->leader_epoch, 6);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_moved_away_replica_closes, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_new_partition_opens_at_once, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(
            test_existing_replicas_open_in_background, setup, teardown),
        cmocka_unit_test_setup_teardown(test_only_this_shards_replicas, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_deleted_topic_closes_and_unqueues,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_failed_open_reported_to_request,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_image_sets_roles, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
