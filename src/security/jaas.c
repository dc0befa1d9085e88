/* Kafka's sasl.jaas.config property: one JAAS login module entry.
 *
 * Kafka parses it with Java's StreamTokenizer (JaasConfig.java): words,
 * quoted strings, '=' and ';' as single characters, and both comment
 * styles. Words here are letters, digits and "._$-" (a class name is one
 * word, dots included); a value with any other character must be quoted,
 * as Kafka's documentation always writes it. Error messages name the
 * position and the option key but never a value: values are passwords. */
#include <stdio.h>
#include <string.h>

#include "common/heap.h"
#include "security/sasl.h"

enum tok_kind { TOK_END, TOK_WORD, TOK_QUOTED, TOK_CHAR, TOK_BAD };

struct lexer {
    const char *p;
    char *buf; /* owned: the last word or quoted string */
    size_t len, cap;
    int ch; /* TOK_CHAR's character */
};

static bool is_word(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
           (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '$' ||
           c == '-' || c >= 0x80;
}

static bool push(struct lexer *lx, char c)
{
    if (lx->len + 1 >= lx->cap) {
        size_t cap = lx->cap == 0 ? 64 : lx->cap * 2;
        char *grown = bk_realloc(lx->buf, cap);
        if (grown == NULL) {
            return false;
        }
        lx->buf = grown;
        lx->cap = cap;
    }
    lx->buf[lx->len++] = c;
    lx->buf[lx->len] = '\0';
    return true;
}

/* Skips blanks and comments; false for an unterminated comment. */
static bool skip_space(struct lexer *lx)
{
    for (;;) {
        unsigned char c = (unsigned char)*lx->p;
        if (c != '\0' && c <= ' ') {
            lx->p++;
        } else if (c == '/' && lx->p[1] == '/') {
            while (*lx->p != '\0' && *lx->p != '\n') {
                lx->p++;
            }
        } else if (c == '/' && lx->p[1] == '*') {
            const char *end = strstr(lx->p + 2, "*/");
            if (end == NULL) {
                return false;
            }
            lx->p = end + 2;
        } else {
            return true;
        }
    }
}

static enum tok_kind quoted(struct lexer *lx)
{
    char q = *lx->p++;
    while (*lx->p != q) {
        char c = *lx->p;
        if (c == '\0') {
            return TOK_BAD;
        }
        if (c == '\\' && lx->p[1] != '\0') {
            lx->p++;
            c = *lx->p;
        }
        if (!push(lx, c)) {
            return TOK_BAD;
        }
        lx->p++;
    }
    lx->p++;
    return TOK_QUOTED;
}

static enum tok_kind next(struct lexer *lx)
{
    lx->len = 0;
    if (lx->buf != NULL) {
        lx->buf[0] = '\0';
    }
    if (!skip_space(lx)) {
        return TOK_BAD;
    }
    unsigned char c = (unsigned char)*lx->p;
    if (c == '\0') {
        return TOK_END;
    }
    if (c == '"' || c == '\'') {
        return quoted(lx);
    }
    if (is_word(c)) {
        while (is_word((unsigned char)*lx->p)) {
            if (!push(lx, *lx->p++)) {
                return TOK_BAD;
            }
        }
        return TOK_WORD;
    }
    lx->ch = c;
    lx->p++;
    return TOK_CHAR;
}

static char *take(struct lexer *lx)
{
    return bk_strdup(lx->buf != NULL ? lx->buf : "");
}

static int add_opt(struct bk_jaas *j, char *key, char *value)
{
    struct bk_jaas_opt *grown =
        bk_realloc(j->opts, (j->n + 1) * sizeof(*j->opts));
    if (grown == NULL) {
        bk_free(key);
        bk_free(value);
        return BK_ENOMEM;
    }
    j->opts = grown;
    j->opts[j->n].key = key;
    j->opts[j->n].value = value;
    j->n++;
    return 0;
}

static bool is_flag(const char *s)
{
    return strcmp(s, "required") == 0 || strcmp(s, "requisite") == 0 ||
           strcmp(s, "sufficient") == 0 || strcmp(s, "optional") == 0;
}

/* The options after the flag, up to the ';'. */
static int parse_opts(struct lexer *lx,
                      struct bk_jaas *j,
                      char *err,
                      size_t errlen)
{
    for (;;) {
        enum tok_kind t = next(lx);
        if (t == TOK_CHAR && lx->ch == ';') {
            break;
        }
        if (t != TOK_WORD) {
            snprintf(err, errlen,
                     "sasl.jaas.config: expected an option name or ';'");
            return BK_ECONFIG;
        }
        char *key = take(lx);
        if (key == NULL) {
            return BK_ENOMEM;
        }
        if (next(lx) != TOK_CHAR || lx->ch != '=') {
            snprintf(err, errlen, "sasl.jaas.config: expected '=' after %s",
                     key);
            bk_free(key);
            return BK_ECONFIG;
        }
        t = next(lx);
        if (t != TOK_WORD && t != TOK_QUOTED) {
            snprintf(err, errlen,
                     "sasl.jaas.config: the value of %s must be a word or "
                     "a quoted string",
                     key);
            bk_free(key);
            return BK_ECONFIG;
        }
        char *value = take(lx);
        if (value == NULL) {
            bk_free(key);
            return BK_ENOMEM;
        }
        int rv = add_opt(j, key, value);
        if (rv != 0) {
            return rv;
        }
    }
    if (next(lx) != TOK_END) {
        snprintf(err, errlen,
                 "sasl.jaas.config: one login module only (text after ';')");
        return BK_ECONFIG;
    }
    return 0;
}

int bk_jaas_parse(const char *text,
                  struct bk_jaas *out,
                  char *err,
                  size_t errlen)
{
    memset(out, 0, sizeof(*out));
    struct lexer lx = { .p = text };
    int rv = BK_ECONFIG;
    if (next(&lx) != TOK_WORD) {
        snprintf(err, errlen, "sasl.jaas.config: expected a login module");
        goto done;
    }
    if ((out->module = take(&lx)) == NULL) {
        rv = BK_ENOMEM;
        goto done;
    }
    if (next(&lx) != TOK_WORD || !is_flag(lx.buf)) {
        snprintf(err, errlen,
                 "sasl.jaas.config: expected a control flag (required, "
                 "requisite, sufficient or optional) after %s",
                 out->module);
        goto done;
    }
    if ((out->flag = take(&lx)) == NULL) {
        rv = BK_ENOMEM;
        goto done;
    }
    rv = parse_opts(&lx, out, err, errlen);
done:
    bk_free(lx.buf);
    if (rv != 0) {
        bk_jaas_free(out);
    }
    return rv;
}

void bk_jaas_free(struct bk_jaas *j)
{
    for (size_t i = 0; i < j->n; i++) {
        bk_free(j->opts[i].key);
        bk_free(j->opts[i].value);
    }
    bk_free(j->opts);
    bk_free(j->module);
    bk_free(j->flag);
    memset(j, 0, sizeof(*j));
}

const char *bk_jaas_get(const struct bk_jaas *j, const char *key)
{
    /* The last one wins, as in a Java Map built option by option. */
    const char *v = NULL;
    for (size_t i = 0; i < j->n; i++) {
        if (strcmp(j->opts[i].key, key) == 0) {
            v = j->opts[i].value;
        }
    }
    return v;
}
