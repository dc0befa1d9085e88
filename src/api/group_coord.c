/* The group coordinator's API glue; see group_coord.h. The coordinator
 * itself (loading __consumer_offsets, writing the registry's changes,
 * answering once durable) is src/coord/; this file routes a group request
 * to its coordinator shard over fan.h, opens partitions there the way
 * every partition API admits them (bk_fan_open_partition), and turns a fan
 * part into the runtime's waiter.
 *
 * Happy path of a group request: the handler (connection's shard) routes
 * the group to the shard owning its __consumer_offsets partition; there,
 * bk_gcoord_open() opens and loads the partition, the handler runs the
 * registry operation, and bk_gcoord_flush() writes what changed, holding
 * the part until it is on disk. Failure modes: the offsets topic missing or
 * led elsewhere (NOT_COORDINATOR, the client asks FindCoordinator again),
 * the partition failing to open or append (COORDINATOR_NOT_AVAILABLE /
 * NOT_COORDINATOR). */
#include "api/group_coord.h"

#include <stdio.h>
#include <string.h>

#include "api/access.h"
#include "api/forward.h"
#include "cluster/controller.h"
#include "cluster/ops.h"
#include "common/diag.h"
#include "common/heap.h"
#include "protocol/kerr.h"

/* ---- heap results ---- */

struct bk_gbuf_chunk {
    struct bk_gbuf_chunk *next;
    max_align_t align[];
};

void *bk_gbuf_alloc(struct bk_gbuf *b, size_t n)
{
    struct bk_gbuf_chunk *c = bk_malloc(sizeof(*c) + n + 1);
    if (c == NULL) {
        b->failed = true;
        return NULL;
    }
    c->next = b->head;
    b->head = c;
    return c->align;
}

struct bk_str bk_gbuf_str(struct bk_gbuf *b, const char *s)
{
    if (s == NULL) {
        return BK_STR_NULL;
    }
    return bk_gbuf_strn(b, s, strlen(s));
}

struct bk_str bk_gbuf_strn(struct bk_gbuf *b, const char *s, size_t n)
{
    char *p = bk_gbuf_alloc(b, n + 1);
    if (p == NULL) {
        return bk_str_c("");
    }
    if (n > 0) {
        memcpy(p, s, n);
    }
    p[n] = '\0';
    return (struct bk_str){ p, (int32_t)n };
}

struct bk_bytes bk_gbuf_bytes(struct bk_gbuf *b, const void *src, size_t n)
{
    uint8_t *p = bk_gbuf_alloc(b, n);
    if (p == NULL) {
        return (struct bk_bytes){ NULL, 0 };
    }
    if (n > 0) {
        memcpy(p, src, n);
    }
    return (struct bk_bytes){ p, (int32_t)n };
}

void bk_gbuf_move(struct bk_gbuf *dst, struct bk_gbuf *src)
{
    while (src->head != NULL) {
        struct bk_gbuf_chunk *c = src->head;
        src->head = c->next;
        c->next = dst->head;
        dst->head = c;
    }
    dst->failed |= src->failed;
}

void bk_gbuf_free(struct bk_gbuf *b)
{
    while (b->head != NULL) {
        struct bk_gbuf_chunk *c = b->head;
        b->head = c->next;
        bk_free(c);
    }
}

/* ---- routing and opening ---- */

int16_t bk_gcoord_route(const struct bk_call *call,
                        const struct bk_md_image *img,
                        struct bk_str group_id,
                        int32_t *partition,
                        unsigned *owner,
                        struct bk_uuid *topic_id)
{
    if (group_id.len < 0) {
        return BK_KERR_INVALID_GROUP_ID;
    }
    return bk_coord_route(img, BK_OFFSETS_TOPIC, group_id, call->ctx->node_id,
                          call->req->shard->group->n, partition, owner,
                          topic_id);
}

/* What the runtime needs to open a partition as the partition APIs do. */
struct open_arg {
    struct bk_fan_part *part;
    const struct bk_md_image *img;
};

static struct bk_partition *open_partition(void *arg,
                                           const struct bk_uuid *topic_id,
                                           int32_t partition,
                                           int16_t *err)
{
    struct open_arg *o = arg;
    return bk_fan_open_partition(o->part, o->img, topic_id, partition, -1, err);
}

