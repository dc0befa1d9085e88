/* Consumer groups (classic protocol) and committed offsets, as a pure
 * library: no I/O, no threads, time from a clock seam. The group coordinator
 * (src/coord/group_coord.c) owns one registry per shard, feeds it requests and
 * timer ticks, and persists what the registry reports through its hooks as
 * records of __consumer_offsets (records.h).
 *
 * The state machine is Kafka's classic group coordinator
 * (GroupMetadataManager's classic group paths, KIP-345 static membership,
 * KIP-394 MEMBER_ID_REQUIRED):
 *
 *   Empty --join--> PreparingRebalance --all joined / timeout-->
 *   CompletingRebalance --leader's SyncGroup--> Stable
 *   Stable|CompletingRebalance --join/leave/expiry--> PreparingRebalance
 *   PreparingRebalance --no member left--> Empty;  any --delete--> Dead
 *
 * JoinGroup and SyncGroup may have to wait for other members: the caller
 * passes an opaque waiter, and the answer arrives exactly once through
 * hooks.join_done / hooks.sync_done, possibly from inside the call itself.
 * Everything handed to a hook is borrowed for the duration of the call.
 *
 * Threading: a registry belongs to one thread (its shard). */
/* Prefix: bk_group_ (the registry, classic groups, offsets). src/group is
 * four sub-modules, one prefix each: bk_group_ (group.h, and persist.h for
 * the registry's persistence verbs), bk_cgroup_ (consumer.h), bk_gr_
 * (records.h, cg_records.h) and, internal, bk_gi_ / bk_ci_ (group_int.h). */
#ifndef BK_GROUP_GROUP_H
#define BK_GROUP_GROUP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/clock.h"
#include "protocol/prim.h"

enum bk_group_state {
    BK_GROUP_EMPTY = 0,
    BK_GROUP_PREPARING_REBALANCE,
    BK_GROUP_COMPLETING_REBALANCE,
    BK_GROUP_STABLE,
    BK_GROUP_DEAD,
};

/* Kafka's names: "Empty", "PreparingRebalance", ... */
const char *bk_group_state_name(enum bk_group_state s);

struct bk_group_config {
    int32_t min_session_timeout_ms;     /* group.min.session.timeout.ms */
    int32_t max_session_timeout_ms;     /* group.max.session.timeout.ms */
    int32_t initial_rebalance_delay_ms; /* group.initial.rebalance.delay.ms */
    int32_t max_size;                   /* group.max.size */
    int64_t offsets_retention_ms;       /* offsets.retention.minutes */
    /* KIP-848 consumer groups (group.consumer.*). */
    int32_t cg_session_timeout_ms;    /* session.timeout.ms */
    int32_t cg_heartbeat_interval_ms; /* heartbeat.interval.ms */
    int32_t cg_max_size;              /* max.size */
    /* migration.policy: whether a classic group with members may become
     * a consumer group (upgrade) and back (downgrade). */
    bool cg_upgrade;
    bool cg_downgrade;
};

/* group.consumer.migration.policy: "disabled", "upgrade", "downgrade" or
 * "bidirectional" (any case). Returns false for anything else. */
bool bk_group_parse_migration_policy(const char *s,
                                     bool *upgrade,
                                     bool *downgrade);

/* Kafka's defaults: 6 s, 30 min, 3 s, unlimited, 7 days; consumer groups
 * 45 s sessions, 5 s heartbeats, unlimited, bidirectional migration. */
void bk_group_config_default(struct bk_group_config *c);

struct bk_group_protocol {
    char *name;        /* owned */
    uint8_t *metadata; /* owned (may be NULL when len 0) */
    size_t metadata_len;
};

