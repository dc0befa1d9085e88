/* The immutable metadata image and its lock-free publication.
 *
 * An image is the whole cluster metadata at one point of the metadata log:
 * brokers, topics (by name and by id) with their partitions and configs,
 * broker configs, the next producer id and the metadata offset (the number
 * of records applied so far; raft's apply gives no index, raft-notes §5.2).
 *
 * Images are never modified once published. Applying a batch of records
 * builds a new image that shares every untouched topic with its base
 * (copy-on-write per topic; brokers and broker configs are small and are
 * copied). Topics and images are reference counted with atomics, so a shard
 * may hold an image as long as it likes from any thread.
 *
 * Publication (struct bk_md_pub): one writer thread (the raft thread) swaps
 * in new images; any thread acquires the current one without locks. See
 * bk_md_pub_acquire() for the grace-period scheme that makes that safe. */
#ifndef BK_CLUSTER_IMAGE_H
#define BK_CLUSTER_IMAGE_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "authz/authz.h"
#include "cluster/features.h"
#include "cluster/quotas.h"
#include "cluster/records.h"
#include "cluster/scram.h"
#include "protocol/prim.h"

struct bk_md_kv {
    char *name;  /* owned */
    char *value; /* owned */
};

/* A set of explicit configs, sorted by name (strcmp). Configs not present
 * take their default (cluster/topic_config.h). */
struct bk_md_configs {
    size_t n;
    struct bk_md_kv *kv;
};

struct bk_md_partition {
    int32_t n_replicas;
    int32_t *replicas; /* owned; replicas[0] is the preferred leader */
    int32_t n_isr;
    int32_t *isr;   /* owned */
    int32_t leader; /* -1: none */
    int32_t leader_epoch;
    int32_t partition_epoch;
    int8_t leader_recovery_state; /* KIP-704: 0 RECOVERED, 1 RECOVERING */
    /* A reassignment in progress (records.h, bk_md_partition_rec): the
     * replicas being added and removed, both subsets of replicas; n 0 when
     * none is in progress. */
    int32_t n_adding;
    int32_t *adding; /* owned; NULL when n_adding is 0 */
    int32_t n_removing;
    int32_t *removing; /* owned; NULL when n_removing is 0 */
    /* KIP-966 (records.h, bk_md_partition_rec v3): the eligible leader
     * replicas and the last known ELR; n 0 and NULL when empty. */
    int32_t n_elr;
    int32_t *elr; /* owned; NULL when n_elr is 0 */
    int32_t n_last_known_elr;
    int32_t *last_known_elr; /* owned; NULL when n_last_known_elr is 0 */
};

struct bk_md_topic {
    atomic_long refs;
    char *name; /* owned */
    struct bk_uuid id;
    /* bk_hash64 of id, computed once: every request routes its partitions
     * to their owner shard with it (bk_shard_for_partition). */
    uint64_t id_hash;
    int32_t n_partitions;
    int32_t cap_partitions;             /* entries allocated */
    struct bk_md_partition *partitions; /* owned, n_partitions */
    struct bk_md_configs configs;
    bool draft; /* private to the apply that created it; false once shared */
};

struct bk_md_broker {
    int32_t id;
    int64_t epoch;
    char *host; /* owned */
    int32_t port;
    char *rack; /* owned; NULL when unset */
    bool fenced;
    struct bk_uuid incarnation; /* the registering process's random id */
    bool in_controlled_shutdown;
};

/* Where a controller serves the controller's Kafka requests. */
struct bk_md_controller {
    int32_t id;
    struct bk_uuid incarnation;
    char *host; /* owned */
    int32_t port;
};

/* Configs of one broker resource ("" = the cluster-wide default). */
struct bk_md_res_configs {
    char *resource; /* owned */
    struct bk_md_configs configs;
};

struct bk_md_image {
    atomic_long refs;
    /* Records applied since the log began (including skipped ones). */
    int64_t offset;
    int64_t next_producer_id;
    /* Records that were skipped as conflicting (see bk_md_image_apply). */
    int64_t n_skipped;
    size_t n_brokers;
    struct bk_md_broker *brokers; /* owned, sorted by id */
    size_t n_topics;
    struct bk_md_topic **by_name; /* owned array of refs, sorted by name */
    struct bk_md_topic **by_id;   /* same topics, sorted by id bytes */
    size_t n_broker_configs;
    struct bk_md_res_configs *broker_configs; /* sorted by resource */
    /* Finalized feature levels (KIP-584), indexed by enum bk_md_feature;
     * meaningful once features_finalized (a feature record was applied). */
    bool features_finalized;
    int16_t features[BK_MD_N_FEATURES];
    char *cluster_id; /* owned; NULL until the first controller wrote it */
    size_t n_controllers;
    struct bk_md_controller *controllers; /* owned, sorted by id */
    /* Client quotas (one reference, shared between images; NULL when
     * none were ever set). */
    struct bk_md_quotas *quotas;
    struct bk_md_scram scram; /* users' SCRAM credentials (cluster/scram.h) */
    /* The ACLs (issue 15): one reference, shared with the images before
     * and after until an ACL record changes them; NULL while there has
     * never been one (an empty set). */
    struct bk_acl_set *acls;
};

