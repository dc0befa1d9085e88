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

#endif /* BK_COMMON_ASSERT_H */
