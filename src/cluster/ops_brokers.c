/* Broker and controller membership as controller operations (ops.h):
 * registration, fencing, controlled shutdown, and the controller endpoints
 * that let every node reach the active controller (issue 12).
 *
 * Kafka's rules (replication-notes.md §8, §13): a broker registers fenced
 * and is unfenced once its metadata has caught up; a fenced or shutting
 * down broker leaves the ISRs and its leaderships move to a live in-sync
 * replica, or to no leader when it was the last one, so that the partition
 * is offline rather than led by a broker nobody can reach; an unfenced
 * broker takes back the leaderless partitions whose ISR still names it. */
#include <stdio.h>
#include <string.h>

#include "cluster/ops.h"

static struct bk_str dup_str(struct bk_md_recs *r, const char *s, bool *ok)
{
    if (s == NULL) {
        return BK_STR_NULL;
    }
    size_t len = strlen(s);
    char *c = bk_arena_strndup(r->arena, s, len);
    *ok = *ok && c != NULL;
    return c != NULL ? (struct bk_str){ c, (int32_t)len } : BK_STR_NULL;
}

static int16_t out_of_memory(struct bk_md_recs *out, size_t mark, char *msg)
{
    out->n = mark;
    snprintf(msg, BK_MD_MSG_SIZE, "out of memory");
    return BK_MD_KERR_UNKNOWN_SERVER_ERROR;
}

/* Appends the cluster id record when the log has none; checks it
 * otherwise. */
static int16_t claim_cluster(const struct bk_md_image *img,
                             const char *cluster_id,
                             struct bk_md_recs *out,
                             char *msg)
{
    if (cluster_id == NULL) {
        return BK_MD_KERR_NONE;
    }
    if (img->cluster_id != NULL) {
        if (strcmp(img->cluster_id, cluster_id) == 0) {
            return BK_MD_KERR_NONE;
        }
        snprintf(msg, BK_MD_MSG_SIZE,
                 "Expected cluster ID %s, but got cluster ID %s.",
                 img->cluster_id, cluster_id);
        return BK_MD_KERR_INCONSISTENT_CLUSTER_ID;
    }
    for (size_t i = 0; i < out->n; i++) {
        if (out->v[i].type == BK_MD_REC_CLUSTER) {
            return BK_MD_KERR_NONE; /* claimed earlier in this list */
        }
    }
    struct bk_md_rec *r = bk_md_recs_add(out, BK_MD_REC_CLUSTER);
    bool ok = r != NULL;
    if (ok) {
        r->u.cluster.cluster_id = dup_str(out, cluster_id, &ok);
    }
    return ok ? BK_MD_KERR_NONE : out_of_memory(out, out->n, msg);
}

int16_t bk_md_op_register(const struct bk_md_image *img,
                          const struct bk_md_registration *reg,
                          struct bk_md_recs *out,
                          int64_t *epoch,
                          char *msg)
{
    size_t mark = out->n;
    msg[0] = '\0';
    if (reg->id < 0 || reg->host == NULL || reg->host[0] == '\0' ||
        reg->port <= 0 || reg->port > 65535) {
        snprintf(msg, BK_MD_MSG_SIZE, "Invalid broker registration for %d",
                 reg->id);
        return BK_MD_KERR_INVALID_REQUEST;
    }
    int16_t code = claim_cluster(img, reg->cluster_id, out, msg);
    if (code != BK_MD_KERR_NONE) {
        return code;
    }
    const struct bk_md_broker *cur = bk_md_image_broker(img, reg->id);
    static const struct bk_uuid zero;
    if (cur != NULL && memcmp(&reg->incarnation, &zero, sizeof(zero)) != 0 &&
        memcmp(&cur->incarnation, &reg->incarnation, sizeof(zero)) == 0) {
        /* The same process again: its answer was lost. */
        *epoch = cur->epoch;
        return BK_MD_KERR_NONE;
    }
    struct bk_md_rec *r = bk_md_recs_add(out, BK_MD_REC_BROKER);
    if (r == NULL) {
        return out_of_memory(out, mark, msg);
    }
    bool ok = true;
    r->u.broker = (struct bk_md_broker_rec){
        .id = reg->id,
        .epoch = img->offset,
        .host = dup_str(out, reg->host, &ok),
        .port = reg->port,
        .rack = dup_str(out, reg->rack, &ok),
        .fenced = reg->fenced,
        .incarnation = reg->incarnation,
    };
    /* The first registration on a log finalizes the features. */
    if (!ok || bk_md_op_bootstrap_features(img, out) != 0) {
        return out_of_memory(out, mark, msg);
    }
    *epoch = img->offset;
    return BK_MD_KERR_NONE;
}

