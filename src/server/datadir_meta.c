/* meta.properties and `brokerd format`. The file is Kafka's
 * (`kafka-storage.sh format` writes version, cluster.id and node.id);
 * brokerd adds controller.quorum.voters, the voter set the directory was
 * formatted with, because a node that starts with another set would
 * bootstrap a different quorum; and brokerd.join.quorum for a controller
 * formatted to join a running quorum (--no-initial-controllers), which
 * bootstraps nothing. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/err.h"
#include "server/datadir_int.h"

#define META_FILE  "meta.properties"
#define VOTERS_KEY "controller.quorum.voters"
#define JOIN_KEY   "brokerd.join.quorum"

/* The value of key if line is "key=value\n", else NULL. */
static char *value_of(char *line, const char *key)
{
    size_t kl = strlen(key);
    if (strncmp(line, key, kl) != 0 || line[kl] != '=') {
        return NULL;
    }
    char *v = line + kl + 1;
    v[strcspn(v, "\r\n")] = '\0';
    return v;
}

/* Copies v into dst; false when it does not fit. */
static bool copy_value(char *dst, size_t dstlen, const char *v)
{
    size_t n = strlen(v);
    if (n >= dstlen) {
        return false;
    }
    memcpy(dst, v, n + 1);
    return true;
}

int bk_meta_read(const char *dir, struct bk_meta *m, char *err, size_t errlen)
{
    char file[4200];
    snprintf(file, sizeof(file), "%s/" META_FILE, dir);
    memset(m, 0, sizeof(*m));
    FILE *f = fopen(file, "r");
    if (f == NULL) {
        if (errno == ENOENT) {
            return BK_ENOENT;
        }
        int e = errno;
        snprintf(err, errlen, "log.dirs: cannot read %s: %s", file,
                 strerror(e));
        return -e;
    }
    char line[BK_VOTERS_TEXT_SIZE + 64];
    char *v;
    bool ok = true;
    while (ok && fgets(line, sizeof(line), f) != NULL) {
        if ((v = value_of(line, "cluster.id")) != NULL) {
            ok = copy_value(m->cluster_id, sizeof(m->cluster_id), v);
        } else if ((v = value_of(line, "node.id")) != NULL) {
            m->has_node_id = true;
            m->node_id = strtoll(v, NULL, 10);
        } else if ((v = value_of(line, VOTERS_KEY)) != NULL) {
            m->has_voters = true;
            ok = copy_value(m->voters, sizeof(m->voters), v);
        } else if ((v = value_of(line, JOIN_KEY)) != NULL) {
            m->join = strcmp(v, "true") == 0;
        }
    }
    (void)fclose(f); /* read only */
    if (!ok) {
        snprintf(err, errlen, "log.dirs: %s has a value too long", file);
        return BK_ECORRUPT;
    }
    if (m->cluster_id[0] == '\0') {
        snprintf(err, errlen, "log.dirs: %s has no cluster.id", file);
        return BK_ECORRUPT;
    }
    return 0;
}

static int write_all(int fd, const char *buf, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, buf, n);
        if (w < 0 && errno == EINTR) {
            continue;
        }
        if (w <= 0) {
            return w < 0 ? -errno : BK_EIO;
        }
        buf += w;
        n -= (size_t)w;
    }
    return 0;
}

int bk_meta_write(const char *dir,
                  const struct bk_meta *m,
                  char *err,
                  size_t errlen)
{
    char tmp[4200], final[4200];
    snprintf(tmp, sizeof(tmp), "%s/" META_FILE ".tmp", dir);
    snprintf(final, sizeof(final), "%s/" META_FILE, dir);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) {
        int e = errno;
        snprintf(err, errlen, "log.dirs: cannot write %s: %s", tmp,
                 strerror(e));
        return -e;
    }
    char buf[BK_VOTERS_TEXT_SIZE + 256];
    int n = snprintf(buf, sizeof(buf),
                     "#\n#brokerd meta.properties\nversion=1\ncluster.id=%s\n"
                     "node.id=%lld\n",
                     m->cluster_id, (long long)m->node_id);
    if (m->has_voters) {
        n += snprintf(buf + n, sizeof(buf) - (size_t)n, VOTERS_KEY "=%s\n",
                      m->voters);
    }
    if (m->join) {
        n += snprintf(buf + n, sizeof(buf) - (size_t)n, JOIN_KEY "=true\n");
    }
    int rv = write_all(fd, buf, (size_t)n);
    if (rv == 0 && fsync(fd) != 0) {
        rv = -errno;
    }
    close(fd);
    if (rv == 0 && rename(tmp, final) != 0) {
        rv = -errno;
    }
    if (rv != 0) {
        snprintf(err, errlen, "log.dirs: cannot write %s: %s", final,
                 bk_strerror(rv));
        return rv;
    }
    /* The rename is durable only once the directory is synced. */
    int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
        (void)fsync(dfd);
        close(dfd);
    }
    return 0;
}

