/* brokerctl quota set|list|remove: client quotas, as kafka-configs.sh
 * --entity-type users|clients|ips does, over AlterClientQuotas and
 * DescribeClientQuotas.
 *
 *   quota set    ENTITY KEY=VALUE...
 *   quota remove ENTITY KEY...
 *   quota list   [ENTITY]
 *
 * ENTITY is --user NAME | --user-default, and/or --client-id NAME |
 * --client-default, or --ip ADDR | --ip-default. For list, each part given
 * narrows the listing (non-strict, as kafka-configs.sh --describe); without
 * one every quota is listed. A refusal prints Kafka's error and exits 1;
 * bad usage exits 2. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "admin/cli.h"
#include "admin/cli_json.h"
#include "protocol/gen/alter_client_quotas.h"
#include "protocol/gen/describe_client_quotas.h"
#include "protocol/kerr.h"

#define MAX_OPS   8
#define MAX_PARTS 3

struct entity {
    int n;
    struct bk_str type[MAX_PARTS];
    struct bk_str name[MAX_PARTS]; /* null: the default */
};

static int usage(void)
{
    bk_cli_fail(
        "usage: brokerctl quota set ENTITY KEY=VALUE... | remove "
        "ENTITY KEY... | list [ENTITY]; ENTITY: --user NAME | "
        "--user-default, --client-id NAME | --client-default, or "
        "--ip ADDR | --ip-default");
    return 2;
}

/* Takes the entity options out of argv; the rest stays in rest[]. Returns
 * 0, or 2 on bad usage. */
static int parse_entity(int argc,
                        char **argv,
                        struct entity *e,
                        char **rest,
                        int *nrest)
{
    static const struct {
        const char *opt;
        const char *type;
        bool dflt;
    } opts[] = {
        { "--user", "user", false },
        { "--user-default", "user", true },
        { "--client-id", "client-id", false },
        { "--client-default", "client-id", true },
        { "--ip", "ip", false },
        { "--ip-default", "ip", true },
    };
    e->n = 0;
    *nrest = 0;
    for (int i = 0; i < argc; i++) {
        bool found = false;
        for (size_t o = 0; o < sizeof(opts) / sizeof(opts[0]); o++) {
            if (strcmp(argv[i], opts[o].opt) != 0) {
                continue;
            }
            found = true;
            if (e->n == MAX_PARTS || (!opts[o].dflt && i + 1 >= argc)) {
                return usage();
            }
            e->type[e->n] = bk_str_c(opts[o].type);
            e->name[e->n] = opts[o].dflt ? BK_STR_NULL : bk_str_c(argv[++i]);
            e->n++;
        }
        if (!found) {
            if (*nrest == MAX_OPS) {
                return usage();
            }
            rest[(*nrest)++] = argv[i];
        }
    }
    return 0;
}

static void print_entity(FILE *out, const struct entity *e)
{
    for (int i = 0; i < e->n; i++) {
        fprintf(out, "%s%.*s=", i > 0 ? " " : "", e->type[i].len,
                e->type[i].ptr);
        if (e->name[i].len < 0) {
            fprintf(out, "<default>");
        } else {
            fprintf(out, "%.*s", e->name[i].len, e->name[i].ptr);
        }
    }
}

static int alter(struct bk_client *c,
                 const struct entity *e,
                 bool remove,
                 int nargs,
                 char **args)
{
    struct bk_msg_alter_client_quotas_request_entity_data ent[MAX_PARTS];
    struct bk_msg_alter_client_quotas_request_op_data ops[MAX_OPS];
    for (int i = 0; i < e->n; i++) {
        ent[i].entity_type = e->type[i];
        ent[i].entity_name = e->name[i];
    }
    for (int i = 0; i < nargs; i++) {
        char *eq = strchr(args[i], '=');
        memset(&ops[i], 0, sizeof(ops[i]));
        ops[i].remove = remove;
        if (remove) {
            if (eq != NULL) {
                return usage();
            }
            ops[i].key = bk_str_c(args[i]);
            continue;
        }
        char *end = NULL;
        if (eq == NULL || eq == args[i]) {
            return usage();
        }
        ops[i].value = strtod(eq + 1, &end);
        if (eq[1] == '\0' || *end != '\0') {
            return bk_cli_fail("'%s' is not a number", eq + 1);
        }
        ops[i].key = (struct bk_str){ args[i], (int32_t)(eq - args[i]) };
    }
    struct bk_msg_alter_client_quotas_request_entry_data entry = {
        .entity = ent,
        .entity_count = e->n,
        .ops = ops,
        .ops_count = nargs,
    };
    struct bk_msg_alter_client_quotas_request req;
    bk_msg_alter_client_quotas_request_init(&req);
    req.entries = &entry;
    req.entries_count = 1;
    int16_t ver = bk_client_version(c, BK_API_ALTER_CLIENT_QUOTAS);
    if (ver < 0) {
        return bk_cli_fail("the broker does not support AlterClientQuotas");
    }
    struct bk_arena arena;
    bk_arena_init(&arena, 1024, 0);
    struct bk_msg_alter_client_quotas_response resp;
    int rv =
        bk_client_call(c, BK_API_ALTER_CLIENT_QUOTAS, ver, &req, &resp, &arena);
    if (rv != 0) {
        rv = bk_cli_fail("%s", c->errmsg);
    } else if (resp.entries_count != 1) {
        rv = bk_cli_fail("the broker answered %d entries", resp.entries_count);
    } else if (resp.entries[0].error_code != 0) {
        rv = bk_cli_kerr(NULL, resp.entries[0].error_code,
                         resp.entries[0].error_message);
    } else {
        printf("%s the quotas of ", remove ? "Removed" : "Set");
        print_entity(stdout, e);
        printf(".\n");
    }
    bk_arena_destroy(&arena);
    return rv;
}

