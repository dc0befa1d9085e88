/* The controller thread. Happy path: bk_md_start() locks the directory,
 * spawns the thread, which initialises loop, transport, raft_uv and raft,
 * bootstraps a fresh directory, raft_start()s (restoring the snapshot and
 * log), reports success and runs the loop. Proposals arrive on a locked
 * queue and wake the loop with uv_async_send; the wake callback coalesces
 * them into one entry and raft_apply()s it; the apply callback completes
 * each proposal. A uv_check handle polls raft_state() after every loop
 * iteration (0.15 has no state callback) and issues the post-election
 * barrier.
 *
 * Failure modes: a start failure is reported to the starter with one line
 * and the thread unwinds what it built; leadership loss fails held
 * proposals with BK_ENOTLEADER and in-flight ones get BK_MD_EUNKNOWN; stop
 * fails the queue with BK_ESHUTDOWN, then raft_close() fires the callbacks
 * of requests still inside raft. */
#include "cluster/controller.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <raft.h>
#include <raft/uv.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <uv.h>

#include "cluster/controller_int.h"
#include "cluster/fsm.h"
#include "cluster/heartbeats.h"
#include "cluster/ops.h"
#include "cluster/rebalance.h"
#include "common/assert.h"
#include "common/diag.h"
#include "common/err.h"
#include "common/heap.h"

static void track_term(struct bk_md *md);

#define INSTALL_SNAPSHOT_TIMEOUT_MS 3000

