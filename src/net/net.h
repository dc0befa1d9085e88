/* The network layer: shard threads, the acceptor, Kafka framing.
 *
 * A reactor per core (brief.md §2): N shard threads, each running its own
 * libuv loop. The acceptor (on the control thread) accepts connections and
 * hands each socket to a shard, round-robin; from then on only that shard
 * touches the connection. Shards talk to each other only through their
 * inbox, an MPSC queue woken by uv_async_send (bk_shard_post).
 *
 * This layer knows Kafka's framing (a 4-byte size prefix, responses in
 * request order per connection, backpressure) but not its messages: each
 * complete frame becomes a struct bk_req handed to the on_request callback,
 * and the upper layer answers it with bk_req_reply(). */
#ifndef BK_NET_NET_H
#define BK_NET_NET_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "common/arena.h"
#include "common/err.h"
#include "common/hash.h"
#include "metrics/metrics.h"
#include "net/mpsc.h"

struct bk_shard;
struct bk_shards;
struct bk_conn;
struct bk_req;

/* Called on the connection's shard for every complete frame. The callee
 * must eventually call exactly one of bk_req_reply(), bk_req_noreply() or
 * bk_req_fail() for req, on that same shard. */
typedef void (*bk_request_cb)(struct bk_req *req);

/* Called on a shard's own thread once when the shard starts and once when it
 * stops; lets the upper layer keep per-shard state in shard->app. */
typedef void (*bk_shard_cb)(struct bk_shard *shard);

struct bk_net_config {
    size_t max_request_bytes;    /* socket.request.max.bytes */
    unsigned max_inflight;       /* per connection, before reads pause */
    size_t max_queued_out_bytes; /* per connection, before reads pause */
    size_t request_arena_limit;  /* bytes one request may allocate */
    /* queued.max.request.bytes: request bytes held broker-wide before the
     * shards stop taking new requests; 0 means no bound. */
    size_t max_queued_request_bytes;
    /* max.connections and max.connections.per.ip; 0 means no bound. */
    unsigned max_connections;
    unsigned max_connections_per_ip;
    /* max.connections.per.ip.overrides ("host:count,..."); borrowed for
     * the duration of bk_shards_init, may be NULL. */
    const char *per_ip_overrides;
    /* connections.max.idle.ms: a connection with nothing in flight and no
     * bytes for this long is closed; 0 means never. */
    uint64_t max_idle_ms;
    /* How long one request may take to arrive once its first byte has;
     * 0 means no bound. */
    uint64_t partial_request_ms;
    /* log.slow.request.ms: an answer written later than this after its
     * request was read is logged as a warning; -1 means never. */
    int64_t slow_request_ms;
};

/* A cross-shard message. The sender allocates it and the receiver's fn
 * takes ownership (frees it or hands it back). */
struct bk_shard_msg {
    struct bk_mpsc_node node;
    void (*fn)(struct bk_shard *shard, struct bk_shard_msg *msg);
};

struct bk_shard {
    unsigned id;
    struct bk_shards *group; /* borrowed back pointer */
    uv_loop_t loop;
    uv_thread_t thread;
    uv_async_t wake;
    struct bk_mpsc inbox;
    struct bk_conn *conns; /* owned list of live connections */
    unsigned nconns;
    /* Connection objects not yet freed, closed ones included: a closed
     * connection lives on until its requests in flight complete, and the
     * shard's loop must not end before that. */
    unsigned alive;
    uint64_t accepted; /* connections this shard has served */
    bool stopping;
    bool drained; /* stopping and nothing left in flight */
    uv_timer_t stop_timer;
    uint8_t *rbuf; /* owned: shared read buffer, see conn.c */
    size_t rbuf_size;
    /* Request bytes this shard holds that it has not yet added to the
     * group's mem_used (it publishes in steps, see conn.c). */
    int64_t mem_unpublished;
    /* Connections that stopped reading and must be looked at again: they
     * hold bytes not yet cut into frames, or wait for group memory. */
    struct bk_conn *resume_head, *resume_tail; /* borrowed list (conn.c) */
    unsigned resume_count;
    uv_timer_t resume_timer;
    uv_timer_t sweep_timer; /* idle and stalled connections, each second */
    /* Requests taken since the last sweep, and since memory was last
     * handed back to the system (conn.c). */
    uint64_t reqs_tick;
    uint64_t reqs_since_trim;
    void *app; /* owned by the upper layer (set in on_start) */
    /* Owned: what this shard counts for /metrics (metrics/metrics.h).
     * Written by this shard only; read by the admin HTTP thread. */
    struct bk_metrics_shard *metrics;
};

