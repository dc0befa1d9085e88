/* Feature versions (KIP-584): the features brokerd advertises in
 * ApiVersions, the range of levels it implements for each, and the level a
 * new metadata log finalizes.
 *
 * The finalized levels live in the metadata log (BK_MD_REC_FEATURE records,
 * applied to the image); the first broker registration on a log that has
 * none writes the initial levels below, so a fresh cluster and a cluster
 * whose log predates feature records both end up finalized. UpdateFeatures
 * changes them through bk_md_op_update_features() (cluster/ops.h). */
#ifndef BK_CLUSTER_FEATURES_H
#define BK_CLUSTER_FEATURES_H

#include <stddef.h>
#include <stdint.h>

/* The features, in the order of the table in features.c. */
enum bk_md_feature {
    BK_MD_FEAT_METADATA = 0, /* metadata.version */
    BK_MD_FEAT_KRAFT,        /* kraft.version */
    BK_MD_FEAT_GROUP,        /* group.version */
    BK_MD_FEAT_TXN,          /* transaction.version */
    BK_MD_FEAT_ELR,          /* eligible.leader.replicas.version */
    BK_MD_N_FEATURES,
};

struct bk_md_feature_def {
    const char *name; /* static */
    int16_t min;      /* lowest level brokerd supports */
    int16_t max;      /* highest level brokerd supports */
    int16_t initial;  /* the level a new metadata log finalizes */
};

/* The definition of feature f (< BK_MD_N_FEATURES); static. */
const struct bk_md_feature_def *bk_md_feature_def(unsigned f);

/* The feature named by the len bytes at name, or -1 when brokerd does not
 * know it. */
int bk_md_feature_find(const char *name, size_t len);

#endif /* BK_CLUSTER_FEATURES_H */
