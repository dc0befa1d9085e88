/* Where a key lives: Kafka's partition rule and this node's owner shard
 * (coord.h). Pure functions of the key and the metadata image. */
#include <string.h>

#include "common/hash.h"
#include "coord/coord.h"
#include "protocol/kerr.h"

/* Decodes the UTF-8 code point at p[*i] (len bytes in all) and advances
 * *i. A sequence cut short by the end of the key takes what is there, so
 * every byte counts once. */
static uint32_t next_code_point(const uint8_t *p, size_t len, size_t *i)
{
    uint32_t cp = p[*i];
    size_t extra = 0;
    if (cp >= 0xf0 && cp < 0xf8) {
        cp &= 0x07;
        extra = 3;
    } else if (cp >= 0xe0) {
        cp &= 0x0f;
        extra = 2;
    } else if (cp >= 0xc0) {
        cp &= 0x1f;
        extra = 1;
    }
    if (*i + extra >= len && extra > 0) {
        extra = len - *i - 1;
    }
    for (size_t k = 1; k <= extra; k++) {
        cp = (cp << 6) | (p[*i + k] & 0x3f);
    }
    *i += extra + 1;
    return cp;
}

int32_t bk_coord_key_partition(struct bk_str key, int32_t n)
{
    /* Java's String.hashCode over UTF-16 code units: code points above
     * U+FFFF count as their surrogate pair. */
    uint32_t h = 0;
    const uint8_t *p = (const uint8_t *)key.ptr;
    size_t len = key.len > 0 ? (size_t)key.len : 0;
    for (size_t i = 0; i < len;) {
        uint32_t cp = next_code_point(p, len, &i);
        if (cp >= 0x10000) {
            cp -= 0x10000;
            h = 31 * h + (0xd800 + (cp >> 10));
            h = 31 * h + (0xdc00 + (cp & 0x3ff));
        } else {
            h = 31 * h + cp;
        }
    }
    int32_t s = (int32_t)h;
    /* Kafka's Utils.abs: MIN_VALUE maps to 0. */
    int32_t a = s == INT32_MIN ? 0 : (s < 0 ? -s : s);
    return n > 0 ? a % n : 0;
}

int16_t bk_coord_route(const struct bk_md_image *img,
                       const char *topic,
                       struct bk_str key,
                       int32_t node_id,
                       unsigned nshards,
                       int32_t *partition,
                       unsigned *owner,
                       struct bk_uuid *topic_id)
{
    const struct bk_md_topic *t =
        img != NULL ? bk_md_image_topic(img, topic, strlen(topic)) : NULL;
    if (t == NULL || t->n_partitions <= 0) {
        return BK_KERR_NOT_COORDINATOR;
    }
    int32_t p = bk_coord_key_partition(key, t->n_partitions);
    const struct bk_md_partition *mp = bk_md_topic_partition(t, p);
    if (mp == NULL || mp->leader != node_id) {
        return BK_KERR_NOT_COORDINATOR;
    }
    *partition = p;
    *topic_id = t->id;
    *owner = bk_shard_for_partition(t->id_hash, p, nshards);
    return BK_KERR_NONE;
}
