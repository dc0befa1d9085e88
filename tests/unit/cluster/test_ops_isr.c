/* AlterPartition on the controller (cluster/ops_isr.c): every validation
 * branch in Kafka's order, the broker epoch check, the success path and a
 * request for the state already committed, applied through the image. */
// clang-format off
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
// clang-format on
#include <stdlib.h>
#include <string.h>

#include "cluster/image.h"
#include "cluster/ops.h"
#include "common/arena.h"

#define NOT_CONTROLLER          41
#define INVALID_REQUEST         42
#define OPERATION_NOT_ATTEMPTED 55
#define FENCED_LEADER_EPOCH     74
#define STALE_BROKER_EPOCH      77
#define INVALID_UPDATE_VERSION  95
#define UNKNOWN_TOPIC_ID        100
#define INELIGIBLE_REPLICA      107

struct env {
    struct bk_arena arena;
    struct bk_md_recs recs;
    struct bk_md_image *img;
    struct bk_uuid topic;
    char msg[BK_MD_MSG_SIZE];
};

static void commit(struct env *e)
{
    struct bk_md_image *next;
    uint8_t skipped[16] = { 0 };
    assert_true(e->recs.n <= sizeof(skipped));
    assert_int_equal(
        bk_md_image_apply(e->img, e->recs.v, e->recs.n, skipped, &next), 0);
    for (size_t i = 0; i < e->recs.n; i++) {
        assert_int_equal(skipped[i], 0);
    }
    bk_md_image_release(e->img);
    e->img = next;
    bk_arena_reset(&e->arena);
    bk_md_recs_init(&e->recs, &e->arena);
}

static int64_t epoch_of(const struct env *e, int32_t id)
{
    return bk_md_image_broker(e->img, id)->epoch;
}

static const struct bk_md_partition *part(const struct env *e)
{
    return bk_md_topic_partition(bk_md_image_topic_by_id(e->img, &e->topic), 0);
}

/* Brokers 1, 2, 3 live; topic "t" with replicas {1, 2, 3} led by 1. */
static int setup(void **state)
{
    struct env *e = calloc(1, sizeof(*e));
    bk_arena_init(&e->arena, 4096, 0);
    bk_md_recs_init(&e->recs, &e->arena);
    e->img = bk_md_image_new();
    for (int32_t id = 1; id <= 3; id++) {
        assert_int_equal(
            bk_md_op_register_broker(e->img, id, "127.0.0.1", 9092 + id, NULL,
                                     &e->recs, NULL, e->msg),
            0);
        commit(e); /* one offset each: distinct epochs */
    }
    static const int32_t replicas[] = { 1, 2, 3 };
    struct bk_md_replicas a = { 0, 3, replicas };
    struct bk_md_topic_spec spec = { bk_str_c("t"), -1, -1, 0, NULL, 1, &a };
    struct bk_md_defaults defs = { 1, 1 };
    struct bk_md_create_result res;
    assert_int_equal(
        bk_md_op_create_topic(e->img, &spec, &defs, bk_md_rng_system(),
                              &e->recs, &res, e->msg),
        0);
    /* A partition whose followers have not caught up yet: the leader
     * alone in the ISR (a new one starts with all three). */
    for (size_t i = 0; i < e->recs.n; i++) {
        if (e->recs.v[i].type == BK_MD_REC_PARTITION) {
            e->recs.v[i].u.partition.n_isr = 1;
        }
    }
    commit(e);
    e->topic = res.topic_id;
    *state = e;
    return 0;
}

static int teardown(void **state)
{
    struct env *e = *state;
    bk_md_image_release(e->img);
    bk_arena_destroy(&e->arena);
    free(e);
    return 0;
}

/* The ISR {ids} (epochs from the image, or -1 with no_epochs) asked by
 * broker 1 at the partition's current epochs, version 3. */
struct ask {
    struct bk_md_isr_member m[8];
    struct bk_md_alter_isr req;
};

