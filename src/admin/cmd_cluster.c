/* brokerctl cluster info: what kafka-broker-api-versions.sh and
 * kafka-cluster.sh cluster-id show, in one place. */
#include <string.h>

#include "admin/cli.h"
#include "protocol/gen/metadata.h"
#include "protocol/kerr.h"

struct cluster_view {
    struct bk_msg_metadata_response md;
};

static int fetch(struct bk_client *c,
                 struct bk_arena *arena,
                 struct cluster_view *v)
{
    int16_t ver = bk_client_version(c, BK_API_METADATA);
    if (ver < 0) {
        return bk_cli_fail("%s does not support Metadata", c->addr);
    }
    struct bk_msg_metadata_request req;
    bk_msg_metadata_request_init(&req);
    req.topics = NULL;
    /* An empty list asks for no topics from v1 (brokers only). */
    req.topics_count = 0;
    req.allow_auto_topic_creation = false;
    if (bk_client_call(c, BK_API_METADATA, ver, &req, &v->md, arena) != 0) {
        return bk_cli_fail("%s", c->errmsg);
    }
    return 0;
}

static void print_text(const struct bk_client *c, const struct cluster_view *v)
{
    const struct bk_msg_metadata_response *md = &v->md;
    printf("Cluster id:  %.*s\n",
           md->cluster_id.len < 0 ? 6 : md->cluster_id.len,
           md->cluster_id.len < 0 ? "(none)" : md->cluster_id.ptr);
    printf("Controller:  %d\n", md->controller_id);
    printf("Brokers:\n");
    printf("  %-8s %-30s %s\n", "ID", "ADDRESS", "RACK");
    for (int32_t i = 0; i < md->brokers_count; i++) {
        const struct bk_msg_metadata_response_metadata_response_broker *b =
            &md->brokers[i];
        char addr[300];
        snprintf(addr, sizeof(addr), "%.*s:%d", b->host.len, b->host.ptr,
                 b->port);
        printf("  %-8d %-30s %.*s\n", b->node_id, addr,
               b->rack.len < 0 ? 1 : b->rack.len,
               b->rack.len < 0 ? "-" : b->rack.ptr);
    }
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

static void print_json(const struct bk_client *c, const struct cluster_view *v)
{
    const struct bk_msg_metadata_response *md = &v->md;
    printf("{\"cluster_id\":");
    bk_json_str(stdout, md->cluster_id.ptr, md->cluster_id.len);
    printf(",\"controller_id\":%d,\"brokers\":[", md->controller_id);
    for (int32_t i = 0; i < md->brokers_count; i++) {
        const struct bk_msg_metadata_response_metadata_response_broker *b =
            &md->brokers[i];
        printf("%s{\"node_id\":%d,\"host\":", i ? "," : "", b->node_id);
        bk_json_str(stdout, b->host.ptr, b->host.len);
        printf(",\"port\":%d,\"rack\":", b->port);
        bk_json_str(stdout, b->rack.ptr, b->rack.len);
        printf("}");
    }
    printf("],\"api_versions\":[");
    bool first = true;
    for (int k = 0; k < BK_CLIENT_MAX_KEYS; k++) {
        if (c->broker_max[k] < 0) {
            continue;
        }
        const struct bk_api_desc *d = bk_api_desc((int16_t)k);
        printf("%s{\"api_key\":%d,\"name\":", first ? "" : ",", k);
        bk_json_str(stdout, d != NULL ? d->name : "Unknown",
                    (int)strlen(d != NULL ? d->name : "Unknown"));
        printf(",\"min_version\":%d,\"max_version\":%d,\"usable_version\":%d}",
               c->broker_min[k], c->broker_max[k],
               bk_client_version(c, (int16_t)k));
        first = false;
    }
    printf("]}\n");
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
            print_json(&c, &v);
        } else {
            print_text(&c, &v);
        }
    }
    bk_arena_destroy(&arena);
    bk_client_close(&c);
    return rv;
}
