/* KIP-848 records of __consumer_offsets; see cg_records.h. */
#include "group/cg_records.h"

#include <string.h>

#include "common/err.h"

/* Encodes with emit() into a, growing the buffer until it fits. */
typedef void (*emit_fn)(struct bk_wr *w, const void *x, const void *y);

static struct bk_bytes encode(struct bk_arena *a,
                              emit_fn emit,
                              const void *x,
                              const void *y)
{
    for (size_t cap = 256; cap <= (64u << 20); cap *= 4) {
        uint8_t *buf = bk_arena_alloc(a, cap);
        if (buf == NULL) {
            return BK_BYTES_NULL;
        }
        struct bk_wr w;
        bk_wr_init(&w, buf, cap);
        emit(&w, x, y);
        if (w.err == 0) {
            return (struct bk_bytes){ buf, (int32_t)w.len };
        }
    }
    return BK_BYTES_NULL;
}

static struct bk_str cs(const char *s)
{
    return s != NULL ? bk_str_c(s) : BK_STR_NULL;
}

/* ---- keys ---- */

struct key_in {
    int16_t type;
    struct bk_str group;
    struct bk_str member;
};

static void emit_key(struct bk_wr *w, const void *x, const void *y)
{
    (void)y;
    const struct key_in *k = x;
    bk_wr_i16(w, k->type);
    bk_wr_str(w, k->group, false);
    if (k->type == BK_GR_KEY_CG_MEMBER ||
        k->type == BK_GR_KEY_CG_TARGET_MEMBER ||
        k->type == BK_GR_KEY_CG_CURRENT) {
        bk_wr_str(w, k->member, false);
    }
}

struct bk_bytes bk_gr_cg_key(struct bk_arena *a,
                             int16_t type,
                             struct bk_str group,
                             struct bk_str member)
{
    struct key_in k = { type, group, member };
    return encode(a, emit_key, &k, NULL);
}

/* ---- values ---- */

static void emit_epoch(struct bk_wr *w, const void *x, const void *y)
{
    (void)y;
    bk_wr_i16(w, 0);
    bk_wr_i32(w, *(const int32_t *)x);
    bk_wr_uvarint(w, 0); /* no tagged fields */
}

struct bk_bytes bk_gr_cg_epoch_value(struct bk_arena *a, int32_t epoch)
{
    return encode(a, emit_epoch, &epoch, NULL);
}

static size_t classic_size(const struct bk_cmember *m)
{
    size_t n = 4 + bk_array_len_size((int32_t)m->nprotocols, true) + 1;
    for (size_t i = 0; i < m->nprotocols; i++) {
        n += bk_str_size(cs(m->protocols[i].name), true) +
             bk_bytes_size(
                 (struct bk_bytes){ m->protocols[i].metadata,
                                    (int32_t)m->protocols[i].metadata_len },
                 true) +
             1;
    }
    return n;
}

static void emit_classic(struct bk_wr *w, const struct bk_cmember *m)
{
    bk_wr_i32(w, m->session_timeout_ms);
    bk_wr_array_len(w, (int32_t)m->nprotocols, true);
    for (size_t i = 0; i < m->nprotocols; i++) {
        bk_wr_str(w, cs(m->protocols[i].name), true);
        bk_wr_bytes(w,
                    (struct bk_bytes){ m->protocols[i].metadata,
                                       (int32_t)m->protocols[i].metadata_len },
                    true);
        bk_wr_uvarint(w, 0);
    }
    bk_wr_uvarint(w, 0);
}

static void emit_member(struct bk_wr *w, const void *x, const void *y)
{
    const struct bk_cgroup *cg = x;
    const struct bk_cmember *m = y;
    bk_wr_i16(w, 0);
    bk_wr_str(w, bk_group_str(m->instance_id, m->instance_id_len), true);
    bk_wr_str(w, BK_STR_NULL, true); /* RackId */
    bk_wr_str(w, cs(m->client_id), true);
    bk_wr_str(w, cs(m->client_host), true);
    bk_wr_array_len(w, (int32_t)m->ntopics, true);
    for (size_t i = 0; i < m->ntopics; i++) {
        bk_wr_str(w, bk_str_c(m->topics[i]), true);
    }
    bk_wr_str(w, cs(m->regex), true);
    bk_wr_i32(w, m->rebalance_timeout_ms);
    bk_wr_str(w, m->classic ? BK_STR_NULL : cs(cg->assignor), true);
    if (!m->classic) {
        bk_wr_uvarint(w, 0);
        return;
    }
    /* Tag 0, ClassicMemberMetadata: tag, size, struct. */
    bk_wr_uvarint(w, 1);
    bk_wr_uvarint(w, 0);
    /* A nullable struct starts with an int8 marker: -1 null, 1 present
     * (Kafka's generated code), counted in the tagged field's size. */
    bk_wr_uvarint(w, (uint32_t)(1 + classic_size(m)));
    bk_wr_i8(w, 1);
    emit_classic(w, m);
}

