/* ApiVersions (key 18), v0-4.
 *
 * The advertised ranges come from the dispatch table (call.h), so they are
 * what the broker decodes. KIP-511: a client may send a newer version than
 * we know; we answer in the v0 layout with UNSUPPORTED_VERSION and our own
 * range for key 18, and the client retries with that. The response header
 * is always v0, even for flexible versions (Kafka's ApiVersionsResponse
 * special case). */
#include "protocol/gen/api_versions.h"

#include "api/call.h"
#include "protocol/kerr.h"

static int fill_keys(struct bk_call *call,
                     struct bk_msg_api_versions_response *resp)
{
    size_t n;
    const struct bk_handler *rows = bk_api_handlers(&n);
    resp->api_keys = bk_arena_alloc(call->arena, n * sizeof(*resp->api_keys));
    if (resp->api_keys == NULL) {
        return BK_ENOMEM;
    }
    for (size_t i = 0; i < n; i++) {
        resp->api_keys[i].api_key = rows[i].key;
        resp->api_keys[i].min_version = rows[i].advertised_min;
        resp->api_keys[i].max_version = rows[i].max_version;
    }
    resp->api_keys_count = (int32_t)n;
    return 0;
}

void bk_handle_api_versions(struct bk_call *call)
{
    struct bk_msg_api_versions_response resp;
    bk_msg_api_versions_response_init(&resp);
    if (fill_keys(call, &resp) != 0) {
        bk_req_fail(call->req, "out of memory");
        return;
    }
    resp.error_code = BK_KERR_NONE;
    resp.throttle_time_ms = 0;
    bk_call_reply_v0_header(call, &resp, call->hdr.api_version);
}

void bk_api_versions_unsupported(struct bk_call *call)
{
    struct bk_msg_api_versions_response resp;
    bk_msg_api_versions_response_init(&resp);
    struct bk_msg_api_versions_response_api_version own;
    size_t n;
    const struct bk_handler *rows = bk_api_handlers(&n);
    own.api_key = BK_API_API_VERSIONS;
    own.min_version = 0;
    own.max_version = 0;
    for (size_t i = 0; i < n; i++) {
        if (rows[i].key == BK_API_API_VERSIONS) {
            own.min_version = rows[i].advertised_min;
            own.max_version = rows[i].max_version;
        }
    }
    resp.error_code = BK_KERR_UNSUPPORTED_VERSION;
    resp.api_keys = &own;
    resp.api_keys_count = 1;
    bk_call_reply_v0_header(call, &resp, 0);
}
