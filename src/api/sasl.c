/* The SASL state machine of a connection (api/sasl.h): what runs before
 * dispatch, the mechanisms' steps, and the delayed failure.
 *
 * Failure modes: a request the state does not allow closes the connection
 * (SaslHandshake and SaslAuthenticate get ILLEGAL_SASL_STATE first, from
 * their handlers); a failed exchange is answered after the delay and the
 * connection closed; a raw v0 token that fails closes the connection
 * after the delay without an answer, as Kafka does; out of memory closes
 * the connection. */
#include <openssl/rand.h>
#include <stdio.h>
#include <string.h>

#include "api/sasl_int.h"
#include "cluster/controller.h"
#include "cluster/image.h"
#include "cluster/scram.h"
#include "common/diag.h"
#include "common/heap.h"
#include "protocol/prim.h"

static const char *const mech_names[] = {
    [BK_SASL_NONE] = NULL,
    [BK_SASL_PLAIN] = "PLAIN",
    [BK_SASL_SCRAM_SHA_256] = "SCRAM-SHA-256",
    [BK_SASL_SCRAM_SHA_512] = "SCRAM-SHA-512",
};

const char *bk_sasl_mech_name(enum bk_sasl_mech m)
{
    return m <= BK_SASL_SCRAM_SHA_512 ? mech_names[m] : NULL;
}

static enum bk_sasl_mech mech_parse(const char *s, size_t len)
{
    for (int m = BK_SASL_PLAIN; m <= BK_SASL_SCRAM_SHA_512; m++) {
        if (strlen(mech_names[m]) == len &&
            memcmp(mech_names[m], s, len) == 0) {
            return (enum bk_sasl_mech)m;
        }
    }
    return BK_SASL_NONE;
}

static int parse_mechs(struct bk_sasl_listener *l,
                       const char *list,
                       char *err,
                       size_t errlen)
{
    const char *p = list;
    while (*p != '\0') {
        const char *end = strchr(p, ',');
        size_t n = end != NULL ? (size_t)(end - p) : strlen(p);
        while (n > 0 && (*p == ' ' || *p == '\t')) {
            p++;
            n--;
        }
        while (n > 0 && (p[n - 1] == ' ' || p[n - 1] == '\t')) {
            n--;
        }
        enum bk_sasl_mech m = n > 0 ? mech_parse(p, n) : BK_SASL_NONE;
        if (n > 0 && m == BK_SASL_NONE) {
            snprintf(err, errlen,
                     "listener %s: sasl.enabled.mechanisms: '%.*s' is not "
                     "supported (PLAIN, SCRAM-SHA-256, SCRAM-SHA-512 are)",
                     l->name, (int)(n < 64 ? n : 64), p);
            return BK_ECONFIG;
        }
        bool dup = false;
        for (unsigned i = 0; i < l->nmechs; i++) {
            dup = dup || l->mechs[i] == m;
        }
        if (m != BK_SASL_NONE && !dup) {
            l->mechs[l->nmechs++] = m;
        }
        if (end == NULL) {
            break;
        }
        p = end + 1;
    }
    if (l->nmechs == 0) {
        snprintf(err, errlen,
                 "listener %s uses SASL but sasl.enabled.mechanisms (or "
                 "listener.name.%s.sasl.enabled.mechanisms) names no "
                 "mechanism; set PLAIN, SCRAM-SHA-256 and/or SCRAM-SHA-512",
                 l->name, l->name);
        return BK_ECONFIG;
    }
    return 0;
}

static bool has_mech(const struct bk_sasl_listener *l, enum bk_sasl_mech m)
{
    for (unsigned i = 0; i < l->nmechs; i++) {
        if (l->mechs[i] == m) {
            return true;
        }
    }
    return false;
}

