/* DeleteAcls (key 31), v1-3 (security-notes.md §8).
 *
 * Decided by the active controller (forwarded there). Needs ALTER on the
 * cluster (CLUSTER_AUTHORIZATION_FAILED per filter); a filter with an
 * UNKNOWN code gets INVALID_REQUEST. Each filter's result lists the ACLs it
 * matched, which are all removed (one removal record each, by id); an ACL
 * matched by several filters is removed once and listed under the first,
 * as Kafka's AclControlManager does. With MATCH, a filter removes every
 * ACL that applies to the named resource. The answer waits until the
 * removals are applied. */
#include "protocol/gen/delete_acls.h"

#include <string.h>

#include "api/access.h"
#include "cluster/image.h"
#include "cluster/ops.h"
#include "protocol/kerr.h"

typedef struct bk_msg_delete_acls_response_delete_acls_filter_result fresult;
typedef struct bk_msg_delete_acls_response_delete_acls_matching_acl matching;

static struct bk_acl_filter filter_of(
    const struct bk_msg_delete_acls_request_delete_acls_filter *q)
{
    return bk_api_acl_filter(q->resource_type_filter, q->pattern_type_filter,
                             q->operation, q->permission_type,
                             q->resource_name_filter, q->principal_filter,
                             q->host_filter);
}

static void applied(struct bk_call *call, int status)
{
    struct bk_msg_delete_acls_response *resp = call->data_ptr;
    if (status != 0) {
        int16_t code = bk_api_md_kerr(status);
        for (int32_t i = 0; i < resp->filter_results_count; i++) {
            fresult *fr = &resp->filter_results[i];
            for (int32_t j = 0; j < fr->matching_acls_count; j++) {
                fr->matching_acls[j].error_code = code;
                fr->matching_acls[j].error_message =
                    bk_str_c(bk_kerr_message(code));
            }
        }
    }
    bk_call_reply(call, resp);
}

/* Lists under fr, and removes, the ACLs f matches that no earlier filter
 * took (taken[] marks them). Returns false when out of memory. */
static bool delete_matching(struct bk_call *call,
                            const struct bk_acl_set *set,
                            const struct bk_acl_filter *f,
                            bool *taken,
                            fresult *fr,
                            struct bk_md_recs *recs)
{
    size_t total = bk_acl_set_count(set);
    matching *m = bk_arena_alloc(call->arena, (total + 1) * sizeof(*m));
    if (m == NULL) {
        return false;
    }
    fr->matching_acls = m;
    for (size_t i = 0; i < total; i++) {
        const struct bk_acl *a = bk_acl_set_at(set, i);
        if (taken[i] || !bk_acl_filter_matches(f, a)) {
            continue;
        }
        struct bk_md_rec *rec = bk_md_recs_add(recs, BK_MD_REC_REMOVE_ACL);
        matching *e = &m[fr->matching_acls_count];
        if (rec == NULL) {
            return false;
        }
        memcpy(rec->u.remove_acl.id.b, a->id, 16);
        taken[i] = true;
        *e = (matching){
            .error_code = BK_KERR_NONE,
            .error_message = BK_STR_NULL,
            .resource_type = a->res_type,
            .resource_name = bk_str_c(bk_call_cstr(call, bk_str_c(a->name))),
            .pattern_type = a->pattern,
            .principal = bk_str_c(bk_call_cstr(call, bk_str_c(a->principal))),
            .host = bk_str_c(bk_call_cstr(call, bk_str_c(a->host))),
            .operation = a->op,
            .permission_type = a->perm,
        };
        if (e->resource_name.ptr == NULL || e->principal.ptr == NULL ||
            e->host.ptr == NULL) {
            return false;
        }
        fr->matching_acls_count++;
    }
    return true;
}

/* Fills filter i's result, appending removal records to recs. */
static bool delete_one(struct bk_call *call,
                       const struct bk_md_image *img,
                       bool *taken,
                       fresult *fr,
                       struct bk_md_recs *recs,
                       int32_t i)
{
    const struct bk_msg_delete_acls_request *req = call->request;
    *fr = (fresult){ .error_code = BK_KERR_NONE,
                     .error_message = BK_STR_NULL,
                     .matching_acls = NULL,
                     .matching_acls_count = 0 };
    int16_t code = BK_KERR_NONE;
    const char *msg = NULL;
    struct bk_acl_filter f = filter_of(&req->filters[i]);
    if (!bk_api_authz_on(call)) {
        code = BK_KERR_SECURITY_DISABLED;
        msg = "No Authorizer is configured.";
    } else if (!bk_api_may_cluster(call, img, BK_ACL_OP_ALTER)) {
        code = BK_KERR_CLUSTER_AUTHORIZATION_FAILED;
    } else if ((msg = bk_acl_filter_invalid(&f)) != NULL) {
        code = BK_KERR_INVALID_REQUEST;
    }
    if (code != BK_KERR_NONE) {
        fr->error_code = code;
        fr->error_message = bk_str_c(msg != NULL ? msg : bk_kerr_message(code));
        return true;
    }
    if (img->acls == NULL) {
        return true;
    }
    return delete_matching(call, img->acls, &f, taken, fr, recs);
}

void bk_handle_delete_acls(struct bk_call *call)
{
    const struct bk_msg_delete_acls_request *req = call->request;
    int32_t n = req->filters_count < 0 ? 0 : req->filters_count;
    struct bk_msg_delete_acls_response *resp =
        bk_arena_alloc(call->arena, sizeof(*resp));
    fresult *res = bk_arena_alloc(call->arena, ((size_t)n + 1) * sizeof(*res));
    struct bk_md_image *img = bk_api_image(call);
    size_t total = img != NULL ? bk_acl_set_count(img->acls) : 0;
    bool *taken = bk_arena_alloc(call->arena, total + 1);
    if (resp == NULL || res == NULL || img == NULL || taken == NULL) {
        bk_md_image_release(img);
        bk_req_fail(call->req, "out of memory");
        return;
    }
    memset(taken, 0, total + 1);
    bk_msg_delete_acls_response_init(resp);
    resp->filter_results = res;
    resp->filter_results_count = n;
    call->data_ptr = resp;
    struct bk_md_recs recs;
    bk_md_recs_init(&recs, call->arena);
    for (int32_t i = 0; i < n; i++) {
        if (!delete_one(call, img, taken, &res[i], &recs, i)) {
            bk_md_image_release(img);
            bk_req_fail(call->req, "out of memory");
            return;
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
