/* Controller operations as pure functions: image in, records out.
 *
 * The active controller (the raft leader, after its barrier) validates a
 * request against the newest image and turns it into metadata records, which
 * it then proposes with bk_md_propose() (cluster/controller.h). Everything
 * random (topic ids, the assignment's start index and shift) is drawn here,
 * on the leader, so that apply stays deterministic.
 *
 * Each operation appends to a bk_md_recs list and returns a Kafka error code
 * (BK_MD_KERR_*, 0 on success) with Kafka's message in msg
 * (BK_MD_MSG_SIZE bytes). On an error nothing is appended. The records and
 * everything they point to live in the list's arena, so the inputs may be
 * freed once the operation returns. Several operations may append to one
 * list (one CreateTopics request with many topics is one list, and so one
 * raft entry); create_topic also checks the topics already in the list.
 *
 * Races: the image may be behind proposals still in flight, so two creates
 * of one name can both pass here. Apply then keeps the first and skips the
 * second, and bk_md_propose() reports BK_ESTATE to the loser (see
 * controller.h). Out of memory gives BK_MD_KERR_UNKNOWN_SERVER_ERROR. */
#ifndef BK_CLUSTER_OPS_H
#define BK_CLUSTER_OPS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cluster/image.h"
#include "cluster/records.h"
#include "cluster/topic_config.h"
#include "common/arena.h"

#define BK_MD_KERR_BROKER_NOT_AVAILABLE        8
#define BK_MD_KERR_INVALID_REPLICA_ASSIGNMENT  39
#define BK_MD_KERR_NOT_CONTROLLER              41
#define BK_MD_KERR_OPERATION_NOT_ATTEMPTED     55
#define BK_MD_KERR_FENCED_LEADER_EPOCH         74
#define BK_MD_KERR_STALE_BROKER_EPOCH          77
#define BK_MD_KERR_PREFERRED_LEADER_NOT_AVAIL  80
#define BK_MD_KERR_ELIGIBLE_LEADERS_NOT_AVAIL  83
#define BK_MD_KERR_ELECTION_NOT_NEEDED         84
#define BK_MD_KERR_NO_REASSIGNMENT_IN_PROGRESS 85
#define BK_MD_KERR_UNKNOWN_TOPIC_ID            100
#define BK_MD_KERR_DUPLICATE_BROKER_REG        101
#define BK_MD_KERR_INCONSISTENT_CLUSTER_ID     104
#define BK_MD_KERR_INELIGIBLE_REPLICA          107
#define BK_MD_KERR_NEW_LEADER_ELECTED          108
#define BK_MD_KERR_INVALID_UPDATE_VERSION      95
#define BK_MD_KERR_FEATURE_UPDATE_FAILED       95 /* INVALID_UPDATE_VERSION */

/* Size of a producer id block (Kafka's
 * ProducerIdsBlock.PRODUCER_ID_BLOCK_SIZE). */
#define BK_MD_PRODUCER_ID_BLOCK 1000

/* A source of randomness. next returns 64 random bits. */
struct bk_md_rng {
    uint64_t (*next)(void *data);
    void *data;
};

/* The process's rng (getrandom(2)); thread-safe; static. */
const struct bk_md_rng *bk_md_rng_system(void);

/* A random topic id as Kafka makes them: version 4, never zero, never one
 * whose base64 form starts with '-'. */
struct bk_uuid bk_md_random_uuid(const struct bk_md_rng *rng);

struct bk_md_recs {
    struct bk_arena *arena; /* borrowed */
    struct bk_md_rec *v;    /* in arena */
    size_t n;
    size_t cap;
};

void bk_md_recs_init(struct bk_md_recs *r, struct bk_arena *arena);

/* Appends a zeroed record of the type; returns it, or NULL when out of
 * memory. */
struct bk_md_rec *bk_md_recs_add(struct bk_md_recs *r, uint16_t type);

struct bk_md_kv_in {
    const char *name;
    const char *value;
};

/* One partition of a manual replica assignment (CreateTopics'
 * Assignments, kafka-topics --replica-assignment). */
struct bk_md_replicas {
    int32_t partition;
    int32_t n;
    const int32_t *brokers; /* borrowed; brokers[0] is the preferred leader */
};

