/* The partition leader's questions to the transaction coordinator; see
 * txn_verify.h.
 *
 * Happy path: the id's __transaction_state partition and its leader come
 * from the image, one AddPartitionsToTxn v5 with a single transaction
 * goes over the shard's connection to that broker, and the answer's
 * partition errors land in v->errs. Failure modes: no such topic or no
 * leader (COORDINATOR_NOT_AVAILABLE: the topic is made by the first
 * FindCoordinator, so a producer cannot be here without it unless it is
 * moving), no connection or no answer (NETWORK_EXCEPTION), an answer
 * that does not decode or lacks a partition (UNKNOWN_SERVER_ERROR for
 * those partitions). */
#include "api/txn_verify.h"

#include <string.h>

#include "api/txn_coord.h"
#include "coord/coord.h"
#include "coord/txn_coord.h"
#include "net/kclient.h"
#include "protocol/gen/add_partitions_to_txn.h"
#include "protocol/header.h"
#include "protocol/kerr.h"

#define APT_VERSION 5

typedef struct bk_msg_add_partitions_to_txn_request_add_partitions_to_txn_topic
    in_topic;

static void fail_all(struct bk_txn_verify *v, int16_t err)
{
    for (size_t i = 0; i < v->n; i++) {
        v->errs[i] = err;
    }
}

static void finish(struct bk_txn_verify *v)
{
    bk_arena_destroy(&v->arena);
    v->done(v);
}

/* The error the answer gives partition i: its own, or the answer's. */
static int16_t answer_for(const struct bk_txn_verify *v,
                          const struct bk_msg_add_partitions_to_txn_response *r,
                          size_t i)
{
    if (r->error_code != BK_KERR_NONE) {
        return r->error_code;
    }
    for (int32_t x = 0; x < r->results_by_transaction_count; x++) {
        const struct
            bk_msg_add_partitions_to_txn_response_add_partitions_to_txn_result
                *tr = &r->results_by_transaction[x];
        for (int32_t t = 0; t < tr->topic_results_count; t++) {
            const struct
                bk_msg_add_partitions_to_txn_response_add_partitions_to_txn_topic_result
                    *to = &tr->topic_results[t];
            if (!bk_str_eq(to->name, v->topics[i])) {
                continue;
            }
            for (int32_t p = 0; p < to->results_by_partition_count; p++) {
                if (to->results_by_partition[p].partition_index ==
                    v->partitions[i]) {
                    return to->results_by_partition[p].partition_error_code;
                }
            }
        }
    }
    return BK_KERR_UNKNOWN_SERVER_ERROR;
}

static void answered(void *data, int status, const uint8_t *resp, size_t len)
{
    struct bk_txn_verify *v = data;
    struct bk_msg_add_partitions_to_txn_response r;
    if (status != 0 ||
        bk_resp_frame_decode(&v->arena, BK_API_ADD_PARTITIONS_TO_TXN,
                             APT_VERSION, resp, len, &r) != 0) {
        fail_all(v, BK_KERR_NETWORK_EXCEPTION);
    } else {
        for (size_t i = 0; i < v->n; i++) {
            v->errs[i] = answer_for(v, &r, i);
        }
    }
    finish(v);
}

/* The request's topics: v's partitions grouped by topic name (they come
 * grouped, as a Produce request names each topic once). */
static in_topic *topics_of(struct bk_txn_verify *v, int32_t *count)
{
    in_topic *t = bk_arena_alloc(&v->arena, (v->n + 1) * sizeof(*t));
    int32_t n = 0;
    for (size_t i = 0; t != NULL && i < v->n; i++) {
        if (n == 0 || !bk_str_eq(t[n - 1].name, v->topics[i])) {
            t[n].name = v->topics[i];
            /* The partitions of one topic are consecutive in v. */
            t[n].partitions = (int32_t *)&v->partitions[i];
            t[n].partitions_count = 0;
            n++;
        }
        t[n - 1].partitions_count++;
    }
    *count = n;
    return t;
}

/* The coordinator's broker for v's id, or -1. */
static int32_t coordinator_of(const struct bk_md_image *img, struct bk_str id)
{
    const struct bk_md_topic *t =
        bk_md_image_topic(img, BK_TXN_TOPIC, strlen(BK_TXN_TOPIC));
    if (t == NULL || t->n_partitions <= 0) {
        return -1;
    }
    const struct bk_md_partition *mp =
        bk_md_topic_partition(t, bk_coord_key_partition(id, t->n_partitions));
    return mp != NULL ? mp->leader : -1;
}

void bk_txn_verify_start(struct bk_shard *shard,
                         const struct bk_md_image *img,
                         struct bk_txn_verify *v)
{
    bk_arena_init(&v->arena, 1024, 0);
    int32_t node = coordinator_of(img, v->txn_id);
    struct bk_kclient *c =
        node >= 0 ? bk_tcoord_client(shard, img, node) : NULL;
    if (c == NULL) {
        fail_all(v, node < 0 ? BK_KERR_COORDINATOR_NOT_AVAILABLE
                             : BK_KERR_NETWORK_EXCEPTION);
        finish(v);
        return;
    }
    struct
        bk_msg_add_partitions_to_txn_request_add_partitions_to_txn_transaction
            txn = {
                .transactional_id = v->txn_id,
                .producer_id = v->producer_id,
                .producer_epoch = v->producer_epoch,
                .verify_only = !v->add,
            };
    txn.topics = topics_of(v, &txn.topics_count);
    struct bk_msg_add_partitions_to_txn_request req;
    bk_msg_add_partitions_to_txn_request_init(&req);
    req.transactions = &txn;
    req.transactions_count = 1;
    uint8_t *frame;
    size_t len;
    if (txn.topics == NULL ||
        bk_req_frame_encode(&v->arena, BK_API_ADD_PARTITIONS_TO_TXN,
                            APT_VERSION, 0, "brokerd-txn", &req, &frame,
                            &len) != 0 ||
        bk_kclient_send(c, frame, len, answered, v) != 0) {
        fail_all(v, BK_KERR_NETWORK_EXCEPTION);
        finish(v);
    }
}

int16_t bk_txn_verify_produce_error(int16_t err,
                                    int16_t produce_version,
                                    const char **msg)
{
    *msg = NULL;
    switch (err) {
        case BK_KERR_PRODUCER_FENCED:
            /* Produce has never had PRODUCER_FENCED. */
            return BK_KERR_INVALID_PRODUCER_EPOCH;
        case BK_KERR_TRANSACTION_ABORTABLE:
            if (produce_version >= 11) {
                return err; /* KIP-890: v11+ clients know it */
            }
            *msg = "Partition was not added to the transaction";
            return BK_KERR_INVALID_TXN_STATE;
        case BK_KERR_INVALID_TXN_STATE:
            *msg = "Partition was not added to the transaction";
            return err;
        case BK_KERR_CONCURRENT_TRANSACTIONS:
        case BK_KERR_NETWORK_EXCEPTION:
        case BK_KERR_COORDINATOR_LOAD_IN_PROGRESS:
        case BK_KERR_COORDINATOR_NOT_AVAILABLE:
        case BK_KERR_NOT_COORDINATOR:
            /* Retriable for the coordinator's clients, but older
             * producers may not retry them on Produce: Kafka answers
             * NOT_ENOUGH_REPLICAS, which every producer retries without
             * a metadata refresh. */
            *msg =
                "Unable to verify the partition has been added to the "
                "transaction";
            return BK_KERR_NOT_ENOUGH_REPLICAS;
        default:
            return err;
    }
}
