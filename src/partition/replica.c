/* The replica's offsets and reads (replica.h); appending as leader is in
 * replica_append.c, roles, follower appends and truncation in
 * replica_role.c.
 *
 * The high watermark has one rule, in bk_replica_advance_hw(): a follower
 * takes its leader's, a leader the smallest log end of the in-sync
 * replicas (replica_isr.c, replication-notes.md §5); alone, that is its
 * own log end. */
#include "partition/replica.h"

#include "common/err.h"
#include "partition/replica_int.h"
#include "protocol/kerr.h"

int64_t bk_replica_log_start(const struct bk_partition *p)
{
    bk_owner_check(&p->owner);
    return bk_log_start_offset(p->log);
}

int64_t bk_replica_log_end(const struct bk_partition *p)
{
    bk_owner_check(&p->owner);
    return bk_log_end_offset(p->log);
}

int64_t bk_replica_peer_end(const struct bk_partition *p,
                            int32_t id,
                            int64_t offset)
{
    bk_owner_check(&p->owner);
    for (int32_t i = 0; p->role == BK_REPLICA_LEADER && i < p->n_peers; i++) {
        const struct bk_replica_peer *f = &p->peers[i];
        if (f->id == id && f->log_end >= offset && f->log_start <= offset) {
            return f->log_end;
        }
    }
    return -1;
}

int64_t bk_replica_log_size(const struct bk_partition *p)
{
    bk_owner_check(&p->owner);
    return bk_log_size_bytes(p->log);
}

int64_t bk_replica_high_watermark(const struct bk_partition *p)
{
    bk_owner_check(&p->owner);
    return bk_log_hw(p->log);
}

int64_t bk_replica_last_stable(const struct bk_partition *p)
{
    bk_owner_check(&p->owner);
    /* The first offset of the oldest transaction not yet decided below
     * the high watermark (open, or closed by a marker the high watermark
     * has not passed), bounded by it (KIP-98). */
    return bk_pstate_last_stable(&p->pstate, bk_log_hw(p->log));
}

struct aborted_fn {
    void (*fn)(void *arg, int64_t producer_id, int64_t first_offset);
    void *arg;
};

static void aborted_cb(void *arg, const struct bk_pstate_aborted *a)
{
    const struct aborted_fn *f = arg;
    f->fn(f->arg, a->producer_id, a->first_offset);
}

void bk_replica_aborted_txns(struct bk_partition *p,
                             int64_t offset,
                             int64_t upper,
                             void (*fn)(void *arg,
                                        int64_t producer_id,
                                        int64_t first_offset),
                             void *arg)
{
    bk_owner_check(&p->owner);
    struct aborted_fn f = { fn, arg };
    bk_pstate_collect_aborted(&p->pstate, offset, upper, aborted_cb, &f);
}

int32_t bk_replica_latest_epoch(const struct bk_partition *p)
{
    bk_owner_check(&p->owner);
    return bk_log_latest_epoch(p->log);
}

int64_t bk_replica_visible_end(const struct bk_partition *p,
                               enum bk_isolation iso)
{
    bk_owner_check(&p->owner);
    switch (iso) {
        case BK_ISOLATION_READ_COMMITTED:
            return bk_replica_last_stable(p);
        case BK_ISOLATION_LOG_END:
            return bk_replica_log_end(p);
        default:
            return bk_replica_high_watermark(p);
    }
}

void bk_replica_advance_hw(struct bk_partition *p)
{
    bk_owner_check(&p->owner);
    int64_t end = bk_log_end_offset(p->log);
    if (p->role == BK_REPLICA_FOLLOWER) {
        /* A follower knows only what its leader told it, and cannot vouch
         * for records it does not have (Kafka: follower HW = min(leader HW,
         * log end)). */
        int64_t old = bk_log_hw(p->log);
        int64_t next = p->leader_hw < end ? p->leader_hw : end;
        bk_log_set_hw(p->log, next);
        if (next > old) {
            /* Consumers reading from this follower (KIP-392) waiting in a
             * long poll may read further. */
            bk_part_wake(p);
        }
        return;
    }
    int64_t hw = bk_log_hw(p->log);
    int64_t next = bk_replica_leader_hw(p, hw);
    if (next > end) {
        next = end;
    }
    if (next != hw) {
        bk_log_set_hw(p->log, next);
    }
    if (next > hw || p->hw_waits != NULL) {
        bk_replica_complete_hw_waits(p);
        if (next > hw) {
            bk_part_wake(p); /* consumers may read further */
        }
    }
}

int16_t bk_replica_read(struct bk_partition *p,
                        int64_t offset,
                        int64_t max_bytes,
                        enum bk_isolation iso,
                        struct bk_replica_read *out)
{
    bk_owner_check(&p->owner);
    out->rd.count = 0;
    out->rd.bytes = 0;
    out->log_start = bk_replica_log_start(p);
    out->high_watermark = bk_replica_high_watermark(p);
    out->last_stable = bk_replica_last_stable(p);
    int64_t end = bk_replica_log_end(p);
    int64_t visible = bk_replica_visible_end(p, iso);
    if (offset < out->log_start || offset > end) {
        return BK_KERR_OFFSET_OUT_OF_RANGE;
    }
    if (offset >= visible) {
        return BK_KERR_NONE; /* nothing this consumer may see yet */
    }
    int rv = bk_log_read(p->log, offset, max_bytes, visible, &out->rd);
    if (rv == BK_ERANGE) {
        out->rd.count = 0;
        return BK_KERR_OFFSET_OUT_OF_RANGE;
    }
    if (rv != 0) {
        out->rd.count = 0;
        return BK_KERR_KAFKA_STORAGE_ERROR;
    }
    return BK_KERR_NONE;
}

