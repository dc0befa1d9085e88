/* The partition log: segments, indexes, append, read, lookup, truncation,
 * retention and checkpoints. Recovery lives in recover.c.
 *
 * On disk, in the partition directory:
 *   00000000000000000000.log        record batches as the clients sent them
 *   00000000000000000000.index      sparse offset index, 8-byte entries:
 *                                   relative base offset u32, position u32
 *   00000000000000000000.timeindex  time index, 12-byte entries: running
 *                                   max timestamp i64, relative offset u32
 *   log-checkpoint                  log start offset and recovery point
 *   leader-epoch-checkpoint         Kafka's format: version, count, pairs
 * All integers in index files are big-endian, as in Kafka. An index entry
 * is added for a batch when at least index.interval.bytes were appended
 * since the previous entry, so no entry has position 0, and entries are
 * strictly increasing in both fields: a zero or torn entry is detectable.
 *
 * Invariants (checked by recovery):
 *   - segment i's base offset equals the first offset of its first batch
 *     and the end offset of segment i-1;
 *   - everything below the checkpointed recovery point is on stable storage,
 *     index entries included (the checkpoint item syncs them first);
 *   - the last time-index entry of a sealed segment holds the segment's
 *     largest timestamp (written at roll). */
#include "common/log.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/err.h"
#include "common/heap.h"
#include "log/batch.h"
#include "log/log_priv.h"

void bk_log_config_default(struct bk_log_config *c)
{
    c->segment_bytes = 1 << 30;
    c->segment_ms = 7LL * 24 * 3600 * 1000;
    c->index_interval_bytes = 4096;
    c->retention_ms = 7LL * 24 * 3600 * 1000;
    c->retention_bytes = -1;
    c->flush_messages = INT64_MAX;
    c->flush_ms = INT64_MAX;
    c->max_message_bytes = 1048576 + 12;
    c->recovery_checkpoint_bytes = 64LL << 20;
    c->log_append_time = false;
    c->cleanup_delete = true;
    c->cleanup_compact = false;
    c->delete_retention_ms = 86400000;
    c->min_compaction_lag_ms = 0;
    c->max_compaction_lag_ms = INT64_MAX;
    c->min_cleanable_dirty_ratio = 0.5;
    c->producer_id_expiration_ms = 86400000;
    c->cleaner_enable = true;
    c->cleaner_backoff_ms = 15000;
    c->cleaner_map_bytes = 128LL << 20;
    c->write_errors_fatal = false;
}

/* ---- files ---- */

ssize_t file_pread(struct bk_log *log,
                   struct bk_fdc_file *f,
                   void *buf,
                   size_t len,
                   int64_t off)
{
    int fd = bk_fdc_pin(f, false);
    if (fd < 0) {
        return fd == BK_ENOENT ? 0 : fd;
    }
    ssize_t n = bk_disk_pread_all(log->disk, fd, buf, len, off);
    bk_fdc_unpin(f);
    return n;
}

int file_pwrite(struct bk_log *log,
                struct bk_fdc_file *f,
                const void *buf,
                size_t len,
                int64_t off)
{
    int fd = bk_fdc_pin(f, true);
    if (fd < 0) {
        return fd;
    }
    int rv = bk_disk_pwrite_all(log->disk, fd, buf, len, off);
    bk_fdc_unpin(f);
    return rv;
}

int file_truncate(struct bk_log *log, struct bk_fdc_file *f, int64_t len)
{
    int fd = bk_fdc_pin(f, len > 0);
    if (fd < 0) {
        return fd == BK_ENOENT ? 0 : fd;
    }
    int rv = log->disk->ftruncate(log->disk, fd, len);
    bk_fdc_unpin(f);
    return rv;
}

static int64_t file_size(struct bk_log *log, struct bk_fdc_file *f)
{
    int64_t size = 0;
    int rv = log->disk->stat_size(log->disk, f->path, &size);
    if (rv == BK_ENOENT) {
        return 0;
    }
    return rv < 0 ? rv : size;
}

/* ---- segments ---- */

int seg_path(const struct bk_log *log,
             int64_t base,
             const char *ext,
             char *buf,
             size_t cap)
{
    int n = snprintf(buf, cap, "%s/%020" PRId64 "%s", log->dir, base, ext);
    return n < 0 || (size_t)n >= cap ? BK_EINVAL : 0;
}

struct segment *seg_new(struct bk_log *log, int64_t base)
{
    char path[BK_LOG_PATH_MAX];
    struct segment *s = bk_calloc(1, sizeof *s);
    if (s == NULL) {
        return NULL;
    }
    s->base = base;
    s->max_ts = -1;
    s->last_tim_ts = -1;
    s->index_state = SEG_INDEX_UNCHECKED;
    const char *ext[3] = { ".log", ".index", ".timeindex" };
    struct bk_fdc_file **f[3] = { &s->log_f, &s->idx_f, &s->tim_f };
    for (int i = 0; i < 3; i++) {
        if (seg_path(log, base, ext[i], path, sizeof path) != 0 ||
            (*f[i] = bk_fdc_file_new(log->fc, path)) == NULL) {
            seg_free(s);
            return NULL;
        }
    }
    return s;
}

void seg_free(struct segment *s)
{
    if (s != NULL) {
        bk_fdc_file_unref(s->log_f);
        bk_fdc_file_unref(s->idx_f);
        bk_fdc_file_unref(s->tim_f);
        bk_free(s->pend);
        bk_free(s);
    }
}

int64_t seg_end_offset(const struct bk_log *log, int i)
{
    return i + 1 < log->nsegs ? log->segs[i + 1]->base : log->leo;
}

bool seg_is_active(const struct bk_log *log, const struct segment *s)
{
    return log->nsegs > 0 && log->segs[log->nsegs - 1] == s;
}

/* Makes room for one more segment in log->segs (before anything changes,
 * so that a roll that cannot grow the array leaves the log as it was). */
static int segs_reserve(struct bk_log *log)
{
    if (log->nsegs == log->cap) {
        int cap = log->cap == 0 ? 1 : log->cap * 2;
        struct segment **n = bk_realloc(log->segs, (size_t)cap * sizeof *n);
        if (n == NULL) {
            return BK_ENOMEM;
        }
        log->segs = n;
        log->cap = cap;
    }
    return 0;
}

int segs_insert(struct bk_log *log, struct segment *s)
{
    int rv = segs_reserve(log);
    if (rv != 0) {
        return rv;
    }
    log->segs[log->nsegs++] = s;
    return 0;
}

int seg_find(const struct bk_log *log, int64_t offset)
{
    int lo = 0, hi = log->nsegs - 1, ans = -1;
    while (lo <= hi) {
        int mid = lo + (hi - lo) / 2;
        if (log->segs[mid]->base <= offset) {
            ans = mid;
            lo = mid + 1;
        } else {
            hi = mid - 1;
        }
    }
    return ans;
}

/* Reads and checks the header of the batch at pos. BK_EAGAIN: the batch
 * runs past the segment's valid size. */
int read_hdr(struct bk_log *log,
             struct segment *s,
             int64_t pos,
             struct bk_batch_hdr *h)
{
    uint8_t buf[BK_BATCH_HEADER_SIZE];
    if (s->size - pos < BK_BATCH_HEADER_SIZE) {
        return BK_EAGAIN;
    }
    ssize_t n = file_pread(log, s->log_f, buf, sizeof buf, pos);
    if (n < 0) {
        return (int)n;
    }
    if (n < (ssize_t)sizeof buf) {
        return BK_EAGAIN;
    }
    bk_batch_hdr_decode(buf, h);
    return bk_batch_hdr_check(h, s->size - pos, BK_BATCH_CHECK_STORED);
}

/* ---- indexes ---- */

static void idx_decode(const uint8_t *b, int64_t *rel, int64_t *pos)
{
    *rel = bk_be32(b);
    *pos = bk_be32(b + 4);
}

static void tim_decode(const uint8_t *b, int64_t *ts, int64_t *rel)
{
    *ts = (int64_t)bk_be64(b);
    *rel = bk_be32(b + 8);
}

