/* __consumer_offsets records; see records.h for the layouts. */
#include "group/records.h"

#include <string.h>

#include "common/err.h"

static struct bk_str cs(const char *s)
{
    return s != NULL ? bk_str_c(s) : BK_STR_NULL;
}

static struct bk_bytes finish(uint8_t *buf, struct bk_wr *wr)
{
    if (buf == NULL || wr->err != 0) {
        return BK_BYTES_NULL;
    }
    return (struct bk_bytes){ buf, (int32_t)wr->len };
}

struct bk_bytes bk_gr_offset_key(struct bk_arena *a,
                                 struct bk_str group,
                                 struct bk_str topic,
                                 int32_t partition)
{
    size_t n = 2 + bk_str_size(group, false) + bk_str_size(topic, false) + 4;
    uint8_t *buf = bk_arena_alloc(a, n);
    struct bk_wr wr;
    bk_wr_init(&wr, buf, buf != NULL ? n : 0);
    bk_wr_i16(&wr, BK_GR_KEY_OFFSET);
    bk_wr_str(&wr, group, false);
    bk_wr_str(&wr, topic, false);
    bk_wr_i32(&wr, partition);
    return finish(buf, &wr);
}

struct bk_bytes bk_gr_group_key(struct bk_arena *a, struct bk_str group)
{
    size_t n = 2 + bk_str_size(group, false);
    uint8_t *buf = bk_arena_alloc(a, n);
    struct bk_wr wr;
    bk_wr_init(&wr, buf, buf != NULL ? n : 0);
    bk_wr_i16(&wr, BK_GR_KEY_GROUP);
    bk_wr_str(&wr, group, false);
    return finish(buf, &wr);
}

struct bk_bytes bk_gr_offset_value_encode(struct bk_arena *a,
                                          const struct bk_gr_offset_value *v)
{
    struct bk_str md = v->metadata.len < 0 ? bk_str_c("") : v->metadata;
    /* An explicit expiry (OffsetCommit v2-4 RetentionTimeMs) only fits
     * value v1, as Kafka writes it; everything else is v3. */
    bool v1 = v->expire_ms >= 0;
    size_t n = 2 + 8 + 4 + bk_str_size(md, false) + 8 + 8;
    uint8_t *buf = bk_arena_alloc(a, n);
    struct bk_wr wr;
    bk_wr_init(&wr, buf, buf != NULL ? n : 0);
    bk_wr_i16(&wr, v1 ? 1 : 3);
    bk_wr_i64(&wr, v->offset);
    if (!v1) {
        bk_wr_i32(&wr, v->leader_epoch);
    }
    bk_wr_str(&wr, md, false);
    bk_wr_i64(&wr, v->commit_ms);
    if (v1) {
        bk_wr_i64(&wr, v->expire_ms);
    }
    return finish(buf, &wr);
}

static struct bk_bytes bytes_of(const uint8_t *p, size_t len)
{
    return (struct bk_bytes){ p, (int32_t)len };
}

struct bk_bytes bk_gr_group_value_encode(struct bk_arena *a,
                                         const struct bk_group *g)
{
    struct bk_str pt = cs(g->protocol_type != NULL ? g->protocol_type : "");
    size_t n = 2 + bk_str_size(pt, false) + 4 +
               bk_str_size(cs(g->protocol), false) +
               bk_str_size(cs(g->leader), false) + 8 + 4;
    for (size_t i = 0; i < g->nmembers; i++) {
        const struct bk_group_member *m = g->members[i];
        const struct bk_group_protocol *p = bk_group_member_protocol(g, m);
        n += bk_str_size(cs(m->id), false) +
             bk_str_size(bk_group_str(m->instance_id, m->instance_id_len),
                         false) +
             bk_str_size(cs(m->client_id), false) +
             bk_str_size(cs(m->client_host), false) + 8 + 4 +
             (p != NULL ? p->metadata_len : 0) + 4 + m->assignment_len;
    }
    uint8_t *buf = bk_arena_alloc(a, n);
    struct bk_wr wr;
    bk_wr_init(&wr, buf, buf != NULL ? n : 0);
    bk_wr_i16(&wr, 3);
    bk_wr_str(&wr, pt, false);
    bk_wr_i32(&wr, g->generation);
    bk_wr_str(&wr, cs(g->protocol), false);
    bk_wr_str(&wr, cs(g->leader), false);
    bk_wr_i64(&wr, g->state_ms);
    bk_wr_i32(&wr, (int32_t)g->nmembers);
    for (size_t i = 0; i < g->nmembers; i++) {
        const struct bk_group_member *m = g->members[i];
        const struct bk_group_protocol *p = bk_group_member_protocol(g, m);
        bk_wr_str(&wr, cs(m->id), false);
        bk_wr_str(&wr, bk_group_str(m->instance_id, m->instance_id_len), false);
        bk_wr_str(&wr, cs(m->client_id), false);
        bk_wr_str(&wr, cs(m->client_host), false);
        bk_wr_i32(&wr, m->rebalance_timeout_ms);
        bk_wr_i32(&wr, m->session_timeout_ms);
        bk_wr_bytes(&wr,
                    p != NULL ? bytes_of(p->metadata, p->metadata_len)
                              : bytes_of(NULL, 0),
                    false);
        bk_wr_bytes(&wr, bytes_of(m->assignment, m->assignment_len), false);
    }
    return finish(buf, &wr);
}

