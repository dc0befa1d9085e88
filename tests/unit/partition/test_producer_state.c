/* The idempotent producer rules (protocol-notes.md section d) and the
 * producer-state snapshot. */
/* cmocka.h needs these headers first. */
/* clang-format off */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
/* clang-format on */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/crc32c.h"
#include "common/disk.h"
#include "common/err.h"
#include "common/heap.h"
#include "partition/producer_state.h"
#include "protocol/prim.h"

static void test_sequence_rules(void **state)
{
    (void)state;
    struct bk_pstate ps;
    struct bk_pstate_batch dup;
    bk_pstate_init(&ps);
    /* Not idempotent: always appended. */
    assert_int_equal(bk_pstate_check(&ps, -1, -1, -1, 5, &dup),
                     BK_PSTATE_APPEND);
    /* Unknown producer: any sequence. */
    assert_int_equal(bk_pstate_check(&ps, 7, 0, 42, 3, &dup), BK_PSTATE_APPEND);
    assert_int_equal(bk_pstate_update(&ps, 7, 0, 0, 3, 100, 1), 0);
    /* Next batch continues at 3. */
    assert_int_equal(bk_pstate_check(&ps, 7, 0, 3, 2, &dup), BK_PSTATE_APPEND);
    /* A gap is out of order, and so is a replay of part of a batch. */
    assert_int_equal(bk_pstate_check(&ps, 7, 0, 5, 1, &dup),
                     BK_PSTATE_OUT_OF_ORDER);
    assert_int_equal(bk_pstate_check(&ps, 7, 0, 1, 2, &dup),
                     BK_PSTATE_OUT_OF_ORDER);
    /* The same batch again is a duplicate with its original offsets. */
    assert_int_equal(bk_pstate_check(&ps, 7, 0, 0, 3, &dup),
                     BK_PSTATE_DUPLICATE);
    assert_int_equal(dup.first_offset, 100);
    assert_int_equal(dup.last_offset, 102);
    /* Older epoch is fenced; a newer one must start at 0. */
    assert_int_equal(bk_pstate_update(&ps, 7, 2, 0, 1, 103, 1), 0);
    assert_int_equal(bk_pstate_check(&ps, 7, 1, 1, 1, &dup),
                     BK_PSTATE_BAD_EPOCH);
    assert_int_equal(bk_pstate_check(&ps, 7, 3, 4, 1, &dup),
                     BK_PSTATE_OUT_OF_ORDER);
    assert_int_equal(bk_pstate_check(&ps, 7, 3, 0, 1, &dup), BK_PSTATE_APPEND);
    bk_pstate_free(&ps);
}

static void test_keeps_five_batches_and_wraps(void **state)
{
    (void)state;
    struct bk_pstate ps;
    struct bk_pstate_batch dup;
    bk_pstate_init(&ps);
    int32_t seq = INT32_MAX - 10;
    int64_t off = 0;
    for (int i = 0; i < 8; i++) {
        assert_int_equal(bk_pstate_check(&ps, 9, 0, seq, 4, &dup),
                         BK_PSTATE_APPEND);
        assert_int_equal(bk_pstate_update(&ps, 9, 0, seq, 4, off, 0), 0);
        seq = (int32_t)(((int64_t)seq + 4) % ((int64_t)INT32_MAX + 1));
        off += 4;
    }
    /* Sequences wrapped past INT32_MAX to 0; the last five batches are
     * remembered, older ones are not. */
    assert_true(seq < 100);
    int32_t last5_first = (int32_t)(((int64_t)seq - 20 + INT32_MAX + 1) %
                                    ((int64_t)INT32_MAX + 1));
    assert_int_equal(bk_pstate_check(&ps, 9, 0, last5_first, 4, &dup),
                     BK_PSTATE_DUPLICATE);
    assert_int_equal(dup.first_offset, off - 20);
    int32_t sixth = (int32_t)(((int64_t)seq - 24 + INT32_MAX + 1) %
                              ((int64_t)INT32_MAX + 1));
    assert_int_equal(bk_pstate_check(&ps, 9, 0, sixth, 4, &dup),
                     BK_PSTATE_OUT_OF_ORDER);
    bk_pstate_free(&ps);
}

