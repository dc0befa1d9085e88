/* A client connection: Kafka framing, in-order answers, backpressure.
 *
 * Happy path: the socket is watched with a uv_poll handle; on readable,
 * bytes are read and each complete frame (INT32 size, then that many
 * bytes) becomes a bk_req queued on the connection and handed to the upper
 * layer. Answers may complete in any order but are written strictly in
 * request order (the Java client matches each answer to its oldest request
 * in flight): memory pieces with writev, file pieces with sendfile(2), at
 * once when the socket takes them and on writable otherwise. We drive the
 * socket ourselves rather than through uv_tcp_t because libuv has no way to
 * put a sendfile between two writes on a stream.
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
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <string.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "common/assert.h"
#include "common/heap.h"
#include "common/log.h"
#include "net/net_int.h"

/* Below this many missing bytes a frame is filled through the shared buffer;
 * above it, we read straight into the frame. */
#define DIRECT_READ_MIN (16 * 1024)
/* Bytes read from one connection per wake-up, so one busy client cannot
 * starve the others on its shard. */
#define READ_BUDGET (1024 * 1024)
#define MAX_IOV     64

struct bk_conn {
    uv_poll_t poll;
    int fd;
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
    /* Write position inside the head request's answer. */
    unsigned out_chunk;
    size_t out_off;

    bool reading;
    bool want_write;
    bool closing;
    bool handle_closed;
    bool in_flush;
};

#define bk_assert_state(r) bk_assert((r)->state == BK_REQ_PENDING)

static void conn_close(struct bk_conn *c);
static void conn_flush(struct bk_conn *c);
static void update_poll(struct bk_conn *c);
static void poll_cb(uv_poll_t *p, int status, int events);

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
    s->alive--;
    bk_shard_maybe_finish(s);
}

static void req_free(struct bk_req *r)
{
    if (r->on_free != NULL) {
        r->on_free(r);
    }
    bk_arena_destroy(&r->arena);
    bk_free(r->frame);
    bk_free(r);
}

/* Unlinks r from its connection's queue and frees it. */
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

static void update_poll(struct bk_conn *c)
{
    if (c->closing) {
        return;
    }
    bool want_read = !c->shard->stopping && !over_limits(c);
    int events =
        (want_read ? UV_READABLE : 0) | (c->want_write ? UV_WRITABLE : 0);
    c->reading = want_read;
    if (events == 0) {
        uv_poll_stop(&c->poll);
    } else {
        uv_poll_start(&c->poll, events, poll_cb);
    }
}

/* Writes as much of the queue's finished answers as the socket takes.
 * Returns false when the connection was closed. */
