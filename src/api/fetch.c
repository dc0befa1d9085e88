/* Fetch (key 1), v4-17.
 *
 * Happy path: the partitions are split by owning shard (fan.h); each owner
 * checks the partition (topic, leader epoch, offset range) and reads whole
 * batches from its log as file ranges, pinned, never copied. Back on the
 * connection's shard the answer is encoded with the records left out
 * (deferred regions, prim.h) and goes out as memory pieces and sendfile
 * ranges (net.h), so segment bytes never pass through user space.
 *
 * Long polling: when less than min_bytes is available and max_wait_ms has
 * not passed, the fetch parks: each owner registers a waiter on its
 * partitions (waking at once if data arrived meanwhile), the first append
 * on any of them (or the timer) wakes the fetch, the waiters are removed,
 * and the partitions are read again.
 *
 * Limits (KIP-74): each partition gets at most partition_max_bytes and the
 * answer at most max_bytes, except that the first partition with data
 * always returns at least one whole batch, so a consumer can progress.
 *
 * Fetch sessions (KIP-227), minimal form: session id 0 with epoch -1 or 0
 * is a full fetch and is answered with session id 0, so clients keep
 * sending full fetches; any other session id is
 * FETCH_SESSION_ID_NOT_FOUND. isolation_level: the replica bounds each
 * read by the high watermark or, for read_committed, the last stable
 * offset (bk_replica_read). */
#include "protocol/gen/fetch.h"

#include <string.h>

#include "api/access.h"
#include "api/fan.h"
#include "api/leader_hint.h"
#include "api/metadata_pull.h"
#include "api/quota.h"
#include "cluster/controller.h"
#include "common/clock.h"
#include "common/diag.h"
#include "common/heap.h"
#include "metrics/metrics.h"
#include "partition/replica.h"
#include "protocol/kerr.h"

typedef struct bk_msg_fetch_response_partition_data out_part;
typedef struct bk_msg_fetch_response_fetchable_topic_response out_topic;

enum phase { PH_READ, PH_WATCH, PH_WAITING, PH_UNWATCH, PH_DONE };

struct fetch_item {
    struct bk_uuid topic_id;
    bool known; /* topic resolved at the connection's shard */
    int32_t partition;
    int64_t fetch_offset;
    int32_t current_leader_epoch;
    int32_t last_fetched_epoch; /* followers, v12+ */
    int64_t log_start_offset;   /* followers */
    int64_t max_bytes;
    int64_t seen_end; /* visible end at the last read: wake past it */
    out_part *out;
    struct bk_replica_read rr; /* rr.rd.count > 0 while ranges are pinned */
    /* read_committed: the aborted transactions of what rr read (heap,
     * owned; written on the owner shard, freed with the call). */
    struct bk_msg_fetch_response_aborted_transaction *aborted;
    size_t naborted, cap_aborted;
    bool aborted_failed;
    int64_t send_bytes; /* of rr, what the answer carries */
    struct bk_part_waiter waiter;
    struct fetch_state *st;
};

struct fetch_state {
    struct bk_fan fan;
    struct bk_call *call;
    struct fetch_item *items;
    size_t n;
    unsigned *owner;
    struct bk_msg_fetch_response resp;
    enum phase phase;
    int64_t deadline;
    int32_t min_bytes;
    int32_t max_bytes;
    enum bk_isolation iso;
    /* A follower's fetch (replica id >= 0): reads up to the log end and
     * tells the leader where the follower is (replica_isr.c). */
    int32_t replica_id;
    int64_t replica_epoch;
    /* A consumer's fetch with client metadata (v11+): followers may serve
     * it, and the leader may send it to a replica in its rack (KIP-392). */
    bool client_metadata;
    struct bk_str rack_id;
    uv_timer_t *timer; /* heap: freed in its close callback */
    atomic_int woken;
    struct bk_shard_msg wake_msg;
    struct bk_api_waiting waiting; /* listed while PH_WAITING */
};

static void start_phase(struct fetch_state *st, enum phase ph);

static void release_reads(struct fetch_state *st)
{
    for (size_t i = 0; i < st->n; i++) {
        struct fetch_item *it = &st->items[i];
        bk_replica_read_release(&it->rr);
        bk_free(it->aborted);
        it->aborted = NULL;
        it->naborted = it->cap_aborted = 0;
        if (it->out != NULL && it->out->aborted_transactions_count > 0) {
            it->out->aborted_transactions = NULL;
            it->out->aborted_transactions_count = 0;
        }
    }
}

