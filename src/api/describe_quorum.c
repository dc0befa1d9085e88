/* DescribeQuorum (key 55), v0-2: the metadata quorum (KIP-595, KIP-836,
 * KIP-853 for v2's directory ids and nodes).
 *
 * Kafka answers it from the raft leader's own state, and brokers forward
 * it to the active controller (KIP-590), so the answer always has the
 * leader's view; here forward.c does that for a node that is not the
 * active controller (bk_fwd_wanted). On the active controller the
 * snapshot is taken on the raft thread (cluster/quorum.c) and the answer
 * built back on this shard, as broker_lifecycle.c does.
 *
 * The only partition is __cluster_metadata-0; anything else asked is
 * answered UNKNOWN_TOPIC_OR_PARTITION per partition, and a node that lost
 * leadership meanwhile NOT_LEADER_OR_FOLLOWER, as Kafka's raft client
 * does. Offsets are metadata offsets (records applied); directory ids are
 * the zero uuid, since brokerd has one metadata directory per node and no
 * KIP-853 directory ids. */
#include "protocol/gen/describe_quorum.h"

#include <string.h>

#include "api/call.h"
#include "cluster/controller.h"
#include "common/heap.h"
#include "protocol/kerr.h"

#define METADATA_TOPIC "__cluster_metadata"

typedef struct bk_msg_describe_quorum_response_replica_state out_replica;
typedef struct bk_msg_describe_quorum_response_partition_data out_partition;
typedef struct bk_msg_describe_quorum_response_topic_data out_topic;
typedef struct bk_msg_describe_quorum_response_node out_node;
typedef struct bk_msg_describe_quorum_response_listener out_listener;

struct quorum_call {
    struct bk_shard_msg msg;
    struct bk_call *call;
    int status;
    struct bk_md_quorum *q; /* owned */
};

static bool asks_for_metadata_log(
    const struct bk_msg_describe_quorum_request *r)
{
    return r->topics_count == 1 &&
           bk_str_eq(r->topics[0].topic_name, bk_str_c(METADATA_TOPIC)) &&
           r->topics[0].partitions_count == 1 &&
           r->topics[0].partitions[0].partition_index == 0;
}

/* Answers every partition asked with error (Kafka's
 * getPartitionLevelErrorResponse). */
static void reply_partition_error(struct bk_call *call, int16_t error)
{
    const struct bk_msg_describe_quorum_request *req = call->request;
    struct bk_msg_describe_quorum_response resp;
    bk_msg_describe_quorum_response_init(&resp);
    resp.error_message = BK_STR_NULL;
    int32_t nt = req->topics_count > 0 ? req->topics_count : 0;
    resp.topics =
        bk_arena_alloc(call->arena, (size_t)(nt + 1) * sizeof(*resp.topics));
    if (resp.topics == NULL) {
        bk_req_fail(call->req, "out of memory");
        return;
    }
    resp.topics_count = nt;
    for (int32_t t = 0; t < nt; t++) {
        const struct bk_msg_describe_quorum_request_topic_data *rt =
            &req->topics[t];
        int32_t np = rt->partitions_count > 0 ? rt->partitions_count : 0;
        out_topic *ot = &resp.topics[t];
        memset(ot, 0, sizeof(*ot));
        ot->topic_name = rt->topic_name;
        ot->partitions = bk_arena_alloc(
            call->arena, (size_t)(np + 1) * sizeof(out_partition));
        if (ot->partitions == NULL) {
            bk_req_fail(call->req, "out of memory");
            return;
        }
        ot->partitions_count = np;
        for (int32_t p = 0; p < np; p++) {
            out_partition *op = &ot->partitions[p];
            memset(op, 0, sizeof(*op));
            op->partition_index = rt->partitions[p].partition_index;
            op->error_code = error;
            op->error_message = BK_STR_NULL;
            op->leader_id = -1;
            op->leader_epoch = -1;
            op->high_watermark = -1;
        }
    }
    bk_call_reply(call, &resp);
}

static out_replica *replicas(struct bk_call *call,
                             const struct bk_md_replica_progress *v,
                             size_t n)
{
    out_replica *o = bk_arena_alloc(call->arena, (n + 1) * sizeof(*o));
    for (size_t i = 0; o != NULL && i < n; i++) {
        memset(&o[i], 0, sizeof(o[i]));
        o[i].replica_id = v[i].id;
        o[i].log_end_offset = v[i].log_end_offset;
        o[i].last_fetch_timestamp = v[i].last_fetch_ms;
        o[i].last_caught_up_timestamp = v[i].last_caught_up_ms;
    }
    return o;
}

/* v2's nodes: each voter and where it serves the controller's requests:
 * the endpoint it recorded when it was last active, else its broker
 * listener (a combined node serves both on its listeners). brokerd
 * records no listener names, so the name is Kafka's usual CONTROLLER. A
 * voter the image knows nothing of is left out. Returns false when out of
 * memory. */