static bool write_some(struct bk_conn *c)
{
    for (;;) {
        /* Answers without bytes (acks=0) at the head need no write. */
        while (c->head != NULL && c->head->state != BK_REQ_PENDING &&
               c->out_chunk >= c->head->nchunks) {
            struct bk_req *r = c->head;
            c->head = r->next;
            if (c->head == NULL) {
                c->tail = NULL;
            }
            c->queued--;
            c->queued_out -= r->out_bytes;
            c->out_chunk = 0;
            c->out_off = 0;
            req_free(r);
        }
        struct bk_req *r = c->head;
        if (r == NULL || r->state == BK_REQ_PENDING) {
            c->want_write = false;
            return true;
        }
        r->state = BK_REQ_WRITING;
        const struct bk_out_chunk *ch = &r->chunks[c->out_chunk];
        ssize_t n;
        if (ch->base == NULL) {
            off_t off = (off_t)(ch->offset + (int64_t)c->out_off);
            n = sendfile(c->fd, ch->fd, &off, ch->len - c->out_off);
            if (n == 0) {
                /* The file is shorter than promised (truncated under us):
                 * the frame cannot be completed, so the stream is lost. */
                bk_log_warn("net",
                            "conn=%llu msg=\"file range ended early; "
                            "closing\"",
                            (unsigned long long)c->id);
                conn_close(c);
                return false;
            }
        } else {
            /* Gather this and the following memory pieces, also across
             * finished answers, into one writev. */
            struct iovec iov[MAX_IOV];
            int k = 0;
            struct bk_req *wr = r;
            unsigned ci = c->out_chunk;
            size_t skip = c->out_off;
            while (wr != NULL && wr->state != BK_REQ_PENDING && k < MAX_IOV) {
                if (ci >= wr->nchunks) {
                    wr = wr->next;
                    ci = 0;
                    continue;
                }
                const struct bk_out_chunk *x = &wr->chunks[ci];
                if (x->base == NULL) {
                    break;
                }
                iov[k].iov_base = (char *)x->base + skip;
                iov[k].iov_len = x->len - skip;
                skip = 0;
                k++;
                ci++;
            }
            n = writev(c->fd, iov, k);
        }
        if (n < 0) {
            if (errno == EAGAIN) { /* == EWOULDBLOCK on Linux */
                c->want_write = true;
                return true;
            }
            if (errno == EINTR) {
                continue;
            }
            bk_log_debug("net", "conn=%llu peer=%s msg=\"write: %s\"",
                         (unsigned long long)c->id, c->peer, strerror(errno));
            conn_close(c);
            return false;
        }
        /* Advance the position by n bytes over the pieces. */
        size_t left = (size_t)n;
        while (left > 0 && c->head != NULL) {
            struct bk_req *h = c->head;
            if (c->out_chunk < h->nchunks) {
                const struct bk_out_chunk *x = &h->chunks[c->out_chunk];
                size_t rest = x->len - c->out_off;
                if (left < rest) {
                    c->out_off += left;
                    break;
                }
                left -= rest;
                c->out_chunk++;
                c->out_off = 0;
            }
            if (c->out_chunk >= h->nchunks) {
                c->head = h->next;
                if (c->head == NULL) {
                    c->tail = NULL;
                }
                c->queued--;
                c->queued_out -= h->out_bytes;
                c->out_chunk = 0;
                req_free(h);
            }
        }
    }
}

static void conn_flush(struct bk_conn *c)
{
    if (c->closing || c->in_flush) {
        return;
    }
    c->in_flush = true;
    bool alive = write_some(c);
    c->in_flush = false;
    if (!alive) {
        return;
    }
    if (c->shard->stopping && c->head == NULL) {
        conn_close(c);
        return;
    }
    update_poll(c);
}

static void complete(struct bk_req *r)
{
    struct bk_conn *c = r->conn;
    if (c->closing) {
        unlink_req(c, r);
        conn_free_if_done(c);
        return;
    }
    /* Only the head can be written; a later answer waits for it. */
    if (c->head == r) {
        conn_flush(c);
    }
}

void bk_req_reply_chunks(struct bk_req *r,
                         const struct bk_out_chunk *chunks,
                         unsigned n)
{
    bk_assert_state(r);
    struct bk_out_chunk *copy = NULL;
    if (n > 0) {
        copy = bk_arena_alloc(&r->arena, n * sizeof(*copy));
        if (copy == NULL) {
            bk_req_fail(r, "out of memory for the answer");
            return;
        }
        memcpy(copy, chunks, n * sizeof(*copy));
    }
    size_t bytes = 0;
    for (unsigned i = 0; i < n; i++) {
        bytes += chunks[i].len;
    }
    r->chunks = copy;
    r->nchunks = n;
    r->out_bytes = bytes;
    r->conn->queued_out += bytes;
    r->state = BK_REQ_DONE;
    complete(r);
}

void bk_req_reply(struct bk_req *r, const void *frame, size_t len)
{
    struct bk_out_chunk ch = { .base = frame, .len = len, .fd = -1 };
    bk_req_reply_chunks(r, &ch, 1);
}

void bk_req_noreply(struct bk_req *r)
{
    bk_assert_state(r);
    r->nchunks = 0;
    r->state = BK_REQ_DONE;
    complete(r);
}

