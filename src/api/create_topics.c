/* CreateTopics (key 19), v2-7.
 *
 * Each topic is checked against the current image by the controller's pure
 * operation (name rules, partitions, replication factor against the live
 * brokers, configs by name and type), the records of every valid topic go
 * into one proposal, and the answer waits until they are applied, so a
 * client that reads Metadata after the answer sees the topics. With
 * validate_only nothing is proposed. A name given twice in one request is
 * INVALID_REQUEST for both, as in Kafka. A manual replica assignment
 * (Assignments, kafka-topics --replica-assignment) goes to the controller's
 * operation, which checks it as Kafka 4.1 does. */
#include "protocol/gen/create_topics.h"

#include <stdio.h>
#include <string.h>

#include "api/access.h"
#include "api/call.h"
#include "api/configs.h"
#include "cluster/controller.h"
#include "cluster/ops.h"
#include "cluster/topic_config.h"
#include "common/diag.h"
#include "protocol/kerr.h"

typedef struct bk_msg_create_topics_request_creatable_topic in_topic;
typedef struct bk_msg_create_topics_response_creatable_topic_result out_topic;
typedef struct bk_msg_create_topics_response_creatable_topic_configs out_cfg;

/* Config sources of DescribeConfigs / CreateTopics v5+. */
#define SOURCE_DYNAMIC_TOPIC 1

struct ct_state {
    struct bk_msg_create_topics_response resp;
    bool *proposed; /* per topic: part of the proposal */
};

static int fill_configs(struct bk_call *call,
                        const struct bk_md_image *img,
                        const in_topic *t,
                        out_topic *out)
{
    char id[16];
    snprintf(id, sizeof(id), "%d", (int)call->ctx->node_id);
    const struct bk_md_configs *mine = bk_md_image_broker_configs(img, id);
    const struct bk_md_configs *all = bk_md_image_broker_configs(img, "");
    size_t n;
    const struct bk_md_cfg_def *defs = bk_md_topic_cfg_table(&n);
    out->configs = bk_arena_alloc(call->arena, (n + 1) * sizeof(out_cfg));
    if (out->configs == NULL) {
        return BK_ENOMEM;
    }
    out->configs_count = (int32_t)n;
    for (size_t i = 0; i < n; i++) {
        out_cfg *c = &out->configs[i];
        /* What DescribeConfigs would show for the new topic: the broker's
         * default for it (dynamic first), else Kafka's. */
        struct bk_cfg_entry e;
        bk_cfg_describe_topic_dyn(call->ctx, &defs[i], NULL, mine, all, &e);
        char *value = bk_arena_strndup(call->arena, e.value, strlen(e.value));
        if (value == NULL) {
            return BK_ENOMEM;
        }
        c->name = bk_str_c(defs[i].name);
        c->value = bk_str_c(value);
        c->config_source = e.source;
        c->read_only = e.read_only;
        c->is_sensitive = e.sensitive;
        for (int32_t j = 0; j < t->configs_count; j++) {
            if (bk_str_eq_c(t->configs[j].name, defs[i].name)) {
                c->value = t->configs[j].value;
                c->config_source = SOURCE_DYNAMIC_TOPIC;
            }
        }
    }
    return 0;
}

static void reply(struct bk_call *call, struct ct_state *st)
{
    bk_call_reply(call, &st->resp);
}

static void applied(struct bk_call *call, int status)
{
    struct ct_state *st = call->data_ptr;
    if (status != 0) {
        int16_t err = bk_api_md_kerr(status);
        for (int32_t i = 0; i < st->resp.topics_count; i++) {
            if (st->proposed[i]) {
                st->resp.topics[i].error_code = err;
                st->resp.topics[i].error_message =
                    bk_str_c(bk_kerr_message(err));
            }
        }
    }
    reply(call, st);
}

static bool duplicated(const struct bk_msg_create_topics_request *req,
                       int32_t i)
{
    for (int32_t j = 0; j < req->topics_count; j++) {
        if (j != i && bk_str_eq(req->topics[j].name, req->topics[i].name)) {
            return true;
        }
    }
    return false;
}

/* Kafka's checks before the topic itself: a name given twice, then CREATE
 * on the cluster or on the topic (security-notes.md §7). Returns 0 or the
 * error, with msg. */
