/* The coordinator runtime (src/coord/coord.h) without a broker: a key goes
 * to Kafka's partition and this node's owner shard, a partition written
 * through the replica on the fake disk loads back record by record, a
 * failed append drops the partition from memory and the next open reads
 * it again, and answers are not given back before an fdatasync covers the
 * records they report. */
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
#include "coord/coord.h"
#include "fake_disk.h"
#include "log/log.h"
#include "partition/replica.h"
#include "protocol/kerr.h"
#include "storage_fixture.h"

#define NOW      TEST_NOW_MS
#define MAX_RECS 64

/* What the ops table saw. */
struct seen {
    int32_t partition;
    char key[32];
    int32_t value_len; /* -1: a tombstone */
};

struct fx {
    struct bk_clock clock;
    struct bk_disk *disk;
    struct bk_storage st;
    uv_loop_t loop;
    struct bk_part_table parts;
    struct bk_md_topic topic;
    struct bk_coord c;
    struct seen seen[MAX_RECS];
    size_t nseen;
    int32_t unloaded[8];
    size_t nunloaded;
    int16_t open_err; /* what the open function answers; NONE: opens */
    int32_t epoch;    /* the leader epoch open_fn gives the replica */
    int holds, releases;
    int16_t err;
};

static void load_record(void *data,
                        int32_t partition,
                        const struct bk_record *rec,
                        struct bk_arena *scratch)
{
    struct fx *f = data;
    (void)scratch;
    assert_true(f->nseen < MAX_RECS);
    struct seen *s = &f->seen[f->nseen++];
    s->partition = partition;
    size_t n = rec->key.len > 0 ? (size_t)rec->key.len : 0;
    assert_true(n < sizeof(s->key));
    memcpy(s->key, rec->key.ptr, n);
    s->key[n] = '\0';
    s->value_len = rec->value.ptr == NULL ? -1 : rec->value.len;
}

static size_t unload(void *data, int32_t partition)
{
    struct fx *f = data;
    assert_true(f->nunloaded < 8);
    f->unloaded[f->nunloaded++] = partition;
    return 0;
}

static size_t count(void *data)
{
    return ((struct fx *)data)->nseen;
}

static int npending;
static int64_t pending_pid;

static void load_pending(void *data,
                         int32_t partition,
                         int64_t producer_id,
                         const struct bk_record *rec,
                         struct bk_arena *scratch)
{
    (void)data;
    (void)partition;
    (void)rec;
    (void)scratch;
    npending++;
    pending_pid = producer_id;
}

static const struct bk_coord_ops test_ops = {
    .topic = "__test_state",
    .log_sub = "test",
    .load_record = load_record,
    .unload = unload,
    .count = count,
    .load_pending = load_pending,
};

static struct bk_partition *open_fn(void *arg,
                                    const struct bk_uuid *topic_id,
                                    int32_t partition,
                                    int16_t *err)
{
    struct fx *f = arg;
    assert_memory_equal(topic_id, &f->topic.id, sizeof(*topic_id));
    if (f->open_err != BK_KERR_NONE) {
        *err = f->open_err;
        return NULL;
    }
    struct bk_partition *p = NULL;
    char msg[BK_ERRMSG_SIZE];
    assert_int_equal(
        bk_part_get(&f->parts, &f->topic, partition, f->epoch, &p, msg), 0);
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

static struct bk_coord_waiter waiter(struct fx *f)
{
    return (struct bk_coord_waiter){ hold, release, f, &f->err };
}

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof(*f));
    f->disk = fake_disk_new(20261208u);
    test_storage_init(&f->st, &f->clock, f->disk, 16);
    uv_loop_init(&f->loop);
    assert_int_equal(bk_part_table_init(&f->parts, &f->st, &f->loop), 0);
    f->topic.name = "__test_state";
    f->topic.id.b[0] = 7;
    f->topic.n_partitions = 2;
    f->epoch = 3;
    bk_coord_init(&f->c, &test_ops, f, &f->parts, &f->clock, 0);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    bk_coord_free(&f->c);
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
    return bk_coord_open(&f->c, &f->topic.id, partition, open_fn, f);
}

/* Appends records keyed key0..key(n-1) (the last one a tombstone when
 * tomb) to partition. */
