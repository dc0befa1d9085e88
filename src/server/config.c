#include "server/config.h"

#include <ctype.h>
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "authz/authz.h"
#include "common/diag.h"
#include "common/err.h"
#include "common/heap.h"
#include "group/group.h"
#include "server/config_int.h"

/* Shorter names for Kafka's types in the table. Storage follows the type:
 * BOOLEAN a bool, SHORT/INT/LONG an int64_t, the others an owned string. */
#define CFG_BOOL   BK_MD_CFG_BOOLEAN
#define CFG_STRING BK_MD_CFG_STRING
#define CFG_INT    BK_MD_CFG_INT
#define CFG_SHORT  BK_MD_CFG_SHORT
#define CFG_LONG   BK_MD_CFG_LONG
#define CFG_LIST   BK_MD_CFG_LIST
#define CFG_PASS   BK_MD_CFG_PASSWORD

struct cfg_def {
    const char *name;
    enum bk_md_cfg_type type;
    size_t offset;
    int64_t min, max;
    const char *def;
    bool dynamic;
    const char *doc;
};

#define OFF(field) offsetof(struct bk_config, field)
#define I32MAX     2147483647LL
#define I64MAX     INT64_MAX
#define I64MIN     INT64_MIN

/* The table. Keep it sorted by name: docs/configuration.md follows it. */
static const struct cfg_def defs[] = {
    { "admin.listeners", CFG_STRING, OFF(admin_listeners), 0, 0, "", false,
      "brokerd: the admin HTTP listener, `http://host:port` (one), serving "
      "`/metrics` (Prometheus), `/health`, `/ready` and the read-only "
      "`/v1/...` JSON API on its own thread (docs/operations.md). Empty "
      "means off. Port 0 picks a free port, logged at start." },
    { "advertised.listeners", CFG_STRING, OFF(advertised_listeners), 0, 0, "",
      false,
      "Listeners to publish to clients in Metadata and FindCoordinator, in "
      "the same form as `listeners`; each names a listener of `listeners`, "
      "and a client is given the address advertised for the listener its "
      "request came in on. Clients reconnect to these addresses, so they "
      "must be reachable from the clients. A listener left out (or an empty "
      "value) is advertised as it is in `listeners`." },
    { "allow.everyone.if.no.acl.found", CFG_BOOL,
      OFF(allow_everyone_if_no_acl_found), 0, 1, "false", false,
      "With an authorizer (`authorizer.class.name`): whether a resource "
      "that no ACL applies to, for anyone, is open to every principal. "
      "Once any ACL applies to it, only the ACLs decide." },
    { "authorizer.class.name", CFG_STRING, OFF(authorizer_class_name), 0, 0, "",
      false,
      "Turns on ACLs (docs/security.md): `"
      "org.apache.kafka.metadata.authorizer.StandardAuthorizer` (Kafka's "
      "KRaft authorizer; `kafka.security.authorizer.AclAuthorizer` is "
      "taken as the same). Any other class stops start-up. Empty: no "
      "authorization, every principal may do everything." },
    { "auto.create.topics.enable", CFG_BOOL, OFF(auto_create_topics_enable), 0,
      1, "true", false,
      "Create a topic when a client asks Metadata for one that does not "
      "exist (Kafka's behaviour)." },
    { "auto.leader.rebalance.enable", CFG_BOOL,
      OFF(auto_leader_rebalance_enable), 0, 1, "true", false,
      "The active controller moves leadership back to each partition's "
      "preferred replica (the first in its list) when a broker leads too "
      "few of the partitions it is preferred for (see "
      "`leader.imbalance.per.broker.percentage`)." },
    { "broker.fence.on.disconnect.ms", CFG_INT,
      OFF(broker_fence_on_disconnect_ms), 0, I32MAX, "1000", false,
      "brokerd: when the connection that carries a broker's heartbeats to "
      "the active controller closes (the broker process died: the kernel "
      "closes its sockets at once), the broker is fenced unless it "
      "heartbeats again within this time, and its partitions move to other "
      "replicas. Kafka waits for `broker.session.timeout.ms` in every case, "
      "which stays the bound for a broker that vanishes without closing "
      "(power loss, a cut network). 0 turns it off." },
    { "broker.heartbeat.interval.ms", CFG_INT,
      OFF(broker_heartbeat_interval_ms), 1, I32MAX, "2000", false,
      "How often a broker heartbeats to the active controller. Must be less "
      "than `broker.session.timeout.ms`." },
    { "broker.rack", CFG_STRING, OFF(broker_rack), 0, 0, "", false,
      "Rack of this broker, used for rack-aware replica assignment and "
      "returned in Metadata. Empty means none." },
    { "broker.session.timeout.ms", CFG_INT, OFF(broker_session_timeout_ms), 1,
      I32MAX, "9000", false,
      "How long the active controller waits for a heartbeat from a broker "
      "before it fences the broker (no leadership, left out of Metadata)." },
    { "compression.type", CFG_STRING, OFF(compression_type), 0, 0, "producer",
      false,
      "Default `compression.type` of topics: the codec the broker stores "
      "batches in (uncompressed, zstd, lz4, snappy or gzip), or producer to "
      "keep what the producer sent." },
    { "connection.failed.authentication.delay.ms", CFG_INT,
      OFF(connection_failed_authentication_delay_ms), 0, I32MAX, "100", false,
      "SASL listeners: how long a failed authentication waits before its "
      "answer is sent and the connection closed, which slows password "
      "guessing; must be below `connections.max.idle.ms`." },
    { "connection.max.inflight.requests", CFG_INT,
      OFF(connection_max_inflight_requests), 1, 100000, "100", false,
      "brokerd: requests one connection may have queued (being handled or "
      "waiting to be written) before the broker stops reading from it "
      "(backpressure)." },
    { "connection.max.queued.bytes", CFG_INT, OFF(connection_max_queued_bytes),
      4096, I32MAX, "16777216", false,
      "brokerd: bytes one connection may hold, its requests being read or "
      "handled and its answers waiting to be written, before the broker "
      "takes no further request from it (backpressure). Checked before each "
      "request, so one read full of small requests cannot overshoot it." },
    { "connection.partial.request.timeout.ms", CFG_INT,
      OFF(connection_partial_request_timeout_ms), 0, I32MAX, "30000", false,
      "brokerd: how long one request may take to arrive once its first "
      "byte has; a connection that takes longer is closed, so a client that "
      "sends part of a request and stops cannot hold its reserved memory. "
      "Clients give up on a request after `request.timeout.ms` (30 s by "
      "default) anyway. 0 means no bound." },
    { "connections.max.idle.ms", CFG_LONG, OFF(connections_max_idle_ms), 0,
      I32MAX, "600000", false,
      "Close a connection that has had no request in flight and no bytes "
      "in either direction for this long (Kafka's default, 10 minutes). 0 "
      "means never." },
    { "connections.max.reauth.ms", CFG_LONG, OFF(connections_max_reauth_ms), 0,
      I64MAX, "0", false,
      "SASL listeners: the longest an authentication holds (KIP-368). "
      "SaslAuthenticate tells the client this session lifetime; a client "
      "re-authenticates on the same connection before it ends, and a "
      "connection whose session ended is closed on its next request. 0 "
      "means sessions do not expire. Per listener as "
      "`listener.name.<name>.connections.max.reauth.ms`." },
    { "controller.listener.names", CFG_STRING, OFF(controller_listener_names),
      0, 0, "", false,
      "Comma-separated names of the listeners that serve the controller's "
      "requests; each must be the name of a listener in `listeners`, and "
      "the first one is used, and it must be a PLAINTEXT listener (brokerd "
      "nodes talk to each other in plaintext so far). Empty means the first "
      "PLAINTEXT listener in `listeners`." },
    { "controller.quorum.bootstrap.servers", CFG_LIST,
      OFF(controller_quorum_bootstrap_servers), 0, 0, "", false,
      "Comma-separated `host:port` Kafka listeners of the controllers, which "
      "a node without the controller role asks first to find the quorum "
      "(KIP-853). A broker-only node needs this or "
      "`controller.quorum.voters`." },
    { "controller.quorum.election.timeout.ms", CFG_INT,
      OFF(controller_quorum_election_timeout_ms), 1, I32MAX, "1000", false,
      "The Raft election timeout of the metadata quorum: how long a voter "
      "hears nothing from a leader before it starts an election." },
    { "controller.quorum.voters", CFG_LIST, OFF(controller_quorum_voters), 0, 0,
      "", false,
      "The metadata quorum: comma-separated `id@host:port` voters (Kafka's "
      "KRaft name). Cluster metadata is a Raft log replicated among them; "
      "a node with the controller role must be one of them and a "
      "broker-only node must not. Empty means a single-node cluster "
      "whose only voter is this node, with its Raft port chosen by the "
      "system on 127.0.0.1. With more than one voter, every node's "
      "`log.dirs` must first be formatted (`brokerd format`), which records "
      "this set; a node started with another set refuses to start." },
    { "default.replication.factor", CFG_INT, OFF(default_replication_factor), 1,
      32767, "1", false,
      "Replication factor of topics created without one (auto-created, or "
      "CreateTopics with -1)." },
    { "group.consumer.heartbeat.interval.ms", CFG_INT,
      OFF(group_consumer_heartbeat_interval_ms), 1, I32MAX, "5000", false,
      "How often members of consumer-protocol groups (KIP-848, "
      "group.protocol=consumer) are told to heartbeat." },
    { "group.consumer.max.size", CFG_INT, OFF(group_consumer_max_size), 1,
      I32MAX, "2147483647", false,
      "The most members one consumer-protocol group may have." },
    { "group.consumer.migration.policy", CFG_STRING,
      OFF(group_consumer_migration_policy), 0, 0, "bidirectional", false,
      "Whether a classic group with members becomes a consumer-protocol "
      "group when a consumer-protocol member joins (upgrade), and back when "
      "only classic members are left (downgrade): disabled, upgrade, "
      "downgrade or bidirectional. Classic members may join a "
      "consumer-protocol group either way." },
    { "group.consumer.session.timeout.ms", CFG_INT,
      OFF(group_consumer_session_timeout_ms), 1, I32MAX, "45000", false,
      "How long a member of a consumer-protocol group may go without a "
      "heartbeat before it is removed." },
    { "group.initial.rebalance.delay.ms", CFG_INT,
      OFF(group_initial_rebalance_delay_ms), 0, I32MAX, "3000", false,
      "How long the coordinator waits for more consumers to join a new, "
      "empty group before the first rebalance (extended by this much each "
      "time one joins, up to the rebalance timeout)." },
    { "group.max.session.timeout.ms", CFG_INT,
      OFF(group_max_session_timeout_ms), 1, I32MAX, "1800000", false,
      "The largest session timeout a group member may ask for." },
    { "group.max.size", CFG_INT, OFF(group_max_size), 1, I32MAX, "2147483647",
      false, "The most members one consumer group may have." },
    { "group.min.session.timeout.ms", CFG_INT,
      OFF(group_min_session_timeout_ms), 1, I32MAX, "6000", false,
      "The smallest session timeout a group member may ask for." },
    { "initial.broker.registration.timeout.ms", CFG_INT,
      OFF(initial_broker_registration_timeout_ms), 1, I32MAX, "60000", false,
      "How long a broker starting up waits to register with the active "
      "controller before it gives up and exits." },
    { "inter.broker.listener.name", CFG_STRING, OFF(inter_broker_listener_name),
      0, 0, "", false,
      "Name of the listener other brokers connect to; it must be the name of "
      "a PLAINTEXT listener in `listeners`. It is the address this broker "
      "registers with the controller, so other brokers' addresses in "
      "Metadata are on this listener. Empty means the first PLAINTEXT "
      "listener in `listeners`." },
    { "leader.imbalance.check.interval.seconds", CFG_LONG,
      OFF(leader_imbalance_check_interval_seconds), 1, 86400, "300", false,
      "How often the active controller checks the leader balance "
      "(`auto.leader.rebalance.enable`) and retries unclean elections of "
      "leaderless partitions whose topic allows them." },
    { "leader.imbalance.per.broker.percentage", CFG_INT,
      OFF(leader_imbalance_per_broker_percentage), 0, 100, "10", false,
      "The share of the partitions a broker is preferred leader of, but does "
      "not lead, above which the controller runs preferred elections for "
      "them." },
    { "listener.security.protocol.map", CFG_STRING,
      OFF(listener_security_protocol_map), 0, 0,
      "PLAINTEXT:PLAINTEXT,SSL:SSL,SASL_PLAINTEXT:SASL_PLAINTEXT,"
      "SASL_SSL:SASL_SSL",
      false,
      "Comma-separated `NAME:PROTOCOL` pairs giving the security protocol "
      "of each listener name (PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL), "
      "as in Kafka, e.g. `INTERNAL:PLAINTEXT,EXTERNAL:SSL`. Every name in "
      "`listeners` must be in it." },
    { "listeners", CFG_STRING, OFF(listeners), 0, 0,
      "PLAINTEXT://127.0.0.1:9092", false,
      "Comma-separated `NAME://host:port` addresses to listen on, each with "
      "its own name; `listener.security.protocol.map` gives each name's "
      "security protocol (PLAINTEXT or SSL; SASL is not supported yet). An "
      "empty host means all interfaces; port 0 picks a free port (logged "
      "at start-up)." },
    { "log.cleaner.backoff.ms", CFG_LONG, OFF(log_cleaner_backoff_ms), 0,
      I32MAX, "15000", false,
      "How often the cleaner looks at a compacted partition "
      "(`cleanup.policy=compact`) to see whether its dirty part reached "
      "`min.cleanable.dirty.ratio`." },
    { "log.cleaner.dedupe.buffer.size", CFG_LONG,
      OFF(log_cleaner_dedupe_buffer_size), 1048576, I32MAX, "134217728", false,
      "Memory for the key map of one cleaning job (24 bytes per distinct "
      "key). brokerd runs at most one job per shard. A dirty part with more "
      "keys than fit is cleaned in several rounds." },
    { "log.cleaner.delete.retention.ms", CFG_LONG,
      OFF(log_cleaner_delete_retention_ms), 0, I64MAX, "86400000", true,
      "Default `delete.retention.ms` of topics: how long the cleaner keeps "
      "delete tombstones of a compacted topic." },
    { "log.cleaner.enable", CFG_BOOL, OFF(log_cleaner_enable), 0, 1, "true",
      false,
      "Run the log cleaner, which compacts topics with "
      "`cleanup.policy=compact` (`__consumer_offsets` among them)." },
    { "log.cleaner.max.compaction.lag.ms", CFG_LONG,
      OFF(log_cleaner_max_compaction_lag_ms), 1, I64MAX, "9223372036854775807",
      true,
      "Default `max.compaction.lag.ms` of topics: the longest a record may "
      "stay uncompacted." },
    { "log.cleaner.min.compaction.lag.ms", CFG_LONG,
      OFF(log_cleaner_min_compaction_lag_ms), 0, I64MAX, "0", true,
      "Default `min.compaction.lag.ms` of topics: the shortest a record "
      "stays uncompacted." },
    { "log.cleanup.policy", CFG_LIST, OFF(log_cleanup_policy), 0, 0, "delete",
      false,
      "Default `cleanup.policy` of topics: delete (drop old segments by "
      "retention), compact (keep the last record of each key), or both, "
      "comma-separated." },
    { "log.dir.min.free.bytes", CFG_LONG, OFF(log_dir_min_free_bytes), 0,
      1LL << 50, "67108864", false,
      "brokerd (as Redpanda's `storage_min_free_bytes`): produce is refused "
      "with KAFKA_STORAGE_ERROR, which clients retry, while the file system "
      "of `log.dirs` has fewer free bytes than this, so that offset "
      "commits, checkpoints and deletions still find room. Produce resumes "
      "by itself once space is freed. 0 turns the reserve off." },
    { "log.dirs", CFG_STRING, OFF(log_dirs), 0, 0, "./data", false,
      "Directory holding this broker's data (partition logs, metadata). "
      "Created if missing; must be writable. One directory is supported." },
    { "log.flush.interval.messages", CFG_LONG, OFF(log_flush_interval_messages),
      1, I64MAX, "9223372036854775807", true,
      "Default `flush.messages` of topics: records appended to a partition "
      "before it is forced to disk (durability otherwise comes from "
      "`acks=all` and the grouped fsync)." },
    { "log.format", CFG_STRING, OFF(log_format), 0, 0, "text", false,
      "brokerd: the shape of the broker's own log lines (not the partition "
      "logs): `text` (a timestamp, level and subsystem, then key=value "
      "fields) or `json` (one JSON object a line with `ts`, `level`, "
      "`subsystem` and each field as a member; docs/operations.md)." },
    { "log.index.interval.bytes", CFG_INT, OFF(log_index_interval_bytes), 0,
      I32MAX, "4096", true,
      "Default `index.interval.bytes` of topics: bytes of records between "
      "two offset index entries." },
    { "log.max.open.files", CFG_INT, OFF(log_max_open_files), 16, 1000000,
      "4096", false,
      "brokerd: segment and index files kept open at once across all "
      "partitions; others are opened when used, so the number of "
      "partitions is not bounded by the file-descriptor limit." },
    { "log.message.timestamp.after.max.ms", CFG_LONG,
      OFF(log_message_timestamp_after_max_ms), 0, I64MAX, "3600000", true,
      "Default `message.timestamp.after.max.ms` of topics: how far ahead of "
      "the broker's clock a CreateTime timestamp may be (KIP-937)." },
    { "log.message.timestamp.before.max.ms", CFG_LONG,
      OFF(log_message_timestamp_before_max_ms), 0, I64MAX,
      "9223372036854775807", true,
      "Default `message.timestamp.before.max.ms` of topics: how far behind "
      "the broker's clock a CreateTime timestamp may be (KIP-937)." },
    { "log.message.timestamp.type", CFG_STRING, OFF(log_message_timestamp_type),
      0, 0, "CreateTime", false,
      "Default `message.timestamp.type` of topics: CreateTime keeps the "
      "producer's timestamps, LogAppendTime stamps batches with the "
      "broker's clock." },
    { "log.retention.bytes", CFG_LONG, OFF(log_retention_bytes), I64MIN, I64MAX,
      "-1", true,
      "Default `retention.bytes` of topics: the size of one partition above "
      "which its oldest segments are deleted. -1 means no limit." },
    { "log.retention.hours", CFG_INT, OFF(log_retention_hours), -1, I32MAX,
      "168", false,
      "Default `retention.ms` of topics, in hours: the age at which old "
      "segments are deleted. -1 means no limit." },
    { "log.roll.hours", CFG_INT, OFF(log_roll_hours), 1, I32MAX, "168", false,
      "Default `segment.ms` of topics, in hours: the age at which the active "
      "segment is rolled." },
    { "log.segment.bytes", CFG_INT, OFF(log_segment_bytes), 1048576, I32MAX,
      "1073741824", true,
      "Default `segment.bytes` of topics: the size at which the active "
      "segment is rolled." },
    { "log.slow.request.ms", CFG_LONG, OFF(log_slow_request_ms), -1, I32MAX,
      "1000", false,
      "brokerd: a request whose answer took longer than this to be written, "
      "from its last byte read, is logged as a warning (`slow request`, with "
      "the client, API, version, latency and error code; at most 20 lines "
      "a second). Fetch, ShareFetch, JoinGroup and SyncGroup are left out: "
      "they wait by design (`max_wait_ms`, a rebalance). -1 turns it off; "
      "0 logs every request." },
    { "logger.level", CFG_STRING, OFF(logger_level), 0, 0, "info", false,
      "brokerd: the lowest log level written to stderr: trace, debug, info, "
      "warn, error or off." },
    { "max.connections", CFG_INT, OFF(max_connections), 1, I32MAX, "2147483647",
      false,
      "The most client connections the broker holds at once. At the limit "
      "it stops accepting (new clients wait in the listen backlog) until a "
      "connection closes, as Kafka does." },
    { "max.connections.per.ip", CFG_INT, OFF(max_connections_per_ip), 1, I32MAX,
      "2147483647", false,
      "The most connections from one IP address; a connection over it is "
      "closed as soon as it is accepted." },
    { "max.connections.per.ip.overrides", CFG_STRING,
      OFF(max_connections_per_ip_overrides), 0, 0, "", false,
      "Per-address exceptions to `max.connections.per.ip`: comma-separated "
      "`host:count` pairs (a host name counts for every address it resolves "
      "to at start-up), e.g. `127.0.0.1:200,10.0.0.5:0`." },
    { "message.max.bytes", CFG_INT, OFF(message_max_bytes), 0, I32MAX,
      "1048588", true,
      "Default `max.message.bytes` of topics: the largest record batch a "
      "producer may send (after compression)." },
    { "node.id", CFG_INT, OFF(node_id), 0, I32MAX, "1", false,
      "The id of this broker in the cluster (Kafka's KRaft `node.id`)." },
    { "num.partitions", CFG_INT, OFF(num_partitions), 1, 1000000, "1", false,
      "Partitions of topics created without a partition count." },
    { "num.shards", CFG_INT, OFF(num_shards), 0, 1024, "0", false,
      "brokerd: shard threads, each running its own event loop and owning "
      "its partitions and connections. 0 means one per CPU core." },
    { "offsets.retention.minutes", CFG_INT, OFF(offsets_retention_minutes), 1,
      I32MAX, "10080", false,
      "Committed offsets of a group are dropped this long after the group "
      "became empty (or, for a group used only to commit, after the "
      "commit)." },
    { "offsets.topic.num.partitions", CFG_INT,
      OFF(offsets_topic_num_partitions), 1, 100000, "50", false,
      "Partitions of the internal `__consumer_offsets` topic, created on "
      "first use. A group lives on the partition its id hashes to, as "
      "Kafka computes it; do not change this once the topic exists." },
    { "offsets.topic.replication.factor", CFG_SHORT,
      OFF(offsets_topic_replication_factor), 1, 32767, "3", false,
      "Replication factor of `__consumer_offsets`. brokerd caps it at the "
      "number of live brokers when it creates the topic, so a single node "
      "works with the default." },
    { "process.roles", CFG_LIST, OFF(process_roles), 0, 0, "broker,controller",
      false,
      "The roles of this node: `broker` (serves clients and holds "
      "partitions), `controller` (a voter of the metadata quorum), or both, "
      "comma-separated. Both (combined mode) is the default, so a single "
      "node needs nothing else. A broker-only node must not be in "
      "`controller.quorum.voters`." },
    { "queued.max.request.bytes", CFG_LONG, OFF(queued_max_request_bytes), -1,
      I32MAX, "268435456", false,
      "Bytes of requests the broker holds in memory at once, over all "
      "connections: a request counts from its first bytes until it is "
      "answered. At the bound the broker takes no new request until memory "
      "frees (requests already started are read to their end). -1 means no "
      "bound, Kafka's default; brokerd bounds it by default so that clients "
      "cannot grow the broker without limit." },
    { "quota.window.num", CFG_INT, OFF(quota_window_num), 1, 64, "11", false,
      "Client quotas: the number of samples a client's byte or request-time "
      "rate is measured over (Kafka's sampled windows); see "
      "`docs/security.md`." },
    { "quota.window.size.seconds", CFG_INT, OFF(quota_window_size_seconds), 1,
      3600, "1", false,
      "Client quotas: the length of one sample, in seconds. A client over "
      "its quota is throttled for at most `quota.window.num` samples." },
    { "replica.fetch.backoff.ms", CFG_INT, OFF(replica_fetch_backoff_ms), 0,
      I32MAX, "1000", false,
      "How long a follower waits before fetching again from a leader after "
      "the fetch failed (a lost connection, a leader that went away)." },
    { "replica.fetch.max.bytes", CFG_INT, OFF(replica_fetch_max_bytes), 1024,
      I32MAX, "1048576", false,
      "Bytes a follower asks for per partition in each fetch (at least one "
      "batch comes whatever its size, KIP-74)." },
    { "replica.fetch.response.max.bytes", CFG_INT,
      OFF(replica_fetch_response_max_bytes), 1024, I32MAX, "10485760", false,
      "Bytes a follower asks for in each fetch, over all partitions." },
    { "replica.fetch.wait.max.ms", CFG_INT, OFF(replica_fetch_wait_max_ms), 0,
      I32MAX, "500", false,
      "How long a leader holds a follower's fetch while it has nothing new. "
      "Keep it below `replica.lag.time.max.ms`, or idle followers drop out "
      "of the ISR." },
    { "replica.fsync.before.ack", CFG_BOOL, OFF(replica_fsync_before_ack), 0, 0,
      "true", false,
      "brokerd: a follower tells its leader that it has records (the offset "
      "of its next fetch, which moves the high watermark and answers "
      "acks=all producers) only once they are on its disk (fdatasync, "
      "grouped). So an acknowledged record survives the power loss of every "
      "replica. false acknowledges from memory, as Kafka's followers do: "
      "faster, and a record is lost only if every in-sync replica loses "
      "power before it reaches the disk." },
    { "replica.lag.time.max.ms", CFG_LONG, OFF(replica_lag_time_max_ms), 1,
      I32MAX, "30000", false,
      "A follower that has not caught up with the leader's log end for this "
      "long leaves the ISR (the leader proposes it with AlterPartition)." },
    { "replica.selector.class", CFG_STRING, OFF(replica_selector_class), 0, 0,
      "", false,
      "How a partition leader picks the replica a consumer should fetch from "
      "(KIP-392). Empty: the leader serves every consumer. "
      "`org.apache.kafka.common.replica.RackAwareReplicaSelector`: a "
      "consumer that gives its `client.rack` is sent to an in-sync replica "
      "in its rack that has the offset it asks for. Followers serve "
      "consumer fetches up to their high watermark either way." },
    { "request.max.memory.bytes", CFG_INT, OFF(request_max_memory_bytes), 65536,
      I32MAX, "268435456", false,
      "brokerd: memory one request may use while it is decoded and "
      "answered; a request needing more gets an error, never an "
      "unbounded allocation." },
    { "sasl.enabled.mechanisms", CFG_LIST, OFF(sasl_enabled_mechanisms), 0, 0,
      "", false,
      "SASL listeners: the mechanisms offered, from PLAIN, SCRAM-SHA-256 and "
      "SCRAM-SHA-512 (Kafka's default is GSSAPI, which brokerd lacks; empty "
      "here, and a SASL listener without mechanisms is refused at start). "
      "Per listener as `listener.name.<name>.sasl.enabled.mechanisms`." },
    { "sasl.jaas.config", CFG_PASS, OFF(sasl_jaas_config), 0, 0, "", false,
      "SASL listeners: Kafka's JAAS login module setting; for PLAIN, its "
      "`user_<name>=\"<password>\"` options are the users "
      "(`org.apache.kafka.common.security.plain.PlainLoginModule required "
      "user_alice=\"alice-secret\";`). Used where no "
      "`listener.name.<name>.plain.sasl.jaas.config` is set." },
    { "sasl.mechanism.controller.protocol", CFG_STRING,
      OFF(sasl_mechanism_controller_protocol), 0, 0, "GSSAPI", false,
      "The mechanism controllers would authenticate with to each other; "
      "accepted for Kafka compatibility, unused: brokerd nodes talk to "
      "each other over PLAINTEXT listeners (docs/security.md)." },
    { "sasl.mechanism.inter.broker.protocol", CFG_STRING,
      OFF(sasl_mechanism_inter_broker_protocol), 0, 0, "GSSAPI", false,
      "The mechanism brokers would authenticate with to each other; "
      "accepted for Kafka compatibility, unused: brokerd nodes talk to "
      "each other over PLAINTEXT listeners (docs/security.md)." },
    { "sasl.server.max.receive.size", CFG_INT,
      OFF(sasl_server_max_receive_size), 1, I32MAX, "524288", false,
      "SASL listeners: the largest request a connection may send before it "
      "has authenticated; a larger size prefix closes the connection "
      "before anything is allocated." },
    { "shutdown.timeout.ms", CFG_LONG, OFF(shutdown_timeout_ms), 0, 3600000,
      "10000", false,
      "brokerd: on SIGTERM or SIGINT, how long to wait for requests in "
      "flight to be answered before connections are closed." },
    { "socket.request.max.bytes", CFG_INT, OFF(socket_request_max_bytes), 1024,
      I32MAX, "104857600", false,
      "The largest request the broker reads. A larger size prefix closes "
      "the connection before anything is allocated." },
    { "ssl.cipher.suites", CFG_LIST, OFF(ssl_cipher_suites), 0, 0, "", false,
      "SSL listeners: the cipher suites offered, comma-separated, in "
      "Kafka's (IANA) names such as `TLS_AES_128_GCM_SHA256` or "
      "`TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256` (OpenSSL's names work for "
      "TLS 1.2 too); each enabled protocol needs one of its own. Empty "
      "means OpenSSL's defaults." },
    { "ssl.client.auth", CFG_STRING, OFF(ssl_client_auth), 0, 0, "none", false,
      "SSL listeners: whether clients must present a certificate: none, "
      "requested (verified when sent) or required (mTLS). The principal is "
      "the certificate's subject, see `ssl.principal.mapping.rules`." },
    { "ssl.enabled.protocols", CFG_LIST, OFF(ssl_enabled_protocols), 0, 0,
      "TLSv1.2,TLSv1.3", false,
      "SSL listeners: the TLS versions accepted, TLSv1.2 and/or TLSv1.3." },
    { "ssl.endpoint.identification.algorithm", CFG_STRING,
      OFF(ssl_endpoint_identification_algorithm), 0, 0, "https", false,
      "Host name checking of the server's certificate, done by clients "
      "(and by brokers as clients, once they connect over TLS); accepted "
      "for Kafka compatibility, a server does not use it." },
    { "ssl.key.password", CFG_PASS, OFF(ssl_key_password), 0, 0, "", false,
      "SSL listeners: the password of an encrypted private key (PKCS#8) in "
      "`ssl.keystore.location` or `ssl.keystore.key`." },
    { "ssl.keystore.certificate.chain", CFG_PASS,
      OFF(ssl_keystore_certificate_chain), 0, 0, "", false,
      "SSL listeners: the certificate chain in PEM, inline (the server's "
      "certificate first), with `ssl.keystore.key`; instead of "
      "`ssl.keystore.location`. Line breaks inside may be left out." },
    { "ssl.keystore.key", CFG_PASS, OFF(ssl_keystore_key), 0, 0, "", false,
      "SSL listeners: the private key in PEM (PKCS#8), inline, with "
      "`ssl.keystore.certificate.chain`." },
    { "ssl.keystore.location", CFG_STRING, OFF(ssl_keystore_location), 0, 0, "",
      false,
      "SSL listeners: a PEM file holding the private key and the "
      "certificate chain (the server's certificate first)." },
    { "ssl.keystore.type", CFG_STRING, OFF(ssl_keystore_type), 0, 0, "PEM",
      false,
      "SSL listeners: the keystore format; only PEM is supported (Kafka's "
      "default is JKS)." },
    { "ssl.principal.mapping.rules", CFG_STRING,
      OFF(ssl_principal_mapping_rules), 0, 0, "DEFAULT", false,
      "SSL listeners: how a client certificate's subject (RFC 2253, as "
      "Kafka writes it: `CN=alice,OU=eng,O=acme`) becomes the principal "
      "`User:<name>`: comma-separated `RULE:pattern/replacement/[LU]` "
      "rules, the first whose pattern matches the whole subject applying "
      "(`$1` for a group; L or U to lower or upper case), and `DEFAULT` for "
      "the subject itself. Patterns are POSIX extended regular expressions: "
      "a lazy `*?` acts greedy, and stacked quantifiers (Java's possessive "
      "`++`) are refused. A subject no rule applies to is refused." },
    { "ssl.truststore.certificates", CFG_PASS, OFF(ssl_truststore_certificates),
      0, 0, "", false,
      "SSL listeners: the CA certificates that client certificates must "
      "chain to, in PEM, inline; instead of `ssl.truststore.location`." },
    { "ssl.truststore.location", CFG_STRING, OFF(ssl_truststore_location), 0, 0,
      "", false,
      "SSL listeners: a PEM file of the CA certificates that client "
      "certificates must chain to (needed unless `ssl.client.auth` is "
      "none)." },
    { "ssl.truststore.type", CFG_STRING, OFF(ssl_truststore_type), 0, 0, "PEM",
      false, "SSL listeners: the truststore format; only PEM is supported." },
    { "super.users", CFG_STRING, OFF(super_users), 0, 0, "", false,
      "With an authorizer: principals that pass every ACL check, "
      "separated by `;` (`User:admin;User:CN=broker1,O=acme`). Brokers "
      "connect to each other as `User:ANONYMOUS` over PLAINTEXT, so a "
      "cluster of several nodes with ACLs lists it here (docs/security.md)." },
    { "transaction.abort.timed.out.transaction.cleanup.interval.ms", CFG_LONG,
      OFF(transaction_abort_interval_ms), 1, I32MAX, "10000", false,
      "How often the transaction coordinator looks for transactions open "
      "longer than their timeout and aborts them (fencing their "
      "producer)." },
    { "transaction.max.timeout.ms", CFG_INT, OFF(transaction_max_timeout_ms), 1,
      I32MAX, "900000", false,
      "The largest `transaction.timeout.ms` a producer may ask for; a larger "
      "one is refused with INVALID_TRANSACTION_TIMEOUT." },
    { "transaction.state.log.min.isr", CFG_SHORT,
      OFF(transaction_state_log_min_isr), 1, 32767, "2", false,
      "`min.insync.replicas` of `__transaction_state`. brokerd caps it at "
      "the replication factor it creates the topic with." },
    { "transaction.state.log.num.partitions", CFG_INT,
      OFF(transaction_state_log_num_partitions), 1, 100000, "50", false,
      "Partitions of the internal `__transaction_state` topic, created on "
      "first use. A transactional id lives on the partition its id hashes "
      "to, as Kafka computes it; do not change this once the topic "
      "exists." },
    { "transaction.state.log.replication.factor", CFG_SHORT,
      OFF(transaction_state_log_replication_factor), 1, 32767, "3", false,
      "Replication factor of `__transaction_state`. brokerd caps it at the "
      "number of live brokers when it creates the topic, so a single node "
      "works with the default." },
    { "transactional.id.expiration.ms", CFG_LONG,
      OFF(transactional_id_expiration_ms), 1, I32MAX, "604800000", false,
      "A transactional id unused this long, with no transaction open, is "
      "removed from `__transaction_state`; its next use gets a new "
      "producer id." },
    { "transaction.partition.verification.enable", CFG_BOOL,
      OFF(transaction_partition_verification_enable), 0, 1, "true", false,
      "KIP-890 part 1: before the first transactional batch of a producer "
      "on a partition, its leader asks the transaction coordinator whether "
      "the partition is in the producer's ongoing transaction, and refuses "
      "the batch (INVALID_TXN_STATE) when it is not, so that a late or "
      "stray batch cannot open a transaction nobody will end." },
    { "unclean.leader.election.enable", CFG_BOOL,
      OFF(unclean_leader_election_enable), 0, 1, "false", false,
      "Default of the topic config: when no in-sync replica of a partition "
      "is alive, let the first live replica lead it. That replica may lack "
      "acknowledged records, which are then lost." },
};