/* A voter set for a message: the single-node quorum has no text. */
static const char *shown(const char *voters)
{
    return voters[0] != '\0' ? voters : "(empty: a single node)";
}

int bk_meta_check(const char *dir,
                  const struct bk_meta *m,
                  int64_t node_id,
                  const char *voters,
                  char *err,
                  size_t errlen)
{
    if (m->has_node_id && m->node_id != node_id) {
        snprintf(err, errlen,
                 "node.id: %lld does not match node.id %lld stored in "
                 "%s/" META_FILE,
                 (long long)node_id, (long long)m->node_id, dir);
        return BK_ECONFIG;
    }
    if (voters != NULL && m->has_voters && strcmp(voters, m->voters) != 0) {
        snprintf(err, errlen,
                 "controller.quorum.voters: %.1000s is not the voter set "
                 "%.1000s that %s was formatted with",
                 shown(voters), shown(m->voters), dir);
        return BK_ECONFIG;
    }
    return 0;
}

bool bk_cluster_id_valid(const char *id)
{
    static const char b64url[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    /* 16 bytes are 22 characters of 6 bits, the last holding 2. */
    return strlen(id) == 22 && strspn(id, b64url) == 22;
}

int bk_datadir_format(const struct bk_config *cfg,
                      const char *cluster_id,
                      bool ignore_formatted,
                      bool join,
                      bool *formatted,
                      char *err,
                      size_t errlen)
{
    *formatted = false;
    if (!bk_cluster_id_valid(cluster_id)) {
        snprintf(err, errlen,
                 "--cluster-id: '%.64s' is not a cluster id (22 characters "
                 "of base64url, as brokerd random-uuid prints)",
                 cluster_id);
        return BK_EINVAL;
    }
    struct bk_meta m;
    if (bk_config_voters_text(cfg, m.voters, sizeof(m.voters)) != 0) {
        snprintf(err, errlen, "controller.quorum.voters: too long");
        return BK_ECONFIG;
    }
    struct bk_datadir d;
    int rv = bk_datadir_lock(&d, cfg->log_dirs, err, errlen);
    if (rv != 0) {
        return rv;
    }
    struct bk_meta old;
    rv = bk_meta_read(cfg->log_dirs, &old, err, errlen);
    if (rv == BK_ENOENT) {
        snprintf(m.cluster_id, sizeof(m.cluster_id), "%s", cluster_id);
        m.has_node_id = true;
        m.node_id = cfg->node_id;
        /* A joining controller takes the voter set from the quorum it
         * joins; controller.quorum.voters only tells it its own address. */
        m.has_voters = !join;
        m.join = join;
        rv = bk_meta_write(cfg->log_dirs, &m, err, errlen);
        *formatted = rv == 0;
    } else if (rv == 0 && strcmp(old.cluster_id, cluster_id) != 0) {
        /* Even with --ignore-formatted: this node's data belongs to
         * another cluster, and joining this one would mix the two. */
        snprintf(err, errlen,
                 "log.dirs: %s is formatted with cluster id %s, not %s",
                 cfg->log_dirs, old.cluster_id, cluster_id);
        rv = BK_ECONFIG;
    } else if (rv == 0 && !ignore_formatted) {
        snprintf(err, errlen,
                 "log.dirs: %s is already formatted (cluster id %s); "
                 "--ignore-formatted leaves it as it is",
                 cfg->log_dirs, old.cluster_id);
        rv = BK_EEXIST;
    } else if (rv == 0) {
        rv = bk_meta_check(cfg->log_dirs, &old, cfg->node_id, m.voters, err,
                           errlen);
    }
    bk_datadir_close(&d);
    return rv;
}
