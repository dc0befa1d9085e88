/* Connection counts: max.connections, max.connections.per.ip and
 * max.connections.per.ip.overrides, as Kafka names them.
 *
 * The acceptor admits a socket here before handing it to a shard; the
 * shard releases it when the connection object is freed. Both sides touch
 * the table, so it takes a mutex; accepting and closing are not the hot
 * path (requests are), so one lock is cheap enough and keeps the counts
 * exact. Addresses are keyed as 16 bytes, IPv4 mapped into IPv6, so an
 * IPv4 client counts the same whichever socket family it arrived on. */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/heap.h"
#include "net/net_int.h"

#define NBUCKETS 1024

struct ip_count {
    struct ip_count *next;
    uint8_t addr[16];
    unsigned count;
};

struct ip_override {
    uint8_t addr[16];
    unsigned max;
};

void bk_net_addr_key(const struct sockaddr_storage *ss, uint8_t key[16])
{
    memset(key, 0, 16);
    if (ss->ss_family == AF_INET6) {
        memcpy(key, &((const struct sockaddr_in6 *)ss)->sin6_addr, 16);
    } else if (ss->ss_family == AF_INET) {
        key[10] = 0xff;
        key[11] = 0xff;
        memcpy(key + 12, &((const struct sockaddr_in *)ss)->sin_addr, 4);
    }
}

static unsigned bucket_of(const uint8_t key[16])
{
    return (unsigned)(bk_hash64(key, 16) % NBUCKETS);
}

/* Adds every address `host` resolves to with limit max. */
static int add_override(struct bk_conn_limits *l,
                        const char *host,
                        unsigned max,
                        char *err,
                        size_t errlen)
{
    struct addrinfo hints = { 0 };
    struct addrinfo *res = NULL;
    hints.ai_socktype = SOCK_STREAM;
    int rv = getaddrinfo(host, NULL, &hints, &res);
    if (rv != 0) {
        snprintf(err, errlen,
                 "max.connections.per.ip.overrides: cannot resolve '%s': %s",
                 host, gai_strerror(rv));
        return BK_ECONFIG;
    }
    for (struct addrinfo *a = res; a != NULL; a = a->ai_next) {
        struct ip_override *grown = bk_realloc(
            l->overrides, (l->noverrides + 1) * sizeof(*l->overrides));
        if (grown == NULL) {
            freeaddrinfo(res);
            snprintf(err, errlen,
                     "max.connections.per.ip.overrides: out of "
                     "memory");
            return BK_ENOMEM;
        }
        l->overrides = grown;
        struct sockaddr_storage ss = { 0 };
        memcpy(&ss, a->ai_addr, a->ai_addrlen);
        bk_net_addr_key(&ss, l->overrides[l->noverrides].addr);
        l->overrides[l->noverrides].max = max;
        l->noverrides++;
    }
    freeaddrinfo(res);
    return 0;
}

/* "host:count,host:count" (Kafka's format). The count follows the last
 * colon, so an IPv6 address needs no brackets. */
static int parse_overrides(struct bk_conn_limits *l,
                           const char *spec,
                           char *err,
                           size_t errlen)
{
    const char *p = spec;
    while (*p != '\0') {
        while (*p == ',' || isspace((unsigned char)*p)) {
            p++;
        }
        if (*p == '\0') {
            break;
        }
        const char *end = strchr(p, ',');
        size_t len = end != NULL ? (size_t)(end - p) : strlen(p);
        char item[300];
        if (len >= sizeof(item)) {
            snprintf(err, errlen,
                     "max.connections.per.ip.overrides: entry too long");
            return BK_ECONFIG;
        }
        memcpy(item, p, len);
        item[len] = '\0';
        while (len > 0 && isspace((unsigned char)item[len - 1])) {
            item[--len] = '\0';
        }
        char *colon = strrchr(item, ':');
        char *num_end = NULL;
        long long max = -1;
        if (colon != NULL && colon != item) {
            *colon = '\0';
            errno = 0;
            max = strtoll(colon + 1, &num_end, 10);
        }
        if (colon == NULL || colon == item || errno != 0 ||
            num_end == colon + 1 || *num_end != '\0' || max < 0 ||
            max > 2147483647LL) {
            snprintf(err, errlen,
                     "max.connections.per.ip.overrides: '%.*s' is not "
                     "host:count",
                     (int)len, p);
            return BK_ECONFIG;
        }
        int rv = add_override(l, item, (unsigned)max, err, errlen);
        if (rv != 0) {
            return rv;
        }
        p += len;
    }
    return 0;
}

