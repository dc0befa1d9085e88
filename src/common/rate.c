#include "common/rate.h"

#include <stdint.h>
#include <string.h>

void bk_rate_init(struct bk_rate *r)
{
    memset(r, 0, sizeof(*r));
}

/* Samples too old to count start again empty at now (Kafka purges them
 * the same way before each measurement). */
static void purge(struct bk_rate *r,
                  const struct bk_rate_cfg *cfg,
                  int64_t now_ms)
{
    int64_t max_age = (int64_t)cfg->samples * (int64_t)cfg->window_ms;
    for (unsigned i = 0; i < r->n; i++) {
        if (now_ms - r->s[i].start_ms >= max_age) {
            r->s[i].start_ms = now_ms;
            r->s[i].value = 0;
        }
    }
}

void bk_rate_record(struct bk_rate *r,
                    const struct bk_rate_cfg *cfg,
                    double value,
                    int64_t now_ms)
{
    if (r->n == 0) {
        r->n = 1;
        r->cur = 0;
        r->s[0] = (struct bk_rate_sample){ .start_ms = now_ms };
    } else if (now_ms >= r->s[r->cur].start_ms + (int64_t)cfg->window_ms) {
        /* The current sample is complete: move on, to a new slot while
         * fewer than cfg->samples exist, else to the oldest. */
        r->cur = (r->cur + 1) % cfg->samples;
        if (r->cur >= r->n) {
            r->n = r->cur + 1;
        }
        r->s[r->cur] = (struct bk_rate_sample){ .start_ms = now_ms };
    }
    r->s[r->cur].value += value;
}

int64_t bk_rate_window_ms(struct bk_rate *r,
                          const struct bk_rate_cfg *cfg,
                          int64_t now_ms)
{
    purge(r, cfg, now_ms);
    int64_t oldest = now_ms;
    for (unsigned i = 0; i < r->n; i++) {
        if (r->s[i].start_ms < oldest) {
            oldest = r->s[i].start_ms;
        }
    }
    int64_t elapsed = now_ms - oldest;
    int64_t win = (int64_t)cfg->window_ms;
    int64_t full = elapsed / win;
    int64_t min_full = (int64_t)cfg->samples - 1;
    if (full < min_full) {
        elapsed += (min_full - full) * win;
    }
    return elapsed;
}

double bk_rate_measure(struct bk_rate *r,
                       const struct bk_rate_cfg *cfg,
                       int64_t now_ms)
{
    int64_t win = bk_rate_window_ms(r, cfg, now_ms); /* purges */
    double total = 0;
    for (unsigned i = 0; i < r->n; i++) {
        total += r->s[i].value;
    }
    /* One sample and one window: a window of 0 ms right at the start. */
    if (win <= 0) {
        win = 1;
    }
    return total * 1000.0 / (double)win;
}

int64_t bk_rate_throttle_ms(struct bk_rate *r,
                            const struct bk_rate_cfg *cfg,
                            double bound,
                            int64_t now_ms)
{
    double rate = bk_rate_measure(r, cfg, now_ms);
    if (rate <= bound) {
        return 0;
    }
    /* A bound of 0 lets nothing through: wait one whole quota window, and
     * again after it while the client keeps trying. */
    if (bound <= 0) {
        return (int64_t)cfg->samples * (int64_t)cfg->window_ms;
    }
    double win = (double)bk_rate_window_ms(r, cfg, now_ms);
    double t = (rate - bound) / bound * win + 0.5;
    return t >= (double)INT32_MAX ? INT32_MAX : (int64_t)t;
}
