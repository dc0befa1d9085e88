#include "server/broker.h"

#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <uv.h>

#include "api/api.h"
#include "common/err.h"
#include "common/log.h"
#include "net/net.h"
#include "server/datadir.h"

struct broker {
    const struct bk_config *cfg;
    uv_loop_t loop; /* the control loop: listeners and signals */
    uv_signal_t sigterm;
    uv_signal_t sigint;
    struct bk_listener listeners[BK_MAX_LISTENERS];
    unsigned nlisteners;
    struct bk_shards shards;
    struct bk_datadir datadir;
    struct bk_api_ctx api;
    int signals_seen;
};

static unsigned cpu_count(void)
{
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof(set), &set) == 0) {
        int n = CPU_COUNT(&set);
        if (n > 0) {
            return (unsigned)n;
        }
    }
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (unsigned)n : 1;
}

static void signal_cb(uv_signal_t *h, int signum)
{
    struct broker *b = h->data;
    b->signals_seen++;
    if (b->signals_seen > 1) {
        /* A second signal: the operator does not want to wait. */
        bk_log_warn("server", "signal=%d msg=\"second signal, exiting now\"",
                    signum);
        _exit(1);
    }
    bk_log_info("server", "signal=%d msg=\"shutting down\"", signum);
    for (unsigned i = 0; i < b->nlisteners; i++) {
        bk_listener_close(&b->listeners[i]);
    }
    /* Stop the control loop; the shards are drained after uv_run returns.
     * The signal handles stay open (unref'd) so a second signal is seen
     * while shards drain. */
    uv_unref((uv_handle_t *)&b->sigterm);
    uv_unref((uv_handle_t *)&b->sigint);
    uv_stop(&b->loop);
}

static void fill_api_ctx(struct broker *b)
{
    const struct bk_config *cfg = b->cfg;
    struct bk_api_ctx *a = &b->api;
    a->node_id = (int32_t)cfg->node_id;
    snprintf(a->cluster_id, sizeof(a->cluster_id), "%s", b->datadir.cluster_id);
    snprintf(a->rack, sizeof(a->rack), "%s", cfg->broker_rack);
    a->auto_create_topics = cfg->auto_create_topics_enable;
    a->nadvertised = 0;
    for (unsigned i = 0; i < cfg->nadvertised && i < BK_API_MAX_ADVERTISED;
         i++) {
        const struct bk_listener_cfg *l = &cfg->advertised[i];
        snprintf(a->advertised[i].host, sizeof(a->advertised[i].host), "%s",
                 l->host[0] == '\0' ? "127.0.0.1" : l->host);
        a->advertised[i].port = l->port;
        a->nadvertised++;
    }
    a->shards = &b->shards;
}

static void print_err(const char *line)
{
    fprintf(stderr, "brokerd: %s\n", line);
}

int bk_broker_run(const struct bk_config *cfg)
{
    static struct broker b; /* one per process; lives for its lifetime */
    char err[512];
    int rv;

    memset(&b, 0, sizeof(b));
    b.cfg = cfg;
    rv = bk_datadir_open(&b.datadir, cfg->log_dirs, cfg->node_id, err,
                         sizeof(err));
    if (rv != 0) {
        print_err(err);
        return 1;
    }

    unsigned nshards =
        cfg->num_shards > 0 ? (unsigned)cfg->num_shards : cpu_count();
    struct bk_net_config ncfg = {
        .max_request_bytes = (size_t)cfg->socket_request_max_bytes,
        .max_inflight = (unsigned)cfg->connection_max_inflight_requests,
        .max_queued_out_bytes = (size_t)cfg->connection_max_queued_bytes,
        .request_arena_limit = (size_t)cfg->request_max_memory_bytes,
    };
    fill_api_ctx(&b);
    rv = bk_shards_init(&b.shards, nshards, &ncfg, bk_api_on_request, NULL,
                        NULL, &b.api);
    if (rv != 0) {
        snprintf(err, sizeof(err), "cannot create %u shards: %s", nshards,
                 bk_strerror(rv));
        print_err(err);
        bk_datadir_close(&b.datadir);
        return 1;
    }
    uv_loop_init(&b.loop);
    for (unsigned i = 0; i < cfg->nlisteners; i++) {
        const struct bk_listener_cfg *l = &cfg->listener[i];
        int port = 0;
        char why[300];
        rv = bk_listener_open(&b.listeners[i], &b.loop, &b.shards, l->host,
                              l->port, &port, why, sizeof(why));
        if (rv != 0) {
            snprintf(err, sizeof(err), "listeners: %s", why);
            print_err(err);
            for (unsigned j = 0; j < b.nlisteners; j++) {
                bk_listener_close(&b.listeners[j]);
            }
            uv_run(&b.loop, UV_RUN_DEFAULT);
            uv_loop_close(&b.loop);
            bk_shards_close(&b.shards);
            bk_datadir_close(&b.datadir);
            return 1;
        }
        b.nlisteners++;
        /* With port 0 the advertised port is the one we got. */
        if (i < b.api.nadvertised && b.api.advertised[i].port == 0) {
            b.api.advertised[i].port = port;
        }
        bk_log_info("server", "listener=%s://%s:%d msg=\"listening\"", l->name,
                    l->host, port);
    }
    uv_signal_init(&b.loop, &b.sigterm);
    uv_signal_init(&b.loop, &b.sigint);
    b.sigterm.data = b.sigint.data = &b;
    uv_signal_start(&b.sigterm, signal_cb, SIGTERM);
    uv_signal_start(&b.sigint, signal_cb, SIGINT);
    signal(SIGPIPE, SIG_IGN);

    rv = bk_shards_start(&b.shards);
    if (rv != 0) {
        snprintf(err, sizeof(err), "cannot start shard threads: %s",
                 uv_strerror(rv));
        print_err(err);
        _exit(1);
    }
    bk_log_info("server",
                "node.id=%d cluster.id=%s shards=%u log.dirs=%s "
                "version=%s msg=\"started\"",
                b.api.node_id, b.api.cluster_id, nshards, cfg->log_dirs,
                BK_VERSION);

    uv_run(&b.loop, UV_RUN_DEFAULT);

    bk_shards_stop(&b.shards, (unsigned)cfg->shutdown_timeout_ms);
    uv_close((uv_handle_t *)&b.sigterm, NULL);
    uv_close((uv_handle_t *)&b.sigint, NULL);
    uv_run(&b.loop, UV_RUN_DEFAULT);
    uv_loop_close(&b.loop);
    bk_shards_close(&b.shards);
    bk_datadir_close(&b.datadir);
    bk_log_info("server", "msg=\"stopped\"");
    return 0;
}
