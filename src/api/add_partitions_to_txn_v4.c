/* AddPartitionsToTxn (key 24) v4+, KIP-890: from partition leaders to
 * the transaction coordinator, batched over transactional ids.
 *
 * Each transaction of the request is its own coordinator operation
 * (txn_coord.h), on the shard of its id's __transaction_state partition;
 * the answer goes once every one is back. VerifyOnly (part 1) asks
 * whether the partitions are in the ongoing transaction: NONE or
 * TRANSACTION_ABORTABLE per partition, nothing written. Without it (part
 * 2, a leader adding the partition on a producer's behalf) the
 * partitions are added as v0-3 would, answered once committed.
 *
 * Failure modes, per transaction and with one error for all its
 * partitions: an empty id (INVALID_REQUEST), an id coordinated elsewhere
 * (NOT_COORDINATOR) or still loading, the producer checks of txn/txn.h.
 * Only brokers send these versions (CLUSTER_ACTION in Kafka), so the
 * error codes are the coordinator's own, never mapped down. */
#include "api/txn_coord.h"
#include "protocol/gen/add_partitions_to_txn.h"
#include "protocol/kerr.h"

typedef struct
    bk_msg_add_partitions_to_txn_request_add_partitions_to_txn_transaction
        in_txn;
typedef struct
    bk_msg_add_partitions_to_txn_response_add_partitions_to_txn_result out_txn;
typedef struct
    bk_msg_add_partitions_to_txn_response_add_partitions_to_txn_topic_result
        out_topic;
typedef struct
    bk_msg_add_partitions_to_txn_response_add_partitions_to_txn_partition_result
        out_part;

struct batch_state;

/* One transaction of the request. */
struct txn_item {
    struct bk_tcop op;
    struct batch_state *b;
    const in_txn *in;
    out_txn *out;
    struct bk_str *topics; /* one per partition, in request order */
    int32_t *partitions;
    int16_t *errs; /* written on the coordinator's shard */
    size_t n;
};

struct batch_state {
    struct bk_msg_add_partitions_to_txn_response resp;
    size_t left; /* transactions not yet back, plus one while starting */
};

static void run(struct bk_tcop *op,
                struct bk_coord_txn *tc,
                struct bk_fan_part *part)
{
    struct txn_item *it = op->data;
    struct bk_coord_txn_entry *e = bk_coord_txn_find(tc, op->id);
    if (e == NULL) {
        op->error = BK_KERR_INVALID_PRODUCER_ID_MAPPING;
        return;
    }
    if (it->in->verify_only) {
        op->error =
            bk_txn_verify(&e->m, it->in->producer_id, it->in->producer_epoch,
                          it->topics, it->partitions, it->n, it->errs);
        return;
    }
    enum bk_txn_action act;
    struct bk_txn_value next;
    op->error = bk_txn_add_partitions(
        &e->m, it->in->producer_id, it->in->producer_epoch, it->topics,
        it->partitions, it->n, bk_tcop_now(op), &act, &next);
    if (op->error == BK_KERR_NONE && act == BK_TXN_WRITE) {
        struct bk_coord_waiter w = bk_tcop_waiter(op, part);
        op->error = bk_coord_txn_write(tc, e, &next, &w);
    }
}

static void finish(struct batch_state *b, struct bk_call *call)
{
    if (--b->left == 0) {
        bk_call_reply(call, &b->resp);
    }
}

/* Copies the per-partition errors into the answer: the operation's
 * error for all when it failed as a whole. */
static void done(struct bk_tcop *op)
{
    struct txn_item *it = op->data;
    size_t k = 0;
    for (int32_t t = 0; t < it->out->topic_results_count; t++) {
        out_topic *ot = &it->out->topic_results[t];
        for (int32_t p = 0; p < ot->results_by_partition_count; p++, k++) {
            ot->results_by_partition[p].partition_error_code =
                op->error != BK_KERR_NONE || !it->in->verify_only ? op->error
                                                                  : it->errs[k];
        }
    }
    finish(it->b, op->call);
}