void bk_req_fail(struct bk_req *r, const char *why)
{
    bk_assert_state(r);
    struct bk_conn *c = r->conn;
    bk_log_info("net", "conn=%llu peer=%s client=\"%s\" msg=\"closing: %s\"",
                (unsigned long long)c->id, c->peer, c->client_id, why);
    r->nchunks = 0;
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

static void on_readable(struct bk_conn *c)
{
    size_t budget = READ_BUDGET;
    while (budget > 0 && !c->closing && c->reading) {
        bool direct =
            c->frame != NULL && c->frame_len - c->frame_have >= DIRECT_READ_MIN;
        uint8_t *dst = direct ? c->frame + c->frame_have : c->shard->rbuf;
        size_t cap =
            direct ? c->frame_len - c->frame_have : c->shard->rbuf_size;
        ssize_t n = read(c->fd, dst, cap);
        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            if (errno != EAGAIN) { /* == EWOULDBLOCK on Linux */
                bk_log_debug("net", "conn=%llu peer=%s msg=\"read: %s\"",
                             (unsigned long long)c->id, c->peer,
                             strerror(errno));
                conn_close(c);
            }
            return;
        }
        if (n == 0) {
            conn_close(c);
            return;
        }
        budget = (size_t)n >= budget ? 0 : budget - (size_t)n;
        if (direct) {
            c->frame_have += (size_t)n;
            if (c->frame_have == c->frame_len) {
                frame_done(c);
            }
        } else {
            consume(c, c->shard->rbuf, (size_t)n);
        }
        /* The shared buffer is always consumed whole, so pausing here loses
         * nothing; the limits may be overshot by one buffer's frames. */
        if (!c->closing && over_limits(c)) {
            update_poll(c);
            return;
        }
    }
}

static void poll_cb(uv_poll_t *p, int status, int events)
{
    struct bk_conn *c = p->data;
    if (status < 0) {
        bk_log_debug("net", "conn=%llu peer=%s msg=\"poll: %s\"",
                     (unsigned long long)c->id, c->peer, uv_strerror(status));
        conn_close(c);
        return;
    }
    if ((events & UV_WRITABLE) != 0) {
        conn_flush(c);
    }
    if (!c->closing && (events & UV_READABLE) != 0) {
        on_readable(c);
    }
}

static void close_cb(uv_handle_t *h)
{
    struct bk_conn *c = h->data;
    c->handle_closed = true;
    close(c->fd);
    c->fd = -1;
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
    uv_poll_stop(&c->poll);
    uv_close((uv_handle_t *)&c->poll, close_cb);
}

static void peer_name(int fd, char *out, size_t len)
{
    struct sockaddr_storage ss;
    socklen_t sl = sizeof(ss);
    snprintf(out, len, "?");
    if (getpeername(fd, (struct sockaddr *)&ss, &sl) != 0) {
        return;
    }
    char ip[INET6_ADDRSTRLEN] = "?";
    int port;
    if (ss.ss_family == AF_INET6) {
        struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
        inet_ntop(AF_INET6, &a->sin6_addr, ip, sizeof(ip));
        port = ntohs(a->sin6_port);
    } else {
        struct sockaddr_in *a = (struct sockaddr_in *)&ss;
        inet_ntop(AF_INET, &a->sin_addr, ip, sizeof(ip));
        port = ntohs(a->sin_port);
    }
    snprintf(out, len, "%s:%d", ip, port);
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
    c->fd = fd;
    c->poll.data = c;
    if (uv_poll_init(&s->loop, &c->poll, fd) != 0) {
        close(fd);
        bk_free(c);
        return;
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    peer_name(fd, c->peer, sizeof(c->peer));
    c->next = s->conns;
    if (s->conns != NULL) {
        s->conns->prev = c;
    }
    s->conns = c;
    s->nconns++;
    s->alive++;
    s->accepted++;
    bk_log_debug("net", "conn=%llu shard=%u peer=%s msg=\"accepted\"",
                 (unsigned long long)id, s->id, c->peer);
    c->reading = true;
    uv_poll_start(&c->poll, UV_READABLE, poll_cb);
}

void bk_conns_drain(struct bk_shard *s)
{
    struct bk_conn *c = s->conns;
    while (c != NULL) {
        struct bk_conn *next = c->next;
        if (c->head == NULL) {
            conn_close(c);
        } else {
            update_poll(c);
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
