/* OffsetCommit (key 8), v1-9.
 *
 * On the group's coordinator shard: the member's identity is checked
 * (generation, member id, static instance; generation -1 with no member
 * into an empty or unknown group is a simple/admin commit, e.g. kafka-
 * consumer-groups --reset-offsets), the offsets are written to
 * __consumer_offsets as OffsetCommit records in one batch, and the answer
 * waits for an fdatasync that covers them (acks=all durability).
 * Metadata longer than offset.metadata.max.bytes (Kafka's 4096) gets
 * OFFSET_METADATA_TOO_LARGE for that partition.
 *
 * v1 (removed by KIP-896 in Kafka 4, still sent by sarama <= 1.40 and
 * kafka-python's api_version (0, 8, 2) mode) has no retention time but a
 * per-partition commit timestamp. As Kafka 2.1-3.9 did (KafkaApis
 * handleOffsetCommitRequest), -1 means "now" and any other value is stored
 * as the commit time, with no per-offset expiry: the offset then expires by
 * the group's rule, which for a group without a protocol counts the
 * retention from the commit time (KIP-211).
 *
 * As in Kafka 4.1, a partition of a topic that does not exist, or beyond
 * its partition count, gets UNKNOWN_TOPIC_OR_PARTITION before the group is
 * looked at: it neither fails nor is failed by the group checks, and a
 * request with nothing else in it is answered without touching the group
 * (no simple group is created for it). */
#include "protocol/gen/offset_commit.h"

#include <string.h>

#include "api/access.h"
#include "api/group_coord.h"
#include "cluster/image.h"
#include "common/heap.h"
#include "protocol/kerr.h"

#define MAX_METADATA 4096

typedef struct bk_msg_offset_commit_response_offset_commit_response_topic
    out_topic;
typedef struct bk_msg_offset_commit_response_offset_commit_response_partition
    out_part;

struct commit_state {
    struct bk_gops ops;
    struct bk_msg_offset_commit_response resp;
    int16_t sync_err;
};

/* Sets err on every partition that has no error yet (unknown topics keep
 * theirs, whatever happens to the group). */
static void set_all(struct commit_state *st, int16_t err)
{
    /* A refused group wins over every per-partition error (Kafka checks
     * the group first). */
    bool all = err == BK_KERR_GROUP_AUTHORIZATION_FAILED;
    for (int32_t t = 0; t < st->resp.topics_count; t++) {
        out_topic *ot = &st->resp.topics[t];
        for (int32_t p = 0; p < ot->partitions_count; p++) {
            if (all || ot->partitions[p].error_code == 0) {
                ot->partitions[p].error_code = err;
            }
        }
    }
}

/* The commit time of one partition: v1's explicit commit timestamp, or now
 * (-1 in v1, and every other version). */
static int64_t commit_ms(
    const struct bk_msg_offset_commit_request_offset_commit_request_partition
        *rp,
    int16_t v,
    int64_t now)
{
    return v == 1 && rp->commit_timestamp != -1 ? rp->commit_timestamp : now;
}

static void run(struct bk_gops *ops,
                size_t i,
                struct bk_coord_group *gc,
                struct bk_fan_part *part)
{
    struct commit_state *st = ops->data;
    const struct bk_msg_offset_commit_request *req = ops->call->request;
    int16_t v = ops->call->hdr.api_version;
    struct bk_group *g = NULL;
    int16_t err = bk_group_commit_check(
        bk_coord_group_registry(gc), ops->items[i].group_id, req->member_id,
        v >= 7 ? req->group_instance_id : BK_STR_NULL,
        req->generation_id_or_member_epoch, v, &g);
    if (err != 0) {
        set_all(st, err);
        return;
    }
    int64_t now = bk_clock_wall_ms(bk_coord_group_registry(gc)->clock);
    int64_t expire = -1;
    if (v <= 4 && req->retention_time_ms >= 0) {
        expire = now + req->retention_time_ms;
    }
    struct bk_arena a;
    bk_arena_init(&a, 16 * 1024, 0);
    size_t n = 0;
    for (int32_t t = 0; t < req->topics_count; t++) {
        n += req->topics[t].partitions_count > 0
                 ? (size_t)req->topics[t].partitions_count
                 : 0;
    }
    struct bk_coord_rec *recs = bk_arena_alloc(&a, (n + 1) * sizeof(*recs));
    if (recs == NULL) {
        bk_arena_destroy(&a);
        set_all(st, BK_KERR_UNKNOWN_SERVER_ERROR);
        return;
    }
    size_t k = 0;
    for (int32_t t = 0; t < req->topics_count; t++) {
        const struct bk_msg_offset_commit_request_offset_commit_request_topic
            *rt = &req->topics[t];
        for (int32_t p = 0; p < rt->partitions_count; p++) {
            const struct
                bk_msg_offset_commit_request_offset_commit_request_partition
                    *rp = &rt->partitions[p];
            if (st->resp.topics[t].partitions[p].error_code != 0) {
                continue; /* an unknown topic or partition */
            }
            if (rp->committed_metadata.len > MAX_METADATA) {
                st->resp.topics[t].partitions[p].error_code =
                    BK_KERR_OFFSET_METADATA_TOO_LARGE;
                continue;
            }
            struct bk_gr_offset_value val = {
                .offset = rp->committed_offset,
                .leader_epoch = v >= 6 ? rp->committed_leader_epoch : -1,
                .metadata = rp->committed_metadata,
                .commit_ms = commit_ms(rp, v, now),
                .expire_ms = expire,
            };
            recs[k].key = bk_gr_offset_key(&a, ops->items[i].group_id, rt->name,
                                           rp->partition_index);
            recs[k].value = bk_gr_offset_value_encode(&a, &val);
            if (recs[k].key.len < 0 || recs[k].value.len < 0) {
                st->resp.topics[t].partitions[p].error_code =
                    BK_KERR_UNKNOWN_SERVER_ERROR;
                continue;
            }
            k++;
        }
    }
    err = bk_gcoord_append(gc, ops->items[i].partition, recs, k, part,
                           &st->sync_err);
    bk_arena_destroy(&a);
    if (err != 0) {
        set_all(st, err);
        return;
    }
    for (int32_t t = 0; t < req->topics_count; t++) {
        const struct bk_msg_offset_commit_request_offset_commit_request_topic
            *rt = &req->topics[t];
        for (int32_t p = 0; p < rt->partitions_count; p++) {
            const struct
                bk_msg_offset_commit_request_offset_commit_request_partition
                    *rp = &rt->partitions[p];
            if (st->resp.topics[t].partitions[p].error_code != 0) {
                continue;
            }
            if (bk_group_offset_put(g, rt->name, rp->partition_index,
                                    rp->committed_offset,
                                    v >= 6 ? rp->committed_leader_epoch : -1,
                                    rp->committed_metadata,
                                    commit_ms(rp, v, now), expire) != 0) {
                st->resp.topics[t].partitions[p].error_code =
                    BK_KERR_UNKNOWN_SERVER_ERROR;
            }
        }
    }
}

