/* Appending as leader (replica.h): Kafka's LogValidator and the
 * idempotent producer's checks, then the append, the high watermark and
 * the durability wait.
 *
 * Happy path: the batch header is checked (one magic-2 batch, no control
 * batch from a client, a producer id on transactional ones, zstd only
 * from Produce v7), then
 * the records are decompressed and walked once (keys on compacted topics,
 * timestamps within message.timestamp.*.max.ms), recompressed when the
 * topic's compression.type names another codec, checked against the
 * producer state, and appended with one copy from the request buffer into
 * the page cache. acks=all then waits for an fdatasync that covers the
 * batch.
 *
 * Failure modes: every refusal is a Kafka error code in a->error. Records
 * that fail Kafka's per-record checks (a key on a compacted topic, the
 * timestamp bounds) are all listed, with Kafka's messages, for Produce
 * v8+'s record_errors; a malformed record names its index. A corrupt batch
 * (bad CRC) is told apart from an invalid one by checking the CRC only
 * after the records failed. Storage errors are KAFKA_STORAGE_ERROR, which
 * every client retries; the log heals from the transient ones. */
#include <stdio.h>
#include <string.h>

#include "common/arena.h"
#include "common/clock.h"
#include "common/err.h"
#include "log/batch.h"
#include "partition/replica_int.h"
#include "protocol/kerr.h"
#include "protocol/record_batch.h"

/* Decompression limit for validating one batch: generous enough for any
 * real batch, small enough that a compression bomb cannot exhaust memory. */
#define MAX_UNCOMPRESSED (256 * 1024 * 1024)

static bool refuse(struct bk_replica_append *a, int16_t code, const char *msg)
{
    a->error = code;
    a->message = msg;
    a->base_offset = -1;
    return false;
}

int16_t bk_replica_append_error(int rv)
{
    switch (rv) {
        case BK_ETOOLARGE:
            return BK_KERR_MESSAGE_TOO_LARGE;
        case BK_EPROTO:
        case BK_ECORRUPT:
            return BK_KERR_CORRUPT_MESSAGE;
        case BK_EUNSUPPORTED:
            return BK_KERR_INVALID_RECORD;
        case BK_EIO:
            return BK_KERR_KAFKA_STORAGE_ERROR;
        default:
            /* A full disk, the free space reserve, or a transient error
             * (too many open files): the log heals, and clients retry
             * KAFKA_STORAGE_ERROR (a retriable error in every client). */
            return bk_err_transient(rv) || bk_err_nospace(rv)
                       ? BK_KERR_KAFKA_STORAGE_ERROR
                       : BK_KERR_UNKNOWN_SERVER_ERROR;
    }
}

/* The header checks, before any record is looked at. */
static bool check_header(struct bk_replica_append *a,
                         const struct bk_batch_hdr *h)
{
    if (h->magic != 2) {
        return refuse(a, BK_KERR_INVALID_RECORD,
                      "Produce requests from v3 must use record batches of "
                      "magic 2");
    }
    if (bk_batch_hdr_size(h) < (int64_t)a->len && h->length > 0) {
        return refuse(a, BK_KERR_INVALID_RECORD,
                      "Produce requests must contain exactly one record "
                      "batch");
    }
    if ((h->attributes & BK_BATCH_ATTR_COMPRESSION_MASK) == BK_CODEC_ZSTD &&
        a->produce_version < 7) {
        return refuse(a, BK_KERR_UNSUPPORTED_COMPRESSION_TYPE,
                      "zstd compression needs Produce v7 or later");
    }
    if ((h->attributes & BK_BATCH_ATTR_CONTROL) != 0) {
        return refuse(a, BK_KERR_INVALID_RECORD,
                      "Clients may not write control batches");
    }
    if ((h->attributes & BK_BATCH_ATTR_TRANSACTIONAL) != 0 &&
        h->producer_id < 0) {
        /* Its marker would name no producer (Kafka's LogValidator). */
        return refuse(a, BK_KERR_INVALID_RECORD,
                      "Transactional records must carry a producer id");
    }
    return true;
}

/* Collects the refused records for record_errors (bk_batch_record_errors'
 * callback). */
struct rec_errs {
    struct bk_partition *p;
    struct bk_replica_append *a;
    const char *key_message; /* one text for every keyless record */
    int64_t lo, hi;
    bool timestamps; /* some record's timestamp is out of range */
    bool failed;     /* out of memory */
};

