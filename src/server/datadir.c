#include "server/datadir.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "common/diag.h"
#include "common/disk.h"
#include "common/err.h"
#include "server/datadir_int.h"

static int mkdir_p(const char *path, char *err, size_t errlen)
{
    char tmp[4096];
    if (strlen(path) >= sizeof(tmp)) {
        snprintf(err, errlen, "log.dirs: path too long");
        return BK_EINVAL;
    }
    strcpy(tmp, path);
    for (char *p = tmp + 1; *p != '\0'; p++) {
        if (*p != '/') {
            continue;
        }
        *p = '\0';
        if (mkdir(tmp, 0755) != 0 && errno != EEXIST) {
            int e = errno;
            snprintf(err, errlen, "log.dirs: cannot create %s: %s", tmp,
                     strerror(e));
            return -e;
        }
        *p = '/';
    }
    if (mkdir(tmp, 0755) != 0 && errno != EEXIST) {
        int e = errno;
        snprintf(err, errlen, "log.dirs: cannot create %s: %s", tmp,
                 strerror(e));
        return -e;
    }
    struct stat st;
    if (stat(tmp, &st) != 0 || !S_ISDIR(st.st_mode)) {
        snprintf(err, errlen, "log.dirs: %s is not a directory", tmp);
        return BK_EINVAL;
    }
    return 0;
}

