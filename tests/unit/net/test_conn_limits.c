/* Connection limits over socketpairs: a read full of pipelined requests
 * never puts more than connection.max.inflight.requests or
 * connection.max.queued.bytes in the handlers' hands, the group bound
 * (queued.max.request.bytes) holds across shards, stalled and idle
 * connections are closed, and the per-address count refuses the
 * connection over it and frees its place on close. */
/* cmocka.h needs these headers first. */
/* clang-format off */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
/* clang-format on */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <uv.h>

#include "common/err.h"
#include "net/net.h"

/* What the handlers hold right now, and the most they ever held. */
static atomic_long pending;
static atomic_long pending_bytes;
static atomic_long max_pending;
static atomic_long max_pending_bytes;
static atomic_long answered;

struct later {
    uv_timer_t timer;
    struct bk_req *req;
};

static void raise_max(atomic_long *max, long v)
{
    long cur = atomic_load(max);
    while (v > cur && !atomic_compare_exchange_weak(max, &cur, v)) {
    }
}

static void answer_cb(uv_timer_t *t)
{
    struct later *l = t->data;
    struct bk_req *req = l->req;
    atomic_fetch_sub(&pending, 1);
    atomic_fetch_sub(&pending_bytes, (long)req->frame_len);
    uint8_t *out = bk_arena_alloc(&req->arena, 8);
    uint32_t size = htonl(4), seq = htonl((uint32_t)req->seq);
    memcpy(out, &size, 4);
    memcpy(out + 4, &seq, 4);
    atomic_fetch_add(&answered, 1);
    bk_req_reply(req, out, 8);
    uv_close((uv_handle_t *)t, (uv_close_cb)free);
}

/* Holds every request for 2 ms, so that a whole read's worth of frames
 * would pile up in the handlers if the connection took them all. */
static void on_request(struct bk_req *req)
{
    raise_max(&max_pending, atomic_fetch_add(&pending, 1) + 1);
    raise_max(&max_pending_bytes,
              atomic_fetch_add(&pending_bytes, (long)req->frame_len) +
                  (long)req->frame_len);
    struct later *l = calloc(1, sizeof(*l));
    l->req = req;
    uv_timer_init(&req->shard->loop, &l->timer);
    l->timer.data = l;
    uv_timer_start(&l->timer, answer_cb, 2, 0);
}

static void reset_counts(void)
{
    atomic_store(&pending, 0);
    atomic_store(&pending_bytes, 0);
    atomic_store(&max_pending, 0);
    atomic_store(&max_pending_bytes, 0);
    atomic_store(&answered, 0);
}

static struct bk_net_config base_cfg(void)
{
    struct bk_net_config cfg = { .max_request_bytes = 64 << 20,
                                 .max_inflight = 1000,
                                 .max_queued_out_bytes = 64 << 20,
                                 .request_arena_limit = 1 << 20 };
    return cfg;
}

