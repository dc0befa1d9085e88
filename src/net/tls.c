/* One TLS session on a client connection's non-blocking socket.
 *
 * Happy path: the first reads run the server side of the handshake; once
 * it completes, the principal is taken from the client certificate (or
 * is User:ANONYMOUS) and reads and writes carry records. A call that
 * would block returns BK_EAGAIN and says whether it waits for the socket
 * to be readable or writable, which is not always the call's own
 * direction (a read may have handshake bytes to send).
 *
 * Failure modes: a failed handshake (a plaintext Kafka request on the SSL
 * port, an untrusted or missing client certificate, no common protocol or
 * cipher), a bad record, or a DN no mapping rule applies to returns
 * BK_EPROTO and the connection is closed; bk_tls_error says why. */
#include <errno.h>
#include <openssl/err.h>
#include <stdio.h>
#include <string.h>

#include "common/err.h"
#include "common/heap.h"
#include "net/tls_int.h"

struct bk_tls {
    SSL *ssl; /* owned */
    struct bk_tls_ctx *ctx;
    bool established;
    bool want_write;
    bool ktls_send;
    char principal[512];
    char error[300];
};

struct bk_tls *bk_tls_new(struct bk_tls_ctx *ctx, int fd)
{
    struct bk_tls *t = bk_calloc(1, sizeof(*t));
    if (t == NULL) {
        return NULL;
    }
    t->ctx = ctx;
    t->ssl = SSL_new(ctx->ssl);
    if (t->ssl == NULL || SSL_set_fd(t->ssl, fd) != 1) {
        ERR_clear_error();
        SSL_free(t->ssl);
        bk_free(t);
        return NULL;
    }
    SSL_set_accept_state(t->ssl);
    snprintf(t->principal, sizeof(t->principal), "%s", BK_PRINCIPAL_ANONYMOUS);
    return t;
}

void bk_tls_free(struct bk_tls *t)
{
    if (t != NULL) {
        SSL_free(t->ssl);
        bk_free(t);
    }
}

/* The principal as Kafka's DefaultKafkaPrincipalBuilder makes it for SSL:
 * the mapped subject DN of a client certificate, else ANONYMOUS. */
static int take_principal(struct bk_tls *t)
{
    X509 *peer = SSL_get1_peer_certificate(t->ssl);
    if (peer == NULL) {
        return 0;
    }
    char dn[400];
    int rv = bk_principal_dn(X509_get_subject_name(peer), dn, sizeof(dn));
    X509_free(peer);
    if (rv == 0) {
        rv = bk_principal_map(t->ctx->rules, dn, t->principal,
                              sizeof(t->principal));
    }
    if (rv != 0) {
        snprintf(t->error, sizeof(t->error),
                 "no principal for the client certificate '%.120s': %.60s", dn,
                 rv == BK_ENOTFOUND ? "no ssl.principal.mapping.rules rule "
                                      "applies"
                                    : bk_strerror(rv));
        return BK_EPROTO;
    }
    return 0;
}

/* Notices the end of the handshake (it may end inside a read that then
 * waits for data). */
static int check_established(struct bk_tls *t)
{
    if (t->established || !SSL_is_init_finished(t->ssl)) {
        return 0;
    }
    t->established = true;
    t->ktls_send = BIO_get_ktls_send(SSL_get_wbio(t->ssl)) != 0;
    return take_principal(t);
}

/* Maps the result of an SSL call that returned ok == 0. */
static ssize_t failed(struct bk_tls *t, int ok)
{
    int e = SSL_get_error(t->ssl, ok);
    switch (e) {
        case SSL_ERROR_WANT_READ:
            t->want_write = false;
            return BK_EAGAIN;
        case SSL_ERROR_WANT_WRITE:
            t->want_write = true;
            return BK_EAGAIN;
        case SSL_ERROR_ZERO_RETURN:
            return 0;
        case SSL_ERROR_SYSCALL:
            if (errno == EAGAIN) {
                t->want_write = false;
                return BK_EAGAIN;
            }
            snprintf(t->error, sizeof(t->error), "%s",
                     errno != 0 ? strerror(errno) : "connection closed");
            ERR_clear_error();
            return errno != 0 ? BK_EIO : 0;
        default: {
            unsigned long code = ERR_peek_error();
            const char *r = ERR_reason_error_string(code);
            snprintf(t->error, sizeof(t->error), "%s%s",
                     t->established ? "" : "TLS handshake failed: ",
                     r != NULL ? r : "protocol error");
            ERR_clear_error();
            return BK_EPROTO;
        }
    }
}

ssize_t bk_tls_read(struct bk_tls *t, void *buf, size_t len)
{
    size_t n = 0;
    ERR_clear_error();
    errno = 0;
    int ok = SSL_read_ex(t->ssl, buf, len, &n);
    int rv = check_established(t);
    if (rv != 0) {
        return rv;
    }
    return ok == 1 ? (ssize_t)n : failed(t, 0);
}

ssize_t bk_tls_write(struct bk_tls *t, const void *buf, size_t len)
{
    size_t n = 0;
    ERR_clear_error();
    errno = 0;
    int ok = SSL_write_ex(t->ssl, buf, len, &n);
    int rv = check_established(t);
    if (rv != 0) {
        return rv;
    }
    return ok == 1 ? (ssize_t)n : failed(t, 0);
}

bool bk_tls_can_sendfile(const struct bk_tls *t)
{
    return t->ktls_send;
}

ssize_t bk_tls_sendfile(struct bk_tls *t, int fd, off_t off, size_t len)
{
    ERR_clear_error();
    errno = 0;
    ossl_ssize_t n = SSL_sendfile(t->ssl, fd, off, len, 0);
    return n >= 0 ? (ssize_t)n : failed(t, -1);
}

bool bk_tls_wants_write(const struct bk_tls *t)
{
    return t->want_write;
}

bool bk_tls_pending(const struct bk_tls *t)
{
    return SSL_has_pending(t->ssl) == 1;
}

bool bk_tls_established(const struct bk_tls *t)
{
    return t->established;
}

const char *bk_tls_principal(const struct bk_tls *t)
{
    return t->principal;
}

const char *bk_tls_version(const struct bk_tls *t)
{
    return SSL_get_version(t->ssl);
}

const char *bk_tls_error(const struct bk_tls *t)
{
    return t->error[0] != '\0' ? t->error : "unknown error";
}
