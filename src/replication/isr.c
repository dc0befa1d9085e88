/* AlterPartition (api 56), the leader's side: a partition this shard leads
 * wants a follower added to or removed from its ISR (replica_isr.c), and
 * this file sends the proposal to the active controller and hands the
 * answer back to the partition (replication-notes.md section 4). One
 * request per proposal; the partition keeps at most one in flight.
 *
 * v3 carries each member's broker epoch (KIP-903), so that the controller
 * refuses a member that restarted since the leader saw it: the epochs are
 * those the followers sent with their fetches, and this broker's own. */
#include <string.h>

#include "common/arena.h"
#include "common/diag.h"
#include "common/err.h"
#include "common/heap.h"
#include "partition/replica.h"
#include "protocol/gen/alter_partition.h"
#include "protocol/gen/api.h"
#include "protocol/header.h"
#include "protocol/kerr.h"
#include "replication/repl_int.h"

#define ALTER_PARTITION_VERSION 3
#define MAX_ISR                 64

struct isr_rpc {
    struct bk_repl *r;
    struct bk_uuid topic_id;
    int32_t index;
    struct bk_arena arena;
};

static int64_t broker_epoch_of(const struct bk_repl *r,
                               const struct bk_partition *p,
                               int32_t id)
{
    if (id == r->cfg.node_id) {
        const struct bk_md_broker *b =
            r->img != NULL ? bk_md_image_broker(r->img, id) : NULL;
        return b != NULL ? b->epoch : -1;
    }
    for (int32_t i = 0; i < p->n_peers; i++) {
        if (p->peers[i].id == id) {
            return p->peers[i].broker_epoch;
        }
    }
    return -1;
}

/* The controller's answer for the one partition asked about. */
static void take_answer(struct bk_partition *p,
                        const struct bk_msg_alter_partition_response *resp)
{
    if (resp->error_code != BK_KERR_NONE) {
        bk_replica_isr_answer(p, resp->error_code, -1, -1, NULL, 0);
        return;
    }
    for (int32_t i = 0; i < resp->topics_count; i++) {
        const struct bk_msg_alter_partition_response_topic_data *t =
            &resp->topics[i];
        for (int32_t j = 0; j < t->partitions_count; j++) {
            const struct bk_msg_alter_partition_response_partition_data *pd =
                &t->partitions[j];
            if (pd->partition_index != p->index) {
                continue;
            }
            bk_replica_isr_answer(p, pd->error_code, pd->leader_epoch,
                                  pd->partition_epoch, pd->isr,
                                  pd->isr_count > 0 ? pd->isr_count : 0);
            return;
        }
    }
    bk_replica_isr_answer(p, BK_KERR_UNKNOWN_SERVER_ERROR, -1, -1, NULL, 0);
}

static void answered(void *data, int status, const uint8_t *frame, size_t len)
{
    struct isr_rpc *rpc = data;
    struct bk_repl *r = rpc->r;
    r->isr_inflight--;
    struct bk_partition *p =
        bk_part_find(&r->rmgr->parts, &rpc->topic_id, rpc->index);
    struct bk_msg_alter_partition_response resp;
    if (p != NULL && status == 0) {
        status =
            bk_resp_frame_decode(&rpc->arena, BK_API_ALTER_PARTITION,
                                 ALTER_PARTITION_VERSION, frame, len, &resp);
    }
    if (p != NULL) {
        if (status == 0) {
            take_answer(p, &resp);
        } else {
            /* Proposed again by the next fetch or tick. */
            bk_replica_isr_answer(p, BK_KERR_UNKNOWN_SERVER_ERROR, -1, -1, NULL,
                                  0);
        }
    }
    bk_arena_destroy(&rpc->arena);
    bk_free(rpc);
}

static int build(struct isr_rpc *rpc,
                 struct bk_partition *p,
                 uint8_t **frame,
                 size_t *len)
{
    struct bk_repl *r = rpc->r;
    int32_t isr[MAX_ISR];
    int32_t n, leader_epoch, partition_epoch;
    if (!bk_replica_isr_proposal(p, isr, MAX_ISR, &n, &leader_epoch,
                                 &partition_epoch)) {
        return BK_ENOTFOUND;
    }
    struct bk_msg_alter_partition_request req;
    bk_msg_alter_partition_request_init(&req);
    struct bk_msg_alter_partition_request_topic_data *t =
        bk_arena_alloc(&rpc->arena, sizeof(*t));
    struct bk_msg_alter_partition_request_partition_data *pd =
        bk_arena_alloc(&rpc->arena, sizeof(*pd));
    struct bk_msg_alter_partition_request_broker_state *bs =
        bk_arena_alloc(&rpc->arena, (size_t)(n + 1) * sizeof(*bs));
    if (t == NULL || pd == NULL || bs == NULL) {
        return BK_ENOMEM;
    }
    for (int32_t i = 0; i < n; i++) {
        bs[i].broker_id = isr[i];
        bs[i].broker_epoch = broker_epoch_of(r, p, isr[i]);
    }
    memset(pd, 0, sizeof(*pd));
    pd->partition_index = p->index;
    pd->leader_epoch = leader_epoch;
    pd->new_isr = NULL;
    pd->new_isr_count = 0;
    pd->new_isr_with_epochs = bs;
    pd->new_isr_with_epochs_count = n;
    pd->leader_recovery_state = 0;
    pd->partition_epoch = partition_epoch;
    memset(t, 0, sizeof(*t));
    t->topic_name = BK_STR_NULL;
    t->topic_id = p->topic_id;
    t->partitions = pd;
    t->partitions_count = 1;
    req.broker_id = r->cfg.node_id;
    req.broker_epoch = broker_epoch_of(r, p, r->cfg.node_id);
    req.topics = t;
    req.topics_count = 1;
    return bk_req_frame_encode(&rpc->arena, BK_API_ALTER_PARTITION,
                               ALTER_PARTITION_VERSION, 0, "brokerd", &req,
                               frame, len);
}

void bk_repl_isr_changed(void *data, struct bk_partition *p)
{
    struct bk_repl *r = data;
    struct isr_rpc *rpc = bk_calloc(1, sizeof(*rpc));
    if (rpc == NULL) {
        bk_replica_isr_answer(p, BK_KERR_UNKNOWN_SERVER_ERROR, -1, -1, NULL, 0);
        return;
    }
    rpc->r = r;
    rpc->topic_id = p->topic_id;
    rpc->index = p->index;
    bk_arena_init(&rpc->arena, 1024, 0);
    uint8_t *frame;
    size_t len;
    int rv = build(rpc, p, &frame, &len);
    if (rv == 0 && r->ctl_send != NULL) {
        rv = r->ctl_send(r->ctl, frame, len, answered, rpc);
    } else if (rv == 0) {
        rv = BK_ENOTLEADER;
    }
    if (rv != 0) {
        bk_arena_destroy(&rpc->arena);
        bk_free(rpc);
        /* No controller now: proposed again later. */
        bk_replica_isr_answer(p, BK_KERR_UNKNOWN_SERVER_ERROR, -1, -1, NULL, 0);
        return;
    }
    r->isr_inflight++;
    bk_diag_info("replication",
                 "topic=%s partition=%d msg=\"proposed an ISR change\"",
                 p->topic, p->index);
}