static void test_snapshot_round_trip_and_damage(void **state)
{
    (void)state;
    struct bk_pstate ps, back;
    bk_pstate_init(&ps);
    for (int64_t pid = 1; pid <= 50; pid++) {
        for (int b = 0; b < 3; b++) {
            assert_int_equal(bk_pstate_update(&ps, pid * 3, 1, b * 2, 2,
                                              pid * 100 + b * 2, pid),
                             0);
        }
    }
    char dir[] = "/tmp/bk-pstate-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char path[128];
    snprintf(path, sizeof(path), "%s/producer.snapshot", dir);
    const struct bk_disk *disk = bk_disk_posix();
    assert_int_equal(bk_pstate_save(&ps, disk, path, 5000), 0);
    int64_t off;
    assert_int_equal(bk_pstate_load(&back, disk, path, &off), 0);
    assert_int_equal(off, 5000);
    assert_int_equal(back.n, ps.n);
    assert_memory_equal(back.v, ps.v, ps.n * sizeof(ps.v[0]));
    bk_pstate_free(&back);

    /* Flip one byte: the CRC catches it. */
    FILE *f = fopen(path, "r+b");
    assert_non_null(f);
    assert_int_equal(fseek(f, 40, SEEK_SET), 0);
    int c = fgetc(f);
    assert_int_not_equal(c, EOF);
    assert_int_equal(fseek(f, 40, SEEK_SET), 0);
    fputc(c ^ 0x5a, f);
    assert_int_equal(fclose(f), 0);
    assert_int_equal(bk_pstate_load(&back, disk, path, &off), BK_ECORRUPT);
    unlink(path);
    assert_int_equal(bk_pstate_load(&back, disk, path, &off), 0);
    assert_int_equal(off, -1);
    assert_int_equal(back.n, 0);
    bk_pstate_free(&back);
    rmdir(dir);

    /* Truncation drops batches at or past the offset. */
    bk_pstate_truncate(&ps, 302);
    struct bk_pstate_batch dup;
    assert_int_equal(bk_pstate_check(&ps, 9, 1, 0, 2, &dup),
                     BK_PSTATE_DUPLICATE);
    assert_int_equal(bk_pstate_check(&ps, 9, 1, 2, 2, &dup), BK_PSTATE_APPEND);
    bk_pstate_free(&ps);
}

/* Kafka's ProducerAppendInfo rules for transactional batches and
 * markers, and the last stable offset they give. */
static void test_transaction_rules(void **state)
{
    (void)state;
    struct bk_pstate ps;
    bk_pstate_init(&ps);
    assert_int_equal(bk_pstate_last_stable(&ps, 50), 50);
    /* pid 7 opens a transaction at 100; pid 8 writes plain batches. */
    assert_int_equal(bk_pstate_check_txn(&ps, 7, true), BK_PSTATE_APPEND);
    assert_int_equal(bk_pstate_update(&ps, 7, 2, 0, 3, 100, 1), 0);
    bk_pstate_begin_txn(&ps, 7, 0, 100);
    assert_int_equal(bk_pstate_update(&ps, 8, 0, 0, 2, 103, 1), 0);
    assert_int_equal(bk_pstate_update(&ps, 7, 2, 3, 1, 105, 1), 0);
    bk_pstate_begin_txn(&ps, 7, 0, 105); /* already open: stays at 100 */
    assert_int_equal(bk_pstate_last_stable(&ps, 106), 100);
    assert_int_equal(bk_pstate_last_stable(&ps, 90), 90);
    /* Outside its transaction, pid 7 may not write; pid 8 may. */
    assert_int_equal(bk_pstate_check_txn(&ps, 7, false), BK_PSTATE_BAD_TXN);
    assert_int_equal(bk_pstate_check_txn(&ps, 8, false), BK_PSTATE_APPEND);
    /* Markers: an old producer epoch, then an old coordinator's. */
    assert_int_equal(bk_pstate_check_marker(&ps, 7, 1, 0), BK_PSTATE_BAD_EPOCH);
    struct bk_pstate_txn t;
    assert_int_equal(bk_pstate_end_txn(&ps, 7, 2, 4, false, 106, &t), 1);
    assert_int_equal(t.producer_id, 7);
    assert_int_equal(t.first_offset, 100);
    assert_int_equal(t.last_offset, 106);
    assert_true(t.aborted);
    assert_int_equal(bk_pstate_txn_lso(&ps, &t), 107);
    assert_int_equal(bk_pstate_check_marker(&ps, 7, 2, 3), BK_PSTATE_FENCED);
    assert_int_equal(bk_pstate_check_marker(&ps, 7, 2, -1), BK_PSTATE_APPEND);
    assert_int_equal(bk_pstate_check_txn(&ps, 7, false), BK_PSTATE_APPEND);
    /* Closed, but unstable until the marker is below the high
     * watermark. */
    assert_int_equal(bk_pstate_last_stable(&ps, 106), 100);
    assert_int_equal(bk_pstate_last_stable(&ps, 107), 107);
    bk_pstate_stable_to(&ps, 107);
    assert_int_equal(ps.ndone, 0);
    /* A marker with nothing open changes only the epochs; a fencing
     * bump clears the old sequences. */
    assert_int_equal(bk_pstate_end_txn(&ps, 7, 3, 4, true, 107, &t), 0);
    assert_int_equal(bk_pstate_entry_find(&ps, 7)->epoch, 3);
    assert_int_equal(bk_pstate_entry_find(&ps, 7)->nbatches, 0);
    assert_int_equal(bk_pstate_last_stable(&ps, 108), 108);
    bk_pstate_free(&ps);
}

