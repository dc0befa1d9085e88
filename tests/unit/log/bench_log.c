/* Log store benchmark driver; scripts/bench-log runs it and compares the
 * figures with dd on the same disk. Not a test.
 *
 *   bench_log append ROOT MB          buffered appends, no fsync
 *   bench_log sync ROOT MB WINDOW     appends acknowledged by grouped fsync,
 *                                     at most WINDOW unacknowledged
 *   bench_log read ROOT               read back ROOT's log (copy, sendfile)
 *   bench_log fill ROOT MB            build a log of MB and close it cleanly
 *   bench_log open ROOT               time a clean open
 *   bench_log crash ROOT MB           append MB more, then SIGKILL itself
 *   bench_log open-unclean ROOT       time an open after the crash
 *   bench_log idle ROOT N             memory of N idle partitions
 *   bench_log raw-sync FILE MB        baseline: 16 KiB pwrite + fdatasync
 *                                     per write (fio --bs=16k --fdatasync=1)
 *   bench_log clean ROOT MB KEYS      a compacted log (cleanup.policy=
 *                                     compact, 64 MiB segments) of MB of
 *                                     keyed records over KEYS keys, closed
 *                                     and reopened, then one cleaning job:
 *                                     its time on the shard thread (begin,
 *                                     end) and off it (run)
 *
 * Records are 1 KiB in 16 KiB batches (16 records), uncompressed. */
#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sendfile.h>
#include <time.h>
#include <unistd.h>

#include "batch_gen.h"
#include "common/err.h"
#include "common/heap.h"
#include "log/batch.h"
#include "log/log.h"
#include "protocol/record_batch.h"

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

struct env {
    const struct bk_disk *disk;
    struct bk_fdcache *fc;
    struct bk_syncer *sy;
    struct bk_log_config cfg;
    struct bk_log *log;
    char dir[4096];
};

static void die(const char *what, int rv)
{
    fprintf(stderr, "bench_log: %s: %s\n", what, bk_strerror(rv));
    exit(1);
}

static void env_open(struct env *e,
                     const char *root,
                     const char *part,
                     int max_fds)
{
    e->disk = bk_disk_posix();
    bk_log_config_default(&e->cfg);
    const char *ck = getenv("BENCH_CKPT_MB");
    if (ck != NULL) {
        e->cfg.recovery_checkpoint_bytes = atol(ck) * 1024 * 1024;
    }
    int rv = bk_fdcache_new(e->disk, max_fds, &e->fc);
    if (rv == 0) {
        rv = bk_syncer_start(e->disk, e->fc, true, &e->sy);
    }
    if (rv != 0) {
        die("start", rv);
    }
    bool clean;
    if ((rv = bk_log_root_begin(e->disk, root, &clean)) != 0) {
        die("root", rv);
    }
    if (part != NULL) {
        snprintf(e->dir, sizeof e->dir, "%s/%s", root, part);
        char err[BK_ERRMSG_SIZE] = "";
        rv = bk_log_open(e->dir, &e->cfg, e->disk, bk_clock_system(), e->fc,
                         e->sy, clean, &e->log, err);
        if (rv != 0) {
            fprintf(stderr, "%s\n", err);
            die("open", rv);
        }
    }
}

static void env_close(struct env *e, const char *root)
{
    if (e->log != NULL) {
        bk_log_close(e->log, true);
    }
    bk_syncer_stop(e->sy);
    bk_fdcache_free(e->fc);
    bk_log_root_end(e->disk, root);
}

static size_t make_batch(uint8_t *buf, size_t cap)
{
    /* 16 records of 1 KiB each (1011-byte value + framing), exactly
     * 16384 bytes: the timestamp step of 5 ms makes the last three
     * records' timestamp deltas take two bytes. Same write size as dd's
     * bs=16k. */
    size_t n = test_batch_build(buf, cap, 16, 1700000000000LL, 5, 1011, 7);
    if (n != 16384) {
        fprintf(stderr, "batch is %zu bytes\n", n);
        die("batch", BK_EINVAL);
    }
    return n;
}

static void append_one(struct env *e,
                       uint8_t *buf,
                       size_t n,
                       struct bk_log_append_result *r)
{
    int rv = bk_log_append(e->log, buf, n, 0, BK_LOG_APPEND_LEADER, r);
    if (rv != 0) {
        die("append", rv);
    }
}