static int idx_read(struct bk_log *log,
                    struct segment *s,
                    int64_t i,
                    int64_t *rel,
                    int64_t *pos)
{
    uint8_t b[IDX_ENTRY];
    ssize_t n = file_pread(log, s->idx_f, b, sizeof b, i * IDX_ENTRY);
    if (n != (ssize_t)sizeof b) {
        return n < 0 ? (int)n : BK_ECORRUPT;
    }
    idx_decode(b, rel, pos);
    return 0;
}

static int tim_read(struct bk_log *log,
                    struct segment *s,
                    int64_t i,
                    int64_t *ts,
                    int64_t *rel)
{
    uint8_t b[TIM_ENTRY];
    ssize_t n = file_pread(log, s->tim_f, b, sizeof b, i * TIM_ENTRY);
    if (n != (ssize_t)sizeof b) {
        return n < 0 ? (int)n : BK_ECORRUPT;
    }
    tim_decode(b, ts, rel);
    return 0;
}

int seg_index_flush(struct bk_log *log, struct segment *s)
{
    struct idx_pending *p = s->pend;
    if (p == NULL || (p->nidx == 0 && p->ntim == 0)) {
        return 0;
    }
    int rv = 0;
    if (p->nidx > 0) {
        rv = file_pwrite(log, s->idx_f, p->idx, (size_t)p->nidx * IDX_ENTRY,
                         (s->idx_entries - p->nidx) * IDX_ENTRY);
    }
    if (rv == 0 && p->ntim > 0) {
        rv = file_pwrite(log, s->tim_f, p->tim, (size_t)p->ntim * TIM_ENTRY,
                         (s->tim_entries - p->ntim) * TIM_ENTRY);
    }
    if (rv == 0) {
        p->nidx = p->ntim = 0;
    }
    return rv;
}

int seg_index_append(struct bk_log *log,
                     struct segment *s,
                     int64_t offset,
                     int64_t pos,
                     int64_t max_ts)
{
    if (s->pend == NULL) {
        s->pend = bk_calloc(1, sizeof *s->pend);
        if (s->pend == NULL) {
            return BK_ENOMEM;
        }
    }
    struct idx_pending *p = s->pend;
    if (p->nidx == PEND_MAX || p->ntim == PEND_MAX) {
        int rv = seg_index_flush(log, s);
        if (rv != 0) {
            return rv;
        }
    }
    uint8_t *b = p->idx + p->nidx * IDX_ENTRY;
    bk_put_be32(b, (uint32_t)(offset - s->base));
    bk_put_be32(b + 4, (uint32_t)pos);
    p->nidx++;
    s->idx_entries++;
    s->last_idx_pos = pos;
    if (max_ts > s->last_tim_ts) {
        b = p->tim + p->ntim * TIM_ENTRY;
        bk_put_be64(b, (uint64_t)max_ts);
        bk_put_be32(b + 8, (uint32_t)(offset - s->base));
        p->ntim++;
        s->tim_entries++;
        s->last_tim_ts = max_ts;
    }
    return 0;
}

/* Writes the entry that makes the last time-index entry of a sealed segment
 * carry its largest timestamp (Kafka does the same at roll). */
int seg_final_time_entry(struct bk_log *log, struct segment *s)
{
    int rv = seg_index_flush(log, s);
    if (rv != 0 || s->max_ts <= s->last_tim_ts || s->size == 0) {
        return rv;
    }
    int i = seg_find(log, s->base);
    int64_t last = seg_end_offset(log, i) - 1;
    uint8_t b[TIM_ENTRY];
    bk_put_be64(b, (uint64_t)s->max_ts);
    bk_put_be32(b + 8, (uint32_t)(last - s->base));
    rv = file_pwrite(log, s->tim_f, b, TIM_ENTRY, s->tim_entries * TIM_ENTRY);
    if (rv == 0) {
        s->tim_entries++;
        s->last_tim_ts = s->max_ts;
    }
    return rv;
}

/* Bookkeeping for one batch appended or scanned at pos: running max
 * timestamp and, every index.interval.bytes, an index entry. */
void seg_note_batch(struct bk_log *log,
                    struct segment *s,
                    int64_t base,
                    int64_t pos,
                    int64_t size,
                    int64_t max_ts)
{
    if (max_ts > s->max_ts) {
        s->max_ts = max_ts;
    }
    if (pos > 0 && s->since_index >= log->cfg.index_interval_bytes) {
        if (seg_index_append(log, s, base, pos, s->max_ts) == 0) {
            s->since_index = 0;
        }
    }
    s->since_index += size;
}

/* Walks headers over [pos, end) for the running max timestamp. */
static int scan_max_ts(struct bk_log *log,
                       struct segment *s,
                       int64_t pos,
                       int64_t end)
{
    while (pos < end) {
        struct bk_batch_hdr h;
        int rv = read_hdr(log, s, pos, &h);
        if (rv != 0) {
            return rv == BK_EAGAIN ? BK_ECORRUPT : rv;
        }
        if (h.max_timestamp > s->max_ts) {
            s->max_ts = h.max_timestamp;
        }
        pos += bk_batch_hdr_size(&h);
    }
    return 0;
}

int seg_index_rebuild(struct bk_log *log, struct segment *s, bool sealed)
{
    bk_log_info("log", "dir=%s base=%" PRId64 " msg=\"rebuilding index\"",
                log->dir, s->base);
    if (s->pend != NULL) {
        s->pend->nidx = s->pend->ntim = 0;
    }
    int rv = file_truncate(log, s->idx_f, 0);
    if (rv == 0) {
        rv = file_truncate(log, s->tim_f, 0);
    }
    if (rv != 0) {
        return rv;
    }
    s->idx_entries = s->tim_entries = 0;
    s->last_idx_pos = 0;
    s->last_tim_ts = -1;
    s->max_ts = -1;
    s->since_index = 0;
    int64_t pos = 0;
    while (pos < s->size) {
        struct bk_batch_hdr h;
        rv = read_hdr(log, s, pos, &h);
        if (rv != 0) {
            return rv == BK_EAGAIN ? BK_ECORRUPT : rv;
        }
        seg_note_batch(log, s, h.base_offset, pos, bk_batch_hdr_size(&h),
                       h.max_timestamp);
        pos += bk_batch_hdr_size(&h);
    }
    s->index_state = SEG_INDEX_OK;
    return sealed ? seg_final_time_entry(log, s) : 0;
}

/* Makes the segment's index counters valid: sizes the index files, checks
 * their last entries against the segment, and rebuilds them when missing or
 * damaged. Reads no batch data except, for the active segment, the headers
 * after the last index entry. */
int seg_index_load(struct bk_log *log, struct segment *s)
{
    if (s->index_state == SEG_INDEX_OK) {
        return 0;
    }
    bool sealed = !seg_is_active(log, s);
    int64_t isz = file_size(log, s->idx_f);
    int64_t tsz = file_size(log, s->tim_f);
    if (isz < 0 || tsz < 0) {
        return (int)(isz < 0 ? isz : tsz);
    }
    bool ok = isz % IDX_ENTRY == 0 && tsz % TIM_ENTRY == 0;
    int i = seg_find(log, s->base);
    int64_t end = seg_end_offset(log, i);
    s->idx_entries = isz / IDX_ENTRY;
    s->tim_entries = tsz / TIM_ENTRY;
    s->last_idx_pos = 0;
    s->last_tim_ts = -1;
    if (ok && s->idx_entries > 0) {
        int64_t rel = 0, pos = 0;
        ok = idx_read(log, s, s->idx_entries - 1, &rel, &pos) == 0 && pos > 0 &&
             pos < s->size && s->base + rel < end;
        s->last_idx_pos = pos;
    }
    if (ok && s->tim_entries > 0) {
        int64_t ts = -1, rel = 0;
        ok = tim_read(log, s, s->tim_entries - 1, &ts, &rel) == 0 &&
             s->base + rel < end;
        s->last_tim_ts = ts;
    }
    if (ok && s->size > 0 && s->idx_entries == 0 &&
        s->size >
            2 * log->cfg.index_interval_bytes + log->cfg.max_message_bytes) {
        ok = false; /* a big segment with no index: the index was lost */
    }
    if (sealed && ok && s->size > 0 && s->tim_entries == 0) {
        ok = false; /* a sealed segment always ends with a time entry */
    }
    if (!ok) {
        return seg_index_rebuild(log, s, sealed);
    }
    s->max_ts = s->last_tim_ts;
    s->since_index = s->size - s->last_idx_pos;
    if (!sealed) {
        int rv = scan_max_ts(log, s, s->last_idx_pos, s->size);
        if (rv != 0) {
            return rv;
        }
    }
    s->index_state = SEG_INDEX_OK;
    return 0;
}

