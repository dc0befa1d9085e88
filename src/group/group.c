/* The classic group state machine; see group.h for the states and
 * transitions. Rules follow Kafka's classic group coordinator; the comments
 * name the Kafka behaviour each branch reproduces. */
#include "group/group.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "common/err.h"
#include "common/heap.h"
#include "group/consumer.h"
#include "group/group_int.h"
#include "protocol/kerr.h"

#define RETENTION_CHECK_MS 60000

const char *bk_group_state_name(enum bk_group_state s)
{
    switch (s) {
        case BK_GROUP_EMPTY:
            return "Empty";
        case BK_GROUP_PREPARING_REBALANCE:
            return "PreparingRebalance";
        case BK_GROUP_COMPLETING_REBALANCE:
            return "CompletingRebalance";
        case BK_GROUP_STABLE:
            return "Stable";
        case BK_GROUP_DEAD:
            return "Dead";
    }
    return "Unknown";
}

void bk_group_config_default(struct bk_group_config *c)
{
    c->min_session_timeout_ms = 6000;
    c->max_session_timeout_ms = 1800000;
    c->initial_rebalance_delay_ms = 3000;
    c->max_size = INT32_MAX;
    c->offsets_retention_ms = 7LL * 24 * 3600 * 1000;
    c->cg_session_timeout_ms = BK_CGROUP_SESSION_TIMEOUT_MS;
    c->cg_heartbeat_interval_ms = BK_CGROUP_HEARTBEAT_INTERVAL_MS;
    c->cg_max_size = INT32_MAX;
    c->cg_upgrade = true;
    c->cg_downgrade = true;
}

bool bk_group_parse_migration_policy(const char *s,
                                     bool *upgrade,
                                     bool *downgrade)
{
    static const struct {
        const char *name;
        bool up, down;
    } policies[] = {
        { "disabled", false, false },
        { "upgrade", true, false },
        { "downgrade", false, true },
        { "bidirectional", true, true },
    };
    for (size_t i = 0; i < sizeof(policies) / sizeof(policies[0]); i++) {
        if (strcasecmp(s, policies[i].name) == 0) {
            *upgrade = policies[i].up;
            *downgrade = policies[i].down;
            return true;
        }
    }
    return false;
}

static int64_t now_mono(const struct bk_group_registry *r)
{
    return bk_clock_mono_ms(r->clock);
}

static int64_t now_wall(const struct bk_group_registry *r)
{
    return bk_clock_wall_ms(r->clock);
}

static bool str_is(struct bk_str s, const char *c)
{
    if (c == NULL) {
        return s.len < 0;
    }
    return s.len >= 0 && strlen(c) == (size_t)s.len &&
           memcmp(c, s.ptr, (size_t)s.len) == 0;
}

static char *dup_str(struct bk_str s)
{
    if (s.len < 0) {
        return NULL;
    }
    return bk_strndup(s.len > 0 ? s.ptr : "", (size_t)s.len);
}

char *bk_gi_dup(struct bk_str s)
{
    return dup_str(s.len < 0 ? bk_str_c("") : s);
}

static void set_str(char **dst, const char *src)
{
    char *n = src != NULL ? bk_strdup(src) : NULL;
    bk_free(*dst);
    *dst = n;
}

void bk_gi_set_state(struct bk_group_registry *r,
                     struct bk_group *g,
                     enum bk_group_state s)
{
    g->state = s;
    g->state_ms = now_wall(r);
}

void bk_group_registry_init(struct bk_group_registry *r,
                            const struct bk_group_config *cfg,
                            const struct bk_clock *clock,
                            const struct bk_group_hooks *hooks)
{
    memset(r, 0, sizeof(*r));
    r->cfg = *cfg;
    r->clock = clock;
    r->hooks = *hooks;
    r->rng = (uint64_t)bk_clock_mono_ms(clock) * 0x9e3779b97f4a7c15ULL ^
             (uint64_t)(uintptr_t)r;
    if (r->rng == 0) {
        r->rng = 1;
    }
    r->next_retention_ms = now_mono(r) + RETENTION_CHECK_MS;
}

static uint64_t next_rand(struct bk_group_registry *r)
{
    /* xorshift64*: member ids need to be unique, not secret. */
    uint64_t x = r->rng;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    r->rng = x;
    return x * 0x2545F4914F6CDD1DULL;
}

/* ---- answering waiters ---- */

void bk_gi_join_error(struct bk_group_registry *r,
                      void *waiter,
                      int16_t err,
                      const char *member_id)
{
    struct bk_group_join_result res = {
        .error = err,
        .generation = -1,
        .leader = "",
        .member_id = member_id != NULL ? member_id : "",
    };
    r->hooks.join_done(r->hooks.data, waiter, &res);
}

void bk_gi_sync_error(struct bk_group_registry *r, void *waiter, int16_t err)
{
    r->hooks.sync_done(r->hooks.data, waiter, err, NULL, NULL, NULL, 0);
}

/* ---- members ---- */

void bk_gi_member_free(struct bk_group_member *m)
{
    if (m == NULL) {
        return;
    }
    for (size_t i = 0; i < m->nprotocols; i++) {
        bk_free(m->protocols[i].name);
        bk_free(m->protocols[i].metadata);
    }
    bk_free(m->protocols);
    bk_free(m->id);
    bk_free(m->instance_id);
    bk_free(m->client_id);
    bk_free(m->client_host);
    bk_free(m->assignment);
    bk_free(m);
}

struct bk_group_member *bk_group_member_find(const struct bk_group *g,
                                             const char *member_id,
                                             size_t len)
{
    for (size_t i = 0; i < g->nmembers; i++) {
        const char *id = g->members[i]->id;
        if (strlen(id) == len && memcmp(id, member_id, len) == 0) {
            return g->members[i];
        }
    }
    return NULL;
}

static struct bk_group_member *find_member(const struct bk_group *g,
                                           struct bk_str id)
{
    if (id.len <= 0) {
        return NULL;
    }
    return bk_group_member_find(g, id.ptr, (size_t)id.len);
}

static struct bk_group_member *find_static(const struct bk_group *g,
                                           struct bk_str instance_id)
{
    if (instance_id.len < 0) {
        return NULL;
    }
    for (size_t i = 0; i < g->nmembers; i++) {
        const struct bk_group_member *m = g->members[i];
        if (m->instance_id != NULL &&
            bk_str_eq(instance_id,
                      bk_group_str(m->instance_id, m->instance_id_len))) {
            return g->members[i];
        }
    }
    return NULL;
}

const struct bk_group_protocol *bk_group_member_protocol(
    const struct bk_group *g,
    const struct bk_group_member *m)
{
    for (size_t i = 0; i < m->nprotocols; i++) {
        if (g->protocol != NULL &&
            strcmp(m->protocols[i].name, g->protocol) == 0) {
            return &m->protocols[i];
        }
    }
    return m->nprotocols > 0 ? &m->protocols[0] : NULL;
}

void bk_gi_protocols_free(struct bk_group_protocol *p, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        bk_free(p[i].name);
        bk_free(p[i].metadata);
    }
    bk_free(p);
}

