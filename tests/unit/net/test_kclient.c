/* The Kafka client connection against a small libuv TCP server on
 * 127.0.0.1, in the same loop: correlation ids, pipelining, framing over
 * uneven reads, connect failures and retries, lost connections, timeouts,
 * bad answers, and close. Every callback checks that it does not run
 * inside bk_kclient_send and counts its calls, so a request answered
 * twice, or never, fails the test. */
/* cmocka.h needs these headers first. */
/* clang-format off */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
/* clang-format on */
#include <arpa/inet.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <uv.h>

#include "common/err.h"
#include "common/heap.h"
#include "net/kclient.h"

#define MAX_FRAMES 64
#define BIG_BYTES  (300 * 1024 + 7)

struct fx;

/* One accepted connection of the test server. */
#define PEER_MAGIC 0x70656572u

struct peer {
    uint32_t magic; /* tells a peer from the client's handles */
    struct fx *fx;
    uv_tcp_t tcp;
    uint8_t *in; /* bytes received, not yet cut into frames */
    size_t in_len, in_cap;
    bool eof; /* the client closed its end */
};

/* What the server does with each request frame. */
enum mode {
    M_ECHO,      /* answer at once: [wire corr][request bytes after header] */
    M_BATCH,     /* answer fx->batch frames at once, in one write */
    M_SPLIT,     /* answer in three pieces, 15 ms apart */
    M_HOLD,      /* never answer */
    M_DROP,      /* close the connection */
    M_TOO_BIG,   /* a size prefix over the client's limit */
    M_TOO_SMALL, /* a frame too short for a correlation id */
    M_WRONG_ID,  /* the answer carries another correlation id */
};

struct res {
    struct fx *fx;
    int calls;
    int status;
    int order;
    uint8_t *resp; /* copy of the answer */
    size_t len;
    int send_in_cb; /* what a send from inside the callback returned */
    bool close_in_cb;
};

struct fx {
    uv_loop_t loop;
    uv_tcp_t listener;
    uv_timer_t guard;
    int port;
    enum mode mode;
    unsigned batch;
    uint8_t *held; /* M_BATCH: answers not yet written */
    size_t held_len;
    unsigned held_n;
    unsigned pieces;   /* SPLIT: pieces scheduled so far */
    struct peer *peer; /* the latest accepted */
    unsigned accepted;
    unsigned frames;
    unsigned peer_eofs;
    uint32_t wire_corr[MAX_FRAMES];
    bool in_send;
    int order;
    struct bk_kclient *c;
};

/* ---- the test server --------------------------------------------------- */

struct wreq {
    uv_write_t wr;
    uint8_t bytes[];
};

static void wreq_done(uv_write_t *wr, int status)
{
    (void)status; /* the client may have gone: ECANCELED, EPIPE */
    free(wr->data);
}

static void peer_write(struct peer *p, const uint8_t *b, size_t n)
{
    if (uv_is_closing((uv_handle_t *)&p->tcp)) {
        return;
    }
    struct wreq *w = malloc(sizeof(*w) + n);
    assert_non_null(w);
    memcpy(w->bytes, b, n);
    w->wr.data = w;
    uv_buf_t buf = uv_buf_init((char *)w->bytes, (unsigned)n);
    assert_int_equal(
        uv_write(&w->wr, (uv_stream_t *)&p->tcp, &buf, 1, wreq_done), 0);
}

static void put32(uint8_t *p, uint32_t v)
{
    uint32_t be = htonl(v);
    memcpy(p, &be, 4);
}

static uint32_t get32(const uint8_t *p)
{
    uint32_t be;
    memcpy(&be, p, 4);
    return ntohl(be);
}

/* The answer to frame f: [size][wire corr][f's bytes after the 8-byte
 * header], or BIG_BYTES of pattern when the request says "big". Returns
 * owned bytes. */
static uint8_t *make_answer(const uint8_t *f, size_t len, size_t *out_len)
{
    size_t body = len - 8;
    bool big = body == 3 && memcmp(f + 8, "big", 3) == 0;
    if (big) {
        body = BIG_BYTES;
    }
    uint8_t *a = malloc(8 + body);
    assert_non_null(a);
    put32(a, (uint32_t)(4 + body));
    memcpy(a + 4, f + 4, 4);
    for (size_t i = 0; i < body; i++) {
        a[8 + i] = big ? (uint8_t)(i * 31 + 7) : f[8 + i];
    }
    *out_len = 8 + body;
    return a;
}

#define LATER_MAGIC 0x6c617465u

