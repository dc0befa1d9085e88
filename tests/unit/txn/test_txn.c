/* The transaction state machine (every check of InitProducerId,
 * AddPartitionsToTxn and EndTxn with its exact error), the fence and
 * timeout aborts, id expiry, and the __transaction_state record
 * formats. */
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
#include "protocol/kerr.h"
#include "txn/records.h"
#include "txn/txn.h"

#define PID  1000
#define NOW  1700000000000
#define TOUT 60000

static struct bk_str S(const char *s) {
    return bk_str_c(s);
}

/* Runs InitProducerId without a KIP-360 pair and applies the write. */
static void
init_ok(struct bk_txn_meta *m)
{
    enum bk_txn_action act;
    struct bk_txn_value next;
    assert_int_equal(
        bk_txn_init_pid(m, false, -1, -1, TOUT, -1, NOW, &act, &next), 0);
    assert_int_equal(act, BK_TXN_WRITE);
    bk_txn_begin(m, false);
    bk_txn_finish(m, &next, true);
}

/* Adds one partition and applies the write. */
static void add_ok(struct bk_txn_meta *m, const char *t, int32_t p, int64_t at)
{
    enum bk_txn_action act;
    struct bk_txn_value next;
    struct bk_str topic = S(t);
    assert_int_equal(bk_txn_add_partitions(m, m->cur.producer_id, m->cur.epoch,
                                           &topic, &p, 1, at, &act, &next),
                     0);
    assert_int_equal(act, BK_TXN_WRITE);
    bk_txn_begin(m, false);
    bk_txn_finish(m, &next, true);
}

static void test_transitions_table(void **state)
{
    (void)state;
    assert_true(bk_txn_can_transit(BK_TXN_EMPTY, BK_TXN_ONGOING));
    assert_true(bk_txn_can_transit(BK_TXN_ONGOING, BK_TXN_PREPARE_ABORT));
    assert_true(
        bk_txn_can_transit(BK_TXN_PREPARE_EPOCH_FENCE, BK_TXN_PREPARE_ABORT));
    assert_false(
        bk_txn_can_transit(BK_TXN_PREPARE_EPOCH_FENCE, BK_TXN_PREPARE_COMMIT));
    assert_false(bk_txn_can_transit(BK_TXN_EMPTY, BK_TXN_PREPARE_COMMIT));
    assert_false(
        bk_txn_can_transit(BK_TXN_PREPARE_COMMIT, BK_TXN_COMPLETE_ABORT));
    assert_false(bk_txn_can_transit(BK_TXN_ONGOING, BK_TXN_DEAD));
    assert_true(bk_txn_can_transit(BK_TXN_COMPLETE_ABORT, BK_TXN_DEAD));
    assert_string_equal(bk_txn_state_name(BK_TXN_PREPARE_EPOCH_FENCE),
                        "PrepareEpochFence");
    assert_string_equal(bk_txn_state_name(9), "Unknown");
}

static void test_init_new_and_bump(void **state)
{
    (void)state;
    struct bk_txn_meta m;
    bk_txn_meta_init(&m, PID, NOW);
    init_ok(&m);
    assert_int_equal(m.cur.producer_id, PID);
    assert_int_equal(m.cur.epoch, 0);
    assert_int_equal(m.cur.state, BK_TXN_EMPTY);
    assert_int_equal(m.cur.timeout_ms, TOUT);
    init_ok(&m);
    assert_int_equal(m.cur.epoch, 1);
    bk_txn_meta_free(&m);
}

