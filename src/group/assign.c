/* KIP-848 server-side assignment: the uniform and range assignors and the
 * partition index they and reconciliation use (consumer.h).
 *
 * Cost: every ConsumerGroupHeartbeat asks for the targets, so they are
 * recomputed only when something they depend on moved (a member joined,
 * left or changed its subscription or the assignor: cg->bump; or the
 * subscribed topics' ids and partition counts: a signature of them, like
 * Kafka's metadata hash of KIP-1101). A recomputation is
 * O(P + M log M + P_left * M) for P partitions and M members, with a hash
 * index of who owns what instead of scanning every member's sets. */
#include <stdlib.h>
#include <string.h>

#include "common/err.h"
#include "common/heap.h"
#include "group/group_int.h"

/* ---- an index of partitions: (topic id, partition) -> int32 ---- */

static uint64_t tp_hash(const struct bk_cgroup_tp *tp)
{
    uint64_t h = 1469598103934665603ULL; /* FNV-1a */
    const uint8_t *b = (const uint8_t *)&tp->topic_id;
    for (size_t i = 0; i < sizeof(tp->topic_id); i++) {
        h = (h ^ b[i]) * 1099511628211ULL;
    }
    h = (h ^ (uint32_t)tp->partition) * 1099511628211ULL;
    return h ^ (h >> 29);
}

static bool tp_same(const struct bk_cgroup_tp *a, const struct bk_cgroup_tp *b)
{
    return a->partition == b->partition &&
           memcmp(&a->topic_id, &b->topic_id, sizeof(a->topic_id)) == 0;
}

int bk_ci_tpmap_init(struct bk_ci_tpmap *m, size_t n)
{
    size_t cap = 16;
    while (cap < n * 2 + 1) {
        cap *= 2;
    }
    m->keys = bk_malloc(cap * sizeof(*m->keys));
    m->vals = bk_malloc(cap * sizeof(*m->vals));
    m->cap = cap;
    if (m->keys == NULL || m->vals == NULL) {
        bk_ci_tpmap_free(m);
        return BK_ENOMEM;
    }
    for (size_t i = 0; i < cap; i++) {
        m->vals[i] = INT32_MIN; /* empty slot */
    }
    return 0;
}

void bk_ci_tpmap_free(struct bk_ci_tpmap *m)
{
    bk_free(m->keys);
    bk_free(m->vals);
    memset(m, 0, sizeof(*m));
}

/* Sized for what is put: never full (init's n bounds the puts). */
void bk_ci_tpmap_put(struct bk_ci_tpmap *m,
                     const struct bk_cgroup_tp *tp,
                     int32_t v)
{
    size_t i = (size_t)tp_hash(tp) & (m->cap - 1);
    while (m->vals[i] != INT32_MIN) {
        if (tp_same(&m->keys[i], tp)) {
            return; /* the first value stays */
        }
        i = (i + 1) & (m->cap - 1);
    }
    m->keys[i] = *tp;
    m->vals[i] = v;
}

int32_t bk_ci_tpmap_get(const struct bk_ci_tpmap *m,
                        const struct bk_cgroup_tp *tp)
{
    size_t i = (size_t)tp_hash(tp) & (m->cap - 1);
    while (m->vals[i] != INT32_MIN) {
        if (tp_same(&m->keys[i], tp)) {
            return m->vals[i];
        }
        i = (i + 1) & (m->cap - 1);
    }
    return -1;
}

int bk_ci_owners_build(struct bk_ci_tpmap *m,
                       struct bk_cmember *const *ms,
                       size_t n)
{
    size_t total = 0;
    for (size_t i = 0; i < n; i++) {
        total += ms[i]->assigned.n + ms[i]->revoking.n;
    }
    if (bk_ci_tpmap_init(m, total) != 0) {
        return BK_ENOMEM;
    }
    for (size_t i = 0; i < n; i++) {
        for (size_t k = 0; k < ms[i]->assigned.n; k++) {
            bk_ci_tpmap_put(m, &ms[i]->assigned.v[k], (int32_t)(2 * i));
        }
        for (size_t k = 0; k < ms[i]->revoking.n; k++) {
            bk_ci_tpmap_put(m, &ms[i]->revoking.v[k], (int32_t)(2 * i + 1));
        }
    }
    return 0;
}

