/* The group coordinator on the coordinator runtime; see group_coord.h.
 *
 * Happy path of a group operation: the API layer opens the group's
 * partition (bk_coord_group_open: the runtime reads it back into the
 * registry the first time), runs the registry operation, and flushes: the
 * records of every changed group are appended, and the operation's answer
 * waits until they are on disk. Failure modes: a failed append (the flags
 * stay for the next flush, the operation is told, and the runtime reloads
 * the partition's groups before they serve again), a partition whose log
 * failed for good (its groups' records wait for the restart that reloads
 * them, and do not fail other groups' operations). */
#include "coord/group_coord.h"

#include <string.h>

#include "cluster/controller.h"
#include "common/err.h"
#include "common/heap.h"
#include "coord/coord_int.h"
#include "group/persist.h"
#include "group/records.h"
#include "protocol/kerr.h"

/* An offset commit of an undecided transaction (TxnOffsetCommit): held
 * until its producer's marker on the partition, then applied (commit)
 * or dropped (abort). */
struct txn_rec {
    int32_t partition;
    int64_t pid;
    uint8_t *key; /* owned */
    int32_t key_len;
    uint8_t *value; /* owned; NULL: a tombstone */
    int32_t value_len;
};

struct bk_coord_group {
    struct bk_coord rt;
    struct bk_group_registry reg;
    struct bk_md *md;    /* borrowed */
    struct txn_rec *txn; /* owned */
    size_t ntxn, cap_txn;
};

static int txn_hold(struct bk_coord_group *gc,
                    int32_t partition,
                    int64_t pid,
                    struct bk_bytes key,
                    struct bk_bytes value)
{
    if (gc->ntxn == gc->cap_txn) {
        size_t cap = gc->cap_txn ? gc->cap_txn * 2 : 8;
        struct txn_rec *v = bk_realloc(gc->txn, cap * sizeof(*v));
        if (v == NULL) {
            return BK_ENOMEM;
        }
        gc->txn = v;
        gc->cap_txn = cap;
    }
    struct txn_rec r = { partition, pid, NULL, key.len, NULL, value.len };
    r.key = bk_malloc(key.len > 0 ? (size_t)key.len : 1);
    r.value = value.ptr != NULL
                  ? bk_malloc(value.len > 0 ? (size_t)value.len : 1)
                  : NULL;
    if (r.key == NULL || (value.ptr != NULL && r.value == NULL)) {
        bk_free(r.key);
        bk_free(r.value);
        return BK_ENOMEM;
    }
    if (key.len > 0) {
        memcpy(r.key, key.ptr, (size_t)key.len);
    }
    if (value.ptr != NULL && value.len > 0) {
        memcpy(r.value, value.ptr, (size_t)value.len);
    }
    gc->txn[gc->ntxn++] = r;
    return 0;
}

/* Drops (or, with apply, applies) the held records matching partition
 * and, when pid >= 0, pid. */
static size_t txn_take(struct bk_coord_group *gc,
                       int32_t partition,
                       int64_t pid,
                       bool apply)
{
    struct bk_arena scratch;
    bk_arena_init(&scratch, 4096, 0);
    size_t w = 0, n = 0;
    for (size_t i = 0; i < gc->ntxn; i++) {
        struct txn_rec *r = &gc->txn[i];
        if (r->partition != partition || (pid >= 0 && r->pid != pid)) {
            gc->txn[w++] = *r;
            continue;
        }
        if (apply) {
            struct bk_bytes v =
                r->value != NULL ? (struct bk_bytes){ r->value, r->value_len }
                                 : BK_BYTES_NULL;
            bk_group_load_record(
                &gc->reg, (struct bk_bytes){ r->key, r->key_len }, v, &scratch);
        }
        bk_free(r->key);
        bk_free(r->value);
        n++;
    }
    gc->ntxn = w;
    bk_arena_destroy(&scratch);
    return n;
}

/* ---- the runtime's ops ---- */

static void load_record(void *data,
                        int32_t partition,
                        const struct bk_record *rec,
                        struct bk_arena *scratch)
{
    struct bk_coord_group *gc = data;
    (void)partition; /* a record names its group, which names its place */
    bk_group_load_record(&gc->reg, rec->key, rec->value, scratch);
}

/* Removes every group of `partition` (parked joins and syncs there are
 * answered with COORDINATOR_NOT_AVAILABLE). */