struct later {
    uint32_t magic;
    uv_timer_t t;
    struct peer *p;
    uint8_t *bytes;
    size_t len;
};

static void later_closed(uv_handle_t *h)
{
    struct later *l = h->data;
    free(l->bytes);
    free(l);
}

static void later_cb(uv_timer_t *t)
{
    struct later *l = t->data;
    peer_write(l->p, l->bytes, l->len);
    uv_close((uv_handle_t *)t, later_closed);
}

/* Writes n bytes of b (copied) after ms milliseconds. */
static void peer_write_later(struct peer *p,
                             const uint8_t *b,
                             size_t n,
                             uint64_t ms)
{
    struct later *l = calloc(1, sizeof(*l));
    assert_non_null(l);
    l->magic = LATER_MAGIC;
    l->p = p;
    l->bytes = malloc(n);
    assert_non_null(l->bytes);
    memcpy(l->bytes, b, n);
    l->len = n;
    uv_timer_init(&p->fx->loop, &l->t);
    l->t.data = l;
    uv_timer_start(&l->t, later_cb, ms, 0);
}

static void peer_closed(uv_handle_t *h)
{
    struct peer *p = h->data;
    free(p->in);
    free(p);
}

static void peer_close(struct peer *p)
{
    if (!uv_is_closing((uv_handle_t *)&p->tcp)) {
        uv_close((uv_handle_t *)&p->tcp, peer_closed);
    }
    if (p->fx->peer == p) {
        p->fx->peer = NULL;
    }
}

static void on_frame(struct peer *p, const uint8_t *f, size_t len)
{
    struct fx *fx = p->fx;
    assert_true(len >= 8);
    assert_true(fx->frames < MAX_FRAMES);
    fx->wire_corr[fx->frames++] = get32(f + 4);
    size_t alen;
    uint8_t *a = make_answer(f, len, &alen);
    uint8_t bad[12] = { 0 };
    switch (fx->mode) {
        case M_ECHO:
            peer_write(p, a, alen);
            break;
        case M_BATCH:
            fx->held = realloc(fx->held, fx->held_len + alen);
            assert_non_null(fx->held);
            memcpy(fx->held + fx->held_len, a, alen);
            fx->held_len += alen;
            if (++fx->held_n == fx->batch) {
                peer_write(p, fx->held, fx->held_len);
                fx->held_len = 0;
                fx->held_n = 0;
            }
            break;
        case M_SPLIT:
            /* Two bytes of the size, then the rest of it and three more,
             * then the remainder: each piece its own read. Each piece
             * waits longer than every piece scheduled before it, so
             * answers do not interleave. */
            peer_write_later(p, a, 2, 15 * ++fx->pieces);
            peer_write_later(p, a + 2, 5, 15 * ++fx->pieces);
            peer_write_later(p, a + 7, alen - 7, 15 * ++fx->pieces);
            break;
        case M_HOLD:
            break;
        case M_DROP:
            peer_close(p);
            break;
        case M_TOO_BIG:
            put32(bad, 4096);
            memcpy(bad + 4, f + 4, 4);
            peer_write(p, bad, 8);
            break;
        case M_TOO_SMALL:
            put32(bad, 2);
            peer_write(p, bad, 6);
            break;
        case M_WRONG_ID:
            put32(a + 4, get32(f + 4) + 1);
            peer_write(p, a, alen);
            break;
    }
    free(a);
}

static void peer_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf)
{
    (void)hint;
    static char rb[64 * 1024];
    (void)h;
    buf->base = rb;
    buf->len = sizeof(rb);
}

static void peer_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
    struct peer *p = s->data;
    if (n < 0) {
        p->eof = true;
        p->fx->peer_eofs++;
        peer_close(p);
        return;
    }
    if (p->in_len + (size_t)n > p->in_cap) {
        p->in_cap = (p->in_len + (size_t)n) * 2;
        p->in = realloc(p->in, p->in_cap);
        assert_non_null(p->in);
    }
    memcpy(p->in + p->in_len, buf->base, (size_t)n);
    p->in_len += (size_t)n;
    size_t off = 0;
    while (p->in_len - off >= 4 && !uv_is_closing((uv_handle_t *)&p->tcp)) {
        size_t size = get32(p->in + off);
        if (p->in_len - off - 4 < size) {
            break;
        }
        on_frame(p, p->in + off + 4, size);
        off += 4 + size;
    }
    memmove(p->in, p->in + off, p->in_len - off);
    p->in_len -= off;
}

