/* The partition log store: a segmented, append-only log of Kafka record
 * batches (magic 2) per partition, with sparse offset and time indexes,
 * recovery, retention and grouped fsync. No network dependency.
 *
 * Threading. A struct bk_log is owned by exactly one shard thread: every
 * bk_log_* call on it must come from that thread, and the log takes no lock
 * of its own. Two objects are shared by all shards and are thread-safe:
 *   - struct bk_fdcache, a bounded cache of open segment and index files, so
 *     that 100,000 partitions do not keep 300,000 files open;
 *   - struct bk_syncer, a background thread that runs every fdatasync,
 *     checkpoint write and file deletion, so that no shard thread blocks on
 *     the disk for anything but pwrite/pread.
 *
 * Durability. An append returns once the batch is in the page cache. To
 * make it durable (acks=all), call bk_log_sync(): the syncer groups the
 * requests of all partitions that arrive while it is busy, fdatasyncs each
 * dirty file once per round, then calls each request's callback ON THE
 * SYNCER THREAD. The caller typically records the result and wakes its own
 * loop with uv_async_send(); it must not touch the log from the callback.
 * On top of that, flush.messages / flush.ms (Kafka's names) queue
 * background syncs with no callback. See docs/storage.md.
 *
 * Reads. bk_log_read() returns whole batches as file ranges {fd, offset,
 * length} that the network layer can sendfile(2) from; the fds stay pinned
 * in the fd cache until bk_log_read_release(). bk_log_read_copy() copies
 * the same bytes into a caller buffer (the TLS path).
 *
 * Errors are negative BK_E* codes (common/err.h). Kafka error mapping, for
 * the handlers: BK_ERANGE -> OFFSET_OUT_OF_RANGE, BK_EPROTO/BK_ECORRUPT ->
 * CORRUPT_MESSAGE, BK_ETOOLARGE -> MESSAGE_TOO_LARGE (or
 * RECORD_LIST_TOO_LARGE), BK_EIO -> KAFKA_STORAGE_ERROR; and the healable
 * storage errors of an append (bk_err_transient: BK_EMFILE, BK_ENFILE,
 * BK_ENOMEM, BK_EAGAIN; bk_err_nospace: BK_ENOSPC, BK_EDQUOT) ->
 * KAFKA_STORAGE_ERROR too, which clients retry. */
#ifndef BK_LOG_LOG_H
#define BK_LOG_LOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/clock.h"
#include "common/disk.h"

struct bk_log;
struct bk_fdcache;
struct bk_syncer;
struct bk_hist;
struct bk_fdc_file;

/* Per-topic configuration, in Kafka's names and units. */
struct bk_log_config {
    int64_t segment_bytes;        /* segment.bytes (default 1 GiB) */
    int64_t segment_ms;           /* segment.ms (default 7 days) */
    int64_t index_interval_bytes; /* index.interval.bytes (4096) */
    int64_t retention_ms;         /* retention.ms (7 days; -1 = none) */
    int64_t retention_bytes;      /* retention.bytes (-1 = none) */
    int64_t flush_messages;       /* flush.messages (INT64_MAX = off) */
    int64_t flush_ms;             /* flush.ms (INT64_MAX = off) */
    int64_t max_message_bytes;    /* max.message.bytes (1 MiB + 12) */
    /* Bytes appended between two soft recovery points (written, not
     * synced; they bound the scan after kill -9 as long as the machine did
     * not reboot). The durable recovery point moves at each roll, every
     * 60 s and at a clean close. brokerd's own setting. */
    int64_t recovery_checkpoint_bytes; /* default 64 MiB */
    bool log_append_time; /* message.timestamp.type=LogAppendTime */
    /* cleanup.policy: "delete" turns on retention by retention.ms and
     * retention.bytes, "compact" the cleaner (compact.c); both may be set.
     * Segments wholly below the log start are removed either way. */
    bool cleanup_delete;  /* default true */
    bool cleanup_compact; /* default false */
    /* Compaction settings, Kafka's names and defaults. */
    int64_t delete_retention_ms;      /* delete.retention.ms (1 day) */
    int64_t min_compaction_lag_ms;    /* min.compaction.lag.ms (0) */
    int64_t max_compaction_lag_ms;    /* max.compaction.lag.ms (INT64_MAX) */
    double min_cleanable_dirty_ratio; /* min.cleanable.dirty.ratio (0.5) */
    /* How long the cleaner keeps the last (possibly emptied) batch of an
     * idempotent producer, so that its sequence survives a restart:
     * Kafka's producer.id.expiration.ms (1 day). */
    int64_t producer_id_expiration_ms;
    /* Broker-wide cleaner settings (log.cleaner.*), copied per log. */
    bool cleaner_enable;        /* log.cleaner.enable (true) */
    int64_t cleaner_backoff_ms; /* log.cleaner.backoff.ms (15 s) */
    /* Memory of one job's key map (log.cleaner.dedupe.buffer.size,
     * 128 MiB); a dirty section with more distinct keys than fit is
     * cleaned in several rounds, one whole segment at least per round. */
    int64_t cleaner_map_bytes;
    /* Any failed write fails the log for good, as before healing existed
     * (default false): for a log whose owner keeps state in memory ahead
     * of it (the group coordinator's __consumer_offsets partitions). */
    bool write_errors_fatal;
};

