/* Persistence of the registry in __consumer_offsets; see persist.h. */
#include "group/persist.h"

#include <string.h>

#include "common/heap.h"
#include "group/cg_records.h"
#include "group/records.h"

void bk_gr_recs_add(struct bk_gr_recs *rs,
                    struct bk_bytes key,
                    struct bk_bytes value)
{
    if (key.len < 0) {
        rs->failed = true;
        return;
    }
    if (rs->n == rs->cap) {
        size_t cap = rs->cap ? rs->cap * 2 : 16;
        struct bk_gr_rec *v = bk_arena_alloc(rs->a, cap * sizeof(*v));
        if (v == NULL) {
            rs->failed = true;
            return;
        }
        if (rs->n > 0) {
            memcpy(v, rs->v, rs->n * sizeof(*v));
        }
        rs->v = v;
        rs->cap = cap;
    }
    rs->v[rs->n++] = (struct bk_gr_rec){ key, value };
}

/* A value that must exist: an encoding failure (NULL) fails the list. */
static void add_value(struct bk_gr_recs *rs,
                      struct bk_bytes key,
                      struct bk_bytes value)
{
    if (value.len < 0) {
        rs->failed = true;
        return;
    }
    bk_gr_recs_add(rs, key, value);
}

static void member_tombstones(struct bk_gr_recs *rs,
                              struct bk_str gid,
                              const char *mid)
{
    static const int16_t types[] = { BK_GR_KEY_CG_CURRENT,
                                     BK_GR_KEY_CG_TARGET_MEMBER,
                                     BK_GR_KEY_CG_MEMBER };
    for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
        bk_gr_recs_add(rs, bk_gr_cg_key(rs->a, types[i], gid, bk_str_c(mid)),
                       BK_BYTES_NULL);
    }
}

static void group_tombstones(struct bk_gr_recs *rs, struct bk_str gid)
{
    bk_gr_recs_add(
        rs, bk_gr_cg_key(rs->a, BK_GR_KEY_CG_TARGET_METADATA, gid, BK_STR_NULL),
        BK_BYTES_NULL);
    bk_gr_recs_add(rs,
                   bk_gr_cg_key(rs->a, BK_GR_KEY_CG_METADATA, gid, BK_STR_NULL),
                   BK_BYTES_NULL);
}

static void consumer_records(struct bk_gr_recs *rs, const struct bk_group *g)
{
    struct bk_str gid = bk_group_id(g);
    const struct bk_cgroup *cg = g->consumer;
    for (size_t i = 0; i < cg->nmembers; i++) {
        const struct bk_cmember *m = cg->members[i];
        if (m->dirty) {
            add_value(
                rs,
                bk_gr_cg_key(rs->a, BK_GR_KEY_CG_MEMBER, gid, bk_str_c(m->id)),
                bk_gr_cg_member_value(rs->a, cg, m));
        }
    }
    if (cg->dirty) {
        add_value(rs,
                  bk_gr_cg_key(rs->a, BK_GR_KEY_CG_METADATA, gid, BK_STR_NULL),
                  bk_gr_cg_epoch_value(rs->a, cg->group_epoch));
    }
    for (size_t i = 0; i < cg->nmembers; i++) {
        const struct bk_cmember *m = cg->members[i];
        if (m->dirty) {
            add_value(rs,
                      bk_gr_cg_key(rs->a, BK_GR_KEY_CG_TARGET_MEMBER, gid,
                                   bk_str_c(m->id)),
                      bk_gr_cg_target_value(rs->a, &m->target));
        }
    }
    if (cg->dirty) {
        add_value(
            rs,
            bk_gr_cg_key(rs->a, BK_GR_KEY_CG_TARGET_METADATA, gid, BK_STR_NULL),
            bk_gr_cg_epoch_value(rs->a, cg->group_epoch));
    }
    for (size_t i = 0; i < cg->nmembers; i++) {
        const struct bk_cmember *m = cg->members[i];
        if (m->dirty) {
            add_value(
                rs,
                bk_gr_cg_key(rs->a, BK_GR_KEY_CG_CURRENT, gid, bk_str_c(m->id)),
                bk_gr_cg_current_value(rs->a, m));
        }
    }
}

void bk_group_pending_records(const struct bk_group *g, struct bk_gr_recs *rs)
{
    struct bk_str gid = bk_group_id(g);
    for (size_t i = 0; i < g->ncg_gone; i++) {
        member_tombstones(rs, gid, g->cg_gone[i]);
    }
    /* Conversion tombstones go before the new kind's records, so that a
     * reload ends with the new kind. */
    if (g->tombstone_consumer) {
        group_tombstones(rs, gid);
    }
    if (g->tombstone_classic) {
        bk_gr_recs_add(rs, bk_gr_group_key(rs->a, gid), BK_BYTES_NULL);
    }
    if (g->consumer != NULL) {
        consumer_records(rs, g);
    } else if (g->dirty) {
        add_value(rs, bk_gr_group_key(rs->a, gid),
                  bk_gr_group_value_encode(rs->a, g));
    }
}