static void rec_error_cb(void *arg, const struct bk_batch_record_error *e)
{
    struct rec_errs *re = arg;
    struct bk_replica_append *a = re->a;
    struct bk_replica_record_error *out =
        &a->record_errors[a->record_errors_count++];
    out->index = e->index;
    out->message = re->key_message;
    if (e->fault == BK_RB_FAULT_TIMESTAMP) {
        /* Kafka 4.1's wording (LogValidator.validateTimestamp). */
        char buf[200];
        int n = snprintf(buf, sizeof(buf),
                         "Timestamp %lld of message with offset %lld is out "
                         "of range. The timestamp should be within [%lld, "
                         "%lld]",
                         (long long)e->timestamp, (long long)e->offset,
                         (long long)re->lo, (long long)re->hi);
        out->message = bk_arena_strndup(a->arena, buf, (size_t)n);
        re->timestamps = true;
    }
    re->failed |= out->message == NULL;
}

/* Kafka's top-level message for INVALID_RECORD: the count and the first
 * three record errors, as Java prints a List of RecordError. */
static const char *invalid_record_message(struct bk_replica_append *a)
{
    char buf[1024];
    size_t n = (size_t)snprintf(buf, sizeof(buf),
                                "One or more records have been rejected due "
                                "to %d record errors in total, and only "
                                "showing the first three errors at most: [",
                                (int)a->record_errors_count);
    for (int32_t i = 0; i < a->record_errors_count && i < 3; i++) {
        const struct bk_replica_record_error *e = &a->record_errors[i];
        if (n < sizeof(buf)) {
            n += (size_t)snprintf(buf + n, sizeof(buf) - n,
                                  "%sRecordError(batchIndex=%d, message='%s')",
                                  i > 0 ? ", " : "", (int)e->index, e->message);
        }
    }
    if (n < sizeof(buf)) {
        n += (size_t)snprintf(buf + n, sizeof(buf) - n, "]");
    }
    n = n < sizeof(buf) ? n : sizeof(buf) - 1;
    return bk_arena_strndup(a->arena, buf, n);
}

/* Every record that fails Kafka's per-record checks, listed as Kafka 4.1
 * answers them: record_errors with Kafka's messages, INVALID_TIMESTAMP
 * when any timestamp is out of range (else INVALID_RECORD), the log start
 * offset. False when the batch's structure is at fault instead (then the
 * caller answers as for any malformed batch). */
static bool refuse_records(struct bk_partition *p,
                           struct bk_replica_append *a,
                           struct bk_arena *scratch,
                           int64_t now)
{
    struct bk_batch_records_info info;
    if (a->arena == NULL ||
        bk_batch_records_validate(a->batch, a->len, 0, MAX_UNCOMPRESSED,
                                  scratch, &info) != 0) {
        return false;
    }
    struct rec_errs re = { .p = p, .a = a, .lo = INT64_MIN, .hi = INT64_MAX };
    if (!p->log_append_time) {
        int64_t before =
            p->timestamp_before_ms < 0 ? 0 : p->timestamp_before_ms;
        int64_t after = p->timestamp_after_ms < 0 ? 0 : p->timestamp_after_ms;
        if (__builtin_sub_overflow(now, before, &re.lo)) {
            re.lo = INT64_MIN;
        }
        if (__builtin_add_overflow(now, after, &re.hi)) {
            re.hi = INT64_MAX;
        }
    }
    unsigned flags = p->compacted ? BK_RB_REQUIRE_KEYS : 0;
    int32_t n =
        bk_batch_record_errors(a->batch, info.records_data, info.records_size,
                               flags, re.lo, re.hi, NULL, NULL);
    if (n <= 0) {
        return false;
    }
    char key_message[400];
    snprintf(key_message, sizeof(key_message),
             "Compacted topic cannot accept message without key in topic "
             "partition %s-%d",
             p->topic != NULL ? p->topic : "", (int)p->index);
    re.key_message =
        bk_arena_strndup(a->arena, key_message, strlen(key_message));
    a->record_errors =
        bk_arena_alloc(a->arena, (size_t)n * sizeof(*a->record_errors));
    if (a->record_errors == NULL || re.key_message == NULL) {
        return false;
    }
    a->record_errors_count = 0;
    bk_batch_record_errors(a->batch, info.records_data, info.records_size,
                           flags, re.lo, re.hi, rec_error_cb, &re);
    if (re.failed) {
        a->record_errors = NULL;
        a->record_errors_count = 0;
        return false;
    }
    if (re.timestamps) {
        refuse(a, BK_KERR_INVALID_TIMESTAMP,
               "One or more records have been rejected due to invalid "
               "timestamp");
    } else {
        refuse(a, BK_KERR_INVALID_RECORD, invalid_record_message(a));
    }
    /* Kafka answers a record validation failure with the log start. */
    a->log_start = bk_replica_log_start(p);
    return true;
}

