/* SCRAM server exchange (RFC 5802, RFC 7677) and its key math.
 *
 * Happy path: client-first "n,,n=<user>,r=<cnonce>" -> server-first
 * "r=<cnonce><snonce>,s=<salt>,i=<iterations>" -> client-final
 * "c=biws,r=<nonce>,p=<proof>" -> server-final "v=<signature>".
 *
 * Failure modes: a message that does not follow the grammar (Kafka's
 * ScramMessages patterns: attributes in their order, the gs2 header "n,"
 * with an optional authzid, no channel binding, escaped names, printable
 * nonces, canonical base64) is BK_EPROTO; a nonce that is not exactly
 * ours, a channel binding that is not the gs2 header the client sent, a
 * credential outside Kafka's iteration bounds, a wrong proof and an
 * unknown user are BK_EAUTH, all at the final step. */
#include "security/scram.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <string.h>

#include "security/sasl.h"

/* Client nonces longer than this are refused (Kafka has no bound; this
 * keeps every message of the exchange within BK_SCRAM_MAX_MESSAGE). */
#define MAX_CLIENT_NONCE 512
#define SERVER_NONCE_RAW 18 /* 24 base64 characters */
#define FAKE_SALT_LEN    32

const char *bk_scram_mech_name(enum bk_scram_mech m)
{
    switch (m) {
        case BK_SCRAM_SHA_256:
            return "SCRAM-SHA-256";
        case BK_SCRAM_SHA_512:
            return "SCRAM-SHA-512";
        default:
            return NULL;
    }
}

enum bk_scram_mech bk_scram_mech_parse(const char *name, size_t len)
{
    if (len == 13 && memcmp(name, "SCRAM-SHA-256", 13) == 0) {
        return BK_SCRAM_SHA_256;
    }
    if (len == 13 && memcmp(name, "SCRAM-SHA-512", 13) == 0) {
        return BK_SCRAM_SHA_512;
    }
    return BK_SCRAM_UNKNOWN;
}

static const EVP_MD *md_of(enum bk_scram_mech m)
{
    switch (m) {
        case BK_SCRAM_SHA_256:
            return EVP_sha256();
        case BK_SCRAM_SHA_512:
            return EVP_sha512();
        default:
            return NULL;
    }
}

size_t bk_scram_key_len(enum bk_scram_mech m)
{
    const EVP_MD *md = md_of(m);
    return md != NULL ? (size_t)EVP_MD_get_size(md) : 0;
}

int bk_scram_salted_password(enum bk_scram_mech m,
                             const char *password,
                             size_t password_len,
                             const uint8_t *salt,
                             size_t salt_len,
                             int32_t iterations,
                             uint8_t *out)
{
    const EVP_MD *md = md_of(m);
    if (md == NULL || iterations < 1 || password_len > INT32_MAX ||
        salt_len > INT32_MAX) {
        return BK_EINVAL;
    }
    int ok = PKCS5_PBKDF2_HMAC(password, (int)password_len, salt, (int)salt_len,
                               iterations, md, EVP_MD_get_size(md), out);
    return ok == 1 ? 0 : BK_EINVAL;
}

static int hmac(const EVP_MD *md,
                const uint8_t *key,
                size_t key_len,
                const void *data,
                size_t len,
                uint8_t *out)
{
    unsigned int n = 0;
    return HMAC(md, key, (int)key_len, data, len, out, &n) != NULL ? 0
                                                                   : BK_EINVAL;
}

int bk_scram_keys(struct bk_scram_cred *cred,
                  const uint8_t *salted,
                  size_t salted_len)
{
    const EVP_MD *md = md_of(cred->mech);
    if (md == NULL) {
        return BK_EINVAL;
    }
    size_t n = (size_t)EVP_MD_get_size(md);
    uint8_t client_key[BK_SCRAM_MAX_KEY];
    unsigned int dl = 0;
    if (salted_len == 0 || salted_len > INT32_MAX) {
        return BK_EINVAL;
    }
    int rv = hmac(md, salted, salted_len, "Client Key", 10, client_key);
    if (rv == 0 &&
        EVP_Digest(client_key, n, cred->stored_key, &dl, md, NULL) != 1) {
        rv = BK_EINVAL;
    }
    if (rv == 0) {
        rv = hmac(md, salted, salted_len, "Server Key", 10, cred->server_key);
    }
    OPENSSL_cleanse(client_key, sizeof(client_key));
    return rv;
}

