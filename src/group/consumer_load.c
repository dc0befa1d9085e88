/* Rebuilding KIP-848 consumer groups from their records in
 * __consumer_offsets (consumer.h, bk_cgroup_load_*). Records of one group
 * arrive in the order they were written, but a member's records may come
 * before the group's own, so every record creates what it needs (Kafka's
 * getOrMaybeCreatePersistedConsumerGroup). Loading never bumps epochs. */
#include <string.h>

#include "common/err.h"
#include "common/heap.h"
#include "group/group_int.h"

static struct bk_cgroup *cgroup_of(struct bk_group_registry *r,
                                   struct bk_str group_id,
                                   struct bk_group **out)
{
    struct bk_group *g = bk_group_get(r, group_id);
    if (g == NULL) {
        return NULL;
    }
    if (g->consumer == NULL) {
        g->consumer = bk_calloc(1, sizeof(*g->consumer));
        if (g->consumer == NULL) {
            return NULL;
        }
        char *pt = bk_strdup("consumer");
        if (pt == NULL) {
            return NULL;
        }
        bk_free(g->protocol_type);
        g->protocol_type = pt;
    }
    *out = g;
    return g->consumer;
}

/* The member, created when missing; its session starts now. */
static struct bk_cmember *member_of(struct bk_group_registry *r,
                                    struct bk_group *g,
                                    struct bk_cgroup *cg,
                                    struct bk_str member_id)
{
    struct bk_cmember *m = bk_ci_find(cg, member_id);
    if (m == NULL) {
        m = bk_ci_member_add(g, cg, member_id);
        if (m == NULL) {
            return NULL;
        }
        m->expires_ms = bk_clock_mono_ms(r->clock) + m->session_timeout_ms;
    }
    m->dirty = false; /* what is loaded is already written */
    return m;
}

/* Drops a member without tombstones or an epoch bump (the log already
 * says it is gone). */
static void drop_member(struct bk_cgroup *cg, struct bk_cmember *m)
{
    bk_ci_member_unlink(cg, m);
    bk_ci_member_free(m);
}

static void settle(struct bk_group_registry *r, struct bk_group *g)
{
    bk_ci_update_state(r, g);
    g->consumer->dirty = false;
}

int bk_cgroup_load_epoch(struct bk_group_registry *r,
                         struct bk_str group_id,
                         const int32_t *epoch)
{
    if (epoch == NULL) {
        /* The group was deleted or converted to classic. */
        struct bk_group *g = bk_group_find(r, group_id);
        if (g == NULL || g->consumer == NULL) {
            return 0;
        }
        bk_cgroup_free(g->consumer);
        g->consumer = NULL;
        g->state = BK_GROUP_EMPTY;
        if (g->noffsets == 0 && g->nmembers == 0) {
            bk_group_remove(r, g);
        }
        return 0;
    }
    struct bk_group *g = NULL;
    struct bk_cgroup *cg = cgroup_of(r, group_id, &g);
    if (cg == NULL) {
        return BK_ENOMEM;
    }
    cg->group_epoch = *epoch;
    settle(r, g);
    return 0;
}

