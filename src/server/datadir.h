/* The broker's data directory: creation, the single-process lock, and
 * meta.properties (cluster id and node id, as Kafka's `kafka-storage.sh
 * format` writes them, plus the voter set it was formatted with).
 *
 * A node of a multi-voter quorum, or a broker-only node, must be formatted
 * with `brokerd format` and the cluster id every node shares, so that a
 * node never makes up a cluster of its own by starting on an empty
 * directory. A single node formats itself on first start. */
#ifndef BK_SERVER_DATADIR_H
#define BK_SERVER_DATADIR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "server/config.h"

struct bk_datadir {
    int lock_fd;         /* owned: holds flock(LOCK_EX) while open */
    char cluster_id[32]; /* 22-character base64url UUID, as Kafka's */
    bool join;           /* formatted to join a running quorum */
    char path[4096];
};

/* Creates path if missing (and its parents), checks it is writable, takes
 * an exclusive lock on path/.lock (a second brokerd on the same directory
 * fails with BK_EBUSY), and reads or creates path/meta.properties. A stored
 * node.id different from node_id is an error, as in Kafka. On failure writes
 * one line into err. */
int bk_datadir_open(struct bk_datadir *d,
                    const char *path,
                    int64_t node_id,
                    char *err,
                    size_t errlen);

/* bk_datadir_open() for the node cfg describes (borrowed), with the
 * start-up rules of a cluster: when bk_config_needs_format(cfg), an
 * unformatted log.dirs is an error (BK_ECONFIG, one line saying to run
 * `brokerd format`) rather than formatted with a new cluster id; a
 * directory formatted with another controller.quorum.voters than cfg's is
 * an error naming both sets (directories formatted before the set was
 * recorded are not checked). A single node formats itself as
 * bk_datadir_open() does, recording its voter set. */
int bk_datadir_open_config(struct bk_datadir *d,
                           const struct bk_config *cfg,
                           char *err,
                           size_t errlen);

/* `brokerd format` (Kafka's `kafka-storage.sh format`): writes
 * meta.properties into cfg's log.dirs (created if missing) with
 * cluster_id, cfg's node.id and its voter set, under the directory's lock.
 * A directory already formatted is an error, unless ignore_formatted and
 * it matches cfg (same node.id and voters), when it is left as it is
 * (*formatted false). A different stored cluster id is always an error.
 * Errors: BK_EINVAL (cluster_id not a Kafka UUID string), BK_EEXIST,
 * BK_ECONFIG, BK_EBUSY or an I/O error, with one line in err. */
int bk_datadir_format(const struct bk_config *cfg,
                      const char *cluster_id,
                      bool ignore_formatted,
                      bool join,
                      bool *formatted,
                      char *err,
                      size_t errlen);

/* Whether id is a cluster id as Kafka writes one: a 16-byte UUID in 22
 * characters of unpadded base64url. */
bool bk_cluster_id_valid(const char *id);

/* Removes what deleted topics left behind: directories named
 * "<topic>-<partition>.<topic id>-delete" that a crash or restart stopped
 * the background removal of. Returns the number removed. */
int bk_datadir_sweep_deleted(const struct bk_datadir *d);

/* When the file system of the data directory is (nearly) full, writes a
 * sentence saying so, with the path and the free bytes, into out and
 * returns true: start-up errors are then explained by their real cause.
 * Returns false (out untouched) otherwise. */
bool bk_datadir_full(const struct bk_datadir *d, char *out, size_t outlen);

/* Releases the lock. */
void bk_datadir_close(struct bk_datadir *d);

/* Writes a random UUID as Kafka prints one (22 chars of base64url, no
 * padding) into out (at least 23 bytes). Returns 0 or BK_EIO. */
int bk_random_uuid_string(char *out, size_t outlen);

#endif /* BK_SERVER_DATADIR_H */
