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
 * until the upper layer answers it, and that answer is dropped. A request
 * that takes longer than partial_request_ms to arrive, and a connection
 * idle for max_idle_ms (connections.max.idle.ms), are closed by the
 * shard's sweep.
 *
 * Memory is bounded per frame, not per read. One 64 KiB read can hold
 * thousands of small requests, so the limits are checked before each new
 * frame is taken: with max_inflight requests queued, max_queued_out_bytes
 * of requests and answers held, or the group's queued.max.request.bytes
 * reached, the connection takes no further frame. The bytes already read
 * stay unparsed in the connection's stash and reading stops; once answers
 * drain (or group memory frees), the shard's resume timer parses the stash
 * and reading starts again. A frame once started is always read to its end,
 * so no frame can wait for memory that only other half-read frames hold.
 * The group bound counts the bytes that frames actually occupy, not their
 * declared sizes: Kafka's MemoryPool reserves the declared size, which lets
 * a few connections that send large size prefixes and stop block every
 * other client until they time out; here such a connection holds only what
 * it sent, and connection.partial.request.timeout.ms closes it.
 *
 * Frame buffers above FRAME_EAGER_MAX grow as bytes arrive (doubling, from
 * FRAME_FIRST_CHUNK), so a
 * connection that sends only a large size prefix costs a small buffer, not
 * the declared size.
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
#include "common/diag.h"
#include "common/heap.h"
#include "metrics/metrics.h"
#include "net/net_int.h"
#include "net/tls.h"
#include "security/principal.h"

/* Below this many missing bytes a frame is filled through the shared buffer;
 * above it, we read straight into the frame. */
#define DIRECT_READ_MIN (16 * 1024)
/* Bytes read from, and requests taken from, one connection per wake-up,
 * so one busy client cannot starve the others on its shard: a 64 KiB read
 * can hold thousands of small requests, and a client that pipelines them
 * would otherwise keep its shard to itself for as long as it sends. The
 * rest waits in the stash for the next turn of the loop. */
#define READ_BUDGET  (1024 * 1024)
#define FRAME_BUDGET 64
#define MAX_IOV      64
/* Frames up to this size get their whole buffer at once; larger ones grow
 * as their bytes arrive. Produce batches are at most 1 MiB by default in
 * the Java client and librdkafka, so the common path never reallocates. */
#define FRAME_EAGER_MAX   (1024 * 1024)
#define FRAME_FIRST_CHUNK (64 * 1024)
/* Requests a shard takes before a quiet second hands freed memory back. */
#define TRIM_AFTER_REQUESTS 1000
/* How often a connection waiting for group memory looks again. */
#define MEM_RETRY_MS 10
/* TLS answers are gathered into a buffer of this size per connection and
 * encrypted from there (file ranges are read into it): a few records per
 * write, and the bytes stay put while a write waits for the socket, as
 * OpenSSL wants for its retry. It is held only while answers are being
 * written. */
#define TLS_OUT_CAP (64 * 1024)

struct bk_conn {
    uv_poll_t poll;
    int fd;
    struct bk_shard *shard;
    struct bk_conn *prev, *next; /* shard's list */
    uint64_t id;
    char peer[64];
    char client_id[64];
    struct bk_conn_origin origin;

    uint8_t key[16];      /* peer address, as counted in the group's limits */
    uint64_t accepted_at; /* loop time of the accept */

    /* SSL listeners: the session (owned), and answer bytes already taken
     * from the queue but not yet accepted by it. */
    struct bk_tls *tls;
    uint8_t *tls_out; /* owned, TLS_OUT_CAP bytes once used */
    size_t tls_out_len;
    /* The session's last read or write waits for the other direction
     * (handshake bytes to send, or to receive). */
    bool tls_read_wants_write;
    bool tls_write_wants_read;
    bool tls_announced;

    uint8_t size_buf[4];
    unsigned size_have;
    bool in_frame;  /* a size prefix arrived; its body is being read */
    uint8_t *frame; /* owned: frame being read (NULL until bytes arrive) */
    size_t frame_len;
    size_t frame_cap;
    size_t frame_have;
    uint64_t frame_started; /* loop time of the frame's first byte */
    uint64_t last_active;   /* loop time of the last byte in or out */

    /* Bytes read but not yet cut into frames, kept while the connection is
     * over a limit; parsed before anything more is read. */
    uint8_t *stash; /* owned */
    size_t stash_len;
    size_t stash_off;

    struct bk_req *head, *tail; /* owned: requests in order */
    unsigned queued;            /* requests in the queue */
    /* Bytes held for the queue: request frames (counted from when their
     * size arrives until they are freed) and answers waiting or being
     * written. Compared with max_queued_out_bytes. */
    size_t queued_out;
    struct bk_conn *rnext, *rprev; /* shard's resume list */
    bool resume_queued;
    bool parsing;
    uint64_t next_seq;
    /* Write position inside the head request's answer. */
    unsigned out_chunk;
    size_t out_off;

    /* Loop time until which no new frame is taken (bk_conn_mute); 0 or
     * past when not muted. */
    uint64_t muted_until;

    bool reading;
    bool want_write;
    bool closing;
    bool handle_closed;
    bool in_flush;
    struct bk_conn_auth auth; /* SASL listeners (sasl_conn.c) */
    /* The upper layer's hook, run once when the connection closes. */
    void (*on_close)(void *data);
    void *on_close_data;
};

#define bk_assert_state(r) bk_assert((r)->state == BK_REQ_PENDING)