/* Fills c with Kafka's defaults. */
void bk_log_config_default(struct bk_log_config *c);

/* ---- fd cache (thread-safe, shared by all logs) ---- */

/* Creates a cache that keeps at most max_open files open (files pinned by
 * an operation in progress or by a read range may exceed it briefly).
 * disk is borrowed and must outlive the cache. Returns 0 or BK_ENOMEM. */
int bk_fdcache_new(const struct bk_disk *disk,
                   int max_open,
                   struct bk_fdcache **out);
/* Closes every file; all logs using the cache must be closed first. */
void bk_fdcache_free(struct bk_fdcache *fc);
/* Number of files currently open (for tests and metrics). */
int bk_fdcache_open_count(struct bk_fdcache *fc);

/* ---- syncer (thread-safe, shared by all logs) ---- */

/* Starts a syncer with its own thread. With threaded == false no thread is
 * started and the owner drives it with bk_syncer_run_once() (deterministic
 * tests). disk is borrowed. Returns 0, BK_ENOMEM or a pthread error. */
int bk_syncer_start(const struct bk_disk *disk,
                    struct bk_fdcache *fc,
                    bool threaded,
                    struct bk_syncer **out);
/* Runs one round: takes every queued item, fdatasyncs each file once, writes
 * checkpoints, deletes files, then calls the completions. Returns the number
 * of items processed. Only for a syncer started with threaded == false. */
int bk_syncer_run_once(struct bk_syncer *s);
/* Processes what is queued, stops the thread and frees the syncer. All
 * logs must be closed first. */
void bk_syncer_stop(struct bk_syncer *s);

/* Queues a barrier and waits until the syncer has processed everything
 * queued before it (drives the syncer itself when it has no thread). */
void bk_syncer_barrier(struct bk_syncer *s);
/* Number of fdatasync calls made so far (tests, metrics). */
uint64_t bk_syncer_fsync_count(struct bk_syncer *s);

/* For /metrics, any thread (borrowed, valid until bk_syncer_stop): the
 * time of each fdatasync in microseconds, and how many sync requests
 * (acks=all appends and flushes) each round of fdatasyncs covered. */
const struct bk_hist *bk_syncer_fsync_hist(const struct bk_syncer *s);
const struct bk_hist *bk_syncer_batch_hist(const struct bk_syncer *s);

/* The bytes of valid batches in the log's segments (owning thread). */
int64_t bk_log_size_bytes(const struct bk_log *log);

/* ---- free space reserve (thread-safe, shared by the logs of a root) ---- */

struct bk_log_space;

/* Creates the reserve of the file system holding root: leader appends to
 * the logs that use it (bk_log_set_space) are refused with BK_ENOSPC while
 * fewer than min_free bytes are free (log.dir.min.free.bytes; 0 turns the
 * check off). The free figure is cached (see space.c). root is copied;
 * disk and clock are borrowed. Returns 0 or BK_ENOMEM. */
int bk_log_space_new(const struct bk_disk *disk,
                     const struct bk_clock *clock,
                     const char *root,
                     int64_t min_free,
                     struct bk_log_space **out);
void bk_log_space_free(struct bk_log_space *sp);
/* Whether free space is below the reserve, for an append of `bytes`
 * (refreshes the cached figure when due). sp may be NULL (never low). */
bool bk_log_space_low(struct bk_log_space *sp, int64_t bytes);
/* The free bytes last seen (INT64_MAX before the first look). */
int64_t bk_log_space_free_bytes(struct bk_log_space *sp);

/* ---- clean shutdown marker (one per log directory root) ---- */

