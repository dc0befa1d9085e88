/* KIP-848 consumer group records of __consumer_offsets, in Kafka's formats
 * (group-coordinator/src/main/resources/common/message/ConsumerGroup*.json)
 * so that Kafka's tools and Kafka itself read them. The key's int16
 * version is the record type; keys are not flexible, values are (version 0,
 * compact strings and arrays, tagged fields):
 *
 *   3 ConsumerGroupMetadata             key: group         value: Epoch
 *   5 ConsumerGroupMemberMetadata       key: group, member value: InstanceId,
 *       RackId, ClientId, ClientHost, SubscribedTopicNames,
 *       SubscribedTopicRegex, RebalanceTimeoutMs, ServerAssignor, tag 0:
 *       ClassicMemberMetadata { SessionTimeoutMs, SupportedProtocols[] }
 *   6 ConsumerGroupTargetAssignmentMetadata key: group value: AssignmentEpoch
 *   7 ConsumerGroupTargetAssignmentMember key: group, member value:
 *       TopicPartitions[] { TopicId, Partitions[] }
 *   8 ConsumerGroupCurrentMemberAssignment key: group, member value:
 *       MemberEpoch, PreviousMemberEpoch, State, AssignedPartitions[],
 *       PartitionsPendingRevocation[]
 *
 * (4, ConsumerGroupPartitionMetadata, is read past: the assignors look
 * topics up in the live metadata.) Keys decode with bk_gr_key_decode. */
/* Prefix: bk_gr_ (records of __consumer_offsets), shared with records.h;
 * KIP-848 record codecs are bk_gr_cg_. */
#ifndef BK_GROUP_CG_RECORDS_H
#define BK_GROUP_CG_RECORDS_H

#include "common/arena.h"
#include "group/consumer.h"
#include "protocol/prim.h"

#define BK_GR_KEY_CG_METADATA        3
#define BK_GR_KEY_CG_PARTITION_META  4
#define BK_GR_KEY_CG_MEMBER          5
#define BK_GR_KEY_CG_TARGET_METADATA 6
#define BK_GR_KEY_CG_TARGET_MEMBER   7
#define BK_GR_KEY_CG_CURRENT         8

/* Encoders write into a (BK_BYTES_NULL when out of memory). member is
 * ignored for the group-level types 3 and 6. */
struct bk_bytes bk_gr_cg_key(struct bk_arena *a,
                             int16_t type,
                             struct bk_str group,
                             struct bk_str member);
/* Types 3 and 6: one int32 epoch. */
struct bk_bytes bk_gr_cg_epoch_value(struct bk_arena *a, int32_t epoch);
struct bk_bytes bk_gr_cg_member_value(struct bk_arena *a,
                                      const struct bk_cgroup *cg,
                                      const struct bk_cmember *m);
struct bk_bytes bk_gr_cg_target_value(struct bk_arena *a,
                                      const struct bk_cgroup_set *target);
struct bk_bytes bk_gr_cg_current_value(struct bk_arena *a,
                                       const struct bk_cmember *m);

/* Decoders: views into in, arrays allocated in a. 0, BK_EPROTO or
 * BK_EUNSUPPORTED (a value version this broker does not know). */
int bk_gr_cg_epoch_decode(struct bk_bytes in, int32_t *epoch);
int bk_gr_cg_member_decode(struct bk_bytes in,
                           struct bk_arena *a,
                           struct bk_cgroup_member_load *m);
int bk_gr_cg_target_decode(struct bk_bytes in,
                           struct bk_arena *a,
                           struct bk_cgroup_tp **tps,
                           size_t *n);
int bk_gr_cg_current_decode(struct bk_bytes in,
                            struct bk_arena *a,
                            struct bk_cgroup_current_load *c);

#endif /* BK_GROUP_CG_RECORDS_H */
