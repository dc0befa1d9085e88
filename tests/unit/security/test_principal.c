/* Principals from certificates: the RFC 2253 DN as Java's
 * X500Principal.getName() writes it (expected strings produced by
 * OpenJDK 17 from the same names), and ssl.principal.mapping.rules. */
/* cmocka.h needs these headers first. */
/* clang-format off */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
/* clang-format on */
#include <string.h>

#include "security/principal.h"

/* Adds one AVA; set -1 joins the previous RDN (multi-valued). */
static void add(X509_NAME *n,
                const char *field,
                int type,
                const char *v,
                int set)
{
    assert_int_equal(X509_NAME_add_entry_by_txt(
                         n, field, type, (const unsigned char *)v, -1, -1, set),
                     1);
}

static void expect_dn(X509_NAME *n, const char *want)
{
    char dn[512];
    assert_int_equal(bk_principal_dn(n, dn, sizeof(dn)), 0);
    assert_string_equal(dn, want);
    X509_NAME_free(n);
}

static void test_dn_order_and_keywords(void **state)
{
    (void)state;
    /* Encoded most general first; written most specific first. */
    X509_NAME *n = X509_NAME_new();
    add(n, "O", MBSTRING_ASC, "x", 0);
    add(n, "OU", MBSTRING_ASC, "test", 0);
    add(n, "CN", MBSTRING_ASC, "client", 0);
    expect_dn(n, "CN=client,OU=test,O=x");

    n = X509_NAME_new();
    add(n, "UID", MBSTRING_ASC, "u", 0);
    add(n, "DC", V_ASN1_IA5STRING, "com", 0);
    add(n, "street", MBSTRING_ASC, "st", 0);
    add(n, "L", MBSTRING_ASC, "l", 0);
    add(n, "ST", MBSTRING_ASC, "s", 0);
    add(n, "C", MBSTRING_ASC, "US", 0);
    add(n, "emailAddress", MBSTRING_ASC, "a@b", 0);
    add(n, "serialNumber", V_ASN1_PRINTABLESTRING, "5", 0);
    add(n, "title", V_ASN1_PRINTABLESTRING, "t", 0);
    add(n, "CN", MBSTRING_ASC, "x", 0);
    /* Attributes without an RFC 2253 keyword: OID and DER in hex. */
    expect_dn(n,
              "CN=x,2.5.4.12=#130174,2.5.4.5=#130135,"
              "1.2.840.113549.1.9.1=#1603614062,C=US,ST=s,L=l,STREET=st,"
              "DC=com,UID=u");
}

static void test_dn_escapes(void **state)
{
    (void)state;
    X509_NAME *n = X509_NAME_new();
    add(n, "O", MBSTRING_ASC, "x", 0);
    add(n, "CN", MBSTRING_ASC, "a=b,c+d<e>f#g;h\"i\\j", 0);
    expect_dn(n, "CN=a\\=b\\,c\\+d\\<e\\>f\\#g\\;h\\\"i\\\\j,O=x");

    n = X509_NAME_new();
    add(n, "O", MBSTRING_ASC, "#x", 0);
    add(n, "CN", MBSTRING_ASC, " lead and trail ", 0);
    expect_dn(n, "CN=\\ lead and trail\\ ,O=\\#x");

    /* UTF-8 stays as it is. */
    n = X509_NAME_new();
    add(n, "O", MBSTRING_UTF8, "\xc3\xa9", 0);
    add(n, "CN", MBSTRING_UTF8, "J\xc3\xbcrgen", 0);
    expect_dn(n, "CN=J\xc3\xbcrgen,O=\xc3\xa9");
}

static void test_dn_multi_valued_rdn(void **state)
{
    (void)state;
    X509_NAME *n = X509_NAME_new();
    add(n, "O", MBSTRING_ASC, "o", 0);
    add(n, "OU", MBSTRING_ASC, "u1", 0);
    add(n, "CN", MBSTRING_ASC, "c1", -1);
    /* The RDN comes first, its AVAs keep their encoded order. */
    expect_dn(n, "OU=u1+CN=c1,O=o");
}

