/* ListOffsets (key 2), v1-10.
 *
 * Special timestamps (protocol-notes.md section d), resolved by the replica
 * (bk_replica_list_offset): -1 latest (the high watermark, or the last
 * stable offset for isolation_level 1), -2 earliest, -3 the record with the
 * largest timestamp (v7+, KIP-734), -4 earliest local (v8+; every segment is
 * local), -5 latest tiered (v9+; nothing is tiered, so -1). Any other value
 * finds the first record whose timestamp is at least that, or -1/-1 when none
 * is. current_leader_epoch (v4+) fences stale callers as Fetch does. */
#include "protocol/gen/list_offsets.h"

#include "api/access.h"
#include "api/fan.h"
#include "cluster/controller.h"
#include "common/diag.h"
#include "partition/replica.h"
#include "protocol/kerr.h"

typedef struct bk_msg_list_offsets_response_list_offsets_partition_response
    out_part;
typedef struct bk_msg_list_offsets_response_list_offsets_topic_response
    out_topic;

struct lo_item {
    struct bk_uuid topic_id;
    bool known;
    int32_t partition;
    int32_t current_leader_epoch;
    int64_t timestamp;
    enum bk_isolation iso; /* -1 is the last stable offset for read_committed */
    out_part *out;
};

struct lo_state {
    struct bk_fan fan;
    struct bk_msg_list_offsets_response resp;
    struct lo_item *items;
    int16_t version;
};

static void list_one(struct bk_fan_part *part,
                     const struct bk_md_image *img,
                     struct lo_item *it)
{
    int16_t err;
    struct bk_partition *p =
        bk_fan_open_partition(part, img, &it->topic_id, it->partition,
                              it->current_leader_epoch, &err);
    if (p == NULL) {
        it->out->error_code = err;
        return;
    }
    int64_t off = -1, ts = -1;
    int32_t epoch = -1;
    err = bk_replica_list_offset(p, it->timestamp, it->iso, &off, &ts, &epoch);
    it->out->error_code = err;
    if (err != BK_KERR_NONE) {
        return;
    }
    it->out->offset = off;
    it->out->timestamp = ts;
    if (off >= 0) {
        it->out->leader_epoch = epoch;
    }
}

static void run_part(struct bk_fan_part *part)
{
    struct lo_state *st = part->fan->data;
    struct bk_md_image *img = bk_md_image_acquire(part->fan->call->ctx->md);
    for (size_t i = 0; i < part->n; i++) {
        struct lo_item *it = &st->items[part->idx[i]];
        if (it->known && img != NULL) {
            list_one(part, img, it);
        }
    }
    bk_md_image_release(img);
    bk_fan_release(part);
}

static void done(struct bk_fan *fan)
{
    struct lo_state *st = fan->data;
    bk_call_reply(fan->call, &st->resp);
}

void bk_handle_list_offsets(struct bk_call *call)
{
    const struct bk_msg_list_offsets_request *req = call->request;
    struct lo_state *st = bk_arena_alloc(call->arena, sizeof(*st));
    if (st == NULL) {
        bk_req_fail(call->req, "out of memory");
        return;
    }
    st->version = call->hdr.api_version;
    bk_msg_list_offsets_response_init(&st->resp);
    int32_t nt = req->topics_count < 0 ? 0 : req->topics_count;
    size_t n = 0;
    for (int32_t i = 0; i < nt; i++) {
        int32_t np = req->topics[i].partitions_count;
        n += np < 0 ? 0 : (size_t)np;
    }
    st->resp.topics =
        bk_arena_alloc(call->arena, (size_t)(nt + 1) * sizeof(out_topic));
    st->items = bk_arena_alloc(call->arena, (n + 1) * sizeof(*st->items));
    unsigned *owner = bk_arena_alloc(call->arena, (n + 1) * sizeof(*owner));
    out_part *outs = bk_arena_alloc(call->arena, (n + 1) * sizeof(out_part));
    struct bk_md_image *img = bk_api_image(call);
    if (st->resp.topics == NULL || st->items == NULL || owner == NULL ||
        outs == NULL || img == NULL) {
        bk_md_image_release(img);
        bk_req_fail(call->req, "out of memory");
        return;
    }
    st->resp.topics_count = nt;
    size_t k = 0;
    for (int32_t i = 0; i < nt; i++) {
        const struct bk_msg_list_offsets_request_list_offsets_topic *rt =
            &req->topics[i];
        out_topic *ot = &st->resp.topics[i];
        ot->name = rt->name;
        ot->partitions = &outs[k];
        ot->partitions_count =
            rt->partitions_count < 0 ? 0 : rt->partitions_count;
        const struct bk_md_topic *t =
            rt->name.len >= 0
                ? bk_md_image_topic(img, rt->name.ptr, (size_t)rt->name.len)
                : NULL;
        /* Kafka: DESCRIBE on each topic, before it is looked
         * for (security-notes.md §7). */
        bool ok = bk_api_may(call, img, BK_ACL_OP_DESCRIBE, BK_ACL_RES_TOPIC,
                             rt->name);
        if (!ok) {
            t = NULL;
        }
        for (int32_t j = 0; j < ot->partitions_count; j++, k++) {
            const struct bk_msg_list_offsets_request_list_offsets_partition
                *rp = &rt->partitions[j];
            struct lo_item *it = &st->items[k];
            it->out = &outs[k];
            it->out->partition_index = rp->partition_index;
            it->out->timestamp = -1;
            it->out->offset = -1;
            it->out->leader_epoch = -1;
            it->partition = rp->partition_index;
            it->timestamp = rp->timestamp;
            it->iso = req->isolation_level == 1 ? BK_ISOLATION_READ_COMMITTED
                                                : BK_ISOLATION_READ_UNCOMMITTED;
            it->current_leader_epoch =
                st->version >= 4 ? rp->current_leader_epoch : -1;
            it->known = bk_fan_route(call, t, rp->partition_index,
                                     &it->topic_id, &owner[k]);
            if (!it->known) {
                it->out->error_code = ok ? BK_KERR_UNKNOWN_TOPIC_OR_PARTITION
                                         : BK_KERR_TOPIC_AUTHORIZATION_FAILED;
            }
        }
    }
    bk_md_image_release(img);
    if (bk_fan_start(&st->fan, call, n, owner, run_part, done, st) != 0) {
        bk_req_fail(call->req, "out of memory");
    }
}
