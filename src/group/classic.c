/* Classic members in KIP-848 consumer groups, and the conversions between
 * the two kinds of group (KIP-848 "online migration", Kafka's
 * group.consumer.migration.policy=bidirectional, its default since 4.0).
 *
 * A classic consumer (JoinGroup/SyncGroup/Heartbeat) that joins a consumer
 * group becomes a member like the others: its subscription comes from the
 * ConsumerProtocolSubscription it sends in JoinGroup, the server-side
 * assignor computes its target, and it learns its partitions from
 * SyncGroup. It cannot be told incrementally what to revoke, so its
 * Heartbeat answers REBALANCE_IN_PROGRESS whenever it is behind (the group
 * epoch moved, it must revoke, or partitions it waits for were released):
 * it rejoins, and the partitions it still owns in that JoinGroup
 * acknowledge the revocations (Kafka's classicGroupJoinToConsumerGroup,
 * classicGroupSyncToConsumerGroup, classicGroupHeartbeatToConsumerGroup).
 */
#include <stdio.h>
#include <string.h>

#include "common/err.h"
#include "common/heap.h"
#include "group/group_int.h"
#include "protocol/gen/consumer_protocol_assignment.h"
#include "protocol/gen/consumer_protocol_subscription.h"
#include "protocol/kerr.h"

/* ---- the embedded consumer protocol ---- */

static int32_t lookup_topic(struct bk_group_registry *r,
                            const char *name,
                            struct bk_uuid *id)
{
    if (r->hooks.topic_lookup == NULL) {
        return -1;
    }
    return r->hooks.topic_lookup(r->hooks.data, name, id);
}

/* The id of a topic named by a wire string; false when it does not exist
 * (or the name could not be a topic's). */
static bool topic_id_of(struct bk_group_registry *r,
                        struct bk_str topic,
                        struct bk_uuid *id)
{
    char name[256];
    if (topic.len <= 0 || topic.len >= (int32_t)sizeof(name)) {
        return false;
    }
    memcpy(name, topic.ptr, (size_t)topic.len);
    name[topic.len] = '\0';
    return lookup_topic(r, name, id) >= 0;
}

static int32_t hook_lookup(void *ctx, const char *name, struct bk_uuid *id)
{
    return lookup_topic(ctx, name, id);
}

/* Decodes a ConsumerProtocolSubscription (int16 version + body) into its
 * topics and owned partitions (topic ids from the metadata; partitions of
 * unknown topics are dropped). Views point into a. */
struct sub_view {
    struct bk_str *topics;
    int32_t ntopics;
    struct bk_cgroup_tp *owned;
    int32_t nowned;
};

static int decode_subscription(struct bk_group_registry *r,
                               const uint8_t *p,
                               size_t len,
                               struct bk_arena *a,
                               struct sub_view *out)
{
    memset(out, 0, sizeof(*out));
    struct bk_rd rd;
    bk_rd_init(&rd, p, len);
    int16_t v = bk_rd_i16(&rd);
    if (rd.err != 0 || v < 0) {
        return BK_EPROTO;
    }
    /* Newer versions only add fields at the end (KIP-429 / KIP-881). */
    if (v > BK_MSG_CONSUMER_PROTOCOL_SUBSCRIPTION_MAX_VERSION) {
        v = BK_MSG_CONSUMER_PROTOCOL_SUBSCRIPTION_MAX_VERSION;
    }
    struct bk_msg_consumer_protocol_subscription sub;
    bk_msg_consumer_protocol_subscription_init(&sub);
    if (bk_msg_consumer_protocol_subscription_decode(&sub, &rd, v, a) != 0 ||
        sub.topics_count < 0) {
        return BK_EPROTO;
    }
    out->topics = sub.topics;
    out->ntopics = sub.topics_count;
    size_t n = 0;
    for (int32_t i = 0; i < sub.owned_partitions_count; i++) {
        n += sub.owned_partitions[i].partitions_count > 0
                 ? (size_t)sub.owned_partitions[i].partitions_count
                 : 0;
    }
    out->owned = bk_arena_alloc(a, (n + 1) * sizeof(*out->owned));
    if (out->owned == NULL) {
        return BK_ENOMEM;
    }
    for (int32_t i = 0; i < sub.owned_partitions_count; i++) {
        const struct bk_msg_consumer_protocol_subscription_topic_partition *t =
            &sub.owned_partitions[i];
        struct bk_uuid id;
        if (!topic_id_of(r, t->topic, &id)) {
            continue;
        }
        for (int32_t k = 0; k < t->partitions_count; k++) {
            out->owned[out->nowned++] =
                (struct bk_cgroup_tp){ id, t->partitions[k] };
        }
    }
    return 0;
}

