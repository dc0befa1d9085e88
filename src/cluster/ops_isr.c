/* ISR changes proposed by partition leaders: the controller's side of
 * AlterPartition (api 56; replication-notes.md §4, KIP-497, KIP-704,
 * KIP-841, KIP-903).
 *
 * The leader proposes the ISR it wants at the leader and partition epochs
 * it knows; the controller refuses anything decided on state it has since
 * changed, and any member that could not safely be in sync. The order of
 * the checks is Kafka's (ReplicationControlManager's
 * validateAlterPartitionData), because the leader acts on the error it
 * gets: NOT_CONTROLLER makes it look for another controller,
 * FENCED_LEADER_EPOCH and INVALID_UPDATE_VERSION make it wait for the
 * metadata, INELIGIBLE_REPLICA makes it go back to the committed ISR. */
#include <stdio.h>
#include <string.h>

#include "cluster/ops.h"

int16_t bk_md_check_broker_epoch(const struct bk_md_image *img,
                                 int32_t id,
                                 int64_t epoch,
                                 char *msg)
{
    const struct bk_md_broker *b = bk_md_image_broker(img, id);
    if (b == NULL) {
        snprintf(msg, BK_MD_MSG_SIZE,
                 "No broker registration found for broker id %d", id);
        return BK_MD_KERR_STALE_BROKER_EPOCH;
    }
    if (b->epoch != epoch) {
        snprintf(msg, BK_MD_MSG_SIZE,
                 "Expected broker epoch %lld, but got broker epoch %lld",
                 (long long)b->epoch, (long long)epoch);
        return BK_MD_KERR_STALE_BROKER_EPOCH;
    }
    msg[0] = '\0';
    return BK_MD_KERR_NONE;
}

static bool is_replica(const struct bk_md_partition *p, int32_t id)
{
    for (int32_t k = 0; k < p->n_replicas; k++) {
        if (p->replicas[k] == id) {
            return true;
        }
    }
    return false;
}

/* Kafka's Replicas.validateIsr: distinct, non-negative replicas. */
static bool valid_isr(const struct bk_md_partition *p,
                      const struct bk_md_alter_isr *req)
{
    if (req->n_isr > p->n_replicas) {
        return false; /* then some member repeats or is no replica */
    }
    for (int32_t i = 0; i < req->n_isr; i++) {
        if (req->isr[i].id < 0 || !is_replica(p, req->isr[i].id)) {
            return false;
        }
        for (int32_t k = 0; k < i; k++) {
            if (req->isr[k].id == req->isr[i].id) {
                return false;
            }
        }
    }
    return true;
}

static bool isr_has(const struct bk_md_alter_isr *req, int32_t id)
{
    for (int32_t i = 0; i < req->n_isr; i++) {
        if (req->isr[i].id == id) {
            return true;
        }
    }
    return false;
}

/* Why member m may not be in an ISR (KIP-841: a fenced or shutting-down
 * broker would be elected leader without being reachable; KIP-903: a
 * broker that lost its disk and came back under a new epoch may lack
 * records it acknowledged), or NULL. */
static const char *ineligible(const struct bk_md_image *img,
                              const struct bk_md_isr_member *m)
{
    const struct bk_md_broker *b = bk_md_image_broker(img, m->id);
    if (b == NULL) {
        return "not registered";
    }
    if (b->in_controlled_shutdown) {
        return "shutting down";
    }
    if (b->fenced) {
        return "fenced";
    }
    if (m->epoch != -1 && m->epoch != b->epoch) {
        return "broker epoch mismatch";
    }
    return NULL;
}

/* The epochs, the sender and the ISR's shape, in Kafka's order. */
static int16_t check_epochs(const struct bk_md_topic *t,
                            int32_t partition,
                            const struct bk_md_partition *p,
                            const struct bk_md_alter_isr *req,
                            char *msg)
{
    /* A leader that knows newer epochs than ours has heard from a newer
     * controller: this node is likely no longer the active one. */
    if (req->leader_epoch > p->leader_epoch ||
        req->partition_epoch > p->partition_epoch) {
        snprintf(msg, BK_MD_MSG_SIZE,
                 "%s-%d is at leader epoch %d, partition epoch %d here; the "
                 "request has %d, %d.",
                 t->name, partition, p->leader_epoch, p->partition_epoch,
                 req->leader_epoch, req->partition_epoch);
        return BK_MD_KERR_NOT_CONTROLLER;
    }
    if (req->leader_epoch < p->leader_epoch) {
        snprintf(msg, BK_MD_MSG_SIZE, "%s-%d is at leader epoch %d, not %d.",
                 t->name, partition, p->leader_epoch, req->leader_epoch);
        return BK_MD_KERR_FENCED_LEADER_EPOCH;
    }
    if (req->sender != p->leader) {
        snprintf(msg, BK_MD_MSG_SIZE, "%s-%d is led by %d, not %d.", t->name,
                 partition, p->leader, req->sender);
        return BK_MD_KERR_INVALID_REQUEST;
    }
    if (req->partition_epoch < p->partition_epoch) {
        snprintf(msg, BK_MD_MSG_SIZE, "%s-%d is at partition epoch %d, not %d.",
                 t->name, partition, p->partition_epoch, req->partition_epoch);
        return BK_MD_KERR_INVALID_UPDATE_VERSION;
    }
    if (!valid_isr(p, req) || !isr_has(req, p->leader)) {
        snprintf(msg, BK_MD_MSG_SIZE,
                 "Invalid ISR for %s-%d: its members must be distinct "
                 "replicas and include the leader %d.",
                 t->name, partition, p->leader);
        return BK_MD_KERR_INVALID_REQUEST;
    }
    return BK_MD_KERR_NONE;
}

