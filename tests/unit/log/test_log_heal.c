/* Storage errors that heal: a full disk, too many open files, a file the
 * syncer cannot open. The log must refuse what it cannot write with an
 * error the client retries, cut back any partial write, and take appends
 * again without a restart, with offsets contiguous and every acknowledged
 * batch readable, before and after a crash. */
/* cmocka.h needs these first. */
/* clang-format off */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
/* clang-format on */

#include <stdio.h>

#include "log_fixture.h"

#define DIR  "/data/t-0"
#define ROOT "/data"

struct fx {
    struct bk_disk *disk;
    struct bk_fdcache *fc;
    struct bk_syncer *sy;
    struct mclock clk;
    struct bk_log_config cfg;
    struct bk_log *log;
    struct model m;
    uint8_t buf[1 << 16];
};

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof *f);
    f->disk = fake_disk_new(fixture_seed(20260517u));
    mclock_init(&f->clk, 1700000000000LL);
    bk_log_config_default(&f->cfg);
    f->cfg.segment_bytes = 16384;
    f->cfg.index_interval_bytes = 1024;
    f->cfg.retention_ms = -1;
    assert_int_equal(bk_fdcache_new(f->disk, 4, &f->fc), 0);
    assert_int_equal(bk_syncer_start(f->disk, f->fc, false, &f->sy), 0);
    fixture_open(DIR, &f->cfg, f->disk, &f->clk.c, f->fc, f->sy, false,
                 &f->log);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    if (f->log != NULL) {
        bk_log_close(f->log, true);
    }
    bk_syncer_stop(f->sy);
    bk_fdcache_free(f->fc);
    fake_disk_free(f->disk);
    model_free(&f->m);
    free(f);
    return 0;
}

/* Appends one batch of 2 records; returns the log's answer. A batch that
 * went in is added to the model. */
static int try_append(struct fx *f, size_t vlen)
{
    size_t n = test_batch_build(f->buf, sizeof f->buf, 2, 1000 + f->m.n, 1,
                                vlen, (uint32_t)f->m.n);
    assert_true(n > 0);
    struct bk_log_append_result r;
    int64_t leo = bk_log_end_offset(f->log);
    int rv = bk_log_append(f->log, f->buf, n, 0, BK_LOG_APPEND_LEADER, &r);
    if (rv == 0) {
        /* Offsets stay contiguous across failures. */
        assert_int_equal(r.base_offset, leo);
        model_push(&f->m, f->buf, n, r.base_offset, r.last_offset,
                   1000 + f->m.n, 1, 2);
    } else {
        assert_int_equal(bk_log_end_offset(f->log), leo);
    }
    return rv;
}

/* Reads everything and compares with the model. */
static void check_all(struct fx *f)
{
    static uint8_t out[1 << 18];
    int64_t off = bk_log_start_offset(f->log);
    int i = 0;
    assert_int_equal(bk_log_end_offset(f->log),
                     f->m.n > 0 ? f->m.b[f->m.n - 1].last + 1 : 0);
    while (off < bk_log_end_offset(f->log)) {
        size_t len;
        int64_t next;
        assert_int_equal(bk_log_read_copy(f->log, off, 8192, INT64_MAX, out,
                                          sizeof out, &len, &next),
                         0);
        size_t p = 0;
        while (p < len) {
            struct bk_batch_hdr h;
            bk_batch_hdr_decode(out + p, &h);
            size_t sz = (size_t)bk_batch_hdr_size(&h);
            assert_true(i < f->m.n);
            assert_int_equal(h.base_offset, f->m.b[i].base);
            assert_int_equal(sz, f->m.b[i].len);
            assert_memory_equal(out + p, f->m.b[i].bytes, sz);
            p += sz;
            i++;
        }
        off = next;
    }
    assert_int_equal(i, f->m.n);
}

static void sync_cb(struct bk_log_sync_req *req, int status)
{
    *(int *)req->data = status == 0 ? 1 : status;
}

static void crash_reopen(struct fx *f, bool power)
{
    int st = 0;
    struct bk_log_sync_req req = { .data = &st };
    assert_int_equal(
        bk_log_sync(f->log, bk_log_end_offset(f->log), &req, sync_cb), 0);
    while (st == 0) {
        bk_syncer_run_once(f->sy);
    }
    assert_int_equal(st, 1);
    bk_log_close(f->log, false);
    fake_disk_crash(f->disk, power ? FAKE_CRASH_POWER : FAKE_CRASH_KILL);
    bk_syncer_stop(f->sy);
    fake_disk_revive(f->disk);
    assert_int_equal(bk_syncer_start(f->disk, f->fc, false, &f->sy), 0);
    f->log = NULL;
    fixture_open(DIR, &f->cfg, f->disk, &f->clk.c, f->fc, f->sy, false,
                 &f->log);
    check_all(f);
}