#define NDEFS (sizeof(defs) / sizeof(defs[0]))

static const struct cfg_def *find_def(const char *name)
{
    for (size_t i = 0; i < NDEFS; i++) {
        if (strcmp(defs[i].name, name) == 0) {
            return &defs[i];
        }
    }
    return NULL;
}

static bool is_int(enum bk_md_cfg_type t)
{
    return t == CFG_INT || t == CFG_SHORT || t == CFG_LONG;
}

/* A broker-wide default of a topic config must also pass that topic
 * config's rule (valid values, bounds after scaling), so that every topic
 * can take it. */
static int check_topic_default(const struct cfg_def *d,
                               const char *value,
                               char *err,
                               size_t errlen)
{
    size_t n;
    const struct bk_md_cfg_def *t = bk_md_topic_cfg_table(&n);
    for (size_t i = 0; i < n; i++) {
        if (t[i].broker == NULL || strcmp(t[i].broker, d->name) != 0) {
            continue;
        }
        char num[32], msg[BK_MD_MSG_SIZE];
        const char *v =
            bk_topic_cfg_from_broker(&t[i], value, num, sizeof(num));
        if (v == NULL || bk_md_topic_cfg_check(t[i].name, v, msg) != 0) {
            snprintf(err, errlen, "%s: %s", d->name,
                     v == NULL ? "not an integer" : msg);
            return BK_ECONFIG;
        }
    }
    return 0;
}

