/* The metadata tail kept for brokers that pull (cluster/tail.h): reads
 * from an entry boundary, limits, the oldest entries dropped, a gap or a
 * reset starting over, and offsets it no longer has refused. */
// clang-format off
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
// clang-format on
#include <string.h>

#include "cluster/tail.h"
#include "common/err.h"
#include "protocol/prim.h"

/* Adds entry i covering offsets [10 i, 10 i + 10) with 100 bytes of i. */
static void add(struct bk_md_tail *t, int i)
{
    uint8_t buf[100];
    memset(buf, i, sizeof(buf));
    bk_md_tail_add(t, 10 * i, 10 * i + 10, buf, sizeof(buf));
}

/* Reads from `from`; returns the number of entries, checking each. */
static int read_count(struct bk_md_tail *t, int64_t from, size_t max, int *rv)
{
    struct bk_arena a;
    bk_arena_init(&a, 4096, 0);
    uint8_t *out;
    size_t len;
    *rv = bk_md_tail_read(t, from, max, &a, &out, &len);
    int n = 0;
    struct bk_rd rd;
    bk_rd_init(&rd, out, len);
    int64_t expect = from;
    while (*rv == 0 && out != NULL && bk_rd_left(&rd) > 0) {
        int64_t first = bk_rd_i64(&rd);
        int64_t next = bk_rd_i64(&rd);
        int32_t l = bk_rd_i32(&rd);
        assert_int_equal(first, expect);
        assert_int_equal(next, first + 10);
        assert_int_equal(l, 100);
        assert_int_equal(rd.buf[rd.pos], (uint8_t)(first / 10));
        bk_rd_skip(&rd, (size_t)l);
        expect = next;
        n++;
    }
    assert_int_equal(rd.err, 0);
    bk_arena_destroy(&a);
    return n;
}

static void test_tail(void **state)
{
    (void)state;
    struct bk_md_tail t;
    assert_int_equal(bk_md_tail_init(&t, 4, 1000), 0);
    int rv;
    assert_int_equal(read_count(&t, 0, 1 << 20, &rv), 0); /* empty */
    assert_int_equal(rv, 0);
    for (int i = 0; i < 3; i++) {
        add(&t, i);
    }
    assert_int_equal(read_count(&t, 0, 1 << 20, &rv), 3);
    assert_int_equal(read_count(&t, 10, 1 << 20, &rv), 2);
    assert_int_equal(read_count(&t, 30, 1 << 20, &rv), 0); /* up to date */
    assert_int_equal(rv, 0);
    /* max_bytes: at least one entry, else what fits. */
    assert_int_equal(read_count(&t, 0, 1, &rv), 1);
    assert_int_equal(read_count(&t, 0, 250, &rv), 2);
    /* Not a boundary: the reader needs the image. */
    read_count(&t, 5, 1 << 20, &rv);
    assert_int_equal(rv, BK_ERANGE);
    /* Beyond the cap of 4 entries the oldest goes. */
    add(&t, 3);
    add(&t, 4);
    read_count(&t, 0, 1 << 20, &rv);
    assert_int_equal(rv, BK_ERANGE);
    assert_int_equal(read_count(&t, 10, 1 << 20, &rv), 4);
    /* A gap (an image restored in between) starts the tail over. */
    uint8_t buf[100];
    memset(buf, 9, sizeof(buf));
    bk_md_tail_add(&t, 90, 100, buf, sizeof(buf));
    read_count(&t, 10, 1 << 20, &rv);
    assert_int_equal(rv, BK_ERANGE);
    assert_int_equal(read_count(&t, 90, 1 << 20, &rv), 1);
    /* A reset: nothing before the new start is served. */
    bk_md_tail_reset(&t, 500);
    assert_int_equal(read_count(&t, 500, 1 << 20, &rv), 0);
    assert_int_equal(rv, 0);
    read_count(&t, 90, 1 << 20, &rv);
    assert_int_equal(rv, BK_ERANGE);
    bk_md_tail_close(&t);
}

/* The byte bound drops the oldest entries too. */
static void test_tail_bytes(void **state)
{
    (void)state;
    struct bk_md_tail t;
    assert_int_equal(bk_md_tail_init(&t, 100, 250), 0);
    for (int i = 0; i < 5; i++) {
        add(&t, i);
    }
    int rv;
    read_count(&t, 20, 1 << 20, &rv);
    assert_int_equal(rv, BK_ERANGE);
    assert_int_equal(read_count(&t, 30, 1 << 20, &rv), 2);
    bk_md_tail_close(&t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tail),
        cmocka_unit_test(test_tail_bytes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