static void test_init_kip360(void **state)
{
    (void)state;
    struct bk_txn_meta m;
    bk_txn_meta_init(&m, PID, NOW);
    init_ok(&m); /* epoch 0 */
    enum bk_txn_action act;
    struct bk_txn_value next;
    /* Its own pair: bumped, remembering the epoch it left. */
    assert_int_equal(
        bk_txn_init_pid(&m, true, PID, 0, TOUT, -1, NOW, &act, &next), 0);
    assert_int_equal(act, BK_TXN_WRITE);
    assert_int_equal(next.epoch, 1);
    assert_int_equal(next.last_epoch, 0);
    bk_txn_begin(&m, false);
    /* One change at a time. */
    struct bk_txn_value other;
    assert_int_equal(
        bk_txn_init_pid(&m, true, PID, 0, TOUT, -1, NOW, &act, &other),
        BK_KERR_CONCURRENT_TRANSACTIONS);
    assert_int_equal(act, BK_TXN_ANSWER);
    bk_txn_finish(&m, &next, true);
    /* The answer was lost and the producer retries with epoch 0: it gets
     * epoch 1 again. */
    assert_int_equal(
        bk_txn_init_pid(&m, true, PID, 0, TOUT, -1, NOW, &act, &next), 0);
    assert_int_equal(next.epoch, 1);
    bk_txn_value_free(&next);
    /* Another epoch, another producer id: fenced. */
    assert_int_equal(
        bk_txn_init_pid(&m, true, PID, 5, TOUT, -1, NOW, &act, &next),
        BK_KERR_PRODUCER_FENCED);
    assert_int_equal(
        bk_txn_init_pid(&m, true, PID + 1, 1, TOUT, -1, NOW, &act, &next),
        BK_KERR_PRODUCER_FENCED);
    bk_txn_meta_free(&m);
}

static void test_init_rotates_exhausted_epoch(void **state)
{
    (void)state;
    struct bk_txn_meta m;
    bk_txn_meta_init(&m, PID, NOW);
    init_ok(&m);
    m.cur.epoch = INT16_MAX - 1;
    enum bk_txn_action act;
    struct bk_txn_value next;
    assert_int_equal(
        bk_txn_init_pid(&m, false, -1, -1, TOUT, -1, NOW, &act, &next), 0);
    assert_int_equal(act, BK_TXN_NEED_PID);
    /* The producer sends its exhausted pair (KIP-360). */
    assert_int_equal(bk_txn_init_pid(&m, true, PID, INT16_MAX - 1, TOUT, 2000,
                                     NOW, &act, &next),
                     0);
    assert_int_equal(act, BK_TXN_WRITE);
    assert_int_equal(next.producer_id, 2000);
    assert_int_equal(next.prev_producer_id, PID);
    assert_int_equal(next.epoch, 0);
    bk_txn_begin(&m, false);
    bk_txn_finish(&m, &next, true);
    /* Its answer was lost: the retry with the old id at its exhausted
     * epoch gets the new pair again rather than a fence. */
    assert_int_equal(bk_txn_init_pid(&m, true, PID, INT16_MAX - 1, TOUT, -1,
                                     NOW, &act, &next),
                     0);
    assert_int_equal(act, BK_TXN_WRITE);
    assert_int_equal(next.producer_id, 2000);
    assert_int_equal(next.epoch, 0);
    bk_txn_value_free(&next);
    /* The old id at another epoch is a zombie. */
    assert_int_equal(
        bk_txn_init_pid(&m, true, PID, 3, TOUT, -1, NOW, &act, &next),
        BK_KERR_PRODUCER_FENCED);
    bk_txn_meta_free(&m);
}

static void test_add_partitions(void **state)
{
    (void)state;
    struct bk_txn_meta m;
    bk_txn_meta_init(&m, PID, NOW);
    init_ok(&m);
    enum bk_txn_action act;
    struct bk_txn_value next;
    struct bk_str t = S("a");
    int32_t p = 0;
    assert_int_equal(
        bk_txn_add_partitions(&m, PID + 1, 0, &t, &p, 1, NOW, &act, &next),
        BK_KERR_INVALID_PRODUCER_ID_MAPPING);
    assert_int_equal(
        bk_txn_add_partitions(&m, PID, 1, &t, &p, 1, NOW, &act, &next),
        BK_KERR_PRODUCER_FENCED);
    add_ok(&m, "b", 1, NOW + 5);
    assert_int_equal(m.cur.state, BK_TXN_ONGOING);
    assert_int_equal(m.cur.start_ms, NOW + 5);
    add_ok(&m, "a", 0, NOW + 9);
    assert_int_equal(m.cur.start_ms, NOW + 5); /* started at the first */
    assert_int_equal(m.cur.nparts, 2);
    assert_string_equal(m.cur.parts[0].topic, "a"); /* sorted */
    /* Everything already in: success without a write. */
    assert_int_equal(
        bk_txn_add_partitions(&m, PID, 0, &t, &p, 1, NOW, &act, &next), 0);
    assert_int_equal(act, BK_TXN_ANSWER);
    bk_txn_meta_free(&m);
}

