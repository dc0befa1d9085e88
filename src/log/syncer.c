/* The syncer: one background thread that runs every fdatasync, checkpoint
 * write and segment deletion of the log store.
 *
 * Grouping. Shards queue items (roll syncs, flush-policy syncs,
 * checkpoints, deletions) and bk_log_sync requests under one mutex and
 * signal a condition variable. The thread takes the whole queue at once
 * (a "round"), fdatasyncs each distinct file once per round, whatever the
 * number of requests on it, and only then runs the completions. Requests
 * that arrive during a round wait for the next one, so under load one
 * fdatasync covers every append that reached the page cache before the
 * round started: group commit across partitions and producers.
 *
 * Completions run on this thread; callers bounce them to their own loop
 * (uv_async_send). Nothing here touches a log's shard-owned state: items
 * carry snapshots, and the durable offset and failure flag are atomics. */
#include <string.h>
#include <time.h>

#include "common/diag.h"
#include "common/err.h"
#include "common/heap.h"
#include "log/log_int.h"
#include "metrics/metrics.h"

struct bk_syncer {
    const struct bk_disk *disk;
    struct bk_fdcache *fc;
    pthread_mutex_t mu;
    pthread_cond_t work;
    pthread_cond_t done;
    struct bk_sync_item *head, *tail;
    struct bk_log_sync_req *rhead, *rtail;
    bool stop;
    bool threaded;
    pthread_t thread;
    uint64_t round;
    _Atomic uint64_t fsyncs;
    struct bk_hist fsync_us; /* written by the syncer thread only */
    struct bk_hist batch;
    int open_err; /* syncer thread: last error opening a file to sync */
};

void bk_sync_item_free(struct bk_sync_item *item)
{
    for (int i = 0; i < item->nfiles; i++) {
        bk_fdc_file_unref(item->files[i]);
    }
    bk_free(item->ckpt_dir);
    bk_free(item->ckpt_path);
    bk_free(item->ckpt_buf);
    bk_free(item);
}

static void dir_of(const char *path, char *buf, size_t cap)
{
    const char *slash = strrchr(path, '/');
    size_t n = slash == NULL ? 0 : (size_t)(slash - path);
    if (n >= cap) {
        n = cap - 1;
    }
    if (n == 0) {
        buf[0] = '.';
        n = 1;
    } else {
        memcpy(buf, path, n);
    }
    buf[n] = '\0';
}

static uint64_t mono_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static int sync_file(struct bk_syncer *s, struct bk_fdc_file *f)
{
    if (f->sync_round == s->round) {
        return f->sync_status;
    }
    int rv = 0;
    bool hard = false;
    int fd = bk_fdc_pin(f, false);
    if (fd >= 0) {
        uint64_t t0 = mono_us();
        rv = s->disk->fdatasync(s->disk, fd);
        bk_hist_observe(&s->fsync_us, &bk_hist_latency_us, mono_us() - t0);
        atomic_fetch_add(&s->fsyncs, 1);
        bk_fdc_unpin(f);
        if (rv == 0 && bk_fdc_take_created(f)) {
            /* A new file's directory entry is not covered by fdatasync. */
            char dir[4096];
            dir_of(f->path, dir, sizeof dir);
            rv = s->disk->fsync_dir(s->disk, dir);
        }
        hard = rv != 0;
        if (hard) {
            bk_diag_error("log", "path=%s err=%s msg=\"fdatasync failed\"",
                          f->path, bk_errname(rv));
        } else if (s->open_err != 0) {
            bk_diag_info("log", "msg=\"syncs resumed\"");
            s->open_err = 0;
        }
    } else if (fd != BK_ENOENT) {
        /* The file could not be opened (too many open files, out of
         * memory): nothing was done to it, its dirty pages are still
         * there, and a later sync covers them. Logged once per streak. */
        rv = fd;
        if (rv != s->open_err) {
            bk_diag_warn("log",
                         "path=%s err=%s msg=\"cannot open a file to "
                         "sync it; will retry\"",
                         f->path, bk_errname(rv));
            s->open_err = rv;
        }
    }
    /* ENOENT: never written (nothing to sync) or deleted meanwhile. */
    f->sync_round = s->round;
    f->sync_status = rv;
    f->sync_hard = hard;
    return rv;
}