/* Connection counts by peer address (limits.c). */
struct bk_conn_limits {
    uv_mutex_t lock;
    unsigned total;
    unsigned max_total;
    unsigned max_per_ip;
    struct ip_count **buckets;     /* owned */
    struct ip_override *overrides; /* owned array */
    unsigned noverrides;
};

struct bk_shards {
    unsigned n;
    struct bk_shard *shards; /* owned array of n */
    struct bk_net_config cfg;
    bk_request_cb on_request;
    bk_shard_cb on_start;
    bk_shard_cb on_drain; /* stop begins: close the upper layer's handles */
    bk_shard_cb on_stop;
    void *app;           /* borrowed: the upper layer's global context */
    unsigned next_shard; /* acceptor's round-robin cursor */
    struct bk_conn_limits limits;
    /* Request bytes held by every shard (queued.max.request.bytes), as
     * published; each shard may hold up to mem_step more unpublished. */
    atomic_llong mem_used;
    size_t mem_step;
    uint64_t next_conn_id;
    unsigned stop_timeout_ms;
    /* Shards still draining. Every loop keeps running (and serving the
     * others' cross-shard work) until all have drained. */
    atomic_uint undrained;
};

/* Initialises n shards (loops created, threads not started). Returns 0 or a
 * BK_E* code (BK_ECONFIG for bad per-IP overrides). The hooks (each may be
 * NULL) run on each shard's thread: on_start before its loop runs, on_drain
 * when a stop begins (the upper layer closes its own handles there so the loop
 * can end), on_stop after the loop has ended. */
int bk_shards_init(struct bk_shards *g,
                   unsigned n,
                   const struct bk_net_config *cfg,
                   bk_request_cb on_request,
                   bk_shard_cb on_start,
                   bk_shard_cb on_drain,
                   bk_shard_cb on_stop,
                   void *app);

/* Starts the shard threads. */
int bk_shards_start(struct bk_shards *g);

/* Graceful stop: every shard stops reading, waits up to timeout_ms for the
 * requests in flight to be answered and written, closes its connections and
 * its loop, and its thread exits. Blocks until all threads have joined. */
void bk_shards_stop(struct bk_shards *g, unsigned timeout_ms);

/* Frees what bk_shards_init allocated (after stop). */
void bk_shards_close(struct bk_shards *g);

/* Posts msg to shard; any thread. Takes ownership of msg. */
void bk_shard_post(struct bk_shard *shard, struct bk_shard_msg *msg);

/* Hands an accepted socket to the next shard, round-robin (acceptor thread
 * only). Takes ownership of fd. */
void bk_shards_adopt_fd(struct bk_shards *g, int fd);

/* --- listeners ----------------------------------------------------------- */

struct bk_tls_ctx;

/* What a listener gives each connection it accepts. */
struct bk_conn_origin {
    unsigned listener; /* its place in the configuration */
    /* Borrowed, outlives the connections: TLS on this listener (SSL), or
     * NULL for plaintext. */
    struct bk_tls_ctx *tls;
    /* SASL_PLAINTEXT and SASL_SSL: the connection must authenticate
     * first. Until it has (bk_conn_set_principal), it takes one request
     * at a time and none above sasl_max_receive bytes
     * (sasl.server.max.receive.size), checked before any allocation. */
    bool sasl;
    size_t sasl_max_receive;
    /* Borrowed, outlives the connections: the upper layer's SASL
     * settings of this listener (bk_conn_sasl_config). */
    const void *sasl_config;
};

