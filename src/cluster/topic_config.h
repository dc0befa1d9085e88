/* Kafka's topic-level configs and the CreateTopics validation rules.
 *
 * The table holds every topic config brokerd accepts, with Kafka's name,
 * type, default, valid range or value set, and whether a change takes
 * effect on a running partition without a restart ("live"). Validation
 * answers with Kafka's error codes and a message in Kafka's words, so that
 * the admin handlers can put both on the wire unchanged. Pure functions. */
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

/* Kafka's ConfigDef types, numbered as DescribeConfigs v3+ reports them. */
enum bk_md_cfg_type {
    BK_MD_CFG_BOOLEAN = 1,
    BK_MD_CFG_STRING = 2,
    BK_MD_CFG_INT = 3,
    BK_MD_CFG_SHORT = 4,
    BK_MD_CFG_LONG = 5,
    BK_MD_CFG_DOUBLE = 6,
    BK_MD_CFG_LIST = 7,
};

struct bk_md_cfg_def {
    const char *name;
    enum bk_md_cfg_type type;
    const char *dflt; /* Kafka's default, as DescribeConfigs shows it */
    bool has_min;
    bool has_max;
    double min; /* numeric types; inclusive */
    double max;
    /* STRING/LIST: the allowed values (NULL-terminated), or NULL for any. */
    const char *const *valid;
    bool live; /* applies to existing partitions without a restart */
    const char *doc;
};

/* The table, sorted by name; *n gets its length. */
const struct bk_md_cfg_def *bk_md_topic_cfg_table(size_t *n);

/* Returns the definition or NULL for an unknown name. */
const struct bk_md_cfg_def *bk_md_topic_cfg_find(const char *name);

/* Checks a value (NUL-terminated, borrowed) for a topic config. Returns
 * BK_MD_KERR_NONE or BK_MD_KERR_INVALID_CONFIG with Kafka's message in msg
 * (BK_MD_MSG_SIZE bytes). */
int16_t bk_md_topic_cfg_check(const char *name, const char *value, char *msg);

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
