#include "server/lifecycle.h"

#include <stdio.h>
#include <string.h>

#include "cluster/controller.h"
#include "cluster/features.h"
#include "common/diag.h"
#include "common/err.h"
#include "common/heap.h"
#include "protocol/gen/api.h"
#include "protocol/gen/broker_heartbeat.h"
#include "protocol/gen/broker_registration.h"
#include "protocol/header.h"
#include "protocol/kerr.h"

#define RETRY_MS     100 /* no controller yet, or it did not answer */
#define FENCED_MS    50  /* while waiting to be unfenced or let go */
#define DUPLICATE_MS 500 /* another incarnation still holds the id */
#define REG_VERSION  3
#define HB_VERSION   1

/* One request to the controller, with the memory of its frames. */
struct rpc {
    struct bk_lc *lc;
    struct bk_arena arena;
    int16_t key;
};

static void tick(uv_timer_t *t);

static void schedule(struct bk_lc *lc, uint64_t ms)
{
    if (!lc->done) {
        uv_timer_start(&lc->timer, tick, ms, 0);
    }
}

static void fatal(struct bk_lc *lc, const char *why)
{
    lc->done = true;
    lc->cfg.on_fatal(lc->cfg.data, why);
}

static void registered(struct bk_lc *lc,
                       const struct bk_msg_broker_registration_response *r)
{
    char why[300];
    switch (r->error_code) {
        case BK_KERR_NONE:
            lc->epoch = r->broker_epoch;
            bk_diag_info("server",
                         "epoch=%lld msg=\"registered with the "
                         "controller\"",
                         (long long)lc->epoch);
            schedule(lc, 0);
            return;
        case BK_KERR_INCONSISTENT_CLUSTER_ID:
            snprintf(why, sizeof(why),
                     "this node was formatted for cluster %s, but the "
                     "controller belongs to another cluster "
                     "(INCONSISTENT_CLUSTER_ID)",
                     lc->cfg.cluster_id);
            fatal(lc, why);
            return;
        case BK_KERR_UNSUPPORTED_VERSION:
            fatal(lc,
                  "the controller refused this broker: it does not "
                  "support the cluster's finalized feature levels");
            return;
        case BK_KERR_DUPLICATE_BROKER_REGISTRATION:
            if (lc->warned_code != r->error_code) {
                bk_diag_warn("server",
                             "node.id=%d msg=\"another live broker "
                             "is registered with this node.id; waiting for "
                             "its session to end\"",
                             lc->cfg.node_id);
                lc->warned_code = r->error_code;
            }
            schedule(lc, DUPLICATE_MS);
            return;
        default:
            schedule(lc, RETRY_MS);
    }
}

static void heartbeat_answered(struct bk_lc *lc,
                               const struct bk_msg_broker_heartbeat_response *r)
{
    if (r->error_code == BK_KERR_STALE_BROKER_EPOCH) {
        lc->epoch = -1; /* the controller forgot us: register again */
        schedule(lc, 0);
        return;
    }
    if (r->error_code != BK_KERR_NONE) {
        schedule(lc, RETRY_MS);
        return;
    }
    lc->fenced = r->is_fenced;
    if (!r->is_fenced && !lc->ready) {
        lc->ready = true;
        lc->cfg.on_ready(lc->cfg.data);
    }
    if (lc->want_shut_down && r->should_shut_down) {
        lc->done = true;
        bk_diag_info("server", "msg=\"the controller let this broker go\"");
        lc->cfg.on_shutdown_done(lc->cfg.data);
        return;
    }
    schedule(lc, lc->fenced || lc->want_shut_down ? FENCED_MS
                                                  : lc->cfg.heartbeat_ms);
}

static void answered(void *data, int status, const uint8_t *resp, size_t len)
{
    struct rpc *rpc = data;
    struct bk_lc *lc = rpc->lc;
    lc->in_flight = false;
    if (lc->done) {
        goto out;
    }
    union {
        struct bk_msg_broker_registration_response reg;
        struct bk_msg_broker_heartbeat_response hb;
    } r;
    int16_t version =
        rpc->key == BK_API_BROKER_REGISTRATION ? REG_VERSION : HB_VERSION;
    if (status != 0 || bk_resp_frame_decode(&rpc->arena, rpc->key, version,
                                            resp, len, &r) != 0) {
        schedule(lc, RETRY_MS);
    } else if (rpc->key == BK_API_BROKER_REGISTRATION) {
        registered(lc, &r.reg);
    } else {
        heartbeat_answered(lc, &r.hb);
    }
out:
    bk_arena_destroy(&rpc->arena);
    bk_free(rpc);
}

