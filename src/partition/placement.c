/* Which shard owns a partition (partition.h). */
#include "partition/partition.h"

unsigned bk_shard_for_partition(uint64_t topic_hash,
                                int32_t partition,
                                unsigned n)
{
    /* Consecutive partitions of one topic land on consecutive shards, so a
     * topic with at least n partitions uses every core; the topic hash
     * staggers where each topic starts. */
    if (n <= 1) {
        return 0;
    }
    uint64_t start = topic_hash % n;
    return (unsigned)((start + (uint32_t)partition) % n);
}
