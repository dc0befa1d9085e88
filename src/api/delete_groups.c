/* DeleteGroups (key 42), v0-2: only an Empty group may go (NON_EMPTY_GROUP
 * while members remain; GROUP_ID_NOT_FOUND when unknown). Deleting writes
 * tombstones for the group's offsets and metadata, so it stays deleted
 * after a restart. */
#include "protocol/gen/delete_groups.h"

#include "api/access.h"
#include "api/group_coord.h"
#include "protocol/kerr.h"

typedef struct bk_msg_delete_groups_response_deletable_group_result out_group;

struct del_state {
    struct bk_gops ops;
    out_group *out;
};

static void run(struct bk_gops *ops,
                size_t i,
                struct bk_coord_group *gc,
                struct bk_fan_part *part)
{
    struct del_state *st = ops->data;
    struct bk_group *g = NULL;
    int16_t err = bk_group_delete_check(bk_coord_group_registry(gc),
                                        ops->items[i].group_id, &g);
    if (err == 0) {
        err = bk_gcoord_delete_group(gc, g, part, bk_gops_sync_err(ops, part));
    }
    st->out[i].error_code = err;
}

static void done(struct bk_gops *ops)
{
    struct del_state *st = ops->data;
    struct bk_msg_delete_groups_response resp;
    bk_msg_delete_groups_response_init(&resp);
    for (size_t i = 0; i < ops->n; i++) {
        if (ops->items[i].error != 0) {
            st->out[i].error_code = ops->items[i].error;
        }
    }
    resp.results = st->out;
    resp.results_count = (int32_t)ops->n;
    bk_gops_reply(ops, &resp);
}

void bk_handle_delete_groups(struct bk_call *call)
{
    const struct bk_msg_delete_groups_request *req = call->request;
    size_t n =
        req->groups_names_count < 0 ? 0 : (size_t)req->groups_names_count;
    struct del_state *st = BK_GOPS_ALLOC(call, struct del_state, n);
    if (st == NULL) {
        return;
    }
    st->out = bk_arena_alloc(call->arena, (n + 1) * sizeof(*st->out));
    if (st->out == NULL) {
        bk_req_fail(call->req, "out of memory");
        return;
    }
    for (size_t i = 0; i < n; i++) {
        st->out[i].group_id = req->groups_names[i];
        st->out[i].error_code = BK_KERR_NONE;
        st->ops.items[i].group_id = req->groups_names[i];
    }
    st->ops.group_op = BK_ACL_OP_DELETE; /* security-notes.md §7 */
    if (bk_gops_start(&st->ops, run, done, st) != 0) {
        bk_req_fail(call->req, "out of memory");
    }
}
