/* The replica manager of one shard (manager.h). */
#include "partition/manager.h"

#include <string.h>

#include "common/diag.h"
#include "common/err.h"
#include "common/hash.h"
#include "common/heap.h"
#include "partition/replica.h"
#include "protocol/kerr.h"

/* A replica that waits to be opened. */
struct bk_rmgr_entry {
    struct bk_rmgr_entry *prev, *next; /* the queue */
    struct bk_rmgr_entry *hnext;       /* the hash chain */
    struct bk_uuid topic_id;
    int32_t index;
    /* Out of the queue but kept, so that images do not queue it again:
     * opening failed (the next request opens it itself and reports the
     * error, as before the manager), or it has no directory and so
     * nothing to recover (its first request opens it; a topic of 30,000
     * partitions nobody writes to costs no files). */
    bool parked;
};

/* At start-up the first image queues every local replica; a log line then
 * says how long opening them took. Smaller batches (a topic created with a
 * few partitions) are not worth a line each. */
#define BATCH_LOG_MIN 64

static size_t bucket_of(const struct bk_rmgr *m,
                        const struct bk_uuid *id,
                        int32_t index)
{
    uint64_t h = bk_hash64(id->b, sizeof(id->b));
    return (size_t)((h ^ (uint64_t)(uint32_t)index * 0x9e3779b97f4a7c15ULL) %
                    m->nbuckets);
}

static struct bk_rmgr_entry *entry_find(const struct bk_rmgr *m,
                                        const struct bk_uuid *id,
                                        int32_t index)
{
    for (struct bk_rmgr_entry *e = m->buckets[bucket_of(m, id, index)];
         e != NULL; e = e->hnext) {
        if (e->index == index && memcmp(e->topic_id.b, id->b, 16) == 0) {
            return e;
        }
    }
    return NULL;
}

static void queue_unlink(struct bk_rmgr *m, struct bk_rmgr_entry *e)
{
    if (e->prev != NULL) {
        e->prev->next = e->next;
    } else {
        m->head = e->next;
    }
    if (e->next != NULL) {
        e->next->prev = e->prev;
    } else {
        m->tail = e->prev;
    }
    e->prev = e->next = NULL;
}

static void queue_push_front(struct bk_rmgr *m, struct bk_rmgr_entry *e)
{
    e->prev = NULL;
    e->next = m->head;
    if (m->head != NULL) {
        m->head->prev = e;
    } else {
        m->tail = e;
    }
    m->head = e;
}

static void queue_push_back(struct bk_rmgr *m, struct bk_rmgr_entry *e)
{
    e->next = NULL;
    e->prev = m->tail;
    if (m->tail != NULL) {
        m->tail->next = e;
    } else {
        m->head = e;
    }
    m->tail = e;
}

/* Removes e from the queue (unless parked) and the hash, and frees it. */
static void entry_drop(struct bk_rmgr *m, struct bk_rmgr_entry *e)
{
    if (!e->parked) {
        queue_unlink(m, e);
        m->queued--;
    }
    struct bk_rmgr_entry **pp =
        &m->buckets[bucket_of(m, &e->topic_id, e->index)];
    while (*pp != e) {
        pp = &(*pp)->hnext;
    }
    *pp = e->hnext;
    bk_free(e);
}

static void opener_cb(uv_idle_t *h);

/* Queues (topic id, index) unless it is open or queued already. Returns 0
 * or BK_ENOMEM. */
static int enqueue(struct bk_rmgr *m, const struct bk_uuid *id, int32_t index)
{
    if (bk_part_find(&m->parts, id, index) != NULL ||
        entry_find(m, id, index) != NULL) {
        return 0;
    }
    struct bk_rmgr_entry *e = bk_calloc(1, sizeof(*e));
    if (e == NULL) {
        return BK_ENOMEM;
    }
    e->topic_id = *id;
    e->index = index;
    size_t b = bucket_of(m, id, index);
    e->hnext = m->buckets[b];
    m->buckets[b] = e;
    queue_push_back(m, e);
    if (m->queued++ == 0 && !m->closing) {
        m->opened = m->failed = 0;
        m->batch_start_ms = uv_now(m->loop);
        uv_idle_start(&m->opener, opener_cb);
    }
    return 0;
}

