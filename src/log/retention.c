/* Cutting the partition log: truncation at the end (a follower meeting a
 * new leader), and removal at the head (retention by time and size,
 * DeleteRecords advancing the log start offset). */
#include <stdatomic.h>
#include <string.h>

#include "common/clock.h"
#include "common/err.h"
#include "log/batch.h"
#include "log/log_int.h"

/* ---- truncation, start offset, retention ---- */

/* Where a truncation cuts: segment i (s) at byte pos, the new log end,
 * and the index entries the segment keeps. */
struct cut {
    int i;
    struct segment *s;
    int64_t pos, new_leo, keep, tkeep;
};

/* Finds the cut for a truncation at offset: the batch holding offset goes
 * entirely. Reads only. */
static int truncate_find_cut(struct bk_log *log, int64_t offset, struct cut *c)
{
    c->i = seg_find(log, offset);
    if (c->i < 0) {
        c->i = 0;
    }
    struct segment *s = c->s = log->segs[c->i];
    int rv = seg_index_load(log, s);
    c->pos = 0;
    c->new_leo = offset;
    if (rv == 0) {
        rv = seg_index_lookup(log, s, offset, &c->pos);
    }
    while (rv == 0 && c->pos < s->size) {
        struct bk_batch_hdr h;
        rv = read_hdr(log, s, c->pos, &h);
        if (rv == 0 && bk_batch_hdr_last_offset(&h) >= offset) {
            /* The batch holding offset goes entirely; past a compaction
             * gap the first batch may start after offset. */
            c->new_leo = h.base_offset < offset ? h.base_offset : offset;
            break;
        }
        if (rv == 0) {
            c->pos += bk_batch_hdr_size(&h);
        }
    }
    if (rv == 0 && c->new_leo < s->base) {
        c->new_leo = s->base;
    }
    c->keep = c->tkeep = 0;
    if (rv == 0) {
        rv = seg_index_keep(log, s, c->pos, c->new_leo, &c->keep, &c->tkeep);
    }
    return rv;
}

/* When the cut is below the checkpointed recovery point, the lower
 * recovery point must be on disk before any byte is cut: otherwise a
 * crash could leave a checkpoint that vouches for a prefix that no longer
 * exists (half-applied truncation, stale later segments). The same holds
 * for the soft recovery point (written, not synced). This waits for one
 * syncer round on the caller's thread; truncation is rare (a follower
 * meeting a new leader). BK_EAGAIN: the points did not reach the disk. */
static int truncate_lower_points(struct bk_log *log, const struct cut *c)
{
    int rv;
    bool wait = false;
    uint64_t ckpt_failures = atomic_load(&log->ckpt_failures);
    if (log->rp > c->new_leo) {
        log->rp = c->new_leo;
        log->rp_base = c->s->base;
        log->rp_pos = c->pos;
        log->rp_idx = c->keep;
        log->rp_tim = c->tkeep;
        if ((rv = queue_checkpoint(log, NULL, false)) != 0) {
            return rv;
        }
        wait = true;
    }
    if (log->soft > c->new_leo) {
        log->soft = c->new_leo;
        log->soft_base = c->s->base;
        log->soft_pos = c->pos;
        log->soft_idx = c->keep;
        log->soft_tim = c->tkeep;
        if ((rv = queue_soft_write(log)) != 0) {
            return rv;
        }
        wait = true;
    }
    /* Offset gaps are accepted only below the cleaned offset: lower it
     * (durably, in the same syncer round) before cutting. */
    clean_truncated(log, c->new_leo);
    if (wait) {
        bk_syncer_barrier(log->syncer);
        if (atomic_load(&log->failed)) {
            return BK_EIO;
        }
        /* The lowered points did not reach the disk (a transient error):
         * cut nothing; they stay lowered in memory, and the next try or
         * checkpoint writes them. */
        if (atomic_load(&log->ckpt_failures) != ckpt_failures ||
            atomic_load(&log->lost) != log->lost_seen) {
            return BK_EAGAIN;
        }
    }
    return 0;
}

/* Cuts the log: later segments go, the segment of the cut is truncated,
 * and the offsets, the durable offset and the epochs follow. */
static int truncate_cut(struct bk_log *log, const struct cut *c)
{
    int rv;
    atomic_fetch_add(&log->gen, 1);
    while (log->nsegs > c->i + 1) {
        queue_delete(log, log->segs[--log->nsegs]);
    }
    if ((rv = file_truncate(log, c->s->log_f, c->pos)) != 0) {
        return log_fail(log, rv);
    }
    c->s->size = c->pos;
    log->leo = c->new_leo;
    log->clean_on_disk = false;
    if ((rv = seg_index_set_counts(log, c->s, c->keep, c->tkeep, c->pos)) !=
        0) {
        return log_fail(log, rv);
    }
    log->hint_offset = -1;
    if (log->hw > c->new_leo) {
        log->hw = c->new_leo;
    }
    int64_t d = atomic_load(&log->durable);
    if (d > c->new_leo) {
        atomic_store(&log->durable, c->new_leo);
    }
    epochs_truncate_end(log, c->new_leo);
    return 0;
}