int bk_gi_protocols_copy(struct bk_group_protocol **out,
                         size_t *nout,
                         const struct bk_group_proto_in *in,
                         size_t n)
{
    struct bk_group_protocol *p = bk_calloc(n + 1, sizeof(*p));
    if (p == NULL) {
        return BK_ENOMEM;
    }
    for (size_t i = 0; i < n; i++) {
        p[i].name = dup_str(in[i].name.len < 0 ? bk_str_c("") : in[i].name);
        size_t len = in[i].metadata.len > 0 ? (size_t)in[i].metadata.len : 0;
        p[i].metadata = len > 0 ? bk_malloc(len) : NULL;
        if (p[i].name == NULL || (len > 0 && p[i].metadata == NULL)) {
            bk_gi_protocols_free(p, i + 1);
            return BK_ENOMEM;
        }
        if (len > 0) {
            memcpy(p[i].metadata, in[i].metadata.ptr, len);
        }
        p[i].metadata_len = len;
    }
    *out = p;
    *nout = n;
    return 0;
}

static int set_protocols(struct bk_group_member *m,
                         const struct bk_group_proto_in *in,
                         size_t n)
{
    struct bk_group_protocol *p = NULL;
    size_t np = 0;
    if (bk_gi_protocols_copy(&p, &np, in, n) != 0) {
        return BK_ENOMEM;
    }
    bk_gi_protocols_free(m->protocols, m->nprotocols);
    m->protocols = p;
    m->nprotocols = np;
    return 0;
}

static bool same_protocols(const struct bk_group_member *m,
                           const struct bk_group_proto_in *in,
                           size_t n)
{
    if (m->nprotocols != n) {
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        size_t len = in[i].metadata.len > 0 ? (size_t)in[i].metadata.len : 0;
        if (!str_is(in[i].name, m->protocols[i].name) ||
            len != m->protocols[i].metadata_len ||
            (len > 0 &&
             memcmp(in[i].metadata.ptr, m->protocols[i].metadata, len) != 0)) {
            return false;
        }
    }
    return true;
}

static bool member_supports(const struct bk_group_member *m, const char *name)
{
    for (size_t i = 0; i < m->nprotocols; i++) {
        if (strcmp(m->protocols[i].name, name) == 0) {
            return true;
        }
    }
    return false;
}

/* Whether every current member (except skip) supports one of the
 * protocols offered (Kafka's ClassicGroup.supportsProtocols). */
static bool supports_protocols(const struct bk_group *g,
                               const struct bk_group_member *skip,
                               struct bk_str type,
                               const struct bk_group_proto_in *in,
                               size_t n)
{
    size_t others = 0;
    for (size_t i = 0; i < g->nmembers; i++) {
        others += g->members[i] != skip;
    }
    if (others == 0) {
        return type.len > 0 && n > 0;
    }
    if (g->protocol_type == NULL || !str_is(type, g->protocol_type)) {
        return false;
    }
    for (size_t k = 0; k < n; k++) {
        char name[256];
        int len = in[k].name.len < 0 ? 0 : in[k].name.len;
        if ((size_t)len >= sizeof(name)) {
            continue;
        }
        memcpy(name, in[k].name.ptr, (size_t)len);
        name[len] = '\0';
        bool all = true;
        for (size_t i = 0; i < g->nmembers && all; i++) {
            if (g->members[i] != skip) {
                all = member_supports(g->members[i], name);
            }
        }
        if (all) {
            return true;
        }
    }
    return false;
}

int bk_gi_member_add(struct bk_group *g, struct bk_group_member *m)
{
    if (g->nmembers == g->members_cap) {
        size_t cap = g->members_cap ? g->members_cap * 2 : 8;
        struct bk_group_member **v = bk_realloc(g->members, cap * sizeof(*v));
        if (v == NULL) {
            return BK_ENOMEM;
        }
        g->members = v;
        g->members_cap = cap;
    }
    g->members[g->nmembers++] = m;
    return 0;
}

static void unlink_member(struct bk_group *g, struct bk_group_member *m)
{
    for (size_t i = 0; i < g->nmembers; i++) {
        if (g->members[i] == m) {
            memmove(&g->members[i], &g->members[i + 1],
                    (g->nmembers - i - 1) * sizeof(*g->members));
            g->nmembers--;
            break;
        }
    }
    if (g->leader != NULL && strcmp(g->leader, m->id) == 0) {
        bk_free(g->leader);
        g->leader = g->nmembers > 0 ? bk_strdup(g->members[0]->id) : NULL;
    }
}

static bool pending_take(struct bk_group *g, struct bk_str id)
{
    for (size_t i = 0; i < g->npending; i++) {
        if (str_is(id, g->pending[i].id)) {
            bk_free(g->pending[i].id);
            g->pending[i] = g->pending[--g->npending];
            return true;
        }
    }
    return false;
}

static int pending_add(struct bk_group *g, const char *id, int64_t expires)
{
    struct bk_group_pending *v =
        bk_realloc(g->pending, (g->npending + 1) * sizeof(*v));
    if (v == NULL) {
        return BK_ENOMEM;
    }
    g->pending = v;
    v[g->npending].id = bk_strdup(id);
    if (v[g->npending].id == NULL) {
        return BK_ENOMEM;
    }
    v[g->npending].expires_ms = expires;
    g->npending++;
    return 0;
}

/* ---- groups ---- */

struct bk_group *bk_group_find(struct bk_group_registry *r, struct bk_str id)
{
    for (struct bk_group *g = r->groups; g != NULL; g = g->next) {
        if (bk_str_eq(id.len < 0 ? bk_str_c("") : id, bk_group_id(g))) {
            return g;
        }
    }
    return NULL;
}

struct bk_str bk_group_id(const struct bk_group *g)
{
    return (struct bk_str){ g->id, (int32_t)g->id_len };
}

struct bk_group *bk_group_get(struct bk_group_registry *r, struct bk_str id)
{
    struct bk_group *g = bk_group_find(r, id);
    if (g != NULL) {
        return g;
    }
    g = bk_calloc(1, sizeof(*g));
    if (g == NULL) {
        return NULL;
    }
    g->id = dup_str(id.len < 0 ? bk_str_c("") : id);
    if (g->id == NULL) {
        bk_free(g);
        return NULL;
    }
    g->id_len = id.len > 0 ? (size_t)id.len : 0;
    g->state = BK_GROUP_EMPTY;
    g->state_ms = now_wall(r);
    g->next = r->groups;
    r->groups = g;
    r->ngroups++;
    return g;
}

static void cancel_waiters(struct bk_group_registry *r,
                           struct bk_group_member *m,
                           int16_t err)
{
    if (m->join_waiter != NULL) {
        void *w = m->join_waiter;
        m->join_waiter = NULL;
        bk_gi_join_error(r, w, err, m->id);
    }
    if (m->sync_waiter != NULL) {
        void *w = m->sync_waiter;
        m->sync_waiter = NULL;
        bk_gi_sync_error(r, w, err);
    }
}

void bk_gi_clear_members(struct bk_group_registry *r,
                         struct bk_group *g,
                         int16_t err)
{
    for (size_t i = 0; i < g->nmembers; i++) {
        cancel_waiters(r, g->members[i], err);
        bk_gi_member_free(g->members[i]);
    }
    g->nmembers = 0;
    for (size_t i = 0; i < g->npending; i++) {
        bk_free(g->pending[i].id);
    }
    g->npending = 0;
}

