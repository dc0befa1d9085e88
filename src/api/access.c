/* Authorization helpers shared by the handlers (access.h). */
#include "api/access.h"

#include <string.h>

#include "cluster/controller.h"
#include "cluster/image.h"

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

bool bk_api_forward_authorized(const struct bk_call *call)
{
    if (call->ctx->authz == NULL) {
        return true;
    }
    switch (call->hdr.api_key) {
        case BK_API_CREATE_ACLS:
        case BK_API_DELETE_ACLS:
            return bk_api_may_cluster(call, NULL, BK_ACL_OP_ALTER);
        default:
            return true;
    }
}
