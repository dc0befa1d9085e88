/* The coordinator runtime's writes: records go to the partition through
 * the replica, and answers wait until they are committed: covered by an
 * fdatasync here and below the high watermark, so on the disk of every
 * in-sync replica (coord.h; Kafka's coordinators write with acks=all).
 *
 * Happy path: bk_coord_append() builds one batch, appends it as leader,
 * and when a waiter is given takes a hold on it that the syncer gives back
 * once the batch is durable. Answers that parked (bk_coord_park) wait in
 * the same way for their partition's log end at the next settle. Failure
 * modes: the append fails (the partition goes stale and is read back
 * before it serves again, and its parked answers get NOT_COORDINATOR); the
 * sync fails (the waiter's error becomes NOT_COORDINATOR); out of memory
 * (UNKNOWN_SERVER_ERROR, or the hold is given back at once). */
#include "common/diag.h"
#include "common/err.h"
#include "common/heap.h"
#include "coord/coord_int.h"
#include "partition/replica.h"
#include "protocol/kerr.h"

/* Kafka's offsets.commit.timeout.ms: how long a coordinator's write may
 * wait for the in-sync replicas. */
#define COMMIT_TIMEOUT_MS 5000

/* One wait for records to be committed; owns the waiter's hold. */
struct sync_ctx {
    struct bk_replica_commit_wait cw;
    struct bk_coord_waiter w;
};

/* On the syncer thread or the partition's shard. Kafka's coordinators
 * answer a write that did not reach the in-sync replicas as not written
 * here: the client finds the coordinator again and retries. */
static void committed_cb(struct bk_replica_commit_wait *cw, int16_t error)
{
    struct sync_ctx *s = cw->data;
    struct bk_coord_waiter w = s->w;
    if (error != 0 && w.err != NULL) {
        *w.err = error == BK_KERR_REQUEST_TIMED_OUT ? BK_KERR_REQUEST_TIMED_OUT
                                                    : BK_KERR_NOT_COORDINATOR;
    }
    bk_free(s);
    w.release(w.arg);
}

/* Gives w's hold back after storing err in *fail (when not NULL): the
 * hold may be the last, after which *fail may be gone. */
static int16_t give_back(const struct bk_coord_waiter *w,
                         int16_t err,
                         int16_t *fail)
{
    if (fail != NULL) {
        *fail = err;
    }
    w->release(w->arg);
    return err;
}

/* Hands a hold already taken on w to a wait for everything below end in
 * p to be committed (synced here, below the high watermark). Returns NONE,
 * or an error after giving the hold back (and storing the error in *fail,
 * when not NULL). */
static int16_t wait_durable(struct bk_partition *p,
                            int64_t end,
                            const struct bk_coord_waiter *w,
                            int16_t *fail)
{
    struct sync_ctx *s = bk_calloc(1, sizeof(*s));
    if (s == NULL) {
        return give_back(w, BK_KERR_UNKNOWN_SERVER_ERROR, fail);
    }
    s->cw.done = committed_cb;
    s->cw.data = s;
    s->cw.timeout_ms = COMMIT_TIMEOUT_MS;
    s->w = *w;
    bool waiting = false;
    int16_t err = bk_replica_wait_committed(p, end, &s->cw, &waiting);
    if (!waiting) {
        bk_free(s);
        return err == BK_KERR_NONE
                   ? give_back(w, BK_KERR_NONE, NULL)
                   : give_back(w, BK_KERR_NOT_COORDINATOR, fail);
    }
    return BK_KERR_NONE;
}

/* recs as one uncompressed batch in *out (heap, returns owned): a
 * transactional one of producer pid at epoch when pid >= 0, with no
 * sequence, as Kafka's group coordinator writes TxnOffsetCommit. */
static int build_batch(const struct bk_coord_rec *recs,
                       size_t n,
                       int64_t now,
                       int64_t pid,
                       int16_t epoch,
                       uint8_t **out,
                       size_t *len)
{
    struct bk_batch_builder b;
    bk_batch_builder_init(&b, BK_CODEC_NONE);
    if (pid >= 0) {
        b.attributes = BK_RB_ATTR_TRANSACTIONAL;
        b.producer_id = pid;
        b.producer_epoch = epoch;
    }
    int rv = 0;
    for (size_t i = 0; i < n && rv == 0; i++) {
        rv = bk_batch_builder_add(&b, now, recs[i].key, recs[i].value, NULL, 0);
    }
    if (rv == 0) {
        rv = bk_batch_builder_finish(&b, NULL, out, len);
    }
    bk_batch_builder_free(&b);
    return rv;
}

static int16_t append_batch(struct bk_coord *c,
                            int32_t partition,
                            const struct bk_coord_rec *recs,
                            size_t n,
                            int64_t pid,
                            int16_t epoch,
                            const struct bk_coord_waiter *w);

