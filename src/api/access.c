/* Authorization helpers shared by the handlers (access.h). */
#include "api/access.h"

#include <string.h>

#include "cluster/controller.h"
#include "cluster/image.h"
#include "protocol/gen/alter_configs.h"
#include "protocol/gen/create_partitions.h"
#include "protocol/gen/create_topics.h"
#include "protocol/gen/delete_topics.h"
#include "protocol/gen/incremental_alter_configs.h"
#include "protocol/kerr.h"

/* The peer's address without its port: the host an ACL names. */
static void peer_host(const struct bk_call *call, char *out, size_t cap)
{
    const char *peer = bk_conn_peer(call->req->conn);
    const char *colon = strrchr(peer, ':');
    size_t len = colon != NULL ? (size_t)(colon - peer) : strlen(peer);
    if (len >= cap) {
        len = cap - 1;
    }
    memcpy(out, peer, len);
    out[len] = '\0';
}

bool bk_api_authz_on(const struct bk_call *call)
{
    return call->ctx->authz != NULL;
}

/* Runs fn's check against img, or against the current image for NULL. */
static const struct bk_md_image *hold(const struct bk_call *call,
                                      const struct bk_md_image *img,
                                      struct bk_md_image **held)
{
    *held = NULL;
    if (img == NULL) {
        *held = bk_api_image(call);
        img = *held;
    }
    return img;
}

bool bk_api_may(const struct bk_call *call,
                const struct bk_md_image *img,
                int op,
                int res_type,
                struct bk_str name)
{
    if (call->ctx->authz == NULL) {
        return true;
    }
    char host[64];
    peer_host(call, host, sizeof(host));
    struct bk_md_image *held;
    img = hold(call, img, &held);
    bool ok = bk_authz_allowed(call->ctx->authz, img != NULL ? img->acls : NULL,
                               bk_conn_principal(call->req->conn), host, op,
                               res_type, name.len > 0 ? name.ptr : "",
                               name.len > 0 ? (size_t)name.len : 0);
    bk_md_image_release(held);
    return ok;
}

bool bk_api_may_cluster(const struct bk_call *call,
                        const struct bk_md_image *img,
                        int op)
{
    return bk_api_may(call, img, op, BK_ACL_RES_CLUSTER,
                      bk_str_c(BK_ACL_CLUSTER_NAME));
}

bool bk_api_may_create_topic(const struct bk_call *call,
                             const struct bk_md_image *img,
                             struct bk_str name)
{
    return bk_api_may_cluster(call, img, BK_ACL_OP_CREATE) ||
           bk_api_may(call, img, BK_ACL_OP_CREATE, BK_ACL_RES_TOPIC, name);
}

int16_t bk_api_config_denied(const struct bk_call *call,
                             const struct bk_md_image *img,
                             int op,
                             int8_t res_type,
                             struct bk_str name)
{
    switch (res_type) {
        case 2:
            return bk_api_may(call, img, op, BK_ACL_RES_TOPIC, name)
                       ? 0
                       : BK_KERR_TOPIC_AUTHORIZATION_FAILED;
        case 32:
            return bk_api_may(call, img, op, BK_ACL_RES_GROUP, name)
                       ? 0
                       : BK_KERR_GROUP_AUTHORIZATION_FAILED;
        default:
            return bk_api_may_cluster(call, img, op)
                       ? 0
                       : BK_KERR_CLUSTER_AUTHORIZATION_FAILED;
    }
}

bool bk_api_may_any(const struct bk_call *call,
                    const struct bk_md_image *img,
                    int op,
                    int res_type)
{
    if (call->ctx->authz == NULL) {
        return true;
    }
    char host[64];
    peer_host(call, host, sizeof(host));
    struct bk_md_image *held;
    img = hold(call, img, &held);
    bool ok = bk_authz_any_allowed(
        call->ctx->authz, img != NULL ? img->acls : NULL,
        bk_conn_principal(call->req->conn), host, op, res_type);
    bk_md_image_release(held);
    return ok;
}

int32_t bk_api_authz_ops(const struct bk_call *call,
                         const struct bk_md_image *img,
                         int res_type,
                         struct bk_str name)
{
    if (call->ctx->authz == NULL) {
        return bk_authz_supported_ops(res_type);
    }
    char host[64];
    peer_host(call, host, sizeof(host));
    struct bk_md_image *held;
    img = hold(call, img, &held);
    int32_t ops = bk_authz_operations(
        call->ctx->authz, img != NULL ? img->acls : NULL,
        bk_conn_principal(call->req->conn), host, res_type,
        name.len > 0 ? name.ptr : "", name.len > 0 ? (size_t)name.len : 0);
    bk_md_image_release(held);
    return ops;
}

