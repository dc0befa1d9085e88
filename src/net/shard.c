/* Shard threads and their inboxes.
 *
 * Happy path: bk_shards_init() creates every loop and its wake-up async on
 * the calling thread; bk_shards_start() runs each loop on its own thread;
 * other threads post work with bk_shard_post(). bk_shards_stop() posts a
 * stop message to each shard, which drains its connections (conn.c) and lets
 * its loop run dry, and then joins the threads. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/assert.h"
#include "common/diag.h"
#include "common/heap.h"
#include "net/net_int.h"

#define SHARD_RBUF_SIZE (64 * 1024)

static void wake_cb(uv_async_t *async)
{
    struct bk_shard *s = async->data;
    struct bk_mpsc_node *n;
    while ((n = bk_mpsc_pop(&s->inbox)) != NULL) {
        struct bk_shard_msg *m =
            (struct bk_shard_msg *)((char *)n -
                                    offsetof(struct bk_shard_msg, node));
        m->fn(s, m);
    }
}

int bk_shards_init(struct bk_shards *g,
                   unsigned n,
                   const struct bk_net_config *cfg,
                   bk_request_cb on_request,
                   bk_shard_cb on_start,
                   bk_shard_cb on_drain,
                   bk_shard_cb on_stop,
                   void *app)
{
    memset(g, 0, sizeof(*g));
    if (n == 0) {
        return BK_EINVAL;
    }
    g->shards = bk_calloc(n, sizeof(*g->shards));
    if (g->shards == NULL) {
        return BK_ENOMEM;
    }
    g->n = n;
    g->cfg = *cfg;
    g->on_request = on_request;
    g->on_start = on_start;
    g->on_drain = on_drain;
    g->on_stop = on_stop;
    g->app = app;
    g->next_conn_id = 1;
    /* A shard publishes its request bytes in steps so that taking a frame
     * costs no shared write; the bound may be overshot by n steps. */
    g->mem_step = cfg->max_queued_request_bytes / (8 * (size_t)n);
    if (g->mem_step > 256 * 1024) {
        g->mem_step = 256 * 1024;
    }
    atomic_init(&g->mem_used, 0LL);
    char why[256];
    int lrv = bk_conn_limits_init(&g->limits, cfg, why, sizeof(why));
    if (lrv != 0) {
        bk_diag_error("net", "msg=\"%s\"", why);
        bk_free(g->shards);
        g->shards = NULL;
        g->n = 0;
        return lrv;
    }
    for (unsigned i = 0; i < n; i++) {
        struct bk_shard *s = &g->shards[i];
        s->id = i;
        s->group = g;
        s->rbuf_size = SHARD_RBUF_SIZE;
        s->rbuf = bk_malloc(s->rbuf_size);
        s->metrics = bk_metrics_shard_new();
        int rv = uv_loop_init(&s->loop);
        if (s->rbuf == NULL || s->metrics == NULL || rv != 0) {
            bk_free(s->rbuf);
            s->rbuf = NULL;
            bk_metrics_shard_free(s->metrics);
            s->metrics = NULL;
            if (rv == 0) {
                uv_loop_close(&s->loop);
            }
            g->n = i;
            bk_shards_close(g);
            return rv != 0 ? rv : BK_ENOMEM;
        }
        bk_mpsc_init(&s->inbox);
        uv_async_init(&s->loop, &s->wake, wake_cb);
        s->wake.data = s;
        uv_timer_init(&s->loop, &s->stop_timer);
        s->stop_timer.data = s;
        uv_timer_init(&s->loop, &s->resume_timer);
        s->resume_timer.data = s;
        uv_timer_init(&s->loop, &s->sweep_timer);
        s->sweep_timer.data = s;
    }
    return 0;
}

static void shard_main(void *arg)
{
    struct bk_shard *s = arg;
    if (s->group->on_start != NULL) {
        s->group->on_start(s);
    }
    uv_timer_start(&s->sweep_timer, bk_conns_sweep_cb, 1000, 1000);
    uv_run(&s->loop, UV_RUN_DEFAULT);
    if (s->group->on_stop != NULL) {
        s->group->on_stop(s);
    }
}

int bk_shards_start(struct bk_shards *g)
{
    for (unsigned i = 0; i < g->n; i++) {
        int rv =
            uv_thread_create(&g->shards[i].thread, shard_main, &g->shards[i]);
        if (rv != 0) {
            return rv;
        }
    }
    return 0;
}

void bk_shard_post(struct bk_shard *shard, struct bk_shard_msg *msg)
{
    bk_mpsc_push(&shard->inbox, &msg->node);
    uv_async_send(&shard->wake);
}

