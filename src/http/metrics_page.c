/* GET /metrics: the Prometheus text format, version 0.0.4.
 *
 * Names follow Prometheus' conventions: a brokerd_ prefix, base units in
 * the name (_seconds, _bytes), _total on counters. Per-shard counters are
 * summed into one scratch block on every scrape (nothing is kept between
 * scrapes); gauges of the cluster come from the published metadata image,
 * the sizes of the open logs from one message to each shard. */
#include <microhttpd.h>
#include <stdio.h>
#include <string.h>

#include "cluster/controller.h"
#include "cluster/image.h"
#include "common/heap.h"
#include "http/http_int.h"
#include "log/log.h"
#include "metrics/prom.h"
#include "net/net.h"
#include "protocol/gen/api.h"
#include "protocol/kerr.h"

static const char *const phase_names[BK_MX_NPHASES] = { "handle", "send",
                                                        "total" };
static const char *const close_names[BK_MX_NCLOSE] = { "peer", "protocol",
                                                       "idle", "shutdown",
                                                       "other" };

static void merge_topic(struct bk_metrics_shard *sum,
                        const struct bk_mx_topic *t,
                        bool overflow)
{
    struct bk_mx_topic *d = overflow ? &sum->other : bk_mx_topic(sum, t->id);
    bk_ctr_add(&d->bytes_in, bk_ctr_get(&t->bytes_in));
    bk_ctr_add(&d->records_in, bk_ctr_get(&t->records_in));
    bk_ctr_add(&d->bytes_out, bk_ctr_get(&t->bytes_out));
    bk_ctr_add(&d->records_out, bk_ctr_get(&t->records_out));
}

/* Adds one shard's counters into sum (the scraper's own block). */
static void merge_shard(struct bk_metrics_shard *sum,
                        const struct bk_metrics_shard *m)
{
    for (int a = 0; a < BK_MX_APIS; a++) {
        for (int v = 0; v < BK_MX_VERSIONS; v++) {
            bk_ctr_add(&sum->requests[a][v], bk_ctr_get(&m->requests[a][v]));
        }
        for (int c = 0; c < BK_MX_CODES; c++) {
            bk_ctr_add(&sum->errors[a][c], bk_ctr_get(&m->errors[a][c]));
        }
        for (int ph = 0; ph < BK_MX_NPHASES; ph++) {
            bk_hist_merge(&sum->latency[a][ph], &m->latency[a][ph]);
        }
    }
    bk_ctr_add(&sum->conn_accepted, bk_ctr_get(&m->conn_accepted));
    for (int r = 0; r < BK_MX_NCLOSE; r++) {
        bk_ctr_add(&sum->conn_closed[r], bk_ctr_get(&m->conn_closed[r]));
    }
    for (int k = 0; k < BK_MX_QUOTA_KINDS; k++) {
        bk_ctr_add(&sum->throttled[k], bk_ctr_get(&m->throttled[k]));
        bk_ctr_add(&sum->throttle_ms[k], bk_ctr_get(&m->throttle_ms[k]));
    }
    for (int i = 0; i < BK_MX_TOPICS; i++) {
        const struct bk_mx_topic *t = &m->topics[i];
        if (atomic_load_explicit(&t->used, memory_order_acquire)) {
            merge_topic(sum, t, false);
        }
    }
    merge_topic(sum, &m->other, true);
}

static const char *api_name(int a)
{
    const struct bk_api_desc *d = bk_api_desc((int16_t)a);
    return d != NULL ? d->name : "unknown";
}

