/* ConsumerGroupHeartbeat (key 68), v0-1: the KIP-848 consumer protocol
 * (group.protocol=consumer), run on the group's coordinator shard by the
 * state machine in src/group/consumer.h with the topic metadata of the
 * current image. v1 clients name their member id (KIP-1082); v0 ones may
 * let the coordinator do it. */
#include "protocol/gen/consumer_group_heartbeat.h"

#include <stdio.h>
#include <string.h>

#include "api/access.h"
#include "api/group_coord.h"
#include "cluster/controller.h"
#include "cluster/image.h"
#include "group/consumer.h"
#include "protocol/kerr.h"

typedef struct bk_msg_consumer_group_heartbeat_response_topic_partitions out_tp;

struct cgh_state {
    struct bk_gops ops;
    struct bk_cgroup_heartbeat_req hb;
    int16_t error;
    struct bk_str error_message;
    struct bk_str member_id;
    int32_t member_epoch;
    int32_t interval;
    bool has_assignment;
    out_tp *tps; /* in the item's gbuf */
    int32_t ntps;
};

static int32_t topic_lookup(void *ctx, const char *name, struct bk_uuid *id)
{
    const struct bk_md_image *img = ctx;
    const struct bk_md_topic *t =
        img != NULL ? bk_md_image_topic(img, name, strlen(name)) : NULL;
    if (t == NULL) {
        return -1;
    }
    *id = t->id;
    return t->n_partitions;
}

static void run(struct bk_gops *ops,
                size_t i,
                struct bk_coord_group *gc,
                struct bk_fan_part *part)
{
    (void)part;
    struct cgh_state *st = ops->data;
    struct bk_gbuf *b = &ops->items[i].buf;
    struct bk_md_image *img = bk_md_image_acquire(ops->call->ctx->md);
    struct bk_cgroup_result res;
    bk_cgroup_heartbeat(bk_coord_group_registry(gc), ops->items[i].group_id,
                        &st->hb, topic_lookup, img, &res);
    bk_md_image_release(img);
    st->error = res.error;
    st->error_message = bk_gbuf_str(b, res.error_message);
    st->member_id = bk_gbuf_str(b, res.member_id);
    st->member_epoch = res.member_epoch;
    st->interval = res.heartbeat_interval_ms;
    if (res.assignment == NULL) {
        return;
    }
    const struct bk_cgroup_set *a = res.assignment;
    st->has_assignment = true;
    st->tps = bk_gbuf_alloc(b, (a->n + 1) * sizeof(out_tp));
    int32_t *parts = bk_gbuf_alloc(b, (a->n + 1) * sizeof(int32_t));
    if (st->tps == NULL || parts == NULL) {
        return;
    }
    /* Group by topic id, partitions contiguous per topic. */
    bool *used = bk_gbuf_alloc(b, a->n + 1);
    if (used == NULL) {
        return;
    }
    memset(used, 0, a->n + 1);
    size_t k = 0;
    for (size_t x = 0; x < a->n; x++) {
        if (used[x]) {
            continue;
        }
        out_tp *t = &st->tps[st->ntps++];
        memset(t, 0, sizeof(*t));
        t->topic_id = a->v[x].topic_id;
        t->partitions = &parts[k];
        for (size_t y = x; y < a->n; y++) {
            if (!used[y] && memcmp(&a->v[y].topic_id, &t->topic_id,
                                   sizeof(t->topic_id)) == 0) {
                used[y] = true;
                parts[k++] = a->v[y].partition;
                t->partitions_count++;
            }
        }
    }
}

static void done(struct bk_gops *ops)
{
    struct cgh_state *st = ops->data;
    struct bk_msg_consumer_group_heartbeat_response resp;
    bk_msg_consumer_group_heartbeat_response_init(&resp);
    struct bk_msg_consumer_group_heartbeat_response_assignment asg;
    memset(&asg, 0, sizeof(asg));
    resp.member_epoch = -1;
    resp.heartbeat_interval_ms = BK_CGROUP_HEARTBEAT_INTERVAL_MS;
    if (ops->items[0].error != 0) {
        resp.error_code = ops->items[0].error;
    } else if (ops->items[0].buf.failed) {
        resp.error_code = BK_KERR_UNKNOWN_SERVER_ERROR;
    } else {
        resp.error_code = st->error;
        resp.error_message = st->error_message;
        resp.member_id = st->member_id;
        resp.member_epoch = st->member_epoch;
        resp.heartbeat_interval_ms = st->interval;
        if (st->error == 0 && st->has_assignment && st->tps != NULL) {
            asg.topic_partitions = st->tps;
            asg.topic_partitions_count = st->ntps;
            resp.assignment = &asg;
        }
    }
    if (resp.error_code != 0 && resp.error_message.len < 0) {
        resp.error_message = bk_str_c(bk_kerr_message(resp.error_code));
    }
    bk_gops_reply(ops, &resp);
}