/* Returns a new empty image with one reference (returns owned), or NULL. */
struct bk_md_image *bk_md_image_new(void);

/* Takes one more reference (any thread). */
void bk_md_image_ref(struct bk_md_image *img);

/* Drops one reference; the last one frees the image (any thread). NULL is
 * allowed. */
void bk_md_image_release(struct bk_md_image *img);

/* Applies recs in order on top of base (borrowed) and returns the new image
 * in *out (returns owned, one reference). Apply is deterministic: the same
 * base and records give the same image on every node. It never fails on
 * content: a record that conflicts with the image (a topic name or id that
 * already exists, a partition or config of an unknown topic, a partition
 * index past the end, a producer id block that does not start at the next
 * id, a feature brokerd does not know or a negative level) is skipped, counted
 * in n_skipped, and flagged in skipped[i] when skipped (n bytes, may be NULL)
 * is given. The metadata offset advances by n. Returns 0 or BK_ENOMEM (then
 * nothing changed and the apply may be retried). */
int bk_md_image_apply(const struct bk_md_image *base,
                      const struct bk_md_rec *recs,
                      size_t n,
                      uint8_t *skipped,
                      struct bk_md_image **out);

/* Lookups. The returned pointers are borrowed from img and valid while the
 * caller holds its reference. */
const struct bk_md_topic *bk_md_image_topic(const struct bk_md_image *img,
                                            const char *name,
                                            size_t len);
const struct bk_md_topic *bk_md_image_topic_by_id(const struct bk_md_image *img,
                                                  const struct bk_uuid *id);
const struct bk_md_broker *bk_md_image_broker(const struct bk_md_image *img,
                                              int32_t id);
/* The controller endpoint of node id, or NULL when it never became
 * active. */
const struct bk_md_controller *bk_md_image_controller(
    const struct bk_md_image *img,
    int32_t id);
/* Number of registered, unfenced brokers. */
size_t bk_md_image_live_brokers(const struct bk_md_image *img);
/* Returns the partition or NULL when out of range. */
const struct bk_md_partition *bk_md_topic_partition(const struct bk_md_topic *t,
                                                    int32_t partition);
/* Returns the explicit value of a config, or NULL when it is not set. */
const char *bk_md_configs_get(const struct bk_md_configs *c, const char *name);
/* Broker configs of resource ("" = cluster default), or NULL if none. */
const struct bk_md_configs *bk_md_image_broker_configs(
    const struct bk_md_image *img,
    const char *resource);

/* Appends to *recs the records that rebuild img from an empty image, in a
 * canonical order (the finalized features when there are any, brokers by
 * id, broker configs, topics by name each with its partitions and
 * configs, then the SCRAM credentials, then the ACLs in the set's order).
 * The array and the int32 arrays are allocated in arena; strings are views
 * into img (borrowed). Returns 0 or
 * BK_ENOMEM. */
int bk_md_image_to_records(const struct bk_md_image *img,
                           struct bk_arena *arena,
                           struct bk_md_rec **recs,
                           size_t *n);

/* Serializes img into one buffer from alloc: a header (magic "BKMS",
 * version, offset, next producer id, skipped count) followed by the batch of
 * bk_md_image_to_records(). Equal images give identical bytes. Returns 0,
 * BK_ENOMEM. */
int bk_md_image_snapshot(const struct bk_md_image *img,
                         void *(*alloc)(size_t),
                         void **out,
                         size_t *out_len);

/* Rebuilds an image from bk_md_image_snapshot() bytes (borrowed). Returns
 * 0, BK_EPROTO/BK_ECORRUPT for bad bytes, BK_EUNSUPPORTED, BK_ENOMEM. */
int bk_md_image_restore(const void *buf, size_t len, struct bk_md_image **out);

/* Publication point: one writer, any number of readers, no locks. */
struct bk_md_pub {
    _Atomic(struct bk_md_image *) cur; /* holds one reference */
    atomic_uint epoch;
    atomic_long active[2]; /* readers inside acquire, per epoch parity */
};

/* Takes ownership of one reference to img (not NULL). */
void bk_md_pub_init(struct bk_md_pub *pub, struct bk_md_image *img);

/* Drops the published reference. No reader may be inside acquire. */
void bk_md_pub_close(struct bk_md_pub *pub);

/* Any thread, wait-free: returns the current image with a reference the
 * caller must bk_md_image_release() (returns owned). */
struct bk_md_image *bk_md_pub_acquire(struct bk_md_pub *pub);

/* Writer thread only: publishes img (takes ownership of one reference) and
 * drops the publication's reference to the previous image once no reader
 * can still be about to take a reference to it (a short spin). */
void bk_md_pub_publish(struct bk_md_pub *pub, struct bk_md_image *img);

#endif /* BK_CLUSTER_IMAGE_H */
