/* The log's side of the sync queue: the items it hands to the syncer
 * thread (fdatasync, checkpoints, small files, unlinks, releases), and the
 * durability the syncer reports back (durable offset, failures, lost
 * syncs). The syncer thread itself lives in syncer.c. */
#include <inttypes.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#include "common/diag.h"
#include "common/err.h"
#include "common/heap.h"
#include "log/log_int.h"

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
struct bk_sync_item *ckpt_alloc(struct bk_log *log)
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
void ckpt_push(struct bk_log *log,
               struct bk_sync_item *it,
               struct segment *sync,
               bool clean)
{
    log->clean_on_disk = false; /* this line replaces the one on disk */
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
    /* The last field is the high watermark (recover.c reads it back). */
    int n =
        snprintf(it->ckpt_buf, CKPT_CAP,
                 "1 %" PRId64 " %" PRId64 " %" PRId64 " %" PRId64 " %d %" PRId64
                 " %" PRId64 " %" PRId64 " %" PRId64 "\n",
                 log->log_start, log->rp, log->rp_base, log->rp_pos,
                 clean ? 1 : 0, log->leo, log->rp_idx, log->rp_tim, log->hw);
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
int queue_resync(struct bk_log *log)
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
            bk_diag_warn("log", "path=%s err=%s msg=\"rename failed\"",
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
int queue_soft_checkpoint(struct bk_log *log)
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
            bk_diag_warn("log", "path=%s err=%s msg=\"rename failed\"",
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

/* ---- durability ---- */

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
