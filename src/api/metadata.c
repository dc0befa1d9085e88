/* Metadata (key 3), v0-13.
 *
 * Brokers, cluster id, controller id and topics, from the current metadata
 * image. Version rules that are easy to miss (protocol-notes.md section d):
 * in v0 an empty topic list means "all topics"; from v1 a null list means
 * all and an empty one means none; v10+ requests may name topics by id;
 * cluster id from v2, rack and controller from v1, leader epoch from v7,
 * topic ids from v10 (the codec drops fields a version lacks).
 *
 * Auto-creation: with auto.create.topics.enable on and the request allowing
 * it (v4+ AllowAutoTopicCreation; implicit before v4), an unknown topic with
 * a legal name is created with num.partitions and
 * default.replication.factor, and answered LEADER_NOT_AVAILABLE until it
 * exists; clients retry (Kafka's behaviour).
 *
 * Authorized operations (KIP-430): the cluster's when v8-10 ask
 * (include_cluster_authorized_operations; v11 dropped it), each topic's when
 * v8+ ask (include_topic_authorized_operations), on every topic entry,
 * unknown topics included, as Kafka 4.1 answers (api/authz.h); with an
 * authorizer, what the ACLs allow the principal.
 *
 * ACLs (security-notes.md §7): the topic list leaves out topics the
 * principal may not DESCRIBE; a topic asked for by name without DESCRIBE
 * is TOPIC_AUTHORIZATION_FAILED, existing or not; auto-creation needs
 * CREATE on the cluster or the topic (else TOPIC_AUTHORIZATION_FAILED, as
 * Kafka's KafkaApis answers). */
#include "protocol/gen/metadata.h"

#include <string.h>

#include "api/access.h"
#include "api/authz.h"
#include "api/call.h"
#include "api/forward.h"
#include "cluster/controller.h"
#include "cluster/ops.h"
#include "common/diag.h"
#include "protocol/kerr.h"

typedef struct bk_msg_metadata_response_metadata_response_topic out_topic;
typedef struct bk_msg_metadata_response_metadata_response_partition out_part;

static int fill_brokers(struct bk_call *call,
                        const struct bk_md_image *img,
                        struct bk_msg_metadata_response *resp)
{
    resp->brokers = bk_arena_alloc(
        call->arena, (img->n_brokers + 1) * sizeof(*resp->brokers));
    if (resp->brokers == NULL) {
        return BK_ENOMEM;
    }
    int32_t n = 0;
    for (size_t i = 0; i < img->n_brokers; i++) {
        const struct bk_md_broker *b = &img->brokers[i];
        if (b->fenced) {
            continue;
        }
        const char *host;
        resp->brokers[n].node_id = b->id;
        bk_api_broker_addr(call, b->id, b->host, b->port, &host,
                           &resp->brokers[n].port);
        resp->brokers[n].host = bk_str_c(host);
        resp->brokers[n].rack = bk_str_c(b->rack);
        n++;
    }
    resp->brokers_count = n;
    return 0;
}

static int32_t *copy_ids(struct bk_call *call, const int32_t *v, int32_t n)
{
    int32_t *out = bk_arena_alloc(call->arena, (size_t)(n + 1) * sizeof(*v));
    if (out != NULL && n > 0) {
        memcpy(out, v, (size_t)n * sizeof(*v));
    }
    return out;
}

