/* Broker registration, heartbeats and session expiry on the active
 * controller (heartbeats.h, controller.h).
 *
 * The states follow Kafka's BrokerHeartbeatManager (replication-notes.md
 * §8): a broker registers fenced; it is unfenced once the metadata offset
 * it reports has reached its registration; a broker that wants to shut
 * down enters controlled shutdown, gives up its leaderships, and is told
 * to shut down once it leads nothing; a broker whose session lapses is
 * fenced, one per scan as Kafka does, so that a controller that was itself
 * paused does not fence everyone at once. */
#include "cluster/heartbeats.h"

#include <stdio.h>
#include <string.h>

#include "cluster/controller.h"
#include "common/clock.h"
#include "common/diag.h"
#include "common/err.h"
#include "common/heap.h"

#define KERR_NOT_CONTROLLER 41
#define MAX_HOST            256

struct session {
    int32_t id;
    int64_t last_ms; /* last registration or heartbeat, monotonic */
    uint64_t conn;   /* the connection of the last heartbeat; 0: none */
    bool pending;    /* a state change of this broker is in flight */
    /* For DescribeQuorum: the metadata offset last reported (-1 unknown),
     * when (wall clock, -1 never), and when it last matched this
     * controller's own offset (-1 never). */
    int64_t offset;
    int64_t report_wall_ms;
    int64_t caught_up_wall_ms;
};

struct bk_md_hb {
    struct bk_md *md;
    uv_timer_t timer;
    unsigned session_ms;
    unsigned disconnect_ms; /* broker.fence.on.disconnect.ms; 0: off */
    uv_timer_t soon;        /* a scan at a disconnected broker's deadline */
    bool unclean;           /* the static unclean.leader.election.enable */
    const struct bk_clock *clock;
    struct session *v;
    size_t n;
    size_t cap;
};

enum op_kind { OP_REGISTER, OP_HEARTBEAT };

/* One request on its way to and through the raft thread. */
struct op {
    enum op_kind kind;
    struct bk_md *md;
    bk_md_member_cb cb;
    void *data;
    struct bk_md_registration reg;
    char host[MAX_HOST];
    char rack[MAX_HOST];
    char cluster_id[64];
    struct bk_md_heartbeat hb;
    struct bk_md_member_resp resp;
};

static int64_t now_ms(const struct bk_md_hb *hb)
{
    return bk_clock_mono_ms(hb->clock);
}

static struct session *find(struct bk_md_hb *hb, int32_t id)
{
    for (size_t i = 0; i < hb->n; i++) {
        if (hb->v[i].id == id) {
            return &hb->v[i];
        }
    }
    return NULL;
}

/* The session of broker id, made fresh when it has none. NULL when out of
 * memory. */
static struct session *touch(struct bk_md_hb *hb, int32_t id)
{
    struct session *s = find(hb, id);
    if (s == NULL) {
        if (hb->n == hb->cap) {
            size_t cap = hb->cap == 0 ? 8 : 2 * hb->cap;
            struct session *v = bk_realloc(hb->v, cap * sizeof(*v));
            if (v == NULL) {
                return NULL;
            }
            hb->v = v;
            hb->cap = cap;
        }
        s = &hb->v[hb->n++];
        *s = (struct session){ .id = id,
                               .last_ms = now_ms(hb),
                               .offset = -1,
                               .report_wall_ms = -1,
                               .caught_up_wall_ms = -1 };
    }
    return s;
}

static bool expired(const struct bk_md_hb *hb, const struct session *s)
{
    return now_ms(hb) - s->last_ms > (int64_t)hb->session_ms;
}

static void finish(struct op *op)
{
    if (op->cb != NULL) {
        op->cb(op->data, &op->resp);
    }
    bk_free(op);
}

static void fail_op(struct op *op, int16_t error, const char *msg)
{
    op->resp.error = error;
    snprintf(op->resp.msg, sizeof(op->resp.msg), "%s", msg);
    finish(op);
}

static int16_t md_status_kerr(int status)
{
    return status == BK_ENOMEM ? -1 : KERR_NOT_CONTROLLER;
}

/* ---- registration ---------------------------------------------------- */