static void ask_init(struct ask *a,
                     const struct env *e,
                     const int32_t *ids,
                     int32_t n)
{
    memset(a, 0, sizeof(*a));
    for (int32_t i = 0; i < n; i++) {
        const struct bk_md_broker *b = bk_md_image_broker(e->img, ids[i]);
        a->m[i] = (struct bk_md_isr_member){ ids[i], b ? b->epoch : -1 };
    }
    a->req = (struct bk_md_alter_isr){
        .sender = 1,
        .leader_epoch = part(e)->leader_epoch,
        .partition_epoch = part(e)->partition_epoch,
        .leader_recovery_state = BK_MD_RECOVERED,
        .n_isr = n,
        .isr = a->m,
        .v2 = true,
    };
}

static int16_t alter(struct env *e, const struct ask *a)
{
    struct bk_md_isr_state res;
    return bk_md_op_alter_partition(e->img, &e->topic, 0, &a->req, &e->recs,
                                    &res, e->msg);
}

static void test_expand_then_shrink(void **state)
{
    struct env *e = *state;
    assert_int_equal(part(e)->n_isr, 1);
    const int32_t all[] = { 1, 2, 3 };
    struct ask a;
    ask_init(&a, e, all, 3);
    struct bk_md_isr_state res;
    assert_int_equal(bk_md_op_alter_partition(e->img, &e->topic, 0, &a.req,
                                              &e->recs, &res, e->msg),
                     0);
    assert_int_equal(e->recs.n, 1);
    assert_int_equal(res.leader, 1);
    assert_int_equal(res.leader_epoch, 0);
    assert_int_equal(res.partition_epoch, 1);
    assert_int_equal(res.n_isr, 3);
    assert_memory_equal(res.isr, all, sizeof(all));
    commit(e);
    assert_int_equal(part(e)->n_isr, 3);
    assert_int_equal(part(e)->partition_epoch, 1);
    assert_int_equal(part(e)->leader_epoch, 0);

    /* A shrink keeps the leader epoch (KAFKA-15021). */
    const int32_t two[] = { 1, 3 };
    ask_init(&a, e, two, 2);
    assert_int_equal(bk_md_op_alter_partition(e->img, &e->topic, 0, &a.req,
                                              &e->recs, &res, e->msg),
                     0);
    commit(e);
    assert_int_equal(part(e)->n_isr, 2);
    assert_memory_equal(part(e)->isr, two, sizeof(two));
    assert_int_equal(part(e)->partition_epoch, 2);
    assert_int_equal(part(e)->leader_epoch, 0);
    assert_int_equal(part(e)->leader, 1);
}

static void test_same_state_and_retry(void **state)
{
    struct env *e = *state;
    const int32_t two[] = { 1, 2 };
    struct ask a;
    ask_init(&a, e, two, 2);
    assert_int_equal(alter(e, &a), 0);
    commit(e);
    /* The same ISR at the current epochs: success, no record. */
    ask_init(&a, e, two, 2);
    struct bk_md_isr_state res;
    assert_int_equal(bk_md_op_alter_partition(e->img, &e->topic, 0, &a.req,
                                              &e->recs, &res, e->msg),
                     0);
    assert_int_equal(e->recs.n, 0);
    assert_int_equal(res.partition_epoch, 1);
    assert_int_equal(res.n_isr, 2);
    /* The retry of the first request (its answer lost): stale. */
    a.req.partition_epoch = 0;
    assert_int_equal(alter(e, &a), INVALID_UPDATE_VERSION);
    assert_int_equal(e->recs.n, 0);
}

static void test_unknown(void **state)
{
    struct env *e = *state;
    const int32_t one[] = { 1 };
    struct ask a;
    ask_init(&a, e, one, 1);
    struct bk_md_isr_state res;
    struct bk_uuid zero = { { 0 } };
    assert_int_equal(bk_md_op_alter_partition(e->img, &zero, 0, &a.req,
                                              &e->recs, &res, e->msg),
                     UNKNOWN_TOPIC_ID);
    assert_int_equal(bk_md_op_alter_partition(e->img, &e->topic, 1, &a.req,
                                              &e->recs, &res, e->msg),
                     3);
    assert_int_equal(bk_md_op_alter_partition(e->img, &e->topic, -1, &a.req,
                                              &e->recs, &res, e->msg),
                     3);
}

