/* KIP-951: Produce (v10+) and Fetch (v16+) answers that refuse a
 * partition because this broker does not lead it (NOT_LEADER_OR_FOLLOWER,
 * and FENCED_LEADER_EPOCH for Fetch) say who leads it now and where that
 * broker listens, so that clients move at once instead of asking for
 * metadata first (replication-notes.md section 12). */
#ifndef BK_API_LEADER_HINT_H
#define BK_API_LEADER_HINT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "api/call.h"
#include "cluster/image.h"

/* The leaders named in one answer, each once (for its node endpoints),
 * and the image they were read from. */
struct bk_leader_hints {
    struct bk_md_image *img; /* owned once a hint was asked for, or NULL */
    int32_t ids[16];
    size_t n;
};

/* The current leader of (topic_id, partition) and its epoch, from the
 * call's newest image (taken on the first use); false when the partition
 * is unknown or has no leader. A live leader is added to h (at most 16
 * distinct ones; an answer rarely names more). */
bool bk_leader_hint(const struct bk_call *call,
                    struct bk_leader_hints *h,
                    const struct bk_uuid *topic_id,
                    int32_t partition,
                    int32_t *leader,
                    int32_t *leader_epoch);

/* Where leader i of h listens; host and rack point into h->img, which
 * must live until the answer is encoded. */
void bk_leader_hint_endpoint(const struct bk_leader_hints *h,
                             size_t i,
                             int32_t *node_id,
                             struct bk_str *host,
                             int32_t *port,
                             struct bk_str *rack);

/* Releases h's image (NULL-safe). */
void bk_leader_hints_done(struct bk_leader_hints *h);

#endif /* BK_API_LEADER_HINT_H */