/* Flushes the pending index entries before a lookup and returns how many
 * offset (*nidx) and time (*ntim) entries the lookup may read. On a full
 * disk the flush fails, and the lookup uses the entries already in the
 * files, a floor as good (reads keep working while appends are refused). */
static int seg_index_readable(struct bk_log *log,
                              struct segment *s,
                              int64_t *nidx,
                              int64_t *ntim)
{
    int rv = seg_index_flush(log, s);
    *nidx = s->idx_entries;
    *ntim = s->tim_entries;
    if (rv != 0 && (bk_err_transient(rv) || bk_err_nospace(rv))) {
        *nidx -= s->pend->nidx;
        *ntim -= s->pend->ntim;
        rv = 0;
    }
    return rv;
}

/* Position of the last index entry with offset <= target, 0 if none. */
int seg_index_lookup(struct bk_log *log,
                     struct segment *s,
                     int64_t offset,
                     int64_t *pos)
{
    int64_t nidx = 0, ntim = 0;
    int rv = seg_index_load(log, s);
    if (rv == 0) {
        rv = seg_index_readable(log, s, &nidx, &ntim);
    }
    if (rv != 0) {
        return rv;
    }
    int64_t lo = 0, hi = nidx - 1;
    *pos = 0;
    while (lo <= hi) {
        int64_t mid = lo + (hi - lo) / 2, rel = 0, p = 0;
        rv = idx_read(log, s, mid, &rel, &p);
        if (rv != 0) {
            return rv;
        }
        if (s->base + rel <= offset) {
            *pos = p;
            lo = mid + 1;
        } else {
            hi = mid - 1;
        }
    }
    return 0;
}

/* Offset of the last time-index entry whose timestamp is < ts (every batch
 * up to it has only smaller timestamps), or the segment base. */
static int seg_time_lookup(struct bk_log *log,
                           struct segment *s,
                           int64_t ts,
                           int64_t *offset)
{
    int64_t nidx = 0, ntim = 0;
    int rv = seg_index_readable(log, s, &nidx, &ntim);
    if (rv != 0) {
        return rv;
    }
    int64_t lo = 0, hi = ntim - 1;
    *offset = s->base;
    while (lo <= hi) {
        int64_t mid = lo + (hi - lo) / 2, t = 0, rel = 0;
        rv = tim_read(log, s, mid, &t, &rel);
        if (rv != 0) {
            return rv;
        }
        if (t < ts) {
            *offset = s->base + rel;
            lo = mid + 1;
        } else {
            hi = mid - 1;
        }
    }
    return 0;
}

/* Counts the index entries below pos (offset index) and below end_offset
 * (time index): what a truncation there keeps. Reads only. */
static int seg_index_keep(struct bk_log *log,
                          struct segment *s,
                          int64_t pos,
                          int64_t end_offset,
                          int64_t *keep_out,
                          int64_t *tkeep_out)
{
    int rv = seg_index_load(log, s);
    if (rv == 0) {
        rv = seg_index_flush(log, s);
    }
    if (rv != 0) {
        return rv;
    }
    int64_t keep = 0, lo = 0, hi = s->idx_entries - 1;
    while (lo <= hi) {
        int64_t mid = lo + (hi - lo) / 2, rel = 0, p = 0;
        if ((rv = idx_read(log, s, mid, &rel, &p)) != 0) {
            return rv;
        }
        if (p < pos) {
            keep = mid + 1;
            lo = mid + 1;
        } else {
            hi = mid - 1;
        }
    }
    int64_t tkeep = 0;
    lo = 0;
    hi = s->tim_entries - 1;
    while (lo <= hi) {
        int64_t mid = lo + (hi - lo) / 2, t = 0, rel = 0;
        if ((rv = tim_read(log, s, mid, &t, &rel)) != 0) {
            return rv;
        }
        if (s->base + rel < end_offset) {
            tkeep = mid + 1;
            lo = mid + 1;
        } else {
            hi = mid - 1;
        }
    }
    *keep_out = keep;
    *tkeep_out = tkeep;
    return 0;
}

/* Drops index entries at or past pos (offset index) or end_offset (time
 * index), then recomputes the running max timestamp. */
int seg_index_truncate(struct bk_log *log,
                       struct segment *s,
                       int64_t pos,
                       int64_t end_offset)
{
    int64_t keep, tkeep;
    int rv = seg_index_keep(log, s, pos, end_offset, &keep, &tkeep);
    if (rv != 0) {
        return rv;
    }
    return seg_index_set_counts(log, s, keep, tkeep, pos);
}

/* Cuts the index files to nidx / ntim entries (when they have more) and
 * recomputes the bookkeeping for a segment whose valid size is pos. */
int seg_index_set_counts(struct bk_log *log,
                         struct segment *s,
                         int64_t nidx,
                         int64_t ntim,
                         int64_t pos)
{
    int rv = seg_index_flush(log, s);
    if (rv != 0) {
        return rv;
    }
    int64_t isz = file_size(log, s->idx_f), tsz = file_size(log, s->tim_f);
    if (isz < 0 || tsz < 0) {
        return (int)(isz < 0 ? isz : tsz);
    }
    if (nidx > isz / IDX_ENTRY) {
        nidx = isz / IDX_ENTRY;
    }
    if (ntim > tsz / TIM_ENTRY) {
        ntim = tsz / TIM_ENTRY;
    }
    if (isz != nidx * IDX_ENTRY &&
        (rv = file_truncate(log, s->idx_f, nidx * IDX_ENTRY)) != 0) {
        return rv;
    }
    if (tsz != ntim * TIM_ENTRY &&
        (rv = file_truncate(log, s->tim_f, ntim * TIM_ENTRY)) != 0) {
        return rv;
    }
    s->idx_entries = nidx;
    s->tim_entries = ntim;
    s->last_idx_pos = 0;
    s->last_tim_ts = -1;
    int64_t rel = 0;
    if (nidx > 0 &&
        (rv = idx_read(log, s, nidx - 1, &rel, &s->last_idx_pos)) != 0) {
        return rv;
    }
    if (ntim > 0 &&
        (rv = tim_read(log, s, ntim - 1, &s->last_tim_ts, &rel)) != 0) {
        return rv;
    }
    if (nidx > 0 && s->last_idx_pos >= pos) {
        return BK_ECORRUPT;
    }
    s->max_ts = s->last_tim_ts;
    s->since_index = pos - s->last_idx_pos;
    s->index_state = SEG_INDEX_OK;
    return scan_max_ts(log, s, s->last_idx_pos, pos);
}

/* ---- background work ---- */

static struct bk_sync_item *item_new(struct bk_log *log, enum bk_sync_kind kind)
{
    struct bk_sync_item *it = bk_calloc(1, sizeof *it);
    if (it != NULL) {
        it->kind = kind;
        it->log = log;
        it->gen = atomic_load(&log->gen);
        it->durable = -1;
        it->lost = log->lost_seen;
    }
    return it;
}

static void item_add_seg(struct bk_sync_item *it, struct segment *s)
{
    struct bk_fdc_file *f[3] = { s->log_f, s->idx_f, s->tim_f };
    for (int i = 0; i < 3; i++) {
        bk_fdc_file_ref(f[i]);
        it->files[it->nfiles++] = f[i];
    }
}