int bk_conn_limits_init(struct bk_conn_limits *l,
                        const struct bk_net_config *cfg,
                        char *err,
                        size_t errlen)
{
    memset(l, 0, sizeof(*l));
    l->max_total = cfg->max_connections > 0 ? cfg->max_connections : UINT_MAX;
    l->max_per_ip = cfg->max_connections_per_ip > 0
                        ? cfg->max_connections_per_ip
                        : UINT_MAX;
    l->buckets = bk_calloc(NBUCKETS, sizeof(*l->buckets));
    if (l->buckets == NULL) {
        snprintf(err, errlen, "out of memory");
        return BK_ENOMEM;
    }
    if (uv_mutex_init(&l->lock) != 0) {
        bk_free(l->buckets);
        l->buckets = NULL;
        snprintf(err, errlen, "cannot create a mutex");
        return BK_ENOMEM;
    }
    if (cfg->per_ip_overrides != NULL) {
        int rv = parse_overrides(l, cfg->per_ip_overrides, err, errlen);
        if (rv != 0) {
            bk_conn_limits_close(l);
            return rv;
        }
    }
    return 0;
}

void bk_conn_limits_close(struct bk_conn_limits *l)
{
    if (l->buckets == NULL) {
        return;
    }
    for (unsigned i = 0; i < NBUCKETS; i++) {
        struct ip_count *e = l->buckets[i];
        while (e != NULL) {
            struct ip_count *next = e->next;
            bk_free(e);
            e = next;
        }
    }
    bk_free(l->buckets);
    l->buckets = NULL;
    bk_free(l->overrides);
    l->overrides = NULL;
    uv_mutex_destroy(&l->lock);
}

static unsigned limit_for(const struct bk_conn_limits *l, const uint8_t *key)
{
    for (unsigned i = 0; i < l->noverrides; i++) {
        if (memcmp(l->overrides[i].addr, key, 16) == 0) {
            return l->overrides[i].max;
        }
    }
    return l->max_per_ip;
}

bool bk_conn_limits_full(struct bk_conn_limits *l)
{
    uv_mutex_lock(&l->lock);
    bool full = l->total >= l->max_total;
    uv_mutex_unlock(&l->lock);
    return full;
}

int bk_conn_limits_admit(struct bk_conn_limits *l, const uint8_t key[16])
{
    unsigned b = bucket_of(key);
    unsigned max = limit_for(l, key);
    int rv = 0;
    uv_mutex_lock(&l->lock);
    struct ip_count *e = l->buckets[b];
    while (e != NULL && memcmp(e->addr, key, 16) != 0) {
        e = e->next;
    }
    /* Two limits, one answer: kept apart to read as the two checks. */
    /* NOLINTNEXTLINE(bugprone-branch-clone) */
    if (l->total >= l->max_total) {
        rv = BK_ELIMIT;
    } else if ((e != NULL ? e->count : 0) >= max) {
        rv = BK_ELIMIT;
    } else if (e == NULL && (e = bk_calloc(1, sizeof(*e))) == NULL) {
        rv = BK_ENOMEM;
    } else {
        if (e->count == 0) {
            memcpy(e->addr, key, 16);
            e->next = l->buckets[b];
            l->buckets[b] = e;
        }
        e->count++;
        l->total++;
    }
    uv_mutex_unlock(&l->lock);
    return rv;
}

void bk_conn_limits_release(struct bk_conn_limits *l, const uint8_t key[16])
{
    unsigned b = bucket_of(key);
    uv_mutex_lock(&l->lock);
    struct ip_count **pp = &l->buckets[b];
    while (*pp != NULL && memcmp((*pp)->addr, key, 16) != 0) {
        pp = &(*pp)->next;
    }
    if (*pp != NULL) {
        struct ip_count *e = *pp;
        if (--e->count == 0) {
            *pp = e->next;
            bk_free(e);
        }
        l->total--;
    }
    uv_mutex_unlock(&l->lock);
}