static int16_t append_keys(struct fx *f,
                           int32_t partition,
                           int from,
                           int n,
                           bool tomb,
                           const struct bk_coord_waiter *w)
{
    char keys[8][16];
    struct bk_coord_rec recs[8];
    assert_true(n <= 8);
    for (int i = 0; i < n; i++) {
        int len = snprintf(keys[i], sizeof(keys[i]), "key%d", from + i);
        recs[i].key = (struct bk_bytes){ (const uint8_t *)keys[i], len };
        recs[i].value = (struct bk_bytes){ (const uint8_t *)"value", 5 };
    }
    if (tomb) {
        recs[n - 1].value = BK_BYTES_NULL;
    }
    return bk_coord_append(&f->c, partition, recs, (size_t)n, w);
}

/* A second coordinator on the same partitions: as after a restart. */
static void restart(struct fx *f)
{
    bk_coord_free(&f->c);
    f->nseen = 0;
    bk_coord_init(&f->c, &test_ops, f, &f->parts, &f->clock, 0);
}

/* ---- routing ---- */

static struct bk_str str(const char *s)
{
    return (struct bk_str){ s, (int32_t)strlen(s) };
}

static void test_key_partition_is_javas_hash(void **state)
{
    (void)state;
    /* Expected values from Java's String.hashCode, abs, modulo. */
    assert_int_equal(bk_coord_key_partition(str("abc"), 50), 4);
    assert_int_equal(bk_coord_key_partition(str("abc"), 7), 6);
    assert_int_equal(bk_coord_key_partition(str("my-group"), 50), 12);
    assert_int_equal(bk_coord_key_partition(str("consumer-group-42"), 50), 17);
    assert_int_equal(bk_coord_key_partition(str(""), 50), 0);
    /* UTF-16 code units: é is one, U+1F600 a surrogate pair. */
    assert_int_equal(bk_coord_key_partition(str("\xc3\xa9t\xc3\xa9"), 50), 42);
    assert_int_equal(bk_coord_key_partition(str("\xf0\x9f\x98\x80"), 50), 49);
    assert_int_equal(bk_coord_key_partition(str("ab\xf0\x9f\x98\x80z"), 7), 5);
    /* hashCode MIN_VALUE: Kafka's Utils.abs gives 0. */
    assert_int_equal(bk_coord_key_partition(str("polygenelubricants"), 50), 0);
    assert_int_equal(bk_coord_key_partition(str("abc"), 0), 0);
}

static void test_route_to_leader_and_owner_shard(void **state)
{
    (void)state;
    struct bk_md_partition mp[3] = {
        { .leader = 1 },
        { .leader = 2 },
        { .leader = 1 },
    };
    struct bk_md_topic t = { .name = "__test_state",
                             .n_partitions = 3,
                             .partitions = mp };
    t.id.b[3] = 9;
    t.id_hash = bk_hash64(t.id.b, sizeof(t.id.b)); /* as the image sets it */
    struct bk_md_topic *byname[1] = { &t };
    struct bk_md_image img = { .n_topics = 1,
                               .by_name = byname,
                               .by_id = byname };
    int32_t p = -1;
    unsigned owner = 99;
    struct bk_uuid id = { 0 };
    /* "abc" -> 96354 % 3 = 0, led by node 1. */
    assert_int_equal(
        bk_coord_route(&img, "__test_state", str("abc"), 1, 4, &p, &owner, &id),
        BK_KERR_NONE);
    assert_int_equal(p, 0);
    assert_memory_equal(&id, &t.id, sizeof(id));
    assert_int_equal(
        owner, bk_shard_for_partition(bk_hash64(t.id.b, sizeof(t.id.b)), 0, 4));
    /* Another node leads it, the topic is missing, no image. */
    assert_int_equal(
        bk_coord_route(&img, "__test_state", str("abc"), 2, 4, &p, &owner, &id),
        BK_KERR_NOT_COORDINATOR);
    assert_int_equal(
        bk_coord_route(&img, "__other", str("abc"), 1, 4, &p, &owner, &id),
        BK_KERR_NOT_COORDINATOR);
    assert_int_equal(
        bk_coord_route(NULL, "__test_state", str("abc"), 1, 4, &p, &owner, &id),
        BK_KERR_NOT_COORDINATOR);
}