static int item_set_ckpt(struct bk_log *log,
                         struct bk_sync_item *it,
                         const char *name,
                         const char *buf,
                         size_t len)
{
    char path[BK_LOG_PATH_MAX];
    snprintf(path, sizeof path, "%s/%s", log->dir, name);
    it->ckpt_dir = bk_strdup(log->dir);
    it->ckpt_path = bk_strdup(path);
    it->ckpt_buf = bk_malloc(len);
    if (it->ckpt_dir == NULL || it->ckpt_path == NULL || it->ckpt_buf == NULL) {
        return BK_ENOMEM;
    }
    memcpy(it->ckpt_buf, buf, len);
    it->ckpt_len = len;
    return 0;
}

#define CKPT_CAP 256

/* Allocates a checkpoint item with room for the checkpoint line, so that
 * filling and queueing it (ckpt_push) cannot fail. */
static struct bk_sync_item *ckpt_alloc(struct bk_log *log)
{
    struct bk_sync_item *it = item_new(log, BK_SYNC_FILES);
    if (it == NULL) {
        return NULL;
    }
    char path[BK_LOG_PATH_MAX];
    snprintf(path, sizeof path, "%s/%s", log->dir, CKPT_NAME);
    it->ckpt_dir = bk_strdup(log->dir);
    it->ckpt_path = bk_strdup(path);
    it->ckpt_buf = bk_malloc(CKPT_CAP);
    if (it->ckpt_dir == NULL || it->ckpt_path == NULL || it->ckpt_buf == NULL) {
        bk_sync_item_free(it);
        return NULL;
    }
    return it;
}

/* Fills and queues a checkpoint item from ckpt_alloc. With sync != NULL the
 * recovery point moves to the log end: the item first syncs that segment's
 * files and the active segment's, whose index entries the caller flushed. */
static void ckpt_push(struct bk_log *log,
                      struct bk_sync_item *it,
                      struct segment *sync,
                      bool clean)
{
    if (sync != NULL) {
        struct segment *act = log->segs[log->nsegs - 1];
        item_add_seg(it, sync);
        if (sync != act) {
            item_add_seg(it, act);
        }
        log->rp_idx = act->idx_entries;
        log->rp_tim = act->tim_entries;
        log->rp = log->leo;
        log->rp_base = act->base;
        log->rp_pos = act->size;
        log->rp_bytes = 0;
        log->soft = log->rp;
        log->soft_base = log->rp_base;
        log->soft_pos = log->rp_pos;
        log->soft_idx = log->rp_idx;
        log->soft_tim = log->rp_tim;
        log->rp_ckpt_ms = bk_clock_mono_ms(log->clock);
        it->durable = log->leo;
    }
    int n = snprintf(it->ckpt_buf, CKPT_CAP,
                     "1 %" PRId64 " %" PRId64 " %" PRId64 " %" PRId64
                     " %d %" PRId64 " %" PRId64 " %" PRId64 "\n",
                     log->log_start, log->rp, log->rp_base, log->rp_pos,
                     clean ? 1 : 0, log->leo, log->rp_idx, log->rp_tim);
    it->ckpt_len = (size_t)n;
    bk_syncer_push(log->syncer, it);
}

/* Queues a checkpoint of the log start offset and recovery point. With
 * sync != NULL the recovery point moves to the log end: the item first
 * syncs that segment's files (data and indexes) and so makes it true. */
int queue_checkpoint(struct bk_log *log, struct segment *sync, bool clean)
{
    if (sync != NULL) {
        struct segment *act = log->segs[log->nsegs - 1];
        int rv = seg_index_load(log, act);
        if (rv == 0) {
            rv = seg_index_flush(log, act);
        }
        if (rv == 0) {
            rv = seg_index_flush(log, sync);
        }
        if (rv != 0) {
            return rv;
        }
    }
    struct bk_sync_item *it = ckpt_alloc(log);
    if (it == NULL) {
        return BK_ENOMEM;
    }
    ckpt_push(log, it, sync, clean);
    return 0;
}

/* The syncer could not run some syncs (bk_log_syncer_lost): queues a sync
 * of every segment, then a checkpoint that moves the recovery point to
 * the end. Checkpoints queued before now are not written (their lost
 * count is old), nor is this one if a sync fails again: then the next
 * tick comes back here. Rare (a file could not be opened to sync it), so
 * syncing every segment, clean ones included, is cheap enough. */
static int resync(struct bk_log *log)
{
    uint64_t lost = atomic_load(&log->lost);
    if (lost == log->lost_seen) {
        return 0;
    }
    log->lost_seen = lost;
    struct segment *act = log->segs[log->nsegs - 1];
    int rv = seg_index_load(log, act);
    for (int i = 0; rv == 0 && i < log->nsegs; i++) {
        rv = seg_index_flush(log, log->segs[i]);
    }
    for (int i = 0; rv == 0 && i + 1 < log->nsegs; i++) {
        struct bk_sync_item *it = item_new(log, BK_SYNC_FILES);
        if (it == NULL) {
            rv = BK_ENOMEM;
            break;
        }
        item_add_seg(it, log->segs[i]);
        bk_syncer_push(log->syncer, it);
    }
    struct bk_sync_item *it = rv == 0 ? ckpt_alloc(log) : NULL;
    if (it == NULL) {
        log->lost_seen--; /* try again at the next tick */
        return rv != 0 ? rv : BK_ENOMEM;
    }
    ckpt_push(log, it, act, false);
    return 0;
}

int queue_small_file(struct bk_log *log,
                     const char *name,
                     const char *buf,
                     size_t len)
{
    struct bk_sync_item *it = item_new(log, BK_SYNC_FILES);
    if (it == NULL) {
        return BK_ENOMEM;
    }
    int rv = item_set_ckpt(log, it, name, buf, len);
    if (rv != 0) {
        bk_sync_item_free(it);
        return rv;
    }
    bk_syncer_push(log->syncer, it);
    return 0;
}

int queue_unlink_names(struct bk_log *log, const char *const *names, int n)
{
    struct bk_sync_item *it = item_new(log, BK_SYNC_DELETE);
    if (it == NULL) {
        return BK_ENOMEM;
    }
    char path[BK_LOG_PATH_MAX];
    for (int i = 0; i < n && i < BK_SYNC_MAX_FILES; i++) {
        snprintf(path, sizeof path, "%s/%s", log->dir, names[i]);
        struct bk_fdc_file *f = bk_fdc_file_new(log->fc, path);
        if (f == NULL) {
            bk_sync_item_free(it);
            return BK_ENOMEM;
        }
        it->files[it->nfiles++] = f;
    }
    bk_syncer_push(log->syncer, it);
    return 0;
}

void queue_release_pinned(struct bk_log *log, struct bk_fdc_file *f)
{
    struct bk_sync_item *it = item_new(log, BK_SYNC_RELEASE);
    if (it == NULL) {
        bk_fdc_mark_deleted(f);
        bk_fdc_unpin(f);
        return;
    }
    bk_fdc_file_ref(f);
    it->files[it->nfiles++] = f;
    bk_syncer_push(log->syncer, it);
}

void queue_retire_files(struct bk_log *log, struct bk_fdc_file **f, int n)
{
    for (int i = 0; i < n; i++) {
        int rv = bk_fdc_retire(f[i]);
        if (rv != 0) {
            bk_log_warn("log", "path=%s err=%s msg=\"rename failed\"",
                        f[i]->path, bk_errname(rv));
        }
    }
    struct bk_sync_item *it = item_new(log, BK_SYNC_DELETE);
    if (it == NULL) {
        for (int i = 0; i < n; i++) {
            log->disk->unlink(log->disk, f[i]->path);
        }
        return;
    }
    for (int i = 0; i < n && i < BK_SYNC_MAX_FILES; i++) {
        bk_fdc_file_ref(f[i]);
        it->files[it->nfiles++] = f[i];
    }
    bk_syncer_push(log->syncer, it);
}

