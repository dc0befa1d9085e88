/* The leader's side of replication (replica.h): what it knows of each
 * follower, the in-sync replica set, the high watermark rule and the
 * acks=all appends waiting on it. Kafka's Partition.scala and
 * ReplicaState are the reference; replication-notes.md sections 1, 2, 4,
 * 5 and 6 list the rules this file follows.
 *
 * Everything runs on the partition's shard. The ISR is the controller's:
 * a leader only proposes changes (on_isr_change, then AlterPartition sent
 * by the replication layer) and takes the ISR the metadata or the
 * controller's answer gives. */
#include <string.h>

#include "common/clock.h"
#include "common/err.h"
#include "common/heap.h"
#include "partition/replica_int.h"
#include "protocol/kerr.h"

static bool has_member(const int32_t *set, int32_t n, int32_t id)
{
    for (int32_t i = 0; i < n; i++) {
        if (set[i] == id) {
            return true;
        }
    }
    return false;
}

static struct bk_replica_peer *find_peer(struct bk_partition *p, int32_t id)
{
    for (int32_t i = 0; i < p->n_peers; i++) {
        if (p->peers[i].id == id) {
            return &p->peers[i];
        }
    }
    return NULL;
}

static int64_t lag_ms(const struct bk_storage *st)
{
    return st != NULL && st->replica_lag_time_max_ms > 0
               ? st->replica_lag_time_max_ms
               : 30000;
}

int32_t bk_replica_isr_size(const struct bk_partition *p)
{
    if (p->partition_epoch < 0) {
        return 1; /* alone */
    }
    int32_t n = p->n_isr;
    if (p->isr_inflight) {
        for (int32_t i = 0; i < p->n_want_isr; i++) {
            n += has_member(p->isr, p->n_isr, p->want_isr[i]) ? 0 : 1;
        }
    }
    return n;
}

/* min.insync.replicas as Kafka applies it: never more than the replicas. */
static int32_t effective_min_isr(const struct bk_partition *p)
{
    int32_t replicas = p->n_peers + 1;
    int32_t m = p->min_isr > 0 ? p->min_isr : 1;
    return m < replicas ? m : replicas;
}

bool bk_replica_enough_isr(const struct bk_partition *p)
{
    return bk_replica_isr_size(p) >= effective_min_isr(p);
}

/* Whether id counts for the high watermark: in the maximal ISR. */
static bool counts(const struct bk_partition *p, int32_t id)
{
    return has_member(p->isr, p->n_isr, id) ||
           (p->isr_inflight && has_member(p->want_isr, p->n_want_isr, id));
}

/* Kafka's maybeIncrementLeaderHW with the strict min-ISR rule of
 * KAFKA-15583: the smallest log end among the replicas that count, never
 * lower than before, and no move at all while fewer than the effective
 * min.insync.replicas count. */
int64_t bk_replica_leader_hw(const struct bk_partition *p, int64_t hw)
{
    int64_t end = bk_log_end_offset(p->log);
    if (p->partition_epoch < 0) {
        return end;
    }
    if (bk_replica_isr_size(p) < effective_min_isr(p)) {
        return hw;
    }
    int64_t min = end;
    for (int32_t i = 0; i < p->n_peers; i++) {
        const struct bk_replica_peer *r = &p->peers[i];
        if (counts(p, r->id) && r->log_end < min) {
            min = r->log_end;
        }
    }
    return min > hw ? min : hw;
}

void bk_replica_fail_hw_waits(struct bk_partition *p, int16_t error)
{
    struct bk_replica_hw_wait *w = p->hw_waits;
    p->hw_waits = NULL;
    while (w != NULL) {
        struct bk_replica_hw_wait *next = w->next;
        w->next = NULL;
        w->done(w, error);
        w = next;
    }
}

/* Completes the appends the high watermark has passed. Kafka's
 * checkEnoughReplicasReachOffset: reached with fewer in-sync replicas
 * than min.insync.replicas is NOT_ENOUGH_REPLICAS_AFTER_APPEND. */
