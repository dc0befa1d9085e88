/* The replica: the one interface through which the API layer appends to a
 * partition, reads from it, and learns or moves its offsets (log start,
 * high watermark, last stable offset, log end). Handlers in src/api/ call
 * these and never the log store, so replication (followers, the ISR rule
 * for the high watermark) and transactions (the last stable offset, aborted
 * ranges) are additions here, not edits across every handler.
 *
 * Every call runs on the shard that owns the partition (checked in debug
 * builds), except bk_replica_read_release. Errors come back as
 * Kafka error codes (protocol/kerr.h), because what this layer decides is
 * Kafka's partition semantics: which offsets a consumer may see, which
 * batches a leader accepts. */
#ifndef BK_PARTITION_REPLICA_H
#define BK_PARTITION_REPLICA_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "partition/partition.h"

/* Fetch and ListOffsets isolation levels (KIP-98). */
enum bk_isolation {
    BK_ISOLATION_READ_UNCOMMITTED = 0,
    BK_ISOLATION_READ_COMMITTED = 1,
    /* Not on the wire: a follower's fetch reads up to the log end. */
    BK_ISOLATION_LOG_END = 2,
};

/* --- offsets ------------------------------------------------------------ */

int64_t bk_replica_log_start(const struct bk_partition *p);
int64_t bk_replica_log_end(const struct bk_partition *p);
/* Bytes of the log's segments on disk (DescribeLogDirs' partition size). */
int64_t bk_replica_log_size(const struct bk_partition *p);
/* Leader only: the log end follower id reported in its last fetch, when
 * its log holds offset (log start <= offset <= log end); else -1 (KIP-392's
 * candidates for a consumer's preferred read replica). */
int64_t bk_replica_peer_end(const struct bk_partition *p,
                            int32_t id,
                            int64_t offset);
/* Records below it are on every in-sync replica; consumers see no further. */
int64_t bk_replica_high_watermark(const struct bk_partition *p);
/* Below it no transaction is open: read_committed consumers stop there.
 * With no transactions yet it is the high watermark. */
int64_t bk_replica_last_stable(const struct bk_partition *p);
/* The latest leader epoch in the log's epoch cache, or -1. */
int32_t bk_replica_latest_epoch(const struct bk_partition *p);
/* The offset a consumer of this isolation level may read up to. */
int64_t bk_replica_visible_end(const struct bk_partition *p,
                               enum bk_isolation iso);

/* --- reading ------------------------------------------------------------ */

/* A read: the partition's offsets when it was made, and the file ranges of
 * the whole batches it returned, pinned until bk_replica_read_release(). */
struct bk_replica_read {
    int64_t log_start;
    int64_t high_watermark;
    int64_t last_stable;
    struct bk_log_read_result rd; /* rd.count == 0: nothing to send */
};

/* Reads whole batches from `offset`, at most max_bytes but at least one
 * batch (KIP-74), bounded by what iso may see. Returns BK_KERR_NONE (with
 * nothing read when offset is at the visible end), OFFSET_OUT_OF_RANGE when
 * offset is below the log start or past the log end, KAFKA_STORAGE_ERROR.
 * The offsets in *out are set in every case. */
int16_t bk_replica_read(struct bk_partition *p,
                        int64_t offset,
                        int64_t max_bytes,
                        enum bk_isolation iso,
                        struct bk_replica_read *out);

/* The aborted transactions a read_committed read from `offset` up to
 * `upper` (exclusive: the end of what was read) must report, so that the
 * consumer drops their records (Fetch's AbortedTransactions): fn(arg,
 * producer id, first offset) for each, oldest marker first. */
void bk_replica_aborted_txns(struct bk_partition *p,
                             int64_t offset,
                             int64_t upper,
                             void (*fn)(void *arg,
                                        int64_t producer_id,
                                        int64_t first_offset),
                             void *arg);

/* Unpins what a read returned (idempotent). Any thread. */
void bk_replica_read_release(struct bk_replica_read *r);

/* ListOffsets for one partition: timestamp -1 (latest: the visible end for
 * iso), -2 and -4 (earliest), -3 (the record with the largest timestamp,
 * KIP-734), -5 (latest tiered: none), or a time (the first record at or
 * after it). *offset and *ts are -1 when there is no such record;
 * *leader_epoch is the epoch of the batch at *offset. Returns BK_KERR_NONE,
 * INVALID_REQUEST (another negative timestamp), OFFSET_NOT_AVAILABLE (latest,
 * on a new leader whose high watermark is still below the start of its
 * epoch: KIP-207) or KAFKA_STORAGE_ERROR. */
