/* The Kafka API layer: the dispatch table and one handler file per API.
 *
 * Where is Produce handled? src/api/produce.c. Metadata? src/api/metadata.c.
 * Every handler is a row {api key, min, max version, function} in
 * dispatch.c, and ApiVersions answers from that table, so the advertised
 * ranges are always what the code decodes (brief.md §2).
 *
 * Threading: handlers run on the shard that owns the connection. */
#ifndef BK_API_API_H
#define BK_API_API_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "api/ctl_channel.h"
#include "group/group.h"
#include "net/net.h"
#include "partition/manager.h"
#include "partition/partition.h"
#include "replication/replication.h"

struct bk_authz;
struct bk_md;
struct bk_md_quotas;
struct bk_quota_mgr;
struct bk_tcoord_shard;

#define BK_API_MAX_ADVERTISED     8
#define BK_API_MAX_BROKER_CONFIGS 96

/* One broker setting as DescribeConfigs shows it (a copy of the server's
 * config table row and its effective value). */
struct bk_api_broker_config {
    const char *name; /* static */
    const char *doc;  /* static */
    char value[512];
    int8_t type; /* Kafka's ConfigDef type (enum bk_md_cfg_type) */
    bool is_default;
    bool dynamic;     /* changes live (DescribeConfigs: not read-only) */
    int64_t min, max; /* bounds of a number */
};

/* Producer ids this broker hands out (InitProducerId), from blocks that
 * the metadata log allocates. Shared by the shards; the mutex guards a few
 * integers on a path that runs once per producer, never per record. */
struct bk_pid_pool {
    uv_mutex_t lock;
    int64_t next; /* next id to hand out */
    int64_t end;  /* one past the block's last id */
};

/* What handlers know of the broker. Filled by the server before the shards
 * start and immutable afterwards (so shards read it without locks). */
struct bk_api_ctx {
    int32_t node_id;
    char cluster_id[32];
    char rack[64]; /* "" = none */
    /* replica.selector.class is RackAwareReplicaSelector (KIP-392). */
    bool rack_aware_reads;
    struct {
        char host[256];
        int port;
    } advertised[BK_API_MAX_ADVERTISED];
    unsigned nadvertised;
    bool auto_create_topics;
    /* authorizer.class.name, super.users, allow.everyone.if.no.acl.found
     * (borrowed); NULL when no authorizer is configured. */
    const struct bk_authz *authz;
    int32_t num_partitions;             /* num.partitions */
    int16_t default_replication_factor; /* default.replication.factor */
    struct bk_shards *shards;           /* borrowed */
    struct bk_md *md;                   /* borrowed: cluster metadata */
    const struct bk_storage *storage;   /* borrowed: logs' shared context */
    struct bk_pid_pool *pids;           /* borrowed */
    struct bk_quota_mgr *quotas;        /* borrowed: client quota sensors */
    int32_t offsets_partitions;         /* offsets.topic.num.partitions */
    int16_t offsets_replication_factor; /* offsets.topic.replication.factor */
    struct bk_group_config group;       /* group.* and offsets.retention */
    struct {
        int32_t partitions;       /* transaction.state.log.num.partitions */
        int16_t rf;               /* transaction.state.log.replication.factor */
        int16_t min_isr;          /* transaction.state.log.min.isr */
        int32_t max_timeout_ms;   /* transaction.max.timeout.ms */
        int64_t id_expiration_ms; /* transactional.id.expiration.ms */
        int64_t abort_interval_ms; /* transaction.abort.timed.out... */
        bool verify; /* transaction.partition.verification.enable */
    } txn;
    struct bk_repl_config repl; /* replica.* */
    /* The broker's static configuration, for DescribeConfigs. */
    struct bk_api_broker_config broker_configs[BK_API_MAX_BROKER_CONFIGS];
    unsigned n_broker_configs;
};

/* Something waiting on a timer (a parked Fetch) that must finish early when
 * the shard stops, so shutdown stays bounded. */
struct bk_api_waiting {
    struct bk_api_waiting *prev, *next;
    void (*cut_short)(struct bk_api_waiting *w);
};

/* Per-shard state of the API layer: the replicas this shard hosts. */
struct bk_api_shard {
    struct bk_rmgr rmgr;
    struct bk_api_waiting *waiting; /* list, this shard's requests only */
    uv_timer_t tick;                /* housekeeping */
    int64_t md_offset_seen; /* metadata offset of the last image applied */
    struct bk_coord_group *gcoord; /* the groups this shard coordinates */
    /* The transactional ids this shard coordinates (txn_coord.c). */
    struct bk_tcoord_shard *tcoord;
    struct bk_ctl_channel ctl; /* to the active controller (forward.c) */
    struct pull *pulls;  /* brokers waiting for metadata (metadata_pull.c) */
    struct bk_repl repl; /* followers' fetchers, AlterPartition */
    /* The image's client quotas (one reference), NULL when there are none:
     * the quota hooks' whole cost then (api/quota.h). */
    struct bk_md_quotas *quotas;
};

/* Tells every shard that the metadata thread published a new image, so
 * that its replica manager applies it (push, not poll). One message per
 * shard is in flight at most: a shard that has not yet read the last one
 * reads the newest image when it does. */
struct bk_api_notify_slot {
    struct bk_shard_msg msg;
    atomic_bool posted;
};

struct bk_api_notify {
    uv_mutex_t lock;                  /* guards shards and slots against stop */
    struct bk_shards *shards;         /* borrowed while attached, else NULL */
    struct bk_api_notify_slot *slots; /* owned, one per shard */
};

/* Before the metadata controller starts. Returns 0 or a uv error. */
int bk_api_notify_init(struct bk_api_notify *n);
/* After bk_shards_init and before bk_shards_start, so that no image is
 * missed: one published before is read by each shard as it starts.
 * Returns 0 or BK_ENOMEM. */
int bk_api_notify_attach(struct bk_api_notify *n, struct bk_shards *shards);
/* Before bk_shards_stop: nothing is posted afterwards. */
void bk_api_notify_detach(struct bk_api_notify *n);
void bk_api_notify_close(struct bk_api_notify *n);
/* The controller's on_image callback (data: the struct bk_api_notify). On
 * the raft thread; never blocks but for the short lock. */
void bk_api_notify_image(void *data);

/* Shard hooks for bk_shards_init (see net.h): create the shard's partition
 * table and housekeeping timer, close the timer when a stop begins, and
 * close every partition cleanly once the loop has ended. */
void bk_api_shard_start(struct bk_shard *shard);
void bk_api_waiting_add(struct bk_shard *shard, struct bk_api_waiting *w);
void bk_api_waiting_remove(struct bk_shard *shard, struct bk_api_waiting *w);
void bk_api_shard_drain(struct bk_shard *shard);
void bk_api_shard_stop(struct bk_shard *shard);

/* The net layer's on_request callback: parses the header, finds the
 * handler, decodes the body and calls the handler. */
void bk_api_on_request(struct bk_req *req);

#endif /* BK_API_API_H */
