/* The transaction coordinator's API glue; see txn_coord.h.
 *
 * Happy path of a request: bk_tcop_start routes the transactional id to
 * the shard owning its __transaction_state partition (fan.h, one item);
 * there the partition is opened and loaded, the handler's run checks and
 * writes, and done runs on the connection's shard once the writes are
 * committed. Failure modes: the topic missing or led elsewhere
 * (NOT_COORDINATOR: the client looks for the coordinator again), the
 * partition still opening or its log failed (NOT_COORDINATOR /
 * COORDINATOR_NOT_AVAILABLE), a write that fails or does not commit.
 *
 * The tick (every shard, every 100 ms): loads the partitions this shard
 * coordinates, sends markers for committed Prepare states, and every
 * transaction.abort.timed.out.transaction.cleanup.interval.ms aborts
 * timed-out transactions and removes expired ids. */
#include "api/txn_coord.h"

#include <string.h>

#include "api/access.h"
#include "api/group_coord.h"
#include "cluster/controller.h"
#include "common/clock.h"
#include "common/diag.h"
#include "common/heap.h"
#include "net/kclient.h"
#include "protocol/gen/write_txn_markers.h"
#include "protocol/header.h"
#include "protocol/kerr.h"

/* A connection to one broker for markers. */
struct marker_conn {
    int32_t node;
    struct bk_kclient *c;
};

struct bk_tcoord_shard {
    struct bk_coord_txn *tc;
    struct bk_shard *shard;
    const struct bk_api_ctx *ctx;
    struct marker_conn *conns; /* owned */
    size_t nconns;
    int64_t last_scan_ms;
    bool closed;
};

/* ---- opening partitions ---- */

struct open_arg {
    struct bk_api_shard *sh;
    const struct bk_md_image *img;
    int32_t node_id;
};

/* bk_fan_open_partition's admission, for the tick as well as requests. */
static struct bk_partition *open_partition(void *arg,
                                           const struct bk_uuid *topic_id,
                                           int32_t partition,
                                           int16_t *err)
{
    struct open_arg *o = arg;
    const struct bk_md_topic *t = bk_md_image_topic_by_id(o->img, topic_id);
    const struct bk_md_partition *mp =
        t != NULL ? bk_md_topic_partition(t, partition) : NULL;
    if (mp == NULL || mp->leader != o->node_id) {
        *err = BK_KERR_NOT_COORDINATOR;
        return NULL;
    }
    struct bk_partition *p = NULL;
    char errmsg[BK_ERRMSG_SIZE] = "";
    int rv =
        bk_rmgr_get(&o->sh->rmgr, t, partition, mp->leader_epoch, &p, errmsg);
    if (rv == BK_EAGAIN) {
        *err = BK_KERR_COORDINATOR_LOAD_IN_PROGRESS;
        return NULL;
    }
    if (rv != 0) {
        *err = BK_KERR_COORDINATOR_NOT_AVAILABLE;
        return NULL;
    }
    return p;
}

/* ---- requests ---- */

static void tcop_run_part(struct bk_fan_part *part)
{
    struct bk_tcop *op = part->fan->data;
    struct bk_api_shard *sh = bk_fan_shard_state(part);
    struct bk_tcoord_shard *ts = sh->tcoord;
    struct bk_md_image *img = bk_md_image_acquire(op->call->ctx->md);
    if (ts == NULL || ts->closed || img == NULL) {
        op->error = BK_KERR_COORDINATOR_NOT_AVAILABLE;
    } else {
        struct open_arg o = { sh, img, op->call->ctx->node_id };
        op->error = bk_coord_txn_open(ts->tc, &op->topic_id, op->partition,
                                      open_partition, &o);
        if (op->error == BK_KERR_NONE) {
            op->run(op, ts->tc, part);
            bk_coord_txn_settle(ts->tc);
        }
    }
    bk_md_image_release(img);
    bk_fan_release(part);
}

static void tcop_done(struct bk_fan *fan)
{
    struct bk_tcop *op = fan->data;
    if (op->sync_err != BK_KERR_NONE && op->error == BK_KERR_NONE) {
        op->error = op->sync_err;
    }
    op->done(op);
}

