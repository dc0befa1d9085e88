/* SASL mechanisms without the Kafka protocol around them: Kafka's JAAS
 * option syntax, PLAIN (RFC 4616), and base64 as SCRAM needs it. The
 * connection's state machine (SaslHandshake, SaslAuthenticate) lives in
 * src/api/sasl*.c; SCRAM is security/scram.h.
 *
 * Nothing here logs: the inputs hold passwords (security-notes.md §11). */
#ifndef BK_SECURITY_SASL_H
#define BK_SECURITY_SASL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/err.h"

/* One option of a JAAS login module: key=value. */
struct bk_jaas_opt {
    char *key;   /* owned */
    char *value; /* owned */
};

/* A parsed sasl.jaas.config: exactly one login module, as Kafka requires
 * of the property form ("<class> <flag> key=value ...;"). */
struct bk_jaas {
    char *module; /* owned: the login module's class name */
    char *flag;   /* owned: required, requisite, sufficient or optional */
    size_t n;
    struct bk_jaas_opt *opts; /* owned array of n */
};

/* Parses text as Kafka's JaasConfig does (Java's StreamTokenizer rules): a
 * class name, a control flag, then options whose values are words or
 * double-quoted strings (with '\' escaping the next character), ended by
 * ';'. Comments (slash-slash, slash-star) are skipped. Returns 0 with *out
 * filled (owned: bk_jaas_free), BK_ECONFIG with one line in err that never
 * shows an option's value (they hold passwords), or BK_ENOMEM. */
int bk_jaas_parse(const char *text,
                  struct bk_jaas *out,
                  char *err,
                  size_t errlen);

void bk_jaas_free(struct bk_jaas *j);

/* The value of option key, or NULL. Borrowed from j. */
const char *bk_jaas_get(const struct bk_jaas *j, const char *key);

/* A PLAIN message split into its parts: views into the message. */
struct bk_plain_msg {
    const char *authzid;
    size_t authzid_len;
    const char *authcid;
    size_t authcid_len;
    const char *passwd;
    size_t passwd_len;
};

/* Splits [authzid] NUL authcid NUL passwd (RFC 4616): exactly two NULs, a
 * non-empty authcid and password, and an authzid that is empty or equal
 * to authcid (Kafka: PlainSaslServer). Returns 0 or BK_EPROTO. msg is
 * borrowed by *out. */
int bk_plain_parse(const uint8_t *msg, size_t len, struct bk_plain_msg *out);

/* Whether m's password is the one the JAAS options give its user
 * (user_<authcid>="<password>"). The comparison takes the same time
 * whether the user exists or not and whatever the lengths: both sides are
 * hashed and the digests compared with CRYPTO_memcmp. */
bool bk_plain_check(const struct bk_jaas *users, const struct bk_plain_msg *m);

/* Standard base64 with padding. bk_b64_encode writes the text and a NUL
 * into out (needs 4 * ceil(len / 3) + 1 bytes) and returns its length.
 * bk_b64_decode accepts only canonical input (length a multiple of 4, '='
 * only as padding, zero bits after the last symbol); returns the bytes
 * written, or BK_EPROTO, or BK_ERANGE when out (cap bytes) is too small. */
size_t bk_b64_encode(const uint8_t *in, size_t len, char *out);
long bk_b64_decode(const char *in, size_t len, uint8_t *out, size_t cap);

#endif /* BK_SECURITY_SASL_H */
