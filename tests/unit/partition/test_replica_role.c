/* The replica's roles on the fake disk: leader and follower at an epoch
 * (the leader-epoch cache and OffsetForLeaderEpoch follow), follower
 * appends that keep the leader's offsets and refuse gaps, a follower that
 * refuses clients, and truncation (high watermark, reads, producer state,
 * the producer snapshot, a crash after it). */
/* cmocka.h needs these headers first. */
/* clang-format off */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
/* clang-format on */
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "batch_gen.h"
#include "common/crc32c.h"
#include "common/err.h"
#include "common/heap.h"
#include "fake_disk.h"
#include "log/batch.h"
#include "partition/replica.h"
#include "protocol/control.h"
#include "protocol/kerr.h"

#define NOW  1700000000000LL
#define SNAP "/data/orders-0/" BK_PART_SNAPSHOT_FILE

struct fx {
    struct bk_clock clock;
    struct bk_disk *disk;
    struct bk_fdcache *fc;
    struct bk_syncer *sy;
    struct bk_storage st;
    uv_loop_t loop;
    struct bk_part_table parts;
    struct bk_md_topic topic;
    struct bk_partition *p;
    uint8_t buf[1 << 16];
    uint8_t wire[1 << 16]; /* several batches, as a Fetch answer has them */
    size_t wire_len;
};

static int64_t clock_ms(const struct bk_clock *c)
{
    (void)c;
    return NOW;
}

/* Opens the partition as the manager does: leader at the metadata's
 * epoch 0. */
static void open_partition(struct fx *f)
{
    char err[BK_ERRMSG_SIZE];
    assert_int_equal(bk_part_get(&f->parts, &f->topic, 0, 0, &f->p, err), 0);
}

static void start_storage(struct fx *f, bool was_clean)
{
    assert_int_equal(bk_fdcache_new(f->disk, 16, &f->fc), 0);
    /* No thread: the test drives the syncer. */
    assert_int_equal(bk_syncer_start(f->disk, f->fc, false, &f->sy), 0);
    f->st.fc = f->fc;
    f->st.syncer = f->sy;
    f->st.was_clean = was_clean;
    assert_int_equal(bk_part_table_init(&f->parts, &f->st, &f->loop), 0);
    open_partition(f);
}

static void stop_storage(struct fx *f, bool clean)
{
    bk_part_table_close(&f->parts, clean);
    uv_run(&f->loop, UV_RUN_DEFAULT);
    bk_syncer_stop(f->sy);
    bk_fdcache_free(f->fc);
    f->p = NULL;
}

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof(*f));
    f->clock.wall_ms = clock_ms;
    f->clock.mono_ms = clock_ms;
    f->disk = fake_disk_new(20261208u);
    strcpy(f->st.root, "/data");
    f->st.disk = f->disk;
    f->st.clock = &f->clock;
    uv_loop_init(&f->loop);
    f->topic.name = "orders";
    f->topic.id.b[0] = 42;
    f->topic.n_partitions = 1;
    start_storage(f, true);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    stop_storage(f, true);
    uv_loop_close(&f->loop);
    fake_disk_free(f->disk);
    free(f);
    return 0;
}

/* Closes without a clean shutdown, crashes the disk (mode: what of the
 * unsynced writes it loses), and opens again. */
static void crash_and_reopen(struct fx *f, enum fake_crash_mode mode)
{
    bk_part_table_close(&f->parts, false);
    uv_run(&f->loop, UV_RUN_DEFAULT);
    fake_disk_crash(f->disk, mode);
    bk_syncer_stop(f->sy);
    bk_fdcache_free(f->fc);
    fake_disk_revive(f->disk);
    start_storage(f, false);
}

static void put_be(uint8_t *at, uint64_t v, int bytes)
{
    for (int i = 0; i < bytes; i++) {
        at[i] = (uint8_t)(v >> (8 * (bytes - 1 - i)));
    }
}

/* A batch of nrec records in buf, from an idempotent producer (pid >= 0,
 * epoch 0, first sequence seq) or not, with base offset and partition
 * leader epoch as a leader wrote them (outside the CRC). */
