/* A Kafka-protocol client connection: lazy connect, pipelining, in-order
 * answers, timeouts.
 *
 * Happy path: the first send finds the client IDLE and starts a connection
 * (RESOLVING a name with uv_getaddrinfo, or straight to CONNECTING for an
 * IP literal); requests queue meanwhile. Once connected (READY), queued
 * requests and every later one are written at once, each under a
 * correlation id of the client's own, and kept in the in-flight queue in
 * the order written. Each response frame read must carry the correlation
 * id of the oldest request in flight (Kafka answers a connection's requests
 * in order); the caller's own id is put back and the request's callback
 * runs from the read callback.
 *
 * Failure modes: a connect error, a connect timeout, a read or write
 * error, EOF, a malformed, oversized or unexpected frame and a request
 * timeout all end the connection and fail every request queued or in
 * flight (conn_fail); the client goes back to IDLE and the next send
 * connects again. A request is never resent: it may not be idempotent.
 *
 * Callbacks: failures are never delivered where they are found. The
 * failed requests move to the done queue and the client's timer, armed at
 * 0 ms, runs their callbacks on the next turn of the loop. So no callback
 * runs inside bk_kclient_send (which may itself fail to connect or write),
 * and no user code runs while the connection is being torn down. Only
 * answers are delivered at once, from the read callback, and every caller
 * of user code checks afterwards whether that code dropped the connection
 * or closed the client.
 *
 * Lifetimes: each connection attempt is a struct kconn with its own
 * uv_tcp_t. Dropping a connection detaches it from the client (kc->c =
 * NULL) and closes its handle; the kconn frees itself in the close
 * callback, after libuv has cancelled its connect and writes. The client
 * can start a new kconn at once, and bk_kclient_close only has the timer
 * left to close. Each request's wire bytes (struct kwrite) are owned by
 * the request until handed to uv_write, then by the write, which frees
 * them in its callback whatever happened to the request. */
#include "net/kclient.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include "common/assert.h"
#include "common/diag.h"
#include "common/err.h"
#include "common/heap.h"
#include "common/owner.h"

#define DEFAULT_CONNECT_MS   5000u
#define DEFAULT_REQUEST_MS   30000u
#define DEFAULT_MAX_RESPONSE ((size_t)100 * 1024 * 1024)
/* api_key, api_version, correlation_id: the part of every request header
 * the client reads and rewrites. */
#define REQ_HEADER_MIN 8
#define CORR_OFFSET    4
#define READ_BUF_SIZE  (64 * 1024)
/* Once a response needs at least this many more bytes, reads go straight
 * into its buffer rather than through the read buffer, so a large answer
 * (a Fetch) is copied once. */
#define DIRECT_READ_MIN (16 * 1024)

enum kc_state {
    KC_IDLE,       /* no connection */
    KC_RESOLVING,  /* uv_getaddrinfo in progress */
    KC_CONNECTING, /* uv_tcp_connect in progress */
    KC_READY,      /* connected; requests are written at once */
    KC_CLOSED,     /* bk_kclient_close ran; the timer is closing */
};

/* The wire bytes of one request: size prefix, then the caller's frame with
 * the client's correlation id. */
struct kwrite {
    uv_write_t wr;
    size_t len;
    uint8_t bytes[];
};

struct kreq {
    struct kreq *next;
    bk_kclient_cb cb;
    void *data;         /* borrowed, for cb */
    struct kwrite *w;   /* owned until written, then NULL */
    uint64_t deadline;  /* loop time (uv_now), ms */
    uint32_t wire_corr; /* the client's correlation id */
    uint8_t corr[4];    /* the caller's, as it sent it */
    int status;         /* once on the done queue */
};

struct kqueue {
    struct kreq *head, *tail;
    size_t n;
};

