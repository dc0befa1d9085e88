/* EndTxn (key 26), v0-5: the producer commits or aborts its transaction.
 *
 * On the transactional id's coordinator shard (txn_coord.h) the state
 * machine (txn/txn.h) checks the producer and moves Ongoing to
 * PrepareCommit or PrepareAbort; the answer goes once that record is
 * committed in __transaction_state: the transaction is decided then, and
 * the coordinator's tick writes the markers and completes it (Kafka
 * answers at the same point). A retry of an end that completed answers
 * NONE without a write.
 *
 * PRODUCER_FENCED exists for EndTxn from v2 (KIP-588); older versions
 * get INVALID_PRODUCER_EPOCH. v5 is transaction version 2 (KIP-890 part
 * 2, bk_txn_end_v2): the end bumps the epoch, and the answer carries the
 * producer id and epoch the client goes on with. */
#include "protocol/gen/end_txn.h"

#include "api/txn_coord.h"
#include "protocol/kerr.h"

struct end_state {
    struct bk_tcop op;
    struct bk_msg_end_txn_response resp;
};

static void run(struct bk_tcop *op,
                struct bk_coord_txn *tc,
                struct bk_fan_part *part)
{
    const struct bk_msg_end_txn_request *req = op->call->request;
    struct bk_coord_txn_entry *e = bk_coord_txn_find(tc, op->id);
    if (e == NULL) {
        op->error = BK_KERR_INVALID_PRODUCER_ID_MAPPING;
        return;
    }
    enum bk_txn_action act;
    struct bk_txn_value next;
    if (op->call->hdr.api_version >= 5) {
        op->error = bk_txn_end_v2(&e->m, req->producer_id, req->producer_epoch,
                                  req->committed, bk_tcop_now(op), &act, &next);
    } else {
        op->error = bk_txn_end(&e->m, req->producer_id, req->producer_epoch,
                               req->committed, bk_tcop_now(op), &act, &next);
    }
    if (op->error == BK_KERR_NONE && act == BK_TXN_WRITE) {
        struct bk_coord_waiter w = bk_tcop_waiter(op, part);
        op->error = bk_coord_txn_write(tc, e, &next, &w);
    }
    if (op->error == BK_KERR_NONE) {
        /* The pair after the end (v5): written or, for a retry, as is. */
        struct end_state *st = op->data;
        st->resp.producer_id = e->m.cur.producer_id;
        st->resp.producer_epoch = e->m.cur.epoch;
    }
}

static void done(struct bk_tcop *op)
{
    struct end_state *st = op->data;
    int16_t err = op->error;
    if (err == BK_KERR_PRODUCER_FENCED && op->call->hdr.api_version < 2) {
        err = BK_KERR_INVALID_PRODUCER_EPOCH;
    }
    st->resp.error_code = err;
    bk_call_reply(op->call, &st->resp);
}

void bk_handle_end_txn(struct bk_call *call)
{
    const struct bk_msg_end_txn_request *req = call->request;
    struct end_state *st = bk_arena_alloc(call->arena, sizeof(*st));
    if (st == NULL) {
        bk_req_fail(call->req, "out of memory");
        return;
    }
    bk_msg_end_txn_response_init(&st->resp);
    bk_tcop_start(&st->op, call, req->transactional_id, run, done, st);
}
