/* The transaction coordinator's state on the coordinator runtime; see
 * txn_coord.h.
 *
 * Happy path of a change: the API layer opens the id's partition
 * (bk_coord_txn_open: the runtime replays it into the table the first
 * time), finds the id, runs a check of txn/txn.h that builds the next
 * state, and bk_coord_txn_write() appends it; the answer waits until the
 * record is committed, and the id stays pending until then. Failure
 * modes: a failed append (the id is left as it was, and the runtime
 * reads the partition back before it serves again), a failed sync (the
 * waiter's error is NOT_COORDINATOR, and the partition is read back), a
 * malformed record while loading (logged and skipped, as Kafka skips
 * unknown key versions). */
#include "coord/txn_coord.h"

#include <string.h>

#include "common/diag.h"
#include "common/err.h"
#include "common/hash.h"
#include "common/heap.h"
#include "partition/replica.h"
#include "protocol/kerr.h"
#include "txn/records.h"

struct bk_coord_txn {
    struct bk_coord rt;
    struct bk_coord_txn_entry **buckets; /* owned; a power of two */
    size_t nbuckets;
    size_t n;
};

/* ---- the table of ids ---- */

static size_t bucket_of(const struct bk_coord_txn *tc, struct bk_str id)
{
    uint64_t h = bk_hash64(id.ptr, id.len > 0 ? (size_t)id.len : 0);
    return (size_t)(h & (tc->nbuckets - 1));
}

static bool same_id(const struct bk_coord_txn_entry *e, struct bk_str id)
{
    return id.len >= 0 && e->id_len == (size_t)id.len &&
           memcmp(e->id, id.ptr, e->id_len) == 0;
}

static struct bk_coord_txn_entry *lookup(struct bk_coord_txn *tc,
                                         struct bk_str id)
{
    if (tc->nbuckets == 0) {
        return NULL;
    }
    struct bk_coord_txn_entry *e = tc->buckets[bucket_of(tc, id)];
    while (e != NULL && !same_id(e, id)) {
        e = e->next;
    }
    return e;
}

/* Doubles the table when it is full (load factor 1). Returns 0 or
 * BK_ENOMEM (the table still works, only with longer chains). */
static int grow(struct bk_coord_txn *tc)
{
    if (tc->n < tc->nbuckets) {
        return 0;
    }
    size_t nb = tc->nbuckets == 0 ? 64 : tc->nbuckets * 2;
    struct bk_coord_txn_entry **b = bk_calloc(nb, sizeof(*b));
    if (b == NULL) {
        return tc->nbuckets == 0 ? BK_ENOMEM : 0;
    }
    struct bk_coord_txn_entry **old = tc->buckets;
    size_t nold = tc->nbuckets;
    tc->buckets = b;
    tc->nbuckets = nb;
    for (size_t i = 0; i < nold; i++) {
        while (old[i] != NULL) {
            struct bk_coord_txn_entry *e = old[i];
            old[i] = e->next;
            size_t k =
                bucket_of(tc, (struct bk_str){ e->id, (int32_t)e->id_len });
            e->next = b[k];
            b[k] = e;
        }
    }
    bk_free(old);
    return 0;
}

static struct bk_coord_txn_entry *insert(struct bk_coord_txn *tc,
                                         struct bk_str id,
                                         int32_t partition)
{
    if (grow(tc) != 0) {
        return NULL;
    }
    struct bk_coord_txn_entry *e = bk_calloc(1, sizeof(*e));
    char *copy = bk_strndup(id.ptr != NULL ? id.ptr : "",
                            id.len > 0 ? (size_t)id.len : 0);
    if (e == NULL || copy == NULL) {
        bk_free(e);
        bk_free(copy);
        return NULL;
    }
    e->id = copy;
    e->id_len = id.len > 0 ? (size_t)id.len : 0;
    e->partition = partition;
    e->wrote_end = -1;
    size_t k = bucket_of(tc, id);
    e->next = tc->buckets[k];
    tc->buckets[k] = e;
    tc->n++;
    return e;
}

static void entry_free(struct bk_coord_txn_entry *e)
{
    bk_txn_meta_free(&e->m);
    bk_free(e->id);
    bk_free(e);
}

/* Unlinks and frees e. */
static void drop(struct bk_coord_txn *tc, struct bk_coord_txn_entry *e)
{
    struct bk_coord_txn_entry **pp = &tc->buckets[bucket_of(
        tc, (struct bk_str){ e->id, (int32_t)e->id_len })];
    while (*pp != e) {
        pp = &(*pp)->next;
    }
    *pp = e->next;
    tc->n--;
    entry_free(e);
}

/* ---- the runtime's ops ---- */

