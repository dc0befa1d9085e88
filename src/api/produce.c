/* Produce (key 0), v3-12, advertised from v0 (protocol-notes.md section b:
 * librdkafka < 2.11.1 turns compression off unless Produce v0 is
 * advertised; Kafka 4 does the same and closes the connection on a v0-2
 * request, which the dispatch table does here).
 *
 * Happy path: the request is split by owning shard (fan.h); each owner
 * validates its partitions' batches (exactly one magic-2 batch, CRC,
 * max.message.bytes, zstd only from v7, idempotent sequence rules), appends
 * them to the log (one copy, from the request buffer into the page cache)
 * and, for acks=all, asks the syncer for an fdatasync that covers them; the
 * answer is built on the connection's shard once every part is back.
 * acks=0 gets no answer; an error with acks=0 closes the connection, which
 * is how Kafka tells such a producer something went wrong. */
#include "protocol/gen/produce.h"

#include <string.h>

#include "api/fan.h"
#include "cluster/controller.h"
#include "common/clock.h"
#include "common/err.h"
#include "common/log.h"
#include "log/batch.h"
#include "protocol/kerr.h"
#include "protocol/record_batch.h"

/* Decompression limit for validating one batch: generous enough for any
 * real batch, small enough that a compression bomb cannot exhaust memory. */
#define MAX_UNCOMPRESSED (256 * 1024 * 1024)

typedef struct bk_msg_produce_response_partition_produce_response out_part;
typedef struct bk_msg_produce_response_topic_produce_response out_topic;

struct produce_item {
    /* The per-record error (Produce v8+) when a record is refused. */
    struct bk_msg_produce_response_batch_index_and_error_message rec_error;
    const struct bk_msg_produce_request_topic_produce_data *topic;
    const struct bk_msg_produce_request_partition_produce_data *in;
    out_part *out;
    struct bk_fan_part *part; /* while a sync is pending */
    struct bk_log_sync_req sync;
    int16_t sync_error;
};

struct produce_state {
    struct bk_fan fan;
    struct bk_msg_produce_response resp;
    struct produce_item *items;
    size_t nitems;
    int16_t acks;
    int16_t version;
};

static const char *err_text(int16_t code)
{
    return bk_kerr_message(code);
}

static void set_error(struct produce_item *it, int16_t code, const char *msg)
{
    it->out->error_code = code;
    it->out->base_offset = -1;
    it->out->error_message = bk_str_c(msg != NULL ? msg : err_text(code));
}

static int16_t append_error(int rv)
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

static void synced_cb(struct bk_log_sync_req *req, int status)
{
    struct produce_item *it = req->data;
    if (status != 0) {
        it->sync_error = BK_KERR_KAFKA_STORAGE_ERROR;
    }
    bk_fan_release(it->part);
}

/* acks=all: holds the part until an fdatasync covers last_offset. */
static void wait_durable(struct produce_state *st,
                         struct bk_fan_part *part,
                         struct bk_partition *p,
                         struct produce_item *it,
                         int64_t last_offset)
{
    if (st->acks != -1 || bk_log_durable_offset(p->log) >= last_offset + 1) {
        return;
    }
    it->part = part;
    it->sync.data = it;
    bk_fan_hold(part);
    if (bk_log_sync(p->log, last_offset + 1, &it->sync, synced_cb) != 0) {
        it->sync_error = BK_KERR_KAFKA_STORAGE_ERROR;
        bk_fan_release(part);
    }
}

