/* Bounded cache of open files, shared by every log of the broker.
 *
 * One mutex guards the LRU list and the counters; it is held across open(2)
 * and close(2) (both cheap) but never across I/O. The cap is soft: pinned
 * files are never closed, so a burst of pins may exceed it until they are
 * released. */
#include <stdlib.h>
#include <string.h>

#include "common/err.h"
#include "common/heap.h"
#include "log/log_int.h"

struct bk_fdcache {
    const struct bk_disk *disk;
    pthread_mutex_t mu;
    int max_open;
    int open;
    struct bk_fdc_file lru; /* sentinel: next = most recent */
};

int bk_fdcache_new(const struct bk_disk *disk,
                   int max_open,
                   struct bk_fdcache **out)
{
    struct bk_fdcache *fc = bk_calloc(1, sizeof *fc);
    if (fc == NULL) {
        return BK_ENOMEM;
    }
    fc->disk = disk;
    fc->max_open = max_open < 4 ? 4 : max_open;
    pthread_mutex_init(&fc->mu, NULL);
    fc->lru.lru_next = fc->lru.lru_prev = &fc->lru;
    *out = fc;
    return 0;
}

void bk_fdcache_free(struct bk_fdcache *fc)
{
    if (fc == NULL) {
        return;
    }
    pthread_mutex_destroy(&fc->mu);
    bk_free(fc);
}

int bk_fdcache_open_count(struct bk_fdcache *fc)
{
    pthread_mutex_lock(&fc->mu);
    int n = fc->open;
    pthread_mutex_unlock(&fc->mu);
    return n;
}

static void lru_remove(struct bk_fdc_file *f)
{
    if (f->lru_next != NULL) {
        f->lru_prev->lru_next = f->lru_next;
        f->lru_next->lru_prev = f->lru_prev;
        f->lru_next = f->lru_prev = NULL;
    }
}

static void lru_push(struct bk_fdcache *fc, struct bk_fdc_file *f)
{
    f->lru_next = fc->lru.lru_next;
    f->lru_prev = &fc->lru;
    fc->lru.lru_next->lru_prev = f;
    fc->lru.lru_next = f;
}

static void close_locked(struct bk_fdcache *fc, struct bk_fdc_file *f)
{
    lru_remove(f);
    if (f->fd >= 0) {
        fc->disk->close(fc->disk, f->fd);
        f->fd = -1;
        fc->open--;
    }
}

struct bk_fdc_file *bk_fdc_file_new(struct bk_fdcache *fc, const char *path)
{
    struct bk_fdc_file *f = bk_calloc(1, sizeof *f);
    if (f == NULL) {
        return NULL;
    }
    f->path = bk_strdup(path);
    if (f->path == NULL) {
        bk_free(f);
        return NULL;
    }
    f->fc = fc;
    f->fd = -1;
    f->refs = 1;
    return f;
}

size_t bk_fdc_file_memory(const struct bk_fdc_file *f)
{
    return sizeof *f + strlen(f->path) + 1;
}

void bk_fdc_file_ref(struct bk_fdc_file *f)
{
    pthread_mutex_lock(&f->fc->mu);
    f->refs++;
    pthread_mutex_unlock(&f->fc->mu);
}

void bk_fdc_file_unref(struct bk_fdc_file *f)
{
    if (f == NULL) {
        return;
    }
    struct bk_fdcache *fc = f->fc;
    pthread_mutex_lock(&fc->mu);
    if (--f->refs > 0) {
        pthread_mutex_unlock(&fc->mu);
        return;
    }
    close_locked(fc, f);
    pthread_mutex_unlock(&fc->mu);
    bk_free(f->old_path);
    bk_free(f->path);
    bk_free(f);
}

int bk_fdc_pin(struct bk_fdc_file *f, bool create)
{
    struct bk_fdcache *fc = f->fc;
    pthread_mutex_lock(&fc->mu);
    if (f->fd < 0) {
        if (f->deleted) {
            pthread_mutex_unlock(&fc->mu);
            return BK_ENOENT;
        }
        while (fc->open >= fc->max_open && fc->lru.lru_prev != &fc->lru) {
            close_locked(fc, fc->lru.lru_prev);
        }
        int fd = fc->disk->open(fc->disk, f->path, 0);
        if (fd == BK_ENOENT && create) {
            fd = fc->disk->open(fc->disk, f->path, BK_DISK_CREATE);
            if (fd >= 0) {
                f->created = true;
            }
        }
        if (fd < 0) {
            pthread_mutex_unlock(&fc->mu);
            return fd;
        }
        f->fd = fd;
        fc->open++;
    } else {
        lru_remove(f);
    }
    f->pins++;
    int fd = f->fd;
    pthread_mutex_unlock(&fc->mu);
    return fd;
}

void bk_fdc_unpin(struct bk_fdc_file *f)
{
    struct bk_fdcache *fc = f->fc;
    pthread_mutex_lock(&fc->mu);
    if (--f->pins == 0) {
        if (f->deleted) {
            close_locked(fc, f);
        } else {
            lru_push(fc, f);
            while (fc->open > fc->max_open && fc->lru.lru_prev != &fc->lru) {
                close_locked(fc, fc->lru.lru_prev);
            }
        }
    }
    pthread_mutex_unlock(&fc->mu);
}

void bk_fdc_mark_deleted(struct bk_fdc_file *f)
{
    struct bk_fdcache *fc = f->fc;
    pthread_mutex_lock(&fc->mu);
    f->deleted = true;
    if (f->pins == 0) {
        close_locked(fc, f);
    }
    pthread_mutex_unlock(&fc->mu);
}

bool bk_fdc_take_created(struct bk_fdc_file *f)
{
    pthread_mutex_lock(&f->fc->mu);
    bool c = f->created;
    f->created = false;
    pthread_mutex_unlock(&f->fc->mu);
    return c;
}

int bk_fdc_retire(struct bk_fdc_file *f)
{
    struct bk_fdcache *fc = f->fc;
    size_t len = strlen(f->path);
    char *np = bk_malloc(len + sizeof ".deleted");
    if (np == NULL) {
        return BK_ENOMEM;
    }
    memcpy(np, f->path, len);
    memcpy(np + len, ".deleted", sizeof ".deleted");
    pthread_mutex_lock(&fc->mu);
    int rv = fc->disk->rename(fc->disk, f->path, np);
    if (rv == 0 || rv == BK_ENOENT) {
        /* The syncer may still be formatting the old name: keep it until
         * the last reference goes. */
        bk_free(f->old_path);
        f->old_path = f->path;
        f->path = np;
        np = NULL;
        rv = 0;
    }
    f->deleted = true;
    if (f->pins == 0) {
        close_locked(fc, f);
    }
    pthread_mutex_unlock(&fc->mu);
    bk_free(np);
    return rv;
}