/* Writes one error line (truncated to BK_ERRMSG_SIZE on purpose). */
static void errf(char *errmsg, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void errf(char *errmsg, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(errmsg, BK_ERRMSG_SIZE, fmt, ap);
    va_end(ap);
}

/* ---- voters ----------------------------------------------------------- */

static int parse_voters(struct bk_md *md, const char *s, char *errmsg)
{
    if (s == NULL || *s == '\0') {
        errf(errmsg,
             "controller.quorum.voters is empty (expected "
             "id@host:port,...)");
        return BK_ECONFIG;
    }
    const char *p = s;
    while (*p != '\0') {
        const char *comma = strchr(p, ',');
        size_t len = comma != NULL ? (size_t)(comma - p) : strlen(p);
        const char *at = memchr(p, '@', len);
        char idbuf[16];
        size_t idlen = at != NULL ? (size_t)(at - p) : 0;
        size_t alen = at != NULL ? len - idlen - 1 : 0;
        char *end = NULL;
        long id = -1;
        if (at != NULL && idlen > 0 && idlen < sizeof(idbuf)) {
            memcpy(idbuf, p, idlen);
            idbuf[idlen] = '\0';
            errno = 0;
            id = strtol(idbuf, &end, 10);
            if (errno != 0 || *end != '\0') {
                id = -1;
            }
        }
        const char *colon = alen > 0 ? memchr(at + 1, ':', alen) : NULL;
        if (id < 0 || id >= INT32_MAX || alen == 0 || alen >= MAX_ADDR ||
            colon == NULL || colon == at + 1 || colon == at + alen) {
            errf(errmsg,
                 "controller.quorum.voters: bad entry '%.*s' (expected "
                 "id@host:port)",
                 (int)(len > 64 ? 64 : len), p);
            return BK_ECONFIG;
        }
        if (md->n_voters == MAX_VOTERS) {
            errf(errmsg, "controller.quorum.voters: more than %d voters",
                 MAX_VOTERS);
            return BK_ECONFIG;
        }
        for (size_t i = 0; i < md->n_voters; i++) {
            if (md->voters[i].node_id == (int32_t)id) {
                errf(errmsg,
                     "controller.quorum.voters: node id %ld appears "
                     "twice",
                     id);
                return BK_ECONFIG;
            }
        }
        struct voter *v = &md->voters[md->n_voters++];
        v->node_id = (int32_t)id;
        memcpy(v->addr, at + 1, alen);
        v->addr[alen] = '\0';
        if (comma == NULL) {
            break;
        }
        p = comma + 1;
    }
    return 0;
}

/* ---- TCP_NODELAY transport wrapper (raft-notes §3.3) ------------------ */

static struct bk_md *md_of_transport(struct raft_uv_transport *t)
{
    return (struct bk_md *)((char *)t - offsetof(struct bk_md, transport));
}

static void nodelay(struct uv_stream_s *stream)
{
    if (stream != NULL && stream->type == UV_TCP) {
        uv_tcp_nodelay((uv_tcp_t *)stream, 1);
    }
}

static void wrap_accept_cb(struct raft_uv_transport *t,
                           raft_id id,
                           const char *address,
                           struct uv_stream_s *stream)
{
    nodelay(stream);
    md_of_transport(t)->user_accept(t, id, address, stream);
}

static int wrap_listen(struct raft_uv_transport *t, raft_uv_accept_cb cb)
{
    struct bk_md *md = md_of_transport(t);
    md->user_accept = cb;
    return md->orig_listen(t, wrap_accept_cb);
}

struct connect_wrap {
    struct raft_uv_connect inner;
    struct raft_uv_connect *outer;
};

static void wrap_connect_cb(struct raft_uv_connect *req,
                            struct uv_stream_s *stream,
                            int status)
{
    struct connect_wrap *w = req->data;
    struct raft_uv_connect *outer = w->outer;
    bk_free(w);
    if (status == 0) {
        nodelay(stream);
    }
    outer->cb(outer, stream, status);
}

static int wrap_connect(struct raft_uv_transport *t,
                        struct raft_uv_connect *req,
                        raft_id id,
                        const char *address,
                        raft_uv_connect_cb cb)
{
    struct bk_md *md = md_of_transport(t);
    struct connect_wrap *w = bk_malloc(sizeof(*w));
    if (w == NULL) {
        return RAFT_NOMEM;
    }
    w->inner.data = w;
    w->outer = req;
    req->cb = cb;
    int rv = md->orig_connect(t, &w->inner, id, address, wrap_connect_cb);
    if (rv != 0) {
        bk_free(w);
    }
    return rv;
}

/* ---- completion ------------------------------------------------------- */

static int map_raft_status(int status)
{
    switch (status) {
        case 0:
            return 0;
        case RAFT_NOTLEADER:
            return BK_ENOTLEADER;
        case RAFT_LEADERSHIPLOST:
            return BK_MD_EUNKNOWN;
        case RAFT_NOMEM:
            return BK_ENOMEM;
        case RAFT_SHUTDOWN:
        case RAFT_CANCELED:
            return BK_ESHUTDOWN;
        default:
            return BK_EIO;
    }
}

void bk_md_int_complete(struct md_req *r, int status)
{
    while (r != NULL) {
        struct md_req *next = r->next;
        r->cb(r->data, status);
        bk_free(r);
        r = next;
    }
}

static void flight_free(struct md_flight *f)
{
    bk_free(f);
}

static void apply_cb(struct raft_apply *req, int status, void *result)
{
    struct md_flight *f = req->data;
    struct bk_md *md = f->md;
    int st = map_raft_status(status);
    /* Per-record skip flags of this entry, remembered by the fsm. If they
     * were forgotten already (cannot happen with 0.15, which calls us right
     * after apply), report success: the entry did commit. */
    size_t n = 0;
    const uint8_t *skipped =
        status == 0 ? bk_md_fsm_skipped(&md->fsm, (uintptr_t)result, &n) : NULL;
    size_t off = 0;
    for (struct md_req *r = f->head; r != NULL;) {
        struct md_req *next = r->next;
        int rs = st;
        if (skipped != NULL && r->kind == REQ_PROPOSE) {
            if (n != f->n_recs) {
                rs = BK_EPROTO; /* the entry could not be decoded */
            } else {
                for (size_t i = 0; i < r->n_recs; i++) {
                    if (skipped[off + i]) {
                        rs = BK_ESTATE;
                    }
                }
            }
            off += r->n_recs;
        }
        r->cb(r->data, rs);
        bk_free(r);
        r = next;
    }
    flight_free(f);
}

static void barrier_cb(struct raft_barrier *req, int status)
{
    struct md_flight *f = req->data;
    struct md_req *head = f->head;
    flight_free(f);
    bk_md_int_complete(head, map_raft_status(status));
}

/* Sends one flight to raft; completes its requests on failure. */
static void flight_submit(struct bk_md *md, struct md_flight *f)
{
    int rv;
    if (f->n_recs == 0) {
        f->barrier.data = f;
        rv = raft_barrier(&md->raft, &f->barrier, barrier_cb);
        if (rv != 0) {
            struct md_req *head = f->head;
            flight_free(f);
            bk_md_int_complete(head, map_raft_status(rv));
        }
        return;
    }
    size_t hdr = bk_md_batch_header_size(f->n_recs);
    struct raft_buffer buf;
    /* raft_uv 0.15 misreads its own segments when an entry's length is not
     * a multiple of 8 (found by the restart test: "load closed segment ...
     * short read"), so pad the entry with zeros; the batch decoder accepts
     * up to 7 zero bytes after the last record. */
    buf.len = (hdr + f->len + 7) & ~(size_t)7;
    buf.base = raft_malloc(buf.len);
    if (buf.base == NULL) {
        struct md_req *head = f->head;
        flight_free(f);
        bk_md_int_complete(head, BK_ENOMEM);
        return;
    }
    struct bk_wr wr;
    bk_wr_init(&wr, buf.base, buf.len);
    bk_md_batch_header_encode(&wr, f->n_recs);
    for (struct md_req *r = f->head; r != NULL; r = r->next) {
        if (r->kind == REQ_PROPOSE) {
            bk_wr_raw(&wr, r->bytes, r->len);
        }
    }
    bk_assert(wr.err == 0 && wr.len == hdr + f->len);
    memset((uint8_t *)buf.base + wr.len, 0, buf.len - wr.len);
    f->apply.data = f;
    rv = raft_apply(&md->raft, &f->apply, &buf, 1, apply_cb);
    if (rv != 0) {
        /* raft owns the buffer only when raft_apply succeeded. */
        raft_free(buf.base);
        struct md_req *head = f->head;
        flight_free(f);
        bk_md_int_complete(head, map_raft_status(rv));
    }
}

/* Coalesces a list of requests into entries of at most MAX_ENTRY_BYTES
 * (a single larger proposal gets an entry of its own). */
static void submit_list(struct bk_md *md, struct md_req *r)
{
    struct md_flight *f = NULL;
    while (r != NULL) {
        struct md_req *next = r->next;
        r->next = NULL;
        if (f != NULL && r->kind == REQ_PROPOSE && f->n_recs > 0 &&
            f->len + r->len > MAX_ENTRY_BYTES) {
            flight_submit(md, f);
            f = NULL;
        }
        if (f == NULL) {
            f = bk_calloc(1, sizeof(*f));
            if (f == NULL) {
                r->next = next;
                bk_md_int_complete(r, BK_ENOMEM);
                return;
            }
            f->md = md;
        }
        if (f->tail != NULL) {
            f->tail->next = r;
        } else {
            f->head = r;
        }
        f->tail = r;
        if (r->kind == REQ_PROPOSE) {
            f->n_recs += r->n_recs;
            f->len += r->len;
        }
        r = next;
    }
    if (f != NULL) {
        flight_submit(md, f);
    }
}

static void hold(struct bk_md *md, struct md_req *list)
{
    if (list == NULL) {
        return;
    }
    struct md_req *tail = list;
    while (tail->next != NULL) {
        tail = tail->next;
    }
    if (md->held_tail != NULL) {
        md->held_tail->next = list;
    } else {
        md->held_head = list;
    }
    md->held_tail = tail;
}

static struct md_req *take_held(struct bk_md *md)
{
    struct md_req *h = md->held_head;
    md->held_head = NULL;
    md->held_tail = NULL;
    return h;
}

/* ---- leadership ------------------------------------------------------- */

static void endpoint_cb(void *data, int status)
{
    struct bk_md *md = data;
    if (status != 0 && status != BK_ESHUTDOWN && status != BK_ENOTLEADER) {
        bk_diag_warn("cluster",
                     "msg=\"cannot record the controller endpoint\" err=%s",
                     bk_strerror(status));
    }
    (void)md;
}

/* The active controller records where it serves the controller's Kafka
 * requests, so that brokers can reach it (and the cluster id of a new
 * log). A log of another cluster stops this node: it must not act for a
 * cluster it was not formatted for. */
static void announce_endpoint(struct bk_md *md)
{
    if (md->cfg.ctl_port <= 0) {
        return;
    }
    struct bk_arena arena;
    bk_arena_init(&arena, 1024, 0);
    struct bk_md_recs recs;
    bk_md_recs_init(&recs, &arena);
    char msg[BK_MD_MSG_SIZE];
    struct bk_md_image *img = bk_md_image_acquire(md);
    int16_t code = bk_md_op_register_controller(
        img, md->node_id, &md->cfg.incarnation, md->ctl_host, md->cfg.ctl_port,
        md->cluster_id[0] != '\0' ? md->cluster_id : NULL, &recs, msg);
    bk_md_image_release(img);
    if (code != 0) {
        bk_diag_error("cluster", "msg=\"%s\"", msg);
    } else if (recs.n > 0) {
        int rv = bk_md_propose(md, recs.v, recs.n, endpoint_cb, md);
        if (rv != 0) {
            endpoint_cb(md, rv);
        }
    }
    bk_arena_destroy(&arena);
}

static void lead_barrier_cb(struct raft_barrier *req, int status)
{
    struct bk_md *md = req->data;
    md->barrier_pending = false;
    if (md->closing) {
        return;
    }
    if (status != 0 || raft_state(&md->raft) != RAFT_LEADER) {
        /* Lost it again; the check handle will notice and clean up. */
        md->was_leader = false;
        atomic_store(&md->active, 0);
        bk_md_int_complete(take_held(md), BK_ENOTLEADER);
        return;
    }
    atomic_store(&md->active, 1);
    bk_diag_info("cluster", "msg=\"active controller\" node=%d", md->node_id);
    submit_list(md, take_held(md));
    bk_md_hb_activated(md->hb);
    announce_endpoint(md);
}

static void check_cb(uv_check_t *h)
{
    struct bk_md *md = h->data;
    if (md->closing) {
        return;
    }
    raft_id lid = 0;
    const char *laddr = NULL;
    raft_leader(&md->raft, &lid, &laddr);
    atomic_store(&md->leader, lid == 0 ? -1 : (int)(lid - 1));
    bool leader = raft_state(&md->raft) == RAFT_LEADER;
    if (leader && !md->was_leader && !md->barrier_pending) {
        /* raft-notes §5.3: act as controller only after a barrier, so
         * entries of earlier terms are committed and applied first (0.15
         * lacks the upstream fix for Raft's Figure 8). */
        md->was_leader = true;
        md->lead_barrier.data = md;
        int rv = raft_barrier(&md->raft, &md->lead_barrier, lead_barrier_cb);
        if (rv != 0) {
            md->was_leader = false;
        } else {
            md->barrier_pending = true;
        }
    } else if (!leader && md->was_leader) {
        md->was_leader = false;
        atomic_store(&md->active, 0);
        bk_diag_info("cluster",
                     "msg=\"no longer the active controller\" "
                     "node=%d",
                     md->node_id);
        bk_md_int_complete(take_held(md), BK_ENOTLEADER);
    }
}

/* ---- stop ------------------------------------------------------------- */

static void handle_close_cb(uv_handle_t *h)
{
    (void)h;
}

static void md_raft_close_cb(struct raft *r)
{
    struct bk_md *md = r->data;
    raft_uv_close(&md->io);
    raft_uv_tcp_close(&md->transport);
    uv_close((uv_handle_t *)&md->check, handle_close_cb);
    /* No thread can be inside uv_async_send any more: senders hold qlock
     * and check stopping, which was set before we got here. */
    pthread_mutex_lock(&md->qlock);
    pthread_mutex_unlock(&md->qlock);
    uv_close((uv_handle_t *)&md->wake, handle_close_cb);
}

static void start_close(struct bk_md *md)
{
    if (md->close_started) {
        return;
    }
    md->close_started = true;
    if (md->timer_on) {
        uv_close((uv_handle_t *)&md->transfer_timer, handle_close_cb);
    }
    raft_close(&md->raft, md_raft_close_cb);
}

static void transfer_cb(struct raft_transfer *req)
{
    struct bk_md *md = req->data;
    raft_id lid = 0;
    const char *laddr = NULL;
    raft_leader(&md->raft, &lid, &laddr);
    bk_diag_info("cluster", "msg=\"leadership handed over\" to=%d",
                 lid == 0 ? -1 : (int)(lid - 1));
    start_close(md);
}

static void transfer_timer_cb(uv_timer_t *t)
{
    start_close(t->data);
}

struct md_req *bk_md_int_take_queue(struct bk_md *md, bool *stopping)
{
    pthread_mutex_lock(&md->qlock);
    struct md_req *list = md->qhead;
    md->qhead = NULL;
    md->qtail = NULL;
    *stopping = md->stopping;
    pthread_mutex_unlock(&md->qlock);
    return bk_md_int_run_calls(list, *stopping ? BK_ESHUTDOWN : 0);
}

/* Runs the REQ_CALL requests of list (in order) and returns the others. */
struct md_req *bk_md_int_run_calls(struct md_req *list, int status)
{
    struct md_req *keep = NULL;
    struct md_req **tail = &keep;
    while (list != NULL) {
        struct md_req *next = list->next;
        if (list->kind == REQ_CALL) {
            list->cb(list->data, status);
            bk_free(list);
        } else {
            list->next = NULL;
            *tail = list;
            tail = &list->next;
        }
        list = next;
    }
    return keep;
}

static void wake_cb(uv_async_t *h)
{
    struct bk_md *md = h->data;
    if (md->closing) {
        return;
    }
    bool stopping;
    struct md_req *list = bk_md_int_take_queue(md, &stopping);
    if (stopping) {
        md->closing = true;
        atomic_store(&md->active, 0);
        bk_md_int_complete(take_held(md), BK_ESHUTDOWN);
        bk_md_int_complete(list, BK_ESHUTDOWN);
        bk_md_hb_close(md->hb);
        md->hb = NULL;
        bk_md_rb_close(md->rb);
        md->rb = NULL;
        /* A controlled shutdown of the leader hands leadership over first
         * (raft-notes §5.3: ~2 ms instead of an election timeout). raft
         * calls back within an election timeout either way; the timer is a
         * guard so that stop never hangs. */
        if (raft_state(&md->raft) == RAFT_LEADER && md->n_voters > 1) {
            md->transfer.data = md;
            if (raft_transfer(&md->raft, &md->transfer, 0, transfer_cb) == 0) {
                uv_timer_init(&md->loop, &md->transfer_timer);
                md->transfer_timer.data = md;
                md->timer_on = true;
                uv_timer_start(&md->transfer_timer, transfer_timer_cb,
                               2 * (uint64_t)md->cfg.election_timeout_ms, 0);
                return;
            }
        }
        start_close(md);
        return;
    }
    if (list == NULL) {
        return;
    }
    if (atomic_load(&md->active)) {
        submit_list(md, list);
    } else if (md->was_leader) {
        hold(md, list); /* until the post-election barrier is applied */
    } else {
        bk_md_int_complete(list, BK_ENOTLEADER);
    }
}

/* ---- thread ----------------------------------------------------------- */

/* Explains a raft_start failure in one line; port in use shows up as an
 * empty RAFT_IOERR (raft-notes §3.7), so probe the address ourselves. */
static void explain_start_failure(struct bk_md *md, int rv)
{
    char host[MAX_ADDR];
    snprintf(host, sizeof(host), "%s", md->address);
    char *colon = strrchr(host, ':');
    if (colon != NULL) {
        *colon = '\0';
        /* Only for the message: the address was checked when configured. */
        /* NOLINTNEXTLINE(cert-err34-c) */
        int port = atoi(colon + 1);
        struct sockaddr_storage ss;
        memset(&ss, 0, sizeof(ss));
        int fam = AF_INET;
        socklen_t sl = sizeof(struct sockaddr_in);
        if (uv_ip4_addr(host, port, (struct sockaddr_in *)&ss) != 0) {
            const char *h6 = host;
            char tmp[MAX_ADDR];
            if (host[0] == '[') {
                snprintf(tmp, sizeof(tmp), "%s", host + 1);
                char *rb = strchr(tmp, ']');
                if (rb != NULL) {
                    *rb = '\0';
                }
                h6 = tmp;
            }
            fam = AF_INET6;
            sl = sizeof(struct sockaddr_in6);
            if (uv_ip6_addr(h6, port, (struct sockaddr_in6 *)&ss) != 0) {
                fam = -1;
            }
        }
        if (fam != -1) {
            int fd = socket(fam, SOCK_STREAM, 0);
            if (fd >= 0) {
                int one = 1;
                setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
                int brv = bind(fd, (struct sockaddr *)&ss, sl);
                int err = errno;
                close(fd);
                if (brv != 0) {
                    errf(md->errmsg,
                         "cannot listen on %s for the metadata quorum: "
                         "%s",
                         md->address, strerror(err));
                    return;
                }
            }
        }
    }
    const char *detail = raft_errmsg(&md->raft);
    errf(md->errmsg, "cannot start the metadata quorum on %s (dir %s): %s%s%s",
         md->address, md->dir, raft_strerror(rv),
         detail != NULL && detail[0] != '\0' ? ": " : "",
         detail != NULL ? detail : "");
}

void bk_md_int_start_done(struct bk_md *md, int rv)
{
    pthread_mutex_lock(&md->start_lock);
    md->start_rv = rv;
    md->start_state = 1;
    pthread_cond_signal(&md->start_cond);
    pthread_mutex_unlock(&md->start_lock);
}

static void failed_close_cb(struct raft *r)
{
    struct bk_md *md = r->data;
    raft_uv_close(&md->io);
    raft_uv_tcp_close(&md->transport);
}

/* A peer that went away makes a raft write fail with EPIPE; without this the
 * process would die of SIGPIPE (found by the failover test). The signal is
 * synchronous, so blocking it in this thread is enough and leaves the
 * process's disposition to the server. */
static void block_sigpipe(void)
{
    sigset_t pipe;
    sigemptyset(&pipe);
    sigaddset(&pipe, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &pipe, NULL);
}

/* Sets up raft on the metadata loop: the TCP transport (wrapped), the disk
 * I/O in md->dir and the raft instance with its timeouts. On failure
 * md->errmsg says why and what was set up here is closed again (the loop
 * still needs a run to finish the closes). */
static int open_raft(struct bk_md *md)
{
    int rv = raft_uv_tcp_init(&md->transport, &md->loop);
    if (rv != 0) {
        errf(md->errmsg, "raft transport: %s", raft_strerror(rv));
        return rv;
    }
    md->orig_listen = md->transport.listen;
    md->orig_connect = md->transport.connect;
    md->transport.listen = wrap_listen;
    md->transport.connect = wrap_connect;
    rv = raft_uv_init(&md->io, &md->loop, md->dir, &md->transport);
    if (rv != 0) {
        errf(md->errmsg, "cannot use metadata directory %s: %s %s", md->dir,
             raft_strerror(rv), md->io.errmsg);
        goto err_transport;
    }
    /* A corrupt closed segment must stop start-up with an error, not be
     * moved aside silently (0.15 does that by default), which would lose
     * committed metadata. */
    raft_uv_set_auto_recovery(&md->io, false);
    track_term(md);
    raft_id id = (raft_id)md->node_id + 1;
    rv = raft_init(&md->raft, &md->io, &md->fsm.raft, id, md->address);
    if (rv != 0) {
        errf(md->errmsg, "cannot open the metadata log in %s: %s: %s", md->dir,
             raft_strerror(rv), raft_errmsg(&md->raft));
        goto err_io;
    }
    md->raft.data = md;
    raft_set_election_timeout(&md->raft, md->cfg.election_timeout_ms);
    raft_set_heartbeat_timeout(&md->raft, md->cfg.heartbeat_timeout_ms);
    raft_set_snapshot_threshold(&md->raft, md->cfg.snapshot_threshold);
    raft_set_snapshot_trailing(&md->raft, md->cfg.snapshot_trailing);
    raft_set_pre_vote(&md->raft, true);
    /* raft 0.15 can lose track of a follower's InstallSnapshot (seen when
     * a restarted voter's queued messages are flushed at once: the
     * follower ignores a snapshot it has entries for, and the leader waits
     * for an answer that never comes); it sends again only after this
     * timeout, 30 s by default. Metadata snapshots are small and local, so
     * a few seconds bound the stall without cutting a real transfer. */
    raft_set_install_snapshot_timeout(&md->raft, INSTALL_SNAPSHOT_TIMEOUT_MS);
    return 0;

err_io:
    raft_uv_close(&md->io);
err_transport:
    raft_uv_tcp_close(&md->transport);
    return rv;
}

/* Writes the configured voters as the log's first configuration; a log
 * that already has one (a restart) is left as it is. On failure
 * md->errmsg says why. */
static int bootstrap(struct bk_md *md)
{
    int rv = 0;
    if (md->cfg.join) {
        /* The configuration comes from the quorum it joins. */
        return 0;
    }
    struct raft_configuration conf;
    raft_configuration_init(&conf);
    for (size_t i = 0; i < md->n_voters && rv == 0; i++) {
        rv = raft_configuration_add(&conf, (raft_id)md->voters[i].node_id + 1,
                                    md->voters[i].addr, RAFT_VOTER);
    }
    if (rv == 0) {
        rv = raft_bootstrap(&md->raft, &conf);
        if (rv == RAFT_CANTBOOTSTRAP) {
            rv = 0; /* already bootstrapped: a restart */
        } else if (rv != 0) {
            errf(md->errmsg, "cannot bootstrap the metadata log in %s: %s %s",
                 md->dir, raft_strerror(rv), raft_errmsg(&md->raft));
        } else {
            bk_diag_info("cluster",
                         "msg=\"bootstrapped metadata log\" "
                         "dir=%s voters=%zu",
                         md->dir, md->n_voters);
        }
    } else {
        errf(md->errmsg, "raft configuration: %s", raft_strerror(rv));
    }
    raft_configuration_close(&conf);
    return rv;
}

/* The loop's two standing handles: the async that other threads wake it
 * with (queued requests), and the check that after each iteration publishes
 * the raft leader and notices a change of leadership. */
static void start_handles(struct bk_md *md)
{
    uv_async_init(&md->loop, &md->wake, wake_cb);
    md->wake.data = md;
    uv_check_init(&md->loop, &md->check);
    md->check.data = md;
    uv_check_start(&md->check, check_cb);
    md->hb = bk_md_hb_new(md, &md->loop, md->cfg.broker_session_ms,
                          md->cfg.broker_disconnect_fence_ms,
                          md->cfg.unclean_leader_election);
    struct bk_md_rb_config rb = {
        .auto_rebalance = md->cfg.auto_leader_rebalance,
        .interval_ms = md->cfg.leader_imbalance_check_ms,
        .percentage = md->cfg.leader_imbalance_pct,
        .unclean_default = md->cfg.unclean_leader_election,
    };
    md->rb = bk_md_rb_new(md, &md->loop, &rb);
}

static void *md_main(void *arg)
{
    struct bk_md *md = arg;
    block_sigpipe();
    int rv = uv_loop_init(&md->loop);
    if (rv != 0) {
        errf(md->errmsg, "metadata loop: %s", uv_strerror(rv));
        bk_md_int_start_done(md, BK_EIO);
        return NULL;
    }
    rv = open_raft(md);
    if (rv != 0) {
        goto err_loop;
    }
    rv = bootstrap(md);
    if (rv == 0) {
        rv = raft_start(&md->raft);
        if (rv != 0) {
            explain_start_failure(md, rv);
        }
    }
    if (rv != 0) {
        raft_close(&md->raft, failed_close_cb);
        uv_run(&md->loop, UV_RUN_DEFAULT);
        uv_loop_close(&md->loop);
        bk_md_int_start_done(md, BK_EIO);
        return NULL;
    }
    start_handles(md);
    bk_md_int_start_done(md, 0);

    uv_run(&md->loop, UV_RUN_DEFAULT);
    rv = uv_loop_close(&md->loop);
    if (rv != 0) {
        bk_diag_error("cluster",
                      "msg=\"metadata loop not empty at close\" "
                      "err=%s",
                      uv_strerror(rv));
    }
    return NULL;

err_loop:
    uv_run(&md->loop, UV_RUN_DEFAULT);
    uv_loop_close(&md->loop);
    bk_md_int_start_done(md, BK_EIO);
    return NULL;
}

static int lock_dir(struct bk_md *md, char *errmsg)
{
    if (mkdir(md->dir, 0755) != 0 && errno != EEXIST) {
        errf(errmsg, "cannot create metadata directory %s: %s", md->dir,
             strerror(errno));
        return BK_EIO;
    }
    char path[1100];
    snprintf(path, sizeof(path), "%s/%s", md->dir, LOCK_FILE);
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) {
        errf(errmsg, "cannot open %s: %s", path, strerror(errno));
        return BK_EIO;
    }
    if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
        int err = errno;
        close(fd);
        if (err == EWOULDBLOCK) {
            errf(errmsg,
                 "data directory %s is locked by another brokerd "
                 "process",
                 md->dir);
            return BK_EBUSY;
        }
        errf(errmsg, "cannot lock %s: %s", path, strerror(err));
        return BK_EIO;
    }
    md->lock_fd = fd;
    return 0;
}