struct bk_md_topic_spec {
    /* Borrowed; bytes, not a C string: a name from the wire may hold a NUL
     * byte, which the name rules refuse (a C string would cut it short). */
    struct bk_str name;
    int32_t num_partitions;     /* -1: the default */
    int16_t replication_factor; /* -1: the default */
    size_t n_configs;
    const struct bk_md_kv_in *configs; /* borrowed */
    /* Manual assignment (then num_partitions and replication_factor must be
     * -1): partition ids 0..n-1 in any order, all of the same size, distinct
     * registered brokers; refused with Kafka 4.1's codes and messages. */
    size_t n_assignments;
    const struct bk_md_replicas *assignments; /* borrowed */
};

struct bk_md_defaults {
    int32_t num_partitions;     /* num.partitions */
    int16_t replication_factor; /* default.replication.factor */
};

struct bk_md_create_result {
    struct bk_uuid topic_id;
    int32_t num_partitions;
    int16_t replication_factor;
};

/* CreateTopics for one topic: name rules, collisions ('.' vs '_') and
 * duplicates (in the image and earlier in out), partitions >= 1 (and at most
 * BK_MD_MAX_PARTITIONS), 1 <= replication factor <= live brokers, configs by
 * name and type. Appends the topic, its partitions (replicas from
 * bk_md_assign_replicas over the live brokers, ISR = the leader, the
 * first replica, epochs 0) and its configs. */
int16_t bk_md_op_create_topic(const struct bk_md_image *img,
                              const struct bk_md_topic_spec *spec,
                              const struct bk_md_defaults *defs,
                              const struct bk_md_rng *rng,
                              struct bk_md_recs *out,
                              struct bk_md_create_result *result,
                              char *msg);

/* DeleteTopics by name, the name_len bytes at name (UNKNOWN_TOPIC_OR_PARTITION
 * when absent; a name holding a NUL byte names no topic). */
int16_t bk_md_op_delete_topic(const struct bk_md_image *img,
                              const char *name,
                              size_t name_len,
                              struct bk_md_recs *out,
                              char *msg);

/* DeleteTopics by id (UNKNOWN_TOPIC_ID when absent). */
int16_t bk_md_op_delete_topic_id(const struct bk_md_image *img,
                                 const struct bk_uuid *id,
                                 struct bk_md_recs *out,
                                 char *msg);

/* CreatePartitions: grows the topic named by the name_len bytes at name to
 * `count` partitions. With assignments NULL the new partitions are placed
 * with the replication factor of partition 0; otherwise assignments
 * (borrowed; their partition fields are ignored) give the replicas of each
 * new partition in order, checked as CreateTopics checks a manual
 * assignment, and there must be exactly one per new partition
 * (INVALID_REPLICA_ASSIGNMENT otherwise, as in Kafka). */
int16_t bk_md_op_create_partitions(const struct bk_md_image *img,
                                   const char *name,
                                   size_t name_len,
                                   int32_t count,
                                   const struct bk_md_replicas *assignments,
                                   size_t n_assignments,
                                   const struct bk_md_rng *rng,
                                   struct bk_md_recs *out,
                                   char *msg);

/* IncrementalAlterConfigs operations (Kafka's numbering). */
enum bk_md_alter_op {
    BK_MD_ALTER_SET = 0,
    BK_MD_ALTER_DELETE = 1,
    BK_MD_ALTER_APPEND = 2,
    BK_MD_ALTER_SUBTRACT = 3,
};

struct bk_md_alter {
    const char *name;
    int8_t op;         /* enum bk_md_alter_op */
    const char *value; /* ignored for DELETE */
};

/* IncrementalAlterConfigs for one resource. Topic resources: the topic must
 * exist, names and resulting values are checked against the topic config
 * table, APPEND/SUBTRACT only on LIST configs (starting from the explicit
 * value, else the default). Broker resources: "" (cluster default) or a
 * decimal broker id; names and values are not checked here (the broker
 * config table belongs to the server). Duplicate names: INVALID_REQUEST. */
int16_t bk_md_op_alter_configs(const struct bk_md_image *img,
                               int8_t res_type,
                               const char *resource,
                               const struct bk_md_alter *ops,
                               size_t n_ops,
                               struct bk_md_recs *out,
                               char *msg);

