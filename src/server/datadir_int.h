/* Internals of the data directory shared by its files: the lock and
 * meta.properties. */
#ifndef BK_SERVER_DATADIR_INT_H
#define BK_SERVER_DATADIR_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "server/config.h"
#include "server/datadir.h"

/* What meta.properties of a data directory holds. */
struct bk_meta {
    char cluster_id[32];
    bool has_node_id;
    int64_t node_id;
    /* brokerd's own key: the voter set given at format time, canonical
     * (bk_config_voters_text); absent in directories formatted before it
     * was recorded. */
    bool has_voters;
    char voters[BK_VOTERS_TEXT_SIZE];
    /* brokerd's own key: formatted with --no-initial-controllers, a
     * controller that joins a running quorum (no voter set of its own). */
    bool join;
};

/* Creates path (and its parents) and takes the exclusive lock on
 * path/.lock into d. On failure writes one line into err; d holds no
 * lock. */
int bk_datadir_lock(struct bk_datadir *d,
                    const char *path,
                    char *err,
                    size_t errlen);

/* Reads dir/meta.properties into m. Returns 0, BK_ENOENT when there is
 * none (not formatted), or BK_ECORRUPT with one line in err. */
int bk_meta_read(const char *dir, struct bk_meta *m, char *err, size_t errlen);

/* Writes dir/meta.properties from m, atomically (a temporary file renamed
 * over, both synced). On failure writes one line into err. */
int bk_meta_write(const char *dir,
                  const struct bk_meta *m,
                  char *err,
                  size_t errlen);

/* Checks a formatted directory's m against this node: its node.id and,
 * when m records one, its voter set (voters: canonical). On a mismatch
 * returns BK_ECONFIG with one line naming both values. */
int bk_meta_check(const char *dir,
                  const struct bk_meta *m,
                  int64_t node_id,
                  const char *voters,
                  char *err,
                  size_t errlen);

#endif /* BK_SERVER_DATADIR_INT_H */
