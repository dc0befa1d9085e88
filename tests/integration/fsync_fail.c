/* Test-only LD_PRELOAD shim: fdatasync() and fsync() fail with EIO on the
 * files of __consumer_offsets partitions while the file named by
 * BK_FSYNC_FAIL_FLAG exists, and behave as usual otherwise.
 *
 * It lets test_group_durability.py show that the group coordinator never
 * acknowledges a change that did not reach the disk, on a real broker:
 * there is no other way to make a disk refuse a sync on demand. It is
 * built without sanitizers, since it must load before their runtime. */
#include <dlfcn.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int fdatasync(int fd);
int fsync(int fd);

static int refused(int fd)
{
    const char *flag = getenv("BK_FSYNC_FAIL_FLAG");
    if (flag == NULL || access(flag, F_OK) != 0) {
        return 0;
    }
    char link[64], path[PATH_MAX];
    snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
    ssize_t n = readlink(link, path, sizeof(path) - 1);
    if (n < 0) {
        return 0;
    }
    path[n] = '\0';
    return strstr(path, "__consumer_offsets") != NULL;
}

typedef int (*sync_fn)(int fd);

static sync_fn next_fn(const char *name)
{
    void *p = dlsym(RTLD_NEXT, name);
    sync_fn fn;
    memcpy(&fn, &p, sizeof(fn)); /* object to function pointer */
    return fn;
}

int fdatasync(int fd)
{
    if (refused(fd)) {
        errno = EIO;
        return -1;
    }
    return next_fn("fdatasync")(fd);
}

int fsync(int fd)
{
    if (refused(fd)) {
        errno = EIO;
        return -1;
    }
    return next_fn("fsync")(fd);
}
