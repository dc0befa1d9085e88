/* KIP-848 consumer groups under a manual clock: persistence in
 * __consumer_offsets (records written, then read back into a new
 * registry), static members, the revocation timeout, and the migration
 * between classic and consumer groups (upgrade, classic members served by
 * the server-side assignor, downgrade). */
/* cmocka.h needs these headers first. */
/* clang-format off */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
/* clang-format on */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/arena.h"
#include "common/heap.h"
#include "group/cg_records.h"
#include "group/consumer.h"
#include "group/group.h"
#include "group/persist.h"
#include "protocol/gen/consumer_protocol_assignment.h"
#include "protocol/gen/consumer_protocol_subscription.h"
#include "protocol/kerr.h"
#include "unit/group/group_fixture.h"

/* Topic "t" with 6 partitions; for regex subscriptions also "u1" and
 * "u22" (2 each, created on demand) and an internal topic. */
static const struct bk_uuid topic_t = { { 9, 8, 7, 6 } };
static const struct bk_uuid topic_u1 = { { 5, 1 } };
static const struct bk_uuid topic_u22 = { { 5, 22 } };
#define NPARTS 6
static bool u_topics; /* do u1/u22 exist */

static int32_t lookup(void *ctx, const char *name, struct bk_uuid *id)
{
    (void)ctx;
    if (strcmp(name, "t") == 0) {
        *id = topic_t;
        return NPARTS;
    }
    if (u_topics && strcmp(name, "u1") == 0) {
        *id = topic_u1;
        return 2;
    }
    if (u_topics && strcmp(name, "u22") == 0) {
        *id = topic_u22;
        return 2;
    }
    return -1;
}

static bool topic_name(void *data,
                       const struct bk_uuid *id,
                       char *buf,
                       size_t cap)
{
    (void)data;
    if (memcmp(id, &topic_t, sizeof(*id)) != 0 || cap < 2) {
        return false;
    }
    strcpy(buf, "t");
    return true;
}

static void topic_each(void *data,
                       void (*fn)(void *arg, const char *name),
                       void *arg)
{
    (void)data;
    fn(arg, "__consumer_offsets");
    fn(arg, "t");
    if (u_topics) {
        fn(arg, "u1");
        fn(arg, "u22");
    }
}

/* ---- waiters ---- */

/* A SyncGroup answer: the partitions of "t" in the consumer protocol's
 * assignment go to parts. */
static void sync_done(void *data,
                      void *w,
                      int16_t error,
                      const char *ptype,
                      const char *pname,
                      const uint8_t *a,
                      size_t len)
{
    struct waiter *x = w;
    waiter_sync(data, w, error, ptype, pname, a, len);
    if (error != 0 || len < 2) {
        return;
    }
    struct bk_arena ar;
    bk_arena_init(&ar, 1024, 0);
    struct bk_rd rd;
    bk_rd_init(&rd, a, len);
    int16_t v = bk_rd_i16(&rd);
    struct bk_msg_consumer_protocol_assignment asg;
    bk_msg_consumer_protocol_assignment_init(&asg);
    assert_int_equal(
        bk_msg_consumer_protocol_assignment_decode(&asg, &rd, v, &ar), 0);
    for (int32_t i = 0; i < asg.assigned_partitions_count; i++) {
        assert_true(bk_str_eq_c(asg.assigned_partitions[i].topic, "t"));
        for (int32_t k = 0; k < asg.assigned_partitions[i].partitions_count;
             k++) {
            assert_true(x->nparts < WAITER_PARTS);
            x->parts[x->nparts++] = asg.assigned_partitions[i].partitions[k];
        }
    }
    bk_arena_destroy(&ar);
}

/* ---- a registry and its "log" ---- */

struct log_rec {
    uint8_t *key;
    size_t klen;
    uint8_t *val; /* NULL: tombstone */
    size_t vlen;
};

static struct log_rec wal[4096];
static size_t nwal;
static struct bk_group_registry reg;

static void init_reg(struct bk_group_registry *r)
{
    struct bk_group_config cfg;
    bk_group_config_default(&cfg);
    cfg.initial_rebalance_delay_ms = 0;
    struct bk_group_hooks hooks = {
        .join_done = waiter_join,
        .sync_done = sync_done,
        .topic_lookup = lookup,
        .topic_name = topic_name,
        .topic_each = topic_each,
    };
    bk_group_registry_init(r, &cfg, &manual, &hooks);
}

/* What the coordinator glue does after each request: write what is
 * pending. */
static void flush(void)
{
    for (struct bk_group *g = reg.groups; g != NULL; g = g->next) {
        struct bk_arena a;
        bk_arena_init(&a, 4096, 0);
        struct bk_gr_recs rs = { .a = &a };
        bk_group_pending_records(g, &rs);
        assert_false(rs.failed);
        for (size_t i = 0; i < rs.n; i++) {
            assert_true(nwal < sizeof(wal) / sizeof(wal[0]));
            struct log_rec *lr = &wal[nwal++];
            lr->klen = (size_t)rs.v[i].key.len;
            lr->key = malloc(lr->klen);
            memcpy(lr->key, rs.v[i].key.ptr, lr->klen);
            lr->val = NULL;
            if (rs.v[i].value.len >= 0) {
                lr->vlen = (size_t)rs.v[i].value.len;
                lr->val = malloc(lr->vlen + 1);
                memcpy(lr->val, rs.v[i].value.ptr, lr->vlen);
            }
        }
        bk_group_pending_clear(g);
        bk_arena_destroy(&a);
    }
}

/* A coordinator restart: a new registry reads the log back. */
/* Reads every record of the "log" into r, as a coordinator loads its
 * partition. */
static void replay_into(struct bk_group_registry *r)
{
    for (size_t i = 0; i < nwal; i++) {
        struct bk_arena a;
        bk_arena_init(&a, 4096, 0);
        struct bk_bytes k = { wal[i].key, (int32_t)wal[i].klen };
        struct bk_bytes v =
            wal[i].val != NULL
                ? (struct bk_bytes){ wal[i].val, (int32_t)wal[i].vlen }
                : BK_BYTES_NULL;
        bk_group_load_record(r, k, v, &a);
        bk_arena_destroy(&a);
    }
}

static void reload(void)
{
    bk_group_registry_close(&reg);
    init_reg(&reg);
    replay_into(&reg);
}

static int setup(void **state)
{
    (void)state;
    clock_ms = 1000000;
    nwal = 0;
    u_topics = false;
    init_reg(&reg);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    bk_group_registry_close(&reg);
    for (size_t i = 0; i < nwal; i++) {
        free(wal[i].key);
        free(wal[i].val);
    }
    return 0;
}

#define CG bk_str_c("cg")

/* One heartbeat with every field given: topics NULL or owned NULL leave
 * them unsent. With both sent it is a KIP-848 "full request", as a client
 * sends after an error. */
static struct bk_cgroup_result hb_whole(const char *member,
                                        const char *instance,
                                        int32_t epoch,
                                        const struct bk_str *topics,
                                        int32_t ntopics,
                                        const struct bk_cgroup_set *owned)
{
    struct bk_cgroup_heartbeat_req hb = {
        .member_id = bk_str_c(member),
        .member_epoch = epoch,
        .instance_id = instance != NULL ? bk_str_c(instance) : BK_STR_NULL,
        .client_id = bk_str_c("c"),
        .client_host = bk_str_c("/127.0.0.1"),
        .rebalance_timeout_ms = 30000,
        .topics = topics,
        .ntopics = ntopics,
        .regex = BK_STR_NULL,
        .server_assignor = BK_STR_NULL,
        .owned = owned != NULL ? owned->v : NULL,
        .nowned = owned != NULL ? (int32_t)owned->n : -1,
    };
    struct bk_cgroup_result res;
    bk_cgroup_heartbeat(&reg, CG, &hb, lookup, NULL, &res);
    flush();
    return res;
}

