/* Internals shared by api/sasl.c and the SaslHandshake and
 * SaslAuthenticate handlers. */
#ifndef BK_API_SASL_INT_H
#define BK_API_SASL_INT_H

#include "api/call.h"
#include "api/sasl.h"

enum bk_sasl_state {
    BK_SASL_ST_HANDSHAKE = 0, /* ApiVersions or SaslHandshake */
    BK_SASL_ST_AUTHENTICATE,  /* SaslAuthenticate (after handshake v1) */
    BK_SASL_ST_TOKEN,         /* raw tokens (after handshake v0) */
    BK_SASL_ST_COMPLETE,
    BK_SASL_ST_FAILED, /* answered or closing; nothing more is served */
};

/* One connection's authentication (owned by the connection through
 * bk_conn_set_auth_state). */
struct bk_sasl_conn {
    enum bk_sasl_state state;
    enum bk_sasl_mech mech;   /* chosen by the last SaslHandshake */
    enum bk_sasl_mech authed; /* of the completed authentication */
    bool reauth;              /* this exchange re-authenticates (KIP-368) */
    bool illegal;             /* the request being handled came too early */
    uint64_t expires_at;      /* loop ms the session ends; 0 never */
    struct bk_scram_server scram;
};

/* c's state, created on first use; NULL when out of memory. */
struct bk_sasl_conn *bk_sasl_conn_get(struct bk_conn *c);

/* Feeds one client token to the chosen mechanism. Returns 0 when more is
 * expected, 1 when authentication completed (the principal is set on the
 * connection, the state is COMPLETE), BK_EAUTH or BK_EPROTO on failure
 * (the state is FAILED), BK_ENOMEM. *out (arena-owned) is the server's
 * token, *msg the failure's message. */
int bk_sasl_step(struct bk_req *req,
                 struct bk_sasl_conn *st,
                 const uint8_t *in,
                 size_t len,
                 uint8_t **out,
                 size_t *out_len,
                 const char **msg);

/* After connection.failed.authentication.delay.ms, answers req with frame
 * (arena-owned, may be NULL for no answer) and closes the connection. */
void bk_sasl_fail_later(struct bk_req *req, const void *frame, size_t len);

/* Encodes resp as call's answer into the arena (*frame, *len). Returns 0
 * or a BK_E* code. */
int bk_sasl_encode(struct bk_call *call,
                   const void *resp,
                   uint8_t **frame,
                   size_t *len);

/* Answers call with resp (its own response type) and closes the
 * connection after it: at once, or after the failed-authentication delay
 * when delayed. */
void bk_sasl_answer_close(struct bk_call *call, const void *resp, bool delayed);

#endif /* BK_API_SASL_INT_H */