static size_t batch_at(uint8_t *buf,
                       int nrec,
                       int64_t pid,
                       int32_t seq,
                       int64_t base,
                       int32_t epoch)
{
    size_t len =
        test_batch_build(buf, 1 << 15, nrec, NOW, 1, 10, (uint32_t)nrec);
    assert_true(len > 0);
    if (pid >= 0) {
        put_be(buf + BK_BATCH_OFF_PRODUCER_ID, (uint64_t)pid, 8);
        put_be(buf + BK_BATCH_OFF_PRODUCER_ID + 8, 0, 2);
        put_be(buf + BK_BATCH_OFF_PRODUCER_ID + 10, (uint32_t)seq, 4);
        uint32_t crc =
            bk_crc32c(0, buf + BK_BATCH_CRC_START, len - BK_BATCH_CRC_START);
        put_be(buf + BK_BATCH_OFF_CRC, crc, 4);
    }
    bk_batch_set_base_offset(buf, base);
    bk_batch_set_leader_epoch(buf, epoch);
    return len;
}

/* Adds a batch to the follower's wire buffer. */
static void wire_add(struct fx *f,
                     int nrec,
                     int64_t pid,
                     int32_t seq,
                     int64_t base,
                     int32_t epoch)
{
    f->wire_len += batch_at(f->wire + f->wire_len, nrec, pid, seq, base, epoch);
}

static int16_t wire_send(struct fx *f, int64_t leader_hw)
{
    int16_t err =
        bk_replica_append_follower(f->p, f->wire, f->wire_len, leader_hw);
    f->wire_len = 0;
    return err;
}

/* A client's Produce batch; returns the base offset, or -1. */
static int64_t produce(struct fx *f, int nrec, int64_t pid, int32_t seq)
{
    struct bk_replica_append a = {
        .batch = f->buf,
        .len = batch_at(f->buf, nrec, pid, seq, 0, -1),
        .produce_version = 9,
    };
    assert_false(bk_replica_append_leader(f->p, &a));
    return a.error == BK_KERR_NONE ? a.base_offset : -1;
}

static void expect_epoch_end(struct fx *f,
                             int32_t epoch,
                             int32_t want_epoch,
                             int64_t want_end)
{
    int32_t e;
    int64_t end;
    bk_replica_epoch_end(f->p, epoch, &e, &end);
    assert_int_equal(e, want_epoch);
    assert_int_equal(end, want_end);
}

static int32_t epoch_of_batch_at(struct fx *f, int64_t offset)
{
    struct bk_batch_hdr h;
    assert_int_equal(bk_part_batch_at(f->p, offset, &h), 0);
    assert_int_equal(h.base_offset, offset);
    return h.leader_epoch;
}

static void synced_cb(struct bk_log_sync_req *req, int status)
{
    (void)req;
    assert_int_equal(status, 0);
}

static int wakes;

static void wake_cb(struct bk_part_waiter *w)
{
    (void)w;
    wakes++;
}

static void park(struct fx *f, struct bk_part_waiter *w)
{
    memset(w, 0, sizeof(*w));
    w->wake = wake_cb;
    bk_part_wait(f->p, w);
}

/* Leader at 5, follower at 6, leader at 7: each epoch starts where the
 * log ended when it began, and OffsetForLeaderEpoch says so. */
