#include "fake_disk.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/err.h"

struct op {
    int64_t off; /* write offset, or new length for a truncate */
    size_t len;
    uint8_t *data; /* NULL for a truncate */
};

struct image {
    uint8_t *buf;
    size_t len, cap;
};

struct inode {
    char *path; /* NULL once unlinked */
    struct image cur, dur;
    struct op *ops;
    size_t nops, ops_cap;
    int opens;
};

struct fake {
    pthread_mutex_t mu;
    struct inode **files;
    size_t nfiles, cap;
    struct inode **fds;
    int nfds;
    bool dead;
    uint64_t rng;
    uint64_t fsyncs, reads;
    unsigned boots;
    /* Fault injection (fake_disk_fail_at / fake_disk_crash_at). */
    uint64_t mutations;
    uint64_t fault_left; /* 0: disarmed */
    bool fault_crash;
    int fault_err;
    enum fake_crash_mode fault_mode;
    bool fault_fired;
    /* Lasting faults (fake_disk_set_space / fake_disk_fail_opens). */
    int64_t space; /* bytes all files may hold; -1: unlimited */
    int open_err;  /* every open fails with it; 0: none */
    struct bk_disk disk;
};

static void crash_locked(struct fake *f, enum fake_crash_mode mode);

/* Called under the mutex by every mutating call before it does anything:
 * returns 0 to go on, or the error to return (the armed fault fired, or
 * the disk is dead). */
static int mutation(struct fake *f)
{
    if (f->dead) {
        return BK_EIO;
    }
    f->mutations++;
    if (f->fault_left == 0 || --f->fault_left > 0) {
        return 0;
    }
    f->fault_fired = true;
    if (f->fault_crash) {
        crash_locked(f, f->fault_mode);
        return BK_EIO;
    }
    return f->fault_err;
}

#define FD_BASE 1000

static struct fake *F(const struct bk_disk *d)
{
    return d->data;
}

