/* Produce (key 0), v3-12, advertised from v0 (protocol-notes.md section b:
 * librdkafka < 2.11.1 turns compression off unless Produce v0 is
 * advertised; Kafka 4 does the same and closes the connection on a v0-2
 * request, which the dispatch table does here).
 *
 * Happy path: the request is split by owning shard (fan.h); each owner
 * hands its partitions' batches to the replica (bk_replica_append_leader:
 * Kafka's batch and record checks, the idempotent producer's sequence, the
 * append, the high watermark, and for acks=all the wait for an fdatasync
 * that covers them); the answer is built on the connection's shard once
 * every part is back.
 * acks=0 gets no answer; an error with acks=0 closes the connection, which
 * is how Kafka tells such a producer something went wrong.
 *
 * Transactional batches (KIP-890 part 1, produce_verify.c): a producer's
 * first transactional batch on a partition waits, on the owner, for its
 * coordinator to confirm the partition is in the producer's transaction;
 * later batches find the transaction open and go straight on. */
#include "protocol/gen/produce.h"

#include <string.h>

#include "api/access.h"
#include "api/fan.h"
#include "api/leader_hint.h"
#include "api/produce.h"
#include "api/quota.h"
#include "cluster/controller.h"
#include "common/diag.h"
#include "common/err.h"
#include "metrics/metrics.h"
#include "partition/replica.h"
#include "protocol/kerr.h"

void bk_produce_set_error(struct bk_produce_item *it,
                          int16_t code,
                          const char *msg)
{
    it->out->error_code = code;
    it->out->base_offset = -1;
    it->out->error_message =
        bk_str_c(msg != NULL ? msg : bk_kerr_message(code));
}

/* On the syncer thread: hands the part back to its shard. */
static void durable_cb(struct bk_replica_append *a, int16_t error)
{
    struct bk_produce_item *it = a->data;
    it->sync_error = error;
    bk_fan_release(it->part);
}

/* Produce v8+ record_errors: every refused record with its message. */
static void set_record_errors(const struct bk_produce_state *st,
                              struct bk_produce_item *it,
                              const struct bk_replica_append *a)
{
    typedef struct bk_msg_produce_response_batch_index_and_error_message
        rec_error;
    if (a->record_errors_count <= 0 || st->version < 8) {
        return;
    }
    rec_error *errs = bk_arena_alloc(
        &it->errs, (size_t)a->record_errors_count * sizeof(*errs));
    if (errs == NULL) {
        return; /* the error code and message still tell */
    }
    for (int32_t i = 0; i < a->record_errors_count; i++) {
        errs[i].batch_index = a->record_errors[i].index;
        errs[i].batch_index_error_message =
            bk_str_c(a->record_errors[i].message);
    }
    it->out->record_errors = errs;
    it->out->record_errors_count = a->record_errors_count;
}

struct bk_partition *bk_produce_admit(struct bk_produce_state *st,
                                      struct bk_fan_part *part,
                                      const struct bk_md_image *img,
                                      struct bk_produce_item *it)
{
    (void)st;
    if (it->denied != 0) {
        bk_produce_set_error(it, it->denied, NULL);
        return NULL;
    }
    if (!it->known) {
        bk_produce_set_error(it, BK_KERR_UNKNOWN_TOPIC_OR_PARTITION, NULL);
        return NULL;
    }
    if (it->in->records.len <= 0) {
        bk_produce_set_error(
            it, BK_KERR_INVALID_RECORD,
            "Produce requests must contain exactly one record batch");
        return NULL;
    }
    int16_t err;
    struct bk_partition *p = bk_fan_open_partition(part, img, &it->topic_id,
                                                   it->in->index, -1, &err);
    if (p == NULL) {
        bk_produce_set_error(it, err, NULL);
    }
    return p;
}

void bk_produce_append(struct bk_produce_state *st,
                       struct bk_fan_part *part,
                       struct bk_produce_item *it,
                       struct bk_partition *p)
{
    struct bk_replica_append *a = &it->append;
    /* The batch is inside the request's own frame, which outlives the
     * append; the log copies it once, into the page cache. */
    a->batch = (uint8_t *)it->in->records.ptr;
    a->len = (size_t)it->in->records.len;
    a->produce_version = st->version;
    a->wait_durable = st->acks == -1;
    a->timeout_ms = st->timeout_ms;
    a->durable_cb = durable_cb;
    a->data = it;
    a->arena = &it->errs;
    it->part = part;
    /* Held before the append: durable_cb may run on the syncer thread
     * before bk_replica_append_leader returns. */
    bk_fan_hold(part);
    bool held = bk_replica_append_leader(p, a);
    if (a->error != BK_KERR_NONE) {
        bk_produce_set_error(it, a->error, a->message);
        it->out->log_start_offset = a->log_start;
        set_record_errors(st, it, a);
    } else {
        bk_mx_topic_in(part->owner->metrics, it->topic_id.b, a->len,
                       bk_mx_batch_records(a->batch, a->len));
        it->out->error_code = BK_KERR_NONE;
        it->out->base_offset = a->base_offset;
        it->out->log_append_time_ms = a->append_time;
        it->out->log_start_offset = a->log_start;
    }
    if (!held) {
        bk_fan_release(part);
    }
}

