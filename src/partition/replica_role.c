/* The replica's roles (replica.h): becoming leader or follower at a leader
 * epoch, appending what the leader sent, and cutting a log back to where
 * it agrees with the leader's. Nothing calls these from the API yet: the
 * follower fetcher of the replication issue will (replication-notes.md
 * sections 1 to 3 and 11).
 *
 * Happy path of a follower: bk_replica_become_follower at the leader's
 * epoch, OffsetForLeaderEpoch to the leader and
 * bk_replica_truncate_to_epoch_end with its answer (KIP-101, KIP-279), then
 * a loop of Fetch at the log end and bk_replica_append_follower with the
 * records and the leader's high watermark.
 *
 * Failure modes: a stale epoch is FENCED_LEADER_EPOCH and changes nothing;
 * batches that do not continue the log (a gap, an overlap, an older epoch)
 * are refused whole before anything is written; a storage error during a
 * follower append keeps the batches written before it, as a crash would,
 * and the fetcher goes on from the new log end. */
#include <stdio.h>

#include "common/diag.h"
#include "common/err.h"
#include "log/batch.h"
#include "partition/replica_int.h"
#include "protocol/kerr.h"

/* Kafka's makeLeader/makeFollower ignore a request older than what the
 * replica knows. The log's latest epoch counts too: a follower may have
 * replicated batches of an epoch whose metadata it has not seen yet. */
static int16_t check_epoch(const struct bk_partition *p, int32_t epoch)
{
    if (epoch < 0) {
        return BK_KERR_INVALID_REQUEST;
    }
    if (epoch < p->leader_epoch || epoch < bk_log_latest_epoch(p->log)) {
        return BK_KERR_FENCED_LEADER_EPOCH;
    }
    return BK_KERR_NONE;
}

int16_t bk_replica_become_leader(struct bk_partition *p, int32_t leader_epoch)
{
    bk_owner_check(&p->owner);
    int16_t err = check_epoch(p, leader_epoch);
    if (err != BK_KERR_NONE) {
        return err;
    }
    /* The new leader's epoch starts at its log end (KIP-101): followers
     * asking OffsetForLeaderEpoch for an older epoch learn where to cut,
     * even before this leader writes anything. */
    int rv = bk_log_assign_epoch(p->log, leader_epoch);
    if (rv != 0) {
        return rv == BK_EINVAL ? BK_KERR_FENCED_LEADER_EPOCH
                               : BK_KERR_KAFKA_STORAGE_ERROR;
    }
    p->role = BK_REPLICA_LEADER;
    p->leader_epoch = leader_epoch;
    p->leader_id = -1;
    p->leader_hw = -1;
    bk_replica_advance_hw(p);
    bk_part_wake(p);
    return BK_KERR_NONE;
}

int16_t bk_replica_become_follower(struct bk_partition *p,
                                   int32_t leader_epoch,
                                   int32_t leader_id)
{
    bk_owner_check(&p->owner);
    int16_t err = check_epoch(p, leader_epoch);
    if (err != BK_KERR_NONE) {
        return err;
    }
    if (p->role != BK_REPLICA_FOLLOWER) {
        /* A follower's high watermark moves only when the leader says so:
         * it keeps what it had until the first fetch. */
        p->leader_hw = bk_log_hw(p->log);
    }
    p->role = BK_REPLICA_FOLLOWER;
    p->leader_epoch = leader_epoch;
    p->leader_id = leader_id;
    /* acks=all appends waiting for followers: another leader decides now
     * (Kafka answers them NOT_LEADER_OR_FOLLOWER). */
    p->isr_inflight = false;
    bk_replica_fail_hw_waits(p, BK_KERR_NOT_LEADER_OR_FOLLOWER);
    /* Parked fetches re-check and find this replica no longer leads. */
    bk_part_wake(p);
    return BK_KERR_NONE;
}

bool bk_replica_is_leader(const struct bk_partition *p)
{
    bk_owner_check(&p->owner);
    return p->role == BK_REPLICA_LEADER;
}

/* One batch of a follower append: where it is and what it says. */
struct fbatch {
    uint8_t *at;
    size_t len;
    struct bk_batch_hdr h;
};

/* Checks every whole batch before writing any (Kafka's follower append
 * checks structure, CRC and offsets, not the producer's rules): each must
 * be intact and start at or after the end of the previous one, the first
 * at or after the log end (a gap is what the leader's cleaner removed),
 * with epochs that never go back. A trailing partial batch (a fetch
 * cut at its size limit) is left for the next fetch, as Kafka does.
 * Returns the count of whole batches in *n. */