struct bk_coord_group *bk_gcoord_open(struct bk_fan_part *part,
                                      const struct bk_md_image *img,
                                      const struct bk_uuid *topic_id,
                                      int32_t partition,
                                      int16_t *err)
{
    struct bk_api_shard *sh = bk_fan_shard_state(part);
    struct bk_coord_group *gc = sh->gcoord;
    if (gc == NULL) {
        *err = BK_KERR_COORDINATOR_NOT_AVAILABLE;
        return NULL;
    }
    struct open_arg o = { part, img };
    *err = bk_coord_group_open(gc, topic_id, partition, open_partition, &o);
    return *err == BK_KERR_NONE ? gc : NULL;
}

struct bk_coord_group *bk_gcoord_load_all(struct bk_fan_part *part,
                                          const struct bk_md_image *img)
{
    struct bk_api_shard *sh = bk_fan_shard_state(part);
    struct bk_coord_group *gc = sh->gcoord;
    if (gc == NULL || bk_coord_group_closed(gc)) {
        return NULL;
    }
    struct open_arg o = { part, img };
    bk_coord_group_open_all(gc, img, part->fan->call->ctx->node_id,
                            part->owner->group->n, open_partition, &o);
    return gc;
}

/* ---- writing: a fan part as the runtime's waiter ---- */

static void part_hold(void *arg)
{
    bk_fan_hold(arg);
}

static void part_release(void *arg)
{
    bk_fan_release(arg);
}

struct bk_coord_waiter bk_gcoord_waiter(struct bk_fan_part *part,
                                        int16_t *sync_err)
{
    return (struct bk_coord_waiter){ part_hold, part_release, part, sync_err };
}

int16_t bk_gcoord_append(struct bk_coord_group *gc,
                         int32_t partition,
                         const struct bk_coord_rec *recs,
                         size_t n,
                         struct bk_fan_part *part,
                         int16_t *sync_err)
{
    struct bk_coord_waiter w = bk_gcoord_waiter(part, sync_err);
    return bk_coord_group_append(gc, partition, recs, n,
                                 part != NULL ? &w : NULL);
}

void bk_gcoord_flush(struct bk_coord_group *gc,
                     struct bk_fan_part *part,
                     int16_t *sync_err)
{
    struct bk_coord_waiter w = bk_gcoord_waiter(part, sync_err);
    bk_coord_group_flush(gc, part != NULL ? &w : NULL);
}

int16_t bk_gcoord_delete_group(struct bk_coord_group *gc,
                               struct bk_group *g,
                               struct bk_fan_part *part,
                               int16_t *sync_err)
{
    struct bk_coord_waiter w = bk_gcoord_waiter(part, sync_err);
    return bk_coord_group_delete(gc, g, part != NULL ? &w : NULL);
}

/* ---- lifecycle ---- */

void bk_gcoord_start(struct bk_shard *shard)
{
    const struct bk_api_ctx *ctx = shard->group->app;
    struct bk_api_shard *st = shard->app;
    /* NULL when out of memory: group requests on this shard then answer
     * COORDINATOR_NOT_AVAILABLE. */
    st->gcoord = bk_coord_group_new(ctx->md, &st->rmgr.parts, &ctx->group,
                                    bk_clock_system(), shard->id);
}

void bk_gcoord_tick(struct bk_shard *shard)
{
    struct bk_api_shard *st = shard->app;
    if (st->gcoord != NULL) {
        bk_coord_group_tick(st->gcoord);
    }
}

void bk_gcoord_drain(struct bk_shard *shard)
{
    struct bk_api_shard *st = shard->app;
    if (st->gcoord != NULL) {
        bk_coord_group_close(st->gcoord);
    }
}

void bk_gcoord_stop(struct bk_shard *shard)
{
    struct bk_api_shard *st = shard->app;
    bk_coord_group_free(st->gcoord);
    st->gcoord = NULL;
}

/* ---- FindCoordinator helpers ---- */

