/* This broker's membership, seen from the broker: it registers with the
 * active controller, heartbeats, waits to be unfenced before it calls
 * itself started, and on SIGTERM asks for a controlled shutdown and waits
 * until the controller lets it go (Kafka's BrokerLifecycleManager;
 * replication-notes.md §8). Runs on the control loop; the requests travel
 * over an api/ctl_channel.h connection, even when this node is the active
 * controller itself, so there is one path to test. */
#ifndef BK_SERVER_LIFECYCLE_H
#define BK_SERVER_LIFECYCLE_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "api/ctl_channel.h"
#include "cluster/controller.h"
#include "protocol/prim.h"

struct bk_lc_config {
    int32_t node_id;
    const char *cluster_id; /* borrowed, lives as long as the lifecycle */
    struct bk_uuid incarnation;
    /* The advertised address of the inter-broker listener, which other
     * brokers connect to and are given in Metadata; borrowed. */
    const char *listener_name;
    int16_t security_protocol; /* Kafka's SecurityProtocol id */
    const char *host;
    int32_t port;
    const char *rack;          /* NULL when unset; borrowed */
    unsigned heartbeat_ms;     /* broker.heartbeat.interval.ms */
    unsigned register_ms;      /* initial.broker.registration.timeout.ms */
    unsigned shutdown_wait_ms; /* longest wait for a controlled shutdown */
    /* Called on the control loop. on_ready: first unfenced. on_fatal: this
     * node cannot join (one line why); the process should exit.
     * on_shutdown_done: the controller let it go, or the wait ended. */
    void (*on_ready)(void *data);
    void (*on_fatal)(void *data, const char *why);
    void (*on_shutdown_done)(void *data);
    void *data; /* borrowed */
};

struct bk_lc {
    struct bk_lc_config cfg;
    uv_loop_t *loop; /* borrowed */
    struct bk_ctl_channel ch;
    uv_timer_t timer;
    int64_t epoch; /* -1 until registered */
    uint64_t started_at;
    uint64_t shutdown_at;
    bool in_flight;
    bool ready;
    bool fenced;
    bool want_shut_down;
    bool done; /* shut down, fatal, or closed */
    int warned_code;
    /* When this node is the active controller the request goes straight to
     * it (no connection to itself, which would count against the client
     * limits of its own listener); the answer comes back through async. */
    uv_async_t async;
    pthread_mutex_t lock; /* guards local and closed */
    struct bk_md_member_resp local;
    int16_t local_key;
    bool closed;
};

/* Starts registering at once. md is borrowed until bk_lc_close. */
void bk_lc_start(struct bk_lc *lc,
                 uv_loop_t *loop,
                 struct bk_md *md,
                 const struct bk_lc_config *cfg);

/* Asks for a controlled shutdown; on_shutdown_done follows. */
void bk_lc_shut_down(struct bk_lc *lc);

/* Stops; the loop must run afterwards to close the handles. */
void bk_lc_close(struct bk_lc *lc);

#endif /* BK_SERVER_LIFECYCLE_H */
