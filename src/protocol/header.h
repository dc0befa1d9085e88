/* Kafka request and response headers (shared/kafka-protocol/README.md,
 * "Framing"; protocol-notes.md section d).
 *
 * A request header is v1 (api_key, api_version, correlation_id, client_id as
 * a NULLABLE_STRING) or, when the API version is flexible, v2: the same
 * followed by a tagged-field section. client_id keeps its INT16 length even
 * in v2. A response header is v0 (correlation_id) or v1 (plus a tagged-field
 * section) by the same rule, except that the ApiVersions response header is
 * always v0 so that a client can read it whatever version it sent (KIP-511). */
#ifndef BK_PROTOCOL_HEADER_H
#define BK_PROTOCOL_HEADER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/arena.h"
#include "protocol/prim.h"

struct bk_req_header {
    int16_t api_key;
    int16_t api_version;
    int32_t correlation_id;
    struct bk_str client_id; /* borrowed view into the frame; len -1 = null */
    bool flexible;           /* header v2 (and flexible body encodings) */
};

/* Parses a request header from the start of a frame body (the bytes after
 * the INT32 size) and leaves rd at the first byte of the request body.
 *
 * The header version follows the API version: v2 when the API key is known
 * and the version is flexible (bk_api_is_flexible). An ApiVersions request
 * with a version newer than the ones we know is read as v2 when the version
 * is >= 3, so that its client id can be read and the KIP-511 fallback
 * answered. Any other unknown key or version is read as v1; the caller must
 * not decode such a body, only answer UNSUPPORTED_VERSION or close.
 *
 * Returns 0, or BK_EPROTO for a truncated or malformed header. */
int bk_req_header_parse(struct bk_rd *rd, struct bk_req_header *h);

/* Whether the response to (api_key, api_version) carries header v1. False
 * for ApiVersions at every version, and for unknown keys or versions. */
bool bk_resp_header_flexible(int16_t api_key, int16_t api_version);

/* Encoded size of a response header: 4 bytes (v0) or 5 (v1, with an empty
 * tagged-field section). */
size_t bk_resp_header_size(bool flexible);

/* Writes a response header. Returns 0 or wr->err (BK_ERANGE). */
int bk_resp_header_encode(struct bk_wr *wr,
                          int32_t correlation_id,
                          bool flexible);

/* ---- the client's side (brokerd nodes talking to each other) ---- */

/* Encodes a whole request frame WITHOUT the INT32 size prefix: the request
 * header (v1 or v2 as the API version says), then body (the request struct
 * of api_key) at version. *out is allocated in arena (*len bytes). Returns
 * 0, BK_EINVAL for an API key or version that is not generated, BK_ENOMEM
 * or the encoder's error. */
int bk_req_frame_encode(struct bk_arena *arena,
                        int16_t api_key,
                        int16_t version,
                        int32_t correlation_id,
                        const char *client_id,
                        const void *body,
                        uint8_t **out,
                        size_t *len);

/* Decodes a response frame (without the size prefix, as received) of
 * api_key at version into body (the response struct, initialised here;
 * its strings and arrays live in arena or point into frame). Returns 0 or
 * BK_EPROTO. */
int bk_resp_frame_decode(struct bk_arena *arena,
                         int16_t api_key,
                         int16_t version,
                         const uint8_t *frame,
                         size_t len,
                         void *body);

#endif /* BK_PROTOCOL_HEADER_H */