static int fill_registration(struct bk_lc *lc,
                             struct bk_arena *a,
                             struct bk_msg_broker_registration_request *req)
{
    bk_msg_broker_registration_request_init(req);
    req->broker_id = lc->cfg.node_id;
    req->cluster_id = bk_str_c(lc->cfg.cluster_id);
    req->incarnation_id = lc->cfg.incarnation;
    req->listeners = bk_arena_alloc(a, sizeof(*req->listeners));
    req->features =
        bk_arena_alloc(a, BK_MD_N_FEATURES * sizeof(*req->features));
    if (req->listeners == NULL || req->features == NULL) {
        return BK_ENOMEM;
    }
    req->listeners[0] = (struct bk_msg_broker_registration_request_listener){
        .name = bk_str_c(lc->cfg.listener_name),
        .host = bk_str_c(lc->cfg.host),
        .port = (uint16_t)lc->cfg.port,
        .security_protocol = lc->cfg.security_protocol,
    };
    req->listeners_count = 1;
    for (unsigned f = 0; f < BK_MD_N_FEATURES; f++) {
        const struct bk_md_feature_def *d = bk_md_feature_def(f);
        req->features[f].name = bk_str_c(d->name);
        req->features[f].min_supported_version = d->min;
        req->features[f].max_supported_version = d->max;
    }
    req->features_count = BK_MD_N_FEATURES;
    req->rack = lc->cfg.rack != NULL ? bk_str_c(lc->cfg.rack) : BK_STR_NULL;
    req->log_dirs_count = 0;
    return 0;
}

/* Encodes and sends this turn's request: a registration until one is
 * accepted, then heartbeats. */
static int send_next(struct bk_lc *lc, struct rpc *rpc)
{
    union {
        struct bk_msg_broker_registration_request reg;
        struct bk_msg_broker_heartbeat_request hb;
    } req;
    int16_t version;
    if (lc->epoch < 0) {
        rpc->key = BK_API_BROKER_REGISTRATION;
        version = REG_VERSION;
        int rv = fill_registration(lc, &rpc->arena, &req.reg);
        if (rv != 0) {
            return rv;
        }
    } else {
        rpc->key = BK_API_BROKER_HEARTBEAT;
        version = HB_VERSION;
        bk_msg_broker_heartbeat_request_init(&req.hb);
        struct bk_md_image *img = bk_md_image_acquire(lc->ch.md);
        req.hb.current_metadata_offset = img->offset;
        bk_md_image_release(img);
        req.hb.broker_id = lc->cfg.node_id;
        req.hb.broker_epoch = lc->epoch;
        req.hb.want_shut_down = lc->want_shut_down;
    }
    uint8_t *frame;
    size_t len;
    int rv = bk_req_frame_encode(&rpc->arena, rpc->key, version, 0, "brokerd",
                                 &req, &frame, &len);
    if (rv == 0) {
        rv = bk_ctl_channel_send(&lc->ch, frame, len, answered, rpc);
    }
    return rv;
}

/* ---- this node is the active controller ---------------------------- */

/* On the raft thread: hand the answer to the control loop. */
static void local_done(void *data, const struct bk_md_member_resp *resp)
{
    struct bk_lc *lc = data;
    pthread_mutex_lock(&lc->lock);
    lc->local = *resp;
    if (!lc->closed) {
        uv_async_send(&lc->async);
    }
    pthread_mutex_unlock(&lc->lock);
}

static void local_answered(uv_async_t *h)
{
    struct bk_lc *lc = h->data;
    pthread_mutex_lock(&lc->lock);
    struct bk_md_member_resp r = lc->local;
    pthread_mutex_unlock(&lc->lock);
    lc->in_flight = false;
    if (lc->done) {
        return;
    }
    if (lc->local_key == BK_API_BROKER_REGISTRATION) {
        struct bk_msg_broker_registration_response reg = {
            .error_code = r.error,
            .broker_epoch = r.epoch,
        };
        registered(lc, &reg);
        return;
    }
    struct bk_msg_broker_heartbeat_response hb = {
        .error_code = r.error,
        .is_caught_up = r.caught_up,
        .is_fenced = r.fenced,
        .should_shut_down = r.should_shut_down,
    };
    heartbeat_answered(lc, &hb);
}

