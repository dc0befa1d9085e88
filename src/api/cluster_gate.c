/* The APIs that act on the cluster as a whole and need one operation on
 * the CLUSTER resource (security-notes.md §7): checked at dispatch, before
 * forwarding, and answered with CLUSTER_AUTHORIZATION_FAILED in the
 * response's top-level error when refused, as Kafka's KafkaApis and
 * ControllerApis do. */
#include "api/access.h"
#include "protocol/gen/add_raft_voter.h"
#include "protocol/gen/allocate_producer_ids.h"
#include "protocol/gen/alter_partition.h"
#include "protocol/gen/alter_partition_reassignments.h"
#include "protocol/gen/broker_heartbeat.h"
#include "protocol/gen/broker_registration.h"
#include "protocol/gen/describe_client_quotas.h"
#include "protocol/gen/describe_log_dirs.h"
#include "protocol/gen/describe_quorum.h"
#include "protocol/gen/describe_user_scram_credentials.h"
#include "protocol/gen/elect_leaders.h"
#include "protocol/gen/list_partition_reassignments.h"
#include "protocol/gen/remove_raft_voter.h"
#include "protocol/gen/update_features.h"
#include "protocol/kerr.h"

/* An answer with nothing but the error, for a response type NAME (all of
 * these have a top-level error_code). */
#define DENY_FN(NAME)                                        \
    static void deny_##NAME(struct bk_call *call)            \
    {                                                        \
        struct bk_msg_##NAME##_response r;                   \
        bk_msg_##NAME##_response_init(&r);                   \
        r.error_code = BK_KERR_CLUSTER_AUTHORIZATION_FAILED; \
        bk_call_reply(call, &r);                             \
    }

DENY_FN(elect_leaders)
DENY_FN(alter_partition_reassignments)
DENY_FN(list_partition_reassignments)
DENY_FN(update_features)
DENY_FN(describe_log_dirs)
DENY_FN(describe_quorum)
DENY_FN(add_raft_voter)
DENY_FN(remove_raft_voter)
DENY_FN(broker_registration)
DENY_FN(broker_heartbeat)
DENY_FN(alter_partition)
DENY_FN(allocate_producer_ids)
DENY_FN(describe_client_quotas)
DENY_FN(describe_user_scram_credentials)

static const struct {
    int16_t key;
    int op;
    void (*deny)(struct bk_call *call);
} gates[] = {
    { BK_API_ELECT_LEADERS, BK_ACL_OP_ALTER, deny_elect_leaders },
    { BK_API_ALTER_PARTITION_REASSIGNMENTS, BK_ACL_OP_ALTER,
      deny_alter_partition_reassignments },
    { BK_API_LIST_PARTITION_REASSIGNMENTS, BK_ACL_OP_DESCRIBE,
      deny_list_partition_reassignments },
    { BK_API_UPDATE_FEATURES, BK_ACL_OP_ALTER, deny_update_features },
    { BK_API_DESCRIBE_LOG_DIRS, BK_ACL_OP_DESCRIBE, deny_describe_log_dirs },
    { BK_API_DESCRIBE_QUORUM, BK_ACL_OP_DESCRIBE, deny_describe_quorum },
    { BK_API_ADD_RAFT_VOTER, BK_ACL_OP_ALTER, deny_add_raft_voter },
    { BK_API_REMOVE_RAFT_VOTER, BK_ACL_OP_ALTER, deny_remove_raft_voter },
    { BK_API_DESCRIBE_CLIENT_QUOTAS, BK_ACL_OP_DESCRIBE_CONFIGS,
      deny_describe_client_quotas },
    { BK_API_DESCRIBE_USER_SCRAM_CREDENTIALS, BK_ACL_OP_DESCRIBE,
      deny_describe_user_scram_credentials },
    /* Brokers' own requests to the controller: CLUSTER_ACTION. */
    { BK_API_BROKER_REGISTRATION, BK_ACL_OP_CLUSTER_ACTION,
      deny_broker_registration },
    { BK_API_BROKER_HEARTBEAT, BK_ACL_OP_CLUSTER_ACTION,
      deny_broker_heartbeat },
    { BK_API_ALTER_PARTITION, BK_ACL_OP_CLUSTER_ACTION, deny_alter_partition },
    { BK_API_ALLOCATE_PRODUCER_IDS, BK_ACL_OP_CLUSTER_ACTION,
      deny_allocate_producer_ids },
};

bool bk_api_cluster_gate(struct bk_call *call)
{
    if (!bk_api_authz_on(call)) {
        return true;
    }
    for (size_t i = 0; i < sizeof(gates) / sizeof(gates[0]); i++) {
        if (gates[i].key == call->hdr.api_key) {
            if (bk_api_may_cluster(call, NULL, gates[i].op)) {
                return true;
            }
            gates[i].deny(call);
            return false;
        }
    }
    return true;
}