/* AlterPartition / leader election: sets the ISR and leader of one
 * partition, keeping its leader recovery state. expected_partition_epoch must
 * match the image (else INVALID_UPDATE_VERSION: the caller decided on stale
 * state). The ISR must be distinct replicas of the partition
 * (INELIGIBLE_REPLICA otherwise); the leader must be in the ISR, or -1 for no
 * leader. A new leader bumps the leader epoch; every change bumps the partition
 * epoch. A reassignment in progress is kept, and completed when the new ISR
 * holds every adding replica (bk_md_reassign_complete: the record's
 * replicas, ISR, leader and epochs are then the completed ones). With
 * eligible.leader.replicas.version 1 the ISR may be empty, and the record
 * carries the ELR and last known ELR of bk_md_elr_target(). Unknown
 * topic id: UNKNOWN_TOPIC_ID; partition out of range:
 * UNKNOWN_TOPIC_OR_PARTITION. */
int16_t bk_md_op_change_partition(const struct bk_md_image *img,
                                  const struct bk_uuid *topic_id,
                                  int32_t partition,
                                  int32_t expected_partition_epoch,
                                  int32_t leader,
                                  const int32_t *isr,
                                  int32_t n_isr,
                                  struct bk_md_recs *out,
                                  char *msg);

/* ---- eligible leader replicas (ops_elr.c; KIP-966) ---- */

/* Whether eligible.leader.replicas.version is finalized at 1 or more. */
bool bk_md_elr_enabled(const struct bk_md_image *img);

/* The min.insync.replicas the controller applies to topic t (its config,
 * else the cluster-wide broker config in the image, else 1), bounded by
 * n_replicas as the leader's high watermark rule bounds it. */
int32_t bk_md_effective_min_isr(const struct bk_md_image *img,
                                const struct bk_md_topic *t,
                                int32_t n_replicas);

/* The ELR and last known ELR of partition p (of t in img) once its ISR is
 * the n_isr replicas at isr (Kafka's rules, ops_elr.c): both empty when the
 * feature is off or the ISR is at min ISR; unclean_shutdown (-1: none)
 * leaves the ELR. elr and lke (caller's, p->n_replicas entries each) are
 * filled in replica order. */
void bk_md_elr_target(const struct bk_md_image *img,
                      const struct bk_md_topic *t,
                      const struct bk_md_partition *p,
                      const int32_t *isr,
                      int32_t n_isr,
                      int32_t unclean_shutdown,
                      int32_t *elr,
                      int32_t *n_elr,
                      int32_t *lke,
                      int32_t *n_lke);

/* The first replica of p (replica order) among the n_elr at elr that may
 * lead (bk_md_acceptable_leader, other than gone), or -1. */
int32_t bk_md_elr_candidate(const struct bk_md_image *img,
                            const int32_t *elr,
                            int32_t n_elr,
                            const struct bk_md_partition *p,
                            int32_t gone);

/* Empties the ELR and last known ELR of every partition of t that has
 * any (a change of the topic's min.insync.replicas: Kafka clears them, as
 * the replicas in them were chosen against the old value). Errors as
 * bk_md_op_change_partition. */
int16_t bk_md_op_clear_elr(const struct bk_md_image *img,
                           const struct bk_md_topic *t,
                           struct bk_md_recs *out,
                           char *msg);

/* ---- partition reassignment (ops_reassign.c) ---- */

/* AlterPartitionReassignments (api 45) for one partition of the topic
 * named by the name_len bytes at name, as Kafka's controller does it
 * (replication-notes.md §9). target (borrowed, n_target brokers) is the
 * new replica list T; n_target -1 cancels the reassignment in progress.
 * T is checked as a manual assignment (INVALID_REPLICA_ASSIGNMENT: empty,
 * a broker twice, an unregistered broker; any size is allowed). From the
 * original replicas O (the replicas less any being added) the partition's
 * replicas become T then O - T, with adding T - O and removing O - T; a
 * target already met (nothing to add, or every adding replica in sync)
 * completes at once (bk_md_reassign_complete), and a target equal to O
 * with nothing in progress appends nothing. Cancel goes back to O, the
 * adding replicas leaving the ISR; nothing in progress:
 * NO_REASSIGNMENT_IN_PROGRESS. Unknown topic or partition:
 * UNKNOWN_TOPIC_OR_PARTITION. */
