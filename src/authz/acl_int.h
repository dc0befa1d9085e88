/* The ACL set's layout, shared by the files of src/authz. */
#ifndef BK_AUTHZ_ACL_INT_H
#define BK_AUTHZ_ACL_INT_H

#include <stdatomic.h>

#include "authz/authz.h"

/* Distinct lengths of the PREFIXED names of one resource type, ascending:
 * the only prefixes of a name worth looking up. */
struct bk_acl_lens {
    size_t n;
    size_t *len; /* owned */
};

struct bk_acl_set {
    atomic_long refs;
    size_t n, cap;
    /* Owned ACLs (each one allocation with its strings), sorted by
     * acl_cmp: resource type, pattern type, name, principal, host,
     * operation, permission. */
    struct bk_acl **acls;
    struct bk_acl_lens prefixes[BK_ACL_RES_MAX + 1];
    /* ACLs per resource type, for allow.everyone.if.no.acl.found on
     * bk_authz_any_allowed. */
    size_t per_type[BK_ACL_RES_MAX + 1];
};

/* Index of the first ACL of (res_type, pattern, name) or of where it would
 * be. */
size_t bk_acl_lower(const struct bk_acl_set *s,
                    int res_type,
                    int pattern,
                    const char *name,
                    size_t len);

/* One past the last ACL of (res_type, pattern, name). */
size_t bk_acl_upper(const struct bk_acl_set *s,
                    int res_type,
                    int pattern,
                    const char *name,
                    size_t len);

/* Index of the first ACL in [lo, hi) (ACLs of one resource pattern, so
 * sorted by principal) whose principal is not below principal. */
size_t bk_acl_lower_principal(const struct bk_acl_set *s,
                              size_t lo,
                              size_t hi,
                              const char *principal,
                              size_t len);

/* Whether the ACL at index i is of (res_type, pattern, name). */
bool bk_acl_is(const struct bk_acl_set *s,
               size_t i,
               int res_type,
               int pattern,
               const char *name,
               size_t len);

#endif /* BK_AUTHZ_ACL_INT_H */