/* ---- grammar -------------------------------------------------------- */

/* A cursor over one message. */
struct cur {
    const char *p, *end;
};

static bool eat(struct cur *c, const char *lit)
{
    size_t n = strlen(lit);
    if ((size_t)(c->end - c->p) < n || memcmp(c->p, lit, n) != 0) {
        return false;
    }
    c->p += n;
    return true;
}

/* The value up to the next ',' or the end. */
static struct cur value(struct cur *c)
{
    struct cur v = { c->p, c->p };
    while (v.end < c->end && *v.end != ',') {
        v.end++;
    }
    c->p = v.end;
    return v;
}

/* Decodes a saslname (RFC 5802 §5.1: ASCII without '=' and ',', or the
 * escapes =2C and =3D, as Kafka's SASLNAME pattern) into out. */
static bool saslname(struct cur v, char *out, size_t cap)
{
    size_t k = 0;
    if (v.p == v.end) {
        return false;
    }
    for (const char *p = v.p; p < v.end; p++) {
        unsigned char ch = (unsigned char)*p;
        if (ch == '=') {
            if (v.end - p >= 3 && memcmp(p, "=2C", 3) == 0) {
                ch = ',';
            } else if (v.end - p >= 3 && memcmp(p, "=3D", 3) == 0) {
                ch = '=';
            } else {
                return false;
            }
            p += 2;
        } else if (ch == 0 || ch > 0x7f) {
            return false;
        }
        if (k + 1 >= cap) {
            return false;
        }
        out[k++] = (char)ch;
    }
    out[k] = '\0';
    return true;
}

static bool printable(struct cur v)
{
    if (v.p == v.end) {
        return false;
    }
    for (const char *p = v.p; p < v.end; p++) {
        if (*p < 0x21 || *p > 0x7e || *p == ',') {
            return false;
        }
    }
    return true;
}

/* Extensions ",<alpha>=<value>" up to stop (Kafka's EXTENSIONS). Only
 * tokenauth matters (delegation tokens, which brokerd lacks): refused. */
static bool extensions(struct cur *c, const char *stop)
{
    while (c->p < c->end && !(stop != NULL && c->end - c->p >= 3 &&
                              memcmp(c->p, stop, 3) == 0)) {
        if (!eat(c, ",")) {
            return false;
        }
        const char *k = c->p;
        while (c->p < c->end && ((*c->p >= 'a' && *c->p <= 'z') ||
                                 (*c->p >= 'A' && *c->p <= 'Z'))) {
            c->p++;
        }
        size_t klen = (size_t)(c->p - k);
        if (klen == 0 || !eat(c, "=")) {
            return false;
        }
        struct cur v = value(c);
        if (v.p == v.end) {
            return false;
        }
        for (const char *p = v.p; p < v.end; p++) {
            if (*p == '\0' || (unsigned char)*p > 0x7f || *p == '=') {
                return false;
            }
        }
        if (klen == 9 && memcmp(k, "tokenauth", 9) == 0) {
            return false;
        }
    }
    return true;
}

/* ---- the exchange ----------------------------------------------------- */

/* The fake credential of an unknown user: stable per user and secret, so
 * that asking twice gives the same salt, as for a real user. */
static int fake_cred(struct bk_scram_server *s, const uint8_t *secret)
{
    const EVP_MD *md = md_of(s->mech);
    uint8_t buf[BK_SCRAM_MAX_USER + 16];
    size_t ul = strlen(s->user);
    buf[0] = (uint8_t)s->mech;
    memcpy(buf + 2, s->user, ul);
    uint8_t out[BK_SCRAM_MAX_KEY];
    s->cred.mech = s->mech;
    s->cred.iterations = BK_SCRAM_MIN_ITERATIONS;
    s->cred.salt_len = FAKE_SALT_LEN;
    buf[1] = 's';
    int rv = hmac(EVP_sha512(), secret, BK_SCRAM_SECRET_LEN, buf, ul + 2, out);
    memcpy(s->cred.salt, out, FAKE_SALT_LEN);
    buf[1] = 'k';
    rv = rv != 0 ? rv
                 : hmac(md, secret, BK_SCRAM_SECRET_LEN, buf, ul + 2,
                        s->cred.stored_key);
    buf[1] = 'v';
    rv = rv != 0 ? rv
                 : hmac(md, secret, BK_SCRAM_SECRET_LEN, buf, ul + 2,
                        s->cred.server_key);
    return rv;
}