/* The answer of a throttled fetch: no partitions (Kafka's throttled
 * response). */
static void drop_data(struct fetch_state *st)
{
    release_reads(st);
    for (size_t i = 0; i < st->n; i++) {
        st->items[i].send_bytes = 0;
    }
    st->resp.responses_count = 0;
}

static void on_free(struct bk_req *req)
{
    struct bk_call *call = req->data;
    release_reads(call->data_ptr);
}

/* A partition that failed: no offsets and a null aborted list, as Kafka's
 * FetchResponse.partitionResponse(error) answers, whatever the isolation
 * level (seen by tests/diff against Kafka 4.1). */
static void set_error(struct fetch_item *it, int16_t code)
{
    it->out->error_code = code;
    it->out->high_watermark = -1;
    it->out->last_stable_offset = -1;
    it->out->log_start_offset = -1;
    it->out->aborted_transactions = NULL;
    it->out->aborted_transactions_count = -1;
}

/* ---- on the owning shard ------------------------------------------------ */

static struct bk_partition *open_part(struct bk_fan_part *part,
                                      const struct bk_md_image *img,
                                      struct fetch_item *it)
{
    int16_t err;
    struct bk_partition *p =
        it->st->client_metadata
            ? bk_fan_open_replica(part, img, &it->topic_id, it->partition,
                                  it->current_leader_epoch, &err)
            : bk_fan_open_partition(part, img, &it->topic_id, it->partition,
                                    it->current_leader_epoch, &err);
    if (p == NULL) {
        set_error(it, err);
    }
    return p;
}

static void put_offsets(struct fetch_item *it)
{
    it->out->high_watermark = it->rr.high_watermark;
    it->out->last_stable_offset = it->rr.last_stable;
    it->out->log_start_offset = it->rr.log_start;
}

/* A follower's fetch: the epoch check of Fetch v12 first (a diverging log
 * gets no records and its position is not taken), then the read, then
 * its position (replication-notes.md section 2). */
static void read_follower(struct bk_partition *p, struct fetch_item *it)
{
    struct fetch_state *st = it->st;
    struct bk_replica_fetch_from f = {
        .replica_id = st->replica_id,
        .broker_epoch = st->replica_epoch,
        .fetch_offset = it->fetch_offset,
        .log_start = it->log_start_offset,
        .last_fetched_epoch = it->last_fetched_epoch,
        .current_leader_epoch = it->current_leader_epoch,
    };
    int32_t div_epoch;
    int64_t div_end;
    int16_t err = bk_replica_check_follower(p, &f, &div_epoch, &div_end);
    if (err == BK_KERR_OFFSET_OUT_OF_RANGE) {
        /* The follower cuts back to the high watermark, or starts again at
         * the log start, from these (replication/fetcher.c). */
        it->out->error_code = err;
        it->rr.log_start = bk_replica_log_start(p);
        it->rr.high_watermark = bk_replica_high_watermark(p);
        it->rr.last_stable = bk_replica_last_stable(p);
        put_offsets(it);
        return;
    }
    if (err != BK_KERR_NONE) {
        set_error(it, err);
        return;
    }
    if (div_epoch >= 0) {
        it->out->diverging_epoch.epoch = div_epoch;
        it->out->diverging_epoch.end_offset = div_end;
        it->rr.log_start = bk_replica_log_start(p);
        it->rr.high_watermark = bk_replica_high_watermark(p);
        it->rr.last_stable = bk_replica_last_stable(p);
        put_offsets(it);
        return;
    }
    err = bk_replica_read(p, it->fetch_offset, it->max_bytes, st->iso, &it->rr);
    if (err == BK_KERR_NONE) {
        bk_replica_follower_fetched(
            p, &f, bk_clock_mono_ms(st->call->ctx->storage->clock));
        /* The high watermark may have moved with this fetch. */
        it->rr.high_watermark = bk_replica_high_watermark(p);
        it->rr.last_stable = bk_replica_last_stable(p);
    }
    it->seen_end = bk_replica_visible_end(p, st->iso);
    it->out->error_code = err;
    put_offsets(it);
}

