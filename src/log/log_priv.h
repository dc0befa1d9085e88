/* Private state of struct bk_log, shared by log.c and recover.c. */
#ifndef BK_LOG_LOG_PRIV_H
#define BK_LOG_LOG_PRIV_H

#include <stdatomic.h>
#include <sys/types.h>

#include "log/batch.h"
#include "log/log_int.h"

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

int seg_path(const struct bk_log *log,
             int64_t base,
             const char *ext,
             char *buf,
             size_t cap);
struct segment *seg_new(struct bk_log *log, int64_t base);
void seg_free(struct segment *s);
int64_t seg_end_offset(const struct bk_log *log, int i);
int segs_insert(struct bk_log *log, struct segment *s);
int seg_find(const struct bk_log *log, int64_t offset);
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
int seg_index_load(struct bk_log *log, struct segment *s);
int seg_index_set_counts(struct bk_log *log,
                         struct segment *s,
                         int64_t nidx,
                         int64_t ntim,
                         int64_t pos);
int seg_final_time_entry(struct bk_log *log, struct segment *s);
int seg_index_flush(struct bk_log *log, struct segment *s);
int seg_index_append(struct bk_log *log,
                     struct segment *s,
                     int64_t offset,
                     int64_t pos,
                     int64_t max_ts);
int seg_index_truncate(struct bk_log *log,
                       struct segment *s,
                       int64_t pos,
                       int64_t end_offset);
int seg_index_rebuild(struct bk_log *log, struct segment *s, bool sealed);
bool seg_is_active(const struct bk_log *log, const struct segment *s);
int read_hdr(struct bk_log *log,
             struct segment *s,
             int64_t pos,
             struct bk_batch_hdr *h);
int queue_checkpoint(struct bk_log *log, struct segment *sync, bool clean);
int queue_soft_write(struct bk_log *log);
int queue_sync(struct bk_log *log);
void seg_note_batch(struct bk_log *log,
                    struct segment *s,
                    int64_t base,
                    int64_t pos,
                    int64_t size,
                    int64_t max_ts);
int seg_index_lookup(struct bk_log *log,
                     struct segment *s,
                     int64_t offset,
                     int64_t *pos);
int queue_epochs(struct bk_log *log);
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
void queue_delete(struct bk_log *log, struct segment *s);
int log_recover(struct bk_log *log, bool clean, char *errmsg);
/* compact.c: reads cleaner-checkpoint into clean_end, clean_horizon and
 * gap_end (log start, none and 0 when missing or unreadable). */
void clean_ckpt_read(struct bk_log *log);
/* compact.c: lowers clean_end and gap_end to offset after a truncation
 * (and cancels a running job); queues the new checkpoint unless a job is
 * running, whose end writes it. */
void clean_truncated(struct bk_log *log, int64_t offset);
/* compact.c: called by bk_log_close: a running job is cancelled and
 * forgotten (its owner discards it). */
void clean_detach(struct bk_log *log);
void epochs_truncate_end(struct bk_log *log, int64_t leo);

#endif /* BK_LOG_LOG_PRIV_H */
