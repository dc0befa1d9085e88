/* brokerctl acl add|list|remove: what kafka-acls.sh --add, --list and
 * --remove do, over CreateAcls, DescribeAcls and DeleteAcls, with its
 * option names: --allow-principal/--deny-principal, --allow-host/
 * --deny-host (default *), --operation (repeatable), the resources
 * --topic, --group, --cluster, --transactional-id, --delegation-token,
 * --user-principal (each repeatable), and --resource-pattern-type
 * (literal by default for add and remove; for list, any, or match to see
 * what applies to a resource), and add's --producer, --consumer and
 * --idempotent shortcuts. list also takes --principal. */
#include <stdio.h>
#include <string.h>

#include "admin/cli.h"
#include "admin/cli_json.h"
#include "authz/authz.h"
#include "protocol/gen/create_acls.h"
#include "protocol/gen/delete_acls.h"
#include "protocol/gen/describe_acls.h"
#include "protocol/kerr.h"

#define MAX_ITEMS 32

struct res {
    int8_t type;
    const char *name;
};

struct entry {
    const char *principal;
    int8_t perm;
};

struct opts {
    struct res res[MAX_ITEMS];
    int nres;
    struct entry who[MAX_ITEMS];
    int nwho;
    const char *hosts[2]; /* [0] allow, [1] deny; NULL: "*" */
    int8_t ops[MAX_ITEMS];
    int nops;
    int pattern;           /* -1: the command's default */
    const char *principal; /* list --principal */
    /* kafka-acls.sh's shortcuts (add): the operations a producer or a
     * consumer needs on the resources given. */
    bool producer, consumer, idempotent;
};

static int usage(void)
{
    return bk_cli_fail(
        "usage: acl add|remove (--allow-principal P | --deny-principal "
        "P)... [--allow-host H] [--deny-host H] (--operation OP... | "
        "--producer [--idempotent] | --consumer) RESOURCE... "
        "[--resource-pattern-type literal|prefixed] | acl list "
        "[RESOURCE...] [--principal P] [--resource-pattern-type "
        "any|match|literal|prefixed]; RESOURCE: --topic T | --group G | "
        "--cluster | --transactional-id ID | --delegation-token T | "
        "--user-principal U");
}

static int add_res(struct opts *o, int type, const char *name)
{
    if (o->nres == MAX_ITEMS) {
        return bk_cli_fail("too many resources (at most %d)", MAX_ITEMS);
    }
    o->res[o->nres++] = (struct res){ (int8_t)type, name };
    return 0;
}

static int resource_opt(struct opts *o, const char *a, const char *v)
{
    static const struct {
        const char *opt;
        int type;
    } opts[] = {
        { "--topic", BK_ACL_RES_TOPIC },
        { "--group", BK_ACL_RES_GROUP },
        { "--transactional-id", BK_ACL_RES_TRANSACTIONAL_ID },
        { "--delegation-token", BK_ACL_RES_DELEGATION_TOKEN },
        { "--user-principal", BK_ACL_RES_USER },
    };
    for (size_t i = 0; i < sizeof(opts) / sizeof(opts[0]); i++) {
        if (strcmp(a, opts[i].opt) == 0) {
            return v != NULL ? add_res(o, opts[i].type, v) : usage();
        }
    }
    return -1;
}

/* Parses one option at argv[*i]; returns 0, or 1 after printing why. */
static int parse_one(struct opts *o, int argc, char **argv, int *i)
{
    const char *a = argv[*i];
    const char *v = *i + 1 < argc ? argv[*i + 1] : NULL;
    if (strcmp(a, "--cluster") == 0) {
        return add_res(o, BK_ACL_RES_CLUSTER, BK_ACL_CLUSTER_NAME);
    }
    if (strcmp(a, "--producer") == 0 || strcmp(a, "--consumer") == 0 ||
        strcmp(a, "--idempotent") == 0) {
        o->producer |= a[2] == 'p';
        o->consumer |= a[2] == 'c';
        o->idempotent |= a[2] == 'i';
        return 0;
    }
    if (v == NULL) {
        return usage();
    }
    (*i)++;
    int rv = resource_opt(o, a, v);
    if (rv >= 0) {
        return rv;
    }
    if (strcmp(a, "--allow-principal") == 0 ||
        strcmp(a, "--deny-principal") == 0) {
        if (o->nwho == MAX_ITEMS) {
            return bk_cli_fail("too many principals");
        }
        o->who[o->nwho++] = (struct entry){ v, a[2] == 'a' ? BK_ACL_PERM_ALLOW
                                                           : BK_ACL_PERM_DENY };
    } else if (strcmp(a, "--allow-host") == 0) {
        o->hosts[0] = v;
    } else if (strcmp(a, "--deny-host") == 0) {
        o->hosts[1] = v;
    } else if (strcmp(a, "--operation") == 0) {
        int op = bk_acl_op_code(v);
        if (op <= BK_ACL_OP_ANY || o->nops == MAX_ITEMS) {
            return bk_cli_fail("--operation: unknown operation '%s'", v);
        }
        o->ops[o->nops++] = (int8_t)op;
    } else if (strcmp(a, "--resource-pattern-type") == 0) {
        o->pattern = bk_acl_pat_code(v);
        if (o->pattern <= BK_ACL_PAT_UNKNOWN) {
            return bk_cli_fail("--resource-pattern-type: unknown type '%s'", v);
        }
    } else if (strcmp(a, "--principal") == 0) {
        o->principal = v;
    } else {
        return usage();
    }
    return 0;
}

