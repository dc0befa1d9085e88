/* InitProducerId (key 22), v0-5, for idempotent producers.
 *
 * Ids come from blocks of BK_MD_PRODUCER_ID_BLOCK that the metadata log
 * hands to this broker (a producer-id-block record, so no two brokers and
 * no two lives of this broker ever reuse an id). A request that finds the
 * pool empty proposes a new block and answers once it is applied.
 *
 * KIP-360 (v3+): a producer that already has an id may ask for its epoch
 * to be bumped after an error; it keeps its id with epoch + 1, or gets a
 * new id when the epoch would overflow.
 *
 * Transactions are not supported yet: a transactional id is refused with
 * UNSUPPORTED_VERSION and a message saying so, which the Java client
 * reports as "the broker does not support transactions". */
#include "protocol/gen/init_producer_id.h"

#include "api/call.h"
#include "cluster/controller.h"
#include "cluster/ops.h"
#include "common/diag.h"
#include "protocol/kerr.h"

struct ipi_state {
    struct bk_msg_init_producer_id_response resp;
    int tries;
};

static bool take_id(struct bk_pid_pool *pool, int64_t *id)
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

static void answer(struct bk_call *call, int16_t err, int64_t id, int16_t epoch)
{
    struct ipi_state *st = call->data_ptr;
    st->resp.error_code = err;
    st->resp.producer_id = err == 0 ? id : -1;
    st->resp.producer_epoch = err == 0 ? epoch : -1;
    bk_call_reply(call, &st->resp);
}

static void allocate(struct bk_call *call);

struct block_req {
    int64_t first;
};

static void block_applied(struct bk_call *call, int status)
{
    struct ipi_state *st = call->data_ptr;
    struct bk_pid_pool *pool = call->ctx->pids;
    struct block_req *br = (void *)(st + 1);
    if (status == 0) {
        uv_mutex_lock(&pool->lock);
        if (pool->next >= pool->end) {
            pool->next = br->first;
            pool->end = br->first + BK_MD_PRODUCER_ID_BLOCK;
        }
        uv_mutex_unlock(&pool->lock);
    } else if (status != BK_ESTATE || st->tries >= 3) {
        /* BK_ESTATE: another shard's block won the race; try again. */
        answer(call, bk_api_md_kerr(status), -1, -1);
        return;
    }
    int64_t id;
    if (take_id(pool, &id)) {
        answer(call, BK_KERR_NONE, id, 0);
        return;
    }
    allocate(call);
}

static void allocate(struct bk_call *call)
{
    struct ipi_state *st = call->data_ptr;
    struct block_req *br = (void *)(st + 1);
    st->tries++;
    struct bk_md_image *img = bk_api_image(call);
    if (img == NULL) {
        answer(call, BK_KERR_UNKNOWN_SERVER_ERROR, -1, -1);
        return;
    }
    struct bk_md_recs recs;
    bk_md_recs_init(&recs, call->arena);
    char msg[BK_MD_MSG_SIZE];
    int16_t err = bk_md_op_alloc_producer_ids(img, call->ctx->node_id,
                                              call->ctx->broker_epoch, &recs,
                                              &br->first, msg);
    bk_md_image_release(img);
    if (err != 0) {
        bk_diag_warn("api", "msg=\"cannot allocate producer ids: %s\"", msg);
        answer(call, err, -1, -1);
        return;
    }
    int rv = bk_api_propose(call, recs.v, recs.n, block_applied);
    if (rv != 0) {
        answer(call, bk_api_md_kerr(rv), -1, -1);
    }
}

void bk_handle_init_producer_id(struct bk_call *call)
{
    const struct bk_msg_init_producer_id_request *req = call->request;
    struct ipi_state *st =
        bk_arena_alloc(call->arena, sizeof(*st) + sizeof(struct block_req));
    if (st == NULL) {
        bk_req_fail(call->req, "out of memory");
        return;
    }
    call->data_ptr = st;
    bk_msg_init_producer_id_response_init(&st->resp);
    st->resp.throttle_time_ms = 0;
    if (req->transactional_id.len >= 0) {
        answer(call, BK_KERR_UNSUPPORTED_VERSION, -1, -1);
        return;
    }
    if (req->producer_id >= 0 && req->producer_epoch >= 0 &&
        req->producer_epoch < INT16_MAX - 1) {
        /* KIP-360 epoch bump for an idempotent producer. */
        answer(call, BK_KERR_NONE, req->producer_id,
               (int16_t)(req->producer_epoch + 1));
        return;
    }
    int64_t id;
    if (take_id(call->ctx->pids, &id)) {
        answer(call, BK_KERR_NONE, id, 0);
        return;
    }
    allocate(call);
}