static int set_int(char *slot,
                   const struct cfg_def *d,
                   const char *value,
                   char *err,
                   size_t errlen)
{
    char *end;
    errno = 0;
    long long v = strtoll(value, &end, 10);
    if (errno != 0 || end == value || *end != '\0') {
        snprintf(err, errlen, "%s: '%s' is not an integer", d->name, value);
        return BK_ECONFIG;
    }
    if (v < d->min || v > d->max) {
        snprintf(err, errlen, "%s: %lld is outside [%lld, %lld]", d->name, v,
                 (long long)d->min, (long long)d->max);
        return BK_ECONFIG;
    }
    int rv = check_topic_default(d, value, err, errlen);
    if (rv != 0) {
        return rv;
    }
    int64_t x = v;
    memcpy(slot, &x, sizeof(x));
    return 0;
}

static int set_value(struct bk_config *c,
                     const struct cfg_def *d,
                     const char *value,
                     char *err,
                     size_t errlen)
{
    char *slot = (char *)c + d->offset;
    if (is_int(d->type)) {
        return set_int(slot, d, value, err, errlen);
    }
    if (d->type == CFG_BOOL) {
        bool b;
        if (strcmp(value, "true") == 0) {
            b = true;
        } else if (strcmp(value, "false") == 0) {
            b = false;
        } else {
            snprintf(err, errlen, "%s: '%s' is not true or false", d->name,
                     value);
            return BK_ECONFIG;
        }
        memcpy(slot, &b, sizeof(b));
        return 0;
    }
    int rv = check_topic_default(d, value, err, errlen);
    if (rv != 0) {
        return rv;
    }
    char *copy = bk_strdup(value);
    if (copy == NULL) {
        snprintf(err, errlen, "%s: out of memory", d->name);
        return BK_ENOMEM;
    }
    char *old;
    memcpy(&old, slot, sizeof(old));
    bk_free(old);
    memcpy(slot, &copy, sizeof(copy));
    return 0;
}