static void requests(struct bk_prom *p, const struct bk_metrics_shard *s)
{
    char ver[8];
    bk_prom_family(p, "brokerd_requests_total", "counter",
                   "Kafka requests taken, by API and version.");
    for (int a = 0; a < BK_MX_APIS; a++) {
        for (int v = 0; v < BK_MX_VERSIONS; v++) {
            uint64_t n = bk_ctr_get(&s->requests[a][v]);
            if (n == 0) {
                continue;
            }
            snprintf(ver, sizeof(ver), "%d", v);
            struct bk_prom_label l[] = { { "api", api_name(a) },
                                         { "version", ver } };
            bk_prom_u64(p, "brokerd_requests_total", l, 2, n);
        }
    }
    bk_prom_family(p, "brokerd_request_errors_total", "counter",
                   "Error codes answered, by API and Kafka error name "
                   "(per partition for Produce and Fetch).");
    for (int a = 0; a < BK_MX_APIS; a++) {
        for (int c = 0; c < BK_MX_CODES; c++) {
            uint64_t n = bk_ctr_get(&s->errors[a][c]);
            if (n == 0) {
                continue;
            }
            const char *code = c == 0 ? "UNKNOWN" : bk_kerr_name((int16_t)c);
            struct bk_prom_label l[] = { { "api", api_name(a) },
                                         { "code", code } };
            bk_prom_u64(p, "brokerd_request_errors_total", l, 2, n);
        }
    }
}

static bool hist_empty(const struct bk_hist *h)
{
    for (int i = 0; i <= BK_HIST_MAX_BOUNDS; i++) {
        if (bk_ctr_get(&h->counts[i]) != 0) {
            return false;
        }
    }
    return true;
}

static void latency(struct bk_prom *p, const struct bk_metrics_shard *s)
{
    bk_prom_family(p, "brokerd_request_duration_seconds", "histogram",
                   "Request time by API and phase: handle (frame read to "
                   "answer ready), send (answer ready to written), total.");
    for (int a = 0; a < BK_MX_APIS; a++) {
        if (hist_empty(&s->latency[a][BK_MX_TOTAL])) {
            continue;
        }
        for (int ph = 0; ph < BK_MX_NPHASES; ph++) {
            struct bk_prom_label l[] = { { "api", api_name(a) },
                                         { "phase", phase_names[ph] } };
            bk_prom_hist(p, "brokerd_request_duration_seconds", l, 2,
                         &s->latency[a][ph], &bk_hist_latency_us, 1e-6);
        }
    }
}

static void connections(struct bk_prom *p, const struct bk_metrics_shard *s)
{
    uint64_t closed = 0;
    bk_prom_family(p, "brokerd_connections_accepted_total", "counter",
                   "Kafka connections accepted.");
    bk_prom_u64(p, "brokerd_connections_accepted_total", NULL, 0,
                bk_ctr_get(&s->conn_accepted));
    bk_prom_family(p, "brokerd_connections_closed_total", "counter",
                   "Kafka connections closed, by reason.");
    for (int r = 0; r < BK_MX_NCLOSE; r++) {
        uint64_t n = bk_ctr_get(&s->conn_closed[r]);
        closed += n;
        struct bk_prom_label l[] = { { "reason", close_names[r] } };
        bk_prom_u64(p, "brokerd_connections_closed_total", l, 1, n);
    }
    uint64_t acc = bk_ctr_get(&s->conn_accepted);
    bk_prom_family(p, "brokerd_connections_open", "gauge",
                   "Kafka connections open.");
    bk_prom_u64(p, "brokerd_connections_open", NULL, 0,
                acc > closed ? acc - closed : 0);
}

/* Client quota throttles (api/quota.h), by the kind of quota. */
static void quotas(struct bk_prom *p, const struct bk_metrics_shard *s)
{
    static const char *const kinds[BK_MX_QUOTA_KINDS] = { "produce", "fetch",
                                                          "request" };
    bk_prom_family(p, "brokerd_quota_throttled_total", "counter",
                   "Answers after which a connection was muted for a "
                   "client quota (KIP-219), by quota type.");
    for (int k = 0; k < BK_MX_QUOTA_KINDS; k++) {
        struct bk_prom_label l[] = { { "type", kinds[k] } };
        bk_prom_u64(p, "brokerd_quota_throttled_total", l, 1,
                    bk_ctr_get(&s->throttled[k]));
    }
    bk_prom_family(p, "brokerd_quota_throttle_seconds_total", "counter",
                   "Throttle time given to clients over a quota, by quota "
                   "type.");
    for (int k = 0; k < BK_MX_QUOTA_KINDS; k++) {
        struct bk_prom_label l[] = { { "type", kinds[k] } };
        bk_prom_f64(p, "brokerd_quota_throttle_seconds_total", l, 1,
                    (double)bk_ctr_get(&s->throttle_ms[k]) / 1000.0);
    }
}

