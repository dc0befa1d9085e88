/* A client connection: Kafka framing, in-order answers, backpressure.
 *
 * Happy path: bytes arrive in read_cb; each complete frame (INT32 size,
 * then that many bytes) becomes a bk_req queued on the connection and
 * handed to the upper layer; answers may complete in any order but are
 * written strictly in request order (the Java client matches each answer to
 * its oldest request in flight), several at once with one writev.
 *
 * Failure modes: a size prefix that is negative or above
 * socket.request.max.bytes closes the connection before anything is
 * allocated; a read or write error closes it; a request still being handled
 * when the connection closes keeps the bk_conn alive (the queue holds it)
 * until the upper layer answers it, and that answer is dropped.
 *
 * Backpressure: with max_inflight requests queued or max_queued_out_bytes
 * of answers waiting, the connection stops reading until it drains.
 *
 * Reads go into the shard's shared 64 KiB buffer and are copied into
 * per-frame buffers, except that the remainder of a large frame is read
 * straight into its own buffer, so a big Produce is copied once. */
#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "common/assert.h"
#include "common/heap.h"
#include "common/log.h"
#include "net/net_int.h"

/* Below this many missing bytes a frame is filled through the shared buffer;
 * above it, libuv reads straight into the frame. */
#define DIRECT_READ_MIN (16 * 1024)

struct bk_conn {
    uv_tcp_t tcp;
    struct bk_shard *shard;
    struct bk_conn *prev, *next; /* shard's list */
    uint64_t id;
    char peer[64];
    char client_id[64];

    uint8_t size_buf[4];
    unsigned size_have;
    uint8_t *frame; /* owned: frame being read */
    size_t frame_len;
    size_t frame_have;

    struct bk_req *head, *tail; /* owned: requests in order */
    unsigned queued;            /* requests in the queue */
    size_t queued_out;          /* answer bytes waiting or being written */
    uint64_t next_seq;

    bool reading;
    bool writing;
    bool closing;
    bool handle_closed;
};

struct conn_write {
    uv_write_t w;
    struct bk_conn *conn;
    unsigned nreq;
    uv_buf_t bufs[];
};

#define bk_assert_state(r) bk_assert((r)->state == BK_REQ_PENDING)

static void conn_close(struct bk_conn *c);
static void conn_flush(struct bk_conn *c);
static void conn_start_reading(struct bk_conn *c);

uint64_t bk_conn_id(const struct bk_conn *c)
{
    return c->id;
}

const char *bk_conn_peer(const struct bk_conn *c)
{
    return c->peer;
}

const char *bk_conn_client_id(const struct bk_conn *c)
{
    return c->client_id;
}

void bk_conn_set_client_id(struct bk_conn *c, const char *id, size_t len)
{
    if (len >= sizeof(c->client_id)) {
        len = sizeof(c->client_id) - 1;
    }
    /* Keep logs one line: replace control characters. */
    for (size_t i = 0; i < len; i++) {
        unsigned char ch = (unsigned char)id[i];
        c->client_id[i] = (ch < 0x20 || ch == 0x7f || ch == '"') ? '?' : id[i];
    }
    c->client_id[len] = '\0';
}

static void conn_free_if_done(struct bk_conn *c)
{
    if (!c->handle_closed || c->head != NULL) {
        return;
    }
    struct bk_shard *s = c->shard;
    bk_free(c->frame);
    bk_free(c);
    bk_shard_maybe_finish(s);
}

static void req_free(struct bk_req *r)
{
    bk_arena_destroy(&r->arena);
    bk_free(r->frame);
    bk_free(r);
}

/* Unlinks r, which must be at the head of its queue. */
static void pop_head(struct bk_conn *c)
{
    struct bk_req *r = c->head;
    c->head = r->next;
    if (c->head == NULL) {
        c->tail = NULL;
    }
    c->queued--;
    c->queued_out -= r->out_bytes;
    req_free(r);
}

static void unlink_req(struct bk_conn *c, struct bk_req *r)
{
    struct bk_req **pp = &c->head;
    struct bk_req *prev = NULL;
    while (*pp != NULL && *pp != r) {
        prev = *pp;
        pp = &(*pp)->next;
    }
    if (*pp == NULL) {
        return;
    }
    *pp = r->next;
    if (c->tail == r) {
        c->tail = prev;
    }
    c->queued--;
    c->queued_out -= r->out_bytes;
    req_free(r);
}