/* KIP-890 part 1: a producer's transaction open at an epoch needs no
 * verification; a marker between the question and the answer voids it. */
static void test_verification_guard(void **state)
{
    (void)state;
    struct bk_pstate ps;
    bk_pstate_init(&ps);
    assert_false(bk_pstate_txn_open_at(&ps, 7, 0));
    uint32_t g = bk_pstate_verify_guard(&ps, 7);
    assert_int_equal(bk_pstate_verify_guard(&ps, 7), g);
    bk_pstate_begin_txn(&ps, 7, 0, 100);
    assert_true(bk_pstate_txn_open_at(&ps, 7, 0));
    assert_false(bk_pstate_txn_open_at(&ps, 7, 1));      /* another epoch */
    assert_int_equal(bk_pstate_verify_guard(&ps, 7), g); /* no marker */
    struct bk_pstate_txn t;
    assert_int_equal(bk_pstate_end_txn(&ps, 7, 0, 0, true, 101, &t), 1);
    assert_false(bk_pstate_txn_open_at(&ps, 7, 0));
    assert_int_not_equal(bk_pstate_verify_guard(&ps, 7), g);
    /* A marker for a producer never seen here voids its guard too. */
    uint32_t g8 = bk_pstate_verify_guard(&ps, 8);
    assert_int_equal(bk_pstate_end_txn(&ps, 8, 0, 0, false, 102, &t), 0);
    assert_int_not_equal(bk_pstate_verify_guard(&ps, 8), g8);
    bk_pstate_free(&ps);
}

static void test_transaction_lso_and_truncation(void **state)
{
    (void)state;
    struct bk_pstate ps;
    bk_pstate_init(&ps);
    assert_int_equal(bk_pstate_update(&ps, 1, 0, 0, 1, 100, 1), 0);
    bk_pstate_begin_txn(&ps, 1, 0, 100);
    assert_int_equal(bk_pstate_update(&ps, 2, 0, 0, 1, 103, 1), 0);
    bk_pstate_begin_txn(&ps, 2, 0, 103);
    struct bk_pstate_txn t;
    assert_int_equal(bk_pstate_end_txn(&ps, 1, 0, 0, false, 110, &t), 1);
    /* The AbortedTxn entry's LSO: pid 2's transaction is still open. */
    assert_int_equal(bk_pstate_txn_lso(&ps, &t), 103);
    assert_int_equal(bk_pstate_last_stable(&ps, 200), 103);
    /* The marker truncated away: pid 1's transaction is open again,
     * pid 2's too. */
    bk_pstate_truncate(&ps, 105);
    assert_int_equal(ps.ndone, 0);
    assert_int_equal(bk_pstate_entry_find(&ps, 1)->txn_first_offset, 100);
    assert_int_equal(bk_pstate_entry_find(&ps, 2)->txn_first_offset, 103);
    assert_int_equal(bk_pstate_last_stable(&ps, 200), 100);
    /* Truncated below both: nothing is left of either. */
    bk_pstate_truncate(&ps, 100);
    assert_null(bk_pstate_entry_find(&ps, 1));
    assert_null(bk_pstate_entry_find(&ps, 2));
    assert_int_equal(bk_pstate_last_stable(&ps, 200), 200);
    bk_pstate_free(&ps);
}

