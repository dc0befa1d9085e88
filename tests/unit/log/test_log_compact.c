/* Unit tests of the log cleaner (cleanup.policy=compact) on the fake disk:
 * latest value per key kept at its offset, offset gaps readable, the dirty
 * ratio and compaction lag, tombstones and their delete horizon, compressed
 * batches, producer state, and a crash (or an I/O error) at every disk
 * operation of a cleaning job. Rerun a random test with BK_TEST_SEED=<n>. */
/* cmocka.h needs these first. */
/* clang-format off */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
/* clang-format on */

#include <inttypes.h>
#include <stdio.h>

#include "common/arena.h"
#include "common/heap.h"
#include "log_fixture.h"
#include "protocol/record_batch.h"

#define ROOT "/data"
#define DIR  "/data/c-0"

#define MAX_RECS 20000
#define NKEYS    16

/* One record as appended (the model) or as read back. */
struct rec {
    int64_t offset;
    int key;   /* -1: no key */
    bool tomb; /* null value */
    int64_t ts;
    /* read back only */
    int64_t batch_base;
    int64_t pid;
    int16_t epoch;
    int32_t base_seq;
    int32_t last_delta;
    int16_t attrs;
};

struct fx {
    struct bk_disk *disk;
    struct bk_fdcache *fc;
    struct bk_syncer *sy;
    struct mclock clk;
    struct bk_log_config cfg;
    struct bk_log *log;
    struct rec *m; /* every record appended, by offset */
    int nm;
    struct rec *got; /* read back */
    int ngot;
    int64_t (*batches)[2]; /* read back: base and last offset */
    int nbatches;
    unsigned seed;
};

static void fx_open(struct fx *f, bool clean)
{
    fixture_open(DIR, &f->cfg, f->disk, &f->clk.c, f->fc, f->sy, clean,
                 &f->log);
}

static void fx_init(struct fx *f)
{
    memset(f, 0, sizeof *f);
    f->seed = fixture_seed(20261127u);
    srand(f->seed);
    f->disk = fake_disk_new(f->seed);
    mclock_init(&f->clk, 1700000000000LL);
    bk_log_config_default(&f->cfg);
    f->cfg.segment_bytes = 2048;
    f->cfg.index_interval_bytes = 256;
    f->cfg.retention_ms = -1;
    f->cfg.cleanup_compact = true;
    f->cfg.cleanup_delete = false;
    f->cfg.cleaner_backoff_ms = 0;
    f->m = calloc(MAX_RECS, sizeof *f->m);
    f->got = calloc(MAX_RECS, sizeof *f->got);
    f->batches = calloc(MAX_RECS, sizeof *f->batches);
    assert_int_equal(bk_fdcache_new(f->disk, 32, &f->fc), 0);
    assert_int_equal(bk_syncer_start(f->disk, f->fc, false, &f->sy), 0);
    fx_open(f, false);
}

static int setup(void **state)
{
    struct fx *f = malloc(sizeof *f);
    fx_init(f);
    *state = f;
    return 0;
}

static void fx_free(struct fx *f)
{
    if (f->log != NULL) {
        bk_log_close(f->log, true);
    }
    bk_syncer_stop(f->sy);
    bk_fdcache_free(f->fc);
    fake_disk_free(f->disk);
    free(f->m);
    free(f->got);
    free(f->batches);
}

static int teardown(void **state)
{
    struct fx *f = *state;
    fx_free(f);
    free(f);
    return 0;
}

/* The value of the record at offset: it names the offset, so a survivor
 * carries proof of where it was written. */
static int value_of(int64_t offset, char *buf, size_t cap)
{
    return snprintf(buf, cap, "value-at-%" PRId64 "-padding-padding", offset);
}

struct batch_opts {
    enum bk_codec codec;
    int64_t pid;
    int16_t epoch;
    int32_t seq;
};

/* Appends one batch of n records with keys keys[i] (-1: none) and
 * tombstones where tomb[i]; timestamps are the clock's wall time. */
