/* Topic lookups shared by brokerctl's data commands. */
#ifndef BK_ADMIN_TOPIC_META_H
#define BK_ADMIN_TOPIC_META_H

#include <stdint.h>

#include "admin/cli.h"
#include "common/arena.h"
#include "protocol/prim.h"

struct bk_topic_meta {
    int32_t partitions;
    struct bk_uuid id;
    int16_t error; /* Kafka error of the topic, 0 if it exists */
};

/* Asks Metadata for topic (auto-creating it when allowed and the broker
 * does so). Retries briefly while the topic has no leader yet. Returns 0
 * with *out filled (out->error may be a Kafka error), or non-zero after
 * printing why. */
int bk_topic_meta_get(const struct bk_cli *cli,
                      struct bk_client *c,
                      const char *topic,
                      bool allow_create,
                      struct bk_topic_meta *out);

/* Kafka's default partitioner for keyed records: murmur2 of the key,
 * made positive, modulo the partition count (Utils.murmur2 and
 * BuiltInPartitioner.partitionForKey), so brokerctl puts a key where
 * every Kafka client would. */
int32_t bk_kafka_partition_for_key(const void *key,
                                   size_t len,
                                   int32_t partitions);

#endif /* BK_ADMIN_TOPIC_META_H */