static void on_connection(uv_stream_t *server, int status)
{
    assert_int_equal(status, 0);
    struct fx *fx = server->data;
    struct peer *p = calloc(1, sizeof(*p));
    assert_non_null(p);
    p->magic = PEER_MAGIC;
    p->fx = fx;
    uv_tcp_init(&fx->loop, &p->tcp);
    p->tcp.data = p;
    assert_int_equal(uv_accept(server, (uv_stream_t *)&p->tcp), 0);
    assert_int_equal(
        uv_read_start((uv_stream_t *)&p->tcp, peer_alloc, peer_read), 0);
    fx->peer = p;
    fx->accepted++;
}

static void srv_listen(struct fx *fx)
{
    assert_int_equal(uv_listen((uv_stream_t *)&fx->listener, 16, on_connection),
                     0);
}

/* ---- fixture and helpers ---------------------------------------------- */

static void guard_cb(uv_timer_t *t)
{
    (void)t;
}

/* Runs the loop until cond holds or ms pass; a 5 ms guard timer bounds
 * each turn. */
#define RUN_UNTIL(fx, cond, ms)                                       \
    do {                                                              \
        uint64_t t0_ = uv_now(&(fx)->loop);                           \
        uv_timer_start(&(fx)->guard, guard_cb, 5, 5);                 \
        while (!(cond) && uv_now(&(fx)->loop) - t0_ < (uint64_t)(ms)) \
            uv_run(&(fx)->loop, UV_RUN_ONCE);                         \
        uv_timer_stop(&(fx)->guard);                                  \
    } while (0)

static int setup(void **state)
{
    struct fx *fx = calloc(1, sizeof(*fx));
    assert_non_null(fx);
    assert_int_equal(uv_loop_init(&fx->loop), 0);
    uv_timer_init(&fx->loop, &fx->guard);
    uv_tcp_init(&fx->loop, &fx->listener);
    fx->listener.data = fx;
    struct sockaddr_in a;
    uv_ip4_addr("127.0.0.1", 0, &a);
    assert_int_equal(uv_tcp_bind(&fx->listener, (struct sockaddr *)&a, 0), 0);
    struct sockaddr_storage ss;
    int len = sizeof(ss);
    uv_tcp_getsockname(&fx->listener, (struct sockaddr *)&ss, &len);
    fx->port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
    *state = fx;
    return 0;
}

static void close_walk(uv_handle_t *h, void *arg)
{
    struct fx *fx = arg;
    if (uv_is_closing(h)) {
        return;
    }
    /* Only the server's and the fixture's own handles may be left: the
     * client must have closed everything of its own (later writes have
     * all fired by now). */
    if (h == (uv_handle_t *)&fx->listener || h == (uv_handle_t *)&fx->guard) {
        uv_close(h, NULL);
        return;
    }
    if (h->type == UV_TIMER) {
        /* A piece of an answer not written: the test failed early. */
        struct later *l = h->data;
        assert_int_equal(l->magic, LATER_MAGIC);
        uv_close(h, later_closed);
        return;
    }
    assert_int_equal(h->type, UV_TCP);
    struct peer *p = h->data;
    assert_int_equal(p->magic, PEER_MAGIC);
    peer_close(p);
}

static int teardown(void **state)
{
    struct fx *fx = *state;
    if (fx->c != NULL) {
        bk_kclient_close(fx->c);
        fx->c = NULL;
    }
    /* Let the client's handles close before the server's go. */
    for (int i = 0; i < 10; i++) {
        uv_run(&fx->loop, UV_RUN_NOWAIT);
    }
    uv_walk(&fx->loop, close_walk, fx);
    uv_run(&fx->loop, UV_RUN_DEFAULT);
    assert_int_equal(uv_loop_close(&fx->loop), 0);
    free(fx->held);
    free(fx);
    return 0;
}

static void on_answer(void *data, int status, const uint8_t *resp, size_t len)
{
    struct res *r = data;
    assert_false(r->fx->in_send);
    r->calls++;
    r->status = status;
    r->order = r->fx->order++;
    if (status == 0) {
        assert_non_null(resp);
        r->resp = malloc(len);
        assert_non_null(r->resp);
        memcpy(r->resp, resp, len);
        r->len = len;
    } else {
        assert_null(resp);
        assert_int_equal(len, 0);
    }
    if (r->close_in_cb) {
        struct bk_kclient *c = r->fx->c;
        r->fx->c = NULL;
        bk_kclient_close(c);
    }
    if (status == BK_ESHUTDOWN && r->fx->c != NULL) {
        static const uint8_t f[8] = { 0, 18, 0, 0, 0, 0, 0, 1 };
        r->send_in_cb = bk_kclient_send(r->fx->c, f, 8, on_answer, r);
    }
}

