/* ACL filters of DescribeAcls and DeleteAcls, the checks of CreateAcls,
 * and the names of the codes. */
#include <ctype.h>
#include <string.h>
#include <strings.h>

#include "authz/authz.h"

static bool bytes_eq(const char *a, size_t alen, const char *b, size_t blen)
{
    return alen == blen && (alen == 0 || memcmp(a, b, alen) == 0);
}

/* Kafka's ResourcePatternFilter.matches. */
static bool pattern_matches(const struct bk_acl_filter *f,
                            const struct bk_acl *a)
{
    if (f->res_type != BK_ACL_RES_ANY && f->res_type != a->res_type) {
        return false;
    }
    if (f->pattern != BK_ACL_PAT_ANY && f->pattern != BK_ACL_PAT_MATCH &&
        f->pattern != a->pattern) {
        return false;
    }
    if (f->name == NULL) {
        return true;
    }
    if (f->pattern == BK_ACL_PAT_ANY || f->pattern == a->pattern) {
        return bytes_eq(f->name, f->name_len, a->name, a->name_len);
    }
    /* MATCH: every ACL that would apply to a resource of that name. */
    if (a->pattern == BK_ACL_PAT_LITERAL) {
        return bytes_eq(f->name, f->name_len, a->name, a->name_len) ||
               bytes_eq(a->name, a->name_len, "*", 1);
    }
    return a->name_len <= f->name_len &&
           (a->name_len == 0 || memcmp(f->name, a->name, a->name_len) == 0);
}

bool bk_acl_filter_matches(const struct bk_acl_filter *f,
                           const struct bk_acl *a)
{
    return pattern_matches(f, a) &&
           (f->principal == NULL || bytes_eq(f->principal, f->principal_len,
                                             a->principal, a->principal_len)) &&
           (f->host == NULL ||
            bytes_eq(f->host, f->host_len, a->host, a->host_len)) &&
           (f->op == BK_ACL_OP_ANY || f->op == a->op) &&
           (f->perm == BK_ACL_PERM_ANY || f->perm == a->perm);
}

const char *bk_acl_invalid(const struct bk_acl *a)
{
    if (a->res_type <= BK_ACL_RES_ANY || a->res_type > BK_ACL_RES_MAX) {
        return "Invalid resourceType";
    }
    if (a->pattern != BK_ACL_PAT_LITERAL && a->pattern != BK_ACL_PAT_PREFIXED) {
        return "Invalid patternType";
    }
    if (a->op <= BK_ACL_OP_ANY || a->op > BK_ACL_OP_MAX) {
        return "Invalid operation";
    }
    if (a->perm != BK_ACL_PERM_ALLOW && a->perm != BK_ACL_PERM_DENY) {
        return "Invalid permissionType";
    }
    if (a->name_len == 0) {
        return "Invalid empty resource name";
    }
    if (a->res_type == BK_ACL_RES_CLUSTER &&
        !bytes_eq(a->name, a->name_len, BK_ACL_CLUSTER_NAME,
                  strlen(BK_ACL_CLUSTER_NAME))) {
        return "The only valid name for the CLUSTER resource is "
               "kafka-cluster";
    }
    const char *colon = a->principal_len > 0
                            ? memchr(a->principal, ':', a->principal_len)
                            : NULL;
    if (colon == NULL) {
        return "Could not parse principal (no colon is present separating "
               "the principal type from the principal name)";
    }
    if (colon == a->principal || colon == a->principal + a->principal_len - 1) {
        return "Could not parse principal (empty principal type or name)";
    }
    if (a->host_len == 0) {
        return "Invalid empty host";
    }
    return NULL;
}

const char *bk_acl_filter_invalid(const struct bk_acl_filter *f)
{
    if (f->res_type <= BK_ACL_RES_UNKNOWN || f->res_type > BK_ACL_RES_MAX) {
        return "Filter contains an unknown resource type";
    }
    if (f->pattern <= BK_ACL_PAT_UNKNOWN || f->pattern > BK_ACL_PAT_PREFIXED) {
        return "Filter contains an unknown pattern type";
    }
    if (f->op <= BK_ACL_OP_UNKNOWN || f->op > BK_ACL_OP_MAX) {
        return "Filter contains an unknown operation";
    }
    if (f->perm <= BK_ACL_PERM_UNKNOWN || f->perm > BK_ACL_PERM_ALLOW) {
        return "Filter contains an unknown permission type";
    }
    return NULL;
}

/* ---- names ------------------------------------------------------------ */

static const char *const res_names[] = {
    "UNKNOWN",          "ANY",  "TOPIC", "GROUP", "CLUSTER", "TRANSACTIONAL_ID",
    "DELEGATION_TOKEN", "USER",
};
static const char *const pat_names[] = { "UNKNOWN", "ANY", "MATCH", "LITERAL",
                                         "PREFIXED" };
static const char *const op_names[] = {
    "UNKNOWN",
    "ANY",
    "ALL",
    "READ",
    "WRITE",
    "CREATE",
    "DELETE",
    "ALTER",
    "DESCRIBE",
    "CLUSTER_ACTION",
    "DESCRIBE_CONFIGS",
    "ALTER_CONFIGS",
    "IDEMPOTENT_WRITE",
    "CREATE_TOKENS",
    "DESCRIBE_TOKENS",
};
static const char *const perm_names[] = { "UNKNOWN", "ANY", "DENY", "ALLOW" };

#define COUNT(a) ((int)(sizeof(a) / sizeof((a)[0])))

static const char *name_of(const char *const *names, int n, int code)
{
    return code >= 0 && code < n ? names[code] : "UNKNOWN";
}

/* Compares ignoring case, with '-' and '_' alike. */
static bool name_eq(const char *want, const char *got)
{
    for (; *want != '\0' && *got != '\0'; want++, got++) {
        char g = *got == '-' ? '_' : (char)toupper((unsigned char)*got);
        if (g != *want) {
            return false;
        }
    }
    return *want == '\0' && *got == '\0';
}

static int code_of(const char *const *names, int n, const char *name)
{
    for (int i = 1; i < n; i++) {
        if (name_eq(names[i], name)) {
            return i;
        }
    }
    return -1;
}

const char *bk_acl_res_name(int code)
{
    return name_of(res_names, COUNT(res_names), code);
}

const char *bk_acl_pat_name(int code)
{
    return name_of(pat_names, COUNT(pat_names), code);
}

const char *bk_acl_op_name(int code)
{
    return name_of(op_names, COUNT(op_names), code);
}

const char *bk_acl_perm_name(int code)
{
    return name_of(perm_names, COUNT(perm_names), code);
}

int bk_acl_res_code(const char *name)
{
    return code_of(res_names, COUNT(res_names), name);
}

int bk_acl_pat_code(const char *name)
{
    return code_of(pat_names, COUNT(pat_names), name);
}

int bk_acl_op_code(const char *name)
{
    return code_of(op_names, COUNT(op_names), name);
}

int bk_acl_perm_code(const char *name)
{
    return code_of(perm_names, COUNT(perm_names), name);
}