/* ---- loading and unloading ---- */

static void test_open_loads_what_was_appended(void **state)
{
    struct fx *f = *state;
    assert_int_equal(open_p(f, 0), BK_KERR_NONE);
    assert_int_equal(open_p(f, 1), BK_KERR_NONE);
    assert_int_equal(f->nseen, 0);
    assert_int_equal(append_keys(f, 0, 0, 3, false, NULL), BK_KERR_NONE);
    assert_int_equal(append_keys(f, 1, 10, 1, false, NULL), BK_KERR_NONE);
    assert_int_equal(append_keys(f, 0, 3, 2, true, NULL), BK_KERR_NONE);
    restart(f);
    /* Only the partition opened loads, every record in log order. */
    assert_int_equal(open_p(f, 0), BK_KERR_NONE);
    assert_int_equal(f->nseen, 5);
    for (int i = 0; i < 5; i++) {
        char want[16];
        snprintf(want, sizeof(want), "key%d", i);
        assert_string_equal(f->seen[i].key, want);
        assert_int_equal(f->seen[i].partition, 0);
        assert_int_equal(f->seen[i].value_len, i == 4 ? -1 : 5);
    }
    /* Loaded once: opening again reads nothing. */
    assert_int_equal(open_p(f, 0), BK_KERR_NONE);
    assert_int_equal(f->nseen, 5);
    assert_int_equal(open_p(f, 1), BK_KERR_NONE);
    assert_int_equal(f->nseen, 6);
    assert_string_equal(f->seen[5].key, "key10");
    assert_int_equal(f->seen[5].partition, 1);
}

static void test_recreated_topic_loads_again(void **state)
{
    struct fx *f = *state;
    assert_int_equal(open_p(f, 0), BK_KERR_NONE);
    assert_int_equal(append_keys(f, 0, 0, 2, false, NULL), BK_KERR_NONE);
    restart(f);
    assert_int_equal(open_p(f, 0), BK_KERR_NONE);
    assert_int_equal(f->nseen, 2);
    /* Seen with another id, then with this one again: all reloaded. */
    struct bk_uuid other = f->topic.id;
    other.b[1] = 1;
    struct bk_uuid saved = f->topic.id;
    f->topic.id = other;
    f->open_err = BK_KERR_UNKNOWN_TOPIC_OR_PARTITION;
    assert_int_equal(open_p(f, 0), BK_KERR_NOT_COORDINATOR);
    f->topic.id = saved;
    f->open_err = BK_KERR_NONE;
    assert_int_equal(open_p(f, 0), BK_KERR_NONE);
    assert_int_equal(f->nseen, 4);
}

/* Leadership that moved away and came back (another leader epoch) may
 * have brought records this memory lacks: the partition is read again,
 * once. */
static void test_new_leader_epoch_reloads(void **state)
{
    struct fx *f = *state;
    assert_int_equal(open_p(f, 0), BK_KERR_NONE);
    assert_int_equal(append_keys(f, 0, 0, 2, false, NULL), BK_KERR_NONE);
    assert_int_equal(open_p(f, 0), BK_KERR_NONE);
    assert_int_equal(f->nseen, 0);
    f->epoch = 5;
    assert_int_equal(open_p(f, 0), BK_KERR_NONE);
    assert_int_equal(f->nseen, 2);
    assert_int_equal(open_p(f, 0), BK_KERR_NONE);
    assert_int_equal(f->nseen, 2);
}

static void test_open_maps_admission_errors(void **state)
{
    struct fx *f = *state;
    f->open_err = BK_KERR_NOT_LEADER_OR_FOLLOWER;
    assert_int_equal(open_p(f, 0), BK_KERR_NOT_COORDINATOR);
    f->open_err = BK_KERR_UNKNOWN_TOPIC_OR_PARTITION;
    assert_int_equal(open_p(f, 0), BK_KERR_NOT_COORDINATOR);
    f->open_err = BK_KERR_KAFKA_STORAGE_ERROR;
    assert_int_equal(open_p(f, 0), BK_KERR_COORDINATOR_NOT_AVAILABLE);
    f->open_err = BK_KERR_NONE;
    assert_int_equal(open_p(f, 0), BK_KERR_NONE);
    /* Closed: nothing opens, and a parked answer goes out at once. */
    bk_coord_close(&f->c);
    assert_true(bk_coord_closed(&f->c));
    assert_int_equal(open_p(f, 0), BK_KERR_COORDINATOR_NOT_AVAILABLE);
    struct bk_coord_waiter w = waiter(f);
    bk_coord_park(&f->c, 0, &w);
    assert_int_equal(f->releases, 1);
}