static int64_t append_batch(struct fx *f,
                            int n,
                            const int *keys,
                            const bool *tomb,
                            const struct batch_opts *o)
{
    struct bk_batch_builder b;
    bk_batch_builder_init(&b, o != NULL ? o->codec : BK_CODEC_NONE);
    if (o != NULL) {
        b.producer_id = o->pid;
        b.producer_epoch = o->epoch;
        b.base_sequence = o->seq;
    }
    int64_t base = bk_log_end_offset(f->log);
    for (int i = 0; i < n; i++) {
        char k[16], v[64];
        int kl = snprintf(k, sizeof k, "key-%d", keys[i]);
        int vl = value_of(base + i, v, sizeof v);
        struct bk_bytes key = { (const uint8_t *)k, kl };
        if (keys[i] < 0) {
            key = BK_BYTES_NULL;
        }
        struct bk_bytes val = { (const uint8_t *)v, vl };
        if (tomb != NULL && tomb[i]) {
            val = BK_BYTES_NULL;
        }
        assert_int_equal(
            bk_batch_builder_add(&b, f->clk.wall + i, key, val, NULL, 0), 0);
    }
    uint8_t *buf;
    size_t len;
    assert_int_equal(bk_batch_builder_finish(&b, NULL, &buf, &len), 0);
    bk_batch_builder_free(&b);
    struct bk_log_append_result r;
    assert_int_equal(
        bk_log_append(f->log, buf, len, 0, BK_LOG_APPEND_LEADER, &r), 0);
    bk_free(buf);
    assert_int_equal(r.base_offset, base);
    /* The produce path moves the high watermark (a single replica). */
    bk_log_set_hw(f->log, bk_log_end_offset(f->log));
    for (int i = 0; i < n; i++) {
        assert_true(f->nm < MAX_RECS);
        struct rec *m = &f->m[f->nm++];
        memset(m, 0, sizeof *m);
        m->offset = base + i;
        m->key = keys[i];
        m->tomb = tomb != NULL && tomb[i];
        m->ts = f->clk.wall + i;
    }
    f->clk.wall += n;
    f->clk.mono += n;
    return base;
}

static int64_t put(struct fx *f, int key)
{
    return append_batch(f, 1, &key, NULL, NULL);
}

/* n single-record updates of keys round-robin over nkeys. */
static void updates(struct fx *f, int n, int nkeys)
{
    for (int i = 0; i < n; i++) {
        put(f, i % nkeys);
    }
}

static const struct rec *model_at(const struct fx *f, int64_t offset)
{
    return offset >= 0 && offset < f->nm ? &f->m[offset] : NULL;
}

/* Offset of the latest record of key below `below`, or -1. */
static int64_t latest(const struct fx *f, int key, int64_t below)
{
    int64_t best = -1;
    for (int i = 0; i < f->nm && f->m[i].offset < below; i++) {
        if (f->m[i].key == key) {
            best = f->m[i].offset;
        }
    }
    return best;
}

/* Reads the whole log back into f->got, checking every batch's CRC, that
 * offsets only grow, and that each record is byte for byte the one written
 * at its offset (key, value and timestamp). */
static void read_all(struct fx *f)
{
    static uint8_t out[1 << 18];
    struct bk_arena ar;
    bk_arena_init(&ar, 1 << 16, 0);
    f->ngot = 0;
    f->nbatches = 0;
    int64_t off = bk_log_start_offset(f->log), prev = -1;
    int64_t leo = bk_log_end_offset(f->log);
    while (off < leo) {
        size_t len;
        int64_t next;
        int rv = bk_log_read_copy(f->log, off, 8192, INT64_MAX, out, sizeof out,
                                  &len, &next);
        assert_int_equal(rv, 0);
        if (len == 0) {
            break;
        }
        assert_true(next > off);
        for (size_t p = 0; p < len;) {
            struct bk_batch_hdr h;
            bk_batch_hdr_decode(out + p, &h);
            size_t sz = (size_t)bk_batch_hdr_size(&h);
            assert_int_equal(
                bk_batch_validate(out + p, sz, BK_BATCH_CHECK_STORED, NULL), 0);
            assert_true(h.base_offset > prev);
            f->batches[f->nbatches][0] = h.base_offset;
            f->batches[f->nbatches++][1] = bk_batch_hdr_last_offset(&h);
            bk_arena_reset(&ar);
            struct bk_record_iter it;
            assert_int_equal(
                bk_record_iter_init(&it, out + p, sz, &ar, 1 << 24), 0);
            struct bk_record r;
            int n = 0;
            while ((rv = bk_record_iter_next(&it, &r)) == 1) {
                assert_true(r.offset > prev);
                assert_true(r.offset <= bk_batch_hdr_last_offset(&h));
                prev = r.offset;
                const struct rec *m = model_at(f, r.offset);
                assert_non_null(m);
                struct rec *g = &f->got[f->ngot++];
                *g = *m;
                g->batch_base = h.base_offset;
                g->pid = h.producer_id;
                g->epoch = h.producer_epoch;
                g->base_seq = h.base_sequence;
                g->last_delta = h.last_offset_delta;
                g->attrs = h.attributes;
                char k[16], v[64];
                if (m->key >= 0) {
                    int kl = snprintf(k, sizeof k, "key-%d", m->key);
                    assert_int_equal(r.key.len, kl);
                    assert_memory_equal(r.key.ptr, k, (size_t)kl);
                } else {
                    assert_int_equal(r.key.len, -1);
                }
                if (m->tomb) {
                    assert_int_equal(r.value.len, -1);
                } else {
                    int vl = value_of(r.offset, v, sizeof v);
                    assert_int_equal(r.value.len, vl);
                    assert_memory_equal(r.value.ptr, v, (size_t)vl);
                }
                assert_int_equal(r.timestamp, m->ts);
                n++;
            }
            assert_int_equal(rv, 0);
            assert_int_equal(n, h.records_count);
            prev = bk_batch_hdr_last_offset(&h);
            p += sz;
        }
        off = next;
    }
    bk_arena_destroy(&ar);
}