static void md_free(struct bk_md *md)
{
    if (md->lock_fd >= 0) {
        close(md->lock_fd); /* releases the flock */
    }
    bk_md_fsm_close(&md->fsm);
    pthread_mutex_destroy(&md->qlock);
    pthread_mutex_destroy(&md->start_lock);
    pthread_cond_destroy(&md->start_cond);
    bk_free(md);
}

int bk_md_start(const struct bk_md_config *cfg,
                struct bk_md **out,
                char *errmsg)
{
    errmsg[0] = '\0';
    if (cfg->dir == NULL || strlen(cfg->dir) >= 1024 || cfg->node_id < 0) {
        errf(errmsg,
             "invalid node.id or metadata "
             "directory");
        return BK_ECONFIG;
    }
    struct bk_md *md = bk_calloc(1, sizeof(*md));
    if (md == NULL) {
        errf(errmsg, "out of memory");
        return BK_ENOMEM;
    }
    md->lock_fd = -1;
    pthread_mutex_init(&md->qlock, NULL);
    pthread_mutex_init(&md->start_lock, NULL);
    pthread_cond_init(&md->start_cond, NULL);
    atomic_init(&md->active, 0);
    atomic_init(&md->leader, -1);
    atomic_init(&md->high_offset, 0);
    md->cfg = *cfg;
    md->cfg.voters = NULL;
    md->cfg.dir = NULL;
    if (md->cfg.election_timeout_ms == 0) {
        md->cfg.election_timeout_ms = 1000;
    }
    if (md->cfg.heartbeat_timeout_ms == 0) {
        md->cfg.heartbeat_timeout_ms = 100;
    }
    if (md->cfg.snapshot_threshold == 0) {
        md->cfg.snapshot_threshold = 16384;
    }
    if (md->cfg.snapshot_trailing == 0) {
        md->cfg.snapshot_trailing = 4096;
    }
    md->node_id = cfg->node_id;
    snprintf(md->dir, sizeof(md->dir), "%s", cfg->dir);
    snprintf(md->ctl_host, sizeof(md->ctl_host), "%s",
             cfg->ctl_host != NULL ? cfg->ctl_host : "");
    snprintf(md->cluster_id, sizeof(md->cluster_id), "%s",
             cfg->cluster_id != NULL ? cfg->cluster_id : "");
    md->cfg.ctl_host = NULL;
    md->cfg.cluster_id = NULL;
    if (md->cfg.broker_session_ms == 0) {
        md->cfg.broker_session_ms = 9000;
    }
    int rv = bk_md_fsm_init(&md->fsm);
    if (rv != 0) {
        errf(errmsg, "out of memory");
        md->fsm.cur = NULL;
        bk_free(md);
        return rv;
    }
    md->fsm.on_publish = cfg->on_image;
    md->fsm.on_publish_data = cfg->on_image_data;
    rv = cfg->observer ? 0 : parse_voters(md, cfg->voters, errmsg);
    if (rv != 0) {
        goto err;
    }
    const struct voter *self = NULL;
    for (size_t i = 0; i < md->n_voters; i++) {
        if (md->voters[i].node_id == cfg->node_id) {
            self = &md->voters[i];
        }
    }
    if (self == NULL && !cfg->observer) {
        errf(errmsg,
             "node.id %d is not in controller.quorum.voters (%.120s), so it "
             "needs process.roles=broker",
             cfg->node_id, cfg->voters);
        rv = BK_ECONFIG;
        goto err;
    }
    if (self == NULL) {
        /* Not a voter: this broker pulls the metadata (observer.c). */
        md->is_observer = true;
        rv = bk_md_observer_start(md, cfg->bootstrap);
        if (rv != 0) {
            errf(errmsg, "%s", md->errmsg);
            goto err;
        }
    } else {
        snprintf(md->address, sizeof(md->address), "%s", self->addr);
        rv = lock_dir(md, errmsg);
        if (rv != 0) {
            goto err;
        }
        rv = pthread_create(&md->thread, NULL, md_main, md);
        if (rv != 0) {
            errf(errmsg, "cannot start the metadata thread: %s", strerror(rv));
            rv = BK_EIO;
            goto err;
        }
    }
    pthread_mutex_lock(&md->start_lock);
    while (md->start_state == 0) {
        pthread_cond_wait(&md->start_cond, &md->start_lock);
    }
    rv = md->start_rv;
    pthread_mutex_unlock(&md->start_lock);
    if (rv != 0) {
        pthread_join(md->thread, NULL);
        errf(errmsg, "%s", md->errmsg);
        goto err;
    }
    if (md->is_observer) {
        bk_diag_info("cluster",
                     "msg=\"pulling metadata from the controllers\" node=%d "
                     "bootstrap=%s",
                     md->node_id, cfg->bootstrap);
    } else {
        bk_diag_info("cluster",
                     "msg=\"metadata quorum started\" node=%d "
                     "address=%s dir=%s",
                     md->node_id, md->address, md->dir);
    }
    *out = md;
    return 0;
err:
    md_free(md);
    return rv;
}

