/* The admin HTTP listener (admin.listeners): /health, /ready, /metrics
 * (Prometheus text format 0.0.4) and a read-only JSON API under /v1/.
 *
 * HTTP is libmicrohttpd's (docs/operations.md says why): it parses the
 * requests and runs them on its own internal thread, never on a shard's
 * loop. The pages read what the broker already keeps for other readers:
 * the published metadata image (lock-free), the per-shard counters
 * (relaxed atomics, metrics/metrics.h), the syncer's histograms, and what
 * only a shard may touch (open logs, groups) through a message to each
 * shard's inbox, answered on the shard and waited for with a timeout. */
#ifndef BK_HTTP_HTTP_H
#define BK_HTTP_HTTP_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct bk_shards;
struct bk_md;
struct bk_syncer;
struct bk_http;

/* What the pages read. Every pointer is borrowed and must outlive the
 * server (bk_http_stop before any of them goes). */
struct bk_http_src {
    int32_t node_id;
    const char *cluster_id;
    const char *version;
    bool is_broker;
    struct bk_shards *shards; /* running shards */
    struct bk_md *md;
    struct bk_syncer *syncer; /* may be NULL */
    /* Set by the control loop once the controller has unfenced this
     * broker (server/lifecycle.c's on_ready). */
    const atomic_bool *started;
    /* Set when shutdown begins: /ready answers 503 from then on. */
    const atomic_bool *stopping;
};

/* Binds host:port (numeric address or "localhost"; port 0 picks a free
 * one, *bound_port gets it) and starts serving on the library's thread.
 * src is copied. On failure returns BK_EIO/BK_ENOMEM/BK_ECONFIG with one
 * line in errmsg. *out is owned by the caller: bk_http_stop. */
int bk_http_start(const char *host,
                  int port,
                  const struct bk_http_src *src,
                  struct bk_http **out,
                  int *bound_port,
                  char *errmsg,
                  size_t errlen);

/* Stops the thread (waits for the request in progress) and frees h. NULL
 * is allowed. */
void bk_http_stop(struct bk_http *h);

#endif /* BK_HTTP_HTTP_H */
