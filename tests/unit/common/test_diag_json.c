/* The JSON form of log lines (log.format=json): fields become members,
 * escapes are undone and redone for JSON, and a line cut short still
 * parses. */
/* cmocka.h needs these headers first. */
/* clang-format off */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
/* clang-format on */
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "common/diag.h"

#define TS "2026-12-07T10:00:00.000Z"

static const char *line_of(char *buf, size_t cap, const char *text)
{
    size_t n = bk_diag_json_line(buf, cap, TS, "INFO", "net", text);
    assert_true(n > 0);
    assert_int_equal(strlen(buf), n);
    assert_int_equal(buf[n - 1], '\n');
    return buf;
}

static void test_fields_become_members(void **state)
{
    (void)state;
    char buf[1024];
    assert_string_equal(
        line_of(buf, sizeof(buf),
                "conn=7 client=\"rdkafka\" lag=-12 peer=127.0.0.1:5 "
                "msg=\"accepted\""),
        "{\"ts\":\"" TS
        "\",\"level\":\"INFO\",\"subsystem\":\"net\","
        "\"conn\":7,\"client\":\"rdkafka\",\"lag\":-12,"
        "\"peer\":\"127.0.0.1:5\",\"msg\":\"accepted\"}\n");
}

static void test_numbers_only_when_integers(void **state)
{
    (void)state;
    char buf[1024];
    /* A leading zero, a fraction, a sign alone and a 19-digit value are
     * not JSON integers that fit everywhere: they stay strings. */
    assert_string_equal(
        line_of(buf, sizeof(buf),
                "a=007 b=1.5 c=- d=1234567890123456789 e=0 f= g=true"),
        "{\"ts\":\"" TS
        "\",\"level\":\"INFO\",\"subsystem\":\"net\","
        "\"a\":\"007\",\"b\":\"1.5\",\"c\":\"-\","
        "\"d\":\"1234567890123456789\",\"e\":0,\"f\":\"\",\"g\":\"true\"}\n");
}

static void test_escapes(void **state)
{
    (void)state;
    char buf[1024];
    /* What bk_diag_escape() wrote for a client id holding a quote, a
     * backslash, a newline, a tab and the UTF-8 bytes of e-acute. */
    char esc[128];
    const char raw[] = "a\"b\\c\nd\t\xc3\xa9";
    char text[256];
    snprintf(text, sizeof(text), "client=\"%s\"",
             bk_diag_escape(esc, sizeof(esc), raw, sizeof(raw) - 1));
    assert_string_equal(
        line_of(buf, sizeof(buf), text),
        "{\"ts\":\"" TS
        "\",\"level\":\"INFO\",\"subsystem\":\"net\","
        "\"client\":\"a\\\"b\\\\c\\u000ad\\u0009\\\\xc3\\\\xa9\"}\n");
    /* Raw bytes a call site wrote without escaping are escaped all the
     * same, quoted or bare. */
    assert_string_equal(line_of(buf, sizeof(buf), "t=x\x01\xff y=\"\x7f\""),
                        "{\"ts\":\"" TS
                        "\",\"level\":\"INFO\",\"subsystem\":\"net\","
                        "\"t\":\"x\\u0001\\\\xff\",\"y\":\"\\u007f\"}\n");
}

static void test_free_text_and_own_names(void **state)
{
    (void)state;
    char buf[1024];
    assert_string_equal(
        line_of(buf, sizeof(buf), "level=3 ts=x node=1 started at last!"),
        "{\"ts\":\"" TS
        "\",\"level\":\"INFO\",\"subsystem\":\"net\","
        "\"field.level\":3,\"field.ts\":\"x\",\"node\":1,"
        "\"text\":\"started at last!\"}\n");
    /* A quoted value without its closing quote runs to the end. */
    assert_string_equal(line_of(buf, sizeof(buf), "msg=\"cut short"),
                        "{\"ts\":\"" TS
                        "\",\"level\":\"INFO\",\"subsystem\":\"net\","
                        "\"msg\":\"cut short\"}\n");
    assert_string_equal(line_of(buf, sizeof(buf), ""),
                        "{\"ts\":\"" TS
                        "\",\"level\":\"INFO\",\"subsystem\":\"net\"}\n");
}

