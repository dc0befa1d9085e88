/* The replica interface on the fake disk: appends as leader advance the
 * high watermark and refuse what Kafka's leader refuses, reads stop at the
 * high watermark (or the last stable offset), duplicates of an idempotent
 * batch get their first offsets, acks=all waits for the sync, and
 * DeleteRecords and ListOffsets keep to the offsets. */
/* cmocka.h needs these headers first. */
/* clang-format off */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
/* clang-format on */
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include <uv.h>

#include "batch_gen.h"
#include "common/crc32c.h"
#include "common/disk.h"
#include "common/err.h"
#include "fake_disk.h"
#include "log/batch.h"
#include "partition/replica.h"
#include "protocol/kerr.h"
#include "storage_fixture.h"

#define NOW TEST_NOW_MS

struct fx {
    struct bk_clock clock;
    struct bk_disk *disk;
    struct bk_storage st;
    uv_loop_t loop;
    struct bk_part_table parts;
    struct bk_md_topic topic;
    struct bk_md_kv kv[1];
    struct bk_partition *p;
    uint8_t buf[1 << 16];
};

static void open_partition(struct fx *f)
{
    char err[BK_ERRMSG_SIZE];
    assert_int_equal(bk_part_get(&f->parts, &f->topic, 0, 7, &f->p, err), 0);
}

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof(*f));
    f->disk = fake_disk_new(20261207u);
    test_storage_init(&f->st, &f->clock, f->disk, 16);
    uv_loop_init(&f->loop);
    assert_int_equal(bk_part_table_init(&f->parts, &f->st, &f->loop), 0);
    f->topic.name = "orders";
    f->topic.id.b[0] = 42;
    f->topic.n_partitions = 1;
    open_partition(f);
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

/* A batch of nrec records, optionally from an idempotent producer. */
static size_t batch(struct fx *f, int nrec, int64_t pid, int32_t seq)
{
    size_t len = test_batch_build(f->buf, sizeof(f->buf), nrec, NOW, 1, 10,
                                  (uint32_t)nrec);
    assert_true(len > 0);
    if (pid >= 0) {
        uint8_t *h = f->buf;
        for (int i = 0; i < 8; i++) {
            h[BK_BATCH_OFF_PRODUCER_ID + i] = (uint8_t)(pid >> (56 - 8 * i));
        }
        h[51] = 0; /* producer epoch 0 */
        h[52] = 0;
        for (int i = 0; i < 4; i++) {
            h[53 + i] = (uint8_t)((uint32_t)seq >> (24 - 8 * i));
        }
        uint32_t crc =
            bk_crc32c(0, h + BK_BATCH_CRC_START, len - BK_BATCH_CRC_START);
        for (int i = 0; i < 4; i++) {
            h[BK_BATCH_OFF_CRC + i] = (uint8_t)(crc >> (24 - 8 * i));
        }
    }
    return len;
}

static struct bk_replica_append req(struct fx *f, size_t len)
{
    struct bk_replica_append a = { .batch = f->buf,
                                   .len = len,
                                   .produce_version = 9 };
    return a;
}

static void test_append_advances_high_watermark(void **state)
{
    struct fx *f = *state;
    struct bk_replica_append a = req(f, batch(f, 5, -1, 0));
    assert_false(bk_replica_append_leader(f->p, &a));
    assert_int_equal(a.error, BK_KERR_NONE);
    assert_int_equal(a.base_offset, 0);
    assert_int_equal(a.log_start, 0);
    a = req(f, batch(f, 3, -1, 0));
    assert_false(bk_replica_append_leader(f->p, &a));
    assert_int_equal(a.base_offset, 5);
    assert_int_equal(bk_replica_log_end(f->p), 8);
    assert_int_equal(bk_replica_high_watermark(f->p), 8);
    assert_int_equal(bk_replica_last_stable(f->p), 8);
    /* Written at the partition's leader epoch. */
    assert_int_equal(bk_replica_latest_epoch(f->p), 7);
}

