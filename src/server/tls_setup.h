/* The TLS contexts of the SSL listeners, built from the configuration
 * with the listener.name.<name>.ssl.* overrides applied. */
#ifndef BK_SERVER_TLS_SETUP_H
#define BK_SERVER_TLS_SETUP_H

#include <stddef.h>

#include "net/tls.h"
#include "server/config.h"

/* Builds out[i] for every SSL and SASL_SSL listener i of cfg (NULL for the
 * others) and logs, per SSL listener, whether Fetch file ranges go out with
 * kTLS or are copied. Returns 0, or BK_ECONFIG with one line in err (what was
 * built is freed). The contexts are owned: bk_server_tls_free. */
int bk_server_tls_new(const struct bk_config *cfg,
                      struct bk_tls_ctx *out[BK_MAX_LISTENERS],
                      char *err,
                      size_t errlen);

void bk_server_tls_free(struct bk_tls_ctx *ctx[BK_MAX_LISTENERS]);

#endif /* BK_SERVER_TLS_SETUP_H */
