/* Unit tests of the partition log store against the fake disk. Random
 * tests print their seed; rerun one with BK_TEST_SEED=<seed>. */
/* cmocka.h needs these first. */
/* clang-format off */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
/* clang-format on */

#include <stdatomic.h>
#include <stdio.h>
#include <time.h>
#include <unistd.h>

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
    uint8_t buf[1 << 17];
    unsigned seed;
};

static void fx_open(struct fx *f, bool clean)
{
    fixture_open(DIR, &f->cfg, f->disk, &f->clk.c, f->fc, f->sy, clean,
                 &f->log);
}

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof *f);
    f->seed = fixture_seed(20261126u);
    f->disk = fake_disk_new(f->seed);
    mclock_init(&f->clk, 1700000000000LL);
    bk_log_config_default(&f->cfg);
    f->cfg.segment_bytes = 16384;
    f->cfg.index_interval_bytes = 1024;
    f->cfg.retention_ms = -1;
    assert_int_equal(bk_fdcache_new(f->disk, 16, &f->fc), 0);
    assert_int_equal(bk_syncer_start(f->disk, f->fc, false, &f->sy), 0);
    fx_open(f, false);
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

/* Appends a batch of nrec records with timestamps base_ts + i*step. */
static struct bk_log_append_result append(struct fx *f,
                                          int nrec,
                                          int64_t base_ts,
                                          int64_t step,
                                          size_t vlen,
                                          int32_t epoch)
{
    size_t n = test_batch_build(f->buf, sizeof f->buf, nrec, base_ts, step,
                                vlen, (uint32_t)f->m.n);
    assert_true(n > 0);
    struct bk_log_append_result r;
    int rv = bk_log_append(f->log, f->buf, n, epoch, BK_LOG_APPEND_LEADER, &r);
    assert_int_equal(rv, 0);
    model_push(&f->m, f->buf, n, r.base_offset, r.last_offset, base_ts, step,
               nrec);
    return r;
}

static void append_random(struct fx *f, int count)
{
    for (int i = 0; i < count; i++) {
        int nrec = 1 + rand() % 8;
        int64_t ts = f->clk.wall - 100000 + rand() % 200000;
        append(f, nrec, ts, rand() % 50, (size_t)(rand() % 400), 0);
    }
}

