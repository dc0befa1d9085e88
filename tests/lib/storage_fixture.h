/* The storage context a partition-level unit test needs, on a fake disk:
 * an fd cache, a syncer without its thread (the test drives it with
 * bk_syncer_run_once or a barrier), the root "/data", and a clock that
 * stands still at TEST_NOW_MS. Header-only: each test already links the
 * log store through bk_partition. Include after cmocka.h. */
#ifndef BK_TESTS_STORAGE_FIXTURE_H
#define BK_TESTS_STORAGE_FIXTURE_H

#include <string.h>

#include "fake_disk.h"
#include "log/log.h"
#include "partition/partition.h"

#define TEST_NOW_MS 1700000000000LL

static inline int64_t test_clock_now(const struct bk_clock *c)
{
    (void)c;
    return TEST_NOW_MS;
}

/* Fills *clock (a fixed clock) and *st over disk (borrowed), with an fd
 * cache of fds files; undo with test_storage_free. */
static inline void test_storage_init(struct bk_storage *st,
                                     struct bk_clock *clock,
                                     struct bk_disk *disk,
                                     int fds)
{
    clock->wall_ms = test_clock_now;
    clock->mono_ms = test_clock_now;
    memset(st, 0, sizeof(*st));
    strcpy(st->root, "/data");
    st->disk = disk;
    st->clock = clock;
    st->was_clean = true;
    assert_int_equal(bk_fdcache_new(disk, fds, &st->fc), 0);
    assert_int_equal(bk_syncer_start(disk, st->fc, false, &st->syncer), 0);
}

static inline void test_storage_free(struct bk_storage *st)
{
    bk_syncer_stop(st->syncer);
    bk_fdcache_free(st->fc);
}

#endif /* BK_TESTS_STORAGE_FIXTURE_H */