static void run_files(struct bk_syncer *s, struct bk_sync_item *it)
{
    int rv = 0;
    struct bk_fdc_file *bad = NULL;
    for (int i = 0; i < it->nfiles && rv == 0; i++) {
        rv = sync_file(s, it->files[i]);
        bad = rv != 0 ? it->files[i] : NULL;
    }
    if (bad != NULL) {
        if (it->log != NULL) {
            if (bad->sync_hard) {
                bk_log_syncer_failed(it->log);
            } else {
                bk_log_syncer_lost(it->log);
            }
        }
        return;
    }
    if (it->ckpt_buf != NULL && it->log != NULL &&
        !bk_log_syncer_ckpt_ok(it->log, it->lost)) {
        /* A sync queued before this checkpoint did not happen: the shard
         * redoes the syncs and queues a new checkpoint. */
        return;
    }
    if (it->ckpt_buf != NULL && it->ckpt_nosync) {
        rv = bk_disk_write_replace(s->disk, it->ckpt_path, it->ckpt_buf,
                                   it->ckpt_len);
    } else if (it->ckpt_buf != NULL) {
        rv = bk_disk_write_atomic(s->disk, it->ckpt_dir, it->ckpt_path,
                                  it->ckpt_buf, it->ckpt_len);
    }
    if (rv != 0 && (bk_err_transient(rv) || bk_err_nospace(rv))) {
        /* The data files were synced; only the checkpoint file is older
         * than it could be, which recovery tolerates (it scans more). A
         * truncation that needs it on disk checks the failure count. */
        bk_diag_warn("log", "path=%s err=%s msg=\"checkpoint not written\"",
                     it->ckpt_path, bk_errname(rv));
        if (it->log != NULL) {
            bk_log_syncer_ckpt_failed(it->log);
        }
    } else if (rv != 0) {
        bk_diag_error("log", "path=%s err=%s msg=\"checkpoint failed\"",
                      it->ckpt_path, bk_errname(rv));
        if (it->log != NULL) {
            bk_log_syncer_failed(it->log);
        }
    } else if (it->log != NULL && it->durable >= 0) {
        bk_log_syncer_durable(it->log, it->gen, it->durable);
    }
}

static void run_delete(struct bk_syncer *s, struct bk_sync_item *it)
{
    for (int i = 0; i < it->nfiles; i++) {
        struct bk_fdc_file *f = it->files[i];
        bk_fdc_mark_deleted(f);
        int rv = s->disk->unlink(s->disk, f->path);
        if (rv != 0 && rv != BK_ENOENT) {
            bk_diag_warn("log", "path=%s err=%s msg=\"unlink failed\"", f->path,
                         bk_errname(rv));
        }
    }
    if (it->nfiles > 0) {
        char dir[4096];
        dir_of(it->files[0]->path, dir, sizeof dir);
        s->disk->fsync_dir(s->disk, dir);
    }
}

static void run_release(struct bk_sync_item *it)
{
    for (int i = 0; i < it->nfiles; i++) {
        bk_fdc_mark_deleted(it->files[i]);
        bk_fdc_unpin(it->files[i]);
    }
}

int bk_syncer_run_once(struct bk_syncer *s)
{
    pthread_mutex_lock(&s->mu);
    struct bk_sync_item *items = s->head;
    struct bk_log_sync_req *reqs = s->rhead;
    s->head = s->tail = NULL;
    s->rhead = s->rtail = NULL;
    pthread_mutex_unlock(&s->mu);
    if (items == NULL && reqs == NULL) {
        return 0;
    }
    s->round++;
    int n = 0;
    struct bk_sync_item *barriers = NULL;
    for (struct bk_sync_item *it = items, *next; it != NULL; it = next) {
        next = it->next;
        n++;
        switch (it->kind) {
            case BK_SYNC_FILES:
                run_files(s, it);
                bk_sync_item_free(it);
                break;
            case BK_SYNC_DELETE:
                run_delete(s, it);
                bk_sync_item_free(it);
                break;
            case BK_SYNC_RELEASE:
                run_release(it);
                bk_sync_item_free(it);
                break;
            case BK_SYNC_BARRIER:
                it->next = barriers;
                barriers = it;
                break;
        }
    }
    /* Every fdatasync of the round before any completion. */
    uint64_t nreqs = 0;
    for (struct bk_log_sync_req *r = reqs; r != NULL; r = r->next) {
        nreqs++;
        int rv = r->file != NULL ? sync_file(s, r->file) : 0;
        if (rv != 0 && r->file->sync_hard) {
            bk_log_syncer_failed(r->log);
        } else if (rv == 0) {
            bk_log_syncer_durable(r->log, r->gen, r->offset);
        }
    }
    if (nreqs > 0) {
        bk_hist_observe(&s->batch, &bk_hist_batch, nreqs);
    }
    for (struct bk_log_sync_req *r = reqs, *next; r != NULL; r = next) {
        next = r->next;
        n++;
        int rv = r->file != NULL ? r->file->sync_status : 0;
        bk_fdc_file_unref(r->file);
        r->file = NULL;
        r->cb(r, rv);
    }
    if (barriers != NULL) {
        pthread_mutex_lock(&s->mu);
        for (struct bk_sync_item *b = barriers; b != NULL; b = b->next) {
            b->done = true;
        }
        pthread_cond_broadcast(&s->done);
        pthread_mutex_unlock(&s->mu);
    }
    return n;
}

