/* FindCoordinator (key 10), v0-6: batched keys from v4 (KIP-699).
 *
 * A group's coordinator is the leader of its __consumer_offsets partition
 * (group_coord.h). The topic is created on first use, as Kafka does, with
 * offsets.topic.num.partitions partitions and cleanup.policy=compact; the
 * answer waits until that is applied.
 *
 * A transactional id's coordinator (key type 1) is the leader of its
 * __transaction_state partition (txn_coord.h), created on first use in
 * the same way with transaction.state.log.num.partitions partitions,
 * its replication factor and min.insync.replicas capped at the live
 * brokers. */
#include "protocol/gen/find_coordinator.h"

#include <string.h>

#include "api/access.h"
#include "api/group_coord.h"
#include "api/txn_coord.h"
#include "cluster/controller.h"
#include "protocol/kerr.h"

typedef struct bk_msg_find_coordinator_response_coordinator out_coord;

static void fill(struct bk_call *call,
                 const struct bk_md_image *img,
                 int8_t key_type,
                 out_coord *c)
{
    c->node_id = -1;
    c->host = bk_str_c("");
    c->port = -1;
    c->error_message = BK_STR_NULL;
    const char *topic = key_type == 1 ? BK_TXN_TOPIC : BK_OFFSETS_TOPIC;
    const struct bk_md_topic *t =
        img != NULL ? bk_md_image_topic(img, topic, strlen(topic)) : NULL;
    /* An unknown key type, or a transaction key without its id. */
    bool bad =
        (key_type != 0 && key_type != 1) || (key_type == 1 && c->key.len <= 0);
    if (bad) {
        c->error_code = BK_KERR_INVALID_REQUEST;
    } else if (!bk_api_may(call, img, BK_ACL_OP_DESCRIBE,
                           key_type == 1 ? BK_ACL_RES_TRANSACTIONAL_ID
                                         : BK_ACL_RES_GROUP,
                           c->key)) {
        /* Kafka: DESCRIBE on the group or transactional id. */
        c->error_code = key_type == 1
                            ? BK_KERR_TRANSACTIONAL_ID_AUTHORIZATION_FAILED
                            : BK_KERR_GROUP_AUTHORIZATION_FAILED;
    } else if (t == NULL || t->n_partitions <= 0) {
        c->error_code = BK_KERR_COORDINATOR_NOT_AVAILABLE;
    } else {
        int32_t p = bk_coord_key_partition(c->key, t->n_partitions);
        const struct bk_md_partition *mp = bk_md_topic_partition(t, p);
        struct bk_str host;
        int32_t port;
        if (mp == NULL || mp->leader < 0 ||
            !bk_gcoord_broker_addr(call, img, mp->leader, &host, &port)) {
            c->error_code = BK_KERR_COORDINATOR_NOT_AVAILABLE;
        } else {
            c->error_code = BK_KERR_NONE;
            c->node_id = mp->leader;
            c->host = host;
            c->port = port;
        }
    }
    /* On success Kafka 4.1 still sends a message: the error's name "NONE"
     * in v1-3, an empty string per key from v4 (seen by tests/diff). */
    if (c->error_code != 0) {
        c->error_message = bk_str_c(bk_kerr_message(c->error_code));
    } else {
        c->error_message = bk_str_c(call->hdr.api_version >= 4 ? "" : "NONE");
    }
}

static void answer(struct bk_call *call, int status)
{
    const struct bk_msg_find_coordinator_request *req = call->request;
    struct bk_msg_find_coordinator_response resp;
    bk_msg_find_coordinator_response_init(&resp);
    int16_t v = call->hdr.api_version;
    int8_t key_type = v >= 1 ? req->key_type : 0;
    (void)status; /* the image tells: a lost creation race still created it */
    struct bk_md_image *img = bk_api_image(call);
    if (v >= 4) {
        int32_t n =
            req->coordinator_keys_count < 0 ? 0 : req->coordinator_keys_count;
        resp.coordinators =
            bk_arena_alloc(call->arena, (size_t)(n + 1) * sizeof(out_coord));
        if (resp.coordinators == NULL) {
            bk_md_image_release(img);
            bk_req_fail(call->req, "out of memory");
            return;
        }
        resp.coordinators_count = n;
        for (int32_t i = 0; i < n; i++) {
            out_coord *c = &resp.coordinators[i];
            memset(c, 0, sizeof(*c));
            c->key = req->coordinator_keys[i];
            fill(call, img, key_type, c);
        }
    } else {
        out_coord c;
        memset(&c, 0, sizeof(c));
        c.key = req->key;
        fill(call, img, key_type, &c);
        resp.error_code = c.error_code;
        resp.error_message = c.error_message;
        resp.node_id = c.node_id;
        resp.host = c.host;
        resp.port = c.port;
    }
    bk_md_image_release(img);
    bk_call_reply(call, &resp);
}

void bk_handle_find_coordinator(struct bk_call *call)
{
    const struct bk_msg_find_coordinator_request *req = call->request;
    int16_t v = call->hdr.api_version;
    int8_t key_type = v >= 1 ? req->key_type : 0;
    if (key_type != 0 && key_type != 1) {
        answer(call, 0);
        return;
    }
    /* Creates the coordinator's topic first when it does not exist yet
     * (and answers at once when it does). */
    int rv = key_type == 1 ? bk_tcoord_create_topic(call, answer)
                           : bk_gcoord_create_topic(call, answer);
    if (rv != 0) {
        answer(call, rv);
    }
}