static void conn_close(struct bk_conn *c, enum bk_mx_close why);
static void conn_flush(struct bk_conn *c);
static void update_poll(struct bk_conn *c);
static void poll_cb(uv_poll_t *p, int status, int events);

uint64_t bk_conn_id(const struct bk_conn *c)
{
    return c->id;
}

unsigned bk_conn_listener(const struct bk_conn *c)
{
    return c->origin.listener;
}

const char *bk_conn_principal(const struct bk_conn *c)
{
    /* Kafka: on SASL_SSL the SASL identity wins over a certificate. */
    if (c->auth.required) {
        return c->auth.principal != NULL ? c->auth.principal
                                         : BK_PRINCIPAL_ANONYMOUS;
    }
    return c->tls != NULL ? bk_tls_principal(c->tls) : BK_PRINCIPAL_ANONYMOUS;
}

struct bk_conn_auth *bk_conn_auth_of(struct bk_conn *c)
{
    return &c->auth;
}

const struct bk_conn_auth *bk_conn_auth_of_const(const struct bk_conn *c)
{
    return &c->auth;
}

/* Whether answer bytes wait to be written (in the queue or, with TLS, in
 * the connection's buffer). */
static bool has_output(const struct bk_conn *c)
{
    return c->head != NULL || c->tls_out_len > 0;
}

const char *bk_conn_peer(const struct bk_conn *c)
{
    return c->peer;
}

void bk_conn_mute(struct bk_conn *c, uint64_t ms)
{
    if (c->closing || ms == 0) {
        return;
    }
    uint64_t until = uv_now(&c->shard->loop) + ms;
    if (until > c->muted_until) {
        c->muted_until = until;
    }
    /* Frames already read stay in the stash until the mute ends; the
     * resume list brings the connection back then. */
    update_poll(c);
}

const char *bk_conn_client_id(const struct bk_conn *c)
{
    return c->client_id;
}

void bk_conn_set_client_id(struct bk_conn *c, const char *id, size_t len)
{
    /* Kept escaped: it goes into log lines, which stay one line of valid
     * UTF-8 whatever bytes the client sent (NUL, quotes, 0x80 and up). */
    bk_diag_escape(c->client_id, sizeof(c->client_id), id, len);
}

/* Counts delta request bytes against queued.max.request.bytes. A shard
 * publishes to the shared total only when its own change reaches mem_step,
 * so that the hot path writes no shared cache line. */
static void mem_add(struct bk_shard *s, int64_t delta)
{
    struct bk_shards *g = s->group;
    if (g->cfg.max_queued_request_bytes == 0) {
        return;
    }
    s->mem_unpublished += delta;
    int64_t step = (int64_t)g->mem_step;
    if (s->mem_unpublished >= step || s->mem_unpublished <= -step) {
        atomic_fetch_add_explicit(&g->mem_used, s->mem_unpublished,
                                  memory_order_relaxed);
        s->mem_unpublished = 0;
    }
}

static bool mem_full(const struct bk_shard *s)
{
    size_t limit = s->group->cfg.max_queued_request_bytes;
    if (limit == 0) {
        return false;
    }
    int64_t used =
        atomic_load_explicit(&s->group->mem_used, memory_order_relaxed) +
        s->mem_unpublished;
    return used >= (int64_t)limit;
}

static void resume_unlink(struct bk_conn *c)
{
    struct bk_shard *s = c->shard;
    if (!c->resume_queued) {
        return;
    }
    if (c->rprev != NULL) {
        c->rprev->rnext = c->rnext;
    } else {
        s->resume_head = c->rnext;
    }
    if (c->rnext != NULL) {
        c->rnext->rprev = c->rprev;
    } else {
        s->resume_tail = c->rprev;
    }
    c->rnext = c->rprev = NULL;
    c->resume_queued = false;
    s->resume_count--;
}

/* Has the shard look at c again after delay_ms (0: on the next turn of
 * the loop, outside the call stack that asked). */
static void resume_schedule(struct bk_conn *c, uint64_t delay_ms)
{
    struct bk_shard *s = c->shard;
    if (!c->resume_queued) {
        c->resume_queued = true;
        c->rnext = NULL;
        c->rprev = s->resume_tail;
        if (s->resume_tail != NULL) {
            s->resume_tail->rnext = c;
        } else {
            s->resume_head = c;
        }
        s->resume_tail = c;
        s->resume_count++;
    }
    /* One timer for every waiting connection: it fires at the earliest
     * wait (a muted connection may wait for seconds, another for 10 ms). */
    if (delay_ms == 0 || !uv_is_active((uv_handle_t *)&s->resume_timer) ||
        delay_ms < uv_timer_get_due_in(&s->resume_timer)) {
        uv_timer_start(&s->resume_timer, bk_conns_resume_cb, delay_ms, 0);
    }
}

