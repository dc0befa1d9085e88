/* ssl.principal.mapping.rules, as Kafka's SslPrincipalMapper reads and
 * applies them (KIP-371): a list of DEFAULT or RULE:pattern/replacement/
 * [L|U]; the first rule whose pattern matches the whole DN gives the
 * name, DEFAULT gives the DN itself, and no match fails the connection.
 *
 * Kafka compiles the patterns as Java regular expressions; brokerd uses
 * POSIX extended ones (regcomp), which cover the usual rules (anchors,
 * groups, classes) but have no lazy quantifiers: `(.*?)` is greedy here.
 * docs/security.md says so. */
#include <ctype.h>
#include <regex.h>
#include <stdio.h>
#include <string.h>

#include "common/heap.h"
#include "security/principal.h"

#define MAX_RULES 32
#define MAX_PART  512

struct rule {
    bool is_default;
    regex_t re;
    char replacement[MAX_PART];
    char fold; /* 'L', 'U' or 0 */
};

struct bk_principal_rules {
    struct rule rules[MAX_RULES];
    unsigned n;
};

/* Copies text up to the next unescaped '/' into part (escapes kept, for
 * the regex or the replacement to read). Returns the position after the
 * '/', or NULL when there is none or part is too small. */
static const char *take_part(const char *p, char *part)
{
    size_t k = 0;
    while (*p != '\0' && *p != '/') {
        size_t n = (*p == '\\' && p[1] != '\0') ? 2 : 1;
        if (k + n >= MAX_PART) {
            return NULL;
        }
        memcpy(part + k, p, n);
        k += n;
        p += n;
    }
    part[k] = '\0';
    return *p == '/' ? p + 1 : NULL;
}

/* "\/" in a pattern is a literal '/', which POSIX spells without the
 * backslash ("\/" is undefined there). */
static void unescape_slashes(char *s)
{
    char *w = s;
    for (const char *r = s; *r != '\0'; r++) {
        if (r[0] == '\\' && r[1] == '/') {
            continue;
        }
        *w++ = *r;
    }
    *w = '\0';
}

/* Refuses a quantifier right after another one, other than one '?'
 * (Java's lazy `*?`, greedy here): Java reads `a++` as possessive, POSIX
 * leaves it undefined, and glibc builds an automaton for stacked
 * repetitions that can take gigabytes. Bracket expressions and escapes
 * are skipped. */
static bool stacked_quantifiers(const char *re)
{
    int run = 0; /* quantifiers in a row, a lazy '?' counted as two */
    for (const char *p = re; *p != '\0'; p++) {
        if (*p == '\\' && p[1] != '\0') {
            p++;
            run = 0;
        } else if (*p == '[') {
            p += p[1] == '^' ? 2 : 1;
            p += *p == ']' ? 1 : 0;
            while (*p != '\0' && *p != ']') {
                p++;
            }
            if (*p == '\0') {
                return false; /* regcomp reports it */
            }
            run = 0;
        } else if (*p == '*' || *p == '+' || *p == '{') {
            if (run > 0) {
                return true;
            }
            run = 1;
            if (*p == '{') { /* to the closing brace */
                while (p[1] != '\0' && *p != '}') {
                    p++;
                }
            }
        } else if (*p == '?') {
            if (run > 1) {
                return true;
            }
            run = run == 1 ? 2 : 1;
        } else {
            run = 0;
        }
    }
    return false;
}

/* Parses one RULE:... at p into r; returns the position after it (at the
 * separating ',' or the end), or NULL. */
static const char *parse_rule(const char *p, struct rule *r)
{
    char pattern[MAX_PART + 2];
    p = take_part(p + 5, pattern + 1);
    if (p == NULL) {
        return NULL;
    }
    p = take_part(p, r->replacement);
    if (p == NULL) {
        return NULL;
    }
    if (*p == 'L' || *p == 'U') {
        r->fold = *p++;
    }
    unescape_slashes(pattern + 1);
    if (stacked_quantifiers(pattern + 1)) {
        return NULL;
    }
    /* Java's matches() wants the whole DN: anchor the pattern. */
    char anchored[MAX_PART + 8];
    snprintf(anchored, sizeof(anchored), "^(%s)$", pattern + 1);
    if (regcomp(&r->re, anchored, REG_EXTENDED) != 0) {
        return NULL;
    }
    /* Kafka ignores what follows the flag up to the next ','. */
    while (*p != '\0' && *p != ',') {
        p++;
    }
    return p;
}