static bool topics_ok(const struct bk_call *call, const struct bk_md_image *img)
{
    switch (call->hdr.api_key) {
        case BK_API_CREATE_TOPICS: {
            const struct bk_msg_create_topics_request *r = call->request;
            for (int32_t i = 0; i < r->topics_count; i++) {
                if (!bk_api_may_create_topic(call, img, r->topics[i].name)) {
                    return false;
                }
            }
            return true;
        }
        case BK_API_DELETE_TOPICS: {
            const struct bk_msg_delete_topics_request *r = call->request;
            bool v6 = call->hdr.api_version >= 6;
            int32_t n = v6 ? r->topics_count : r->topic_names_count;
            for (int32_t i = 0; i < n; i++) {
                struct bk_str name = v6 ? r->topics[i].name : r->topic_names[i];
                if (v6 && name.len < 0) {
                    const struct bk_md_topic *t =
                        bk_md_image_topic_by_id(img, &r->topics[i].topic_id);
                    name = bk_str_c(t != NULL ? t->name : NULL);
                    if (t == NULL) {
                        continue;
                    }
                }
                if (!bk_api_may(call, img, BK_ACL_OP_DELETE, BK_ACL_RES_TOPIC,
                                name)) {
                    return false;
                }
            }
            return true;
        }
        case BK_API_CREATE_PARTITIONS: {
            const struct bk_msg_create_partitions_request *r = call->request;
            for (int32_t i = 0; i < r->topics_count; i++) {
                if (!bk_api_may(call, img, BK_ACL_OP_ALTER, BK_ACL_RES_TOPIC,
                                r->topics[i].name)) {
                    return false;
                }
            }
            return true;
        }
        default:
            return true;
    }
}

static bool configs_ok(const struct bk_call *call,
                       const struct bk_md_image *img)
{
    if (call->hdr.api_key == BK_API_ALTER_CONFIGS) {
        const struct bk_msg_alter_configs_request *r = call->request;
        for (int32_t i = 0; i < r->resources_count; i++) {
            if (bk_api_config_denied(call, img, BK_ACL_OP_ALTER_CONFIGS,
                                     r->resources[i].resource_type,
                                     r->resources[i].resource_name) != 0) {
                return false;
            }
        }
    } else if (call->hdr.api_key == BK_API_INCREMENTAL_ALTER_CONFIGS) {
        const struct bk_msg_incremental_alter_configs_request *r =
            call->request;
        for (int32_t i = 0; i < r->resources_count; i++) {
            if (bk_api_config_denied(call, img, BK_ACL_OP_ALTER_CONFIGS,
                                     r->resources[i].resource_type,
                                     r->resources[i].resource_name) != 0) {
                return false;
            }
        }
    }
    return true;
}

static bool forward_ok(const struct bk_call *call,
                       const struct bk_md_image *img)
{
    switch (call->hdr.api_key) {
        case BK_API_CREATE_ACLS:
        case BK_API_DELETE_ACLS:
        case BK_API_ALTER_USER_SCRAM_CREDENTIALS:
            return bk_api_may_cluster(call, img, BK_ACL_OP_ALTER);
        case BK_API_ALTER_CLIENT_QUOTAS:
            return bk_api_may_cluster(call, img, BK_ACL_OP_ALTER_CONFIGS);
        default:
            return topics_ok(call, img) && configs_ok(call, img);
    }
}

bool bk_api_forward_authorized(const struct bk_call *call)
{
    if (call->ctx->authz == NULL) {
        return true;
    }
    struct bk_md_image *img = bk_api_image(call);
    bool ok = img != NULL && forward_ok(call, img);
    bk_md_image_release(img);
    return ok;
}

struct bk_acl_filter bk_api_acl_filter(int8_t res_type,
                                       int8_t pattern,
                                       int8_t op,
                                       int8_t perm,
                                       struct bk_str name,
                                       struct bk_str principal,
                                       struct bk_str host)
{
    return (struct bk_acl_filter){
        .res_type = res_type,
        .pattern = pattern,
        .op = op,
        .perm = perm,
        .name = name.len >= 0 ? name.ptr : NULL,
        .name_len = name.len > 0 ? (size_t)name.len : 0,
        .principal = principal.len >= 0 ? principal.ptr : NULL,
        .principal_len = principal.len > 0 ? (size_t)principal.len : 0,
        .host = host.len >= 0 ? host.ptr : NULL,
        .host_len = host.len > 0 ? (size_t)host.len : 0,
    };
}