static bool got_has(const struct fx *f, int64_t offset)
{
    for (int i = 0; i < f->ngot; i++) {
        if (f->got[i].offset == offset) {
            return true;
        }
    }
    return false;
}

/* The log as read back is the compaction of the model below clean_end:
 * there, only the latest record of each key (below `upto`, the end when
 * the job ran) is left; at and above it, everything is. Tombstones count
 * as records unless drop_tombs. */
static void check_compacted(struct fx *f,
                            int64_t clean_end,
                            int64_t upto,
                            bool drop_tombs)
{
    read_all(f);
    for (int i = 0; i < f->nm; i++) {
        const struct rec *m = &f->m[i];
        if (m->offset < bk_log_start_offset(f->log)) {
            continue;
        }
        bool want;
        if (m->offset >= clean_end) {
            want = true;
        } else {
            want = m->key >= 0 && latest(f, m->key, upto) == m->offset &&
                   !(m->tomb && drop_tombs);
        }
        if (want != got_has(f, m->offset)) {
            fail_msg("offset %" PRId64 " key %d tomb %d: expected %s",
                     m->offset, m->key, m->tomb, want ? "kept" : "removed");
        }
    }
}

static void sync_all(struct fx *f)
{
    while (bk_syncer_run_once(f->sy) > 0) {
    }
}

static int64_t data_bytes(struct fx *f)
{
    int64_t total = 0;
    for (int i = 0; i < bk_log_segment_count(f->log); i++) {
        char path[256];
        snprintf(path, sizeof path, DIR "/%020" PRId64 ".log",
                 bk_log_segment_base(f->log, i));
        int64_t n = fake_disk_size(f->disk, path);
        assert_true(n >= 0);
        total += n;
    }
    return total;
}

/* Every offset reads as the first batch that ends at or after it. */
static void check_reads_at_every_offset(struct fx *f)
{
    int64_t start = bk_log_start_offset(f->log);
    int64_t leo = bk_log_end_offset(f->log);
    for (int64_t o = start; o < leo; o++) {
        struct bk_log_read_result res;
        assert_int_equal(bk_log_read(f->log, o, 1, INT64_MAX, &res), 0);
        /* The first batch that ends at or after o (an emptied batch of a
         * producer counts). */
        int64_t want = -1;
        for (int i = 0; i < f->nbatches; i++) {
            if (f->batches[i][1] >= o) {
                want = f->batches[i][0];
                break;
            }
        }
        if (want < 0) {
            assert_int_equal(res.count, 0);
            continue;
        }
        assert_true(res.count >= 1);
        uint8_t hdr[BK_BATCH_HEADER_SIZE];
        int fd = res.ranges[0].fd;
        assert_int_equal(f->disk->pread(f->disk, fd, hdr, sizeof hdr,
                                        res.ranges[0].file_offset),
                         (ssize_t)sizeof hdr);
        struct bk_batch_hdr h;
        bk_batch_hdr_decode(hdr, &h);
        assert_int_equal(h.base_offset, want);
        assert_true(res.next_offset > o);
        bk_log_read_release(&res);
    }
}

/* ListOffsets by time against brute force over the survivors. */
static void check_time_lookups(struct fx *f)
{
    for (int k = 0; k < 50 && f->ngot > 0; k++) {
        const struct rec *g = &f->got[rand() % f->ngot];
        int64_t ts = g->ts - (rand() % 3);
        int64_t want = -1;
        for (int i = 0; i < f->ngot && want < 0; i++) {
            if (f->got[i].ts >= ts) {
                want = f->got[i].offset;
            }
        }
        int64_t got, got_ts;
        assert_int_equal(bk_log_offset_for_time(f->log, ts, &got, &got_ts), 0);
        assert_int_equal(got, want);
    }
}

static void reopen(struct fx *f, bool clean)
{
    bk_log_close(f->log, clean);
    f->log = NULL;
    fx_open(f, clean);
}

/* ---- tests ---- */

