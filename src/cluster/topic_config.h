/* Kafka's topic-level configs and the CreateTopics validation rules.
 *
 * The one table of topic configs: every config brokerd accepts, with
 * Kafka's name, type, default, valid range or value set, whether a change
 * takes effect on a running partition without a restart ("live"), its doc,
 * and the broker setting that supplies its default. Validation
 * (CreateTopics, AlterConfigs, IncrementalAlterConfigs), DescribeConfigs,
 * docs/configuration.md and the typed settings partitions apply
 * (struct bk_topic_settings) all read it. Validation answers with Kafka's
 * error codes and a message in Kafka's words, so that the admin handlers
 * can put both on the wire unchanged. Pure functions. */
#ifndef BK_CLUSTER_TOPIC_CONFIG_H
#define BK_CLUSTER_TOPIC_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Kafka error codes used by the metadata controller operations (a local
 * copy, so that cluster/ does not depend on the generated protocol code). */
#define BK_MD_KERR_NONE                       0
#define BK_MD_KERR_UNKNOWN_TOPIC_OR_PARTITION 3
#define BK_MD_KERR_INVALID_TOPIC_EXCEPTION    17
#define BK_MD_KERR_TOPIC_ALREADY_EXISTS       36
#define BK_MD_KERR_INVALID_PARTITIONS         37
#define BK_MD_KERR_INVALID_REPLICATION_FACTOR 38
#define BK_MD_KERR_INVALID_REQUEST            42
#define BK_MD_KERR_INVALID_CONFIG             40
#define BK_MD_KERR_POLICY_VIOLATION           44
#define BK_MD_KERR_UNKNOWN_SERVER_ERROR       (-1)

/* Size of the human message buffers the validators fill. */
#define BK_MD_MSG_SIZE 256

/* Kafka's ConfigDef types, numbered as DescribeConfigs v3+ reports them.
 * The broker table (server/config.c) uses the same numbering. */
enum bk_md_cfg_type {
    BK_MD_CFG_BOOLEAN = 1,
    BK_MD_CFG_STRING = 2,
    BK_MD_CFG_INT = 3,
    BK_MD_CFG_SHORT = 4,
    BK_MD_CFG_LONG = 5,
    BK_MD_CFG_DOUBLE = 6,
    BK_MD_CFG_LIST = 7,
    BK_MD_CFG_CLASS = 8,
    BK_MD_CFG_PASSWORD = 9,
};

/* Kafka's lower-case type name ("int", "long", ...), as the docs show it. */
const char *bk_md_cfg_type_name(enum bk_md_cfg_type t);

/* Marks a row that has no typed field in struct bk_topic_settings (kept for
 * validation and DescribeConfigs only). */
#define BK_TOPIC_NO_FIELD ((size_t)-1)

/* One row of the topic config table: everything parsing, validation,
 * DescribeConfigs, CreateTopics and docs/configuration.md know of a topic
 * config. Strings are static. */
struct bk_md_cfg_def {
    const char *name;
    enum bk_md_cfg_type type;
    const char *dflt; /* Kafka's default, as DescribeConfigs shows it */
    bool has_min;
    bool has_max;
    double min; /* numeric types; inclusive */
    double max;
    /* STRING/LIST: the allowed values (NULL-terminated), or NULL for any.
     * The typed value of a STRING is the index into this list, of a LIST
     * the bit set of the indexes present (enums below). */
    const char *const *valid;
    bool live; /* applies to existing partitions without a restart */
    const char *doc;
    /* The broker setting that gives the default when a topic does not set
     * the config (Kafka's ServerTopicConfigSynonyms), that setting's own
     * default as Kafka shows it, and the factor from its unit to the topic
     * config's (log.retention.hours -> retention.ms: 3600000). NULL: no
     * broker setting. */
    const char *broker;
    const char *broker_dflt;
    int64_t broker_scale;
    size_t field; /* offset in struct bk_topic_settings, or BK_TOPIC_NO_FIELD */
};

/* Typed values of the topic configs that are STRING or LIST with a valid
 * set: the index (STRING) or bit (LIST) of the value in the row's list. */
#define BK_TOPIC_CLEANUP_COMPACT (1u << 0)
#define BK_TOPIC_CLEANUP_DELETE  (1u << 1)

enum bk_topic_compression {
    BK_TOPIC_COMPRESSION_UNCOMPRESSED = 0,
    BK_TOPIC_COMPRESSION_ZSTD = 1,
    BK_TOPIC_COMPRESSION_LZ4 = 2,
    BK_TOPIC_COMPRESSION_SNAPPY = 3,
    BK_TOPIC_COMPRESSION_GZIP = 4,
    BK_TOPIC_COMPRESSION_PRODUCER = 5,
};

enum bk_topic_timestamp_type {
    BK_TOPIC_TIMESTAMP_CREATE_TIME = 0,
    BK_TOPIC_TIMESTAMP_LOG_APPEND_TIME = 1,
};

/* A topic's configs parsed and validated once: explicit topic configs over
 * the broker's defaults over Kafka's. Field names follow the config names;
 * what partitions apply, so they never parse strings. */