int bk_principal_rules_parse(const char *text,
                             struct bk_principal_rules **out,
                             char *err,
                             size_t errlen)
{
    struct bk_principal_rules *rs = bk_calloc(1, sizeof(*rs));
    if (rs == NULL) {
        return BK_ENOMEM;
    }
    const char *p = text;
    for (;;) {
        while (isspace((unsigned char)*p)) {
            p++;
        }
        if (*p == '\0') {
            break;
        }
        struct rule *r = &rs->rules[rs->n];
        const char *next = NULL;
        if (rs->n == MAX_RULES) {
            next = NULL;
        } else if (strncmp(p, "DEFAULT", 7) == 0) {
            r->is_default = true;
            next = p + 7;
            while (isspace((unsigned char)*next)) {
                next++;
            }
            if (*next != '\0' && *next != ',') {
                next = NULL;
            }
        } else if (strncmp(p, "RULE:", 5) == 0) {
            next = parse_rule(p, r);
        }
        if (next == NULL) {
            snprintf(err, errlen,
                     "ssl.principal.mapping.rules: invalid rule at '%.64s' "
                     "(expected DEFAULT or RULE:pattern/replacement/[LU], "
                     "at most %d)",
                     p, MAX_RULES);
            bk_principal_rules_free(rs);
            return BK_ECONFIG;
        }
        rs->n++;
        p = *next == ',' ? next + 1 : next;
    }
    if (rs->n == 0) {
        rs->rules[0].is_default = true;
        rs->n = 1;
    }
    *out = rs;
    return 0;
}

void bk_principal_rules_free(struct bk_principal_rules *r)
{
    if (r == NULL) {
        return;
    }
    for (unsigned i = 0; i < r->n; i++) {
        if (!r->rules[i].is_default) {
            regfree(&r->rules[i].re);
        }
    }
    bk_free(r);
}

/* Writes the replacement with $1..$9 taken from the match ($0 is the
 * whole DN) and '\x' as a literal x, folded as the rule says. The
 * pattern's own groups are numbered from 2, behind the anchoring group. */
static int expand(const struct rule *r,
                  const char *dn,
                  const regmatch_t *m,
                  char *out,
                  size_t outlen)
{
    size_t k = 0;
    for (const char *s = r->replacement; *s != '\0'; s++) {
        const char *src = s;
        size_t n = 1;
        if (s[0] == '\\' && s[1] != '\0') {
            src = ++s;
        } else if (s[0] == '$' && isdigit((unsigned char)s[1])) {
            int g = s[1] - '0';
            const regmatch_t *gm = &m[g == 0 ? 0 : g + 1];
            s++;
            if (gm->rm_so < 0) {
                continue;
            }
            src = dn + gm->rm_so;
            n = (size_t)(gm->rm_eo - gm->rm_so);
        }
        if (k + n >= outlen) {
            return BK_ERANGE;
        }
        memcpy(out + k, src, n);
        k += n;
    }
    out[k] = '\0';
    for (char *c = out; *c != '\0'; c++) {
        if (r->fold == 'L') {
            *c = (char)tolower((unsigned char)*c);
        } else if (r->fold == 'U') {
            *c = (char)toupper((unsigned char)*c);
        }
    }
    return 0;
}

int bk_principal_map(const struct bk_principal_rules *rs,
                     const char *dn,
                     char *out,
                     size_t outlen)
{
    static const char prefix[] = "User:";
    if (outlen <= sizeof(prefix)) {
        return BK_ERANGE;
    }
    memcpy(out, prefix, sizeof(prefix));
    char *name = out + sizeof(prefix) - 1;
    size_t room = outlen - (sizeof(prefix) - 1);
    for (unsigned i = 0; i < rs->n; i++) {
        const struct rule *r = &rs->rules[i];
        if (r->is_default) {
            if (strlen(dn) >= room) {
                return BK_ERANGE;
            }
            strcpy(name, dn);
            return 0;
        }
        regmatch_t m[11];
        if (regexec(&r->re, dn, 11, m, 0) == 0) {
            return expand(r, dn, m, name, room);
        }
    }
    return BK_ENOTFOUND;
}
