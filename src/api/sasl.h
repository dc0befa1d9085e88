/* SASL authentication on SASL_PLAINTEXT and SASL_SSL listeners: Kafka's
 * SaslServerAuthenticator state machine (security-notes.md §3, §5).
 *
 * A connection starts in HANDSHAKE: only ApiVersions and SaslHandshake
 * (v0, v1) are served. SaslHandshake v1 leads to AUTHENTICATE, where
 * SaslAuthenticate (v0-2) carries the mechanism's tokens; v0 leads to
 * TOKEN, where the frames are raw tokens without a Kafka header (the
 * pre-KIP-152 flow). A finished exchange sets the principal
 * "User:<authorization id>" on the connection (COMPLETE). A request the
 * state does not allow is refused with ILLEGAL_SASL_STATE and the
 * connection closed; a failed authentication is answered with
 * SASL_AUTHENTICATION_FAILED after connection.failed.authentication.delay.ms
 * (a timer, never a sleep) and the connection closed. Re-authentication
 * (KIP-368) is a new SaslHandshake v1 on a COMPLETE connection, with the
 * same mechanism and principal; a connection whose session expired is
 * closed on its next request other than SaslHandshake. */
#ifndef BK_API_SASL_H
#define BK_API_SASL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "net/net.h"
#include "security/sasl.h"
#include "security/scram.h"

enum bk_sasl_mech {
    BK_SASL_NONE = 0,
    BK_SASL_PLAIN,
    BK_SASL_SCRAM_SHA_256,
    BK_SASL_SCRAM_SHA_512,
};

#define BK_SASL_MAX_MECHS 3

/* One SASL listener's settings, built at start (server/sasl_setup.c) and
 * read-only afterwards, shared by the shards. */
struct bk_sasl_listener {
    char name[32]; /* the listener's name */
    /* Enabled mechanisms, in the configured order. */
    unsigned nmechs;
    enum bk_sasl_mech mechs[BK_SASL_MAX_MECHS];
    struct bk_jaas plain_users; /* owned; PLAIN's user_<name> options */
    uint64_t reauth_ms;         /* connections.max.reauth.ms; 0 = none */
    uint64_t fail_delay_ms;     /* connection.failed.authentication.delay.ms */
    /* Derives unknown users' fake SCRAM salts (random per process). */
    uint8_t secret[BK_SCRAM_SECRET_LEN];
};

/* Kafka's name of m ("SCRAM-SHA-256"), static; NULL for BK_SASL_NONE. */
const char *bk_sasl_mech_name(enum bk_sasl_mech m);

/* Builds l. mechanisms is the listener's sasl.enabled.mechanisms
 * (comma-separated); plain_jaas its PLAIN JAAS entry ("" when PLAIN is
 * off or has none). Returns 0, or BK_ECONFIG with one line in err (no
 * mechanism, an unknown one, PLAIN without users, a JAAS syntax error),
 * or BK_ENOMEM. The strings are borrowed for the call only. */
int bk_sasl_listener_init(struct bk_sasl_listener *l,
                          const char *name,
                          const char *mechanisms,
                          const char *plain_jaas,
                          uint64_t reauth_ms,
                          uint64_t fail_delay_ms,
                          char *err,
                          size_t errlen);
void bk_sasl_listener_free(struct bk_sasl_listener *l);

/* For the ApiVersions handler: true when the request came while the
 * connection's SASL exchange expects SaslAuthenticate; the handler then
 * answers ILLEGAL_SASL_STATE and the connection is closed after it, as
 * Kafka answers any API there with its own error response. */
bool bk_sasl_refuse_api_versions(struct bk_req *req);

/* Runs before dispatch parses req's header. On a SASL listener, checks
 * that the state allows the frame's API key (read from the frame, before
 * the body is parsed), handles raw v0 tokens, and closes connections
 * whose session expired. Returns true when it took care of req. */
bool bk_sasl_before_dispatch(struct bk_req *req);

#endif /* BK_API_SASL_H */
