/* The group coordinator glue; see group_coord.h.
 *
 * Happy path of a group request: the handler (connection's shard) routes
 * the group to the shard owning its __consumer_offsets partition; there,
 * bk_gcoord_open() opens the partition (reading it back into the registry
 * the first time since start), the handler runs the registry operation,
 * and any change is appended to the partition in Kafka's record formats.
 * Failure modes: the offsets topic missing or led elsewhere
 * (NOT_COORDINATOR, the client asks FindCoordinator again), the partition
 * failing to open or append (COORDINATOR_NOT_AVAILABLE /
 * KAFKA_STORAGE_ERROR), a malformed record while loading (logged and
 * skipped: the rest still loads). */
#include "api/group_coord.h"

#include <string.h>

#include "cluster/controller.h"
#include "cluster/ops.h"
#include "common/assert.h"
#include "common/heap.h"
#include "common/log.h"
#include "group/persist.h"
#include "partition/replica.h"
#include "protocol/kerr.h"
#include "protocol/record_batch.h"

#define LOAD_CHUNK            (1024 * 1024)
#define LOAD_MAX_UNCOMPRESSED (64 * 1024 * 1024)

enum { LOAD_NONE = 0, LOAD_DONE, LOAD_STALE };

struct bk_gcoord {
    struct bk_group_registry reg;
    struct bk_shard *shard;
    struct bk_uuid topic_id; /* of the offsets topic seen last */
    /* Per partition: LOAD_NONE, LOAD_DONE (read back into the registry)
     * or LOAD_STALE (an append failed, so memory may be ahead of the log:
     * its groups are unloaded and read back before they serve again). */
    uint8_t *loaded;
    int32_t nparts;
    bool closed;
    /* Parked answers given since the last flush (struct bk_gwait): the
     * flush releases them once their partition is on disk. */
    struct bk_gwait **answered;
    size_t nanswered, cap_answered;
};

/* ---- heap results ---- */

struct bk_gbuf_chunk {
    struct bk_gbuf_chunk *next;
    max_align_t align[];
};

void *bk_gbuf_alloc(struct bk_gbuf *b, size_t n)
{
    struct bk_gbuf_chunk *c = bk_malloc(sizeof(*c) + n + 1);
    if (c == NULL) {
        b->failed = true;
        return NULL;
    }
    c->next = b->head;
    b->head = c;
    return c->align;
}

struct bk_str bk_gbuf_str(struct bk_gbuf *b, const char *s)
{
    if (s == NULL) {
        return BK_STR_NULL;
    }
    return bk_gbuf_strn(b, s, strlen(s));
}

struct bk_str bk_gbuf_strn(struct bk_gbuf *b, const char *s, size_t n)
{
    char *p = bk_gbuf_alloc(b, n + 1);
    if (p == NULL) {
        return bk_str_c("");
    }
    if (n > 0) {
        memcpy(p, s, n);
    }
    p[n] = '\0';
    return (struct bk_str){ p, (int32_t)n };
}

struct bk_bytes bk_gbuf_bytes(struct bk_gbuf *b, const void *src, size_t n)
{
    uint8_t *p = bk_gbuf_alloc(b, n);
    if (p == NULL) {
        return (struct bk_bytes){ NULL, 0 };
    }
    if (n > 0) {
        memcpy(p, src, n);
    }
    return (struct bk_bytes){ p, (int32_t)n };
}

void bk_gbuf_move(struct bk_gbuf *dst, struct bk_gbuf *src)
{
    while (src->head != NULL) {
        struct bk_gbuf_chunk *c = src->head;
        src->head = c->next;
        c->next = dst->head;
        dst->head = c;
    }
    dst->failed |= src->failed;
}

void bk_gbuf_free(struct bk_gbuf *b)
{
    while (b->head != NULL) {
        struct bk_gbuf_chunk *c = b->head;
        b->head = c->next;
        bk_free(c);
    }
}

/* ---- routing ---- */

