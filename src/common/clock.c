#include "common/clock.h"

#include <time.h>

static int64_t system_wall_ms(const struct bk_clock *c)
{
    (void)c;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int64_t system_mono_ms(const struct bk_clock *c)
{
    (void)c;
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static const struct bk_clock system_clock = {
    .wall_ms = system_wall_ms,
    .mono_ms = system_mono_ms,
    .data = NULL,
};

const struct bk_clock *bk_clock_system(void)
{
    return &system_clock;
}
