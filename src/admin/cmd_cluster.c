/* brokerctl cluster info: what kafka-cluster.sh cluster-id,
 * kafka-metadata-quorum.sh describe and kafka-broker-api-versions.sh show,
 * in one place.
 *
 * The brokers come from DescribeCluster v2 with include_fenced_brokers, so
 * a fenced broker is listed as such. Two things the issue asks for are not
 * in any Kafka API a client can send, so they are left out rather than
 * guessed: a broker's epoch (only the controller and the broker know it)
 * and "shutting down" (a broker in controlled shutdown is reported as
 * active by DescribeCluster, as Kafka's brokers do). */
#include <string.h>

#include "admin/cli.h"
#include "admin/cli_json.h"
#include "admin/quorum_view.h"
#include "protocol/gen/describe_cluster.h"
#include "protocol/kerr.h"

typedef struct bk_msg_describe_cluster_response_describe_cluster_broker
    dc_broker;

struct cluster_view {
    struct bk_msg_describe_cluster_response dc;
    struct bk_quorum_view quorum;
};

/* A copy of s in arena (null stays null): the client's frame is reused by
 * the next call. */
static int keep(struct bk_arena *arena, struct bk_str *s)
{
    if (s->len <= 0) {
        return 0;
    }
    char *copy = bk_arena_alloc(arena, (size_t)s->len);
    if (copy == NULL) {
        return -1;
    }
    memcpy(copy, s->ptr, (size_t)s->len);
    s->ptr = copy;
    return 0;
}

static int fetch_brokers(struct bk_client *c,
                         struct bk_arena *arena,
                         struct bk_msg_describe_cluster_response *dc)
{
    int16_t ver = bk_client_version(c, BK_API_DESCRIBE_CLUSTER);
    if (ver < 0) {
        return bk_cli_fail("%s does not support DescribeCluster", c->addr);
    }
    struct bk_msg_describe_cluster_request req;
    bk_msg_describe_cluster_request_init(&req);
    req.endpoint_type = 1; /* brokers */
    req.include_fenced_brokers = ver >= 2;
    if (bk_client_call(c, BK_API_DESCRIBE_CLUSTER, ver, &req, dc, arena) != 0) {
        return bk_cli_fail("%s", c->errmsg);
    }
    if (dc->error_code != 0) {
        return bk_cli_kerr(NULL, dc->error_code, dc->error_message);
    }
    int rv = keep(arena, &dc->cluster_id);
    for (int32_t i = 0; rv == 0 && i < dc->brokers_count; i++) {
        rv = keep(arena, &dc->brokers[i].host);
        if (rv == 0) {
            rv = keep(arena, &dc->brokers[i].rack);
        }
    }
    return rv == 0 ? 0 : bk_cli_fail("out of memory");
}

static int fetch(struct bk_client *c,
                 struct bk_arena *arena,
                 struct cluster_view *v)
{
    if (fetch_brokers(c, arena, &v->dc) != 0) {
        return 1;
    }
    return bk_quorum_view_fetch(c, arena, &v->quorum);
}

static const char *state_of(const dc_broker *b)
{
    return b->is_fenced ? "fenced" : "active";
}

