#include "common/diag.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/err.h"

/* Process-wide, written once at start-up (see log.h). */
static atomic_int log_level = BK_DIAG_INFO;
static atomic_int log_fd = 2;
static atomic_int log_format = BK_DIAG_FORMAT_TEXT;

static const char *const level_names[] = { "TRACE", "DEBUG", "INFO",
                                           "WARN",  "ERROR", "OFF" };

void bk_diag_set_level(enum bk_diag_level level)
{
    atomic_store(&log_level, (int)level);
}

enum bk_diag_level bk_diag_get_level(void)
{
    return (enum bk_diag_level)atomic_load_explicit(&log_level,
                                                    memory_order_relaxed);
}

int bk_diag_parse_level(const char *name, enum bk_diag_level *out)
{
    static const char *const lower[] = { "trace", "debug", "info",
                                         "warn",  "error", "off" };
    for (int i = 0; i <= BK_DIAG_OFF; i++) {
        if (strcmp(name, lower[i]) == 0) {
            *out = (enum bk_diag_level)i;
            return 0;
        }
    }
    return BK_EINVAL;
}

void bk_diag_set_fd(int fd)
{
    atomic_store(&log_fd, fd);
}

void bk_diag_set_format(enum bk_diag_format format)
{
    atomic_store(&log_format, (int)format);
}

int bk_diag_parse_format(const char *name, enum bk_diag_format *out)
{
    if (strcmp(name, "text") == 0) {
        *out = BK_DIAG_FORMAT_TEXT;
        return 0;
    }
    if (strcmp(name, "json") == 0) {
        *out = BK_DIAG_FORMAT_JSON;
        return 0;
    }
    return BK_EINVAL;
}

/* The escaped form of byte c into out (4 bytes); returns its length. */
static size_t escape_byte(unsigned char c, char *out)
{
    static const char hex[] = "0123456789abcdef";
    if (c == '"' || c == '\\') {
        out[0] = '\\';
        out[1] = (char)c;
        return 2;
    }
    if (c >= 0x20 && c < 0x7f) {
        out[0] = (char)c;
        return 1;
    }
    out[0] = '\\';
    out[1] = 'x';
    out[2] = hex[c >> 4];
    out[3] = hex[c & 0xf];
    return 4;
}

const char *bk_diag_escape(char *dst,
                           size_t dstlen,
                           const char *src,
                           size_t srclen)
{
    if (dstlen == 0) {
        return dst;
    }
    const unsigned char *s = (const unsigned char *)src;
    if (s == NULL) {
        srclen = 0;
    }
    char esc[4];
    size_t total = 0;
    for (size_t i = 0; i < srclen; i++) {
        total += escape_byte(s[i], esc);
    }
    size_t room = dstlen - 1;
    /* When it does not all fit, keep room for the "..." that says so. */
    size_t limit = total <= room ? room : (room >= 3 ? room - 3 : 0);
    size_t k = 0;
    for (size_t i = 0; i < srclen; i++) {
        size_t n = escape_byte(s[i], esc);
        if (k + n > limit) {
            break;
        }
        memcpy(dst + k, esc, n);
        k += n;
    }
    for (int dots = 0; total > room && dots < 3 && k < room; dots++) {
        dst[k++] = '.';
    }
    dst[k] = '\0';
    return dst;
}

/* Repeated lines are rate-limited per call site (its format string): at
 * most SITE_LINES_PER_SEC a second each, so an error that recurs on every
 * request or every timer tick cannot fill the disk or drown the other
 * lines. The next line from a site that had lines dropped says how many.
 * The table is process-wide like the level and fd; a site that collides
 * with another takes its slot over (at worst letting a few more through). */
#define SITE_SLOTS         64
#define SITE_LINES_PER_SEC 20

struct log_site {
    const char *fmt;
    long sec;
    unsigned lines;
    unsigned dropped;
};

