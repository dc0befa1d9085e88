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
    struct slot *sorted = bk_calloc(n, sizeof(*sorted));
    struct slot *arranged = bk_calloc(n, sizeof(*arranged));
    bool *used_rack = bk_calloc(n, sizeof(*used_rack));
    bool *used_broker = bk_calloc(n, sizeof(*used_broker));
    int rv = BK_ENOMEM;
    if (sorted == NULL || arranged == NULL || used_rack == NULL ||
        used_broker == NULL) {
        goto out;
    }
    bool racks = false;
    for (size_t i = 0; i < n; i++) {
        sorted[i].id = brokers[i].id;
        sorted[i].rack = brokers[i].rack != NULL ? brokers[i].rack : "";
        racks = racks || brokers[i].rack != NULL;
    }
    if (!racks) {
        for (size_t i = 0; i < n; i++) {
            sorted[i].rack = "";
        }
    }
    qsort(sorted, n, sizeof(*sorted), cmp_rack_id);

    /* Number the racks and note where each begins in sorted order. */
    size_t n_racks = 0;
    size_t *rack_start = bk_calloc(n + 1, sizeof(*rack_start));
    if (rack_start == NULL) {
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        if (i == 0 || strcmp(sorted[i].rack, sorted[i - 1].rack) != 0) {
            rack_start[n_racks++] = i;
        }
        sorted[i].rack_no = (int)n_racks - 1;
    }
    rack_start[n_racks] = n;

    /* Alternate racks: the i-th broker of each rack, rack by rack. */
    size_t k = 0;
    for (size_t round = 0; k < n; round++) {
        for (size_t r = 0; r < n_racks; r++) {
            size_t at = rack_start[r] + round;
            if (at < rack_start[r + 1]) {
                arranged[k++] = sorted[at];
            }
        }
    }
    bk_free(rack_start);

    size_t start = (size_t)start_index % n;
    for (int32_t p = 0; p < n_partitions; p++) {
        size_t pid = (size_t)start_partition + (size_t)p;
        /* The shift grows by one every n partitions, counted from partition
         * 0, so that adding partitions later continues the same pattern. */
        size_t next_shift = (size_t)shift % n + pid / n;
        size_t first = (pid + start) % n;
        int32_t *row = &out[(size_t)p * (size_t)rf];
        row[0] = arranged[first].id;
        if (rf == 1) {
            continue;
        }
        if (n_racks <= 1) {
            for (int32_t r = 1; r < rf; r++) {
                size_t at = follower_index(first, next_shift, (size_t)r - 1, n);
                row[r] = arranged[at].id;
            }
            continue;
        }
        memset(used_rack, 0, n * sizeof(*used_rack));
        memset(used_broker, 0, n * sizeof(*used_broker));
        used_rack[arranged[first].rack_no] = true;
        used_broker[first] = true;
        size_t racks_used = 1;
        size_t step = 0;
        for (int32_t r = 1; r < rf; r++) {
            for (;;) {
                size_t at =
                    follower_index(first, next_shift * n_racks, step, n);
                step++;
                const struct slot *s = &arranged[at];
                /* A new rack first; once every rack has a replica, any
                 * broker without one. The bound on step guarantees the loop
                 * ends even for odd rack shapes: n - 1 consecutive steps
                 * visit every other position, so after 2n steps relax to
                 * "any broker without a replica". */
                bool rack_ok = !used_rack[s->rack_no] ||
                               racks_used == n_racks || step > 2 * n;
                bool broker_ok = !used_broker[at];
                if (rack_ok && broker_ok) {
                    if (!used_rack[s->rack_no]) {
                        used_rack[s->rack_no] = true;
                        racks_used++;
                    }
                    used_broker[at] = true;
                    row[r] = s->id;
                    break;
                }
            }
        }
    }
    rv = 0;
out:
    bk_free(sorted);
    bk_free(arranged);
    bk_free(used_rack);
    bk_free(used_broker);
    return rv;
}