static void add_aborted(void *arg, int64_t producer_id, int64_t first_offset)
{
    struct fetch_item *it = arg;
    if (it->naborted == it->cap_aborted) {
        size_t cap = it->cap_aborted ? it->cap_aborted * 2 : 4;
        void *v = bk_realloc(it->aborted, cap * sizeof(*it->aborted));
        if (v == NULL) {
            it->aborted_failed = true;
            return;
        }
        it->aborted = v;
        it->cap_aborted = cap;
    }
    it->aborted[it->naborted++] =
        (struct bk_msg_fetch_response_aborted_transaction){ producer_id,
                                                            first_offset };
}

/* read_committed: the aborted transactions overlapping what was read
 * (Kafka: from the fetch offset up to the end of the data returned). */
static void put_aborted(struct bk_partition *p, struct fetch_item *it)
{
    it->naborted = 0;
    it->aborted_failed = false;
    if (it->st->iso != BK_ISOLATION_READ_COMMITTED) {
        return; /* null for read_uncommitted (init_out) */
    }
    if (it->rr.rd.count == 0) {
        it->out->aborted_transactions_count = 0;
        return;
    }
    bk_replica_aborted_txns(p, it->fetch_offset, it->rr.rd.next_offset,
                            add_aborted, it);
    if (it->aborted_failed) {
        /* Without the list the consumer would keep aborted records. */
        bk_replica_read_release(&it->rr);
        set_error(it, BK_KERR_UNKNOWN_SERVER_ERROR);
        return;
    }
    it->out->aborted_transactions = it->aborted;
    it->out->aborted_transactions_count = (int32_t)it->naborted;
}

static void read_one(struct bk_fan_part *part,
                     const struct bk_md_image *img,
                     struct fetch_item *it)
{
    struct bk_partition *p = open_part(part, img, it);
    if (p == NULL) {
        return;
    }
    struct fetch_state *st = it->st;
    if (st->replica_id >= 0) {
        read_follower(p, it);
        return;
    }
    if (st->client_metadata) {
        /* KIP-392: the consumer is told where to fetch, with the offsets
         * and no records (Kafka answers such a fetch at once). */
        int32_t pref =
            bk_fan_preferred_replica(part, img, &it->topic_id, it->partition, p,
                                     it->fetch_offset, st->rack_id);
        if (pref >= 0) {
            it->out->preferred_read_replica = pref;
            it->rr.log_start = bk_replica_log_start(p);
            it->rr.high_watermark = bk_replica_high_watermark(p);
            it->rr.last_stable = bk_replica_last_stable(p);
            put_offsets(it);
            return;
        }
    }
    int16_t err =
        bk_replica_read(p, it->fetch_offset, it->max_bytes, st->iso, &it->rr);
    if (err == BK_KERR_KAFKA_STORAGE_ERROR) {
        set_error(it, err);
        return;
    }
    it->seen_end = bk_replica_visible_end(p, st->iso);
    if (err != BK_KERR_NONE) {
        /* OFFSET_OUT_OF_RANGE included: the consumer asks ListOffsets. */
        set_error(it, err);
        return;
    }
    it->out->error_code = err;
    put_offsets(it);
    put_aborted(p, it);
}

static void wake_cb(struct bk_part_waiter *w)
{
    struct fetch_item *it = w->data;
    struct fetch_state *st = it->st;
    if (atomic_exchange(&st->woken, 1) == 0) {
        bk_shard_post(st->call->req->shard, &st->wake_msg);
    }
}

static void watch_one(struct bk_fan_part *part, struct fetch_item *it)
{
    struct bk_api_shard *sh = bk_fan_shard_state(part);
    struct bk_partition *p =
        bk_part_find(&sh->rmgr.parts, &it->topic_id, it->partition);
    if (p == NULL) {
        return;
    }
    it->waiter.wake = wake_cb;
    it->waiter.data = it;
    if (bk_replica_visible_end(p, it->st->iso) > it->seen_end) {
        wake_cb(&it->waiter); /* data arrived since the read */
        return;
    }
    bk_part_wait(p, &it->waiter);
}

static void unwatch_one(struct bk_fan_part *part, struct fetch_item *it)
{
    struct bk_api_shard *sh = bk_fan_shard_state(part);
    struct bk_partition *p =
        bk_part_find(&sh->rmgr.parts, &it->topic_id, it->partition);
    if (p != NULL) {
        bk_part_unwait(p, &it->waiter);
    }
}

