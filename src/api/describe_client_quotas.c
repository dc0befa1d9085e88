/* DescribeClientQuotas (key 48), v0-1.
 *
 * Answered by every broker from its own metadata image, as Kafka's brokers
 * do. A filter is a list of components {entity type, match type, match}:
 * EXACT (0) matches the named entity part, DEFAULT (1) the type's default,
 * ANY (2) either. With strict, an entity matches only when it has no other
 * parts. A bad filter (unknown type or match type, a type twice, a match
 * that does not fit its match type, ip together with user or client-id)
 * fails the request with INVALID_REQUEST and no entries. */
#include "protocol/gen/describe_client_quotas.h"

#include <stdio.h>
#include <string.h>

#include "api/call.h"
#include "cluster/controller.h"
#include "cluster/image.h"
#include "cluster/quotas.h"
#include "protocol/kerr.h"

typedef struct bk_msg_describe_client_quotas_request_component_data comp;
typedef struct bk_msg_describe_client_quotas_response_entry_data entry;

enum { MATCH_EXACT = 0, MATCH_DEFAULT = 1, MATCH_ANY = 2 };

struct filter {
    uint8_t set;              /* entity types named */
    int8_t match[BK_MD_QE_N]; /* their match types */
    struct bk_str name[BK_MD_QE_N];
    bool strict;
};

/* Returns 0, or -1 with Kafka's message in msg. */
static int parse_filter(const struct bk_msg_describe_client_quotas_request *req,
                        struct filter *f,
                        char *msg)
{
    memset(f, 0, sizeof(*f));
    f->strict = req->strict;
    for (int32_t i = 0; i < req->components_count; i++) {
        const comp *c = &req->components[i];
        int t = bk_md_qe_type_parse(c->entity_type);
        if (t < 0) {
            int len = c->entity_type.len < 0 ? 0 : c->entity_type.len;
            snprintf(msg, BK_MD_QMSG, "Custom entity type '%.*s' not supported",
                     len > 64 ? 64 : len,
                     c->entity_type.ptr != NULL ? c->entity_type.ptr : "");
            return -1;
        }
        if ((f->set & (1u << t)) != 0) {
            snprintf(msg, BK_MD_QMSG, "Duplicate filter component entity type");
            return -1;
        }
        bool has = c->match.len >= 0;
        if (c->match_type < MATCH_EXACT || c->match_type > MATCH_ANY) {
            snprintf(msg, BK_MD_QMSG, "Unknown match type %d", c->match_type);
            return -1;
        }
        if ((c->match_type == MATCH_EXACT) != has) {
            snprintf(msg, BK_MD_QMSG,
                     c->match_type == MATCH_EXACT
                         ? "Request specified exact match type but no match"
                         : "Request specified no match for a non-exact match "
                           "type, but got a match");
            /* Kafka only refuses a missing exact match. */
            if (c->match_type == MATCH_EXACT) {
                return -1;
            }
        }
        f->set |= (uint8_t)(1u << t);
        f->match[t] = c->match_type;
        f->name[t] = c->match;
    }
    if ((f->set & (1u << BK_MD_QE_IP)) != 0 && f->set != (1u << BK_MD_QE_IP)) {
        snprintf(msg, BK_MD_QMSG,
                 "Invalid entity filter component combination, IP filter "
                 "component should not be used with user or clientId filter "
                 "component.");
        return -1;
    }
    return 0;
}

static bool matches(const struct filter *f, const struct bk_md_qentity *e)
{
    if (f->strict && e->set != f->set) {
        return false;
    }
    for (unsigned t = 0; t < BK_MD_QE_N; t++) {
        uint8_t bit = (uint8_t)(1u << t);
        if ((f->set & bit) == 0) {
            continue;
        }
        if ((e->set & bit) == 0) {
            return false;
        }
        bool dflt = (e->dflt & bit) != 0;
        if (f->match[t] == MATCH_DEFAULT && !dflt) {
            return false;
        }
        if (f->match[t] == MATCH_EXACT &&
            (dflt || strlen(e->name[t]) != (size_t)f->name[t].len ||
             memcmp(e->name[t], f->name[t].ptr, (size_t)f->name[t].len) != 0)) {
            return false;
        }
    }
    return true;
}

/* Fills o from q's entry; returns false when out of memory. */
static bool fill(struct bk_call *call, const struct bk_md_qentry *q, entry *o)
{
    o->entity = bk_arena_alloc(call->arena, BK_MD_QE_N * sizeof(*o->entity));
    o->values = bk_arena_alloc(call->arena, BK_MD_QK_N * sizeof(*o->values));
    if (o->entity == NULL || o->values == NULL) {
        return false;
    }
    o->entity_count = 0;
    for (unsigned t = 0; t < BK_MD_QE_N; t++) {
        if ((q->e.set & (1u << t)) == 0) {
            continue;
        }
        bool dflt = (q->e.dflt & (1u << t)) != 0;
        o->entity[o->entity_count].entity_type =
            bk_str_c(bk_md_qe_type_name(t));
        o->entity[o->entity_count].entity_name =
            dflt ? BK_STR_NULL
                 : bk_str_c(bk_call_cstr(call, bk_str_c(q->e.name[t])));
        o->entity_count++;
    }
    o->values_count = 0;
    for (unsigned k = 0; k < BK_MD_QK_N; k++) {
        if ((q->has & (1u << k)) != 0) {
            o->values[o->values_count].key = bk_str_c(bk_md_qkey_name(k));
            o->values[o->values_count].value = q->v[k];
            o->values_count++;
        }
    }
    return true;
}

void bk_handle_describe_client_quotas(struct bk_call *call)
{
    const struct bk_msg_describe_client_quotas_request *req = call->request;
    struct bk_msg_describe_client_quotas_response *resp =
        bk_arena_alloc(call->arena, sizeof(*resp));
    char *msg = bk_arena_alloc(call->arena, BK_MD_QMSG);
    if (resp == NULL || msg == NULL) {
        bk_req_fail(call->req, "out of memory");
        return;
    }
    bk_msg_describe_client_quotas_response_init(resp);
    struct filter f;
    if (parse_filter(req, &f, msg) != 0) {
        resp->error_code = BK_KERR_INVALID_REQUEST;
        resp->error_message = bk_str_c(msg);
        resp->entries_count = -1;
        bk_call_reply(call, resp);
        return;
    }
    struct bk_md_image *img = bk_api_image(call);
    if (img == NULL) {
        bk_req_fail(call->req, "out of memory");
        return;
    }
    const struct bk_md_quotas *q = img->quotas;
    size_t n = q != NULL ? q->n : 0;
    entry *out = bk_arena_alloc(call->arena, (n + 1) * sizeof(*out));
    if (out == NULL) {
        bk_md_image_release(img);
        bk_req_fail(call->req, "out of memory");
        return;
    }
    int32_t k = 0;
    for (size_t i = 0; i < n; i++) {
        if (!matches(&f, &q->v[i].e)) {
            continue;
        }
        if (!fill(call, &q->v[i], &out[k])) {
            bk_md_image_release(img);
            bk_req_fail(call->req, "out of memory");
            return;
        }
        k++;
    }
    bk_md_image_release(img);
    resp->error_code = BK_KERR_NONE;
    resp->error_message = BK_STR_NULL;
    resp->entries = out;
    resp->entries_count = k;
    bk_call_reply(call, resp);
}