int16_t bk_md_op_reassign(const struct bk_md_image *img,
                          const char *name,
                          size_t name_len,
                          int32_t partition,
                          const int32_t *target,
                          int32_t n_target,
                          struct bk_md_recs *out,
                          char *msg);

/* Completes the reassignment that r, the next state of partition p (both
 * borrowed; p is the image's state, r is being built), carries when every
 * adding replica is in r's ISR and some in-sync replica stays: replicas
 * and ISR lose the removing ones, adding and removing empty, a leader
 * that was removed or left the ISR gives way to the first acceptable
 * in-sync replica (-1 when none), and the epochs are set from p (the
 * leader epoch goes up when the leader changed or a replica was
 * removed). New arrays come from arena. Returns 1 when it completed, 0
 * when not, BK_ENOMEM. */
int bk_md_reassign_complete(const struct bk_md_image *img,
                            const struct bk_md_partition *p,
                            struct bk_md_partition_rec *r,
                            struct bk_arena *arena);

/* Whether a reassignment of p is in progress. */
bool bk_md_reassigning(const struct bk_md_partition *p);

/* ---- ISR changes from partition leaders (ops_isr.c) ---- */

/* KIP-704's leader recovery states (bk_md_partition.leader_recovery_state). */
#define BK_MD_RECOVERED  0
#define BK_MD_RECOVERING 1

/* One member of a proposed ISR. */
struct bk_md_isr_member {
    int32_t id;
    int64_t epoch; /* its broker epoch; -1: not checked (AlterPartition v0-2) */
};

/* One partition of an AlterPartition (api 56) request. */
struct bk_md_alter_isr {
    int32_t sender; /* the broker asking: it must lead the partition */
    int32_t leader_epoch;
    int32_t partition_epoch;
    int8_t leader_recovery_state;
    int32_t n_isr;
    const struct bk_md_isr_member *isr; /* borrowed */
    /* The request's version is 2 or more: an ineligible member is then
     * INELIGIBLE_REPLICA, OPERATION_NOT_ATTEMPTED before (KIP-841). */
    bool v2;
};

/* A partition's state as AlterPartition answers it. */
struct bk_md_isr_state {
    int32_t leader;
    int32_t leader_epoch;
    int32_t partition_epoch;
    int8_t leader_recovery_state;
    int32_t n_isr;
    const int32_t *isr; /* borrowed from the image or the list's arena */
};

/* The broker-level check of AlterPartition: broker id must be registered
 * with that epoch (STALE_BROKER_EPOCH otherwise, answered top-level). */
int16_t bk_md_check_broker_epoch(const struct bk_md_image *img,
                                 int32_t id,
                                 int64_t epoch,
                                 char *msg);

/* AlterPartition for one partition, validated in the order of Kafka's
 * ReplicationControlManager.validateAlterPartitionData (replication-notes.md
 * §4); the first failing rule gives the error and nothing is appended. On
 * success appends the partition's new state (ISR changed, leader and leader
 * epoch kept, partition epoch + 1: metadata.version >= 3.6, KAFKA-15021)
 * and fills *res with it. A request for the state already committed, at
 * the current epochs, appends nothing and answers that state (Kafka's
 * PartitionChangeBuilder builds no record then); a retry after a lost
 * answer carries the old partition epoch and gets INVALID_UPDATE_VERSION,
 * as in Kafka, and the leader waits for the metadata. A change that
 * completes a reassignment and so moves the leadership away from the
 * sender appends its record and answers NEW_LEADER_ELECTED (Kafka's
 * ReplicationControlManager), the one error with a record. */
int16_t bk_md_op_alter_partition(const struct bk_md_image *img,
                                 const struct bk_uuid *topic_id,
                                 int32_t partition,
                                 const struct bk_md_alter_isr *req,
                                 struct bk_md_recs *out,
                                 struct bk_md_isr_state *res,
                                 char *msg);

/* ---- leader elections (ops_elect.c) ---- */

/* ElectLeaders' election types (Kafka's ElectionType). */
enum bk_md_election {
    BK_MD_ELECT_PREFERRED = 0,
    BK_MD_ELECT_UNCLEAN = 1,
};

/* Whether broker id may lead (Kafka's LeaderAcceptor): registered, not
 * fenced, not in controlled shutdown, and not `gone` (-1: none), the
 * broker being taken away by the change in progress. */
