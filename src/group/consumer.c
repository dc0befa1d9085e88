/* KIP-848 consumer groups; see consumer.h. */
#include "group/consumer.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/err.h"
#include "common/heap.h"
#include "group/group_int.h"
#include "protocol/kerr.h"

/* ---- partition sets ---- */

static bool tp_eq(const struct bk_cgroup_tp *a, const struct bk_cgroup_tp *b)
{
    return a->partition == b->partition &&
           memcmp(&a->topic_id, &b->topic_id, sizeof(a->topic_id)) == 0;
}

bool bk_ci_set_has(const struct bk_cgroup_set *s, const struct bk_cgroup_tp *tp)
{
    for (size_t i = 0; i < s->n; i++) {
        if (tp_eq(&s->v[i], tp)) {
            return true;
        }
    }
    return false;
}

int bk_ci_set_add(struct bk_cgroup_set *s, const struct bk_cgroup_tp *tp)
{
    return bk_ci_set_has(s, tp) ? 0 : bk_ci_set_push(s, tp);
}

void bk_ci_set_free(struct bk_cgroup_set *s)
{
    bk_free(s->v);
    memset(s, 0, sizeof(*s));
}

/* ---- members ---- */

void bk_ci_member_free(struct bk_cmember *m)
{
    if (m == NULL) {
        return;
    }
    for (size_t i = 0; i < m->ntopics; i++) {
        bk_free(m->topics[i]);
    }
    bk_free(m->topics);
    bk_free(m->id);
    bk_free(m->instance_id);
    bk_free(m->client_id);
    bk_free(m->client_host);
    bk_ci_set_free(&m->assigned);
    bk_ci_set_free(&m->revoking);
    bk_ci_set_free(&m->target);
    bk_gi_protocols_free(m->protocols, m->nprotocols);
    bk_ci_regex_free(m);
    bk_free(m);
}

void bk_cgroup_free(struct bk_cgroup *cg)
{
    if (cg == NULL) {
        return;
    }
    for (size_t i = 0; i < cg->nmembers; i++) {
        bk_ci_member_free(cg->members[i]);
    }
    bk_free(cg->members);
    bk_free(cg->assignor);
    bk_free(cg);
}

static char *dup_str(struct bk_str s)
{
    return bk_strndup(s.len > 0 ? s.ptr : "", s.len > 0 ? (size_t)s.len : 0);
}

struct bk_cmember *bk_ci_find(const struct bk_cgroup *cg, struct bk_str id)
{
    for (size_t i = 0; i < cg->nmembers; i++) {
        const char *mid = cg->members[i]->id;
        if (id.len >= 0 && strlen(mid) == (size_t)id.len &&
            memcmp(mid, id.ptr, (size_t)id.len) == 0) {
            return cg->members[i];
        }
    }
    return NULL;
}

struct bk_cmember *bk_ci_find_static(const struct bk_cgroup *cg,
                                     struct bk_str instance_id)
{
    if (instance_id.len < 0) {
        return NULL;
    }
    for (size_t i = 0; i < cg->nmembers; i++) {
        const struct bk_cmember *m = cg->members[i];
        if (m->instance_id != NULL &&
            bk_str_eq(instance_id,
                      bk_group_str(m->instance_id, m->instance_id_len))) {
            return cg->members[i];
        }
    }
    return NULL;
}

/* Room in g->cg_gone for need ids. */
static int reserve_gone(struct bk_group *g, size_t need)
{
    if (g->cg_gone_cap >= need) {
        return 0;
    }
    size_t cap = need < 8 ? 8 : need * 2;
    char **v = bk_realloc(g->cg_gone, cap * sizeof(*v));
    if (v == NULL) {
        return BK_ENOMEM;
    }
    g->cg_gone = v;
    g->cg_gone_cap = cap;
    return 0;
}

