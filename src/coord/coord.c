/* The coordinator runtime's partitions: opening one, loading it back into
 * the user's memory, and dropping it (coord.h).
 *
 * Happy path: the first use of a partition since start reads every batch
 * from the log start to the log end and hands each record to
 * ops->load_record. Failure modes: the partition cannot be opened here
 * (NOT_COORDINATOR: the client asks FindCoordinator again) or not now
 * (COORDINATOR_NOT_AVAILABLE); a read fails (what was loaded is dropped:
 * a partial load would put memory behind the log); a malformed batch is
 * skipped, and the rest still loads. */
#include <string.h>

#include "common/assert.h"
#include "common/diag.h"
#include "common/err.h"
#include "common/hash.h"
#include "common/heap.h"
#include "coord/coord_int.h"
#include "partition/replica.h"
#include "protocol/control.h"
#include "protocol/kerr.h"

#define LOAD_CHUNK            (1024 * 1024)
#define LOAD_MAX_UNCOMPRESSED (64 * 1024 * 1024)
#define BATCH_HEADER          12 /* base offset (8) and length (4) */

void bk_coord_init(struct bk_coord *c,
                   const struct bk_coord_ops *ops,
                   void *data,
                   struct bk_part_table *parts,
                   const struct bk_clock *clock,
                   unsigned shard_id)
{
    memset(c, 0, sizeof(*c));
    c->ops = ops;
    c->data = data;
    c->parts = parts;
    c->clock = clock;
    c->shard_id = shard_id;
}

/* ---- loading ---- */

/* Transactional batches held back while loading, until their
 * producer's marker decides them (bk_coord_ops.load_pending). */
struct held {
    int64_t pid;
    uint8_t *batch; /* owned copy */
    size_t len;
};

struct load_state {
    struct held *v; /* owned */
    size_t n, cap;
};

static void apply_records(struct bk_coord *c,
                          int32_t partition,
                          const uint8_t *b,
                          size_t len,
                          int64_t pending_pid)
{
    struct bk_arena scratch;
    bk_arena_init(&scratch, 64 * 1024, 0);
    struct bk_record_iter it;
    if (bk_record_iter_init(&it, b, len, &scratch, LOAD_MAX_UNCOMPRESSED) ==
        0) {
        struct bk_record rec;
        while (bk_record_iter_next(&it, &rec) == 1) {
            if (pending_pid < 0) {
                c->ops->load_record(c->data, partition, &rec, &scratch);
            } else if (c->ops->load_pending != NULL) {
                c->ops->load_pending(c->data, partition, pending_pid, &rec,
                                     &scratch);
            }
        }
    }
    bk_arena_destroy(&scratch);
}

/* A marker of pid: its held batches apply (commit) or go (abort). */
static void decide(struct bk_coord *c,
                   int32_t partition,
                   struct load_state *ls,
                   int64_t pid,
                   bool commit)
{
    size_t w = 0;
    for (size_t i = 0; i < ls->n; i++) {
        struct held *h = &ls->v[i];
        if (h->pid != pid) {
            ls->v[w++] = *h;
            continue;
        }
        if (commit) {
            apply_records(c, partition, h->batch, h->len, -1);
        }
        bk_free(h->batch);
    }
    ls->n = w;
}

static void hold_batch(struct load_state *ls,
                       int64_t pid,
                       const uint8_t *b,
                       size_t len)
{
    if (ls->n == ls->cap) {
        size_t cap = ls->cap ? ls->cap * 2 : 4;
        struct held *v = bk_realloc(ls->v, cap * sizeof(*v));
        if (v == NULL) {
            return; /* out of memory: the batch is lost to this load */
        }
        ls->v = v;
        ls->cap = cap;
    }
    uint8_t *copy = bk_malloc(len);
    if (copy == NULL) {
        return;
    }
    memcpy(copy, b, len);
    ls->v[ls->n++] = (struct held){ pid, copy, len };
}