int bk_log_truncate(struct bk_log *log, int64_t offset)
{
    if (offset < log->log_start) {
        return BK_ERANGE;
    }
    if (offset >= log->leo) {
        return 0;
    }
    if (atomic_load(&log->failed)) {
        return BK_EIO;
    }
    struct cut c;
    int rv = truncate_find_cut(log, offset, &c);
    if (rv != 0) {
        return log_write_failed(log, rv);
    }
    rv = truncate_lower_points(log, &c);
    if (rv != 0) {
        return rv;
    }
    return truncate_cut(log, &c);
}

/* Removes segments from the head while pred says so; never the active.
 * While a cleaning job holds a snapshot of the segments, nothing is
 * removed (the next tick does it): reads already refuse offsets below the
 * log start, and the job would otherwise be wasted. */
static int delete_head(struct bk_log *log, int64_t now)
{
    if (log->cleaning != NULL) {
        return 0;
    }
    int64_t total = 0;
    for (int i = 0; i < log->nsegs; i++) {
        total += log->segs[i]->size;
    }
    int n = 0;
    while (log->nsegs > 1) {
        struct segment *s = log->segs[0];
        int64_t end = log->segs[1]->base;
        bool del = end <= log->log_start;
        bool policy = log->cfg.cleanup_delete && now >= 0;
        if (!del && policy && log->cfg.retention_ms >= 0) {
            if (seg_index_load(log, s) != 0) {
                break;
            }
            /* A segment the cleaner emptied has no timestamp left. */
            del = s->size == 0 ||
                  (s->max_ts >= 0 && s->max_ts < now - log->cfg.retention_ms);
        }
        if (!del && policy && log->cfg.retention_bytes >= 0) {
            del = total - s->size >= log->cfg.retention_bytes;
        }
        if (!del) {
            break;
        }
        total -= s->size;
        memmove(log->segs, log->segs + 1,
                (size_t)(log->nsegs - 1) * sizeof *log->segs);
        log->nsegs--;
        if (end > log->log_start) {
            log->log_start = end;
        }
        log->clean_on_disk = false;
        if (log->hint_base == s->base) {
            log->hint_offset = -1;
        }
        queue_delete(log, s);
        n++;
    }
    if (n > 0) {
        if (log->hw < log->log_start) {
            log->hw = log->log_start;
        }
        epochs_truncate_start(log, log->log_start);
        queue_checkpoint(log, NULL, false);
    }
    return n;
}

int bk_log_retention(struct bk_log *log)
{
    return delete_head(log, bk_clock_wall_ms(log->clock));
}

int bk_log_advance_start(struct bk_log *log, int64_t offset)
{
    if (offset > log->hw) {
        return BK_ERANGE;
    }
    if (offset <= log->log_start) {
        return 0;
    }
    log->log_start = offset;
    log->clean_on_disk = false;
    epochs_truncate_start(log, offset);
    if (delete_head(log, -1) == 0) {
        queue_checkpoint(log, NULL, false);
    }
    return 0;
}

/* Retires every segment but the active one: all of their data lies below
 * the new log start. Not through delete_head(), which expects the bases
 * in order: a restart backwards puts the new active segment below them. */
static void retire_all_but_active(struct bk_log *log)
{
    struct segment *act = log->segs[log->nsegs - 1];
    for (int i = 0; i < log->nsegs - 1; i++) {
        queue_delete(log, log->segs[i]);
    }
    log->segs[0] = act;
    log->nsegs = 1;
}

/* Rolls to a new, empty active segment at offset (whose base no existing
 * segment has) and makes it the whole log. */
static int restart_step(struct bk_log *log, int64_t offset)
{
    /* The roll starts its new segment at the log end: move the end first,
     * and back if the roll fails. */
    int64_t old_leo = log->leo;
    log->leo = offset;
    int rv = seg_roll(log);
    if (rv != 0) {
        log->leo = old_leo;
        return rv;
    }
    /* Durable reports for the old offsets say nothing about the new. */
    atomic_fetch_add(&log->gen, 1);
    int64_t d = atomic_load(&log->durable);
    if (d > offset) {
        atomic_store(&log->durable, offset);
    }
    /* Kafka clears the whole cache: no epoch of the old log says anything
     * about the leader's log from offset on. */
    log->nepochs = 0;
    queue_epochs(log);
    log->hw = offset;
    log->log_start = offset;
    log->hint_offset = -1;
    log->clean_on_disk = false;
    retire_all_but_active(log);
    queue_checkpoint(log, NULL, false);
    return 0;
}

int bk_log_restart_at(struct bk_log *log, int64_t offset)
{
    if (atomic_load(&log->failed)) {
        return BK_EIO;
    }
    if (log->cleaning != NULL) {
        return BK_EAGAIN; /* the cleaner holds the segments */
    }
    if (offset > log->leo) {
        return restart_step(log, offset);
    }
    if (offset < log->leo && log->log_start == log->leo && offset >= 0) {
        /* Backwards, on an empty log: a segment based at offset may still
         * be there (below the start), so move past every base first. */
        int rv = restart_step(log, log->leo + 1);
        return rv != 0 ? rv : restart_step(log, offset);
    }
    return BK_ERANGE;
}
