/* AlterUserScramCredentials (key 51), v0: creates, replaces and deletes
 * users' SCRAM credentials, as KRaft's ScramControlManager does.
 *
 * The client salts and hashes (it sends SaltedPassword); the controller
 * turns SaltedPassword into StoredKey and ServerKey here and keeps only
 * those, as metadata records (cluster/scram.h). Forwarded to the active
 * controller by non-controllers (api/forward.c), so that deletions are
 * checked against the newest image.
 *
 * One result per user named. A user named twice in one request (in
 * either list, for any mechanisms) gets DUPLICATE_RESOURCE and none of
 * its changes, unless its first entry failed already (Kafka's order);
 * UNACCEPTABLE_CREDENTIAL for an empty name, salt or salted password and
 * for iterations outside 4096..16384; UNSUPPORTED_SASL_MECHANISM for a
 * mechanism other than 1 and 2; RESOURCE_NOT_FOUND for deleting a
 * credential that does not exist. The valid users' changes go into one
 * metadata entry. */
#include "protocol/gen/alter_user_scram_credentials.h"

#include <string.h>

#include "api/access.h"
#include "api/call.h"
#include "cluster/image.h"
#include "cluster/ops.h"
#include "cluster/scram.h"
#include "protocol/kerr.h"
#include "security/scram.h"

typedef struct
    bk_msg_alter_user_scram_credentials_response_alter_user_scram_credentials_result
        result;
typedef struct
    bk_msg_alter_user_scram_credentials_request_scram_credential_deletion
        deletion;
typedef struct
    bk_msg_alter_user_scram_credentials_request_scram_credential_upsertion
        upsertion;

/* The result of user name (found or added). */
static result *result_of(result *res, int32_t *n, struct bk_str name)
{
    for (int32_t i = 0; i < *n; i++) {
        if (bk_str_eq(res[i].user, name)) {
            return &res[i];
        }
    }
    res[*n] = (result){ .user = name, .error_message = BK_STR_NULL };
    return &res[(*n)++];
}

static int16_t fail(result *r, int16_t code, const char *msg)
{
    r->error_code = code;
    r->error_message = msg != NULL ? bk_str_c(msg) : BK_STR_NULL;
    return code;
}

static bool known_mech(int8_t m)
{
    return m == BK_SCRAM_SHA_256 || m == BK_SCRAM_SHA_512;
}

static void check_deletion(const struct bk_md_image *img,
                           const deletion *d,
                           result *r)
{
    if (d->name.len <= 0) {
        fail(r, BK_KERR_UNACCEPTABLE_CREDENTIAL, "Username must not be empty");
    } else if (!known_mech(d->mechanism)) {
        fail(r, BK_KERR_UNSUPPORTED_SASL_MECHANISM, "Unknown SCRAM mechanism");
    } else if (bk_md_image_scram(img, d->name.ptr, (size_t)d->name.len,
                                 d->mechanism) == NULL) {
        fail(r, BK_KERR_RESOURCE_NOT_FOUND,
             "Attempt to delete a user credential that does not exist");
    }
}

static void check_upsertion(const upsertion *u, result *r)
{
    if (u->name.len <= 0) {
        fail(r, BK_KERR_UNACCEPTABLE_CREDENTIAL, "Username must not be empty");
    } else if (memchr(u->name.ptr, '\0', (size_t)u->name.len) != NULL ||
               u->name.len > BK_SCRAM_MAX_USER) {
        fail(r, BK_KERR_UNACCEPTABLE_CREDENTIAL, "Invalid username");
    } else if (!known_mech(u->mechanism)) {
        fail(r, BK_KERR_UNSUPPORTED_SASL_MECHANISM, "Unknown SCRAM mechanism");
    } else if (u->iterations < BK_SCRAM_MIN_ITERATIONS) {
        fail(r, BK_KERR_UNACCEPTABLE_CREDENTIAL, "Too few iterations");
    } else if (u->iterations > BK_SCRAM_MAX_ITERATIONS) {
        fail(r, BK_KERR_UNACCEPTABLE_CREDENTIAL, "Too many iterations");
    } else if (u->salt.len <= 0 || u->salt.len > BK_MD_MAX_SCRAM_SALT) {
        fail(r, BK_KERR_UNACCEPTABLE_CREDENTIAL,
             "Salt must be 1 to 128 bytes long");
    } else if (u->salted_password.len <= 0) {
        fail(r, BK_KERR_UNACCEPTABLE_CREDENTIAL,
             "Salted password must not be empty");
    }
}

/* Appends the records of an upsertion; false when out of memory. */
static bool add_upsertion(struct bk_call *call,
                          struct bk_md_recs *recs,
                          const upsertion *u)
{
    struct bk_scram_cred cred = { .mech = (enum bk_scram_mech)u->mechanism };
    size_t kl = bk_scram_key_len(cred.mech);
    uint8_t *keys = bk_arena_alloc(call->arena, 2 * kl);
    struct bk_md_rec *r = bk_md_recs_add(recs, BK_MD_REC_SCRAM);
    if (keys == NULL || r == NULL ||
        bk_scram_keys(&cred, u->salted_password.ptr,
                      (size_t)u->salted_password.len) != 0) {
        return false;
    }
    memcpy(keys, cred.stored_key, kl);
    memcpy(keys + kl, cred.server_key, kl);
    r->u.scram = (struct bk_md_scram_rec){
        .name = u->name,
        .mechanism = u->mechanism,
        .salt = u->salt,
        .stored_key = { keys, (int32_t)kl },
        .server_key = { keys + kl, (int32_t)kl },
        .iterations = u->iterations,
    };
    return true;
}

