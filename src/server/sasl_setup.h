/* The SASL settings of the SASL_PLAINTEXT and SASL_SSL listeners, built
 * from the configuration with Kafka's per-listener and per-mechanism
 * overrides applied. */
#ifndef BK_SERVER_SASL_SETUP_H
#define BK_SERVER_SASL_SETUP_H

#include <stddef.h>

#include "api/sasl.h"
#include "server/config.h"

/* Builds out[i] for every SASL listener i of cfg (NULL for the others).
 * Returns 0, or BK_ECONFIG with one line in err (what was built is
 * freed). Owned: bk_server_sasl_free, after the shards have stopped. */
int bk_server_sasl_new(const struct bk_config *cfg,
                       struct bk_sasl_listener *out[BK_MAX_LISTENERS],
                       char *err,
                       size_t errlen);

void bk_server_sasl_free(struct bk_sasl_listener *sasl[BK_MAX_LISTENERS]);

#endif /* BK_SERVER_SASL_SETUP_H */
