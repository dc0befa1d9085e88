#include "cluster/quotas.h"

#include <arpa/inet.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "common/err.h"
#include "common/heap.h"

static const char *const type_names[BK_MD_QE_N] = { "user", "client-id", "ip" };

static const char *const key_names[BK_MD_QK_N] = {
    "producer_byte_rate",       "consumer_byte_rate",
    "request_percentage",       "controller_mutation_rate",
    "connection_creation_rate",
};

const char *bk_md_qe_type_name(unsigned type)
{
    return type < BK_MD_QE_N ? type_names[type] : "unknown";
}

static bool str_is(struct bk_str s, const char *c)
{
    return s.len >= 0 && (size_t)s.len == strlen(c) &&
           memcmp(s.ptr, c, (size_t)s.len) == 0;
}

int bk_md_qe_type_parse(struct bk_str s)
{
    for (int i = 0; i < BK_MD_QE_N; i++) {
        if (str_is(s, type_names[i])) {
            return i;
        }
    }
    return -1;
}

const char *bk_md_qkey_name(unsigned key)
{
    return key < BK_MD_QK_N ? key_names[key] : "unknown";
}

int bk_md_qkey_parse(struct bk_str s)
{
    for (int i = 0; i < BK_MD_QK_N; i++) {
        if (str_is(s, key_names[i])) {
            return i;
        }
    }
    return -1;
}

int bk_md_qentity_cmp(const struct bk_md_qentity *a,
                      const struct bk_md_qentity *b)
{
    if (a->set != b->set) {
        return a->set < b->set ? -1 : 1;
    }
    if (a->dflt != b->dflt) {
        return a->dflt < b->dflt ? -1 : 1;
    }
    for (unsigned t = 0; t < BK_MD_QE_N; t++) {
        if ((a->set & (1u << t)) == 0 || (a->dflt & (1u << t)) != 0) {
            continue;
        }
        int c = strcmp(a->name[t], b->name[t]);
        if (c != 0) {
            return c;
        }
    }
    return 0;
}

/* Index of e in q, or -(insertion point) - 1. */
static long find(const struct bk_md_quotas *q, const struct bk_md_qentity *e)
{
    long lo = 0, hi = (long)q->n - 1;
    while (lo <= hi) {
        long mid = lo + (hi - lo) / 2;
        int c = bk_md_qentity_cmp(&q->v[mid].e, e);
        if (c == 0) {
            return mid;
        }
        if (c < 0) {
            lo = mid + 1;
        } else {
            hi = mid - 1;
        }
    }
    return -lo - 1;
}

const struct bk_md_qentry *bk_md_quotas_find(const struct bk_md_quotas *q,
                                             const struct bk_md_qentity *e)
{
    if (q == NULL || q->n == 0) {
        return NULL;
    }
    long i = find(q, e);
    return i >= 0 ? &q->v[i] : NULL;
}

void bk_md_quotas_ref(struct bk_md_quotas *q)
{
    if (q != NULL) {
        atomic_fetch_add_explicit(&q->refs, 1, memory_order_relaxed);
    }
}

static void entity_free(struct bk_md_qentity *e)
{
    for (unsigned t = 0; t < BK_MD_QE_N; t++) {
        bk_free((char *)e->name[t]);
        e->name[t] = NULL;
    }
}

static void quotas_free(struct bk_md_quotas *q)
{
    for (size_t i = 0; i < q->n; i++) {
        entity_free(&q->v[i].e);
    }
    bk_free(q->v);
    bk_free(q);
}

void bk_md_quotas_release(struct bk_md_quotas *q)
{
    if (q != NULL &&
        atomic_fetch_sub_explicit(&q->refs, 1, memory_order_acq_rel) == 1) {
        quotas_free(q);
    }
}

/* A copy of e whose names are owned. */
static int entity_dup(struct bk_md_qentity *dst, const struct bk_md_qentity *e)
{
    *dst = *e;
    for (unsigned t = 0; t < BK_MD_QE_N; t++) {
        dst->name[t] = NULL;
    }
    for (unsigned t = 0; t < BK_MD_QE_N; t++) {
        if (e->name[t] != NULL) {
            dst->name[t] = bk_strdup(e->name[t]);
            if (dst->name[t] == NULL) {
                entity_free(dst);
                return BK_ENOMEM;
            }
        }
    }
    return 0;
}

