#include "admin/topic_meta.h"

#include <string.h>
#include <unistd.h>

#include "protocol/gen/metadata.h"
#include "protocol/kerr.h"

int32_t bk_kafka_partition_for_key(const void *key,
                                   size_t len,
                                   int32_t partitions)
{
    /* Kafka's Utils.murmur2: seed 0x9747b28c, m 0x5bd1e995, r 24,
     * little-endian 4-byte blocks. */
    const uint8_t *data = key;
    const uint32_t m = 0x5bd1e995u;
    uint32_t h = 0x9747b28cu ^ (uint32_t)len;
    size_t n4 = len / 4;
    for (size_t i = 0; i < n4; i++) {
        const uint8_t *p = data + i * 4;
        uint32_t k = (uint32_t)p[0] | (uint32_t)p[1] << 8 |
                     (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
        k *= m;
        k ^= k >> 24;
        k *= m;
        h *= m;
        h ^= k;
    }
    const uint8_t *tail = data + n4 * 4;
    switch (len % 4) {
        case 3:
            h ^= (uint32_t)tail[2] << 16;
            /* fall through */
        case 2:
            h ^= (uint32_t)tail[1] << 8;
            /* fall through */
        case 1:
            h ^= tail[0];
            h *= m;
            break;
        default:
            break;
    }
    h ^= h >> 13;
    h *= m;
    h ^= h >> 15;
    /* Utils.toPositive: clear the sign bit. */
    return (int32_t)((h & 0x7fffffffu) % (uint32_t)partitions);
}

int bk_topic_meta_get(const struct bk_cli *cli,
                      struct bk_client *c,
                      const char *topic,
                      bool allow_create,
                      struct bk_topic_meta *out)
{
    (void)cli;
    int16_t ver = bk_client_version(c, BK_API_METADATA);
    if (ver < 4) {
        return bk_cli_fail("%s does not support Metadata v4+", c->addr);
    }
    for (int attempt = 0; attempt < 50; attempt++) {
        struct bk_arena arena;
        bk_arena_init(&arena, 8192, 0);
        struct bk_msg_metadata_request req;
        bk_msg_metadata_request_init(&req);
        struct bk_msg_metadata_request_metadata_request_topic rt;
        memset(&rt, 0, sizeof(rt));
        rt.name = bk_str_c(topic);
        req.topics = &rt;
        req.topics_count = 1;
        req.allow_auto_topic_creation = allow_create;
        struct bk_msg_metadata_response resp;
        if (bk_client_call(c, BK_API_METADATA, ver, &req, &resp, &arena) != 0) {
            bk_arena_destroy(&arena);
            return bk_cli_fail("%s", c->errmsg);
        }
        int16_t err = resp.topics_count == 1 ? resp.topics[0].error_code
                                             : BK_KERR_UNKNOWN_SERVER_ERROR;
        if (err == 0) {
            out->partitions = resp.topics[0].partitions_count;
            out->id = resp.topics[0].topic_id;
        }
        bk_arena_destroy(&arena);
        out->error = err;
        if (err != BK_KERR_LEADER_NOT_AVAILABLE) {
            return 0;
        }
        usleep(100 * 1000); /* being created: ask again shortly */
    }
    return 0;
}