int16_t bk_replica_list_offset(struct bk_partition *p,
                               int64_t timestamp,
                               enum bk_isolation iso,
                               int64_t *offset,
                               int64_t *ts,
                               int32_t *leader_epoch);

/* OffsetForLeaderEpoch: the largest epoch <= epoch that the log knows and
 * where it ends (the start of the next one, or the log end); -1/-1 when
 * epoch is older than every entry. */
void bk_replica_epoch_end(struct bk_partition *p,
                          int32_t epoch,
                          int32_t *found_epoch,
                          int64_t *end_offset);

/* --- moving offsets ----------------------------------------------------- */

/* DeleteRecords: moves the log start up to offset (-1: the high
 * watermark). *low_watermark gets the log start afterwards. Returns
 * BK_KERR_NONE, OFFSET_OUT_OF_RANGE (past the high watermark) or
 * KAFKA_STORAGE_ERROR. */
int16_t bk_replica_delete_records(struct bk_partition *p,
                                  int64_t offset,
                                  int64_t *low_watermark);

/* --- waiting until records are committed -------------------------------- */

/* A wait for records to be committed: on this replica's disk (an
 * fdatasync) and below the high watermark, which says they are on the disk
 * of every in-sync replica. Owned by the caller, kept alive until done has
 * run. */
struct bk_replica_commit_wait {
    /* in */
    /* Runs once, on the syncer thread or the partition's shard: it may
     * only hand the outcome to its owner (an atomic, a shard message). */
    void (*done)(struct bk_replica_commit_wait *w, int16_t error);
    void *data;
    int64_t timeout_ms; /* then REQUEST_TIMED_OUT */
    /* private */
    struct bk_log_sync_req sync;
    struct bk_replica_hw_wait hw;
    atomic_int pending;    /* the sync and the high watermark */
    atomic_int late_error; /* the first error either reported */
};

/* Waits until every record below end is committed. Returns
 * BK_KERR_NONE with *waiting false when they already are, BK_KERR_NONE with
 * *waiting true when w->done follows (BK_KERR_NONE, KAFKA_STORAGE_ERROR,
 * REQUEST_TIMED_OUT, NOT_LEADER_OR_FOLLOWER when leadership moves,
 * NOT_ENOUGH_REPLICAS_AFTER_APPEND), or an error now (KAFKA_STORAGE_ERROR:
 * the log failed) with *waiting false. */
int16_t bk_replica_wait_committed(struct bk_partition *p,
                                  int64_t end,
                                  struct bk_replica_commit_wait *w,
                                  bool *waiting);

/* --- appending as leader ------------------------------------------------ */

struct bk_replica_append;
struct bk_arena;
typedef void (*bk_replica_durable_cb)(struct bk_replica_append *a,
                                      int16_t error);

/* One refused record (Produce v8+ record_errors). */
struct bk_replica_record_error {
    int32_t index;       /* in the batch */
    const char *message; /* static or in the append's arena */
};

/* One Produce partition's batch. The caller fills the inputs, owns the
 * struct, and keeps it (and batch) alive until the call returns and, if
 * it returned true, until durable_cb has run. */
struct bk_replica_append {
    /* in */
    uint8_t *batch; /* borrowed: exactly one record batch, may be rewritten
                       in place (offsets, epoch) */
    size_t len;
    int16_t produce_version;
    /* acks=all: an fdatasync must cover the batch, and the high watermark
     * pass it (every in-sync replica has it on disk) */
    bool wait_durable;
    int64_t timeout_ms; /* acks=all: Produce's timeout_ms */
    bk_replica_durable_cb durable_cb;
    void *data;
    struct bk_arena *arena; /* borrowed: where the record errors and their
                               messages go; must outlive the answer */
    /* out */
    int16_t error;
    const char *message; /* static or in arena, or NULL for the code's text */
    /* The refused records, in order (in arena; NULL when none). */
    struct bk_replica_record_error *record_errors;
    int32_t record_errors_count;
    int64_t base_offset; /* -1 on error */
    int64_t append_time; /* LogAppendTime, or -1 */
    int64_t log_start;   /* after the append, or -1 on error */
    /* private */
    struct bk_replica_commit_wait commit;
};

