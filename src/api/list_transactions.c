/* ListTransactions (key 66, v0-1; KIP-664, KIP-994): the transactional
 * ids this broker coordinates, for kafka-transactions.sh list and
 * find-hanging. Every broker answers for itself; the tools ask them all.
 *
 * One part per shard (fan.h): each lists the ids of the
 * __transaction_state partitions this broker leads that it has loaded,
 * through the filters, into a heap list (a run may not allocate from the
 * call's arena); the connection's shard joins the lists into the answer.
 * Filters, as Kafka's: states (a name Kafka does not know is returned in
 * UnknownStateFilters), producer ids, and from v1 a duration: only
 * transactions started at least that long ago. */
#include "protocol/gen/list_transactions.h"

#include <string.h>

#include "api/access.h"
#include "api/txn_coord.h"
#include "cluster/controller.h"
#include "common/clock.h"
#include "common/heap.h"
#include "protocol/kerr.h"

typedef struct bk_msg_list_transactions_response_transaction_state out_txn;

struct listed {
    char *id; /* owned */
    size_t id_len;
    int64_t pid;
    int8_t state;
};

struct shard_list {
    struct listed *v; /* owned */
    size_t n, cap;
};

struct lt_state {
    struct bk_fan fan;
    struct bk_msg_list_transactions_response resp;
    struct shard_list *lists; /* one per shard */
    unsigned *owner;
    unsigned nshards;
    unsigned state_mask; /* BK_TXN_* bits wanted; all when no filter */
    int64_t now;
};

struct scan {
    struct lt_state *st;
    const struct bk_call *call;
    struct shard_list *out;
    const struct bk_md_topic *topic; /* __transaction_state */
};

static bool wanted(const struct scan *s, const struct bk_coord_txn_entry *e)
{
    const struct bk_msg_list_transactions_request *req = s->call->request;
    const struct bk_md_partition *mp =
        bk_md_topic_partition(s->topic, e->partition);
    if (mp == NULL || mp->leader != s->call->ctx->node_id ||
        e->m.cur.state == BK_TXN_DEAD ||
        (s->st->state_mask & (1u << e->m.cur.state)) == 0) {
        return false;
    }
    if (req->producer_id_filters_count > 0) {
        bool found = false;
        for (int32_t i = 0; i < req->producer_id_filters_count; i++) {
            found |= req->producer_id_filters[i] == e->m.cur.producer_id;
        }
        if (!found) {
            return false;
        }
    }
    return s->call->hdr.api_version < 1 || req->duration_filter < 0 ||
           s->st->now - e->m.cur.start_ms >= req->duration_filter;
}

static void list_one(void *arg, struct bk_coord_txn_entry *e)
{
    struct scan *s = arg;
    struct shard_list *l = s->out;
    if (!wanted(s, e)) {
        return;
    }
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 16;
        struct listed *v = bk_realloc(l->v, cap * sizeof(*v));
        if (v == NULL) {
            return; /* out of memory: the list is short */
        }
        l->v = v;
        l->cap = cap;
    }
    char *id = bk_strndup(e->id, e->id_len);
    if (id == NULL) {
        return;
    }
    l->v[l->n++] =
        (struct listed){ id, e->id_len, e->m.cur.producer_id, e->m.cur.state };
}

static void run_part(struct bk_fan_part *part)
{
    struct lt_state *st = part->fan->data;
    struct bk_coord_txn *tc = bk_tcoord_state(part->owner);
    struct bk_md_image *img = bk_md_image_acquire(part->fan->call->ctx->md);
    const struct bk_md_topic *t =
        img != NULL ? bk_md_image_topic(img, BK_TXN_TOPIC, strlen(BK_TXN_TOPIC))
                    : NULL;
    if (tc != NULL && t != NULL) {
        struct scan s = { st, part->fan->call, &st->lists[part->owner->id], t };
        bk_coord_txn_each(tc, list_one, &s);
    }
    bk_md_image_release(img);
    bk_fan_release(part);
}

