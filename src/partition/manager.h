/* The replica manager of one shard: which replicas the shard hosts, opened
 * in the background, and the table they live in.
 *
 * The metadata thread tells every shard when it publishes a new image
 * (bk_md_config.on_image); the shard then calls bk_rmgr_apply(), which
 * closes the replicas of deleted topics, applies changed topic configs,
 * gives each open replica the role and leader epoch the image says
 * (bk_replica_become_leader / bk_replica_become_follower), and queues
 * every partition of the image that this node hosts and this shard owns
 * (bk_shard_for_partition) for opening. An idle handle opens queued
 * replicas one per loop turn, so recovery (the log scan and the replay of
 * producer state) never runs inside a request, and a broker with thousands
 * of partitions answers requests while they are still opening.
 *
 * Requests reach a replica with bk_rmgr_get(). A replica that is queued but
 * not yet open answers BK_EAGAIN and moves to the front of the queue; the
 * API answers NOT_LEADER_OR_FOLLOWER, as Kafka's ReplicaManager does before
 * it has made itself the leader, and clients refresh metadata and retry. A
 * partition without a directory (a topic just created) has nothing to
 * recover: the opener leaves it alone, and its first request opens it at
 * once, so a new topic takes requests immediately and a topic of 30,000
 * partitions nobody uses costs no files.
 *
 * Every call comes from the owning shard's thread (checked in debug
 * builds). */
#ifndef BK_PARTITION_MANAGER_H
#define BK_PARTITION_MANAGER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "cluster/image.h"
#include "partition/partition.h"

struct bk_rmgr_entry;

struct bk_rmgr {
    struct bk_part_table parts; /* the open replicas */
    uv_loop_t *loop;            /* borrowed: the shard's loop */
    uv_idle_t opener;           /* runs while replicas wait to open */
    int32_t node_id;
    unsigned shard;   /* this shard's index */
    unsigned nshards; /* number of shards */
    /* The image of the last bk_rmgr_apply (one reference, owned), NULL
     * before the first. */
    struct bk_md_image *img;
    /* Replicas waiting to open, oldest last; a hash of the same entries
     * finds one by topic id and index. */
    struct bk_rmgr_entry *head, *tail;
    struct bk_rmgr_entry **buckets;
    size_t nbuckets;
    size_t queued;
    /* Progress of the current batch of opens, for one log line when the
     * queue drains: how many opened, failed, and when it began (ms). */
    size_t opened, failed;
    uint64_t batch_start_ms;
    bool start_reported; /* the replicas assigned at start are open */
    bool closing;
};

/* Initialises m on its shard's thread. st and loop are borrowed for the
 * manager's life. Returns 0 or BK_ENOMEM. */
int bk_rmgr_init(struct bk_rmgr *m,
                 const struct bk_storage *st,
                 uv_loop_t *loop,
                 int32_t node_id,
                 unsigned shard,
                 unsigned nshards);

/* Brings the shard's replicas in line with img (borrowed; the manager takes
 * its own reference): closes those of deleted topics, refreshes topic
 * configs, queues the ones this shard must host and has not opened, and
 * forgets queued ones that are no longer assigned. Cheap: no I/O except
 * for the closes. Returns how many replicas were closed. */
size_t bk_rmgr_apply(struct bk_rmgr *m, struct bk_md_image *img);

/* The open replica of (topic, index) for a request; topic is borrowed
 * from an image the caller holds, which says this node leads the
 * partition at leader_epoch. Returns 0 with *out set; BK_EAGAIN while the
 * replica waits to open (it moves to the front of the queue); or, when
 * opening fails, BK_EIO/BK_ENOMEM/BK_ECORRUPT with one line in errmsg
 * (BK_ERRMSG_SIZE). */
int bk_rmgr_get(struct bk_rmgr *m,
                const struct bk_md_topic *topic,
                int32_t index,
                int32_t leader_epoch,
                struct bk_partition **out,
                char *errmsg);

/* Whether every replica assigned so far is open (or failed to open). */
bool bk_rmgr_settled(const struct bk_rmgr *m);

/* Stops opening (shutdown begins): the idle handle is closed; queued
 * replicas stay closed. */
void bk_rmgr_drain(struct bk_rmgr *m);

/* Closes every open replica (clean: checkpoints and producer snapshots)
 * and frees the queue. After bk_rmgr_drain and the loop has ended. */
void bk_rmgr_close(struct bk_rmgr *m, bool clean);

#endif /* BK_PARTITION_MANAGER_H */