struct bk_bytes bk_gr_cg_member_value(struct bk_arena *a,
                                      const struct bk_cgroup *cg,
                                      const struct bk_cmember *m)
{
    return encode(a, emit_member, cg, m);
}

/* TopicPartitions[]: partitions grouped per topic id. */
static void emit_tps(struct bk_wr *w, const struct bk_cgroup_set *s)
{
    int32_t ntopics = 0;
    for (size_t i = 0; i < s->n; i++) {
        bool seen = false;
        for (size_t k = 0; k < i && !seen; k++) {
            seen = memcmp(&s->v[k].topic_id, &s->v[i].topic_id,
                          sizeof(s->v[i].topic_id)) == 0;
        }
        ntopics += !seen;
    }
    bk_wr_array_len(w, ntopics, true);
    for (size_t i = 0; i < s->n; i++) {
        bool seen = false;
        for (size_t k = 0; k < i && !seen; k++) {
            seen = memcmp(&s->v[k].topic_id, &s->v[i].topic_id,
                          sizeof(s->v[i].topic_id)) == 0;
        }
        if (seen) {
            continue;
        }
        int32_t np = 0;
        for (size_t k = i; k < s->n; k++) {
            np += memcmp(&s->v[k].topic_id, &s->v[i].topic_id,
                         sizeof(s->v[i].topic_id)) == 0;
        }
        bk_wr_uuid(w, &s->v[i].topic_id);
        bk_wr_array_len(w, np, true);
        for (size_t k = i; k < s->n; k++) {
            if (memcmp(&s->v[k].topic_id, &s->v[i].topic_id,
                       sizeof(s->v[i].topic_id)) == 0) {
                bk_wr_i32(w, s->v[k].partition);
            }
        }
        bk_wr_uvarint(w, 0);
    }
}

static void emit_target(struct bk_wr *w, const void *x, const void *y)
{
    (void)y;
    bk_wr_i16(w, 0);
    emit_tps(w, x);
    bk_wr_uvarint(w, 0);
}

struct bk_bytes bk_gr_cg_target_value(struct bk_arena *a,
                                      const struct bk_cgroup_set *target)
{
    return encode(a, emit_target, target, NULL);
}

static void emit_current(struct bk_wr *w, const void *x, const void *y)
{
    (void)y;
    const struct bk_cmember *m = x;
    bk_wr_i16(w, 0);
    bk_wr_i32(w, m->epoch);
    bk_wr_i32(w, m->prev_epoch);
    /* MemberState: 0 stable, 1 unrevoked partitions, 2 unreleased. */
    int8_t state = m->revoking.n > 0 ? 1 : m->assigned.n < m->target.n ? 2 : 0;
    bk_wr_i8(w, state);
    emit_tps(w, &m->assigned);
    emit_tps(w, &m->revoking);
    bk_wr_uvarint(w, 0);
}

struct bk_bytes bk_gr_cg_current_value(struct bk_arena *a,
                                       const struct bk_cmember *m)
{
    return encode(a, emit_current, m, NULL);
}

/* ---- decoding ---- */

static int value_start(struct bk_bytes in, struct bk_rd *rd)
{
    if (in.len < 2) {
        return BK_EPROTO;
    }
    bk_rd_init(rd, in.ptr, (size_t)in.len);
    return bk_rd_i16(rd) == 0 ? 0 : BK_EUNSUPPORTED;
}

int bk_gr_cg_epoch_decode(struct bk_bytes in, int32_t *epoch)
{
    struct bk_rd rd;
    int rv = value_start(in, &rd);
    if (rv != 0) {
        return rv;
    }
    *epoch = bk_rd_i32(&rd);
    bk_rd_tags_skip(&rd);
    return rd.err != 0 ? BK_EPROTO : 0;
}

static void read_classic(struct bk_rd *rd,
                         struct bk_arena *a,
                         struct bk_cgroup_member_load *m)
{
    if (bk_rd_i8(rd) < 0) {
        return; /* a null ClassicMemberMetadata: a consumer member */
    }
    m->session_timeout_ms = bk_rd_i32(rd);
    int32_t n = bk_rd_array_len(rd, true, false, 3);
    if (rd->err != 0 || n < 0) {
        bk_rd_fail(rd);
        return;
    }
    struct bk_group_proto_in *p =
        bk_arena_alloc(a, ((size_t)n + 1) * sizeof(*p));
    if (p == NULL) {
        bk_rd_fail(rd);
        return;
    }
    for (int32_t i = 0; i < n && rd->err == 0; i++) {
        p[i].name = bk_rd_str(rd, true, false);
        p[i].metadata = bk_rd_bytes(rd, true, false);
        bk_rd_tags_skip(rd);
    }
    bk_rd_tags_skip(rd);
    m->protocols = p;
    m->nprotocols = (size_t)n;
    m->classic = rd->err == 0;
}