struct bk_listener {
    uv_poll_t poll;
    int fd;
    /* A descriptor kept open to close excess connections with when the
     * process is out of descriptors (see listener.c); -1 if none. */
    int spare_fd;
    struct bk_shards *group;
    char addr[128];
    /* Accepting paused: out of descriptors or max.connections reached. */
    uv_timer_t retry;
    unsigned backoff_ms;
    bool paused;
    bool emfile_episode; /* out of descriptors, logged once */
    uint64_t shed;       /* connections closed unserved this episode */
    uint64_t refused;    /* refused by the per-address limit */
    uint64_t refused_logged;
    struct bk_conn_origin origin; /* given to every connection */
};

/* Binds and listens on host:port (numeric IPv4/IPv6 or "localhost"), and
 * accepts on loop, handing sockets to g; each connection gets *origin
 * (copied). On failure returns a BK_E*
 * code and writes one line into errmsg ("cannot listen on 127.0.0.1:9092:
 * address already in use"). port 0 picks a free port; *bound_port gets
 * it. */
int bk_listener_open(struct bk_listener *l,
                     uv_loop_t *loop,
                     struct bk_shards *g,
                     const struct bk_conn_origin *origin,
                     const char *host,
                     int port,
                     int *bound_port,
                     char *errmsg,
                     size_t errmsg_size);

/* Stops accepting and closes the socket (loop thread). */
void bk_listener_close(struct bk_listener *l);

/* --- requests --------------------------------------------------------------
 */

enum bk_req_state {
    BK_REQ_PENDING = 0, /* handed to the upper layer */
    BK_REQ_DONE,        /* answered; waits for earlier ones to be written */
    BK_REQ_WRITING,     /* its bytes are going out */
};

/* One piece of an answer: bytes in memory, or a range of a file that goes
 * out with sendfile(2) and never passes through user space (plaintext
 * Fetch, brief.md section 4). */
struct bk_out_chunk {
    const void *base; /* memory chunk, or NULL for a file chunk */
    size_t len;
    int fd;         /* file chunk: borrowed, valid until req->on_free */
    int64_t offset; /* file chunk: where the range starts */
};

/* log_error of an answer without a top-level error code. */
#define BK_REQ_NO_ERROR INT16_MIN

struct bk_req {
    struct bk_req *next; /* conn's in-order queue */
    struct bk_conn *conn;
    struct bk_shard *shard; /* the connection's shard */
    uint64_t seq;
    enum bk_req_state state;
    uint8_t *frame; /* owned: the frame body, without the size prefix */
    size_t frame_len;
    size_t held; /* net layer: bytes counted against the memory bounds */
    struct bk_arena arena;       /* freed when the answer is written */
    struct bk_out_chunk *chunks; /* arena-owned answer pieces */
    unsigned nchunks;
    size_t out_bytes;
    void *data; /* upper layer's per-request state */
    /* The API key the upper layer counted the request under, or -1:
     * the net layer then times its phases for /metrics (uv_hrtime). */
    int16_t mx_api;
    uint64_t t_frame_ns; /* the frame was complete */
    uint64_t t_reply_ns; /* the answer was handed over */
    /* The request log (log.slow.request.ms, debug lines): the API's name
     * (static; NULL leaves the request out), its version, whether it
     * waits by design (not a slow request), and the answer's top-level
     * error code or BK_REQ_NO_ERROR. Set by the upper layer. */
    const char *log_api;
    int16_t log_version;
    int16_t log_error;
    bool log_waits;
    /* Called once just before the request is freed (answer written or
     * connection gone), on the connection's shard: releases what the
     * answer borrowed (pinned files). May be NULL. */
    void (*on_free)(struct bk_req *req);
};

