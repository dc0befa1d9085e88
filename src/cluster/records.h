/* Versioned metadata records and the batch format of one Raft entry.
 *
 * Cluster metadata is a log of records (docs/metadata.md). Several records
 * travel in ONE raft entry (raft-notes.md §3.4: always raft_apply with n=1),
 * and one entry applies atomically: the state machine applies its records in
 * order and publishes one new image afterwards.
 *
 * Entry (batch) layout, all integers big-endian or varint (protocol/prim.h):
 *
 *   u8        format           BK_MD_BATCH_FORMAT (1)
 *   uvarint   count            number of records that follow
 *   count x record:
 *     uvarint type             enum bk_md_rec_type
 *     uvarint version          the body version the writer used
 *     uvarint body_len         bytes of the body
 *     body                     the fields of that type, in version order
 *   0-7 zero bytes             padding to a multiple of 8 (raft_uv 0.15
 *                              needs entry lengths that are multiples of 8)
 *
 * A body of version V holds the fields of versions 0..V in order; a reader
 * that knows version K < V reads its fields and skips the rest (body_len),
 * so a field may only ever be appended, with a new version. A record type the
 * reader does not know is an error (BK_EUNSUPPORTED): mixed-version clusters
 * need a feature gate before a new type is written. The finalized features
 * (BK_MD_REC_FEATURE, cluster/features.h) are that gate from now on; the
 * feature records themselves are the one type an older brokerd cannot read.
 *
 * Strings are compact (uvarint length+1, 0 = null), int32 arrays are compact
 * arrays of big-endian int32. Decoded strings are views into the entry
 * buffer (borrowed); decoded arrays live in the caller's arena. */
#ifndef BK_CLUSTER_RECORDS_H
#define BK_CLUSTER_RECORDS_H

#include <stddef.h>
#include <stdint.h>

#include "common/arena.h"
#include "protocol/prim.h"

#define BK_MD_BATCH_FORMAT 1

/* Kafka's ConfigResource types (DescribeConfigs). */
#define BK_MD_RES_TOPIC  2
#define BK_MD_RES_BROKER 4

/* Upper bounds checked by the decoder and by the controller operations. */
#define BK_MD_MAX_NAME       249    /* Kafka's topic name limit */
#define BK_MD_MAX_STR        65535  /* any other string */
#define BK_MD_MAX_REPLICAS   1024   /* replicas or ISR of a partition */
#define BK_MD_MAX_PARTITIONS 100000 /* partitions of one topic */

enum bk_md_rec_type {
    /* A broker registered (or re-registered: the newest wins). */
    BK_MD_REC_BROKER = 1,
    /* A topic was created: name and its random topic id. */
    BK_MD_REC_TOPIC = 2,
    /* The full state of one partition: creates partition `partition` when it
     * equals the topic's partition count, else replaces it. */
    BK_MD_REC_PARTITION = 3,
    /* Set (value != null) or delete (value null) one config of a resource. */
    BK_MD_REC_CONFIG = 4,
    /* A topic was deleted (by id), with its partitions and configs. */
    BK_MD_REC_REMOVE_TOPIC = 5,
    /* A block of producer ids was handed to a broker. */
    BK_MD_REC_PRODUCER_IDS = 6,
    /* The finalized level of one feature (KIP-584; Kafka's
     * FeatureLevelRecord): 0 finalizes nothing for it. */
    BK_MD_REC_FEATURE = 7,
    /* The cluster id (meta.properties' cluster.id), written once by the
     * first active controller: a node formatted for another cluster sees
     * the difference and refuses to go on (issue 12). */
    BK_MD_REC_CLUSTER = 8,
    /* Where a controller serves the controller's Kafka requests
     * (BrokerRegistration, BrokerHeartbeat, forwarded admin requests):
     * written by each controller when it becomes active, so that every
     * node can reach the active one (Kafka's RegisterControllerRecord). */
    BK_MD_REC_CONTROLLER = 9,
    /* A user's SCRAM credential for one mechanism, set or replaced
     * (Kafka's UserScramCredentialRecord): salt, iterations, StoredKey and
     * ServerKey, never the password (issue 15). */
    BK_MD_REC_SCRAM = 10,
    /* A user's SCRAM credential for one mechanism was deleted (Kafka's
     * RemoveUserScramCredentialRecord). */
    BK_MD_REC_REMOVE_SCRAM = 11,
    /* An ACL was created (Kafka's AccessControlEntryRecord): its id and
     * binding (authz/authz.h). A duplicate id or binding is skipped. */
    BK_MD_REC_ACL = 12,
    /* An ACL was deleted, by id (RemoveAccessControlEntryRecord). */
    BK_MD_REC_REMOVE_ACL = 13,
    /* Set or remove one client quota value of one entity (Kafka's
     * ClientQuotaRecord; cluster/quotas.h). */
    BK_MD_REC_CLIENT_QUOTA = 14,
};