/* Sends a request with correlation id corr and body payload. */
static int send_req(struct fx *fx,
                    struct res *r,
                    uint32_t corr,
                    const char *payload)
{
    size_t pl = strlen(payload);
    uint8_t f[256];
    assert_true(8 + pl <= sizeof(f));
    f[0] = 0;
    f[1] = 18; /* ApiVersions */
    f[2] = 0;
    f[3] = 3;
    put32(f + 4, corr);
    memcpy(f + 8, payload, pl);
    r->fx = fx;
    fx->in_send = true;
    int rv = bk_kclient_send(fx->c, f, 8 + pl, on_answer, r);
    fx->in_send = false;
    if (rv == 0) {
        assert_int_equal(r->calls, 0);
    }
    return rv;
}

static void check_answer(const struct res *r, uint32_t corr, const char *pl)
{
    assert_int_equal(r->calls, 1);
    assert_int_equal(r->status, 0);
    assert_int_equal(r->len, 4 + strlen(pl));
    assert_int_equal(get32(r->resp), corr);
    assert_memory_equal(r->resp + 4, pl, strlen(pl));
}

static void res_free(struct res *r, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(r[i].resp);
        r[i].resp = NULL;
    }
}

static void new_client(struct fx *fx, const struct bk_kclient_opts *o)
{
    assert_int_equal(
        bk_kclient_new(&fx->loop, "127.0.0.1", fx->port, o, &fx->c), 0);
}

/* ---- tests ------------------------------------------------------------- */

static void test_correlation_id_replaced_and_restored(void **state)
{
    struct fx *fx = *state;
    srv_listen(fx);
    new_client(fx, NULL);
    assert_false(bk_kclient_connected(fx->c));
    /* Both requests carry the same caller id, as two forwarded client
     * frames may: the wire ids must still differ. */
    struct res r[2] = { 0 };
    assert_int_equal(send_req(fx, &r[0], 0x7eadbeef, "first"), 0);
    assert_int_equal(send_req(fx, &r[1], 0x7eadbeef, "second"), 0);
    RUN_UNTIL(fx, r[1].calls == 1, 5000);
    check_answer(&r[0], 0x7eadbeef, "first");
    check_answer(&r[1], 0x7eadbeef, "second");
    assert_int_equal(fx->frames, 2);
    assert_int_not_equal(fx->wire_corr[0], fx->wire_corr[1]);
    assert_int_not_equal(fx->wire_corr[0], 0x7eadbeef);
    assert_int_not_equal(fx->wire_corr[1], 0x7eadbeef);
    assert_true(bk_kclient_connected(fx->c));
    assert_int_equal(bk_kclient_pending(fx->c), 0);
    char want[32];
    snprintf(want, sizeof(want), "127.0.0.1:%d", fx->port);
    assert_string_equal(bk_kclient_target(fx->c), want);
    res_free(r, 2);
}

static void test_pipelined_answers_in_order(void **state)
{
    struct fx *fx = *state;
    srv_listen(fx);
    new_client(fx, NULL);
    /* The server answers only once all five are in, all in one write: the
     * client must not wait for an answer before sending the next, and must
     * cut one read into five answers. */
    fx->mode = M_BATCH;
    fx->batch = 5;
    struct res r[5] = { 0 };
    char pl[5][8];
    for (int i = 0; i < 5; i++) {
        snprintf(pl[i], sizeof(pl[i]), "req-%d", i);
        assert_int_equal(send_req(fx, &r[i], (uint32_t)(100 + i), pl[i]), 0);
    }
    assert_int_equal(bk_kclient_pending(fx->c), 5);
    RUN_UNTIL(fx, r[4].calls == 1, 5000);
    for (int i = 0; i < 5; i++) {
        check_answer(&r[i], (uint32_t)(100 + i), pl[i]);
        assert_int_equal(r[i].order, i);
    }
    assert_int_equal(fx->accepted, 1);
    res_free(r, 5);
}

