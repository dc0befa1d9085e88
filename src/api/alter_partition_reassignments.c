/* AlterPartitionReassignments (key 45, v0): start, change or cancel the
 * reassignment of partitions (KIP-455; kafka-reassign-partitions.sh
 * --execute and --cancel, brokerctl partition reassign).
 *
 * Decided on the active controller's image (forward.c sends it there from
 * any other node) by bk_md_op_reassign, Kafka's rules; every change of the
 * request goes into one proposal, answered once applied. The brokers then
 * follow the metadata: new replicas open and fetch, the leader brings them
 * into the ISR, and the controller completes the move when the last one
 * joins (cluster/ops_reassign.c). */
#include "protocol/gen/alter_partition_reassignments.h"

#include <string.h>

#include "api/call.h"
#include "cluster/controller.h"
#include "cluster/ops.h"
#include "protocol/kerr.h"

typedef struct
    bk_msg_alter_partition_reassignments_response_reassignable_topic_response
        topic_resp;
typedef struct
    bk_msg_alter_partition_reassignments_response_reassignable_partition_response
        part_resp;

/* Kafka's message for an error: the operation's own, else the code's. */
static struct bk_str message(struct bk_call *call, int16_t code, const char *m)
{
    if (code == BK_KERR_NONE) {
        return BK_STR_NULL;
    }
    if (m[0] == '\0') {
        return bk_str_c(bk_kerr_message(code));
    }
    char *c = bk_arena_strndup(call->arena, m, strlen(m));
    return c != NULL ? bk_str_c(c) : bk_str_c(bk_kerr_message(code));
}

static void reassign_one(
    struct bk_call *call,
    const struct bk_md_image *img,
    struct bk_str topic,
    const struct
    bk_msg_alter_partition_reassignments_request_reassignable_partition *rp,
    struct bk_md_recs *recs,
    part_resp *out)
{
    char msg[BK_MD_MSG_SIZE];
    int16_t code = bk_md_op_reassign(img, topic.len > 0 ? topic.ptr : "",
                                     topic.len > 0 ? (size_t)topic.len : 0,
                                     rp->partition_index, rp->replicas,
                                     rp->replicas_count, recs, msg);
    if (code < 0) {
        code = BK_KERR_UNKNOWN_SERVER_ERROR;
    }
    *out = (part_resp){ .partition_index = rp->partition_index,
                        .error_code = code,
                        .error_message = message(call, code, msg) };
}

/* The proposal failed: the changes it carried did not happen. */
static void applied(struct bk_call *call, int status)
{
    struct bk_msg_alter_partition_reassignments_response *resp = call->data_ptr;
    int16_t code = bk_api_md_kerr(status);
    for (int32_t i = 0; status != 0 && i < resp->responses_count; i++) {
        topic_resp *t = &resp->responses[i];
        for (int32_t k = 0; k < t->partitions_count; k++) {
            if (t->partitions[k].error_code == BK_KERR_NONE) {
                t->partitions[k].error_code = code;
                t->partitions[k].error_message =
                    bk_str_c(bk_kerr_message(code));
            }
        }
    }
    bk_call_reply(call, resp);
}

void bk_handle_alter_partition_reassignments(struct bk_call *call)
{
    const struct bk_msg_alter_partition_reassignments_request *req =
        call->request;
    struct bk_msg_alter_partition_reassignments_response *resp =
        bk_arena_alloc(call->arena, sizeof(*resp));
    int32_t nt = req->topics_count < 0 ? 0 : req->topics_count;
    topic_resp *topics =
        bk_arena_alloc(call->arena, sizeof(*topics) * (size_t)nt + 1);
    struct bk_md_image *img = bk_api_image(call);
    if (resp == NULL || topics == NULL || img == NULL) {
        bk_md_image_release(img);
        bk_req_fail(call->req, "out of memory");
        return;
    }
    bk_msg_alter_partition_reassignments_response_init(resp);
    resp->responses = topics;
    resp->responses_count = nt;
    call->data_ptr = resp;
    struct bk_md_recs recs;
    bk_md_recs_init(&recs, call->arena);
    for (int32_t i = 0; i < nt; i++) {
        const struct
            bk_msg_alter_partition_reassignments_request_reassignable_topic
                *rt = &req->topics[i];
        int32_t np = rt->partitions_count < 0 ? 0 : rt->partitions_count;
        part_resp *parts =
            bk_arena_alloc(call->arena, sizeof(*parts) * (size_t)np + 1);
        if (parts == NULL) {
            bk_md_image_release(img);
            bk_req_fail(call->req, "out of memory");
            return;
        }
        topics[i] = (topic_resp){ .name = rt->name,
                                  .partitions = parts,
                                  .partitions_count = np };
        for (int32_t k = 0; k < np; k++) {
            reassign_one(call, img, rt->name, &rt->partitions[k], &recs,
                         &parts[k]);
        }
    }
    bk_md_image_release(img);
    if (recs.n == 0) {
        bk_call_reply(call, resp);
        return;
    }
    int rv = bk_api_propose(call, recs.v, recs.n, applied);
    if (rv != 0) {
        applied(call, rv);
    }
}