/* A heartbeat as the Java client sends it: the subscription (topic "t")
 * only on joining. */
static struct bk_cgroup_result hb_full(const char *member,
                                       const char *instance,
                                       int32_t epoch,
                                       const struct bk_cgroup_set *owned)
{
    static const struct bk_str topics[1] = { { "t", 1 } };
    return hb_whole(member, instance, epoch, epoch == 0 ? topics : NULL,
                    epoch == 0 ? 1 : 0, owned);
}

/* A consumer member heartbeats until its assignment stops changing,
 * acknowledging what it was told each time (no assignment in an answer:
 * unchanged). Returns its epoch. */
static int32_t settle(const char *member,
                      int32_t epoch,
                      struct bk_cgroup_set *own)
{
    for (int i = 0; i < 8; i++) {
        struct bk_cgroup_result r = hb_full(member, NULL, epoch, own);
        assert_int_equal(r.error, 0);
        assert_true(epoch != 0 || r.assignment != NULL);
        epoch = r.member_epoch;
        if (r.assignment != NULL) {
            own->n = 0;
            for (size_t k = 0; k < r.assignment->n; k++) {
                own->v[own->n++] = r.assignment->v[k];
            }
        }
    }
    return epoch;
}

static struct bk_cmember *cmember(const char *id)
{
    struct bk_group *g = bk_group_find(&reg, CG);
    assert_non_null(g);
    assert_non_null(g->consumer);
    for (size_t i = 0; i < g->consumer->nmembers; i++) {
        if (strcmp(g->consumer->members[i]->id, id) == 0) {
            return g->consumer->members[i];
        }
    }
    return NULL;
}

/* Membership, epochs and assignments survive a coordinator restart; a
 * member that left stays gone; a deleted group stays deleted. */
static void test_persist_round_trip(void **state)
{
    (void)state;
    struct bk_cgroup_tp v1[NPARTS], v2[NPARTS];
    struct bk_cgroup_set o1 = { v1, 0, NPARTS }, o2 = { v2, 0, NPARTS };
    int32_t e1 = settle("m1", 0, &o1);
    int32_t e2 = settle("m2", 0, &o2);
    e1 = settle("m1", e1, &o1);
    e2 = settle("m2", e2, &o2);
    assert_int_equal(o1.n + o2.n, NPARTS);
    struct bk_group *g = bk_group_find(&reg, CG);
    int32_t epoch = g->consumer->group_epoch;
    size_t before = nwal;
    /* Nothing changes on a plain heartbeat: nothing is written. */
    (void)hb_full("m1", NULL, e1, NULL);
    assert_int_equal(nwal, before);

    reload();
    g = bk_group_find(&reg, CG);
    assert_non_null(g);
    assert_non_null(g->consumer);
    assert_int_equal(g->consumer->group_epoch, epoch);
    assert_int_equal(g->consumer->nmembers, 2);
    assert_int_equal(g->state, BK_GROUP_STABLE);
    struct bk_cmember *m1 = cmember("m1");
    assert_non_null(m1);
    assert_int_equal(m1->epoch, e1);
    assert_int_equal(m1->assigned.n, o1.n);
    assert_int_equal(m1->target.n, o1.n);
    assert_int_equal(m1->ntopics, 1);
    assert_string_equal(m1->topics[0], "t");
    assert_string_equal(m1->client_host, "/127.0.0.1");
    /* The members carry on with their epochs, as if nothing happened. */
    struct bk_cgroup_result r = hb_full("m1", NULL, e1, &o1);
    assert_int_equal(r.error, 0);
    assert_int_equal(r.member_epoch, e1);
    assert_null(r.assignment); /* unchanged */
    assert_int_equal(bk_cgroup_commit_check(g, bk_str_c("m2"), e2, 9), 0);

    /* m2 leaves: after a restart it is not there, m1 takes everything. */
    r = hb_full("m2", NULL, -1, NULL);
    assert_int_equal(r.member_epoch, -1);
    reload();
    assert_null(cmember("m2"));
    (void)settle("m1", e1, &o1);
    assert_int_equal(o1.n, NPARTS);
    reload();
    assert_int_equal(cmember("m1")->assigned.n, NPARTS);

    /* The last member leaves; the empty group is deleted. */
    (void)hb_full("m1", NULL, -1, NULL);
    g = bk_group_find(&reg, CG);
    assert_int_equal(g->state, BK_GROUP_EMPTY);
    struct bk_group *dg = NULL;
    assert_int_equal(bk_group_delete_check(&reg, CG, &dg), 0);
    struct bk_arena a;
    bk_arena_init(&a, 4096, 0);
    struct bk_gr_recs rs = { .a = &a };
    bk_group_delete_records(dg, &rs);
    for (size_t i = 0; i < rs.n; i++) {
        struct log_rec *lr = &wal[nwal++];
        lr->klen = (size_t)rs.v[i].key.len;
        lr->key = malloc(lr->klen);
        memcpy(lr->key, rs.v[i].key.ptr, lr->klen);
        lr->val = NULL;
    }
    bk_arena_destroy(&a);
    bk_group_remove(&reg, dg);
    reload();
    assert_null(bk_group_find(&reg, CG));
}

/* The record layouts are Kafka's: key = int16 type + strings, value =
 * int16 version 0 + flexible fields. */
static void test_record_layouts(void **state)
{
    (void)state;
    struct bk_arena a;
    bk_arena_init(&a, 4096, 0);
    struct bk_bytes k =
        bk_gr_cg_key(&a, BK_GR_KEY_CG_CURRENT, bk_str_c("g"), bk_str_c("m"));
    static const uint8_t want_key[] = { 0, 8, 0, 1, 'g', 0, 1, 'm' };
    assert_int_equal(k.len, sizeof(want_key));
    assert_memory_equal(k.ptr, want_key, sizeof(want_key));
    struct bk_bytes e = bk_gr_cg_epoch_value(&a, 7);
    static const uint8_t want_epoch[] = { 0, 0, 0, 0, 0, 7, 0 };
    assert_int_equal(e.len, sizeof(want_epoch));
    assert_memory_equal(e.ptr, want_epoch, sizeof(want_epoch));
    struct bk_cgroup_tp tps[2] = { { topic_t, 1 }, { topic_t, 4 } };
    struct bk_cgroup_set s = { tps, 2, 2 };
    struct bk_bytes t = bk_gr_cg_target_value(&a, &s);
    /* version, 1 topic (compact 2), uuid, 2 partitions (compact 3), tags */
    assert_int_equal(t.len, 2 + 1 + 16 + 1 + 8 + 1 + 1);
    struct bk_cgroup_tp *back = NULL;
    size_t n = 0;
    assert_int_equal(bk_gr_cg_target_decode(t, &a, &back, &n), 0);
    assert_int_equal(n, 2);
    assert_int_equal(back[1].partition, 4);
    /* A truncated value is refused, not read past. */
    struct bk_bytes cut = { t.ptr, t.len - 3 };
    assert_int_not_equal(bk_gr_cg_target_decode(cut, &a, &back, &n), 0);
    bk_arena_destroy(&a);
}

static void copy_set(struct bk_cgroup_set *to, const struct bk_cgroup_set *from)
{
    to->n = 0;
    for (size_t i = 0; i < from->n; i++) {
        to->v[to->n++] = from->v[i];
    }
}

/* KIP-848 static membership: leaving with epoch -2 keeps the assignment;
 * the same instance rejoining under a new member id gets it back; a second
 * live member with the same instance id is refused. */
