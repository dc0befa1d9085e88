/* The log cleaner: cleanup.policy=compact (Kafka's LogCleaner).
 *
 * Happy path of one job, three steps (log.h):
 *   begin (owning thread)  picks the cleanable segments: sealed, below the
 *                          high watermark and the recovery point, old
 *                          enough for min.compaction.lag.ms; checks the
 *                          dirty ratio; snapshots every segment (file
 *                          references and sizes); rewrites the soft
 *                          recovery point so that no checkpoint on disk
 *                          names a position inside a cleanable segment.
 *   run (any thread)       one sequential pass over the whole snapshot:
 *                          the last batch of each producer id, and a map
 *                          key -> latest offset over the dirty part and the
 *                          rest of the log up to the high watermark. Then
 *                          each cleanable segment is rewritten, keeping per
 *                          key only the latest record, into
 *                          <base>.log.cleaned, .index.cleaned and
 *                          .timeindex.cleaned, each fdatasynced. Then a
 *                          syncer barrier (every checkpoint queued before
 *                          begin is on disk) and cleaner-checkpoint is
 *                          written durably with the gap end raised to the
 *                          end of the cleaned part.
 *   end (owning thread)    per segment: the old index files are renamed to
 *                          *.deleted, then <base>.log.cleaned is renamed
 *                          over <base>.log (atomic replacement: readers
 *                          keep the old inode through their pinned fds),
 *                          then the new index files over the old names. A
 *                          segment left empty is deleted instead (except
 *                          the first: it holds the log start). Then the
 *                          new cleaned offset is checkpointed (syncer).
 *
 * Failure modes. Any error or a cancel in run removes the .cleaned files
 * and leaves the log as it was. If the log was truncated meanwhile (its
 * generation changed) or its segments changed, end discards the job and
 * rewrites the checkpoint with the old cleaned offset.
 *
 * Crash windows (recovery, recover.c): *.cleaned files are removed at open,
 * so a crash before a segment's rename leaves the old segment whole. After
 * the rename of the data file and before those of the indexes, the segment
 * has no index files (they were retired first) and they are rebuilt from
 * the data when first used, so an index never describes the other file.
 * The gaps of a cleaned segment are accepted by recovery only below the
 * gap end of cleaner-checkpoint, written before the first rename; a gap
 * anywhere else still means lost data and ends the log. The cleaned offset
 * (first dirty offset) moves only after the renames, so a crash before the
 * new one is on disk makes the next job clean the same range again.
 *
 * Offsets never change. A kept batch keeps its base offset, last offset
 * delta, producer id, epoch and base sequence; its records count, CRC and
 * (CreateTime) max timestamp are recomputed. Compressed batches are
 * decompressed, filtered and compressed again with the same codec. A batch
 * with no record left disappears, except the last batch of an idempotent
 * producer seen within producer.id.expiration.ms, kept as an empty batch
 * (Kafka does the same) so that its sequence survives a restart when the
 * producer snapshot is older. Control batches are kept as they are.
 *
 * Tombstones (null values) use Kafka's delete horizon (KIP-534): when a
 * batch holding a kept tombstone is rewritten the first time, its
 * baseTimestamp becomes now + delete.retention.ms and attribute bit 0x40 is
 * set (record timestamp deltas are rewritten so timestamps are unchanged).
 * A later job drops the tombstones of a batch whose horizon passed. */
#include <inttypes.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/arena.h"
#include "common/diag.h"
#include "common/err.h"
#include "common/heap.h"
#include "log/log_int.h"
#include "protocol/record_batch.h"

#define READ_CHUNK       (1u << 20)
#define WRITE_CHUNK      (1u << 20)
#define MAX_UNCOMPRESSED (256u << 20)
#define MAP_ENTRY_BYTES  24
#define ATTR_HORIZON     0x40

/* ---- the key map: 128-bit key hash -> latest offset ---- */

/* Kafka's SkimpyOffsetMap keeps an MD5 of each key; two independent 64-bit
 * hashes serve the same purpose: a collision (about n^2 / 2^129) would
 * make one key's record supersede another's. */
struct kmap_entry {
    uint64_t h1, h2; /* h1 == 0 && h2 == 0: empty slot */
    int64_t offset;
};

struct kmap {
    struct kmap_entry *v; /* owned */
    size_t slots;         /* power of two */
    size_t n;
    size_t max_slots; /* soft cap from log.cleaner.dedupe.buffer.size */
};

