/* KIP-951 leader hints (leader_hint.h). */
#include "api/leader_hint.h"

bool bk_leader_hint(const struct bk_md_image *img,
                    const struct bk_uuid *topic_id,
                    int32_t partition,
                    struct bk_leader_hints *h,
                    int32_t *leader,
                    int32_t *leader_epoch)
{
    const struct bk_md_topic *t = bk_md_image_topic_by_id(img, topic_id);
    const struct bk_md_partition *mp =
        t != NULL ? bk_md_topic_partition(t, partition) : NULL;
    if (mp == NULL || mp->leader < 0) {
        return false;
    }
    *leader = mp->leader;
    *leader_epoch = mp->leader_epoch;
    const struct bk_md_broker *b = bk_md_image_broker(img, mp->leader);
    if (b == NULL || b->fenced) {
        return true;
    }
    for (size_t i = 0; i < h->n; i++) {
        if (h->ids[i] == mp->leader) {
            return true;
        }
    }
    if (h->n < sizeof(h->ids) / sizeof(h->ids[0])) {
        h->ids[h->n++] = mp->leader;
    }
    return true;
}