int32_t bk_gcoord_partition_for(struct bk_str group_id, int32_t n)
{
    /* Java's String.hashCode over UTF-16 code units: decode the UTF-8 id,
     * splitting code points above U+FFFF into surrogate pairs. */
    uint32_t h = 0;
    const uint8_t *p = (const uint8_t *)group_id.ptr;
    size_t len = group_id.len > 0 ? (size_t)group_id.len : 0;
    for (size_t i = 0; i < len;) {
        uint32_t cp = p[i];
        size_t extra = 0;
        if (cp >= 0xf0 && cp < 0xf8) {
            cp &= 0x07;
            extra = 3;
        } else if (cp >= 0xe0) {
            cp &= 0x0f;
            extra = 2;
        } else if (cp >= 0xc0) {
            cp &= 0x1f;
            extra = 1;
        }
        if (i + extra >= len && extra > 0) {
            extra = len - i - 1;
        }
        for (size_t k = 1; k <= extra; k++) {
            cp = (cp << 6) | (p[i + k] & 0x3f);
        }
        i += extra + 1;
        if (cp >= 0x10000) {
            cp -= 0x10000;
            h = 31 * h + (0xd800 + (cp >> 10));
            h = 31 * h + (0xdc00 + (cp & 0x3ff));
        } else {
            h = 31 * h + cp;
        }
    }
    int32_t s = (int32_t)h;
    /* Kafka's Utils.abs: MIN_VALUE maps to 0. */
    int32_t a = s == INT32_MIN ? 0 : (s < 0 ? -s : s);
    return n > 0 ? a % n : 0;
}

int16_t bk_gcoord_route(const struct bk_call *call,
                        const struct bk_md_image *img,
                        struct bk_str group_id,
                        int32_t *partition,
                        unsigned *owner,
                        struct bk_uuid *topic_id)
{
    if (group_id.len < 0) {
        return BK_KERR_INVALID_GROUP_ID;
    }
    const struct bk_md_topic *t =
        img != NULL
            ? bk_md_image_topic(img, BK_OFFSETS_TOPIC, strlen(BK_OFFSETS_TOPIC))
            : NULL;
    if (t == NULL || t->n_partitions <= 0) {
        return BK_KERR_NOT_COORDINATOR;
    }
    int32_t p = bk_gcoord_partition_for(group_id, t->n_partitions);
    const struct bk_md_partition *mp = bk_md_topic_partition(t, p);
    if (mp == NULL || mp->leader != call->ctx->node_id) {
        return BK_KERR_NOT_COORDINATOR;
    }
    *partition = p;
    *topic_id = t->id;
    *owner = bk_shard_for_partition(bk_hash64(t->id.b, sizeof(t->id.b)), p,
                                    call->req->shard->group->n);
    return BK_KERR_NONE;
}

/* ---- loading ---- */

static void apply_record(struct bk_gcoord *gc,
                         const struct bk_record *rec,
                         struct bk_arena *scratch)
{
    bk_group_load_record(&gc->reg, rec->key, rec->value, scratch);
}

static void apply_batch(struct bk_gcoord *gc, const uint8_t *b, size_t len)
{
    struct bk_arena scratch;
    bk_arena_init(&scratch, 64 * 1024, 0);
    struct bk_record_iter it;
    if (bk_record_iter_init(&it, b, len, &scratch, LOAD_MAX_UNCOMPRESSED) ==
            0 &&
        (it.attributes & BK_RB_ATTR_CONTROL) == 0) {
        struct bk_record rec;
        while (bk_record_iter_next(&it, &rec) == 1) {
            apply_record(gc, &rec, &scratch);
        }
    }
    bk_arena_destroy(&scratch);
}

/* Reads partition p back into the registry. Returns 0, or the error of a
 * read that failed (the caller unloads what was read: a partial load would
 * put memory behind the log). */
static int load_partition(struct bk_gcoord *gc, struct bk_partition *p)
{
    int err = 0;
    int64_t off = bk_replica_log_start(p);
    int64_t end = bk_replica_log_end(p);
    size_t cap = LOAD_CHUNK;
    uint8_t *buf = bk_malloc(cap);
    size_t nbatches = 0;
    while (buf != NULL && off < end) {
        size_t len = 0;
        int64_t next = off;
        int rv = bk_replica_read_copy(p, off, buf, cap, &len, &next);
        if (rv == BK_ETOOLARGE && len > cap) {
            uint8_t *nb = bk_realloc(buf, len);
            if (nb == NULL) {
                err = BK_ENOMEM;
                break;
            }
            buf = nb;
            cap = len;
            continue;
        }
        if (rv != 0 || len == 0 || next <= off) {
            if (rv != 0) {
                bk_log_error("group",
                             "partition=%d offset=%lld msg=\"reading "
                             "__consumer_offsets failed: %s\"",
                             p->index, (long long)off, bk_strerror(rv));
                err = rv;
            }
            break;
        }
        for (size_t pos = 0; pos + 12 <= len;) {
            uint32_t blen = ((uint32_t)buf[pos + 8] << 24) |
                            ((uint32_t)buf[pos + 9] << 16) |
                            ((uint32_t)buf[pos + 10] << 8) | buf[pos + 11];
            size_t total = 12 + (size_t)blen;
            if (pos + total > len) {
                break;
            }
            apply_batch(gc, buf + pos, total);
            nbatches++;
            pos += total;
        }
        off = next;
    }
    if (buf == NULL) {
        err = BK_ENOMEM;
    }
    bk_free(buf);
    if (err != 0) {
        return err;
    }
    if (nbatches > 0) {
        bk_log_info("group",
                    "shard=%u partition=%d batches=%zu groups=%zu "
                    "msg=\"loaded groups and offsets\"",
                    gc->shard->id, p->index, nbatches, gc->reg.ngroups);
    }
    return 0;
}

