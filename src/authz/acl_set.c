/* The ACL set: sorted storage, copy-on-write and the prefix-length index.
 *
 * The set is shared between metadata images and read by every shard
 * without locks, so it is never changed once published. The metadata
 * apply makes its own copy first (bk_acl_set_own), changes that, and the
 * copy is published with the new image. */
#include <string.h>

#include "authz/acl_int.h"
#include "common/err.h"
#include "common/heap.h"

static int cmp_bytes(const char *a, size_t alen, const char *b, size_t blen)
{
    size_t n = alen < blen ? alen : blen;
    int c = n > 0 ? memcmp(a, b, n) : 0;
    if (c != 0) {
        return c;
    }
    return alen < blen ? -1 : (alen > blen ? 1 : 0);
}

static int cmp_key(const struct bk_acl *a,
                   int res_type,
                   int pattern,
                   const char *name,
                   size_t len)
{
    if (a->res_type != res_type) {
        return a->res_type < res_type ? -1 : 1;
    }
    if (a->pattern != pattern) {
        return a->pattern < pattern ? -1 : 1;
    }
    return cmp_bytes(a->name, a->name_len, name, len);
}

/* The set's order; equal means the same binding (the id aside). */
static int acl_cmp(const struct bk_acl *a, const struct bk_acl *b)
{
    int c = cmp_key(a, b->res_type, b->pattern, b->name, b->name_len);
    if (c == 0) {
        c = cmp_bytes(a->principal, a->principal_len, b->principal,
                      b->principal_len);
    }
    if (c == 0) {
        c = cmp_bytes(a->host, a->host_len, b->host, b->host_len);
    }
    if (c == 0 && a->op != b->op) {
        c = a->op < b->op ? -1 : 1;
    }
    if (c == 0 && a->perm != b->perm) {
        c = a->perm < b->perm ? -1 : 1;
    }
    return c;
}

size_t bk_acl_lower(const struct bk_acl_set *s,
                    int res_type,
                    int pattern,
                    const char *name,
                    size_t len)
{
    size_t lo = 0, hi = s->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (cmp_key(s->acls[mid], res_type, pattern, name, len) < 0) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    return lo;
}

size_t bk_acl_upper(const struct bk_acl_set *s,
                    int res_type,
                    int pattern,
                    const char *name,
                    size_t len)
{
    size_t lo = 0, hi = s->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (cmp_key(s->acls[mid], res_type, pattern, name, len) <= 0) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    return lo;
}

size_t bk_acl_lower_principal(const struct bk_acl_set *s,
                              size_t lo,
                              size_t hi,
                              const char *principal,
                              size_t len)
{
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        const struct bk_acl *a = s->acls[mid];
        if (cmp_bytes(a->principal, a->principal_len, principal, len) < 0) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    return lo;
}

bool bk_acl_is(const struct bk_acl_set *s,
               size_t i,
               int res_type,
               int pattern,
               const char *name,
               size_t len)
{
    return i < s->n && cmp_key(s->acls[i], res_type, pattern, name, len) == 0;
}

/* One allocation holding the ACL and its NUL-terminated strings. */
static struct bk_acl *acl_copy(const struct bk_acl *src)
{
    size_t size =
        sizeof(*src) + src->name_len + src->principal_len + src->host_len + 3;
    struct bk_acl *a = bk_malloc(size);
    if (a == NULL) {
        return NULL;
    }
    *a = *src;
    char *p = (char *)(a + 1);
    const char *srcs[3] = { src->name, src->principal, src->host };
    size_t lens[3] = { src->name_len, src->principal_len, src->host_len };
    const char **dst[3] = { &a->name, &a->principal, &a->host };
    for (int i = 0; i < 3; i++) {
        if (lens[i] > 0) {
            memcpy(p, srcs[i], lens[i]);
        }
        p[lens[i]] = '\0';
        *dst[i] = p;
        p += lens[i] + 1;
    }
    return a;
}

struct bk_acl_set *bk_acl_set_new(void)
{
    struct bk_acl_set *s = bk_calloc(1, sizeof(*s));
    if (s != NULL) {
        atomic_init(&s->refs, 1);
    }
    return s;
}

void bk_acl_set_ref(struct bk_acl_set *s)
{
    atomic_fetch_add_explicit(&s->refs, 1, memory_order_relaxed);
}

static void set_free(struct bk_acl_set *s)
{
    for (size_t i = 0; i < s->n; i++) {
        bk_free(s->acls[i]);
    }
    bk_free(s->acls);
    for (int t = 0; t <= BK_ACL_RES_MAX; t++) {
        bk_free(s->prefixes[t].len);
    }
    bk_free(s);
}

void bk_acl_set_release(struct bk_acl_set *s)
{
    if (s != NULL &&
        atomic_fetch_sub_explicit(&s->refs, 1, memory_order_acq_rel) == 1) {
        set_free(s);
    }
}

size_t bk_acl_set_count(const struct bk_acl_set *s)
{
    return s != NULL ? s->n : 0;
}

const struct bk_acl *bk_acl_set_at(const struct bk_acl_set *s, size_t i)
{
    return s->acls[i];
}

