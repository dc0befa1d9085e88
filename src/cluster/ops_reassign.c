/* Partition reassignment on the controller (KIP-455; replication-notes.md
 * §9), as Kafka's KRaft controller does it (ReplicationControlManager,
 * PartitionReassignmentReplicas, PartitionReassignmentRevert,
 * PartitionChangeBuilder).
 *
 * Moving a partition from its original replicas O to a target T is done in
 * three steps, so that the partition never has fewer in-sync copies than
 * before: the replicas grow to T followed by the rest of O, with adding =
 * T - O and removing = O - T (the new replicas open and fetch from the
 * leader); the leader brings each adding replica into the ISR with
 * AlterPartition once it caught up; the change that puts the last adding
 * replica into the ISR also completes the reassignment: replicas become T,
 * the ISR loses the removed replicas, and a leader that was removed hands
 * over to the first in-sync replica of T. Every partition change goes
 * through bk_md_op_change_partition, which calls
 * bk_md_reassign_complete, so a reassignment also completes on a change
 * the controller makes itself (an unfenced broker's return, an election). */
#include <stdio.h>
#include <string.h>

#include "cluster/ops.h"
#include "common/err.h"

static bool has(const int32_t *v, int32_t n, int32_t id)
{
    for (int32_t i = 0; i < n; i++) {
        if (v[i] == id) {
            return true;
        }
    }
    return false;
}

/* The members of v that are (keep true) or are not (keep false) in set,
 * in v's order, into out (room for n); returns how many. */
static int32_t filter(const int32_t *v,
                      int32_t n,
                      const int32_t *set,
                      int32_t n_set,
                      bool keep,
                      int32_t *out)
{
    int32_t k = 0;
    for (int32_t i = 0; i < n; i++) {
        if (has(set, n_set, v[i]) == keep) {
            out[k++] = v[i];
        }
    }
    return k;
}

static int32_t *arena_i32(struct bk_arena *a, int32_t n)
{
    return bk_arena_alloc(a, sizeof(int32_t) * (size_t)(n < 0 ? 0 : n) + 1);
}

/* The leader after a change of replicas or ISR: the current one while it
 * stays an acceptable in-sync replica, else the first acceptable in-sync
 * replica in replica order (PartitionChangeBuilder's electAnyLeader
 * without ELR), else -1. */
static int32_t pick_leader(const struct bk_md_image *img,
                           const struct bk_md_partition_rec *r,
                           int32_t current)
{
    if (current >= 0 && has(r->isr, r->n_isr, current) &&
        bk_md_acceptable_leader(img, current, -1)) {
        return current;
    }
    for (int32_t i = 0; i < r->n_replicas; i++) {
        if (has(r->isr, r->n_isr, r->replicas[i]) &&
            bk_md_acceptable_leader(img, r->replicas[i], -1)) {
            return r->replicas[i];
        }
    }
    return -1;
}

/* Kafka bumps the leader epoch when the leader changes and when a replica
 * leaves the assignment: a removed replica must not go on fetching, and
 * its fetches at the old epoch are then fenced. */
static void set_epochs(const struct bk_md_partition *p,
                       struct bk_md_partition_rec *r)
{
    bool removed = false;
    for (int32_t i = 0; i < p->n_replicas; i++) {
        removed = removed || !has(r->replicas, r->n_replicas, p->replicas[i]);
    }
    r->leader_epoch =
        p->leader_epoch + (r->leader != p->leader || removed ? 1 : 0);
    r->partition_epoch = p->partition_epoch + 1;
}

int bk_md_reassign_complete(const struct bk_md_image *img,
                            const struct bk_md_partition *p,
                            struct bk_md_partition_rec *r,
                            struct bk_arena *arena)
{
    if (r->n_adding == 0 && r->n_removing == 0) {
        return 0;
    }
    int32_t *isr = arena_i32(arena, r->n_isr);
    int32_t *replicas = arena_i32(arena, r->n_replicas);
    if (isr == NULL || replicas == NULL) {
        return BK_ENOMEM;
    }
    int32_t n_isr =
        filter(r->isr, r->n_isr, r->removing, r->n_removing, false, isr);
    /* With every in-sync replica removed the target has no copy to lead
     * from: the reassignment waits (PartitionReassignmentReplicas). */
    if (n_isr == 0) {
        return 0;
    }
    for (int32_t i = 0; i < r->n_adding; i++) {
        if (!has(isr, n_isr, r->adding[i])) {
            return 0;
        }
    }
    r->n_replicas = filter(r->replicas, r->n_replicas, r->removing,
                           r->n_removing, false, replicas);
    r->replicas = replicas;
    r->isr = isr;
    r->n_isr = n_isr;
    r->n_adding = r->n_removing = 0;
    r->adding = r->removing = NULL;
    r->leader = pick_leader(img, r, r->leader);
    set_epochs(p, r);
    return 1;
}