void bk_md_stop(struct bk_md *md)
{
    if (md == NULL) {
        return;
    }
    bk_assert(!pthread_equal(pthread_self(), md->thread));
    pthread_mutex_lock(&md->qlock);
    md->stopping = true;
    uv_async_send(&md->wake);
    pthread_mutex_unlock(&md->qlock);
    pthread_join(md->thread, NULL);
    md_free(md);
}

/* ---- any-thread API --------------------------------------------------- */

struct bk_md_image *bk_md_image_acquire(struct bk_md *md)
{
    return bk_md_fsm_acquire(&md->fsm);
}

static int enqueue(struct bk_md *md, struct md_req *r)
{
    pthread_mutex_lock(&md->qlock);
    if (md->stopping) {
        pthread_mutex_unlock(&md->qlock);
        bk_free(r);
        return BK_ESHUTDOWN;
    }
    r->next = NULL;
    if (md->qtail != NULL) {
        md->qtail->next = r;
    } else {
        md->qhead = r;
    }
    md->qtail = r;
    /* Under the lock, so that stop cannot close the handle meanwhile. */
    uv_async_send(&md->wake);
    pthread_mutex_unlock(&md->qlock);
    return 0;
}

int bk_md_propose(struct bk_md *md,
                  const struct bk_md_rec *recs,
                  size_t n,
                  bk_md_done_cb cb,
                  void *data)
{
    size_t len = 0;
    for (size_t i = 0; i < n; i++) {
        if (recs[i].type == 0 || recs[i].type > BK_MD_REC_TYPE_MAX) {
            return BK_EINVAL;
        }
        len += bk_md_rec_size(&recs[i]);
    }
    if (n == 0 || len > MAX_ENTRY_BYTES * 16) {
        return BK_EINVAL;
    }
    struct md_req *r = bk_malloc(sizeof(*r) + len);
    if (r == NULL) {
        return BK_ENOMEM;
    }
    r->kind = REQ_PROPOSE;
    r->cb = cb;
    r->data = data;
    r->n_recs = n;
    r->len = len;
    struct bk_wr wr;
    bk_wr_init(&wr, r->bytes, len);
    for (size_t i = 0; i < n; i++) {
        bk_md_rec_encode(&wr, &recs[i]);
    }
    bk_assert(wr.err == 0 && wr.len == len);
    return enqueue(md, r);
}