int bk_config_init(struct bk_config *c)
{
    char err[256];
    memset(c, 0, sizeof(*c));
    for (size_t i = 0; i < NDEFS; i++) {
        int rv = set_value(c, &defs[i], defs[i].def, err, sizeof(err));
        if (rv != 0) {
            bk_config_free(c);
            return rv;
        }
    }
    return 0;
}

int bk_config_set(struct bk_config *c,
                  const char *key,
                  const char *value,
                  char *err,
                  size_t errlen)
{
    if (strncmp(key, "listener.name.", 14) == 0) {
        return bk_config_set_override(c, key, value, err, errlen);
    }
    const struct cfg_def *d = find_def(key);
    if (d == NULL) {
        snprintf(err, errlen, "unknown configuration key '%s'", key);
        return BK_ECONFIG;
    }
    return set_value(c, d, value, err, errlen);
}

const char *bk_config_setting_name(const char *key)
{
    const struct cfg_def *d = find_def(key);
    return d != NULL && !is_int(d->type) && d->type != CFG_BOOL ? d->name
                                                                : NULL;
}

static char *trim(char *s)
{
    while (isspace((unsigned char)*s)) {
        s++;
    }
    size_t n = strlen(s);
    while (n > 0 && isspace((unsigned char)s[n - 1])) {
        s[--n] = '\0';
    }
    return s;
}