static void test_reads_stop_at_the_high_watermark(void **state)
{
    struct fx *f = *state;
    for (int i = 0; i < 3; i++) {
        struct bk_replica_append a = req(f, batch(f, 2, -1, 0));
        bk_replica_append_leader(f->p, &a);
        assert_int_equal(a.error, BK_KERR_NONE);
    }
    struct bk_replica_read r;
    assert_int_equal(
        bk_replica_read(f->p, 0, 1 << 20, BK_ISOLATION_READ_UNCOMMITTED, &r),
        BK_KERR_NONE);
    assert_int_equal(r.rd.count > 0, 1);
    assert_int_equal(r.rd.next_offset, 6);
    assert_int_equal(r.high_watermark, 6);
    bk_replica_read_release(&r);
    /* Nothing at the high watermark, and past the log end is out of
     * range, as below the log start. */
    assert_int_equal(
        bk_replica_read(f->p, 6, 1 << 20, BK_ISOLATION_READ_COMMITTED, &r),
        BK_KERR_NONE);
    assert_int_equal(r.rd.count, 0);
    assert_int_equal(
        bk_replica_read(f->p, 7, 1 << 20, BK_ISOLATION_READ_UNCOMMITTED, &r),
        BK_KERR_OFFSET_OUT_OF_RANGE);
    assert_int_equal(
        bk_replica_read(f->p, -1, 1 << 20, BK_ISOLATION_READ_UNCOMMITTED, &r),
        BK_KERR_OFFSET_OUT_OF_RANGE);
    /* With the high watermark behind the log end (a follower has not
     * caught up), reads end there. */
    bk_log_set_hw(f->p->log, 4);
    assert_int_equal(
        bk_replica_read(f->p, 0, 1 << 20, BK_ISOLATION_READ_UNCOMMITTED, &r),
        BK_KERR_NONE);
    assert_int_equal(r.rd.next_offset, 4);
    bk_replica_read_release(&r);
    assert_int_equal(
        bk_replica_read(f->p, 4, 1 << 20, BK_ISOLATION_READ_UNCOMMITTED, &r),
        BK_KERR_NONE);
    assert_int_equal(r.rd.count, 0);
    int64_t off, ts;
    int32_t epoch;
    assert_int_equal(
        bk_replica_list_offset(f->p, -1, BK_ISOLATION_READ_UNCOMMITTED, &off,
                               &ts, &epoch),
        BK_KERR_NONE);
    assert_int_equal(off, 4);
    /* DeleteRecords may not pass the high watermark. */
    int64_t low;
    assert_int_equal(bk_replica_delete_records(f->p, 5, &low),
                     BK_KERR_OFFSET_OUT_OF_RANGE);
    assert_int_equal(bk_replica_delete_records(f->p, -1, &low), BK_KERR_NONE);
    assert_int_equal(low, 4);
    assert_int_equal(
        bk_replica_list_offset(f->p, -2, BK_ISOLATION_READ_UNCOMMITTED, &off,
                               &ts, &epoch),
        BK_KERR_NONE);
    assert_int_equal(off, 4);
    assert_int_equal(
        bk_replica_list_offset(f->p, -7, BK_ISOLATION_READ_UNCOMMITTED, &off,
                               &ts, &epoch),
        BK_KERR_INVALID_REQUEST);
}

static void test_refusals(void **state)
{
    struct fx *f = *state;
    size_t len = batch(f, 2, -1, 0);
    struct bk_replica_append a = req(f, 30);
    bk_replica_append_leader(f->p, &a);
    assert_int_equal(a.error, BK_KERR_CORRUPT_MESSAGE);
    f->buf[BK_BATCH_OFF_MAGIC] = 1;
    a = req(f, len);
    bk_replica_append_leader(f->p, &a);
    assert_int_equal(a.error, BK_KERR_INVALID_RECORD);
    len = batch(f, 2, -1, 0);
    f->buf[BK_BATCH_OFF_ATTRIBUTES + 1] |= BK_BATCH_ATTR_CONTROL;
    a = req(f, len);
    bk_replica_append_leader(f->p, &a);
    assert_int_equal(a.error, BK_KERR_INVALID_RECORD);
    /* A flipped record byte: the CRC tells corrupt from invalid. */
    len = batch(f, 2, -1, 0);
    f->buf[len - 1] ^= 0xff;
    a = req(f, len);
    bk_replica_append_leader(f->p, &a);
    assert_int_equal(a.error, BK_KERR_CORRUPT_MESSAGE);
    f->p->max_message_bytes = 64;
    a = req(f, batch(f, 2, -1, 0));
    bk_replica_append_leader(f->p, &a);
    assert_int_equal(a.error, BK_KERR_MESSAGE_TOO_LARGE);
    /* Nothing refused was written. */
    assert_int_equal(bk_replica_log_end(f->p), 0);
    assert_int_equal(bk_replica_high_watermark(f->p), 0);
}

