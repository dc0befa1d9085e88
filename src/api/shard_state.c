/* Per-shard state of the API layer: the partition table and its
 * housekeeping timer (retention, flush.ms, segment.ms, dropping the
 * partitions of deleted topics). */
#include <stdlib.h>

#include "api/api.h"
#include "api/group_coord.h"
#include "cluster/controller.h"
#include "common/heap.h"
#include "common/log.h"

#define TICK_MS 100

static void tick_cb(uv_timer_t *t)
{
    struct bk_shard *shard = t->data;
    struct bk_api_shard *st = shard->app;
    const struct bk_api_ctx *ctx = shard->group->app;
    struct bk_md_image *img = bk_md_image_acquire(ctx->md);
    if (img != NULL) {
        if (img->offset != st->md_offset_seen) {
            size_t n = bk_part_table_sync(&st->parts, img);
            if (n > 0) {
                bk_log_info("partition",
                            "shard=%u dropped=%zu "
                            "msg=\"closed partitions of "
                            "deleted topics\"",
                            shard->id, n);
            }
            /* Topic configs may have changed: apply the live ones. */
            bk_part_table_refresh_configs(&st->parts, img);
            st->md_offset_seen = img->offset;
        }
        bk_md_image_release(img);
    }
    bk_part_table_tick(&st->parts, &shard->loop);
    bk_gcoord_tick(shard);
}

void bk_api_shard_start(struct bk_shard *shard)
{
    const struct bk_api_ctx *ctx = shard->group->app;
    struct bk_api_shard *st = bk_calloc(1, sizeof(*st));
    if (st == NULL ||
        bk_part_table_init(&st->parts, ctx->storage, &shard->loop) != 0) {
        bk_log_error("api", "shard=%u msg=\"out of memory at start\"",
                     shard->id);
        abort();
    }
    st->md_offset_seen = -1;
    uv_timer_init(&shard->loop, &st->tick);
    st->tick.data = shard;
    uv_timer_start(&st->tick, tick_cb, TICK_MS, TICK_MS);
    shard->app = st;
    bk_gcoord_start(shard);
}

void bk_api_shard_drain(struct bk_shard *shard)
{
    struct bk_api_shard *st = shard->app;
    uv_timer_stop(&st->tick);
    uv_close((uv_handle_t *)&st->tick, NULL);
    /* A compaction in progress would hold the loop open until done. */
    bk_part_table_stop_cleaning(&st->parts);
    bk_gcoord_drain(shard);
    /* Parked fetches answer now instead of at max_wait_ms. */
    while (st->waiting != NULL) {
        struct bk_api_waiting *w = st->waiting;
        bk_api_waiting_remove(shard, w);
        w->cut_short(w);
    }
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
    bk_part_table_close(&st->parts, true);
    bk_free(st);
    shard->app = NULL;
}
