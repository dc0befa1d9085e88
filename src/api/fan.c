#include "api/fan.h"

#include "cluster/image.h"
#include "common/diag.h"
#include "common/heap.h"
#include "partition/replica.h"
#include "protocol/kerr.h"

static void part_home(struct bk_shard *shard, struct bk_shard_msg *m)
{
    struct bk_fan_part *p = (struct bk_fan_part *)m;
    (void)shard;
    struct bk_fan *fan = p->fan;
    bk_free(p);
    if (--fan->left == 0) {
        fan->done(fan);
    }
}

static void part_run(struct bk_shard *shard, struct bk_shard_msg *m)
{
    struct bk_fan_part *p = (struct bk_fan_part *)m;
    (void)shard;
    p->fan->run(p);
}

void bk_fan_hold(struct bk_fan_part *part)
{
    atomic_fetch_add(&part->holds, 1);
}

void bk_fan_release(struct bk_fan_part *part)
{
    if (atomic_fetch_sub(&part->holds, 1) == 1) {
        part->msg.fn = part_home;
        bk_shard_post(part->fan->call->req->shard, &part->msg);
    }
}

struct bk_api_shard *bk_fan_shard_state(struct bk_fan_part *part)
{
    return part->owner->app;
}

int bk_fan_start(struct bk_fan *fan,
                 struct bk_call *call,
                 size_t nitems,
                 const unsigned *owner_of,
                 bk_fan_run_fn run,
                 bk_fan_done_fn done,
                 void *data)
{
    struct bk_shards *g = call->req->shard->group;
    fan->call = call;
    fan->run = run;
    fan->done = done;
    fan->data = data;
    fan->left = 0;
    size_t *count = bk_arena_alloc(call->arena, g->n * sizeof(*count));
    struct bk_fan_part **parts =
        bk_arena_alloc(call->arena, g->n * sizeof(*parts));
    if (count == NULL || parts == NULL) {
        return BK_ENOMEM;
    }
    for (size_t i = 0; i < nitems; i++) {
        count[owner_of[i]]++;
    }
    for (unsigned s = 0; s < g->n; s++) {
        if (count[s] == 0) {
            continue;
        }
        /* Parts are heap-allocated: they cross threads and outlive nothing
         * but the trip; their index arrays live in the arena, which only
         * the owner reads while the part is out. */
        parts[s] = bk_calloc(1, sizeof(**parts));
        uint32_t *idx = bk_arena_alloc(call->arena, count[s] * sizeof(*idx));
        if (parts[s] == NULL || idx == NULL) {
            for (unsigned k = 0; k <= s; k++) {
                bk_free(count[k] ? parts[k] : NULL);
            }
            return BK_ENOMEM;
        }
        parts[s]->fan = fan;
        parts[s]->owner = &g->shards[s];
        parts[s]->idx = idx;
        atomic_init(&parts[s]->holds, 1);
        fan->left++;
    }
    for (size_t i = 0; i < nitems; i++) {
        struct bk_fan_part *p = parts[owner_of[i]];
        p->idx[p->n++] = (uint32_t)i;
    }
    if (fan->left == 0) {
        done(fan);
        return 0;
    }
    /* Post the remote parts first, then run ours inline: ours may finish
     * (and even complete the fan) before this returns. */
    struct bk_shard *home = call->req->shard;
    struct bk_fan_part *local = NULL;
    for (unsigned s = 0; s < g->n; s++) {
        if (count[s] == 0) {
            continue;
        }
        if (&g->shards[s] == home) {
            local = parts[s];
            continue;
        }
        parts[s]->msg.fn = part_run;
        bk_shard_post(&g->shards[s], &parts[s]->msg);
    }
    if (local != NULL) {
        run(local);
    }
    return 0;
}

bool bk_fan_route(const struct bk_call *call,
                  const struct bk_md_topic *t,
                  int32_t partition,
                  struct bk_uuid *topic_id,
                  unsigned *owner)
{
    if (t == NULL) {
        *owner = call->req->shard->id;
        return false;
    }
    *topic_id = t->id;
    *owner = bk_shard_for_partition(t->id_hash, partition,
                                    call->req->shard->group->n);
    return true;
}

