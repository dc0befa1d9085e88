/* SCRAM-SHA-256 and SCRAM-SHA-512 (RFC 5802, RFC 7677), server side, as
 * Kafka's ScramSaslServer runs them, with the checks of
 * security-notes.md §4 and §11.
 *
 * Credentials are what the metadata log keeps (salt, iterations,
 * StoredKey, ServerKey), never a password or SaltedPassword. The
 * exchange gives an unknown user a fake credential derived from a server
 * secret, so that it fails at the same step, with the same answer and
 * the same work as a wrong password. */
#ifndef BK_SECURITY_SCRAM_H
#define BK_SECURITY_SCRAM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/err.h"

/* Kafka's ScramMechanism ids (UserScramCredentialRecord.Mechanism). */
enum bk_scram_mech {
    BK_SCRAM_UNKNOWN = 0,
    BK_SCRAM_SHA_256 = 1,
    BK_SCRAM_SHA_512 = 2,
};

/* Kafka's bounds (ScramMechanism minIterations, ScramControlManager). */
#define BK_SCRAM_MIN_ITERATIONS 4096
#define BK_SCRAM_MAX_ITERATIONS 16384
#define BK_SCRAM_MAX_KEY        64  /* SHA-512's digest */
#define BK_SCRAM_MAX_SALT       128 /* longer salts are refused */
#define BK_SCRAM_SECRET_LEN     32

struct bk_scram_cred {
    enum bk_scram_mech mech;
    int32_t iterations;
    size_t salt_len;
    uint8_t salt[BK_SCRAM_MAX_SALT];
    uint8_t stored_key[BK_SCRAM_MAX_KEY]; /* digest length bytes */
    uint8_t server_key[BK_SCRAM_MAX_KEY];
};

/* "SCRAM-SHA-256" for BK_SCRAM_SHA_256 (static), or NULL. */
const char *bk_scram_mech_name(enum bk_scram_mech m);

/* The mechanism called name[0..len) (exact, upper case as Kafka writes
 * it), or BK_SCRAM_UNKNOWN. */
enum bk_scram_mech bk_scram_mech_parse(const char *name, size_t len);

/* Digest length of m's hash (32 or 64), 0 for an unknown mechanism. */
size_t bk_scram_key_len(enum bk_scram_mech m);

/* SaltedPassword = PBKDF2(HMAC-H, password, salt, iterations) into out
 * (bk_scram_key_len bytes). Returns 0 or BK_EINVAL. */
int bk_scram_salted_password(enum bk_scram_mech m,
                             const char *password,
                             size_t password_len,
                             const uint8_t *salt,
                             size_t salt_len,
                             int32_t iterations,
                             uint8_t *out);

/* StoredKey = H(HMAC(SaltedPassword, "Client Key")) and ServerKey =
 * HMAC(SaltedPassword, "Server Key") into cred (its mech set). salted is
 * salted_len bytes (bk_scram_key_len from bk_scram_salted_password; a
 * client's AlterUserScramCredentials may send any length). Returns 0 or
 * BK_EINVAL. */
int bk_scram_keys(struct bk_scram_cred *cred,
                  const uint8_t *salted,
                  size_t salted_len);

/* Finds user's credential for mech: 0 with *out filled, or BK_ENOTFOUND.
 * user is the decoded SCRAM name (borrowed, NUL-terminated). */
typedef int (*bk_scram_lookup_fn)(void *data,
                                  const char *user,
                                  enum bk_scram_mech mech,
                                  struct bk_scram_cred *out);

enum bk_scram_state {
    BK_SCRAM_WANT_CLIENT_FIRST = 0,
    BK_SCRAM_WANT_CLIENT_FINAL,
    BK_SCRAM_DONE,
    BK_SCRAM_FAILED,
};

#define BK_SCRAM_MAX_USER    256
#define BK_SCRAM_MAX_MESSAGE 1024

/* One server-side exchange. Plain data: zero it, set mech, and call
 * bk_scram_server_step for each client message. */
struct bk_scram_server {
    enum bk_scram_mech mech;
    enum bk_scram_state state;
    char user[BK_SCRAM_MAX_USER + 1]; /* decoded user name */
    char gs2[BK_SCRAM_MAX_USER + 8];  /* "n,," or "n,a=<authzid>," */
    char client_first_bare[BK_SCRAM_MAX_MESSAGE];
    char server_first[BK_SCRAM_MAX_MESSAGE];
    char nonce[BK_SCRAM_MAX_MESSAGE]; /* client's nonce + ours */
    struct bk_scram_cred cred;
    bool fake; /* unknown user: cred is the fake one */
};

/* Feeds one client message (borrowed) to s and writes the server's answer
 * into out (cap bytes), *out_len its length. secret (BK_SCRAM_SECRET_LEN
 * bytes) derives the fake credential of unknown users. Returns 0 with the
 * server-first or server-final message, BK_EPROTO for a malformed
 * message, BK_EAUTH for bad credentials (an unknown user included, at the
 * final step), BK_ESTATE after the exchange ended. On failure s is
 * FAILED. */
int bk_scram_server_step(struct bk_scram_server *s,
                         const uint8_t *msg,
                         size_t len,
                         bk_scram_lookup_fn lookup,
                         void *lookup_data,
                         const uint8_t *secret,
                         char *out,
                         size_t cap,
                         size_t *out_len);

/* Wipes s (its keys). */
void bk_scram_server_clear(struct bk_scram_server *s);

#endif /* BK_SECURITY_SCRAM_H */
