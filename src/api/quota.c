/* Client quotas on the request path: see quota.h. Kafka's behaviour
 * (ClientQuotaManager, ClientRequestQuotaManager, KafkaApis) is the
 * reference: the sensor of a quota is shared by every connection whose
 * (user, client id) resolves to it with the same metric tags, the value is
 * recorded before the check so the request that crosses the bound is the
 * one throttled, and the throttle time brings the measured rate back to
 * the bound. */
#include "api/quota.h"

#include <stdlib.h>
#include <string.h>

#include "cluster/quotas.h"
#include "common/err.h"
#include "common/hash.h"
#include "common/heap.h"
#include "protocol/gen/fetch.h"
#include "protocol/gen/produce.h"

/* Kafka drops a quota sensor after an hour without use. */
#define SENSOR_IDLE_MS  (3600 * 1000)
#define SWEEP_EVERY_MS  (60 * 1000)
#define INITIAL_BUCKETS 64
#define KEY_STACK       512

struct bk_quota_sensor {
    struct bk_quota_sensor *next; /* bucket chain */
    uint64_t hash;
    int64_t last_used_ms;
    unsigned pins; /* timings holding it */
    struct bk_rate rate;
    size_t key_len;
    char key[]; /* kind, user tag, NUL, client tag */
};

int bk_quota_mgr_init(struct bk_quota_mgr *m,
                      const struct bk_clock *clock,
                      unsigned samples,
                      unsigned window_s)
{
    memset(m, 0, sizeof(*m));
    if (samples < 1 || samples > BK_RATE_MAX_SAMPLES || window_s < 1) {
        return BK_EINVAL;
    }
    m->clock = clock;
    m->cfg = (struct bk_rate_cfg){ .samples = samples,
                                   .window_ms = (uint64_t)window_s * 1000 };
    m->buckets = bk_calloc(INITIAL_BUCKETS, sizeof(*m->buckets));
    if (m->buckets == NULL) {
        return BK_ENOMEM;
    }
    m->nbuckets = INITIAL_BUCKETS;
    if (uv_mutex_init(&m->lock) != 0) {
        bk_free(m->buckets);
        return BK_ENOMEM;
    }
    return 0;
}

void bk_quota_mgr_close(struct bk_quota_mgr *m)
{
    if (m->buckets == NULL) {
        return;
    }
    for (size_t i = 0; i < m->nbuckets; i++) {
        while (m->buckets[i] != NULL) {
            struct bk_quota_sensor *s = m->buckets[i];
            m->buckets[i] = s->next;
            bk_free(s);
        }
    }
    bk_free(m->buckets);
    m->buckets = NULL;
    uv_mutex_destroy(&m->lock);
}

/* Drops sensors idle for an hour (lock held). */
static void sweep(struct bk_quota_mgr *m, int64_t now)
{
    m->last_sweep_ms = now;
    for (size_t i = 0; i < m->nbuckets; i++) {
        struct bk_quota_sensor **pp = &m->buckets[i];
        while (*pp != NULL) {
            struct bk_quota_sensor *s = *pp;
            if (s->pins == 0 && now - s->last_used_ms >= SENSOR_IDLE_MS) {
                *pp = s->next;
                bk_free(s);
                m->n--;
            } else {
                pp = &s->next;
            }
        }
    }
}

/* Doubles the table once it holds twice as many sensors as buckets. */
static void grow(struct bk_quota_mgr *m)
{
    size_t nb = m->nbuckets * 2;
    struct bk_quota_sensor **b = bk_calloc(nb, sizeof(*b));
    if (b == NULL) {
        return; /* longer chains, still correct */
    }
    for (size_t i = 0; i < m->nbuckets; i++) {
        while (m->buckets[i] != NULL) {
            struct bk_quota_sensor *s = m->buckets[i];
            m->buckets[i] = s->next;
            s->next = b[s->hash % nb];
            b[s->hash % nb] = s;
        }
    }
    bk_free(m->buckets);
    m->buckets = b;
    m->nbuckets = nb;
}

/* The sensor of key, created when new (lock held); NULL when out of
 * memory. */