static void test_epochs_and_sender(void **state)
{
    struct env *e = *state;
    const int32_t two[] = { 1, 2 };
    struct ask a;
    ask_init(&a, e, two, 2);
    a.req.leader_epoch++;
    assert_int_equal(alter(e, &a), NOT_CONTROLLER);
    ask_init(&a, e, two, 2);
    a.req.partition_epoch++;
    assert_int_equal(alter(e, &a), NOT_CONTROLLER);

    /* Broker 2 leads now (leader epoch 1, partition epoch 1). */
    const int32_t isr2[] = { 2 };
    assert_int_equal(bk_md_op_change_partition(e->img, &e->topic, 0, 0, 2, isr2,
                                               1, &e->recs, e->msg),
                     0);
    commit(e);
    /* The old leader at its old epochs: fenced, before anything else. */
    ask_init(&a, e, two, 2);
    a.req.leader_epoch = 0;
    a.req.partition_epoch = 0;
    assert_int_equal(alter(e, &a), FENCED_LEADER_EPOCH);
    /* At the new leader epoch but not the leader: INVALID_REQUEST, even
     * with a stale partition epoch (the sender is checked first). */
    ask_init(&a, e, two, 2);
    a.req.partition_epoch = 0;
    assert_int_equal(alter(e, &a), INVALID_REQUEST);
    /* The leader with a stale partition epoch. */
    const int32_t back[] = { 2, 1 };
    ask_init(&a, e, back, 2);
    a.req.sender = 2;
    a.req.partition_epoch = 0;
    assert_int_equal(alter(e, &a), INVALID_UPDATE_VERSION);
    a.req.partition_epoch = 1;
    assert_int_equal(alter(e, &a), 0);
    assert_int_equal(e->recs.n, 1);
}

static void test_isr_shape(void **state)
{
    struct env *e = *state;
    struct ask a;
    const int32_t stranger[] = { 1, 9 };
    ask_init(&a, e, stranger, 2);
    assert_int_equal(alter(e, &a), INVALID_REQUEST);
    const int32_t twice[] = { 1, 2, 2 };
    ask_init(&a, e, twice, 3);
    assert_int_equal(alter(e, &a), INVALID_REQUEST);
    const int32_t four[] = { 1, 2, 3, 3 };
    ask_init(&a, e, four, 4);
    assert_int_equal(alter(e, &a), INVALID_REQUEST);
    const int32_t no_leader[] = { 2, 3 };
    ask_init(&a, e, no_leader, 2);
    assert_int_equal(alter(e, &a), INVALID_REQUEST);
    ask_init(&a, e, no_leader, 0);
    assert_int_equal(alter(e, &a), INVALID_REQUEST);
    const int32_t negative[] = { 1, -1 };
    ask_init(&a, e, negative, 2);
    assert_int_equal(alter(e, &a), INVALID_REQUEST);
    assert_int_equal(e->recs.n, 0);
}

