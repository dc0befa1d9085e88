/* What the group unit tests share: a manual clock, and waiters that record
 * the answers the registry gives through its join_done and sync_done hooks.
 * Include after cmocka.h. */
#ifndef BK_TESTS_GROUP_FIXTURE_H
#define BK_TESTS_GROUP_FIXTURE_H

#include <stdbool.h>
#include <stdio.h>

#include "common/clock.h"
#include "group/group.h"

/* The clock every registry under test reads (both monotonic and wall). */
static int64_t clock_ms;

static inline int64_t manual_ms(const struct bk_clock *c)
{
    (void)c;
    return clock_ms;
}

static const struct bk_clock manual = { manual_ms, manual_ms, NULL };

#define WAITER_PARTS 16

/* A waiter records the answer it got. */
struct waiter {
    bool done;
    int16_t error;
    int32_t generation;
    char member_id[128];
    char leader[128];
    char protocol[32];
    size_t nmembers;
    bool skip;
    char assignment[64]; /* SyncGroup: the raw bytes, as a string */
    size_t assignment_len;
    int32_t parts[WAITER_PARTS]; /* or decoded by the test */
    int32_t nparts;
};

/* The registry's join_done hook: w is a struct waiter. */
static inline void waiter_join(void *data,
                               void *w,
                               const struct bk_group_join_result *r)
{
    (void)data;
    struct waiter *x = w;
    assert_false(x->done);
    x->done = true;
    x->error = r->error;
    x->generation = r->generation;
    snprintf(x->member_id, sizeof(x->member_id), "%s", r->member_id);
    snprintf(x->leader, sizeof(x->leader), "%s", r->leader);
    snprintf(x->protocol, sizeof(x->protocol), "%s",
             r->protocol_name ? r->protocol_name : "");
    x->nmembers = r->nmembers;
    x->skip = r->skip_assignment;
}

/* The registry's sync_done hook: w is a struct waiter; the assignment is
 * kept as it came. */
static inline void waiter_sync(void *data,
                               void *w,
                               int16_t error,
                               const char *ptype,
                               const char *pname,
                               const uint8_t *a,
                               size_t len)
{
    (void)data;
    (void)ptype;
    (void)pname;
    struct waiter *x = w;
    assert_false(x->done);
    x->done = true;
    x->error = error;
    x->nparts = 0;
    x->assignment_len = len;
    snprintf(x->assignment, sizeof(x->assignment), "%.*s", (int)len,
             a ? (const char *)a : "");
}

#endif