struct bk_cmember *bk_ci_member_add(struct bk_group *g,
                                    struct bk_cgroup *cg,
                                    struct bk_str id)
{
    /* A removal that could not be remembered would let the member come
     * back at a reload: its tombstone's slot is taken now. */
    if (reserve_gone(g, g->ncg_gone + cg->nmembers + 1) != 0) {
        return NULL;
    }
    struct bk_cmember *m = bk_calloc(1, sizeof(*m));
    struct bk_cmember **v =
        bk_realloc(cg->members, (cg->nmembers + 1) * sizeof(*v));
    if (v != NULL) {
        cg->members = v;
    }
    if (m == NULL || v == NULL) {
        bk_free(m);
        return NULL;
    }
    m->id = dup_str(id);
    m->client_id = bk_strdup("");
    m->client_host = bk_strdup("");
    m->topics = bk_calloc(1, sizeof(*m->topics));
    if (m->id == NULL || m->client_id == NULL || m->client_host == NULL ||
        m->topics == NULL) {
        bk_ci_member_free(m);
        return NULL;
    }
    m->rebalance_timeout_ms = 300000;
    m->session_timeout_ms = BK_CGROUP_SESSION_TIMEOUT_MS;
    m->dirty = true;
    cg->members[cg->nmembers++] = m;
    return m;
}

void bk_ci_note_gone(struct bk_group *g, char **id)
{
    /* Room was reserved when the member was added (bk_ci_member_add). */
    if (reserve_gone(g, g->ncg_gone + 1) != 0) {
        bk_free(*id); /* cannot happen: the records stay until overwritten */
        *id = NULL;
        return;
    }
    g->cg_gone[g->ncg_gone++] = *id;
    *id = NULL;
}

void bk_ci_member_unlink(struct bk_cgroup *cg, const struct bk_cmember *m)
{
    for (size_t i = 0; i < cg->nmembers; i++) {
        if (cg->members[i] == m) {
            memmove(&cg->members[i], &cg->members[i + 1],
                    (cg->nmembers - i - 1) * sizeof(*cg->members));
            cg->nmembers--;
            return;
        }
    }
}

void bk_ci_member_remove(struct bk_group_registry *r,
                         struct bk_group *g,
                         struct bk_cmember *m)
{
    struct bk_cgroup *cg = g->consumer;
    bk_ci_member_unlink(cg, m);
    bk_ci_note_gone(g, &m->id);
    bk_ci_member_free(m);
    cg->bump = true;
    cg->dirty = true;
    bk_ci_update_state(r, g);
}

void bk_ci_update_state(struct bk_group_registry *r, struct bk_group *g)
{
    enum bk_group_state s =
        g->consumer->nmembers > 0 ? BK_GROUP_STABLE : BK_GROUP_EMPTY;
    if (g->state != s) {
        g->state = s;
        g->state_ms = bk_clock_wall_ms(r->clock);
    }
}

int bk_ci_set_topics(struct bk_cmember *m, const struct bk_str *t, int32_t n)
{
    char **v = bk_calloc((size_t)n + 1, sizeof(*v));
    if (v == NULL) {
        return BK_ENOMEM;
    }
    for (int32_t i = 0; i < n; i++) {
        v[i] = dup_str(t[i]);
        if (v[i] == NULL) {
            for (int32_t k = 0; k < i; k++) {
                bk_free(v[k]);
            }
            bk_free(v);
            return BK_ENOMEM;
        }
    }
    for (size_t i = 0; i < m->ntopics; i++) {
        bk_free(m->topics[i]);
    }
    bk_free(m->topics);
    m->topics = v;
    m->ntopics = (size_t)n;
    return 0;
}

bool bk_ci_same_topics(const struct bk_cmember *m,
                       const struct bk_str *t,
                       int32_t n)
{
    if ((size_t)n != m->ntopics) {
        return false;
    }
    for (int32_t i = 0; i < n; i++) {
        bool found = false;
        for (size_t k = 0; k < m->ntopics && !found; k++) {
            found = bk_str_eq_c(t[i], m->topics[k]);
        }
        if (!found) {
            return false;
        }
    }
    return true;
}

/* ---- reconciliation ---- */

/* Removes v[i] by moving the last element there. */
static void set_take(struct bk_cgroup_set *s, size_t i)
{
    s->v[i] = s->v[--s->n];
}

