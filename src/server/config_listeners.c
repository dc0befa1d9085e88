/* The listeners of the broker configuration: `listeners`,
 * `listener.security.protocol.map` and `advertised.listeners`, as Kafka
 * reads them (KIP-103: several named listeners, each with a security
 * protocol). Names are normalised to upper case, as Kafka's ListenerName
 * does, so `listener.name.external.*` and `EXTERNAL://` meet. */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/err.h"
#include "common/heap.h"
#include "server/config_int.h"

#define MAX_MAP 16

struct proto_pair {
    char name[32];
    enum bk_sec_protocol protocol;
};

static const char *const proto_names[] = {
    [BK_SEC_PLAINTEXT] = "PLAINTEXT",
    [BK_SEC_SSL] = "SSL",
    [BK_SEC_SASL_PLAINTEXT] = "SASL_PLAINTEXT",
    [BK_SEC_SASL_SSL] = "SASL_SSL",
};

const char *bk_sec_protocol_name(enum bk_sec_protocol p)
{
    return proto_names[p];
}

static char *trim(char *s)
{
    while (isspace((unsigned char)*s)) {
        s++;
    }
    size_t n = strlen(s);
    while (n > 0 && isspace((unsigned char)s[n - 1])) {
        s[--n] = '\0';
    }
    return s;
}

static void upper(char *s)
{
    for (; *s != '\0'; s++) {
        *s = (char)toupper((unsigned char)*s);
    }
}

/* Parses "NAME:PROTOCOL[,...]" into map. */
static int parse_map(const char *text,
                     struct proto_pair *map,
                     unsigned *n,
                     char *err,
                     size_t errlen)
{
    char buf[1024];
    *n = 0;
    if (strlen(text) >= sizeof(buf)) {
        snprintf(err, errlen, "listener.security.protocol.map: too long");
        return BK_ECONFIG;
    }
    strcpy(buf, text);
    char *save = NULL;
    for (char *item = strtok_r(buf, ",", &save); item != NULL;
         item = strtok_r(NULL, ",", &save)) {
        item = trim(item);
        char *colon = strchr(item, ':');
        if (*n == MAX_MAP || colon == NULL || colon == item ||
            (size_t)(colon - item) >= sizeof(map->name)) {
            snprintf(err, errlen,
                     "listener.security.protocol.map: '%.64s' is not "
                     "NAME:PROTOCOL (at most %d pairs)",
                     item, MAX_MAP);
            return BK_ECONFIG;
        }
        *colon = '\0';
        char *proto = trim(colon + 1);
        upper(proto);
        struct proto_pair *p = &map[*n];
        snprintf(p->name, sizeof(p->name), "%s", trim(item));
        upper(p->name);
        size_t k = 0;
        while (k < 4 && strcmp(proto_names[k], proto) != 0) {
            k++;
        }
        if (k == 4) {
            snprintf(err, errlen,
                     "listener.security.protocol.map: '%.32s' is not "
                     "PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL",
                     proto);
            return BK_ECONFIG;
        }
        p->protocol = (enum bk_sec_protocol)k;
        (*n)++;
    }
    return 0;
}

/* Parses one "NAME://host:port" item into l (name upper-cased). */
static int parse_one(const char *key,
                     char *item,
                     struct bk_listener_cfg *l,
                     char *err,
                     size_t errlen)
{
    char *scheme = strstr(item, "://");
    if (scheme == NULL || scheme == item ||
        (size_t)(scheme - item) >= sizeof(l->name)) {
        snprintf(err, errlen, "%s: '%s' is not NAME://host:port", key, item);
        return BK_ECONFIG;
    }
    memcpy(l->name, item, (size_t)(scheme - item));
    l->name[scheme - item] = '\0';
    upper(l->name);
    char *hostport = scheme + 3;
    char *colon = strrchr(hostport, ':');
    if (colon == NULL) {
        snprintf(err, errlen, "%s: '%s' has no port", key, item);
        return BK_ECONFIG;
    }
    *colon = '\0';
    char *host = hostport;
    size_t hl = strlen(host);
    if (hl >= 2 && host[0] == '[' && host[hl - 1] == ']') {
        host[hl - 1] = '\0';
        host++;
    }
    if (strlen(host) >= sizeof(l->host)) {
        snprintf(err, errlen, "%s: host name too long", key);
        return BK_ECONFIG;
    }
    strcpy(l->host, host);
    char *end;
    errno = 0;
    long port = strtol(colon + 1, &end, 10);
    if (errno != 0 || end == colon + 1 || *end != '\0' || port < 0 ||
        port > 65535) {
        snprintf(err, errlen, "%s: '%s' is not a port number", key, colon + 1);
        return BK_ECONFIG;
    }
    l->port = (int)port;
    return 0;
}

/* Names must differ (Kafka: "Each listener must have a different
 * name"). */
