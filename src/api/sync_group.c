/* SyncGroup (key 14), v0-5: the leader hands in the assignment; every
 * member's SyncGroup waits on the coordinator shard until it does (or the
 * group starts another rebalance). protocol_type/name checks from v5. */
#include "protocol/gen/sync_group.h"

#include <string.h>

#include "api/access.h"
#include "api/group_coord.h"
#include "protocol/kerr.h"

struct sync_state {
    struct bk_coord_gwait w;
    struct bk_gops ops;
    struct bk_group_sync_req sreq;
    struct bk_gbuf *buf;
    bool answered;
    int16_t error;
    struct bk_str protocol_type, protocol_name;
    struct bk_bytes assignment;
};

static void join_unused(struct bk_coord_gwait *w,
                        const struct bk_group_join_result *r)
{
    (void)w;
    (void)r;
}

static void sync_done(struct bk_coord_gwait *w,
                      int16_t error,
                      const char *pt,
                      const char *pn,
                      const uint8_t *a,
                      size_t alen)
{
    struct sync_state *st = (struct sync_state *)w;
    st->answered = true;
    st->error = error;
    st->protocol_type = bk_gbuf_str(st->buf, pt);
    st->protocol_name = bk_gbuf_str(st->buf, pn);
    st->assignment = bk_gbuf_bytes(st->buf, a, alen);
}

static void run(struct bk_gops *ops,
                size_t i,
                struct bk_coord_group *gc,
                struct bk_fan_part *part)
{
    struct sync_state *st = ops->data;
    st->w.waiter = bk_gcoord_waiter(part, bk_gops_sync_err(ops, part));
    st->w.partition = ops->items[i].partition;
    st->buf = &ops->items[i].buf;
    bk_fan_hold(part);
    bk_group_sync(bk_coord_group_registry(gc), ops->items[i].group_id,
                  &st->sreq, &st->w);
}

static void done(struct bk_gops *ops)
{
    struct sync_state *st = ops->data;
    struct bk_msg_sync_group_response resp;
    bk_msg_sync_group_response_init(&resp);
    resp.assignment = (struct bk_bytes){ (const uint8_t *)"", 0 };
    if (ops->items[0].error != 0) {
        resp.error_code = ops->items[0].error;
    } else if (!st->answered || ops->items[0].buf.failed) {
        resp.error_code = st->answered ? BK_KERR_UNKNOWN_SERVER_ERROR
                                       : BK_KERR_COORDINATOR_NOT_AVAILABLE;
    } else {
        resp.error_code = st->error;
        if (st->error == 0) {
            resp.protocol_type = st->protocol_type;
            resp.protocol_name = st->protocol_name;
            if (st->assignment.ptr != NULL) {
                resp.assignment = st->assignment;
            }
        }
    }
    bk_gops_reply(ops, &resp);
}

void bk_handle_sync_group(struct bk_call *call)
{
    const struct bk_msg_sync_group_request *req = call->request;
    int16_t v = call->hdr.api_version;
    struct sync_state *st = BK_GOPS_ALLOC(call, struct sync_state, 1);
    if (st == NULL) {
        return;
    }
    int32_t na = req->assignments_count < 0 ? 0 : req->assignments_count;
    struct bk_group_assignment_in *as =
        bk_arena_alloc(call->arena, (size_t)(na + 1) * sizeof(*as));
    if (as == NULL) {
        bk_req_fail(call->req, "out of memory");
        return;
    }
    st->w.join_done = join_unused;
    st->w.sync_done = sync_done;
    for (int32_t i = 0; i < na; i++) {
        as[i].member_id = req->assignments[i].member_id;
        as[i].assignment = req->assignments[i].assignment;
    }
    st->sreq = (struct bk_group_sync_req){
        .member_id = req->member_id,
        .instance_id = v >= 3 ? req->group_instance_id : BK_STR_NULL,
        .generation = req->generation_id,
        .protocol_type = v >= 5 ? req->protocol_type : BK_STR_NULL,
        .protocol_name = v >= 5 ? req->protocol_name : BK_STR_NULL,
        .assignments = as,
        .nassignments = (size_t)na,
    };
    st->ops.items[0].group_id = req->group_id;
    st->ops.group_op = BK_ACL_OP_READ; /* security-notes.md §7 */
    if (bk_gops_start(&st->ops, run, done, st) != 0) {
        bk_req_fail(call->req, "out of memory");
    }
}