/* Kafka's validateManualPartitionAssignment: not empty, no broker twice,
 * every broker registered (fenced ones are allowed). */
static int16_t check_target(const struct bk_md_image *img,
                            const int32_t *target,
                            int32_t n,
                            char *msg)
{
    if (n == 0) {
        snprintf(msg, BK_MD_MSG_SIZE,
                 "The manual partition assignment includes an empty replica "
                 "list.");
        return BK_MD_KERR_INVALID_REPLICA_ASSIGNMENT;
    }
    if (n > BK_MD_MAX_REPLICAS) {
        snprintf(msg, BK_MD_MSG_SIZE,
                 "The manual partition assignment has %d replicas, more than "
                 "%d.",
                 n, BK_MD_MAX_REPLICAS);
        return BK_MD_KERR_INVALID_REPLICA_ASSIGNMENT;
    }
    for (int32_t i = 0; i < n; i++) {
        if (has(target, i, target[i])) {
            snprintf(msg, BK_MD_MSG_SIZE,
                     "The manual partition assignment includes the broker %d "
                     "more than once.",
                     target[i]);
            return BK_MD_KERR_INVALID_REPLICA_ASSIGNMENT;
        }
        if (bk_md_image_broker(img, target[i]) == NULL) {
            snprintf(msg, BK_MD_MSG_SIZE,
                     "The manual partition assignment includes broker %d, but "
                     "no such broker is registered.",
                     target[i]);
            return BK_MD_KERR_INVALID_REPLICA_ASSIGNMENT;
        }
    }
    return BK_MD_KERR_NONE;
}

/* Appends r as the partition's new state when it differs from p; the
 * leader and epochs are settled here. */
static int16_t emit(const struct bk_md_image *img,
                    const struct bk_md_partition *p,
                    struct bk_md_partition_rec *r,
                    struct bk_md_recs *out,
                    char *msg)
{
    r->leader = pick_leader(img, r, p->leader);
    set_epochs(p, r);
    if (bk_md_reassign_complete(img, p, r, out->arena) < 0) {
        snprintf(msg, BK_MD_MSG_SIZE, "out of memory");
        return BK_MD_KERR_UNKNOWN_SERVER_ERROR;
    }
    struct bk_md_rec *rec = bk_md_recs_add(out, BK_MD_REC_PARTITION);
    if (rec == NULL) {
        snprintf(msg, BK_MD_MSG_SIZE, "out of memory");
        return BK_MD_KERR_UNKNOWN_SERVER_ERROR;
    }
    rec->u.partition = *r;
    msg[0] = '\0';
    return BK_MD_KERR_NONE;
}

static bool same_list(const int32_t *a,
                      int32_t na,
                      const int32_t *b,
                      int32_t nb)
{
    return na == nb && (na == 0 || memcmp(a, b, sizeof(*a) * (size_t)na) == 0);
}

/* O -> T. O is the original replicas: the replicas minus those being
 * added when a reassignment is already in progress (a new target replaces
 * the old one, as Kafka's revert-then-reassign does). The ISR keeps its
 * members that stay replicas. */
