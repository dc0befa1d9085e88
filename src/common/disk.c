#include "common/disk.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "common/err.h"

static int neg_errno(void)
{
    return errno > 0 ? -errno : BK_EIO;
}

static int posix_open(const struct bk_disk *d, const char *path, int flags)
{
    (void)d;
    int oflags = O_RDWR | O_CLOEXEC;
    if (flags & BK_DISK_CREATE) {
        oflags |= O_CREAT;
    }
    if (flags & BK_DISK_EXCL) {
        oflags |= O_EXCL;
    }
    if (flags & BK_DISK_TRUNC) {
        oflags |= O_TRUNC;
    }
    int fd;
    do {
        fd = open(path, oflags, 0644);
    } while (fd < 0 && errno == EINTR);
    return fd < 0 ? neg_errno() : fd;
}

static int posix_close(const struct bk_disk *d, int fd)
{
    (void)d;
    /* Linux releases the fd even when close fails with EINTR. */
    return close(fd) == 0 || errno == EINTR ? 0 : neg_errno();
}

static ssize_t posix_pread(const struct bk_disk *d,
                           int fd,
                           void *buf,
                           size_t len,
                           int64_t off)
{
    (void)d;
    ssize_t n;
    do {
        n = pread(fd, buf, len, (off_t)off);
    } while (n < 0 && errno == EINTR);
    return n < 0 ? neg_errno() : n;
}

static ssize_t posix_pwritev(const struct bk_disk *d,
                             int fd,
                             const struct iovec *iov,
                             int iovcnt,
                             int64_t off)
{
    (void)d;
    ssize_t n;
    do {
        n = pwritev(fd, iov, iovcnt, (off_t)off);
    } while (n < 0 && errno == EINTR);
    return n < 0 ? neg_errno() : n;
}

static int posix_fdatasync(const struct bk_disk *d, int fd)
{
    (void)d;
    int rv;
    do {
        rv = fdatasync(fd);
    } while (rv < 0 && errno == EINTR);
    return rv < 0 ? neg_errno() : 0;
}

static int posix_ftruncate(const struct bk_disk *d, int fd, int64_t len)
{
    (void)d;
    int rv;
    do {
        rv = ftruncate(fd, (off_t)len);
    } while (rv < 0 && errno == EINTR);
    return rv < 0 ? neg_errno() : 0;
}

static int posix_fsize(const struct bk_disk *d, int fd, int64_t *size)
{
    (void)d;
    struct stat st;
    if (fstat(fd, &st) != 0) {
        return neg_errno();
    }
    *size = (int64_t)st.st_size;
    return 0;
}

static int posix_stat_size(const struct bk_disk *d,
                           const char *path,
                           int64_t *size)
{
    (void)d;
    struct stat st;
    if (stat(path, &st) != 0) {
        return neg_errno();
    }
    *size = (int64_t)st.st_size;
    return 0;
}

static int posix_rename(const struct bk_disk *d,
                        const char *from,
                        const char *to)
{
    (void)d;
    return rename(from, to) == 0 ? 0 : neg_errno();
}

static int posix_unlink(const struct bk_disk *d, const char *path)
{
    (void)d;
    return unlink(path) == 0 ? 0 : neg_errno();
}

static int posix_mkdir(const struct bk_disk *d, const char *path)
{
    (void)d;
    char buf[4096];
    size_t len = strlen(path);
    if (len == 0 || len >= sizeof buf) {
        return BK_EINVAL;
    }
    memcpy(buf, path, len + 1);
    for (size_t i = 1; i <= len; i++) {
        if (buf[i] == '/' || buf[i] == '\0') {
            char saved = buf[i];
            buf[i] = '\0';
            if (mkdir(buf, 0755) != 0 && errno != EEXIST) {
                return neg_errno();
            }
            buf[i] = saved;
        }
    }
    return 0;
}

static int posix_fsync_dir(const struct bk_disk *d, const char *path)
{
    (void)d;
    int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) {
        return neg_errno();
    }
    int rv = fsync(fd) == 0 ? 0 : neg_errno();
    close(fd);
    return rv;
}

static int posix_readdir(const struct bk_disk *d,
                         const char *path,
                         bk_disk_readdir_cb cb,
                         void *arg)
{
    (void)d;
    DIR *dir = opendir(path);
    if (dir == NULL) {
        return neg_errno();
    }
    int rv = 0;
    struct dirent *e;
    while ((e = readdir(dir)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) {
            continue;
        }
        rv = cb(arg, e->d_name);
        if (rv != 0) {
            break;
        }
    }
    closedir(dir);
    return rv;
}

static int posix_boot_id(const struct bk_disk *d, char *buf, size_t cap)
{
    (void)d;
    int fd = open("/proc/sys/kernel/random/boot_id", O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        return neg_errno();
    }
    ssize_t n = read(fd, buf, cap - 1);
    close(fd);
    if (n <= 0) {
        return BK_EIO;
    }
    while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == ' ')) {
        n--;
    }
    buf[n] = '\0';
    return n > 0 ? 0 : BK_EIO;
}

