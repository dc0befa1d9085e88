#include "metrics/metrics.h"

#include <string.h>

#include "common/heap.h"

const struct bk_hist_bounds bk_hist_latency_us = {
    16,
    { 100, 250, 500, 1000, 2500, 5000, 10000, 25000, 50000, 100000, 250000,
      500000, 1000000, 2500000, 5000000, 10000000 },
};

const struct bk_hist_bounds bk_hist_batch = {
    13,
    { 1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096 },
};

void bk_hist_observe(struct bk_hist *h,
                     const struct bk_hist_bounds *b,
                     uint64_t value)
{
    unsigned i = 0;
    while (i < b->n && value > b->le[i]) {
        i++;
    }
    bk_ctr_add(&h->counts[i], 1);
    bk_ctr_add(&h->sum, value);
}

void bk_hist_read(const struct bk_hist *h,
                  const struct bk_hist_bounds *b,
                  uint64_t *cumulative,
                  uint64_t *sum)
{
    uint64_t run = 0;
    for (unsigned i = 0; i <= b->n; i++) {
        run += bk_ctr_get(&h->counts[i]);
        cumulative[i] = run;
    }
    *sum = bk_ctr_get(&h->sum);
}

void bk_hist_merge(struct bk_hist *dst, const struct bk_hist *src)
{
    for (unsigned i = 0; i <= BK_HIST_MAX_BOUNDS; i++) {
        bk_ctr_add(&dst->counts[i], bk_ctr_get(&src->counts[i]));
    }
    bk_ctr_add(&dst->sum, bk_ctr_get(&src->sum));
}

struct bk_metrics_shard *bk_metrics_shard_new(void)
{
    return bk_calloc(1, sizeof(struct bk_metrics_shard));
}

void bk_metrics_shard_free(struct bk_metrics_shard *m)
{
    bk_free(m);
}

void bk_mx_request(struct bk_metrics_shard *m, int16_t api, int16_t version)
{
    if (m != NULL && api >= 0 && api < BK_MX_APIS && version >= 0 &&
        version < BK_MX_VERSIONS) {
        bk_ctr_add(&m->requests[api][version], 1);
    }
}

void bk_mx_error(struct bk_metrics_shard *m, int16_t api, int16_t code)
{
    if (m == NULL || code == 0 || api < 0 || api >= BK_MX_APIS) {
        return;
    }
    /* -1 (UNKNOWN_SERVER_ERROR) and codes past the table fold into 0. */
    int idx = code > 0 && code < BK_MX_CODES ? code : 0;
    bk_ctr_add(&m->errors[api][idx], 1);
}

void bk_mx_throttle(struct bk_metrics_shard *m, unsigned kind, uint64_t ms)
{
    if (m == NULL || kind >= BK_MX_QUOTA_KINDS) {
        return;
    }
    bk_ctr_add(&m->throttled[kind], 1);
    bk_ctr_add(&m->throttle_ms[kind], ms);
}

void bk_mx_latency(struct bk_metrics_shard *m,
                   int16_t api,
                   enum bk_mx_phase phase,
                   uint64_t dur_us)
{
    if (m != NULL && api >= 0 && api < BK_MX_APIS) {
        bk_hist_observe(&m->latency[api][phase], &bk_hist_latency_us, dur_us);
    }
}

struct bk_mx_topic *bk_mx_topic(struct bk_metrics_shard *m,
                                const uint8_t id[16])
{
    /* Topic ids are random UUIDs: their first bytes are a good hash. */
    uint64_t h;
    memcpy(&h, id, sizeof(h));
    for (unsigned probe = 0; probe < BK_MX_TOPICS; probe++) {
        struct bk_mx_topic *t = &m->topics[(h + probe) % BK_MX_TOPICS];
        if (!atomic_load_explicit(&t->used, memory_order_relaxed)) {
            memcpy(t->id, id, sizeof(t->id));
            atomic_store_explicit(&t->used, true, memory_order_release);
            return t;
        }
        if (memcmp(t->id, id, sizeof(t->id)) == 0) {
            return t;
        }
    }
    return &m->other;
}

void bk_mx_topic_in(struct bk_metrics_shard *m,
                    const uint8_t id[16],
                    uint64_t bytes,
                    uint64_t records)
{
    if (m != NULL) {
        struct bk_mx_topic *t = bk_mx_topic(m, id);
        bk_ctr_add(&t->bytes_in, bytes);
        bk_ctr_add(&t->records_in, records);
    }
}

void bk_mx_topic_out(struct bk_metrics_shard *m,
                     const uint8_t id[16],
                     uint64_t bytes,
                     uint64_t records)
{
    if (m != NULL) {
        struct bk_mx_topic *t = bk_mx_topic(m, id);
        bk_ctr_add(&t->bytes_out, bytes);
        bk_ctr_add(&t->records_out, records);
    }
}

uint64_t bk_mx_batch_records(const uint8_t *batch, size_t len)
{
    if (batch == NULL || len < 61) {
        return 0;
    }
    const uint8_t *c = batch + 57;
    uint32_t n = (uint32_t)c[0] << 24 | (uint32_t)c[1] << 16 |
                 (uint32_t)c[2] << 8 | (uint32_t)c[3];
    return n > INT32_MAX ? 0 : n;
}
