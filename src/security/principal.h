/* Principals from TLS client certificates, as Kafka builds them
 * (DefaultKafkaPrincipalBuilder with SslPrincipalMapper): the subject's
 * distinguished name in RFC 2253 form as Java's X500Principal.getName()
 * writes it, then `ssl.principal.mapping.rules`, then "User:" in front.
 * The ACL work matches principals as strings, so the text must be Kafka's
 * to the byte (security-notes.md §2, §11). */
#ifndef BK_SECURITY_PRINCIPAL_H
#define BK_SECURITY_PRINCIPAL_H

#include <openssl/x509.h>
#include <stddef.h>

#include "common/err.h"

/* The principal of a connection without a certificate, or on PLAINTEXT. */
#define BK_PRINCIPAL_ANONYMOUS "User:ANONYMOUS"

struct bk_principal_rules;

/* Writes name as Java's X500Principal.getName() (RFC 2253) does: RDNs
 * last to first, the AVAs of a multi-valued RDN joined by '+' in their
 * encoded order, the keywords CN C L ST O OU STREET DC UID and the dotted
 * OID with '#'-hex DER for other attributes, and ",=+<>#;\"\\" plus
 * leading and trailing blanks escaped with '\'. Returns 0, BK_ERANGE when
 * out (outlen bytes) is too small, or BK_EPROTO for an entry that cannot
 * be read. name is borrowed. */
int bk_principal_dn(const X509_NAME *name, char *out, size_t outlen);

/* Parses ssl.principal.mapping.rules: comma-separated rules, each DEFAULT
 * or RULE:pattern/replacement/ with an optional L or U after the last
 * '/' (lower or upper case the result). '\' escapes a '/' (or anything
 * else) in a pattern or replacement; a replacement refers to groups as
 * $1..$9. Patterns are POSIX extended regular expressions that must match
 * the whole DN (Java's Matcher.matches). An empty text means DEFAULT.
 * Returns 0 with *out (owned: bk_principal_rules_free), or BK_ECONFIG with
 * one line in err, or BK_ENOMEM. */
int bk_principal_rules_parse(const char *text,
                             struct bk_principal_rules **out,
                             char *err,
                             size_t errlen);

void bk_principal_rules_free(struct bk_principal_rules *r);

/* Maps dn through the rules, the first that applies winning, and writes
 * "User:<name>" into out. Returns 0, BK_ENOTFOUND when no rule applies
 * (Kafka fails the connection's authentication then), or BK_ERANGE. */
int bk_principal_map(const struct bk_principal_rules *r,
                     const char *dn,
                     char *out,
                     size_t outlen);

#endif /* BK_SECURITY_PRINCIPAL_H */
