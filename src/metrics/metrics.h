/* Counters and histograms for /metrics, cheap enough for the data path.
 *
 * Every counter has one writer: the shard whose thread counts it (or the
 * syncer thread for its own). The writer adds with a relaxed load and a
 * relaxed store (no locked instruction: on x86-64 a plain load, add and
 * store), and the scrape, on the admin HTTP thread, reads with relaxed
 * loads and sums the shards. Counts are never reset, so a reader sees each
 * one move forward; a scrape that races a writer may see some counters of
 * a request and not others, which Prometheus tolerates (every series is
 * read independently anyway).
 *
 * Nothing here allocates on the counting path: the per-shard block is
 * allocated once when the shard is created (bk_metrics_shard_new). */
#ifndef BK_METRICS_METRICS_H
#define BK_METRICS_METRICS_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* One counter, written by one thread only. */
struct bk_ctr {
    _Atomic uint64_t v;
};

static inline void bk_ctr_add(struct bk_ctr *c, uint64_t n)
{
    uint64_t v = atomic_load_explicit(&c->v, memory_order_relaxed);
    atomic_store_explicit(&c->v, v + n, memory_order_relaxed);
}

static inline uint64_t bk_ctr_get(const struct bk_ctr *c)
{
    return atomic_load_explicit(&c->v, memory_order_relaxed);
}

/* A histogram with fixed upper bounds (integers in the unit of the
 * observations; the exposition scales them). counts[i] counts the
 * observations <= bounds[i] and > bounds[i-1], counts[nbounds] the rest
 * (+Inf); the Prometheus buckets are their running sums. */
#define BK_HIST_MAX_BOUNDS 16

struct bk_hist_bounds {
    unsigned n;
    uint64_t le[BK_HIST_MAX_BOUNDS]; /* ascending */
};

struct bk_hist {
    struct bk_ctr counts[BK_HIST_MAX_BOUNDS + 1];
    struct bk_ctr sum;
};

/* Latencies in microseconds: 100 us to 10 s, 1-2.5-5 steps (the usual
 * Prometheus spread for request durations). */
extern const struct bk_hist_bounds bk_hist_latency_us;
/* Counts (fsync batch sizes): powers of two from 1 to 4096. */
extern const struct bk_hist_bounds bk_hist_batch;

/* Adds one observation (writer thread only). */
void bk_hist_observe(struct bk_hist *h,
                     const struct bk_hist_bounds *b,
                     uint64_t value);

/* Reads h into counts (nbounds + 1 cumulative bucket counts: the last is
 * the total count) and *sum. Any thread. */
void bk_hist_read(const struct bk_hist *h,
                  const struct bk_hist_bounds *b,
                  uint64_t *cumulative,
                  uint64_t *sum);

/* Adds src into dst, bucket by bucket (summing shards on a scrape; dst is
 * the scraper's own copy). */
void bk_hist_merge(struct bk_hist *dst, const struct bk_hist *src);

/* ---- what one shard counts ------------------------------------------- */

/* Kafka API keys and versions counted by index; larger ones are not
 * counted (none exist in the dispatch table today). */
#define BK_MX_APIS     96
#define BK_MX_VERSIONS 20
/* Kafka error codes 1..BK_MX_CODES-1; others count under 0 ("unknown"
 * is never 0 on the wire, so no real code is mixed in). */
#define BK_MX_CODES 136
/* Topics one shard keeps byte counts for; more count under the overflow
 * entry (shown as topic="_other"), so memory stays bounded. */
#define BK_MX_TOPICS 256

enum bk_mx_phase {
    BK_MX_HANDLE = 0, /* frame complete -> answer ready */
    BK_MX_SEND,       /* answer ready -> written to the socket */
    BK_MX_TOTAL,      /* frame complete -> written */
    BK_MX_NPHASES
};

/* Why a connection closed, for brokerd_connections_closed_total. */
enum bk_mx_close {
    BK_MX_CLOSE_PEER = 0, /* the client closed it, or a socket error */
    BK_MX_CLOSE_PROTOCOL, /* a request the broker refused (bad frame) */
    BK_MX_CLOSE_IDLE,     /* connections.max.idle.ms or a stalled request */
    BK_MX_CLOSE_SHUTDOWN, /* the broker stopping */
    BK_MX_CLOSE_OTHER,    /* out of memory */
    BK_MX_NCLOSE
};

/* Per-topic traffic on one shard. id is the topic id; used turns true
 * (release) after id is written, so a reader that sees it (acquire) sees
 * the id. Only the owning shard inserts. */
struct bk_mx_topic {
    _Atomic bool used;
    uint8_t id[16];
    struct bk_ctr bytes_in, records_in, bytes_out, records_out;
};

/* Client quota kinds, as api/quota.h numbers them. */
#define BK_MX_QUOTA_KINDS 3

struct bk_metrics_shard {
    struct bk_ctr requests[BK_MX_APIS][BK_MX_VERSIONS];
    struct bk_ctr errors[BK_MX_APIS][BK_MX_CODES];
    struct bk_hist latency[BK_MX_APIS][BK_MX_NPHASES];
    struct bk_ctr conn_accepted;
    struct bk_ctr conn_closed[BK_MX_NCLOSE];
    struct bk_mx_topic topics[BK_MX_TOPICS];
    struct bk_mx_topic other; /* the overflow entry */
    /* Client quota throttles by kind (produce, fetch, request): how many
     * and their total milliseconds. */
    struct bk_ctr throttled[BK_MX_QUOTA_KINDS];
    struct bk_ctr throttle_ms[BK_MX_QUOTA_KINDS];
};

/* Returns a zeroed block (returns owned: bk_metrics_shard_free), or NULL
 * when out of memory. */
struct bk_metrics_shard *bk_metrics_shard_new(void);
void bk_metrics_shard_free(struct bk_metrics_shard *m);

/* Counting (the shard's thread only). Out-of-range keys, versions and
 * codes are ignored or folded as the constants above say. */
void bk_mx_request(struct bk_metrics_shard *m, int16_t api, int16_t version);
void bk_mx_error(struct bk_metrics_shard *m, int16_t api, int16_t code);
/* dur_us: microseconds spent in the phase. */
void bk_mx_latency(struct bk_metrics_shard *m,
                   int16_t api,
                   enum bk_mx_phase phase,
                   uint64_t dur_us);

/* A connection was throttled by a client quota of kind for ms. */
void bk_mx_throttle(struct bk_metrics_shard *m, unsigned kind, uint64_t ms);

/* The traffic entry of topic id (16 bytes, borrowed) on this shard,
 * inserted on first use; the overflow entry once the table is full. */
struct bk_mx_topic *bk_mx_topic(struct bk_metrics_shard *m,
                                const uint8_t id[16]);

/* Produce appended (in) or Fetch returned (out) bytes and records of a
 * topic on this shard. m may be NULL (nothing counted: unit tests). */
void bk_mx_topic_in(struct bk_metrics_shard *m,
                    const uint8_t id[16],
                    uint64_t bytes,
                    uint64_t records);
void bk_mx_topic_out(struct bk_metrics_shard *m,
                     const uint8_t id[16],
                     uint64_t bytes,
                     uint64_t records);

/* The record count of a magic-2 record batch (the int32 at byte 57 of
 * its header, after baseOffset .. baseSequence), or 0 when len is too
 * short to hold one. batch is borrowed. */
uint64_t bk_mx_batch_records(const uint8_t *batch, size_t len);

#endif /* BK_METRICS_METRICS_H */