struct bk_group_member {
    char *id; /* owned */
    /* Owned, instance_id_len bytes plus a NUL; NULL: dynamic member. The
     * id may hold NUL bytes: "a\0x" is not "a" (bk_group_str()). */
    char *instance_id;
    size_t instance_id_len;
    char *client_id;   /* owned */
    char *client_host; /* owned */
    int32_t session_timeout_ms;
    int32_t rebalance_timeout_ms;
    struct bk_group_protocol *protocols; /* owned */
    size_t nprotocols;
    uint8_t *assignment; /* owned */
    size_t assignment_len;
    int64_t expires_ms; /* monotonic: session deadline */
    void *join_waiter;  /* a JoinGroup waiting for the rebalance */
    void *sync_waiter;  /* a SyncGroup waiting for the leader */
    bool is_new;        /* joined during the current rebalance */
};

struct bk_group_offset {
    char *topic; /* owned */
    int32_t partition;
    int64_t offset;
    int32_t leader_epoch;
    /* Owned, metadata_len bytes plus a NUL: the metadata may hold NUL
     * bytes, so it is read with its length, never as a C string. */
    char *metadata;
    size_t metadata_len;
    int64_t commit_ms; /* wall clock */
    int64_t expire_ms; /* wall clock; -1: by the group's retention rule */
};

struct bk_group_pending {
    char *id; /* owned: an id handed out with MEMBER_ID_REQUIRED */
    int64_t expires_ms;
};

struct bk_group {
    struct bk_group *next; /* registry list */
    /* Owned, id_len bytes plus a NUL. Kafka's group ids are opaque strings
     * that may hold NUL bytes: "g\0x" is its own group, not "g", so the id
     * is compared and persisted with its length (bk_group_id()), never as a
     * C string. */
    char *id;
    size_t id_len;
    enum bk_group_state state;
    int32_t generation;
    char *protocol_type; /* owned; NULL: none yet (e.g. offsets only) */
    char *protocol;      /* owned; the selected protocol, NULL when none */
    char *leader;        /* owned; member id, NULL when none */
    struct bk_group_member **members; /* owned, in join order */
    size_t nmembers;
    size_t members_cap;
    struct bk_group_pending *pending; /* owned */
    size_t npending;
    int64_t rebalance_deadline_ms;   /* PreparingRebalance: join deadline */
    int64_t initial_delay_max_ms;    /* initial delay: cap of extensions */
    bool initial_delay;              /* the first rebalance of an Empty group */
    int64_t state_ms;                /* wall clock of the last state change */
    struct bk_group_offset *offsets; /* owned */
    size_t noffsets;
    size_t offsets_cap;
    bool dirty; /* membership changed: persist a GroupMetadata record */
    /* Records to write after a conversion between classic and consumer
     * (KIP-848): a GroupMetadata tombstone, the consumer group's own
     * tombstones, and the ids of removed consumer members (owned) whose
     * records must be tombstoned. */
    bool tombstone_classic;
    bool tombstone_consumer;
    char **cg_gone;
    size_t ncg_gone;
    size_t cg_gone_cap; /* room for every consumer member's id */
    /* KIP-848 consumer group (consumer.h); NULL for a classic group. */
    struct bk_cgroup *consumer;
};

struct bk_group_join_result {
    int16_t error;
    int32_t generation;
    const char *protocol_type; /* NULL: null */
    const char *protocol_name; /* NULL: null */
    const char *leader;
    const char *member_id;
    bool skip_assignment;
    /* The members with their metadata for the chosen protocol: only for the
     * leader, empty for everyone else. */
    size_t nmembers;
    struct bk_group_member *const *members;
};

struct bk_group_hooks {
    void (*join_done)(void *data,
                      void *waiter,
                      const struct bk_group_join_result *r);
    void (*sync_done)(void *data,
                      void *waiter,
                      int16_t error,
                      const char *protocol_type,
                      const char *protocol_name,
                      const uint8_t *assignment,
                      size_t assignment_len);
    /* An offset was dropped by retention: write its tombstone. */
    void (*offset_expired)(void *data,
                           const struct bk_group *g,
                           const char *topic,
                           int32_t partition);
    /* An empty group with no offsets left was dropped by retention: write
     * its tombstone. g is freed right after. */
    void (*group_expired)(void *data, const struct bk_group *g);
    void *data;
    /* Topic metadata, for classic members of KIP-848 groups (NULL: no
     * topics exist). topic_lookup returns the partition count of name
     * and its id, or -1; topic_name copies the name of a topic id into
     * buf (false: unknown). */
    int32_t (*topic_lookup)(void *data, const char *name, struct bk_uuid *id);
    bool (*topic_name)(void *data,
                       const struct bk_uuid *id,
                       char *buf,
                       size_t cap);
    /* Calls fn for every topic that exists (for regex subscriptions). */
    void (*topic_each)(void *data,
                       void (*fn)(void *arg, const char *name),
                       void *arg);
};