/* At broker start: *was_clean tells whether the previous run closed every
 * log cleanly, then the marker is removed durably, so a crash from now on
 * is seen as unclean. Pass *was_clean to each bk_log_open(). */
int bk_log_root_begin(const struct bk_disk *disk,
                      const char *root,
                      bool *was_clean);
/* After every log under root was closed with clean == true. */
int bk_log_root_end(const struct bk_disk *disk, const char *root);

/* ---- one partition ---- */

/* Opens (creating if needed) the log in directory dir, e.g.
 * "<root>/<topic>-<partition>". With clean == true (from bk_log_root_begin)
 * and a clean checkpoint, no data is read: segments are listed and sized
 * only. Otherwise the part after the last recovery point is scanned, every
 * batch validated (CRC included), a torn or corrupt tail truncated, and the
 * indexes of the scanned part rebuilt; damaged indexes elsewhere are rebuilt
 * when first used. dir and config are copied; disk, clock, fc and syncer
 * are borrowed and must outlive the log. Returns 0, or BK_EIO/BK_ENOMEM/
 * BK_ECORRUPT with a message in *errmsg when non-NULL. */
int bk_log_open(const char *dir,
                const struct bk_log_config *config,
                const struct bk_disk *disk,
                const struct bk_clock *clock,
                struct bk_fdcache *fc,
                struct bk_syncer *syncer,
                bool clean,
                struct bk_log **out,
                char *errmsg);

/* With clean == true: syncs everything, writes the checkpoints (recovery
 * point = log end) and the final index entries, waiting for the syncer
 * (the one blocking call, for shutdown). With clean == false: waits only
 * for the log's queued syncer items, writes nothing (used by tests to
 * simulate kill -9). Frees the log. Pending bk_log_sync requests complete
 * before it returns. */
int bk_log_close(struct bk_log *log, bool clean);

/* bk_log_close in two steps, so that closing many logs waits for the
 * syncer once (a barrier per log made a clean shutdown of 10,000
 * partitions take over 10 s): begin queues what clean needs; the caller
 * then calls bk_syncer_barrier once for all of them, and end frees the
 * log (returns BK_EIO if it failed). Nothing may use the log after
 * begin. */
int bk_log_close_begin(struct bk_log *log, bool clean);
int bk_log_close_end(struct bk_log *log);

/* Replaces the configuration (a dynamic topic config change). */
void bk_log_set_config(struct bk_log *log, const struct bk_log_config *c);

/* Makes leader appends honour the free space reserve sp (borrowed; it
 * must outlive the log; NULL: none). Followers and logs without one
 * (__consumer_offsets) write into the reserve. */
void bk_log_set_space(struct bk_log *log, struct bk_log_space *sp);

enum bk_log_append_mode {
    /* Leader append: the log assigns the base offset (its end offset) and
     * the partition leader epoch; timestamps per the topic's type. */
    BK_LOG_APPEND_LEADER = 0,
    /* Follower (replication) append: the batch keeps its own base offset,
     * which must not be below the log end offset (above it is a gap the
     * leader's cleaner left), and its own leader epoch. */
    BK_LOG_APPEND_FOLLOWER = 1,
};

struct bk_log_append_result {
    int64_t base_offset;
    int64_t last_offset;
    int64_t log_append_time; /* -1 unless LogAppendTime */
};

/* Appends one record batch of len bytes (exactly one batch, as Kafka
 * requires for magic 2). The batch is validated (bk_batch_validate with
 * BK_BATCH_CHECK_PRODUCE for a leader). It is MODIFIED IN PLACE in the
 * caller's buffer: base offset and partition leader epoch, and for
 * LogAppendTime topics the attributes bit, maxTimestamp and CRC. The bytes
 * are copied into the page cache with one pwrite before returning; buf
 * stays owned by the caller. May roll a segment and queue background work.
 * Never fsyncs.
 * Errors: BK_EPROTO/BK_ECORRUPT/BK_EUNSUPPORTED (invalid batch; nothing
 * written), BK_ETOOLARGE (over max.message.bytes or segment.bytes),
 * BK_EINVAL (follower base offset < end offset, or an epoch lower than
 * the latest), BK_ENOSPC (below the free space reserve; nothing written),
 * a healable storage error (bk_err_transient or bk_err_nospace: nothing
 * lasting was written, the next append tries again, after cutting back
 * any partial write), BK_EIO (any other disk error; the log is then
 * failed and refuses appends). */