static void registered(void *data, int status)
{
    struct op *op = data;
    struct bk_md_hb *hb = bk_md_hb_of(op->md);
    if (status != 0) {
        /* Leadership lost (the broker retries; the same incarnation gets
         * the same answer), or a record skipped as stale. */
        fail_op(op, md_status_kerr(status), bk_strerror(status));
        return;
    }
    struct session *s = hb != NULL ? touch(hb, op->reg.id) : NULL;
    if (s != NULL) {
        s->last_ms = now_ms(hb);
    }
    bk_diag_info("cluster", "msg=\"broker registered\" broker=%d epoch=%lld",
                 op->reg.id, (long long)op->resp.epoch);
    finish(op);
}

static void do_register(struct op *op)
{
    struct bk_md_hb *hb = bk_md_hb_of(op->md);
    struct bk_md_image *img = bk_md_image_acquire(op->md);
    if (img->cluster_id != NULL && op->reg.cluster_id != NULL &&
        strcmp(img->cluster_id, op->reg.cluster_id) != 0) {
        /* First, as Kafka's controller does: a node of another cluster is
         * told so, whatever else is wrong with its registration. */
        char msg[BK_MD_MSG_SIZE];
        snprintf(msg, sizeof(msg),
                 "Expected cluster ID %s, but got cluster ID %s.",
                 img->cluster_id, op->reg.cluster_id);
        bk_md_image_release(img);
        fail_op(op, BK_MD_KERR_INCONSISTENT_CLUSTER_ID, msg);
        return;
    }
    const struct bk_md_broker *b = bk_md_image_broker(img, op->reg.id);
    struct session *s = hb != NULL ? find(hb, op->reg.id) : NULL;
    if (b != NULL && !b->fenced && s != NULL && !expired(hb, s) &&
        memcmp(&b->incarnation, &op->reg.incarnation, sizeof(b->incarnation)) !=
            0) {
        bk_md_image_release(img);
        fail_op(op, BK_MD_KERR_DUPLICATE_BROKER_REG,
                "Another broker is registered with that broker id.");
        return;
    }
    struct bk_arena arena;
    bk_arena_init(&arena, 1024, 0);
    struct bk_md_recs recs;
    bk_md_recs_init(&recs, &arena);
    char msg[BK_MD_MSG_SIZE];
    int16_t code =
        bk_md_op_register(img, &op->reg, &recs, &op->resp.epoch, msg);
    bk_md_image_release(img);
    int rv = 0;
    if (code != 0) {
        fail_op(op, code, msg);
    } else if (recs.n == 0) {
        registered(op, 0);
    } else {
        rv = bk_md_propose(op->md, recs.v, recs.n, registered, op);
    }
    bk_arena_destroy(&arena);
    if (rv != 0) {
        fail_op(op, md_status_kerr(rv), bk_strerror(rv));
    }
}

/* ---- heartbeat --------------------------------------------------------- */

/* Fills the answer from the broker's state in img. */
static void answer(struct op *op, const struct bk_md_image *img)
{
    const struct bk_md_broker *b = bk_md_image_broker(img, op->hb.id);
    op->resp.fenced = b == NULL || b->fenced;
    op->resp.caught_up = b != NULL && op->hb.metadata_offset >= b->epoch;
    /* Let go once fenced: next_change fences a broker in controlled
     * shutdown as soon as it leads nothing. */
    op->resp.should_shut_down = op->hb.want_shut_down && op->resp.fenced;
}

static void changed(void *data, int status)
{
    struct op *op = data;
    struct bk_md_hb *hb = bk_md_hb_of(op->md);
    struct session *s = hb != NULL ? find(hb, op->hb.id) : NULL;
    if (s != NULL) {
        s->pending = false;
    }
    if (status != 0 && status != BK_ESTATE) {
        fail_op(op, md_status_kerr(status), bk_strerror(status));
        return;
    }
    struct bk_md_image *img = bk_md_image_acquire(op->md);
    answer(op, img);
    bk_md_image_release(img);
    finish(op);
}

