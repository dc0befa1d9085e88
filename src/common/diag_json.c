/* The JSON form of a log line (log.format=json): one object per line, with
 * ts, level, subsystem and msg first-class, and every key=value field of
 * the text form as a member of its own, so that a log shipper can index
 * the fields without a grok pattern.
 *
 * The text form is what every bk_diag_* call site writes: key=value pairs,
 * values bare (no spaces) or double-quoted with bk_diag_escape()'s escapes
 * (\" \\ \xHH). This file parses that form back; anything that does not
 * parse as a field (free text) ends up whole in a "text" member, so no
 * line is ever lost. */
#include <stdbool.h>
#include <string.h>

#include "common/diag.h"

/* Room kept free at every step for the closing `,"truncated":true}\n`. */
#define RESERVE 24

struct jw {
    char *dst;
    size_t cap; /* usable bytes, RESERVE already taken off */
    size_t len;
    bool truncated;
};

static bool put(struct jw *w, const char *s, size_t n)
{
    if (w->truncated || w->len + n > w->cap) {
        w->truncated = true;
        return false;
    }
    memcpy(w->dst + w->len, s, n);
    w->len += n;
    return true;
}

static bool puts_(struct jw *w, const char *s)
{
    return put(w, s, strlen(s));
}

/* One byte of a JSON string value, escaped. A byte of 0x80 and above
 * cannot be told apart from a broken UTF-8 sequence here, so it is written
 * as the text `\xHH` (JSON "\\xHH"), as the text form writes it: the line
 * stays valid UTF-8 and nothing is lost. */
static size_t json_byte(unsigned char c, char out[8])
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
    if (c >= 0x80) {
        out[0] = '\\';
        out[1] = '\\';
        out[2] = 'x';
        out[3] = hex[c >> 4];
        out[4] = hex[c & 0xf];
        return 5;
    }
    out[0] = '\\';
    out[1] = 'u';
    out[2] = '0';
    out[3] = '0';
    out[4] = hex[c >> 4];
    out[5] = hex[c & 0xf];
    return 6;
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9') {
        return c - '0';
    }
    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }
    if (c >= 'A' && c <= 'F') {
        return c - 'A' + 10;
    }
    return -1;
}

/* Writes one byte of a string value; on overflow the value is cut with
 * "..." (the closing quote's room is kept) and the writer marked full. */
static void str_byte(struct jw *w, unsigned char c)
{
    char esc[8];
    size_t n = json_byte(c, esc);
    if (w->truncated) {
        return;
    }
    if (w->len + n + 4 > w->cap) { /* 4: `..."` */
        memcpy(w->dst + w->len, "...", 3);
        w->len += 3;
        w->truncated = true;
        return;
    }
    memcpy(w->dst + w->len, esc, n);
    w->len += n;
}

/* A string is opened only with room for at least `..."` after it, so a
 * string once opened can always be closed. */
static bool str_open(struct jw *w)
{
    if (w->truncated || w->len + 5 > w->cap) {
        w->truncated = true;
        return false;
    }
    w->dst[w->len++] = '"';
    return true;
}

static void str_close(struct jw *w)
{
    w->dst[w->len++] = '"';
}

/* Writes a JSON string holding the raw bytes s[0..n). */
static void str_raw(struct jw *w, const char *s, size_t n)
{
    if (!str_open(w)) {
        return;
    }
    for (size_t i = 0; i < n && !w->truncated; i++) {
        str_byte(w, (unsigned char)s[i]);
    }
    str_close(w);
}

/* Writes the JSON string of a quoted text-form value starting after its
 * opening quote, undoing the text form's escapes; returns where the value
 * ends (after its closing quote, or at the end of the text without one). */
static const char *str_quoted(struct jw *w, const char *p)
{
    bool open = str_open(w);
    while (*p != '\0' && *p != '"') {
        unsigned char c = (unsigned char)*p++;
        if (c == '\\' && (*p == '"' || *p == '\\')) {
            c = (unsigned char)*p++;
        } else if (c == '\\' && *p == 'x' && hexval(p[1]) >= 0 &&
                   hexval(p[2]) >= 0) {
            c = (unsigned char)(hexval(p[1]) * 16 + hexval(p[2]));
            p += 3;
        }
        str_byte(w, c);
    }
    if (open) {
        str_close(w);
    }
    return *p == '"' ? p + 1 : p;
}