/* Writes the soft recovery point as it stands (no sync). */
int queue_soft_write(struct bk_log *log)
{
    if (log->boot_id[0] == '\0') {
        return 0; /* without a boot id it could never be trusted */
    }
    struct bk_sync_item *it = item_new(log, BK_SYNC_FILES);
    if (it == NULL) {
        return BK_ENOMEM;
    }
    char buf[256];
    int n = snprintf(buf, sizeof buf,
                     "1 %s %" PRId64 " %" PRId64 " %" PRId64 " %" PRId64
                     " %" PRId64 "\n",
                     log->boot_id, log->soft, log->soft_base, log->soft_pos,
                     log->soft_idx, log->soft_tim);
    int rv = item_set_ckpt(log, it, SOFT_NAME, buf, (size_t)n);
    if (rv != 0) {
        bk_sync_item_free(it);
        return rv;
    }
    it->ckpt_nosync = true;
    bk_syncer_push(log->syncer, it);
    return 0;
}

/* Moves the soft recovery point to the log end: every byte below is in
 * the page cache (index entries flushed first), which is all a restart
 * after kill -9 needs. */
static int queue_soft_checkpoint(struct bk_log *log)
{
    struct segment *act = log->segs[log->nsegs - 1];
    int rv = seg_index_flush(log, act);
    if (rv != 0) {
        return rv;
    }
    log->soft = log->leo;
    log->soft_base = act->base;
    log->soft_pos = act->size;
    log->soft_idx = act->idx_entries;
    log->soft_tim = act->tim_entries;
    log->rp_bytes = 0;
    return queue_soft_write(log);
}

int queue_epochs(struct bk_log *log)
{
    size_t cap = 32 + (size_t)log->nepochs * 40;
    char *buf = bk_malloc(cap);
    struct bk_sync_item *it = item_new(log, BK_SYNC_FILES);
    if (buf == NULL || it == NULL) {
        bk_free(buf);
        bk_free(it);
        return BK_ENOMEM;
    }
    size_t len = (size_t)snprintf(buf, cap, "0\n%d\n", log->nepochs);
    for (int i = 0; i < log->nepochs; i++) {
        len += (size_t)snprintf(buf + len, cap - len, "%d %" PRId64 "\n",
                                log->epochs[i].epoch, log->epochs[i].start);
    }
    int rv = item_set_ckpt(log, it, EPOCH_NAME, buf, len);
    bk_free(buf);
    if (rv != 0) {
        bk_sync_item_free(it);
        return rv;
    }
    bk_syncer_push(log->syncer, it);
    return 0;
}

int queue_sync(struct bk_log *log)
{
    struct bk_sync_item *it = item_new(log, BK_SYNC_FILES);
    if (it == NULL) {
        return BK_ENOMEM;
    }
    struct segment *act = log->segs[log->nsegs - 1];
    bk_fdc_file_ref(act->log_f);
    it->files[it->nfiles++] = act->log_f;
    it->durable = log->leo;
    log->unflushed = 0;
    log->flush_ms = bk_clock_mono_ms(log->clock);
    bk_syncer_push(log->syncer, it);
    return 0;
}

/* Renames the segment's files to *.deleted now (cheap metadata operations,
 * as Kafka does), so that a segment created later with the same base
 * offset (after a truncation) cannot collide with them, then hands them to
 * the syncer for unlinking and frees the segment. Readers holding pinned
 * ranges keep their fds. */
void queue_delete(struct bk_log *log, struct segment *s)
{
    struct bk_fdc_file *f[3] = { s->log_f, s->idx_f, s->tim_f };
    for (int i = 0; i < 3; i++) {
        int rv = bk_fdc_retire(f[i]);
        if (rv != 0) {
            bk_log_warn("log", "path=%s err=%s msg=\"rename failed\"",
                        f[i]->path, bk_errname(rv));
        }
    }
    struct bk_sync_item *it = item_new(log, BK_SYNC_DELETE);
    if (it != NULL) {
        item_add_seg(it, s);
        bk_syncer_push(log->syncer, it);
    } else {
        for (int i = 0; i < 3; i++) {
            log->disk->unlink(log->disk, f[i]->path);
        }
    }
    seg_free(s);
}

void bk_log_syncer_durable(struct bk_log *log, uint64_t gen, int64_t offset)
{
    if (atomic_load(&log->gen) != gen) {
        return; /* truncated since: the offset may name other data now */
    }
    int64_t cur = atomic_load(&log->durable);
    while (cur < offset &&
           !atomic_compare_exchange_weak(&log->durable, &cur, offset)) {
    }
}

void bk_log_syncer_failed(struct bk_log *log)
{
    atomic_store(&log->failed, 1);
}

void bk_log_syncer_lost(struct bk_log *log)
{
    atomic_fetch_add(&log->lost, 1);
}

void bk_log_syncer_ckpt_failed(struct bk_log *log)
{
    atomic_fetch_add(&log->ckpt_failures, 1);
}

bool bk_log_syncer_ckpt_ok(struct bk_log *log, uint64_t lost)
{
    return atomic_load(&log->lost) == lost;
}

/* ---- healing ---- */

/* After a failed write the active segment's file may hold part of a batch
 * past its size: cut it back and check it, so that the next append starts
 * on a batch boundary and offsets stay contiguous. */
static int heal_tail(struct bk_log *log)
{
    struct segment *s = log->segs[log->nsegs - 1];
    int rv = file_truncate(log, s->log_f, s->size);
    int64_t size = 0;
    if (rv == 0) {
        size = file_size(log, s->log_f);
        rv = size < 0 ? (int)size : size != s->size ? BK_EIO : 0;
    }
    if (rv == 0) {
        log->tail_dirty = false;
    }
    return rv;
}

static int fail(struct bk_log *log, int rv)
{
    bk_log_error("log", "dir=%s err=%s msg=\"log failed\"", log->dir,
                 bk_errname(rv));
    atomic_store(&log->failed, 1);
    return BK_EIO;
}

/* An append could not write. A transient error (too many open files, out
 * of memory) or a full disk changed nothing the log relies on: the append
 * fails with that error and the next one tries again. Anything else fails
 * the log for good, as does any error when write_errors_fatal is set.
 * Logged when the error changes, not per append. */
static int write_failed(struct bk_log *log, int rv)
{
    if (log->cfg.write_errors_fatal ||
        !(bk_err_transient(rv) || bk_err_nospace(rv))) {
        return fail(log, rv);
    }
    if (rv != log->write_err) {
        bk_log_warn("log",
                    "dir=%s err=%s msg=\"append failed, refusing appends "
                    "until a retry works: %s\"",
                    log->dir, bk_errname(rv), bk_strerror(rv));
        log->write_err = rv;
    }
    return rv;
}

/* ---- open / close ---- */

int bk_log_root_begin(const struct bk_disk *disk,
                      const char *root,
                      bool *was_clean)
{
    char path[BK_LOG_PATH_MAX];
    snprintf(path, sizeof path, "%s/%s", root, CLEAN_NAME);
    int rv = disk->mkdir(disk, root);
    if (rv != 0) {
        return rv;
    }
    int64_t size;
    *was_clean = disk->stat_size(disk, path, &size) == 0;
    if (*was_clean) {
        rv = disk->unlink(disk, path);
        if (rv == 0) {
            rv = disk->fsync_dir(disk, root);
        }
    }
    return rv;
}

int bk_log_root_end(const struct bk_disk *disk, const char *root)
{
    char path[BK_LOG_PATH_MAX];
    snprintf(path, sizeof path, "%s/%s", root, CLEAN_NAME);
    return bk_disk_write_atomic(disk, root, path, "1\n", 2);
}

