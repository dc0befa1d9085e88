/* TxnOffsetCommit (key 28), v0-5: a transactional producer commits a
 * consumer group's offsets inside its transaction (Java's
 * sendOffsetsToTransaction).
 *
 * On the group's coordinator shard the member's identity is checked as
 * OffsetCommit checks it (KIP-447, v3: generation, member id, static
 * instance; none given: no check), the offsets are written to
 * __consumer_offsets as OffsetCommit records in one transactional batch
 * of the producer, and held there: OffsetFetch sees them only once the
 * producer's COMMIT marker reaches that partition (an abort drops them),
 * and the marker is written by the transaction coordinator because
 * AddOffsetsToTxn added the partition to the transaction. The answer
 * waits until the batch is committed.
 *
 * v5 is transaction version 2 (KIP-890 part 2): the client sent no
 * AddOffsetsToTxn, so this broker first adds the group's
 * __consumer_offsets partition to the transaction (AddPartitionsToTxn,
 * txn_verify.h), and only then writes. */
#include "protocol/gen/txn_offset_commit.h"

#include <string.h>

#include "api/access.h"
#include "api/group_coord.h"
#include "api/txn_verify.h"
#include "cluster/image.h"
#include "coord/coord.h"
#include "coord/group_coord.h"
#include "protocol/kerr.h"

#define MAX_METADATA 4096

typedef struct
    bk_msg_txn_offset_commit_response_txn_offset_commit_response_topic
        out_topic;
typedef struct
    bk_msg_txn_offset_commit_response_txn_offset_commit_response_partition
        out_part;
typedef struct bk_msg_txn_offset_commit_request_txn_offset_commit_request_topic
    in_topic;

struct tcommit_state {
    struct bk_gops ops;
    struct bk_msg_txn_offset_commit_response resp;
    int16_t sync_err;
    /* v5: the offsets partition added to the transaction first */
    struct bk_txn_verify add;
    struct bk_str add_topic;
    int32_t add_partition;
    int16_t add_err;
};

static void set_all(struct tcommit_state *st, int16_t err)
{
    /* A refused transactional id or group wins over every partition's
     * error (Kafka checks them first). */
    bool all = err == BK_KERR_GROUP_AUTHORIZATION_FAILED ||
               err == BK_KERR_TRANSACTIONAL_ID_AUTHORIZATION_FAILED;
    for (int32_t t = 0; t < st->resp.topics_count; t++) {
        out_topic *ot = &st->resp.topics[t];
        for (int32_t p = 0; p < ot->partitions_count; p++) {
            if (all || ot->partitions[p].error_code == 0) {
                ot->partitions[p].error_code = err;
            }
        }
    }
}

/* The request's offsets as records in a; returns how many. */
static size_t build(struct tcommit_state *st,
                    struct bk_str group,
                    int64_t now,
                    struct bk_arena *a,
                    struct bk_coord_rec *recs)
{
    const struct bk_msg_txn_offset_commit_request *req = st->ops.call->request;
    int16_t v = st->ops.call->hdr.api_version;
    size_t k = 0;
    for (int32_t t = 0; t < req->topics_count; t++) {
        const in_topic *rt = &req->topics[t];
        for (int32_t p = 0; p < rt->partitions_count; p++) {
            out_part *op = &st->resp.topics[t].partitions[p];
            if (op->error_code != 0) {
                continue;
            }
            if (rt->partitions[p].committed_metadata.len > MAX_METADATA) {
                op->error_code = BK_KERR_OFFSET_METADATA_TOO_LARGE;
                continue;
            }
            struct bk_gr_offset_value val = {
                .offset = rt->partitions[p].committed_offset,
                .leader_epoch =
                    v >= 2 ? rt->partitions[p].committed_leader_epoch : -1,
                .metadata = rt->partitions[p].committed_metadata,
                .commit_ms = now,
                .expire_ms = -1,
            };
            recs[k].key = bk_gr_offset_key(a, group, rt->name,
                                           rt->partitions[p].partition_index);
            recs[k].value = bk_gr_offset_value_encode(a, &val);
            if (recs[k].key.len < 0 || recs[k].value.len < 0) {
                op->error_code = BK_KERR_UNKNOWN_SERVER_ERROR;
                continue;
            }
            k++;
        }
    }
    return k;
}

