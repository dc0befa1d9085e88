/* ApiVersions (key 18), v0-4.
 *
 * The advertised ranges come from the dispatch table (call.h), so they are
 * what the broker decodes. KIP-511: a client may send a newer version than
 * we know; we answer in the v0 layout with UNSUPPORTED_VERSION and our own
 * range for key 18, and the client retries with that. The response header
 * is always v0, even for flexible versions (Kafka's ApiVersionsResponse
 * special case).
 *
 * From v3 the answer carries the features (KIP-584): the levels brokerd
 * supports (cluster/features.h) and the levels finalized in the metadata
 * log. As Kafka 4.1 answers: v3 leaves out supported features whose
 * minimum is 0 (clients from before KIP-1022, which brought v4, refuse a
 * range that starts at 0), a feature
 * finalized at level 0 is left out of the finalized list, and the epoch is
 * the metadata offset of the image the levels come from (Kafka's is the
 * image's offset too, so it grows with every metadata change). */
#include "protocol/gen/api_versions.h"

#include "api/call.h"
#include "api/sasl.h"
#include "cluster/features.h"
#include "cluster/image.h"
#include "protocol/kerr.h"

typedef struct bk_msg_api_versions_response_supported_feature_key sup_key;
typedef struct bk_msg_api_versions_response_finalized_feature_key fin_key;

static int fill_features(struct bk_call *call,
                         struct bk_msg_api_versions_response *resp)
{
    struct bk_md_image *img = bk_api_image(call);
    if (img == NULL) {
        return BK_ENOMEM;
    }
    resp->supported_features =
        bk_arena_alloc(call->arena, BK_MD_N_FEATURES * sizeof(sup_key));
    resp->finalized_features =
        bk_arena_alloc(call->arena, BK_MD_N_FEATURES * sizeof(fin_key));
    if (resp->supported_features == NULL || resp->finalized_features == NULL) {
        bk_md_image_release(img);
        return BK_ENOMEM;
    }
    int32_t ns = 0;
    int32_t nf = 0;
    for (unsigned f = 0; f < BK_MD_N_FEATURES; f++) {
        const struct bk_md_feature_def *d = bk_md_feature_def(f);
        if (d->min > 0 || call->hdr.api_version >= 4) {
            resp->supported_features[ns++] = (sup_key){
                .name = bk_str_c(d->name),
                .min_version = d->min,
                .max_version = d->max,
            };
        }
        if (img->features_finalized && img->features[f] > 0) {
            resp->finalized_features[nf++] = (fin_key){
                .name = bk_str_c(d->name),
                .max_version_level = img->features[f],
                .min_version_level = img->features[f],
            };
        }
    }
    resp->supported_features_count = ns;
    resp->finalized_features_count = nf;
    resp->finalized_features_epoch = img->features_finalized ? img->offset : -1;
    bk_md_image_release(img);
    return 0;
}

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
    if (fill_keys(call, &resp) != 0 || fill_features(call, &resp) != 0) {
        bk_req_fail(call->req, "out of memory");
        return;
    }
    resp.error_code = BK_KERR_NONE;
    resp.throttle_time_ms = 0;
    if (bk_sasl_refuse_api_versions(call->req)) {
        /* Kafka's ApiVersions error response: no keys. Then closed. */
        resp.error_code = BK_KERR_ILLEGAL_SASL_STATE;
        resp.api_keys_count = 0;
        resp.supported_features_count = 0;
        resp.finalized_features_count = 0;
    }
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