/* KIP-848's protocol is group.version 1: with the feature finalized below
 * that (UpdateFeatures), Kafka 4.1 answers every heartbeat with
 * UNSUPPORTED_VERSION and no message, and so does brokerd. Returns true
 * when it answered. */
static bool refused_by_group_version(struct bk_call *call)
{
    struct bk_md_image *img = bk_api_image(call);
    bool off = img != NULL && img->features_finalized &&
               img->features[BK_MD_FEAT_GROUP] < 1;
    bk_md_image_release(img);
    if (!off) {
        return false;
    }
    struct bk_msg_consumer_group_heartbeat_response resp;
    bk_msg_consumer_group_heartbeat_response_init(&resp);
    resp.error_code = BK_KERR_UNSUPPORTED_VERSION;
    bk_call_reply(call, &resp);
    return true;
}

void bk_handle_consumer_group_heartbeat(struct bk_call *call)
{
    const struct bk_msg_consumer_group_heartbeat_request *req = call->request;
    if (refused_by_group_version(call)) {
        return;
    }
    struct cgh_state *st = BK_GOPS_ALLOC(call, struct cgh_state, 1);
    if (st == NULL) {
        return;
    }
    struct bk_cgroup_tp *owned = NULL;
    int32_t nowned = -1;
    if (req->topic_partitions_count >= 0) {
        size_t n = 0;
        for (int32_t t = 0; t < req->topic_partitions_count; t++) {
            int32_t c = req->topic_partitions[t].partitions_count;
            n += c > 0 ? (size_t)c : 0;
        }
        owned = bk_arena_alloc(call->arena, (n + 1) * sizeof(*owned));
        if (owned == NULL) {
            bk_req_fail(call->req, "out of memory");
            return;
        }
        nowned = 0;
        for (int32_t t = 0; t < req->topic_partitions_count; t++) {
            for (int32_t p = 0; p < req->topic_partitions[t].partitions_count;
                 p++) {
                owned[nowned].topic_id = req->topic_partitions[t].topic_id;
                owned[nowned].partition =
                    req->topic_partitions[t].partitions[p];
                nowned++;
            }
        }
    }
    /* Kafka shows the client host as "/<address>". */
    const char *peer = bk_conn_peer(call->req->conn);
    char host[128];
    snprintf(host, sizeof(host), "/%s", peer != NULL ? peer : "");
    char *colon = strrchr(host, ':');
    if (colon != NULL && strchr(host, ':') == colon) {
        *colon = '\0';
    }
    char *host_copy = bk_arena_strndup(call->arena, host, strlen(host));
    st->hb = (struct bk_cgroup_heartbeat_req){
        .member_id = req->member_id,
        .member_epoch = req->member_epoch,
        .instance_id = req->instance_id,
        .client_id =
            call->hdr.client_id.len >= 0 ? call->hdr.client_id : bk_str_c(""),
        .client_host = bk_str_c(host_copy != NULL ? host_copy : "/"),
        .rebalance_timeout_ms = req->rebalance_timeout_ms,
        .topics = req->subscribed_topic_names_count >= 0
                      ? req->subscribed_topic_names
                      : NULL,
        .ntopics = req->subscribed_topic_names_count,
        .regex = req->subscribed_topic_regex, /* v1+; null before */
        .server_assignor = req->server_assignor,
        .owned = nowned >= 0 ? owned : NULL,
        .nowned = nowned,
    };
    static const struct bk_str no_topics[1];
    if (st->hb.topics == NULL && req->subscribed_topic_names_count == 0) {
        st->hb.topics = no_topics; /* an empty subscription, not "same" */
    }
    st->ops.items[0].group_id = req->group_id;
    st->ops.group_op = BK_ACL_OP_READ; /* security-notes.md §7 */
    if (bk_gops_start(&st->ops, run, done, st) != 0) {
        bk_req_fail(call->req, "out of memory");
    }
}
