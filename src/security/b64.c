/* Base64 (RFC 4648, standard alphabet, padded) for SCRAM's attributes.
 * The decoder takes only the canonical form, so that one proof has one
 * spelling (security-notes.md §11: base64 validity). */
#include "security/sasl.h"

static const char b64_chars[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

size_t bk_b64_encode(const uint8_t *in, size_t len, char *out)
{
    size_t k = 0;
    for (size_t i = 0; i < len; i += 3) {
        uint32_t v = (uint32_t)in[i] << 16;
        if (i + 1 < len) {
            v |= (uint32_t)in[i + 1] << 8;
        }
        if (i + 2 < len) {
            v |= in[i + 2];
        }
        out[k++] = b64_chars[(v >> 18) & 63];
        out[k++] = b64_chars[(v >> 12) & 63];
        out[k++] = i + 1 < len ? b64_chars[(v >> 6) & 63] : '=';
        out[k++] = i + 2 < len ? b64_chars[v & 63] : '=';
    }
    out[k] = '\0';
    return k;
}

static int b64_val(char c)
{
    if (c >= 'A' && c <= 'Z') {
        return c - 'A';
    }
    if (c >= 'a' && c <= 'z') {
        return c - 'a' + 26;
    }
    if (c >= '0' && c <= '9') {
        return c - '0' + 52;
    }
    if (c == '+') {
        return 62;
    }
    if (c == '/') {
        return 63;
    }
    return -1;
}

long bk_b64_decode(const char *in, size_t len, uint8_t *out, size_t cap)
{
    if (len % 4 != 0) {
        return BK_EPROTO;
    }
    size_t k = 0;
    for (size_t i = 0; i < len; i += 4) {
        bool last = i + 4 == len;
        int pad = 0;
        if (last && in[i + 3] == '=') {
            pad = in[i + 2] == '=' ? 2 : 1;
        }
        uint32_t v = 0;
        for (int j = 0; j < 4; j++) {
            int x = j >= 4 - pad ? 0 : b64_val(in[i + (size_t)j]);
            if (x < 0) {
                return BK_EPROTO;
            }
            v = (v << 6) | (uint32_t)x;
        }
        /* Bits under the padding must be zero (canonical form). */
        if ((pad == 1 && (v & 0xff) != 0) || (pad == 2 && (v & 0xffff) != 0)) {
            return BK_EPROTO;
        }
        size_t n = 3 - (size_t)pad;
        if (k + n > cap) {
            return BK_ERANGE;
        }
        out[k++] = (uint8_t)(v >> 16);
        if (n > 1) {
            out[k++] = (uint8_t)(v >> 8);
        }
        if (n > 2) {
            out[k++] = (uint8_t)v;
        }
    }
    return (long)k;
}
