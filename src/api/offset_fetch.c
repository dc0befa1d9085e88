/* OffsetFetch (key 9), v1-9: the committed offsets of one group (v1-7;
 * a null topic list means all of them from v2) or of several groups in one
 * request (v8+), each group on its own coordinator shard. A partition
 * without a commit answers offset -1. With require_stable (v7+), a
 * partition whose offset a transaction still holds (TxnOffsetCommit
 * before its marker) answers UNSTABLE_OFFSET_COMMIT, which clients
 * retry (KIP-447). */
#include "protocol/gen/offset_fetch.h"

#include <stdlib.h>
#include <string.h>

#include "api/access.h"
#include "api/group_coord.h"
#include "protocol/kerr.h"

struct of_entry {
    struct bk_str topic;
    int32_t partition;
    int64_t offset;
    int32_t leader_epoch;
    struct bk_str metadata;
    int16_t error; /* UNSTABLE_OFFSET_COMMIT, or NONE */
};

/* Per group: what was asked and what was found. */
struct of_group {
    const struct bk_str *topic_names; /* requested topics (NULL: all) */
    const int32_t *const *parts;      /* per topic: partition indexes */
    const int32_t *nparts;
    int32_t ntopics;      /* -1: all */
    struct of_entry *out; /* in the item's gbuf */
    size_t nout;
};

struct fetch_state {
    struct bk_gops ops;
    struct of_group *groups;
};

static int cmp_entry(const void *a, const void *b)
{
    const struct of_entry *x = a, *y = b;
    int32_t n = x->topic.len < y->topic.len ? x->topic.len : y->topic.len;
    int c = memcmp(x->topic.ptr, y->topic.ptr, (size_t)n);
    if (c != 0) {
        return c;
    }
    if (x->topic.len != y->topic.len) {
        return x->topic.len < y->topic.len ? -1 : 1;
    }
    return (x->partition > y->partition) - (x->partition < y->partition);
}

/* The committed metadata with every byte ("" when none). */
static struct bk_str md_of(struct bk_gbuf *b, const struct bk_group_offset *o)
{
    if (o == NULL || o->metadata == NULL) {
        return bk_str_c("");
    }
    return bk_gbuf_strn(b, o->metadata, o->metadata_len);
}

/* require_stable: a transaction still holds e's offset. */
static void check_stable(struct bk_gops *ops,
                         size_t i,
                         struct bk_coord_group *gc,
                         struct of_entry *e)
{
    const struct bk_msg_offset_fetch_request *req = ops->call->request;
    if (ops->call->hdr.api_version >= 7 && req->require_stable &&
        bk_coord_group_txn_pending(gc, ops->items[i].group_id, e->topic,
                                   e->partition)) {
        e->error = BK_KERR_UNSTABLE_OFFSET_COMMIT;
        e->offset = -1;
    }
}

static void run(struct bk_gops *ops,
                size_t i,
                struct bk_coord_group *gc,
                struct bk_fan_part *part)
{
    (void)part;
    struct fetch_state *st = ops->data;
    struct of_group *og = &st->groups[i];
    struct bk_gbuf *b = &ops->items[i].buf;
    struct bk_group *g =
        bk_group_find(bk_coord_group_registry(gc), ops->items[i].group_id);
    if (og->ntopics < 0) {
        size_t n = g != NULL ? g->noffsets : 0;
        og->out = bk_gbuf_alloc(b, (n + 1) * sizeof(*og->out));
        if (og->out == NULL) {
            return;
        }
        for (size_t k = 0; k < n; k++) {
            const struct bk_group_offset *o = &g->offsets[k];
            og->out[k] = (struct of_entry){
                .topic = bk_gbuf_str(b, o->topic),
                .partition = o->partition,
                .offset = o->offset,
                .leader_epoch = o->leader_epoch,
                .metadata = md_of(b, o),
            };
            check_stable(ops, i, gc, &og->out[k]);
        }
        og->nout = n;
        qsort(og->out, n, sizeof(*og->out), cmp_entry);
        return;
    }
    size_t n = 0;
    for (int32_t t = 0; t < og->ntopics; t++) {
        n += og->nparts[t] > 0 ? (size_t)og->nparts[t] : 0;
    }
    og->out = bk_gbuf_alloc(b, (n + 1) * sizeof(*og->out));
    if (og->out == NULL) {
        return;
    }
    size_t k = 0;
    for (int32_t t = 0; t < og->ntopics; t++) {
        for (int32_t p = 0; p < og->nparts[t]; p++, k++) {
            const struct bk_group_offset *o =
                g != NULL ? bk_group_offset_get(g, og->topic_names[t],
                                                og->parts[t][p])
                          : NULL;
            og->out[k] = (struct of_entry){
                .topic = og->topic_names[t],
                .partition = og->parts[t][p],
                .offset = o != NULL ? o->offset : -1,
                .leader_epoch = o != NULL ? o->leader_epoch : -1,
                .metadata = md_of(b, o),
            };
            check_stable(ops, i, gc, &og->out[k]);
        }
    }
    og->nout = k;
}

