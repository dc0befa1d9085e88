/* SCRAM: the key math against RFC 7677's SCRAM-SHA-256 example, and the
 * server exchange driven by a client written here from RFC 5802. */
/* cmocka.h needs these headers first. */
/* clang-format off */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
/* clang-format on */
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdio.h>
#include <string.h>

#include "security/sasl.h"
#include "security/scram.h"

/* RFC 7677 section 3. */
#define RFC_SALT   "W22ZaJ0SNY7soEsUEjb6gQ=="
#define RFC_CFIRST "n,,n=user,r=rOprNGfwEbeRWgbNEkqO"
#define RFC_SFIRST                                          \
    "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0," \
    "s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096"
#define RFC_CFINAL_NP \
    "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0"
#define RFC_PROOF    "dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ="
#define RFC_VERIFIER "6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4="

static const EVP_MD *md(enum bk_scram_mech m)
{
    return m == BK_SCRAM_SHA_256 ? EVP_sha256() : EVP_sha512();
}

/* ClientProof = ClientKey XOR HMAC(H(ClientKey), AuthMessage), as a
 * client computes it. */
static void client_proof(enum bk_scram_mech m,
                         const uint8_t *salted,
                         const char *auth,
                         uint8_t *proof)
{
    size_t n = bk_scram_key_len(m);
    uint8_t ck[64], sk[64], sig[64];
    unsigned int l = 0;
    HMAC(md(m), salted, (int)n, (const uint8_t *)"Client Key", 10, ck, &l);
    EVP_Digest(ck, n, sk, &l, md(m), NULL);
    HMAC(md(m), sk, (int)n, (const uint8_t *)auth, strlen(auth), sig, &l);
    for (size_t i = 0; i < n; i++) {
        proof[i] = ck[i] ^ sig[i];
    }
}

static void test_rfc7677_math(void **state)
{
    (void)state;
    uint8_t salt[32], salted[32], proof[32], vsig[32];
    long sl = bk_b64_decode(RFC_SALT, strlen(RFC_SALT), salt, sizeof(salt));
    assert_int_equal(sl, 16);
    assert_int_equal(bk_scram_salted_password(BK_SCRAM_SHA_256, "pencil", 6,
                                              salt, (size_t)sl, 4096, salted),
                     0);
    struct bk_scram_cred cred = { .mech = BK_SCRAM_SHA_256 };
    assert_int_equal(bk_scram_keys(&cred, salted, sizeof(salted)), 0);
    const char *auth =
        "n=user,r=rOprNGfwEbeRWgbNEkqO," RFC_SFIRST "," RFC_CFINAL_NP;
    char text[64];
    client_proof(BK_SCRAM_SHA_256, salted, auth, proof);
    bk_b64_encode(proof, 32, text);
    assert_string_equal(text, RFC_PROOF);
    unsigned int l = 0;
    HMAC(EVP_sha256(), cred.server_key, 32, (const uint8_t *)auth, strlen(auth),
         vsig, &l);
    bk_b64_encode(vsig, 32, text);
    assert_string_equal(text, RFC_VERIFIER);
}

/* A store of one credential: user "user" with password "pencil". */
struct store {
    struct bk_scram_cred cred[2];
    int lookups;
};

static int lookup(void *data,
                  const char *user,
                  enum bk_scram_mech mech,
                  struct bk_scram_cred *out)
{
    struct store *st = data;
    st->lookups++;
    if (strcmp(user, "us,e=r") != 0) {
        return BK_ENOTFOUND;
    }
    *out = st->cred[mech - 1];
    return 0;
}

static void make_store(struct store *st, int32_t iterations)
{
    memset(st, 0, sizeof(*st));
    for (int m = 1; m <= 2; m++) {
        struct bk_scram_cred *c = &st->cred[m - 1];
        uint8_t salted[64];
        c->mech = (enum bk_scram_mech)m;
        c->iterations = iterations;
        c->salt_len = 20;
        memset(c->salt, 0x5a, 20);
        assert_int_equal(bk_scram_salted_password(c->mech, "pencil", 6, c->salt,
                                                  20, iterations, salted),
                         0);
        assert_int_equal(bk_scram_keys(c, salted, bk_scram_key_len(c->mech)),
                         0);
    }
}

static const uint8_t secret[BK_SCRAM_SECRET_LEN] = { 1, 2, 3 };

