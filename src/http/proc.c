/* The process_* families Prometheus' client libraries export, read from
 * /proc/self (Linux): CPU seconds, resident and virtual memory, open and
 * maximum file descriptors, start time; and brokerd's uptime. A file that
 * cannot be read leaves its families out rather than showing a false 0. */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "http/http_int.h"

static void gauge_f(struct bk_prom *p,
                    const char *name,
                    const char *type,
                    const char *help,
                    double v)
{
    bk_prom_family(p, name, type, help);
    bk_prom_f64(p, name, NULL, 0, v);
}

/* Reads the numbers of /proc/self/stat after the command name (field 2,
 * which may hold spaces: parsed after its closing parenthesis) into
 * v[0..n): v[0] is field 3, the state, which does not parse and stays 0.
 * Returns how many fields there were. */
static size_t stat_fields(unsigned long long *v, size_t n)
{
    char buf[1024];
    FILE *f = fopen("/proc/self/stat", "r");
    if (f == NULL) {
        return 0;
    }
    size_t len = fread(buf, 1, sizeof(buf) - 1, f);
    (void)fclose(f);
    buf[len] = '\0';
    char *p = strrchr(buf, ')');
    size_t k = 0;
    char *save = NULL;
    for (char *tok = p != NULL ? strtok_r(p + 1, " \n", &save) : NULL;
         tok != NULL && k < n; tok = strtok_r(NULL, " \n", &save)) {
        char *end;
        unsigned long long x = strtoull(tok, &end, 10);
        v[k++] = *end == '\0' ? x : 0;
    }
    return k;
}

/* Fields 14-15 (utime, stime, in clock ticks), 22 (starttime, ticks
 * since boot), 23 (vsize, bytes) and 24 (rss, pages) (proc(5)). */
static void stat_metrics(struct bk_prom *p)
{
    unsigned long long v[22];
    if (stat_fields(v, 22) < 22) {
        return;
    }
    unsigned long long utime = v[11], stime = v[12], start = v[19];
    unsigned long long vsize = v[20], rss = v[21];
    double tick = (double)sysconf(_SC_CLK_TCK);
    double page = (double)sysconf(_SC_PAGESIZE);
    gauge_f(p, "process_cpu_seconds_total", "counter",
            "User and system CPU time spent in seconds.",
            (double)(utime + stime) / tick);
    gauge_f(p, "process_resident_memory_bytes", "gauge",
            "Resident memory size in bytes.", (double)rss * page);
    gauge_f(p, "process_virtual_memory_bytes", "gauge",
            "Virtual memory size in bytes.", (double)vsize);
    /* Start time since the epoch: boot time (now - uptime) plus start. */
    struct timespec real, boot;
    clock_gettime(CLOCK_REALTIME, &real);
    clock_gettime(CLOCK_BOOTTIME, &boot);
    double boot_at = (double)real.tv_sec - (double)boot.tv_sec +
                     ((double)real.tv_nsec - (double)boot.tv_nsec) / 1e9;
    double started = boot_at + (double)start / tick;
    gauge_f(p, "process_start_time_seconds", "gauge",
            "Start time of the process since the Unix epoch in seconds.",
            started);
    gauge_f(p, "brokerd_uptime_seconds", "gauge",
            "Seconds since the process started.",
            (double)real.tv_sec + (double)real.tv_nsec / 1e9 - started);
}

static void fd_metrics(struct bk_prom *p)
{
    DIR *d = opendir("/proc/self/fd");
    if (d != NULL) {
        double n = 0;
        for (struct dirent *e = readdir(d); e != NULL; e = readdir(d)) {
            n += e->d_name[0] != '.';
        }
        closedir(d);
        /* The directory's own descriptor was counted. */
        gauge_f(p, "process_open_fds", "gauge",
                "Number of open file descriptors.", n - 1);
    }
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
        gauge_f(p, "process_max_fds", "gauge",
                "Maximum number of open file descriptors.",
                (double)rl.rlim_cur);
    }
}

void bk_http_proc_metrics(struct bk_prom *p)
{
    stat_metrics(p);
    fd_metrics(p);
}
