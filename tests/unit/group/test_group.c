/* The classic group state machine under a manual clock: join, sync,
 * heartbeats, member death, rebalances, static members, timeouts, offsets
 * and the __consumer_offsets record formats. */
/* cmocka.h needs these headers first. */
/* clang-format off */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
/* clang-format on */
#include <stdio.h>
#include <string.h>

#include "common/arena.h"
#include "group/consumer.h"
#include "group/group.h"
#include "group/records.h"
#include "protocol/kerr.h"
#include "unit/group/group_fixture.h"

static int expired_offsets;

static void offset_expired(void *data,
                           const struct bk_group *g,
                           const char *t,
                           int32_t p)
{
    (void)data;
    (void)g;
    (void)t;
    (void)p;
    expired_offsets++;
}

static struct bk_group_registry reg;

static int setup(void **state)
{
    (void)state;
    clock_ms = 1000000;
    expired_offsets = 0;
    struct bk_group_config cfg;
    bk_group_config_default(&cfg);
    cfg.initial_rebalance_delay_ms = 0;
    struct bk_group_hooks hooks = {
        .join_done = waiter_join,
        .sync_done = waiter_sync,
        .offset_expired = offset_expired,
    };
    bk_group_registry_init(&reg, &cfg, &manual, &hooks);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    bk_group_registry_close(&reg);
    return 0;
}

#define G bk_str_c("g1")

static void join(struct waiter *w,
                 const char *member,
                 const char *instance,
                 const char *meta,
                 bool require_known)
{
    memset(w, 0, sizeof(*w));
    struct bk_group_proto_in p[2] = {
        { bk_str_c("range"), { (const uint8_t *)meta, (int32_t)strlen(meta) } },
        { bk_str_c("roundrobin"), { (const uint8_t *)"x", 1 } },
    };
    struct bk_group_join_req req = {
        .member_id = bk_str_c(member),
        .instance_id = instance ? bk_str_c(instance) : BK_STR_NULL,
        .client_id = bk_str_c("client"),
        .client_host = bk_str_c("/127.0.0.1"),
        .protocol_type = bk_str_c("consumer"),
        .session_timeout_ms = 10000,
        .rebalance_timeout_ms = 30000,
        .protocols = p,
        .nprotocols = 2,
        .require_known_member = require_known,
    };
    bk_group_join(&reg, G, &req, w);
}

static void sync_leader(struct waiter *w,
                        const struct waiter *j,
                        const struct bk_group_assignment_in *a,
                        size_t n)
{
    memset(w, 0, sizeof(*w));
    struct bk_group_sync_req req = {
        .member_id = bk_str_c(j->member_id),
        .instance_id = BK_STR_NULL,
        .generation = j->generation,
        .protocol_type = BK_STR_NULL,
        .protocol_name = BK_STR_NULL,
        .assignments = a,
        .nassignments = n,
    };
    bk_group_sync(&reg, G, &req, w);
}

static struct bk_group *grp(void)
{
    return bk_group_find(&reg, G);
}

static void test_member_id_required_and_single_join(void **state)
{
    (void)state;
    struct waiter j, s;
    join(&j, "", NULL, "m1", true);
    assert_true(j.done);
    assert_int_equal(j.error, BK_KERR_MEMBER_ID_REQUIRED);
    assert_true(strncmp(j.member_id, "client-", 7) == 0);
    char id[128];
    snprintf(id, sizeof(id), "%s", j.member_id);
    join(&j, id, NULL, "m1", true);
    assert_true(j.done);
    assert_int_equal(j.error, 0);
    assert_int_equal(j.generation, 1);
    assert_string_equal(j.leader, id);
    assert_string_equal(j.protocol, "range");
    assert_int_equal(j.nmembers, 1);
    assert_int_equal(grp()->state, BK_GROUP_COMPLETING_REBALANCE);
    struct bk_group_assignment_in a = { bk_str_c(id),
                                        { (const uint8_t *)"A1", 2 } };
    sync_leader(&s, &j, &a, 1);
    assert_true(s.done);
    assert_int_equal(s.error, 0);
    assert_string_equal(s.assignment, "A1");
    assert_int_equal(grp()->state, BK_GROUP_STABLE);
    assert_int_equal(bk_group_heartbeat(&reg, G, bk_str_c(id), BK_STR_NULL, 1),
                     0);
    assert_int_equal(bk_group_heartbeat(&reg, G, bk_str_c(id), BK_STR_NULL, 0),
                     BK_KERR_ILLEGAL_GENERATION);
    assert_int_equal(
        bk_group_heartbeat(&reg, G, bk_str_c("nope"), BK_STR_NULL, 1),
        BK_KERR_UNKNOWN_MEMBER_ID);
}