/* KIP-890 part 1: a leader asks whether partitions are in the
 * transaction; nothing is written. */
static void test_verify_only(void **state)
{
    (void)state;
    struct bk_txn_meta m;
    bk_txn_meta_init(&m, PID, NOW);
    init_ok(&m);
    struct bk_str t[2] = { S("a"), S("b") };
    int32_t p[2] = { 0, 1 };
    int16_t errs[2];
    /* Empty: no partition is in a transaction. */
    assert_int_equal(bk_txn_verify(&m, PID, 0, t, p, 2, errs), 0);
    assert_int_equal(errs[0], BK_KERR_TRANSACTION_ABORTABLE);
    assert_int_equal(errs[1], BK_KERR_TRANSACTION_ABORTABLE);
    add_ok(&m, "a", 0, NOW);
    assert_int_equal(bk_txn_verify(&m, PID, 0, t, p, 2, errs), 0);
    assert_int_equal(errs[0], BK_KERR_NONE);
    assert_int_equal(errs[1], BK_KERR_TRANSACTION_ABORTABLE);
    assert_int_equal(m.cur.nparts, 1); /* nothing added */
    assert_int_equal(bk_txn_verify(&m, PID, 1, t, p, 2, errs),
                     BK_KERR_PRODUCER_FENCED);
    assert_int_equal(errs[0], BK_KERR_PRODUCER_FENCED);
    assert_int_equal(bk_txn_verify(&m, PID + 1, 0, t, p, 1, errs),
                     BK_KERR_INVALID_PRODUCER_ID_MAPPING);
    /* Ending: the partition leader's producer retries. */
    enum bk_txn_action act;
    struct bk_txn_value next;
    assert_int_equal(bk_txn_end(&m, PID, 0, true, NOW, &act, &next), 0);
    bk_txn_begin(&m, false);
    bk_txn_finish(&m, &next, true);
    assert_int_equal(bk_txn_verify(&m, PID, 0, t, p, 1, errs),
                     BK_KERR_CONCURRENT_TRANSACTIONS);
    /* Complete: the late batch of the ended transaction is refused. */
    assert_int_equal(bk_txn_complete(&m, NOW, &next), 0);
    bk_txn_begin(&m, false);
    bk_txn_finish(&m, &next, true);
    assert_int_equal(bk_txn_verify(&m, PID, 0, t, p, 1, errs), 0);
    assert_int_equal(errs[0], BK_KERR_TRANSACTION_ABORTABLE);
    bk_txn_meta_free(&m);
}

/* Transaction version 2 (KIP-890 part 2): each end bumps the epoch, a
 * retry carries the epoch before it, and an abort of nothing still ends
 * at a new epoch. */