static int step(struct bk_scram_server *s,
                struct store *st,
                const char *msg,
                char *out,
                size_t *out_len)
{
    return bk_scram_server_step(s, (const uint8_t *)msg, strlen(msg), lookup,
                                st, secret, out, 2048, out_len);
}

/* Runs a client against the server: first, then final with password pw
 * and an optional mangling of the final message. Returns the final step's
 * result; *server_first gets the server's first answer. */
static int exchange(enum bk_scram_mech m,
                    struct store *st,
                    const char *first,
                    const char *pw,
                    const char *cbind,
                    const char *nonce_suffix,
                    char *server_first)
{
    struct bk_scram_server s = { .mech = m };
    char out[2048];
    size_t ol = 0;
    int rv = step(&s, st, first, out, &ol);
    if (rv != 0) {
        return rv;
    }
    out[ol] = '\0';
    strcpy(server_first, out);
    /* r=<nonce>,s=<salt>,i=<n> */
    char nonce[1024], salt_b64[256];
    int iters = 0;
    assert_int_equal(
        sscanf(out, "r=%1023[^,],s=%255[^,],i=%d", nonce, salt_b64, &iters), 3);
    uint8_t salt[256], salted[64], proof[64];
    long sl = bk_b64_decode(salt_b64, strlen(salt_b64), salt, sizeof(salt));
    assert_true(sl > 0);
    bk_scram_salted_password(m, pw, strlen(pw), salt, (size_t)sl, iters,
                             salted);
    char final_np[1200], auth[4096], final[1400], p64[128];
    snprintf(final_np, sizeof(final_np), "c=%s,r=%s%s", cbind, nonce,
             nonce_suffix);
    const char *bare = strstr(first, "n=");
    snprintf(auth, sizeof(auth), "%s,%s,%s", bare, out, final_np);
    client_proof(m, salted, auth, proof);
    bk_b64_encode(proof, bk_scram_key_len(m), p64);
    snprintf(final, sizeof(final), "%s,p=%s", final_np, p64);
    rv = step(&s, st, final, out, &ol);
    if (rv == 0) {
        /* The server's signature proves it holds ServerKey. */
        uint8_t sig[64];
        unsigned int l = 0;
        HMAC(md(m), st->cred[m - 1].server_key, (int)bk_scram_key_len(m),
             (const uint8_t *)auth, strlen(auth), sig, &l);
        char v[128] = "v=";
        bk_b64_encode(sig, l, v + 2);
        assert_int_equal(ol, strlen(v));
        assert_memory_equal(out, v, ol);
        assert_int_equal(s.state, BK_SCRAM_DONE);
        /* Nothing more is taken. */
        assert_int_equal(step(&s, st, "x", out, &ol), BK_ESTATE);
    }
    return rv;
}

static void test_exchange(void **state)
{
    (void)state;
    struct store st;
    make_store(&st, 4096);
    char sf[2048];
    for (int m = 1; m <= 2; m++) {
        enum bk_scram_mech mech = (enum bk_scram_mech)m;
        assert_int_equal(exchange(mech, &st, "n,,n=us=2Ce=3Dr,r=abc", "pencil",
                                  "biws", "", sf),
                         0);
        /* An authzid equal to the user; c= must then carry it. */
        assert_int_equal(exchange(mech, &st, "n,a=us=2Ce=3Dr,n=us=2Ce=3Dr,r=x",
                                  "pencil", "bixhPXVzPTJDZT0zRHIs", "", sf),
                         0);
        assert_int_equal(exchange(mech, &st, "n,a=us=2Ce=3Dr,n=us=2Ce=3Dr,r=x",
                                  "pencil", "biws", "", sf),
                         BK_EAUTH);
        assert_int_equal(exchange(mech, &st, "n,,n=us=2Ce=3Dr,r=abc", "pencil2",
                                  "biws", "", sf),
                         BK_EAUTH);
        /* The nonce must be exactly ours. */
        assert_int_equal(exchange(mech, &st, "n,,n=us=2Ce=3Dr,r=abc", "pencil",
                                  "biws", "x", sf),
                         BK_EAUTH);
        /* Extensions are ignored, tokenauth is refused. */
        assert_int_equal(exchange(mech, &st, "n,,n=us=2Ce=3Dr,r=abc,foo=bar",
                                  "pencil", "biws", "", sf),
                         0);
        assert_int_equal(
            exchange(mech, &st, "n,,n=us=2Ce=3Dr,r=abc,tokenauth=true",
                     "pencil", "biws", "", sf),
            BK_EPROTO);
    }
}

