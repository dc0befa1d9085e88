/* brokerctl: shared command-line plumbing. Each command family lives in
 * its own cmd_<family>.c (cluster, and later topic, config, group, ...). */
#ifndef BK_ADMIN_CLI_H
#define BK_ADMIN_CLI_H

#include <stdbool.h>
#include <stdio.h>

#include "admin/client.h"

struct bk_cli {
    const char *bootstrap; /* -b host:port */
    bool json;             /* --json */
    int timeout_ms;        /* --timeout-ms */
};

/* Prints "brokerctl: <msg>" on one line to stderr. Returns 1 (the exit
 * code of a failed command). */
int bk_cli_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Connects to the bootstrap server; prints the failure and returns non-zero
 * on error. */
int bk_cli_connect(const struct bk_cli *cli, struct bk_client *c);

/* brokerctl cluster info */
int bk_cmd_cluster(const struct bk_cli *cli, int argc, char **argv);

/* Prints a refusal by the broker on one line to stderr, "brokerctl:
 * NAME: message" (Kafka's error name, and the broker's message or Kafka's
 * default one when it sent none); with what (may be NULL) in front of the
 * message when several things were asked. Returns 1. */
int bk_cli_kerr(const char *what, int16_t code, struct bk_str message);

/* A topic id as Kafka prints it (URL-safe base64 without padding). */
void bk_cli_uuid(const struct bk_uuid *u, char out[23]);

/* brokerctl topic create|list|describe|delete|alter */
int bk_cmd_topic(const struct bk_cli *cli, int argc, char **argv);

/* brokerctl config get|set|delete --topic T | --broker ID */
int bk_cmd_config(const struct bk_cli *cli, int argc, char **argv);

/* brokerctl produce TOPIC / consume TOPIC */
int bk_cmd_produce(const struct bk_cli *cli, int argc, char **argv);
int bk_cmd_consume(const struct bk_cli *cli, int argc, char **argv);

/* brokerctl quorum add-controller ID HOST:PORT | remove-controller ID */
int bk_cmd_quorum(const struct bk_cli *cli, int argc, char **argv);

/* brokerctl partition elect-leaders [--type T] [--topic T [--partition P]] */
int bk_cmd_partition(const struct bk_cli *cli, int argc, char **argv);

/* brokerctl partition reassign --topic T --partition P (--replicas L |
 * --cancel), partition reassignments; argv[0] is the subcommand. */
int bk_cmd_partition_reassign(const struct bk_cli *cli, int argc, char **argv);

/* ListPartitionReassignments of every partition into *out (allocated in
 * arena). Returns 0, or 1 after printing why not. */
struct bk_msg_list_partition_reassignments_response;
int bk_cli_reassignments(
    const struct bk_cli *cli,
    struct bk_client *c,
    struct bk_arena *arena,
    struct bk_msg_list_partition_reassignments_response *out);

/* The partitions of topic `name` as DescribeTopicPartitions answers them
 * (their eligible_leader_replicas and last_known_elr, KIP-966) in *parts
 * (allocated in arena; the int32 lists live there too, names do not
 * outlive the next call), *n of them; none when the cluster does not
 * serve it or refuses the topic. Returns 0, or 1 after printing why
 * not. */
struct
    bk_msg_describe_topic_partitions_response_describe_topic_partitions_response_partition;
typedef struct
    bk_msg_describe_topic_partitions_response_describe_topic_partitions_response_partition
        bk_cli_elr_part;
int bk_cli_topic_elr(struct bk_client *c,
                     struct bk_arena *arena,
                     struct bk_str name,
                     const bk_cli_elr_part **parts,
                     int32_t *n);

/* brokerctl acl add|list|remove (kafka-acls.sh's options) */
int bk_cmd_acl(const struct bk_cli *cli, int argc, char **argv);

/* brokerctl group list|describe|reset-offsets|delete */
int bk_cmd_group(const struct bk_cli *cli, int argc, char **argv);

/* brokerctl quota set|remove|list (client quotas) */
int bk_cmd_quota(const struct bk_cli *cli, int argc, char **argv);
/* brokerctl user create|delete|list (SCRAM credentials) */
int bk_cmd_user(const struct bk_cli *cli, int argc, char **argv);
/* Points *out at a connection to the coordinator of key (FindCoordinator
 * key_type 0: a group, 1: a transactional id): boot itself (the bootstrap
 * connection, already open) or storage, newly connected (then *same is
 * false and the caller closes it). Returns 0, or 1 after printing why. */
int bk_cli_coordinator(const struct bk_cli *cli,
                       struct bk_client *boot,
                       int8_t key_type,
                       const char *key,
                       struct bk_arena *arena,
                       struct bk_client *storage,
                       struct bk_client **out,
                       bool *same);

/* brokerctl txn list|describe|abort */
int bk_cmd_txn(const struct bk_cli *cli, int argc, char **argv);

#endif /* BK_ADMIN_CLI_H */