static void test_static_member(void **state)
{
    (void)state;
    struct bk_cgroup_tp v1[NPARTS];
    struct bk_cgroup_set o1 = { v1, 0, NPARTS };
    struct bk_cgroup_result r = hb_full("s1", "inst", 0, NULL);
    assert_int_equal(r.error, 0);
    int32_t e = r.member_epoch;
    copy_set(&o1, r.assignment);
    r = hb_full("s2", "inst", 0, NULL);
    assert_int_equal(r.error, BK_KERR_UNRELEASED_INSTANCE_ID);
    (void)settle("s1", e, &o1);
    assert_int_equal(o1.n, NPARTS);
    r = hb_full("s1", "inst", -2, NULL);
    assert_int_equal(r.member_epoch, -2);
    assert_int_equal(cmember("s1")->assigned.n, NPARTS); /* kept */
    r = hb_full("s3", "inst", 0, NULL);
    assert_int_equal(r.error, 0);
    assert_null(cmember("s1"));
    assert_int_equal(r.assignment->n, NPARTS);
}

/* A static member that comes back with the subscription it left with
 * takes its old place: same partitions, and no new group epoch, so the
 * other members have nothing to reconcile. With another subscription the
 * group epoch moves on. */
static void test_static_rejoin_keeps_epoch(void **state)
{
    (void)state;
    struct bk_cgroup_tp vs[NPARTS], vd[NPARTS], keep[NPARTS];
    struct bk_cgroup_set os = { vs, 0, NPARTS }, od = { vd, 0, NPARTS },
                         kept = { keep, 0, NPARTS };
    struct bk_cgroup_result r = hb_full("s1", "inst", 0, NULL);
    assert_int_equal(r.error, 0);
    int32_t es = settle("s1", r.member_epoch, &os);
    int32_t ed = settle("d1", 0, &od);
    (void)settle("s1", es, &os);
    ed = settle("d1", ed, &od);
    assert_int_equal(os.n + od.n, NPARTS);
    assert_int_equal(os.n, NPARTS / 2);
    struct bk_group *g = bk_group_find(&reg, CG);
    int32_t epoch = g->consumer->group_epoch;
    copy_set(&kept, &os);

    r = hb_full("s1", "inst", -2, NULL);
    assert_int_equal(r.member_epoch, -2);
    static const struct bk_str t[1] = { { "t", 1 } };
    struct bk_cgroup_tp nv[1];
    struct bk_cgroup_set none = { nv, 0, 1 }; /* an empty owned list */
    r = hb_whole("s2", "inst", 0, t, 1, &none);
    assert_int_equal(r.error, 0);
    assert_null(cmember("s1"));
    assert_int_equal(g->consumer->group_epoch, epoch);
    assert_int_equal(r.member_epoch, epoch);
    assert_non_null(r.assignment);
    assert_int_equal(r.assignment->n, kept.n);
    for (size_t i = 0; i < kept.n; i++) {
        bool found = false;
        for (size_t k = 0; k < r.assignment->n; k++) {
            found =
                found || r.assignment->v[k].partition == kept.v[i].partition;
        }
        assert_true(found);
    }
    /* d1 carries on at its epoch, nothing to do. */
    r = hb_full("d1", NULL, ed, NULL);
    assert_int_equal(r.error, 0);
    assert_int_equal(r.member_epoch, ed);
    assert_null(r.assignment);
    /* The restart survives a coordinator restart. */
    reload();
    g = bk_group_find(&reg, CG);
    assert_non_null(cmember("s2"));
    assert_int_equal(cmember("s2")->target.n, kept.n);

    /* Back with another subscription: a new group epoch. */
    r = hb_full("s2", "inst", -2, NULL);
    assert_int_equal(r.member_epoch, -2);
    static const struct bk_str tu[2] = { { "t", 1 }, { "u1", 2 } };
    r = hb_whole("s3", "inst", 0, tu, 2, &none);
    assert_int_equal(r.error, 0);
    assert_true(g->consumer->group_epoch > epoch);
}

/* KIP-848 answers carry the assignment when the member joins, sends a
 * full request or its partitions changed; otherwise it is null
 * ("unchanged"). A member one epoch behind is accepted only while it owns
 * a subset of its partitions (the answer that moved it on was lost). */
static void test_assignment_sent_when_changed(void **state)
{
    (void)state;
    struct bk_cgroup_tp v1[NPARTS], v2[NPARTS], va[NPARTS];
    struct bk_cgroup_set o1 = { v1, 0, NPARTS }, o2 = { v2, 0, NPARTS },
                         all = { va, 0, NPARTS };
    static const struct bk_str t[1] = { { "t", 1 } };
    struct bk_cgroup_result r = hb_full("m1", NULL, 0, NULL);
    assert_int_equal(r.error, 0);
    assert_int_equal(r.assignment->n, NPARTS);
    copy_set(&o1, r.assignment);
    copy_set(&all, r.assignment);
    int32_t e1 = r.member_epoch;
    r = hb_full("m1", NULL, e1, NULL);
    assert_int_equal(r.error, 0);
    assert_null(r.assignment);
    r = hb_whole("m1", NULL, e1, t, 1, &o1); /* a full request */
    assert_int_equal(r.error, 0);
    assert_int_equal(r.assignment->n, NPARTS);

    /* m2 joins: m1's next heartbeat revokes half, and says so. */
    (void)settle("m2", 0, &o2);
    r = hb_full("m1", NULL, e1, NULL);
    assert_int_equal(r.error, 0);
    assert_int_equal(r.member_epoch, e1); /* until it acknowledges */
    assert_non_null(r.assignment);
    assert_int_equal(r.assignment->n, NPARTS / 2);
    copy_set(&o1, r.assignment);
    r = hb_full("m1", NULL, e1, NULL);
    assert_null(r.assignment);
    /* The acknowledgement moves m1 to the group epoch; its partitions
     * did not change, so none are sent. */
    r = hb_full("m1", NULL, e1, &o1);
    assert_int_equal(r.error, 0);
    int32_t e2 = r.member_epoch;
    assert_true(e2 > e1);
    assert_null(r.assignment);

    /* The previous epoch: fine with a subset of what m1 has, fenced with
     * a partition it no longer has or with no owned list at all. */
    r = hb_full("m1", NULL, e1, &o1);
    assert_int_equal(r.error, 0);
    assert_int_equal(r.member_epoch, e2);
    r = hb_full("m1", NULL, e1, &all);
    assert_int_equal(r.error, BK_KERR_FENCED_MEMBER_EPOCH);
    r = hb_full("m1", NULL, e1, NULL);
    assert_int_equal(r.error, BK_KERR_FENCED_MEMBER_EPOCH);
    r = hb_full("m1", NULL, e2 + 1, NULL);
    assert_int_equal(r.error, BK_KERR_FENCED_MEMBER_EPOCH);
    r = hb_full("m1", NULL, e2, NULL);
    assert_int_equal(r.error, 0);
}

/* A member that does not acknowledge a revocation within its rebalance
 * timeout is fenced, and its partitions go to the others. */
static void test_revocation_timeout(void **state)
{
    (void)state;
    struct bk_cgroup_tp v1[NPARTS], v2[NPARTS];
    struct bk_cgroup_set o1 = { v1, 0, NPARTS }, o2 = { v2, 0, NPARTS };
    int32_t e1 = settle("m1", 0, &o1);
    assert_int_equal(o1.n, NPARTS);
    struct bk_cgroup_result r = hb_full("m2", NULL, 0, NULL);
    int32_t e2 = r.member_epoch;
    /* m1 is told to revoke half, then goes silent (but keeps its session
     * alive with heartbeats that do not acknowledge). */
    (void)hb_full("m1", NULL, e1, &o1);
    assert_int_equal(cmember("m1")->revoking.n, NPARTS / 2);
    clock_ms += 20000;
    r = hb_full("m1", NULL, e1, &o1);
    assert_int_equal(r.error, 0);
    clock_ms += 11000; /* past the 30 s rebalance timeout */
    bk_group_tick(&reg);
    flush();
    assert_null(cmember("m1"));
    (void)settle("m2", e2, &o2);
    assert_int_equal(o2.n, NPARTS);
}