/* Refused with NOT_LEADER_OR_FOLLOWER when this replica follows.
 * Validates the batch as Kafka's leader does (one magic-2 batch, CRC,
 * max.message.bytes, codec and Produce version, records and timestamps,
 * the idempotent producer's sequence), recompresses it when the topic's
 * compression.type asks, appends it at the partition's leader epoch,
 * advances the high watermark and wakes waiting fetches. A duplicate of a
 * batch already written answers with its original offsets. The outcome is
 * in a's out fields. Returns true when a->wait_durable and the batch is not
 * yet on disk: durable_cb(a, error) follows once it is (or the sync
 * failed), on the syncer thread, so it may only hand the outcome back to
 * the shard (as bk_fan_release does); false when the answer is complete
 * now. */
bool bk_replica_append_leader(struct bk_partition *p,
                              struct bk_replica_append *a);

/* --- roles (replica_role.c) ---------------------------------------------
 *
 * A partition opens as leader at the epoch the metadata gives it. The
 * follower fetcher (the replication issue) drives the rest: role changes
 * from the metadata, truncation from OffsetForLeaderEpoch, follower
 * appends from Fetch (replication-notes.md sections 1 to 3). */

/* Leads the partition from leader_epoch on: the epoch starts at the log
 * end in the log's leader-epoch cache (KIP-101, KIP-279), client appends
 * are taken at that epoch, the high watermark follows its rule
 * (bk_replica_advance_hw) and parked fetches wake. The same epoch again is
 * idempotent. Returns BK_KERR_NONE, FENCED_LEADER_EPOCH (older than the
 * partition's epoch or the log's latest: nothing changes), INVALID_REQUEST
 * (a negative epoch) or KAFKA_STORAGE_ERROR (the log failed). */
int16_t bk_replica_become_leader(struct bk_partition *p, int32_t leader_epoch);

/* Follows leader_id from leader_epoch on: client appends get
 * NOT_LEADER_OR_FOLLOWER, the high watermark moves only with the leader's
 * (bk_replica_append_follower), parked fetches wake. The log is not cut
 * here: the fetcher truncates once it knows where the logs diverge.
 * Returns BK_KERR_NONE, FENCED_LEADER_EPOCH or INVALID_REQUEST as
 * bk_replica_become_leader. */
int16_t bk_replica_become_follower(struct bk_partition *p,
                                   int32_t leader_epoch,
                                   int32_t leader_id);

/* Whether this replica leads the partition. */
bool bk_replica_is_leader(const struct bk_partition *p);

/* Appends, as a follower, the batches the leader sent (a Fetch answer's
 * records; batches is borrowed and not modified): offsets and leader
 * epochs are kept, the leader-epoch cache learns new epochs, the producer
 * state records each idempotent batch without judging it (Kafka's
 * appendAsFollower: no LogValidator), then the high watermark becomes
 * min(leader_hw, log end). Every whole batch is checked first, nothing is
 * written unless all pass: intact (CRC), the first at the log end, each
 * where the previous ended, epochs never going back. A trailing partial
 * batch is ignored (the next fetch starts at it). Returns BK_KERR_NONE,
 * NOT_LEADER_OR_FOLLOWER (this replica leads), CORRUPT_MESSAGE,
 * OFFSET_OUT_OF_RANGE (a gap or an overlap: fetch from the log end),
 * FENCED_LEADER_EPOCH (a batch older than the log's latest epoch: the logs
 * diverged, truncate first), or the append's error (KAFKA_STORAGE_ERROR,
 * MESSAGE_TOO_LARGE), after which the batches before it stay written. */
int16_t bk_replica_append_follower(struct bk_partition *p,
                                   uint8_t *batches,
                                   size_t len,
                                   int64_t leader_hw);

/* Removes every batch at or past offset (a batch straddling it goes whole),
 * as a follower does where its log diverged from the leader's: the high
 * watermark is clamped, the leader-epoch cache loses the epochs starting at
 * or past the new end, the producer state is rebuilt from the snapshot (if
 * still below the end) and the remaining batches, a producer snapshot past
 * the new end is deleted, parked fetches wake. An offset at or past the log
 * end cuts nothing. Blocks for one syncer round when the cut is below the
 * recovery point (bk_log_truncate). Returns 0, BK_ERANGE (below the log
 * start), BK_EAGAIN (a producer snapshot is being written, or the lowered
 * recovery point did not reach the disk: nothing was cut, try again), or a
 * storage error. */