int bk_gr_key_decode(struct bk_bytes in, struct bk_gr_key *k)
{
    if (in.len < 2) {
        return BK_EPROTO;
    }
    struct bk_rd rd;
    bk_rd_init(&rd, in.ptr, (size_t)in.len);
    memset(k, 0, sizeof(*k));
    k->version = bk_rd_i16(&rd);
    if (k->version < 0 || k->version > 8) {
        return BK_EUNSUPPORTED; /* share and streams groups: not read */
    }
    k->group = bk_rd_str(&rd, false, false);
    k->member = BK_STR_NULL;
    if (k->version <= 1) {
        k->topic = bk_rd_str(&rd, false, false);
        k->partition = bk_rd_i32(&rd);
    } else if (k->version == 5 || k->version == 7 || k->version == 8) {
        k->member = bk_rd_str(&rd, false, false); /* KIP-848 member keys */
    }
    return rd.err != 0 ? BK_EPROTO : 0;
}

int bk_gr_offset_value_decode(struct bk_bytes in, struct bk_gr_offset_value *v)
{
    if (in.len < 2) {
        return BK_EPROTO;
    }
    struct bk_rd rd;
    bk_rd_init(&rd, in.ptr, (size_t)in.len);
    int16_t ver = bk_rd_i16(&rd);
    if (ver < 0 || ver > 4) {
        return BK_EUNSUPPORTED;
    }
    bool flex = ver >= 4;
    v->offset = bk_rd_i64(&rd);
    v->leader_epoch = ver >= 3 ? bk_rd_i32(&rd) : -1;
    v->metadata = bk_rd_str(&rd, flex, false);
    v->commit_ms = bk_rd_i64(&rd);
    v->expire_ms = ver == 1 ? bk_rd_i64(&rd) : -1;
    return rd.err != 0 ? BK_EPROTO : 0;
}

int bk_gr_group_value_decode(struct bk_bytes in,
                             struct bk_arena *a,
                             struct bk_gr_group_meta *m)
{
    if (in.len < 2) {
        return BK_EPROTO;
    }
    struct bk_rd rd;
    bk_rd_init(&rd, in.ptr, (size_t)in.len);
    int16_t ver = bk_rd_i16(&rd);
    if (ver < 0 || ver > 4) {
        return BK_EUNSUPPORTED;
    }
    bool flex = ver >= 4;
    memset(m, 0, sizeof(*m));
    m->protocol_type = bk_rd_str(&rd, flex, false);
    m->generation = bk_rd_i32(&rd);
    m->protocol = bk_rd_str(&rd, flex, true);
    m->leader = bk_rd_str(&rd, flex, true);
    m->state_ms = ver >= 2 ? bk_rd_i64(&rd) : -1;
    int32_t n = bk_rd_array_len(&rd, flex, false, 16);
    if (rd.err != 0 || n < 0) {
        return BK_EPROTO;
    }
    struct bk_group_member_load *mm =
        bk_arena_alloc(a, ((size_t)n + 1) * sizeof(*mm));
    if (mm == NULL) {
        return BK_ENOMEM;
    }
    for (int32_t i = 0; i < n && rd.err == 0; i++) {
        struct bk_group_member_load *x = &mm[i];
        x->member_id = bk_rd_str(&rd, flex, false);
        x->instance_id = ver >= 3 ? bk_rd_str(&rd, flex, true) : BK_STR_NULL;
        x->client_id = bk_rd_str(&rd, flex, false);
        x->client_host = bk_rd_str(&rd, flex, false);
        x->rebalance_timeout_ms = ver >= 1 ? bk_rd_i32(&rd) : -1;
        x->session_timeout_ms = bk_rd_i32(&rd);
        x->subscription = bk_rd_bytes(&rd, flex, false);
        x->assignment = bk_rd_bytes(&rd, flex, false);
        if (flex) {
            bk_rd_tags_skip(&rd);
        }
        if (x->rebalance_timeout_ms < 0) {
            x->rebalance_timeout_ms = x->session_timeout_ms;
        }
    }
    if (rd.err != 0) {
        return BK_EPROTO;
    }
    m->members = mm;
    m->nmembers = (size_t)n;
    return 0;
}
