/* The sampled rate behind client quotas (src/common/rate.c), driven by a
 * manual clock: Kafka's SampledStat and Rate semantics (a minimum window
 * of samples - 1 windows, samples that complete and roll over, expiry
 * after samples x window) and QuotaUtils' throttle time. */
/* clang-format off */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
/* clang-format on */
#include <math.h>

#include "common/rate.h"

static const struct bk_rate_cfg kafka = { .samples = 11, .window_ms = 1000 };

static void assert_near(double got, double want)
{
    if (fabs(got - want) > 1e-6 * (fabs(want) + 1)) {
        fail_msg("got %f, want %f", got, want);
    }
}

/* A fresh rate is measured over at least samples - 1 windows, so one
 * value does not look like a spike. */
static void test_minimum_window(void **state)
{
    (void)state;
    struct bk_rate r;
    bk_rate_init(&r);
    int64_t t = 1000000;
    assert_near(bk_rate_measure(&r, &kafka, t), 0);
    bk_rate_record(&r, &kafka, 5000, t);
    assert_int_equal(bk_rate_window_ms(&r, &kafka, t), 10000);
    assert_near(bk_rate_measure(&r, &kafka, t), 500);
    /* 2.5 s later: 2 whole windows elapsed, still padded to 10 s. */
    assert_int_equal(bk_rate_window_ms(&r, &kafka, t + 2500), 10500);
    /* Past 10 whole windows the elapsed time itself counts. */
    bk_rate_record(&r, &kafka, 1000, t + 10500);
    assert_int_equal(bk_rate_window_ms(&r, &kafka, t + 10700), 10700);
    assert_near(bk_rate_measure(&r, &kafka, t + 10700), 6000 / 10.7);
}

/* Samples complete after one window; the 12th reuses the oldest slot,
 * and a sample 11 windows old counts for nothing. */
static void test_samples_roll_and_expire(void **state)
{
    (void)state;
    struct bk_rate r;
    bk_rate_init(&r);
    int64_t t = 0;
    for (int i = 0; i < 11; i++) {
        bk_rate_record(&r, &kafka, 100, t + i * 1000);
    }
    assert_int_equal(r.n, 11);
    /* Oldest began at 0: 10.5 s elapsed, 1100 bytes. */
    assert_near(bk_rate_measure(&r, &kafka, 10500), 1100 / 10.5);
    /* At 11 s the first sample is 11 windows old: purged; the next
     * record starts a sample in its slot. */
    bk_rate_record(&r, &kafka, 100, 11000);
    assert_int_equal(r.n, 11);
    assert_int_equal(r.cur, 0);
    assert_near(bk_rate_measure(&r, &kafka, 11000), 1100 / 10.0);
    /* Long silence: everything expires. */
    assert_near(bk_rate_measure(&r, &kafka, 100000), 0);
    /* Values within one window add up in one sample. */
    bk_rate_init(&r);
    bk_rate_record(&r, &kafka, 1, 0);
    bk_rate_record(&r, &kafka, 2, 999);
    assert_int_equal(r.n, 1);
    bk_rate_record(&r, &kafka, 4, 1000);
    assert_int_equal(r.n, 2);
    assert_near(bk_rate_measure(&r, &kafka, 1000), 7 / 10.0);
}

/* Kafka's throttle time: (observed - bound) / bound x window, 0 within
 * the bound. Waiting that long brings the rate back to the bound. */
static void test_throttle_time(void **state)
{
    (void)state;
    struct bk_rate r;
    bk_rate_init(&r);
    int64_t t = 5000;
    bk_rate_record(&r, &kafka, 1000, t); /* 100/s over 10 s */
    assert_int_equal(bk_rate_throttle_ms(&r, &kafka, 100, t), 0);
    assert_int_equal(bk_rate_throttle_ms(&r, &kafka, 200, t), 0);
    bk_rate_record(&r, &kafka, 500, t); /* 150/s */
    assert_int_equal(bk_rate_throttle_ms(&r, &kafka, 100, t), 5000);
    /* Waiting that long brings the rate back to the bound once the
     * window grows with time (past the minimum window): two samples of
     * 10 s, 1000 at 0 and 500 at 10 s, are 150/s; 5 s later 100/s. */
    struct bk_rate_cfg two = { .samples = 2, .window_ms = 10000 };
    struct bk_rate g;
    bk_rate_init(&g);
    bk_rate_record(&g, &two, 1000, 0);
    bk_rate_record(&g, &two, 500, 10000);
    int64_t wait = bk_rate_throttle_ms(&g, &two, 100, 10000);
    assert_int_equal(wait, 5000);
    assert_near(bk_rate_measure(&g, &two, 10000 + wait), 100);
    assert_int_equal(bk_rate_throttle_ms(&g, &two, 100, 10000 + wait), 0);
    /* A bound of 0: one whole quota window. */
    assert_int_equal(bk_rate_throttle_ms(&r, &kafka, 0, t), 11000);
    /* Taking a value back (a dropped fetch) lowers the rate again. */
    bk_rate_record(&r, &kafka, -500, t);
    assert_int_equal(bk_rate_throttle_ms(&r, &kafka, 100, t), 0);
}

/* A client that sends whenever it is not throttled is held to its bound
 * over whole quota windows (samples x window), as in Kafka. */
static void test_greedy_client_held_to_bound(void **state)
{
    (void)state;
    struct bk_rate_cfg cfg = { .samples = 10, .window_ms = 1000 };
    struct bk_rate r;
    bk_rate_init(&r);
    const double bound = 100000, chunk = 4096;
    double sent_in_window = 0;
    int64_t t = 0;
    while (t < 40000) {
        bk_rate_record(&r, &cfg, chunk, t);
        if (t >= 20000 && t < 30000) {
            sent_in_window += chunk;
        }
        int64_t wait = bk_rate_throttle_ms(&r, &cfg, bound, t);
        t += wait > 0 ? wait : 1;
    }
    double rate = sent_in_window / 10.0;
    if (rate < 0.95 * bound || rate > 1.05 * bound) {
        fail_msg("rate %f for a bound of %f", rate, bound);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_minimum_window),
        cmocka_unit_test(test_samples_roll_and_expire),
        cmocka_unit_test(test_throttle_time),
        cmocka_unit_test(test_greedy_client_held_to_bound),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