static struct bk_quota_sensor *sensor_get(struct bk_quota_mgr *m,
                                          const char *key,
                                          size_t len,
                                          int64_t now)
{
    if (now - m->last_sweep_ms >= SWEEP_EVERY_MS) {
        sweep(m, now);
    }
    uint64_t h = bk_hash64(key, len);
    for (struct bk_quota_sensor *s = m->buckets[h % m->nbuckets]; s != NULL;
         s = s->next) {
        if (s->hash == h && s->key_len == len &&
            memcmp(s->key, key, len) == 0) {
            s->last_used_ms = now;
            return s;
        }
    }
    if (m->n >= 2 * m->nbuckets) {
        grow(m);
    }
    struct bk_quota_sensor *s = bk_malloc(sizeof(*s) + len);
    if (s == NULL) {
        return NULL;
    }
    s->hash = h;
    s->last_used_ms = now;
    s->pins = 0;
    bk_rate_init(&s->rate);
    s->key_len = len;
    memcpy(s->key, key, len);
    s->next = m->buckets[h % m->nbuckets];
    m->buckets[h % m->nbuckets] = s;
    m->n++;
    return s;
}

/* The sensor key of (kind, user, client) in buf (cap bytes) or a heap
 * buffer; *len gets its length. NULL when out of memory. */
static char *make_key(enum bk_quota_kind kind,
                      const char *user,
                      const char *client,
                      char *buf,
                      size_t cap,
                      size_t *len)
{
    size_t ul = strlen(user), cl = strlen(client);
    *len = 1 + ul + 1 + cl;
    char *k = *len <= cap ? buf : bk_malloc(*len);
    if (k != NULL) {
        k[0] = (char)('0' + kind);
        memcpy(k + 1, user, ul);
        k[1 + ul] = '\0';
        memcpy(k + 2 + ul, client, cl);
    }
    return k;
}

/* Records value on s and returns the throttle time (lock held). */
static int64_t record_locked(struct bk_quota_mgr *m,
                             struct bk_quota_sensor *s,
                             double bound,
                             double value,
                             int64_t now)
{
    bk_rate_record(&s->rate, &m->cfg, value, now);
    return bk_rate_throttle_ms(&s->rate, &m->cfg, bound, now);
}

int64_t bk_quota_mgr_record(struct bk_quota_mgr *m,
                            enum bk_quota_kind kind,
                            const char *user,
                            const char *client,
                            double bound,
                            double value)
{
    char buf[KEY_STACK];
    size_t len;
    char *key = make_key(kind, user, client, buf, sizeof(buf), &len);
    if (key == NULL) {
        return -1;
    }
    int64_t now = bk_clock_mono_ms(m->clock);
    int64_t t = -1;
    uv_mutex_lock(&m->lock);
    struct bk_quota_sensor *s = sensor_get(m, key, len, now);
    if (s != NULL) {
        t = record_locked(m, s, bound, value, now);
    }
    uv_mutex_unlock(&m->lock);
    if (key != buf) {
        bk_free(key);
    }
    return t;
}

/* ---- resolving a request's quota ---------------------------------------- */

static const unsigned kind_key[BK_QUOTA_KINDS] = {
    [BK_QUOTA_PRODUCE] = BK_MD_QK_PRODUCER_BYTE_RATE,
    [BK_QUOTA_FETCH] = BK_MD_QK_CONSUMER_BYTE_RATE,
    [BK_QUOTA_REQUEST] = BK_MD_QK_REQUEST_PERCENTAGE,
};

struct resolved {
    double bound;
    const char *user_tag;   /* borrowed */
    const char *client_tag; /* borrowed */
};

/* The quota table this shard uses now, or NULL when there is none. */
static const struct bk_md_quotas *shard_quotas(const struct bk_call *call)
{
    const struct bk_api_shard *st = call->req->shard->app;
    return st->quotas;
}

/* Resolves the quota of kind for call's client. False when it has none.
 * The user is the principal's name (KafkaPrincipal.getName(): what follows
 * "User:"), the client id the request header's. */
static bool resolve(struct bk_call *call,
                    const struct bk_md_quotas *q,
                    enum bk_quota_kind kind,
                    struct resolved *r)
{
    const char *principal = bk_conn_principal(call->req->conn);
    const char *colon = strchr(principal, ':');
    const char *user = colon != NULL ? colon + 1 : principal;
    const char *client = bk_call_cstr(call, call->hdr.client_id);
    if (client == NULL) {
        return false;
    }
    double v[BK_MD_QK_N];
    uint8_t level[BK_MD_QK_N];
    unsigned key = kind_key[kind];
    uint8_t found = bk_md_quota_resolve(q, user, client, v, level);
    if ((found & (1u << key)) == 0) {
        return false;
    }
    /* Kafka's metric tags: the user when the quota is a user one (levels
     * 1-6), the client id when it names one, default or not. */
    unsigned l = level[key];
    r->bound = v[key];
    r->user_tag = l <= 6 ? user : "";
    r->client_tag = (l == 3 || l == 6) ? "" : client;
    return true;
}

