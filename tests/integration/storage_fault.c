/* Test-only LD_PRELOAD shim: makes the file system fail on demand, for
 * test_storage_heal.py. While the file named by BK_STORAGE_FAULT_FLAG
 * exists, it holds "<ERRNO> <substring>", and calls on paths containing
 * the substring fail:
 *   EMFILE: open() and openat() fail with EMFILE, as when the process is
 *     out of file descriptors (already open files keep working);
 *   ENOSPC: write(), pwrite(), pwritev() and fallocate() fail with
 *     ENOSPC; a write of more than 64 bytes first writes half of them
 *     and returns a short count, so the caller's next write fails with a
 *     partial batch in the file, as on a disk that fills up mid-write.
 * Without the file every call behaves as usual. Built without sanitizers,
 * since it must load before their runtime. */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <unistd.h>

int open(const char *path, int flags, ...);
int open64(const char *path, int flags, ...);
int openat(int dirfd, const char *path, int flags, ...);
int openat64(int dirfd, const char *path, int flags, ...);
ssize_t write(int fd, const void *buf, size_t n);
ssize_t pwrite(int fd, const void *buf, size_t n, off_t off);
ssize_t pwrite64(int fd, const void *buf, size_t n, off_t off);
ssize_t pwritev(int fd, const struct iovec *iov, int cnt, off_t off);
ssize_t pwritev64(int fd, const struct iovec *iov, int cnt, off_t off);
int fallocate(int fd, int mode, off_t off, off_t len);
int fallocate64(int fd, int mode, off_t off, off_t len);
int posix_fallocate(int fd, off_t off, off_t len);
int posix_fallocate64(int fd, off_t off, off_t len);

enum { NONE, EMFILE_MODE, ENOSPC_MODE };

/* Reads the flag file with raw system calls (open() is ours). */
static int mode(char *sub)
{
    const char *flag = getenv("BK_STORAGE_FAULT_FLAG");
    if (flag == NULL) {
        return NONE;
    }
    int fd = (int)syscall(SYS_openat, AT_FDCWD, flag, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        return NONE;
    }
    char buf[256];
    ssize_t n = syscall(SYS_read, fd, buf, sizeof(buf) - 1);
    syscall(SYS_close, fd);
    if (n <= 0) {
        return NONE;
    }
    buf[n] = '\0';
    char what[32] = "";
    sub[0] = '\0';
    if (sscanf(buf, "%31s %200s", what, sub) < 1 || sub[0] == '\0') {
        return NONE;
    }
    if (strcmp(what, "EMFILE") == 0) {
        return EMFILE_MODE;
    }
    if (strcmp(what, "ENOSPC") == 0) {
        return ENOSPC_MODE;
    }
    return NONE;
}

static int path_hit(const char *path, int want)
{
    char sub[256];
    return path != NULL && mode(sub) == want && strstr(path, sub) != NULL;
}

static int fd_hit(int fd, int want)
{
    char sub[256];
    if (mode(sub) != want) {
        return 0;
    }
    char link[64], path[PATH_MAX];
    snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
    ssize_t n = readlink(link, path, sizeof(path) - 1);
    if (n < 0) {
        return 0;
    }
    path[n] = '\0';
    return strstr(path, sub) != NULL;
}

static void *next(const char *name)
{
    return dlsym(RTLD_NEXT, name);
}

typedef int (*open_fn)(const char *, int, ...);
typedef int (*openat_fn)(int, const char *, int, ...);

static mode_t mode_arg(int flags, va_list ap)
{
    return (flags & (O_CREAT | O_TMPFILE)) != 0 ? (mode_t)va_arg(ap, int) : 0;
}

/* The open family, interposed: one body each, the variadic mode read
 * first. */
static int open_via(const char *name, const char *path, int flags, mode_t m)
{
    if (path_hit(path, EMFILE_MODE)) {
        errno = EMFILE;
        return -1;
    }
    open_fn fn;
    void *p = next(name);
    memcpy(&fn, &p, sizeof(fn));
    return fn(path, flags, m);
}

static int openat_via(const char *name,
                      int dirfd,
                      const char *path,
                      int flags,
                      mode_t m)
{
    if (path_hit(path, EMFILE_MODE)) {
        errno = EMFILE;
        return -1;
    }
    openat_fn fn;
    void *p = next(name);
    memcpy(&fn, &p, sizeof(fn));
    return fn(dirfd, path, flags, m);
}

#define MODE_OF(flags, m)           \
    va_list ap;                     \
    va_start(ap, flags);            \
    mode_t m = mode_arg(flags, ap); \
    va_end(ap)