static int cmd_append(const char *root, long mb)
{
    struct env e = { 0 };
    env_open(&e, root, "t-0", 1024);
    static uint8_t buf[32768];
    size_t n = make_batch(buf, sizeof buf);
    long count = mb * 1024 * 1024 / (long)n;
    struct bk_log_append_result r;
    double t0 = now_s();
    for (long i = 0; i < count; i++) {
        append_one(&e, buf, n, &r);
    }
    double t = now_s() - t0;
    /* count * (long)n is a long, not a size_t: */
    /* cppcheck-suppress invalidPrintfArgType_sint */
    printf("append_mbps %.1f bytes %ld batch %zu seconds %.3f\n",
           (double)count * (double)n / t / 1e6, count * (long)n, n, t);
    env_close(&e, root);
    return 0;
}

struct waiter {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    long done;
};

struct sreq {
    struct bk_log_sync_req req;
    struct waiter *w;
};

static void sync_done(struct bk_log_sync_req *req, int status)
{
    struct sreq *s = req->data;
    if (status != 0) {
        die("sync", status);
    }
    /* On the syncer thread: a real shard would uv_async_send here. */
    pthread_mutex_lock(&s->w->mu);
    s->w->done++;
    pthread_cond_signal(&s->w->cv);
    pthread_mutex_unlock(&s->w->mu);
}

static int cmd_sync(const char *root, long mb, long window)
{
    struct env e = { 0 };
    env_open(&e, root, "t-0", 1024);
    static uint8_t buf[32768];
    size_t n = make_batch(buf, sizeof buf);
    long count = mb * 1024 * 1024 / (long)n;
    struct sreq *reqs = calloc((size_t)count, sizeof *reqs);
    struct waiter w = { .done = 0 };
    pthread_mutex_init(&w.mu, NULL);
    pthread_cond_init(&w.cv, NULL);
    uint64_t f0 = bk_syncer_fsync_count(e.sy);
    struct bk_log_append_result r;
    double t0 = now_s();
    for (long i = 0; i < count; i++) {
        pthread_mutex_lock(&w.mu);
        while (i - w.done >= window) {
            pthread_cond_wait(&w.cv, &w.mu);
        }
        pthread_mutex_unlock(&w.mu);
        append_one(&e, buf, n, &r);
        reqs[i].w = &w;
        reqs[i].req.data = &reqs[i];
        int rv = bk_log_sync(e.log, r.last_offset + 1, &reqs[i].req, sync_done);
        if (rv != 0) {
            die("sync", rv);
        }
    }
    pthread_mutex_lock(&w.mu);
    while (w.done < count) {
        pthread_cond_wait(&w.cv, &w.mu);
    }
    pthread_mutex_unlock(&w.mu);
    double t = now_s() - t0;
    uint64_t fsyncs = bk_syncer_fsync_count(e.sy) - f0;
    printf("sync_mbps %.1f window %ld batches %ld fsyncs %llu seconds %.3f\n",
           (double)count * (double)n / t / 1e6, window, count,
           (unsigned long long)fsyncs, t);
    env_close(&e, root);
    free(reqs);
    return 0;
}

static int cmd_read(const char *root)
{
    struct env e = { 0 };
    env_open(&e, root, "t-0", 1024);
    int64_t end = bk_log_end_offset(e.log);
    size_t cap = 1 << 20;
    uint8_t *buf = malloc(cap);
    int64_t total = 0;
    double t0 = now_s();
    for (int64_t off = bk_log_start_offset(e.log); off < end;) {
        size_t len;
        int64_t next;
        int rv = bk_log_read_copy(e.log, off, (int64_t)cap, INT64_MAX, buf, cap,
                                  &len, &next);
        if (rv != 0) {
            die("read", rv);
        }
        total += (int64_t)len;
        off = next;
    }
    double t = now_s() - t0;
    printf("read_copy_mbps %.1f bytes %lld\n", (double)total / t / 1e6,
           (long long)total);
    int null = open("/dev/null", O_WRONLY);
    total = 0;
    t0 = now_s();
    for (int64_t off = bk_log_start_offset(e.log); off < end;) {
        struct bk_log_read_result res;
        int rv = bk_log_read(e.log, off, 1 << 20, INT64_MAX, &res);
        if (rv != 0) {
            die("read", rv);
        }
        for (int i = 0; i < res.count; i++) {
            off_t o = (off_t)res.ranges[i].file_offset;
            size_t left = (size_t)res.ranges[i].length;
            while (left > 0) {
                ssize_t k = sendfile(null, res.ranges[i].fd, &o, left);
                if (k <= 0) {
                    die("sendfile", BK_EIO);
                }
                left -= (size_t)k;
            }
        }
        total += res.bytes;
        off = res.next_offset;
        bk_log_read_release(&res);
    }
    t = now_s() - t0;
    printf("read_sendfile_mbps %.1f bytes %lld\n", (double)total / t / 1e6,
           (long long)total);
    close(null);
    free(buf);
    env_close(&e, root);
    return 0;
}

