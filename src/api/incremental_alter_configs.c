/* IncrementalAlterConfigs (key 44), v0-1.
 *
 * SET, DELETE, APPEND and SUBTRACT on topic configs (checked by name, type
 * and range against Kafka's topic config table) and on dynamic broker
 * configs ("" = all brokers, or a broker id). A static broker setting is
 * INVALID_REQUEST as in Kafka ("Cannot update these configs
 * dynamically"); the dynamic ones (topic defaults) are checked and reach
 * the partitions with the next image. Each valid resource's
 * records join one proposal and the answer waits until they are applied,
 * so a DescribeConfigs after the answer sees the change; open partitions
 * pick up live topic configs at their shard's next tick. validate_only
 * checks everything and changes nothing. A resource named twice in one
 * request is INVALID_REQUEST for each copy. */
#include "protocol/gen/incremental_alter_configs.h"

#include <string.h>

#include "api/access.h"
#include "api/call.h"
#include "api/configs.h"
#include "cluster/controller.h"
#include "cluster/ops.h"
#include "protocol/kerr.h"

typedef struct bk_msg_incremental_alter_configs_request_alter_configs_resource
    in_res;
typedef struct
    bk_msg_incremental_alter_configs_response_alter_configs_resource_response
        out_res;

struct iac_state {
    struct bk_msg_incremental_alter_configs_response resp;
    bool *proposed;
};

static void applied(struct bk_call *call, int status)
{
    struct iac_state *st = call->data_ptr;
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

static bool duplicated(const struct bk_msg_incremental_alter_configs_request *r,
                       int32_t i)
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

void bk_handle_incremental_alter_configs(struct bk_call *call)
{
    const struct bk_msg_incremental_alter_configs_request *req = call->request;
    int32_t n = req->resources_count < 0 ? 0 : req->resources_count;
    struct iac_state *st = bk_arena_alloc(call->arena, sizeof(*st));
    struct bk_md_image *img = bk_api_image(call);
    if (st != NULL) {
        bk_msg_incremental_alter_configs_response_init(&st->resp);
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
        int32_t nops = r->configs_count < 0 ? 0 : r->configs_count;
        struct bk_md_alter *ops =
            bk_arena_alloc(call->arena, (size_t)(nops + 1) * sizeof(*ops));
        if (msg == NULL || name == NULL || ops == NULL) {
            bk_md_image_release(img);
            bk_req_fail(call->req, "out of memory");
            return;
        }
        for (int32_t j = 0; j < nops; j++) {
            ops[j].name = bk_call_cstr(call, r->configs[j].name);
            ops[j].op = r->configs[j].config_operation;
            ops[j].value = r->configs[j].value.len < 0
                               ? NULL
                               : bk_call_cstr(call, r->configs[j].value);
            if (ops[j].name == NULL) {
                bk_md_image_release(img);
                bk_req_fail(call->req, "out of memory");
                return;
            }
        }
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
