/* The acceptor: listening sockets polled on the control thread's loop.
 *
 * Why not a listening uv_tcp_t per shard with SO_REUSEPORT: with
 * SO_REUSEPORT a second brokerd on the same port would bind without error
 * and silently share the port, and the kernel's hash may put every
 * connection of a small test on one shard. One acceptor handing accepted
 * fds round-robin to the shards gives an exact spread and a clear "address
 * already in use" at start-up. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/diag.h"
#include "common/err.h"
#include "common/heap.h"
#include "net/net_int.h"

struct adopt_msg {
    struct bk_shard_msg base;
    int fd;
    uint64_t id;
    uint8_t key[16];
    struct bk_conn_origin origin;
};

static void adopt_fn(struct bk_shard *s, struct bk_shard_msg *m)
{
    struct adopt_msg *am = (struct adopt_msg *)m;
    if (s->stopping) {
        close(am->fd);
        bk_conn_limits_release(&s->group->limits, am->key);
    } else {
        bk_conn_adopt(s, am->fd, am->id, am->key, &am->origin);
    }
    bk_free(am);
}

/* Hands fd, already counted under key, to the next shard. */
static void adopt_counted(struct bk_shards *g,
                          int fd,
                          const uint8_t key[16],
                          const struct bk_conn_origin *origin)
{
    struct adopt_msg *m = bk_calloc(1, sizeof(*m));
    if (m == NULL) {
        close(fd);
        bk_conn_limits_release(&g->limits, key);
        return;
    }
    m->base.fn = adopt_fn;
    m->fd = fd;
    m->id = g->next_conn_id++;
    memcpy(m->key, key, 16);
    m->origin = *origin;
    struct bk_shard *s = &g->shards[g->next_shard];
    g->next_shard = (g->next_shard + 1) % g->n;
    bk_shard_post(s, &m->base);
}

void bk_shards_adopt_fd(struct bk_shards *g, int fd)
{
    struct sockaddr_storage ss = { 0 };
    socklen_t sl = sizeof(ss);
    uint8_t key[16];
    if (getpeername(fd, (struct sockaddr *)&ss, &sl) != 0) {
        memset(&ss, 0, sizeof(ss));
    }
    bk_net_addr_key(&ss, key);
    if (bk_conn_limits_admit(&g->limits, key) != 0) {
        close(fd);
        return;
    }
    struct bk_conn_origin origin = { .listener = 0, .tls = NULL };
    adopt_counted(g, fd, key, &origin);
}

static void accept_cb(uv_poll_t *p, int status, int events);

#define BACKOFF_MIN_MS 10
#define BACKOFF_MAX_MS 1000

static void retry_cb(uv_timer_t *t)
{
    struct bk_listener *l = t->data;
    l->paused = false;
    uv_poll_start(&l->poll, UV_READABLE, accept_cb);
}

/* Stops watching the socket for a while. Level-triggered polling would
 * otherwise call us again at once for as long as the condition lasts
 * (a busy loop that also floods the log). */
static void pause_accepting(struct bk_listener *l)
{
    if (l->paused) {
        return;
    }
    l->paused = true;
    uv_poll_stop(&l->poll);
    uv_timer_start(&l->retry, retry_cb, l->backoff_ms, 0);
    l->backoff_ms =
        l->backoff_ms * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : l->backoff_ms * 2;
}

/* Out of descriptors: close the spare so that one more accept works, and
 * close what it returns, so that waiting clients see their connection
 * closed instead of hanging in the backlog. Logged once per episode. */
static void shed_connections(struct bk_listener *l, int err)
{
    if (!l->emfile_episode) {
        l->emfile_episode = true;
        l->shed = 0;
        bk_diag_warn("net",
                     "listener=%s msg=\"accept: %s; closing new connections "
                     "until descriptors are free again\"",
                     l->addr, strerror(err));
    }
    for (int i = 0; i < 64 && l->spare_fd >= 0; i++) {
        close(l->spare_fd);
        l->spare_fd = -1;
        int fd = accept4(l->fd, NULL, NULL, SOCK_CLOEXEC);
        if (fd >= 0) {
            close(fd);
            l->shed++;
        }
        l->spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
        if (fd < 0) {
            break;
        }
    }
    pause_accepting(l);
}

static void end_episode(struct bk_listener *l)
{
    if (l->emfile_episode) {
        l->emfile_episode = false;
        bk_diag_warn("net",
                     "listener=%s msg=\"accepting again; %llu connections "
                     "were closed unserved while out of descriptors\"",
                     l->addr, (unsigned long long)l->shed);
    }
    if (l->spare_fd < 0) {
        l->spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    }
    l->backoff_ms = BACKOFF_MIN_MS;
}

/* A connection over its address's limit is closed at once (Kafka's
 * TooManyConnectionsException); logged at most once a second. */
static void refuse(struct bk_listener *l, int fd)
{
    close(fd);
    l->refused++;
    uint64_t now = uv_now(l->poll.loop);
    if (l->refused_logged == 0 || now - l->refused_logged >= 1000) {
        l->refused_logged = now;
        bk_diag_info("net",
                     "listener=%s msg=\"refused a connection over "
                     "max.connections.per.ip (%llu so far)\"",
                     l->addr, (unsigned long long)l->refused);
    }
}

