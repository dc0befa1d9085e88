/* Partitions as the data path sees them: the open log, the idempotent
 * producer state and the fetches waiting for data, one struct per
 * partition, owned by the shard that bk_shard_for_partition() names.
 *
 * Each shard has a bk_part_table, owned by its replica manager
 * (manager.h), which opens the partitions assigned to the shard from the
 * metadata image (topic id, name, configs), in the background. Nothing here is
 * thread-safe: every call comes from the owning shard's thread. The bk_storage
 * context is shared by all shards and immutable after start (its fd cache and
 * syncer are thread-safe themselves). */
#ifndef BK_PARTITION_PARTITION_H
#define BK_PARTITION_PARTITION_H

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "cluster/image.h"
#include "cluster/topic_config.h"
#include "common/clock.h"
#include "common/disk.h"
#include "common/hash.h"
#include "common/owner.h"
#include "log/batch.h"
#include "log/log.h"
#include "partition/producer_state.h"

/* Shared storage context: one per broker, filled at start-up. */
struct bk_storage {
    char root[4096]; /* log.dirs */
    const struct bk_disk *disk;
    const struct bk_clock *clock;
    struct bk_fdcache *fc;    /* owned by the server */
    struct bk_syncer *syncer; /* owned by the server */
    /* log.dir.min.free.bytes, owned by the server; NULL: no reserve. */
    struct bk_log_space *space;
    bool was_clean; /* previous shutdown was clean */
    int32_t node_id;
    /* replica.lag.time.max.ms: a follower that has not caught up for this
     * long leaves the ISR. 0: Kafka's 30000. */
    int64_t replica_lag_time_max_ms;
    /* log.cleaner.* (compaction of cleanup.policy=compact topics). */
    bool cleaner_enable;
    int64_t cleaner_backoff_ms;
    int64_t cleaner_map_bytes;
    /* What a topic that sets none of its configs gets (the broker's
     * log.retention.hours, ... resolved by cluster/topic_config.h); owned
     * by the server. NULL: Kafka's defaults. */
    const struct bk_topic_settings *topic_defaults;
    /* The static broker settings by name (server/config.h's
     * bk_config_lookup over its data, read-only and shared by the shards),
     * overlaid with the dynamic broker configs of each metadata image to
     * give the live topic defaults. NULL: topic_defaults only. */
    bk_topic_broker_lookup_cb broker_lookup;
    void *broker_lookup_data;
};

/* A fetch parked on a partition until data arrives (long polling). */
struct bk_part_waiter {
    struct bk_part_waiter *next;
    void (*wake)(struct bk_part_waiter *w); /* on the owning shard */
    void *data;
};

/* What this node is for a partition at its leader epoch (replica_role.c).
 * A partition opens as leader: with one node every replica leads. */
enum bk_replica_role {
    BK_REPLICA_LEADER = 0,
    BK_REPLICA_FOLLOWER = 1,
};

/* What a leader knows of one other replica of its partition (Kafka's
 * ReplicaState, replication-notes.md section 1), from that replica's
 * fetches. Reset when this node becomes leader at a new epoch. */
struct bk_replica_peer {
    int32_t id;
    int64_t broker_epoch; /* Fetch v15 ReplicaEpoch; -1 unknown */
    int64_t log_end;      /* its fetch offset; -1 until it fetches */
    int64_t log_start;
    int64_t last_fetch_ms;
    int64_t last_fetch_leader_end; /* this log's end at that fetch */
    int64_t last_caught_up_ms;
};

/* An acks=all append waiting for the high watermark to pass it
 * (replica_isr.c). */
struct bk_replica_hw_wait {
    struct bk_replica_hw_wait *next;
    int64_t offset;      /* done once the high watermark reaches it */
    int64_t deadline_ms; /* then REQUEST_TIMED_OUT */
    void (*done)(struct bk_replica_hw_wait *w, int16_t error);
    void *data;
};

/* The producer-state snapshot, in the partition's directory. */
#define BK_PART_SNAPSHOT_FILE "producer.snapshot"

struct bk_part_table;