static int16_t start(const struct bk_md_image *img,
                     const struct bk_md_topic *t,
                     int32_t partition,
                     const int32_t *target,
                     int32_t n_target,
                     struct bk_md_recs *out,
                     char *msg)
{
    const struct bk_md_partition *p = &t->partitions[partition];
    int32_t n_all = p->n_replicas + n_target;
    int32_t *orig = arena_i32(out->arena, p->n_replicas);
    int32_t *replicas = arena_i32(out->arena, n_all);
    int32_t *adding = arena_i32(out->arena, n_target);
    int32_t *removing = arena_i32(out->arena, p->n_replicas);
    int32_t *isr = arena_i32(out->arena, p->n_isr);
    int32_t *tgt = arena_i32(out->arena, n_target);
    if (orig == NULL || replicas == NULL || adding == NULL ||
        removing == NULL || isr == NULL || tgt == NULL) {
        snprintf(msg, BK_MD_MSG_SIZE, "out of memory");
        return BK_MD_KERR_UNKNOWN_SERVER_ERROR;
    }
    memcpy(tgt, target, sizeof(int32_t) * (size_t)n_target);
    int32_t n_orig =
        filter(p->replicas, p->n_replicas, p->adding, p->n_adding, false, orig);
    if (p->n_adding == 0 && p->n_removing == 0 &&
        same_list(orig, n_orig, target, n_target)) {
        msg[0] = '\0';
        return BK_MD_KERR_NONE; /* already there: nothing to change */
    }
    /* The target first, in its order (replicas[0] is the preferred
     * leader), then the original replicas it drops. */
    memcpy(replicas, target, sizeof(int32_t) * (size_t)n_target);
    int32_t n_rm = filter(orig, n_orig, target, n_target, false, removing);
    memcpy(replicas + n_target, removing, sizeof(int32_t) * (size_t)n_rm);
    struct bk_md_partition_rec r = {
        .topic_id = t->id,
        .partition = partition,
        .n_replicas = n_target + n_rm,
        .replicas = replicas,
        .leader_recovery_state = p->leader_recovery_state,
        .n_adding = filter(target, n_target, orig, n_orig, false, adding),
        .adding = adding,
        .n_removing = n_rm,
        .removing = removing,
    };
    r.n_isr = filter(p->isr, p->n_isr, replicas, r.n_replicas, true, isr);
    r.isr = isr;
    return emit(img, p, &r, out, msg);
}

/* Cancel: back to the original replicas (Kafka's
 * PartitionReassignmentRevert): the adding replicas leave the replicas and
 * the ISR. An ISR left empty takes the first original replica back,
 * uncleanly (KIP-704 RECOVERING), as Kafka does. */
static int16_t cancel(const struct bk_md_image *img,
                      const struct bk_md_topic *t,
                      int32_t partition,
                      struct bk_md_recs *out,
                      char *msg)
{
    const struct bk_md_partition *p = &t->partitions[partition];
    int32_t *replicas = arena_i32(out->arena, p->n_replicas);
    int32_t *isr = arena_i32(out->arena, p->n_isr + 1);
    if (replicas == NULL || isr == NULL) {
        snprintf(msg, BK_MD_MSG_SIZE, "out of memory");
        return BK_MD_KERR_UNKNOWN_SERVER_ERROR;
    }
    struct bk_md_partition_rec r = {
        .topic_id = t->id,
        .partition = partition,
        .n_replicas = filter(p->replicas, p->n_replicas, p->adding, p->n_adding,
                             false, replicas),
        .replicas = replicas,
        .n_isr = filter(p->isr, p->n_isr, p->adding, p->n_adding, false, isr),
        .isr = isr,
        .leader_recovery_state = p->leader_recovery_state,
    };
    if (r.n_isr == 0 && r.n_replicas > 0) {
        isr[0] = replicas[0];
        r.n_isr = 1;
        r.leader_recovery_state = BK_MD_RECOVERING;
    }
    return emit(img, p, &r, out, msg);
}

int16_t bk_md_op_reassign(const struct bk_md_image *img,
                          const char *name,
                          size_t name_len,
                          int32_t partition,
                          const int32_t *target,
                          int32_t n_target,
                          struct bk_md_recs *out,
                          char *msg)
{
    msg[0] = '\0';
    const struct bk_md_topic *t = bk_md_image_topic(img, name, name_len);
    const struct bk_md_partition *p =
        t != NULL ? bk_md_topic_partition(t, partition) : NULL;
    if (p == NULL) {
        snprintf(msg, BK_MD_MSG_SIZE, "Unable to find partition %.*s:%d.",
                 (int)(name_len > 249 ? 249 : name_len), name, partition);
        return BK_MD_KERR_UNKNOWN_TOPIC_OR_PARTITION;
    }
    if (n_target < 0) {
        if (p->n_adding == 0 && p->n_removing == 0) {
            snprintf(msg, BK_MD_MSG_SIZE,
                     "No ongoing reassignment for partition %s-%d.", t->name,
                     partition);
            return BK_MD_KERR_NO_REASSIGNMENT_IN_PROGRESS;
        }
        return cancel(img, t, partition, out, msg);
    }
    int16_t code = check_target(img, target, n_target, msg);
    if (code != BK_MD_KERR_NONE) {
        return code;
    }
    return start(img, t, partition, target, n_target, out, msg);
}

bool bk_md_reassigning(const struct bk_md_partition *p)
{
    return p->n_adding > 0 || p->n_removing > 0;
}
