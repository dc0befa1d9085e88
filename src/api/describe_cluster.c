/* DescribeCluster (key 60), v0-2.
 *
 * The cluster id, the active controller and the registered brokers from
 * the metadata image. Fenced brokers are left out unless a v2 request asks
 * for them (include_fenced_brokers). endpoint_type (v1+) 1 asks for
 * brokers; 2 (controllers) is answered UNSUPPORTED_ENDPOINT_TYPE, as a
 * Kafka broker does (only controllers answer it). The cluster's authorized
 * operations (KIP-430) when include_cluster_authorized_operations asks:
 * api/authz.h. */
#include "protocol/gen/describe_cluster.h"

#include "api/access.h"
#include "api/authz.h"
#include "api/call.h"
#include "cluster/controller.h"
#include "protocol/kerr.h"

typedef struct bk_msg_describe_cluster_response_describe_cluster_broker
    out_broker;

void bk_handle_describe_cluster(struct bk_call *call)
{
    const struct bk_msg_describe_cluster_request *req = call->request;
    int16_t version = call->hdr.api_version;
    struct bk_msg_describe_cluster_response resp;
    bk_msg_describe_cluster_response_init(&resp);
    resp.throttle_time_ms = 0;
    resp.endpoint_type = 1;
    resp.cluster_id = bk_str_c(call->ctx->cluster_id);
    struct bk_md_image *img = bk_api_image(call);
    if (img == NULL) {
        bk_req_fail(call->req, "out of memory");
        return;
    }
    resp.controller_id = bk_api_controller_for_clients(call, img);
    resp.cluster_authorized_operations = BK_API_AUTHZ_NOT_ASKED;
    resp.brokers = NULL;
    resp.brokers_count = 0;
    if (version >= 1 && req->endpoint_type != 1) {
        resp.endpoint_type = req->endpoint_type;
        resp.error_code = BK_KERR_UNSUPPORTED_ENDPOINT_TYPE;
        resp.error_message = bk_str_c(
            req->endpoint_type == 2
                ? "The request was sent to an endpoint of type BROKER, but "
                  "we wanted an endpoint of type CONTROLLER"
                : "Unknown endpoint type");
        bk_md_image_release(img);
        bk_call_reply(call, &resp);
        return;
    }
    resp.brokers =
        bk_arena_alloc(call->arena, (img->n_brokers + 1) * sizeof(out_broker));
    if (resp.brokers == NULL) {
        bk_md_image_release(img);
        bk_req_fail(call->req, "out of memory");
        return;
    }
    if (req->include_cluster_authorized_operations) {
        resp.cluster_authorized_operations = bk_api_authz_ops(
            call, img, BK_ACL_RES_CLUSTER, bk_str_c(BK_ACL_CLUSTER_NAME));
    }
    bool with_fenced = version >= 2 && req->include_fenced_brokers;
    for (size_t i = 0; i < img->n_brokers; i++) {
        const struct bk_md_broker *b = &img->brokers[i];
        if (b->fenced && !with_fenced) {
            continue;
        }
        out_broker *o = &resp.brokers[resp.brokers_count++];
        o->broker_id = b->id;
        /* Copies: the image is released before the answer is encoded. */
        const char *host;
        bk_api_broker_addr(call, b->id, b->host, b->port, &host, &o->port);
        o->host = bk_str_c(bk_call_cstr(call, bk_str_c(host)));
        o->rack = b->rack != NULL
                      ? bk_str_c(bk_call_cstr(call, bk_str_c(b->rack)))
                      : BK_STR_NULL;
        o->is_fenced = b->fenced;
        if (o->host.ptr == NULL || (b->rack != NULL && o->rack.ptr == NULL)) {
            bk_md_image_release(img);
            bk_req_fail(call->req, "out of memory");
            return;
        }
    }
    bk_md_image_release(img);
    bk_call_reply(call, &resp);
}
