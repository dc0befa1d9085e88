/* CreateAcls (key 30), v1-3 (security-notes.md §8).
 *
 * Decided by the active controller (forwarded there like other admin
 * requests). Each creation is checked on its own as Kafka's AclApis and
 * AclControlManager do: ALTER on the cluster (else
 * CLUSTER_AUTHORIZATION_FAILED), then the binding (INVALID_REQUEST with
 * Kafka's message). A valid new binding becomes one ACL record with a
 * random id; one that exists already, or repeats an earlier creation of
 * the same request, is a no-op that succeeds. The answer waits until the
 * records are applied. Without an authorizer every creation fails with
 * SECURITY_DISABLED. */
#include "protocol/gen/create_acls.h"

#include "api/access.h"
#include "cluster/controller.h"
#include "cluster/image.h"
#include "cluster/ops.h"
#include "protocol/kerr.h"

typedef struct bk_msg_create_acls_response_acl_creation_result result;

struct state {
    struct bk_msg_create_acls_response resp;
    bool *proposed; /* per creation: its record went to the controller */
};

static void fail_item(result *r, int16_t code, const char *msg)
{
    r->error_code = code;
    r->error_message = bk_str_c(msg != NULL ? msg : bk_kerr_message(code));
}

static void applied(struct bk_call *call, int status)
{
    struct state *st = call->data_ptr;
    if (status != 0) {
        for (int32_t i = 0; i < st->resp.results_count; i++) {
            if (st->proposed[i]) {
                fail_item(&st->resp.results[i], bk_api_md_kerr(status), NULL);
            }
        }
    }
    bk_call_reply(call, &st->resp);
}

/* The creation as an ACL (views into the request). */
static struct bk_acl binding(
    const struct bk_msg_create_acls_request_acl_creation *c)
{
    return (struct bk_acl){
        .res_type = c->resource_type,
        .pattern = c->resource_pattern_type,
        .op = c->operation,
        .perm = c->permission_type,
        .name = c->resource_name.ptr,
        .name_len = c->resource_name.len > 0 ? (size_t)c->resource_name.len : 0,
        .principal = c->principal.ptr,
        .principal_len = c->principal.len > 0 ? (size_t)c->principal.len : 0,
        .host = c->host.ptr,
        .host_len = c->host.len > 0 ? (size_t)c->host.len : 0,
    };
}

static bool has_nul(const struct bk_msg_create_acls_request_acl_creation *c)
{
    return bk_str_has_nul(c->resource_name) || bk_str_has_nul(c->principal) ||
           bk_str_has_nul(c->host);
}

/* Whether creation i repeats an earlier valid one of the same request. */
static bool repeated(const struct bk_msg_create_acls_request *req,
                     const bool *proposed,
                     int32_t i)
{
    struct bk_acl a = binding(&req->creations[i]);
    for (int32_t j = 0; j < i; j++) {
        struct bk_acl b = binding(&req->creations[j]);
        if (proposed[j] && a.res_type == b.res_type && a.pattern == b.pattern &&
            a.op == b.op && a.perm == b.perm &&
            bk_str_eq(req->creations[i].resource_name,
                      req->creations[j].resource_name) &&
            bk_str_eq(req->creations[i].principal,
                      req->creations[j].principal) &&
            bk_str_eq(req->creations[i].host, req->creations[j].host)) {
            return true;
        }
    }
    return false;
}

/* Checks creation i and appends its record when it is new. */
static void create_one(struct bk_call *call,
                       const struct bk_md_image *img,
                       struct state *st,
                       struct bk_md_recs *recs,
                       int32_t i)
{
    const struct bk_msg_create_acls_request *req = call->request;
    const struct bk_msg_create_acls_request_acl_creation *c =
        &req->creations[i];
    result *r = &st->resp.results[i];
    r->error_code = BK_KERR_NONE;
    r->error_message = BK_STR_NULL;
    if (!bk_api_authz_on(call)) {
        fail_item(r, BK_KERR_SECURITY_DISABLED, "No Authorizer is configured.");
        return;
    }
    if (!bk_api_may_cluster(call, img, BK_ACL_OP_ALTER)) {
        fail_item(r, BK_KERR_CLUSTER_AUTHORIZATION_FAILED, NULL);
        return;
    }
    struct bk_acl a = binding(c);
    const char *why = has_nul(c) ? "Invalid NUL byte" : bk_acl_invalid(&a);
    if (why != NULL) {
        fail_item(r, BK_KERR_INVALID_REQUEST, why);
        return;
    }
    if ((img->acls != NULL && bk_acl_set_find(img->acls, &a) != NULL) ||
        repeated(req, st->proposed, i)) {
        return; /* exists: a no-op, as in Kafka */
    }
    struct bk_md_rec *rec = bk_md_recs_add(recs, BK_MD_REC_ACL);
    if (rec == NULL) {
        fail_item(r, BK_KERR_UNKNOWN_SERVER_ERROR, "out of memory");
        return;
    }
    rec->u.acl = (struct bk_md_acl_rec){
        .id = bk_md_random_uuid(bk_md_rng_system()),
        .res_type = c->resource_type,
        .name = c->resource_name,
        .pattern = c->resource_pattern_type,
        .principal = c->principal,
        .host = c->host,
        .op = c->operation,
        .perm = c->permission_type,
    };
    st->proposed[i] = true;
}

void bk_handle_create_acls(struct bk_call *call)
{
    const struct bk_msg_create_acls_request *req = call->request;
    int32_t n = req->creations_count < 0 ? 0 : req->creations_count;
    struct state *st = bk_arena_alloc(call->arena, sizeof(*st));
    result *res =
        st != NULL ? bk_arena_alloc(call->arena, ((size_t)n + 1) * sizeof(*res))
                   : NULL;
    bool *proposed =
        res != NULL ? bk_arena_alloc(call->arena, (size_t)n + 1) : NULL;
    struct bk_md_image *img = bk_api_image(call);
    if (proposed == NULL || img == NULL) {
        bk_md_image_release(img);
        bk_req_fail(call->req, "out of memory");
        return;
    }
    bk_msg_create_acls_response_init(&st->resp);
    st->resp.results = res;
    st->resp.results_count = n;
    st->proposed = proposed;
    call->data_ptr = st;
    struct bk_md_recs recs;
    bk_md_recs_init(&recs, call->arena);
    for (int32_t i = 0; i < n; i++) {
        proposed[i] = false;
        create_one(call, img, st, &recs, i);
    }
    bk_md_image_release(img);
    if (recs.n == 0) {
        bk_call_reply(call, &st->resp);
        return;
    }
    int rv = bk_api_propose(call, recs.v, recs.n, applied);
    if (rv != 0) {
        applied(call, rv);
    }
}