static int cmd_fill(const char *root, long mb)
{
    return cmd_append(root, mb);
}

static int cmd_open(const char *root, bool expect_clean)
{
    double t0 = now_s();
    struct env e = { 0 };
    env_open(&e, root, "t-0", 1024);
    double t = now_s() - t0;
    printf("open_ms %.3f clean %d segments %d end_offset %lld scanned %lld\n",
           t * 1e3, expect_clean, bk_log_segment_count(e.log),
           (long long)bk_log_end_offset(e.log),
           (long long)bk_log_recovery_scanned(e.log));
    env_close(&e, root);
    return 0;
}

static int cmd_crash(const char *root, long mb)
{
    struct env e = { 0 };
    env_open(&e, root, "t-0", 1024);
    static uint8_t buf[32768];
    size_t n = make_batch(buf, sizeof buf);
    long count = mb * 1024 * 1024 / (long)n;
    struct bk_log_append_result r;
    for (long i = 0; i < count; i++) {
        append_one(&e, buf, n, &r);
    }
    (void)fflush(stdout);
    kill(getpid(), SIGKILL);
    return 1;
}

static int cmd_idle(const char *root, long count)
{
    struct env e = { 0 };
    env_open(&e, root, NULL, 1024);
    struct bk_log **logs = calloc((size_t)count, sizeof *logs);
    static uint8_t buf[32768];
    size_t n = make_batch(buf, sizeof buf);
    struct mallinfo2 m0 = mallinfo2();
    size_t accounted = 0;
    for (long i = 0; i < count; i++) {
        char dir[4200];
        snprintf(dir, sizeof dir, "%s/topic-%ld", root, i);
        int rv = bk_log_open(dir, &e.cfg, e.disk, bk_clock_system(), e.fc, e.sy,
                             false, &logs[i], NULL);
        if (rv != 0) {
            die("open", rv);
        }
        struct bk_log_append_result r;
        rv = bk_log_append(logs[i], buf, n, 0, BK_LOG_APPEND_LEADER, &r);
        if (rv != 0) {
            die("append", rv);
        }
    }
    /* Let the syncer finish the checkpoints the opens queued. */
    bk_log_close(logs[count - 1], true);
    for (long i = 0; i < count - 1; i++) {
        accounted += bk_log_memory(logs[i]);
    }
    struct mallinfo2 m1 = mallinfo2();
    printf(
        "idle_partition_heap_bytes %.0f accounted_bytes %.0f partitions "
        "%ld open_fds %d\n",
        (double)(m1.uordblks - m0.uordblks) / (double)count,
        (double)accounted / (double)(count - 1), count,
        bk_fdcache_open_count(e.fc));
    for (long i = 0; i < count - 1; i++) {
        bk_log_close(logs[i], true);
    }
    free(logs);
    env_close(&e, root);
    return 0;
}

/* What fio --rw=write --bs=16k --fdatasync=1 does, for a machine without
 * fio: sequential 16 KiB writes, each followed by fdatasync. */
static int cmd_raw_sync(const char *path, long mb)
{
    static uint8_t buf[16384];
    memset(buf, 0x5a, sizeof buf);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0) {
        die("open", -errno);
    }
    long count = mb * 1024 * 1024 / (long)sizeof buf;
    double t0 = now_s();
    for (long i = 0; i < count; i++) {
        if (pwrite(fd, buf, sizeof buf, (off_t)i * (off_t)sizeof buf) !=
                (ssize_t)sizeof buf ||
            fdatasync(fd) != 0) {
            die("write", BK_EIO);
        }
    }
    double t = now_s() - t0;
    close(fd);
    unlink(path);
    printf("raw_fdatasync_mbps %.1f writes %ld seconds %.3f\n",
           (double)count * (double)sizeof buf / t / 1e6, count, t);
    return 0;
}