struct bk_partition *bk_fan_open_partition(struct bk_fan_part *part,
                                           const struct bk_md_image *img,
                                           const struct bk_uuid *topic_id,
                                           int32_t partition,
                                           int32_t current_leader_epoch,
                                           int16_t *err)
{
    const struct bk_md_topic *t = bk_md_image_topic_by_id(img, topic_id);
    const struct bk_md_partition *mp =
        t != NULL ? bk_md_topic_partition(t, partition) : NULL;
    if (mp == NULL) {
        *err = BK_KERR_UNKNOWN_TOPIC_OR_PARTITION;
        return NULL;
    }
    /* Only the leader serves clients (a follower answers only other
     * brokers' fetches, once replication exists). */
    if (mp->leader != part->fan->call->ctx->node_id) {
        *err = BK_KERR_NOT_LEADER_OR_FOLLOWER;
        return NULL;
    }
    if (current_leader_epoch >= 0 && current_leader_epoch != mp->leader_epoch) {
        *err = current_leader_epoch < mp->leader_epoch
                   ? BK_KERR_FENCED_LEADER_EPOCH
                   : BK_KERR_UNKNOWN_LEADER_EPOCH;
        return NULL;
    }
    struct bk_api_shard *sh = bk_fan_shard_state(part);
    struct bk_partition *p = NULL;
    char errmsg[BK_ERRMSG_SIZE] = "";
    int rv = bk_rmgr_get(&sh->rmgr, t, partition, mp->leader_epoch, &p, errmsg);
    if (rv == BK_EAGAIN) {
        /* Still opening (recovery runs in the background): Kafka's answer
         * before a broker has made itself leader, which clients retry. */
        *err = BK_KERR_NOT_LEADER_OR_FOLLOWER;
        return NULL;
    }
    if (rv != 0) {
        bk_diag_error("api", "topic=%s partition=%d msg=\"cannot open: %s\"",
                      t->name, partition, errmsg);
        *err = BK_KERR_KAFKA_STORAGE_ERROR;
        return NULL;
    }
    *err = BK_KERR_NONE;
    return p;
}

/* Whether node is one of mp's replicas. */
static bool hosts(const struct bk_md_partition *mp, int32_t node)
{
    for (int32_t i = 0; i < mp->n_replicas; i++) {
        if (mp->replicas[i] == node) {
            return true;
        }
    }
    return false;
}

struct bk_partition *bk_fan_open_replica(struct bk_fan_part *part,
                                         const struct bk_md_image *img,
                                         const struct bk_uuid *topic_id,
                                         int32_t partition,
                                         int32_t current_leader_epoch,
                                         int16_t *err)
{
    int32_t node = part->fan->call->ctx->node_id;
    const struct bk_md_topic *t = bk_md_image_topic_by_id(img, topic_id);
    const struct bk_md_partition *mp =
        t != NULL ? bk_md_topic_partition(t, partition) : NULL;
    if (mp == NULL || mp->leader == node || !hosts(mp, node)) {
        return bk_fan_open_partition(part, img, topic_id, partition,
                                     current_leader_epoch, err);
    }
    /* Kafka's fetchRecords with fetchOnlyFromLeader false: the epoch the
     * consumer knows must still be the partition's. */
    if (current_leader_epoch >= 0 && current_leader_epoch != mp->leader_epoch) {
        *err = current_leader_epoch < mp->leader_epoch
                   ? BK_KERR_FENCED_LEADER_EPOCH
                   : BK_KERR_UNKNOWN_LEADER_EPOCH;
        return NULL;
    }
    /* A follower opens with its assignment (manager.c); until then, or
     * while it still leads at an older epoch, clients go elsewhere. */
    struct bk_api_shard *sh = bk_fan_shard_state(part);
    struct bk_partition *p = bk_part_find(&sh->rmgr.parts, topic_id, partition);
    if (p == NULL || bk_replica_is_leader(p) ||
        p->leader_epoch != mp->leader_epoch) {
        *err = BK_KERR_NOT_LEADER_OR_FOLLOWER;
        return NULL;
    }
    *err = BK_KERR_NONE;
    return p;
}
