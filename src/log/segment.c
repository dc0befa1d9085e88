/* Segments of the partition log: their files (.log, .index, .timeindex),
 * the offset and time indexes, and the roll to a new segment. The on-disk
 * format is described in log.c. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/diag.h"
#include "common/err.h"
#include "common/heap.h"
#include "log/batch.h"
#include "log/log_int.h"

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

int64_t file_stat_size(struct bk_log *log, struct bk_fdc_file *f)
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
    bk_diag_info("log", "dir=%s base=%" PRId64 " msg=\"rebuilding index\"",
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
    int64_t isz = file_stat_size(log, s->idx_f);
    int64_t tsz = file_stat_size(log, s->tim_f);
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
int seg_time_lookup(struct bk_log *log,
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
int seg_index_keep(struct bk_log *log,
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
    int64_t isz = file_stat_size(log, s->idx_f),
            tsz = file_stat_size(log, s->tim_f);
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

/* ---- roll ---- */

/* Seals the active segment and starts a new one at the log end. Every step
 * that can fail comes before the first change to the log, so a failed roll
 * leaves it as it was (the sealed segment may have its final time-index
 * entry already, which later appends to it supersede). */
int seg_roll(struct bk_log *log)
{
    log->clean_on_disk = false;
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
