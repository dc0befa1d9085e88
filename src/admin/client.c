#include "admin/client.h"

#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/err.h"
#include "common/heap.h"
#include "protocol/gen/api_versions.h"
#include "protocol/header.h"
#include "protocol/kerr.h"

/* The largest answer brokerctl accepts. */
#define MAX_RESPONSE (256 * 1024 * 1024)

static int split_hostport(const char *hp,
                          char *host,
                          size_t hl,
                          char *port,
                          size_t pl)
{
    const char *colon = strrchr(hp, ':');
    if (colon == NULL || colon == hp || colon[1] == '\0') {
        return BK_EINVAL;
    }
    size_t n = (size_t)(colon - hp);
    if (hp[0] == '[' && colon[-1] == ']') {
        hp++;
        n -= 2;
    }
    if (n >= hl || strlen(colon + 1) >= pl) {
        return BK_EINVAL;
    }
    memcpy(host, hp, n);
    host[n] = '\0';
    strcpy(port, colon + 1);
    return 0;
}

static int io_wait(struct bk_client *c, short events)
{
    struct pollfd p = { .fd = c->fd, .events = events };
    int rv = poll(&p, 1, c->timeout_ms);
    if (rv == 0) {
        snprintf(c->errmsg, sizeof(c->errmsg),
                 "timed out after %d ms waiting for %s", c->timeout_ms,
                 c->addr);
        return BK_EAGAIN;
    }
    if (rv < 0) {
        int e = errno;
        snprintf(c->errmsg, sizeof(c->errmsg), "%s: %s", c->addr, strerror(e));
        return -e;
    }
    return 0;
}

