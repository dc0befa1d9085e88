/* Thread ownership: an object records the thread that owns it, and the
 * calls that must run there ("runs on the owning shard", "runs on the
 * metadata thread") check it in debug builds, where a call from the wrong
 * thread aborts at once instead of racing silently. */
#ifndef BK_COMMON_OWNER_H
#define BK_COMMON_OWNER_H

#include <pthread.h>
#include <stdbool.h>

#include "common/assert.h"

struct bk_owner {
    pthread_t tid;
    bool set;
};

/* Makes the calling thread the owner. */
static inline void bk_owner_claim(struct bk_owner *o)
{
    o->tid = pthread_self();
    o->set = true;
}

/* Whether the calling thread owns o (an unclaimed object has no rule). */
static inline bool bk_owner_is_self(const struct bk_owner *o)
{
    return !o->set || pthread_equal(o->tid, pthread_self()) != 0;
}

#define bk_owner_check(o) bk_assert_debug(bk_owner_is_self(o))

#endif /* BK_COMMON_OWNER_H */