/* Queues a request without records (a barrier or a call). */
static int enqueue_kind(struct bk_md *md,
                        int kind,
                        bk_md_done_cb cb,
                        void *data)
{
    struct md_req *r = bk_calloc(1, sizeof(*r));
    if (r == NULL) {
        return BK_ENOMEM;
    }
    r->kind = kind;
    r->cb = cb;
    r->data = data;
    return enqueue(md, r);
}

int bk_md_call(struct bk_md *md, bk_md_done_cb cb, void *data)
{
    return enqueue_kind(md, REQ_CALL, cb, data);
}

int bk_md_pull(struct bk_md *md,
               int64_t from,
               size_t max_bytes,
               struct bk_arena *arena,
               uint8_t **payload,
               size_t *len,
               int64_t *high)
{
    *payload = NULL;
    *len = 0;
    if (md->is_observer) {
        return BK_ENOTLEADER;
    }
    struct bk_md_image *img = bk_md_image_acquire(md);
    *high = img->offset;
    uint8_t *entries = NULL;
    size_t n = 0;
    int rv =
        bk_md_tail_read(&md->fsm.tail, from, max_bytes, arena, &entries, &n);
    if (rv == 0 && entries != NULL) {
        *payload = bk_arena_alloc(arena, n + 1);
        if (*payload == NULL) {
            rv = BK_ENOMEM;
        } else {
            (*payload)[0] = BK_MD_PULL_ENTRIES;
            memcpy(*payload + 1, entries, n);
            *len = n + 1;
        }
    } else if (rv == BK_ERANGE) {
        /* Too far behind (or ahead of a restored image): the whole image. */
        void *snap = NULL;
        size_t slen = 0;
        rv = bk_md_image_snapshot(img, bk_malloc, &snap, &slen);
        *payload = rv == 0 ? bk_arena_alloc(arena, slen + 1) : NULL;
        if (rv == 0 && *payload == NULL) {
            rv = BK_ENOMEM;
        } else if (rv == 0) {
            (*payload)[0] = BK_MD_PULL_IMAGE;
            memcpy(*payload + 1, snap, slen);
            *len = slen + 1;
        }
        bk_free(snap);
    }
    bk_md_image_release(img);
    return rv;
}