static int parse(struct opts *o, int argc, char **argv)
{
    memset(o, 0, sizeof(*o));
    o->pattern = -1;
    for (int i = 0; i < argc; i++) {
        if (parse_one(o, argc, argv, &i) != 0) {
            return 1;
        }
    }
    return 0;
}

static const char *host_of(const struct opts *o, int8_t perm)
{
    const char *h = o->hosts[perm == BK_ACL_PERM_ALLOW ? 0 : 1];
    return h != NULL ? h : "*";
}

/* The operations to grant on a resource of type t: --operation's, or
 * what kafka-acls.sh's --producer (WRITE, DESCRIBE, CREATE on topics;
 * WRITE, DESCRIBE on transactional ids; with --idempotent,
 * IDEMPOTENT_WRITE on the cluster) and --consumer (READ, DESCRIBE on
 * topics, READ on groups) grant. Returns how many are in ops[8]. */
static int ops_for(const struct opts *o, int t, int8_t ops[8])
{
    if (o->nops > 0) {
        int n = o->nops < 8 ? o->nops : 8;
        memcpy(ops, o->ops, (size_t)n);
        return n;
    }
    int n = 0;
    if (o->producer && t == BK_ACL_RES_TOPIC) {
        ops[n++] = BK_ACL_OP_WRITE;
        ops[n++] = BK_ACL_OP_CREATE;
    }
    if (o->producer && t == BK_ACL_RES_TRANSACTIONAL_ID) {
        ops[n++] = BK_ACL_OP_WRITE;
        ops[n++] = BK_ACL_OP_DESCRIBE;
    }
    if (o->producer && o->idempotent && t == BK_ACL_RES_CLUSTER) {
        ops[n++] = BK_ACL_OP_IDEMPOTENT_WRITE;
    }
    if (o->consumer && (t == BK_ACL_RES_TOPIC || t == BK_ACL_RES_GROUP)) {
        ops[n++] = BK_ACL_OP_READ;
    }
    if ((o->producer || o->consumer) && t == BK_ACL_RES_TOPIC) {
        ops[n++] = BK_ACL_OP_DESCRIBE;
    }
    return n;
}

static int cmd_add(const struct bk_cli *cli,
                   struct bk_client *c,
                   struct bk_arena *arena,
                   const struct opts *o)
{
    if (o->nres == 0 || o->nwho == 0 ||
        (o->nops == 0 && !o->producer && !o->consumer)) {
        return usage();
    }
    int pattern = o->pattern < 0 ? BK_ACL_PAT_LITERAL : o->pattern;
    size_t cap = (size_t)(o->nres + 1) * (size_t)o->nwho * 8;
    struct bk_msg_create_acls_request_acl_creation *cr =
        bk_arena_alloc(arena, cap * sizeof(*cr));
    if (cr == NULL) {
        return bk_cli_fail("out of memory");
    }
    struct res res[MAX_ITEMS + 1];
    memcpy(res, o->res, (size_t)o->nres * sizeof(res[0]));
    int nres = o->nres;
    if (o->producer && o->idempotent) {
        res[nres++] = (struct res){ BK_ACL_RES_CLUSTER, BK_ACL_CLUSTER_NAME };
    }
    size_t k = 0;
    for (int r = 0; r < nres; r++) {
        int8_t ops[8];
        int nops = ops_for(o, res[r].type, ops);
        for (int w = 0; w < o->nwho; w++) {
            for (int p = 0; p < nops; p++) {
                cr[k++] = (struct bk_msg_create_acls_request_acl_creation){
                    .resource_type = res[r].type,
                    .resource_name = bk_str_c(res[r].name),
                    /* The cluster is always named literally. */
                    .resource_pattern_type =
                        (int8_t)(res[r].type == BK_ACL_RES_CLUSTER
                                     ? BK_ACL_PAT_LITERAL
                                     : pattern),
                    .principal = bk_str_c(o->who[w].principal),
                    .host = bk_str_c(host_of(o, o->who[w].perm)),
                    .operation = ops[p],
                    .permission_type = o->who[w].perm,
                };
            }
        }
    }
    size_t n = k;
    if (n == 0) {
        return bk_cli_fail("nothing to add: no operation for these resources");
    }
    struct bk_msg_create_acls_request req;
    bk_msg_create_acls_request_init(&req);
    req.creations = cr;
    req.creations_count = (int32_t)n;
    struct bk_msg_create_acls_response resp;
    int16_t v = bk_client_version(c, BK_API_CREATE_ACLS);
    if (v < 0) {
        return bk_cli_fail("%s does not support CreateAcls", c->addr);
    }
    if (bk_client_call(c, BK_API_CREATE_ACLS, v, &req, &resp, arena) != 0) {
        return bk_cli_fail("%s", c->errmsg);
    }
    int rc = 0;
    for (int32_t i = 0; i < resp.results_count && i < (int32_t)n; i++) {
        if (resp.results[i].error_code != 0) {
            rc =
                bk_cli_kerr(cr[i].resource_name.ptr, resp.results[i].error_code,
                            resp.results[i].error_message);
        }
    }
    if (rc == 0 && !cli->json) {
        printf("added %zu ACL(s)\n", n);
    }
    return rc;
}

