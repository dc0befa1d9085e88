/* KIP-848 consumer groups: the ConsumerGroupHeartbeat state machine with
 * server-side assignors ("uniform" and "range"), member epochs and
 * incremental reconciliation (a partition moves only after its previous
 * owner acknowledged revoking it). Pure like group.h: topic metadata comes
 * from a lookup the caller provides.
 *
 * Membership is persisted in __consumer_offsets as Kafka's KIP-848 records
 * (cg_records.h): the registry marks what changed (dirty flags, the ids of
 * removed members) and the coordinator glue writes it; loading replays the
 * records (bk_cgroup_load_*), so members keep their epochs and assignments
 * across a coordinator restart.
 *
 * Classic and consumer members may share a group (KIP-848's migration,
 * group.consumer.migration.policy=bidirectional): a ConsumerGroupHeartbeat
 * to a classic group with members converts it (online upgrade), classic
 * JoinGroup/SyncGroup/Heartbeat/LeaveGroup are then served from the
 * consumer group's server-side assignment (classic.c), and when the last
 * consumer-protocol member leaves a group of classic members it becomes a
 * classic group again (online downgrade) as soon as they all reconciled.
 *
 * Regex subscriptions (SubscribedTopicRegex, KIP-848): the pattern must
 * match a whole topic name; it is compiled as a POSIX extended regular
 * expression after mapping the Java/RE2 shorthands \d \D (\w \s \b are
 * GNU extensions already); internal topics never match. A member's
 * subscription is its topic names plus the topics its regex matches now,
 * so topics created later join the assignment at the next heartbeat.
 *
 * Not supported: rack-aware assignment. */
/* Prefix: bk_cgroup_ (KIP-848 consumer groups); see group.h for the
 * prefixes of the other sub-modules of src/group. */
#ifndef BK_GROUP_CONSUMER_H
#define BK_GROUP_CONSUMER_H

#include "group/group.h"

#define BK_CGROUP_SESSION_TIMEOUT_MS    45000 /* group.consumer.session... */
#define BK_CGROUP_HEARTBEAT_INTERVAL_MS 5000

struct bk_cgroup_tp {
    struct bk_uuid topic_id;
    int32_t partition;
};

struct bk_cgroup_set {
    struct bk_cgroup_tp *v; /* owned */
    size_t n;
    size_t cap;
};

struct bk_cmember {
    char *id;
    char *instance_id; /* instance_id_len bytes (may hold NUL); NULL: none */
    size_t instance_id_len;
    char *client_id;
    char *client_host;
    char **topics; /* subscription, owned */
    size_t ntopics;
    char *regex;             /* SubscribedTopicRegex, owned; NULL: none */
    struct bk_cgroup_re *re; /* compiled regex, owned */
    char **resolved;         /* topics the regex matched, owned */
    size_t nresolved;
    int32_t epoch;
    int32_t prev_epoch;
    int32_t rebalance_timeout_ms;
    struct bk_cgroup_set assigned; /* what the member was told it owns */
    struct bk_cgroup_set revoking; /* told to revoke, not yet acknowledged */
    struct bk_cgroup_set target;
    int64_t expires_ms;
    /* Fenced when a revocation is not acknowledged by then (the member's
     * rebalance timeout, as Kafka's revocation timer). */
    int64_t revoke_deadline_ms;
    /* A classic member (JoinGroup) in a consumer group: its session
     * timeout and the protocols it offered (owned). */
    bool classic;
    int32_t session_timeout_ms;
    struct bk_group_protocol *protocols;
    size_t nprotocols;
    bool dirty; /* its records must be written */
};

struct bk_cgroup {
    int32_t group_epoch;
    char *assignor; /* "uniform" (default) or "range" */
    struct bk_cmember **members;
    size_t nmembers;
    bool dirty; /* the group epoch record must be written */
    /* Membership or a subscription changed: the next target computation
     * bumps the epoch even when no target moved (Kafka bumps on every
     * such change, so a joining member always gets an epoch > 0). */
    bool bump;
    /* A consumer-protocol member left and only classic members remain:
     * the group turns classic once they all caught up (classic.c). */
    bool downgrade;
    /* The targets were computed for these members and this signature of
     * the subscribed topics' metadata (assign.c): no need to redo them. */
    bool targets_valid;
    uint64_t topics_sig;
};

/* Topic metadata for the assignors: returns the partition count of name
 * (and its id), or -1 when the topic does not exist. */
typedef int32_t (*bk_cgroup_topic_fn)(void *ctx,
                                      const char *name,
                                      struct bk_uuid *id);

