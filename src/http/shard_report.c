/* What only a shard may read, reported to the HTTP thread: whether the
 * shard has opened the replicas assigned at start, and the sizes of its
 * open logs (summed on the shard, so a scrape sends one message per shard
 * whatever the number of partitions). */
#include <string.h>

#include "api/api.h"
#include "common/err.h"
#include "http/http_int.h"
#include "log/log.h"
#include "net/net.h"
#include "partition/manager.h"

/* Shards answer quickly unless stuck or stopping. */
#define REPORT_TIMEOUT_MS 2000

void bk_http_shard_report_fn(struct bk_shard *shard, void *slot)
{
    struct bk_http_shard_report *r = slot;
    struct bk_api_shard *sh = shard->app;
    if (sh == NULL) {
        return; /* not started: reports nothing, not started */
    }
    const struct bk_part_table *t = &sh->rmgr.parts;
    r->started = sh->rmgr.start_reported;
    for (size_t b = 0; b < t->nbuckets; b++) {
        for (const struct bk_partition *p = t->buckets[b]; p != NULL;
             p = p->hnext) {
            r->open++;
            r->leaders += p->role == BK_REPLICA_LEADER;
            if (p->log != NULL) {
                int64_t bytes = bk_log_size_bytes(p->log);
                int segs = bk_log_segment_count(p->log);
                r->log_bytes += bytes > 0 ? (uint64_t)bytes : 0;
                r->log_segments += segs > 0 ? (uint64_t)segs : 0;
            }
        }
    }
}

int bk_http_shard_reports(struct bk_http *h,
                          struct bk_http_shard_report *sum,
                          bool *all_started,
                          unsigned *not_started)
{
    struct bk_http_poll *poll;
    memset(sum, 0, sizeof(*sum));
    *all_started = false;
    *not_started = 0;
    int rv = bk_http_poll_shards(h->src.shards, bk_http_shard_report_fn, NULL,
                                 sizeof(struct bk_http_shard_report),
                                 REPORT_TIMEOUT_MS, &poll);
    if (rv != 0) {
        return rv;
    }
    *all_started = true;
    for (unsigned i = 0; i < bk_http_poll_count(poll); i++) {
        const struct bk_http_shard_report *r = bk_http_poll_slot(poll, i);
        if (!r->started && *all_started) {
            *all_started = false;
            *not_started = i;
        }
        sum->open += r->open;
        sum->leaders += r->leaders;
        sum->log_bytes += r->log_bytes;
        sum->log_segments += r->log_segments;
    }
    bk_http_poll_free(poll);
    return 0;
}
