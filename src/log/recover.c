/* Opening a log: listing segments, the clean path, and crash recovery.
 *
 * Clean path (the directory root's clean-shutdown marker was present and
 * the partition's checkpoint says it was written by a clean close, with the
 * active segment's size matching): segments are listed and stat()ed, and
 * nothing else is read. Indexes are checked lazily on first use.
 *
 * Crash path: everything below the checkpointed recovery point is durable,
 * indexes included, so only the bytes after it are scanned: each batch's
 * header is checked, its CRC verified, its base offset must continue the
 * previous batch, and index entries are rebuilt as it goes. The first torn
 * or corrupt batch ends the log: the segment is truncated there and later
 * segments are deleted. The recovered tail is then synced and a new
 * checkpoint written in the background. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/diag.h"
#include "common/err.h"
#include "common/heap.h"
#include "log/log_int.h"

struct listing {
    struct bk_log *log;
    int64_t *bases;
    int n, cap;
    char **junk; /* owned names to remove */
    int njunk, junk_cap;
    int err;
};

static bool parse_base(const char *name, const char *ext, int64_t *base)
{
    size_t len = strlen(name), elen = strlen(ext);
    if (len != 20 + elen || strcmp(name + 20, ext) != 0) {
        return false;
    }
    int64_t v = 0;
    for (int i = 0; i < 20; i++) {
        if (name[i] < '0' || name[i] > '9' || v > (INT64_MAX - 9) / 10) {
            return false;
        }
        v = v * 10 + (name[i] - '0');
    }
    *base = v;
    return true;
}

static int add_junk(struct listing *l, const char *name)
{
    if (l->njunk == l->junk_cap) {
        int cap = l->junk_cap == 0 ? 4 : l->junk_cap * 2;
        char **n = bk_realloc(l->junk, (size_t)cap * sizeof *n);
        if (n == NULL) {
            return BK_ENOMEM;
        }
        l->junk = n;
        l->junk_cap = cap;
    }
    if ((l->junk[l->njunk] = bk_strdup(name)) == NULL) {
        return BK_ENOMEM;
    }
    l->njunk++;
    return 0;
}

