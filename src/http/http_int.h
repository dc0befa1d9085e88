/* Internals of the admin HTTP server shared by its files. Everything here
 * runs on libmicrohttpd's thread unless it says otherwise. */
#ifndef BK_HTTP_HTTP_INT_H
#define BK_HTTP_HTTP_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "http/http.h"
#include "metrics/prom.h"

struct bk_shard;

struct bk_http {
    struct MHD_Daemon *daemon;
    struct bk_http_src src;
    uint64_t started_ms; /* CLOCK_MONOTONIC, for the uptime */
};

/* One answer. body is heap-owned (bk_malloc family) or NULL. */
struct bk_http_page {
    unsigned status;
    const char *type; /* static Content-Type */
    char *body;
    size_t len;
};

/* Sets page to a static text answer ("ok\n"), copied. */
void bk_http_text(struct bk_http_page *page, unsigned status, const char *txt);

/* GET /health and /ready. */
void bk_http_health(struct bk_http *h, struct bk_http_page *page);
void bk_http_ready(struct bk_http *h, struct bk_http_page *page);

/* GET /metrics. */
void bk_http_metrics(struct bk_http *h, struct bk_http_page *page);

/* The consumer group families (by state, lag per partition); img is
 * borrowed for the call. */
struct bk_md_image;
void bk_http_group_metrics(struct bk_http *h,
                           struct bk_prom *p,
                           const struct bk_md_image *img);

/* The process_* families from /proc/self (RSS, CPU, open fds, start). */
void bk_http_proc_metrics(struct bk_prom *p);

/* A request's query string arguments: value of key, or NULL. */
struct bk_http_args {
    const char *(*get)(void *data, const char *key);
    void *data;
};

/* GET /v1/...: path is what follows "/v1". Unknown: 404. */
void bk_http_v1(struct bk_http *h,
                const char *path,
                const struct bk_http_args *args,
                struct bk_http_page *page);

/* GET /v1/topics/{name}/partitions/{p}/records (records.c): rest is what
 * follows the topic name ("/partitions/..."). */
void bk_http_records(struct bk_http *h,
                     const char *topic,
                     size_t topic_len,
                     const char *rest,
                     const struct bk_http_args *args,
                     struct bk_http_page *page);

/* Serialises doc (taken) into page as application/json; leaves page
 * untouched (the caller answers 500) when that fails. */
struct json_t;
void bk_http_send_json(struct bk_http_page *page, struct json_t *doc);

/* The console's assets, compiled in (embed.cmake). */
struct bk_http_asset {
    const char *path; /* "/console/app.js" */
    const unsigned char *data;
    size_t len;
};
extern const struct bk_http_asset bk_http_assets[];
extern const size_t bk_http_n_assets;

/* GET / and /console/...: the web console's assets (console.c); false
 * when url names none. */
bool bk_http_console(const char *url, struct bk_http_page *page);

/* ---- asking the shards ------------------------------------------------ */

/* Runs on a shard's thread with the shard's slot: fills it from what only
 * the shard may read. Never runs after the waiter gave up. */
typedef void (*bk_http_shard_fn)(struct bk_shard *shard, void *slot);

/* What the shards answered: n slots of slot_size bytes each. */
struct bk_http_poll;

/* Posts fn to every shard and waits up to timeout_ms for all of them.
 * slot_free (may be NULL) releases what fn put in a slot, on whichever
 * thread frees the poll last. Returns 0 with *out (owned:
 * bk_http_poll_free; read its slots with bk_http_poll_slot), BK_ENOMEM,
 * or BK_ETIMEDOUT (a shard did not answer: stopping or stuck; *out is
 * NULL). */
int bk_http_poll_shards(struct bk_shards *shards,
                        bk_http_shard_fn fn,
                        void (*slot_free)(void *slot),
                        size_t slot_size,
                        unsigned timeout_ms,
                        struct bk_http_poll **out);
/* The same with a question: fn_arg gets arg (borrowed: it must outlive
 * the poll, so keep it in the slots' owner or give it static storage;
 * the waiter's stack is fine only because an abandoned poll never calls
 * fn). */
typedef void (*bk_http_shard_arg_fn)(struct bk_shard *shard,
                                     void *slot,
                                     const void *arg);
int bk_http_poll_shards_arg(struct bk_shards *shards,
                            bk_http_shard_arg_fn fn,
                            const void *arg,
                            void (*slot_free)(void *slot),
                            size_t slot_size,
                            unsigned timeout_ms,
                            struct bk_http_poll **out);
void *bk_http_poll_slot(struct bk_http_poll *p, unsigned shard);
unsigned bk_http_poll_count(const struct bk_http_poll *p);
void bk_http_poll_free(struct bk_http_poll *p);

/* What /ready and /metrics ask each shard. */
struct bk_http_shard_report {
    bool started;          /* the replicas assigned at start are open */
    uint64_t open;         /* replicas open */
    uint64_t leaders;      /* of them, led here */
    uint64_t log_bytes;    /* valid batch bytes in their logs */
    uint64_t log_segments; /* segments of their logs */
};

/* A bk_http_shard_fn filling a struct bk_http_shard_report. */
void bk_http_shard_report_fn(struct bk_shard *shard, void *slot);

/* Polls the shards for their reports and sums them into *sum; *all_started
 * is whether every shard reported started and *not_started the first
 * that did not. Returns bk_http_poll_shards' code. */
int bk_http_shard_reports(struct bk_http *h,
                          struct bk_http_shard_report *sum,
                          bool *all_started,
                          unsigned *not_started);

#endif /* BK_HTTP_HTTP_INT_H */
