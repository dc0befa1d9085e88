/* Authorized operations (KIP-430): the bit sets that DescribeCluster,
 * Metadata, DescribeGroups, ConsumerGroupDescribe and
 * DescribeTopicPartitions report for a resource when the client asks.
 *
 * Bit i stands for Kafka's AclOperation code i (READ 3, WRITE 4, CREATE 5,
 * DELETE 6, ALTER 7, DESCRIBE 8, CLUSTER_ACTION 9, DESCRIBE_CONFIGS 10,
 * ALTER_CONFIGS 11, IDEMPOTENT_WRITE 12). Without an authorizer every
 * client may do everything a resource type supports, and the sets are what
 * Kafka 4.1 reports with no authorizer configured (observed on a Kafka 4.1
 * broker): cluster 8096, topic 3576, group 3400. With one, the handlers
 * report what the ACLs allow (api/access.h, bk_api_authz_ops), which gives
 * these same sets when no authorizer is configured. */
#ifndef BK_API_AUTHZ_H
#define BK_API_AUTHZ_H

#include <stdint.h>

/* Not asked for (the include_*_authorized_operations flag was false), or
 * not computed (an entry with an error): Kafka's default, INT32_MIN. */
#define BK_API_AUTHZ_NOT_ASKED INT32_MIN

#define BK_API_AUTHZ_BIT(op) (1 << (op))

/* CREATE, ALTER, DESCRIBE, CLUSTER_ACTION, DESCRIBE_CONFIGS, ALTER_CONFIGS,
 * IDEMPOTENT_WRITE. */
#define BK_API_AUTHZ_CLUSTER                                             \
    (BK_API_AUTHZ_BIT(5) | BK_API_AUTHZ_BIT(7) | BK_API_AUTHZ_BIT(8) |   \
     BK_API_AUTHZ_BIT(9) | BK_API_AUTHZ_BIT(10) | BK_API_AUTHZ_BIT(11) | \
     BK_API_AUTHZ_BIT(12))

/* READ, WRITE, CREATE, DELETE, ALTER, DESCRIBE, DESCRIBE_CONFIGS,
 * ALTER_CONFIGS. */
#define BK_API_AUTHZ_TOPIC                                             \
    (BK_API_AUTHZ_BIT(3) | BK_API_AUTHZ_BIT(4) | BK_API_AUTHZ_BIT(5) | \
     BK_API_AUTHZ_BIT(6) | BK_API_AUTHZ_BIT(7) | BK_API_AUTHZ_BIT(8) | \
     BK_API_AUTHZ_BIT(10) | BK_API_AUTHZ_BIT(11))

/* READ, DELETE, DESCRIBE, DESCRIBE_CONFIGS, ALTER_CONFIGS. */
#define BK_API_AUTHZ_GROUP                                             \
    (BK_API_AUTHZ_BIT(3) | BK_API_AUTHZ_BIT(6) | BK_API_AUTHZ_BIT(8) | \
     BK_API_AUTHZ_BIT(10) | BK_API_AUTHZ_BIT(11))

#endif /* BK_API_AUTHZ_H */
