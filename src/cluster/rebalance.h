/* The active controller's periodic leader elections (internal to
 * src/cluster): preferred leaders back (auto.leader.rebalance.enable,
 * leader.imbalance.check.interval.seconds,
 * leader.imbalance.per.broker.percentage) and unclean elections of the
 * leaderless partitions of topics that allow them, which Kafka's
 * controller also retries on a timer. Runs on the raft thread. */
#ifndef BK_CLUSTER_REBALANCE_H
#define BK_CLUSTER_REBALANCE_H

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

struct bk_md;
struct bk_md_rb;

struct bk_md_rb_config {
    bool auto_rebalance;  /* auto.leader.rebalance.enable */
    unsigned interval_ms; /* leader.imbalance.check.interval.seconds */
    int32_t percentage;   /* leader.imbalance.per.broker.percentage */
    bool unclean_default; /* unclean.leader.election.enable (static) */
};

/* Starts the timer on loop (the raft loop); cfg is copied. Returns NULL
 * when out of memory (logged; then no periodic elections run). */
struct bk_md_rb *bk_md_rb_new(struct bk_md *md,
                              uv_loop_t *loop,
                              const struct bk_md_rb_config *cfg);

/* Stops the timer; the memory is freed once libuv has closed it. NULL is
 * allowed. */
void bk_md_rb_close(struct bk_md_rb *rb);

#endif /* BK_CLUSTER_REBALANCE_H */
