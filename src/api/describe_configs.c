/* DescribeConfigs (key 32), v1-4.
 *
 * Topic resources (type 2): every config of Kafka's topic config table with
 * its explicit value (source DYNAMIC_TOPIC_CONFIG) or Kafka's default
 * (DEFAULT_CONFIG), synonyms (v1+, when asked) and documentation and type
 * (v3+). An unknown topic is UNKNOWN_TOPIC_OR_PARTITION, a bad name
 * INVALID_TOPIC_EXCEPTION, as Kafka answers.
 *
 * Broker resources (type 4): the name "" is the cluster-wide dynamic
 * default (only what was set dynamically, as in Kafka); this broker's id
 * lists its settings (read-only unless dynamic) with their synonyms, and
 * the unknown keys set dynamically for it; another id is INVALID_REQUEST
 * (Kafka: the admin client sends broker resources to that broker). Other
 * resource types are INVALID_REQUEST. Requested keys that do not exist are left
 * out. */
#include "protocol/gen/describe_configs.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/access.h"
#include "api/call.h"
#include "api/configs.h"
#include "cluster/controller.h"
#include "cluster/records.h"
#include "protocol/kerr.h"

typedef struct bk_msg_describe_configs_request_describe_configs_resource in_res;
typedef struct bk_msg_describe_configs_response_describe_configs_result out_res;
typedef struct bk_msg_describe_configs_response_describe_configs_resource_result
    out_cfg;
typedef struct bk_msg_describe_configs_response_describe_configs_synonym
    out_syn;

struct ctx {
    struct bk_call *call;
    const struct bk_msg_describe_configs_request *req;
    const in_res *res;
    out_res *out;
    size_t cap;
};

static bool wanted(const in_res *r, const char *name)
{
    if (r->configuration_keys_count < 0) {
        return true;
    }
    for (int32_t i = 0; i < r->configuration_keys_count; i++) {
        if (bk_str_eq_c(r->configuration_keys[i], name)) {
            return true;
        }
    }
    return false;
}

/* Appends one entry (strings copied into the arena, since image strings
 * go away with the image). */
static int add(struct ctx *c, const struct bk_cfg_entry *e)
{
    struct bk_arena *a = c->call->arena;
    if ((size_t)c->out->configs_count >= c->cap) {
        size_t ncap = c->cap * 2 + 16;
        out_cfg *n = bk_arena_alloc(a, ncap * sizeof(*n));
        if (n == NULL) {
            return BK_ENOMEM;
        }
        if (c->out->configs_count > 0) {
            memcpy(n, c->out->configs,
                   (size_t)c->out->configs_count * sizeof(*n));
        }
        c->out->configs = n;
        c->cap = ncap;
    }
    out_cfg *o = &c->out->configs[c->out->configs_count];
    memset(o, 0, sizeof(*o));
    char *name = bk_arena_strndup(a, e->name, strlen(e->name));
    char *value = e->value != NULL
                      ? bk_arena_strndup(a, e->value, strlen(e->value))
                      : NULL;
    if (name == NULL || (e->value != NULL && value == NULL)) {
        return BK_ENOMEM;
    }
    o->name = bk_str_c(name);
    o->value = value != NULL ? bk_str_c(value) : BK_STR_NULL;
    o->read_only = e->read_only;
    o->config_source = e->source;
    o->is_sensitive = e->sensitive;
    o->config_type = e->type;
    o->documentation = c->req->include_documentation && e->doc != NULL
                           ? bk_str_c(e->doc)
                           : BK_STR_NULL;
    o->synonyms_count = 0;
    o->synonyms = NULL;
    if (c->req->include_synonyms && e->n_synonyms > 0) {
        o->synonyms = bk_arena_alloc(a, e->n_synonyms * sizeof(out_syn));
        if (o->synonyms == NULL) {
            return BK_ENOMEM;
        }
        for (size_t i = 0; i < e->n_synonyms; i++) {
            const struct bk_cfg_synonym *s = &e->synonyms[i];
            char *sv = s->value != NULL
                           ? bk_arena_strndup(a, s->value, strlen(s->value))
                           : NULL;
            char *sn = bk_arena_strndup(a, s->name, strlen(s->name));
            if (sn == NULL || (s->value != NULL && sv == NULL)) {
                return BK_ENOMEM;
            }
            o->synonyms[i].name = bk_str_c(sn);
            o->synonyms[i].value = sv != NULL ? bk_str_c(sv) : BK_STR_NULL;
            o->synonyms[i].source = s->source;
        }
        o->synonyms_count = (int32_t)e->n_synonyms;
    }
    c->out->configs_count++;
    return 0;
}

