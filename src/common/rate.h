/* A sampled rate, with the semantics of Kafka's metrics Rate over a
 * SampledStat (what its client quotas measure): values are added to the
 * current sample; a sample is complete once it is window_ms old, and the
 * next value starts a new one, reusing the oldest slot; samples older than
 * samples x window_ms count for nothing. The rate is the sum of the live
 * samples over the time since the oldest one began, but never over less
 * than samples - 1 whole windows, so a fresh rate does not spike.
 *
 * Pure: the caller passes the time (monotonic milliseconds), so tests
 * drive it with a manual clock. No allocation; not thread-safe (the quota
 * layer guards it). */
#ifndef BK_COMMON_RATE_H
#define BK_COMMON_RATE_H

#include <stdbool.h>
#include <stdint.h>

#define BK_RATE_MAX_SAMPLES 64

struct bk_rate_cfg {
    unsigned samples;   /* quota.window.num, 1..BK_RATE_MAX_SAMPLES */
    uint64_t window_ms; /* quota.window.size.seconds x 1000, > 0 */
};

struct bk_rate_sample {
    int64_t start_ms;
    double value;
};

struct bk_rate {
    struct bk_rate_sample s[BK_RATE_MAX_SAMPLES];
    unsigned n;   /* samples started so far, at most cfg.samples */
    unsigned cur; /* the current sample */
};

/* An empty rate. */
void bk_rate_init(struct bk_rate *r);

/* Adds value at now_ms. */
void bk_rate_record(struct bk_rate *r,
                    const struct bk_rate_cfg *cfg,
                    double value,
                    int64_t now_ms);

/* The time the rate is measured over at now_ms, in milliseconds. */
int64_t bk_rate_window_ms(struct bk_rate *r,
                          const struct bk_rate_cfg *cfg,
                          int64_t now_ms);

/* The rate per second at now_ms. */
double bk_rate_measure(struct bk_rate *r,
                       const struct bk_rate_cfg *cfg,
                       int64_t now_ms);

/* How long a client must wait for the rate to come back to bound (Kafka's
 * QuotaUtils.throttleTime: the excess over the bound, relative to it,
 * times the measured window, rounded; at most INT32_MAX); 0 when the rate
 * is within bound. */
int64_t bk_rate_throttle_ms(struct bk_rate *r,
                            const struct bk_rate_cfg *cfg,
                            double bound,
                            int64_t now_ms);

#endif /* BK_COMMON_RATE_H */
