/* WriteTxnMarkers (key 27), v0-1: a transaction coordinator (another
 * broker's, or this one's) asks the leader of each partition of a
 * transaction to write the marker that ends it there.
 *
 * Happy path: each partition goes to its owning shard (fan.h), where the
 * replica checks the marker against producer state and appends it
 * (bk_replica_write_marker); the answer waits until every marker is
 * committed, as Kafka appends markers with acks=all. Failure modes, per
 * partition: unknown topic (UNKNOWN_TOPIC_OR_PARTITION, which ends the
 * coordinator's work there), not the leader (the coordinator retries
 * against the new one), a fenced producer or coordinator epoch, storage
 * errors, and a commit that does not reach the in-sync replicas.
 *
 * A marker with coordinator epoch -1 is an admin's abort of a hanging
 * transaction (KIP-664, kafka-transactions.sh abort): accepted, never
 * fenced. */
#include "protocol/gen/write_txn_markers.h"

#include <string.h>

#include "api/access.h"
#include "api/fan.h"
#include "api/group_coord.h"
#include "cluster/controller.h"
#include "common/clock.h"
#include "partition/replica.h"
#include "protocol/kerr.h"

typedef struct bk_msg_write_txn_markers_response_writable_txn_marker_result
    out_marker;
typedef struct
    bk_msg_write_txn_markers_response_writable_txn_marker_topic_result
        out_topic;
typedef struct
    bk_msg_write_txn_markers_response_writable_txn_marker_partition_result
        out_part;
typedef struct bk_msg_write_txn_markers_request_writable_txn_marker in_marker;

/* A marker is committed once synced here and below the high watermark;
 * Kafka's request.timeout.ms bounds the wait. */
#define MARKER_COMMIT_TIMEOUT_MS 30000

struct wtm_item {
    struct bk_uuid topic_id;
    bool known;
    int32_t partition;
    const in_marker *m;
    out_part *out;
    struct bk_fan_part *part;
    struct bk_replica_commit_wait cw;
};

struct wtm_state {
    struct bk_fan fan;
    struct bk_msg_write_txn_markers_response resp;
    struct wtm_item *items;
};

/* On the syncer thread or the owner shard: the marker is committed, or
 * failed to be. */
static void committed_cb(struct bk_replica_commit_wait *cw, int16_t error)
{
    struct wtm_item *it = cw->data;
    it->out->error_code = error;
    bk_fan_release(it->part);
}

static void write_one(struct bk_fan_part *part,
                      const struct bk_md_image *img,
                      struct wtm_item *it)
{
    int16_t err;
    struct bk_partition *p = bk_fan_open_partition(part, img, &it->topic_id,
                                                   it->partition, -1, &err);
    if (p == NULL) {
        it->out->error_code = err;
        return;
    }
    int64_t at = -1;
    int64_t now = bk_clock_wall_ms(part->fan->call->ctx->storage->clock);
    err = bk_replica_write_marker(p, it->m->producer_id, it->m->producer_epoch,
                                  it->m->transaction_result,
                                  it->m->coordinator_epoch, now, &at);
    it->out->error_code = err;
    if (err != BK_KERR_NONE) {
        return;
    }
    struct bk_api_shard *sh = bk_fan_shard_state(part);
    const struct bk_md_topic *t = bk_md_image_topic_by_id(img, &it->topic_id);
    if (sh->gcoord != NULL && t != NULL &&
        strcmp(t->name, BK_OFFSETS_TOPIC) == 0) {
        /* Offsets committed in the transaction (TxnOffsetCommit) become
         * visible, or go, with its marker. */
        bk_coord_group_txn_end(sh->gcoord, it->partition, it->m->producer_id,
                               it->m->transaction_result);
    }
    it->part = part;
    it->cw.done = committed_cb;
    it->cw.data = it;
    it->cw.timeout_ms = MARKER_COMMIT_TIMEOUT_MS;
    /* Held before the wait: committed_cb may run on the syncer thread
     * before bk_replica_wait_committed returns. */
    bk_fan_hold(part);
    bool waiting = false;
    err = bk_replica_wait_committed(p, at + 1, &it->cw, &waiting);
    if (!waiting) {
        it->out->error_code = err;
        bk_fan_release(part);
    }
}

static void run_part(struct bk_fan_part *part)
{
    struct wtm_state *st = part->fan->data;
    struct bk_md_image *img = bk_md_image_acquire(part->fan->call->ctx->md);
    for (size_t i = 0; img != NULL && i < part->n; i++) {
        struct wtm_item *it = &st->items[part->idx[i]];
        if (it->known) {
            write_one(part, img, it);
        }
    }
    bk_md_image_release(img);
    bk_fan_release(part);
}