static void group_free(struct bk_group_registry *r, struct bk_group *g)
{
    bk_gi_clear_members(r, g, BK_KERR_COORDINATOR_NOT_AVAILABLE);
    bk_free(g->members);
    bk_free(g->pending);
    for (size_t i = 0; i < g->noffsets; i++) {
        bk_free(g->offsets[i].topic);
        bk_free(g->offsets[i].metadata);
    }
    bk_free(g->offsets);
    bk_cgroup_free(g->consumer);
    for (size_t i = 0; i < g->ncg_gone; i++) {
        bk_free(g->cg_gone[i]);
    }
    bk_free(g->cg_gone);
    bk_free(g->protocol_type);
    bk_free(g->protocol);
    bk_free(g->leader);
    bk_free(g->id);
    bk_free(g);
}

void bk_group_remove(struct bk_group_registry *r, struct bk_group *g)
{
    for (struct bk_group **pp = &r->groups; *pp != NULL; pp = &(*pp)->next) {
        if (*pp == g) {
            *pp = g->next;
            r->ngroups--;
            break;
        }
    }
    g->state = BK_GROUP_DEAD;
    group_free(r, g);
}

void bk_group_registry_close(struct bk_group_registry *r)
{
    while (r->groups != NULL) {
        bk_group_remove(r, r->groups);
    }
}

/* ---- rebalancing ---- */

static int32_t max_rebalance_timeout(const struct bk_group *g)
{
    int32_t t = 0;
    for (size_t i = 0; i < g->nmembers; i++) {
        if (g->members[i]->rebalance_timeout_ms > t) {
            t = g->members[i]->rebalance_timeout_ms;
        }
    }
    return t;
}

static void try_complete_join(struct bk_group_registry *r, struct bk_group *g);

void bk_gi_prepare_rebalance(struct bk_group_registry *r, struct bk_group *g)
{
    if (g->state == BK_GROUP_COMPLETING_REBALANCE) {
        /* The assignment of the aborted generation is void: tell members
         * waiting in SyncGroup to rejoin (resetAndPropagateAssignment-
         * Error). */
        for (size_t i = 0; i < g->nmembers; i++) {
            struct bk_group_member *m = g->members[i];
            bk_free(m->assignment);
            m->assignment = NULL;
            m->assignment_len = 0;
            if (m->sync_waiter != NULL) {
                void *w = m->sync_waiter;
                m->sync_waiter = NULL;
                bk_gi_sync_error(r, w, BK_KERR_REBALANCE_IN_PROGRESS);
            }
        }
    }
    int64_t now = now_mono(r);
    int32_t rebalance = max_rebalance_timeout(g);
    if (g->state == BK_GROUP_EMPTY) {
        /* group.initial.rebalance.delay.ms: the first rebalance of an empty
         * group waits for more members, extended by the delay each time
         * one joins, up to the rebalance timeout (InitialDelayedJoin). */
        int32_t delay = r->cfg.initial_rebalance_delay_ms;
        g->initial_delay = delay > 0;
        g->rebalance_deadline_ms =
            now + (delay < rebalance || rebalance == 0 ? delay : rebalance);
        g->initial_delay_max_ms = now + rebalance;
    } else {
        g->initial_delay = false;
        g->rebalance_deadline_ms = now + rebalance;
    }
    bk_gi_set_state(r, g, BK_GROUP_PREPARING_REBALANCE);
}

/* Protocol selection: every member votes for its most preferred protocol
 * among those all members support; the most votes wins (ties: the first
 * candidate in the leader's... here the first member's order). */
static const char *select_protocol(const struct bk_group *g)
{
    const struct bk_group_member *first = g->members[0];
    const char *best = NULL;
    size_t best_votes = 0;
    for (size_t c = 0; c < first->nprotocols; c++) {
        const char *cand = first->protocols[c].name;
        bool all = true;
        for (size_t i = 0; i < g->nmembers && all; i++) {
            all = member_supports(g->members[i], cand);
        }
        if (!all) {
            continue;
        }
        size_t votes = 0;
        for (size_t i = 0; i < g->nmembers; i++) {
            const struct bk_group_member *m = g->members[i];
            for (size_t k = 0; k < m->nprotocols; k++) {
                const char *p = m->protocols[k].name;
                bool pall = true;
                for (size_t j = 0; j < g->nmembers && pall; j++) {
                    pall = member_supports(g->members[j], p);
                }
                if (pall) {
                    votes += strcmp(p, cand) == 0;
                    break;
                }
            }
        }
        if (best == NULL || votes > best_votes) {
            best = cand;
            best_votes = votes;
        }
    }
    return best;
}

static void answer_join(struct bk_group_registry *r,
                        struct bk_group *g,
                        struct bk_group_member *m)
{
    void *w = m->join_waiter;
    m->join_waiter = NULL;
    bool leader = g->leader != NULL && strcmp(g->leader, m->id) == 0;
    struct bk_group_join_result res = {
        .error = BK_KERR_NONE,
        .generation = g->generation,
        .protocol_type = g->protocol_type,
        .protocol_name = g->protocol,
        .leader = g->leader != NULL ? g->leader : "",
        .member_id = m->id,
        .nmembers = leader ? g->nmembers : 0,
        .members = leader ? g->members : NULL,
    };
    r->hooks.join_done(r->hooks.data, w, &res);
}

static void complete_join(struct bk_group_registry *r, struct bk_group *g)
{
    /* Dynamic members that did not rejoin in time are dropped; static
     * members stay (KIP-345) and get the new generation on rejoin. */
    for (size_t i = 0; i < g->nmembers;) {
        struct bk_group_member *m = g->members[i];
        if (m->join_waiter == NULL && m->instance_id == NULL) {
            cancel_waiters(r, m, BK_KERR_UNKNOWN_MEMBER_ID);
            unlink_member(g, m);
            bk_gi_member_free(m);
            continue;
        }
        i++;
    }
    g->initial_delay = false;
    g->generation++;
    g->dirty = true;
    if (g->nmembers == 0) {
        bk_free(g->protocol);
        g->protocol = NULL;
        bk_free(g->leader);
        g->leader = NULL;
        bk_gi_set_state(r, g, BK_GROUP_EMPTY);
        return;
    }
    set_str(&g->protocol, select_protocol(g));
    if (g->leader == NULL || find_member(g, bk_str_c(g->leader)) == NULL) {
        set_str(&g->leader, g->members[0]->id);
    }
    /* A static leader that has not rejoined yet cannot assign: pick a
     * member that did. */
    struct bk_group_member *lm = find_member(g, bk_str_c(g->leader));
    if (lm != NULL && lm->join_waiter == NULL) {
        for (size_t i = 0; i < g->nmembers; i++) {
            if (g->members[i]->join_waiter != NULL) {
                set_str(&g->leader, g->members[i]->id);
                break;
            }
        }
    }
    bk_gi_set_state(r, g, BK_GROUP_COMPLETING_REBALANCE);
    int64_t now = now_mono(r);
    for (size_t i = 0; i < g->nmembers; i++) {
        struct bk_group_member *m = g->members[i];
        m->is_new = false;
        m->expires_ms = now + m->session_timeout_ms;
        bk_free(m->assignment);
        m->assignment = NULL;
        m->assignment_len = 0;
        if (m->join_waiter != NULL) {
            answer_join(r, g, m);
        }
    }
}