/* Counts the unescaped quotes and checks the line ends the object. */
static void assert_balanced(const char *s)
{
    size_t quotes = 0;
    for (size_t i = 0; s[i] != '\0'; i++) {
        if (s[i] == '\\') {
            i++;
        } else if (s[i] == '"') {
            quotes++;
        }
    }
    assert_int_equal(quotes % 2, 0);
    assert_non_null(strstr(s, ",\"truncated\":true}\n"));
}

static void test_cut_lines_still_parse(void **state)
{
    (void)state;
    char text[2048];
    memset(text, 0, sizeof(text));
    strcpy(text, "msg=\"");
    memset(text + 5, 'x', 1000);
    strcat(text, "\" after=1");
    for (size_t cap = BK_DIAG_JSON_MIN; cap < 400; cap++) {
        char buf[400];
        size_t n = bk_diag_json_line(buf, cap, TS, "INFO", "net", text);
        assert_true(n > 0 && n < cap);
        assert_balanced(buf);
        assert_non_null(strstr(buf, "xx...\""));
        assert_null(strstr(buf, "after"));
    }
    /* Many small fields: whole members are dropped, never half. */
    char many[1024] = "";
    for (int i = 0; i < 60; i++) {
        char f[32];
        snprintf(f, sizeof(f), "field%d=%d ", i, 1000000 + i);
        strcat(many, f);
    }
    for (size_t cap = BK_DIAG_JSON_MIN; cap < 400; cap++) {
        char buf[400];
        size_t n = bk_diag_json_line(buf, cap, TS, "INFO", "net", many);
        assert_true(n > 0 && n < cap);
        assert_balanced(buf);
        assert_null(strstr(buf, ":,"));
        assert_null(strstr(buf, ":\"truncated"));
    }
    char small[BK_DIAG_JSON_MIN - 1];
    assert_int_equal(
        bk_diag_json_line(small, sizeof(small), TS, "INFO", "net", "a=1"), 0);
}

/* The whole path: bk_diag_write() in JSON format, and the notice of
 * dropped lines in JSON too. */
static void test_write_in_json(void **state)
{
    (void)state;
    int p[2];
    assert_int_equal(pipe(p), 0);
    fcntl(p[0], F_SETFL, O_NONBLOCK);
    bk_diag_set_fd(p[1]);
    enum bk_diag_format f;
    assert_int_equal(bk_diag_parse_format("json", &f), 0);
    assert_int_not_equal(bk_diag_parse_format("xml", &f), 0);
    bk_diag_set_format(f);
    bk_diag_warn("api", "conn=%d msg=\"%s\"", 3, "slow");
    char buf[4096];
    ssize_t n = read(p[0], buf, sizeof(buf) - 1);
    assert_true(n > 0);
    buf[n] = '\0';
    assert_non_null(strstr(buf,
                           "\"level\":\"WARN\",\"subsystem\":\"api\","
                           "\"conn\":3,\"msg\":\"slow\"}\n"));
    assert_true(buf[0] == '{');
    bk_diag_set_format(BK_DIAG_FORMAT_TEXT);
    bk_diag_set_fd(2);
    close(p[0]);
    close(p[1]);
}

/* The request log's lines are debug lines, yet limited all the same. */
static void test_limited_at_debug(void **state)
{
    (void)state;
    int p[2];
    assert_int_equal(pipe(p), 0);
    fcntl(p[0], F_SETFL, O_NONBLOCK);
    bk_diag_set_fd(p[1]);
    bk_diag_set_level(BK_DIAG_DEBUG);
    for (int i = 0; i < 200; i++) {
        bk_diag_limited(BK_DIAG_DEBUG, "request", 5, "n=%d", i);
    }
    char buf[8192];
    ssize_t n = read(p[0], buf, sizeof(buf) - 1);
    assert_true(n > 0);
    size_t lines = 0;
    for (ssize_t i = 0; i < n; i++) {
        lines += buf[i] == '\n';
    }
    /* 5 a second (twice, should the second turn over midway, plus the
     * line that says how many were dropped). */
    assert_true(lines >= 5 && lines <= 11);
    bk_diag_set_level(BK_DIAG_INFO);
    bk_diag_set_fd(2);
    close(p[0]);
    close(p[1]);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fields_become_members),
        cmocka_unit_test(test_numbers_only_when_integers),
        cmocka_unit_test(test_escapes),
        cmocka_unit_test(test_free_text_and_own_names),
        cmocka_unit_test(test_cut_lines_still_parse),
        cmocka_unit_test(test_write_in_json),
        cmocka_unit_test(test_limited_at_debug),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