static void test_recovery_state(void **state)
{
    struct env *e = *state;
    struct ask a;
    const int32_t two[] = { 1, 2 };
    const int32_t one[] = { 1 };
    /* RECOVERING with more than one member. */
    ask_init(&a, e, two, 2);
    a.req.leader_recovery_state = BK_MD_RECOVERING;
    assert_int_equal(alter(e, &a), INVALID_REQUEST);
    /* RECOVERED to RECOVERING. */
    ask_init(&a, e, one, 1);
    a.req.leader_recovery_state = BK_MD_RECOVERING;
    assert_int_equal(alter(e, &a), INVALID_REQUEST);
    ask_init(&a, e, one, 1);
    a.req.leader_recovery_state = 7;
    assert_int_equal(alter(e, &a), INVALID_REQUEST);
    assert_int_equal(e->recs.n, 0);

    /* After an unclean election (RECOVERING, ISR of the leader alone). */
    struct bk_md_rec *r = bk_md_recs_add(&e->recs, BK_MD_REC_PARTITION);
    static const int32_t reps[] = { 1, 2, 3 };
    r->u.partition = (struct bk_md_partition_rec){
        .topic_id = e->topic,
        .partition = 0,
        .n_replicas = 3,
        .replicas = reps,
        .n_isr = 1,
        .isr = one,
        .leader = 1,
        .leader_epoch = 1,
        .partition_epoch = 1,
        .leader_recovery_state = BK_MD_RECOVERING,
    };
    commit(e);
    assert_int_equal(part(e)->leader_recovery_state, BK_MD_RECOVERING);
    /* Still recovering, alone: nothing changes. */
    ask_init(&a, e, one, 1);
    a.req.leader_recovery_state = BK_MD_RECOVERING;
    assert_int_equal(alter(e, &a), 0);
    assert_int_equal(e->recs.n, 0);
    /* The ISR cannot grow while recovering. */
    ask_init(&a, e, two, 2);
    a.req.leader_recovery_state = BK_MD_RECOVERING;
    assert_int_equal(alter(e, &a), INVALID_REQUEST);
    /* Recovered, alone: a record with the new state. */
    ask_init(&a, e, one, 1);
    struct bk_md_isr_state res;
    assert_int_equal(bk_md_op_alter_partition(e->img, &e->topic, 0, &a.req,
                                              &e->recs, &res, e->msg),
                     0);
    assert_int_equal(res.leader_recovery_state, BK_MD_RECOVERED);
    assert_int_equal(res.partition_epoch, 2);
    commit(e);
    assert_int_equal(part(e)->leader_recovery_state, BK_MD_RECOVERED);
    assert_int_equal(part(e)->partition_epoch, 2);
    assert_int_equal(part(e)->leader_epoch, 1);
}

static void test_ineligible(void **state)
{
    struct env *e = *state;
    struct ask a;
    const int32_t all[] = { 1, 2, 3 };
    /* KIP-903: a member whose epoch is not its registration's. */
    ask_init(&a, e, all, 3);
    a.m[2].epoch = epoch_of(e, 3) + 1;
    assert_int_equal(alter(e, &a), INELIGIBLE_REPLICA);
    a.req.v2 = false;
    assert_int_equal(alter(e, &a), OPERATION_NOT_ATTEMPTED);
    /* -1 skips the epoch check (v0-2). */
    a.m[2].epoch = -1;
    assert_int_equal(alter(e, &a), 0);
    bk_arena_reset(&e->arena);
    bk_md_recs_init(&e->recs, &e->arena);

    /* Fenced. */
    assert_int_equal(
        bk_md_op_broker_change(e->img, 3, BK_MD_FENCE, false, &e->recs, e->msg),
        0);
    commit(e);
    ask_init(&a, e, all, 3);
    assert_int_equal(alter(e, &a), INELIGIBLE_REPLICA);
    a.req.v2 = false;
    assert_int_equal(alter(e, &a), OPERATION_NOT_ATTEMPTED);
    /* In controlled shutdown. */
    assert_int_equal(bk_md_op_broker_change(e->img, 3, BK_MD_UNFENCE, false,
                                            &e->recs, e->msg),
                     0);
    assert_int_equal(bk_md_op_broker_change(e->img, 2, BK_MD_SHUT_DOWN, false,
                                            &e->recs, e->msg),
                     0);
    commit(e);
    ask_init(&a, e, all, 3);
    assert_int_equal(alter(e, &a), INELIGIBLE_REPLICA);
    const int32_t ok[] = { 1, 3 };
    ask_init(&a, e, ok, 2);
    assert_int_equal(alter(e, &a), 0);
    bk_arena_reset(&e->arena);
    bk_md_recs_init(&e->recs, &e->arena);

    /* Not registered: replicas {1, 2, 4}, broker 4 unknown. */
    struct bk_md_rec *r = bk_md_recs_add(&e->recs, BK_MD_REC_PARTITION);
    static const int32_t reps[] = { 1, 2, 4 }, isr[] = { 1 };
    r->u.partition = (struct bk_md_partition_rec){
        .topic_id = e->topic,
        .partition = 0,
        .n_replicas = 3,
        .replicas = reps,
        .n_isr = 1,
        .isr = isr,
        .leader = 1,
        .leader_epoch = part(e)->leader_epoch,
        .partition_epoch = part(e)->partition_epoch + 1,
    };
    commit(e);
    const int32_t with4[] = { 1, 4 };
    ask_init(&a, e, with4, 2);
    assert_int_equal(alter(e, &a), INELIGIBLE_REPLICA);
    assert_int_equal(e->recs.n, 0);
}

