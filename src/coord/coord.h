/* The coordinator runtime: state kept in the partitions of an internal
 * topic (__consumer_offsets for groups; __transaction_state for the
 * transaction coordinator later), run on the shard that owns each
 * partition.
 *
 * A key (a group id, a transactional id) lives in partition
 * abs(javaHashCode(key)) % partitions of its topic, Kafka's rule for both
 * coordinators, so that tools agree where it is; this node coordinates it
 * when it leads that partition, on the shard that owns the partition
 * (bk_coord_route). On the owner, bk_coord_open() opens the partition and
 * loads it the first time, reading every batch back through the user's
 * ops table; a partition this node stops serving, or whose append failed,
 * is dropped from memory (ops->unload) and read back on its next use.
 * bk_coord_append() writes records through the replica, and holds its
 * waiter until an fdatasync covers them, so that no answer reports a
 * change a crash could undo (docs/storage.md).
 *
 * Users embed a struct bk_coord and fill a struct bk_coord_ops; every call
 * runs on the owning shard's thread, except where a callback says
 * otherwise. The runtime reaches partitions only through the replica
 * (partition/replica.h), and through the caller's bk_coord_open_fn to open
 * one, so it does not depend on the API layer. */
#ifndef BK_COORD_COORD_H
#define BK_COORD_COORD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cluster/image.h"
#include "common/arena.h"
#include "common/clock.h"
#include "partition/partition.h"
#include "protocol/prim.h"
#include "protocol/record_batch.h"

/* What a coordinator keeps in its topic. data is the ops' own pointer
 * (bk_coord_init), borrowed by the runtime. */
struct bk_coord_ops {
    const char *topic;   /* the internal topic, e.g. "__consumer_offsets" */
    const char *log_sub; /* subsystem name in log lines, e.g. "group" */
    /* Applies one record read back from `partition` while it loads; rec
     * and its bytes live until the call returns, scratch for as long as
     * the batch does. A malformed record is the user's to log and skip. */
    void (*load_record)(void *data,
                        int32_t partition,
                        const struct bk_record *rec,
                        struct bk_arena *scratch);
    /* Drops everything kept for `partition` (it is read back on its next
     * use). Returns how many objects went, for the log line. */
    size_t (*unload)(void *data, int32_t partition);
    /* How many objects are in memory, for the log line after a load. */
    size_t (*count)(void *data);
    /* Optional. Records of transactional batches are held back while
     * loading until their producer's marker: a commit applies them
     * through load_record, an abort drops them. Those still undecided
     * when the load ends come here (then the user keeps them pending
     * until the marker is written); NULL drops them. */
    void (*load_pending)(void *data,
                         int32_t partition,
                         int64_t producer_id,
                         const struct bk_record *rec,
                         struct bk_arena *scratch);
};

/* Someone whose answer waits for records to be on disk: the runtime takes
 * a hold (owner shard) and gives it back (any thread: the syncer's) once
 * an fdatasync covers them; a failure lands in *err first. *err must
 * outlive the hold. */
struct bk_coord_waiter {
    void (*hold)(void *arg);
    void (*release)(void *arg);
    void *arg;
    int16_t *err; /* may be NULL */
};

/* Opens `partition` of the topic for the runtime as the caller admits a
 * partition (leadership, epoch): returns it (borrowed from the shard's
 * table), or NULL with *err set to Kafka's admission error. */
typedef struct bk_partition *(*bk_coord_open_fn)(void *arg,
                                                 const struct bk_uuid *topic_id,
                                                 int32_t partition,
                                                 int16_t *err);

/* One waiter parked until its partition is durable (bk_coord_park). */
struct bk_coord_parked {
    struct bk_coord_waiter w;
    int32_t partition;
};

/* A coordinator's runtime state on one shard. Embedded by its user; the
 * fields are private to src/coord/. */
struct bk_coord {
    const struct bk_coord_ops *ops;
    void *data;                  /* ops' pointer (borrowed) */
    struct bk_part_table *parts; /* the shard's partitions (borrowed) */
    const struct bk_clock *clock;
    unsigned shard_id;       /* for log lines */
    struct bk_uuid topic_id; /* of the topic seen last */
    /* Per partition: BK_COORD_NONE, _DONE or _STALE (an append failed, so
     * memory may be ahead of the log; unloaded before it serves again). */
    uint8_t *loaded;
    /* Per partition: the leader epoch of the replica when it was loaded.
     * Another epoch means leadership moved meanwhile. */
    int32_t *epochs;
    int32_t nparts;
    bool closed;
    struct bk_coord_parked *parked; /* answered, waiting for a flush */
    size_t nparked, cap_parked;
};

enum { BK_COORD_NONE = 0, BK_COORD_DONE, BK_COORD_STALE };