struct kconn {
    struct bk_kclient *c; /* borrowed; NULL once detached */
    uv_tcp_t tcp;
    uv_connect_t connect;
    uv_getaddrinfo_t gai;
    bool gai_busy;   /* gai_cb has yet to run */
    bool tcp_closed; /* the close callback ran */
    /* The response being read: its size prefix, then its bytes. */
    uint8_t size_buf[4];
    size_t size_got;
    uint8_t *frame; /* owned, NULL between frames */
    size_t frame_len, frame_got;
    uint8_t rbuf[READ_BUF_SIZE];
};

struct bk_kclient {
    uv_loop_t *loop; /* borrowed */
    struct bk_owner owner;
    uv_timer_t timer; /* deadlines, and the done queue at 0 ms */
    enum kc_state state;
    struct kconn *conn;     /* the current attempt, NULL when IDLE */
    struct kqueue queued;   /* waiting for the connection */
    struct kqueue inflight; /* written, oldest first */
    struct kqueue done;     /* failed, callbacks not run yet */
    uint64_t connect_deadline;
    uint32_t next_corr;
    unsigned attempt; /* failed connects so far: picks the address */
    unsigned connect_ms, request_ms;
    size_t max_response;
    bool literal;
    struct sockaddr_storage addr; /* when literal */
    char *host;                   /* owned, brackets removed */
    char port[8];
    char errmsg[BK_ERRMSG_SIZE];
    char target[]; /* "host:port" */
};

/* ---- queues ------------------------------------------------------------ */

static void q_push(struct kqueue *q, struct kreq *r)
{
    r->next = NULL;
    if (q->tail != NULL) {
        q->tail->next = r;
    } else {
        q->head = r;
    }
    q->tail = r;
    q->n++;
}

static struct kreq *q_pop(struct kqueue *q)
{
    struct kreq *r = q->head;
    if (r != NULL) {
        q->head = r->next;
        if (q->head == NULL) {
            q->tail = NULL;
        }
        q->n--;
        r->next = NULL;
    }
    return r;
}

static void kreq_free(struct kreq *r)
{
    bk_free(r->w);
    bk_free(r);
}

static void put_be32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

static uint32_t get_be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 |
           (uint32_t)p[3];
}

/* ---- state, timer and failures ---------------------------------------- */

static void set_state(struct bk_kclient *c, enum kc_state to)
{
    /* Allowed transitions, one bit per target state. IDLE to IDLE is a
     * connect that failed before it started (no memory). */
    static const unsigned allowed[] = {
        [KC_IDLE] = 1u << KC_IDLE | 1u << KC_RESOLVING | 1u << KC_CONNECTING |
                    1u << KC_CLOSED,
        [KC_RESOLVING] = 1u << KC_CONNECTING | 1u << KC_IDLE | 1u << KC_CLOSED,
        [KC_CONNECTING] = 1u << KC_READY | 1u << KC_IDLE | 1u << KC_CLOSED,
        [KC_READY] = 1u << KC_IDLE | 1u << KC_CLOSED,
        [KC_CLOSED] = 0,
    };
    bk_assert((allowed[c->state] & (1u << to)) != 0);
    c->state = to;
}

static void timer_cb(uv_timer_t *t);

/* Arms the timer for the next thing due: the done queue at once, else the
 * earliest deadline. Requests all get the same timeout and join the queues
 * in send order, and every request in flight was sent before every queued
 * one, so the earliest request deadline is at a queue head. */
static void rearm(struct bk_kclient *c)
{
    if (c->state == KC_CLOSED) {
        return;
    }
    uint64_t due = UINT64_MAX;
    if (c->done.n > 0) {
        due = 0;
    } else {
        if (c->state == KC_RESOLVING || c->state == KC_CONNECTING) {
            due = c->connect_deadline;
        }
        if (c->inflight.head != NULL && c->inflight.head->deadline < due) {
            due = c->inflight.head->deadline;
        }
        if (c->queued.head != NULL && c->queued.head->deadline < due) {
            due = c->queued.head->deadline;
        }
    }
    if (due == UINT64_MAX) {
        uv_timer_stop(&c->timer);
        return;
    }
    uint64_t now = uv_now(c->loop);
    uv_timer_start(&c->timer, timer_cb, due > now ? due - now : 0, 0);
}