static int client_first(struct bk_scram_server *s,
                        struct cur c,
                        bk_scram_lookup_fn lookup,
                        void *lookup_data,
                        const uint8_t *secret,
                        char *out,
                        size_t cap,
                        size_t *out_len)
{
    const char *start = c.p;
    if (!eat(&c, "n,")) {
        return BK_EPROTO; /* 'y' and 'p=' (channel binding) refused */
    }
    char authzid[BK_SCRAM_MAX_USER + 1] = "";
    if (eat(&c, "a=") && !saslname(value(&c), authzid, sizeof(authzid))) {
        return BK_EPROTO;
    }
    if (!eat(&c, ",")) {
        return BK_EPROTO;
    }
    size_t gs2_len = (size_t)(c.p - start);
    const char *bare = c.p;
    if (!eat(&c, "n=") || !saslname(value(&c), s->user, sizeof(s->user)) ||
        !eat(&c, ",r=")) {
        return BK_EPROTO;
    }
    struct cur nonce = value(&c);
    size_t nl = (size_t)(nonce.end - nonce.p);
    if (!printable(nonce) || nl > MAX_CLIENT_NONCE || !extensions(&c, NULL)) {
        return BK_EPROTO;
    }
    /* Kafka: an authorization id must be the user itself. */
    if (authzid[0] != '\0' && strcmp(authzid, s->user) != 0) {
        return BK_EPROTO;
    }
    size_t bare_len = (size_t)(c.end - bare);
    if (bare_len >= sizeof(s->client_first_bare) || gs2_len >= sizeof(s->gs2)) {
        return BK_EPROTO;
    }
    memcpy(s->gs2, start, gs2_len);
    s->gs2[gs2_len] = '\0';
    memcpy(s->client_first_bare, bare, bare_len);
    s->client_first_bare[bare_len] = '\0';

    uint8_t raw[SERVER_NONCE_RAW];
    if (RAND_bytes(raw, sizeof(raw)) != 1) {
        return BK_EINVAL;
    }
    memcpy(s->nonce, nonce.p, nl);
    bk_b64_encode(raw, sizeof(raw), s->nonce + nl);
    if (lookup(lookup_data, s->user, s->mech, &s->cred) != 0 ||
        s->cred.mech != s->mech) {
        s->fake = true;
        if (fake_cred(s, secret) != 0) {
            return BK_EINVAL;
        }
    }
    char salt[4 * ((BK_SCRAM_MAX_SALT + 2) / 3) + 1];
    bk_b64_encode(s->cred.salt, s->cred.salt_len, salt);
    int n = snprintf(s->server_first, sizeof(s->server_first), "r=%s,s=%s,i=%d",
                     s->nonce, salt, (int)s->cred.iterations);
    if (n < 0 || (size_t)n >= sizeof(s->server_first) || (size_t)n >= cap) {
        return BK_EPROTO;
    }
    memcpy(out, s->server_first, (size_t)n);
    *out_len = (size_t)n;
    return 0;
}

/* Whether proof proves the password: ClientKey = proof XOR
 * HMAC(StoredKey, AuthMessage), accepted iff H(ClientKey) == StoredKey
 * (constant time). */
static bool proof_ok(const struct bk_scram_server *s,
                     const char *auth_msg,
                     size_t auth_len,
                     const uint8_t *proof)
{
    const EVP_MD *md = md_of(s->mech);
    size_t n = (size_t)EVP_MD_get_size(md);
    uint8_t sig[BK_SCRAM_MAX_KEY], key[BK_SCRAM_MAX_KEY], h[BK_SCRAM_MAX_KEY];
    unsigned int hl = 0;
    if (hmac(md, s->cred.stored_key, n, auth_msg, auth_len, sig) != 0) {
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        key[i] = proof[i] ^ sig[i];
    }
    if (EVP_Digest(key, n, h, &hl, md, NULL) != 1) {
        return false;
    }
    bool same = CRYPTO_memcmp(h, s->cred.stored_key, n) == 0;
    OPENSSL_cleanse(key, sizeof(key));
    return same;
}

