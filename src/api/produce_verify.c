/* Produce's transactional verification (KIP-890 part 1, with
 * transaction.partition.verification.enable): a transactional batch of a
 * producer with no transaction open on the partition at the batch's
 * epoch is appended only once the producer's coordinator confirms that
 * the partition is in its ongoing transaction. Without this a late or
 * retried batch, arriving after the markers, opens a transaction no
 * coordinator will ever end, and the partition's last stable offset
 * stops for good (KAFKA-12671).
 *
 * The producer's open transaction on the partition is the cache: once the
 * first verified batch is appended, later batches of that transaction go
 * straight on, so verification costs one round trip per partition per
 * transaction. The items of one producer on one shard go to the
 * coordinator in one request (txn_verify.h).
 *
 * Produce v12 (transaction version 2, KIP-890 part 2) asks the same way
 * but to add the partition: its clients send no AddPartitionsToTxn.
 *
 * Between the question and the answer a marker may end the transaction
 * the answer speaks of: the guard (bk_pstate_verify_guard) taken with the
 * question tells, and the batch is then refused as not in a transaction
 * (Kafka's VerificationGuard). */
#include <string.h>

#include "api/produce.h"
#include "api/txn_verify.h"
#include "cluster/controller.h"
#include "common/heap.h"
#include "protocol/kerr.h"
#include "protocol/prim.h"
#include "protocol/record_batch.h"

/* Offsets in a v2 record batch header. */
#define HDR_MAGIC      16
#define HDR_ATTRIBUTES 21
#define HDR_PID        43
#define HDR_EPOCH      51
#define HDR_SIZE       61

/* The items of one producer on this shard, asked about together. */
struct vgroup {
    struct bk_txn_verify v;
    struct bk_produce_state *st;
    struct bk_fan_part *part;
    size_t n;
    uint32_t *idx; /* the items, into st->items */
    struct bk_str *topics;
    int32_t *partitions;
    int16_t *errs;
};

/* The batch's producer, when it is a transactional data batch. */
static bool txn_batch(const struct bk_produce_item *it,
                      int64_t *pid,
                      int16_t *epoch)
{
    const uint8_t *b = (const uint8_t *)it->in->records.ptr;
    size_t len = (size_t)it->in->records.len;
    if (len < HDR_SIZE || b[HDR_MAGIC] != 2) {
        return false; /* the append refuses it */
    }
    struct bk_rd rd;
    bk_rd_init(&rd, b + HDR_ATTRIBUTES, 2);
    int16_t attributes = bk_rd_i16(&rd);
    if ((attributes & BK_RB_ATTR_TRANSACTIONAL) == 0 ||
        (attributes & BK_RB_ATTR_CONTROL) != 0) {
        return false;
    }
    bk_rd_init(&rd, b + HDR_PID, 10);
    *pid = bk_rd_i64(&rd);
    *epoch = bk_rd_i16(&rd);
    return *pid >= 0;
}

bool bk_produce_verify_needed(struct bk_produce_state *st,
                              struct bk_produce_item *it,
                              struct bk_partition *p)
{
    int64_t pid;
    int16_t epoch;
    /* Produce v12 is transaction version 2 (KIP-890 part 2): the client
     * sent no AddPartitionsToTxn, so the partition is added here, with or
     * without verification. */
    if ((!st->verify && st->version < 12) || !txn_batch(it, &pid, &epoch) ||
        bk_pstate_txn_open_at(&p->pstate, pid, epoch)) {
        return false;
    }
    if (st->txn_id.len <= 0) {
        /* Kafka refuses transactional records without a transactional
         * id this way; there is also no coordinator to ask. */
        bk_produce_set_error(it, BK_KERR_TRANSACTIONAL_ID_AUTHORIZATION_FAILED,
                             NULL);
        return true;
    }
    it->verifying = true;
    it->producer_id = pid;
    it->producer_epoch = epoch;
    it->guard = bk_pstate_verify_guard(&p->pstate, pid);
    return true;
}

