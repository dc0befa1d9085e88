/* The controller's internals shared by its files (controller.c runs raft,
 * observer.c pulls for a node that is not a voter). Internal to
 * src/cluster. */
#ifndef BK_CLUSTER_CONTROLLER_INT_H
#define BK_CLUSTER_CONTROLLER_INT_H

#include <pthread.h>
#include <raft.h>
#include <raft/uv.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <uv.h>

#include "cluster/controller.h"
#include "cluster/fsm.h"
#include "common/err.h"

#define MAX_VOTERS      16
#define MAX_ADDR        256
#define MAX_ENTRY_BYTES (1024 * 1024)
#define LOCK_FILE       "brokerd.lock"

enum { REQ_PROPOSE, REQ_BARRIER, REQ_CALL };

/* A request queued by any thread. */
struct md_req {
    struct md_req *next;
    int kind;
    bk_md_done_cb cb;
    void *data;
    size_t n_recs; /* records encoded in bytes (no batch header) */
    size_t len;
    uint8_t bytes[]; /* REQ_PROPOSE only */
};

/* One raft entry (or barrier) in flight, with the requests it completes. */
struct md_flight {
    struct raft_apply apply;
    struct raft_barrier barrier;
    struct bk_md *md;
    struct md_req *head;
    struct md_req *tail;
    size_t n_recs;
    size_t len;
};

struct voter {
    int32_t node_id;
    char addr[MAX_ADDR];
};

struct bk_md {
    /* Set before the thread starts, then read-only. */
    struct voter voters[MAX_VOTERS];
    size_t n_voters;
    int32_t node_id;
    char address[MAX_ADDR];
    char dir[1024];
    struct bk_md_config cfg;
    int lock_fd;

    pthread_t thread;
    uv_loop_t loop;
    uv_async_t wake;
    uv_check_t check;
    struct raft_uv_transport transport;
    int (*orig_listen)(struct raft_uv_transport *, raft_uv_accept_cb);
    int (*orig_connect)(struct raft_uv_transport *,
                        struct raft_uv_connect *,
                        raft_id,
                        const char *,
                        raft_uv_connect_cb);
    raft_uv_accept_cb user_accept;
    struct raft_io io;
    struct raft raft;
    struct bk_md_fsm fsm;

    /* Start handshake. */
    pthread_mutex_t start_lock;
    pthread_cond_t start_cond;
    int start_state; /* 0 pending, 1 done */
    int start_rv;
    char errmsg[BK_ERRMSG_SIZE];

    /* The queue: any thread pushes under qlock. */
    pthread_mutex_t qlock;
    struct md_req *qhead;
    struct md_req *qtail;
    bool stopping;

    /* Raft thread only. */
    struct md_req *held_head; /* waiting for the post-election barrier */
    struct md_req *held_tail;
    bool was_leader;
    bool barrier_pending;
    bool closing;
    bool close_started;
    bool timer_on;
    struct raft_barrier lead_barrier;
    struct raft_transfer transfer;
    uv_timer_t transfer_timer;

    atomic_int active;
    atomic_int leader;
    /* The newest metadata offset an observer heard of from the controllers
     * (the pull answer's high watermark); 0 on voters, which apply what
     * raft commits as it commits. Read by bk_md_high_offset. */
    atomic_llong high_offset;

    /* The raft term as the io layer last persisted or loaded it (0.15 has
     * no getter; see track_term). Written on the raft thread. */
    atomic_llong term;
    int (*orig_set_term)(struct raft_io *, raft_term);
    int (*orig_load)(struct raft_io *,
                     raft_term *,
                     raft_id *,
                     struct raft_snapshot **,
                     raft_index *,
                     struct raft_entry **,
                     size_t *);

    char ctl_host[MAX_ADDR];         /* cfg.ctl_host, copied */
    char cluster_id[64];             /* cfg.cluster_id, copied */
    struct bk_md_hb *hb;             /* raft thread only */
    struct bk_md_rb *rb;             /* raft thread only */
    struct bk_md_observer *observer; /* observer thread's state */
    bool is_observer; /* set at start: this node pulls, it is no voter */
};

/* Takes everything queued (on the metadata thread), runs the calls among
 * it (status BK_ESHUTDOWN when stopping) and returns the rest; *stopping
 * says whether bk_md_stop has begun. */
struct md_req *bk_md_int_take_queue(struct bk_md *md, bool *stopping);

/* Runs the REQ_CALL requests of list with status and returns the rest. */
struct md_req *bk_md_int_run_calls(struct md_req *list, int status);

/* Completes (and frees) every request of list with status. */
void bk_md_int_complete(struct md_req *list, int status);

/* Tells bk_md_start() how the thread's start went. */
void bk_md_int_start_done(struct bk_md *md, int rv);

/* observer.c: the thread of a node that pulls metadata. Starts it;
 * returns 0 or an error with md->errmsg set. */
int bk_md_observer_start(struct bk_md *md, const char *bootstrap);

#endif /* BK_CLUSTER_CONTROLLER_INT_H */