static struct log_site sites[SITE_SLOTS];
static pthread_mutex_t sites_lock = PTHREAD_MUTEX_INITIALIZER;

/* Whether a line from fmt may be written at second sec, at most per_sec
 * a second; *dropped gets the count of lines the site dropped in its
 * previous second with lines. */
static bool site_admit(const char *fmt,
                       long sec,
                       unsigned per_sec,
                       unsigned *dropped)
{
    uintptr_t h = (uintptr_t)fmt;
    struct log_site *site = &sites[(h >> 4) % SITE_SLOTS];
    bool ok;
    pthread_mutex_lock(&sites_lock);
    *dropped = 0;
    if (site->fmt != fmt) {
        site->fmt = fmt;
        site->sec = sec;
        site->lines = 0;
        site->dropped = 0;
    } else if (site->sec != sec) {
        *dropped = site->dropped;
        site->sec = sec;
        site->lines = 0;
        site->dropped = 0;
    }
    ok = site->lines < per_sec;
    if (ok) {
        site->lines++;
    } else {
        site->dropped++;
    }
    pthread_mutex_unlock(&sites_lock);
    return ok;
}

/* Writes one finished line, body being its key=value text, in the
 * configured format. One write(2) per line keeps lines from different
 * shards whole. */
static void emit(const struct timespec *ts,
                 enum bk_diag_level level,
                 const char *sub,
                 const char *body)
{
    char stamp[128];
    char line[4096];
    struct tm tm;
    gmtime_r(&ts->tv_sec, &tm);
    snprintf(stamp, sizeof(stamp), "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ",
             tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
             tm.tm_min, tm.tm_sec, ts->tv_nsec / 1000000);
    size_t len;
    if (atomic_load(&log_format) == BK_DIAG_FORMAT_JSON) {
        len = bk_diag_json_line(line, sizeof(line), stamp, level_names[level],
                                sub, body);
    } else {
        int n = snprintf(line, sizeof(line), "%s %s %s %s\n", stamp,
                         level_names[level], sub, body);
        len = n < 0 ? 0 : (size_t)n;
        if (len >= sizeof(line)) {
            len = sizeof(line) - 1;
            line[len - 1] = '\n';
        }
    }
    if (len > 0) {
        ssize_t w = write(atomic_load(&log_fd), line, len);
        (void)w;
    }
}

/* fmt comes from a bk_diag_write* caller, checked there (format
 * attribute); the attribute here tells clang the va_list is its. */
__attribute__((format(printf, 5, 0))) static void write_line(
    enum bk_diag_level level,
    const char *sub,
    bool limit,
    unsigned per_sec,
    const char *fmt,
    va_list ap)
{
    char body[1024];
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    unsigned dropped = 0;
    if (limit && !site_admit(fmt, (long)ts.tv_sec, per_sec, &dropped)) {
        return;
    }
    if (dropped > 0) {
        snprintf(body, sizeof(body),
                 "msg=\"%u lines like the next were dropped "
                 "(more than %u a second)\"",
                 dropped, per_sec);
        emit(&ts, level, "log", body);
    }
    int m = vsnprintf(body, sizeof(body), fmt, ap);
    if (m < 0) {
        body[0] = '\0';
    }
    emit(&ts, level, sub, body);
}

void bk_diag_write(enum bk_diag_level level,
                   const char *sub,
                   const char *fmt,
                   ...)
{
    va_list ap;
    va_start(ap, fmt);
    write_line(level, sub, level >= BK_DIAG_INFO, SITE_LINES_PER_SEC, fmt, ap);
    va_end(ap);
}

void bk_diag_write_limited(enum bk_diag_level level,
                           const char *sub,
                           unsigned per_sec,
                           const char *fmt,
                           ...)
{
    va_list ap;
    va_start(ap, fmt);
    write_line(level, sub, true, per_sec, fmt, ap);
    va_end(ap);
}
