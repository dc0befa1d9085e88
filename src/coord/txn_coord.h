/* The transaction coordinator's state on the coordinator runtime
 * (coord.h): the transactional ids a shard coordinates, each with its
 * state machine (txn/txn.h), kept in __transaction_state in Kafka's
 * record formats (txn/records.h).
 *
 * A transactional id lives on the leader of __transaction_state
 * partition bk_coord_key_partition(id, transaction.state.log.num.
 * partitions), Kafka's rule, and within this broker on the shard that
 * owns that partition. Every call runs on that shard's thread.
 *
 * A change is written, then made current in memory at once but marked
 * pending until the partition has committed it (synced here and below
 * the high watermark): until then every request on the id meets
 * CONCURRENT_TRANSACTIONS, as Kafka's one transition in flight. A crash
 * loses memory and the uncommitted write together; a failed append or
 * sync makes the runtime read the partition back before it serves
 * again, so memory never stays ahead of the log. */
#ifndef BK_COORD_TXN_COORD_H
#define BK_COORD_TXN_COORD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "coord/coord.h"
#include "txn/txn.h"

#define BK_TXN_TOPIC "__transaction_state"

struct bk_coord_txn;

/* One transactional id. */
struct bk_coord_txn_entry {
    char *id; /* owned, NUL-terminated */
    size_t id_len;
    int32_t partition; /* of __transaction_state */
    struct bk_txn_meta m;
    /* The log end after the id's last write: m.pending holds while the
     * partition has not committed up to it (bk_coord_txn_find). */
    int64_t wrote_end;
    /* Markers for its Prepare state are being written: owned by whoever
     * sends them, so that a tick does not start them twice. */
    bool markers_busy;
    struct bk_coord_txn_entry *next; /* hash chain */
};

/* A shard's transaction coordinator (returns owned: bk_coord_txn_free),
 * or NULL when out of memory. parts and clock are borrowed and outlive
 * it. */
struct bk_coord_txn *bk_coord_txn_new(struct bk_part_table *parts,
                                      const struct bk_clock *clock,
                                      unsigned shard_id);
void bk_coord_txn_free(struct bk_coord_txn *tc);

/* Stops serving (bk_coord_txn_open answers COORDINATOR_NOT_AVAILABLE). */
void bk_coord_txn_close(struct bk_coord_txn *tc);

/* Opens `partition` of __transaction_state and loads its ids the first
 * time (bk_coord_open: NONE, NOT_COORDINATOR or
 * COORDINATOR_NOT_AVAILABLE). Loading replays every record: the last
 * value of an id wins and a tombstone removes it. */
int16_t bk_coord_txn_open(struct bk_coord_txn *tc,
                          const struct bk_uuid *topic_id,
                          int32_t partition,
                          bk_coord_open_fn open,
                          void *arg);

/* Opens and loads every partition of __transaction_state (t, borrowed)
 * that node_id leads and this shard owns (after a restart or a
 * leadership change, so that decided transactions are completed without
 * waiting for their producer). */
void bk_coord_txn_open_all(struct bk_coord_txn *tc,
                           const struct bk_md_topic *t,
                           int32_t node_id,
                           unsigned nshards,
                           bk_coord_open_fn open,
                           void *arg);

/* The coordinator epoch markers carry: the leader epoch `partition` was
 * loaded at, or -1. */
int32_t bk_coord_txn_epoch(const struct bk_coord_txn *tc, int32_t partition);

/* The id's entry (borrowed, valid until the next write, expiry or
 * unload), its pending flag brought up to date; NULL when unknown. */
struct bk_coord_txn_entry *bk_coord_txn_find(struct bk_coord_txn *tc,
                                             struct bk_str id);

/* Adds an id seen for the first time on `partition` with producer id pid
 * (Empty, no epoch: nothing written until its first change). Returns the
 * entry, or NULL when out of memory. */
struct bk_coord_txn_entry *bk_coord_txn_add(struct bk_coord_txn *tc,
                                            struct bk_str id,
                                            int32_t partition,
                                            int64_t pid);

/* Writes next (takes ownership) as e's state and makes it current,
 * pending until committed (a commit is asked for in every case). With
 * w the runtime holds w until the record is committed (a failure lands
 * in *w->err). Returns NONE or the
 * runtime's error (bk_coord_append); on an error e is left as it was,
 * and an id never written (bk_coord_txn_add) is removed. */
int16_t bk_coord_txn_write(struct bk_coord_txn *tc,
                           struct bk_coord_txn_entry *e,
                           struct bk_txn_value *next,
                           const struct bk_coord_waiter *w);

/* Writes e's tombstone and removes it (transactional.id.expiration.ms).
 * Returns NONE or the runtime's error (e is then kept). */
int16_t bk_coord_txn_remove(struct bk_coord_txn *tc,
                            struct bk_coord_txn_entry *e);

/* Calls fn for every id loaded here, pending flags up to date. fn may
 * not add or remove ids; it may write. */
void bk_coord_txn_each(struct bk_coord_txn *tc,
                       void (*fn)(void *arg, struct bk_coord_txn_entry *e),
                       void *arg);

/* How many ids are in memory. */
size_t bk_coord_txn_count(const struct bk_coord_txn *tc);

/* After the operations of a request or tick: unloads partitions whose
 * append failed (bk_coord_settle). */
void bk_coord_txn_settle(struct bk_coord_txn *tc);

#endif /* BK_COORD_TXN_COORD_H */