int bk_ci_set_push(struct bk_cgroup_set *s, const struct bk_cgroup_tp *tp)
{
    if (s->n == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 16;
        struct bk_cgroup_tp *v = bk_realloc(s->v, cap * sizeof(*v));
        if (v == NULL) {
            return BK_ENOMEM;
        }
        s->v = v;
        s->cap = cap;
    }
    s->v[s->n++] = *tp;
    return 0;
}

bool bk_ci_set_same(const struct bk_cgroup_set *a,
                    const struct bk_cgroup_set *b)
{
    if (a->n != b->n) {
        return false;
    }
    if (a->n < 32) {
        for (size_t i = 0; i < a->n; i++) {
            if (!bk_ci_set_has(b, &a->v[i])) {
                return false;
            }
        }
        return true;
    }
    struct bk_ci_tpmap m;
    if (bk_ci_tpmap_init(&m, b->n) != 0) {
        for (size_t i = 0; i < a->n; i++) {
            if (!bk_ci_set_has(b, &a->v[i])) {
                return false;
            }
        }
        return true;
    }
    for (size_t i = 0; i < b->n; i++) {
        bk_ci_tpmap_put(&m, &b->v[i], 0);
    }
    bool same = true;
    for (size_t i = 0; i < a->n && same; i++) {
        same = bk_ci_tpmap_get(&m, &a->v[i]) >= 0;
    }
    bk_ci_tpmap_free(&m);
    return same;
}

/* ---- subscriptions ---- */

static bool subscribes(const struct bk_cmember *m, const char *topic)
{
    for (size_t i = 0; i < m->ntopics; i++) {
        if (strcmp(m->topics[i], topic) == 0) {
            return true;
        }
    }
    for (size_t i = 0; i < m->nresolved; i++) {
        if (strcmp(m->resolved[i], topic) == 0) {
            return true;
        }
    }
    return false;
}