static void produce_one(struct produce_state *st,
                        struct bk_fan_part *part,
                        const struct bk_md_image *img,
                        struct produce_item *it)
{
    struct bk_api_shard *sh = bk_fan_shard_state(part);
    const struct bk_str *tn = &it->topic->name;
    const struct bk_md_topic *t =
        tn->len >= 0 ? bk_md_image_topic(img, tn->ptr, (size_t)tn->len) : NULL;
    const struct bk_md_partition *mp =
        t != NULL ? bk_md_topic_partition(t, it->in->index) : NULL;
    if (mp == NULL) {
        set_error(it, BK_KERR_UNKNOWN_TOPIC_OR_PARTITION, NULL);
        return;
    }
    struct bk_bytes rec = it->in->records;
    if (rec.len <= 0) {
        set_error(it, BK_KERR_INVALID_RECORD,
                  "Produce requests must contain exactly one record batch");
        return;
    }
    uint8_t *buf = (uint8_t *)rec.ptr; /* inside the request's own frame */
    size_t len = (size_t)rec.len;
    if (len < BK_BATCH_HEADER_SIZE) {
        set_error(it, BK_KERR_CORRUPT_MESSAGE, "Record batch is truncated");
        return;
    }
    struct bk_batch_hdr h;
    bk_batch_hdr_decode(buf, &h);
    if (h.magic != 2) {
        set_error(it, BK_KERR_INVALID_RECORD,
                  "Produce requests from v3 must use record batches of "
                  "magic 2");
        return;
    }
    if (bk_batch_hdr_size(&h) < (int64_t)len && h.length > 0) {
        set_error(it, BK_KERR_INVALID_RECORD,
                  "Produce requests must contain exactly one record batch");
        return;
    }
    if ((h.attributes & BK_BATCH_ATTR_COMPRESSION_MASK) == 4 &&
        st->version < 7) {
        set_error(it, BK_KERR_UNSUPPORTED_COMPRESSION_TYPE,
                  "zstd compression needs Produce v7 or later");
        return;
    }
    if ((h.attributes & BK_BATCH_ATTR_CONTROL) != 0) {
        set_error(it, BK_KERR_INVALID_RECORD,
                  "Clients may not write control batches");
        return;
    }
    if ((h.attributes & BK_BATCH_ATTR_TRANSACTIONAL) != 0) {
        set_error(it, BK_KERR_INVALID_RECORD,
                  "Transactional batches are not supported by this broker "
                  "yet");
        return;
    }
    char errmsg[BK_ERRMSG_SIZE] = "";
    struct bk_partition *p = NULL;
    int rv =
        bk_part_get(&sh->parts, t, it->in->index, mp->leader_epoch, &p, errmsg);
    if (rv != 0) {
        bk_log_error("api", "topic=%s partition=%d msg=\"cannot open: %s\"",
                     t->name, it->in->index, errmsg);
        set_error(it, BK_KERR_KAFKA_STORAGE_ERROR, NULL);
        return;
    }
    if ((int64_t)len > p->max_message_bytes) {
        set_error(it, BK_KERR_MESSAGE_TOO_LARGE,
                  "The batch is larger than the topic's max.message.bytes");
        return;
    }
    /* Records: decompressed and walked once (Kafka's LogValidator), then
     * recompressed when the topic's compression.type asks for another
     * codec. A corrupt batch is told apart from an invalid one by its
     * CRC. */
    struct bk_arena scratch;
    bk_arena_init(&scratch, 64 * 1024, 0);
    struct bk_batch_records_info info;
    int vrv = bk_batch_records_validate(buf, len,
                                        p->compacted ? BK_RB_REQUIRE_KEYS : 0,
                                        MAX_UNCOMPRESSED, &scratch, &info);
    if (vrv == 0 && !p->log_append_time) {
        int64_t now = bk_clock_wall_ms(bk_clock_system());
        vrv = bk_batch_check_timestamps(&info, now, p->timestamp_before_ms,
                                        p->timestamp_after_ms);
    }
    if (vrv != 0) {
        int16_t code = BK_KERR_CORRUPT_MESSAGE;
        if (vrv == BK_ERANGE) {
            code = BK_KERR_INVALID_TIMESTAMP;
        } else if (vrv == BK_EPROTO &&
                   bk_batch_validate(buf, len, BK_BATCH_CHECK_PRODUCE, NULL) ==
                       0) {
            code = BK_KERR_INVALID_RECORD;
        } else if (vrv == BK_ENOMEM) {
            code = BK_KERR_UNKNOWN_SERVER_ERROR;
        }
        set_error(it, code, info.reason);
        if (info.bad_record >= 0 && st->version >= 8) {
            it->rec_error.batch_index = info.bad_record;
            it->rec_error.batch_index_error_message = bk_str_c(info.reason);
            it->out->record_errors = &it->rec_error;
            it->out->record_errors_count = 1;
        }
        bk_arena_destroy(&scratch);
        return;
    }
    int batch_codec = h.attributes & BK_BATCH_ATTR_COMPRESSION_MASK;
    if (p->compression >= 0 && p->compression != batch_codec) {
        if (p->compression == BK_CODEC_ZSTD && st->version < 7) {
            set_error(it, BK_KERR_UNSUPPORTED_COMPRESSION_TYPE,
                      "The topic's zstd compression needs Produce v7");
            bk_arena_destroy(&scratch);
            return;
        }
        uint8_t *rebuilt = NULL;
        size_t rebuilt_len = 0;
        if (bk_batch_validate(buf, len, BK_BATCH_CHECK_PRODUCE, NULL) != 0) {
            set_error(it, BK_KERR_CORRUPT_MESSAGE, NULL);
            bk_arena_destroy(&scratch);
            return;
        }
        if (bk_batch_rebuild(buf, info.records_data, info.records_size,
                             (enum bk_codec)p->compression,
                             BK_COMPRESS_LEVEL_DEFAULT, &scratch, &rebuilt,
                             &rebuilt_len) != 0) {
            set_error(it, BK_KERR_UNKNOWN_SERVER_ERROR,
                      "Recompressing the batch failed");
            bk_arena_destroy(&scratch);
            return;
        }
        buf = rebuilt;
        len = rebuilt_len;
    }
    int32_t count = h.last_offset_delta + 1;
    struct bk_pstate_batch dup;
    switch (bk_pstate_check(&p->pstate, h.producer_id, h.producer_epoch,
                            h.base_sequence, count, &dup)) {
        case BK_PSTATE_APPEND:
            break;
        case BK_PSTATE_DUPLICATE:
            /* Already written: the original offsets, and success (Kafka's
             * UnifiedLog answers duplicates this way, not with error 46). */
            it->out->error_code = BK_KERR_NONE;
            it->out->base_offset = dup.first_offset;
            it->out->log_append_time_ms = -1;
            it->out->log_start_offset = bk_log_start_offset(p->log);
            /* The first copy may not be on disk yet: a retried acks=all
             * batch is acknowledged only once it is. */
            wait_durable(st, part, p, it, dup.last_offset);
            bk_arena_destroy(&scratch);
            return;
        case BK_PSTATE_BAD_EPOCH:
            set_error(it, BK_KERR_INVALID_PRODUCER_EPOCH, NULL);
            bk_arena_destroy(&scratch);
            return;
        case BK_PSTATE_OUT_OF_ORDER:
            set_error(it, BK_KERR_OUT_OF_ORDER_SEQUENCE_NUMBER, NULL);
            bk_arena_destroy(&scratch);
            return;
    }
    struct bk_log_append_result res;
    rv = bk_log_append(p->log, buf, len, mp->leader_epoch, BK_LOG_APPEND_LEADER,
                       &res);
    if (rv != 0) {
        set_error(it, append_error(rv), NULL);
        bk_arena_destroy(&scratch);
        return;
    }
    /* One replica: the high watermark is the log end. */
    bk_log_set_hw(p->log, bk_log_end_offset(p->log));
    bk_part_after_append(p, h.producer_id, h.producer_epoch, h.base_sequence,
                         count, res.base_offset, h.max_timestamp, len);
    it->out->error_code = BK_KERR_NONE;
    it->out->base_offset = res.base_offset;
    it->out->log_append_time_ms = res.log_append_time;
    it->out->log_start_offset = bk_log_start_offset(p->log);
    wait_durable(st, part, p, it, res.last_offset);
    bk_arena_destroy(&scratch);
}

