/* The metadata controller: one raft group on its own thread and loop.
 *
 * bk_md_start() opens (or bootstraps) the raft log in the metadata
 * directory, starts a dedicated pthread running its own uv_loop, and
 * returns once raft_start succeeded. From then on:
 *
 *  - any thread reads the newest applied metadata with
 *    bk_md_image_acquire()/bk_md_image_release(), without locks;
 *  - any thread proposes records with bk_md_propose(); everything pending
 *    when the raft thread wakes up is coalesced into ONE raft entry
 *    (raft-notes §3.4), applied atomically;
 *  - completion callbacks run ON THE RAFT THREAD. They must be short and
 *    must not block; a caller that lives on a shard loop bounces the result
 *    to its own loop (its cross-shard queue + uv_async_send). They may call
 *    bk_md_propose() and bk_md_image_acquire().
 *
 * Mitigations of raft-notes §5 applied here: pre-vote on; a raft_barrier
 * after winning an election before proposals are accepted (the node is
 * "active" only once it has applied everything of earlier terms); the
 * raft_uv_tcp transport wrapped to set TCP_NODELAY on every raft connection;
 * flock(LOCK_EX|LOCK_NB) on the metadata directory; raft on its own thread;
 * snapshot threshold 16384 and trailing 4096 by default.
 *
 * Raft ids are node.id + 1 (raft reserves id 0; Kafka allows node.id 0).
 *
 * Not yet here: forwarding proposals from a follower to the leader (a
 * follower answers BK_ENOTLEADER; the admin layer must send the request to
 * the active controller, as Kafka's clients do), membership changes, and a
 * raft_transfer on controlled shutdown. */
#ifndef BK_CLUSTER_CONTROLLER_H
#define BK_CLUSTER_CONTROLLER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cluster/image.h"
#include "cluster/ops.h"
#include "cluster/records.h"

/* The outcome of a proposal is unknown: leadership was lost after the entry
 * was appended, and it may still commit. Re-read the image (after the next
 * leader's barrier) before retrying. */
#define BK_MD_EUNKNOWN BK_EAGAIN

struct bk_md_config {
    int32_t node_id;    /* node.id, >= 0 */
    const char *voters; /* controller.quorum.voters: "1@host:port,..." */
    const char *dir;    /* metadata directory; created when missing */
    unsigned election_timeout_ms;  /* 0: 1000 */
    unsigned heartbeat_timeout_ms; /* 0: 100 */
    unsigned snapshot_threshold;   /* 0: 16384 entries */
    unsigned snapshot_trailing;    /* 0: 4096 entries */
    /* Called on the raft thread after each new image is published (also
     * for images restored at start). It must be short and must not block:
     * it tells the readers, who acquire the image themselves. May be NULL;
     * on_image_data is borrowed until bk_md_stop returns. */
    void (*on_image)(void *data);
    void *on_image_data;
    /* Where this node serves the controller's Kafka requests (the listener
     * of controller.listener.names); the active controller records it in
     * the log. ctl_port 0: not recorded (tests). Copied. */
    const char *ctl_host;
    int32_t ctl_port;
    struct bk_uuid incarnation; /* random per process */
    /* meta.properties' cluster.id: written to a new log, checked against
     * an old one. NULL: neither. Copied. */
    const char *cluster_id;
    /* controller.quorum.bootstrap.servers: the controllers' listeners a
     * node that is not a voter pulls metadata from ("host:port,...").
     * Borrowed during bk_md_start. */
    const char *bootstrap;
    /* This node is no voter (process.roles=broker): it pulls. */
    bool observer;
    /* A controller that joins a running quorum (brokerd format
     * --no-initial-controllers): its log stays empty until the leader,
     * after bk_md_add_voter, sends it; it never writes a configuration of
     * its own. */
    bool join;
    /* broker.session.timeout.ms: the active controller fences a broker
     * that has not heartbeaten for this long. 0: 9000. */
    unsigned broker_session_ms;
    /* broker.fence.on.disconnect.ms (bk_md_broker_disconnected); 0: off */
    unsigned broker_disconnect_fence_ms;
    /* unclean.leader.election.enable: the default of the topic config
     * when neither the topic nor the cluster-wide broker configs set it. */
    bool unclean_leader_election;
    /* auto.leader.rebalance.enable and its check
     * (leader.imbalance.check.interval.seconds, in ms, 0: 300000;
     * leader.imbalance.per.broker.percentage): cluster/rebalance.h. */
    bool auto_leader_rebalance;
    unsigned leader_imbalance_check_ms;
    int32_t leader_imbalance_pct;
};