/* The change Kafka's controller makes for this heartbeat, if any. */
static int next_change(const struct bk_md_image *img,
                       const struct bk_md_broker *b,
                       const struct bk_md_heartbeat *h,
                       enum bk_md_broker_change *change)
{
    bool caught_up = h->metadata_offset >= b->epoch;
    if (b->fenced) {
        *change = BK_MD_UNFENCE;
        return !h->want_shut_down && !h->want_fence && caught_up;
    }
    if (h->want_fence) {
        *change = BK_MD_FENCE;
        return 1;
    }
    if (h->want_shut_down && b->in_controlled_shutdown) {
        /* It leads nothing any more: it may go, and is fenced as it goes
         * (Kafka's SHUTDOWN_NOW), so that its next start need not wait for
         * this session to lapse. */
        *change = BK_MD_FENCE;
        return bk_md_led_partitions(img, b->id) == 0;
    }
    *change = BK_MD_SHUT_DOWN;
    return h->want_shut_down;
}

/* Proposes a state change of broker id; cb(data, status) runs once it is
 * applied. Returns 0 or an error (then cb never runs). */
static int propose_change(struct bk_md *md,
                          const struct bk_md_image *img,
                          int32_t id,
                          enum bk_md_broker_change change,
                          bk_md_done_cb cb,
                          void *data)
{
    struct bk_arena arena;
    bk_arena_init(&arena, 4096, 0);
    struct bk_md_recs recs;
    bk_md_recs_init(&recs, &arena);
    char msg[BK_MD_MSG_SIZE];
    int rv = BK_ENOMEM;
    struct bk_md_hb *hb = bk_md_hb_of(md);
    bool unclean = hb != NULL && hb->unclean;
    if (bk_md_op_broker_change(img, id, change, unclean, &recs, msg) == 0) {
        rv = bk_md_propose(md, recs.v, recs.n, cb, data);
    }
    bk_arena_destroy(&arena);
    return rv;
}

/* A heartbeat is brokerd's fetch as far as DescribeQuorum is concerned:
 * the offset it reports is the replica's log end offset, and it is caught
 * up when that reaches the offset this controller has applied (Kafka's
 * lastCaughtUpTimestamp, KIP-836). */
static void note_progress(struct bk_md_hb *hb,
                          struct session *s,
                          int64_t reported,
                          int64_t own)
{
    int64_t wall = bk_clock_wall_ms(hb->clock);
    s->offset = reported;
    s->report_wall_ms = wall;
    if (reported >= own) {
        s->caught_up_wall_ms = wall;
    }
}

static void do_heartbeat(struct op *op)
{
    struct bk_md_hb *hb = bk_md_hb_of(op->md);
    struct bk_md_image *img = bk_md_image_acquire(op->md);
    const struct bk_md_broker *b = bk_md_image_broker(img, op->hb.id);
    if (b == NULL || b->epoch != op->hb.epoch) {
        bk_md_image_release(img);
        char msg[96];
        snprintf(msg, sizeof(msg), "Expected broker epoch %lld, but got %lld",
                 b != NULL ? (long long)b->epoch : -1LL,
                 (long long)op->hb.epoch);
        fail_op(op, BK_MD_KERR_STALE_BROKER_EPOCH, msg);
        return;
    }
    struct session *s = hb != NULL ? touch(hb, op->hb.id) : NULL;
    if (s != NULL) {
        s->last_ms = now_ms(hb);
        s->conn = op->hb.conn;
        note_progress(hb, s, op->hb.metadata_offset, img->offset);
    }
    enum bk_md_broker_change change;
    if (s != NULL && !s->pending && next_change(img, b, &op->hb, &change)) {
        s->pending = true;
        int rv = propose_change(op->md, img, op->hb.id, change, changed, op);
        bk_md_image_release(img);
        if (rv != 0) {
            s->pending = false;
            fail_op(op, md_status_kerr(rv), bk_strerror(rv));
        }
        return;
    }
    answer(op, img);
    bk_md_image_release(img);
    finish(op);
}

/* ---- session expiry ---------------------------------------------------- */

struct fence {
    struct bk_md *md;
    int32_t id;
};

/* A fence proposed by the scan was applied (or not: the next scan tries
 * again). The table is looked up again: it may be gone by now. */
static void fenced(void *data, int status)
{
    struct fence *f = data;
    struct bk_md_hb *hb = bk_md_hb_of(f->md);
    struct session *s = hb != NULL ? find(hb, f->id) : NULL;
    if (s != NULL) {
        s->pending = false;
    }
    (void)status;
    bk_free(f);
}

