/* Fan-out of per-partition work to the shards that own the partitions, and
 * gathering on the connection's shard (brief.md section 2: a request that
 * touches partitions owned by other shards is split, sent to the owners
 * over their inboxes, and answered in order once every part is back).
 *
 * The handler keeps its own item array in the call's arena and gives each
 * item an owner shard. bk_fan_start() groups items by owner, runs the part
 * for the connection's own shard inline, posts the others, and calls done
 * on the connection's shard once every part has been released.
 *
 * Rules for run functions (on the owner's thread): they may read the
 * request and write only their own items; they must not allocate from the
 * call's arena (it belongs to the connection's shard). A part is finished
 * when its holds reach zero: run starts with one hold and must release it;
 * asynchronous work (an fdatasync) takes more holds and releases them from
 * any thread. */
#ifndef BK_API_FAN_H
#define BK_API_FAN_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "api/call.h"

struct bk_fan;
struct bk_fan_part;

typedef void (*bk_fan_run_fn)(struct bk_fan_part *part);
typedef void (*bk_fan_done_fn)(struct bk_fan *fan);

struct bk_fan {
    struct bk_call *call; /* borrowed */
    bk_fan_run_fn run;
    bk_fan_done_fn done;
    void *data;    /* the handler's state */
    unsigned left; /* parts not yet back (connection's shard only) */
};

struct bk_fan_part {
    struct bk_shard_msg msg; /* used for the trip out and the trip back */
    struct bk_fan *fan;
    struct bk_shard *owner;
    uint32_t *idx; /* items of this part (arena-owned) */
    size_t n;
    atomic_int holds;
};

/* owner_of[i] is the owning shard id of item i (< number of shards).
 * Returns 0, or BK_ENOMEM (then nothing was started). */
int bk_fan_start(struct bk_fan *fan,
                 struct bk_call *call,
                 size_t nitems,
                 const unsigned *owner_of,
                 bk_fan_run_fn run,
                 bk_fan_done_fn done,
                 void *data);

/* Takes one more hold on part (owner thread, before starting async work). */
void bk_fan_hold(struct bk_fan_part *part);

/* Releases one hold; the last one sends the part home. Any thread. */
void bk_fan_release(struct bk_fan_part *part);

/* The owner shard's API state (its partition table). */
struct bk_api_shard *bk_fan_shard_state(struct bk_fan_part *part);

/* The plan step of every partition API (Produce, Fetch, ListOffsets,
 * DeleteRecords, OffsetForLeaderEpoch), on the connection's shard: t is
 * the request's topic, resolved once per topic in the request's image (by
 * name, or by id for Fetch v13+), NULL when unknown. Returns whether it is
 * known; then *topic_id is set and *owner is the shard that owns the
 * partition (bk_shard_for_partition). An unknown topic's partitions are
 * answered by the connection's own shard (*owner), with no trip. */
bool bk_fan_route(const struct bk_call *call,
                  const struct bk_md_topic *t,
                  int32_t partition,
                  struct bk_uuid *topic_id,
                  unsigned *owner);

/* The one admission path of every partition API (Produce, Fetch,
 * ListOffsets, DeleteRecords, OffsetForLeaderEpoch), so that they answer
 * with the same errors. On the owner's thread: looks the topic up by id in
 * img (borrowed), checks the partition exists (UNKNOWN_TOPIC_OR_PARTITION),
 * that this broker leads it (NOT_LEADER_OR_FOLLOWER) and the caller's
 * current leader epoch (-1: the caller does not know it; older:
 * FENCED_LEADER_EPOCH, newer: UNKNOWN_LEADER_EPOCH, KIP-320), and gets
 * the replica from the shard's manager (NOT_LEADER_OR_FOLLOWER while it is
 * still opening, KAFKA_STORAGE_ERROR when it cannot be opened). Returns
 * it, or NULL with *err set to Kafka's error code. */
struct bk_partition *bk_fan_open_partition(struct bk_fan_part *part,
                                           const struct bk_md_image *img,
                                           const struct bk_uuid *topic_id,
                                           int32_t partition,
                                           int32_t current_leader_epoch,
                                           int16_t *err);

/* bk_fan_open_partition for a consumer's Fetch that carries client
 * metadata (Fetch v11+, KIP-392): a follower of the partition serves it
 * too, from its replica (reads stop at its high watermark, and beyond its
 * log end are OFFSET_OUT_OF_RANGE, bk_replica_read), after the same
 * leader-epoch check; a follower whose replica is not open yet answers
 * NOT_LEADER_OR_FOLLOWER. Where this node leads, or hosts no replica, it
 * is bk_fan_open_partition. */
struct bk_partition *bk_fan_open_replica(struct bk_fan_part *part,
                                         const struct bk_md_image *img,
                                         const struct bk_uuid *topic_id,
                                         int32_t partition,
                                         int32_t current_leader_epoch,
                                         int16_t *err);

/* KIP-392's RackAwareReplicaSelector on the leader p of partition
 * (topic_id, partition) of img (borrowed): for a consumer in rack (not
 * empty) when replica.selector.class enables it and this broker is in
 * another rack, the in-sync follower in that rack, live, whose log holds
 * fetch_offset, the furthest ahead first; else -1 (the leader serves). On
 * the owning shard. */
int32_t bk_fan_preferred_replica(const struct bk_fan_part *part,
                                 const struct bk_md_image *img,
                                 const struct bk_uuid *topic_id,
                                 int32_t partition,
                                 const struct bk_partition *p,
                                 int64_t fetch_offset,
                                 struct bk_str rack);

#endif /* BK_API_FAN_H */
