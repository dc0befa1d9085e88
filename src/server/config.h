/* Broker configuration: Kafka-style properties, one declarative table.
 *
 * Every setting is a row of the table in config.c (name, Kafka's type,
 * bounds, default, static or dynamic, doc). The same table parses conf
 * files, validates values, backs DescribeConfigs (through bk_config_each),
 * and writes docs/configuration.md, so they cannot drift. Settings that
 * are the broker-wide default of a topic config (log.retention.hours for
 * retention.ms) are also checked by that topic config's rule. Names are Kafka's
 * where Kafka has the setting; brokerd's own settings say so in their doc.
 *
 * A parsed struct bk_config is immutable. The dynamic settings (topic
 * defaults such as log.segment.bytes) change live as dynamic broker configs
 * in the metadata log, which the partitions overlay on these values
 * (partition/partition.h, struct bk_storage's broker_lookup). */
#ifndef BK_SERVER_CONFIG_H
#define BK_SERVER_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "cluster/topic_config.h"

/* The one replica.selector.class brokerd has (KIP-392). */
#define BK_RACK_AWARE_SELECTOR \
    "org.apache.kafka.common.replica.RackAwareReplicaSelector"

#define BK_MAX_LISTENERS 8
/* As many voters as the metadata quorum takes (cluster/controller.c). */
#define BK_MAX_VOTERS    16
#define BK_MAX_BOOTSTRAP 16
/* listener.name.<name>.ssl.* settings one file may hold. */
#define BK_MAX_LISTENER_OVERRIDES 64
/* Room for bk_config_voters_text() of BK_MAX_VOTERS voters. */
#define BK_VOTERS_TEXT_SIZE (BK_MAX_VOTERS * 280)

/* Kafka's security protocols (SecurityProtocol ids, as BrokerRegistration
 * sends them). */
enum bk_sec_protocol {
    BK_SEC_PLAINTEXT = 0,
    BK_SEC_SSL = 1,
    BK_SEC_SASL_PLAINTEXT = 2,
    BK_SEC_SASL_SSL = 3,
};

struct bk_listener_cfg {
    char name[32]; /* upper case, as Kafka normalises it: "PLAINTEXT" */
    char host[256];
    int port;
    /* From listener.security.protocol.map (listener[] only). */
    enum bk_sec_protocol protocol;
};

/* One entry of controller.quorum.voters ("id@host:port") or of
 * controller.quorum.bootstrap.servers ("host:port", id -1). */
struct bk_voter_cfg {
    int32_t id;
    char host[256]; /* without the brackets of an IPv6 address */
    int port;
};

/* One listener.name.<listener>.[<mechanism>.]<key> setting (Kafka's
 * per-listener override of an ssl.*, sasl.* or connections.max.reauth.ms
 * setting; sasl.jaas.config per mechanism). */
struct bk_listener_override {
    char listener[32]; /* upper case */
    char mech[16];     /* lower case ("plain"), or "" */
    const char *key;   /* static: the setting's name in the table */
    char *value;       /* owned */
};