static void count_aborted(void *arg, const struct bk_pstate_aborted *a)
{
    (void)a;
    (*(int *)arg)++;
}

static int collect(const struct bk_pstate *ps, int64_t from, int64_t upper)
{
    int n = 0;
    size_t r = bk_pstate_collect_aborted(ps, from, upper, count_aborted, &n);
    assert_int_equal((size_t)n, r);
    return n;
}

/* Aborted transactions as Kafka's .txnindex keeps them, and the range
 * rule of TransactionIndex.collectAbortedTxns. */
static void test_aborted_transactions(void **state)
{
    (void)state;
    struct bk_pstate ps;
    bk_pstate_init(&ps);
    /* pid 1: [10 .. marker 20] aborted; pid 2: [15 .. 30] committed;
     * pid 3: [40 .. 50] aborted. */
    struct bk_pstate_txn t;
    assert_int_equal(bk_pstate_update(&ps, 1, 0, 0, 1, 10, 1), 0);
    bk_pstate_begin_txn(&ps, 1, 0, 10);
    assert_int_equal(bk_pstate_update(&ps, 2, 0, 0, 1, 15, 1), 0);
    bk_pstate_begin_txn(&ps, 2, 0, 15);
    assert_int_equal(bk_pstate_end_txn(&ps, 1, 0, 0, false, 20, &t), 1);
    assert_int_equal(bk_pstate_end_txn(&ps, 2, 0, 0, true, 30, &t), 1);
    assert_int_equal(bk_pstate_update(&ps, 3, 0, 0, 1, 40, 1), 0);
    bk_pstate_begin_txn(&ps, 3, 0, 40);
    assert_int_equal(bk_pstate_end_txn(&ps, 3, 0, 0, false, 50, &t), 1);
    assert_int_equal(ps.naborted, 2);
    assert_int_equal(ps.aborted[0].first_offset, 10);
    assert_int_equal(ps.aborted[0].last_offset, 20);
    assert_int_equal(ps.aborted[0].last_stable, 15); /* pid 2 still open */
    assert_int_equal(ps.aborted[1].last_stable, 51);
    assert_int_equal(collect(&ps, 0, 10), 0); /* ends before it began */
    assert_int_equal(collect(&ps, 0, 11), 1);
    assert_int_equal(collect(&ps, 20, 45), 2); /* the marker itself */
    assert_int_equal(collect(&ps, 21, 45), 1);
    assert_int_equal(collect(&ps, 51, 60), 0);
    /* Snapshot and back. */
    uint8_t *buf;
    size_t len;
    assert_int_equal(bk_pstate_encode(&ps, 60, &buf, &len), 0);
    char dir[] = "/tmp/bk-pstate-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char path[128];
    snprintf(path, sizeof(path), "%s/producer.snapshot", dir);
    const struct bk_disk *disk = bk_disk_posix();
    assert_int_equal(bk_pstate_write(disk, path, buf, len), 0);
    bk_free(buf);
    struct bk_pstate back;
    int64_t off;
    assert_int_equal(bk_pstate_load(&back, disk, path, &off), 0);
    assert_int_equal(back.naborted, 2);
    assert_memory_equal(back.aborted, ps.aborted, 2 * sizeof(ps.aborted[0]));
    bk_pstate_free(&back);
    unlink(path);
    rmdir(dir);
    /* Retention and truncation. */
    bk_pstate_trim_aborted(&ps, 21);
    assert_int_equal(ps.naborted, 1);
    assert_int_equal(ps.aborted[0].producer_id, 3);
    bk_pstate_truncate(&ps, 50);
    assert_int_equal(ps.naborted, 0);
    assert_int_equal(bk_pstate_entry_find(&ps, 3)->txn_first_offset, 40);
    bk_pstate_free(&ps);
}

