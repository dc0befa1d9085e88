/* Asking every shard a question from another thread (src/http/poll.c):
 * each shard fills its own slot on its own thread; a shard that does not
 * answer in time makes the poll fail, and its late answer neither writes
 * into the abandoned slots nor leaks or frees twice (run under ASan). */
/* cmocka.h needs these headers first. */
/* clang-format off */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
/* clang-format on */
#include <stdatomic.h>
#include <uv.h>

#include "common/err.h"
#include "http/http_int.h"
#include "net/net.h"

struct slot {
    unsigned id_plus_one;
    uv_thread_t thread;
};

static atomic_int answered;
static atomic_int freed;

static void fill_fn(struct bk_shard *shard, void *p)
{
    struct slot *s = p;
    s->id_plus_one = shard->id + 1;
    s->thread = uv_thread_self();
    atomic_fetch_add(&answered, 1);
}

static void slot_free(void *p)
{
    (void)p;
    atomic_fetch_add(&freed, 1);
}

static void no_request(struct bk_req *req)
{
    bk_req_fail(req, "unused");
}

static void init_shards(struct bk_shards *g, unsigned n)
{
    struct bk_net_config cfg = { .max_request_bytes = 1 << 20,
                                 .max_inflight = 10,
                                 .max_queued_out_bytes = 1 << 20,
                                 .request_arena_limit = 1 << 20 };
    assert_int_equal(
        bk_shards_init(g, n, &cfg, no_request, NULL, NULL, NULL, NULL), 0);
}

static void test_every_shard_answers(void **state)
{
    (void)state;
    struct bk_shards g;
    init_shards(&g, 3);
    assert_int_equal(bk_shards_start(&g), 0);
    atomic_store(&answered, 0);
    atomic_store(&freed, 0);
    struct bk_http_poll *p;
    assert_int_equal(bk_http_poll_shards(&g, fill_fn, slot_free,
                                         sizeof(struct slot), 5000, &p),
                     0);
    assert_int_equal(bk_http_poll_count(p), 3);
    uv_thread_t self = uv_thread_self();
    for (unsigned i = 0; i < 3; i++) {
        struct slot *s = bk_http_poll_slot(p, i);
        assert_int_equal(s->id_plus_one, i + 1);
        /* Filled on the shard's thread, not the caller's. */
        assert_false(uv_thread_equal(&s->thread, &self));
    }
    bk_http_poll_free(p);
    /* The last reference may be a shard's, dropped just after it
     * answered: the slots are released there, once. */
    for (int i = 0; i < 5000 && atomic_load(&freed) < 3; i++) {
        uv_sleep(1);
    }
    assert_int_equal(atomic_load(&freed), 3);
    bk_shards_stop(&g, 1000);
    bk_shards_close(&g);
}

static void test_late_answer_after_timeout(void **state)
{
    (void)state;
    struct bk_shards g;
    init_shards(&g, 2);
    atomic_store(&answered, 0);
    atomic_store(&freed, 0);
    /* The shard threads are not running: nobody reads the inboxes. */
    struct bk_http_poll *p = (struct bk_http_poll *)&g;
    assert_int_equal(bk_http_poll_shards(&g, fill_fn, slot_free,
                                         sizeof(struct slot), 50, &p),
                     BK_ETIMEDOUT);
    assert_null(p);
    assert_int_equal(atomic_load(&freed), 0); /* the messages hold it */
    /* Now they run and find the poll abandoned: no answer is written, and
     * the last one out frees it. */
    assert_int_equal(bk_shards_start(&g), 0);
    for (int i = 0; i < 5000 && atomic_load(&freed) < 2; i++) {
        uv_sleep(1);
    }
    assert_int_equal(atomic_load(&freed), 2);
    assert_int_equal(atomic_load(&answered), 0);
    bk_shards_stop(&g, 1000);
    bk_shards_close(&g);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_shard_answers),
        cmocka_unit_test(test_late_answer_after_timeout),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