void bk_tcop_start(struct bk_tcop *op,
                   struct bk_call *call,
                   struct bk_str id,
                   bk_tcop_run_fn run,
                   bk_tcop_done_fn done,
                   void *data)
{
    op->call = call;
    op->id = id;
    op->run = run;
    op->done = done;
    op->data = data;
    op->error = BK_KERR_NONE;
    op->sync_err = BK_KERR_NONE;
    /* Every request of a transactional id needs WRITE on it (Kafka's
     * KafkaApis: InitProducerId, AddPartitionsToTxn, AddOffsetsToTxn,
     * EndTxn), DescribeTransactions DESCRIBE, checked before the id is
     * looked for. */
    int acl_op = call->hdr.api_key == BK_API_DESCRIBE_TRANSACTIONS
                     ? BK_ACL_OP_DESCRIBE
                     : BK_ACL_OP_WRITE;
    if (!bk_api_may(call, NULL, acl_op, BK_ACL_RES_TRANSACTIONAL_ID, id)) {
        op->error = BK_KERR_TRANSACTIONAL_ID_AUTHORIZATION_FAILED;
        done(op);
        return;
    }
    struct bk_md_image *img = bk_api_image(call);
    op->error = bk_coord_route(img, BK_TXN_TOPIC, id, call->ctx->node_id,
                               call->req->shard->group->n, &op->partition,
                               &op->owner, &op->topic_id);
    bk_md_image_release(img);
    if (op->error != BK_KERR_NONE) {
        done(op);
        return;
    }
    if (bk_fan_start(&op->fan, call, 1, &op->owner, tcop_run_part, tcop_done,
                     op) != 0) {
        op->error = BK_KERR_COORDINATOR_NOT_AVAILABLE;
        done(op);
    }
}

static void part_hold(void *arg)
{
    bk_fan_hold(arg);
}

static void part_release(void *arg)
{
    bk_fan_release(arg);
}

struct bk_coord_waiter bk_tcop_waiter(struct bk_tcop *op,
                                      struct bk_fan_part *part)
{
    return (struct bk_coord_waiter){ part_hold, part_release, part,
                                     &op->sync_err };
}

int64_t bk_tcop_now(const struct bk_tcop *op)
{
    return bk_clock_wall_ms(op->call->ctx->storage->clock);
}

/* ---- markers ---- */

typedef struct bk_msg_write_txn_markers_request_writable_txn_marker_topic
    mk_topic;

/* The markers of one transaction, in flight to every leader. */
struct marker_job {
    struct bk_tcoord_shard *ts;
    char *id; /* owned */
    size_t id_len;
    int64_t pid;
    int16_t epoch;
    bool commit;
    int outstanding;
    bool failed;
    struct bk_arena arena; /* requests and answers */
};

static void job_free(struct marker_job *j)
{
    bk_arena_destroy(&j->arena);
    bk_free(j->id);
    bk_free(j);
}

/* Every leader answered: complete the transaction when all markers are
 * in, else leave it for the next tick to send them again. */
static void job_done(struct marker_job *j)
{
    struct bk_tcoord_shard *ts = j->ts;
    if (ts->closed) {
        job_free(j);
        return;
    }
    struct bk_str id = { j->id, (int32_t)j->id_len };
    struct bk_coord_txn_entry *e = bk_coord_txn_find(ts->tc, id);
    if (e != NULL && e->markers_busy) {
        e->markers_busy = false;
        struct bk_txn_value next;
        if (!j->failed && !e->m.pending && e->m.cur.producer_id == j->pid &&
            e->m.cur.epoch == j->epoch &&
            bk_txn_complete(&e->m, bk_clock_wall_ms(ts->ctx->storage->clock),
                            &next) == BK_KERR_NONE) {
            (void)bk_coord_txn_write(ts->tc, e, &next, NULL);
            bk_coord_txn_settle(ts->tc);
        }
    }
    job_free(j);
}

