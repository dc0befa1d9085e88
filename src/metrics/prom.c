#include "metrics/prom.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "common/err.h"
#include "common/heap.h"

void bk_prom_init(struct bk_prom *p)
{
    memset(p, 0, sizeof(*p));
}

void bk_prom_free(struct bk_prom *p)
{
    bk_free(p->buf);
    memset(p, 0, sizeof(*p));
}

/* Makes room for want more bytes plus a NUL. */
static int reserve(struct bk_prom *p, size_t want)
{
    if (p->err != 0) {
        return p->err;
    }
    if (p->len + want + 1 <= p->cap) {
        return 0;
    }
    size_t cap = p->cap == 0 ? 4096 : p->cap;
    while (cap < p->len + want + 1) {
        cap *= 2;
    }
    char *nb = bk_realloc(p->buf, cap);
    if (nb == NULL) {
        p->err = BK_ENOMEM;
        return p->err;
    }
    p->buf = nb;
    p->cap = cap;
    return 0;
}

static void put(struct bk_prom *p, const char *s, size_t n)
{
    if (reserve(p, n) == 0) {
        memcpy(p->buf + p->len, s, n);
        p->len += n;
        p->buf[p->len] = '\0';
    }
}

static void puts_(struct bk_prom *p, const char *s)
{
    put(p, s, strlen(s));
}

__attribute__((format(printf, 2, 3))) static void printf_(struct bk_prom *p,
                                                          const char *fmt,
                                                          ...)
{
    char tmp[64];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
    va_end(ap);
    if (n > 0) {
        put(p, tmp, (size_t)n < sizeof(tmp) ? (size_t)n : sizeof(tmp) - 1);
    }
}

/* Escapes backslash and newline, and the double quote too in a label
 * value (quote true). */
static void escaped(struct bk_prom *p, const char *s, bool quote)
{
    for (; *s != '\0'; s++) {
        if (*s == '\\') {
            puts_(p, "\\\\");
        } else if (*s == '\n') {
            puts_(p, "\\n");
        } else if (quote && *s == '"') {
            puts_(p, "\\\"");
        } else {
            put(p, s, 1);
        }
    }
}

void bk_prom_family(struct bk_prom *p,
                    const char *name,
                    const char *type,
                    const char *help)
{
    puts_(p, "# HELP ");
    puts_(p, name);
    puts_(p, " ");
    escaped(p, help, false);
    puts_(p, "\n# TYPE ");
    puts_(p, name);
    puts_(p, " ");
    puts_(p, type);
    puts_(p, "\n");
}

/* name{a="x",b="y"} without the value; an extra label (le) when given. */
static void series(struct bk_prom *p,
                   const char *name,
                   const struct bk_prom_label *labels,
                   size_t n,
                   const char *le)
{
    puts_(p, name);
    if (n == 0 && le == NULL) {
        return;
    }
    puts_(p, "{");
    for (size_t i = 0; i < n; i++) {
        if (i > 0) {
            puts_(p, ",");
        }
        puts_(p, labels[i].name);
        puts_(p, "=\"");
        escaped(p, labels[i].value, true);
        puts_(p, "\"");
    }
    if (le != NULL) {
        puts_(p, n > 0 ? ",le=\"" : "le=\"");
        puts_(p, le);
        puts_(p, "\"");
    }
    puts_(p, "}");
}

void bk_prom_u64(struct bk_prom *p,
                 const char *name,
                 const struct bk_prom_label *labels,
                 size_t n,
                 uint64_t value)
{
    series(p, name, labels, n, NULL);
    printf_(p, " %llu\n", (unsigned long long)value);
}

void bk_prom_f64(struct bk_prom *p,
                 const char *name,
                 const struct bk_prom_label *labels,
                 size_t n,
                 double value)
{
    series(p, name, labels, n, NULL);
    /* 15 significant digits: decimal values such as 0.25 come out as
     * written, not as their nearest binary expansion. */
    printf_(p, " %.15g\n", value);
}

void bk_prom_hist(struct bk_prom *p,
                  const char *name,
                  const struct bk_prom_label *labels,
                  size_t n,
                  const struct bk_hist *h,
                  const struct bk_hist_bounds *b,
                  double scale)
{
    char metric[160], le[32];
    uint64_t cum[BK_HIST_MAX_BOUNDS + 1], sum;
    bk_hist_read(h, b, cum, &sum);
    snprintf(metric, sizeof(metric), "%s_bucket", name);
    for (unsigned i = 0; i <= b->n; i++) {
        if (i < b->n) {
            snprintf(le, sizeof(le), "%.15g", (double)b->le[i] * scale);
        } else {
            snprintf(le, sizeof(le), "+Inf");
        }
        series(p, metric, labels, n, le);
        printf_(p, " %llu\n", (unsigned long long)cum[i]);
    }
    snprintf(metric, sizeof(metric), "%s_sum", name);
    bk_prom_f64(p, metric, labels, n, (double)sum * scale);
    snprintf(metric, sizeof(metric), "%s_count", name);
    bk_prom_u64(p, metric, labels, n, cum[b->n]);
}
