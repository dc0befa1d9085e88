/* The follower fetcher (replication.h): per shard, one fetcher per leader
 * broker, which fetches every partition this shard follows from that
 * broker with one Fetch request at a time (Kafka's
 * ReplicaFetcherThread, replication-notes.md section 2).
 *
 * Happy path of one round: the request names each followed partition at
 * its log end, with its latest epoch (Fetch v12+: the leader checks that
 * the logs agree) and its leader epoch (v9+: both sides agree on who
 * leads); the leader answers when it has data or after
 * replica.fetch.wait.max.ms; the records are appended with the leader's
 * offsets and epochs (bk_replica_append_follower), the leader's high
 * watermark with them; an fdatasync covering them is asked for, and the
 * next round starts once it is done, so the offset the next fetch
 * reports to the leader is on disk (durable by default).
 *
 * Failure modes: a DivergingEpoch cuts the log back to where it agrees
 * with the leader's (KIP-101, KIP-279) and the next round fetches from
 * there; a leader that no longer leads, or an epoch either side has not
 * seen yet, waits a short back-off for the metadata to settle; a lost
 * connection or a failed request waits replica.fetch.backoff.ms. */
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#include "common/arena.h"
#include "common/diag.h"
#include "common/err.h"
#include "common/heap.h"
#include "partition/replica.h"
#include "protocol/gen/api.h"
#include "protocol/gen/fetch.h"
#include "protocol/header.h"
#include "protocol/kerr.h"
#include "replication/repl_int.h"

#define FETCH_VERSION 15
/* Waiting for a partition to open, or for metadata to settle after an
 * epoch disagreement. */
#define SETTLE_MS 100

struct fpart {
    struct bk_uuid topic_id;
    int32_t index;
};

struct bk_repl_fetcher {
    struct bk_repl_fetcher *next;
    struct bk_repl *r;
    int32_t leader;
    char host[256];
    int32_t port;
    struct bk_kclient *kc; /* owned */
    struct fpart *parts;   /* owned */
    size_t n, cap;
    bool inflight; /* a Fetch is out */
    bool waiting;  /* syncs of the last answer, or the timer */
    bool gone;     /* retired: freed once nothing is in flight */
    bool warned;   /* a failure was logged; the next success says so */
    bool closing;  /* its handles are closing: freed in handle_closed */
    uv_timer_t timer;
    uv_async_t synced;                /* the syncs of a round are done */
    struct bk_log_sync_req *syncs;    /* owned, one per synced partition */
    struct bk_partition **sync_parts; /* borrowed during a round */
    size_t sync_cap;
    atomic_int sync_left;
    int open_handles;
    struct bk_arena arena; /* the round's request and answer */
};

static void kick(struct bk_repl_fetcher *f);

/* ---- lifetime ------------------------------------------------------------
 */

static void handle_closed(uv_handle_t *h)
{
    struct bk_repl_fetcher *f = h->data;
    if (--f->open_handles == 0) {
        bk_arena_destroy(&f->arena);
        bk_free(f->parts);
        bk_free(f->syncs);
        bk_free(f->sync_parts);
        bk_free(f);
    }
}

/* Frees f once no callback can reach it: no Fetch out, no sync pending. */
static void maybe_free(struct bk_repl_fetcher *f)
{
    if (!f->gone || f->closing || f->inflight ||
        atomic_load(&f->sync_left) != 0) {
        return;
    }
    f->closing = true;
    uv_close((uv_handle_t *)&f->timer, handle_closed);
    uv_close((uv_handle_t *)&f->synced, handle_closed);
}

static void retire(struct bk_repl_fetcher *f)
{
    f->gone = true;
    uv_timer_stop(&f->timer);
    if (f->kc != NULL) {
        struct bk_kclient *kc = f->kc;
        f->kc = NULL;
        bk_kclient_close(kc); /* the Fetch out answers BK_ESHUTDOWN now */
    }
    maybe_free(f);
}

static void timer_cb(uv_timer_t *t)
{
    struct bk_repl_fetcher *f = t->data;
    f->waiting = false;
    kick(f);
}

static void wait_ms(struct bk_repl_fetcher *f, uint64_t ms)
{
    f->waiting = true;
    uv_timer_start(&f->timer, timer_cb, ms, 0);
}

