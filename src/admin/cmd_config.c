/* brokerctl config get|set|delete: what kafka-configs.sh does for topics
 * and brokers, over DescribeConfigs and IncrementalAlterConfigs.
 *
 *   config get    --topic T | --broker ID | --broker-defaults [KEY...]
 *   config set    --topic T | --broker ID | --broker-defaults K=V...
 *   config delete --topic T | --broker ID | --broker-defaults KEY...
 *
 * A refusal prints one line with Kafka's error name and message and exits
 * 1; bad usage exits 2. */
#include <string.h>

#include "admin/cli.h"
#include "admin/cli_json.h"
#include "protocol/gen/describe_configs.h"
#include "protocol/gen/incremental_alter_configs.h"
#include "protocol/kerr.h"

#define MAX_ARGS   64
#define RES_TOPIC  2
#define RES_BROKER 4

typedef struct bk_msg_describe_configs_response_describe_configs_resource_result
    cfg_entry;

static int usage(void)
{
    bk_cli_fail(
        "usage: brokerctl config get|set|delete --topic TOPIC | --broker ID "
        "| --broker-defaults [KEY... | KEY=VALUE...]");
    return 2;
}

static const char *source_name(int8_t s)
{
    switch (s) {
        case 1:
            return "DYNAMIC_TOPIC_CONFIG";
        case 2:
            return "DYNAMIC_BROKER_CONFIG";
        case 3:
            return "DYNAMIC_DEFAULT_BROKER_CONFIG";
        case 4:
            return "STATIC_BROKER_CONFIG";
        case 5:
            return "DEFAULT_CONFIG";
        case 6:
            return "DYNAMIC_BROKER_LOGGER_CONFIG";
        default:
            return "UNKNOWN";
    }
}

/* config get --json: one object per config; a sensitive value is null,
 * as Kafka's DescribeConfigs hides it. Returns the exit code. */
static int print_json(
    const struct bk_msg_describe_configs_response_describe_configs_result *res)
{
    json_t *a = json_array();
    for (int32_t i = 0; i < res->configs_count; i++) {
        const cfg_entry *e = &res->configs[i];
        bk_cli_json_push(
            a, json_pack("{s:o, s:o, s:s, s:b, s:b}", "name",
                         bk_cli_json_str(e->name.ptr, e->name.len), "value",
                         bk_cli_json_str(e->value.ptr,
                                         e->is_sensitive ? -1 : e->value.len),
                         "source", source_name(e->config_source), "read_only",
                         e->read_only, "sensitive", e->is_sensitive));
    }
    return bk_cli_json_print(stdout, a);
}

static int config_get(const struct bk_cli *cli,
                      struct bk_client *c,
                      struct bk_arena *a,
                      int8_t type,
                      const char *name,
                      int nkeys,
                      char **keys)
{
    int16_t ver = bk_client_version(c, BK_API_DESCRIBE_CONFIGS);
    if (ver < 0) {
        return bk_cli_fail("%s does not support DescribeConfigs", c->addr);
    }
    struct bk_str k[MAX_ARGS];
    for (int i = 0; i < nkeys; i++) {
        k[i] = bk_str_c(keys[i]);
    }
    struct bk_msg_describe_configs_request_describe_configs_resource r;
    memset(&r, 0, sizeof(r));
    r.resource_type = type;
    r.resource_name = bk_str_c(name);
    r.configuration_keys = nkeys > 0 ? k : NULL;
    r.configuration_keys_count = nkeys > 0 ? nkeys : -1;
    struct bk_msg_describe_configs_request req;
    bk_msg_describe_configs_request_init(&req);
    req.resources = &r;
    req.resources_count = 1;
    req.include_synonyms = false;
    req.include_documentation = false;
    struct bk_msg_describe_configs_response resp;
    if (bk_client_call(c, BK_API_DESCRIBE_CONFIGS, ver, &req, &resp, a) != 0) {
        return bk_cli_fail("%s", c->errmsg);
    }
    if (resp.results_count != 1) {
        return bk_cli_fail("%s sent %d results for one resource", c->addr,
                           resp.results_count);
    }
    const struct bk_msg_describe_configs_response_describe_configs_result *res =
        &resp.results[0];
    if (res->error_code != 0) {
        return bk_cli_kerr(NULL, res->error_code, res->error_message);
    }
    if (cli->json) {
        return print_json(res);
    }
    printf("%-40s %-30s %-30s %s\n", "NAME", "VALUE", "SOURCE", "READ-ONLY");
    for (int32_t i = 0; i < res->configs_count; i++) {
        const cfg_entry *e = &res->configs[i];
        printf("%-40.*s ", e->name.len, e->name.ptr);
        if (e->is_sensitive) {
            printf("%-30s", "(sensitive)");
        } else if (e->value.len < 0) {
            printf("%-30s", "(null)");
        } else {
            printf("%-30.*s", e->value.len, e->value.ptr);
        }
        printf(" %-30s %s\n", source_name(e->config_source),
               e->read_only ? "yes" : "no");
    }
    return 0;
}