/* Two members: the second join starts a rebalance that waits for the first
 * to rejoin; the leader's sync releases the follower's. */
static void test_two_members_rebalance(void **state)
{
    (void)state;
    struct waiter j1, j2, s1, s2, j1b;
    join(&j1, "", NULL, "m1", false);
    assert_true(j1.done);
    char id1[128];
    snprintf(id1, sizeof(id1), "%s", j1.member_id);
    struct bk_group_assignment_in a1 = { bk_str_c(id1),
                                         { (const uint8_t *)"all", 3 } };
    sync_leader(&s1, &j1, &a1, 1);
    assert_int_equal(s1.error, 0);

    join(&j2, "", NULL, "m2", false);
    assert_false(j2.done); /* waits for member 1 */
    assert_int_equal(grp()->state, BK_GROUP_PREPARING_REBALANCE);
    assert_int_equal(bk_group_heartbeat(&reg, G, bk_str_c(id1), BK_STR_NULL, 1),
                     BK_KERR_REBALANCE_IN_PROGRESS);
    join(&j1b, id1, NULL, "m1", false);
    assert_true(j1b.done);
    assert_true(j2.done);
    assert_int_equal(j1b.generation, 2);
    assert_int_equal(j2.generation, 2);
    assert_int_equal(j1b.nmembers, 2); /* leader sees everyone */
    assert_int_equal(j2.nmembers, 0);
    assert_string_equal(j2.leader, id1);

    /* Follower syncs first and waits. */
    memset(&s2, 0, sizeof(s2));
    struct bk_group_sync_req fr = {
        .member_id = bk_str_c(j2.member_id),
        .instance_id = BK_STR_NULL,
        .generation = 2,
        .protocol_type = bk_str_c("consumer"),
        .protocol_name = bk_str_c("range"),
    };
    bk_group_sync(&reg, G, &fr, &s2);
    assert_false(s2.done);
    struct bk_group_assignment_in a[2] = {
        { bk_str_c(id1), { (const uint8_t *)"p0", 2 } },
        { bk_str_c(j2.member_id), { (const uint8_t *)"p1", 2 } },
    };
    sync_leader(&s1, &j1b, a, 2);
    assert_true(s2.done);
    assert_string_equal(s1.assignment, "p0");
    assert_string_equal(s2.assignment, "p1");
    assert_int_equal(grp()->state, BK_GROUP_STABLE);

    /* Member 2 leaves: member 1 must rejoin into generation 3 alone. */
    assert_int_equal(
        bk_group_leave(&reg, G, bk_str_c(j2.member_id), BK_STR_NULL), 0);
    assert_int_equal(grp()->state, BK_GROUP_PREPARING_REBALANCE);
    join(&j1b, id1, NULL, "m1", false);
    assert_true(j1b.done);
    assert_int_equal(j1b.generation, 3);
    assert_int_equal(j1b.nmembers, 1);
}

/* A member that stops heartbeating is removed after its session timeout,
 * which triggers a rebalance; the survivor not rejoining in time leaves the
 * group empty. */
