/* Error codes of brokerd's internal API.
 *
 * Functions return int: 0 on success, a negative BK_E* code on failure. The
 * codes are errno-compatible where an errno exists (BK_ENOMEM == -ENOMEM), so
 * that libuv and libc results pass through unchanged. Kafka's error codes are
 * a separate thing (protocol/kerr.h) and are mapped only at the handler
 * boundary: an errno never goes on the wire. */
#ifndef BK_COMMON_ERR_H
#define BK_COMMON_ERR_H

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>

/* Size of the errmsg buffer that long-lived objects carry. */
#define BK_ERRMSG_SIZE 256

/* X(name, value, text). Values below -1000 are brokerd's own. */
#define BK_ERR_MAP(X)                                           \
    X(BK_ENOMEM, -ENOMEM, "out of memory")                      \
    X(BK_EINVAL, -EINVAL, "invalid argument")                   \
    X(BK_ENOENT, -ENOENT, "no such file or directory")          \
    X(BK_EEXIST, -EEXIST, "already exists")                     \
    X(BK_EIO, -EIO, "input/output error")                       \
    X(BK_EAGAIN, -EAGAIN, "try again")                          \
    X(BK_ENOSPC, -ENOSPC, "no space left on device")            \
    X(BK_EDQUOT, -EDQUOT, "disk quota exceeded")                \
    X(BK_EMFILE, -EMFILE, "too many open files")                \
    X(BK_ENFILE, -ENFILE, "too many open files in system")      \
    X(BK_EROFS, -EROFS, "read-only file system")                \
    X(BK_EBUSY, -EBUSY, "resource busy")                        \
    X(BK_ERANGE, -ERANGE, "out of range")                       \
    X(BK_ECANCELED, -ECANCELED, "operation canceled")           \
    X(BK_ETIMEDOUT, -ETIMEDOUT, "timed out")                    \
    X(BK_EPROTO, -1001, "malformed protocol data")              \
    X(BK_ECORRUPT, -1002, "corrupt data on disk")               \
    X(BK_ETOOLARGE, -1003, "size exceeds the configured limit") \
    X(BK_EUNSUPPORTED, -1004, "unsupported version or feature") \
    X(BK_ENOTFOUND, -1005, "not found")                         \
    X(BK_ESHUTDOWN, -1006, "shutting down")                     \
    X(BK_ECONFIG, -1007, "invalid configuration")               \
    X(BK_ENOTLEADER, -1008, "not the leader")                   \
    X(BK_ESTATE, -1009, "invalid state for this operation")     \
    X(BK_ELIMIT, -1010, "a configured limit is reached")        \
    X(BK_EAUTH, -1020, "authentication failed")

enum {
#define BK_ERR_ENUM(name, value, text) name = (value),
    BK_ERR_MAP(BK_ERR_ENUM)
#undef BK_ERR_ENUM
};

/* Returns a static string for a BK_E* code, or strerror() text for any other
 * negative errno. Never returns NULL. */
const char *bk_strerror(int err);

/* Returns the symbolic name ("BK_EPROTO") or "UNKNOWN". */
const char *bk_errname(int err);

/* A resource error that goes away by itself: too many open files (per
 * process or system-wide), out of memory, try again. A storage operation
 * that failed with one changed nothing lasting, and the next try may work:
 * it must not fail a log for ever. */
bool bk_err_transient(int err);

/* Out of space: no space left on device, or over a disk quota. Heals when
 * space is freed. */
bool bk_err_nospace(int err);

#endif /* BK_COMMON_ERR_H */