int bk_log_append(struct bk_log *log,
                  uint8_t *buf,
                  size_t len,
                  int32_t leader_epoch,
                  enum bk_log_append_mode mode,
                  struct bk_log_append_result *result);

struct bk_log_sync_req;
typedef void (*bk_log_sync_cb)(struct bk_log_sync_req *req, int status);

/* A sync request, caller-owned (embed it in the produce request). Only
 * `data` is for the caller; the rest is private. */
struct bk_log_sync_req {
    void *data;
    /* private */
    bk_log_sync_cb cb;
    struct bk_log *log;
    int64_t offset;
    uint64_t gen;
    struct bk_fdc_file *file;
    struct bk_log_sync_req *next;
};

/* Asks that every batch below end_offset be made durable. Always queues:
 * cb runs exactly once, on the syncer thread, after an fdatasync that
 * covers end_offset (status 0) or after a failure (BK_EIO; the log is then
 * failed). Check bk_log_durable_offset() first to skip the round trip. The
 * request must stay valid until cb runs. Returns 0 or BK_EIO if the log
 * has failed (then cb is not called). */
int bk_log_sync(struct bk_log *log,
                int64_t end_offset,
                struct bk_log_sync_req *req,
                bk_log_sync_cb cb);

/* Next offset known to be on stable storage (atomic; any thread). */
int64_t bk_log_durable_offset(const struct bk_log *log);

/* An fdatasync failed, or a write with an error that is not healable: the
 * log refuses appends from now on (atomic; any thread). */
bool bk_log_failed(const struct bk_log *log);

/* Periodic housekeeping from the owning shard (every ~100 ms or so):
 * flush.ms, segment.ms roll of an idle segment, the recovery point
 * checkpoint, and retention (with cleanup.policy delete: by retention.ms
 * and retention.bytes, whole segments, never the active one, deleted on the
 * syncer thread). It also queues again the syncs that the syncer could not
 * run (a file it could not open). It does not run the cleaner: the owner
 * starts cleaning jobs with bk_log_clean_begin(). Returns 0 or BK_EIO (the
 * log has failed). */
int bk_log_tick(struct bk_log *log);
/* Just the retention part of bk_log_tick; returns the number of segments
 * removed from the log. */
int bk_log_retention(struct bk_log *log);

#define BK_LOG_MAX_RANGES 8

/* A file range to send. fd is valid until bk_log_read_release(). */
struct bk_log_range {
    int fd;
    int64_t file_offset;
    int64_t length;
    struct bk_fdc_file *file; /* private: pinned */
};

struct bk_log_read_result {
    struct bk_log_range ranges[BK_LOG_MAX_RANGES];
    int count;
    int64_t bytes;         /* sum of the lengths */
    int64_t next_offset;   /* offset after the last batch returned */
    struct bk_fdcache *fc; /* private */
};

/* Reads whole batches starting with the one that contains `offset`, up to
 * max_bytes in all but always at least one whole batch (KIP-74), and only
 * batches that end below `upto` (pass the high watermark for consumers, or
 * INT64_MAX for the log end). Fills *res; count == 0 means nothing to read
 * (offset == end or upto). The fds stay pinned until bk_log_read_release()
 * (call it after sendfile; a retention deletion meanwhile unlinks the file
 * but the fd stays readable; a truncation meanwhile may make sendfile come
 * up short, which the caller treats as the end of data).
 * Errors: BK_ERANGE (offset below the log start or above the end), BK_EIO. */
int bk_log_read(struct bk_log *log,
                int64_t offset,
                int64_t max_bytes,
                int64_t upto,
                struct bk_log_read_result *res);
/* Like bk_log_read(), but offset may lie below the log start, down to the
 * first batch still on disk (an offset below that starts there): after
 * DeleteRecords the batches below the new start stay until their whole
 * segment goes, and ListOffsets -3 still answers from them as Kafka's
 * UnifiedLog does. Consumers must use bk_log_read(). Errors: BK_ERANGE
 * (offset above the end), BK_EIO. */
int bk_log_read_retained(struct bk_log *log,
                         int64_t offset,
                         int64_t max_bytes,
                         int64_t upto,
                         struct bk_log_read_result *res);
/* Unpins the ranges' files; res may be reused. Safe from any thread. */
void bk_log_read_release(struct bk_log_read_result *res);

/* Same selection as bk_log_read(), copied into buf (cap bytes; at least
 * one batch must fit, else BK_ETOOLARGE with *len the size needed).
 * Returns 0 with *len bytes written and *next_offset. */