static void test_keeps_latest(void **state)
{
    struct fx *f = *state;
    updates(f, 600, NKEYS);
    int64_t leo = bk_log_end_offset(f->log);
    int nseg = bk_log_segment_count(f->log);
    assert_true(nseg > 10);
    int64_t before = data_bytes(f);
    int32_t ep;
    int64_t ep_end;
    assert_int_equal(bk_log_epoch_end_offset(f->log, 0, &ep, &ep_end), 0);

    struct bk_log_clean_stats st;
    assert_int_equal(bk_log_clean(f->log, false, &st), 0);
    assert_true(st.segments > 0);
    assert_true(st.records_removed > 0);
    int64_t ce = bk_log_clean_offset(f->log);
    assert_int_equal(ce, st.clean_end);
    /* Every sealed segment was cleanable. */
    assert_int_equal(
        ce, bk_log_segment_base(f->log, bk_log_segment_count(f->log) - 1));
    assert_int_equal(bk_log_end_offset(f->log), leo);
    assert_int_equal(bk_log_start_offset(f->log), 0);
    assert_int_equal(bk_log_segment_base(f->log, 0), 0);
    check_compacted(f, ce, leo, false);
    /* Each key once below the cleaned offset, and the data shrank. */
    int below = 0;
    for (int i = 0; i < f->ngot; i++) {
        below += f->got[i].offset < ce;
    }
    assert_true(below <= NKEYS);
    assert_true(data_bytes(f) < before / 4);
    assert_true(bk_log_segment_count(f->log) < nseg);
    assert_true(st.segments_deleted > 0);
    check_reads_at_every_offset(f);
    check_time_lookups(f);
    int32_t ep2;
    int64_t ep_end2;
    assert_int_equal(bk_log_epoch_end_offset(f->log, 0, &ep2, &ep_end2), 0);
    assert_int_equal(ep2, ep);
    assert_int_equal(ep_end2, ep_end);

    /* A second job with nothing dirty does nothing. */
    assert_int_equal(bk_log_clean(f->log, false, &st), 0);
    assert_int_equal(st.segments, 0);

    /* Clean restart, unclean restart, and an unclean restart that must
     * scan everything (no recovery checkpoint): the gaps are accepted. */
    sync_all(f);
    leo = bk_log_end_offset(f->log);
    reopen(f, true);
    check_compacted(f, ce, leo, false);
    reopen(f, false);
    check_compacted(f, ce, leo, false);
    bk_log_close(f->log, false);
    f->log = NULL;
    f->disk->unlink(f->disk, DIR "/log-checkpoint");
    f->disk->unlink(f->disk, DIR "/log-checkpoint.soft");
    fx_open(f, false);
    assert_int_equal(bk_log_end_offset(f->log), leo);
    assert_int_equal(bk_log_clean_offset(f->log), ce);
    check_compacted(f, ce, leo, false);
    check_reads_at_every_offset(f);
    check_time_lookups(f);
    /* And appends continue after a restart. */
    assert_int_equal(put(f, 5), leo);
}

static void test_random_workload(void **state)
{
    struct fx *f = *state;
    /* Several rounds of random updates, deletes and cleanings; after each
     * the log must be exactly the compaction of the model. */
    f->cfg.delete_retention_ms = 1000000;
    bk_log_set_config(f->log, &f->cfg);
    int64_t prev_ce = 0;
    for (int round = 0; round < 8; round++) {
        int n = 50 + rand() % 200;
        for (int i = 0; i < n; i++) {
            int nrec = 1 + rand() % 4;
            int keys[4];
            bool tomb[4];
            for (int k = 0; k < nrec; k++) {
                keys[k] = rand() % 40;
                tomb[k] = rand() % 10 == 0;
            }
            append_batch(f, nrec, keys, tomb, NULL);
        }
        int64_t leo = bk_log_end_offset(f->log);
        struct bk_log_clean_stats st;
        assert_int_equal(bk_log_clean(f->log, true, &st), 0);
        int64_t ce = bk_log_clean_offset(f->log);
        assert_true(ce >= prev_ce);
        prev_ce = ce;
        check_compacted(f, ce, leo, false);
        if (round % 3 == 2) {
            sync_all(f);
            reopen(f, round % 2 == 0);
            check_compacted(f, ce, leo, false);
        }
    }
}

