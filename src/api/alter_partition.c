/* AlterPartition (key 56, v0-3): partition leaders propose ISR changes to
 * the active controller (issue 13, replication-notes.md §4).
 *
 * Internal, like BrokerRegistration: only brokerd nodes send it, to the
 * active controller (api/ctl_channel.h), and dispatch.c never advertises
 * it. The decisions are the controller's, on the raft thread
 * (cluster/alter_partition.c); the answer comes back to this shard through
 * its inbox once the change is applied. A node that is not the active
 * controller answers NOT_CONTROLLER and the leader looks again. */
#include "protocol/gen/alter_partition.h"

#include "api/call.h"
#include "cluster/controller.h"
#include "common/heap.h"
#include "protocol/kerr.h"

struct ap_call {
    struct bk_shard_msg msg;
    struct bk_call *call;
    struct bk_msg_alter_partition_response resp; /* arrays in the arena */
};

static void back_on_shard(struct bk_shard *shard, struct bk_shard_msg *m)
{
    struct ap_call *ap = (struct ap_call *)m;
    (void)shard;
    bk_call_reply(ap->call, &ap->resp);
    bk_free(ap);
}

/* On the raft thread: hand the answer to the request's shard. */
static void decided(void *data, int status)
{
    struct ap_call *ap = data;
    (void)status; /* always 0: errors are in the answer */
    bk_shard_post(ap->call->req->shard, &ap->msg);
}

static void refuse(struct bk_call *call, int16_t error)
{
    struct bk_msg_alter_partition_response resp;
    bk_msg_alter_partition_response_init(&resp);
    resp.error_code = error;
    bk_call_reply(call, &resp);
}

void bk_handle_alter_partition(struct bk_call *call)
{
    const struct bk_msg_alter_partition_request *req = call->request;
    struct bk_md *md = call->ctx->md;
    if (!bk_md_is_active(md)) {
        refuse(call, BK_KERR_NOT_CONTROLLER);
        return;
    }
    struct ap_call *ap = bk_calloc(1, sizeof(*ap));
    if (ap == NULL) {
        refuse(call, BK_KERR_UNKNOWN_SERVER_ERROR);
        return;
    }
    ap->msg.fn = back_on_shard;
    ap->call = call;
    int16_t version = call->hdr.api_version;
    if (bk_md_alter_partition_prepare(req, version, &ap->resp, call->arena) !=
        0) {
        bk_free(ap);
        refuse(call, BK_KERR_UNKNOWN_SERVER_ERROR);
        return;
    }
    /* Kafka answers an empty request at once, epoch unchecked. */
    if (ap->resp.topics_count == 0) {
        bk_free(ap);
        refuse(call, BK_KERR_NONE);
        return;
    }
    if (bk_md_alter_partition(md, req, version, &ap->resp, decided, ap) != 0) {
        bk_free(ap);
        refuse(call, BK_KERR_NOT_CONTROLLER);
    }
}
