/* The cluster settings of the broker configuration (issue 12): roles,
 * the metadata quorum's voters, how a broker finds the controllers, and
 * which listener serves which traffic. Names and defaults are Kafka's
 * KRaft ones (KIP-500, KIP-631, KIP-853). */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/err.h"
#include "server/config_int.h"

/* A list item: the next comma-separated item of *cursor with blanks
 * trimmed, copied into buf. Returns false at the end of the list. */
static bool next_item(const char **cursor, char *buf, size_t buflen)
{
    const char *p = *cursor;
    if (p == NULL) {
        return false;
    }
    const char *comma = strchr(p, ',');
    size_t len = comma != NULL ? (size_t)(comma - p) : strlen(p);
    *cursor = comma != NULL ? comma + 1 : NULL;
    while (len > 0 && isspace((unsigned char)*p)) {
        p++;
        len--;
    }
    while (len > 0 && isspace((unsigned char)p[len - 1])) {
        len--;
    }
    if (len >= buflen) {
        len = buflen - 1; /* too long for any valid item: fails its parse */
    }
    memcpy(buf, p, len);
    buf[len] = '\0';
    return true;
}

/* True when the list holds no item (empty, or only blanks). */
static bool list_empty(const char *s)
{
    while (*s != '\0' && isspace((unsigned char)*s)) {
        s++;
    }
    return *s == '\0';
}

/* Parses "host:port" (IPv6 in brackets) into v. */
static bool parse_hostport(char *s, struct bk_voter_cfg *v)
{
    char *colon = strrchr(s, ':');
    if (colon == NULL || colon == s) {
        return false;
    }
    *colon = '\0';
    char *host = s;
    size_t hl = strlen(host);
    if (host[0] == '[') {
        if (hl < 3 || host[hl - 1] != ']') {
            return false;
        }
        host[hl - 1] = '\0';
        host++;
    } else if (strchr(host, ':') != NULL) {
        return false; /* an IPv6 address needs its brackets */
    }
    if (strlen(host) >= sizeof(v->host)) {
        return false;
    }
    char *end;
    errno = 0;
    long port = strtol(colon + 1, &end, 10);
    if (errno != 0 || end == colon + 1 || *end != '\0' || port < 0 ||
        port > 65535) {
        return false;
    }
    snprintf(v->host, sizeof(v->host), "%s", host);
    v->port = (int)port;
    return true;
}

static int parse_roles(struct bk_config *c, char *err, size_t errlen)
{
    const char *cur = list_empty(c->process_roles) ? NULL : c->process_roles;
    char item[64];
    c->is_broker = false;
    c->is_controller = false;
    while (next_item(&cur, item, sizeof(item))) {
        bool *role = strcmp(item, "broker") == 0       ? &c->is_broker
                     : strcmp(item, "controller") == 0 ? &c->is_controller
                                                       : NULL;
        if (role == NULL) {
            snprintf(err, errlen,
                     "process.roles: '%.32s' is not broker or controller",
                     item);
            return BK_ECONFIG;
        }
        if (*role) {
            snprintf(err, errlen, "process.roles: '%s' is given twice", item);
            return BK_ECONFIG;
        }
        *role = true;
    }
    if (!c->is_broker && !c->is_controller) {
        snprintf(err, errlen,
                 "process.roles: must be broker, controller or "
                 "broker,controller");
        return BK_ECONFIG;
    }
    return 0;
}

/* Parses one "id@host:port" voter into v. */
static bool parse_voter(char *s, struct bk_voter_cfg *v)
{
    char *at = strchr(s, '@');
    if (at == NULL || at == s) {
        return false;
    }
    *at = '\0';
    char *end;
    errno = 0;
    long long id = strtoll(s, &end, 10);
    if (errno != 0 || *end != '\0' || id < 0 || id > INT32_MAX) {
        return false;
    }
    v->id = (int32_t)id;
    return parse_hostport(at + 1, v);
}

/* The same rules as the metadata quorum's own parser (cluster/controller.c),
 * checked here so that --check-config and `brokerd format` catch them. */
