#include "partition/partition.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cluster/topic_config.h"
#include "common/diag.h"
#include "common/err.h"
#include "common/heap.h"
#include "log/batch.h"
#include "partition/replica.h"
#include "protocol/kerr.h"
#include "protocol/record_batch.h"

/* Producer state is snapshotted after this many appended bytes, which
 * bounds the replay after a crash. */
#define SNAPSHOT_EVERY_BYTES (16 * 1024 * 1024)
#define REPLAY_CHUNK         (1024 * 1024)

int bk_part_dir(const struct bk_storage *st,
                const char *topic,
                int32_t index,
                char *out,
                size_t outlen)
{
    /* Bounded widths: log.dirs is checked shorter than 3800 bytes at
     * start-up (datadir.c) and topic names are at most 249 bytes (Kafka's
     * rule). */
    int n = snprintf(out, outlen, "%.3800s/%.249s-%d", st->root, topic, index);
    return (n < 0 || (size_t)n >= outlen) ? BK_EINVAL : 0;
}

/* enum bk_topic_compression -> the batch codec id (attributes bits 0-2),
 * or -1 for "producer": keep what the producer sent. */
static int8_t codec_of(int32_t compression_type)
{
    switch (compression_type) {
        case BK_TOPIC_COMPRESSION_UNCOMPRESSED:
            return 0;
        case BK_TOPIC_COMPRESSION_GZIP:
            return 1;
        case BK_TOPIC_COMPRESSION_SNAPPY:
            return 2;
        case BK_TOPIC_COMPRESSION_LZ4:
            return 3;
        case BK_TOPIC_COMPRESSION_ZSTD:
            return 4;
        default:
            return -1;
    }
}

/* Applies the typed settings of topic t (its configs over the broker's
 * defaults, parsed once by cluster/topic_config.c) to p and lc. */
static void apply_config(struct bk_partition *p,
                         const struct bk_part_table *table,
                         const struct bk_md_topic *t,
                         struct bk_log_config *lc)
{
    const struct bk_storage *st = table->st;
    struct bk_topic_settings s;
    bk_topic_settings_resolve(
        &s, table->have_defaults ? &table->defaults : st->topic_defaults,
        &t->configs);
    bk_log_config_default(lc);
    lc->segment_bytes = s.segment_bytes;
    lc->segment_ms = s.segment_ms;
    lc->index_interval_bytes = s.index_interval_bytes;
    lc->retention_ms = s.retention_ms;
    lc->retention_bytes = s.retention_bytes;
    lc->flush_messages = s.flush_messages;
    lc->flush_ms = s.flush_ms;
    lc->max_message_bytes = s.max_message_bytes;
    lc->log_append_time =
        s.message_timestamp_type == BK_TOPIC_TIMESTAMP_LOG_APPEND_TIME;
    p->max_message_bytes = lc->max_message_bytes;
    p->log_append_time = lc->log_append_time;
    p->timestamp_before_ms = s.message_timestamp_before_max_ms;
    p->timestamp_after_ms = s.message_timestamp_after_max_ms;
    p->compression = codec_of(s.compression_type);
    p->compacted = (s.cleanup_policy & BK_TOPIC_CLEANUP_COMPACT) != 0;
    p->min_isr = (int32_t)s.min_insync_replicas;
    lc->cleanup_compact = p->compacted;
    lc->cleanup_delete = (s.cleanup_policy & BK_TOPIC_CLEANUP_DELETE) != 0;
    lc->delete_retention_ms = s.delete_retention_ms;
    lc->min_compaction_lag_ms = s.min_compaction_lag_ms;
    lc->max_compaction_lag_ms = s.max_compaction_lag_ms;
    lc->min_cleanable_dirty_ratio = s.min_cleanable_dirty_ratio;
    /* __consumer_offsets heals like any log: after a failed append the
     * group coordinator reloads that partition's groups from the log
     * before it serves them again (group_coord.c, docs/storage.md). */
    lc->write_errors_fatal = false;
    lc->cleaner_enable = st->cleaner_enable;
    lc->cleaner_backoff_ms = st->cleaner_backoff_ms;
    if (st->cleaner_map_bytes > 0) {
        lc->cleaner_map_bytes = st->cleaner_map_bytes;
    }
}

static size_t bucket_of(const struct bk_part_table *t,
                        const struct bk_uuid *id,
                        int32_t index)
{
    uint64_t h = 1469598103934665603ULL;
    for (size_t i = 0; i < sizeof(id->b); i++) {
        h = (h ^ id->b[i]) * 1099511628211ULL;
    }
    h = (h ^ (uint32_t)index) * 1099511628211ULL;
    return (size_t)(h % t->nbuckets);
}