/* The records, walked once (Kafka's LogValidator). */
static bool check_records(struct bk_partition *p,
                          struct bk_replica_append *a,
                          struct bk_arena *scratch,
                          struct bk_batch_records_info *info)
{
    int64_t now = bk_clock_wall_ms(bk_clock_system());
    int vrv = bk_batch_records_validate(a->batch, a->len,
                                        p->compacted ? BK_RB_REQUIRE_KEYS : 0,
                                        MAX_UNCOMPRESSED, scratch, info);
    if (vrv == 0 && !p->log_append_time) {
        vrv = bk_batch_check_timestamps(info, now, p->timestamp_before_ms,
                                        p->timestamp_after_ms);
    }
    if (vrv == 0) {
        return true;
    }
    /* A keyless record or a timestamp out of range: list them all. */
    if ((vrv == BK_ERANGE || (vrv == BK_EPROTO && p->compacted)) &&
        refuse_records(p, a, scratch, now)) {
        return false;
    }
    int16_t code = BK_KERR_CORRUPT_MESSAGE;
    if (vrv == BK_ERANGE) {
        code = BK_KERR_INVALID_TIMESTAMP;
    } else if (vrv == BK_EPROTO &&
               bk_batch_validate(a->batch, a->len, BK_BATCH_CHECK_PRODUCE,
                                 NULL) == 0) {
        code = BK_KERR_INVALID_RECORD;
    } else if (vrv == BK_ENOMEM) {
        code = BK_KERR_UNKNOWN_SERVER_ERROR;
    }
    refuse(a, code, info->reason);
    if (info->bad_record >= 0 && a->arena != NULL) {
        /* A malformed record: its index, as before. */
        a->record_errors = bk_arena_alloc(a->arena, sizeof(*a->record_errors));
        if (a->record_errors != NULL) {
            a->record_errors[0].index = info->bad_record;
            a->record_errors[0].message =
                info->reason != NULL ? info->reason : bk_kerr_message(code);
            a->record_errors_count = 1;
        }
    }
    return false;
}

/* Rewrites the batch with the topic's compression.type when the producer
 * used another codec. */
static bool recompress(struct bk_partition *p,
                       struct bk_replica_append *a,
                       const struct bk_batch_hdr *h,
                       const struct bk_batch_records_info *info,
                       struct bk_arena *scratch)
{
    int batch_codec = h->attributes & BK_BATCH_ATTR_COMPRESSION_MASK;
    if (p->compression < 0 || p->compression == batch_codec) {
        return true;
    }
    if (p->compression == BK_CODEC_ZSTD && a->produce_version < 7) {
        return refuse(a, BK_KERR_UNSUPPORTED_COMPRESSION_TYPE,
                      "The topic's zstd compression needs Produce v7");
    }
    if (bk_batch_validate(a->batch, a->len, BK_BATCH_CHECK_PRODUCE, NULL) !=
        0) {
        return refuse(a, BK_KERR_CORRUPT_MESSAGE, NULL);
    }
    uint8_t *rebuilt = NULL;
    size_t rebuilt_len = 0;
    if (bk_batch_rebuild(a->batch, info->records_data, info->records_size,
                         (enum bk_codec)p->compression,
                         BK_COMPRESS_LEVEL_DEFAULT, scratch, &rebuilt,
                         &rebuilt_len) != 0) {
        return refuse(a, BK_KERR_UNKNOWN_SERVER_ERROR,
                      "Recompressing the batch failed");
    }
    a->batch = rebuilt;
    a->len = rebuilt_len;
    return true;
}

static void committed(struct bk_replica_commit_wait *w, int16_t error)
{
    struct bk_replica_append *a = w->data;
    a->durable_cb(a, error);
}

/* acks=all: true when the caller must wait for durable_cb. */
static bool wait_durable(struct bk_partition *p,
                         struct bk_replica_append *a,
                         int64_t last_offset)
{
    if (!a->wait_durable) {
        return false;
    }
    a->commit.done = committed;
    a->commit.data = a;
    a->commit.timeout_ms = a->timeout_ms;
    bool waiting = false;
    int16_t err =
        bk_replica_wait_committed(p, last_offset + 1, &a->commit, &waiting);
    if (err != BK_KERR_NONE) {
        a->error = err;
        a->message = NULL;
    }
    return waiting;
}

