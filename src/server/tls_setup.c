#include "server/tls_setup.h"

#include <stdio.h>
#include <string.h>

#include "common/diag.h"
#include "common/err.h"

static int build_one(const struct bk_config *cfg,
                     const struct bk_listener_cfg *l,
                     struct bk_tls_ctx **out,
                     char *err,
                     size_t errlen)
{
#define S(key) bk_config_listener_str(cfg, l->name, key)
    struct bk_tls_config tc = {
        .listener = l->name,
        .keystore_type = S("ssl.keystore.type"),
        .keystore_location = S("ssl.keystore.location"),
        .keystore_key = S("ssl.keystore.key"),
        .keystore_certificate_chain = S("ssl.keystore.certificate.chain"),
        .key_password = S("ssl.key.password"),
        .truststore_type = S("ssl.truststore.type"),
        .truststore_location = S("ssl.truststore.location"),
        .truststore_certificates = S("ssl.truststore.certificates"),
        .client_auth = S("ssl.client.auth"),
        .enabled_protocols = S("ssl.enabled.protocols"),
        .cipher_suites = S("ssl.cipher.suites"),
        .principal_mapping_rules = S("ssl.principal.mapping.rules"),
    };
#undef S
    int rv = bk_tls_ctx_new(&tc, out, err, errlen);
    if (rv != 0) {
        return rv;
    }
    const char *why;
    if (bk_tls_ctx_ktls(*out, &why)) {
        bk_diag_info("server",
                     "listener=%s msg=\"TLS: Fetch file ranges go out "
                     "with kTLS (SSL_sendfile) where the cipher allows, "
                     "copied and encrypted otherwise\"",
                     l->name);
    } else {
        bk_diag_info("server",
                     "listener=%s msg=\"TLS: Fetch file ranges are copied "
                     "and encrypted (no kTLS: %s)\"",
                     l->name, why);
    }
    return 0;
}

int bk_server_tls_new(const struct bk_config *cfg,
                      struct bk_tls_ctx *out[BK_MAX_LISTENERS],
                      char *err,
                      size_t errlen)
{
    memset(out, 0, BK_MAX_LISTENERS * sizeof(out[0]));
    for (unsigned i = 0; i < cfg->nlisteners; i++) {
        const struct bk_listener_cfg *l = &cfg->listener[i];
        if (l->protocol != BK_SEC_SSL && l->protocol != BK_SEC_SASL_SSL) {
            continue;
        }
        int rv = build_one(cfg, l, &out[i], err, errlen);
        if (rv != 0) {
            bk_server_tls_free(out);
            return rv;
        }
    }
    return 0;
}

void bk_server_tls_free(struct bk_tls_ctx *ctx[BK_MAX_LISTENERS])
{
    for (unsigned i = 0; i < BK_MAX_LISTENERS; i++) {
        bk_tls_ctx_free(ctx[i]);
        ctx[i] = NULL;
    }
}