static void topic_family(struct bk_prom *p,
                         const struct bk_md_image *img,
                         const struct bk_metrics_shard *s,
                         const char *name,
                         const char *help,
                         size_t field)
{
    bk_prom_family(p, name, "counter", help);
    for (int i = 0; i <= BK_MX_TOPICS; i++) {
        const struct bk_mx_topic *t =
            i < BK_MX_TOPICS ? &s->topics[i] : &s->other;
        if (i < BK_MX_TOPICS && !atomic_load(&t->used)) {
            continue;
        }
        const struct bk_ctr *c =
            (const struct bk_ctr *)((const char *)t + field);
        const char *topic = "_other";
        if (i < BK_MX_TOPICS) {
            const struct bk_md_topic *mt =
                img != NULL ? bk_md_image_topic_by_id(
                                  img, (const struct bk_uuid *)t->id)
                            : NULL;
            if (mt == NULL) {
                continue; /* deleted since: its series ends */
            }
            topic = mt->name;
        } else if (bk_ctr_get(c) == 0) {
            continue;
        }
        struct bk_prom_label l[] = { { "topic", topic } };
        bk_prom_u64(p, name, l, 1, bk_ctr_get(c));
    }
}

static void topics(struct bk_prom *p,
                   const struct bk_md_image *img,
                   const struct bk_metrics_shard *s)
{
    topic_family(p, img, s, "brokerd_topic_bytes_in_total",
                 "Record batch bytes appended by Produce, by topic.",
                 offsetof(struct bk_mx_topic, bytes_in));
    topic_family(p, img, s, "brokerd_topic_records_in_total",
                 "Records appended by Produce, by topic.",
                 offsetof(struct bk_mx_topic, records_in));
    topic_family(p, img, s, "brokerd_topic_bytes_out_total",
                 "Record batch bytes returned by Fetch, by topic.",
                 offsetof(struct bk_mx_topic, bytes_out));
    topic_family(p, img, s, "brokerd_topic_records_out_total",
                 "Offsets Fetch moved consumers over, by topic.",
                 offsetof(struct bk_mx_topic, records_out));
}

/* Partitions this node leads, and of those with fewer in-sync replicas
 * than replicas; partitions of the cluster without a leader. */
static void partitions(struct bk_prom *p,
                       const struct bk_md_image *img,
                       int32_t node)
{
    uint64_t led = 0, under = 0, offline = 0;
    for (size_t i = 0; img != NULL && i < img->n_topics; i++) {
        const struct bk_md_topic *t = img->by_name[i];
        for (int32_t j = 0; j < t->n_partitions; j++) {
            const struct bk_md_partition *mp = &t->partitions[j];
            offline += mp->leader < 0;
            if (mp->leader == node) {
                led++;
                under += mp->n_isr < mp->n_replicas;
            }
        }
    }
    bk_prom_family(p, "brokerd_partitions_led", "gauge",
                   "Partitions this broker leads.");
    bk_prom_u64(p, "brokerd_partitions_led", NULL, 0, led);
    bk_prom_family(p, "brokerd_partitions_under_replicated", "gauge",
                   "Partitions led here with fewer in-sync replicas than "
                   "replicas.");
    bk_prom_u64(p, "brokerd_partitions_under_replicated", NULL, 0, under);
    bk_prom_family(p, "brokerd_partitions_offline", "gauge",
                   "Partitions of the cluster without a leader.");
    bk_prom_u64(p, "brokerd_partitions_offline", NULL, 0, offline);
}

static void gauge(struct bk_prom *p,
                  const char *name,
                  const char *help,
                  uint64_t v)
{
    bk_prom_family(p, name, "gauge", help);
    bk_prom_u64(p, name, NULL, 0, v);
}

