/* The records of __consumer_offsets in Kafka's own formats, so that tools
 * reading the topic (kafka-console-consumer with the offsets formatter,
 * kcat, Kafka itself after a migration) understand them:
 *
 *   key   = int16 version + fields (not flexible)
 *     0/1 OffsetCommitKey:    group string, topic string, partition int32
 *     2   GroupMetadataKey:   group string
 *   value = int16 version + fields; a null value is a tombstone
 *     OffsetCommitValue v0-4 (written as v3): offset int64, leaderEpoch
 *       int32 (v3+), metadata string, commitTimestamp int64,
 *       expireTimestamp int64 (v1 only); v4 is the first flexible version
 *     GroupMetadataValue v0-4 (written as v3): protocolType string,
 *       generation int32, protocol nullable string, leader nullable
 *       string, currentStateTimestamp int64 (v2+), members[]: memberId,
 *       groupInstanceId (v3+, nullable), clientId, clientHost,
 *       rebalanceTimeout int32 (v1+), sessionTimeout int32, subscription
 *       bytes, assignment bytes
 *
 * (Kafka's group-coordinator/src/main/resources/common/message/
 * OffsetCommitKey.json, OffsetCommitValue.json, GroupMetadataKey.json,
 * GroupMetadataValue.json.) The KIP-848 records (key versions 3-8) are in
 * cg_records.h; share and streams group records are skipped when
 * loading. */
/* Prefix: bk_gr_ (records of __consumer_offsets), shared with
 * cg_records.h. */
#ifndef BK_GROUP_RECORDS_H
#define BK_GROUP_RECORDS_H

#include <stddef.h>
#include <stdint.h>

#include "common/arena.h"
#include "group/group.h"
#include "protocol/prim.h"

#define BK_GR_KEY_OFFSET 1
#define BK_GR_KEY_GROUP  2

struct bk_gr_key {
    /* 0 or 1: offset commit; 2: group metadata; 3-8: KIP-848 consumer
     * group records (cg_records.h) */
    int16_t version;
    struct bk_str group;
    struct bk_str topic;  /* offset commit only */
    int32_t partition;    /* offset commit only */
    struct bk_str member; /* KIP-848 member records (5, 7, 8) only */
};

struct bk_gr_offset_value {
    int64_t offset;
    int32_t leader_epoch;
    struct bk_str metadata;
    int64_t commit_ms;
    int64_t expire_ms; /* -1 unless v1 */
};

/* Encoders: write into an arena (returns NULL when out of memory). */
struct bk_bytes bk_gr_offset_key(struct bk_arena *a,
                                 struct bk_str group,
                                 struct bk_str topic,
                                 int32_t partition);
struct bk_bytes bk_gr_group_key(struct bk_arena *a, struct bk_str group);
struct bk_bytes bk_gr_offset_value_encode(struct bk_arena *a,
                                          const struct bk_gr_offset_value *v);
/* The group's current membership as GroupMetadataValue v3. */
struct bk_bytes bk_gr_group_value_encode(struct bk_arena *a,
                                         const struct bk_group *g);

/* Decoders: views into the input. Return 0, BK_EPROTO (malformed) or
 * BK_EUNSUPPORTED (a key version this broker does not read). */
int bk_gr_key_decode(struct bk_bytes in, struct bk_gr_key *k);
int bk_gr_offset_value_decode(struct bk_bytes in, struct bk_gr_offset_value *v);
/* members are allocated in a. */
int bk_gr_group_value_decode(struct bk_bytes in,
                             struct bk_arena *a,
                             struct bk_gr_group_meta *m);

#endif /* BK_GROUP_RECORDS_H */
