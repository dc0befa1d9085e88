/* Producer ids from this broker's pool and its blocks; see pid_alloc.h.
 *
 * Ids come from blocks of BK_MD_PRODUCER_ID_BLOCK that the metadata log
 * hands to this broker (a producer-id-block record, so no two brokers and
 * no two lives of this broker ever reuse an id). A request that finds the
 * pool empty asks the active controller for a block (AllocateProducerIds,
 * the controller's API: allocate_producer_ids.c) and goes on once it has
 * one. */
#include "api/pid_alloc.h"

#include "cluster/controller.h"
#include "cluster/ops.h"
#include "common/diag.h"
#include "common/heap.h"
#include "protocol/gen/allocate_producer_ids.h"
#include "protocol/header.h"
#include "protocol/kerr.h"

/* The request's callback. */
static void done(struct bk_call *call, int16_t err, int64_t id)
{
    struct bk_pid_req *r = call->data_ptr;
    r->cb(call, err, id);
}

bool bk_pid_take(struct bk_pid_pool *pool, int64_t *id)
{
    bool ok = false;
    uv_mutex_lock(&pool->lock);
    if (pool->next < pool->end) {
        *id = pool->next++;
        ok = true;
    }
    uv_mutex_unlock(&pool->lock);
    return ok;
}

/* The block request on its way to the active controller. */
struct block_rpc {
    struct bk_arena arena;
    struct bk_call *call;
};

static void block_answered(void *data,
                           int status,
                           const uint8_t *resp,
                           size_t len)
{
    struct block_rpc *r = data;
    struct bk_call *call = r->call;
    struct bk_pid_pool *pool = call->ctx->pids;
    struct bk_msg_allocate_producer_ids_response a;
    /* Retriable for every client: the producer asks again. */
    int16_t err = BK_KERR_COORDINATOR_LOAD_IN_PROGRESS;
    if (status == 0 &&
        bk_resp_frame_decode(&r->arena, BK_API_ALLOCATE_PRODUCER_IDS, 0, resp,
                             len, &a) == 0) {
        if (a.error_code == 0 && a.producer_id_len > 0) {
            uv_mutex_lock(&pool->lock);
            if (pool->next >= pool->end) {
                pool->next = a.producer_id_start;
                pool->end = a.producer_id_start + a.producer_id_len;
            }
            uv_mutex_unlock(&pool->lock);
            err = BK_KERR_NONE;
        } else if (a.error_code != BK_KERR_NOT_CONTROLLER) {
            bk_diag_warn("api", "error=%d msg=\"no producer id block\"",
                         a.error_code);
        }
    }
    bk_arena_destroy(&r->arena);
    bk_free(r);
    int64_t id;
    if (err == BK_KERR_NONE && bk_pid_take(pool, &id)) {
        done(call, BK_KERR_NONE, id);
    } else {
        done(call, err != 0 ? err : BK_KERR_COORDINATOR_LOAD_IN_PROGRESS, -1);
    }
}

static void allocate(struct bk_call *call);

/* This node is the active controller: the block is proposed here (no
 * connection to itself). */
static void local_applied(struct bk_call *call, int status)
{
    struct bk_pid_req *st = call->data_ptr;
    struct bk_pid_pool *pool = call->ctx->pids;
    if (status == 0) {
        uv_mutex_lock(&pool->lock);
        if (pool->next >= pool->end) {
            pool->next = st->first;
            pool->end = st->first + BK_MD_PRODUCER_ID_BLOCK;
        }
        uv_mutex_unlock(&pool->lock);
    }
    /* BK_ESTATE: another shard's block won the race and may have filled
     * the pool; else try once more. */
    int64_t id;
    if ((status == 0 || status == BK_ESTATE) && bk_pid_take(pool, &id)) {
        done(call, BK_KERR_NONE, id);
    } else if (status == BK_ESTATE && st->tries++ < 3) {
        allocate(call);
    } else {
        done(call, BK_KERR_COORDINATOR_LOAD_IN_PROGRESS, -1);
    }
}

static void allocate_local(struct bk_call *call, int64_t epoch)
{
    struct bk_pid_req *st = call->data_ptr;
    struct bk_md_image *img = bk_api_image(call);
    struct bk_md_recs recs;
    bk_md_recs_init(&recs, call->arena);
    char msg[BK_MD_MSG_SIZE];
    int16_t err = bk_md_op_alloc_producer_ids(img, call->ctx->node_id, epoch,
                                              &recs, &st->first, msg);
    bk_md_image_release(img);
    if (err != 0) {
        bk_diag_warn("api", "msg=\"cannot allocate producer ids: %s\"", msg);
        done(call, BK_KERR_COORDINATOR_LOAD_IN_PROGRESS, -1);
        return;
    }
    int rv = bk_api_propose(call, recs.v, recs.n, local_applied);
    if (rv != 0) {
        local_applied(call, rv);
    }
}

/* Asks the active controller for a block (AllocateProducerIds, as Kafka's
 * brokers do), with this broker's epoch from the image. */
static void allocate(struct bk_call *call)
{
    struct bk_md_image *img = bk_api_image(call);
    const struct bk_md_broker *self =
        img != NULL ? bk_md_image_broker(img, call->ctx->node_id) : NULL;
    struct bk_msg_allocate_producer_ids_request req = {
        .broker_id = call->ctx->node_id,
        .broker_epoch = self != NULL ? self->epoch : -1,
    };
    bk_md_image_release(img);
    if (bk_md_is_active(call->ctx->md)) {
        allocate_local(call, req.broker_epoch);
        return;
    }
    struct block_rpc *r = bk_calloc(1, sizeof(*r));
    if (r == NULL) {
        done(call, BK_KERR_UNKNOWN_SERVER_ERROR, -1);
        return;
    }
    bk_arena_init(&r->arena, 512, 0);
    r->call = call;
    uint8_t *frame;
    size_t len;
    struct bk_api_shard *st = call->req->shard->app;
    int rv = bk_req_frame_encode(&r->arena, BK_API_ALLOCATE_PRODUCER_IDS, 0, 0,
                                 "brokerd", &req, &frame, &len);
    if (rv == 0) {
        rv = bk_ctl_channel_send(&st->ctl, frame, len, block_answered, r);
    }
    if (rv != 0) {
        bk_arena_destroy(&r->arena);
        bk_free(r);
        done(call, BK_KERR_COORDINATOR_LOAD_IN_PROGRESS, -1);
    }
}

void bk_pid_get(struct bk_call *call, struct bk_pid_req *r, bk_pid_cb cb)
{
    r->cb = cb;
    r->tries = 0;
    int64_t id;
    if (bk_pid_take(call->ctx->pids, &id)) {
        cb(call, BK_KERR_NONE, id);
        return;
    }
    allocate(call);
}
