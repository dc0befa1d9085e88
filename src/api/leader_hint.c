/* KIP-951 leader hints (leader_hint.h). */
#include "api/leader_hint.h"

bool bk_leader_hint(const struct bk_call *call,
                    struct bk_leader_hints *h,
                    const struct bk_uuid *topic_id,
                    int32_t partition,
                    int32_t *leader,
                    int32_t *leader_epoch)
{
    if (h->img == NULL) {
        h->img = bk_api_image(call);
        if (h->img == NULL) {
            return false;
        }
    }
    const struct bk_md_topic *t = bk_md_image_topic_by_id(h->img, topic_id);
    const struct bk_md_partition *mp =
        t != NULL ? bk_md_topic_partition(t, partition) : NULL;
    if (mp == NULL || mp->leader < 0) {
        return false;
    }
    *leader = mp->leader;
    *leader_epoch = mp->leader_epoch;
    const struct bk_md_broker *b = bk_md_image_broker(h->img, mp->leader);
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

void bk_leader_hint_endpoint(const struct bk_leader_hints *h,
                             size_t i,
                             int32_t *node_id,
                             struct bk_str *host,
                             int32_t *port,
                             struct bk_str *rack)
{
    /* Only live brokers of h->img were added. */
    const struct bk_md_broker *b = bk_md_image_broker(h->img, h->ids[i]);
    *node_id = b->id;
    *host = bk_str_c(b->host);
    *port = b->port;
    *rack = b->rack != NULL ? bk_str_c(b->rack) : BK_STR_NULL;
}

void bk_leader_hints_done(struct bk_leader_hints *h)
{
    bk_md_image_release(h->img);
    h->img = NULL;
}
