/* Requests only the active controller may decide (KIP-590's forwarding).
 *
 * Admin requests that change cluster metadata (CreateTopics, DeleteTopics,
 * CreatePartitions, AlterConfigs, IncrementalAlterConfigs, UpdateFeatures,
 * CreateAcls, DeleteAcls)
 * must be validated against the active controller's image, not a
 * follower's, which may lag: a CreatePartitions decided on a stale image
 * would overwrite partitions created meanwhile. A node that is not the
 * active controller therefore sends the client's frame unchanged to the
 * active controller (api/ctl_channel.h) and relays its answer, so that
 * clients never see NOT_CONTROLLER from a broker (issue 12).
 *
 * While no controller is known (an election) the request waits, retrying
 * every RETRY_MS for up to WAIT_MS. A request that may have reached the
 * controller but got no answer (connection lost, timeout) is not resent:
 * it might have been applied. Its connection is closed instead, which
 * every client treats as retriable, as it does the same loss with Kafka.
 *
 * Internal creations (auto-created topics, __consumer_offsets) go the same
 * way as a CreateTopics request of this node's own. */
#include "api/forward.h"

#include <stdio.h>
#include <string.h>

#include "api/call.h"
#include "cluster/controller.h"
#include "common/diag.h"
#include "common/err.h"
#include "common/heap.h"
#include "protocol/gen/create_topics.h"
#include "protocol/header.h"
#include "protocol/kerr.h"

#define RETRY_MS 50
#define WAIT_MS  15000

struct fwd {
    struct bk_api_waiting waiting; /* listed while the timer runs */
    struct bk_call *call;
    uv_timer_t timer;
    uint64_t deadline;
    bool listed;
};

bool bk_fwd_wanted(const struct bk_call *call)
{
    switch (call->hdr.api_key) {
        case BK_API_CREATE_TOPICS:
        case BK_API_DELETE_TOPICS:
        case BK_API_CREATE_PARTITIONS:
        case BK_API_ALTER_CONFIGS:
        case BK_API_INCREMENTAL_ALTER_CONFIGS:
        case BK_API_UPDATE_FEATURES:
        case BK_API_ALTER_USER_SCRAM_CREDENTIALS:
        case BK_API_ELECT_LEADERS:
        case BK_API_ALTER_PARTITION_REASSIGNMENTS:
        case BK_API_LIST_PARTITION_REASSIGNMENTS:
        case BK_API_ADD_RAFT_VOTER:
        case BK_API_REMOVE_RAFT_VOTER:
        case BK_API_DESCRIBE_QUORUM:
        case BK_API_ALTER_CLIENT_QUOTAS:
        case BK_API_CREATE_ACLS:
        case BK_API_DELETE_ACLS:
            return !bk_md_is_active(call->ctx->md);
        default:
            return false;
    }
}

static struct bk_ctl_channel *channel_of(struct bk_shard *shard)
{
    struct bk_api_shard *st = shard->app;
    return &st->ctl;
}

static void fwd_closed(uv_handle_t *h)
{
    bk_free(h->data);
}

/* Ends the forwarding state (the call is answered or failed already). */
static void fwd_free(struct fwd *f)
{
    if (f->listed) {
        bk_api_waiting_remove(f->call->req->shard, &f->waiting);
        f->listed = false;
    }
    uv_close((uv_handle_t *)&f->timer, fwd_closed);
}

static void relay(struct bk_call *call, const uint8_t *resp, size_t len)
{
    uint8_t *buf = bk_arena_alloc(call->arena, 4 + len);
    if (buf == NULL) {
        bk_req_fail(call->req, "out of memory for a forwarded answer");
        return;
    }
    struct bk_wr wr;
    bk_wr_init(&wr, buf, 4 + len);
    bk_wr_i32(&wr, (int32_t)len);
    bk_wr_raw(&wr, resp, len);
    bk_req_reply(call->req, buf, 4 + len);
}

static void try_send(struct fwd *f);
static void cut_short(struct bk_api_waiting *w);

static void retry_cb(uv_timer_t *t)
{
    try_send(t->data);
}

/* Tries again in RETRY_MS, listed so that a shard drain ends the wait. */
static void retry_later(struct fwd *f)
{
    f->waiting.cut_short = cut_short;
    bk_api_waiting_add(f->call->req->shard, &f->waiting);
    f->listed = true;
    uv_timer_start(&f->timer, retry_cb, RETRY_MS, 0);
}

/* Failures that happen before the request leaves this node: connecting
 * failed, or there was no controller to connect to. */
static bool not_sent(int status)
{
    return status != BK_EIO && status != BK_ETIMEDOUT && status != BK_EPROTO &&
           status != BK_ENOMEM && status != BK_ESHUTDOWN;
}