static int cmp_member(const void *a, const void *b)
{
    const struct bk_cmember *x = *(const struct bk_cmember *const *)a;
    const struct bk_cmember *y = *(const struct bk_cmember *const *)b;
    return strcmp(x->id, y->id);
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* The subscribed topics, sorted and unique, with their metadata. */
struct topics {
    const char **name; /* borrowed from the members */
    struct bk_uuid *id;
    int32_t *np; /* partitions; <= 0: does not exist */
    size_t n;
    uint64_t sig; /* of names, ids and partition counts */
};

static void topics_free(struct topics *t)
{
    bk_free(t->name);
    bk_free(t->id);
    bk_free(t->np);
}

static int topics_get(const struct bk_cgroup *cg,
                      bk_cgroup_topic_fn lookup,
                      void *ctx,
                      struct topics *t)
{
    memset(t, 0, sizeof(*t));
    size_t n = 0;
    for (size_t i = 0; i < cg->nmembers; i++) {
        n += cg->members[i]->ntopics + cg->members[i]->nresolved;
    }
    t->name = bk_calloc(n + 1, sizeof(*t->name));
    t->id = bk_calloc(n + 1, sizeof(*t->id));
    t->np = bk_calloc(n + 1, sizeof(*t->np));
    if (t->name == NULL || t->id == NULL || t->np == NULL) {
        topics_free(t);
        return BK_ENOMEM;
    }
    size_t k = 0;
    for (size_t i = 0; i < cg->nmembers; i++) {
        const struct bk_cmember *m = cg->members[i];
        for (size_t x = 0; x < m->ntopics; x++) {
            t->name[k++] = m->topics[x];
        }
        for (size_t x = 0; x < m->nresolved; x++) {
            t->name[k++] = m->resolved[x];
        }
    }
    qsort(t->name, k, sizeof(*t->name), cmp_str);
    uint64_t h = 1469598103934665603ULL;
    for (size_t i = 0; i < k; i++) {
        if (t->n > 0 && strcmp(t->name[t->n - 1], t->name[i]) == 0) {
            continue;
        }
        size_t u = t->n++;
        t->name[u] = t->name[i];
        t->np[u] = lookup(ctx, t->name[u], &t->id[u]);
        if (t->np[u] <= 0) {
            memset(&t->id[u], 0, sizeof(t->id[u]));
        }
        for (const char *c = t->name[u]; *c != '\0'; c++) {
            h = (h ^ (uint8_t)*c) * 1099511628211ULL;
        }
        const uint8_t *b = (const uint8_t *)&t->id[u];
        for (size_t x = 0; x < sizeof(t->id[u]); x++) {
            h = (h ^ b[x]) * 1099511628211ULL;
        }
        h = (h ^ (uint32_t)t->np[u] ^ 0x100000000ULL) * 1099511628211ULL;
    }
    t->sig = h;
    return 0;
}

/* ---- assignors ---- */

/* subs[t]: the members (sorted by id) subscribed to topic t. */
struct subs {
    size_t *idx; /* flat: member indexes per topic */
    size_t *off; /* topic t's members: idx[off[t] .. off[t+1]) */
};

static int subs_build(struct subs *s,
                      struct bk_cmember *const *ms,
                      size_t nm,
                      const struct topics *t)
{
    s->off = bk_calloc(t->n + 1, sizeof(*s->off));
    s->idx = bk_calloc(nm * (t->n ? t->n : 1) + 1, sizeof(*s->idx));
    if (s->off == NULL || s->idx == NULL) {
        bk_free(s->off);
        bk_free(s->idx);
        s->off = NULL;
        s->idx = NULL;
        return BK_ENOMEM;
    }
    size_t k = 0;
    for (size_t x = 0; x < t->n; x++) {
        s->off[x] = k;
        for (size_t i = 0; i < nm; i++) {
            if (subscribes(ms[i], t->name[x])) {
                s->idx[k++] = i;
            }
        }
    }
    s->off[t->n] = k;
    return 0;
}

/* Range: per topic, contiguous ranges over the members sorted by id. */
static int assign_range(struct bk_cmember *const *ms,
                        const struct topics *t,
                        const struct subs *s)
{
    for (size_t x = 0; x < t->n; x++) {
        size_t ns = s->off[x + 1] - s->off[x];
        if (t->np[x] <= 0 || ns == 0) {
            continue;
        }
        int32_t per = t->np[x] / (int32_t)ns, extra = t->np[x] % (int32_t)ns;
        int32_t next = 0;
        for (size_t k = 0; k < ns; k++) {
            struct bk_cmember *m = ms[s->idx[s->off[x] + k]];
            int32_t cnt = per + ((int32_t)k < extra ? 1 : 0);
            for (int32_t p = 0; p < cnt; p++) {
                struct bk_cgroup_tp tp = { t->id[x], next++ };
                if (bk_ci_set_push(&m->target, &tp) != 0) {
                    return BK_ENOMEM;
                }
            }
        }
    }
    return 0;
}

/* Uniform: balanced counts, sticky (a member keeps what it owns up to its
 * share), the rest to the least loaded subscribed member (the first by id
 * on a tie). */
static int assign_uniform(struct bk_cmember *const *ms,
                          size_t nm,
                          const struct topics *t,
                          const struct subs *s)
{
    size_t total = 0;
    for (size_t x = 0; x < t->n; x++) {
        total += t->np[x] > 0 ? (size_t)t->np[x] : 0;
    }
    size_t quota = nm ? (total + nm - 1) / nm : 0;
    struct bk_ci_tpmap owners;
    if (bk_ci_owners_build(&owners, ms, nm) != 0) {
        return BK_ENOMEM;
    }
    /* left: (topic index, partition) pairs nobody kept. */
    size_t *left_t = bk_malloc((total + 1) * sizeof(*left_t));
    int32_t *left_p = bk_malloc((total + 1) * sizeof(*left_p));
    int rv = left_t != NULL && left_p != NULL ? 0 : BK_ENOMEM;
    size_t nleft = 0;
    for (size_t x = 0; x < t->n && rv == 0; x++) {
        for (int32_t p = 0; p < t->np[x] && rv == 0; p++) {
            struct bk_cgroup_tp tp = { t->id[x], p };
            int32_t o = bk_ci_tpmap_get(&owners, &tp);
            struct bk_cmember *owner = o >= 0 ? ms[o / 2] : NULL;
            if (owner != NULL && owner->target.n < quota &&
                subscribes(owner, t->name[x])) {
                rv = bk_ci_set_push(&owner->target, &tp);
            } else {
                left_t[nleft] = x;
                left_p[nleft++] = p;
            }
        }
    }
    for (size_t k = 0; k < nleft && rv == 0; k++) {
        size_t x = left_t[k];
        struct bk_cmember *best = NULL;
        for (size_t j = s->off[x]; j < s->off[x + 1]; j++) {
            struct bk_cmember *m = ms[s->idx[j]];
            if (best == NULL || m->target.n < best->target.n) {
                best = m;
            }
        }
        if (best != NULL) {
            struct bk_cgroup_tp tp = { t->id[x], left_p[k] };
            rv = bk_ci_set_push(&best->target, &tp);
        }
    }
    bk_free(left_t);
    bk_free(left_p);
    bk_ci_tpmap_free(&owners);
    return rv;
}

void bk_ci_compute_targets(struct bk_group_registry *r,
                           struct bk_cgroup *cg,
                           bk_cgroup_topic_fn lookup,
                           void *ctx)
{
    for (size_t i = 0; i < cg->nmembers; i++) {
        bk_ci_resolve_regex(r, cg->members[i]);
    }
    struct topics t;
    if (topics_get(cg, lookup, ctx, &t) != 0) {
        return; /* out of memory: the targets stay as they are */
    }
    if (!cg->bump && cg->targets_valid && t.sig == cg->topics_sig) {
        topics_free(&t); /* nothing the targets depend on moved */
        return;
    }
    size_t nm = cg->nmembers;
    struct bk_cmember **ms = bk_calloc(nm + 1, sizeof(*ms));
    struct bk_cgroup_set *old = bk_calloc(nm + 1, sizeof(*old));
    struct subs s = { 0 };
    if (ms == NULL || old == NULL) {
        goto out;
    }
    memcpy(ms, cg->members, nm * sizeof(*ms));
    qsort(ms, nm, sizeof(*ms), cmp_member);
    if (subs_build(&s, ms, nm, &t) != 0) {
        goto out;
    }
    for (size_t i = 0; i < nm; i++) {
        old[i] = ms[i]->target;
        memset(&ms[i]->target, 0, sizeof(ms[i]->target));
    }
    int rv = cg->assignor != NULL && strcmp(cg->assignor, "range") == 0
                 ? assign_range(ms, &t, &s)
                 : assign_uniform(ms, nm, &t, &s);
    if (rv != 0) {
        /* Out of memory midway: keep the previous targets. */
        for (size_t i = 0; i < nm; i++) {
            bk_ci_set_free(&ms[i]->target);
            ms[i]->target = old[i];
        }
        goto out;
    }
    bool changed = false;
    for (size_t i = 0; i < nm; i++) {
        if (!bk_ci_set_same(&old[i], &ms[i]->target)) {
            changed = true;
            ms[i]->dirty = true;
        }
        bk_ci_set_free(&old[i]);
    }
    if (changed || cg->bump) {
        cg->group_epoch++;
        cg->dirty = true;
        cg->bump = false;
    }
    cg->targets_valid = true;
    cg->topics_sig = t.sig;
out:
    bk_free(s.off);
    bk_free(s.idx);
    bk_free(old);
    bk_free(ms);
    topics_free(&t);
}
