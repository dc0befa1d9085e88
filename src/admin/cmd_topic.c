/* brokerctl topic create|list|describe|delete|alter: what kafka-topics.sh
 * does, over CreateTopics, Metadata, DescribeConfigs, DeleteTopics,
 * CreatePartitions and IncrementalAlterConfigs. A refusal prints one line,
 * "brokerctl: TOPIC_ALREADY_EXISTS: Topic 'x' already exists.", and exits
 * 1; bad usage exits 2. */
#include <stdlib.h>
#include <string.h>

#include "admin/cli.h"
#include "admin/cli_json.h"
#include "protocol/gen/create_partitions.h"
#include "protocol/gen/create_topics.h"
#include "protocol/gen/delete_topics.h"
#include "protocol/gen/describe_configs.h"
#include "protocol/gen/describe_topic_partitions.h"
#include "protocol/gen/incremental_alter_configs.h"
#include "protocol/gen/list_partition_reassignments.h"
#include "protocol/gen/metadata.h"
#include "protocol/kerr.h"

#define MAX_ARGS 64

/* Resource type and config source numbers of DescribeConfigs. */
#define RES_TOPIC            2
#define SOURCE_DYNAMIC_TOPIC 1

typedef struct bk_msg_metadata_response_metadata_response_topic md_topic;
typedef struct bk_msg_metadata_response_metadata_response_partition md_part;

int bk_cli_kerr(const char *what, int16_t code, struct bk_str message)
{
    const char *msg = message.len >= 0 ? message.ptr : bk_kerr_message(code);
    int len = message.len >= 0 ? message.len : (int)strlen(msg);
    if (what != NULL) {
        return bk_cli_fail("%s: %s: %.*s", bk_kerr_name(code), what, len, msg);
    }
    return bk_cli_fail("%s: %.*s", bk_kerr_name(code), len, msg);
}

