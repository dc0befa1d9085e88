#include "admin/cli_json.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/assert.h"
#include "common/heap.h"

/* U+FFFD REPLACEMENT CHARACTER in UTF-8. */
static const char REPLACEMENT[3] = { '\xEF', '\xBF', '\xBD' };

static void *alloc_or_exit(size_t size)
{
    void *p = bk_malloc(size);
    if (p == NULL) {
        fputs("brokerctl: out of memory\n", stderr);
        exit(1);
    }
    return p;
}

void bk_cli_json_init(void)
{
    json_set_alloc_funcs(alloc_or_exit, bk_free);
}

/* How many of the n (> 0) bytes at p belong to the UTF-8 sequence that
 * starts there; *whole says whether it is well-formed, else the count is
 * its maximal ill-formed subpart (at least 1). The ranges are Unicode's
 * table 3-7: no overlong forms, no surrogates, nothing above U+10FFFF. */
static size_t utf8_seq(const unsigned char *p, size_t n, bool *whole)
{
    unsigned char c = p[0];
    unsigned char lo = 0x80, hi = 0xBF;
    size_t need;
    if (c < 0x80) {
        *whole = true;
        return 1;
    }
    if (c >= 0xC2 && c <= 0xDF) {
        need = 2;
    } else if (c >= 0xE0 && c <= 0xEF) {
        need = 3;
        lo = c == 0xE0 ? 0xA0 : 0x80;
        hi = c == 0xED ? 0x9F : 0xBF;
    } else if (c >= 0xF0 && c <= 0xF4) {
        need = 4;
        lo = c == 0xF0 ? 0x90 : 0x80;
        hi = c == 0xF4 ? 0x8F : 0xBF;
    } else {
        *whole = false;
        return 1;
    }
    size_t k = 1;
    while (k < need && k < n && p[k] >= lo && p[k] <= hi) {
        k++;
        lo = 0x80; /* only the second byte has a narrower range */
        hi = 0xBF;
    }
    *whole = k == need;
    return k;
}

/* The offset of the first ill-formed sequence in p[0..n), or n. */
static size_t utf8_valid_prefix(const unsigned char *p, size_t n)
{
    size_t i = 0;
    while (i < n) {
        bool whole;
        size_t k = utf8_seq(p + i, n - i, &whole);
        if (!whole) {
            break;
        }
        i += k;
    }
    return i;
}

json_t *bk_cli_json_str(const char *s, int len)
{
    if (len < 0 || s == NULL) {
        return json_null();
    }
    const unsigned char *p = (const unsigned char *)s;
    size_t n = (size_t)len;
    size_t i = utf8_valid_prefix(p, n);
    if (i == n) {
        return json_stringn_nocheck(s, n);
    }
    /* Each replaced byte grows to at most 3: U+FFFD is 3 bytes. */
    char *out = alloc_or_exit(3 * n);
    memcpy(out, s, i);
    size_t o = i;
    while (i < n) {
        bool whole;
        size_t k = utf8_seq(p + i, n - i, &whole);
        if (whole) {
            memcpy(out + o, s + i, k);
            o += k;
        } else {
            memcpy(out + o, REPLACEMENT, sizeof(REPLACEMENT));
            o += sizeof(REPLACEMENT);
        }
        i += k;
    }
    json_t *j = json_stringn_nocheck(out, o);
    bk_free(out);
    return j;
}

json_t *bk_cli_json_cstr(const char *s)
{
    return bk_cli_json_str(s, s != NULL ? (int)strlen(s) : -1);
}

void bk_cli_json_set(json_t *obj, const char *key, int len, json_t *v)
{
    bk_assert(v != NULL);
    json_t *k = bk_cli_json_str(key, len < 0 ? 0 : len);
    int rv = json_object_setn_new_nocheck(obj, json_string_value(k),
                                          json_string_length(k), v);
    json_decref(k);
    bk_assert(rv == 0); /* obj is an object, v a value: only OOM fails */
}

void bk_cli_json_push(json_t *arr, json_t *v)
{
    bk_assert(v != NULL);
    int rv = json_array_append_new(arr, v);
    bk_assert(rv == 0);
}

int bk_cli_json_print(FILE *out, json_t *doc)
{
    bk_assert(doc != NULL);
    /* Reals (only quota values) get 15 significant digits, what a double
     * carries exactly in decimal: 0.1 prints as 0.1, not
     * 0.10000000000000001. */
    int rv = json_dumpf(
        doc, out, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(15));
    json_decref(doc);
    if (rv != 0 || fputc('\n', out) == EOF) {
        fputs("brokerctl: cannot write the JSON output\n", stderr);
        return 1;
    }
    return 0;
}