int bk_sasl_listener_init(struct bk_sasl_listener *l,
                          const char *name,
                          const char *mechanisms,
                          const char *plain_jaas,
                          uint64_t reauth_ms,
                          uint64_t fail_delay_ms,
                          char *err,
                          size_t errlen)
{
    memset(l, 0, sizeof(*l));
    snprintf(l->name, sizeof(l->name), "%s", name);
    l->reauth_ms = reauth_ms;
    l->fail_delay_ms = fail_delay_ms;
    int rv = parse_mechs(l, mechanisms, err, errlen);
    if (rv != 0) {
        return rv;
    }
    if (has_mech(l, BK_SASL_PLAIN)) {
        if (plain_jaas == NULL || plain_jaas[0] == '\0') {
            snprintf(err, errlen,
                     "listener %s: PLAIN is enabled but neither "
                     "listener.name.%s.plain.sasl.jaas.config nor "
                     "sasl.jaas.config gives its users",
                     name, name);
            return BK_ECONFIG;
        }
        char jerr[200];
        rv = bk_jaas_parse(plain_jaas, &l->plain_users, jerr, sizeof(jerr));
        if (rv != 0) {
            snprintf(err, errlen, "listener %s: %s", name, jerr);
            return rv;
        }
    }
    if (RAND_bytes(l->secret, (int)sizeof(l->secret)) != 1) {
        bk_jaas_free(&l->plain_users);
        snprintf(err, errlen, "listener %s: no random bytes", name);
        return BK_ECONFIG;
    }
    return 0;
}

void bk_sasl_listener_free(struct bk_sasl_listener *l)
{
    bk_jaas_free(&l->plain_users);
    memset(l, 0, sizeof(*l));
}

/* ---- per connection ----------------------------------------------- */

static void conn_state_free(void *p)
{
    struct bk_sasl_conn *st = p;
    bk_scram_server_clear(&st->scram);
    bk_free(st);
}

struct bk_sasl_conn *bk_sasl_conn_get(struct bk_conn *c)
{
    struct bk_sasl_conn *st = bk_conn_auth_state(c);
    if (st == NULL) {
        st = bk_calloc(1, sizeof(*st));
        if (st != NULL) {
            bk_conn_set_auth_state(c, st, conn_state_free);
        }
    }
    return st;
}

/* A failed authentication's answer, held for the delay. Listed as
 * waiting so that a shard's drain sends it at once: the delay must not
 * hold a shutdown up. */
struct delayed {
    struct bk_api_waiting waiting; /* first: cut_short casts back */
    uv_timer_t timer;
    struct bk_req *req;
    const void *frame;
    size_t len;
    bool listed;
};

static void delayed_closed(uv_handle_t *h)
{
    bk_free(h->data);
}

static void delayed_send(struct delayed *d)
{
    if (d->listed) {
        bk_api_waiting_remove(d->req->shard, &d->waiting);
        d->listed = false;
    }
    uv_timer_stop(&d->timer);
    if (d->frame != NULL) {
        bk_req_reply_close(d->req, d->frame, d->len);
    } else {
        bk_req_fail(d->req, "SASL authentication failed");
    }
    uv_close((uv_handle_t *)&d->timer, delayed_closed);
}

static void delayed_fire(uv_timer_t *t)
{
    delayed_send(t->data);
}

static void delayed_cut_short(struct bk_api_waiting *w)
{
    struct delayed *d = (struct delayed *)w;
    d->listed = false; /* the drain took it off the list */
    delayed_send(d);
}

void bk_sasl_fail_later(struct bk_req *req, const void *frame, size_t len)
{
    const struct bk_sasl_listener *l = bk_conn_sasl_config(req->conn);
    struct delayed *d = bk_calloc(1, sizeof(*d));
    if (d == NULL || l == NULL) {
        bk_free(d);
        bk_req_fail(req, "SASL authentication failed");
        return;
    }
    d->req = req;
    d->frame = frame;
    d->len = len;
    d->timer.data = d;
    uv_timer_init(&req->shard->loop, &d->timer);
    d->waiting.cut_short = delayed_cut_short;
    bk_api_waiting_add(req->shard, &d->waiting);
    d->listed = true;
    uv_timer_start(&d->timer, delayed_fire, l->fail_delay_ms, 0);
}

/* ---- mechanisms ----------------------------------------------------- */

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

/* ---- before dispatch ---------------------------------------------- */