/* Decodes a ConsumerProtocolAssignment into the set s (topic ids). */
static void decode_assignment(struct bk_group_registry *r,
                              const uint8_t *p,
                              size_t len,
                              struct bk_cgroup_set *s)
{
    struct bk_arena a;
    bk_arena_init(&a, 4096, 0);
    struct bk_rd rd;
    bk_rd_init(&rd, p, len);
    int16_t v = bk_rd_i16(&rd);
    struct bk_msg_consumer_protocol_assignment asg;
    bk_msg_consumer_protocol_assignment_init(&asg);
    if (len >= 2 && rd.err == 0 && v >= 0 &&
        bk_msg_consumer_protocol_assignment_decode(
            &asg, &rd,
            v > BK_MSG_CONSUMER_PROTOCOL_ASSIGNMENT_MAX_VERSION
                ? BK_MSG_CONSUMER_PROTOCOL_ASSIGNMENT_MAX_VERSION
                : v,
            &a) == 0) {
        for (int32_t i = 0; i < asg.assigned_partitions_count; i++) {
            const struct bk_msg_consumer_protocol_assignment_topic_partition
                *t = &asg.assigned_partitions[i];
            struct bk_uuid id;
            if (!topic_id_of(r, t->topic, &id)) {
                continue;
            }
            for (int32_t k = 0; k < t->partitions_count; k++) {
                struct bk_cgroup_tp tp = { id, t->partitions[k] };
                (void)bk_ci_set_add(s, &tp);
            }
        }
    }
    bk_arena_destroy(&a);
}

/* Serializes s as a ConsumerProtocolAssignment of the given version into
 * heap memory (*out owned by the caller). Partitions of topics that no
 * longer exist are left out. Returns 0 or BK_ENOMEM. */
static int encode_assignment(struct bk_group_registry *r,
                             const struct bk_cgroup_set *s,
                             int16_t version,
                             uint8_t **out,
                             size_t *out_len)
{
    struct bk_arena a;
    bk_arena_init(&a, 4096, 0);
    struct bk_msg_consumer_protocol_assignment asg;
    bk_msg_consumer_protocol_assignment_init(&asg);
    asg.assigned_partitions =
        bk_arena_alloc(&a, (s->n + 1) * sizeof(*asg.assigned_partitions));
    int32_t *parts = bk_arena_alloc(&a, (s->n + 1) * sizeof(*parts));
    bool *done = bk_arena_alloc(&a, s->n + 1);
    int rv = BK_ENOMEM;
    if (asg.assigned_partitions == NULL || parts == NULL || done == NULL) {
        goto out;
    }
    memset(done, 0, s->n + 1);
    asg.assigned_partitions_count = 0;
    size_t k = 0;
    for (size_t i = 0; i < s->n; i++) {
        if (done[i]) {
            continue;
        }
        char name[256];
        if (r->hooks.topic_name == NULL ||
            !r->hooks.topic_name(r->hooks.data, &s->v[i].topic_id, name,
                                 sizeof(name))) {
            continue;
        }
        char *nm = bk_arena_alloc(&a, strlen(name) + 1);
        if (nm == NULL) {
            goto out;
        }
        strcpy(nm, name);
        struct bk_msg_consumer_protocol_assignment_topic_partition *t =
            &asg.assigned_partitions[asg.assigned_partitions_count++];
        memset(t, 0, sizeof(*t));
        t->topic = bk_str_c(nm);
        t->partitions = &parts[k];
        for (size_t j = i; j < s->n; j++) {
            if (!done[j] && memcmp(&s->v[j].topic_id, &s->v[i].topic_id,
                                   sizeof(s->v[i].topic_id)) == 0) {
                done[j] = true;
                parts[k++] = s->v[j].partition;
                t->partitions_count++;
            }
        }
    }
    size_t n = 2 + bk_msg_consumer_protocol_assignment_size(&asg, version);
    uint8_t *buf = bk_malloc(n);
    if (buf == NULL) {
        goto out;
    }
    struct bk_wr w;
    bk_wr_init(&w, buf, n);
    bk_wr_i16(&w, version);
    if (bk_msg_consumer_protocol_assignment_encode(&asg, &w, version) != 0 ||
        w.err != 0) {
        bk_free(buf);
        rv = BK_EPROTO;
        goto out;
    }
    *out = buf;
    *out_len = w.len;
    rv = 0;
out:
    bk_arena_destroy(&a);
    return rv;
}

