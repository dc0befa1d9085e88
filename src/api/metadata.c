/* Metadata (key 3), v0-13.
 *
 * Brokers, cluster id, controller id and topics. Version rules that are easy
 * to miss (protocol-notes.md §d): in v0 an empty topic list means "all
 * topics"; from v1 a null list means all and an empty one means none; v10+
 * requests may name topics by id; cluster id from v2, rack and controller
 * from v1 (the codec drops fields a version lacks).
 *
 * Topics come from the cluster metadata image once that layer is wired
 * in; until then the broker holds no topics and every named topic is
 * answered with UNKNOWN_TOPIC_OR_PARTITION (UNKNOWN_TOPIC_ID for ids). */
#include "protocol/gen/metadata.h"

#include <string.h>

#include "api/call.h"
#include "protocol/kerr.h"

static int fill_brokers(struct bk_call *call,
                        struct bk_msg_metadata_response *resp)
{
    const struct bk_api_ctx *ctx = call->ctx;
    resp->brokers = bk_arena_alloc(call->arena, sizeof(*resp->brokers));
    if (resp->brokers == NULL) {
        return BK_ENOMEM;
    }
    /* One node so far; clients connect to the first advertised listener. */
    struct bk_msg_metadata_response_metadata_response_broker *b =
        &resp->brokers[0];
    b->node_id = ctx->node_id;
    b->host = bk_str_c(ctx->advertised[0].host);
    b->port = ctx->advertised[0].port;
    b->rack = ctx->rack[0] != '\0' ? bk_str_c(ctx->rack) : BK_STR_NULL;
    resp->brokers_count = 1;
    return 0;
}

void bk_handle_metadata(struct bk_call *call)
{
    const struct bk_msg_metadata_request *req = call->request;
    struct bk_msg_metadata_response resp;
    bk_msg_metadata_response_init(&resp);
    if (fill_brokers(call, &resp) != 0) {
        bk_req_fail(call->req, "out of memory");
        return;
    }
    resp.throttle_time_ms = 0;
    resp.cluster_id = bk_str_c(call->ctx->cluster_id);
    resp.controller_id = call->ctx->node_id;
    resp.cluster_authorized_operations = INT32_MIN;

    /* "All topics" (v0 empty list, v1+ null list): none exist yet. */
    bool all = req->topics_count < 0 ||
               (call->hdr.api_version == 0 && req->topics_count == 0);
    if (all || req->topics_count == 0) {
        resp.topics_count = 0;
        bk_call_reply(call, &resp);
        return;
    }
    resp.topics = bk_arena_alloc(
        call->arena, (size_t)req->topics_count * sizeof(*resp.topics));
    if (resp.topics == NULL) {
        bk_req_fail(call->req, "out of memory");
        return;
    }
    resp.topics_count = req->topics_count;
    for (int32_t i = 0; i < req->topics_count; i++) {
        const struct bk_msg_metadata_request_metadata_request_topic *t =
            &req->topics[i];
        struct bk_msg_metadata_response_metadata_response_topic *out =
            &resp.topics[i];
        out->name = t->name;
        out->topic_id = t->topic_id;
        out->error_code = (t->name.len < 0)
                              ? BK_KERR_UNKNOWN_TOPIC_ID
                              : BK_KERR_UNKNOWN_TOPIC_OR_PARTITION;
        out->is_internal = false;
        out->partitions_count = 0;
        out->topic_authorized_operations = INT32_MIN;
    }
    bk_call_reply(call, &resp);
}
