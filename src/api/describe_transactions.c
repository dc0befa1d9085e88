/* DescribeTransactions (key 65, v0; KIP-664): the coordinator's state of
 * transactional ids, for kafka-transactions.sh describe.
 *
 * Each id is its own coordinator operation (txn_coord.h) on the shard
 * that coordinates it; there its state is copied to the heap (the run
 * may not allocate from the call's arena), and on the connection's shard
 * the copy becomes the answer. An id this broker does not coordinate
 * answers NOT_COORDINATOR, an unknown one TRANSACTIONAL_ID_NOT_FOUND, as
 * Kafka's do; Dead ids count as unknown. */
#include "protocol/gen/describe_transactions.h"

#include <string.h>

#include "api/txn_coord.h"
#include "protocol/kerr.h"

typedef struct bk_msg_describe_transactions_response_transaction_state out_txn;
typedef struct bk_msg_describe_transactions_response_topic_data out_topic;

struct dtxn_state;

struct dtxn_item {
    struct bk_tcop op;
    struct dtxn_state *d;
    out_txn *out;
    struct bk_txn_value v; /* heap copy, made on the coordinator's shard */
    bool have;
};

struct dtxn_state {
    struct bk_msg_describe_transactions_response resp;
    size_t left; /* ids not yet back, plus one while starting */
};

static void run(struct bk_tcop *op,
                struct bk_coord_txn *tc,
                struct bk_fan_part *part)
{
    (void)part;
    struct dtxn_item *it = op->data;
    struct bk_coord_txn_entry *e = bk_coord_txn_find(tc, op->id);
    if (e == NULL || e->m.cur.state == BK_TXN_DEAD) {
        op->error = BK_KERR_TRANSACTIONAL_ID_NOT_FOUND;
        return;
    }
    if (bk_txn_value_copy(&it->v, &e->m.cur) != 0) {
        op->error = BK_KERR_UNKNOWN_SERVER_ERROR;
        return;
    }
    it->have = true;
}

/* The copy's partitions as the answer's topics (sorted by topic, so each
 * topic's partitions are consecutive). Returns 0 or -1. */
static int topics(struct bk_arena *a, struct dtxn_item *it)
{
    const struct bk_txn_value *v = &it->v;
    out_topic *t = bk_arena_alloc(a, (v->nparts + 1) * sizeof(*t));
    int32_t *ids = bk_arena_alloc(a, (v->nparts + 1) * sizeof(*ids));
    if (t == NULL || ids == NULL) {
        return -1;
    }
    int32_t n = 0;
    for (size_t i = 0; i < v->nparts; i++) {
        if (n == 0 || strcmp(v->parts[i - 1].topic, v->parts[i].topic) != 0) {
            size_t len = strlen(v->parts[i].topic);
            char *name = bk_arena_alloc(a, len + 1);
            if (name == NULL) {
                return -1;
            }
            memcpy(name, v->parts[i].topic, len + 1);
            t[n] = (out_topic){ .topic = { name, (int32_t)len },
                                .partitions = &ids[i],
                                .partitions_count = 0 };
            n++;
        }
        ids[i] = v->parts[i].partition;
        t[n - 1].partitions_count++;
    }
    it->out->topics = t;
    it->out->topics_count = n;
    return 0;
}

static void finish(struct dtxn_state *d, struct bk_call *call)
{
    if (--d->left == 0) {
        bk_call_reply(call, &d->resp);
    }
}

static void done(struct bk_tcop *op)
{
    struct dtxn_item *it = op->data;
    out_txn *o = it->out;
    o->error_code = op->error;
    if (op->error == BK_KERR_NONE && it->have) {
        o->transaction_state = bk_str_c(bk_txn_state_name(it->v.state));
        o->transaction_timeout_ms = it->v.timeout_ms;
        o->transaction_start_time_ms = it->v.start_ms;
        o->producer_id = it->v.producer_id;
        o->producer_epoch = it->v.epoch;
        if (topics(op->call->arena, it) != 0) {
            o->error_code = BK_KERR_UNKNOWN_SERVER_ERROR;
        }
    }
    if (it->have) {
        bk_txn_value_free(&it->v);
    }
    finish(it->d, op->call);
}

void bk_handle_describe_transactions(struct bk_call *call)
{
    const struct bk_msg_describe_transactions_request *req = call->request;
    int32_t n =
        req->transactional_ids_count < 0 ? 0 : req->transactional_ids_count;
    struct dtxn_state *d = bk_arena_alloc(call->arena, sizeof(*d));
    struct dtxn_item *items =
        bk_arena_alloc(call->arena, (size_t)(n + 1) * sizeof(*items));
    out_txn *outs =
        bk_arena_alloc(call->arena, (size_t)(n + 1) * sizeof(*outs));
    if (d == NULL || items == NULL || outs == NULL) {
        bk_req_fail(call->req, "out of memory");
        return;
    }
    bk_msg_describe_transactions_response_init(&d->resp);
    d->resp.transaction_states = outs;
    d->resp.transaction_states_count = n;
    d->left = (size_t)n + 1;
    for (int32_t i = 0; i < n; i++) {
        struct dtxn_item *it = &items[i];
        *it = (struct dtxn_item){ .d = d, .out = &outs[i] };
        outs[i] = (out_txn){ .transactional_id = req->transactional_ids[i],
                             .transaction_state = bk_str_c(""),
                             .transaction_start_time_ms = -1,
                             .producer_id = -1,
                             .producer_epoch = -1 };
        bk_tcop_start(&it->op, call, req->transactional_ids[i], run, done, it);
    }
    finish(d, call);
}
