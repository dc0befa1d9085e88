/* The group coordinator's API glue: routing a group request to the shard
 * that coordinates the group, and the plumbing the group handlers share.
 * The coordinator itself is src/coord/ (group_coord.h there).
 *
 * A group lives on the leader of __consumer_offsets partition
 * abs(javaHashCode(group_id)) % offsets.topic.num.partitions (Kafka's
 * rule, so tools agree where a group is), and within this broker on the
 * shard that owns that partition. Handlers route each group to its shard
 * with bk_gcoord_route() and fan.h; on the owner, bk_gcoord_open() opens
 * the partition, loading it into the registry the first time (after a
 * restart, every commit and group record is read back), and
 * bk_gcoord_append() writes records. No answer reports a change before an
 * fdatasync covers its records, as acks=all would (docs/storage.md).
 *
 * JoinGroup and SyncGroup answers may come later (other members, timers):
 * their items embed a struct bk_coord_gwait whose waiter is their fan part
 * (bk_gcoord_waiter) and whose functions the registry's hooks call on the
 * owner shard. */
#ifndef BK_API_GROUP_COORD_H
#define BK_API_GROUP_COORD_H

#include <stddef.h>

#include "api/fan.h"
#include "coord/group_coord.h"
#include "group/group.h"
#include "group/records.h"

/* Heap memory for results that cross from the owner shard back to the
 * connection's shard (the call's arena belongs to the latter). Freed with
 * bk_gbuf_free() once the answer is encoded. */
struct bk_gbuf {
    struct bk_gbuf_chunk *head;
    bool failed; /* an allocation failed */
};

void *bk_gbuf_alloc(struct bk_gbuf *b, size_t n);
/* A copy of s (NULL -> null string). */
struct bk_str bk_gbuf_str(struct bk_gbuf *b, const char *s);
/* A copy of the n bytes at s, which may hold NUL bytes. */
struct bk_str bk_gbuf_strn(struct bk_gbuf *b, const char *s, size_t n);
/* A copy of a member's instance id (m: a struct bk_group_member or
 * bk_cmember) with every byte; null for a dynamic member. */
#define bk_gbuf_instance(b, m)                                       \
    ((m)->instance_id != NULL                                        \
         ? bk_gbuf_strn((b), (m)->instance_id, (m)->instance_id_len) \
         : BK_STR_NULL)
struct bk_bytes bk_gbuf_bytes(struct bk_gbuf *b, const void *p, size_t n);
/* Moves src's memory (and failure) into dst. */
void bk_gbuf_move(struct bk_gbuf *dst, struct bk_gbuf *src);
void bk_gbuf_free(struct bk_gbuf *b);

/* Where group_id lives (connection's shard): fills *partition, *owner (the
 * shard) and *topic_id and returns NONE, or NOT_COORDINATOR (the offsets
 * topic does not exist yet, or another broker leads the partition),
 * INVALID_GROUP_ID (null id). */
int16_t bk_gcoord_route(const struct bk_call *call,
                        const struct bk_md_image *img,
                        struct bk_str group_id,
                        int32_t *partition,
                        unsigned *owner,
                        struct bk_uuid *topic_id);

/* On the owner shard: the coordinator, with `partition` of the offsets
 * topic open and loaded. Returns NULL with *err set (NOT_COORDINATOR, or
 * COORDINATOR_NOT_AVAILABLE for storage errors and a shard without one).
 * img is borrowed. */
struct bk_coord_group *bk_gcoord_open(struct bk_fan_part *part,
                                      const struct bk_md_image *img,
                                      const struct bk_uuid *topic_id,
                                      int32_t partition,
                                      int16_t *err);

/* On a shard (a fan part's owner): loads every offsets partition this
 * shard coordinates (ListGroups) and returns its coordinator, or NULL when
 * it is shut down. */
struct bk_coord_group *bk_gcoord_load_all(struct bk_fan_part *part,
                                          const struct bk_md_image *img);

/* part as the runtime's waiter: holds on it, and a failed sync lands in
 * *sync_err (which must outlive the part). For parked JoinGroup and
 * SyncGroup answers, with bk_gops_sync_err(). */
struct bk_coord_waiter bk_gcoord_waiter(struct bk_fan_part *part,
                                        int16_t *sync_err);

/* Appends records to the open offsets partition as one batch
 * (bk_coord_append). With part non-NULL, takes a hold on it that is
 * released once an fdatasync covers the batch, and *sync_err gets
 * NOT_COORDINATOR if that fails (the int16_t must outlive the part).
 * Returns NONE or Kafka's error code. */
int16_t bk_gcoord_append(struct bk_coord_group *gc,
                         int32_t partition,
                         const struct bk_coord_rec *recs,
                         size_t n,
                         struct bk_fan_part *part,
                         int16_t *sync_err);

/* Writes the records of every changed group (bk_coord_group_flush), with
 * part held until they are on disk and a failure in *sync_err; a tick
 * passes NULL, NULL. */
void bk_gcoord_flush(struct bk_coord_group *gc,
                     struct bk_fan_part *part,
                     int16_t *sync_err);