static void *syncer_main(void *arg)
{
    struct bk_syncer *s = arg;
    pthread_mutex_lock(&s->mu);
    for (;;) {
        while (!s->stop && s->head == NULL && s->rhead == NULL) {
            pthread_cond_wait(&s->work, &s->mu);
        }
        if (s->head == NULL && s->rhead == NULL) {
            break; /* stop requested and nothing left */
        }
        pthread_mutex_unlock(&s->mu);
        bk_syncer_run_once(s);
        pthread_mutex_lock(&s->mu);
    }
    pthread_mutex_unlock(&s->mu);
    return NULL;
}

int bk_syncer_start(const struct bk_disk *disk,
                    struct bk_fdcache *fc,
                    bool threaded,
                    struct bk_syncer **out)
{
    struct bk_syncer *s = bk_calloc(1, sizeof *s);
    if (s == NULL) {
        return BK_ENOMEM;
    }
    s->disk = disk;
    s->fc = fc;
    s->threaded = threaded;
    pthread_mutex_init(&s->mu, NULL);
    pthread_cond_init(&s->work, NULL);
    pthread_cond_init(&s->done, NULL);
    if (threaded) {
        int rv = pthread_create(&s->thread, NULL, syncer_main, s);
        if (rv != 0) {
            pthread_cond_destroy(&s->done);
            pthread_cond_destroy(&s->work);
            pthread_mutex_destroy(&s->mu);
            bk_free(s);
            return -rv;
        }
    }
    *out = s;
    return 0;
}

void bk_syncer_stop(struct bk_syncer *s)
{
    if (s == NULL) {
        return;
    }
    if (s->threaded) {
        pthread_mutex_lock(&s->mu);
        s->stop = true;
        pthread_cond_signal(&s->work);
        pthread_mutex_unlock(&s->mu);
        pthread_join(s->thread, NULL);
    } else {
        while (bk_syncer_run_once(s) > 0) {
        }
    }
    pthread_cond_destroy(&s->done);
    pthread_cond_destroy(&s->work);
    pthread_mutex_destroy(&s->mu);
    bk_free(s);
}

const struct bk_hist *bk_syncer_fsync_hist(const struct bk_syncer *s)
{
    return &s->fsync_us;
}

const struct bk_hist *bk_syncer_batch_hist(const struct bk_syncer *s)
{
    return &s->batch;
}

uint64_t bk_syncer_fsync_count(struct bk_syncer *s)
{
    return atomic_load(&s->fsyncs);
}

void bk_syncer_push(struct bk_syncer *s, struct bk_sync_item *item)
{
    item->next = NULL;
    pthread_mutex_lock(&s->mu);
    if (s->tail != NULL) {
        s->tail->next = item;
    } else {
        s->head = item;
    }
    s->tail = item;
    pthread_cond_signal(&s->work);
    pthread_mutex_unlock(&s->mu);
}

void bk_syncer_push_req(struct bk_syncer *s, struct bk_log_sync_req *req)
{
    req->next = NULL;
    pthread_mutex_lock(&s->mu);
    if (s->rtail != NULL) {
        s->rtail->next = req;
    } else {
        s->rhead = req;
    }
    s->rtail = req;
    pthread_cond_signal(&s->work);
    pthread_mutex_unlock(&s->mu);
}

void bk_syncer_barrier(struct bk_syncer *s)
{
    struct bk_sync_item b;
    memset(&b, 0, sizeof b);
    b.kind = BK_SYNC_BARRIER;
    bk_syncer_push(s, &b);
    if (!s->threaded) {
        while (!b.done) {
            bk_syncer_run_once(s);
        }
        return;
    }
    pthread_mutex_lock(&s->mu);
    while (!b.done) {
        pthread_cond_wait(&s->done, &s->mu);
    }
    pthread_mutex_unlock(&s->mu);
}