static int fill_topic(struct bk_call *call,
                      const struct bk_md_topic *t,
                      out_topic *out)
{
    out->error_code = BK_KERR_NONE;
    out->name = bk_str_c(t->name);
    out->topic_id = t->id;
    out->is_internal = t->name[0] == '_' && t->name[1] == '_';
    out->topic_authorized_operations = BK_API_AUTHZ_NOT_ASKED;
    out->partitions = bk_arena_alloc(
        call->arena, (size_t)(t->n_partitions + 1) * sizeof(out_part));
    if (out->partitions == NULL) {
        return BK_ENOMEM;
    }
    out->partitions_count = t->n_partitions;
    for (int32_t i = 0; i < t->n_partitions; i++) {
        const struct bk_md_partition *p = &t->partitions[i];
        out_part *op = &out->partitions[i];
        op->error_code =
            p->leader >= 0 ? BK_KERR_NONE : BK_KERR_LEADER_NOT_AVAILABLE;
        op->partition_index = i;
        op->leader_id = p->leader;
        op->leader_epoch = p->leader_epoch;
        op->replica_nodes = copy_ids(call, p->replicas, p->n_replicas);
        op->replica_nodes_count = p->n_replicas;
        op->isr_nodes = copy_ids(call, p->isr, p->n_isr);
        op->isr_nodes_count = p->n_isr;
        op->offline_replicas = NULL;
        op->offline_replicas_count = 0;
        if (op->replica_nodes == NULL || op->isr_nodes == NULL) {
            return BK_ENOMEM;
        }
    }
    return 0;
}

/* Auto-creation does not wait for its outcome (the call is answered at
 * once and freed), so its completion must not refer to the call. */
static void created_cb(void *data, int status)
{
    (void)data;
    if (status != 0) {
        bk_diag_debug("api", "msg=\"auto-create of a topic not applied: %s\"",
                      bk_strerror(status));
    }
}

/* Proposes the creation of one topic; the answer for it is
 * LEADER_NOT_AVAILABLE whether or not this succeeds (the client retries
 * and then sees the outcome). */
static int16_t auto_create(struct bk_call *call,
                           const struct bk_md_image *img,
                           const char *name)
{
    char msg[BK_MD_MSG_SIZE] = "";
    struct bk_md_recs recs;
    bk_md_recs_init(&recs, call->arena);
    struct bk_md_topic_spec spec = { .name = bk_str_c(name),
                                     .num_partitions = -1,
                                     .replication_factor = -1 };
    struct bk_md_defaults defs = {
        .num_partitions = call->ctx->num_partitions,
        .replication_factor = call->ctx->default_replication_factor,
    };
    struct bk_md_create_result res;
    int16_t err = bk_md_op_create_topic(img, &spec, &defs, bk_md_rng_system(),
                                        &recs, &res, msg);
    if (err != 0) {
        return err;
    }
    /* Another node decides: it gets a CreateTopics of this node's own. */
    int rv =
        bk_md_is_active(call->ctx->md)
            ? bk_md_propose(call->ctx->md, recs.v, recs.n, created_cb, NULL)
            : bk_fwd_create_topic(call->req->shard, &spec);
    if (rv != 0) {
        bk_diag_warn("api", "topic=%s msg=\"auto-create failed: %s\"", name,
                     bk_strerror(rv));
    } else {
        bk_diag_info("api", "topic=%s partitions=%d msg=\"auto-creating\"",
                     name, res.num_partitions);
    }
    return BK_KERR_LEADER_NOT_AVAILABLE;
}

