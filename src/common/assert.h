/* Always-on invariant checks. Only for conditions that are bugs in brokerd:
 * bad input from the network or the disk returns BK_EPROTO / BK_ECORRUPT and
 * never asserts (conventions.md §4). */
#ifndef BK_COMMON_ASSERT_H
#define BK_COMMON_ASSERT_H

#include <stdio.h>
#include <stdlib.h>

#define bk_assert(cond)                                                       \
    do {                                                                      \
        if (!(cond)) {                                                        \
            fprintf(stderr, "brokerd: assertion failed: %s (%s:%d)\n", #cond, \
                    __FILE__, __LINE__);                                      \
            abort();                                                          \
        }                                                                     \
    } while (0)

/* Checks that only debug builds pay for, on paths too hot for an
 * always-on check: who may call what (thread ownership, below). */
#ifdef NDEBUG
#define bk_assert_debug(cond) ((void)0)
#else
#define bk_assert_debug(cond) bk_assert(cond)
#endif

#endif /* BK_COMMON_ASSERT_H */