struct bk_md_hb *bk_md_hb_of(struct bk_md *md)
{
    return md->hb;
}

int64_t bk_md_images_installed(struct bk_md *md)
{
    return atomic_load(&md->fsm.n_installed);
}

int32_t bk_md_node_id(const struct bk_md *md)
{
    return md->node_id;
}

int bk_md_barrier(struct bk_md *md, bk_md_done_cb cb, void *data)
{
    return enqueue_kind(md, REQ_BARRIER, cb, data);
}

/* A waiter shared by the blocked caller and the callback; whoever is last
 * frees it, so a timed-out caller may leave. */
struct waiter {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    bool done;
    int status;
    int refs;
};

static void waiter_unref(struct waiter *w)
{
    pthread_mutex_lock(&w->lock);
    int refs = --w->refs;
    pthread_mutex_unlock(&w->lock);
    if (refs == 0) {
        pthread_mutex_destroy(&w->lock);
        pthread_cond_destroy(&w->cond);
        bk_free(w);
    }
}

static void waiter_cb(void *data, int status)
{
    struct waiter *w = data;
    pthread_mutex_lock(&w->lock);
    w->done = true;
    w->status = status;
    pthread_cond_signal(&w->cond);
    pthread_mutex_unlock(&w->lock);
    waiter_unref(w);
}