static void test_answers_split_over_reads(void **state)
{
    struct fx *fx = *state;
    srv_listen(fx);
    new_client(fx, NULL);
    fx->mode = M_SPLIT;
    struct res r[3] = { 0 };
    assert_int_equal(send_req(fx, &r[0], 1, "small answer"), 0);
    assert_int_equal(send_req(fx, &r[1], 2, "big"), 0);
    assert_int_equal(send_req(fx, &r[2], 3, "after the big one"), 0);
    RUN_UNTIL(fx, r[2].calls == 1, 5000);
    check_answer(&r[0], 1, "small answer");
    check_answer(&r[2], 3, "after the big one");
    assert_int_equal(r[1].calls, 1);
    assert_int_equal(r[1].status, 0);
    assert_int_equal(r[1].len, 4 + BIG_BYTES);
    assert_int_equal(get32(r[1].resp), 2);
    for (size_t i = 0; i < BIG_BYTES; i++) {
        if (r[1].resp[4 + i] != (uint8_t)(i * 31 + 7)) {
            fail_msg("byte %zu of the big answer differs", i);
        }
    }
    res_free(r, 3);
}

static void test_refused_then_retry_connects_again(void **state)
{
    struct fx *fx = *state;
    /* The port is bound but nobody listens yet: connect is refused. */
    new_client(fx, NULL);
    struct res r[3] = { 0 };
    assert_int_equal(send_req(fx, &r[0], 1, "a"), 0);
    assert_int_equal(send_req(fx, &r[1], 2, "b"), 0);
    RUN_UNTIL(fx, r[1].calls == 1, 5000);
    assert_int_equal(r[0].calls, 1);
    assert_int_equal(r[0].status, UV_ECONNREFUSED);
    assert_int_equal(r[1].status, UV_ECONNREFUSED);
    assert_false(bk_kclient_connected(fx->c));
    assert_true(strlen(bk_kclient_errmsg(fx->c)) > 0);
    /* Now listen: the next send connects again. */
    srv_listen(fx);
    assert_int_equal(send_req(fx, &r[2], 3, "c"), 0);
    RUN_UNTIL(fx, r[2].calls == 1, 5000);
    check_answer(&r[2], 3, "c");
    assert_int_equal(fx->accepted, 1);
    assert_int_equal(r[0].calls + r[1].calls, 2);
    res_free(r, 3);
}

static void test_lost_connection_fails_in_flight(void **state)
{
    struct fx *fx = *state;
    srv_listen(fx);
    new_client(fx, NULL);
    fx->mode = M_DROP;
    struct res r[5] = { 0 };
    assert_int_equal(send_req(fx, &r[0], 1, "a"), 0);
    assert_int_equal(send_req(fx, &r[1], 2, "b"), 0);
    RUN_UNTIL(fx, r[0].calls == 1 && r[1].calls == 1, 5000);
    assert_int_equal(r[0].status, BK_EIO);
    assert_int_equal(r[1].status, BK_EIO);
    assert_false(bk_kclient_connected(fx->c));
    /* No resend: the server saw at most the two frames, once. */
    RUN_UNTIL(fx, false, 50);
    assert_true(fx->frames <= 2);
    assert_int_equal(fx->accepted, 1);
    /* The next send reconnects. */
    fx->mode = M_ECHO;
    assert_int_equal(send_req(fx, &r[2], 3, "c"), 0);
    RUN_UNTIL(fx, r[2].calls == 1, 5000);
    check_answer(&r[2], 3, "c");
    assert_int_equal(fx->accepted, 2);
    /* A server closing an idle connection fails nothing; the next send
     * connects again. */
    assert_non_null(fx->peer);
    peer_close(fx->peer);
    RUN_UNTIL(fx, !bk_kclient_connected(fx->c), 5000);
    assert_false(bk_kclient_connected(fx->c));
    assert_int_equal(send_req(fx, &r[3], 4, "d"), 0);
    RUN_UNTIL(fx, r[3].calls == 1, 5000);
    check_answer(&r[3], 4, "d");
    assert_int_equal(fx->accepted, 3);
    for (int i = 0; i < 4; i++) {
        assert_int_equal(r[i].calls, 1);
    }
    res_free(r, 5);
}

static void test_request_timeout_drops_connection(void **state)
{
    struct fx *fx = *state;
    srv_listen(fx);
    struct bk_kclient_opts o = { .request_timeout_ms = 100 };
    new_client(fx, &o);
    fx->mode = M_HOLD;
    struct res r[3] = { 0 };
    uint64_t t0 = uv_now(&fx->loop);
    assert_int_equal(send_req(fx, &r[0], 1, "a"), 0);
    assert_int_equal(send_req(fx, &r[1], 2, "b"), 0);
    RUN_UNTIL(fx, r[1].calls == 1, 5000);
    assert_true(uv_now(&fx->loop) - t0 >= 90);
    assert_int_equal(r[0].calls, 1);
    assert_int_equal(r[0].status, BK_ETIMEDOUT);
    /* The second was on the same connection, which is gone. */
    assert_int_equal(r[1].status, BK_EIO);
    assert_false(bk_kclient_connected(fx->c));
    RUN_UNTIL(fx, fx->peer_eofs == 1, 5000);
    assert_int_equal(fx->peer_eofs, 1);
    fx->mode = M_ECHO;
    assert_int_equal(send_req(fx, &r[2], 3, "c"), 0);
    RUN_UNTIL(fx, r[2].calls == 1, 5000);
    check_answer(&r[2], 3, "c");
    assert_int_equal(fx->accepted, 2);
    res_free(r, 3);
}