/* A private copy of q (which may be NULL), with room for one more. */
static struct bk_md_quotas *quotas_clone(const struct bk_md_quotas *q)
{
    struct bk_md_quotas *c = bk_calloc(1, sizeof(*c));
    if (c == NULL) {
        return NULL;
    }
    atomic_init(&c->refs, 1);
    c->draft = true;
    size_t n = q != NULL ? q->n : 0;
    c->cap = n + 4;
    c->v = bk_calloc(c->cap, sizeof(*c->v));
    if (c->v == NULL) {
        bk_free(c);
        return NULL;
    }
    for (size_t i = 0; i < n; i++) {
        c->v[i] = q->v[i];
        if (entity_dup(&c->v[i].e, &q->v[i].e) != 0) {
            quotas_free(c);
            return NULL;
        }
        c->n++;
    }
    return c;
}

/* The entity of a record, names borrowed from it (NUL-terminated copies in
 * buf). Returns false for an entity apply cannot hold (an unknown or
 * repeated type, a name with a NUL, which the controller refuses). */
static bool rec_entity(const struct bk_md_client_quota_rec *r,
                       struct bk_md_qentity *e,
                       char *buf,
                       size_t cap)
{
    memset(e, 0, sizeof(*e));
    size_t used = 0;
    for (unsigned i = 0; i < r->n_entity; i++) {
        int t = bk_md_qe_type_parse(r->entity[i].type);
        if (t < 0 || (e->set & (1u << t)) != 0) {
            return false;
        }
        e->set |= (uint8_t)(1u << t);
        struct bk_str nm = r->entity[i].name;
        if (nm.len < 0) {
            e->dflt |= (uint8_t)(1u << t);
            continue;
        }
        if (used + (size_t)nm.len + 1 > cap ||
            memchr(nm.ptr, '\0', (size_t)nm.len) != NULL) {
            return false;
        }
        memcpy(buf + used, nm.ptr, (size_t)nm.len);
        buf[used + (size_t)nm.len] = '\0';
        e->name[t] = buf + used;
        used += (size_t)nm.len + 1;
    }
    return e->set != 0;
}

static int insert(struct bk_md_quotas *q,
                  long at,
                  const struct bk_md_qentity *e)
{
    if (q->n == q->cap) {
        size_t cap = q->cap * 2 + 4;
        struct bk_md_qentry *v = bk_realloc(q->v, cap * sizeof(*v));
        if (v == NULL) {
            return BK_ENOMEM;
        }
        q->v = v;
        q->cap = cap;
    }
    struct bk_md_qentry ne = { 0 };
    if (entity_dup(&ne.e, e) != 0) {
        return BK_ENOMEM;
    }
    memmove(&q->v[at + 1], &q->v[at], (q->n - (size_t)at) * sizeof(*q->v));
    q->v[at] = ne;
    q->n++;
    return 0;
}

static void erase(struct bk_md_quotas *q, long at)
{
    entity_free(&q->v[at].e);
    memmove(&q->v[at], &q->v[at + 1], (q->n - (size_t)at - 1) * sizeof(*q->v));
    q->n--;
}

static int apply_entity(struct bk_md_quotas **qp,
                        const struct bk_md_qentity *ep,
                        int key,
                        const struct bk_md_client_quota_rec *r);

int bk_md_quotas_apply(struct bk_md_quotas **qp,
                       const struct bk_md_client_quota_rec *r)
{
    int key = bk_md_qkey_parse(r->key);
    if (key < 0) {
        return 1;
    }
    size_t cap = 1;
    for (unsigned i = 0; i < r->n_entity; i++) {
        cap +=
            (size_t)(r->entity[i].name.len < 0 ? 0 : r->entity[i].name.len) + 1;
    }
    char *names = bk_malloc(cap);
    if (names == NULL) {
        return BK_ENOMEM;
    }
    struct bk_md_qentity e;
    int rv = rec_entity(r, &e, names, cap) ? apply_entity(qp, &e, key, r) : 1;
    bk_free(names);
    return rv;
}

static int apply_entity(struct bk_md_quotas **qp,
                        const struct bk_md_qentity *ep,
                        int key,
                        const struct bk_md_client_quota_rec *r)
{
    struct bk_md_qentity e = *ep;
    struct bk_md_quotas *q = *qp;
    if (q == NULL || !q->draft) {
        struct bk_md_quotas *c = quotas_clone(q);
        if (c == NULL) {
            return BK_ENOMEM;
        }
        bk_md_quotas_release(q);
        *qp = q = c;
    }
    long i = find(q, &e);
    if (r->remove) {
        if (i >= 0) {
            q->v[i].has &= (uint8_t) ~(1u << key);
            if (q->v[i].has == 0) {
                erase(q, i);
            }
        }
        return 0;
    }
    if (i < 0) {
        i = -i - 1;
        if (insert(q, i, &e) != 0) {
            return BK_ENOMEM;
        }
    }
    q->v[i].has |= (uint8_t)(1u << key);
    q->v[i].v[key] = r->value;
    return 0;
}

