/* A listener's TLS context from Kafka's ssl.* settings (PEM only), built
 * once at start-up. Every failure is one line naming the setting, so that
 * a wrong path or password stops start-up with the fix in the message
 * (security-notes.md §2). */
#include <ctype.h>
#include <errno.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "common/err.h"
#include "common/heap.h"
#include "net/tls_int.h"

/* The oldest OpenSSL error of this thread as one line, then cleared. */
static const char *ssl_reason(char *buf, size_t len)
{
    unsigned long e = ERR_peek_error();
    if (e == 0) {
        snprintf(buf, len, "unknown error");
    } else {
        const char *r = ERR_reason_error_string(e);
        snprintf(buf, len, "%s", r != NULL ? r : "unknown error");
    }
    ERR_clear_error();
    return buf;
}

static int fail(char *err, size_t errlen, const char *key, const char *why)
{
    snprintf(err, errlen, "%s: %s", key, why);
    return BK_ECONFIG;
}

/* Inline PEM as Kafka takes it in a properties value: on one line, with
 * blanks or literal "\n" inside the base64. Rewritten as proper PEM
 * (64-column base64 between the BEGIN and END lines). Returns owned text
 * or NULL when out of memory. */
static char *pem_normalize(const char *in)
{
    size_t cap = strlen(in) * 2 + 64;
    char *out = bk_malloc(cap);
    if (out == NULL) {
        return NULL;
    }
    size_t k = 0;
    const char *p = in;
    for (;;) {
        const char *b = strstr(p, "-----BEGIN ");
        const char *bend = b != NULL ? strstr(b + 11, "-----") : NULL;
        const char *e = bend != NULL ? strstr(bend + 5, "-----END ") : NULL;
        const char *eend = e != NULL ? strstr(e + 9, "-----") : NULL;
        if (eend == NULL) {
            break;
        }
        k += (size_t)snprintf(out + k, cap - k, "%.*s\n", (int)(bend + 5 - b),
                              b);
        unsigned col = 0;
        for (const char *s = bend + 5; s < e; s++) {
            if (s[0] == '\\' && s + 1 < e && s[1] == 'n') {
                s++;
                continue;
            }
            if (!isalnum((unsigned char)*s) && *s != '+' && *s != '/' &&
                *s != '=') {
                continue;
            }
            out[k++] = *s;
            if (++col == 64) {
                out[k++] = '\n';
                col = 0;
            }
        }
        if (col > 0) {
            out[k++] = '\n';
        }
        k += (size_t)snprintf(out + k, cap - k, "%.*s\n", (int)(eend + 5 - e),
                              e);
        p = eend + 5;
    }
    out[k] = '\0';
    return out;
}

static BIO *pem_bio(const char *inline_pem, char **owned)
{
    *owned = pem_normalize(inline_pem);
    return *owned != NULL ? BIO_new_mem_buf(*owned, -1) : NULL;
}

static int check_readable(const char *key,
                          const char *path,
                          char *err,
                          size_t errlen)
{
    if (access(path, R_OK) != 0) {
        snprintf(err, errlen, "%s: cannot read %.200s: %s", key, path,
                 strerror(errno));
        return BK_ECONFIG;
    }
    return 0;
}

/* The certificate chain and key from inline PEM. */
static int keystore_inline(SSL_CTX *ssl,
                           const struct bk_tls_config *c,
                           char *err,
                           size_t errlen)
{
    char why[160], *text = NULL;
    BIO *bio = pem_bio(c->keystore_certificate_chain, &text);
    X509 *leaf = bio != NULL ? PEM_read_bio_X509(bio, NULL, NULL, NULL) : NULL;
    int rv = 0;
    if (leaf == NULL || SSL_CTX_use_certificate(ssl, leaf) != 1) {
        rv = fail(err, errlen, "ssl.keystore.certificate.chain",
                  ssl_reason(why, sizeof(why)));
    }
    X509 *ca;
    while (rv == 0 && (ca = PEM_read_bio_X509(bio, NULL, NULL, NULL))) {
        if (SSL_CTX_add0_chain_cert(ssl, ca) != 1) {
            X509_free(ca);
            rv = fail(err, errlen, "ssl.keystore.certificate.chain",
                      ssl_reason(why, sizeof(why)));
        }
    }
    ERR_clear_error(); /* the end of the chain reads as an error */
    X509_free(leaf);
    BIO_free(bio);
    bk_free(text);
    if (rv != 0) {
        return rv;
    }
    bio = pem_bio(c->keystore_key, &text);
    EVP_PKEY *key = bio != NULL ? PEM_read_bio_PrivateKey(
                                      bio, NULL, NULL, (void *)c->key_password)
                                : NULL;
    if (key == NULL || SSL_CTX_use_PrivateKey(ssl, key) != 1) {
        rv = fail(err, errlen, "ssl.keystore.key (or ssl.key.password)",
                  ssl_reason(why, sizeof(why)));
    }
    EVP_PKEY_free(key);
    BIO_free(bio);
    bk_free(text);
    return rv;
}

