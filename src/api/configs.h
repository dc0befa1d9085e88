/* Describing configs the way Kafka's DescribeConfigs does: the value and
 * where it comes from (source), its synonyms in order of precedence, type,
 * documentation, read-only and sensitive flags. Pure functions over the
 * topic config table (cluster/topic_config.h), a topic's explicit configs
 * and the broker's settings (server/config.c's table, copied into the API
 * context); there is no config list of its own here; describe_configs.c puts
 * them on the wire and brokerctl shows the same view. Internal to src/api. */
#ifndef BK_API_CONFIGS_H
#define BK_API_CONFIGS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "api/api.h"
#include "cluster/image.h"
#include "cluster/topic_config.h"
#include "protocol/prim.h"

/* Kafka's ConfigSource numbering (DescribeConfigs v1+). */
#define BK_CFG_SRC_DYNAMIC_TOPIC          1
#define BK_CFG_SRC_DYNAMIC_BROKER         2
#define BK_CFG_SRC_DYNAMIC_DEFAULT_BROKER 3
#define BK_CFG_SRC_STATIC_BROKER          4
#define BK_CFG_SRC_DEFAULT                5

#define BK_CFG_MAX_SYNONYMS 4

struct bk_cfg_synonym {
    const char *name;
    const char *value;
    int8_t source;
};

/* One described config. Strings are borrowed from the inputs (the table,
 * the configs, the context) and live as long as they do. */
struct bk_cfg_entry {
    const char *name;
    const char *value; /* NULL: no value */
    const char *doc;
    int8_t source;
    int8_t type; /* enum bk_md_cfg_type; 0 unknown */
    bool read_only;
    bool sensitive;
    size_t n_synonyms;
    struct bk_cfg_synonym synonyms[BK_CFG_MAX_SYNONYMS];
    char value_buf[32]; /* value may point here (a scaled broker value) */
};

/* The broker setting that provides the default of a topic config, and that
 * setting's own default as Kafka shows it (Kafka's
 * ServerTopicConfigSynonyms; retention.ms -> log.retention.hours = 168).
 * Returns NULL when the topic config has no broker synonym. */
const char *bk_cfg_topic_broker_synonym(const char *name, const char **dflt);

/* Describes topic config def for a topic whose explicit configs are
 * explicit (may be NULL): the explicit value with source
 * DYNAMIC_TOPIC_CONFIG, else the value the broker setting gives (source
 * STATIC_BROKER_CONFIG when set in the config file, DEFAULT_CONFIG when
 * not), else Kafka's default (DEFAULT_CONFIG); synonyms are the explicit
 * value (if any) then the broker synonym. ctx (may be NULL: no broker
 * settings) gives the broker's settings. */
void bk_cfg_describe_topic(const struct bk_api_ctx *ctx,
                           const struct bk_md_cfg_def *def,
                           const struct bk_md_configs *explicit,
                           struct bk_cfg_entry *out);

/* The same, where the broker setting may also be set dynamically for this
 * broker (per_broker) or for all (cluster), both may be NULL: those values
 * come first among the broker synonyms (DYNAMIC_BROKER_CONFIG, then
 * DYNAMIC_DEFAULT_BROKER_CONFIG) and the first one present gives the
 * topic's value, as the partitions apply it (Kafka 4.1's answer). */
void bk_cfg_describe_topic_dyn(const struct bk_api_ctx *ctx,
                               const struct bk_md_cfg_def *def,
                               const struct bk_md_configs *explicit,
                               const struct bk_md_configs *per_broker,
                               const struct bk_md_configs *cluster,
                               struct bk_cfg_entry *out);

/* Describes a broker setting: a value set dynamically for this broker
 * (per_broker) wins over one set for all brokers (cluster_default), which
 * wins over the static configuration (STATIC_BROKER_CONFIG when it differs
 * from the default, else DEFAULT_CONFIG), each a synonym in that order.
 * Read-only unless the setting is dynamic (server/config.c's table).
 * per_broker and cluster_default may be NULL. */
void bk_cfg_describe_broker(const struct bk_api_broker_config *bc,
                            const struct bk_md_configs *per_broker,
                            const struct bk_md_configs *cluster_default,
                            struct bk_cfg_entry *out);

/* Finds a broker setting by name in ctx, or NULL. */
const struct bk_api_broker_config *bk_cfg_broker_find(
    const struct bk_api_ctx *ctx,
    const char *name);

struct bk_md_recs;
struct bk_md_alter;

/* Checks a resource name from the wire before it is used as a C string,
 * as Kafka's controller does: a topic name must follow the topic name rules
 * (INVALID_TOPIC_EXCEPTION; "" is INVALID_REQUEST, no default topic
 * resource), and a broker name must not hold a NUL byte (INVALID_REQUEST:
 * "1\0x" is no broker id). Other resource types pass (bk_cfg_alter refuses
 * them). Returns 0 or a Kafka error code with its message in msg
 * (BK_MD_MSG_SIZE). */
int16_t bk_cfg_check_resource(int8_t res_type,
                              struct bk_str resource,
                              char *msg);

/* Refuses a config name or value holding a NUL byte (INVALID_CONFIG), which
 * a C string would cut short: "retention.ms\0x" must not set retention.ms.
 * Returns 0 or the error with its message in msg (BK_MD_MSG_SIZE). */
int16_t bk_cfg_check_entry(struct bk_str name, struct bk_str value, char *msg);

/* Validates config changes of one resource (Kafka's resource types: 2
 * topic, 4 broker) and appends their records to recs, like
 * bk_md_op_alter_configs(), after refusing what Kafka refuses first: a
 * broker setting brokerd knows that cannot change without a restart
 * (INVALID_REQUEST, "Cannot update these configs dynamically"), a bad
 * value for a dynamic one (INVALID_REQUEST, Kafka's type and range
 * messages; then the rule of the topic config it defaults), a broker
 * resource naming another broker (INVALID_REQUEST: that broker must be
 * asked), and other resource types (INVALID_REQUEST). Returns a Kafka error
 * code with its message in msg (BK_MD_MSG_SIZE). */
int16_t bk_cfg_alter(const struct bk_api_ctx *ctx,
                     const struct bk_md_image *img,
                     int8_t res_type,
                     const char *resource,
                     const struct bk_md_alter *ops,
                     size_t n_ops,
                     struct bk_md_recs *recs,
                     char *msg);

#endif /* BK_API_CONFIGS_H */
