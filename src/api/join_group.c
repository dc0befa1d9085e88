/* JoinGroup (key 11), v0-9 (v0-1 kept for old librdkafka and sarama,
 * protocol-notes.md section b; MEMBER_ID_REQUIRED from v4, KIP-394; static
 * members from v5, KIP-345; skip_assignment v9).
 *
 * The join runs on the group's coordinator shard and usually waits there
 * (for the other members, or the rebalance timeout): the part keeps a hold
 * until the registry answers through join_done and the coordinator has
 * written what changed (struct bk_coord_gwait). */
#include "protocol/gen/join_group.h"

#include <stdio.h>
#include <string.h>

#include "api/access.h"
#include "api/group_coord.h"
#include "protocol/kerr.h"

typedef struct bk_msg_join_group_response_join_group_response_member out_member;

struct join_state {
    struct bk_coord_gwait w;
    struct bk_gops ops;
    struct bk_group_join_req jreq;
    struct bk_gbuf *buf;
    bool answered;
    int16_t error;
    int32_t generation;
    struct bk_str protocol_type, protocol_name, leader, member_id;
    bool skip;
    out_member *members; /* in buf */
    int32_t nmembers;
};

static void join_done(struct bk_coord_gwait *w,
                      const struct bk_group_join_result *r)
{
    struct join_state *st = (struct join_state *)w;
    struct bk_gbuf *b = st->buf;
    st->answered = true;
    st->error = r->error;
    st->generation = r->generation;
    st->protocol_type = bk_gbuf_str(b, r->protocol_type);
    st->protocol_name = bk_gbuf_str(b, r->protocol_name);
    st->leader = bk_gbuf_str(b, r->leader);
    st->member_id = bk_gbuf_str(b, r->member_id);
    st->skip = r->skip_assignment;
    st->nmembers = 0;
    if (r->nmembers > 0) {
        st->members = bk_gbuf_alloc(b, r->nmembers * sizeof(out_member));
        if (st->members != NULL) {
            for (size_t i = 0; i < r->nmembers; i++) {
                const struct bk_group_member *m = r->members[i];
                /* The group is borrowed only for this call: copy. */
                struct bk_group g = { .protocol = (char *)r->protocol_name };
                const struct bk_group_protocol *p =
                    bk_group_member_protocol(&g, m);
                out_member *o = &st->members[i];
                o->member_id = bk_gbuf_str(b, m->id);
                o->group_instance_id = bk_gbuf_instance(b, m);
                o->metadata =
                    p != NULL ? bk_gbuf_bytes(b, p->metadata, p->metadata_len)
                              : bk_gbuf_bytes(b, NULL, 0);
            }
            st->nmembers = (int32_t)r->nmembers;
        }
    }
}

static void sync_unused(struct bk_coord_gwait *w,
                        int16_t e,
                        const char *a,
                        const char *b,
                        const uint8_t *c,
                        size_t d)
{
    (void)w;
    (void)e;
    (void)a;
    (void)b;
    (void)c;
    (void)d;
}

static void run(struct bk_gops *ops,
                size_t i,
                struct bk_coord_group *gc,
                struct bk_fan_part *part)
{
    struct join_state *st = ops->data;
    st->w.waiter = bk_gcoord_waiter(part, bk_gops_sync_err(ops, part));
    st->w.partition = ops->items[i].partition;
    st->buf = &ops->items[i].buf;
    bk_fan_hold(part);
    bk_group_join(bk_coord_group_registry(gc), ops->items[i].group_id,
                  &st->jreq, &st->w);
}

static void done(struct bk_gops *ops)
{
    struct join_state *st = ops->data;
    struct bk_call *call = ops->call;
    const struct bk_msg_join_group_request *req = call->request;
    int16_t v = call->hdr.api_version;
    struct bk_msg_join_group_response resp;
    bk_msg_join_group_response_init(&resp);
    resp.generation_id = -1;
    resp.protocol_name = v >= 7 ? BK_STR_NULL : bk_str_c("");
    resp.leader = bk_str_c("");
    resp.member_id = req->member_id.len >= 0 ? req->member_id : bk_str_c("");
    if (ops->items[0].error != 0) {
        resp.error_code = ops->items[0].error;
    } else if (st->answered) {
        resp.error_code = st->error;
        resp.generation_id = st->generation;
        resp.protocol_type = st->protocol_type;
        if (st->protocol_name.len >= 0 || v >= 7) {
            resp.protocol_name = st->protocol_name;
        }
        resp.leader = st->leader;
        resp.member_id = st->member_id;
        resp.skip_assignment = st->skip;
        resp.members = st->members;
        resp.members_count = st->members != NULL ? st->nmembers : 0;
        if (st->skip && v < 9) {
            /* Before v9 a static leader rejoining cannot be told to skip
             * the assignment; it gets no members and keeps its own. */
            resp.members_count = 0;
        }
    } else {
        resp.error_code = BK_KERR_COORDINATOR_NOT_AVAILABLE;
    }
    if (ops->items[0].buf.failed) {
        resp.error_code = BK_KERR_UNKNOWN_SERVER_ERROR;
        resp.members_count = 0;
    }
    bk_gops_reply(ops, &resp);
}

/* Kafka shows the client host as "/<address>". */
static struct bk_str client_host(struct bk_call *call)
{
    const char *peer = bk_conn_peer(call->req->conn);
    char tmp[128];
    snprintf(tmp, sizeof(tmp), "/%s", peer != NULL ? peer : "");
    char *colon = strrchr(tmp, ':');
    if (colon != NULL && colon != tmp + 1 && strchr(tmp + 1, ':') == colon) {
        *colon = '\0'; /* IPv4 "a.b.c.d:port" */
    }
    char *s = bk_arena_strndup(call->arena, tmp, strlen(tmp));
    return bk_str_c(s != NULL ? s : "/");
}

void bk_handle_join_group(struct bk_call *call)
{
    const struct bk_msg_join_group_request *req = call->request;
    int16_t v = call->hdr.api_version;
    struct join_state *st = BK_GOPS_ALLOC(call, struct join_state, 1);
    if (st == NULL) {
        return;
    }
    int32_t np = req->protocols_count < 0 ? 0 : req->protocols_count;
    struct bk_group_proto_in *protos =
        bk_arena_alloc(call->arena, (size_t)(np + 1) * sizeof(*protos));
    if (protos == NULL) {
        bk_req_fail(call->req, "out of memory");
        return;
    }
    st->w.join_done = join_done;
    st->w.sync_done = sync_unused;
    for (int32_t i = 0; i < np; i++) {
        protos[i].name = req->protocols[i].name;
        protos[i].metadata = req->protocols[i].metadata;
    }
    st->jreq = (struct bk_group_join_req){
        .member_id = req->member_id,
        .instance_id = v >= 5 ? req->group_instance_id : BK_STR_NULL,
        .client_id =
            call->hdr.client_id.len >= 0 ? call->hdr.client_id : bk_str_c(""),
        .client_host = client_host(call),
        .protocol_type = req->protocol_type,
        .session_timeout_ms = req->session_timeout_ms,
        .rebalance_timeout_ms = v >= 1 && req->rebalance_timeout_ms > 0
                                    ? req->rebalance_timeout_ms
                                    : req->session_timeout_ms,
        .protocols = protos,
        .nprotocols = (size_t)np,
        .require_known_member = v >= 4,
    };
    st->ops.items[0].group_id = req->group_id;
    st->ops.group_op = BK_ACL_OP_READ; /* security-notes.md §7 */
    if (bk_gops_start(&st->ops, run, done, st) != 0) {
        bk_req_fail(call->req, "out of memory");
    }
}