static void test_end_v2_bumps_epoch(void **state)
{
    (void)state;
    struct bk_txn_meta m;
    bk_txn_meta_init(&m, PID, NOW);
    init_ok(&m);
    enum bk_txn_action act;
    struct bk_txn_value next;
    add_ok(&m, "a", 0, NOW);
    assert_int_equal(bk_txn_end_v2(&m, PID, 1, true, -1, NOW, &act, &next),
                     BK_KERR_PRODUCER_FENCED);
    assert_int_equal(bk_txn_end_v2(&m, PID + 1, 0, true, -1, NOW, &act, &next),
                     BK_KERR_INVALID_PRODUCER_ID_MAPPING);
    assert_int_equal(bk_txn_end_v2(&m, PID, 0, true, -1, NOW, &act, &next), 0);
    assert_int_equal(act, BK_TXN_WRITE);
    assert_int_equal(next.state, BK_TXN_PREPARE_COMMIT);
    assert_int_equal(next.epoch, 1); /* markers and answer use it */
    assert_int_equal(next.nparts, 1);
    assert_int_equal(next.client_version, 2);
    bk_txn_begin(&m, false);
    bk_txn_finish(&m, &next, true);
    /* A retry while the markers go out, then once complete. */
    assert_int_equal(bk_txn_end_v2(&m, PID, 0, true, -1, NOW, &act, &next),
                     BK_KERR_CONCURRENT_TRANSACTIONS);
    assert_int_equal(bk_txn_end_v2(&m, PID, 0, false, -1, NOW, &act, &next),
                     BK_KERR_INVALID_TXN_STATE);
    assert_int_equal(bk_txn_complete(&m, NOW, &next), 0);
    bk_txn_begin(&m, false);
    bk_txn_finish(&m, &next, true);
    assert_int_equal(bk_txn_end_v2(&m, PID, 0, true, -1, NOW, &act, &next), 0);
    assert_int_equal(act, BK_TXN_ANSWER);
    /* A late request of the old epoch is fenced by the coordinator. */
    struct bk_str t = S("a");
    int32_t p = 0;
    assert_int_equal(
        bk_txn_add_partitions(&m, PID, 0, &t, &p, 1, NOW, &act, &next),
        BK_KERR_PRODUCER_FENCED);
    /* Commit of nothing; abort of nothing bumps again. */
    assert_int_equal(bk_txn_end_v2(&m, PID, 1, true, -1, NOW, &act, &next),
                     BK_KERR_INVALID_TXN_STATE);
    assert_int_equal(bk_txn_end_v2(&m, PID, 1, false, -1, NOW, &act, &next), 0);
    assert_int_equal(act, BK_TXN_WRITE);
    assert_int_equal(next.state, BK_TXN_PREPARE_ABORT);
    assert_int_equal(next.epoch, 2);
    assert_int_equal(next.nparts, 0);
    bk_txn_begin(&m, false);
    bk_txn_finish(&m, &next, true);
    assert_int_equal(bk_txn_complete(&m, NOW, &next), 0);
    bk_txn_begin(&m, false);
    bk_txn_finish(&m, &next, true);
    /* A commit retried after the coordinator aborted: abortable. */
    assert_int_equal(bk_txn_end_v2(&m, PID, 1, true, -1, NOW, &act, &next),
                     BK_KERR_TRANSACTION_ABORTABLE);
    assert_int_equal(bk_txn_end_v2(&m, PID, 1, false, -1, NOW, &act, &next), 0);
    assert_int_equal(act, BK_TXN_ANSWER);
    bk_txn_meta_free(&m);
}

/* An end from an exhausted epoch rotates the producer id: the new one
 * takes over at epoch 0 once the transaction completes. */