bool bk_md_acceptable_leader(const struct bk_md_image *img,
                             int32_t id,
                             int32_t gone);

/* The topic's unclean.leader.election.enable: its own config, else the
 * cluster-wide broker config in the image, else dflt (the controller's
 * static setting). */
bool bk_md_unclean_enabled(const struct bk_md_image *img,
                           const struct bk_md_topic *t,
                           bool dflt);

/* The first acceptable replica of p other than gone, or -1. */
int32_t bk_md_unclean_candidate(const struct bk_md_image *img,
                                const struct bk_md_partition *p,
                                int32_t gone);

/* An unclean election: `leader` leads partition `partition` of t (a
 * partition of img) with the ISR of itself alone, RECOVERING (KIP-704).
 * Errors as bk_md_op_change_partition. */
int16_t bk_md_op_elect_unclean(const struct bk_md_image *img,
                               const struct bk_md_topic *t,
                               int32_t partition,
                               int32_t leader,
                               struct bk_md_recs *out,
                               char *msg);

/* ElectLeaders (api 43) for one partition of the topic named by the
 * name_len bytes at name, as Kafka's controller answers: unknown:
 * UNKNOWN_TOPIC_OR_PARTITION. PREFERRED: ELECTION_NOT_NEEDED when
 * replicas[0] leads; replicas[0] when it is live and in the ISR, else the
 * current leader stays (PREFERRED_LEADER_NOT_AVAILABLE) or, without one,
 * the next live in-sync replica. UNCLEAN: ELECTION_NOT_NEEDED when the
 * partition has a leader; else a live ISR member, else the first live
 * replica with the ISR of itself (bk_md_op_elect_unclean), else
 * ELIGIBLE_LEADERS_NOT_AVAILABLE. Appends the change on success. */
int16_t bk_md_op_elect_leader(const struct bk_md_image *img,
                              const char *name,
                              size_t name_len,
                              int32_t partition,
                              enum bk_md_election type,
                              struct bk_md_recs *out,
                              char *msg);

/* auto.leader.rebalance.enable's check: for every broker whose share of
 * the partitions it is preferred leader of (replicas[0]) but does not lead
 * exceeds `percentage` (leader.imbalance.per.broker.percentage), a
 * preferred election of those partitions where it is live and in the ISR.
 * Appends at most max changes; returns how many. */
size_t bk_md_op_balance_leaders(const struct bk_md_image *img,
                                int32_t percentage,
                                size_t max,
                                struct bk_md_recs *out);

/* Unclean elections for the leaderless partitions of topics that allow
 * them (bk_md_unclean_enabled with unclean_default), as Kafka's controller
 * retries them: a live ISR member first, else the first live replica.
 * Appends at most max changes; returns how many. */
size_t bk_md_op_elect_leaderless(const struct bk_md_image *img,
                                 bool unclean_default,
                                 size_t max,
                                 struct bk_md_recs *out);

/* Hands the next block of BK_MD_PRODUCER_ID_BLOCK producer ids to a broker;
 * *first gets its first id. STALE_BROKER_EPOCH when the broker is not
 * registered with that epoch. */
int16_t bk_md_op_alloc_producer_ids(const struct bk_md_image *img,
                                    int32_t broker_id,
                                    int64_t broker_epoch,
                                    struct bk_md_recs *out,
                                    int64_t *first,
                                    char *msg);

/* ---- brokers and controllers (ops_brokers.c) ---- */

/* A BrokerRegistration (api 62) as the controller checks it. Strings are
 * borrowed C strings. */
struct bk_md_registration {
    int32_t id;
    struct bk_uuid incarnation; /* random per broker process */
    const char *cluster_id;     /* NULL: not checked (tests, tools) */
    const char *host;           /* the advertised client endpoint */
    int32_t port;
    const char *rack; /* NULL when broker.rack is unset */
    bool fenced;      /* Kafka registers fenced; tests may register live */
};

