/* DescribeUserScramCredentials (key 50), v0: each user's SCRAM
 * mechanisms and iterations (never salts or keys), from this broker's
 * image, as Kafka's brokers answer from their metadata cache.
 *
 * Null or empty users: every user with a credential. A named user without
 * one gets RESOURCE_NOT_FOUND; a user named twice gets DUPLICATE_RESOURCE
 * (once). */
#include "protocol/gen/describe_user_scram_credentials.h"

#include <stdio.h>
#include <string.h>

#include "api/call.h"
#include "cluster/image.h"
#include "cluster/scram.h"
#include "protocol/kerr.h"

typedef struct
    bk_msg_describe_user_scram_credentials_response_describe_user_scram_credentials_result
        result;
typedef struct bk_msg_describe_user_scram_credentials_response_credential_info
    info;

/* Kafka's message for a user: "<text>: <user>" (arena; the text alone
 * when out of memory). */
static struct bk_str message(struct bk_call *call,
                             const char *text,
                             struct bk_str user)
{
    size_t cap = strlen(text) + 3 + (size_t)(user.len > 0 ? user.len : 0);
    char *m = bk_arena_alloc(call->arena, cap);
    if (m == NULL) {
        return bk_str_c(text);
    }
    snprintf(m, cap, "%s: %.*s", text, user.len > 0 ? (int)user.len : 0,
             user.len > 0 ? user.ptr : "");
    return bk_str_c(m);
}

/* Fills r with name's credentials (arena); false when out of memory. */
static bool fill(struct bk_call *call,
                 const struct bk_md_scram *all,
                 struct bk_str name,
                 result *r)
{
    *r = (result){ .user = name, .error_message = BK_STR_NULL };
    info *v = bk_arena_alloc(call->arena, 3 * sizeof(*v));
    if (v == NULL) {
        return false;
    }
    r->credential_infos = v;
    for (size_t i = 0; i < all->n; i++) {
        const struct bk_md_scram_cred *c = &all->v[i];
        if (strlen(c->name) == (size_t)name.len &&
            memcmp(c->name, name.ptr, (size_t)name.len) == 0 &&
            r->credential_infos_count < 3) {
            v[r->credential_infos_count++] =
                (info){ .mechanism = c->mechanism,
                        .iterations = c->iterations };
        }
    }
    if (r->credential_infos_count == 0) {
        r->error_code = BK_KERR_RESOURCE_NOT_FOUND;
        r->error_message = message(
            call, "Attempt to describe a user credential that does not exist",
            name);
    }
    return true;
}

void bk_handle_describe_user_scram_credentials(struct bk_call *call)
{
    const struct bk_msg_describe_user_scram_credentials_request *req =
        call->request;
    struct bk_md_image *img = bk_api_image(call);
    struct bk_msg_describe_user_scram_credentials_response *resp =
        bk_arena_alloc(call->arena, sizeof(*resp));
    if (img == NULL || resp == NULL) {
        bk_md_image_release(img);
        bk_req_fail(call->req, "out of memory");
        return;
    }
    bk_msg_describe_user_scram_credentials_response_init(resp);
    resp->error_message = BK_STR_NULL;
    const struct bk_md_scram *all = bk_md_image_scram_all(img);
    int32_t nu = req->users_count > 0 ? req->users_count : 0;
    size_t cap = nu > 0 ? (size_t)nu : all->n;
    result *res = bk_arena_alloc(call->arena, (cap + 1) * sizeof(*res));
    bool ok = res != NULL;
    int32_t n = 0;
    if (ok && nu == 0) {
        for (size_t i = 0; ok && i < all->n; i++) {
            if (i > 0 && strcmp(all->v[i - 1].name, all->v[i].name) == 0) {
                continue; /* sorted: a user's mechanisms are together */
            }
            char *name = bk_arena_strndup(call->arena, all->v[i].name,
                                          strlen(all->v[i].name));
            ok = name != NULL && fill(call, all, bk_str_c(name), &res[n++]);
        }
    }
    for (int32_t i = 0; ok && i < nu; i++) {
        struct bk_str name = req->users[i].name;
        int32_t k = 0;
        while (k < n && !bk_str_eq(res[k].user, name)) {
            k++;
        }
        if (k < n) {
            res[k].error_code = BK_KERR_DUPLICATE_RESOURCE;
            res[k].error_message =
                message(call,
                        "Cannot describe SCRAM credentials for the same "
                        "user twice in a single request",
                        name);
            res[k].credential_infos_count = 0;
            continue;
        }
        ok = fill(call, all, name, &res[n++]);
    }
    bk_md_image_release(img);
    if (!ok) {
        bk_req_fail(call->req, "out of memory");
        return;
    }
    resp->results = res;
    resp->results_count = n;
    bk_call_reply(call, resp);
}
