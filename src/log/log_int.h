/* Internals shared by the log store's files; not for other subsystems. */
#ifndef BK_LOG_LOG_INT_H
#define BK_LOG_LOG_INT_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "common/disk.h"
#include "log/log.h"

/* A file known to the fd cache. Refcounted (refs, under the cache mutex):
 * the segment holds one reference, and every queued syncer item and read
 * range another, so a file outlives its segment while work on it is
 * pending. While pinned (pins > 0) its fd stays open; an open unpinned file
 * sits on the LRU list and may be closed at any time. */
struct bk_fdc_file {
    struct bk_fdcache *fc;
    char *path;     /* owned; changes (under the mutex) when retired */
    char *old_path; /* owned; the name before retirement */
    int fd;         /* -1 when closed */
    int pins;
    int refs;
    bool deleted;        /* unlinked or about to be: never reopened */
    bool created;        /* created by us: directory needs an fsync */
    uint64_t sync_round; /* syncer thread only: last round it was synced */
    int sync_status;     /* syncer thread only: result of that sync */
    /* syncer thread only: that failure came from fdatasync itself (the page
     * cache state is unknown: the log fails for good), not from opening
     * the file (nothing happened: a later sync retries). */
    bool sync_hard;
    struct bk_fdc_file *lru_prev, *lru_next;
};

/* Returns a new file handle with one reference, or NULL (BK_ENOMEM). */
struct bk_fdc_file *bk_fdc_file_new(struct bk_fdcache *fc, const char *path);
void bk_fdc_file_ref(struct bk_fdc_file *f);
void bk_fdc_file_unref(struct bk_fdc_file *f);
/* Opens the file if needed (creating it when create is set) and pins it;
 * returns the fd or a negative error. Pair with bk_fdc_unpin(). */
int bk_fdc_pin(struct bk_fdc_file *f, bool create);
void bk_fdc_unpin(struct bk_fdc_file *f);
/* Renames the file to <path>.deleted at once (so that a new segment may
 * reuse the name before the background unlink), marks it deleted and
 * closes its fd unless pinned. A missing file is not an error. */
int bk_fdc_retire(struct bk_fdc_file *f);
/* Marks the file deleted and closes its fd unless pinned. */
void bk_fdc_mark_deleted(struct bk_fdc_file *f);
/* Returns and clears f->created (under the mutex). */
bool bk_fdc_take_created(struct bk_fdc_file *f);
size_t bk_fdc_file_memory(const struct bk_fdc_file *f);

/* ---- syncer items ---- */

enum bk_sync_kind {
    BK_SYNC_FILES,   /* fdatasync files, then maybe a checkpoint */
    BK_SYNC_DELETE,  /* unlink files */
    BK_SYNC_BARRIER, /* wake a waiter once everything before is done */
    /* Unpin files that were replaced by a rename and close them here: the
     * last close of a big file frees its blocks, which takes milliseconds
     * that the shard thread must not spend. */
    BK_SYNC_RELEASE,
};

#define BK_SYNC_MAX_FILES 6

struct bk_sync_item {
    enum bk_sync_kind kind;
    struct bk_sync_item *next;
    struct bk_log *log;
    uint64_t gen; /* log truncation generation when queued */
    struct bk_fdc_file *files[BK_SYNC_MAX_FILES]; /* referenced */
    int nfiles;
    int64_t durable; /* FILES: offset durable after the sync; -1 none */
    /* FILES: optional checkpoint written after the sync (owned). */
    char *ckpt_dir;
    char *ckpt_path;
    char *ckpt_buf;
    size_t ckpt_len;
    bool ckpt_nosync; /* write and rename only (the soft checkpoint) */
    /* FILES: the log's lost-sync count the shard had caught up with when it
     * queued the item; the checkpoint is not written when the count has
     * moved since (a sync it relies on may not have happened). */
    uint64_t lost;
    /* BARRIER */
    bool done;
};

/* Queues an item (takes ownership). Thread-safe. */
void bk_syncer_push(struct bk_syncer *s, struct bk_sync_item *item);
/* Queues a request of bk_log_sync(). */
void bk_syncer_push_req(struct bk_syncer *s, struct bk_log_sync_req *req);
/* Queues a barrier and waits until the syncer has processed everything
 * queued before it (drives the syncer itself when it has no thread). */
void bk_syncer_barrier(struct bk_syncer *s);
void bk_sync_item_free(struct bk_sync_item *item);

/* Called by the syncer thread. */
void bk_log_syncer_durable(struct bk_log *log, uint64_t gen, int64_t offset);
void bk_log_syncer_failed(struct bk_log *log);
/* A sync of an item could not run for a transient reason (the file could
 * not be opened): the shard queues the syncs again (see log->lost). */
void bk_log_syncer_lost(struct bk_log *log);
/* Writing a checkpoint file failed; the older one stays in place. */
void bk_log_syncer_ckpt_failed(struct bk_log *log);
/* Whether a checkpoint queued with lost count `lost` may still be
 * written. */
bool bk_log_syncer_ckpt_ok(struct bk_log *log, uint64_t lost);

#endif /* BK_LOG_LOG_INT_H */