static void apply_batch(struct bk_coord *c,
                        int32_t partition,
                        struct load_state *ls,
                        const uint8_t *b,
                        size_t len)
{
    if (len < BK_RB_HEADER_SIZE) {
        return;
    }
    /* The header's attributes (offset 21) and producer id (43). */
    struct bk_rd rd;
    bk_rd_init(&rd, b + 21, len - 21);
    int16_t attributes = bk_rd_i16(&rd);
    bk_rd_skip(&rd, 43 - 23);
    int64_t pid = bk_rd_i64(&rd);
    bool txn = (attributes & BK_RB_ATTR_TRANSACTIONAL) != 0;
    if ((attributes & BK_RB_ATTR_CONTROL) != 0) {
        bool commit;
        int32_t coordinator_epoch;
        if (txn &&
            bk_ctrl_marker_read(b, len, &commit, &coordinator_epoch) == 0) {
            decide(c, partition, ls, pid, commit);
        }
        return; /* markers carry no state of ours */
    }
    if (txn && pid >= 0) {
        hold_batch(ls, pid, b, len);
        return;
    }
    apply_records(c, partition, b, len, -1);
}

/* Applies the whole batches in buf[0, len); returns how many. */
static size_t apply_batches(struct bk_coord *c,
                            int32_t partition,
                            struct load_state *ls,
                            const uint8_t *buf,
                            size_t len)
{
    size_t n = 0;
    for (size_t pos = 0; pos + BATCH_HEADER <= len; n++) {
        uint32_t blen = ((uint32_t)buf[pos + 8] << 24) |
                        ((uint32_t)buf[pos + 9] << 16) |
                        ((uint32_t)buf[pos + 10] << 8) | buf[pos + 11];
        size_t total = BATCH_HEADER + (size_t)blen;
        if (pos + total > len) {
            break;
        }
        apply_batch(c, partition, ls, buf + pos, total);
        pos += total;
    }
    return n;
}

/* The transactions still open when the load ended stay pending. */
static void end_load(struct bk_coord *c,
                     int32_t partition,
                     struct load_state *ls)
{
    for (size_t i = 0; i < ls->n; i++) {
        apply_records(c, partition, ls->v[i].batch, ls->v[i].len, ls->v[i].pid);
        bk_free(ls->v[i].batch);
    }
    bk_free(ls->v);
}

/* Reads p back through ops->load_record. Returns 0, or the error of a
 * read that failed (the caller unloads what was read). */
static int load_partition(struct bk_coord *c, struct bk_partition *p)
{
    int err = 0;
    int64_t off = bk_replica_log_start(p);
    int64_t end = bk_replica_log_end(p);
    size_t cap = LOAD_CHUNK, nbatches = 0;
    struct load_state ls = { NULL, 0, 0 };
    uint8_t *buf = bk_malloc(cap);
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
                bk_diag_error(c->ops->log_sub,
                              "partition=%d offset=%lld msg=\"reading %s "
                              "failed: %s\"",
                              p->index, (long long)off, c->ops->topic,
                              bk_strerror(rv));
                err = rv;
            }
            break;
        }
        nbatches += apply_batches(c, p->index, &ls, buf, len);
        off = next;
    }
    if (buf == NULL) {
        err = BK_ENOMEM;
    }
    bk_free(buf);
    end_load(c, p->index, &ls);
    if (err == 0 && nbatches > 0) {
        bk_diag_info(c->ops->log_sub,
                     "shard=%u partition=%d batches=%zu objects=%zu "
                     "msg=\"loaded %s\"",
                     c->shard_id, p->index, nbatches, c->ops->count(c->data),
                     c->ops->topic);
    }
    return err;
}

/* ---- unloading ---- */

/* Drops partition from memory and marks it not loaded, so that its next
 * use reads it back from the log. */
static void unload_partition(struct bk_coord *c, int32_t partition)
{
    size_t n = c->ops->unload(c->data, partition);
    if (partition < c->nparts) {
        c->loaded[partition] = BK_COORD_NONE;
    }
    bk_diag_info(c->ops->log_sub,
                 "shard=%u partition=%d objects=%zu msg=\"unloaded, "
                 "reloading from the log\"",
                 c->shard_id, partition, n);
}

void bk_coord_mark_stale(struct bk_coord *c, int32_t partition)
{
    if (partition >= 0 && partition < c->nparts &&
        c->loaded[partition] == BK_COORD_DONE) {
        c->loaded[partition] = BK_COORD_STALE;
    }
}

bool bk_coord_is_stale(const struct bk_coord *c, int32_t partition)
{
    return partition >= 0 && partition < c->nparts &&
           c->loaded[partition] == BK_COORD_STALE;
}