/* On the shard: the syncs of the last round are done. */
static void synced_async(uv_async_t *a)
{
    struct bk_repl_fetcher *f = a->data;
    if (atomic_load(&f->sync_left) != 0) {
        return;
    }
    if (f->gone) {
        maybe_free(f);
        return;
    }
    f->waiting = false;
    kick(f);
}

/* On the syncer thread. */
static void sync_cb(struct bk_log_sync_req *req, int status)
{
    struct bk_repl_fetcher *f = req->data;
    (void)status; /* a failed sync fails the log; its next append says so */
    if (atomic_fetch_sub(&f->sync_left, 1) == 1) {
        uv_async_send(&f->synced);
    }
}

static struct bk_repl_fetcher *fetcher_new(struct bk_repl *r,
                                           int32_t leader,
                                           const struct bk_md_broker *b)
{
    struct bk_repl_fetcher *f = bk_calloc(1, sizeof(*f));
    if (f == NULL) {
        return NULL;
    }
    f->r = r;
    f->leader = leader;
    snprintf(f->host, sizeof(f->host), "%s", b->host);
    f->port = b->port;
    struct bk_kclient_opts o = {
        .request_timeout_ms = (unsigned)r->cfg.fetch_wait_max_ms + 30000,
    };
    if (bk_kclient_new(r->loop, f->host, f->port, &o, &f->kc) != 0) {
        bk_free(f);
        return NULL;
    }
    bk_arena_init(&f->arena, 16 * 1024, 0);
    atomic_init(&f->sync_left, 0);
    uv_timer_init(r->loop, &f->timer);
    uv_async_init(r->loop, &f->synced, synced_async);
    f->timer.data = f;
    f->synced.data = f;
    f->open_handles = 2;
    return f;
}

/* ---- one round -----------------------------------------------------------
 */

/* The partition this fetcher should fetch now, or NULL (not open yet, or
 * no longer following this leader). */
static struct bk_partition *followed(struct bk_repl_fetcher *f,
                                     const struct fpart *fp)
{
    struct bk_partition *p =
        bk_part_find(&f->r->rmgr->parts, &fp->topic_id, fp->index);
    if (p == NULL || bk_replica_is_leader(p) || p->leader_id != f->leader) {
        return NULL;
    }
    return p;
}

static int64_t own_broker_epoch(const struct bk_repl *r)
{
    const struct bk_md_broker *b =
        r->img != NULL ? bk_md_image_broker(r->img, r->cfg.node_id) : NULL;
    return b != NULL ? b->epoch : -1;
}

/* Fills req with every partition ready to fetch, one topic entry per run
 * of the same topic id. Returns the partition count, or -1 (memory). */
static int fill_request(struct bk_repl_fetcher *f,
                        struct bk_msg_fetch_request *req)
{
    struct bk_repl *r = f->r;
    bk_msg_fetch_request_init(req);
    req->replica_id = -1; /* KIP-903: v15 carries it in ReplicaState */
    req->replica_state.replica_id = r->cfg.node_id;
    req->replica_state.replica_epoch = own_broker_epoch(r);
    req->max_wait_ms = r->cfg.fetch_wait_max_ms;
    req->min_bytes = 1;
    req->max_bytes = r->cfg.fetch_response_max_bytes;
    req->isolation_level = 0;
    req->session_id = 0;
    req->session_epoch = -1; /* full fetches, no session (KIP-227) */
    req->topics = bk_arena_alloc(&f->arena, (f->n + 1) * sizeof(*req->topics));
    struct bk_msg_fetch_request_fetch_partition *fps =
        bk_arena_alloc(&f->arena, (f->n + 1) * sizeof(*fps));
    if (req->topics == NULL || fps == NULL) {
        return -1;
    }
    int32_t nt = 0;
    int count = 0;
    for (size_t i = 0; i < f->n; i++) {
        struct bk_partition *p = followed(f, &f->parts[i]);
        if (p == NULL) {
            continue;
        }
        struct bk_msg_fetch_request_fetch_topic *t =
            nt > 0 ? &req->topics[nt - 1] : NULL;
        if (t == NULL ||
            memcmp(&t->topic_id, &p->topic_id, sizeof(t->topic_id)) != 0) {
            t = &req->topics[nt++];
            t->topic = BK_STR_NULL;
            t->topic_id = p->topic_id;
            t->partitions = &fps[count];
            t->partitions_count = 0;
        }
        struct bk_msg_fetch_request_fetch_partition *fp = &fps[count++];
        memset(fp, 0, sizeof(*fp));
        fp->partition = p->index;
        fp->current_leader_epoch = p->leader_epoch;
        fp->fetch_offset = bk_replica_log_end(p);
        fp->last_fetched_epoch = bk_replica_latest_epoch(p);
        fp->log_start_offset = bk_replica_log_start(p);
        fp->partition_max_bytes = r->cfg.fetch_max_bytes;
        t->partitions_count++;
    }
    req->topics_count = nt;
    req->forgotten_topics_data = NULL;
    req->forgotten_topics_data_count = 0;
    req->rack_id = bk_str_c("");
    return count;
}