static void test_bad_answers_fail_with_eproto(void **state)
{
    struct fx *fx = *state;
    srv_listen(fx);
    struct bk_kclient_opts o = { .max_response_bytes = 1024 };
    new_client(fx, &o);
    static const enum mode bad[] = { M_TOO_BIG, M_TOO_SMALL, M_WRONG_ID };
    for (unsigned i = 0; i < 3; i++) {
        fx->mode = bad[i];
        struct res r = { 0 };
        assert_int_equal(send_req(fx, &r, 9, "x"), 0);
        RUN_UNTIL(fx, r.calls == 1, 5000);
        assert_int_equal(r.calls, 1);
        assert_int_equal(r.status, BK_EPROTO);
        assert_false(bk_kclient_connected(fx->c));
        assert_int_equal(fx->accepted, i + 1);
    }
    /* An answer of exactly the limit is fine. */
    fx->mode = M_ECHO;
    char pl[1024 - 4 + 1];
    memset(pl, 'z', sizeof(pl) - 1);
    pl[sizeof(pl) - 1] = '\0';
    struct res ok = { 0 };
    uint8_t f[8 + sizeof(pl)];
    memset(f, 0, 8);
    f[1] = 18;
    put32(f + 4, 5);
    memcpy(f + 8, pl, sizeof(pl) - 1);
    ok.fx = fx;
    assert_int_equal(
        bk_kclient_send(fx->c, f, 8 + sizeof(pl) - 1, on_answer, &ok), 0);
    RUN_UNTIL(fx, ok.calls == 1, 5000);
    check_answer(&ok, 5, pl);
    res_free(&ok, 1);
}

static void test_close_fails_pending_once(void **state)
{
    struct fx *fx = *state;
    srv_listen(fx);
    new_client(fx, NULL);
    fx->mode = M_HOLD;
    struct res r[3] = { 0 };
    for (int i = 0; i < 3; i++) {
        assert_int_equal(send_req(fx, &r[i], (uint32_t)i, "held"), 0);
    }
    RUN_UNTIL(fx, fx->frames == 3, 5000);
    assert_int_equal(fx->frames, 3);
    struct bk_kclient *c = fx->c;
    fx->c = NULL;
    bk_kclient_close(c);
    /* Before close returned, each once, in order; a send from the
     * callback was refused. */
    for (int i = 0; i < 3; i++) {
        assert_int_equal(r[i].calls, 1);
        assert_int_equal(r[i].status, BK_ESHUTDOWN);
        assert_int_equal(r[i].order, i);
    }
    RUN_UNTIL(fx, fx->peer_eofs == 1, 5000);
    assert_int_equal(fx->peer_eofs, 1);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(r[i].calls, 1);
    }
}

static void test_send_from_closing_callback_refused(void **state)
{
    struct fx *fx = *state;
    srv_listen(fx);
    new_client(fx, NULL);
    fx->mode = M_HOLD;
    struct res r = { 0 };
    assert_int_equal(send_req(fx, &r, 1, "x"), 0);
    RUN_UNTIL(fx, fx->frames == 1, 5000);
    /* The callback sends on the client being closed: fx->c stays set
     * during close, so on_answer's send reaches it. */
    bk_kclient_close(fx->c);
    assert_int_equal(r.calls, 1);
    assert_int_equal(r.status, BK_ESHUTDOWN);
    assert_int_equal(r.send_in_cb, BK_ESHUTDOWN);
    fx->c = NULL;
}

static void test_close_while_connecting_and_unused(void **state)
{
    struct fx *fx = *state;
    srv_listen(fx);
    new_client(fx, NULL);
    struct res r = { 0 };
    assert_int_equal(send_req(fx, &r, 1, "x"), 0);
    struct bk_kclient *c = fx->c;
    fx->c = NULL;
    bk_kclient_close(c);
    assert_int_equal(r.calls, 1);
    assert_int_equal(r.status, BK_ESHUTDOWN);
    /* A client that never sent closes too; teardown checks that both
     * left no handle behind. */
    new_client(fx, NULL);
    c = fx->c;
    fx->c = NULL;
    bk_kclient_close(c);
    RUN_UNTIL(fx, false, 30);
    assert_int_equal(r.calls, 1);
}