static void test_keyless_records_on_a_compacted_topic(void **state)
{
    struct fx *f = *state;
    f->p->compacted = true;
    struct bk_replica_append a = req(f, batch(f, 3, -1, 0));
    bk_replica_append_leader(f->p, &a);
    /* Without an arena for them, no record errors, only the code. */
    assert_int_equal(a.error, BK_KERR_INVALID_RECORD);
    assert_int_equal(a.record_errors_count, 0);
    assert_non_null(a.message);
    /* With one, every keyless record is listed (Kafka's RecordErrors). */
    struct bk_arena arena;
    bk_arena_init(&arena, 4096, 0);
    a = req(f, batch(f, 3, -1, 0));
    a.arena = &arena;
    bk_replica_append_leader(f->p, &a);
    assert_int_equal(a.error, BK_KERR_INVALID_RECORD);
    assert_int_equal(a.record_errors_count, 3);
    for (int32_t i = 0; i < 3; i++) {
        assert_int_equal(a.record_errors[i].index, i);
        assert_non_null(strstr(a.record_errors[i].message,
                               "Compacted topic cannot accept message "
                               "without key in topic partition"));
    }
    assert_non_null(strstr(a.message, "due to 3 record errors in total"));
    assert_int_equal(a.log_start, 0);
    bk_arena_destroy(&arena);
}

static void test_duplicate_gets_first_offsets(void **state)
{
    struct fx *f = *state;
    struct bk_replica_append a = req(f, batch(f, 4, 1000, 0));
    bk_replica_append_leader(f->p, &a);
    assert_int_equal(a.error, BK_KERR_NONE);
    assert_int_equal(a.base_offset, 0);
    a = req(f, batch(f, 4, 1000, 0));
    bk_replica_append_leader(f->p, &a);
    assert_int_equal(a.error, BK_KERR_NONE);
    assert_int_equal(a.base_offset, 0);
    assert_int_equal(bk_replica_log_end(f->p), 4);
    a = req(f, batch(f, 4, 1000, 9));
    bk_replica_append_leader(f->p, &a);
    assert_int_equal(a.error, BK_KERR_OUT_OF_ORDER_SEQUENCE_NUMBER);
}

static int durable_calls;
static int16_t durable_error;

static void durable_cb(struct bk_replica_append *a, int16_t error)
{
    (void)a;
    durable_calls++;
    durable_error = error;
}

static void test_acks_all_waits_for_the_sync(void **state)
{
    struct fx *f = *state;
    durable_calls = 0;
    struct bk_replica_append a = req(f, batch(f, 2, -1, 0));
    a.wait_durable = true;
    a.durable_cb = durable_cb;
    assert_true(bk_replica_append_leader(f->p, &a));
    assert_int_equal(durable_calls, 0);
    bk_syncer_run_once(f->st.syncer);
    assert_int_equal(durable_calls, 1);
    assert_int_equal(durable_error, 0);
    /* The next batch waits for its own sync. */
    a = req(f, batch(f, 2, -1, 0));
    a.wait_durable = true;
    a.durable_cb = durable_cb;
    assert_true(bk_replica_append_leader(f->p, &a));
    bk_syncer_run_once(f->st.syncer);
    assert_int_equal(durable_calls, 2);
}

/* Reopens the partition table on the same disk. */
static void reopen(struct fx *f)
{
    bk_part_table_close(&f->parts, true);
    uv_run(&f->loop, UV_RUN_DEFAULT);
    assert_int_equal(bk_part_table_init(&f->parts, &f->st, &f->loop), 0);
    open_partition(f);
}