typedef struct bk_msg_offset_fetch_response_offset_fetch_response_topic
    old_topic;
typedef struct bk_msg_offset_fetch_response_offset_fetch_response_partition
    old_part;
typedef struct bk_msg_offset_fetch_response_offset_fetch_response_topics
    new_topic;
typedef struct bk_msg_offset_fetch_response_offset_fetch_response_partitions
    new_part;

/* Topics in the entries (sorted, or in request order: equal topics are
 * adjacent). BUILD_TOPICS groups the entries into the old (v1-7) or new
 * (v8+) response structs, which are distinct types of the same shape;
 * out_count is -1 when out of memory. */
static int32_t count_topics(const struct of_group *og)
{
    int32_t n = 0;
    for (size_t k = 0; k < og->nout; k++) {
        if (k == 0 || !bk_str_eq(og->out[k].topic, og->out[k - 1].topic)) {
            n++;
        }
    }
    return n;
}

/* TOPIC_T and PART_T name types, which cannot be parenthesized. */
/* NOLINTBEGIN(bugprone-macro-parentheses) */
#define BUILD_TOPICS(TOPIC_T, PART_T, og, arena, out_topics, out_count,      \
                     part_err)                                               \
    do {                                                                     \
        int32_t nt_ = count_topics(og);                                      \
        TOPIC_T *ts_ =                                                       \
            bk_arena_alloc(arena, (size_t)(nt_ + 1) * sizeof(TOPIC_T));      \
        PART_T *ps_ =                                                        \
            bk_arena_alloc(arena, ((og)->nout + 1) * sizeof(PART_T));        \
        if (ts_ == NULL || ps_ == NULL) {                                    \
            (out_count) = -1;                                                \
            break;                                                           \
        }                                                                    \
        int32_t t_ = -1;                                                     \
        for (size_t k_ = 0; k_ < (og)->nout; k_++) {                         \
            const struct of_entry *e_ = &(og)->out[k_];                      \
            if (k_ == 0 || !bk_str_eq(e_->topic, (og)->out[k_ - 1].topic)) { \
                t_++;                                                        \
                memset(&ts_[t_], 0, sizeof(TOPIC_T));                        \
                ts_[t_].name = e_->topic;                                    \
                ts_[t_].partitions = &ps_[k_];                               \
            }                                                                \
            PART_T *p_ = &ps_[k_];                                           \
            memset(p_, 0, sizeof(*p_));                                      \
            p_->partition_index = e_->partition;                             \
            p_->committed_offset = e_->offset;                               \
            p_->committed_leader_epoch = e_->leader_epoch;                   \
            p_->metadata = e_->metadata;                                     \
            p_->error_code = (part_err) != 0 ? (part_err) : e_->error;       \
            ts_[t_].partitions_count++;                                      \
        }                                                                    \
        (out_topics) = ts_;                                                  \
        (out_count) = nt_;                                                   \
    } while (0)
/* NOLINTEND(bugprone-macro-parentheses) */