static void test_close_from_answer_callback(void **state)
{
    struct fx *fx = *state;
    srv_listen(fx);
    new_client(fx, NULL);
    /* Three answers arrive in one read; the first callback closes the
     * client, so the other two must get BK_ESHUTDOWN, not their answers,
     * and only once. */
    fx->mode = M_BATCH;
    fx->batch = 3;
    struct res r[3] = { 0 };
    r[0].close_in_cb = true;
    for (int i = 0; i < 3; i++) {
        assert_int_equal(send_req(fx, &r[i], (uint32_t)i, "x"), 0);
    }
    RUN_UNTIL(fx, r[0].calls == 1, 5000);
    assert_null(fx->c);
    check_answer(&r[0], 0, "x");
    for (int i = 1; i < 3; i++) {
        assert_int_equal(r[i].calls, 1);
        assert_int_equal(r[i].status, BK_ESHUTDOWN);
    }
    RUN_UNTIL(fx, false, 30);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(r[i].calls, 1);
    }
    res_free(r, 3);
}

static void test_bad_arguments_and_no_memory(void **state)
{
    struct fx *fx = *state;
    srv_listen(fx);
    struct bk_kclient *c;
    assert_int_equal(bk_kclient_new(&fx->loop, "", 9092, NULL, &c), BK_EINVAL);
    assert_int_equal(bk_kclient_new(&fx->loop, "[]", 9092, NULL, &c),
                     BK_EINVAL);
    assert_int_equal(bk_kclient_new(&fx->loop, "127.0.0.1", 0, NULL, &c),
                     BK_EINVAL);
    assert_int_equal(bk_kclient_new(&fx->loop, "127.0.0.1", 65536, NULL, &c),
                     BK_EINVAL);
    new_client(fx, NULL);
    struct res r[3] = { 0 };
    static const uint8_t short_frame[7] = { 0 };
    assert_int_equal(bk_kclient_send(fx->c, short_frame, 7, on_answer, &r[0]),
                     BK_EINVAL);
    assert_int_equal(bk_kclient_send(fx->c, short_frame, 7, NULL, &r[0]),
                     BK_EINVAL);
    /* The request's own allocations fail: refused, no callback. */
    bk_heap_fault_config(0, 1);
    assert_int_equal(send_req(fx, &r[0], 1, "x"), BK_ENOMEM);
    bk_heap_fault_config(-1, 0);
    /* The connection's fails (after the request's two): the send is
     * accepted and the failure comes later, never inside send. */
    bk_heap_fault_config(2, 1);
    assert_int_equal(send_req(fx, &r[1], 2, "y"), 0);
    bk_heap_fault_config(-1, 0);
    assert_int_equal(r[1].calls, 0);
    RUN_UNTIL(fx, r[1].calls == 1, 5000);
    assert_int_equal(r[1].status, BK_ENOMEM);
    assert_int_equal(r[0].calls, 0);
    /* And the client still works. */
    assert_int_equal(send_req(fx, &r[2], 3, "z"), 0);
    RUN_UNTIL(fx, r[2].calls == 1, 5000);
    check_answer(&r[2], 3, "z");
    res_free(r, 3);
}

static void test_name_and_ipv6_targets(void **state)
{
    struct fx *fx = *state;
    srv_listen(fx);
    struct bk_kclient *c;
    assert_int_equal(bk_kclient_new(&fx->loop, "[::1]", 9092, NULL, &c), 0);
    assert_string_equal(bk_kclient_target(c), "[::1]:9092");
    bk_kclient_close(c);
    assert_int_equal(
        bk_kclient_new(&fx->loop, "localhost", fx->port, NULL, &fx->c), 0);
    char want[32];
    snprintf(want, sizeof(want), "localhost:%d", fx->port);
    assert_string_equal(bk_kclient_target(fx->c), want);
    /* localhost may list ::1 first, where nobody listens (or IPv6 is
     * off): the next attempt moves on to the next address. */
    struct res r[3] = { 0 };
    int i;
    for (i = 0; i < 3; i++) {
        assert_int_equal(send_req(fx, &r[i], 7, "named"), 0);
        RUN_UNTIL(fx, r[i].calls == 1, 5000);
        assert_int_equal(r[i].calls, 1);
        if (r[i].status == 0) {
            break;
        }
        assert_true(r[i].status < 0); /* refused, or no IPv6 at all */
    }
    assert_true(i < 3);
    check_answer(&r[i], 7, "named");
    res_free(r, 3);
}