static void put_file(struct fx *f, const char *path, const char *text)
{
    int fd = f->disk->open(f->disk, path, BK_DISK_CREATE | BK_DISK_TRUNC);
    assert_true(fd >= 0);
    assert_int_equal(bk_disk_pwrite_all(f->disk, fd, text, strlen(text), 0), 0);
    f->disk->close(f->disk, fd);
}

/* partition.metadata names the topic a directory belongs to. One cut short
 * (a power loss before its write reached the disk) names none: the
 * directory is kept, not retired as a deleted topic's, and the file is
 * written again (moving another topic's directory away is not on the disk
 * seam: test_data_topics.py re-creates a deleted topic). */
static void test_partition_metadata_cut_short(void **state)
{
    struct fx *f = *state;
    struct bk_replica_append a = req(f, batch(f, 5, -1, 0));
    assert_false(bk_replica_append_leader(f->p, &a));
    char dir[4096], path[4200];
    assert_int_equal(bk_part_dir(&f->st, "orders", 0, dir, sizeof(dir)), 0);
    snprintf(path, sizeof(path), "%s/partition.metadata", dir);
    int64_t whole = fake_disk_size(f->disk, path);
    assert_true(whole > 20);
    put_file(f, path, "version: 0\ntopic_id: KgAAAAAA");
    reopen(f);
    assert_int_equal(bk_replica_log_end(f->p), 5);
    assert_int_equal(fake_disk_size(f->disk, path), whole);
    put_file(f, path, "");
    reopen(f);
    assert_int_equal(bk_replica_log_end(f->p), 5);
    assert_int_equal(fake_disk_size(f->disk, path), whole);
}

static void test_partition_ownership(void **state)
{
    (void)state;
    /* Stable, in range, and a topic with n partitions covers all shards. */
    for (unsigned n = 1; n <= 16; n++) {
        uint64_t h = bk_hash64("orders", 6);
        unsigned hits[16] = { 0 };
        for (int32_t p = 0; p < (int32_t)n; p++) {
            unsigned s = bk_shard_for_partition(h, p, n);
            assert_true(s < n);
            assert_int_equal(s, bk_shard_for_partition(h, p, n));
            hits[s]++;
        }
        for (unsigned s = 0; s < n; s++) {
            assert_int_equal(hits[s], 1);
        }
    }
    assert_int_not_equal(bk_hash64("a", 1), bk_hash64("b", 1));
}

#ifndef NDEBUG
static void *other_thread(void *arg)
{
    struct bk_partition *p = arg;
    (void)bk_replica_log_end(p);
    return NULL;
}

/* Debug builds (the check is left out of Release builds, so this test is
 * too): a replica call from a thread other than the owning shard's aborts
 * instead of racing with the shard. */
static void test_wrong_thread_aborts(void **state)
{
    struct fx *f = *state;
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        /* The child's abort is the expected outcome: keep its report out
         * of the test log. */
        if (freopen("/dev/null", "w", stderr) == NULL) {
            _exit(2);
        }
        pthread_t t;
        pthread_create(&t, NULL, other_thread, f->p);
        pthread_join(t, NULL);
        _exit(0);
    }
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFSIGNALED(status));
    assert_int_equal(WTERMSIG(status), SIGABRT);
    /* The owner itself may call. */
    assert_int_equal(bk_replica_log_end(f->p), 0);
}
#endif

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_partition_ownership),
        cmocka_unit_test_setup_teardown(test_append_advances_high_watermark,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_reads_stop_at_the_high_watermark,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_refusals, setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_keyless_records_on_a_compacted_topic, setup, teardown),
        cmocka_unit_test_setup_teardown(test_duplicate_gets_first_offsets,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_acks_all_waits_for_the_sync, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_partition_metadata_cut_short,
                                        setup, teardown),
#ifndef NDEBUG
        cmocka_unit_test_setup_teardown(test_wrong_thread_aborts, setup,
                                        teardown),
#endif
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