struct bk_group_registry {
    struct bk_group *groups; /* list */
    size_t ngroups;
    struct bk_group_config cfg;
    const struct bk_clock *clock; /* borrowed */
    struct bk_group_hooks hooks;
    uint64_t rng; /* member ids */
    int64_t next_retention_ms;
};

void bk_group_registry_init(struct bk_group_registry *r,
                            const struct bk_group_config *cfg,
                            const struct bk_clock *clock,
                            const struct bk_group_hooks *hooks);

/* Frees every group. Waiters still parked are answered with
 * COORDINATOR_NOT_AVAILABLE first (so their requests complete). */
void bk_group_registry_close(struct bk_group_registry *r);

struct bk_group *bk_group_find(struct bk_group_registry *r, struct bk_str id);

/* An owned string kept with its length (NULL: null), as a view. */
static inline struct bk_str bk_group_str(const char *s, size_t len)
{
    return s != NULL ? (struct bk_str){ s, (int32_t)len } : BK_STR_NULL;
}

/* The group's id with its length (borrowed from g). */
struct bk_str bk_group_id(const struct bk_group *g);

/* Finds or creates (Empty, generation 0) a group; NULL when out of
 * memory. */
struct bk_group *bk_group_get(struct bk_group_registry *r, struct bk_str id);

/* Removes a group from the registry and frees it (parked waiters get
 * COORDINATOR_NOT_AVAILABLE). */
void bk_group_remove(struct bk_group_registry *r, struct bk_group *g);

struct bk_group_member *bk_group_member_find(const struct bk_group *g,
                                             const char *member_id,
                                             size_t len);

/* The member's metadata for the group's chosen protocol (or its first). */
const struct bk_group_protocol *bk_group_member_protocol(
    const struct bk_group *g,
    const struct bk_group_member *m);

struct bk_group_proto_in {
    struct bk_str name;
    struct bk_bytes metadata;
};

struct bk_group_join_req {
    struct bk_str member_id;
    struct bk_str instance_id; /* len -1 / null: dynamic member */
    struct bk_str client_id;
    struct bk_str client_host;
    struct bk_str protocol_type;
    int32_t session_timeout_ms;
    int32_t rebalance_timeout_ms; /* -1 (v0): the session timeout */
    const struct bk_group_proto_in *protocols;
    size_t nprotocols;
    bool require_known_member; /* JoinGroup v4+ (KIP-394) */
};

/* JoinGroup. The answer comes through hooks.join_done(waiter). */
void bk_group_join(struct bk_group_registry *r,
                   struct bk_str group_id,
                   const struct bk_group_join_req *req,
                   void *waiter);

struct bk_group_assignment_in {
    struct bk_str member_id;
    struct bk_bytes assignment;
};

struct bk_group_sync_req {
    struct bk_str member_id;
    struct bk_str instance_id;
    int32_t generation;
    struct bk_str protocol_type; /* v5+, else null */
    struct bk_str protocol_name; /* v5+, else null */
    const struct bk_group_assignment_in *assignments;
    size_t nassignments;
};

/* SyncGroup. The answer comes through hooks.sync_done(waiter). */
void bk_group_sync(struct bk_group_registry *r,
                   struct bk_str group_id,
                   const struct bk_group_sync_req *req,
                   void *waiter);

/* Heartbeat: returns Kafka's error code. */
int16_t bk_group_heartbeat(struct bk_group_registry *r,
                           struct bk_str group_id,
                           struct bk_str member_id,
                           struct bk_str instance_id,
                           int32_t generation);

/* LeaveGroup for one member identity (v3+ batches call it per member; v0-2
 * pass a null instance id). Returns Kafka's error code for the member. */