static void run_part(struct bk_fan_part *part)
{
    struct bk_produce_state *st = part->fan->data;
    struct bk_md_image *img = bk_md_image_acquire(part->fan->call->ctx->md);
    for (size_t i = 0; i < part->n; i++) {
        struct bk_produce_item *it = &st->items[part->idx[i]];
        if (img == NULL) {
            bk_produce_set_error(it, BK_KERR_UNKNOWN_SERVER_ERROR, NULL);
            continue;
        }
        struct bk_partition *p = bk_produce_admit(st, part, img, it);
        if (p == NULL || bk_produce_verify_needed(st, it, p)) {
            continue;
        }
        bk_produce_append(st, part, it, p);
    }
    if (img != NULL) {
        bk_produce_verify_start(st, part, img);
    }
    bk_md_image_release(img);
    bk_fan_release(part);
}

/* A copy of s in the call's arena; null when out of memory. */
static struct bk_str copy_str(struct bk_call *call, struct bk_str s)
{
    if (s.ptr == NULL || s.len <= 0) {
        return s;
    }
    char *p = bk_arena_alloc(call->arena, (size_t)s.len);
    if (p == NULL) {
        return BK_STR_NULL;
    }
    memcpy(p, s.ptr, (size_t)s.len);
    return (struct bk_str){ p, s.len };
}

/* On the connection's shard: moves what the owner wrote into the item's
 * own arena (the error message and the record errors) into the call's
 * arena, and frees the item's arena. Done before the answer is sent: once
 * it is, the request, and the call's state with it, may be gone. */
static void errors_home(struct bk_call *call, struct bk_produce_item *it)
{
    out_part *o = it->out;
    if (it->errs.head == NULL) {
        return; /* nothing was allocated there */
    }
    o->error_message = copy_str(call, o->error_message);
    if (o->error_message.ptr == NULL && o->error_code != 0) {
        o->error_message = bk_str_c(bk_kerr_message(o->error_code));
    }
    typedef struct bk_msg_produce_response_batch_index_and_error_message
        rec_error;
    rec_error *errs = NULL;
    if (o->record_errors_count > 0) {
        errs = bk_arena_alloc(call->arena,
                              (size_t)o->record_errors_count * sizeof(*errs));
    }
    for (int32_t i = 0; errs != NULL && i < o->record_errors_count; i++) {
        errs[i] = o->record_errors[i];
        errs[i].batch_index_error_message =
            copy_str(call, o->record_errors[i].batch_index_error_message);
    }
    o->record_errors = errs;
    o->record_errors_count = errs != NULL ? o->record_errors_count : 0;
    bk_arena_destroy(&it->errs);
}

/* KIP-951: who leads the partitions this broker refused, and where. The
 * endpoints' strings live in st->hints' image until the answer is
 * encoded. */
static void add_leader_hints(struct bk_call *call, struct bk_produce_state *st)
{
    if (st->version < 10) {
        return;
    }
    struct bk_leader_hints *h = &st->hints;
    for (size_t i = 0; i < st->nitems; i++) {
        struct bk_produce_item *it = &st->items[i];
        if (it->known &&
            it->out->error_code == BK_KERR_NOT_LEADER_OR_FOLLOWER) {
            (void)bk_leader_hint(call, h, &it->topic_id, it->in->index,
                                 &it->out->current_leader.leader_id,
                                 &it->out->current_leader.leader_epoch);
        }
    }
    struct bk_msg_produce_response_node_endpoint *eps =
        h->n > 0 ? bk_arena_alloc(call->arena, h->n * sizeof(*eps)) : NULL;
    for (size_t i = 0; eps != NULL && i < h->n; i++) {
        bk_leader_hint_endpoint(h, i, &eps[i].node_id, &eps[i].host,
                                &eps[i].port, &eps[i].rack);
    }
    if (eps != NULL) {
        st->resp.node_endpoints = eps;
        st->resp.node_endpoints_count = (int32_t)h->n;
    }
}