/* The assignment version to answer a member with: the version of the
 * subscription it sent (Kafka's prepareAssignment), at most what we
 * encode. */
static int16_t assignment_version(const struct bk_cmember *m)
{
    int16_t v = 0;
    if (m->nprotocols > 0 && m->protocols[0].metadata_len >= 2) {
        v = (int16_t)((m->protocols[0].metadata[0] << 8) |
                      m->protocols[0].metadata[1]);
    }
    if (v < 0) {
        v = 0;
    }
    return v > BK_MSG_CONSUMER_PROTOCOL_ASSIGNMENT_MAX_VERSION
               ? BK_MSG_CONSUMER_PROTOCOL_ASSIGNMENT_MAX_VERSION
               : v;
}

/* ---- classic requests to a consumer group ---- */

static bool str_is(struct bk_str s, const char *c)
{
    return c != NULL && bk_str_eq_c(s, c);
}

/* Kafka's validateConsumerGroupMember: by instance id when given (which
 * must map to member_id), else by member id. */
static int16_t find_classic(struct bk_cgroup *cg,
                            struct bk_str member_id,
                            struct bk_str instance_id,
                            struct bk_cmember **out)
{
    struct bk_cmember *m;
    if (instance_id.len >= 0) {
        m = bk_ci_find_static(cg, instance_id);
        if (m == NULL) {
            return BK_KERR_UNKNOWN_MEMBER_ID;
        }
        if (!str_is(member_id, m->id)) {
            return BK_KERR_FENCED_INSTANCE_ID;
        }
    } else {
        m = bk_ci_find(cg, member_id);
        if (m == NULL) {
            return BK_KERR_UNKNOWN_MEMBER_ID;
        }
    }
    if (!m->classic) {
        /* throwIfMemberDoesNotUseClassicProtocol */
        return BK_KERR_UNKNOWN_MEMBER_ID;
    }
    *out = m;
    return BK_KERR_NONE;
}

static bool supports_range_or_any(const struct bk_group_join_req *req)
{
    return req->nprotocols > 0 && str_is(req->protocol_type, "consumer");
}

/* Who is joining: a new member (member_id set from fresh, 320 bytes, *m
 * NULL) or a classic member of the group (*m), and the static member
 * with the same instance id (*stat). False when the join was refused
 * (answered). */
static bool classic_join_admit(struct bk_group_registry *r,
                               struct bk_cgroup *cg,
                               const struct bk_group_join_req *req,
                               void *waiter,
                               char *fresh,
                               struct bk_str *member_id,
                               struct bk_cmember **m,
                               struct bk_cmember **stat)
{
    *m = NULL;
    *member_id = req->member_id;
    bool unknown = member_id->len <= 0;
    if (unknown) {
        struct bk_group_member *tmp = bk_gi_member_new(r, req);
        if (tmp == NULL) {
            bk_gi_join_error(r, waiter, BK_KERR_UNKNOWN_SERVER_ERROR, NULL);
            return false;
        }
        snprintf(fresh, 320, "%s", tmp->id);
        bk_gi_member_free(tmp);
        *member_id = bk_str_c(fresh);
        if (req->require_known_member && req->instance_id.len < 0) {
            /* KIP-394, as for classic groups: come back with this id. */
            bk_gi_join_error(r, waiter, BK_KERR_MEMBER_ID_REQUIRED, fresh);
            return false;
        }
    } else {
        *m = bk_ci_find(cg, *member_id);
        if (*m != NULL && !(*m)->classic) {
            bk_gi_join_error(r, waiter, BK_KERR_UNKNOWN_MEMBER_ID, NULL);
            return false;
        }
    }
    *stat = bk_ci_find_static(cg, req->instance_id);
    /* A classic member replaces a static member of either protocol (Kafka
     * checks the release only between two consumer-protocol members). */
    if (*stat != NULL && *stat != *m && !unknown) {
        bk_gi_join_error(r, waiter, BK_KERR_FENCED_INSTANCE_ID, NULL);
        return false;
    }
    if (*m == NULL && (int64_t)cg->nmembers >= r->cfg.cg_max_size) {
        bk_gi_join_error(r, waiter, BK_KERR_GROUP_MAX_SIZE_REACHED, NULL);
        return false;
    }
    return true;
}