int bk_random_uuid_string(char *out, size_t outlen)
{
    static const char b64[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    unsigned char u[16];
    /* Kafka draws again when the text would start with '-' (so that it
     * cannot be read as an option on a command line); the first 6 bits
     * give the first character, and 62 is '-'. */
    do {
        if (outlen < 23 || getrandom(u, sizeof(u), 0) != (ssize_t)sizeof(u)) {
            return BK_EIO;
        }
    } while ((u[0] >> 2) == 62);
    u[6] = (unsigned char)((u[6] & 0x0f) | 0x40); /* version 4 */
    u[8] = (unsigned char)((u[8] & 0x3f) | 0x80); /* IETF variant */
    size_t o = 0;
    unsigned bits = 0, acc = 0;
    for (size_t i = 0; i < 16; i++) {
        acc = (acc << 8) | u[i];
        bits += 8;
        while (bits >= 6) {
            out[o++] = b64[(acc >> (bits - 6)) & 63];
            bits -= 6;
        }
    }
    if (bits > 0) {
        out[o++] = b64[(acc << (6 - bits)) & 63];
    }
    out[o] = '\0';
    return 0;
}

int bk_datadir_lock(struct bk_datadir *d,
                    const char *path,
                    char *err,
                    size_t errlen)
{
    memset(d, 0, sizeof(*d));
    d->lock_fd = -1;
    /* Partition directories add up to ~260 bytes (partition.c). */
    if (strlen(path) >= 3800) {
        snprintf(err, errlen, "log.dirs: path longer than 3799 bytes");
        return BK_EINVAL;
    }
    snprintf(d->path, sizeof(d->path), "%s", path);
    int rv = mkdir_p(path, err, errlen);
    if (rv != 0) {
        return rv;
    }
    char file[4200];
    snprintf(file, sizeof(file), "%s/.lock", path);
    d->lock_fd = open(file, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (d->lock_fd < 0) {
        int e = errno;
        snprintf(err, errlen, "log.dirs: %s is not writable: %s", path,
                 strerror(e));
        return -e;
    }
    if (flock(d->lock_fd, LOCK_EX | LOCK_NB) != 0) {
        snprintf(err, errlen,
                 "log.dirs: %s is in use by another brokerd process", path);
        close(d->lock_fd);
        d->lock_fd = -1;
        return BK_EBUSY;
    }
    return 0;
}

static int not_formatted(const char *path, char *err, size_t errlen)
{
    snprintf(err, errlen,
             "log.dirs: %s is not formatted; run \"brokerd format -c FILE "
             "--cluster-id ID\" with the same cluster id on every node",
             path);
    return BK_ECONFIG;
}

/* A new directory of a node that may format itself: a random cluster id,
 * as Kafka's format without --cluster-id would pick. */
static int self_format(const char *path,
                       struct bk_meta *m,
                       int64_t node_id,
                       const char *voters,
                       char *err,
                       size_t errlen)
{
    memset(m, 0, sizeof(*m));
    m->has_node_id = true;
    m->node_id = node_id;
    m->has_voters = voters != NULL;
    snprintf(m->voters, sizeof(m->voters), "%s", voters ? voters : "");
    if (bk_random_uuid_string(m->cluster_id, sizeof(m->cluster_id)) != 0) {
        snprintf(err, errlen, "cannot read random bytes for a cluster id");
        return BK_EIO;
    }
    return bk_meta_write(path, m, err, errlen);
}

/* Opens path for node_id. voters is the node's canonical voter set, or
 * NULL to record and check none (bk_datadir_open's callers). */
static int open_dir(struct bk_datadir *d,
                    const char *path,
                    int64_t node_id,
                    const char *voters,
                    bool must_be_formatted,
                    char *err,
                    size_t errlen)
{
    struct stat st;
    if (must_be_formatted && stat(path, &st) != 0 && errno == ENOENT) {
        /* Not even created: say what is missing, and create nothing. */
        memset(d, 0, sizeof(*d));
        d->lock_fd = -1;
        return not_formatted(path, err, errlen);
    }
    int rv = bk_datadir_lock(d, path, err, errlen);
    if (rv != 0) {
        return rv;
    }
    struct bk_meta m;
    rv = bk_meta_read(path, &m, err, errlen);
    if (rv == BK_ENOENT) {
        rv = must_be_formatted
                 ? not_formatted(path, err, errlen)
                 : self_format(path, &m, node_id, voters, err, errlen);
    } else if (rv == 0) {
        rv = bk_meta_check(path, &m, node_id, voters, err, errlen);
    }
    if (rv != 0) {
        bk_datadir_close(d);
        return rv;
    }
    snprintf(d->cluster_id, sizeof(d->cluster_id), "%s", m.cluster_id);
    d->join = m.join;
    return 0;
}

int bk_datadir_open(struct bk_datadir *d,
                    const char *path,
                    int64_t node_id,
                    char *err,
                    size_t errlen)
{
    return open_dir(d, path, node_id, NULL, false, err, errlen);
}

int bk_datadir_open_config(struct bk_datadir *d,
                           const struct bk_config *cfg,
                           char *err,
                           size_t errlen)
{
    char voters[BK_VOTERS_TEXT_SIZE];
    if (bk_config_voters_text(cfg, voters, sizeof(voters)) != 0) {
        snprintf(err, errlen, "controller.quorum.voters: too long");
        return BK_ECONFIG;
    }
    return open_dir(d, cfg->log_dirs, cfg->node_id, voters,
                    bk_config_needs_format(cfg), err, errlen);
}

void bk_datadir_close(struct bk_datadir *d)
{
    if (d->lock_fd >= 0) {
        close(d->lock_fd);
        d->lock_fd = -1;
    }
}

static bool has_suffix(const char *s, const char *suffix)
{
    size_t n = strlen(s), k = strlen(suffix);
    return n > k && strcmp(s + n - k, suffix) == 0;
}

int bk_datadir_sweep_deleted(const struct bk_datadir *d)
{
    DIR *dir = opendir(d->path);
    if (dir == NULL) {
        return 0;
    }
    int n = 0;
    struct dirent *e;
    while ((e = readdir(dir)) != NULL) {
        char path[4400];
        struct stat st;
        if (!has_suffix(e->d_name, "-delete")) {
            continue;
        }
        snprintf(path, sizeof(path), "%s/%s", d->path, e->d_name);
        if (lstat(path, &st) != 0 || !S_ISDIR(st.st_mode)) {
            continue;
        }
        bk_remove_tree(path);
        bk_diag_info("server",
                     "dir=%s msg=\"removed a deleted topic's "
                     "leftover directory\"",
                     path);
        n++;
    }
    closedir(dir);
    return n;
}

/* Below this, start-up failures are most likely for want of space. */
#define FULL_BYTES (1024 * 1024)

bool bk_datadir_full(const struct bk_datadir *d, char *out, size_t outlen)
{
    struct statvfs sv;
    if (statvfs(d->path, &sv) != 0) {
        return false;
    }
    unsigned long long avail =
        (unsigned long long)sv.f_bavail * (unsigned long long)sv.f_frsize;
    if (avail >= FULL_BYTES) {
        return false;
    }
    snprintf(out, outlen,
             "log.dirs: the file system of %s is full (%llu bytes free)",
             d->path, avail);
    return true;
}
