#include "server/sasl_setup.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/diag.h"
#include "common/err.h"
#include "common/heap.h"

/* listener.name.<n>.connections.max.reauth.ms, else the broker's. */
static int reauth_ms(const struct bk_config *cfg,
                     const char *listener,
                     uint64_t *out,
                     char *err,
                     size_t errlen)
{
    const char *v = bk_config_listener_mech_str(cfg, listener, "",
                                                "connections.max.reauth.ms");
    if (v == NULL) {
        *out = (uint64_t)cfg->connections_max_reauth_ms;
        return 0;
    }
    char *end;
    errno = 0;
    long long n = strtoll(v, &end, 10);
    if (errno != 0 || end == v || *end != '\0' || n < 0) {
        snprintf(err, errlen,
                 "listener.name.%s.connections.max.reauth.ms: '%.32s' is "
                 "not a number of milliseconds",
                 listener, v);
        return BK_ECONFIG;
    }
    *out = (uint64_t)n;
    return 0;
}

static int build_one(const struct bk_config *cfg,
                     const struct bk_listener_cfg *l,
                     struct bk_sasl_listener **out,
                     char *err,
                     size_t errlen)
{
    uint64_t reauth;
    int rv = reauth_ms(cfg, l->name, &reauth, err, errlen);
    if (rv != 0) {
        return rv;
    }
    struct bk_sasl_listener *s = bk_calloc(1, sizeof(*s));
    if (s == NULL) {
        snprintf(err, errlen, "listener %s: out of memory", l->name);
        return BK_ENOMEM;
    }
    const char *mechs =
        bk_config_listener_str(cfg, l->name, "sasl.enabled.mechanisms");
    const char *jaas =
        bk_config_listener_mech_str(cfg, l->name, "plain", "sasl.jaas.config");
    rv = bk_sasl_listener_init(
        s, l->name, mechs != NULL ? mechs : "", jaas != NULL ? jaas : "",
        reauth, (uint64_t)cfg->connection_failed_authentication_delay_ms, err,
        errlen);
    if (rv != 0) {
        bk_free(s);
        return rv;
    }
    char list[64] = "";
    for (unsigned i = 0; i < s->nmechs; i++) {
        size_t n = strlen(list);
        snprintf(list + n, sizeof(list) - n, "%s%s", i > 0 ? "," : "",
                 bk_sasl_mech_name(s->mechs[i]));
    }
    bk_diag_info("server",
                 "listener=%s mechanisms=%s reauth_ms=%llu msg=\"SASL "
                 "enabled\"",
                 l->name, list, (unsigned long long)reauth);
    for (unsigned i = 0; i < s->nmechs; i++) {
        if (s->mechs[i] == BK_SASL_PLAIN &&
            l->protocol == BK_SEC_SASL_PLAINTEXT) {
            /* Kafka allows it too; say so once, since passwords then
             * cross the network in clear (security-notes.md §4). */
            bk_diag_warn("server",
                         "listener=%s msg=\"PLAIN on a SASL_PLAINTEXT "
                         "listener sends passwords in clear; use SASL_SSL "
                         "outside tests\"",
                         l->name);
        }
    }
    *out = s;
    return 0;
}

int bk_server_sasl_new(const struct bk_config *cfg,
                       struct bk_sasl_listener *out[BK_MAX_LISTENERS],
                       char *err,
                       size_t errlen)
{
    memset(out, 0, BK_MAX_LISTENERS * sizeof(out[0]));
    if (cfg->connection_failed_authentication_delay_ms > 0 &&
        cfg->connections_max_idle_ms > 0 &&
        cfg->connection_failed_authentication_delay_ms >=
            cfg->connections_max_idle_ms) {
        snprintf(err, errlen,
                 "connection.failed.authentication.delay.ms must be below "
                 "connections.max.idle.ms");
        return BK_ECONFIG;
    }
    for (unsigned i = 0; i < cfg->nlisteners; i++) {
        const struct bk_listener_cfg *l = &cfg->listener[i];
        if (l->protocol != BK_SEC_SASL_PLAINTEXT &&
            l->protocol != BK_SEC_SASL_SSL) {
            continue;
        }
        int rv = build_one(cfg, l, &out[i], err, errlen);
        if (rv != 0) {
            bk_server_sasl_free(out);
            return rv;
        }
    }
    return 0;
}

void bk_server_sasl_free(struct bk_sasl_listener *sasl[BK_MAX_LISTENERS])
{
    for (unsigned i = 0; i < BK_MAX_LISTENERS; i++) {
        if (sasl[i] != NULL) {
            bk_sasl_listener_free(sasl[i]);
            bk_free(sasl[i]);
            sasl[i] = NULL;
        }
    }
}
