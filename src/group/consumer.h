/* KIP-848 consumer groups: the ConsumerGroupHeartbeat state machine with
 * server-side assignors ("uniform" and "range"), member epochs and
 * incremental reconciliation (a partition moves only after its previous
 * owner acknowledged revoking it). Pure like group.h: topic metadata comes
 * from a lookup the caller provides.
 *
 * Simplifications (documented, not Kafka's full machinery): membership of
 * consumer groups is not persisted (after a coordinator restart members
 * get UNKNOWN_MEMBER_ID and rejoin with epoch 0; committed offsets are
 * persisted as for classic groups); regex subscriptions and rack-aware
 * assignment are not supported; a non-empty classic group is not converted
 * (GROUP_ID_NOT_FOUND), an empty one is. */
#ifndef BK_GROUP_CONSUMER_H
#define BK_GROUP_CONSUMER_H

#include "group/group.h"

#define BK_CGROUP_SESSION_TIMEOUT_MS    45000 /* group.consumer.session... */
#define BK_CGROUP_HEARTBEAT_INTERVAL_MS 5000

struct bk_cg_tp {
    struct bk_uuid topic_id;
    int32_t partition;
};

struct bk_cg_set {
    struct bk_cg_tp *v; /* owned */
    size_t n;
    size_t cap;
};

struct bk_cmember {
    char *id;
    char *instance_id;
    char *client_id;
    char *client_host;
    char **topics; /* subscription, owned */
    size_t ntopics;
    int32_t epoch;
    int32_t prev_epoch;
    int32_t rebalance_timeout_ms;
    struct bk_cg_set assigned; /* what the member was told it owns */
    struct bk_cg_set revoking; /* told to revoke, not yet acknowledged */
    struct bk_cg_set target;
    int64_t expires_ms;
};

struct bk_cgroup {
    int32_t group_epoch;
    char *assignor; /* "uniform" (default) or "range" */
    struct bk_cmember **members;
    size_t nmembers;
};

/* Topic metadata for the assignors: returns the partition count of name
 * (and its id), or -1 when the topic does not exist. */
typedef int32_t (*bk_cg_topic_fn)(void *ctx,
                                  const char *name,
                                  struct bk_uuid *id);

struct bk_cg_heartbeat {
    struct bk_str member_id;
    int32_t member_epoch;
    struct bk_str instance_id;
    struct bk_str client_id;
    struct bk_str client_host;
    int32_t rebalance_timeout_ms;
    const struct bk_str *topics; /* NULL: unchanged */
    int32_t ntopics;
    struct bk_str server_assignor; /* null: unchanged */
    const struct bk_cg_tp *owned;  /* NULL (nowned -1): unchanged */
    int32_t nowned;
};

struct bk_cg_result {
    int16_t error;
    const char *error_message;
    const char *member_id; /* borrowed from the group */
    int32_t member_epoch;
    int32_t heartbeat_interval_ms;
    const struct bk_cg_set *assignment; /* NULL: none sent */
};

/* One ConsumerGroupHeartbeat. *res borrows from the registry until the
 * next call. */
void bk_cgroup_heartbeat(struct bk_group_registry *r,
                         struct bk_str group_id,
                         const struct bk_cg_heartbeat *hb,
                         bk_cg_topic_fn topics,
                         void *topics_ctx,
                         struct bk_cg_result *res);

/* OffsetCommit / OffsetFetch from a member of a consumer group: NONE,
 * UNKNOWN_MEMBER_ID, STALE_MEMBER_EPOCH or FENCED_MEMBER_EPOCH. */
int16_t bk_cgroup_commit_check(struct bk_group *g,
                               struct bk_str member_id,
                               int32_t member_epoch);

/* Session expiry of consumer members; from bk_group_tick(). */
void bk_cgroup_tick(struct bk_group_registry *r, struct bk_group *g);

/* "Empty", "Assigning", "Reconciling" or "Stable". */
const char *bk_cgroup_state(const struct bk_group *g);

void bk_cgroup_free(struct bk_cgroup *cg);

#endif /* BK_GROUP_CONSUMER_H */
