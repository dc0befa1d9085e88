/* InitProducerId (key 22), v0-5, for idempotent producers.
 *
 * Ids come from blocks of BK_MD_PRODUCER_ID_BLOCK that the metadata log
 * hands to this broker (a producer-id-block record, so no two brokers and
 * no two lives of this broker ever reuse an id). A request that finds the
 * pool empty asks the active controller for a block (AllocateProducerIds,
 * the controller's API: allocate_producer_ids.c) and answers once it has
 * one.
 *
 * KIP-360 (v3+): a producer that already has an id may ask for its epoch
 * to be bumped after an error; it keeps its id with epoch + 1, or gets a
 * new id when the epoch would overflow.
 *
 * With a transactional id the request goes to the id's transaction
 * coordinator shard (txn_coord.h) with a fresh producer id taken here
 * first (used only for an id seen for the first time or an exhausted
 * epoch; Kafka's ids are plentiful): the state machine (txn/txn.h) bumps
 * the epoch or fences an open transaction (CONCURRENT_TRANSACTIONS until
 * its abort completes), and the answer goes once the new state is
 * committed in __transaction_state. PRODUCER_FENCED exists from v4
 * (KIP-588); older versions get INVALID_PRODUCER_EPOCH. */
#include "protocol/gen/init_producer_id.h"

#include "api/access.h"
#include "api/call.h"
#include "api/txn_coord.h"
#include "cluster/controller.h"
#include "cluster/ops.h"
#include "common/diag.h"
#include "common/heap.h"
#include "protocol/gen/allocate_producer_ids.h"
#include "protocol/header.h"
#include "protocol/kerr.h"

struct ipi_state {
    struct bk_msg_init_producer_id_response resp;
    int64_t first; /* a block proposed here */
    int tries;
    bool txn;          /* a transactional id: on to its coordinator */
    struct bk_tcop op; /* the coordinator's part */
    int64_t new_pid;   /* taken for it */
    int64_t pid;       /* the answer's */
    int16_t epoch;
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

static void answer_now(struct bk_call *call,
                       int16_t err,
                       int64_t id,
                       int16_t epoch)
{
    struct ipi_state *st = call->data_ptr;
    st->resp.error_code = err;
    st->resp.producer_id = err == 0 ? id : -1;
    st->resp.producer_epoch = err == 0 ? epoch : -1;
    bk_call_reply(call, &st->resp);
}

static void txn_start(struct bk_call *call, int64_t new_pid);

/* A producer id is ready (or could not be had): the answer, or for a
 * transactional id the coordinator's turn. */
static void answer(struct bk_call *call, int16_t err, int64_t id, int16_t epoch)
{
    struct ipi_state *st = call->data_ptr;
    if (st->txn && err == BK_KERR_NONE) {
        txn_start(call, id);
        return;
    }
    answer_now(call, err, id, epoch);
}

/* ---- a transactional id, on its coordinator shard ---- */

static void txn_run(struct bk_tcop *op,
                    struct bk_coord_txn *tc,
                    struct bk_fan_part *part)
{
    const struct bk_msg_init_producer_id_request *req = op->call->request;
    struct ipi_state *st = op->data;
    struct bk_coord_txn_entry *e = bk_coord_txn_find(tc, op->id);
    if (e == NULL) {
        e = bk_coord_txn_add(tc, op->id, op->partition, st->new_pid);
        if (e == NULL) {
            op->error = BK_KERR_COORDINATOR_NOT_AVAILABLE;
            return;
        }
    }
    /* KIP-360 (v3+): the producer's current pair, to resume after an
     * error rather than start over. */
    bool expected = op->call->hdr.api_version >= 3 && req->producer_id >= 0;
    enum bk_txn_action act;
    struct bk_txn_value next;
    op->error = bk_txn_init_pid(
        &e->m, expected, req->producer_id, req->producer_epoch,
        req->transaction_timeout_ms, st->new_pid, bk_tcop_now(op), &act, &next);
    if (op->error != BK_KERR_NONE || act == BK_TXN_ANSWER ||
        act == BK_TXN_NEED_PID) {
        if (op->error == BK_KERR_NONE) {
            op->error = BK_KERR_COORDINATOR_NOT_AVAILABLE;
        }
        return;
    }
    struct bk_coord_waiter w = bk_tcop_waiter(op, part);
    if (act == BK_TXN_FENCE) {
        /* The open transaction of a zombie is aborted first; the client
         * retries (and its retry bumps the epoch again). */
        op->error = bk_coord_txn_write(tc, e, &next, &w);
        if (op->error == BK_KERR_NONE) {
            op->error = BK_KERR_CONCURRENT_TRANSACTIONS;
        }
        return;
    }
    op->error = bk_coord_txn_write(tc, e, &next, &w);
    if (op->error == BK_KERR_NONE) {
        /* (A failed write of a new id removed e.) */
        st->pid = e->m.cur.producer_id;
        st->epoch = e->m.cur.epoch;
    }
}

static void txn_done(struct bk_tcop *op)
{
    struct ipi_state *st = op->data;
    int16_t err = op->error;
    if (err == BK_KERR_PRODUCER_FENCED && op->call->hdr.api_version < 4) {
        err = BK_KERR_INVALID_PRODUCER_EPOCH;
    }
    answer_now(op->call, err, st->pid, st->epoch);
}

static void txn_start(struct bk_call *call, int64_t new_pid)
{
    const struct bk_msg_init_producer_id_request *req = call->request;
    struct ipi_state *st = call->data_ptr;
    st->new_pid = new_pid;
    bk_tcop_start(&st->op, call, req->transactional_id, txn_run, txn_done, st);
}

/* ---- producer ids ---- */

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
    if (err == BK_KERR_NONE && take_id(pool, &id)) {
        answer(call, BK_KERR_NONE, id, 0);
    } else {
        answer(call, err != 0 ? err : BK_KERR_COORDINATOR_LOAD_IN_PROGRESS, -1,
               -1);
    }
}