static void run_part(struct bk_fan_part *part)
{
    struct fetch_state *st = part->fan->data;
    struct bk_md_image *img = NULL;
    if (st->phase == PH_READ) {
        img = bk_md_image_acquire(st->call->ctx->md);
    }
    for (size_t i = 0; i < part->n; i++) {
        struct fetch_item *it = &st->items[part->idx[i]];
        if (!it->known) {
            continue;
        }
        switch (st->phase) {
            case PH_READ:
                if (img != NULL) {
                    read_one(part, img, it);
                }
                break;
            case PH_WATCH:
                if (it->out->error_code == 0) {
                    watch_one(part, it);
                }
                break;
            case PH_UNWATCH:
                unwatch_one(part, it);
                break;
            default:
                break;
        }
    }
    bk_md_image_release(img);
    bk_fan_release(part);
}

/* ---- on the connection's shard --------------------------------------------
 */

static void timer_closed(uv_handle_t *h)
{
    bk_free(h);
}

static void stop_timer(struct fetch_state *st)
{
    bk_api_waiting_remove(st->call->req->shard, &st->waiting);
    if (st->timer != NULL) {
        uv_timer_stop(st->timer);
        uv_close((uv_handle_t *)st->timer, timer_closed);
        st->timer = NULL;
    }
}

/* KIP-951: who leads the partitions this broker refused, and where. The
 * endpoints' strings live in h's image, released once the answer is
 * encoded. */
static void add_leader_hints(struct fetch_state *st, struct bk_leader_hints *h)
{
    struct bk_call *call = st->call;
    if (call->hdr.api_version < 16) {
        return;
    }
    for (size_t i = 0; i < st->n; i++) {
        struct fetch_item *it = &st->items[i];
        int16_t e = it->out->error_code;
        if (it->known && (e == BK_KERR_NOT_LEADER_OR_FOLLOWER ||
                          e == BK_KERR_FENCED_LEADER_EPOCH)) {
            (void)bk_leader_hint(call, h, &it->topic_id, it->partition,
                                 &it->out->current_leader.leader_id,
                                 &it->out->current_leader.leader_epoch);
        }
    }
    struct bk_msg_fetch_response_node_endpoint *eps =
        h->n > 0 ? bk_arena_alloc(call->arena, h->n * sizeof(*eps)) : NULL;
    for (size_t i = 0; eps != NULL && i < h->n; i++) {
        bk_leader_hint_endpoint(h, i, &eps[i].node_id, &eps[i].host,
                                &eps[i].port, &eps[i].rack);
    }
    if (eps != NULL) {
        st->resp.node_endpoints = eps;
        st->resp.node_endpoints_count = (int32_t)h->n;
    }
}