static void done(struct bk_fan *fan)
{
    struct wtm_state *st = fan->data;
    bk_call_reply(fan->call, &st->resp);
}

/* How many partitions the request names. */
static size_t count_items(const struct bk_msg_write_txn_markers_request *req)
{
    size_t n = 0;
    for (int32_t i = 0; i < req->markers_count; i++) {
        const in_marker *m = &req->markers[i];
        for (int32_t j = 0; j < m->topics_count; j++) {
            int32_t np = m->topics[j].partition_indexes_count;
            n += np < 0 ? 0 : (size_t)np;
        }
    }
    return n;
}

/* Lays out the answer for marker m and routes its partitions; returns
 * the next item index, or -1 when out of memory. */
static ptrdiff_t fill_marker(struct bk_call *call,
                             struct wtm_state *st,
                             const struct bk_md_image *img,
                             bool allowed,
                             const in_marker *m,
                             out_marker *om,
                             unsigned *owner,
                             size_t k)
{
    int32_t nt = m->topics_count < 0 ? 0 : m->topics_count;
    om->producer_id = m->producer_id;
    om->topics_count = nt;
    om->topics =
        bk_arena_alloc(call->arena, (size_t)(nt + 1) * sizeof(out_topic));
    if (om->topics == NULL) {
        return -1;
    }
    for (int32_t j = 0; j < nt; j++) {
        const struct bk_msg_write_txn_markers_request_writable_txn_marker_topic
            *rt = &m->topics[j];
        out_topic *ot = &om->topics[j];
        int32_t np =
            rt->partition_indexes_count < 0 ? 0 : rt->partition_indexes_count;
        ot->name = rt->name;
        ot->partitions_count = np;
        ot->partitions =
            bk_arena_alloc(call->arena, (size_t)(np + 1) * sizeof(out_part));
        if (ot->partitions == NULL) {
            return -1;
        }
        const struct bk_md_topic *t =
            allowed && rt->name.len >= 0
                ? bk_md_image_topic(img, rt->name.ptr, (size_t)rt->name.len)
                : NULL;
        for (int32_t q = 0; q < np; q++, k++) {
            struct wtm_item *it = &st->items[k];
            it->m = m;
            it->out = &ot->partitions[q];
            it->partition = rt->partition_indexes[q];
            it->out->partition_index = it->partition;
            it->known =
                bk_fan_route(call, t, it->partition, &it->topic_id, &owner[k]);
            if (!it->known) {
                it->out->error_code =
                    allowed ? BK_KERR_UNKNOWN_TOPIC_OR_PARTITION
                            : BK_KERR_CLUSTER_AUTHORIZATION_FAILED;
            }
        }
    }
    return (ptrdiff_t)k;
}

void bk_handle_write_txn_markers(struct bk_call *call)
{
    const struct bk_msg_write_txn_markers_request *req = call->request;
    struct wtm_state *st = bk_arena_alloc(call->arena, sizeof(*st));
    if (st == NULL) {
        bk_req_fail(call->req, "out of memory");
        return;
    }
    bk_msg_write_txn_markers_response_init(&st->resp);
    int32_t nm = req->markers_count < 0 ? 0 : req->markers_count;
    size_t n = count_items(req);
    st->resp.markers =
        bk_arena_alloc(call->arena, (size_t)(nm + 1) * sizeof(out_marker));
    st->items = bk_arena_alloc(call->arena, (n + 1) * sizeof(*st->items));
    unsigned *owner = bk_arena_alloc(call->arena, (n + 1) * sizeof(*owner));
    struct bk_md_image *img = bk_api_image(call);
    if (st->resp.markers == NULL || st->items == NULL || owner == NULL ||
        img == NULL) {
        bk_md_image_release(img);
        bk_req_fail(call->req, "out of memory");
        return;
    }
    st->resp.markers_count = nm;
    /* Kafka: ALTER on the cluster, else CLUSTER_ACTION (the coordinators'
     * own requests); refused, every partition answers
     * CLUSTER_AUTHORIZATION_FAILED. */
    bool allowed = bk_api_may_cluster(call, img, BK_ACL_OP_ALTER) ||
                   bk_api_may_cluster(call, img, BK_ACL_OP_CLUSTER_ACTION);
    ptrdiff_t k = 0;
    for (int32_t i = 0; i < nm && k >= 0; i++) {
        k = fill_marker(call, st, img, allowed, &req->markers[i],
                        &st->resp.markers[i], owner, (size_t)k);
    }
    bk_md_image_release(img);
    if (k < 0 ||
        bk_fan_start(&st->fan, call, n, owner, run_part, done, st) != 0) {
        bk_req_fail(call->req, "out of memory");
    }
}