bool bk_ci_reconcile(struct bk_group_registry *r,
                     struct bk_cgroup *cg,
                     struct bk_cmember *m,
                     const struct bk_cgroup_tp *owned,
                     int32_t nowned)
{
    size_t was_assigned = m->assigned.n, was_revoking = m->revoking.n;
    int32_t was_epoch = m->epoch;
    struct bk_ci_tpmap idx;
    if (owned != NULL && m->revoking.n > 0 &&
        bk_ci_tpmap_init(&idx, (size_t)nowned) == 0) {
        /* Revocations the member acknowledged: no longer owned. */
        for (int32_t k = 0; k < nowned; k++) {
            bk_ci_tpmap_put(&idx, &owned[k], 0);
        }
        for (size_t i = 0; i < m->revoking.n;) {
            if (bk_ci_tpmap_get(&idx, &m->revoking.v[i]) < 0) {
                set_take(&m->revoking, i);
                continue;
            }
            i++;
        }
        bk_ci_tpmap_free(&idx);
    }
    /* Revoke first: the member keeps its epoch until it acknowledges,
     * within its rebalance timeout. */
    bool revoked = false;
    if (bk_ci_tpmap_init(&idx, m->target.n + m->revoking.n) != 0) {
        return false; /* out of memory: the next heartbeat tries again */
    }
    for (size_t i = 0; i < m->target.n; i++) {
        bk_ci_tpmap_put(&idx, &m->target.v[i], 1);
    }
    for (size_t i = 0; i < m->revoking.n; i++) {
        bk_ci_tpmap_put(&idx, &m->revoking.v[i], 2);
    }
    for (size_t i = 0; i < m->assigned.n;) {
        int32_t where = bk_ci_tpmap_get(&idx, &m->assigned.v[i]);
        if (where != 1) {
            if (where != 2 &&
                bk_ci_set_push(&m->revoking, &m->assigned.v[i]) != 0) {
                break; /* out of memory: the rest next time */
            }
            set_take(&m->assigned, i);
            revoked = true;
            continue;
        }
        i++;
    }
    bk_ci_tpmap_free(&idx);
    if (revoked) {
        m->revoke_deadline_ms =
            bk_clock_mono_ms(r->clock) + m->rebalance_timeout_ms;
    }
    /* assigned is a subset of target now: equal sizes, nothing to take. */
    bool take = m->revoking.n == 0 && m->assigned.n < m->target.n;
    bool indexed =
        take && bk_ci_owners_build(&idx, cg->members, cg->nmembers) == 0;
    if (m->revoking.n == 0 && (!take || indexed)) {
        /* Then take what is free; the rest follows once its owner
         * released it (that member's own heartbeats). */
        for (size_t i = 0; indexed && i < m->target.n; i++) {
            if (bk_ci_tpmap_get(&idx, &m->target.v[i]) < 0) {
                (void)bk_ci_set_push(&m->assigned, &m->target.v[i]);
            }
        }
        if (indexed) {
            bk_ci_tpmap_free(&idx);
        }
        if (m->epoch != cg->group_epoch) {
            m->prev_epoch = m->epoch;
            m->epoch = cg->group_epoch;
        }
    }
    if (revoked || m->assigned.n != was_assigned ||
        m->revoking.n != was_revoking || m->epoch != was_epoch) {
        m->dirty = true;
    }
    /* assigned only loses (revoked) or only gains (taken) in one call. */
    return revoked || m->assigned.n != was_assigned;
}

/* owned (n of them) is a subset of s. */
static bool subset_of(const struct bk_cgroup_tp *owned,
                      int32_t n,
                      const struct bk_cgroup_set *s)
{
    struct bk_ci_tpmap idx;
    if (owned == NULL || bk_ci_tpmap_init(&idx, s->n) != 0) {
        return false;
    }
    for (size_t i = 0; i < s->n; i++) {
        bk_ci_tpmap_put(&idx, &s->v[i], 0);
    }
    bool all = true;
    for (int32_t k = 0; k < n && all; k++) {
        all = bk_ci_tpmap_get(&idx, &owned[k]) >= 0;
    }
    bk_ci_tpmap_free(&idx);
    return all;
}

