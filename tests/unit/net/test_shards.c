/* The cross-shard inbox, the shard threads and the ownership function. */
/* cmocka.h needs these headers first. */
/* clang-format off */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
/* clang-format on */
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "net/mpsc.h"
#include "net/net.h"

struct item {
    struct bk_mpsc_node node;
    int producer;
    int seq;
};

#define PRODUCERS    4
#define PER_PRODUCER 20000

static struct bk_mpsc queue;
static struct item items[PRODUCERS][PER_PRODUCER];

static void producer_main(void *arg)
{
    int p = (int)(intptr_t)arg;
    for (int i = 0; i < PER_PRODUCER; i++) {
        items[p][i].producer = p;
        items[p][i].seq = i;
        bk_mpsc_push(&queue, &items[p][i].node);
    }
}

static void test_mpsc_keeps_per_producer_order(void **state)
{
    (void)state;
    bk_mpsc_init(&queue);
    uv_thread_t t[PRODUCERS];
    for (int p = 0; p < PRODUCERS; p++) {
        assert_int_equal(
            /* The thread's argument is its number. */
            /* NOLINTNEXTLINE(performance-no-int-to-ptr) */
            uv_thread_create(&t[p], producer_main, (void *)(intptr_t)p), 0);
    }
    int next[PRODUCERS] = { 0 };
    int got = 0;
    while (got < PRODUCERS * PER_PRODUCER) {
        struct bk_mpsc_node *n = bk_mpsc_pop(&queue);
        if (n == NULL) {
            continue; /* a producer is mid-push; spin */
        }
        struct item *it = (struct item *)n;
        assert_int_equal(it->seq, next[it->producer]);
        next[it->producer]++;
        got++;
    }
    for (int p = 0; p < PRODUCERS; p++) {
        uv_thread_join(&t[p]);
        assert_int_equal(next[p], PER_PRODUCER);
    }
    assert_null(bk_mpsc_pop(&queue));
}

struct ping {
    struct bk_shard_msg base;
    int hops;
};

static atomic_int done_hops;
static atomic_uint seen_shards;

static void ping_fn(struct bk_shard *s, struct bk_shard_msg *m)
{
    struct ping *p = (struct ping *)m;
    atomic_fetch_or(&seen_shards, 1u << s->id);
    if (p->hops == 0) {
        atomic_store(&done_hops, 1);
        free(p);
        return;
    }
    p->hops--;
    /* Bounce to the next shard. */
    bk_shard_post(&s->group->shards[(s->id + 1) % s->group->n], m);
}

static void no_request(struct bk_req *req)
{
    bk_req_fail(req, "unused");
}

static void test_shards_pass_messages_and_stop(void **state)
{
    (void)state;
    struct bk_shards g;
    struct bk_net_config cfg = { .max_request_bytes = 1 << 20,
                                 .max_inflight = 10,
                                 .max_queued_out_bytes = 1 << 20,
                                 .request_arena_limit = 1 << 20 };
    assert_int_equal(
        bk_shards_init(&g, 3, &cfg, no_request, NULL, NULL, NULL, NULL), 0);
    assert_int_equal(bk_shards_start(&g), 0);
    struct ping *p = calloc(1, sizeof(*p));
    p->base.fn = ping_fn;
    p->hops = 30;
    bk_shard_post(&g.shards[0], &p->base);
    for (int i = 0; i < 5000 && atomic_load(&done_hops) == 0; i++) {
        uv_sleep(1);
    }
    assert_int_equal(atomic_load(&done_hops), 1);
    assert_int_equal(atomic_load(&seen_shards), 0x7u);
    bk_shards_stop(&g, 1000);
    bk_shards_close(&g);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_mpsc_keeps_per_producer_order),
        cmocka_unit_test(test_shards_pass_messages_and_stop),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