int bk_rmgr_init(struct bk_rmgr *m,
                 const struct bk_storage *st,
                 uv_loop_t *loop,
                 int32_t node_id,
                 unsigned shard,
                 unsigned nshards)
{
    memset(m, 0, sizeof(*m));
    m->loop = loop;
    m->node_id = node_id;
    m->shard = shard;
    m->nshards = nshards;
    m->batch_start_ms = uv_now(loop);
    m->nbuckets = 1024;
    m->buckets = bk_calloc(m->nbuckets, sizeof(*m->buckets));
    if (m->buckets == NULL) {
        return BK_ENOMEM;
    }
    int rv = bk_part_table_init(&m->parts, st, loop);
    if (rv != 0) {
        bk_free(m->buckets);
        return rv;
    }
    uv_idle_init(loop, &m->opener);
    m->opener.data = m;
    return 0;
}

static bool hosts(const struct bk_rmgr *m, const struct bk_md_partition *mp)
{
    for (int32_t i = 0; i < mp->n_replicas; i++) {
        if (mp->replicas[i] == m->node_id) {
            return true;
        }
    }
    return false;
}

/* Queues every replica of img this shard hosts and has not opened. */
static void queue_assigned(struct bk_rmgr *m, const struct bk_md_image *img)
{
    for (size_t i = 0; i < img->n_topics; i++) {
        const struct bk_md_topic *t = img->by_id[i];
        uint64_t th = t->id_hash;
        for (int32_t p = 0; p < t->n_partitions; p++) {
            if (bk_shard_for_partition(th, p, m->nshards) != m->shard ||
                !hosts(m, &t->partitions[p])) {
                continue;
            }
            if (enqueue(m, &t->id, p) != 0) {
                /* A request for it retries (bk_rmgr_get). */
                bk_diag_warn("partition",
                             "topic=%s partition=%d msg=\"cannot queue the "
                             "replica: out of memory\"",
                             t->name, p);
            }
        }
    }
}

/* Forgets queued replicas that img no longer assigns here. */
static void unqueue_gone(struct bk_rmgr *m, const struct bk_md_image *img)
{
    for (size_t b = 0; b < m->nbuckets; b++) {
        struct bk_rmgr_entry *e = m->buckets[b];
        while (e != NULL) {
            struct bk_rmgr_entry *next = e->hnext;
            const struct bk_md_topic *t =
                bk_md_image_topic_by_id(img, &e->topic_id);
            const struct bk_md_partition *mp =
                t != NULL ? bk_md_topic_partition(t, e->index) : NULL;
            if (mp == NULL || !hosts(m, mp)) {
                entry_drop(m, e);
            }
            e = next;
        }
    }
}

/* The replicas and ISR the image gives (the leader's high watermark
 * rule and its followers). */
static void assign(struct bk_rmgr *m,
                   struct bk_partition *p,
                   const struct bk_md_partition *mp)
{
    if (bk_replica_set_assignment(p, mp,
                                  bk_clock_mono_ms(m->parts.st->clock)) != 0) {
        bk_diag_warn("partition",
                     "topic=%s partition=%d msg=\"cannot take the "
                     "assignment: out of memory\"",
                     p->topic, p->index);
    }
}

/* Gives an open replica the role and leader epoch the image says, as
 * Kafka's ReplicaManager does on a metadata change (makeLeader,
 * makeFollower). An image older than what the replica knows changes
 * nothing. */
static void sync_role(struct bk_rmgr *m,
                      struct bk_partition *p,
                      const struct bk_md_partition *mp)
{
    int16_t err = BK_KERR_NONE;
    if (mp->leader == m->node_id) {
        if (!bk_replica_is_leader(p) || mp->leader_epoch > p->leader_epoch) {
            err = bk_replica_become_leader(p, mp->leader_epoch);
        }
    } else if (bk_replica_is_leader(p) || mp->leader_epoch > p->leader_epoch ||
               mp->leader != p->leader_id) {
        err = bk_replica_become_follower(p, mp->leader_epoch, mp->leader);
    }
    if (err != BK_KERR_NONE && err != BK_KERR_FENCED_LEADER_EPOCH) {
        bk_diag_warn("partition",
                     "topic=%s partition=%d leader=%d leader_epoch=%d "
                     "msg=\"cannot take the role: %s\"",
                     p->topic, p->index, mp->leader, mp->leader_epoch,
                     bk_kerr_name(err));
    }
    assign(m, p, mp);
}