static void storage(struct bk_http *h, struct bk_prom *p)
{
    struct bk_http_shard_report sum;
    bool all;
    unsigned first;
    if (bk_http_shard_reports(h, &sum, &all, &first) == 0) {
        gauge(p, "brokerd_replicas_open", "Partition replicas open here.",
              sum.open);
        gauge(p, "brokerd_log_size_bytes",
              "Bytes of record batches in the open partition logs.",
              sum.log_bytes);
        gauge(p, "brokerd_log_segments", "Segments of the open partition logs.",
              sum.log_segments);
    }
    if (h->src.syncer == NULL) {
        return;
    }
    bk_prom_family(p, "brokerd_log_fsync_duration_seconds", "histogram",
                   "Time of each fdatasync of a log file.");
    bk_prom_hist(p, "brokerd_log_fsync_duration_seconds", NULL, 0,
                 bk_syncer_fsync_hist(h->src.syncer), &bk_hist_latency_us,
                 1e-6);
    bk_prom_family(p, "brokerd_log_fsync_batch_requests", "histogram",
                   "Sync requests (acks=all appends, flushes) one round of "
                   "fdatasyncs covered.");
    bk_prom_hist(p, "brokerd_log_fsync_batch_requests", NULL, 0,
                 bk_syncer_batch_hist(h->src.syncer), &bk_hist_batch, 1.0);
}

static void metadata(struct bk_http *h,
                     struct bk_prom *p,
                     const struct bk_md_image *img)
{
    int64_t term = bk_md_term(h->src.md);
    int32_t leader = bk_md_leader(h->src.md);
    gauge(p, "brokerd_metadata_raft_term",
          "Raft term of the metadata quorum as this node knows it.",
          term > 0 ? (uint64_t)term : 0);
    int64_t applied = img != NULL ? img->offset : 0;
    int64_t high = bk_md_high_offset(h->src.md);
    gauge(p, "brokerd_metadata_applied_offset",
          "Metadata records applied into this node's image.",
          applied > 0 ? (uint64_t)applied : 0);
    gauge(p, "brokerd_metadata_committed_offset",
          "Newest committed metadata offset this node knows of.",
          high > 0 ? (uint64_t)high : 0);
    gauge(p, "brokerd_metadata_apply_lag",
          "Committed metadata records not yet applied here.",
          high > applied ? (uint64_t)(high - applied) : 0);
    gauge(p, "brokerd_metadata_active_controller",
          "1 when this node is the active controller.",
          bk_md_is_active(h->src.md) ? 1 : 0);
    bk_prom_family(p, "brokerd_metadata_leader_id", "gauge",
                   "Node id of the metadata quorum leader, -1 unknown.");
    bk_prom_f64(p, "brokerd_metadata_leader_id", NULL, 0, (double)leader);
    gauge(p, "brokerd_brokers_live",
          "Registered, unfenced brokers in this node's image.",
          img != NULL ? bk_md_image_live_brokers(img) : 0);
}

static void build_info(struct bk_http *h, struct bk_prom *p)
{
    bk_prom_family(p, "brokerd_build_info", "gauge",
                   "Always 1; labels: the brokerd version.");
    struct bk_prom_label l[] = { { "version", h->src.version } };
    bk_prom_u64(p, "brokerd_build_info", l, 1, 1);
}

void bk_http_metrics(struct bk_http *h, struct bk_http_page *page)
{
    struct bk_metrics_shard *sum = bk_metrics_shard_new();
    if (sum == NULL) {
        return; /* the caller answers 500 */
    }
    struct bk_shards *g = h->src.shards;
    for (unsigned i = 0; i < g->n; i++) {
        if (g->shards[i].metrics != NULL) {
            merge_shard(sum, g->shards[i].metrics);
        }
    }
    struct bk_md_image *img = bk_md_image_acquire(h->src.md);
    struct bk_prom p;
    bk_prom_init(&p);
    build_info(h, &p);
    requests(&p, sum);
    latency(&p, sum);
    connections(&p, sum);
    quotas(&p, sum);
    topics(&p, img, sum);
    partitions(&p, img, h->src.node_id);
    storage(h, &p);
    metadata(h, &p, img);
    bk_http_group_metrics(h, &p, img);
    bk_http_proc_metrics(&p);
    bk_md_image_release(img);
    bk_metrics_shard_free(sum);
    if (p.err != 0) {
        bk_prom_free(&p);
        return;
    }
    page->status = MHD_HTTP_OK;
    page->type = "text/plain; version=0.0.4; charset=utf-8";
    page->body = p.buf; /* handed over */
    page->len = p.len;
}
