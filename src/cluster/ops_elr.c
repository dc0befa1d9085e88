/* Eligible leader replicas on the controller (KIP-966 part 1; ops.h,
 * replication-notes.md §7).
 *
 * Why ELR is safe: with the strict min ISR rule (KAFKA-15583) a leader
 * does not advance the high watermark while its ISR is below the topic's
 * effective min.insync.replicas. So a replica that leaves the ISR while
 * the ISR is already below min ISR (or that takes it below) holds every
 * committed record, and may lead cleanly once the ISR is empty. Kafka's
 * PartitionChangeBuilder (maybePopulateTargetElr, maybeUpdateRecordElr)
 * keeps, for every change of a partition when the feature is at 1:
 *
 *   new ISR >= min ISR: ELR and last known ELR are emptied;
 *   else ELR = (old ISR + old ELR) - new ISR - replicas that shut down
 *        uncleanly, and last known ELR = (old ISR + old ELR + old last
 *        known ELR) - new ISR - new ELR (the replicas that dropped out);
 *   an unclean election empties both;
 *   a change of the topic's min.insync.replicas empties both, and so does
 *   lowering the feature to 0 (ops_features.c).
 *
 * Kafka 4.1 keeps the "last known leader" form of the last known ELR only
 * for the balanced unclean recovery strategy, which it does not run by
 * default; brokerd keeps the form above and never elects from it. */
#include <stdlib.h>
#include <string.h>

#include "cluster/ops.h"

bool bk_md_elr_enabled(const struct bk_md_image *img)
{
    return img->features_finalized && img->features[BK_MD_FEAT_ELR] >= 1;
}

int32_t bk_md_effective_min_isr(const struct bk_md_image *img,
                                const struct bk_md_topic *t,
                                int32_t n_replicas)
{
    static const char *name = "min.insync.replicas";
    const char *v = bk_md_configs_get(&t->configs, name);
    if (v == NULL) {
        const struct bk_md_configs *c = bk_md_image_broker_configs(img, "");
        v = c != NULL ? bk_md_configs_get(c, name) : NULL;
    }
    long min = v != NULL ? strtol(v, NULL, 10) : 1;
    if (min < 1) {
        min = 1;
    }
    /* The same bound as the leader's high watermark rule (min ISR above
     * the replica count counts as the replica count): ELR is only safe
     * where that rule froze the high watermark. */
    return min < n_replicas ? (int32_t)min : n_replicas;
}

static bool has(const int32_t *v, int32_t n, int32_t id)
{
    for (int32_t i = 0; i < n; i++) {
        if (v[i] == id) {
            return true;
        }
    }
    return false;
}

void bk_md_elr_target(const struct bk_md_image *img,
                      const struct bk_md_topic *t,
                      const struct bk_md_partition *p,
                      const int32_t *isr,
                      int32_t n_isr,
                      int32_t unclean_shutdown,
                      int32_t *elr,
                      int32_t *n_elr,
                      int32_t *lke,
                      int32_t *n_lke)
{
    *n_elr = *n_lke = 0;
    if (!bk_md_elr_enabled(img) ||
        n_isr >= bk_md_effective_min_isr(img, t, p->n_replicas)) {
        return;
    }
    /* In replica order, so that every controller writes the same list. */
    for (int32_t i = 0; i < p->n_replicas; i++) {
        int32_t r = p->replicas[i];
        if (has(isr, n_isr, r)) {
            continue;
        }
        bool was = has(p->isr, p->n_isr, r) || has(p->elr, p->n_elr, r);
        if (was && r != unclean_shutdown) {
            elr[(*n_elr)++] = r;
        } else if (was || has(p->last_known_elr, p->n_last_known_elr, r)) {
            lke[(*n_lke)++] = r;
        }
    }
}

int32_t bk_md_elr_candidate(const struct bk_md_image *img,
                            const int32_t *elr,
                            int32_t n_elr,
                            const struct bk_md_partition *p,
                            int32_t gone)
{
    for (int32_t i = 0; i < p->n_replicas; i++) {
        int32_t r = p->replicas[i];
        if (has(elr, n_elr, r) && bk_md_acceptable_leader(img, r, gone)) {
            return r;
        }
    }
    return -1;
}

int16_t bk_md_op_clear_elr(const struct bk_md_image *img,
                           const struct bk_md_topic *t,
                           struct bk_md_recs *out,
                           char *msg)
{
    for (int32_t i = 0; i < t->n_partitions; i++) {
        const struct bk_md_partition *p = &t->partitions[i];
        if (p->n_elr == 0 && p->n_last_known_elr == 0) {
            continue;
        }
        int16_t code =
            bk_md_op_change_partition(img, &t->id, i, p->partition_epoch,
                                      p->leader, p->isr, p->n_isr, out, msg);
        if (code != BK_MD_KERR_NONE) {
            return code;
        }
        struct bk_md_partition_rec *r = &out->v[out->n - 1].u.partition;
        r->n_elr = r->n_last_known_elr = 0;
    }
    return BK_MD_KERR_NONE;
}