static void load_record(void *data,
                        int32_t partition,
                        const struct bk_record *rec,
                        struct bk_arena *scratch)
{
    struct bk_coord_txn *tc = data;
    (void)scratch;
    struct bk_str id;
    int rv = bk_txl_key_decode(rec->key, &id);
    if (rv != 0) {
        bk_diag_warn("txn",
                     "partition=%d msg=\"skipped a record whose key "
                     "is not a TransactionLogKey v0\"",
                     partition);
        return;
    }
    struct bk_coord_txn_entry *e = lookup(tc, id);
    if (rec->value.ptr == NULL) {
        if (e != NULL) {
            drop(tc, e); /* a tombstone: the id expired */
        }
        return;
    }
    struct bk_txn_value v;
    rv = bk_txl_value_decode(rec->value, &v);
    if (rv != 0) {
        bk_diag_warn("txn",
                     "partition=%d msg=\"skipped an unreadable "
                     "transaction state: %s\"",
                     partition, bk_strerror(rv));
        return;
    }
    if (e == NULL) {
        e = insert(tc, id, partition);
    }
    if (e == NULL) {
        bk_txn_value_free(&v);
        return;
    }
    bk_txn_meta_free(&e->m);
    bk_txn_meta_load(&e->m, &v);
    e->wrote_end = -1; /* read back: committed */
}

static size_t unload(void *data, int32_t partition)
{
    struct bk_coord_txn *tc = data;
    size_t n = 0;
    for (size_t i = 0; i < tc->nbuckets; i++) {
        struct bk_coord_txn_entry **pp = &tc->buckets[i];
        while (*pp != NULL) {
            struct bk_coord_txn_entry *e = *pp;
            if (e->partition == partition) {
                *pp = e->next;
                tc->n--;
                entry_free(e);
                n++;
            } else {
                pp = &e->next;
            }
        }
    }
    return n;
}

static size_t count(void *data)
{
    return ((const struct bk_coord_txn *)data)->n;
}

static const struct bk_coord_ops txn_ops = {
    .topic = BK_TXN_TOPIC,
    .log_sub = "txn",
    .load_record = load_record,
    .unload = unload,
    .count = count,
};

/* ---- lifecycle ---- */

struct bk_coord_txn *bk_coord_txn_new(struct bk_part_table *parts,
                                      const struct bk_clock *clock,
                                      unsigned shard_id)
{
    struct bk_coord_txn *tc = bk_calloc(1, sizeof(*tc));
    if (tc == NULL) {
        return NULL;
    }
    bk_coord_init(&tc->rt, &txn_ops, tc, parts, clock, shard_id);
    return tc;
}

void bk_coord_txn_close(struct bk_coord_txn *tc)
{
    if (!bk_coord_closed(&tc->rt)) {
        bk_coord_close(&tc->rt);
    }
}

void bk_coord_txn_free(struct bk_coord_txn *tc)
{
    if (tc == NULL) {
        return;
    }
    bk_coord_txn_close(tc);
    bk_coord_free(&tc->rt);
    for (size_t i = 0; i < tc->nbuckets; i++) {
        while (tc->buckets[i] != NULL) {
            struct bk_coord_txn_entry *e = tc->buckets[i];
            tc->buckets[i] = e->next;
            entry_free(e);
        }
    }
    bk_free(tc->buckets);
    bk_free(tc);
}

int16_t bk_coord_txn_open(struct bk_coord_txn *tc,
                          const struct bk_uuid *topic_id,
                          int32_t partition,
                          bk_coord_open_fn open,
                          void *arg)
{
    return bk_coord_open(&tc->rt, topic_id, partition, open, arg);
}

void bk_coord_txn_open_all(struct bk_coord_txn *tc,
                           const struct bk_md_topic *t,
                           int32_t node_id,
                           unsigned nshards,
                           bk_coord_open_fn open,
                           void *arg)
{
    if (!bk_coord_closed(&tc->rt)) {
        bk_coord_open_all(&tc->rt, t, node_id, nshards, open, arg);
    }
}

int32_t bk_coord_txn_epoch(const struct bk_coord_txn *tc, int32_t partition)
{
    if (partition < 0 || partition >= tc->rt.nparts ||
        tc->rt.loaded[partition] != BK_COORD_DONE) {
        return -1;
    }
    return tc->rt.epochs[partition];
}

/* ---- ids ---- */

/* The offset below which `partition` has committed its records (synced
 * here, below the high watermark), or -1 when it is not open. */
static int64_t committed_end(struct bk_coord_txn *tc, int32_t partition)
{
    struct bk_partition *p =
        bk_part_find(tc->rt.parts, &tc->rt.topic_id, partition);
    if (p == NULL) {
        return -1;
    }
    int64_t durable = bk_replica_durable_offset(p);
    int64_t hw = bk_replica_high_watermark(p);
    return durable < hw ? durable : hw;
}