static void respond(struct fetch_state *st)
{
    struct bk_call *call = st->call;
    st->phase = PH_DONE;
    stop_timer(st);
    /* max_bytes over the whole answer, in request order; the first
     * partition with data always keeps its batches (KIP-74). After it,
     * a partition whose batch does not fit its own limit or what is left
     * of max_bytes sends only that many bytes: a partial batch, which
     * clients drop but which tells them to fetch with a larger limit
     * (librdkafka grows its per-partition size when it sees one), as
     * Kafka does; sending nothing would starve that partition. */
    int64_t total = 0;
    size_t nholes = 0;
    struct bk_metrics_shard *mx = st->call->req->shard->metrics;
    for (size_t i = 0; i < st->n; i++) {
        struct fetch_item *it = &st->items[i];
        bk_mx_error(mx, BK_API_FETCH, it->out->error_code);
        it->send_bytes = 0;
        if (it->rr.rd.count == 0) {
            continue;
        }
        int64_t send = it->rr.rd.bytes;
        if (total > 0) {
            int64_t room = st->max_bytes - total;
            int64_t limit = it->max_bytes < room ? it->max_bytes : room;
            if (send > limit) {
                send = limit;
            }
        }
        if (send <= 0) {
            bk_replica_read_release(&it->rr);
            continue;
        }
        it->send_bytes = send;
        total += send;
        it->out->records = (struct bk_bytes){ NULL, (int32_t)send };
        nholes++;
    }
    /* consumer_byte_rate (api/quota.h): over quota, no data. */
    if (bk_quota_fetch_end(call, total, &st->resp.throttle_time_ms)) {
        drop_data(st);
        total = 0;
        nholes = 0;
    }
    struct bk_wr_hole *holes =
        bk_arena_alloc(call->arena, (nholes + 1) * sizeof(*holes));
    uint8_t *buf = NULL;
    size_t buf_len = 0, got = 0;
    struct bk_leader_hints hints = { .img = NULL, .n = 0 };
    add_leader_hints(st, &hints);
    int rv = holes == NULL
                 ? BK_ENOMEM
                 : bk_call_encode_deferred(call, &st->resp, (size_t)total,
                                           holes, nholes, &got, &buf, &buf_len);
    bk_leader_hints_done(&hints);
    if (rv != 0 || got != nholes) {
        bk_req_fail(call->req, "cannot encode the Fetch answer");
        return;
    }
    /* Pieces: memory up to each hole, then that partition's file ranges. */
    size_t max_chunks = 1 + nholes * (1 + BK_LOG_MAX_RANGES);
    struct bk_out_chunk *ch =
        bk_arena_alloc(call->arena, max_chunks * sizeof(*ch));
    if (ch == NULL) {
        bk_req_fail(call->req, "out of memory");
        return;
    }
    size_t nch = 0, pos = 0, h = 0;
    for (size_t i = 0; i < st->n; i++) {
        struct fetch_item *it = &st->items[i];
        if (it->send_bytes == 0) {
            continue;
        }
        /* Records: the offsets the read moved over (a cut read counts
         * none: the client drops its partial batch and asks again). */
        int64_t recs = it->send_bytes == it->rr.rd.bytes
                           ? it->rr.rd.next_offset - it->fetch_offset
                           : 0;
        bk_mx_topic_out(mx, it->topic_id.b, (uint64_t)it->send_bytes,
                        recs > 0 ? (uint64_t)recs : 0);
        struct bk_wr_hole *hole = &holes[h++];
        if (hole->pos > pos) {
            ch[nch++] = (struct bk_out_chunk){ .base = buf + pos,
                                               .len = hole->pos - pos,
                                               .fd = -1 };
        }
        pos = hole->pos;
        int64_t left = it->send_bytes;
        for (int r = 0; r < it->rr.rd.count && left > 0; r++) {
            const struct bk_log_range *lr = &it->rr.rd.ranges[r];
            int64_t len = lr->length < left ? lr->length : left;
            ch[nch++] = (struct bk_out_chunk){ .base = NULL,
                                               .len = (size_t)len,
                                               .fd = lr->fd,
                                               .offset = lr->file_offset };
            left -= len;
        }
    }
    if (buf_len > pos) {
        ch[nch++] = (struct bk_out_chunk){ .base = buf + pos,
                                           .len = buf_len - pos,
                                           .fd = -1 };
    }
    bk_req_reply_chunks(call->req, ch, (unsigned)nch);
}

static void timeout_cb(uv_timer_t *t)
{
    struct fetch_state *st = t->data;
    if (st->phase == PH_WAITING) {
        /* Leave the shard's waiting list and close the timer now: the
         * loop's clock may lag ours, so the read that follows must answer
         * even if it thinks a few milliseconds remain (otherwise the fetch
         * parks again and is listed twice). */
        stop_timer(st);
        st->deadline = 0;
        start_phase(st, PH_UNWATCH);
    }
}

static void wake_home(struct bk_shard *shard, struct bk_shard_msg *m)
{
    struct fetch_state *st =
        (struct fetch_state *)((char *)m -
                               offsetof(struct fetch_state, wake_msg));
    (void)shard;
    if (st->phase == PH_WAITING) {
        stop_timer(st);
        start_phase(st, PH_UNWATCH);
    }
}

static void cut_short(struct bk_api_waiting *w)
{
    struct fetch_state *st =
        (struct fetch_state *)((char *)w -
                               offsetof(struct fetch_state, waiting));
    st->deadline = 0; /* the read that follows answers whatever it finds */
    if (st->phase == PH_WAITING) {
        stop_timer(st);
        start_phase(st, PH_UNWATCH);
    }
}

static bool enough(struct fetch_state *st)
{
    int64_t total = 0;
    for (size_t i = 0; i < st->n; i++) {
        const struct fetch_item *it = &st->items[i];
        if (it->out->error_code != 0 || it->out->diverging_epoch.epoch >= 0 ||
            it->out->preferred_read_replica >= 0) {
            /* Answer errors, diverging logs and another replica to read
             * from (KIP-392) at once. */
            return true;
        }
        total += it->rr.rd.bytes;
    }
    return total >= st->min_bytes;
}