int bk_log_open(const char *dir,
                const struct bk_log_config *config,
                const struct bk_disk *disk,
                const struct bk_clock *clock,
                struct bk_fdcache *fc,
                struct bk_syncer *syncer,
                bool clean,
                struct bk_log **out,
                char *errmsg)
{
    if (config->segment_bytes < 1024 || config->segment_bytes > INT32_MAX ||
        config->index_interval_bytes < 1) {
        if (errmsg != NULL) {
            snprintf(errmsg, BK_ERRMSG_SIZE, "invalid log config");
        }
        return BK_ECONFIG;
    }
    struct bk_log *log = bk_calloc(1, sizeof *log);
    if (log == NULL) {
        return BK_ENOMEM;
    }
    log->dir = bk_strdup(dir);
    if (log->dir == NULL) {
        bk_free(log);
        return BK_ENOMEM;
    }
    log->cfg = *config;
    log->disk = disk;
    log->clock = clock;
    log->fc = fc;
    log->syncer = syncer;
    log->hint_offset = -1;
    log->clean_horizon = INT64_MAX;
    log->flush_ms = log->rp_ckpt_ms = bk_clock_mono_ms(clock);
    log->clean_check_ms = log->flush_ms;
    if (disk->boot_id == NULL ||
        disk->boot_id(disk, log->boot_id, sizeof log->boot_id) != 0 ||
        strchr(log->boot_id, ' ') != NULL) {
        log->boot_id[0] = '\0';
    }
    int rv = disk->mkdir(disk, dir);
    if (rv == 0) {
        rv = log_recover(log, clean, errmsg);
    } else if (errmsg != NULL) {
        snprintf(errmsg, BK_ERRMSG_SIZE, "mkdir %s: %s", dir, bk_strerror(rv));
    }
    if (rv != 0) {
        bk_syncer_barrier(syncer);
        for (int i = 0; i < log->nsegs; i++) {
            seg_free(log->segs[i]);
        }
        bk_free(log->segs);
        bk_free(log->epochs);
        bk_free(log->dir);
        bk_free(log);
        return rv;
    }
    *out = log;
    return 0;
}

int bk_log_close(struct bk_log *log, bool clean)
{
    int rv = 0;
    clean_detach(log);
    if (clean && !atomic_load(&log->failed)) {
        struct segment *act = log->segs[log->nsegs - 1];
        if (log->tail_dirty) {
            heal_tail(log);
        }
        rv = resync(log);
        if (rv == 0) {
            rv = queue_checkpoint(log, act, true);
        }
    }
    /* Items queued by this log reference it: wait until they ran. */
    bk_syncer_barrier(log->syncer);
    if (atomic_load(&log->failed)) {
        rv = BK_EIO;
    }
    for (int i = 0; i < log->nsegs; i++) {
        seg_free(log->segs[i]);
    }
    bk_free(log->segs);
    bk_free(log->epochs);
    bk_free(log->dir);
    bk_free(log);
    return rv;
}

void bk_log_set_config(struct bk_log *log, const struct bk_log_config *c)
{
    log->cfg = *c;
}

void bk_log_set_space(struct bk_log *log, struct bk_log_space *sp)
{
    log->space = sp;
}

/* ---- leader epochs ---- */

static int epochs_assign(struct bk_log *log, int32_t epoch, int64_t start)
{
    if (log->nepochs > 0 && log->epochs[log->nepochs - 1].epoch >= epoch) {
        return 0;
    }
    if (log->nepochs == log->epochs_cap) {
        int cap = log->epochs_cap == 0 ? 2 : log->epochs_cap * 2;
        struct epoch_entry *n =
            bk_realloc(log->epochs, (size_t)cap * sizeof *n);
        if (n == NULL) {
            return BK_ENOMEM;
        }
        log->epochs = n;
        log->epochs_cap = cap;
    }
    log->epochs[log->nepochs++] = (struct epoch_entry){ epoch, start };
    return queue_epochs(log);
}

void epochs_truncate_end(struct bk_log *log, int64_t leo)
{
    int n = log->nepochs;
    while (log->nepochs > 0 && log->epochs[log->nepochs - 1].start >= leo) {
        log->nepochs--;
    }
    if (n != log->nepochs) {
        queue_epochs(log);
    }
}

static void epochs_truncate_start(struct bk_log *log, int64_t start)
{
    int drop = 0;
    while (drop + 1 < log->nepochs && log->epochs[drop + 1].start <= start) {
        drop++;
    }
    if (drop > 0 || (log->nepochs > 0 && log->epochs[0].start < start)) {
        memmove(log->epochs, log->epochs + drop,
                (size_t)(log->nepochs - drop) * sizeof *log->epochs);
        log->nepochs -= drop;
        log->epochs[0].start = start;
        queue_epochs(log);
    }
}

int32_t bk_log_latest_epoch(const struct bk_log *log)
{
    return log->nepochs > 0 ? log->epochs[log->nepochs - 1].epoch : -1;
}

int bk_log_epoch_end_offset(const struct bk_log *log,
                            int32_t epoch,
                            int32_t *found_epoch,
                            int64_t *end_offset)
{
    for (int i = log->nepochs - 1; i >= 0; i--) {
        if (log->epochs[i].epoch <= epoch) {
            *found_epoch = log->epochs[i].epoch;
            *end_offset =
                i + 1 < log->nepochs ? log->epochs[i + 1].start : log->leo;
            return 0;
        }
    }
    *found_epoch = -1;
    *end_offset = -1;
    return BK_ENOTFOUND;
}

/* ---- append ---- */

/* Seals the active segment and starts a new one at the log end. Every step
 * that can fail comes before the first change to the log, so a failed roll
 * leaves it as it was (the sealed segment may have its final time-index
 * entry already, which later appends to it supersede). */
static int roll(struct bk_log *log)
{
    struct segment *old = log->segs[log->nsegs - 1];
    int rv = seg_index_load(log, old);
    if (rv == 0) {
        rv = seg_final_time_entry(log, old);
    }
    if (rv != 0) {
        return rv;
    }
    rv = segs_reserve(log);
    if (rv != 0) {
        return rv;
    }
    struct bk_sync_item *ckpt = ckpt_alloc(log);
    struct segment *s = ckpt != NULL ? seg_new(log, log->leo) : NULL;
    if (s == NULL) {
        if (ckpt != NULL) {
            bk_sync_item_free(ckpt);
        }
        return BK_ENOMEM;
    }
    s->index_state = SEG_INDEX_OK;
    int fd = bk_fdc_pin(s->log_f, true);
    if (fd < 0) {
        seg_free(s);
        bk_sync_item_free(ckpt);
        return fd;
    }
    bk_fdc_unpin(s->log_f);
    rv = segs_insert(log, s); /* room reserved above: cannot fail */
    (void)rv;
    /* The sealed segment and its indexes are synced in the background,
     * then the recovery point moves to the new segment's start. */
    ckpt_push(log, ckpt, old, false);
    return 0;
}

