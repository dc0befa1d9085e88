/* The free-space reserve of a log directory root (log.dir.min.free.bytes).
 *
 * Produce is refused once the file system's free space falls below the
 * reserve, before the disk is actually full, so that what must still be
 * written (checkpoints, __consumer_offsets, renames for deletions) finds
 * room. The free figure comes from statvfs through the disk seam and is
 * cached: it is refreshed at most every second while space is plentiful,
 * sooner when the bytes appended since the last look reach half of the
 * headroom then seen, and every 100 ms while below the reserve, so that
 * produce resumes soon after space returns. Thread-safe: every shard asks
 * on each append; only one caller at a time refreshes. */
#include <stdatomic.h>
#include <stdbool.h>

#include "common/diag.h"
#include "common/err.h"
#include "common/heap.h"
#include "log/log.h"

#define SPACE_CHECK_MS     1000
#define SPACE_LOW_CHECK_MS 100
#define SPACE_MIN_BYTES    (1LL << 20)

struct bk_log_space {
    const struct bk_disk *disk;
    const struct bk_clock *clock;
    char *root; /* owned */
    int64_t min_free;
    _Atomic int64_t free;       /* last figure seen; INT64_MAX unknown */
    _Atomic int64_t checked_ms; /* mono ms of that look */
    _Atomic int64_t written;    /* bytes appended since */
    _Atomic int refreshing;
    _Atomic bool low;
};

int bk_log_space_new(const struct bk_disk *disk,
                     const struct bk_clock *clock,
                     const char *root,
                     int64_t min_free,
                     struct bk_log_space **out)
{
    struct bk_log_space *sp = bk_calloc(1, sizeof *sp);
    if (sp == NULL) {
        return BK_ENOMEM;
    }
    sp->root = bk_strdup(root);
    if (sp->root == NULL) {
        bk_free(sp);
        return BK_ENOMEM;
    }
    sp->disk = disk;
    sp->clock = clock;
    sp->min_free = min_free;
    atomic_store(&sp->free, INT64_MAX);
    atomic_store(&sp->checked_ms, INT64_MIN / 2);
    *out = sp;
    return 0;
}

void bk_log_space_free(struct bk_log_space *sp)
{
    if (sp != NULL) {
        bk_free(sp->root);
        bk_free(sp);
    }
}

static void refresh(struct bk_log_space *sp, int64_t now)
{
    int idle = 0;
    if (!atomic_compare_exchange_strong(&sp->refreshing, &idle, 1)) {
        return; /* another shard is looking */
    }
    int64_t f = INT64_MAX;
    int rv = sp->disk->free_bytes != NULL
                 ? sp->disk->free_bytes(sp->disk, sp->root, &f)
                 : 0;
    if (rv == 0) {
        bool low = f < sp->min_free;
        bool was = atomic_exchange(&sp->low, low);
        atomic_store(&sp->free, f);
        if (low && !was) {
            bk_diag_warn("log",
                         "dir=%s free=%lld min_free=%lld msg=\"free space "
                         "below log.dir.min.free.bytes: refusing produce\"",
                         sp->root, (long long)f, (long long)sp->min_free);
        } else if (!low && was) {
            bk_diag_info("log",
                         "dir=%s free=%lld msg=\"free space back above "
                         "log.dir.min.free.bytes: accepting produce\"",
                         sp->root, (long long)f);
        }
    }
    /* A failed statvfs keeps the last figure: the next look retries. */
    atomic_store(&sp->written, 0);
    atomic_store(&sp->checked_ms, now);
    atomic_store(&sp->refreshing, 0);
}

bool bk_log_space_low(struct bk_log_space *sp, int64_t bytes)
{
    if (sp == NULL || sp->min_free <= 0) {
        return false;
    }
    int64_t now = bk_clock_mono_ms(sp->clock);
    int64_t age = now - atomic_load(&sp->checked_ms);
    bool low = atomic_load(&sp->low);
    int64_t headroom = atomic_load(&sp->free) - sp->min_free;
    int64_t w = atomic_load(&sp->written);
    if (age >= (low ? SPACE_LOW_CHECK_MS : SPACE_CHECK_MS) ||
        (!low &&
         w + bytes >= (headroom / 2 > SPACE_MIN_BYTES ? headroom / 2
                                                      : SPACE_MIN_BYTES))) {
        refresh(sp, now);
        low = atomic_load(&sp->low);
    }
    if (!low) {
        atomic_fetch_add(&sp->written, bytes);
    }
    return low;
}

int64_t bk_log_space_free_bytes(struct bk_log_space *sp)
{
    return atomic_load(&sp->free);
}