static int load_keystore(SSL_CTX *ssl,
                         const struct bk_tls_config *c,
                         char *err,
                         size_t errlen)
{
    char why[160];
    if (strcasecmp(c->keystore_type, "PEM") != 0) {
        snprintf(err, errlen,
                 "ssl.keystore.type: only PEM is supported, not '%.32s'",
                 c->keystore_type);
        return BK_ECONFIG;
    }
    SSL_CTX_set_default_passwd_cb_userdata(ssl, (void *)c->key_password);
    int rv;
    if (c->keystore_location[0] != '\0') {
        rv = check_readable("ssl.keystore.location", c->keystore_location, err,
                            errlen);
        if (rv != 0) {
            return rv;
        }
        if (SSL_CTX_use_certificate_chain_file(ssl, c->keystore_location) !=
            1) {
            return fail(err, errlen, "ssl.keystore.location (certificate)",
                        ssl_reason(why, sizeof(why)));
        }
        if (SSL_CTX_use_PrivateKey_file(ssl, c->keystore_location,
                                        SSL_FILETYPE_PEM) != 1) {
            return fail(err, errlen,
                        "ssl.keystore.location (key; or ssl.key.password)",
                        ssl_reason(why, sizeof(why)));
        }
    } else if (c->keystore_key[0] != '\0' &&
               c->keystore_certificate_chain[0] != '\0') {
        rv = keystore_inline(ssl, c, err, errlen);
        if (rv != 0) {
            return rv;
        }
    } else {
        return fail(err, errlen, "ssl.keystore.location",
                    "an SSL listener needs a key and certificate "
                    "(ssl.keystore.location, or ssl.keystore.key and "
                    "ssl.keystore.certificate.chain)");
    }
    if (SSL_CTX_check_private_key(ssl) != 1) {
        return fail(err, errlen, "ssl.keystore",
                    "the key does not match the certificate");
    }
    return 0;
}

/* The CAs that client certificates must chain to, also sent to clients
 * as the acceptable issuers. */
static int load_truststore(SSL_CTX *ssl,
                           const struct bk_tls_config *c,
                           char *err,
                           size_t errlen)
{
    char why[160];
    if (strcasecmp(c->truststore_type, "PEM") != 0) {
        snprintf(err, errlen,
                 "ssl.truststore.type: only PEM is supported, not '%.32s'",
                 c->truststore_type);
        return BK_ECONFIG;
    }
    if (c->truststore_location[0] != '\0') {
        int rv = check_readable("ssl.truststore.location",
                                c->truststore_location, err, errlen);
        if (rv != 0) {
            return rv;
        }
        STACK_OF(X509_NAME) *names =
            SSL_load_client_CA_file(c->truststore_location);
        if (names == NULL ||
            SSL_CTX_load_verify_file(ssl, c->truststore_location) != 1) {
            sk_X509_NAME_pop_free(names, X509_NAME_free);
            return fail(err, errlen, "ssl.truststore.location",
                        ssl_reason(why, sizeof(why)));
        }
        SSL_CTX_set_client_CA_list(ssl, names);
        return 0;
    }
    char *text = NULL;
    BIO *bio = pem_bio(c->truststore_certificates, &text);
    X509_STORE *store = SSL_CTX_get_cert_store(ssl);
    X509 *ca;
    int n = 0;
    while (bio != NULL && (ca = PEM_read_bio_X509(bio, NULL, NULL, NULL))) {
        X509_STORE_add_cert(store, ca);
        SSL_CTX_add_client_CA(ssl, ca);
        X509_free(ca);
        n++;
    }
    ERR_clear_error();
    BIO_free(bio);
    bk_free(text);
    if (n == 0) {
        return fail(err, errlen, "ssl.truststore.certificates",
                    "no PEM certificate found");
    }
    return 0;
}