int16_t bk_group_leave(struct bk_group_registry *r,
                       struct bk_str group_id,
                       struct bk_str member_id,
                       struct bk_str instance_id);

/* OffsetCommit validation (api_version: the request's version): whether a
 * commit with this identity may be written now. Kafka's rules: a commit
 * with generation < 0 into an unknown group, an Empty classic group or a
 * consumer group without members is a simple/admin commit, whatever its
 * member id (librdkafka's assign() sends its own); a member's commit into
 * an unknown group is GROUP_ID_NOT_FOUND from v9, ILLEGAL_GENERATION
 * before. Creates the group (Empty) when it does not exist and the commit
 * is allowed; *out gets it. Returns Kafka's error code. */
int16_t bk_group_commit_check(struct bk_group_registry *r,
                              struct bk_str group_id,
                              struct bk_str member_id,
                              struct bk_str instance_id,
                              int32_t generation,
                              int16_t api_version,
                              struct bk_group **out);

/* Stores one committed offset (after it was written). Returns 0 or
 * BK_ENOMEM. */
int bk_group_offset_put(struct bk_group *g,
                        struct bk_str topic,
                        int32_t partition,
                        int64_t offset,
                        int32_t leader_epoch,
                        struct bk_str metadata,
                        int64_t commit_ms,
                        int64_t expire_ms);

const struct bk_group_offset *bk_group_offset_get(const struct bk_group *g,
                                                  struct bk_str topic,
                                                  int32_t partition);

/* Drops one offset; returns whether it existed. */
bool bk_group_offset_delete(struct bk_group *g,
                            struct bk_str topic,
                            int32_t partition);

/* Whether a member of g is subscribed to topic (consumer protocol
 * metadata), for OffsetDelete's GROUP_SUBSCRIBED_TO_TOPIC. */
bool bk_group_subscribed(const struct bk_group *g, struct bk_str topic);

/* DeleteGroups for one group: NONE (then the caller writes tombstones and
 * calls bk_group_remove), GROUP_ID_NOT_FOUND or NON_EMPTY_GROUP. */
int16_t bk_group_delete_check(struct bk_group_registry *r,
                              struct bk_str group_id,
                              struct bk_group **out);

/* Timers: join deadlines, the initial rebalance delay, session expiry of
 * members and of pending member ids, and offset retention. Call every
 * ~100 ms. */
void bk_group_tick(struct bk_group_registry *r);

/* The timers of group_id alone that are due now (everything but offset
 * retention), as bk_group_tick() runs them. Call before any request on the
 * group: Kafka's timers fire at each deadline, so a request just after one
 * must find the member expired (DeleteGroups then sees an Empty group),
 * not wait for the next tick. */
void bk_group_expire(struct bk_group_registry *r, struct bk_str group_id);

/* ---- loading from __consumer_offsets ---- */

struct bk_group_member_load {
    struct bk_str member_id;
    struct bk_str instance_id;
    struct bk_str client_id;
    struct bk_str client_host;
    int32_t rebalance_timeout_ms;
    int32_t session_timeout_ms;
    struct bk_bytes subscription;
    struct bk_bytes assignment;
};

struct bk_gr_group_meta {
    struct bk_str protocol_type;
    int32_t generation;
    struct bk_str protocol; /* null allowed */
    struct bk_str leader;   /* null allowed */
    int64_t state_ms;
    const struct bk_group_member_load *members;
    size_t nmembers;
};

/* Applies a GroupMetadata record (the newest wins): the group comes back
 * Stable with its members (who then heartbeat as before, or expire), or
 * Empty. Returns 0 or BK_ENOMEM. */
int bk_group_load_meta(struct bk_group_registry *r,
                       struct bk_str group_id,
                       const struct bk_gr_group_meta *m);

/* A GroupMetadata tombstone: the group goes, offsets too unless later
 * records bring them back. */
void bk_group_load_tombstone(struct bk_group_registry *r,
                             struct bk_str group_id);

#endif /* BK_GROUP_GROUP_H */
