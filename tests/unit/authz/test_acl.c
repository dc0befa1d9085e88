/* ACL matching as Kafka's StandardAuthorizer decides (security-notes.md
 * §6, §11): literal, wildcard and prefixed patterns, principals and hosts
 * with their wildcards, deny beating allow, implied operations, super
 * users, allow.everyone.if.no.acl.found, and the filters of DescribeAcls
 * and DeleteAcls. */
/* cmocka.h needs these headers first. */
/* clang-format off */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
/* clang-format on */
#include <stdio.h>
#include <string.h>

#include "authz/authz.h"
#include "common/err.h"

static unsigned next_id;

static struct bk_acl acl(int res,
                         int pat,
                         const char *name,
                         const char *principal,
                         const char *host,
                         int op,
                         int perm)
{
    struct bk_acl a = { .res_type = (int8_t)res,
                        .pattern = (int8_t)pat,
                        .op = (int8_t)op,
                        .perm = (int8_t)perm,
                        .name = name,
                        .name_len = strlen(name),
                        .principal = principal,
                        .principal_len = strlen(principal),
                        .host = host,
                        .host_len = strlen(host) };
    memset(a.id, 0, sizeof(a.id));
    ++next_id;
    a.id[0] = (uint8_t)next_id;
    a.id[1] = (uint8_t)(next_id >> 8);
    return a;
}

static void add(struct bk_acl_set *s, struct bk_acl a)
{
    assert_int_equal(bk_acl_set_add(s, &a), 0);
}

static struct bk_authz *authz(const char *supers, bool everyone)
{
    struct bk_authz *az = NULL;
    char err[256];
    assert_int_equal(bk_authz_new(BK_AUTHZ_CLASS_STANDARD, supers, everyone,
                                  &az, err, sizeof(err)),
                     0);
    assert_non_null(az);
    return az;
}

static bool topic_ok(const struct bk_authz *az,
                     const struct bk_acl_set *s,
                     const char *who,
                     int op,
                     const char *topic)
{
    return bk_authz_allowed(az, s, who, "10.0.0.1", op, BK_ACL_RES_TOPIC, topic,
                            strlen(topic));
}

#define ALICE "User:CN=alice"
#define BOB   "User:CN=bob"

static void test_literal_and_no_acls(void **state)
{
    (void)state;
    struct bk_acl_set *s = bk_acl_set_new();
    struct bk_authz *az = authz("", false);
    /* No ACL at all: denied (allow.everyone.if.no.acl.found=false). */
    assert_false(topic_ok(az, s, ALICE, BK_ACL_OP_READ, "t"));
    /* No authorizer: everything passes. */
    assert_true(topic_ok(NULL, s, ALICE, BK_ACL_OP_READ, "t"));
    add(s, acl(BK_ACL_RES_TOPIC, BK_ACL_PAT_LITERAL, "t", ALICE, "*",
               BK_ACL_OP_READ, BK_ACL_PERM_ALLOW));
    assert_true(topic_ok(az, s, ALICE, BK_ACL_OP_READ, "t"));
    assert_false(topic_ok(az, s, ALICE, BK_ACL_OP_WRITE, "t"));
    assert_false(topic_ok(az, s, BOB, BK_ACL_OP_READ, "t"));
    assert_false(topic_ok(az, s, ALICE, BK_ACL_OP_READ, "t2"));
    assert_false(topic_ok(az, s, ALICE, BK_ACL_OP_READ, "tt"));
    /* Another resource type of the same name is another resource. */
    assert_false(bk_authz_allowed(az, s, ALICE, "h", BK_ACL_OP_READ,
                                  BK_ACL_RES_GROUP, "t", 1));
    bk_authz_free(az);
    bk_acl_set_release(s);
}

static void test_allow_everyone(void **state)
{
    (void)state;
    struct bk_acl_set *s = bk_acl_set_new();
    struct bk_authz *az = authz("", true);
    assert_true(topic_ok(az, s, ALICE, BK_ACL_OP_WRITE, "t"));
    /* Once any ACL applies to the resource, for anyone, the flag is out. */
    add(s, acl(BK_ACL_RES_TOPIC, BK_ACL_PAT_PREFIXED, "t", BOB, "*",
               BK_ACL_OP_READ, BK_ACL_PERM_ALLOW));
    assert_false(topic_ok(az, s, ALICE, BK_ACL_OP_WRITE, "t1"));
    assert_true(topic_ok(az, s, ALICE, BK_ACL_OP_WRITE, "x"));
    bk_authz_free(az);
    bk_acl_set_release(s);
}

