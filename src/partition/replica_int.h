/* Internals shared by the replica's files (src/partition/ only). */
#ifndef BK_PARTITION_REPLICA_INT_H
#define BK_PARTITION_REPLICA_INT_H

#include "partition/replica.h"

/* Moves the high watermark after the log end moved: the one place that
 * says which records are committed. */
void bk_replica_advance_hw(struct bk_partition *p);

/* The leader's high watermark by Kafka's rule (replica_isr.c), given the
 * current one: never lower. */
int64_t bk_replica_leader_hw(const struct bk_partition *p, int64_t hw);

/* Whether the ISR reaches min.insync.replicas (an acks=all append is
 * refused before it is written otherwise). */
bool bk_replica_enough_isr(const struct bk_partition *p);

/* Completes the acks=all appends the high watermark has passed. */
void bk_replica_complete_hw_waits(struct bk_partition *p);

/* The Kafka error for a failed bk_log_append (rv < 0). */
int16_t bk_replica_append_error(int rv);

#endif /* BK_PARTITION_REPLICA_INT_H */
