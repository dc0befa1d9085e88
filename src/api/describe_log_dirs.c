/* DescribeLogDirs (key 35, v1-4; v0 went with Kafka 4, KIP-896): this
 * broker's log directory and the replicas in it (kafka-log-dirs.sh
 * --describe; replication-notes.md §9).
 *
 * Each broker answers for itself, as in Kafka (the admin client asks every
 * broker it wants): brokerd has one log directory (log.dirs), so the answer
 * has one result, with every replica this broker hosts and has open: its
 * size on disk, and the offset lag of Kafka's ReplicaManager, max(high
 * watermark - log end, 0), which is 0 on a leader and how far a follower's
 * log is behind the high watermark it learnt. No replica here is a future
 * one (no AlterReplicaLogDirs). A null topic list asks for every replica;
 * listed topics or partitions that are not here are left out, as Kafka
 * does. Sizes are read on the shards that own the replicas (api/fan.h). */
#include "protocol/gen/describe_log_dirs.h"

#include <string.h>
#include <sys/statvfs.h>

#include "api/fan.h"
#include "cluster/controller.h"
#include "partition/manager.h"
#include "partition/partition.h"
#include "partition/replica.h"
#include "protocol/kerr.h"

typedef struct bk_msg_describe_log_dirs_response_describe_log_dirs_partition
    out_part;
typedef struct bk_msg_describe_log_dirs_response_describe_log_dirs_topic
    out_topic;

struct dld_item {
    struct bk_uuid topic_id;
    out_part *out;
    bool present; /* the replica is open here: it has a log */
};

struct dld_state {
    struct bk_fan fan;
    struct bk_msg_describe_log_dirs_response resp;
    struct bk_msg_describe_log_dirs_response_describe_log_dirs_result dir;
    struct dld_item *items;
};

static void run_part(struct bk_fan_part *part)
{
    struct dld_state *st = part->fan->data;
    struct bk_api_shard *ss = bk_fan_shard_state(part);
    for (size_t i = 0; i < part->n; i++) {
        struct dld_item *it = &st->items[part->idx[i]];
        struct bk_partition *p = bk_part_find(&ss->rmgr.parts, &it->topic_id,
                                              it->out->partition_index);
        if (p == NULL) {
            continue;
        }
        int64_t lag = bk_replica_high_watermark(p) - bk_replica_log_end(p);
        it->out->partition_size = bk_replica_log_size(p);
        it->out->offset_lag = lag > 0 ? lag : 0;
        it->present = true;
    }
    bk_fan_release(part);
}

/* Leaves out the replicas that are not open here, and topics left
 * empty. */
static void done(struct bk_fan *fan)
{
    struct dld_state *st = fan->data;
    size_t k = 0;
    int32_t nt = 0;
    for (int32_t i = 0; i < st->dir.topics_count; i++) {
        out_topic *t = &st->dir.topics[i];
        int32_t np = 0;
        for (int32_t j = 0; j < t->partitions_count; j++, k++) {
            if (st->items[k].present) {
                t->partitions[np++] = t->partitions[j];
            }
        }
        t->partitions_count = np;
        if (np > 0) {
            st->dir.topics[nt++] = *t;
        }
    }
    st->dir.topics_count = nt;
    bk_call_reply(fan->call, &st->resp);
}

/* Whether the request asks for partition p of t (a null topic list asks
 * for every partition). */
static bool wanted(const struct bk_msg_describe_log_dirs_request *req,
                   const struct bk_md_topic *t,
                   int32_t p)
{
    if (req->topics_count < 0) {
        return true;
    }
    size_t len = strlen(t->name);
    for (int32_t i = 0; i < req->topics_count; i++) {
        const struct bk_msg_describe_log_dirs_request_describable_log_dir_topic
            *rt = &req->topics[i];
        if (rt->topic.len != (int32_t)len ||
            memcmp(rt->topic.ptr, t->name, len) != 0) {
            continue;
        }
        for (int32_t k = 0; k < rt->partitions_count; k++) {
            if (rt->partitions[k] == p) {
                return true;
            }
        }
    }
    return false;
}