static void run(struct bk_gops *ops,
                size_t i,
                struct bk_coord_group *gc,
                struct bk_fan_part *part)
{
    struct tcommit_state *st = ops->data;
    const struct bk_msg_txn_offset_commit_request *req = ops->call->request;
    int16_t v = ops->call->hdr.api_version;
    struct bk_group_registry *reg = bk_coord_group_registry(gc);
    if (v >= 3 && req->member_id.len > 0) {
        /* KIP-447: a zombie of an older generation is fenced. Checked as
         * a current OffsetCommit (v8) is. */
        struct bk_group *g = NULL;
        int16_t err = bk_group_commit_check(
            reg, ops->items[i].group_id, req->member_id, req->group_instance_id,
            req->generation_id, 8, &g);
        if (err != 0) {
            set_all(st, err);
            return;
        }
    }
    struct bk_arena a;
    bk_arena_init(&a, 16 * 1024, 0);
    size_t n = 0;
    for (int32_t t = 0; t < req->topics_count; t++) {
        int32_t np = req->topics[t].partitions_count;
        n += np > 0 ? (size_t)np : 0;
    }
    struct bk_coord_rec *recs = bk_arena_alloc(&a, (n + 1) * sizeof(*recs));
    if (recs == NULL) {
        bk_arena_destroy(&a);
        set_all(st, BK_KERR_UNKNOWN_SERVER_ERROR);
        return;
    }
    size_t k = build(st, ops->items[i].group_id, bk_clock_wall_ms(reg->clock),
                     &a, recs);
    struct bk_coord_waiter w = bk_gcoord_waiter(part, &st->sync_err);
    int16_t err =
        bk_coord_group_append_txn(gc, ops->items[i].partition, recs, k,
                                  req->producer_id, req->producer_epoch, &w);
    bk_arena_destroy(&a);
    if (err != 0) {
        set_all(st, err);
    }
}

static void done(struct bk_gops *ops)
{
    struct tcommit_state *st = ops->data;
    if (ops->items[0].error != 0) {
        set_all(st, ops->items[0].error);
    } else if (st->sync_err != 0) {
        set_all(st, st->sync_err);
    }
    bk_gops_reply(ops, &st->resp);
}

static void write_offsets(struct tcommit_state *st)
{
    if (bk_gops_start(&st->ops, run, done, st) != 0) {
        bk_req_fail(st->ops.call->req, "out of memory");
    }
}

/* The coordinator's answer to the add, mapped for the producer. */
static int16_t add_error(int16_t err)
{
    switch (err) {
        case BK_KERR_PRODUCER_FENCED:
            return BK_KERR_INVALID_PRODUCER_EPOCH;
        case BK_KERR_NETWORK_EXCEPTION:
        case BK_KERR_NOT_COORDINATOR:
        case BK_KERR_COORDINATOR_NOT_AVAILABLE:
            /* The transaction coordinator's trouble, not the group
             * coordinator's: retried here rather than looked up again. */
            return BK_KERR_COORDINATOR_LOAD_IN_PROGRESS;
        default:
            return err;
    }
}

static void added(struct bk_txn_verify *v)
{
    struct tcommit_state *st = v->data;
    int16_t err = add_error(st->add_err);
    if (err != BK_KERR_NONE) {
        set_all(st, err);
        bk_call_reply(st->ops.call, &st->resp);
        return;
    }
    write_offsets(st);
}

/* v5: adds the group's offsets partition to the transaction, then
 * writes (added). */