static void kconn_maybe_free(struct kconn *kc)
{
    if (kc->tcp_closed && !kc->gai_busy) {
        bk_free(kc->frame);
        bk_free(kc);
    }
}

static void tcp_closed_cb(uv_handle_t *h)
{
    struct kconn *kc = h->data;
    kc->tcp_closed = true;
    kconn_maybe_free(kc);
}

/* Hands the current connection to libuv to close and free. */
static void conn_detach(struct bk_kclient *c)
{
    struct kconn *kc = c->conn;
    if (kc == NULL) {
        return;
    }
    c->conn = NULL;
    kc->c = NULL;
    if (kc->gai_busy) {
        /* Only succeeds before a worker took it; gai_cb runs either way
         * and frees the result. */
        uv_cancel((uv_req_t *)&kc->gai);
    }
    uv_close((uv_handle_t *)&kc->tcp, tcp_closed_cb);
}

static void errmsg_set(struct bk_kclient *c, const char *what, int err)
{
    snprintf(c->errmsg, sizeof(c->errmsg), "%s: %s", what, bk_strerror(err));
}

/* Ends the connection (if any) and fails every request queued or in
 * flight: the oldest with `first`, the others with `rest`. Callbacks run
 * from the timer; the client is IDLE afterwards. */
static void conn_fail(struct bk_kclient *c,
                      int first,
                      int rest,
                      const char *why)
{
    errmsg_set(c, why, first);
    bk_diag_debug("net", "kclient=%s msg=\"%s\" failed=%zu", c->target,
                  c->errmsg, c->inflight.n + c->queued.n);
    conn_detach(c);
    int status = first;
    struct kreq *r;
    while ((r = q_pop(&c->inflight)) != NULL ||
           (r = q_pop(&c->queued)) != NULL) {
        r->status = status;
        status = rest;
        q_push(&c->done, r);
    }
    set_state(c, KC_IDLE);
    rearm(c);
}

/* Runs the callbacks of the requests that failed so far (not of those
 * that fail meanwhile: a callback that sends again and fails again at once
 * waits for the next turn of the loop, so it cannot spin here). Returns
 * false if one of them closed the client, which then ran the rest. */
static bool deliver_done(struct bk_kclient *c)
{
    for (size_t n = c->done.n; n > 0; n--) {
        struct kreq *r = q_pop(&c->done);
        r->cb(r->data, r->status, NULL, 0);
        kreq_free(r);
        if (c->state == KC_CLOSED) {
            return false;
        }
    }
    return true;
}

static void timer_cb(uv_timer_t *t)
{
    struct bk_kclient *c = t->data;
    uint64_t now = uv_now(c->loop);
    if ((c->state == KC_RESOLVING || c->state == KC_CONNECTING) &&
        c->connect_deadline <= now) {
        c->attempt++;
        conn_fail(c, BK_ETIMEDOUT, BK_ETIMEDOUT, "connect");
    }
    if (c->inflight.head != NULL && c->inflight.head->deadline <= now) {
        /* The server may still answer this request, and that late answer
         * would then be taken for the next request's: with no way to tell
         * them apart but the correlation id, only a new connection is
         * safe. Kafka's NetworkClient also disconnects when a request
         * times out (handleTimedOutRequests). */
        conn_fail(c, BK_ETIMEDOUT, BK_EIO, "request timed out");
    }
    /* Not written yet: failing them leaves the connection attempt alone. */
    while (c->queued.head != NULL && c->queued.head->deadline <= now) {
        struct kreq *r = q_pop(&c->queued);
        r->status = BK_ETIMEDOUT;
        q_push(&c->done, r);
    }
    if (deliver_done(c)) {
        rearm(c);
    }
}

/* ---- writing ----------------------------------------------------------- */