size_t bk_md_quotas_nrecords(const struct bk_md_quotas *q)
{
    size_t n = 0;
    for (size_t i = 0; q != NULL && i < q->n; i++) {
        for (unsigned k = 0; k < BK_MD_QK_N; k++) {
            n += ((unsigned)q->v[i].has >> k) & 1u;
        }
    }
    return n;
}

void bk_md_qentity_to_rec(const struct bk_md_qentity *e,
                          struct bk_md_client_quota_rec *r)
{
    r->n_entity = 0;
    for (unsigned t = 0; t < BK_MD_QE_N; t++) {
        if ((e->set & (1u << t)) == 0) {
            continue;
        }
        r->entity[r->n_entity].type = bk_str_c(type_names[t]);
        r->entity[r->n_entity].name =
            (e->dflt & (1u << t)) != 0 ? BK_STR_NULL : bk_str_c(e->name[t]);
        r->n_entity++;
    }
}

size_t bk_md_quotas_records(const struct bk_md_quotas *q,
                            struct bk_md_rec *recs)
{
    size_t k = 0;
    for (size_t i = 0; q != NULL && i < q->n; i++) {
        for (unsigned key = 0; key < BK_MD_QK_N; key++) {
            if ((q->v[i].has & (1u << key)) == 0) {
                continue;
            }
            struct bk_md_rec *r = &recs[k++];
            memset(r, 0, sizeof(*r));
            r->type = BK_MD_REC_CLIENT_QUOTA;
            bk_md_qentity_to_rec(&q->v[i].e, &r->u.client_quota);
            r->u.client_quota.key = bk_str_c(key_names[key]);
            r->u.client_quota.value = q->v[i].v[key];
        }
    }
    return k;
}

/* Kafka accepts an ip entity whose name is an IPv4 or IPv6 address. */
static bool is_ip(const char *s)
{
    unsigned char buf[16];
    return inet_pton(AF_INET, s, buf) == 1 || inet_pton(AF_INET6, s, buf) == 1;
}

int bk_md_qentity_parse(const struct bk_str *types,
                        const struct bk_str *names,
                        size_t n,
                        struct bk_arena *arena,
                        struct bk_md_qentity *e,
                        char *msg)
{
    memset(e, 0, sizeof(*e));
    if (n == 0) {
        snprintf(msg, BK_MD_QMSG, "Invalid empty client quota entity");
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        int t = bk_md_qe_type_parse(types[i]);
        if (t < 0) {
            snprintf(
                msg, BK_MD_QMSG, "Unhandled client quota entity type: %.*s",
                types[i].len > 64 ? 64 : (types[i].len < 0 ? 0 : types[i].len),
                types[i].ptr != NULL ? types[i].ptr : "");
            return -1;
        }
        if ((e->set & (1u << t)) != 0) {
            snprintf(msg, BK_MD_QMSG, "Duplicate %s entity type",
                     type_names[t]);
            return -1;
        }
        e->set |= (uint8_t)(1u << t);
        if (names[i].len < 0) {
            e->dflt |= (uint8_t)(1u << t);
            continue;
        }
        /* Names are kept as C strings: one with a NUL inside would
         * stand for another entity. */
        if (memchr(names[i].ptr, '\0', (size_t)names[i].len) != NULL) {
            snprintf(msg, BK_MD_QMSG, "Invalid %s entity name", type_names[t]);
            return -1;
        }
        char *nm = bk_arena_alloc(arena, (size_t)names[i].len + 1);
        if (nm == NULL) {
            snprintf(msg, BK_MD_QMSG, "Out of memory");
            return -1;
        }
        memcpy(nm, names[i].ptr, (size_t)names[i].len);
        nm[names[i].len] = '\0';
        e->name[t] = nm;
    }
    if ((e->set & (1u << BK_MD_QE_IP)) != 0) {
        if (e->set != (1u << BK_MD_QE_IP)) {
            snprintf(msg, BK_MD_QMSG,
                     "Invalid quota entity combination, IP entity should "
                     "not be combined with User or ClientId");
            return -1;
        }
        if (e->name[BK_MD_QE_IP] != NULL && !is_ip(e->name[BK_MD_QE_IP])) {
            snprintf(msg, BK_MD_QMSG,
                     "%s is not a valid IP or resolvable host.",
                     e->name[BK_MD_QE_IP]);
            return -1;
        }
    }
    return 0;
}

