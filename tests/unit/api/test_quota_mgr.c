/* The broker's client quota sensors (src/api/quota.c) with a manual
 * clock: connections of one entity share a sensor whatever shard records
 * into it, kinds and entities have their own, and idle sensors go after
 * an hour (Kafka's inactive sensor expiry). */
/* clang-format off */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
/* clang-format on */
#include "api/quota.h"

static int64_t now_ms;

static int64_t manual_ms(const struct bk_clock *c)
{
    (void)c;
    return now_ms;
}

static const struct bk_clock manual = { .wall_ms = manual_ms,
                                        .mono_ms = manual_ms };

static void test_shared_sensor_and_kinds(void **state)
{
    (void)state;
    struct bk_quota_mgr m;
    now_ms = 1000000;
    assert_int_equal(bk_quota_mgr_init(&m, &manual, 11, 1), 0);
    /* 100 B/s over the 10 s minimum window: 1000 bytes are free. */
    assert_int_equal(
        bk_quota_mgr_record(&m, BK_QUOTA_PRODUCE, "alice", "", 100, 600), 0);
    /* Another connection (or shard) of the same entity adds to it. */
    assert_int_equal(
        bk_quota_mgr_record(&m, BK_QUOTA_PRODUCE, "alice", "", 100, 400), 0);
    /* 1500 bytes: (150 - 100) / 100 x 10 s. */
    assert_int_equal(
        bk_quota_mgr_record(&m, BK_QUOTA_PRODUCE, "alice", "", 100, 500), 5000);
    /* Other kinds and entities have sensors of their own. */
    assert_int_equal(
        bk_quota_mgr_record(&m, BK_QUOTA_FETCH, "alice", "", 100, 500), 0);
    assert_int_equal(
        bk_quota_mgr_record(&m, BK_QUOTA_PRODUCE, "alice", "c", 100, 500), 0);
    assert_int_equal(
        bk_quota_mgr_record(&m, BK_QUOTA_PRODUCE, "", "alice", 100, 500), 0);
    assert_int_equal(m.n, 4);
    bk_quota_mgr_close(&m);
}

static void test_idle_sensors_expire(void **state)
{
    (void)state;
    struct bk_quota_mgr m;
    now_ms = 0;
    assert_int_equal(bk_quota_mgr_init(&m, &manual, 11, 1), 0);
    bk_quota_mgr_record(&m, BK_QUOTA_PRODUCE, "u", "a", 1, 0);
    now_ms = 1800 * 1000;
    bk_quota_mgr_record(&m, BK_QUOTA_PRODUCE, "u", "b", 1, 0);
    assert_int_equal(m.n, 2);
    /* An hour after a's last use, the next sweep drops it only. */
    now_ms = 3600 * 1000 + 1;
    bk_quota_mgr_record(&m, BK_QUOTA_PRODUCE, "u", "c", 1, 0);
    assert_int_equal(m.n, 2);
    bk_quota_mgr_close(&m);
}

static void test_bad_windows(void **state)
{
    (void)state;
    struct bk_quota_mgr m;
    assert_int_not_equal(bk_quota_mgr_init(&m, &manual, 0, 1), 0);
    assert_int_not_equal(bk_quota_mgr_init(&m, &manual, 11, 0), 0);
    assert_int_not_equal(
        bk_quota_mgr_init(&m, &manual, BK_RATE_MAX_SAMPLES + 1, 1), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_shared_sensor_and_kinds),
        cmocka_unit_test(test_idle_sensors_expire),
        cmocka_unit_test(test_bad_windows),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