static int posix_free_bytes(const struct bk_disk *d,
                            const char *path,
                            int64_t *out)
{
    (void)d;
    struct statvfs sv;
    if (statvfs(path, &sv) != 0) {
        return neg_errno();
    }
    /* f_bavail: what an unprivileged writer may still use. */
    *out = (int64_t)sv.f_bavail * (int64_t)sv.f_frsize;
    return 0;
}

static const struct bk_disk posix_disk = {
    .open = posix_open,
    .close = posix_close,
    .pread = posix_pread,
    .pwritev = posix_pwritev,
    .fdatasync = posix_fdatasync,
    .ftruncate = posix_ftruncate,
    .fsize = posix_fsize,
    .stat_size = posix_stat_size,
    .rename = posix_rename,
    .unlink = posix_unlink,
    .mkdir = posix_mkdir,
    .fsync_dir = posix_fsync_dir,
    .readdir = posix_readdir,
    .boot_id = posix_boot_id,
    .free_bytes = posix_free_bytes,
    .data = NULL,
};

const struct bk_disk *bk_disk_posix(void)
{
    return &posix_disk;
}

int bk_disk_pwrite_all(const struct bk_disk *d,
                       int fd,
                       const void *buf,
                       size_t len,
                       int64_t off)
{
    const char *p = buf;
    while (len > 0) {
        struct iovec iov = { .iov_base = (void *)p, .iov_len = len };
        ssize_t n = d->pwritev(d, fd, &iov, 1, off);
        if (n < 0) {
            return (int)n;
        }
        if (n == 0) {
            return BK_EIO;
        }
        p += n;
        len -= (size_t)n;
        off += n;
    }
    return 0;
}

ssize_t bk_disk_pread_all(const struct bk_disk *d,
                          int fd,
                          void *buf,
                          size_t len,
                          int64_t off)
{
    char *p = buf;
    size_t done = 0;
    while (done < len) {
        ssize_t n = d->pread(d, fd, p + done, len - done, off + (int64_t)done);
        if (n < 0) {
            return n;
        }
        if (n == 0) {
            break;
        }
        done += (size_t)n;
    }
    return (ssize_t)done;
}

int bk_disk_write_atomic(const struct bk_disk *d,
                         const char *dir,
                         const char *path,
                         const void *buf,
                         size_t len)
{
    char tmp[4096];
    int n = snprintf(tmp, sizeof tmp, "%s.tmp", path);
    if (n < 0 || (size_t)n >= sizeof tmp) {
        return BK_EINVAL;
    }
    int fd = d->open(d, tmp, BK_DISK_CREATE | BK_DISK_TRUNC);
    if (fd < 0) {
        return fd;
    }
    int rv = bk_disk_pwrite_all(d, fd, buf, len, 0);
    if (rv == 0) {
        rv = d->fdatasync(d, fd);
    }
    d->close(d, fd);
    if (rv == 0) {
        rv = d->rename(d, tmp, path);
    }
    if (rv == 0) {
        rv = d->fsync_dir(d, dir);
    }
    return rv;
}

int bk_disk_write_replace(const struct bk_disk *d,
                          const char *path,
                          const void *buf,
                          size_t len)
{
    char tmp[4096];
    int n = snprintf(tmp, sizeof tmp, "%s.tmp", path);
    if (n < 0 || (size_t)n >= sizeof tmp) {
        return BK_EINVAL;
    }
    int fd = d->open(d, tmp, BK_DISK_CREATE | BK_DISK_TRUNC);
    if (fd < 0) {
        return fd;
    }
    int rv = bk_disk_pwrite_all(d, fd, buf, len, 0);
    d->close(d, fd);
    return rv == 0 ? d->rename(d, tmp, path) : rv;
}

ssize_t bk_disk_read_small(const struct bk_disk *d,
                           const char *path,
                           void *buf,
                           size_t cap)
{
    int fd = d->open(d, path, 0);
    if (fd < 0) {
        return fd;
    }
    int64_t size = 0;
    int rv = d->fsize(d, fd, &size);
    ssize_t n = rv;
    if (rv == 0) {
        n = size > (int64_t)cap
                ? BK_ETOOLARGE
                : bk_disk_pread_all(d, fd, buf, (size_t)size, 0);
    }
    d->close(d, fd);
    return n;
}

static int remove_entry(const char *path,
                        const struct stat *sb,
                        int type,
                        struct FTW *ftw)
{
    (void)sb;
    (void)type;
    (void)ftw;
    (void)remove(path);
    return 0; /* keep going: remove as much as possible */
}

void bk_remove_tree(const char *path)
{
    (void)nftw(path, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}
