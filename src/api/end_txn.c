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
 * producer id and epoch the client goes on with. A producer at an
 * exhausted epoch gets a new producer id with its end: one is taken from
 * the pool (pid_alloc.h) before the coordinator is asked. */
#include "protocol/gen/end_txn.h"

#include "api/pid_alloc.h"
#include "api/txn_coord.h"
#include "protocol/kerr.h"

struct end_state {
    struct bk_pid_req pid_req; /* first: pid_alloc.h finds it there */
    struct bk_tcop op;
    struct bk_msg_end_txn_response resp;
    int64_t new_pid; /* for a rotation, or -1 */
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
    struct end_state *st = op->data;
    if (op->call->hdr.api_version >= 5) {
        op->error = bk_txn_end_v2(&e->m, req->producer_id, req->producer_epoch,
                                  req->committed, st->new_pid, bk_tcop_now(op),
                                  &act, &next);
        if (op->error == BK_KERR_NONE && act == BK_TXN_NEED_PID) {
            /* The epoch ran out since the request was read: retried. */
            op->error = BK_KERR_CONCURRENT_TRANSACTIONS;
        }
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
        bk_txn_answer_pair(&e->m.cur, &st->resp.producer_id,
                           &st->resp.producer_epoch);
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

static void got_pid(struct bk_call *call, int16_t err, int64_t id)
{
    const struct bk_msg_end_txn_request *req = call->request;
    struct end_state *st = call->data_ptr;
    if (err != BK_KERR_NONE) {
        st->resp.error_code = err;
        bk_call_reply(call, &st->resp);
        return;
    }
    st->new_pid = id;
    bk_tcop_start(&st->op, call, req->transactional_id, run, done, st);
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
    st->new_pid = -1;
    call->data_ptr = st;
    if (call->hdr.api_version >= 5 &&
        bk_txn_epoch_exhausted(req->producer_epoch)) {
        /* This end rotates the producer id (KIP-890 part 2). */
        bk_pid_get(call, &st->pid_req, got_pid);
        return;
    }
    bk_tcop_start(&st->op, call, req->transactional_id, run, done, st);
}
