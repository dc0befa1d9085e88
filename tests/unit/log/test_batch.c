/* cmocka.h needs these first. */
/* clang-format off */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
/* clang-format on */

#include <string.h>

#include "batch_gen.h"
#include "common/crc32c.h"
#include "common/err.h"
#include "log/batch.h"

static uint8_t buf[65536];

static void test_valid(void **state)
{
    (void)state;
    size_t n = test_batch_build(buf, sizeof buf, 5, 1000, 10, 20, 1);
    struct bk_batch_hdr h;
    assert_int_equal(bk_batch_validate(buf, n, BK_BATCH_CHECK_PRODUCE, &h), 0);
    assert_int_equal(h.records_count, 5);
    assert_int_equal(h.last_offset_delta, 4);
    assert_int_equal(h.max_timestamp, 1040);
    assert_int_equal(bk_batch_hdr_size(&h), (int64_t)n);
}

static void test_invalid(void **state)
{
    (void)state;
    size_t n = test_batch_build(buf, sizeof buf, 3, 1000, 1, 10, 2);
    /* Too short for a header. */
    assert_int_equal(bk_batch_validate(buf, 60, 0, NULL), BK_EPROTO);
    /* Fewer bytes than batchLength claims, and more. */
    assert_int_equal(bk_batch_validate(buf, n - 1, 0, NULL), BK_EPROTO);
    assert_int_equal(bk_batch_validate(buf, n + 1, 0, NULL), BK_EPROTO);
    /* Bad magic. */
    buf[16] = 1;
    assert_int_equal(bk_batch_validate(buf, n, 0, NULL), BK_EUNSUPPORTED);
    buf[16] = 2;
    /* A flipped covered byte fails the CRC; uncovered fields do not. */
    buf[n - 1] ^= 1;
    assert_int_equal(bk_batch_validate(buf, n, 0, NULL), BK_ECORRUPT);
    buf[n - 1] ^= 1;
    bk_batch_set_base_offset(buf, 77);
    bk_batch_set_leader_epoch(buf, 9);
    assert_int_equal(bk_batch_validate(buf, n, 0, NULL), 0);
    /* Count and lastOffsetDelta must agree for a producer. */
    bk_put_be32(buf + BK_BATCH_OFF_RECORDS_COUNT, 2);
    bk_put_be32(buf + BK_BATCH_OFF_CRC,
                bk_crc32c(0, buf + BK_BATCH_CRC_START, n - 21));
    assert_int_equal(bk_batch_validate(buf, n, BK_BATCH_CHECK_PRODUCE, NULL),
                     BK_EPROTO);
    assert_int_equal(bk_batch_validate(buf, n, BK_BATCH_CHECK_STORED, NULL), 0);
    bk_put_be32(buf + BK_BATCH_OFF_LAST_DELTA, (uint32_t)-1);
    bk_put_be32(buf + BK_BATCH_OFF_CRC,
                bk_crc32c(0, buf + BK_BATCH_CRC_START, n - 21));
    assert_int_equal(bk_batch_validate(buf, n, BK_BATCH_CHECK_STORED, NULL),
                     BK_EPROTO);
    /* A negative batch length. */
    bk_put_be32(buf + BK_BATCH_OFF_LENGTH, (uint32_t)-5);
    assert_int_equal(bk_batch_validate(buf, n, 0, NULL), BK_EPROTO);
}

static void test_log_append_time(void **state)
{
    (void)state;
    size_t n = test_batch_build(buf, sizeof buf, 2, 1000, 1, 10, 3);
    bk_batch_set_log_append_time(buf, n, 99999);
    struct bk_batch_hdr h;
    assert_int_equal(bk_batch_validate(buf, n, 0, &h), 0);
    assert_int_equal(h.max_timestamp, 99999);
    assert_true(h.attributes & BK_BATCH_ATTR_LOG_APPEND_TIME);
}

static void test_find_timestamp(void **state)
{
    (void)state;
    size_t n = test_batch_build(buf, sizeof buf, 10, 1000, 5, 3, 4);
    bk_batch_set_base_offset(buf, 100);
    int64_t off, ts;
    assert_int_equal(bk_batch_find_timestamp(buf, n, 1012, &off, &ts), 0);
    assert_int_equal(off, 103);
    assert_int_equal(ts, 1015);
    assert_int_equal(bk_batch_find_timestamp(buf, n, 0, &off, &ts), 0);
    assert_int_equal(off, 100);
    assert_int_equal(bk_batch_find_timestamp(buf, n, 2000, &off, &ts),
                     BK_ENOTFOUND);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_valid),
        cmocka_unit_test(test_invalid),
        cmocka_unit_test(test_log_append_time),
        cmocka_unit_test(test_find_timestamp),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
