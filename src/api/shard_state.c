/* Per-shard state of the API layer: the replica manager (told of each new
 * metadata image through bk_api_notify), the housekeeping timer
 * (retention, flush.ms, segment.ms) and the parked requests. */
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "api/group_coord.h"
#include "api/metadata_pull.h"
#include "api/txn_coord.h"
#include "cluster/controller.h"
#include "common/diag.h"
#include "common/heap.h"

#define TICK_MS 100

/* Keeps the image's client quotas for the quota hooks, or NULL when there
 * are none, which is all the hooks test then (api/quota.h). */
static void set_quotas(struct bk_api_shard *st, const struct bk_md_image *img)
{
    struct bk_md_quotas *q =
        img->quotas != NULL && img->quotas->n > 0 ? img->quotas : NULL;
    if (q != st->quotas) {
        bk_md_quotas_ref(q);
        bk_md_quotas_release(st->quotas);
        st->quotas = q;
    }
}

/* Applies the newest metadata image to the shard's replicas, if it is
 * newer than the last one applied. */
static void apply_image(struct bk_shard *shard)
{
    struct bk_api_shard *st = shard->app;
    const struct bk_api_ctx *ctx = shard->group->app;
    struct bk_md_image *img = bk_md_image_acquire(ctx->md);
    if (img == NULL) {
        return;
    }
    if (img->offset != st->md_offset_seen) {
        size_t n = bk_rmgr_apply(&st->rmgr, img);
        if (n > 0) {
            bk_diag_info("partition",
                         "shard=%u dropped=%zu "
                         "msg=\"closed partitions of "
                         "deleted topics\"",
                         shard->id, n);
        }
        st->md_offset_seen = img->offset;
        bk_repl_apply(&st->repl, img);
        set_quotas(st, img);
    }
    bk_md_image_release(img);
    bk_pull_wake(shard);
}

/* The replication layer's way to the active controller (AlterPartition). */
static int ctl_send(void *ctl,
                    const uint8_t *frame,
                    size_t len,
                    bk_kclient_cb cb,
                    void *data)
{
    return bk_ctl_channel_send(ctl, frame, len, cb, data);
}

static void tick_cb(uv_timer_t *t)
{
    struct bk_shard *shard = t->data;
    struct bk_api_shard *st = shard->app;
    bk_part_table_tick(&st->rmgr.parts, &shard->loop);
    bk_gcoord_tick(shard);
    bk_tcoord_tick(shard);
}

void bk_api_shard_start(struct bk_shard *shard)
{
    const struct bk_api_ctx *ctx = shard->group->app;
    struct bk_api_shard *st = bk_calloc(1, sizeof(*st));
    if (st == NULL ||
        bk_rmgr_init(&st->rmgr, ctx->storage, &shard->loop, ctx->node_id,
                     shard->id, shard->group->n) != 0) {
        bk_diag_error("api", "shard=%u msg=\"out of memory at start\"",
                      shard->id);
        abort();
    }
    st->md_offset_seen = -1;
    uv_timer_init(&shard->loop, &st->tick);
    st->tick.data = shard;
    uv_timer_start(&st->tick, tick_cb, TICK_MS, TICK_MS);
    bk_ctl_channel_init(&st->ctl, &shard->loop, ctx->md);
    bk_repl_init(&st->repl, &shard->loop, &st->rmgr, &ctx->repl, ctl_send,
                 &st->ctl);
    shard->app = st;
    bk_gcoord_start(shard);
    bk_tcoord_start(shard);
    /* Images published from now on are posted (bk_api_notify_attach ran
     * before the shards started); this one may predate that. */
    apply_image(shard);
}

void bk_api_shard_drain(struct bk_shard *shard)
{
    struct bk_api_shard *st = shard->app;
    uv_timer_stop(&st->tick);
    uv_close((uv_handle_t *)&st->tick, NULL);
    bk_rmgr_drain(&st->rmgr);
    /* A compaction in progress would hold the loop open until done. */
    bk_part_table_stop_cleaning(&st->rmgr.parts);
    bk_gcoord_drain(shard);
    bk_tcoord_drain(shard);
    /* Parked fetches answer now instead of at max_wait_ms. */
    while (st->waiting != NULL) {
        struct bk_api_waiting *w = st->waiting;
        bk_api_waiting_remove(shard, w);
        w->cut_short(w);
    }
    bk_repl_close(&st->repl);
    /* Requests still with the controller fail now (BK_ESHUTDOWN). */
    bk_ctl_channel_close(&st->ctl);
}

/* ---- telling the shards of new metadata --------------------------------- */

static void image_msg_cb(struct bk_shard *shard, struct bk_shard_msg *msg)
{
    struct bk_api_notify_slot *slot = (struct bk_api_notify_slot *)msg;
    /* Cleared before the image is read: one published from here on posts
     * again. */
    atomic_store(&slot->posted, false);
    apply_image(shard);
}

int bk_api_notify_init(struct bk_api_notify *n)
{
    memset(n, 0, sizeof(*n));
    return uv_mutex_init(&n->lock);
}

int bk_api_notify_attach(struct bk_api_notify *n, struct bk_shards *shards)
{
    struct bk_api_notify_slot *slots = bk_calloc(shards->n, sizeof(*slots));
    if (slots == NULL) {
        return BK_ENOMEM;
    }
    for (unsigned i = 0; i < shards->n; i++) {
        slots[i].msg.fn = image_msg_cb;
        atomic_init(&slots[i].posted, false);
    }
    uv_mutex_lock(&n->lock);
    n->slots = slots;
    n->shards = shards;
    uv_mutex_unlock(&n->lock);
    return 0;
}

void bk_api_notify_detach(struct bk_api_notify *n)
{
    uv_mutex_lock(&n->lock);
    n->shards = NULL;
    uv_mutex_unlock(&n->lock);
}

void bk_api_notify_close(struct bk_api_notify *n)
{
    /* Slots may still sit in an inbox of a stopped shard: freed only now
     * that every shard is gone. */
    bk_free(n->slots);
    n->slots = NULL;
    uv_mutex_destroy(&n->lock);
}

void bk_api_notify_image(void *data)
{
    struct bk_api_notify *n = data;
    uv_mutex_lock(&n->lock);
    if (n->shards != NULL) {
        for (unsigned i = 0; i < n->shards->n; i++) {
            if (!atomic_exchange(&n->slots[i].posted, true)) {
                bk_shard_post(&n->shards->shards[i], &n->slots[i].msg);
            }
        }
    }
    uv_mutex_unlock(&n->lock);
}

void bk_api_waiting_add(struct bk_shard *shard, struct bk_api_waiting *w)
{
    struct bk_api_shard *st = shard->app;
    w->prev = NULL;
    w->next = st->waiting;
    if (st->waiting != NULL) {
        st->waiting->prev = w;
    }
    st->waiting = w;
}

void bk_api_waiting_remove(struct bk_shard *shard, struct bk_api_waiting *w)
{
    struct bk_api_shard *st = shard->app;
    if (w->prev != NULL) {
        w->prev->next = w->next;
    } else if (st->waiting == w) {
        st->waiting = w->next;
    } else {
        return; /* not in the list */
    }
    if (w->next != NULL) {
        w->next->prev = w->prev;
    }
    w->prev = w->next = NULL;
}

void bk_api_shard_stop(struct bk_shard *shard)
{
    struct bk_api_shard *st = shard->app;
    bk_gcoord_stop(shard);
    bk_tcoord_stop(shard);
    bk_rmgr_close(&st->rmgr, true);
    bk_md_quotas_release(st->quotas);
    bk_free(st);
    shard->app = NULL;
}
