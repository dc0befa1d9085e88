/* The one admission path of the partition APIs (bk_fan_open_partition),
 * without a running broker: a fan part on a hand-made shard whose replica
 * manager runs on the fake disk. Every partition API answers these
 * errors identically because they all come from here. */
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

#include "api/api.h"
#include "api/fan.h"
#include "common/err.h"
#include "fake_disk.h"
#include "log/log.h"
#include "protocol/kerr.h"
#include "storage_fixture.h"

#define NOW  TEST_NOW_MS
#define NODE 1

struct fx {
    struct bk_clock clock;
    struct bk_disk *disk;
    struct bk_storage st;
    struct bk_md_image *img; /* owned */
    /* What a fan part reaches: its call's context and its owner shard. */
    struct bk_api_ctx ctx;
    struct bk_call call;
    struct bk_fan fan;
    struct bk_shard shard;
    struct bk_api_shard sh;
    struct bk_fan_part part;
};

static const int32_t HERE[] = { NODE };
static const int32_t THERE[] = { 2 };

static struct bk_uuid topic_id(void)
{
    struct bk_uuid u;
    memset(u.b, 7, sizeof(u.b));
    return u;
}

/* Topic "orders": partition 0 led here at epoch 5, partition 1 led by
 * node 2. */
static void make_image(struct fx *f)
{
    struct bk_md_rec recs[3];
    memset(recs, 0, sizeof(recs));
    recs[0].type = BK_MD_REC_TOPIC;
    recs[0].u.topic.name = bk_str_c("orders");
    recs[0].u.topic.id = topic_id();
    for (int32_t p = 0; p < 2; p++) {
        struct bk_md_partition_rec *r = &recs[1 + p].u.partition;
        recs[1 + p].type = BK_MD_REC_PARTITION;
        r->topic_id = topic_id();
        r->partition = p;
        r->replicas = r->isr = p == 0 ? HERE : THERE;
        r->n_replicas = r->n_isr = 1;
        r->leader = p == 0 ? NODE : 2;
        r->leader_epoch = 5;
    }
    struct bk_md_image *empty = bk_md_image_new();
    assert_int_equal(bk_md_image_apply(empty, recs, 3, NULL, &f->img), 0);
    bk_md_image_release(empty);
}

static void start_shard(struct fx *f)
{
    assert_int_equal(
        bk_rmgr_init(&f->sh.rmgr, &f->st, &f->shard.loop, NODE, 0, 1), 0);
}

static void stop_shard(struct fx *f)
{
    bk_rmgr_drain(&f->sh.rmgr);
    uv_run(&f->shard.loop, UV_RUN_DEFAULT);
    bk_rmgr_close(&f->sh.rmgr, true);
}

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof(*f));
    f->disk = fake_disk_new(20261207u);
    test_storage_init(&f->st, &f->clock, f->disk, 64);
    make_image(f);
    f->ctx.node_id = NODE;
    f->call.ctx = &f->ctx;
    f->fan.call = &f->call;
    uv_loop_init(&f->shard.loop);
    f->shard.app = &f->sh;
    f->part.fan = &f->fan;
    f->part.owner = &f->shard;
    start_shard(f);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    stop_shard(f);
    uv_loop_close(&f->shard.loop);
    bk_md_image_release(f->img);
    test_storage_free(&f->st);
    fake_disk_free(f->disk);
    free(f);
    return 0;
}

static int16_t admit(struct fx *f,
                     struct bk_uuid id,
                     int32_t partition,
                     int32_t epoch)
{
    int16_t err = -1;
    struct bk_partition *p =
        bk_fan_open_partition(&f->part, f->img, &id, partition, epoch, &err);
    assert_true((p != NULL) == (err == BK_KERR_NONE));
    return err;
}

static void test_unknown_topic_or_partition(void **state)
{
    struct fx *f = *state;
    struct bk_uuid other;
    memset(other.b, 9, sizeof(other.b));
    assert_int_equal(admit(f, other, 0, -1),
                     BK_KERR_UNKNOWN_TOPIC_OR_PARTITION);
    assert_int_equal(admit(f, topic_id(), 2, -1),
                     BK_KERR_UNKNOWN_TOPIC_OR_PARTITION);
    assert_int_equal(admit(f, topic_id(), -1, -1),
                     BK_KERR_UNKNOWN_TOPIC_OR_PARTITION);
}

static void test_only_the_leader_serves(void **state)
{
    struct fx *f = *state;
    assert_int_equal(admit(f, topic_id(), 1, -1),
                     BK_KERR_NOT_LEADER_OR_FOLLOWER);
    assert_int_equal(admit(f, topic_id(), 0, -1), BK_KERR_NONE);
}

/* KIP-320: an older epoch is fenced, a newer one is not known yet, -1
 * means the client does not know it. */
static void test_leader_epoch(void **state)
{
    struct fx *f = *state;
    assert_int_equal(admit(f, topic_id(), 0, 4), BK_KERR_FENCED_LEADER_EPOCH);
    assert_int_equal(admit(f, topic_id(), 0, 6), BK_KERR_UNKNOWN_LEADER_EPOCH);
    assert_int_equal(admit(f, topic_id(), 0, 5), BK_KERR_NONE);
    assert_int_equal(admit(f, topic_id(), 0, -1), BK_KERR_NONE);
}

/* After a restart the replica opens in the background: until then the
 * answer is retriable, and once the loop has opened it, it is served. */
static void test_opening_replica_is_retriable(void **state)
{
    struct fx *f = *state;
    assert_int_equal(admit(f, topic_id(), 0, -1), BK_KERR_NONE);
    stop_shard(f);
    start_shard(f);
    bk_rmgr_apply(&f->sh.rmgr, f->img);
    assert_int_equal(admit(f, topic_id(), 0, -1),
                     BK_KERR_NOT_LEADER_OR_FOLLOWER);
    uv_run(&f->shard.loop, UV_RUN_NOWAIT);
    assert_int_equal(admit(f, topic_id(), 0, -1), BK_KERR_NONE);
}

static void test_storage_error(void **state)
{
    struct fx *f = *state;
    fake_disk_fail_opens(f->disk, BK_EMFILE);
    assert_int_equal(admit(f, topic_id(), 0, -1), BK_KERR_KAFKA_STORAGE_ERROR);
    fake_disk_fail_opens(f->disk, 0);
    assert_int_equal(admit(f, topic_id(), 0, -1), BK_KERR_NONE);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_unknown_topic_or_partition, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_only_the_leader_serves, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_leader_epoch, setup, teardown),
        cmocka_unit_test_setup_teardown(test_opening_replica_is_retriable,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_storage_error, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