/* ---- classic members ---- */

/* A ConsumerProtocolSubscription v1 for topic "t" owning parts. */
static size_t subscription(uint8_t *buf,
                           size_t cap,
                           const int32_t *parts,
                           int32_t nparts)
{
    struct bk_msg_consumer_protocol_subscription sub;
    bk_msg_consumer_protocol_subscription_init(&sub);
    struct bk_str topics[1] = { bk_str_c("t") };
    sub.topics = topics;
    sub.topics_count = 1;
    struct bk_msg_consumer_protocol_subscription_topic_partition own = {
        bk_str_c("t"), (int32_t *)parts, nparts
    };
    sub.owned_partitions = &own;
    sub.owned_partitions_count = nparts > 0 ? 1 : 0;
    struct bk_wr w;
    bk_wr_init(&w, buf, cap);
    bk_wr_i16(&w, 1);
    assert_int_equal(bk_msg_consumer_protocol_subscription_encode(&sub, &w, 1),
                     0);
    assert_int_equal(w.err, 0);
    return w.len;
}

/* A classic consumer's JoinGroup: the embedded consumer protocol, topic
 * "t", owning parts. member and instance must outlive the call. */
struct classic_req {
    uint8_t meta[256];
    struct bk_group_proto_in proto;
    struct bk_group_join_req req;
};

static const struct bk_group_join_req *classic_req(struct classic_req *c,
                                                   const char *member,
                                                   const char *instance,
                                                   const int32_t *owned,
                                                   int32_t nowned,
                                                   bool require_known)
{
    size_t len = subscription(c->meta, sizeof(c->meta), owned, nowned);
    c->proto = (struct bk_group_proto_in){ bk_str_c("range"),
                                           { c->meta, (int32_t)len } };
    c->req = (struct bk_group_join_req){
        .member_id = bk_str_c(member),
        .instance_id = instance != NULL ? bk_str_c(instance) : BK_STR_NULL,
        .client_id = bk_str_c("classic"),
        .client_host = bk_str_c("/127.0.0.1"),
        .protocol_type = bk_str_c("consumer"),
        .session_timeout_ms = 10000,
        .rebalance_timeout_ms = 30000,
        .protocols = &c->proto,
        .nprotocols = 1,
        .require_known_member = require_known,
    };
    return &c->req;
}

static void classic_join(struct waiter *w,
                         const char *member,
                         const int32_t *owned,
                         int32_t nowned)
{
    char id[128];
    snprintf(id, sizeof(id), "%s", member); /* member may point into w */
    int32_t own[NPARTS] = { 0 };            /* owned may point into w as well */
    if (owned != NULL)
        memcpy(own, owned, (size_t)nowned * sizeof(*own));
    memset(w, 0, sizeof(*w));
    member = id;
    owned = own;
    struct classic_req c;
    bk_group_join(&reg, CG, classic_req(&c, member, NULL, owned, nowned, true),
                  w);
    flush();
}

static void classic_sync(struct waiter *w,
                         const char *member,
                         int32_t generation,
                         const struct bk_group_assignment_in *as,
                         size_t nas)
{
    memset(w, 0, sizeof(*w));
    struct bk_group_sync_req req = {
        .member_id = bk_str_c(member),
        .instance_id = BK_STR_NULL,
        .generation = generation,
        .protocol_type = bk_str_c("consumer"),
        .protocol_name = bk_str_c("range"),
        .assignments = as,
        .nassignments = nas,
    };
    bk_group_sync(&reg, CG, &req, w);
    flush();
}

/* A classic consumer's loop: rejoin while told to, until stable. */
static void classic_settle(const char *member, struct waiter *last)
{
    for (int i = 0; i < 8; i++) {
        struct waiter j, s;
        classic_join(&j, member, last->parts, last->nparts);
        assert_true(j.done);
        assert_int_equal(j.error, 0);
        assert_string_equal(j.leader, ""); /* a follower: no assigning */
        classic_sync(&s, member, j.generation, NULL, 0);
        assert_true(s.done);
        assert_int_equal(s.error, 0);
        *last = s;
        last->generation = j.generation;
        if (bk_group_heartbeat(&reg, CG, bk_str_c(member), BK_STR_NULL,
                               j.generation) == 0) {
            return;
        }
    }
    fail_msg("the classic member did not settle");
}

/* A classic group with members, a consumer-protocol member arrives: the
 * group is upgraded, the classic members keep their partitions until the
 * server-side assignor moves them, and every partition ends up with
 * exactly one member. When the consumer member leaves, the group becomes
 * classic again and rebalances. */