int bk_log_read_copy(struct bk_log *log,
                     int64_t offset,
                     int64_t max_bytes,
                     int64_t upto,
                     void *buf,
                     size_t cap,
                     size_t *len,
                     int64_t *next_offset);

/* ListOffsets by timestamp: the offset of the first record whose timestamp
 * is >= ts (the batch's base offset for a compressed batch), and that
 * record's timestamp (the batch maxTimestamp for a compressed batch). Returns
 * 0, or BK_ENOTFOUND when no batch has a timestamp >= ts. */
int bk_log_offset_for_time(struct bk_log *log,
                           int64_t ts,
                           int64_t *offset,
                           int64_t *timestamp);

/* The directory the log was opened on (borrowed, lives as the log). */
const char *bk_log_dir(const struct bk_log *log);
int64_t bk_log_start_offset(const struct bk_log *log);
/* Log end offset: the offset the next append gets. */
int64_t bk_log_end_offset(const struct bk_log *log);
/* High watermark, owned by the replication layer; the log only clamps it to
 * [log start, log end] and persists nothing. */
int64_t bk_log_hw(const struct bk_log *log);
void bk_log_set_hw(struct bk_log *log, int64_t hw);

/* Removes every batch with an offset >= offset; a batch straddling it goes
 * entirely (so the new end offset may be lower than offset). Later
 * segments are deleted, the leader-epoch cache is truncated too. Returns 0,
 * BK_ERANGE when offset < log start, BK_EAGAIN (the lowered recovery point
 * could not be written: nothing was cut, try again), a healable error, or
 * BK_EIO. */
int bk_log_truncate(struct bk_log *log, int64_t offset);

/* DeleteRecords: moves the log start offset up to `offset` (which must be
 * <= the high watermark: BK_ERANGE otherwise); segments wholly below it
 * are deleted in the background and the new start is checkpointed. */
int bk_log_advance_start(struct bk_log *log, int64_t offset);

/* A follower whose whole log lies below the leader's log start (it was
 * away while retention removed what it lacks) starts again, empty, at
 * `offset`, as Kafka's truncateFullyAndStartAt: a new active segment at
 * `offset`, the start and high watermark moved there, the leader-epoch
 * cache emptied, the old segments deleted in the background. `offset` is
 * past the log end, or, on an empty log (start == end), below it: the
 * leader's first batch may begin before its log start. Returns 0,
 * BK_ERANGE (any other offset), BK_EAGAIN (a cleaning job holds the
 * segments: try again), BK_EIO (failed log), or the roll's error (nothing
 * changed). */
int bk_log_restart_at(struct bk_log *log, int64_t offset);

/* ---- compaction (cleanup.policy=compact; compact.c) ----
 *
 * The cleaner keeps, per key, only the latest record of the cleanable part
 * of the log: the sealed segments from the log start up to the first one
 * that is active, not yet below the high watermark and the recovery point,
 * or younger than min.compaction.lag.ms. Offsets never change: a batch
 * keeps its base offset, producer id/epoch and base sequence; a batch whose
 * records were all removed disappears (the log then has offset gaps),
 * except the last batch of a live idempotent producer, which stays as an
 * empty batch so that its sequence survives a restart. A tombstone (null
 * value) stays for delete.retention.ms after its batch was first cleaned
 * (Kafka's delete horizon, KIP-534: stored in the batch). A segment left
 * empty is deleted, except the first one (it holds the log start).
 *
 * A job has three steps so that the heavy part runs off the shard thread:
 * bk_log_clean_begin() (owning thread: decides, snapshots the segments),
 * bk_log_clean_run() (any thread: reads, writes <base>.*.cleaned files,
 * syncs them), bk_log_clean_end() (owning thread: swaps the files in with
 * rename, or throws them away when the log changed meanwhile). Readers
 * keep using the old files through the fds they have pinned. See
 * docs/storage.md for the crash windows. */

struct bk_log_clean;

struct bk_log_clean_stats {
    int segments;         /* segments rewritten */
    int segments_deleted; /* segments left empty and deleted */
    int64_t bytes_before; /* of the rewritten segments */
    int64_t bytes_after;
    int64_t bytes_read; /* everything the job read, map pass included */
    int64_t records_kept;
    int64_t records_removed; /* superseded, keyless or expired tombstones */
    int64_t tombstones_removed;
    int64_t batches_removed;
    int64_t map_keys;  /* distinct keys of the dirty part */
    int64_t clean_end; /* first dirty offset after the job */
};