static void allocate(struct bk_call *call);

/* This node is the active controller: the block is proposed here (no
 * connection to itself). */
static void local_applied(struct bk_call *call, int status)
{
    struct ipi_state *st = call->data_ptr;
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
    if ((status == 0 || status == BK_ESTATE) && take_id(pool, &id)) {
        answer(call, BK_KERR_NONE, id, 0);
    } else if (status == BK_ESTATE && st->tries++ < 3) {
        allocate(call);
    } else {
        answer(call, BK_KERR_COORDINATOR_LOAD_IN_PROGRESS, -1, -1);
    }
}

static void allocate_local(struct bk_call *call, int64_t epoch)
{
    struct ipi_state *st = call->data_ptr;
    struct bk_md_image *img = bk_api_image(call);
    struct bk_md_recs recs;
    bk_md_recs_init(&recs, call->arena);
    char msg[BK_MD_MSG_SIZE];
    int16_t err = bk_md_op_alloc_producer_ids(img, call->ctx->node_id, epoch,
                                              &recs, &st->first, msg);
    bk_md_image_release(img);
    if (err != 0) {
        bk_diag_warn("api", "msg=\"cannot allocate producer ids: %s\"", msg);
        answer(call, BK_KERR_COORDINATOR_LOAD_IN_PROGRESS, -1, -1);
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
        answer(call, BK_KERR_UNKNOWN_SERVER_ERROR, -1, -1);
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
        answer(call, BK_KERR_COORDINATOR_LOAD_IN_PROGRESS, -1, -1);
    }
}

void bk_handle_init_producer_id(struct bk_call *call)
{
    const struct bk_msg_init_producer_id_request *req = call->request;
    struct ipi_state *st = bk_arena_alloc(call->arena, sizeof(*st));
    if (st == NULL) {
        bk_req_fail(call->req, "out of memory");
        return;
    }
    call->data_ptr = st;
    bk_msg_init_producer_id_response_init(&st->resp);
    st->resp.throttle_time_ms = 0;
    /* Kafka: WRITE on the transactional id; without one, IDEMPOTENT_WRITE
     * on the cluster or WRITE on some topic (KIP-679). */
    if (req->transactional_id.len >= 0
            ? !bk_api_may(call, NULL, BK_ACL_OP_WRITE,
                          BK_ACL_RES_TRANSACTIONAL_ID, req->transactional_id)
            : !bk_api_may_cluster(call, NULL, BK_ACL_OP_IDEMPOTENT_WRITE) &&
                  !bk_api_may_any(call, NULL, BK_ACL_OP_WRITE,
                                  BK_ACL_RES_TOPIC)) {
        answer_now(call,
                   req->transactional_id.len >= 0
                       ? BK_KERR_TRANSACTIONAL_ID_AUTHORIZATION_FAILED
                       : BK_KERR_CLUSTER_AUTHORIZATION_FAILED,
                   -1, -1);
        return;
    }
    if (req->transactional_id.len == 0) {
        answer_now(call, BK_KERR_INVALID_REQUEST, -1, -1);
        return;
    }
    if (req->transactional_id.len > 0) {
        if (req->transaction_timeout_ms <= 0 ||
            req->transaction_timeout_ms > call->ctx->txn.max_timeout_ms) {
            answer_now(call, BK_KERR_INVALID_TRANSACTION_TIMEOUT, -1, -1);
            return;
        }
        st->txn = true;
        int64_t id;
        if (take_id(call->ctx->pids, &id)) {
            txn_start(call, id);
            return;
        }
        allocate(call);
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