/* After the checks: the producer state, the append, the offsets. */
static bool append_checked(struct bk_partition *p,
                           struct bk_replica_append *a,
                           const struct bk_batch_hdr *h)
{
    /* Checked against records_count before, but a huge last offset delta
     * must not overflow here whatever path led in (UBSan, live fuzzer
     * seed 1410655020). */
    if (h->last_offset_delta < 0 || h->last_offset_delta == INT32_MAX) {
        return refuse(a, BK_KERR_CORRUPT_MESSAGE,
                      "The batch's last offset delta is out of range");
    }
    int32_t count = h->last_offset_delta + 1;
    struct bk_pstate_batch dup;
    switch (bk_pstate_check(&p->pstate, h->producer_id, h->producer_epoch,
                            h->base_sequence, count, &dup)) {
        case BK_PSTATE_APPEND:
            break;
        case BK_PSTATE_DUPLICATE:
            /* Already written: the original offsets, and success (Kafka's
             * UnifiedLog answers duplicates this way, not with error 46).
             * The first copy may not be on disk yet: a retried acks=all
             * batch is acknowledged only once it is. */
            a->error = BK_KERR_NONE;
            a->base_offset = dup.first_offset;
            a->log_start = bk_replica_log_start(p);
            return wait_durable(p, a, dup.last_offset);
        case BK_PSTATE_BAD_EPOCH:
            return refuse(a, BK_KERR_INVALID_PRODUCER_EPOCH, NULL);
        case BK_PSTATE_OUT_OF_ORDER:
            return refuse(a, BK_KERR_OUT_OF_ORDER_SEQUENCE_NUMBER, NULL);
        case BK_PSTATE_BAD_TXN:
            return refuse(a, BK_KERR_INVALID_TXN_STATE, NULL);
        case BK_PSTATE_FENCED:
            return refuse(a, BK_KERR_TRANSACTION_COORDINATOR_FENCED, NULL);
    }
    bool txn = (h->attributes & BK_BATCH_ATTR_TRANSACTIONAL) != 0;
    if (bk_pstate_check_txn(&p->pstate, h->producer_id, txn) ==
        BK_PSTATE_BAD_TXN) {
        return refuse(a, BK_KERR_INVALID_TXN_STATE,
                      "The producer has a transaction open on this partition");
    }
    struct bk_log_append_result res;
    int rv = bk_log_append(p->log, a->batch, a->len, p->leader_epoch,
                           BK_LOG_APPEND_LEADER, &res);
    if (rv != 0) {
        return refuse(a, bk_replica_append_error(rv), NULL);
    }
    bk_replica_advance_hw(p);
    bk_part_after_append(p, h->producer_id, h->producer_epoch, h->base_sequence,
                         count, res.base_offset, h->max_timestamp, a->len);
    bk_part_txn_apply(p, a->batch, a->len, res.base_offset);
    a->error = BK_KERR_NONE;
    a->base_offset = res.base_offset;
    a->append_time = res.log_append_time;
    a->log_start = bk_replica_log_start(p);
    return wait_durable(p, a, res.last_offset);
}

bool bk_replica_append_leader(struct bk_partition *p,
                              struct bk_replica_append *a)
{
    bk_owner_check(&p->owner);
    a->error = BK_KERR_NONE;
    a->message = NULL;
    a->record_errors = NULL;
    a->record_errors_count = 0;
    a->base_offset = -1;
    a->append_time = -1;
    a->log_start = -1;
    if (p->role != BK_REPLICA_LEADER) {
        /* Clients write to the leader only (Kafka: appendRecordsToLeader);
         * a follower's log holds exactly what its leader sent. */
        return refuse(a, BK_KERR_NOT_LEADER_OR_FOLLOWER, NULL);
    }
    if (a->len < BK_BATCH_HEADER_SIZE) {
        return refuse(a, BK_KERR_CORRUPT_MESSAGE, "Record batch is truncated");
    }
    if (a->wait_durable && !bk_replica_enough_isr(p)) {
        /* Kafka checks before writing: nothing is appended. */
        return refuse(a, BK_KERR_NOT_ENOUGH_REPLICAS,
                      "The in-sync replicas are fewer than "
                      "min.insync.replicas");
    }
    struct bk_batch_hdr h;
    bk_batch_hdr_decode(a->batch, &h);
    if (!check_header(a, &h)) {
        return false;
    }
    if ((int64_t)a->len > p->max_message_bytes) {
        return refuse(a, BK_KERR_MESSAGE_TOO_LARGE,
                      "The batch is larger than the topic's "
                      "max.message.bytes");
    }
    uint8_t *batch = a->batch;
    size_t len = a->len;
    struct bk_arena scratch;
    bk_arena_init(&scratch, 64 * 1024, 0);
    struct bk_batch_records_info info;
    bool held = false;
    if (check_records(p, a, &scratch, &info) &&
        recompress(p, a, &h, &info, &scratch)) {
        held = append_checked(p, a, &h);
    }
    /* A rebuilt batch lived in scratch, and the log has copied it. */
    a->batch = batch;
    a->len = len;
    bk_arena_destroy(&scratch);
    return held;
}
