/* Consumer group families of /metrics: groups by state, and each group's
 * committed offset and lag per partition.
 *
 * Two rounds of messages: the coordinator shards list their loaded groups
 * with their committed offsets, the partition owners list the high
 * watermarks of their open replicas; the join is done here, on the HTTP
 * thread, with the topic names resolved through the image. Lag is the high
 * watermark minus the committed offset (Kafka's consumer lag), counted
 * only for partitions open on this node (the ones it leads or follows), so
 * every node shows the lag of what it hosts. The series are capped so a
 * cluster with very many groups cannot make a scrape unbounded. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "cluster/image.h"
#include "common/heap.h"
#include "coord/group_coord.h"
#include "group/consumer.h"
#include "group/group.h"
#include "http/http_int.h"
#include "net/net.h"
#include "partition/replica.h"

#define POLL_TIMEOUT_MS 2000
#define MAX_SERIES      10000
#define MAX_STATES      8

struct goff {
    char *group; /* owned */
    char *topic; /* owned */
    int32_t partition;
    int64_t offset;
};

struct state_count {
    const char *state; /* static */
    uint64_t n;
};

struct groups_slot {
    struct goff *v; /* owned */
    size_t n, cap;
    struct state_count states[MAX_STATES];
};

struct hw {
    struct bk_uuid topic;
    int32_t partition;
    int64_t hw;
};

struct hws_slot {
    struct hw *v; /* owned */
    size_t n, cap;
};

static char *dup_str(const char *s)
{
    size_t n = strlen(s) + 1;
    char *d = bk_malloc(n);
    if (d != NULL) {
        memcpy(d, s, n);
    }
    return d;
}

static void count_state(struct groups_slot *gs, const char *state)
{
    for (int i = 0; i < MAX_STATES; i++) {
        if (gs->states[i].state == NULL || gs->states[i].state == state ||
            strcmp(gs->states[i].state, state) == 0) {
            gs->states[i].state = state;
            gs->states[i].n++;
            return;
        }
    }
}

/* Appends one committed offset; false when out of memory or full. */
static bool add_offset(struct groups_slot *gs,
                       const struct bk_group *g,
                       const struct bk_group_offset *o)
{
    if (gs->n == gs->cap) {
        size_t cap = gs->cap == 0 ? 64 : gs->cap * 2;
        if (cap > MAX_SERIES) {
            return false;
        }
        struct goff *v = bk_realloc(gs->v, cap * sizeof(*v));
        if (v == NULL) {
            return false;
        }
        gs->v = v;
        gs->cap = cap;
    }
    struct goff *e = &gs->v[gs->n];
    e->group = dup_str(g->id);
    e->topic = dup_str(o->topic);
    e->partition = o->partition;
    e->offset = o->offset;
    if (e->group == NULL || e->topic == NULL) {
        bk_free(e->group);
        bk_free(e->topic);
        return false;
    }
    gs->n++;
    return true;
}

static void groups_fn(struct bk_shard *shard, void *slot)
{
    struct groups_slot *gs = slot;
    struct bk_api_shard *sh = shard->app;
    if (sh == NULL || sh->gcoord == NULL || bk_coord_group_closed(sh->gcoord)) {
        return;
    }
    struct bk_group_registry *r = bk_coord_group_registry(sh->gcoord);
    bool room = true;
    for (const struct bk_group *g = r->groups; g != NULL; g = g->next) {
        if (g->state == BK_GROUP_DEAD) {
            continue;
        }
        count_state(gs, g->consumer != NULL ? bk_cgroup_state(g)
                                            : bk_group_state_name(g->state));
        for (size_t i = 0; room && i < g->noffsets; i++) {
            room = add_offset(gs, g, &g->offsets[i]);
        }
    }
}

static void groups_free(void *slot)
{
    struct groups_slot *gs = slot;
    for (size_t i = 0; i < gs->n; i++) {
        bk_free(gs->v[i].group);
        bk_free(gs->v[i].topic);
    }
    bk_free(gs->v);
}

static void hws_fn(struct bk_shard *shard, void *slot)
{
    struct hws_slot *hs = slot;
    struct bk_api_shard *sh = shard->app;
    if (sh == NULL) {
        return;
    }
    const struct bk_part_table *t = &sh->rmgr.parts;
    hs->v = bk_calloc(t->n > 0 ? t->n : 1, sizeof(*hs->v));
    for (size_t b = 0; hs->v != NULL && b < t->nbuckets; b++) {
        for (const struct bk_partition *p = t->buckets[b];
             p != NULL && hs->n < t->n; p = p->hnext) {
            hs->v[hs->n++] = (struct hw){ p->topic_id, p->index,
                                          bk_replica_high_watermark(p) };
        }
    }
}