static int16_t check_follower_batches(struct bk_partition *p,
                                      uint8_t *buf,
                                      size_t len,
                                      size_t *n)
{
    int64_t next = bk_log_end_offset(p->log);
    int32_t epoch = bk_log_latest_epoch(p->log);
    size_t pos = 0;
    *n = 0;
    while (len - pos >= BK_BATCH_HEADER_SIZE) {
        struct bk_batch_hdr h;
        bk_batch_hdr_decode(buf + pos, &h);
        int64_t size = bk_batch_hdr_size(&h);
        if (size < BK_BATCH_HEADER_SIZE) {
            return BK_KERR_CORRUPT_MESSAGE;
        }
        if ((size_t)size > len - pos) {
            break;
        }
        if (bk_batch_validate(buf + pos, (size_t)size, BK_BATCH_CHECK_STORED,
                              &h) != 0) {
            return BK_KERR_CORRUPT_MESSAGE;
        }
        if (h.base_offset < next) {
            return BK_KERR_OFFSET_OUT_OF_RANGE;
        }
        if (h.leader_epoch < epoch) {
            return BK_KERR_FENCED_LEADER_EPOCH;
        }
        epoch = h.leader_epoch;
        next = h.base_offset + h.last_offset_delta + 1;
        pos += (size_t)size;
        (*n)++;
    }
    return BK_KERR_NONE;
}

/* Appends one checked batch as the leader wrote it, and records its
 * producer in the producer state without judging it: the leader already
 * did, and a follower that becomes leader must detect the same duplicates
 * (replication-notes.md section 11). */
static int16_t append_one(struct bk_partition *p, struct fbatch *b)
{
    struct bk_log_append_result res;
    int rv =
        bk_log_append(p->log, b->at, b->len, -1, BK_LOG_APPEND_FOLLOWER, &res);
    if (rv != 0) {
        return bk_replica_append_error(rv);
    }
    const struct bk_batch_hdr *h = &b->h;
    bool control = (h->attributes & BK_BATCH_ATTR_CONTROL) != 0;
    bk_part_after_append(p, control ? -1 : h->producer_id, h->producer_epoch,
                         h->base_sequence, h->last_offset_delta + 1,
                         res.base_offset, h->max_timestamp, b->len);
    bk_part_txn_apply(p, b->at, b->len, res.base_offset);
    return BK_KERR_NONE;
}

/* Kafka's Partition.appendRecordsToFollowerOrFutureReplica: on an empty
 * log (just restarted at the leader's log start, which DeleteRecords may
 * have put inside a batch) the leader's first batch may begin below the
 * log end while covering it: the log starts again at that batch. */
static int16_t restart_below(struct bk_partition *p,
                             const uint8_t *batches,
                             size_t len)
{
    int64_t end = bk_log_end_offset(p->log);
    if (len < BK_BATCH_HEADER_SIZE || bk_log_start_offset(p->log) != end) {
        return BK_KERR_NONE;
    }
    struct bk_batch_hdr h;
    bk_batch_hdr_decode(batches, &h);
    if (h.base_offset >= end || h.base_offset < 0 ||
        h.base_offset + h.last_offset_delta < end) {
        return BK_KERR_NONE; /* the checks that follow judge it */
    }
    int rv = bk_replica_restart_at(p, h.base_offset);
    if (rv != 0) {
        return bk_replica_append_error(rv);
    }
    bk_diag_info("partition",
                 "topic=%s partition=%d offset=%lld msg=\"the leader's first "
                 "batch begins below the log start: starting again there\"",
                 p->topic, p->index, (long long)h.base_offset);
    return BK_KERR_NONE;
}

int16_t bk_replica_append_follower(struct bk_partition *p,
                                   uint8_t *batches,
                                   size_t len,
                                   int64_t leader_hw)
{
    bk_owner_check(&p->owner);
    if (p->role != BK_REPLICA_FOLLOWER) {
        return BK_KERR_NOT_LEADER_OR_FOLLOWER;
    }
    int16_t err = restart_below(p, batches, len);
    size_t n = 0;
    if (err == BK_KERR_NONE) {
        err = check_follower_batches(p, batches, len, &n);
    }
    size_t pos = 0;
    for (size_t i = 0; err == BK_KERR_NONE && i < n; i++) {
        struct fbatch b = { .at = batches + pos };
        bk_batch_hdr_decode(b.at, &b.h);
        b.len = (size_t)bk_batch_hdr_size(&b.h);
        err = append_one(p, &b);
        pos += b.len;
    }
    /* The leader's high watermark counts even when nothing came (an empty
     * fetch moves it), and after a partial append. */
    p->leader_hw = leader_hw;
    bk_replica_advance_hw(p);
    bk_part_wake(p);
    return err;
}

/* ---- truncation ---------------------------------------------------------
 */

static void snapshot_path(const struct bk_partition *p, char *out, size_t len)
{
    snprintf(out, len, "%s/" BK_PART_SNAPSHOT_FILE, bk_log_dir(p->log));
}

/* A producer snapshot taken past the log end describes batches the log no
 * longer has; once the log grew past it again, a restart would load it as
 * if it were true. It goes (durably) before anything else happens. A file
 * the partition does not vouch for (snap_offset -1: discarded at open) goes
 * too. */