static void test_session_expiry(void **state)
{
    (void)state;
    struct waiter j1, j2, j1b, s;
    join(&j1, "", NULL, "m1", false);
    char id1[128];
    snprintf(id1, sizeof(id1), "%s", j1.member_id);
    sync_leader(&s, &j1, NULL, 0);
    join(&j2, "", NULL, "m2", false);
    join(&j1b, id1, NULL, "m1", false);
    assert_true(j2.done);
    char id2[128];
    snprintf(id2, sizeof(id2), "%s", j2.member_id);
    sync_leader(&s, &j1b, NULL, 0);
    assert_int_equal(grp()->state, BK_GROUP_STABLE);
    /* Member 1 heartbeats, member 2 goes silent. */
    for (int i = 0; i < 12; i++) {
        clock_ms += 1000;
        assert_int_equal(
            bk_group_heartbeat(&reg, G, bk_str_c(id1), BK_STR_NULL, 2),
            i < 10 ? 0 : BK_KERR_REBALANCE_IN_PROGRESS);
        bk_group_tick(&reg);
    }
    assert_null(bk_group_member_find(grp(), id2, strlen(id2)));
    assert_int_equal(grp()->state, BK_GROUP_PREPARING_REBALANCE);
    /* Member 1 never rejoins: at the rebalance timeout (30 s) it is
     * dropped and the group becomes Empty with a new generation. */
    clock_ms += 30001;
    bk_group_tick(&reg);
    assert_int_equal(grp()->state, BK_GROUP_EMPTY);
    assert_int_equal(grp()->generation, 3);
    assert_int_equal(grp()->nmembers, 0);
}

/* A request on a group runs its due timers first (bk_group_expire): at the
 * deadline itself, with no tick in between, the silent member is gone and
 * the group can be deleted, as after Kafka's heartbeat timer; a millisecond
 * before, it is not. Other groups wait for the tick. */
static void test_expire_at_deadline(void **state)
{
    (void)state;
    struct waiter j, s, jo;
    join(&j, "", NULL, "m1", false);
    sync_leader(&s, &j, NULL, 0);
    const struct bk_str other = bk_str_c("other");
    struct bk_group_proto_in p = { bk_str_c("range"),
                                   { (const uint8_t *)"m", 1 } };
    struct bk_group_join_req req = {
        .member_id = bk_str_c(""),
        .instance_id = BK_STR_NULL,
        .client_id = bk_str_c("client"),
        .client_host = bk_str_c("/127.0.0.1"),
        .protocol_type = bk_str_c("consumer"),
        .session_timeout_ms = 10000,
        .rebalance_timeout_ms = 30000,
        .protocols = &p,
        .nprotocols = 1,
    };
    memset(&jo, 0, sizeof(jo));
    bk_group_join(&reg, other, &req, &jo);
    assert_true(jo.done);
    assert_int_equal(jo.error, 0);
    struct bk_group *g = NULL;
    clock_ms += 10000 - 1;
    bk_group_expire(&reg, G);
    assert_int_equal(bk_group_delete_check(&reg, G, &g),
                     BK_KERR_NON_EMPTY_GROUP);
    clock_ms += 1;
    bk_group_expire(&reg, G);
    assert_int_equal(grp()->state, BK_GROUP_EMPTY);
    assert_int_equal(bk_group_delete_check(&reg, G, &g), 0);
    /* Only the group asked for: the other one's silent member stays until
     * a tick or a request of its own. */
    assert_int_equal(bk_group_find(&reg, other)->nmembers, 1);
    bk_group_expire(&reg, bk_str_c("nobody")); /* unknown: nothing */
    bk_group_tick(&reg);
    assert_int_equal(bk_group_find(&reg, other)->nmembers, 0);
}

/* group.initial.rebalance.delay.ms holds the first rebalance of an empty
 * group, extended as members keep arriving. */
static void test_initial_delay(void **state)
{
    (void)state;
    reg.cfg.initial_rebalance_delay_ms = 3000;
    struct waiter j1, j2;
    join(&j1, "", NULL, "m1", false);
    assert_false(j1.done);
    clock_ms += 2000;
    bk_group_tick(&reg);
    join(&j2, "", NULL, "m2", false);
    clock_ms += 2000; /* 4 s after the first: extended, not yet */
    bk_group_tick(&reg);
    assert_false(j1.done);
    clock_ms += 1001;
    bk_group_tick(&reg);
    assert_true(j1.done);
    assert_true(j2.done);
    assert_int_equal(j1.generation, 1);
    assert_int_equal(j1.nmembers + j2.nmembers, 2);
}

