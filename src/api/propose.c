/* Metadata proposals from request handlers.
 *
 * The controller's completion runs on the raft thread; handlers must only
 * run on their connection's shard, so the completion is posted back there
 * through the shard's inbox. */
#include "api/call.h"
#include "cluster/controller.h"
#include "common/heap.h"
#include "protocol/kerr.h"

struct proposal {
    struct bk_shard_msg msg;
    struct bk_call *call;
    void (*done)(struct bk_call *call, int status);
    int status;
};

static void back_on_shard(struct bk_shard *shard, struct bk_shard_msg *m)
{
    struct proposal *p = (struct proposal *)m;
    (void)shard;
    p->done(p->call, p->status);
    bk_free(p);
}

static void applied_cb(void *data, int status)
{
    struct proposal *p = data;
    p->status = status;
    bk_shard_post(p->call->req->shard, &p->msg);
}

int bk_api_propose(struct bk_call *call,
                   const struct bk_md_rec *recs,
                   size_t n,
                   void (*done)(struct bk_call *call, int status))
{
    struct proposal *p = bk_calloc(1, sizeof(*p));
    if (p == NULL) {
        return BK_ENOMEM;
    }
    p->msg.fn = back_on_shard;
    p->call = call;
    p->done = done;
    int rv = bk_md_propose(call->ctx->md, recs, n, applied_cb, p);
    if (rv != 0) {
        bk_free(p);
    }
    return rv;
}

int16_t bk_api_md_kerr(int status)
{
    switch (status) {
        case 0:
            return BK_KERR_NONE;
        case BK_ENOTLEADER:
            return BK_KERR_NOT_CONTROLLER;
        case BK_MD_EUNKNOWN:
        case BK_ESHUTDOWN:
            return BK_KERR_REQUEST_TIMED_OUT;
        default:
            return BK_KERR_UNKNOWN_SERVER_ERROR;
    }
}

struct bk_md_image *bk_api_image(const struct bk_call *call)
{
    return bk_md_image_acquire(call->ctx->md);
}

char *bk_call_cstr(struct bk_call *call, struct bk_str s)
{
    return bk_arena_strndup(call->arena, s.len > 0 ? s.ptr : "",
                            s.len > 0 ? (size_t)s.len : 0);
}

static bool live_broker(const struct bk_md_image *img, int32_t id)
{
    const struct bk_md_broker *b = id >= 0 ? bk_md_image_broker(img, id) : NULL;
    return b != NULL && !b->fenced;
}

int32_t bk_api_controller_for_clients(const struct bk_call *call,
                                      const struct bk_md_image *img)
{
    int32_t leader = bk_md_leader(call->ctx->md);
    if (live_broker(img, leader)) {
        return leader;
    }
    if (live_broker(img, call->ctx->node_id)) {
        return call->ctx->node_id;
    }
    for (size_t i = 0; i < img->n_brokers; i++) {
        if (!img->brokers[i].fenced) {
            return img->brokers[i].id;
        }
    }
    return -1;
}