static void test_broker_epoch(void **state)
{
    struct env *e = *state;
    char msg[BK_MD_MSG_SIZE];
    assert_int_equal(bk_md_check_broker_epoch(e->img, 1, epoch_of(e, 1), msg),
                     0);
    assert_int_equal(
        bk_md_check_broker_epoch(e->img, 1, epoch_of(e, 1) + 1, msg),
        STALE_BROKER_EPOCH);
    assert_int_equal(bk_md_check_broker_epoch(e->img, 9, 0, msg),
                     STALE_BROKER_EPOCH);
    assert_string_equal(msg, "No broker registration found for broker id 9");
}

/* Two changes decided on the same image (the leader's AlterPartition and
 * the fence of its leader, proposed before either was applied): the one
 * applied second must not undo the first. apply skips a partition record
 * that does not move the partition epoch forward, and fencing again
 * repairs what the skipped fence should have moved. */
static void test_concurrent_changes(void **state)
{
    struct env *e = *state;
    const int32_t two[] = { 1, 2 };
    struct ask a;
    ask_init(&a, e, two, 2);
    struct bk_md_isr_state res;
    assert_int_equal(bk_md_op_alter_partition(e->img, &e->topic, 0, &a.req,
                                              &e->recs, &res, e->msg),
                     0);
    size_t n_alter = e->recs.n;
    assert_int_equal(
        bk_md_op_broker_change(e->img, 1, BK_MD_FENCE, false, &e->recs, e->msg),
        0);
    struct bk_md_image *next;
    uint8_t skipped[16] = { 0 };
    assert_true(e->recs.n <= sizeof(skipped));
    assert_int_equal(
        bk_md_image_apply(e->img, e->recs.v, e->recs.n, skipped, &next), 0);
    bk_md_image_release(e->img);
    e->img = next;
    bk_arena_reset(&e->arena);
    bk_md_recs_init(&e->recs, &e->arena);
    /* The ISR change went in; the fence's move of that partition, decided
     * on the older image, was skipped (the fence itself was not). */
    size_t n_skipped = 0;
    for (size_t i = 0; i < sizeof(skipped); i++) {
        n_skipped += skipped[i] ? 1 : 0;
    }
    assert_int_equal(n_skipped, 1);
    assert_int_equal(skipped[n_alter], 0);
    assert_int_equal(part(e)->partition_epoch, 1);
    assert_int_equal(part(e)->n_isr, 2);
    assert_true(bk_md_image_broker(e->img, 1)->fenced);
    assert_int_equal(part(e)->leader, 1);
    assert_int_equal(bk_md_led_partitions(e->img, 1), 1);
    /* The repair: fence again from the newer image. */
    assert_int_equal(
        bk_md_op_broker_change(e->img, 1, BK_MD_FENCE, false, &e->recs, e->msg),
        0);
    commit(e);
    assert_int_equal(part(e)->leader, 2);
    assert_int_equal(part(e)->leader_epoch, 1);
    assert_int_equal(part(e)->partition_epoch, 2);
    assert_int_equal(bk_md_led_partitions(e->img, 1), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_expand_then_shrink, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_same_state_and_retry, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_unknown, setup, teardown),
        cmocka_unit_test_setup_teardown(test_epochs_and_sender, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_isr_shape, setup, teardown),
        cmocka_unit_test_setup_teardown(test_recovery_state, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ineligible, setup, teardown),
        cmocka_unit_test_setup_teardown(test_broker_epoch, setup, teardown),
        cmocka_unit_test_setup_teardown(test_concurrent_changes, setup,
                                        teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
