#include "cluster/assign.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "common/err.h"
#include "common/heap.h"

struct slot {
    int32_t id;
    const char *rack; /* "" when unset */
    int rack_no;      /* index of the rack in sorted rack order */
};

static int cmp_rack_id(const void *a, const void *b)
{
    const struct slot *x = a;
    const struct slot *y = b;
    int c = strcmp(x->rack, y->rack);
    if (c != 0) {
        return c;
    }
    return (x->id > y->id) - (x->id < y->id);
}

/* Index of follower k (0-based) of a partition whose leader sits at first,
 * stepping by shift: never lands on the leader itself. */
static size_t follower_index(size_t first, size_t shift, size_t k, size_t n)
{
    size_t step = 1 + (shift + k) % (n - 1);
    return (first + step) % n;
}

/* The brokers in placement order, with the scratch a partition's placement
 * needs (all owned, n entries each). */
struct layout {
    size_t n;
    size_t n_racks;
    struct slot *sorted;   /* by rack, then id */
    struct slot *arranged; /* racks alternating */
    bool *used_rack;       /* by rack_no, for the partition being placed */
    bool *used_broker;     /* by position in arranged, likewise */
};

/* Sorts the brokers by rack then id. Without any rack set, every broker
 * counts as rack "", so that the order is by id alone. */
static void sort_brokers(const struct bk_md_assign_broker *brokers,
                         struct layout *l)
{
    bool racks = false;
    for (size_t i = 0; i < l->n; i++) {
        l->sorted[i].id = brokers[i].id;
        l->sorted[i].rack = brokers[i].rack != NULL ? brokers[i].rack : "";
        racks = racks || brokers[i].rack != NULL;
    }
    if (!racks) {
        for (size_t i = 0; i < l->n; i++) {
            l->sorted[i].rack = "";
        }
    }
    qsort(l->sorted, l->n, sizeof(*l->sorted), cmp_rack_id);
}

/* Numbers the racks of the sorted brokers and fills arranged by taking the
 * i-th broker of each rack, rack by rack (a1 b1 c1 a2 b2 c2 ...). */
static int arrange_brokers(struct layout *l)
{
    size_t n = l->n;
    /* Where each rack begins in sorted order. */
    size_t n_racks = 0;
    size_t *rack_start = bk_calloc(n + 1, sizeof(*rack_start));
    if (rack_start == NULL) {
        return BK_ENOMEM;
    }
    for (size_t i = 0; i < n; i++) {
        if (i == 0 || strcmp(l->sorted[i].rack, l->sorted[i - 1].rack) != 0) {
            rack_start[n_racks++] = i;
        }
        l->sorted[i].rack_no = (int)n_racks - 1;
    }
    rack_start[n_racks] = n;

    size_t k = 0;
    for (size_t round = 0; k < n; round++) {
        for (size_t r = 0; r < n_racks; r++) {
            size_t at = rack_start[r] + round;
            if (at < rack_start[r + 1]) {
                l->arranged[k++] = l->sorted[at];
            }
        }
    }
    bk_free(rack_start);
    l->n_racks = n_racks;
    return 0;
}

/* Followers 1..rf-1 of a partition led by arranged[first] when there is one
 * rack (or none): plain steps from the leader. */
static void place_followers_flat(const struct layout *l,
                                 size_t first,
                                 size_t shift,
                                 int32_t rf,
                                 int32_t *row)
{
    for (int32_t r = 1; r < rf; r++) {
        size_t at = follower_index(first, shift, (size_t)r - 1, l->n);
        row[r] = l->arranged[at].id;
    }
}

/* Followers 1..rf-1 of a partition led by arranged[first] across racks. */
static void place_followers_racks(struct layout *l,
                                  size_t first,
                                  size_t shift,
                                  int32_t rf,
                                  int32_t *row)
{
    size_t n = l->n;
    memset(l->used_rack, 0, n * sizeof(*l->used_rack));
    memset(l->used_broker, 0, n * sizeof(*l->used_broker));
    l->used_rack[l->arranged[first].rack_no] = true;
    l->used_broker[first] = true;
    size_t racks_used = 1;
    size_t step = 0;
    for (int32_t r = 1; r < rf; r++) {
        for (;;) {
            size_t at = follower_index(first, shift * l->n_racks, step, n);
            step++;
            const struct slot *s = &l->arranged[at];
            /* A new rack first; once every rack has a replica, any broker
             * without one. The bound on step guarantees the loop ends even
             * for odd rack shapes: n - 1 consecutive steps visit every other
             * position, so after 2n steps relax to "any broker without a
             * replica". */
            bool rack_ok = !l->used_rack[s->rack_no] ||
                           racks_used == l->n_racks || step > 2 * n;
            bool broker_ok = !l->used_broker[at];
            if (rack_ok && broker_ok) {
                if (!l->used_rack[s->rack_no]) {
                    l->used_rack[s->rack_no] = true;
                    racks_used++;
                }
                l->used_broker[at] = true;
                row[r] = s->id;
                break;
            }
        }
    }
}

/* Fills the rows of out as bk_md_assign_replicas documents, from the
 * arranged brokers. */
static void place_partitions(struct layout *l,
                             int32_t n_partitions,
                             int32_t rf,
                             int32_t start_index,
                             int32_t shift,
                             int32_t start_partition,
                             int32_t *out)
{
    size_t n = l->n;
    size_t start = (size_t)start_index % n;
    for (int32_t p = 0; p < n_partitions; p++) {
        size_t pid = (size_t)start_partition + (size_t)p;
        /* The shift grows by one every n partitions, counted from partition
         * 0, so that adding partitions later continues the same pattern. */
        size_t next_shift = (size_t)shift % n + pid / n;
        size_t first = (pid + start) % n;
        int32_t *row = &out[(size_t)p * (size_t)rf];
        row[0] = l->arranged[first].id;
        if (rf == 1) {
            continue;
        }
        if (l->n_racks <= 1) {
            place_followers_flat(l, first, next_shift, rf, row);
        } else {
            place_followers_racks(l, first, next_shift, rf, row);
        }
    }
}

int bk_md_assign_replicas(const struct bk_md_assign_broker *brokers,
                          size_t n_brokers,
                          int32_t n_partitions,
                          int32_t rf,
                          int32_t start_index,
                          int32_t shift,
                          int32_t start_partition,
                          int32_t *out)
{
    if (rf < 1 || n_partitions < 0 || n_brokers == 0 || start_index < 0 ||
        shift < 0 || start_partition < 0) {
        return BK_EINVAL;
    }
    if ((size_t)rf > n_brokers) {
        return BK_ERANGE;
    }
    size_t n = n_brokers;
    struct layout l = {
        .n = n,
        .sorted = bk_calloc(n, sizeof(*l.sorted)),
        .arranged = bk_calloc(n, sizeof(*l.arranged)),
        .used_rack = bk_calloc(n, sizeof(*l.used_rack)),
        .used_broker = bk_calloc(n, sizeof(*l.used_broker)),
    };
    int rv = BK_ENOMEM;
    if (l.sorted == NULL || l.arranged == NULL || l.used_rack == NULL ||
        l.used_broker == NULL) {
        goto out;
    }
    sort_brokers(brokers, &l);
    rv = arrange_brokers(&l);
    if (rv != 0) {
        goto out;
    }
    place_partitions(&l, n_partitions, rf, start_index, shift, start_partition,
                     out);
out:
    bk_free(l.sorted);
    bk_free(l.arranged);
    bk_free(l.used_rack);
    bk_free(l.used_broker);
    return rv;
}