int16_t bk_md_op_register_broker(const struct bk_md_image *img,
                                 int32_t id,
                                 const char *host,
                                 int32_t port,
                                 const char *rack,
                                 struct bk_md_recs *out,
                                 int64_t *epoch,
                                 char *msg)
{
    struct bk_md_registration reg = {
        .id = id, .host = host, .port = port, .rack = rack, .fenced = false
    };
    int64_t e = 0;
    int16_t code = bk_md_op_register(img, &reg, out, &e, msg);
    if (epoch != NULL) {
        *epoch = e;
    }
    return code;
}

static bool is_live(const struct bk_md_image *img, int32_t id, int32_t gone)
{
    const struct bk_md_broker *b = bk_md_image_broker(img, id);
    return id != gone && b != NULL && !b->fenced && !b->in_controlled_shutdown;
}

/* The partition without broker `gone`: it leaves the ISR unless it is the
 * last member and ELR is off (Kafka keeps the last in-sync replica so that
 * it can lead again), and a new leader is the first live in-sync replica.
 * With ELR (KIP-966) the ISR may empty: gone then joins the ELR, and the
 * first live ELR member leads cleanly with the ISR of itself. Fencing and
 * controlled shutdown both keep gone in the ELR: Kafka takes a replica out
 * of it only for an unclean shutdown, seen when it registers again. */
static int16_t leave_partition(const struct bk_md_image *img,
                               const struct bk_md_topic *t,
                               int32_t p,
                               int32_t gone,
                               bool unclean,
                               struct bk_md_recs *out,
                               char *msg)
{
    const struct bk_md_partition *pp = &t->partitions[p];
    int32_t isr[BK_MD_MAX_REPLICAS];
    int32_t n = 0;
    bool in_isr = false;
    bool elr_on = bk_md_elr_enabled(img);
    for (int32_t i = 0; i < pp->n_isr; i++) {
        in_isr = in_isr || pp->isr[i] == gone;
        if (pp->isr[i] != gone || (pp->n_isr == 1 && !elr_on)) {
            isr[n++] = pp->isr[i];
        }
    }
    if (!in_isr && pp->leader != gone) {
        return BK_MD_KERR_NONE;
    }
    int32_t leader = pp->leader;
    if (leader == gone || leader < 0) {
        leader = -1;
        for (int32_t i = 0; i < n && leader < 0; i++) {
            leader = is_live(img, isr[i], gone) ? isr[i] : -1;
        }
    }
    if (leader < 0 && n == 0 && elr_on) {
        int32_t elr[BK_MD_MAX_REPLICAS], lke[BK_MD_MAX_REPLICAS];
        int32_t n_elr, n_lke;
        bk_md_elr_target(img, t, pp, isr, 0, -1, elr, &n_elr, lke, &n_lke);
        leader = bk_md_elr_candidate(img, elr, n_elr, pp, gone);
        if (leader >= 0) {
            isr[n++] = leader;
        }
    }
    /* No in-sync replica can lead: with unclean.leader.election.enable
     * the first live replica does, at the risk of losing what only the
     * ISR had (Kafka's PartitionChangeBuilder, Election.UNCLEAN). */
    int32_t cand = leader < 0 && bk_md_unclean_enabled(img, t, unclean)
                       ? bk_md_unclean_candidate(img, pp, gone)
                       : -1;
    if (cand >= 0) {
        return bk_md_op_elect_unclean(img, t, p, cand, out, msg);
    }
    if (n == pp->n_isr && leader == pp->leader) {
        return BK_MD_KERR_NONE;
    }
    return bk_md_op_change_partition(img, &t->id, p, pp->partition_epoch,
                                     leader, isr, n, out, msg);
}

/* The leaderless partitions whose ISR names broker id get it as leader,
 * and so do those with an empty ISR whose ELR names it (KIP-966: it then
 * is the ISR alone); with unclean.leader.election.enable, so do the others
 * where it is the first replica that can lead (it is still fenced in
 * img). */