void bk_replica_read_release(struct bk_replica_read *r)
{
    /* Any thread: Fetch unpins on the connection's shard once the answer is
     * written (the fd cache is thread-safe). */
    if (r->rd.count > 0) {
        bk_log_read_release(&r->rd);
    }
    r->rd.count = 0;
    r->rd.bytes = 0;
}

/* The epoch of the batch holding offset; the latest for the log end. */
static int32_t epoch_at(struct bk_partition *p, int64_t offset)
{
    struct bk_batch_hdr h;
    if (offset < bk_replica_log_end(p) &&
        bk_part_batch_at(p, offset, &h) == 0) {
        return h.leader_epoch;
    }
    int32_t latest = bk_replica_latest_epoch(p);
    /* A log that holds no batch yet: Kafka's leader records its epoch at
     * the log end when it takes the lead, so ListOffsets on an empty
     * partition answers the leader's epoch, not -1 (tests/diff). */
    if (latest < 0 && p->role == BK_REPLICA_LEADER) {
        return p->leader_epoch;
    }
    return latest;
}

int16_t bk_replica_list_offset(struct bk_partition *p,
                               int64_t timestamp,
                               enum bk_isolation iso,
                               int64_t *offset,
                               int64_t *ts,
                               int32_t *leader_epoch)
{
    bk_owner_check(&p->owner);
    int64_t off = -1, t = -1;
    int rv = 0;
    switch (timestamp) {
        case -1: /* latest */
            if (p->role == BK_REPLICA_LEADER && p->partition_epoch >= 0 &&
                bk_log_hw(p->log) < p->epoch_start_offset) {
                /* KIP-207: a new leader whose high watermark has not yet
                 * reached where its epoch began would answer an offset
                 * below what consumers already saw; clients retry. */
                return BK_KERR_OFFSET_NOT_AVAILABLE;
            }
            off = bk_replica_visible_end(p, iso);
            break;
        case -2: /* earliest */
        case -4: /* earliest local */
            off = bk_replica_log_start(p);
            break;
        case -3: /* max timestamp */
            rv = bk_part_max_timestamp(p, &off, &t);
            break;
        case -5: /* latest tiered: nothing is tiered */
            break;
        default:
            if (timestamp < 0) {
                return BK_KERR_INVALID_REQUEST;
            }
            rv = bk_part_offset_for_time(p, timestamp, &off, &t);
            break;
    }
    if (rv == BK_ENOTFOUND) {
        off = -1;
        t = -1;
        rv = 0;
    }
    if (rv != 0) {
        return BK_KERR_KAFKA_STORAGE_ERROR;
    }
    *offset = off;
    *ts = t;
    *leader_epoch = off >= 0 ? epoch_at(p, off) : -1;
    return BK_KERR_NONE;
}

void bk_replica_epoch_end(struct bk_partition *p,
                          int32_t epoch,
                          int32_t *found_epoch,
                          int64_t *end_offset)
{
    bk_owner_check(&p->owner);
    if (bk_log_epoch_end_offset(p->log, epoch, found_epoch, end_offset) != 0) {
        *found_epoch = -1;
        *end_offset = -1;
    }
}

int16_t bk_replica_delete_records(struct bk_partition *p,
                                  int64_t offset,
                                  int64_t *low_watermark)
{
    bk_owner_check(&p->owner);
    int64_t target = offset == -1 ? bk_replica_high_watermark(p) : offset;
    int rv = target < 0 ? BK_ERANGE : 0;
    if (rv == 0 && target > bk_replica_log_start(p)) {
        rv = bk_log_advance_start(p->log, target);
    }
    *low_watermark = bk_replica_log_start(p);
    if (rv == BK_ERANGE) {
        return BK_KERR_OFFSET_OUT_OF_RANGE;
    }
    return rv == 0 ? BK_KERR_NONE : BK_KERR_KAFKA_STORAGE_ERROR;
}

int bk_replica_append_records(struct bk_partition *p,
                              uint8_t *batch,
                              size_t len,
                              int32_t count,
                              int64_t timestamp,
                              int64_t *base_offset,
                              int64_t *last_offset)
{
    bk_owner_check(&p->owner);
    if (p->role != BK_REPLICA_LEADER) {
        return BK_ENOTLEADER;
    }
    struct bk_log_append_result res;
    int rv = bk_log_append(p->log, batch, len, p->leader_epoch,
                           BK_LOG_APPEND_LEADER, &res);
    if (rv != 0) {
        return rv;
    }
    bk_replica_advance_hw(p);
    bk_part_after_append(p, -1, -1, -1, count, res.base_offset, timestamp, len);
    bk_part_txn_apply(p, batch, len, res.base_offset);
    *base_offset = res.base_offset;
    *last_offset = res.last_offset;
    return 0;
}

int64_t bk_replica_durable_offset(const struct bk_partition *p)
{
    return bk_log_durable_offset(p->log);
}

int bk_replica_sync(struct bk_partition *p,
                    int64_t end_offset,
                    struct bk_log_sync_req *req,
                    bk_log_sync_cb cb)
{
    bk_owner_check(&p->owner);
    return bk_log_sync(p->log, end_offset, req, cb);
}

int bk_replica_read_copy(struct bk_partition *p,
                         int64_t offset,
                         void *buf,
                         size_t cap,
                         size_t *len,
                         int64_t *next_offset)
{
    bk_owner_check(&p->owner);
    return bk_log_read_copy(p->log, offset, (int64_t)cap, INT64_MAX, buf, cap,
                            len, next_offset);
}

bool bk_replica_failed(const struct bk_partition *p)
{
    return bk_log_failed(p->log);
}
