/* Test-only LD_PRELOAD shim for test_power_loss.py: a journal of what the
 * disk has made durable, so that the test can take away everything else
 * after kill -9, as a power loss would.
 *
 * Every successful fdatasync() or fsync() of a regular file appends
 * "S <size> <path>" to the file named by BK_POWER_LOSS_JOURNAL (the size
 * the file had: its bytes up to there are on the disk); rename() appends
 * "R <from>\t<to>" and ftruncate() "T <length> <path>". The test replays
 * the journal, cuts every partition file back to its durable size (a file
 * never synced loses everything) and restarts the brokers on what is left.
 * brokerd only makes data durable through these calls (src/common/disk.c),
 * so what the journal does not vouch for is exactly what a power loss may
 * take. Lines are written with one O_APPEND write each, so processes and
 * threads sharing the journal do not interleave. Built without sanitizers,
 * since it must load before their runtime. */
#include <dlfcn.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <unistd.h>

int fdatasync(int fd);
int fsync(int fd);
int rename(const char *from, const char *to);
int ftruncate(int fd, off_t len);
int ftruncate64(int fd, off_t len);

static void journal(const char *line, size_t len)
{
    const char *path = getenv("BK_POWER_LOSS_JOURNAL");
    if (path == NULL) {
        return;
    }
    int fd = (int)syscall(SYS_openat, AT_FDCWD, path,
                          O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (fd < 0) {
        return;
    }
    (void)syscall(SYS_write, fd, line, len);
    syscall(SYS_close, fd);
}

/* The path of a regular file's descriptor, or 0 for anything else. */
static int fd_path(int fd, char *path, size_t cap, off_t *size)
{
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        return 0;
    }
    char link[64];
    snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
    ssize_t n = readlink(link, path, cap - 1);
    if (n <= 0) {
        return 0;
    }
    path[n] = '\0';
    *size = st.st_size;
    return 1;
}

static void note_fd(char kind, int fd, off_t size_override)
{
    char path[PATH_MAX];
    off_t size;
    if (!fd_path(fd, path, sizeof(path), &size)) {
        return;
    }
    if (size_override >= 0) {
        size = size_override;
    }
    char line[PATH_MAX + 64];
    int n = snprintf(line, sizeof(line), "%c %lld %s\n", kind, (long long)size,
                     path);
    if (n > 0 && (size_t)n < sizeof(line)) {
        journal(line, (size_t)n);
    }
}

static void *next(const char *name)
{
    return dlsym(RTLD_NEXT, name);
}

typedef int (*sync_fn)(int);
typedef int (*rename_fn)(const char *, const char *);
typedef int (*trunc_fn)(int, off_t);

static int call_sync(const char *name, int fd)
{
    sync_fn fn;
    void *p = next(name);
    memcpy(&fn, &p, sizeof(fn)); /* object to function pointer */
    /* The size is taken before the sync: bytes written meanwhile by
     * another thread are not vouched for. */
    char path[PATH_MAX];
    off_t size = -1;
    int reg = fd_path(fd, path, sizeof(path), &size);
    int rv = fn(fd);
    if (rv == 0 && reg) {
        note_fd('S', fd, size);
    }
    return rv;
}

int fdatasync(int fd)
{
    return call_sync("fdatasync", fd);
}

int fsync(int fd)
{
    return call_sync("fsync", fd);
}

int rename(const char *from, const char *to)
{
    rename_fn fn;
    void *p = next("rename");
    memcpy(&fn, &p, sizeof(fn));
    int rv = fn(from, to);
    if (rv == 0) {
        char a[PATH_MAX], b[PATH_MAX];
        if (realpath(to, b) != NULL) {
            /* from is gone: its directory resolved, then its name. */
            const char *slash = strrchr(from, '/');
            char dir[PATH_MAX];
            snprintf(dir, sizeof(dir), "%.*s",
                     slash != NULL ? (int)(slash - from) : 1,
                     slash != NULL ? from : ".");
            if (realpath(dir, a) != NULL) {
                char line[3 * PATH_MAX];
                int n = snprintf(line, sizeof(line), "R %s/%s\t%s\n", a,
                                 slash != NULL ? slash + 1 : from, b);
                if (n > 0 && (size_t)n < sizeof(line)) {
                    journal(line, (size_t)n);
                }
            }
        }
    }
    return rv;
}

static int call_trunc(const char *name, int fd, off_t len)
{
    trunc_fn fn;
    void *p = next(name);
    memcpy(&fn, &p, sizeof(fn));
    int rv = fn(fd, len);
    if (rv == 0) {
        note_fd('T', fd, len);
    }
    return rv;
}

int ftruncate(int fd, off_t len)
{
    return call_trunc("ftruncate", fd, len);
}

int ftruncate64(int fd, off_t len)
{
    return call_trunc("ftruncate64", fd, len);
}