static void write_cb(uv_write_t *wr, int status)
{
    struct kwrite *w = wr->data;
    struct kconn *kc = wr->handle->data;
    bk_free(w);
    /* After a detach, status is UV_ECANCELED and nobody cares. */
    if (status < 0 && kc->c != NULL) {
        conn_fail(kc->c, BK_EIO, BK_EIO, "write");
    }
}

/* Writes r, which is already at the tail of the in-flight queue. On
 * failure the connection is failed (r with it). */
static void write_req(struct bk_kclient *c, struct kreq *r)
{
    struct kwrite *w = r->w;
    r->w = NULL;
    w->wr.data = w;
    uv_buf_t buf = uv_buf_init((char *)w->bytes, (unsigned)w->len);
    int rv = uv_write(&w->wr, (uv_stream_t *)&c->conn->tcp, &buf, 1, write_cb);
    if (rv < 0) {
        bk_free(w);
        conn_fail(c, BK_EIO, BK_EIO, "write");
    }
}

/* ---- reading ----------------------------------------------------------- */

/* Hands one complete response (resp, len: without the size prefix; owned
 * by kc, writable) to the oldest request in flight. Returns false if the
 * connection is gone afterwards (failed here, or dropped or closed by the
 * callback): the caller must not touch kc's read state again. */
static bool deliver(struct kconn *kc, uint8_t *resp, size_t len)
{
    struct bk_kclient *c = kc->c;
    struct kreq *r = c->inflight.head;
    if (r == NULL) {
        conn_fail(c, BK_EPROTO, BK_EPROTO, "answer with no request");
        return false;
    }
    if (get_be32(resp) != r->wire_corr) {
        conn_fail(c, BK_EPROTO, BK_EIO, "answer to another request");
        return false;
    }
    q_pop(&c->inflight);
    rearm(c);
    memcpy(resp, r->corr, 4);
    r->cb(r->data, 0, resp, len);
    kreq_free(r);
    return kc->c == c;
}

/* Takes a response size prefix; starts reading its frame. Returns false
 * if it is refused (the connection is failed). */
static bool frame_begin(struct kconn *kc, uint32_t size)
{
    struct bk_kclient *c = kc->c;
    /* Every response header starts with the correlation id. */
    if (size < 4 || size > c->max_response) {
        conn_fail(c, BK_EPROTO, BK_EIO, "response size");
        return false;
    }
    if (c->inflight.head == NULL) {
        conn_fail(c, BK_EPROTO, BK_EPROTO, "answer with no request");
        return false;
    }
    kc->frame_len = size;
    kc->frame_got = 0;
    return true;
}

/* Completes the buffered frame. Same result as deliver(). */
static bool frame_end(struct kconn *kc)
{
    uint8_t *frame = kc->frame;
    kc->frame = NULL;
    kc->size_got = 0;
    bool alive = deliver(kc, frame, kc->frame_len);
    bk_free(frame);
    return alive;
}

/* Cuts n bytes at p (kc's read buffer) into responses. */
static void parse(struct kconn *kc, uint8_t *p, size_t n)
{
    while (n > 0) {
        if (kc->frame != NULL) {
            size_t take = kc->frame_len - kc->frame_got;
            take = take < n ? take : n;
            memcpy(kc->frame + kc->frame_got, p, take);
            kc->frame_got += take;
            p += take;
            n -= take;
            if (kc->frame_got == kc->frame_len && !frame_end(kc)) {
                return;
            }
            continue;
        }
        if (kc->size_got == 0 && n >= 4) {
            /* The common case: a whole prefix in this read. */
            memcpy(kc->size_buf, p, 4);
            p += 4;
            n -= 4;
        } else {
            size_t take = 4 - kc->size_got < n ? 4 - kc->size_got : n;
            memcpy(kc->size_buf + kc->size_got, p, take);
            kc->size_got += take;
            p += take;
            n -= take;
            if (kc->size_got < 4) {
                return;
            }
        }
        kc->size_got = 4;
        if (!frame_begin(kc, get_be32(kc->size_buf))) {
            return;
        }
        if (n >= kc->frame_len) {
            /* Whole in this read: answer from the read buffer. */
            size_t len = kc->frame_len;
            kc->size_got = 0;
            if (!deliver(kc, p, len)) {
                return;
            }
            p += len;
            n -= len;
            continue;
        }
        kc->frame = bk_malloc(kc->frame_len);
        if (kc->frame == NULL) {
            conn_fail(kc->c, BK_ENOMEM, BK_EIO, "response buffer");
            return;
        }
    }
}

