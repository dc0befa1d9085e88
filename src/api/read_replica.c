/* KIP-392: which replica a consumer should fetch from (fan.h,
 * bk_fan_preferred_replica).
 *
 * Kafka's RackAwareReplicaSelector: a consumer that names its rack
 * (client.rack, Fetch v11+ RackId) is served by a replica in the same rack
 * when there is one, the leader first if it is there, else the in-sync
 * follower furthest ahead. The candidates are those of Kafka's
 * ReplicaManager.findPreferredReadReplica: live in-sync replicas whose log
 * holds the offset asked for (replication-notes.md §9), so the consumer
 * finds its records there. The leader then answers with the replica's id
 * and no records; the consumer fetches from that replica until its
 * metadata says otherwise or the replica refuses. */
#include <string.h>

#include "api/fan.h"
#include "cluster/image.h"
#include "partition/replica.h"

static bool same_rack(const char *a, struct bk_str rack)
{
    return a != NULL && strlen(a) == (size_t)rack.len &&
           memcmp(a, rack.ptr, (size_t)rack.len) == 0;
}

int32_t bk_fan_preferred_replica(const struct bk_fan_part *part,
                                 const struct bk_md_image *img,
                                 const struct bk_uuid *topic_id,
                                 int32_t partition,
                                 const struct bk_partition *p,
                                 int64_t fetch_offset,
                                 struct bk_str rack)
{
    const struct bk_api_ctx *ctx = part->fan->call->ctx;
    if (!ctx->rack_aware_reads || rack.len <= 0 || !bk_replica_is_leader(p) ||
        same_rack(ctx->rack, rack)) {
        return -1;
    }
    const struct bk_md_topic *t = bk_md_image_topic_by_id(img, topic_id);
    const struct bk_md_partition *mp =
        t != NULL ? bk_md_topic_partition(t, partition) : NULL;
    int32_t best = -1;
    int64_t best_end = -1;
    for (int32_t i = 0; mp != NULL && i < mp->n_isr; i++) {
        const struct bk_md_broker *b = bk_md_image_broker(img, mp->isr[i]);
        if (b == NULL || b->id == ctx->node_id || b->fenced ||
            b->in_controlled_shutdown || !same_rack(b->rack, rack)) {
            continue;
        }
        int64_t end = bk_replica_peer_end(p, b->id, fetch_offset);
        if (end > best_end) {
            best = b->id;
            best_end = end;
        }
    }
    return best;
}
