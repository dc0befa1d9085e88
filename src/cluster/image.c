#include "cluster/image.h"

#include <sched.h>
#include <stdlib.h>
#include <string.h>

#include "common/assert.h"
#include "common/err.h"
#include "common/hash.h"
#include "common/heap.h"

/* ---- configs ---------------------------------------------------------- */

static void configs_free(struct bk_md_configs *c)
{
    for (size_t i = 0; i < c->n; i++) {
        bk_free(c->kv[i].name);
        bk_free(c->kv[i].value);
    }
    bk_free(c->kv);
    c->kv = NULL;
    c->n = 0;
}

static int configs_copy(struct bk_md_configs *dst,
                        const struct bk_md_configs *src)
{
    dst->n = 0;
    dst->kv = NULL;
    if (src->n == 0) {
        return 0;
    }
    dst->kv = bk_calloc(src->n, sizeof(*dst->kv));
    if (dst->kv == NULL) {
        return BK_ENOMEM;
    }
    for (size_t i = 0; i < src->n; i++) {
        dst->kv[i].name = bk_strdup(src->kv[i].name);
        dst->kv[i].value = bk_strdup(src->kv[i].value);
        dst->n++;
        if (dst->kv[i].name == NULL || dst->kv[i].value == NULL) {
            configs_free(dst);
            return BK_ENOMEM;
        }
    }
    return 0;
}

/* Compares the C string a with the counted string b (a wire name: not
 * NUL-terminated, and it may hold NUL bytes), bytes first, then lengths, the
 * order strcmp gives names without NULs. strncmp() would stop at a NUL in b
 * and then read a past its end. */
static int str_cmp_n(const char *a, const char *b, size_t blen)
{
    size_t alen = strlen(a);
    size_t n = alen < blen ? alen : blen;
    int c = n > 0 ? memcmp(a, b, n) : 0;
    if (c == 0) {
        c = (alen > blen) - (alen < blen);
    }
    return c;
}

/* Binary search by name: returns the index, or -(insertion point) - 1. */
static long configs_find(const struct bk_md_configs *c,
                         const char *name,
                         size_t len)
{
    size_t lo = 0;
    size_t hi = c->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        const char *k = c->kv[mid].name;
        int cmp = str_cmp_n(k, name, len);
        if (cmp == 0) {
            return (long)mid;
        }
        if (cmp < 0) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    return -(long)lo - 1;
}

const char *bk_md_configs_get(const struct bk_md_configs *c, const char *name)
{
    long i = configs_find(c, name, strlen(name));
    return i >= 0 ? c->kv[i].value : NULL;
}

/* Sets (value.len >= 0) or deletes (null value) one config. */
static int configs_put(struct bk_md_configs *c,
                       struct bk_str name,
                       struct bk_str value)
{
    long i = configs_find(c, name.ptr, (size_t)name.len);
    if (value.len < 0) {
        if (i >= 0) {
            bk_free(c->kv[i].name);
            bk_free(c->kv[i].value);
            memmove(&c->kv[i], &c->kv[i + 1],
                    (c->n - (size_t)i - 1) * sizeof(*c->kv));
            c->n--;
        }
        return 0;
    }
    char *v = bk_strndup(value.ptr, (size_t)value.len);
    if (v == NULL) {
        return BK_ENOMEM;
    }
    if (i >= 0) {
        bk_free(c->kv[i].value);
        c->kv[i].value = v;
        return 0;
    }
    size_t at = (size_t)(-(i + 1));
    char *k = bk_strndup(name.ptr, (size_t)name.len);
    struct bk_md_kv *kv = bk_realloc(c->kv, (c->n + 1) * sizeof(*kv));
    if (k == NULL || kv == NULL) {
        bk_free(k);
        bk_free(v);
        if (kv != NULL) {
            c->kv = kv;
        }
        return BK_ENOMEM;
    }
    c->kv = kv;
    memmove(&kv[at + 1], &kv[at], (c->n - at) * sizeof(*kv));
    kv[at].name = k;
    kv[at].value = v;
    c->n++;
    return 0;
}

/* ---- topics ----------------------------------------------------------- */

static void partition_free(struct bk_md_partition *p)
{
    bk_free(p->replicas);
    bk_free(p->isr);
    bk_free(p->adding);
    bk_free(p->removing);
    bk_free(p->elr);
    bk_free(p->last_known_elr);
}

static void topic_free(struct bk_md_topic *t)
{
    for (int32_t i = 0; i < t->n_partitions; i++) {
        partition_free(&t->partitions[i]);
    }
    bk_free(t->partitions);
    configs_free(&t->configs);
    bk_free(t->name);
    bk_free(t);
}

static void topic_release(struct bk_md_topic *t)
{
    if (atomic_fetch_sub_explicit(&t->refs, 1, memory_order_acq_rel) == 1) {
        topic_free(t);
    }
}

static int32_t *i32_dup(const int32_t *v, int32_t n)
{
    int32_t *out = bk_malloc(sizeof(*out) * (size_t)n + 1);
    if (out != NULL && n > 0) {
        memcpy(out, v, sizeof(*out) * (size_t)n);
    }
    return out;
}

