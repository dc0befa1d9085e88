/* Replica assignment for new partitions: Kafka's placement, rack-aware.
 *
 * Brokers are arranged in one list that alternates racks (racks sorted by
 * name, brokers of a rack sorted by id, then one broker from each rack in
 * turn: a1 b1 c1 a2 b2 c2 ...); without racks the list is the brokers by id.
 * Partition p's leader is arranged[(start_partition + p + start_index) % n],
 * so leaders are spread evenly. Followers are picked by stepping through the
 * list from the leader by a shift that changes every n partitions, so that
 * follower sets differ; with racks, a follower goes to a rack (and broker)
 * that has no replica of the partition yet, until every rack has one.
 * start_index and shift are random for a new topic (chosen on the leader
 * before proposing, never in apply) so that many small topics do not all
 * start on the same broker.
 *
 * A broker with no rack counts as the rack "" when other brokers have one.
 * Pure functions: no allocation beyond a small scratch array. */
#ifndef BK_CLUSTER_ASSIGN_H
#define BK_CLUSTER_ASSIGN_H

#include <stddef.h>
#include <stdint.h>

struct bk_md_assign_broker {
    int32_t id;
    const char *rack; /* borrowed; NULL when broker.rack is unset */
};

/* Fills out[p * rf + r] with replica r of partition start_partition + p, for
 * p in [0, n_partitions). brokers need not be sorted (borrowed) and must
 * have distinct ids. start_index and shift may be any non-negative values
 * (taken modulo the broker count). Returns 0, BK_EINVAL when rf < 1,
 * n_partitions < 0 or no broker is given, BK_ERANGE when rf exceeds the
 * broker count, or BK_ENOMEM. */
int bk_md_assign_replicas(const struct bk_md_assign_broker *brokers,
                          size_t n_brokers,
                          int32_t n_partitions,
                          int32_t rf,
                          int32_t start_index,
                          int32_t shift,
                          int32_t start_partition,
                          int32_t *out);

#endif /* BK_CLUSTER_ASSIGN_H */