/* Removes every group of `partition` from the registry (parked joins and
 * syncs there are answered with COORDINATOR_NOT_AVAILABLE) and marks it
 * not loaded, so that its next use reads it back from the log. */
static void unload_partition(struct bk_gcoord *gc, int32_t partition)
{
    struct bk_group *g = gc->reg.groups;
    size_t n = 0;
    while (g != NULL) {
        struct bk_group *next = g->next;
        if (bk_gcoord_group_partition(gc, g) == partition) {
            bk_group_remove(&gc->reg, g);
            n++;
        }
        g = next;
    }
    if (partition < gc->nparts) {
        gc->loaded[partition] = LOAD_NONE;
    }
    bk_log_info("group",
                "shard=%u partition=%d groups=%zu msg=\"unloaded groups "
                "after a failed write, reloading them from the log\"",
                gc->shard->id, partition, n);
}

/* An append to `partition` failed: the change that made it may already be
 * in memory (the registry applies changes before they are written). */
static void mark_stale(struct bk_gcoord *gc, int32_t partition)
{
    if (partition >= 0 && partition < gc->nparts &&
        gc->loaded[partition] == LOAD_DONE) {
        gc->loaded[partition] = LOAD_STALE;
    }
}

static void unload_stale(struct bk_gcoord *gc)
{
    for (int32_t p = 0; p < gc->nparts; p++) {
        if (gc->loaded[p] == LOAD_STALE) {
            unload_partition(gc, p);
        }
    }
}

struct bk_gcoord *bk_gcoord_open(struct bk_fan_part *part,
                                 const struct bk_md_image *img,
                                 const struct bk_uuid *topic_id,
                                 int32_t partition,
                                 int16_t *err)
{
    struct bk_api_shard *sh = bk_fan_shard_state(part);
    struct bk_gcoord *gc = sh->gcoord;
    if (gc == NULL || gc->closed) {
        *err = BK_KERR_COORDINATOR_NOT_AVAILABLE;
        return NULL;
    }
    if (memcmp(&gc->topic_id, topic_id, sizeof(*topic_id)) != 0) {
        /* First use, or the topic was recreated: load everything again. */
        gc->topic_id = *topic_id;
        if (gc->loaded != NULL) {
            memset(gc->loaded, 0, (size_t)gc->nparts);
        }
    }
    if (partition >= gc->nparts) {
        uint8_t *l = bk_realloc(gc->loaded, (size_t)partition + 1);
        if (l == NULL) {
            *err = BK_KERR_COORDINATOR_NOT_AVAILABLE;
            return NULL;
        }
        memset(l + gc->nparts, 0, (size_t)(partition + 1 - gc->nparts));
        gc->loaded = l;
        gc->nparts = partition + 1;
    }
    struct bk_partition *p =
        bk_fan_open_partition(part, img, topic_id, partition, -1, err);
    if (p == NULL) {
        /* Not this broker's partition (or no longer): clients look for
         * the coordinator again. */
        *err = *err == BK_KERR_UNKNOWN_TOPIC_OR_PARTITION ||
                       *err == BK_KERR_NOT_LEADER_OR_FOLLOWER
                   ? BK_KERR_NOT_COORDINATOR
                   : BK_KERR_COORDINATOR_NOT_AVAILABLE;
        return NULL;
    }
    if (bk_replica_failed(p)) {
        /* A write failed: what this shard holds in memory for these
         * groups may be ahead of the log, so it stops coordinating them,
         * as Kafka does once the log directory is offline. */
        *err = BK_KERR_NOT_COORDINATOR;
        return NULL;
    }
    bk_assert(gc->loaded != NULL); /* grown above to hold partition */
    if (gc->loaded[partition] == LOAD_STALE) {
        /* An append failed since the last flush: bring memory back in
         * line with the log before serving these groups again. */
        unload_partition(gc, partition);
    }
    if (gc->loaded[partition] == LOAD_NONE) {
        int rv = load_partition(gc, p);
        if (rv != 0) {
            unload_partition(gc, partition);
            *err = BK_KERR_COORDINATOR_NOT_AVAILABLE;
            return NULL;
        }
        gc->loaded[partition] = LOAD_DONE;
    }
    *err = BK_KERR_NONE;
    return gc;
}

