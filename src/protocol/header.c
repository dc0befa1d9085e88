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