/* Kafka's partition for a key: abs(String.hashCode()) % n, with the hash
 * over the key's UTF-16 code units (Utils.abs: MIN_VALUE gives 0). 0 when
 * n <= 0. */
int32_t bk_coord_key_partition(struct bk_str key, int32_t n);

/* Where key lives: fills *partition, *topic_id and *owner (the shard of
 * nshards owning the partition) and returns BK_KERR_NONE, or
 * NOT_COORDINATOR when img (borrowed, may be NULL) has no such topic or
 * another node leads the partition. */
int16_t bk_coord_route(const struct bk_md_image *img,
                       const char *topic,
                       struct bk_str key,
                       int32_t node_id,
                       unsigned nshards,
                       int32_t *partition,
                       unsigned *owner,
                       struct bk_uuid *topic_id);

/* Sets c up with nothing loaded. ops, data, parts and clock are borrowed
 * and outlive c. */
void bk_coord_init(struct bk_coord *c,
                   const struct bk_coord_ops *ops,
                   void *data,
                   struct bk_part_table *parts,
                   const struct bk_clock *clock,
                   unsigned shard_id);

/* Opens `partition` through open(arg, ...) and loads it the first time
 * (or after it went stale, or the topic was recreated). Returns
 * BK_KERR_NONE, NOT_COORDINATOR (not this node's partition, or its log has
 * failed: memory may be ahead of it, so this node stops coordinating it
 * as Kafka does once the log directory is offline) or
 * COORDINATOR_NOT_AVAILABLE (closed, out of memory, a read failed). */
int16_t bk_coord_open(struct bk_coord *c,
                      const struct bk_uuid *topic_id,
                      int32_t partition,
                      bk_coord_open_fn open,
                      void *arg);

/* Opens and loads every partition of topic t (borrowed) that node_id
 * leads and this shard (shard_id of nshards) owns; errors are left to the
 * partition's next use. */
void bk_coord_open_all(struct bk_coord *c,
                       const struct bk_md_topic *t,
                       int32_t node_id,
                       unsigned nshards,
                       bk_coord_open_fn open,
                       void *arg);

/* One record for bk_coord_append(): value len -1 is a tombstone. */
struct bk_coord_rec {
    struct bk_bytes key;
    struct bk_bytes value;
};

/* Appends n records to the open `partition` as one uncompressed batch at
 * the clock's time. With w non-NULL the runtime holds w until an
 * fdatasync covers the batch, and a failed sync sets *w->err to
 * NOT_COORDINATOR. Returns BK_KERR_NONE, OFFSET_METADATA_TOO_LARGE (the
 * batch is over the topic's limit), UNKNOWN_SERVER_ERROR (out of memory)
 * or NOT_COORDINATOR for any other failure, as Kafka maps storage errors
 * for every coordinator operation (CoordinatorOperationExceptionHelper),
 * so that clients look for the coordinator again. A failed append marks
 * the partition stale: see bk_coord_settle(). */
int16_t bk_coord_append(struct bk_coord *c,
                        int32_t partition,
                        const struct bk_coord_rec *recs,
                        size_t n,
                        const struct bk_coord_waiter *w);

/* bk_coord_append() as one transactional batch of producer_id at
 * producer_epoch (TxnOffsetCommit): its records count only once the
 * producer's commit marker follows (see load_pending). */
int16_t bk_coord_append_txn(struct bk_coord *c,
                            int32_t partition,
                            const struct bk_coord_rec *recs,
                            size_t n,
                            int64_t producer_id,
                            int16_t producer_epoch,
                            const struct bk_coord_waiter *w);

/* Takes over a hold the caller took on w for an answer that is ready but
 * reports changes of `partition` still in memory (JoinGroup, SyncGroup):
 * bk_coord_settle() gives it back once the partition is durable. When c
 * is closed (or out of memory) the hold is given back now. */
void bk_coord_park(struct bk_coord *c,
                   int32_t partition,
                   const struct bk_coord_waiter *w);

/* After the user's writes of an operation or tick: each parked waiter
 * waits for an fdatasync of its partition's log end (a failure, or its
 * partition gone stale, sets NOT_COORDINATOR); then stale partitions are
 * unloaded (ops->unload), and what that answered is given back too. */
void bk_coord_settle(struct bk_coord *c);

/* Whether `partition` is open and its log has failed for good. */
bool bk_coord_failed(struct bk_coord *c, int32_t partition);

/* Stops serving: bk_coord_open() answers COORDINATOR_NOT_AVAILABLE and
 * parked answers go out at once. */
void bk_coord_close(struct bk_coord *c);
bool bk_coord_closed(const struct bk_coord *c);

/* Gives back every parked hold and frees c's memory (not c itself). */
void bk_coord_free(struct bk_coord *c);

#endif /* BK_COORD_COORD_H */
