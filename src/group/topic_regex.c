/* Regex subscriptions of KIP-848 members (SubscribedTopicRegex); see
 * consumer.h. Kafka evaluates them with RE2/J and requires a match of the
 * whole topic name; here they are POSIX extended expressions, anchored,
 * with the shorthands RE2 has and POSIX lacks mapped first. */
#include <regex.h>
#include <stdlib.h>
#include <string.h>

#include "common/err.h"
#include "common/heap.h"
#include "group/group_int.h"

struct bk_cgroup_re {
    regex_t re;
};

/* "^(" + pattern + ")$" with \d -> [0-9] and \D -> [^0-9] (inside a
 * bracket expression \d -> 0-9). Returns NULL when out of memory. */
static char *translate(struct bk_str p)
{
    size_t n = (size_t)p.len;
    char *out = bk_malloc(n * 5 + 8);
    if (out == NULL) {
        return NULL;
    }
    size_t k = 0;
    out[k++] = '^';
    out[k++] = '(';
    bool bracket = false;
    for (size_t i = 0; i < n; i++) {
        char c = p.ptr[i];
        if (c == '\\' && i + 1 < n) {
            char d = p.ptr[i + 1];
            if (d == 'd' || d == 'D') {
                const char *rep = bracket    ? "0-9"
                                  : d == 'd' ? "[0-9]"
                                             : "[^0-9]";
                size_t rl = strlen(rep);
                memcpy(out + k, rep, rl);
                k += rl;
                i++;
                continue;
            }
            out[k++] = c;
            out[k++] = d;
            i++;
            continue;
        }
        if (c == '[' && !bracket) {
            bracket = true;
        } else if (c == ']' && bracket && k > 0 && out[k - 1] != '[') {
            bracket = false;
        }
        out[k++] = c;
    }
    out[k++] = ')';
    out[k++] = '$';
    out[k] = '\0';
    return out;
}

static void free_resolved(struct bk_cmember *m)
{
    for (size_t i = 0; i < m->nresolved; i++) {
        bk_free(m->resolved[i]);
    }
    bk_free(m->resolved);
    m->resolved = NULL;
    m->nresolved = 0;
}

void bk_ci_regex_free(struct bk_cmember *m)
{
    if (m->re != NULL) {
        regfree(&m->re->re);
        bk_free(m->re);
        m->re = NULL;
    }
    bk_free(m->regex);
    m->regex = NULL;
    free_resolved(m);
}

int bk_ci_set_regex(struct bk_cmember *m, struct bk_str pattern)
{
    if (pattern.len <= 0) {
        bk_ci_regex_free(m);
        return 0;
    }
    if (m->regex != NULL && bk_str_eq_c(pattern, m->regex)) {
        return 0;
    }
    char *src = bk_strndup(pattern.ptr, (size_t)pattern.len);
    char *x = translate(pattern);
    struct bk_cgroup_re *re = bk_calloc(1, sizeof(*re));
    if (src == NULL || x == NULL || re == NULL) {
        bk_free(src);
        bk_free(x);
        bk_free(re);
        return BK_ENOMEM;
    }
    int rc = regcomp(&re->re, x, REG_EXTENDED | REG_NOSUB);
    bk_free(x);
    if (rc != 0) {
        bk_free(src);
        bk_free(re);
        return BK_EINVAL;
    }
    bk_ci_regex_free(m);
    m->regex = src;
    m->re = re;
    return 0;
}

struct resolve_ctx {
    struct bk_cmember *m;
    size_t cap;
    bool failed;
};

static void on_topic(void *arg, const char *name)
{
    struct resolve_ctx *c = arg;
    struct bk_cmember *m = c->m;
    /* Internal topics are never subscribed by pattern (Kafka's
     * exclude.internal.topics, and the coordinator skips them too). */
    if (c->failed || strncmp(name, "__", 2) == 0 ||
        regexec(&m->re->re, name, 0, NULL, 0) != 0) {
        return;
    }
    if (m->nresolved == c->cap) {
        size_t cap = c->cap ? c->cap * 2 : 8;
        char **v = bk_realloc(m->resolved, cap * sizeof(*v));
        if (v == NULL) {
            c->failed = true;
            return;
        }
        m->resolved = v;
        c->cap = cap;
    }
    m->resolved[m->nresolved] = bk_strdup(name);
    if (m->resolved[m->nresolved] == NULL) {
        c->failed = true;
        return;
    }
    m->nresolved++;
}

void bk_ci_resolve_regex(struct bk_group_registry *r, struct bk_cmember *m)
{
    if (m->re == NULL) {
        return;
    }
    free_resolved(m);
    if (r->hooks.topic_each == NULL) {
        return;
    }
    struct resolve_ctx c = { m, 0, false };
    r->hooks.topic_each(r->hooks.data, on_topic, &c);
}