struct bk_group_registry *bk_gcoord_registry(struct bk_gcoord *gc)
{
    return &gc->reg;
}

/* ---- writing ---- */

struct sync_ctx {
    struct bk_log_sync_req req;
    struct bk_fan_part *part;
    int16_t *err;
};

static void synced_cb(struct bk_log_sync_req *req, int status)
{
    struct sync_ctx *s = req->data;
    if (status != 0 && s->err != NULL) {
        *s->err = BK_KERR_NOT_COORDINATOR;
    }
    struct bk_fan_part *part = s->part;
    bk_free(s);
    bk_fan_release(part);
}

int16_t bk_gcoord_append(struct bk_gcoord *gc,
                         int32_t partition,
                         const struct bk_gcoord_rec *recs,
                         size_t n,
                         struct bk_fan_part *part,
                         int16_t *sync_err)
{
    struct bk_api_shard *sh = gc->shard->app;
    struct bk_partition *p =
        bk_part_find(&sh->rmgr.parts, &gc->topic_id, partition);
    if (p == NULL) {
        return BK_KERR_NOT_COORDINATOR;
    }
    if (n == 0) {
        return BK_KERR_NONE;
    }
    struct bk_batch_builder b;
    bk_batch_builder_init(&b, BK_CODEC_NONE);
    int64_t now = bk_clock_wall_ms(gc->reg.clock);
    int rv = 0;
    for (size_t i = 0; i < n && rv == 0; i++) {
        rv = bk_batch_builder_add(&b, now, recs[i].key, recs[i].value, NULL, 0);
    }
    uint8_t *out = NULL;
    size_t len = 0;
    if (rv == 0) {
        rv = bk_batch_builder_finish(&b, NULL, &out, &len);
    }
    bk_batch_builder_free(&b);
    if (rv != 0) {
        return BK_KERR_UNKNOWN_SERVER_ERROR;
    }
    int64_t base_offset, last_offset;
    rv = bk_replica_append_records(p, out, len, (int32_t)n, now, &base_offset,
                                   &last_offset);
    bk_free(out);
    if (rv != 0) {
        bk_log_error("group",
                     "partition=%d msg=\"appending to __consumer_offsets "
                     "failed: %s\"",
                     partition, bk_strerror(rv));
        /* Transient errors and ENOSPC leave the log working; either way
         * the registry may hold what this append was to write. */
        mark_stale(gc, partition);
        return rv == BK_ETOOLARGE ? BK_KERR_OFFSET_METADATA_TOO_LARGE
                                  : BK_KERR_NOT_COORDINATOR;
    }
    if (part != NULL && bk_replica_durable_offset(p) < last_offset + 1) {
        struct sync_ctx *s = bk_calloc(1, sizeof(*s));
        if (s == NULL) {
            return BK_KERR_UNKNOWN_SERVER_ERROR;
        }
        s->req.data = s;
        s->part = part;
        s->err = sync_err;
        bk_fan_hold(part);
        if (bk_replica_sync(p, last_offset + 1, &s->req, synced_cb) != 0) {
            bk_free(s);
            bk_fan_release(part);
            return BK_KERR_NOT_COORDINATOR;
        }
    }
    return BK_KERR_NONE;
}

int32_t bk_gcoord_group_partition(const struct bk_gcoord *gc,
                                  const struct bk_group *g)
{
    struct bk_api_shard *sh = gc->shard->app;
    (void)sh;
    int32_t n = 0;
    const struct bk_api_ctx *ctx = gc->shard->group->app;
    struct bk_md_image *img = bk_md_image_acquire(ctx->md);
    if (img != NULL) {
        const struct bk_md_topic *t =
            bk_md_image_topic(img, BK_OFFSETS_TOPIC, strlen(BK_OFFSETS_TOPIC));
        n = t != NULL ? t->n_partitions : 0;
        bk_md_image_release(img);
    }
    return bk_gcoord_partition_for(bk_group_id(g), n);
}

/* A parked request has its answer: it goes out after the next flush has
 * made the change that answered it durable (release_answered), or now
 * when the coordinator is closing or out of memory. */