static void print_text(const struct bk_client *c, const struct cluster_view *v)
{
    const struct bk_msg_describe_cluster_response *dc = &v->dc;
    printf("Cluster id:  %.*s\n",
           dc->cluster_id.len < 0 ? 6 : dc->cluster_id.len,
           dc->cluster_id.len < 0 ? "(none)" : dc->cluster_id.ptr);
    printf("Controller:  %d\n", dc->controller_id);
    printf("Brokers:\n");
    printf("  %-8s %-30s %-12s %s\n", "ID", "ADDRESS", "RACK", "STATE");
    for (int32_t i = 0; i < dc->brokers_count; i++) {
        const dc_broker *b = &dc->brokers[i];
        char addr[300], rack[64];
        snprintf(addr, sizeof(addr), "%.*s:%d", b->host.len, b->host.ptr,
                 b->port);
        snprintf(rack, sizeof(rack), "%.*s", b->rack.len < 0 ? 1 : b->rack.len,
                 b->rack.len < 0 ? "-" : b->rack.ptr);
        printf("  %-8d %-30s %-12s %s\n", b->broker_id, addr, rack,
               state_of(b));
    }
    bk_quorum_view_print(stdout, &v->quorum);
    printf("API versions (%s):\n", c->addr);
    for (int k = 0; k < BK_CLIENT_MAX_KEYS; k++) {
        if (c->broker_max[k] < 0) {
            continue;
        }
        const struct bk_api_desc *d = bk_api_desc((int16_t)k);
        int16_t usable = bk_client_version(c, (int16_t)k);
        char name[64];
        snprintf(name, sizeof(name), "%s(%d):", d != NULL ? d->name : "Unknown",
                 k);
        if (usable >= 0) {
            printf("  %-36s %d to %d [usable: %d]\n", name, c->broker_min[k],
                   c->broker_max[k], usable);
        } else {
            printf("  %-36s %d to %d [usable: NONE]\n", name, c->broker_min[k],
                   c->broker_max[k]);
        }
    }
}

static json_t *broker_json(const dc_broker *b)
{
    return json_pack("{s:i, s:o, s:i, s:o, s:s}", "node_id", b->broker_id,
                     "host", bk_cli_json_str(b->host.ptr, b->host.len), "port",
                     b->port, "rack", bk_cli_json_str(b->rack.ptr, b->rack.len),
                     "state", state_of(b));
}

static json_t *api_versions_json(const struct bk_client *c)
{
    json_t *a = json_array();
    for (int k = 0; k < BK_CLIENT_MAX_KEYS; k++) {
        if (c->broker_max[k] < 0) {
            continue;
        }
        const struct bk_api_desc *d = bk_api_desc((int16_t)k);
        bk_cli_json_push(
            a, json_pack("{s:i, s:s, s:i, s:i, s:i}", "api_key", k, "name",
                         d != NULL ? d->name : "Unknown", "min_version",
                         c->broker_min[k], "max_version", c->broker_max[k],
                         "usable_version", bk_client_version(c, (int16_t)k)));
    }
    return a;
}

static int print_json(const struct bk_client *c, const struct cluster_view *v)
{
    const struct bk_msg_describe_cluster_response *dc = &v->dc;
    json_t *brokers = json_array();
    for (int32_t i = 0; i < dc->brokers_count; i++) {
        bk_cli_json_push(brokers, broker_json(&dc->brokers[i]));
    }
    return bk_cli_json_print(
        stdout,
        json_pack("{s:o, s:i, s:o, s:o, s:o}", "cluster_id",
                  bk_cli_json_str(dc->cluster_id.ptr, dc->cluster_id.len),
                  "controller_id", dc->controller_id, "brokers", brokers,
                  "quorum", bk_quorum_view_json(&v->quorum), "api_versions",
                  api_versions_json(c)));
}

int bk_cmd_cluster(const struct bk_cli *cli, int argc, char **argv)
{
    if (argc < 1 || strcmp(argv[0], "info") != 0) {
        bk_cli_fail("usage: brokerctl cluster info [--json]");
        return 2;
    }
    if (argc > 1) {
        bk_cli_fail("cluster info: unexpected argument '%s'", argv[1]);
        return 2;
    }
    struct bk_client c;
    if (bk_cli_connect(cli, &c) != 0) {
        return 1;
    }
    struct bk_arena arena;
    bk_arena_init(&arena, 16384, 0);
    struct cluster_view v;
    int rv = fetch(&c, &arena, &v);
    if (rv == 0) {
        if (cli->json) {
            rv = print_json(&c, &v);
        } else {
            print_text(&c, &v);
        }
    }
    bk_arena_destroy(&arena);
    bk_client_close(&c);
    return rv;
}