/* KIP-345: a static member that restarts (new member id, same instance id)
 * takes its slot back without a rebalance, and its old id is fenced. */
static void test_static_member_rejoin(void **state)
{
    (void)state;
    struct waiter j1, j2, s;
    join(&j1, "", "inst-1", "m1", true);
    assert_int_equal(j1.error, 0); /* static members skip KIP-394 */
    char old[128];
    snprintf(old, sizeof(old), "%s", j1.member_id);
    assert_true(strncmp(old, "inst-1-", 7) == 0);
    struct bk_group_assignment_in a = { bk_str_c(old),
                                        { (const uint8_t *)"mine", 4 } };
    sync_leader(&s, &j1, &a, 1);
    int32_t gen = grp()->generation;
    join(&j2, "", "inst-1", "m1", true);
    assert_true(j2.done);
    assert_int_equal(j2.error, 0);
    assert_int_equal(j2.generation, gen); /* no rebalance */
    assert_true(j2.skip);                 /* it was the leader */
    assert_string_not_equal(j2.member_id, old);
    assert_int_equal(grp()->state, BK_GROUP_STABLE);
    assert_int_equal(
        bk_group_heartbeat(&reg, G, bk_str_c(old), bk_str_c("inst-1"), gen),
        BK_KERR_FENCED_INSTANCE_ID);
    memset(&s, 0, sizeof(s));
    struct bk_group_sync_req sr = {
        .member_id = bk_str_c(j2.member_id),
        .instance_id = bk_str_c("inst-1"),
        .generation = gen,
        .protocol_type = BK_STR_NULL,
        .protocol_name = BK_STR_NULL,
    };
    bk_group_sync(&reg, G, &sr, &s);
    assert_string_equal(s.assignment, "mine");
    /* Leaving by instance id with the stale member id is fenced. */
    assert_int_equal(bk_group_leave(&reg, G, bk_str_c(old), bk_str_c("inst-1")),
                     BK_KERR_FENCED_INSTANCE_ID);
    assert_int_equal(bk_group_leave(&reg, G, BK_STR_NULL, bk_str_c("inst-1")),
                     0);
}

static void test_errors(void **state)
{
    (void)state;
    struct waiter j;
    join(&j, "", NULL, "m1", false);
    /* Another protocol type cannot join. */
    struct waiter j2;
    memset(&j2, 0, sizeof(j2));
    struct bk_group_proto_in p = { bk_str_c("other"), { NULL, 0 } };
    struct bk_group_join_req req = {
        .member_id = bk_str_c(""),
        .instance_id = BK_STR_NULL,
        .client_id = bk_str_c("c"),
        .client_host = bk_str_c("h"),
        .protocol_type = bk_str_c("connect"),
        .session_timeout_ms = 10000,
        .rebalance_timeout_ms = 10000,
        .protocols = &p,
        .nprotocols = 1,
    };
    bk_group_join(&reg, G, &req, &j2);
    assert_int_equal(j2.error, BK_KERR_INCONSISTENT_GROUP_PROTOCOL);
    memset(&j2, 0, sizeof(j2));
    req.session_timeout_ms = 10;
    bk_group_join(&reg, G, &req, &j2);
    assert_int_equal(j2.error, BK_KERR_INVALID_SESSION_TIMEOUT);
    /* group.max.size */
    reg.cfg.max_size = 1;
    join(&j2, "", NULL, "m2", false);
    assert_int_equal(j2.error, BK_KERR_GROUP_MAX_SIZE_REACHED);
    /* A non-empty group cannot be deleted. */
    struct bk_group *g = NULL;
    assert_int_equal(bk_group_delete_check(&reg, G, &g),
                     BK_KERR_NON_EMPTY_GROUP);
    assert_int_equal(bk_group_delete_check(&reg, bk_str_c("zz"), &g),
                     BK_KERR_GROUP_ID_NOT_FOUND);
}

