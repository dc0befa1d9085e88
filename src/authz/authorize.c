/* Kafka's StandardAuthorizer decision (StandardAuthorizerData.authorize;
 * security-notes.md §6 and §11). */
#include <stdio.h>
#include <string.h>

#include "authz/acl_int.h"
#include "common/err.h"
#include "common/heap.h"

struct bk_authz {
    bool allow_everyone;
    size_t n_super;
    char **super; /* owned principals of super.users */
};

void bk_authz_free(struct bk_authz *az)
{
    if (az == NULL) {
        return;
    }
    for (size_t i = 0; i < az->n_super; i++) {
        bk_free(az->super[i]);
    }
    bk_free(az->super);
    bk_free(az);
}

static int add_super(struct bk_authz *az, const char *p, size_t len)
{
    while (len > 0 && (*p == ' ' || *p == '\t')) {
        p++;
        len--;
    }
    while (len > 0 && (p[len - 1] == ' ' || p[len - 1] == '\t')) {
        len--;
    }
    if (len == 0) {
        return 0;
    }
    char **grown = bk_realloc(az->super, (az->n_super + 1) * sizeof(*grown));
    if (grown == NULL) {
        return BK_ENOMEM;
    }
    az->super = grown;
    az->super[az->n_super] = bk_strndup(p, len);
    if (az->super[az->n_super] == NULL) {
        return BK_ENOMEM;
    }
    az->n_super++;
    return 0;
}

int bk_authz_new(const char *class_name,
                 const char *super_users,
                 bool allow_everyone_if_no_acl,
                 struct bk_authz **out,
                 char *err,
                 size_t errlen)
{
    *out = NULL;
    if (class_name == NULL || class_name[0] == '\0') {
        return 0;
    }
    if (strcmp(class_name, BK_AUTHZ_CLASS_STANDARD) != 0 &&
        strcmp(class_name, BK_AUTHZ_CLASS_ACL) != 0) {
        snprintf(err, errlen,
                 "authorizer.class.name: unknown authorizer %s (brokerd "
                 "offers " BK_AUTHZ_CLASS_STANDARD ")",
                 class_name);
        return BK_ECONFIG;
    }
    struct bk_authz *az = bk_calloc(1, sizeof(*az));
    if (az == NULL) {
        return BK_ENOMEM;
    }
    az->allow_everyone = allow_everyone_if_no_acl;
    /* Kafka splits super.users on ';' (a principal may contain ','). */
    const char *p = super_users != NULL ? super_users : "";
    while (*p != '\0') {
        const char *end = strchr(p, ';');
        size_t len = end != NULL ? (size_t)(end - p) : strlen(p);
        const char *colon = memchr(p, ':', len);
        if (colon == NULL && len > 0) {
            snprintf(err, errlen,
                     "super.users: %.*s is not a principal (Type:name)",
                     (int)(len > 200 ? 200 : len), p);
            bk_authz_free(az);
            return BK_ECONFIG;
        }
        if (add_super(az, p, len) != 0) {
            bk_authz_free(az);
            return BK_ENOMEM;
        }
        p += len + (end != NULL ? 1 : 0);
    }
    *out = az;
    return 0;
}

static bool is_super(const struct bk_authz *az, const char *principal)
{
    for (size_t i = 0; i < az->n_super; i++) {
        if (strcmp(az->super[i], principal) == 0) {
            return true;
        }
    }
    return false;
}

/* What the ACLs of one resource say for one request. */
struct verdict {
    bool any_acl; /* some ACL applies to the resource, for anyone */
    bool allow;
    bool deny;
};

static bool entry_matches(const struct bk_acl *a,
                          const char *principal,
                          const char *host)
{
    return (strcmp(a->principal, principal) == 0 ||
            strcmp(a->principal, "User:*") == 0) &&
           (strcmp(a->host, "*") == 0 || strcmp(a->host, host) == 0);
}

/* Whether an ALLOW ACL of operation acl_op grants op (implied operations
 * apply to ALLOW only: a DENY READ does not deny DESCRIBE). */
static bool allow_grants(int acl_op, int op)
{
    if (acl_op == BK_ACL_OP_ALL || acl_op == op) {
        return true;
    }
    if (op == BK_ACL_OP_DESCRIBE) {
        return acl_op == BK_ACL_OP_READ || acl_op == BK_ACL_OP_WRITE ||
               acl_op == BK_ACL_OP_DELETE || acl_op == BK_ACL_OP_ALTER;
    }
    if (op == BK_ACL_OP_DESCRIBE_CONFIGS) {
        return acl_op == BK_ACL_OP_ALTER_CONFIGS;
    }
    return false;
}

/* Folds the ACLs of one principal within [lo, hi) into v. */
static void scan_principal(const struct bk_acl_set *s,
                           size_t lo,
                           size_t hi,
                           const char *principal,
                           const char *host,
                           int op,
                           struct verdict *v)
{
    size_t plen = strlen(principal);
    size_t i = bk_acl_lower_principal(s, lo, hi, principal, plen);
    for (; i < hi; i++) {
        const struct bk_acl *a = s->acls[i];
        if (a->principal_len != plen ||
            memcmp(a->principal, principal, plen) != 0) {
            break;
        }
        if (strcmp(a->host, "*") != 0 && strcmp(a->host, host) != 0) {
            continue;
        }
        if (a->perm == BK_ACL_PERM_DENY &&
            (a->op == BK_ACL_OP_ALL || a->op == op)) {
            v->deny = true;
        } else if (a->perm == BK_ACL_PERM_ALLOW && allow_grants(a->op, op)) {
            v->allow = true;
        }
    }
}

/* Folds the ACLs of (res_type, pattern, name) into v. They are sorted by
 * principal, so only the principal's own and User:*'s are looked at: a
 * resource with ACLs for many principals costs two binary searches. */