static void answered(void *data, int status, const uint8_t *resp, size_t len);

static void kick(struct bk_repl_fetcher *f)
{
    if (f->inflight || f->waiting || f->gone || f->r->closing) {
        return;
    }
    bk_arena_reset(&f->arena);
    struct bk_msg_fetch_request req;
    int n = fill_request(f, &req);
    if (n <= 0) {
        /* Nothing open to fetch yet (the opener is at it), or no memory. */
        wait_ms(f, SETTLE_MS);
        return;
    }
    uint8_t *frame;
    size_t len;
    int rv = bk_req_frame_encode(&f->arena, BK_API_FETCH, FETCH_VERSION, 0,
                                 "brokerd-replica", &req, &frame, &len);
    if (rv == 0) {
        rv = bk_kclient_send(f->kc, frame, len, answered, f);
    }
    if (rv != 0) {
        wait_ms(f, (uint64_t)f->r->cfg.fetch_backoff_ms);
        return;
    }
    f->inflight = true;
}

/* Kafka's follower on OFFSET_OUT_OF_RANGE (fetchOffsetAndTruncate): a
 * leader behind this log (after an unclean election) is followed by
 * cutting back to what it has committed; a leader whose log starts past
 * this one's end is followed by starting again, empty, at its start. */
static void out_of_range(struct bk_repl_fetcher *f,
                         struct bk_partition *p,
                         int64_t leader_hw,
                         int64_t leader_start)
{
    int64_t end = bk_replica_log_end(p);
    if (leader_start > end) {
        int rv = bk_replica_restart_at(p, leader_start);
        if (rv != 0 && rv != BK_EAGAIN) {
            bk_diag_warn("replication",
                         "topic=%s partition=%d msg=\"restart at the "
                         "leader's log start failed: %s\"",
                         p->topic, p->index, bk_strerror(rv));
        } else if (rv == 0) {
            bk_diag_info("replication",
                         "topic=%s partition=%d leader=%d log_end=%lld "
                         "leader_log_start=%lld msg=\"the leader's log starts "
                         "past this replica's end: starting again there\"",
                         p->topic, p->index, f->leader, (long long)end,
                         (long long)leader_start);
        }
        return;
    }
    if (leader_hw >= 0 && leader_hw < end) {
        int rv = bk_replica_truncate(p, leader_hw);
        if (rv != 0 && rv != BK_EAGAIN) {
            bk_diag_warn("replication",
                         "topic=%s partition=%d msg=\"truncation failed: "
                         "%s\"",
                         p->topic, p->index, bk_strerror(rv));
        }
    }
}

/* One partition of the answer. Returns whether it made progress (data,
 * a truncation, a moved high watermark) rather than an error. */