/* An open transaction survives a snapshot, and a version 1 snapshot
 * (before transactions) still loads. */
static void test_snapshot_keeps_transactions(void **state)
{
    (void)state;
    struct bk_pstate ps, back;
    bk_pstate_init(&ps);
    assert_int_equal(bk_pstate_update(&ps, 5, 1, 0, 2, 40, 9), 0);
    bk_pstate_begin_txn(&ps, 5, 0, 40);
    struct bk_pstate_txn t;
    assert_int_equal(bk_pstate_end_txn(&ps, 6, 0, 12, true, 45, &t), 0);
    uint8_t *buf;
    size_t len;
    assert_int_equal(bk_pstate_encode(&ps, 50, &buf, &len), 0);
    char dir[] = "/tmp/bk-pstate-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char path[128];
    snprintf(path, sizeof(path), "%s/producer.snapshot", dir);
    const struct bk_disk *disk = bk_disk_posix();
    assert_int_equal(bk_pstate_write(disk, path, buf, len), 0);
    int64_t off;
    assert_int_equal(bk_pstate_load(&back, disk, path, &off), 0);
    assert_int_equal(bk_pstate_entry_find(&back, 5)->txn_first_offset, 40);
    assert_int_equal(bk_pstate_entry_find(&back, 6)->coordinator_epoch, 12);
    assert_int_equal(bk_pstate_last_stable(&back, 100), 40);
    bk_pstate_free(&back);
    bk_free(buf);

    /* Version 1: magic, version, offset, count, then one entry without
     * the transaction fields, and the CRC-32C. */
    uint8_t v1[4 + 2 + 8 + 4 + 8 + 2 + 8 + 1 + 5 * 24 + 4];
    struct bk_wr wr;
    bk_wr_init(&wr, v1, sizeof(v1));
    bk_wr_u32(&wr, 0x424b5053u);
    bk_wr_u16(&wr, 1);
    bk_wr_i64(&wr, 77);
    bk_wr_u32(&wr, 1);
    bk_wr_i64(&wr, 9);
    bk_wr_i16(&wr, 4);
    bk_wr_i64(&wr, 123);
    bk_wr_i8(&wr, 1);
    for (int b = 0; b < 5; b++) {
        bk_wr_i32(&wr, 0);
        bk_wr_i32(&wr, b == 0 ? 1 : 0);
        bk_wr_i64(&wr, b == 0 ? 60 : 0);
        bk_wr_i64(&wr, b == 0 ? 61 : 0);
    }
    bk_wr_u32(&wr, bk_crc32c(0, v1, wr.len));
    assert_int_equal(wr.len, sizeof(v1));
    assert_int_equal(bk_pstate_write(disk, path, v1, sizeof(v1)), 0);
    assert_int_equal(bk_pstate_load(&back, disk, path, &off), 0);
    assert_int_equal(off, 77);
    assert_int_equal(bk_pstate_entry_find(&back, 9)->epoch, 4);
    assert_int_equal(bk_pstate_entry_find(&back, 9)->txn_first_offset, -1);
    assert_int_equal(bk_pstate_entry_find(&back, 9)->coordinator_epoch, -1);
    bk_pstate_free(&back);
    unlink(path);
    rmdir(dir);
    bk_pstate_free(&ps);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sequence_rules),
        cmocka_unit_test(test_keeps_five_batches_and_wraps),
        cmocka_unit_test(test_snapshot_round_trip_and_damage),
        cmocka_unit_test(test_transaction_rules),
        cmocka_unit_test(test_verification_guard),
        cmocka_unit_test(test_transaction_lso_and_truncation),
        cmocka_unit_test(test_snapshot_keeps_transactions),
        cmocka_unit_test(test_aborted_transactions),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
