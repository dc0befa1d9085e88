/* Internals shared by the log store's files; not for other subsystems:
 * the fd cache and syncer items (fdcache.c, syncer.c), the private state of
 * struct bk_log and its segments, and the functions the files of the log
 * call in one another:
 *   log.c         open, close, append, healing after write errors, tick
 *   segment.c     segment files, offset and time indexes, roll
 *   sync_queue.c  items queued on the syncer, checkpoints, durability
 *   epoch.c       leader-epoch cache
 *   read.c        reads and the offset-for-timestamp lookup
 *   retention.c   truncation, retention, log start offset
 *   recover.c     listing and crash recovery at open
 *   compact.c     the cleaner (log compaction) */
#ifndef BK_LOG_LOG_INT_H
#define BK_LOG_LOG_INT_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "common/disk.h"
#include "log/batch.h"
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

/* ---- the log ---- */

#define BK_LOG_PATH_MAX 4096
#define IDX_ENTRY       8
#define TIM_ENTRY       12
#define CKPT_NAME       "log-checkpoint"
#define EPOCH_NAME      "leader-epoch-checkpoint"
#define CLEAN_NAME      ".clean-shutdown"
#define SOFT_NAME       "log-checkpoint.soft"
#define CLEANER_NAME    "cleaner-checkpoint"
#define CLEANED_SUFFIX  ".cleaned"

enum seg_index_state {
    SEG_INDEX_UNCHECKED = 0, /* not looked at since open */
    SEG_INDEX_OK = 1,        /* counts and max_ts valid */
};

/* One segment. About 150 bytes plus three file handles. Index contents stay
 * on disk (read with pread when looked up), so an idle partition's memory
 * does not grow with its data. */
struct segment {
    int64_t base;
    int64_t size;         /* bytes of valid batches in the .log file */
    int64_t max_ts;       /* largest batch maxTimestamp; -1 none */
    int64_t created_ms;   /* wall ms of the first append (segment.ms) */
    int64_t since_index;  /* bytes appended since the last index entry */
    int64_t idx_entries;  /* entries in .index */
    int64_t tim_entries;  /* entries in .timeindex */
    int64_t last_idx_pos; /* position of the last .index entry; 0 none */
    int64_t last_tim_ts;  /* timestamp of the last .timeindex entry */
    int index_state;
    struct bk_fdc_file *log_f, *idx_f, *tim_f;
    /* Index entries not yet written (counted in idx_entries/tim_entries),
     * so that an append costs one pwrite, not three. Allocated for the
     * segment being appended to; flushed when full, before any index read,
     * and before a checkpoint. */
    struct idx_pending *pend;
};

#define PEND_MAX 32

struct idx_pending {
    int nidx, ntim;
    uint8_t idx[PEND_MAX * IDX_ENTRY];
    uint8_t tim[PEND_MAX * TIM_ENTRY];
};

struct epoch_entry {
    int32_t epoch;
    int64_t start;
};

struct bk_log {
    char *dir; /* owned */
    struct bk_log_config cfg;
    const struct bk_disk *disk;
    const struct bk_clock *clock;
    struct bk_fdcache *fc;
    struct bk_syncer *syncer;

    struct segment **segs; /* owned, oldest first */
    int nsegs, cap;

    int64_t log_start;
    int64_t leo;
    int64_t hw;
    int64_t rp;       /* recovery point last queued for checkpoint */
    int64_t rp_base;  /* base of the segment holding rp */
    int64_t rp_pos;   /* position of rp in that segment */
    int64_t rp_idx;   /* index entries of that segment at rp */
    int64_t rp_tim;   /* time index entries of that segment at rp */
    int64_t rp_bytes; /* bytes appended since the last soft checkpoint */
    /* Soft recovery point: like rp, but only written, never synced, so it
     * holds only if the machine did not reboot (boot id check). It bounds
     * the scan after kill -9 without forcing writeback on appends. */
    int64_t soft, soft_base, soft_pos, soft_idx, soft_tim;
    char boot_id[48];   /* this boot's id, "" if unknown */
    int64_t rp_ckpt_ms; /* mono ms of that checkpoint */
    int64_t unflushed;  /* batches since the last flush-policy sync */
    int64_t flush_ms;   /* mono ms of the last flush-policy sync */
    int64_t scanned;    /* bytes scanned by the last recovery */

    struct epoch_entry *epochs; /* owned */
    int nepochs, epochs_cap;

    /* Read hint: where the batch at hint_offset starts. */
    int64_t hint_offset, hint_base, hint_pos;

    /* Compaction (compact.c), both in cleaner-checkpoint. Below clean_end
     * (the first dirty offset) the log has been cleaned; it is written
     * after the cleaned files are in place. Below gap_end the log may have
     * offset gaps, which recovery accepts there and nowhere else; it is
     * written before the first cleaned file is in place. */
    int64_t clean_end;
    int64_t gap_end;
    int64_t clean_horizon;         /* earliest tombstone delete horizon below
                                    * clean_end; INT64_MAX when none */
    int64_t clean_check_ms;        /* mono ms of the last look at the ratio */
    struct bk_log_clean *cleaning; /* the job in flight, or NULL */

    /* Healing (see "Storage errors" in docs/storage.md). */
    struct bk_log_space *space; /* borrowed; NULL: no reserve */
    /* A write failed with a healable error and may have left bytes past
     * the active segment's size: the next append cuts the file back
     * first. */
    bool tail_dirty;
    /* The checkpoint on disk is the one a clean close wrote and nothing
     * has changed since the log was opened from it: closing cleanly again
     * has nothing to write or sync (shard thread only). */
    bool clean_on_disk;
    int write_err; /* last healable append error; 0 once one works again */
    /* Syncs the syncer could not run (bk_log_syncer_lost), and how many of
     * those the shard has redone (plain: shard thread only). */
    _Atomic uint64_t lost;
    uint64_t lost_seen;
    _Atomic uint64_t ckpt_failures; /* checkpoint files not written */