/* The heartbeat subscribes to what m subscribes to (topics and regex). */
static bool same_subscription(const struct bk_cmember *m,
                              const struct bk_cgroup_heartbeat_req *hb)
{
    bool topics = hb->topics != NULL
                      ? bk_ci_same_topics(m, hb->topics, hb->ntopics)
                      : m->ntopics == 0;
    bool regex = m->regex != NULL
                     ? hb->regex.len > 0 && bk_str_eq_c(hb->regex, m->regex)
                     : hb->regex.len <= 0;
    return topics && regex;
}

/* ---- the heartbeat ---- */

/* The classic static member of a classic group with this instance id:
 * joining under it replaces that member instead of adding one. */
static const struct bk_group_member *find_static_classic(
    const struct bk_group *g,
    struct bk_str instance_id)
{
    for (size_t i = 0; instance_id.len >= 0 && i < g->nmembers; i++) {
        const struct bk_group_member *m = g->members[i];
        if (m->instance_id != NULL &&
            bk_str_eq(instance_id,
                      bk_group_str(m->instance_id, m->instance_id_len))) {
            return g->members[i];
        }
    }
    return NULL;
}

static void fail(struct bk_cgroup_result *res, int16_t err, const char *msg)
{
    memset(res, 0, sizeof(*res));
    res->error = err;
    res->error_message = msg;
    res->member_epoch = -1;
    res->heartbeat_interval_ms = BK_CGROUP_HEARTBEAT_INTERVAL_MS;
}

/* Checks of the request alone. Requests that fail validation change
 * nothing: checked before an empty or classic group is converted (Kafka
 * discards a failed request's records, conversion included). */
static bool hb_request_valid(struct bk_str group_id,
                             const struct bk_cgroup_heartbeat_req *hb,
                             struct bk_cgroup_result *res)
{
    if (group_id.len <= 0) {
        fail(res, BK_KERR_INVALID_REQUEST, "GroupId can't be empty.");
        return false;
    }
    if (hb->server_assignor.len >= 0 &&
        !bk_str_eq_c(hb->server_assignor, "uniform") &&
        !bk_str_eq_c(hb->server_assignor, "range")) {
        fail(res, BK_KERR_UNSUPPORTED_ASSIGNOR,
             "The assignor is not supported; use uniform or range.");
        return false;
    }
    if (hb->regex.len > 0) {
        struct bk_cmember probe = { 0 };
        int rc = bk_ci_set_regex(&probe, hb->regex);
        bk_ci_regex_free(&probe);
        if (rc == BK_EINVAL) {
            fail(res, BK_KERR_INVALID_REGULAR_EXPRESSION,
                 "SubscribedTopicRegex is not a valid regular expression.");
            return false;
        }
    }
    if (hb->member_epoch == 0 && hb->topics == NULL && hb->regex.len < 0) {
        fail(res, BK_KERR_INVALID_REQUEST,
             "SubscribedTopicNames or SubscribedTopicRegex must be set in "
             "first request.");
        return false;
    }
    return true;
}

/* Makes g, a classic group, a consumer group. */
static bool hb_convert_classic(struct bk_group_registry *r,
                               struct bk_group *g,
                               bk_cgroup_topic_fn topics,
                               void *topics_ctx,
                               struct bk_cgroup_result *res)
{
    if (g->nmembers > 0 || g->state != BK_GROUP_EMPTY) {
        /* KIP-848 online upgrade: the classic members stay, as
         * members of the consumer group. */
        int16_t err = bk_ci_upgrade(r, g, topics, topics_ctx);
        if (err != BK_KERR_NONE) {
            fail(res, err,
                 "The group is a classic group that cannot be "
                 "converted to a consumer group.");
            return false;
        }
        return true;
    }
    /* An empty classic group (maybe only offsets) becomes a consumer
     * group; its offsets stay. */
    g->consumer = bk_calloc(1, sizeof(*g->consumer));
    if (g->consumer == NULL) {
        fail(res, BK_KERR_UNKNOWN_SERVER_ERROR, NULL);
        return false;
    }
    g->consumer->dirty = true;
    g->tombstone_classic = true;
    g->dirty = false;
    bk_free(g->protocol_type);
    g->protocol_type = bk_strdup("consumer");
    return true;
}

/* The consumer group the heartbeat goes to: found, created for a join, or
 * converted from a classic group. NULL when it fails (res is set). */