static void test_leader_follower_leader(void **state)
{
    struct fx *f = *state;
    assert_int_equal(bk_replica_become_leader(f->p, 5), BK_KERR_NONE);
    assert_true(bk_replica_is_leader(f->p));
    /* The epoch is known before anything is written at it (KIP-101). */
    expect_epoch_end(f, 5, 5, 0);
    assert_int_equal(produce(f, 3, -1, 0), 0);
    assert_int_equal(epoch_of_batch_at(f, 0), 5);
    assert_int_equal(bk_replica_high_watermark(f->p), 3);

    struct bk_part_waiter w;
    park(f, &w);
    wakes = 0;
    assert_int_equal(bk_replica_become_follower(f->p, 6, 2), BK_KERR_NONE);
    assert_false(bk_replica_is_leader(f->p));
    assert_int_equal(wakes, 1);
    wire_add(f, 2, -1, 0, 3, 6);
    assert_int_equal(wire_send(f, 4), BK_KERR_NONE);
    assert_int_equal(epoch_of_batch_at(f, 3), 6);
    /* The follower's high watermark is the leader's, within its log. */
    assert_int_equal(bk_replica_high_watermark(f->p), 4);
    assert_int_equal(wire_send(f, 100), BK_KERR_NONE);
    assert_int_equal(bk_replica_high_watermark(f->p), 5);

    assert_int_equal(bk_replica_become_leader(f->p, 7), BK_KERR_NONE);
    expect_epoch_end(f, 4, -1, -1);
    expect_epoch_end(f, 5, 5, 3);
    expect_epoch_end(f, 6, 6, 5);
    expect_epoch_end(f, 7, 7, 5);
    expect_epoch_end(f, 9, 7, 5);
    assert_int_equal(produce(f, 1, -1, 0), 5);
    assert_int_equal(epoch_of_batch_at(f, 5), 7);
    expect_epoch_end(f, 6, 6, 5);
    expect_epoch_end(f, 7, 7, 6);
    assert_int_equal(bk_replica_latest_epoch(f->p), 7);

    /* The same epoch again changes nothing; older ones are fenced. */
    assert_int_equal(bk_replica_become_leader(f->p, 7), BK_KERR_NONE);
    expect_epoch_end(f, 7, 7, 6);
    assert_int_equal(bk_replica_become_leader(f->p, 6),
                     BK_KERR_FENCED_LEADER_EPOCH);
    assert_int_equal(bk_replica_become_follower(f->p, 6, 2),
                     BK_KERR_FENCED_LEADER_EPOCH);
    assert_true(bk_replica_is_leader(f->p));
    assert_int_equal(bk_replica_become_leader(f->p, -1),
                     BK_KERR_INVALID_REQUEST);
}

/* A follower's log is the leader's: offsets and epochs kept, nothing that
 * goes back, and all or nothing per call. */
static void test_follower_appends(void **state)
{
    struct fx *f = *state;
    assert_int_equal(bk_replica_become_follower(f->p, 1, 2), BK_KERR_NONE);
    wire_add(f, 3, -1, 0, 0, 1);
    wire_add(f, 2, -1, 0, 3, 1);
    assert_int_equal(wire_send(f, 3), BK_KERR_NONE);
    assert_int_equal(bk_replica_log_end(f->p), 5);
    assert_int_equal(epoch_of_batch_at(f, 3), 1);
    /* Consumers of a follower stop at its high watermark. */
    struct bk_replica_read r;
    assert_int_equal(
        bk_replica_read(f->p, 0, 1 << 20, BK_ISOLATION_READ_UNCOMMITTED, &r),
        BK_KERR_NONE);
    assert_int_equal(r.rd.next_offset, 3);
    bk_replica_read_release(&r);

    /* An overlap. */
    wire_add(f, 1, -1, 0, 4, 1);
    assert_int_equal(wire_send(f, 5), BK_KERR_OFFSET_OUT_OF_RANGE);
    /* An overlap after a good batch: neither is written. */
    wire_add(f, 2, -1, 0, 5, 1);
    wire_add(f, 2, -1, 0, 6, 1);
    assert_int_equal(wire_send(f, 5), BK_KERR_OFFSET_OUT_OF_RANGE);
    assert_int_equal(bk_replica_log_end(f->p), 5);
    /* A damaged batch. */
    wire_add(f, 2, -1, 0, 5, 1);
    f->wire[f->wire_len - 1] ^= 0x5a;
    assert_int_equal(wire_send(f, 5), BK_KERR_CORRUPT_MESSAGE);
    /* An epoch going back means the logs diverged. */
    wire_add(f, 2, -1, 0, 5, 3);
    wire_add(f, 2, -1, 0, 7, 2);
    assert_int_equal(wire_send(f, 5), BK_KERR_FENCED_LEADER_EPOCH);
    assert_int_equal(bk_replica_log_end(f->p), 5);
    assert_int_equal(bk_replica_latest_epoch(f->p), 1);
    /* A trailing partial batch waits for the next fetch. */
    wire_add(f, 2, -1, 0, 5, 3);
    size_t whole = f->wire_len;
    wire_add(f, 2, -1, 0, 7, 3);
    f->wire_len = whole + BK_BATCH_HEADER_SIZE + 1;
    assert_int_equal(wire_send(f, 6), BK_KERR_NONE);
    assert_int_equal(bk_replica_log_end(f->p), 7);
    assert_int_equal(bk_replica_latest_epoch(f->p), 3);
    expect_epoch_end(f, 1, 1, 5);
    assert_int_equal(bk_replica_high_watermark(f->p), 6);
    /* A gap is what the leader's cleaner removed (Kafka's follower takes
     * any offset not below its end): kept as it is. */
    wire_add(f, 1, -1, 0, 10, 3);
    assert_int_equal(wire_send(f, 6), BK_KERR_NONE);
    assert_int_equal(bk_replica_log_end(f->p), 11);
}

