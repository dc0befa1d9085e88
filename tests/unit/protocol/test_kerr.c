/* cmocka.h needs these headers first. */
/* clang-format off */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
/* clang-format on */
#include <string.h>

#include "protocol/kerr.h"

static void test_names(void **state)
{
    (void)state;
    assert_string_equal(bk_kerr_name(BK_KERR_UNKNOWN_TOPIC_OR_PARTITION),
                        "UNKNOWN_TOPIC_OR_PARTITION");
    assert_int_equal(BK_KERR_UNKNOWN_TOPIC_OR_PARTITION, 3);
    assert_string_equal(bk_kerr_name(-1), "UNKNOWN_SERVER_ERROR");
    assert_string_equal(bk_kerr_name(0), "NONE");
    assert_string_equal(bk_kerr_name(35), "UNSUPPORTED_VERSION");
    assert_string_equal(bk_kerr_name(129), "REBOOTSTRAP_REQUIRED");
    assert_string_equal(bk_kerr_name(-2), "UNKNOWN");
    assert_string_equal(bk_kerr_name(1000), "UNKNOWN");
    assert_string_equal(bk_kerr_name(INT16_MIN), "UNKNOWN");
    assert_string_equal(bk_kerr_message(1000), "Unknown error code.");
    assert_true(strlen(bk_kerr_message(BK_KERR_NOT_COORDINATOR)) > 0);
}

static void test_every_code_known(void **state)
{
    (void)state;
    for (int c = -1; c <= 129; c++) {
        assert_string_not_equal(bk_kerr_name((int16_t)c), "UNKNOWN");
        assert_non_null(bk_kerr_message((int16_t)c));
    }
}

static void test_retriable(void **state)
{
    (void)state;
    /* The metadata-refresh set of protocol-notes.md. */
    const int16_t yes[] = { 3, 5, 6, 13, 14, 15, 16, 74, 75, 7, 19, 20, 51 };
    for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
        assert_true(bk_kerr_retriable(yes[i]));
    }
    const int16_t no[] = { -1, 0, 1, 10, 22, 25, 27, 35, 36, 47, 87, 90, 999 };
    for (size_t i = 0; i < sizeof(no) / sizeof(no[0]); i++) {
        assert_false(bk_kerr_retriable(no[i]));
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_names),
        cmocka_unit_test(test_every_code_known),
        cmocka_unit_test(test_retriable),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
