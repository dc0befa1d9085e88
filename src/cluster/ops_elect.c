/* Leader elections on the controller (ops.h; replication-notes.md §7, §9):
 * ElectLeaders' preferred and unclean elections, the unclean election of a
 * partition left without a leader when its topic allows it, and the
 * automatic rebalance of preferred leaders.
 *
 * The rules are those of Kafka's PartitionChangeBuilder: a leader must be
 * acceptable (registered, not fenced, not in controlled shutdown); a clean
 * leader is in the ISR or, when the ISR is empty, in the ELR (KIP-966,
 * ops_elr.c: it then becomes the ISR alone); an unclean one is the first
 * acceptable replica, becomes the ISR alone and starts RECOVERING
 * (KIP-704), because it may lack acknowledged records that the others
 * had. */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "cluster/ops.h"

bool bk_md_acceptable_leader(const struct bk_md_image *img,
                             int32_t id,
                             int32_t gone)
{
    const struct bk_md_broker *b = id >= 0 ? bk_md_image_broker(img, id) : NULL;
    return id != gone && b != NULL && !b->fenced && !b->in_controlled_shutdown;
}

static bool truthy(const char *v)
{
    return v != NULL && strcasecmp(v, "true") == 0;
}

bool bk_md_unclean_enabled(const struct bk_md_image *img,
                           const struct bk_md_topic *t,
                           bool dflt)
{
    static const char *name = "unclean.leader.election.enable";
    const char *v = bk_md_configs_get(&t->configs, name);
    if (v == NULL) {
        const struct bk_md_configs *c = bk_md_image_broker_configs(img, "");
        v = c != NULL ? bk_md_configs_get(c, name) : NULL;
    }
    return v != NULL ? truthy(v) : dflt;
}

static bool in_isr(const struct bk_md_partition *p, int32_t id)
{
    for (int32_t i = 0; i < p->n_isr; i++) {
        if (p->isr[i] == id) {
            return true;
        }
    }
    return false;
}

static bool in_elr(const struct bk_md_partition *p, int32_t id)
{
    for (int32_t i = 0; i < p->n_elr; i++) {
        if (p->elr[i] == id) {
            return true;
        }
    }
    return false;
}

/* Kafka's isValidNewLeader: in the ISR, or in the ELR while the ISR is
 * empty (the ELR is empty while the feature is off). */
static bool valid_clean(const struct bk_md_image *img,
                        const struct bk_md_partition *p,
                        int32_t id)
{
    return id >= 0 && (in_isr(p, id) || (p->n_isr == 0 && in_elr(p, id))) &&
           bk_md_acceptable_leader(img, id, -1);
}

/* A clean election of `leader` (valid_clean): the ISR stays, unless the
 * leader comes from the ELR, which makes it the ISR alone. */
static int16_t elect_clean(const struct bk_md_image *img,
                           const struct bk_md_topic *t,
                           int32_t partition,
                           int32_t leader,
                           struct bk_md_recs *out,
                           char *msg)
{
    const struct bk_md_partition *p = &t->partitions[partition];
    int32_t one[1] = { leader };
    bool from_elr = p->n_isr == 0;
    return bk_md_op_change_partition(img, &t->id, partition, p->partition_epoch,
                                     leader, from_elr ? one : p->isr,
                                     from_elr ? 1 : p->n_isr, out, msg);
}

int32_t bk_md_unclean_candidate(const struct bk_md_image *img,
                                const struct bk_md_partition *p,
                                int32_t gone)
{
    for (int32_t i = 0; i < p->n_replicas; i++) {
        if (bk_md_acceptable_leader(img, p->replicas[i], gone)) {
            return p->replicas[i];
        }
    }
    return -1;
}

int16_t bk_md_op_elect_unclean(const struct bk_md_image *img,
                               const struct bk_md_topic *t,
                               int32_t partition,
                               int32_t leader,
                               struct bk_md_recs *out,
                               char *msg)
{
    const struct bk_md_partition *p = &t->partitions[partition];
    int32_t isr[1] = { leader };
    int16_t code = bk_md_op_change_partition(
        img, &t->id, partition, p->partition_epoch, leader, isr, 1, out, msg);
    if (code == BK_MD_KERR_NONE) {
        struct bk_md_partition_rec *r = &out->v[out->n - 1].u.partition;
        r->leader_recovery_state = BK_MD_RECOVERING;
        /* Kafka empties both lists on an unclean election: the new
         * leader's log, not theirs, is now the partition's. */
        r->n_elr = r->n_last_known_elr = 0;
    }
    return code;
}

/* PREFERRED: replicas[0] if it is a valid leader; else keep a valid
 * current leader; else the next valid replica (PartitionChangeBuilder's
 * electPreferredLeader). -1 when none. */
static int32_t elect_preferred(const struct bk_md_image *img,
                               const struct bk_md_partition *p)
{
    if (p->n_replicas > 0 && valid_clean(img, p, p->replicas[0])) {
        return p->replicas[0];
    }
    if (valid_clean(img, p, p->leader)) {
        return p->leader;
    }
    for (int32_t i = 1; i < p->n_replicas; i++) {
        if (valid_clean(img, p, p->replicas[i])) {
            return p->replicas[i];
        }
    }
    return -1;
}

/* UNCLEAN (the partition has no leader): a valid ISR (or, the ISR empty,
 * ELR) member in replica order first, cleanly; else the first acceptable
 * replica, uncleanly. */