static int client_final(struct bk_scram_server *s,
                        struct cur c,
                        char *out,
                        size_t cap,
                        size_t *out_len)
{
    const char *start = c.p;
    if (!eat(&c, "c=")) {
        return BK_EPROTO;
    }
    struct cur cb = value(&c);
    if (!eat(&c, ",r=")) {
        return BK_EPROTO;
    }
    struct cur nonce = value(&c);
    if (!printable(nonce) || !extensions(&c, ",p=")) {
        return BK_EPROTO;
    }
    const char *without_proof_end = c.p;
    if (!eat(&c, ",p=")) {
        return BK_EPROTO;
    }
    struct cur pr = value(&c);
    if (c.p != c.end) {
        return BK_EPROTO;
    }
    uint8_t gs2[sizeof(s->gs2)];
    uint8_t proof[BK_SCRAM_MAX_KEY];
    long gl = bk_b64_decode(cb.p, (size_t)(cb.end - cb.p), gs2, sizeof(gs2));
    long pl =
        bk_b64_decode(pr.p, (size_t)(pr.end - pr.p), proof, sizeof(proof));
    if (gl < 0 || pl < 0) {
        return BK_EPROTO;
    }
    size_t n = bk_scram_key_len(s->mech);
    size_t nl = (size_t)(nonce.end - nonce.p);
    bool ok = (size_t)gl == strlen(s->gs2) &&
              memcmp(gs2, s->gs2, (size_t)gl) == 0 && nl == strlen(s->nonce) &&
              memcmp(nonce.p, s->nonce, nl) == 0 && (size_t)pl == n;
    /* AuthMessage = client-first-bare "," server-first ","
     * client-final-without-proof. */
    char auth[3 * BK_SCRAM_MAX_MESSAGE + 2];
    size_t fl = (size_t)(without_proof_end - start);
    int al = snprintf(auth, sizeof(auth), "%s,%s,%.*s", s->client_first_bare,
                      s->server_first, (int)fl, start);
    if (al < 0 || (size_t)al >= sizeof(auth)) {
        return BK_EPROTO;
    }
    /* The proof is checked even when something above already failed,
     * so that every failure costs the same. */
    if (!ok) {
        memset(proof, 0, sizeof(proof));
    }
    bool proved = proof_ok(s, auth, (size_t)al, proof);
    if (!ok || !proved || s->fake ||
        s->cred.iterations < BK_SCRAM_MIN_ITERATIONS ||
        s->cred.iterations > BK_SCRAM_MAX_ITERATIONS) {
        return BK_EAUTH;
    }
    uint8_t sig[BK_SCRAM_MAX_KEY];
    if (hmac(md_of(s->mech), s->cred.server_key, n, auth, (size_t)al, sig) !=
        0) {
        return BK_EAUTH;
    }
    char b64[4 * ((BK_SCRAM_MAX_KEY + 2) / 3) + 1];
    size_t bl = bk_b64_encode(sig, n, b64);
    if (bl + 3 > cap) {
        return BK_ERANGE;
    }
    out[0] = 'v';
    out[1] = '=';
    memcpy(out + 2, b64, bl);
    *out_len = bl + 2;
    return 0;
}

int bk_scram_server_step(struct bk_scram_server *s,
                         const uint8_t *msg,
                         size_t len,
                         bk_scram_lookup_fn lookup,
                         void *lookup_data,
                         const uint8_t *secret,
                         char *out,
                         size_t cap,
                         size_t *out_len)
{
    struct cur c = { (const char *)msg, (const char *)msg + len };
    int rv;
    if (len >= BK_SCRAM_MAX_MESSAGE || memchr(msg, '\0', len) != NULL) {
        rv = BK_EPROTO;
    } else if (s->state == BK_SCRAM_WANT_CLIENT_FIRST) {
        rv = md_of(s->mech) == NULL ? BK_EINVAL
                                    : client_first(s, c, lookup, lookup_data,
                                                   secret, out, cap, out_len);
        if (rv == 0) {
            s->state = BK_SCRAM_WANT_CLIENT_FINAL;
            return 0;
        }
    } else if (s->state == BK_SCRAM_WANT_CLIENT_FINAL) {
        rv = client_final(s, c, out, cap, out_len);
        if (rv == 0) {
            s->state = BK_SCRAM_DONE;
            return 0;
        }
    } else {
        rv = BK_ESTATE;
    }
    s->state = BK_SCRAM_FAILED;
    return rv;
}

void bk_scram_server_clear(struct bk_scram_server *s)
{
    OPENSSL_cleanse(s, sizeof(*s));
}