static struct bk_group *hb_group(struct bk_group_registry *r,
                                 struct bk_str group_id,
                                 const struct bk_cgroup_heartbeat_req *hb,
                                 bk_cgroup_topic_fn topics,
                                 void *topics_ctx,
                                 struct bk_cgroup_result *res)
{
    struct bk_group *g = bk_group_find(r, group_id);
    if (hb->member_epoch == 0 && g != NULL && g->consumer == NULL &&
        (int64_t)g->nmembers >= r->cfg.cg_max_size &&
        find_static_classic(g, hb->instance_id) == NULL) {
        /* The upgrade would be refused by the join that follows. */
        fail(res, BK_KERR_GROUP_MAX_SIZE_REACHED, NULL);
        return NULL;
    }
    if (hb->member_epoch != 0 && (g == NULL || g->consumer == NULL)) {
        fail(res, BK_KERR_UNKNOWN_MEMBER_ID, NULL);
        return NULL;
    }
    if (g == NULL) {
        g = bk_group_get(r, group_id);
        if (g == NULL) {
            fail(res, BK_KERR_UNKNOWN_SERVER_ERROR, NULL);
            return NULL;
        }
    }
    if (g->consumer == NULL &&
        !hb_convert_classic(r, g, topics, topics_ctx, res)) {
        return NULL;
    }
    return g;
}

/* A heartbeat with member epoch -1 (leave) or -2 (a static member leaving
 * for a while). */
static void hb_leave(struct bk_group_registry *r,
                     struct bk_group *g,
                     struct bk_cmember *m,
                     const struct bk_cgroup_heartbeat_req *hb,
                     bk_cgroup_topic_fn topics,
                     void *topics_ctx,
                     struct bk_cgroup_result *res)
{
    if (hb->member_epoch == -2 && m != NULL && m->instance_id != NULL) {
        /* KIP-848: a static member leaving for a while keeps its
         * assignment until its session expires or it rejoins. */
        m->epoch = -2;
        m->dirty = true;
        memset(res, 0, sizeof(*res));
        res->member_id = m->id;
        res->member_epoch = -2;
        res->heartbeat_interval_ms = r->cfg.cg_heartbeat_interval_ms;
        return;
    }
    if (m == NULL) {
        /* consumerGroupLeave: getOrMaybeCreateMember(id, false) */
        fail(res, BK_KERR_UNKNOWN_MEMBER_ID, NULL);
        return;
    }
    struct bk_cgroup *cg = g->consumer;
    bk_ci_member_remove(r, g, m);
    bk_ci_compute_targets(r, cg, topics, topics_ctx);
    bk_ci_maybe_downgrade(r, g);
    memset(res, 0, sizeof(*res));
    res->member_id = NULL;
    res->member_epoch = hb->member_epoch;
    res->heartbeat_interval_ms = r->cfg.cg_heartbeat_interval_ms;
}

/* What a joining static member takes over from its previous self. */
struct hb_kept {
    struct bk_cgroup_set assigned, revoking, target;
};

static void hb_kept_free(struct hb_kept *k)
{
    bk_ci_set_free(&k->assigned);
    bk_ci_set_free(&k->revoking);
    bk_ci_set_free(&k->target);
}

/* KIP-848 static membership: the new member id takes over the previous
 * one's assignment (its epoch restarts at 0), and its target too when it
 * takes its old place (replace); prev is removed. */
static void hb_take_over(struct bk_group_registry *r,
                         struct bk_group *g,
                         struct bk_cmember *prev,
                         bool replace,
                         struct hb_kept *k)
{
    k->assigned = prev->assigned;
    k->revoking = prev->revoking;
    memset(&prev->assigned, 0, sizeof(prev->assigned));
    memset(&prev->revoking, 0, sizeof(prev->revoking));
    if (replace) {
        k->target = prev->target;
        memset(&prev->target, 0, sizeof(prev->target));
    }
    bk_ci_member_remove(r, g, prev);
}

/* The member id of a joining member: the client's, or for v0 (none sent)
 * one the coordinator makes up in gen (40 bytes). */