/* A follower takes no client writes, a leader no replicated ones. */
static void test_roles_refuse_the_other_path(void **state)
{
    struct fx *f = *state;
    wire_add(f, 1, -1, 0, 0, 0);
    assert_int_equal(wire_send(f, 1), BK_KERR_NOT_LEADER_OR_FOLLOWER);
    assert_int_equal(bk_replica_become_follower(f->p, 1, 2), BK_KERR_NONE);
    assert_int_equal(produce(f, 2, -1, 0), -1);
    struct bk_replica_append a = {
        .batch = f->buf,
        .len = batch_at(f->buf, 2, -1, 0, 0, -1),
        .produce_version = 9,
    };
    assert_false(bk_replica_append_leader(f->p, &a));
    assert_int_equal(a.error, BK_KERR_NOT_LEADER_OR_FOLLOWER);
    int64_t base, last;
    assert_int_equal(
        bk_replica_append_records(f->p, f->buf, a.len, 2, NOW, &base, &last),
        BK_ENOTLEADER);
    assert_int_equal(bk_replica_log_end(f->p), 0);
}

/* An idempotent producer's batches replicated to a follower are known to
 * it as duplicates once it leads. */
static void test_follower_keeps_producer_state(void **state)
{
    struct fx *f = *state;
    assert_int_equal(bk_replica_become_follower(f->p, 1, 2), BK_KERR_NONE);
    wire_add(f, 4, 1000, 0, 0, 1);
    wire_add(f, 4, 1000, 4, 4, 1);
    assert_int_equal(wire_send(f, 8), BK_KERR_NONE);
    assert_int_equal(bk_replica_become_leader(f->p, 2), BK_KERR_NONE);
    assert_int_equal(produce(f, 4, 1000, 4), 4);
    assert_int_equal(bk_replica_log_end(f->p), 8);
    assert_int_equal(produce(f, 4, 1000, 8), 8);
}

/* Adds a transactional batch of pid (epoch 0) to the wire. */
static void wire_add_txn(struct fx *f, int nrec, int64_t pid, int64_t base)
{
    uint8_t *b = f->wire + f->wire_len;
    size_t len = batch_at(b, nrec, pid, 0, base, 1);
    b[BK_BATCH_OFF_ATTRIBUTES + 1] |= 0x10; /* transactional */
    put_be(b + BK_BATCH_OFF_CRC,
           bk_crc32c(0, b + BK_BATCH_CRC_START, len - BK_BATCH_CRC_START), 4);
    f->wire_len += len;
}

/* Adds pid's transaction marker to the wire. */
static void wire_add_marker(struct fx *f, int64_t pid, bool commit, int64_t at)
{
    uint8_t *m;
    size_t len;
    assert_int_equal(
        bk_ctrl_marker_batch(pid, 0, commit, 3, NOW, NULL, &m, &len), 0);
    bk_batch_set_base_offset(m, at);
    bk_batch_set_leader_epoch(m, 1);
    memcpy(f->wire + f->wire_len, m, len);
    f->wire_len += len;
    bk_free(m);
}

/* A follower knows which transactions are open from the batches it
 * appends, markers included, and so does a replica replaying its log
 * after a crash: read_committed consumers stop at the first offset of
 * the oldest undecided one. */
