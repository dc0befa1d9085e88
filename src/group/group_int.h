/* Internals shared by the files of src/group (group.c, consumer.c,
 * classic.c, consumer_load.c): not for use outside this folder. */
/* Prefixes: bk_gi_ for the internals of the classic state machine
 * (group.c), bk_ci_ for those of consumer groups (consumer.c, classic.c,
 * assign.c, topic_regex.c). */
#ifndef BK_GROUP_GROUP_INT_H
#define BK_GROUP_GROUP_INT_H

#include "group/consumer.h"
#include "group/group.h"

/* ---- group.c: the classic state machine ---- */

void bk_gi_join_error(struct bk_group_registry *r,
                      void *waiter,
                      int16_t err,
                      const char *member_id);
void bk_gi_sync_error(struct bk_group_registry *r, void *waiter, int16_t err);
/* A member named as Kafka does ("<client.id or instance id>-<uuid>"), not
 * yet in any group; NULL when out of memory. */
struct bk_group_member *bk_gi_member_new(struct bk_group_registry *r,
                                         const struct bk_group_join_req *req);
void bk_gi_member_free(struct bk_group_member *m);
int bk_gi_member_add(struct bk_group *g, struct bk_group_member *m);
/* Copies protocols into *out (owned); 0 or BK_ENOMEM. */
int bk_gi_protocols_copy(struct bk_group_protocol **out,
                         size_t *nout,
                         const struct bk_group_proto_in *in,
                         size_t n);
void bk_gi_protocols_free(struct bk_group_protocol *p, size_t n);
/* Removes every classic member, answering parked waiters with err. */
void bk_gi_clear_members(struct bk_group_registry *r,
                         struct bk_group *g,
                         int16_t err);
void bk_gi_prepare_rebalance(struct bk_group_registry *r, struct bk_group *g);
void bk_gi_set_state(struct bk_group_registry *r,
                     struct bk_group *g,
                     enum bk_group_state s);
char *bk_gi_dup(struct bk_str s); /* "" for null */

/* ---- consumer.c: the KIP-848 state machine ---- */

struct bk_cmember *bk_ci_find(const struct bk_cgroup *cg, struct bk_str id);
struct bk_cmember *bk_ci_find_static(const struct bk_cgroup *cg,
                                     struct bk_str instance_id);
void bk_ci_member_free(struct bk_cmember *m);
/* A new member (epoch 0) appended to cg (g's consumer group, or the one
 * it is becoming); NULL when out of memory. Reserves room in g->cg_gone
 * for its id, so removing it later never needs memory. */
struct bk_cmember *bk_ci_member_add(struct bk_group *g,
                                    struct bk_cgroup *cg,
                                    struct bk_str id);
/* Takes m out of cg->members (not freed). */
void bk_ci_member_unlink(struct bk_cgroup *cg, const struct bk_cmember *m);
/* Removes and frees m, remembering its id for tombstones and bumping the
 * group epoch; then maybe converts the group back to classic (when only
 * classic members are left). */
void bk_ci_member_remove(struct bk_group_registry *r,
                         struct bk_group *g,
                         struct bk_cmember *m);
/* Remembers a removed member's id (takes *id, leaving NULL): its records
 * get tombstones. */
void bk_ci_note_gone(struct bk_group *g, char **id);
int bk_ci_set_topics(struct bk_cmember *m, const struct bk_str *t, int32_t n);
bool bk_ci_same_topics(const struct bk_cmember *m,
                       const struct bk_str *t,
                       int32_t n);
int bk_ci_set_add(struct bk_cgroup_set *s, const struct bk_cgroup_tp *tp);
bool bk_ci_set_has(const struct bk_cgroup_set *s,
                   const struct bk_cgroup_tp *tp);
/* Appends without looking for a duplicate: callers know there is none. */
int bk_ci_set_push(struct bk_cgroup_set *s, const struct bk_cgroup_tp *tp);
bool bk_ci_set_same(const struct bk_cgroup_set *a,
                    const struct bk_cgroup_set *b);
void bk_ci_set_free(struct bk_cgroup_set *s);
/* An index of partitions, (topic id, partition) -> int32 (assign.c). */
struct bk_ci_tpmap {
    struct bk_cgroup_tp *keys;
    int32_t *vals; /* INT32_MIN: an empty slot */
    size_t cap;
};
/* Room for n entries; 0 or BK_ENOMEM. */
int bk_ci_tpmap_init(struct bk_ci_tpmap *m, size_t n);
void bk_ci_tpmap_free(struct bk_ci_tpmap *m);
/* Adds tp -> v unless tp is there (at most init's n puts). */
void bk_ci_tpmap_put(struct bk_ci_tpmap *m,
                     const struct bk_cgroup_tp *tp,
                     int32_t v);
/* The value of tp, or -1. */
int32_t bk_ci_tpmap_get(const struct bk_ci_tpmap *m,
                        const struct bk_cgroup_tp *tp);
/* Who holds each partition: 2*i for ms[i]'s assigned, 2*i+1 for its
 * revoking. 0 or BK_ENOMEM. */
int bk_ci_owners_build(struct bk_ci_tpmap *m,
                       struct bk_cmember *const *ms,
                       size_t n);
/* Recomputes every target (bumps the epoch when one changed), resolving
 * regex subscriptions first. */
void bk_ci_compute_targets(struct bk_group_registry *r,
                           struct bk_cgroup *cg,
                           bk_cgroup_topic_fn lookup,
                           void *ctx);
/* Sets (pattern non-empty) or clears a member's regex; BK_EINVAL when it
 * does not compile, BK_ENOMEM. */
int bk_ci_set_regex(struct bk_cmember *m, struct bk_str pattern);
void bk_ci_regex_free(struct bk_cmember *m);
/* Recomputes the topics m's regex matches now (topic_regex.c). */
void bk_ci_resolve_regex(struct bk_group_registry *r, struct bk_cmember *m);
/* Moves m toward its target; owned (NULL: unknown) are the partitions the
 * member says it still owns, which acknowledges revocations. Returns true
 * when m's assigned partitions changed. */
bool bk_ci_reconcile(struct bk_group_registry *r,
                     struct bk_cgroup *cg,
                     struct bk_cmember *m,
                     const struct bk_cgroup_tp *owned,
                     int32_t nowned);
/* Group state after a membership change (Empty or Stable). */
void bk_ci_update_state(struct bk_group_registry *r, struct bk_group *g);

/* ---- classic.c: migration between the protocols ---- */

/* Online upgrade: a classic group with members becomes a consumer group
 * whose members are those classic members. Returns NONE or
 * GROUP_ID_NOT_FOUND (the group cannot be converted). */
int16_t bk_ci_upgrade(struct bk_group_registry *r,
                      struct bk_group *g,
                      bk_cgroup_topic_fn lookup,
                      void *ctx);
/* Online downgrade, after a consumer-protocol member left: when only
 * classic members remain, the group is marked to turn classic, and does
 * at once if they are all reconciled (bk_ci_try_downgrade). */
void bk_ci_maybe_downgrade(struct bk_group_registry *r, struct bk_group *g);
/* Converts a marked group whose classic members all caught up with the
 * group epoch (nothing to revoke, nothing pending). Kafka converts at the
 * leave and makes the members rejoin; a member still behind then has its
 * commits refused (ILLEGAL_GENERATION) until it rejoined. Converting once
 * everyone is at the group epoch keeps every commit valid, and the group
 * comes back Stable with the assignment it has, no rebalance needed. */
void bk_ci_try_downgrade(struct bk_group_registry *r, struct bk_group *g);

#endif /* BK_GROUP_GROUP_INT_H */