static int64_t active_size(struct fx *f)
{
    char path[256];
    int i = bk_log_segment_count(f->log) - 1;
    snprintf(path, sizeof path, DIR "/%020lld.log",
             (long long)bk_log_segment_base(f->log, i));
    return fake_disk_size(f->disk, path);
}

/* A full disk in the middle of a batch: the append fails with ENOSPC, the
 * partial batch is cut off, later appends fail the same way without
 * failing the log, and once space returns appends go on where they were. */
static void test_enospc_heals(void **state)
{
    struct fx *f = *state;
    f->cfg.segment_bytes = 1 << 20;
    bk_log_set_config(f->log, &f->cfg);
    for (int i = 0; i < 20; i++) {
        assert_int_equal(try_append(f, 100), 0);
    }
    bk_syncer_run_once(f->sy);
    int64_t good = active_size(f);
    fake_disk_set_space(f->disk, fake_disk_used(f->disk) + 50);
    for (int i = 0; i < 5; i++) {
        assert_int_equal(try_append(f, 300), BK_ENOSPC);
        assert_false(bk_log_failed(f->log));
        assert_int_equal(active_size(f), good); /* partial batch cut off */
    }
    /* Reads go on meanwhile. */
    check_all(f);
    assert_int_equal(bk_log_tick(f->log), 0);
    fake_disk_set_space(f->disk, -1);
    for (int i = 0; i < 10; i++) {
        assert_int_equal(try_append(f, 300), 0);
    }
    check_all(f);
    crash_reopen(f, true);
    assert_int_equal(try_append(f, 10), 0);
    check_all(f);
}

/* The cut-back itself fails: the partial batch stays in the file until
 * the next append, which cuts it before writing. */
static void test_partial_write_cut_by_next_append(void **state)
{
    struct fx *f = *state;
    f->cfg.segment_bytes = 1 << 20;
    bk_log_set_config(f->log, &f->cfg);
    for (int i = 0; i < 10; i++) {
        assert_int_equal(try_append(f, 100), 0);
    }
    bk_syncer_run_once(f->sy);
    int64_t good = active_size(f);
    fake_disk_set_space(f->disk, fake_disk_used(f->disk) + 50);
    /* Mutations: the short pwrite, the failing pwrite, then ftruncate. */
    fake_disk_fail_at(f->disk, 3, BK_EAGAIN);
    assert_int_equal(try_append(f, 300), BK_ENOSPC);
    assert_true(fake_disk_fault_fired(f->disk));
    assert_int_equal(active_size(f), good + 50);
    fake_disk_set_space(f->disk, -1);
    assert_int_equal(try_append(f, 300), 0);
    assert_int_equal(active_size(f), good + (int64_t)f->m.b[f->m.n - 1].len);
    check_all(f);
    crash_reopen(f, false);
}

/* Out of file descriptors when a roll must create the next segment: the
 * append fails with EMFILE, the log stays as it was, and the roll happens
 * on the next append once files open again. */
static void test_emfile_roll_heals(void **state)
{
    struct fx *f = *state;
    while (bk_log_segment_count(f->log) < 2) {
        assert_int_equal(try_append(f, 200), 0);
    }
    /* Fill the second segment up to just below a roll. */
    while (active_size(f) + 2 * 600 < f->cfg.segment_bytes) {
        assert_int_equal(try_append(f, 200), 0);
    }
    bk_syncer_run_once(f->sy);
    fake_disk_fail_opens(f->disk, BK_EMFILE);
    int rv = 0, segs = bk_log_segment_count(f->log);
    for (int i = 0; i < 20 && rv == 0; i++) {
        rv = try_append(f, 200);
    }
    assert_int_equal(rv, BK_EMFILE);
    assert_false(bk_log_failed(f->log));
    assert_int_equal(bk_log_segment_count(f->log), segs);
    assert_int_equal(try_append(f, 200), BK_EMFILE);
    bk_syncer_run_once(f->sy);
    assert_int_equal(bk_log_tick(f->log), 0);
    fake_disk_fail_opens(f->disk, 0);
    for (int i = 0; i < 30; i++) {
        assert_int_equal(try_append(f, 200), 0);
    }
    assert_true(bk_log_segment_count(f->log) > segs);
    check_all(f);
    crash_reopen(f, true);
}

/* The syncer cannot open the files of a sealed segment to sync them (its
 * fds were evicted, and the process is out of descriptors): the log does
 * not fail, the recovery point on disk does not move past unsynced data,
 * and the next tick queues the syncs again. */