int bk_config_parse_endpoints(const char *key,
                              const char *text,
                              struct bk_listener_cfg *out,
                              unsigned *n,
                              char *err,
                              size_t errlen)
{
    char buf[1024];
    *n = 0;
    if (strlen(text) >= sizeof(buf)) {
        snprintf(err, errlen, "%s: value too long", key);
        return BK_ECONFIG;
    }
    strcpy(buf, text);
    char *save = NULL;
    for (char *item = strtok_r(buf, ",", &save); item != NULL;
         item = strtok_r(NULL, ",", &save)) {
        if (*n == BK_MAX_LISTENERS) {
            snprintf(err, errlen, "%s: more than %d listeners", key,
                     BK_MAX_LISTENERS);
            return BK_ECONFIG;
        }
        int rv = parse_one(key, trim(item), &out[*n], err, errlen);
        if (rv != 0) {
            return rv;
        }
        for (unsigned j = 0; j < *n; j++) {
            if (strcmp(out[j].name, out[*n].name) == 0) {
                snprintf(err, errlen,
                         "%s: the name '%s' is used twice; each listener "
                         "needs its own name",
                         key, out[j].name);
                return BK_ECONFIG;
            }
        }
        (*n)++;
    }
    if (*n == 0) {
        snprintf(err, errlen, "%s: no listener given", key);
        return BK_ECONFIG;
    }
    return 0;
}

/* Gives each listener its protocol from the map. */
static int set_protocols(struct bk_config *c, char *err, size_t errlen)
{
    struct proto_pair map[MAX_MAP];
    unsigned nmap;
    int rv =
        parse_map(c->listener_security_protocol_map, map, &nmap, err, errlen);
    if (rv != 0) {
        return rv;
    }
    for (unsigned i = 0; i < c->nlisteners; i++) {
        struct bk_listener_cfg *l = &c->listener[i];
        unsigned k = 0;
        while (k < nmap && strcmp(map[k].name, l->name) != 0) {
            k++;
        }
        if (k == nmap) {
            snprintf(err, errlen,
                     "listeners: '%s' has no security protocol in "
                     "listener.security.protocol.map (%.128s)",
                     l->name, c->listener_security_protocol_map);
            return BK_ECONFIG;
        }
        l->protocol = map[k].protocol;
    }
    return 0;
}

/* Lines advertised.listeners up with listeners, by name. */
static int set_advertised(struct bk_config *c, char *err, size_t errlen)
{
    memcpy(c->advertised, c->listener, sizeof(c->listener));
    c->nadvertised = c->nlisteners;
    if (c->advertised_listeners[0] == '\0') {
        return 0;
    }
    struct bk_listener_cfg adv[BK_MAX_LISTENERS];
    unsigned nadv;
    int rv = bk_config_parse_endpoints("advertised.listeners",
                                       c->advertised_listeners, adv, &nadv, err,
                                       errlen);
    if (rv != 0) {
        return rv;
    }
    for (unsigned j = 0; j < nadv; j++) {
        int i = bk_config_listener_index(c, adv[j].name);
        if (i < 0) {
            snprintf(err, errlen,
                     "advertised.listeners: '%s' is not the name of a "
                     "listener in listeners (%.128s)",
                     adv[j].name, c->listeners);
            return BK_ECONFIG;
        }
        if (adv[j].port == 0) {
            snprintf(err, errlen,
                     "advertised.listeners: port 0 cannot be advertised");
            return BK_ECONFIG;
        }
        adv[j].protocol = c->listener[i].protocol;
        c->advertised[i] = adv[j];
    }
    return 0;
}

int bk_config_listener_index(const struct bk_config *c, const char *name)
{
    for (unsigned i = 0; i < c->nlisteners; i++) {
        if (strcasecmp(c->listener[i].name, name) == 0) {
            return (int)i;
        }
    }
    return -1;
}

int bk_config_finish_listeners(struct bk_config *c, char *err, size_t errlen)
{
    int rv = bk_config_parse_endpoints("listeners", c->listeners, c->listener,
                                       &c->nlisteners, err, errlen);
    if (rv == 0) {
        rv = set_protocols(c, err, errlen);
    }
    if (rv == 0) {
        rv = set_advertised(c, err, errlen);
    }
    return rv;
}

/* Kafka's per-listener prefix, listener.name.<lower-case name>.<key>
 * (KIP-103); brokerd takes it for the settings that differ between
 * listeners: ssl.*, sasl.*, connections.max.reauth.ms, and
 * sasl.jaas.config per mechanism (listener.name.<n>.plain.sasl.jaas.config,
 * as Kafka's documentation writes it). */
#define REAUTH_KEY "connections.max.reauth.ms"

static bool per_listener(const char *key)
{
    return key != NULL &&
           (strncmp(key, "ssl.", 4) == 0 || strncmp(key, "sasl.", 5) == 0 ||
            strcmp(key, REAUTH_KEY) == 0);
}