static void test_end_v2_rotates_pid(void **state)
{
    (void)state;
    struct bk_txn_meta m;
    bk_txn_meta_init(&m, PID, NOW);
    init_ok(&m);
    m.cur.epoch = INT16_MAX - 1;
    add_ok(&m, "a", 0, NOW);
    enum bk_txn_action act;
    struct bk_txn_value next;
    assert_int_equal(
        bk_txn_end_v2(&m, PID, INT16_MAX - 1, true, -1, NOW, &act, &next), 0);
    assert_int_equal(act, BK_TXN_NEED_PID);
    assert_int_equal(
        bk_txn_end_v2(&m, PID, INT16_MAX - 1, true, 77, NOW, &act, &next), 0);
    assert_int_equal(act, BK_TXN_WRITE);
    assert_int_equal(next.producer_id, PID); /* the markers' */
    assert_int_equal(next.epoch, INT16_MAX);
    assert_int_equal(next.next_producer_id, 77);
    bk_txn_begin(&m, false);
    bk_txn_finish(&m, &next, true);
    int64_t pid;
    int16_t epoch;
    bk_txn_answer_pair(&m.cur, &pid, &epoch);
    assert_int_equal(pid, 77);
    assert_int_equal(epoch, 0);
    /* The new id is early until the transaction completes. */
    struct bk_str t = S("a");
    int32_t p = 0;
    assert_int_equal(
        bk_txn_add_partitions(&m, 77, 0, &t, &p, 1, NOW, &act, &next),
        BK_KERR_CONCURRENT_TRANSACTIONS);
    assert_int_equal(bk_txn_complete(&m, NOW, &next), 0);
    bk_txn_begin(&m, false);
    bk_txn_finish(&m, &next, true);
    assert_int_equal(m.cur.producer_id, 77);
    assert_int_equal(m.cur.prev_producer_id, PID);
    assert_int_equal(m.cur.epoch, 0);
    /* A retry with the old pair answers as the end did. */
    assert_int_equal(
        bk_txn_end_v2(&m, PID, INT16_MAX - 1, true, -1, NOW, &act, &next), 0);
    assert_int_equal(act, BK_TXN_ANSWER);
    add_ok(&m, "a", 0, NOW);
    assert_int_equal(m.cur.producer_id, 77);
    bk_txn_meta_free(&m);
}

static void test_end_commit_and_retries(void **state)
{
    (void)state;
    struct bk_txn_meta m;
    bk_txn_meta_init(&m, PID, NOW);
    init_ok(&m);
    enum bk_txn_action act;
    struct bk_txn_value next;
    /* Nothing to end yet. */
    assert_int_equal(bk_txn_end(&m, PID, 0, true, NOW, &act, &next),
                     BK_KERR_INVALID_TXN_STATE);
    add_ok(&m, "a", 0, NOW);
    assert_int_equal(bk_txn_end(&m, PID, 3, true, NOW, &act, &next),
                     BK_KERR_PRODUCER_FENCED);
    assert_int_equal(bk_txn_end(&m, PID, 0, true, NOW, &act, &next), 0);
    assert_int_equal(act, BK_TXN_WRITE);
    assert_int_equal(next.state, BK_TXN_PREPARE_COMMIT);
    assert_int_equal(next.nparts, 1);
    bk_txn_begin(&m, false);
    bk_txn_finish(&m, &next, true);
    /* Deciding: the same end is retried later, the other is wrong, and
     * a new partition waits. */
    assert_int_equal(bk_txn_end(&m, PID, 0, true, NOW, &act, &next),
                     BK_KERR_CONCURRENT_TRANSACTIONS);
    assert_int_equal(bk_txn_end(&m, PID, 0, false, NOW, &act, &next),
                     BK_KERR_INVALID_TXN_STATE);
    struct bk_str t = S("z");
    int32_t p = 0;
    assert_int_equal(
        bk_txn_add_partitions(&m, PID, 0, &t, &p, 1, NOW, &act, &next),
        BK_KERR_CONCURRENT_TRANSACTIONS);
    assert_int_equal(bk_txn_complete(&m, NOW + 1, &next), 0);
    assert_int_equal(next.state, BK_TXN_COMPLETE_COMMIT);
    assert_int_equal(next.nparts, 0);
    bk_txn_begin(&m, false);
    bk_txn_finish(&m, &next, true);
    assert_int_equal(bk_txn_end(&m, PID, 0, true, NOW, &act, &next), 0);
    assert_int_equal(act, BK_TXN_ANSWER);
    assert_int_equal(bk_txn_end(&m, PID, 0, false, NOW, &act, &next),
                     BK_KERR_INVALID_TXN_STATE);
    assert_int_equal(bk_txn_complete(&m, NOW, &next),
                     BK_KERR_INVALID_TXN_STATE);
    /* The next transaction starts from CompleteCommit. */
    add_ok(&m, "a", 0, NOW + 7);
    assert_int_equal(m.cur.start_ms, NOW + 7);
    bk_txn_meta_free(&m);
}