static void answered(struct bk_gcoord *gc, struct bk_gwait *w)
{
    if (!gc->closed && gc->nanswered == gc->cap_answered) {
        size_t cap = gc->cap_answered ? 2 * gc->cap_answered : 8;
        struct bk_gwait **v =
            bk_realloc(gc->answered, cap * sizeof(*gc->answered));
        if (v != NULL) {
            gc->answered = v;
            gc->cap_answered = cap;
        }
    }
    if (gc->closed || gc->nanswered == gc->cap_answered) {
        bk_fan_release(w->part);
        return;
    }
    gc->answered[gc->nanswered++] = w;
}

/* After a flush: each answered request waits for an fdatasync of its
 * group's partition when that holds anything not yet on disk; a failed
 * sync becomes its error. */
static void release_answered(struct bk_gcoord *gc)
{
    struct bk_api_shard *sh = gc->shard->app;
    for (size_t i = 0; i < gc->nanswered; i++) {
        struct bk_gwait *w = gc->answered[i];
        struct bk_fan_part *part = w->part;
        struct bk_partition *p =
            bk_part_find(&sh->rmgr.parts, &gc->topic_id, w->partition);
        if (w->partition >= 0 && w->partition < gc->nparts &&
            gc->loaded[w->partition] == LOAD_STALE) {
            /* The records of the change that answered it may not have
             * been written: it must not report success. */
            *bk_gops_sync_err(part->fan->data, part) = BK_KERR_NOT_COORDINATOR;
            bk_fan_release(part);
            continue;
        }
        int64_t end = p != NULL ? bk_replica_log_end(p) : 0;
        if (p == NULL || bk_replica_durable_offset(p) >= end) {
            bk_fan_release(part);
            continue;
        }
        int16_t *err = bk_gops_sync_err(part->fan->data, part);
        struct sync_ctx *s = bk_calloc(1, sizeof(*s));
        if (s == NULL) {
            *err = BK_KERR_UNKNOWN_SERVER_ERROR;
            bk_fan_release(part);
            continue;
        }
        s->req.data = s;
        s->part = part; /* takes over the parked hold */
        s->err = err;
        if (bk_replica_sync(p, end, &s->req, synced_cb) != 0) {
            bk_free(s);
            *err = BK_KERR_NOT_COORDINATOR;
            bk_fan_release(part);
        }
    }
    gc->nanswered = 0;
}

/* Appends a list of records to g's partition; part and sync_err as for
 * bk_gcoord_append(). */
static int16_t append_recs(struct bk_gcoord *gc,
                           const struct bk_group *g,
                           const struct bk_gr_recs *rs,
                           struct bk_fan_part *part,
                           int16_t *sync_err)
{
    if (rs->failed) {
        return BK_KERR_UNKNOWN_SERVER_ERROR;
    }
    if (rs->n == 0) {
        return BK_KERR_NONE;
    }
    struct bk_gcoord_rec *recs = bk_arena_alloc(rs->a, rs->n * sizeof(*recs));
    if (recs == NULL) {
        return BK_KERR_UNKNOWN_SERVER_ERROR;
    }
    for (size_t i = 0; i < rs->n; i++) {
        recs[i] = (struct bk_gcoord_rec){ rs->v[i].key, rs->v[i].value };
    }
    return bk_gcoord_append(gc, bk_gcoord_group_partition(gc, g), recs, rs->n,
                            part, sync_err);
}

/* g's partition of __consumer_offsets has a failed log. */
static bool group_log_failed(struct bk_gcoord *gc, const struct bk_group *g)
{
    struct bk_api_shard *sh = gc->shard->app;
    struct bk_partition *p = bk_part_find(&sh->rmgr.parts, &gc->topic_id,
                                          bk_gcoord_group_partition(gc, g));
    return p != NULL && bk_replica_failed(p);
}

void bk_gcoord_flush(struct bk_gcoord *gc,
                     struct bk_fan_part *part,
                     int16_t *sync_err)
{
    for (struct bk_group *g = gc->reg.groups; g != NULL; g = g->next) {
        struct bk_arena a;
        bk_arena_init(&a, 4096, 0);
        struct bk_gr_recs rs = { .a = &a };
        bk_group_pending_records(g, &rs);
        if (rs.n > 0 && group_log_failed(gc, g)) {
            /* Its partition is no longer coordinated (bk_gcoord_open):
             * its records wait for the restart that reloads the group,
             * and they must not fail the operations of other groups. */
            bk_arena_destroy(&a);
            continue;
        }
        if (rs.n > 0) {
            int16_t err = append_recs(gc, g, &rs, part, sync_err);
            /* On failure the flags stay and the next flush retries; the
             * operation waiting, if any, is not told it worked. */
            if (err == BK_KERR_NONE) {
                bk_group_pending_clear(g);
            } else if (sync_err != NULL) {
                *sync_err = err;
            }
        }
        bk_arena_destroy(&a);
    }
    release_answered(gc);
    /* After a failed append, reload the partition's groups (their parked
     * requests are answered and released right away). */
    unload_stale(gc);
    release_answered(gc);
}