/* One logical line ("key=value", comments and blanks skipped). */
static int load_line(struct bk_config *c,
                     char *text,
                     const char *path,
                     int lineno,
                     char *err,
                     size_t errlen)
{
    char msg[512];
    char *s = trim(text);
    /* Java properties allow '=' or ':' as the separator. */
    char *sep = strpbrk(s, "=:");
    if (sep == NULL) {
        snprintf(err, errlen, "%s:%d: expected key=value, got '%.64s'", path,
                 lineno, s);
        return BK_ECONFIG;
    }
    *sep = '\0';
    char *key = trim(s);
    char *value = trim(sep + 1);
    int rv = bk_config_set(c, key, value, msg, sizeof(msg));
    if (rv != 0) {
        snprintf(err, errlen, "%s:%d: %s", path, lineno, msg);
    }
    return rv;
}

/* Whether a line (without its line break) ends in an odd number of
 * backslashes: Java properties continue it on the next line, as Kafka's
 * configuration files do for long values such as sasl.jaas.config. */
static bool continues(const char *s, size_t len)
{
    size_t n = 0;
    while (n < len && s[len - 1 - n] == '\\') {
        n++;
    }
    return n % 2 == 1;
}

int bk_config_load(struct bk_config *c,
                   const char *path,
                   char *err,
                   size_t errlen)
{
    FILE *f = fopen(path, "r");
    if (f == NULL) {
        int e = errno;
        snprintf(err, errlen, "%s: cannot read: %s", path, strerror(e));
        return -e;
    }
    char line[4096];
    /* The logical line: physical lines joined at their backslashes. */
    char logical[16384];
    size_t ll = 0;
    int lineno = 0;
    int first = 0; /* where the logical line starts, for messages */
    int rv = 0;
    while (rv == 0 && fgets(line, sizeof(line), f) != NULL) {
        lineno++;
        size_t len = strlen(line);
        if (len == sizeof(line) - 1 && line[len - 1] != '\n') {
            snprintf(err, errlen, "%s:%d: line longer than %zu bytes", path,
                     lineno, sizeof(line) - 2);
            rv = BK_ECONFIG;
            break;
        }
        while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r')) {
            line[--len] = '\0';
        }
        char *piece = line;
        if (ll == 0) {
            char *s = trim(line);
            if (*s == '\0' || *s == '#' || *s == '!') {
                continue;
            }
            first = lineno;
        } else {
            while (*piece == ' ' || *piece == '\t' || *piece == '\f') {
                piece++; /* a continuation's leading blanks go */
            }
        }
        size_t pl = strlen(piece);
        bool more = continues(piece, pl);
        if (more) {
            pl--;
        }
        if (ll + pl >= sizeof(logical)) {
            snprintf(err, errlen, "%s:%d: line longer than %zu bytes", path,
                     first, sizeof(logical) - 1);
            rv = BK_ECONFIG;
            break;
        }
        memcpy(logical + ll, piece, pl);
        ll += pl;
        logical[ll] = '\0';
        if (!more) {
            rv = load_line(c, logical, path, first, err, errlen);
            ll = 0;
        }
    }
    if (rv == 0 && ll > 0) {
        rv = load_line(c, logical, path, first, err, errlen);
    }
    (void)fclose(f); /* read only */
    return rv;
}