static int partition_set(struct bk_md_partition *p,
                         const struct bk_md_partition_rec *r)
{
    int32_t *replicas = i32_dup(r->replicas, r->n_replicas);
    int32_t *isr = i32_dup(r->isr, r->n_isr);
    /* Most partitions are not being reassigned: no allocation for them
     * (a topic's partitions arrive one record each, and allocations per
     * partition are counted, test_fsm.c). */
    int32_t *adding = r->n_adding > 0 ? i32_dup(r->adding, r->n_adding) : NULL;
    int32_t *removing =
        r->n_removing > 0 ? i32_dup(r->removing, r->n_removing) : NULL;
    int32_t *elr = r->n_elr > 0 ? i32_dup(r->elr, r->n_elr) : NULL;
    int32_t *lke = r->n_last_known_elr > 0
                       ? i32_dup(r->last_known_elr, r->n_last_known_elr)
                       : NULL;
    if (replicas == NULL || isr == NULL ||
        (adding == NULL && r->n_adding > 0) ||
        (removing == NULL && r->n_removing > 0) ||
        (elr == NULL && r->n_elr > 0) ||
        (lke == NULL && r->n_last_known_elr > 0)) {
        bk_free(replicas);
        bk_free(isr);
        bk_free(adding);
        bk_free(removing);
        bk_free(elr);
        bk_free(lke);
        return BK_ENOMEM;
    }
    partition_free(p);
    p->replicas = replicas;
    p->n_replicas = r->n_replicas;
    p->isr = isr;
    p->n_isr = r->n_isr;
    p->leader = r->leader;
    p->leader_epoch = r->leader_epoch;
    p->partition_epoch = r->partition_epoch;
    p->leader_recovery_state = r->leader_recovery_state;
    p->adding = adding;
    p->n_adding = r->n_adding;
    p->removing = removing;
    p->n_removing = r->n_removing;
    p->elr = elr;
    p->n_elr = r->n_elr;
    p->last_known_elr = lke;
    p->n_last_known_elr = r->n_last_known_elr;
    return 0;
}

static struct bk_md_topic *topic_clone(const struct bk_md_topic *src)
{
    struct bk_md_topic *t = bk_calloc(1, sizeof(*t));
    if (t == NULL) {
        return NULL;
    }
    atomic_init(&t->refs, 1);
    t->draft = true;
    t->id = src->id;
    t->id_hash = src->id_hash;
    t->name = bk_strdup(src->name);
    if (t->name == NULL) {
        goto err;
    }
    if (src->n_partitions > 0) {
        t->partitions =
            bk_calloc((size_t)src->n_partitions, sizeof(*t->partitions));
        if (t->partitions == NULL) {
            goto err;
        }
        t->cap_partitions = src->n_partitions;
    }
    for (int32_t i = 0; i < src->n_partitions; i++) {
        const struct bk_md_partition *sp = &src->partitions[i];
        struct bk_md_partition_rec r = {
            .n_replicas = sp->n_replicas,
            .replicas = sp->replicas,
            .n_isr = sp->n_isr,
            .isr = sp->isr,
            .leader = sp->leader,
            .leader_epoch = sp->leader_epoch,
            .partition_epoch = sp->partition_epoch,
            .leader_recovery_state = sp->leader_recovery_state,
            .n_adding = sp->n_adding,
            .adding = sp->adding,
            .n_removing = sp->n_removing,
            .removing = sp->removing,
            .n_elr = sp->n_elr,
            .elr = sp->elr,
            .n_last_known_elr = sp->n_last_known_elr,
            .last_known_elr = sp->last_known_elr,
        };
        t->n_partitions++;
        if (partition_set(&t->partitions[i], &r) != 0) {
            goto err;
        }
    }
    if (configs_copy(&t->configs, &src->configs) != 0) {
        goto err;
    }
    return t;
err:
    topic_free(t);
    return NULL;
}

/* ---- image ------------------------------------------------------------ */

struct bk_md_image *bk_md_image_new(void)
{
    struct bk_md_image *img = bk_calloc(1, sizeof(*img));
    if (img != NULL) {
        atomic_init(&img->refs, 1);
    }
    return img;
}

void bk_md_image_ref(struct bk_md_image *img)
{
    atomic_fetch_add_explicit(&img->refs, 1, memory_order_relaxed);
}

static void broker_free(struct bk_md_broker *b)
{
    bk_free(b->host);
    bk_free(b->rack);
}

static void image_free(struct bk_md_image *img)
{
    for (size_t i = 0; i < img->n_brokers; i++) {
        broker_free(&img->brokers[i]);
    }
    bk_free(img->brokers);
    for (size_t i = 0; i < img->n_controllers; i++) {
        bk_free(img->controllers[i].host);
    }
    bk_free(img->controllers);
    bk_free(img->cluster_id);
    bk_acl_set_release(img->acls);
    for (size_t i = 0; i < img->n_topics; i++) {
        topic_release(img->by_name[i]);
    }
    bk_free(img->by_name);
    bk_free(img->by_id);
    for (size_t i = 0; i < img->n_broker_configs; i++) {
        bk_free(img->broker_configs[i].resource);
        configs_free(&img->broker_configs[i].configs);
    }
    bk_free(img->broker_configs);
    bk_md_quotas_release(img->quotas);
    bk_md_scram_free(&img->scram);
    bk_free(img);
}

void bk_md_image_release(struct bk_md_image *img)
{
    if (img == NULL) {
        return;
    }
    if (atomic_fetch_sub_explicit(&img->refs, 1, memory_order_acq_rel) == 1) {
        image_free(img);
    }
}

/* Index of the topic named name in by_name, or -(insertion point) - 1. */
static long find_name(const struct bk_md_image *img,
                      const char *name,
                      size_t len)
{
    size_t lo = 0;
    size_t hi = img->n_topics;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = str_cmp_n(img->by_name[mid]->name, name, len);
        if (c == 0) {
            return (long)mid;
        }
        if (c < 0) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    return -(long)lo - 1;
}