static void fail(struct ctx *c, int16_t code, const char *msg)
{
    c->out->error_code = code;
    c->out->error_message =
        bk_str_c(bk_arena_strndup(c->call->arena, msg, strlen(msg)));
    c->out->configs_count = 0;
}

static int describe_topic(struct ctx *c, const struct bk_md_image *img)
{
    const in_res *r = c->res;
    char msg[BK_MD_MSG_SIZE];
    char id[16];
    snprintf(id, sizeof(id), "%d", (int)c->call->ctx->node_id);
    if (bk_md_topic_name_check(
            r->resource_name.ptr,
            (size_t)(r->resource_name.len < 0 ? 0 : r->resource_name.len),
            msg) != 0) {
        fail(c, BK_KERR_INVALID_TOPIC_EXCEPTION, msg);
        return 0;
    }
    const struct bk_md_topic *t = bk_md_image_topic(
        img, r->resource_name.ptr, (size_t)r->resource_name.len);
    if (t == NULL) {
        snprintf(msg, sizeof(msg), "The topic '%.*s' does not exist.",
                 r->resource_name.len, r->resource_name.ptr);
        fail(c, BK_KERR_UNKNOWN_TOPIC_OR_PARTITION, msg);
        return 0;
    }
    size_t n;
    const struct bk_md_cfg_def *defs = bk_md_topic_cfg_table(&n);
    for (size_t i = 0; i < n; i++) {
        if (!wanted(r, defs[i].name)) {
            continue;
        }
        struct bk_cfg_entry e;
        bk_cfg_describe_topic_dyn(c->call->ctx, &defs[i], &t->configs,
                                  bk_md_image_broker_configs(img, id),
                                  bk_md_image_broker_configs(img, ""), &e);
        int rv = add(c, &e);
        if (rv != 0) {
            return rv;
        }
    }
    return 0;
}

/* Dynamically set keys, one entry each. Kafka stores unknown broker keys
 * too and shows them as it shows any key it cannot type, with no value,
 * read-only, sensitive and of type UNKNOWN (Kafka 4.1's answer), so a value
 * that might be a secret never comes back. skip_known leaves out the
 * settings brokerd has (listed by the caller with their synonyms). */
static int describe_dynamic_only(struct ctx *c,
                                 const struct bk_md_configs *cfgs,
                                 int8_t source,
                                 bool skip_known)
{
    if (cfgs == NULL) {
        return 0;
    }
    for (size_t i = 0; i < cfgs->n; i++) {
        const struct bk_md_kv *kv = &cfgs->kv[i];
        const struct bk_api_broker_config *bc =
            bk_cfg_broker_find(c->call->ctx, kv->name);
        if ((skip_known && bc != NULL) || !wanted(c->res, kv->name)) {
            continue;
        }
        /* A setting brokerd has shows its value and type (Kafka 4.1 lists
         * only the dynamic value under "", no static synonym). */
        struct bk_cfg_entry e;
        memset(&e, 0, sizeof(e));
        e.name = kv->name;
        e.value = bc != NULL ? kv->value : NULL;
        e.source = source;
        e.type = bc != NULL ? bc->type : 0;
        e.read_only = bc == NULL || !bc->dynamic;
        e.sensitive = bc == NULL;
        e.n_synonyms = 1;
        e.synonyms[0].name = kv->name;
        e.synonyms[0].value = e.value;
        e.synonyms[0].source = source;
        int rv = add(c, &e);
        if (rv != 0) {
            return rv;
        }
    }
    return 0;
}