static void sync_roles(struct bk_rmgr *m, const struct bk_md_image *img)
{
    for (size_t b = 0; b < m->parts.nbuckets; b++) {
        for (struct bk_partition *p = m->parts.buckets[b]; p != NULL;
             p = p->hnext) {
            const struct bk_md_topic *t =
                bk_md_image_topic_by_id(img, &p->topic_id);
            const struct bk_md_partition *mp =
                t != NULL ? bk_md_topic_partition(t, p->index) : NULL;
            if (mp != NULL && hosts(m, mp)) {
                sync_role(m, p, mp);
            }
        }
    }
}

/* Once per start, every shard says when the replicas it found assigned at
 * start-up are open: the point from which it serves them all (operators
 * and tests wait for it). */
static void report_start(struct bk_rmgr *m)
{
    m->start_reported = true;
    bk_diag_info("partition",
                 "shard=%u opened=%zu failed=%zu ms=%llu msg=\"opened the "
                 "replicas assigned at start\"",
                 m->shard, m->opened, m->failed,
                 (unsigned long long)(uv_now(m->loop) - m->batch_start_ms));
}

size_t bk_rmgr_apply(struct bk_rmgr *m, struct bk_md_image *img)
{
    bk_owner_check(&m->parts.owner);
    size_t dropped = bk_part_table_sync(&m->parts, img, m->node_id);
    /* Topic configs may have changed: apply the live ones. */
    bk_part_table_refresh_configs(&m->parts, img);
    sync_roles(m, img);
    unqueue_gone(m, img);
    queue_assigned(m, img);
    bk_md_image_ref(img);
    bk_md_image_release(m->img);
    m->img = img;
    if (!m->start_reported && m->queued == 0) {
        report_start(m); /* nothing to open */
    }
    return dropped;
}

/* Opens the replica of e from the newest applied image. Returns 0 (also
 * when the partition is gone from the image) or the open's error. */
static bool has_dir(const struct bk_rmgr *m,
                    const struct bk_md_topic *topic,
                    int32_t index);

/* Takes e out of the queue and keeps it (see parked). */
static void park(struct bk_rmgr *m, struct bk_rmgr_entry *e)
{
    queue_unlink(m, e);
    m->queued--;
    e->parked = true;
}

static int open_entry(struct bk_rmgr *m, struct bk_rmgr_entry *e, char *errmsg)
{
    int32_t index = e->index;
    const struct bk_md_topic *t =
        m->img != NULL ? bk_md_image_topic_by_id(m->img, &e->topic_id) : NULL;
    const struct bk_md_partition *mp =
        t != NULL ? bk_md_topic_partition(t, index) : NULL;
    if (mp == NULL) {
        entry_drop(m, e); /* gone from the image */
        return 0;
    }
    if (mp->leader == m->node_id && !has_dir(m, t, index)) {
        /* A leader with nothing to recover opens on its first request;
         * a follower must open now, to start fetching. */
        park(m, e);
        return 0;
    }
    struct bk_partition *p;
    int rv = bk_part_get(&m->parts, t, index, mp->leader_epoch, &p, errmsg);
    if (rv != 0) {
        m->failed++;
        park(m, e);
        return rv;
    }
    m->opened++;
    entry_drop(m, e);
    sync_role(m, p, mp);
    return 0;
}

static void batch_done(struct bk_rmgr *m)
{
    uv_idle_stop(&m->opener);
    if (!m->start_reported) {
        report_start(m);
        return;
    }
    if (m->opened + m->failed < BATCH_LOG_MIN) {
        return;
    }
    bk_diag_info("partition",
                 "shard=%u opened=%zu failed=%zu ms=%llu msg=\"opened the "
                 "assigned replicas\"",
                 m->shard, m->opened, m->failed,
                 (unsigned long long)(uv_now(m->loop) - m->batch_start_ms));
}

/* One replica per loop turn: requests that arrived meanwhile are served
 * between two opens. */
