/* Transaction markers; see control.h for the format. */
#include "protocol/control.h"

#include "common/err.h"
#include "protocol/record_batch.h"

void bk_ctrl_marker_key(uint8_t out[BK_CTRL_KEY_SIZE], bool commit)
{
    struct bk_wr wr;
    bk_wr_init(&wr, out, BK_CTRL_KEY_SIZE);
    bk_wr_i16(&wr, 0);
    bk_wr_i16(&wr, commit ? BK_CTRL_COMMIT : BK_CTRL_ABORT);
}

void bk_ctrl_marker_value(uint8_t out[BK_CTRL_VALUE_SIZE],
                          int32_t coordinator_epoch)
{
    struct bk_wr wr;
    bk_wr_init(&wr, out, BK_CTRL_VALUE_SIZE);
    bk_wr_i16(&wr, 0);
    bk_wr_i32(&wr, coordinator_epoch);
}

int bk_ctrl_key_decode(struct bk_bytes key, int16_t *type)
{
    if (key.len < BK_CTRL_KEY_SIZE) {
        return BK_EPROTO;
    }
    struct bk_rd rd;
    bk_rd_init(&rd, key.ptr, (size_t)key.len);
    if (bk_rd_i16(&rd) != 0) {
        return BK_EUNSUPPORTED;
    }
    *type = bk_rd_i16(&rd);
    return 0;
}

int bk_ctrl_marker_value_decode(struct bk_bytes value,
                                int32_t *coordinator_epoch)
{
    if (value.len < BK_CTRL_VALUE_SIZE) {
        return BK_EPROTO;
    }
    struct bk_rd rd;
    bk_rd_init(&rd, value.ptr, (size_t)value.len);
    if (bk_rd_i16(&rd) < 0) {
        return BK_EUNSUPPORTED;
    }
    *coordinator_epoch = bk_rd_i32(&rd);
    return 0;
}

int bk_ctrl_marker_batch(int64_t producer_id,
                         int16_t producer_epoch,
                         bool commit,
                         int32_t coordinator_epoch,
                         int64_t timestamp,
                         struct bk_arena *arena,
                         uint8_t **out,
                         size_t *out_len)
{
    uint8_t key[BK_CTRL_KEY_SIZE];
    uint8_t value[BK_CTRL_VALUE_SIZE];
    bk_ctrl_marker_key(key, commit);
    bk_ctrl_marker_value(value, coordinator_epoch);
    struct bk_batch_builder b;
    bk_batch_builder_init(&b, BK_CODEC_NONE);
    b.attributes = BK_RB_ATTR_CONTROL | BK_RB_ATTR_TRANSACTIONAL;
    b.producer_id = producer_id;
    b.producer_epoch = producer_epoch;
    b.base_sequence = -1;
    int rv = bk_batch_builder_add(
        &b, timestamp, (struct bk_bytes){ key, sizeof(key) },
        (struct bk_bytes){ value, sizeof(value) }, NULL, 0);
    if (rv == 0) {
        rv = bk_batch_builder_finish(&b, arena, out, out_len);
    }
    bk_batch_builder_free(&b);
    return rv;
}

int bk_ctrl_marker_read(const uint8_t *batch,
                        size_t len,
                        bool *commit,
                        int32_t *coordinator_epoch)
{
    /* Control batches are never compressed by Kafka; a compressed one is
     * refused by the iterator without an arena. */
    struct bk_record_iter it;
    int rv = bk_record_iter_init(&it, batch, len, NULL, len);
    if (rv != 0) {
        return rv;
    }
    if ((it.attributes & BK_RB_ATTR_CONTROL) == 0) {
        return BK_EINVAL;
    }
    struct bk_record rec;
    rv = bk_record_iter_next(&it, &rec);
    if (rv <= 0) {
        return rv == 0 ? BK_ENOTFOUND : rv;
    }
    int16_t type;
    rv = bk_ctrl_key_decode(rec.key, &type);
    if (rv != 0) {
        return rv;
    }
    if (type != BK_CTRL_ABORT && type != BK_CTRL_COMMIT) {
        return BK_ENOTFOUND;
    }
    *commit = type == BK_CTRL_COMMIT;
    return bk_ctrl_marker_value_decode(rec.value, coordinator_epoch);
}