void bk_group_pending_clear(struct bk_group *g)
{
    for (size_t i = 0; i < g->ncg_gone; i++) {
        bk_free(g->cg_gone[i]);
    }
    g->ncg_gone = 0;
    g->tombstone_consumer = false;
    g->tombstone_classic = false;
    g->dirty = false;
    if (g->consumer != NULL) {
        g->consumer->dirty = false;
        for (size_t i = 0; i < g->consumer->nmembers; i++) {
            g->consumer->members[i]->dirty = false;
        }
    }
}

void bk_group_delete_records(const struct bk_group *g, struct bk_gr_recs *rs)
{
    struct bk_str gid = bk_group_id(g);
    for (size_t i = 0; i < g->noffsets; i++) {
        bk_gr_recs_add(
            rs,
            bk_gr_offset_key(rs->a, gid, bk_str_c(g->offsets[i].topic),
                             g->offsets[i].partition),
            BK_BYTES_NULL);
    }
    bk_gr_recs_add(rs, bk_gr_group_key(rs->a, gid), BK_BYTES_NULL);
    for (size_t i = 0; i < g->ncg_gone; i++) {
        member_tombstones(rs, gid, g->cg_gone[i]);
    }
    if (g->consumer != NULL) {
        for (size_t i = 0; i < g->consumer->nmembers; i++) {
            member_tombstones(rs, gid, g->consumer->members[i]->id);
        }
        group_tombstones(rs, gid);
    }
}

void bk_group_load_record(struct bk_group_registry *r,
                          struct bk_bytes key,
                          struct bk_bytes value,
                          struct bk_arena *scratch)
{
    struct bk_gr_key k;
    if (key.len < 0 || bk_gr_key_decode(key, &k) != 0) {
        return; /* share, streams and transaction records: not ours */
    }
    bool tomb = value.len < 0;
    switch (k.version) {
        case 0:
        case 1: {
            if (tomb) {
                struct bk_group *g = bk_group_find(r, k.group);
                if (g != NULL) {
                    bk_group_offset_delete(g, k.topic, k.partition);
                }
                return;
            }
            struct bk_gr_offset_value v;
            if (bk_gr_offset_value_decode(value, &v) != 0) {
                return;
            }
            struct bk_group *g = bk_group_get(r, k.group);
            if (g != NULL) {
                (void)bk_group_offset_put(g, k.topic, k.partition, v.offset,
                                          v.leader_epoch, v.metadata,
                                          v.commit_ms, v.expire_ms);
            }
            return;
        }
        case BK_GR_KEY_GROUP: {
            if (tomb) {
                bk_group_load_tombstone(r, k.group);
                return;
            }
            struct bk_gr_group_meta ml;
            if (bk_gr_group_value_decode(value, scratch, &ml) == 0) {
                (void)bk_group_load_meta(r, k.group, &ml);
            }
            return;
        }
        case BK_GR_KEY_CG_METADATA: {
            int32_t epoch;
            if (tomb) {
                (void)bk_cgroup_load_epoch(r, k.group, NULL);
            } else if (bk_gr_cg_epoch_decode(value, &epoch) == 0) {
                (void)bk_cgroup_load_epoch(r, k.group, &epoch);
            }
            return;
        }
        case BK_GR_KEY_CG_MEMBER: {
            struct bk_cgroup_member_load ml;
            if (tomb) {
                (void)bk_cgroup_load_member(r, k.group, k.member, NULL);
            } else if (bk_gr_cg_member_decode(value, scratch, &ml) == 0) {
                (void)bk_cgroup_load_member(r, k.group, k.member, &ml);
            }
            return;
        }
        case BK_GR_KEY_CG_TARGET_MEMBER: {
            struct bk_cgroup_tp *tps = NULL;
            size_t n = 0;
            if (tomb) {
                (void)bk_cgroup_load_target(r, k.group, k.member, NULL, 0);
            } else if (bk_gr_cg_target_decode(value, scratch, &tps, &n) == 0) {
                (void)bk_cgroup_load_target(r, k.group, k.member, tps, n);
            }
            return;
        }
        case BK_GR_KEY_CG_CURRENT: {
            struct bk_cgroup_current_load c;
            if (tomb) {
                (void)bk_cgroup_load_current(r, k.group, k.member, NULL);
            } else if (bk_gr_cg_current_decode(value, scratch, &c) == 0) {
                (void)bk_cgroup_load_current(r, k.group, k.member, &c);
            }
            return;
        }
        default:
            /* 4 (subscription metadata) and 6 (the target's epoch, always
             * the group epoch here) carry nothing this broker needs. */
            return;
    }
}