/* Adds the new classic member, taking over the assignment of the static
 * member it replaces (stat, removed). NULL when out of memory. */
static struct bk_cmember *classic_join_add(struct bk_group_registry *r,
                                           struct bk_group *g,
                                           const struct bk_group_join_req *req,
                                           struct bk_str member_id,
                                           struct bk_cmember *stat)
{
    struct bk_cgroup *cg = g->consumer;
    struct bk_cmember *m = bk_ci_member_add(g, cg, member_id);
    if (m == NULL) {
        return NULL;
    }
    m->classic = true;
    if (stat != NULL) {
        /* A static member replaced: the new id takes its assignment. */
        m->assigned = stat->assigned;
        m->revoking = stat->revoking;
        memset(&stat->assigned, 0, sizeof(stat->assigned));
        memset(&stat->revoking, 0, sizeof(stat->revoking));
        bk_ci_member_remove(r, g, stat);
    }
    if (req->instance_id.len >= 0) {
        m->instance_id = bk_gi_dup(req->instance_id);
        m->instance_id_len = (size_t)req->instance_id.len;
        if (m->instance_id == NULL) {
            bk_ci_member_remove(r, g, m);
            return NULL;
        }
    }
    return m;
}

/* Takes the join's client, protocols, timeouts and subscription into m.
 * Non-zero when out of memory. */
static int classic_join_update(struct bk_cgroup *cg,
                               struct bk_cmember *m,
                               const struct bk_group_join_req *req,
                               const struct sub_view *sub)
{
    char *cid = bk_gi_dup(req->client_id);
    char *chost = bk_gi_dup(req->client_host);
    struct bk_group_protocol *protos = NULL;
    size_t nprotos = 0;
    if (cid == NULL || chost == NULL ||
        bk_gi_protocols_copy(&protos, &nprotos, req->protocols,
                             req->nprotocols) != 0) {
        bk_free(cid);
        bk_free(chost);
        return -1;
    }
    bk_free(m->client_id);
    bk_free(m->client_host);
    bk_gi_protocols_free(m->protocols, m->nprotocols);
    m->client_id = cid;
    m->client_host = chost;
    m->protocols = protos;
    m->nprotocols = nprotos;
    m->session_timeout_ms = req->session_timeout_ms;
    if (req->rebalance_timeout_ms > 0) {
        m->rebalance_timeout_ms = req->rebalance_timeout_ms;
    }
    if (!bk_ci_same_topics(m, sub->topics, sub->ntopics)) {
        if (bk_ci_set_topics(m, sub->topics, sub->ntopics) != 0) {
            return -1;
        }
        cg->bump = true; /* a new member or a new subscription */
    }
    return 0;
}

void bk_cgroup_classic_join(struct bk_group_registry *r,
                            struct bk_group *g,
                            const struct bk_group_join_req *req,
                            void *waiter)
{
    struct bk_cgroup *cg = g->consumer;
    /* throwIfClassicProtocolIsNotSupported: only the embedded consumer
     * protocol can be mapped onto a consumer group. */
    if (!supports_range_or_any(req)) {
        bk_gi_join_error(r, waiter, BK_KERR_INCONSISTENT_GROUP_PROTOCOL, NULL);
        return;
    }
    char fresh[320];
    struct bk_str member_id;
    struct bk_cmember *m, *stat;
    if (!classic_join_admit(r, cg, req, waiter, fresh, &member_id, &m, &stat)) {
        return;
    }
    struct bk_arena a;
    bk_arena_init(&a, 4096, 0);
    struct sub_view sub;
    if (decode_subscription(r, req->protocols[0].metadata.ptr,
                            req->protocols[0].metadata.len > 0
                                ? (size_t)req->protocols[0].metadata.len
                                : 0,
                            &a, &sub) != 0) {
        bk_arena_destroy(&a);
        bk_gi_join_error(r, waiter, BK_KERR_INCONSISTENT_GROUP_PROTOCOL, NULL);
        return;
    }
    bool added = m == NULL;
    if (m == NULL) {
        m = classic_join_add(r, g, req, member_id, stat);
    }
    if (m == NULL || classic_join_update(cg, m, req, &sub) != 0) {
        if (added && m != NULL) {
            /* Out of memory: a member without its protocols could not be
             * served (SyncGroup names the first); it never joined. */
            bk_ci_member_remove(r, g, m);
        }
        bk_arena_destroy(&a);
        bk_gi_join_error(r, waiter, BK_KERR_UNKNOWN_SERVER_ERROR, NULL);
        return;
    }
    m->dirty = true;
    m->expires_ms = bk_clock_mono_ms(r->clock) + m->session_timeout_ms;
    bk_ci_compute_targets(r, cg, hook_lookup, r);
    (void)bk_ci_reconcile(r, cg, m, sub.owned, sub.nowned);
    bk_ci_update_state(r, g);
    /* The member is a follower (the leader is nobody) and gets its
     * partitions from SyncGroup; generation = member epoch. */
    struct bk_group_join_result res = {
        .error = BK_KERR_NONE,
        .generation = m->epoch,
        .protocol_type = "consumer",
        .protocol_name = m->protocols[0].name,
        .leader = "",
        .member_id = m->id,
    };
    bk_arena_destroy(&a);
    r->hooks.join_done(r->hooks.data, waiter, &res);
}

