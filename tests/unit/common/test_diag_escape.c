/* cmocka.h needs these headers first. */
/* clang-format off */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
/* clang-format on */
#include <string.h>

#include "common/diag.h"

/* Escapes the n bytes at s into a buffer of cap bytes and returns it. */
static const char *esc(char *buf, size_t cap, const char *s, size_t n)
{
    const char *r = bk_diag_escape(buf, cap, s, n);
    assert_ptr_equal(r, buf);
    return r;
}

static void test_escape_plain(void **state)
{
    (void)state;
    char buf[64];
    assert_string_equal(esc(buf, sizeof(buf), "rdkafka-1.0 x_y", 15),
                        "rdkafka-1.0 x_y");
    assert_string_equal(esc(buf, sizeof(buf), "", 0), "");
    assert_string_equal(esc(buf, sizeof(buf), NULL, 5), "");
    /* Only the bytes given, even when more follow. */
    assert_string_equal(esc(buf, sizeof(buf), "abcdef", 3), "abc");
}

static void test_escape_bytes(void **state)
{
    (void)state;
    char buf[64];
    /* NUL is a byte like any other, not the end. */
    assert_string_equal(esc(buf, sizeof(buf), "x\0y", 3), "x\\x00y");
    assert_string_equal(esc(buf, sizeof(buf), "a\nb\r\t", 5),
                        "a\\x0ab\\x0d\\x09");
    /* Quotes and backslashes cannot end a quoted field. */
    assert_string_equal(esc(buf, sizeof(buf), "say \"hi\" \\o/", 12),
                        "say \\\"hi\\\" \\\\o/");
    /* DEL and everything from 0x80: the line stays ASCII, so valid UTF-8,
     * whether or not the client sent valid UTF-8. */
    assert_string_equal(esc(buf, sizeof(buf), "\x7f\x80\xff", 3),
                        "\\x7f\\x80\\xff");
    assert_string_equal(esc(buf, sizeof(buf), "caf\xc3\xa9", 5),
                        "caf\\xc3\\xa9");
}

static void test_escape_every_byte(void **state)
{
    (void)state;
    char in[256];
    for (int i = 0; i < 256; i++) {
        in[i] = (char)i;
    }
    char out[BK_DIAG_ESCAPED_SIZE(256)];
    bk_diag_escape(out, sizeof(out), in, sizeof(in));
    size_t len = strlen(out);
    assert_int_equal(len, 32 * 4 + 95 + 2 + 129 * 4);
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)out[i];
        assert_true(c >= 0x20 && c < 0x7f);
    }
    assert_null(strstr(out, "..."));
}

static void test_escape_truncates_whole(void **state)
{
    (void)state;
    char buf[8];
    /* Fits exactly: no dots. */
    assert_string_equal(esc(buf, sizeof(buf), "abcdefg", 7), "abcdefg");
    /* One byte too many: cut, then "...". */
    assert_string_equal(esc(buf, sizeof(buf), "abcdefgh", 8), "abcd...");
    /* An escape is never cut in half. */
    assert_string_equal(esc(buf, sizeof(buf), "ab\x01zzzz", 7), "ab...");
    assert_string_equal(esc(buf, sizeof(buf), "a\x01", 2), "a\\x01");
    /* Tiny buffers stay terminated. */
    char one[1];
    assert_string_equal(esc(one, sizeof(one), "abc", 3), "");
    char three[3];
    assert_string_equal(esc(three, sizeof(three), "abc", 3), "..");
    char four[4];
    assert_string_equal(esc(four, sizeof(four), "abc", 3), "abc");
    assert_string_equal(esc(four, sizeof(four), "abcd", 4), "...");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_escape_plain),
        cmocka_unit_test(test_escape_bytes),
        cmocka_unit_test(test_escape_every_byte),
        cmocka_unit_test(test_escape_truncates_whole),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