/* Registers (or re-registers) a broker. Kafka's rules: the cluster id must
 * be the cluster's (INCONSISTENT_CLUSTER_ID); the same incarnation
 * registering again gets its epoch back and appends nothing (a retry after
 * a lost answer); otherwise the broker epoch is the image's offset, so it
 * grows with every registration. The first registration on a log also
 * finalizes the features and records the cluster id. Whether another
 * incarnation still holds a live session (DUPLICATE_BROKER_REGISTRATION)
 * is the caller's to check: sessions are not metadata. *epoch gets the
 * epoch. */
int16_t bk_md_op_register(const struct bk_md_image *img,
                          const struct bk_md_registration *reg,
                          struct bk_md_recs *out,
                          int64_t *epoch,
                          char *msg);

/* bk_md_op_register() of a live broker without cluster id or incarnation:
 * for tests and tools that need brokers in an image. */
int16_t bk_md_op_register_broker(const struct bk_md_image *img,
                                 int32_t id,
                                 const char *host,
                                 int32_t port,
                                 const char *rack,
                                 struct bk_md_recs *out,
                                 int64_t *epoch,
                                 char *msg);

/* What the controller does to a registered broker. */
enum bk_md_broker_change {
    BK_MD_FENCE,     /* missed its session, or asked to be fenced */
    BK_MD_UNFENCE,   /* caught up with the metadata */
    BK_MD_SHUT_DOWN, /* controlled shutdown: keeps serving, leads nothing */
};

/* Changes a broker's state, keeping its epoch, and moves partition
 * leadership as Kafka's controller does (replication-notes.md §8): a
 * fenced or shutting-down broker leaves the ISR of every partition where
 * others remain and gives up its leaderships to the next in-sync replica
 * that is live, or to no leader (-1) when it was the last one; an
 * unfenced broker takes back the leaderless partitions whose ISR names it.
 * Where a topic allows unclean elections (bk_md_unclean_enabled with
 * unclean_default, replication-notes.md §7), a partition left without a
 * leader goes to its first live replica instead (bk_md_op_elect_unclean),
 * and an unfenced broker may lead a leaderless partition it is not in
 * sync for. BROKER_NOT_AVAILABLE when it is not registered. */
int16_t bk_md_op_broker_change(const struct bk_md_image *img,
                               int32_t id,
                               enum bk_md_broker_change change,
                               bool unclean_default,
                               struct bk_md_recs *out,
                               char *msg);

/* Number of partitions broker id leads in img. */
size_t bk_md_led_partitions(const struct bk_md_image *img, int32_t id);

/* Records where controller id serves the controller's requests, when the
 * image says otherwise (nothing is appended when it already says so), and
 * the cluster id when the log has none yet. INCONSISTENT_CLUSTER_ID when
 * the log belongs to another cluster. */
int16_t bk_md_op_register_controller(const struct bk_md_image *img,
                                     int32_t id,
                                     const struct bk_uuid *incarnation,
                                     const char *host,
                                     int32_t port,
                                     const char *cluster_id,
                                     struct bk_md_recs *out,
                                     char *msg);

/* UpdateFeatures' upgrade types (KIP-778). */
enum bk_md_upgrade_type {
    BK_MD_UPGRADE = 1,
    BK_MD_SAFE_DOWNGRADE = 2,
    BK_MD_UNSAFE_DOWNGRADE = 3,
};

struct bk_md_feature_update {
    struct bk_str name;  /* borrowed */
    int16_t level;       /* 0: finalize nothing (delete) */
    int8_t upgrade_type; /* enum bk_md_upgrade_type */
};

/* UpdateFeatures: validates every update against the image and the ranges
 * of cluster/features.h as Kafka's controller does, and appends a feature
 * record for each level that changes. The first invalid update fails them
 * all with BK_MD_KERR_FEATURE_UPDATE_FAILED and Kafka's message, which
 * names controller_id (the node that validated). */
int16_t bk_md_op_update_features(const struct bk_md_image *img,
                                 int32_t controller_id,
                                 const struct bk_md_feature_update *u,
                                 size_t n,
                                 struct bk_md_recs *out,
                                 char *msg);

/* Appends the initial feature levels (cluster/features.h) when img has none
 * finalized yet (a new log, or one written before feature records); else
 * appends nothing. Returns 0 or BK_MD_KERR_UNKNOWN_SERVER_ERROR. */
int16_t bk_md_op_bootstrap_features(const struct bk_md_image *img,
                                    struct bk_md_recs *out);

#endif /* BK_CLUSTER_OPS_H */
