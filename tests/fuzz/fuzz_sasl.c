/* SASL message parsers (src/security/): the first byte picks what the rest
 * is fed to.
 *   'J'  sasl.jaas.config text (bk_jaas_parse), then a lookup;
 *   'P'  a PLAIN message, split and checked against fixed users;
 *   'S'  SCRAM-SHA-256, 's' SCRAM-SHA-512: a client-first message, then
 *        after the first '\n' a client-final one (with "%N" replaced by
 *        the server's nonce, so the fuzzer can reach the proof checks),
 *        against a store holding user "user";
 *   'B'  base64 text decoded, and re-encoded when canonical.
 * Checks: no crash, only the documented results, answers within their
 * buffers, and a SCRAM exchange never completes without the password. */
#include <assert.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "security/sasl.h"
#include "security/scram.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fuzz_jaas(const uint8_t *data, size_t size)
{
    char *text = malloc(size + 1);
    memcpy(text, data, size);
    text[size] = '\0';
    struct bk_jaas j;
    char err[256];
    int rv = bk_jaas_parse(text, &j, err, sizeof(err));
    assert(rv == 0 || rv == BK_ECONFIG);
    if (rv == 0) {
        assert(j.module != NULL && j.flag != NULL);
        (void)bk_jaas_get(&j, "user_alice");
        bk_jaas_free(&j);
    } else {
        assert(j.module == NULL && j.n == 0);
    }
    free(text);
}

static void fuzz_plain(const uint8_t *data, size_t size)
{
    static struct bk_jaas users;
    static int ready;
    if (!ready) {
        char err[64];
        int rv = bk_jaas_parse("M required user_alice=\"pw\";", &users, err,
                               sizeof(err));
        assert(rv == 0);
        ready = 1;
    }
    struct bk_plain_msg m;
    int rv = bk_plain_parse(data, size, &m);
    assert(rv == 0 || rv == BK_EPROTO);
    if (rv == 0) {
        assert(m.authcid_len > 0 && m.passwd_len > 0);
        assert(m.authcid + m.authcid_len <= (const char *)data + size);
        bool ok = bk_plain_check(&users, &m);
        assert(!ok || (m.passwd_len == 2 && memcmp(m.passwd, "pw", 2) == 0));
    }
}

static int lookup(void *data,
                  const char *user,
                  enum bk_scram_mech mech,
                  struct bk_scram_cred *out)
{
    (void)data;
    if (strcmp(user, "user") != 0) {
        return BK_ENOTFOUND;
    }
    memset(out, 0, sizeof(*out));
    out->mech = mech;
    out->iterations = BK_SCRAM_MIN_ITERATIONS;
    out->salt_len = 16;
    memset(out->salt, 0x11, 16);
    /* Keys of some password; the fuzzer cannot know it. */
    memset(out->stored_key, 0x22, sizeof(out->stored_key));
    memset(out->server_key, 0x33, sizeof(out->server_key));
    return 0;
}

static void fuzz_scram(enum bk_scram_mech mech,
                       const uint8_t *data,
                       size_t size)
{
    static const uint8_t secret[BK_SCRAM_SECRET_LEN] = { 9 };
    const uint8_t *nl = memchr(data, '\n', size);
    size_t first_len = nl != NULL ? (size_t)(nl - data) : size;
    struct bk_scram_server s = { .mech = mech };
    char out[BK_SCRAM_MAX_MESSAGE];
    size_t ol = 0;
    int rv = bk_scram_server_step(&s, data, first_len, lookup, NULL, secret,
                                  out, sizeof(out), &ol);
    assert(rv == 0 || rv == BK_EPROTO);
    assert(rv == 0 ? s.state == BK_SCRAM_WANT_CLIENT_FINAL
                   : s.state == BK_SCRAM_FAILED);
    if (rv != 0 || nl == NULL) {
        return;
    }
    assert(ol > 0 && ol < sizeof(out) && memcmp(out, "r=", 2) == 0);
    /* The final message, with %N standing for the full nonce. */
    const uint8_t *p = nl + 1;
    size_t rest = size - first_len - 1;
    char final[4 * BK_SCRAM_MAX_MESSAGE];
    size_t k = 0;
    for (size_t i = 0; i < rest && k + strlen(s.nonce) < sizeof(final); i++) {
        if (p[i] == '%' && i + 1 < rest && p[i + 1] == 'N') {
            memcpy(final + k, s.nonce, strlen(s.nonce));
            k += strlen(s.nonce);
            i++;
        } else {
            final[k++] = (char)p[i];
        }
    }
    rv = bk_scram_server_step(&s, (const uint8_t *) final, k, lookup, NULL,
                              secret, out, sizeof(out), &ol);
    /* Nobody knows the password behind the fixed keys. */
    assert(rv == BK_EPROTO || rv == BK_EAUTH);
    assert(s.state == BK_SCRAM_FAILED);
    bk_scram_server_clear(&s);
}

static void fuzz_b64(const uint8_t *data, size_t size)
{
    uint8_t raw[256];
    long n = bk_b64_decode((const char *)data, size, raw, sizeof(raw));
    assert(n >= 0 || n == BK_EPROTO || n == BK_ERANGE);
    if (n >= 0) {
        char back[4 * (sizeof(raw) + 2) / 3 + 1];
        size_t bl = bk_b64_encode(raw, (size_t)n, back);
        assert(bl == size && memcmp(back, data, size) == 0);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0) {
        return 0;
    }
    switch (data[0]) {
        case 'J':
            fuzz_jaas(data + 1, size - 1);
            break;
        case 'P':
            fuzz_plain(data + 1, size - 1);
            break;
        case 'S':
            fuzz_scram(BK_SCRAM_SHA_256, data + 1, size - 1);
            break;
        case 's':
            fuzz_scram(BK_SCRAM_SHA_512, data + 1, size - 1);
            break;
        case 'B':
            fuzz_b64(data + 1, size - 1);
            break;
        default:
            break;
    }
    return 0;
}
