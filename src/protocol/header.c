#include "protocol/header.h"

#include "common/err.h"
#include "protocol/gen/api.h"

/* ApiVersions versions from 3 on are flexible (KIP-511), and a client that
 * probes with a version we do not know yet still sends header v2. */
#define APIVERSIONS_FIRST_FLEXIBLE 3

static bool req_header_flexible(int16_t key, int16_t version)
{
    if (bk_api_is_flexible(key, version)) {
        return true;
    }
    if (key == BK_API_API_VERSIONS) {
        const struct bk_api_desc *d = bk_api_desc(key);
        return d != NULL && version > d->max_version &&
               version >= APIVERSIONS_FIRST_FLEXIBLE;
    }
    return false;
}

int bk_req_header_parse(struct bk_rd *rd, struct bk_req_header *h)
{
    h->api_key = bk_rd_i16(rd);
    h->api_version = bk_rd_i16(rd);
    h->correlation_id = bk_rd_i32(rd);
    h->client_id = bk_rd_str(rd, false, true);
    h->flexible = false;
    if (rd->err != 0) {
        return BK_EPROTO;
    }
    h->flexible = req_header_flexible(h->api_key, h->api_version);
    if (h->flexible) {
        bk_rd_tags_skip(rd);
    }
    return rd->err != 0 ? BK_EPROTO : 0;
}

bool bk_resp_header_flexible(int16_t api_key, int16_t api_version)
{
    if (api_key == BK_API_API_VERSIONS) {
        return false;
    }
    return bk_api_is_flexible(api_key, api_version);
}

size_t bk_resp_header_size(bool flexible)
{
    return flexible ? 5 : 4;
}

int bk_resp_header_encode(struct bk_wr *wr,
                          int32_t correlation_id,
                          bool flexible)
{
    bk_wr_i32(wr, correlation_id);
    if (flexible) {
        bk_wr_uvarint(wr, 0);
    }
    return wr->err;
}

int bk_req_frame_encode(struct bk_arena *arena,
                        int16_t api_key,
                        int16_t version,
                        int32_t correlation_id,
                        const char *client_id,
                        const void *body,
                        uint8_t **out,
                        size_t *len)
{
    const struct bk_api_desc *d = bk_api_desc(api_key);
    if (d == NULL || version < d->min_version || version > d->max_version) {
        return BK_EINVAL;
    }
    bool flexible = bk_api_is_flexible(api_key, version);
    struct bk_str cid = client_id != NULL ? bk_str_c(client_id) : BK_STR_NULL;
    size_t total = 2 + 2 + 4 + bk_str_size(cid, false) + (flexible ? 1 : 0) +
                   d->req_size(body, version);
    uint8_t *buf = bk_arena_alloc(arena, total);
    if (buf == NULL) {
        return BK_ENOMEM;
    }
    struct bk_wr wr;
    bk_wr_init(&wr, buf, total);
    bk_wr_i16(&wr, api_key);
    bk_wr_i16(&wr, version);
    bk_wr_i32(&wr, correlation_id);
    bk_wr_str(&wr, cid, false);
    if (flexible) {
        bk_wr_uvarint(&wr, 0); /* no tagged fields */
    }
    int rv = d->req_encode(body, &wr, version);
    if (rv != 0 || wr.err != 0 || wr.len != total) {
        return rv != 0 ? rv : (wr.err != 0 ? wr.err : BK_EINVAL);
    }
    *out = buf;
    *len = total;
    return 0;
}

int bk_resp_frame_decode(struct bk_arena *arena,
                         int16_t api_key,
                         int16_t version,
                         const uint8_t *frame,
                         size_t len,
                         void *body)
{
    const struct bk_api_desc *d = bk_api_desc(api_key);
    if (d == NULL) {
        return BK_EPROTO;
    }
    struct bk_rd rd;
    bk_rd_init(&rd, frame, len);
    (void)bk_rd_i32(&rd); /* correlation id: matched by the transport */
    if (bk_resp_header_flexible(api_key, version)) {
        bk_rd_tags_skip(&rd);
    }
    if (rd.err != 0) {
        return BK_EPROTO;
    }
    d->resp_init(body);
    int rv = d->resp_decode(body, &rd, version, arena);
    return rv != 0 || rd.err != 0 ? BK_EPROTO : 0;
}