static void marker_answered(void *data,
                            int status,
                            const uint8_t *resp,
                            size_t len)
{
    struct marker_job *j = data;
    struct bk_msg_write_txn_markers_response r;
    if (status != 0 || bk_resp_frame_decode(&j->arena, BK_API_WRITE_TXN_MARKERS,
                                            1, resp, len, &r) != 0) {
        j->failed = true;
    } else {
        for (int32_t m = 0; m < r.markers_count; m++) {
            for (int32_t t = 0; t < r.markers[m].topics_count; t++) {
                const struct
                    bk_msg_write_txn_markers_response_writable_txn_marker_topic_result
                        *tr = &r.markers[m].topics[t];
                for (int32_t p = 0; p < tr->partitions_count; p++) {
                    int16_t err = tr->partitions[p].error_code;
                    /* A deleted topic ends the work for its partitions,
                     * as in Kafka; anything else is tried again. */
                    if (err != BK_KERR_NONE &&
                        err != BK_KERR_UNKNOWN_TOPIC_OR_PARTITION) {
                        j->failed = true;
                    }
                }
            }
        }
    }
    if (--j->outstanding == 0) {
        job_done(j);
    }
}

/* The connection to node for markers (made on first use), or NULL. */
static struct bk_kclient *conn_to(struct bk_tcoord_shard *ts,
                                  const struct bk_md_image *img,
                                  int32_t node)
{
    for (size_t i = 0; i < ts->nconns; i++) {
        if (ts->conns[i].node == node) {
            return ts->conns[i].c;
        }
    }
    const char *host;
    int port;
    if (node == ts->ctx->node_id && ts->ctx->nadvertised > 0) {
        host = ts->ctx->advertised[0].host;
        port = ts->ctx->advertised[0].port;
    } else {
        const struct bk_md_broker *b = bk_md_image_broker(img, node);
        if (b == NULL) {
            return NULL;
        }
        host = b->host;
        port = b->port;
    }
    struct marker_conn *v =
        bk_realloc(ts->conns, (ts->nconns + 1) * sizeof(*v));
    if (v == NULL) {
        return NULL;
    }
    ts->conns = v;
    struct bk_kclient *c = NULL;
    struct bk_kclient_opts opts = { .request_timeout_ms = 35000 };
    if (bk_kclient_new(&ts->shard->loop, host, port, &opts, &c) != 0) {
        return NULL;
    }
    ts->conns[ts->nconns++] = (struct marker_conn){ node, c };
    return c;
}

struct bk_coord_txn *bk_tcoord_state(struct bk_shard *shard)
{
    struct bk_api_shard *sh = shard->app;
    struct bk_tcoord_shard *ts = sh->tcoord;
    return ts != NULL && !ts->closed ? ts->tc : NULL;
}

struct bk_kclient *bk_tcoord_client(struct bk_shard *shard,
                                    const struct bk_md_image *img,
                                    int32_t node)
{
    struct bk_api_shard *sh = shard->app;
    struct bk_tcoord_shard *ts = sh->tcoord;
    if (ts == NULL || ts->closed) {
        return NULL;
    }
    return conn_to(ts, img, node);
}

/* The topics of e's partitions that node leads, into *out (arena). */
static int32_t topics_for(const struct bk_coord_txn_entry *e,
                          const struct bk_md_image *img,
                          int32_t node,
                          struct bk_arena *a,
                          mk_topic **out)
{
    mk_topic *v = bk_arena_alloc(a, (e->m.cur.nparts + 1) * sizeof(*v));
    int32_t *ids = bk_arena_alloc(a, (e->m.cur.nparts + 1) * sizeof(*ids));
    int32_t n = 0;
    size_t k = 0;
    if (v == NULL || ids == NULL) {
        return -1;
    }
    for (size_t i = 0; i < e->m.cur.nparts; i++) {
        const struct bk_txn_tp *tp = &e->m.cur.parts[i];
        const struct bk_md_topic *t =
            bk_md_image_topic(img, tp->topic, strlen(tp->topic));
        const struct bk_md_partition *mp =
            t != NULL ? bk_md_topic_partition(t, tp->partition) : NULL;
        if (mp == NULL || mp->leader != node) {
            continue;
        }
        if (n == 0 || strcmp(v[n - 1].name.ptr, tp->topic) != 0) {
            v[n].name = bk_str_c(tp->topic);
            v[n].partition_indexes = &ids[k];
            v[n].partition_indexes_count = 0;
            n++;
        }
        ids[k++] = tp->partition;
        v[n - 1].partition_indexes_count++;
    }
    *out = v;
    return n;
}

