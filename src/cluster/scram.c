/* SCRAM credentials of the metadata image (cluster/scram.h). Apply is
 * deterministic and never fails on content: a record with an unknown
 * mechanism, iterations outside 1..INT32_MAX, empty keys or keys of the
 * wrong length for the mechanism is skipped, as bk_md_image_apply skips
 * any conflicting record; removing a credential that is not there is
 * skipped too. */
#include "cluster/scram.h"

#include <string.h>

#include "cluster/image.h"
#include "common/err.h"
#include "common/heap.h"

static int cmp(const struct bk_md_scram_cred *c,
               const char *name,
               size_t len,
               int8_t mech)
{
    size_t cl = strlen(c->name);
    int r = memcmp(c->name, name, cl < len ? cl : len);
    if (r != 0) {
        return r;
    }
    if (cl != len) {
        return cl < len ? -1 : 1;
    }
    return c->mechanism - mech;
}

/* Index of (name, mech), or -(insertion point) - 1. */
static long find(const struct bk_md_scram *s,
                 const char *name,
                 size_t len,
                 int8_t mech)
{
    size_t lo = 0, hi = s->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int r = cmp(&s->v[mid], name, len, mech);
        if (r == 0) {
            return (long)mid;
        }
        if (r < 0) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    return -(long)lo - 1;
}

const struct bk_md_scram_cred *bk_md_image_scram(const struct bk_md_image *img,
                                                 const char *name,
                                                 size_t len,
                                                 int8_t mechanism)
{
    long i = find(&img->scram, name, len, mechanism);
    return i >= 0 ? &img->scram.v[i] : NULL;
}

const struct bk_md_scram *bk_md_image_scram_all(const struct bk_md_image *img)
{
    return &img->scram;
}

int bk_md_scram_copy(struct bk_md_scram *dst, const struct bk_md_scram *src)
{
    dst->n = 0;
    dst->v = NULL;
    if (src->n == 0) {
        return 0;
    }
    dst->v = bk_calloc(src->n, sizeof(*dst->v));
    if (dst->v == NULL) {
        return BK_ENOMEM;
    }
    for (size_t i = 0; i < src->n; i++) {
        dst->v[i] = src->v[i];
        dst->v[i].name = bk_strdup(src->v[i].name);
        dst->n++;
        if (dst->v[i].name == NULL) {
            return BK_ENOMEM;
        }
    }
    return 0;
}

void bk_md_scram_free(struct bk_md_scram *s)
{
    for (size_t i = 0; i < s->n; i++) {
        bk_free(s->v[i].name);
    }
    bk_free(s->v);
    s->v = NULL;
    s->n = 0;
}

static size_t key_len(int8_t mech)
{
    return mech == 1 ? 32 : mech == 2 ? 64 : 0;
}

static int upsert(struct bk_md_scram *s, const struct bk_md_scram_rec *r)
{
    size_t kl = key_len(r->mechanism);
    if (kl == 0 || r->name.len <= 0 ||
        memchr(r->name.ptr, '\0', (size_t)r->name.len) != NULL ||
        r->iterations < 1 || r->salt.len <= 0 ||
        r->salt.len > BK_MD_MAX_SCRAM_SALT || (size_t)r->stored_key.len != kl ||
        (size_t)r->server_key.len != kl) {
        return 1;
    }
    long i = find(s, r->name.ptr, (size_t)r->name.len, r->mechanism);
    struct bk_md_scram_cred c = {
        .mechanism = r->mechanism,
        .iterations = r->iterations,
        .salt_len = (uint8_t)r->salt.len,
        .key_len = (uint8_t)kl,
    };
    memcpy(c.salt, r->salt.ptr, (size_t)r->salt.len);
    memcpy(c.stored_key, r->stored_key.ptr, kl);
    memcpy(c.server_key, r->server_key.ptr, kl);
    c.name = bk_strndup(r->name.ptr, (size_t)r->name.len);
    if (c.name == NULL) {
        return BK_ENOMEM;
    }
    if (i >= 0) {
        bk_free(s->v[i].name);
        s->v[i] = c;
        return 0;
    }
    struct bk_md_scram_cred *grown = bk_realloc(s->v, (s->n + 1) * sizeof(c));
    if (grown == NULL) {
        bk_free(c.name);
        return BK_ENOMEM;
    }
    s->v = grown;
    size_t at = (size_t)(-i - 1);
    memmove(&s->v[at + 1], &s->v[at], (s->n - at) * sizeof(c));
    s->v[at] = c;
    s->n++;
    return 0;
}

static int remove_one(struct bk_md_scram *s,
                      const struct bk_md_remove_scram_rec *r)
{
    if (r->name.len <= 0) {
        return 1;
    }
    long i = find(s, r->name.ptr, (size_t)r->name.len, r->mechanism);
    if (i < 0) {
        return 1;
    }
    bk_free(s->v[i].name);
    memmove(&s->v[i], &s->v[i + 1], (s->n - (size_t)i - 1) * sizeof(*s->v));
    s->n--;
    return 0;
}

int bk_md_scram_apply(struct bk_md_scram *s, const struct bk_md_rec *rec)
{
    if (rec->type == BK_MD_REC_SCRAM) {
        return upsert(s, &rec->u.scram);
    }
    return remove_one(s, &rec->u.remove_scram);
}

size_t bk_md_scram_to_records(const struct bk_md_scram *s,
                              struct bk_md_rec *recs)
{
    for (size_t i = 0; i < s->n; i++) {
        const struct bk_md_scram_cred *c = &s->v[i];
        recs[i].type = BK_MD_REC_SCRAM;
        recs[i].u.scram = (struct bk_md_scram_rec){
            .name = bk_str_c(c->name),
            .mechanism = c->mechanism,
            .salt = { c->salt, c->salt_len },
            .stored_key = { c->stored_key, c->key_len },
            .server_key = { c->server_key, c->key_len },
            .iterations = c->iterations,
        };
    }
    return s->n;
}
