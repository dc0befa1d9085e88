/* brokerctl partition reassign --topic T --partition P (--replicas
 * 1,2,3 | --cancel): AlterPartitionReassignments (api 45), one partition
 * as kafka-reassign-partitions.sh --execute (or --cancel) moves it; and
 * brokerctl partition reassignments: ListPartitionReassignments (api 46),
 * every reassignment in progress, one line per partition.
 *
 * Both are answered by the active controller (any node forwards them). A
 * reassignment is accepted, not done, when reassign returns: the new
 * replicas catch up first, and `partition reassignments` lists the
 * partition until the controller completes the move. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "admin/cli.h"
#include "admin/cli_json.h"
#include "protocol/gen/alter_partition_reassignments.h"
#include "protocol/gen/api.h"
#include "protocol/gen/list_partition_reassignments.h"
#include "protocol/kerr.h"

struct reassign_args {
    const char *topic;
    int32_t partition;
    const char *replicas; /* NULL with cancel */
    bool cancel;
};

static int usage(void)
{
    bk_cli_fail(
        "usage: brokerctl partition reassign --topic T --partition P "
        "(--replicas ID,ID,... | --cancel)");
    return 2;
}

static int parse_int(const char *v, int32_t *out)
{
    char *end;
    long n = strtol(v, &end, 10);
    if (*v == '\0' || *end != '\0' || n < 0 || n > INT32_MAX) {
        return -1;
    }
    *out = (int32_t)n;
    return 0;
}

static int parse(int argc, char **argv, struct reassign_args *a)
{
    *a = (struct reassign_args){ .partition = -1 };
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--cancel") == 0) {
            a->cancel = true;
            continue;
        }
        if (i + 1 >= argc) {
            return usage();
        }
        const char *v = argv[++i];
        if (strcmp(argv[i - 1], "--topic") == 0) {
            a->topic = v;
        } else if (strcmp(argv[i - 1], "--partition") == 0) {
            if (parse_int(v, &a->partition) != 0) {
                return usage();
            }
        } else if (strcmp(argv[i - 1], "--replicas") == 0) {
            a->replicas = v;
        } else {
            return usage();
        }
    }
    bool ok = a->topic != NULL && a->partition >= 0 &&
              (a->replicas != NULL) != a->cancel;
    return ok ? 0 : usage();
}

/* "1,2,3" into ids (room for max); returns the count or -1. */
static int32_t parse_ids(const char *s, int32_t *ids, int32_t max)
{
    int32_t n = 0;
    char buf[16];
    while (*s != '\0') {
        size_t len = strcspn(s, ",");
        if (len == 0 || len >= sizeof(buf) || n == max) {
            return -1;
        }
        memcpy(buf, s, len);
        buf[len] = '\0';
        if (parse_int(buf, &ids[n++]) != 0) {
            return -1;
        }
        s += len + (s[len] == ',' ? 1 : 0);
    }
    return n;
}

static int reassign(const struct bk_cli *cli,
                    struct bk_client *c,
                    const struct reassign_args *a,
                    struct bk_arena *arena)
{
    if (bk_client_version(c, BK_API_ALTER_PARTITION_REASSIGNMENTS) < 0) {
        return bk_cli_fail("%s does not support AlterPartitionReassignments",
                           c->addr);
    }
    int32_t ids[64];
    int32_t n = -1;
    if (!a->cancel && (n = parse_ids(a->replicas, ids, 64)) <= 0) {
        return usage();
    }
    struct bk_msg_alter_partition_reassignments_request_reassignable_partition
        rp = { .partition_index = a->partition,
               .replicas = a->cancel ? NULL : ids,
               .replicas_count = n };
    struct bk_msg_alter_partition_reassignments_request_reassignable_topic
        rt = { .name = bk_str_c(a->topic),
               .partitions = &rp,
               .partitions_count = 1 };
    struct bk_msg_alter_partition_reassignments_request req;
    bk_msg_alter_partition_reassignments_request_init(&req);
    req.timeout_ms = cli->timeout_ms;
    req.topics = &rt;
    req.topics_count = 1;
    struct bk_msg_alter_partition_reassignments_response resp;
    if (bk_client_call(c, BK_API_ALTER_PARTITION_REASSIGNMENTS, 0, &req, &resp,
                       arena) != 0) {
        return bk_cli_fail("%s", c->errmsg);
    }
    if (resp.error_code != 0) {
        return bk_cli_kerr(NULL, resp.error_code, resp.error_message);
    }
    if (resp.responses_count != 1 || resp.responses[0].partitions_count != 1) {
        return bk_cli_fail("unexpected answer");
    }
    const struct
        bk_msg_alter_partition_reassignments_response_reassignable_partition_response
            *r = &resp.responses[0].partitions[0];
    if (r->error_code != 0) {
        return bk_cli_kerr(a->topic, r->error_code, r->error_message);
    }
    if (cli->json) {
        return bk_cli_json_print(
            stdout,
            json_pack("{s:o, s:i, s:b}", "topic", bk_cli_json_cstr(a->topic),
                      "partition", a->partition,
                      a->cancel ? "cancelled" : "started", 1));
    } else {
        printf("%s-%d: reassignment %s\n", a->topic, a->partition,
               a->cancel ? "cancelled" : "started");
    }
    return 0;
}