/* The requested partitions with no commit (offset -1, metadata ""), in
 * the call's arena: what a group error is reported on before v2. */
static int echo_requested(struct bk_call *call, struct of_group *og)
{
    size_t n = 0;
    for (int32_t t = 0; t < og->ntopics; t++) {
        n += og->nparts[t] > 0 ? (size_t)og->nparts[t] : 0;
    }
    og->out = bk_arena_alloc(call->arena, (n + 1) * sizeof(*og->out));
    if (og->out == NULL) {
        return -1;
    }
    size_t k = 0;
    for (int32_t t = 0; t < og->ntopics; t++) {
        for (int32_t p = 0; p < og->nparts[t]; p++) {
            og->out[k++] = (struct of_entry){
                .topic = og->topic_names[t],
                .partition = og->parts[t][p],
                .offset = -1,
                .leader_epoch = -1,
                .metadata = bk_str_c(""),
            };
        }
    }
    og->nout = k;
    return 0;
}

static int build_old(struct bk_call *call,
                     struct of_group *og,
                     int16_t err,
                     struct bk_msg_offset_fetch_response *resp)
{
    /* v1 has no top-level error: a group error goes on every partition
     * asked for, as Kafka's OffsetFetchRequest.getErrorResponse does (the
     * owner filled nothing). */
    int16_t perr = call->hdr.api_version < 2 ? err : 0;
    if (perr != 0 && og->ntopics >= 0 && echo_requested(call, og) != 0) {
        return -1;
    }
    BUILD_TOPICS(old_topic, old_part, og, call->arena, resp->topics,
                 resp->topics_count, perr);
    resp->error_code = err;
    return resp->topics_count < 0 ? -1 : 0;
}

static int build_new(
    struct bk_call *call,
    const struct of_group *og,
    struct bk_msg_offset_fetch_response_offset_fetch_response_group *out)
{
    BUILD_TOPICS(new_topic, new_part, og, call->arena, out->topics,
                 out->topics_count, 0);
    return out->topics_count < 0 ? -1 : 0;
}

/* Kafka: DESCRIBE on each topic. Asked for all topics, the ones the
 * principal may not describe are left out; asked by name, their
 * partitions answer TOPIC_AUTHORIZATION_FAILED with no offset. */
static void authorize_topics(struct bk_call *call, struct of_group *og)
{
    if (!bk_api_authz_on(call)) {
        return;
    }
    struct bk_md_image *img = bk_api_image(call);
    size_t kept = 0;
    bool ok = true;
    for (size_t k = 0; k < og->nout; k++) {
        struct of_entry *e = &og->out[k];
        if (k == 0 || !bk_str_eq(e->topic, og->out[k - 1].topic)) {
            ok = bk_api_may(call, img, BK_ACL_OP_DESCRIBE, BK_ACL_RES_TOPIC,
                            e->topic);
        }
        if (!ok && og->ntopics < 0) {
            continue;
        }
        if (!ok) {
            e->offset = -1;
            e->leader_epoch = -1;
            e->metadata = bk_str_c("");
            e->error = BK_KERR_TOPIC_AUTHORIZATION_FAILED;
        }
        og->out[kept++] = *e;
    }
    og->nout = kept;
    bk_md_image_release(img);
}