static long find_id(const struct bk_md_image *img, const struct bk_uuid *id)
{
    size_t lo = 0;
    size_t hi = img->n_topics;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = memcmp(img->by_id[mid]->id.b, id->b, sizeof(id->b));
        if (c == 0) {
            return (long)mid;
        }
        if (c < 0) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    return -(long)lo - 1;
}

static long find_broker(const struct bk_md_image *img, int32_t id)
{
    size_t lo = 0;
    size_t hi = img->n_brokers;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int32_t b = img->brokers[mid].id;
        if (b == id) {
            return (long)mid;
        }
        if (b < id) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    return -(long)lo - 1;
}

static long find_res(const struct bk_md_image *img, const char *res, size_t len)
{
    size_t lo = 0;
    size_t hi = img->n_broker_configs;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = str_cmp_n(img->broker_configs[mid].resource, res, len);
        if (c == 0) {
            return (long)mid;
        }
        if (c < 0) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    return -(long)lo - 1;
}

const struct bk_md_topic *bk_md_image_topic(const struct bk_md_image *img,
                                            const char *name,
                                            size_t len)
{
    long i = find_name(img, name, len);
    return i >= 0 ? img->by_name[i] : NULL;
}

const struct bk_md_topic *bk_md_image_topic_by_id(const struct bk_md_image *img,
                                                  const struct bk_uuid *id)
{
    long i = find_id(img, id);
    return i >= 0 ? img->by_id[i] : NULL;
}

const struct bk_md_broker *bk_md_image_broker(const struct bk_md_image *img,
                                              int32_t id)
{
    long i = find_broker(img, id);
    return i >= 0 ? &img->brokers[i] : NULL;
}

const struct bk_md_controller *bk_md_image_controller(
    const struct bk_md_image *img,
    int32_t id)
{
    for (size_t i = 0; i < img->n_controllers; i++) {
        if (img->controllers[i].id == id) {
            return &img->controllers[i];
        }
    }
    return NULL;
}

size_t bk_md_image_live_brokers(const struct bk_md_image *img)
{
    size_t n = 0;
    for (size_t i = 0; i < img->n_brokers; i++) {
        n += img->brokers[i].fenced ? 0 : 1;
    }
    return n;
}

const struct bk_md_partition *bk_md_topic_partition(const struct bk_md_topic *t,
                                                    int32_t partition)
{
    if (partition < 0 || partition >= t->n_partitions) {
        return NULL;
    }
    return &t->partitions[partition];
}

const struct bk_md_configs *bk_md_image_broker_configs(
    const struct bk_md_image *img,
    const char *resource)
{
    long i = find_res(img, resource, strlen(resource));
    return i >= 0 ? &img->broker_configs[i].configs : NULL;
}

/* ---- apply ------------------------------------------------------------ */

/* A shallow-ish copy of base: brokers and broker configs deep, topics by
 * reference. */
/* Copies the cluster id and the controller endpoints of base. */
static int fork_controllers(struct bk_md_image *img,
                            const struct bk_md_image *base)
{
    if (base->cluster_id != NULL) {
        img->cluster_id = bk_strdup(base->cluster_id);
        if (img->cluster_id == NULL) {
            return BK_ENOMEM;
        }
    }
    if (base->n_controllers == 0) {
        return 0;
    }
    img->controllers =
        bk_calloc(base->n_controllers, sizeof(*img->controllers));
    if (img->controllers == NULL) {
        return BK_ENOMEM;
    }
    for (size_t i = 0; i < base->n_controllers; i++) {
        img->controllers[i] = base->controllers[i];
        img->controllers[i].host = bk_strdup(base->controllers[i].host);
        img->n_controllers++;
        if (img->controllers[i].host == NULL) {
            return BK_ENOMEM;
        }
    }
    return 0;
}

static struct bk_md_image *image_fork(const struct bk_md_image *base)
{
    struct bk_md_image *img = bk_md_image_new();
    if (img == NULL) {
        return NULL;
    }
    img->offset = base->offset;
    img->next_producer_id = base->next_producer_id;
    img->n_skipped = base->n_skipped;
    img->features_finalized = base->features_finalized;
    memcpy(img->features, base->features, sizeof(img->features));
    img->quotas = base->quotas;
    bk_md_quotas_ref(img->quotas);
    if (fork_controllers(img, base) != 0 ||
        bk_md_scram_copy(&img->scram, &base->scram) != 0) {
        goto err;
    }
    img->acls = base->acls;
    if (img->acls != NULL) {
        bk_acl_set_ref(img->acls);
    }
    if (base->n_brokers > 0) {
        img->brokers = bk_calloc(base->n_brokers, sizeof(*img->brokers));
        if (img->brokers == NULL) {
            goto err;
        }
        for (size_t i = 0; i < base->n_brokers; i++) {
            const struct bk_md_broker *s = &base->brokers[i];
            struct bk_md_broker *d = &img->brokers[i];
            *d = *s;
            d->host = bk_strdup(s->host);
            d->rack = s->rack != NULL ? bk_strdup(s->rack) : NULL;
            img->n_brokers++;
            if (d->host == NULL || (s->rack != NULL && d->rack == NULL)) {
                goto err;
            }
        }
    }
    if (base->n_topics > 0) {
        img->by_name = bk_malloc(base->n_topics * sizeof(*img->by_name));
        img->by_id = bk_malloc(base->n_topics * sizeof(*img->by_id));
        if (img->by_name == NULL || img->by_id == NULL) {
            goto err;
        }
        memcpy(img->by_name, base->by_name,
               base->n_topics * sizeof(*img->by_name));
        memcpy(img->by_id, base->by_id, base->n_topics * sizeof(*img->by_id));
        for (size_t i = 0; i < base->n_topics; i++) {
            atomic_fetch_add_explicit(&img->by_name[i]->refs, 1,
                                      memory_order_relaxed);
        }
        img->n_topics = base->n_topics;
    }
    if (base->n_broker_configs > 0) {
        img->broker_configs =
            bk_calloc(base->n_broker_configs, sizeof(*img->broker_configs));
        if (img->broker_configs == NULL) {
            goto err;
        }
        for (size_t i = 0; i < base->n_broker_configs; i++) {
            struct bk_md_res_configs *d = &img->broker_configs[i];
            const struct bk_md_res_configs *s = &base->broker_configs[i];
            img->n_broker_configs++;
            d->resource = bk_strdup(s->resource);
            if (d->resource == NULL ||
                configs_copy(&d->configs, &s->configs) != 0) {
                goto err;
            }
        }
    }
    return img;
err:
    image_free(img);
    return NULL;
}

