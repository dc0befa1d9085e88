/* Diagnostics: the broker's own log lines (levels, key=value context,
 * stderr by default). Named bk_diag_ so that bk_log_ names only the
 * partition log store (src/log/).
 *
 * Lines look like
 *   2026-11-26T08:03:29.123Z INFO net conn=7 client=rdkafka msg="accepted"
 * The level is checked before any formatting. The threshold and the output
 * fd are process-wide and set once at start-up, before any thread starts;
 * afterwards they are only read (an atomic, so a later SIGHUP-driven change
 * would be safe too). */
#ifndef BK_COMMON_DIAG_H
#define BK_COMMON_DIAG_H

#include <stdarg.h>
#include <stddef.h>

enum bk_diag_level {
    BK_DIAG_TRACE = 0,
    BK_DIAG_DEBUG,
    BK_DIAG_INFO,
    BK_DIAG_WARN,
    BK_DIAG_ERROR,
    BK_DIAG_OFF,
};

/* Sets the threshold; call before threads start. */
void bk_diag_set_level(enum bk_diag_level level);
enum bk_diag_level bk_diag_get_level(void);

/* Parses "trace|debug|info|warn|error|off"; returns 0 or BK_EINVAL. */
int bk_diag_parse_level(const char *name, enum bk_diag_level *out);

/* Sets the output fd (default 2). */
void bk_diag_set_fd(int fd);

/* The shape of a line (log.format): text, or one JSON object a line. */
enum bk_diag_format {
    BK_DIAG_FORMAT_TEXT = 0,
    BK_DIAG_FORMAT_JSON,
};

/* Sets the format; call before threads start, like the level. */
void bk_diag_set_format(enum bk_diag_format format);

/* Parses "text|json"; returns 0 or BK_EINVAL. */
int bk_diag_parse_format(const char *name, enum bk_diag_format *out);

/* Smallest dstlen bk_diag_json_line() writes into. */
#define BK_DIAG_JSON_MIN 256

/* Writes the JSON form of one line into dst (dstlen >= BK_DIAG_JSON_MIN
 * bytes), ending in "\n" and NUL-terminated: an object with "ts", "level"
 * and "subsystem" (ts, level, sub: borrowed, NUL-terminated), then one
 * member per key=value field of text (borrowed), in order: a value quoted
 * in text is unescaped (bk_diag_escape()'s \" \\ \xHH) and written as a
 * JSON string, except that a byte 0x80 and above stays the six characters
 * `\\xHH`, keeping the line valid UTF-8; a bare value is a JSON number
 * when it is an integer, else a string. A field named ts, level or
 * subsystem becomes field.<name>. Text that is not key=value goes whole
 * into a "text" member. When the object does not fit, the last value is
 * cut with "..." or left out, and "truncated":true is added; the result
 * always parses. Returns the length written, 0 if dstlen is too small. */
size_t bk_diag_json_line(char *dst,
                         size_t dstlen,
                         const char *ts,
                         const char *level,
                         const char *sub,
                         const char *text);

/* Writes one line: timestamp, level, subsystem, then the formatted text,
 * which should itself be key=value pairs. */
void bk_diag_write(enum bk_diag_level level,
                   const char *sub,
                   const char *fmt,
                   ...) __attribute__((format(printf, 3, 4)));

/* Like bk_diag_write(), but rate-limited at every level, debug included,
 * to per_sec lines a second from this call site (its format string): for
 * lines that come once per request (the request log), which must not fill
 * the disk even when a debug level is asked for. */
void bk_diag_write_limited(enum bk_diag_level level,
                           const char *sub,
                           unsigned per_sec,
                           const char *fmt,
                           ...) __attribute__((format(printf, 4, 5)));

/* Room for escaping n bytes whole with bk_diag_escape(), NUL included. */
#define BK_DIAG_ESCAPED_SIZE(n) (4 * (n) + 1)

/* Writes the srclen bytes at src (borrowed; NULL reads as "") into dst as
 * printable ASCII, for a log line or a message built from a wire string
 * (client id, group id, topic or config name): bytes 0x20-0x7e stay, except
 * '"' and '\\', which get a backslash; every other byte (control bytes,
 * NUL, and 0x80 and above, so the line stays valid UTF-8 whatever the
 * client sent) becomes \xHH. The result fits in a key="value" field and
 * cannot end or forge a line. dst (dstlen >= 1 bytes) is always
 * NUL-terminated; when the escaped text does not fit, it is cut after a
 * whole escape and ends in "...". Returns dst, for use as a "%s" argument. */
const char *bk_diag_escape(char *dst,
                           size_t dstlen,
                           const char *src,
                           size_t srclen);

#define bk_diag(level, sub, ...)                    \
    do {                                            \
        if ((level) >= bk_diag_get_level()) {       \
            bk_diag_write(level, sub, __VA_ARGS__); \
        }                                           \
    } while (0)

#define bk_diag_limited(level, sub, per_sec, ...)                    \
    do {                                                             \
        if ((level) >= bk_diag_get_level()) {                        \
            bk_diag_write_limited(level, sub, per_sec, __VA_ARGS__); \
        }                                                            \
    } while (0)

#define bk_diag_error(sub, ...) bk_diag(BK_DIAG_ERROR, sub, __VA_ARGS__)
#define bk_diag_warn(sub, ...)  bk_diag(BK_DIAG_WARN, sub, __VA_ARGS__)
#define bk_diag_info(sub, ...)  bk_diag(BK_DIAG_INFO, sub, __VA_ARGS__)
#define bk_diag_debug(sub, ...) bk_diag(BK_DIAG_DEBUG, sub, __VA_ARGS__)
#define bk_diag_trace(sub, ...) bk_diag(BK_DIAG_TRACE, sub, __VA_ARGS__)

#endif /* BK_COMMON_DIAG_H */
