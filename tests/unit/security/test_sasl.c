/* JAAS option parsing, PLAIN (RFC 4616) and base64. */
/* cmocka.h needs these headers first. */
/* clang-format off */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
/* clang-format on */
#include <string.h>

#include "security/sasl.h"

static void test_jaas_kafka_example(void **state)
{
    (void)state;
    struct bk_jaas j;
    char err[256] = "";
    const char *text =
        "org.apache.kafka.common.security.plain.PlainLoginModule required\n"
        "  username=\"admin\" password=\"admin-secret\" /* comment */\n"
        "  user_admin=\"admin-secret\" // another\n"
        "  user_alice=\"a \\\"quoted\\\" pw;\" user_bob=bob-pw\n"
        "  user_carol=\"\";";
    assert_int_equal(bk_jaas_parse(text, &j, err, sizeof(err)), 0);
    assert_string_equal(j.module,
                        "org.apache.kafka.common.security.plain."
                        "PlainLoginModule");
    assert_string_equal(j.flag, "required");
    assert_int_equal(j.n, 6);
    assert_string_equal(bk_jaas_get(&j, "username"), "admin");
    assert_string_equal(bk_jaas_get(&j, "user_alice"), "a \"quoted\" pw;");
    assert_string_equal(bk_jaas_get(&j, "user_bob"), "bob-pw");
    assert_string_equal(bk_jaas_get(&j, "user_carol"), "");
    assert_null(bk_jaas_get(&j, "user_dave"));
    bk_jaas_free(&j);
}

static void test_jaas_invalid(void **state)
{
    (void)state;
    const char *bad[] = {
        "",
        "Module",
        "Module required",               /* no ';' */
        "Module always;",                /* not a flag */
        "Module required user_a=;",      /* no value */
        "Module required user_a \"x\";", /* no '=' */
        "Module required user_a=\"x;",   /* unterminated */
        "Module required a=b; Other required;",
        "Module required /* open",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct bk_jaas j;
        char err[256] = "";
        assert_int_equal(bk_jaas_parse(bad[i], &j, err, sizeof(err)),
                         BK_ECONFIG);
        assert_non_null(strstr(err, "sasl.jaas.config"));
        assert_null(j.module);
    }
    /* The message never shows a value (a password). */
    struct bk_jaas j;
    char err[256] = "";
    assert_int_equal(bk_jaas_parse("M required user_a=\"s3cret\" x \"y\";", &j,
                                   err, sizeof(err)),
                     BK_ECONFIG);
    assert_null(strstr(err, "s3cret"));
}

static int plain(const char *msg, size_t len, struct bk_plain_msg *m)
{
    return bk_plain_parse((const uint8_t *)msg, len, m);
}

static void test_plain_parse(void **state)
{
    (void)state;
    struct bk_plain_msg m;
    assert_int_equal(plain("\0alice\0pw", 9, &m), 0);
    assert_int_equal(m.authzid_len, 0);
    assert_int_equal(m.authcid_len, 5);
    assert_memory_equal(m.authcid, "alice", 5);
    assert_int_equal(m.passwd_len, 2);
    assert_int_equal(plain("alice\0alice\0pw", 14, &m), 0);
    /* authzid other than authcid, empty parts, wrong NUL counts. */
    assert_int_equal(plain("bob\0alice\0pw", 12, &m), BK_EPROTO);
    assert_int_equal(plain("\0\0pw", 4, &m), BK_EPROTO);
    assert_int_equal(plain("\0alice\0", 7, &m), BK_EPROTO);
    assert_int_equal(plain("\0alice", 6, &m), BK_EPROTO);
    assert_int_equal(plain("alice", 5, &m), BK_EPROTO);
    assert_int_equal(plain("\0alice\0pw\0", 10, &m), BK_EPROTO);
    assert_int_equal(plain("", 0, &m), BK_EPROTO);
}

static void test_plain_check(void **state)
{
    (void)state;
    struct bk_jaas j;
    char err[256];
    assert_int_equal(bk_jaas_parse("M required user_alice=\"alice-pw\" "
                                   "user_bob=\"\";",
                                   &j, err, sizeof(err)),
                     0);
    struct bk_plain_msg m;
    assert_int_equal(plain("\0alice\0alice-pw", 15, &m), 0);
    assert_true(bk_plain_check(&j, &m));
    assert_int_equal(plain("\0alice\0alice-pX", 15, &m), 0);
    assert_false(bk_plain_check(&j, &m));
    assert_int_equal(plain("\0alice\0alice-pw2", 16, &m), 0);
    assert_false(bk_plain_check(&j, &m));
    assert_int_equal(plain("\0carol\0alice-pw", 15, &m), 0);
    assert_false(bk_plain_check(&j, &m));
    /* Options that are not user_ entries are no users. */
    assert_int_equal(plain("\0\0x", 3, &m), BK_EPROTO);
    bk_jaas_free(&j);
}

static void test_b64(void **state)
{
    (void)state;
    char out[64];
    assert_int_equal(bk_b64_encode((const uint8_t *)"n,,", 3, out), 4);
    assert_string_equal(out, "biws");
    assert_int_equal(bk_b64_encode((const uint8_t *)"ab", 2, out), 4);
    assert_string_equal(out, "YWI=");
    uint8_t raw[16];
    assert_int_equal(bk_b64_decode("YWI=", 4, raw, sizeof(raw)), 2);
    assert_memory_equal(raw, "ab", 2);
    assert_int_equal(bk_b64_decode("", 0, raw, sizeof(raw)), 0);
    assert_int_equal(bk_b64_decode("YWI", 3, raw, sizeof(raw)), BK_EPROTO);
    assert_int_equal(bk_b64_decode("YWJ=", 4, raw, sizeof(raw)), BK_EPROTO);
    assert_int_equal(bk_b64_decode("Y=I=", 4, raw, sizeof(raw)), BK_EPROTO);
    assert_int_equal(bk_b64_decode("YW*=", 4, raw, sizeof(raw)), BK_EPROTO);
    assert_int_equal(bk_b64_decode("YWJj", 4, raw, 2), BK_ERANGE);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_jaas_kafka_example),
        cmocka_unit_test(test_jaas_invalid),
        cmocka_unit_test(test_plain_parse),
        cmocka_unit_test(test_plain_check),
        cmocka_unit_test(test_b64),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