static void test_wildcards(void **state)
{
    (void)state;
    struct bk_acl_set *s = bk_acl_set_new();
    struct bk_authz *az = authz("", false);
    add(s, acl(BK_ACL_RES_TOPIC, BK_ACL_PAT_LITERAL, "*", "User:*", "*",
               BK_ACL_OP_DESCRIBE, BK_ACL_PERM_ALLOW));
    add(s, acl(BK_ACL_RES_GROUP, BK_ACL_PAT_LITERAL, "g", ALICE, "10.0.0.2",
               BK_ACL_OP_READ, BK_ACL_PERM_ALLOW));
    assert_true(topic_ok(az, s, ALICE, BK_ACL_OP_DESCRIBE, "any"));
    assert_true(topic_ok(az, s, BOB, BK_ACL_OP_DESCRIBE, "*"));
    assert_false(topic_ok(az, s, BOB, BK_ACL_OP_READ, "any"));
    /* Hosts are compared as text; only "*" is a wildcard. */
    assert_true(bk_authz_allowed(az, s, ALICE, "10.0.0.2", BK_ACL_OP_READ,
                                 BK_ACL_RES_GROUP, "g", 1));
    assert_false(bk_authz_allowed(az, s, ALICE, "10.0.0.1", BK_ACL_OP_READ,
                                  BK_ACL_RES_GROUP, "g", 1));
    /* "*" is a wildcard only as a LITERAL name, and a prefixed ACL named
     * "*" applies only to names starting with '*'. */
    add(s, acl(BK_ACL_RES_TOPIC, BK_ACL_PAT_PREFIXED, "*", BOB, "*",
               BK_ACL_OP_WRITE, BK_ACL_PERM_ALLOW));
    assert_false(topic_ok(az, s, BOB, BK_ACL_OP_WRITE, "x"));
    assert_true(topic_ok(az, s, BOB, BK_ACL_OP_WRITE, "*x"));
    bk_authz_free(az);
    bk_acl_set_release(s);
}

/* Many principals on one resource: each check looks at the principal's
 * own ACLs and User:*'s only (binary searches), and still sees them all. */
static void test_many_principals(void **state)
{
    (void)state;
    struct bk_acl_set *s = bk_acl_set_new();
    struct bk_authz *az = authz("", false);
    static char names[300][32];
    for (int i = 0; i < 300; i++) {
        snprintf(names[i], sizeof(names[i]), "User:CN=u%03d", i);
        int op = i % 2 == 0 ? BK_ACL_OP_READ : BK_ACL_OP_WRITE;
        add(s, acl(BK_ACL_RES_TOPIC, BK_ACL_PAT_PREFIXED, "t-", names[i],
                   i == 150 ? "10.0.0.9" : "*", op, BK_ACL_PERM_ALLOW));
    }
    add(s, acl(BK_ACL_RES_TOPIC, BK_ACL_PAT_PREFIXED, "t-", "User:*", "*",
               BK_ACL_OP_DESCRIBE, BK_ACL_PERM_ALLOW));
    add(s, acl(BK_ACL_RES_TOPIC, BK_ACL_PAT_PREFIXED, "t-", names[299], "*",
               BK_ACL_OP_WRITE, BK_ACL_PERM_DENY));
    assert_true(topic_ok(az, s, names[0], BK_ACL_OP_READ, "t-x"));
    assert_false(topic_ok(az, s, names[0], BK_ACL_OP_WRITE, "t-x"));
    assert_true(topic_ok(az, s, names[123], BK_ACL_OP_WRITE, "t-x"));
    assert_true(topic_ok(az, s, names[298], BK_ACL_OP_READ, "t-x"));
    /* Host-bound: 10.0.0.1 is not 10.0.0.9. */
    assert_false(topic_ok(az, s, names[150], BK_ACL_OP_READ, "t-x"));
    assert_false(topic_ok(az, s, names[299], BK_ACL_OP_WRITE, "t-x"));
    /* User:* grants DESCRIBE to a principal with no ACL of its own. */
    assert_true(topic_ok(az, s, "User:CN=zz", BK_ACL_OP_DESCRIBE, "t-x"));
    assert_false(topic_ok(az, s, "User:CN=zz", BK_ACL_OP_READ, "t-x"));
    assert_true(topic_ok(az, s, "User:*", BK_ACL_OP_DESCRIBE, "t-x"));
    bk_authz_free(az);
    bk_acl_set_release(s);
}