int open(const char *path, int flags, ...)
{
    MODE_OF(flags, m);
    return open_via("open", path, flags, m);
}

int open64(const char *path, int flags, ...)
{
    MODE_OF(flags, m);
    return open_via("open64", path, flags, m);
}

int openat(int dirfd, const char *path, int flags, ...)
{
    MODE_OF(flags, m);
    return openat_via("openat", dirfd, path, flags, m);
}

int openat64(int dirfd, const char *path, int flags, ...)
{
    MODE_OF(flags, m);
    return openat_via("openat64", dirfd, path, flags, m);
}

typedef ssize_t (*pwrite_fn)(int, const void *, size_t, off_t);
typedef ssize_t (*write_fn)(int, const void *, size_t);
typedef ssize_t (*pwritev_fn)(int, const struct iovec *, int, off_t);
typedef int (*falloc_fn)(int, int, off_t, off_t);
typedef int (*pfalloc_fn)(int, off_t, off_t);

/* ENOSPC after half of a big write: returns the bytes to write, 0 to
 * fail now. */
static size_t nospc_part(size_t n)
{
    return n > 64 ? n / 2 : 0;
}

static ssize_t do_pwrite(const char *name,
                         int fd,
                         const void *buf,
                         size_t n,
                         off_t off)
{
    pwrite_fn fn;
    void *p = next(name);
    memcpy(&fn, &p, sizeof(fn));
    if (fd_hit(fd, ENOSPC_MODE)) {
        size_t part = nospc_part(n);
        if (part == 0) {
            errno = ENOSPC;
            return -1;
        }
        n = part;
    }
    return fn(fd, buf, n, off);
}

ssize_t pwrite(int fd, const void *buf, size_t n, off_t off)
{
    return do_pwrite("pwrite", fd, buf, n, off);
}

ssize_t pwrite64(int fd, const void *buf, size_t n, off_t off)
{
    return do_pwrite("pwrite64", fd, buf, n, off);
}

ssize_t write(int fd, const void *buf, size_t n)
{
    write_fn fn;
    void *p = next("write");
    memcpy(&fn, &p, sizeof(fn));
    if (fd > 2 && fd_hit(fd, ENOSPC_MODE)) {
        size_t part = nospc_part(n);
        if (part == 0) {
            errno = ENOSPC;
            return -1;
        }
        n = part;
    }
    return fn(fd, buf, n);
}

static ssize_t do_pwritev(const char *name,
                          int fd,
                          const struct iovec *iov,
                          int cnt,
                          off_t off)
{
    pwritev_fn fn;
    void *p = next(name);
    memcpy(&fn, &p, sizeof(fn));
    if (cnt > 0 && fd_hit(fd, ENOSPC_MODE)) {
        /* Half of the first buffer, then nothing. */
        size_t part = nospc_part(iov[0].iov_len);
        if (part == 0) {
            errno = ENOSPC;
            return -1;
        }
        struct iovec one = { iov[0].iov_base, part };
        return fn(fd, &one, 1, off);
    }
    return fn(fd, iov, cnt, off);
}

ssize_t pwritev(int fd, const struct iovec *iov, int cnt, off_t off)
{
    return do_pwritev("pwritev", fd, iov, cnt, off);
}

ssize_t pwritev64(int fd, const struct iovec *iov, int cnt, off_t off)
{
    return do_pwritev("pwritev64", fd, iov, cnt, off);
}

static int do_fallocate(const char *name, int fd, int m, off_t off, off_t len)
{
    if (fd_hit(fd, ENOSPC_MODE)) {
        errno = ENOSPC;
        return -1;
    }
    falloc_fn fn;
    void *p = next(name);
    memcpy(&fn, &p, sizeof(fn));
    return fn(fd, m, off, len);
}

int fallocate(int fd, int m, off_t off, off_t len)
{
    return do_fallocate("fallocate", fd, m, off, len);
}

int fallocate64(int fd, int m, off_t off, off_t len)
{
    return do_fallocate("fallocate64", fd, m, off, len);
}

static int do_posix_fallocate(const char *name, int fd, off_t off, off_t len)
{
    if (fd_hit(fd, ENOSPC_MODE)) {
        return ENOSPC; /* posix_fallocate returns the error */
    }
    pfalloc_fn fn;
    void *p = next(name);
    memcpy(&fn, &p, sizeof(fn));
    return fn(fd, off, len);
}

int posix_fallocate(int fd, off_t off, off_t len)
{
    return do_posix_fallocate("posix_fallocate", fd, off, len);
}

int posix_fallocate64(int fd, off_t off, off_t len)
{
    return do_posix_fallocate("posix_fallocate64", fd, off, len);
}
