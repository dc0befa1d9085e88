/* The transaction coordinator's API glue: routing a transactional id's
 * request to the shard that coordinates it, the shard's lifecycle, and
 * the coordinator's own work on each tick (markers for decided
 * transactions, aborts of timed-out ones, expiry of unused ids). The
 * coordinator's state is src/coord/txn_coord.h; its rules src/txn/.
 *
 * A transactional id lives on the leader of __transaction_state
 * partition abs(javaHashCode(id)) % transaction.state.log.num.partitions
 * and within this broker on the shard that owns that partition. A
 * handler starts a struct bk_tcop: on the owner shard its run function
 * gets the coordinator with the id's partition loaded, writes through
 * bk_coord_txn_write with bk_tcop_waiter, and done follows on the
 * connection's shard once those writes are committed.
 *
 * Markers: once an id's PrepareCommit/PrepareAbort is committed, the
 * owner's tick sends WriteTxnMarkers for its partitions to their leaders
 * (this broker included, over its own listener), at the coordinator
 * epoch (the __transaction_state partition's leader epoch); when every
 * partition has its marker it writes CompleteCommit/CompleteAbort.
 * Failed partitions are retried at later ticks; a partition whose topic
 * is gone counts as done. */
#ifndef BK_API_TXN_COORD_H
#define BK_API_TXN_COORD_H

#include "api/fan.h"
#include "coord/txn_coord.h"

struct bk_kclient;

struct bk_tcop;

/* On the owner shard, with the id's partition loaded. */
typedef void (*bk_tcop_run_fn)(struct bk_tcop *op,
                               struct bk_coord_txn *tc,
                               struct bk_fan_part *part);
/* On the connection's shard. */
typedef void (*bk_tcop_done_fn)(struct bk_tcop *op);

struct bk_tcop {
    struct bk_fan fan;
    struct bk_call *call;
    struct bk_str id; /* borrowed from the request */
    int32_t partition;
    struct bk_uuid topic_id;
    unsigned owner;
    /* Routing or loading error (run was not called), or run's result;
     * a failed commit of run's writes lands here too. */
    int16_t error;
    int16_t sync_err;
    bk_tcop_run_fn run;
    bk_tcop_done_fn done;
    void *data;
};

/* Routes id and runs run on its coordinator shard; done follows on the
 * call's shard (at once, with op->error set, when id is not coordinated
 * here: NOT_COORDINATOR, or COORDINATOR_NOT_AVAILABLE). op lives in the
 * call's arena. */
void bk_tcop_start(struct bk_tcop *op,
                   struct bk_call *call,
                   struct bk_str id,
                   bk_tcop_run_fn run,
                   bk_tcop_done_fn done,
                   void *data);

/* part as the waiter of a write of op's run: done waits until the write
 * is committed, and a failure becomes op's error. */
struct bk_coord_waiter bk_tcop_waiter(struct bk_tcop *op,
                                      struct bk_fan_part *part);

/* The wall-clock time of the owner shard (record times). */
int64_t bk_tcop_now(const struct bk_tcop *op);

/* The ids shard coordinates (borrowed, shard's thread only), or NULL
 * while it starts or drains. */
struct bk_coord_txn *bk_tcoord_state(struct bk_shard *shard);

/* The shard's connection to broker node (this one included, over its
 * own listener), made on first use and shared with the markers: borrowed,
 * valid until the shard drains. NULL when the shard is draining, node is
 * not in img (borrowed) or out of memory. On shard's thread. */
struct bk_kclient *bk_tcoord_client(struct bk_shard *shard,
                                    const struct bk_md_image *img,
                                    int32_t node);

/* Shard lifecycle, from shard_state.c. */
void bk_tcoord_start(struct bk_shard *shard);
void bk_tcoord_tick(struct bk_shard *shard);
void bk_tcoord_drain(struct bk_shard *shard);
void bk_tcoord_stop(struct bk_shard *shard);

/* Proposes the creation of __transaction_state (FindCoordinator key type
 * 1), as bk_gcoord_create_topic does for groups. */
int bk_tcoord_create_topic(struct bk_call *call,
                           void (*done)(struct bk_call *call, int status));

#endif /* BK_API_TXN_COORD_H */