static void test_offsets_and_retention(void **state)
{
    (void)state;
    struct bk_group *g = NULL;
    /* A commit from outside any group (admin reset, simple consumer). */
    assert_int_equal(bk_group_commit_check(&reg, bk_str_c("solo"), bk_str_c(""),
                                           BK_STR_NULL, -1, 9, &g),
                     0);
    assert_int_equal(bk_group_offset_put(g, bk_str_c("t"), 0, 42, 3,
                                         bk_str_c("md"), clock_ms, -1),
                     0);
    /* Generation -1 is a simple commit whatever the member id (librdkafka's
     * assign() sends its own); a member's commit into an unknown group is
     * GROUP_ID_NOT_FOUND from v9, ILLEGAL_GENERATION before (Kafka 4.1). */
    struct bk_group *sg = NULL;
    assert_int_equal(
        bk_group_commit_check(&reg, bk_str_c("solo2"), bk_str_c("rdkafka-1"),
                              BK_STR_NULL, -1, 9, &sg),
        0);
    assert_non_null(sg);
    assert_int_equal(
        bk_group_commit_check(&reg, bk_str_c("solo3"), bk_str_c("x"),
                              BK_STR_NULL, 3, 9, &sg),
        BK_KERR_GROUP_ID_NOT_FOUND);
    assert_int_equal(
        bk_group_commit_check(&reg, bk_str_c("solo3"), bk_str_c(""),
                              BK_STR_NULL, 0, 8, &sg),
        BK_KERR_ILLEGAL_GENERATION);
    assert_null(bk_group_find(&reg, bk_str_c("solo3")));
    const struct bk_group_offset *o = bk_group_offset_get(g, bk_str_c("t"), 0);
    assert_non_null(o);
    assert_int_equal(o->offset, 42);
    assert_null(bk_group_offset_get(g, bk_str_c("t"), 1));
    /* Members of an unknown generation are refused. */
    struct waiter j, s;
    join(&j, "", NULL, "m1", false);
    sync_leader(&s, &j, NULL, 0);
    struct bk_group *g1 = NULL;
    assert_int_equal(
        bk_group_commit_check(&reg, G, bk_str_c(j.member_id), BK_STR_NULL,
                              j.generation + 1, 9, &g1),
        BK_KERR_ILLEGAL_GENERATION);
    assert_int_equal(
        bk_group_commit_check(&reg, G, bk_str_c(""), BK_STR_NULL, -1, 9, &g1),
        BK_KERR_UNKNOWN_MEMBER_ID);
    assert_int_equal(bk_group_commit_check(&reg, G, bk_str_c(j.member_id),
                                           BK_STR_NULL, j.generation, 9, &g1),
                     0);
    /* Retention: 7 days after the commit of a simple group. */
    clock_ms += 7LL * 24 * 3600 * 1000 + 61000;
    bk_group_heartbeat(&reg, G, bk_str_c(j.member_id), BK_STR_NULL,
                       j.generation);
    bk_group_tick(&reg);
    assert_int_equal(expired_offsets, 1);
}