/* Applies a throttle: the connection reads nothing for ms, and the shard
 * counts it for /metrics. */
static void throttle(struct bk_shard *shard,
                     struct bk_conn *conn,
                     enum bk_quota_kind kind,
                     int64_t ms)
{
    if (ms <= 0) {
        return;
    }
    bk_conn_mute(conn, (uint64_t)ms);
    bk_mx_throttle(shard->metrics, (unsigned)kind, (uint64_t)ms);
}

static int32_t clamp_ms(int64_t ms)
{
    return ms <= 0 ? 0 : (ms > INT32_MAX ? INT32_MAX : (int32_t)ms);
}

/* ---- produce and fetch ----------------------------------------------------
 */

void bk_quota_produce(struct bk_call *call)
{
    const struct bk_md_quotas *q = shard_quotas(call);
    struct resolved r;
    if (q == NULL || !resolve(call, q, BK_QUOTA_PRODUCE, &r)) {
        return;
    }
    const struct bk_msg_produce_request *req = call->request;
    int64_t bytes = 0;
    for (int32_t i = 0; i < req->topic_data_count; i++) {
        const struct bk_msg_produce_request_topic_produce_data *td =
            &req->topic_data[i];
        for (int32_t j = 0; j < td->partition_data_count; j++) {
            int32_t len = td->partition_data[j].records.len;
            bytes += len > 0 ? len : 0;
        }
    }
    const struct bk_api_ctx *ctx = call->ctx;
    int64_t t = bk_quota_mgr_record(ctx->quotas, BK_QUOTA_PRODUCE, r.user_tag,
                                    r.client_tag, r.bound, (double)bytes);
    if (t > call->quota_ms) {
        call->quota_ms = clamp_ms(t);
    }
    throttle(call->req->shard, call->req->conn, BK_QUOTA_PRODUCE, t);
}

int32_t bk_quota_throttle_ms(const struct bk_call *call)
{
    return call->quota_ms;
}

bool bk_quota_fetch_begin(struct bk_call *call,
                          int32_t replica_id,
                          int32_t *max_bytes,
                          int32_t *throttle_ms)
{
    const struct bk_md_quotas *q = shard_quotas(call);
    struct resolved r;
    /* Followers' fetches are replication, never a client quota. */
    if (q == NULL || replica_id >= 0 || !resolve(call, q, BK_QUOTA_FETCH, &r)) {
        return false;
    }
    call->quota_fetch = true;
    call->quota_bound = r.bound;
    call->quota_user = r.user_tag;
    call->quota_client = r.client_tag;
    /* Kafka caps the fetch at the most one quota window may hold
     * (getMaxValueInQuotaWindow): a larger answer would always be over. */
    const struct bk_api_ctx *ctx = call->ctx;
    const struct bk_rate_cfg *cfg = &ctx->quotas->cfg;
    double cap =
        r.bound * (double)(cfg->samples - 1) * (double)cfg->window_ms / 1000.0;
    if (cap < 1) {
        cap = 1;
    }
    if ((double)*max_bytes > cap) {
        *max_bytes = (int32_t)cap;
    }
    int64_t t = bk_quota_mgr_record(ctx->quotas, BK_QUOTA_FETCH, r.user_tag,
                                    r.client_tag, r.bound, 0);
    if (t <= 0) {
        return false;
    }
    /* Over quota already (another connection of the client's, or a mute
     * that ran out early): no data, only the time to wait. */
    call->quota_fetch = false;
    int32_t ms = clamp_ms(t > call->quota_ms ? t : call->quota_ms);
    *throttle_ms = ms;
    throttle(call->req->shard, call->req->conn, BK_QUOTA_FETCH, ms);
    return true;
}

bool bk_quota_fetch_end(struct bk_call *call,
                        int64_t bytes,
                        int32_t *throttle_ms)
{
    *throttle_ms = call->quota_ms;
    if (!call->quota_fetch) {
        return call->quota_ms > 0 && bytes > 0;
    }
    struct bk_quota_mgr *m = call->ctx->quotas;
    int64_t t = bk_quota_mgr_record(m, BK_QUOTA_FETCH, call->quota_user,
                                    call->quota_client, call->quota_bound,
                                    (double)bytes);
    if (t <= 0 && call->quota_ms == 0) {
        return false;
    }
    /* Kafka takes the bytes back (unrecordQuotaSensor) and answers with
     * no data, so a consumer never gets past its quota. */
    bk_quota_mgr_record(m, BK_QUOTA_FETCH, call->quota_user, call->quota_client,
                        call->quota_bound, -(double)bytes);
    throttle(call->req->shard, call->req->conn, BK_QUOTA_FETCH, t);
    *throttle_ms = clamp_ms(t > call->quota_ms ? t : call->quota_ms);
    return bytes > 0;
}