/* A raw token of the v0 flow: answered by a raw token (4-byte length and
 * bytes, no header); a failure closes the connection after the delay
 * without an answer (KIP-152 added errors; v0 has none). */
static void raw_token(struct bk_req *req, struct bk_sasl_conn *st)
{
    uint8_t *out;
    size_t n;
    const char *msg;
    int rv = bk_sasl_step(req, st, req->frame, req->frame_len, &out, &n, &msg);
    if (rv < 0) {
        bk_sasl_fail_later(req, NULL, 0);
        return;
    }
    uint8_t *frame = bk_arena_alloc(&req->arena, 4 + n);
    if (frame == NULL) {
        bk_req_fail(req, "out of memory");
        return;
    }
    struct bk_wr wr;
    bk_wr_init(&wr, frame, 4 + n);
    bk_wr_i32(&wr, (int32_t)n);
    bk_wr_raw(&wr, out, n);
    bk_req_reply(req, frame, 4 + n);
}

bool bk_sasl_before_dispatch(struct bk_req *req)
{
    if (bk_conn_sasl_config(req->conn) == NULL) {
        return false;
    }
    struct bk_sasl_conn *st = bk_sasl_conn_get(req->conn);
    if (st == NULL) {
        bk_req_fail(req, "out of memory");
        return true;
    }
    st->illegal = false;
    if (st->state == BK_SASL_ST_TOKEN) {
        raw_token(req, st);
        return true;
    }
    if (st->state == BK_SASL_ST_FAILED) {
        bk_req_noreply(req); /* the connection is closing */
        return true;
    }
    if (req->frame_len < 2) {
        return false; /* dispatch refuses the header */
    }
    int16_t key = (int16_t)((req->frame[0] << 8) | req->frame[1]);
    bool allowed;
    switch (st->state) {
        case BK_SASL_ST_COMPLETE:
            if (st->expires_at != 0 &&
                uv_now(&req->shard->loop) >= st->expires_at &&
                key != BK_API_SASL_HANDSHAKE) {
                /* KIP-368: Kafka's Processor closes an expired session
                 * on its next request that does not re-authenticate. */
                bk_req_fail(req,
                            "SASL session expired "
                            "(connections.max.reauth.ms)");
                return true;
            }
            return false;
        case BK_SASL_ST_HANDSHAKE:
            allowed =
                key == BK_API_API_VERSIONS || key == BK_API_SASL_HANDSHAKE;
            break;
        default: /* BK_SASL_ST_AUTHENTICATE */
            allowed = key == BK_API_SASL_AUTHENTICATE;
            break;
    }
    if (allowed) {
        return false;
    }
    if (key == BK_API_SASL_HANDSHAKE || key == BK_API_SASL_AUTHENTICATE ||
        key == BK_API_API_VERSIONS) {
        /* Their handlers answer ILLEGAL_SASL_STATE, then close (Kafka's
         * getErrorResponse; other APIs are closed without an answer). */
        st->illegal = true;
        return false;
    }
    st->state = BK_SASL_ST_FAILED;
    bk_diag_info("api",
                 "conn=%llu peer=%s api_key=%d msg=\"ILLEGAL_SASL_STATE: "
                 "request before SASL authentication\"",
                 (unsigned long long)bk_conn_id(req->conn),
                 bk_conn_peer(req->conn), key);
    bk_req_fail(req, "ILLEGAL_SASL_STATE: request before SASL authentication");
    return true;
}

bool bk_sasl_refuse_api_versions(struct bk_req *req)
{
    if (bk_conn_sasl_config(req->conn) == NULL) {
        return false;
    }
    struct bk_sasl_conn *st = bk_conn_auth_state(req->conn);
    if (st == NULL || !st->illegal) {
        return false;
    }
    st->state = BK_SASL_ST_FAILED;
    bk_conn_close_after_answers(req->conn);
    return true;
}

int bk_sasl_encode(struct bk_call *call,
                   const void *resp,
                   uint8_t **frame,
                   size_t *len)
{
    size_t nholes = 0;
    return bk_call_encode_deferred(call, resp, 0, NULL, 0, &nholes, frame, len);
}