static void scan(const struct bk_acl_set *s,
                 int res_type,
                 int pattern,
                 const char *name,
                 size_t len,
                 const char *principal,
                 const char *host,
                 int op,
                 struct verdict *v)
{
    size_t lo = bk_acl_lower(s, res_type, pattern, name, len);
    if (!bk_acl_is(s, lo, res_type, pattern, name, len)) {
        return;
    }
    size_t hi = bk_acl_upper(s, res_type, pattern, name, len);
    v->any_acl = true;
    scan_principal(s, lo, hi, principal, host, op, v);
    if (strcmp(principal, "User:*") != 0) {
        scan_principal(s, lo, hi, "User:*", host, op, v);
    }
}

bool bk_authz_allowed(const struct bk_authz *az,
                      const struct bk_acl_set *set,
                      const char *principal,
                      const char *host,
                      int op,
                      int res_type,
                      const char *name,
                      size_t name_len)
{
    if (az == NULL || is_super(az, principal)) {
        return true;
    }
    struct verdict v = { 0 };
    if (set != NULL && res_type >= 0 && res_type <= BK_ACL_RES_MAX) {
        scan(set, res_type, BK_ACL_PAT_LITERAL, name, name_len, principal, host,
             op, &v);
        if (!(name_len == 1 && name[0] == '*')) {
            scan(set, res_type, BK_ACL_PAT_LITERAL, "*", 1, principal, host, op,
                 &v);
        }
        const struct bk_acl_lens *l = &set->prefixes[res_type];
        for (size_t k = 0; k < l->n && l->len[k] <= name_len; k++) {
            scan(set, res_type, BK_ACL_PAT_PREFIXED, name, l->len[k], principal,
                 host, op, &v);
        }
    }
    if (v.deny) {
        return false;
    }
    if (v.allow) {
        return true;
    }
    return !v.any_acl && az->allow_everyone;
}

bool bk_authz_any_allowed(const struct bk_authz *az,
                          const struct bk_acl_set *set,
                          const char *principal,
                          const char *host,
                          int op,
                          int res_type)
{
    if (az == NULL || is_super(az, principal)) {
        return true;
    }
    if (set == NULL || res_type < 0 || res_type > BK_ACL_RES_MAX ||
        set->per_type[res_type] == 0) {
        return az->allow_everyone;
    }
    /* A DENY on every name of the type wins over any ALLOW. */
    struct verdict all = { 0 };
    scan(set, res_type, BK_ACL_PAT_LITERAL, "*", 1, principal, host, op, &all);
    scan(set, res_type, BK_ACL_PAT_PREFIXED, "", 0, principal, host, op, &all);
    if (all.deny) {
        return false;
    }
    for (size_t i = 0; i < set->n; i++) {
        const struct bk_acl *a = set->acls[i];
        if (a->res_type == res_type && a->perm == BK_ACL_PERM_ALLOW &&
            allow_grants(a->op, op) && entry_matches(a, principal, host)) {
            return true;
        }
    }
    return false;
}

int32_t bk_authz_supported_ops(int res_type)
{
    static const int ops[][9] = {
        [BK_ACL_RES_TOPIC] = { BK_ACL_OP_READ, BK_ACL_OP_WRITE,
                               BK_ACL_OP_CREATE, BK_ACL_OP_DELETE,
                               BK_ACL_OP_ALTER, BK_ACL_OP_DESCRIBE,
                               BK_ACL_OP_DESCRIBE_CONFIGS,
                               BK_ACL_OP_ALTER_CONFIGS },
        [BK_ACL_RES_GROUP] = { BK_ACL_OP_READ, BK_ACL_OP_DELETE,
                               BK_ACL_OP_DESCRIBE, BK_ACL_OP_DESCRIBE_CONFIGS,
                               BK_ACL_OP_ALTER_CONFIGS },
        [BK_ACL_RES_CLUSTER] = { BK_ACL_OP_CREATE, BK_ACL_OP_ALTER,
                                 BK_ACL_OP_DESCRIBE, BK_ACL_OP_CLUSTER_ACTION,
                                 BK_ACL_OP_DESCRIBE_CONFIGS,
                                 BK_ACL_OP_ALTER_CONFIGS,
                                 BK_ACL_OP_IDEMPOTENT_WRITE },
        [BK_ACL_RES_TRANSACTIONAL_ID] = { BK_ACL_OP_WRITE, BK_ACL_OP_DESCRIBE },
        [BK_ACL_RES_DELEGATION_TOKEN] = { BK_ACL_OP_DESCRIBE },
        [BK_ACL_RES_USER] = { BK_ACL_OP_CREATE_TOKENS,
                              BK_ACL_OP_DESCRIBE_TOKENS },
    };
    if (res_type < 0 || res_type > BK_ACL_RES_MAX) {
        return 0;
    }
    int32_t bits = 0;
    for (int i = 0; i < 9 && ops[res_type][i] != 0; i++) {
        bits |= (int32_t)1 << ops[res_type][i];
    }
    return bits;
}

int32_t bk_authz_operations(const struct bk_authz *az,
                            const struct bk_acl_set *set,
                            const char *principal,
                            const char *host,
                            int res_type,
                            const char *name,
                            size_t name_len)
{
    int32_t supported = bk_authz_supported_ops(res_type);
    int32_t bits = 0;
    for (int op = BK_ACL_OP_READ; op <= BK_ACL_OP_MAX; op++) {
        if ((supported & ((int32_t)1 << op)) != 0 &&
            bk_authz_allowed(az, set, principal, host, op, res_type, name,
                             name_len)) {
            bits |= (int32_t)1 << op;
        }
    }
    return bits;
}