static int parse_voters(struct bk_config *c, char *err, size_t errlen)
{
    const char *cur = c->controller_quorum_voters;
    char item[300], copy[300];
    c->nvoters = 0;
    if (list_empty(cur)) {
        return 0;
    }
    while (next_item(&cur, item, sizeof(item))) {
        struct bk_voter_cfg v;
        snprintf(copy, sizeof(copy), "%s", item);
        if (!parse_voter(copy, &v)) {
            snprintf(err, errlen,
                     "controller.quorum.voters: bad entry '%.64s' (expected "
                     "id@host:port)",
                     item);
            return BK_ECONFIG;
        }
        if (c->nvoters == BK_MAX_VOTERS) {
            snprintf(err, errlen,
                     "controller.quorum.voters: more than %d voters",
                     BK_MAX_VOTERS);
            return BK_ECONFIG;
        }
        for (unsigned i = 0; i < c->nvoters; i++) {
            if (c->voter[i].id == v.id) {
                snprintf(err, errlen,
                         "controller.quorum.voters: node id %d appears twice",
                         (int)v.id);
                return BK_ECONFIG;
            }
        }
        c->voter[c->nvoters++] = v;
    }
    return 0;
}

static int parse_bootstrap(struct bk_config *c, char *err, size_t errlen)
{
    const char *cur = c->controller_quorum_bootstrap_servers;
    char item[300], copy[300];
    c->nbootstrap = 0;
    if (list_empty(cur)) {
        return 0;
    }
    while (next_item(&cur, item, sizeof(item))) {
        struct bk_voter_cfg v = { .id = -1 };
        snprintf(copy, sizeof(copy), "%s", item);
        if (!parse_hostport(copy, &v) || v.port == 0) {
            snprintf(err, errlen,
                     "controller.quorum.bootstrap.servers: bad entry '%.64s' "
                     "(expected host:port)",
                     item);
            return BK_ECONFIG;
        }
        if (c->nbootstrap == BK_MAX_BOOTSTRAP) {
            snprintf(err, errlen,
                     "controller.quorum.bootstrap.servers: more than %d "
                     "servers",
                     BK_MAX_BOOTSTRAP);
            return BK_ECONFIG;
        }
        c->bootstrap[c->nbootstrap++] = v;
    }
    return 0;
}

/* The listeners brokerd nodes connect to each other on carry plaintext
 * Kafka requests (net/kclient.c has no TLS yet). */
static int check_plaintext(const struct bk_config *c,
                           unsigned i,
                           const char *key,
                           char *err,
                           size_t errlen)
{
    if (c->listener[i].protocol == BK_SEC_PLAINTEXT) {
        return 0;
    }
    snprintf(err, errlen,
             "%s: listener '%s' in listeners uses %s; brokers and "
             "controllers talk to "
             "each other over PLAINTEXT only so far",
             key, c->listener[i].name,
             bk_sec_protocol_name(c->listener[i].protocol));
    return BK_ECONFIG;
}

/* Resolves controller.listener.names and inter.broker.listener.name. Each
 * name must be a listener of this node, as Kafka requires of a combined
 * node; the first controller listener named is the one used. */
static int resolve_listeners(struct bk_config *c, char *err, size_t errlen)
{
    const char *cur = c->controller_listener_names;
    char item[64];
    bool first = true;
    /* Unset, both default to the first PLAINTEXT listener (Kafka's
     * security.inter.broker.protocol defaults to PLAINTEXT). */
    unsigned dflt = 0;
    while (dflt + 1 < c->nlisteners &&
           c->listener[dflt].protocol != BK_SEC_PLAINTEXT) {
        dflt++;
    }
    if (c->listener[dflt].protocol != BK_SEC_PLAINTEXT) {
        dflt = 0;
    }
    c->controller_listener = dflt;
    c->inter_broker_listener = dflt;
    while (!list_empty(c->controller_listener_names) &&
           next_item(&cur, item, sizeof(item))) {
        int i = bk_config_listener_index(c, item);
        if (i < 0) {
            snprintf(err, errlen,
                     "controller.listener.names: '%.32s' is not the name of "
                     "a listener in listeners (%.128s)",
                     item, c->listeners);
            return BK_ECONFIG;
        }
        if (first) {
            c->controller_listener = (unsigned)i;
            first = false;
        }
    }
    const char *ib = c->inter_broker_listener_name;
    if (ib[0] != '\0') {
        int i = bk_config_listener_index(c, ib);
        if (i < 0) {
            snprintf(err, errlen,
                     "inter.broker.listener.name: '%.32s' is not the name of "
                     "a listener in listeners (%.128s)",
                     ib, c->listeners);
            return BK_ECONFIG;
        }
        c->inter_broker_listener = (unsigned)i;
    }
    int rv = check_plaintext(c, c->controller_listener,
                             "controller.listener.names", err, errlen);
    if (rv == 0) {
        rv = check_plaintext(c, c->inter_broker_listener,
                             "inter.broker.listener.name", err, errlen);
    }
    return rv;
}

