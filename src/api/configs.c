#include "api/configs.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cluster/ops.h"
#include "cluster/records.h"
#include "cluster/topic_config.h"
#include "common/diag.h"

const char *bk_cfg_topic_broker_synonym(const char *name, const char **dflt)
{
    const struct bk_md_cfg_def *d = bk_md_topic_cfg_find(name);
    if (d == NULL || d->broker == NULL) {
        return NULL;
    }
    if (dflt != NULL) {
        *dflt = d->broker_dflt;
    }
    return d->broker;
}

static void add_synonym(struct bk_cfg_entry *e,
                        const char *name,
                        const char *value,
                        int8_t source)
{
    if (e->n_synonyms < BK_CFG_MAX_SYNONYMS) {
        e->synonyms[e->n_synonyms].name = name;
        e->synonyms[e->n_synonyms].value = value;
        e->synonyms[e->n_synonyms].source = source;
        e->n_synonyms++;
    }
}

void bk_cfg_describe_topic(const struct bk_api_ctx *ctx,
                           const struct bk_md_cfg_def *def,
                           const struct bk_md_configs *explicit,
                           struct bk_cfg_entry *out)
{
    bk_cfg_describe_topic_dyn(ctx, def, explicit, NULL, NULL, out);
}

/* Adds the dynamic values of broker setting name (only one brokerd has:
 * no other takes effect) as synonyms; returns the first, or NULL. */
static const char *add_dynamic(struct bk_cfg_entry *e,
                               const char *name,
                               const struct bk_md_configs *per_broker,
                               const struct bk_md_configs *cluster)
{
    const char *mine =
        per_broker != NULL ? bk_md_configs_get(per_broker, name) : NULL;
    const char *all = cluster != NULL ? bk_md_configs_get(cluster, name) : NULL;
    if (mine != NULL) {
        add_synonym(e, name, mine, BK_CFG_SRC_DYNAMIC_BROKER);
    }
    if (all != NULL) {
        add_synonym(e, name, all, BK_CFG_SRC_DYNAMIC_DEFAULT_BROKER);
    }
    return mine != NULL ? mine : all;
}

void bk_cfg_describe_topic_dyn(const struct bk_api_ctx *ctx,
                               const struct bk_md_cfg_def *def,
                               const struct bk_md_configs *explicit,
                               const struct bk_md_configs *per_broker,
                               const struct bk_md_configs *cluster,
                               struct bk_cfg_entry *out)
{
    memset(out, 0, sizeof(*out));
    out->name = def->name;
    out->doc = def->doc;
    out->type = (int8_t)def->type;
    out->read_only = false;
    const char *v =
        explicit != NULL ? bk_md_configs_get(explicit, def->name) : NULL;
    if (v != NULL) {
        out->value = v;
        out->source = BK_CFG_SRC_DYNAMIC_TOPIC;
        add_synonym(out, def->name, v, BK_CFG_SRC_DYNAMIC_TOPIC);
    }
    if (def->broker == NULL) {
        if (v == NULL) {
            out->value = def->dflt;
            out->source = BK_CFG_SRC_DEFAULT;
        }
        return;
    }
    /* Kafka: without a topic value, the value and source are those of the
     * first broker synonym that has one; brokerd's broker settings all
     * have one (their default), Kafka's others show Kafka's default. */
    const struct bk_api_broker_config *bc =
        ctx != NULL ? bk_cfg_broker_find(ctx, def->broker) : NULL;
    const char *bvalue = bc != NULL ? bc->value : def->broker_dflt;
    int8_t bsource = bc != NULL && !bc->is_default ? BK_CFG_SRC_STATIC_BROKER
                                                   : BK_CFG_SRC_DEFAULT;
    const char *dyn =
        bc != NULL ? add_dynamic(out, def->broker, per_broker, cluster) : NULL;
    add_synonym(out, def->broker, bvalue, bsource);
    if (dyn != NULL) {
        bvalue = dyn;
        bsource = out->synonyms[v != NULL ? 1 : 0].source;
    }
    if (v == NULL) {
        const char *tv = bk_topic_cfg_from_broker(def, bvalue, out->value_buf,
                                                  sizeof(out->value_buf));
        out->value = tv != NULL ? tv : def->dflt;
        out->source = bsource;
    }
}