int bk_part_table_init(struct bk_part_table *t,
                       const struct bk_storage *st,
                       uv_loop_t *loop)
{
    memset(t, 0, sizeof(*t));
    bk_owner_claim(&t->owner);
    t->st = st;
    t->loop = loop;
    t->nbuckets = 1024;
    t->buckets = bk_calloc(t->nbuckets, sizeof(*t->buckets));
    return t->buckets == NULL ? BK_ENOMEM : 0;
}

struct bk_partition *bk_part_find(struct bk_part_table *t,
                                  const struct bk_uuid *topic_id,
                                  int32_t index)
{
    for (struct bk_partition *p = t->buckets[bucket_of(t, topic_id, index)];
         p != NULL; p = p->hnext) {
        if (p->index == index &&
            memcmp(p->topic_id.b, topic_id->b, sizeof(p->topic_id.b)) == 0) {
            return p;
        }
    }
    return NULL;
}

static void snapshot_path(const struct bk_storage *st,
                          const struct bk_partition *p,
                          char *out,
                          size_t len)
{
    char dir[4096];
    bk_part_dir(st, p->topic, p->index, dir, sizeof(dir));
    snprintf(out, len, "%s/" BK_PART_SNAPSHOT_FILE, dir);
}

int bk_part_replay_producers(struct bk_partition *p, int64_t from)
{
    int64_t end = bk_log_end_offset(p->log);
    int64_t start = bk_log_start_offset(p->log);
    if (from < start) {
        from = start;
    }
    if (from >= end) {
        return 0;
    }
    uint8_t *buf = bk_malloc(REPLAY_CHUNK);
    if (buf == NULL) {
        return BK_ENOMEM;
    }
    size_t cap = REPLAY_CHUNK;
    int rv = 0;
    while (from < end) {
        size_t len = 0;
        int64_t next = from;
        rv = bk_log_read_copy(p->log, from, (int64_t)cap, INT64_MAX, buf, cap,
                              &len, &next);
        if (rv == BK_ETOOLARGE && len > cap) {
            /* One batch bigger than the buffer: grow to fit it. */
            uint8_t *nb = bk_realloc(buf, len);
            if (nb == NULL) {
                rv = BK_ENOMEM;
                break;
            }
            buf = nb;
            cap = len;
            continue;
        }
        if (rv != 0 || len == 0 || next <= from) {
            break;
        }
        size_t pos = 0;
        while (pos + BK_BATCH_HEADER_SIZE <= len) {
            struct bk_batch_hdr h;
            bk_batch_hdr_decode(buf + pos, &h);
            int64_t size = bk_batch_hdr_size(&h);
            if (size <= 0 || pos + (size_t)size > len) {
                break;
            }
            if (h.producer_id >= 0 && h.base_offset >= from &&
                (h.attributes & BK_BATCH_ATTR_CONTROL) == 0) {
                bk_pstate_update(&p->pstate, h.producer_id, h.producer_epoch,
                                 h.base_sequence, h.last_offset_delta + 1,
                                 h.base_offset, h.max_timestamp);
            }
            if (h.base_offset >= from) {
                bk_part_txn_apply(p, buf + pos, (size_t)size, h.base_offset);
            }
            pos += (size_t)size;
        }
        from = next;
    }
    bk_free(buf);
    return rv;
}

/* ---- partition directories of deleted topics --------------------------- */