/* Grows a pointer array by one slot. */
static int grow_topics(struct bk_md_image *img)
{
    size_t n = img->n_topics + 1;
    struct bk_md_topic **a = bk_realloc(img->by_name, n * sizeof(*a));
    if (a == NULL) {
        return BK_ENOMEM;
    }
    img->by_name = a;
    a = bk_realloc(img->by_id, n * sizeof(*a));
    if (a == NULL) {
        return BK_ENOMEM;
    }
    img->by_id = a;
    return 0;
}

/* Makes by_name[i] private to this draft (copy-on-write). */
static struct bk_md_topic *topic_mut(struct bk_md_image *img, long i)
{
    struct bk_md_topic *t = img->by_name[i];
    if (t->draft) {
        return t;
    }
    struct bk_md_topic *c = topic_clone(t);
    if (c == NULL) {
        return NULL;
    }
    long j = find_id(img, &t->id);
    img->by_name[i] = c;
    img->by_id[j] = c;
    topic_release(t);
    return c;
}

static bool str_ok(struct bk_str s)
{
    return s.len >= 0 && memchr(s.ptr, '\0', (size_t)s.len) == NULL;
}

/* Returns 1 when the record was skipped, 0 when applied, or BK_ENOMEM. */
static int apply_broker(struct bk_md_image *img,
                        const struct bk_md_broker_rec *r)
{
    if (!str_ok(r->host) || (r->rack.len >= 0 && !str_ok(r->rack))) {
        return 1;
    }
    long i = find_broker(img, r->id);
    if (i >= 0 && img->brokers[i].epoch > r->epoch) {
        return 1; /* a stale registration */
    }
    struct bk_md_broker b = {
        .id = r->id,
        .epoch = r->epoch,
        .port = r->port,
        .fenced = r->fenced,
        .incarnation = r->incarnation,
        .in_controlled_shutdown = r->in_controlled_shutdown,
    };
    b.host = bk_strndup(r->host.ptr, (size_t)r->host.len);
    if (r->rack.len >= 0) {
        b.rack = bk_strndup(r->rack.ptr, (size_t)r->rack.len);
    }
    if (b.host == NULL || (r->rack.len >= 0 && b.rack == NULL)) {
        broker_free(&b);
        return BK_ENOMEM;
    }
    if (i >= 0) {
        broker_free(&img->brokers[i]);
        img->brokers[i] = b;
        return 0;
    }
    struct bk_md_broker *a =
        bk_realloc(img->brokers, (img->n_brokers + 1) * sizeof(*a));
    if (a == NULL) {
        broker_free(&b);
        return BK_ENOMEM;
    }
    img->brokers = a;
    size_t at = (size_t)(-(i + 1));
    memmove(&a[at + 1], &a[at], (img->n_brokers - at) * sizeof(*a));
    a[at] = b;
    img->n_brokers++;
    return 0;
}

static int apply_topic(struct bk_md_image *img, const struct bk_md_topic_rec *r)
{
    if (!str_ok(r->name) || r->name.len == 0 || bk_uuid_is_zero(&r->id)) {
        return 1;
    }
    long ni = find_name(img, r->name.ptr, (size_t)r->name.len);
    long ii = find_id(img, &r->id);
    if (ni >= 0 || ii >= 0) {
        return 1; /* lost a race with another create */
    }
    if (grow_topics(img) != 0) {
        return BK_ENOMEM;
    }
    struct bk_md_topic *t = bk_calloc(1, sizeof(*t));
    if (t == NULL) {
        return BK_ENOMEM;
    }
    t->name = bk_strndup(r->name.ptr, (size_t)r->name.len);
    if (t->name == NULL) {
        bk_free(t);
        return BK_ENOMEM;
    }
    atomic_init(&t->refs, 1);
    t->id = r->id;
    t->id_hash = bk_hash64(r->id.b, sizeof(r->id.b));
    t->draft = true;
    size_t n = img->n_topics;
    size_t na = (size_t)(-(ni + 1));
    size_t ia = (size_t)(-(ii + 1));
    memmove(&img->by_name[na + 1], &img->by_name[na],
            (n - na) * sizeof(*img->by_name));
    img->by_name[na] = t;
    memmove(&img->by_id[ia + 1], &img->by_id[ia],
            (n - ia) * sizeof(*img->by_id));
    img->by_id[ia] = t;
    img->n_topics++;
    return 0;
}

