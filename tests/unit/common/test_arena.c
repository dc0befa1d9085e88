/* cmocka.h needs these headers first. */
/* clang-format off */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
/* clang-format on */
#include <string.h>

#include "common/arena.h"
#include "common/err.h"
#include "common/heap.h"

static void test_alloc_aligned_zeroed(void **state)
{
    (void)state;
    struct bk_arena a;
    bk_arena_init(&a, 1024, 0);
    for (int i = 0; i < 100; i++) {
        uint8_t *p = bk_arena_alloc(&a, (size_t)i + 1);
        assert_non_null(p);
        assert_int_equal((uintptr_t)p % 16, 0);
        for (int j = 0; j <= i; j++) {
            assert_int_equal(p[j], 0);
        }
        memset(p, 0xab, (size_t)i + 1);
    }
    bk_arena_reset(&a);
    uint8_t *p = bk_arena_alloc(&a, 64);
    assert_non_null(p);
    assert_int_equal(p[0], 0);
    bk_arena_destroy(&a);
}

static void test_limit(void **state)
{
    (void)state;
    struct bk_arena a;
    bk_arena_init(&a, 256, 1000);
    assert_non_null(bk_arena_alloc(&a, 500));
    assert_null(bk_arena_alloc(&a, 600));
    assert_non_null(bk_arena_alloc(&a, 400));
    assert_null(bk_arena_alloc(&a, SIZE_MAX - 4));
    bk_arena_destroy(&a);
}

static void test_big_alloc_and_oom(void **state)
{
    (void)state;
    struct bk_arena a;
    bk_arena_init(&a, 256, 0);
    char *s = bk_arena_strndup(&a, "hello world", 5);
    assert_string_equal(s, "hello");
    assert_non_null(bk_arena_alloc(&a, 100000));
    bk_heap_fault_config(0, 1);
    assert_null(bk_arena_alloc(&a, 200000));
    assert_non_null(bk_arena_alloc(&a, 200000));
    bk_arena_destroy(&a);
}

static void test_errors(void **state)
{
    (void)state;
    assert_string_equal(bk_errname(BK_EPROTO), "BK_EPROTO");
    assert_string_equal(bk_strerror(BK_ENOMEM), "out of memory");
    assert_non_null(bk_strerror(-EPIPE));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_alloc_aligned_zeroed),
        cmocka_unit_test(test_limit),
        cmocka_unit_test(test_big_alloc_and_oom),
        cmocka_unit_test(test_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