int16_t bk_coord_append(struct bk_coord *c,
                        int32_t partition,
                        const struct bk_coord_rec *recs,
                        size_t n,
                        const struct bk_coord_waiter *w)
{
    return append_batch(c, partition, recs, n, -1, -1, w);
}

int16_t bk_coord_append_txn(struct bk_coord *c,
                            int32_t partition,
                            const struct bk_coord_rec *recs,
                            size_t n,
                            int64_t producer_id,
                            int16_t producer_epoch,
                            const struct bk_coord_waiter *w)
{
    return append_batch(c, partition, recs, n, producer_id, producer_epoch, w);
}

static int16_t append_batch(struct bk_coord *c,
                            int32_t partition,
                            const struct bk_coord_rec *recs,
                            size_t n,
                            int64_t pid,
                            int16_t epoch,
                            const struct bk_coord_waiter *w)
{
    struct bk_partition *p = bk_part_find(c->parts, &c->topic_id, partition);
    if (p == NULL) {
        return BK_KERR_NOT_COORDINATOR;
    }
    if (n == 0) {
        return BK_KERR_NONE;
    }
    int64_t now = bk_clock_wall_ms(c->clock);
    uint8_t *out = NULL;
    size_t len = 0;
    if (build_batch(recs, n, now, pid, epoch, &out, &len) != 0) {
        return BK_KERR_UNKNOWN_SERVER_ERROR;
    }
    int64_t base_offset, last_offset;
    int rv = bk_replica_append_records(p, out, len, (int32_t)n, now,
                                       &base_offset, &last_offset);
    bk_free(out);
    if (rv != 0) {
        bk_diag_error(c->ops->log_sub,
                      "partition=%d msg=\"appending to %s failed: %s\"",
                      partition, c->ops->topic, bk_strerror(rv));
        /* Transient errors and ENOSPC leave the log working; either way
         * memory may hold what this append was to write. */
        bk_coord_mark_stale(c, partition);
        return rv == BK_ETOOLARGE ? BK_KERR_OFFSET_METADATA_TOO_LARGE
                                  : BK_KERR_NOT_COORDINATOR;
    }
    if (w == NULL || (bk_replica_durable_offset(p) >= last_offset + 1 &&
                      bk_replica_high_watermark(p) >= last_offset + 1)) {
        return BK_KERR_NONE;
    }
    /* The caller still holds w itself: an error is its to report. */
    w->hold(w->arg);
    return wait_durable(p, last_offset + 1, w, NULL);
}

/* ---- parked answers ---- */

void bk_coord_park(struct bk_coord *c,
                   int32_t partition,
                   const struct bk_coord_waiter *w)
{
    if (!c->closed && c->nparked == c->cap_parked) {
        size_t cap = c->cap_parked ? 2 * c->cap_parked : 8;
        struct bk_coord_parked *v =
            bk_realloc(c->parked, cap * sizeof(*c->parked));
        if (v != NULL) {
            c->parked = v;
            c->cap_parked = cap;
        }
    }
    if (c->closed || c->nparked == c->cap_parked) {
        w->release(w->arg);
        return;
    }
    c->parked[c->nparked++] = (struct bk_coord_parked){ *w, partition };
}

/* Each parked answer waits for an fdatasync of its partition when that
 * holds anything not yet on disk. */
static void release_parked(struct bk_coord *c)
{
    for (size_t i = 0; i < c->nparked; i++) {
        const struct bk_coord_waiter *w = &c->parked[i].w;
        int32_t partition = c->parked[i].partition;
        if (bk_coord_is_stale(c, partition)) {
            /* The records of the change that answered it may not have
             * been written: it must not report success. */
            give_back(w, BK_KERR_NOT_COORDINATOR, w->err);
            continue;
        }
        struct bk_partition *p =
            bk_part_find(c->parts, &c->topic_id, partition);
        int64_t end = p != NULL ? bk_replica_log_end(p) : 0;
        if (p == NULL || (bk_replica_durable_offset(p) >= end &&
                          bk_replica_high_watermark(p) >= end)) {
            w->release(w->arg);
            continue;
        }
        (void)wait_durable(p, end, w, w->err);
    }
    c->nparked = 0;
}

void bk_coord_settle(struct bk_coord *c)
{
    release_parked(c);
    /* Unloading answers the stale partitions' parked requests at once
     * (the user parks them); they go out now too. */
    bk_coord_unload_stale(c);
    release_parked(c);
}

void bk_coord_free(struct bk_coord *c)
{
    for (size_t i = 0; i < c->nparked; i++) {
        /* Never strand one. */
        c->parked[i].w.release(c->parked[i].w.arg);
    }
    bk_free(c->parked);
    bk_free(c->loaded);
    bk_free(c->epochs);
    c->parked = NULL;
    c->loaded = NULL;
    c->nparked = c->cap_parked = 0;
    c->nparts = 0;
}