/* Whether a classic member must rejoin: behind the group epoch, owing a
 * revocation, or missing partitions that are free by now. */
static bool must_rejoin(const struct bk_cgroup *cg, const struct bk_cmember *m)
{
    if (m->epoch < cg->group_epoch || m->revoking.n > 0) {
        return true;
    }
    for (size_t i = 0; i < m->target.n; i++) {
        const struct bk_cgroup_tp *tp = &m->target.v[i];
        if (bk_ci_set_has(&m->assigned, tp)) {
            continue;
        }
        bool taken = false;
        for (size_t k = 0; k < cg->nmembers && !taken; k++) {
            const struct bk_cmember *o = cg->members[k];
            taken = o != m && (bk_ci_set_has(&o->assigned, tp) ||
                               bk_ci_set_has(&o->revoking, tp));
        }
        if (!taken) {
            return true;
        }
    }
    return false;
}

void bk_cgroup_classic_sync(struct bk_group_registry *r,
                            struct bk_group *g,
                            const struct bk_group_sync_req *req,
                            void *waiter)
{
    struct bk_cgroup *cg = g->consumer;
    struct bk_cmember *m = NULL;
    int16_t err = find_classic(cg, req->member_id, req->instance_id, &m);
    if (err == BK_KERR_NONE && req->generation != m->epoch) {
        err = BK_KERR_ILLEGAL_GENERATION;
    }
    if (err == BK_KERR_NONE &&
        ((req->protocol_type.len >= 0 &&
          !str_is(req->protocol_type, "consumer")) ||
         (req->protocol_name.len >= 0 &&
          !str_is(req->protocol_name, m->protocols[0].name)))) {
        err = BK_KERR_INCONSISTENT_GROUP_PROTOCOL;
    }
    if (err == BK_KERR_NONE && cg->group_epoch > m->epoch &&
        m->revoking.n == 0) {
        err = BK_KERR_REBALANCE_IN_PROGRESS; /* throwIfRebalanceInProgress */
    }
    if (err != BK_KERR_NONE) {
        bk_gi_sync_error(r, waiter, err);
        return;
    }
    m->expires_ms = bk_clock_mono_ms(r->clock) + m->session_timeout_ms;
    uint8_t *buf = NULL;
    size_t len = 0;
    if (encode_assignment(r, &m->assigned, assignment_version(m), &buf, &len) !=
        0) {
        bk_gi_sync_error(r, waiter, BK_KERR_UNKNOWN_SERVER_ERROR);
        return;
    }
    r->hooks.sync_done(r->hooks.data, waiter, BK_KERR_NONE, "consumer",
                       m->protocols[0].name, buf, len);
    bk_free(buf);
}

int16_t bk_cgroup_classic_heartbeat(struct bk_group_registry *r,
                                    struct bk_group *g,
                                    struct bk_str member_id,
                                    struct bk_str instance_id,
                                    int32_t generation)
{
    struct bk_cgroup *cg = g->consumer;
    struct bk_cmember *m = NULL;
    int16_t err = find_classic(cg, member_id, instance_id, &m);
    if (err != BK_KERR_NONE) {
        return err;
    }
    if (generation != m->epoch) {
        return BK_KERR_ILLEGAL_GENERATION;
    }
    m->expires_ms = bk_clock_mono_ms(r->clock) + m->session_timeout_ms;
    /* Other members may have joined or left since: refresh the targets. */
    bk_ci_compute_targets(r, cg, hook_lookup, r);
    if (must_rejoin(cg, m)) {
        return BK_KERR_REBALANCE_IN_PROGRESS;
    }
    bk_ci_try_downgrade(r, g); /* may turn g classic: m is gone then */
    return BK_KERR_NONE;
}