static int send_all(struct bk_client *c, const uint8_t *p, size_t n)
{
    while (n > 0) {
        ssize_t w = send(c->fd, p, n, MSG_NOSIGNAL);
        if (w < 0) {
            if (errno == EAGAIN || errno == EINTR) {
                int rv = io_wait(c, POLLOUT);
                if (rv != 0) {
                    return rv;
                }
                continue;
            }
            int e = errno;
            snprintf(c->errmsg, sizeof(c->errmsg), "sending to %s: %s", c->addr,
                     strerror(e));
            return -e;
        }
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

static int recv_all(struct bk_client *c, uint8_t *p, size_t n)
{
    while (n > 0) {
        int rv = io_wait(c, POLLIN);
        if (rv != 0) {
            return rv;
        }
        ssize_t r = recv(c->fd, p, n, 0);
        if (r == 0) {
            snprintf(c->errmsg, sizeof(c->errmsg), "%s closed the connection",
                     c->addr);
            return BK_EIO;
        }
        if (r < 0) {
            if (errno == EAGAIN || errno == EINTR) {
                continue;
            }
            int e = errno;
            snprintf(c->errmsg, sizeof(c->errmsg), "reading from %s: %s",
                     c->addr, strerror(e));
            return -e;
        }
        p += r;
        n -= (size_t)r;
    }
    return 0;
}

/* Encodes and sends one request; *corr gets its correlation id. */
static int send_request(struct bk_client *c,
                        int16_t key,
                        int16_t version,
                        const void *req,
                        int32_t *corr)
{
    const struct bk_api_desc *d = bk_api_desc(key);
    if (d == NULL) {
        return BK_EINVAL;
    }
    bool flexible = d->flexible_min >= 0 && version >= d->flexible_min;
    static const char client_id[] = "brokerctl";
    size_t hdr = 2 + 2 + 4 + 2 + sizeof(client_id) - 1 + (flexible ? 1 : 0);
    size_t body_size = d->req_size(req, version);
    size_t total = 4 + hdr + body_size;
    uint8_t *buf = bk_malloc(total);
    if (buf == NULL) {
        return BK_ENOMEM;
    }
    struct bk_wr wr;
    bk_wr_init(&wr, buf, total);
    *corr = c->next_corr++;
    bk_wr_i32(&wr, (int32_t)(hdr + body_size));
    bk_wr_i16(&wr, key);
    bk_wr_i16(&wr, version);
    bk_wr_i32(&wr, *corr);
    bk_wr_str(&wr, bk_str_c(client_id), false);
    if (flexible) {
        bk_wr_uvarint(&wr, 0);
    }
    int rv = d->req_encode(req, &wr, version);
    if (rv != 0 || wr.err != 0) {
        bk_free(buf);
        snprintf(c->errmsg, sizeof(c->errmsg), "cannot encode %s v%d", d->name,
                 version);
        return BK_EINVAL;
    }
    rv = send_all(c, buf, wr.len);
    bk_free(buf);
    return rv;
}

int bk_client_send_only(struct bk_client *c,
                        int16_t key,
                        int16_t version,
                        const void *req)
{
    int32_t corr;
    return send_request(c, key, version, req, &corr);
}

/* Sends one request and reads its answer into c->frame; body and body_len
 * get the bytes after the response header. */
static int roundtrip(struct bk_client *c,
                     int16_t key,
                     int16_t version,
                     const void *req,
                     const uint8_t **body,
                     size_t *body_len)
{
    int32_t corr;
    int rv = send_request(c, key, version, req, &corr);
    if (rv != 0) {
        return rv;
    }
    uint8_t sz[4];
    rv = recv_all(c, sz, 4);
    if (rv != 0) {
        return rv;
    }
    int32_t n = (int32_t)(((uint32_t)sz[0] << 24) | ((uint32_t)sz[1] << 16) |
                          ((uint32_t)sz[2] << 8) | sz[3]);
    if (n < 4 || n > MAX_RESPONSE) {
        snprintf(c->errmsg, sizeof(c->errmsg),
                 "%s sent a response of invalid size %d", c->addr, n);
        return BK_EPROTO;
    }
    bk_free(c->frame);
    c->frame = bk_malloc((size_t)n);
    if (c->frame == NULL) {
        return BK_ENOMEM;
    }
    rv = recv_all(c, c->frame, (size_t)n);
    if (rv != 0) {
        return rv;
    }
    struct bk_rd rd;
    bk_rd_init(&rd, c->frame, (size_t)n);
    int32_t rcorr = bk_rd_i32(&rd);
    if (rcorr != corr) {
        snprintf(c->errmsg, sizeof(c->errmsg),
                 "%s answered correlation id %d, expected %d", c->addr, rcorr,
                 corr);
        return BK_EPROTO;
    }
    if (bk_resp_header_flexible(key, version)) {
        bk_rd_tags_skip(&rd);
    }
    if (rd.err != 0) {
        snprintf(c->errmsg, sizeof(c->errmsg), "%s sent a malformed header",
                 c->addr);
        return BK_EPROTO;
    }
    *body = c->frame + rd.pos;
    *body_len = bk_rd_left(&rd);
    return 0;
}

int bk_client_call(struct bk_client *c,
                   int16_t key,
                   int16_t version,
                   const void *req,
                   void *resp,
                   struct bk_arena *arena)
{
    const struct bk_api_desc *d = bk_api_desc(key);
    const uint8_t *body;
    size_t len;
    int rv = roundtrip(c, key, version, req, &body, &len);
    if (rv != 0) {
        return rv;
    }
    struct bk_rd rd;
    bk_rd_init(&rd, body, len);
    d->resp_init(resp);
    rv = d->resp_decode(resp, &rd, version, arena);
    if (rv != 0) {
        snprintf(c->errmsg, sizeof(c->errmsg),
                 "%s sent a malformed %s v%d response", c->addr, d->name,
                 version);
        return rv;
    }
    return 0;
}

static int negotiate(struct bk_client *c)
{
    struct bk_arena arena;
    bk_arena_init(&arena, 4096, 0);
    struct bk_msg_api_versions_request req;
    struct bk_msg_api_versions_response resp;
    bk_msg_api_versions_request_init(&req);
    req.client_software_name = bk_str_c("brokerctl");
    req.client_software_version = bk_str_c(BK_VERSION);
    int16_t version = BK_MSG_API_VERSIONS_REQUEST_MAX_VERSION;
    int rv =
        bk_client_call(c, BK_API_API_VERSIONS, version, &req, &resp, &arena);
    if (rv == 0 && resp.error_code == BK_KERR_UNSUPPORTED_VERSION) {
        /* KIP-511: retry with the highest version the broker named. */
        version = 0;
        for (int32_t i = 0; i < resp.api_keys_count; i++) {
            if (resp.api_keys[i].api_key == BK_API_API_VERSIONS) {
                version = resp.api_keys[i].max_version;
            }
        }
        rv = bk_client_call(c, BK_API_API_VERSIONS, version, &req, &resp,
                            &arena);
    }
    if (rv == 0 && resp.error_code != 0) {
        snprintf(c->errmsg, sizeof(c->errmsg), "%s: ApiVersions failed: %s",
                 c->addr, bk_kerr_name(resp.error_code));
        rv = BK_EPROTO;
    }
    if (rv == 0) {
        for (int i = 0; i < BK_CLIENT_MAX_KEYS; i++) {
            c->broker_min[i] = -1;
            c->broker_max[i] = -1;
        }
        for (int32_t i = 0; i < resp.api_keys_count; i++) {
            int16_t k = resp.api_keys[i].api_key;
            if (k >= 0 && k < BK_CLIENT_MAX_KEYS) {
                c->broker_min[k] = resp.api_keys[i].min_version;
                c->broker_max[k] = resp.api_keys[i].max_version;
            }
        }
    }
    bk_arena_destroy(&arena);
    return rv;
}

int bk_client_connect(struct bk_client *c, const char *hostport, int timeout_ms)
{
    memset(c, 0, sizeof(*c));
    c->fd = -1;
    c->next_corr = 1;
    c->timeout_ms = timeout_ms;
    snprintf(c->addr, sizeof(c->addr), "%s", hostport);
    char host[256], port[16];
    if (split_hostport(hostport, host, sizeof(host), port, sizeof(port)) != 0) {
        snprintf(c->errmsg, sizeof(c->errmsg),
                 "bootstrap server '%s' is not host:port", hostport);
        return BK_EINVAL;
    }
    struct addrinfo hints = { 0 }, *res = NULL;
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    int gai = getaddrinfo(host, port, &hints, &res);
    if (gai != 0) {
        snprintf(c->errmsg, sizeof(c->errmsg), "cannot resolve %s: %s", host,
                 gai_strerror(gai));
        return BK_EINVAL;
    }
    int err = ECONNREFUSED;
    for (struct addrinfo *ai = res; ai != NULL; ai = ai->ai_next) {
        c->fd = socket(ai->ai_family,
                       ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (c->fd < 0) {
            err = errno;
            continue;
        }
        if (connect(c->fd, ai->ai_addr, ai->ai_addrlen) == 0 ||
            errno == EINPROGRESS) {
            struct pollfd p = { .fd = c->fd, .events = POLLOUT };
            int soerr = 0;
            socklen_t sl = sizeof(soerr);
            if (poll(&p, 1, timeout_ms) == 1 &&
                getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) == 0 &&
                soerr == 0) {
                break;
            }
            err = soerr != 0 ? soerr : ETIMEDOUT;
        } else {
            err = errno;
        }
        close(c->fd);
        c->fd = -1;
    }
    freeaddrinfo(res);
    if (c->fd < 0) {
        snprintf(c->errmsg, sizeof(c->errmsg), "cannot connect to %s: %s",
                 hostport, strerror(err));
        return -err;
    }
    int one = 1;
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    int rv = negotiate(c);
    if (rv != 0) {
        bk_client_close(c);
    }
    return rv;
}

void bk_client_close(struct bk_client *c)
{
    if (c->fd >= 0) {
        close(c->fd);
        c->fd = -1;
    }
    bk_free(c->frame);
    c->frame = NULL;
}

int16_t bk_client_version(const struct bk_client *c, int16_t key)
{
    const struct bk_api_desc *d = bk_api_desc(key);
    if (d == NULL || key < 0 || key >= BK_CLIENT_MAX_KEYS ||
        c->broker_max[key] < 0) {
        return -1;
    }
    int16_t v = d->max_version < c->broker_max[key] ? d->max_version
                                                    : c->broker_max[key];
    if (v < c->broker_min[key] || v < d->min_version) {
        return -1;
    }
    return v;
}