int bk_log_append(struct bk_log *log,
                  uint8_t *buf,
                  size_t len,
                  int32_t leader_epoch,
                  enum bk_log_append_mode mode,
                  struct bk_log_append_result *result)
{
    if (atomic_load(&log->failed)) {
        return BK_EIO;
    }
    if ((int64_t)len > log->cfg.max_message_bytes ||
        (int64_t)len > log->cfg.segment_bytes) {
        return BK_ETOOLARGE;
    }
    struct bk_batch_hdr h;
    int rv =
        bk_batch_validate(buf, len,
                          mode == BK_LOG_APPEND_LEADER ? BK_BATCH_CHECK_PRODUCE
                                                       : BK_BATCH_CHECK_STORED,
                          &h);
    if (rv != 0) {
        return rv;
    }
    int64_t base = log->leo;
    if (mode == BK_LOG_APPEND_FOLLOWER) {
        if (h.base_offset != base) {
            return BK_EINVAL;
        }
        leader_epoch = h.leader_epoch;
    }
    if (leader_epoch < bk_log_latest_epoch(log)) {
        return BK_EINVAL;
    }
    if (mode == BK_LOG_APPEND_LEADER &&
        bk_log_space_low(log->space, (int64_t)len)) {
        return BK_ENOSPC; /* below log.dir.min.free.bytes */
    }
    if (log->tail_dirty && (rv = heal_tail(log)) != 0) {
        return write_failed(log, rv);
    }
    struct segment *s = log->segs[log->nsegs - 1];
    if ((rv = seg_index_load(log, s)) != 0) {
        return write_failed(log, rv);
    }
    int64_t now = bk_clock_wall_ms(log->clock);
    int64_t last = base + h.last_offset_delta;
    if (s->size > 0 && (s->size + (int64_t)len > log->cfg.segment_bytes ||
                        now - s->created_ms >= log->cfg.segment_ms ||
                        last - s->base > (int64_t)UINT32_MAX)) {
        if ((rv = roll(log)) != 0) {
            return write_failed(log, rv);
        }
        s = log->segs[log->nsegs - 1];
    }
    if (mode == BK_LOG_APPEND_LEADER) {
        bk_batch_set_base_offset(buf, base);
        bk_batch_set_leader_epoch(buf, leader_epoch);
    }
    result->log_append_time = -1;
    int64_t max_ts = h.max_timestamp;
    if (mode == BK_LOG_APPEND_LEADER && log->cfg.log_append_time) {
        bk_batch_set_log_append_time(buf, len, now);
        result->log_append_time = now;
        max_ts = now;
    }
    if (s->size == 0) {
        s->created_ms = now;
    }
    rv = file_pwrite(log, s->log_f, buf, len, s->size);
    if (rv != 0) {
        /* Cut off whatever part made it, so the file ends on a batch; if
         * that fails too, the next append does it before writing. */
        log->tail_dirty = true;
        heal_tail(log);
        return write_failed(log, rv);
    }
    if (log->write_err != 0) {
        bk_log_info("log", "dir=%s msg=\"appends work again\"", log->dir);
        log->write_err = 0;
    }
    int64_t pos = s->size;
    s->size += (int64_t)len;
    log->leo = last + 1;
    seg_note_batch(log, s, base, pos, (int64_t)len, max_ts);
    if (leader_epoch >= 0 && leader_epoch > bk_log_latest_epoch(log)) {
        epochs_assign(log, leader_epoch, base);
    }
    result->base_offset = base;
    result->last_offset = last;
    log->rp_bytes += (int64_t)len;
    if (++log->unflushed >= log->cfg.flush_messages) {
        queue_sync(log);
    }
    if (log->rp_bytes >= log->cfg.recovery_checkpoint_bytes) {
        queue_soft_checkpoint(log);
    }
    return 0;
}

int bk_log_sync(struct bk_log *log,
                int64_t end_offset,
                struct bk_log_sync_req *req,
                bk_log_sync_cb cb)
{
    if (atomic_load(&log->failed)) {
        return BK_EIO;
    }
    struct segment *act = log->segs[log->nsegs - 1];
    req->cb = cb;
    req->log = log;
    req->offset = end_offset < log->leo ? end_offset : log->leo;
    req->gen = atomic_load(&log->gen);
    req->file = act->log_f;
    bk_fdc_file_ref(act->log_f);
    bk_syncer_push_req(log->syncer, req);
    return 0;
}

int64_t bk_log_durable_offset(const struct bk_log *log)
{
    return atomic_load(&((struct bk_log *)log)->durable);
}

bool bk_log_failed(const struct bk_log *log)
{
    return atomic_load(&((struct bk_log *)log)->failed) != 0;
}

/* ---- read ---- */

/* Finds the batch holding offset: segment index and position. Returns 1
 * when there is no such batch (offset at or past the end). */
static int find_batch(struct bk_log *log,
                      int64_t offset,
                      int *seg_i,
                      int64_t *pos)
{
    int i = seg_find(log, offset);
    if (i < 0) {
        i = 0;
    }
    struct segment *s = log->segs[i];
    int64_t p = 0;
    int rv;
    if (offset == log->hint_offset && s->base == log->hint_base) {
        p = log->hint_pos;
    } else if ((rv = seg_index_lookup(log, s, offset, &p)) != 0) {
        return rv;
    }
    for (;;) {
        while (p < s->size) {
            struct bk_batch_hdr h;
            rv = read_hdr(log, s, p, &h);
            if (rv != 0) {
                return rv == BK_EAGAIN ? BK_ECORRUPT : rv;
            }
            if (bk_batch_hdr_last_offset(&h) >= offset) {
                *seg_i = i;
                *pos = p;
                return 0;
            }
            p += bk_batch_hdr_size(&h);
        }
        if (++i >= log->nsegs) {
            return 1;
        }
        s = log->segs[i];
        p = 0;
    }
}

int bk_log_read(struct bk_log *log,
                int64_t offset,
                int64_t max_bytes,
                int64_t upto,
                struct bk_log_read_result *res)
{
    res->count = 0;
    res->bytes = 0;
    res->next_offset = offset;
    res->fc = log->fc;
    if (offset < log->log_start || offset > log->leo) {
        return BK_ERANGE;
    }
    int i;
    int64_t pos;
    int rv = find_batch(log, offset, &i, &pos);
    if (rv != 0) {
        return rv == 1 ? 0 : rv;
    }
    bool stop = false;
    while (!stop && res->count < BK_LOG_MAX_RANGES) {
        struct segment *s = log->segs[i];
        int64_t start = pos;
        while (pos < s->size) {
            struct bk_batch_hdr h;
            rv = read_hdr(log, s, pos, &h);
            if (rv != 0) {
                rv = rv == BK_EAGAIN ? BK_ECORRUPT : rv;
                bk_log_read_release(res);
                return rv;
            }
            int64_t sz = bk_batch_hdr_size(&h);
            int64_t taken = res->bytes + (pos - start);
            /* KIP-74: the first batch goes out even when it alone is
             * bigger than max_bytes. */
            if (bk_batch_hdr_last_offset(&h) >= upto ||
                (taken > 0 && taken + sz > max_bytes)) {
                stop = true;
                break;
            }
            pos += sz;
            res->next_offset = bk_batch_hdr_last_offset(&h) + 1;
        }
        if (pos > start) {
            int fd = bk_fdc_pin(s->log_f, false);
            if (fd < 0) {
                bk_log_read_release(res);
                return fd;
            }
            bk_fdc_file_ref(s->log_f);
            struct bk_log_range *r = &res->ranges[res->count++];
            r->fd = fd;
            r->file_offset = start;
            r->length = pos - start;
            r->file = s->log_f;
            res->bytes += pos - start;
        }
        log->hint_offset = res->next_offset;
        log->hint_base = s->base;
        log->hint_pos = pos;
        if (stop || res->bytes >= max_bytes || i + 1 >= log->nsegs) {
            break;
        }
        i++;
        pos = 0;
    }
    return 0;
}

void bk_log_read_release(struct bk_log_read_result *res)
{
    for (int i = 0; i < res->count; i++) {
        bk_fdc_unpin(res->ranges[i].file);
        bk_fdc_file_unref(res->ranges[i].file);
    }
    res->count = 0;
    res->bytes = 0;
}

int bk_log_read_copy(struct bk_log *log,
                     int64_t offset,
                     int64_t max_bytes,
                     int64_t upto,
                     void *buf,
                     size_t cap,
                     size_t *len,
                     int64_t *next_offset)
{
    struct bk_log_read_result res;
    if (max_bytes > (int64_t)cap) {
        max_bytes = (int64_t)cap;
    }
    int rv = bk_log_read(log, offset, max_bytes, upto, &res);
    if (rv != 0) {
        return rv;
    }
    *len = 0;
    *next_offset = res.next_offset;
    if (res.bytes > (int64_t)cap) {
        *len = (size_t)res.bytes;
        bk_log_read_release(&res);
        return BK_ETOOLARGE;
    }
    for (int i = 0; i < res.count && rv == 0; i++) {
        struct bk_log_range *r = &res.ranges[i];
        ssize_t n = bk_disk_pread_all(log->disk, r->fd, (char *)buf + *len,
                                      (size_t)r->length, r->file_offset);
        if (n != r->length) {
            rv = n < 0 ? (int)n : BK_EIO;
        }
        *len += (size_t)r->length;
    }
    bk_log_read_release(&res);
    return rv;
}

/* ---- lookups ---- */