static void alloc_cb(uv_handle_t *h, size_t hint, uv_buf_t *buf)
{
    (void)hint;
    struct kconn *kc = h->data;
    size_t missing = kc->frame_len - kc->frame_got;
    if (kc->frame != NULL && missing >= DIRECT_READ_MIN) {
        buf->base = (char *)kc->frame + kc->frame_got;
        buf->len = missing;
    } else {
        buf->base = (char *)kc->rbuf;
        buf->len = sizeof(kc->rbuf);
    }
}

static void read_cb(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    struct kconn *kc = s->data;
    if (kc->c == NULL || nread == 0) {
        return;
    }
    if (nread < 0) {
        /* EOF with nothing in flight is a server closing an idle
         * connection (connections.max.idle.ms): no request fails. */
        conn_fail(kc->c, BK_EIO, BK_EIO,
                  nread == UV_EOF ? "connection closed by peer" : "read");
        return;
    }
    if (buf->base != (char *)kc->rbuf) {
        kc->frame_got += (size_t)nread;
        if (kc->frame_got == kc->frame_len) {
            frame_end(kc);
        }
        return;
    }
    parse(kc, kc->rbuf, (size_t)nread);
}

/* ---- connecting -------------------------------------------------------- */

static void connect_cb(uv_connect_t *req, int status)
{
    struct kconn *kc = req->data;
    struct bk_kclient *c = kc->c;
    if (c == NULL) {
        return; /* detached: UV_ECANCELED */
    }
    if (status < 0) {
        c->attempt++;
        conn_fail(c, status, status, "connect");
        return;
    }
    /* Requests are small and latency-bound (heartbeats, forwarded admin
     * requests): do not let Nagle hold them back. */
    int rv = uv_tcp_nodelay(&kc->tcp, 1);
    if (rv == 0) {
        rv = uv_read_start((uv_stream_t *)&kc->tcp, alloc_cb, read_cb);
    }
    if (rv < 0) {
        conn_fail(c, rv, rv, "connect");
        return;
    }
    set_state(c, KC_READY);
    c->errmsg[0] = '\0';
    struct kreq *r;
    while ((r = q_pop(&c->queued)) != NULL) {
        q_push(&c->inflight, r);
        write_req(c, r);
        if (c->conn != kc) {
            return; /* the write failed the connection */
        }
    }
    rearm(c);
}

static int connect_to(struct kconn *kc, const struct sockaddr *addr)
{
    kc->connect.data = kc;
    return uv_tcp_connect(&kc->connect, &kc->tcp, addr, connect_cb);
}

/* libuv's resolver errors are not errnos: map them to ours. */
static int gai_err(int status)
{
    if (status > -1000) {
        return status; /* an errno already (ENOMEM, EINVAL) */
    }
    switch (status) {
        case UV_EAI_MEMORY:
            return BK_ENOMEM;
        case UV_EAI_AGAIN:
            return BK_EAGAIN;
        case UV_EAI_CANCELED:
            return BK_ECANCELED;
        default:
            return BK_ENOTFOUND;
    }
}

