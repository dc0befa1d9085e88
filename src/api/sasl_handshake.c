/* SaslHandshake (key 17), v0-1: picks the mechanism (api/sasl.h).
 *
 * On a listener without SASL, and after authentication, Kafka's KafkaApis
 * answers ILLEGAL_SASL_STATE; on a SASL listener a SaslHandshake that
 * comes out of turn gets the same and the connection is closed. An
 * unknown or disabled mechanism gets UNSUPPORTED_SASL_MECHANISM with the
 * enabled list, then the connection is closed. A SaslHandshake on an
 * authenticated connection starts re-authentication (KIP-368): v1 only,
 * with the mechanism of the first authentication. */
#include "protocol/gen/sasl_handshake.h"

#include "api/sasl_int.h"
#include "protocol/kerr.h"

void bk_handle_sasl_handshake(struct bk_call *call)
{
    const struct bk_msg_sasl_handshake_request *req = call->request;
    const struct bk_sasl_listener *l = bk_conn_sasl_config(call->req->conn);
    struct bk_msg_sasl_handshake_response *resp =
        bk_arena_alloc(call->arena, sizeof(*resp));
    struct bk_str *names =
        bk_arena_alloc(call->arena, BK_SASL_MAX_MECHS * sizeof(*names));
    struct bk_sasl_conn *st =
        l != NULL ? bk_sasl_conn_get(call->req->conn) : NULL;
    if (resp == NULL || names == NULL || (l != NULL && st == NULL)) {
        bk_req_fail(call->req, "out of memory");
        return;
    }
    bk_msg_sasl_handshake_response_init(resp);
    resp->mechanisms = names;
    resp->mechanisms_count = 0;
    if (l == NULL) {
        resp->error_code = BK_KERR_ILLEGAL_SASL_STATE;
        bk_call_reply(call, resp);
        return;
    }
    for (unsigned i = 0; i < l->nmechs; i++) {
        names[i] = bk_str_c(bk_sasl_mech_name(l->mechs[i]));
    }
    resp->mechanisms_count = (int32_t)l->nmechs;
    bool reauth = st->state == BK_SASL_ST_COMPLETE;
    if (st->illegal || (st->state != BK_SASL_ST_HANDSHAKE && !reauth) ||
        (reauth && call->hdr.api_version < 1)) {
        st->state = BK_SASL_ST_FAILED;
        resp->error_code = BK_KERR_ILLEGAL_SASL_STATE;
        bk_sasl_answer_close(call, resp, false);
        return;
    }
    enum bk_sasl_mech m = BK_SASL_NONE;
    for (unsigned i = 0; i < l->nmechs; i++) {
        const char *n = bk_sasl_mech_name(l->mechs[i]);
        if (bk_str_eq(req->mechanism, bk_str_c(n))) {
            m = l->mechs[i];
        }
    }
    if (m == BK_SASL_NONE || (reauth && m != st->authed)) {
        /* KIP-368 refuses a new mechanism on re-authentication. */
        st->state = BK_SASL_ST_FAILED;
        resp->error_code = BK_KERR_UNSUPPORTED_SASL_MECHANISM;
        bk_sasl_answer_close(call, resp, reauth);
        return;
    }
    bk_scram_server_clear(&st->scram);
    st->scram.mech = m == BK_SASL_SCRAM_SHA_256   ? BK_SCRAM_SHA_256
                     : m == BK_SASL_SCRAM_SHA_512 ? BK_SCRAM_SHA_512
                                                  : BK_SCRAM_UNKNOWN;
    st->mech = m;
    st->reauth = reauth;
    st->state =
        call->hdr.api_version == 0 ? BK_SASL_ST_TOKEN : BK_SASL_ST_AUTHENTICATE;
    bk_call_reply(call, resp);
}