static void test_follower_tracks_transactions(void **state)
{
    struct fx *f = *state;
    assert_int_equal(bk_replica_become_follower(f->p, 1, 2), BK_KERR_NONE);
    wire_add(f, 2, -1, 0, 0, 1);
    wire_add_txn(f, 3, 1000, 2);
    wire_add(f, 2, -1, 0, 5, 1);
    assert_int_equal(wire_send(f, 7), BK_KERR_NONE);
    assert_int_equal(bk_replica_high_watermark(f->p), 7);
    assert_int_equal(bk_replica_last_stable(f->p), 2);
    assert_int_equal(bk_replica_visible_end(f->p, BK_ISOLATION_READ_COMMITTED),
                     2);
    /* Its marker, not yet below the high watermark: still undecided. */
    wire_add_marker(f, 1000, false, 7);
    assert_int_equal(wire_send(f, 7), BK_KERR_NONE);
    assert_int_equal(bk_replica_last_stable(f->p), 2);
    /* Another producer's transaction, then the high watermark passes
     * the marker. */
    wire_add_txn(f, 1, 2000, 8);
    assert_int_equal(wire_send(f, 9), BK_KERR_NONE);
    assert_int_equal(bk_replica_last_stable(f->p), 8);
    /* After a crash the replay finds pid 2000's transaction open. */
    bk_syncer_run_once(f->sy);
    crash_and_reopen(f, FAKE_CRASH_KILL);
    assert_int_equal(bk_replica_log_end(f->p), 9);
    const struct bk_pstate_entry *e = bk_pstate_entry_find(&f->p->pstate, 2000);
    assert_non_null(e);
    assert_int_equal(e->txn_first_offset, 8);
    e = bk_pstate_entry_find(&f->p->pstate, 1000);
    assert_non_null(e);
    assert_int_equal(e->txn_first_offset, -1);
    assert_int_equal(e->coordinator_epoch, 3);
    assert_true(bk_replica_last_stable(f->p) <= 8);
}

static void count_aborted(void *arg, int64_t pid, int64_t first)
{
    int64_t *v = arg;
    v[0]++;
    v[1] = pid;
    v[2] = first;
}

/* WriteTxnMarkers on the leader: the marker closes the transaction a
 * follower saw open, an abort is listed for read_committed fetches, and
 * older producer or coordinator epochs are refused. */
static void test_leader_writes_markers(void **state)
{
    struct fx *f = *state;
    assert_int_equal(bk_replica_become_follower(f->p, 1, 2), BK_KERR_NONE);
    wire_add_txn(f, 3, 1000, 0);
    assert_int_equal(wire_send(f, 3), BK_KERR_NONE);
    assert_int_equal(bk_replica_become_leader(f->p, 2), BK_KERR_NONE);
    int64_t at = -1;
    assert_int_equal(bk_replica_write_marker(f->p, 1000, 0, false, 5, NOW, &at),
                     BK_KERR_NONE);
    assert_int_equal(at, 3);
    int64_t seen[3] = { 0, 0, 0 };
    bk_replica_aborted_txns(f->p, 0, 4, count_aborted, seen);
    assert_int_equal(seen[0], 1);
    assert_int_equal(seen[1], 1000);
    assert_int_equal(seen[2], 0);
    /* A zombie coordinator, and a fenced producer epoch. */
    assert_int_equal(bk_replica_write_marker(f->p, 1000, 0, true, 4, NOW, &at),
                     BK_KERR_TRANSACTION_COORDINATOR_FENCED);
    assert_int_equal(bk_replica_write_marker(f->p, 1000, 1, true, 5, NOW, &at),
                     BK_KERR_NONE);
    assert_int_equal(at, 4);
    assert_int_equal(bk_replica_write_marker(f->p, 1000, 0, true, 5, NOW, &at),
                     BK_KERR_INVALID_PRODUCER_EPOCH);
    /* Nothing was open for the second marker: still one abort. */
    seen[0] = 0;
    bk_replica_aborted_txns(f->p, 0, 10, count_aborted, seen);
    assert_int_equal(seen[0], 1);
    assert_int_equal(bk_replica_become_follower(f->p, 3, 2), BK_KERR_NONE);
    assert_int_equal(bk_replica_write_marker(f->p, 1000, 1, true, 5, NOW, &at),
                     BK_KERR_NOT_LEADER_OR_FOLLOWER);
}