static void done(struct bk_fan *fan)
{
    struct bk_produce_state *st = fan->data;
    struct bk_call *call = fan->call;
    bool failed = false;
    for (size_t i = 0; i < st->nitems; i++) {
        struct bk_produce_item *it = &st->items[i];
        if (it->sync_error != 0 && it->out->error_code == 0) {
            bk_produce_set_error(it, it->sync_error, NULL);
        }
        failed |= it->out->error_code != 0;
        bk_mx_error(call->req->shard->metrics, BK_API_PRODUCE,
                    it->out->error_code);
        errors_home(call, it);
    }
    add_leader_hints(call, st);
    if (st->acks == 0) {
        bk_leader_hints_done(&st->hints);
        if (failed) {
            bk_req_fail(call->req, "Produce with acks=0 failed");
        } else {
            bk_req_noreply(call->req);
        }
    } else {
        struct bk_leader_hints hints = st->hints;
        st->resp.throttle_time_ms = bk_quota_throttle_ms(call);
        bk_call_reply(call, &st->resp);
        bk_leader_hints_done(&hints);
    }
    /* Nothing of st may be used from here: the reply may have freed it. */
}

void bk_handle_produce(struct bk_call *call)
{
    const struct bk_msg_produce_request *req = call->request;
    struct bk_produce_state *st = bk_arena_alloc(call->arena, sizeof(*st));
    if (st == NULL) {
        bk_req_fail(call->req, "out of memory");
        return;
    }
    bk_quota_produce(call); /* producer_byte_rate (api/quota.h) */
    st->acks = req->acks;
    st->hints = (struct bk_leader_hints){ .img = NULL, .n = 0 };
    st->timeout_ms = req->timeout_ms;
    st->version = call->hdr.api_version;
    st->txn_id = req->transactional_id;
    st->verify = call->ctx->txn.verify;
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
    /* Kafka's KafkaApis.handleProduceRequest: transactional records need
     * WRITE on the transactional id (else the whole request fails), and
     * each topic WRITE (else its partitions fail), checked before whether
     * the topic exists so that names do not leak. */
    int16_t txn_denied =
        req->transactional_id.len >= 0 &&
                !bk_api_may(call, img, BK_ACL_OP_WRITE,
                            BK_ACL_RES_TRANSACTIONAL_ID, req->transactional_id)
            ? BK_KERR_TRANSACTIONAL_ID_AUTHORIZATION_FAILED
            : 0;
    size_t k = 0;
    for (int32_t i = 0; i < nt; i++) {
        const struct bk_msg_produce_request_topic_produce_data *td =
            &req->topic_data[i];
        int16_t denied =
            txn_denied != 0 ? txn_denied
            : bk_api_may(call, img, BK_ACL_OP_WRITE, BK_ACL_RES_TOPIC, td->name)
                ? 0
                : BK_KERR_TOPIC_AUTHORIZATION_FAILED;
        out_topic *ot = &st->resp.responses[i];
        ot->name = td->name;
        ot->partition_responses = &outs[k];
        ot->partition_responses_count =
            td->partition_data_count < 0 ? 0 : td->partition_data_count;
        const struct bk_md_topic *t =
            (img != NULL && td->name.len >= 0)
                ? bk_md_image_topic(img, td->name.ptr, (size_t)td->name.len)
                : NULL;
        for (int32_t j = 0; j < ot->partition_responses_count; j++, k++) {
            struct bk_produce_item *it = &st->items[k];
            bk_arena_init(&it->errs, 4096, 0);
            it->in = &td->partition_data[j];
            it->denied = denied;
            /* Unknown topics are answered by this shard. */
            it->known = bk_fan_route(call, denied == 0 ? t : NULL,
                                     it->in->index, &it->topic_id, &owner[k]);
            it->out = &outs[k];
            it->verifying = false;
            it->topic = td->name;
            it->out->index = it->in->index;
            it->out->base_offset = -1;
            it->out->log_append_time_ms = -1;
            it->out->log_start_offset = -1;
            it->out->error_message = BK_STR_NULL;
            it->out->current_leader.leader_id = -1;
            it->out->current_leader.leader_epoch = -1;
        }
    }
    bk_md_image_release(img);
    if (req->acks != 0 && req->acks != 1 && req->acks != -1) {
        for (size_t i = 0; i < n; i++) {
            bk_produce_set_error(&st->items[i], BK_KERR_INVALID_REQUIRED_ACKS,
                                 NULL);
        }
        bk_call_reply(call, &st->resp);
        return;
    }
    if (bk_fan_start(&st->fan, call, n, owner, run_part, done, st) != 0) {
        bk_req_fail(call->req, "out of memory");
    }
}