static int send_local(struct bk_lc *lc)
{
    struct bk_md *md = lc->ch.md;
    if (lc->epoch < 0) {
        struct bk_md_registration reg = {
            .id = lc->cfg.node_id,
            .incarnation = lc->cfg.incarnation,
            .cluster_id = lc->cfg.cluster_id,
            .host = lc->cfg.host,
            .port = lc->cfg.port,
            .rack = lc->cfg.rack,
        };
        lc->local_key = BK_API_BROKER_REGISTRATION;
        return bk_md_broker_register(md, &reg, local_done, lc);
    }
    struct bk_md_image *img = bk_md_image_acquire(md);
    struct bk_md_heartbeat hb = {
        .id = lc->cfg.node_id,
        .epoch = lc->epoch,
        .metadata_offset = img->offset,
        .want_shut_down = lc->want_shut_down,
    };
    bk_md_image_release(img);
    lc->local_key = BK_API_BROKER_HEARTBEAT;
    return bk_md_broker_heartbeat(md, &hb, local_done, lc);
}

static bool out_of_time(struct bk_lc *lc)
{
    uint64_t now = uv_now(lc->loop);
    if (lc->want_shut_down &&
        now - lc->shutdown_at >= lc->cfg.shutdown_wait_ms) {
        bk_diag_warn("server",
                     "msg=\"controlled shutdown not confirmed in "
                     "time; stopping anyway\"");
        lc->done = true;
        lc->cfg.on_shutdown_done(lc->cfg.data);
        return true;
    }
    if (lc->epoch < 0 && !lc->ready &&
        now - lc->started_at >= lc->cfg.register_ms) {
        char why[200];
        snprintf(why, sizeof(why),
                 "could not register with the active controller within "
                 "initial.broker.registration.timeout.ms (%u ms)",
                 lc->cfg.register_ms);
        fatal(lc, why);
        return true;
    }
    return false;
}

static void tick(uv_timer_t *t)
{
    struct bk_lc *lc = t->data;
    if (lc->done || lc->in_flight || out_of_time(lc)) {
        return;
    }
    if (bk_md_is_active(lc->ch.md)) {
        if (send_local(lc) != 0) {
            schedule(lc, RETRY_MS);
            return;
        }
        lc->in_flight = true;
        return;
    }
    struct rpc *rpc = bk_calloc(1, sizeof(*rpc));
    if (rpc == NULL) {
        schedule(lc, RETRY_MS);
        return;
    }
    rpc->lc = lc;
    bk_arena_init(&rpc->arena, 1024, 0);
    int rv = send_next(lc, rpc);
    if (rv != 0) {
        /* No controller known yet (an election), or no memory. */
        bk_arena_destroy(&rpc->arena);
        bk_free(rpc);
        schedule(lc, RETRY_MS);
        return;
    }
    lc->in_flight = true;
}

void bk_lc_start(struct bk_lc *lc,
                 uv_loop_t *loop,
                 struct bk_md *md,
                 const struct bk_lc_config *cfg)
{
    memset(lc, 0, sizeof(*lc));
    lc->cfg = *cfg;
    lc->loop = loop;
    lc->epoch = -1;
    lc->fenced = true;
    lc->started_at = uv_now(loop);
    bk_ctl_channel_init(&lc->ch, loop, md);
    pthread_mutex_init(&lc->lock, NULL);
    uv_async_init(loop, &lc->async, local_answered);
    lc->async.data = lc;
    uv_timer_init(loop, &lc->timer);
    lc->timer.data = lc;
    schedule(lc, 0);
}

void bk_lc_shut_down(struct bk_lc *lc)
{
    if (lc->done || lc->want_shut_down) {
        return;
    }
    lc->want_shut_down = true;
    lc->shutdown_at = uv_now(lc->loop);
    if (lc->epoch < 0) {
        /* Never registered: nothing to hand over. */
        lc->done = true;
        lc->cfg.on_shutdown_done(lc->cfg.data);
        return;
    }
    if (!lc->in_flight) {
        schedule(lc, 0);
    }
}

void bk_lc_close(struct bk_lc *lc)
{
    lc->done = true;
    pthread_mutex_lock(&lc->lock);
    lc->closed = true; /* a late answer from the raft thread is dropped */
    pthread_mutex_unlock(&lc->lock);
    uv_close((uv_handle_t *)&lc->async, NULL);
    uv_timer_stop(&lc->timer);
    uv_close((uv_handle_t *)&lc->timer, NULL);
    bk_ctl_channel_close(&lc->ch);
}