static void try_complete_join(struct bk_group_registry *r, struct bk_group *g)
{
    if (g->state != BK_GROUP_PREPARING_REBALANCE || g->initial_delay) {
        return;
    }
    for (size_t i = 0; i < g->nmembers; i++) {
        if (g->members[i]->join_waiter == NULL) {
            return;
        }
    }
    if (g->npending > 0) {
        return;
    }
    complete_join(r, g);
}

static void remove_member(struct bk_group_registry *r,
                          struct bk_group *g,
                          struct bk_group_member *m)
{
    cancel_waiters(r, m, BK_KERR_UNKNOWN_MEMBER_ID);
    unlink_member(g, m);
    bk_gi_member_free(m);
    g->dirty = true;
    switch (g->state) {
        case BK_GROUP_STABLE:
        case BK_GROUP_COMPLETING_REBALANCE:
            bk_gi_prepare_rebalance(r, g);
            try_complete_join(r, g);
            break;
        case BK_GROUP_PREPARING_REBALANCE:
            try_complete_join(r, g);
            break;
        default:
            break;
    }
}

/* ---- JoinGroup ---- */

struct bk_group_member *bk_gi_member_new(struct bk_group_registry *r,
                                         const struct bk_group_join_req *req)
{
    struct bk_group_member *m = bk_calloc(1, sizeof(*m));
    if (m == NULL) {
        return NULL;
    }
    char id[320];
    int cl = req->client_id.len > 0 ? req->client_id.len : 0;
    if (cl > 200) {
        cl = 200;
    }
    uint64_t a = next_rand(r), b = next_rand(r);
    /* Kafka's shape: "<client.id>-<uuid>" (or the instance id for static
     * members, KIP-345). */
    const char *prefix = req->client_id.ptr;
    struct bk_str inst = req->instance_id;
    if (inst.len > 0) {
        prefix = inst.ptr;
        cl = inst.len > 200 ? 200 : inst.len;
    }
    snprintf(id, sizeof(id), "%.*s-%08x-%04x-4%03x-%04x-%012llx", cl,
             cl > 0 ? prefix : "", (unsigned)(a >> 32),
             (unsigned)(a >> 16) & 0xffff, (unsigned)a & 0xfff,
             (unsigned)(0x8000 | ((b >> 48) & 0x3fff)),
             (unsigned long long)(b & 0xffffffffffffULL));
    m->id = bk_strdup(id);
    m->instance_id = dup_str(req->instance_id);
    m->instance_id_len =
        req->instance_id.len > 0 ? (size_t)req->instance_id.len : 0;
    m->client_id =
        dup_str(req->client_id.len < 0 ? bk_str_c("") : req->client_id);
    m->client_host =
        dup_str(req->client_host.len < 0 ? bk_str_c("") : req->client_host);
    if (m->id == NULL || m->client_id == NULL || m->client_host == NULL ||
        (req->instance_id.len >= 0 && m->instance_id == NULL)) {
        bk_gi_member_free(m);
        return NULL;
    }
    return m;
}

static void update_member(struct bk_group_member *m,
                          const struct bk_group_join_req *req,
                          void *waiter,
                          int64_t now)
{
    /* On out of memory the old protocols stay: the rebalance still runs. */
    (void)set_protocols(m, req->protocols, req->nprotocols);
    m->session_timeout_ms = req->session_timeout_ms;
    m->rebalance_timeout_ms = req->rebalance_timeout_ms;
    m->join_waiter = waiter;
    m->expires_ms = now + req->session_timeout_ms;
}

static void join_new_member(struct bk_group_registry *r,
                            struct bk_group *g,
                            const struct bk_group_join_req *req,
                            void *waiter,
                            struct bk_group_member *m)
{
    int64_t now = now_mono(r);
    if (g->nmembers == 0) {
        char *pt = dup_str(req->protocol_type);
        if (pt != NULL) {
            bk_free(g->protocol_type);
            g->protocol_type = pt;
        }
    }
    if (bk_gi_member_add(g, m) != 0) {
        bk_gi_member_free(m);
        bk_gi_join_error(r, waiter, BK_KERR_UNKNOWN_SERVER_ERROR, NULL);
        return;
    }
    update_member(m, req, waiter, now);
    m->is_new = true;
    if (g->leader == NULL) {
        set_str(&g->leader, m->id);
    }
    g->dirty = true;
    if (g->state == BK_GROUP_PREPARING_REBALANCE && g->initial_delay) {
        /* Another member arrived during the initial delay: wait another
         * delay, bounded by the rebalance timeout. */
        int64_t next = now + r->cfg.initial_rebalance_delay_ms;
        g->initial_delay_max_ms =
            now + max_rebalance_timeout(g) > g->initial_delay_max_ms
                ? now + max_rebalance_timeout(g)
                : g->initial_delay_max_ms;
        g->rebalance_deadline_ms =
            next < g->initial_delay_max_ms ? next : g->initial_delay_max_ms;
    } else if (g->state != BK_GROUP_PREPARING_REBALANCE) {
        bk_gi_prepare_rebalance(r, g);
    }
    try_complete_join(r, g);
}

/* KIP-345: a static member rejoining with an unknown member id takes over
 * its instance's slot under a new member id; the old id is fenced. */
static void join_static_rejoin(struct bk_group_registry *r,
                               struct bk_group *g,
                               const struct bk_group_join_req *req,
                               void *waiter,
                               struct bk_group_member *old)
{
    struct bk_group_member *m = bk_gi_member_new(r, req);
    if (m == NULL) {
        bk_gi_join_error(r, waiter, BK_KERR_UNKNOWN_SERVER_ERROR, NULL);
        return;
    }
    cancel_waiters(r, old, BK_KERR_FENCED_INSTANCE_ID);
    bool was_leader = g->leader != NULL && strcmp(g->leader, old->id) == 0;
    bool same = same_protocols(old, req->protocols, req->nprotocols);
    /* Keep the slot: the new member inherits the assignment. */
    m->assignment = old->assignment;
    m->assignment_len = old->assignment_len;
    old->assignment = NULL;
    for (size_t i = 0; i < g->nmembers; i++) {
        if (g->members[i] == old) {
            g->members[i] = m;
        }
    }
    if (was_leader) {
        set_str(&g->leader, m->id);
    }
    bk_gi_member_free(old);
    int64_t now = now_mono(r);
    update_member(m, req, waiter, now);
    g->dirty = true;
    if (g->state == BK_GROUP_STABLE && same) {
        /* Nothing changed: answer with the current generation and no
         * rebalance; the leader is told to skip the assignment (v9+). */
        void *w = m->join_waiter;
        m->join_waiter = NULL;
        struct bk_group_join_result res = {
            .error = BK_KERR_NONE,
            .generation = g->generation,
            .protocol_type = g->protocol_type,
            .protocol_name = g->protocol,
            .leader = g->leader,
            .member_id = m->id,
            .skip_assignment = was_leader,
            .nmembers = was_leader ? g->nmembers : 0,
            .members = was_leader ? g->members : NULL,
        };
        r->hooks.join_done(r->hooks.data, w, &res);
        return;
    }
    if (g->state == BK_GROUP_PREPARING_REBALANCE) {
        try_complete_join(r, g);
        return;
    }
    bk_gi_prepare_rebalance(r, g);
    try_complete_join(r, g);
}