static void done(struct bk_gops *ops)
{
    struct commit_state *st = ops->data;
    if (ops->items[0].error != 0) {
        set_all(st, ops->items[0].error);
    } else if (st->sync_err != 0) {
        set_all(st, st->sync_err);
    }
    bk_gops_reply(ops, &st->resp);
}

/* Fills ot's partitions from rt, UNKNOWN_TOPIC_OR_PARTITION for those the
 * image does not have (img may be NULL: none known). Returns how many are
 * known. */
static size_t mark_unknown(
    const struct bk_call *call,
    const struct bk_md_image *img,
    const struct bk_msg_offset_commit_request_offset_commit_request_topic *rt,
    out_topic *ot)
{
    /* Kafka: READ on each topic, checked before whether it exists. */
    if (!bk_api_may(call, img, BK_ACL_OP_READ, BK_ACL_RES_TOPIC, rt->name)) {
        for (int32_t p = 0; p < ot->partitions_count; p++) {
            ot->partitions[p].partition_index =
                rt->partitions[p].partition_index;
            ot->partitions[p].error_code = BK_KERR_TOPIC_AUTHORIZATION_FAILED;
        }
        return 0;
    }
    const struct bk_md_topic *mt =
        img != NULL && rt->name.len >= 0
            ? bk_md_image_topic(img, rt->name.ptr, (size_t)rt->name.len)
            : NULL;
    size_t known = 0;
    for (int32_t p = 0; p < ot->partitions_count; p++) {
        int32_t idx = rt->partitions[p].partition_index;
        ot->partitions[p].partition_index = idx;
        if (mt != NULL && idx >= 0 && idx < mt->n_partitions) {
            ot->partitions[p].error_code = BK_KERR_NONE;
            known++;
        } else {
            ot->partitions[p].error_code = BK_KERR_UNKNOWN_TOPIC_OR_PARTITION;
        }
    }
    return known;
}

void bk_handle_offset_commit(struct bk_call *call)
{
    const struct bk_msg_offset_commit_request *req = call->request;
    struct commit_state *st = BK_GOPS_ALLOC(call, struct commit_state, 1);
    if (st == NULL) {
        return;
    }
    bk_msg_offset_commit_response_init(&st->resp);
    int32_t nt = req->topics_count < 0 ? 0 : req->topics_count;
    st->resp.topics =
        bk_arena_alloc(call->arena, (size_t)(nt + 1) * sizeof(out_topic));
    if (st->resp.topics == NULL) {
        bk_req_fail(call->req, "out of memory");
        return;
    }
    st->resp.topics_count = nt;
    struct bk_md_image *img = bk_api_image(call);
    size_t known = 0;
    for (int32_t t = 0; t < nt; t++) {
        out_topic *ot = &st->resp.topics[t];
        int32_t np = req->topics[t].partitions_count;
        np = np < 0 ? 0 : np;
        ot->name = req->topics[t].name;
        ot->partitions_count = np;
        ot->partitions =
            bk_arena_alloc(call->arena, (size_t)(np + 1) * sizeof(out_part));
        if (ot->partitions == NULL) {
            bk_md_image_release(img);
            bk_req_fail(call->req, "out of memory");
            return;
        }
        known += mark_unknown(call, img, &req->topics[t], ot);
    }
    /* The group is checked first in Kafka: without READ on it, every
     * partition answers GROUP_AUTHORIZATION_FAILED. */
    if (known == 0 && !bk_api_may(call, img, BK_ACL_OP_READ, BK_ACL_RES_GROUP,
                                  req->group_id)) {
        set_all(st, BK_KERR_GROUP_AUTHORIZATION_FAILED);
    }
    bk_md_image_release(img);
    if (known == 0) {
        bk_call_reply(call, &st->resp);
        return;
    }
    st->ops.items[0].group_id = req->group_id;
    st->ops.group_op = BK_ACL_OP_READ; /* security-notes.md §7 */
    if (bk_gops_start(&st->ops, run, done, st) != 0) {
        bk_req_fail(call->req, "out of memory");
    }
}