static void accept_cb(uv_poll_t *p, int status, int events)
{
    struct bk_listener *l = p->data;
    struct bk_shards *g = l->group;
    (void)events;
    if (status < 0) {
        bk_diag_warn("net", "listener=%s msg=\"poll error: %s\"", l->addr,
                     uv_strerror(status));
        return;
    }
    for (int i = 0; i < 64; i++) {
        /* At max.connections Kafka stops accepting until one closes; the
         * clients wait in the backlog. */
        if (bk_conn_limits_full(&g->limits)) {
            pause_accepting(l);
            return;
        }
        struct sockaddr_storage ss = { 0 };
        socklen_t sl = sizeof(ss);
        int fd = accept4(l->fd, (struct sockaddr *)&ss, &sl,
                         SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EMFILE || errno == ENFILE) {
                shed_connections(l, errno);
            } else if (errno == ENOBUFS || errno == ENOMEM) {
                pause_accepting(l);
            }
            return; /* EAGAIN or a transient error: wait for the next poll */
        }
        end_episode(l);
        uint8_t key[16];
        bk_net_addr_key(&ss, key);
        int rv = bk_conn_limits_admit(&g->limits, key);
        if (rv == BK_ELIMIT && bk_conn_limits_full(&g->limits)) {
            /* Lost a race with nothing: only this thread admits. */
            close(fd);
            pause_accepting(l);
            return;
        }
        if (rv != 0) {
            refuse(l, fd);
            continue;
        }
        adopt_counted(g, fd, key, &l->origin);
    }
}

int bk_listener_open(struct bk_listener *l,
                     uv_loop_t *loop,
                     struct bk_shards *g,
                     const struct bk_conn_origin *origin,
                     const char *host,
                     int port,
                     int *bound_port,
                     char *errmsg,
                     size_t errmsg_size)
{
    memset(l, 0, sizeof(*l));
    l->fd = -1;
    l->spare_fd = -1;
    l->group = g;
    l->origin = *origin;
    l->backoff_ms = BACKOFF_MIN_MS;
    snprintf(l->addr, sizeof(l->addr), "%s:%d", host, port);

    struct addrinfo hints = { 0 };
    struct addrinfo *res = NULL;
    char portstr[16];
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
    snprintf(portstr, sizeof(portstr), "%d", port);
    int rv = getaddrinfo(host[0] == '\0' ? NULL : host, portstr, &hints, &res);
    if (rv != 0) {
        snprintf(errmsg, errmsg_size, "cannot resolve listener host '%s': %s",
                 host, gai_strerror(rv));
        return BK_EINVAL;
    }
    int fd =
        socket(res->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        int err = errno;
        freeaddrinfo(res);
        snprintf(errmsg, errmsg_size, "cannot listen on %s: %s", l->addr,
                 strerror(err));
        return -err;
    }
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (bind(fd, res->ai_addr, res->ai_addrlen) != 0 || listen(fd, 1024) != 0) {
        int err = errno;
        freeaddrinfo(res);
        close(fd);
        snprintf(errmsg, errmsg_size, "cannot listen on %s: %s", l->addr,
                 strerror(err));
        return -err;
    }
    freeaddrinfo(res);

    struct sockaddr_storage ss;
    socklen_t sl = sizeof(ss);
    if (getsockname(fd, (struct sockaddr *)&ss, &sl) == 0) {
        /* getsockname filled ss (the analyzer does not model it). */
        /* NOLINTNEXTLINE(clang-analyzer-core.UndefinedBinaryOperatorResult) */
        int p = ss.ss_family == AF_INET6
                    ? ntohs(((struct sockaddr_in6 *)&ss)->sin6_port)
                    : ntohs(((struct sockaddr_in *)&ss)->sin_port);
        if (bound_port != NULL) {
            *bound_port = p;
        }
        snprintf(l->addr, sizeof(l->addr), "%s:%d", host, p);
    }
    rv = uv_poll_init(loop, &l->poll, fd);
    if (rv != 0) {
        close(fd);
        snprintf(errmsg, errmsg_size, "cannot poll %s: %s", l->addr,
                 uv_strerror(rv));
        return rv;
    }
    l->poll.data = l;
    l->fd = fd;
    uv_timer_init(loop, &l->retry);
    l->retry.data = l;
    l->spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    uv_poll_start(&l->poll, UV_READABLE, accept_cb);
    return 0;
}

static void listener_closed_cb(uv_handle_t *h)
{
    struct bk_listener *l = h->data;
    if (l->fd >= 0) {
        close(l->fd);
        l->fd = -1;
    }
    if (l->spare_fd >= 0) {
        close(l->spare_fd);
        l->spare_fd = -1;
    }
}

void bk_listener_close(struct bk_listener *l)
{
    if (l->fd >= 0 && !uv_is_closing((uv_handle_t *)&l->poll)) {
        uv_poll_stop(&l->poll);
        uv_close((uv_handle_t *)&l->retry, NULL);
        uv_close((uv_handle_t *)&l->poll, listener_closed_cb);
    }
}