static struct waiter *waiter_new(void)
{
    struct waiter *w = bk_calloc(1, sizeof(*w));
    if (w == NULL) {
        return NULL;
    }
    pthread_mutex_init(&w->lock, NULL);
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&w->cond, &attr);
    pthread_condattr_destroy(&attr);
    w->refs = 2;
    return w;
}

static int waiter_wait(struct waiter *w, unsigned timeout_ms)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    ts.tv_sec += timeout_ms / 1000;
    ts.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&w->lock);
    while (!w->done) {
        if (pthread_cond_timedwait(&w->cond, &w->lock, &ts) == ETIMEDOUT) {
            break;
        }
    }
    int rv = w->done ? w->status : BK_EAGAIN;
    pthread_mutex_unlock(&w->lock);
    waiter_unref(w);
    return rv;
}

int bk_md_propose_sync(struct bk_md *md,
                       const struct bk_md_rec *recs,
                       size_t n,
                       unsigned timeout_ms)
{
    struct waiter *w = waiter_new();
    if (w == NULL) {
        return BK_ENOMEM;
    }
    int rv = bk_md_propose(md, recs, n, waiter_cb, w);
    if (rv != 0) {
        w->refs = 1;
        waiter_unref(w);
        return rv;
    }
    return waiter_wait(w, timeout_ms);
}