struct bk_topic_settings {
    uint32_t cleanup_policy;        /* BK_TOPIC_CLEANUP_* bits */
    int32_t compression_type;       /* enum bk_topic_compression */
    int32_t message_timestamp_type; /* enum bk_topic_timestamp_type */
    int64_t compression_gzip_level;
    int64_t compression_lz4_level;
    int64_t compression_zstd_level;
    int64_t delete_retention_ms;
    int64_t file_delete_delay_ms;
    int64_t flush_messages;
    int64_t flush_ms;
    int64_t index_interval_bytes;
    int64_t local_retention_bytes;
    int64_t local_retention_ms;
    int64_t max_compaction_lag_ms;
    int64_t max_message_bytes;
    int64_t message_timestamp_after_max_ms;
    int64_t message_timestamp_before_max_ms;
    int64_t min_compaction_lag_ms;
    int64_t min_insync_replicas;
    int64_t retention_bytes;
    int64_t retention_ms;
    int64_t segment_bytes;
    int64_t segment_index_bytes;
    int64_t segment_jitter_ms;
    int64_t segment_ms;
    double min_cleanable_dirty_ratio;
    bool message_downconversion_enable;
    bool preallocate;
    bool remote_storage_enable;
    bool unclean_leader_election_enable;
};

/* The table, sorted by name; *n gets its length. */
const struct bk_md_cfg_def *bk_md_topic_cfg_table(size_t *n);

/* Returns the definition or NULL for an unknown name. */
const struct bk_md_cfg_def *bk_md_topic_cfg_find(const char *name);

/* Checks a value (NUL-terminated, borrowed) for a topic config. Returns
 * BK_MD_KERR_NONE or BK_MD_KERR_INVALID_CONFIG with Kafka's message in msg
 * (BK_MD_MSG_SIZE bytes). */
int16_t bk_md_topic_cfg_check(const char *name, const char *value, char *msg);

/* Checks value as bk_md_topic_cfg_check() does and, when valid, stores its
 * typed form in s. The same parser serves both, so what validation accepts
 * is what partitions apply (" 100 " is 100 for both). */
int16_t bk_topic_settings_set(struct bk_topic_settings *s,
                              const char *name,
                              const char *value,
                              char *msg);

/* Fills s with Kafka's default of every config (the table's dflt). */
void bk_topic_settings_default(struct bk_topic_settings *s);

/* Looks up a broker setting's effective value by name; NULL when the
 * broker has no such setting. Returns a borrowed string, or buf (buflen
 * bytes, the caller's) filled with the value's text. */
typedef const char *(*bk_topic_broker_lookup_cb)(const char *name,
                                                 void *data,
                                                 char *buf,
                                                 size_t buflen);

/* Fills s with the defaults a topic gets from the broker: for each config
 * with a broker synonym the broker has, that value (times the row's scale;
 * a negative retention in hours means no limit, -1), else Kafka's default.
 * Returns 0, or BK_MD_KERR_INVALID_CONFIG with a message naming the broker
 * setting and the reason in msg (BK_MD_MSG_SIZE). */
int16_t bk_topic_settings_broker_defaults(struct bk_topic_settings *s,
                                          bk_topic_broker_lookup_cb lookup,
                                          void *data,
                                          char *msg);

/* The broker values topic defaults come from once settings change live
 * (KIP-226): a value set dynamically for this broker wins over one set for
 * all brokers (resource ""), which wins over the static configuration.
 * Only settings the static lookup knows take a dynamic value, so a key
 * brokerd does not have, stored as Kafka stores it, changes nothing. All
 * pointers are borrowed; per_broker and cluster may be NULL. */
struct bk_md_configs;
struct bk_topic_dyn_lookup {
    const struct bk_md_configs *per_broker;
    const struct bk_md_configs *cluster;
    bk_topic_broker_lookup_cb static_lookup;
    void *static_data;
};

/* A bk_topic_broker_lookup_cb over a struct bk_topic_dyn_lookup (data). */
const char *bk_topic_dyn_lookup(const char *name,
                                void *data,
                                char *buf,
                                size_t buflen);

/* Formats the topic-config value that broker setting value bvalue gives
 * row d (scaled) into out. Returns out, or NULL when bvalue is no number
 * for a scaled row. */
const char *bk_topic_cfg_from_broker(const struct bk_md_cfg_def *d,
                                     const char *bvalue,
                                     char *out,
                                     size_t outlen);

struct bk_md_configs;

/* Resolves a topic's settings: defaults (borrowed; NULL means Kafka's),
 * then each explicit config (borrowed; may be NULL). A stored value that no
 * longer parses (written by an older, looser brokerd) keeps the default. */
void bk_topic_settings_resolve(struct bk_topic_settings *out,
                               const struct bk_topic_settings *defaults,
                               const struct bk_md_configs *explicit);

/* Kafka's topic name rules: not empty, not "." or "..", at most 249 bytes,
 * only [a-zA-Z0-9._-]. Returns BK_MD_KERR_NONE or
 * BK_MD_KERR_INVALID_TOPIC_EXCEPTION with the message. */
int16_t bk_md_topic_name_check(const char *name, size_t len, char *msg);

/* True when a and b differ but are the same once '.' is read as '_'
 * (their metric names would collide; Kafka refuses the second one). */
bool bk_md_topic_names_collide(const char *a,
                               size_t alen,
                               const char *b,
                               size_t blen);

#endif /* BK_CLUSTER_TOPIC_CONFIG_H */
