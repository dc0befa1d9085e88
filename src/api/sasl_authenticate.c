/* SaslAuthenticate (key 36), v0-2: one token of the exchange each
 * (api/sasl.h). v1+ answers the session lifetime
 * (connections.max.reauth.ms, KIP-368) when the exchange completes.
 *
 * After authentication (or on a listener without SASL) Kafka's KafkaApis
 * answers ILLEGAL_SASL_STATE and keeps the connection; out of turn on a
 * SASL listener the answer is the same and the connection is closed. A
 * failed exchange answers SASL_AUTHENTICATION_FAILED with Kafka's
 * message after connection.failed.authentication.delay.ms, then
 * closes. */
#include "protocol/gen/sasl_authenticate.h"

#include "api/sasl_int.h"
#include "protocol/kerr.h"

void bk_handle_sasl_authenticate(struct bk_call *call)
{
    const struct bk_msg_sasl_authenticate_request *req = call->request;
    const struct bk_sasl_listener *l = bk_conn_sasl_config(call->req->conn);
    struct bk_msg_sasl_authenticate_response *resp =
        bk_arena_alloc(call->arena, sizeof(*resp));
    struct bk_sasl_conn *st =
        l != NULL ? bk_sasl_conn_get(call->req->conn) : NULL;
    if (resp == NULL || (l != NULL && st == NULL)) {
        bk_req_fail(call->req, "out of memory");
        return;
    }
    bk_msg_sasl_authenticate_response_init(resp);
    resp->auth_bytes = (struct bk_bytes){ (const uint8_t *)"", 0 };
    resp->error_message = BK_STR_NULL; /* Kafka: null without an error */
    if (l == NULL || (st->state == BK_SASL_ST_COMPLETE && !st->illegal)) {
        resp->error_code = BK_KERR_ILLEGAL_SASL_STATE;
        resp->error_message = bk_str_c(
            "Unexpected SaslAuthenticate request with authenticated "
            "connection or a listener without SASL");
        bk_call_reply(call, resp);
        return;
    }
    if (st->illegal || st->state != BK_SASL_ST_AUTHENTICATE) {
        st->state = BK_SASL_ST_FAILED;
        resp->error_code = BK_KERR_ILLEGAL_SASL_STATE;
        resp->error_message = bk_str_c(
            "Unexpected SaslAuthenticate request before "
            "SaslHandshake");
        bk_sasl_answer_close(call, resp, false);
        return;
    }
    uint8_t *out;
    size_t n;
    const char *msg;
    size_t in_len = req->auth_bytes.len > 0 ? (size_t)req->auth_bytes.len : 0;
    const uint8_t *in = in_len > 0 ? req->auth_bytes.ptr : (const uint8_t *)"";
    int rv = bk_sasl_step(call->req, st, in, in_len, &out, &n, &msg);
    if (rv == BK_ENOMEM) {
        bk_req_fail(call->req, "out of memory");
        return;
    }
    if (rv < 0) {
        resp->error_code = BK_KERR_SASL_AUTHENTICATION_FAILED;
        resp->error_message = bk_str_c(msg);
        bk_sasl_answer_close(call, resp, true);
        return;
    }
    resp->auth_bytes = (struct bk_bytes){ out, (int32_t)n };
    if (rv == 1 && call->hdr.api_version >= 1) {
        resp->session_lifetime_ms = (int64_t)l->reauth_ms;
    }
    bk_call_reply(call, resp);
}