static void test_upgrade_and_downgrade(void **state)
{
    (void)state;
    /* A classic group: two members, the leader assigns 0-2 and 3-5. */
    struct waiter j1, j2;
    classic_join(&j1, "", NULL, 0);
    assert_int_equal(j1.error, BK_KERR_MEMBER_ID_REQUIRED);
    classic_join(&j1, j1.member_id, NULL, 0);
    assert_true(j1.done);
    assert_int_equal(j1.error, 0);
    char c1[128], c2[128];
    snprintf(c1, sizeof(c1), "%s", j1.member_id);
    classic_join(&j2, "", NULL, 0);
    snprintf(c2, sizeof(c2), "%s", j2.member_id);
    classic_join(&j2, c2, NULL, 0); /* parks: rebalance */
    struct waiter j1b;
    classic_join(&j1b, c1, NULL, 0);
    assert_true(j1b.done && j2.done);
    int32_t gen = j1b.generation;
    /* The leader's assignment, in the consumer protocol's format. */
    uint8_t a1[64], a2[64];
    size_t l1, l2;
    {
        int32_t p1[3] = { 0, 1, 2 }, p2[3] = { 3, 4, 5 };
        struct bk_msg_consumer_protocol_assignment_topic_partition
            t1 = { bk_str_c("t"), p1, 3 },
            t2 = { bk_str_c("t"), p2, 3 };
        struct bk_msg_consumer_protocol_assignment x;
        bk_msg_consumer_protocol_assignment_init(&x);
        struct bk_wr w;
        x.assigned_partitions = &t1;
        x.assigned_partitions_count = 1;
        bk_wr_init(&w, a1, sizeof(a1));
        bk_wr_i16(&w, 1);
        bk_msg_consumer_protocol_assignment_encode(&x, &w, 1);
        l1 = w.len;
        x.assigned_partitions = &t2;
        bk_wr_init(&w, a2, sizeof(a2));
        bk_wr_i16(&w, 1);
        bk_msg_consumer_protocol_assignment_encode(&x, &w, 1);
        l2 = w.len;
    }
    struct bk_group_assignment_in as[2] = {
        { bk_str_c(c1), { a1, (int32_t)l1 } },
        { bk_str_c(c2), { a2, (int32_t)l2 } },
    };
    struct waiter s1, s2;
    classic_sync(&s2, c2, gen, NULL, 0);
    classic_sync(&s1, c1, gen, as, 2);
    assert_int_equal(s1.error, 0);
    assert_int_equal(s1.nparts, 3);
    assert_int_equal(s2.nparts, 3);
    struct bk_group *g = bk_group_find(&reg, CG);
    assert_int_equal(g->state, BK_GROUP_STABLE);
    assert_null(g->consumer);

    /* The upgrade: a consumer member joins the classic group. */
    struct bk_cgroup_result r = hb_full("k1", NULL, 0, NULL);
    assert_int_equal(r.error, 0);
    g = bk_group_find(&reg, CG);
    assert_non_null(g->consumer);
    assert_int_equal(g->consumer->nmembers, 3);
    assert_true(cmember(c1)->classic);
    assert_int_equal(cmember(c1)->assigned.n, 3); /* kept from classic */
    assert_int_equal(r.assignment->n, 0);         /* all still owned */
    /* The classic members learn of the rebalance from Heartbeat. */
    assert_int_equal(
        bk_group_heartbeat(&reg, CG, bk_str_c(c1), BK_STR_NULL, gen),
        BK_KERR_REBALANCE_IN_PROGRESS);
    /* Everyone converges. */
    struct bk_cgroup_tp vk[NPARTS];
    struct bk_cgroup_set ok = { vk, 0, NPARTS };
    int32_t ek = r.member_epoch;
    for (int round = 0; round < 4; round++) {
        classic_settle(c1, &s1);
        classic_settle(c2, &s2);
        ek = settle("k1", ek, &ok);
    }
    assert_int_equal(s1.nparts + s2.nparts + (int32_t)ok.n, NPARTS);
    bool seen[NPARTS] = { false };
    for (int32_t i = 0; i < s1.nparts; i++) {
        seen[s1.parts[i]] = true;
    }
    for (int32_t i = 0; i < s2.nparts; i++) {
        assert_false(seen[s2.parts[i]]);
        seen[s2.parts[i]] = true;
    }
    for (size_t i = 0; i < ok.n; i++) {
        assert_false(seen[ok.v[i].partition]);
        seen[ok.v[i].partition] = true;
    }
    assert_int_equal(ok.n, 2);
    assert_string_equal(bk_cgroup_state(g), "Stable");
    /* A classic member commits with its generation (the member epoch). */
    struct bk_group *cg = NULL;
    assert_int_equal(bk_group_commit_check(&reg, CG, bk_str_c(c1), BK_STR_NULL,
                                           s1.generation, 9, &cg),
                     0);
    assert_int_equal(bk_group_commit_check(&reg, CG, bk_str_c(c1), BK_STR_NULL,
                                           s1.generation + 7, 9, &cg),
                     BK_KERR_ILLEGAL_GENERATION);

    /* The mixed group survives a restart. */
    reload();
    g = bk_group_find(&reg, CG);
    assert_non_null(g->consumer);
    assert_int_equal(g->consumer->nmembers, 3);
    assert_true(cmember(c2)->classic);
    assert_int_equal(cmember(c2)->session_timeout_ms, 10000);
    assert_int_equal(
        bk_group_heartbeat(&reg, CG, bk_str_c(c2), BK_STR_NULL, s2.generation),
        0);

    /* The downgrade: the consumer member leaves and only classic members
     * are left. They catch up (rejoin for k1's partitions), then the group
     * is classic again, Stable, at the generation they have. */
    (void)hb_full("k1", NULL, -1, NULL);
    g = bk_group_find(&reg, CG);
    assert_non_null(g->consumer);
    assert_true(g->consumer->downgrade);
    assert_int_equal(
        bk_group_heartbeat(&reg, CG, bk_str_c(c1), BK_STR_NULL, s1.generation),
        BK_KERR_REBALANCE_IN_PROGRESS);
    for (int round = 0; round < 4 && g->consumer != NULL; round++) {
        classic_settle(c1, &s1);
        g = bk_group_find(&reg, CG);
        if (g->consumer != NULL) {
            classic_settle(c2, &s2);
            g = bk_group_find(&reg, CG);
        }
    }
    assert_null(g->consumer);
    assert_int_equal(g->nmembers, 2);
    assert_int_equal(g->state, BK_GROUP_STABLE);
    assert_int_equal(s1.nparts + s2.nparts, NPARTS);
    /* The generation is the epoch both members have: their commits and
     * heartbeats stay valid, no rebalance needed. */
    assert_int_equal(g->generation, s1.generation);
    assert_int_equal(g->generation, s2.generation);
    assert_int_equal(bk_group_commit_check(&reg, CG, bk_str_c(c1), BK_STR_NULL,
                                           s1.generation, 9, &cg),
                     0);
    assert_int_equal(
        bk_group_heartbeat(&reg, CG, bk_str_c(c2), BK_STR_NULL, s2.generation),
        0);
    /* Each keeps its partitions, in the classic group's own records. */
    struct waiter s;
    classic_sync(&s, c1, s1.generation, NULL, 0);
    assert_int_equal(s.error, 0);
    assert_int_equal(s.nparts, s1.nparts);
    /* After a restart it is still classic, with the two members. */
    reload();
    g = bk_group_find(&reg, CG);
    assert_null(g->consumer);
    assert_int_equal(g->nmembers, 2);
}

/* A classic consumer joining a consumer group from the start; its
 * LeaveGroup gives its partitions back. */
static void test_classic_join_and_leave(void **state)
{
    (void)state;
    struct bk_cgroup_tp vk[NPARTS];
    struct bk_cgroup_set ok = { vk, 0, NPARTS };
    int32_t ek = settle("k1", 0, &ok);
    assert_int_equal(ok.n, NPARTS);
    struct waiter j;
    classic_join(&j, "", NULL, 0);
    assert_int_equal(j.error, BK_KERR_MEMBER_ID_REQUIRED);
    char c[128];
    snprintf(c, sizeof(c), "%s", j.member_id);
    struct waiter s = { 0 };
    for (int round = 0; round < 4; round++) {
        ek = settle("k1", ek, &ok);
        classic_settle(c, &s);
    }
    assert_int_equal(ok.n, NPARTS / 2);
    assert_int_equal(s.nparts, NPARTS / 2);
    /* A consumer-protocol heartbeat cannot use a classic member's id. */
    struct bk_cgroup_result r = hb_full(c, NULL, s.generation, NULL);
    assert_int_equal(r.error, BK_KERR_UNKNOWN_MEMBER_ID);
    /* A wrong generation. */
    struct waiter bad;
    classic_sync(&bad, c, s.generation + 3, NULL, 0);
    assert_int_equal(bad.error, BK_KERR_ILLEGAL_GENERATION);
    assert_int_equal(bk_group_leave(&reg, CG, bk_str_c(c), BK_STR_NULL), 0);
    assert_int_equal(bk_group_leave(&reg, CG, bk_str_c(c), BK_STR_NULL),
                     BK_KERR_UNKNOWN_MEMBER_ID);
    (void)settle("k1", ek, &ok);
    assert_int_equal(ok.n, NPARTS);
    /* A consumer group does not take members of another protocol type. */
    struct waiter other;
    memset(&other, 0, sizeof(other));
    struct bk_group_proto_in p = { bk_str_c("x"), { (const uint8_t *)"", 0 } };
    struct bk_group_join_req req = {
        .member_id = BK_STR_NULL,
        .instance_id = BK_STR_NULL,
        .client_id = bk_str_c("c"),
        .client_host = bk_str_c("h"),
        .protocol_type = bk_str_c("connect"),
        .session_timeout_ms = 10000,
        .rebalance_timeout_ms = 30000,
        .protocols = &p,
        .nprotocols = 1,
    };
    bk_group_join(&reg, CG, &req, &other);
    assert_int_equal(other.error, BK_KERR_INCONSISTENT_GROUP_PROTOCOL);
}

static struct bk_cgroup_result hb_regex(const char *member,
                                        int32_t epoch,
                                        const char *regex)
{
    struct bk_cgroup_heartbeat_req hb = {
        .member_id = bk_str_c(member),
        .member_epoch = epoch,
        .instance_id = BK_STR_NULL,
        .client_id = bk_str_c("c"),
        .client_host = bk_str_c("h"),
        .rebalance_timeout_ms = 30000,
        .topics = NULL,
        .regex = regex != NULL ? bk_str_c(regex) : BK_STR_NULL,
        .server_assignor = BK_STR_NULL,
        .owned = NULL,
        .nowned = -1,
    };
    struct bk_cgroup_result res;
    bk_cgroup_heartbeat(&reg, bk_str_c("rg"), &hb, lookup, NULL, &res);
    flush();
    return res;
}