struct bk_cgroup_heartbeat_req {
    struct bk_str member_id;
    int32_t member_epoch;
    struct bk_str instance_id;
    struct bk_str client_id;
    struct bk_str client_host;
    int32_t rebalance_timeout_ms;
    const struct bk_str *topics; /* NULL: unchanged */
    int32_t ntopics;
    struct bk_str regex;              /* null: unchanged; "": none */
    struct bk_str server_assignor;    /* null: unchanged */
    const struct bk_cgroup_tp *owned; /* NULL (nowned -1): unchanged */
    int32_t nowned;
};

struct bk_cgroup_result {
    int16_t error;
    const char *error_message;
    const char *member_id; /* borrowed from the group */
    int32_t member_epoch;
    int32_t heartbeat_interval_ms;
    const struct bk_cgroup_set *assignment; /* NULL: none sent */
};

/* One ConsumerGroupHeartbeat. *res borrows from the registry until the
 * next call. */
void bk_cgroup_heartbeat(struct bk_group_registry *r,
                         struct bk_str group_id,
                         const struct bk_cgroup_heartbeat_req *hb,
                         bk_cgroup_topic_fn topics,
                         void *topics_ctx,
                         struct bk_cgroup_result *res);

/* OffsetCommit (api_version: its request version) from a member of a
 * consumer group: NONE, UNKNOWN_MEMBER_ID, UNSUPPORTED_VERSION (a consumer
 * member below v9), STALE_MEMBER_EPOCH (not its epoch) or, for a classic
 * member, ILLEGAL_GENERATION. */
int16_t bk_cgroup_commit_check(struct bk_group *g,
                               struct bk_str member_id,
                               int32_t member_epoch,
                               int16_t api_version);

/* Session expiry of consumer members; from bk_group_tick(). */
void bk_cgroup_tick(struct bk_group_registry *r, struct bk_group *g);

/* "Empty", "Assigning", "Reconciling" or "Stable". */
const char *bk_cgroup_state(const struct bk_group *g);

void bk_cgroup_free(struct bk_cgroup *cg);

/* ---- classic members in a consumer group (classic.c) ---- */

/* JoinGroup to a consumer group with members: answered at once through
 * hooks.join_done (Kafka's classicGroupJoinToConsumerGroup). */
void bk_cgroup_classic_join(struct bk_group_registry *r,
                            struct bk_group *g,
                            const struct bk_group_join_req *req,
                            void *waiter);
/* SyncGroup: the member's current assignment, through hooks.sync_done. */
void bk_cgroup_classic_sync(struct bk_group_registry *r,
                            struct bk_group *g,
                            const struct bk_group_sync_req *req,
                            void *waiter);
/* Heartbeat: NONE or REBALANCE_IN_PROGRESS (rejoin to reconcile), or an
 * error for an unknown member or a wrong generation. */
int16_t bk_cgroup_classic_heartbeat(struct bk_group_registry *r,
                                    struct bk_group *g,
                                    struct bk_str member_id,
                                    struct bk_str instance_id,
                                    int32_t generation);
int16_t bk_cgroup_classic_leave(struct bk_group_registry *r,
                                struct bk_group *g,
                                struct bk_str member_id,
                                struct bk_str instance_id);

/* ---- loading (records written by the coordinator glue) ---- */

struct bk_cgroup_member_load {
    struct bk_str instance_id;
    struct bk_str client_id;
    struct bk_str client_host;
    const struct bk_str *topics;
    int32_t ntopics;
    int32_t rebalance_timeout_ms;
    struct bk_str server_assignor;
    struct bk_str regex; /* null: none */
    bool classic;        /* ClassicMemberMetadata present */
    int32_t session_timeout_ms;
    const struct bk_group_proto_in *protocols;
    size_t nprotocols;
};

struct bk_cgroup_current_load {
    int32_t epoch;
    int32_t prev_epoch;
    const struct bk_cgroup_tp *assigned;
    size_t nassigned;
    const struct bk_cgroup_tp *revoking;
    size_t nrevoking;
};

/* Each returns 0 or BK_ENOMEM. A NULL value (m, tps, c) is a tombstone. */
int bk_cgroup_load_epoch(struct bk_group_registry *r,
                         struct bk_str group_id,
                         const int32_t *epoch);
int bk_cgroup_load_member(struct bk_group_registry *r,
                          struct bk_str group_id,
                          struct bk_str member_id,
                          const struct bk_cgroup_member_load *m);
int bk_cgroup_load_target(struct bk_group_registry *r,
                          struct bk_str group_id,
                          struct bk_str member_id,
                          const struct bk_cgroup_tp *tps,
                          size_t n);
int bk_cgroup_load_current(struct bk_group_registry *r,
                           struct bk_str group_id,
                           struct bk_str member_id,
                           const struct bk_cgroup_current_load *c);

#endif /* BK_GROUP_CONSUMER_H */