void bk_replica_complete_hw_waits(struct bk_partition *p)
{
    int64_t hw = bk_log_hw(p->log);
    bool enough = bk_replica_enough_isr(p);
    struct bk_replica_hw_wait **pp = &p->hw_waits;
    while (*pp != NULL) {
        struct bk_replica_hw_wait *w = *pp;
        if (w->offset > hw) {
            pp = &w->next;
            continue;
        }
        *pp = w->next;
        w->next = NULL;
        w->done(w, enough ? BK_KERR_NONE
                          : BK_KERR_NOT_ENOUGH_REPLICAS_AFTER_APPEND);
    }
}

static int copy_set(int32_t **dst, int32_t *n, const int32_t *src, int32_t m)
{
    int32_t *set = bk_malloc((size_t)(m > 0 ? m : 1) * sizeof(*set));
    if (set == NULL) {
        return BK_ENOMEM;
    }
    if (m > 0) {
        memcpy(set, src, (size_t)m * sizeof(*set));
    }
    bk_free(*dst);
    *dst = set;
    *n = m;
    return 0;
}

/* The peers of the new assignment, keeping what is known of those that
 * stay. */
static int set_peers(struct bk_partition *p,
                     const struct bk_md_partition *mp,
                     int32_t self)
{
    struct bk_replica_peer *peers = bk_calloc(
        (size_t)(mp->n_replicas > 0 ? mp->n_replicas : 1), sizeof(*peers));
    if (peers == NULL) {
        return BK_ENOMEM;
    }
    int32_t n = 0;
    for (int32_t i = 0; i < mp->n_replicas; i++) {
        int32_t id = mp->replicas[i];
        if (id == self) {
            continue;
        }
        const struct bk_replica_peer *old = find_peer(p, id);
        if (old != NULL) {
            peers[n] = *old;
        } else {
            peers[n] = (struct bk_replica_peer){
                .id = id, .broker_epoch = -1, .log_end = -1, .log_start = -1
            };
        }
        n++;
    }
    bk_free(p->peers);
    p->peers = peers;
    p->n_peers = n;
    return 0;
}

/* Kafka's makeLeader at a new epoch: followers' positions are unknown
 * until they fetch; those in the ISR count as caught up now, so that a
 * slow first fetch does not push them out at once. */
static void reset_peers(struct bk_partition *p, int64_t now_ms)
{
    for (int32_t i = 0; i < p->n_peers; i++) {
        struct bk_replica_peer *r = &p->peers[i];
        bool in = has_member(p->isr, p->n_isr, r->id);
        r->log_end = -1;
        r->last_fetch_ms = 0;
        r->last_fetch_leader_end = -1;
        r->last_caught_up_ms = in ? now_ms : 0;
    }
    p->peers_epoch = p->leader_epoch;
    p->epoch_start_offset = bk_log_end_offset(p->log);
}

/* Starts an AlterPartition proposal of want_isr (one at a time). */
static void send_proposal(struct bk_partition *p, int64_t now_ms)
{
    p->isr_inflight = true;
    p->isr_sent_ms = now_ms;
    bk_part_isr_changed(p);
}

/* KIP-704: a leader chosen by an unclean election has nothing to recover
 * (its log is what it is: followers truncate to it), so it tells the
 * controller at once, which lets the ISR grow again. The ISR it sends is
 * the committed one; the request says RECOVERED. */
static void propose_recovered(struct bk_partition *p, int64_t now_ms)
{
    if (!p->recovering || p->isr_inflight) {
        return;
    }
    if (copy_set(&p->want_isr, &p->n_want_isr, p->isr, p->n_isr) != 0) {
        return; /* the next assignment tries again */
    }
    send_proposal(p, now_ms);
}

