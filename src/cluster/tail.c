#include "cluster/tail.h"

#include <string.h>

#include "common/err.h"
#include "common/heap.h"
#include "protocol/prim.h"

int bk_md_tail_init(struct bk_md_tail *t, size_t max_entries, size_t max_bytes)
{
    memset(t, 0, sizeof(*t));
    t->v = bk_calloc(max_entries, sizeof(*t->v));
    if (t->v == NULL) {
        return BK_ENOMEM;
    }
    t->cap = max_entries;
    t->max_bytes = max_bytes;
    pthread_mutex_init(&t->lock, NULL);
    return 0;
}

static void drop_oldest(struct bk_md_tail *t)
{
    struct bk_md_tail_entry *e = &t->v[t->head];
    t->bytes -= e->len;
    t->start = e->next;
    bk_free(e->bytes);
    e->bytes = NULL;
    t->head = (t->head + 1) % t->cap;
    t->n--;
}

static void clear(struct bk_md_tail *t, int64_t offset)
{
    while (t->n > 0) {
        drop_oldest(t);
    }
    t->start = offset;
}

void bk_md_tail_close(struct bk_md_tail *t)
{
    if (t->v == NULL) {
        return;
    }
    clear(t, 0);
    bk_free(t->v);
    t->v = NULL;
    pthread_mutex_destroy(&t->lock);
}

void bk_md_tail_reset(struct bk_md_tail *t, int64_t offset)
{
    pthread_mutex_lock(&t->lock);
    clear(t, offset);
    pthread_mutex_unlock(&t->lock);
}

void bk_md_tail_add(struct bk_md_tail *t,
                    int64_t first,
                    int64_t next,
                    const void *buf,
                    size_t len)
{
    uint8_t *copy = bk_malloc(len > 0 ? len : 1);
    pthread_mutex_lock(&t->lock);
    int64_t newest = t->start;
    if (t->n > 0) {
        newest = t->v[(t->head + t->n - 1) % t->cap].next;
    }
    if (copy == NULL || first != newest) {
        clear(t, copy == NULL ? next : first);
    }
    if (copy != NULL) {
        memcpy(copy, buf, len);
        while (t->n > 0 && (t->n == t->cap || t->bytes + len > t->max_bytes)) {
            drop_oldest(t);
        }
        if (t->n == 0) {
            t->start = first;
        }
        t->v[(t->head + t->n) % t->cap] =
            (struct bk_md_tail_entry){ first, next, copy, len };
        t->n++;
        t->bytes += len;
    }
    pthread_mutex_unlock(&t->lock);
}

/* Index (from head) of the entry starting at from, or -1. */
static long find(const struct bk_md_tail *t, int64_t from)
{
    for (size_t i = 0; i < t->n; i++) {
        if (t->v[(t->head + i) % t->cap].first == from) {
            return (long)i;
        }
    }
    return -1;
}

int bk_md_tail_read(struct bk_md_tail *t,
                    int64_t from,
                    size_t max_bytes,
                    struct bk_arena *arena,
                    uint8_t **out,
                    size_t *len)
{
    *out = NULL;
    *len = 0;
    pthread_mutex_lock(&t->lock);
    int64_t newest =
        t->n > 0 ? t->v[(t->head + t->n - 1) % t->cap].next : t->start;
    long at = find(t, from);
    int rv = 0;
    if (from == newest) {
        goto out; /* nothing new */
    }
    if (at < 0) {
        rv = BK_ERANGE;
        goto out;
    }
    size_t total = 0, k = 0;
    for (size_t i = (size_t)at; i < t->n; i++, k++) {
        size_t l = t->v[(t->head + i) % t->cap].len;
        if (k > 0 && total + l > max_bytes) {
            break;
        }
        total += 8 + 8 + 4 + l;
    }
    uint8_t *buf = bk_arena_alloc(arena, total);
    if (buf == NULL) {
        rv = BK_ENOMEM;
        goto out;
    }
    struct bk_wr wr;
    bk_wr_init(&wr, buf, total);
    for (size_t i = (size_t)at; i < (size_t)at + k; i++) {
        const struct bk_md_tail_entry *e = &t->v[(t->head + i) % t->cap];
        bk_wr_i64(&wr, e->first);
        bk_wr_i64(&wr, e->next);
        bk_wr_i32(&wr, (int32_t)e->len);
        bk_wr_raw(&wr, e->bytes, e->len);
    }
    *out = buf;
    *len = wr.len;
out:
    pthread_mutex_unlock(&t->lock);
    return rv;
}