static int drop_stale_snapshot(struct bk_partition *p)
{
    if (p->snap_offset >= 0 && p->snap_offset <= bk_log_end_offset(p->log)) {
        return 0;
    }
    char path[4200];
    snapshot_path(p, path, sizeof(path));
    int rv = p->disk->unlink(p->disk, path);
    if (rv == BK_ENOENT) {
        p->snap_offset = -1;
        return 0;
    }
    if (rv == 0) {
        rv = p->disk->fsync_dir(p->disk, bk_log_dir(p->log));
    }
    if (rv == 0) {
        p->snap_offset = -1;
    }
    return rv;
}

/* Kafka rebuilds the producer state after a truncation from the newest
 * snapshot at or below the new end, replaying the batches after it:
 * cutting the cached batches is not enough, as older batches of a producer
 * that the cut ones had pushed out of its window come back. */
static int rebuild_producers(struct bk_partition *p)
{
    bk_pstate_free(&p->pstate);
    int64_t from = bk_log_start_offset(p->log);
    int64_t at = -1;
    if (p->snap_offset >= 0) {
        char path[4200];
        snapshot_path(p, path, sizeof(path));
        if (bk_pstate_load(&p->pstate, p->disk, path, &at) != 0 ||
            at != p->snap_offset) {
            bk_pstate_free(&p->pstate);
            at = -1;
        }
    }
    if (at < 0) {
        bk_pstate_init(&p->pstate);
    } else if (at > from) {
        from = at;
    }
    return bk_part_replay_producers(p, from);
}

int bk_replica_truncate(struct bk_partition *p, int64_t offset)
{
    bk_owner_check(&p->owner);
    if (offset < bk_log_start_offset(p->log)) {
        return BK_ERANGE;
    }
    /* A snapshot being written holds the state before the cut and would
     * land after it: wait for it (the fetcher retries). */
    if (p->snapshot_running) {
        return BK_EAGAIN;
    }
    int64_t end = bk_log_end_offset(p->log);
    int rv = bk_log_truncate(p->log, offset);
    if (rv != 0) {
        return rv;
    }
    /* Checked even when nothing was cut, so that a retry after a failed
     * unlink finishes the job. */
    rv = drop_stale_snapshot(p);
    if (rv == 0 && bk_log_end_offset(p->log) < end) {
        rv = rebuild_producers(p);
        if (rv != 0) {
            bk_diag_warn("partition",
                         "topic=%s partition=%d msg=\"producer state rebuild "
                         "after truncation failed: %s\"",
                         p->topic, p->index, bk_strerror(rv));
        }
    }
    /* The log store clamped the high watermark to the new end. */
    bk_replica_advance_hw(p);
    bk_part_wake(p);
    return rv;
}

int bk_replica_follow_log_start(struct bk_partition *p, int64_t leader_start)
{
    bk_owner_check(&p->owner);
    int64_t hw = bk_log_hw(p->log);
    int64_t target = leader_start < hw ? leader_start : hw;
    if (p->role != BK_REPLICA_FOLLOWER ||
        target <= bk_log_start_offset(p->log)) {
        return 0;
    }
    return bk_log_advance_start(p->log, target);
}

int bk_replica_restart_at(struct bk_partition *p, int64_t offset)
{
    bk_owner_check(&p->owner);
    if (p->snapshot_running) {
        return BK_EAGAIN; /* it would land after the restart */
    }
    int rv = bk_log_restart_at(p->log, offset);
    if (rv != 0) {
        return rv;
    }
    /* Kafka's producerStateManager.truncateFullyAndStartAt: the snapshot
     * and the state describe batches that are gone. */
    p->snap_offset = -1;
    rv = drop_stale_snapshot(p);
    int rb = rebuild_producers(p);
    bk_replica_advance_hw(p);
    bk_part_wake(p);
    return rv != 0 ? rv : rb;
}

/* Kafka's follower rule (AbstractFetcherThread's truncation state, with
 * KIP-279): the leader answered OffsetForLeaderEpoch for this replica's
 * latest epoch with (leader_epoch, leader_end). */
int bk_replica_truncate_to_epoch_end(struct bk_partition *p,
                                     int32_t leader_epoch,
                                     int64_t leader_end,
                                     bool *complete)
{
    bk_owner_check(&p->owner);
    int64_t leo = bk_log_end_offset(p->log);
    int64_t target;
    *complete = true;
    if (leader_end < 0) {
        /* The leader knows no epoch this old: keep what is committed. */
        target = bk_log_hw(p->log);
    } else {
        int32_t mine = -1;
        int64_t mine_end = -1;
        bk_replica_epoch_end(p, leader_epoch, &mine, &mine_end);
        if (mine < 0) {
            /* Every local epoch is newer than the leader's answer. */
            target = leader_end;
        } else if (mine != leader_epoch) {
            /* This log never saw the leader's epoch: cut to the end of
             * the largest older one it has, then ask again with it. */
            target = mine_end;
            *complete = false;
        } else {
            target = mine_end < leader_end ? mine_end : leader_end;
        }
    }
    return bk_replica_truncate(p, target < leo ? target : leo);
}