/* SubscribedTopicRegex: a whole-name match (Java's \d works), internal
 * topics excluded, topics created later picked up at the next heartbeat,
 * bad patterns refused, the pattern persisted. */
static void test_regex_subscription(void **state)
{
    (void)state;
    struct bk_cgroup_result r = hb_regex("x", 0, NULL);
    assert_int_equal(r.error, BK_KERR_INVALID_REQUEST);
    r = hb_regex("x", 0, "u(");
    assert_int_equal(r.error, BK_KERR_INVALID_REGULAR_EXPRESSION);
    r = hb_regex("x", 0, "u\\d+");
    assert_int_equal(r.error, 0);
    assert_int_equal(r.assignment->n, 0); /* no u topics yet */
    int32_t e = r.member_epoch;
    u_topics = true; /* created meanwhile */
    r = hb_regex("x", e, NULL);
    assert_int_equal(r.error, 0);
    assert_int_equal(r.assignment->n, 4);
    e = r.member_epoch;
    /* "t" is not matched: a partial match does not count. */
    for (size_t i = 0; i < r.assignment->n; i++) {
        assert_memory_not_equal(&r.assignment->v[i].topic_id, &topic_t,
                                sizeof(topic_t));
    }
    /* ".*" matches t, u1, u22 but never the internal topic. */
    r = hb_regex("x", e, ".*");
    assert_int_equal(r.assignment->n, NPARTS + 4);
    r = hb_regex("x", r.member_epoch, NULL);
    assert_null(r.assignment); /* unchanged */
    /* OffsetDelete sees topics subscribed by pattern. */
    struct bk_group *rg = bk_group_find(&reg, bk_str_c("rg"));
    assert_true(bk_group_subscribed(rg, bk_str_c("u22")));
    assert_false(bk_group_subscribed(rg, bk_str_c("__consumer_offsets")));
    /* Leaving under an id the group does not know is an error. */
    r = hb_regex("nobody", -1, NULL);
    assert_int_equal(r.error, BK_KERR_UNKNOWN_MEMBER_ID);
    /* Persisted with the member. */
    reload();
    struct bk_group *g = bk_group_find(&reg, bk_str_c("rg"));
    assert_non_null(g);
    assert_string_equal(g->consumer->members[0]->regex, ".*");
}

/* group.consumer.migration.policy: "disabled" keeps a classic group with
 * members classic (a consumer member gets GROUP_ID_NOT_FOUND) and a
 * consumer group consumer when only classic members are left. */
static void test_migration_policy(void **state)
{
    (void)state;
    bool up = true, down = true;
    assert_true(bk_group_parse_migration_policy("Upgrade", &up, &down));
    assert_true(up && !down);
    assert_true(bk_group_parse_migration_policy("disabled", &up, &down));
    assert_true(!up && !down);
    assert_false(bk_group_parse_migration_policy("both", &up, &down));
    reg.cfg.cg_upgrade = false;
    reg.cfg.cg_downgrade = false;
    /* A classic group with a member. */
    struct waiter j;
    classic_join(&j, "", NULL, 0);
    char c[128];
    snprintf(c, sizeof(c), "%s", j.member_id);
    classic_join(&j, c, NULL, 0);
    assert_int_equal(j.error, 0);
    struct bk_cgroup_result r = hb_full("k1", NULL, 0, NULL);
    assert_int_equal(r.error, BK_KERR_GROUP_ID_NOT_FOUND);
    assert_null(bk_group_find(&reg, CG)->consumer);
    /* A consumer group a classic member joined stays one when the
     * consumer member leaves. */
    (void)hb_full("k2", NULL, 0, NULL);
    (void)bk_group_leave(&reg, CG, bk_str_c(c), BK_STR_NULL);
    bk_group_tick(&reg);
    r = hb_full("k3", NULL, 0, NULL);
    assert_int_equal(r.error, 0);
    struct bk_group *g = bk_group_find(&reg, CG);
    assert_non_null(g->consumer);
    struct waiter s = { 0 };
    classic_settle(c, &s);
    (void)hb_full("k3", NULL, -1, NULL);
    for (int i = 0; i < 3; i++) {
        classic_settle(c, &s);
    }
    g = bk_group_find(&reg, CG);
    assert_non_null(g->consumer); /* no downgrade */
    assert_int_equal(s.nparts, NPARTS);
    /* The consumer heartbeat interval and session come from the config. */
    reg.cfg.cg_heartbeat_interval_ms = 700;
    reg.cfg.cg_session_timeout_ms = 2000;
    r = hb_full("k4", NULL, 0, NULL);
    assert_int_equal(r.heartbeat_interval_ms, 700);
    clock_ms += 2001;
    bk_group_tick(&reg);
    flush();
    assert_null(cmember("k4"));
}

/* ---- review tests: allocation failures, static migration, replay ---- */

/* Every classic member of a consumer group can be served: it has the
 * protocols it offered (SyncGroup answers with the first one's name). */
static void check_members_servable(void)
{
    for (struct bk_group *g = reg.groups; g != NULL; g = g->next) {
        if (g->consumer == NULL) {
            continue;
        }
        for (size_t i = 0; i < g->consumer->nmembers; i++) {
            const struct bk_cmember *m = g->consumer->members[i];
            assert_non_null(m->id);
            assert_non_null(m->client_id);
            assert_non_null(m->client_host);
            if (m->classic) {
                assert_true(m->nprotocols > 0);
            }
        }
    }
}

/* A classic JoinGroup into a consumer group failing at any allocation
 * leaves no half-made member behind: every member left can sync. */
static void test_classic_join_oom(void **state)
{
    (void)state;
    struct bk_cgroup_set own = { 0 };
    own.v = calloc(NPARTS, sizeof(*own.v));
    struct bk_cgroup_result r = hb_full("k1", NULL, 0, NULL);
    assert_int_equal(r.error, 0);
    (void)settle("k1", r.member_epoch, &own);
    for (int k = 0; k < 40; k++) {
        char id[32];
        snprintf(id, sizeof(id), "classic-%d", k);
        struct classic_req c;
        const struct bk_group_join_req *req =
            classic_req(&c, id, NULL, NULL, 0, false);
        struct waiter w = { 0 };
        bk_heap_fault_config(k, 1);
        bk_group_join(&reg, CG, req, &w);
        bk_heap_fault_config(-1, 0);
        assert_true(w.done);
        flush();
        check_members_servable();
        /* The member (if it exists) can sync without crashing. */
        struct waiter s;
        classic_sync(&s, id, cmember(id) != NULL ? cmember(id)->epoch : 0, NULL,
                     0);
        assert_true(s.done);
        (void)bk_group_leave(&reg, CG, bk_str_c(id), BK_STR_NULL);
        flush();
    }
    free(own.v);
}

/* KIP-848 rolling upgrade of a static consumer: a consumer-protocol member
 * with the instance id of a classic static member replaces it at once
 * (Kafka checks the release only between two consumer-protocol members);
 * UNRELEASED_INSTANCE_ID would be fatal for the Java consumer. */
static void test_static_classic_to_consumer(void **state)
{
    (void)state;
    struct bk_cgroup_result r = hb_full("k1", NULL, 0, NULL);
    assert_int_equal(r.error, 0);
    /* A classic static member joins the consumer group. */
    struct classic_req c;
    struct waiter w = { 0 };
    bk_group_join(&reg, CG, classic_req(&c, "", "inst", NULL, 0, false), &w);
    flush();
    assert_true(w.done);
    assert_int_equal(w.error, 0);
    /* It restarts with group.protocol=consumer, same instance id and
     * subscription: it takes the classic member's place, and the group
     * epoch stays. */
    struct bk_group *g = bk_group_find(&reg, CG);
    int32_t epoch = g->consumer->group_epoch;
    size_t target = cmember(w.member_id)->target.n;
    r = hb_full("k2", "inst", 0, NULL);
    assert_int_equal(r.error, 0);
    assert_null(cmember(w.member_id));
    assert_non_null(cmember("k2"));
    assert_false(cmember("k2")->classic);
    assert_int_equal(g->consumer->group_epoch, epoch);
    assert_int_equal(cmember("k2")->target.n, target);
}