static struct bk_str hb_member_id(const struct bk_cgroup_heartbeat_req *hb,
                                  const struct bk_cgroup *cg,
                                  int64_t now,
                                  char *gen,
                                  size_t cap)
{
    if (hb->member_id.len > 0) {
        return hb->member_id;
    }
    uint64_t x = (uint64_t)now * 0x9e3779b97f4a7c15ULL ^
                 (uint64_t)(uintptr_t)cg ^ (uint64_t)cg->nmembers;
    snprintf(gen, cap, "%016llx%08x", (unsigned long long)x,
             (unsigned)cg->group_epoch);
    return bk_str_c(gen);
}

/* Fills a new member from the join; false when out of memory (the member
 * is then only partly filled). */
static bool hb_fill_member(struct bk_cmember *m,
                           const struct bk_cgroup_heartbeat_req *hb)
{
    bk_free(m->client_id);
    bk_free(m->client_host);
    m->instance_id = hb->instance_id.len >= 0 ? dup_str(hb->instance_id) : NULL;
    m->instance_id_len =
        hb->instance_id.len > 0 ? (size_t)hb->instance_id.len : 0;
    m->client_id = dup_str(hb->client_id);
    m->client_host = dup_str(hb->client_host);
    if (hb->rebalance_timeout_ms > 0) {
        m->rebalance_timeout_ms = hb->rebalance_timeout_ms;
    }
    return m->client_id != NULL && m->client_host != NULL &&
           !(hb->instance_id.len >= 0 && m->instance_id == NULL) &&
           bk_ci_set_topics(m, hb->topics, hb->topics ? hb->ntopics : 0) == 0 &&
           !(hb->regex.len > 0 && bk_ci_set_regex(m, hb->regex) != 0);
}

/* A heartbeat with member epoch 0: a member joins (or rejoins, replacing
 * m or a static member with the same instance id). Returns the new member,
 * or NULL when it fails (res is set). */
static struct bk_cmember *hb_join(struct bk_group_registry *r,
                                  struct bk_group *g,
                                  struct bk_cmember *m,
                                  const struct bk_cgroup_heartbeat_req *hb,
                                  int64_t now,
                                  struct bk_cgroup_result *res)
{
    struct bk_cgroup *cg = g->consumer;
    struct bk_cmember *prev = bk_ci_find_static(cg, hb->instance_id);
    /* Kafka checks the release only when both use the consumer protocol:
     * a classic static member restarting with group.protocol=consumer
     * replaces its old self at once. */
    if (prev != NULL && prev != m && prev->epoch != -2 && !prev->classic) {
        fail(res, BK_KERR_UNRELEASED_INSTANCE_ID,
             "The static member's instance id is still in use.");
        return NULL;
    }
    struct hb_kept kept = { 0 };
    /* A static member back with the subscription it left with takes its
     * old place, target included, and the group epoch stays: no other
     * member reconciles (Kafka replaces the member in place and bumps only
     * on a subscription change). The old one may have used the classic
     * protocol. */
    bool replace = prev != NULL && prev != m && same_subscription(prev, hb);
    bool bump = cg->bump;
    if (prev != NULL && prev != m) {
        hb_take_over(r, g, prev, replace, &kept);
    }
    if (m != NULL) {
        bk_ci_member_remove(r, g, m); /* a restart under the same id */
        replace = false;
    }
    if ((int64_t)cg->nmembers >= r->cfg.cg_max_size) {
        hb_kept_free(&kept);
        fail(res, BK_KERR_GROUP_MAX_SIZE_REACHED, NULL);
        return NULL;
    }
    char gen[40];
    m = bk_ci_member_add(g, cg, hb_member_id(hb, cg, now, gen, sizeof(gen)));
    if (m == NULL) {
        hb_kept_free(&kept);
        fail(res, BK_KERR_UNKNOWN_SERVER_ERROR, NULL);
        return NULL;
    }
    m->assigned = kept.assigned;
    m->revoking = kept.revoking;
    m->target = kept.target;
    if (!hb_fill_member(m, hb)) {
        bk_ci_member_remove(r, g, m);
        fail(res, BK_KERR_UNKNOWN_SERVER_ERROR, NULL);
        return NULL;
    }
    cg->bump = replace ? bump : true;
    return m;
}

