/* The group coordinator: the first user of the coordinator runtime
 * (coord.h). It keeps the per-shard registry of the groups a shard
 * coordinates (src/group) in __consumer_offsets: loading a partition
 * applies its records to the registry, dropping it removes its groups, and
 * every change the registry makes is written in Kafka's record formats
 * before the operation that made it answers.
 *
 * A group lives on the leader of __consumer_offsets partition
 * bk_coord_key_partition(group_id, offsets.topic.num.partitions), and
 * within this broker on the shard that owns that partition. Every call
 * runs on that shard's thread. */
#ifndef BK_COORD_GROUP_COORD_H
#define BK_COORD_GROUP_COORD_H

#include <stddef.h>

#include "coord/coord.h"
#include "group/group.h"

#define BK_OFFSETS_TOPIC "__consumer_offsets"

struct bk_md;
struct bk_coord_group;

/* A parked JoinGroup or SyncGroup. The caller takes a hold on its waiter
 * and sets waiter and partition before calling the registry; the
 * functions record the answer, and the coordinator gives the hold back
 * once the records of the change that answered it are on disk (Kafka
 * answers the members' SyncGroups after the leader's GroupMetadata
 * write). */
struct bk_coord_gwait {
    struct bk_coord_waiter waiter;
    int32_t partition; /* of __consumer_offsets */
    void (*join_done)(struct bk_coord_gwait *w,
                      const struct bk_group_join_result *r);
    void (*sync_done)(struct bk_coord_gwait *w,
                      int16_t error,
                      const char *protocol_type,
                      const char *protocol_name,
                      const uint8_t *assignment,
                      size_t assignment_len);
};

/* A shard's group coordinator (returns owned; free with
 * bk_coord_group_free), or NULL when out of memory. md, parts and clock
 * are borrowed and outlive it; cfg is copied (a zero
 * max_session_timeout_ms takes the defaults). */
struct bk_coord_group *bk_coord_group_new(struct bk_md *md,
                                          struct bk_part_table *parts,
                                          const struct bk_group_config *cfg,
                                          const struct bk_clock *clock,
                                          unsigned shard_id);

/* Closes (if not yet) and frees gc; holds still parked are given back. */
void bk_coord_group_free(struct bk_coord_group *gc);

/* Expires sessions, rebalances and offsets, and writes what changed. */
void bk_coord_group_tick(struct bk_coord_group *gc);

/* Stops serving: parked joins and syncs answer now
 * (COORDINATOR_NOT_AVAILABLE), so shutdown does not wait for rebalance
 * timeouts. */
void bk_coord_group_close(struct bk_coord_group *gc);
bool bk_coord_group_closed(const struct bk_coord_group *gc);

/* Opens `partition` of the offsets topic and loads its groups the first
 * time (bk_coord_open: NONE, NOT_COORDINATOR or
 * COORDINATOR_NOT_AVAILABLE). */
int16_t bk_coord_group_open(struct bk_coord_group *gc,
                            const struct bk_uuid *topic_id,
                            int32_t partition,
                            bk_coord_open_fn open,
                            void *arg);

/* Loads every offsets partition this shard coordinates (ListGroups). img
 * is borrowed. */
void bk_coord_group_open_all(struct bk_coord_group *gc,
                             const struct bk_md_image *img,
                             int32_t node_id,
                             unsigned nshards,
                             bk_coord_open_fn open,
                             void *arg);

struct bk_group_registry *bk_coord_group_registry(struct bk_coord_group *gc);

/* Appends records to the open `partition` (bk_coord_append). */
int16_t bk_coord_group_append(struct bk_coord_group *gc,
                              int32_t partition,
                              const struct bk_coord_rec *recs,
                              size_t n,
                              const struct bk_coord_waiter *w);

/* Writes the records of every group whose state changed (membership,
 * KIP-848 epochs and assignments), then settles parked answers. Called
 * after each operation and each tick. With w (an operation), w is held
 * until the records are on disk and a failure lands in *w->err, so the
 * answer never reports a change that a crash could undo; a tick passes
 * NULL. */
void bk_coord_group_flush(struct bk_coord_group *gc,
                          const struct bk_coord_waiter *w);

/* TxnOffsetCommit: appends offset commit records as producer_id's
 * transactional batch (bk_coord_append_txn; w as there) and holds them
 * until the producer's marker on the partition. */
int16_t bk_coord_group_append_txn(struct bk_coord_group *gc,
                                  int32_t partition,
                                  const struct bk_coord_rec *recs,
                                  size_t n,
                                  int64_t producer_id,
                                  int16_t producer_epoch,
                                  const struct bk_coord_waiter *w);

/* A marker of producer_id was written to `partition` of the offsets
 * topic: a commit applies its held offsets, an abort drops them. */
void bk_coord_group_txn_end(struct bk_coord_group *gc,
                            int32_t partition,
                            int64_t producer_id,
                            bool commit);

/* Whether a transaction still holds an offset of group for
 * topic/partition (OffsetFetch's require_stable). */
bool bk_coord_group_txn_pending(struct bk_coord_group *gc,
                                struct bk_str group,
                                struct bk_str topic,
                                int32_t partition);

/* Writes a group's tombstones (its offsets and its metadata) and removes
 * it (DeleteGroups); w as for bk_coord_group_flush(). */
int16_t bk_coord_group_delete(struct bk_coord_group *gc,
                              struct bk_group *g,
                              const struct bk_coord_waiter *w);

/* The partition of the offsets topic a group lives in (its id's hash). */
int32_t bk_coord_group_partition(const struct bk_coord_group *gc,
                                 const struct bk_group *g);

#endif /* BK_COORD_GROUP_COORD_H */