/* A ConsumerGroupHeartbeat refused after the online upgrade started must
 * not leave a consumer group of classic members only: Kafka rolls the
 * conversion back with the failed request. */
static void test_failed_upgrade_heartbeat(void **state)
{
    (void)state;
    struct waiter j;
    classic_join(&j, "", NULL, 0);
    char c[128];
    snprintf(c, sizeof(c), "%s", j.member_id);
    classic_join(&j, c, NULL, 0);
    assert_int_equal(j.error, 0);
    struct waiter s;
    classic_sync(&s, c, j.generation, NULL, 0);
    assert_int_equal(s.error, 0);
    reg.cfg.cg_max_size = 1; /* the upgrade is allowed, the join is not */
    struct bk_cgroup_result r = hb_full("k1", NULL, 0, NULL);
    assert_int_equal(r.error, BK_KERR_GROUP_MAX_SIZE_REACHED);
    bk_group_tick(&reg);
    flush();
    struct bk_group *g = bk_group_find(&reg, CG);
    assert_null(g->consumer);
    assert_int_equal(g->nmembers, 1);
    /* The classic member goes on heartbeating. */
    assert_int_equal(
        bk_group_heartbeat(&reg, CG, bk_str_c(c), BK_STR_NULL, g->generation),
        0);
    reload();
    g = bk_group_find(&reg, CG);
    assert_null(g->consumer);
}

/* ---- replay: live state against a reload of what was written ---- */

struct dump {
    char buf[16384];
    size_t len;
};