static bool over_limits(const struct bk_conn *c)
{
    const struct bk_net_config *cfg = &c->shard->group->cfg;
    return c->queued >= cfg->max_inflight ||
           c->queued_out >= cfg->max_queued_out_bytes;
}

static void maybe_resume(struct bk_conn *c)
{
    if (!c->reading && !c->closing && !c->shard->stopping && !over_limits(c)) {
        conn_start_reading(c);
    }
    if (c->shard->stopping && c->head == NULL) {
        conn_close(c);
    }
}

static void write_cb(uv_write_t *w, int status)
{
    struct conn_write *cw = (struct conn_write *)w;
    struct bk_conn *c = cw->conn;
    for (unsigned i = 0; i < cw->nreq; i++) {
        pop_head(c);
    }
    bk_free(cw);
    c->writing = false;
    if (c->closing) {
        conn_free_if_done(c);
        return;
    }
    if (status < 0) {
        bk_log_debug("net", "conn=%llu peer=%s msg=\"write failed: %s\"",
                     (unsigned long long)c->id, c->peer, uv_strerror(status));
        conn_close(c);
        return;
    }
    conn_flush(c);
    maybe_resume(c);
}

static void conn_flush(struct bk_conn *c)
{
    if (c->writing || c->closing) {
        return;
    }
    /* Answers without bytes (acks=0) at the head need no write. */
    while (c->head != NULL && c->head->state == BK_REQ_DONE &&
           c->head->nbufs == 0) {
        pop_head(c);
    }
    unsigned nreq = 0, nbufs = 0;
    for (struct bk_req *r = c->head; r != NULL && r->state == BK_REQ_DONE;
         r = r->next) {
        nreq++;
        nbufs += r->nbufs;
        if (nbufs >= 512) {
            break; /* stay well under IOV_MAX */
        }
    }
    if (nreq == 0) {
        return;
    }
    struct conn_write *cw =
        bk_malloc(sizeof(*cw) + (size_t)nbufs * sizeof(uv_buf_t));
    if (cw == NULL) {
        bk_log_error("net", "conn=%llu msg=\"out of memory writing answers\"",
                     (unsigned long long)c->id);
        conn_close(c);
        return;
    }
    cw->conn = c;
    cw->nreq = nreq;
    unsigned k = 0;
    struct bk_req *r = c->head;
    for (unsigned i = 0; i < nreq; i++, r = r->next) {
        r->state = BK_REQ_WRITING;
        for (unsigned j = 0; j < r->nbufs; j++) {
            cw->bufs[k++] = r->bufs[j];
        }
    }
    int rv = uv_write(&cw->w, (uv_stream_t *)&c->tcp, cw->bufs, k, write_cb);
    if (rv != 0) {
        /* Nothing was queued: undo so close frees these requests. */
        for (r = c->head; r != NULL && r->state == BK_REQ_WRITING;
             r = r->next) {
            r->state = BK_REQ_DONE;
        }
        bk_free(cw);
        conn_close(c);
        return;
    }
    c->writing = true;
}

static void complete(struct bk_req *r)
{
    struct bk_conn *c = r->conn;
    if (c->closing) {
        unlink_req(c, r);
        conn_free_if_done(c);
        return;
    }
    conn_flush(c);
    maybe_resume(c);
}

void bk_req_reply(struct bk_req *r, const uv_buf_t *bufs, unsigned n)
{
    bk_assert_state(r);
    uv_buf_t *copy = NULL;
    if (n > 0) {
        copy = bk_arena_alloc(&r->arena, n * sizeof(uv_buf_t));
        if (copy == NULL) {
            bk_req_fail(r, "out of memory for the answer");
            return;
        }
        memcpy(copy, bufs, n * sizeof(uv_buf_t));
    }
    size_t bytes = 0;
    for (unsigned i = 0; i < n; i++) {
        bytes += bufs[i].len;
    }
    r->bufs = copy;
    r->nbufs = n;
    r->out_bytes = bytes;
    r->conn->queued_out += bytes;
    r->state = BK_REQ_DONE;
    complete(r);
}

void bk_req_noreply(struct bk_req *r)
{
    bk_assert_state(r);
    r->nbufs = 0;
    r->state = BK_REQ_DONE;
    complete(r);
}