struct bk_config {
    int64_t node_id;
    char *listeners; /* owned strings */
    char *admin_listeners;
    char *advertised_listeners;
    char *listener_security_protocol_map;
    char *log_dirs;
    char *broker_rack;
    char *replica_selector_class; /* "" or BK_RACK_AWARE_SELECTOR */
    int64_t num_partitions;
    int64_t default_replication_factor;
    bool auto_create_topics_enable;
    /* ACLs (issue 15). */
    char *authorizer_class_name;
    char *super_users;
    bool allow_everyone_if_no_acl_found;
    int64_t num_shards;
    int64_t socket_request_max_bytes;
    int64_t connection_max_inflight_requests;
    int64_t connection_max_queued_bytes;
    int64_t connection_partial_request_timeout_ms;
    int64_t connections_max_idle_ms;
    /* SASL (issue 15); per listener through overrides below. */
    int64_t connection_failed_authentication_delay_ms;
    int64_t connections_max_reauth_ms;
    char *sasl_enabled_mechanisms;
    char *sasl_jaas_config;
    char *sasl_mechanism_controller_protocol;   /* accepted, unused */
    char *sasl_mechanism_inter_broker_protocol; /* accepted, unused */
    int64_t sasl_server_max_receive_size;
    int64_t max_connections;
    int64_t max_connections_per_ip;
    char *max_connections_per_ip_overrides;
    int64_t queued_max_request_bytes;
    /* Client quota measurement (api/quota.h). */
    int64_t quota_window_num;
    int64_t quota_window_size_seconds;
    int64_t request_max_memory_bytes;
    int64_t shutdown_timeout_ms;
    char *logger_level;
    char *log_format;            /* log.format: text or json */
    int64_t log_slow_request_ms; /* -1: off */
    char *controller_quorum_voters;
    char *controller_quorum_bootstrap_servers;
    int64_t controller_quorum_election_timeout_ms;
    char *process_roles;
    char *controller_listener_names;
    char *inter_broker_listener_name;
    int64_t broker_session_timeout_ms;
    int64_t broker_heartbeat_interval_ms;
    /* Leader elections on the active controller (issue 13). */
    bool unclean_leader_election_enable;
    bool auto_leader_rebalance_enable;
    int64_t leader_imbalance_check_interval_seconds;
    int64_t leader_imbalance_per_broker_percentage;
    int64_t initial_broker_registration_timeout_ms;
    int64_t log_max_open_files;
    bool log_cleaner_enable;
    int64_t log_cleaner_backoff_ms;
    int64_t log_cleaner_dedupe_buffer_size;
    int64_t log_dir_min_free_bytes;
    int64_t offsets_topic_num_partitions;
    int64_t offsets_topic_replication_factor;
    int64_t offsets_retention_minutes;
    int64_t transaction_abort_interval_ms;
    int64_t transaction_max_timeout_ms;
    int64_t transaction_state_log_min_isr;
    int64_t transaction_state_log_num_partitions;
    int64_t transaction_state_log_replication_factor;
    int64_t transactional_id_expiration_ms;
    bool transaction_partition_verification_enable;
    int64_t broker_fence_on_disconnect_ms;
    int64_t replica_fetch_backoff_ms;
    int64_t replica_fetch_max_bytes;
    int64_t replica_fetch_response_max_bytes;
    int64_t replica_fetch_wait_max_ms;
    bool replica_fsync_before_ack;
    int64_t replica_lag_time_max_ms;
    int64_t group_initial_rebalance_delay_ms;
    int64_t group_min_session_timeout_ms;
    int64_t group_max_session_timeout_ms;
    int64_t group_max_size;
    int64_t group_consumer_session_timeout_ms;
    int64_t group_consumer_heartbeat_interval_ms;
    int64_t group_consumer_max_size;
    char *group_consumer_migration_policy;
    /* Broker-wide defaults of topic configs (Kafka's names; the topic
     * config table in cluster/topic_config.c names each one's topic
     * config). */
    char *compression_type;
    char *log_cleanup_policy;
    int64_t log_cleaner_delete_retention_ms;
    int64_t log_cleaner_max_compaction_lag_ms;
    int64_t log_cleaner_min_compaction_lag_ms;
    int64_t log_flush_interval_messages;
    int64_t log_index_interval_bytes;
    int64_t log_message_timestamp_after_max_ms;
    int64_t log_message_timestamp_before_max_ms;
    char *log_message_timestamp_type;
    int64_t log_retention_bytes;
    int64_t log_retention_hours;
    int64_t log_roll_hours;
    int64_t log_segment_bytes;
    int64_t message_max_bytes;
    /* TLS of SSL listeners (Kafka's names); each may be overridden per
     * listener (overrides below). */
    char *ssl_cipher_suites;
    char *ssl_client_auth;
    char *ssl_enabled_protocols;
    char *ssl_endpoint_identification_algorithm;
    char *ssl_key_password;
    char *ssl_keystore_certificate_chain;
    char *ssl_keystore_key;
    char *ssl_keystore_location;
    char *ssl_keystore_type;
    char *ssl_principal_mapping_rules;
    char *ssl_truststore_certificates;
    char *ssl_truststore_location;
    char *ssl_truststore_type;
    struct bk_listener_override overrides[BK_MAX_LISTENER_OVERRIDES];
    unsigned noverrides;

