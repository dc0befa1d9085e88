/* InitProducerId (key 22), v0-5, for idempotent producers.
 *
 * Ids come from this broker's pool (pid_alloc.h): a request that finds it
 * empty waits for a new block.
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
#include "api/pid_alloc.h"
#include "api/txn_coord.h"
#include "protocol/kerr.h"

struct ipi_state {
    struct bk_pid_req pid_req; /* first: pid_alloc.h finds it there */
    struct bk_msg_init_producer_id_response resp;
    bool txn;          /* a transactional id: on to its coordinator */
    struct bk_tcop op; /* the coordinator's part */
    int64_t new_pid;   /* taken for it */
    int64_t pid;       /* the answer's */
    int16_t epoch;
};

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

static void got_id(struct bk_call *call, int16_t err, int64_t id)
{
    answer(call, err, id, err == BK_KERR_NONE ? 0 : -1);
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
        bk_pid_get(call, &st->pid_req, got_id);
        return;
    }
    if (req->producer_id >= 0 && req->producer_epoch >= 0 &&
        req->producer_epoch < INT16_MAX - 1) {
        /* KIP-360 epoch bump for an idempotent producer. */
        answer(call, BK_KERR_NONE, req->producer_id,
               (int16_t)(req->producer_epoch + 1));
        return;
    }
    bk_pid_get(call, &st->pid_req, got_id);
}
