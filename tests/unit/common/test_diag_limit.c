/* Repeated log lines from one call site are limited to a few a second,
 * and the next line after a drop says how many were dropped. */
/* cmocka.h needs these headers first. */
/* clang-format off */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
/* clang-format on */
#include <fcntl.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/diag.h"

static size_t count_lines(int fd, char *buf, size_t cap)
{
    ssize_t n = read(fd, buf, cap - 1);
    assert_true(n >= 0);
    buf[n] = '\0';
    size_t lines = 0;
    for (ssize_t i = 0; i < n; i++) {
        lines += buf[i] == '\n';
    }
    return lines;
}

static void wait_next_second(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    time_t now = ts.tv_sec;
    while (ts.tv_sec == now) {
        usleep(10000);
        clock_gettime(CLOCK_REALTIME, &ts);
    }
}

static void one_site(int i)
{
    bk_diag_warn("test", "n=%d msg=\"the same error again\"", i);
}

static void test_repeated_lines_are_limited(void **state)
{
    (void)state;
    int p[2];
    assert_int_equal(pipe(p), 0);
    fcntl(p[0], F_SETFL, O_NONBLOCK);
    bk_diag_set_fd(p[1]);
    static char buf[65536];

    wait_next_second();
    for (int i = 0; i < 1000; i++) {
        one_site(i);
    }
    /* Well within one second: at most the limit (twice, should the second
     * turn over midway), far from 1000. */
    size_t first = count_lines(p[0], buf, sizeof(buf));
    assert_true(first >= 1 && first <= 40);

    /* Another call site is not held back by the first. */
    bk_diag_warn("test", "msg=\"another site\"");
    assert_int_equal(count_lines(p[0], buf, sizeof(buf)), 1);

    wait_next_second();
    one_site(1000);
    assert_int_equal(count_lines(p[0], buf, sizeof(buf)), 2);
    assert_non_null(strstr(buf, "lines like the next were dropped"));
    assert_non_null(strstr(buf, "n=1000"));

    /* Debug lines are opt-in and never dropped. */
    bk_diag_set_level(BK_DIAG_DEBUG);
    for (int i = 0; i < 100; i++) {
        bk_diag_debug("test", "n=%d", i);
    }
    assert_int_equal(count_lines(p[0], buf, sizeof(buf)), 100);
    bk_diag_set_fd(2);
    close(p[0]);
    close(p[1]);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_repeated_lines_are_limited),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