static void conn_free_if_done(struct bk_conn *c)
{
    if (!c->handle_closed || c->head != NULL) {
        return;
    }
    struct bk_shard *s = c->shard;
    if (c->in_frame) {
        mem_add(s, -(int64_t)c->frame_cap);
    }
    bk_free(c->frame);
    bk_free(c->stash);
    bk_conn_auth_free(&c->auth);
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

/* Gives back what r held (its place in the queue, its frame and answer
 * bytes) and frees it; r must already be out of the queue's links. */
static void req_release(struct bk_conn *c, struct bk_req *r)
{
    c->queued--;
    c->queued_out -= r->out_bytes + r->held;
    mem_add(c->shard, -(int64_t)r->held);
    req_free(r);
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
    req_release(c, r);
}

static bool over_limits(const struct bk_conn *c)
{
    const struct bk_net_config *cfg = &c->shard->group->cfg;
    return c->queued >= cfg->max_inflight ||
           c->queued_out >= cfg->max_queued_out_bytes;
}

static bool muted(const struct bk_conn *c)
{
    return c->muted_until != 0 && uv_now(&c->shard->loop) < c->muted_until;
}

/* Whether c may start on another frame now. Before SASL authentication,
 * one request at a time (security-notes.md §11), and none once a failed
 * authentication is being answered. */
static bool auth_blocked(const struct bk_conn *c)
{
    return c->auth.close_after_write ||
           (bk_conn_auth_pending(c) && c->queued > 0);
}

static bool may_take_frame(const struct bk_conn *c)
{
    return !auth_blocked(c) && !over_limits(c) && !mem_full(c->shard) &&
           !muted(c);
}

static void update_poll(struct bk_conn *c)
{
    if (c->closing) {
        return;
    }
    struct bk_shard *s = c->shard;
    bool want_read = false;
    if (!s->stopping) {
        /* A frame once started is read to its end (its bytes are
         * reserved); between frames, only within the limits and once the
         * stash is parsed, so that requests keep their order. */
        want_read = c->in_frame || (c->stash == NULL && may_take_frame(c));
        /* Blocked by a limit, the connection is looked at again when an
         * answer is written (conn_flush), not polled. */
        if (!c->in_frame && !over_limits(c) && !auth_blocked(c)) {
            if (muted(c)) {
                resume_schedule(c, c->muted_until - uv_now(&s->loop));
            } else if (mem_full(s)) {
                resume_schedule(c, MEM_RETRY_MS);
            } else if (c->stash != NULL) {
                resume_schedule(c, 0);
            }
        }
    }
    c->reading = want_read;
    bool readable = want_read || c->tls_write_wants_read;
    bool writable = c->want_write || (want_read && c->tls_read_wants_write);
    if (want_read && c->tls != NULL && bk_tls_pending(c->tls)) {
        /* Bytes inside the session do not make the socket readable. */
        resume_schedule(c, 0);
    }
    int events = (readable ? UV_READABLE : 0) | (writable ? UV_WRITABLE : 0);
    if (events == 0) {
        uv_poll_stop(&c->poll);
    } else {
        uv_poll_start(&c->poll, events, poll_cb);
    }
}

/* Unlinks the head answer from the queue and releases it. */
/* Counts how long an answered request took, by phase, for /metrics. */
static void count_latency(struct bk_shard *s, const struct bk_req *r)
{
    if (s->metrics == NULL || r->mx_api < 0) {
        return;
    }
    uint64_t now = uv_hrtime();
    uint64_t handle = (r->t_reply_ns - r->t_frame_ns) / 1000;
    bk_mx_latency(s->metrics, r->mx_api, BK_MX_HANDLE, handle);
    bk_mx_latency(s->metrics, r->mx_api, BK_MX_SEND,
                  (now - r->t_reply_ns) / 1000);
    bk_mx_latency(s->metrics, r->mx_api, BK_MX_TOTAL,
                  (now - r->t_frame_ns) / 1000);
}

/* The request log: every answered request at debug level, and a warning
 * for one slower than log.slow.request.ms, both rate-limited per line kind
 * so that a busy broker at debug level cannot fill the disk. The latency
 * is Kafka's totalTime: from the request read to its answer written. */
static void log_request(const struct bk_conn *c, const struct bk_req *r)
{
    if (r->log_api == NULL) {
        return;
    }
    uint64_t us = (uv_hrtime() - r->t_frame_ns) / 1000;
    int64_t slow_ms = c->shard->group->cfg.slow_request_ms;
    char err[24] = "";
    if (r->log_error != BK_REQ_NO_ERROR) {
        snprintf(err, sizeof(err), " error_code=%d", r->log_error);
    }
    if (slow_ms >= 0 && !r->log_waits && us >= (uint64_t)slow_ms * 1000) {
        bk_diag_limited(BK_DIAG_WARN, "request", 20,
                        "conn=%llu peer=%s client=\"%s\" api=%s version=%d "
                        "latency_us=%llu%s msg=\"slow request\"",
                        (unsigned long long)c->id, c->peer, c->client_id,
                        r->log_api, r->log_version, (unsigned long long)us,
                        err);
        return;
    }
    bk_diag_limited(BK_DIAG_DEBUG, "request", 1000,
                    "conn=%llu peer=%s client=\"%s\" api=%s version=%d "
                    "latency_us=%llu%s",
                    (unsigned long long)c->id, c->peer, c->client_id,
                    r->log_api, r->log_version, (unsigned long long)us, err);
}

static void release_head(struct bk_conn *c)
{
    struct bk_req *r = c->head;
    count_latency(c->shard, r);
    log_request(c, r);
    c->head = r->next;
    if (c->head == NULL) {
        c->tail = NULL;
    }
    c->out_chunk = 0;
    req_release(c, r);
}

/* Releases finished answers at the head that have nothing (left) to write:
 * answers without bytes (acks=0) need no write. */
static void release_empty_heads(struct bk_conn *c)
{
    while (c->head != NULL && c->head->state != BK_REQ_PENDING &&
           c->out_chunk >= c->head->nchunks) {
        c->out_off = 0;
        release_head(c);
    }
}

/* Gathers the memory pieces from the write position on, also across
 * finished answers, into iov, stopping at a file piece, a pending answer
 * or MAX_IOV pieces. Returns the number of pieces. */
static int gather_iov(const struct bk_conn *c, struct iovec iov[MAX_IOV])
{
    int k = 0;
    struct bk_req *wr = c->head;
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
    return k;
}

/* Advances the write position by n written bytes over the pieces,
 * releasing each answer once all of it is written. */
static void advance_written(struct bk_conn *c, size_t n)
{
    size_t left = n;
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
            release_head(c);
        }
    }
}