static void applied(struct bk_call *call, int status)
{
    struct bk_msg_alter_user_scram_credentials_response *resp = call->data_ptr;
    for (int32_t i = 0; status != 0 && i < resp->results_count; i++) {
        result *r = &resp->results[i];
        if (r->error_code == 0) {
            int16_t code = bk_api_md_kerr(status);
            fail(r, code, bk_kerr_message(code));
        }
    }
    bk_call_reply(call, resp);
}

/* What a request asks of each user it names, decided in Kafka's order
 * (ScramControlManager.alterCredentials): deletions first, then
 * upsertions; a user that already failed is passed over, and a user
 * named again while a change of it is pending gets DUPLICATE_RESOURCE
 * instead of both changes. */
struct pending {
    const deletion *del; /* the deletion kept for the user, or NULL */
    const upsertion *ups;
};

static void decide(
    const struct bk_md_image *img,
    const struct bk_msg_alter_user_scram_credentials_request *req,
    result *res,
    struct pending *pend,
    int32_t *n)
{
    static const char dup[] =
        "A user credential cannot be altered twice in the same request";
    for (int32_t i = 0; i < req->deletions_count; i++) {
        const deletion *d = &req->deletions[i];
        result *r = result_of(res, n, d->name);
        struct pending *p = &pend[r - res];
        if (r->error_code != 0) {
            continue;
        }
        if (p->del != NULL) {
            p->del = NULL;
            fail(r, BK_KERR_DUPLICATE_RESOURCE, dup);
            continue;
        }
        check_deletion(img, d, r);
        p->del = r->error_code == 0 ? d : NULL;
    }
    for (int32_t i = 0; i < req->upsertions_count; i++) {
        const upsertion *u = &req->upsertions[i];
        result *r = result_of(res, n, u->name);
        struct pending *p = &pend[r - res];
        if (r->error_code != 0) {
            continue;
        }
        if (p->del != NULL || p->ups != NULL) {
            p->del = NULL;
            p->ups = NULL;
            fail(r, BK_KERR_DUPLICATE_RESOURCE, dup);
            continue;
        }
        check_upsertion(u, r);
        p->ups = r->error_code == 0 ? u : NULL;
    }
}

void bk_handle_alter_user_scram_credentials(struct bk_call *call)
{
    const struct bk_msg_alter_user_scram_credentials_request *req =
        call->request;
    size_t cap =
        (size_t)(req->deletions_count > 0 ? req->deletions_count : 0) +
        (size_t)(req->upsertions_count > 0 ? req->upsertions_count : 0) + 1;
    struct bk_msg_alter_user_scram_credentials_response *resp =
        bk_arena_alloc(call->arena, sizeof(*resp));
    result *res = bk_arena_alloc(call->arena, cap * sizeof(*res));
    struct pending *pend = bk_arena_alloc(call->arena, cap * sizeof(*pend));
    struct bk_md_image *img = bk_api_image(call);
    if (resp == NULL || res == NULL || pend == NULL || img == NULL) {
        bk_md_image_release(img);
        bk_req_fail(call->req, "out of memory");
        return;
    }
    bk_msg_alter_user_scram_credentials_response_init(resp);
    call->data_ptr = resp;
    memset(pend, 0, cap * sizeof(*pend));
    int32_t n = 0;
    decide(img, req, res, pend, &n);
    /* Kafka's ControllerApis: ALTER on the cluster, or every result is
     * CLUSTER_AUTHORIZATION_FAILED (a refused request is not forwarded:
     * access.c). */
    if (bk_api_authz_on(call) &&
        !bk_api_may_cluster(call, img, BK_ACL_OP_ALTER)) {
        for (int32_t i = 0; i < n; i++) {
            res[i].error_code = BK_KERR_CLUSTER_AUTHORIZATION_FAILED;
            res[i].error_message = BK_STR_NULL;
            pend[i].del = NULL;
            pend[i].ups = NULL;
        }
    }
    bk_md_image_release(img);
    struct bk_md_recs recs;
    bk_md_recs_init(&recs, call->arena);
    bool oom = false;
    for (int32_t i = 0; i < n && !oom; i++) {
        if (pend[i].del != NULL) {
            struct bk_md_rec *rec =
                bk_md_recs_add(&recs, BK_MD_REC_REMOVE_SCRAM);
            oom = rec == NULL;
            if (rec != NULL) {
                rec->u.remove_scram.name = pend[i].del->name;
                rec->u.remove_scram.mechanism = pend[i].del->mechanism;
            }
        } else if (pend[i].ups != NULL) {
            oom = !add_upsertion(call, &recs, pend[i].ups);
        }
    }
    if (oom) {
        bk_req_fail(call->req, "out of memory");
        return;
    }
    resp->results = res;
    resp->results_count = n;
    if (recs.n == 0) {
        bk_call_reply(call, resp);
        return;
    }
    int rv = bk_api_propose(call, recs.v, recs.n, applied);
    if (rv != 0) {
        applied(call, rv);
    }
}