    _Atomic int64_t durable;
    _Atomic uint64_t gen;
    _Atomic int failed;
};

/* ---- log.c ---- */

/* Fails the log for good (logged once here); returns BK_EIO. */
int log_fail(struct bk_log *log, int rv);
/* A write could not be done: returns rv for a healable error, else fails
 * the log (see log.c). */
int log_write_failed(struct bk_log *log, int rv);

/* ---- segment.c ---- */

ssize_t file_pread(struct bk_log *log,
                   struct bk_fdc_file *f,
                   void *buf,
                   size_t len,
                   int64_t off);
int file_pwrite(struct bk_log *log,
                struct bk_fdc_file *f,
                const void *buf,
                size_t len,
                int64_t off);
int file_truncate(struct bk_log *log, struct bk_fdc_file *f, int64_t len);
/* The file's size on disk; 0 when missing, or a negative error. */
int64_t file_stat_size(struct bk_log *log, struct bk_fdc_file *f);
int seg_path(const struct bk_log *log,
             int64_t base,
             const char *ext,
             char *buf,
             size_t cap);
struct segment *seg_new(struct bk_log *log, int64_t base);
void seg_free(struct segment *s);
int64_t seg_end_offset(const struct bk_log *log, int i);
bool seg_is_active(const struct bk_log *log, const struct segment *s);
int segs_insert(struct bk_log *log, struct segment *s);
int seg_find(const struct bk_log *log, int64_t offset);
int read_hdr(struct bk_log *log,
             struct segment *s,
             int64_t pos,
             struct bk_batch_hdr *h);
int seg_index_flush(struct bk_log *log, struct segment *s);
int seg_index_append(struct bk_log *log,
                     struct segment *s,
                     int64_t offset,
                     int64_t pos,
                     int64_t max_ts);
int seg_final_time_entry(struct bk_log *log, struct segment *s);
void seg_note_batch(struct bk_log *log,
                    struct segment *s,
                    int64_t base,
                    int64_t pos,
                    int64_t size,
                    int64_t max_ts);
int seg_index_rebuild(struct bk_log *log, struct segment *s, bool sealed);
int seg_index_load(struct bk_log *log, struct segment *s);
int seg_index_lookup(struct bk_log *log,
                     struct segment *s,
                     int64_t offset,
                     int64_t *pos);
int seg_time_lookup(struct bk_log *log,
                    struct segment *s,
                    int64_t ts,
                    int64_t *offset);
int seg_index_keep(struct bk_log *log,
                   struct segment *s,
                   int64_t pos,
                   int64_t end_offset,
                   int64_t *keep_out,
                   int64_t *tkeep_out);
int seg_index_truncate(struct bk_log *log,
                       struct segment *s,
                       int64_t pos,
                       int64_t end_offset);
int seg_index_set_counts(struct bk_log *log,
                         struct segment *s,
                         int64_t nidx,
                         int64_t ntim,
                         int64_t pos);
int seg_roll(struct bk_log *log);

/* ---- sync_queue.c ---- */

struct bk_sync_item *ckpt_alloc(struct bk_log *log);
void ckpt_push(struct bk_log *log,
               struct bk_sync_item *it,
               struct segment *sync,
               bool clean);
int queue_checkpoint(struct bk_log *log, struct segment *sync, bool clean);
int queue_resync(struct bk_log *log);
/* Queues a durable write of a small file of the log's directory (temp,
 * fdatasync, rename, fsync of the directory) on the syncer. */
int queue_small_file(struct bk_log *log,
                     const char *name,
                     const char *buf,
                     size_t len);
/* Queues the unlink of files of the log's directory (names borrowed, at
 * most BK_SYNC_MAX_FILES). */
int queue_unlink_names(struct bk_log *log, const char *const *names, int n);
/* f is pinned by the caller: the syncer marks it deleted and unpins it,
 * so that the last close of a file replaced by a rename (which frees its
 * blocks) happens there. */
void queue_release_pinned(struct bk_log *log, struct bk_fdc_file *f);
/* Renames each file to *.deleted now and unlinks it on the syncer (the
 * handles stay owned by the caller). */
void queue_retire_files(struct bk_log *log, struct bk_fdc_file **f, int n);
int queue_soft_write(struct bk_log *log);
int queue_soft_checkpoint(struct bk_log *log);
int queue_epochs(struct bk_log *log);
int queue_sync(struct bk_log *log);
void queue_delete(struct bk_log *log, struct segment *s);

/* ---- epoch.c ---- */

int epochs_assign(struct bk_log *log, int32_t epoch, int64_t start);
void epochs_truncate_end(struct bk_log *log, int64_t leo);
void epochs_truncate_start(struct bk_log *log, int64_t start);

/* ---- recover.c ---- */

int log_recover(struct bk_log *log, bool clean, char *errmsg);

/* ---- compact.c ---- */

/* Reads cleaner-checkpoint into clean_end, clean_horizon and gap_end (log
 * start, none and 0 when missing or unreadable). */
void clean_ckpt_read(struct bk_log *log);
/* Lowers clean_end and gap_end to offset after a truncation (and cancels a
 * running job); queues the new checkpoint unless a job is running, whose
 * end writes it. */
void clean_truncated(struct bk_log *log, int64_t offset);
/* Called by bk_log_close: a running job is cancelled and forgotten (its
 * owner discards it). */
void clean_detach(struct bk_log *log);

#endif /* BK_LOG_LOG_INT_H */