/* Owning thread. Decides whether the log needs cleaning now: the policy has
 * compact, log.cleaner.backoff.ms passed since the last look, and the dirty
 * part's share of the cleanable bytes is at least
 * min.cleanable.dirty.ratio, or a dirty segment is older than
 * max.compaction.lag.ms, or a tombstone's delete horizon passed. With
 * force, any cleanable segment will do. On success *out is a job (owned by
 * the caller until bk_log_clean_end/discard), or NULL when there is
 * nothing to do. While a job exists no other starts, and retention defers
 * segment deletion. Returns 0 or BK_ENOMEM/BK_EIO. */
int bk_log_clean_begin(struct bk_log *log,
                       bool force,
                       struct bk_log_clean **out);

/* Any thread, blocking: builds the key map, writes the cleaned segments to
 * <base>.log.cleaned (and .index.cleaned, .timeindex.cleaned), syncs them,
 * waits for the syncer's queue, and writes the cleaner checkpoint. Touches
 * no state of the log itself (only its files, through their references),
 * so the log may go on appending meanwhile. */
void bk_log_clean_run(struct bk_log_clean *job);

/* Owning thread, after run. Swaps the cleaned files in (rename over the
 * old names; readers holding ranges keep the old files), or discards them
 * when the job failed or was cancelled or the log was truncated meanwhile.
 * Frees the job. Fills *stats when non-NULL. Returns 0 (swapped), the run's
 * error, BK_ECANCELED (discarded) or BK_EIO. */
int bk_log_clean_end(struct bk_log *log,
                     struct bk_log_clean *job,
                     struct bk_log_clean_stats *stats);

/* Any thread: asks a running job to stop early (it then ends with
 * BK_ECANCELED). */
void bk_log_clean_cancel(struct bk_log_clean *job);

/* Frees a job whose log was closed meanwhile (instead of
 * bk_log_clean_end): removes its .cleaned files. */
void bk_log_clean_discard(struct bk_log_clean *job);

/* begin + run + end on the calling thread (tests, tools). Returns 0 with
 * stats->segments == 0 when there was nothing to do. */
int bk_log_clean(struct bk_log *log,
                 bool force,
                 struct bk_log_clean_stats *stats);

/* The first dirty offset: below it the log has been cleaned. */
int64_t bk_log_clean_offset(const struct bk_log *log);

/* ---- leader epoch cache (checkpointed to leader-epoch-checkpoint) ---- */

/* Latest epoch, or -1 when the cache is empty. */
int32_t bk_log_latest_epoch(const struct bk_log *log);
/* A new leader starts its epoch at the log end (KIP-101, KIP-279): records
 * (epoch, log end) before any batch of that epoch is written, so
 * OffsetsForLeaderEpoch answers for it at once and a later append at that
 * epoch adds nothing. Idempotent when epoch is already the latest. Returns
 * 0, BK_EINVAL when epoch is negative or older than the latest (a stale
 * leader), BK_ENOMEM, or BK_EIO (the log has failed). */
int bk_log_assign_epoch(struct bk_log *log, int32_t epoch);
/* OffsetsForLeaderEpoch: the largest cached epoch <= epoch and its end
 * offset (the start of the next epoch, or the log end for the latest).
 * Returns BK_ENOTFOUND (answer -1/-1) when epoch is below all entries. */
/* Where the oldest epoch of the leader-epoch cache starts, or -1 when the
 * cache is empty. */
int64_t bk_log_epoch_first_start(const struct bk_log *log);

int bk_log_epoch_end_offset(const struct bk_log *log,
                            int32_t epoch,
                            int32_t *found_epoch,
                            int64_t *end_offset);

/* ---- introspection (tests, metrics) ---- */

int bk_log_segment_count(const struct bk_log *log);
/* Base offset of segment i (0 = oldest). */
int64_t bk_log_segment_base(const struct bk_log *log, int i);
/* Bytes of heap the log holds (struct, segments, epoch cache, file
 * handles), for the idle-partition memory figure. */
size_t bk_log_memory(const struct bk_log *log);
/* The recovery point last checkpointed. */
int64_t bk_log_recovery_point(const struct bk_log *log);
/* Bytes scanned by recovery at the last open (0 after a clean open). */
int64_t bk_log_recovery_scanned(const struct bk_log *log);

#endif /* BK_LOG_LOG_H */
