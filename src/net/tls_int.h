/* What tls_ctx.c builds and tls.c uses. */
#ifndef BK_NET_TLS_INT_H
#define BK_NET_TLS_INT_H

#include <openssl/ssl.h>

#include "net/tls.h"
#include "security/principal.h"

struct bk_tls_ctx {
    SSL_CTX *ssl;                     /* owned */
    struct bk_principal_rules *rules; /* owned */
    bool ktls;                        /* OpenSSL and the kernel offer it */
    const char *ktls_why;             /* static: why not */
};

#endif /* BK_NET_TLS_INT_H */
