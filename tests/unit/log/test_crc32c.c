/* cmocka.h needs these first. */
/* clang-format off */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
/* clang-format on */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/crc32c.h"

static void test_known_vectors(void **state)
{
    (void)state;
    assert_int_equal(bk_crc32c(0, "123456789", 9), 0xE3069283u);
    assert_int_equal(bk_crc32c_sw(0, "123456789", 9), 0xE3069283u);
    assert_int_equal(bk_crc32c(0, "", 0), 0);
    uint8_t zeros[32] = { 0 };
    assert_int_equal(bk_crc32c(0, zeros, 32), 0x8A9136AAu); /* RFC 3720 */
    uint8_t ones[32];
    memset(ones, 0xff, sizeof ones);
    assert_int_equal(bk_crc32c(0, ones, 32), 0x62A8AB43u);
    uint8_t inc[32];
    for (int i = 0; i < 32; i++) {
        inc[i] = (uint8_t)i;
    }
    assert_int_equal(bk_crc32c(0, inc, 32), 0x46DD794Eu);
}

static void test_incremental(void **state)
{
    (void)state;
    uint32_t c = bk_crc32c(0, "1234", 4);
    c = bk_crc32c(c, "56789", 5);
    assert_int_equal(c, 0xE3069283u);
}

/* Hardware and software agree on random buffers, lengths and alignments. */
static void test_hw_matches_sw(void **state)
{
    (void)state;
    unsigned seed = 12345;
    printf("crc32c: hardware=%d seed=%u\n", bk_crc32c_hw_available(), seed);
    srand(seed);
    static uint8_t buf[40000 + 16];
    for (size_t i = 0; i < sizeof buf; i++) {
        buf[i] = (uint8_t)rand();
    }
    for (int i = 0; i < 2000; i++) {
        size_t off = (size_t)rand() % 16;
        size_t len = (size_t)rand() % (i % 2 ? 4096 : 40000);
        uint32_t init = (uint32_t)rand();
        assert_int_equal(bk_crc32c(init, buf + off, len),
                         bk_crc32c_sw(init, buf + off, len));
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_known_vectors),
        cmocka_unit_test(test_incremental),
        cmocka_unit_test(test_hw_matches_sw),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