#define BK_MD_REC_TYPE_MAX 14

/* Current body version written for each type. */
#define BK_MD_BROKER_VERSION       1
#define BK_MD_TOPIC_VERSION        0
#define BK_MD_PARTITION_VERSION    3
#define BK_MD_CONFIG_VERSION       0
#define BK_MD_REMOVE_TOPIC_VERSION 0
#define BK_MD_PRODUCER_IDS_VERSION 0
#define BK_MD_FEATURE_VERSION      0
#define BK_MD_CLUSTER_VERSION      0
#define BK_MD_CONTROLLER_VERSION   0
#define BK_MD_CLIENT_QUOTA_VERSION 0

/* Parts of a client quota entity (user, client-id, ip). */
#define BK_MD_QUOTA_MAX_PARTS      3
#define BK_MD_SCRAM_VERSION        0
#define BK_MD_REMOVE_SCRAM_VERSION 0

/* Bounds of a SCRAM credential's fields. */
#define BK_MD_MAX_SCRAM_SALT     128
#define BK_MD_MAX_SCRAM_KEY      64
#define BK_MD_ACL_VERSION        0
#define BK_MD_REMOVE_ACL_VERSION 0

struct bk_md_broker_rec {
    int32_t id;
    int64_t epoch; /* broker epoch, assigned by the controller */
    struct bk_str host;
    int32_t port;
    struct bk_str rack; /* null when broker.rack is unset */
    bool fenced;
    /* v1: the random id of the registering process (a restart gets a new
     * one); all zero in v0 records. */
    struct bk_uuid incarnation;
    /* v1: the broker asked to shut down and is leaving its leaderships
     * (Kafka's BrokerRegistrationChangeRecord InControlledShutdown). */
    bool in_controlled_shutdown;
};

struct bk_md_cluster_rec {
    struct bk_str cluster_id;
};

struct bk_md_controller_rec {
    int32_t id; /* node.id */
    struct bk_uuid incarnation;
    struct bk_str host;
    int32_t port;
};

struct bk_md_topic_rec {
    struct bk_str name;
    struct bk_uuid id;
};

struct bk_md_partition_rec {
    struct bk_uuid topic_id;
    int32_t partition;
    int32_t n_replicas;
    const int32_t *replicas;
    int32_t n_isr;
    const int32_t *isr;
    int32_t leader; /* -1: no leader */
    int32_t leader_epoch;
    int32_t partition_epoch;
    /* v1: KIP-704's leader recovery state, 1 (RECOVERING) after an unclean
     * election until the leader reports it recovered; 0 in v0 records. */
    int8_t leader_recovery_state;
    /* v2: a reassignment in progress (KIP-455; Kafka's PartitionRecord
     * AddingReplicas/RemovingReplicas): replicas holds the original and the
     * target replicas together; adding are the target's replicas that were
     * not original, removing the original ones the target drops. Both
     * empty (n 0) when no reassignment is in progress, and in v0-1
     * records. */
    int32_t n_adding;
    const int32_t *adding;
    int32_t n_removing;
    const int32_t *removing;
    /* v3: KIP-966's eligible leader replicas (replicas that left the ISR
     * while it was below min.insync.replicas and so hold every committed
     * record) and the last known ELR (Kafka 4.x keeps there the last
     * leader of a partition whose ISR became empty). Empty in v0-2
     * records and while eligible.leader.replicas.version is 0. */
    int32_t n_elr;
    const int32_t *elr;
    int32_t n_last_known_elr;
    const int32_t *last_known_elr;
};

struct bk_md_config_rec {
    int8_t resource_type;   /* BK_MD_RES_TOPIC or BK_MD_RES_BROKER */
    struct bk_str resource; /* topic name, or broker id ("" = cluster) */
    struct bk_str name;
    struct bk_str value; /* null: delete the config */
};