/* Kafka's Uuid.toString(): URL-safe base64 of the 16 bytes, no padding. */
static void uuid_text(const struct bk_uuid *id, char out[23])
{
    static const char b64[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    size_t o = 0;
    unsigned bits = 0, acc = 0;
    for (size_t i = 0; i < 16; i++) {
        acc = (acc << 8) | id->b[i];
        bits += 8;
        while (bits >= 6) {
            out[o++] = b64[(acc >> (bits - 6)) & 63];
            bits -= 6;
        }
    }
    out[o++] = b64[(acc << (6 - bits)) & 63];
    out[o] = '\0';
}

struct rm_job {
    uv_work_t work;
    char path[4200];
};

static void rm_work(uv_work_t *w)
{
    struct rm_job *j = (struct rm_job *)w;
    bk_remove_tree(j->path);
}

static void rm_done(uv_work_t *w, int status)
{
    (void)status;
    bk_free(w);
}

/* Moves a partition directory out of the way under a name no live
 * partition uses, then deletes it on the threadpool (unlinking gigabytes
 * of segments must not stall the shard). */
static int retire_dir(struct bk_part_table *t,
                      const char *dir,
                      const char *old_id)
{
    struct rm_job *j = bk_calloc(1, sizeof(*j));
    if (j == NULL) {
        return BK_ENOMEM;
    }
    snprintf(j->path, sizeof(j->path), "%.4096s.%.31s-delete", dir, old_id);
    if (rename(dir, j->path) != 0) {
        int err = errno;
        bk_free(j);
        if (err == ENOENT) {
            return 0;
        }
        bk_diag_warn("partition", "dir=%s msg=\"cannot retire: %s\"", dir,
                     strerror(err));
        return -err;
    }
    if (t->loop == NULL ||
        uv_queue_work(t->loop, &j->work, rm_work, rm_done) != 0) {
        rm_work(&j->work);
        bk_free(j);
    }
    return 0;
}

/* Reads the topic id from <dir>/partition.metadata (Kafka's format:
 * "version: 0" and "topic_id: <uuid>" lines). Returns 0 and fills out, or
 * BK_ENOENT when there is no such file or it holds no id: a file cut short
 * by a power loss names no topic, and must not get the directory retired
 * as another topic's. */
static int read_dir_topic_id(const struct bk_disk *d,
                             const char *dir,
                             char out[32])
{
    char path[4200], text[256];
    snprintf(path, sizeof(path), "%.4096s/partition.metadata", dir);
    ssize_t n = bk_disk_read_small(d, path, text, sizeof(text) - 1);
    if (n < 0) {
        return BK_ENOENT;
    }
    text[n] = '\0';
    const char *at = strstr(text, "topic_id: ");
    if (at == NULL) {
        return BK_ENOENT;
    }
    at += 10;
    size_t len = strcspn(at, "\r\n");
    if (len != 22 || at[len] == '\0') {
        return BK_ENOENT; /* cut short: no whole line */
    }
    snprintf(out, 32, "%.22s", at);
    return 0;
}

/* Writes partition.metadata, once, so that a later topic with the same
 * name can tell this directory is not its own. Durably and atomically
 * (bk_disk_write_atomic): Kafka's PartitionMetadataFile is flushed too,
 * and a file truncated by a power loss must not look like another
 * topic's. A failure is logged; the next open writes it again. */
static void write_dir_topic_id(const struct bk_disk *d,
                               const char *dir,
                               const struct bk_uuid *id)
{
    char path[4200], text[64], mine[23], stored[32];
    uuid_text(id, mine);
    if (read_dir_topic_id(d, dir, stored) == 0 && strcmp(stored, mine) == 0) {
        return;
    }
    snprintf(path, sizeof(path), "%.4096s/partition.metadata", dir);
    int n = snprintf(text, sizeof(text), "version: 0\ntopic_id: %s\n", mine);
    int rv = bk_disk_write_atomic(d, dir, path, text, (size_t)n);
    if (rv != 0) {
        bk_diag_warn("partition", "path=%s err=%s msg=\"write failed\"", path,
                     bk_errname(rv));
    }
}

int bk_part_get(struct bk_part_table *t,
                const struct bk_md_topic *topic,
                int32_t index,
                int32_t leader_epoch,
                struct bk_partition **out,
                char *errmsg)
{
    bk_owner_check(&t->owner);
    struct bk_partition *p = bk_part_find(t, &topic->id, index);
    if (p != NULL) {
        p->leader_epoch = leader_epoch;
        *out = p;
        return 0;
    }
    p = bk_calloc(1, sizeof(*p));
    if (p == NULL) {
        snprintf(errmsg, BK_ERRMSG_SIZE, "out of memory");
        return BK_ENOMEM;
    }
    p->topic = bk_strdup(topic->name);
    if (p->topic == NULL) {
        bk_free(p);
        snprintf(errmsg, BK_ERRMSG_SIZE, "out of memory");
        return BK_ENOMEM;
    }
    p->topic_id = topic->id;
    p->index = index;
    p->owner = t->owner;
    p->table = t;
    p->partition_epoch = -1;
    p->peers_epoch = -1;
    p->disk = t->st->disk;
    p->leader_epoch = leader_epoch;
    bk_pstate_init(&p->pstate);
    struct bk_log_config lc;
    apply_config(p, t, topic, &lc);
    char dir[4096];
    int rv = bk_part_dir(t->st, topic->name, index, dir, sizeof(dir));
    if (rv == 0) {
        /* A directory left by a deleted topic of the same name belongs to
         * another topic id: move it away rather than serve its records. */
        char stored[32], mine[23];
        uuid_text(&topic->id, mine);
        if (read_dir_topic_id(t->st->disk, dir, stored) == 0 &&
            strcmp(stored, mine) != 0) {
            bk_diag_info("partition",
                         "dir=%s topic_id=%s msg=\"retiring the directory of "
                         "a deleted topic\"",
                         dir, stored);
            rv = retire_dir(t, dir, stored);
            if (rv != 0) {
                snprintf(errmsg, BK_ERRMSG_SIZE,
                         "%.180s holds a deleted topic's data and cannot be "
                         "moved",
                         dir);
            }
        }
        rv = rv != 0 ? rv
                     : bk_log_open(dir, &lc, t->st->disk, t->st->clock,
                                   t->st->fc, t->st->syncer, t->st->was_clean,
                                   &p->log, errmsg);
        if (rv == 0) {
            write_dir_topic_id(t->st->disk, dir, &topic->id);
            /* Internal topics (__consumer_offsets) may write into the
             * reserve: that is what it is kept for. */
            if (strncmp(topic->name, "__", 2) != 0) {
                bk_log_set_space(p->log, t->st->space);
            }
        }
    } else {
        snprintf(errmsg, BK_ERRMSG_SIZE, "partition directory name too long");
    }
    if (rv != 0) {
        bk_free(p->topic);
        bk_free(p);
        return rv;
    }
    /* Idempotence survives restarts: load the snapshot, then replay what
     * was appended after it. */
    char path[4200];
    snapshot_path(t->st, p, path, sizeof(path));
    int64_t snap_offset = -1;
    if (bk_pstate_load(&p->pstate, t->st->disk, path, &snap_offset) != 0 ||
        snap_offset > bk_log_end_offset(p->log)) {
        bk_pstate_free(&p->pstate);
        bk_pstate_init(&p->pstate);
        snap_offset = -1;
    }
    p->snap_offset = snap_offset;
    rv = bk_part_replay_producers(p, snap_offset < 0 ? 0 : snap_offset);
    if (rv != 0) {
        bk_diag_warn("partition",
                     "topic=%s partition=%d msg=\"producer state replay "
                     "failed: %s\"",
                     p->topic, index, bk_strerror(rv));
    }
    size_t b = bucket_of(t, &topic->id, index);
    p->hnext = t->buckets[b];
    t->buckets[b] = p;
    t->n++;
    *out = p;
    return 0;
}

/* Whether the producer snapshot on disk already says everything: it
 * covers the log end, or there is nothing to replay. Saving it again
 * costs a file write and an fsync per partition at every shutdown. */
static bool snapshot_current(const struct bk_partition *p)
{
    int64_t end = bk_log_end_offset(p->log);
    return p->snap_offset == end || (p->snap_offset < 0 && end == 0);
}

/* First step of closing p: saves the producer state (clean) and queues the
 * log's final syncs; bk_part_table_close waits for the syncer once for
 * every partition, then part_close_end frees p. */
static void part_close_begin(const struct bk_storage *st,
                             struct bk_partition *p,
                             bool clean)
{
    if (clean && !snapshot_current(p)) {
        char path[4200];
        snapshot_path(st, p, path, sizeof(path));
        int rv = bk_pstate_save(&p->pstate, st->disk, path,
                                bk_log_end_offset(p->log));
        if (rv != 0) {
            bk_diag_warn("partition",
                         "topic=%s partition=%d msg=\"producer snapshot: %s\"",
                         p->topic, p->index, bk_strerror(rv));
        }
    }
    /* Parked fetches are answered by their own timers; drop the links.
     * Appends waiting for followers will not get them from this replica. */
    p->waiters = NULL;
    bk_replica_fail_hw_waits(p, BK_KERR_NOT_LEADER_OR_FOLLOWER);
    if (p->clean_job != NULL) {
        /* Still on the threadpool: its completion finds no partition and
         * discards it. The log forgets it at close. */
        bk_log_clean_cancel(p->clean_job);
        p->clean_job = NULL;
    }
    int rv = bk_log_close_begin(p->log, clean);
    if (rv != 0) {
        bk_diag_warn("partition",
                     "topic=%s partition=%d msg=\"closing the log: %s\"",
                     p->topic, p->index, bk_strerror(rv));
    }
}

static void part_close_end(struct bk_partition *p)
{
    bk_log_close_end(p->log);
    bk_pstate_free(&p->pstate);
    bk_free(p->peers);
    bk_free(p->isr);
    bk_free(p->want_isr);
    bk_free(p->topic);
    bk_free(p);
}

static void part_close(const struct bk_storage *st,
                       struct bk_partition *p,
                       bool clean)
{
    part_close_begin(st, p, clean);
    /* Items queued by this log reference it: wait until they ran. */
    bk_syncer_barrier(st->syncer);
    part_close_end(p);
}

void bk_part_table_close(struct bk_part_table *t, bool clean)
{
    for (size_t b = 0; b < t->nbuckets; b++) {
        for (struct bk_partition *p = t->buckets[b]; p != NULL; p = p->hnext) {
            part_close_begin(t->st, p, clean);
        }
    }
    /* One wait for every log's final syncs, which the syncer groups. */
    if (t->n > 0) {
        bk_syncer_barrier(t->st->syncer);
    }
    for (size_t b = 0; b < t->nbuckets; b++) {
        struct bk_partition *p = t->buckets[b];
        while (p != NULL) {
            struct bk_partition *next = p->hnext;
            part_close_end(p);
            p = next;
        }
    }
    bk_free(t->buckets);
    t->buckets = NULL;
    t->n = 0;
}

/* Whether img still has the partition of p and, for node_id >= 0, lists
 * node_id among its replicas. */
static bool still_assigned(const struct bk_md_image *img,
                           const struct bk_partition *p,
                           int32_t node_id)
{
    const struct bk_md_topic *topic =
        bk_md_image_topic_by_id(img, &p->topic_id);
    const struct bk_md_partition *mp =
        topic != NULL ? bk_md_topic_partition(topic, p->index) : NULL;
    if (mp == NULL) {
        return false;
    }
    for (int32_t i = 0; node_id >= 0 && i < mp->n_replicas; i++) {
        if (mp->replicas[i] == node_id) {
            return true;
        }
    }
    return node_id < 0;
}

size_t bk_part_table_sync(struct bk_part_table *t,
                          const struct bk_md_image *img,
                          int32_t node_id)
{
    size_t dropped = 0;
    for (size_t b = 0; b < t->nbuckets; b++) {
        struct bk_partition **pp = &t->buckets[b];
        while (*pp != NULL) {
            struct bk_partition *p = *pp;
            if (still_assigned(img, p, node_id)) {
                pp = &p->hnext;
                continue;
            }
            *pp = p->hnext;
            t->n--;
            dropped++;
            bk_part_wake(p);
            char dir[4096], id[23];
            uuid_text(&p->topic_id, id);
            int drv = bk_part_dir(t->st, p->topic, p->index, dir, sizeof(dir));
            part_close(t->st, p, false);
            if (drv == 0) {
                retire_dir(t, dir, id);
            }
        }
    }
    return dropped;
}

/* A producer-state snapshot being written on the threadpool. It owns a
 * copy of everything it needs, so the partition may close meanwhile; the
 * partition is told only through its flag, if it still exists. */
struct snap_job {
    uv_work_t work;
    const struct bk_disk *disk;
    struct bk_part_table *table;
    struct bk_uuid topic_id;
    int32_t index;
    int64_t offset; /* the log end the snapshot covers */
    uint8_t *buf;
    size_t len;
    int rv;
    char path[4200];
};

static void snap_work(uv_work_t *w)
{
    struct snap_job *j = (struct snap_job *)w;
    j->rv = bk_pstate_write(j->disk, j->path, j->buf, j->len);
}

static void snap_done(uv_work_t *w, int status)
{
    struct snap_job *j = (struct snap_job *)w;
    struct bk_partition *p = bk_part_find(j->table, &j->topic_id, j->index);
    if (p != NULL) {
        p->snapshot_running = false;
        if (status == 0 && j->rv == 0) {
            p->snap_offset = j->offset;
        }
    }
    if (status != 0 || j->rv != 0) {
        bk_diag_warn("partition", "path=%s msg=\"producer snapshot: %s\"",
                     j->path, bk_strerror(status != 0 ? status : j->rv));
    }
    bk_free(j->buf);
    bk_free(j);
}

static void maybe_snapshot(struct bk_part_table *t,
                           struct bk_partition *p,
                           uv_loop_t *loop)
{
    if (p->snapshot_running || p->bytes_since_snapshot < SNAPSHOT_EVERY_BYTES) {
        return;
    }
    struct snap_job *j = bk_calloc(1, sizeof(*j));
    if (j == NULL) {
        return;
    }
    j->disk = t->st->disk;
    j->table = t;
    j->topic_id = p->topic_id;
    j->index = p->index;
    snapshot_path(t->st, p, j->path, sizeof(j->path));
    j->offset = bk_log_end_offset(p->log);
    if (bk_pstate_encode(&p->pstate, j->offset, &j->buf, &j->len) != 0 ||
        uv_queue_work(loop, &j->work, snap_work, snap_done) != 0) {
        bk_free(j->buf);
        bk_free(j);
        return;
    }
    p->snapshot_running = true;
    p->bytes_since_snapshot = 0;
}

/* The topic defaults this broker gives from image img: its static settings
 * overlaid with the dynamic ones for it and for all brokers. A stored value
 * that does not parse (checked when it was set, so written by something
 * older) keeps the static defaults, logged. */
static void refresh_defaults(struct bk_part_table *t,
                             const struct bk_md_image *img)
{
    const struct bk_storage *st = t->st;
    if (st->broker_lookup == NULL) {
        return;
    }
    char id[16];
    snprintf(id, sizeof(id), "%d", (int)st->node_id);
    struct bk_topic_dyn_lookup dl = {
        .per_broker = bk_md_image_broker_configs(img, id),
        .cluster = bk_md_image_broker_configs(img, ""),
        .static_lookup = st->broker_lookup,
        .static_data = st->broker_lookup_data,
    };
    char msg[BK_MD_MSG_SIZE];
    t->have_defaults = bk_topic_settings_broker_defaults(
                           &t->defaults, bk_topic_dyn_lookup, &dl, msg) == 0;
    if (!t->have_defaults) {
        bk_diag_warn("partition", "msg=\"dynamic broker config ignored: %s\"",
                     msg);
    }
}

size_t bk_part_table_refresh_configs(struct bk_part_table *t,
                                     const struct bk_md_image *img)
{
    refresh_defaults(t, img);
    size_t n = 0;
    for (size_t b = 0; b < t->nbuckets; b++) {
        for (struct bk_partition *p = t->buckets[b]; p != NULL; p = p->hnext) {
            const struct bk_md_topic *topic =
                bk_md_image_topic_by_id(img, &p->topic_id);
            if (topic == NULL) {
                continue;
            }
            /* The same computation as at open, so a refresh with unchanged
             * configs changes nothing. */
            struct bk_log_config lc;
            apply_config(p, t, topic, &lc);
            bk_log_set_config(p->log, &lc);
            n++;
        }
    }
    return n;
}

/* ---- the log cleaner ---------------------------------------------------- */

/* A cleaning job on the threadpool. Like a snapshot job it finds its
 * partition again by id when done, so the partition may close meanwhile. */
struct bk_clean_work {
    uv_work_t work;
    struct bk_part_table *table;
    struct bk_uuid topic_id;
    int32_t index;
    struct bk_log_clean *job;
};

static void clean_work_cb(uv_work_t *w)
{
    struct bk_clean_work *cw = (struct bk_clean_work *)w;
    bk_log_clean_run(cw->job);
}

static void clean_done_cb(uv_work_t *w, int status)
{
    (void)status; /* a cancelled work never ran: the job says so itself */
    struct bk_clean_work *cw = (struct bk_clean_work *)w;
    struct bk_part_table *t = cw->table;
    if (t->cleaning == cw) {
        t->cleaning = NULL;
    }
    struct bk_partition *p = bk_part_find(t, &cw->topic_id, cw->index);
    if (p != NULL && p->clean_job == cw->job) {
        p->clean_job = NULL;
        struct bk_log_clean_stats st;
        int rv = bk_log_clean_end(p->log, cw->job, &st);
        if (rv != 0 && rv != BK_ECANCELED) {
            bk_diag_warn("partition",
                         "topic=%s partition=%d msg=\"compaction failed: %s\"",
                         p->topic, p->index, bk_strerror(rv));
        }
    } else {
        bk_log_clean_discard(cw->job);
    }
    bk_free(cw);
}

/* Starts a cleaning job on the first compacted partition (from the cursor
 * on, so that every partition gets its turn) whose log wants one. */
static void maybe_clean(struct bk_part_table *t, uv_loop_t *loop)
{
    if (t->cleaning != NULL || loop == NULL || !t->st->cleaner_enable) {
        return;
    }
    for (size_t k = 0; k < t->nbuckets; k++) {
        size_t b = (t->clean_cursor + k) % t->nbuckets;
        for (struct bk_partition *p = t->buckets[b]; p != NULL; p = p->hnext) {
            if (!p->compacted || p->clean_job != NULL) {
                continue;
            }
            struct bk_log_clean *job = NULL;
            int rv = bk_log_clean_begin(p->log, false, &job);
            if (rv != 0 || job == NULL) {
                continue;
            }
            struct bk_clean_work *cw = bk_calloc(1, sizeof(*cw));
            if (cw != NULL) {
                cw->table = t;
                cw->topic_id = p->topic_id;
                cw->index = p->index;
                cw->job = job;
            }
            if (cw == NULL || uv_queue_work(loop, &cw->work, clean_work_cb,
                                            clean_done_cb) != 0) {
                /* Nothing ran: ending it discards it. */
                bk_log_clean_end(p->log, job, NULL);
                bk_free(cw);
                return;
            }
            p->clean_job = job;
            t->cleaning = cw;
            t->clean_cursor = (b + 1) % t->nbuckets;
            return;
        }
    }
}

void bk_part_table_barrier(struct bk_part_table *t)
{
    bk_syncer_barrier(t->st->syncer);
}

void bk_part_table_stop_cleaning(struct bk_part_table *t)
{
    if (t->cleaning != NULL) {
        bk_log_clean_cancel(t->cleaning->job);
        uv_cancel((uv_req_t *)&t->cleaning->work);
    }
}

void bk_part_table_tick(struct bk_part_table *t, uv_loop_t *loop)
{
    for (size_t b = 0; b < t->nbuckets; b++) {
        for (struct bk_partition *p = t->buckets[b]; p != NULL; p = p->hnext) {
            maybe_snapshot(t, p, loop);
            bk_replica_isr_tick(p, bk_clock_mono_ms(t->st->clock));
            int rv = bk_log_tick(p->log);
            if (rv != p->tick_err && rv != 0) {
                bk_diag_warn("partition",
                             "topic=%s partition=%d msg=\"housekeeping: %s\"",
                             p->topic, p->index, bk_strerror(rv));
            } else if (rv != p->tick_err) {
                bk_diag_info("partition",
                             "topic=%s partition=%d msg=\"housekeeping "
                             "works again\"",
                             p->topic, p->index);
            }
            p->tick_err = rv;
        }
    }
    maybe_clean(t, loop);
}

void bk_part_isr_changed(struct bk_partition *p)
{
    if (p->table->on_isr_change != NULL) {
        p->table->on_isr_change(p->table->on_isr_change_data, p);
    }
}

void bk_part_wake(struct bk_partition *p)
{
    struct bk_part_waiter *w = p->waiters;
    p->waiters = NULL;
    while (w != NULL) {
        struct bk_part_waiter *next = w->next;
        w->next = NULL;
        w->wake(w);
        w = next;
    }
}

void bk_part_wait(struct bk_partition *p, struct bk_part_waiter *w)
{
    w->next = p->waiters;
    p->waiters = w;
}

void bk_part_unwait(struct bk_partition *p, struct bk_part_waiter *w)
{
    for (struct bk_part_waiter **pp = &p->waiters; *pp != NULL;
         pp = &(*pp)->next) {
        if (*pp == w) {
            *pp = w->next;
            w->next = NULL;
            return;
        }
    }
}

void bk_part_after_append(struct bk_partition *p,
                          int64_t producer_id,
                          int16_t epoch,
                          int32_t first_seq,
                          int32_t count,
                          int64_t base_offset,
                          int64_t timestamp,
                          size_t bytes)
{
    if (producer_id >= 0) {
        if (bk_pstate_update(&p->pstate, producer_id, epoch, first_seq, count,
                             base_offset, timestamp) != 0) {
            bk_diag_warn("partition",
                         "topic=%s partition=%d msg=\"producer state: out of "
                         "memory\"",
                         p->topic, p->index);
        }
    }
    p->bytes_since_snapshot += (int64_t)bytes;
    bk_part_wake(p);
}

/* The header of the first batch in rd (released here). */
static int first_hdr(struct bk_partition *p,
                     struct bk_log_read_result *rd,
                     struct bk_batch_hdr *h)
{
    if (rd->count == 0) {
        return BK_ENOTFOUND;
    }
    uint8_t buf[BK_BATCH_HEADER_SIZE];
    ssize_t n = bk_disk_pread_all(p->disk, rd->ranges[0].fd, buf, sizeof(buf),
                                  rd->ranges[0].file_offset);
    bk_log_read_release(rd);
    if (n != (ssize_t)sizeof(buf)) {
        return BK_EIO;
    }
    bk_batch_hdr_decode(buf, h);
    return 0;
}

int bk_part_batch_at(struct bk_partition *p,
                     int64_t offset,
                     struct bk_batch_hdr *h)
{
    struct bk_log_read_result rd;
    int rv = bk_log_read(p->log, offset, 1, INT64_MAX, &rd);
    return rv != 0 ? rv : first_hdr(p, &rd, h);
}

/* As bk_part_batch_at(), from the batches still on disk below the log
 * start too (bk_log_read_retained). */
static int retained_batch_at(struct bk_partition *p,
                             int64_t offset,
                             struct bk_batch_hdr *h)
{
    struct bk_log_read_result rd;
    int rv = bk_log_read_retained(p->log, offset, 1, INT64_MAX, &rd);
    return rv != 0 ? rv : first_hdr(p, &rd, h);
}

/* Reads the whole batch that starts at or holds `offset` into a heap
 * buffer (returns owned); retained: offset may lie below the log start
 * (bk_log_read_retained). */
static int read_batch(struct bk_partition *p,
                      int64_t offset,
                      bool retained,
                      uint8_t **out,
                      size_t *len)
{
    struct bk_log_read_result rd;
    int rv = retained ? bk_log_read_retained(p->log, offset, 1, INT64_MAX, &rd)
                      : bk_log_read(p->log, offset, 1, INT64_MAX, &rd);
    if (rv != 0 || rd.count == 0) {
        return rv != 0 ? rv : BK_ENOTFOUND;
    }
    size_t n = (size_t)rd.ranges[0].length;
    uint8_t *buf = bk_malloc(n);
    if (buf == NULL) {
        bk_log_read_release(&rd);
        return BK_ENOMEM;
    }
    ssize_t got = bk_disk_pread_all(p->disk, rd.ranges[0].fd, buf, n,
                                    rd.ranges[0].file_offset);
    bk_log_read_release(&rd);
    if (got != (ssize_t)n) {
        bk_free(buf);
        return BK_EIO;
    }
    *out = buf;
    *len = n;
    return 0;
}

/* The first record of batch buf whose timestamp is >= ts, read with the
 * record iterator so compressed batches answer exactly too. Leaves *offset
 * and *timestamp alone when none is. */
static void find_in_batch(const uint8_t *buf,
                          int64_t ts,
                          int64_t *offset,
                          int64_t *timestamp)
{
    struct bk_batch_hdr h;
    bk_batch_hdr_decode(buf, &h);
    struct bk_arena arena;
    bk_arena_init(&arena, 64 * 1024, 0);
    struct bk_record_iter it;
    struct bk_record r;
    if (bk_record_iter_init(&it, buf, (size_t)bk_batch_hdr_size(&h), &arena,
                            256u * 1024 * 1024) == 0) {
        while (bk_record_iter_next(&it, &r) == 1) {
            if (r.timestamp >= ts) {
                *offset = r.offset;
                *timestamp = r.timestamp;
                break;
            }
        }
    }
    bk_arena_destroy(&arena);
}

int bk_part_max_timestamp(struct bk_partition *p,
                          int64_t *offset,
                          int64_t *timestamp)
{
    /* Kafka's UnifiedLog looks through every segment still on disk, not
     * from the log start: after DeleteRecords the record with the largest
     * timestamp is answered even when it now lies below the log start
     * (checked against Kafka 4.1), until retention deletes its segment. */
    int64_t off = 0;
    int64_t end = bk_log_end_offset(p->log);
    int64_t best_ts = INT64_MIN, best_base = -1;
    struct bk_batch_hdr h;
    /* Walk the batch headers; the largest maxTimestamp wins, the first one
     * on ties (Kafka's offsetOfMaxTimestamp). */
    while (off < end) {
        int rv = retained_batch_at(p, off, &h);
        if (rv == BK_ENOTFOUND) {
            break;
        }
        if (rv != 0) {
            return rv;
        }
        if (h.max_timestamp > best_ts) {
            best_ts = h.max_timestamp;
            best_base = h.base_offset;
        }
        int64_t next = bk_batch_hdr_last_offset(&h) + 1;
        off = next > off ? next : off + 1;
    }
    if (best_base < 0) {
        return BK_ENOTFOUND;
    }
    /* Find the record inside that batch. */
    uint8_t *buf;
    size_t len;
    int rv = read_batch(p, best_base, true, &buf, &len);
    if (rv != 0) {
        return rv;
    }
    int64_t found_off = best_base, found_ts = best_ts;
    (void)len;
    find_in_batch(buf, best_ts, &found_off, &found_ts);
    bk_free(buf);
    *offset = found_off;
    *timestamp = found_ts;
    return 0;
}

int bk_part_offset_for_time(struct bk_partition *p,
                            int64_t ts,
                            int64_t *offset,
                            int64_t *timestamp)
{
    int rv = bk_log_offset_for_time(p->log, ts, offset, timestamp);
    if (rv != 0) {
        return rv;
    }
    struct bk_batch_hdr h;
    if (bk_part_batch_at(p, *offset, &h) != 0 ||
        (h.attributes & BK_BATCH_ATTR_COMPRESSION_MASK) == 0 ||
        (h.attributes & BK_BATCH_ATTR_LOG_APPEND_TIME) != 0) {
        return 0; /* exact already, or one timestamp for the whole batch */
    }
    uint8_t *buf;
    size_t len;
    if (read_batch(p, *offset, false, &buf, &len) != 0) {
        return 0; /* keep the batch's own answer */
    }
    (void)len;
    find_in_batch(buf, ts, offset, timestamp);
    bk_free(buf);
    return 0;
}