void bk_cfg_describe_broker(const struct bk_api_broker_config *bc,
                            const struct bk_md_configs *per_broker,
                            const struct bk_md_configs *cluster_default,
                            struct bk_cfg_entry *out)
{
    memset(out, 0, sizeof(*out));
    out->name = bc->name;
    out->doc = bc->doc;
    out->type = bc->type;
    out->read_only = !bc->dynamic;
    const char *dyn =
        per_broker != NULL ? bk_md_configs_get(per_broker, bc->name) : NULL;
    const char *dflt_dyn = cluster_default != NULL
                               ? bk_md_configs_get(cluster_default, bc->name)
                               : NULL;
    if (dyn != NULL) {
        add_synonym(out, bc->name, dyn, BK_CFG_SRC_DYNAMIC_BROKER);
    }
    if (dflt_dyn != NULL) {
        add_synonym(out, bc->name, dflt_dyn, BK_CFG_SRC_DYNAMIC_DEFAULT_BROKER);
    }
    add_synonym(out, bc->name, bc->value,
                bc->is_default ? BK_CFG_SRC_DEFAULT : BK_CFG_SRC_STATIC_BROKER);
    out->value = out->synonyms[0].value;
    out->source = out->synonyms[0].source;
    if (bc->type == BK_MD_CFG_PASSWORD) {
        /* Kafka never returns a PASSWORD setting's value (keys, key
         * passwords, inline PEM): null and sensitive. */
        out->sensitive = true;
        out->value = NULL;
        for (size_t i = 0; i < out->n_synonyms; i++) {
            out->synonyms[i].value = NULL;
        }
    }
}

const struct bk_api_broker_config *bk_cfg_broker_find(
    const struct bk_api_ctx *ctx,
    const char *name)
{
    for (unsigned i = 0; i < ctx->n_broker_configs; i++) {
        if (strcmp(ctx->broker_configs[i].name, name) == 0) {
            return &ctx->broker_configs[i];
        }
    }
    return NULL;
}

int16_t bk_cfg_check_resource(int8_t res_type,
                              struct bk_str resource,
                              char *msg)
{
    size_t len = resource.len > 0 ? (size_t)resource.len : 0;
    if (res_type == BK_MD_RES_TOPIC) {
        if (len == 0) {
            snprintf(msg, BK_MD_MSG_SIZE,
                     "Default topic resources are not allowed.");
            return BK_MD_KERR_INVALID_REQUEST;
        }
        return bk_md_topic_name_check(resource.ptr, len, msg);
    }
    if (res_type == BK_MD_RES_BROKER && bk_str_has_nul(resource)) {
        snprintf(msg, BK_MD_MSG_SIZE,
                 "Unable to parse broker name as a base 10 number.");
        return BK_MD_KERR_INVALID_REQUEST;
    }
    return BK_MD_KERR_NONE;
}

int16_t bk_cfg_check_entry(struct bk_str name, struct bk_str value, char *msg)
{
    char shown[64];
    if (bk_str_has_nul(name)) {
        snprintf(
            msg, BK_MD_MSG_SIZE,
            "Invalid config name \"%s\": it contains a NUL byte",
            bk_diag_escape(shown, sizeof(shown), name.ptr, (size_t)name.len));
        return BK_MD_KERR_INVALID_CONFIG;
    }
    if (bk_str_has_nul(value)) {
        snprintf(msg, BK_MD_MSG_SIZE,
                 "Invalid value for configuration %.*s: it contains a NUL "
                 "byte",
                 name.len > 0 ? (int)name.len : 0,
                 name.len > 0 ? name.ptr : "");
        return BK_MD_KERR_INVALID_CONFIG;
    }
    return BK_MD_KERR_NONE;
}

static bool is_number(int8_t type)
{
    return type == BK_MD_CFG_SHORT || type == BK_MD_CFG_INT ||
           type == BK_MD_CFG_LONG;
}

/* Kafka's ConfigDef: a number of the setting's type (its 32 or 16 bits),
 * then within its range; Kafka 4.1 answers INVALID_REQUEST with these
 * words. */
static int16_t check_number(const struct bk_api_broker_config *bc,
                            const char *value,
                            char *msg)
{
    char *end;
    errno = 0;
    long long v = strtoll(value, &end, 10);
    bool fits = true;
    if (bc->type == BK_MD_CFG_INT) {
        fits = v >= INT32_MIN && v <= INT32_MAX;
    } else if (bc->type == BK_MD_CFG_SHORT) {
        fits = v >= INT16_MIN && v <= INT16_MAX;
    }
    if (errno != 0 || end == value || *end != '\0' || !fits) {
        char type[8];
        const char *t = bk_md_cfg_type_name((enum bk_md_cfg_type)bc->type);
        size_t i = 0;
        for (; t[i] != '\0' && i + 1 < sizeof(type); i++) {
            type[i] = (char)(t[i] - 'a' + 'A');
        }
        type[i] = '\0';
        snprintf(msg, BK_MD_MSG_SIZE,
                 "Invalid value %.64s for configuration %s: Not a number of "
                 "type %s",
                 value, bc->name, type);
        return BK_MD_KERR_INVALID_REQUEST;
    }
    if (v < bc->min || v > bc->max) {
        snprintf(msg, BK_MD_MSG_SIZE,
                 "Invalid value %.64s for configuration %s: Value must be %s "
                 "%lld",
                 value, bc->name, v < bc->min ? "at least" : "no more than",
                 (long long)(v < bc->min ? bc->min : bc->max));
        return BK_MD_KERR_INVALID_REQUEST;
    }
    return BK_MD_KERR_NONE;
}

/* A new value for a dynamic broker setting: Kafka's checks of the setting,
 * then the rule of the topic config it is the default of, so that every
 * partition can apply it (partition.c overlays it on the static value). */