struct bk_md_remove_topic_rec {
    struct bk_uuid topic_id;
};

struct bk_md_producer_ids_rec {
    int32_t broker_id;
    int64_t broker_epoch;
    int64_t first_id; /* must equal the image's next producer id */
    int32_t count;
};

/* Codes as Kafka's (authz/authz.h: BK_ACL_RES_*, BK_ACL_PAT_*, ...). */
struct bk_md_acl_rec {
    struct bk_uuid id;
    int8_t res_type;
    struct bk_str name;
    int8_t pattern;
    struct bk_str principal;
    struct bk_str host;
    int8_t op;
    int8_t perm;
};

struct bk_md_remove_acl_rec {
    struct bk_uuid id;
};

struct bk_md_feature_rec {
    struct bk_str name; /* a feature of cluster/features.h */
    int16_t level;      /* >= 0 */
};

/* Kafka's ClientQuotaRecord: the entity as (type, name) pairs, a null name
 * being the type's default, then the key and its value, or remove. */
struct bk_md_client_quota_rec {
    uint8_t n_entity; /* 1..BK_MD_QUOTA_MAX_PARTS */
    struct {
        struct bk_str type;
        struct bk_str name; /* null: the default */
    } entity[BK_MD_QUOTA_MAX_PARTS];
    struct bk_str key;
    double value;
    bool remove;
};

struct bk_md_scram_rec {
    struct bk_str name;
    int8_t mechanism; /* 1 SCRAM-SHA-256, 2 SCRAM-SHA-512 */
    struct bk_bytes salt;
    struct bk_bytes stored_key;
    struct bk_bytes server_key;
    int32_t iterations;
};

struct bk_md_remove_scram_rec {
    struct bk_str name;
    int8_t mechanism;
};

struct bk_md_rec {
    uint16_t type;    /* enum bk_md_rec_type */
    uint16_t version; /* body version; the encoder writes the current one */
    union {
        struct bk_md_broker_rec broker;
        struct bk_md_topic_rec topic;
        struct bk_md_partition_rec partition;
        struct bk_md_config_rec config;
        struct bk_md_remove_topic_rec remove_topic;
        struct bk_md_producer_ids_rec producer_ids;
        struct bk_md_feature_rec feature;
        struct bk_md_cluster_rec cluster;
        struct bk_md_controller_rec controller;
        struct bk_md_client_quota_rec client_quota;
        struct bk_md_scram_rec scram;
        struct bk_md_remove_scram_rec remove_scram;
        struct bk_md_acl_rec acl;
        struct bk_md_remove_acl_rec remove_acl;
    } u;
};

/* Encoded size of one record, header included. */
size_t bk_md_rec_size(const struct bk_md_rec *rec);

/* Appends one record (header and body, current version) to wr. Errors are
 * sticky in wr->err. */
void bk_md_rec_encode(struct bk_wr *wr, const struct bk_md_rec *rec);

/* Size of the batch header for count records. */
size_t bk_md_batch_header_size(size_t count);

/* Writes the batch header. */
void bk_md_batch_header_encode(struct bk_wr *wr, size_t count);

/* Encodes n records as one batch into a buffer from alloc (raft_malloc for
 * raft entries, bk_malloc otherwise). On success *out (returns owned,
 * allocated with alloc) and *out_len are set. Returns 0 or BK_ENOMEM, or
 * BK_EINVAL for a record that cannot be encoded (an unknown type). */
int bk_md_batch_encode(const struct bk_md_rec *recs,
                       size_t n,
                       void *(*alloc)(size_t),
                       void **out,
                       size_t *out_len);

/* Decodes one batch. *recs is allocated in arena (as are the int32 arrays);
 * strings are views into buf, so buf must outlive the records (borrowed).
 * Returns 0, BK_EPROTO on malformed bytes, BK_EUNSUPPORTED for an unknown
 * record type or batch format, or BK_ENOMEM. */
int bk_md_batch_decode(const void *buf,
                       size_t len,
                       struct bk_arena *arena,
                       struct bk_md_rec **recs,
                       size_t *n);

/* Human name of a record type ("topic"), or "unknown". */
const char *bk_md_rec_type_name(unsigned type);

#endif /* BK_CLUSTER_RECORDS_H */