int bk_md_barrier_sync(struct bk_md *md, unsigned timeout_ms)
{
    bk_assert(!pthread_equal(pthread_self(), md->thread));
    struct waiter *w = waiter_new();
    if (w == NULL) {
        return BK_ENOMEM;
    }
    int rv = bk_md_barrier(md, waiter_cb, w);
    if (rv != 0) {
        w->refs = 1;
        waiter_unref(w);
        return rv;
    }
    return waiter_wait(w, timeout_ms);
}

bool bk_md_is_active(struct bk_md *md)
{
    return atomic_load(&md->active) != 0;
}

int32_t bk_md_leader(struct bk_md *md)
{
    return atomic_load(&md->leader);
}

int64_t bk_md_high_offset(struct bk_md *md)
{
    struct bk_md_image *img = bk_md_image_acquire(md);
    int64_t own = img != NULL ? img->offset : 0;
    bk_md_image_release(img);
    int64_t high = (int64_t)atomic_load(&md->high_offset);
    return high > own ? high : own;
}

/* ---- quorum state for DescribeQuorum (api 55) ---------------------------
 *
 * raft 0.15 has no getter for the current term (raft-notes §1, §3.8: the
 * struct fields are not to be read). Every term change is persisted
 * through the io vtable before raft acts on it (set_term), and the term is
 * read back from disk at start (load), so wrapping those two public entry
 * points tracks the term exactly as this node knows it. */

static struct bk_md *md_of_io(struct raft_io *io)
{
    return (struct bk_md *)(void *)((char *)io - offsetof(struct bk_md, io));
}

static int term_set_term(struct raft_io *io, raft_term term)
{
    struct bk_md *md = md_of_io(io);
    int rv = md->orig_set_term(io, term);
    if (rv == 0) {
        atomic_store(&md->term, (long long)term);
    }
    return rv;
}

static int term_load(struct raft_io *io,
                     raft_term *term,
                     raft_id *voted_for,
                     struct raft_snapshot **snapshot,
                     raft_index *start_index,
                     struct raft_entry *entries[],
                     size_t *n_entries)
{
    struct bk_md *md = md_of_io(io);
    int rv = md->orig_load(io, term, voted_for, snapshot, start_index, entries,
                           n_entries);
    if (rv == 0) {
        atomic_store(&md->term, (long long)*term);
    }
    return rv;
}

static void track_term(struct bk_md *md)
{
    md->orig_set_term = md->io.set_term;
    md->orig_load = md->io.load;
    md->io.set_term = term_set_term;
    md->io.load = term_load;
}

int64_t bk_md_term(struct bk_md *md)
{
    return (int64_t)atomic_load(&md->term);
}

int bk_md_wait_active(struct bk_md *md, unsigned timeout_ms)
{
    for (unsigned waited = 0;; waited += 5) {
        if (bk_md_is_active(md)) {
            return 0;
        }
        if (waited >= timeout_ms) {
            return BK_ENOTLEADER;
        }
        struct timespec ts = { 0, 5 * 1000000L };
        nanosleep(&ts, NULL);
    }
}

int bk_md_register_broker_sync(struct bk_md *md,
                               int32_t id,
                               const char *host,
                               int32_t port,
                               const char *rack,
                               unsigned timeout_ms,
                               int64_t *epoch)
{
    int rv = bk_md_wait_active(md, timeout_ms);
    if (rv != 0) {
        return rv;
    }
    struct bk_arena arena;
    bk_arena_init(&arena, 1024, 0);
    struct bk_md_recs recs;
    bk_md_recs_init(&recs, &arena);
    char msg[BK_MD_MSG_SIZE];
    struct bk_md_image *img = bk_md_image_acquire(md);
    int16_t code =
        bk_md_op_register_broker(img, id, host, port, rack, &recs, epoch, msg);
    bk_md_image_release(img);
    if (code != 0) {
        rv = code == BK_MD_KERR_UNKNOWN_SERVER_ERROR ? BK_ENOMEM : BK_EINVAL;
    } else {
        rv = bk_md_propose_sync(md, recs.v, recs.n, timeout_ms);
    }
    bk_arena_destroy(&arena);
    return rv;
}
