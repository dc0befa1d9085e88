/* Metadata for brokers that pull it (metadata_pull.c). Internal to
 * src/api. */
#ifndef BK_API_METADATA_PULL_H
#define BK_API_METADATA_PULL_H

#include <stdbool.h>

#include "api/call.h"
#include "protocol/gen/fetch.h"

/* Whether a decoded Fetch is a broker pulling __cluster_metadata. */
bool bk_pull_is_metadata(const struct bk_call *call);

/* Answers it, now or once this node applies a newer image. */
void bk_handle_metadata_pull(struct bk_call *call);

/* A new image was applied on this shard: answers the pulls waiting. */
void bk_pull_wake(struct bk_shard *shard);

#endif /* BK_API_METADATA_PULL_H */