static void done(struct bk_fan *fan)
{
    struct lt_state *st = fan->data;
    struct bk_call *call = fan->call;
    size_t n = 0;
    for (unsigned i = 0; i < st->nshards; i++) {
        n += st->lists[i].n;
    }
    out_txn *o = bk_arena_alloc(call->arena, (n + 1) * sizeof(*o));
    size_t k = 0;
    /* Kafka lists only the ids the principal may DESCRIBE. */
    struct bk_md_image *img = bk_api_image(call);
    for (unsigned i = 0; i < st->nshards; i++) {
        struct shard_list *l = &st->lists[i];
        for (size_t j = 0; j < l->n; j++) {
            struct bk_str name = { l->v[j].id, (int32_t)l->v[j].id_len };
            bool may = bk_api_may(call, img, BK_ACL_OP_DESCRIBE,
                                  BK_ACL_RES_TRANSACTIONAL_ID, name);
            char *id = o != NULL && may
                           ? bk_arena_alloc(call->arena, l->v[j].id_len + 1)
                           : NULL;
            if (id != NULL) {
                memcpy(id, l->v[j].id, l->v[j].id_len);
                o[k++] = (out_txn){
                    .transactional_id = { id, (int32_t)l->v[j].id_len },
                    .producer_id = l->v[j].pid,
                    .transaction_state =
                        bk_str_c(bk_txn_state_name(l->v[j].state)),
                };
            }
            bk_free(l->v[j].id);
        }
        bk_free(l->v);
    }
    bk_md_image_release(img);
    if (o == NULL) {
        st->resp.error_code = BK_KERR_UNKNOWN_SERVER_ERROR;
    }
    st->resp.transaction_states = o;
    st->resp.transaction_states_count = (int32_t)k;
    bk_call_reply(call, &st->resp);
}

/* The state filters as bits; unknown names go to the answer. Returns 0
 * or -1 (out of memory). */
static int state_filters(struct bk_call *call, struct lt_state *st)
{
    const struct bk_msg_list_transactions_request *req = call->request;
    int32_t n = req->state_filters_count < 0 ? 0 : req->state_filters_count;
    st->state_mask = n == 0 ? ~0u : 0;
    st->resp.unknown_state_filters =
        bk_arena_alloc(call->arena, (size_t)(n + 1) * sizeof(struct bk_str));
    if (st->resp.unknown_state_filters == NULL) {
        return -1;
    }
    for (int32_t i = 0; i < n; i++) {
        int s = 0;
        while (s < BK_TXN_NSTATES &&
               !bk_str_eq_c(req->state_filters[i], bk_txn_state_name(s))) {
            s++;
        }
        if (s < BK_TXN_NSTATES) {
            st->state_mask |= 1u << s;
        } else {
            st->resp
                .unknown_state_filters[st->resp.unknown_state_filters_count++] =
                req->state_filters[i];
        }
    }
    return 0;
}

void bk_handle_list_transactions(struct bk_call *call)
{
    unsigned nshards = call->req->shard->group->n;
    struct lt_state *st = bk_arena_alloc(call->arena, sizeof(*st));
    if (st == NULL) {
        bk_req_fail(call->req, "out of memory");
        return;
    }
    bk_msg_list_transactions_response_init(&st->resp);
    st->resp.unknown_state_filters_count = 0;
    st->nshards = nshards;
    st->now = bk_clock_wall_ms(call->ctx->storage->clock);
    st->lists = bk_arena_alloc(call->arena, nshards * sizeof(*st->lists));
    st->owner = bk_arena_alloc(call->arena, nshards * sizeof(*st->owner));
    if (st->lists == NULL || st->owner == NULL ||
        state_filters(call, st) != 0) {
        bk_req_fail(call->req, "out of memory");
        return;
    }
    for (unsigned i = 0; i < nshards; i++) {
        st->lists[i] = (struct shard_list){ NULL, 0, 0 };
        st->owner[i] = i;
    }
    if (bk_fan_start(&st->fan, call, nshards, st->owner, run_part, done, st) !=
        0) {
        bk_req_fail(call->req, "out of memory");
    }
}