static void test_init_fences_open_transaction(void **state)
{
    (void)state;
    struct bk_txn_meta m;
    bk_txn_meta_init(&m, PID, NOW);
    init_ok(&m);
    add_ok(&m, "a", 0, NOW);
    enum bk_txn_action act;
    struct bk_txn_value next;
    assert_int_equal(
        bk_txn_init_pid(&m, false, -1, -1, TOUT, -1, NOW, &act, &next), 0);
    assert_int_equal(act, BK_TXN_FENCE);
    assert_int_equal(next.state, BK_TXN_PREPARE_ABORT);
    assert_int_equal(next.epoch, 1);
    assert_int_equal(next.nparts, 1);
    bk_txn_begin(&m, true);
    bk_txn_finish(&m, &next, true);
    /* The zombie at epoch 0 is fenced everywhere. */
    assert_int_equal(bk_txn_end(&m, PID, 0, true, NOW, &act, &next),
                     BK_KERR_PRODUCER_FENCED);
    /* The new producer waits until the abort completes... */
    assert_int_equal(
        bk_txn_init_pid(&m, false, -1, -1, TOUT, -1, NOW, &act, &next),
        BK_KERR_CONCURRENT_TRANSACTIONS);
    assert_int_equal(bk_txn_complete(&m, NOW, &next), 0);
    bk_txn_begin(&m, false);
    bk_txn_finish(&m, &next, true);
    assert_int_equal(m.cur.state, BK_TXN_COMPLETE_ABORT);
    /* ...and then gets an epoch past the fencing one. */
    init_ok(&m);
    assert_int_equal(m.cur.epoch, 2);
    bk_txn_meta_free(&m);
}

static void test_timeout_and_expiry(void **state)
{
    (void)state;
    struct bk_txn_meta m;
    bk_txn_meta_init(&m, PID, NOW);
    init_ok(&m);
    assert_false(bk_txn_timed_out(&m, NOW + 10 * TOUT));
    assert_false(bk_txn_id_expired(&m, NOW + 999, 1000));
    assert_true(bk_txn_id_expired(&m, NOW + 1000, 1000));
    add_ok(&m, "a", 0, NOW);
    assert_false(bk_txn_timed_out(&m, NOW + TOUT));
    assert_true(bk_txn_timed_out(&m, NOW + TOUT + 1));
    assert_false(bk_txn_id_expired(&m, NOW + 10 * TOUT, 1000));
    struct bk_txn_value next;
    assert_int_equal(bk_txn_fence_abort(&m, NOW, &next), 0);
    bk_txn_begin(&m, true);
    assert_false(bk_txn_timed_out(&m, NOW + TOUT + 1)); /* pending */
    struct bk_txn_value again;
    assert_int_equal(bk_txn_fence_abort(&m, NOW, &again),
                     BK_KERR_CONCURRENT_TRANSACTIONS);
    /* A failed write leaves the transaction as it was. */
    bk_txn_finish(&m, &next, false);
    assert_int_equal(m.cur.state, BK_TXN_ONGOING);
    assert_int_equal(m.cur.epoch, 0);
    assert_true(bk_txn_timed_out(&m, NOW + TOUT + 1));
    bk_txn_meta_free(&m);
}

static void test_failed_write_keeps_state(void **state)
{
    (void)state;
    struct bk_txn_meta m;
    bk_txn_meta_init(&m, PID, NOW);
    enum bk_txn_action act;
    struct bk_txn_value next;
    assert_int_equal(
        bk_txn_init_pid(&m, false, -1, -1, TOUT, -1, NOW, &act, &next), 0);
    bk_txn_begin(&m, false);
    bk_txn_finish(&m, &next, false);
    assert_int_equal(m.cur.epoch, BK_TXN_NO_EPOCH);
    assert_false(m.pending);
    bk_txn_meta_free(&m);
}