int16_t bk_cgroup_classic_leave(struct bk_group_registry *r,
                                struct bk_group *g,
                                struct bk_str member_id,
                                struct bk_str instance_id)
{
    struct bk_cgroup *cg = g->consumer;
    struct bk_cmember *m = NULL;
    if (instance_id.len >= 0) {
        /* The member id may be unknown: an administrative removal. */
        m = bk_ci_find_static(cg, instance_id);
        if (m == NULL) {
            return BK_KERR_UNKNOWN_MEMBER_ID;
        }
        if (member_id.len > 0 && !str_is(member_id, m->id)) {
            return BK_KERR_FENCED_INSTANCE_ID;
        }
        if (!m->classic) {
            return BK_KERR_UNKNOWN_MEMBER_ID;
        }
    } else {
        int16_t err = find_classic(cg, member_id, instance_id, &m);
        if (err != BK_KERR_NONE) {
            return err;
        }
    }
    bk_ci_member_remove(r, g, m);
    bk_ci_compute_targets(r, cg, hook_lookup, r);
    return BK_KERR_NONE;
}

/* ---- conversions ---- */

int16_t bk_ci_upgrade(struct bk_group_registry *r,
                      struct bk_group *g,
                      bk_cgroup_topic_fn lookup,
                      void *ctx)
{
    (void)lookup;
    (void)ctx;
    /* validateOnlineUpgrade: allowed by group.consumer.migration.policy,
     * the embedded consumer protocol, and no more members than a consumer
     * group may have. */
    if (!r->cfg.cg_upgrade || g->protocol_type == NULL ||
        strcmp(g->protocol_type, "consumer") != 0 ||
        (int64_t)g->nmembers > r->cfg.cg_max_size) {
        return BK_KERR_GROUP_ID_NOT_FOUND;
    }
    struct bk_cgroup *cg = bk_calloc(1, sizeof(*cg));
    if (cg == NULL) {
        return BK_KERR_UNKNOWN_SERVER_ERROR;
    }
    int64_t now = bk_clock_mono_ms(r->clock);
    struct bk_arena a;
    bk_arena_init(&a, 4096, 0);
    int16_t err = BK_KERR_NONE;
    for (size_t i = 0; i < g->nmembers && err == BK_KERR_NONE; i++) {
        const struct bk_group_member *om = g->members[i];
        const struct bk_group_protocol *p = bk_group_member_protocol(g, om);
        struct sub_view sub;
        struct bk_cmember *m = bk_ci_member_add(g, cg, bk_str_c(om->id));
        if (p == NULL || m == NULL ||
            decode_subscription(r, p->metadata, p->metadata_len, &a, &sub) !=
                0) {
            /* A malformed embedded protocol cannot be converted. */
            err = BK_KERR_GROUP_ID_NOT_FOUND;
            break;
        }
        struct bk_group_proto_in *in =
            bk_arena_alloc(&a, (om->nprotocols + 1) * sizeof(*in));
        if (in == NULL) {
            err = BK_KERR_UNKNOWN_SERVER_ERROR;
            break;
        }
        /* The chosen protocol first: it names the answers' protocol. */
        size_t k = 0;
        in[k++] = (struct bk_group_proto_in){
            bk_str_c(p->name), { p->metadata, (int32_t)p->metadata_len }
        };
        for (size_t j = 0; j < om->nprotocols; j++) {
            if (&om->protocols[j] != p) {
                in[k++] = (struct bk_group_proto_in){
                    bk_str_c(om->protocols[j].name),
                    { om->protocols[j].metadata,
                      (int32_t)om->protocols[j].metadata_len }
                };
            }
        }
        bk_free(m->client_id);
        bk_free(m->client_host);
        m->client_id = bk_strdup(om->client_id);
        m->client_host = bk_strdup(om->client_host);
        m->instance_id = om->instance_id != NULL
                             ? bk_strndup(om->instance_id, om->instance_id_len)
                             : NULL;
        m->instance_id_len = om->instance_id_len;
        if (m->client_id == NULL || m->client_host == NULL ||
            (om->instance_id != NULL && m->instance_id == NULL) ||
            bk_gi_protocols_copy(&m->protocols, &m->nprotocols, in, k) != 0 ||
            bk_ci_set_topics(m, sub.topics, sub.ntopics) != 0) {
            err = BK_KERR_UNKNOWN_SERVER_ERROR;
            break;
        }
        m->classic = true;
        m->session_timeout_ms = om->session_timeout_ms;
        m->rebalance_timeout_ms = om->rebalance_timeout_ms;
        m->epoch = m->prev_epoch = g->generation;
        decode_assignment(r, om->assignment, om->assignment_len, &m->assigned);
        for (size_t j = 0; j < m->assigned.n; j++) {
            (void)bk_ci_set_add(&m->target, &m->assigned.v[j]);
        }
        m->expires_ms = now + m->session_timeout_ms;
    }
    bk_arena_destroy(&a);
    if (err != BK_KERR_NONE) {
        bk_cgroup_free(cg);
        return err;
    }
    cg->group_epoch = g->generation;
    cg->dirty = true;
    /* ConsumerGroup.fromClassicGroup: members waiting in a rebalance are
     * told to rejoin (they will join the consumer group). */
    bk_gi_clear_members(r, g, BK_KERR_REBALANCE_IN_PROGRESS);
    bk_free(g->protocol);
    bk_free(g->leader);
    g->protocol = NULL;
    g->leader = NULL;
    g->consumer = cg;
    g->tombstone_classic = true;
    g->dirty = false;
    bk_ci_update_state(r, g);
    return BK_KERR_NONE;
}

