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

#include "common/heap.h"
#include "common/log.h"
#include "net/net_int.h"

struct adopt_msg {
    struct bk_shard_msg base;
    int fd;
    uint64_t id;
};

static void adopt_fn(struct bk_shard *s, struct bk_shard_msg *m)
{
    struct adopt_msg *am = (struct adopt_msg *)m;
    if (s->stopping) {
        close(am->fd);
    } else {
        bk_conn_adopt(s, am->fd, am->id);
    }
    bk_free(am);
}

void bk_shards_adopt_fd(struct bk_shards *g, int fd)
{
    struct adopt_msg *m = bk_calloc(1, sizeof(*m));
    if (m == NULL) {
        close(fd);
        return;
    }
    m->base.fn = adopt_fn;
    m->fd = fd;
    m->id = g->next_conn_id++;
    struct bk_shard *s = &g->shards[g->next_shard];
    g->next_shard = (g->next_shard + 1) % g->n;
    bk_shard_post(s, &m->base);
}

static void accept_cb(uv_poll_t *p, int status, int events)
{
    struct bk_listener *l = p->data;
    (void)events;
    if (status < 0) {
        bk_log_warn("net", "listener=%s msg=\"poll error: %s\"", l->addr,
                    uv_strerror(status));
        return;
    }
    for (int i = 0; i < 64; i++) {
        int fd = accept4(l->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EMFILE || errno == ENFILE) {
                bk_log_warn("net", "listener=%s msg=\"accept: %s\"", l->addr,
                            strerror(errno));
            }
            return; /* EAGAIN or a transient error: wait for the next poll */
        }
        bk_shards_adopt_fd(l->group, fd);
    }
}

int bk_listener_open(struct bk_listener *l,
                     uv_loop_t *loop,
                     struct bk_shards *g,
                     const char *host,
                     int port,
                     int *bound_port,
                     char *errmsg,
                     size_t errmsg_size)
{
    memset(l, 0, sizeof(*l));
    l->fd = -1;
    l->group = g;
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
}

void bk_listener_close(struct bk_listener *l)
{
    if (l->fd >= 0 && !uv_is_closing((uv_handle_t *)&l->poll)) {
        uv_poll_stop(&l->poll);
        uv_close((uv_handle_t *)&l->poll, listener_closed_cb);
    }
}