int bk_replica_truncate(struct bk_partition *p, int64_t offset);

/* Kafka's follower (maybeIncrementLogStartOffset after each fetch): the
 * log start follows the leader's, so that records removed there by
 * DeleteRecords or retention do not come back when this replica leads.
 * Moves no further than this replica's high watermark. Returns 0 or the
 * log's error. */
int bk_replica_follow_log_start(struct bk_partition *p, int64_t leader_start);

/* Kafka's truncateFullyAndStartAt: the leader's log starts past this
 * replica's end (retention removed what it lacks), so the log starts
 * again, empty, at offset (bk_log_restart_at: past the end, or below it on
 * an empty log), with no producer state and no snapshot. Returns 0,
 * BK_ERANGE (another offset), BK_EAGAIN (a producer snapshot is being
 * written, or the cleaner runs: try again), or a storage error. */
int bk_replica_restart_at(struct bk_partition *p, int64_t offset);

/* Kafka's follower truncation (KIP-101, KIP-279): leader_epoch and
 * leader_end are the leader's OffsetForLeaderEpoch answer for this
 * replica's latest epoch. When this log knows leader_epoch, it is cut to
 * the smaller of both ends and *complete is true; when it does not, it is
 * cut to the end of its largest older epoch and *complete is false: ask
 * the leader again with bk_replica_latest_epoch(). An undefined answer
 * (leader_end < 0) cuts to the high watermark. Never cuts past the log
 * end. Returns as bk_replica_truncate. */
int bk_replica_truncate_to_epoch_end(struct bk_partition *p,
                                     int32_t leader_epoch,
                                     int64_t leader_end,
                                     bool *complete);

/* --- replication, leader side (replica_isr.c) ----------------------------
 *
 * Kafka's rules as replication-notes.md sections 1, 2, 4, 5 and 6 set them
 * out: the leader tracks each follower from its fetches, the high
 * watermark is the smallest log end of the in-sync replicas and does not
 * move while they are fewer than min.insync.replicas, followers join and
 * leave the ISR through AlterPartition (one change in flight), and an
 * acks=all append is answered once the high watermark has passed it. */

/* Takes the assignment and ISR of the metadata image (mp borrowed) when
 * its partition epoch is not older than the one known; now_ms for the
 * followers' caught-up times when this leader starts a new epoch. A
 * change the controller committed ends the AlterPartition in flight.
 * Returns 0 or BK_ENOMEM (nothing changed). */
int bk_replica_set_assignment(struct bk_partition *p,
                              const struct bk_md_partition *mp,
                              int64_t now_ms);

/* A follower's fetch of this leader's partition. */
struct bk_replica_fetch_from {
    int32_t replica_id;
    int64_t broker_epoch;       /* -1 when not sent (Fetch < v15) */
    int64_t fetch_offset;       /* the follower's log end */
    int64_t log_start;          /* the follower's log start, or -1 */
    int32_t last_fetched_epoch; /* -1 when not sent (Fetch < v12) */
    int32_t current_leader_epoch;
};

/* Before the read of a follower's fetch: NOT_LEADER_OR_FOLLOWER (or
 * UNKNOWN_LEADER_EPOCH when it sent an epoch) for a replica not in the
 * assignment; OFFSET_OUT_OF_RANGE below the log start or for an epoch this
 * log cannot place; otherwise BK_KERR_NONE, with *div_epoch >= 0 when the
 * logs diverged (Fetch v12 DivergingEpoch: read nothing, and the follower
 * truncates to *div_end). */
int16_t bk_replica_check_follower(struct bk_partition *p,
                                  const struct bk_replica_fetch_from *f,
                                  int32_t *div_epoch,
                                  int64_t *div_end);

/* After a follower's fetch was read (not diverging): records its log end
 * and caught-up time, moves the high watermark (completing acks=all
 * appends, waking fetches) and asks for an ISR expansion when the follower
 * has caught up (on_isr_change). */
void bk_replica_follower_fetched(struct bk_partition *p,
                                 const struct bk_replica_fetch_from *f,
                                 int64_t now_ms);