/* Rebuilds the distinct PREFIXED name lengths of one resource type. */
static int index_prefixes(struct bk_acl_set *s, int t)
{
    struct bk_acl_lens *l = &s->prefixes[t];
    l->n = 0;
    size_t at = bk_acl_lower(s, t, BK_ACL_PAT_PREFIXED, "", 0);
    for (; at < s->n && s->acls[at]->res_type == t &&
           s->acls[at]->pattern == BK_ACL_PAT_PREFIXED;
         at++) {
        size_t len = s->acls[at]->name_len;
        size_t i = 0;
        while (i < l->n && l->len[i] < len) {
            i++;
        }
        if (i < l->n && l->len[i] == len) {
            continue;
        }
        size_t *grown = bk_realloc(l->len, (l->n + 1) * sizeof(*grown));
        if (grown == NULL) {
            return BK_ENOMEM;
        }
        l->len = grown;
        memmove(&l->len[i + 1], &l->len[i], (l->n - i) * sizeof(*grown));
        l->len[i] = len;
        l->n++;
    }
    return 0;
}

int bk_acl_set_own(struct bk_acl_set **sp)
{
    struct bk_acl_set *s = *sp;
    if (atomic_load_explicit(&s->refs, memory_order_acquire) == 1) {
        return 0;
    }
    struct bk_acl_set *c = bk_acl_set_new();
    if (c == NULL) {
        return BK_ENOMEM;
    }
    if (s->n > 0) {
        c->acls = bk_malloc(s->n * sizeof(*c->acls));
        if (c->acls == NULL) {
            goto err;
        }
        c->cap = s->n;
    }
    for (size_t i = 0; i < s->n; i++) {
        c->acls[i] = acl_copy(s->acls[i]);
        if (c->acls[i] == NULL) {
            goto err;
        }
        c->n++;
    }
    memcpy(c->per_type, s->per_type, sizeof(c->per_type));
    for (int t = 0; t <= BK_ACL_RES_MAX; t++) {
        if (index_prefixes(c, t) != 0) {
            goto err;
        }
    }
    bk_acl_set_release(s);
    *sp = c;
    return 0;
err:
    set_free(c);
    return BK_ENOMEM;
}

const struct bk_acl *bk_acl_set_find(const struct bk_acl_set *s,
                                     const struct bk_acl *acl)
{
    size_t at =
        bk_acl_lower(s, acl->res_type, acl->pattern, acl->name, acl->name_len);
    for (; bk_acl_is(s, at, acl->res_type, acl->pattern, acl->name,
                     acl->name_len);
         at++) {
        if (acl_cmp(s->acls[at], acl) == 0) {
            return s->acls[at];
        }
    }
    return NULL;
}

static long find_id(const struct bk_acl_set *s, const uint8_t id[16])
{
    /* ACL changes are rare next to checks, so removal by id may scan. */
    for (size_t i = 0; i < s->n; i++) {
        if (memcmp(s->acls[i]->id, id, 16) == 0) {
            return (long)i;
        }
    }
    return -1;
}

static bool type_ok(int t)
{
    return t > BK_ACL_RES_ANY && t <= BK_ACL_RES_MAX;
}

int bk_acl_set_add(struct bk_acl_set *s, const struct bk_acl *acl)
{
    if (!type_ok(acl->res_type) || find_id(s, acl->id) >= 0 ||
        bk_acl_set_find(s, acl) != NULL) {
        return 1;
    }
    if (s->n == s->cap) {
        size_t cap = s->cap < 8 ? 8 : s->cap * 2;
        struct bk_acl **grown = bk_realloc(s->acls, cap * sizeof(*grown));
        if (grown == NULL) {
            return BK_ENOMEM;
        }
        s->acls = grown;
        s->cap = cap;
    }
    struct bk_acl *a = acl_copy(acl);
    if (a == NULL) {
        return BK_ENOMEM;
    }
    size_t at = bk_acl_lower(s, a->res_type, a->pattern, a->name, a->name_len);
    while (at < s->n && acl_cmp(s->acls[at], a) < 0) {
        at++;
    }
    memmove(&s->acls[at + 1], &s->acls[at], (s->n - at) * sizeof(*s->acls));
    s->acls[at] = a;
    s->n++;
    s->per_type[a->res_type]++;
    if (a->pattern == BK_ACL_PAT_PREFIXED &&
        index_prefixes(s, a->res_type) != 0) {
        return BK_ENOMEM;
    }
    return 0;
}

int bk_acl_set_remove(struct bk_acl_set *s, const uint8_t id[16])
{
    long at = find_id(s, id);
    if (at < 0) {
        return 1;
    }
    struct bk_acl *a = s->acls[at];
    memmove(&s->acls[at], &s->acls[at + 1],
            (s->n - (size_t)at - 1) * sizeof(*s->acls));
    s->n--;
    /* Set types are 2..BK_ACL_RES_MAX (checked by bk_acl_set_add). */
    int t = (unsigned char)a->res_type;
    s->per_type[t]--;
    bool prefixed = a->pattern == BK_ACL_PAT_PREFIXED;
    bk_free(a);
    return prefixed ? index_prefixes(s, t) : 0;
}