static int apply_partition(struct bk_md_image *img,
                           const struct bk_md_partition_rec *r)
{
    long ii = find_id(img, &r->topic_id);
    if (ii < 0 || r->partition < 0 || r->n_replicas <= 0) {
        return 1;
    }
    const struct bk_md_topic *cur = img->by_id[ii];
    if (r->partition > cur->n_partitions ||
        r->partition >= BK_MD_MAX_PARTITIONS) {
        return 1;
    }
    long ni = find_name(img, cur->name, strlen(cur->name));
    struct bk_md_topic *t = topic_mut(img, ni);
    if (t == NULL) {
        return BK_ENOMEM;
    }
    if (r->partition == t->n_partitions) {
        /* Grow geometrically: a topic's partitions arrive one record at a
         * time, and growing by one entry copied the array per record, which
         * took 44 s for 32767 partitions where realloc always moves (ASan). */
        if (t->n_partitions == t->cap_partitions) {
            int32_t cap = t->cap_partitions < 4 ? 4 : t->cap_partitions * 2;
            struct bk_md_partition *a =
                bk_realloc(t->partitions, (size_t)cap * sizeof(*a));
            if (a == NULL) {
                return BK_ENOMEM;
            }
            t->partitions = a;
            t->cap_partitions = cap;
        }
        struct bk_md_partition *a = t->partitions;
        memset(&a[t->n_partitions], 0, sizeof(*a));
        if (partition_set(&a[t->n_partitions], r) != 0) {
            return BK_ENOMEM;
        }
        t->n_partitions++;
        return 0;
    }
    if (r->partition_epoch <= cur->partitions[r->partition].partition_epoch) {
        /* Every change moves the partition epoch forward. A record that
         * does not was decided on an image that another change, committed
         * first, has since replaced (two proposals from the same image: an
         * AlterPartition and a fence): applying it would undo that change,
         * even take a leader epoch back. It is skipped; its proposer
         * decides again from the newer image. */
        return 1;
    }
    return partition_set(&t->partitions[r->partition], r);
}

static int apply_config(struct bk_md_image *img,
                        const struct bk_md_config_rec *r)
{
    if (!str_ok(r->resource) || !str_ok(r->name) || r->name.len == 0 ||
        (r->value.len >= 0 && !str_ok(r->value))) {
        return 1;
    }
    if (r->resource_type == BK_MD_RES_TOPIC) {
        long ni = find_name(img, r->resource.ptr, (size_t)r->resource.len);
        if (ni < 0) {
            return 1;
        }
        struct bk_md_topic *t = topic_mut(img, ni);
        if (t == NULL) {
            return BK_ENOMEM;
        }
        return configs_put(&t->configs, r->name, r->value);
    }
    if (r->resource_type != BK_MD_RES_BROKER) {
        return 1;
    }
    long i = find_res(img, r->resource.ptr, (size_t)r->resource.len);
    if (i < 0) {
        if (r->value.len < 0) {
            return 0; /* deleting from an empty set */
        }
        size_t n = img->n_broker_configs;
        struct bk_md_res_configs *a =
            bk_realloc(img->broker_configs, (n + 1) * sizeof(*a));
        if (a == NULL) {
            return BK_ENOMEM;
        }
        img->broker_configs = a;
        char *res = bk_strndup(r->resource.ptr, (size_t)r->resource.len);
        if (res == NULL) {
            return BK_ENOMEM;
        }
        size_t at = (size_t)(-(i + 1));
        memmove(&a[at + 1], &a[at], (n - at) * sizeof(*a));
        a[at].resource = res;
        a[at].configs.n = 0;
        a[at].configs.kv = NULL;
        img->n_broker_configs++;
        i = (long)at;
    }
    struct bk_md_res_configs *rc = &img->broker_configs[i];
    int rv = configs_put(&rc->configs, r->name, r->value);
    if (rv == 0 && rc->configs.n == 0) {
        bk_free(rc->resource);
        configs_free(&rc->configs);
        memmove(rc, rc + 1,
                (img->n_broker_configs - (size_t)i - 1) * sizeof(*rc));
        img->n_broker_configs--;
    }
    return rv;
}

static int apply_remove_topic(struct bk_md_image *img,
                              const struct bk_md_remove_topic_rec *r)
{
    long ii = find_id(img, &r->topic_id);
    if (ii < 0) {
        return 1;
    }
    struct bk_md_topic *t = img->by_id[ii];
    long ni = find_name(img, t->name, strlen(t->name));
    size_t n = img->n_topics;
    memmove(&img->by_id[ii], &img->by_id[ii + 1],
            (n - (size_t)ii - 1) * sizeof(*img->by_id));
    memmove(&img->by_name[ni], &img->by_name[ni + 1],
            (n - (size_t)ni - 1) * sizeof(*img->by_name));
    img->n_topics--;
    topic_release(t);
    return 0;
}

static int apply_producer_ids(struct bk_md_image *img,
                              const struct bk_md_producer_ids_rec *r)
{
    if (r->first_id != img->next_producer_id || r->count <= 0 ||
        r->first_id > INT64_MAX - r->count) {
        return 1; /* a block allocated from a stale image */
    }
    img->next_producer_id = r->first_id + r->count;
    return 0;
}

static int apply_feature(struct bk_md_image *img,
                         const struct bk_md_feature_rec *r)
{
    int f = r->name.len > 0
                ? bk_md_feature_find(r->name.ptr, (size_t)r->name.len)
                : -1;
    if (f < 0 || r->level < 0) {
        return 1; /* written by a newer brokerd, or damaged */
    }
    img->features[f] = r->level;
    img->features_finalized = true;
    return 0;
}

/* The cluster id is written once; a second one is skipped (a node of
 * another cluster must not rename this one). */