/* The group a JoinGroup goes to, created for a new member; NULL when the
 * join fails (answered). */
static struct bk_group *join_group(struct bk_group_registry *r,
                                   struct bk_str group_id,
                                   const struct bk_group_join_req *req,
                                   void *waiter)
{
    if (group_id.len <= 0) {
        bk_gi_join_error(r, waiter, BK_KERR_INVALID_GROUP_ID, NULL);
        return NULL;
    }
    if (req->session_timeout_ms < r->cfg.min_session_timeout_ms ||
        req->session_timeout_ms > r->cfg.max_session_timeout_ms) {
        bk_gi_join_error(r, waiter, BK_KERR_INVALID_SESSION_TIMEOUT, NULL);
        return NULL;
    }
    struct bk_group *g = bk_group_find(r, group_id);
    if (g == NULL) {
        if (req->member_id.len > 0) {
            bk_gi_join_error(r, waiter, BK_KERR_UNKNOWN_MEMBER_ID, NULL);
            return NULL;
        }
        g = bk_group_get(r, group_id);
        if (g == NULL) {
            bk_gi_join_error(r, waiter, BK_KERR_UNKNOWN_SERVER_ERROR, NULL);
            return NULL;
        }
    }
    if (g->state == BK_GROUP_DEAD) {
        bk_gi_join_error(r, waiter, BK_KERR_COORDINATOR_NOT_AVAILABLE, NULL);
        return NULL;
    }
    return g;
}

/* A join to a consumer group (KIP-848): true when it went to the consumer
 * group; false when the group was an empty consumer group, now classic. */
static bool join_consumer_group(struct bk_group_registry *r,
                                struct bk_group *g,
                                const struct bk_group_join_req *req,
                                void *waiter)
{
    if (g->consumer == NULL) {
        return false;
    }
    if (g->consumer->nmembers > 0) {
        /* KIP-848 migration: a classic member in a consumer group. */
        bk_cgroup_classic_join(r, g, req, waiter);
        return true;
    }
    /* An empty consumer group becomes classic again, as Kafka deletes it
     * and creates a classic one (offsets stay); its records are
     * tombstoned. */
    bk_cgroup_free(g->consumer);
    g->consumer = NULL;
    g->tombstone_consumer = true;
    return false;
}

/* A join without a member id: a static member rejoining, or a new
 * member (told its id first under KIP-394). */
static void join_unknown(struct bk_group_registry *r,
                         struct bk_group *g,
                         const struct bk_group_join_req *req,
                         void *waiter,
                         struct bk_group_member *stat)
{
    if (stat != NULL) {
        join_static_rejoin(r, g, req, waiter, stat);
        return;
    }
    if ((int64_t)(g->nmembers + g->npending) >= r->cfg.max_size) {
        bk_gi_join_error(r, waiter, BK_KERR_GROUP_MAX_SIZE_REACHED, NULL);
        return;
    }
    struct bk_group_member *m = bk_gi_member_new(r, req);
    if (m == NULL) {
        bk_gi_join_error(r, waiter, BK_KERR_UNKNOWN_SERVER_ERROR, NULL);
        return;
    }
    if (req->require_known_member && m->instance_id == NULL) {
        /* KIP-394: hand out the id and let the client come back with it,
         * so a retried join never leaves a ghost member. */
        if (pending_add(g, m->id, now_mono(r) + req->session_timeout_ms) != 0) {
            bk_gi_member_free(m);
            bk_gi_join_error(r, waiter, BK_KERR_UNKNOWN_SERVER_ERROR, NULL);
            return;
        }
        bk_gi_join_error(r, waiter, BK_KERR_MEMBER_ID_REQUIRED, m->id);
        bk_gi_member_free(m);
        return;
    }
    join_new_member(r, g, req, waiter, m);
}

/* A join with the id handed out by MEMBER_ID_REQUIRED (taken off the
 * pending list): the member joins under that id. */
static void join_pending(struct bk_group_registry *r,
                         struct bk_group *g,
                         const struct bk_group_join_req *req,
                         void *waiter)
{
    if ((int64_t)g->nmembers >= r->cfg.max_size) {
        bk_gi_join_error(r, waiter, BK_KERR_GROUP_MAX_SIZE_REACHED, NULL);
        return;
    }
    struct bk_group_member *m = bk_gi_member_new(r, req);
    if (m == NULL) {
        bk_gi_join_error(r, waiter, BK_KERR_UNKNOWN_SERVER_ERROR, NULL);
        return;
    }
    bk_free(m->id);
    m->id = dup_str(req->member_id);
    if (m->id == NULL) {
        bk_gi_member_free(m);
        bk_gi_join_error(r, waiter, BK_KERR_UNKNOWN_SERVER_ERROR, NULL);
        return;
    }
    join_new_member(r, g, req, waiter, m);
}

/* A join of a member of the group: parked, answered again, or the start
 * of a rebalance, depending on the group's state. */
static void join_known(struct bk_group_registry *r,
                       struct bk_group *g,
                       const struct bk_group_join_req *req,
                       void *waiter,
                       struct bk_group_member *known)
{
    if (known->join_waiter != NULL) {
        /* A retried join replaces the one parked (the client gave up on
         * it); answer the old one so its request completes. */
        void *w = known->join_waiter;
        known->join_waiter = NULL;
        bk_gi_join_error(r, w, BK_KERR_REBALANCE_IN_PROGRESS, known->id);
    }
    int64_t now = now_mono(r);
    bool same = same_protocols(known, req->protocols, req->nprotocols);
    bool leader = g->leader != NULL && strcmp(g->leader, known->id) == 0;
    switch (g->state) {
        case BK_GROUP_PREPARING_REBALANCE:
            update_member(known, req, waiter, now);
            try_complete_join(r, g);
            return;
        case BK_GROUP_COMPLETING_REBALANCE:
            if (same) {
                /* The member missed the join answer: send it again. */
                known->join_waiter = waiter;
                known->expires_ms = now + known->session_timeout_ms;
                answer_join(r, g, known);
                return;
            }
            update_member(known, req, waiter, now);
            bk_gi_prepare_rebalance(r, g);
            try_complete_join(r, g);
            return;
        case BK_GROUP_STABLE:
            if (leader || !same) {
                /* The leader rejoining asks for a new assignment (e.g. a
                 * metadata change); a follower with new metadata too. */
                update_member(known, req, waiter, now);
                bk_gi_prepare_rebalance(r, g);
                try_complete_join(r, g);
                return;
            }
            known->join_waiter = waiter;
            known->expires_ms = now + known->session_timeout_ms;
            answer_join(r, g, known);
            return;
        default:
            bk_gi_join_error(r, waiter, BK_KERR_UNKNOWN_MEMBER_ID, NULL);
            return;
    }
}