/* Sends one WriteTxnMarkers to node for j. Returns 0 or an error. */
static int send_to(struct bk_tcoord_shard *ts,
                   const struct bk_md_image *img,
                   const struct bk_coord_txn_entry *e,
                   struct marker_job *j,
                   int32_t node)
{
    struct bk_msg_write_txn_markers_request_writable_txn_marker m = {
        .producer_id = j->pid,
        .producer_epoch = j->epoch,
        .transaction_result = j->commit,
        .coordinator_epoch = bk_coord_txn_epoch(ts->tc, e->partition),
    };
    m.topics_count = topics_for(e, img, node, &j->arena, &m.topics);
    if (m.topics_count <= 0) {
        return m.topics_count < 0 ? BK_ENOMEM : 0;
    }
    struct bk_msg_write_txn_markers_request req = { &m, 1 };
    uint8_t *frame;
    size_t len;
    struct bk_kclient *c = conn_to(ts, img, node);
    int rv = c == NULL
                 ? BK_ENOTFOUND
                 : bk_req_frame_encode(&j->arena, BK_API_WRITE_TXN_MARKERS, 1,
                                       0, "brokerd-txn", &req, &frame, &len);
    if (rv == 0) {
        j->outstanding++;
        rv = bk_kclient_send(c, frame, len, marker_answered, j);
        if (rv != 0) {
            j->outstanding--;
        }
    }
    return rv;
}

/* Starts the markers of e's decided transaction. */
static void send_markers(struct bk_tcoord_shard *ts,
                         const struct bk_md_image *img,
                         struct bk_coord_txn_entry *e)
{
    struct marker_job *j = bk_calloc(1, sizeof(*j));
    char *id = bk_strndup(e->id, e->id_len);
    if (j == NULL || id == NULL) {
        bk_free(j);
        bk_free(id);
        return;
    }
    *j = (struct marker_job){ .ts = ts,
                              .id = id,
                              .id_len = e->id_len,
                              .pid = e->m.cur.producer_id,
                              .epoch = e->m.cur.epoch,
                              .commit =
                                  e->m.cur.state == BK_TXN_PREPARE_COMMIT };
    bk_arena_init(&j->arena, 1024, 0);
    /* Hold the job while sending, so that an answer cannot finish it
     * half-way. */
    j->outstanding = 1;
    e->markers_busy = true;
    int32_t sent[64];
    size_t nsent = 0;
    for (size_t i = 0; i < e->m.cur.nparts; i++) {
        const struct bk_txn_tp *tp = &e->m.cur.parts[i];
        const struct bk_md_topic *t =
            bk_md_image_topic(img, tp->topic, strlen(tp->topic));
        const struct bk_md_partition *mp =
            t != NULL ? bk_md_topic_partition(t, tp->partition) : NULL;
        if (mp == NULL) {
            continue; /* deleted: nothing to mark */
        }
        int32_t node = mp->leader;
        bool done = false;
        for (size_t k = 0; k < nsent; k++) {
            done |= sent[k] == node;
        }
        if (done) {
            continue;
        }
        if (node < 0 || nsent == 64 || send_to(ts, img, e, j, node) != 0) {
            j->failed = true; /* no leader now: the next tick retries */
            continue;
        }
        sent[nsent++] = node;
    }
    if (--j->outstanding == 0) {
        job_done(j);
    }
}

/* ---- the tick ---- */

struct scan {
    struct bk_tcoord_shard *ts;
    const struct bk_md_image *img;
    int64_t now;
    bool full; /* timeouts and expiry too */
    struct bk_coord_txn_entry *expired[32];
    size_t nexpired;
};

static void scan_one(void *arg, struct bk_coord_txn_entry *e)
{
    struct scan *s = arg;
    enum bk_txn_state st = (enum bk_txn_state)e->m.cur.state;
    if ((st == BK_TXN_PREPARE_COMMIT || st == BK_TXN_PREPARE_ABORT) &&
        !e->m.pending && !e->markers_busy) {
        send_markers(s->ts, s->img, e);
        return;
    }
    if (!s->full) {
        return;
    }
    if (bk_txn_timed_out(&e->m, s->now)) {
        /* Kafka's abortTimedOutTransactions: fence the producer with a
         * bumped epoch, then abort as an EndTxn(abort) would. */
        struct bk_txn_value next;
        if (bk_txn_fence_abort(&e->m, s->now, &next) == BK_KERR_NONE) {
            bk_diag_info(
                "txn",
                "transactional_id=%.*s producer_id=%lld msg=\"aborting "
                "a transaction past its timeout\"",
                (int)e->id_len, e->id, (long long)e->m.cur.producer_id);
            (void)bk_coord_txn_write(s->ts->tc, e, &next, NULL);
        }
        return;
    }
    if (bk_txn_id_expired(&e->m, s->now, s->ts->ctx->txn.id_expiration_ms) &&
        s->nexpired < sizeof(s->expired) / sizeof(s->expired[0])) {
        s->expired[s->nexpired++] = e;
    }
}