struct bk_partition {
    struct bk_partition *hnext;  /* table chain */
    struct bk_part_table *table; /* borrowed: the table it lives in */
    struct bk_owner owner;       /* the shard thread that opened it */
    struct bk_uuid topic_id;
    char *topic; /* owned */
    int32_t index;
    struct bk_log *log;
    const struct bk_disk *disk; /* borrowed from the storage context */
    struct bk_pstate pstate;
    int32_t leader_epoch;
    enum bk_replica_role role;
    int32_t leader_id; /* follower: the leader's node id */
    int64_t leader_hw; /* follower: the high watermark the leader sent */
    struct bk_part_waiter *waiters;
    int64_t bytes_since_snapshot;
    /* The log end offset the producer snapshot on disk covers; -1: no
     * snapshot. */
    int64_t snap_offset;
    bool snapshot_running; /* a threadpool write is in flight */
    int64_t max_message_bytes;
    int64_t timestamp_before_ms; /* message.timestamp.before.max.ms */
    int64_t timestamp_after_ms;  /* message.timestamp.after.max.ms */
    bool log_append_time;
    bool compacted;     /* cleanup.policy has compact: keys required */
    int8_t compression; /* compression.type: -1 = producer */
    /* The cleaning job of this partition's log on the threadpool, or
     * NULL. */
    struct bk_log_clean *clean_job;
    /* Result of the last housekeeping tick: a change is logged, a
     * repeat is not (a failed log would otherwise log every 100 ms). */
    int tick_err;
    /* The last follower append error logged (replication/fetcher.c): the
     * fetcher retries every 100 ms, and only a change is logged. */
    int16_t follow_err;
    /* Replication (replica_isr.c). partition_epoch is -1 until the
     * metadata gave an assignment: such a replica is alone, as every
     * partition of a one-node broker. */
    int32_t partition_epoch;
    int32_t min_isr;               /* min.insync.replicas */
    struct bk_replica_peer *peers; /* owned: the other replicas */
    int32_t n_peers;
    int32_t *isr; /* owned: the committed ISR */
    int32_t n_isr;
    /* An AlterPartition in flight (one at a time): the ISR it proposes
     * (owned) and when it was sent. */
    bool isr_inflight;
    int32_t *want_isr;
    int32_t n_want_isr;
    int64_t isr_sent_ms;
    int32_t peers_epoch; /* leader epoch the peers were reset at */
    /* KIP-704: led after an unclean election, until the controller
     * records this leader's AlterPartition saying it recovered. */
    bool recovering;
    int64_t epoch_start_offset; /* this log's end when it became leader */
    struct bk_replica_hw_wait *hw_waits;
};

struct bk_part_table {
    struct bk_owner owner;       /* the shard thread of bk_part_table_init */
    const struct bk_storage *st; /* borrowed */
    uv_loop_t *loop;             /* the shard's loop, for background work */
    struct bk_partition **buckets;
    size_t nbuckets;
    size_t n;
    /* At most one cleaning job per shard runs on the threadpool. */
    struct bk_clean_work *cleaning;
    size_t clean_cursor; /* bucket to look at first next time */
    /* The topic defaults of the newest image (static settings overlaid with
     * dynamic broker configs); st->topic_defaults until have_defaults. */
    struct bk_topic_settings defaults;
    bool have_defaults;
    /* Told when a leader wants its ISR changed (the replication layer sends
     * the AlterPartition); NULL: nobody listens (tests, one node). */
    void (*on_isr_change)(void *data, struct bk_partition *p);
    void *on_isr_change_data;
};

/* Placement: every partition is owned by exactly one shard, and only that
 * shard touches its log. topic_hash is bk_hash64 of the topic id; the
 * result is stable for a fixed n. */
unsigned bk_shard_for_partition(uint64_t topic_hash,
                                int32_t partition,
                                unsigned n);

int bk_part_table_init(struct bk_part_table *t,
                       const struct bk_storage *st,
                       uv_loop_t *loop);

/* Closes every partition (clean: checkpoints, producer snapshots). */
void bk_part_table_close(struct bk_part_table *t, bool clean);

/* Returns the open partition for (topic, index), opening its log when this
 * is the first use. topic is borrowed from an image the caller holds; the
 * partition copies what it keeps. On failure returns BK_EIO/BK_ENOMEM/
 * BK_ECORRUPT with one line in errmsg (BK_ERRMSG_SIZE). */
int bk_part_get(struct bk_part_table *t,
                const struct bk_md_topic *topic,
                int32_t index,
                int32_t leader_epoch,
                struct bk_partition **out,
                char *errmsg);

/* Looks up an already open partition, or NULL. */
struct bk_partition *bk_part_find(struct bk_part_table *t,
                                  const struct bk_uuid *topic_id,
                                  int32_t index);

/* Closes and forgets partitions whose topic is no longer in img (deleted
 * topics) and, for node_id >= 0, those img no longer assigns to node_id (a
 * reassignment moved the replica away, KIP-455), and removes their
 * directories in the background (renamed first to "<dir>.<topic
 * id>-delete", as Kafka does, so a topic re-created with the same name, or
 * a replica assigned here again, starts empty). Returns how many were
 * dropped. */