static void phase_done(struct bk_fan *fan)
{
    struct fetch_state *st = fan->data;
    int64_t now = bk_clock_mono_ms(bk_clock_system());
    switch (st->phase) {
        case PH_READ:
            if (enough(st) || now >= st->deadline ||
                st->call->req->shard->stopping) {
                respond(st);
                return;
            }
            release_reads(st);
            atomic_store(&st->woken, 0);
            start_phase(st, PH_WATCH);
            return;
        case PH_WATCH:
            if (atomic_load(&st->woken)) {
                start_phase(st, PH_UNWATCH);
                return;
            }
            st->phase = PH_WAITING;
            st->timer = bk_malloc(sizeof(*st->timer));
            if (st->timer == NULL) {
                start_phase(st, PH_UNWATCH);
                return;
            }
            uv_timer_init(&st->call->req->shard->loop, st->timer);
            st->timer->data = st;
            uv_timer_start(st->timer, timeout_cb,
                           (uint64_t)(st->deadline - now), 0);
            st->waiting.cut_short = cut_short;
            bk_api_waiting_add(st->call->req->shard, &st->waiting);
            return;
        case PH_UNWATCH:
            start_phase(st, PH_READ);
            return;
        default:
            return;
    }
}

static void start_phase(struct fetch_state *st, enum phase ph)
{
    st->phase = ph;
    if (bk_fan_start(&st->fan, st->call, st->n, st->owner, run_part, phase_done,
                     st) != 0) {
        bk_req_fail(st->call->req, "out of memory");
    }
}

static void init_out(out_part *op, int32_t index, bool read_committed)
{
    op->partition_index = index;
    op->error_code = BK_KERR_NONE;
    op->high_watermark = -1;
    op->last_stable_offset = -1;
    op->log_start_offset = -1;
    op->diverging_epoch.epoch = -1;
    op->diverging_epoch.end_offset = -1;
    op->current_leader.leader_id = -1;
    op->current_leader.leader_epoch = -1;
    op->snapshot_id.end_offset = -1;
    op->snapshot_id.epoch = -1;
    op->aborted_transactions = NULL;
    op->aborted_transactions_count = read_committed ? 0 : -1;
    op->preferred_read_replica = -1;
    op->records = (struct bk_bytes){ (const uint8_t *)"", 0 };
}