static void test_dirty_ratio_and_lag(void **state)
{
    struct fx *f = *state;
    f->cfg.min_cleanable_dirty_ratio = 0.5;
    f->cfg.min_compaction_lag_ms = 0;
    bk_log_set_config(f->log, &f->cfg);
    /* Many distinct keys: cleaning keeps most of the data, so the clean
     * part stays big. */
    for (int i = 0; i < 300; i++) {
        put(f, i);
    }
    struct bk_log_clean_stats st;
    assert_int_equal(bk_log_clean(f->log, false, &st), 0);
    assert_true(st.segments > 0);
    int64_t ce = bk_log_clean_offset(f->log);
    int64_t clean_bytes = data_bytes(f);
    /* A little dirty data: under the ratio, nothing happens. */
    int64_t start = bk_log_end_offset(f->log);
    while (bk_log_segment_count(f->log) < 2 ||
           bk_log_segment_base(f->log, bk_log_segment_count(f->log) - 1) <=
               start) {
        put(f, 1000);
    }
    assert_int_equal(bk_log_clean(f->log, false, &st), 0);
    assert_int_equal(st.segments, 0);
    assert_int_equal(bk_log_clean_offset(f->log), ce);
    /* Once the dirty part outweighs the clean part, it runs. */
    while (data_bytes(f) < 3 * clean_bytes) {
        put(f, 1000);
    }
    /* ... but not before min.compaction.lag.ms. */
    f->cfg.min_compaction_lag_ms = 60000;
    bk_log_set_config(f->log, &f->cfg);
    assert_int_equal(bk_log_clean(f->log, false, &st), 0);
    assert_int_equal(st.segments, 0);
    /* ... and not within log.cleaner.backoff.ms of the last look. */
    f->cfg.min_compaction_lag_ms = 0;
    f->cfg.cleaner_backoff_ms = 15000;
    bk_log_set_config(f->log, &f->cfg);
    assert_int_equal(bk_log_clean(f->log, false, &st), 0);
    assert_int_equal(st.segments, 0);
    mclock_advance(&f->clk, 15000);
    int64_t leo = bk_log_end_offset(f->log);
    assert_int_equal(bk_log_clean(f->log, false, &st), 0);
    assert_true(st.segments > 0);
    assert_true(bk_log_clean_offset(f->log) > ce);
    check_compacted(f, bk_log_clean_offset(f->log), leo, false);
    /* Disabled cleaner, or a delete-only policy: nothing. */
    f->cfg.cleaner_backoff_ms = 0;
    f->cfg.cleaner_enable = false;
    bk_log_set_config(f->log, &f->cfg);
    updates(f, 200, 2);
    assert_int_equal(bk_log_clean(f->log, false, &st), 0);
    assert_int_equal(st.segments, 0);
    f->cfg.cleaner_enable = true;
    f->cfg.cleanup_compact = false;
    f->cfg.cleanup_delete = true;
    bk_log_set_config(f->log, &f->cfg);
    assert_int_equal(bk_log_clean(f->log, true, &st), 0);
    assert_int_equal(st.segments, 0);
}

static void test_max_compaction_lag(void **state)
{
    struct fx *f = *state;
    for (int i = 0; i < 200; i++) {
        put(f, i);
    }
    struct bk_log_clean_stats st;
    assert_int_equal(bk_log_clean(f->log, false, &st), 0);
    int64_t ce = bk_log_clean_offset(f->log);
    /* A small dirty part, far under the ratio... */
    int64_t start = bk_log_end_offset(f->log);
    while (bk_log_segment_base(f->log, bk_log_segment_count(f->log) - 1) <=
           start) {
        put(f, 7);
    }
    f->cfg.max_compaction_lag_ms = 3600000;
    bk_log_set_config(f->log, &f->cfg);
    assert_int_equal(bk_log_clean(f->log, false, &st), 0);
    assert_int_equal(st.segments, 0);
    /* ... is cleaned once older than max.compaction.lag.ms. */
    mclock_advance(&f->clk, 3600001);
    assert_int_equal(bk_log_clean(f->log, false, &st), 0);
    assert_true(st.segments > 0);
    assert_true(bk_log_clean_offset(f->log) > ce);
}

static void test_tombstones(void **state)
{
    struct fx *f = *state;
    f->cfg.delete_retention_ms = 86400000;
    bk_log_set_config(f->log, &f->cfg);
    updates(f, 100, 4);
    int k = 2;
    bool t = true;
    int64_t tomb = append_batch(f, 1, &k, &t, NULL);
    updates(f, 100, 1); /* key 0 only: roll past the tombstone */
    int64_t leo = bk_log_end_offset(f->log);
    struct bk_log_clean_stats st;
    assert_int_equal(bk_log_clean(f->log, false, &st), 0);
    int64_t ce = bk_log_clean_offset(f->log);
    assert_true(ce > tomb);
    /* The older values of key 2 are gone, the tombstone stays, with the
     * timestamps of every record unchanged (read_all checks them). */
    check_compacted(f, ce, leo, false);
    assert_true(got_has(f, tomb));
    for (int i = 0; i < f->ngot; i++) {
        if (f->got[i].offset == tomb) {
            assert_true((f->got[i].attrs & 0x40) != 0); /* delete horizon */
        } else if (f->got[i].offset < ce) {
            assert_int_equal(f->got[i].attrs & 0x40, 0);
        }
    }
    /* Survives a restart (the horizon is in the batch). */
    sync_all(f);
    reopen(f, false);
    /* Just before delete.retention.ms: still there, even when forced. */
    mclock_advance(&f->clk, 86400000 - 1000);
    updates(f, 60, 1);
    assert_int_equal(bk_log_clean(f->log, true, &st), 0);
    check_compacted(f, bk_log_clean_offset(f->log), bk_log_end_offset(f->log),
                    false);
    assert_true(got_has(f, tomb));
    /* After it: the horizon alone makes the cleaner run (no dirty data),
     * and the tombstone goes. */
    mclock_advance(&f->clk, 2000);
    assert_int_equal(bk_log_clean(f->log, false, &st), 0);
    assert_true(st.segments > 0);
    assert_int_equal(st.tombstones_removed, 1);
    check_compacted(f, bk_log_clean_offset(f->log), bk_log_end_offset(f->log),
                    true);
    assert_false(got_has(f, tomb));
    /* Nothing more to do: no horizon left, nothing dirty. */
    assert_int_equal(bk_log_clean(f->log, false, &st), 0);
    assert_int_equal(st.segments, 0);
}