void bk_req_fail(struct bk_req *r, const char *why)
{
    bk_assert_state(r);
    struct bk_conn *c = r->conn;
    bk_log_info("net", "conn=%llu peer=%s client=\"%s\" msg=\"closing: %s\"",
                (unsigned long long)c->id, c->peer, c->client_id, why);
    r->nbufs = 0;
    r->state = BK_REQ_DONE;
    if (c->closing) {
        unlink_req(c, r);
        conn_free_if_done(c);
        return;
    }
    conn_close(c);
}

static void frame_done(struct bk_conn *c)
{
    struct bk_req *r = bk_calloc(1, sizeof(*r));
    if (r == NULL) {
        bk_log_error("net", "conn=%llu msg=\"out of memory for a request\"",
                     (unsigned long long)c->id);
        conn_close(c);
        return;
    }
    r->conn = c;
    r->shard = c->shard;
    r->seq = c->next_seq++;
    r->frame = c->frame;
    r->frame_len = c->frame_len;
    bk_arena_init(&r->arena, 4096, c->shard->group->cfg.request_arena_limit);
    c->frame = NULL;
    c->frame_len = c->frame_have = 0;
    c->size_have = 0;
    if (c->tail != NULL) {
        c->tail->next = r;
    } else {
        c->head = r;
    }
    c->tail = r;
    c->queued++;
    c->shard->group->on_request(r);
}

/* Starts a frame after its size prefix; false if the connection closed. */
static bool frame_start(struct bk_conn *c)
{
    uint32_t raw = ((uint32_t)c->size_buf[0] << 24) |
                   ((uint32_t)c->size_buf[1] << 16) |
                   ((uint32_t)c->size_buf[2] << 8) | c->size_buf[3];
    int32_t size = (int32_t)raw;
    size_t max = c->shard->group->cfg.max_request_bytes;
    /* Checked before any allocation (Kafka's InvalidReceiveException). */
    if (size < 0 || (size_t)size > max) {
        bk_log_info("net",
                    "conn=%llu peer=%s msg=\"closing: request size %d is "
                    "outside 0..%zu (socket.request.max.bytes)\"",
                    (unsigned long long)c->id, c->peer, size, max);
        conn_close(c);
        return false;
    }
    c->frame_len = (size_t)size;
    c->frame_have = 0;
    c->frame = bk_malloc(c->frame_len);
    if (c->frame == NULL) {
        bk_log_error("net",
                     "conn=%llu msg=\"out of memory for a %d byte "
                     "request\"",
                     (unsigned long long)c->id, size);
        conn_close(c);
        return false;
    }
    if (c->frame_len == 0) {
        frame_done(c);
    }
    return !c->closing;
}

static void alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    struct bk_conn *c = h->data;
    (void)suggested;
    if (c->frame != NULL && c->frame_len - c->frame_have >= DIRECT_READ_MIN) {
        buf->base = (char *)c->frame + c->frame_have;
        buf->len = c->frame_len - c->frame_have;
        return;
    }
    buf->base = (char *)c->shard->rbuf;
    buf->len = c->shard->rbuf_size;
}

static void consume(struct bk_conn *c, const uint8_t *p, size_t n)
{
    while (n > 0 && !c->closing) {
        if (c->frame == NULL) {
            size_t take = 4 - c->size_have;
            if (take > n) {
                take = n;
            }
            memcpy(c->size_buf + c->size_have, p, take);
            c->size_have += (unsigned)take;
            p += take;
            n -= take;
            if (c->size_have == 4 && !frame_start(c)) {
                return;
            }
            continue;
        }
        size_t take = c->frame_len - c->frame_have;
        if (take > n) {
            take = n;
        }
        memcpy(c->frame + c->frame_have, p, take);
        c->frame_have += take;
        p += take;
        n -= take;
        if (c->frame_have == c->frame_len) {
            frame_done(c);
        }
    }
}