/* A heartbeat of a member in the group (member epoch > 0): checks its
 * epoch and takes its subscription changes. Returns m, or NULL when it
 * fails (res is set). */
static struct bk_cmember *hb_update(struct bk_cgroup *cg,
                                    struct bk_cmember *m,
                                    const struct bk_cgroup_heartbeat_req *hb,
                                    struct bk_cgroup_result *res)
{
    if (m == NULL) {
        fail(res, BK_KERR_UNKNOWN_MEMBER_ID, NULL);
        return NULL;
    }
    /* The previous epoch is accepted when the member owns a subset of its
     * partitions: the answer that moved it on may have been lost (Kafka's
     * throwIfConsumerGroupMemberEpochIsInvalid). */
    if (hb->member_epoch != m->epoch &&
        !(hb->member_epoch == m->prev_epoch &&
          subset_of(hb->owned, hb->nowned, &m->assigned))) {
        fail(res, BK_KERR_FENCED_MEMBER_EPOCH,
             "The member epoch does not match the coordinator's.");
        return NULL;
    }
    if (hb->topics != NULL && !bk_ci_same_topics(m, hb->topics, hb->ntopics)) {
        if (bk_ci_set_topics(m, hb->topics, hb->ntopics) != 0) {
            fail(res, BK_KERR_UNKNOWN_SERVER_ERROR, NULL);
            return NULL;
        }
        m->dirty = true;
        cg->bump = true;
    }
    if (hb->regex.len >= 0 &&
        !(m->regex != NULL ? bk_str_eq_c(hb->regex, m->regex)
                           : hb->regex.len == 0)) {
        if (bk_ci_set_regex(m, hb->regex) != 0) {
            fail(res, BK_KERR_UNKNOWN_SERVER_ERROR, NULL);
            return NULL;
        }
        m->dirty = true;
        cg->bump = true;
    }
    if (hb->rebalance_timeout_ms > 0 &&
        hb->rebalance_timeout_ms != m->rebalance_timeout_ms) {
        m->rebalance_timeout_ms = hb->rebalance_timeout_ms;
        m->dirty = true;
    }
    return m;
}

/* The member asks for another server assignor: the group takes it. */
static void hb_set_assignor(struct bk_cgroup *cg,
                            struct bk_cmember *m,
                            const struct bk_cgroup_heartbeat_req *hb)
{
    if (hb->server_assignor.len > 0 &&
        (cg->assignor == NULL ||
         !bk_str_eq_c(hb->server_assignor, cg->assignor))) {
        char *a = dup_str(hb->server_assignor);
        if (a != NULL) {
            bk_free(cg->assignor);
            cg->assignor = a;
            m->dirty = true; /* the assignor is persisted with the member */
            cg->bump = true; /* the targets are the new assignor's */
        }
    }
}

/* Moves m towards its target and answers. */
static void hb_reconcile(struct bk_group_registry *r,
                         struct bk_group *g,
                         struct bk_cgroup *cg,
                         struct bk_cmember *m,
                         const struct bk_cgroup_heartbeat_req *hb,
                         bk_cgroup_topic_fn topics,
                         void *topics_ctx,
                         struct bk_cgroup_result *res)
{
    bk_ci_compute_targets(r, cg, topics, topics_ctx);
    bool moved = bk_ci_reconcile(r, cg, m, hb->owned, hb->nowned);
    bk_ci_update_state(r, g);
    memset(res, 0, sizeof(*res));
    res->member_id = m->id;
    res->member_epoch = m->epoch;
    res->heartbeat_interval_ms = r->cfg.cg_heartbeat_interval_ms;
    /* The assignment goes out on a join, on a full request (what a client
     * sends after an error, so a lost answer is made good) and when it
     * changed; otherwise it is left null, meaning "unchanged" (KIP-848,
     * as Kafka's consumerGroupHeartbeat). */
    bool full = hb->rebalance_timeout_ms != -1 &&
                (hb->topics != NULL || hb->regex.len >= 0) && hb->owned != NULL;
    if (hb->member_epoch == 0 || full || moved) {
        res->assignment = &m->assigned;
    }
}