static void test_syncer_open_failure_resyncs(void **state)
{
    struct fx *f = *state;
    char ckpt0[256] = "";
    while (bk_log_segment_count(f->log) < 3) {
        assert_int_equal(try_append(f, 200), 0);
    }
    /* The roll's sync is queued; a second log's files push the sealed
     * segment's out of the 4-file cache before the syncer runs. */
    struct bk_log *other;
    fixture_open("/data/u-0", &f->cfg, f->disk, &f->clk.c, f->fc, f->sy, false,
                 &other);
    for (int i = 0; i < 4; i++) {
        size_t n = test_batch_build(f->buf, sizeof f->buf, 1, 1, 0, 5000, 0);
        struct bk_log_append_result r;
        assert_int_equal(
            bk_log_append(other, f->buf, n, 0, BK_LOG_APPEND_LEADER, &r), 0);
    }
    ssize_t n0 = bk_disk_read_small(f->disk, DIR "/log-checkpoint", ckpt0,
                                    sizeof ckpt0 - 1);
    fake_disk_fail_opens(f->disk, BK_EMFILE);
    bk_syncer_run_once(f->sy);
    assert_false(bk_log_failed(f->log));
    char ckpt1[256] = "";
    fake_disk_fail_opens(f->disk, 0);
    ssize_t n1 = bk_disk_read_small(f->disk, DIR "/log-checkpoint", ckpt1,
                                    sizeof ckpt1 - 1);
    /* No checkpoint vouches for what was not synced. */
    assert_int_equal(n0, n1);
    assert_string_equal(ckpt0, ckpt1);
    assert_int_equal(bk_log_tick(f->log), 0); /* queues the syncs again */
    bk_syncer_run_once(f->sy);
    ssize_t n2 = bk_disk_read_small(f->disk, DIR "/log-checkpoint", ckpt1,
                                    sizeof ckpt1 - 1);
    assert_true(n2 > 0);
    assert_string_not_equal(ckpt0, ckpt1);
    bk_log_close(other, true);
    /* Power loss with no further sync: the checkpoint's promise holds. */
    bk_log_close(f->log, false);
    fake_disk_crash(f->disk, FAKE_CRASH_POWER);
    bk_syncer_stop(f->sy);
    fake_disk_revive(f->disk);
    assert_int_equal(bk_syncer_start(f->disk, f->fc, false, &f->sy), 0);
    fixture_open(DIR, &f->cfg, f->disk, &f->clk.c, f->fc, f->sy, false,
                 &f->log);
    check_all(f);
}

/* log.dir.min.free.bytes: leader appends are refused below the reserve
 * (followers and logs without a reserve write on), and accepted again
 * once space is freed. */
static void test_space_reserve(void **state)
{
    struct fx *f = *state;
    struct bk_log_space *sp;
    assert_int_equal(bk_log_space_new(f->disk, &f->clk.c, ROOT, 100000, &sp),
                     0);
    bk_log_set_space(f->log, sp);
    assert_int_equal(try_append(f, 100), 0);
    fake_disk_set_space(f->disk, fake_disk_used(f->disk) + 100000 + 3000);
    mclock_advance(&f->clk, 1000);
    int rv = 0, i = 0;
    for (; i < 100 && rv == 0; i++) {
        rv = try_append(f, 400);
        if (i % 4 == 3) {
            mclock_advance(&f->clk, 1000);
        }
    }
    assert_int_equal(rv, BK_ENOSPC);
    assert_true(i > 1);
    assert_false(bk_log_failed(f->log));
    assert_true(bk_log_space_free_bytes(sp) < 100000);
    /* The reserve is still there: nothing actually ran out. */
    assert_true(bk_log_space_free_bytes(sp) > 0);
    assert_int_equal(try_append(f, 400), BK_ENOSPC);
    fake_disk_set_space(f->disk, -1);
    mclock_advance(&f->clk, 100);
    assert_int_equal(try_append(f, 400), 0);
    check_all(f);
    bk_log_close(f->log, true);
    f->log = NULL;
    bk_log_space_free(sp);
}

/* write_errors_fatal (the group coordinator's logs): any failed write
 * fails the log, as before. */
static void test_write_errors_fatal(void **state)
{
    struct fx *f = *state;
    f->cfg.write_errors_fatal = true;
    bk_log_set_config(f->log, &f->cfg);
    assert_int_equal(try_append(f, 100), 0);
    fake_disk_set_space(f->disk, fake_disk_used(f->disk) + 10);
    assert_int_equal(try_append(f, 100), BK_EIO);
    assert_true(bk_log_failed(f->log));
    fake_disk_set_space(f->disk, -1);
    assert_int_equal(try_append(f, 100), BK_EIO);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_enospc_heals, setup, teardown),
        cmocka_unit_test_setup_teardown(test_partial_write_cut_by_next_append,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_emfile_roll_heals, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_syncer_open_failure_resyncs, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_space_reserve, setup, teardown),
        cmocka_unit_test_setup_teardown(test_write_errors_fatal, setup,
                                        teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