static bool take_partition(
    struct bk_repl_fetcher *f,
    struct bk_partition *p,
    const struct bk_msg_fetch_response_partition_data *pd)
{
    if (pd->error_code == BK_KERR_OFFSET_OUT_OF_RANGE) {
        out_of_range(f, p, pd->high_watermark, pd->log_start_offset);
        return false;
    }
    if (pd->error_code != BK_KERR_NONE) {
        return false; /* not the leader yet, epochs settling: wait */
    }
    if (pd->diverging_epoch.epoch >= 0) {
        bool complete;
        int rv = bk_replica_truncate_to_epoch_end(
            p, pd->diverging_epoch.epoch, pd->diverging_epoch.end_offset,
            &complete);
        if (rv != 0 && rv != BK_EAGAIN) {
            bk_diag_warn("replication",
                         "topic=%s partition=%d msg=\"truncation failed: "
                         "%s\"",
                         p->topic, p->index, bk_strerror(rv));
            return false;
        }
        return true;
    }
    int16_t err = bk_replica_append_follower(
        p, (uint8_t *)pd->records.ptr,
        pd->records.len > 0 ? (size_t)pd->records.len : 0, pd->high_watermark);
    if (err != BK_KERR_NONE && err != p->follow_err) {
        bk_diag_warn("replication",
                     "topic=%s partition=%d leader=%d msg=\"follower append "
                     "failed: %s\"",
                     p->topic, p->index, f->leader, bk_kerr_name(err));
    } else if (err == BK_KERR_NONE && p->follow_err != BK_KERR_NONE) {
        bk_diag_info("replication",
                     "topic=%s partition=%d leader=%d msg=\"follower append "
                     "works again\"",
                     p->topic, p->index, f->leader);
    }
    p->follow_err = err;
    if (err != BK_KERR_NONE) {
        return false;
    }
    int rv = bk_replica_follow_log_start(p, pd->log_start_offset);
    if (rv != 0) {
        bk_diag_warn("replication",
                     "topic=%s partition=%d msg=\"following the leader's log "
                     "start failed: %s\"",
                     p->topic, p->index, bk_strerror(rv));
    }
    return true;
}

static bool grow_syncs(struct bk_repl_fetcher *f, size_t n)
{
    if (n <= f->sync_cap) {
        return true;
    }
    struct bk_log_sync_req *s = bk_calloc(n, sizeof(*s));
    struct bk_partition **ps = bk_calloc(n, sizeof(*ps));
    if (s == NULL || ps == NULL) {
        bk_free(s);
        bk_free(ps);
        return false;
    }
    bk_free(f->syncs);
    bk_free(f->sync_parts);
    f->syncs = s;
    f->sync_parts = ps;
    f->sync_cap = n;
    return true;
}

/* Asks for the fdatasyncs that the next fetch waits for. Returns whether
 * any is pending (the round then continues in synced_async). */
static bool start_syncs(struct bk_repl_fetcher *f, size_t n)
{
    if (n == 0) {
        return false;
    }
    atomic_store(&f->sync_left, (int)n + 1); /* one for this loop */
    for (size_t i = 0; i < n; i++) {
        struct bk_partition *p = f->sync_parts[i];
        f->syncs[i].data = f;
        if (bk_replica_sync(p, bk_replica_log_end(p), &f->syncs[i], sync_cb) !=
            0) {
            atomic_fetch_sub(&f->sync_left, 1); /* a failed log */
        }
    }
    if (atomic_fetch_sub(&f->sync_left, 1) == 1) {
        return false; /* all done already */
    }
    f->waiting = true;
    return true;
}

static void take_answer(struct bk_repl_fetcher *f,
                        const struct bk_msg_fetch_response *resp)
{
    size_t total = 0;
    for (int32_t i = 0; i < resp->responses_count; i++) {
        total += (size_t)(resp->responses[i].partitions_count > 0
                              ? resp->responses[i].partitions_count
                              : 0);
    }
    bool can_sync = !f->r->cfg.ack_unsynced && grow_syncs(f, total);
    size_t nsync = 0;
    bool progress = false;
    for (int32_t i = 0; i < resp->responses_count; i++) {
        const struct bk_msg_fetch_response_fetchable_topic_response *t =
            &resp->responses[i];
        for (int32_t j = 0; j < t->partitions_count; j++) {
            const struct bk_msg_fetch_response_partition_data *pd =
                &t->partitions[j];
            struct fpart key = { .topic_id = t->topic_id,
                                 .index = pd->partition_index };
            struct bk_partition *p = followed(f, &key);
            if (p == NULL || !take_partition(f, p, pd)) {
                continue;
            }
            progress = true;
            if (can_sync &&
                bk_replica_durable_offset(p) < bk_replica_log_end(p)) {
                f->sync_parts[nsync++] = p;
            }
        }
    }
    if (start_syncs(f, nsync)) {
        return;
    }
    if (progress) {
        kick(f);
    } else {
        wait_ms(f, SETTLE_MS);
    }
}