/* admin.listeners: empty, or one http://host:port. */
static int finish_admin(struct bk_config *c, char *err, size_t errlen)
{
    unsigned n = 0;
    struct bk_listener_cfg l[BK_MAX_LISTENERS];
    c->admin_on = false;
    if (c->admin_listeners[0] == '\0') {
        return 0;
    }
    int rv = bk_config_parse_endpoints("admin.listeners", c->admin_listeners, l,
                                       &n, err, errlen);
    if (rv != 0) {
        return rv;
    }
    if (n != 1 || strcasecmp(l[0].name, "http") != 0) {
        snprintf(err, errlen,
                 "admin.listeners: expected one http://host:port, got '%s'",
                 c->admin_listeners);
        return BK_ECONFIG;
    }
    c->admin = l[0];
    c->admin_on = true;
    return 0;
}

int bk_config_finish(struct bk_config *c, char *err, size_t errlen)
{
    int rv = bk_config_finish_listeners(c, err, errlen);
    if (rv != 0) {
        return rv;
    }
    rv = finish_admin(c, err, errlen);
    if (rv != 0) {
        return rv;
    }
    if (c->replica_selector_class[0] != '\0' &&
        strcmp(c->replica_selector_class, BK_RACK_AWARE_SELECTOR) != 0) {
        snprintf(err, errlen,
                 "replica.selector.class: '%s' is not available; use '%s' or "
                 "nothing",
                 c->replica_selector_class, BK_RACK_AWARE_SELECTOR);
        return BK_ECONFIG;
    }
    if (c->log_dirs[0] == '\0') {
        snprintf(err, errlen, "log.dirs: must not be empty");
        return BK_ECONFIG;
    }
    if (strchr(c->log_dirs, ',') != NULL) {
        snprintf(err, errlen,
                 "log.dirs: only one directory is supported, got '%s'",
                 c->log_dirs);
        return BK_ECONFIG;
    }
    bool up, down;
    if (!bk_group_parse_migration_policy(c->group_consumer_migration_policy,
                                         &up, &down)) {
        snprintf(err, errlen,
                 "group.consumer.migration.policy: '%.64s' is not one of "
                 "disabled, upgrade, downgrade, bidirectional",
                 c->group_consumer_migration_policy);
        return BK_ECONFIG;
    }
    struct bk_authz *az = NULL;
    rv = bk_authz_new(c->authorizer_class_name, c->super_users,
                      c->allow_everyone_if_no_acl_found, &az, err, errlen);
    bk_authz_free(az);
    if (rv != 0) {
        return rv;
    }
    enum bk_diag_level lvl;
    if (bk_diag_parse_level(c->logger_level, &lvl) != 0) {
        snprintf(err, errlen,
                 "logger.level: '%s' is not one of trace, debug, info, warn, "
                 "error, off",
                 c->logger_level);
        return BK_ECONFIG;
    }
    enum bk_diag_format fmt;
    if (bk_diag_parse_format(c->log_format, &fmt) != 0) {
        snprintf(err, errlen, "log.format: '%.64s' is not one of text, json",
                 c->log_format);
        return BK_ECONFIG;
    }
    rv = bk_config_finish_cluster(c, err, errlen);
    if (rv != 0) {
        return rv;
    }
    char msg[BK_MD_MSG_SIZE];
    if (bk_topic_settings_broker_defaults(&c->topic_defaults, bk_config_lookup,
                                          c, msg) != 0) {
        snprintf(err, errlen, "%s", msg);
        return BK_ECONFIG;
    }
    return 0;
}