int bk_replica_set_assignment(struct bk_partition *p,
                              const struct bk_md_partition *mp,
                              int64_t now_ms)
{
    bk_owner_check(&p->owner);
    if (mp->partition_epoch < p->partition_epoch) {
        return 0; /* older than what this replica knows */
    }
    int32_t self = -1;
    for (int32_t i = 0; i < mp->n_replicas; i++) {
        self =
            mp->replicas[i] == p->table->st->node_id ? mp->replicas[i] : self;
    }
    if (set_peers(p, mp, self) != 0 ||
        copy_set(&p->isr, &p->n_isr, mp->isr, mp->n_isr) != 0) {
        return BK_ENOMEM;
    }
    if (mp->partition_epoch > p->partition_epoch) {
        p->isr_inflight = false; /* the controller decided */
    }
    p->partition_epoch = mp->partition_epoch;
    p->recovering = mp->leader_recovery_state != 0;
    if (p->role == BK_REPLICA_LEADER && p->peers_epoch != p->leader_epoch) {
        reset_peers(p, now_ms);
    }
    if (p->role == BK_REPLICA_LEADER) {
        bk_replica_advance_hw(p);
        propose_recovered(p, now_ms);
    }
    return 0;
}

int16_t bk_replica_check_follower(struct bk_partition *p,
                                  const struct bk_replica_fetch_from *f,
                                  int32_t *div_epoch,
                                  int64_t *div_end)
{
    bk_owner_check(&p->owner);
    *div_epoch = -1;
    *div_end = -1;
    if (p->role != BK_REPLICA_LEADER) {
        return BK_KERR_NOT_LEADER_OR_FOLLOWER;
    }
    if (find_peer(p, f->replica_id) == NULL) {
        /* Early in a reassignment the follower may know more than this
         * leader: an epoch it sent says to wait (Kafka's rule). */
        return f->current_leader_epoch >= 0 ? BK_KERR_UNKNOWN_LEADER_EPOCH
                                            : BK_KERR_NOT_LEADER_OR_FOLLOWER;
    }
    if (f->last_fetched_epoch < 0) {
        return BK_KERR_NONE;
    }
    if (f->fetch_offset < bk_log_start_offset(p->log)) {
        return BK_KERR_OFFSET_OUT_OF_RANGE;
    }
    int32_t epoch = -1;
    int64_t end = -1;
    bk_replica_epoch_end(p, f->last_fetched_epoch, &epoch, &end);
    if (epoch < 0 && bk_log_epoch_first_start(p->log) >= 0) {
        /* Kafka's endOffsetFor with no epoch at or below the follower's:
         * its epoch ends where this log's oldest epoch starts (after an
         * unclean election, the follower wrote in an epoch this leader
         * never had). */
        *div_epoch = f->last_fetched_epoch;
        *div_end = bk_log_epoch_first_start(p->log);
        return BK_KERR_NONE;
    }
    if (epoch < 0 || end < 0) {
        return BK_KERR_OFFSET_OUT_OF_RANGE;
    }
    if (epoch < f->last_fetched_epoch || end < f->fetch_offset) {
        *div_epoch = epoch;
        *div_end = end;
    }
    return BK_KERR_NONE;
}

/* Kafka's expansion rule: caught up to the high watermark and to the
 * start of this leader's epoch (so that it has everything this leader
 * may have acknowledged), with the broker epoch it registered. */
static void maybe_expand(struct bk_partition *p,
                         const struct bk_replica_peer *r,
                         int64_t now_ms)
{
    /* KIP-704: no follower joins before the leader has recovered. */
    if (p->isr_inflight || p->recovering ||
        has_member(p->isr, p->n_isr, r->id) || r->log_end < bk_log_hw(p->log) ||
        r->log_end < p->epoch_start_offset) {
        return;
    }
    int32_t *want = bk_malloc((size_t)(p->n_isr + 1) * sizeof(*want));
    if (want == NULL) {
        return; /* the next fetch tries again */
    }
    memcpy(want, p->isr, (size_t)p->n_isr * sizeof(*want));
    want[p->n_isr] = r->id;
    bk_free(p->want_isr);
    p->want_isr = want;
    p->n_want_isr = p->n_isr + 1;
    send_proposal(p, now_ms);
}