static void test_records_round_trip(void **state)
{
    (void)state;
    struct bk_arena a;
    bk_arena_init(&a, 4096, 0);
    struct bk_bytes k =
        bk_gr_offset_key(&a, bk_str_c("grp"), bk_str_c("topic"), 7);
    /* int16 1, "grp", "topic", int32 7 */
    static const uint8_t want[] = { 0,   1,   0,   3,   'g', 'r', 'p', 0, 5,
                                    't', 'o', 'p', 'i', 'c', 0,   0,   0, 7 };
    assert_int_equal(k.len, sizeof(want));
    assert_memory_equal(k.ptr, want, sizeof(want));
    struct bk_gr_key dk;
    assert_int_equal(bk_gr_key_decode(k, &dk), 0);
    assert_int_equal(dk.version, 1);
    assert_true(bk_str_eq_c(dk.topic, "topic"));
    assert_int_equal(dk.partition, 7);
    struct bk_gr_offset_value v = { 99, 4, bk_str_c(""), 1234, -1 }, dv;
    struct bk_bytes vb = bk_gr_offset_value_encode(&a, &v);
    assert_int_equal(vb.len, 2 + 8 + 4 + 2 + 8);
    assert_int_equal(bk_gr_offset_value_decode(vb, &dv), 0);
    assert_int_equal(dv.offset, 99);
    assert_int_equal(dv.leader_epoch, 4);
    assert_int_equal(dv.commit_ms, 1234);
    assert_int_equal(dv.expire_ms, -1);
    /* An explicit expiry (OffsetCommit v2-4 retention) is value v1. */
    v.expire_ms = 5678;
    vb = bk_gr_offset_value_encode(&a, &v);
    assert_int_equal(vb.len, 2 + 8 + 2 + 8 + 8);
    assert_int_equal(((const uint8_t *)vb.ptr)[1], 1);
    assert_int_equal(bk_gr_offset_value_decode(vb, &dv), 0);
    assert_int_equal(dv.offset, 99);
    assert_int_equal(dv.commit_ms, 1234);
    assert_int_equal(dv.expire_ms, 5678);

    struct waiter j, s;
    join(&j, "", "static-a", "meta", false);
    struct bk_group_assignment_in as = { bk_str_c(j.member_id),
                                         { (const uint8_t *)"asg", 3 } };
    sync_leader(&s, &j, &as, 1);
    struct bk_bytes gv = bk_gr_group_value_encode(&a, grp());
    struct bk_gr_group_meta ml;
    assert_int_equal(bk_gr_group_value_decode(gv, &a, &ml), 0);
    assert_int_equal(ml.generation, 1);
    assert_true(bk_str_eq_c(ml.protocol, "range"));
    assert_int_equal(ml.nmembers, 1);
    assert_true(bk_str_eq_c(ml.members[0].instance_id, "static-a"));
    assert_int_equal(ml.members[0].assignment.len, 3);
    /* Loading it into a fresh group restores a Stable group whose member
     * heartbeats as before. */
    assert_int_equal(bk_group_load_meta(&reg, bk_str_c("copy"), &ml), 0);
    struct bk_group *c = bk_group_find(&reg, bk_str_c("copy"));
    assert_int_equal(c->state, BK_GROUP_STABLE);
    assert_int_equal(bk_group_heartbeat(&reg, bk_str_c("copy"),
                                        bk_str_c(j.member_id), BK_STR_NULL, 1),
                     0);
    bk_group_load_tombstone(&reg, bk_str_c("copy"));
    assert_null(bk_group_find(&reg, bk_str_c("copy")));
    bk_arena_destroy(&a);
}

/* Instance ids and committed metadata are kept with every byte, in
 * memory and in the records: "a\0x" is not "a". */
static void test_nul_bytes_kept(void **state)
{
    (void)state;
    struct bk_arena a;
    bk_arena_init(&a, 4096, 0);
    const struct bk_str odd = { "a\0x", 3 };
    struct bk_group_proto_in p = { bk_str_c("range"),
                                   { (const uint8_t *)"m", 1 } };
    struct bk_group_join_req req = {
        .member_id = bk_str_c(""),
        .instance_id = odd,
        .client_id = bk_str_c("client"),
        .client_host = bk_str_c("/127.0.0.1"),
        .protocol_type = bk_str_c("consumer"),
        .session_timeout_ms = 10000,
        .rebalance_timeout_ms = 30000,
        .protocols = &p,
        .nprotocols = 1,
    };
    struct waiter j, s;
    memset(&j, 0, sizeof(j));
    bk_group_join(&reg, G, &req, &j);
    assert_int_equal(j.error, 0);
    struct bk_group_assignment_in as = { bk_str_c(j.member_id),
                                         { (const uint8_t *)"asg", 3 } };
    sync_leader(&s, &j, &as, 1);
    assert_int_equal(bk_group_heartbeat(&reg, G, bk_str_c(j.member_id), odd, 1),
                     0);
    struct bk_gr_group_meta ml;
    assert_int_equal(
        bk_gr_group_value_decode(bk_gr_group_value_encode(&a, grp()), &a, &ml),
        0);
    assert_int_equal(ml.nmembers, 1);
    assert_true(bk_str_eq(ml.members[0].instance_id, odd));
    /* "a" is another static member, not a restart of "a\0x": it joins as
     * a new member (a rebalance) instead of taking over the membership. */
    static struct waiter j2; /* answered at teardown */
    memset(&j2, 0, sizeof(j2));
    req.instance_id = bk_str_c("a");
    bk_group_join(&reg, G, &req, &j2);
    assert_int_equal(grp()->nmembers, 2);
    assert_int_equal(grp()->state, BK_GROUP_PREPARING_REBALANCE);

    const struct bk_str md = { "Hello\0world!", 12 };
    assert_int_equal(
        bk_group_offset_put(grp(), bk_str_c("t"), 0, 5, -1, md, 1, -1), 0);
    const struct bk_group_offset *o =
        bk_group_offset_get(grp(), bk_str_c("t"), 0);
    assert_non_null(o);
    assert_int_equal(o->metadata_len, 12);
    assert_memory_equal(o->metadata, md.ptr, 12);
    bk_arena_destroy(&a);
}

