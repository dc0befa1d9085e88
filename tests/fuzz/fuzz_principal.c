/* Principals from client certificates (src/security/): the subject DN,
 * decoded from DER as a client's certificate brings it, written in Kafka's
 * RFC 2253 form and mapped through a set of rules; or, when the input
 * starts with 'R', the rest parsed as ssl.principal.mapping.rules and
 * applied to a fixed DN. Checks: no crash, BK_ERANGE only when the
 * buffer is small, and every mapped principal starts with "User:". */
#include <assert.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "security/principal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void map_all(const struct bk_principal_rules *r, const char *dn)
{
    char out[512];
    int rv = bk_principal_map(r, dn, out, sizeof(out));
    assert(rv == 0 || rv == BK_ENOTFOUND || rv == BK_ERANGE);
    assert(rv != 0 || strncmp(out, "User:", 5) == 0);
}

static void fuzz_rules(const uint8_t *data, size_t size)
{
    char *text = malloc(size + 1);
    memcpy(text, data, size);
    text[size] = '\0';
    struct bk_principal_rules *r = NULL;
    char err[256];
    if (bk_principal_rules_parse(text, &r, err, sizeof(err)) == 0) {
        map_all(r, "CN=client,OU=test,O=x,C=US");
        map_all(r, "");
        bk_principal_rules_free(r);
    }
    free(text);
}

static void fuzz_dn(const uint8_t *data, size_t size)
{
    const unsigned char *p = data;
    X509_NAME *name = d2i_X509_NAME(NULL, &p, (long)size);
    if (name == NULL) {
        return;
    }
    char dn[2048], small[12];
    int rv = bk_principal_dn(name, dn, sizeof(dn));
    assert(rv == 0 || rv == BK_ERANGE || rv == BK_EPROTO);
    int rs = bk_principal_dn(name, small, sizeof(small));
    assert(rs == 0 || rs == BK_ERANGE || rs == BK_EPROTO);
    if (rv == 0) {
        assert(strlen(dn) < sizeof(dn));
        struct bk_principal_rules *r = NULL;
        char err[256];
        int pr = bk_principal_rules_parse(
            "RULE:^CN=([^,]*),(.*)$/$1@$2/L,RULE:^(.*)=(.*)$/$2/U,DEFAULT", &r,
            err, sizeof(err));
        assert(pr == 0);
        map_all(r, dn);
        bk_principal_rules_free(r);
    }
    X509_NAME_free(name);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 0 && data[0] == 'R') {
        fuzz_rules(data + 1, size - 1);
    } else {
        fuzz_dn(data, size);
    }
    return 0;
}
