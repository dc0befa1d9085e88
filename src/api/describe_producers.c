/* DescribeProducers (key 61, v0; KIP-664): a partition leader's producer
 * state, for kafka-transactions.sh describe-producers and find-hanging
 * (a producer with a transaction open on a partition that no
 * coordinator lists is hanging).
 *
 * Partitions go to their owner shards (fan.h); each copies its producers
 * to the heap (a run may not allocate from the call's arena), and the
 * connection's shard builds the answer from the copies. Errors per
 * partition are the partition APIs' (unknown, not the leader). */
#include "protocol/gen/describe_producers.h"

#include <string.h>

#include "api/access.h"
#include "api/fan.h"
#include "cluster/controller.h"
#include "common/heap.h"
#include "partition/replica.h"
#include "protocol/kerr.h"

typedef struct bk_msg_describe_producers_response_topic_response out_topic;
typedef struct bk_msg_describe_producers_response_partition_response out_part;
typedef struct bk_msg_describe_producers_response_producer_state out_prod;

struct dp_item {
    struct bk_uuid topic_id;
    bool known;
    bool denied; /* no READ on the topic (Kafka's check) */
    out_part *out;
    out_prod *prods; /* heap, copied on the owner */
    size_t n;
};

struct dp_state {
    struct bk_fan fan;
    struct bk_msg_describe_producers_response resp;
    struct dp_item *items;
    size_t nitems;
};

static void describe_one(struct bk_fan_part *part,
                         const struct bk_md_image *img,
                         struct dp_item *it)
{
    int16_t err = it->denied ? BK_KERR_TOPIC_AUTHORIZATION_FAILED
                             : BK_KERR_UNKNOWN_TOPIC_OR_PARTITION;
    struct bk_partition *p =
        it->known ? bk_fan_open_partition(part, img, &it->topic_id,
                                          it->out->partition_index, -1, &err)
                  : NULL;
    if (p == NULL) {
        it->out->error_code = err;
        return;
    }
    const struct bk_pstate *ps = &p->pstate;
    it->prods = bk_calloc(ps->n + 1, sizeof(*it->prods));
    if (it->prods == NULL) {
        it->out->error_code = BK_KERR_UNKNOWN_SERVER_ERROR;
        return;
    }
    for (size_t i = 0; i < ps->n; i++) {
        const struct bk_pstate_entry *e = &ps->v[i];
        it->prods[i] = (out_prod){
            .producer_id = e->producer_id,
            .producer_epoch = e->epoch,
            .last_sequence =
                e->nbatches > 0 ? e->batches[e->nbatches - 1].last_seq : -1,
            .last_timestamp = e->last_timestamp,
            .coordinator_epoch = e->coordinator_epoch,
            .current_txn_start_offset = e->txn_first_offset,
        };
    }
    it->n = ps->n;
}

static void run_part(struct bk_fan_part *part)
{
    struct dp_state *st = part->fan->data;
    struct bk_md_image *img = bk_md_image_acquire(part->fan->call->ctx->md);
    for (size_t i = 0; i < part->n; i++) {
        struct dp_item *it = &st->items[part->idx[i]];
        if (img == NULL) {
            it->out->error_code = BK_KERR_UNKNOWN_SERVER_ERROR;
            continue;
        }
        describe_one(part, img, it);
    }
    bk_md_image_release(img);
    bk_fan_release(part);
}

static void done(struct bk_fan *fan)
{
    struct dp_state *st = fan->data;
    struct bk_call *call = fan->call;
    for (size_t i = 0; i < st->nitems; i++) {
        struct dp_item *it = &st->items[i];
        out_prod *o =
            it->n > 0 ? bk_arena_alloc(call->arena, it->n * sizeof(*o)) : NULL;
        if (o != NULL) {
            memcpy(o, it->prods, it->n * sizeof(*o));
            it->out->active_producers = o;
            it->out->active_producers_count = (int32_t)it->n;
        }
        bk_free(it->prods);
    }
    bk_call_reply(call, &st->resp);
}

void bk_handle_describe_producers(struct bk_call *call)
{
    const struct bk_msg_describe_producers_request *req = call->request;
    struct dp_state *st = bk_arena_alloc(call->arena, sizeof(*st));
    int32_t nt = req->topics_count < 0 ? 0 : req->topics_count;
    size_t n = 0;
    for (int32_t i = 0; i < nt; i++) {
        int32_t np = req->topics[i].partition_indexes_count;
        n += np < 0 ? 0 : (size_t)np;
    }
    out_topic *ots =
        bk_arena_alloc(call->arena, (size_t)(nt + 1) * sizeof(*ots));
    out_part *ops = bk_arena_alloc(call->arena, (n + 1) * sizeof(*ops));
    unsigned *owner = bk_arena_alloc(call->arena, (n + 1) * sizeof(*owner));
    if (st == NULL || ots == NULL || ops == NULL || owner == NULL ||
        (st->items = bk_arena_alloc(call->arena,
                                    (n + 1) * sizeof(*st->items))) == NULL) {
        bk_req_fail(call->req, "out of memory");
        return;
    }
    bk_msg_describe_producers_response_init(&st->resp);
    st->resp.topics = ots;
    st->resp.topics_count = nt;
    st->nitems = n;
    struct bk_md_image *img = bk_api_image(call);
    size_t k = 0;
    for (int32_t i = 0; i < nt; i++) {
        const struct bk_msg_describe_producers_request_topic_request *rt =
            &req->topics[i];
        int32_t np =
            rt->partition_indexes_count < 0 ? 0 : rt->partition_indexes_count;
        const struct bk_md_topic *t =
            img != NULL && rt->name.len > 0
                ? bk_md_image_topic(img, rt->name.ptr, (size_t)rt->name.len)
                : NULL;
        /* Kafka: READ on the topic, before whether it exists. */
        bool denied =
            !bk_api_may(call, img, BK_ACL_OP_READ, BK_ACL_RES_TOPIC, rt->name);
        t = denied ? NULL : t;
        ots[i] = (out_topic){ .name = rt->name,
                              .partitions = &ops[k],
                              .partitions_count = np };
        for (int32_t j = 0; j < np; j++, k++) {
            struct dp_item *it = &st->items[k];
            ops[k] = (out_part){ .partition_index = rt->partition_indexes[j] };
            *it = (struct dp_item){ .out = &ops[k], .denied = denied };
            it->known = bk_fan_route(call, t, rt->partition_indexes[j],
                                     &it->topic_id, &owner[k]);
        }
    }
    bk_md_image_release(img);
    if (bk_fan_start(&st->fan, call, n, owner, run_part, done, st) != 0) {
        bk_req_fail(call->req, "out of memory");
    }
}
