/* The records of __transaction_state in Kafka's own formats, so that
 * Kafka's tools (kafka-console-consumer with the transaction log
 * formatter, kafka-dump-log) read them:
 *
 *   key   = int16 version 0 + TransactionLogKey: TransactionalId string
 *   value = int16 version + TransactionLogValue; a null value is a
 *           tombstone (the id expired)
 *     v0: ProducerId int64, ProducerEpoch int16, TransactionTimeoutMs
 *         int32, TransactionStatus int8, TransactionPartitions nullable
 *         [Topic string, PartitionIds []int32], TransactionLastUpdate
 *         TimestampMs int64, TransactionStartTimestampMs int64
 *     v1: the same, flexible (compact strings and arrays, tagged-field
 *         sections after each partition entry and at the end), with the
 *         tagged fields PreviousProducerId (0), NextProducerId (1) and
 *         ClientTransactionVersion (2)
 *
 * (Kafka's transaction-coordinator/src/main/resources/common/message/
 * TransactionLogKey.json and TransactionLogValue.json.) Kafka writes v1
 * once transaction.version >= 1 is finalized; brokerd writes v0 until it
 * finalizes that feature, and reads both.
 *
 * Prefix: bk_txl_ (transaction log records). */
#ifndef BK_TXN_RECORDS_H
#define BK_TXN_RECORDS_H

#include <stdint.h>

#include "common/arena.h"
#include "protocol/prim.h"
#include "txn/txn.h"

/* Encoders: write into a (returns the null bytes when out of memory). */
struct bk_bytes bk_txl_key_encode(struct bk_arena *a, struct bk_str id);
/* version 0 or 1. */
struct bk_bytes bk_txl_value_encode(struct bk_arena *a,
                                    const struct bk_txn_value *v,
                                    int16_t version);

/* The key's transactional id, a view into in. Returns 0, BK_EPROTO
 * (malformed) or BK_EUNSUPPORTED (another key version, which Kafka
 * skips too). */
int bk_txl_key_decode(struct bk_bytes in, struct bk_str *id);

/* A value into *v (its partitions returns owned: bk_txn_value_free;
 * last_epoch is -1). Returns 0, BK_EPROTO (malformed, or a state out of
 * range), BK_EUNSUPPORTED (a version above 1) or BK_ENOMEM; on failure
 * *v holds nothing to free. */
int bk_txl_value_decode(struct bk_bytes in, struct bk_txn_value *v);

#endif /* BK_TXN_RECORDS_H */