static void test_truncate(void **state)
{
    struct fx *f = *state;
    assert_int_equal(produce(f, 4, 1000, 0), 0);
    assert_int_equal(produce(f, 4, 1000, 4), 4);
    assert_int_equal(bk_replica_become_leader(f->p, 1), BK_KERR_NONE);
    assert_int_equal(produce(f, 2, -1, 0), 8);
    expect_epoch_end(f, 0, 0, 8);
    struct bk_part_waiter w;
    park(f, &w);
    wakes = 0;
    /* A cut inside a batch takes the whole batch. */
    assert_int_equal(bk_replica_truncate(f->p, 6), 0);
    assert_int_equal(wakes, 1);
    assert_int_equal(bk_replica_log_end(f->p), 4);
    assert_int_equal(bk_replica_high_watermark(f->p), 4);
    /* Epoch 1 started at 8: gone with its batches. */
    assert_int_equal(bk_replica_latest_epoch(f->p), 0);
    expect_epoch_end(f, 1, 0, 4);
    struct bk_replica_read r;
    assert_int_equal(
        bk_replica_read(f->p, 0, 1 << 20, BK_ISOLATION_READ_UNCOMMITTED, &r),
        BK_KERR_NONE);
    assert_int_equal(r.rd.next_offset, 4);
    bk_replica_read_release(&r);
    assert_int_equal(
        bk_replica_read(f->p, 4, 1 << 20, BK_ISOLATION_READ_UNCOMMITTED, &r),
        BK_KERR_NONE);
    assert_int_equal(r.rd.count, 0);
    assert_int_equal(
        bk_replica_read(f->p, 5, 1 << 20, BK_ISOLATION_READ_UNCOMMITTED, &r),
        BK_KERR_OFFSET_OUT_OF_RANGE);
    /* The cut batch is new again, not a duplicate. */
    assert_int_equal(produce(f, 4, 1000, 4), 4);
    assert_int_equal(bk_replica_log_end(f->p), 8);
    /* Nothing to cut at or past the end; nothing below the start. */
    assert_int_equal(bk_replica_truncate(f->p, 8), 0);
    assert_int_equal(bk_replica_truncate(f->p, 20), 0);
    assert_int_equal(bk_replica_log_end(f->p), 8);
    assert_int_equal(bk_replica_truncate(f->p, -1), BK_ERANGE);
}

/* The producer state is rebuilt from the log, not just cut: a batch the
 * cut ones had pushed out of the producer's window of five is a duplicate
 * again. */
static void test_truncate_rebuilds_the_window(void **state)
{
    struct fx *f = *state;
    for (int32_t seq = 0; seq < 7; seq++) {
        assert_int_equal(produce(f, 1, 1000, seq), seq);
    }
    assert_int_equal(bk_replica_truncate(f->p, 3), 0);
    assert_int_equal(produce(f, 1, 1000, 0), 0);
    assert_int_equal(bk_replica_log_end(f->p), 3);
    assert_int_equal(produce(f, 1, 1000, 3), 3);
}

/* A follower truncates where its log and the leader's diverge (KIP-101,
 * KIP-279). */
static void test_truncate_to_epoch_end(void **state)
{
    struct fx *f = *state;
    assert_int_equal(bk_replica_become_follower(f->p, 3, 2), BK_KERR_NONE);
    wire_add(f, 2, -1, 0, 0, 1); /* 0-1 */
    wire_add(f, 2, -1, 0, 2, 3); /* 2-3 */
    wire_add(f, 2, -1, 0, 4, 5); /* 4-5 */
    assert_int_equal(wire_send(f, 2), BK_KERR_NONE);
    bool complete;
    /* The leader never had epoch 5; its epoch 4 is unknown here: cut to
     * the end of epoch 3 here and ask again. */
    assert_int_equal(bk_replica_truncate_to_epoch_end(f->p, 4, 5, &complete),
                     0);
    assert_false(complete);
    assert_int_equal(bk_replica_log_end(f->p), 4);
    /* Asked for 3: the leader's epoch 3 ended at 3. */
    assert_int_equal(bk_replica_truncate_to_epoch_end(f->p, 3, 3, &complete),
                     0);
    assert_true(complete);
    assert_int_equal(bk_replica_log_end(f->p), 2);
    assert_int_equal(bk_replica_latest_epoch(f->p), 1);
    /* The leader's epoch 1 runs past this log's end: nothing to cut. */
    assert_int_equal(bk_replica_truncate_to_epoch_end(f->p, 1, 9, &complete),
                     0);
    assert_true(complete);
    assert_int_equal(bk_replica_log_end(f->p), 2);
    /* No answer: keep what is committed. */
    wire_add(f, 2, -1, 0, 2, 3);
    assert_int_equal(wire_send(f, 2), BK_KERR_NONE);
    assert_int_equal(bk_replica_log_end(f->p), 4);
    assert_int_equal(bk_replica_truncate_to_epoch_end(f->p, -1, -1, &complete),
                     0);
    assert_true(complete);
    assert_int_equal(bk_replica_log_end(f->p), 2);
    assert_int_equal(bk_replica_high_watermark(f->p), 2);
}