static void refresh(struct bk_coord_txn *tc, struct bk_coord_txn_entry *e)
{
    if (e->wrote_end >= 0 && committed_end(tc, e->partition) >= e->wrote_end) {
        e->wrote_end = -1;
    }
    e->m.pending = e->wrote_end >= 0;
}

struct bk_coord_txn_entry *bk_coord_txn_find(struct bk_coord_txn *tc,
                                             struct bk_str id)
{
    struct bk_coord_txn_entry *e = lookup(tc, id);
    if (e != NULL) {
        refresh(tc, e);
    }
    return e;
}

struct bk_coord_txn_entry *bk_coord_txn_add(struct bk_coord_txn *tc,
                                            struct bk_str id,
                                            int32_t partition,
                                            int64_t pid)
{
    struct bk_coord_txn_entry *e = insert(tc, id, partition);
    if (e != NULL) {
        bk_txn_meta_init(&e->m, pid, tc->rt.clock->wall_ms(tc->rt.clock));
    }
    return e;
}

static void noop(void *arg)
{
    (void)arg;
}

/* A waiter for writes that nobody waits on (ticks): the runtime then
 * still asks for the commit that clears the id's pending flag. */
static const struct bk_coord_waiter no_waiter = { noop, noop, NULL, NULL };

/* Appends id's key with value (null bytes: a tombstone) to its partition
 * and sets *end to the log end after it. */
static int16_t append(struct bk_coord_txn *tc,
                      const struct bk_coord_txn_entry *e,
                      const struct bk_txn_value *v,
                      const struct bk_coord_waiter *w,
                      int64_t *end)
{
    struct bk_arena a;
    bk_arena_init(&a, 1024, 0);
    struct bk_str id = { e->id, (int32_t)e->id_len };
    struct bk_coord_rec rec = {
        .key = bk_txl_key_encode(&a, id),
        /* Value v1 (flexible, with the tagged producer ids) for the
         * transactions of transaction version 2 clients, which need
         * NextProducerId to survive a failover in the middle of a
         * rotation; v0 otherwise, readable by every Kafka tool. */
        .value = v != NULL ? bk_txl_value_encode(&a, v,
                                                 v->client_version >= 2 ? 1 : 0)
                           : BK_BYTES_NULL,
    };
    int16_t err = BK_KERR_NONE;
    if (rec.key.ptr == NULL || (v != NULL && rec.value.ptr == NULL)) {
        err = BK_KERR_UNKNOWN_SERVER_ERROR;
    } else {
        err = bk_coord_append(&tc->rt, e->partition, &rec, 1,
                              w != NULL ? w : &no_waiter);
    }
    bk_arena_destroy(&a);
    struct bk_partition *p =
        bk_part_find(tc->rt.parts, &tc->rt.topic_id, e->partition);
    *end = p != NULL ? bk_replica_log_end(p) : -1;
    return err;
}

int16_t bk_coord_txn_write(struct bk_coord_txn *tc,
                           struct bk_coord_txn_entry *e,
                           struct bk_txn_value *next,
                           const struct bk_coord_waiter *w)
{
    int64_t end = -1;
    int16_t err = append(tc, e, next, w, &end);
    if (err != BK_KERR_NONE) {
        bk_txn_value_free(next);
        if (e->m.cur.epoch == BK_TXN_NO_EPOCH && e->wrote_end < 0 &&
            e->m.cur.state == BK_TXN_EMPTY) {
            drop(tc, e); /* never written: nothing to keep */
        }
        return err;
    }
    bk_txn_finish(&e->m, next, true);
    e->wrote_end = end;
    e->m.pending = true;
    return BK_KERR_NONE;
}

int16_t bk_coord_txn_remove(struct bk_coord_txn *tc,
                            struct bk_coord_txn_entry *e)
{
    int64_t end;
    int16_t err = append(tc, e, NULL, NULL, &end);
    if (err == BK_KERR_NONE) {
        drop(tc, e);
    }
    return err;
}

void bk_coord_txn_each(struct bk_coord_txn *tc,
                       void (*fn)(void *arg, struct bk_coord_txn_entry *e),
                       void *arg)
{
    for (size_t i = 0; i < tc->nbuckets; i++) {
        for (struct bk_coord_txn_entry *e = tc->buckets[i]; e != NULL;
             e = e->next) {
            refresh(tc, e);
            fn(arg, e);
        }
    }
}

size_t bk_coord_txn_count(const struct bk_coord_txn *tc)
{
    return tc->n;
}

void bk_coord_txn_settle(struct bk_coord_txn *tc)
{
    bk_coord_settle(&tc->rt);
}