static int apply_cluster(struct bk_md_image *img,
                         const struct bk_md_cluster_rec *r)
{
    if (img->cluster_id != NULL || r->cluster_id.len <= 0 ||
        !str_ok(r->cluster_id)) {
        return 1;
    }
    img->cluster_id = bk_strndup(r->cluster_id.ptr, (size_t)r->cluster_id.len);
    return img->cluster_id != NULL ? 0 : BK_ENOMEM;
}

static int apply_controller(struct bk_md_image *img,
                            const struct bk_md_controller_rec *r)
{
    if (!str_ok(r->host) || r->host.len == 0 || r->port <= 0 ||
        r->port > 65535 || r->id < 0) {
        return 1;
    }
    char *host = bk_strndup(r->host.ptr, (size_t)r->host.len);
    if (host == NULL) {
        return BK_ENOMEM;
    }
    size_t at = 0;
    while (at < img->n_controllers && img->controllers[at].id < r->id) {
        at++;
    }
    if (at == img->n_controllers || img->controllers[at].id != r->id) {
        struct bk_md_controller *a =
            bk_realloc(img->controllers, (img->n_controllers + 1) * sizeof(*a));
        if (a == NULL) {
            bk_free(host);
            return BK_ENOMEM;
        }
        img->controllers = a;
        memmove(&a[at + 1], &a[at], (img->n_controllers - at) * sizeof(*a));
        a[at].host = NULL;
        img->n_controllers++;
    }
    struct bk_md_controller *c = &img->controllers[at];
    bk_free(c->host);
    *c = (struct bk_md_controller){ .id = r->id,
                                    .incarnation = r->incarnation,
                                    .host = host,
                                    .port = r->port };
    return 0;
}

/* The image's ACL set, private to this apply (copied when shared). */
static int acls_mut(struct bk_md_image *img)
{
    if (img->acls == NULL) {
        img->acls = bk_acl_set_new();
        return img->acls != NULL ? 0 : BK_ENOMEM;
    }
    return bk_acl_set_own(&img->acls);
}

static int apply_acl(struct bk_md_image *img, const struct bk_md_acl_rec *r)
{
    if (!str_ok(r->name) || !str_ok(r->principal) || !str_ok(r->host)) {
        return 1;
    }
    struct bk_acl a = {
        .res_type = r->res_type,
        .pattern = r->pattern,
        .op = r->op,
        .perm = r->perm,
        .name = r->name.ptr,
        .name_len = (size_t)r->name.len,
        .principal = r->principal.ptr,
        .principal_len = (size_t)r->principal.len,
        .host = r->host.ptr,
        .host_len = (size_t)r->host.len,
    };
    memcpy(a.id, r->id.b, sizeof(a.id));
    /* What the controller would refuse is skipped, so that a bad record
     * never becomes an ACL no one could name. */
    if (bk_acl_invalid(&a) != NULL) {
        return 1;
    }
    int rv = acls_mut(img);
    return rv != 0 ? rv : bk_acl_set_add(img->acls, &a);
}

static int apply_remove_acl(struct bk_md_image *img,
                            const struct bk_md_remove_acl_rec *r)
{
    if (img->acls == NULL) {
        return 1;
    }
    int rv = acls_mut(img);
    return rv != 0 ? rv : bk_acl_set_remove(img->acls, r->id.b);
}

static int apply_one(struct bk_md_image *img, const struct bk_md_rec *rec)
{
    switch (rec->type) {
        case BK_MD_REC_BROKER:
            return apply_broker(img, &rec->u.broker);
        case BK_MD_REC_TOPIC:
            return apply_topic(img, &rec->u.topic);
        case BK_MD_REC_PARTITION:
            return apply_partition(img, &rec->u.partition);
        case BK_MD_REC_CONFIG:
            return apply_config(img, &rec->u.config);
        case BK_MD_REC_REMOVE_TOPIC:
            return apply_remove_topic(img, &rec->u.remove_topic);
        case BK_MD_REC_PRODUCER_IDS:
            return apply_producer_ids(img, &rec->u.producer_ids);
        case BK_MD_REC_FEATURE:
            return apply_feature(img, &rec->u.feature);
        case BK_MD_REC_CLUSTER:
            return apply_cluster(img, &rec->u.cluster);
        case BK_MD_REC_CONTROLLER:
            return apply_controller(img, &rec->u.controller);
        case BK_MD_REC_CLIENT_QUOTA:
            return bk_md_quotas_apply(&img->quotas, &rec->u.client_quota);
        case BK_MD_REC_SCRAM:
        case BK_MD_REC_REMOVE_SCRAM:
            return bk_md_scram_apply(&img->scram, rec);
        case BK_MD_REC_ACL:
            return apply_acl(img, &rec->u.acl);
        case BK_MD_REC_REMOVE_ACL:
            return apply_remove_acl(img, &rec->u.remove_acl);
        default:
            return 1;
    }
}

int bk_md_image_apply(const struct bk_md_image *base,
                      const struct bk_md_rec *recs,
                      size_t n,
                      uint8_t *skipped,
                      struct bk_md_image **out)
{
    struct bk_md_image *img = image_fork(base);
    if (img == NULL) {
        return BK_ENOMEM;
    }
    for (size_t i = 0; i < n; i++) {
        int rv = apply_one(img, &recs[i]);
        if (rv < 0) {
            image_free(img);
            return rv;
        }
        if (skipped != NULL) {
            skipped[i] = (uint8_t)rv;
        }
        img->n_skipped += rv;
        img->offset++;
    }
    /* Topics built by this apply become shared and immutable from here. */
    for (size_t i = 0; i < img->n_topics; i++) {
        /* Only touch our own drafts: shared topics are being read. */
        if (img->by_name[i]->draft) {
            img->by_name[i]->draft = false;
        }
    }
    if (img->quotas != NULL && img->quotas->draft) {
        img->quotas->draft = false;
    }
    *out = img;
    return 0;
}

