/* What the net layer writes in the request log and the slow-request
 * warnings (log.slow.request.ms) about a request: set once the request is
 * known good, and once its answer is encoded. */
#include "api/req_log.h"

#include <stddef.h>
#include <stdint.h>

#include "api/call.h"
#include "net/net.h"
#include "protocol/gen/all.h"

/* Fetch and ShareFetch park until max_wait_ms; JoinGroup and SyncGroup
 * wait for the rest of the group (up to the rebalance timeout): slow by
 * design, so they are left out of the slow-request warnings. */
static bool waits_by_design(int16_t key)
{
    return key == BK_API_FETCH || key == BK_API_SHARE_FETCH ||
           key == BK_API_JOIN_GROUP || key == BK_API_SYNC_GROUP;
}

void bk_api_req_log_start(struct bk_call *call)
{
    struct bk_req *req = call->req;
    req->log_api = call->desc->name;
    req->log_version = call->hdr.api_version;
    req->log_waits = waits_by_design(call->hdr.api_key);
}

/* The top-level ErrorCode of a response, for the APIs whose response has
 * one (a version without the field leaves it 0); BK_REQ_NO_ERROR for the
 * others, whose errors are per topic or partition. */
static int16_t top_error(int16_t key, const void *resp)
{
#define ROW(k, name) \
    case k:          \
        return ((const struct bk_msg_##name##_response *)resp)->error_code
    switch (key) {
        ROW(BK_API_ADD_OFFSETS_TO_TXN, add_offsets_to_txn);
        ROW(BK_API_ADD_PARTITIONS_TO_TXN, add_partitions_to_txn);
        ROW(BK_API_ADD_RAFT_VOTER, add_raft_voter);
        ROW(BK_API_ALLOCATE_PRODUCER_IDS, allocate_producer_ids);
        ROW(BK_API_ALTER_PARTITION, alter_partition);
        ROW(BK_API_ALTER_PARTITION_REASSIGNMENTS,
            alter_partition_reassignments);
        ROW(BK_API_API_VERSIONS, api_versions);
        ROW(BK_API_BROKER_HEARTBEAT, broker_heartbeat);
        ROW(BK_API_BROKER_REGISTRATION, broker_registration);
        ROW(BK_API_CONSUMER_GROUP_HEARTBEAT, consumer_group_heartbeat);
        ROW(BK_API_CREATE_DELEGATION_TOKEN, create_delegation_token);
        ROW(BK_API_DESCRIBE_ACLS, describe_acls);
        ROW(BK_API_DESCRIBE_CLIENT_QUOTAS, describe_client_quotas);
        ROW(BK_API_DESCRIBE_CLUSTER, describe_cluster);
        ROW(BK_API_DESCRIBE_DELEGATION_TOKEN, describe_delegation_token);
        ROW(BK_API_DESCRIBE_LOG_DIRS, describe_log_dirs);
        ROW(BK_API_DESCRIBE_QUORUM, describe_quorum);
        ROW(BK_API_DESCRIBE_USER_SCRAM_CREDENTIALS,
            describe_user_scram_credentials);
        ROW(BK_API_ELECT_LEADERS, elect_leaders);
        ROW(BK_API_END_TXN, end_txn);
        ROW(BK_API_EXPIRE_DELEGATION_TOKEN, expire_delegation_token);
        ROW(BK_API_FETCH, fetch);
        ROW(BK_API_FIND_COORDINATOR, find_coordinator);
        ROW(BK_API_GET_TELEMETRY_SUBSCRIPTIONS, get_telemetry_subscriptions);
        ROW(BK_API_HEARTBEAT, heartbeat);
        ROW(BK_API_INIT_PRODUCER_ID, init_producer_id);
        ROW(BK_API_JOIN_GROUP, join_group);
        ROW(BK_API_LEAVE_GROUP, leave_group);
        ROW(BK_API_LIST_CLIENT_METRICS_RESOURCES,
            list_client_metrics_resources);
        ROW(BK_API_LIST_GROUPS, list_groups);
        ROW(BK_API_LIST_PARTITION_REASSIGNMENTS, list_partition_reassignments);
        ROW(BK_API_LIST_TRANSACTIONS, list_transactions);
        ROW(BK_API_METADATA, metadata);
        ROW(BK_API_OFFSET_DELETE, offset_delete);
        ROW(BK_API_OFFSET_FETCH, offset_fetch);
        ROW(BK_API_PUSH_TELEMETRY, push_telemetry);
        ROW(BK_API_REMOVE_RAFT_VOTER, remove_raft_voter);
        ROW(BK_API_RENEW_DELEGATION_TOKEN, renew_delegation_token);
        ROW(BK_API_SASL_AUTHENTICATE, sasl_authenticate);
        ROW(BK_API_SASL_HANDSHAKE, sasl_handshake);
        ROW(BK_API_SHARE_ACKNOWLEDGE, share_acknowledge);
        ROW(BK_API_SHARE_FETCH, share_fetch);
        ROW(BK_API_SHARE_GROUP_HEARTBEAT, share_group_heartbeat);
        ROW(BK_API_SYNC_GROUP, sync_group);
        ROW(BK_API_UNREGISTER_BROKER, unregister_broker);
        ROW(BK_API_UPDATE_FEATURES, update_features);
        default:
            return BK_REQ_NO_ERROR;
    }
#undef ROW
}

void bk_api_req_log_answer(struct bk_call *call, const void *resp)
{
    call->req->log_error = top_error(call->hdr.api_key, resp);
}
