/* OffsetForLeaderEpoch (key 23), v2-4.
 *
 * For each partition, the end offset of the requested leader epoch: the
 * start offset of the next larger epoch in the partition's leader-epoch
 * cache, or the log end offset for the latest epoch (KIP-101/KIP-279).
 * Consumers use it to detect log truncation after a leader change
 * (KIP-320); an epoch below every cached one answers -1/-1. */
#include "protocol/gen/offset_for_leader_epoch.h"

#include "api/access.h"
#include "api/fan.h"
#include "cluster/controller.h"
#include "partition/replica.h"
#include "protocol/kerr.h"

typedef struct bk_msg_offset_for_leader_epoch_response_epoch_end_offset
    out_part;
typedef struct
    bk_msg_offset_for_leader_epoch_response_offset_for_leader_topic_result
        out_topic;

struct ofle_item {
    struct bk_uuid topic_id;
    bool known;
    int32_t partition;
    int32_t current_leader_epoch;
    int32_t leader_epoch;
    out_part *out;
};

struct ofle_state {
    struct bk_fan fan;
    struct bk_msg_offset_for_leader_epoch_response resp;
    struct ofle_item *items;
};

static void run_part(struct bk_fan_part *part)
{
    struct ofle_state *st = part->fan->data;
    struct bk_md_image *img = bk_md_image_acquire(part->fan->call->ctx->md);
    for (size_t i = 0; img != NULL && i < part->n; i++) {
        struct ofle_item *it = &st->items[part->idx[i]];
        if (!it->known) {
            continue;
        }
        int16_t err;
        struct bk_partition *p =
            bk_fan_open_partition(part, img, &it->topic_id, it->partition,
                                  it->current_leader_epoch, &err);
        it->out->error_code = err;
        if (p == NULL) {
            continue;
        }
        bk_replica_epoch_end(p, it->leader_epoch, &it->out->leader_epoch,
                             &it->out->end_offset);
    }
    bk_md_image_release(img);
    bk_fan_release(part);
}

static void done(struct bk_fan *fan)
{
    struct ofle_state *st = fan->data;
    bk_call_reply(fan->call, &st->resp);
}

void bk_handle_offset_for_leader_epoch(struct bk_call *call)
{
    const struct bk_msg_offset_for_leader_epoch_request *req = call->request;
    struct ofle_state *st = bk_arena_alloc(call->arena, sizeof(*st));
    if (st == NULL) {
        bk_req_fail(call->req, "out of memory");
        return;
    }
    bk_msg_offset_for_leader_epoch_response_init(&st->resp);
    int32_t nt = req->topics_count < 0 ? 0 : req->topics_count;
    size_t n = 0;
    for (int32_t i = 0; i < nt; i++) {
        int32_t np = req->topics[i].partitions_count;
        n += np < 0 ? 0 : (size_t)np;
    }
    st->resp.topics =
        bk_arena_alloc(call->arena, (size_t)(nt + 1) * sizeof(out_topic));
    st->items = bk_arena_alloc(call->arena, (n + 1) * sizeof(*st->items));
    unsigned *owner = bk_arena_alloc(call->arena, (n + 1) * sizeof(*owner));
    out_part *outs = bk_arena_alloc(call->arena, (n + 1) * sizeof(out_part));
    struct bk_md_image *img = bk_api_image(call);
    if (st->resp.topics == NULL || st->items == NULL || owner == NULL ||
        outs == NULL || img == NULL) {
        bk_md_image_release(img);
        bk_req_fail(call->req, "out of memory");
        return;
    }
    st->resp.topics_count = nt;
    size_t k = 0;
    for (int32_t i = 0; i < nt; i++) {
        const struct
            bk_msg_offset_for_leader_epoch_request_offset_for_leader_topic *rt =
                &req->topics[i];
        out_topic *ot = &st->resp.topics[i];
        ot->topic = rt->topic;
        ot->partitions = &outs[k];
        ot->partitions_count =
            rt->partitions_count < 0 ? 0 : rt->partitions_count;
        const struct bk_md_topic *t =
            rt->topic.len >= 0
                ? bk_md_image_topic(img, rt->topic.ptr, (size_t)rt->topic.len)
                : NULL;
        /* Kafka: DESCRIBE on each topic; a follower's request
         * CLUSTER_ACTION on the cluster. */
        bool ok = req->replica_id >= 0
                      ? bk_api_may_cluster(call, img, BK_ACL_OP_CLUSTER_ACTION)
                      : bk_api_may(call, img, BK_ACL_OP_DESCRIBE,
                                   BK_ACL_RES_TOPIC, rt->topic);
        if (!ok) {
            t = NULL;
        }
        for (int32_t j = 0; j < ot->partitions_count; j++, k++) {
            struct ofle_item *it = &st->items[k];
            it->out = &outs[k];
            it->partition = rt->partitions[j].partition;
            it->current_leader_epoch = rt->partitions[j].current_leader_epoch;
            it->leader_epoch = rt->partitions[j].leader_epoch;
            it->out->partition = it->partition;
            it->out->leader_epoch = -1;
            it->out->end_offset = -1;
            it->known =
                bk_fan_route(call, t, it->partition, &it->topic_id, &owner[k]);
            if (!it->known) {
                it->out->error_code = ok ? BK_KERR_UNKNOWN_TOPIC_OR_PARTITION
                                         : BK_KERR_TOPIC_AUTHORIZATION_FAILED;
            }
        }
    }
    bk_md_image_release(img);
    if (bk_fan_start(&st->fan, call, n, owner, run_part, done, st) != 0) {
        bk_req_fail(call->req, "out of memory");
    }
}