int bk_api_create_internal_topic(struct bk_call *call,
                                 const struct bk_api_internal_topic *it,
                                 void (*done)(struct bk_call *call, int status))
{
    struct bk_md_image *img = bk_api_image(call);
    if (img == NULL) {
        return BK_ENOMEM;
    }
    if (bk_md_image_topic(img, it->name, strlen(it->name)) != NULL) {
        bk_md_image_release(img);
        done(call, 0);
        return 0;
    }
    int16_t rf = it->replication_factor > 0 ? it->replication_factor : 3;
    size_t live = bk_md_image_live_brokers(img);
    if (live > 0 && (size_t)rf > live) {
        rf = (int16_t)live;
    }
    char min_isr[16];
    int16_t isr = it->min_isr > rf ? rf : it->min_isr;
    snprintf(min_isr, sizeof(min_isr), "%d", isr > 0 ? isr : 1);
    const struct bk_md_kv_in configs[] = {
        { "cleanup.policy", "compact" },
        { "compression.type", "producer" },
        { "segment.bytes", "104857600" },
        { "min.insync.replicas", min_isr },
    };
    struct bk_md_topic_spec spec = {
        .name = bk_str_c(it->name),
        .num_partitions = it->partitions > 0 ? it->partitions : 50,
        .replication_factor = rf,
        /* min.insync.replicas only where asked: __consumer_offsets keeps
         * the topic default, as before. */
        .n_configs =
            sizeof(configs) / sizeof(configs[0]) - (it->min_isr > 0 ? 0 : 1),
        .configs = configs,
    };
    struct bk_md_defaults defs = {
        .num_partitions = call->ctx->num_partitions,
        .replication_factor = call->ctx->default_replication_factor,
    };
    struct bk_md_recs recs;
    bk_md_recs_init(&recs, call->arena);
    struct bk_md_create_result res;
    char *msg = bk_arena_alloc(call->arena, BK_MD_MSG_SIZE);
    if (msg == NULL) {
        bk_md_image_release(img);
        return BK_ENOMEM;
    }
    int16_t err = bk_md_op_create_topic(img, &spec, &defs, bk_md_rng_system(),
                                        &recs, &res, msg);
    bk_md_image_release(img);
    if (err != 0) {
        bk_diag_warn(it->log_sub, "msg=\"cannot create %s: %s\"", it->name,
                     msg);
        return BK_EINVAL;
    }
    bk_diag_info(it->log_sub,
                 "partitions=%d replication_factor=%d msg=\"creating %s\"",
                 res.num_partitions, res.replication_factor, it->name);
    if (!bk_md_is_active(call->ctx->md)) {
        /* The active controller creates it; FindCoordinator answers
         * COORDINATOR_NOT_AVAILABLE until this node's image has it. */
        int rv = bk_fwd_create_topic(call->req->shard, &spec);
        if (rv != 0 && rv != BK_ENOTLEADER) {
            return rv;
        }
        done(call, 0);
        return 0;
    }
    return bk_api_propose(call, recs.v, recs.n, done);
}

int bk_gcoord_create_topic(struct bk_call *call,
                           void (*done)(struct bk_call *call, int status))
{
    struct bk_api_internal_topic it = {
        .name = BK_OFFSETS_TOPIC,
        .log_sub = "group",
        .partitions = call->ctx->offsets_partitions,
        .replication_factor = call->ctx->offsets_replication_factor,
        .min_isr = 0,
    };
    return bk_api_create_internal_topic(call, &it, done);
}

bool bk_gcoord_broker_addr(const struct bk_call *call,
                           const struct bk_md_image *img,
                           int32_t node,
                           struct bk_str *host,
                           int32_t *port)
{
    const struct bk_md_broker *b = bk_md_image_broker(img, node);
    const char *h = NULL;
    if (b != NULL) {
        bk_api_broker_addr(call, node, b->host, b->port, &h, port);
    } else if (node == call->ctx->node_id) {
        /* Not yet registered: our own address is known anyway. */
        bk_api_broker_addr(call, node, NULL, -1, &h, port);
    }
    if (h == NULL) {
        return false;
    }
    *host = bk_str_c(h);
    return true;
}

/* ---- group operations ---- */

int bk_gops_init(struct bk_gops *ops, struct bk_call *call, size_t n)
{
    memset(ops, 0, sizeof(*ops));
    ops->call = call;
    ops->n = n;
    ops->items = bk_arena_alloc(call->arena, (n + 1) * sizeof(*ops->items));
    if (ops->items == NULL) {
        return BK_ENOMEM;
    }
    memset(ops->items, 0, (n + 1) * sizeof(*ops->items));
    return 0;
}

