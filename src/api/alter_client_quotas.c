/* AlterClientQuotas (key 49), v0-1.
 *
 * Decided by the active controller (forwarded from other nodes, forward.c)
 * against its image, as Kafka's ClientQuotaControlManager does: each entry
 * is checked on its own (a valid entity, known keys of the entity's kind,
 * each key once, non-negative values, integral byte rates) and fails alone
 * with INVALID_REQUEST and Kafka's message. The valid entries' changes
 * become client quota records proposed in one raft entry, so they apply
 * together; the answer comes once they are applied. validate_only checks
 * and proposes nothing. */
#include "protocol/gen/alter_client_quotas.h"

#include <stdio.h>
#include <string.h>

#include "api/access.h"
#include "api/call.h"
#include "cluster/controller.h"
#include "cluster/ops.h"
#include "cluster/quotas.h"
#include "protocol/kerr.h"

typedef struct bk_msg_alter_client_quotas_request_entry_data req_entry;
typedef struct bk_msg_alter_client_quotas_response_entry_data resp_entry;

static void applied(struct bk_call *call, int status)
{
    struct bk_msg_alter_client_quotas_response *resp = call->data_ptr;
    for (int32_t i = 0; status != 0 && i < resp->entries_count; i++) {
        if (resp->entries[i].error_code == BK_KERR_NONE) {
            resp->entries[i].error_code = bk_api_md_kerr(status);
            resp->entries[i].error_message =
                bk_str_c(bk_kerr_message(resp->entries[i].error_code));
        }
    }
    bk_call_reply(call, resp);
}

/* Checks one entry and appends its records; returns 0 or -1 with msg. */
static int check_entry(struct bk_call *call,
                       const req_entry *in,
                       struct bk_md_recs *recs,
                       char *msg)
{
    size_t n = in->entity_count < 0 ? 0 : (size_t)in->entity_count;
    struct bk_str types[BK_MD_QUOTA_MAX_PARTS], names[BK_MD_QUOTA_MAX_PARTS];
    if (n > BK_MD_QUOTA_MAX_PARTS) {
        snprintf(msg, BK_MD_QMSG, "Invalid quota entity: too many parts");
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        types[i] = in->entity[i].entity_type;
        names[i] = in->entity[i].entity_name;
    }
    struct bk_md_qentity e;
    if (bk_md_qentity_parse(types, names, n, call->arena, &e, msg) != 0) {
        return -1;
    }
    size_t nops = in->ops_count < 0 ? 0 : (size_t)in->ops_count;
    uint8_t seen = 0;
    for (size_t i = 0; i < nops; i++) {
        const struct bk_msg_alter_client_quotas_request_op_data *op =
            &in->ops[i];
        int key = bk_md_qkey_parse(op->key);
        if (key < 0) {
            int len =
                op->key.len < 0 ? 0 : (op->key.len > 64 ? 64 : op->key.len);
            snprintf(msg, BK_MD_QMSG, "Invalid configuration key %.*s", len,
                     op->key.ptr != NULL ? op->key.ptr : "");
            return -1;
        }
        if ((seen & (1u << key)) != 0) {
            snprintf(msg, BK_MD_QMSG, "Duplicate quota key %s",
                     bk_md_qkey_name((unsigned)key));
            return -1;
        }
        seen |= (uint8_t)(1u << key);
        if (bk_md_qvalue_check(&e, key, op->remove ? 0 : op->value, msg) != 0) {
            return -1;
        }
    }
    for (size_t i = 0; i < nops; i++) {
        struct bk_md_rec *r = bk_md_recs_add(recs, BK_MD_REC_CLIENT_QUOTA);
        if (r == NULL) {
            snprintf(msg, BK_MD_QMSG, "Out of memory");
            return -1;
        }
        bk_md_qentity_to_rec(&e, &r->u.client_quota);
        r->u.client_quota.key = in->ops[i].key;
        r->u.client_quota.remove = in->ops[i].remove;
        r->u.client_quota.value = in->ops[i].remove ? 0 : in->ops[i].value;
    }
    return 0;
}

void bk_handle_alter_client_quotas(struct bk_call *call)
{
    const struct bk_msg_alter_client_quotas_request *req = call->request;
    size_t n = req->entries_count < 0 ? 0 : (size_t)req->entries_count;
    struct bk_msg_alter_client_quotas_response *resp =
        bk_arena_alloc(call->arena, sizeof(*resp));
    resp_entry *out = bk_arena_alloc(call->arena, (n + 1) * sizeof(*out));
    char *msg = bk_arena_alloc(call->arena, BK_MD_QMSG);
    if (resp == NULL || out == NULL || msg == NULL) {
        bk_req_fail(call->req, "out of memory");
        return;
    }
    bk_msg_alter_client_quotas_response_init(resp);
    call->data_ptr = resp;
    resp->entries = out;
    resp->entries_count = (int32_t)n;
    struct bk_md_recs recs;
    bk_md_recs_init(&recs, call->arena);
    /* Kafka: ALTER_CONFIGS on the cluster, or every entry is refused (a
     * refused request is not forwarded: access.c). */
    bool denied = bk_api_authz_on(call) &&
                  !bk_api_may_cluster(call, NULL, BK_ACL_OP_ALTER_CONFIGS);
    for (size_t i = 0; i < n; i++) {
        const req_entry *in = &req->entries[i];
        out[i].entity_count = in->entity_count;
        out[i].entity = bk_arena_alloc(
            call->arena,
            ((size_t)(in->entity_count < 0 ? 0 : in->entity_count) + 1) *
                sizeof(*out[i].entity));
        if (out[i].entity == NULL) {
            bk_req_fail(call->req, "out of memory");
            return;
        }
        for (int32_t j = 0; j < in->entity_count; j++) {
            out[i].entity[j].entity_type = in->entity[j].entity_type;
            out[i].entity[j].entity_name = in->entity[j].entity_name;
        }
        if (denied) {
            out[i].error_code = BK_KERR_CLUSTER_AUTHORIZATION_FAILED;
            out[i].error_message = BK_STR_NULL;
            continue;
        }
        size_t before = recs.n;
        if (check_entry(call, in, &recs, msg) != 0) {
            recs.n = before; /* this entry's records, if any, are dropped */
            out[i].error_code = BK_KERR_INVALID_REQUEST;
            out[i].error_message = bk_str_c(bk_call_cstr(call, bk_str_c(msg)));
            continue;
        }
        out[i].error_code = BK_KERR_NONE;
        out[i].error_message = BK_STR_NULL;
    }
    if (req->validate_only || recs.n == 0) {
        bk_call_reply(call, resp);
        return;
    }
    int rv = bk_api_propose(call, recs.v, recs.n, applied);
    if (rv != 0) {
        applied(call, rv);
    }
}