struct bk_md;

/* Completion of a proposal or barrier; runs on the raft thread. status:
 * 0 (applied), BK_ENOTLEADER (not proposed: this node is not the active
 * controller), BK_MD_EUNKNOWN (leadership lost; may or may not commit),
 * BK_ESTATE (committed, but some of these records conflicted with the image
 * and were skipped: e.g. the topic was created meanwhile), BK_ESHUTDOWN,
 * BK_ENOMEM or BK_EIO. */
typedef void (*bk_md_done_cb)(void *data, int status);

/* Starts the controller. Borrows cfg during the call only. On failure
 * returns BK_ECONFIG (bad voters / node.id not a voter), BK_EBUSY (the
 * directory is locked by another process), BK_EIO (raft could not start),
 * BK_ENOMEM, and writes one clear line to errmsg (BK_ERRMSG_SIZE bytes),
 * e.g. "data directory /x is locked by another brokerd process". */
int bk_md_start(const struct bk_md_config *cfg,
                struct bk_md **out,
                char *errmsg);

/* Stops raft, fails what is still queued with BK_ESHUTDOWN, joins the
 * thread, unlocks the directory and frees md. Not from the raft thread.
 * Images acquired earlier remain valid until released. */
void bk_md_stop(struct bk_md *md);

/* Any thread: the newest applied image (returns owned: release it). */
struct bk_md_image *bk_md_image_acquire(struct bk_md *md);

/* Any thread: encodes recs now (they are borrowed only during the call) and
 * queues them for the next raft entry. The records of one call always land
 * in one entry, so they apply atomically; calls queued together share an
 * entry (up to 1 MiB). cb fires exactly once, on the raft thread, unless
 * this returns an error: BK_ESHUTDOWN, BK_ENOMEM, or BK_EINVAL for n == 0,
 * an unknown record type or more than 16 MiB of records. */
int bk_md_propose(struct bk_md *md,
                  const struct bk_md_rec *recs,
                  size_t n,
                  bk_md_done_cb cb,
                  void *data);

/* Any thread: cb fires once everything committed before it has been applied
 * on this node (a raft barrier; leader only, else BK_ENOTLEADER). Acquire
 * the image after it for a linearizable read. Errors as bk_md_propose. */
int bk_md_barrier(struct bk_md *md, bk_md_done_cb cb, void *data);

/* Blocking forms for start-up and tools; never from the raft thread.
 * Return the callback's status, or BK_EAGAIN after timeout_ms (the
 * proposal may still complete later). */
int bk_md_propose_sync(struct bk_md *md,
                       const struct bk_md_rec *recs,
                       size_t n,
                       unsigned timeout_ms);
int bk_md_barrier_sync(struct bk_md *md, unsigned timeout_ms);

/* Any thread: runs cb(data, 0) on the raft thread, or cb(data,
 * BK_ESHUTDOWN) when the controller stops first. Returns 0, BK_ENOMEM or
 * BK_ESHUTDOWN (then cb never runs). */
int bk_md_call(struct bk_md *md, bk_md_done_cb cb, void *data);

/* Any thread: how many whole images this node has installed (a snapshot
 * restored at start or sent by the leader, or an image pulled). */
int64_t bk_md_images_installed(struct bk_md *md);

/* The node.id this controller runs as. */
int32_t bk_md_node_id(const struct bk_md *md);

/* ---- broker membership (cluster/heartbeats.c) ------------------------ */

/* The answer to a BrokerRegistration or BrokerHeartbeat, built on the raft
 * thread. error is a Kafka error code; msg is for the log. */
struct bk_md_member_resp {
    int16_t error;
    int64_t epoch; /* registration: the broker epoch */
    bool caught_up;
    bool fenced;
    bool should_shut_down;
    char msg[BK_MD_MSG_SIZE];
};

/* Completion, on the raft thread: short, non-blocking. resp is borrowed
 * for the call. */
typedef void (*bk_md_member_cb)(void *data,
                                const struct bk_md_member_resp *resp);

/* BrokerRegistration (api 62) on the active controller (else
 * NOT_CONTROLLER): Kafka's checks (cluster id, a live session of another
 * incarnation: DUPLICATE_BROKER_REGISTRATION), then the registration
 * record, fenced; the answer comes once it is applied. reg and its strings
 * are copied. Returns 0 (cb will run once) or BK_ENOMEM/BK_ESHUTDOWN. */
