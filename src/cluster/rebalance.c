/* Periodic leader elections on the active controller (rebalance.h).
 *
 * Kafka moves leadership back to preferred replicas so that one broker
 * does not keep the leaderships it took over while another was down
 * (replication-notes.md §9). Each check runs at most one proposal at a
 * time, of at most MAX_ELECTIONS changes (Kafka's
 * maxElectionsPerImbalance), so a large cluster is balanced over several
 * checks rather than in one huge entry. */
#include "cluster/rebalance.h"

#include "cluster/controller.h"
#include "common/diag.h"
#include "common/heap.h"

#define MAX_ELECTIONS 1000

struct bk_md_rb {
    struct bk_md *md;
    uv_timer_t timer;
    struct bk_md_rb_config cfg;
    bool pending; /* a proposal of ours is in flight */
};

static void applied(void *data, int status)
{
    struct bk_md_rb *rb = data;
    rb->pending = false;
    if (status != 0) {
        bk_diag_info("cluster", "msg=\"leader elections not applied\" rv=%d",
                     status);
    }
}

static void tick_cb(uv_timer_t *t)
{
    struct bk_md_rb *rb = t->data;
    if (rb->pending || !bk_md_is_active(rb->md)) {
        return;
    }
    struct bk_arena arena;
    bk_arena_init(&arena, 4096, 0);
    struct bk_md_recs recs;
    bk_md_recs_init(&recs, &arena);
    struct bk_md_image *img = bk_md_image_acquire(rb->md);
    size_t unclean = bk_md_op_elect_leaderless(img, rb->cfg.unclean_default,
                                               MAX_ELECTIONS, &recs);
    size_t preferred = 0;
    if (rb->cfg.auto_rebalance && unclean < MAX_ELECTIONS) {
        preferred = bk_md_op_balance_leaders(img, rb->cfg.percentage,
                                             MAX_ELECTIONS - unclean, &recs);
    }
    bk_md_image_release(img);
    if (recs.n > 0) {
        bk_diag_info("cluster",
                     "msg=\"periodic leader elections\" preferred=%zu "
                     "unclean=%zu",
                     preferred, unclean);
        rb->pending = bk_md_propose(rb->md, recs.v, recs.n, applied, rb) == 0;
    }
    bk_arena_destroy(&arena);
}

struct bk_md_rb *bk_md_rb_new(struct bk_md *md,
                              uv_loop_t *loop,
                              const struct bk_md_rb_config *cfg)
{
    struct bk_md_rb *rb = bk_calloc(1, sizeof(*rb));
    if (rb == NULL) {
        bk_diag_error("cluster", "msg=\"no memory for leader rebalance\"");
        return NULL;
    }
    rb->md = md;
    rb->cfg = *cfg;
    uv_timer_init(loop, &rb->timer);
    rb->timer.data = rb;
    uint64_t every = cfg->interval_ms > 0 ? cfg->interval_ms : 300000;
    uv_timer_start(&rb->timer, tick_cb, every, every);
    return rb;
}

static void rb_closed(uv_handle_t *h)
{
    bk_free(h->data);
}

void bk_md_rb_close(struct bk_md_rb *rb)
{
    if (rb != NULL) {
        uv_close((uv_handle_t *)&rb->timer, rb_closed);
    }
}