static void test_compressed(void **state)
{
    struct fx *f = *state;
    f->cfg.segment_bytes = 4096;
    bk_log_set_config(f->log, &f->cfg);
    enum bk_codec codecs[] = { BK_CODEC_GZIP, BK_CODEC_SNAPPY, BK_CODEC_LZ4,
                               BK_CODEC_ZSTD, BK_CODEC_NONE };
    for (int round = 0; round < 40; round++) {
        int keys[8];
        bool tomb[8];
        for (int i = 0; i < 8; i++) {
            keys[i] = rand() % 12;
            tomb[i] = rand() % 16 == 0;
        }
        struct batch_opts o = { codecs[round % 5], -1, -1, -1 };
        append_batch(f, 8, keys, tomb, &o);
    }
    int64_t leo = bk_log_end_offset(f->log);
    struct bk_log_clean_stats st;
    assert_int_equal(bk_log_clean(f->log, true, &st), 0);
    assert_true(st.records_removed > 0);
    check_compacted(f, bk_log_clean_offset(f->log), leo, false);
    /* Each surviving batch kept its codec: the model appended batch b
     * (8 records from offset 8b) with codecs[b % 5]. */
    for (int i = 0; i < f->ngot; i++) {
        int b = (int)(f->got[i].batch_base / 8);
        assert_int_equal(f->got[i].attrs & 7, (int)codecs[b % 5]);
        assert_int_equal(f->got[i].batch_base % 8, 0);
        assert_int_equal(f->got[i].last_delta, 7);
    }
}

static void test_producer_state(void **state)
{
    struct fx *f = *state;
    /* Producer 7 writes keys 0..3 in batches of 4 (sequences 0, 4, 8),
     * then everything it wrote is overwritten by a plain producer. */
    int keys[4] = { 0, 1, 2, 3 };
    struct batch_opts o = { BK_CODEC_NONE, 7, 3, 0 };
    for (int i = 0; i < 3; i++) {
        o.seq = 4 * i;
        append_batch(f, 4, keys, NULL, &o);
    }
    /* Producer 8 (long gone: 2 days) wrote key 9 once, overwritten. */
    int k9 = 9;
    struct batch_opts o8 = { BK_CODEC_NONE, 8, 0, 0 };
    mclock_advance(&f->clk, -2 * 86400000LL);
    append_batch(f, 1, &k9, NULL, &o8);
    mclock_advance(&f->clk, 2 * 86400000LL);
    /* Producer 9 writes keys 4..5; only key 4 is overwritten later. */
    int keys45[2] = { 4, 5 };
    struct batch_opts o9 = { BK_CODEC_LZ4, 9, 1, 100 };
    int64_t p9 = append_batch(f, 2, keys45, NULL, &o9);
    updates(f, 200, 5); /* keys 0..4 */
    put(f, 9);
    updates(f, 60, 1);
    int64_t leo = bk_log_end_offset(f->log);
    struct bk_log_clean_stats st;
    assert_int_equal(bk_log_clean(f->log, false, &st), 0);
    check_compacted(f, bk_log_clean_offset(f->log), leo, false);
    /* Producer 9's batch lost key 4 but keeps its header fields. */
    bool seen9 = false;
    for (int i = 0; i < f->ngot; i++) {
        if (f->got[i].batch_base == p9) {
            seen9 = true;
            assert_int_equal(f->got[i].offset, p9 + 1);
            assert_int_equal(f->got[i].pid, 9);
            assert_int_equal(f->got[i].epoch, 1);
            assert_int_equal(f->got[i].base_seq, 100);
            assert_int_equal(f->got[i].last_delta, 1);
            assert_int_equal(f->got[i].attrs & 7, BK_CODEC_LZ4);
        }
        assert_true(f->got[i].pid != 7 && f->got[i].pid != 8);
    }
    assert_true(seen9);
    /* Producer 7's last batch (base 8, sequence 8..11) stays as an empty
     * batch, so that a restart without a producer snapshot still knows its
     * last sequence; its earlier batches and producer 8's are gone. */
    static uint8_t out[1 << 16];
    int empties = 0;
    int64_t off = 0;
    while (off < leo) {
        size_t len;
        int64_t next;
        assert_int_equal(bk_log_read_copy(f->log, off, 4096, INT64_MAX, out,
                                          sizeof out, &len, &next),
                         0);
        for (size_t p = 0; p < len;) {
            struct bk_batch_hdr h;
            bk_batch_hdr_decode(out + p, &h);
            if (h.producer_id == 7) {
                assert_int_equal(h.base_offset, 8);
                assert_int_equal(h.records_count, 0);
                assert_int_equal(h.last_offset_delta, 3);
                assert_int_equal(h.producer_epoch, 3);
                assert_int_equal(h.base_sequence, 8);
                empties++;
            }
            assert_true(h.producer_id != 8);
            p += (size_t)bk_batch_hdr_size(&h);
        }
        off = next;
    }
    assert_int_equal(empties, 1);
    /* Reading at the emptied offsets returns the empty batch or later. */
    struct bk_log_read_result res;
    assert_int_equal(bk_log_read(f->log, 9, 1, INT64_MAX, &res), 0);
    assert_true(res.next_offset >= 12);
    bk_log_read_release(&res);
}