static void done(struct bk_gops *ops)
{
    struct fetch_state *st = ops->data;
    struct bk_call *call = ops->call;
    for (size_t i = 0; i < ops->n; i++) {
        if (ops->items[i].error == 0) {
            authorize_topics(call, &st->groups[i]);
        }
    }
    struct bk_msg_offset_fetch_response resp;
    bk_msg_offset_fetch_response_init(&resp);
    int rv = 0;
    if (call->hdr.api_version < 8) {
        int16_t err = ops->items[0].error;
        if (err == 0 && ops->items[0].buf.failed) {
            err = BK_KERR_UNKNOWN_SERVER_ERROR;
        }
        rv = build_old(call, &st->groups[0], err, &resp);
    } else {
        resp.groups =
            bk_arena_alloc(call->arena, (ops->n + 1) * sizeof(*resp.groups));
        rv = resp.groups == NULL ? -1 : 0;
        for (size_t i = 0; rv == 0 && i < ops->n; i++) {
            struct bk_msg_offset_fetch_response_offset_fetch_response_group *g =
                &resp.groups[i];
            memset(g, 0, sizeof(*g));
            g->group_id = ops->items[i].group_id;
            g->error_code = ops->items[i].error;
            if (g->error_code == 0 && ops->items[i].buf.failed) {
                g->error_code = BK_KERR_UNKNOWN_SERVER_ERROR;
            }
            if (g->error_code == 0) {
                rv = build_new(call, &st->groups[i], g);
            }
        }
        resp.groups_count = (int32_t)ops->n;
    }
    if (rv != 0) {
        struct bk_gbuf mem = bk_gops_take(ops);
        bk_req_fail(call->req, "out of memory");
        bk_gbuf_free(&mem);
        return;
    }
    bk_gops_reply(ops, &resp);
}

static int set_topics(struct bk_call *call,
                      struct of_group *og,
                      int32_t ntopics,
                      const struct bk_str *names,
                      const int32_t *const *parts,
                      const int32_t *nparts)
{
    (void)call;
    og->ntopics = ntopics;
    og->topic_names = names;
    og->parts = parts;
    og->nparts = nparts;
    return 0;
}

void bk_handle_offset_fetch(struct bk_call *call)
{
    const struct bk_msg_offset_fetch_request *req = call->request;
    int16_t v = call->hdr.api_version;
    size_t ng =
        v >= 8 ? (size_t)(req->groups_count < 0 ? 0 : req->groups_count) : 1;
    struct fetch_state *st = BK_GOPS_ALLOC(call, struct fetch_state, ng);
    if (st == NULL) {
        return;
    }
    st->groups = bk_arena_alloc(call->arena, (ng + 1) * sizeof(*st->groups));
    if (st->groups == NULL) {
        bk_req_fail(call->req, "out of memory");
        return;
    }
    memset(st->groups, 0, (ng + 1) * sizeof(*st->groups));
    for (size_t i = 0; i < ng; i++) {
        int32_t nt;
        if (v < 8) {
            nt = req->topics_count;
            st->ops.items[i].group_id = req->group_id;
        } else {
            nt = req->groups[i].topics_count;
            st->ops.items[i].group_id = req->groups[i].group_id;
        }
        if (nt < 0) {
            set_topics(call, &st->groups[i], -1, NULL, NULL, NULL);
            continue;
        }
        struct bk_str *names =
            bk_arena_alloc(call->arena, (size_t)(nt + 1) * sizeof(*names));
        const int32_t **parts =
            bk_arena_alloc(call->arena, (size_t)(nt + 1) * sizeof(*parts));
        int32_t *nparts =
            bk_arena_alloc(call->arena, (size_t)(nt + 1) * sizeof(*nparts));
        if (names == NULL || parts == NULL || nparts == NULL) {
            bk_req_fail(call->req, "out of memory");
            return;
        }
        for (int32_t t = 0; t < nt; t++) {
            if (v < 8) {
                names[t] = req->topics[t].name;
                parts[t] = req->topics[t].partition_indexes;
                nparts[t] = req->topics[t].partition_indexes_count < 0
                                ? 0
                                : req->topics[t].partition_indexes_count;
            } else {
                names[t] = req->groups[i].topics[t].name;
                parts[t] = req->groups[i].topics[t].partition_indexes;
                nparts[t] =
                    req->groups[i].topics[t].partition_indexes_count < 0
                        ? 0
                        : req->groups[i].topics[t].partition_indexes_count;
            }
        }
        set_topics(call, &st->groups[i], nt, names, parts, nparts);
    }
    st->ops.group_op = BK_ACL_OP_DESCRIBE; /* security-notes.md §7 */
    if (bk_gops_start(&st->ops, run, done, st) != 0) {
        bk_req_fail(call->req, "out of memory");
    }
}