void bk_config_free(struct bk_config *c)
{
    for (unsigned i = 0; i < c->noverrides; i++) {
        bk_free(c->overrides[i].value);
    }
    c->noverrides = 0;
    for (size_t i = 0; i < NDEFS; i++) {
        if (!is_int(defs[i].type) && defs[i].type != CFG_BOOL) {
            char **slot = (char **)((char *)c + defs[i].offset);
            bk_free(*slot);
            *slot = NULL;
        }
    }
}

/* The value of d in c as text; num is the buffer for numbers. */
static const char *value_text(const struct bk_config *c,
                              const struct cfg_def *d,
                              char *num,
                              size_t numlen)
{
    const char *slot = (const char *)c + d->offset;
    if (is_int(d->type)) {
        int64_t v;
        memcpy(&v, slot, sizeof(v));
        snprintf(num, numlen, "%lld", (long long)v);
        return num;
    }
    if (d->type == CFG_BOOL) {
        bool b;
        memcpy(&b, slot, sizeof(b));
        return b ? "true" : "false";
    }
    const char *str;
    memcpy(&str, slot, sizeof(str));
    return str != NULL ? str : "";
}

const char *bk_config_lookup(const char *name,
                             void *data,
                             char *buf,
                             size_t buflen)
{
    const struct cfg_def *d = find_def(name);
    return d != NULL ? value_text(data, d, buf, buflen) : NULL;
}

