/* Authorization at each API's entry (security-notes.md §7): the call's
 * principal and host checked against the ACLs of the metadata image by the
 * configured authorizer (authz/authz.h). Without an authorizer every check
 * passes. Internal to src/api. */
#ifndef BK_API_ACCESS_H
#define BK_API_ACCESS_H

#include <stdbool.h>
#include <stdint.h>

#include "api/call.h"
#include "authz/authz.h"

/* Whether an authorizer is configured (authorizer.class.name). */
bool bk_api_authz_on(const struct bk_call *call);

/* Whether the call's principal may do op on the resource (res_type, name).
 * img (borrowed) is the image the handler works on; NULL takes the
 * current one. */
bool bk_api_may(const struct bk_call *call,
                const struct bk_md_image *img,
                int op,
                int res_type,
                struct bk_str name);

/* The same for the CLUSTER resource. */
bool bk_api_may_cluster(const struct bk_call *call,
                        const struct bk_md_image *img,
                        int op);

/* CREATE on the cluster, or else on the topic (CreateTopics, Metadata's
 * auto-creation). */
bool bk_api_may_create_topic(const struct bk_call *call,
                             const struct bk_md_image *img,
                             struct bk_str name);

/* DescribeConfigs, AlterConfigs, IncrementalAlterConfigs: op
 * (DESCRIBE_CONFIGS or ALTER_CONFIGS) on the config resource res_type
 * (Kafka's ConfigResource types: TOPIC 2 on the topic, BROKER 4 and
 * BROKER_LOGGER 8 on the cluster, GROUP 32 on the group). Returns 0, or
 * the resource type's authorization error. */
int16_t bk_api_config_denied(const struct bk_call *call,
                             const struct bk_md_image *img,
                             int op,
                             int8_t res_type,
                             struct bk_str name);

/* Whether the principal may do op on some resource of res_type (KIP-679's
 * "WRITE on any topic"). */
bool bk_api_may_any(const struct bk_call *call,
                    const struct bk_md_image *img,
                    int op,
                    int res_type);

/* KIP-430: the authorized-operation bit set of a resource for the call's
 * principal; without an authorizer, everything the type supports. */
int32_t bk_api_authz_ops(const struct bk_call *call,
                         const struct bk_md_image *img,
                         int res_type,
                         struct bk_str name);

/* For the APIs that need one operation on the cluster (cluster_gate.c):
 * returns true when the call may go on, else answers it with
 * CLUSTER_AUTHORIZATION_FAILED and returns false. Other APIs pass. */
bool bk_api_cluster_gate(struct bk_call *call);

/* Whether a request this node would forward to the active controller is
 * authorized in full here, where the client's principal is known (the
 * controller sees only the forwarding broker's). When it is not, the
 * request is handled on this node instead: its handler answers the
 * authorization errors, and what is left is retried by the client. */
bool bk_api_forward_authorized(const struct bk_call *call);

/* An ACL filter of DescribeAcls or DeleteAcls as the authorizer takes it:
 * a null string matches any value. The strings stay the request's. */
struct bk_acl_filter bk_api_acl_filter(int8_t res_type,
                                       int8_t pattern,
                                       int8_t op,
                                       int8_t perm,
                                       struct bk_str name,
                                       struct bk_str principal,
                                       struct bk_str host);

#endif /* BK_API_ACCESS_H */