static void add_offsets_partition(struct tcommit_state *st)
{
    struct bk_call *call = st->ops.call;
    const struct bk_msg_txn_offset_commit_request *req = call->request;
    struct bk_md_image *img = bk_api_image(call);
    const struct bk_md_topic *t =
        img != NULL
            ? bk_md_image_topic(img, BK_OFFSETS_TOPIC, strlen(BK_OFFSETS_TOPIC))
            : NULL;
    if (t == NULL) {
        bk_md_image_release(img);
        set_all(st, BK_KERR_COORDINATOR_NOT_AVAILABLE);
        bk_call_reply(call, &st->resp);
        return;
    }
    st->add_topic = bk_str_c(BK_OFFSETS_TOPIC);
    st->add_partition = bk_coord_key_partition(req->group_id, t->n_partitions);
    st->add = (struct bk_txn_verify){
        .txn_id = req->transactional_id,
        .producer_id = req->producer_id,
        .producer_epoch = req->producer_epoch,
        .add = true,
        .n = 1,
        .topics = &st->add_topic,
        .partitions = &st->add_partition,
        .errs = &st->add_err,
        .done = added,
        .data = st,
    };
    bk_txn_verify_start(call->req->shard, img, &st->add);
    bk_md_image_release(img);
}

void bk_handle_txn_offset_commit(struct bk_call *call)
{
    const struct bk_msg_txn_offset_commit_request *req = call->request;
    struct tcommit_state *st = BK_GOPS_ALLOC(call, struct tcommit_state, 1);
    if (st == NULL) {
        return;
    }
    bk_msg_txn_offset_commit_response_init(&st->resp);
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
        const in_topic *rt = &req->topics[t];
        out_topic *ot = &st->resp.topics[t];
        int32_t np = rt->partitions_count < 0 ? 0 : rt->partitions_count;
        ot->name = rt->name;
        ot->partitions_count = np;
        ot->partitions =
            bk_arena_alloc(call->arena, (size_t)(np + 1) * sizeof(out_part));
        if (ot->partitions == NULL) {
            bk_md_image_release(img);
            bk_req_fail(call->req, "out of memory");
            return;
        }
        const struct bk_md_topic *mt =
            img != NULL && rt->name.len >= 0
                ? bk_md_image_topic(img, rt->name.ptr, (size_t)rt->name.len)
                : NULL;
        /* Kafka: READ on each topic, before whether it exists. */
        bool ok =
            bk_api_may(call, img, BK_ACL_OP_READ, BK_ACL_RES_TOPIC, rt->name);
        for (int32_t p = 0; p < np; p++) {
            int32_t idx = rt->partitions[p].partition_index;
            ot->partitions[p].partition_index = idx;
            if (!ok) {
                ot->partitions[p].error_code =
                    BK_KERR_TOPIC_AUTHORIZATION_FAILED;
            } else if (mt != NULL && idx >= 0 && idx < mt->n_partitions) {
                known++;
            } else {
                ot->partitions[p].error_code =
                    BK_KERR_UNKNOWN_TOPIC_OR_PARTITION;
            }
        }
    }
    /* Kafka: WRITE on the transactional id, then READ on the group. */
    if (!bk_api_may(call, img, BK_ACL_OP_WRITE, BK_ACL_RES_TRANSACTIONAL_ID,
                    req->transactional_id)) {
        set_all(st, BK_KERR_TRANSACTIONAL_ID_AUTHORIZATION_FAILED);
        known = 0;
    } else if (!bk_api_may(call, img, BK_ACL_OP_READ, BK_ACL_RES_GROUP,
                           req->group_id)) {
        set_all(st, BK_KERR_GROUP_AUTHORIZATION_FAILED);
        known = 0;
    }
    bk_md_image_release(img);
    if (known == 0) {
        bk_call_reply(call, &st->resp);
        return;
    }
    st->ops.items[0].group_id = req->group_id;
    st->ops.group_op = BK_ACL_OP_READ; /* security-notes.md §7 */
    if (call->hdr.api_version >= 5) {
        add_offsets_partition(st);
        return;
    }
    write_offsets(st);
}