static int set_client_auth(SSL_CTX *ssl,
                           const struct bk_tls_config *c,
                           char *err,
                           size_t errlen)
{
    int mode;
    if (strcasecmp(c->client_auth, "none") == 0) {
        SSL_CTX_set_verify(ssl, SSL_VERIFY_NONE, NULL);
        return 0;
    } else if (strcasecmp(c->client_auth, "requested") == 0) {
        mode = SSL_VERIFY_PEER;
    } else if (strcasecmp(c->client_auth, "required") == 0) {
        mode = SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT;
    } else {
        snprintf(err, errlen,
                 "ssl.client.auth: '%.32s' is not none, requested or "
                 "required",
                 c->client_auth);
        return BK_ECONFIG;
    }
    if (c->truststore_location[0] == '\0' &&
        c->truststore_certificates[0] == '\0') {
        snprintf(err, errlen,
                 "ssl.client.auth=%s needs ssl.truststore.location or "
                 "ssl.truststore.certificates (the CAs of client "
                 "certificates)",
                 c->client_auth);
        return BK_ECONFIG;
    }
    SSL_CTX_set_verify(ssl, mode, NULL);
    return load_truststore(ssl, c, err, errlen);
}

/* ssl.enabled.protocols: the lowest and highest named bound OpenSSL. */
static int set_protocols(SSL_CTX *ssl,
                         const struct bk_tls_config *c,
                         int *min,
                         int *max,
                         char *err,
                         size_t errlen)
{
    char buf[256];
    snprintf(buf, sizeof(buf), "%s", c->enabled_protocols);
    *min = *max = 0;
    char *save = NULL;
    for (char *t = strtok_r(buf, ", ", &save); t != NULL;
         t = strtok_r(NULL, ", ", &save)) {
        int v;
        if (strcmp(t, "TLSv1.2") == 0) {
            v = TLS1_2_VERSION;
        } else if (strcmp(t, "TLSv1.3") == 0) {
            v = TLS1_3_VERSION;
        } else {
            snprintf(err, errlen,
                     "ssl.enabled.protocols: '%.32s' is not supported "
                     "(TLSv1.2 and TLSv1.3 are)",
                     t);
            return BK_ECONFIG;
        }
        *min = *min == 0 || v < *min ? v : *min;
        *max = v > *max ? v : *max;
    }
    if (*min == 0) {
        return fail(err, errlen, "ssl.enabled.protocols", "empty");
    }
    SSL_CTX_set_min_proto_version(ssl, *min);
    SSL_CTX_set_max_proto_version(ssl, *max);
    return 0;
}

/* ssl.cipher.suites in Kafka's (IANA) names, or OpenSSL's for TLS 1.2:
 * TLS 1.3 suites go to set_ciphersuites, the others to set_cipher_list.
 * Each enabled protocol needs at least one suite of its own. */
static int set_ciphers(SSL_CTX *ssl,
                       const struct bk_tls_config *c,
                       int min,
                       int max,
                       char *err,
                       size_t errlen)
{
    if (c->cipher_suites[0] == '\0') {
        return 0;
    }
    char buf[1024], v12[1024] = "", v13[512] = "";
    snprintf(buf, sizeof(buf), "%s", c->cipher_suites);
    char *save = NULL;
    for (char *t = strtok_r(buf, ", ", &save); t != NULL;
         t = strtok_r(NULL, ", ", &save)) {
        bool is13 = strncmp(t, "TLS_AES_", 8) == 0 ||
                    strncmp(t, "TLS_CHACHA20_", 13) == 0;
        const char *name = is13 ? t : OPENSSL_cipher_name(t);
        if (!is13 && strcmp(name, "(NONE)") == 0) {
            name = t; /* already OpenSSL's name */
        }
        char *dst = is13 ? v13 : v12;
        size_t cap = is13 ? sizeof(v13) : sizeof(v12);
        size_t k = strlen(dst);
        snprintf(dst + k, cap - k, "%s%s", k > 0 ? ":" : "", name);
    }
    if (min <= TLS1_2_VERSION &&
        (v12[0] == '\0' || SSL_CTX_set_cipher_list(ssl, v12) != 1)) {
        ERR_clear_error();
        return fail(err, errlen, "ssl.cipher.suites",
                    "no known TLS 1.2 suite, but ssl.enabled.protocols "
                    "has TLSv1.2");
    }
    if (max >= TLS1_3_VERSION &&
        (v13[0] == '\0' || SSL_CTX_set_ciphersuites(ssl, v13) != 1)) {
        ERR_clear_error();
        return fail(err, errlen, "ssl.cipher.suites",
                    "no known TLS 1.3 suite, but ssl.enabled.protocols "
                    "has TLSv1.3");
    }
    return 0;
}