void bk_group_join(struct bk_group_registry *r,
                   struct bk_str group_id,
                   const struct bk_group_join_req *req,
                   void *waiter)
{
    struct bk_group *g = join_group(r, group_id, req, waiter);
    if (g == NULL || join_consumer_group(r, g, req, waiter)) {
        return;
    }
    bool unknown = req->member_id.len <= 0;
    struct bk_group_member *known =
        unknown ? NULL : find_member(g, req->member_id);
    struct bk_group_member *stat = find_static(g, req->instance_id);
    if (!supports_protocols(g, known != NULL ? known : stat, req->protocol_type,
                            req->protocols, req->nprotocols)) {
        bk_gi_join_error(r, waiter, BK_KERR_INCONSISTENT_GROUP_PROTOCOL, NULL);
        return;
    }
    if (unknown) {
        join_unknown(r, g, req, waiter, stat);
        return;
    }
    if (known == NULL && pending_take(g, req->member_id)) {
        join_pending(r, g, req, waiter);
        return;
    }
    if (stat != NULL && stat != known) {
        bk_gi_join_error(r, waiter, BK_KERR_FENCED_INSTANCE_ID, NULL);
        return;
    }
    if (known == NULL || g->state == BK_GROUP_EMPTY) {
        bk_gi_join_error(r, waiter, BK_KERR_UNKNOWN_MEMBER_ID, NULL);
        return;
    }
    join_known(r, g, req, waiter, known);
}

/* ---- SyncGroup ---- */

void bk_group_sync(struct bk_group_registry *r,
                   struct bk_str group_id,
                   const struct bk_group_sync_req *req,
                   void *waiter)
{
    struct bk_group *g = bk_group_find(r, group_id);
    if (g != NULL && g->consumer != NULL) {
        bk_cgroup_classic_sync(r, g, req, waiter);
        return;
    }
    if (g == NULL || g->state == BK_GROUP_EMPTY) {
        bk_gi_sync_error(r, waiter, BK_KERR_UNKNOWN_MEMBER_ID);
        return;
    }
    if (g->state == BK_GROUP_DEAD) {
        bk_gi_sync_error(r, waiter, BK_KERR_COORDINATOR_NOT_AVAILABLE);
        return;
    }
    struct bk_group_member *stat = find_static(g, req->instance_id);
    struct bk_group_member *m = find_member(g, req->member_id);
    if (req->instance_id.len >= 0 && stat != NULL && stat != m) {
        bk_gi_sync_error(r, waiter, BK_KERR_FENCED_INSTANCE_ID);
        return;
    }
    if (m == NULL) {
        bk_gi_sync_error(r, waiter, BK_KERR_UNKNOWN_MEMBER_ID);
        return;
    }
    if (req->generation != g->generation) {
        bk_gi_sync_error(r, waiter, BK_KERR_ILLEGAL_GENERATION);
        return;
    }
    if ((req->protocol_type.len >= 0 &&
         !str_is(req->protocol_type, g->protocol_type)) ||
        (req->protocol_name.len >= 0 &&
         !str_is(req->protocol_name, g->protocol))) {
        bk_gi_sync_error(r, waiter, BK_KERR_INCONSISTENT_GROUP_PROTOCOL);
        return;
    }
    int64_t now = now_mono(r);
    switch (g->state) {
        case BK_GROUP_PREPARING_REBALANCE:
            bk_gi_sync_error(r, waiter, BK_KERR_REBALANCE_IN_PROGRESS);
            return;
        case BK_GROUP_STABLE:
            m->expires_ms = now + m->session_timeout_ms;
            r->hooks.sync_done(r->hooks.data, waiter, BK_KERR_NONE,
                               g->protocol_type, g->protocol, m->assignment,
                               m->assignment_len);
            return;
        case BK_GROUP_COMPLETING_REBALANCE:
            break;
        default:
            bk_gi_sync_error(r, waiter, BK_KERR_UNKNOWN_MEMBER_ID);
            return;
    }
    if (m->sync_waiter != NULL) {
        void *w = m->sync_waiter;
        m->sync_waiter = NULL;
        bk_gi_sync_error(r, w, BK_KERR_REBALANCE_IN_PROGRESS);
    }
    m->sync_waiter = waiter;
    m->expires_ms = now + m->session_timeout_ms;
    if (g->leader == NULL || strcmp(g->leader, m->id) != 0) {
        return; /* followers wait for the leader's assignment */
    }
    for (size_t i = 0; i < g->nmembers; i++) {
        struct bk_group_member *gm = g->members[i];
        bk_free(gm->assignment);
        gm->assignment = NULL;
        gm->assignment_len = 0;
        for (size_t k = 0; k < req->nassignments; k++) {
            const struct bk_group_assignment_in *a = &req->assignments[k];
            if (!str_is(a->member_id, gm->id) || a->assignment.len <= 0) {
                continue;
            }
            gm->assignment = bk_malloc((size_t)a->assignment.len);
            if (gm->assignment != NULL) {
                memcpy(gm->assignment, a->assignment.ptr,
                       (size_t)a->assignment.len);
                gm->assignment_len = (size_t)a->assignment.len;
            }
            break;
        }
    }
    g->dirty = true;
    bk_gi_set_state(r, g, BK_GROUP_STABLE);
    for (size_t i = 0; i < g->nmembers; i++) {
        struct bk_group_member *gm = g->members[i];
        if (gm->sync_waiter != NULL) {
            void *w = gm->sync_waiter;
            gm->sync_waiter = NULL;
            r->hooks.sync_done(r->hooks.data, w, BK_KERR_NONE, g->protocol_type,
                               g->protocol, gm->assignment, gm->assignment_len);
        }
    }
}

/* ---- Heartbeat, LeaveGroup ---- */

static int16_t validate_member(const struct bk_group *g,
                               struct bk_str member_id,
                               struct bk_str instance_id,
                               struct bk_group_member **out)
{
    struct bk_group_member *m = find_member(g, member_id);
    if (instance_id.len >= 0) {
        struct bk_group_member *s = find_static(g, instance_id);
        if (s != NULL && s != m) {
            return BK_KERR_FENCED_INSTANCE_ID;
        }
    }
    if (m == NULL) {
        return BK_KERR_UNKNOWN_MEMBER_ID;
    }
    *out = m;
    return BK_KERR_NONE;
}

int16_t bk_group_heartbeat(struct bk_group_registry *r,
                           struct bk_str group_id,
                           struct bk_str member_id,
                           struct bk_str instance_id,
                           int32_t generation)
{
    struct bk_group *g = bk_group_find(r, group_id);
    if (g != NULL && g->consumer != NULL) {
        return bk_cgroup_classic_heartbeat(r, g, member_id, instance_id,
                                           generation);
    }
    if (g == NULL || g->state == BK_GROUP_EMPTY) {
        return BK_KERR_UNKNOWN_MEMBER_ID;
    }
    if (g->state == BK_GROUP_DEAD) {
        return BK_KERR_COORDINATOR_NOT_AVAILABLE;
    }
    struct bk_group_member *m = NULL;
    int16_t err = validate_member(g, member_id, instance_id, &m);
    if (err != 0) {
        return err;
    }
    if (generation != g->generation) {
        return BK_KERR_ILLEGAL_GENERATION;
    }
    m->expires_ms = now_mono(r) + m->session_timeout_ms;
    return g->state == BK_GROUP_PREPARING_REBALANCE
               ? BK_KERR_REBALANCE_IN_PROGRESS
               : BK_KERR_NONE;
}