static bool is_voter(const struct bk_config *c)
{
    for (unsigned i = 0; i < c->nvoters; i++) {
        if (c->voter[i].id == c->node_id) {
            return true;
        }
    }
    return false;
}

/* The checks between settings; each message names every setting it
 * involves, so the fix is clear from the one line. */
static int check_roles(const struct bk_config *c, char *err, size_t errlen)
{
    if (c->broker_heartbeat_interval_ms >= c->broker_session_timeout_ms) {
        /* A broker must get several heartbeats into one session, or the
         * controller fences it between two of them. */
        snprintf(err, errlen,
                 "broker.heartbeat.interval.ms: %lld must be less than "
                 "broker.session.timeout.ms (%lld)",
                 (long long)c->broker_heartbeat_interval_ms,
                 (long long)c->broker_session_timeout_ms);
        return BK_ECONFIG;
    }
    if (c->is_controller && c->nvoters > 0 && !is_voter(c)) {
        snprintf(err, errlen,
                 "controller.quorum.voters: node.id %lld has the controller "
                 "role (process.roles=%.32s) but is not one of the voters "
                 "(%.160s)",
                 (long long)c->node_id, c->process_roles,
                 c->controller_quorum_voters);
        return BK_ECONFIG;
    }
    if (c->is_controller) {
        return 0;
    }
    if (is_voter(c)) {
        snprintf(err, errlen,
                 "process.roles: node.id %lld is in controller.quorum.voters, "
                 "so it needs the controller role (process.roles=%.32s)",
                 (long long)c->node_id, c->process_roles);
        return BK_ECONFIG;
    }
    /* The voters' addresses are their raft ports; a broker that is not a
     * voter pulls metadata from the controllers' Kafka listeners. */
    if (c->nbootstrap == 0) {
        snprintf(err, errlen,
                 "process.roles=broker needs "
                 "controller.quorum.bootstrap.servers (the controllers' "
                 "listeners, host:port,...) to find the controllers; "
                 "controller.quorum.voters names their raft ports");
        return BK_ECONFIG;
    }
    return 0;
}

int bk_config_finish_cluster(struct bk_config *c, char *err, size_t errlen)
{
    int rv = parse_roles(c, err, errlen);
    if (rv == 0) {
        rv = parse_voters(c, err, errlen);
    }
    if (rv == 0) {
        rv = parse_bootstrap(c, err, errlen);
    }
    if (rv == 0) {
        rv = resolve_listeners(c, err, errlen);
    }
    if (rv == 0) {
        rv = check_roles(c, err, errlen);
    }
    return rv;
}

static int by_id(const void *a, const void *b)
{
    const struct bk_voter_cfg *x = a, *y = b;
    return (x->id > y->id) - (x->id < y->id);
}

int bk_config_voters_text(const struct bk_config *c, char *out, size_t outlen)
{
    struct bk_voter_cfg sorted[BK_MAX_VOTERS];
    memcpy(sorted, c->voter, c->nvoters * sizeof(sorted[0]));
    qsort(sorted, c->nvoters, sizeof(sorted[0]), by_id);
    size_t k = 0;
    out[0] = '\0';
    for (unsigned i = 0; i < c->nvoters; i++) {
        const struct bk_voter_cfg *v = &sorted[i];
        bool v6 = strchr(v->host, ':') != NULL;
        int w = snprintf(out + k, outlen - k, "%s%d@%s%s%s:%d",
                         i > 0 ? "," : "", (int)v->id, v6 ? "[" : "", v->host,
                         v6 ? "]" : "", v->port);
        if (w < 0 || (size_t)w >= outlen - k) {
            return BK_ERANGE;
        }
        k += (size_t)w;
    }
    return 0;
}

bool bk_config_needs_format(const struct bk_config *c)
{
    return c->nvoters > 1 || !c->is_controller;
}