    /* Derived by bk_config_finish(). */
    /* What a topic that sets none of its configs gets: the settings above
     * resolved through the topic config table. */
    struct bk_topic_settings topic_defaults;
    struct bk_listener_cfg listener[BK_MAX_LISTENERS];
    unsigned nlisteners;
    /* advertised[i] is what clients of listener[i] are given: its entry
     * in advertised.listeners, else listener[i] itself (nadvertised ==
     * nlisteners). */
    struct bk_listener_cfg advertised[BK_MAX_LISTENERS];
    unsigned nadvertised;
    /* process.roles: a combined node (the default) has both. */
    bool is_broker;
    bool is_controller;
    /* controller.quorum.voters in the order given; nvoters 0 means the
     * single-node quorum of this node alone. */
    struct bk_voter_cfg voter[BK_MAX_VOTERS];
    unsigned nvoters;
    struct bk_voter_cfg bootstrap[BK_MAX_BOOTSTRAP];
    unsigned nbootstrap;
    /* Indexes into listener[]: the listener serving the controller's
     * requests (the first of controller.listener.names) and the one other
     * brokers connect to (inter.broker.listener.name); 0 when unset. */
    unsigned controller_listener;
    unsigned inter_broker_listener;
    /* admin.listeners parsed; admin_on false when it is empty. */
    struct bk_listener_cfg admin;
    bool admin_on;
};

/* Sets every field to its default. */
int bk_config_init(struct bk_config *c);

/* Parses a properties file into c (on top of defaults). On failure returns
 * BK_ECONFIG (or BK_ENOENT/BK_EIO for the file) and writes one line naming
 * the file, line, key and reason into err. */
int bk_config_load(struct bk_config *c,
                   const char *path,
                   char *err,
                   size_t errlen);

/* Sets one key from text, as a line of the file would. */
int bk_config_set(struct bk_config *c,
                  const char *key,
                  const char *value,
                  char *err,
                  size_t errlen);

/* Cross-field checks and derived values (listeners parsed). */
int bk_config_finish(struct bk_config *c, char *err, size_t errlen);

/* The index in c->listener of the listener called name (any case), or
 * -1. */
int bk_config_listener_index(const struct bk_config *c, const char *name);

/* The effective value of string setting key for listener (its
 * listener.name.<listener>.<key> if set, else key's own value). Borrowed
 * from c; NULL for an unknown key. */
const char *bk_config_listener_str(const struct bk_config *c,
                                   const char *listener,
                                   const char *key);

/* Like bk_config_listener_str, for a setting that Kafka also takes per
 * mechanism (listener.name.<listener>.<mech>.<key>, mech lower case such
 * as "plain"): that first, then the listener's, then key's own value. */
const char *bk_config_listener_mech_str(const struct bk_config *c,
                                        const char *listener,
                                        const char *mech,
                                        const char *key);

/* Kafka's name of a security protocol ("SSL"); static. */
const char *bk_sec_protocol_name(enum bk_sec_protocol p);

/* Writes the voters of c as one canonical line, sorted by id
 * ("1@h:9093,2@h:9093"; empty for the single-node quorum), so that two
 * spellings of one voter set compare equal. Returns BK_ERANGE when out is
 * too small. */
int bk_config_voters_text(const struct bk_config *c, char *out, size_t outlen);

/* Whether this node must find its log.dirs formatted (`brokerd format`)
 * rather than format it on first start: it belongs to a quorum of more
 * than one voter, or it is a broker without the controller role, which
 * needs the cluster id of the controllers. */
bool bk_config_needs_format(const struct bk_config *c);

/* Frees owned strings. */
void bk_config_free(struct bk_config *c);

/* One setting as bk_config_each() shows it. Strings are borrowed: name,
 * type, dflt and doc are static; value lives until the callback returns. */
struct bk_config_entry {
    const char *name;
    enum bk_md_cfg_type type; /* Kafka's ConfigDef type */
    const char *value;
    const char *dflt;
    bool dynamic;     /* may change without a restart */
    int64_t min, max; /* bounds of a number (SHORT, INT, LONG) */
    const char *doc;
};

/* Calls cb for every setting of the table, in name order, with its
 * effective value in c (a read-only view, e.g. for DescribeConfigs). */
void bk_config_each(const struct bk_config *c,
                    void (*cb)(const struct bk_config_entry *e, void *data),
                    void *data);

/* Looks up a setting's effective value in the config data as text, or
 * NULL when there is no such setting (a bk_topic_broker_lookup_cb).
 * Numbers and booleans are written into buf; strings are borrowed from
 * the config. */
const char *bk_config_lookup(const char *name,
                             void *data,
                             char *buf,
                             size_t buflen);

/* Writes the Markdown reference of every broker setting and every topic
 * config (docs/configuration.md). */
void bk_config_write_doc(FILE *out);

#endif /* BK_SERVER_CONFIG_H */