/* The filters of list or remove: one per resource (or one for all). */
static struct bk_msg_delete_acls_request_delete_acls_filter *filters(
    struct bk_arena *arena,
    const struct opts *o,
    int default_pattern,
    int32_t *n_out)
{
    int nres = o->nres > 0 ? o->nres : 1;
    int nwho = o->nwho > 0 ? o->nwho : 1;
    int nops = o->nops > 0 ? o->nops : 1;
    size_t n = (size_t)nres * (size_t)nwho * (size_t)nops;
    struct bk_msg_delete_acls_request_delete_acls_filter *f =
        bk_arena_alloc(arena, n * sizeof(*f));
    size_t k = 0;
    for (int r = 0; f != NULL && r < nres; r++) {
        for (int w = 0; w < nwho; w++) {
            for (int p = 0; p < nops; p++) {
                const struct entry *e = o->nwho > 0 ? &o->who[w] : NULL;
                const char *who = e != NULL ? e->principal : o->principal;
                f[k++] = (struct bk_msg_delete_acls_request_delete_acls_filter){
                    .resource_type_filter =
                        o->nres > 0 ? o->res[r].type : BK_ACL_RES_ANY,
                    .resource_name_filter =
                        o->nres > 0 ? bk_str_c(o->res[r].name) : BK_STR_NULL,
                    .pattern_type_filter =
                        (int8_t)(o->pattern >= 0 ? o->pattern
                                 : o->nres > 0   ? default_pattern
                                                 : BK_ACL_PAT_ANY),
                    .principal_filter = bk_str_c(who),
                    .host_filter = e != NULL && (e->perm == BK_ACL_PERM_ALLOW
                                                     ? o->hosts[0]
                                                     : o->hosts[1]) != NULL
                                       ? bk_str_c(host_of(o, e->perm))
                                       : BK_STR_NULL,
                    .operation =
                        (int8_t)(o->nops > 0 ? o->ops[p] : BK_ACL_OP_ANY),
                    .permission_type =
                        (int8_t)(e != NULL ? e->perm : BK_ACL_PERM_ANY),
                };
            }
        }
    }
    *n_out = (int32_t)n;
    return f;
}

/* One ACL: a tab-separated line, or an object appended to json. */
static void print_acl(json_t *json,
                      int8_t type,
                      struct bk_str name,
                      int8_t pattern,
                      struct bk_str principal,
                      struct bk_str host,
                      int8_t op,
                      int8_t perm)
{
    if (json == NULL) {
        printf("%s\t%.*s\t%s\t%.*s\t%.*s\t%s\t%s\n", bk_acl_res_name(type),
               name.len, name.ptr, bk_acl_pat_name(pattern), principal.len,
               principal.ptr, host.len, host.ptr, bk_acl_op_name(op),
               bk_acl_perm_name(perm));
        return;
    }
    bk_cli_json_push(
        json,
        json_pack("{s:s, s:o, s:s, s:o, s:o, s:s, s:s}", "resource_type",
                  bk_acl_res_name(type), "name",
                  bk_cli_json_str(name.ptr, name.len), "pattern_type",
                  bk_acl_pat_name(pattern), "principal",
                  bk_cli_json_str(principal.ptr, principal.len), "host",
                  bk_cli_json_str(host.ptr, host.len), "operation",
                  bk_acl_op_name(op), "permission", bk_acl_perm_name(perm)));
}