int bk_md_broker_register(struct bk_md *md,
                          const struct bk_md_registration *reg,
                          bk_md_member_cb cb,
                          void *data);

struct bk_md_heartbeat {
    int32_t id;
    int64_t epoch;
    int64_t metadata_offset; /* the image offset the broker has applied */
    bool want_fence;
    bool want_shut_down;
    uint64_t conn; /* the connection it came on (bk_conn_id); 0: none */
};

/* BrokerHeartbeat (api 63) on the active controller: renews the broker's
 * session and moves it through Kafka's states (fenced until caught up,
 * unfenced, controlled shutdown until it leads nothing, then shut down);
 * a state change is answered once its record is applied. Stale epoch:
 * STALE_BROKER_EPOCH. Returns as bk_md_broker_register. */
int bk_md_broker_heartbeat(struct bk_md *md,
                           const struct bk_md_heartbeat *hb,
                           bk_md_member_cb cb,
                           void *data);

/* Any thread: the connection conn (bk_conn_id) that carried broker id's
 * heartbeats at epoch closed. When it is still the broker's last
 * heartbeat connection, its session now ends broker.fence.on.disconnect.ms
 * from now unless a heartbeat comes first: a broker process that died
 * (kill -9, a crash) closes its connections at once, and its partitions
 * move in about a second rather than a whole session. Returns 0, BK_ENOMEM
 * or BK_ESHUTDOWN. */
int bk_md_broker_disconnected(struct bk_md *md,
                              int32_t id,
                              int64_t epoch,
                              uint64_t conn);

/* ---- ISR changes (cluster/alter_partition.c) -------------------------- */

struct bk_msg_alter_partition_request;
struct bk_msg_alter_partition_response;

/* Any thread: readies resp for bk_md_alter_partition(): one answer per
 * topic and partition of req (borrowed; names and ids are views into it),
 * with room for each ISR, allocated in arena. Returns 0 or BK_ENOMEM. */
int bk_md_alter_partition_prepare(
    const struct bk_msg_alter_partition_request *req,
    int16_t version,
    struct bk_msg_alter_partition_response *resp,
    struct bk_arena *arena);

/* AlterPartition (api 56, version `version`) on the active controller:
 * checks the sender's broker epoch (top-level STALE_BROKER_EPOCH), then
 * each partition with bk_md_op_alter_partition() on the raft thread,
 * proposes the changes as one entry and fills resp (prepared; borrowed,
 * like req, until cb) once it is applied. Top-level NOT_CONTROLLER when
 * this node is not the active controller or loses leadership first. cb
 * runs once, on the raft thread, with status 0. Returns 0, BK_ENOMEM or
 * BK_ESHUTDOWN (then cb never runs). */
int bk_md_alter_partition(struct bk_md *md,
                          const struct bk_msg_alter_partition_request *req,
                          int16_t version,
                          struct bk_msg_alter_partition_response *resp,
                          bk_md_done_cb cb,
                          void *data);

/* ---- brokers that pull metadata (raft-notes.md §5.4) ------------------- */

/* What a pulling broker gets: kind byte, then the entries after `from` in
 * cluster/tail.h's form, or the whole image (bk_md_image_snapshot). */
#define BK_MD_PULL_ENTRIES 0
#define BK_MD_PULL_IMAGE   1

/* Any thread, on a voter: the metadata after image offset `from`, up to
 * about max_bytes: the entries when this node still has them, else the
 * image. *payload (in arena) is NULL when there is nothing after from yet.
 * *high gets this node's image offset. Returns 0, BK_ENOMEM, or
 * BK_ENOTLEADER on a node that pulls itself (it serves no one). */
int bk_md_pull(struct bk_md *md,
               int64_t from,
               size_t max_bytes,
               struct bk_arena *arena,
               uint8_t **payload,
               size_t *len,
               int64_t *high);

/* Waits until this node is the active controller (leader, barrier done).
 * Returns 0 or BK_ENOTLEADER after timeout_ms. */
int bk_md_wait_active(struct bk_md *md, unsigned timeout_ms);

/* Any thread: whether this node is the active controller right now. */
bool bk_md_is_active(struct bk_md *md);

/* Any thread: the node.id of the current leader as this node knows it, or
 * -1 when unknown. */
