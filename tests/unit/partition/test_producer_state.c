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

#include "common/disk.h"
#include "common/err.h"
#include "common/heap.h"
#include "partition/producer_state.h"

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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sequence_rules),
        cmocka_unit_test(test_keeps_five_batches_and_wraps),
        cmocka_unit_test(test_snapshot_round_trip_and_damage),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