static int cmd_clean(const char *root, long mb, long keys)
{
    struct env e = { 0 };
    env_open(&e, root, "c-0", 1024);
    e.cfg.cleanup_compact = true;
    e.cfg.cleanup_delete = false;
    e.cfg.segment_bytes = 64 << 20;
    bk_log_set_config(e.log, &e.cfg);
    long total = 0, rec = 0;
    while (total < mb * 1024 * 1024) {
        struct bk_batch_builder b;
        bk_batch_builder_init(&b, BK_CODEC_NONE);
        for (int i = 0; i < 16; i++, rec++) {
            char k[32], v[1000];
            int kl = snprintf(k, sizeof k, "key-%ld", rec % keys);
            memset(v, 'a' + (int)(rec % 26), sizeof v);
            bk_batch_builder_add(&b, 1700000000000LL + rec,
                                 (struct bk_bytes){ (uint8_t *)k, kl },
                                 (struct bk_bytes){ (uint8_t *)v, 1000 }, NULL,
                                 0);
        }
        uint8_t *buf;
        size_t n;
        if (bk_batch_builder_finish(&b, NULL, &buf, &n) != 0) {
            die("build", BK_ENOMEM);
        }
        bk_batch_builder_free(&b);
        struct bk_log_append_result r;
        append_one(&e, buf, n, &r);
        bk_free(buf);
        total += (long)n;
    }
    bk_log_set_hw(e.log, bk_log_end_offset(e.log));
    env_close(&e, root);
    /* Cold-ish: what a restart finds. */
    env_open(&e, root, "c-0", 1024);
    e.cfg.cleanup_compact = true;
    e.cfg.cleanup_delete = false;
    e.cfg.segment_bytes = 64 << 20;
    bk_log_set_config(e.log, &e.cfg);
    int segs = bk_log_segment_count(e.log);
    double t0 = now_s();
    struct bk_log_clean *job;
    int rv = bk_log_clean_begin(e.log, true, &job);
    if (rv != 0 || job == NULL) {
        die("clean begin", rv != 0 ? rv : BK_ENOTFOUND);
    }
    double t1 = now_s();
    bk_log_clean_run(job);
    double t2 = now_s();
    struct bk_log_clean_stats st;
    rv = bk_log_clean_end(e.log, job, &st);
    double t3 = now_s();
    if (rv != 0) {
        die("clean", rv);
    }
    printf(
        "clean mb %ld keys %ld segments %d rewritten %d deleted %d "
        "before %lld after %lld read %lld run_s %.3f read_mb_s %.0f "
        "begin_ms %.3f end_ms %.3f\n",
        mb, keys, segs, st.segments, st.segments_deleted,
        (long long)st.bytes_before, (long long)st.bytes_after,
        (long long)st.bytes_read, t2 - t1,
        (double)st.bytes_read / 1048576.0 / (t2 - t1), (t1 - t0) * 1e3,
        (t3 - t2) * 1e3);
    env_close(&e, root);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: see the comment at the top of bench_log.c\n");
        return 2;
    }
    const char *cmd = argv[1], *root = argv[2];
    long a = argc > 3 ? atol(argv[3]) : 0, b = argc > 4 ? atol(argv[4]) : 0;
    if (strcmp(cmd, "append") == 0) {
        return cmd_append(root, a);
    } else if (strcmp(cmd, "sync") == 0) {
        return cmd_sync(root, a, b > 0 ? b : 1);
    } else if (strcmp(cmd, "read") == 0) {
        return cmd_read(root);
    } else if (strcmp(cmd, "fill") == 0) {
        return cmd_fill(root, a);
    } else if (strcmp(cmd, "open") == 0) {
        return cmd_open(root, true);
    } else if (strcmp(cmd, "open-unclean") == 0) {
        return cmd_open(root, false);
    } else if (strcmp(cmd, "crash") == 0) {
        return cmd_crash(root, a);
    } else if (strcmp(cmd, "raw-sync") == 0) {
        return cmd_raw_sync(root, a);
    } else if (strcmp(cmd, "idle") == 0) {
        return cmd_idle(root, a > 1 ? a : 2);
    } else if (strcmp(cmd, "clean") == 0) {
        return cmd_clean(root, a > 0 ? a : 256, b > 0 ? b : 1000);
    }
    fprintf(stderr, "unknown command %s\n", cmd);
    return 2;
}