static void test_prefixed(void **state)
{
    (void)state;
    struct bk_acl_set *s = bk_acl_set_new();
    struct bk_authz *az = authz("", false);
    add(s, acl(BK_ACL_RES_TOPIC, BK_ACL_PAT_PREFIXED, "orders-", ALICE, "*",
               BK_ACL_OP_WRITE, BK_ACL_PERM_ALLOW));
    add(s, acl(BK_ACL_RES_TOPIC, BK_ACL_PAT_PREFIXED, "ord", BOB, "*",
               BK_ACL_OP_READ, BK_ACL_PERM_ALLOW));
    add(s, acl(BK_ACL_RES_TOPIC, BK_ACL_PAT_PREFIXED, "orders-eu-", ALICE, "*",
               BK_ACL_OP_WRITE, BK_ACL_PERM_DENY));
    assert_true(topic_ok(az, s, ALICE, BK_ACL_OP_WRITE, "orders-us"));
    assert_true(topic_ok(az, s, ALICE, BK_ACL_OP_WRITE, "orders-"));
    assert_false(topic_ok(az, s, ALICE, BK_ACL_OP_WRITE, "orders"));
    assert_false(topic_ok(az, s, ALICE, BK_ACL_OP_WRITE, "orders-eu-1"));
    assert_true(topic_ok(az, s, BOB, BK_ACL_OP_READ, "orders-eu-1"));
    assert_true(topic_ok(az, s, BOB, BK_ACL_OP_READ, "ord"));
    assert_false(topic_ok(az, s, BOB, BK_ACL_OP_READ, "or"));
    /* Removing the ACL that held a prefix length drops it from the
     * index. */
    struct bk_acl deny =
        acl(BK_ACL_RES_TOPIC, BK_ACL_PAT_PREFIXED, "orders-eu-", ALICE, "*",
            BK_ACL_OP_WRITE, BK_ACL_PERM_DENY);
    const struct bk_acl *found = bk_acl_set_find(s, &deny);
    assert_non_null(found);
    uint8_t id[16];
    memcpy(id, found->id, 16);
    assert_int_equal(bk_acl_set_remove(s, id), 0);
    assert_int_equal(bk_acl_set_remove(s, id), 1);
    assert_true(topic_ok(az, s, ALICE, BK_ACL_OP_WRITE, "orders-eu-1"));
    bk_authz_free(az);
    bk_acl_set_release(s);
}

