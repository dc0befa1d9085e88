/* Disk seam: every file-system call of the log store goes through a
 * struct bk_disk, so that tests can substitute an in-memory disk that loses
 * unsynced writes on a simulated power failure (tests/lib/fake_disk.h).
 *
 * All functions return 0 (or a byte count) on success and a negative errno
 * (BK_E*-compatible) on failure; they never set errno for the caller.
 * Implementations must be thread-safe: the log's background syncer calls
 * fdatasync/rename/unlink while shard threads call pread/pwrite.
 *
 * File descriptors are the implementation's own small integers; only the
 * POSIX disk hands out real kernel fds (which the network layer may pass to
 * sendfile). */
#ifndef BK_COMMON_DISK_H
#define BK_COMMON_DISK_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/uio.h>

/* Open flags understood by every implementation (a subset of open(2)). */
#define BK_DISK_CREATE 0x1 /* create when missing */
#define BK_DISK_EXCL   0x2 /* with CREATE: fail with BK_EEXIST if it exists */
#define BK_DISK_TRUNC  0x4 /* truncate to 0 on open */

/* Called once per directory entry (not "." or ".."); a nonzero return stops
 * the walk and is returned by readdir. name is borrowed for the call. */
typedef int (*bk_disk_readdir_cb)(void *arg, const char *name);

struct bk_disk {
    /* Opens path read-write; returns an fd >= 0 or a negative errno. */
    int (*open)(const struct bk_disk *d, const char *path, int flags);
    int (*close)(const struct bk_disk *d, int fd);
    /* Return bytes transferred (short only at end of file for pread). */
    ssize_t (*pread)(const struct bk_disk *d,
                     int fd,
                     void *buf,
                     size_t len,
                     int64_t off);
    ssize_t (*pwritev)(const struct bk_disk *d,
                       int fd,
                       const struct iovec *iov,
                       int iovcnt,
                       int64_t off);
    int (*fdatasync)(const struct bk_disk *d, int fd);
    int (*ftruncate)(const struct bk_disk *d, int fd, int64_t len);
    int (*fsize)(const struct bk_disk *d, int fd, int64_t *size);
    /* Size of the file at path without opening it for I/O. */
    int (*stat_size)(const struct bk_disk *d, const char *path, int64_t *size);
    /* rename(2): atomic replacement of to. */
    int (*rename)(const struct bk_disk *d, const char *from, const char *to);
    int (*unlink)(const struct bk_disk *d, const char *path);
    /* mkdir -p; succeeds when the directory exists. */
    int (*mkdir)(const struct bk_disk *d, const char *path);
    /* Makes the directory's entries (creations, renames) durable. */
    int (*fsync_dir)(const struct bk_disk *d, const char *path);
    int (*readdir)(const struct bk_disk *d,
                   const char *path,
                   bk_disk_readdir_cb cb,
                   void *arg);
    /* Writes an identifier of the current boot of the machine (the kernel's
     * boot_id) into buf, NUL-terminated. Data that was written, even never
     * synced, is still intact after a crash if the boot id did not change
     * (the process died, the page cache did not). May be NULL: unknown. */
    int (*boot_id)(const struct bk_disk *d, char *buf, size_t cap);
    /* Bytes still available to the broker on the file system holding path
     * (statvfs f_bavail * f_frsize). May be NULL: unknown. */
    int (*free_bytes)(const struct bk_disk *d, const char *path, int64_t *out);
    void *data; /* implementation state */
};

/* Returns the POSIX disk (static, immutable, thread-safe). */
const struct bk_disk *bk_disk_posix(void);

/* Convenience: loops over short writes; returns 0 or a negative errno. */
int bk_disk_pwrite_all(const struct bk_disk *d,
                       int fd,
                       const void *buf,
                       size_t len,
                       int64_t off);
/* Convenience: loops over short reads; returns bytes read (< len only at
 * end of file) or a negative errno. */
ssize_t bk_disk_pread_all(const struct bk_disk *d,
                          int fd,
                          void *buf,
                          size_t len,
                          int64_t off);

/* Writes buf to path atomically and durably: path.tmp, fdatasync, rename,
 * fsync of the directory dir. Used for checkpoints. */
int bk_disk_write_atomic(const struct bk_disk *d,
                         const char *dir,
                         const char *path,
                         const void *buf,
                         size_t len);

/* Replaces path with buf via path.tmp and rename, WITHOUT any sync: the
 * content survives a process crash, not a power loss (it may then be empty
 * or torn; readers must validate it). */
int bk_disk_write_replace(const struct bk_disk *d,
                          const char *path,
                          const void *buf,
                          size_t len);

/* Reads a whole small file (at most cap bytes) into buf; returns the length
 * or a negative errno (BK_ENOENT when missing, BK_ETOOLARGE when bigger). */
ssize_t bk_disk_read_small(const struct bk_disk *d,
                           const char *path,
                           void *buf,
                           size_t cap);

/* Removes path and everything below it on the real file system (not
 * through a bk_disk: used for whole directories of deleted topics), as
 * much as it can; errors are ignored. Blocking: call it off the shards'
 * loops. */
void bk_remove_tree(const char *path);

#endif /* BK_COMMON_DISK_H */
