/* The Kafka API layer: the dispatch table and one handler file per API.
 *
 * Where is Produce handled? src/api/produce.c. Metadata? src/api/metadata.c.
 * Every handler is a row {api key, min, max version, function} in
 * dispatch.c, and ApiVersions answers from that table, so the advertised
 * ranges are always what the code decodes (brief.md §2).
 *
 * Threading: handlers run on the shard that owns the connection. */
#ifndef BK_API_API_H
#define BK_API_API_H

#include <stdbool.h>
#include <stdint.h>

#include "net/net.h"

#define BK_API_MAX_ADVERTISED 8

/* What handlers know of the broker. Filled by the server before the shards
 * start and immutable afterwards (so shards read it without locks). */
struct bk_api_ctx {
    int32_t node_id;
    char cluster_id[32];
    char rack[64]; /* "" = none */
    struct {
        char host[256];
        int port;
    } advertised[BK_API_MAX_ADVERTISED];
    unsigned nadvertised;
    bool auto_create_topics;
    struct bk_shards *shards; /* borrowed */
};

/* The net layer's on_request callback: parses the header, finds the
 * handler, decodes the body and calls the handler. */
void bk_api_on_request(struct bk_req *req);

#endif /* BK_API_API_H */