int bk_gr_cg_member_decode(struct bk_bytes in,
                           struct bk_arena *a,
                           struct bk_cgroup_member_load *m)
{
    struct bk_rd rd;
    int rv = value_start(in, &rd);
    if (rv != 0) {
        return rv;
    }
    memset(m, 0, sizeof(*m));
    m->instance_id = bk_rd_str(&rd, true, true);
    (void)bk_rd_str(&rd, true, true); /* RackId */
    m->client_id = bk_rd_str(&rd, true, false);
    m->client_host = bk_rd_str(&rd, true, false);
    int32_t n = bk_rd_array_len(&rd, true, false, 1);
    if (rd.err != 0 || n < 0) {
        return BK_EPROTO;
    }
    struct bk_str *t = bk_arena_alloc(a, ((size_t)n + 1) * sizeof(*t));
    if (t == NULL) {
        return BK_ENOMEM;
    }
    for (int32_t i = 0; i < n; i++) {
        t[i] = bk_rd_str(&rd, true, false);
    }
    m->topics = t;
    m->ntopics = n;
    m->regex = bk_rd_str(&rd, true, true);
    m->rebalance_timeout_ms = bk_rd_i32(&rd);
    m->server_assignor = bk_rd_str(&rd, true, true);
    uint32_t ntags = bk_rd_uvarint(&rd);
    for (uint32_t i = 0; i < ntags && rd.err == 0; i++) {
        struct bk_rd sub;
        uint32_t tag = bk_rd_tag(&rd, &sub);
        if (tag == 0 && rd.err == 0) {
            read_classic(&sub, a, m);
            if (sub.err != 0) {
                return BK_EPROTO;
            }
        }
    }
    return rd.err != 0 ? BK_EPROTO : 0;
}

static int read_tps(struct bk_rd *rd,
                    struct bk_arena *a,
                    const struct bk_cgroup_tp **out,
                    size_t *nout)
{
    int32_t nt = bk_rd_array_len(rd, true, false, 18);
    if (rd->err != 0 || nt < 0) {
        return BK_EPROTO;
    }
    /* Partition counts are bounded by the bytes left (4 bytes each). */
    size_t cap = bk_rd_left(rd) / 4 + 1;
    struct bk_cgroup_tp *v = bk_arena_alloc(a, cap * sizeof(*v));
    if (v == NULL) {
        return BK_ENOMEM;
    }
    size_t n = 0;
    for (int32_t i = 0; i < nt && rd->err == 0; i++) {
        struct bk_uuid id;
        bk_rd_uuid(rd, &id);
        int32_t np = bk_rd_array_len(rd, true, false, 4);
        for (int32_t k = 0; k < np && rd->err == 0 && n < cap; k++) {
            v[n++] = (struct bk_cgroup_tp){ id, bk_rd_i32(rd) };
        }
        bk_rd_tags_skip(rd);
    }
    *out = v;
    *nout = n;
    return rd->err != 0 ? BK_EPROTO : 0;
}

int bk_gr_cg_target_decode(struct bk_bytes in,
                           struct bk_arena *a,
                           struct bk_cgroup_tp **tps,
                           size_t *n)
{
    struct bk_rd rd;
    int rv = value_start(in, &rd);
    if (rv != 0) {
        return rv;
    }
    const struct bk_cgroup_tp *v = NULL;
    rv = read_tps(&rd, a, &v, n);
    *tps = (struct bk_cgroup_tp *)v;
    return rv;
}

int bk_gr_cg_current_decode(struct bk_bytes in,
                            struct bk_arena *a,
                            struct bk_cgroup_current_load *c)
{
    struct bk_rd rd;
    int rv = value_start(in, &rd);
    if (rv != 0) {
        return rv;
    }
    memset(c, 0, sizeof(*c));
    c->epoch = bk_rd_i32(&rd);
    c->prev_epoch = bk_rd_i32(&rd);
    (void)bk_rd_i8(&rd); /* State: recomputed from the sets */
    rv = read_tps(&rd, a, &c->assigned, &c->nassigned);
    if (rv == 0) {
        rv = read_tps(&rd, a, &c->revoking, &c->nrevoking);
    }
    return rv;
}