/* Housekeeping on the leader: followers out of sync for longer than
 * replica.lag.time.max.ms leave the ISR (on_isr_change), and acks=all
 * appends past their deadline get REQUEST_TIMED_OUT. */
void bk_replica_isr_tick(struct bk_partition *p, int64_t now_ms);

/* The AlterPartition the leader wants sent: false when none. Copies at
 * most cap ISR members. */
bool bk_replica_isr_proposal(const struct bk_partition *p,
                             int32_t *isr,
                             int32_t cap,
                             int32_t *n_isr,
                             int32_t *leader_epoch,
                             int32_t *partition_epoch);

/* The controller's answer to that AlterPartition (Kafka's
 * handleAlterPartitionError): success takes the ISR and partition epoch
 * it committed; INELIGIBLE_REPLICA and OPERATION_NOT_ATTEMPTED drop the
 * proposal; errors that mean the metadata will say more (a fenced epoch, a
 * stale partition epoch, an unknown partition, NEW_LEADER_ELECTED) keep it
 * in flight until it does; any other error (lost connection, no
 * controller) drops it so that it is proposed again. */
void bk_replica_isr_answer(struct bk_partition *p,
                           int16_t error,
                           int32_t leader_epoch,
                           int32_t partition_epoch,
                           const int32_t *isr,
                           int32_t n_isr);

/* The ISR as this leader counts it for the high watermark and for
 * min.insync.replicas: the committed one, plus what an expansion in
 * flight adds (Kafka's maximal ISR, KIP-497). */
int32_t bk_replica_isr_size(const struct bk_partition *p);

/* Fails every waiting acks=all append with error (leadership lost, the
 * partition closing). */
void bk_replica_fail_hw_waits(struct bk_partition *p, int16_t error);

/* --- for coordinators (records the broker writes itself) --------------- */

/* Appends a batch that the broker built (group records; later, transaction
 * markers) at the partition's leader epoch: no client checks, and the high
 * watermark and waiting fetches move as for a client's batch. count and
 * timestamp are its records and max timestamp. Returns 0 with the offsets,
 * BK_ENOTLEADER when this replica follows, or the log's error (BK_ETOOLARGE,
 * BK_ENOSPC, a transient errno, BK_EIO). */
int bk_replica_append_records(struct bk_partition *p,
                              uint8_t *batch,
                              size_t len,
                              int32_t count,
                              int64_t timestamp,
                              int64_t *base_offset,
                              int64_t *last_offset);

/* Appends the marker that ends producer_id's transaction on this
 * partition (WriteTxnMarkers), as leader: a control batch with one
 * COMMIT or ABORT record (protocol/control.h) at timestamp. Returns NONE
 * with *offset the marker's offset (the caller waits for it to be
 * committed: bk_replica_wait_committed), NOT_LEADER_OR_FOLLOWER,
 * INVALID_PRODUCER_EPOCH (older than the producer's),
 * TRANSACTION_COORDINATOR_FENCED (from an older coordinator than the last
 * marker's), or the log's append error. A marker with no transaction open
 * is written and closes nothing. */
int16_t bk_replica_write_marker(struct bk_partition *p,
                                int64_t producer_id,
                                int16_t producer_epoch,
                                bool commit,
                                int32_t coordinator_epoch,
                                int64_t timestamp,
                                int64_t *offset);

/* The offset below which the log is on stable storage (any thread). */
int64_t bk_replica_durable_offset(const struct bk_partition *p);

/* Asks for an fdatasync covering every offset below end_offset; cb runs
 * once, on the syncer thread (bk_log_sync). Returns 0 or BK_EIO when the
 * log has failed (cb is not called then). */
int bk_replica_sync(struct bk_partition *p,
                    int64_t end_offset,
                    struct bk_log_sync_req *req,
                    bk_log_sync_cb cb);

/* Copies whole batches from offset, up to the log end, into buf (cap
 * bytes), for a coordinator loading its state. Returns 0 with *len bytes
 * and *next_offset, BK_ETOOLARGE with *len the room one batch needs, or
 * the read's error. */
int bk_replica_read_copy(struct bk_partition *p,
                         int64_t offset,
                         void *buf,
                         size_t cap,
                         size_t *len,
                         int64_t *next_offset);

/* Whether the log failed for good (a failed fdatasync). */
bool bk_replica_failed(const struct bk_partition *p);

#endif /* BK_PARTITION_REPLICA_H */
