/* A SASL listener's settings (api/sasl.h): the enabled mechanisms in
 * their configured order, PLAIN's users from the JAAS entry, the
 * re-authentication and failure delays, and the secret behind unknown
 * users' fake SCRAM credentials. */
#include <openssl/rand.h>
#include <stdio.h>
#include <string.h>

#include "api/sasl.h"

static const char *const mech_names[] = {
    [BK_SASL_NONE] = NULL,
    [BK_SASL_PLAIN] = "PLAIN",
    [BK_SASL_SCRAM_SHA_256] = "SCRAM-SHA-256",
    [BK_SASL_SCRAM_SHA_512] = "SCRAM-SHA-512",
};

const char *bk_sasl_mech_name(enum bk_sasl_mech m)
{
    return m <= BK_SASL_SCRAM_SHA_512 ? mech_names[m] : NULL;
}

static enum bk_sasl_mech mech_parse(const char *s, size_t len)
{
    for (int m = BK_SASL_PLAIN; m <= BK_SASL_SCRAM_SHA_512; m++) {
        if (strlen(mech_names[m]) == len &&
            memcmp(mech_names[m], s, len) == 0) {
            return (enum bk_sasl_mech)m;
        }
    }
    return BK_SASL_NONE;
}

static int parse_mechs(struct bk_sasl_listener *l,
                       const char *list,
                       char *err,
                       size_t errlen)
{
    const char *p = list;
    while (*p != '\0') {
        const char *end = strchr(p, ',');
        size_t n = end != NULL ? (size_t)(end - p) : strlen(p);
        while (n > 0 && (*p == ' ' || *p == '\t')) {
            p++;
            n--;
        }
        while (n > 0 && (p[n - 1] == ' ' || p[n - 1] == '\t')) {
            n--;
        }
        enum bk_sasl_mech m = n > 0 ? mech_parse(p, n) : BK_SASL_NONE;
        if (n > 0 && m == BK_SASL_NONE) {
            snprintf(err, errlen,
                     "listener %s: sasl.enabled.mechanisms: '%.*s' is not "
                     "supported (PLAIN, SCRAM-SHA-256, SCRAM-SHA-512 are)",
                     l->name, (int)(n < 64 ? n : 64), p);
            return BK_ECONFIG;
        }
        bool dup = false;
        for (unsigned i = 0; i < l->nmechs; i++) {
            dup = dup || l->mechs[i] == m;
        }
        if (m != BK_SASL_NONE && !dup) {
            l->mechs[l->nmechs++] = m;
        }
        if (end == NULL) {
            break;
        }
        p = end + 1;
    }
    if (l->nmechs == 0) {
        snprintf(err, errlen,
                 "listener %s uses SASL but sasl.enabled.mechanisms (or "
                 "listener.name.%s.sasl.enabled.mechanisms) names no "
                 "mechanism; set PLAIN, SCRAM-SHA-256 and/or SCRAM-SHA-512",
                 l->name, l->name);
        return BK_ECONFIG;
    }
    return 0;
}

static bool has_mech(const struct bk_sasl_listener *l, enum bk_sasl_mech m)
{
    for (unsigned i = 0; i < l->nmechs; i++) {
        if (l->mechs[i] == m) {
            return true;
        }
    }
    return false;
}

int bk_sasl_listener_init(struct bk_sasl_listener *l,
                          const char *name,
                          const char *mechanisms,
                          const char *plain_jaas,
                          uint64_t reauth_ms,
                          uint64_t fail_delay_ms,
                          char *err,
                          size_t errlen)
{
    memset(l, 0, sizeof(*l));
    snprintf(l->name, sizeof(l->name), "%s", name);
    l->reauth_ms = reauth_ms;
    l->fail_delay_ms = fail_delay_ms;
    int rv = parse_mechs(l, mechanisms, err, errlen);
    if (rv != 0) {
        return rv;
    }
    if (has_mech(l, BK_SASL_PLAIN)) {
        if (plain_jaas == NULL || plain_jaas[0] == '\0') {
            snprintf(err, errlen,
                     "listener %s: PLAIN is enabled but neither "
                     "listener.name.%s.plain.sasl.jaas.config nor "
                     "sasl.jaas.config gives its users",
                     name, name);
            return BK_ECONFIG;
        }
        char jerr[200];
        rv = bk_jaas_parse(plain_jaas, &l->plain_users, jerr, sizeof(jerr));
        if (rv != 0) {
            snprintf(err, errlen, "listener %s: %s", name, jerr);
            return rv;
        }
    }
    if (RAND_bytes(l->secret, (int)sizeof(l->secret)) != 1) {
        bk_jaas_free(&l->plain_users);
        snprintf(err, errlen, "listener %s: no random bytes", name);
        return BK_ECONFIG;
    }
    return 0;
}

void bk_sasl_listener_free(struct bk_sasl_listener *l)
{
    bk_jaas_free(&l->plain_users);
    memset(l, 0, sizeof(*l));
}
