/* DescribeGroups (key 15), v0-6: state, protocol and members of classic
 * groups, each on its coordinator shard. As Kafka does, member metadata and
 * assignments are shown only while the group is Stable, and an unknown
 * group is described as Dead (v6: with GROUP_ID_NOT_FOUND). */
#include "protocol/gen/describe_groups.h"

#include <string.h>

#include "api/group_coord.h"
#include "protocol/kerr.h"

typedef struct bk_msg_describe_groups_response_described_group out_group;
typedef struct bk_msg_describe_groups_response_described_group_member
    out_member;

struct dg_state {
    struct bk_gops ops;
    out_group *out; /* arena; item i written by its owner */
};

static void run(struct bk_gops *ops,
                size_t i,
                struct bk_gcoord *gc,
                struct bk_fan_part *part)
{
    (void)part;
    struct dg_state *st = ops->data;
    out_group *o = &st->out[i];
    struct bk_gbuf *b = &ops->items[i].buf;
    const struct bk_group *g =
        bk_group_find(bk_gcoord_registry(gc), ops->items[i].group_id);
    if (g == NULL || g->state == BK_GROUP_DEAD) {
        o->group_state = bk_str_c("Dead");
        if (ops->call->hdr.api_version >= 6) {
            o->error_code = BK_KERR_GROUP_ID_NOT_FOUND;
            o->error_message = bk_str_c("Group not found.");
        }
        return;
    }
    bool stable = g->state == BK_GROUP_STABLE;
    o->group_state = bk_str_c(bk_group_state_name(g->state));
    o->protocol_type = bk_gbuf_str(b, g->protocol_type ? g->protocol_type : "");
    o->protocol_data =
        bk_gbuf_str(b, stable && g->protocol != NULL ? g->protocol : "");
    o->members = bk_gbuf_alloc(b, (g->nmembers + 1) * sizeof(out_member));
    if (o->members == NULL) {
        return;
    }
    for (size_t k = 0; k < g->nmembers; k++) {
        const struct bk_group_member *m = g->members[k];
        out_member *om = &o->members[k];
        memset(om, 0, sizeof(*om));
        om->member_id = bk_gbuf_str(b, m->id);
        om->group_instance_id = bk_gbuf_str(b, m->instance_id);
        om->client_id = bk_gbuf_str(b, m->client_id);
        om->client_host = bk_gbuf_str(b, m->client_host);
        const struct bk_group_protocol *p = bk_group_member_protocol(g, m);
        om->member_metadata =
            stable && p != NULL ? bk_gbuf_bytes(b, p->metadata, p->metadata_len)
                                : bk_gbuf_bytes(b, NULL, 0);
        om->member_assignment =
            stable ? bk_gbuf_bytes(b, m->assignment, m->assignment_len)
                   : bk_gbuf_bytes(b, NULL, 0);
    }
    o->members_count = (int32_t)g->nmembers;
}

static void done(struct bk_gops *ops)
{
    struct dg_state *st = ops->data;
    struct bk_msg_describe_groups_response resp;
    bk_msg_describe_groups_response_init(&resp);
    resp.groups = st->out;
    resp.groups_count = (int32_t)ops->n;
    for (size_t i = 0; i < ops->n; i++) {
        if (ops->items[i].error != 0) {
            st->out[i].error_code = ops->items[i].error;
            st->out[i].members_count = 0;
        } else if (ops->items[i].buf.failed) {
            st->out[i].error_code = BK_KERR_UNKNOWN_SERVER_ERROR;
            st->out[i].members_count = 0;
        }
    }
    struct bk_gbuf mem = bk_gops_take(ops);
    bk_call_reply(ops->call, &resp);
    bk_gbuf_free(&mem);
}

void bk_handle_describe_groups(struct bk_call *call)
{
    const struct bk_msg_describe_groups_request *req = call->request;
    size_t n = req->groups_count < 0 ? 0 : (size_t)req->groups_count;
    struct dg_state *st = bk_arena_alloc(call->arena, sizeof(*st));
    if (st == NULL || bk_gops_init(&st->ops, call, n) != 0) {
        bk_req_fail(call->req, "out of memory");
        return;
    }
    st->out = bk_arena_alloc(call->arena, (n + 1) * sizeof(*st->out));
    if (st->out == NULL) {
        bk_req_fail(call->req, "out of memory");
        return;
    }
    for (size_t i = 0; i < n; i++) {
        out_group *o = &st->out[i];
        memset(o, 0, sizeof(*o));
        o->group_id = req->groups[i];
        o->group_state = bk_str_c("");
        o->protocol_type = bk_str_c("");
        o->protocol_data = bk_str_c("");
        o->error_message = BK_STR_NULL;
        /* Not asked for (v3+), or unknown: INT32_MIN (Kafka's default). */
        o->authorized_operations = INT32_MIN;
        st->ops.items[i].group_id = req->groups[i];
    }
    if (bk_gops_start(&st->ops, run, done, st) != 0) {
        bk_req_fail(call->req, "out of memory");
    }
}