static void test_deny_wins_and_implied(void **state)
{
    (void)state;
    struct bk_acl_set *s = bk_acl_set_new();
    struct bk_authz *az = authz("", false);
    add(s, acl(BK_ACL_RES_TOPIC, BK_ACL_PAT_LITERAL, "t", ALICE, "*",
               BK_ACL_OP_ALL, BK_ACL_PERM_ALLOW));
    add(s, acl(BK_ACL_RES_TOPIC, BK_ACL_PAT_LITERAL, "t", "User:*", "*",
               BK_ACL_OP_READ, BK_ACL_PERM_DENY));
    /* DENY READ for everyone beats ALLOW ALL for alice... */
    assert_false(topic_ok(az, s, ALICE, BK_ACL_OP_READ, "t"));
    assert_true(topic_ok(az, s, ALICE, BK_ACL_OP_WRITE, "t"));
    /* ...but does not deny the DESCRIBE that READ implies. */
    assert_true(topic_ok(az, s, ALICE, BK_ACL_OP_DESCRIBE, "t"));
    /* Implied operations: DESCRIBE from READ, WRITE, DELETE, ALTER;
     * DESCRIBE_CONFIGS from ALTER_CONFIGS. */
    static const int implies[] = { BK_ACL_OP_READ, BK_ACL_OP_WRITE,
                                   BK_ACL_OP_DELETE, BK_ACL_OP_ALTER };
    for (size_t i = 0; i < 4; i++) {
        struct bk_acl_set *t = bk_acl_set_new();
        add(t, acl(BK_ACL_RES_TOPIC, BK_ACL_PAT_LITERAL, "x", BOB, "*",
                   implies[i], BK_ACL_PERM_ALLOW));
        assert_true(topic_ok(az, t, BOB, BK_ACL_OP_DESCRIBE, "x"));
        assert_false(topic_ok(az, t, BOB, BK_ACL_OP_CREATE, "x"));
        bk_acl_set_release(t);
    }
    add(s, acl(BK_ACL_RES_TOPIC, BK_ACL_PAT_LITERAL, "c", BOB, "*",
               BK_ACL_OP_ALTER_CONFIGS, BK_ACL_PERM_ALLOW));
    assert_true(topic_ok(az, s, BOB, BK_ACL_OP_DESCRIBE_CONFIGS, "c"));
    assert_false(topic_ok(az, s, BOB, BK_ACL_OP_DESCRIBE, "c"));
    /* DENY ALL denies everything. */
    add(s, acl(BK_ACL_RES_TOPIC, BK_ACL_PAT_PREFIXED, "", ALICE, "*",
               BK_ACL_OP_ALL, BK_ACL_PERM_DENY));
    assert_false(topic_ok(az, s, ALICE, BK_ACL_OP_DESCRIBE, "t"));
    bk_authz_free(az);
    bk_acl_set_release(s);
}

static void test_super_users_and_config(void **state)
{
    (void)state;
    struct bk_acl_set *s = bk_acl_set_new();
    struct bk_authz *az = authz("User:admin; User:CN=x,O=y", false);
    add(s, acl(BK_ACL_RES_TOPIC, BK_ACL_PAT_LITERAL, "t", "User:*", "*",
               BK_ACL_OP_ALL, BK_ACL_PERM_DENY));
    assert_true(topic_ok(az, s, "User:admin", BK_ACL_OP_WRITE, "t"));
    assert_true(topic_ok(az, s, "User:CN=x,O=y", BK_ACL_OP_WRITE, "t"));
    assert_false(topic_ok(az, s, "User:CN=x", BK_ACL_OP_WRITE, "t"));
    bk_authz_free(az);
    char err[256];
    struct bk_authz *none = (struct bk_authz *)&err;
    assert_int_equal(bk_authz_new("", "", false, &none, err, sizeof(err)), 0);
    assert_null(none);
    assert_int_equal(
        bk_authz_new("com.example.Mine", "", false, &none, err, sizeof(err)),
        BK_ECONFIG);
    assert_non_null(strstr(err, "com.example.Mine"));
    assert_int_equal(bk_authz_new(BK_AUTHZ_CLASS_ACL, "alice", false, &none,
                                  err, sizeof(err)),
                     BK_ECONFIG);
    bk_acl_set_release(s);
}

static void test_duplicates_and_copy_on_write(void **state)
{
    (void)state;
    struct bk_acl_set *s = bk_acl_set_new();
    struct bk_acl a = acl(BK_ACL_RES_GROUP, BK_ACL_PAT_LITERAL, "g", ALICE, "*",
                          BK_ACL_OP_READ, BK_ACL_PERM_ALLOW);
    assert_int_equal(bk_acl_set_add(s, &a), 0);
    assert_int_equal(bk_acl_set_add(s, &a), 1); /* same id */
    struct bk_acl same = a;
    same.id[1] = 9;
    assert_int_equal(bk_acl_set_add(s, &same), 1); /* same binding */
    assert_int_equal(bk_acl_set_count(s), 1);
    /* A shared set is copied before a change; the old one is untouched. */
    bk_acl_set_ref(s);
    struct bk_acl_set *mine = s;
    assert_int_equal(bk_acl_set_own(&mine), 0);
    assert_ptr_not_equal(mine, s);
    add(mine, acl(BK_ACL_RES_TOPIC, BK_ACL_PAT_PREFIXED, "p", ALICE, "*",
                  BK_ACL_OP_READ, BK_ACL_PERM_ALLOW));
    assert_int_equal(bk_acl_set_count(mine), 2);
    assert_int_equal(bk_acl_set_count(s), 1);
    struct bk_authz *az = authz("", false);
    assert_true(topic_ok(az, mine, ALICE, BK_ACL_OP_READ, "pq"));
    assert_false(topic_ok(az, s, ALICE, BK_ACL_OP_READ, "pq"));
    bk_authz_free(az);
    bk_acl_set_release(mine);
    bk_acl_set_release(s);
}