void bk_ci_maybe_downgrade(struct bk_group_registry *r, struct bk_group *g)
{
    struct bk_cgroup *cg = g->consumer;
    /* validateOnlineDowngradeWithFencedMember: allowed by
     * group.consumer.migration.policy, members remain, all of them classic,
     * and no more than a classic group may have. */
    if (!r->cfg.cg_downgrade || cg == NULL || cg->nmembers == 0 ||
        (int64_t)cg->nmembers > r->cfg.max_size) {
        return;
    }
    for (size_t i = 0; i < cg->nmembers; i++) {
        if (!cg->members[i]->classic) {
            return;
        }
    }
    cg->downgrade = true;
    bk_ci_try_downgrade(r, g);
}

/* A protocol name every member offers (the group's protocol after the
 * conversion), the first member's preference first; NULL when none. */
static const char *common_protocol(const struct bk_cgroup *cg)
{
    const struct bk_cmember *first = cg->members[0];
    for (size_t p = 0; p < first->nprotocols; p++) {
        const char *name = first->protocols[p].name;
        bool all = true;
        for (size_t i = 1; i < cg->nmembers && all; i++) {
            bool has = false;
            for (size_t k = 0; k < cg->members[i]->nprotocols && !has; k++) {
                has = strcmp(cg->members[i]->protocols[k].name, name) == 0;
            }
            all = has;
        }
        if (all) {
            return name;
        }
    }
    return NULL;
}

/* Whether a consumer group marked for downgrade can go now: only classic
 * members, none of them moving. Clears the mark when it never can. */
static bool downgrade_ready(struct bk_cgroup *cg)
{
    if (cg == NULL || !cg->downgrade) {
        return false;
    }
    if (cg->nmembers == 0) {
        cg->downgrade = false; /* an empty consumer group stays one */
        return false;
    }
    for (size_t i = 0; i < cg->nmembers; i++) {
        if (!cg->members[i]->classic) {
            cg->downgrade = false; /* a consumer member came back */
            return false;
        }
    }
    if (cg->bump) {
        return false; /* the epoch is about to move: members will rejoin */
    }
    for (size_t i = 0; i < cg->nmembers; i++) {
        const struct bk_cmember *m = cg->members[i];
        if (m->epoch != cg->group_epoch || m->revoking.n > 0 ||
            !bk_ci_set_same(&m->assigned, &m->target)) {
            return false;
        }
    }
    return true;
}

/* Fills the classic member m from cm, whose protocols move to m. False
 * when out of memory. */