/* One write of the head answer's current piece: sendfile(2) for a file
 * piece, else one writev of the memory pieces from here on. Returns what
 * the system call returned (errno set when negative). */
static ssize_t write_once(struct bk_conn *c)
{
    const struct bk_out_chunk *ch = &c->head->chunks[c->out_chunk];
    if (ch->base == NULL) {
        off_t off = (off_t)(ch->offset + (int64_t)c->out_off);
        return sendfile(c->fd, ch->fd, &off, ch->len - c->out_off);
    }
    struct iovec iov[MAX_IOV];
    int k = gather_iov(c, iov);
    return writev(c->fd, iov, k);
}

/* Copies finished answers from the write position into tls_out, reading
 * file pieces with pread, and moves the position past them. Returns the
 * bytes taken, or -1 when a file range ended early. */
static ssize_t tls_fill(struct bk_conn *c)
{
    size_t k = 0;
    while (k < TLS_OUT_CAP) {
        release_empty_heads(c);
        struct bk_req *r = c->head;
        if (r == NULL || r->state == BK_REQ_PENDING) {
            break;
        }
        r->state = BK_REQ_WRITING;
        const struct bk_out_chunk *ch = &r->chunks[c->out_chunk];
        if (ch->base == NULL && bk_tls_can_sendfile(c->tls)) {
            break; /* kTLS sends it without a copy (tls_next) */
        }
        size_t n = ch->len - c->out_off;
        if (n > TLS_OUT_CAP - k) {
            n = TLS_OUT_CAP - k;
        }
        if (ch->base != NULL) {
            memcpy(c->tls_out + k, (const char *)ch->base + c->out_off, n);
        } else {
            ssize_t got = pread(ch->fd, c->tls_out + k, n,
                                (off_t)(ch->offset + (int64_t)c->out_off));
            if (got <= 0) {
                return -1;
            }
            n = (size_t)got;
        }
        k += n;
        advance_written(c, n);
    }
    return (ssize_t)k;
}

/* The next piece of TLS output: a file range sent with kTLS straight
 * from the page cache, or tls_out refilled. Returns false when the
 * connection was closed; *sent says whether bytes went out already. */
static bool tls_next(struct bk_conn *c, bool *sent, bool *blocked)
{
    *sent = *blocked = false;
    release_empty_heads(c);
    struct bk_req *r = c->head;
    if (r == NULL || r->state == BK_REQ_PENDING) {
        return true;
    }
    const struct bk_out_chunk *ch = &r->chunks[c->out_chunk];
    if (ch->base == NULL && bk_tls_can_sendfile(c->tls)) {
        r->state = BK_REQ_WRITING;
        ssize_t n = bk_tls_sendfile(c->tls, ch->fd,
                                    (off_t)(ch->offset + (int64_t)c->out_off),
                                    ch->len - c->out_off);
        if (n == BK_EAGAIN) {
            *blocked = true;
            return true;
        }
        if (n <= 0) {
            return false;
        }
        advance_written(c, (size_t)n);
        *sent = true;
        return true;
    }
    if (c->tls_out == NULL && (c->tls_out = bk_malloc(TLS_OUT_CAP)) == NULL) {
        return false;
    }
    ssize_t k = tls_fill(c);
    if (k < 0) {
        return false;
    }
    c->tls_out_len = (size_t)k;
    return true;
}

/* write_some for a TLS connection: the buffer goes out whole (OpenSSL
 * retries it as it is), then the next is taken from the queue. */
static bool tls_write_some(struct bk_conn *c)
{
    for (;;) {
        c->tls_write_wants_read = false;
        if (c->tls_out_len == 0) {
            bool sent, blocked;
            if (!tls_next(c, &sent, &blocked)) {
                bk_diag_debug("net", "conn=%llu peer=%s msg=\"write: %s\"",
                              (unsigned long long)c->id, c->peer,
                              bk_tls_error(c->tls));
                conn_close(c, BK_MX_CLOSE_PEER);
                return false;
            }
            if (blocked || (!sent && c->tls_out_len == 0)) {
                c->want_write = blocked && bk_tls_wants_write(c->tls);
                c->tls_write_wants_read = blocked && !c->want_write;
                if (!blocked) {
                    /* Drained: an idle connection holds no buffer, so ten
                     * thousand of them do not pin 640 MB. */
                    bk_free(c->tls_out);
                    c->tls_out = NULL;
                }
                return true;
            }
            if (sent) {
                c->last_active = uv_now(&c->shard->loop);
                continue;
            }
        }
        ssize_t n = bk_tls_write(c->tls, c->tls_out, c->tls_out_len);
        if (n == BK_EAGAIN) {
            c->want_write = bk_tls_wants_write(c->tls);
            c->tls_write_wants_read = !c->want_write;
            return true;
        }
        if (n < 0) {
            bk_diag_debug("net", "conn=%llu peer=%s msg=\"write: %s\"",
                          (unsigned long long)c->id, c->peer,
                          bk_tls_error(c->tls));
            conn_close(c, BK_MX_CLOSE_PEER);
            return false;
        }
        c->tls_out_len = 0;
        c->last_active = uv_now(&c->shard->loop);
    }
}