static void test_any_and_operations(void **state)
{
    (void)state;
    struct bk_acl_set *s = bk_acl_set_new();
    struct bk_authz *az = authz("", false);
    assert_false(bk_authz_any_allowed(az, s, ALICE, "h", BK_ACL_OP_WRITE,
                                      BK_ACL_RES_TOPIC));
    add(s, acl(BK_ACL_RES_TOPIC, BK_ACL_PAT_PREFIXED, "a-", ALICE, "*",
               BK_ACL_OP_WRITE, BK_ACL_PERM_ALLOW));
    assert_true(bk_authz_any_allowed(az, s, ALICE, "h", BK_ACL_OP_WRITE,
                                     BK_ACL_RES_TOPIC));
    assert_false(bk_authz_any_allowed(az, s, BOB, "h", BK_ACL_OP_WRITE,
                                      BK_ACL_RES_TOPIC));
    add(s, acl(BK_ACL_RES_TOPIC, BK_ACL_PAT_LITERAL, "*", ALICE, "*",
               BK_ACL_OP_WRITE, BK_ACL_PERM_DENY));
    assert_false(bk_authz_any_allowed(az, s, ALICE, "h", BK_ACL_OP_WRITE,
                                      BK_ACL_RES_TOPIC));
    /* KIP-430 sets: WRITE grants WRITE and DESCRIBE on the topic. */
    struct bk_acl_set *t = bk_acl_set_new();
    add(t, acl(BK_ACL_RES_TOPIC, BK_ACL_PAT_LITERAL, "x", BOB, "*",
               BK_ACL_OP_WRITE, BK_ACL_PERM_ALLOW));
    assert_int_equal(
        bk_authz_operations(az, t, BOB, "h", BK_ACL_RES_TOPIC, "x", 1),
        (1 << BK_ACL_OP_WRITE) | (1 << BK_ACL_OP_DESCRIBE));
    assert_int_equal(
        bk_authz_operations(NULL, t, BOB, "h", BK_ACL_RES_TOPIC, "x", 1), 3576);
    assert_int_equal(bk_authz_supported_ops(BK_ACL_RES_CLUSTER), 8096);
    assert_int_equal(bk_authz_supported_ops(BK_ACL_RES_GROUP), 3400);
    bk_authz_free(az);
    bk_acl_set_release(t);
    bk_acl_set_release(s);
}

static struct bk_acl_filter filter_all(void)
{
    return (struct bk_acl_filter){ .res_type = BK_ACL_RES_ANY,
                                   .pattern = BK_ACL_PAT_ANY,
                                   .op = BK_ACL_OP_ANY,
                                   .perm = BK_ACL_PERM_ANY };
}

