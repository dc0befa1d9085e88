/* __transaction_state records; see records.h for the layouts. */
#include "txn/records.h"

#include <string.h>

#include "common/err.h"
#include "common/heap.h"

/* Tags of TransactionLogValue v1's tagged fields. */
enum {
    TAG_PREV_PID = 0,
    TAG_NEXT_PID = 1,
    TAG_CLIENT_VERSION = 2,
};

static struct bk_bytes finish(uint8_t *buf, const struct bk_wr *wr)
{
    if (buf == NULL || wr->err != 0) {
        return BK_BYTES_NULL;
    }
    return (struct bk_bytes){ buf, (int32_t)wr->len };
}

struct bk_bytes bk_txl_key_encode(struct bk_arena *a, struct bk_str id)
{
    size_t n = 2 + bk_str_size(id, false);
    uint8_t *buf = bk_arena_alloc(a, n);
    struct bk_wr wr;
    bk_wr_init(&wr, buf, buf != NULL ? n : 0);
    bk_wr_i16(&wr, 0);
    bk_wr_str(&wr, id, false);
    return finish(buf, &wr);
}

static struct bk_str topic_of(const struct bk_txn_tp *tp)
{
    return bk_str_c(tp->topic);
}

/* Number of partitions of v->parts[i]'s topic from i on (parts are
 * sorted by topic, so a topic's partitions are adjacent). */
static size_t run_of(const struct bk_txn_value *v, size_t i)
{
    size_t j = i + 1;
    while (j < v->nparts && strcmp(v->parts[j].topic, v->parts[i].topic) == 0) {
        j++;
    }
    return j - i;
}

static size_t ntopics(const struct bk_txn_value *v)
{
    size_t n = 0;
    for (size_t i = 0; i < v->nparts; i += run_of(v, i)) {
        n++;
    }
    return n;
}

/* An upper bound of the encoded value's size. */
static size_t value_size(const struct bk_txn_value *v)
{
    size_t n = 2 + 8 + 2 + 4 + 1 + 5 + 8 + 8 + 1 + 3 * (2 + 8);
    for (size_t i = 0; i < v->nparts; i++) {
        /* Each partition is counted as if it opened its topic's entry. */
        n += bk_str_size(topic_of(&v->parts[i]), false) + 5 + 4 + 1;
    }
    return n;
}

static void write_partitions(struct bk_wr *wr,
                             const struct bk_txn_value *v,
                             bool flex)
{
    /* Kafka writes a null list for Empty (TransactionLog.valueToBytes)
     * and the list, possibly empty, in every other state. */
    if (v->state == BK_TXN_EMPTY) {
        bk_wr_array_len(wr, -1, flex);
        return;
    }
    bk_wr_array_len(wr, (int32_t)ntopics(v), flex);
    for (size_t i = 0; i < v->nparts;) {
        size_t run = run_of(v, i);
        bk_wr_str(wr, topic_of(&v->parts[i]), flex);
        bk_wr_array_len(wr, (int32_t)run, flex);
        for (size_t k = 0; k < run; k++) {
            bk_wr_i32(wr, v->parts[i + k].partition);
        }
        if (flex) {
            bk_wr_uvarint(wr, 0); /* no tagged fields per topic */
        }
        i += run;
    }
}

/* v1's tagged fields, each only when it differs from its default, as
 * Kafka's generated writers do. */
static void write_tags(struct bk_wr *wr, const struct bk_txn_value *v)
{
    uint32_t n = 0;
    n += v->prev_producer_id != -1 ? 1u : 0u;
    n += v->next_producer_id != -1 ? 1u : 0u;
    n += v->client_version != 0 ? 1u : 0u;
    bk_wr_uvarint(wr, n);
    if (v->prev_producer_id != -1) {
        bk_wr_uvarint(wr, TAG_PREV_PID);
        bk_wr_uvarint(wr, 8);
        bk_wr_i64(wr, v->prev_producer_id);
    }
    if (v->next_producer_id != -1) {
        bk_wr_uvarint(wr, TAG_NEXT_PID);
        bk_wr_uvarint(wr, 8);
        bk_wr_i64(wr, v->next_producer_id);
    }
    if (v->client_version != 0) {
        bk_wr_uvarint(wr, TAG_CLIENT_VERSION);
        bk_wr_uvarint(wr, 2);
        bk_wr_i16(wr, v->client_version);
    }
}

