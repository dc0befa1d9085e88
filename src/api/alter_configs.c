/* AlterConfigs (key 33), v0-2: the older, non-incremental form.
 *
 * The configs given replace the resource's whole dynamic config: each one
 * is set, and every explicit config not named is deleted (back to its
 * default), as Kafka does. Checks, broker-config refusals, validate_only
 * and the one proposal per request are those of IncrementalAlterConfigs
 * (incremental_alter_configs.c). */
#include "protocol/gen/alter_configs.h"

#include <string.h>

#include "api/access.h"
#include "api/call.h"
#include "api/configs.h"
#include "cluster/controller.h"
#include "cluster/ops.h"
#include "cluster/records.h"
#include "protocol/kerr.h"

typedef struct bk_msg_alter_configs_request_alter_configs_resource in_res;
typedef struct bk_msg_alter_configs_response_alter_configs_resource_response
    out_res;

struct ac_state {
    struct bk_msg_alter_configs_response resp;
    bool *proposed;
};

static void applied(struct bk_call *call, int status)
{
    struct ac_state *st = call->data_ptr;
    if (status != 0) {
        int16_t err = bk_api_md_kerr(status);
        for (int32_t i = 0; i < st->resp.responses_count; i++) {
            if (st->proposed[i]) {
                st->resp.responses[i].error_code = err;
                st->resp.responses[i].error_message =
                    bk_str_c(bk_kerr_message(err));
            }
        }
    }
    bk_call_reply(call, &st->resp);
}

static bool duplicated(const struct bk_msg_alter_configs_request *r, int32_t i)
{
    for (int32_t j = 0; j < r->resources_count; j++) {
        if (j != i &&
            r->resources[j].resource_type == r->resources[i].resource_type &&
            bk_str_eq(r->resources[j].resource_name,
                      r->resources[i].resource_name)) {
            return true;
        }
    }
    return false;
}

static bool named(const in_res *r, const char *name)
{
    for (int32_t j = 0; j < r->configs_count; j++) {
        if (bk_str_eq_c(r->configs[j].name, name)) {
            return true;
        }
    }
    return false;
}

/* The ops that turn the current explicit configs into exactly r's. Returns
 * the count, or -1 when out of memory. */
static int32_t build_ops(struct bk_call *call,
                         const struct bk_md_image *img,
                         const in_res *r,
                         const char *name,
                         struct bk_md_alter **out)
{
    const struct bk_md_configs *cur = NULL;
    if (r->resource_type == BK_MD_RES_TOPIC) {
        const struct bk_md_topic *t =
            bk_md_image_topic(img, name, strlen(name));
        cur = t != NULL ? &t->configs : NULL;
    } else if (r->resource_type == BK_MD_RES_BROKER) {
        cur = bk_md_image_broker_configs(img, name);
    }
    int32_t nset = r->configs_count < 0 ? 0 : r->configs_count;
    size_t cap = (size_t)nset + (cur != NULL ? cur->n : 0) + 1;
    struct bk_md_alter *ops = bk_arena_alloc(call->arena, cap * sizeof(*ops));
    if (ops == NULL) {
        return -1;
    }
    int32_t k = 0;
    for (int32_t j = 0; j < nset; j++) {
        ops[k].name = bk_call_cstr(call, r->configs[j].name);
        ops[k].op = BK_MD_ALTER_SET;
        ops[k].value = r->configs[j].value.len < 0
                           ? NULL
                           : bk_call_cstr(call, r->configs[j].value);
        if (ops[k].name == NULL) {
            return -1;
        }
        k++;
    }
    for (size_t j = 0; cur != NULL && j < cur->n; j++) {
        if (!named(r, cur->kv[j].name)) {
            ops[k].name = bk_arena_strndup(call->arena, cur->kv[j].name,
                                           strlen(cur->kv[j].name));
            ops[k].op = BK_MD_ALTER_DELETE;
            ops[k].value = NULL;
            if (ops[k].name == NULL) {
                return -1;
            }
            k++;
        }
    }
    *out = ops;
    return k;
}

/* Refuses names and values that a C string would change (see
 * bk_cfg_check_resource and bk_cfg_check_entry). */
static int16_t check_bytes(const in_res *r, char *msg)
{
    int16_t err =
        bk_cfg_check_resource(r->resource_type, r->resource_name, msg);
    for (int32_t j = 0; err == 0 && j < r->configs_count; j++) {
        err = bk_cfg_check_entry(r->configs[j].name, r->configs[j].value, msg);
    }
    return err;
}

void bk_handle_alter_configs(struct bk_call *call)
{
    const struct bk_msg_alter_configs_request *req = call->request;
    int32_t n = req->resources_count < 0 ? 0 : req->resources_count;
    struct ac_state *st = bk_arena_alloc(call->arena, sizeof(*st));
    struct bk_md_image *img = bk_api_image(call);
    if (st != NULL) {
        bk_msg_alter_configs_response_init(&st->resp);
        st->resp.responses =
            bk_arena_alloc(call->arena, (size_t)(n + 1) * sizeof(out_res));
        st->proposed = bk_arena_alloc(call->arena, (size_t)n + 1);
    }
    if (st == NULL || st->resp.responses == NULL || st->proposed == NULL ||
        img == NULL) {
        bk_md_image_release(img);
        bk_req_fail(call->req, "out of memory");
        return;
    }
    call->data_ptr = st;
    st->resp.responses_count = n;
    struct bk_md_recs recs;
    bk_md_recs_init(&recs, call->arena);
    for (int32_t i = 0; i < n; i++) {
        const in_res *r = &req->resources[i];
        out_res *out = &st->resp.responses[i];
        out->resource_type = r->resource_type;
        out->resource_name = r->resource_name;
        st->proposed[i] = false;
        char *msg = bk_arena_alloc(call->arena, BK_MD_MSG_SIZE);
        char *name = bk_call_cstr(call, r->resource_name);
        if (msg == NULL || name == NULL) {
            bk_md_image_release(img);
            bk_req_fail(call->req, "out of memory");
            return;
        }
        struct bk_md_alter *ops = NULL;
        int16_t err;
        size_t before = recs.n;
        if (duplicated(req, i)) {
            err = BK_KERR_INVALID_REQUEST;
            snprintf(msg, BK_MD_MSG_SIZE, "Error due to duplicate resources");
        } else if ((err = bk_api_config_denied(
                        call, img, BK_ACL_OP_ALTER_CONFIGS, r->resource_type,
                        r->resource_name)) != 0) {
            snprintf(msg, BK_MD_MSG_SIZE, "%s", bk_kerr_message(err));
        } else if ((err = check_bytes(r, msg)) != 0) {
            /* Refused before any name becomes a C string. */
        } else {
            int32_t nops = build_ops(call, img, r, name, &ops);
            if (nops < 0) {
                bk_md_image_release(img);
                bk_req_fail(call->req, "out of memory");
                return;
            }
            err = bk_cfg_alter(call->ctx, img, r->resource_type, name, ops,
                               (size_t)nops, &recs, msg);
        }
        if (err == 0 && req->validate_only) {
            recs.n = before;
        } else if (err == 0) {
            st->proposed[i] = recs.n > before;
        }
        out->error_code = err;
        out->error_message = err != 0 ? bk_str_c(msg) : BK_STR_NULL;
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
