/* Producer ids for a request: from this broker's pool, or, when it is
 * empty, from a new block the metadata log hands to this broker
 * (AllocateProducerIds to the active controller, or proposed here when
 * this node is the active controller). InitProducerId takes one for every
 * producer; EndTxn v5 takes one when a producer's epoch is exhausted
 * (KIP-890 part 2 rotates the producer id there). */
#ifndef BK_API_PID_ALLOC_H
#define BK_API_PID_ALLOC_H

#include <stdbool.h>
#include <stdint.h>

#include "api/call.h"

struct bk_pid_req;

/* err is NONE with id, or a retriable error (COORDINATOR_LOAD_IN_PROGRESS,
 * UNKNOWN_SERVER_ERROR when out of memory) with id -1. */
typedef void (*bk_pid_cb)(struct bk_call *call, int16_t err, int64_t id);

/* The request's part: the first member of the state call->data_ptr
 * points to while an allocation runs (the proposal's callback finds it
 * there). */
struct bk_pid_req {
    bk_pid_cb cb;
    int64_t first; /* a block proposed here */
    int tries;
};

/* Takes an id from the pool without waiting. */
bool bk_pid_take(struct bk_pid_pool *pool, int64_t *id);

/* Gets an id for call: cb(call, ...) follows, on the call's shard, at once
 * when the pool has one. call->data_ptr must point to a struct whose
 * first member is r (the caller's, until cb). */
void bk_pid_get(struct bk_call *call, struct bk_pid_req *r, bk_pid_cb cb);

#endif /* BK_API_PID_ALLOC_H */
