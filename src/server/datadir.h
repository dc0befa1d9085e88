/* The broker's data directory: creation, the single-process lock, and
 * meta.properties (cluster id and node id, as Kafka's `kafka-storage.sh
 * format` writes them). */
#ifndef BK_SERVER_DATADIR_H
#define BK_SERVER_DATADIR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct bk_datadir {
    int lock_fd;         /* owned: holds flock(LOCK_EX) while open */
    char cluster_id[32]; /* 22-character base64url UUID, as Kafka's */
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
