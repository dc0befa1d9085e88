/* AddOffsetsToTxn (key 25), v0-4: a transactional producer is about to
 * commit a consumer group's offsets in its transaction (TxnOffsetCommit,
 * to the group coordinator). The transaction coordinator adds the
 * group's __consumer_offsets partition (Kafka's hash of the group id) to
 * the transaction exactly as AddPartitionsToTxn does, so that the
 * transaction's marker reaches it and the offsets become visible (or are
 * dropped) with the rest of the transaction.
 *
 * PRODUCER_FENCED exists from v2 (KIP-588); older versions get
 * INVALID_PRODUCER_EPOCH. v4 only lets the answer be
 * TRANSACTION_ABORTABLE (KIP-890), which this coordinator does not send
 * here. */
#include "protocol/gen/add_offsets_to_txn.h"

#include <string.h>

#include "api/access.h"
#include "api/group_coord.h"
#include "api/txn_coord.h"
#include "cluster/controller.h"
#include "protocol/kerr.h"

struct aot_state {
    struct bk_tcop op;
    struct bk_msg_add_offsets_to_txn_response resp;
    int32_t offsets_partition;
};

static void run(struct bk_tcop *op,
                struct bk_coord_txn *tc,
                struct bk_fan_part *part)
{
    const struct bk_msg_add_offsets_to_txn_request *req = op->call->request;
    struct aot_state *st = op->data;
    struct bk_coord_txn_entry *e = bk_coord_txn_find(tc, op->id);
    if (e == NULL) {
        op->error = BK_KERR_INVALID_PRODUCER_ID_MAPPING;
        return;
    }
    struct bk_str topic = bk_str_c(BK_OFFSETS_TOPIC);
    enum bk_txn_action act;
    struct bk_txn_value next;
    op->error = bk_txn_add_partitions(
        &e->m, req->producer_id, req->producer_epoch, &topic,
        &st->offsets_partition, 1, bk_tcop_now(op), &act, &next);
    if (op->error == BK_KERR_NONE && act == BK_TXN_WRITE) {
        struct bk_coord_waiter w = bk_tcop_waiter(op, part);
        op->error = bk_coord_txn_write(tc, e, &next, &w);
    }
}

static void done(struct bk_tcop *op)
{
    struct aot_state *st = op->data;
    int16_t err = op->error;
    if (err == BK_KERR_PRODUCER_FENCED && op->call->hdr.api_version < 2) {
        err = BK_KERR_INVALID_PRODUCER_EPOCH;
    }
    st->resp.error_code = err;
    bk_call_reply(op->call, &st->resp);
}

void bk_handle_add_offsets_to_txn(struct bk_call *call)
{
    const struct bk_msg_add_offsets_to_txn_request *req = call->request;
    struct aot_state *st = bk_arena_alloc(call->arena, sizeof(*st));
    if (st == NULL) {
        bk_req_fail(call->req, "out of memory");
        return;
    }
    bk_msg_add_offsets_to_txn_response_init(&st->resp);
    /* Kafka: WRITE on the transactional id, then READ on the group. */
    if (!bk_api_may(call, NULL, BK_ACL_OP_WRITE, BK_ACL_RES_TRANSACTIONAL_ID,
                    req->transactional_id) ||
        !bk_api_may(call, NULL, BK_ACL_OP_READ, BK_ACL_RES_GROUP,
                    req->group_id)) {
        st->resp.error_code =
            bk_api_may(call, NULL, BK_ACL_OP_WRITE, BK_ACL_RES_TRANSACTIONAL_ID,
                       req->transactional_id)
                ? BK_KERR_GROUP_AUTHORIZATION_FAILED
                : BK_KERR_TRANSACTIONAL_ID_AUTHORIZATION_FAILED;
        bk_call_reply(call, &st->resp);
        return;
    }
    struct bk_md_image *img = bk_api_image(call);
    const struct bk_md_topic *t =
        img != NULL
            ? bk_md_image_topic(img, BK_OFFSETS_TOPIC, strlen(BK_OFFSETS_TOPIC))
            : NULL;
    int32_t n = t != NULL ? t->n_partitions : 0;
    bk_md_image_release(img);
    if (n <= 0 || req->group_id.len < 0) {
        /* No group has used this cluster yet: the group coordinator the
         * producer needs next does not exist either. */
        st->resp.error_code = req->group_id.len < 0
                                  ? BK_KERR_INVALID_GROUP_ID
                                  : BK_KERR_COORDINATOR_NOT_AVAILABLE;
        bk_call_reply(call, &st->resp);
        return;
    }
    st->offsets_partition = bk_coord_key_partition(req->group_id, n);
    bk_tcop_start(&st->op, call, req->transactional_id, run, done, st);
}
