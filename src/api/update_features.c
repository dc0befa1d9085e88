/* UpdateFeatures (key 57), v0-2.
 *
 * Validates every update against the newest image (cluster/ops.h) and, when
 * all are valid and the request is not validate_only, proposes the changed
 * levels as feature records and answers once they are applied. As Kafka 4.1
 * answers: an invalid update fails the whole request with a top-level
 * INVALID_UPDATE_VERSION and an empty result list; success gives one result
 * per update (v0-1) with error NONE and the message "NONE". */
#include "protocol/gen/update_features.h"

#include <stdio.h>

#include "api/call.h"
#include "cluster/controller.h"
#include "cluster/ops.h"
#include "protocol/kerr.h"

typedef struct bk_msg_update_features_response_updatable_feature_result result;

static void applied(struct bk_call *call, int status)
{
    struct bk_msg_update_features_response *resp = call->data_ptr;
    if (status != 0) {
        resp->error_code = bk_api_md_kerr(status);
        resp->error_message = bk_str_c(bk_kerr_message(resp->error_code));
        resp->results_count = 0;
    }
    bk_call_reply(call, resp);
}

/* The updates of req as the controller operation takes them (arena). */
static struct bk_md_feature_update *updates(
    struct bk_call *call,
    const struct bk_msg_update_features_request *req,
    size_t n)
{
    struct bk_md_feature_update *u =
        bk_arena_alloc(call->arena, (n + 1) * sizeof(*u));
    for (size_t i = 0; u != NULL && i < n; i++) {
        const struct bk_msg_update_features_request_feature_update_key *k =
            &req->feature_updates[i];
        u[i].name = k->feature;
        u[i].level = k->max_version_level;
        /* v0 has no upgrade type: the field keeps its default, UPGRADE.
         * Kafka 4.1's controller also reads only this field, so v0's
         * allow_downgrade changes nothing (a v0 downgrade is refused). */
        u[i].upgrade_type = k->upgrade_type;
    }
    return u;
}

void bk_handle_update_features(struct bk_call *call)
{
    const struct bk_msg_update_features_request *req = call->request;
    size_t n =
        req->feature_updates_count < 0 ? 0 : (size_t)req->feature_updates_count;
    struct bk_msg_update_features_response *resp =
        bk_arena_alloc(call->arena, sizeof(*resp));
    struct bk_md_feature_update *u = updates(call, req, n);
    char *msg = bk_arena_alloc(call->arena, BK_MD_MSG_SIZE);
    result *res = bk_arena_alloc(call->arena, (n + 1) * sizeof(*res));
    struct bk_md_image *img = bk_api_image(call);
    if (resp == NULL || u == NULL || msg == NULL || res == NULL ||
        img == NULL) {
        bk_md_image_release(img);
        bk_req_fail(call->req, "out of memory");
        return;
    }
    bk_msg_update_features_response_init(resp);
    call->data_ptr = resp;
    struct bk_md_recs recs;
    bk_md_recs_init(&recs, call->arena);
    int16_t err =
        bk_md_op_update_features(img, call->ctx->node_id, u, n, &recs, msg);
    bk_md_image_release(img);
    resp->results = res;
    resp->results_count = 0;
    resp->error_message = BK_STR_NULL; /* Kafka: null when no error */
    if (err != 0) {
        resp->error_code = err < 0 ? BK_KERR_UNKNOWN_SERVER_ERROR : err;
        resp->error_message = bk_str_c(msg);
        bk_call_reply(call, resp);
        return;
    }
    for (size_t i = 0; i < n; i++) {
        res[i].feature = u[i].name;
        res[i].error_code = BK_KERR_NONE;
        res[i].error_message = bk_str_c("NONE");
    }
    resp->results_count = (int32_t)n;
    if (req->validate_only || recs.n == 0) {
        bk_call_reply(call, resp);
        return;
    }
    int rv = bk_api_propose(call, recs.v, recs.n, applied);
    if (rv != 0) {
        applied(call, rv);
    }
}