int16_t bk_gcoord_delete_group(struct bk_gcoord *gc,
                               struct bk_group *g,
                               struct bk_fan_part *part,
                               int16_t *sync_err)
{
    struct bk_arena a;
    bk_arena_init(&a, 4096, 0);
    struct bk_gr_recs rs = { .a = &a };
    bk_group_delete_records(g, &rs);
    int16_t err = append_recs(gc, g, &rs, part, sync_err);
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
    struct bk_gwait *w = waiter;
    w->join_done(w, r);
    answered(data, w);
}

static void hook_sync(void *data,
                      void *waiter,
                      int16_t error,
                      const char *pt,
                      const char *pn,
                      const uint8_t *a,
                      size_t alen)
{
    struct bk_gwait *w = waiter;
    w->sync_done(w, error, pt, pn, a, alen);
    answered(data, w);
}

static void hook_offset_expired(void *data,
                                const struct bk_group *g,
                                const char *topic,
                                int32_t partition)
{
    struct bk_gcoord *gc = data;
    struct bk_arena a;
    bk_arena_init(&a, 1024, 0);
    struct bk_gcoord_rec rec = {
        .key = bk_gr_offset_key(&a, bk_group_id(g), bk_str_c(topic), partition),
        .value = BK_BYTES_NULL,
    };
    (void)bk_gcoord_append(gc, bk_gcoord_group_partition(gc, g), &rec, 1, NULL,
                           NULL);
    bk_arena_destroy(&a);
}

static void hook_group_expired(void *data, const struct bk_group *g)
{
    struct bk_gcoord *gc = data;
    struct bk_arena a;
    bk_arena_init(&a, 1024, 0);
    struct bk_gr_recs rs = { .a = &a };
    bk_group_delete_records(g, &rs);
    (void)append_recs(gc, g, &rs, NULL, NULL);
    bk_arena_destroy(&a);
}

static int32_t hook_topic_lookup(void *data,
                                 const char *name,
                                 struct bk_uuid *id)
{
    struct bk_gcoord *gc = data;
    const struct bk_api_ctx *ctx = gc->shard->group->app;
    struct bk_md_image *img = bk_md_image_acquire(ctx->md);
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
    struct bk_gcoord *gc = data;
    const struct bk_api_ctx *ctx = gc->shard->group->app;
    struct bk_md_image *img = bk_md_image_acquire(ctx->md);
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
    struct bk_gcoord *gc = data;
    const struct bk_api_ctx *ctx = gc->shard->group->app;
    struct bk_md_image *img = bk_md_image_acquire(ctx->md);
    for (size_t i = 0; img != NULL && i < img->n_topics; i++) {
        fn(arg, img->by_name[i]->name);
    }
    bk_md_image_release(img);
}

/* ---- lifecycle ---- */

void bk_gcoord_start(struct bk_shard *shard)
{
    const struct bk_api_ctx *ctx = shard->group->app;
    struct bk_api_shard *st = shard->app;
    struct bk_gcoord *gc = bk_calloc(1, sizeof(*gc));
    if (gc == NULL) {
        return; /* group requests on this shard answer "not available" */
    }
    gc->shard = shard;
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
    struct bk_group_config cfg = ctx->group;
    if (cfg.max_session_timeout_ms == 0) {
        bk_group_config_default(&cfg);
    }
    bk_group_registry_init(&gc->reg, &cfg, bk_clock_system(), &hooks);
    st->gcoord = gc;
}

void bk_gcoord_tick(struct bk_shard *shard)
{
    struct bk_api_shard *st = shard->app;
    struct bk_gcoord *gc = st->gcoord;
    if (gc == NULL || gc->closed) {
        return;
    }
    bk_group_tick(&gc->reg);
    bk_gcoord_flush(gc, NULL, NULL);
}

void bk_gcoord_drain(struct bk_shard *shard)
{
    struct bk_api_shard *st = shard->app;
    struct bk_gcoord *gc = st->gcoord;
    if (gc == NULL || gc->closed) {
        return;
    }
    /* Parked joins and syncs answer now (COORDINATOR_NOT_AVAILABLE), so
     * shutdown does not wait for rebalance timeouts. */
    gc->closed = true;
    bk_group_registry_close(&gc->reg);
}

