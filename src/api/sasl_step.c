/* One step of a SASL mechanism on a connection (api/sasl_int.h): PLAIN
 * against the listener's JAAS users, SCRAM against the credentials of
 * the current metadata image; on completion, the principal and the
 * session (KIP-368). */
#include <stdio.h>
#include <string.h>

#include "api/sasl_int.h"
#include "cluster/controller.h"
#include "cluster/image.h"
#include "cluster/scram.h"
#include "common/diag.h"

static int scram_lookup(void *data,
                        const char *user,
                        enum bk_scram_mech mech,
                        struct bk_scram_cred *out)
{
    const struct bk_md_image *img = data;
    const struct bk_md_scram_cred *c =
        img != NULL ? bk_md_image_scram(img, user, strlen(user), (int8_t)mech)
                    : NULL;
    if (c == NULL) {
        return BK_ENOTFOUND;
    }
    out->mech = mech;
    out->iterations = c->iterations;
    out->salt_len = c->salt_len;
    memcpy(out->salt, c->salt, c->salt_len);
    memcpy(out->stored_key, c->stored_key, c->key_len);
    memcpy(out->server_key, c->server_key, c->key_len);
    return 0;
}

static int plain_step(const struct bk_sasl_listener *l,
                      const uint8_t *in,
                      size_t len,
                      char *user,
                      size_t cap,
                      const char **msg)
{
    struct bk_plain_msg m;
    if (bk_plain_parse(in, len, &m) != 0) {
        return BK_EPROTO;
    }
    if (!bk_plain_check(&l->plain_users, &m) || m.authcid_len >= cap) {
        /* PlainSaslServer's own message. */
        *msg = "Authentication failed: Invalid username or password";
        return BK_EAUTH;
    }
    memcpy(user, m.authcid, m.authcid_len);
    user[m.authcid_len] = '\0';
    return 1;
}

static int scram_step(struct bk_req *req,
                      struct bk_sasl_conn *st,
                      const struct bk_sasl_listener *l,
                      const uint8_t *in,
                      size_t len,
                      uint8_t **out,
                      size_t *out_len)
{
    const struct bk_api_ctx *ctx = req->shard->group->app;
    uint8_t *buf = bk_arena_alloc(&req->arena, BK_SCRAM_MAX_MESSAGE);
    if (buf == NULL) {
        return BK_ENOMEM;
    }
    struct bk_md_image *img = bk_md_image_acquire(ctx->md);
    int rv =
        bk_scram_server_step(&st->scram, in, len, scram_lookup, img, l->secret,
                             (char *)buf, BK_SCRAM_MAX_MESSAGE, out_len);
    bk_md_image_release(img);
    if (rv != 0) {
        return rv == BK_EPROTO ? BK_EPROTO : BK_EAUTH;
    }
    *out = buf;
    return st->scram.state == BK_SCRAM_DONE ? 1 : 0;
}

/* The exchange completed for user: the principal, the session. */
static int complete(struct bk_req *req,
                    struct bk_sasl_conn *st,
                    const struct bk_sasl_listener *l,
                    const char *user,
                    const char **msg)
{
    char principal[BK_SCRAM_MAX_USER + 16];
    snprintf(principal, sizeof(principal), "User:%s", user);
    if (st->reauth && strcmp(principal, bk_conn_principal(req->conn)) != 0) {
        /* KIP-368: a connection keeps its principal. */
        *msg = "Cannot change principals during re-authentication";
        return BK_EAUTH;
    }
    int rv = bk_conn_set_principal(req->conn, principal);
    if (rv != 0) {
        return rv;
    }
    st->state = BK_SASL_ST_COMPLETE;
    st->authed = st->mech;
    st->expires_at =
        l->reauth_ms > 0 ? uv_now(&req->shard->loop) + l->reauth_ms : 0;
    /* A user name may hold any byte an administrator allowed: escaped,
     * so the log stays one line per event. */
    char shown[2 * sizeof(principal)];
    bk_diag_debug(
        "api",
        "conn=%llu listener=%s mechanism=%s principal=\"%s\" "
        "msg=\"%sauthenticated\"",
        (unsigned long long)bk_conn_id(req->conn), l->name,
        bk_sasl_mech_name(st->mech),
        bk_diag_escape(shown, sizeof(shown), principal, strlen(principal)),
        st->reauth ? "re-" : "");
    return 1;
}

int bk_sasl_step(struct bk_req *req,
                 struct bk_sasl_conn *st,
                 const uint8_t *in,
                 size_t len,
                 uint8_t **out,
                 size_t *out_len,
                 const char **msg)
{
    const struct bk_sasl_listener *l = bk_conn_sasl_config(req->conn);
    static const uint8_t empty[1];
    char user[BK_SCRAM_MAX_USER + 1];
    int rv;
    *out = (uint8_t *)empty;
    *out_len = 0;
    /* Kafka's message for a mechanism's failure (SaslServerAuthenticator),
     * unless the step gives its own. */
    const char *generic =
        st->reauth ? "Authentication failed during re-authentication due "
                     "to invalid credentials with SASL mechanism"
                   : "Authentication failed during authentication due to "
                     "invalid credentials with SASL mechanism";
    *msg = generic;
    if (st->mech == BK_SASL_PLAIN) {
        rv = plain_step(l, in, len, user, sizeof(user), msg);
    } else {
        rv = scram_step(req, st, l, in, len, out, out_len);
        snprintf(user, sizeof(user), "%s", st->scram.user);
    }
    if (rv == 1) {
        rv = complete(req, st, l, user, msg);
    }
    if (rv < 0) {
        bk_diag_info("api",
                     "conn=%llu peer=%s listener=%s mechanism=%s "
                     "msg=\"failed %sauthentication\"",
                     (unsigned long long)bk_conn_id(req->conn),
                     bk_conn_peer(req->conn), l->name,
                     bk_sasl_mech_name(st->mech), st->reauth ? "re-" : "");
        st->state = BK_SASL_ST_FAILED;
        bk_scram_server_clear(&st->scram);
        if (*msg == generic) {
            char *text = bk_arena_alloc(&req->arena, 160);
            if (text != NULL) {
                snprintf(text, 160, "%s %s", generic,
                         bk_sasl_mech_name(st->mech));
            }
            *msg = text != NULL ? text : generic;
        }
    }
    return rv;
}