static uint64_t mix64(uint64_t z)
{
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static uint64_t hash64(const uint8_t *p, size_t n, uint64_t seed)
{
    uint64_t h = mix64(seed ^ ((uint64_t)n * 0x9e3779b97f4a7c15ULL));
    while (n >= 8) {
        uint64_t k;
        memcpy(&k, p, 8);
        h = mix64(h ^ mix64(k + seed));
        p += 8;
        n -= 8;
    }
    uint64_t k = 0;
    for (size_t i = 0; i < n; i++) {
        k |= (uint64_t)p[i] << (8 * i);
    }
    return mix64(h ^ mix64(k ^ (seed << 1)));
}

static void key_hash(struct bk_bytes key, uint64_t *h1, uint64_t *h2)
{
    const uint8_t *p = key.len > 0 ? key.ptr : (const uint8_t *)"";
    size_t n = key.len > 0 ? (size_t)key.len : 0;
    *h1 = hash64(p, n, 0x243f6a8885a308d3ULL);
    *h2 = hash64(p, n, 0x13198a2e03707344ULL);
    if (*h1 == 0 && *h2 == 0) {
        *h2 = 1; /* keep "empty" unambiguous */
    }
}

static int kmap_grow(struct kmap *m)
{
    size_t slots = m->slots == 0 ? 1024 : m->slots * 2;
    struct kmap_entry *v = bk_calloc(slots, sizeof *v);
    if (v == NULL) {
        return BK_ENOMEM;
    }
    for (size_t i = 0; i < m->slots; i++) {
        struct kmap_entry *e = &m->v[i];
        if (e->h1 == 0 && e->h2 == 0) {
            continue;
        }
        size_t j = (size_t)e->h1 & (slots - 1);
        while (v[j].h1 != 0 || v[j].h2 != 0) {
            j = (j + 1) & (slots - 1);
        }
        v[j] = *e;
    }
    bk_free(m->v);
    m->v = v;
    m->slots = slots;
    return 0;
}

static struct kmap_entry *kmap_slot(const struct kmap *m,
                                    uint64_t h1,
                                    uint64_t h2)
{
    size_t j = (size_t)h1 & (m->slots - 1);
    for (;;) {
        struct kmap_entry *e = &m->v[j];
        if ((e->h1 == h1 && e->h2 == h2) || (e->h1 == 0 && e->h2 == 0)) {
            return e;
        }
        j = (j + 1) & (m->slots - 1);
    }
}

/* Latest offset of key, or -1. */
static int64_t kmap_get(const struct kmap *m, struct bk_bytes key)
{
    if (m->n == 0) {
        return -1;
    }
    uint64_t h1, h2;
    key_hash(key, &h1, &h2);
    struct kmap_entry *e = kmap_slot(m, h1, h2);
    return e->h1 == 0 && e->h2 == 0 ? -1 : e->offset;
}

/* Records offset for key. Returns 0, 1 when the map is at its cap and
 * may_exceed is false (nothing recorded), or BK_ENOMEM. */
static int kmap_put(struct kmap *m,
                    struct bk_bytes key,
                    int64_t offset,
                    bool may_exceed)
{
    uint64_t h1, h2;
    key_hash(key, &h1, &h2);
    if (m->slots > 0) {
        struct kmap_entry *e = kmap_slot(m, h1, h2);
        if (e->h1 != 0 || e->h2 != 0) {
            if (offset > e->offset) {
                e->offset = offset;
            }
            return 0;
        }
    }
    /* A new key: keep the load under 3/4. */
    if (m->slots == 0 || (m->n + 1) * 4 > m->slots * 3) {
        if (m->slots * 2 > m->max_slots && m->slots > 0 && !may_exceed) {
            return 1;
        }
        int rv = kmap_grow(m);
        if (rv != 0) {
            return rv;
        }
    }
    struct kmap_entry *e = kmap_slot(m, h1, h2);
    e->h1 = h1;
    e->h2 = h2;
    e->offset = offset;
    m->n++;
    return 0;
}

/* ---- producer id -> last offset of its last batch ---- */

struct pmap_entry {
    int64_t pid; /* -1: empty */
    int64_t last;
};

struct pmap {
    struct pmap_entry *v;
    size_t slots, n;
};

static int pmap_grow(struct pmap *m)
{
    size_t slots = m->slots == 0 ? 64 : m->slots * 2;
    struct pmap_entry *v = bk_malloc(slots * sizeof *v);
    if (v == NULL) {
        return BK_ENOMEM;
    }
    for (size_t i = 0; i < slots; i++) {
        v[i].pid = -1;
    }
    for (size_t i = 0; i < m->slots; i++) {
        if (m->v[i].pid < 0) {
            continue;
        }
        size_t j = (size_t)mix64((uint64_t)m->v[i].pid) & (slots - 1);
        while (v[j].pid >= 0) {
            j = (j + 1) & (slots - 1);
        }
        v[j] = m->v[i];
    }
    bk_free(m->v);
    m->v = v;
    m->slots = slots;
    return 0;
}

static struct pmap_entry *pmap_slot(const struct pmap *m, int64_t pid)
{
    size_t j = (size_t)mix64((uint64_t)pid) & (m->slots - 1);
    while (m->v[j].pid >= 0 && m->v[j].pid != pid) {
        j = (j + 1) & (m->slots - 1);
    }
    return &m->v[j];
}

static int pmap_put(struct pmap *m, int64_t pid, int64_t last)
{
    if (m->slots == 0 || (m->n + 1) * 2 > m->slots) {
        int rv = pmap_grow(m);
        if (rv != 0) {
            return rv;
        }
    }
    struct pmap_entry *e = pmap_slot(m, pid);
    if (e->pid < 0) {
        e->pid = pid;
        e->last = last;
        m->n++;
    } else if (last > e->last) {
        e->last = last;
    }
    return 0;
}

static int64_t pmap_get(const struct pmap *m, int64_t pid)
{
    if (m->slots == 0) {
        return -1;
    }
    struct pmap_entry *e = pmap_slot(m, pid);
    return e->pid < 0 ? -1 : e->last;
}

/* ---- the job ---- */

struct clean_seg {
    int64_t base;
    int64_t end;               /* offsets of this segment are below end */
    int64_t size;              /* valid bytes when the job began */
    struct bk_fdc_file *log_f; /* referenced */
    /* The rewritten segment (cleanable ones only). */
    bool written; /* its .cleaned files exist */
    int64_t new_size, max_ts, idx_entries, tim_entries, last_idx_pos,
        last_tim_ts;
};

struct bk_log_clean {
    struct bk_log *log; /* identity only: never dereferenced by run */
    const struct bk_disk *disk;
    struct bk_syncer *syncer;
    char *dir; /* owned */
    uint64_t gen;
    struct clean_seg *segs; /* owned; all segments of the log at begin */
    int nsegs;
    int nclean; /* the first nclean are rewritten */
    int64_t log_start, first_dirty, map_end, now;
    int64_t delete_retention_ms, producer_expiration_ms;
    int64_t index_interval_bytes, map_bytes;
    _Atomic int cancel;
    int rv;
    bool ckpt_written;
    int64_t new_clean_end, new_horizon;
    /* What the checkpoint says at begin: the run rewrites it with only the
     * gap end raised. */
    int64_t old_clean_end, old_horizon, old_gap_end;
    struct bk_log_clean_stats stats;
    struct kmap keys;
    struct pmap producers;
};

static void job_free(struct bk_log_clean *j)
{
    if (j == NULL) {
        return;
    }
    for (int i = 0; i < j->nsegs; i++) {
        bk_fdc_file_unref(j->segs[i].log_f);
    }
    bk_free(j->segs);
    bk_free(j->keys.v);
    bk_free(j->producers.v);
    bk_free(j->dir);
    bk_free(j);
}

static int64_t sat_add(int64_t a, int64_t b)
{
    return b > 0 && a > INT64_MAX - b ? INT64_MAX : a + b;
}

/* ---- the cleaner checkpoint ---- */

/* "1 clean_end horizon gap_end" */
#define CKPT_FMT "1 %" PRId64 " %" PRId64 " %" PRId64 "\n"

void clean_ckpt_read(struct bk_log *log)
{
    char path[BK_LOG_PATH_MAX], buf[128];
    log->clean_end = log->log_start;
    log->clean_horizon = INT64_MAX;
    log->gap_end = 0;
    snprintf(path, sizeof path, "%s/%s", log->dir, CLEANER_NAME);
    ssize_t n = bk_disk_read_small(log->disk, path, buf, sizeof buf - 1);
    if (n <= 0) {
        return;
    }
    buf[n] = '\0';
    int version;
    int64_t end, horizon, gap_end;
    /* The file is brokerd's own; glibc converts with strtoll, which
     * saturates, and the fields are range-checked below. */
    /* NOLINTNEXTLINE(cert-err34-c) */
    if (sscanf(buf, "%d %" SCNd64 " %" SCNd64 " %" SCNd64, &version, &end,
               &horizon, &gap_end) == 4 &&
        version == 1 && end >= 0 && gap_end >= 0) {
        log->clean_end = end;
        log->clean_horizon = horizon;
        log->gap_end = gap_end;
    } else {
        bk_diag_warn("log", "dir=%s msg=\"unreadable cleaner checkpoint\"",
                     log->dir);
    }
}

static int queue_clean_ckpt(struct bk_log *log)
{
    char buf[96];
    int n = snprintf(buf, sizeof buf, CKPT_FMT, log->clean_end,
                     log->clean_horizon, log->gap_end);
    return queue_small_file(log, CLEANER_NAME, buf, (size_t)n);
}

void clean_truncated(struct bk_log *log, int64_t offset)
{
    if (log->cleaning != NULL) {
        /* Its snapshot is stale; its end rewrites the checkpoint. */
        atomic_store(&log->cleaning->cancel, 1);
    }
    if (log->clean_end <= offset && log->gap_end <= offset) {
        return;
    }
    if (log->clean_end > offset) {
        log->clean_end = offset;
    }
    if (log->gap_end > offset) {
        log->gap_end = offset;
    }
    if (log->cleaning == NULL) {
        queue_clean_ckpt(log);
    }
}

void clean_detach(struct bk_log *log)
{
    if (log->cleaning != NULL) {
        atomic_store(&log->cleaning->cancel, 1);
        log->cleaning->log = NULL;
        log->cleaning = NULL;
    }
}

int64_t bk_log_clean_offset(const struct bk_log *log)
{
    return log->clean_end > log->log_start ? log->clean_end : log->log_start;
}

/* ---- begin ---- */

/* The cleanable prefix, as a count of segments in *ncl: sealed, wholly below
 * the high watermark and the recovery point (so that no checkpoint names a
 * position inside it), and old enough (min.compaction.lag.ms, which needs
 * the segment's max timestamp from its index). */
static int cleanable_prefix(struct bk_log *log, int64_t now, int *ncl)
{
    const struct bk_log_config *cfg = &log->cfg;
    int64_t limit = log->hw < log->rp ? log->hw : log->rp;
    *ncl = 0;
    for (int i = 0; i + 1 < log->nsegs; i++) {
        struct segment *s = log->segs[i];
        if (log->segs[i + 1]->base > limit || s->base == log->rp_base) {
            break;
        }
        if (cfg->min_compaction_lag_ms > 0) {
            int rv = seg_index_load(log, s);
            if (rv != 0) {
                return rv;
            }
            if (s->max_ts > now - cfg->min_compaction_lag_ms) {
                break;
            }
        }
        *ncl = i + 1;
    }
    return 0;
}

/* How much of the cleanable prefix is already clean (wholly below
 * first_dirty) and how much is dirty. */
struct dirt {
    int64_t clean_bytes, dirty_bytes;
    bool overdue; /* a dirty segment is older than max.compaction.lag.ms */
};

static int measure_dirt(struct bk_log *log,
                        int ncl,
                        int64_t first_dirty,
                        int64_t now,
                        struct dirt *d)
{
    const struct bk_log_config *cfg = &log->cfg;
    *d = (struct dirt){ 0 };
    for (int i = 0; i < ncl; i++) {
        struct segment *s = log->segs[i];
        if (log->segs[i + 1]->base <= first_dirty) {
            d->clean_bytes += s->size;
            continue;
        }
        d->dirty_bytes += s->size;
        if (cfg->max_compaction_lag_ms < INT64_MAX && !d->overdue) {
            int rv = seg_index_load(log, s);
            if (rv != 0) {
                return rv;
            }
            d->overdue =
                s->max_ts >= 0 && s->max_ts < now - cfg->max_compaction_lag_ms;
        }
    }
    return 0;
}

/* A new job over the log as it is now: its first ncl segments are rewritten,
 * every segment's log file is referenced so that the run can read it off the
 * loop. Returns owned, or NULL on OOM. */
static struct bk_log_clean *job_new(struct bk_log *log,
                                    int ncl,
                                    int64_t first_dirty,
                                    int64_t now)
{
    const struct bk_log_config *cfg = &log->cfg;
    struct bk_log_clean *j = bk_calloc(1, sizeof *j);
    if (j == NULL) {
        return NULL;
    }
    j->segs = bk_calloc((size_t)log->nsegs, sizeof *j->segs);
    j->dir = bk_strdup(log->dir);
    if (j->segs == NULL || j->dir == NULL) {
        job_free(j);
        return NULL;
    }
    j->log = log;
    j->disk = log->disk;
    j->syncer = log->syncer;
    j->gen = atomic_load(&log->gen);
    j->nsegs = log->nsegs;
    j->nclean = ncl;
    j->log_start = log->log_start;
    j->first_dirty = first_dirty;
    j->map_end = log->hw;
    j->now = now;
    j->delete_retention_ms = cfg->delete_retention_ms;
    j->producer_expiration_ms = cfg->producer_id_expiration_ms;
    j->index_interval_bytes = cfg->index_interval_bytes;
    j->map_bytes = cfg->cleaner_map_bytes;
    j->rv = BK_ECANCELED; /* until run says otherwise */
    j->old_clean_end = log->clean_end;
    j->old_horizon = log->clean_horizon;
    j->old_gap_end = log->gap_end;
    for (int i = 0; i < log->nsegs; i++) {
        struct segment *s = log->segs[i];
        struct clean_seg *c = &j->segs[i];
        c->base = s->base;
        c->end = seg_end_offset(log, i);
        c->size = s->size;
        c->log_f = s->log_f;
        bk_fdc_file_ref(s->log_f);
    }
    return j;
}

/* After a clean open the soft point on disk is unknown, and it may name a
 * position inside a segment about to be rewritten: write one past the
 * cleanable part now (the run's barrier waits for it). */
static int pin_soft_point(struct bk_log *log)
{
    if (log->soft == INT64_MAX || log->soft < log->rp) {
        log->soft = log->rp;
        log->soft_base = log->rp_base;
        log->soft_pos = log->rp_pos;
        log->soft_idx = log->rp_idx;
        log->soft_tim = log->rp_tim;
    }
    return queue_soft_write(log);
}

int bk_log_clean_begin(struct bk_log *log,
                       bool force,
                       struct bk_log_clean **out)
{
    *out = NULL;
    const struct bk_log_config *cfg = &log->cfg;
    if (!cfg->cleanup_compact || (!cfg->cleaner_enable && !force) ||
        log->cleaning != NULL) {
        return 0;
    }
    if (atomic_load(&log->failed)) {
        return BK_EIO;
    }
    int64_t mono = bk_clock_mono_ms(log->clock);
    if (!force && mono - log->clean_check_ms < cfg->cleaner_backoff_ms) {
        return 0;
    }
    log->clean_check_ms = mono;
    int64_t now = bk_clock_wall_ms(log->clock);
    int ncl;
    int rv = cleanable_prefix(log, now, &ncl);
    if (rv != 0 || ncl == 0) {
        return rv;
    }
    int64_t first_dirty = bk_log_clean_offset(log);
    struct dirt d;
    rv = measure_dirt(log, ncl, first_dirty, now, &d);
    if (rv != 0) {
        return rv;
    }
    /* Clean when enough of the prefix is dirty (min.cleanable.dirty.ratio),
     * when a dirty segment waited too long (max.compaction.lag.ms), or when a
     * kept tombstone's delete horizon has passed. */
    int64_t total = d.clean_bytes + d.dirty_bytes;
    double ratio = total > 0 ? (double)d.dirty_bytes / (double)total : 0.0;
    bool due = d.dirty_bytes > 0 && ratio >= cfg->min_cleanable_dirty_ratio;
    bool horizon = d.clean_bytes > 0 && log->clean_horizon <= now;
    if (!force && !due && !d.overdue && !horizon) {
        return 0;
    }
    bk_diag_debug("log",
                  "dir=%s dirty=%" PRId64 " clean=%" PRId64
                  " ratio=%.3f segments=%d msg=\"cleaning\"",
                  log->dir, d.dirty_bytes, d.clean_bytes, ratio, ncl);

    struct bk_log_clean *j = job_new(log, ncl, first_dirty, now);
    if (j == NULL) {
        return BK_ENOMEM;
    }
    rv = pin_soft_point(log);
    if (rv != 0) {
        job_free(j);
        return rv;
    }
    log->cleaning = j;
    *out = j;
    return 0;
}

void bk_log_clean_cancel(struct bk_log_clean *job)
{
    atomic_store(&job->cancel, 1);
}

/* ---- run: reading ---- */

/* Sequential reader of one segment file: whole batches, CRC checked. */
struct reader {
    const struct bk_disk *disk;
    struct bk_fdc_file *f;
    int fd;
    uint8_t *buf; /* owned */
    size_t cap;
    int64_t off; /* file offset of buf[0] */
    size_t len;
    int64_t pos, size;
    int64_t *bytes_read;
};

static int reader_open(struct reader *r,
                       const struct bk_disk *disk,
                       const struct clean_seg *cs,
                       int64_t *bytes_read)
{
    memset(r, 0, sizeof *r);
    r->disk = disk;
    r->f = cs->log_f;
    r->size = cs->size;
    r->bytes_read = bytes_read;
    r->fd = -1;
    if (cs->size == 0) {
        return 0;
    }
    int fd = bk_fdc_pin(cs->log_f, false);
    if (fd < 0) {
        return fd;
    }
    r->fd = fd;
    return 0;
}

static void reader_close(struct reader *r)
{
    if (r->fd >= 0) {
        bk_fdc_unpin(r->f);
    }
    bk_free(r->buf);
    memset(r, 0, sizeof *r);
}

/* Makes [pos, pos+n) readable; returns a pointer or NULL (*err). */
static const uint8_t *reader_get(struct reader *r,
                                 int64_t pos,
                                 size_t n,
                                 int *err)
{
    if (pos >= r->off && pos + (int64_t)n <= r->off + (int64_t)r->len) {
        return r->buf + (pos - r->off);
    }
    size_t want = n > READ_CHUNK ? n : READ_CHUNK;
    if ((int64_t)want > r->size - pos) {
        want = (size_t)(r->size - pos);
    }
    if (want < n) {
        *err = BK_ECORRUPT;
        return NULL;
    }
    if (want > r->cap) {
        uint8_t *nb = bk_realloc(r->buf, want);
        if (nb == NULL) {
            *err = BK_ENOMEM;
            return NULL;
        }
        r->buf = nb;
        r->cap = want;
    }
    ssize_t got = bk_disk_pread_all(r->disk, r->fd, r->buf, want, pos);
    if (got < 0) {
        *err = (int)got;
        return NULL;
    }
    r->off = pos;
    r->len = (size_t)got;
    *r->bytes_read += got;
    if ((size_t)got < n) {
        *err = BK_ECORRUPT;
        return NULL;
    }
    return r->buf;
}

/* Returns 1 with the next batch (*b valid until the next call), 0 at the
 * end, or a negative error (BK_ECORRUPT for a damaged batch). */
static int reader_next(struct reader *r,
                       const uint8_t **b,
                       struct bk_batch_hdr *h)
{
    if (r->pos >= r->size) {
        return 0;
    }
    int err = 0;
    const uint8_t *p = reader_get(r, r->pos, BK_BATCH_HEADER_SIZE, &err);
    if (p == NULL) {
        return err;
    }
    bk_batch_hdr_decode(p, h);
    if (bk_batch_hdr_check(h, r->size - r->pos, BK_BATCH_CHECK_STORED) != 0) {
        return BK_ECORRUPT;
    }
    size_t sz = (size_t)bk_batch_hdr_size(h);
    p = reader_get(r, r->pos, sz, &err);
    if (p == NULL) {
        return err;
    }
    if (bk_batch_validate(p, sz, BK_BATCH_CHECK_STORED, NULL) != 0) {
        return BK_ECORRUPT;
    }
    r->pos += (int64_t)sz;
    *b = p;
    return 1;
}

/* ---- run: pass 1, producers and the key map ---- */

/* Index of the segment holding the first dirty offset. */
static int first_dirty_seg(const struct bk_log_clean *j)
{
    int k = 0;
    while (k + 1 < j->nsegs && j->segs[k].end <= j->first_dirty) {
        k++;
    }
    return k;
}

static int map_batch(struct bk_log_clean *j,
                     const uint8_t *b,
                     const struct bk_batch_hdr *h,
                     struct bk_arena *ar,
                     bool may_exceed,
                     bool *full)
{
    bk_arena_reset(ar);
    struct bk_record_iter it;
    if (bk_record_iter_init(&it, b, (size_t)bk_batch_hdr_size(h), ar,
                            MAX_UNCOMPRESSED) != 0) {
        return 0; /* unreadable records are kept as they are */
    }
    struct bk_record rec;
    /* A record that does not decode ends this batch's keys: the rest of it
     * is kept as it is, like an unreadable batch above. */
    while (bk_record_iter_next(&it, &rec) == 1) {
        if (rec.key.len < 0 || rec.offset < j->first_dirty ||
            rec.offset >= j->map_end) {
            continue;
        }
        int rv = kmap_put(&j->keys, rec.key, rec.offset, may_exceed);
        if (rv == 1) {
            *full = true;
            return 0;
        }
        if (rv != 0) {
            return rv;
        }
    }
    return 0;
}

static int pass_map(struct bk_log_clean *j)
{
    j->keys.max_slots = 1024;
    while (j->keys.max_slots * 2 * MAP_ENTRY_BYTES <= (size_t)j->map_bytes) {
        j->keys.max_slots *= 2;
    }
    int kd = first_dirty_seg(j);
    bool full = false;
    struct bk_arena ar;
    bk_arena_init(&ar, 1 << 20, 0);
    int rv = 0;
    for (int i = 0; i < j->nsegs && rv == 0; i++) {
        struct reader r;
        if ((rv = reader_open(&r, j->disk, &j->segs[i],
                              &j->stats.bytes_read)) != 0) {
            break;
        }
        const uint8_t *b;
        struct bk_batch_hdr h;
        while ((rv = reader_next(&r, &b, &h)) == 1) {
            if (atomic_load(&j->cancel)) {
                rv = BK_ECANCELED;
                break;
            }
            int64_t last = bk_batch_hdr_last_offset(&h);
            if (h.producer_id >= 0 &&
                (h.attributes & BK_BATCH_ATTR_CONTROL) == 0 &&
                (rv = pmap_put(&j->producers, h.producer_id, last)) != 0) {
                break;
            }
            if (full || last < j->first_dirty || h.base_offset >= j->map_end ||
                (h.attributes & BK_BATCH_ATTR_CONTROL) != 0) {
                continue;
            }
            /* The first dirty segment always fits, whatever the cap: each
             * round makes progress. */
            rv = map_batch(j, b, &h, &ar, i <= kd, &full);
            if (rv != 0) {
                break;
            }
            if (full && i < j->nclean) {
                /* Clean only what the map covers whole. */
                j->nclean = i;
            }
        }
        reader_close(&r);
    }
    bk_arena_destroy(&ar);
    j->stats.map_keys = (int64_t)j->keys.n;
    return rv < 0 ? rv : 0;
}

/* ---- run: pass 2, rewriting ---- */

/* The output of one segment: data through a write buffer, and its two
 * index files built as seg_note_batch() / seg_final_time_entry() would. */
struct out {
    const struct bk_disk *disk;
    int fd;
    uint8_t *buf; /* owned write buffer */
    size_t len;
    int64_t size; /* bytes written, buffered included */
    int64_t base, end, interval;
    uint8_t *idx, *tim; /* owned */
    size_t idx_len, idx_cap, tim_len, tim_cap;
    int64_t since_index, last_idx_pos, max_ts, last_tim_ts;
};

static int grow(uint8_t **p, size_t *cap, size_t need)
{
    if (need <= *cap) {
        return 0;
    }
    size_t n = *cap == 0 ? 4096 : *cap;
    while (n < need) {
        n *= 2;
    }
    uint8_t *nb = bk_realloc(*p, n);
    if (nb == NULL) {
        return BK_ENOMEM;
    }
    *p = nb;
    *cap = n;
    return 0;
}

static int out_flush(struct out *o)
{
    if (o->len == 0) {
        return 0;
    }
    int rv = bk_disk_pwrite_all(o->disk, o->fd, o->buf, o->len,
                                o->size - (int64_t)o->len);
    o->len = 0;
    return rv;
}

static int out_tim(struct out *o, int64_t ts, int64_t offset)
{
    if (grow(&o->tim, &o->tim_cap, o->tim_len + TIM_ENTRY) != 0) {
        return BK_ENOMEM;
    }
    bk_put_be64(o->tim + o->tim_len, (uint64_t)ts);
    bk_put_be32(o->tim + o->tim_len + 8, (uint32_t)(offset - o->base));
    o->tim_len += TIM_ENTRY;
    o->last_tim_ts = ts;
    return 0;
}

static int out_batch(struct out *o, const uint8_t *b, size_t len)
{
    struct bk_batch_hdr h;
    bk_batch_hdr_decode(b, &h);
    int64_t pos = o->size;
    if (pos + (int64_t)len > INT32_MAX) {
        return BK_ETOOLARGE;
    }
    if (h.max_timestamp > o->max_ts) {
        o->max_ts = h.max_timestamp;
    }
    if (pos > 0 && o->since_index >= o->interval) {
        if (grow(&o->idx, &o->idx_cap, o->idx_len + IDX_ENTRY) != 0) {
            return BK_ENOMEM;
        }
        bk_put_be32(o->idx + o->idx_len, (uint32_t)(h.base_offset - o->base));
        bk_put_be32(o->idx + o->idx_len + 4, (uint32_t)pos);
        o->idx_len += IDX_ENTRY;
        o->last_idx_pos = pos;
        if (o->max_ts > o->last_tim_ts &&
            out_tim(o, o->max_ts, h.base_offset) != 0) {
            return BK_ENOMEM;
        }
        o->since_index = 0;
    }
    o->since_index += (int64_t)len;
    if (o->len + len > WRITE_CHUNK) {
        int rv = out_flush(o);
        if (rv != 0) {
            return rv;
        }
    }
    if (len > WRITE_CHUNK) {
        o->size += (int64_t)len;
        return bk_disk_pwrite_all(o->disk, o->fd, b, len, pos);
    }
    memcpy(o->buf + o->len, b, len);
    o->len += len;
    o->size += (int64_t)len;
    return 0;
}

static void put_varlong(uint8_t **p, int64_t v)
{
    uint64_t z = ((uint64_t)v << 1) ^ ((uint64_t)0 - ((uint64_t)v >> 63));
    while (z >= 0x80) {
        *(*p)++ = (uint8_t)(z | 0x80);
        z >>= 7;
    }
    *(*p)++ = (uint8_t)z;
}

/* One record of a batch being filtered. */
struct rec_ref {
    size_t start, end; /* raw bytes in the records section */
    bool keep;
    int64_t timestamp;
    struct bk_record rec; /* views into the records section */
};

struct scratch {
    struct rec_ref *v;
    size_t n, cap;
    uint8_t *recs; /* the new records section */
    size_t recs_len, recs_cap;
    uint8_t *hdr; /* 61 bytes */
};

/* Appends one record re-encoded with timestampDelta relative to base_ts
 * (a new delete horizon): length, attributes, timestampDelta,
 * offsetDelta, key, value, headers (copied raw). */
static int reencode(struct scratch *sc,
                    const struct rec_ref *r,
                    int64_t base_offset,
                    int64_t base_ts)
{
    const struct bk_record *rec = &r->rec;
    size_t klen = rec->key.len > 0 ? (size_t)rec->key.len : 0;
    size_t vlen = rec->value.len > 0 ? (size_t)rec->value.len : 0;
    size_t hlen = rec->headers.len;
    size_t bound = 5 + 1 + 10 + 5 + 5 + klen + 5 + vlen + 5 + hlen;
    if (grow(&sc->recs, &sc->recs_cap, sc->recs_len + bound) != 0) {
        return BK_ENOMEM;
    }
    uint8_t body[64], *q = body;
    *q++ = (uint8_t)rec->attributes;
    put_varlong(&q, r->timestamp - base_ts);
    put_varlong(&q, rec->offset - base_offset);
    put_varlong(&q, rec->key.len);
    size_t head = (size_t)(q - body);
    uint8_t vhead[10], *vq = vhead;
    put_varlong(&vq, rec->value.len);
    uint8_t hhead[10], *hq = hhead;
    put_varlong(&hq, rec->headers_count);
    size_t total =
        head + klen + (size_t)(vq - vhead) + vlen + (size_t)(hq - hhead) + hlen;
    uint8_t *p = sc->recs + sc->recs_len;
    put_varlong(&p, (int64_t)total);
    memcpy(p, body, head);
    p += head;
    if (klen > 0) {
        memcpy(p, rec->key.ptr, klen);
        p += klen;
    }
    memcpy(p, vhead, (size_t)(vq - vhead));
    p += vq - vhead;
    if (vlen > 0) {
        memcpy(p, rec->value.ptr, vlen);
        p += vlen;
    }
    memcpy(p, hhead, (size_t)(hq - hhead));
    p += hq - hhead;
    if (hlen > 0) {
        memcpy(p, rec->headers.buf, hlen);
        p += hlen;
    }
    sc->recs_len = (size_t)(p - sc->recs);
    return 0;
}

/* What marking the records of one batch found. */
struct batch_tally {
    size_t kept, removed, tombs_removed;
    bool tomb_kept;      /* a tombstone stays until its delete horizon */
    int64_t kept_max_ts; /* -1 when nothing is kept */
};

/* A new slot at the end of the scratch list (NULL on OOM). */
static struct rec_ref *scratch_push(struct scratch *sc)
{
    if (sc->n == sc->cap) {
        size_t cap = sc->cap == 0 ? 64 : sc->cap * 2;
        struct rec_ref *nv = bk_realloc(sc->v, cap * sizeof *nv);
        if (nv == NULL) {
            return NULL;
        }
        sc->v = nv;
        sc->cap = cap;
    }
    return &sc->v[sc->n++];
}

/* Reads every record of the batch into sc and marks it kept or removed: a
 * record stays when its key's latest offset is its own, except a tombstone
 * past the batch's delete horizon (KIP-534); a record without a key goes.
 * Sets *unreadable when the records cannot
 * be parsed; the caller then keeps the batch whole. */
static int mark_records(const struct bk_log_clean *j,
                        struct scratch *sc,
                        struct bk_record_iter *it,
                        int64_t horizon,
                        struct batch_tally *t,
                        bool *unreadable)
{
    *t = (struct batch_tally){ .kept_max_ts = -1 };
    *unreadable = false;
    sc->n = 0;
    for (;;) {
        size_t start = it->rd.pos;
        struct bk_record rec;
        int rv = bk_record_iter_next(it, &rec);
        if (rv == 0) {
            return 0;
        }
        if (rv < 0) {
            *unreadable = true;
            return 0;
        }
        struct rec_ref *r = scratch_push(sc);
        if (r == NULL) {
            return BK_ENOMEM;
        }
        r->start = start;
        r->end = it->rd.pos;
        r->rec = rec;
        r->timestamp = rec.timestamp;
        bool keep =
            rec.key.len >= 0 && kmap_get(&j->keys, rec.key) <= rec.offset;
        if (keep && rec.value.len < 0) {
            if (j->now >= horizon) {
                keep = false;
                t->tombs_removed++;
            } else {
                t->tomb_kept = true;
            }
        }
        r->keep = keep;
        if (keep) {
            t->kept++;
            if (rec.timestamp > t->kept_max_ts) {
                t->kept_max_ts = rec.timestamp;
            }
        } else {
            t->removed++;
        }
    }
}

/* Whether a batch left with no records must stay, emptied: Kafka keeps the
 * last batch of a live producer so that its sequence number survives
 * (RETAIN_EMPTY). */
static bool retain_empty(const struct bk_log_clean *j,
                         const struct bk_batch_hdr *h,
                         int64_t last)
{
    return h->producer_id >= 0 &&
           pmap_get(&j->producers, h->producer_id) == last &&
           h->max_timestamp >= j->now - j->producer_expiration_ms;
}

/* Fills sc->hdr and sc->recs with the kept records of a batch whose header
 * is already copied to sc->hdr. A batch that gets its first delete horizon
 * carries it as base timestamp, so its records' timestamp deltas are
 * re-encoded against it (unless the batch uses LogAppendTime, whose records
 * carry no timestamps of their own). */
static int gather_kept(const struct bk_log_clean *j,
                       struct scratch *sc,
                       const struct bk_batch_hdr *h,
                       const uint8_t *recs,
                       const struct batch_tally *t,
                       bool new_horizon)
{
    bool lat = (h->attributes & BK_BATCH_ATTR_LOG_APPEND_TIME) != 0;
    int64_t base_ts = h->base_timestamp;
    if (new_horizon) {
        base_ts = sat_add(j->now, j->delete_retention_ms);
        uint16_t attrs = (uint16_t)h->attributes | ATTR_HORIZON;
        sc->hdr[BK_BATCH_OFF_ATTRIBUTES] = (uint8_t)(attrs >> 8);
        sc->hdr[BK_BATCH_OFF_ATTRIBUTES + 1] = (uint8_t)attrs;
        bk_put_be64(sc->hdr + BK_BATCH_OFF_BASE_TS, (uint64_t)base_ts);
    }
    if (!lat) {
        bk_put_be64(sc->hdr + BK_BATCH_OFF_MAX_TS, (uint64_t)t->kept_max_ts);
    }
    sc->recs_len = 0;
    for (size_t i = 0; i < sc->n; i++) {
        const struct rec_ref *r = &sc->v[i];
        if (!r->keep) {
            continue;
        }
        int rv;
        if (new_horizon && !lat) {
            rv = reencode(sc, r, h->base_offset, base_ts);
        } else {
            size_t n = r->end - r->start;
            rv = grow(&sc->recs, &sc->recs_cap, sc->recs_len + n);
            if (rv == 0) {
                memcpy(sc->recs + sc->recs_len, recs + r->start, n);
                sc->recs_len += n;
            }
        }
        if (rv != 0) {
            return rv;
        }
    }
    return 0;
}

/* Writes the batch built in sc (header and records) with `kept` records,
 * compressed again with codec. */
static int out_rebuilt(struct out *o,
                       struct scratch *sc,
                       size_t kept,
                       enum bk_codec codec)
{
    bk_put_be32(sc->hdr + BK_BATCH_OFF_RECORDS_COUNT, (uint32_t)kept);
    uint8_t *nb = NULL;
    size_t nlen = 0;
    int rv = bk_batch_rebuild(sc->hdr, sc->recs, sc->recs_len, codec,
                              BK_COMPRESS_LEVEL_DEFAULT, NULL, &nb, &nlen);
    if (rv != 0) {
        return rv;
    }
    rv = out_batch(o, nb, nlen);
    bk_free(nb);
    return rv;
}

/* Writes batch b (len bytes, header h) to o, filtered: batches below the log
 * start go, control batches stay whole, others lose their superseded records
 * and expired tombstones. */
static int clean_batch(struct bk_log_clean *j,
                       struct out *o,
                       struct scratch *sc,
                       struct bk_arena *ar,
                       const uint8_t *b,
                       const struct bk_batch_hdr *h)
{
    size_t len = (size_t)bk_batch_hdr_size(h);
    struct bk_log_clean_stats *st = &j->stats;
    int64_t last = bk_batch_hdr_last_offset(h);
    if (last < j->log_start) {
        st->batches_removed++;
        st->records_removed += h->records_count;
        return 0;
    }
    if ((h->attributes & BK_BATCH_ATTR_CONTROL) != 0) {
        return out_batch(o, b, len);
    }
    bk_arena_reset(ar);
    struct bk_record_iter it;
    if (bk_record_iter_init(&it, b, len, ar, MAX_UNCOMPRESSED) != 0) {
        st->records_kept += h->records_count;
        return out_batch(o, b, len); /* keep what cannot be read */
    }
    bool has_horizon = (h->attributes & ATTR_HORIZON) != 0;
    int64_t horizon = has_horizon ? h->base_timestamp : INT64_MAX;
    struct batch_tally t;
    bool unreadable;
    int rv = mark_records(j, sc, &it, horizon, &t, &unreadable);
    if (rv != 0) {
        return rv;
    }
    if (unreadable) {
        st->records_kept += h->records_count;
        return out_batch(o, b, len);
    }
    st->records_kept += (int64_t)t.kept;
    st->records_removed += (int64_t)t.removed;
    st->tombstones_removed += (int64_t)t.tombs_removed;
    /* The job's next run is due when the earliest horizon of a kept
     * tombstone passes. */
    bool new_horizon = t.tomb_kept && !has_horizon;
    if (t.tomb_kept) {
        int64_t hz =
            new_horizon ? sat_add(j->now, j->delete_retention_ms) : horizon;
        if (hz < j->new_horizon) {
            j->new_horizon = hz;
        }
    }
    if (t.removed == 0 && !new_horizon) {
        return out_batch(o, b, len);
    }
    memcpy(sc->hdr, b, BK_BATCH_HEADER_SIZE);
    enum bk_codec codec =
        (enum bk_codec)(h->attributes & BK_BATCH_ATTR_COMPRESSION_MASK);
    if (t.kept == 0) {
        if (!retain_empty(j, h, last)) {
            st->batches_removed++;
            return 0;
        }
        codec = BK_CODEC_NONE;
        sc->recs_len = 0;
    } else {
        rv = gather_kept(j, sc, h, it.rd.buf, &t, new_horizon);
        if (rv != 0) {
            return rv;
        }
    }
    return out_rebuilt(o, sc, t.kept, codec);
}

static void cleaned_path(const struct bk_log_clean *j,
                         int64_t base,
                         const char *ext,
                         char *buf,
                         size_t cap)
{
    snprintf(buf, cap, "%s/%020" PRId64 "%s" CLEANED_SUFFIX, j->dir, base, ext);
}

static const char *const EXTS[3] = { ".log", ".index", ".timeindex" };

static void unlink_cleaned(const struct bk_log_clean *j, int64_t base)
{
    char path[BK_LOG_PATH_MAX];
    for (int k = 0; k < 3; k++) {
        cleaned_path(j, base, EXTS[k], path, sizeof path);
        j->disk->unlink(j->disk, path);
    }
}

/* Writes a whole small file and fdatasyncs it. */
static int write_synced(const struct bk_disk *d,
                        const char *path,
                        const void *buf,
                        size_t len)
{
    int fd = d->open(d, path, BK_DISK_CREATE | BK_DISK_TRUNC);
    if (fd < 0) {
        return fd;
    }
    int rv = len > 0 ? bk_disk_pwrite_all(d, fd, buf, len, 0) : 0;
    if (rv == 0) {
        rv = d->fdatasync(d, fd);
    }
    d->close(d, fd);
    return rv;
}

static int clean_segment(struct bk_log_clean *j,
                         int i,
                         struct scratch *sc,
                         struct bk_arena *ar)
{
    struct clean_seg *cs = &j->segs[i];
    char path[BK_LOG_PATH_MAX];
    struct out o = { 0 };
    o.disk = j->disk;
    o.base = cs->base;
    o.end = cs->end;
    o.interval = j->index_interval_bytes;
    o.max_ts = -1;
    o.last_tim_ts = -1;
    o.buf = bk_malloc(WRITE_CHUNK);
    if (o.buf == NULL) {
        return BK_ENOMEM;
    }
    cleaned_path(j, cs->base, ".log", path, sizeof path);
    o.fd = j->disk->open(j->disk, path, BK_DISK_CREATE | BK_DISK_TRUNC);
    if (o.fd < 0) {
        bk_free(o.buf);
        return o.fd;
    }
    cs->written = true;
    struct reader r;
    int rv = reader_open(&r, j->disk, cs, &j->stats.bytes_read);
    if (rv == 0) {
        const uint8_t *b;
        struct bk_batch_hdr h;
        while ((rv = reader_next(&r, &b, &h)) == 1) {
            if (atomic_load(&j->cancel)) {
                rv = BK_ECANCELED;
                break;
            }
            if ((rv = clean_batch(j, &o, sc, ar, b, &h)) != 0) {
                break;
            }
        }
    }
    reader_close(&r);
    if (rv == 0) {
        rv = out_flush(&o);
    }
    if (rv == 0) {
        rv = j->disk->fdatasync(j->disk, o.fd);
    }
    j->disk->close(j->disk, o.fd);
    /* A sealed segment's time index ends with its largest timestamp. */
    if (rv == 0 && o.size > 0 && o.max_ts > o.last_tim_ts) {
        rv = out_tim(&o, o.max_ts, o.end - 1);
    }
    if (rv == 0) {
        cleaned_path(j, cs->base, ".index", path, sizeof path);
        rv = write_synced(j->disk, path, o.idx, o.idx_len);
    }
    if (rv == 0) {
        cleaned_path(j, cs->base, ".timeindex", path, sizeof path);
        rv = write_synced(j->disk, path, o.tim, o.tim_len);
    }
    if (rv == 0) {
        cs->new_size = o.size;
        cs->max_ts = o.max_ts;
        cs->idx_entries = (int64_t)(o.idx_len / IDX_ENTRY);
        cs->tim_entries = (int64_t)(o.tim_len / TIM_ENTRY);
        cs->last_idx_pos = o.last_idx_pos;
        cs->last_tim_ts = o.last_tim_ts;
        j->stats.bytes_before += cs->size;
        j->stats.bytes_after += o.size;
        j->stats.segments++;
    }
    bk_free(o.buf);
    bk_free(o.idx);
    bk_free(o.tim);
    return rv;
}

static int clean_run(struct bk_log_clean *j)
{
    j->new_horizon = INT64_MAX;
    int rv = pass_map(j);
    if (rv != 0) {
        return rv;
    }
    struct scratch sc = { 0 };
    sc.hdr = bk_malloc(BK_BATCH_HEADER_SIZE);
    if (sc.hdr == NULL) {
        return BK_ENOMEM;
    }
    struct bk_arena ar;
    bk_arena_init(&ar, 1 << 20, 0);
    for (int i = 0; i < j->nclean && rv == 0; i++) {
        rv = clean_segment(j, i, &sc, &ar);
    }
    bk_arena_destroy(&ar);
    bk_free(sc.v);
    bk_free(sc.recs);
    bk_free(sc.hdr);
    if (rv != 0) {
        return rv;
    }
    /* Every checkpoint queued before begin (the recovery points, the soft
     * point rewritten by begin) must be on disk before a segment changes
     * under the positions they name. */
    bk_syncer_barrier(j->syncer);
    if (atomic_load(&j->cancel)) {
        return BK_ECANCELED;
    }
    /* The gaps become legal before they exist. The cleaned offset itself
     * moves only once the files are in place (end): a crash before that
     * leaves it where it was, and the next job does the work again. */
    j->new_clean_end = j->segs[j->nclean].base;
    int64_t gap_end =
        j->old_gap_end > j->new_clean_end ? j->old_gap_end : j->new_clean_end;
    char path[BK_LOG_PATH_MAX], buf[96];
    snprintf(path, sizeof path, "%s/%s", j->dir, CLEANER_NAME);
    int n = snprintf(buf, sizeof buf, CKPT_FMT, j->old_clean_end,
                     j->old_horizon, gap_end);
    j->ckpt_written = true;
    return bk_disk_write_atomic(j->disk, j->dir, path, buf, (size_t)n);
}

void bk_log_clean_run(struct bk_log_clean *j)
{
    int rv = clean_run(j);
    if (rv != 0) {
        if (rv != BK_ECANCELED) {
            bk_diag_warn("log", "dir=%s err=%s msg=\"cleaning failed\"", j->dir,
                         bk_errname(rv));
        }
        for (int i = 0; i < j->nclean; i++) {
            if (j->segs[i].written) {
                unlink_cleaned(j, j->segs[i].base);
                j->segs[i].written = false;
            }
        }
    }
    j->rv = rv;
}

/* ---- end: swapping in ---- */

static bool still_matches(const struct bk_log *log,
                          const struct bk_log_clean *j)
{
    if (log->nsegs <= j->nclean) {
        return false;
    }
    for (int i = 0; i < j->nclean; i++) {
        if (log->segs[i]->log_f != j->segs[i].log_f) {
            return false;
        }
    }
    return true;
}

static void queue_cleaned_unlink(struct bk_log *log, int64_t base)
{
    char names[3][64];
    const char *p[3];
    for (int k = 0; k < 3; k++) {
        snprintf(names[k], sizeof names[k], "%020" PRId64 "%s" CLEANED_SUFFIX,
                 base, EXTS[k]);
        p[k] = names[k];
    }
    if (queue_unlink_names(log, p, 3) != 0) {
        for (int k = 0; k < 3; k++) {
            char path[BK_LOG_PATH_MAX];
            snprintf(path, sizeof path, "%s/%s", log->dir, names[k]);
            log->disk->unlink(log->disk, path);
        }
    }
}

/* Swaps the cleaned files of cs in for old, and fills s (a new segment
 * struct for the same base) to describe what is now on disk. Returns
 * false when a rename failed: the segment is then whole (old data, or new
 * data with its indexes missing, rebuilt when used) but maybe not clean. */
static bool swap_segment(struct bk_log *log,
                         struct bk_log_clean *j,
                         struct segment *old,
                         const struct clean_seg *cs,
                         struct segment *s)
{
    char from[BK_LOG_PATH_MAX], to[BK_LOG_PATH_MAX];
    /* Indexes first: from here until the new ones are in place the
     * segment has none (rebuilt from the data if a crash comes now),
     * never one that describes the other data file. */
    struct bk_fdc_file *idx[2] = { old->idx_f, old->tim_f };
    queue_retire_files(log, idx, 2);
    /* Keep the old data file open across the rename, or the rename would
     * free its blocks here; the syncer closes it. */
    bool pinned = bk_fdc_pin(old->log_f, false) >= 0;
    bool ok = true;
    for (int k = 0; k < 3 && ok; k++) {
        cleaned_path(j, cs->base, EXTS[k], from, sizeof from);
        seg_path(log, cs->base, EXTS[k], to, sizeof to);
        int rv = log->disk->rename(log->disk, from, to);
        if (rv != 0) {
            bk_diag_error("log", "path=%s err=%s msg=\"cleaner rename failed\"",
                          from, bk_errname(rv));
            ok = false;
        }
    }
    if (!ok) {
        queue_cleaned_unlink(log, cs->base);
    }
    /* The old data file is no longer in the directory (or, after a failed
     * rename, is reached through the new handle); readers that pinned it
     * keep their fds. */
    if (pinned) {
        queue_release_pinned(log, old->log_f);
    } else {
        bk_fdc_mark_deleted(old->log_f);
    }
    s->created_ms = old->created_ms;
    if (ok) {
        s->size = cs->new_size;
        s->max_ts = cs->max_ts;
        s->idx_entries = cs->idx_entries;
        s->tim_entries = cs->tim_entries;
        s->last_idx_pos = cs->last_idx_pos;
        s->last_tim_ts = cs->last_tim_ts;
        s->since_index = cs->new_size - cs->last_idx_pos;
        s->index_state = SEG_INDEX_OK;
    } else {
        int64_t size = 0;
        log->disk->stat_size(log->disk, s->log_f->path, &size);
        s->size = size;
        s->index_state = SEG_INDEX_UNCHECKED;
    }
    return ok;
}

static void discard_files(struct bk_log *log, struct bk_log_clean *j)
{
    for (int i = 0; i < j->nclean; i++) {
        if (j->segs[i].written) {
            queue_cleaned_unlink(log, j->segs[i].base);
            j->segs[i].written = false;
        }
    }
}

int bk_log_clean_end(struct bk_log *log,
                     struct bk_log_clean *j,
                     struct bk_log_clean_stats *stats)
{
    log->clean_on_disk = false; /* segments may be swapped below */
    if (log->cleaning == j) {
        log->cleaning = NULL;
    }
    int rv = j->rv;
    if (rv == 0 && (atomic_load(&j->cancel) || j->log != log ||
                    atomic_load(&log->gen) != j->gen ||
                    atomic_load(&log->failed) || !still_matches(log, j))) {
        rv = BK_ECANCELED;
    }
    if (rv != 0) {
        discard_files(log, j);
        if (j->ckpt_written) {
            queue_clean_ckpt(log); /* back to what holds */
        }
        if (stats != NULL) {
            memset(stats, 0, sizeof *stats);
            stats->clean_end = bk_log_clean_offset(log);
        }
        job_free(j);
        return rv;
    }
    int at = 0; /* index in log->segs of job segment i */
    int64_t clean_end = j->new_clean_end;
    for (int i = 0; i < j->nclean; i++) {
        struct clean_seg *cs = &j->segs[i];
        struct segment *old = log->segs[at];
        if (cs->new_size == 0 && i > 0) {
            /* Nothing left: the segment goes. Its offsets become a gap
             * between its neighbours, below the cleaned offset. */
            memmove(log->segs + at, log->segs + at + 1,
                    (size_t)(log->nsegs - at - 1) * sizeof *log->segs);
            log->nsegs--;
            queue_delete(log, old);
            queue_cleaned_unlink(log, cs->base);
            cs->written = false;
            j->stats.segments_deleted++;
            continue;
        }
        struct segment *s = seg_new(log, cs->base);
        if (s == NULL) {
            /* Out of memory: this segment and the later ones stay as they
             * were; only the prefix before it counts as cleaned. */
            discard_files(log, j);
            clean_end = cs->base;
            break;
        }
        bool ok = swap_segment(log, j, old, cs, s);
        cs->written = false;
        log->segs[at++] = s;
        seg_free(old);
        if (!ok) {
            discard_files(log, j);
            clean_end = cs->base;
            break;
        }
    }
    log->hint_offset = -1;
    log->clean_end = clean_end;
    log->clean_horizon = j->new_horizon;
    if (log->gap_end < j->new_clean_end) {
        log->gap_end = j->new_clean_end;
    }
    queue_clean_ckpt(log);
    if (stats != NULL) {
        *stats = j->stats;
        stats->clean_end = bk_log_clean_offset(log);
    }
    bk_diag_info("log",
                 "dir=%s segments=%d deleted=%d before=%" PRId64
                 " after=%" PRId64 " removed=%" PRId64 " keys=%" PRId64
                 " clean_end=%" PRId64 " msg=\"compacted\"",
                 log->dir, j->stats.segments, j->stats.segments_deleted,
                 j->stats.bytes_before, j->stats.bytes_after,
                 j->stats.records_removed, j->stats.map_keys, log->clean_end);
    job_free(j);
    return 0;
}

void bk_log_clean_discard(struct bk_log_clean *j)
{
    if (j->rv == 0) {
        for (int i = 0; i < j->nclean; i++) {
            if (j->segs[i].written) {
                unlink_cleaned(j, j->segs[i].base);
            }
        }
    }
    job_free(j);
}

int bk_log_clean(struct bk_log *log,
                 bool force,
                 struct bk_log_clean_stats *stats)
{
    if (stats != NULL) {
        memset(stats, 0, sizeof *stats);
        stats->clean_end = bk_log_clean_offset(log);
    }
    struct bk_log_clean *j;
    int rv = bk_log_clean_begin(log, force, &j);
    if (rv != 0 || j == NULL) {
        return rv;
    }
    bk_log_clean_run(j);
    return bk_log_clean_end(log, j, stats);
}