void bk_gcoord_stop(struct bk_shard *shard)
{
    struct bk_api_shard *st = shard->app;
    struct bk_gcoord *gc = st->gcoord;
    if (gc == NULL) {
        return;
    }
    if (!gc->closed) {
        gc->closed = true; /* parked answers go out at once */
        bk_group_registry_close(&gc->reg);
    }
    for (size_t i = 0; i < gc->nanswered; i++) {
        bk_fan_release(gc->answered[i]->part); /* never strand one */
    }
    bk_free(gc->answered);
    bk_free(gc->loaded);
    bk_free(gc);
    st->gcoord = NULL;
}

/* ---- FindCoordinator helpers ---- */

int bk_gcoord_create_topic(struct bk_call *call,
                           void (*done)(struct bk_call *call, int status))
{
    struct bk_md_image *img = bk_api_image(call);
    if (img == NULL) {
        return BK_ENOMEM;
    }
    if (bk_md_image_topic(img, BK_OFFSETS_TOPIC, strlen(BK_OFFSETS_TOPIC)) !=
        NULL) {
        bk_md_image_release(img);
        done(call, 0);
        return 0;
    }
    int16_t rf = call->ctx->offsets_replication_factor > 0
                     ? call->ctx->offsets_replication_factor
                     : 3;
    size_t live = bk_md_image_live_brokers(img);
    if (live > 0 && (size_t)rf > live) {
        rf = (int16_t)live;
    }
    static const struct bk_md_kv_in configs[] = {
        { "cleanup.policy", "compact" },
        { "compression.type", "producer" },
        { "segment.bytes", "104857600" },
    };
    struct bk_md_topic_spec spec = {
        .name = bk_str_c(BK_OFFSETS_TOPIC),
        .num_partitions = call->ctx->offsets_partitions > 0
                              ? call->ctx->offsets_partitions
                              : 50,
        .replication_factor = rf,
        .n_configs = sizeof(configs) / sizeof(configs[0]),
        .configs = configs,
    };
    struct bk_md_defaults defs = {
        .num_partitions = call->ctx->num_partitions,
        .replication_factor = call->ctx->default_replication_factor,
    };
    struct bk_md_recs recs;
    bk_md_recs_init(&recs, call->arena);
    struct bk_md_create_result res;
    char *msg = bk_arena_alloc(call->arena, BK_MD_MSG_SIZE);
    if (msg == NULL) {
        bk_md_image_release(img);
        return BK_ENOMEM;
    }
    int16_t err = bk_md_op_create_topic(img, &spec, &defs, bk_md_rng_system(),
                                        &recs, &res, msg);
    bk_md_image_release(img);
    if (err != 0) {
        bk_log_warn("group", "msg=\"cannot create __consumer_offsets: %s\"",
                    msg);
        return BK_EINVAL;
    }
    bk_log_info("group",
                "partitions=%d replication_factor=%d msg=\"creating "
                "__consumer_offsets\"",
                res.num_partitions, res.replication_factor);
    return bk_api_propose(call, recs.v, recs.n, done);
}

bool bk_gcoord_broker_addr(const struct bk_call *call,
                           const struct bk_md_image *img,
                           int32_t node,
                           struct bk_str *host,
                           int32_t *port)
{
    if (node == call->ctx->node_id && call->ctx->nadvertised > 0) {
        *host = bk_str_c(call->ctx->advertised[0].host);
        *port = call->ctx->advertised[0].port;
        return true;
    }
    const struct bk_md_broker *b = bk_md_image_broker(img, node);
    if (b == NULL) {
        return false;
    }
    *host = bk_str_c(b->host);
    *port = b->port;
    return true;
}

/* ---- group operations ---- */

int bk_gops_init(struct bk_gops *ops, struct bk_call *call, size_t n)
{
    memset(ops, 0, sizeof(*ops));
    ops->call = call;
    ops->n = n;
    ops->items = bk_arena_alloc(call->arena, (n + 1) * sizeof(*ops->items));
    if (ops->items == NULL) {
        return BK_ENOMEM;
    }
    memset(ops->items, 0, (n + 1) * sizeof(*ops->items));
    return 0;
}