static int cmd_list(const struct bk_cli *cli,
                    struct bk_client *c,
                    struct bk_arena *arena,
                    const struct opts *o)
{
    int32_t n;
    struct bk_msg_delete_acls_request_delete_acls_filter *f =
        filters(arena, o, BK_ACL_PAT_ANY, &n);
    int16_t v = bk_client_version(c, BK_API_DESCRIBE_ACLS);
    if (f == NULL || v < 0) {
        return bk_cli_fail("%s does not support DescribeAcls", c->addr);
    }
    /* JSON is printed whole at the end: a failure half-way prints no
     * truncated document. */
    json_t *json = cli->json ? json_array() : NULL;
    int rc = 0;
    for (int32_t i = 0; i < n; i++) {
        struct bk_msg_describe_acls_request req = {
            .resource_type_filter = f[i].resource_type_filter,
            .resource_name_filter = f[i].resource_name_filter,
            .pattern_type_filter = f[i].pattern_type_filter,
            .principal_filter = f[i].principal_filter,
            .host_filter = f[i].host_filter,
            .operation = f[i].operation,
            .permission_type = f[i].permission_type,
        };
        struct bk_msg_describe_acls_response resp;
        if (bk_client_call(c, BK_API_DESCRIBE_ACLS, v, &req, &resp, arena) !=
            0) {
            rc = bk_cli_fail("%s", c->errmsg);
            break;
        }
        if (resp.error_code != 0) {
            rc = bk_cli_kerr(NULL, resp.error_code, resp.error_message);
            break;
        }
        for (int32_t r = 0; r < resp.resources_count; r++) {
            const struct bk_msg_describe_acls_response_describe_acls_resource
                *res = &resp.resources[r];
            for (int32_t a = 0; a < res->acls_count; a++) {
                const struct bk_msg_describe_acls_response_acl_description *d =
                    &res->acls[a];
                print_acl(json, res->resource_type, res->resource_name,
                          res->pattern_type, d->principal, d->host,
                          d->operation, d->permission_type);
            }
        }
    }
    if (json != NULL && rc == 0) {
        return bk_cli_json_print(stdout, json);
    }
    json_decref(json);
    return rc;
}

static int cmd_remove(const struct bk_cli *cli,
                      struct bk_client *c,
                      struct bk_arena *arena,
                      const struct opts *o)
{
    if (o->nres == 0) {
        return usage(); /* as kafka-acls.sh: a resource is required */
    }
    struct bk_msg_delete_acls_request req;
    bk_msg_delete_acls_request_init(&req);
    req.filters = filters(arena, o, BK_ACL_PAT_LITERAL, &req.filters_count);
    int16_t v = bk_client_version(c, BK_API_DELETE_ACLS);
    if (req.filters == NULL || v < 0) {
        return bk_cli_fail("%s does not support DeleteAcls", c->addr);
    }
    struct bk_msg_delete_acls_response resp;
    if (bk_client_call(c, BK_API_DELETE_ACLS, v, &req, &resp, arena) != 0) {
        return bk_cli_fail("%s", c->errmsg);
    }
    int rc = 0;
    size_t removed = 0;
    for (int32_t i = 0; i < resp.filter_results_count; i++) {
        const struct bk_msg_delete_acls_response_delete_acls_filter_result *fr =
            &resp.filter_results[i];
        if (fr->error_code != 0) {
            rc = bk_cli_kerr(NULL, fr->error_code, fr->error_message);
            continue;
        }
        for (int32_t j = 0; j < fr->matching_acls_count; j++) {
            if (fr->matching_acls[j].error_code != 0) {
                rc = bk_cli_kerr(NULL, fr->matching_acls[j].error_code,
                                 fr->matching_acls[j].error_message);
            } else {
                removed++;
            }
        }
    }
    if (!cli->json) {
        printf("removed %zu ACL(s)\n", removed);
    }
    return rc;
}

int bk_cmd_acl(const struct bk_cli *cli, int argc, char **argv)
{
    if (argc < 1) {
        return usage();
    }
    struct opts o;
    if (parse(&o, argc - 1, argv + 1) != 0) {
        return 1;
    }
    int (*fn)(const struct bk_cli *, struct bk_client *, struct bk_arena *,
              const struct opts *) = NULL;
    if (strcmp(argv[0], "add") == 0) {
        fn = cmd_add;
    } else if (strcmp(argv[0], "list") == 0) {
        fn = cmd_list;
    } else if (strcmp(argv[0], "remove") == 0) {
        fn = cmd_remove;
    } else {
        return usage();
    }
    struct bk_client c;
    if (bk_cli_connect(cli, &c) != 0) {
        return 1;
    }
    struct bk_arena arena;
    bk_arena_init(&arena, 64 * 1024, 0);
    int rc = fn(cli, &c, &arena, &o);
    bk_arena_destroy(&arena);
    bk_client_close(&c);
    return rc;
}
