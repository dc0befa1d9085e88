#include "server/broker.h"

#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <uv.h>

#include "api/api.h"
#include "api/quota.h"
#include "authz/authz.h"
#include "cluster/controller.h"
#include "cluster/ops.h"
#include "common/clock.h"
#include "common/diag.h"
#include "common/disk.h"
#include "common/err.h"
#include "http/http.h"
#include "log/log.h"
#include "net/net.h"
#include "partition/partition.h"
#include "server/datadir.h"
#include "server/lifecycle.h"
#include "server/notify.h"
#include "server/sasl_setup.h"
#include "server/tls_setup.h"

/* The longest a SIGTERM waits for the controller to confirm a controlled
 * shutdown (the broker leads nothing any more) before stopping anyway. */
#define CONTROLLED_SHUTDOWN_MS 5000

struct broker {
    const struct bk_config *cfg;
    uv_loop_t loop; /* the control loop: listeners and signals */
    uv_signal_t sigterm;
    uv_signal_t sigint;
    struct bk_listener listeners[BK_MAX_LISTENERS];
    unsigned nlisteners;
    /* Owned, SSL listeners only; freed after the shards (their
     * connections use them). */
    struct bk_tls_ctx *tls[BK_MAX_LISTENERS];
    /* Owned, SASL listeners only; freed after the shards too. */
    struct bk_sasl_listener *sasl[BK_MAX_LISTENERS];
    struct bk_shards shards;
    struct bk_datadir datadir;
    struct bk_api_ctx api;
    int bound_port[BK_MAX_LISTENERS];
    struct bk_md *md;
    struct bk_api_notify notify; /* tells the shards of new images */
    struct bk_lc lc;             /* registration and heartbeats */
    bool lc_on;
    struct bk_uuid incarnation; /* this process, random */
    char ctl_host[256];         /* where the controller's requests go */
    int ctl_port;
    struct bk_pid_pool pids;
    struct bk_quota_mgr quotas; /* client quota sensors (api/quota.h) */
    struct bk_storage storage;
    int signals_seen;
    int exit_code;
    struct bk_http *http;   /* admin.listeners; NULL when off */
    struct bk_authz *authz; /* owned; NULL without an authorizer */
    atomic_bool started;    /* unfenced once: /ready may say yes */
    atomic_bool stopping;   /* a signal came: /ready says no */
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

/* Stops the control loop; the shards are drained after uv_run returns.
 * The signal handles stay open (unref'd) so a second signal is seen while
 * shards drain. */
static void stop_control_loop(struct broker *b)
{
    for (unsigned i = 0; i < b->nlisteners; i++) {
        bk_listener_close(&b->listeners[i]);
    }
    uv_unref((uv_handle_t *)&b->sigterm);
    uv_unref((uv_handle_t *)&b->sigint);
    uv_stop(&b->loop);
}

/* Tells systemd (when it runs brokerd) what state changed; a failure is
 * logged, never fatal: the broker serves all the same. */
static void notify(const char *state)
{
    int rv = bk_server_notify(state);
    if (rv != 0) {
        bk_diag_warn("server", "error=\"%s\" msg=\"cannot notify systemd\"",
                     bk_strerror(rv));
    }
}

static void signal_cb(uv_signal_t *h, int signum)
{
    struct broker *b = h->data;
    b->signals_seen++;
    if (b->signals_seen > 1) {
        /* A second signal: the operator does not want to wait. */
        bk_diag_warn("server", "signal=%d msg=\"second signal, exiting now\"",
                     signum);
        _exit(1);
    }
    bk_diag_info("server", "signal=%d msg=\"shutting down\"", signum);
    atomic_store(&b->stopping, true);
    notify("STOPPING=1");
    /* A controlled shutdown first (replication-notes.md §8): the broker
     * keeps serving until the controller has moved its leaderships. */
    if (b->lc_on) {
        bk_lc_shut_down(&b->lc);
    } else {
        stop_control_loop(b);
    }
}

static void lc_shutdown_done(void *data)
{
    stop_control_loop(data);
}

static void lc_ready(void *data)
{
    struct broker *b = data;
    atomic_store(&b->started, true);
    bk_diag_info("server",
                 "node.id=%d cluster.id=%s shards=%u log.dirs=%s "
                 "version=%s msg=\"started\"",
                 b->api.node_id, b->api.cluster_id, b->shards.n,
                 b->cfg->log_dirs, BK_VERSION);
    /* systemd's Type=notify: the unit is up once the broker serves. */
    notify("READY=1\nSTATUS=serving");
}

static void lc_fatal(void *data, const char *why)
{
    struct broker *b = data;
    fprintf(stderr, "brokerd: %s\n", why);
    bk_diag_error("server", "msg=\"%s\"", why);
    b->exit_code = 1;
    stop_control_loop(b);
}

/* Copies one broker setting into the API context (DescribeConfigs). */
static void add_broker_config(const struct bk_config_entry *e, void *data)
{
    struct bk_api_ctx *a = data;
    if (a->n_broker_configs >= BK_API_MAX_BROKER_CONFIGS) {
        return;
    }
    struct bk_api_broker_config *bc = &a->broker_configs[a->n_broker_configs++];
    bc->name = e->name;
    bc->doc = e->doc;
    snprintf(bc->value, sizeof(bc->value), "%s", e->value);
    bc->type = (int8_t)e->type;
    bc->is_default = strcmp(e->value, e->dflt) == 0;
    bc->dynamic = e->dynamic;
    bc->min = e->min;
    bc->max = e->max;
}

static void fill_api_ctx(struct broker *b)
{
    const struct bk_config *cfg = b->cfg;
    struct bk_api_ctx *a = &b->api;
    a->node_id = (int32_t)cfg->node_id;
    snprintf(a->cluster_id, sizeof(a->cluster_id), "%s", b->datadir.cluster_id);
    snprintf(a->rack, sizeof(a->rack), "%s", cfg->broker_rack);
    a->rack_aware_reads =
        strcmp(cfg->replica_selector_class, BK_RACK_AWARE_SELECTOR) == 0;
    a->auto_create_topics = cfg->auto_create_topics_enable;
    a->authz = b->authz;
    a->nadvertised = 0;
    for (unsigned i = 0; i < cfg->nadvertised && i < BK_API_MAX_ADVERTISED;
         i++) {
        const struct bk_listener_cfg *l = &cfg->advertised[i];
        snprintf(a->advertised[i].host, sizeof(a->advertised[i].host), "%s",
                 l->host[0] == '\0' ? "127.0.0.1" : l->host);
        a->advertised[i].port = l->port;
        a->nadvertised++;
    }
    a->num_partitions = (int32_t)cfg->num_partitions;
    a->default_replication_factor = (int16_t)cfg->default_replication_factor;
    a->offsets_partitions = (int32_t)cfg->offsets_topic_num_partitions;
    a->offsets_replication_factor =
        (int16_t)cfg->offsets_topic_replication_factor;
    a->txn.partitions = (int32_t)cfg->transaction_state_log_num_partitions;
    a->txn.rf = (int16_t)cfg->transaction_state_log_replication_factor;
    a->txn.min_isr = (int16_t)cfg->transaction_state_log_min_isr;
    a->txn.max_timeout_ms = (int32_t)cfg->transaction_max_timeout_ms;
    a->txn.id_expiration_ms = cfg->transactional_id_expiration_ms;
    a->txn.abort_interval_ms = cfg->transaction_abort_interval_ms;
    a->txn.verify = cfg->transaction_partition_verification_enable;
    bk_group_config_default(&a->group);
    a->group.initial_rebalance_delay_ms =
        (int32_t)cfg->group_initial_rebalance_delay_ms;
    a->group.min_session_timeout_ms =
        (int32_t)cfg->group_min_session_timeout_ms;
    a->group.max_session_timeout_ms =
        (int32_t)cfg->group_max_session_timeout_ms;
    a->group.max_size = (int32_t)cfg->group_max_size;
    a->group.offsets_retention_ms = cfg->offsets_retention_minutes * 60000;
    a->group.cg_session_timeout_ms =
        (int32_t)cfg->group_consumer_session_timeout_ms;
    a->group.cg_heartbeat_interval_ms =
        (int32_t)cfg->group_consumer_heartbeat_interval_ms;
    a->group.cg_max_size = (int32_t)cfg->group_consumer_max_size;
    /* Validated by bk_config_finish(). */
    (void)bk_group_parse_migration_policy(cfg->group_consumer_migration_policy,
                                          &a->group.cg_upgrade,
                                          &a->group.cg_downgrade);
    a->repl = (struct bk_repl_config){
        .node_id = a->node_id,
        .fetch_wait_max_ms = (int32_t)cfg->replica_fetch_wait_max_ms,
        .fetch_max_bytes = (int32_t)cfg->replica_fetch_max_bytes,
        .fetch_response_max_bytes =
            (int32_t)cfg->replica_fetch_response_max_bytes,
        .fetch_backoff_ms = (int32_t)cfg->replica_fetch_backoff_ms,
        .ack_unsynced = !cfg->replica_fsync_before_ack,
    };
    a->shards = &b->shards;
    a->md = b->md;
    a->storage = &b->storage;
    a->pids = &b->pids;
    a->quotas = &b->quotas;
    a->n_broker_configs = 0;
    bk_config_each(cfg, add_broker_config, a);
}

/* Where this node serves the controller's requests: the listener of
 * controller.listener.names (advertised address when there is one, the
 * port it bound when configured as 0). */
static void controller_endpoint(struct broker *b)
{
    const struct bk_config *cfg = b->cfg;
    unsigned i = cfg->controller_listener;
    const struct bk_listener_cfg *l =
        i < cfg->nadvertised ? &cfg->advertised[i] : &cfg->listener[i];
    const char *host = l->host;
    if (host[0] == '\0' || strcmp(host, "0.0.0.0") == 0) {
        host = "127.0.0.1";
    }
    snprintf(b->ctl_host, sizeof(b->ctl_host), "%s", host);
    b->ctl_port = l->port != 0 ? l->port : b->bound_port[i];
}

/* Starts the metadata quorum; the broker registers later, over the
 * network (server/lifecycle.c), once its shards serve. */
static int start_metadata(struct broker *b, char *err, size_t errlen)
{
    const struct bk_config *cfg = b->cfg;
    char voters[512], dir[4200], why[BK_ERRMSG_SIZE] = "";
    if (cfg->controller_quorum_voters[0] != '\0') {
        snprintf(voters, sizeof(voters), "%s", cfg->controller_quorum_voters);
    } else {
        snprintf(voters, sizeof(voters), "%lld@127.0.0.1:0",
                 (long long)cfg->node_id);
    }
    snprintf(dir, sizeof(dir), "%s/__cluster_metadata-0", cfg->log_dirs);
    controller_endpoint(b);
    b->incarnation = bk_md_random_uuid(bk_md_rng_system());
    struct bk_md_config mc = {
        .node_id = (int32_t)cfg->node_id,
        .voters = voters,
        .dir = dir,
        .election_timeout_ms =
            (unsigned)cfg->controller_quorum_election_timeout_ms,
        .on_image = bk_api_notify_image,
        .on_image_data = &b->notify,
        .ctl_host = b->ctl_host,
        .ctl_port = b->ctl_port,
        .incarnation = b->incarnation,
        .cluster_id = b->datadir.cluster_id,
        .broker_session_ms = (unsigned)cfg->broker_session_timeout_ms,
        .broker_disconnect_fence_ms =
            (unsigned)cfg->broker_fence_on_disconnect_ms,
        .unclean_leader_election = cfg->unclean_leader_election_enable,
        .auto_leader_rebalance = cfg->auto_leader_rebalance_enable,
        .leader_imbalance_check_ms =
            (unsigned)cfg->leader_imbalance_check_interval_seconds * 1000u,
        .leader_imbalance_pct =
            (int32_t)cfg->leader_imbalance_per_broker_percentage,
        .observer = !cfg->is_controller,
        .join = b->datadir.join,
        .bootstrap = cfg->controller_quorum_bootstrap_servers,
    };
    int rv = bk_md_start(&mc, &b->md, why);
    if (rv != 0) {
        snprintf(err, errlen, "controller.quorum.voters: %s", why);
    }
    return rv;
}

/* Registers this broker with the active controller and heartbeats; the
 * broker says it started once the controller unfenced it. A node that is
 * only a controller has nothing to register. */
static void start_lifecycle(struct broker *b)
{
    const struct bk_config *cfg = b->cfg;
    if (!cfg->is_broker) {
        lc_ready(b);
        return;
    }
    unsigned ib = cfg->inter_broker_listener;
    struct bk_lc_config lc = {
        .node_id = (int32_t)cfg->node_id,
        .cluster_id = b->datadir.cluster_id,
        .incarnation = b->incarnation,
        .listener_name = cfg->listener[ib].name,
        .security_protocol = (int16_t)cfg->listener[ib].protocol,
        .host = b->api.advertised[ib].host,
        .port = b->api.advertised[ib].port,
        .rack = cfg->broker_rack[0] != '\0' ? cfg->broker_rack : NULL,
        .heartbeat_ms = (unsigned)cfg->broker_heartbeat_interval_ms,
        .register_ms = (unsigned)cfg->initial_broker_registration_timeout_ms,
        .shutdown_wait_ms = CONTROLLED_SHUTDOWN_MS,
        .on_ready = lc_ready,
        .on_fatal = lc_fatal,
        .on_shutdown_done = lc_shutdown_done,
        .data = b,
    };
    bk_lc_start(&b->lc, &b->loop, b->md, &lc);
    b->lc_on = true;
}

/* Opens the storage context shared by every partition log. */
static int start_storage(struct broker *b, char *err, size_t errlen)
{
    struct bk_storage *st = &b->storage;
    snprintf(st->root, sizeof(st->root), "%s", b->cfg->log_dirs);
    st->disk = bk_disk_posix();
    st->clock = bk_clock_system();
    st->node_id = (int32_t)b->cfg->node_id;
    st->replica_lag_time_max_ms = b->cfg->replica_lag_time_max_ms;
    st->cleaner_enable = b->cfg->log_cleaner_enable;
    st->cleaner_backoff_ms = b->cfg->log_cleaner_backoff_ms;
    st->cleaner_map_bytes = b->cfg->log_cleaner_dedupe_buffer_size;
    st->topic_defaults = &b->cfg->topic_defaults;
    /* Read-only after loading, so the shards may read it at once. */
    st->broker_lookup = bk_config_lookup;
    st->broker_lookup_data = (void *)b->cfg;
    int rv = bk_fdcache_new(st->disk, (int)b->cfg->log_max_open_files, &st->fc);
    if (rv == 0) {
        rv = bk_syncer_start(st->disk, st->fc, true, &st->syncer);
    }
    if (rv == 0) {
        rv = bk_log_root_begin(st->disk, st->root, &st->was_clean);
    }
    if (rv == 0) {
        rv = bk_log_space_new(st->disk, st->clock, st->root,
                              b->cfg->log_dir_min_free_bytes, &st->space);
    }
    if (rv != 0) {
        snprintf(err, errlen,
                 "log.dirs: cannot open the log store in %.300s: %s", st->root,
                 bk_strerror(rv));
    }
    return rv;
}

static void stop_storage(struct broker *b)
{
    struct bk_storage *st = &b->storage;
    if (st->syncer != NULL) {
        bk_syncer_stop(st->syncer);
        st->syncer = NULL;
        /* Every log was closed cleanly by the shards: mark the root. */
        int rv = bk_log_root_end(st->disk, st->root);
        if (rv != 0) {
            bk_diag_warn("server",
                         "msg=\"cannot write the clean shutdown "
                         "marker: %s\"",
                         bk_strerror(rv));
        }
    }
    if (st->fc != NULL) {
        bk_fdcache_free(st->fc);
        st->fc = NULL;
    }
    bk_log_space_free(st->space);
    st->space = NULL;
}

static void close_listeners(struct broker *b)
{
    for (unsigned j = 0; j < b->nlisteners; j++) {
        bk_listener_close(&b->listeners[j]);
    }
    uv_close((uv_handle_t *)&b->sigterm, NULL);
    uv_close((uv_handle_t *)&b->sigint, NULL);
    uv_run(&b->loop, UV_RUN_DEFAULT);
    uv_loop_close(&b->loop);
}

static void print_err(const char *line)
{
    fprintf(stderr, "brokerd: %s\n", line);
}

/* Signals are caught from here on; one that arrives during start-up is
 * handled as soon as the control loop runs. */
static void catch_signals(struct broker *b)
{
    uv_signal_init(&b->loop, &b->sigterm);
    uv_signal_init(&b->loop, &b->sigint);
    b->sigterm.data = b->sigint.data = b;
    uv_signal_start(&b->sigterm, signal_cb, SIGTERM);
    uv_signal_start(&b->sigint, signal_cb, SIGINT);
    (void)signal(SIGPIPE, SIG_IGN);
}

/* Binds every configured listener, recording the port each got (port 0
 * binds an ephemeral one). On failure err says why; the listeners opened so
 * far stay in b for close_listeners. */
static int open_listeners(struct broker *b, char *err, size_t errlen)
{
    const struct bk_config *cfg = b->cfg;
    for (unsigned i = 0; i < cfg->nlisteners; i++) {
        const struct bk_listener_cfg *l = &cfg->listener[i];
        int port = 0;
        char why[300];
        struct bk_conn_origin origin = {
            .listener = i,
            .tls = b->tls[i],
            .sasl = b->sasl[i] != NULL,
            .sasl_max_receive = (size_t)cfg->sasl_server_max_receive_size,
            .sasl_config = b->sasl[i],
        };
        int rv =
            bk_listener_open(&b->listeners[i], &b->loop, &b->shards, &origin,
                             l->host, l->port, &port, why, sizeof(why));
        if (rv != 0) {
            snprintf(err, errlen, "listeners: %s", why);
            return rv;
        }
        b->bound_port[i] = port;
        b->nlisteners++;
    }
    return 0;
}

/* Starts the metadata quorum, then the log store. On failure err says why,
 * preceded on stderr by the full disk that caused it, if one did. */
static int start_services(struct broker *b, char *err, size_t errlen)
{
    bk_datadir_sweep_deleted(&b->datadir);
    int rv = start_metadata(b, err, errlen);
    if (rv == 0) {
        rv = start_storage(b, err, errlen);
    }
    if (rv != 0) {
        /* A full disk makes the first write fail, wherever it is: name the
         * cause rather than the component that tripped on it. */
        char full[512];
        if (bk_datadir_full(&b->datadir, full, sizeof(full))) {
            print_err(full);
        }
    }
    return rv;
}

/* Undoes a start-up that got past the listeners, in reverse order. */
static void abort_start(struct broker *b)
{
    close_listeners(b);
    bk_server_tls_free(b->tls);
    bk_server_sasl_free(b->sasl);
    stop_storage(b);
    if (b->md != NULL) {
        bk_md_stop(b->md);
    }
    bk_datadir_close(&b->datadir);
}

static struct bk_net_config net_config(const struct bk_config *cfg)
{
    return (struct bk_net_config){
        .max_request_bytes = (size_t)cfg->socket_request_max_bytes,
        .max_inflight = (unsigned)cfg->connection_max_inflight_requests,
        .max_queued_out_bytes = (size_t)cfg->connection_max_queued_bytes,
        .request_arena_limit = (size_t)cfg->request_max_memory_bytes,
        .max_queued_request_bytes = cfg->queued_max_request_bytes > 0
                                        ? (size_t)cfg->queued_max_request_bytes
                                        : 0,
        .max_connections = (unsigned)cfg->max_connections,
        .max_connections_per_ip = (unsigned)cfg->max_connections_per_ip,
        .per_ip_overrides = cfg->max_connections_per_ip_overrides,
        .max_idle_ms = (uint64_t)cfg->connections_max_idle_ms,
        .partial_request_ms =
            (uint64_t)cfg->connection_partial_request_timeout_ms,
        .slow_request_ms = cfg->log_slow_request_ms,
    };
}

/* Creates the shards (not yet running) with the API as their handler. */
static int init_shards(struct broker *b,
                       unsigned nshards,
                       char *err,
                       size_t errlen)
{
    struct bk_net_config ncfg = net_config(b->cfg);
    fill_api_ctx(b);
    int rv = bk_shards_init(&b->shards, nshards, &ncfg, bk_api_on_request,
                            bk_api_shard_start, bk_api_shard_drain,
                            bk_api_shard_stop, &b->api);
    if (rv != 0) {
        snprintf(err, errlen, "cannot create %u shards: %s", nshards,
                 bk_strerror(rv));
    }
    return rv;
}

static void announce_listeners(struct broker *b)
{
    const struct bk_config *cfg = b->cfg;
    for (unsigned i = 0; i < b->nlisteners; i++) {
        /* With port 0 the advertised port is the one we got. */
        if (i < b->api.nadvertised && b->api.advertised[i].port == 0) {
            b->api.advertised[i].port = b->bound_port[i];
        }
        bk_diag_info(
            "server",
            "listener=%s://%s:%d protocol=%s shards=%u "
            "msg=\"listening\"",
            cfg->listener[i].name, cfg->listener[i].host, b->bound_port[i],
            bk_sec_protocol_name(cfg->listener[i].protocol), b->shards.n);
    }
}

/* Starts the shard threads, told of metadata images from now on. Past this
 * point nothing can be undone cleanly, so a failure exits the process. */
static void run_shards(struct broker *b, unsigned nshards)
{
    if (bk_api_notify_attach(&b->notify, &b->shards) != 0) {
        print_err("out of memory at start");
        _exit(1);
    }
    int rv = bk_shards_start(&b->shards);
    if (rv != 0) {
        char err[512];
        snprintf(err, sizeof(err), "cannot start shard threads: %s",
                 uv_strerror(rv));
        print_err(err);
        _exit(1);
    }
    (void)nshards;
}

/* Starts the admin HTTP listener when admin.listeners is set, once the
 * shards run (its pages read them). A port that cannot be bound stops
 * the broker, as a Kafka listener's would. */
static int start_http(struct broker *b)
{
    const struct bk_config *cfg = b->cfg;
    if (!cfg->admin_on) {
        return 0;
    }
    struct bk_http_src src = {
        .node_id = (int32_t)cfg->node_id,
        .cluster_id = b->datadir.cluster_id,
        .version = BK_VERSION,
        .is_broker = cfg->is_broker,
        .shards = &b->shards,
        .md = b->md,
        .syncer = b->storage.syncer,
        .started = &b->started,
        .stopping = &b->stopping,
    };
    char err[512];
    int port = 0;
    int rv = bk_http_start(cfg->admin.host, cfg->admin.port, &src, &b->http,
                           &port, err, sizeof(err));
    if (rv != 0) {
        print_err(err);
        return rv;
    }
    bk_diag_info("server", "listener=http://%s:%d msg=\"admin listening\"",
                 cfg->admin.host, port);
    return 0;
}

/* After the control loop ends (a signal): drain and stop the shards, then
 * close everything in the reverse order of start-up. */
static void shut_down(struct broker *b)
{
    /* First: its pages read the shards, the image and the syncer. */
    bk_http_stop(b->http);
    b->http = NULL;
    if (b->lc_on) {
        bk_lc_close(&b->lc);
    }
    bk_api_notify_detach(&b->notify);
    bk_shards_stop(&b->shards, (unsigned)b->cfg->shutdown_timeout_ms);
    uv_close((uv_handle_t *)&b->sigterm, NULL);
    uv_close((uv_handle_t *)&b->sigint, NULL);
    uv_run(&b->loop, UV_RUN_DEFAULT);
    uv_loop_close(&b->loop);
    bk_shards_close(&b->shards);
    bk_server_tls_free(b->tls);
    bk_server_sasl_free(b->sasl);
    stop_storage(b);
    bk_md_stop(b->md);
    bk_api_notify_close(&b->notify);
    bk_quota_mgr_close(&b->quotas);
    bk_datadir_close(&b->datadir);
    bk_diag_info("server", "msg=\"stopped\"");
}

int bk_broker_run(const struct bk_config *cfg)
{
    static struct broker b; /* one per process; lives for its lifetime */
    char err[512];
    int rv;

    memset(&b, 0, sizeof(b));
    b.cfg = cfg;
    bk_api_notify_init(&b.notify);
    uv_mutex_init(&b.pids.lock);
    if (bk_quota_mgr_init(&b.quotas, bk_clock_system(),
                          (unsigned)cfg->quota_window_num,
                          (unsigned)cfg->quota_window_size_seconds) != 0) {
        print_err("out of memory for the client quotas");
        return 1;
    }
    /* Checked when the config was read; made once, shared by the shards
     * read-only, and kept for the process's lifetime. */
    rv = bk_authz_new(cfg->authorizer_class_name, cfg->super_users,
                      cfg->allow_everyone_if_no_acl_found, &b.authz, err,
                      sizeof(err));
    if (rv != 0) {
        print_err(err);
        return 1;
    }
    rv = bk_datadir_open_config(&b.datadir, cfg, err, sizeof(err));
    if (rv != 0) {
        print_err(err);
        return 1;
    }

    /* Keys and certificates first, then the listeners: a bad key file or
     * a port in use must stop start-up before anything else (the metadata
     * quorum) starts and logs. */
    rv = bk_server_tls_new(cfg, b.tls, err, sizeof(err));
    if (rv == 0) {
        rv = bk_server_sasl_new(cfg, b.sasl, err, sizeof(err));
        if (rv != 0) {
            bk_server_tls_free(b.tls);
        }
    }
    if (rv != 0) {
        print_err(err);
        bk_datadir_close(&b.datadir);
        return 1;
    }
    uv_loop_init(&b.loop);
    catch_signals(&b);
    rv = open_listeners(&b, err, sizeof(err));
    if (rv != 0) {
        print_err(err);
        close_listeners(&b);
        bk_server_tls_free(b.tls);
        bk_server_sasl_free(b.sasl);
        bk_datadir_close(&b.datadir);
        return 1;
    }

    rv = start_services(&b, err, sizeof(err));
    if (rv != 0) {
        print_err(err);
        abort_start(&b);
        return 1;
    }

    unsigned nshards =
        cfg->num_shards > 0 ? (unsigned)cfg->num_shards : cpu_count();
    rv = init_shards(&b, nshards, err, sizeof(err));
    if (rv != 0) {
        print_err(err);
        abort_start(&b);
        return 1;
    }
    announce_listeners(&b);
    run_shards(&b, nshards);
    if (start_http(&b) != 0) {
        b.exit_code = 1;
        stop_control_loop(&b);
    } else {
        start_lifecycle(&b);
    }

    uv_run(&b.loop, UV_RUN_DEFAULT);

    shut_down(&b);
    return b.exit_code;
}
