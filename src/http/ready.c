/* /health and /ready, for load balancers and systemd/Kubernetes probes.
 *
 * /health: the process is up and its admin thread answers.
 * /ready: the broker serves. For a broker: the controller unfenced it
 * (which it does only once the broker's metadata has caught up, Kafka's
 * BrokerHeartbeat rule), the image it holds still says so (not fenced
 * again, not in controlled shutdown), and every shard has opened the
 * replicas assigned to it at start. A controller-only node: a metadata
 * leader is known. Otherwise 503 with one line why. */
#include <microhttpd.h>
#include <stdio.h>

#include "cluster/controller.h"
#include "cluster/image.h"
#include "http/http_int.h"

void bk_http_health(struct bk_http *h, struct bk_http_page *page)
{
    (void)h;
    bk_http_text(page, MHD_HTTP_OK, "ok\n");
}

/* Whether the image says this broker is registered and unfenced; why not
 * in *why otherwise. */
static bool unfenced(struct bk_http *h, const char **why)
{
    struct bk_md_image *img = bk_md_image_acquire(h->src.md);
    const struct bk_md_broker *b =
        img != NULL ? bk_md_image_broker(img, h->src.node_id) : NULL;
    bool ok = false;
    if (b == NULL) {
        *why = "not registered with the controller";
    } else if (b->fenced) {
        *why = "fenced by the controller (catching up on metadata)";
    } else if (b->in_controlled_shutdown) {
        *why = "in controlled shutdown";
    } else {
        ok = true;
    }
    bk_md_image_release(img);
    return ok;
}

/* The reason the node is not ready, or NULL when it is. */
static const char *not_ready(struct bk_http *h, char *buf, size_t cap)
{
    const char *why = NULL;
    if (atomic_load(h->src.stopping)) {
        return "shutting down";
    }
    if (!h->src.is_broker) {
        return bk_md_leader(h->src.md) < 0 ? "no metadata quorum leader known"
                                           : NULL;
    }
    if (!atomic_load(h->src.started)) {
        return "not yet registered and unfenced by the controller";
    }
    if (!unfenced(h, &why)) {
        return why;
    }
    struct bk_http_shard_report sum;
    bool all;
    unsigned first;
    if (bk_http_shard_reports(h, &sum, &all, &first) != 0) {
        return "a shard did not answer in time";
    }
    if (!all) {
        snprintf(buf, cap,
                 "shard %u is still opening the replicas assigned at start",
                 first);
        return buf;
    }
    return NULL;
}

void bk_http_ready(struct bk_http *h, struct bk_http_page *page)
{
    char buf[160], line[200];
    const char *why = not_ready(h, buf, sizeof(buf));
    if (why == NULL) {
        bk_http_text(page, MHD_HTTP_OK, "ready\n");
        return;
    }
    snprintf(line, sizeof(line), "not ready: %s\n", why);
    bk_http_text(page, MHD_HTTP_SERVICE_UNAVAILABLE, line);
}