static int16_t precheck(const struct bk_call *call,
                        const struct bk_md_image *img,
                        int32_t i,
                        char *msg)
{
    const struct bk_msg_create_topics_request *req = call->request;
    const in_topic *t = &req->topics[i];
    if (!duplicated(req, i) && !bk_api_may_create_topic(call, img, t->name)) {
        snprintf(msg, BK_MD_MSG_SIZE, "Authorization failed.");
        return BK_KERR_TOPIC_AUTHORIZATION_FAILED;
    }
    if (duplicated(req, i)) {
        char shown[BK_MD_MAX_NAME + 1];
        snprintf(msg, BK_MD_MSG_SIZE,
                 "Create topics request from client contains multiple "
                 "entries for the topic %s",
                 bk_diag_escape(shown, sizeof(shown), t->name.ptr,
                                t->name.len > 0 ? (size_t)t->name.len : 0));
        return BK_KERR_INVALID_REQUEST;
    }
    return 0;
}

/* Checks the topic's configs and copies them into kv as C strings in the
 * call's arena, setting *nkv. A refused config sets *err (with msg) and
 * stops. Returns 0, or BK_ENOMEM. */
static int collect_configs(struct bk_call *call,
                           const in_topic *t,
                           struct bk_md_kv_in *kv,
                           size_t *nkv,
                           int16_t *err,
                           char *msg)
{
    *nkv = 0;
    for (int32_t j = 0; j < t->configs_count; j++) {
        *err = bk_cfg_check_entry(t->configs[j].name, t->configs[j].value, msg);
        if (*err != 0) {
            return 0;
        }
        kv[*nkv].name = bk_call_cstr(call, t->configs[j].name);
        kv[*nkv].value = t->configs[j].value.len < 0
                             ? NULL
                             : bk_call_cstr(call, t->configs[j].value);
        if (kv[*nkv].name == NULL) {
            return BK_ENOMEM;
        }
        (*nkv)++;
    }
    return 0;
}

/* The request's manual assignment as the controller's input, in the call's
 * arena (NULL when there is none: automatic placement). Returns 0 or
 * BK_ENOMEM. */
static int manual_assignment(struct bk_call *call,
                             const in_topic *t,
                             struct bk_md_replicas **asg)
{
    *asg = NULL;
    if (t->assignments_count <= 0) {
        return 0;
    }
    size_t n = (size_t)t->assignments_count;
    *asg = bk_arena_alloc(call->arena, n * sizeof(**asg));
    if (*asg == NULL) {
        return BK_ENOMEM;
    }
    for (size_t k = 0; k < n; k++) {
        int32_t nb = t->assignments[k].broker_ids_count;
        (*asg)[k] = (struct bk_md_replicas){
            .partition = t->assignments[k].partition_index,
            .n = nb < 0 ? 0 : nb,
            .brokers = t->assignments[k].broker_ids,
        };
    }
    return 0;
}

/* Runs the controller's operation for one checked topic, adding its records
 * to recs, and fills the answer's shape and configs. With validate_only the
 * records are dropped again. Returns 0 (with *err), or BK_ENOMEM. */
static int create_checked(struct bk_call *call,
                          const struct bk_md_image *img,
                          const struct bk_md_defaults *defs,
                          const struct bk_md_kv_in *kv,
                          size_t nkv,
                          int32_t i,
                          struct bk_md_recs *recs,
                          int16_t *err,
                          char *msg)
{
    const struct bk_msg_create_topics_request *req = call->request;
    const in_topic *t = &req->topics[i];
    struct ct_state *st = call->data_ptr;
    out_topic *out = &st->resp.topics[i];
    /* The name goes to the controller with its length: the name rules see
     * every byte, so "x\0y" is refused rather than read as "x". */
    struct bk_md_replicas *asg;
    if (manual_assignment(call, t, &asg) != 0) {
        return BK_ENOMEM;
    }
    struct bk_md_topic_spec spec = {
        .name = t->name,
        .num_partitions = t->num_partitions,
        .replication_factor = t->replication_factor,
        .n_configs = nkv,
        .configs = kv,
        .n_assignments = asg != NULL ? (size_t)t->assignments_count : 0,
        .assignments = asg,
    };
    struct bk_md_create_result res;
    size_t before = recs->n;
    *err = bk_md_op_create_topic(img, &spec, defs, bk_md_rng_system(), recs,
                                 &res, msg);
    if (*err != 0) {
        return 0;
    }
    out->topic_id = res.topic_id;
    out->num_partitions = res.num_partitions;
    out->replication_factor = res.replication_factor;
    /* Kafka shows the configs only with DESCRIBE_CONFIGS on the topic. */
    if (!bk_api_may(call, img, BK_ACL_OP_DESCRIBE_CONFIGS, BK_ACL_RES_TOPIC,
                    t->name)) {
        out->topic_config_error_code = BK_KERR_TOPIC_AUTHORIZATION_FAILED;
        out->configs_count = -1;
    } else if (fill_configs(call, img, t, out) != 0) {
        return BK_ENOMEM;
    }
    if (req->validate_only) {
        recs->n = before; /* drop this topic's records */
    } else {
        st->proposed[i] = true;
    }
    return 0;
}