static void test_filters(void **state)
{
    (void)state;
    struct bk_acl lit = acl(BK_ACL_RES_TOPIC, BK_ACL_PAT_LITERAL, "foo", ALICE,
                            "*", BK_ACL_OP_READ, BK_ACL_PERM_ALLOW);
    struct bk_acl star = acl(BK_ACL_RES_TOPIC, BK_ACL_PAT_LITERAL, "*", ALICE,
                             "*", BK_ACL_OP_READ, BK_ACL_PERM_ALLOW);
    struct bk_acl pre = acl(BK_ACL_RES_TOPIC, BK_ACL_PAT_PREFIXED, "fo", BOB,
                            "*", BK_ACL_OP_WRITE, BK_ACL_PERM_DENY);
    struct bk_acl_filter f = filter_all();
    assert_true(bk_acl_filter_matches(&f, &lit));
    assert_true(bk_acl_filter_matches(&f, &pre));
    /* ANY with a name: exact names only. */
    f.name = "foo";
    f.name_len = 3;
    assert_true(bk_acl_filter_matches(&f, &lit));
    assert_false(bk_acl_filter_matches(&f, &star));
    assert_false(bk_acl_filter_matches(&f, &pre));
    /* MATCH: what applies to a resource named foo. */
    f.pattern = BK_ACL_PAT_MATCH;
    assert_true(bk_acl_filter_matches(&f, &lit));
    assert_true(bk_acl_filter_matches(&f, &star));
    assert_true(bk_acl_filter_matches(&f, &pre));
    f.name = "f";
    f.name_len = 1;
    assert_false(bk_acl_filter_matches(&f, &pre));
    /* A pattern type, principal, operation, permission. */
    f = filter_all();
    f.pattern = BK_ACL_PAT_PREFIXED;
    assert_false(bk_acl_filter_matches(&f, &lit));
    assert_true(bk_acl_filter_matches(&f, &pre));
    f = filter_all();
    f.principal = BOB;
    f.principal_len = strlen(BOB);
    assert_false(bk_acl_filter_matches(&f, &lit));
    assert_true(bk_acl_filter_matches(&f, &pre));
    f.perm = BK_ACL_PERM_ALLOW;
    assert_false(bk_acl_filter_matches(&f, &pre));
    f = filter_all();
    f.res_type = BK_ACL_RES_GROUP;
    assert_false(bk_acl_filter_matches(&f, &lit));
    f.res_type = 0;
    assert_non_null(bk_acl_filter_invalid(&f));
    f = filter_all();
    assert_null(bk_acl_filter_invalid(&f));
    f.pattern = 9;
    assert_non_null(bk_acl_filter_invalid(&f));
}

static void test_validation_and_names(void **state)
{
    (void)state;
    struct bk_acl a = acl(BK_ACL_RES_TOPIC, BK_ACL_PAT_LITERAL, "t", ALICE, "*",
                          BK_ACL_OP_READ, BK_ACL_PERM_ALLOW);
    assert_null(bk_acl_invalid(&a));
    struct bk_acl b = a;
    b.res_type = BK_ACL_RES_ANY;
    assert_non_null(bk_acl_invalid(&b));
    b = a;
    b.pattern = BK_ACL_PAT_MATCH;
    assert_non_null(bk_acl_invalid(&b));
    b = a;
    b.op = BK_ACL_OP_ANY;
    assert_non_null(bk_acl_invalid(&b));
    b = a;
    b.perm = BK_ACL_PERM_ANY;
    assert_non_null(bk_acl_invalid(&b));
    b = a;
    b.name_len = 0;
    assert_non_null(bk_acl_invalid(&b));
    b = a;
    b.principal = "alice";
    b.principal_len = 5;
    assert_non_null(bk_acl_invalid(&b));
    b.principal = "User:";
    b.principal_len = 5;
    assert_non_null(bk_acl_invalid(&b));
    b = a;
    b.res_type = BK_ACL_RES_CLUSTER;
    assert_non_null(bk_acl_invalid(&b));
    b.name = BK_ACL_CLUSTER_NAME;
    b.name_len = strlen(BK_ACL_CLUSTER_NAME);
    assert_null(bk_acl_invalid(&b));
    assert_string_equal(bk_acl_op_name(BK_ACL_OP_DESCRIBE_CONFIGS),
                        "DESCRIBE_CONFIGS");
    assert_int_equal(bk_acl_op_code("describe-configs"),
                     BK_ACL_OP_DESCRIBE_CONFIGS);
    assert_int_equal(bk_acl_res_code("Topic"), BK_ACL_RES_TOPIC);
    assert_int_equal(bk_acl_pat_code("prefixed"), BK_ACL_PAT_PREFIXED);
    assert_int_equal(bk_acl_perm_code("Deny"), BK_ACL_PERM_DENY);
    assert_int_equal(bk_acl_res_code("nope"), -1);
    assert_string_equal(bk_acl_res_name(99), "UNKNOWN");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_literal_and_no_acls),
        cmocka_unit_test(test_allow_everyone),
        cmocka_unit_test(test_wildcards),
        cmocka_unit_test(test_prefixed),
        cmocka_unit_test(test_many_principals),
        cmocka_unit_test(test_deny_wins_and_implied),
        cmocka_unit_test(test_super_users_and_config),
        cmocka_unit_test(test_duplicates_and_copy_on_write),
        cmocka_unit_test(test_any_and_operations),
        cmocka_unit_test(test_filters),
        cmocka_unit_test(test_validation_and_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