void bk_tcoord_tick(struct bk_shard *shard)
{
    struct bk_api_shard *sh = shard->app;
    struct bk_tcoord_shard *ts = sh->tcoord;
    if (ts == NULL || ts->closed) {
        return;
    }
    struct bk_md_image *img = bk_md_image_acquire(ts->ctx->md);
    const struct bk_md_topic *t =
        img != NULL ? bk_md_image_topic(img, BK_TXN_TOPIC, strlen(BK_TXN_TOPIC))
                    : NULL;
    if (t == NULL) {
        bk_md_image_release(img);
        return;
    }
    struct open_arg o = { sh, img, ts->ctx->node_id };
    bk_coord_txn_open_all(ts->tc, t, ts->ctx->node_id, shard->group->n,
                          open_partition, &o);
    struct scan s = { .ts = ts, .img = img };
    s.now = bk_clock_wall_ms(ts->ctx->storage->clock);
    s.full = s.now - ts->last_scan_ms >= ts->ctx->txn.abort_interval_ms;
    if (s.full) {
        ts->last_scan_ms = s.now;
    }
    bk_coord_txn_each(ts->tc, scan_one, &s);
    for (size_t i = 0; i < s.nexpired; i++) {
        (void)bk_coord_txn_remove(ts->tc, s.expired[i]);
    }
    bk_coord_txn_settle(ts->tc);
    bk_md_image_release(img);
}

/* ---- lifecycle ---- */

void bk_tcoord_start(struct bk_shard *shard)
{
    const struct bk_api_ctx *ctx = shard->group->app;
    struct bk_api_shard *sh = shard->app;
    struct bk_tcoord_shard *ts = bk_calloc(1, sizeof(*ts));
    if (ts == NULL) {
        return; /* requests then answer COORDINATOR_NOT_AVAILABLE */
    }
    ts->tc = bk_coord_txn_new(&sh->rmgr.parts, ctx->storage->clock, shard->id);
    if (ts->tc == NULL) {
        bk_free(ts);
        return;
    }
    ts->shard = shard;
    ts->ctx = ctx;
    sh->tcoord = ts;
}

void bk_tcoord_drain(struct bk_shard *shard)
{
    struct bk_api_shard *sh = shard->app;
    struct bk_tcoord_shard *ts = sh->tcoord;
    if (ts == NULL || ts->closed) {
        return;
    }
    ts->closed = true;
    bk_coord_txn_close(ts->tc);
    /* Runs the callbacks of markers in flight (they see closed). */
    for (size_t i = 0; i < ts->nconns; i++) {
        bk_kclient_close(ts->conns[i].c);
    }
    bk_free(ts->conns);
    ts->conns = NULL;
    ts->nconns = 0;
}

void bk_tcoord_stop(struct bk_shard *shard)
{
    struct bk_api_shard *sh = shard->app;
    struct bk_tcoord_shard *ts = sh->tcoord;
    if (ts == NULL) {
        return;
    }
    bk_tcoord_drain(shard);
    bk_coord_txn_free(ts->tc);
    bk_free(ts);
    sh->tcoord = NULL;
}

int bk_tcoord_create_topic(struct bk_call *call,
                           void (*done)(struct bk_call *call, int status))
{
    struct bk_api_internal_topic it = {
        .name = BK_TXN_TOPIC,
        .log_sub = "txn",
        .partitions = call->ctx->txn.partitions,
        .replication_factor = call->ctx->txn.rf,
        .min_isr = call->ctx->txn.min_isr,
    };
    return bk_api_create_internal_topic(call, &it, done);
}
