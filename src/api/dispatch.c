/* Request dispatch: header, table lookup, decode, handler.
 *
 * Kafka's behaviour for bad requests (RequestContext / SocketServer): an
 * unknown API key, a version outside the supported range (except
 * ApiVersions, which answers per KIP-511), or a body that does not parse
 * closes the connection; the broker carries on serving everyone else. */
#include <string.h>

#include "api/access.h"
#include "api/call.h"
#include "api/forward.h"
#include "api/quota.h"
#include "api/req_log.h"
#include "api/sasl.h"
#include "common/diag.h"
#include "metrics/metrics.h"

/* The dispatch table. ApiVersions answers from it, so what is advertised is
 * exactly what is decoded and handled here. */
static const struct bk_handler handlers[] = {
    /* Produce v0-2 are refused (connection closed) as Kafka 4 does, but v0
     * is advertised: librdkafka < 2.11.1 disables compression otherwise
     * (protocol-notes.md section b, KAFKA-18659). */
    { BK_API_PRODUCE, 3, 12, 0, bk_handle_produce },
    /* Fetch from v4 (KIP-896). */
    { BK_API_FETCH, 4, 17, 4, bk_handle_fetch },
    { BK_API_LIST_OFFSETS, 1, 10, 1, bk_handle_list_offsets },
    /* Metadata v0-3 were put back in Kafka 4.0.0 for kafka-python
     * (KAFKA-18648); their layout is v4's minus later fields. */
    { BK_API_METADATA, 0, 13, 0, bk_handle_metadata },
    /* OffsetFetch from v1 (KIP-896). KIP-896 also removed OffsetCommit
     * v0-1 in Kafka 4, but v1 is served and advertised: sarama < 1.41 (by
     * default) and kafka-python's api_version (0, 8, 2) mode still send it
     * (protocol-notes.md section b). */
    { BK_API_OFFSET_COMMIT, 1, 9, 1, bk_handle_offset_commit },
    { BK_API_OFFSET_FETCH, 1, 9, 1, bk_handle_offset_fetch },
    { BK_API_FIND_COORDINATOR, 0, 6, 0, bk_handle_find_coordinator },
    /* JoinGroup v0-1 were put back in Kafka 4.0.1 for old librdkafka and
     * sarama (KAFKA-19444). */
    { BK_API_JOIN_GROUP, 0, 9, 0, bk_handle_join_group },
    { BK_API_HEARTBEAT, 0, 4, 0, bk_handle_heartbeat },
    { BK_API_LEAVE_GROUP, 0, 5, 0, bk_handle_leave_group },
    { BK_API_SYNC_GROUP, 0, 5, 0, bk_handle_sync_group },
    { BK_API_DESCRIBE_GROUPS, 0, 6, 0, bk_handle_describe_groups },
    { BK_API_LIST_GROUPS, 0, 5, 0, bk_handle_list_groups },
    /* SASL listeners (api/sasl.h); answered with ILLEGAL_SASL_STATE on
     * the others, as Kafka does. */
    { BK_API_SASL_HANDSHAKE, 0, 1, 0, bk_handle_sasl_handshake },
    { BK_API_API_VERSIONS, 0, 4, 0, bk_handle_api_versions },
    { BK_API_SASL_AUTHENTICATE, 0, 2, 0, bk_handle_sasl_authenticate },
    { BK_API_CREATE_TOPICS, 2, 7, 2, bk_handle_create_topics },
    { BK_API_DELETE_TOPICS, 1, 6, 1, bk_handle_delete_topics },
    { BK_API_DESCRIBE_CONFIGS, 1, 4, 1, bk_handle_describe_configs },
    { BK_API_ALTER_CONFIGS, 0, 2, 0, bk_handle_alter_configs },
    { BK_API_CREATE_PARTITIONS, 0, 3, 0, bk_handle_create_partitions },
    { BK_API_INCREMENTAL_ALTER_CONFIGS, 0, 1, 0,
      bk_handle_incremental_alter_configs },
    { BK_API_UPDATE_FEATURES, 0, 2, 0, bk_handle_update_features },
    { BK_API_DESCRIBE_CLUSTER, 0, 2, 0, bk_handle_describe_cluster },
    /* Served by every node, as Kafka's brokers do (forwarded to the active
     * controller), so kafka-metadata-quorum.sh works against any of them. */
    { BK_API_DESCRIBE_QUORUM, 0, 2, 0, bk_handle_describe_quorum },
    /* Forwarded to the active controller (forward.c). */
    { BK_API_ELECT_LEADERS, 0, 2, 0, bk_handle_elect_leaders },
    /* Forwarded to the active controller (forward.c), as in KRaft. */
    { BK_API_ALTER_PARTITION_REASSIGNMENTS, 0, 0, 0,
      bk_handle_alter_partition_reassignments },
    { BK_API_LIST_PARTITION_REASSIGNMENTS, 0, 0, 0,
      bk_handle_list_partition_reassignments },
    /* Answered by each broker for its own replicas, never forwarded. */
    { BK_API_DESCRIBE_LOG_DIRS, 1, 4, 1, bk_handle_describe_log_dirs },
    { BK_API_DESCRIBE_TOPIC_PARTITIONS, 0, 0, 0,
      bk_handle_describe_topic_partitions },
    { BK_API_DELETE_RECORDS, 0, 2, 0, bk_handle_delete_records },
    { BK_API_INIT_PRODUCER_ID, 0, 5, 0, bk_handle_init_producer_id },
    /* Transaction markers, from coordinators and kafka-transactions.sh
     * abort (KIP-664); v0 is gone since Kafka 4.0 (KIP-896). */
    { BK_API_WRITE_TXN_MARKERS, 1, 1, 1, bk_handle_write_txn_markers },
    /* The client's transaction APIs (issue 14); AddPartitionsToTxn v4+ are
     * partition leaders' (KIP-890), EndTxn v5 is transaction version 2's. */
    { BK_API_ADD_PARTITIONS_TO_TXN, 0, 5, 0, bk_handle_add_partitions_to_txn },
    { BK_API_END_TXN, 0, 5, 0, bk_handle_end_txn },
    { BK_API_ADD_OFFSETS_TO_TXN, 0, 4, 0, bk_handle_add_offsets_to_txn },
    { BK_API_TXN_OFFSET_COMMIT, 0, 5, 0, bk_handle_txn_offset_commit },
    /* Transaction admin (KIP-664, KIP-994): kafka-transactions.sh. */
    { BK_API_DESCRIBE_PRODUCERS, 0, 0, 0, bk_handle_describe_producers },
    { BK_API_DESCRIBE_TRANSACTIONS, 0, 0, 0, bk_handle_describe_transactions },
    { BK_API_LIST_TRANSACTIONS, 0, 1, 0, bk_handle_list_transactions },
    /* OffsetForLeaderEpoch from v2 (KIP-896). */
    { BK_API_OFFSET_FOR_LEADER_EPOCH, 2, 4, 2,
      bk_handle_offset_for_leader_epoch },
    { BK_API_DELETE_GROUPS, 0, 2, 0, bk_handle_delete_groups },
    { BK_API_OFFSET_DELETE, 0, 0, 0, bk_handle_offset_delete },
    /* SCRAM credentials (issue 15); Alter is forwarded (forward.c). */
    { BK_API_DESCRIBE_USER_SCRAM_CREDENTIALS, 0, 0, 0,
      bk_handle_describe_user_scram_credentials },
    { BK_API_ALTER_USER_SCRAM_CREDENTIALS, 0, 0, 0,
      bk_handle_alter_user_scram_credentials },
    /* KIP-848 consumer groups (group.protocol=consumer). */
    { BK_API_CONSUMER_GROUP_HEARTBEAT, 0, 1, 0,
      bk_handle_consumer_group_heartbeat },
    { BK_API_CONSUMER_GROUP_DESCRIBE, 0, 1, 0,
      bk_handle_consumer_group_describe },
    /* Client quotas; Alter is forwarded to the active controller. */
    { BK_API_DESCRIBE_CLIENT_QUOTAS, 0, 1, 0,
      bk_handle_describe_client_quotas },
    { BK_API_ALTER_CLIENT_QUOTAS, 0, 1, 0, bk_handle_alter_client_quotas },
    /* ACLs (issue 15): v0 is gone since Kafka 4.0 (KIP-896). */
    { BK_API_DESCRIBE_ACLS, 1, 3, 1, bk_handle_describe_acls },
    { BK_API_CREATE_ACLS, 1, 3, 1, bk_handle_create_acls },
    { BK_API_DELETE_ACLS, 1, 3, 1, bk_handle_delete_acls },
};