static void run_part(struct bk_fan_part *part)
{
    struct produce_state *st = part->fan->data;
    struct bk_md_image *img = bk_md_image_acquire(part->fan->call->ctx->md);
    for (size_t i = 0; i < part->n; i++) {
        struct produce_item *it = &st->items[part->idx[i]];
        if (img == NULL) {
            set_error(it, BK_KERR_UNKNOWN_SERVER_ERROR, NULL);
            continue;
        }
        produce_one(st, part, img, it);
    }
    bk_md_image_release(img);
    bk_fan_release(part);
}

static void done(struct bk_fan *fan)
{
    struct produce_state *st = fan->data;
    struct bk_call *call = fan->call;
    bool failed = false;
    for (size_t i = 0; i < st->nitems; i++) {
        struct produce_item *it = &st->items[i];
        if (it->sync_error != 0 && it->out->error_code == 0) {
            set_error(it, it->sync_error, NULL);
        }
        failed |= it->out->error_code != 0;
    }
    if (st->acks == 0) {
        if (failed) {
            bk_req_fail(call->req, "Produce with acks=0 failed");
        } else {
            bk_req_noreply(call->req);
        }
        return;
    }
    bk_call_reply(call, &st->resp);
}

void bk_handle_produce(struct bk_call *call)
{
    const struct bk_msg_produce_request *req = call->request;
    struct produce_state *st = bk_arena_alloc(call->arena, sizeof(*st));
    if (st == NULL) {
        bk_req_fail(call->req, "out of memory");
        return;
    }
    st->acks = req->acks;
    st->version = call->hdr.api_version;
    bk_msg_produce_response_init(&st->resp);
    int32_t nt = req->topic_data_count < 0 ? 0 : req->topic_data_count;
    size_t n = 0;
    for (int32_t i = 0; i < nt; i++) {
        int32_t np = req->topic_data[i].partition_data_count;
        n += np < 0 ? 0 : (size_t)np;
    }
    st->resp.responses =
        bk_arena_alloc(call->arena, (size_t)(nt + 1) * sizeof(out_topic));
    st->items = bk_arena_alloc(call->arena, (n + 1) * sizeof(*st->items));
    out_part *outs = bk_arena_alloc(call->arena, (n + 1) * sizeof(out_part));
    unsigned *owner = bk_arena_alloc(call->arena, (n + 1) * sizeof(*owner));
    if (st->resp.responses == NULL || st->items == NULL || outs == NULL ||
        owner == NULL) {
        bk_req_fail(call->req, "out of memory");
        return;
    }
    st->resp.responses_count = nt;
    st->nitems = n;
    struct bk_md_image *img = bk_api_image(call);
    unsigned nshards = call->req->shard->group->n;
    size_t k = 0;
    for (int32_t i = 0; i < nt; i++) {
        const struct bk_msg_produce_request_topic_produce_data *td =
            &req->topic_data[i];
        out_topic *ot = &st->resp.responses[i];
        ot->name = td->name;
        ot->partition_responses = &outs[k];
        ot->partition_responses_count =
            td->partition_data_count < 0 ? 0 : td->partition_data_count;
        const struct bk_md_topic *t =
            (img != NULL && td->name.len >= 0)
                ? bk_md_image_topic(img, td->name.ptr, (size_t)td->name.len)
                : NULL;
        uint64_t th = t != NULL ? bk_hash64(t->id.b, sizeof(t->id.b)) : 0;
        for (int32_t j = 0; j < ot->partition_responses_count; j++, k++) {
            struct produce_item *it = &st->items[k];
            it->topic = td;
            it->in = &td->partition_data[j];
            it->out = &outs[k];
            it->out->index = it->in->index;
            it->out->base_offset = -1;
            it->out->log_append_time_ms = -1;
            it->out->log_start_offset = -1;
            it->out->error_message = BK_STR_NULL;
            it->out->current_leader.leader_id = -1;
            it->out->current_leader.leader_epoch = -1;
            /* Unknown topics are answered by this shard. */
            owner[k] = t != NULL
                           ? bk_shard_for_partition(th, it->in->index, nshards)
                           : call->req->shard->id;
        }
    }
    bk_md_image_release(img);
    if (req->acks != 0 && req->acks != 1 && req->acks != -1) {
        for (size_t i = 0; i < n; i++) {
            set_error(&st->items[i], BK_KERR_INVALID_REQUIRED_ACKS, NULL);
        }
        bk_call_reply(call, &st->resp);
        return;
    }
    if (bk_fan_start(&st->fan, call, n, owner, run_part, done, st) != 0) {
        bk_req_fail(call->req, "out of memory");
    }
}