/* Writes as much of the queue's finished answers as the socket takes.
 * Returns false when the connection was closed. */
static bool write_some(struct bk_conn *c)
{
    if (c->tls != NULL) {
        return tls_write_some(c);
    }
    for (;;) {
        release_empty_heads(c);
        struct bk_req *r = c->head;
        if (r == NULL || r->state == BK_REQ_PENDING) {
            c->want_write = false;
            return true;
        }
        r->state = BK_REQ_WRITING;
        bool file = r->chunks[c->out_chunk].base == NULL;
        ssize_t n = write_once(c);
        if (n == 0 && file) {
            /* The file is shorter than promised (truncated under us): the
             * frame cannot be completed, so the stream is lost. */
            bk_diag_warn("net",
                         "conn=%llu msg=\"file range ended early; "
                         "closing\"",
                         (unsigned long long)c->id);
            conn_close(c, BK_MX_CLOSE_PEER);
            return false;
        }
        if (n < 0) {
            if (errno == EAGAIN) { /* == EWOULDBLOCK on Linux */
                c->want_write = true;
                return true;
            }
            if (errno == EINTR) {
                continue;
            }
            bk_diag_debug("net", "conn=%llu peer=%s msg=\"write: %s\"",
                          (unsigned long long)c->id, c->peer, strerror(errno));
            conn_close(c, BK_MX_CLOSE_PEER);
            return false;
        }
        c->last_active = uv_now(&c->shard->loop);
        advance_written(c, (size_t)n);
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
    if (c->shard->stopping && !has_output(c)) {
        conn_close(c, BK_MX_CLOSE_SHUTDOWN);
        return;
    }
    if (c->auth.close_after_write && !has_output(c)) {
        conn_close(c, BK_MX_CLOSE_PROTOCOL);
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
    r->t_reply_ns = uv_hrtime();
    complete(r);
}

void bk_req_reply(struct bk_req *r, const void *frame, size_t len)
{
    struct bk_out_chunk ch = { .base = frame, .len = len, .fd = -1 };
    bk_req_reply_chunks(r, &ch, 1);
}

void bk_req_reply_close(struct bk_req *r, const void *frame, size_t len)
{
    bk_conn_close_after_answers(r->conn);
    bk_req_reply(r, frame, len);
}

void bk_req_noreply(struct bk_req *r)
{
    bk_assert_state(r);
    r->nchunks = 0;
    r->state = BK_REQ_DONE;
    r->t_reply_ns = uv_hrtime();
    complete(r);
}

void bk_req_fail(struct bk_req *r, const char *why)
{
    bk_assert_state(r);
    struct bk_conn *c = r->conn;
    bk_diag_info("net", "conn=%llu peer=%s client=\"%s\" msg=\"closing: %s\"",
                 (unsigned long long)c->id, c->peer, c->client_id, why);
    r->nchunks = 0;
    r->state = BK_REQ_DONE;
    if (c->closing) {
        unlink_req(c, r);
        conn_free_if_done(c);
        return;
    }
    conn_close(c, BK_MX_CLOSE_PROTOCOL);
}

static void frame_done(struct bk_conn *c)
{
    struct bk_req *r = bk_calloc(1, sizeof(*r));
    if (r == NULL) {
        bk_diag_error("net", "conn=%llu msg=\"out of memory for a request\"",
                      (unsigned long long)c->id);
        conn_close(c, BK_MX_CLOSE_OTHER);
        return;
    }
    r->conn = c;
    r->shard = c->shard;
    r->seq = c->next_seq++;
    r->mx_api = -1;
    r->log_error = BK_REQ_NO_ERROR;
    r->t_frame_ns = uv_hrtime();
    r->frame = c->frame;
    r->frame_len = c->frame_len;
    /* What the frame counts for moves from the connection to the request
     * (complete, its buffer is exactly frame_len). */
    r->held = c->frame_len;
    bk_arena_init(&r->arena, 4096, c->shard->group->cfg.request_arena_limit);
    c->frame = NULL;
    c->frame_len = c->frame_have = c->frame_cap = 0;
    c->in_frame = false;
    c->size_have = 0;
    if (c->tail != NULL) {
        c->tail->next = r;
    } else {
        c->head = r;
    }
    c->tail = r;
    c->queued++;
    c->shard->reqs_tick++;
    c->shard->group->on_request(r);
}

/* Makes room in the frame buffer for at least min(want, missing) more
 * bytes, doubling it, so a large frame costs O(log n) copies at most and
 * only as its bytes actually arrive. False if the connection closed. */
static bool frame_room(struct bk_conn *c, size_t want)
{
    size_t missing = c->frame_len - c->frame_have;
    size_t need = c->frame_have + (want < missing ? want : missing);
    if (need <= c->frame_cap && c->frame != NULL) {
        return true;
    }
    size_t cap = c->frame_cap * 2;
    if (cap < need) {
        cap = need;
    }
    if (cap > c->frame_len) {
        cap = c->frame_len;
    }
    uint8_t *grown = bk_realloc(c->frame, cap > 0 ? cap : 1);
    if (grown == NULL) {
        bk_diag_error("net",
                      "conn=%llu msg=\"out of memory for a %zu byte "
                      "request\"",
                      (unsigned long long)c->id, c->frame_len);
        conn_close(c, BK_MX_CLOSE_OTHER);
        return false;
    }
    mem_add(c->shard, (int64_t)(cap - c->frame_cap));
    c->frame = grown;
    c->frame_cap = cap;
    return true;
}

/* Starts a frame after its size prefix; false if the connection closed. */
static bool frame_start(struct bk_conn *c)
{
    uint32_t raw = ((uint32_t)c->size_buf[0] << 24) |
                   ((uint32_t)c->size_buf[1] << 16) |
                   ((uint32_t)c->size_buf[2] << 8) | c->size_buf[3];
    int32_t size = (int32_t)raw;
    size_t normal = c->shard->group->cfg.max_request_bytes;
    size_t max = bk_conn_auth_max_frame(&c->auth, normal);
    /* Checked before any allocation (Kafka's InvalidReceiveException). */
    if (size < 0 || (size_t)size > max) {
        bk_diag_info("net",
                     "conn=%llu peer=%s msg=\"closing: request size %d is "
                     "outside 0..%zu (%s)\"",
                     (unsigned long long)c->id, c->peer, size, max,
                     max == normal ? "socket.request.max.bytes"
                                   : "sasl.server.max.receive.size before "
                                     "authentication");
        conn_close(c, BK_MX_CLOSE_PROTOCOL);
        return false;
    }
    c->in_frame = true;
    c->frame_len = (size_t)size;
    c->frame_have = 0;
    c->frame_cap = 0;
    /* The connection's own bound counts the declared size from now (it
     * is at most socket.request.max.bytes); memory is taken, and counted
     * against the group bound, only as the bytes arrive. */
    c->queued_out += c->frame_len;
    if (!frame_room(c, c->frame_len <= FRAME_EAGER_MAX ? FRAME_EAGER_MAX
                                                       : FRAME_FIRST_CHUNK)) {
        return false;
    }
    if (c->frame_len == 0) {
        frame_done(c);
    }
    return !c->closing;
}

/* Cuts p[0..n) into frames, and stops at a frame boundary as soon as the
 * connection may take no further frame or *budget frames were taken.
 * Returns the bytes used. */
static size_t consume(struct bk_conn *c,
                      const uint8_t *p,
                      size_t n,
                      unsigned *budget)
{
    size_t used = 0;
    while (used < n && !c->closing) {
        if (!c->in_frame) {
            if (c->size_have == 0) {
                if (*budget == 0 || !may_take_frame(c)) {
                    break;
                }
                (*budget)--;
                c->frame_started = uv_now(&c->shard->loop);
            }
            size_t take = 4 - c->size_have;
            if (take > n - used) {
                take = n - used;
            }
            memcpy(c->size_buf + c->size_have, p + used, take);
            c->size_have += (unsigned)take;
            used += take;
            if (c->size_have == 4 && !frame_start(c)) {
                break;
            }
            continue;
        }
        size_t take = c->frame_len - c->frame_have;
        if (take > n - used) {
            take = n - used;
        }
        if (!frame_room(c, take)) {
            break;
        }
        memcpy(c->frame + c->frame_have, p + used, take);
        c->frame_have += take;
        used += take;
        if (c->frame_have == c->frame_len) {
            frame_done(c);
        }
    }
    return used;
}

/* Keeps p[0..n), read but not parsed, until the connection may go on. */
static void stash_keep(struct bk_conn *c, const uint8_t *p, size_t n)
{
    bk_assert(c->stash == NULL);
    c->stash = bk_malloc(n);
    if (c->stash == NULL) {
        bk_diag_error("net", "conn=%llu msg=\"out of memory for read bytes\"",
                      (unsigned long long)c->id);
        conn_close(c, BK_MX_CLOSE_OTHER);
        return;
    }
    memcpy(c->stash, p, n);
    c->stash_len = n;
    c->stash_off = 0;
}

/* read(2), or a TLS read, with read's results; -2 when a failed TLS
 * session closed the connection. */
static ssize_t conn_read(struct bk_conn *c, uint8_t *dst, size_t cap)
{
    if (c->tls == NULL) {
        return read(c->fd, dst, cap);
    }
    c->tls_read_wants_write = false;
    ssize_t n = bk_tls_read(c->tls, dst, cap);
    if (!c->tls_announced && bk_tls_established(c->tls) && n != BK_EPROTO) {
        c->tls_announced = true;
        bk_diag_debug("net",
                      "conn=%llu peer=%s tls=%s principal=\"%s\" "
                      "ktls_send=%s msg=\"TLS established\"",
                      (unsigned long long)c->id, c->peer,
                      bk_tls_version(c->tls), bk_tls_principal(c->tls),
                      bk_tls_can_sendfile(c->tls) ? "yes" : "no");
    }
    if (n >= 0) {
        return n;
    }
    if (n == BK_EAGAIN) {
        if (bk_tls_wants_write(c->tls)) {
            c->tls_read_wants_write = true;
            update_poll(c);
        }
        errno = EAGAIN;
        return -1;
    }
    /* Kafka logs a failed SSL handshake at INFO and closes. */
    bk_diag_info("net", "conn=%llu peer=%s msg=\"closing: %s\"",
                 (unsigned long long)c->id, c->peer, bk_tls_error(c->tls));
    conn_close(c, BK_MX_CLOSE_PROTOCOL);
    return -2;
}

static void read_some(struct bk_conn *c)
{
    size_t budget = READ_BUDGET;
    unsigned frames = FRAME_BUDGET;
    while (budget > 0 && !c->closing && c->reading) {
        bool direct =
            c->in_frame && c->frame_len - c->frame_have >= DIRECT_READ_MIN;
        if (direct && !frame_room(c, DIRECT_READ_MIN)) {
            return;
        }
        uint8_t *dst = direct ? c->frame + c->frame_have : c->shard->rbuf;
        size_t cap =
            direct ? c->frame_cap - c->frame_have : c->shard->rbuf_size;
        ssize_t n = conn_read(c, dst, cap);
        if (n == -2) {
            return; /* the session closed the connection */
        }
        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            if (errno != EAGAIN) { /* == EWOULDBLOCK on Linux */
                bk_diag_debug("net", "conn=%llu peer=%s msg=\"read: %s\"",
                              (unsigned long long)c->id, c->peer,
                              strerror(errno));
                conn_close(c, BK_MX_CLOSE_PEER);
            }
            return;
        }
        if (n == 0) {
            conn_close(c, BK_MX_CLOSE_PEER);
            return;
        }
        c->last_active = uv_now(&c->shard->loop);
        budget = (size_t)n >= budget ? 0 : budget - (size_t)n;
        if (direct) {
            c->frame_have += (size_t)n;
            if (c->frame_have == c->frame_len) {
                frame_done(c);
            }
        } else {
            size_t used = consume(c, c->shard->rbuf, (size_t)n, &frames);
            if (used < (size_t)n && !c->closing) {
                stash_keep(c, c->shard->rbuf + used, (size_t)n - used);
            }
        }
        if (!c->closing && (c->stash != NULL || !c->reading ||
                            (!c->in_frame && !may_take_frame(c)))) {
            update_poll(c);
            return;
        }
        if (frames == 0) {
            /* Out of turn: the socket stays readable, so level-triggered
             * polling brings us back after the others had theirs. */
            return;
        }
    }
}

/* Reads what the connection may take now. Out of turn, a plaintext
 * socket stays readable and level-triggered polling brings us back; a
 * TLS session may hold the rest already, which the socket does not show,
 * so the shard comes back through the resume list instead. */
static void on_readable(struct bk_conn *c)
{
    read_some(c);
    if (!c->closing && c->reading && c->tls != NULL && bk_tls_pending(c->tls)) {
        resume_schedule(c, 0);
    }
}

/* Parses what c kept while over a limit, then lets it read again. */
static void resume_conn(struct bk_conn *c)
{
    if (c->closing) {
        return;
    }
    if (c->stash != NULL && may_take_frame(c)) {
        unsigned frames = FRAME_BUDGET;
        size_t used = consume(c, c->stash + c->stash_off,
                              c->stash_len - c->stash_off, &frames);
        c->stash_off += used;
        if (c->closing) {
            return;
        }
        if (c->stash_off == c->stash_len) {
            bk_free(c->stash);
            c->stash = NULL;
            c->stash_len = c->stash_off = 0;
        }
    }
    if (c->stash == NULL && c->tls != NULL && bk_tls_pending(c->tls) &&
        (c->in_frame || may_take_frame(c))) {
        c->reading = true;
        on_readable(c);
        if (c->closing) {
            return;
        }
    }
    update_poll(c);
}

void bk_conns_resume_cb(uv_timer_t *t)
{
    struct bk_shard *s = t->data;
    /* Only those queued now: a connection still blocked queues itself
     * again behind them. */
    unsigned n = s->resume_count;
    while (n-- > 0 && s->resume_head != NULL) {
        struct bk_conn *c = s->resume_head;
        resume_unlink(c);
        resume_conn(c);
    }
}

/* After a burst of requests, once the shard is quiet, hands what the
 * burst freed back to the system: glibc keeps it in the shard thread's
 * arena otherwise (a burst of pipelined requests left 9 GB behind).
 * docs/memory.md has the figures behind this choice. */
static void trim_after_burst(struct bk_shard *s)
{
    s->reqs_since_trim += s->reqs_tick;
    bool quiet = s->reqs_tick == 0;
    s->reqs_tick = 0;
    if (quiet && s->reqs_since_trim >= TRIM_AFTER_REQUESTS) {
        s->reqs_since_trim = 0;
        bk_heap_trim();
    }
}

void bk_conns_sweep_cb(uv_timer_t *t)
{
    struct bk_shard *s = t->data;
    const struct bk_net_config *cfg = &s->group->cfg;
    uint64_t now = uv_now(&s->loop);
    trim_after_burst(s);
    struct bk_conn *c = s->conns;
    while (c != NULL) {
        struct bk_conn *next = c->next;
        bool partial = c->in_frame || c->size_have > 0;
        if (c->tls != NULL && !bk_tls_established(c->tls) &&
            cfg->partial_request_ms > 0 &&
            now - c->accepted_at >= cfg->partial_request_ms) {
            /* A stalled handshake holds a session; bound it like a
             * request that stalls. */
            bk_diag_info("net",
                         "conn=%llu peer=%s msg=\"closing: no TLS handshake "
                         "within %llu ms\"",
                         (unsigned long long)c->id, c->peer,
                         (unsigned long long)cfg->partial_request_ms);
            conn_close(c, BK_MX_CLOSE_IDLE);
        } else if (partial && cfg->partial_request_ms > 0 &&
                   now - c->frame_started >= cfg->partial_request_ms) {
            bk_diag_info("net",
                         "conn=%llu peer=%s client=\"%s\" msg=\"closing: a "
                         "request took over %llu ms to arrive (%zu of %zu "
                         "bytes)\"",
                         (unsigned long long)c->id, c->peer, c->client_id,
                         (unsigned long long)cfg->partial_request_ms,
                         c->frame_have, c->frame_len);
            conn_close(c, BK_MX_CLOSE_IDLE);
        } else if (!partial && !has_output(c) && c->stash == NULL &&
                   cfg->max_idle_ms > 0 &&
                   now - c->last_active >= cfg->max_idle_ms) {
            /* Kafka closes idle connections without a word to the client;
             * clients reconnect on their next request. */
            bk_diag_debug("net", "conn=%llu peer=%s msg=\"closing: idle\"",
                          (unsigned long long)c->id, c->peer);
            conn_close(c, BK_MX_CLOSE_IDLE);
        }
        c = next;
    }
}

static void poll_cb(uv_poll_t *p, int status, int events)
{
    struct bk_conn *c = p->data;
    if (status < 0) {
        bk_diag_debug("net", "conn=%llu peer=%s msg=\"poll: %s\"",
                      (unsigned long long)c->id, c->peer, uv_strerror(status));
        conn_close(c, BK_MX_CLOSE_PEER);
        return;
    }
    if ((events & UV_WRITABLE) != 0 && !c->tls_read_wants_write) {
        conn_flush(c);
    }
    if ((events & UV_READABLE) != 0 && c->tls_write_wants_read) {
        conn_flush(c);
    }
    bool go_read = (events & UV_READABLE) != 0 ||
                   ((events & UV_WRITABLE) != 0 && c->tls_read_wants_write);
    if (!c->closing && go_read && c->reading) {
        on_readable(c);
    }
}

static void close_cb(uv_handle_t *h)
{
    struct bk_conn *c = h->data;
    c->handle_closed = true;
    bk_tls_free(c->tls);
    c->tls = NULL;
    bk_free(c->tls_out);
    c->tls_out = NULL;
    c->tls_out_len = 0;
    close(c->fd);
    c->fd = -1;
    bk_conn_limits_release(&c->shard->group->limits, c->key);
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

static void conn_close(struct bk_conn *c, enum bk_mx_close why)
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
    if (s->metrics != NULL) {
        bk_ctr_add(&s->metrics->conn_closed[why], 1);
    }
    resume_unlink(c);
    if (c->on_close != NULL) {
        void (*fn)(void *data) = c->on_close;
        c->on_close = NULL;
        fn(c->on_close_data);
    }
    bk_diag_debug("net",
                  "conn=%llu shard=%u peer=%s client=\"%s\" "
                  "msg=\"closed\"",
                  (unsigned long long)c->id, s->id, c->peer, c->client_id);
    uv_poll_stop(&c->poll);
    uv_close((uv_handle_t *)&c->poll, close_cb);
}

bool bk_conn_on_close(struct bk_conn *c, void (*fn)(void *data), void *data)
{
    if (c->closing || c->on_close != NULL) {
        return false;
    }
    c->on_close = fn;
    c->on_close_data = data;
    return true;
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
    /* getpeername filled ss (the analyzer does not model it). */
    /* NOLINTNEXTLINE(clang-analyzer-core.UndefinedBinaryOperatorResult) */
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

void bk_conn_adopt(struct bk_shard *s,
                   int fd,
                   uint64_t id,
                   const uint8_t key[16],
                   const struct bk_conn_origin *origin)
{
    struct bk_conn *c = bk_calloc(1, sizeof(*c));
    if (c == NULL) {
        close(fd);
        bk_conn_limits_release(&s->group->limits, key);
        return;
    }
    c->shard = s;
    c->id = id;
    c->fd = fd;
    c->origin = *origin;
    bk_conn_auth_init(&c->auth, origin);
    memcpy(c->key, key, sizeof(c->key));
    c->last_active = c->accepted_at = uv_now(&s->loop);
    if (origin->tls != NULL && (c->tls = bk_tls_new(origin->tls, fd)) == NULL) {
        close(fd);
        bk_conn_limits_release(&s->group->limits, key);
        bk_free(c);
        return;
    }
    c->poll.data = c;
    if (uv_poll_init(&s->loop, &c->poll, fd) != 0) {
        bk_tls_free(c->tls);
        close(fd);
        bk_conn_limits_release(&s->group->limits, key);
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
    if (s->metrics != NULL) {
        bk_ctr_add(&s->metrics->conn_accepted, 1);
    }
    bk_diag_debug("net", "conn=%llu shard=%u peer=%s msg=\"accepted\"",
                  (unsigned long long)id, s->id, c->peer);
    c->reading = true;
    uv_poll_start(&c->poll, UV_READABLE, poll_cb);
}

void bk_conns_drain(struct bk_shard *s)
{
    struct bk_conn *c = s->conns;
    while (c != NULL) {
        struct bk_conn *next = c->next;
        if (!has_output(c)) {
            conn_close(c, BK_MX_CLOSE_SHUTDOWN);
        } else {
            update_poll(c);
        }
        c = next;
    }
}

void bk_conns_close_all(struct bk_shard *s)
{
    while (s->conns != NULL) {
        conn_close(s->conns, BK_MX_CLOSE_SHUTDOWN);
    }
}
