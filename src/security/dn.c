/* Subject DNs in the RFC 2253 form of Java's X500Principal.getName().
 *
 * OpenSSL's X509_NAME_print_ex(XN_FLAG_RFC2253) is close but not Kafka's:
 * it names emailAddress and serialNumber by OpenSSL's short names where
 * Java writes the dotted OID and the value's DER in hex, it escapes UTF-8
 * bytes, and it reverses the AVAs inside a multi-valued RDN. A principal
 * that differs by one byte matches no ACL, so the form is built here, as
 * OpenJDK's AVA.toRFC2253String and RDN.toRFC2253String write it. */
#include <openssl/asn1.h>
#include <openssl/objects.h>
#include <string.h>

#include "security/principal.h"

/* An output cursor that fails once full. */
struct out {
    char *p;
    size_t len, cap;
    bool full;
};

static void put(struct out *o, const char *s, size_t n)
{
    if (o->full || o->len + n >= o->cap) {
        o->full = true;
        return;
    }
    memcpy(o->p + o->len, s, n);
    o->len += n;
    o->p[o->len] = '\0';
}

static void putc1(struct out *o, char c)
{
    put(o, &c, 1);
}

/* Java's keywords for RFC 2253 output (AVAKeyword with rfc2253
 * compliance); every other attribute is written as its OID. */
static const char *keyword(int nid)
{
    switch (nid) {
        case NID_commonName:
            return "CN";
        case NID_countryName:
            return "C";
        case NID_localityName:
            return "L";
        case NID_stateOrProvinceName:
            return "ST";
        case NID_organizationName:
            return "O";
        case NID_organizationalUnitName:
            return "OU";
        case NID_streetAddress:
            return "STREET";
        case NID_domainComponent:
            return "DC";
        case NID_userId:
            return "UID";
        default:
            return NULL;
    }
}

/* The string types Java writes as text (AVA.isDerString, not canonical). */
static bool is_text_type(int type)
{
    return type == V_ASN1_PRINTABLESTRING || type == V_ASN1_T61STRING ||
           type == V_ASN1_IA5STRING || type == V_ASN1_GENERALSTRING ||
           type == V_ASN1_UTF8STRING || type == V_ASN1_BMPSTRING;
}

/* '#' and the value's DER (tag, length, contents) in lower-case hex. */
static void put_hex_der(struct out *o, const ASN1_STRING *v)
{
    static const char hex[] = "0123456789abcdef";
    int len = ASN1_STRING_length(v);
    const unsigned char *d = ASN1_STRING_get0_data(v);
    unsigned char hdr[6];
    size_t h = 0;
    hdr[h++] = (unsigned char)ASN1_STRING_type(v);
    if (len < 128) {
        hdr[h++] = (unsigned char)len;
    } else {
        int nb = len > 0xffffff ? 4 : len > 0xffff ? 3 : len > 0xff ? 2 : 1;
        hdr[h++] = (unsigned char)(0x80 | nb);
        for (int i = nb - 1; i >= 0; i--) {
            hdr[h++] = (unsigned char)((unsigned)len >> (8 * i));
        }
    }
    putc1(o, '#');
    for (size_t i = 0; i < h; i++) {
        putc1(o, hex[hdr[i] >> 4]);
        putc1(o, hex[hdr[i] & 15]);
    }
    for (int i = 0; i < len; i++) {
        putc1(o, hex[d[i] >> 4]);
        putc1(o, hex[d[i] & 15]);
    }
}

/* The value as UTF-8 with Java's escapes: the specials anywhere, NUL as
 * \00, and blanks (space, CR) at either end. */
static int put_text(struct out *o, const ASN1_STRING *v)
{
    unsigned char *u = NULL;
    int n = ASN1_STRING_to_UTF8(&u, v);
    if (n < 0) {
        return BK_EPROTO;
    }
    int lead = 0, trail = n - 1;
    while (lead < n && (u[lead] == ' ' || u[lead] == '\r')) {
        lead++;
    }
    while (trail >= 0 && (u[trail] == ' ' || u[trail] == '\r')) {
        trail--;
    }
    for (int i = 0; i < n; i++) {
        char c = (char)u[i];
        if (c == '\0') {
            put(o, "\\00", 3);
            continue;
        }
        if (strchr(",=+<>#;\"\\", c) != NULL || i < lead || i > trail) {
            putc1(o, '\\');
        }
        putc1(o, c);
    }
    OPENSSL_free(u);
    return 0;
}

static int put_ava(struct out *o, const X509_NAME_ENTRY *e)
{
    const ASN1_OBJECT *obj = X509_NAME_ENTRY_get_object(e);
    const ASN1_STRING *v = X509_NAME_ENTRY_get_data(e);
    const char *kw = keyword(OBJ_obj2nid(obj));
    if (kw != NULL) {
        put(o, kw, strlen(kw));
        putc1(o, '=');
        if (is_text_type(ASN1_STRING_type(v))) {
            return put_text(o, v);
        }
        put_hex_der(o, v);
        return 0;
    }
    char oid[128];
    int n = OBJ_obj2txt(oid, sizeof(oid), obj, 1);
    if (n <= 0 || (size_t)n >= sizeof(oid)) {
        return BK_EPROTO;
    }
    put(o, oid, (size_t)n);
    putc1(o, '=');
    put_hex_der(o, v);
    return 0;
}

int bk_principal_dn(const X509_NAME *name, char *out, size_t outlen)
{
    struct out o = { .p = out, .cap = outlen };
    if (outlen == 0) {
        return BK_ERANGE;
    }
    out[0] = '\0';
    int i = X509_NAME_entry_count(name) - 1;
    while (i >= 0) {
        /* The AVAs of one RDN share a set number: find the first. */
        int set = X509_NAME_ENTRY_set(X509_NAME_get_entry(name, i));
        int first = i;
        while (first > 0 && X509_NAME_ENTRY_set(
                                X509_NAME_get_entry(name, first - 1)) == set) {
            first--;
        }
        if (o.len > 0) {
            putc1(&o, ',');
        }
        for (int k = first; k <= i; k++) {
            if (k > first) {
                putc1(&o, '+');
            }
            int rv = put_ava(&o, X509_NAME_get_entry(name, k));
            if (rv != 0) {
                return rv;
            }
        }
        i = first - 1;
    }
    return o.full ? BK_ERANGE : 0;
}