size_t bk_part_table_sync(struct bk_part_table *t,
                          const struct bk_md_image *img,
                          int32_t node_id);

/* Applies the topic configs of img, over the topic defaults img gives
 * (static broker settings overlaid with its dynamic broker configs), to
 * every open partition of a topic in it: the log's settings (retention, segment
 * size and age, flush, max message bytes, timestamp type) and the cached
 * produce checks (max.message.bytes, timestamp bounds, compression.type), so
 * that changed configs take effect without a restart. Cheap (no I/O); called
 * when the metadata image changes. Returns the partitions refreshed. */
size_t bk_part_table_refresh_configs(struct bk_part_table *t,
                                     const struct bk_md_image *img);

/* Periodic housekeeping for every open partition (retention, flush.ms,
 * segment.ms), and a producer-state snapshot after every 16 MiB appended,
 * written on libuv's threadpool of loop so the shard never blocks on it.
 * It also starts the log cleaner on a compacted partition that needs it
 * (bk_log_clean_begin); the job's heavy part runs on the threadpool, one
 * job per shard at a time, and its files are swapped in on this thread
 * when it is done. */
void bk_part_table_tick(struct bk_part_table *t, uv_loop_t *loop);

/* Waits (blocking) until every fdatasync queued by the table's logs has
 * run its callback (bk_syncer_barrier): before what those callbacks
 * reach is freed. */
void bk_part_table_barrier(struct bk_part_table *t);

/* Asks a running cleaning job to stop early (shutdown): its work ends
 * soon and nothing of it is kept. */
void bk_part_table_stop_cleaning(struct bk_part_table *t);

/* Tells the table's on_isr_change listener that p wants an AlterPartition
 * sent (replica_isr.c). */
void bk_part_isr_changed(struct bk_partition *p);

/* Calls every waiter of p and clears the list (after an append). */
void bk_part_wake(struct bk_partition *p);

/* Adds / removes a waiter. */
void bk_part_wait(struct bk_partition *p, struct bk_part_waiter *w);
void bk_part_unwait(struct bk_partition *p, struct bk_part_waiter *w);

/* Records a successful append in the producer state and snapshots the
 * state every so often. */
void bk_part_after_append(struct bk_partition *p,
                          int64_t producer_id,
                          int16_t epoch,
                          int32_t first_seq,
                          int32_t count,
                          int64_t base_offset,
                          int64_t timestamp,
                          size_t bytes);

/* Records what a transactional or control batch (borrowed, len bytes,
 * appended at base_offset) does to its producer's transaction: a
 * transactional data batch opens one, a marker closes it. Other batches
 * are ignored. Runs for the leader's, the follower's and replayed
 * batches alike, after bk_part_after_append(). */
void bk_part_txn_apply(struct bk_partition *p,
                       const uint8_t *batch,
                       size_t len,
                       int64_t base_offset);

/* Replays the batch headers from `from` to the log end into p's producer
 * state (after a crash, a snapshot older than the log, or a truncation).
 * Returns 0, BK_ENOMEM, or the read's error (the state then covers what was
 * replayed so far). */
int bk_part_replay_producers(struct bk_partition *p, int64_t from);

/* Directory of a partition: "<root>/<topic>-<index>" (Kafka's layout). */
int bk_part_dir(const struct bk_storage *st,
                const char *topic,
                int32_t index,
                char *out,
                size_t outlen);

/* Reads the header of the batch that holds `offset` (pread of its first
 * bytes, no data copied). Returns 0, BK_ERANGE, BK_ENOTFOUND (offset at the
 * end), BK_EIO. */
int bk_part_batch_at(struct bk_partition *p,
                     int64_t offset,
                     struct bk_batch_hdr *h);

/* ListOffsets by timestamp: the first record whose timestamp is >= ts.
 * The log's time index finds the batch; inside a compressed batch the
 * records are read to find the exact record, as Kafka does. Returns 0,
 * BK_ENOTFOUND when no record is that late, BK_EIO or BK_ENOMEM. */
int bk_part_offset_for_time(struct bk_partition *p,
                            int64_t ts,
                            int64_t *offset,
                            int64_t *timestamp);

/* ListOffsets -3 (KIP-734): the offset and timestamp of the record with the
 * largest timestamp among the batches still on disk, as Kafka answers it:
 * that may be a record below the log start after DeleteRecords. Returns 0,
 * BK_ENOTFOUND for an empty log, BK_EIO or BK_ENOMEM. */
int bk_part_max_timestamp(struct bk_partition *p,
                          int64_t *offset,
                          int64_t *timestamp);

#endif /* BK_PARTITION_PARTITION_H */