static void test_failed_append_unloads_and_reloads(void **state)
{
    struct fx *f = *state;
    assert_int_equal(open_p(f, 0), BK_KERR_NONE);
    assert_int_equal(open_p(f, 1), BK_KERR_NONE);
    assert_int_equal(append_keys(f, 0, 0, 2, false, NULL), BK_KERR_NONE);
    bk_syncer_run_once(f->st.syncer);
    /* A record over max.message.bytes: the log refuses the batch, and
     * what the user applied in memory for it is now ahead of the log. */
    size_t big = 2 * 1024 * 1024;
    uint8_t *v = calloc(1, big);
    struct bk_coord_rec rec = {
        .key = { (const uint8_t *)"huge", 4 },
        .value = { v, (int32_t)big },
    };
    assert_int_equal(bk_coord_append(&f->c, 0, &rec, 1, NULL),
                     BK_KERR_OFFSET_METADATA_TOO_LARGE);
    free(v);
    /* An answer parked on that partition must not report success; one
     * on the other partition is unaffected. */
    struct bk_coord_waiter w = waiter(f);
    f->holds++; /* the caller's hold, handed to the runtime */
    bk_coord_park(&f->c, 0, &w);
    int16_t err1 = 0;
    struct bk_coord_waiter w1 = { hold, release, f, &err1 };
    f->holds++;
    bk_coord_park(&f->c, 1, &w1);
    assert_int_equal(f->releases, 0);
    bk_coord_settle(&f->c);
    assert_int_equal(f->releases, 2);
    assert_int_equal(f->err, BK_KERR_NOT_COORDINATOR);
    assert_int_equal(err1, BK_KERR_NONE);
    assert_int_equal(f->nunloaded, 1);
    assert_int_equal(f->unloaded[0], 0);
    /* The next open reads partition 0 back from the log. */
    f->nseen = 0;
    assert_int_equal(open_p(f, 0), BK_KERR_NONE);
    assert_int_equal(f->nseen, 2);
    assert_string_equal(f->seen[1].key, "key1");
    assert_int_equal(open_p(f, 1), BK_KERR_NONE);
    assert_int_equal(f->nseen, 2);
}

/* Transactional batches (TxnOffsetCommit) load only once their
 * producer's marker says commit; an abort drops them, and those still
 * undecided at the end of the log come back as pending. */
static void test_load_decides_transactional_batches(void **state)
{
    struct fx *f = *state;
    assert_int_equal(open_p(f, 0), BK_KERR_NONE);
    struct bk_coord_rec rec = {
        .key = { (const uint8_t *)"t-commit", 8 },
        .value = { (const uint8_t *)"v", 1 },
    };
    assert_int_equal(bk_coord_append_txn(&f->c, 0, &rec, 1, 500, 0, NULL),
                     BK_KERR_NONE);
    rec.key = (struct bk_bytes){ (const uint8_t *)"t-abort", 7 };
    assert_int_equal(bk_coord_append_txn(&f->c, 0, &rec, 1, 600, 0, NULL),
                     BK_KERR_NONE);
    rec.key = (struct bk_bytes){ (const uint8_t *)"t-open", 6 };
    assert_int_equal(bk_coord_append_txn(&f->c, 0, &rec, 1, 700, 0, NULL),
                     BK_KERR_NONE);
    assert_int_equal(append_keys(f, 0, 0, 1, false, NULL), BK_KERR_NONE);
    struct bk_partition *p = bk_part_find(&f->parts, &f->topic.id, 0);
    int64_t at;
    assert_int_equal(bk_replica_write_marker(p, 600, 0, false, 1, NOW, &at),
                     BK_KERR_NONE);
    assert_int_equal(bk_replica_write_marker(p, 500, 0, true, 1, NOW, &at),
                     BK_KERR_NONE);
    /* The open transaction holds the last stable offset at its batch. */
    assert_true(bk_replica_last_stable(p) <= 2);
    restart(f);
    npending = 0;
    assert_int_equal(open_p(f, 0), BK_KERR_NONE);
    assert_int_equal(f->nseen, 2);
    assert_string_equal(f->seen[0].key, "key0");
    assert_string_equal(f->seen[1].key, "t-commit");
    assert_int_equal(npending, 1);
    assert_int_equal(pending_pid, 700);
}