/* Splits "<mech>.sasl.jaas.config" into the mechanism (copied into mech)
 * and the table's key; NULL when rest is not of that form. */
static const char *mech_key(const char *rest, char *mech, size_t cap)
{
    static const char *const mechs[] = { "plain", "scram-sha-256",
                                         "scram-sha-512" };
    for (size_t i = 0; i < sizeof(mechs) / sizeof(mechs[0]); i++) {
        size_t n = strlen(mechs[i]);
        if (strncmp(rest, mechs[i], n) == 0 && rest[n] == '.' &&
            strcmp(rest + n + 1, "sasl.jaas.config") == 0 && n < cap) {
            memcpy(mech, mechs[i], n + 1);
            return bk_config_setting_name(rest + n + 1);
        }
    }
    return NULL;
}

int bk_config_set_override(struct bk_config *c,
                           const char *full_key,
                           const char *value,
                           char *err,
                           size_t errlen)
{
    const char *name = full_key + strlen("listener.name.");
    const char *dot = strchr(name, '.');
    char mech[sizeof(c->overrides[0].mech)] = "";
    const char *key = NULL;
    if (dot != NULL) {
        key = mech_key(dot + 1, mech, sizeof(mech));
        if (key == NULL && strcmp(dot + 1, REAUTH_KEY) == 0) {
            /* The one number taken per listener (the table hands out
             * string settings only): checked here, kept as text. */
            key = REAUTH_KEY;
            char *end;
            long long v = strtoll(value, &end, 10);
            if (*value == '\0' || *end != '\0' || v < 0) {
                snprintf(err, errlen, "%s: '%.32s' is not a number of ms",
                         full_key, value);
                return BK_ECONFIG;
            }
        }
        if (key == NULL) {
            key = bk_config_setting_name(dot + 1);
        }
    }
    size_t nl = dot != NULL ? (size_t)(dot - name) : 0;
    if (!per_listener(key) || nl == 0 ||
        nl >= sizeof(c->overrides[0].listener)) {
        snprintf(err, errlen,
                 "unknown configuration key '%s' (per-listener settings "
                 "are listener.name.<name>.ssl.*, .sasl.*, "
                 ".<mechanism>.sasl.jaas.config and "
                 ".connections.max.reauth.ms)",
                 full_key);
        return BK_ECONFIG;
    }
    char listener[sizeof(c->overrides[0].listener)];
    memcpy(listener, name, nl);
    listener[nl] = '\0';
    upper(listener);
    struct bk_listener_override *o = NULL;
    for (unsigned i = 0; i < c->noverrides && o == NULL; i++) {
        if (strcmp(c->overrides[i].listener, listener) == 0 &&
            c->overrides[i].key == key &&
            strcmp(c->overrides[i].mech, mech) == 0) {
            o = &c->overrides[i];
        }
    }
    if (o == NULL && c->noverrides == BK_MAX_LISTENER_OVERRIDES) {
        snprintf(err, errlen, "%s: more than %d per-listener settings",
                 full_key, BK_MAX_LISTENER_OVERRIDES);
        return BK_ECONFIG;
    }
    char *copy = bk_strdup(value);
    if (copy == NULL) {
        snprintf(err, errlen, "%s: out of memory", full_key);
        return BK_ENOMEM;
    }
    if (o == NULL) {
        o = &c->overrides[c->noverrides++];
        snprintf(o->listener, sizeof(o->listener), "%s", listener);
        snprintf(o->mech, sizeof(o->mech), "%s", mech);
        o->key = key;
    } else {
        bk_free(o->value);
    }
    o->value = copy;
    return 0;
}

const char *bk_config_listener_str(const struct bk_config *c,
                                   const char *listener,
                                   const char *key)
{
    return bk_config_listener_mech_str(c, listener, "", key);
}

static const char *find_override(const struct bk_config *c,
                                 const char *listener,
                                 const char *mech,
                                 const char *key)
{
    for (unsigned i = 0; i < c->noverrides; i++) {
        if (strcasecmp(c->overrides[i].listener, listener) == 0 &&
            strcmp(c->overrides[i].mech, mech) == 0 &&
            strcmp(c->overrides[i].key, key) == 0) {
            return c->overrides[i].value;
        }
    }
    return NULL;
}

const char *bk_config_listener_mech_str(const struct bk_config *c,
                                        const char *listener,
                                        const char *mech,
                                        const char *key)
{
    const char *v =
        mech[0] != '\0' ? find_override(c, listener, mech, key) : NULL;
    if (v == NULL) {
        v = find_override(c, listener, "", key);
    }
    if (v != NULL) {
        return v;
    }
    /* Only string settings come through here: a number would be written
     * into a buffer of this frame. */
    char num[32];
    const char *own = bk_config_lookup(key, (void *)c, num, sizeof(num));
    return own == num ? NULL : own;
}
