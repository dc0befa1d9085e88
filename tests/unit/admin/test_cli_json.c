/* brokerctl's --json strings (src/admin/cli_json.c): any bytes a broker
 * sends come out as a JSON string that parses back to the same text, with
 * ill-formed UTF-8 replaced by U+FFFD one per maximal subpart (Unicode
 * §3.9, what Python's decode("utf-8", "replace") gives). */
/* cmocka.h needs these headers first. */
/* clang-format off */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
/* clang-format on */
#include <stdlib.h>
#include <string.h>

#include "admin/cli_json.h"

#define FFFD "\xEF\xBF\xBD"

/* Checks that the len bytes at in become the JSON string want (wlen
 * bytes), and that the printed document parses back to it. */
static void check(const char *in, int len, const char *want, size_t wlen)
{
    json_t *s = bk_cli_json_str(in, len);
    assert_non_null(s);
    assert_true(json_is_string(s));
    assert_int_equal(json_string_length(s), wlen);
    assert_memory_equal(json_string_value(s), want, wlen);

    json_t *doc = json_array();
    bk_cli_json_push(doc, s);
    char *buf = NULL;
    size_t size = 0;
    FILE *out = open_memstream(&buf, &size);
    assert_non_null(out);
    assert_int_equal(bk_cli_json_print(out, doc), 0);
    assert_int_equal(fclose(out), 0);
    assert_true(size > 0 && buf[size - 1] == '\n');
    json_error_t err;
    json_t *back = json_loadb(buf, size, JSON_ALLOW_NUL, &err);
    assert_non_null(back);
    json_t *v = json_array_get(back, 0);
    assert_int_equal(json_string_length(v), wlen);
    assert_memory_equal(json_string_value(v), want, wlen);
    json_decref(back);
    free(buf);
}

#define CHECK(in, want) check(in, (int)sizeof(in) - 1, want, sizeof(want) - 1)

static void test_escapes(void **state)
{
    (void)state;
    CHECK("plain", "plain");
    CHECK("", "");
    CHECK("q\"b\\s/", "q\"b\\s/");
    CHECK("\x01\t\n\r\x1f\x7f", "\x01\t\n\r\x1f\x7f");
    CHECK("nul\0inside", "nul\0inside");
}

static void test_utf8_kept(void **state)
{
    (void)state;
    CHECK("caf\xC3\xA9", "caf\xC3\xA9");           /* U+00E9 */
    CHECK("\xE2\x82\xAC", "\xE2\x82\xAC");         /* U+20AC */
    CHECK("\xED\x9F\xBF", "\xED\x9F\xBF");         /* U+D7FF */
    CHECK("\xEE\x80\x80", "\xEE\x80\x80");         /* U+E000 */
    CHECK("\xF0\x9F\x98\x80", "\xF0\x9F\x98\x80"); /* U+1F600 */
    CHECK("\xF4\x8F\xBF\xBF", "\xF4\x8F\xBF\xBF"); /* U+10FFFF */
}

static void test_utf8_replaced(void **state)
{
    (void)state;
    CHECK(
        "a\xFF"
        "b",
        "a" FFFD "b");
    CHECK("\x80", FFFD);                            /* lone continuation */
    CHECK("\xC0\xAF", FFFD FFFD);                   /* overlong '/' */
    CHECK("\xC1\xBF", FFFD FFFD);                   /* overlong */
    CHECK("\xE0\x80\xAF", FFFD FFFD FFFD);          /* overlong 3-byte */
    CHECK("\xED\xA0\x80", FFFD FFFD FFFD);          /* surrogate U+D800 */
    CHECK("\xF4\x90\x80\x80", FFFD FFFD FFFD FFFD); /* above U+10FFFF */
    CHECK("\xF5\x80", FFFD FFFD);
    CHECK("\xE2\x82", FFFD);      /* truncated at the end */
    CHECK("\xE2\x82x", FFFD "x"); /* truncated mid-string */
    CHECK("\xF0\x9F\x98", FFFD);
    CHECK("\xF0\x9F\x98\xC3\xA9", FFFD "\xC3\xA9");
    CHECK("\xC3", FFFD);
}

static void test_null(void **state)
{
    (void)state;
    json_t *s = bk_cli_json_str("x", -1);
    assert_true(json_is_null(s));
    json_decref(s);
    s = bk_cli_json_cstr(NULL);
    assert_true(json_is_null(s));
    json_decref(s);
}

static void test_object_keys(void **state)
{
    (void)state;
    json_t *o = json_object();
    bk_cli_json_set(o, "k\"\xFF", 3, json_integer(1));
    bk_cli_json_set(o, "b", 1, json_integer(2));
    bk_cli_json_set(o, "a", 1, json_integer(3));
    char *buf = NULL;
    size_t size = 0;
    FILE *out = open_memstream(&buf, &size);
    assert_non_null(out);
    assert_int_equal(bk_cli_json_print(out, o), 0);
    assert_int_equal(fclose(out), 0);
    /* Compact, in insertion order, one line. */
    assert_string_equal(buf, "{\"k\\\"" FFFD "\":1,\"b\":2,\"a\":3}\n");
    free(buf);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_escapes),       cmocka_unit_test(test_utf8_kept),
        cmocka_unit_test(test_utf8_replaced), cmocka_unit_test(test_null),
        cmocka_unit_test(test_object_keys),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
