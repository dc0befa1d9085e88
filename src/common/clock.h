/* Clock seam. Code that needs time takes a struct bk_clock, so tests can
 * drive timeouts with a manual clock (tests/lib/manual_clock.h). */
#ifndef BK_COMMON_CLOCK_H
#define BK_COMMON_CLOCK_H

#include <stdint.h>

struct bk_clock {
    /* Wall-clock milliseconds since the Unix epoch (record timestamps). */
    int64_t (*wall_ms)(const struct bk_clock *c);
    /* Monotonic milliseconds (timeouts, ages). */
    int64_t (*mono_ms)(const struct bk_clock *c);
    void *data;
};

/* Returns the process's real clock (static, immutable). */
const struct bk_clock *bk_clock_system(void);

static inline int64_t bk_clock_wall_ms(const struct bk_clock *c)
{
    return c->wall_ms(c);
}

static inline int64_t bk_clock_mono_ms(const struct bk_clock *c)
{
    return c->mono_ms(c);
}

#endif /* BK_COMMON_CLOCK_H */
