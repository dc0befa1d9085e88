/* BrokerRegistration (key 62, v0-4) and BrokerHeartbeat (key 63, v0-1):
 * the controller's side of broker membership (issue 12).
 *
 * brokerd nodes send these to the active controller's listener; they are
 * never advertised to clients (dispatch.c keeps them in its internal
 * table). The decisions are the controller's, on the raft thread
 * (cluster/heartbeats.c); the answer comes back to this shard through its
 * inbox, like a proposal's (propose.c). A node that is not the active
 * controller answers NOT_CONTROLLER, and the broker looks again. */
#include <string.h>

#include "api/call.h"
#include "cluster/controller.h"
#include "cluster/features.h"
#include "common/diag.h"
#include "common/heap.h"
#include "protocol/gen/broker_heartbeat.h"
#include "protocol/gen/broker_registration.h"
#include "protocol/kerr.h"

struct member_call {
    struct bk_shard_msg msg;
    struct bk_call *call;
    struct bk_md_member_resp resp;
};

static void reply_member(struct bk_call *call,
                         const struct bk_md_member_resp *r)
{
    if (call->hdr.api_key == BK_API_BROKER_REGISTRATION) {
        struct bk_msg_broker_registration_response resp;
        bk_msg_broker_registration_response_init(&resp);
        resp.error_code = r->error;
        resp.broker_epoch = r->error == 0 ? r->epoch : -1;
        bk_call_reply(call, &resp);
        return;
    }
    struct bk_msg_broker_heartbeat_response resp;
    bk_msg_broker_heartbeat_response_init(&resp);
    resp.error_code = r->error;
    resp.is_caught_up = r->caught_up;
    resp.is_fenced = r->fenced;
    resp.should_shut_down = r->should_shut_down;
    bk_call_reply(call, &resp);
}

static void back_on_shard(struct bk_shard *shard, struct bk_shard_msg *m)
{
    struct member_call *mc = (struct member_call *)m;
    (void)shard;
    if (mc->resp.error != 0 && mc->resp.msg[0] != '\0') {
        bk_diag_info("api", "api=%s error=%d msg=\"%s\"", mc->call->desc->name,
                     mc->resp.error, mc->resp.msg);
    }
    reply_member(mc->call, &mc->resp);
    bk_free(mc);
}

/* On the raft thread: hand the answer to the request's shard. */
static void member_done(void *data, const struct bk_md_member_resp *resp)
{
    struct member_call *mc = data;
    mc->resp = *resp;
    bk_shard_post(mc->call->req->shard, &mc->msg);
}

static struct member_call *member_call(struct bk_call *call)
{
    struct member_call *mc = bk_calloc(1, sizeof(*mc));
    if (mc != NULL) {
        mc->msg.fn = back_on_shard;
        mc->call = call;
    }
    return mc;
}

static void refuse(struct bk_call *call, int16_t error)
{
    struct bk_md_member_resp r = { .error = error,
                                   .epoch = -1,
                                   .fenced = true };
    reply_member(call, &r);
}

/* Kafka's controller refuses a broker that cannot run at the finalized
 * feature levels (UNSUPPORTED_VERSION). A feature the broker does not
 * list is supported at level 0 only. */
static bool supports_features(
    const struct bk_md_image *img,
    const struct bk_msg_broker_registration_request *r)
{
    for (unsigned f = 0; img->features_finalized && f < BK_MD_N_FEATURES; f++) {
        const char *name = bk_md_feature_def(f)->name;
        int16_t lo = 0, hi = 0;
        for (int32_t i = 0; i < r->features_count; i++) {
            if (bk_str_eq(r->features[i].name, bk_str_c(name))) {
                lo = r->features[i].min_supported_version;
                hi = r->features[i].max_supported_version;
            }
        }
        if (img->features[f] < lo || img->features[f] > hi) {
            return false;
        }
    }
    return true;
}

void bk_handle_broker_registration(struct bk_call *call)
{
    const struct bk_msg_broker_registration_request *req = call->request;
    struct bk_md *md = call->ctx->md;
    if (!bk_md_is_active(md)) {
        refuse(call, BK_KERR_NOT_CONTROLLER);
        return;
    }
    struct bk_md_image *img = bk_api_image(call);
    bool ok = supports_features(img, req);
    bk_md_image_release(img);
    if (!ok) {
        refuse(call, BK_KERR_UNSUPPORTED_VERSION);
        return;
    }
    if (req->listeners_count <= 0) {
        refuse(call, BK_KERR_INVALID_REQUEST);
        return;
    }
    /* The first listener is the one clients are given (the broker sends
     * its advertised client listener first). */
    const struct bk_msg_broker_registration_request_listener *l =
        &req->listeners[0];
    struct bk_md_registration reg = {
        .id = req->broker_id,
        .incarnation = req->incarnation_id,
        .cluster_id = bk_call_cstr(call, req->cluster_id),
        .host = bk_call_cstr(call, l->host),
        .port = l->port,
        .rack = req->rack.len >= 0 ? bk_call_cstr(call, req->rack) : NULL,
    };
    struct member_call *mc = member_call(call);
    if (mc == NULL || reg.cluster_id == NULL || reg.host == NULL ||
        bk_md_broker_register(md, &reg, member_done, mc) != 0) {
        bk_free(mc);
        refuse(call, BK_KERR_NOT_CONTROLLER);
    }
}

/* The broker's heartbeat connection, watched for its close
 * (bk_md_broker_disconnected). */
struct watch {
    struct bk_md *md;
    int32_t id;
    int64_t epoch;
    uint64_t conn;
};

static void connection_closed(void *data)
{
    struct watch *w = data;
    (void)bk_md_broker_disconnected(w->md, w->id, w->epoch, w->conn);
    bk_free(w);
}

static void watch_connection(struct bk_call *call, int32_t id, int64_t epoch)
{
    struct watch *w = bk_malloc(sizeof(*w));
    if (w == NULL) {
        return; /* the session timeout still holds */
    }
    *w =
        (struct watch){ call->ctx->md, id, epoch, bk_conn_id(call->req->conn) };
    if (!bk_conn_on_close(call->req->conn, connection_closed, w)) {
        bk_free(w); /* already watched (an earlier heartbeat) */
    }
}

void bk_handle_broker_heartbeat(struct bk_call *call)
{
    const struct bk_msg_broker_heartbeat_request *req = call->request;
    struct bk_md *md = call->ctx->md;
    if (!bk_md_is_active(md)) {
        refuse(call, BK_KERR_NOT_CONTROLLER);
        return;
    }
    struct bk_md_heartbeat hb = {
        .id = req->broker_id,
        .epoch = req->broker_epoch,
        .metadata_offset = req->current_metadata_offset,
        .want_fence = req->want_fence,
        .want_shut_down = req->want_shut_down,
        .conn = bk_conn_id(call->req->conn),
    };
    watch_connection(call, req->broker_id, req->broker_epoch);
    struct member_call *mc = member_call(call);
    if (mc == NULL || bk_md_broker_heartbeat(md, &hb, member_done, mc) != 0) {
        bk_free(mc);
        refuse(call, BK_KERR_NOT_CONTROLLER);
    }
}