static int config_alter(const struct bk_cli *cli,
                        struct bk_client *c,
                        struct bk_arena *a,
                        int8_t type,
                        const char *name,
                        bool set,
                        int nargs,
                        char **args)
{
    if (nargs < 1 || nargs > MAX_ARGS) {
        return usage();
    }
    struct bk_msg_incremental_alter_configs_request_alterable_config
        ops[MAX_ARGS];
    for (int i = 0; i < nargs; i++) {
        if (set) {
            char *eq = strchr(args[i], '=');
            if (eq == NULL || eq == args[i]) {
                bk_cli_fail("config set: '%s' is not KEY=VALUE", args[i]);
                return 2;
            }
            *eq = '\0';
            ops[i].name = bk_str_c(args[i]);
            ops[i].value = bk_str_c(eq + 1);
            ops[i].config_operation = 0; /* SET */
        } else {
            if (strchr(args[i], '=') != NULL) {
                bk_cli_fail("config delete: give names, not '%s'", args[i]);
                return 2;
            }
            ops[i].name = bk_str_c(args[i]);
            ops[i].value = BK_STR_NULL;
            ops[i].config_operation = 1; /* DELETE */
        }
    }
    int16_t ver = bk_client_version(c, BK_API_INCREMENTAL_ALTER_CONFIGS);
    if (ver < 0) {
        return bk_cli_fail("%s does not support IncrementalAlterConfigs",
                           c->addr);
    }
    struct bk_msg_incremental_alter_configs_request_alter_configs_resource r;
    memset(&r, 0, sizeof(r));
    r.resource_type = type;
    r.resource_name = bk_str_c(name);
    r.configs = ops;
    r.configs_count = nargs;
    struct bk_msg_incremental_alter_configs_request req;
    bk_msg_incremental_alter_configs_request_init(&req);
    req.resources = &r;
    req.resources_count = 1;
    struct bk_msg_incremental_alter_configs_response resp;
    if (bk_client_call(c, BK_API_INCREMENTAL_ALTER_CONFIGS, ver, &req, &resp,
                       a) != 0) {
        return bk_cli_fail("%s", c->errmsg);
    }
    if (resp.responses_count != 1) {
        return bk_cli_fail("%s sent %d results for one resource", c->addr,
                           resp.responses_count);
    }
    if (resp.responses[0].error_code != 0) {
        return bk_cli_kerr(NULL, resp.responses[0].error_code,
                           resp.responses[0].error_message);
    }
    const char *what = type == RES_TOPIC ? "topic" : "broker";
    if (cli->json) {
        json_t *names = json_array();
        for (int i = 0; i < nargs; i++) {
            bk_cli_json_push(names,
                             bk_cli_json_str(ops[i].name.ptr, ops[i].name.len));
        }
        return bk_cli_json_print(
            stdout,
            json_pack("{s:s, s:o, s:o}", "resource_type", what, "resource",
                      bk_cli_json_cstr(name), set ? "set" : "deleted", names));
    }
    printf("%s %d config%s of %s '%s'.\n", set ? "Set" : "Deleted", nargs,
           nargs == 1 ? "" : "s", what,
           name[0] != '\0' ? name : "(all brokers)");
    return 0;
}

int bk_cmd_config(const struct bk_cli *cli, int argc, char **argv)
{
    if (argc < 1) {
        return usage();
    }
    const char *verb = argv[0];
    if (strcmp(verb, "get") != 0 && strcmp(verb, "set") != 0 &&
        strcmp(verb, "delete") != 0) {
        return usage();
    }
    int8_t type = 0;
    const char *name = NULL;
    char *rest[MAX_ARGS];
    int nrest = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--topic") == 0 && i + 1 < argc && type == 0) {
            type = RES_TOPIC;
            name = argv[++i];
        } else if (strcmp(argv[i], "--broker") == 0 && i + 1 < argc &&
                   type == 0) {
            type = RES_BROKER;
            name = argv[++i];
        } else if (strcmp(argv[i], "--broker-defaults") == 0 && type == 0) {
            type = RES_BROKER;
            name = "";
        } else if (argv[i][0] == '-' || nrest >= MAX_ARGS) {
            return usage();
        } else {
            rest[nrest++] = argv[i];
        }
    }
    if (type == 0) {
        return usage();
    }
    if (strcmp(verb, "get") != 0 && nrest == 0) {
        return usage();
    }
    struct bk_client c;
    if (bk_cli_connect(cli, &c) != 0) {
        return 1;
    }
    struct bk_arena arena;
    bk_arena_init(&arena, 65536, 0);
    int rv;
    if (strcmp(verb, "get") == 0) {
        rv = config_get(cli, &c, &arena, type, name, nrest, rest);
    } else {
        rv = config_alter(cli, &c, &arena, type, name, strcmp(verb, "set") == 0,
                          nrest, rest);
    }
    bk_arena_destroy(&arena);
    bk_client_close(&c);
    return rv;
}
