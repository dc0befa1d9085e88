/* One request as the handlers see it: the parsed header, the decoded body,
 * and the way to answer. Internal to src/api. */
#ifndef BK_API_CALL_H
#define BK_API_CALL_H

#include "api/api.h"
#include "protocol/gen/api.h"
#include "protocol/header.h"

struct bk_md_rec;
struct bk_md_image;

struct bk_call {
    struct bk_req *req;           /* borrowed; owns the arena below */
    const struct bk_api_ctx *ctx; /* borrowed, immutable */
    struct bk_req_header hdr;
    const struct bk_api_desc *desc;
    void *request;          /* arena-owned decoded body */
    struct bk_arena *arena; /* == &req->arena */
    void *data_ptr;         /* the handler's own state (arena-owned) */
    /* Client quotas (quota.c): the throttle time the answer carries, and
     * a Fetch's consumer quota between its entry and its answer. */
    int32_t quota_ms;
    bool quota_fetch;
    double quota_bound;
    const char *quota_user;   /* arena-owned or borrowed from the conn */
    const char *quota_client; /* arena-owned */
};

typedef void (*bk_handler_fn)(struct bk_call *call);

/* A row of the dispatch table. */
struct bk_handler {
    int16_t key;
    int16_t min_version; /* lowest version decoded and answered */
    int16_t max_version;
    /* Lowest version advertised in ApiVersions; below min_version only
     * where protocol-notes.md §b says clients need it (Produce v0). */
    int16_t advertised_min;
    bk_handler_fn fn;
};

/* The table, sorted by key; *n gets its length. */
const struct bk_handler *bk_api_handlers(size_t *n);

/* Encodes resp (a response struct of call's API) at the request's version,
 * behind the right response header, and answers. On an encoding failure
 * the connection is closed. */
void bk_call_reply(struct bk_call *call, const void *resp);

/* Encodes resp like bk_call_reply() but leaves out deferred byte regions
 * (bytes fields with ptr == NULL and len > 0, see prim.h), whose lengths
 * add up to deferred_bytes: *buf (arena-owned, *buf_len bytes) holds the
 * frame without them, and holes[0..*nholes) say where each belongs. The
 * caller answers with bk_req_reply_chunks(). Returns 0 or a BK_E* code. */
int bk_call_encode_deferred(struct bk_call *call,
                            const void *resp,
                            size_t deferred_bytes,
                            struct bk_wr_hole *holes,
                            size_t holes_cap,
                            size_t *nholes,
                            uint8_t **buf,
                            size_t *buf_len);

/* Same, forcing response header v0 (ApiVersions, KIP-511). */
void bk_call_reply_v0_header(struct bk_call *call,
                             const void *resp,
                             int16_t body_version);

/* Proposes metadata records on behalf of call and calls done(call, status)
 * back on the call's shard once they are applied (status 0), refused
 * (BK_ENOTLEADER), or of unknown outcome (BK_MD_EUNKNOWN). The records are
 * encoded during the call (borrowed). Returns 0, or an error when nothing
 * was proposed (then done is not called). */
int bk_api_propose(struct bk_call *call,
                   const struct bk_md_rec *recs,
                   size_t n,
                   void (*done)(struct bk_call *call, int status));

/* Maps a BK_E* code of a metadata proposal to a Kafka error code. */
int16_t bk_api_md_kerr(int status);

/* The current metadata image (returns owned: bk_md_image_release it). */
struct bk_md_image *bk_api_image(const struct bk_call *call);

/* The controller id clients are told (Metadata, DescribeCluster). Since
 * KIP-590 clients send controller requests to any broker, which forwards
 * them, and a KRaft cluster's controllers may not be brokers at all, so
 * Kafka names a live broker there. brokerd names the active controller when
 * it is a live broker (one hop less), else this node when it is one, else
 * the first live broker, else -1. */
int32_t bk_api_controller_for_clients(const struct bk_call *call,
                                      const struct bk_md_image *img);

/* Where a client of call's listener reaches broker id, whose registered
 * address is reg_host:reg_port: for this node, its advertised address on
 * the listener the request came in on; for others, the registered one.
 * *host is borrowed (from the context or reg_host). */
