/* AddPartitionsToTxn (key 24), v0-3 (v4+: add_partitions_to_txn_v4.c): a
 * transactional producer names the partitions it is about to write,
 * before its first batch to each.
 *
 * On the connection's shard every topic is looked up first: when one is
 * unknown, its partitions get UNKNOWN_TOPIC_OR_PARTITION and every other
 * OPERATION_NOT_ATTEMPTED, and nothing is added (Kafka's all-or-nothing
 * rule). Otherwise, on the id's coordinator shard, the state machine
 * (txn/txn.h) checks the producer and adds the partitions, moving the
 * transaction to Ongoing; the answer goes once that is committed in
 * __transaction_state, with the one error for every partition.
 *
 * PRODUCER_FENCED exists from v2 (KIP-588); older versions get
 * INVALID_PRODUCER_EPOCH. v4+, the batched requests of partition leaders
 * (KIP-890), are add_partitions_to_txn_v4.c. */
#include "protocol/gen/add_partitions_to_txn.h"

#include "api/access.h"
#include "api/txn_coord.h"
#include "cluster/controller.h"
#include "protocol/kerr.h"

typedef struct
    bk_msg_add_partitions_to_txn_response_add_partitions_to_txn_topic_result
        out_topic;
typedef struct
    bk_msg_add_partitions_to_txn_response_add_partitions_to_txn_partition_result
        out_part;
typedef struct bk_msg_add_partitions_to_txn_request_add_partitions_to_txn_topic
    in_topic;

struct apt_state {
    struct bk_tcop op;
    struct bk_msg_add_partitions_to_txn_response resp;
    struct bk_str *topics; /* one per partition, for the state machine */
    int32_t *partitions;
    size_t n;
};

static void run(struct bk_tcop *op,
                struct bk_coord_txn *tc,
                struct bk_fan_part *part)
{
    const struct bk_msg_add_partitions_to_txn_request *req = op->call->request;
    struct apt_state *st = op->data;
    struct bk_coord_txn_entry *e = bk_coord_txn_find(tc, op->id);
    if (e == NULL) {
        op->error = BK_KERR_INVALID_PRODUCER_ID_MAPPING;
        return;
    }
    enum bk_txn_action act;
    struct bk_txn_value next;
    op->error = bk_txn_add_partitions(
        &e->m, req->v3_and_below_producer_id, req->v3_and_below_producer_epoch,
        st->topics, st->partitions, st->n, bk_tcop_now(op), &act, &next);
    if (op->error == BK_KERR_NONE && act == BK_TXN_WRITE) {
        struct bk_coord_waiter w = bk_tcop_waiter(op, part);
        op->error = bk_coord_txn_write(tc, e, &next, &w);
    }
}

/* Every partition's error: err, or with img (a refused request) the
 * unknown ones UNKNOWN_TOPIC_OR_PARTITION and the rest
 * OPERATION_NOT_ATTEMPTED. */
static void set_errors(const struct bk_call *call,
                       struct apt_state *st,
                       int16_t err,
                       const struct bk_md_image *img)
{
    for (int32_t i = 0; i < st->resp.results_by_topic_v3_and_below_count; i++) {
        out_topic *ot = &st->resp.results_by_topic_v3_and_below[i];
        const struct bk_md_topic *t =
            img != NULL && ot->name.len > 0
                ? bk_md_image_topic(img, ot->name.ptr, (size_t)ot->name.len)
                : NULL;
        for (int32_t j = 0; j < ot->results_by_partition_count; j++) {
            out_part *op = &ot->results_by_partition[j];
            op->partition_error_code = err;
            if (img == NULL) {
                continue;
            }
            op->partition_error_code =
                !bk_api_may(call, img, BK_ACL_OP_WRITE, BK_ACL_RES_TOPIC,
                            ot->name)
                    ? BK_KERR_TOPIC_AUTHORIZATION_FAILED
                : t == NULL ||
                        bk_md_topic_partition(t, op->partition_index) == NULL
                    ? BK_KERR_UNKNOWN_TOPIC_OR_PARTITION
                    : BK_KERR_OPERATION_NOT_ATTEMPTED;
        }
    }
}

static void done(struct bk_tcop *op)
{
    struct apt_state *st = op->data;
    int16_t err = op->error;
    if (err == BK_KERR_PRODUCER_FENCED && op->call->hdr.api_version < 2) {
        err = BK_KERR_INVALID_PRODUCER_EPOCH;
    }
    set_errors(op->call, st, err, NULL);
    bk_call_reply(op->call, &st->resp);
}

/* Lays out the answer and the partition list; returns whether every
 * topic and partition exists (-1: out of memory). */
