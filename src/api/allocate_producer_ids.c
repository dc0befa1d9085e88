/* AllocateProducerIds (key 67, v0): the active controller hands a broker
 * the next block of BK_MD_PRODUCER_ID_BLOCK producer ids (issue 12).
 *
 * The block is a metadata record, so no two brokers and no two lives of a
 * broker ever reuse an id; the broker must be registered, unfenced, with
 * the epoch it sends (STALE_BROKER_EPOCH otherwise, as Kafka). Internal:
 * only brokerd nodes send it (dispatch.c's internal table). */
#include "protocol/gen/allocate_producer_ids.h"

#include "api/call.h"
#include "cluster/controller.h"
#include "cluster/ops.h"
#include "common/diag.h"
#include "protocol/kerr.h"

struct apid_state {
    struct bk_msg_allocate_producer_ids_response resp;
    int64_t first;
    int tries;
};

static void answer(struct bk_call *call, int16_t err)
{
    struct apid_state *st = call->data_ptr;
    st->resp.error_code = err;
    st->resp.producer_id_start = err == 0 ? st->first : -1;
    st->resp.producer_id_len = err == 0 ? BK_MD_PRODUCER_ID_BLOCK : 0;
    bk_call_reply(call, &st->resp);
}

static void propose_block(struct bk_call *call);

static void applied(struct bk_call *call, int status)
{
    struct apid_state *st = call->data_ptr;
    if (status == BK_ESTATE && st->tries < 3) {
        propose_block(call); /* another block won the race: the next one */
        return;
    }
    answer(call, bk_api_md_kerr(status));
}

static void propose_block(struct bk_call *call)
{
    const struct bk_msg_allocate_producer_ids_request *req = call->request;
    struct apid_state *st = call->data_ptr;
    st->tries++;
    struct bk_md_image *img = bk_api_image(call);
    struct bk_md_recs recs;
    bk_md_recs_init(&recs, call->arena);
    char msg[BK_MD_MSG_SIZE];
    int16_t err = bk_md_op_alloc_producer_ids(
        img, req->broker_id, req->broker_epoch, &recs, &st->first, msg);
    bk_md_image_release(img);
    if (err != 0) {
        bk_diag_info("api", "broker=%d msg=\"no producer ids: %s\"",
                     req->broker_id, msg);
        answer(call, err < 0 ? BK_KERR_UNKNOWN_SERVER_ERROR : err);
        return;
    }
    int rv = bk_api_propose(call, recs.v, recs.n, applied);
    if (rv != 0) {
        answer(call, bk_api_md_kerr(rv));
    }
}

void bk_handle_allocate_producer_ids(struct bk_call *call)
{
    struct apid_state *st = bk_arena_alloc(call->arena, sizeof(*st));
    if (st == NULL) {
        bk_req_fail(call->req, "out of memory");
        return;
    }
    call->data_ptr = st;
    bk_msg_allocate_producer_ids_response_init(&st->resp);
    if (!bk_md_is_active(call->ctx->md)) {
        answer(call, BK_KERR_NOT_CONTROLLER);
        return;
    }
    propose_block(call);
}