void bk_replica_follower_fetched(struct bk_partition *p,
                                 const struct bk_replica_fetch_from *f,
                                 int64_t now_ms)
{
    bk_owner_check(&p->owner);
    struct bk_replica_peer *r = find_peer(p, f->replica_id);
    if (r == NULL || p->role != BK_REPLICA_LEADER) {
        return;
    }
    int64_t end = bk_log_end_offset(p->log);
    /* Kafka's updateFetchState: caught up now when it asked for the log
     * end, or caught up as of its previous fetch when it asked for what
     * was then the end. */
    if (f->fetch_offset >= end) {
        r->last_caught_up_ms =
            now_ms > r->last_caught_up_ms ? now_ms : r->last_caught_up_ms;
    } else if (r->last_fetch_leader_end >= 0 &&
               f->fetch_offset >= r->last_fetch_leader_end &&
               r->last_fetch_ms > r->last_caught_up_ms) {
        r->last_caught_up_ms = r->last_fetch_ms;
    }
    r->log_end = f->fetch_offset;
    r->log_start = f->log_start;
    r->broker_epoch = f->broker_epoch;
    r->last_fetch_ms = now_ms;
    r->last_fetch_leader_end = end;
    maybe_expand(p, r, now_ms);
    bk_replica_advance_hw(p);
}

/* Whether ISR member id has fallen behind for longer than the lag (this
 * node, the leader, never has). */
static bool out_of_sync(struct bk_partition *p,
                        int32_t id,
                        int64_t end,
                        int64_t lag,
                        int64_t now_ms)
{
    const struct bk_replica_peer *r = find_peer(p, id);
    return r != NULL && r->log_end != end &&
           now_ms - r->last_caught_up_ms > lag;
}

void bk_replica_isr_tick(struct bk_partition *p, int64_t now_ms)
{
    bk_owner_check(&p->owner);
    for (struct bk_replica_hw_wait **pp = &p->hw_waits; *pp != NULL;) {
        struct bk_replica_hw_wait *w = *pp;
        if (w->deadline_ms > now_ms) {
            pp = &w->next;
            continue;
        }
        *pp = w->next;
        w->next = NULL;
        w->done(w, BK_KERR_REQUEST_TIMED_OUT);
    }
    if (p->role != BK_REPLICA_LEADER || p->partition_epoch < 0) {
        return;
    }
    int64_t lag = lag_ms(p->table->st);
    if (p->isr_inflight) {
        /* A proposal answered "wait for the metadata" (or never answered)
         * whose metadata never came would block every later ISR change of
         * this partition: after the lag, fall back to the committed ISR
         * and let the next check propose afresh. */
        if (now_ms - p->isr_sent_ms > lag) {
            p->isr_inflight = false;
            bk_replica_advance_hw(p);
        }
        return;
    }
    /* Kafka's isCaughtUp: at the log end, or caught up within the lag. */
    int64_t end = bk_log_end_offset(p->log);
    int32_t out = 0;
    for (int32_t i = 0; i < p->n_isr; i++) {
        out += out_of_sync(p, p->isr[i], end, lag, now_ms) ? 1 : 0;
    }
    if (out == 0) {
        return;
    }
    int32_t *want = bk_malloc((size_t)p->n_isr * sizeof(*want));
    if (want == NULL) {
        return; /* the next tick tries again */
    }
    int32_t n = 0;
    for (int32_t i = 0; i < p->n_isr; i++) {
        if (!out_of_sync(p, p->isr[i], end, lag, now_ms)) {
            want[n++] = p->isr[i];
        }
    }
    bk_free(p->want_isr);
    p->want_isr = want;
    p->n_want_isr = n;
    send_proposal(p, now_ms);
}

bool bk_replica_isr_proposal(const struct bk_partition *p,
                             int32_t *isr,
                             int32_t cap,
                             int32_t *n_isr,
                             int32_t *leader_epoch,
                             int32_t *partition_epoch)
{
    bk_owner_check(&p->owner);
    if (!p->isr_inflight || p->role != BK_REPLICA_LEADER) {
        return false;
    }
    int32_t n = p->n_want_isr < cap ? p->n_want_isr : cap;
    memcpy(isr, p->want_isr, (size_t)n * sizeof(*isr));
    *n_isr = n;
    *leader_epoch = p->leader_epoch;
    *partition_epoch = p->partition_epoch;
    return true;
}