/* One item's answer: appended when verified and the guard holds. */
static void verified(struct vgroup *g,
                     const struct bk_md_image *img,
                     struct bk_produce_item *it,
                     int16_t err)
{
    const char *msg;
    err = bk_txn_verify_produce_error(err, g->st->version, &msg);
    if (err != BK_KERR_NONE) {
        bk_produce_set_error(it, err, msg);
        return;
    }
    struct bk_partition *p =
        img != NULL ? bk_produce_admit(g->st, g->part, img, it) : NULL;
    if (p == NULL) {
        if (img == NULL) {
            bk_produce_set_error(it, BK_KERR_UNKNOWN_SERVER_ERROR, NULL);
        }
        return;
    }
    if (bk_pstate_verify_guard(&p->pstate, it->producer_id) != it->guard) {
        bk_produce_set_error(it, BK_KERR_INVALID_TXN_STATE,
                             "The transaction ended while the partition "
                             "was being verified");
        return;
    }
    bk_produce_append(g->st, g->part, it, p);
}

static void group_done(struct bk_txn_verify *v)
{
    struct vgroup *g = v->data;
    struct bk_md_image *img = bk_md_image_acquire(g->part->fan->call->ctx->md);
    for (size_t k = 0; k < g->n; k++) {
        verified(g, img, &g->st->items[g->idx[k]], g->errs[k]);
    }
    bk_md_image_release(img);
    struct bk_fan_part *part = g->part;
    bk_free(g);
    bk_fan_release(part);
}

/* A group for the items of part like `first` (same producer and epoch),
 * taking them (verifying cleared), or NULL when out of memory. */
static struct vgroup *group_of(struct bk_produce_state *st,
                               struct bk_fan_part *part,
                               size_t first)
{
    const struct bk_produce_item *f = &st->items[part->idx[first]];
    int64_t pid = f->producer_id;
    int16_t epoch = f->producer_epoch;
    size_t n = part->n - first;
    size_t size =
        sizeof(struct vgroup) + n * (sizeof(uint32_t) + sizeof(struct bk_str) +
                                     sizeof(int32_t) + sizeof(int16_t));
    struct vgroup *g = bk_calloc(1, size);
    if (g == NULL) {
        return NULL;
    }
    g->topics = (struct bk_str *)(g + 1);
    g->idx = (uint32_t *)(g->topics + n);
    g->partitions = (int32_t *)(g->idx + n);
    g->errs = (int16_t *)(g->partitions + n);
    g->st = st;
    g->part = part;
    for (size_t i = first; i < part->n; i++) {
        struct bk_produce_item *it = &st->items[part->idx[i]];
        if (!it->verifying || it->producer_id != pid ||
            it->producer_epoch != epoch) {
            continue;
        }
        it->verifying = false;
        g->idx[g->n] = part->idx[i];
        g->topics[g->n] = it->topic;
        g->partitions[g->n] = it->in->index;
        g->n++;
    }
    return g;
}

void bk_produce_verify_start(struct bk_produce_state *st,
                             struct bk_fan_part *part,
                             const struct bk_md_image *img)
{
    for (size_t i = 0; i < part->n; i++) {
        struct bk_produce_item *it = &st->items[part->idx[i]];
        if (!it->verifying) {
            continue;
        }
        struct vgroup *g = group_of(st, part, i);
        if (g == NULL) {
            it->verifying = false;
            bk_produce_set_error(it, BK_KERR_UNKNOWN_SERVER_ERROR, NULL);
            continue;
        }
        g->v = (struct bk_txn_verify){
            .txn_id = st->txn_id,
            .producer_id = st->items[g->idx[0]].producer_id,
            .producer_epoch = st->items[g->idx[0]].producer_epoch,
            .add = st->version >= 12,
            .n = g->n,
            .topics = g->topics,
            .partitions = g->partitions,
            .errs = g->errs,
            .done = group_done,
            .data = g,
        };
        bk_fan_hold(part);
        bk_txn_verify_start(part->owner, img, &g->v);
    }
}