static void load_pending(void *data,
                         int32_t partition,
                         int64_t producer_id,
                         const struct bk_record *rec,
                         struct bk_arena *scratch)
{
    struct bk_coord_group *gc = data;
    (void)scratch;
    (void)txn_hold(gc, partition, producer_id, rec->key, rec->value);
}

static size_t unload(void *data, int32_t partition)
{
    struct bk_coord_group *gc = data;
    size_t n = 0;
    txn_take(gc, partition, -1, false);
    struct bk_group *g = gc->reg.groups;
    while (g != NULL) {
        struct bk_group *next = g->next;
        if (bk_coord_group_partition(gc, g) == partition) {
            bk_group_remove(&gc->reg, g);
            n++;
        }
        g = next;
    }
    return n;
}

static size_t count(void *data)
{
    const struct bk_coord_group *gc = data;
    return gc->reg.ngroups;
}

static const struct bk_coord_ops group_ops = {
    .topic = BK_OFFSETS_TOPIC,
    .log_sub = "group",
    .load_record = load_record,
    .unload = unload,
    .count = count,
    .load_pending = load_pending,
};

/* ---- places and opening ---- */

int32_t bk_coord_group_partition(const struct bk_coord_group *gc,
                                 const struct bk_group *g)
{
    int32_t n = 0;
    struct bk_md_image *img = bk_md_image_acquire(gc->md);
    if (img != NULL) {
        const struct bk_md_topic *t =
            bk_md_image_topic(img, BK_OFFSETS_TOPIC, strlen(BK_OFFSETS_TOPIC));
        n = t != NULL ? t->n_partitions : 0;
        bk_md_image_release(img);
    }
    return bk_coord_key_partition(bk_group_id(g), n);
}

int16_t bk_coord_group_open(struct bk_coord_group *gc,
                            const struct bk_uuid *topic_id,
                            int32_t partition,
                            bk_coord_open_fn open,
                            void *arg)
{
    return bk_coord_open(&gc->rt, topic_id, partition, open, arg);
}

void bk_coord_group_open_all(struct bk_coord_group *gc,
                             const struct bk_md_image *img,
                             int32_t node_id,
                             unsigned nshards,
                             bk_coord_open_fn open,
                             void *arg)
{
    const struct bk_md_topic *t =
        img != NULL
            ? bk_md_image_topic(img, BK_OFFSETS_TOPIC, strlen(BK_OFFSETS_TOPIC))
            : NULL;
    if (t != NULL && !bk_coord_closed(&gc->rt)) {
        bk_coord_open_all(&gc->rt, t, node_id, nshards, open, arg);
    }
}

struct bk_group_registry *bk_coord_group_registry(struct bk_coord_group *gc)
{
    return &gc->reg;
}

/* ---- writing ---- */

int16_t bk_coord_group_append(struct bk_coord_group *gc,
                              int32_t partition,
                              const struct bk_coord_rec *recs,
                              size_t n,
                              const struct bk_coord_waiter *w)
{
    return bk_coord_append(&gc->rt, partition, recs, n, w);
}

/* Appends a list of records to g's partition; w as for bk_coord_append. */
static int16_t append_recs(struct bk_coord_group *gc,
                           const struct bk_group *g,
                           const struct bk_gr_recs *rs,
                           const struct bk_coord_waiter *w)
{
    if (rs->failed) {
        return BK_KERR_UNKNOWN_SERVER_ERROR;
    }
    if (rs->n == 0) {
        return BK_KERR_NONE;
    }
    struct bk_coord_rec *recs = bk_arena_alloc(rs->a, rs->n * sizeof(*recs));
    if (recs == NULL) {
        return BK_KERR_UNKNOWN_SERVER_ERROR;
    }
    for (size_t i = 0; i < rs->n; i++) {
        recs[i] = (struct bk_coord_rec){ rs->v[i].key, rs->v[i].value };
    }
    return bk_coord_append(&gc->rt, bk_coord_group_partition(gc, g), recs,
                           rs->n, w);
}