void bk_api_broker_addr(const struct bk_call *call,
                        int32_t id,
                        const char *reg_host,
                        int32_t reg_port,
                        const char **host,
                        int32_t *port);

/* An arena-owned NUL-terminated copy of s ("" for null), or NULL when out
 * of memory. */
char *bk_call_cstr(struct bk_call *call, struct bk_str s);

/* Handlers. */
void bk_handle_api_versions(struct bk_call *call);
void bk_handle_broker_registration(struct bk_call *call);
void bk_handle_broker_heartbeat(struct bk_call *call);
void bk_handle_alter_partition(struct bk_call *call);
void bk_handle_elect_leaders(struct bk_call *call);
void bk_handle_alter_partition_reassignments(struct bk_call *call);
void bk_handle_list_partition_reassignments(struct bk_call *call);
void bk_handle_describe_log_dirs(struct bk_call *call);
void bk_handle_allocate_producer_ids(struct bk_call *call);
void bk_handle_add_raft_voter(struct bk_call *call);
void bk_handle_remove_raft_voter(struct bk_call *call);
void bk_handle_metadata(struct bk_call *call);
void bk_handle_create_topics(struct bk_call *call);
void bk_handle_produce(struct bk_call *call);
void bk_handle_fetch(struct bk_call *call);
void bk_handle_list_offsets(struct bk_call *call);
void bk_handle_init_producer_id(struct bk_call *call);
void bk_handle_offset_for_leader_epoch(struct bk_call *call);
void bk_handle_delete_records(struct bk_call *call);
void bk_handle_write_txn_markers(struct bk_call *call);
void bk_handle_add_partitions_to_txn(struct bk_call *call);
/* v4+ (KIP-890), from partition leaders: add_partitions_to_txn_v4.c. */
void bk_handle_add_partitions_to_txn_v4(struct bk_call *call);
void bk_handle_end_txn(struct bk_call *call);
void bk_handle_add_offsets_to_txn(struct bk_call *call);
void bk_handle_describe_producers(struct bk_call *call);
void bk_handle_describe_transactions(struct bk_call *call);
void bk_handle_list_transactions(struct bk_call *call);
void bk_handle_txn_offset_commit(struct bk_call *call);
void bk_handle_delete_topics(struct bk_call *call);
void bk_handle_describe_configs(struct bk_call *call);
void bk_handle_alter_configs(struct bk_call *call);
void bk_handle_create_partitions(struct bk_call *call);
void bk_handle_update_features(struct bk_call *call);
void bk_handle_incremental_alter_configs(struct bk_call *call);
void bk_handle_describe_cluster(struct bk_call *call);
void bk_handle_describe_quorum(struct bk_call *call);
void bk_handle_describe_topic_partitions(struct bk_call *call);
void bk_handle_find_coordinator(struct bk_call *call);
void bk_handle_join_group(struct bk_call *call);
void bk_handle_sync_group(struct bk_call *call);
void bk_handle_heartbeat(struct bk_call *call);
void bk_handle_leave_group(struct bk_call *call);
void bk_handle_offset_commit(struct bk_call *call);
void bk_handle_offset_fetch(struct bk_call *call);
void bk_handle_list_groups(struct bk_call *call);
void bk_handle_describe_groups(struct bk_call *call);
void bk_handle_delete_groups(struct bk_call *call);
void bk_handle_offset_delete(struct bk_call *call);
void bk_handle_consumer_group_heartbeat(struct bk_call *call);
void bk_handle_consumer_group_describe(struct bk_call *call);
void bk_handle_describe_client_quotas(struct bk_call *call);
void bk_handle_alter_client_quotas(struct bk_call *call);
void bk_handle_sasl_handshake(struct bk_call *call);
void bk_handle_sasl_authenticate(struct bk_call *call);
void bk_handle_describe_user_scram_credentials(struct bk_call *call);
void bk_handle_alter_user_scram_credentials(struct bk_call *call);
void bk_handle_describe_acls(struct bk_call *call);
void bk_handle_create_acls(struct bk_call *call);
void bk_handle_delete_acls(struct bk_call *call);

/* ApiVersions answer for a version this broker does not know (KIP-511):
 * called by dispatch before the body is parsed. */
void bk_api_versions_unsupported(struct bk_call *call);

#endif /* BK_API_CALL_H */