int bk_log_offset_for_time(struct bk_log *log,
                           int64_t ts,
                           int64_t *offset,
                           int64_t *timestamp)
{
    int i = 0, rv;
    for (; i < log->nsegs; i++) {
        struct segment *s = log->segs[i];
        if (seg_end_offset(log, i) <= log->log_start) {
            continue;
        }
        if ((rv = seg_index_load(log, s)) != 0) {
            return rv;
        }
        if (s->max_ts >= ts) {
            break;
        }
    }
    if (i == log->nsegs) {
        return BK_ENOTFOUND;
    }
    int64_t start;
    if ((rv = seg_time_lookup(log, log->segs[i], ts, &start)) != 0) {
        return rv;
    }
    if (start < log->log_start) {
        start = log->log_start;
    }
    int64_t pos;
    if ((rv = find_batch(log, start, &i, &pos)) != 0) {
        return rv == 1 ? BK_ENOTFOUND : rv;
    }
    uint8_t *buf = NULL;
    size_t cap = 0;
    for (; i < log->nsegs; i++, pos = 0) {
        struct segment *s = log->segs[i];
        while (pos < s->size) {
            struct bk_batch_hdr h;
            rv = read_hdr(log, s, pos, &h);
            if (rv != 0) {
                bk_free(buf);
                return rv == BK_EAGAIN ? BK_ECORRUPT : rv;
            }
            size_t sz = (size_t)bk_batch_hdr_size(&h);
            if (h.max_timestamp >= ts) {
                if (sz > cap) {
                    uint8_t *nb = bk_realloc(buf, sz);
                    if (nb == NULL) {
                        bk_free(buf);
                        return BK_ENOMEM;
                    }
                    buf = nb;
                }
                ssize_t n = file_pread(log, s->log_f, buf, sz, pos);
                if (n != (ssize_t)sz) {
                    bk_free(buf);
                    return n < 0 ? (int)n : BK_ECORRUPT;
                }
                rv = bk_batch_find_timestamp(buf, sz, ts, offset, timestamp);
                bk_free(buf);
                if (rv == 0 && *offset < log->log_start) {
                    *offset = log->log_start;
                }
                return rv;
            }
            pos += (int64_t)sz;
        }
    }
    bk_free(buf);
    return BK_ENOTFOUND;
}

int64_t bk_log_start_offset(const struct bk_log *log)
{
    return log->log_start;
}

int64_t bk_log_end_offset(const struct bk_log *log)
{
    return log->leo;
}

int64_t bk_log_hw(const struct bk_log *log)
{
    return log->hw;
}

void bk_log_set_hw(struct bk_log *log, int64_t hw)
{
    if (hw > log->leo) {
        hw = log->leo;
    }
    if (hw < log->log_start) {
        hw = log->log_start;
    }
    log->hw = hw;
}

/* ---- truncation, start offset, retention ---- */

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
    int i = seg_find(log, offset);
    if (i < 0) {
        i = 0;
    }
    /* Find the cut: the batch holding offset goes entirely. Reads only. */
    struct segment *s = log->segs[i];
    int rv = seg_index_load(log, s);
    int64_t pos = 0, new_leo = offset;
    if (rv == 0) {
        rv = seg_index_lookup(log, s, offset, &pos);
    }
    while (rv == 0 && pos < s->size) {
        struct bk_batch_hdr h;
        rv = read_hdr(log, s, pos, &h);
        if (rv == 0 && bk_batch_hdr_last_offset(&h) >= offset) {
            /* The batch holding offset goes entirely; past a compaction
             * gap the first batch may start after offset. */
            new_leo = h.base_offset < offset ? h.base_offset : offset;
            break;
        }
        if (rv == 0) {
            pos += bk_batch_hdr_size(&h);
        }
    }
    if (rv == 0 && new_leo < s->base) {
        new_leo = s->base;
    }
    int64_t keep = 0, tkeep = 0;
    if (rv == 0) {
        rv = seg_index_keep(log, s, pos, new_leo, &keep, &tkeep);
    }
    if (rv != 0) {
        return write_failed(log, rv);
    }
    /* When the cut is below the checkpointed recovery point, the lower
     * recovery point must be on disk before any byte is cut: otherwise a
     * crash could leave a checkpoint that vouches for a prefix that no
     * longer exists (half-applied truncation, stale later segments). The
     * same holds for the soft recovery point (written, not synced). This
     * waits for one syncer round on the caller's thread; truncation is
     * rare (a follower meeting a new leader). */
    bool wait = false;
    uint64_t ckpt_failures = atomic_load(&log->ckpt_failures);
    if (log->rp > new_leo) {
        log->rp = new_leo;
        log->rp_base = s->base;
        log->rp_pos = pos;
        log->rp_idx = keep;
        log->rp_tim = tkeep;
        if ((rv = queue_checkpoint(log, NULL, false)) != 0) {
            return rv;
        }
        wait = true;
    }
    if (log->soft > new_leo) {
        log->soft = new_leo;
        log->soft_base = s->base;
        log->soft_pos = pos;
        log->soft_idx = keep;
        log->soft_tim = tkeep;
        if ((rv = queue_soft_write(log)) != 0) {
            return rv;
        }
        wait = true;
    }
    /* Offset gaps are accepted only below the cleaned offset: lower it
     * (durably, in the same syncer round) before cutting. */
    clean_truncated(log, new_leo);
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
    atomic_fetch_add(&log->gen, 1);
    while (log->nsegs > i + 1) {
        queue_delete(log, log->segs[--log->nsegs]);
    }
    if ((rv = file_truncate(log, s->log_f, pos)) != 0) {
        return fail(log, rv);
    }
    s->size = pos;
    log->leo = new_leo;
    if ((rv = seg_index_set_counts(log, s, keep, tkeep, pos)) != 0) {
        return fail(log, rv);
    }
    log->hint_offset = -1;
    if (log->hw > new_leo) {
        log->hw = new_leo;
    }
    int64_t d = atomic_load(&log->durable);
    if (d > new_leo) {
        atomic_store(&log->durable, new_leo);
    }
    epochs_truncate_end(log, new_leo);
    return 0;
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
    epochs_truncate_start(log, offset);
    if (delete_head(log, -1) == 0) {
        queue_checkpoint(log, NULL, false);
    }
    return 0;
}

int bk_log_tick(struct bk_log *log)
{
    if (atomic_load(&log->failed)) {
        return BK_EIO;
    }
    resync(log);
    int64_t now = bk_clock_mono_ms(log->clock);
    if (log->unflushed > 0 && now - log->flush_ms >= log->cfg.flush_ms) {
        queue_sync(log);
    }
    /* Kafka checkpoints recovery points every 60 s by default
     * (log.flush.offset.checkpoint.interval.ms). */
    if (log->leo > log->rp && now - log->rp_ckpt_ms >= 60000) {
        queue_checkpoint(log, log->segs[log->nsegs - 1], false);
    }
    bk_log_retention(log);
    return 0;
}

/* ---- introspection ---- */

int bk_log_segment_count(const struct bk_log *log)
{
    return log->nsegs;
}

int64_t bk_log_segment_base(const struct bk_log *log, int i)
{
    return i >= 0 && i < log->nsegs ? log->segs[i]->base : -1;
}

size_t bk_log_memory(const struct bk_log *log)
{
    size_t m = sizeof *log + strlen(log->dir) + 1;
    m += (size_t)log->cap * sizeof *log->segs;
    m += (size_t)log->epochs_cap * sizeof *log->epochs;
    for (int i = 0; i < log->nsegs; i++) {
        struct segment *s = log->segs[i];
        m += s->pend != NULL ? sizeof *s->pend : 0;
        m += sizeof *s + bk_fdc_file_memory(s->log_f) +
             bk_fdc_file_memory(s->idx_f) + bk_fdc_file_memory(s->tim_f);
    }
    return m;
}

int64_t bk_log_recovery_point(const struct bk_log *log)
{
    return log->rp;
}

int64_t bk_log_recovery_scanned(const struct bk_log *log)
{
    return log->scanned;
}