static void gai_cb(uv_getaddrinfo_t *req, int status, struct addrinfo *res)
{
    struct kconn *kc = req->data;
    struct bk_kclient *c = kc->c;
    kc->gai_busy = false;
    if (c == NULL) {
        uv_freeaddrinfo(res);
        kconn_maybe_free(kc);
        return;
    }
    if (status < 0) {
        conn_fail(c, gai_err(status), gai_err(status), "resolve");
        return;
    }
    /* One address per attempt, the next after a failure (KIP-302's
     * use_all_dns_ips): a name that lists a dead address first still
     * reaches a live one. */
    unsigned count = 0;
    for (struct addrinfo *a = res; a != NULL; a = a->ai_next) {
        count++;
    }
    if (count == 0) {
        uv_freeaddrinfo(res);
        conn_fail(c, BK_ENOTFOUND, BK_ENOTFOUND, "resolve");
        return;
    }
    struct addrinfo *a = res;
    for (unsigned i = c->attempt % count; i > 0; i--) {
        a = a->ai_next;
    }
    int rv = connect_to(kc, a->ai_addr);
    uv_freeaddrinfo(res);
    if (rv < 0) {
        c->attempt++;
        conn_fail(c, rv, rv, "connect");
        return;
    }
    set_state(c, KC_CONNECTING);
}

/* Starts a connection from IDLE. Failures go through conn_fail, so the
 * queued requests learn of them from the timer, not inside send. */
static void start_connect(struct bk_kclient *c)
{
    struct kconn *kc = bk_calloc(1, sizeof(*kc));
    if (kc == NULL) {
        conn_fail(c, BK_ENOMEM, BK_ENOMEM, "connect");
        return;
    }
    int rv = uv_tcp_init(c->loop, &kc->tcp);
    if (rv < 0) {
        bk_free(kc);
        conn_fail(c, rv, rv, "connect");
        return;
    }
    kc->c = c;
    kc->tcp.data = kc;
    c->conn = kc;
    c->connect_deadline = uv_now(c->loop) + c->connect_ms;
    if (c->literal) {
        set_state(c, KC_CONNECTING);
        rv = connect_to(kc, (const struct sockaddr *)&c->addr);
        if (rv < 0) {
            c->attempt++;
            conn_fail(c, rv, rv, "connect");
        }
        return;
    }
    set_state(c, KC_RESOLVING);
    /* No AI_ADDRCONFIG: it ignores loopback, so a node whose only
     * interface is lo (a test namespace) could not resolve "localhost". */
    struct addrinfo hints = { .ai_family = AF_UNSPEC,
                              .ai_socktype = SOCK_STREAM };
    kc->gai.data = kc;
    rv = uv_getaddrinfo(c->loop, &kc->gai, gai_cb, c->host, c->port, &hints);
    if (rv < 0) {
        conn_fail(c, gai_err(rv), gai_err(rv), "resolve");
        return;
    }
    kc->gai_busy = true;
}

/* ---- API --------------------------------------------------------------- */

/* Copies host into an owned string without IPv6 brackets; NULL on OOM. */
static char *host_copy(const char *host)
{
    size_t n = strlen(host);
    if (n >= 2 && host[0] == '[' && host[n - 1] == ']') {
        return bk_strndup(host + 1, n - 2);
    }
    return bk_strdup(host);
}