static int16_t elect_unclean(const struct bk_md_image *img,
                             const struct bk_md_topic *t,
                             int32_t partition,
                             struct bk_md_recs *out,
                             char *msg)
{
    const struct bk_md_partition *p = &t->partitions[partition];
    for (int32_t i = 0; i < p->n_replicas; i++) {
        if (valid_clean(img, p, p->replicas[i])) {
            return elect_clean(img, t, partition, p->replicas[i], out, msg);
        }
    }
    int32_t leader = bk_md_unclean_candidate(img, p, -1);
    if (leader < 0) {
        snprintf(msg, BK_MD_MSG_SIZE,
                 "No replica of %s-%d is alive to lead it.", t->name,
                 partition);
        return BK_MD_KERR_ELIGIBLE_LEADERS_NOT_AVAIL;
    }
    return bk_md_op_elect_unclean(img, t, partition, leader, out, msg);
}

int16_t bk_md_op_elect_leader(const struct bk_md_image *img,
                              const char *name,
                              size_t name_len,
                              int32_t partition,
                              enum bk_md_election type,
                              struct bk_md_recs *out,
                              char *msg)
{
    msg[0] = '\0';
    const struct bk_md_topic *t = bk_md_image_topic(img, name, name_len);
    const struct bk_md_partition *p =
        t != NULL ? bk_md_topic_partition(t, partition) : NULL;
    if (p == NULL) {
        snprintf(msg, BK_MD_MSG_SIZE, "No such partition as %.*s-%d",
                 (int)(name_len > 249 ? 249 : name_len), name, partition);
        return BK_MD_KERR_UNKNOWN_TOPIC_OR_PARTITION;
    }
    if (type == BK_MD_ELECT_UNCLEAN) {
        if (p->leader >= 0) {
            return BK_MD_KERR_ELECTION_NOT_NEEDED;
        }
        return elect_unclean(img, t, partition, out, msg);
    }
    if (p->n_replicas > 0 && p->leader == p->replicas[0]) {
        return BK_MD_KERR_ELECTION_NOT_NEEDED;
    }
    int32_t leader = elect_preferred(img, p);
    if (leader == p->leader) {
        snprintf(msg, BK_MD_MSG_SIZE,
                 "Failed to elect leader for partition %s-%d under strategy "
                 "PreferredReplicaPartitionLeaderElectionStrategy",
                 t->name, partition);
        return BK_MD_KERR_PREFERRED_LEADER_NOT_AVAIL;
    }
    return elect_clean(img, t, partition, leader, out, msg);
}

/* Per broker: the partitions it is preferred leader of, and how many of
 * those it does not lead. */
struct imbalance {
    int64_t preferred;
    int64_t not_led;
};

static long broker_index(const struct bk_md_image *img, int32_t id)
{
    const struct bk_md_broker *b = bk_md_image_broker(img, id);
    return b != NULL ? (long)(b - img->brokers) : -1;
}

static void count_imbalance(const struct bk_md_image *img, struct imbalance *v)
{
    for (size_t i = 0; i < img->n_topics; i++) {
        const struct bk_md_topic *t = img->by_name[i];
        for (int32_t p = 0; p < t->n_partitions; p++) {
            const struct bk_md_partition *pp = &t->partitions[p];
            long k =
                pp->n_replicas > 0 ? broker_index(img, pp->replicas[0]) : -1;
            if (k >= 0) {
                v[k].preferred++;
                v[k].not_led += pp->leader != pp->replicas[0] ? 1 : 0;
            }
        }
    }
}

size_t bk_md_op_balance_leaders(const struct bk_md_image *img,
                                int32_t percentage,
                                size_t max,
                                struct bk_md_recs *out)
{
    struct imbalance *v =
        bk_arena_alloc(out->arena, sizeof(*v) * img->n_brokers + 1);
    if (v == NULL) {
        return 0;
    }
    memset(v, 0, sizeof(*v) * img->n_brokers);
    count_imbalance(img, v);
    size_t done = 0;
    char msg[BK_MD_MSG_SIZE];
    for (size_t i = 0; i < img->n_topics && done < max; i++) {
        const struct bk_md_topic *t = img->by_name[i];
        for (int32_t p = 0; p < t->n_partitions && done < max; p++) {
            const struct bk_md_partition *pp = &t->partitions[p];
            long k =
                pp->n_replicas > 0 ? broker_index(img, pp->replicas[0]) : -1;
            /* Kafka's rule: a broker's ratio of partitions it should lead
             * but does not, over those it should lead, above the
             * percentage. */
            if (k < 0 || pp->leader == pp->replicas[0] ||
                v[k].not_led * 100 <= (int64_t)percentage * v[k].preferred ||
                !valid_clean(img, pp, pp->replicas[0])) {
                continue;
            }
            if (elect_clean(img, t, p, pp->replicas[0], out, msg) ==
                BK_MD_KERR_NONE) {
                done++;
            }
        }
    }
    return done;
}

size_t bk_md_op_elect_leaderless(const struct bk_md_image *img,
                                 bool unclean_default,
                                 size_t max,
                                 struct bk_md_recs *out)
{
    size_t done = 0;
    char msg[BK_MD_MSG_SIZE];
    for (size_t i = 0; i < img->n_topics && done < max; i++) {
        const struct bk_md_topic *t = img->by_name[i];
        if (!bk_md_unclean_enabled(img, t, unclean_default)) {
            continue;
        }
        for (int32_t p = 0; p < t->n_partitions && done < max; p++) {
            if (t->partitions[p].leader < 0 &&
                elect_unclean(img, t, p, out, msg) == BK_MD_KERR_NONE) {
                done++;
            }
        }
    }
    return done;
}