static void print_ids(const char *sep, const int32_t *v, int32_t n)
{
    for (int32_t i = 0; i < n; i++) {
        printf("%s%d", i > 0 ? sep : "", v[i]);
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

/* One reassignment: a line, or an object appended to json. */
static void print_part(
    json_t *json,
    struct bk_str topic,
    const struct
    bk_msg_list_partition_reassignments_response_ongoing_partition_reassignment
        *p)
{
    if (json != NULL) {
        bk_cli_json_push(
            json,
            json_pack(
                "{s:o, s:i, s:o, s:o, s:o}", "topic",
                bk_cli_json_str(topic.ptr, topic.len), "partition",
                p->partition_index, "replicas",
                ids_json(p->replicas, p->replicas_count), "adding",
                ids_json(p->adding_replicas, p->adding_replicas_count),
                "removing",
                ids_json(p->removing_replicas, p->removing_replicas_count)));
        return;
    }
    printf("%.*s-%d replicas=", topic.len, topic.ptr, p->partition_index);
    print_ids(",", p->replicas, p->replicas_count);
    printf(" adding=");
    print_ids(",", p->adding_replicas, p->adding_replicas_count);
    printf(" removing=");
    print_ids(",", p->removing_replicas, p->removing_replicas_count);
    printf("\n");
}

int bk_cli_reassignments(
    const struct bk_cli *cli,
    struct bk_client *c,
    struct bk_arena *arena,
    struct bk_msg_list_partition_reassignments_response *out)
{
    if (bk_client_version(c, BK_API_LIST_PARTITION_REASSIGNMENTS) < 0) {
        return bk_cli_fail("%s does not support ListPartitionReassignments",
                           c->addr);
    }
    struct bk_msg_list_partition_reassignments_request req;
    bk_msg_list_partition_reassignments_request_init(&req);
    req.timeout_ms = cli->timeout_ms;
    req.topics_count = -1; /* null: every reassignment */
    if (bk_client_call(c, BK_API_LIST_PARTITION_REASSIGNMENTS, 0, &req, out,
                       arena) != 0) {
        return bk_cli_fail("%s", c->errmsg);
    }
    if (out->error_code != 0) {
        return bk_cli_kerr(NULL, out->error_code, out->error_message);
    }
    /* Names are views into the client's receive buffer, which the next
     * call reuses: keep copies. */
    for (int32_t i = 0; i < out->topics_count; i++) {
        struct bk_str *n = &out->topics[i].name;
        char *copy =
            n->len > 0 ? bk_arena_strndup(arena, n->ptr, (size_t)n->len) : NULL;
        if (n->len > 0 && copy == NULL) {
            return bk_cli_fail("out of memory");
        }
        if (copy != NULL) {
            n->ptr = copy;
        }
    }
    return 0;
}

static int list(const struct bk_cli *cli,
                struct bk_client *c,
                struct bk_arena *arena)
{
    struct bk_msg_list_partition_reassignments_response resp;
    if (bk_cli_reassignments(cli, c, arena, &resp) != 0) {
        return 1;
    }
    json_t *json = cli->json ? json_array() : NULL;
    for (int32_t i = 0; i < resp.topics_count; i++) {
        for (int32_t k = 0; k < resp.topics[i].partitions_count; k++) {
            print_part(json, resp.topics[i].name,
                       &resp.topics[i].partitions[k]);
        }
    }
    if (json != NULL) {
        return bk_cli_json_print(stdout,
                                 json_pack("{s:o}", "reassignments", json));
    }
    return 0;
}

int bk_cmd_partition_reassign(const struct bk_cli *cli, int argc, char **argv)
{
    struct reassign_args a;
    bool listing = strcmp(argv[0], "reassignments") == 0;
    if (listing ? argc != 1 : parse(argc, argv, &a) != 0) {
        return listing ? usage() : 2;
    }
    struct bk_client c;
    if (bk_cli_connect(cli, &c) != 0) {
        return 1;
    }
    struct bk_arena arena;
    bk_arena_init(&arena, 1024, 0);
    int rv = listing ? list(cli, &c, &arena) : reassign(cli, &c, &a, &arena);
    bk_arena_destroy(&arena);
    bk_client_close(&c);
    return rv;
}