static int16_t check_dynamic(const struct bk_api_broker_config *bc,
                             const struct bk_md_alter *op,
                             char *msg)
{
    if (op->op == BK_MD_ALTER_DELETE) {
        return BK_MD_KERR_NONE;
    }
    if (op->op != BK_MD_ALTER_SET) {
        snprintf(msg, BK_MD_MSG_SIZE,
                 "Config value %s is not allowed for config key: %s",
                 op->op == BK_MD_ALTER_APPEND ? "append" : "subtract",
                 bc->name);
        return BK_MD_KERR_INVALID_CONFIG;
    }
    const char *value = op->value != NULL ? op->value : "";
    int16_t err =
        is_number(bc->type) ? check_number(bc, value, msg) : BK_MD_KERR_NONE;
    size_t n;
    const struct bk_md_cfg_def *defs = bk_md_topic_cfg_table(&n);
    for (size_t i = 0; err == 0 && i < n; i++) {
        char num[32];
        if (defs[i].broker == NULL || strcmp(defs[i].broker, bc->name) != 0) {
            continue;
        }
        const char *tv =
            bk_topic_cfg_from_broker(&defs[i], value, num, sizeof(num));
        err = tv != NULL ? bk_md_topic_cfg_check(defs[i].name, tv, msg)
                         : BK_MD_KERR_INVALID_CONFIG;
        if (tv == NULL) {
            snprintf(msg, BK_MD_MSG_SIZE,
                     "Invalid value %.64s for configuration %s", value,
                     bc->name);
        }
    }
    return err;
}

/* Checks each change of a broker resource brokerd has a setting for: a
 * static one is refused, naming every offending key as Kafka does
 * ("Set(a, b)"); a dynamic one must hold a valid value. Keys brokerd does
 * not have pass (Kafka 4.1 stores them). */
static int16_t check_broker_ops(const struct bk_api_ctx *ctx,
                                const struct bk_md_alter *ops,
                                size_t n_ops,
                                char *msg)
{
    char keys[160] = "";
    size_t k = 0;
    for (size_t i = 0; i < n_ops; i++) {
        const struct bk_api_broker_config *bc =
            ops[i].name != NULL ? bk_cfg_broker_find(ctx, ops[i].name) : NULL;
        if (bc != NULL && !bc->dynamic) {
            int w = snprintf(keys + k, sizeof(keys) - k, "%s%s",
                             k > 0 ? ", " : "", bc->name);
            if (w < 0 || (size_t)w >= sizeof(keys) - k) {
                break;
            }
            k += (size_t)w;
        }
    }
    if (k > 0) {
        snprintf(msg, BK_MD_MSG_SIZE,
                 "Cannot update these configs dynamically: Set(%.100s)", keys);
        return BK_MD_KERR_INVALID_REQUEST;
    }
    for (size_t i = 0; i < n_ops; i++) {
        const struct bk_api_broker_config *bc =
            ops[i].name != NULL ? bk_cfg_broker_find(ctx, ops[i].name) : NULL;
        int16_t err = bc != NULL ? check_dynamic(bc, &ops[i], msg) : 0;
        if (err != 0) {
            return err;
        }
    }
    return BK_MD_KERR_NONE;
}

int16_t bk_cfg_alter(const struct bk_api_ctx *ctx,
                     const struct bk_md_image *img,
                     int8_t res_type,
                     const char *resource,
                     const struct bk_md_alter *ops,
                     size_t n_ops,
                     struct bk_md_recs *recs,
                     char *msg)
{
    if (res_type != BK_MD_RES_TOPIC && res_type != BK_MD_RES_BROKER) {
        snprintf(msg, BK_MD_MSG_SIZE, "Unsupported resource type %d", res_type);
        return BK_MD_KERR_INVALID_REQUEST;
    }
    if (res_type == BK_MD_RES_BROKER && resource[0] != '\0') {
        /* A broker's own settings are changed through that broker (the
         * admin client sends the request to it), as in Kafka. That broker
         * forwards the frame unchanged to the active controller
         * (forward.c), which decides here: there the resource names
         * another registered broker (kafka-reassign-partitions.sh --verify
         * clears every broker's throttles that way). */
        char *end;
        long id = strtol(resource, &end, 10);
        bool known = *end == '\0' && end != resource && id >= 0 &&
                     id <= INT32_MAX &&
                     (id == ctx->node_id ||
                      bk_md_image_broker(img, (int32_t)id) != NULL);
        if (!known) {
            /* Kafka 4.1's words for a change (DescribeConfigs adds "or
             * empty string"). */
            snprintf(msg, BK_MD_MSG_SIZE,
                     "Unexpected broker id, expected %d, but received %.32s",
                     ctx->node_id, resource);
            return BK_MD_KERR_INVALID_REQUEST;
        }
    }
    if (res_type == BK_MD_RES_BROKER) {
        int16_t err = check_broker_ops(ctx, ops, n_ops, msg);
        if (err != 0) {
            return err;
        }
    }
    return bk_md_op_alter_configs(img, res_type, resource, ops, n_ops, recs,
                                  msg);
}