static int plan(struct bk_call *call,
                struct apt_state *st,
                const struct bk_md_image *img)
{
    const struct bk_msg_add_partitions_to_txn_request *req = call->request;
    int32_t nt =
        req->v3_and_below_topics_count < 0 ? 0 : req->v3_and_below_topics_count;
    size_t n = 0;
    for (int32_t i = 0; i < nt; i++) {
        int32_t np = req->v3_and_below_topics[i].partitions_count;
        n += np < 0 ? 0 : (size_t)np;
    }
    st->resp.results_by_topic_v3_and_below =
        bk_arena_alloc(call->arena, (size_t)(nt + 1) * sizeof(out_topic));
    st->topics = bk_arena_alloc(call->arena, (n + 1) * sizeof(*st->topics));
    st->partitions =
        bk_arena_alloc(call->arena, (n + 1) * sizeof(*st->partitions));
    if (st->resp.results_by_topic_v3_and_below == NULL || st->topics == NULL ||
        st->partitions == NULL) {
        return -1;
    }
    st->resp.results_by_topic_v3_and_below_count = nt;
    int known = 1;
    for (int32_t i = 0; i < nt; i++) {
        const in_topic *it = &req->v3_and_below_topics[i];
        out_topic *ot = &st->resp.results_by_topic_v3_and_below[i];
        int32_t np = it->partitions_count < 0 ? 0 : it->partitions_count;
        ot->name = it->name;
        ot->results_by_partition_count = np;
        ot->results_by_partition =
            bk_arena_alloc(call->arena, (size_t)(np + 1) * sizeof(out_part));
        if (ot->results_by_partition == NULL) {
            return -1;
        }
        const struct bk_md_topic *t =
            it->name.len > 0
                ? bk_md_image_topic(img, it->name.ptr, (size_t)it->name.len)
                : NULL;
        for (int32_t j = 0; j < np; j++) {
            int32_t p = it->partitions[j];
            ot->results_by_partition[j].partition_index = p;
            /* A topic without WRITE (Kafka: TOPIC_AUTHORIZATION_FAILED)
             * refuses the request like an unknown one. */
            if (t == NULL || bk_md_topic_partition(t, p) == NULL ||
                !bk_api_may(call, img, BK_ACL_OP_WRITE, BK_ACL_RES_TOPIC,
                            it->name)) {
                known = 0;
            }
            st->topics[st->n] = it->name;
            st->partitions[st->n++] = p;
        }
    }
    return known;
}

void bk_handle_add_partitions_to_txn(struct bk_call *call)
{
    const struct bk_msg_add_partitions_to_txn_request *req = call->request;
    if (call->hdr.api_version >= 4) {
        /* Kafka: v4+ come from partition leaders (KIP-890 verification)
         * and need CLUSTER_ACTION on the cluster. */
        if (bk_api_authz_on(call) &&
            !bk_api_may_cluster(call, NULL, BK_ACL_OP_CLUSTER_ACTION)) {
            struct bk_msg_add_partitions_to_txn_response r;
            bk_msg_add_partitions_to_txn_response_init(&r);
            r.error_code = BK_KERR_CLUSTER_AUTHORIZATION_FAILED;
            bk_call_reply(call, &r);
            return;
        }
        bk_handle_add_partitions_to_txn_v4(call);
        return;
    }
    struct apt_state *st = bk_arena_alloc(call->arena, sizeof(*st));
    if (st == NULL) {
        bk_req_fail(call->req, "out of memory");
        return;
    }
    bk_msg_add_partitions_to_txn_response_init(&st->resp);
    struct bk_md_image *img = bk_api_image(call);
    int known = img != NULL ? plan(call, st, img) : -1;
    if (known < 0) {
        bk_md_image_release(img);
        bk_req_fail(call->req, "out of memory");
        return;
    }
    /* Kafka: WRITE on the transactional id first. */
    if (!bk_api_may(call, img, BK_ACL_OP_WRITE, BK_ACL_RES_TRANSACTIONAL_ID,
                    req->v3_and_below_transactional_id)) {
        set_errors(call, st, BK_KERR_TRANSACTIONAL_ID_AUTHORIZATION_FAILED,
                   NULL);
        bk_md_image_release(img);
        bk_call_reply(call, &st->resp);
        return;
    }
    if (known == 0) {
        set_errors(call, st, BK_KERR_NONE, img);
        bk_md_image_release(img);
        bk_call_reply(call, &st->resp);
        return;
    }
    bk_md_image_release(img);
    bk_tcop_start(&st->op, call, req->v3_and_below_transactional_id, run, done,
                  st);
}