int16_t bk_group_leave(struct bk_group_registry *r,
                       struct bk_str group_id,
                       struct bk_str member_id,
                       struct bk_str instance_id)
{
    struct bk_group *g = bk_group_find(r, group_id);
    if (g == NULL) {
        return BK_KERR_UNKNOWN_MEMBER_ID;
    }
    if (g->state == BK_GROUP_DEAD) {
        return BK_KERR_COORDINATOR_NOT_AVAILABLE;
    }
    if (g->consumer != NULL) {
        return bk_cgroup_classic_leave(r, g, member_id, instance_id);
    }
    struct bk_group_member *m = NULL;
    if (instance_id.len >= 0) {
        /* KIP-345: a static member leaves by instance id; a member id, if
         * given, must be the instance's current one. */
        m = find_static(g, instance_id);
        if (m == NULL) {
            return BK_KERR_UNKNOWN_MEMBER_ID;
        }
        if (member_id.len > 0 && !str_is(member_id, m->id)) {
            return BK_KERR_FENCED_INSTANCE_ID;
        }
    } else {
        if (pending_take(g, member_id)) {
            try_complete_join(r, g);
            return BK_KERR_NONE;
        }
        m = find_member(g, member_id);
        if (m == NULL) {
            return BK_KERR_UNKNOWN_MEMBER_ID;
        }
    }
    remove_member(r, g, m);
    return BK_KERR_NONE;
}

/* ---- offsets ---- */

static struct bk_group_offset *offset_find(const struct bk_group *g,
                                           struct bk_str topic,
                                           int32_t partition)
{
    for (size_t i = 0; i < g->noffsets; i++) {
        struct bk_group_offset *o = &g->offsets[i];
        if (o->partition == partition && str_is(topic, o->topic)) {
            return o;
        }
    }
    return NULL;
}

const struct bk_group_offset *bk_group_offset_get(const struct bk_group *g,
                                                  struct bk_str topic,
                                                  int32_t partition)
{
    return offset_find(g, topic, partition);
}

int bk_group_offset_put(struct bk_group *g,
                        struct bk_str topic,
                        int32_t partition,
                        int64_t offset,
                        int32_t leader_epoch,
                        struct bk_str metadata,
                        int64_t commit_ms,
                        int64_t expire_ms)
{
    struct bk_group_offset *o = offset_find(g, topic, partition);
    char *md = dup_str(metadata.len < 0 ? bk_str_c("") : metadata);
    if (md == NULL) {
        return BK_ENOMEM;
    }
    if (o == NULL) {
        if (g->noffsets == g->offsets_cap) {
            size_t cap = g->offsets_cap ? g->offsets_cap * 2 : 16;
            struct bk_group_offset *v =
                bk_realloc(g->offsets, cap * sizeof(*v));
            if (v == NULL) {
                bk_free(md);
                return BK_ENOMEM;
            }
            g->offsets = v;
            g->offsets_cap = cap;
        }
        o = &g->offsets[g->noffsets];
        memset(o, 0, sizeof(*o));
        o->topic = dup_str(topic.len < 0 ? bk_str_c("") : topic);
        if (o->topic == NULL) {
            bk_free(md);
            return BK_ENOMEM;
        }
        o->partition = partition;
        g->noffsets++;
    }
    bk_free(o->metadata);
    o->metadata = md;
    o->metadata_len = metadata.len > 0 ? (size_t)metadata.len : 0;
    o->offset = offset;
    o->leader_epoch = leader_epoch;
    o->commit_ms = commit_ms;
    o->expire_ms = expire_ms;
    return 0;
}

bool bk_group_offset_delete(struct bk_group *g,
                            struct bk_str topic,
                            int32_t partition)
{
    struct bk_group_offset *o = offset_find(g, topic, partition);
    if (o == NULL) {
        return false;
    }
    bk_free(o->topic);
    bk_free(o->metadata);
    *o = g->offsets[--g->noffsets];
    return true;
}

int16_t bk_group_commit_check(struct bk_group_registry *r,
                              struct bk_str group_id,
                              struct bk_str member_id,
                              struct bk_str instance_id,
                              int32_t generation,
                              int16_t api_version,
                              struct bk_group **out)
{
    if (group_id.len <= 0) {
        return BK_KERR_INVALID_GROUP_ID;
    }
    struct bk_group *g = bk_group_find(r, group_id);
    if (g == NULL) {
        if (generation >= 0) {
            /* A member of a group this coordinator does not know (it was
             * deleted or expired). Kafka 4.1 answers GROUP_ID_NOT_FOUND
             * from v9 (both protocols' clients understand it) and
             * ILLEGAL_GENERATION before, which makes a member rejoin. */
            return api_version >= 9 ? BK_KERR_GROUP_ID_NOT_FOUND
                                    : BK_KERR_ILLEGAL_GENERATION;
        }
        /* Generation -1 is a commit from outside group management (an
         * admin reset, or a consumer using assign()), whatever member id
         * it carries: Kafka creates a simple group for it. */
        g = bk_group_get(r, group_id);
        if (g == NULL) {
            return BK_KERR_UNKNOWN_SERVER_ERROR;
        }
        *out = g;
        return BK_KERR_NONE;
    }
    if (g->state == BK_GROUP_DEAD) {
        return BK_KERR_COORDINATOR_NOT_AVAILABLE;
    }
    if (g->consumer != NULL) {
        /* KIP-848: the member epoch stands in for the generation. */
        if (generation < 0 && g->consumer->nmembers == 0) {
            *out = g;
            return BK_KERR_NONE;
        }
        int16_t cerr =
            bk_cgroup_commit_check(g, member_id, generation, api_version);
        if (cerr == BK_KERR_NONE) {
            *out = g;
        }
        return cerr;
    }
    if (generation < 0 && g->state == BK_GROUP_EMPTY) {
        *out = g; /* a simple consumer or an admin reset */
        return BK_KERR_NONE;
    }
    if (g->state == BK_GROUP_COMPLETING_REBALANCE) {
        return BK_KERR_REBALANCE_IN_PROGRESS;
    }
    struct bk_group_member *m = NULL;
    int16_t err = validate_member(g, member_id, instance_id, &m);
    if (err != 0) {
        return err;
    }
    if (generation != g->generation) {
        return BK_KERR_ILLEGAL_GENERATION;
    }
    m->expires_ms = now_mono(r) + m->session_timeout_ms;
    *out = g;
    return BK_KERR_NONE;
}

bool bk_group_subscribed(const struct bk_group *g, struct bk_str topic)
{
    if (g->consumer != NULL) {
        for (size_t i = 0; i < g->consumer->nmembers; i++) {
            const struct bk_cmember *m = g->consumer->members[i];
            for (size_t k = 0; k < m->ntopics; k++) {
                if (bk_str_eq_c(topic, m->topics[k])) {
                    return true;
                }
            }
            /* Topics its regex matched at the last target computation. */
            for (size_t k = 0; k < m->nresolved; k++) {
                if (bk_str_eq_c(topic, m->resolved[k])) {
                    return true;
                }
            }
        }
        return false;
    }
    if (g->protocol_type == NULL || strcmp(g->protocol_type, "consumer") != 0) {
        return false;
    }
    for (size_t i = 0; i < g->nmembers; i++) {
        const struct bk_group_protocol *p =
            bk_group_member_protocol(g, g->members[i]);
        if (p == NULL || p->metadata_len < 2) {
            continue;
        }
        struct bk_rd rd;
        bk_rd_init(&rd, p->metadata, p->metadata_len);
        int16_t v = bk_rd_i16(&rd);
        /* Subscription v0-3: topics is an array of INT16 strings. */
        int32_t n = bk_rd_i32(&rd);
        for (int32_t k = 0; k < n && rd.err == 0 && v >= 0; k++) {
            struct bk_str t = bk_rd_str(&rd, false, false);
            if (rd.err == 0 && t.len == topic.len &&
                memcmp(t.ptr, topic.ptr, (size_t)t.len) == 0) {
                return true;
            }
        }
    }
    return false;
}

