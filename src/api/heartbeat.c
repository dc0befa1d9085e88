/* Heartbeat (key 12), v0-4: keeps a classic member's session alive and
 * tells it about rebalances (REBALANCE_IN_PROGRESS). */
#include "protocol/gen/heartbeat.h"

#include "api/access.h"
#include "api/group_coord.h"
#include "protocol/kerr.h"

struct hb_state {
    struct bk_gops ops;
    int16_t error;
};

static void run(struct bk_gops *ops,
                size_t i,
                struct bk_coord_group *gc,
                struct bk_fan_part *part)
{
    (void)part;
    struct hb_state *st = ops->data;
    const struct bk_msg_heartbeat_request *req = ops->call->request;
    st->error = bk_group_heartbeat(
        bk_coord_group_registry(gc), ops->items[i].group_id, req->member_id,
        ops->call->hdr.api_version >= 3 ? req->group_instance_id : BK_STR_NULL,
        req->generation_id);
}

static void done(struct bk_gops *ops)
{
    struct hb_state *st = ops->data;
    struct bk_msg_heartbeat_response resp;
    bk_msg_heartbeat_response_init(&resp);
    resp.error_code =
        ops->items[0].error != 0 ? ops->items[0].error : st->error;
    bk_gops_reply(ops, &resp);
}

void bk_handle_heartbeat(struct bk_call *call)
{
    const struct bk_msg_heartbeat_request *req = call->request;
    struct hb_state *st = BK_GOPS_ALLOC(call, struct hb_state, 1);
    if (st == NULL) {
        return;
    }
    st->ops.items[0].group_id = req->group_id;
    st->ops.group_op = BK_ACL_OP_READ; /* security-notes.md §7 */
    if (bk_gops_start(&st->ops, run, done, st) != 0) {
        bk_req_fail(call->req, "out of memory");
    }
}