static void stop_handles(struct bk_shard *s)
{
    if (!uv_is_closing((uv_handle_t *)&s->wake)) {
        uv_close((uv_handle_t *)&s->wake, NULL);
    }
    uv_handle_t *timers[] = { (uv_handle_t *)&s->stop_timer,
                              (uv_handle_t *)&s->resume_timer,
                              (uv_handle_t *)&s->sweep_timer };
    for (size_t i = 0; i < sizeof(timers) / sizeof(timers[0]); i++) {
        if (!uv_is_closing(timers[i])) {
            uv_close(timers[i], NULL);
        }
    }
}

static void finish_msg_fn(struct bk_shard *s, struct bk_shard_msg *m)
{
    bk_free(m);
    stop_handles(s);
}

static void post_finish(struct bk_shard *s)
{
    struct bk_shard_msg *m = bk_calloc(1, sizeof(*m));
    if (m == NULL) {
        bk_diag_error("net", "msg=\"out of memory while stopping\"");
        _exit(1);
    }
    m->fn = finish_msg_fn;
    bk_shard_post(s, m);
}

/* Called by conn.c whenever a connection goes away while stopping, and
 * when a stop begins. A shard that has nothing left in flight counts
 * itself drained; the last one to drain tells every shard to close its
 * loop. Until then drained shards keep serving cross-shard work (a Fetch
 * or Produce still in flight elsewhere may need them). */
void bk_shard_maybe_finish(struct bk_shard *s)
{
    if (!s->stopping || s->drained || s->conns != NULL || s->alive != 0) {
        return;
    }
    s->drained = true;
    uv_timer_stop(&s->stop_timer);
    struct bk_shards *g = s->group;
    if (atomic_fetch_sub(&g->undrained, 1) == 1) {
        for (unsigned i = 0; i < g->n; i++) {
            post_finish(&g->shards[i]);
        }
    }
}

static void stop_timeout_cb(uv_timer_t *t)
{
    struct bk_shard *s = t->data;
    bk_diag_warn("net",
                 "shard=%u msg=\"shutdown timeout, closing %u "
                 "connections with requests in flight\"",
                 s->id, s->nconns);
    bk_conns_close_all(s);
    bk_shard_maybe_finish(s);
}

static void stop_msg_fn(struct bk_shard *s, struct bk_shard_msg *m)
{
    bk_free(m);
    s->stopping = true;
    if (s->group->on_drain != NULL) {
        s->group->on_drain(s);
    }
    uv_timer_start(&s->stop_timer, stop_timeout_cb, s->group->stop_timeout_ms,
                   0);
    bk_conns_drain(s);
    bk_shard_maybe_finish(s);
}

void bk_shards_stop(struct bk_shards *g, unsigned timeout_ms)
{
    g->stop_timeout_ms = timeout_ms;
    atomic_store(&g->undrained, g->n);
    for (unsigned i = 0; i < g->n; i++) {
        struct bk_shard_msg *m = bk_calloc(1, sizeof(*m));
        if (m == NULL) {
            /* Out of memory at shutdown: nothing better than to exit. */
            bk_diag_error("net", "msg=\"out of memory while stopping\"");
            _exit(1);
        }
        m->fn = stop_msg_fn;
        bk_shard_post(&g->shards[i], m);
    }
    for (unsigned i = 0; i < g->n; i++) {
        uv_thread_join(&g->shards[i].thread);
    }
}

void bk_shards_close(struct bk_shards *g)
{
    for (unsigned i = 0; i < g->n; i++) {
        struct bk_shard *s = &g->shards[i];
        if (!uv_is_closing((uv_handle_t *)&s->wake)) {
            stop_handles(s);
            uv_run(&s->loop, UV_RUN_DEFAULT);
        }
        int rv = uv_loop_close(&s->loop);
        if (rv != 0) {
            bk_diag_warn("net", "shard=%u msg=\"loop close: %s\"", s->id,
                         uv_strerror(rv));
        }
        bk_free(s->rbuf);
        bk_metrics_shard_free(s->metrics);
        s->metrics = NULL;
    }
    /* Every connection is gone: the request bytes counted against
     * queued.max.request.bytes must all have been given back (a leak there
     * would, in time, stop the broker taking any request). */
    int64_t held = atomic_load(&g->mem_used);
    for (unsigned i = 0; i < g->n; i++) {
        held += g->shards[i].mem_unpublished;
    }
    bk_assert_debug(held == 0);
    bk_conn_limits_close(&g->limits);
    bk_free(g->shards);
    g->shards = NULL;
    g->n = 0;
}