/* ---- request time --------------------------------------------------------
 */

/* Kafka exempts what a client needs to connect and authenticate, and
 * cluster actions between brokers, from the request quota. */
static bool request_exempt(const struct bk_call *call)
{
    switch (call->hdr.api_key) {
        case BK_API_API_VERSIONS:
        case BK_API_SASL_HANDSHAKE:
        case BK_API_SASL_AUTHENTICATE:
        case BK_API_BROKER_REGISTRATION:
        case BK_API_BROKER_HEARTBEAT:
        case BK_API_ALTER_PARTITION:
        case BK_API_ALLOCATE_PRODUCER_IDS:
        case BK_API_WRITE_TXN_MARKERS:
        case BK_API_ADD_RAFT_VOTER:
        case BK_API_REMOVE_RAFT_VOTER:
            return true;
        case BK_API_PRODUCE:
            return ((const struct bk_msg_produce_request *)call->request)
                       ->acks == 0;
        case BK_API_FETCH: {
            /* A follower's fetch (KIP-903 moved its id in v15). */
            const struct bk_msg_fetch_request *f = call->request;
            int32_t replica = call->hdr.api_version >= 15
                                  ? f->replica_state.replica_id
                                  : f->replica_id;
            return replica >= 0;
        }
        default:
            return false;
    }
}

void bk_quota_request_begin(struct bk_call *call, struct bk_quota_timing *t)
{
    t->sensor = NULL;
    const struct bk_md_quotas *q = shard_quotas(call);
    struct resolved r;
    if (q == NULL || request_exempt(call) ||
        !resolve(call, q, BK_QUOTA_REQUEST, &r)) {
        return;
    }
    struct bk_quota_mgr *m = call->ctx->quotas;
    char buf[KEY_STACK];
    size_t len;
    char *key = make_key(BK_QUOTA_REQUEST, r.user_tag, r.client_tag, buf,
                         sizeof(buf), &len);
    if (key == NULL) {
        return;
    }
    int64_t now = bk_clock_mono_ms(m->clock);
    int64_t ms = 0;
    uv_mutex_lock(&m->lock);
    struct bk_quota_sensor *s = sensor_get(m, key, len, now);
    if (s != NULL) {
        s->pins++;
        /* The time already used decides this answer's throttle, as the
         * time of this request is not known until it is handled. */
        ms = bk_rate_throttle_ms(&s->rate, &m->cfg, r.bound, now);
        if (ms > (int64_t)m->cfg.window_ms) {
            ms = (int64_t)m->cfg.window_ms;
        }
    }
    uv_mutex_unlock(&m->lock);
    if (key != buf) {
        bk_free(key);
    }
    if (s == NULL) {
        return;
    }
    if (ms > call->quota_ms) {
        call->quota_ms = clamp_ms(ms);
    }
    *t = (struct bk_quota_timing){ .m = m,
                                   .conn = call->req->conn,
                                   .shard = call->req->shard,
                                   .sensor = s,
                                   .bound = r.bound,
                                   .t0_ns = uv_hrtime() };
}

void bk_quota_request_end(struct bk_quota_timing *t)
{
    if (t->sensor == NULL) {
        return;
    }
    uint64_t ns = uv_hrtime() - t->t0_ns;
    struct bk_quota_mgr *m = t->m;
    int64_t now = bk_clock_mono_ms(m->clock);
    uv_mutex_lock(&m->lock);
    /* request_percentage is a percentage of one thread's second. */
    int64_t ms =
        record_locked(m, t->sensor, t->bound, (double)ns * 100.0 / 1e9, now);
    /* Kafka bounds the request quota's throttle, and only that one, at
     * one window (ClientRequestQuotaManager's boundedThrottleTime). */
    if (ms > (int64_t)m->cfg.window_ms) {
        ms = (int64_t)m->cfg.window_ms;
    }
    t->sensor->pins--;
    uv_mutex_unlock(&m->lock);
    throttle(t->shard, t->conn, BK_QUOTA_REQUEST, ms);
    t->sensor = NULL;
}