static void hws_free(void *slot)
{
    bk_free(((struct hws_slot *)slot)->v);
}

static int hw_cmp(const void *a, const void *b)
{
    const struct hw *x = a, *y = b;
    int c = memcmp(&x->topic, &y->topic, sizeof(x->topic));
    if (c != 0) {
        return c;
    }
    return (x->partition > y->partition) - (x->partition < y->partition);
}

/* Every shard's high watermarks in one sorted array (returns owned, or
 * NULL when out of memory; *n its length). */
static struct hw *all_hws(struct bk_http_poll *hp, size_t *n)
{
    size_t total = 0, k = 0;
    for (unsigned s = 0; s < bk_http_poll_count(hp); s++) {
        total += ((const struct hws_slot *)bk_http_poll_slot(hp, s))->n;
    }
    struct hw *v = bk_calloc(total > 0 ? total : 1, sizeof(*v));
    for (unsigned s = 0; v != NULL && s < bk_http_poll_count(hp); s++) {
        const struct hws_slot *hs = bk_http_poll_slot(hp, s);
        memcpy(v + k, hs->v, hs->n * sizeof(*v));
        k += hs->n;
    }
    if (v != NULL) {
        qsort(v, total, sizeof(*v), hw_cmp);
    }
    *n = total;
    return v;
}

static void states(struct bk_prom *p, struct bk_http_poll *gp)
{
    struct state_count all[MAX_STATES];
    memset(all, 0, sizeof(all));
    for (unsigned s = 0; s < bk_http_poll_count(gp); s++) {
        const struct groups_slot *gs = bk_http_poll_slot(gp, s);
        for (int i = 0; i < MAX_STATES && gs->states[i].state != NULL; i++) {
            for (int j = 0; j < MAX_STATES; j++) {
                if (all[j].state == NULL ||
                    strcmp(all[j].state, gs->states[i].state) == 0) {
                    all[j].state = gs->states[i].state;
                    all[j].n += gs->states[i].n;
                    break;
                }
            }
        }
    }
    bk_prom_family(p, "brokerd_groups", "gauge",
                   "Consumer groups this node coordinates, by state.");
    for (int j = 0; j < MAX_STATES && all[j].state != NULL; j++) {
        struct bk_prom_label l[] = { { "state", all[j].state } };
        bk_prom_u64(p, "brokerd_groups", l, 1, all[j].n);
    }
}

static void lags(struct bk_prom *p,
                 const struct bk_md_image *img,
                 struct bk_http_poll *gp,
                 const struct hw *hws,
                 size_t nhws)
{
    bk_prom_family(p, "brokerd_group_lag", "gauge",
                   "Records between a group's committed offset and the "
                   "high watermark, per partition hosted here.");
    char part[16];
    for (unsigned s = 0; s < bk_http_poll_count(gp); s++) {
        const struct groups_slot *gs = bk_http_poll_slot(gp, s);
        for (size_t i = 0; i < gs->n; i++) {
            const struct goff *o = &gs->v[i];
            const struct bk_md_topic *t =
                bk_md_image_topic(img, o->topic, strlen(o->topic));
            struct hw key = { .partition = o->partition };
            if (t != NULL) {
                key.topic = t->id;
            }
            const struct hw *w =
                t != NULL ? bsearch(&key, hws, nhws, sizeof(key), hw_cmp)
                          : NULL;
            if (w == NULL || o->offset < 0) {
                continue;
            }
            snprintf(part, sizeof(part), "%d", o->partition);
            struct bk_prom_label l[] = { { "group", o->group },
                                         { "topic", o->topic },
                                         { "partition", part } };
            bk_prom_u64(p, "brokerd_group_lag", l, 3,
                        w->hw > o->offset ? (uint64_t)(w->hw - o->offset) : 0);
        }
    }
}

void bk_http_group_metrics(struct bk_http *h,
                           struct bk_prom *p,
                           const struct bk_md_image *img)
{
    struct bk_http_poll *gp = NULL, *hp = NULL;
    if (img == NULL ||
        bk_http_poll_shards(h->src.shards, groups_fn, groups_free,
                            sizeof(struct groups_slot), POLL_TIMEOUT_MS,
                            &gp) != 0) {
        return;
    }
    states(p, gp);
    if (bk_http_poll_shards(h->src.shards, hws_fn, hws_free,
                            sizeof(struct hws_slot), POLL_TIMEOUT_MS,
                            &hp) == 0) {
        size_t n;
        struct hw *hws = all_hws(hp, &n);
        bk_http_poll_free(hp);
        if (hws != NULL) {
            lags(p, img, gp, hws, n);
            bk_free(hws);
        }
    }
    bk_http_poll_free(gp);
}
