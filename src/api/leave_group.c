/* LeaveGroup (key 13), v0-5: one member (v0-2) or a batch of member
 * identities (v3+, KIP-345: static members leave by instance id). The
 * top-level error is the group's; per-member errors from v3. */
#include "protocol/gen/leave_group.h"

#include "api/access.h"
#include "api/group_coord.h"
#include "protocol/kerr.h"

typedef struct bk_msg_leave_group_response_member_response out_member;

struct leave_state {
    struct bk_gops ops;
    out_member *out; /* arena, written by the owner */
    int32_t n;
    int16_t error; /* v0-2 */
};

static void run(struct bk_gops *ops,
                size_t i,
                struct bk_coord_group *gc,
                struct bk_fan_part *part)
{
    (void)part;
    struct leave_state *st = ops->data;
    const struct bk_msg_leave_group_request *req = ops->call->request;
    struct bk_group_registry *r = bk_coord_group_registry(gc);
    if (ops->call->hdr.api_version < 3) {
        st->error = bk_group_leave(r, ops->items[i].group_id, req->member_id,
                                   BK_STR_NULL);
        return;
    }
    for (int32_t k = 0; k < st->n; k++) {
        st->out[k].error_code =
            bk_group_leave(r, ops->items[i].group_id, req->members[k].member_id,
                           req->members[k].group_instance_id);
    }
}

static void done(struct bk_gops *ops)
{
    struct leave_state *st = ops->data;
    struct bk_msg_leave_group_response resp;
    bk_msg_leave_group_response_init(&resp);
    if (ops->items[0].error != 0) {
        resp.error_code = ops->items[0].error;
    } else if (ops->call->hdr.api_version < 3) {
        resp.error_code = st->error;
    } else {
        resp.members = st->out;
        resp.members_count = st->n;
    }
    bk_gops_reply(ops, &resp);
}

void bk_handle_leave_group(struct bk_call *call)
{
    const struct bk_msg_leave_group_request *req = call->request;
    struct leave_state *st = BK_GOPS_ALLOC(call, struct leave_state, 1);
    int32_t n = req->members_count < 0 ? 0 : req->members_count;
    if (st == NULL) {
        return;
    }
    st->n = call->hdr.api_version >= 3 ? n : 0;
    st->out = bk_arena_alloc(call->arena, (size_t)(n + 1) * sizeof(out_member));
    if (st->out == NULL) {
        bk_req_fail(call->req, "out of memory");
        return;
    }
    for (int32_t k = 0; k < st->n; k++) {
        st->out[k].member_id = req->members[k].member_id;
        st->out[k].group_instance_id = req->members[k].group_instance_id;
        st->out[k].error_code = BK_KERR_NONE;
    }
    st->ops.items[0].group_id = req->group_id;
    st->ops.group_op = BK_ACL_OP_READ; /* security-notes.md §7 */
    if (bk_gops_start(&st->ops, run, done, st) != 0) {
        bk_req_fail(call->req, "out of memory");
    }
}
