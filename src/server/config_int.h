/* Internals of the broker configuration shared by its files. */
#ifndef BK_SERVER_CONFIG_INT_H
#define BK_SERVER_CONFIG_INT_H

#include <stddef.h>

#include "server/config.h"

/* The cluster part of bk_config_finish(): parses process.roles, the voters,
 * the bootstrap servers and the listener names into the derived fields of
 * c, and checks them against each other and against node.id. Needs
 * c->listener[] parsed. On failure returns BK_ECONFIG with one line naming
 * the setting(s) in err. */
int bk_config_finish_cluster(struct bk_config *c, char *err, size_t errlen);

/* The listener part of bk_config_finish(): parses listeners,
 * listener.security.protocol.map and advertised.listeners into c->listener
 * and c->advertised (one advertised entry per listener, by name). On
 * failure returns BK_ECONFIG with one line naming the setting in err. */
int bk_config_finish_listeners(struct bk_config *c, char *err, size_t errlen);

/* Parses "NAME://host:port[,...]" (the form of listeners and of other
 * settings such as admin.listeners) into out, names upper-cased and each
 * different, protocols left unset. On failure returns BK_ECONFIG with one
 * line naming key in err. */
int bk_config_parse_endpoints(const char *key,
                              const char *text,
                              struct bk_listener_cfg *out,
                              unsigned *n,
                              char *err,
                              size_t errlen);

/* Sets listener.name.<listener>.<key> (key an ssl.* string setting). */
int bk_config_set_override(struct bk_config *c,
                           const char *full_key,
                           const char *value,
                           char *err,
                           size_t errlen);

/* The table's static name of a string setting, or NULL. */
const char *bk_config_setting_name(const char *key);

#endif /* BK_SERVER_CONFIG_INT_H */
