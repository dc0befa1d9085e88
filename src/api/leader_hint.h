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

#include "cluster/image.h"

/* The leaders named in one answer, each once (for its node endpoints). */
struct bk_leader_hints {
    int32_t ids[16];
    size_t n;
};

/* The current leader of (topic_id, partition) in img and its epoch; false
 * when the partition is unknown or has no leader. A live leader is added
 * to h (at most 16 distinct ones; an answer rarely names more). */
bool bk_leader_hint(const struct bk_md_image *img,
                    const struct bk_uuid *topic_id,
                    int32_t partition,
                    struct bk_leader_hints *h,
                    int32_t *leader,
                    int32_t *leader_epoch);

#endif /* BK_API_LEADER_HINT_H */