/* ---- snapshot --------------------------------------------------------- */

static struct bk_str view(const char *s)
{
    return bk_str_c(s);
}

int bk_md_image_to_records(const struct bk_md_image *img,
                           struct bk_arena *arena,
                           struct bk_md_rec **out,
                           size_t *n_out)
{
    size_t n = img->n_brokers + img->n_controllers + 1 + img->scram.n +
               (img->features_finalized ? BK_MD_N_FEATURES : 0) +
               bk_acl_set_count(img->acls);
    for (size_t i = 0; i < img->n_broker_configs; i++) {
        n += img->broker_configs[i].configs.n;
    }
    for (size_t i = 0; i < img->n_topics; i++) {
        const struct bk_md_topic *t = img->by_name[i];
        n += 1 + (size_t)t->n_partitions + t->configs.n;
    }
    n += bk_md_quotas_nrecords(img->quotas);
    struct bk_md_rec *recs = bk_arena_alloc(arena, (n + 1) * sizeof(*recs));
    if (recs == NULL) {
        return BK_ENOMEM;
    }
    size_t k = 0;
    for (unsigned f = 0; img->features_finalized && f < BK_MD_N_FEATURES; f++) {
        struct bk_md_rec *r = &recs[k++];
        r->type = BK_MD_REC_FEATURE;
        r->u.feature.name = view(bk_md_feature_def(f)->name);
        r->u.feature.level = img->features[f];
    }
    if (img->cluster_id != NULL) {
        struct bk_md_rec *r = &recs[k++];
        r->type = BK_MD_REC_CLUSTER;
        r->u.cluster.cluster_id = view(img->cluster_id);
    }
    for (size_t i = 0; i < img->n_controllers; i++) {
        const struct bk_md_controller *c = &img->controllers[i];
        struct bk_md_rec *r = &recs[k++];
        r->type = BK_MD_REC_CONTROLLER;
        r->u.controller = (struct bk_md_controller_rec){
            .id = c->id,
            .incarnation = c->incarnation,
            .host = view(c->host),
            .port = c->port,
        };
    }
    for (size_t i = 0; i < img->n_brokers; i++) {
        const struct bk_md_broker *b = &img->brokers[i];
        struct bk_md_rec *r = &recs[k++];
        r->type = BK_MD_REC_BROKER;
        r->u.broker = (struct bk_md_broker_rec){
            .id = b->id,
            .epoch = b->epoch,
            .host = view(b->host),
            .port = b->port,
            .rack = view(b->rack),
            .fenced = b->fenced,
            .incarnation = b->incarnation,
            .in_controlled_shutdown = b->in_controlled_shutdown,
        };
    }
    for (size_t i = 0; i < img->n_broker_configs; i++) {
        const struct bk_md_res_configs *rc = &img->broker_configs[i];
        for (size_t j = 0; j < rc->configs.n; j++) {
            struct bk_md_rec *r = &recs[k++];
            r->type = BK_MD_REC_CONFIG;
            r->u.config = (struct bk_md_config_rec){
                .resource_type = BK_MD_RES_BROKER,
                .resource = view(rc->resource),
                .name = view(rc->configs.kv[j].name),
                .value = view(rc->configs.kv[j].value),
            };
        }
    }
    for (size_t i = 0; i < img->n_topics; i++) {
        const struct bk_md_topic *t = img->by_name[i];
        struct bk_md_rec *r = &recs[k++];
        r->type = BK_MD_REC_TOPIC;
        r->u.topic.name = view(t->name);
        r->u.topic.id = t->id;
        for (int32_t p = 0; p < t->n_partitions; p++) {
            const struct bk_md_partition *pp = &t->partitions[p];
            r = &recs[k++];
            r->type = BK_MD_REC_PARTITION;
            r->u.partition = (struct bk_md_partition_rec){
                .topic_id = t->id,
                .partition = p,
                .n_replicas = pp->n_replicas,
                .replicas = pp->replicas,
                .n_isr = pp->n_isr,
                .isr = pp->isr,
                .leader = pp->leader,
                .leader_epoch = pp->leader_epoch,
                .partition_epoch = pp->partition_epoch,
                .leader_recovery_state = pp->leader_recovery_state,
                .n_adding = pp->n_adding,
                .adding = pp->adding,
                .n_removing = pp->n_removing,
                .removing = pp->removing,
                .n_elr = pp->n_elr,
                .elr = pp->elr,
                .n_last_known_elr = pp->n_last_known_elr,
                .last_known_elr = pp->last_known_elr,
            };
        }
        for (size_t j = 0; j < t->configs.n; j++) {
            r = &recs[k++];
            r->type = BK_MD_REC_CONFIG;
            r->u.config = (struct bk_md_config_rec){
                .resource_type = BK_MD_RES_TOPIC,
                .resource = view(t->name),
                .name = view(t->configs.kv[j].name),
                .value = view(t->configs.kv[j].value),
            };
        }
    }
    k += bk_md_quotas_records(img->quotas, &recs[k]);
    k += bk_md_scram_to_records(&img->scram, &recs[k]);
    for (size_t i = 0; i < bk_acl_set_count(img->acls); i++) {
        const struct bk_acl *a = bk_acl_set_at(img->acls, i);
        struct bk_md_rec *r = &recs[k++];
        r->type = BK_MD_REC_ACL;
        r->u.acl = (struct bk_md_acl_rec){
            .res_type = a->res_type,
            .name = view(a->name),
            .pattern = a->pattern,
            .principal = view(a->principal),
            .host = view(a->host),
            .op = a->op,
            .perm = a->perm,
        };
        memcpy(r->u.acl.id.b, a->id, sizeof(a->id));
    }
    *out = recs;
    *n_out = k;
    return 0;
}