/* KIP-704: a leader elected uncleanly recovers alone (ISR of one) and then
 * reports RECOVERED; nothing goes back to RECOVERING. */
static int16_t check_recovery(const struct bk_md_topic *t,
                              int32_t partition,
                              const struct bk_md_partition *p,
                              const struct bk_md_alter_isr *req,
                              char *msg)
{
    int8_t want = req->leader_recovery_state;
    if (want != BK_MD_RECOVERED && want != BK_MD_RECOVERING) {
        snprintf(msg, BK_MD_MSG_SIZE, "Unknown leader recovery state %d.",
                 want);
        return BK_MD_KERR_INVALID_REQUEST;
    }
    if (want == BK_MD_RECOVERING && req->n_isr > 1) {
        snprintf(msg, BK_MD_MSG_SIZE,
                 "%s-%d: an ISR of %d while the leader is recovering.", t->name,
                 partition, req->n_isr);
        return BK_MD_KERR_INVALID_REQUEST;
    }
    if (p->leader_recovery_state == BK_MD_RECOVERED &&
        want == BK_MD_RECOVERING) {
        snprintf(msg, BK_MD_MSG_SIZE,
                 "%s-%d: the leader recovery state cannot change from "
                 "RECOVERED to RECOVERING.",
                 t->name, partition);
        return BK_MD_KERR_INVALID_REQUEST;
    }
    return BK_MD_KERR_NONE;
}

static bool same_state(const struct bk_md_partition *p,
                       const struct bk_md_alter_isr *req)
{
    if (req->n_isr != p->n_isr ||
        req->leader_recovery_state != p->leader_recovery_state) {
        return false;
    }
    for (int32_t i = 0; i < req->n_isr; i++) {
        if (req->isr[i].id != p->isr[i]) {
            return false;
        }
    }
    return true;
}

static int16_t validate(const struct bk_md_image *img,
                        const struct bk_md_topic *t,
                        int32_t partition,
                        const struct bk_md_partition *p,
                        const struct bk_md_alter_isr *req,
                        char *msg)
{
    int16_t code = check_epochs(t, partition, p, req, msg);
    if (code == BK_MD_KERR_NONE) {
        code = check_recovery(t, partition, p, req, msg);
    }
    for (int32_t i = 0; code == BK_MD_KERR_NONE && i < req->n_isr; i++) {
        const char *why = ineligible(img, &req->isr[i]);
        if (why != NULL) {
            snprintf(msg, BK_MD_MSG_SIZE,
                     "Broker %d cannot join the ISR of %s-%d: %s.",
                     req->isr[i].id, t->name, partition, why);
            code = req->v2 ? BK_MD_KERR_INELIGIBLE_REPLICA
                           : BK_MD_KERR_OPERATION_NOT_ATTEMPTED;
        }
    }
    return code;
}

int16_t bk_md_op_alter_partition(const struct bk_md_image *img,
                                 const struct bk_uuid *topic_id,
                                 int32_t partition,
                                 const struct bk_md_alter_isr *req,
                                 struct bk_md_recs *out,
                                 struct bk_md_isr_state *res,
                                 char *msg)
{
    msg[0] = '\0';
    const struct bk_md_topic *t = bk_md_image_topic_by_id(img, topic_id);
    if (t == NULL) {
        snprintf(msg, BK_MD_MSG_SIZE,
                 "This server does not host this topic ID.");
        return BK_MD_KERR_UNKNOWN_TOPIC_ID;
    }
    const struct bk_md_partition *p = bk_md_topic_partition(t, partition);
    if (p == NULL) {
        snprintf(msg, BK_MD_MSG_SIZE,
                 "This server does not host this topic-partition.");
        return BK_MD_KERR_UNKNOWN_TOPIC_OR_PARTITION;
    }
    int16_t code = validate(img, t, partition, p, req, msg);
    if (code != BK_MD_KERR_NONE) {
        return code;
    }
    *res = (struct bk_md_isr_state){
        .leader = p->leader,
        .leader_epoch = p->leader_epoch,
        .partition_epoch = p->partition_epoch,
        .leader_recovery_state = req->leader_recovery_state,
        .n_isr = p->n_isr,
        .isr = p->isr,
    };
    if (same_state(p, req)) {
        return BK_MD_KERR_NONE; /* nothing to change: no record */
    }
    int32_t *isr =
        bk_arena_alloc(out->arena, sizeof(int32_t) * (size_t)req->n_isr + 1);
    if (isr == NULL) {
        snprintf(msg, BK_MD_MSG_SIZE, "out of memory");
        return BK_MD_KERR_UNKNOWN_SERVER_ERROR;
    }
    for (int32_t i = 0; i < req->n_isr; i++) {
        isr[i] = req->isr[i].id;
    }
    code =
        bk_md_op_change_partition(img, topic_id, partition, p->partition_epoch,
                                  p->leader, isr, req->n_isr, out, msg);
    if (code == BK_MD_KERR_NONE) {
        /* change_partition's record is the last one in out. */
        out->v[out->n - 1].u.partition.leader_recovery_state =
            req->leader_recovery_state;
        const struct bk_md_partition_rec *r = &out->v[out->n - 1].u.partition;
        res->leader = r->leader;
        res->leader_epoch = r->leader_epoch;
        res->partition_epoch = r->partition_epoch;
        res->n_isr = r->n_isr;
        res->isr = r->isr;
        if (r->leader != p->leader) {
            /* The change completed a reassignment that removed the
             * sender: the record stands, the sender learns it no longer
             * leads. */
            snprintf(msg, BK_MD_MSG_SIZE,
                     "%s-%d: the reassignment completed and elected %d.",
                     t->name, partition, r->leader);
            return BK_MD_KERR_NEW_LEADER_ELECTED;
        }
    }
    return code;
}