static void test_append_to_unopened_partition(void **state)
{
    struct fx *f = *state;
    struct bk_coord_waiter w = waiter(f);
    assert_int_equal(append_keys(f, 0, 0, 1, false, &w),
                     BK_KERR_NOT_COORDINATOR);
    assert_int_equal(f->holds, 0);
}

/* ---- answering once durable ---- */

static void test_append_holds_until_synced(void **state)
{
    struct fx *f = *state;
    assert_int_equal(open_p(f, 0), BK_KERR_NONE);
    struct bk_coord_waiter w = waiter(f);
    assert_int_equal(append_keys(f, 0, 0, 2, false, &w), BK_KERR_NONE);
    assert_int_equal(f->holds, 1);
    assert_int_equal(f->releases, 0);
    struct bk_partition *p = bk_part_find(&f->parts, &f->topic.id, 0);
    assert_true(bk_replica_durable_offset(p) < bk_replica_log_end(p));
    bk_syncer_run_once(f->st.syncer);
    assert_int_equal(f->releases, 1);
    assert_int_equal(f->err, BK_KERR_NONE);
    assert_int_equal(bk_replica_durable_offset(p), 2);
    /* Nothing to wait for: no hold. */
    assert_int_equal(append_keys(f, 0, 2, 0, false, &w), BK_KERR_NONE);
    assert_int_equal(f->holds, 1);
}

static void test_parked_answer_waits_for_its_partition(void **state)
{
    struct fx *f = *state;
    assert_int_equal(open_p(f, 0), BK_KERR_NONE);
    assert_int_equal(open_p(f, 1), BK_KERR_NONE);
    /* A tick's write (no waiter), then an answer parked on it: the answer
     * is held past the settle until the sync covers the write. */
    assert_int_equal(append_keys(f, 0, 0, 1, false, NULL), BK_KERR_NONE);
    struct bk_coord_waiter w = waiter(f);
    f->holds++;
    bk_coord_park(&f->c, 0, &w);
    /* On a partition with everything on disk, it goes at the settle. */
    int16_t err1 = 0;
    struct bk_coord_waiter w1 = { hold, release, f, &err1 };
    f->holds++;
    bk_coord_park(&f->c, 1, &w1);
    assert_int_equal(f->releases, 0);
    bk_coord_settle(&f->c);
    assert_int_equal(f->releases, 1);
    bk_syncer_run_once(f->st.syncer);
    assert_int_equal(f->releases, 2);
    assert_int_equal(f->err, BK_KERR_NONE);
    assert_int_equal(f->nunloaded, 0);
}

static void test_free_gives_back_parked(void **state)
{
    struct fx *f = *state;
    struct bk_coord_waiter w = waiter(f);
    bk_coord_park(&f->c, 0, &w);
    bk_coord_park(&f->c, 1, &w);
    assert_int_equal(f->releases, 0);
    bk_coord_free(&f->c);
    assert_int_equal(f->releases, 2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_load_decides_transactional_batches,
                                        setup, teardown),
        cmocka_unit_test(test_key_partition_is_javas_hash),
        cmocka_unit_test(test_route_to_leader_and_owner_shard),
        cmocka_unit_test_setup_teardown(test_open_loads_what_was_appended,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_recreated_topic_loads_again, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_new_leader_epoch_reloads, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_open_maps_admission_errors, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_failed_append_unloads_and_reloads,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_append_to_unopened_partition,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_append_holds_until_synced, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(
            test_parked_answer_waits_for_its_partition, setup, teardown),
        cmocka_unit_test_setup_teardown(test_free_gives_back_parked, setup,
                                        teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