/* Writes g's pending records, if any. */
static void flush_group(struct bk_coord_group *gc,
                        struct bk_group *g,
                        const struct bk_coord_waiter *w)
{
    struct bk_arena a;
    bk_arena_init(&a, 4096, 0);
    struct bk_gr_recs rs = { .a = &a };
    bk_group_pending_records(g, &rs);
    if (rs.n > 0 && bk_coord_failed(&gc->rt, bk_coord_group_partition(gc, g))) {
        /* Its partition is no longer coordinated (bk_coord_open): its
         * records wait for the restart that reloads the group, and they
         * must not fail the operations of other groups. */
        bk_arena_destroy(&a);
        return;
    }
    if (rs.n > 0) {
        int16_t err = append_recs(gc, g, &rs, w);
        /* On failure the flags stay and the next flush retries; the
         * operation waiting, if any, is not told it worked. */
        if (err == BK_KERR_NONE) {
            bk_group_pending_clear(g);
        } else if (w != NULL && w->err != NULL) {
            *w->err = err;
        }
    }
    bk_arena_destroy(&a);
}

void bk_coord_group_flush(struct bk_coord_group *gc,
                          const struct bk_coord_waiter *w)
{
    for (struct bk_group *g = gc->reg.groups; g != NULL; g = g->next) {
        flush_group(gc, g, w);
    }
    /* After a failed append the runtime reloads the partition's groups
     * (their parked requests are answered and given back right away). */
    bk_coord_settle(&gc->rt);
}

int16_t bk_coord_group_append_txn(struct bk_coord_group *gc,
                                  int32_t partition,
                                  const struct bk_coord_rec *recs,
                                  size_t n,
                                  int64_t producer_id,
                                  int16_t producer_epoch,
                                  const struct bk_coord_waiter *w)
{
    int16_t err = bk_coord_append_txn(&gc->rt, partition, recs, n, producer_id,
                                      producer_epoch, w);
    for (size_t i = 0; err == BK_KERR_NONE && i < n; i++) {
        if (txn_hold(gc, partition, producer_id, recs[i].key, recs[i].value) !=
            0) {
            /* Written but not held: reading the partition back holds
             * it again. */
            bk_coord_mark_stale(&gc->rt, partition);
        }
    }
    return err;
}

void bk_coord_group_txn_end(struct bk_coord_group *gc,
                            int32_t partition,
                            int64_t producer_id,
                            bool commit)
{
    txn_take(gc, partition, producer_id, commit);
}

bool bk_coord_group_txn_pending(struct bk_coord_group *gc,
                                struct bk_str group,
                                struct bk_str topic,
                                int32_t partition)
{
    for (size_t i = 0; i < gc->ntxn; i++) {
        struct bk_gr_key k;
        if (bk_gr_key_decode(
                (struct bk_bytes){ gc->txn[i].key, gc->txn[i].key_len }, &k) ==
                0 &&
            k.version <= 1 && bk_str_eq(k.group, group) &&
            bk_str_eq(k.topic, topic) && k.partition == partition) {
            return true;
        }
    }
    return false;
}

int16_t bk_coord_group_delete(struct bk_coord_group *gc,
                              struct bk_group *g,
                              const struct bk_coord_waiter *w)
{
    struct bk_arena a;
    bk_arena_init(&a, 4096, 0);
    struct bk_gr_recs rs = { .a = &a };
    bk_group_delete_records(g, &rs);
    int16_t err = append_recs(gc, g, &rs, w);
    bk_arena_destroy(&a);
    if (err == BK_KERR_NONE) {
        bk_group_remove(&gc->reg, g);
    }
    return err;
}

/* ---- registry hooks ---- */

static void hook_join(void *data,
                      void *waiter,
                      const struct bk_group_join_result *r)
{
    struct bk_coord_group *gc = data;
    struct bk_coord_gwait *w = waiter;
    w->join_done(w, r);
    bk_coord_park(&gc->rt, w->partition, &w->waiter);
}

static void hook_sync(void *data,
                      void *waiter,
                      int16_t error,
                      const char *pt,
                      const char *pn,
                      const uint8_t *a,
                      size_t alen)
{
    struct bk_coord_group *gc = data;
    struct bk_coord_gwait *w = waiter;
    w->sync_done(w, error, pt, pn, a, alen);
    bk_coord_park(&gc->rt, w->partition, &w->waiter);
}

static void hook_offset_expired(void *data,
                                const struct bk_group *g,
                                const char *topic,
                                int32_t partition)
{
    struct bk_coord_group *gc = data;
    struct bk_arena a;
    bk_arena_init(&a, 1024, 0);
    struct bk_coord_rec rec = {
        .key = bk_gr_offset_key(&a, bk_group_id(g), bk_str_c(topic), partition),
        .value = BK_BYTES_NULL,
    };
    (void)bk_coord_append(&gc->rt, bk_coord_group_partition(gc, g), &rec, 1,
                          NULL);
    bk_arena_destroy(&a);
}