int bk_kclient_new(uv_loop_t *loop,
                   const char *host,
                   int port,
                   const struct bk_kclient_opts *o,
                   struct bk_kclient **out)
{
    if (loop == NULL || host == NULL || host[0] == '\0' || port < 1 ||
        port > 65535 || out == NULL) {
        return BK_EINVAL;
    }
    size_t tsize = strlen(host) + sizeof("[]:65535");
    struct bk_kclient *c = bk_calloc(1, sizeof(*c) + tsize);
    if (c == NULL) {
        return BK_ENOMEM;
    }
    c->host = host_copy(host);
    if (c->host == NULL || c->host[0] == '\0') {
        int rv = c->host == NULL ? BK_ENOMEM : BK_EINVAL;
        bk_free(c->host);
        bk_free(c);
        return rv;
    }
    struct bk_kclient_opts d = { 0 };
    o = o != NULL ? o : &d;
    c->loop = loop;
    bk_owner_claim(&c->owner);
    c->connect_ms =
        o->connect_timeout_ms ? o->connect_timeout_ms : DEFAULT_CONNECT_MS;
    c->request_ms =
        o->request_timeout_ms ? o->request_timeout_ms : DEFAULT_REQUEST_MS;
    c->max_response =
        o->max_response_bytes ? o->max_response_bytes : DEFAULT_MAX_RESPONSE;
    snprintf(c->port, sizeof(c->port), "%d", port);
    bool is_v6 = false;
    if (uv_ip4_addr(c->host, port, (struct sockaddr_in *)&c->addr) == 0) {
        c->literal = true;
    } else if (uv_ip6_addr(c->host, port, (struct sockaddr_in6 *)&c->addr) ==
               0) {
        c->literal = is_v6 = true;
    }
    snprintf(c->target, tsize, is_v6 ? "[%s]:%d" : "%s:%d", c->host, port);
    c->state = KC_IDLE;
    uv_timer_init(loop, &c->timer);
    c->timer.data = c;
    *out = c;
    return 0;
}

int bk_kclient_send(struct bk_kclient *c,
                    const uint8_t *req,
                    size_t len,
                    bk_kclient_cb cb,
                    void *data)
{
    bk_owner_check(&c->owner);
    if (req == NULL || cb == NULL || len < REQ_HEADER_MIN || len > INT32_MAX) {
        return BK_EINVAL;
    }
    if (c->state == KC_CLOSED) {
        return BK_ESHUTDOWN;
    }
    struct kreq *r = bk_calloc(1, sizeof(*r));
    struct kwrite *w = bk_malloc(sizeof(*w) + 4 + len);
    if (r == NULL || w == NULL) {
        bk_free(r);
        bk_free(w);
        return BK_ENOMEM;
    }
    w->len = 4 + len;
    put_be32(w->bytes, (uint32_t)len);
    memcpy(w->bytes + 4, req, len);
    memcpy(r->corr, req + CORR_OFFSET, 4);
    r->wire_corr = c->next_corr++;
    put_be32(w->bytes + 4 + CORR_OFFSET, r->wire_corr);
    r->cb = cb;
    r->data = data;
    r->w = w;
    r->deadline = uv_now(c->loop) + c->request_ms;
    if (c->state == KC_READY) {
        q_push(&c->inflight, r);
        write_req(c, r);
    } else {
        q_push(&c->queued, r);
        if (c->state == KC_IDLE) {
            start_connect(c);
        }
    }
    rearm(c);
    return 0;
}

static void client_closed_cb(uv_handle_t *h)
{
    struct bk_kclient *c = h->data;
    bk_free(c->host);
    bk_free(c);
}

void bk_kclient_close(struct bk_kclient *c)
{
    bk_owner_check(&c->owner);
    /* Callbacks below may send (refused) but not close again. */
    set_state(c, KC_CLOSED);
    conn_detach(c);
    struct kreq *r;
    while ((r = q_pop(&c->inflight)) != NULL ||
           (r = q_pop(&c->queued)) != NULL) {
        r->status = BK_ESHUTDOWN;
        q_push(&c->done, r);
    }
    while ((r = q_pop(&c->done)) != NULL) {
        r->cb(r->data, r->status, NULL, 0);
        kreq_free(r);
    }
    uv_close((uv_handle_t *)&c->timer, client_closed_cb);
}

bool bk_kclient_connected(const struct bk_kclient *c)
{
    return c->state == KC_READY;
}

const char *bk_kclient_target(const struct bk_kclient *c)
{
    return c->target;
}

const char *bk_kclient_errmsg(const struct bk_kclient *c)
{
    return c->errmsg;
}

size_t bk_kclient_pending(const struct bk_kclient *c)
{
    return c->queued.n + c->inflight.n + c->done.n;
}
