/* UpdateFeatures validation and the initial feature levels (ops.h).
 *
 * Kafka 4.1's controller answers a bad update with INVALID_UPDATE_VERSION
 * for the whole request, its message naming the first feature at fault;
 * the checks and their messages below are the ones Kafka 4.1 gives
 * (tests/integration/test_features.py holds the answers observed). */
#include <stdio.h>

#include "cluster/features.h"
#include "cluster/ops.h"

/* Kafka's prefix for an update that fails the whole request. */
#define FAILED                                                \
    "The update failed for all features since the following " \
    "feature had an error: "

static int16_t invalid(const struct bk_md_feature_update *u,
                       char *msg,
                       const char *why)
{
    snprintf(msg, BK_MD_MSG_SIZE,
             FAILED "Invalid update version %d for feature %.*s. %s", u->level,
             (int)(u->name.len < 0 ? 0 : u->name.len),
             u->name.len > 0 ? u->name.ptr : "", why);
    return BK_MD_KERR_FEATURE_UPDATE_FAILED;
}

/* Checks one update; returns 0 or the error, with msg set. */
static int16_t check(const struct bk_md_image *img,
                     int32_t controller_id,
                     const struct bk_md_feature_update *u,
                     char *msg)
{
    char why[96];
    if (u->upgrade_type < BK_MD_UPGRADE ||
        u->upgrade_type > BK_MD_UNSAFE_DOWNGRADE) {
        return invalid(u, msg,
                       "The controller does not support the given upgrade "
                       "type.");
    }
    if (u->level < 0) {
        return invalid(u, msg, "A feature version cannot be less than 0.");
    }
    int f = u->name.len > 0
                ? bk_md_feature_find(u->name.ptr, (size_t)u->name.len)
                : -1;
    if (f < 0) {
        snprintf(why, sizeof(why),
                 "Local controller %d does not support this feature.",
                 controller_id);
        return invalid(u, msg, why);
    }
    const struct bk_md_feature_def *d = bk_md_feature_def((unsigned)f);
    if (u->level < d->min || u->level > d->max) {
        snprintf(why, sizeof(why),
                 "Local controller %d only supports versions %d-%d",
                 controller_id, d->min, d->max);
        return invalid(u, msg, why);
    }
    /* KIP-778: lowering a level needs a downgrade type. metadata.version's
     * own downgrade rules never come into play: brokerd supports a single
     * level of it, so the range check above refuses every change. */
    if (u->level < img->features[f] && u->upgrade_type == BK_MD_UPGRADE) {
        return invalid(u, msg,
                       "Can't downgrade the version of this feature without "
                       "setting the upgrade type to either safe or unsafe "
                       "downgrade.");
    }
    if (u->level > img->features[f] && u->upgrade_type != BK_MD_UPGRADE) {
        return invalid(u, msg, "Can't downgrade to a newer version.");
    }
    return 0;
}

/* eligible.leader.replicas.version going to 0: the ELR of every partition
 * is emptied with it, since nothing keeps it up to date from now on
 * (Kafka's PartitionChangeBuilder empties it at each partition's next
 * change; doing it at once leaves no stale ELR in between). */
static int16_t elr_off(const struct bk_md_image *img,
                       struct bk_md_recs *out,
                       char *msg)
{
    for (size_t i = 0; i < img->n_topics; i++) {
        int16_t err = bk_md_op_clear_elr(img, img->by_name[i], out, msg);
        if (err != BK_MD_KERR_NONE) {
            return err;
        }
    }
    return BK_MD_KERR_NONE;
}

int16_t bk_md_op_update_features(const struct bk_md_image *img,
                                 int32_t controller_id,
                                 const struct bk_md_feature_update *u,
                                 size_t n,
                                 struct bk_md_recs *out,
                                 char *msg)
{
    size_t mark = out->n;
    msg[0] = '\0';
    for (size_t i = 0; i < n; i++) {
        int16_t err = check(img, controller_id, &u[i], msg);
        if (err != 0) {
            out->n = mark;
            return err;
        }
    }
    for (size_t i = 0; i < n; i++) {
        int f = bk_md_feature_find(u[i].name.ptr, (size_t)u[i].name.len);
        if (img->features_finalized && img->features[f] == u[i].level) {
            continue; /* unchanged: nothing to write */
        }
        struct bk_md_rec *r = bk_md_recs_add(out, BK_MD_REC_FEATURE);
        char *name = r != NULL ? bk_arena_strndup(out->arena, u[i].name.ptr,
                                                  (size_t)u[i].name.len)
                               : NULL;
        if (name == NULL) {
            out->n = mark;
            snprintf(msg, BK_MD_MSG_SIZE, "out of memory");
            return BK_MD_KERR_UNKNOWN_SERVER_ERROR;
        }
        r->u.feature.name = (struct bk_str){ name, u[i].name.len };
        r->u.feature.level = u[i].level;
        if (f == BK_MD_FEAT_ELR && u[i].level == 0) {
            int16_t err = elr_off(img, out, msg);
            if (err != BK_MD_KERR_NONE) {
                out->n = mark;
                return err;
            }
        }
    }
    return BK_MD_KERR_NONE;
}

int16_t bk_md_op_bootstrap_features(const struct bk_md_image *img,
                                    struct bk_md_recs *out)
{
    if (img->features_finalized) {
        return BK_MD_KERR_NONE;
    }
    for (unsigned f = 0; f < BK_MD_N_FEATURES; f++) {
        struct bk_md_rec *r = bk_md_recs_add(out, BK_MD_REC_FEATURE);
        if (r == NULL) {
            return BK_MD_KERR_UNKNOWN_SERVER_ERROR;
        }
        /* The name is static: it outlives the list. */
        r->u.feature.name = bk_str_c(bk_md_feature_def(f)->name);
        r->u.feature.level = bk_md_feature_def(f)->initial;
        /* ELR is for new clusters only (features.c): a log that has
         * topics already predates feature records. */
        if (f == BK_MD_FEAT_ELR && img->n_topics > 0) {
            r->u.feature.level = 0;
        }
    }
    return BK_MD_KERR_NONE;
}