static void read_cb(uv_stream_t *stream, ssize_t nread, const uv_buf_t *buf)
{
    struct bk_conn *c = stream->data;
    if (nread < 0) {
        if (nread != UV_EOF) {
            bk_log_debug("net", "conn=%llu peer=%s msg=\"read: %s\"",
                         (unsigned long long)c->id, c->peer,
                         uv_strerror((int)nread));
        }
        conn_close(c);
        return;
    }
    if (nread == 0) {
        return;
    }
    if (buf->base == (char *)c->shard->rbuf) {
        consume(c, c->shard->rbuf, (size_t)nread);
    } else {
        c->frame_have += (size_t)nread;
        if (c->frame_have == c->frame_len) {
            frame_done(c);
        }
    }
    /* The shared buffer is always consumed whole, so pausing here loses
     * nothing; the limits may be overshot by one buffer's worth of frames. */
    if (!c->closing && c->reading && over_limits(c)) {
        uv_read_stop((uv_stream_t *)&c->tcp);
        c->reading = false;
    }
}

static void conn_start_reading(struct bk_conn *c)
{
    int rv = uv_read_start((uv_stream_t *)&c->tcp, alloc_cb, read_cb);
    if (rv != 0) {
        conn_close(c);
        return;
    }
    c->reading = true;
}

static void close_cb(uv_handle_t *h)
{
    struct bk_conn *c = h->data;
    c->handle_closed = true;
    /* Answered requests can go now; those still being handled elsewhere
     * are freed when their handler completes them. */
    struct bk_req *r = c->head;
    while (r != NULL) {
        struct bk_req *next = r->next;
        if (r->state != BK_REQ_PENDING) {
            unlink_req(c, r);
        }
        r = next;
    }
    conn_free_if_done(c);
}

static void conn_close(struct bk_conn *c)
{
    if (c->closing) {
        return;
    }
    c->closing = true;
    struct bk_shard *s = c->shard;
    if (c->prev != NULL) {
        c->prev->next = c->next;
    } else {
        s->conns = c->next;
    }
    if (c->next != NULL) {
        c->next->prev = c->prev;
    }
    s->nconns--;
    bk_log_debug("net",
                 "conn=%llu shard=%u peer=%s client=\"%s\" "
                 "msg=\"closed\"",
                 (unsigned long long)c->id, s->id, c->peer, c->client_id);
    uv_close((uv_handle_t *)&c->tcp, close_cb);
}

void bk_conn_adopt(struct bk_shard *s, int fd, uint64_t id)
{
    struct bk_conn *c = bk_calloc(1, sizeof(*c));
    if (c == NULL) {
        close(fd);
        return;
    }
    c->shard = s;
    c->id = id;
    c->tcp.data = c;
    uv_tcp_init(&s->loop, &c->tcp);
    int rv = uv_tcp_open(&c->tcp, fd);
    if (rv != 0) {
        close(fd);
        c->closing = true;
        uv_close((uv_handle_t *)&c->tcp, close_cb);
        return;
    }
    uv_tcp_nodelay(&c->tcp, 1);
    struct sockaddr_storage ss;
    int sl = sizeof(ss);
    snprintf(c->peer, sizeof(c->peer), "?");
    if (uv_tcp_getpeername(&c->tcp, (struct sockaddr *)&ss, &sl) == 0) {
        char ip[INET6_ADDRSTRLEN] = "?";
        int port;
        if (ss.ss_family == AF_INET6) {
            struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
            uv_ip6_name(a, ip, sizeof(ip));
            port = ntohs(a->sin6_port);
        } else {
            struct sockaddr_in *a = (struct sockaddr_in *)&ss;
            uv_ip4_name(a, ip, sizeof(ip));
            port = ntohs(a->sin_port);
        }
        snprintf(c->peer, sizeof(c->peer), "%s:%d", ip, port);
    }
    c->next = s->conns;
    if (s->conns != NULL) {
        s->conns->prev = c;
    }
    s->conns = c;
    s->nconns++;
    s->accepted++;
    bk_log_debug("net", "conn=%llu shard=%u peer=%s msg=\"accepted\"",
                 (unsigned long long)id, s->id, c->peer);
    conn_start_reading(c);
}

void bk_conns_drain(struct bk_shard *s)
{
    struct bk_conn *c = s->conns;
    while (c != NULL) {
        struct bk_conn *next = c->next;
        if (c->reading) {
            uv_read_stop((uv_stream_t *)&c->tcp);
            c->reading = false;
        }
        if (c->head == NULL) {
            conn_close(c);
        }
        c = next;
    }
}

void bk_conns_close_all(struct bk_shard *s)
{
    while (s->conns != NULL) {
        conn_close(s->conns);
    }
}
