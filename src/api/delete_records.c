/* DeleteRecords (key 21), v0-2.
 *
 * Moves each partition's log start offset up to the requested offset (-1:
 * the high watermark). Whole segments below it are deleted in the
 * background by the log store; records below the new start are never
 * served again. An offset above the high watermark is OFFSET_OUT_OF_RANGE,
 * as in Kafka. The answer carries the new low watermark. */
#include "protocol/gen/delete_records.h"

#include "api/access.h"
#include "api/fan.h"
#include "cluster/controller.h"
#include "partition/replica.h"
#include "protocol/kerr.h"

typedef struct bk_msg_delete_records_response_delete_records_partition_result
    out_part;
typedef struct bk_msg_delete_records_response_delete_records_topic_result
    out_topic;

struct dr_item {
    struct bk_uuid topic_id;
    bool known;
    int32_t partition;
    int64_t offset;
    out_part *out;
};

struct dr_state {
    struct bk_fan fan;
    struct bk_msg_delete_records_response resp;
    struct dr_item *items;
};

static void run_part(struct bk_fan_part *part)
{
    struct dr_state *st = part->fan->data;
    struct bk_md_image *img = bk_md_image_acquire(part->fan->call->ctx->md);
    for (size_t i = 0; img != NULL && i < part->n; i++) {
        struct dr_item *it = &st->items[part->idx[i]];
        if (!it->known) {
            continue;
        }
        int16_t err;
        struct bk_partition *p = bk_fan_open_partition(part, img, &it->topic_id,
                                                       it->partition, -1, &err);
        it->out->error_code = err;
        if (p == NULL) {
            continue;
        }
        it->out->error_code =
            bk_replica_delete_records(p, it->offset, &it->out->low_watermark);
    }
    bk_md_image_release(img);
    bk_fan_release(part);
}

static void done(struct bk_fan *fan)
{
    struct dr_state *st = fan->data;
    bk_call_reply(fan->call, &st->resp);
}

void bk_handle_delete_records(struct bk_call *call)
{
    const struct bk_msg_delete_records_request *req = call->request;
    struct dr_state *st = bk_arena_alloc(call->arena, sizeof(*st));
    if (st == NULL) {
        bk_req_fail(call->req, "out of memory");
        return;
    }
    bk_msg_delete_records_response_init(&st->resp);
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
        const struct bk_msg_delete_records_request_delete_records_topic *rt =
            &req->topics[i];
        out_topic *ot = &st->resp.topics[i];
        ot->name = rt->name;
        ot->partitions = &outs[k];
        ot->partitions_count =
            rt->partitions_count < 0 ? 0 : rt->partitions_count;
        const struct bk_md_topic *t =
            rt->name.len >= 0
                ? bk_md_image_topic(img, rt->name.ptr, (size_t)rt->name.len)
                : NULL;
        /* Kafka: DELETE on each topic, before it is looked
         * for (security-notes.md §7). */
        bool ok =
            bk_api_may(call, img, BK_ACL_OP_DELETE, BK_ACL_RES_TOPIC, rt->name);
        if (!ok) {
            t = NULL;
        }
        for (int32_t j = 0; j < ot->partitions_count; j++, k++) {
            struct dr_item *it = &st->items[k];
            it->out = &outs[k];
            it->partition = rt->partitions[j].partition_index;
            it->offset = rt->partitions[j].offset;
            it->out->partition_index = it->partition;
            it->out->low_watermark = -1;
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