static void opener_cb(uv_idle_t *h)
{
    struct bk_rmgr *m = h->data;
    struct bk_rmgr_entry *e = m->head;
    if (e == NULL) {
        batch_done(m);
        return;
    }
    char errmsg[BK_ERRMSG_SIZE] = "";
    int32_t index = e->index;
    if (open_entry(m, e, errmsg) != 0) {
        bk_diag_error("partition",
                      "shard=%u partition=%d msg=\"cannot open the replica: "
                      "%s\"",
                      m->shard, index, errmsg);
    }
    uv_update_time(m->loop);
    if (m->head == NULL) {
        batch_done(m);
    }
}

/* Whether the partition's directory exists: a replica without one has
 * nothing to recover. */
static bool has_dir(const struct bk_rmgr *m,
                    const struct bk_md_topic *topic,
                    int32_t index)
{
    char dir[4096];
    int64_t size;
    if (bk_part_dir(m->parts.st, topic->name, index, dir, sizeof(dir)) != 0) {
        return false;
    }
    return m->parts.st->disk->stat_size(m->parts.st->disk, dir, &size) !=
           BK_ENOENT;
}

/* Opens a replica for a request, which found this node its leader in the
 * request's image: it takes that image's assignment at once, so that the
 * high watermark waits for its followers from the first append. */
static int open_now(struct bk_rmgr *m,
                    const struct bk_md_topic *topic,
                    int32_t index,
                    int32_t leader_epoch,
                    struct bk_partition **out,
                    char *errmsg)
{
    int rv = bk_part_get(&m->parts, topic, index, leader_epoch, out, errmsg);
    const struct bk_md_partition *mp = bk_md_topic_partition(topic, index);
    if (rv == 0 && mp != NULL) {
        assign(m, *out, mp);
    }
    return rv;
}

int bk_rmgr_get(struct bk_rmgr *m,
                const struct bk_md_topic *topic,
                int32_t index,
                int32_t leader_epoch,
                struct bk_partition **out,
                char *errmsg)
{
    bk_owner_check(&m->parts.owner);
    struct bk_partition *p = bk_part_find(&m->parts, &topic->id, index);
    if (p != NULL) {
        /* The request's image may be newer than the manager's, which is
         * told next: it says this node leads at leader_epoch. */
        if (!bk_replica_is_leader(p) || leader_epoch > p->leader_epoch) {
            bk_replica_become_leader(p, leader_epoch);
        }
        *out = p;
        return 0;
    }
    struct bk_rmgr_entry *e = entry_find(m, &topic->id, index);
    if (e != NULL && e->parked) {
        /* Failed before (each request tries again and reports why), or
         * nothing to recover: open it here. */
        int rv = open_now(m, topic, index, leader_epoch, out, errmsg);
        if (rv == 0) {
            entry_drop(m, e);
        }
        return rv;
    }
    if (!m->closing && has_dir(m, topic, index)) {
        /* Recovery belongs to the opener: ask for this one next. The
         * request's image may be newer than the manager's; then the entry
         * is new. */
        if (e == NULL && enqueue(m, &topic->id, index) != 0) {
            snprintf(errmsg, BK_ERRMSG_SIZE, "out of memory");
            return BK_ENOMEM;
        }
        e = entry_find(m, &topic->id, index);
        queue_unlink(m, e);
        queue_push_front(m, e);
        return BK_EAGAIN;
    }
    if (e != NULL) {
        entry_drop(m, e);
    }
    return open_now(m, topic, index, leader_epoch, out, errmsg);
}

bool bk_rmgr_settled(const struct bk_rmgr *m)
{
    return m->queued == 0;
}

void bk_rmgr_drain(struct bk_rmgr *m)
{
    m->closing = true;
    uv_idle_stop(&m->opener);
    uv_close((uv_handle_t *)&m->opener, NULL);
}

void bk_rmgr_close(struct bk_rmgr *m, bool clean)
{
    for (size_t b = 0; b < m->nbuckets; b++) {
        while (m->buckets[b] != NULL) {
            entry_drop(m, m->buckets[b]);
        }
    }
    bk_free(m->buckets);
    m->buckets = NULL;
    bk_part_table_close(&m->parts, clean);
    bk_md_image_release(m->img);
    m->img = NULL;
}