int bk_md_qvalue_check(const struct bk_md_qentity *e,
                       int key,
                       double value,
                       char *msg)
{
    bool ip = (e->set & (1u << BK_MD_QE_IP)) != 0;
    if (key < 0 || (ip != (key == BK_MD_QK_CONNECTION_CREATION_RATE))) {
        snprintf(msg, BK_MD_QMSG, "Invalid configuration key for %s entity",
                 ip ? "an ip" : "a user or client-id");
        return -1;
    }
    if (!isfinite(value) || value < 0) {
        snprintf(msg, BK_MD_QMSG,
                 "Invalid value %g for configuration key %s: must be a "
                 "non-negative number",
                 value, key_names[key]);
        return -1;
    }
    /* Kafka types the byte rates as long and connection_creation_rate as
     * int: the value must then be integral (ClientQuotaControlManager). */
    bool integral = key == BK_MD_QK_PRODUCER_BYTE_RATE ||
                    key == BK_MD_QK_CONSUMER_BYTE_RATE ||
                    key == BK_MD_QK_CONNECTION_CREATION_RATE;
    if (integral && fabs(value - floor(value + 1e-6)) > 1e-6) {
        snprintf(msg, BK_MD_QMSG, "Configuration %s must be a %s value",
                 key_names[key],
                 key == BK_MD_QK_CONNECTION_CREATION_RATE ? "Int" : "Long");
        return -1;
    }
    if (key == BK_MD_QK_CONNECTION_CREATION_RATE && value > INT32_MAX) {
        snprintf(msg, BK_MD_QMSG, "Configuration %s must be a Int value",
                 key_names[key]);
        return -1;
    }
    return 0;
}

/* Kafka's eight levels for (user, client id), most specific first: each
 * row says whether the user part is absent, the user's name or the
 * default, and likewise the client id. */
enum part { ABSENT, NAMED, DEFAULT };
static const uint8_t levels[8][2] = {
    { NAMED, NAMED },   { NAMED, DEFAULT },   { NAMED, ABSENT },
    { DEFAULT, NAMED }, { DEFAULT, DEFAULT }, { DEFAULT, ABSENT },
    { ABSENT, NAMED },  { ABSENT, DEFAULT },
};

static void level_entity(unsigned level,
                         const char *user,
                         const char *client_id,
                         struct bk_md_qentity *e)
{
    memset(e, 0, sizeof(*e));
    const char *names[2] = { user, client_id };
    for (unsigned t = 0; t < 2; t++) {
        uint8_t p = levels[level][t];
        if (p == ABSENT) {
            continue;
        }
        e->set |= (uint8_t)(1u << t);
        if (p == DEFAULT) {
            e->dflt |= (uint8_t)(1u << t);
        } else {
            e->name[t] = names[t];
        }
    }
}

uint8_t bk_md_quota_resolve(const struct bk_md_quotas *q,
                            const char *user,
                            const char *client_id,
                            double v[BK_MD_QK_N],
                            uint8_t level[BK_MD_QK_N])
{
    uint8_t found = 0;
    /* connection_creation_rate belongs to ip entities, resolved elsewhere. */
    const uint8_t wanted = (uint8_t)((1u << BK_MD_QK_N) - 1) &
                           (uint8_t) ~(1u << BK_MD_QK_CONNECTION_CREATION_RATE);
    for (unsigned l = 0; l < 8 && found != wanted; l++) {
        struct bk_md_qentity e;
        level_entity(l, user, client_id, &e);
        const struct bk_md_qentry *en = bk_md_quotas_find(q, &e);
        if (en == NULL) {
            continue;
        }
        for (unsigned k = 0; k < BK_MD_QK_N; k++) {
            uint8_t bit = (uint8_t)(1u << k);
            if ((wanted & bit) != 0 && (found & bit) == 0 &&
                (en->has & bit) != 0) {
                found |= bit;
                v[k] = en->v[k];
                if (level != NULL) {
                    level[k] = (uint8_t)(l + 1);
                }
            }
        }
    }
    return found;
}