static void scan_cb(uv_timer_t *t)
{
    struct bk_md_hb *hb = t->data;
    if (!bk_md_is_active(hb->md)) {
        return;
    }
    struct bk_md_image *img = bk_md_image_acquire(hb->md);
    for (size_t i = 0; i < img->n_brokers; i++) {
        const struct bk_md_broker *b = &img->brokers[i];
        struct session *s = touch(hb, b->id);
        if (s == NULL || s->pending) {
            continue;
        }
        /* A fenced broker that still leads a partition: the leadership
         * move of its fence was skipped at apply (another change to that
         * partition came first, image.c), so fence it again. */
        bool repair = b->fenced && bk_md_led_partitions(img, b->id) > 0;
        if (!repair && (b->fenced || !expired(hb, s))) {
            continue;
        }
        bk_diag_warn("cluster",
                     "msg=\"fencing broker: its session ended without a "
                     "heartbeat\" broker=%d timeout_ms=%u",
                     b->id, hb->session_ms);
        struct fence *f = bk_malloc(sizeof(*f));
        if (f == NULL) {
            break;
        }
        *f = (struct fence){ hb->md, b->id };
        s->pending = true;
        if (propose_change(hb->md, img, b->id, BK_MD_FENCE, fenced, f) != 0) {
            s->pending = false;
            bk_free(f);
        }
        break; /* one per scan, as Kafka does */
    }
    bk_md_image_release(img);
}

/* ---- a broker's connection closed ----------------------------------------
 */

struct gone {
    struct bk_md *md;
    int32_t id;
    int64_t epoch;
    uint64_t conn;
};

static void soon_cb(uv_timer_t *t)
{
    scan_cb(t);
}

static void run_gone(void *data, int status)
{
    struct gone *g = data;
    struct bk_md_hb *hb = status == 0 ? bk_md_hb_of(g->md) : NULL;
    struct session *s = hb != NULL ? find(hb, g->id) : NULL;
    if (s == NULL || hb->disconnect_ms == 0 || s->conn != g->conn ||
        !bk_md_is_active(g->md)) {
        /* A heartbeat came on another connection since (a reconnect), or
         * this node no longer decides. */
        bk_free(g);
        return;
    }
    struct bk_md_image *img = bk_md_image_acquire(g->md);
    const struct bk_md_broker *b = bk_md_image_broker(img, g->id);
    if (b != NULL && b->epoch == g->epoch && !b->fenced) {
        int64_t due =
            now_ms(hb) - (int64_t)hb->session_ms + (int64_t)hb->disconnect_ms;
        if (s->last_ms > due) {
            s->last_ms = due;
        }
        s->conn = 0;
        bk_diag_info("cluster",
                     "msg=\"broker's connection closed: fenced unless it "
                     "heartbeats again\" broker=%d within_ms=%u",
                     g->id, hb->disconnect_ms);
        uv_timer_start(&hb->soon, soon_cb, hb->disconnect_ms + 1, 0);
    }
    bk_md_image_release(img);
    bk_free(g);
}

int bk_md_broker_disconnected(struct bk_md *md,
                              int32_t id,
                              int64_t epoch,
                              uint64_t conn)
{
    struct gone *g = bk_malloc(sizeof(*g));
    if (g == NULL) {
        return BK_ENOMEM;
    }
    *g = (struct gone){ md, id, epoch, conn };
    int rv = bk_md_call(md, run_gone, g);
    if (rv != 0) {
        bk_free(g);
    }
    return rv;
}

/* ---- entry points -------------------------------------------------------- */

static void run_op(void *data, int status)
{
    struct op *op = data;
    if (status != 0 || !bk_md_is_active(op->md)) {
        fail_op(op, KERR_NOT_CONTROLLER, "This node is not the controller.");
        return;
    }
    if (op->kind == OP_REGISTER) {
        do_register(op);
    } else {
        do_heartbeat(op);
    }
}

static int submit(struct op *op)
{
    int rv = bk_md_call(op->md, run_op, op);
    if (rv != 0) {
        bk_free(op);
    }
    return rv;
}

static char *copy_opt(char *dst, size_t cap, const char *src)
{
    if (src == NULL) {
        return NULL;
    }
    snprintf(dst, cap, "%s", src);
    return dst;
}