#define SNAP_MAGIC   0x424b4d53u /* "BKMS" */
#define SNAP_VERSION 1
#define SNAP_HEADER  (4 + 1 + 8 + 8 + 8)

int bk_md_image_snapshot(const struct bk_md_image *img,
                         void *(*alloc)(size_t),
                         void **out,
                         size_t *out_len)
{
    struct bk_arena arena;
    bk_arena_init(&arena, 64 * 1024, 0);
    struct bk_md_rec *recs;
    size_t n;
    int rv = bk_md_image_to_records(img, &arena, &recs, &n);
    if (rv != 0) {
        goto out;
    }
    size_t len = SNAP_HEADER + bk_md_batch_header_size(n);
    for (size_t i = 0; i < n; i++) {
        len += bk_md_rec_size(&recs[i]);
    }
    uint8_t *buf = alloc(len);
    if (buf == NULL) {
        rv = BK_ENOMEM;
        goto out;
    }
    struct bk_wr wr;
    bk_wr_init(&wr, buf, len);
    bk_wr_u32(&wr, SNAP_MAGIC);
    bk_wr_i8(&wr, SNAP_VERSION);
    bk_wr_i64(&wr, img->offset);
    bk_wr_i64(&wr, img->next_producer_id);
    bk_wr_i64(&wr, img->n_skipped);
    bk_md_batch_header_encode(&wr, n);
    for (size_t i = 0; i < n; i++) {
        bk_md_rec_encode(&wr, &recs[i]);
    }
    /* The sizes above are exact. */
    bk_assert(wr.err == 0 && wr.len == len);
    *out = buf;
    *out_len = len;
out:
    bk_arena_destroy(&arena);
    return rv;
}

int bk_md_image_restore(const void *buf, size_t len, struct bk_md_image **out)
{
    struct bk_rd rd;
    bk_rd_init(&rd, buf, len);
    uint32_t magic = bk_rd_u32(&rd);
    int8_t version = bk_rd_i8(&rd);
    int64_t offset = bk_rd_i64(&rd);
    int64_t next_pid = bk_rd_i64(&rd);
    int64_t n_skipped = bk_rd_i64(&rd);
    if (rd.err != 0 || magic != SNAP_MAGIC) {
        return BK_ECORRUPT;
    }
    if (version != SNAP_VERSION) {
        return BK_EUNSUPPORTED;
    }
    struct bk_arena arena;
    bk_arena_init(&arena, 64 * 1024, 0);
    struct bk_md_rec *recs;
    size_t n;
    struct bk_md_image *empty = NULL;
    struct bk_md_image *img = NULL;
    int rv =
        bk_md_batch_decode(rd.buf + rd.pos, bk_rd_left(&rd), &arena, &recs, &n);
    if (rv != 0) {
        goto out;
    }
    empty = bk_md_image_new();
    if (empty == NULL) {
        rv = BK_ENOMEM;
        goto out;
    }
    rv = bk_md_image_apply(empty, recs, n, NULL, &img);
    if (rv != 0) {
        goto out;
    }
    if (img->n_skipped != 0) {
        /* A snapshot is a canonical image: nothing in it can conflict. */
        bk_md_image_release(img);
        rv = BK_ECORRUPT;
        goto out;
    }
    img->offset = offset;
    img->next_producer_id = next_pid;
    img->n_skipped = n_skipped;
    *out = img;
out:
    bk_md_image_release(empty);
    bk_arena_destroy(&arena);
    return rv;
}

/* ---- publication ------------------------------------------------------ */

void bk_md_pub_init(struct bk_md_pub *pub, struct bk_md_image *img)
{
    atomic_init(&pub->cur, img);
    atomic_init(&pub->epoch, 0);
    atomic_init(&pub->active[0], 0);
    atomic_init(&pub->active[1], 0);
}

void bk_md_pub_close(struct bk_md_pub *pub)
{
    bk_md_image_release(atomic_exchange(&pub->cur, NULL));
}

/* Why this is safe without locks: a reader announces itself in the slot of
 * the epoch it saw and re-checks the epoch, so a reader that passes the
 * check is counted in the slot of the current epoch before it loads the
 * pointer. The writer swaps the pointer, then bumps the epoch, then waits
 * for that slot to drain. A reader counted in the drained slot took its
 * reference before the writer drops the old image; a reader that announced
 * itself after the check loads the pointer after the swap, so it sees the
 * new image. A reader whose epoch went stale retries (it never waits on the
 * writer). All operations are seq_cst. */
struct bk_md_image *bk_md_pub_acquire(struct bk_md_pub *pub)
{
    for (;;) {
        unsigned e = atomic_load(&pub->epoch);
        atomic_fetch_add(&pub->active[e & 1], 1);
        if (atomic_load(&pub->epoch) != e) {
            atomic_fetch_sub(&pub->active[e & 1], 1);
            continue;
        }
        struct bk_md_image *img = atomic_load(&pub->cur);
        bk_md_image_ref(img);
        atomic_fetch_sub(&pub->active[e & 1], 1);
        return img;
    }
}

void bk_md_pub_publish(struct bk_md_pub *pub, struct bk_md_image *img)
{
    struct bk_md_image *old = atomic_exchange(&pub->cur, img);
    unsigned e = atomic_fetch_add(&pub->epoch, 1);
    while (atomic_load(&pub->active[e & 1]) != 0) {
        sched_yield();
    }
    bk_md_image_release(old);
}