/* The controller's APIs that brokerd nodes send each other (issue 12). They
 * are served like the others but never advertised in ApiVersions: clients
 * have no use for them, and Kafka serves them on the controller listener
 * only. */
static const struct bk_handler internal_handlers[] = {
    { BK_API_BROKER_REGISTRATION, 0, 4, 0, bk_handle_broker_registration },
    { BK_API_BROKER_HEARTBEAT, 0, 1, 0, bk_handle_broker_heartbeat },
    /* Partition leaders' ISR changes (issue 13). */
    { BK_API_ALTER_PARTITION, 0, 3, 0, bk_handle_alter_partition },
    { BK_API_ALLOCATE_PRODUCER_IDS, 0, 0, 0, bk_handle_allocate_producer_ids },
    /* brokerd's voters have raft addresses of their own (raft_voters.c). */
    { BK_API_ADD_RAFT_VOTER, 0, 0, 0, bk_handle_add_raft_voter },
    { BK_API_REMOVE_RAFT_VOTER, 0, 0, 0, bk_handle_remove_raft_voter },
};

const struct bk_handler *bk_api_handlers(size_t *n)
{
    *n = sizeof(handlers) / sizeof(handlers[0]);
    return handlers;
}

static const struct bk_handler *find_handler(int16_t key)
{
    for (size_t i = 0; i < sizeof(handlers) / sizeof(handlers[0]); i++) {
        if (handlers[i].key == key) {
            return &handlers[i];
        }
    }
    size_t n = sizeof(internal_handlers) / sizeof(internal_handlers[0]);
    for (size_t i = 0; i < n; i++) {
        if (internal_handlers[i].key == key) {
            return &internal_handlers[i];
        }
    }
    return NULL;
}

