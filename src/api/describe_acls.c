/* DescribeAcls (key 29), v1-3 (security-notes.md §8).
 *
 * Answered by every broker from its own metadata image, as Kafka's brokers
 * answer from their authorizer. Needs DESCRIBE on the cluster
 * (CLUSTER_AUTHORIZATION_FAILED); a filter with an UNKNOWN code is an
 * INVALID_REQUEST; without an authorizer the answer is SECURITY_DISABLED.
 * The matching ACLs are grouped by resource pattern (type, name, pattern
 * type), which is the set's own order. */
#include "protocol/gen/describe_acls.h"

#include <string.h>

#include "api/access.h"
#include "cluster/image.h"
#include "protocol/kerr.h"

typedef struct bk_msg_describe_acls_response_describe_acls_resource resource;
typedef struct bk_msg_describe_acls_response_acl_description description;

static struct bk_acl_filter filter_of(
    const struct bk_msg_describe_acls_request *req)
{
    return bk_api_acl_filter(req->resource_type_filter,
                             req->pattern_type_filter, req->operation,
                             req->permission_type, req->resource_name_filter,
                             req->principal_filter, req->host_filter);
}

static bool same_resource(const struct bk_acl *a, const struct bk_acl *b)
{
    return a->res_type == b->res_type && a->pattern == b->pattern &&
           a->name_len == b->name_len &&
           memcmp(a->name, b->name, a->name_len) == 0;
}

/* Fills resp with the ACLs of img matching f. Returns false when out of
 * memory. */
static bool describe(struct bk_call *call,
                     const struct bk_md_image *img,
                     const struct bk_acl_filter *f,
                     struct bk_msg_describe_acls_response *resp)
{
    size_t total = bk_acl_set_count(img->acls);
    resource *res = bk_arena_alloc(call->arena, (total + 1) * sizeof(*res));
    description *d = bk_arena_alloc(call->arena, (total + 1) * sizeof(*d));
    if (res == NULL || d == NULL) {
        return false;
    }
    resp->resources = res;
    resp->resources_count = 0;
    const struct bk_acl *prev = NULL;
    size_t nd = 0;
    for (size_t i = 0; i < total; i++) {
        const struct bk_acl *a = bk_acl_set_at(img->acls, i);
        if (!bk_acl_filter_matches(f, a)) {
            continue;
        }
        if (prev == NULL || !same_resource(prev, a)) {
            resource *r = &res[resp->resources_count++];
            r->resource_type = a->res_type;
            r->resource_name = bk_str_c(bk_call_cstr(call, bk_str_c(a->name)));
            r->pattern_type = a->pattern;
            r->acls = &d[nd];
            r->acls_count = 0;
        }
        resource *r = &res[resp->resources_count - 1];
        description *e = &d[nd++];
        e->principal = bk_str_c(bk_call_cstr(call, bk_str_c(a->principal)));
        e->host = bk_str_c(bk_call_cstr(call, bk_str_c(a->host)));
        e->operation = a->op;
        e->permission_type = a->perm;
        if (r->resource_name.ptr == NULL || e->principal.ptr == NULL ||
            e->host.ptr == NULL) {
            return false;
        }
        r->acls_count++;
        prev = a;
    }
    return true;
}

void bk_handle_describe_acls(struct bk_call *call)
{
    const struct bk_msg_describe_acls_request *req = call->request;
    struct bk_msg_describe_acls_response *resp =
        bk_arena_alloc(call->arena, sizeof(*resp));
    struct bk_md_image *img = bk_api_image(call);
    if (resp == NULL || img == NULL) {
        bk_md_image_release(img);
        bk_req_fail(call->req, "out of memory");
        return;
    }
    bk_msg_describe_acls_response_init(resp);
    resp->error_message = BK_STR_NULL;
    resp->resources_count = 0;
    struct bk_acl_filter f = filter_of(req);
    const char *why = bk_acl_filter_invalid(&f);
    if (!bk_api_authz_on(call)) {
        resp->error_code = BK_KERR_SECURITY_DISABLED;
        resp->error_message = bk_str_c("No Authorizer is configured.");
    } else if (!bk_api_may_cluster(call, img, BK_ACL_OP_DESCRIBE)) {
        resp->error_code = BK_KERR_CLUSTER_AUTHORIZATION_FAILED;
        resp->error_message =
            bk_str_c(bk_kerr_message(BK_KERR_CLUSTER_AUTHORIZATION_FAILED));
    } else if (why != NULL) {
        resp->error_code = BK_KERR_INVALID_REQUEST;
        resp->error_message = bk_str_c(why);
    } else if (!describe(call, img, &f, resp)) {
        bk_md_image_release(img);
        bk_req_fail(call->req, "out of memory");
        return;
    }
    bk_md_image_release(img);
    bk_call_reply(call, resp);
}