static void answered(void *data, int status, const uint8_t *resp, size_t len)
{
    struct fwd *f = data;
    struct bk_call *call = f->call;
    if (status == 0) {
        relay(call, resp, len);
        fwd_free(f);
        return;
    }
    /* No reset of the channel here: the next send looks the controller up
     * again and moves the connection if it moved. */
    if (not_sent(status) && uv_now(f->timer.loop) < f->deadline) {
        retry_later(f);
        return;
    }
    bk_diag_info("api",
                 "api=%s msg=\"forwarding to the controller failed: "
                 "%s\"",
                 call->desc->name, bk_strerror(status));
    bk_req_fail(call->req, "the controller did not answer");
    fwd_free(f);
}

static void cut_short(struct bk_api_waiting *w)
{
    struct fwd *f = (struct fwd *)w;
    f->listed = false; /* the drain took it off the list */
    uv_timer_stop(&f->timer);
    bk_req_fail(f->call->req, "shutting down");
    fwd_free(f);
}

static void try_send(struct fwd *f)
{
    struct bk_req *req = f->call->req;
    if (f->listed) {
        bk_api_waiting_remove(req->shard, &f->waiting);
        f->listed = false;
    }
    int rv = bk_ctl_channel_send(channel_of(req->shard), req->frame,
                                 req->frame_len, answered, f);
    if (rv == 0) {
        return;
    }
    if (rv == BK_ENOTLEADER && uv_now(f->timer.loop) < f->deadline) {
        retry_later(f);
        return;
    }
    bk_req_fail(req, "no controller to forward to");
    fwd_free(f);
}

void bk_fwd_request(struct bk_call *call)
{
    struct fwd *f = bk_calloc(1, sizeof(*f));
    if (f == NULL) {
        bk_req_fail(call->req, "out of memory");
        return;
    }
    f->call = call;
    uv_timer_init(&call->req->shard->loop, &f->timer);
    f->timer.data = f;
    f->deadline = uv_now(&call->req->shard->loop) + WAIT_MS;
    try_send(f);
}

/* ---- this node's own creations ------------------------------------------ */

struct own_create {
    struct bk_arena arena;
    char name[256];
};

static void created(void *data, int status, const uint8_t *resp, size_t len)
{
    struct own_create *oc = data;
    struct bk_msg_create_topics_response r;
    int16_t code = -1;
    if (status == 0 &&
        bk_resp_frame_decode(&oc->arena, BK_API_CREATE_TOPICS, 7, resp, len,
                             &r) == 0 &&
        r.topics_count == 1) {
        code = r.topics[0].error_code;
    }
    if (code != 0 && code != BK_KERR_TOPIC_ALREADY_EXISTS) {
        bk_diag_info("api",
                     "topic=%s error=%d msg=\"creation by the controller "
                     "failed: %s\"",
                     oc->name, code, bk_strerror(status));
    }
    bk_arena_destroy(&oc->arena);
    bk_free(oc);
}

int bk_fwd_create_topic(struct bk_shard *shard,
                        const struct bk_md_topic_spec *spec)
{
    struct own_create *oc = bk_calloc(1, sizeof(*oc));
    if (oc == NULL) {
        return BK_ENOMEM;
    }
    bk_arena_init(&oc->arena, 2048, 0);
    snprintf(oc->name, sizeof(oc->name), "%.*s", (int)spec->name.len,
             spec->name.ptr);
    struct bk_msg_create_topics_request_creatable_topic_config *cfg =
        bk_arena_alloc(&oc->arena, (spec->n_configs + 1) * sizeof(*cfg));
    struct bk_msg_create_topics_request_creatable_topic t = {
        .name = spec->name,
        .num_partitions = spec->num_partitions,
        .replication_factor = spec->replication_factor,
        .assignments_count = 0,
        .configs = cfg,
        .configs_count = (int32_t)spec->n_configs,
    };
    for (size_t i = 0; cfg != NULL && i < spec->n_configs; i++) {
        cfg[i].name = bk_str_c(spec->configs[i].name);
        cfg[i].value = bk_str_c(spec->configs[i].value);
    }
    struct bk_msg_create_topics_request req = { .topics = &t,
                                                .topics_count = 1,
                                                .timeout_ms = 30000 };
    uint8_t *frame = NULL;
    size_t len = 0;
    int rv = cfg == NULL
                 ? BK_ENOMEM
                 : bk_req_frame_encode(&oc->arena, BK_API_CREATE_TOPICS, 7, 0,
                                       "brokerd", &req, &frame, &len);
    if (rv == 0) {
        rv = bk_ctl_channel_send(channel_of(shard), frame, len, created, oc);
    }
    if (rv != 0) {
        bk_arena_destroy(&oc->arena);
        bk_free(oc);
    }
    return rv;
}