/* ---- KIP-848 ---- */

static struct bk_uuid topic_a = { { 1, 2, 3 } };

static int32_t lookup(void *ctx, const char *name, struct bk_uuid *id)
{
    (void)ctx;
    if (strcmp(name, "a") != 0) {
        return -1;
    }
    *id = topic_a;
    return 4;
}

static struct bk_cgroup_result cg_hb(const char *member,
                                     int32_t epoch,
                                     const struct bk_cgroup_tp *owned,
                                     int32_t nowned)
{
    static const struct bk_str topics[1] = { { "a", 1 } };
    struct bk_cgroup_heartbeat_req hb = {
        .member_id = bk_str_c(member),
        .member_epoch = epoch,
        .instance_id = BK_STR_NULL,
        .client_id = bk_str_c("c"),
        .client_host = bk_str_c("h"),
        .rebalance_timeout_ms = 30000,
        .topics = epoch == 0 ? topics : NULL,
        .ntopics = epoch == 0 ? 1 : 0,
        .regex = BK_STR_NULL,
        .server_assignor = BK_STR_NULL,
        .owned = owned,
        .nowned = nowned,
    };
    struct bk_cgroup_result res;
    bk_cgroup_heartbeat(&reg, bk_str_c("cg"), &hb, lookup, NULL, &res);
    return res;
}

static size_t cmember_assigned(const struct bk_group *g, const char *id)
{
    for (size_t i = 0; i < g->consumer->nmembers; i++) {
        if (strcmp(g->consumer->members[i]->id, id) == 0) {
            return g->consumer->members[i]->assigned.n;
        }
    }
    fail_msg("no member %s", id);
    return 0;
}

/* Incremental reconciliation: a partition moves to a new member only after
 * its owner acknowledged the revocation; epochs follow. */