static bool fill_nodes(struct bk_call *call,
                       const struct bk_md_quorum *q,
                       struct bk_msg_describe_quorum_response *resp)
{
    struct bk_md_image *img = bk_api_image(call);
    if (img == NULL) {
        return false;
    }
    resp->nodes =
        bk_arena_alloc(call->arena, (q->n_voters + 1) * sizeof(*resp->nodes));
    bool ok = resp->nodes != NULL;
    for (size_t i = 0; ok && i < q->n_voters; i++) {
        int32_t id = q->voters[i].id;
        const struct bk_md_controller *c = bk_md_image_controller(img, id);
        const struct bk_md_broker *b = bk_md_image_broker(img, id);
        const char *host = c != NULL ? c->host : b != NULL ? b->host : NULL;
        int32_t port = c != NULL ? c->port : b != NULL ? b->port : 0;
        if (host == NULL) {
            continue;
        }
        out_node *n = &resp->nodes[resp->nodes_count++];
        memset(n, 0, sizeof(*n));
        n->node_id = id;
        out_listener *l = bk_arena_alloc(call->arena, sizeof(*l));
        /* Copied: the image is released before the answer is encoded. */
        const char *h = bk_call_cstr(call, bk_str_c(host));
        ok = l != NULL && h != NULL;
        if (ok) {
            l->name = bk_str_c("CONTROLLER");
            l->host = bk_str_c(h);
            l->port = (uint16_t)port;
            n->listeners = l;
            n->listeners_count = 1;
        }
    }
    bk_md_image_release(img);
    return ok;
}

static void reply_quorum(struct bk_call *call, const struct bk_md_quorum *q)
{
    struct bk_msg_describe_quorum_response resp;
    bk_msg_describe_quorum_response_init(&resp);
    resp.error_message = BK_STR_NULL;
    resp.nodes_count = 0;
    out_topic *t = bk_arena_alloc(call->arena, sizeof(*t));
    out_partition *p = bk_arena_alloc(call->arena, sizeof(*p));
    if (t == NULL || p == NULL) {
        bk_req_fail(call->req, "out of memory");
        return;
    }
    memset(t, 0, sizeof(*t));
    memset(p, 0, sizeof(*p));
    t->topic_name = bk_str_c(METADATA_TOPIC);
    t->partitions = p;
    t->partitions_count = 1;
    p->partition_index = 0;
    p->error_code = 0;
    p->error_message = BK_STR_NULL;
    p->leader_id = q->leader;
    p->leader_epoch = (int32_t)q->term;
    p->high_watermark = q->high_watermark;
    p->current_voters = replicas(call, q->voters, q->n_voters);
    p->current_voters_count = (int32_t)q->n_voters;
    p->observers = replicas(call, q->observers, q->n_observers);
    p->observers_count = (int32_t)q->n_observers;
    resp.topics = t;
    resp.topics_count = 1;
    if (p->current_voters == NULL || p->observers == NULL ||
        !fill_nodes(call, q, &resp)) {
        bk_req_fail(call->req, "out of memory");
        return;
    }
    bk_call_reply(call, &resp);
}

static void back_on_shard(struct bk_shard *shard, struct bk_shard_msg *m)
{
    struct quorum_call *qc = (struct quorum_call *)m;
    (void)shard;
    if (qc->status == 0) {
        reply_quorum(qc->call, qc->q);
    } else if (qc->status == BK_ENOTLEADER) {
        reply_partition_error(qc->call, BK_KERR_NOT_LEADER_OR_FOLLOWER);
    } else {
        reply_partition_error(qc->call, BK_KERR_UNKNOWN_SERVER_ERROR);
    }
    bk_md_quorum_free(qc->q);
    bk_free(qc);
}

/* On the raft thread: hand the snapshot to the request's shard. */
static void quorum_done(void *data, int status, struct bk_md_quorum *q)
{
    struct quorum_call *qc = data;
    qc->status = status;
    qc->q = q;
    bk_shard_post(qc->call->req->shard, &qc->msg);
}

void bk_handle_describe_quorum(struct bk_call *call)
{
    const struct bk_msg_describe_quorum_request *req = call->request;
    if (!asks_for_metadata_log(req)) {
        reply_partition_error(call, BK_KERR_UNKNOWN_TOPIC_OR_PARTITION);
        return;
    }
    struct quorum_call *qc = bk_calloc(1, sizeof(*qc));
    if (qc == NULL) {
        bk_req_fail(call->req, "out of memory");
        return;
    }
    qc->msg.fn = back_on_shard;
    qc->call = call;
    if (bk_md_describe_quorum(call->ctx->md, quorum_done, qc) != 0) {
        bk_free(qc);
        reply_partition_error(call, BK_KERR_NOT_LEADER_OR_FOLLOWER);
    }
}