static int16_t take_back(const struct bk_md_image *img,
                         const struct bk_md_topic *t,
                         int32_t p,
                         int32_t id,
                         bool unclean,
                         struct bk_md_recs *out,
                         char *msg)
{
    const struct bk_md_partition *pp = &t->partitions[p];
    if (pp->leader >= 0) {
        return BK_MD_KERR_NONE;
    }
    for (int32_t i = 0; i < pp->n_isr; i++) {
        if (pp->isr[i] == id) {
            return bk_md_op_change_partition(img, &t->id, p,
                                             pp->partition_epoch, id, pp->isr,
                                             pp->n_isr, out, msg);
        }
    }
    for (int32_t i = 0; pp->n_isr == 0 && i < pp->n_elr; i++) {
        if (pp->elr[i] == id) {
            int32_t one[1] = { id };
            return bk_md_op_change_partition(
                img, &t->id, p, pp->partition_epoch, id, one, 1, out, msg);
        }
    }
    if (!bk_md_unclean_enabled(img, t, unclean)) {
        return BK_MD_KERR_NONE;
    }
    for (int32_t i = 0; i < pp->n_replicas; i++) {
        int32_t r = pp->replicas[i];
        if (r == id || bk_md_acceptable_leader(img, r, -1)) {
            return bk_md_op_elect_unclean(img, t, p, r, out, msg);
        }
    }
    return BK_MD_KERR_NONE;
}

static int16_t move_leaders(const struct bk_md_image *img,
                            int32_t id,
                            enum bk_md_broker_change change,
                            bool unclean,
                            struct bk_md_recs *out,
                            char *msg)
{
    for (size_t i = 0; i < img->n_topics; i++) {
        const struct bk_md_topic *t = img->by_name[i];
        for (int32_t p = 0; p < t->n_partitions; p++) {
            int16_t code =
                change == BK_MD_UNFENCE
                    ? take_back(img, t, p, id, unclean, out, msg)
                    : leave_partition(img, t, p, id, unclean, out, msg);
            if (code != BK_MD_KERR_NONE) {
                return code;
            }
        }
    }
    return BK_MD_KERR_NONE;
}

int16_t bk_md_op_broker_change(const struct bk_md_image *img,
                               int32_t id,
                               enum bk_md_broker_change change,
                               bool unclean_default,
                               struct bk_md_recs *out,
                               char *msg)
{
    size_t mark = out->n;
    const struct bk_md_broker *b = bk_md_image_broker(img, id);
    if (b == NULL) {
        snprintf(msg, BK_MD_MSG_SIZE, "Broker %d is not registered.", id);
        return BK_MD_KERR_BROKER_NOT_AVAILABLE;
    }
    struct bk_md_rec *r = bk_md_recs_add(out, BK_MD_REC_BROKER);
    if (r == NULL) {
        return out_of_memory(out, mark, msg);
    }
    bool ok = true;
    r->u.broker = (struct bk_md_broker_rec){
        .id = id,
        .epoch = b->epoch,
        .host = dup_str(out, b->host, &ok),
        .port = b->port,
        .rack = dup_str(out, b->rack, &ok),
        .fenced = change == BK_MD_FENCE,
        .incarnation = b->incarnation,
        .in_controlled_shutdown = change == BK_MD_SHUT_DOWN,
    };
    if (!ok) {
        return out_of_memory(out, mark, msg);
    }
    int16_t code = move_leaders(img, id, change, unclean_default, out, msg);
    if (code != BK_MD_KERR_NONE) {
        out->n = mark;
        return code;
    }
    msg[0] = '\0';
    return BK_MD_KERR_NONE;
}

size_t bk_md_led_partitions(const struct bk_md_image *img, int32_t id)
{
    size_t n = 0;
    for (size_t i = 0; i < img->n_topics; i++) {
        const struct bk_md_topic *t = img->by_name[i];
        for (int32_t p = 0; p < t->n_partitions; p++) {
            n += t->partitions[p].leader == id ? 1 : 0;
        }
    }
    return n;
}

int16_t bk_md_op_register_controller(const struct bk_md_image *img,
                                     int32_t id,
                                     const struct bk_uuid *incarnation,
                                     const char *host,
                                     int32_t port,
                                     const char *cluster_id,
                                     struct bk_md_recs *out,
                                     char *msg)
{
    size_t mark = out->n;
    msg[0] = '\0';
    int16_t code = claim_cluster(img, cluster_id, out, msg);
    if (code != BK_MD_KERR_NONE) {
        return code;
    }
    const struct bk_md_controller *c = bk_md_image_controller(img, id);
    if (c != NULL && c->port == port && strcmp(c->host, host) == 0 &&
        memcmp(&c->incarnation, incarnation, sizeof(*incarnation)) == 0) {
        return BK_MD_KERR_NONE;
    }
    struct bk_md_rec *r = bk_md_recs_add(out, BK_MD_REC_CONTROLLER);
    if (r == NULL) {
        return out_of_memory(out, mark, msg);
    }
    bool ok = true;
    r->u.controller = (struct bk_md_controller_rec){
        .id = id,
        .incarnation = *incarnation,
        .host = dup_str(out, host, &ok),
        .port = port,
    };
    return ok ? BK_MD_KERR_NONE : out_of_memory(out, mark, msg);
}