static void dump_add(struct dump *d, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void dump_add(struct dump *d, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(d->buf + d->len, sizeof(d->buf) - d->len, fmt, ap);
    va_end(ap);
    assert_true(n >= 0 && (size_t)n < sizeof(d->buf) - d->len);
    d->len += (size_t)n;
}

static int cmp_tp(const void *a, const void *b)
{
    const struct bk_cgroup_tp *x = a, *y = b;
    int c = memcmp(&x->topic_id, &y->topic_id, sizeof(x->topic_id));
    return c != 0
               ? c
               : (x->partition > y->partition) - (x->partition < y->partition);
}

static void dump_set(struct dump *d,
                     const char *name,
                     const struct bk_cgroup_set *s)
{
    struct bk_cgroup_tp v[64];
    assert_true(s->n <= 64);
    if (s->n > 0) {
        memcpy(v, s->v, s->n * sizeof(*v));
    }
    /* Only the s->n entries copied in are read. */
    /* cppcheck-suppress uninitvar */
    qsort(v, s->n, sizeof(*v), cmp_tp);
    dump_add(d, " %s=[", name);
    for (size_t i = 0; i < s->n; i++) {
        dump_add(d, "%d.%d/%d,", v[i].topic_id.b[0], v[i].topic_id.b[1],
                 v[i].partition);
    }
    dump_add(d, "]");
}

static int cmp_cm(const void *a, const void *b)
{
    return strcmp((*(struct bk_cmember *const *)a)->id,
                  (*(struct bk_cmember *const *)b)->id);
}

/* What a coordinator restart must give back. Classic groups are compared
 * only when no rebalance is under way (their record is written when one
 * completes). */
static void dump_registry(struct bk_group_registry *r, struct dump *d)
{
    d->len = 0;
    d->buf[0] = '\0';
    for (struct bk_group *g = r->groups; g != NULL; g = g->next) {
        if (g->consumer == NULL && g->nmembers == 0 && g->noffsets == 0) {
            continue; /* the same as no group at all */
        }
        dump_add(d, "group %s", g->id);
        if (g->consumer == NULL) {
            dump_add(d, " classic");
            if (g->state != BK_GROUP_STABLE && g->state != BK_GROUP_EMPTY) {
                dump_add(d, " (rebalancing)\n");
                continue;
            }
            dump_add(d, " %s gen=%d proto=%s leader=%s\n",
                     bk_group_state_name(g->state), g->generation,
                     g->protocol ? g->protocol : "-",
                     g->leader ? g->leader : "-");
            for (size_t i = 0; i < g->nmembers; i++) {
                dump_add(d, "  %s alen=%zu\n", g->members[i]->id,
                         g->members[i]->assignment_len);
            }
            continue;
        }
        const struct bk_cgroup *cg = g->consumer;
        dump_add(d, " consumer %s epoch=%d assignor=%s\n",
                 bk_group_state_name(g->state), cg->group_epoch,
                 cg->assignor ? cg->assignor : "-");
        struct bk_cmember *ms[64];
        assert_true(cg->nmembers <= 64);
        if (cg->nmembers > 0) {
            memcpy(ms, cg->members, cg->nmembers * sizeof(*ms));
        }
        /* Only the nmembers entries copied in are read. */
        /* cppcheck-suppress uninitvar */
        qsort(ms, cg->nmembers, sizeof(*ms), cmp_cm);
        for (size_t i = 0; i < cg->nmembers; i++) {
            const struct bk_cmember *m = ms[i];
            dump_add(d, "  %s inst=%s classic=%d epoch=%d prev=%d rto=%d",
                     m->id, m->instance_id ? m->instance_id : "-", m->classic,
                     m->epoch, m->prev_epoch, m->rebalance_timeout_ms);
            if (m->classic) {
                dump_add(d, " sto=%d protos=%zu", m->session_timeout_ms,
                         m->nprotocols);
            }
            dump_add(d, " topics=%zu regex=%s", m->ntopics,
                     m->regex ? m->regex : "-");
            dump_set(d, "assigned", &m->assigned);
            dump_set(d, "revoking", &m->revoking);
            dump_set(d, "target", &m->target);
            dump_add(d, "\n");
        }
    }
}

/* No partition is owned by two members at once (assigned or still being
 * revoked): KIP-848's incremental reconciliation guarantees it. */
static void check_exclusive(void)
{
    struct bk_group *g = bk_group_find(&reg, CG);
    if (g == NULL || g->consumer == NULL) {
        return;
    }
    const struct bk_cgroup *cg = g->consumer;
    for (size_t i = 0; i < cg->nmembers; i++) {
        const struct bk_cmember *m = cg->members[i];
        for (size_t k = i + 1; k < cg->nmembers; k++) {
            const struct bk_cmember *o = cg->members[k];
            for (size_t x = 0; x < m->assigned.n + m->revoking.n; x++) {
                const struct bk_cgroup_tp *tp =
                    x < m->assigned.n ? &m->assigned.v[x]
                                      : &m->revoking.v[x - m->assigned.n];
                for (size_t y = 0; y < o->assigned.n + o->revoking.n; y++) {
                    const struct bk_cgroup_tp *tq =
                        y < o->assigned.n ? &o->assigned.v[y]
                                          : &o->revoking.v[y - o->assigned.n];
                    if (cmp_tp(tp, tq) == 0) {
                        fail_msg("%s and %s both own %d", m->id, o->id,
                                 tp->partition);
                    }
                }
            }
        }
    }
}

/* Loads the whole log into a fresh registry and compares it with reg. */
static void check_replay(unsigned seed, int step)
{
    static struct dump live, loaded;
    dump_registry(&reg, &live);
    struct bk_group_registry r2;
    struct bk_group_config cfg;
    bk_group_config_default(&cfg);
    struct bk_group_hooks hooks = {
        .join_done = waiter_join,
        .sync_done = sync_done,
        .topic_lookup = lookup,
        .topic_name = topic_name,
        .topic_each = topic_each,
    };
    bk_group_registry_init(&r2, &cfg, &manual, &hooks);
    replay_into(&r2);
    dump_registry(&r2, &loaded);
    bk_group_registry_close(&r2);
    if (strcmp(live.buf, loaded.buf) != 0) {
        fprintf(stderr, "live:\n%sloaded:\n%s", live.buf, loaded.buf);
        fail_msg("seed %u step %d: reload differs", seed, step);
    }
}

/* Waiters of the random steps: each used once, some answered later. */
static struct waiter rwait[4096];
static size_t nrwait;

static struct waiter *rw(void)
{
    if (nrwait == sizeof(rwait) / sizeof(rwait[0])) {
        nrwait = 0; /* old ones answered long ago */
    }
    struct waiter *w = &rwait[nrwait++];
    memset(w, 0, sizeof(*w));
    return w;
}

static void random_classic_join(unsigned *s, const char *id, const char *inst)
{
    struct bk_cmember *m = bk_group_find(&reg, CG) != NULL &&
                                   bk_group_find(&reg, CG)->consumer != NULL
                               ? cmember(id)
                               : NULL;
    int32_t owned[NPARTS];
    int32_t n = 0;
    if (m != NULL && rand_r(s) % 2) {
        for (size_t i = 0; i < m->assigned.n + m->revoking.n && n < NPARTS;
             i++) {
            const struct bk_cgroup_tp *tp =
                i < m->assigned.n ? &m->assigned.v[i]
                                  : &m->revoking.v[i - m->assigned.n];
            if (i >= m->assigned.n && rand_r(s) % 2) {
                continue; /* acknowledge this revocation */
            }
            owned[n++] = tp->partition;
        }
    }
    struct classic_req c;
    bk_group_join(&reg, CG, classic_req(&c, id, inst, owned, n, false), rw());
}

static void random_step(unsigned *s)
{
    static const char *ids[] = { "k0", "k1", "k2", "k3", "c0", "c1", "c2" };
    int which = (int)(rand_r(s) % 7);
    const char *id = ids[which];
    const char *inst = which == 1 ? "s1" : which == 5 ? "s5" : NULL;
    struct bk_group *g = bk_group_find(&reg, CG);
    struct bk_cmember *m =
        g != NULL && g->consumer != NULL ? cmember(id) : NULL;
    int op = (int)(rand_r(s) % 10);
    if (which >= 4) {
        /* A classic member: join, sync, heartbeat, leave. */
        int32_t gen = m != NULL ? m->epoch : g != NULL ? g->generation : 0;
        switch (op % 5) {
            case 0:
            case 1:
                random_classic_join(s, id, inst);
                break;
            case 2: {
                struct bk_group_sync_req req = {
                    .member_id = bk_str_c(id),
                    .instance_id = inst ? bk_str_c(inst) : BK_STR_NULL,
                    .generation = gen,
                    .protocol_type = bk_str_c("consumer"),
                    .protocol_name = bk_str_c("range"),
                };
                bk_group_sync(&reg, CG, &req, rw());
                break;
            }
            case 3:
                (void)bk_group_heartbeat(&reg, CG, bk_str_c(id),
                                         inst ? bk_str_c(inst) : BK_STR_NULL,
                                         gen);
                break;
            default:
                (void)bk_group_leave(&reg, CG, bk_str_c(id),
                                     inst ? bk_str_c(inst) : BK_STR_NULL);
        }
        return;
    }
    static const struct bk_str topics[2] = { { "t", 1 }, { "u1", 2 } };
    struct bk_cgroup_tp owned[NPARTS + 4];
    int32_t nowned = -1;
    int32_t epoch = m != NULL ? m->epoch : 0;
    if (m != NULL && op < 6) {
        nowned = 0;
        for (size_t i = 0; i < m->assigned.n; i++) {
            owned[nowned++] = m->assigned.v[i];
        }
        for (size_t i = 0; i < m->revoking.n; i++) {
            if (rand_r(s) % 2) {
                owned[nowned++] = m->revoking.v[i];
            }
        }
    }
    if (op == 6) {
        epoch = 0; /* a rejoin */
    } else if (op == 7) {
        epoch = inst != NULL && rand_r(s) % 2 ? -2 : -1;
    } else if (op == 8 && m != NULL) {
        epoch = m->epoch + 1; /* fenced */
    }
    bool sub = epoch == 0 || op == 9;
    struct bk_cgroup_heartbeat_req hb = {
        .member_id = bk_str_c(id),
        .member_epoch = epoch,
        .instance_id = inst != NULL ? bk_str_c(inst) : BK_STR_NULL,
        .client_id = bk_str_c("c"),
        .client_host = bk_str_c("/127.0.0.1"),
        .rebalance_timeout_ms = 30000,
        .topics = sub ? topics : NULL,
        .ntopics = sub ? 1 + (int32_t)(rand_r(s) % 2) : 0,
        .regex = which == 3 && sub ? bk_str_c("u.*") : BK_STR_NULL,
        .server_assignor = op == 9
                               ? bk_str_c(rand_r(s) % 2 ? "range" : "uniform")
                               : BK_STR_NULL,
        .owned = nowned >= 0 ? owned : NULL,
        .nowned = nowned,
    };
    struct bk_cgroup_result res;
    bk_cgroup_heartbeat(&reg, CG, &hb, lookup, NULL, &res);
}

/* Random sequences of consumer and classic heartbeats, joins, syncs,
 * leaves, session expiries, topic changes, restarts and (every other run)
 * allocation failures: after each step, what was written must load back
 * into the same groups, members, epochs and assignments, and no partition
 * may have two owners. BK_SEED=n runs that seed only; BK_OOM adds the
 * allocation failures to every run. */
static void test_random_replay(void **state)
{
    (void)state;
    const char *env = getenv("BK_SEED");
    unsigned seed0 = env != NULL ? (unsigned)strtoul(env, NULL, 10) : 1;
    int runs = env != NULL ? 1 : 24;
    for (int run = 0; run < runs; run++) {
        unsigned seed = seed0 + (unsigned)run, s = seed;
        teardown(NULL);
        setup(NULL);
        nrwait = 0;
        for (int step = 0; step < 300; step++) {
            int x = (int)(rand_r(&s) % 20);
            if (x == 0) {
                clock_ms += 1000 + rand_r(&s) % 40000;
                bk_group_tick(&reg);
            } else if (x == 1) {
                u_topics = !u_topics;
            } else if (x == 2 && nwal < 3000) {
                flush();
                reload();
                nrwait = 0;
            } else if (x == 3 && (run % 2 == 1 || getenv("BK_OOM") != NULL)) {
                bk_heap_fault_config((int)(rand_r(&s) % 40), 1);
                random_step(&s);
                bk_heap_fault_config(-1, 0);
            } else {
                random_step(&s);
            }
            flush();
            check_members_servable();
            check_exclusive();
            if (nwal > 3500) {
                break;
            }
            check_replay(seed, step);
        }
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_persist_round_trip, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_record_layouts, setup, teardown),
        cmocka_unit_test_setup_teardown(test_static_member, setup, teardown),
        cmocka_unit_test_setup_teardown(test_static_rejoin_keeps_epoch, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_assignment_sent_when_changed,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_revocation_timeout, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_upgrade_and_downgrade, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_classic_join_and_leave, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_regex_subscription, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_migration_policy, setup, teardown),
        cmocka_unit_test_setup_teardown(test_classic_join_oom, setup, teardown),
        cmocka_unit_test_setup_teardown(test_static_classic_to_consumer, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_failed_upgrade_heartbeat, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_random_replay, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