static void probe_ktls(struct bk_tls_ctx *t)
{
#ifdef OPENSSL_NO_KTLS
    t->ktls = false;
    t->ktls_why = "OpenSSL is built without kTLS";
#else
    char ulp[256] = "";
    FILE *f = fopen("/proc/sys/net/ipv4/tcp_available_ulp", "r");
    if (f != NULL) {
        if (fgets(ulp, sizeof(ulp), f) == NULL) {
            ulp[0] = '\0';
        }
        (void)fclose(f); /* read only */
    }
    t->ktls = strstr(ulp, "tls") != NULL;
    t->ktls_why = t->ktls ? "" : "the kernel's tls module is not loaded";
#endif
}

static int configure(struct bk_tls_ctx *t,
                     const struct bk_tls_config *c,
                     char *err,
                     size_t errlen)
{
    SSL_CTX *ssl = t->ssl;
    /* No renegotiation (security-notes.md §2), kTLS when the kernel takes
     * the keys, and a peer that closes without close_notify is a plain
     * close, as Kafka clients do it. */
    SSL_CTX_set_options(ssl, SSL_OP_NO_RENEGOTIATION | SSL_OP_ENABLE_KTLS |
                                 SSL_OP_IGNORE_UNEXPECTED_EOF |
                                 SSL_OP_CIPHER_SERVER_PREFERENCE);
    SSL_CTX_set_mode(ssl, SSL_MODE_RELEASE_BUFFERS);
    /* Read ahead into a buffer of several records: one read(2) takes a
     * Produce's records in a few calls instead of two per 16 KiB record
     * (header, then body). conn.c picks up what the session holds. */
    SSL_CTX_set_read_ahead(ssl, 1);
    SSL_CTX_set_default_read_buffer_len(ssl, 64 * 1024);
    const unsigned char sid[] = "brokerd";
    SSL_CTX_set_session_id_context(ssl, sid, sizeof(sid) - 1);
    int min, max;
    int rv = load_keystore(ssl, c, err, errlen);
    if (rv == 0) {
        rv = set_client_auth(ssl, c, err, errlen);
    }
    if (rv == 0) {
        rv = set_protocols(ssl, c, &min, &max, err, errlen);
    }
    if (rv == 0) {
        rv = set_ciphers(ssl, c, min, max, err, errlen);
    }
    if (rv == 0) {
        rv = bk_principal_rules_parse(c->principal_mapping_rules, &t->rules,
                                      err, errlen);
    }
    return rv;
}

int bk_tls_ctx_new(const struct bk_tls_config *c,
                   struct bk_tls_ctx **out,
                   char *err,
                   size_t errlen)
{
    struct bk_tls_ctx *t = bk_calloc(1, sizeof(*t));
    if (t == NULL) {
        snprintf(err, errlen, "out of memory");
        return BK_ENOMEM;
    }
    t->ssl = SSL_CTX_new(TLS_server_method());
    if (t->ssl == NULL) {
        bk_free(t);
        snprintf(err, errlen, "cannot create a TLS context");
        return BK_ENOMEM;
    }
    char why[400];
    int rv = configure(t, c, why, sizeof(why));
    if (rv != 0) {
        snprintf(err, errlen, "listener %s: %s", c->listener, why);
        bk_tls_ctx_free(t);
        return rv;
    }
    probe_ktls(t);
    *out = t;
    return 0;
}

void bk_tls_ctx_free(struct bk_tls_ctx *t)
{
    if (t == NULL) {
        return;
    }
    SSL_CTX_free(t->ssl);
    bk_principal_rules_free(t->rules);
    bk_free(t);
}

bool bk_tls_ctx_ktls(const struct bk_tls_ctx *t, const char **why)
{
    *why = t->ktls_why;
    return t->ktls;
}
