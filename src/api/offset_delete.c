/* OffsetDelete (key 47), v0 (KIP-496): drops committed offsets of a group,
 * refused per partition with GROUP_SUBSCRIBED_TO_TOPIC while a member of
 * the group still subscribes to the topic. Tombstones are written so the
 * deletion survives a restart. */
#include "protocol/gen/offset_delete.h"

#include <string.h>

#include "api/access.h"
#include "api/group_coord.h"
#include "protocol/kerr.h"

typedef struct bk_msg_offset_delete_response_offset_delete_response_topic
    out_topic;
typedef struct bk_msg_offset_delete_response_offset_delete_response_partition
    out_part;

struct od_state {
    struct bk_gops ops;
    struct bk_msg_offset_delete_response resp;
};

static void run(struct bk_gops *ops,
                size_t i,
                struct bk_coord_group *gc,
                struct bk_fan_part *part)
{
    struct od_state *st = ops->data;
    const struct bk_msg_offset_delete_request *req = ops->call->request;
    struct bk_group *g =
        bk_group_find(bk_coord_group_registry(gc), ops->items[i].group_id);
    if (g == NULL || g->state == BK_GROUP_DEAD) {
        st->resp.error_code = BK_KERR_GROUP_ID_NOT_FOUND;
        return;
    }
    struct bk_arena a;
    bk_arena_init(&a, 4096, 0);
    size_t n = 0;
    for (int32_t t = 0; t < st->resp.topics_count; t++) {
        n += (size_t)st->resp.topics[t].partitions_count;
    }
    struct bk_coord_rec *recs = bk_arena_alloc(&a, (n + 1) * sizeof(*recs));
    size_t k = 0;
    for (int32_t t = 0; recs != NULL && t < st->resp.topics_count; t++) {
        out_topic *ot = &st->resp.topics[t];
        bool subscribed =
            g->state != BK_GROUP_EMPTY && bk_group_subscribed(g, ot->name);
        for (int32_t p = 0; p < ot->partitions_count; p++) {
            out_part *op = &ot->partitions[p];
            if (op->error_code != 0) {
                continue; /* refused at the entry (no READ on the topic) */
            }
            if (subscribed) {
                op->error_code = BK_KERR_GROUP_SUBSCRIBED_TO_TOPIC;
                continue;
            }
            if (bk_group_offset_delete(g, ot->name, op->partition_index)) {
                recs[k].key = bk_gr_offset_key(&a, ops->items[i].group_id,
                                               ot->name, op->partition_index);
                recs[k].value = BK_BYTES_NULL;
                k += recs[k].key.len >= 0;
            }
        }
    }
    (void)req;
    if (recs == NULL) {
        st->resp.error_code = BK_KERR_UNKNOWN_SERVER_ERROR;
    } else if (k > 0) {
        st->resp.error_code =
            bk_gcoord_append(gc, ops->items[i].partition, recs, k, part,
                             bk_gops_sync_err(ops, part));
    }
    bk_arena_destroy(&a);
}

static void done(struct bk_gops *ops)
{
    struct od_state *st = ops->data;
    if (ops->items[0].error != 0) {
        st->resp.error_code = ops->items[0].error;
    }
    if (st->resp.error_code != 0) {
        st->resp.topics_count = 0;
    }
    bk_gops_reply(ops, &st->resp);
}

void bk_handle_offset_delete(struct bk_call *call)
{
    const struct bk_msg_offset_delete_request *req = call->request;
    struct od_state *st = BK_GOPS_ALLOC(call, struct od_state, 1);
    if (st == NULL) {
        return;
    }
    bk_msg_offset_delete_response_init(&st->resp);
    int32_t nt = req->topics_count < 0 ? 0 : req->topics_count;
    st->resp.topics =
        bk_arena_alloc(call->arena, (size_t)(nt + 1) * sizeof(out_topic));
    if (st->resp.topics == NULL) {
        bk_req_fail(call->req, "out of memory");
        return;
    }
    st->resp.topics_count = nt;
    for (int32_t t = 0; t < nt; t++) {
        out_topic *ot = &st->resp.topics[t];
        int32_t np = req->topics[t].partitions_count;
        np = np < 0 ? 0 : np;
        ot->name = req->topics[t].name;
        ot->partitions_count = np;
        ot->partitions =
            bk_arena_alloc(call->arena, (size_t)(np + 1) * sizeof(out_part));
        if (ot->partitions == NULL) {
            bk_req_fail(call->req, "out of memory");
            return;
        }
        /* Kafka: READ on each topic (TOPIC_AUTHORIZATION_FAILED). */
        bool ok =
            bk_api_may(call, NULL, BK_ACL_OP_READ, BK_ACL_RES_TOPIC, ot->name);
        for (int32_t p = 0; p < np; p++) {
            ot->partitions[p].partition_index =
                req->topics[t].partitions[p].partition_index;
            ot->partitions[p].error_code =
                ok ? 0 : BK_KERR_TOPIC_AUTHORIZATION_FAILED;
        }
    }
    st->ops.items[0].group_id = req->group_id;
    st->ops.group_op = BK_ACL_OP_DELETE; /* security-notes.md §7 */
    if (bk_gops_start(&st->ops, run, done, st) != 0) {
        bk_req_fail(call->req, "out of memory");
    }
}
