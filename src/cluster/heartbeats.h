/* Broker sessions on the active controller (internal to src/cluster).
 *
 * Kafka keeps brokers' heartbeat sessions in the active controller's
 * memory, not in the metadata log (replication-notes.md §8, §13): a new
 * active controller gives every broker a fresh session, and a broker that
 * has not heartbeaten for broker.session.timeout.ms is fenced by a
 * metadata record. Everything here runs on the raft thread; the public
 * entry points are bk_md_broker_register/heartbeat (controller.h). */
#ifndef BK_CLUSTER_HEARTBEATS_H
#define BK_CLUSTER_HEARTBEATS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

struct bk_md;
struct bk_md_hb;
struct bk_md_replica_progress;

/* Creates the session table with its scan timer on loop (the raft loop).
 * disconnect_ms is broker.fence.on.disconnect.ms (0, or not below
 * session_ms: off). unclean is the static unclean.leader.election.enable
 * that leadership moves use (bk_md_op_broker_change). Returns NULL when
 * out of memory (then brokers are never fenced for a missed session;
 * logged). */
struct bk_md_hb *bk_md_hb_new(struct bk_md *md,
                              uv_loop_t *loop,
                              unsigned session_ms,
                              unsigned disconnect_ms,
                              bool unclean);

/* This node became the active controller: every registered broker gets a
 * fresh session. NULL hb is allowed. */
void bk_md_hb_activated(struct bk_md_hb *hb);

/* Copies the progress each session last reported (DescribeQuorum) into
 * out, up to cap entries; returns how many sessions there are (raft
 * thread only). NULL hb has none. */
size_t bk_md_hb_progress(const struct bk_md_hb *hb,
                         struct bk_md_replica_progress *out,
                         size_t cap);

/* Stops the timer; the memory is freed once libuv has closed it. NULL is
 * allowed. */
void bk_md_hb_close(struct bk_md_hb *hb);

/* The table of md (raft thread only); NULL when it could not be made. */
struct bk_md_hb *bk_md_hb_of(struct bk_md *md);

#endif /* BK_CLUSTER_HEARTBEATS_H */
