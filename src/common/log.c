#include "common/log.h"

#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/err.h"

/* Process-wide, written once at start-up (see log.h). */
static atomic_int log_level = BK_LOG_INFO;
static atomic_int log_fd = 2;

static const char *const level_names[] = { "TRACE", "DEBUG", "INFO",
                                           "WARN",  "ERROR", "OFF" };

void bk_log_set_level(enum bk_log_level level)
{
    atomic_store(&log_level, (int)level);
}

enum bk_log_level bk_log_get_level(void)
{
    return (enum bk_log_level)atomic_load_explicit(&log_level,
                                                   memory_order_relaxed);
}

int bk_log_parse_level(const char *name, enum bk_log_level *out)
{
    static const char *const lower[] = { "trace", "debug", "info",
                                         "warn",  "error", "off" };
    for (int i = 0; i <= BK_LOG_OFF; i++) {
        if (strcmp(name, lower[i]) == 0) {
            *out = (enum bk_log_level)i;
            return 0;
        }
    }
    return BK_EINVAL;
}

void bk_log_set_fd(int fd)
{
    atomic_store(&log_fd, fd);
}

void bk_log_write(enum bk_log_level level,
                  const char *sub,
                  const char *fmt,
                  ...)
{
    char line[1024];
    struct timespec ts;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    int n = snprintf(
        line, sizeof(line), "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ %s %s ",
        tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
        tm.tm_sec, ts.tv_nsec / 1000000, level_names[level], sub);
    if (n < 0) {
        return;
    }
    va_list ap;
    va_start(ap, fmt);
    int m = vsnprintf(line + n, sizeof(line) - (size_t)n - 1, fmt, ap);
    va_end(ap);
    size_t len = (size_t)n;
    if (m > 0) {
        len += (size_t)m;
        if (len > sizeof(line) - 2) {
            len = sizeof(line) - 2;
        }
    }
    line[len++] = '\n';
    /* One write(2) per line keeps lines from different shards whole. */
    ssize_t w = write(atomic_load(&log_fd), line, len);
    (void)w;
}
