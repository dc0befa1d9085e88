/* libmicrohttpd glue: the daemon, the routes, and the HTTP errors.
 *
 * Happy path: MHD parses a request on its internal thread and calls
 * on_request once the headers are in; a GET is answered at once from the
 * page its path names. Failure modes: a method other than GET or HEAD
 * gets 405 with Allow (any body is discarded by MHD); an unknown path
 * 404; a page that cannot be built (no memory, a shard that does not
 * answer) 500 or 503 with one line why. MHD itself bounds what a client
 * can hold: the connection limit, the per-connection memory (headers
 * larger than it get 431) and the idle timeout below. */
#include <arpa/inet.h>
#include <microhttpd.h>
#include <netdb.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "common/diag.h"
#include "common/err.h"
#include "common/heap.h"
#include "http/http_int.h"

/* Bounds on what clients may hold: scrapers and probes need few
 * connections and small requests. */
#define MAX_CONNECTIONS   64
#define CONN_MEMORY_BYTES (32 * 1024)
#define CONN_TIMEOUT_S    10

void bk_http_text(struct bk_http_page *page, unsigned status, const char *txt)
{
    size_t n = strlen(txt);
    page->status = status;
    page->type = "text/plain; charset=utf-8";
    page->body = bk_malloc(n + 1);
    page->len = page->body != NULL ? n : 0;
    if (page->body != NULL) {
        memcpy(page->body, txt, n + 1);
    }
}

static const char *query_arg(void *data, const char *key)
{
    return MHD_lookup_connection_value(data, MHD_GET_ARGUMENT_KIND, key);
}

static void route(struct bk_http *h,
                  struct MHD_Connection *conn,
                  const char *url,
                  struct bk_http_page *pg)
{
    struct bk_http_args args = { query_arg, conn };
    if (bk_http_console(url, pg)) {
        return;
    }
    if (strcmp(url, "/health") == 0) {
        bk_http_health(h, pg);
    } else if (strcmp(url, "/ready") == 0) {
        bk_http_ready(h, pg);
    } else if (strcmp(url, "/metrics") == 0) {
        bk_http_metrics(h, pg);
    } else if (strncmp(url, "/v1/", 4) == 0) {
        bk_http_v1(h, url + 3, &args, pg);
    } else {
        bk_http_text(pg, MHD_HTTP_NOT_FOUND, "not found\n");
    }
}

static enum MHD_Result send_page(struct MHD_Connection *conn,
                                 struct bk_http_page *pg,
                                 bool allow_header)
{
    /* MUST_COPY: the body comes from bk_heap, which MHD cannot free. */
    struct MHD_Response *r = MHD_create_response_from_buffer(
        pg->len, pg->body != NULL ? pg->body : (char *)"",
        MHD_RESPMEM_MUST_COPY);
    bk_free(pg->body);
    if (r == NULL) {
        return MHD_NO;
    }
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, pg->type);
    MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
    if (allow_header) {
        MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, "GET, HEAD");
    }
    enum MHD_Result ret = MHD_queue_response(conn, pg->status, r);
    MHD_destroy_response(r);
    return ret;
}

static enum MHD_Result on_request(void *cls,
                                  struct MHD_Connection *conn,
                                  const char *url,
                                  const char *method,
                                  const char *version,
                                  const char *upload_data,
                                  size_t *upload_data_size,
                                  void **con_cls)
{
    struct bk_http *h = cls;
    (void)version;
    (void)upload_data;
    (void)upload_data_size;
    (void)con_cls;
    struct bk_http_page pg = { 0 };
    if (strcmp(method, MHD_HTTP_METHOD_GET) != 0 &&
        strcmp(method, MHD_HTTP_METHOD_HEAD) != 0) {
        bk_http_text(&pg, MHD_HTTP_METHOD_NOT_ALLOWED,
                     "method not allowed: the admin API is read-only\n");
        return send_page(conn, &pg, true);
    }
    route(h, conn, url, &pg);
    if (pg.body == NULL && pg.status != MHD_HTTP_NOT_FOUND) {
        bk_http_text(&pg, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory\n");
    }
    return send_page(conn, &pg, false);
}

/* Resolves host (numeric, or a name such as localhost) for binding. */
static int resolve(const char *host,
                   int port,
                   struct sockaddr_storage *ss,
                   char *errmsg,
                   size_t errlen)
{
    struct addrinfo hints = { .ai_flags = AI_PASSIVE,
                              .ai_socktype = SOCK_STREAM };
    struct addrinfo *ai = NULL;
    char portstr[16];
    snprintf(portstr, sizeof(portstr), "%d", port);
    int rv = getaddrinfo(host[0] != '\0' ? host : NULL, portstr, &hints, &ai);
    if (rv != 0 || ai == NULL) {
        snprintf(errmsg, errlen, "admin.listeners: cannot resolve %s: %s", host,
                 gai_strerror(rv));
        return BK_ECONFIG;
    }
    memcpy(ss, ai->ai_addr, ai->ai_addrlen);
    freeaddrinfo(ai);
    return 0;
}

static uint64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

int bk_http_start(const char *host,
                  int port,
                  const struct bk_http_src *src,
                  struct bk_http **out,
                  int *bound_port,
                  char *errmsg,
                  size_t errlen)
{
    struct sockaddr_storage ss;
    int rv = resolve(host, port, &ss, errmsg, errlen);
    if (rv != 0) {
        return rv;
    }
    struct bk_http *h = bk_calloc(1, sizeof(*h));
    if (h == NULL) {
        snprintf(errmsg, errlen, "admin.listeners: out of memory");
        return BK_ENOMEM;
    }
    h->src = *src;
    h->started_ms = mono_ms();
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_AUTO;
    if (ss.ss_family == AF_INET6) {
        flags |= MHD_USE_IPv6;
    }
    h->daemon = MHD_start_daemon(
        flags, (uint16_t)port, NULL, NULL, on_request, h, MHD_OPTION_SOCK_ADDR,
        (struct sockaddr *)&ss, MHD_OPTION_CONNECTION_LIMIT,
        (unsigned)MAX_CONNECTIONS, MHD_OPTION_CONNECTION_MEMORY_LIMIT,
        (size_t)CONN_MEMORY_BYTES, MHD_OPTION_CONNECTION_TIMEOUT,
        (unsigned)CONN_TIMEOUT_S, MHD_OPTION_END);
    if (h->daemon == NULL) {
        snprintf(errmsg, errlen,
                 "admin.listeners: cannot listen on %s:%d (in use, or not "
                 "an address of this host)",
                 host, port);
        bk_free(h);
        return BK_EIO;
    }
    const union MHD_DaemonInfo *info =
        MHD_get_daemon_info(h->daemon, MHD_DAEMON_INFO_BIND_PORT);
    *bound_port = info != NULL ? info->port : port;
    *out = h;
    return 0;
}

void bk_http_stop(struct bk_http *h)
{
    if (h == NULL) {
        return;
    }
    MHD_stop_daemon(h->daemon);
    bk_free(h);
}