/* A client socket adopted by the group; returns the client's end. */
static int connect_pair(struct bk_shards *g)
{
    int sv[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    fcntl(sv[0], F_SETFL, fcntl(sv[0], F_GETFL) | O_NONBLOCK);
    fcntl(sv[1], F_SETFL, fcntl(sv[1], F_GETFL) | O_NONBLOCK);
    bk_shards_adopt_fd(g, sv[0]);
    return sv[1];
}

struct client {
    int fd;
    uint8_t *out; /* every frame, back to back */
    size_t out_len, out_off;
    unsigned answers;
    uint8_t in[8];
    size_t in_have;
};

static void client_init(struct client *c, int fd, unsigned nframes, size_t body)
{
    memset(c, 0, sizeof(*c));
    c->fd = fd;
    c->out_len = nframes * (4 + body);
    c->out = calloc(1, c->out_len);
    for (unsigned i = 0; i < nframes; i++) {
        uint32_t be = htonl((uint32_t)body);
        memcpy(c->out + i * (4 + body), &be, 4);
    }
}

/* Writes every frame and reads every answer on all clients at once, as a
 * pipelining client does; checks the answers come in request order. */
static void pump(struct client *cs, unsigned n, unsigned nframes)
{
    uint64_t deadline = uv_hrtime() + 20ull * 1000 * 1000 * 1000;
    for (;;) {
        bool done = true;
        for (unsigned i = 0; i < n; i++) {
            struct client *c = &cs[i];
            if (c->out_off < c->out_len) {
                ssize_t w =
                    write(c->fd, c->out + c->out_off, c->out_len - c->out_off);
                if (w > 0) {
                    c->out_off += (size_t)w;
                }
            }
            ssize_t r = read(c->fd, c->in + c->in_have, 8 - c->in_have);
            if (r > 0) {
                c->in_have += (size_t)r;
                if (c->in_have == 8) {
                    uint32_t seq;
                    memcpy(&seq, c->in + 4, 4);
                    assert_int_equal(ntohl(seq), c->answers);
                    c->answers++;
                    c->in_have = 0;
                }
            }
            if (c->answers < nframes) {
                done = false;
            }
        }
        if (done) {
            return;
        }
        assert_true(uv_hrtime() < deadline);
        struct pollfd pf[8];
        for (unsigned i = 0; i < n; i++) {
            pf[i].fd = cs[i].fd;
            pf[i].events =
                POLLIN | (cs[i].out_off < cs[i].out_len ? POLLOUT : 0);
        }
        poll(pf, n, 10);
    }
}

static void client_free(struct client *c)
{
    close(c->fd);
    free(c->out);
}

/* Old behaviour: one read cut into as many frames as it held (about 2,850
 * small requests per 64 KiB), all handed to the handlers at once. */
static void test_inflight_checked_per_frame(void **state)
{
    (void)state;
    reset_counts();
    struct bk_shards g;
    struct bk_net_config cfg = base_cfg();
    cfg.max_inflight = 4;
    assert_int_equal(
        bk_shards_init(&g, 1, &cfg, on_request, NULL, NULL, NULL, NULL), 0);
    assert_int_equal(bk_shards_start(&g), 0);
    struct client c;
    client_init(&c, connect_pair(&g), 300, 4);
    pump(&c, 1, 300);
    assert_true(atomic_load(&max_pending) <= 4);
    assert_int_equal(atomic_load(&answered), 300);
    client_free(&c);
    bk_shards_stop(&g, 2000);
    bk_shards_close(&g);
}

/* Requests being handled count against connection.max.queued.bytes, not
 * only answers already built. */
static void test_queued_bytes_count_requests(void **state)
{
    (void)state;
    reset_counts();
    struct bk_shards g;
    struct bk_net_config cfg = base_cfg();
    cfg.max_queued_out_bytes = 8192;
    assert_int_equal(
        bk_shards_init(&g, 1, &cfg, on_request, NULL, NULL, NULL, NULL), 0);
    assert_int_equal(bk_shards_start(&g), 0);
    struct client c;
    client_init(&c, connect_pair(&g), 200, 1000);
    pump(&c, 1, 200);
    /* At most one frame past the bound: the one that crossed it. */
    assert_true(atomic_load(&max_pending_bytes) <= 8192 + 1000);
    client_free(&c);
    bk_shards_stop(&g, 2000);
    bk_shards_close(&g);
}

/* queued.max.request.bytes holds over all connections and shards. */
static void test_group_request_bytes_bounded(void **state)
{
    (void)state;
    reset_counts();
    struct bk_shards g;
    struct bk_net_config cfg = base_cfg();
    cfg.max_queued_request_bytes = 64 * 1024;
    assert_int_equal(
        bk_shards_init(&g, 2, &cfg, on_request, NULL, NULL, NULL, NULL), 0);
    assert_int_equal(bk_shards_start(&g), 0);
    struct client cs[4];
    for (unsigned i = 0; i < 4; i++) {
        client_init(&cs[i], connect_pair(&g), 100, 8192);
    }
    pump(cs, 4, 100);
    /* Each shard may run ahead by its unpublished step and by the frame
     * that it started while under the bound. */
    long bound = 64 * 1024 + 2 * ((long)g.mem_step + 8192 + 4);
    assert_true(atomic_load(&max_pending_bytes) <= bound);
    assert_int_equal(atomic_load(&answered), 400);
    for (unsigned i = 0; i < 4; i++) {
        client_free(&cs[i]);
    }
    /* Everything given back once answered. */
    bk_shards_stop(&g, 2000);
    assert_true(atomic_load(&g.mem_used) + g.shards[0].mem_unpublished +
                    g.shards[1].mem_unpublished ==
                0);
    bk_shards_close(&g);
}

/* Waits up to ms for the peer to close fd; true if it did. */
static bool closed_within(int fd, int ms)
{
    uint64_t deadline = uv_hrtime() + (uint64_t)ms * 1000 * 1000;
    while (uv_hrtime() < deadline) {
        uint8_t b[64];
        ssize_t r = read(fd, b, sizeof(b));
        if (r == 0 || (r < 0 && errno != EAGAIN)) {
            return true;
        }
        struct pollfd pf = { .fd = fd, .events = POLLIN };
        poll(&pf, 1, 20);
    }
    return false;
}

static void test_stalled_and_idle_connections_closed(void **state)
{
    (void)state;
    reset_counts();
    struct bk_shards g;
    struct bk_net_config cfg = base_cfg();
    cfg.partial_request_ms = 200;
    cfg.max_idle_ms = 2500;
    assert_int_equal(
        bk_shards_init(&g, 1, &cfg, on_request, NULL, NULL, NULL, NULL), 0);
    assert_int_equal(bk_shards_start(&g), 0);
    /* A size prefix of 50 MB and three bytes of it, then nothing. */
    int stalled = connect_pair(&g);
    uint8_t part[7] = { 0x03, 0x00, 0x00, 0x00, 1, 2, 3 };
    assert_int_equal(write(stalled, part, sizeof(part)), (ssize_t)sizeof(part));
    int idle = connect_pair(&g);
    /* The stalled one goes at the first sweep past 200 ms... */
    assert_true(closed_within(stalled, 1500));
    /* ...while an idle one with nothing half-sent stays until its own
     * bound. */
    uint8_t b;
    assert_int_equal(read(idle, &b, 1), -1);
    assert_int_equal(errno, EAGAIN);
    assert_true(closed_within(idle, 4000));
    close(stalled);
    close(idle);
    bk_shards_stop(&g, 2000);
    bk_shards_close(&g);
}

static void test_per_address_limit(void **state)
{
    (void)state;
    reset_counts();
    struct bk_shards g;
    struct bk_net_config cfg = base_cfg();
    cfg.max_connections_per_ip = 2;
    assert_int_equal(
        bk_shards_init(&g, 1, &cfg, on_request, NULL, NULL, NULL, NULL), 0);
    assert_int_equal(bk_shards_start(&g), 0);
    int a = connect_pair(&g);
    int b = connect_pair(&g);
    int c = connect_pair(&g);
    assert_true(closed_within(c, 2000));
    /* Those within the limit are served. */
    struct client ca;
    client_init(&ca, a, 3, 4);
    pump(&ca, 1, 3);
    /* Closing one frees its place. */
    close(b);
    int d = -1;
    for (int i = 0; i < 100; i++) {
        d = connect_pair(&g);
        struct client cd;
        client_init(&cd, d, 1, 4);
        if (!closed_within(d, 30)) {
            pump(&cd, 1, 1);
            free(cd.out);
            break;
        }
        close(d);
        free(cd.out);
        d = -1;
        uv_sleep(20); /* the shard has yet to see b close */
    }
    assert_true(d >= 0);
    close(d);
    client_free(&ca);
    close(c);
    bk_shards_stop(&g, 2000);
    bk_shards_close(&g);
}

static void test_bad_overrides_refused(void **state)
{
    (void)state;
    struct bk_shards g;
    struct bk_net_config cfg = base_cfg();
    cfg.per_ip_overrides = "127.0.0.1:5,127.0.0.2";
    assert_int_equal(
        bk_shards_init(&g, 1, &cfg, on_request, NULL, NULL, NULL, NULL),
        BK_ECONFIG);
    cfg.per_ip_overrides = "127.0.0.1:x";
    assert_int_equal(
        bk_shards_init(&g, 1, &cfg, on_request, NULL, NULL, NULL, NULL),
        BK_ECONFIG);
    cfg.per_ip_overrides = "127.0.0.1:5, ::1:7";
    assert_int_equal(
        bk_shards_init(&g, 1, &cfg, on_request, NULL, NULL, NULL, NULL), 0);
    assert_int_equal(g.limits.noverrides, 2);
    bk_shards_close(&g);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_inflight_checked_per_frame),
        cmocka_unit_test(test_queued_bytes_count_requests),
        cmocka_unit_test(test_group_request_bytes_bounded),
        cmocka_unit_test(test_stalled_and_idle_connections_closed),
        cmocka_unit_test(test_per_address_limit),
        cmocka_unit_test(test_bad_overrides_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