static void test_unknown_user_like_wrong_password(void **state)
{
    (void)state;
    struct store st;
    make_store(&st, 4096);
    char sf1[2048], sf2[2048], sf3[2048];
    assert_int_equal(exchange(BK_SCRAM_SHA_512, &st, "n,,n=nobody,r=abc",
                              "pencil", "biws", "", sf1),
                     BK_EAUTH);
    assert_int_equal(exchange(BK_SCRAM_SHA_512, &st, "n,,n=nobody,r=abc",
                              "pencil", "biws", "", sf2),
                     BK_EAUTH);
    /* The fake salt is stable per user and looks like a real answer. */
    assert_string_equal(strstr(sf1, ",s="), strstr(sf2, ",s="));
    assert_non_null(strstr(sf1, ",i=4096"));
    assert_int_equal(exchange(BK_SCRAM_SHA_512, &st, "n,,n=other,r=abc",
                              "pencil", "biws", "", sf3),
                     BK_EAUTH);
    assert_string_not_equal(strstr(sf1, ",s="), strstr(sf3, ",s="));
}

static void test_iteration_bounds(void **state)
{
    (void)state;
    struct store st;
    char sf[2048];
    make_store(&st, 4095);
    assert_int_equal(exchange(BK_SCRAM_SHA_256, &st, "n,,n=us=2Ce=3Dr,r=a",
                              "pencil", "biws", "", sf),
                     BK_EAUTH);
    make_store(&st, 16385);
    assert_int_equal(exchange(BK_SCRAM_SHA_256, &st, "n,,n=us=2Ce=3Dr,r=a",
                              "pencil", "biws", "", sf),
                     BK_EAUTH);
}

static void test_malformed(void **state)
{
    (void)state;
    struct store st;
    make_store(&st, 4096);
    const char *bad_first[] = {
        "",
        "y,,n=user,r=abc", /* channel binding flags */
        "p=tls-unique,,n=user,r=abc",
        "n,,n=,r=abc",       /* empty name */
        "n,,n=us=2Xr,r=abc", /* bad escape */
        "n,,n=us,er,r=abc",
        "n,,r=abc,n=user", /* order */
        "n,,n=user,r=",    /* empty nonce */
        "n,,n=user,r=a b", /* not printable */
        "n,,n=user",
        "n,a=other,n=user,r=abc", /* authzid not the user */
        "n,,m=ext,n=user,r=abc",  /* mandatory extension */
        "n,,n=user,r=abc,=x",
    };
    for (size_t i = 0; i < sizeof(bad_first) / sizeof(bad_first[0]); i++) {
        struct bk_scram_server s = { .mech = BK_SCRAM_SHA_256 };
        char out[2048];
        size_t ol;
        assert_int_equal(step(&s, &st, bad_first[i], out, &ol), BK_EPROTO);
        assert_int_equal(s.state, BK_SCRAM_FAILED);
    }
    const char *bad_final[] = {
        "r=NONCE,c=biws,p=AAAA",     /* order */
        "c=biws,r=NONCE",            /* no proof */
        "c=biws,r=NONCE,p=AA*A",     /* base64 */
        "c=biws,r=NONCE,p=AAAA,x=1", /* after the proof */
    };
    for (size_t i = 0; i < sizeof(bad_final) / sizeof(bad_final[0]); i++) {
        struct bk_scram_server s = { .mech = BK_SCRAM_SHA_256 };
        char out[2048], nonce[1024], msg[2048];
        size_t ol;
        assert_int_equal(step(&s, &st, "n,,n=user,r=abc", out, &ol), 0);
        out[ol] = '\0';
        assert_int_equal(sscanf(out, "r=%1023[^,]", nonce), 1);
        const char *p = strstr(bad_final[i], "NONCE");
        snprintf(msg, sizeof(msg), "%.*s%s%s", (int)(p - bad_final[i]),
                 bad_final[i], nonce, p + 5);
        assert_int_equal(step(&s, &st, msg, out, &ol), BK_EPROTO);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rfc7677_math),
        cmocka_unit_test(test_exchange),
        cmocka_unit_test(test_unknown_user_like_wrong_password),
        cmocka_unit_test(test_iteration_bounds),
        cmocka_unit_test(test_malformed),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