void bk_cgroup_heartbeat(struct bk_group_registry *r,
                         struct bk_str group_id,
                         const struct bk_cgroup_heartbeat_req *hb,
                         bk_cgroup_topic_fn topics,
                         void *topics_ctx,
                         struct bk_cgroup_result *res)
{
    if (!hb_request_valid(group_id, hb, res)) {
        return;
    }
    struct bk_group *g = hb_group(r, group_id, hb, topics, topics_ctx, res);
    if (g == NULL) {
        return;
    }
    struct bk_cgroup *cg = g->consumer;
    int64_t now = bk_clock_mono_ms(r->clock);
    struct bk_cmember *m = bk_ci_find(cg, hb->member_id);
    if (m != NULL && m->classic) {
        fail(res, BK_KERR_UNKNOWN_MEMBER_ID,
             "The member uses the classic protocol.");
        return;
    }
    if (hb->member_epoch == -1 || hb->member_epoch == -2) {
        hb_leave(r, g, m, hb, topics, topics_ctx, res);
        return;
    }
    m = hb->member_epoch == 0 ? hb_join(r, g, m, hb, now, res)
                              : hb_update(cg, m, hb, res);
    if (m == NULL) {
        return;
    }
    hb_set_assignor(cg, m, hb);
    m->expires_ms = now + r->cfg.cg_session_timeout_ms;
    hb_reconcile(r, g, cg, m, hb, topics, topics_ctx, res);
}

int16_t bk_cgroup_commit_check(struct bk_group *g,
                               struct bk_str member_id,
                               int32_t member_epoch,
                               int16_t api_version)
{
    struct bk_cmember *m = bk_ci_find(g->consumer, member_id);
    if (m == NULL) {
        return BK_KERR_UNKNOWN_MEMBER_ID;
    }
    if (m->classic) {
        /* A classic member commits with its generation (the epoch). */
        return member_epoch == m->epoch ? BK_KERR_NONE
                                        : BK_KERR_ILLEGAL_GENERATION;
    }
    /* KIP-848: a member of the consumer protocol commits with OffsetCommit
     * v9 or later, with its current epoch: Kafka 4.1 answers
     * STALE_MEMBER_EPOCH to any other, older or newer (seen on the wire).
     * brokerd also takes the member's previous epoch, as it did before:
     * the Java client's commitSync raced an epoch bump and failed with
     * CommitFailedException (test_group_java, consumer protocol, ASan
     * build), and the commit comes from the member either way. Listed in
     * docs/compatibility.md. */
    if (api_version < 9) {
        return BK_KERR_UNSUPPORTED_VERSION;
    }
    if (member_epoch != m->epoch &&
        (m->prev_epoch <= 0 || member_epoch != m->prev_epoch)) {
        return BK_KERR_STALE_MEMBER_EPOCH;
    }
    return BK_KERR_NONE;
}

void bk_cgroup_tick(struct bk_group_registry *r, struct bk_group *g)
{
    struct bk_cgroup *cg = g->consumer;
    int64_t now = bk_clock_mono_ms(r->clock);
    for (size_t i = 0; i < cg->nmembers;) {
        struct bk_cmember *m = cg->members[i];
        /* Session expiry, or a revocation not acknowledged within the
         * rebalance timeout: the member is fenced (Kafka's session and
         * revocation timers). */
        if (now >= m->expires_ms ||
            (m->revoking.n > 0 && now >= m->revoke_deadline_ms)) {
            bk_ci_member_remove(r, g, m);
            continue;
        }
        i++;
    }
    /* A consumer group left with classic members only turns classic: the
     * mark is derived here rather than trusted, since it is not persisted
     * (a reload) and a failed request may have left such a group. */
    bk_ci_maybe_downgrade(r, g);
}
const char *bk_cgroup_state(const struct bk_group *g)
{
    const struct bk_cgroup *cg = g->consumer;
    if (cg->nmembers == 0) {
        return "Empty";
    }
    for (size_t i = 0; i < cg->nmembers; i++) {
        const struct bk_cmember *m = cg->members[i];
        if (m->epoch != cg->group_epoch || m->revoking.n > 0 ||
            !bk_ci_set_same(&m->assigned, &m->target)) {
            return "Reconciling";
        }
    }
    return "Stable";
}