/* Appends a workload whose every byte is durable, for the fault sweeps. */
static void durable_workload(struct fx *f)
{
    for (int i = 0; i < 240; i++) {
        int nrec = 1 + (i % 3);
        int keys[3];
        bool tomb[3];
        for (int k = 0; k < nrec; k++) {
            keys[k] = (i * 7 + k) % 10;
            tomb[k] = (i + k) % 17 == 0;
        }
        struct batch_opts o = { (enum bk_codec)(i % 3 == 0 ? BK_CODEC_ZSTD
                                                           : BK_CODEC_NONE),
                                i % 5 == 0 ? 42 : -1, 0, i };
        append_batch(f, nrec, keys, tomb, &o);
    }
    sync_all(f);
    reopen(f, true); /* everything synced and checkpointed */
    sync_all(f);
}

/* After a fault, recovery: the log is either the old one or the
 * compaction of it, segment by segment (read_all checks every survivor
 * against the model), nothing latest is missing, and a new job finishes
 * the work. */
static void check_after_fault(struct fx *f, int64_t leo)
{
    assert_int_equal(bk_log_end_offset(f->log), leo);
    read_all(f);
    for (int key = 0; key < 10; key++) {
        int64_t l = latest(f, key, leo);
        if (l >= 0 && !got_has(f, l)) {
            fail_msg("lost the latest record of key %d at %" PRId64, key, l);
        }
    }
    struct bk_log_clean_stats st;
    assert_int_equal(bk_log_clean(f->log, true, &st), 0);
    check_compacted(f, bk_log_clean_offset(f->log), leo, false);
    check_reads_at_every_offset(f);
}

static void crash_sweep(enum fake_crash_mode mode)
{
    bool completed = false;
    for (uint64_t n = 1; n < 2000 && !completed; n++) {
        struct fx fx, *f = &fx;
        fx_init(f);
        durable_workload(f);
        int64_t leo = bk_log_end_offset(f->log);
        fake_disk_crash_at(f->disk, n, mode);
        struct bk_log_clean_stats st;
        int rv = bk_log_clean(f->log, true, &st);
        sync_all(f);
        if (!fake_disk_fault_fired(f->disk)) {
            assert_int_equal(rv, 0);
            completed = true;
            fake_disk_crash(f->disk, mode); /* after the last step */
        }
        bk_log_close(f->log, false);
        f->log = NULL;
        fake_disk_revive(f->disk);
        if (n % 2 == 1) {
            /* Without recovery checkpoints, recovery scans every segment,
             * cleaned ones included, and must accept their gaps. */
            f->disk->unlink(f->disk, DIR "/log-checkpoint");
            f->disk->unlink(f->disk, DIR "/log-checkpoint.soft");
        }
        fx_open(f, false);
        check_after_fault(f, leo);
        fx_free(f);
        if (completed) {
            print_message("crash sweep (%s): %" PRIu64 " points\n",
                          mode == FAKE_CRASH_KILL ? "kill" : "power", n);
        }
    }
    assert_true(completed);
}

static void test_crash_at_each_step_kill(void **state)
{
    (void)state;
    crash_sweep(FAKE_CRASH_KILL);
}

static void test_crash_at_each_step_power(void **state)
{
    (void)state;
    crash_sweep(FAKE_CRASH_POWER);
}

static void test_error_at_each_step(void **state)
{
    (void)state;
    bool completed = false;
    for (uint64_t n = 1; n < 2000 && !completed; n++) {
        struct fx fx, *f = &fx;
        fx_init(f);
        durable_workload(f);
        int64_t leo = bk_log_end_offset(f->log);
        fake_disk_fail_at(f->disk, n, BK_EIO);
        struct bk_log_clean_stats st;
        int rv = bk_log_clean(f->log, true, &st);
        sync_all(f);
        completed = !fake_disk_fault_fired(f->disk);
        fake_disk_fail_at(f->disk, 0, 0);
        if (completed) {
            assert_int_equal(rv, 0);
        }
        /* Without a restart, unless the error failed the log itself (a
         * failed syncer write does; then a restart recovers it). */
        if (bk_log_tick(f->log) != 0) {
            reopen(f, false);
        }
        check_after_fault(f, leo);
        /* No .cleaned file is left behind (at the latest, recovery removes
         * what a failed unlink left). */
        sync_all(f);
        reopen(f, false);
        for (int i = 0; i < bk_log_segment_count(f->log); i++) {
            char path[256];
            snprintf(path, sizeof path, DIR "/%020" PRId64 ".log.cleaned",
                     bk_log_segment_base(f->log, i));
            assert_int_equal(fake_disk_size(f->disk, path), -1);
        }
        fx_free(f);
    }
    assert_true(completed);
}