/* A truncation survives a power failure, and the producer snapshot taken
 * before it does not come back to say the cut batches exist. */
static void test_truncate_survives_a_crash(void **state)
{
    struct fx *f = *state;
    assert_int_equal(produce(f, 4, 1000, 0), 0);
    assert_int_equal(produce(f, 4, 1000, 4), 4);
    /* A clean restart leaves a producer snapshot at 8. */
    stop_storage(f, true);
    start_storage(f, true);
    int64_t size;
    assert_int_equal(f->disk->stat_size(f->disk, SNAP, &size), 0);
    assert_int_equal(bk_replica_truncate(f->p, 4), 0);
    assert_int_equal(f->disk->stat_size(f->disk, SNAP, &size), BK_ENOENT);
    /* The log grows past the old snapshot's offset, durably. */
    assert_int_equal(produce(f, 6, -1, 0), 4);
    struct bk_log_sync_req req;
    assert_int_equal(bk_replica_sync(f->p, 10, &req, synced_cb), 0);
    bk_syncer_run_once(f->sy);
    assert_int_equal(bk_replica_durable_offset(f->p), 10);
    crash_and_reopen(f, FAKE_CRASH_POWER);
    assert_int_equal(bk_replica_log_end(f->p), 10);
    struct bk_batch_hdr h;
    assert_int_equal(bk_part_batch_at(f->p, 4, &h), 0);
    assert_int_equal(h.producer_id, -1);
    assert_int_equal(produce(f, 4, 1000, 4), 10);
}

/* A process crash right after the cut keeps it: the recovery point was
 * lowered first, so recovery does not vouch for the cut batches. (The cut
 * is not fdatasync'ed, as in Kafka: after a power failure before the next
 * sync of the segment the cut batches may come back, and the fetcher cuts
 * them again from the leader's OffsetForLeaderEpoch answer.) */
static void test_truncation_survives_a_kill(void **state)
{
    struct fx *f = *state;
    assert_int_equal(produce(f, 4, -1, 0), 0);
    assert_int_equal(bk_replica_become_leader(f->p, 1), BK_KERR_NONE);
    assert_int_equal(produce(f, 4, -1, 0), 4);
    stop_storage(f, true);
    start_storage(f, true);
    assert_int_equal(bk_replica_latest_epoch(f->p), 1);
    assert_int_equal(bk_replica_truncate(f->p, 4), 0);
    assert_int_equal(bk_replica_latest_epoch(f->p), 0);
    crash_and_reopen(f, FAKE_CRASH_KILL);
    assert_int_equal(bk_replica_log_end(f->p), 4);
    assert_int_equal(bk_replica_latest_epoch(f->p), 0);
    expect_epoch_end(f, 1, 0, 4);
    struct bk_replica_read r;
    assert_int_equal(
        bk_replica_read(f->p, 0, 1 << 20, BK_ISOLATION_READ_UNCOMMITTED, &r),
        BK_KERR_NONE);
    assert_int_equal(r.rd.next_offset, 4);
    bk_replica_read_release(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_leader_follower_leader, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_follower_appends, setup, teardown),
        cmocka_unit_test_setup_teardown(test_roles_refuse_the_other_path, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_follower_keeps_producer_state,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_truncate, setup, teardown),
        cmocka_unit_test_setup_teardown(test_truncate_rebuilds_the_window,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_truncate_to_epoch_end, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_truncate_survives_a_crash, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_follower_tracks_transactions,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_leader_writes_markers, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_truncation_survives_a_kill, setup,
                                        teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
