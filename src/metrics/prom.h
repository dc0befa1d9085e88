/* A writer of the Prometheus text exposition format, version 0.0.4
 * (https://prometheus.io/docs/instrumenting/exposition_formats/): one
 * "# HELP" and "# TYPE" line per family, then one line per sample,
 * `name{label="value",...} value`. Label values are escaped as the format
 * says (backslash, double quote, newline); so is HELP text (backslash,
 * newline).
 *
 * The text grows in one heap buffer. An allocation failure sets err and
 * makes every later call a no-op, so a page is built without checking
 * each line and checked once at the end. */
#ifndef BK_METRICS_PROM_H
#define BK_METRICS_PROM_H

#include <stddef.h>
#include <stdint.h>

#include "metrics/metrics.h"

struct bk_prom {
    char *buf; /* owned */
    size_t len, cap;
    int err; /* 0 or BK_ENOMEM */
};

struct bk_prom_label {
    const char *name;  /* borrowed; [a-zA-Z_][a-zA-Z0-9_]* */
    const char *value; /* borrowed; any bytes but NUL */
};

void bk_prom_init(struct bk_prom *p);
/* Frees the buffer (NULL buffer allowed). */
void bk_prom_free(struct bk_prom *p);

/* Starts a family: type is "counter", "gauge" or "histogram". */
void bk_prom_family(struct bk_prom *p,
                    const char *name,
                    const char *type,
                    const char *help);

/* One sample of an integer (counters, integer gauges) or a float. labels
 * may be NULL when n is 0. */
void bk_prom_u64(struct bk_prom *p,
                 const char *name,
                 const struct bk_prom_label *labels,
                 size_t n,
                 uint64_t value);
void bk_prom_f64(struct bk_prom *p,
                 const char *name,
                 const struct bk_prom_label *labels,
                 size_t n,
                 double value);

/* The samples of one histogram series: name_bucket{...,le="..."} for each
 * bound and +Inf, name_sum and name_count. The bounds and the sum are
 * multiplied by scale (1e-6 to show microseconds as seconds). labels may
 * be NULL when n is 0. */
void bk_prom_hist(struct bk_prom *p,
                  const char *name,
                  const struct bk_prom_label *labels,
                  size_t n,
                  const struct bk_hist *h,
                  const struct bk_hist_bounds *b,
                  double scale);

#endif /* BK_METRICS_PROM_H */
