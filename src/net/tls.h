/* TLS on client connections (SSL listeners), with OpenSSL 3.
 *
 * One bk_tls_ctx per SSL listener (an SSL_CTX with its keystore,
 * truststore, protocols and ciphers, and the principal mapping rules),
 * shared read-only by every shard; one bk_tls per connection, driven on the
 * connection's shard over its non-blocking socket. The handshake runs
 * inside the first reads (the server side never starts a renegotiation).
 * Reads and writes say when they would block and on which direction, so
 * conn.c polls for that. File ranges of a Fetch go out with SSL_sendfile
 * when the kernel took the keys (kTLS), and are read and encrypted
 * otherwise. */
#ifndef BK_NET_TLS_H
#define BK_NET_TLS_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

/* A listener's TLS settings, Kafka's names (all borrowed strings; "" for
 * unset). Only PEM stores are supported. */
struct bk_tls_config {
    const char *listener; /* for messages */
    const char *keystore_type;
    const char *keystore_location;
    const char *keystore_key;
    const char *keystore_certificate_chain;
    const char *key_password;
    const char *truststore_type;
    const char *truststore_location;
    const char *truststore_certificates;
    const char *client_auth; /* none, requested, required */
    const char *enabled_protocols;
    const char *cipher_suites;
    const char *principal_mapping_rules;
};

struct bk_tls_ctx;
struct bk_tls;

/* Builds a listener's context: loads and checks the key and certificates.
 * Returns 0 with *out (owned: bk_tls_ctx_free), or BK_ECONFIG with one
 * line in err naming the setting and why ("ssl.keystore.location: cannot
 * read /x.pem: No such file or directory"). */
int bk_tls_ctx_new(const struct bk_tls_config *cfg,
                   struct bk_tls_ctx **out,
                   char *err,
                   size_t errlen);
void bk_tls_ctx_free(struct bk_tls_ctx *ctx);

/* Whether connections of ctx can send file ranges with kTLS (OpenSSL
 * built with it and the kernel's tls module present); why says which
 * part is missing when not. */
bool bk_tls_ctx_ktls(const struct bk_tls_ctx *ctx, const char **why);

/* A server-side TLS session on the connected non-blocking socket fd
 * (borrowed). Returns NULL when out of memory. */
struct bk_tls *bk_tls_new(struct bk_tls_ctx *ctx, int fd);
void bk_tls_free(struct bk_tls *t);

/* Like read(2): decrypted bytes (> 0), 0 at the peer's close, or a
 * negative BK_E* code: BK_EAGAIN when it would block (see
 * bk_tls_wants_write), BK_EPROTO for a failed handshake or a bad record
 * (bk_tls_error says why). */
ssize_t bk_tls_read(struct bk_tls *t, void *buf, size_t len);

/* Writes all of buf[0..len) or nothing yet: len, BK_EAGAIN (call again
 * with the same buf and len once the socket allows), or a BK_E* code. */
ssize_t bk_tls_write(struct bk_tls *t, const void *buf, size_t len);

/* Whether file ranges may go through bk_tls_sendfile on this session
 * (kTLS send is on). */
bool bk_tls_can_sendfile(const struct bk_tls *t);

/* Sends len bytes of fd from off with SSL_sendfile: bytes sent (> 0),
 * BK_EAGAIN, or a BK_E* code. */
ssize_t bk_tls_sendfile(struct bk_tls *t, int fd, off_t off, size_t len);

/* Whether the last BK_EAGAIN waits for the socket to be writable (else
 * readable). */
bool bk_tls_wants_write(const struct bk_tls *t);

/* Whether decrypted or undecrypted bytes wait inside the session, which
 * polling the socket would not show. */
bool bk_tls_pending(const struct bk_tls *t);

/* Whether the handshake has completed. */
bool bk_tls_established(const struct bk_tls *t);

/* The connection's principal once established: "User:<mapped DN>" or
 * User:ANONYMOUS without a client certificate. Borrowed. */
const char *bk_tls_principal(const struct bk_tls *t);

/* The protocol version in use ("TLSv1.3"); static. */
const char *bk_tls_version(const struct bk_tls *t);

/* Why the last call failed, one line; borrowed. */
const char *bk_tls_error(const struct bk_tls *t);

#endif /* BK_NET_TLS_H */
