/* brokerctl partition elect-leaders [--type preferred|unclean]
 * [--topic T [--partition P]]: ElectLeaders (api 43), what Kafka's
 * kafka-leader-election.sh does, with one line per partition.
 *
 * Without --topic every partition is asked for (the null list), and the
 * controller answers only for those that needed an election. With --topic
 * alone, every partition of that topic (their count from Metadata). Exit
 * 1 when some election failed; ELECTION_NOT_NEEDED is no failure (the
 * leader is already the one asked for), as in Kafka's tool. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "admin/cli.h"
#include "admin/cli_json.h"
#include "admin/topic_meta.h"
#include "protocol/gen/api.h"
#include "protocol/gen/elect_leaders.h"
#include "protocol/kerr.h"

struct elect_args {
    int8_t type;
    const char *topic;
    int32_t partition; /* -1: all of the topic */
};

static int usage(void)
{
    bk_cli_fail(
        "usage: brokerctl partition elect-leaders [--type "
        "preferred|unclean] [--topic T [--partition P]]");
    return 2;
}

static int parse(int argc, char **argv, struct elect_args *a)
{
    *a = (struct elect_args){ .type = 0, .topic = NULL, .partition = -1 };
    for (int i = 1; i < argc; i++) {
        if (i + 1 >= argc) {
            return usage();
        }
        const char *v = argv[++i];
        if (strcmp(argv[i - 1], "--type") == 0) {
            if (strcmp(v, "preferred") != 0 && strcmp(v, "unclean") != 0) {
                return usage();
            }
            a->type = strcmp(v, "unclean") == 0 ? 1 : 0;
        } else if (strcmp(argv[i - 1], "--topic") == 0) {
            a->topic = v;
        } else if (strcmp(argv[i - 1], "--partition") == 0) {
            char *end;
            long p = strtol(v, &end, 10);
            if (*v == '\0' || *end != '\0' || p < 0 || p > INT32_MAX) {
                return usage();
            }
            a->partition = (int32_t)p;
        } else {
            return usage();
        }
    }
    return a->partition >= 0 && a->topic == NULL ? usage() : 0;
}

/* Prints the answer; returns the exit code. */
static int print(const struct bk_cli *cli,
                 const struct bk_msg_elect_leaders_response *resp,
                 const char *type)
{
    int rc = 0;
    json_t *parts = cli->json ? json_array() : NULL;
    for (int32_t i = 0; i < resp->replica_election_results_count; i++) {
        const struct bk_msg_elect_leaders_response_replica_election_result *t =
            &resp->replica_election_results[i];
        for (int32_t k = 0; k < t->partition_result_count; k++) {
            const struct bk_msg_elect_leaders_response_partition_result *r =
                &t->partition_result[k];
            bool failed = r->error_code != BK_KERR_NONE &&
                          r->error_code != BK_KERR_ELECTION_NOT_NEEDED;
            rc = failed ? 1 : rc;
            if (parts != NULL) {
                bk_cli_json_push(
                    parts,
                    json_pack("{s:o, s:i, s:s, s:o}", "topic",
                              bk_cli_json_str(t->topic.ptr, t->topic.len),
                              "partition", r->partition_id, "error",
                              bk_kerr_name(r->error_code), "message",
                              bk_cli_json_str(r->error_message.ptr,
                                              r->error_message.len)));
            } else if (r->error_code == BK_KERR_NONE) {
                printf("%.*s-%d: %s leader elected\n", t->topic.len,
                       t->topic.ptr, r->partition_id, type);
            } else {
                printf("%.*s-%d: %s: %.*s\n", t->topic.len, t->topic.ptr,
                       r->partition_id, bk_kerr_name(r->error_code),
                       r->error_message.len < 0 ? 0 : r->error_message.len,
                       r->error_message.len < 0 ? "" : r->error_message.ptr);
            }
        }
    }
    if (parts != NULL &&
        bk_cli_json_print(stdout, json_pack("{s:s, s:o}", "type", type,
                                            "partitions", parts)) != 0) {
        rc = 1;
    }
    return rc;
}

static int elect(const struct bk_cli *cli,
                 struct bk_client *c,
                 const struct elect_args *a,
                 struct bk_arena *arena)
{
    int16_t ver = bk_client_version(c, BK_API_ELECT_LEADERS);
    if (ver < 0 || (a->type != 0 && ver < 1)) {
        return bk_cli_fail("%s does not support ElectLeaders", c->addr);
    }
    struct bk_msg_elect_leaders_request req;
    bk_msg_elect_leaders_request_init(&req);
    req.election_type = a->type;
    req.timeout_ms = cli->timeout_ms;
    req.topic_partitions_count = -1; /* null: every partition */
    struct bk_msg_elect_leaders_request_topic_partitions tp;
    if (a->topic != NULL) {
        struct bk_topic_meta m = { 0 };
        if (a->partition < 0 &&
            bk_topic_meta_get(cli, c, a->topic, false, &m) != 0) {
            return 1;
        }
        if (a->partition < 0 && m.error != 0) {
            return bk_cli_kerr(a->topic, m.error, BK_STR_NULL);
        }
        int32_t n = a->partition >= 0 ? 1 : m.partitions;
        int32_t *parts = bk_arena_alloc(arena, sizeof(int32_t) * (size_t)n + 1);
        if (parts == NULL) {
            return bk_cli_fail("out of memory");
        }
        for (int32_t p = 0; p < n; p++) {
            parts[p] = a->partition >= 0 ? a->partition : p;
        }
        tp = (struct bk_msg_elect_leaders_request_topic_partitions){
            .topic = bk_str_c(a->topic),
            .partitions = parts,
            .partitions_count = n
        };
        req.topic_partitions = &tp;
        req.topic_partitions_count = 1;
    }
    struct bk_msg_elect_leaders_response resp;
    if (bk_client_call(c, BK_API_ELECT_LEADERS, ver, &req, &resp, arena) != 0) {
        return bk_cli_fail("%s", c->errmsg);
    }
    if (resp.error_code != 0) {
        return bk_cli_kerr(NULL, resp.error_code, BK_STR_NULL);
    }
    return print(cli, &resp, a->type == 1 ? "unclean" : "preferred");
}

int bk_cmd_partition(const struct bk_cli *cli, int argc, char **argv)
{
    struct elect_args a;
    if (argc >= 1 && (strcmp(argv[0], "reassign") == 0 ||
                      strcmp(argv[0], "reassignments") == 0)) {
        return bk_cmd_partition_reassign(cli, argc, argv);
    }
    if (argc < 1 || strcmp(argv[0], "elect-leaders") != 0) {
        return usage();
    }
    if (parse(argc, argv, &a) != 0) {
        return 2;
    }
    struct bk_client c;
    if (bk_cli_connect(cli, &c) != 0) {
        return 1;
    }
    struct bk_arena arena;
    bk_arena_init(&arena, 1024, 0);
    int rv = elect(cli, &c, &a, &arena);
    bk_arena_destroy(&arena);
    bk_client_close(&c);
    return rv;
}
