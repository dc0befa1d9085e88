/* Transaction markers (protocol/control.h): the key and value bytes of
 * Kafka's format, a control batch built and read back, and malformed
 * markers refused. */
/* cmocka.h needs these headers first. */
/* clang-format off */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
/* clang-format on */
#include <string.h>

#include "common/err.h"
#include "common/heap.h"
#include "protocol/control.h"
#include "protocol/record_batch.h"

/* The layouts in Kafka's docs/implementation.html ("Control Batches":
 * key version int16 0, type int16, 0 abort and 1 commit) and
 * EndTransactionMarker.java (value version int16 0, coordinator epoch
 * int32). */
static const uint8_t commit_key[] = { 0x00, 0x00, 0x00, 0x01 };
static const uint8_t abort_key[] = { 0x00, 0x00, 0x00, 0x00 };
static const uint8_t value_epoch_5[] = { 0x00, 0x00, 0x00, 0x00, 0x00, 0x05 };

static struct bk_bytes B(const uint8_t *p, size_t n) {
    return (struct bk_bytes){ p, (int32_t)n };
}

static void
test_marker_bytes(void **state)
{
    (void)state;
    uint8_t k[BK_CTRL_KEY_SIZE], v[BK_CTRL_VALUE_SIZE];
    bk_ctrl_marker_key(k, true);
    assert_memory_equal(k, commit_key, sizeof(k));
    bk_ctrl_marker_key(k, false);
    assert_memory_equal(k, abort_key, sizeof(k));
    bk_ctrl_marker_value(v, 5);
    assert_memory_equal(v, value_epoch_5, sizeof(v));
    int16_t type = -1;
    assert_int_equal(bk_ctrl_key_decode(B(commit_key, 4), &type), 0);
    assert_int_equal(type, BK_CTRL_COMMIT);
    int32_t epoch = -1;
    assert_int_equal(bk_ctrl_marker_value_decode(B(value_epoch_5, 6), &epoch),
                     0);
    assert_int_equal(epoch, 5);
    /* Too short, another key version, a later value version with more. */
    assert_int_equal(bk_ctrl_key_decode(B(commit_key, 3), &type), BK_EPROTO);
    const uint8_t key_v1[] = { 0x00, 0x01, 0x00, 0x01 };
    assert_int_equal(bk_ctrl_key_decode(B(key_v1, 4), &type), BK_EUNSUPPORTED);
    assert_int_equal(bk_ctrl_marker_value_decode(B(value_epoch_5, 5), &epoch),
                     BK_EPROTO);
    const uint8_t value_v1[] = { 0x00, 0x01, 0x00, 0x00, 0x00, 0x07, 0xff };
    assert_int_equal(bk_ctrl_marker_value_decode(B(value_v1, 7), &epoch), 0);
    assert_int_equal(epoch, 7);
}

static void test_marker_batch_round_trip(void **state)
{
    (void)state;
    for (int c = 0; c <= 1; c++) {
        uint8_t *batch = NULL;
        size_t len = 0;
        assert_int_equal(bk_ctrl_marker_batch(4242, 3, c == 1, 9, 1700000000000,
                                              NULL, &batch, &len),
                         0);
        struct bk_record_iter it;
        assert_int_equal(bk_record_iter_init(&it, batch, len, NULL, len), 0);
        assert_int_equal(it.attributes & 0x30, 0x30);
        assert_int_equal(it.producer_id, 4242);
        assert_int_equal(it.producer_epoch, 3);
        assert_int_equal(it.base_sequence, -1);
        assert_int_equal(it.records_count, 1);
        struct bk_record rec;
        assert_int_equal(bk_record_iter_next(&it, &rec), 1);
        assert_memory_equal(rec.key.ptr, c == 1 ? commit_key : abort_key, 4);
        bool commit = c != 1;
        int32_t epoch = -1;
        assert_int_equal(bk_ctrl_marker_read(batch, len, &commit, &epoch), 0);
        assert_int_equal(commit, c == 1);
        assert_int_equal(epoch, 9);
        bk_free(batch);
    }
}

static void test_marker_read_refuses_data_batches(void **state)
{
    (void)state;
    struct bk_batch_builder b;
    bk_batch_builder_init(&b, BK_CODEC_NONE);
    assert_int_equal(bk_batch_builder_add(&b, 1, B(commit_key, 4),
                                          B(value_epoch_5, 6), NULL, 0),
                     0);
    uint8_t *batch;
    size_t len;
    assert_int_equal(bk_batch_builder_finish(&b, NULL, &batch, &len), 0);
    bool commit;
    int32_t epoch;
    assert_int_equal(bk_ctrl_marker_read(batch, len, &commit, &epoch),
                     BK_EINVAL);
    bk_free(batch);
    bk_batch_builder_free(&b);
    /* A control batch of another type (KRaft's LeaderChange, 2). */
    bk_batch_builder_init(&b, BK_CODEC_NONE);
    b.attributes = BK_RB_ATTR_CONTROL;
    const uint8_t leader_change[] = { 0x00, 0x00, 0x00, 0x02 };
    assert_int_equal(bk_batch_builder_add(&b, 1, B(leader_change, 4),
                                          B(value_epoch_5, 6), NULL, 0),
                     0);
    assert_int_equal(bk_batch_builder_finish(&b, NULL, &batch, &len), 0);
    assert_int_equal(bk_ctrl_marker_read(batch, len, &commit, &epoch),
                     BK_ENOTFOUND);
    bk_free(batch);
    bk_batch_builder_free(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_marker_bytes),
        cmocka_unit_test(test_marker_batch_round_trip),
        cmocka_unit_test(test_marker_read_refuses_data_batches),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
