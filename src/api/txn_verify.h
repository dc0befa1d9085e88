/* KIP-890 on the partition leader's side: asking the transaction
 * coordinator, with AddPartitionsToTxn v5, whether partitions are in a
 * producer's ongoing transaction (part 1, verify only) or to add them
 * (part 2), before transactional batches are appended to them.
 *
 * On the partition's owner shard: the request goes over the shard's
 * connection to the coordinator's broker (txn_coord.h), this broker
 * included, and the answer comes back on the same thread. One request
 * carries every partition of one producer that a Produce request brought
 * to the shard (Kafka batches per coordinator the same way). */
#ifndef BK_API_TXN_VERIFY_H
#define BK_API_TXN_VERIFY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "api/api.h"
#include "cluster/image.h"
#include "common/arena.h"
#include "protocol/prim.h"

struct bk_txn_verify;
typedef void (*bk_txn_verify_cb)(struct bk_txn_verify *v);

/* One question to the coordinator; the caller's memory until done. */
struct bk_txn_verify {
    /* in: borrowed until done */
    struct bk_str txn_id;
    int64_t producer_id;
    int16_t producer_epoch;
    bool add; /* part 2: add the partitions (false: verify only) */
    size_t n;
    const struct bk_str *topics; /* n, grouped by topic */
    const int32_t *partitions;   /* n */
    /* out: n errors, the caller's; each is the coordinator's code for its
     * partition, or COORDINATOR_NOT_AVAILABLE / NOT_COORDINATOR /
     * NETWORK_EXCEPTION when it could not be asked */
    int16_t *errs;
    bk_txn_verify_cb done;
    void *data;
    /* private */
    struct bk_arena arena;
};

/* Sends v from shard (the owner of its partitions, on its thread);
 * v->done(v) runs once on that thread: inside this call when the
 * coordinator cannot be asked (no leader, no connection), else when it
 * answers. img
 * (borrowed) locates the coordinator: the leader of the id's
 * __transaction_state partition. */
void bk_txn_verify_start(struct bk_shard *shard,
                         const struct bk_md_image *img,
                         struct bk_txn_verify *v);

/* The error a producer gets for a verification error err at Produce
 * version: Kafka's mapping (AddPartitionsToTxnManager, ReplicaManager).
 * *msg gets a static message or NULL. */
int16_t bk_txn_verify_produce_error(int16_t err,
                                    int16_t produce_version,
                                    const char **msg);

#endif /* BK_API_TXN_VERIFY_H */