static void print_value(FILE *out, double v)
{
    if (v == floor(v) && fabs(v) < 1e15) {
        fprintf(out, "%.0f", v);
    } else {
        fprintf(out, "%g", v);
    }
}

/* A quota value as JSON: a whole number as an integer, as the text
 * output prints it. JSON has no NaN or infinity (RFC 8259 §6): a broker
 * that sends one gets null. */
static json_t *value_json(double v)
{
    if (!isfinite(v)) {
        return json_null();
    }
    if (v == floor(v) && fabs(v) < 1e15) {
        return json_integer((json_int_t)v);
    }
    return json_real(v);
}

static json_t *entry_json(
    const struct bk_msg_describe_client_quotas_response_entry_data *en)
{
    json_t *entity = json_object();
    for (int32_t j = 0; j < en->entity_count; j++) {
        bk_cli_json_set(entity, en->entity[j].entity_type.ptr,
                        en->entity[j].entity_type.len,
                        bk_cli_json_str(en->entity[j].entity_name.ptr,
                                        en->entity[j].entity_name.len));
    }
    json_t *values = json_object();
    for (int32_t j = 0; j < en->values_count; j++) {
        bk_cli_json_set(values, en->values[j].key.ptr, en->values[j].key.len,
                        value_json(en->values[j].value));
    }
    return json_pack("{s:o, s:o}", "entity", entity, "values", values);
}

static void list_entry(
    const struct bk_msg_describe_client_quotas_response_entry_data *en)
{
    struct entity e = { .n = 0 };
    for (int32_t j = 0; j < en->entity_count && j < MAX_PARTS; j++) {
        e.type[e.n] = en->entity[j].entity_type;
        e.name[e.n] = en->entity[j].entity_name;
        e.n++;
    }
    print_entity(stdout, &e);
    for (int32_t j = 0; j < en->values_count; j++) {
        printf(" %.*s=", en->values[j].key.len, en->values[j].key.ptr);
        print_value(stdout, en->values[j].value);
    }
    printf("\n");
}

static int list(const struct bk_cli *cli,
                struct bk_client *c,
                const struct entity *e)
{
    struct bk_msg_describe_client_quotas_request_component_data comp[MAX_PARTS];
    for (int i = 0; i < e->n; i++) {
        comp[i].entity_type = e->type[i];
        comp[i].match_type = (int8_t)(e->name[i].len < 0 ? 1 : 0);
        comp[i].match = e->name[i];
    }
    struct bk_msg_describe_client_quotas_request req;
    bk_msg_describe_client_quotas_request_init(&req);
    req.components = comp;
    req.components_count = e->n;
    req.strict = false;
    int16_t ver = bk_client_version(c, BK_API_DESCRIBE_CLIENT_QUOTAS);
    if (ver < 0) {
        return bk_cli_fail("the broker does not support DescribeClientQuotas");
    }
    struct bk_arena arena;
    bk_arena_init(&arena, 4096, 0);
    struct bk_msg_describe_client_quotas_response resp;
    int rv = bk_client_call(c, BK_API_DESCRIBE_CLIENT_QUOTAS, ver, &req, &resp,
                            &arena);
    if (rv != 0) {
        rv = bk_cli_fail("%s", c->errmsg);
    } else if (resp.error_code != 0) {
        rv = bk_cli_kerr(NULL, resp.error_code, resp.error_message);
    } else {
        json_t *json = cli->json ? json_array() : NULL;
        for (int32_t i = 0; i < resp.entries_count; i++) {
            if (json != NULL) {
                bk_cli_json_push(json, entry_json(&resp.entries[i]));
            } else {
                list_entry(&resp.entries[i]);
            }
        }
        if (json != NULL) {
            rv = bk_cli_json_print(stdout, json);
        }
    }
    bk_arena_destroy(&arena);
    return rv;
}

int bk_cmd_quota(const struct bk_cli *cli, int argc, char **argv)
{
    if (argc < 1) {
        return usage();
    }
    struct entity e;
    char *rest[MAX_OPS];
    int nrest = 0;
    if (parse_entity(argc - 1, argv + 1, &e, rest, &nrest) != 0) {
        return 2;
    }
    bool set = strcmp(argv[0], "set") == 0;
    bool remove = strcmp(argv[0], "remove") == 0;
    bool is_list = strcmp(argv[0], "list") == 0;
    if ((!set && !remove && !is_list) || (is_list && nrest != 0) ||
        (!is_list && (nrest == 0 || e.n == 0))) {
        return usage();
    }
    struct bk_client c;
    if (bk_cli_connect(cli, &c) != 0) {
        return 1;
    }
    int rv = is_list ? list(cli, &c, &e) : alter(&c, &e, remove, nrest, rest);
    bk_client_close(&c);
    return rv;
}