/* A port whose accept queue is full: Linux drops further SYNs (unless
 * tcp_abort_on_overflow is set), so a connect there neither succeeds nor
 * fails. Returns the port; fds[0..1] are the listener and the connection
 * that fills its queue, for the caller to close. */
static int stalled_port(int fds[2])
{
    fds[0] = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fds[0] >= 0);
    struct sockaddr_in a;
    uv_ip4_addr("127.0.0.1", 0, &a);
    assert_int_equal(bind(fds[0], (struct sockaddr *)&a, sizeof(a)), 0);
    assert_int_equal(listen(fds[0], 0), 0);
    socklen_t len = sizeof(a);
    assert_int_equal(getsockname(fds[0], (struct sockaddr *)&a, &len), 0);
    fds[1] = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fds[1] >= 0);
    assert_int_equal(connect(fds[1], (struct sockaddr *)&a, sizeof(a)), 0);
    return ntohs(a.sin_port);
}

static bool abort_on_overflow(void)
{
    FILE *f = fopen("/proc/sys/net/ipv4/tcp_abort_on_overflow", "r");
    int v = 0;
    if (f != NULL) {
        if (fscanf(f, "%d", &v) != 1) {
            v = 0;
        }
        (void)fclose(f);
    }
    return v != 0;
}

static void test_connect_timeout(void **state)
{
    struct fx *fx = *state;
    if (abort_on_overflow()) {
        skip();
    }
    int fds[2];
    int port = stalled_port(fds);
    /* The connect times out first: the queued request fails with it. */
    struct bk_kclient_opts o = { .connect_timeout_ms = 100,
                                 .request_timeout_ms = 5000 };
    assert_int_equal(bk_kclient_new(&fx->loop, "127.0.0.1", port, &o, &fx->c),
                     0);
    struct res r[3] = { 0 };
    uint64_t t0 = uv_now(&fx->loop);
    assert_int_equal(send_req(fx, &r[0], 1, "a"), 0);
    RUN_UNTIL(fx, r[0].calls == 1, 5000);
    assert_true(uv_now(&fx->loop) - t0 >= 90);
    assert_int_equal(r[0].calls, 1);
    assert_int_equal(r[0].status, BK_ETIMEDOUT);
    assert_non_null(strstr(bk_kclient_errmsg(fx->c), "connect"));
    bk_kclient_close(fx->c);
    fx->c = NULL;
    /* The request times out first: it fails alone, and the attempt goes
     * on until its own timeout, failing nothing more. */
    o.connect_timeout_ms = 300;
    o.request_timeout_ms = 100;
    assert_int_equal(bk_kclient_new(&fx->loop, "127.0.0.1", port, &o, &fx->c),
                     0);
    t0 = uv_now(&fx->loop);
    assert_int_equal(send_req(fx, &r[1], 2, "b"), 0);
    RUN_UNTIL(fx, r[1].calls == 1, 5000);
    assert_int_equal(r[1].status, BK_ETIMEDOUT);
    assert_true(uv_now(&fx->loop) - t0 < 290);
    assert_int_equal(bk_kclient_pending(fx->c), 0);
    assert_string_equal(bk_kclient_errmsg(fx->c), "");
    RUN_UNTIL(fx, bk_kclient_errmsg(fx->c)[0] != '\0', 5000);
    assert_non_null(strstr(bk_kclient_errmsg(fx->c), "connect"));
    assert_int_equal(r[1].calls, 1);
    bk_kclient_close(fx->c);
    fx->c = NULL;
    close(fds[1]);
    close(fds[0]);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
        T(test_correlation_id_replaced_and_restored),
        T(test_pipelined_answers_in_order),
        T(test_answers_split_over_reads),
        T(test_refused_then_retry_connects_again),
        T(test_lost_connection_fails_in_flight),
        T(test_request_timeout_drops_connection),
        T(test_bad_answers_fail_with_eproto),
        T(test_close_fails_pending_once),
        T(test_send_from_closing_callback_refused),
        T(test_close_while_connecting_and_unused),
        T(test_close_from_answer_callback),
        T(test_bad_arguments_and_no_memory),
        T(test_name_and_ipv6_targets),
        T(test_connect_timeout),
#undef T
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
