/* Internals shared by the replica's files (src/partition/ only). */
#ifndef BK_PARTITION_REPLICA_INT_H
#define BK_PARTITION_REPLICA_INT_H

#include "partition/replica.h"

/* Moves the high watermark after the log end moved: the one place that
 * says which records are committed. */
void bk_replica_advance_hw(struct bk_partition *p);

/* The Kafka error for a failed bk_log_append (rv < 0). */
int16_t bk_replica_append_error(int rv);

#endif /* BK_PARTITION_REPLICA_INT_H */