/* Hand-assembled from TransactionLogKey.json / TransactionLogValue.json
 * (apache/kafka transaction-coordinator/src/main/resources/common/
 * message/), field by field, as Kafka's generated writers lay them out. */
static const uint8_t key_fixture[] = {
    0x00, 0x00,                          /* key version 0 */
    0x00, 0x05, 't', 'x', 'n', '-', '1', /* TransactionalId "txn-1" */
};

static const uint8_t value_v0_fixture[] = {
    0x00, 0x00,                                     /* version 0 */
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x03, 0xe8, /* ProducerId 1000 */
    0x00, 0x02,                                     /* ProducerEpoch 2 */
    0x00, 0x00, 0xea, 0x60,      /* TransactionTimeoutMs 60000 */
    0x01,                        /* TransactionStatus Ongoing */
    0x00, 0x00, 0x00, 0x01,      /* one topic */
    0x00, 0x03, 'f',  'o',  'o', /* Topic "foo" */
    0x00, 0x00, 0x00, 0x02,      /* two PartitionIds */
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, /* 0, 1 */
    0x00, 0x00, 0x01, 0x8b, 0xcf, 0xe5, 0x68, 0x00, /* LastUpdate */
    0x00, 0x00, 0x01, 0x8b, 0xcf, 0xe5, 0x64, 0x18, /* Start */
};

static const uint8_t value_v1_fixture[] = {
    0x00, 0x01,                                     /* version 1 */
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x10, 0x92, /* ProducerId 4242 */
    0x00, 0x07,                                     /* ProducerEpoch 7 */
    0x00, 0x00, 0xea, 0x60, /* TransactionTimeoutMs 60000 */
    0x04,                   /* CompleteCommit */
    0x01,                   /* compact array: no topics */
    0x00, 0x00, 0x01, 0x8b, 0xcf, 0xe5, 0x68, 0x00, /* LastUpdate */
    0x00, 0x00, 0x01, 0x8b, 0xcf, 0xe5, 0x64, 0x18, /* Start */
    0x01,                                           /* one tagged field */
    0x00, 0x08, /* tag 0 (PreviousProducerId) */
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x10, 0x91, /* 4241 */
};

static struct bk_bytes B(const uint8_t *p, size_t n) {
    return (struct bk_bytes){ p, (int32_t)n };
}

static void
test_record_fixtures(void **state)
{
    (void)state;
    struct bk_arena a;
    bk_arena_init(&a, 1024, 0);
    struct bk_bytes k = bk_txl_key_encode(&a, S("txn-1"));
    assert_int_equal(k.len, sizeof(key_fixture));
    assert_memory_equal(k.ptr, key_fixture, sizeof(key_fixture));
    struct bk_str id;
    assert_int_equal(bk_txl_key_decode(k, &id), 0);
    assert_true(bk_str_eq_c(id, "txn-1"));

    struct bk_txn_value v;
    assert_int_equal(
        bk_txl_value_decode(B(value_v0_fixture, sizeof(value_v0_fixture)), &v),
        0);
    assert_int_equal(v.producer_id, 1000);
    assert_int_equal(v.epoch, 2);
    assert_int_equal(v.state, BK_TXN_ONGOING);
    assert_int_equal(v.nparts, 2);
    assert_string_equal(v.parts[1].topic, "foo");
    assert_int_equal(v.parts[1].partition, 1);
    assert_int_equal(v.start_ms, 1699999999000);
    assert_int_equal(v.prev_producer_id, -1);
    struct bk_bytes e = bk_txl_value_encode(&a, &v, 0);
    assert_int_equal(e.len, sizeof(value_v0_fixture));
    assert_memory_equal(e.ptr, value_v0_fixture, sizeof(value_v0_fixture));
    bk_txn_value_free(&v);

    assert_int_equal(
        bk_txl_value_decode(B(value_v1_fixture, sizeof(value_v1_fixture)), &v),
        0);
    assert_int_equal(v.producer_id, 4242);
    assert_int_equal(v.state, BK_TXN_COMPLETE_COMMIT);
    assert_int_equal(v.nparts, 0);
    assert_int_equal(v.prev_producer_id, 4241);
    assert_int_equal(v.next_producer_id, -1);
    e = bk_txl_value_encode(&a, &v, 1);
    assert_int_equal(e.len, sizeof(value_v1_fixture));
    assert_memory_equal(e.ptr, value_v1_fixture, sizeof(value_v1_fixture));
    bk_txn_value_free(&v);
    bk_arena_destroy(&a);
}

