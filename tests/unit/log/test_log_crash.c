/* Simulated power loss at many points of a random workload.
 *
 * Each seed runs a random mix of appends, sync requests, syncer rounds,
 * truncations, ticks and reads against a log on the fake disk, then
 * crashes it: a power loss (unsynced writes dropped, torn or reordered), a
 * kill -9 (page cache kept), or a clean shutdown followed by a power loss.
 * After recovery it checks that every batch acknowledged by a successful
 * sync is present and byte-identical, that every batch the log serves is
 * intact (CRC) with contiguous offsets, and that offset and time lookups
 * agree with a brute-force scan. Three crash cycles per seed.
 *
 * BK_CRASH_SEED=<n> reruns one seed; BK_CRASH_SEEDS=<n> sets the count. */
/* cmocka.h needs these first. */
/* clang-format off */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
/* clang-format on */

#include <stdio.h>

#include "common/diag.h"
#include "log_fixture.h"

#define ROOT "/d"
#define DIR  "/d/c-0"

struct run {
    uint64_t rng;
    struct bk_disk *disk;
    struct bk_fdcache *fc;
    struct bk_syncer *sy;
    struct mclock clk;
    struct bk_log_config cfg;
    struct bk_log *log;
    struct model m;
    int64_t acked; /* every batch below this was acknowledged durable */
    uint64_t gen;  /* bumped by truncation: older acks no longer count */
    bool crashed;
    uint8_t buf[16384];
    uint8_t out[1 << 16];
};

struct ack {
    struct bk_log_sync_req req;
    struct run *run;
    uint64_t gen;
    int64_t offset;
};