/* A bare value that is a JSON integer (bounded so it fits a 64-bit
 * integer everywhere) is written as a number, anything else as a string. */
static bool is_int(const char *s, size_t n)
{
    size_t i = s[0] == '-' ? 1 : 0;
    if (n == i || n - i > 18 || (s[i] == '0' && n - i > 1)) {
        return false;
    }
    for (; i < n; i++) {
        if (s[i] < '0' || s[i] > '9') {
            return false;
        }
    }
    return true;
}

static bool key_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
           (c >= '0' && c <= '9') || c == '_' || c == '.' || c == '-';
}

/* Writes `,"k":`. ts, level and subsystem are the line's own; a field of
 * the same name becomes field.<name> rather than a second member. False
 * when it did not fit whole. */
static bool key(struct jw *w, const char *k, size_t n)
{
    bool own = (n == 2 && memcmp(k, "ts", 2) == 0) ||
               (n == 5 && memcmp(k, "level", 5) == 0) ||
               (n == 9 && memcmp(k, "subsystem", 9) == 0);
    if (!put(w, ",", 1) || !str_open(w)) {
        return false;
    }
    if (own) {
        put(w, "field.", 6);
    }
    for (size_t i = 0; i < n; i++) {
        str_byte(w, (unsigned char)k[i]);
    }
    str_close(w);
    return put(w, ":", 1) && !w->truncated;
}

/* A value that is not a cut string must fit whole: else the member is
 * taken back out (to mark). */
static void bare(struct jw *w, const char *v, size_t n, size_t mark)
{
    if (n > 0 && is_int(v, n)) {
        if (!put(w, v, n)) {
            w->len = mark;
        }
        return;
    }
    str_raw(w, v, n);
    if (w->dst[w->len - 1] != '"') {
        w->len = mark;
    }
}

static void fields(struct jw *w, const char *p)
{
    while (!w->truncated) {
        while (*p == ' ') {
            p++;
        }
        if (*p == '\0') {
            return;
        }
        const char *k = p;
        while (key_char(*p)) {
            p++;
        }
        size_t mark = w->len;
        bool text = p == k || *p != '=';
        if (!(text ? key(w, "text", 4) : key(w, k, (size_t)(p - k)))) {
            w->len = mark;
            w->truncated = true;
            return;
        }
        if (text) {
            str_raw(w, k, strlen(k));
            if (w->dst[w->len - 1] != '"') {
                w->len = mark;
            }
            return;
        }
        p++;
        if (*p == '"') {
            p = str_quoted(w, p + 1);
            if (w->dst[w->len - 1] != '"') {
                w->len = mark;
            }
            continue;
        }
        const char *v = p;
        while (*p != '\0' && *p != ' ') {
            p++;
        }
        bare(w, v, (size_t)(p - v), mark);
    }
}

size_t bk_diag_json_line(char *dst,
                         size_t dstlen,
                         const char *ts,
                         const char *level,
                         const char *sub,
                         const char *text)
{
    if (dstlen < BK_DIAG_JSON_MIN) {
        return 0;
    }
    struct jw w = { .dst = dst, .cap = dstlen - RESERVE };
    puts_(&w, "{\"ts\":");
    str_raw(&w, ts, strlen(ts));
    puts_(&w, ",\"level\":");
    str_raw(&w, level, strlen(level));
    puts_(&w, ",\"subsystem\":");
    str_raw(&w, sub, strlen(sub));
    fields(&w, text);
    size_t len = w.len;
    if (w.truncated) {
        memcpy(dst + len, ",\"truncated\":true", 17);
        len += 17;
    }
    dst[len++] = '}';
    dst[len++] = '\n';
    dst[len] = '\0';
    return len;
}