int16_t bk_group_delete_check(struct bk_group_registry *r,
                              struct bk_str group_id,
                              struct bk_group **out)
{
    struct bk_group *g = bk_group_find(r, group_id);
    if (g == NULL || g->state == BK_GROUP_DEAD) {
        return BK_KERR_GROUP_ID_NOT_FOUND;
    }
    if (g->state != BK_GROUP_EMPTY) {
        return BK_KERR_NON_EMPTY_GROUP;
    }
    *out = g;
    return BK_KERR_NONE;
}

/* ---- timers ---- */

static void retention(struct bk_group_registry *r)
{
    int64_t wall = now_wall(r);
    for (struct bk_group *g = r->groups, *next; g != NULL; g = next) {
        next = g->next;
        if (g->state != BK_GROUP_EMPTY) {
            continue;
        }
        /* KIP-211: offsets of a group with a protocol expire once it has
         * been empty for the retention period; those of a simple group
         * (no protocol) a retention period after their commit. */
        for (size_t i = 0; i < g->noffsets;) {
            struct bk_group_offset *o = &g->offsets[i];
            int64_t base = g->protocol_type != NULL && g->protocol_type[0]
                               ? g->state_ms
                               : o->commit_ms;
            bool expired = o->expire_ms >= 0
                               ? wall >= o->expire_ms
                               : wall >= base + r->cfg.offsets_retention_ms;
            if (!expired) {
                i++;
                continue;
            }
            if (r->hooks.offset_expired != NULL) {
                r->hooks.offset_expired(r->hooks.data, g, o->topic,
                                        o->partition);
            }
            bk_free(o->topic);
            bk_free(o->metadata);
            *o = g->offsets[--g->noffsets];
        }
        if (g->noffsets == 0 && g->nmembers == 0 && g->npending == 0 &&
            wall >= g->state_ms + r->cfg.offsets_retention_ms) {
            if (r->hooks.group_expired != NULL) {
                r->hooks.group_expired(r->hooks.data, g);
            }
            bk_group_remove(r, g);
        }
    }
}

/* The timers of one group that are due at now: pending members that never
 * joined, the rebalance deadline and session expiry (Kafka's per-member
 * heartbeat timers, and the join and revocation timers). */
static void group_timers(struct bk_group_registry *r,
                         struct bk_group *g,
                         int64_t now)
{
    if (g->consumer != NULL) {
        bk_cgroup_tick(r, g);
        return;
    }
    for (size_t i = 0; i < g->npending;) {
        if (now >= g->pending[i].expires_ms) {
            bk_free(g->pending[i].id);
            g->pending[i] = g->pending[--g->npending];
            try_complete_join(r, g);
            continue;
        }
        i++;
    }
    if (g->state == BK_GROUP_PREPARING_REBALANCE &&
        now >= g->rebalance_deadline_ms) {
        complete_join(r, g);
    }
    /* Session expiry; a member parked in JoinGroup is alive. */
    for (size_t i = 0; i < g->nmembers;) {
        struct bk_group_member *m = g->members[i];
        if (m->join_waiter == NULL && now >= m->expires_ms &&
            g->state != BK_GROUP_EMPTY) {
            remove_member(r, g, m);
            i = 0;
            continue;
        }
        i++;
    }
}

void bk_group_expire(struct bk_group_registry *r, struct bk_str group_id)
{
    struct bk_group *g = bk_group_find(r, group_id);
    if (g != NULL && g->state != BK_GROUP_DEAD) {
        group_timers(r, g, now_mono(r));
    }
}

void bk_group_tick(struct bk_group_registry *r)
{
    int64_t now = now_mono(r);
    for (struct bk_group *g = r->groups; g != NULL; g = g->next) {
        group_timers(r, g, now);
    }
    if (now >= r->next_retention_ms) {
        r->next_retention_ms = now + RETENTION_CHECK_MS;
        retention(r);
    }
}

/* ---- loading ---- */

int bk_group_load_meta(struct bk_group_registry *r,
                       struct bk_str group_id,
                       const struct bk_gr_group_meta *ml)
{
    struct bk_group *g = bk_group_get(r, group_id);
    if (g == NULL) {
        return BK_ENOMEM;
    }
    bk_gi_clear_members(r, g, BK_KERR_NOT_COORDINATOR);
    char *pt = dup_str(ml->protocol_type);
    bk_free(g->protocol_type);
    g->protocol_type = pt;
    bk_free(g->protocol);
    g->protocol = dup_str(ml->protocol);
    bk_free(g->leader);
    g->leader = dup_str(ml->leader);
    g->generation = ml->generation;
    int64_t now = now_mono(r);
    for (size_t i = 0; i < ml->nmembers; i++) {
        const struct bk_group_member_load *in = &ml->members[i];
        struct bk_group_member *m = bk_calloc(1, sizeof(*m));
        if (m == NULL) {
            return BK_ENOMEM;
        }
        m->id = dup_str(in->member_id);
        m->instance_id = dup_str(in->instance_id);
        m->instance_id_len =
            in->instance_id.len > 0 ? (size_t)in->instance_id.len : 0;
        m->client_id = dup_str(in->client_id);
        m->client_host = dup_str(in->client_host);
        m->session_timeout_ms = in->session_timeout_ms;
        m->rebalance_timeout_ms = in->rebalance_timeout_ms;
        m->expires_ms = now + in->session_timeout_ms;
        struct bk_group_proto_in p = {
            .name = g->protocol != NULL ? bk_str_c(g->protocol) : bk_str_c(""),
            .metadata = in->subscription,
        };
        int rv = set_protocols(m, &p, 1);
        if (in->assignment.len > 0) {
            m->assignment = bk_malloc((size_t)in->assignment.len);
            if (m->assignment != NULL) {
                memcpy(m->assignment, in->assignment.ptr,
                       (size_t)in->assignment.len);
                m->assignment_len = (size_t)in->assignment.len;
            }
        }
        if (rv != 0 || m->id == NULL || bk_gi_member_add(g, m) != 0) {
            bk_gi_member_free(m);
            return BK_ENOMEM;
        }
    }
    g->state = g->nmembers > 0 ? BK_GROUP_STABLE : BK_GROUP_EMPTY;
    g->state_ms = ml->state_ms >= 0 ? ml->state_ms : now_wall(r);
    g->dirty = false;
    return 0;
}

void bk_group_load_tombstone(struct bk_group_registry *r,
                             struct bk_str group_id)
{
    struct bk_group *g = bk_group_find(r, group_id);
    if (g == NULL) {
        return;
    }
    if (g->noffsets == 0) {
        bk_group_remove(r, g);
        return;
    }
    bk_gi_clear_members(r, g, BK_KERR_NOT_COORDINATOR);
    g->state = BK_GROUP_EMPTY;
    g->generation = 0;
}