static int describe_broker(struct ctx *c, const struct bk_md_image *img)
{
    const in_res *r = c->res;
    const struct bk_api_ctx *actx = c->call->ctx;
    char name[32];
    char msg[BK_MD_MSG_SIZE];
    if (r->resource_name.len <= 0) {
        return describe_dynamic_only(c, bk_md_image_broker_configs(img, ""),
                                     BK_CFG_SRC_DYNAMIC_DEFAULT_BROKER, false);
    }
    /* "1\0x" is no broker id, though strtol would read it as 1. */
    if ((size_t)r->resource_name.len >= sizeof(name) ||
        bk_str_has_nul(r->resource_name)) {
        fail(c, BK_KERR_INVALID_REQUEST, "Broker id must be an integer");
        return 0;
    }
    memcpy(name, r->resource_name.ptr, (size_t)r->resource_name.len);
    name[r->resource_name.len] = '\0';
    char *end;
    long id = strtol(name, &end, 10);
    if (*end != '\0' || end == name) {
        snprintf(msg, sizeof(msg),
                 "Broker id must be an integer, but it is: %s", name);
        fail(c, BK_KERR_INVALID_REQUEST, msg);
        return 0;
    }
    if (id != actx->node_id) {
        snprintf(msg, sizeof(msg),
                 "Unexpected broker id, expected %d or empty string, but "
                 "received %s",
                 actx->node_id, name);
        fail(c, BK_KERR_INVALID_REQUEST, msg);
        return 0;
    }
    const struct bk_md_configs *mine = bk_md_image_broker_configs(img, name);
    const struct bk_md_configs *all = bk_md_image_broker_configs(img, "");
    for (unsigned i = 0; i < actx->n_broker_configs; i++) {
        const struct bk_api_broker_config *bc = &actx->broker_configs[i];
        if (!wanted(r, bc->name)) {
            continue;
        }
        struct bk_cfg_entry e;
        bk_cfg_describe_broker(bc, mine, all, &e);
        int rv = add(c, &e);
        if (rv != 0) {
            return rv;
        }
    }
    /* Unknown keys set for all brokers are shown only with resource "":
     * Kafka 4.1 lists a broker's own unknown keys but not the cluster's. */
    return describe_dynamic_only(c, mine, BK_CFG_SRC_DYNAMIC_BROKER, true);
}

void bk_handle_describe_configs(struct bk_call *call)
{
    const struct bk_msg_describe_configs_request *req = call->request;
    int32_t n = req->resources_count < 0 ? 0 : req->resources_count;
    struct bk_msg_describe_configs_response resp;
    bk_msg_describe_configs_response_init(&resp);
    resp.results =
        bk_arena_alloc(call->arena, (size_t)(n + 1) * sizeof(out_res));
    struct bk_md_image *img = bk_api_image(call);
    if (resp.results == NULL || img == NULL) {
        bk_md_image_release(img);
        bk_req_fail(call->req, "out of memory");
        return;
    }
    resp.results_count = n;
    int rv = 0;
    for (int32_t i = 0; rv == 0 && i < n; i++) {
        const in_res *r = &req->resources[i];
        out_res *out = &resp.results[i];
        memset(out, 0, sizeof(*out));
        out->resource_type = r->resource_type;
        out->resource_name = r->resource_name;
        /* Kafka answers "" (the field's default), not null, on success. */
        out->error_message = bk_str_c("");
        out->configs = NULL;
        out->configs_count = 0;
        struct ctx c = { .call = call, .req = req, .res = r, .out = out };
        int16_t denied =
            bk_api_config_denied(call, img, BK_ACL_OP_DESCRIBE_CONFIGS,
                                 r->resource_type, r->resource_name);
        if (denied != 0) {
            fail(&c, denied, bk_kerr_message(denied));
        } else if (r->resource_type == BK_MD_RES_TOPIC) {
            rv = describe_topic(&c, img);
        } else if (r->resource_type == BK_MD_RES_BROKER) {
            rv = describe_broker(&c, img);
        } else {
            char msg[96];
            snprintf(msg, sizeof(msg), "Unsupported resource type %d",
                     r->resource_type);
            fail(&c, BK_KERR_INVALID_REQUEST, msg);
        }
    }
    bk_md_image_release(img);
    if (rv != 0) {
        bk_req_fail(call->req, "out of memory");
        return;
    }
    bk_call_reply(call, &resp);
}
