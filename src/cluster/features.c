#include "cluster/features.h"

#include <string.h>

#include "common/assert.h"

/* The ranges are what brokerd implements, not what Kafka 4.1 does:
 *
 * metadata.version: 7 (3.3-IV3), the first KRaft level, only. Every
 * capability Kafka gates on a later level is absent from brokerd's metadata
 * log: ZK migration (8), SCRAM records (11), metadata transactions (13,
 * KIP-868), delegation tokens (14), controller registration (15, KIP-919),
 * directory assignment (17, KIP-858), eligible leader replicas (23,
 * KIP-966). Raising it would tell tools that those exist.
 *
 * kraft.version: 0 only. Level 1 is KIP-853's dynamic quorum (AddRaftVoter,
 * RemoveRaftVoter); brokerd's voters are static (controller.quorum.voters).
 *
 * group.version: 0-1, finalized 1. Level 1 is the KIP-848 consumer group
 * protocol (ConsumerGroupHeartbeat), which brokerd serves.
 *
 * transaction.version: 0-2, finalized 2 as on a new Kafka 4.x cluster.
 * Level 2 is KIP-890 part 2: clients that see it finalized send Produce
 * v12 without AddPartitionsToTxn, EndTxn v5 (an epoch bump per
 * transaction) and TxnOffsetCommit v5, which brokerd serves; below 2
 * they use the earlier protocol, also served. brokerd writes
 * __transaction_state values v1 for the transactions of level 2 clients
 * and v0 for the others (Kafka writes v1 from level 1; both are Kafka's,
 * and brokerd reads both).
 *
 * eligible.leader.replicas.version: 0-1, finalized 1 on a new metadata
 * log as Kafka 4.1 does on a new cluster (KIP-966 part 1). At 1 the
 * controller keeps each partition's eligible leader replicas while its
 * ISR is below min.insync.replicas and elects from them when the ISR is
 * empty (ops_elr.c). A log that already holds topics when the features
 * are first finalized (written before feature records) stays at 0, as a
 * Kafka cluster upgraded in place does. Kafka also requires
 * metadata.version 4.0-IV1 for it; brokerd's metadata log is its own, so
 * the partition records carry the lists from record version 3 instead. */
static const struct bk_md_feature_def defs[BK_MD_N_FEATURES] = {
    [BK_MD_FEAT_METADATA] = { "metadata.version", 7, 7, 7 },
    [BK_MD_FEAT_KRAFT] = { "kraft.version", 0, 0, 0 },
    [BK_MD_FEAT_GROUP] = { "group.version", 0, 1, 1 },
    [BK_MD_FEAT_TXN] = { "transaction.version", 0, 2, 2 },
    [BK_MD_FEAT_ELR] = { "eligible.leader.replicas.version", 0, 1, 1 },
};

const struct bk_md_feature_def *bk_md_feature_def(unsigned f)
{
    bk_assert(f < BK_MD_N_FEATURES);
    return &defs[f];
}

int bk_md_feature_find(const char *name, size_t len)
{
    for (int f = 0; f < BK_MD_N_FEATURES; f++) {
        if (strlen(defs[f].name) == len &&
            memcmp(defs[f].name, name, len) == 0) {
            return f;
        }
    }
    return -1;
}
