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
    if (outlen < 23 || getrandom(u, sizeof(u), 0) != (ssize_t)sizeof(u)) {
        return BK_EIO;
    }
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

/* Reads key from a properties file into out; 0, BK_ENOENT or BK_ENOTFOUND. */
static int read_prop(const char *file, const char *key, char *out, size_t n)
{
    FILE *f = fopen(file, "r");
    if (f == NULL) {
        return BK_ENOENT;
    }
    char line[512];
    size_t kl = strlen(key);
    int rv = BK_ENOTFOUND;
    while (fgets(line, sizeof(line), f) != NULL) {
        if (strncmp(line, key, kl) == 0 && line[kl] == '=') {
            char *v = line + kl + 1;
            v[strcspn(v, "\r\n")] = '\0';
            snprintf(out, n, "%s", v);
            rv = 0;
            break;
        }
    }
    (void)fclose(f); /* read only */
    return rv;
}

static int write_meta(const char *dir,
                      const char *cluster_id,
                      int64_t node_id,
                      char *err,
                      size_t errlen)
{
    char tmp[4200], final[4200];
    snprintf(tmp, sizeof(tmp), "%s/meta.properties.tmp", dir);
    snprintf(final, sizeof(final), "%s/meta.properties", dir);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) {
        int e = errno;
        snprintf(err, errlen, "log.dirs: cannot write %s: %s", tmp,
                 strerror(e));
        return -e;
    }
    char buf[256];
    int n = snprintf(buf, sizeof(buf),
                     "#\n#brokerd meta.properties\nversion=1\ncluster.id=%s\n"
                     "node.id=%lld\n",
                     cluster_id, (long long)node_id);
    bool ok = write(fd, buf, (size_t)n) == n && fsync(fd) == 0;
    int e = errno;
    close(fd);
    if (!ok || rename(tmp, final) != 0) {
        e = ok ? errno : e;
        snprintf(err, errlen, "log.dirs: cannot write %s: %s", final,
                 strerror(e));
        return -e;
    }
    int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
        fsync(dfd);
        close(dfd);
    }
    return 0;
}

int bk_datadir_open(struct bk_datadir *d,
                    const char *path,
                    int64_t node_id,
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
    snprintf(file, sizeof(file), "%s/meta.properties", path);
    char stored[64];
    rv = read_prop(file, "cluster.id", d->cluster_id, sizeof(d->cluster_id));
    if (rv == BK_ENOENT) {
        if (bk_random_uuid_string(d->cluster_id, sizeof(d->cluster_id)) != 0) {
            snprintf(err, errlen, "cannot read random bytes for a cluster id");
            bk_datadir_close(d);
            return BK_EIO;
        }
        rv = write_meta(path, d->cluster_id, node_id, err, errlen);
        if (rv != 0) {
            bk_datadir_close(d);
        }
        return rv;
    }
    if (rv != 0 || d->cluster_id[0] == '\0') {
        snprintf(err, errlen, "log.dirs: %s has no cluster.id", file);
        bk_datadir_close(d);
        return BK_ECORRUPT;
    }
    if (read_prop(file, "node.id", stored, sizeof(stored)) == 0 &&
        strtoll(stored, NULL, 10) != node_id) {
        snprintf(err, errlen,
                 "node.id: %lld does not match node.id %s stored in %s",
                 (long long)node_id, stored, file);
        bk_datadir_close(d);
        return BK_ECONFIG;
    }
    return 0;
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