static void test_dn_too_small(void **state)
{
    (void)state;
    X509_NAME *n = X509_NAME_new();
    add(n, "CN", MBSTRING_ASC, "a-long-common-name", 0);
    char dn[8];
    assert_int_equal(bk_principal_dn(n, dn, sizeof(dn)), BK_ERANGE);
    X509_NAME_free(n);
}

static void expect_map(const char *rules, const char *dn, const char *want)
{
    struct bk_principal_rules *r;
    char err[256], out[256];
    assert_int_equal(bk_principal_rules_parse(rules, &r, err, sizeof(err)), 0);
    int rv = bk_principal_map(r, dn, out, sizeof(out));
    if (want == NULL) {
        assert_int_equal(rv, BK_ENOTFOUND);
    } else {
        assert_int_equal(rv, 0);
        assert_string_equal(out, want);
    }
    bk_principal_rules_free(r);
}

static void test_rules_kafka_examples(void **state)
{
    (void)state;
    const char *dn = "CN=kafka-client,OU=ServiceUsers,O=Acme,C=US";
    expect_map("", dn, "User:CN=kafka-client,OU=ServiceUsers,O=Acme,C=US");
    expect_map("DEFAULT", dn,
               "User:CN=kafka-client,OU=ServiceUsers,O=Acme,C=US");
    /* Kafka's documentation examples (KIP-371). */
    expect_map("RULE:^CN=(.*?),OU=ServiceUsers.*$/$1/,DEFAULT", dn,
               "User:kafka-client");
    expect_map(
        "RULE:^CN=(.*?),OU=(.*?),O=(.*?),L=(.*?),ST=(.*?),C=(.*?)$/"
        "$1@$2/L,DEFAULT",
        "CN=Adam,OU=Eng,O=Acme,L=Paris,ST=IdF,C=FR", "User:adam@eng");
    expect_map("RULE:^.*[Cc][Nn]=([a-zA-Z0-9.]*).*$/$1/U", dn, "User:KAFKA");
    /* The first rule that matches wins; a rule that does not match the
     * whole DN does not apply. */
    expect_map("RULE:^OU=(.*)$/$1/, RULE:^CN=([^,]*),.*$/cn-$1/,DEFAULT", dn,
               "User:cn-kafka-client");
    expect_map("RULE:CN=([^,]*)/$1/", dn, NULL);
    /* Escaped slashes in pattern and replacement. */
    expect_map("RULE:^CN=a\\/b,(.*)$/x\\/$1/", "CN=a/b,O=o", "User:x/O=o");
    expect_map("RULE:^CN=([^,]*).*$/$1/", "O=o", NULL);
    /* A lazy '?' (greedy here), bounds, and quantifier characters inside
     * brackets or escaped are fine. */
    expect_map("RULE:^CN=(a{1,3}?)[+*?]\\+.*$/$1/", "CN=aa*+,O=o", "User:aa");
}

static void test_rules_invalid(void **state)
{
    (void)state;
    const char *bad[] = { "RULE:^CN=(.*)$",
                          "RULE:^CN=(.*$/$1/",
                          "NOPE",
                          "DEFAULT x",
                          "RULE:^CN=a++$/x/",
                          "RULE:^CN=(.*)*+$/x/",
                          "RULE:^CN=a{2}{3}$/x/",
                          "RULE:^CN=.*??$/x/" };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct bk_principal_rules *r = NULL;
        char err[256] = "";
        assert_int_equal(bk_principal_rules_parse(bad[i], &r, err, sizeof(err)),
                         BK_ECONFIG);
        assert_non_null(strstr(err, "ssl.principal.mapping.rules"));
        assert_null(r);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_dn_order_and_keywords),
        cmocka_unit_test(test_dn_escapes),
        cmocka_unit_test(test_dn_multi_valued_rdn),
        cmocka_unit_test(test_dn_too_small),
        cmocka_unit_test(test_rules_kafka_examples),
        cmocka_unit_test(test_rules_invalid),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
