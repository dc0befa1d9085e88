/* Replica assignment: validity, leader and replica balance, rack spread. */
// clang-format off
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
// clang-format on
#include <stdbool.h>
#include <string.h>

#include "cluster/assign.h"
#include "common/err.h"

#define MAXB 16

static int index_of(const struct bk_md_assign_broker *b, size_t n, int32_t id)
{
    for (size_t i = 0; i < n; i++) {
        if (b[i].id == id) {
            return (int)i;
        }
    }
    return -1;
}

/* Checks distinct replicas per partition; counts leaders and replicas. */
static void check(const struct bk_md_assign_broker *b,
                  size_t n,
                  const int32_t *t,
                  int32_t parts,
                  int32_t rf,
                  int *leaders,
                  int *replicas)
{
    memset(leaders, 0, sizeof(int) * MAXB);
    memset(replicas, 0, sizeof(int) * MAXB);
    for (int32_t p = 0; p < parts; p++) {
        const int32_t *row = &t[p * rf];
        for (int32_t r = 0; r < rf; r++) {
            int i = index_of(b, n, row[r]);
            assert_true(i >= 0);
            replicas[i]++;
            for (int32_t q = 0; q < r; q++) {
                assert_int_not_equal(row[q], row[r]);
            }
        }
        leaders[index_of(b, n, row[0])]++;
    }
}

static void test_assign_balanced_no_racks(void **state)
{
    (void)state;
    struct bk_md_assign_broker b[] = {
        { 5, NULL }, { 1, NULL }, { 3, NULL }, { 2, NULL }, { 4, NULL }
    };
    int32_t t[20 * 3];
    int leaders[MAXB], replicas[MAXB];
    for (int32_t start = 0; start < 5; start++) {
        for (int32_t shift = 0; shift < 5; shift++) {
            assert_int_equal(
                bk_md_assign_replicas(b, 5, 20, 3, start, shift, 0, t), 0);
            check(b, 5, t, 20, 3, leaders, replicas);
            for (int i = 0; i < 5; i++) {
                assert_int_equal(leaders[i], 4);
                assert_int_equal(replicas[i], 12);
            }
        }
    }
    /* Deterministic for fixed inputs. */
    int32_t u[20 * 3];
    assert_int_equal(bk_md_assign_replicas(b, 5, 20, 3, 2, 1, 0, t), 0);
    assert_int_equal(bk_md_assign_replicas(b, 5, 20, 3, 2, 1, 0, u), 0);
    assert_memory_equal(t, u, sizeof(t));
    /* Follower sets vary between partitions with the same leader. */
    assert_true(t[0 * 3 + 1] != t[5 * 3 + 1] || t[0 * 3 + 2] != t[5 * 3 + 2]);
}

static void test_assign_rack_spread(void **state)
{
    (void)state;
    struct bk_md_assign_broker b[] = {
        { 1, "a" }, { 2, "a" }, { 3, "b" }, { 4, "b" }, { 5, "c" }, { 6, "c" },
    };
    int32_t t[24 * 3];
    int leaders[MAXB], replicas[MAXB];
    for (int32_t start = 0; start < 6; start++) {
        for (int32_t shift = 0; shift < 6; shift++) {
            assert_int_equal(
                bk_md_assign_replicas(b, 6, 24, 3, start, shift, 0, t), 0);
            check(b, 6, t, 24, 3, leaders, replicas);
            for (int i = 0; i < 6; i++) {
                assert_int_equal(leaders[i], 4);
                assert_int_equal(replicas[i], 12);
            }
            /* Every partition has one replica in each rack. */
            for (int p = 0; p < 24; p++) {
                bool seen[3] = { false, false, false };
                for (int r = 0; r < 3; r++) {
                    const char *rack = b[index_of(b, 6, t[p * 3 + r])].rack;
                    seen[rack[0] - 'a'] = true;
                }
                assert_true(seen[0] && seen[1] && seen[2]);
            }
        }
    }
}

static void test_assign_uneven_racks(void **state)
{
    (void)state;
    /* Three brokers in rack a, one in b: rf 2 must always span both. */
    struct bk_md_assign_broker b[] = {
        { 1, "a" }, { 2, "a" }, { 3, "a" }, { 4, "b" }
    };
    int32_t t[12 * 2];
    int leaders[MAXB], replicas[MAXB];
    for (int32_t shift = 0; shift < 4; shift++) {
        assert_int_equal(bk_md_assign_replicas(b, 4, 12, 2, 1, shift, 0, t), 0);
        check(b, 4, t, 12, 2, leaders, replicas);
        for (int p = 0; p < 12; p++) {
            assert_true(t[p * 2] == 4 || t[p * 2 + 1] == 4);
        }
        for (int i = 0; i < 4; i++) {
            assert_int_equal(leaders[i], 3);
        }
    }
    /* rf 4 over 2 racks: all brokers, no loop forever. */
    int32_t all[5 * 4];
    assert_int_equal(bk_md_assign_replicas(b, 4, 5, 4, 0, 3, 0, all), 0);
    check(b, 4, all, 5, 4, leaders, replicas);
    /* A broker without a rack among racked ones counts as rack "". */
    struct bk_md_assign_broker m[] = { { 1, "a" }, { 2, NULL }, { 3, "a" } };
    int32_t mt[6 * 2];
    assert_int_equal(bk_md_assign_replicas(m, 3, 6, 2, 0, 0, 0, mt), 0);
    for (int p = 0; p < 6; p++) {
        assert_true(mt[p * 2] == 2 || mt[p * 2 + 1] == 2);
    }
}

static void test_assign_errors_and_growth(void **state)
{
    (void)state;
    struct bk_md_assign_broker b[] = { { 1, NULL }, { 2, NULL }, { 3, NULL } };
    int32_t t[64];
    assert_int_equal(bk_md_assign_replicas(b, 3, 2, 4, 0, 0, 0, t), BK_ERANGE);
    assert_int_equal(bk_md_assign_replicas(b, 3, 2, 0, 0, 0, 0, t), BK_EINVAL);
    assert_int_equal(bk_md_assign_replicas(b, 0, 2, 1, 0, 0, 0, t), BK_EINVAL);
    assert_int_equal(bk_md_assign_replicas(b, 3, 0, 1, 0, 0, 0, t), 0);
    /* Adding partitions continues the leader rotation. */
    int32_t all[9 * 2], tail[3 * 2];
    assert_int_equal(bk_md_assign_replicas(b, 3, 9, 2, 1, 2, 0, all), 0);
    assert_int_equal(bk_md_assign_replicas(b, 3, 3, 2, 1, 2, 6, tail), 0);
    assert_memory_equal(&all[6 * 2], tail, sizeof(tail));
    /* A single broker, rf 1. */
    assert_int_equal(bk_md_assign_replicas(b, 1, 4, 1, 0, 0, 0, t), 0);
    for (int i = 0; i < 4; i++) {
        assert_int_equal(t[i], 1);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_assign_balanced_no_racks),
        cmocka_unit_test(test_assign_rack_spread),
        cmocka_unit_test(test_assign_uneven_racks),
        cmocka_unit_test(test_assign_errors_and_growth),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