static void write_header(struct bk_wr *wr,
                         int32_t correlation_id,
                         bool flexible)
{
    bk_wr_i32(wr, correlation_id);
    if (flexible) {
        bk_wr_uvarint(wr, 0); /* no tagged fields */
    }
}

static void reply(struct bk_call *call,
                  const void *resp,
                  int16_t version,
                  bool flexible_header)
{
    size_t body = call->desc->resp_size(resp, version);
    size_t hdr = 4 + (flexible_header ? 1 : 0);
    size_t total = 4 + hdr + body;
    if (hdr + body > INT32_MAX) {
        bk_req_fail(call->req, "answer larger than 2 GiB");
        return;
    }
    uint8_t *buf = bk_arena_alloc(call->arena, total);
    if (buf == NULL) {
        bk_req_fail(call->req, "out of memory for the answer");
        return;
    }
    struct bk_wr wr;
    bk_wr_init(&wr, buf, total);
    bk_wr_i32(&wr, (int32_t)(hdr + body));
    write_header(&wr, call->hdr.correlation_id, flexible_header);
    int rv = call->desc->resp_encode(resp, &wr, version);
    bk_api_req_log_answer(call, resp);
    if (rv != 0 || wr.err != 0 || wr.len != total) {
        bk_diag_error("api", "api=%s version=%d msg=\"answer encoding failed\"",
                      call->desc->name, version);
        bk_req_fail(call->req, "answer encoding failed");
        return;
    }
    bk_req_reply(call->req, buf, total);
}

int bk_call_encode_deferred(struct bk_call *call,
                            const void *resp,
                            size_t deferred_bytes,
                            struct bk_wr_hole *holes,
                            size_t holes_cap,
                            size_t *nholes,
                            uint8_t **buf,
                            size_t *buf_len)
{
    int16_t v = call->hdr.api_version;
    bool flexible =
        call->desc->flexible_min >= 0 && v >= call->desc->flexible_min;
    size_t body = call->desc->resp_size(resp, v);
    size_t hdr = 4 + (flexible ? 1 : 0);
    if (hdr + body > INT32_MAX || deferred_bytes > 4 + hdr + body) {
        return BK_ETOOLARGE;
    }
    /* The buffer holds only what is really in memory. */
    size_t cap = 4 + hdr + body - deferred_bytes;
    uint8_t *out = bk_arena_alloc(call->arena, cap);
    if (out == NULL) {
        return BK_ENOMEM;
    }
    struct bk_wr wr;
    bk_wr_init(&wr, out, cap);
    wr.holes = holes;
    wr.holes_cap = holes_cap;
    bk_wr_i32(&wr, (int32_t)(hdr + body));
    write_header(&wr, call->hdr.correlation_id, flexible);
    int rv = call->desc->resp_encode(resp, &wr, v);
    bk_api_req_log_answer(call, resp);
    if (rv != 0 || wr.err != 0 || wr.len != cap) {
        return rv != 0 ? rv : (wr.err != 0 ? wr.err : BK_EINVAL);
    }
    *nholes = wr.nholes;
    *buf = out;
    *buf_len = wr.len;
    return 0;
}

void bk_call_reply(struct bk_call *call, const void *resp)
{
    int16_t v = call->hdr.api_version;
    bool flexible =
        call->desc->flexible_min >= 0 && v >= call->desc->flexible_min;
    reply(call, resp, v, flexible);
}

