/* Shared fixture for the log store tests: a fake disk, a manual clock, a
 * manually driven syncer and an in-memory model of the batches appended. */
#ifndef BK_TESTS_UNIT_LOG_FIXTURE_H
#define BK_TESTS_UNIT_LOG_FIXTURE_H

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "batch_gen.h"
#include "common/clock.h"
#include "common/err.h"
#include "fake_disk.h"
#include "log/batch.h"
#include "log/log.h"

struct mclock {
    struct bk_clock c;
    int64_t wall, mono;
};

static inline int64_t mclock_wall(const struct bk_clock *c)
{
    return ((const struct mclock *)c->data)->wall;
}

static inline int64_t mclock_mono(const struct bk_clock *c)
{
    return ((const struct mclock *)c->data)->mono;
}

static inline void mclock_init(struct mclock *m, int64_t wall)
{
    m->c.wall_ms = mclock_wall;
    m->c.mono_ms = mclock_mono;
    m->c.data = m;
    m->wall = wall;
    m->mono = 1000;
}

static inline void mclock_advance(struct mclock *m, int64_t ms)
{
    m->wall += ms;
    m->mono += ms;
}

/* One appended batch as the model remembers it. */
struct mbatch {
    int64_t base, last;
    size_t len;
    uint8_t *bytes; /* as stored (after the log's in-place rewrite) */
    int64_t base_ts, ts_step;
    int nrec;
};

struct model {
    struct mbatch *b;
    int n, cap;
};

static inline void model_push(struct model *m,
                              const uint8_t *buf,
                              size_t len,
                              int64_t base,
                              int64_t last,
                              int64_t base_ts,
                              int64_t ts_step,
                              int nrec)
{
    if (m->n == m->cap) {
        m->cap = m->cap ? m->cap * 2 : 64;
        m->b = realloc(m->b, (size_t)m->cap * sizeof *m->b);
    }
    struct mbatch *x = &m->b[m->n++];
    x->base = base;
    x->last = last;
    x->len = len;
    x->bytes = malloc(len);
    memcpy(x->bytes, buf, len);
    x->base_ts = base_ts;
    x->ts_step = ts_step;
    x->nrec = nrec;
}

/* Drops batches with base >= leo. */
static inline void model_truncate(struct model *m, int64_t leo)
{
    while (m->n > 0 && m->b[m->n - 1].base >= leo) {
        free(m->b[--m->n].bytes);
    }
}

static inline void model_free(struct model *m)
{
    model_truncate(m, INT64_MIN);
    free(m->b);
    memset(m, 0, sizeof *m);
}

/* Index of the batch holding offset, or -1. */
static inline int model_find(const struct model *m, int64_t offset)
{
    for (int i = 0; i < m->n; i++) {
        if (m->b[i].base <= offset && offset <= m->b[i].last) {
            return i;
        }
    }
    return -1;
}

/* The seed of a randomized test: BK_TEST_SEED, or def. */
static inline unsigned fixture_seed(unsigned def)
{
    const char *s = getenv("BK_TEST_SEED");
    return s != NULL ? (unsigned)strtoul(s, NULL, 10) : def;
}

/* Opens the log in dir, or fails the test with the reason. Include
 * cmocka.h first. */
static inline void fixture_open(const char *dir,
                                const struct bk_log_config *cfg,
                                const struct bk_disk *disk,
                                const struct bk_clock *clk,
                                struct bk_fdcache *fc,
                                struct bk_syncer *sy,
                                bool clean,
                                struct bk_log **out)
{
    char err[BK_ERRMSG_SIZE] = "";
    int rv = bk_log_open(dir, cfg, disk, clk, fc, sy, clean, out, err);
    if (rv != 0) {
        fail_msg("open: %s (%s)", bk_errname(rv), err);
    }
}

#endif /* BK_TESTS_UNIT_LOG_FIXTURE_H */