int32_t bk_md_leader(struct bk_md *md);

/* Any thread: the newest metadata offset this node knows to be committed:
 * for an observer the controllers' high watermark from its last pull, for
 * a voter its own image's offset (raft applies entries as it commits
 * them). Minus the image's offset it is the apply lag. */
int64_t bk_md_high_offset(struct bk_md *md);

/* ---- quorum state (DescribeQuorum, api 55; cluster/quorum.c) ---------- */

/* The current raft term as this node last persisted or loaded it (Kafka's
 * leader epoch of __cluster_metadata), 0 before raft started. Any thread. */
int64_t bk_md_term(struct bk_md *md);

/* The voters' node ids: copies up to cap into ids and returns how many
 * voters there are. On the raft thread the live configuration (membership
 * changes move it away from controller.quorum.voters); elsewhere, and
 * before raft has one, the configured voters. */
size_t bk_md_voters(const struct bk_md *md, int32_t *ids, size_t cap);

/* ---- controller membership (cluster/membership.c) --------------------- */

/* On the active controller (else NOT_CONTROLLER): adds node id, whose raft
 * address is host:port, as a voter: it joins as a spare, catches up, and
 * becomes a voter; cb runs once it is one (resp.error Kafka's code:
 * DUPLICATE_VOTER, REQUEST_TIMED_OUT for a change in progress or a voter
 * that did not catch up). The node must have started with an empty log
 * (brokerd format --no-initial-controllers). Returns 0 (cb will run),
 * BK_EINVAL, BK_ENOMEM or BK_ESHUTDOWN. */
int bk_md_add_voter(struct bk_md *md,
                    int32_t id,
                    const char *address,
                    bk_md_member_cb cb,
                    void *data);

/* Removes voter id (VOTER_NOT_FOUND when it is none; INVALID_REQUEST for
 * the active controller itself, which must hand leadership over first). */
int bk_md_remove_voter(struct bk_md *md,
                       int32_t id,
                       bk_md_member_cb cb,
                       void *data);

/* What the active controller knows of one replica of the metadata log. */
struct bk_md_replica_progress {
    int32_t id;
    int64_t log_end_offset;    /* metadata offset; -1 unknown */
    int64_t last_fetch_ms;     /* wall clock of its last report; -1 */
    int64_t last_caught_up_ms; /* wall clock it last matched us; -1 */
};

#define BK_MD_QUORUM_MAX_VOTERS 16

/* A snapshot of the quorum taken on the active controller. */
struct bk_md_quorum {
    int32_t leader;         /* node id */
    int64_t term;           /* raft term: the leader epoch */
    int64_t high_watermark; /* the leader's metadata offset */
    size_t n_voters;
    struct bk_md_replica_progress voters[BK_MD_QUORUM_MAX_VOTERS];
    size_t n_observers;
    struct bk_md_replica_progress *observers; /* owned by the struct */
};

/* Completion on the raft thread: status 0 and q (returns owned: free it
 * with bk_md_quorum_free, from any thread), or BK_ENOTLEADER (this node is
 * not the active controller), BK_ENOMEM or BK_ESHUTDOWN and q NULL. */
typedef void (*bk_md_quorum_cb)(void *data, int status, struct bk_md_quorum *q);

/* Any thread: takes the snapshot on the raft thread. Voters' offsets are
 * the metadata offsets their heartbeats reported (raft 0.15 shows no
 * follower progress); the leader's is its own image offset. Brokers with a
 * session that are not voters are observers. Returns 0 (cb runs once) or
 * BK_ENOMEM/BK_ESHUTDOWN (cb never runs). */
int bk_md_describe_quorum(struct bk_md *md, bk_md_quorum_cb cb, void *data);

void bk_md_quorum_free(struct bk_md_quorum *q);

/* Registers this broker and waits until the registration is applied: waits
 * to be the active controller, builds the record with
 * bk_md_op_register_broker() on the newest image, proposes it and waits.
 * *epoch (may be NULL) gets the broker epoch. Returns 0, BK_ENOTLEADER,
 * BK_EAGAIN (timeout), BK_EINVAL or a proposal status. */
int bk_md_register_broker_sync(struct bk_md *md,
                               int32_t id,
                               const char *host,
                               int32_t port,
                               const char *rack,
                               unsigned timeout_ms,
                               int64_t *epoch);

#endif /* BK_CLUSTER_CONTROLLER_H */