/* Writes a group's tombstones and removes it (DeleteGroups); part and
 * sync_err as for bk_gcoord_flush(). */
int16_t bk_gcoord_delete_group(struct bk_coord_group *gc,
                               struct bk_group *g,
                               struct bk_fan_part *part,
                               int16_t *sync_err);

/* ---- running group operations on their coordinator shard ---- */

struct bk_gops;

struct bk_gop_item {
    struct bk_str group_id; /* set by the handler after bk_gops_init() */
    int32_t partition;
    struct bk_uuid topic_id;
    int16_t error;      /* routing or loading error: run was not called */
    struct bk_gbuf buf; /* heap results of this item (owner shard) */
    void *data;         /* the handler's per-item state */
};

/* Runs on the owner shard with the group's partition loaded. May take
 * holds on part (bk_fan_hold) for answers that come later. */
typedef void (*bk_gop_run_fn)(struct bk_gops *ops,
                              size_t i,
                              struct bk_coord_group *gc,
                              struct bk_fan_part *part);
/* On the connection's shard once every item is back. */
typedef void (*bk_gops_done_fn)(struct bk_gops *ops);

struct bk_gops {
    struct bk_fan fan;
    struct bk_call *call;
    struct bk_gop_item *items; /* arena-owned */
    size_t n;
    unsigned *owner;   /* each item's coordinator shard (arena-owned) */
    int16_t *sync_err; /* per shard: its writes failed (arena-owned) */
    bk_gop_run_fn run;
    bk_gops_done_fn done;
    void *data;
    /* The operation each group needs (an authz.h BK_ACL_OP_*; 0: none):
     * set by the handler before bk_gops_start, which answers a group the
     * principal may not do it on with GROUP_AUTHORIZATION_FAILED. */
    int group_op;
};

/* Allocates n items in the call's arena. Returns 0 or BK_ENOMEM. */
int bk_gops_init(struct bk_gops *ops, struct bk_call *call, size_t n);

/* A group handler's state: size bytes from the call's arena, zeroed, with
 * the struct bk_gops at offset ops_off ready for n items. NULL when out of
 * memory; the request has then been failed. Use BK_GOPS_ALLOC. */
void *bk_gops_alloc(struct bk_call *call,
                    size_t size,
                    size_t ops_off,
                    size_t n);
#define BK_GOPS_ALLOC(call, type, n) \
    ((type *)bk_gops_alloc((call), sizeof(type), offsetof(type, ops), (n)))

/* Routes every item to its coordinator shard and runs run there; done
 * follows on the call's shard. An item refused by ops->group_op, or that
 * cannot be routed, gets its error and no run. Returns 0 or BK_ENOMEM
 * (nothing started). */
int bk_gops_start(struct bk_gops *ops,
                  bk_gop_run_fn run,
                  bk_gops_done_fn done,
                  void *data);

/* Moves the items' heap results into one buffer for the caller to free
 * after the answer is encoded (the answer may complete and free the call's
 * arena, and so the items, inside bk_call_reply). */
struct bk_gbuf bk_gops_take(struct bk_gops *ops);

/* Where run functions on part's shard report a failed write of theirs
 * (for bk_gcoord_append and bk_gcoord_waiter); every item of that shard then
 * answers with it. */
int16_t *bk_gops_sync_err(struct bk_gops *ops, struct bk_fan_part *part);

/* Answers the call with resp (which may point into the items' results),
 * then frees those results: the end of every handler's done. */
void bk_gops_reply(struct bk_gops *ops, const void *resp);

/* Shard lifecycle, from shard_state.c. */
void bk_gcoord_start(struct bk_shard *shard);
void bk_gcoord_tick(struct bk_shard *shard);
void bk_gcoord_drain(struct bk_shard *shard);
void bk_gcoord_stop(struct bk_shard *shard);

/* An internal topic a coordinator creates on first use: compacted,
 * replication factor capped at the live brokers, min.insync.replicas
 * (when min_isr > 0) capped at that. */
struct bk_api_internal_topic {
    const char *name;
    const char *log_sub; /* for log lines */
    int32_t partitions;
    int16_t replication_factor;
    int16_t min_isr; /* 0: the topic default */
};

/* Proposes the creation of it (FindCoordinator), as
 * bk_gcoord_create_topic does for __consumer_offsets. */
int bk_api_create_internal_topic(struct bk_call *call,
                                 const struct bk_api_internal_topic *it,
                                 void (*done)(struct bk_call *call,
                                              int status));

/* Proposes the creation of __consumer_offsets (FindCoordinator): done is
 * called on the call's shard once applied (0, or an error; a concurrent
 * creation counts as success). Returns 0 or an error (done not called). */
int bk_gcoord_create_topic(struct bk_call *call,
                           void (*done)(struct bk_call *call, int status));

/* Host and port of a broker for FindCoordinator (this broker's advertised
 * address for itself). Returns false when unknown. */
bool bk_gcoord_broker_addr(const struct bk_call *call,
                           const struct bk_md_image *img,
                           int32_t node,
                           struct bk_str *host,
                           int32_t *port);

#endif /* BK_API_GROUP_COORD_H */