/* Runs fn(data) once, on the connection's shard, when c closes (the peer
 * went away, or the broker closed it). One hook per connection: returns
 * false (and fn never runs) when c already has one or is closing. */
bool bk_conn_on_close(struct bk_conn *c, void (*fn)(void *data), void *data);

/* Answers req with the given pieces, which together form a complete frame
 * (size prefix included). Memory chunks must live until the request is
 * freed (allocate them from req->arena), file chunks' fds until on_free.
 * The array itself is copied. */
void bk_req_reply_chunks(struct bk_req *req,
                         const struct bk_out_chunk *chunks,
                         unsigned n);

/* Answers req with one buffer from req->arena (a complete frame). */
void bk_req_reply(struct bk_req *req, const void *frame, size_t len);

/* Completes req without an answer (Produce with acks=0). */
void bk_req_noreply(struct bk_req *req);

/* Completes req by closing its connection, as Kafka does for a request it
 * cannot parse. Earlier answers already queued are dropped. */
void bk_req_fail(struct bk_req *req, const char *why);

/* The index of the listener the connection was accepted on (as given to
 * bk_listener_open; 0 for bk_shards_adopt_fd). */
unsigned bk_conn_listener(const struct bk_conn *c);

/* The connection's principal (Kafka's KafkaPrincipal as text): on a SASL
 * listener the authenticated one ("User:ANONYMOUS" before), from the
 * client certificate on an SSL listener, else "User:ANONYMOUS". Borrowed,
 * lives as long as the connection (re-authentication keeps it). */
const char *bk_conn_principal(const struct bk_conn *c);

/* Reads nothing more from c for ms milliseconds from now (KIP-219's
 * throttling: the answer already handed over still goes out). A frame
 * being read is read to its end; a later mute that ends sooner than one
 * in force changes nothing. On c's shard; ignored once c is closing. */
void bk_conn_mute(struct bk_conn *c, uint64_t ms);
/* Answers req like bk_req_reply(), then closes the connection once the
 * answer is written; nothing more is read from it (a failed SASL
 * authentication). */
void bk_req_reply_close(struct bk_req *req, const void *frame, size_t len);

/* --- SASL (sasl_conn.c) ---------------------------------------------------
 */

/* The listener's SASL settings (origin.sasl_config), or NULL on a
 * listener without SASL. Borrowed. */
const void *bk_conn_sasl_config(const struct bk_conn *c);

/* Whether c still has to authenticate (a SASL listener, no principal
 * yet). */
bool bk_conn_auth_pending(const struct bk_conn *c);

/* Sets the authenticated principal ("User:alice", copied): from now on c
 * takes requests up to socket.request.max.bytes, several at a time. The
 * caller must not change an established principal (KIP-368 refuses that),
 * since handlers may hold it. Returns 0 or BK_ENOMEM. */
int bk_conn_set_principal(struct bk_conn *c, const char *principal);

/* Closes c once the answers queued so far are written, and reads nothing
 * more from it (an answer that ends a failed SASL exchange). */
void bk_conn_close_after_answers(struct bk_conn *c);

/* The upper layer's authentication state of c (NULL until set). set takes
 * ownership of state: free_fn(state) runs when c is freed, or when another
 * state replaces it. */
void *bk_conn_auth_state(const struct bk_conn *c);
void bk_conn_set_auth_state(struct bk_conn *c,
                            void *state,
                            void (*free_fn)(void *state));

/* Connection identity, for logs. */
uint64_t bk_conn_id(const struct bk_conn *c);
const char *bk_conn_peer(const struct bk_conn *c);

/* The client id the connection last sent (for logs). Borrowed. */
const char *bk_conn_client_id(const struct bk_conn *c);
void bk_conn_set_client_id(struct bk_conn *c, const char *id, size_t len);

#endif /* BK_NET_NET_H */