int bk_cgroup_load_member(struct bk_group_registry *r,
                          struct bk_str group_id,
                          struct bk_str member_id,
                          const struct bk_cgroup_member_load *ml)
{
    if (ml == NULL) {
        struct bk_group *g = bk_group_find(r, group_id);
        struct bk_cmember *m = g != NULL && g->consumer != NULL
                                   ? bk_ci_find(g->consumer, member_id)
                                   : NULL;
        if (m != NULL) {
            drop_member(g->consumer, m);
            settle(r, g);
        }
        return 0;
    }
    struct bk_group *g = NULL;
    struct bk_cgroup *cg = cgroup_of(r, group_id, &g);
    struct bk_cmember *m = cg != NULL ? member_of(r, g, cg, member_id) : NULL;
    if (m == NULL) {
        return BK_ENOMEM;
    }
    char *iid = ml->instance_id.len >= 0 ? bk_gi_dup(ml->instance_id) : NULL;
    char *cid = bk_gi_dup(ml->client_id);
    char *host = bk_gi_dup(ml->client_host);
    struct bk_group_protocol *protos = NULL;
    size_t nprotos = 0;
    if ((ml->instance_id.len >= 0 && iid == NULL) || cid == NULL ||
        host == NULL ||
        (ml->classic && bk_gi_protocols_copy(&protos, &nprotos, ml->protocols,
                                             ml->nprotocols) != 0) ||
        bk_ci_set_topics(m, ml->topics, ml->ntopics) != 0 ||
        bk_ci_set_regex(m, ml->regex) == BK_ENOMEM) {
        bk_free(iid);
        bk_free(cid);
        bk_free(host);
        bk_gi_protocols_free(protos, nprotos);
        return BK_ENOMEM;
    }
    bk_free(m->instance_id);
    bk_free(m->client_id);
    bk_free(m->client_host);
    bk_gi_protocols_free(m->protocols, m->nprotocols);
    m->instance_id = iid;
    m->instance_id_len =
        ml->instance_id.len > 0 ? (size_t)ml->instance_id.len : 0;
    m->client_id = cid;
    m->client_host = host;
    m->protocols = protos;
    m->nprotocols = nprotos;
    m->classic = ml->classic && nprotos > 0;
    if (ml->rebalance_timeout_ms > 0) {
        m->rebalance_timeout_ms = ml->rebalance_timeout_ms;
    }
    if (m->classic && ml->session_timeout_ms > 0) {
        m->session_timeout_ms = ml->session_timeout_ms;
        m->expires_ms = bk_clock_mono_ms(r->clock) + m->session_timeout_ms;
    }
    if (ml->server_assignor.len > 0) {
        char *a = bk_gi_dup(ml->server_assignor);
        if (a != NULL) {
            bk_free(cg->assignor);
            cg->assignor = a;
        }
    }
    settle(r, g);
    return 0;
}

static int set_from(struct bk_cgroup_set *s,
                    const struct bk_cgroup_tp *tps,
                    size_t n)
{
    bk_ci_set_free(s);
    for (size_t i = 0; i < n; i++) {
        if (bk_ci_set_add(s, &tps[i]) != 0) {
            return BK_ENOMEM;
        }
    }
    return 0;
}

int bk_cgroup_load_target(struct bk_group_registry *r,
                          struct bk_str group_id,
                          struct bk_str member_id,
                          const struct bk_cgroup_tp *tps,
                          size_t n)
{
    struct bk_group *g = bk_group_find(r, group_id);
    if (tps == NULL) {
        struct bk_cmember *m = g != NULL && g->consumer != NULL
                                   ? bk_ci_find(g->consumer, member_id)
                                   : NULL;
        if (m != NULL) {
            bk_ci_set_free(&m->target);
        }
        return 0;
    }
    struct bk_cgroup *cg = cgroup_of(r, group_id, &g);
    struct bk_cmember *m = cg != NULL ? member_of(r, g, cg, member_id) : NULL;
    if (m == NULL) {
        return BK_ENOMEM;
    }
    int rv = set_from(&m->target, tps, n);
    settle(r, g);
    return rv;
}

int bk_cgroup_load_current(struct bk_group_registry *r,
                           struct bk_str group_id,
                           struct bk_str member_id,
                           const struct bk_cgroup_current_load *c)
{
    struct bk_group *g = bk_group_find(r, group_id);
    if (c == NULL) {
        struct bk_cmember *m = g != NULL && g->consumer != NULL
                                   ? bk_ci_find(g->consumer, member_id)
                                   : NULL;
        if (m != NULL) {
            bk_ci_set_free(&m->assigned);
            bk_ci_set_free(&m->revoking);
        }
        return 0;
    }
    struct bk_cgroup *cg = cgroup_of(r, group_id, &g);
    struct bk_cmember *m = cg != NULL ? member_of(r, g, cg, member_id) : NULL;
    if (m == NULL) {
        return BK_ENOMEM;
    }
    m->epoch = c->epoch;
    m->prev_epoch = c->prev_epoch;
    int rv = set_from(&m->assigned, c->assigned, c->nassigned);
    if (rv == 0) {
        rv = set_from(&m->revoking, c->revoking, c->nrevoking);
    }
    if (m->revoking.n > 0) {
        m->revoke_deadline_ms =
            bk_clock_mono_ms(r->clock) + m->rebalance_timeout_ms;
    }
    settle(r, g);
    return rv;
}