struct bk_bytes bk_txl_value_encode(struct bk_arena *a,
                                    const struct bk_txn_value *v,
                                    int16_t version)
{
    bool flex = version >= 1;
    size_t n = value_size(v);
    uint8_t *buf = bk_arena_alloc(a, n);
    struct bk_wr wr;
    bk_wr_init(&wr, buf, buf != NULL ? n : 0);
    bk_wr_i16(&wr, flex ? 1 : 0);
    bk_wr_i64(&wr, v->producer_id);
    bk_wr_i16(&wr, v->epoch);
    bk_wr_i32(&wr, v->timeout_ms);
    bk_wr_i8(&wr, v->state);
    write_partitions(&wr, v, flex);
    bk_wr_i64(&wr, v->update_ms);
    bk_wr_i64(&wr, v->start_ms);
    if (flex) {
        write_tags(&wr, v);
    }
    return finish(buf, &wr);
}

int bk_txl_key_decode(struct bk_bytes in, struct bk_str *id)
{
    if (in.len < 2) {
        return BK_EPROTO;
    }
    struct bk_rd rd;
    bk_rd_init(&rd, in.ptr, (size_t)in.len);
    if (bk_rd_i16(&rd) != 0) {
        return BK_EUNSUPPORTED;
    }
    *id = bk_rd_str(&rd, false, false);
    return rd.err != 0 || bk_rd_left(&rd) != 0 ? BK_EPROTO : 0;
}

static int read_partitions(struct bk_rd *rd, bool flex, struct bk_txn_value *v)
{
    int32_t nt = bk_rd_array_len(rd, flex, true, 2);
    for (int32_t t = 0; t < nt && rd->err == 0; t++) {
        struct bk_str topic = bk_rd_str(rd, flex, false);
        int32_t np = bk_rd_array_len(rd, flex, false, 4);
        for (int32_t k = 0; k < np && rd->err == 0; k++) {
            if (bk_txn_value_add(v, topic, bk_rd_i32(rd)) != 0) {
                return BK_ENOMEM;
            }
        }
        if (flex) {
            bk_rd_tags_skip(rd);
        }
    }
    return rd->err != 0 ? BK_EPROTO : 0;
}

static void read_tags(struct bk_rd *rd, struct bk_txn_value *v)
{
    uint32_t n = bk_rd_uvarint(rd);
    for (uint32_t i = 0; i < n && rd->err == 0; i++) {
        struct bk_rd sub;
        uint32_t tag = bk_rd_tag(rd, &sub);
        if (tag == TAG_PREV_PID) {
            v->prev_producer_id = bk_rd_i64(&sub);
        } else if (tag == TAG_NEXT_PID) {
            v->next_producer_id = bk_rd_i64(&sub);
        } else if (tag == TAG_CLIENT_VERSION) {
            v->client_version = bk_rd_i16(&sub);
        } else {
            continue; /* a tag from a newer Kafka: skipped */
        }
        if (sub.err != 0) {
            bk_rd_fail(rd);
        }
    }
}

int bk_txl_value_decode(struct bk_bytes in, struct bk_txn_value *v)
{
    memset(v, 0, sizeof(*v));
    if (in.len < 2) {
        return BK_EPROTO;
    }
    struct bk_rd rd;
    bk_rd_init(&rd, in.ptr, (size_t)in.len);
    int16_t ver = bk_rd_i16(&rd);
    if (ver < 0 || ver > 1) {
        return BK_EUNSUPPORTED;
    }
    bool flex = ver >= 1;
    v->prev_producer_id = -1;
    v->next_producer_id = -1;
    v->last_epoch = BK_TXN_NO_EPOCH;
    v->producer_id = bk_rd_i64(&rd);
    v->epoch = bk_rd_i16(&rd);
    v->timeout_ms = bk_rd_i32(&rd);
    v->state = bk_rd_i8(&rd);
    int rv = read_partitions(&rd, flex, v);
    v->update_ms = bk_rd_i64(&rd);
    v->start_ms = bk_rd_i64(&rd);
    if (flex) {
        read_tags(&rd, v);
    }
    if (rv == 0 &&
        (rd.err != 0 || v->state < 0 || v->state >= BK_TXN_NSTATES)) {
        rv = BK_EPROTO;
    }
    if (rv != 0) {
        bk_txn_value_free(v);
    }
    return rv;
}