static bool hosted(const struct bk_md_partition *mp, int32_t node)
{
    for (int32_t i = 0; i < mp->n_replicas; i++) {
        if (mp->replicas[i] == node) {
            return true;
        }
    }
    return false;
}

/* Counts (fill false) or fills the items of the replicas asked for. */
static size_t plan(struct bk_call *call,
                   const struct bk_md_image *img,
                   struct dld_state *st,
                   unsigned *owner,
                   out_part *outs,
                   bool fill)
{
    size_t k = 0;
    int32_t node = call->ctx->node_id;
    for (size_t i = 0; i < img->n_topics; i++) {
        const struct bk_md_topic *t = img->by_name[i];
        out_topic *ot = fill ? &st->dir.topics[st->dir.topics_count] : NULL;
        int32_t np = 0;
        for (int32_t p = 0; p < t->n_partitions; p++) {
            if (!hosted(&t->partitions[p], node) ||
                !wanted(call->request, t, p)) {
                continue;
            }
            if (fill) {
                struct dld_item *it = &st->items[k];
                it->out = &outs[k];
                *it->out = (out_part){ .partition_index = p };
                bk_fan_route(call, t, p, &it->topic_id, &owner[k]);
                if (np == 0) {
                    ot->name = bk_str_c(t->name);
                    ot->partitions = &outs[k];
                }
            }
            np++;
            k++;
        }
        if (fill && np > 0) {
            ot->partitions_count = np;
            st->dir.topics_count++;
        }
    }
    return k;
}

/* Names in the answer must outlive the image: copy them. */
static bool copy_names(struct bk_call *call, struct dld_state *st)
{
    for (int32_t i = 0; i < st->dir.topics_count; i++) {
        struct bk_str *n = &st->dir.topics[i].name;
        char *c = bk_arena_strndup(call->arena, n->ptr, (size_t)n->len);
        if (c == NULL) {
            return false;
        }
        *n = bk_str_c(c);
    }
    return true;
}

/* KIP-827 (v4): the file system's size and free space, -1 when unknown. */
static void space(const char *dir, int64_t *total, int64_t *usable)
{
    struct statvfs sv;
    *total = *usable = -1;
    if (statvfs(dir, &sv) == 0) {
        *total = (int64_t)sv.f_blocks * (int64_t)sv.f_frsize;
        *usable = (int64_t)sv.f_bavail * (int64_t)sv.f_frsize;
    }
}

void bk_handle_describe_log_dirs(struct bk_call *call)
{
    struct dld_state *st = bk_arena_alloc(call->arena, sizeof(*st));
    struct bk_md_image *img = bk_api_image(call);
    if (st == NULL || img == NULL) {
        bk_md_image_release(img);
        bk_req_fail(call->req, "out of memory");
        return;
    }
    memset(st, 0, sizeof(*st));
    bk_msg_describe_log_dirs_response_init(&st->resp);
    size_t n = plan(call, img, st, NULL, NULL, false);
    st->items = bk_arena_alloc(call->arena, (n + 1) * sizeof(*st->items));
    unsigned *owner = bk_arena_alloc(call->arena, (n + 1) * sizeof(*owner));
    out_part *outs = bk_arena_alloc(call->arena, (n + 1) * sizeof(*outs));
    st->dir.topics =
        bk_arena_alloc(call->arena, (img->n_topics + 1) * sizeof(out_topic));
    bool ok = st->items != NULL && owner != NULL && outs != NULL &&
              st->dir.topics != NULL;
    if (ok) {
        memset(st->items, 0, (n + 1) * sizeof(*st->items));
        plan(call, img, st, owner, outs, true);
        ok = copy_names(call, st);
    }
    bk_md_image_release(img);
    if (!ok) {
        bk_req_fail(call->req, "out of memory");
        return;
    }
    const char *root = call->ctx->storage->root;
    st->dir.log_dir = bk_str_c(root);
    space(root, &st->dir.total_bytes, &st->dir.usable_bytes);
    st->resp.results = &st->dir;
    st->resp.results_count = 1;
    if (bk_fan_start(&st->fan, call, n, owner, run_part, done, st) != 0) {
        bk_req_fail(call->req, "out of memory");
    }
}