void bk_coord_unload_stale(struct bk_coord *c)
{
    for (int32_t p = 0; p < c->nparts; p++) {
        if (c->loaded[p] == BK_COORD_STALE) {
            unload_partition(c, p);
        }
    }
}

/* ---- opening ---- */

/* Makes room in c->loaded for `partition`, forgetting every load when the
 * topic is new to c (first use, or the topic was recreated). */
static bool track(struct bk_coord *c,
                  const struct bk_uuid *topic_id,
                  int32_t partition)
{
    if (memcmp(&c->topic_id, topic_id, sizeof(*topic_id)) != 0) {
        c->topic_id = *topic_id;
        if (c->loaded != NULL) {
            memset(c->loaded, 0, (size_t)c->nparts);
        }
    }
    if (partition < c->nparts) {
        return true;
    }
    uint8_t *l = bk_realloc(c->loaded, (size_t)partition + 1);
    if (l == NULL) {
        return false;
    }
    memset(l + c->nparts, 0, (size_t)(partition + 1 - c->nparts));
    c->loaded = l;
    int32_t *e =
        bk_realloc(c->epochs, ((size_t)partition + 1) * sizeof(*c->epochs));
    if (e == NULL) {
        return false;
    }
    c->epochs = e;
    c->nparts = partition + 1;
    return true;
}

int16_t bk_coord_open(struct bk_coord *c,
                      const struct bk_uuid *topic_id,
                      int32_t partition,
                      bk_coord_open_fn open,
                      void *arg)
{
    if (c->closed || partition < 0 || !track(c, topic_id, partition)) {
        return BK_KERR_COORDINATOR_NOT_AVAILABLE;
    }
    int16_t err = BK_KERR_NONE;
    struct bk_partition *p = open(arg, topic_id, partition, &err);
    if (p == NULL) {
        /* Not this node's partition (or no longer): clients look for the
         * coordinator again. */
        return err == BK_KERR_UNKNOWN_TOPIC_OR_PARTITION ||
                       err == BK_KERR_NOT_LEADER_OR_FOLLOWER
                   ? BK_KERR_NOT_COORDINATOR
                   : BK_KERR_COORDINATOR_NOT_AVAILABLE;
    }
    if (bk_replica_failed(p)) {
        /* A write failed: memory may be ahead of the log, so this node
         * stops coordinating the partition, as Kafka does once the log
         * directory is offline. */
        return BK_KERR_NOT_COORDINATOR;
    }
    bk_assert(c->loaded != NULL); /* track() made room for partition */
    if (c->loaded[partition] == BK_COORD_STALE ||
        (c->loaded[partition] == BK_COORD_DONE &&
         c->epochs[partition] != p->leader_epoch)) {
        /* An append failed since the last settle, or leadership moved
         * since the load (another leader may have written what memory
         * lacks; Kafka loads a coordinator partition on each election):
         * bring memory back in line with the log before serving it. */
        unload_partition(c, partition);
    }
    if (c->loaded[partition] == BK_COORD_NONE) {
        if (load_partition(c, p) != 0) {
            unload_partition(c, partition);
            return BK_KERR_COORDINATOR_NOT_AVAILABLE;
        }
        c->loaded[partition] = BK_COORD_DONE;
        c->epochs[partition] = p->leader_epoch;
    }
    return BK_KERR_NONE;
}

void bk_coord_open_all(struct bk_coord *c,
                       const struct bk_md_topic *t,
                       int32_t node_id,
                       unsigned nshards,
                       bk_coord_open_fn open,
                       void *arg)
{
    uint64_t th = t->id_hash;
    for (int32_t p = 0; p < t->n_partitions; p++) {
        const struct bk_md_partition *mp = bk_md_topic_partition(t, p);
        if (mp == NULL || mp->leader != node_id ||
            bk_shard_for_partition(th, p, nshards) != c->shard_id) {
            continue;
        }
        (void)bk_coord_open(c, &t->id, p, open, arg);
    }
}

bool bk_coord_failed(struct bk_coord *c, int32_t partition)
{
    struct bk_partition *p = bk_part_find(c->parts, &c->topic_id, partition);
    return p != NULL && bk_replica_failed(p);
}

void bk_coord_close(struct bk_coord *c)
{
    c->closed = true;
}

bool bk_coord_closed(const struct bk_coord *c)
{
    return c->closed;
}