static void answered(void *data, int status, const uint8_t *resp, size_t len)
{
    struct bk_repl_fetcher *f = data;
    f->inflight = false;
    if (f->gone) {
        maybe_free(f);
        return;
    }
    struct bk_msg_fetch_response body;
    if (status == 0) {
        status = bk_resp_frame_decode(&f->arena, BK_API_FETCH, FETCH_VERSION,
                                      resp, len, &body);
    }
    if (status == 0 && body.error_code != BK_KERR_NONE) {
        status = BK_EPROTO;
    }
    if (status != 0) {
        if (!f->warned) {
            bk_diag_warn("replication",
                         "leader=%d target=%s:%d msg=\"fetching from the "
                         "leader failed: %s\"",
                         f->leader, f->host, f->port, bk_strerror(status));
            f->warned = true;
        }
        wait_ms(f, (uint64_t)f->r->cfg.fetch_backoff_ms);
        return;
    }
    if (f->warned) {
        bk_diag_info("replication",
                     "leader=%d msg=\"fetching from the leader again\"",
                     f->leader);
        f->warned = false;
    }
    take_answer(f, &body);
}

/* ---- the set of fetchers -------------------------------------------------
 */

static struct bk_repl_fetcher *find_fetcher(struct bk_repl *r, int32_t leader)
{
    for (struct bk_repl_fetcher *f = r->fetchers; f != NULL; f = f->next) {
        if (f->leader == leader) {
            return f;
        }
    }
    return NULL;
}

static bool add_part(struct bk_repl_fetcher *f,
                     const struct bk_uuid *id,
                     int32_t index)
{
    if (f->n == f->cap) {
        size_t cap = f->cap > 0 ? f->cap * 2 : 16;
        struct fpart *np = bk_realloc(f->parts, cap * sizeof(*np));
        if (np == NULL) {
            return false;
        }
        f->parts = np;
        f->cap = cap;
    }
    f->parts[f->n++] = (struct fpart){ .topic_id = *id, .index = index };
    return true;
}

/* The fetcher of leader, new or moved to the broker's current endpoint. */
static struct bk_repl_fetcher *fetcher_for(struct bk_repl *r,
                                           const struct bk_md_image *img,
                                           int32_t leader)
{
    struct bk_repl_fetcher *f = find_fetcher(r, leader);
    const struct bk_md_broker *b = bk_md_image_broker(img, leader);
    if (b == NULL) {
        return NULL; /* unknown broker: wait for its registration */
    }
    if (f != NULL && (strcmp(f->host, b->host) != 0 || f->port != b->port)) {
        f->leader = -1; /* retired below, with those that lead nothing */
        f = NULL;
    }
    if (f == NULL) {
        f = fetcher_new(r, leader, b);
        if (f != NULL) {
            f->next = r->fetchers;
            r->fetchers = f;
        }
    }
    return f;
}

void bk_repl_fetchers_apply(struct bk_repl *r, const struct bk_md_image *img)
{
    for (struct bk_repl_fetcher *f = r->fetchers; f != NULL; f = f->next) {
        f->n = 0;
    }
    const struct bk_rmgr *m = r->rmgr;
    for (size_t i = 0; i < img->n_topics; i++) {
        const struct bk_md_topic *t = img->by_id[i];
        for (int32_t pi = 0; pi < t->n_partitions; pi++) {
            const struct bk_md_partition *mp = &t->partitions[pi];
            if (mp->leader < 0 || mp->leader == r->cfg.node_id ||
                bk_shard_for_partition(t->id_hash, pi, m->nshards) !=
                    m->shard ||
                !bk_repl_hosts(mp, r->cfg.node_id)) {
                continue;
            }
            struct bk_repl_fetcher *f = fetcher_for(r, img, mp->leader);
            if (f == NULL || !add_part(f, &t->id, pi)) {
                bk_diag_warn("replication",
                             "topic=%s partition=%d leader=%d msg=\"cannot "
                             "follow the partition now\"",
                             t->name, pi, mp->leader);
            }
        }
    }
    for (struct bk_repl_fetcher **pp = &r->fetchers; *pp != NULL;) {
        struct bk_repl_fetcher *f = *pp;
        if (f->n == 0) {
            *pp = f->next;
            retire(f);
            continue;
        }
        pp = &f->next;
        kick(f);
    }
}

void bk_repl_fetchers_close(struct bk_repl *r)
{
    while (r->fetchers != NULL) {
        struct bk_repl_fetcher *f = r->fetchers;
        r->fetchers = f->next;
        retire(f);
    }
}
