/* SASL PLAIN (RFC 4616) as Kafka's PlainSaslServer checks it, against the
 * users of a JAAS entry (user_<name>="<password>", Kafka's
 * PlainServerCallbackHandler). */
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <string.h>

#include "common/heap.h"
#include "security/sasl.h"

int bk_plain_parse(const uint8_t *msg, size_t len, struct bk_plain_msg *out)
{
    const uint8_t *nul1 = memchr(msg, '\0', len);
    if (nul1 == NULL) {
        return BK_EPROTO;
    }
    size_t rest = len - (size_t)(nul1 + 1 - msg);
    const uint8_t *nul2 = memchr(nul1 + 1, '\0', rest);
    if (nul2 == NULL) {
        return BK_EPROTO;
    }
    size_t tail = len - (size_t)(nul2 + 1 - msg);
    if (memchr(nul2 + 1, '\0', tail) != NULL) {
        return BK_EPROTO; /* exactly two NULs */
    }
    out->authzid = (const char *)msg;
    out->authzid_len = (size_t)(nul1 - msg);
    out->authcid = (const char *)nul1 + 1;
    out->authcid_len = (size_t)(nul2 - nul1 - 1);
    out->passwd = (const char *)nul2 + 1;
    out->passwd_len = tail;
    if (out->authcid_len == 0 || out->passwd_len == 0) {
        return BK_EPROTO;
    }
    /* Kafka: "Authentication failed: Client requested an authorization id
     * that is different from username". */
    if (out->authzid_len != 0 &&
        (out->authzid_len != out->authcid_len ||
         memcmp(out->authzid, out->authcid, out->authcid_len) != 0)) {
        return BK_EPROTO;
    }
    return 0;
}

static void digest(const void *p, size_t n, uint8_t out[32])
{
    unsigned int len = 32;
    if (EVP_Digest(p, n, out, &len, EVP_sha256(), NULL) != 1) {
        memset(out, 0, 32);
    }
}

bool bk_plain_check(const struct bk_jaas *users, const struct bk_plain_msg *m)
{
    /* user_<authcid>; a name longer than this cannot be configured
     * anyway, and is compared against nothing (same work). */
    char key[512];
    const char *want = NULL;
    if (m->authcid_len + 6 <= sizeof(key)) {
        memcpy(key, "user_", 5);
        memcpy(key + 5, m->authcid, m->authcid_len);
        key[5 + m->authcid_len] = '\0';
        /* An authcid with a NUL inside cannot happen (parse splits on
         * NUL), so the key is the whole name. */
        want = bk_jaas_get(users, key);
    }
    /* Hash both sides so that the comparison does not depend on where
     * they first differ or on their lengths, and hash something for an
     * unknown user too. */
    uint8_t a[32], b[32];
    const char *w = want != NULL ? want : "\x01unknown user";
    digest(w, strlen(w), a);
    digest(m->passwd, m->passwd_len, b);
    bool same = CRYPTO_memcmp(a, b, sizeof(a)) == 0;
    return same && want != NULL;
}