void bk_handle_metadata(struct bk_call *call)
{
    const struct bk_msg_metadata_request *req = call->request;
    int16_t version = call->hdr.api_version;
    struct bk_msg_metadata_response resp;
    bk_msg_metadata_response_init(&resp);
    struct bk_md_image *img = bk_api_image(call);
    if (img == NULL || fill_brokers(call, img, &resp) != 0) {
        bk_md_image_release(img);
        bk_req_fail(call->req, "out of memory");
        return;
    }
    resp.throttle_time_ms = 0;
    resp.cluster_id = bk_str_c(call->ctx->cluster_id);
    resp.controller_id = bk_api_controller_for_clients(call, img);
    resp.cluster_authorized_operations = BK_API_AUTHZ_NOT_ASKED;
    if (version >= 8 && version <= 10 &&
        req->include_cluster_authorized_operations) {
        resp.cluster_authorized_operations = bk_api_authz_ops(
            call, img, BK_ACL_RES_CLUSTER, bk_str_c(BK_ACL_CLUSTER_NAME));
    }

    bool all =
        req->topics_count < 0 || (version == 0 && req->topics_count == 0);
    bool allow_create = call->ctx->auto_create_topics &&
                        (version < 4 || req->allow_auto_topic_creation);
    int rv = 0;
    if (all) {
        resp.topics = bk_arena_alloc(call->arena,
                                     (img->n_topics + 1) * sizeof(out_topic));
        rv = resp.topics == NULL ? BK_ENOMEM : 0;
        /* Topics the principal may not DESCRIBE are left out. */
        resp.topics_count = 0;
        for (size_t i = 0; rv == 0 && i < img->n_topics; i++) {
            const struct bk_md_topic *t = img->by_name[i];
            if (bk_api_may(call, img, BK_ACL_OP_DESCRIBE, BK_ACL_RES_TOPIC,
                           bk_str_c(t->name))) {
                rv = fill_topic(call, t, &resp.topics[resp.topics_count++]);
            }
        }
    } else {
        resp.topics = bk_arena_alloc(
            call->arena, (size_t)(req->topics_count + 1) * sizeof(out_topic));
        rv = resp.topics == NULL ? BK_ENOMEM : 0;
        resp.topics_count = req->topics_count;
        for (int32_t i = 0; rv == 0 && i < req->topics_count; i++) {
            const struct bk_msg_metadata_request_metadata_request_topic *rt =
                &req->topics[i];
            out_topic *out = &resp.topics[i];
            out->topic_authorized_operations = BK_API_AUTHZ_NOT_ASKED;
            out->name = rt->name;
            out->topic_id = rt->topic_id;
            /* v10+ may name a topic by id; the Java client then sends an
             * empty (not null) name, so a non-zero id wins. */
            bool by_id = !bk_uuid_is_zero(&rt->topic_id) || rt->name.len < 0;
            const struct bk_md_topic *t =
                by_id ? bk_md_image_topic_by_id(img, &rt->topic_id)
                      : bk_md_image_topic(img, rt->name.ptr,
                                          (size_t)rt->name.len);
            /* Authorization before existence: an unknown name the
             * principal may not DESCRIBE is not told apart. */
            if ((t != NULL || !by_id) &&
                !bk_api_may(call, img, BK_ACL_OP_DESCRIBE, BK_ACL_RES_TOPIC,
                            t != NULL ? bk_str_c(t->name) : rt->name)) {
                out->error_code = BK_KERR_TOPIC_AUTHORIZATION_FAILED;
                continue;
            }
            if (t != NULL) {
                rv = fill_topic(call, t, out);
                continue;
            }
            if (by_id) {
                out->error_code = BK_KERR_UNKNOWN_TOPIC_ID;
                continue;
            }
            char name[256];
            char msg[BK_MD_MSG_SIZE];
            size_t nl = (size_t)rt->name.len < sizeof(name) - 1
                            ? (size_t)rt->name.len
                            : sizeof(name) - 1;
            memcpy(name, rt->name.ptr, nl);
            name[nl] = '\0';
            if (bk_md_topic_name_check(rt->name.ptr, (size_t)rt->name.len,
                                       msg) != 0) {
                out->error_code = BK_KERR_INVALID_TOPIC_EXCEPTION;
            } else if (allow_create &&
                       !bk_api_may_create_topic(call, img, rt->name)) {
                /* Kafka: TOPIC_AUTHORIZATION_FAILED without CREATE on the
                 * cluster or the topic. */
                out->error_code = BK_KERR_TOPIC_AUTHORIZATION_FAILED;
            } else if (allow_create) {
                out->error_code = auto_create(call, img, name);
            } else {
                out->error_code = BK_KERR_UNKNOWN_TOPIC_OR_PARTITION;
            }
        }
    }
    if (rv != 0) {
        bk_md_image_release(img);
        bk_req_fail(call->req, "out of memory");
        return;
    }
    for (int32_t i = 0; version >= 8 && i < resp.topics_count; i++) {
        if (req->include_topic_authorized_operations) {
            resp.topics[i].topic_authorized_operations = bk_api_authz_ops(
                call, img, BK_ACL_RES_TOPIC, resp.topics[i].name);
        }
    }
    bk_call_reply(call, &resp);
    bk_md_image_release(img);
}