static void test_reader_during_swap(void **state)
{
    struct fx *f = *state;
    updates(f, 300, 4);
    /* A fetch pinned the first segment's range before the job ended. */
    struct bk_log_read_result res;
    assert_int_equal(bk_log_read(f->log, 0, 1 << 20, INT64_MAX, &res), 0);
    assert_true(res.count >= 1);
    static uint8_t before[1 << 16];
    int64_t len = res.ranges[0].length;
    assert_int_equal(f->disk->pread(f->disk, res.ranges[0].fd, before,
                                    (size_t)len, res.ranges[0].file_offset),
                     len);
    struct bk_log_clean *job;
    assert_int_equal(bk_log_clean_begin(f->log, true, &job), 0);
    assert_non_null(job);
    bk_log_clean_run(job);
    /* The log goes on meanwhile. */
    updates(f, 30, 4);
    int64_t leo = bk_log_end_offset(f->log);
    assert_int_equal(bk_log_clean_end(f->log, job, NULL), 0);
    /* The pinned fd still reads the old bytes. */
    static uint8_t after[1 << 16];
    assert_int_equal(f->disk->pread(f->disk, res.ranges[0].fd, after,
                                    (size_t)len, res.ranges[0].file_offset),
                     len);
    assert_memory_equal(before, after, (size_t)len);
    bk_log_read_release(&res);
    check_compacted(f, bk_log_clean_offset(f->log), leo - 30, false);
}

static void test_truncate_cancels_job(void **state)
{
    struct fx *f = *state;
    updates(f, 300, 4);
    sync_all(f);
    int64_t ce0 = bk_log_clean_offset(f->log);
    struct bk_log_clean *job;
    assert_int_equal(bk_log_clean_begin(f->log, true, &job), 0);
    assert_non_null(job);
    /* While a job holds a snapshot, retention removes nothing. */
    assert_int_equal(bk_log_advance_start(f->log, 20), 0);
    int nseg = bk_log_segment_count(f->log);
    int64_t bases[64];
    assert_true(nseg <= 64);
    for (int i = 0; i < nseg; i++) {
        bases[i] = bk_log_segment_base(f->log, i);
    }
    bk_log_clean_run(job);
    int64_t cut = bk_log_segment_base(f->log, 3) + 1;
    assert_int_equal(bk_log_truncate(f->log, cut), 0);
    assert_int_equal(bk_log_clean_end(f->log, job, NULL), BK_ECANCELED);
    assert_int_equal(bk_log_clean_offset(f->log), ce0 > 20 ? ce0 : 20);
    sync_all(f);
    /* Nothing of the job is left. */
    for (int i = 0; i < nseg; i++) {
        char path[256];
        snprintf(path, sizeof path, DIR "/%020" PRId64 ".log.cleaned",
                 bases[i]);
        assert_int_equal(fake_disk_size(f->disk, path), -1);
    }
    f->nm = (int)bk_log_end_offset(f->log);
    reopen(f, false);
    check_compacted(f, 0, 0, false);
    /* A later job works. */
    struct bk_log_clean_stats st;
    updates(f, 100, 4);
    assert_int_equal(bk_log_clean(f->log, true, &st), 0);
    assert_true(st.segments > 0);
    check_compacted(f, bk_log_clean_offset(f->log), bk_log_end_offset(f->log),
                    false);
}

static void test_policy_and_retention(void **state)
{
    struct fx *f = *state;
    f->cfg.retention_ms = 1000;
    bk_log_set_config(f->log, &f->cfg);
    updates(f, 200, 4);
    int nseg = bk_log_segment_count(f->log);
    mclock_advance(&f->clk, 10000);
    /* compact only: retention.ms does not apply. */
    assert_int_equal(bk_log_tick(f->log), 0);
    assert_int_equal(bk_log_segment_count(f->log), nseg);
    /* compact,delete: it does. */
    f->cfg.cleanup_delete = true;
    bk_log_set_config(f->log, &f->cfg);
    assert_int_equal(bk_log_tick(f->log), 0);
    assert_int_equal(bk_log_segment_count(f->log), 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_keeps_latest, setup, teardown),
        cmocka_unit_test_setup_teardown(test_random_workload, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dirty_ratio_and_lag, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_max_compaction_lag, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_tombstones, setup, teardown),
        cmocka_unit_test_setup_teardown(test_compressed, setup, teardown),
        cmocka_unit_test_setup_teardown(test_producer_state, setup, teardown),
        cmocka_unit_test(test_crash_at_each_step_kill),
        cmocka_unit_test(test_crash_at_each_step_power),
        cmocka_unit_test(test_error_at_each_step),
        cmocka_unit_test_setup_teardown(test_reader_during_swap, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_truncate_cancels_job, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_policy_and_retention, setup,
                                        teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