static void test_record_round_trip_and_errors(void **state)
{
    (void)state;
    struct bk_arena a;
    bk_arena_init(&a, 1024, 0);
    struct bk_txn_meta m;
    bk_txn_meta_init(&m, PID, NOW);
    init_ok(&m);
    add_ok(&m, "t2", 3, NOW);
    add_ok(&m, "t1", 9, NOW);
    add_ok(&m, "t2", 1, NOW);
    m.cur.next_producer_id = 77;
    m.cur.client_version = 2;
    for (int16_t ver = 0; ver <= 1; ver++) {
        struct bk_bytes e = bk_txl_value_encode(&a, &m.cur, ver);
        assert_true(e.len > 0);
        struct bk_txn_value v;
        assert_int_equal(bk_txl_value_decode(e, &v), 0);
        assert_int_equal(v.nparts, 3);
        assert_string_equal(v.parts[0].topic, "t1");
        assert_int_equal(v.parts[2].partition, 3);
        assert_int_equal(v.next_producer_id, ver == 1 ? 77 : -1);
        assert_int_equal(v.client_version, ver == 1 ? 2 : 0);
        bk_txn_value_free(&v);
        /* Cut short anywhere: malformed, never a crash. */
        for (int32_t n = 0; n < e.len; n++) {
            assert_int_not_equal(bk_txl_value_decode(B(e.ptr, (size_t)n), &v),
                                 0);
        }
    }
    /* Empty is written with a null partition list, as Kafka does. */
    struct bk_txn_value empty;
    memset(&empty, 0, sizeof(empty));
    empty.state = BK_TXN_EMPTY;
    struct bk_bytes e = bk_txl_value_encode(&a, &empty, 0);
    assert_int_equal(e.len, 2 + 8 + 2 + 4 + 1 + 4 + 8 + 8);
    assert_memory_equal(e.ptr + 17, "\xff\xff\xff\xff", 4);
    /* A state out of range and unknown versions. */
    uint8_t bad[sizeof(value_v0_fixture)];
    memcpy(bad, value_v0_fixture, sizeof(bad));
    bad[16] = 8;
    struct bk_txn_value v;
    assert_int_equal(bk_txl_value_decode(B(bad, sizeof(bad)), &v), BK_EPROTO);
    bad[1] = 2;
    assert_int_equal(bk_txl_value_decode(B(bad, sizeof(bad)), &v),
                     BK_EUNSUPPORTED);
    uint8_t key1[] = { 0x00, 0x01, 0x00, 0x01, 'x' };
    struct bk_str id;
    assert_int_equal(bk_txl_key_decode(B(key1, sizeof(key1)), &id),
                     BK_EUNSUPPORTED);
    bk_txn_meta_free(&m);
    bk_arena_destroy(&a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_transitions_table),
        cmocka_unit_test(test_init_new_and_bump),
        cmocka_unit_test(test_init_kip360),
        cmocka_unit_test(test_init_rotates_exhausted_epoch),
        cmocka_unit_test(test_add_partitions),
        cmocka_unit_test(test_end_commit_and_retries),
        cmocka_unit_test(test_init_fences_open_transaction),
        cmocka_unit_test(test_timeout_and_expiry),
        cmocka_unit_test(test_verify_only),
        cmocka_unit_test(test_end_v2_bumps_epoch),
        cmocka_unit_test(test_end_v2_rotates_pid),
        cmocka_unit_test(test_failed_write_keeps_state),
        cmocka_unit_test(test_record_fixtures),
        cmocka_unit_test(test_record_round_trip_and_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