void bk_config_each(const struct bk_config *c,
                    void (*cb)(const struct bk_config_entry *e, void *data),
                    void *data)
{
    for (size_t i = 0; i < NDEFS; i++) {
        const struct cfg_def *d = &defs[i];
        char num[32];
        struct bk_config_entry e = {
            .name = d->name,
            .type = d->type,
            .value = value_text(c, d, num, sizeof(num)),
            .dflt = d->def,
            .dynamic = d->dynamic,
            .min = d->min,
            .max = d->max,
            .doc = d->doc,
        };
        cb(&e, data);
    }
}

static void write_broker_doc(FILE *out)
{
    fprintf(out,
            "# brokerd configuration\n\n"
            "Generated by `brokerd --config-doc` from the broker settings "
            "table in `src/server/config.c` and the topic config table in "
            "`src/cluster/topic_config.c`; do not edit by hand.\n\n"
            "## Broker settings\n\n"
            "`brokerd -c FILE` reads Kafka-style properties: one `key=value` "
            "per line (a line ending in `\\` continues on the next one, as "
            "in Java properties), `#` or `!` starts a comment. Names are "
            "Kafka's where "
            "Kafka has the setting; settings marked *brokerd* are our own. "
            "An unknown key or a bad value stops start-up with one line "
            "naming the file, line, key and reason. "
            "`brokerd --check-config FILE` checks a file without starting. "
            "Settings named as the broker default of a topic config (see "
            "below) must also pass that topic config's rule.\n\n"
            "| name | type | default | valid values | dynamic |\n"
            "|---|---|---|---|---|\n");
    for (size_t i = 0; i < NDEFS; i++) {
        const struct cfg_def *d = &defs[i];
        char range[64] = "";
        if (is_int(d->type)) {
            snprintf(range, sizeof(range), "[%lld, %lld]", (long long)d->min,
                     (long long)d->max);
        } else if (d->type == CFG_BOOL) {
            snprintf(range, sizeof(range), "true, false");
        }
        char def[128];
        snprintf(def, sizeof(def), d->def[0] != '\0' ? "`%s`" : "(empty)",
                 d->def);
        fprintf(out, "| `%s` | %s | %s | %s | %s |\n", d->name,
                bk_md_cfg_type_name(d->type), def, range,
                d->dynamic ? "yes" : "no");
    }
    fprintf(out, "\n");
    for (size_t i = 0; i < NDEFS; i++) {
        fprintf(out, "### `%s`\n\n%s\n\n", defs[i].name, defs[i].doc);
    }
}

/* "[min, max]", "[min, ...]", the valid set, or "". */
static void topic_range(const struct bk_md_cfg_def *t, char *out, size_t len)
{
    out[0] = '\0';
    if (t->valid != NULL) {
        size_t k = 0;
        for (const char *const *v = t->valid; *v != NULL && k < len; v++) {
            int w = snprintf(out + k, len - k, "%s%s", k > 0 ? ", " : "", *v);
            k += w > 0 ? (size_t)w : 0;
        }
    } else if (t->type == BK_MD_CFG_BOOLEAN) {
        snprintf(out, len, "true, false");
    } else if (t->has_min || t->has_max) {
        char lo[32] = "...", hi[32] = "...";
        if (t->has_min) {
            snprintf(lo, sizeof(lo), "%.17g", t->min);
        }
        if (t->has_max) {
            snprintf(hi, sizeof(hi), "%.17g", t->max);
        }
        snprintf(out, len, "[%s, %s]", lo, hi);
    }
}

static void write_topic_doc(FILE *out)
{
    size_t n;
    const struct bk_md_cfg_def *t = bk_md_topic_cfg_table(&n);
    fprintf(out,
            "## Topic configs\n\n"
            "Set per topic with CreateTopics, AlterConfigs or "
            "IncrementalAlterConfigs (`brokerctl config`), and shown by "
            "DescribeConfigs. A topic that does not set a config takes the "
            "broker setting named in the *broker default* column when "
            "brokerd has it (scaled from hours where the name says so), "
            "else Kafka's default shown here. *live* configs apply to "
            "running partitions without a restart.\n\n"
            "| name | type | default | valid values | broker default | "
            "live |\n"
            "|---|---|---|---|---|---|\n");
    for (size_t i = 0; i < n; i++) {
        char range[128], def[64], broker[80] = "";
        topic_range(&t[i], range, sizeof(range));
        snprintf(def, sizeof(def), t[i].dflt[0] != '\0' ? "`%s`" : "(empty)",
                 t[i].dflt);
        if (t[i].broker != NULL && find_def(t[i].broker) != NULL) {
            snprintf(broker, sizeof(broker), "`%s`", t[i].broker);
        }
        fprintf(out, "| `%s` | %s | %s | %s | %s | %s |\n", t[i].name,
                bk_md_cfg_type_name(t[i].type), def, range, broker,
                t[i].live ? "yes" : "no");
    }
    fprintf(out, "\n");
    for (size_t i = 0; i < n; i++) {
        fprintf(out, "### `%s`\n\n%s\n\n", t[i].name, t[i].doc);
    }
}

void bk_config_write_doc(FILE *out)
{
    write_broker_doc(out);
    write_topic_doc(out);
}