static void gops_run_part(struct bk_fan_part *part)
{
    struct bk_gops *ops = part->fan->data;
    struct bk_md_image *img = bk_md_image_acquire(ops->call->ctx->md);
    struct bk_gcoord *last = NULL;
    for (size_t k = 0; k < part->n; k++) {
        size_t i = part->idx[k];
        struct bk_gop_item *it = &ops->items[i];
        if (it->error != 0) {
            continue;
        }
        if (img == NULL) {
            it->error = BK_KERR_COORDINATOR_NOT_AVAILABLE;
            continue;
        }
        struct bk_gcoord *gc =
            bk_gcoord_open(part, img, &it->topic_id, it->partition, &it->error);
        if (gc == NULL) {
            continue;
        }
        last = gc;
        ops->run(ops, i, gc, part);
    }
    if (last != NULL) {
        bk_gcoord_flush(last, part, bk_gops_sync_err(ops, part));
    }
    bk_md_image_release(img);
    bk_fan_release(part);
}

static void gops_done(struct bk_fan *fan)
{
    struct bk_gops *ops = fan->data;
    for (size_t i = 0; i < ops->n; i++) {
        int16_t err = ops->sync_err[ops->owner[i]];
        if (err != 0 && ops->items[i].error == 0) {
            ops->items[i].error = err;
        }
    }
    ops->done(ops);
}

int16_t *bk_gops_sync_err(struct bk_gops *ops, struct bk_fan_part *part)
{
    return &ops->sync_err[part->owner->id];
}

int bk_gops_start(struct bk_gops *ops,
                  bk_gop_run_fn run,
                  bk_gops_done_fn done,
                  void *data)
{
    struct bk_call *call = ops->call;
    ops->run = run;
    ops->done = done;
    ops->data = data;
    unsigned *owner =
        bk_arena_alloc(call->arena, (ops->n + 1) * sizeof(*owner));
    size_t nshards = call->req->shard->group->n;
    ops->sync_err =
        bk_arena_alloc(call->arena, nshards * sizeof(*ops->sync_err));
    if (owner == NULL || ops->sync_err == NULL) {
        return BK_ENOMEM;
    }
    memset(ops->sync_err, 0, nshards * sizeof(*ops->sync_err));
    ops->owner = owner;
    struct bk_md_image *img = bk_api_image(call);
    for (size_t i = 0; i < ops->n; i++) {
        struct bk_gop_item *it = &ops->items[i];
        owner[i] = call->req->shard->id;
        it->error = bk_gcoord_route(call, img, it->group_id, &it->partition,
                                    &owner[i], &it->topic_id);
    }
    bk_md_image_release(img);
    return bk_fan_start(&ops->fan, call, ops->n, owner, gops_run_part,
                        gops_done, ops);
}

void *bk_gops_alloc(struct bk_call *call, size_t size, size_t ops_off, size_t n)
{
    uint8_t *st = bk_arena_alloc(call->arena, size);
    if (st != NULL) {
        memset(st, 0, size);
        if (bk_gops_init((struct bk_gops *)(void *)(st + ops_off), call, n) !=
            0) {
            st = NULL;
        }
    }
    if (st == NULL) {
        bk_req_fail(call->req, "out of memory");
    }
    return st;
}

void bk_gops_reply(struct bk_gops *ops, const void *resp)
{
    struct bk_gbuf mem = bk_gops_take(ops);
    bk_call_reply(ops->call, resp);
    bk_gbuf_free(&mem);
}

struct bk_gbuf bk_gops_take(struct bk_gops *ops)
{
    struct bk_gbuf all = { NULL, false };
    for (size_t i = 0; i < ops->n; i++) {
        bk_gbuf_move(&all, &ops->items[i].buf);
    }
    return all;
}

struct bk_gcoord *bk_gcoord_load_all(struct bk_fan_part *part,
                                     const struct bk_md_image *img)
{
    struct bk_api_shard *sh = bk_fan_shard_state(part);
    const struct bk_md_topic *t =
        img != NULL
            ? bk_md_image_topic(img, BK_OFFSETS_TOPIC, strlen(BK_OFFSETS_TOPIC))
            : NULL;
    if (sh->gcoord == NULL || sh->gcoord->closed) {
        return NULL;
    }
    if (t == NULL) {
        return sh->gcoord;
    }
    const struct bk_api_ctx *ctx = part->fan->call->ctx;
    uint64_t th = bk_hash64(t->id.b, sizeof(t->id.b));
    unsigned nshards = part->owner->group->n;
    for (int32_t p = 0; p < t->n_partitions; p++) {
        const struct bk_md_partition *mp = bk_md_topic_partition(t, p);
        if (mp == NULL || mp->leader != ctx->node_id ||
            bk_shard_for_partition(th, p, nshards) != part->owner->id) {
            continue;
        }
        int16_t err;
        (void)bk_gcoord_open(part, img, &t->id, p, &err);
    }
    return sh->gcoord;
}