int bk_md_broker_register(struct bk_md *md,
                          const struct bk_md_registration *reg,
                          bk_md_member_cb cb,
                          void *data)
{
    struct op *op = bk_calloc(1, sizeof(*op));
    if (op == NULL) {
        return BK_ENOMEM;
    }
    *op = (struct op){ .kind = OP_REGISTER, .md = md, .cb = cb, .data = data };
    op->reg = *reg;
    op->reg.host = copy_opt(op->host, sizeof(op->host), reg->host);
    op->reg.rack = copy_opt(op->rack, sizeof(op->rack), reg->rack);
    op->reg.cluster_id =
        copy_opt(op->cluster_id, sizeof(op->cluster_id), reg->cluster_id);
    op->reg.fenced = true; /* Kafka: a new registration starts fenced */
    op->resp.epoch = -1;
    return submit(op);
}

int bk_md_broker_heartbeat(struct bk_md *md,
                           const struct bk_md_heartbeat *hb,
                           bk_md_member_cb cb,
                           void *data)
{
    struct op *op = bk_calloc(1, sizeof(*op));
    if (op == NULL) {
        return BK_ENOMEM;
    }
    *op = (struct op){ .kind = OP_HEARTBEAT, .md = md, .cb = cb, .data = data };
    op->hb = *hb;
    op->resp.epoch = hb->epoch;
    op->resp.fenced = true;
    return submit(op);
}

struct bk_md_hb *bk_md_hb_new(struct bk_md *md,
                              uv_loop_t *loop,
                              unsigned session_ms,
                              unsigned disconnect_ms,
                              bool unclean)
{
    struct bk_md_hb *hb = bk_calloc(1, sizeof(*hb));
    if (hb == NULL) {
        bk_diag_error("cluster", "msg=\"no memory for broker sessions\"");
        return NULL;
    }
    hb->md = md;
    hb->session_ms = session_ms;
    hb->disconnect_ms = disconnect_ms < session_ms ? disconnect_ms : 0;
    hb->unclean = unclean;
    hb->clock = bk_clock_system();
    uv_timer_init(loop, &hb->timer);
    hb->timer.data = hb;
    uv_timer_init(loop, &hb->soon);
    hb->soon.data = hb;
    /* A quarter of the session: a lapse is noticed within 1.25 sessions. */
    uint64_t every = session_ms / 4 > 0 ? session_ms / 4 : 1;
    uv_timer_start(&hb->timer, scan_cb, every, every);
    return hb;
}

void bk_md_hb_activated(struct bk_md_hb *hb)
{
    if (hb == NULL) {
        return;
    }
    for (size_t i = 0; i < hb->n; i++) {
        hb->v[i].last_ms = now_ms(hb);
        hb->v[i].pending = false;
        /* What was reported to an earlier term's leader is not known to
         * this one (Kafka's new leader starts its replica states afresh). */
        hb->v[i].offset = -1;
        hb->v[i].report_wall_ms = -1;
        hb->v[i].caught_up_wall_ms = -1;
    }
    /* Every registered broker gets a fresh session now, as Kafka's new
     * controller gives them: until it lapses, another incarnation of a
     * live broker is refused, whoever was the controller before. */
    struct bk_md_image *img = bk_md_image_acquire(hb->md);
    for (size_t i = 0; i < img->n_brokers; i++) {
        (void)touch(hb, img->brokers[i].id);
    }
    bk_md_image_release(img);
}

size_t bk_md_hb_progress(const struct bk_md_hb *hb,
                         struct bk_md_replica_progress *out,
                         size_t cap)
{
    if (hb == NULL) {
        return 0;
    }
    for (size_t i = 0; i < hb->n && i < cap; i++) {
        const struct session *s = &hb->v[i];
        out[i] = (struct bk_md_replica_progress){
            .id = s->id,
            .log_end_offset = s->offset,
            .last_fetch_ms = s->report_wall_ms,
            .last_caught_up_ms = s->caught_up_wall_ms,
        };
    }
    return hb->n;
}

static void soon_closed(uv_handle_t *h)
{
    struct bk_md_hb *hb = h->data;
    bk_free(hb->v);
    bk_free(hb);
}

static void hb_closed(uv_handle_t *h)
{
    struct bk_md_hb *hb = h->data;
    uv_close((uv_handle_t *)&hb->soon, soon_closed);
}

void bk_md_hb_close(struct bk_md_hb *hb)
{
    if (hb != NULL) {
        uv_timer_stop(&hb->soon);
        uv_close((uv_handle_t *)&hb->timer, hb_closed);
    }
}