static int list_cb(void *arg, const char *name)
{
    struct listing *l = arg;
    int64_t base;
    size_t len = strlen(name);
    if (parse_base(name, ".log", &base)) {
        if (l->n == l->cap) {
            int cap = l->cap == 0 ? 4 : l->cap * 2;
            int64_t *n = bk_realloc(l->bases, (size_t)cap * sizeof *n);
            if (n == NULL) {
                return BK_ENOMEM;
            }
            l->bases = n;
            l->cap = cap;
        }
        l->bases[l->n++] = base;
    } else if ((len > 4 && strcmp(name + len - 4, ".tmp") == 0) ||
               (len > 8 && strcmp(name + len - 8, ".deleted") == 0) ||
               /* A cleaner's output not swapped in before a crash: the
                * segment it was made from is still there, whole. */
               (len > 8 && strcmp(name + len - 8, CLEANED_SUFFIX) == 0) ||
               parse_base(name, ".index", &base) ||
               parse_base(name, ".timeindex", &base)) {
        /* Index files are kept only when their .log exists (below). */
        return add_junk(l, name);
    }
    return 0;
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

static bool has_base(const struct listing *l, int64_t base)
{
    return l->n > 0 &&
           bsearch(&base, l->bases, (size_t)l->n, sizeof base, cmp_i64) != NULL;
}

struct ckpt {
    bool valid;
    int64_t log_start, rp, rp_base, rp_pos, leo, rp_idx, rp_tim;
    int64_t hw; /* -1 in a checkpoint written before replication */
    int clean;
};

static void read_ckpt(struct bk_log *log, struct ckpt *c)
{
    char path[BK_LOG_PATH_MAX], buf[256];
    memset(c, 0, sizeof *c);
    snprintf(path, sizeof path, "%s/%s", log->dir, CKPT_NAME);
    ssize_t n = bk_disk_read_small(log->disk, path, buf, sizeof buf - 1);
    if (n <= 0) {
        return;
    }
    buf[n] = '\0';
    int version;
    c->hw = -1;
    /* brokerd's own file; glibc's sscanf converts with strtoll (it
     * saturates) and the fields are range-checked below. */
    /* NOLINTNEXTLINE(cert-err34-c) */
    int got = sscanf(buf,
                     "%d %" SCNd64 " %" SCNd64 " %" SCNd64 " %" SCNd64
                     " %d %" SCNd64 " %" SCNd64 " %" SCNd64 " %" SCNd64,
                     &version, &c->log_start, &c->rp, &c->rp_base, &c->rp_pos,
                     &c->clean, &c->leo, &c->rp_idx, &c->rp_tim, &c->hw);
    if (got < 10) {
        c->hw = -1;
    }
    if (got >= 9 && version == 1 && c->log_start >= 0 && c->rp >= 0 &&
        c->rp_pos >= 0) {
        c->valid = true;
    } else {
        bk_diag_warn("log", "dir=%s msg=\"unreadable checkpoint ignored\"",
                     log->dir);
    }
}

/* The soft recovery point counts only when written during this boot: then
 * everything below it is still in the page cache or on disk. */
static void read_soft(struct bk_log *log,
                      const struct ckpt *c,
                      struct ckpt *soft)
{
    char path[BK_LOG_PATH_MAX], buf[256], boot[64];
    memset(soft, 0, sizeof *soft);
    if (log->boot_id[0] == '\0') {
        return;
    }
    snprintf(path, sizeof path, "%s/%s", log->dir, SOFT_NAME);
    ssize_t n = bk_disk_read_small(log->disk, path, buf, sizeof buf - 1);
    if (n <= 0) {
        return;
    }
    buf[n] = '\0';
    int version;
    /* brokerd's own file; glibc's sscanf converts with strtoll (it
     * saturates) and the fields are range-checked below. */
    /* NOLINTNEXTLINE(cert-err34-c) */
    if (sscanf(buf,
               "%d %63s %" SCNd64 " %" SCNd64 " %" SCNd64 " %" SCNd64
               " %" SCNd64,
               &version, boot, &soft->rp, &soft->rp_base, &soft->rp_pos,
               &soft->rp_idx, &soft->rp_tim) == 7 &&
        version == 1 && strcmp(boot, log->boot_id) == 0 && soft->rp >= 0 &&
        soft->rp_pos >= 0 && (!c->valid || soft->rp >= c->rp)) {
        soft->valid = true;
    }
}

static void read_epochs(struct bk_log *log)
{
    char path[BK_LOG_PATH_MAX];
    snprintf(path, sizeof path, "%s/%s", log->dir, EPOCH_NAME);
    char *buf = bk_malloc(1 << 20);
    if (buf == NULL) {
        return;
    }
    ssize_t n = bk_disk_read_small(log->disk, path, buf, (1 << 20) - 1);
    if (n > 0) {
        buf[n] = '\0';
        char *p = buf, *end;
        long version = strtol(p, &end, 10);
        long count = version == 0 && end != p ? strtol(end, &p, 10) : -1;
        for (long i = 0; count > 0 && i < count; i++) {
            long e = strtol(p, &end, 10);
            if (end == p) {
                break;
            }
            long long start = strtoll(end, &p, 10);
            if (p == end || e < 0 || e > INT32_MAX || start < 0 ||
                (log->nepochs > 0 &&
                 (log->epochs[log->nepochs - 1].epoch >= e ||
                  log->epochs[log->nepochs - 1].start > start))) {
                break;
            }
            if (log->nepochs == log->epochs_cap) {
                int cap = log->epochs_cap == 0 ? 2 : log->epochs_cap * 2;
                struct epoch_entry *ne =
                    bk_realloc(log->epochs, (size_t)cap * sizeof *ne);
                if (ne == NULL) {
                    break;
                }
                log->epochs = ne;
                log->epochs_cap = cap;
            }
            log->epochs[log->nepochs++] =
                (struct epoch_entry){ (int32_t)e, (int64_t)start };
        }
    }
    bk_free(buf);
}

/* A forward reader over one segment file with a large buffer, so the scan
 * issues one pread per MiB rather than two per batch. */
struct scanner {
    uint8_t *buf;
    size_t cap;
    int64_t off; /* file offset of buf[0] */
    size_t len;  /* valid bytes in buf */
};

/* Makes [pos, pos+n) available; returns a pointer or NULL when the file
 * ends first (a torn tail) or on a read error (*err). */
static const uint8_t *scan_get(struct bk_log *log,
                               struct segment *s,
                               struct scanner *sc,
                               int64_t pos,
                               size_t n,
                               int *err)
{
    if (pos >= sc->off && pos + (int64_t)n <= sc->off + (int64_t)sc->len) {
        return sc->buf + (pos - sc->off);
    }
    size_t want = n > (1u << 20) ? n : (1u << 20);
    if (want > sc->cap) {
        uint8_t *nb = bk_realloc(sc->buf, want);
        if (nb == NULL) {
            *err = BK_ENOMEM;
            return NULL;
        }
        sc->buf = nb;
        sc->cap = want;
    }
    ssize_t got = file_pread(log, s->log_f, sc->buf, sc->cap, pos);
    if (got < 0) {
        *err = (int)got;
        return NULL;
    }
    sc->off = pos;
    sc->len = (size_t)got;
    return sc->len >= n ? sc->buf : NULL;
}

/* Whether the next batch (or segment) may start at `next` when the log so
 * far ends at `expected`. Offsets are contiguous except where the cleaner
 * removed batches, which is only below gap_end (on disk before any cleaned
 * file was). Anywhere else a gap means lost data (a segment after an
 * unsynced tail) and ends the log. */
static bool continues(const struct bk_log *log, int64_t expected, int64_t next)
{
    return next == expected || (next > expected && next <= log->gap_end);
}

/* Scans s from s->size (the verified prefix) to file_size. Returns 0 when
 * the whole file was valid, 1 when a torn or corrupt tail was cut off, or
 * a negative error. */
static int scan_segment(struct bk_log *log,
                        struct segment *s,
                        struct scanner *sc,
                        int64_t file_size,
                        int64_t *expected)
{
    int rv = 0;
    int64_t pos = s->size;
    /* The buffer holds another segment's bytes: positions are per file. */
    sc->off = 0;
    sc->len = 0;
    while (pos < file_size) {
        struct bk_batch_hdr h;
        const uint8_t *p = scan_get(log, s, sc, pos, BK_BATCH_HEADER_SIZE, &rv);
        if (p == NULL) {
            break;
        }
        bk_batch_hdr_decode(p, &h);
        if (bk_batch_hdr_check(&h, file_size - pos, BK_BATCH_CHECK_STORED) !=
                0 ||
            !continues(log, *expected, h.base_offset)) {
            break;
        }
        int64_t sz = bk_batch_hdr_size(&h);
        p = scan_get(log, s, sc, pos, (size_t)sz, &rv);
        if (p == NULL || bk_batch_validate(p, (size_t)sz, BK_BATCH_CHECK_STORED,
                                           NULL) != 0) {
            break;
        }
        seg_note_batch(log, s, h.base_offset, pos, sz, h.max_timestamp);
        pos += sz;
        s->size = pos;
        *expected = bk_batch_hdr_last_offset(&h) + 1;
        log->leo = *expected;
        log->scanned += sz;
    }
    if (rv != 0) {
        return rv;
    }
    if (pos < file_size) {
        bk_diag_warn("log",
                     "dir=%s base=%" PRId64 " pos=%" PRId64 " size=%" PRId64
                     " msg=\"truncating torn or corrupt tail\"",
                     log->dir, s->base, pos, file_size);
        rv = file_truncate(log, s->log_f, pos);
        return rv != 0 ? rv : 1;
    }
    return 0;
}

/* Index of the segment that holds checkpoint c's recovery point, or -1
 * when c does not match the files. */
static int ckpt_segment(struct segment **all, int n, const struct ckpt *c)
{
    if (!c->valid) {
        return -1;
    }
    for (int j = 0; j < n; j++) {
        if (all[j]->base == c->rp_base && c->rp >= all[j]->base &&
            c->rp_pos <= all[j]->size &&
            (j + 1 == n || c->rp <= all[j + 1]->base)) {
            return j;
        }
    }
    return -1;
}

/* The segment being scanned starts at s->size (the checkpointed position,
 * or 0): its indexes are cut back to what the checkpoint vouches for. */
static int scan_start_indexes(struct bk_log *log,
                              struct segment *s,
                              const struct ckpt *c)
{
    int rv;
    if (s->size > 0) {
        /* The checkpoint names the index entries synced with it. */
        rv = seg_index_set_counts(log, s, c->rp_idx, c->rp_tim, s->size);
        if (rv == BK_ECORRUPT) {
            rv = seg_index_rebuild(log, s, false);
        }
    } else {
        rv = file_truncate(log, s->idx_f, 0);
        if (rv == 0) {
            rv = file_truncate(log, s->tim_f, 0);
        }
        s->idx_entries = s->tim_entries = 0;
        s->last_idx_pos = s->since_index = 0;
        s->last_tim_ts = s->max_ts = -1;
    }
    s->index_state = SEG_INDEX_OK;
    return rv;
}

static void log_scan_start(const struct bk_log *log,
                           struct segment **all,
                           int n,
                           int k,
                           int64_t pos,
                           int64_t ckpt_rp)
{
    bk_diag_info("log",
                 "dir=%s from_base=%" PRId64 " from_pos=%" PRId64
                 " segments=%d ckpt_rp=%" PRId64
                 " msg=\"recovering after unclean shutdown\"",
                 log->dir, all[k]->base, pos, n, ckpt_rp);
    for (int j = 0; j < n; j++) {
        bk_diag_debug("log", "dir=%s base=%" PRId64 " size=%" PRId64, log->dir,
                      all[j]->base, all[j]->size);
    }
}

/* Queues a sync and checkpoint of every segment from index from on. */
static int queue_scanned(struct bk_log *log, int from)
{
    for (int i = from; i < log->nsegs; i++) {
        int rv = queue_checkpoint(log, log->segs[i], false);
        if (rv != 0) {
            return rv;
        }
    }
    return 0;
}

static int recover_scan(struct bk_log *log,
                        struct segment **all,
                        int n,
                        const struct ckpt *durable,
                        const struct ckpt *soft,
                        char *errmsg)
{
    /* Scan from the soft point when it holds (same boot), else from the
     * durable one, else from the start. Sync from the durable one. */
    int kd = ckpt_segment(all, n, durable);
    int ks = ckpt_segment(all, n, soft);
    const struct ckpt *c = ks >= 0 ? soft : durable;
    int k = ks >= 0 ? ks : (kd >= 0 ? kd : 0);
    int sync_from = kd >= 0 ? kd : 0;
    int64_t pos = 0, expected = all[0]->base;
    if (ks >= 0 || kd >= 0) {
        pos = c->rp_pos;
        expected = c->rp;
    }
    log_scan_start(log, all, n, k, pos, kd >= 0 ? durable->rp : -1);
    int rv = 0;
    for (int j = 0; j < k; j++) {
        segs_insert(log, all[j]);
        all[j] = NULL;
    }
    struct scanner sc = { 0 };
    bool cut = false;
    int j = k;
    for (; j < n && !cut; j++) {
        struct segment *s = all[j];
        if (j > k && !continues(log, expected, s->base)) {
            bk_diag_warn("log",
                         "dir=%s base=%" PRId64 " expected=%" PRId64
                         " msg=\"segment does not continue the log\"",
                         log->dir, s->base, expected);
            break;
        }
        if (s->base > expected) {
            expected = s->base; /* the cleaner emptied what was between */
        }
        int64_t file_size = s->size;
        if ((rv = segs_insert(log, s)) != 0) {
            break;
        }
        all[j] = NULL;
        if (j > k) {
            /* The previous segment is sealed: give it its final entry. */
            struct segment *prev = log->segs[log->nsegs - 2];
            if ((rv = seg_final_time_entry(log, prev)) != 0) {
                break;
            }
        }
        s->size = j == k ? pos : 0;
        log->leo = expected;
        if ((rv = scan_start_indexes(log, s, c)) != 0) {
            break;
        }
        rv = scan_segment(log, s, &sc, file_size, &expected);
        if (rv < 0) {
            break;
        }
        cut = rv == 1;
        rv = 0;
    }
    bk_free(sc.buf);
    /* Whatever follows a cut or a gap is not part of the log. */
    for (; j < n; j++) {
        if (all[j] != NULL) {
            queue_delete(log, all[j]);
            all[j] = NULL;
        }
    }
    if (rv != 0) {
        if (errmsg != NULL) {
            snprintf(errmsg, BK_ERRMSG_SIZE, "recovery of %s: %s", log->dir,
                     bk_strerror(rv));
        }
        return rv;
    }
    log->leo = expected;
    /* Sync what was scanned (kill -9 keeps it in the page cache only) and
     * move the recovery point to the end. */
    atomic_store(&log->durable,
                 kd >= 0 && durable->rp <= expected ? durable->rp : 0);
    return queue_scanned(log, sync_from < k ? sync_from : k);
}

/* Unlinks the files of the listing that are not segments, except the
 * indexes of a segment that is there. */
static void remove_junk(struct bk_log *log, const struct listing *l)
{
    for (int i = 0; i < l->njunk; i++) {
        int64_t base;
        if ((parse_base(l->junk[i], ".index", &base) ||
             parse_base(l->junk[i], ".timeindex", &base)) &&
            has_base(l, base)) {
            continue;
        }
        char path[BK_LOG_PATH_MAX];
        snprintf(path, sizeof path, "%s/%s", log->dir, l->junk[i]);
        log->disk->unlink(log->disk, path);
    }
}

/* No segment on disk: the log starts with an empty one at the log start. */
static int recover_empty(struct bk_log *log)
{
    struct segment *s = seg_new(log, log->log_start);
    if (s == NULL) {
        return BK_ENOMEM;
    }
    s->index_state = SEG_INDEX_OK;
    int rv;
    int fd = bk_fdc_pin(s->log_f, true);
    if (fd < 0 || (rv = segs_insert(log, s)) != 0) {
        rv = fd < 0 ? fd : rv;
        seg_free(s);
        return rv;
    }
    bk_fdc_unpin(s->log_f);
    log->leo = log->hw = log->rp = log->rp_base = s->base;
    epochs_truncate_end(log, log->leo);
    return queue_checkpoint(log, s, false);
}

/* Makes a segment of each base of the listing, with its size on disk. */
static int stat_segments(struct bk_log *log,
                         const struct listing *l,
                         struct segment **all)
{
    int rv = 0;
    for (int i = 0; i < l->n && rv == 0; i++) {
        all[i] = seg_new(log, l->bases[i]);
        if (all[i] == NULL) {
            rv = BK_ENOMEM;
        } else {
            int64_t size;
            rv = log->disk->stat_size(log->disk, all[i]->log_f->path, &size);
            all[i]->size = size;
        }
    }
    return rv;
}

/* Whether the clean path applies: the root's marker was there and the
 * checkpoint, written by a clean close, matches the last segment. */
static bool clean_holds(bool clean,
                        const struct ckpt *c,
                        const struct segment *last)
{
    return clean && c->valid && c->clean && c->rp == c->leo &&
           last->base == c->rp_base && last->size == c->rp_pos &&
           c->leo >= last->base;
}

/* The clean path: every segment is taken as it is. */
static void recover_clean(struct bk_log *log,
                          struct segment **all,
                          int n,
                          const struct ckpt *c)
{
    for (int i = 0; i < n; i++) {
        segs_insert(log, all[i]);
        all[i] = NULL;
    }
    log->leo = c->leo;
    log->rp = c->rp;
    log->rp_base = c->rp_base;
    log->rp_pos = c->rp_pos;
    log->rp_idx = c->rp_idx;
    log->rp_tim = c->rp_tim;
    /* The soft file on disk is unknown here: any truncation must rewrite
     * it before cutting. */
    log->soft = INT64_MAX;
    atomic_store(&log->durable, log->leo);
    log->clean_on_disk = true;
}

/* The crash path; see recover_scan. */
static int recover_crash(struct bk_log *log,
                         struct segment **all,
                         int n,
                         const struct ckpt *c,
                         const struct ckpt *soft,
                         char *errmsg)
{
    int rv = recover_scan(log, all, n, c, soft, errmsg);
    if (rv == 0) {
        /* The old soft point may name bytes that were just cut and that
         * new appends would overwrite with other batches: drop it before
         * the first append (unlink only; same-boot semantics need no
         * sync). */
        char path[BK_LOG_PATH_MAX];
        snprintf(path, sizeof path, "%s/%s", log->dir, SOFT_NAME);
        log->disk->unlink(log->disk, path);
    }
    return rv;
}

/* The offsets once the segments are in place. */
static void recover_finish(struct bk_log *log, const struct ckpt *c)
{
    if (log->log_start < log->segs[0]->base) {
        log->log_start = log->segs[0]->base;
    }
    if (log->log_start > log->leo) {
        log->log_start = log->leo;
    }
    /* The high watermark checkpointed with the recovery point (Kafka's
     * replication-offset-checkpoint): a replica that restarts must not
     * show consumers records its followers may lack. Lower than the truth
     * is safe, the leader's rule raises it again. None recorded (a log of
     * a one-node broker before replication): the log end. */
    log->hw = c->valid && c->hw >= 0 && c->hw < log->leo ? c->hw : log->leo;
    if (log->hw < log->log_start) {
        log->hw = log->log_start;
    }
    epochs_truncate_end(log, log->leo);
    /* segment.ms counts from the open for a segment found on disk (its
     * creation time is not recorded), not from the epoch. */
    log->segs[log->nsegs - 1]->created_ms = bk_clock_wall_ms(log->clock);
}

/* Opens the segments of the listing (at least one), by the clean path or
 * the crash path. */
static int recover_segments(struct bk_log *log,
                            const struct listing *l,
                            bool clean,
                            const struct ckpt *c,
                            const struct ckpt *soft,
                            char *errmsg)
{
    struct segment **all = bk_calloc((size_t)l->n, sizeof *all);
    if (all == NULL) {
        return BK_ENOMEM;
    }
    int rv = stat_segments(log, l, all);
    if (rv == 0 && clean_holds(clean, c, all[l->n - 1])) {
        recover_clean(log, all, l->n, c);
    } else if (rv == 0) {
        rv = recover_crash(log, all, l->n, c, soft, errmsg);
    }
    for (int i = 0; i < l->n; i++) {
        seg_free(all[i]);
    }
    bk_free(all);
    if (rv == 0) {
        recover_finish(log, c);
    }
    return rv;
}

int log_recover(struct bk_log *log, bool clean, char *errmsg)
{
    struct listing l = { .log = log };
    int rv = log->disk->readdir(log->disk, log->dir, list_cb, &l);
    if (rv != 0) {
        if (errmsg != NULL) {
            snprintf(errmsg, BK_ERRMSG_SIZE, "listing %s: %s", log->dir,
                     bk_strerror(rv));
        }
        goto out;
    }
    if (l.n > 0) {
        qsort(l.bases, (size_t)l.n, sizeof *l.bases, cmp_i64);
    }
    remove_junk(log, &l);
    struct ckpt c, soft;
    read_ckpt(log, &c);
    read_soft(log, &c, &soft);
    read_epochs(log);
    log->log_start = c.valid ? c.log_start : (l.n > 0 ? l.bases[0] : 0);
    clean_ckpt_read(log);
    if (l.n == 0) {
        rv = recover_empty(log);
    } else {
        rv = recover_segments(log, &l, clean, &c, &soft, errmsg);
    }
out:
    for (int i = 0; i < l.njunk; i++) {
        bk_free(l.junk[i]);
    }
    bk_free(l.junk);
    bk_free(l.bases);
    return rv;
}
