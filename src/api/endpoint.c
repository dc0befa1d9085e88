/* Which address a client is given for a broker (Metadata, DescribeCluster,
 * FindCoordinator). Kafka answers with the endpoints of the listener name
 * the request came in on (KIP-103), so a client that bootstrapped on the
 * SSL listener is sent on to SSL ports. */
#include "api/api.h"
#include "api/call.h"

void bk_api_broker_addr(const struct bk_call *call,
                        int32_t id,
                        const char *reg_host,
                        int32_t reg_port,
                        const char **host,
                        int32_t *port)
{
    const struct bk_api_ctx *ctx = call->ctx;
    unsigned l = bk_conn_listener(call->req->conn);
    if (id == ctx->node_id && l < ctx->nadvertised) {
        *host = ctx->advertised[l].host;
        *port = ctx->advertised[l].port;
        return;
    }
    /* Another broker: the metadata records keep the one endpoint it
     * registered (its inter-broker listener) until they carry every
     * listener of every broker. */
    *host = reg_host;
    *port = reg_port;
}