static void gops_run_part(struct bk_fan_part *part)
{
    struct bk_gops *ops = part->fan->data;
    struct bk_md_image *img = bk_md_image_acquire(ops->call->ctx->md);
    struct bk_coord_group *last = NULL;
    for (size_t k = 0; k < part->n; k++) {
        size_t i = part->idx[k];
        struct bk_gop_item *it = &ops->items[i];
        if (it->error != 0) {
            continue;
        }
        if (img == NULL) {
            it->error = BK_KERR_COORDINATOR_NOT_AVAILABLE;
            continue;
        }
        struct bk_coord_group *gc =
            bk_gcoord_open(part, img, &it->topic_id, it->partition, &it->error);
        if (gc == NULL) {
            continue;
        }
        last = gc;
        /* Deadlines passed since the last tick count before the request,
         * as Kafka's timers would have fired at them. */
        bk_group_expire(bk_coord_group_registry(gc), it->group_id);
        ops->run(ops, i, gc, part);
    }
    if (last != NULL) {
        bk_gcoord_flush(last, part, bk_gops_sync_err(ops, part));
    }
    bk_md_image_release(img);
    bk_fan_release(part);
}

static void gops_done(struct bk_fan *fan)
{
    struct bk_gops *ops = fan->data;
    for (size_t i = 0; i < ops->n; i++) {
        int16_t err = ops->sync_err[ops->owner[i]];
        if (err != 0 && ops->items[i].error == 0) {
            ops->items[i].error = err;
        }
    }
    ops->done(ops);
}

int16_t *bk_gops_sync_err(struct bk_gops *ops, struct bk_fan_part *part)
{
    return &ops->sync_err[part->owner->id];
}

int bk_gops_start(struct bk_gops *ops,
                  bk_gop_run_fn run,
                  bk_gops_done_fn done,
                  void *data)
{
    struct bk_call *call = ops->call;
    ops->run = run;
    ops->done = done;
    ops->data = data;
    unsigned *owner =
        bk_arena_alloc(call->arena, (ops->n + 1) * sizeof(*owner));
    size_t nshards = call->req->shard->group->n;
    ops->sync_err =
        bk_arena_alloc(call->arena, nshards * sizeof(*ops->sync_err));
    if (owner == NULL || ops->sync_err == NULL) {
        return BK_ENOMEM;
    }
    memset(ops->sync_err, 0, nshards * sizeof(*ops->sync_err));
    ops->owner = owner;
    struct bk_md_image *img = bk_api_image(call);
    for (size_t i = 0; i < ops->n; i++) {
        struct bk_gop_item *it = &ops->items[i];
        owner[i] = call->req->shard->id;
        /* Authorization first, so that a refused group is not routed
         * (security-notes.md §7). */
        if (ops->group_op != 0 && !bk_api_may(call, img, ops->group_op,
                                              BK_ACL_RES_GROUP, it->group_id)) {
            it->error = BK_KERR_GROUP_AUTHORIZATION_FAILED;
            continue;
        }
        it->error = bk_gcoord_route(call, img, it->group_id, &it->partition,
                                    &owner[i], &it->topic_id);
    }
    bk_md_image_release(img);
    return bk_fan_start(&ops->fan, call, ops->n, owner, gops_run_part,
                        gops_done, ops);
}

void *bk_gops_alloc(struct bk_call *call, size_t size, size_t ops_off, size_t n)
{
    uint8_t *st = bk_arena_alloc(call->arena, size);
    if (st != NULL) {
        memset(st, 0, size);
        if (bk_gops_init((struct bk_gops *)(void *)(st + ops_off), call, n) !=
            0) {
            st = NULL;
        }
    }
    if (st == NULL) {
        bk_req_fail(call->req, "out of memory");
    }
    return st;
}

void bk_gops_reply(struct bk_gops *ops, const void *resp)
{
    struct bk_gbuf mem = bk_gops_take(ops);
    bk_call_reply(ops->call, resp);
    bk_gbuf_free(&mem);
}

struct bk_gbuf bk_gops_take(struct bk_gops *ops)
{
    struct bk_gbuf all = { NULL, false };
    for (size_t i = 0; i < ops->n; i++) {
        bk_gbuf_move(&all, &ops->items[i].buf);
    }
    return all;
}
