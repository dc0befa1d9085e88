/* AddRaftVoter (key 80) and RemoveRaftVoter (key 81): adding and removing
 * a controller (KIP-853's APIs, issue 12).
 *
 * brokerd's voters speak canonical/raft's protocol on a raft port of their
 * own, so AddRaftVoter names the new voter's raft address as its first
 * listener (brokerctl quorum add-controller sends it so); Kafka names the
 * controller listener there. That is why these two are not advertised to
 * clients (dispatch.c's internal table): kafka-metadata-quorum.sh
 * add-controller would send another address. Sent to any node, they are
 * forwarded to the active controller (forward.c), which makes the change
 * (cluster/membership.c) and answers once it is made. */
#include <stdio.h>

#include "api/call.h"
#include "cluster/controller.h"
#include "common/diag.h"
#include "common/heap.h"
#include "protocol/gen/add_raft_voter.h"
#include "protocol/gen/remove_raft_voter.h"
#include "protocol/kerr.h"

struct voter_call {
    struct bk_shard_msg msg;
    struct bk_call *call;
    struct bk_md_member_resp resp;
};

static void reply(struct bk_call *call, int16_t error, const char *message)
{
    struct bk_str text =
        error != 0 && message != NULL ? bk_str_c(message) : BK_STR_NULL;
    if (call->hdr.api_key == BK_API_ADD_RAFT_VOTER) {
        struct bk_msg_add_raft_voter_response resp;
        bk_msg_add_raft_voter_response_init(&resp);
        resp.error_code = error;
        resp.error_message = text;
        bk_call_reply(call, &resp);
        return;
    }
    struct bk_msg_remove_raft_voter_response resp;
    bk_msg_remove_raft_voter_response_init(&resp);
    resp.error_code = error;
    resp.error_message = text;
    bk_call_reply(call, &resp);
}

static void back_on_shard(struct bk_shard *shard, struct bk_shard_msg *m)
{
    struct voter_call *vc = (struct voter_call *)m;
    (void)shard;
    bk_diag_info("api", "api=%s error=%d msg=\"%s\"", vc->call->desc->name,
                 vc->resp.error, vc->resp.msg);
    char *text = bk_call_cstr(vc->call, bk_str_c(vc->resp.msg));
    reply(vc->call, vc->resp.error, text);
    bk_free(vc);
}

static void changed(void *data, const struct bk_md_member_resp *resp)
{
    struct voter_call *vc = data;
    vc->resp = *resp;
    bk_shard_post(vc->call->req->shard, &vc->msg);
}

static struct voter_call *voter_call(struct bk_call *call)
{
    struct voter_call *vc = bk_calloc(1, sizeof(*vc));
    if (vc != NULL) {
        vc->msg.fn = back_on_shard;
        vc->call = call;
    }
    return vc;
}

void bk_handle_add_raft_voter(struct bk_call *call)
{
    const struct bk_msg_add_raft_voter_request *req = call->request;
    if (req->listeners_count < 1 || req->listeners[0].host.len <= 0) {
        reply(call, BK_KERR_INVALID_REQUEST,
              "The new voter's raft address is missing (its first listener).");
        return;
    }
    char addr[320];
    snprintf(addr, sizeof(addr), "%.*s:%u", (int)req->listeners[0].host.len,
             req->listeners[0].host.ptr, (unsigned)req->listeners[0].port);
    struct voter_call *vc = voter_call(call);
    if (vc == NULL ||
        bk_md_add_voter(call->ctx->md, req->voter_id, addr, changed, vc) != 0) {
        bk_free(vc);
        reply(call, BK_KERR_NOT_CONTROLLER, NULL);
    }
}

void bk_handle_remove_raft_voter(struct bk_call *call)
{
    const struct bk_msg_remove_raft_voter_request *req = call->request;
    struct voter_call *vc = voter_call(call);
    if (vc == NULL ||
        bk_md_remove_voter(call->ctx->md, req->voter_id, changed, vc) != 0) {
        bk_free(vc);
        reply(call, BK_KERR_NOT_CONTROLLER, NULL);
    }
}
