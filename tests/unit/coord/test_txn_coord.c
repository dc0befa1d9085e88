/* The transaction coordinator's state (src/coord/txn_coord.h) on the fake
 * disk: a change is pending until its record is committed, the answer is
 * held until then, and after a restart the partition's records are read
 * back (the last value of an id wins, a tombstone removes it), so an id
 * left in a Prepare state is found there to be completed. */
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
#include "coord/txn_coord.h"
#include "fake_disk.h"
#include "log/log.h"
#include "partition/replica.h"
#include "protocol/kerr.h"
#include "storage_fixture.h"
#include "txn/txn.h"

#define NOW TEST_NOW_MS

struct fx {
    struct bk_clock clock;
    struct bk_disk *disk;
    struct bk_storage st;
    uv_loop_t loop;
    struct bk_part_table parts;
    struct bk_md_topic topic;
    struct bk_coord_txn *tc;
    int holds, releases;
    int16_t err;
};

static struct bk_partition *open_fn(void *arg,
                                    const struct bk_uuid *topic_id,
                                    int32_t partition,
                                    int16_t *err)
{
    struct fx *f = arg;
    (void)topic_id;
    (void)err;
    struct bk_partition *p = NULL;
    char msg[BK_ERRMSG_SIZE];
    assert_int_equal(bk_part_get(&f->parts, &f->topic, partition, 1, &p, msg),
                     0);
    return p;
}

static void hold(void *arg)
{
    ((struct fx *)arg)->holds++;
}

static void release(void *arg)
{
    ((struct fx *)arg)->releases++;
}

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof(*f));
    f->disk = fake_disk_new(20261207u);
    test_storage_init(&f->st, &f->clock, f->disk, 16);
    uv_loop_init(&f->loop);
    assert_int_equal(bk_part_table_init(&f->parts, &f->st, &f->loop), 0);
    f->topic.name = BK_TXN_TOPIC;
    f->topic.id.b[0] = 5;
    f->topic.n_partitions = 2;
    f->tc = bk_coord_txn_new(&f->parts, &f->clock, 0);
    assert_non_null(f->tc);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    bk_coord_txn_free(f->tc);
    bk_part_table_close(&f->parts, true);
    uv_run(&f->loop, UV_RUN_DEFAULT);
    uv_loop_close(&f->loop);
    test_storage_free(&f->st);
    fake_disk_free(f->disk);
    free(f);
    return 0;
}

static int16_t open_p(struct fx *f, int32_t partition)
{
    return bk_coord_txn_open(f->tc, &f->topic.id, partition, open_fn, f);
}

/* A second coordinator over the same partitions: as after a restart. */
static void restart(struct fx *f)
{
    bk_coord_txn_free(f->tc);
    f->tc = bk_coord_txn_new(&f->parts, &f->clock, 0);
    assert_non_null(f->tc);
}

/* InitProducerId for a new id on partition 0, written with a waiter. */
static struct bk_coord_txn_entry *new_id(struct fx *f, const char *id)
{
    struct bk_coord_txn_entry *e =
        bk_coord_txn_add(f->tc, bk_str_c(id), 0, 4000);
    assert_non_null(e);
    enum bk_txn_action act;
    struct bk_txn_value next;
    assert_int_equal(
        bk_txn_init_pid(&e->m, false, -1, -1, 60000, -1, NOW, &act, &next), 0);
    assert_int_equal(act, BK_TXN_WRITE);
    struct bk_coord_waiter w = { hold, release, f, &f->err };
    assert_int_equal(bk_coord_txn_write(f->tc, e, &next, &w), BK_KERR_NONE);
    return e;
}

static void add_partition(struct fx *f,
                          struct bk_coord_txn_entry *e,
                          const char *topic,
                          int32_t p)
{
    enum bk_txn_action act;
    struct bk_txn_value next;
    struct bk_str t = bk_str_c(topic);
    bk_syncer_run_once(f->st.syncer); /* the last change is committed */
    e = bk_coord_txn_find(f->tc, bk_str_c(e->id));
    assert_int_equal(
        bk_txn_add_partitions(&e->m, e->m.cur.producer_id, e->m.cur.epoch, &t,
                              &p, 1, NOW, &act, &next),
        0);
    assert_int_equal(act, BK_TXN_WRITE);
    assert_int_equal(bk_coord_txn_write(f->tc, e, &next, NULL), BK_KERR_NONE);
}