/* Lays out txn i's answer and partition list. Returns 0 or -1 (out of
 * memory). */
static int plan(struct bk_call *call, struct txn_item *it)
{
    int32_t nt = it->in->topics_count < 0 ? 0 : it->in->topics_count;
    size_t n = 0;
    for (int32_t t = 0; t < nt; t++) {
        int32_t np = it->in->topics[t].partitions_count;
        n += np < 0 ? 0 : (size_t)np;
    }
    struct bk_arena *a = call->arena;
    it->out->transactional_id = it->in->transactional_id;
    it->out->topic_results =
        bk_arena_alloc(a, (size_t)(nt + 1) * sizeof(out_topic));
    it->topics = bk_arena_alloc(a, (n + 1) * sizeof(*it->topics));
    it->partitions = bk_arena_alloc(a, (n + 1) * sizeof(*it->partitions));
    it->errs = bk_arena_alloc(a, (n + 1) * sizeof(*it->errs));
    if (it->out->topic_results == NULL || it->topics == NULL ||
        it->partitions == NULL || it->errs == NULL) {
        return -1;
    }
    it->out->topic_results_count = nt;
    for (int32_t t = 0; t < nt; t++) {
        const struct
            bk_msg_add_partitions_to_txn_request_add_partitions_to_txn_topic
                *tin = &it->in->topics[t];
        out_topic *ot = &it->out->topic_results[t];
        int32_t np = tin->partitions_count < 0 ? 0 : tin->partitions_count;
        ot->name = tin->name;
        ot->results_by_partition_count = np;
        ot->results_by_partition =
            bk_arena_alloc(a, (size_t)(np + 1) * sizeof(out_part));
        if (ot->results_by_partition == NULL) {
            return -1;
        }
        for (int32_t p = 0; p < np; p++) {
            ot->results_by_partition[p].partition_index = tin->partitions[p];
            it->topics[it->n] = tin->name;
            it->partitions[it->n++] = tin->partitions[p];
        }
    }
    return 0;
}

void bk_handle_add_partitions_to_txn_v4(struct bk_call *call)
{
    const struct bk_msg_add_partitions_to_txn_request *req = call->request;
    int32_t n = req->transactions_count < 0 ? 0 : req->transactions_count;
    struct batch_state *b = bk_arena_alloc(call->arena, sizeof(*b));
    struct txn_item *items =
        bk_arena_alloc(call->arena, (size_t)(n + 1) * sizeof(*items));
    out_txn *outs =
        bk_arena_alloc(call->arena, (size_t)(n + 1) * sizeof(*outs));
    if (b == NULL || items == NULL || outs == NULL) {
        bk_req_fail(call->req, "out of memory");
        return;
    }
    bk_msg_add_partitions_to_txn_response_init(&b->resp);
    b->resp.results_by_transaction = outs;
    b->resp.results_by_transaction_count = n;
    for (int32_t i = 0; i < n; i++) {
        items[i] = (struct txn_item){ .b = b,
                                      .in = &req->transactions[i],
                                      .out = &outs[i] };
        if (plan(call, &items[i]) != 0) {
            bk_req_fail(call->req, "out of memory");
            return;
        }
    }
    /* Every transaction is started before any answer can complete the
     * batch: done may run at once (an id not coordinated here). */
    b->left = (size_t)n + 1;
    for (int32_t i = 0; i < n; i++) {
        struct txn_item *it = &items[i];
        if (it->in->transactional_id.len <= 0) {
            it->op.error = BK_KERR_INVALID_REQUEST;
            it->op.call = call;
            it->op.data = it;
            done(&it->op);
            continue;
        }
        bk_tcop_start(&it->op, call, it->in->transactional_id, run, done, it);
    }
    finish(b, call);
}
