/* Forwarding to the active controller (forward.c). Internal to src/api. */
#ifndef BK_API_FORWARD_H
#define BK_API_FORWARD_H

#include <stdbool.h>

#include "api/call.h"
#include "cluster/ops.h"

/* Whether call must be decided by the active controller and this node is
 * not it. */
bool bk_fwd_wanted(const struct bk_call *call);

/* Sends the client's request to the active controller and answers with
 * its answer (or closes the connection when it cannot). */
void bk_fwd_request(struct bk_call *call);

/* Asks the active controller to create a topic (spec and its strings are
 * borrowed for the call), without waiting: the outcome shows in the
 * metadata image, and a failure is logged. Returns 0, or BK_ENOTLEADER
 * when no controller is known now, or BK_ENOMEM. */
int bk_fwd_create_topic(struct bk_shard *shard,
                        const struct bk_md_topic_spec *spec);

#endif /* BK_API_FORWARD_H */