static void hook_group_expired(void *data, const struct bk_group *g)
{
    struct bk_coord_group *gc = data;
    struct bk_arena a;
    bk_arena_init(&a, 1024, 0);
    struct bk_gr_recs rs = { .a = &a };
    bk_group_delete_records(g, &rs);
    (void)append_recs(gc, g, &rs, NULL);
    bk_arena_destroy(&a);
}

static int32_t hook_topic_lookup(void *data,
                                 const char *name,
                                 struct bk_uuid *id)
{
    struct bk_coord_group *gc = data;
    struct bk_md_image *img = bk_md_image_acquire(gc->md);
    const struct bk_md_topic *t =
        img != NULL ? bk_md_image_topic(img, name, strlen(name)) : NULL;
    int32_t n = -1;
    if (t != NULL) {
        *id = t->id;
        n = t->n_partitions;
    }
    bk_md_image_release(img);
    return n;
}

static bool hook_topic_name(void *data,
                            const struct bk_uuid *id,
                            char *buf,
                            size_t cap)
{
    struct bk_coord_group *gc = data;
    struct bk_md_image *img = bk_md_image_acquire(gc->md);
    const struct bk_md_topic *t =
        img != NULL ? bk_md_image_topic_by_id(img, id) : NULL;
    bool ok = t != NULL && strlen(t->name) < cap;
    if (ok) {
        memcpy(buf, t->name, strlen(t->name) + 1);
    }
    bk_md_image_release(img);
    return ok;
}

static void hook_topic_each(void *data,
                            void (*fn)(void *arg, const char *name),
                            void *arg)
{
    struct bk_coord_group *gc = data;
    struct bk_md_image *img = bk_md_image_acquire(gc->md);
    for (size_t i = 0; img != NULL && i < img->n_topics; i++) {
        fn(arg, img->by_name[i]->name);
    }
    bk_md_image_release(img);
}

/* ---- lifecycle ---- */

struct bk_coord_group *bk_coord_group_new(struct bk_md *md,
                                          struct bk_part_table *parts,
                                          const struct bk_group_config *cfg,
                                          const struct bk_clock *clock,
                                          unsigned shard_id)
{
    struct bk_coord_group *gc = bk_calloc(1, sizeof(*gc));
    if (gc == NULL) {
        return NULL;
    }
    gc->md = md;
    bk_coord_init(&gc->rt, &group_ops, gc, parts, clock, shard_id);
    struct bk_group_hooks hooks = {
        .join_done = hook_join,
        .sync_done = hook_sync,
        .offset_expired = hook_offset_expired,
        .group_expired = hook_group_expired,
        .data = gc,
        .topic_lookup = hook_topic_lookup,
        .topic_name = hook_topic_name,
        .topic_each = hook_topic_each,
    };
    struct bk_group_config c = *cfg;
    if (c.max_session_timeout_ms == 0) {
        bk_group_config_default(&c);
    }
    bk_group_registry_init(&gc->reg, &c, clock, &hooks);
    return gc;
}

void bk_coord_group_tick(struct bk_coord_group *gc)
{
    if (bk_coord_closed(&gc->rt)) {
        return;
    }
    bk_group_tick(&gc->reg);
    bk_coord_group_flush(gc, NULL);
}

void bk_coord_group_close(struct bk_coord_group *gc)
{
    if (bk_coord_closed(&gc->rt)) {
        return;
    }
    /* Closed first, so that the answers the registry gives while closing
     * go out at once instead of parking. */
    bk_coord_close(&gc->rt);
    bk_group_registry_close(&gc->reg);
}

bool bk_coord_group_closed(const struct bk_coord_group *gc)
{
    return bk_coord_closed(&gc->rt);
}

void bk_coord_group_free(struct bk_coord_group *gc)
{
    if (gc == NULL) {
        return;
    }
    bk_coord_group_close(gc);
    bk_coord_free(&gc->rt);
    for (size_t i = 0; i < gc->ntxn; i++) {
        bk_free(gc->txn[i].key);
        bk_free(gc->txn[i].value);
    }
    bk_free(gc->txn);
    bk_free(gc);
}