static bool downgrade_member(struct bk_group_registry *r,
                             struct bk_cmember *cm,
                             int64_t now,
                             struct bk_group_member *m)
{
    int16_t ver = assignment_version(cm);
    m->id = bk_strdup(cm->id);
    m->instance_id = cm->instance_id != NULL
                         ? bk_strndup(cm->instance_id, cm->instance_id_len)
                         : NULL;
    m->instance_id_len = cm->instance_id_len;
    m->client_id = bk_strdup(cm->client_id);
    m->client_host = bk_strdup(cm->client_host);
    m->session_timeout_ms = cm->session_timeout_ms;
    m->rebalance_timeout_ms = cm->rebalance_timeout_ms;
    m->expires_ms = now + cm->session_timeout_ms;
    m->protocols = cm->protocols; /* moved */
    m->nprotocols = cm->nprotocols;
    cm->protocols = NULL;
    cm->nprotocols = 0;
    return m->id != NULL && m->client_id != NULL && m->client_host != NULL &&
           (cm->instance_id == NULL || m->instance_id != NULL) &&
           encode_assignment(r, &cm->assigned, ver, &m->assignment,
                             &m->assignment_len) == 0;
}

/* Makes a classic member in ms of each member of cg, in order, until one
 * fails (*ok false). Returns how many were allocated. */
static size_t downgrade_members(struct bk_group_registry *r,
                                struct bk_cgroup *cg,
                                struct bk_group_member **ms,
                                bool *ok)
{
    int64_t now = bk_clock_mono_ms(r->clock);
    size_t n = 0;
    *ok = true;
    for (; n < cg->nmembers && *ok; n++) {
        struct bk_group_member *m = bk_calloc(1, sizeof(*m));
        if (m == NULL) {
            *ok = false;
            break;
        }
        ms[n] = m;
        *ok = downgrade_member(r, cg->members[n], now, m);
    }
    return n;
}

/* Out of memory: the protocols go back and the group stays consumer. */
static void downgrade_undo(struct bk_cgroup *cg,
                           struct bk_group_member **ms,
                           size_t n)
{
    for (size_t i = 0; i < n; i++) {
        cg->members[i]->protocols = ms[i]->protocols;
        cg->members[i]->nprotocols = ms[i]->nprotocols;
        ms[i]->protocols = NULL;
        ms[i]->nprotocols = 0;
        bk_gi_member_free(ms[i]);
    }
}

/* The classic members (ms, n of them; taken) replace the consumer group,
 * Stable at its epoch with protocol p and leader (both taken). */
static void downgrade_install(struct bk_group_registry *r,
                              struct bk_group *g,
                              struct bk_group_member **ms,
                              size_t n,
                              char *p,
                              char *leader)
{
    struct bk_cgroup *cg = g->consumer;
    for (size_t i = 0; i < n; i++) {
        if (bk_gi_member_add(g, ms[i]) != 0) {
            bk_gi_member_free(ms[i]); /* that member will rejoin */
        }
        /* Their consumer records go (ClassicGroup.fromConsumerGroup). */
        bk_ci_note_gone(g, &cg->members[i]->id);
    }
    g->generation = cg->group_epoch;
    bk_free(g->protocol);
    bk_free(g->leader);
    g->protocol = p;
    g->leader = leader;
    bk_cgroup_free(cg);
    g->consumer = NULL;
    g->tombstone_consumer = true;
    g->dirty = true;
    /* Every member has its target at the group epoch: Stable as it is. */
    bk_gi_set_state(r, g, BK_GROUP_STABLE);
}

void bk_ci_try_downgrade(struct bk_group_registry *r, struct bk_group *g)
{
    struct bk_cgroup *cg = g->consumer;
    if (!downgrade_ready(cg)) {
        return;
    }
    const char *proto = common_protocol(cg);
    if (proto == NULL) {
        return; /* no protocol they all speak: stays a consumer group */
    }
    char *p = bk_strdup(proto);
    if (p == NULL) {
        return;
    }
    struct bk_group_member **ms = bk_calloc(cg->nmembers, sizeof(*ms));
    if (ms == NULL) {
        bk_free(p);
        return; /* stays a consumer group; members keep being served */
    }
    bool ok;
    size_t n = downgrade_members(r, cg, ms, &ok);
    char *leader = ok ? bk_strdup(ms[0]->id) : NULL;
    if (leader == NULL) {
        bk_free(p);
        downgrade_undo(cg, ms, n);
        bk_free(ms);
        return;
    }
    downgrade_install(r, g, ms, n, p, leader);
    bk_free(ms);
}
