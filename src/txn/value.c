/* A transaction's value (txn.h): its partition set and the memory it
 * owns. */
#include <string.h>

#include "common/err.h"
#include "common/heap.h"
#include "txn/txn.h"

void bk_txn_value_free(struct bk_txn_value *v)
{
    for (size_t i = 0; i < v->nparts; i++) {
        bk_free(v->parts[i].topic);
    }
    bk_free(v->parts);
    v->parts = NULL;
    v->nparts = 0;
}

int bk_txn_value_copy(struct bk_txn_value *dst, const struct bk_txn_value *src)
{
    *dst = *src;
    dst->parts = NULL;
    dst->nparts = 0;
    if (src->nparts == 0) {
        return 0;
    }
    dst->parts = bk_calloc(src->nparts, sizeof(*dst->parts));
    if (dst->parts == NULL) {
        return BK_ENOMEM;
    }
    for (size_t i = 0; i < src->nparts; i++) {
        dst->parts[i].partition = src->parts[i].partition;
        dst->parts[i].topic = bk_strdup(src->parts[i].topic);
        dst->nparts = i + 1;
        if (dst->parts[i].topic == NULL) {
            bk_txn_value_free(dst);
            return BK_ENOMEM;
        }
    }
    return 0;
}

/* Orders by topic (bytes, shorter first on a common prefix), then
 * partition; < 0, 0 or > 0. */
static int tp_cmp(const struct bk_txn_tp *a, struct bk_str topic, int32_t p)
{
    size_t alen = strlen(a->topic);
    size_t blen = topic.len > 0 ? (size_t)topic.len : 0;
    int c = memcmp(a->topic, topic.ptr != NULL ? topic.ptr : "",
                   alen < blen ? alen : blen);
    if (c == 0 && alen != blen) {
        c = alen < blen ? -1 : 1;
    }
    if (c == 0 && a->partition != p) {
        c = a->partition < p ? -1 : 1;
    }
    return c;
}

/* Index of the first entry not below topic/p. */
static size_t lower_bound(const struct bk_txn_value *v,
                          struct bk_str topic,
                          int32_t p)
{
    size_t lo = 0, hi = v->nparts;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (tp_cmp(&v->parts[mid], topic, p) < 0) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    return lo;
}

bool bk_txn_value_has(const struct bk_txn_value *v,
                      struct bk_str topic,
                      int32_t partition)
{
    size_t i = lower_bound(v, topic, partition);
    return i < v->nparts && tp_cmp(&v->parts[i], topic, partition) == 0;
}

int bk_txn_value_add(struct bk_txn_value *v,
                     struct bk_str topic,
                     int32_t partition)
{
    size_t i = lower_bound(v, topic, partition);
    if (i < v->nparts && tp_cmp(&v->parts[i], topic, partition) == 0) {
        return 0;
    }
    char *name = bk_strndup(topic.ptr != NULL ? topic.ptr : "",
                            topic.len > 0 ? (size_t)topic.len : 0);
    struct bk_txn_tp *parts =
        bk_realloc(v->parts, (v->nparts + 1) * sizeof(*parts));
    if (name == NULL || parts == NULL) {
        bk_free(name);
        if (parts != NULL) {
            v->parts = parts;
        }
        return BK_ENOMEM;
    }
    v->parts = parts;
    memmove(&parts[i + 1], &parts[i], (v->nparts - i) * sizeof(*parts));
    parts[i] = (struct bk_txn_tp){ name, partition };
    v->nparts++;
    return 0;
}