static void test_pending_until_committed(void **state)
{
    struct fx *f = *state;
    assert_int_equal(open_p(f, 0), BK_KERR_NONE);
    assert_non_null(new_id(f, "app-1"));
    assert_int_equal(f->holds, 1);
    assert_int_equal(f->releases, 0);
    struct bk_coord_txn_entry *e = bk_coord_txn_find(f->tc, bk_str_c("app-1"));
    assert_non_null(e);
    assert_true(e->m.pending);
    assert_int_equal(e->m.cur.epoch, 0);
    /* A second change meets the one in flight. */
    enum bk_txn_action act;
    struct bk_txn_value next;
    assert_int_equal(
        bk_txn_init_pid(&e->m, false, -1, -1, 60000, -1, NOW, &act, &next),
        BK_KERR_CONCURRENT_TRANSACTIONS);
    bk_syncer_run_once(f->st.syncer);
    assert_int_equal(f->releases, 1);
    assert_int_equal(f->err, BK_KERR_NONE);
    e = bk_coord_txn_find(f->tc, bk_str_c("app-1"));
    assert_false(e->m.pending);
    assert_null(bk_coord_txn_find(f->tc, bk_str_c("app-2")));
}

static void test_reload_after_restart(void **state)
{
    struct fx *f = *state;
    assert_int_equal(open_p(f, 0), BK_KERR_NONE);
    struct bk_coord_txn_entry *e = new_id(f, "app-1");
    add_partition(f, e, "orders", 3);
    add_partition(f, e, "orders", 1);
    /* Decided but not completed: the new coordinator must finish it. */
    bk_syncer_run_once(f->st.syncer);
    e = bk_coord_txn_find(f->tc, bk_str_c("app-1"));
    enum bk_txn_action act;
    struct bk_txn_value next;
    assert_int_equal(bk_txn_end(&e->m, 4000, 0, true, NOW, &act, &next), 0);
    assert_int_equal(bk_coord_txn_write(f->tc, e, &next, NULL), 0);
    struct bk_coord_txn_entry *gone = new_id(f, "app-gone");
    assert_int_equal(bk_coord_txn_remove(f->tc, gone), BK_KERR_NONE);
    assert_null(bk_coord_txn_find(f->tc, bk_str_c("app-gone")));
    bk_syncer_run_once(f->st.syncer);
    restart(f);
    assert_null(bk_coord_txn_find(f->tc, bk_str_c("app-1")));
    assert_int_equal(open_p(f, 0), BK_KERR_NONE);
    assert_int_equal(bk_coord_txn_count(f->tc), 1);
    e = bk_coord_txn_find(f->tc, bk_str_c("app-1"));
    assert_non_null(e);
    assert_false(e->m.pending);
    assert_int_equal(e->m.cur.producer_id, 4000);
    assert_int_equal(e->m.cur.epoch, 0);
    assert_int_equal(e->m.cur.state, BK_TXN_PREPARE_COMMIT);
    assert_int_equal(e->m.cur.timeout_ms, 60000);
    assert_int_equal(e->m.cur.nparts, 2);
    assert_string_equal(e->m.cur.parts[0].topic, "orders");
    assert_int_equal(e->m.cur.parts[0].partition, 1);
    assert_int_equal(e->m.cur.parts[1].partition, 3);
    assert_null(bk_coord_txn_find(f->tc, bk_str_c("app-gone")));
}

static int visits;

static void visit(void *arg, struct bk_coord_txn_entry *e)
{
    (void)arg;
    (void)e;
    visits++;
}

static void test_many_ids_and_partitions(void **state)
{
    struct fx *f = *state;
    assert_int_equal(open_p(f, 0), BK_KERR_NONE);
    assert_int_equal(open_p(f, 1), BK_KERR_NONE);
    char id[32];
    for (int i = 0; i < 200; i++) {
        snprintf(id, sizeof(id), "id-%d", i);
        struct bk_coord_txn_entry *e =
            bk_coord_txn_add(f->tc, bk_str_c(id), i % 2, 100 + i);
        assert_non_null(e);
        enum bk_txn_action act;
        struct bk_txn_value next;
        assert_int_equal(
            bk_txn_init_pid(&e->m, false, -1, -1, 1000, -1, NOW, &act, &next),
            0);
        assert_int_equal(bk_coord_txn_write(f->tc, e, &next, NULL), 0);
    }
    assert_int_equal(bk_coord_txn_count(f->tc), 200);
    visits = 0;
    bk_coord_txn_each(f->tc, visit, NULL);
    assert_int_equal(visits, 200);
    bk_syncer_run_once(f->st.syncer);
    restart(f);
    assert_int_equal(open_p(f, 1), BK_KERR_NONE);
    assert_int_equal(bk_coord_txn_count(f->tc), 100); /* partition 1 only */
    struct bk_coord_txn_entry *e = bk_coord_txn_find(f->tc, bk_str_c("id-7"));
    assert_non_null(e);
    assert_int_equal(e->m.cur.producer_id, 107);
    assert_null(bk_coord_txn_find(f->tc, bk_str_c("id-8")));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_pending_until_committed, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_reload_after_restart, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_many_ids_and_partitions, setup,
                                        teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