static void test_consumer_protocol_reconciliation(void **state)
{
    (void)state;
    struct bk_cgroup_result r = cg_hb("m1", 0, NULL, -1);
    assert_int_equal(r.error, 0);
    assert_int_equal(r.member_epoch, 1);
    assert_int_equal(r.assignment->n, 4);
    struct bk_cgroup_tp owned[4];
    memcpy(owned, r.assignment->v, sizeof(owned));

    r = cg_hb("m2", 0, NULL, -1);
    assert_int_equal(r.error, 0);
    assert_int_equal(r.assignment->n, 0); /* all still owned by m1 */
    int32_t e2 = r.member_epoch;

    r = cg_hb("m1", 1, owned, 4);
    assert_int_equal(r.member_epoch, 1); /* revoking: epoch stays */
    assert_int_equal(r.assignment->n, 2);
    struct bk_cgroup_tp kept[2];
    memcpy(kept, r.assignment->v, sizeof(kept));
    struct bk_group *g = bk_group_find(&reg, bk_str_c("cg"));
    assert_string_equal(bk_cgroup_state(g), "Reconciling");

    /* m2 cannot have them before m1 acknowledges (no assignment in the
     * answer: still none). */
    r = cg_hb("m2", e2, NULL, -1);
    assert_null(r.assignment);
    assert_int_equal(cmember_assigned(g, "m2"), 0);
    /* m1 acknowledges: it now owns two, and moves to the group epoch;
     * its partitions did not change, so none are sent. */
    r = cg_hb("m1", 1, kept, 2);
    assert_null(r.assignment);
    assert_int_equal(cmember_assigned(g, "m1"), 2);
    assert_true(r.member_epoch > 1);
    int32_t e1 = r.member_epoch;
    r = cg_hb("m2", e2, NULL, -1);
    assert_int_equal(r.assignment->n, 2);
    e2 = r.member_epoch;
    assert_int_equal(e1, e2);
    assert_string_equal(bk_cgroup_state(g), "Stable");

    /* Epoch checks. */
    r = cg_hb("m1", e1 + 5, NULL, -1);
    assert_int_equal(r.error, BK_KERR_FENCED_MEMBER_EPOCH);
    r = cg_hb("nobody", 3, NULL, -1);
    assert_int_equal(r.error, BK_KERR_UNKNOWN_MEMBER_ID);
    assert_int_equal(bk_cgroup_commit_check(g, bk_str_c("m1"), e1, 9), 0);
    /* Kafka 4.1: any epoch but the member's own is stale for a commit
     * (brokerd also takes its previous one), and a consumer-protocol
     * member must commit with v9+. */
    assert_int_equal(bk_cgroup_commit_check(g, bk_str_c("m1"), e1 + 1, 9),
                     BK_KERR_STALE_MEMBER_EPOCH);
    assert_int_equal(bk_cgroup_commit_check(g, bk_str_c("m1"), 0, 9),
                     BK_KERR_STALE_MEMBER_EPOCH);
    assert_int_equal(bk_cgroup_commit_check(g, bk_str_c("m1"), e1, 8),
                     BK_KERR_UNSUPPORTED_VERSION);
    assert_int_equal(bk_cgroup_commit_check(g, bk_str_c("x"), e1, 8),
                     BK_KERR_UNKNOWN_MEMBER_ID);

    /* An unknown server assignor. */
    struct bk_cgroup_heartbeat_req bad = {
        .member_id = bk_str_c("m3"),
        .instance_id = BK_STR_NULL,
        .server_assignor = bk_str_c("sticky"),
    };
    bk_cgroup_heartbeat(&reg, bk_str_c("cg"), &bad, lookup, NULL, &r);
    assert_int_equal(r.error, BK_KERR_UNSUPPORTED_ASSIGNOR);

    /* Not deletable while members remain. */
    struct bk_group *dg = NULL;
    assert_int_equal(bk_group_delete_check(&reg, bk_str_c("cg"), &dg),
                     BK_KERR_NON_EMPTY_GROUP);
    /* m2 leaves: m1 gets everything back. */
    r = cg_hb("m2", -1, NULL, -1);
    assert_int_equal(r.member_epoch, -1);
    r = cg_hb("m1", e1, kept, 2);
    assert_int_equal(r.assignment->n, 4);
    /* And the session timeout removes a silent member. */
    clock_ms += BK_CGROUP_SESSION_TIMEOUT_MS + 1;
    bk_group_tick(&reg);
    assert_string_equal(bk_cgroup_state(g), "Empty");
    assert_int_equal(g->state, BK_GROUP_EMPTY);
    /* A classic join is refused while consumer members exist, but an
     * empty consumer group may turn classic. */
    struct waiter j;
    join(&j, "", NULL, "m", false);
    assert_int_equal(j.error, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_member_id_required_and_single_join,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_two_members_rebalance, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_session_expiry, setup, teardown),
        cmocka_unit_test_setup_teardown(test_expire_at_deadline, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_initial_delay, setup, teardown),
        cmocka_unit_test_setup_teardown(test_static_member_rejoin, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_offsets_and_retention, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_nul_bytes_kept, setup, teardown),
        cmocka_unit_test_setup_teardown(test_records_round_trip, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_consumer_protocol_reconciliation,
                                        setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