/* Answers topic i of the request, adding its records to recs when it is
 * valid. Returns 0, or BK_ENOMEM (the request then fails as a whole). */
static int create_one(struct bk_call *call,
                      const struct bk_md_image *img,
                      const struct bk_md_defaults *defs,
                      int32_t i,
                      struct bk_md_recs *recs)
{
    const struct bk_msg_create_topics_request *req = call->request;
    const in_topic *t = &req->topics[i];
    struct ct_state *st = call->data_ptr;
    out_topic *out = &st->resp.topics[i];
    out->name = t->name;
    out->num_partitions = -1;
    out->replication_factor = -1;
    /* A refused topic: Kafka 4.1 answers an empty list, not null
     * (tests/diff). */
    out->configs_count = 0;
    char *msg = bk_arena_alloc(call->arena, BK_MD_MSG_SIZE);
    struct bk_md_kv_in *kv = bk_arena_alloc(
        call->arena,
        (size_t)(t->configs_count > 0 ? t->configs_count : 1) * sizeof(*kv));
    if (msg == NULL || kv == NULL) {
        return BK_ENOMEM;
    }
    int16_t err = precheck(call, img, i, msg);
    size_t nkv = 0;
    if (err == 0 && collect_configs(call, t, kv, &nkv, &err, msg) != 0) {
        return BK_ENOMEM;
    }
    if (err == 0 &&
        create_checked(call, img, defs, kv, nkv, i, recs, &err, msg) != 0) {
        return BK_ENOMEM;
    }
    out->error_code = err;
    out->error_message = err != 0 ? bk_str_c(msg) : BK_STR_NULL;
    return 0;
}

void bk_handle_create_topics(struct bk_call *call)
{
    const struct bk_msg_create_topics_request *req = call->request;
    struct ct_state *st = bk_arena_alloc(call->arena, sizeof(*st));
    int32_t n = req->topics_count < 0 ? 0 : req->topics_count;
    if (st == NULL) {
        bk_req_fail(call->req, "out of memory");
        return;
    }
    call->data_ptr = st;
    bk_msg_create_topics_response_init(&st->resp);
    st->resp.topics =
        bk_arena_alloc(call->arena, (size_t)(n + 1) * sizeof(out_topic));
    st->proposed = bk_arena_alloc(call->arena, (size_t)n + 1);
    struct bk_md_image *img = bk_api_image(call);
    if (st->resp.topics == NULL || st->proposed == NULL || img == NULL) {
        bk_md_image_release(img);
        bk_req_fail(call->req, "out of memory");
        return;
    }
    st->resp.topics_count = n;
    struct bk_md_recs recs;
    bk_md_recs_init(&recs, call->arena);
    struct bk_md_defaults defs = {
        .num_partitions = call->ctx->num_partitions,
        .replication_factor = call->ctx->default_replication_factor,
    };
    for (int32_t i = 0; i < n; i++) {
        if (create_one(call, img, &defs, i, &recs) != 0) {
            bk_md_image_release(img);
            bk_req_fail(call->req, "out of memory");
            return;
        }
    }
    bk_md_image_release(img);
    /* One proposal for every valid topic; the answer waits for it to be
     * applied so that a Metadata request after it sees the topics. */
    if (recs.n == 0) {
        reply(call, st);
        return;
    }
    int rv = bk_api_propose(call, recs.v, recs.n, applied);
    if (rv != 0) {
        applied(call, rv);
    }
}
