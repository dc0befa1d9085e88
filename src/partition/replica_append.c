/* Appending as leader (replica.h): Kafka's LogValidator and the
 * idempotent producer's checks, then the append, the high watermark and
 * the durability wait.
 *
 * Happy path: the batch header is checked (one magic-2 batch, no control
 * or transactional batch from a client, zstd only from Produce v7), then
 * the records are decompressed and walked once (keys on compacted topics,
 * timestamps within message.timestamp.*.max.ms), recompressed when the
 * topic's compression.type names another codec, checked against the
 * producer state, and appended with one copy from the request buffer into
 * the page cache. acks=all then waits for an fdatasync that covers the
 * batch.
 *
 * Failure modes: every refusal is a Kafka error code in a->error, with the
 * record index for Produce v8+ where one record is at fault. A corrupt batch
 * (bad CRC) is told apart from an invalid one by checking the CRC only
 * after the records failed. Storage errors are KAFKA_STORAGE_ERROR, which
 * every client retries; the log heals from the transient ones. */
#include <string.h>

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
    if ((h->attributes & BK_BATCH_ATTR_TRANSACTIONAL) != 0) {
        return refuse(a, BK_KERR_INVALID_RECORD,
                      "Transactional batches are not supported by this "
                      "broker yet");
    }
    return true;
}

/* The records, walked once (Kafka's LogValidator). */
static bool check_records(struct bk_partition *p,
                          struct bk_replica_append *a,
                          struct bk_arena *scratch,
                          struct bk_batch_records_info *info)
{
    int vrv = bk_batch_records_validate(a->batch, a->len,
                                        p->compacted ? BK_RB_REQUIRE_KEYS : 0,
                                        MAX_UNCOMPRESSED, scratch, info);
    if (vrv == 0 && !p->log_append_time) {
        int64_t now = bk_clock_wall_ms(bk_clock_system());
        vrv = bk_batch_check_timestamps(info, now, p->timestamp_before_ms,
                                        p->timestamp_after_ms);
    }
    if (vrv == 0) {
        return true;
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
    if (info->bad_record >= 0 && a->produce_version >= 8) {
        a->bad_record = info->bad_record;
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

static void synced_cb(struct bk_log_sync_req *req, int status)
{
    struct bk_replica_append *a = req->data;
    a->durable_cb(a, status != 0 ? BK_KERR_KAFKA_STORAGE_ERROR : 0);
}

/* acks=all: true when the caller must wait for durable_cb. */
static bool wait_durable(struct bk_partition *p,
                         struct bk_replica_append *a,
                         int64_t last_offset)
{
    if (!a->wait_durable || bk_log_durable_offset(p->log) >= last_offset + 1) {
        return false;
    }
    a->sync.data = a;
    if (bk_log_sync(p->log, last_offset + 1, &a->sync, synced_cb) != 0) {
        a->error = BK_KERR_KAFKA_STORAGE_ERROR;
        a->message = NULL;
        return false;
    }
    return true;
}

/* After the checks: the producer state, the append, the offsets. */
static bool append_checked(struct bk_partition *p,
                           struct bk_replica_append *a,
                           const struct bk_batch_hdr *h)
{
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
    a->bad_record = -1;
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