void bk_cli_uuid(const struct bk_uuid *u, char out[23])
{
    static const char T[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    size_t k = 0;
    for (size_t i = 0; i < 16; i += 3) {
        uint32_t v = (uint32_t)u->b[i] << 16;
        size_t n = 16 - i < 3 ? 16 - i : 3;
        if (n > 1) {
            v |= (uint32_t)u->b[i + 1] << 8;
        }
        if (n > 2) {
            v |= u->b[i + 2];
        }
        out[k++] = T[(v >> 18) & 63];
        out[k++] = T[(v >> 12) & 63];
        if (n > 1) {
            out[k++] = T[(v >> 6) & 63];
        }
        if (n > 2) {
            out[k++] = T[v & 63];
        }
    }
    out[k] = '\0';
}

static int usage(void)
{
    bk_cli_fail(
        "usage: brokerctl topic create NAME [--partitions N] "
        "[--replication-factor N] [--config K=V]... | list | describe "
        "[NAME...] | delete NAME... | alter NAME [--partitions N] "
        "[--config K=V]... [--delete-config K]...");
    return 2;
}

/* Parses a positive int option value. */
static int parse_int(const char *opt, const char *s, int32_t *out)
{
    char *end;
    long v = strtol(s, &end, 10);
    if (*end != '\0' || end == s || v < -1 || v > INT32_MAX) {
        bk_cli_fail("%s: '%s' is not a number", opt, s);
        return 2;
    }
    *out = (int32_t)v;
    return 0;
}

/* Splits "k=v" (in place); returns 0 or 2 with the usage message. */
static int split_kv(char *s, char **k, char **v)
{
    char *eq = strchr(s, '=');
    if (eq == NULL || eq == s) {
        bk_cli_fail("--config: '%s' is not KEY=VALUE", s);
        return 2;
    }
    *eq = '\0';
    *k = s;
    *v = eq + 1;
    return 0;
}

static int need_version(struct bk_client *c, int16_t key, int16_t *v)
{
    *v = bk_client_version(c, key);
    if (*v < 0) {
        const struct bk_api_desc *d = bk_api_desc(key);
        return bk_cli_fail("%s does not support %s", c->addr,
                           d != NULL ? d->name : "this request");
    }
    return 0;
}

/* ---- create ---- */

static int topic_create(const struct bk_cli *cli,
                        struct bk_client *c,
                        struct bk_arena *a,
                        int argc,
                        char **argv)
{
    const char *name = NULL;
    int32_t partitions = -1, rf = -1;
    struct bk_msg_create_topics_request_creatable_topic_config cfg[MAX_ARGS];
    int32_t ncfg = 0;
    for (int i = 0; i < argc; i++) {
        int rv = 0;
        if (strcmp(argv[i], "--partitions") == 0 && i + 1 < argc) {
            rv = parse_int("--partitions", argv[++i], &partitions);
        } else if (strcmp(argv[i], "--replication-factor") == 0 &&
                   i + 1 < argc) {
            rv = parse_int("--replication-factor", argv[++i], &rf);
        } else if (strcmp(argv[i], "--config") == 0 && i + 1 < argc) {
            char *k, *v;
            rv = split_kv(argv[++i], &k, &v);
            if (rv == 0 && ncfg < MAX_ARGS) {
                cfg[ncfg].name = bk_str_c(k);
                cfg[ncfg].value = bk_str_c(v);
                ncfg++;
            }
        } else if (argv[i][0] != '-' && name == NULL) {
            name = argv[i];
        } else {
            return usage();
        }
        if (rv != 0) {
            return rv;
        }
    }
    if (name == NULL || rf > INT16_MAX) {
        return usage();
    }
    int16_t ver;
    if (need_version(c, BK_API_CREATE_TOPICS, &ver) != 0) {
        return 1;
    }
    struct bk_msg_create_topics_request_creatable_topic t;
    memset(&t, 0, sizeof(t));
    t.name = bk_str_c(name);
    t.num_partitions = partitions;
    t.replication_factor = (int16_t)rf;
    t.assignments = NULL;
    t.assignments_count = 0;
    t.configs = cfg;
    t.configs_count = ncfg;
    struct bk_msg_create_topics_request req;
    bk_msg_create_topics_request_init(&req);
    req.topics = &t;
    req.topics_count = 1;
    req.timeout_ms = cli->timeout_ms;
    struct bk_msg_create_topics_response resp;
    if (bk_client_call(c, BK_API_CREATE_TOPICS, ver, &req, &resp, a) != 0) {
        return bk_cli_fail("%s", c->errmsg);
    }
    if (resp.topics_count != 1) {
        return bk_cli_fail("%s sent %d results for one topic", c->addr,
                           resp.topics_count);
    }
    const struct bk_msg_create_topics_response_creatable_topic_result *r =
        &resp.topics[0];
    if (r->error_code != 0) {
        return bk_cli_kerr(NULL, r->error_code, r->error_message);
    }
    char id[23];
    bk_cli_uuid(&r->topic_id, id);
    if (cli->json) {
        return bk_cli_json_print(
            stdout,
            json_pack("{s:o, s:s, s:i, s:i}", "name", bk_cli_json_cstr(name),
                      "topic_id", id, "partitions", r->num_partitions,
                      "replication_factor", r->replication_factor));
    } else if (ver >= 5) {
        printf(
            "Created topic %s (%d partitions, replication factor %d, "
            "id %s).\n",
            name, r->num_partitions, r->replication_factor, id);
    } else {
        printf("Created topic %s.\n", name);
    }
    return 0;
}

/* ---- list / describe ---- */

static int metadata(struct bk_client *c,
                    struct bk_arena *a,
                    int n,
                    char **names,
                    struct bk_msg_metadata_response *resp)
{
    int16_t ver;
    if (need_version(c, BK_API_METADATA, &ver) != 0) {
        return 1;
    }
    struct bk_msg_metadata_request req;
    bk_msg_metadata_request_init(&req);
    struct bk_msg_metadata_request_metadata_request_topic t[MAX_ARGS];
    if (n > 0) {
        memset(t, 0, sizeof(t));
        for (int i = 0; i < n && i < MAX_ARGS; i++) {
            t[i].name = bk_str_c(names[i]);
        }
        req.topics = t;
        req.topics_count = n < MAX_ARGS ? n : MAX_ARGS;
    } else {
        req.topics = NULL;
        req.topics_count = -1; /* all */
    }
    req.allow_auto_topic_creation = false;
    if (bk_client_call(c, BK_API_METADATA, ver, &req, resp, a) != 0) {
        return bk_cli_fail("%s", c->errmsg);
    }
    return 0;
}

static int cmp_topic(const void *x, const void *y)
{
    const md_topic *a = x, *b = y;
    int n = a->name.len < b->name.len ? a->name.len : b->name.len;
    int r = n > 0 ? memcmp(a->name.ptr, b->name.ptr, (size_t)n) : 0;
    return r != 0 ? r : a->name.len - b->name.len;
}

static int replication_factor(const md_topic *t)
{
    return t->partitions_count > 0 ? t->partitions[0].replica_nodes_count : 0;
}

static void print_ids(FILE *out, const int32_t *v, int32_t n, const char *sep)
{
    for (int32_t i = 0; i < n; i++) {
        fprintf(out, "%s%d", i > 0 ? sep : "", v[i]);
    }
}

static json_t *ids_json(const int32_t *v, int32_t n)
{
    json_t *a = json_array();
    for (int32_t i = 0; i < n; i++) {
        bk_cli_json_push(a, json_integer(v[i]));
    }
    return a;
}

static int topic_list(const struct bk_cli *cli,
                      struct bk_client *c,
                      struct bk_arena *a,
                      int argc,
                      char **argv)
{
    (void)argv;
    if (argc > 0) {
        return usage();
    }
    struct bk_msg_metadata_response md;
    if (metadata(c, a, 0, NULL, &md) != 0) {
        return 1;
    }
    if (md.topics_count > 1) {
        qsort(md.topics, (size_t)md.topics_count, sizeof(md_topic), cmp_topic);
    }
    json_t *json = cli->json ? json_array() : NULL;
    if (json == NULL) {
        printf("%-40s %-10s %-11s %s\n", "NAME", "PARTITIONS", "REPLICATION",
               "TOPIC ID");
    }
    for (int32_t i = 0; i < md.topics_count; i++) {
        const md_topic *t = &md.topics[i];
        char id[23];
        bk_cli_uuid(&t->topic_id, id);
        if (json != NULL) {
            bk_cli_json_push(
                json,
                json_pack("{s:o, s:s, s:i, s:i, s:b}", "name",
                          bk_cli_json_str(t->name.ptr, t->name.len), "topic_id",
                          id, "partitions", t->partitions_count,
                          "replication_factor", replication_factor(t),
                          "internal", t->is_internal));
        } else {
            printf("%-40.*s %-10d %-11d %s\n", t->name.len, t->name.ptr,
                   t->partitions_count, replication_factor(t), id);
        }
    }
    return json != NULL ? bk_cli_json_print(stdout, json) : 0;
}

/* The configs set explicitly on a topic (DescribeConfigs, source
 * DYNAMIC_TOPIC_CONFIG). Returns 0, or 1 after printing the failure. */
static int explicit_configs(
    struct bk_client *c,
    struct bk_arena *a,
    struct bk_str topic,
    struct bk_msg_describe_configs_response_describe_configs_result **out)
{
    int16_t ver = bk_client_version(c, BK_API_DESCRIBE_CONFIGS);
    *out = NULL;
    if (ver < 0) {
        return 0; /* describe without configs */
    }
    struct bk_msg_describe_configs_request_describe_configs_resource r;
    memset(&r, 0, sizeof(r));
    r.resource_type = RES_TOPIC;
    r.resource_name = topic;
    r.configuration_keys = NULL;
    r.configuration_keys_count = -1;
    struct bk_msg_describe_configs_request req;
    bk_msg_describe_configs_request_init(&req);
    req.resources = &r;
    req.resources_count = 1;
    struct bk_msg_describe_configs_response resp;
    if (bk_client_call(c, BK_API_DESCRIBE_CONFIGS, ver, &req, &resp, a) != 0) {
        return bk_cli_fail("%s", c->errmsg);
    }
    if (resp.results_count == 1 && resp.results[0].error_code == 0) {
        /* results is in the arena a, not in the local resp. */
        /* cppcheck-suppress autoVariables */
        *out = &resp.results[0];
    }
    return 0;
}

/* The configs set on the topic: "k=v,k=v" (text), or an object. */
static void print_configs(
    const struct bk_msg_describe_configs_response_describe_configs_result *r,
    json_t *json)
{
    int k = 0;
    for (int32_t i = 0; r != NULL && i < r->configs_count; i++) {
        const struct
            bk_msg_describe_configs_response_describe_configs_resource_result
                *e = &r->configs[i];
        if (e->config_source != SOURCE_DYNAMIC_TOPIC) {
            continue;
        }
        if (json != NULL) {
            bk_cli_json_set(json, e->name.ptr, e->name.len,
                            bk_cli_json_str(e->value.ptr, e->value.len));
        } else {
            printf("%s%.*s=%.*s", k > 0 ? "," : "", e->name.len, e->name.ptr,
                   e->value.len < 0 ? 0 : e->value.len,
                   e->value.len < 0 ? "" : e->value.ptr);
        }
        k++;
    }
}

/* Fails on the first topic Metadata refused, as kafka-topics.sh does, and
 * copies the names of the others into the arena. Metadata's frame is
 * replaced by the DescribeConfigs calls that follow, and only strings point
 * into it: the partition and replica arrays are already in the arena. */
static int keep_topic_names(struct bk_msg_metadata_response *md,
                            struct bk_arena *a)
{
    for (int32_t i = 0; i < md->topics_count; i++) {
        md_topic *t = &md->topics[i];
        if (t->error_code != 0) {
            char what[300];
            snprintf(what, sizeof(what), "%.*s",
                     t->name.len < 0 ? 0 : t->name.len,
                     t->name.len < 0 ? "" : t->name.ptr);
            if (t->error_code == BK_KERR_UNKNOWN_TOPIC_OR_PARTITION) {
                char msg[400];
                snprintf(msg, sizeof(msg), "Topic '%s' does not exist.", what);
                return bk_cli_kerr(NULL, t->error_code, bk_str_c(msg));
            }
            return bk_cli_kerr(what, t->error_code, BK_STR_NULL);
        }
        char *copy = bk_arena_strndup(a, t->name.ptr, (size_t)t->name.len);
        if (copy == NULL) {
            return bk_cli_fail("out of memory");
        }
        t->name = bk_str_c(copy);
    }
    return 0;
}

/* The topic's line (text), or its object without partitions (JSON:
 * returns owned, else NULL), with the configs set on it. */
static json_t *print_topic_head(
    const struct bk_cli *cli,
    const md_topic *t,
    const struct bk_msg_describe_configs_response_describe_configs_result *cfg)
{
    char id[23];
    bk_cli_uuid(&t->topic_id, id);
    if (cli->json) {
        json_t *configs = json_object();
        print_configs(cfg, configs);
        return json_pack("{s:o, s:s, s:b, s:i, s:o}", "name",
                         bk_cli_json_str(t->name.ptr, t->name.len), "topic_id",
                         id, "internal", t->is_internal, "replication_factor",
                         replication_factor(t), "configs", configs);
    }
    printf(
        "Topic: %.*s\tTopicId: %s\tPartitionCount: %d\t"
        "ReplicationFactor: %d\tConfigs: ",
        t->name.len, t->name.ptr, id, t->partitions_count,
        replication_factor(t));
    print_configs(cfg, NULL);
    printf("\n");
    return NULL;
}

typedef struct
    bk_msg_list_partition_reassignments_response_ongoing_partition_reassignment
        ongoing;

/* The reassignment in progress of partition j of t in rs, or NULL. */
static const ongoing *find_ongoing(
    const struct bk_msg_list_partition_reassignments_response *rs,
    const md_topic *t,
    int32_t j)
{
    for (int32_t i = 0; rs != NULL && i < rs->topics_count; i++) {
        struct bk_str n = rs->topics[i].name;
        if (n.len != t->name.len ||
            memcmp(n.ptr, t->name.ptr, (size_t)n.len) != 0) {
            continue;
        }
        for (int32_t k = 0; k < rs->topics[i].partitions_count; k++) {
            if (rs->topics[i].partitions[k].partition_index == j) {
                return &rs->topics[i].partitions[k];
            }
        }
    }
    return NULL;
}

/* Partition index's entry among the n at v, or NULL. */
static const bk_cli_elr_part *find_elr(const bk_cli_elr_part *v,
                                       int32_t n,
                                       int32_t index)
{
    for (int32_t i = 0; i < n; i++) {
        if (v[i].partition_index == index) {
            return &v[i];
        }
    }
    return NULL;
}

/* The ELR and last known ELR (KIP-966) of e (may be NULL) as text fields,
 * shown only when not empty. */
static void print_elr(const bk_cli_elr_part *e)
{
    int32_t n = e != NULL ? e->eligible_leader_replicas_count : 0;
    int32_t k = e != NULL ? e->last_known_elr_count : 0;
    if (n > 0) {
        printf("\tElr: ");
        print_ids(stdout, e->eligible_leader_replicas, n, ",");
    }
    if (k > 0) {
        printf("\tLastKnownElr: ");
        print_ids(stdout, e->last_known_elr, k, ",");
    }
}

/* Partition j of topic t: a line (text) or an object appended to json.
 * Adding and removing replicas are shown while a reassignment is in
 * progress, as kafka-topics.sh --describe shows them, and so is a
 * non-empty ELR (elr: the topic's n_elr partitions from
 * DescribeTopicPartitions; JSON always has both lists); a partition whose
 * ISR is smaller than its replicas is marked under-replicated. */
static void print_partition(
    json_t *json,
    const md_topic *t,
    int32_t j,
    const struct bk_msg_list_partition_reassignments_response *rs,
    const bk_cli_elr_part *elr,
    int32_t n_elr)
{
    const md_part *p = &t->partitions[j];
    const bk_cli_elr_part *e = find_elr(elr, n_elr, p->partition_index);
    const ongoing *o = find_ongoing(rs, t, p->partition_index);
    bool urp = p->isr_nodes_count < p->replica_nodes_count;
    if (json != NULL) {
        int32_t n = e != NULL ? e->eligible_leader_replicas_count : 0;
        int32_t k = e != NULL ? e->last_known_elr_count : 0;
        bk_cli_json_push(
            json,
            json_pack("{s:i, s:i, s:i, s:o, s:o, s:o, s:o, s:o, s:o, s:b}",
                      "partition", p->partition_index, "leader", p->leader_id,
                      "leader_epoch", p->leader_epoch, "replicas",
                      ids_json(p->replica_nodes, p->replica_nodes_count), "isr",
                      ids_json(p->isr_nodes, p->isr_nodes_count), "elr",
                      ids_json(n > 0 ? e->eligible_leader_replicas : NULL, n),
                      "last_known_elr",
                      ids_json(k > 0 ? e->last_known_elr : NULL, k), "adding",
                      ids_json(o != NULL ? o->adding_replicas : NULL,
                               o != NULL ? o->adding_replicas_count : 0),
                      "removing",
                      ids_json(o != NULL ? o->removing_replicas : NULL,
                               o != NULL ? o->removing_replicas_count : 0),
                      "under_replicated", urp));
        return;
    }
    printf(
        "\tTopic: %.*s\tPartition: %d\tLeader: %d\t"
        "LeaderEpoch: %d\tReplicas: ",
        t->name.len, t->name.ptr, p->partition_index, p->leader_id,
        p->leader_epoch);
    print_ids(stdout, p->replica_nodes, p->replica_nodes_count, ",");
    printf("\tIsr: ");
    print_ids(stdout, p->isr_nodes, p->isr_nodes_count, ",");
    print_elr(e);
    if (o != NULL) {
        printf("\tAdding Replicas: ");
        print_ids(stdout, o->adding_replicas, o->adding_replicas_count, ",");
        printf("\tRemoving Replicas: ");
        print_ids(stdout, o->removing_replicas, o->removing_replicas_count,
                  ",");
    }
    printf("%s\n", urp ? "\tUnderReplicated: true" : "");
}

static int topic_describe(const struct bk_cli *cli,
                          struct bk_client *c,
                          struct bk_arena *a,
                          int argc,
                          char **argv)
{
    for (int i = 0; i < argc; i++) {
        if (argv[i][0] == '-') {
            return usage();
        }
    }
    struct bk_msg_metadata_response md;
    if (metadata(c, a, argc, argv, &md) != 0) {
        return 1;
    }
    if (md.topics_count > 1) {
        qsort(md.topics, (size_t)md.topics_count, sizeof(md_topic), cmp_topic);
    }
    int rc = keep_topic_names(&md, a);
    if (rc != 0) {
        return rc;
    }
    /* Reassignments are asked for only where the cluster serves them. */
    struct bk_msg_list_partition_reassignments_response rs_buf, *rs = NULL;
    if (bk_client_version(c, BK_API_LIST_PARTITION_REASSIGNMENTS) >= 0) {
        if (bk_cli_reassignments(cli, c, a, &rs_buf) != 0) {
            return 1;
        }
        rs = &rs_buf;
    }
    json_t *json = cli->json ? json_array() : NULL;
    for (int32_t i = 0; i < md.topics_count; i++) {
        const md_topic *t = &md.topics[i];
        /* The ELR first: the configs' strings are views into the
         * client's receive buffer, which the next call reuses. */
        const bk_cli_elr_part *elr;
        int32_t n_elr;
        if (bk_cli_topic_elr(c, a, t->name, &elr, &n_elr) != 0) {
            json_decref(json);
            return 1;
        }
        struct bk_msg_describe_configs_response_describe_configs_result *cfg;
        if (explicit_configs(c, a, t->name, &cfg) != 0) {
            json_decref(json);
            return 1;
        }
        json_t *topic = print_topic_head(cli, t, cfg);
        json_t *parts = topic != NULL ? json_array() : NULL;
        for (int32_t j = 0; j < t->partitions_count; j++) {
            print_partition(parts, t, j, rs, elr, n_elr);
        }
        if (topic != NULL) {
            bk_cli_json_set(topic, "partitions", 10, parts);
            bk_cli_json_push(json, topic);
        }
    }
    return json != NULL ? bk_cli_json_print(stdout, json) : 0;
}

/* ---- delete ---- */

static int topic_delete(const struct bk_cli *cli,
                        struct bk_client *c,
                        struct bk_arena *a,
                        int argc,
                        char **argv)
{
    if (argc < 1 || argc > MAX_ARGS) {
        return usage();
    }
    for (int i = 0; i < argc; i++) {
        if (argv[i][0] == '-') {
            return usage();
        }
    }
    int16_t ver;
    if (need_version(c, BK_API_DELETE_TOPICS, &ver) != 0) {
        return 1;
    }
    struct bk_msg_delete_topics_request req;
    bk_msg_delete_topics_request_init(&req);
    struct bk_msg_delete_topics_request_delete_topic_state st[MAX_ARGS];
    struct bk_str names[MAX_ARGS];
    memset(st, 0, sizeof(st));
    for (int i = 0; i < argc; i++) {
        st[i].name = bk_str_c(argv[i]);
        names[i] = bk_str_c(argv[i]);
    }
    if (ver >= 6) {
        req.topics = st;
        req.topics_count = argc;
    } else {
        req.topic_names = names;
        req.topic_names_count = argc;
    }
    req.timeout_ms = cli->timeout_ms;
    struct bk_msg_delete_topics_response resp;
    if (bk_client_call(c, BK_API_DELETE_TOPICS, ver, &req, &resp, a) != 0) {
        return bk_cli_fail("%s", c->errmsg);
    }
    int rc = 0;
    json_t *deleted = cli->json ? json_array() : NULL;
    for (int32_t i = 0; i < resp.responses_count; i++) {
        const struct bk_msg_delete_topics_response_deletable_topic_result *r =
            &resp.responses[i];
        if (r->error_code != 0) {
            char what[300];
            snprintf(what, sizeof(what), "%.*s",
                     r->name.len < 0 ? 0 : r->name.len,
                     r->name.len < 0 ? "" : r->name.ptr);
            if (r->error_message.len < 0 &&
                r->error_code == BK_KERR_UNKNOWN_TOPIC_OR_PARTITION) {
                char msg[400];
                snprintf(msg, sizeof(msg), "Topic '%s' does not exist.", what);
                rc = bk_cli_kerr(NULL, r->error_code, bk_str_c(msg));
            } else {
                rc = bk_cli_kerr(argc > 1 ? what : NULL, r->error_code,
                                 r->error_message);
            }
            continue;
        }
        if (deleted != NULL) {
            bk_cli_json_push(deleted,
                             bk_cli_json_str(r->name.ptr, r->name.len));
        } else {
            printf("Deleted topic %.*s.\n", r->name.len, r->name.ptr);
        }
    }
    /* What was deleted is printed even when some topics were refused (each
     * refusal has its line on stderr and the exit code is 1). */
    if (deleted != NULL &&
        bk_cli_json_print(stdout, json_pack("{s:o}", "deleted", deleted)) !=
            0) {
        rc = 1;
    }
    return rc;
}

/* ---- alter ---- */

/* What `topic alter` was asked to do. */
struct alter_args {
    const char *name;   /* borrowed from argv */
    int32_t partitions; /* -1: unchanged */
    struct bk_msg_incremental_alter_configs_request_alterable_config
        ops[MAX_ARGS]; /* strings borrowed from argv */
    int32_t nops;
};

/* Parses: NAME [--partitions N] [--config K=V]... [--delete-config K]...
 * Returns 0, or the exit status (usage: 2). */
static int parse_alter_args(int argc, char **argv, struct alter_args *x)
{
    x->name = NULL;
    x->partitions = -1;
    x->nops = 0;
    for (int i = 0; i < argc; i++) {
        int rv = 0;
        if (strcmp(argv[i], "--partitions") == 0 && i + 1 < argc) {
            rv = parse_int("--partitions", argv[++i], &x->partitions);
        } else if (strcmp(argv[i], "--config") == 0 && i + 1 < argc &&
                   x->nops < MAX_ARGS) {
            char *k, *v;
            rv = split_kv(argv[++i], &k, &v);
            if (rv == 0) {
                x->ops[x->nops].name = bk_str_c(k);
                x->ops[x->nops].config_operation = 0; /* SET */
                x->ops[x->nops].value = bk_str_c(v);
                x->nops++;
            }
        } else if (strcmp(argv[i], "--delete-config") == 0 && i + 1 < argc &&
                   x->nops < MAX_ARGS) {
            x->ops[x->nops].name = bk_str_c(argv[++i]);
            x->ops[x->nops].config_operation = 1; /* DELETE */
            x->ops[x->nops].value = BK_STR_NULL;
            x->nops++;
        } else if (argv[i][0] != '-' && x->name == NULL) {
            x->name = argv[i];
        } else {
            return usage();
        }
        if (rv != 0) {
            return rv;
        }
    }
    if (x->name == NULL || (x->partitions < 0 && x->nops == 0)) {
        return usage();
    }
    return 0;
}

/* Grows topic name to `partitions` partitions (CreatePartitions, the broker
 * placing them). Returns 0 or the exit status. */
static int alter_partitions(const struct bk_cli *cli,
                            struct bk_client *c,
                            struct bk_arena *a,
                            const char *name,
                            int32_t partitions)
{
    int16_t ver;
    if (need_version(c, BK_API_CREATE_PARTITIONS, &ver) != 0) {
        return 1;
    }
    struct bk_msg_create_partitions_request_create_partitions_topic t;
    memset(&t, 0, sizeof(t));
    t.name = bk_str_c(name);
    t.count = partitions;
    t.assignments = NULL;
    t.assignments_count = -1;
    struct bk_msg_create_partitions_request req;
    bk_msg_create_partitions_request_init(&req);
    req.topics = &t;
    req.topics_count = 1;
    req.timeout_ms = cli->timeout_ms;
    struct bk_msg_create_partitions_response resp;
    if (bk_client_call(c, BK_API_CREATE_PARTITIONS, ver, &req, &resp, a) != 0) {
        return bk_cli_fail("%s", c->errmsg);
    }
    if (resp.results_count != 1) {
        return bk_cli_fail("%s sent %d results for one topic", c->addr,
                           resp.results_count);
    }
    if (resp.results[0].error_code != 0) {
        return bk_cli_kerr(NULL, resp.results[0].error_code,
                           resp.results[0].error_message);
    }
    return 0;
}

/* Applies the config changes to topic name in one IncrementalAlterConfigs
 * (the broker takes them all or none). Returns 0 or the exit status. */
static int alter_topic_configs(struct bk_client *c,
                               struct bk_arena *a,
                               struct alter_args *x)
{
    int16_t ver;
    if (need_version(c, BK_API_INCREMENTAL_ALTER_CONFIGS, &ver) != 0) {
        return 1;
    }
    struct bk_msg_incremental_alter_configs_request_alter_configs_resource r;
    memset(&r, 0, sizeof(r));
    r.resource_type = RES_TOPIC;
    r.resource_name = bk_str_c(x->name);
    r.configs = x->ops;
    r.configs_count = x->nops;
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
    return 0;
}

/* Partitions first, then configs; a refused step stops the command, so a
 * refused partition count leaves the configs as they were. */
static int topic_alter(const struct bk_cli *cli,
                       struct bk_client *c,
                       struct bk_arena *a,
                       int argc,
                       char **argv)
{
    struct alter_args x;
    int rv = parse_alter_args(argc, argv, &x);
    if (rv != 0) {
        return rv;
    }
    if (x.partitions >= 0) {
        rv = alter_partitions(cli, c, a, x.name, x.partitions);
        if (rv != 0) {
            return rv;
        }
    }
    if (x.nops > 0) {
        rv = alter_topic_configs(c, a, &x);
        if (rv != 0) {
            return rv;
        }
    }
    if (cli->json) {
        return bk_cli_json_print(
            stdout,
            json_pack("{s:o, s:i, s:i}", "name", bk_cli_json_cstr(x.name),
                      "partitions", x.partitions, "configs_changed", x.nops));
    }
    printf("Altered topic %s.\n", x.name);
    return 0;
}

int bk_cmd_topic(const struct bk_cli *cli, int argc, char **argv)
{
    if (argc < 1) {
        return usage();
    }
    int (*fn)(const struct bk_cli *, struct bk_client *, struct bk_arena *, int,
              char **) = NULL;
    if (strcmp(argv[0], "create") == 0) {
        fn = topic_create;
    } else if (strcmp(argv[0], "list") == 0) {
        fn = topic_list;
    } else if (strcmp(argv[0], "describe") == 0) {
        fn = topic_describe;
    } else if (strcmp(argv[0], "delete") == 0) {
        fn = topic_delete;
    } else if (strcmp(argv[0], "alter") == 0) {
        fn = topic_alter;
    } else {
        return usage();
    }
    struct bk_client c;
    if (bk_cli_connect(cli, &c) != 0) {
        return 1;
    }
    struct bk_arena arena;
    bk_arena_init(&arena, 65536, 0);
    int rv = fn(cli, &c, &arena, argc - 1, argv + 1);
    bk_arena_destroy(&arena);
    bk_client_close(&c);
    return rv;
}