void bk_handle_fetch(struct bk_call *call)
{
    /* A broker pulling metadata; anyone else asking for that topic is
     * answered as for any topic (the log holds the ACLs). */
    if (bk_pull_is_metadata(call) &&
        bk_api_may_cluster(call, NULL, BK_ACL_OP_CLUSTER_ACTION)) {
        bk_handle_metadata_pull(call);
        return;
    }
    const struct bk_msg_fetch_request *req = call->request;
    int16_t v = call->hdr.api_version;
    struct fetch_state *st = bk_arena_alloc(call->arena, sizeof(*st));
    if (st == NULL) {
        bk_req_fail(call->req, "out of memory");
        return;
    }
    call->data_ptr = st;
    call->req->on_free = on_free;
    st->call = call;
    st->wake_msg.fn = wake_home;
    atomic_init(&st->woken, 0);
    bk_msg_fetch_response_init(&st->resp);
    st->resp.throttle_time_ms = 0;
    st->resp.session_id = 0;
    st->min_bytes = req->min_bytes;
    st->max_bytes = req->max_bytes > 0 ? req->max_bytes : INT32_MAX;
    st->deadline = bk_clock_mono_ms(bk_clock_system()) +
                   (req->max_wait_ms > 0 ? req->max_wait_ms : 0);
    if (req->session_id != 0) {
        st->resp.error_code = BK_KERR_FETCH_SESSION_ID_NOT_FOUND;
        st->resp.responses_count = 0;
        bk_call_reply(call, &st->resp);
        return;
    }
    bool read_committed = req->isolation_level == 1;
    st->iso = read_committed ? BK_ISOLATION_READ_COMMITTED
                             : BK_ISOLATION_READ_UNCOMMITTED;
    /* KIP-903: v15 moved the follower's id into ReplicaState. */
    st->replica_id = v >= 15 ? req->replica_state.replica_id : req->replica_id;
    st->replica_epoch = v >= 15 ? req->replica_state.replica_epoch : -1;
    if (st->replica_id >= 0) {
        st->iso = BK_ISOLATION_LOG_END;
    }
    /* consumer_byte_rate (api/quota.h): over quota already, no data. */
    if (bk_quota_fetch_begin(call, st->replica_id, &st->max_bytes,
                             &st->resp.throttle_time_ms)) {
        st->resp.responses_count = 0;
        bk_call_reply(call, &st->resp);
        return;
    }
    st->client_metadata = v >= 11 && st->replica_id < 0;
    st->rack_id = v >= 11 ? req->rack_id : BK_STR_NULL;
    int32_t nt = req->topics_count < 0 ? 0 : req->topics_count;
    size_t n = 0;
    for (int32_t i = 0; i < nt; i++) {
        int32_t np = req->topics[i].partitions_count;
        n += np < 0 ? 0 : (size_t)np;
    }
    st->resp.responses =
        bk_arena_alloc(call->arena, (size_t)(nt + 1) * sizeof(out_topic));
    st->items = bk_arena_alloc(call->arena, (n + 1) * sizeof(*st->items));
    st->owner = bk_arena_alloc(call->arena, (n + 1) * sizeof(*st->owner));
    out_part *outs = bk_arena_alloc(call->arena, (n + 1) * sizeof(out_part));
    struct bk_md_image *img = bk_api_image(call);
    if (st->resp.responses == NULL || st->items == NULL || st->owner == NULL ||
        outs == NULL || img == NULL) {
        bk_md_image_release(img);
        bk_req_fail(call->req, "out of memory");
        return;
    }
    st->n = n;
    st->resp.responses_count = nt;
    /* Kafka's handleFetchRequest: a follower needs CLUSTER_ACTION on the
     * cluster, a consumer READ on each topic; what is refused is answered
     * TOPIC_AUTHORIZATION_FAILED before anything else is looked at. */
    bool follower_ok = st->replica_id < 0 ||
                       bk_api_may_cluster(call, img, BK_ACL_OP_CLUSTER_ACTION);
    size_t k = 0;
    for (int32_t i = 0; i < nt; i++) {
        const struct bk_msg_fetch_request_fetch_topic *ft = &req->topics[i];
        out_topic *ot = &st->resp.responses[i];
        ot->topic = ft->topic;
        ot->topic_id = ft->topic_id;
        ot->partitions = &outs[k];
        ot->partitions_count =
            ft->partitions_count < 0 ? 0 : ft->partitions_count;
        const struct bk_md_topic *t = NULL;
        if (v >= 13) {
            t = bk_md_image_topic_by_id(img, &ft->topic_id);
        } else if (ft->topic.len >= 0) {
            t = bk_md_image_topic(img, ft->topic.ptr, (size_t)ft->topic.len);
        }
        struct bk_str name =
            v >= 13 ? bk_str_c(t != NULL ? t->name : NULL) : ft->topic;
        bool ok = st->replica_id >= 0
                      ? follower_ok
                      : (v >= 13 && t == NULL) ||
                            bk_api_may(call, img, BK_ACL_OP_READ,
                                       BK_ACL_RES_TOPIC, name);
        for (int32_t j = 0; j < ot->partitions_count; j++, k++) {
            const struct bk_msg_fetch_request_fetch_partition *fp =
                &ft->partitions[j];
            struct fetch_item *it = &st->items[k];
            it->st = st;
            it->out = &outs[k];
            init_out(it->out, fp->partition, read_committed);
            it->partition = fp->partition;
            it->fetch_offset = fp->fetch_offset;
            it->current_leader_epoch = v >= 9 ? fp->current_leader_epoch : -1;
            it->last_fetched_epoch = v >= 12 ? fp->last_fetched_epoch : -1;
            it->log_start_offset = v >= 5 ? fp->log_start_offset : -1;
            int64_t pmax =
                fp->partition_max_bytes > 0 ? fp->partition_max_bytes : 1;
            it->max_bytes = pmax < st->max_bytes ? pmax : st->max_bytes;
            it->known = bk_fan_route(call, ok ? t : NULL, fp->partition,
                                     &it->topic_id, &st->owner[k]);
            if (!ok) {
                set_error(it, BK_KERR_TOPIC_AUTHORIZATION_FAILED);
            } else if (!it->known) {
                set_error(it, v >= 13 ? BK_KERR_UNKNOWN_TOPIC_ID
                                      : BK_KERR_UNKNOWN_TOPIC_OR_PARTITION);
            }
        }
    }
    bk_md_image_release(img);
    start_phase(st, PH_READ);
}