static uint64_t rnd(struct run *r)
{
    uint64_t z = (r->rng += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static void ack_cb(struct bk_log_sync_req *req, int status)
{
    struct ack *a = req->data;
    struct run *r = a->run;
    if (status == 0 && !r->crashed && a->gen == r->gen &&
        a->offset > r->acked) {
        r->acked = a->offset;
    }
}

static void open_log(struct run *r)
{
    bool was_clean;
    assert_int_equal(bk_log_root_begin(r->disk, ROOT, &was_clean), 0);
    fixture_open(DIR, &r->cfg, r->disk, &r->clk.c, r->fc, r->sy, was_clean,
                 &r->log);
}

/* Reads the whole log, checks it, and makes it the new model. */
static void verify_and_adopt(struct run *r)
{
    struct bk_log *log = r->log;
    int64_t leo = bk_log_end_offset(log);
    if (leo < r->acked) {
        fail_msg("lost acknowledged data: end %lld < acked %lld",
                 (long long)leo, (long long)r->acked);
    }
    struct model fresh = { 0 };
    int64_t off = bk_log_start_offset(log);
    while (off < leo) {
        size_t len;
        int64_t next;
        assert_int_equal(bk_log_read_copy(log, off, 4096, INT64_MAX, r->out,
                                          sizeof r->out, &len, &next),
                         0);
        assert_true(len > 0);
        size_t p = 0;
        while (p < len) {
            struct bk_batch_hdr h;
            assert_true(len - p >= BK_BATCH_HEADER_SIZE);
            bk_batch_hdr_decode(r->out + p, &h);
            size_t sz = (size_t)bk_batch_hdr_size(&h);
            assert_int_equal(
                bk_batch_validate(r->out + p, sz, BK_BATCH_CHECK_STORED, NULL),
                0);
            int64_t expect =
                fresh.n > 0 ? fresh.b[fresh.n - 1].last + 1 : h.base_offset;
            assert_int_equal(h.base_offset, expect);
            if (bk_batch_hdr_last_offset(&h) < r->acked) {
                int i = model_find(&r->m, h.base_offset);
                assert_true(i >= 0);
                assert_int_equal(r->m.b[i].len, sz);
                assert_memory_equal(r->m.b[i].bytes, r->out + p, sz);
            }
            int nrec = h.records_count;
            int64_t step =
                nrec > 1 ? (h.max_timestamp - h.base_timestamp) / (nrec - 1)
                         : 0;
            model_push(&fresh, r->out + p, sz, h.base_offset,
                       bk_batch_hdr_last_offset(&h), h.base_timestamp, step,
                       nrec);
            p += sz;
        }
        off = next;
    }
    assert_int_equal(off, leo);
    model_free(&r->m);
    r->m = fresh;
    /* Lookups against brute force on the recovered data. */
    for (int k = 0; k < 20 && r->m.n > 0; k++) {
        int i = (int)(rnd(r) % (uint64_t)r->m.n);
        struct mbatch *b = &r->m.b[i];
        int64_t o =
            b->base + (int64_t)(rnd(r) % (uint64_t)(b->last - b->base + 1));
        struct bk_log_read_result res;
        assert_int_equal(bk_log_read(log, o, 1, INT64_MAX, &res), 0);
        assert_int_equal(res.bytes, (int64_t)b->len);
        assert_int_equal(res.next_offset, b->last + 1);
        bk_log_read_release(&res);
        int64_t ts = b->base_ts + b->ts_step / 2, want = -1, got, got_ts;
        for (int j = 0; j < r->m.n && want < 0; j++) {
            struct mbatch *c = &r->m.b[j];
            for (int q = 0; q < c->nrec; q++) {
                if (c->base_ts + q * c->ts_step >= ts) {
                    want = c->base + q;
                    break;
                }
            }
        }
        assert_int_equal(bk_log_offset_for_time(log, ts, &got, &got_ts), 0);
        assert_int_equal(got, want);
    }
}

static void workload(struct run *r, struct ack *acks, int nacks)
{
    int used = 0;
    int steps = 1 + (int)(rnd(r) % 150);
    for (int s = 0; s < steps; s++) {
        uint64_t x = rnd(r) % 100;
        struct bk_log *log = r->log;
        if (x < 55) {
            int nrec = 1 + (int)(rnd(r) % 5);
            int64_t ts = r->clk.wall - 50000 + (int64_t)(rnd(r) % 100000);
            size_t n = test_batch_build(
                r->buf, sizeof r->buf, nrec, ts, (int64_t)(rnd(r) % 20),
                (size_t)(rnd(r) % 400), (uint32_t)rnd(r));
            struct bk_log_append_result res;
            int32_t epoch =
                (int32_t)(bk_log_latest_epoch(log) < 0
                              ? 0
                              : bk_log_latest_epoch(log) + (rnd(r) % 10 == 0));
            assert_int_equal(bk_log_append(log, r->buf, n, epoch,
                                           BK_LOG_APPEND_LEADER, &res),
                             0);
            model_push(&r->m, r->buf, n, res.base_offset, res.last_offset, ts,
                       0, nrec);
        } else if (x < 72 && used < nacks) {
            struct ack *a = &acks[used++];
            a->run = r;
            a->gen = r->gen;
            a->offset = bk_log_end_offset(log);
            a->req.data = a;
            assert_int_equal(bk_log_sync(log, a->offset, &a->req, ack_cb), 0);
        } else if (x < 88) {
            bk_syncer_run_once(r->sy);
        } else if (x < 91 && r->m.n > 0) {
            int64_t start = bk_log_start_offset(log);
            int64_t leo = bk_log_end_offset(log);
            int64_t to =
                start + (int64_t)(rnd(r) % (uint64_t)(leo - start + 1));
            assert_int_equal(bk_log_truncate(log, to), 0);
            bk_diag_debug("test", "truncate to=%lld leo=%lld", (long long)to,
                          (long long)bk_log_end_offset(log));
            r->gen++;
            int64_t nl = bk_log_end_offset(log);
            model_truncate(&r->m, nl);
            if (r->acked > nl) {
                r->acked = nl;
            }
        } else if (x < 94) {
            mclock_advance(&r->clk, (int64_t)(rnd(r) % 70000));
            assert_int_equal(bk_log_tick(log), 0);
        } else if (r->m.n > 0) {
            int i = (int)(rnd(r) % (uint64_t)r->m.n);
            size_t len;
            int64_t next;
            assert_int_equal(
                bk_log_read_copy(log, r->m.b[i].base, 1, INT64_MAX, r->out,
                                 sizeof r->out, &len, &next),
                0);
            assert_int_equal(len, r->m.b[i].len);
            assert_memory_equal(r->out, r->m.b[i].bytes, len);
        }
    }
}

static void crash_cycle(struct run *r)
{
    struct ack acks[64];
    memset(acks, 0, sizeof acks);
    workload(r, acks, 64);
    uint64_t mode = rnd(r) % 100;
    bk_diag_debug("test", "crash mode=%d leo=%lld acked=%lld", (int)mode,
                  (long long)bk_log_end_offset(r->log), (long long)r->acked);
    if (mode < 15) {
        /* Clean shutdown, then power loss or not: nothing may be lost. */
        assert_int_equal(bk_log_close(r->log, true), 0);
        assert_int_equal(bk_log_root_end(r->disk, ROOT), 0);
        r->acked = r->m.n > 0 ? r->m.b[r->m.n - 1].last + 1 : r->acked;
        fake_disk_crash(r->disk, mode < 8 ? FAKE_CRASH_POWER : FAKE_CRASH_KILL);
        fake_disk_revive(r->disk);
    } else {
        r->crashed = true;
        fake_disk_crash(r->disk,
                        mode < 35 ? FAKE_CRASH_KILL : FAKE_CRASH_POWER);
        bk_log_close(r->log, false);
        bk_syncer_stop(r->sy);
        fake_disk_revive(r->disk);
        assert_int_equal(bk_syncer_start(r->disk, r->fc, false, &r->sy), 0);
        r->crashed = false;
    }
    r->log = NULL;
    open_log(r);
    verify_and_adopt(r);
}

static void run_seed(uint64_t seed)
{
    struct run *r = calloc(1, sizeof *r);
    r->rng = seed;
    r->disk = fake_disk_new(seed ^ 0x5eed);
    mclock_init(&r->clk, 1700000000000LL);
    bk_log_config_default(&r->cfg);
    r->cfg.segment_bytes = 4096 + (int64_t)(rnd(r) % 8192);
    r->cfg.index_interval_bytes = 128 + (int64_t)(rnd(r) % 1024);
    r->cfg.recovery_checkpoint_bytes = 1000 + (int64_t)(rnd(r) % 20000);
    r->cfg.retention_ms = -1;
    if (rnd(r) % 4 == 0) {
        r->cfg.flush_messages = 1 + (int64_t)(rnd(r) % 5);
    }
    assert_int_equal(bk_fdcache_new(r->disk, 4 + (int)(rnd(r) % 8), &r->fc), 0);
    assert_int_equal(bk_syncer_start(r->disk, r->fc, false, &r->sy), 0);
    open_log(r);
    for (int c = 0; c < 3; c++) {
        crash_cycle(r);
    }
    bk_log_close(r->log, true);
    bk_syncer_stop(r->sy);
    bk_fdcache_free(r->fc);
    fake_disk_free(r->disk);
    model_free(&r->m);
    free(r);
}

static void test_power_loss(void **state)
{
    (void)state;
    /* Crashes make the syncer log errors by design; BK_CRASH_LOG=1 shows
     * them. */
    if (getenv("BK_CRASH_LOG") == NULL) {
        bk_diag_set_level(BK_DIAG_OFF);
    } else {
        bk_diag_set_level(BK_DIAG_DEBUG);
    }
    const char *one = getenv("BK_CRASH_SEED");
    if (one != NULL) {
        uint64_t seed = strtoull(one, NULL, 10);
        printf("crash seed=%llu\n", (unsigned long long)seed);
        run_seed(seed);
        return;
    }
    const char *n = getenv("BK_CRASH_SEEDS");
    int seeds = n != NULL ? atoi(n) : 1500;
    printf("crash seeds 1..%d (rerun one with BK_CRASH_SEED=n)\n", seeds);
    for (int s = 1; s <= seeds; s++) {
        printf("crash seed=%d\n", s);
        run_seed((uint64_t)s);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_power_loss),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