static uint64_t rnd(struct fake *f)
{
    /* splitmix64 */
    uint64_t z = (f->rng += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static void img_reserve(struct image *im, size_t n)
{
    if (n > im->cap) {
        size_t cap = im->cap ? im->cap : 4096;
        while (cap < n) {
            cap *= 2;
        }
        im->buf = realloc(im->buf, cap);
        if (im->buf == NULL) {
            abort();
        }
        im->cap = cap;
    }
}

static void img_write(struct image *im, int64_t off, const uint8_t *p, size_t n)
{
    if (n == 0) {
        return;
    }
    size_t end = (size_t)off + n;
    img_reserve(im, end);
    if ((size_t)off > im->len) {
        memset(im->buf + im->len, 0, (size_t)off - im->len);
    }
    memcpy(im->buf + off, p, n);
    if (end > im->len) {
        im->len = end;
    }
}

static void img_truncate(struct image *im, int64_t len)
{
    if (len == 0) {
        im->len = 0;
        return;
    }
    img_reserve(im, (size_t)len);
    if ((size_t)len > im->len) {
        memset(im->buf + im->len, 0, (size_t)len - im->len);
    }
    im->len = (size_t)len;
}

static void img_copy(struct image *dst, const struct image *src)
{
    if (src->len == 0) {
        dst->len = 0;
        return;
    }
    img_reserve(dst, src->len);
    if (src->len > 0) {
        memcpy(dst->buf, src->buf, src->len);
    }
    dst->len = src->len;
}

static void ops_clear(struct inode *in)
{
    for (size_t i = 0; i < in->nops; i++) {
        free(in->ops[i].data);
    }
    in->nops = 0;
}

static void ops_push(struct inode *in, int64_t off, const uint8_t *p, size_t n)
{
    if (in->nops == in->ops_cap) {
        in->ops_cap = in->ops_cap ? in->ops_cap * 2 : 16;
        in->ops = realloc(in->ops, in->ops_cap * sizeof *in->ops);
        if (in->ops == NULL) {
            abort();
        }
    }
    struct op *o = &in->ops[in->nops++];
    o->off = off;
    o->len = n;
    o->data = NULL;
    if (p != NULL) {
        o->data = malloc(n ? n : 1);
        if (o->data == NULL) {
            abort();
        }
        memcpy(o->data, p, n);
    }
}

static void inode_free(struct inode *in)
{
    ops_clear(in);
    free(in->ops);
    free(in->cur.buf);
    free(in->dur.buf);
    free(in->path);
    free(in);
}

static struct inode *lookup(struct fake *f, const char *path, size_t *idx)
{
    for (size_t i = 0; i < f->nfiles; i++) {
        if (strcmp(f->files[i]->path, path) == 0) {
            if (idx != NULL) {
                *idx = i;
            }
            return f->files[i];
        }
    }
    return NULL;
}

static struct inode *fd_inode(struct fake *f, int fd)
{
    int i = fd - FD_BASE;
    return i >= 0 && i < f->nfds ? f->fds[i] : NULL;
}

static void maybe_release(struct fake *f, struct inode *in)
{
    (void)f;
    if (in->path == NULL && in->opens == 0) {
        inode_free(in);
    }
}

/* Bytes held by the files that have a name. */
static int64_t used_locked(struct fake *f)
{
    int64_t used = 0;
    for (size_t i = 0; i < f->nfiles; i++) {
        used += (int64_t)f->files[i]->cur.len;
    }
    return used;
}

static int fk_free_bytes(const struct bk_disk *d,
                         const char *path,
                         int64_t *out)
{
    (void)path;
    struct fake *f = F(d);
    pthread_mutex_lock(&f->mu);
    *out = f->space < 0 ? (int64_t)1 << 40 : f->space - used_locked(f);
    if (*out < 0) {
        *out = 0;
    }
    pthread_mutex_unlock(&f->mu);
    return 0;
}

static int fk_open(const struct bk_disk *d, const char *path, int flags)
{
    struct fake *f = F(d);
    pthread_mutex_lock(&f->mu);
    int rv;
    struct inode *in = NULL;
    if (f->dead) {
        rv = BK_EIO;
        goto out;
    }
    if (f->open_err != 0) {
        rv = f->open_err;
        goto out;
    }
    if ((flags & BK_DISK_CREATE) && (rv = mutation(f)) != 0) {
        goto out;
    }
    in = lookup(f, path, NULL);
    if (in != NULL && (flags & BK_DISK_CREATE) && (flags & BK_DISK_EXCL)) {
        rv = BK_EEXIST;
        goto out;
    }
    if (in == NULL) {
        if (!(flags & BK_DISK_CREATE)) {
            rv = BK_ENOENT;
            goto out;
        }
        in = calloc(1, sizeof *in);
        in->path = strdup(path);
        if (f->nfiles == f->cap) {
            f->cap = f->cap ? f->cap * 2 : 16;
            f->files = realloc(f->files, f->cap * sizeof *f->files);
        }
        f->files[f->nfiles++] = in;
    }
    if (flags & BK_DISK_TRUNC) {
        img_truncate(&in->cur, 0);
        ops_push(in, 0, NULL, 0);
    }
    int slot = -1;
    for (int i = 0; i < f->nfds; i++) {
        if (f->fds[i] == NULL) {
            slot = i;
            break;
        }
    }
    if (slot < 0) {
        f->fds = realloc(f->fds, (size_t)(f->nfds + 1) * sizeof *f->fds);
        slot = f->nfds++;
    }
    f->fds[slot] = in;
    in->opens++;
    rv = FD_BASE + slot;
out:
    pthread_mutex_unlock(&f->mu);
    return rv;
}

static int fk_close(const struct bk_disk *d, int fd)
{
    struct fake *f = F(d);
    pthread_mutex_lock(&f->mu);
    struct inode *in = fd_inode(f, fd);
    if (in != NULL) {
        f->fds[fd - FD_BASE] = NULL;
        in->opens--;
        maybe_release(f, in);
    }
    pthread_mutex_unlock(&f->mu);
    return 0;
}

static ssize_t fk_pread(const struct bk_disk *d,
                        int fd,
                        void *buf,
                        size_t len,
                        int64_t off)
{
    struct fake *f = F(d);
    pthread_mutex_lock(&f->mu);
    ssize_t rv;
    struct inode *in = fd_inode(f, fd);
    if (f->dead || in == NULL) {
        rv = f->dead ? BK_EIO : -EBADF;
    } else if (off >= (int64_t)in->cur.len) {
        rv = 0;
    } else {
        size_t n = in->cur.len - (size_t)off;
        if (n > len) {
            n = len;
        }
        memcpy(buf, in->cur.buf + off, n);
        rv = (ssize_t)n;
        f->reads++;
    }
    pthread_mutex_unlock(&f->mu);
    return rv;
}

static ssize_t fk_pwritev(const struct bk_disk *d,
                          int fd,
                          const struct iovec *iov,
                          int iovcnt,
                          int64_t off)
{
    struct fake *f = F(d);
    pthread_mutex_lock(&f->mu);
    ssize_t rv = 0;
    struct inode *in = fd_inode(f, fd);
    if (f->dead || in == NULL) {
        rv = f->dead ? BK_EIO : -EBADF;
    } else if ((rv = mutation(f)) != 0) {
        /* the fault fired */
    } else {
        /* With a space limit, a write that does not fit writes what fits
         * (a short count) or fails with ENOSPC, as a full disk does. */
        int64_t room = f->space < 0 ? INT64_MAX : f->space - used_locked(f);
        for (int i = 0; i < iovcnt; i++) {
            size_t n = iov[i].iov_len;
            int64_t grow = off + rv + (int64_t)n - (int64_t)in->cur.len;
            if (grow > room) {
                int64_t fit = (int64_t)in->cur.len + room - (off + rv);
                n = fit > 0 ? (size_t)fit : 0;
            }
            if (n > 0) {
                int64_t g = off + rv + (int64_t)n - (int64_t)in->cur.len;
                room -= g > 0 ? g : 0;
                img_write(&in->cur, off + rv, iov[i].iov_base, n);
                ops_push(in, off + rv, iov[i].iov_base, n);
                rv += (ssize_t)n;
            }
            if (n < iov[i].iov_len) {
                rv = rv > 0 ? rv : BK_ENOSPC;
                break;
            }
        }
    }
    pthread_mutex_unlock(&f->mu);
    return rv;
}

static int fk_fdatasync(const struct bk_disk *d, int fd)
{
    struct fake *f = F(d);
    pthread_mutex_lock(&f->mu);
    int rv = 0;
    struct inode *in = fd_inode(f, fd);
    if (f->dead || in == NULL) {
        rv = f->dead ? BK_EIO : -EBADF;
    } else if ((rv = mutation(f)) != 0) {
        /* the fault fired */
    } else {
        img_copy(&in->dur, &in->cur);
        ops_clear(in);
        f->fsyncs++;
    }
    pthread_mutex_unlock(&f->mu);
    return rv;
}

static int fk_ftruncate(const struct bk_disk *d, int fd, int64_t len)
{
    struct fake *f = F(d);
    pthread_mutex_lock(&f->mu);
    int rv = 0;
    struct inode *in = fd_inode(f, fd);
    if (f->dead || in == NULL) {
        rv = f->dead ? BK_EIO : -EBADF;
    } else if ((rv = mutation(f)) != 0) {
        /* the fault fired */
    } else {
        img_truncate(&in->cur, len);
        ops_push(in, len, NULL, 0);
    }
    pthread_mutex_unlock(&f->mu);
    return rv;
}

static int fk_fsize(const struct bk_disk *d, int fd, int64_t *size)
{
    struct fake *f = F(d);
    pthread_mutex_lock(&f->mu);
    int rv = 0;
    struct inode *in = fd_inode(f, fd);
    if (f->dead || in == NULL) {
        rv = f->dead ? BK_EIO : -EBADF;
    } else {
        *size = (int64_t)in->cur.len;
    }
    pthread_mutex_unlock(&f->mu);
    return rv;
}

/* The fake keeps files only: a directory exists while a file lives in it
 * (what callers asking about a directory need to know). */
static bool is_dir(const struct fake *f, const char *path)
{
    size_t n = strlen(path);
    for (size_t i = 0; i < f->nfiles; i++) {
        const char *p = f->files[i]->path;
        if (strncmp(p, path, n) == 0 && p[n] == '/') {
            return true;
        }
    }
    return false;
}

static int fk_stat_size(const struct bk_disk *d,
                        const char *path,
                        int64_t *size)
{
    struct fake *f = F(d);
    pthread_mutex_lock(&f->mu);
    int rv = 0;
    struct inode *in = f->dead ? NULL : lookup(f, path, NULL);
    if (f->dead) {
        rv = BK_EIO;
    } else if (in == NULL && is_dir(f, path)) {
        *size = 0;
    } else if (in == NULL) {
        rv = BK_ENOENT;
    } else {
        *size = (int64_t)in->cur.len;
    }
    pthread_mutex_unlock(&f->mu);
    return rv;
}

static void unlink_locked(struct fake *f, size_t idx)
{
    struct inode *in = f->files[idx];
    f->files[idx] = f->files[--f->nfiles];
    free(in->path);
    in->path = NULL;
    maybe_release(f, in);
}

static int fk_rename(const struct bk_disk *d, const char *from, const char *to)
{
    struct fake *f = F(d);
    pthread_mutex_lock(&f->mu);
    int rv = 0;
    size_t idx;
    struct inode *in = f->dead ? NULL : lookup(f, from, NULL);
    if (f->dead) {
        rv = BK_EIO;
    } else if (in == NULL) {
        rv = BK_ENOENT;
    } else if ((rv = mutation(f)) != 0) {
        /* the fault fired */
    } else {
        if (lookup(f, to, &idx) != NULL) {
            unlink_locked(f, idx);
        }
        free(in->path);
        in->path = strdup(to);
    }
    pthread_mutex_unlock(&f->mu);
    return rv;
}

static int fk_unlink(const struct bk_disk *d, const char *path)
{
    struct fake *f = F(d);
    pthread_mutex_lock(&f->mu);
    int rv = 0;
    size_t idx;
    if (f->dead) {
        rv = BK_EIO;
    } else if (lookup(f, path, &idx) == NULL) {
        rv = BK_ENOENT;
    } else if ((rv = mutation(f)) != 0) {
        /* the fault fired */
    } else {
        unlink_locked(f, idx);
    }
    pthread_mutex_unlock(&f->mu);
    return rv;
}

static int fk_mkdir(const struct bk_disk *d, const char *path)
{
    (void)path;
    return F(d)->dead ? BK_EIO : 0;
}

static int fk_fsync_dir(const struct bk_disk *d, const char *path)
{
    (void)path;
    struct fake *f = F(d);
    pthread_mutex_lock(&f->mu);
    int rv = mutation(f);
    pthread_mutex_unlock(&f->mu);
    return rv;
}

static int fk_readdir(const struct bk_disk *d,
                      const char *path,
                      bk_disk_readdir_cb cb,
                      void *arg)
{
    struct fake *f = F(d);
    pthread_mutex_lock(&f->mu);
    if (f->dead) {
        pthread_mutex_unlock(&f->mu);
        return BK_EIO;
    }
    size_t plen = strlen(path);
    char **names = calloc(f->nfiles + 1, sizeof *names);
    size_t n = 0;
    for (size_t i = 0; i < f->nfiles; i++) {
        const char *p = f->files[i]->path;
        if (strncmp(p, path, plen) == 0 && p[plen] == '/' &&
            strchr(p + plen + 1, '/') == NULL) {
            names[n++] = strdup(p + plen + 1);
        }
    }
    pthread_mutex_unlock(&f->mu);
    int rv = 0;
    for (size_t i = 0; i < n; i++) {
        if (rv == 0) {
            rv = cb(arg, names[i]);
        }
        free(names[i]);
    }
    free(names);
    return rv;
}

static int fk_boot_id(const struct bk_disk *d, char *buf, size_t cap)
{
    struct fake *f = F(d);
    pthread_mutex_lock(&f->mu);
    snprintf(buf, cap, "fake-boot-%u", f->boots);
    pthread_mutex_unlock(&f->mu);
    return 0;
}

struct bk_disk *fake_disk_new(uint64_t seed)
{
    struct fake *f = calloc(1, sizeof *f);
    if (f == NULL) {
        return NULL;
    }
    pthread_mutex_init(&f->mu, NULL);
    f->rng = seed;
    f->space = -1;
    f->disk = (struct bk_disk){
        .open = fk_open,
        .close = fk_close,
        .pread = fk_pread,
        .pwritev = fk_pwritev,
        .fdatasync = fk_fdatasync,
        .ftruncate = fk_ftruncate,
        .fsize = fk_fsize,
        .stat_size = fk_stat_size,
        .rename = fk_rename,
        .unlink = fk_unlink,
        .mkdir = fk_mkdir,
        .fsync_dir = fk_fsync_dir,
        .readdir = fk_readdir,
        .boot_id = fk_boot_id,
        .free_bytes = fk_free_bytes,
        .data = f,
    };
    return &f->disk;
}

void fake_disk_free(struct bk_disk *d)
{
    if (d == NULL) {
        return;
    }
    struct fake *f = F(d);
    /* Unlinked but still open inodes first: they are not in files[]. */
    for (int i = 0; i < f->nfds; i++) {
        struct inode *in = f->fds[i];
        if (in != NULL && in->path == NULL) {
            for (int j = i; j < f->nfds; j++) {
                if (f->fds[j] == in) {
                    f->fds[j] = NULL;
                }
            }
            inode_free(in);
        }
    }
    for (size_t i = 0; i < f->nfiles; i++) {
        inode_free(f->files[i]);
    }
    free(f->files);
    free(f->fds);
    pthread_mutex_destroy(&f->mu);
    free(f);
}

static void apply_op(struct image *im, const struct op *o, size_t n)
{
    if (o->data == NULL) {
        img_truncate(im, o->off);
    } else {
        img_write(im, o->off, o->data, n);
    }
}

static void crash_inode(struct fake *f,
                        struct inode *in,
                        enum fake_crash_mode mode)
{
    if (mode == FAKE_CRASH_KILL) {
        img_copy(&in->dur, &in->cur);
    } else if (in->nops > 0) {
        switch (rnd(f) % 3) {
            case 0: /* nothing reached the disk */
                break;
            case 1: { /* in order up to a torn write */
                size_t k = (size_t)(rnd(f) % (in->nops + 1));
                for (size_t i = 0; i < k; i++) {
                    apply_op(&in->dur, &in->ops[i], in->ops[i].len);
                }
                if (k < in->nops) {
                    const struct op *o = &in->ops[k];
                    apply_op(&in->dur, o, o->len ? rnd(f) % o->len : 0);
                }
                break;
            }
            default: /* any subset, each write possibly torn */
                for (size_t i = 0; i < in->nops; i++) {
                    const struct op *o = &in->ops[i];
                    uint64_t r = rnd(f) % 4;
                    if (r == 0) {
                        continue;
                    }
                    apply_op(&in->dur, o,
                             r == 1 && o->len ? rnd(f) % o->len : o->len);
                }
                break;
        }
    }
    img_copy(&in->cur, &in->dur);
    ops_clear(in);
}

static void crash_locked(struct fake *f, enum fake_crash_mode mode)
{
    for (size_t i = 0; i < f->nfiles; i++) {
        crash_inode(f, f->files[i], mode);
    }
    if (mode == FAKE_CRASH_POWER) {
        f->boots++; /* the machine rebooted */
    }
    f->dead = true;
    f->fault_left = 0;
}

void fake_disk_crash(struct bk_disk *d, enum fake_crash_mode mode)
{
    struct fake *f = F(d);
    pthread_mutex_lock(&f->mu);
    crash_locked(f, mode);
    pthread_mutex_unlock(&f->mu);
}

void fake_disk_fail_at(struct bk_disk *d, uint64_t n, int err)
{
    struct fake *f = F(d);
    pthread_mutex_lock(&f->mu);
    f->fault_left = n;
    f->fault_crash = false;
    f->fault_err = err;
    f->fault_fired = false;
    pthread_mutex_unlock(&f->mu);
}

void fake_disk_crash_at(struct bk_disk *d,
                        uint64_t n,
                        enum fake_crash_mode mode)
{
    struct fake *f = F(d);
    pthread_mutex_lock(&f->mu);
    f->fault_left = n;
    f->fault_crash = true;
    f->fault_mode = mode;
    f->fault_fired = false;
    pthread_mutex_unlock(&f->mu);
}

bool fake_disk_fault_fired(struct bk_disk *d)
{
    struct fake *f = F(d);
    pthread_mutex_lock(&f->mu);
    bool fired = f->fault_fired;
    pthread_mutex_unlock(&f->mu);
    return fired;
}

uint64_t fake_disk_mutations(struct bk_disk *d)
{
    struct fake *f = F(d);
    pthread_mutex_lock(&f->mu);
    uint64_t n = f->mutations;
    pthread_mutex_unlock(&f->mu);
    return n;
}

void fake_disk_revive(struct bk_disk *d)
{
    struct fake *f = F(d);
    pthread_mutex_lock(&f->mu);
    /* Every fd of the crashed "process" is gone. */
    for (int i = 0; i < f->nfds; i++) {
        struct inode *in = f->fds[i];
        if (in != NULL) {
            f->fds[i] = NULL;
            in->opens--;
            maybe_release(f, in);
        }
    }
    f->dead = false;
    pthread_mutex_unlock(&f->mu);
}

int fake_disk_corrupt(struct bk_disk *d,
                      const char *path,
                      int64_t off,
                      uint8_t x)
{
    struct fake *f = F(d);
    pthread_mutex_lock(&f->mu);
    int rv = 0;
    struct inode *in = lookup(f, path, NULL);
    if (in == NULL) {
        rv = BK_ENOENT;
    } else if (off < 0 || (size_t)off >= in->cur.len) {
        rv = BK_ERANGE;
    } else {
        in->cur.buf[off] ^= x;
        if ((size_t)off < in->dur.len) {
            in->dur.buf[off] ^= x;
        }
    }
    pthread_mutex_unlock(&f->mu);
    return rv;
}

int64_t fake_disk_size(struct bk_disk *d, const char *path)
{
    struct fake *f = F(d);
    pthread_mutex_lock(&f->mu);
    struct inode *in = lookup(f, path, NULL);
    int64_t n = in == NULL ? -1 : (int64_t)in->cur.len;
    pthread_mutex_unlock(&f->mu);
    return n;
}

uint64_t fake_disk_fsyncs(struct bk_disk *d)
{
    struct fake *f = F(d);
    pthread_mutex_lock(&f->mu);
    uint64_t n = f->fsyncs;
    pthread_mutex_unlock(&f->mu);
    return n;
}

uint64_t fake_disk_reads(struct bk_disk *d)
{
    struct fake *f = F(d);
    pthread_mutex_lock(&f->mu);
    uint64_t n = f->reads;
    pthread_mutex_unlock(&f->mu);
    return n;
}

int fake_disk_open_fds(struct bk_disk *d)
{
    struct fake *f = F(d);
    pthread_mutex_lock(&f->mu);
    int n = 0;
    for (int i = 0; i < f->nfds; i++) {
        n += f->fds[i] != NULL;
    }
    pthread_mutex_unlock(&f->mu);
    return n;
}

void fake_disk_set_space(struct bk_disk *d, int64_t bytes)
{
    struct fake *f = F(d);
    pthread_mutex_lock(&f->mu);
    f->space = bytes;
    pthread_mutex_unlock(&f->mu);
}

int64_t fake_disk_used(struct bk_disk *d)
{
    struct fake *f = F(d);
    pthread_mutex_lock(&f->mu);
    int64_t used = used_locked(f);
    pthread_mutex_unlock(&f->mu);
    return used;
}

void fake_disk_fail_opens(struct bk_disk *d, int err)
{
    struct fake *f = F(d);
    pthread_mutex_lock(&f->mu);
    f->open_err = err;
    pthread_mutex_unlock(&f->mu);
}