/* Reads everything from the log start and compares with the model. */
static void check_all(struct fx *f)
{
    int64_t off = bk_log_start_offset(f->log);
    int i = model_find(&f->m, off);
    static uint8_t out[1 << 18];
    while (off < bk_log_end_offset(f->log)) {
        size_t len;
        int64_t next;
        int rv = bk_log_read_copy(f->log, off, 8192, INT64_MAX, out, sizeof out,
                                  &len, &next);
        assert_int_equal(rv, 0);
        assert_true(len > 0);
        size_t p = 0;
        while (p < len) {
            struct bk_batch_hdr h;
            bk_batch_hdr_decode(out + p, &h);
            size_t sz = (size_t)bk_batch_hdr_size(&h);
            assert_int_equal(
                bk_batch_validate(out + p, sz, BK_BATCH_CHECK_STORED, NULL), 0);
            assert_true(i >= 0 && i < f->m.n);
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

static void restart(struct fx *f, bool clean)
{
    if (clean) {
        assert_int_equal(bk_log_close(f->log, true), 0);
        assert_int_equal(bk_log_root_end(f->disk, ROOT), 0);
    } else {
        bk_log_close(f->log, false);
        fake_disk_crash(f->disk, FAKE_CRASH_KILL);
        bk_syncer_stop(f->sy);
        fake_disk_revive(f->disk);
        assert_int_equal(bk_syncer_start(f->disk, f->fc, false, &f->sy), 0);
    }
    f->log = NULL;
    bool was_clean;
    assert_int_equal(bk_log_root_begin(f->disk, ROOT, &was_clean), 0);
    assert_int_equal(was_clean, clean);
    fx_open(f, was_clean);
}

static void test_append_read(void **state)
{
    struct fx *f = *state;
    srand(f->seed);
    struct bk_log_append_result r = append(f, 3, 1000, 1, 10, 0);
    assert_int_equal(r.base_offset, 0);
    assert_int_equal(r.last_offset, 2);
    assert_int_equal(r.log_append_time, -1);
    r = append(f, 2, 1000, 1, 10, 0);
    assert_int_equal(r.base_offset, 3);
    assert_int_equal(bk_log_end_offset(f->log), 5);
    append_random(f, 200);
    assert_true(bk_log_segment_count(f->log) > 3);
    check_all(f);
    /* Offsets in the middle of batches and at the end. */
    struct bk_log_read_result res;
    assert_int_equal(bk_log_read(f->log, 4, 1, INT64_MAX, &res), 0);
    assert_int_equal(res.count, 1);
    assert_int_equal(res.ranges[0].length, (int64_t)f->m.b[1].len);
    assert_int_equal(res.next_offset, 5);
    bk_log_read_release(&res);
    int64_t leo = bk_log_end_offset(f->log);
    assert_int_equal(bk_log_read(f->log, leo, 1 << 20, INT64_MAX, &res), 0);
    assert_int_equal(res.count, 0);
    assert_int_equal(bk_log_read(f->log, leo + 1, 100, INT64_MAX, &res),
                     BK_ERANGE);
    assert_int_equal(bk_log_read(f->log, -1, 100, INT64_MAX, &res), BK_ERANGE);
}

/* KIP-74 and the max_bytes / upto limits, across segment boundaries. */
static void test_read_limits(void **state)
{
    struct fx *f = *state;
    for (int i = 0; i < 60; i++) {
        append(f, 4, 1000 + i, 1, 900, 0);
    }
    size_t one = f->m.b[0].len;
    struct bk_log_read_result res;
    /* A batch bigger than max_bytes still goes out, alone. */
    assert_int_equal(bk_log_read(f->log, 0, 10, INT64_MAX, &res), 0);
    assert_int_equal(res.bytes, (int64_t)one);
    assert_int_equal(res.next_offset, 4);
    bk_log_read_release(&res);
    /* Whole batches only, never more than max_bytes after the first. */
    assert_int_equal(
        bk_log_read(f->log, 0, (int64_t)(3 * one + 5), INT64_MAX, &res), 0);
    assert_int_equal(res.bytes, (int64_t)(3 * one));
    bk_log_read_release(&res);
    /* upto (the high watermark) cuts at a batch end. */
    assert_int_equal(bk_log_read(f->log, 0, 1 << 20, 10, &res), 0);
    assert_int_equal(res.next_offset, 8);
    bk_log_read_release(&res);
    assert_int_equal(bk_log_read(f->log, 8, 1 << 20, 10, &res), 0);
    assert_int_equal(res.count, 0);
    /* A big read spans segments with one range per segment, at most
     * BK_LOG_MAX_RANGES of them. */
    assert_int_equal(bk_log_read(f->log, 0, 1 << 20, INT64_MAX, &res), 0);
    assert_int_equal(res.count, BK_LOG_MAX_RANGES);
    assert_int_equal(res.next_offset,
                     bk_log_segment_base(f->log, BK_LOG_MAX_RANGES));
    int64_t sum = 0;
    for (int i = 0; i < res.count; i++) {
        sum += res.ranges[i].length;
    }
    assert_int_equal(sum, res.bytes);
    bk_log_read_release(&res);
    /* read_copy reports the size needed when one batch does not fit. */
    uint8_t small[100];
    size_t len;
    int64_t next;
    assert_int_equal(bk_log_read_copy(f->log, 0, 1 << 20, INT64_MAX, small,
                                      sizeof small, &len, &next),
                     BK_ETOOLARGE);
    assert_int_equal(len, one);
}

/* Offset lookups against a brute-force scan of the model, on random data,
 * before and after restarts with and without a clean shutdown. */
static void check_offsets(struct fx *f, int probes)
{
    int64_t start = bk_log_start_offset(f->log);
    int64_t leo = bk_log_end_offset(f->log);
    for (int k = 0; k < probes; k++) {
        int64_t off = start + rand() % (leo - start);
        int i = model_find(&f->m, off);
        assert_true(i >= 0);
        struct bk_log_read_result res;
        assert_int_equal(bk_log_read(f->log, off, 1, INT64_MAX, &res), 0);
        assert_int_equal(res.count, 1);
        assert_int_equal(res.bytes, (int64_t)f->m.b[i].len);
        assert_int_equal(res.next_offset, f->m.b[i].last + 1);
        bk_log_read_release(&res);
    }
}

static void test_index_lookup_random(void **state)
{
    struct fx *f = *state;
    printf("seed=%u\n", f->seed);
    srand(f->seed);
    append_random(f, 400);
    check_offsets(f, 300);
    restart(f, true);
    check_offsets(f, 300);
    append_random(f, 50);
    restart(f, false);
    check_offsets(f, 300);
    check_all(f);
}

/* Brute force ListOffsets: the first record in offset order with a
 * timestamp >= ts, inside the first batch whose maxTimestamp is >= ts. */
static int brute_time(const struct model *m, int64_t ts, int64_t *off)
{
    for (int i = 0; i < m->n; i++) {
        const struct mbatch *b = &m->b[i];
        int64_t max = b->base_ts + (int64_t)(b->nrec - 1) * b->ts_step;
        if (max < ts) {
            continue;
        }
        for (int r = 0; r < b->nrec; r++) {
            if (b->base_ts + r * b->ts_step >= ts) {
                *off = b->base + r;
                return 0;
            }
        }
    }
    return BK_ENOTFOUND;
}

static void check_times(struct fx *f, int probes)
{
    for (int k = 0; k < probes; k++) {
        int64_t ts = f->clk.wall - 120000 + rand() % 240000;
        int64_t want = -1, got = -1, got_ts = -1;
        int rv_want = brute_time(&f->m, ts, &want);
        int rv = bk_log_offset_for_time(f->log, ts, &got, &got_ts);
        assert_int_equal(rv, rv_want);
        if (rv == 0) {
            assert_int_equal(got, want);
            assert_true(got_ts >= ts);
        }
    }
}

static void test_time_lookup_random(void **state)
{
    struct fx *f = *state;
    printf("seed=%u\n", f->seed);
    srand(f->seed + 1);
    append_random(f, 400);
    check_times(f, 300);
    restart(f, true);
    check_times(f, 300);
    restart(f, false);
    check_times(f, 300);
}

static void test_roll_by_time(void **state)
{
    struct fx *f = *state;
    f->cfg.segment_ms = 60000;
    bk_log_set_config(f->log, &f->cfg);
    append(f, 1, 1, 0, 10, 0);
    append(f, 1, 1, 0, 10, 0);
    assert_int_equal(bk_log_segment_count(f->log), 1);
    mclock_advance(&f->clk, 60000);
    append(f, 1, 1, 0, 10, 0);
    assert_int_equal(bk_log_segment_count(f->log), 2);
    assert_int_equal(bk_log_segment_base(f->log, 1), 2);
    assert_true(fake_disk_size(f->disk, DIR "/00000000000000000002.log") > 0);
    check_all(f);
}

static void test_truncate(void **state)
{
    struct fx *f = *state;
    srand(f->seed + 2);
    append_random(f, 150);
    int64_t leo = bk_log_end_offset(f->log);
    int segs = bk_log_segment_count(f->log);
    /* Into the middle of a batch of an early segment. */
    int i = f->m.n / 3;
    int64_t target = f->m.b[i].base + (f->m.b[i].last - f->m.b[i].base) / 2 +
                     (f->m.b[i].last > f->m.b[i].base);
    assert_int_equal(bk_log_truncate(f->log, target), 0);
    assert_int_equal(bk_log_end_offset(f->log), f->m.b[i].base);
    assert_true(bk_log_segment_count(f->log) < segs);
    model_truncate(&f->m, f->m.b[i].base);
    struct bk_log_read_result res;
    assert_int_equal(bk_log_read(f->log, leo - 1, 10, INT64_MAX, &res),
                     BK_ERANGE);
    check_all(f);
    append_random(f, 30);
    check_all(f);
    check_offsets(f, 100);
    restart(f, true);
    check_all(f);
    assert_int_equal(bk_log_truncate(f->log, f->m.b[5].base), 0);
    model_truncate(&f->m, f->m.b[5].base);
    restart(f, false);
    check_all(f);
    check_times(f, 100);
}

static void test_advance_start_and_retention_bytes(void **state)
{
    struct fx *f = *state;
    srand(f->seed + 3);
    append_random(f, 200);
    int segs = bk_log_segment_count(f->log);
    bk_log_set_hw(f->log, 10);
    struct bk_log_read_result res;
    assert_int_equal(bk_log_advance_start(f->log, 11), BK_ERANGE);
    assert_int_equal(bk_log_advance_start(f->log, 10), 0);
    assert_int_equal(bk_log_start_offset(f->log), 10);
    assert_int_equal(bk_log_read(f->log, 9, 10, INT64_MAX, &res), BK_ERANGE);
    assert_int_equal(bk_log_read(f->log, 10, 1, INT64_MAX, &res), 0);
    bk_log_read_release(&res);
    int64_t mid = bk_log_segment_base(f->log, segs / 2);
    bk_log_set_hw(f->log, INT64_MAX);
    assert_int_equal(bk_log_advance_start(f->log, mid + 1), 0);
    assert_int_equal(bk_log_segment_count(f->log), segs - segs / 2);
    assert_int_equal(bk_log_start_offset(f->log), mid + 1);
    /* Retention by size keeps at most retention.bytes plus the active. */
    f->cfg.retention_bytes = 3 * 16384;
    bk_log_set_config(f->log, &f->cfg);
    assert_true(bk_log_retention(f->log) > 0);
    assert_true(bk_log_segment_count(f->log) <= 4);
    int64_t start = bk_log_start_offset(f->log);
    assert_int_equal(start, bk_log_segment_base(f->log, 0));
    bk_syncer_run_once(f->sy);
    assert_int_equal(fake_disk_size(f->disk, DIR "/00000000000000000000.log"),
                     -1);
    restart(f, true);
    assert_int_equal(bk_log_start_offset(f->log), start);
    restart(f, false);
    assert_int_equal(bk_log_start_offset(f->log), start);
    check_offsets(f, 50);
}

static void test_retention_time(void **state)
{
    struct fx *f = *state;
    f->cfg.retention_ms = 3600 * 1000;
    bk_log_set_config(f->log, &f->cfg);
    int64_t now = f->clk.wall;
    for (int i = 0; i < 100; i++) {
        append(f, 2, now - 7200 * 1000 + i * 60 * 1000, 1, 300, 0);
    }
    int segs = bk_log_segment_count(f->log);
    assert_true(segs > 3);
    assert_int_equal(bk_log_tick(f->log), 0);
    /* Batches at now-2h .. now-20min: segments wholly older than 1 h go. */
    int after = bk_log_segment_count(f->log);
    assert_true(after < segs && after > 1);
    int64_t ts_first = -1, off = -1;
    assert_int_equal(bk_log_offset_for_time(f->log, 0, &off, &ts_first), 0);
    assert_int_equal(off, bk_log_start_offset(f->log));
    assert_true(ts_first >= now - 3600 * 1000 - 16 * 60 * 1000);
}

static void test_restart_clean_reads_no_data(void **state)
{
    struct fx *f = *state;
    srand(f->seed + 4);
    append_random(f, 300);
    restart(f, true);
    bk_log_close(f->log, true);
    bk_log_root_end(f->disk, ROOT);
    bool was_clean;
    bk_log_root_begin(f->disk, ROOT, &was_clean);
    uint64_t reads = fake_disk_reads(f->disk);
    fx_open(f, was_clean);
    /* Only the two checkpoint files are read. */
    assert_true(fake_disk_reads(f->disk) - reads <= 2);
    assert_int_equal(bk_log_recovery_scanned(f->log), 0);
    check_all(f);
}

static void test_restart_unclean_scans_tail(void **state)
{
    struct fx *f = *state;
    srand(f->seed + 5);
    f->cfg.segment_bytes = 1 << 20;
    f->cfg.recovery_checkpoint_bytes = 20000;
    bk_log_set_config(f->log, &f->cfg);
    append_random(f, 300);
    bk_syncer_run_once(f->sy);
    int64_t total = 0;
    for (int i = 0; i < f->m.n; i++) {
        total += (int64_t)f->m.b[i].len;
    }
    restart(f, false);
    assert_true(bk_log_recovery_scanned(f->log) > 0);
    assert_true(bk_log_recovery_scanned(f->log) <= 20000 + 8192);
    assert_true(bk_log_recovery_scanned(f->log) < total);
    check_all(f);
    check_offsets(f, 100);
}

/* With no usable checkpoint, recovery scans every segment from the first
 * one: each segment must be read from its own file (the scan's read buffer
 * once served the previous segment's bytes for the next one's start). */
static void test_restart_without_checkpoint_scans_all(void **state)
{
    struct fx *f = *state;
    srand(f->seed + 9);
    append_random(f, 300);
    assert_true(bk_log_segment_count(f->log) > 3);
    int64_t leo = bk_log_end_offset(f->log);
    bk_log_close(f->log, false);
    f->log = NULL;
    f->disk->unlink(f->disk, DIR "/log-checkpoint");
    f->disk->unlink(f->disk, DIR "/log-checkpoint.soft");
    fx_open(f, false);
    assert_int_equal(bk_log_end_offset(f->log), leo);
    check_all(f);
    check_offsets(f, 100);
}

/* A soft recovery point left on disk by an earlier run must not survive a
 * truncation below it: new batches laid out differently would otherwise
 * be scanned from the middle of a batch after kill -9. */
static void test_soft_point_vs_truncation(void **state)
{
    struct fx *f = *state;
    f->cfg.segment_bytes = 1 << 20;
    f->cfg.recovery_checkpoint_bytes = 6000;
    bk_log_set_config(f->log, &f->cfg);
    /* About 9.4 KB: one soft point near 6 KB. */
    for (int i = 0; i < 20; i++) {
        append(f, 2, 1000 + i, 1, 200, 0);
    }
    bk_syncer_run_once(f->sy);
    restart(f, true);
    int64_t cut = f->m.b[5].base;
    assert_int_equal(bk_log_truncate(f->log, cut), 0);
    model_truncate(&f->m, cut);
    /* About 4.1 KB from 2.4 KB: past the old soft point, too little for a
     * new one. */
    for (int i = 0; i < 10; i++) {
        append(f, 1, 5000 + i, 1, 333, 0);
    }
    restart(f, false);
    check_all(f);
}

static void test_corrupt_tail_truncated(void **state)
{
    struct fx *f = *state;
    srand(f->seed + 6);
    append_random(f, 40);
    int last = f->m.n - 1;
    /* Bit rot in the last batch of the active segment. */
    char path[128];
    snprintf(path, sizeof path, DIR "/%020lld.log",
             (long long)bk_log_segment_base(f->log,
                                            bk_log_segment_count(f->log) - 1));
    int64_t size = fake_disk_size(f->disk, path);
    assert_int_equal(fake_disk_corrupt(f->disk, path, size - 3, 0x40), 0);
    restart(f, false);
    assert_int_equal(bk_log_end_offset(f->log), f->m.b[last].base);
    model_truncate(&f->m, f->m.b[last].base);
    check_all(f);
    append_random(f, 5);
    check_all(f);
}

static void test_index_rebuilt(void **state)
{
    struct fx *f = *state;
    srand(f->seed + 7);
    append_random(f, 300);
    restart(f, true);
    assert_true(bk_log_segment_count(f->log) > 4);
    int64_t b2 = bk_log_segment_base(f->log, 2);
    int64_t b3 = bk_log_segment_base(f->log, 3);
    bk_log_close(f->log, true);
    bk_log_root_end(f->disk, ROOT);
    /* Lose one index, garble another, truncate a time index. */
    f->disk->unlink(f->disk, DIR "/00000000000000000000.index");
    char path[128];
    snprintf(path, sizeof path, DIR "/%020lld.index", (long long)b2);
    int64_t isz = fake_disk_size(f->disk, path);
    assert_true(isz >= 8);
    fake_disk_corrupt(f->disk, path, isz - 2, 0xff);
    snprintf(path, sizeof path, DIR "/%020lld.timeindex", (long long)b3);
    int fd = f->disk->open(f->disk, path, 0);
    f->disk->ftruncate(f->disk, fd, 5);
    f->disk->close(f->disk, fd);
    bool was_clean;
    bk_log_root_begin(f->disk, ROOT, &was_clean);
    fx_open(f, was_clean);
    check_offsets(f, 300);
    check_times(f, 200);
    check_all(f);
}

static void test_leader_epochs(void **state)
{
    struct fx *f = *state;
    int32_t e;
    int64_t end;
    assert_int_equal(bk_log_latest_epoch(f->log), -1);
    assert_int_equal(bk_log_epoch_end_offset(f->log, 3, &e, &end),
                     BK_ENOTFOUND);
    append(f, 2, 1, 0, 5, 1); /* 0-1 */
    append(f, 2, 1, 0, 5, 1); /* 2-3 */
    append(f, 2, 1, 0, 5, 3); /* 4-5 */
    append(f, 2, 1, 0, 5, 7); /* 6-7 */
    assert_int_equal(bk_log_latest_epoch(f->log), 7);
    assert_int_equal(bk_log_epoch_end_offset(f->log, 1, &e, &end), 0);
    assert_int_equal(e, 1);
    assert_int_equal(end, 4);
    assert_int_equal(bk_log_epoch_end_offset(f->log, 5, &e, &end), 0);
    assert_int_equal(e, 3);
    assert_int_equal(end, 6);
    assert_int_equal(bk_log_epoch_end_offset(f->log, 9, &e, &end), 0);
    assert_int_equal(e, 7);
    assert_int_equal(end, 8);
    assert_int_equal(bk_log_epoch_end_offset(f->log, 0, &e, &end),
                     BK_ENOTFOUND);
    /* A stale leader cannot append. */
    size_t n = test_batch_build(f->buf, sizeof f->buf, 1, 1, 0, 5, 0);
    struct bk_log_append_result r;
    assert_int_equal(
        bk_log_append(f->log, f->buf, n, 2, BK_LOG_APPEND_LEADER, &r),
        BK_EINVAL);
    /* The stored batch carries the epoch. */
    struct bk_batch_hdr h;
    bk_batch_hdr_decode(f->m.b[2].bytes, &h);
    assert_int_equal(h.leader_epoch, 3);
    restart(f, true);
    assert_int_equal(bk_log_latest_epoch(f->log), 7);
    /* Truncating drops the epochs that start at or past the new end. */
    assert_int_equal(bk_log_truncate(f->log, 6), 0);
    assert_int_equal(bk_log_latest_epoch(f->log), 3);
    restart(f, false);
    assert_int_equal(bk_log_latest_epoch(f->log), 3);
    assert_int_equal(bk_log_epoch_end_offset(f->log, 3, &e, &end), 0);
    assert_int_equal(end, 6);
    assert_int_equal(bk_log_truncate(f->log, 5), 0);
    assert_int_equal(bk_log_latest_epoch(f->log), 1);
}

/* A new leader's epoch starts at the log end before it writes anything
 * (KIP-101): OffsetsForLeaderEpoch answers for it at once. */
static void test_assign_epoch_at_log_end(void **state)
{
    struct fx *f = *state;
    int32_t e;
    int64_t end;
    assert_string_equal(bk_log_dir(f->log), DIR);
    assert_int_equal(bk_log_assign_epoch(f->log, -1), BK_EINVAL);
    assert_int_equal(bk_log_assign_epoch(f->log, 2), 0);
    assert_int_equal(bk_log_latest_epoch(f->log), 2);
    assert_int_equal(bk_log_epoch_end_offset(f->log, 2, &e, &end), 0);
    assert_int_equal(end, 0);
    append(f, 3, 1, 0, 5, 2); /* 0-2, no new entry */
    assert_int_equal(bk_log_assign_epoch(f->log, 5), 0);
    /* Idempotent, and a stale leader is refused. */
    assert_int_equal(bk_log_assign_epoch(f->log, 5), 0);
    assert_int_equal(bk_log_assign_epoch(f->log, 4), BK_EINVAL);
    assert_int_equal(bk_log_epoch_end_offset(f->log, 2, &e, &end), 0);
    assert_int_equal(e, 2);
    assert_int_equal(end, 3);
    assert_int_equal(bk_log_epoch_end_offset(f->log, 4, &e, &end), 0);
    assert_int_equal(e, 2);
    assert_int_equal(end, 3);
    assert_int_equal(bk_log_epoch_end_offset(f->log, 5, &e, &end), 0);
    assert_int_equal(e, 5);
    assert_int_equal(end, 3);
    append(f, 2, 1, 0, 5, 5); /* 3-4 */
    assert_int_equal(bk_log_epoch_end_offset(f->log, 5, &e, &end), 0);
    assert_int_equal(end, 5);
    /* Checkpointed: a restart keeps both. */
    restart(f, true);
    assert_int_equal(bk_log_epoch_end_offset(f->log, 2, &e, &end), 0);
    assert_int_equal(end, 3);
    assert_int_equal(bk_log_latest_epoch(f->log), 5);
    /* An epoch with no batch yet is dropped by a reopen, as by Kafka's log
     * load (truncateFromEnd at the log end): the leader assigns it again
     * when it takes over after the restart. */
    assert_int_equal(bk_log_assign_epoch(f->log, 6), 0);
    restart(f, true);
    assert_int_equal(bk_log_latest_epoch(f->log), 5);
}

static void test_follower_append(void **state)
{
    struct fx *f = *state;
    size_t n = test_batch_build(f->buf, sizeof f->buf, 3, 1, 0, 5, 0);
    bk_batch_set_leader_epoch(f->buf, 4);
    bk_batch_set_base_offset(f->buf, 0);
    struct bk_log_append_result r;
    assert_int_equal(
        bk_log_append(f->log, f->buf, n, -1, BK_LOG_APPEND_FOLLOWER, &r), 0);
    assert_int_equal(r.last_offset, 2);
    assert_int_equal(bk_log_latest_epoch(f->log), 4);
    /* Behind the log end: refused. */
    bk_batch_set_base_offset(f->buf, 2);
    assert_int_equal(
        bk_log_append(f->log, f->buf, n, -1, BK_LOG_APPEND_FOLLOWER, &r),
        BK_EINVAL);
    /* A gap (batches the leader's cleaner removed): kept as it is. */
    bk_batch_set_base_offset(f->buf, 10);
    assert_int_equal(
        bk_log_append(f->log, f->buf, n, -1, BK_LOG_APPEND_FOLLOWER, &r), 0);
    assert_int_equal(r.base_offset, 10);
    assert_int_equal(bk_log_end_offset(f->log), 13);
    struct bk_log_read_result res;
    assert_int_equal(bk_log_read(f->log, 5, 1 << 20, INT64_MAX, &res), 0);
    assert_int_equal(res.count, 1);
    bk_log_read_release(&res);
}

/* A follower left behind the leader's log start starts again there
 * (Kafka's truncateFullyAndStartAt): empty, no epochs, the old segments
 * gone, appends at the new offset work, and all of it survives both kinds
 * of restart. */
static void test_restart_at(void **state)
{
    struct fx *f = *state;
    srand(f->seed + 9);
    append_random(f, 60);
    assert_int_equal(bk_log_assign_epoch(f->log, 3), 0);
    int64_t end = bk_log_end_offset(f->log);
    assert_int_equal(bk_log_restart_at(f->log, end), BK_ERANGE);
    int64_t at = end + 1000;
    assert_int_equal(bk_log_restart_at(f->log, at), 0);
    assert_int_equal(bk_log_start_offset(f->log), at);
    assert_int_equal(bk_log_end_offset(f->log), at);
    assert_int_equal(bk_log_hw(f->log), at);
    assert_int_equal(bk_log_latest_epoch(f->log), -1);
    assert_int_equal(bk_log_segment_count(f->log), 1);
    struct bk_log_read_result res;
    assert_int_equal(bk_log_read(f->log, at - 1, 10, INT64_MAX, &res),
                     BK_ERANGE);
    size_t n = test_batch_build(f->buf, sizeof f->buf, 3, 1, 0, 5, 0);
    bk_batch_set_leader_epoch(f->buf, 7);
    bk_batch_set_base_offset(f->buf, at);
    struct bk_log_append_result r;
    assert_int_equal(
        bk_log_append(f->log, f->buf, n, -1, BK_LOG_APPEND_FOLLOWER, &r), 0);
    assert_int_equal(r.base_offset, at);
    assert_int_equal(bk_log_latest_epoch(f->log), 7);
    bk_syncer_run_once(f->sy);
    assert_int_equal(fake_disk_size(f->disk, DIR "/00000000000000000000.log"),
                     -1);
    restart(f, true);
    assert_int_equal(bk_log_start_offset(f->log), at);
    assert_int_equal(bk_log_end_offset(f->log), at + 3);
    restart(f, false);
    assert_int_equal(bk_log_start_offset(f->log), at);
    assert_int_equal(bk_log_end_offset(f->log), at + 3);
    assert_int_equal(bk_log_latest_epoch(f->log), 7);
    assert_int_equal(bk_log_read(f->log, at, 1 << 20, INT64_MAX, &res), 0);
    assert_int_equal(res.count, 1);
    bk_log_read_release(&res);
    /* Backwards only on an empty log: once every record is deleted, the
     * log may start again at the segment's own base. */
    assert_int_equal(bk_log_restart_at(f->log, at), BK_ERANGE);
    bk_log_set_hw(f->log, at + 3);
    assert_int_equal(bk_log_advance_start(f->log, at + 3), 0);
    assert_int_equal(bk_log_restart_at(f->log, at), 0);
    assert_int_equal(bk_log_start_offset(f->log), at);
    assert_int_equal(bk_log_end_offset(f->log), at);
    assert_int_equal(bk_log_segment_count(f->log), 1);
    assert_int_equal(bk_log_segment_base(f->log, 0), at);
    bk_batch_set_base_offset(f->buf, at);
    assert_int_equal(
        bk_log_append(f->log, f->buf, n, -1, BK_LOG_APPEND_FOLLOWER, &r), 0);
    bk_syncer_run_once(f->sy);
    restart(f, false);
    assert_int_equal(bk_log_start_offset(f->log), at);
    assert_int_equal(bk_log_end_offset(f->log), at + 3);
}

static void test_log_append_time(void **state)
{
    struct fx *f = *state;
    f->cfg.log_append_time = true;
    bk_log_set_config(f->log, &f->cfg);
    struct bk_log_append_result r = append(f, 3, 5, 1, 10, 0);
    assert_int_equal(r.log_append_time, f->clk.wall);
    uint8_t out[4096];
    size_t len;
    int64_t next;
    assert_int_equal(bk_log_read_copy(f->log, 0, 4096, INT64_MAX, out,
                                      sizeof out, &len, &next),
                     0);
    struct bk_batch_hdr h;
    assert_int_equal(bk_batch_validate(out, len, BK_BATCH_CHECK_STORED, &h), 0);
    assert_int_equal(h.max_timestamp, f->clk.wall);
    assert_true(h.attributes & BK_BATCH_ATTR_LOG_APPEND_TIME);
}

static void test_invalid_batches_rejected(void **state)
{
    struct fx *f = *state;
    size_t n = test_batch_build(f->buf, sizeof f->buf, 3, 1, 0, 5, 0);
    struct bk_log_append_result r;
    f->buf[n - 1] ^= 1;
    assert_int_equal(
        bk_log_append(f->log, f->buf, n, 0, BK_LOG_APPEND_LEADER, &r),
        BK_ECORRUPT);
    f->buf[n - 1] ^= 1;
    assert_int_equal(
        bk_log_append(f->log, f->buf, n - 1, 0, BK_LOG_APPEND_LEADER, &r),
        BK_EPROTO);
    f->buf[16] = 1;
    assert_int_equal(
        bk_log_append(f->log, f->buf, n, 0, BK_LOG_APPEND_LEADER, &r),
        BK_EUNSUPPORTED);
    f->cfg.max_message_bytes = 50;
    bk_log_set_config(f->log, &f->cfg);
    assert_int_equal(
        bk_log_append(f->log, f->buf, n, 0, BK_LOG_APPEND_LEADER, &r),
        BK_ETOOLARGE);
    assert_int_equal(bk_log_end_offset(f->log), 0);
    assert_int_equal(fake_disk_size(f->disk, DIR "/00000000000000000000.log"),
                     0);
}

struct sync_rec {
    struct bk_log_sync_req req;
    int status;
    int calls;
};

static void sync_cb(struct bk_log_sync_req *req, int status)
{
    struct sync_rec *s = req->data;
    s->status = status;
    s->calls++;
}

/* Many appends on many partitions share one fdatasync per file. */
static void test_grouped_sync(void **state)
{
    struct fx *f = *state;
    enum { NLOGS = 6, PER = 5 };
    struct bk_log *logs[NLOGS];
    struct sync_rec recs[NLOGS][PER];
    memset(recs, 0, sizeof recs);
    for (int i = 0; i < NLOGS; i++) {
        char dir[64];
        snprintf(dir, sizeof dir, "/data/g-%d", i);
        assert_int_equal(bk_log_open(dir, &f->cfg, f->disk, &f->clk.c, f->fc,
                                     f->sy, false, &logs[i], NULL),
                         0);
    }
    bk_syncer_run_once(f->sy);
    uint64_t before = bk_syncer_fsync_count(f->sy);
    for (int k = 0; k < PER; k++) {
        for (int i = 0; i < NLOGS; i++) {
            size_t n = test_batch_build(f->buf, sizeof f->buf, 2, 1, 0, 50, 0);
            struct bk_log_append_result r;
            assert_int_equal(
                bk_log_append(logs[i], f->buf, n, 0, BK_LOG_APPEND_LEADER, &r),
                0);
            recs[i][k].req.data = &recs[i][k];
            assert_int_equal(bk_log_sync(logs[i], r.last_offset + 1,
                                         &recs[i][k].req, sync_cb),
                             0);
            assert_true(bk_log_durable_offset(logs[i]) <= r.base_offset);
        }
    }
    /* One round: every request, plus each log's leader-epoch checkpoint. */
    assert_int_equal(bk_syncer_run_once(f->sy), NLOGS * PER + NLOGS);
    assert_int_equal(bk_syncer_fsync_count(f->sy) - before, NLOGS);
    for (int i = 0; i < NLOGS; i++) {
        for (int k = 0; k < PER; k++) {
            assert_int_equal(recs[i][k].calls, 1);
            assert_int_equal(recs[i][k].status, 0);
        }
        assert_int_equal(bk_log_durable_offset(logs[i]), 2 * PER);
        bk_log_close(logs[i], true);
    }
}

/* flush.messages queues a background sync without any request. */
static void test_flush_messages(void **state)
{
    struct fx *f = *state;
    f->cfg.flush_messages = 3;
    bk_log_set_config(f->log, &f->cfg);
    bk_syncer_run_once(f->sy);
    append(f, 1, 1, 0, 10, 0);
    append(f, 1, 1, 0, 10, 0);
    bk_syncer_run_once(f->sy);
    assert_int_equal(bk_log_durable_offset(f->log), 0);
    append(f, 1, 1, 0, 10, 0);
    bk_syncer_run_once(f->sy);
    assert_int_equal(bk_log_durable_offset(f->log), 3);
    f->cfg.flush_messages = INT64_MAX;
    f->cfg.flush_ms = 1000;
    bk_log_set_config(f->log, &f->cfg);
    append(f, 1, 1, 0, 10, 0);
    bk_log_tick(f->log);
    bk_syncer_run_once(f->sy);
    assert_int_equal(bk_log_durable_offset(f->log), 3);
    mclock_advance(&f->clk, 1000);
    bk_log_tick(f->log);
    bk_syncer_run_once(f->sy);
    assert_int_equal(bk_log_durable_offset(f->log), 4);
}

/* 200 partitions through an fd cache of 16: open files stay bounded. */
static void test_fd_cache_bounded(void **state)
{
    struct fx *f = *state;
    enum { NLOGS = 200 };
    struct bk_log **logs = calloc(NLOGS, sizeof *logs);
    size_t mem = 0;
    for (int i = 0; i < NLOGS; i++) {
        char dir[64];
        snprintf(dir, sizeof dir, "/data/p-%d", i);
        assert_int_equal(bk_log_open(dir, &f->cfg, f->disk, &f->clk.c, f->fc,
                                     f->sy, false, &logs[i], NULL),
                         0);
        for (int k = 0; k < 3; k++) {
            size_t n = test_batch_build(f->buf, sizeof f->buf, 2, 1, 0, 100, 0);
            struct bk_log_append_result r;
            assert_int_equal(
                bk_log_append(logs[i], f->buf, n, 0, BK_LOG_APPEND_LEADER, &r),
                0);
        }
        assert_true(bk_fdcache_open_count(f->fc) <= 16);
    }
    bk_syncer_run_once(f->sy);
    assert_true(fake_disk_open_fds(f->disk) <= 16 + 1);
    for (int i = 0; i < NLOGS; i++) {
        mem += bk_log_memory(logs[i]);
        uint8_t out[4096];
        size_t len;
        int64_t next;
        assert_int_equal(bk_log_read_copy(logs[i], 0, 4096, INT64_MAX, out,
                                          sizeof out, &len, &next),
                         0);
        assert_int_equal(next, 6);
    }
    printf("idle partition: %zu bytes of heap (log + 1 segment + handles)\n",
           mem / NLOGS);
    assert_true(mem / NLOGS <= 64 * 1024);
    for (int i = 0; i < NLOGS; i++) {
        bk_log_close(logs[i], true);
    }
    free(logs);
}

struct tsync {
    struct bk_log_sync_req req;
    _Atomic int *done;
};

static void tsync_cb(struct bk_log_sync_req *req, int status)
{
    struct tsync *t = req->data;
    assert_int_equal(status, 0);
    atomic_fetch_add(t->done, 1);
}

/* The real thing: POSIX disk in a temporary directory, syncer thread, fds
 * usable with pread/sendfile, clean and unclean restarts. */
static void test_posix_threaded(void **state)
{
    (void)state;
    char root[] = "/tmp/bk-test-log-XXXXXX";
    assert_non_null(mkdtemp(root));
    char dir[64];
    snprintf(dir, sizeof dir, "%s/p-0", root);
    const struct bk_disk *disk = bk_disk_posix();
    struct bk_fdcache *fc;
    struct bk_syncer *sy;
    struct bk_log_config cfg;
    bk_log_config_default(&cfg);
    cfg.segment_bytes = 65536;
    assert_int_equal(bk_fdcache_new(disk, 8, &fc), 0);
    assert_int_equal(bk_syncer_start(disk, fc, true, &sy), 0);
    bool clean;
    assert_int_equal(bk_log_root_begin(disk, root, &clean), 0);
    assert_false(clean);
    struct bk_log *log;
    assert_int_equal(bk_log_open(dir, &cfg, disk, bk_clock_system(), fc, sy,
                                 clean, &log, NULL),
                     0);
    enum { N = 300 };
    static uint8_t buf[8192];
    static struct tsync reqs[N];
    _Atomic int done = 0;
    for (int i = 0; i < N; i++) {
        size_t n =
            test_batch_build(buf, sizeof buf, 3, 1000 + i, 1, 500, (uint32_t)i);
        struct bk_log_append_result r;
        assert_int_equal(
            bk_log_append(log, buf, n, 0, BK_LOG_APPEND_LEADER, &r), 0);
        reqs[i].done = &done;
        reqs[i].req.data = &reqs[i];
        assert_int_equal(
            bk_log_sync(log, r.last_offset + 1, &reqs[i].req, tsync_cb), 0);
    }
    for (int k = 0; k < 10000 && atomic_load(&done) < N; k++) {
        struct timespec ts = { 0, 1000000 };
        nanosleep(&ts, NULL);
    }
    assert_int_equal(atomic_load(&done), N);
    assert_int_equal(bk_log_durable_offset(log), 3 * N);
    assert_true(bk_log_segment_count(log) > 3);
    /* The ranges carry real fds. */
    struct bk_log_read_result res;
    assert_int_equal(bk_log_read(log, 0, 1 << 20, INT64_MAX, &res), 0);
    assert_true(res.count >= 1);
    uint8_t hdr[BK_BATCH_HEADER_SIZE];
    assert_int_equal(pread(res.ranges[0].fd, hdr, sizeof hdr,
                           (off_t)res.ranges[0].file_offset),
                     (ssize_t)sizeof hdr);
    struct bk_batch_hdr h;
    bk_batch_hdr_decode(hdr, &h);
    assert_int_equal(h.base_offset, 0);
    bk_log_read_release(&res);
    assert_int_equal(bk_log_close(log, true), 0);
    assert_int_equal(bk_log_root_end(disk, root), 0);
    /* Clean restart. */
    assert_int_equal(bk_log_root_begin(disk, root, &clean), 0);
    assert_true(clean);
    assert_int_equal(bk_log_open(dir, &cfg, disk, bk_clock_system(), fc, sy,
                                 clean, &log, NULL),
                     0);
    assert_int_equal(bk_log_end_offset(log), 3 * N);
    assert_int_equal(bk_log_recovery_scanned(log), 0);
    size_t n = test_batch_build(buf, sizeof buf, 3, 1, 1, 500, 1);
    struct bk_log_append_result r;
    assert_int_equal(bk_log_append(log, buf, n, 0, BK_LOG_APPEND_LEADER, &r),
                     0);
    /* "kill -9": no clean close, no marker. */
    bk_log_close(log, false);
    assert_int_equal(bk_log_root_begin(disk, root, &clean), 0);
    assert_false(clean);
    assert_int_equal(bk_log_open(dir, &cfg, disk, bk_clock_system(), fc, sy,
                                 clean, &log, NULL),
                     0);
    assert_int_equal(bk_log_end_offset(log), 3 * N + 3);
    assert_true(bk_log_recovery_scanned(log) > 0);
    int64_t ts_off, ts;
    assert_int_equal(bk_log_offset_for_time(log, 1000 + 150, &ts_off, &ts), 0);
    assert_int_equal(ts_off, 3 * 148 + 2); /* batch 148: 1148..1150 */
    assert_int_equal(ts, 1150);
    assert_int_equal(bk_log_close(log, true), 0);
    bk_syncer_stop(sy);
    bk_fdcache_free(fc);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", root);
    /* A fixed command on the test's own directory. */
    /* NOLINTNEXTLINE(cert-env33-c) */
    assert_int_equal(system(cmd), 0);
}

/* A clean close of a log opened cleanly and left untouched writes and
 * syncs nothing (10,000 idle partitions used to take seconds to stop),
 * yet the next start still takes the clean path and sees every batch; a
 * crash after that still recovers from the unchanged checkpoint. Any
 * append in between makes the close write again. */
static void test_untouched_clean_close_writes_nothing(void **state)
{
    struct fx *f = *state;
    append_random(f, 40);
    restart(f, true);
    uint64_t fsyncs = fake_disk_fsyncs(f->disk);
    uint64_t writes = fake_disk_mutations(f->disk);
    assert_int_equal(bk_log_close(f->log, true), 0);
    f->log = NULL;
    assert_int_equal(fake_disk_fsyncs(f->disk), fsyncs);
    assert_int_equal(fake_disk_mutations(f->disk), writes);
    assert_int_equal(bk_log_root_end(f->disk, ROOT), 0);
    bool was_clean;
    assert_int_equal(bk_log_root_begin(f->disk, ROOT, &was_clean), 0);
    assert_true(was_clean);
    fx_open(f, was_clean);
    assert_int_equal(bk_log_recovery_scanned(f->log), 0);
    check_all(f);

    append_random(f, 3);
    fsyncs = fake_disk_fsyncs(f->disk);
    restart(f, true);
    assert_true(fake_disk_fsyncs(f->disk) > fsyncs);
    assert_int_equal(bk_log_recovery_scanned(f->log), 0);
    check_all(f);
    restart(f, false);
    check_all(f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_append_read, setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_untouched_clean_close_writes_nothing, setup, teardown),
        cmocka_unit_test_setup_teardown(test_read_limits, setup, teardown),
        cmocka_unit_test_setup_teardown(test_index_lookup_random, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_time_lookup_random, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_roll_by_time, setup, teardown),
        cmocka_unit_test_setup_teardown(test_truncate, setup, teardown),
        cmocka_unit_test_setup_teardown(test_advance_start_and_retention_bytes,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_retention_time, setup, teardown),
        cmocka_unit_test_setup_teardown(test_restart_clean_reads_no_data, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_restart_unclean_scans_tail, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(
            test_restart_without_checkpoint_scans_all, setup, teardown),
        cmocka_unit_test_setup_teardown(test_soft_point_vs_truncation, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_corrupt_tail_truncated, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_index_rebuilt, setup, teardown),
        cmocka_unit_test_setup_teardown(test_leader_epochs, setup, teardown),
        cmocka_unit_test_setup_teardown(test_assign_epoch_at_log_end, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_follower_append, setup, teardown),
        cmocka_unit_test_setup_teardown(test_restart_at, setup, teardown),
        cmocka_unit_test_setup_teardown(test_log_append_time, setup, teardown),
        cmocka_unit_test_setup_teardown(test_invalid_batches_rejected, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_grouped_sync, setup, teardown),
        cmocka_unit_test_setup_teardown(test_flush_messages, setup, teardown),
        cmocka_unit_test_setup_teardown(test_fd_cache_bounded, setup, teardown),
        cmocka_unit_test(test_posix_threaded),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