void bk_call_reply_v0_header(struct bk_call *call,
                             const void *resp,
                             int16_t body_version)
{
    reply(call, resp, body_version, false);
}

/* The request's client id escaped for a log line (see bk_diag_escape). */
static const char *shown_client(const struct bk_req_header *h,
                                char *buf,
                                size_t cap)
{
    size_t len = h->client_id.len > 0 ? (size_t)h->client_id.len : 0;
    return bk_diag_escape(buf, cap, h->client_id.ptr, len);
}

void bk_api_on_request(struct bk_req *req)
{
    const struct bk_api_ctx *ctx = req->shard->group->app;
    struct bk_call *call = bk_arena_alloc(&req->arena, sizeof(*call));
    if (call == NULL) {
        bk_req_fail(req, "out of memory for a request");
        return;
    }
    call->req = req;
    call->ctx = ctx;
    call->arena = &req->arena;
    call->quota_ms = 0;
    call->quota_fetch = false;
    req->data = call;
    if (bk_sasl_before_dispatch(req)) {
        return;
    }

    struct bk_rd rd;
    bk_rd_init(&rd, req->frame, req->frame_len);
    if (bk_req_header_parse(&rd, &call->hdr) != 0) {
        bk_req_fail(req, "malformed request header");
        return;
    }
    const struct bk_req_header *h = &call->hdr;
    /* The client id is any bytes the client chose: logged escaped, and
     * only escaped when a line is written (bk_log checks the level before
     * it evaluates its arguments). */
    char client[256];
    if (h->client_id.len > 0) {
        bk_conn_set_client_id(req->conn, h->client_id.ptr,
                              (size_t)h->client_id.len);
    }
    const struct bk_handler *row = find_handler(h->api_key);
    call->desc = bk_api_desc(h->api_key);
    if (row == NULL || call->desc == NULL) {
        bk_diag_info("api",
                     "conn=%llu client=\"%s\" api_key=%d msg=\"unsupported "
                     "API key\"",
                     (unsigned long long)bk_conn_id(req->conn),
                     shown_client(h, client, sizeof(client)), h->api_key);
        bk_req_fail(req, "unsupported API key");
        return;
    }
    if (h->api_version < row->min_version ||
        h->api_version > row->max_version) {
        if (h->api_key == BK_API_API_VERSIONS &&
            h->api_version > row->max_version) {
            bk_api_versions_unsupported(call);
            return;
        }
        bk_diag_info("api",
                     "conn=%llu client=\"%s\" api=%s version=%d "
                     "msg=\"unsupported version\"",
                     (unsigned long long)bk_conn_id(req->conn),
                     shown_client(h, client, sizeof(client)), call->desc->name,
                     h->api_version);
        bk_req_fail(req, "unsupported API version");
        return;
    }
    call->request = bk_arena_alloc(&req->arena, call->desc->req_struct_size);
    if (call->request == NULL) {
        bk_req_fail(req, "out of memory for a request");
        return;
    }
    call->desc->req_init(call->request);
    int rv =
        call->desc->req_decode(call->request, &rd, h->api_version, &req->arena);
    if (rv != 0) {
        bk_diag_info("api",
                     "conn=%llu client=\"%s\" api=%s version=%d "
                     "msg=\"malformed request: %s\"",
                     (unsigned long long)bk_conn_id(req->conn),
                     shown_client(h, client, sizeof(client)), call->desc->name,
                     h->api_version, bk_strerror(rv));
        bk_req_fail(req, "malformed request body");
        return;
    }
    /* Counted once the request is known good; the net layer times it
     * under this key until its answer is written. */
    req->mx_api = h->api_key;
    bk_api_req_log_start(call);
    bk_mx_request(req->shard->metrics, h->api_key, h->api_version);
    bk_diag_trace("api",
                  "conn=%llu shard=%u client=\"%s\" api=%s version=%d "
                  "correlation_id=%d",
                  (unsigned long long)bk_conn_id(req->conn), req->shard->id,
                  shown_client(h, client, sizeof(client)), call->desc->name,
                  h->api_version, h->correlation_id);
    if (!bk_api_cluster_gate(call)) {
        return; /* answered: not authorized */
    }
    if (bk_fwd_wanted(call) && bk_api_forward_authorized(call)) {
        bk_fwd_request(call);
        return;
    }
    struct bk_quota_timing qt;
    bk_quota_request_begin(call, &qt);
    row->fn(call);
    bk_quota_request_end(&qt); /* call may be gone: qt holds what it needs */
}