void bk_replica_isr_answer(struct bk_partition *p,
                           int16_t error,
                           int32_t leader_epoch,
                           int32_t partition_epoch,
                           const int32_t *isr,
                           int32_t n_isr)
{
    bk_owner_check(&p->owner);
    switch (error) {
        case BK_KERR_NONE:
            /* A success for another epoch, or older than what the
             * metadata already said, is stale (Kafka ignores it). */
            if (leader_epoch != p->leader_epoch ||
                partition_epoch < p->partition_epoch) {
                return;
            }
            if (copy_set(&p->isr, &p->n_isr, isr, n_isr) != 0) {
                return; /* the metadata brings it too */
            }
            p->partition_epoch = partition_epoch;
            p->isr_inflight = false;
            p->recovering = false; /* every proposal says RECOVERED */
            bk_replica_advance_hw(p);
            return;
        case BK_KERR_FENCED_LEADER_EPOCH:
        case BK_KERR_INVALID_UPDATE_VERSION:
        case BK_KERR_UNKNOWN_TOPIC_OR_PARTITION:
        case BK_KERR_UNKNOWN_TOPIC_ID:
        case BK_KERR_INVALID_REQUEST:
        case BK_KERR_NEW_LEADER_ELECTED:
            return; /* in flight until the metadata says more */
        default:
            /* INELIGIBLE_REPLICA, OPERATION_NOT_ATTEMPTED: back to the
             * committed ISR; transport errors: propose again later. */
            p->isr_inflight = false;
            bk_replica_advance_hw(p);
            return;
    }
}

/* ---- waiting for commitment ---------------------------------------------
 *
 * Two things that finish on different threads: the fdatasync (the syncer)
 * and the high watermark (this shard). The last to finish answers, with
 * the first error either saw. */

static void commit_part_done(struct bk_replica_commit_wait *w, int16_t error)
{
    int none = 0;
    if (error != 0) {
        atomic_compare_exchange_strong(&w->late_error, &none, error);
    }
    if (atomic_fetch_sub(&w->pending, 1) == 1) {
        w->done(w, (int16_t)atomic_load(&w->late_error));
    }
}

static void commit_synced(struct bk_log_sync_req *req, int status)
{
    commit_part_done(req->data, status != 0 ? BK_KERR_KAFKA_STORAGE_ERROR : 0);
}

static void commit_hw_reached(struct bk_replica_hw_wait *hw, int16_t error)
{
    commit_part_done(hw->data, error);
}

int16_t bk_replica_wait_committed(struct bk_partition *p,
                                  int64_t end,
                                  struct bk_replica_commit_wait *w,
                                  bool *waiting)
{
    bk_owner_check(&p->owner);
    bool sync = bk_log_durable_offset(p->log) < end;
    bool hw = bk_log_hw(p->log) < end;
    *waiting = sync || hw;
    if (!*waiting) {
        return BK_KERR_NONE;
    }
    atomic_init(&w->pending, (sync ? 1 : 0) + (hw ? 1 : 0));
    atomic_init(&w->late_error, 0);
    if (hw) {
        /* Registered first: only this thread moves the high watermark, so
         * it cannot complete before the sync is queued. */
        w->hw = (struct bk_replica_hw_wait){
            .offset = end,
            .deadline_ms = bk_clock_mono_ms(p->table->st->clock) +
                           (w->timeout_ms > 0 ? w->timeout_ms : 0),
            .done = commit_hw_reached,
            .data = w,
            .next = p->hw_waits,
        };
        p->hw_waits = &w->hw;
    }
    if (!sync) {
        return BK_KERR_NONE;
    }
    w->sync.data = w;
    if (bk_log_sync(p->log, end, &w->sync, commit_synced) != 0) {
        if (hw) {
            commit_part_done(w, BK_KERR_KAFKA_STORAGE_ERROR);
            return BK_KERR_NONE;
        }
        *waiting = false;
        return BK_KERR_KAFKA_STORAGE_ERROR;
    }
    return BK_KERR_NONE;
}
