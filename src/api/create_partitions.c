/* CreatePartitions (key 37), v0-3.
 *
 * Grows each topic to its new count with the replication factor of its
 * partition 0, placed by the controller's assignment (ops.h). Errors as
 * Kafka gives them: UNKNOWN_TOPIC_OR_PARTITION for a missing topic (with
 * no message, as in Kafka 4.1), INVALID_PARTITIONS when the count does not
 * grow the topic, INVALID_REQUEST for a topic named twice. A non-null
 * assignments array places the new partitions by hand: one replica list per new
 * partition (an empty array counts, and is refused for its size), checked as
 * Kafka 4.1 checks it (ops.h). All valid topics go into one proposal and the
 * answer waits until it is applied; validate_only changes nothing. */
#include "protocol/gen/create_partitions.h"

#include <string.h>

#include "api/access.h"
#include "api/call.h"
#include "cluster/controller.h"
#include "cluster/ops.h"
#include "protocol/kerr.h"

typedef struct bk_msg_create_partitions_request_create_partitions_topic
    in_topic;
typedef struct bk_msg_create_partitions_response_create_partitions_topic_result
    out_topic;

struct cp_state {
    struct bk_msg_create_partitions_response resp;
    bool *proposed;
};

static void applied(struct bk_call *call, int status)
{
    struct cp_state *st = call->data_ptr;
    if (status != 0) {
        int16_t err = bk_api_md_kerr(status);
        for (int32_t i = 0; i < st->resp.results_count; i++) {
            if (st->proposed[i]) {
                st->resp.results[i].error_code = err;
                st->resp.results[i].error_message =
                    bk_str_c(bk_kerr_message(err));
            }
        }
    }
    bk_call_reply(call, &st->resp);
}

/* The request's replica lists as the controller's input, in the call's
 * arena; *asg is NULL for a null array (automatic placement). Returns 0 or
 * BK_ENOMEM. */
static int manual_assignment(struct bk_call *call,
                             const in_topic *t,
                             struct bk_md_replicas **asg)
{
    *asg = NULL;
    if (t->assignments_count < 0) {
        return 0;
    }
    size_t n = (size_t)t->assignments_count;
    *asg = bk_arena_alloc(call->arena, (n + 1) * sizeof(**asg));
    if (*asg == NULL) {
        return BK_ENOMEM;
    }
    for (size_t k = 0; k < n; k++) {
        int32_t nb = t->assignments[k].broker_ids_count;
        (*asg)[k] = (struct bk_md_replicas){
            .partition = -1, /* numbered by the controller */
            .n = nb < 0 ? 0 : nb,
            .brokers = t->assignments[k].broker_ids,
        };
    }
    return 0;
}

static bool duplicated(const struct bk_msg_create_partitions_request *req,
                       int32_t i)
{
    for (int32_t j = 0; j < req->topics_count; j++) {
        if (j != i && bk_str_eq(req->topics[j].name, req->topics[i].name)) {
            return true;
        }
    }
    return false;
}

void bk_handle_create_partitions(struct bk_call *call)
{
    const struct bk_msg_create_partitions_request *req = call->request;
    int32_t n = req->topics_count < 0 ? 0 : req->topics_count;
    struct cp_state *st = bk_arena_alloc(call->arena, sizeof(*st));
    struct bk_md_image *img = bk_api_image(call);
    if (st != NULL) {
        bk_msg_create_partitions_response_init(&st->resp);
        st->resp.results =
            bk_arena_alloc(call->arena, (size_t)(n + 1) * sizeof(out_topic));
        st->proposed = bk_arena_alloc(call->arena, (size_t)n + 1);
    }
    if (st == NULL || st->resp.results == NULL || st->proposed == NULL ||
        img == NULL) {
        bk_md_image_release(img);
        bk_req_fail(call->req, "out of memory");
        return;
    }
    call->data_ptr = st;
    st->resp.results_count = n;
    struct bk_md_recs recs;
    bk_md_recs_init(&recs, call->arena);
    for (int32_t i = 0; i < n; i++) {
        const in_topic *t = &req->topics[i];
        out_topic *out = &st->resp.results[i];
        out->name = t->name;
        st->proposed[i] = false;
        char *msg = bk_arena_alloc(call->arena, BK_MD_MSG_SIZE);
        if (msg == NULL) {
            bk_md_image_release(img);
            bk_req_fail(call->req, "out of memory");
            return;
        }
        int16_t err;
        size_t before = recs.n;
        if (duplicated(req, i)) {
            err = BK_KERR_INVALID_REQUEST;
            snprintf(msg, BK_MD_MSG_SIZE, "Duplicate topic in request.");
        } else if (!bk_api_may(call, img, BK_ACL_OP_ALTER, BK_ACL_RES_TOPIC,
                               t->name)) {
            /* Kafka: ALTER on the topic (security-notes.md §7). */
            err = BK_KERR_TOPIC_AUTHORIZATION_FAILED;
            snprintf(msg, BK_MD_MSG_SIZE, "Authorization failed.");
        } else {
            struct bk_md_replicas *asg;
            if (manual_assignment(call, t, &asg) != 0) {
                bk_md_image_release(img);
                bk_req_fail(call->req, "out of memory");
                return;
            }
            /* By every byte of the name, as in DeleteTopics. */
            size_t len = t->name.len > 0 ? (size_t)t->name.len : 0;
            err = bk_md_op_create_partitions(
                img, len > 0 ? t->name.ptr : "", len, t->count, asg,
                asg != NULL ? (size_t)t->assignments_count : 0,
                bk_md_rng_system(), &recs, msg);
        }
        if (err == 0 && req->validate_only) {
            recs.n = before;
        } else if (err == 0) {
            st->proposed[i] = true;
        }
        out->error_code = err;
        /* Kafka 4.1 names no reason for an unknown topic. */
        out->error_message =
            err != 0 && err != BK_KERR_UNKNOWN_TOPIC_OR_PARTITION
                ? bk_str_c(msg)
                : BK_STR_NULL;
    }
    bk_md_image_release(img);
    if (recs.n == 0) {
        bk_call_reply(call, &st->resp);
        return;
    }
    int rv = bk_api_propose(call, recs.v, recs.n, applied);
    if (rv != 0) {
        applied(call, rv);
    }
}
