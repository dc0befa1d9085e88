/* The real controller thread over raft_uv on a temporary directory and a
 * free loopback port, as a single voter: start, become active, register,
 * propose from several threads, stop, restart and find the state again;
 * the directory lock, a taken port and bad configs give one clear line. */
// clang-format off
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
// clang-format on
#include <arpa/inet.h>
#include <dirent.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "cluster/controller.h"
#include "cluster/fsm.h"
#include "cluster/ops.h"
#include "common/arena.h"
#include "common/diag.h"
#include "common/err.h"
#include "protocol/gen/alter_partition.h"

static int free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = { .sin_family = AF_INET };
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
    socklen_t len = sizeof(a);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &len), 0);
    close(fd);
    return ntohs(a.sin_port);
}

static void rm_rf(const char *path)
{
    DIR *d = opendir(path);
    if (d == NULL) {
        return;
    }
    struct dirent *e;
    char p[1024];
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) {
            continue;
        }
        snprintf(p, sizeof(p), "%s/%s", path, e->d_name);
        unlink(p);
    }
    closedir(d);
    rmdir(path);
}

struct env {
    char root[64];
    char dir[128];
    char voters[64];
    int port;
    struct bk_md_config cfg;
};

static int setup(void **state)
{
    struct env *e = calloc(1, sizeof(*e));
    snprintf(e->root, sizeof(e->root), "/tmp/bk-md-XXXXXX");
    assert_non_null(mkdtemp(e->root));
    /* The controller creates the metadata directory itself. */
    snprintf(e->dir, sizeof(e->dir), "%s/meta", e->root);
    e->port = free_port();
    snprintf(e->voters, sizeof(e->voters), "1@127.0.0.1:%d", e->port);
    e->cfg = (struct bk_md_config){
        .node_id = 1,
        .voters = e->voters,
        .dir = e->dir,
        .election_timeout_ms = 300,
        .heartbeat_timeout_ms = 50,
    };
    *state = e;
    return 0;
}

static int teardown(void **state)
{
    struct env *e = *state;
    rm_rf(e->dir);
    rmdir(e->root);
    free(e);
    return 0;
}

static int create_topic(struct bk_md *md, const char *name, int32_t parts)
{
    struct bk_arena arena;
    bk_arena_init(&arena, 4096, 0);
    struct bk_md_recs recs;
    bk_md_recs_init(&recs, &arena);
    char msg[BK_MD_MSG_SIZE];
    struct bk_md_topic_spec spec = {
        bk_str_c(name), parts, 1, 0, NULL, 0, NULL
    };
    struct bk_md_defaults defs = { 1, 1 };
    struct bk_md_image *img = bk_md_image_acquire(md);
    int16_t code = bk_md_op_create_topic(img, &spec, &defs, bk_md_rng_system(),
                                         &recs, NULL, msg);
    bk_md_image_release(img);
    assert_int_equal(code, 0);
    int rv = bk_md_propose_sync(md, recs.v, recs.n, 5000);
    bk_arena_destroy(&arena);
    return rv;
}

struct prop_thread {
    struct bk_md *md;
    int idx;
    atomic_int *done;
    atomic_int *ok;
};

static void count_cb(void *data, int status)
{
    struct prop_thread *p = data;
    if (status == 0) {
        atomic_fetch_add(p->ok, 1);
    }
    atomic_fetch_add(p->done, 1);
}

static void *prop_main(void *arg)
{
    struct prop_thread *p = arg;
    for (int i = 0; i < 25; i++) {
        struct bk_md_rec r = { .type = BK_MD_REC_CONFIG };
        char name[32];
        snprintf(name, sizeof(name), "k%d.%d", p->idx, i);
        r.u.config.resource_type = BK_MD_RES_BROKER;
        r.u.config.resource = bk_str_c("");
        r.u.config.name = bk_str_c(name);
        r.u.config.value = bk_str_c("v");
        if (bk_md_propose(p->md, &r, 1, count_cb, p) != 0) {
            atomic_fetch_add(p->done, 1);
        }
    }
    return NULL;
}

static void test_start_propose_restart(void **state)
{
    struct env *e = *state;
    char err[BK_ERRMSG_SIZE];
    struct bk_md *md;
    assert_int_equal(bk_md_start(&e->cfg, &md, err), 0);
    assert_int_equal(bk_md_wait_active(md, 10000), 0);
    assert_true(bk_md_is_active(md));
    assert_int_equal(bk_md_leader(md), 1);

    int64_t epoch;
    assert_int_equal(bk_md_register_broker_sync(md, 1, "127.0.0.1", 9092,
                                                "rack-a", 5000, &epoch),
                     0);
    assert_int_equal(create_topic(md, "orders", 4), 0);
    assert_int_equal(bk_md_barrier_sync(md, 5000), 0);
    struct bk_md_image *img = bk_md_image_acquire(md);
    const struct bk_md_topic *t = bk_md_image_topic(img, "orders", 6);
    assert_non_null(t);
    assert_int_equal(t->n_partitions, 4);
    struct bk_uuid id = t->id;
    bk_md_image_release(img);

    /* The same records again conflict: committed, but skipped. */
    struct bk_md_rec dup = { .type = BK_MD_REC_TOPIC };
    dup.u.topic.name = bk_str_c("orders");
    dup.u.topic.id = bk_md_random_uuid(bk_md_rng_system());
    assert_int_equal(bk_md_propose_sync(md, &dup, 1, 5000), BK_ESTATE);

    /* Proposals from several threads at once, coalesced into entries. */
    atomic_int done, ok;
    atomic_init(&done, 0);
    atomic_init(&ok, 0);
    pthread_t th[4];
    struct prop_thread pt[4];
    for (int i = 0; i < 4; i++) {
        pt[i] = (struct prop_thread){ md, i, &done, &ok };
        assert_int_equal(pthread_create(&th[i], NULL, prop_main, &pt[i]), 0);
    }
    for (int i = 0; i < 4; i++) {
        pthread_join(th[i], NULL);
    }
    for (int i = 0; i < 1000 && atomic_load(&done) < 100; i++) {
        usleep(10000);
    }
    assert_int_equal(atomic_load(&ok), 100);
    img = bk_md_image_acquire(md);
    assert_int_equal(bk_md_image_broker_configs(img, "")->n, 100);
    int64_t offset = img->offset;
    bk_md_image_release(img);

    /* A second controller on the same directory refuses to start. */
    struct bk_md *md2;
    int rv = bk_md_start(&e->cfg, &md2, err);
    assert_int_equal(rv, BK_EBUSY);
    char want[BK_ERRMSG_SIZE];
    snprintf(want, sizeof(want),
             "data directory %s is locked by another brokerd process", e->dir);
    assert_string_equal(err, want);

    /* Another directory but the same port: one line naming the address. */
    struct env other;
    memcpy(&other, e, sizeof(other));
    snprintf(other.dir, sizeof(other.dir), "%s/other", e->root);
    other.cfg.dir = other.dir;
    rv = bk_md_start(&other.cfg, &md2, err);
    assert_int_equal(rv, BK_EIO);
    snprintf(want, sizeof(want), "127.0.0.1:%d", e->port);
    assert_non_null(strstr(err, want));
    assert_non_null(strstr(err, "cannot listen"));
    rm_rf(other.dir);

    bk_md_stop(md);

    /* Restart: the log (and any snapshot) brings everything back. */
    rv = bk_md_start(&e->cfg, &md, err);
    if (rv != 0) {
        fprintf(stderr, "restart: %s\n", err);
    }
    assert_int_equal(rv, 0);
    assert_int_equal(bk_md_wait_active(md, 10000), 0);
    img = bk_md_image_acquire(md);
    t = bk_md_image_topic(img, "orders", 6);
    assert_non_null(t);
    assert_memory_equal(t->id.b, id.b, 16);
    assert_int_equal(t->n_partitions, 4);
    assert_string_equal(bk_md_image_broker(img, 1)->rack, "rack-a");
    assert_int_equal(img->offset, offset);
    bk_md_image_release(img);
    assert_int_equal(create_topic(md, "more", 1), 0);
    bk_md_stop(md);
}

static void test_bad_configs(void **state)
{
    struct env *e = *state;
    char err[BK_ERRMSG_SIZE];
    struct bk_md *md;
    struct bk_md_config c = e->cfg;
    c.voters = "1@127.0.0.1";
    assert_int_equal(bk_md_start(&c, &md, err), BK_ECONFIG);
    assert_non_null(strstr(err, "controller.quorum.voters: bad entry"));
    c.voters = "";
    assert_int_equal(bk_md_start(&c, &md, err), BK_ECONFIG);
    c.voters = "2@127.0.0.1:1,3@127.0.0.1:2";
    assert_int_equal(bk_md_start(&c, &md, err), BK_ECONFIG);
    assert_non_null(strstr(err, "node.id 1 is not in"));
    c.voters = "1@127.0.0.1:1,1@127.0.0.1:2";
    assert_int_equal(bk_md_start(&c, &md, err), BK_ECONFIG);
    assert_non_null(strstr(err, "twice"));
}

/* A follower-to-be: two voters, only one running, never gets a quorum. It
 * starts, is never active, and refuses proposals with BK_ENOTLEADER. */
static void test_no_quorum(void **state)
{
    struct env *e = *state;
    char voters[96];
    snprintf(voters, sizeof(voters), "1@127.0.0.1:%d,2@127.0.0.1:%d", e->port,
             free_port());
    struct bk_md_config c = e->cfg;
    c.voters = voters;
    char err[BK_ERRMSG_SIZE];
    struct bk_md *md;
    assert_int_equal(bk_md_start(&c, &md, err), 0);
    assert_int_equal(bk_md_wait_active(md, 300), BK_ENOTLEADER);
    struct bk_md_rec r = { .type = BK_MD_REC_REMOVE_TOPIC };
    assert_int_equal(bk_md_propose_sync(md, &r, 1, 2000), BK_ENOTLEADER);
    assert_int_equal(bk_md_barrier_sync(md, 2000), BK_ENOTLEADER);
    bk_md_stop(md);
}

/* With a tiny snapshot threshold the restart goes through raft_uv's
 * snapshot files and the FSM's restore, then replays the log tail. */
static void test_snapshot_restart(void **state)
{
    struct env *e = *state;
    struct bk_md_config c = e->cfg;
    c.snapshot_threshold = 8;
    c.snapshot_trailing = 2;
    char err[BK_ERRMSG_SIZE];
    struct bk_md *md;
    assert_int_equal(bk_md_start(&c, &md, err), 0);
    assert_int_equal(bk_md_wait_active(md, 10000), 0);
    assert_int_equal(
        bk_md_register_broker_sync(md, 1, "h", 1, NULL, 5000, NULL), 0);
    char name[32];
    for (int i = 0; i < 30; i++) {
        snprintf(name, sizeof(name), "s%d", i);
        assert_int_equal(create_topic(md, name, 2), 0);
    }
    struct bk_md_image *img = bk_md_image_acquire(md);
    int64_t offset = img->offset;
    bk_md_image_release(img);
    bk_md_stop(md);

    /* raft_uv wrote at least one snapshot. */
    DIR *d = opendir(e->dir);
    int snaps = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        snaps += strncmp(de->d_name, "snapshot-", 9) == 0;
    }
    closedir(d);
    assert_true(snaps > 0);

    assert_int_equal(bk_md_start(&c, &md, err), 0);
    assert_int_equal(bk_md_wait_active(md, 10000), 0);
    img = bk_md_image_acquire(md);
    assert_int_equal(img->offset, offset);
    assert_int_equal(img->n_topics, 30);
    assert_int_equal(bk_md_image_topic(img, "s29", 3)->n_partitions, 2);
    bk_md_image_release(img);
    bk_md_stop(md);
}

/* Counts this process's connected TCP sockets to or from one of the ports,
 * and how many of them have TCP_NODELAY set. */
static void count_nodelay(const int *ports,
                          int n_ports,
                          int *conns,
                          int *nodelay)
{
    *conns = 0;
    *nodelay = 0;
    DIR *d = opendir("/proc/self/fd");
    assert_non_null(d);
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        int fd = atoi(de->d_name);
        /* Zeroed: the analyzer does not see getsockname fill local. */
        struct sockaddr_in local = { 0 }, peer = { 0 };
        socklen_t ll = sizeof(local), pl = sizeof(peer);
        if (de->d_name[0] == '.' || fd == dirfd(d) ||
            getsockname(fd, (struct sockaddr *)&local, &ll) != 0 ||
            local.sin_family != AF_INET ||
            getpeername(fd, (struct sockaddr *)&peer, &pl) != 0) {
            continue;
        }
        bool ours = false;
        for (int i = 0; i < n_ports; i++) {
            ours = ours || ntohs(local.sin_port) == ports[i] ||
                   ntohs(peer.sin_port) == ports[i];
        }
        if (!ours) {
            continue;
        }
        int v = 0;
        socklen_t vl = sizeof(v);
        (*conns)++;
        if (getsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &v, &vl) == 0 && v) {
            (*nodelay)++;
        }
    }
    closedir(d);
}

static int wait_active_of(struct bk_md **mds, int n, int skip)
{
    for (int t = 0; t < 2000; t++) {
        for (int i = 0; i < n; i++) {
            if (i != skip && mds[i] != NULL && bk_md_is_active(mds[i])) {
                return i;
            }
        }
        usleep(5000);
    }
    return -1;
}

static bool has_topic(struct bk_md *md, const char *name)
{
    struct bk_md_image *img = bk_md_image_acquire(md);
    bool found = bk_md_image_topic(img, name, strlen(name)) != NULL;
    bk_md_image_release(img);
    return found;
}

static void wait_topic(struct bk_md *md, const char *name)
{
    for (int t = 0; t < 4000 && !has_topic(md, name); t++) {
        usleep(5000);
    }
    assert_true(has_topic(md, name));
}

/* Three real controllers over loopback TCP in one process: one becomes
 * active, followers converge and refuse proposals, the leader stops, a new
 * one takes over, and the old one rejoins and catches up. */
/* A member request answered on the raft thread, waited for here. */
struct member_wait {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    bool done;
    struct bk_md_member_resp resp;
};

static void member_cb(void *data, const struct bk_md_member_resp *resp)
{
    struct member_wait *w = data;
    pthread_mutex_lock(&w->lock);
    w->resp = *resp;
    w->done = true;
    pthread_cond_signal(&w->cond);
    pthread_mutex_unlock(&w->lock);
}

static struct bk_md_member_resp member_wait(struct member_wait *w)
{
    pthread_mutex_lock(&w->lock);
    while (!w->done) {
        pthread_cond_wait(&w->cond, &w->lock);
    }
    pthread_mutex_unlock(&w->lock);
    return w->resp;
}

static struct bk_md_member_resp do_register(struct bk_md *md,
                                            const struct bk_md_registration *r)
{
    struct member_wait w = {
        PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, false, { 0 }
    };
    assert_int_equal(bk_md_broker_register(md, r, member_cb, &w), 0);
    return member_wait(&w);
}

static struct bk_md_member_resp do_heartbeat(struct bk_md *md,
                                             const struct bk_md_heartbeat *h)
{
    struct member_wait w = {
        PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, false, { 0 }
    };
    assert_int_equal(bk_md_broker_heartbeat(md, h, member_cb, &w), 0);
    return member_wait(&w);
}

/* Issue 12, the controller's side of membership: the active controller
 * records its endpoint and the cluster id; a broker registers fenced, is
 * unfenced once caught up, gets its epoch back on a retry, is refused for
 * another cluster id, another live incarnation or a stale epoch; a
 * controlled shutdown is told to go once it leads nothing; a broker whose
 * session lapses is fenced. */
static void test_membership(void **state)
{
    struct env *e = *state;
    e->cfg.ctl_host = "127.0.0.1";
    e->cfg.ctl_port = 9093;
    e->cfg.cluster_id = "Q2x1c3Rlci1JZC0xMjM0NQ";
    e->cfg.broker_session_ms = 400;
    struct bk_md *md = NULL;
    char err[BK_ERRMSG_SIZE];
    assert_int_equal(bk_md_start(&e->cfg, &md, err), 0);
    assert_int_equal(bk_md_wait_active(md, 10000), 0);
    struct bk_md_image *img = NULL;
    for (int i = 0; i < 500; i++) {
        bk_md_image_release(img);
        img = bk_md_image_acquire(md);
        if (bk_md_image_controller(img, 1) != NULL) {
            break;
        }
        usleep(10000);
    }
    assert_int_equal(bk_md_image_controller(img, 1)->port, 9093);
    assert_string_equal(img->cluster_id, "Q2x1c3Rlci1JZC0xMjM0NQ");
    bk_md_image_release(img);

    struct bk_md_registration reg = { .id = 7,
                                      .incarnation = { { 7 } },
                                      .cluster_id = "Q2x1c3Rlci1JZC0xMjM0NQ",
                                      .host = "127.0.0.1",
                                      .port = 19092 };
    struct bk_md_member_resp r = do_register(md, &reg);
    assert_int_equal(r.error, 0);
    int64_t epoch = r.epoch;
    assert_int_equal(do_register(md, &reg).epoch, epoch); /* a retry */
    reg.incarnation.b[0] = 8;
    reg.cluster_id = "b3RoZXItY2x1c3Rlci1pZA";
    assert_int_equal(do_register(md, &reg).error, 104);
    reg.cluster_id = "Q2x1c3Rlci1JZC0xMjM0NQ";

    /* Behind its registration: stays fenced; caught up: unfenced. */
    struct bk_md_heartbeat hb = { .id = 7,
                                  .epoch = epoch,
                                  .metadata_offset = 0 };
    r = do_heartbeat(md, &hb);
    assert_int_equal(r.error, 0);
    assert_true(r.fenced);
    assert_false(r.caught_up);
    hb.metadata_offset = epoch + 1;
    r = do_heartbeat(md, &hb);
    assert_false(r.fenced);
    assert_true(r.caught_up);
    /* Another incarnation while this one is live. */
    assert_int_equal(do_register(md, &reg).error, 101);
    hb.epoch = epoch + 100;
    assert_int_equal(do_heartbeat(md, &hb).error, 77);
    hb.epoch = epoch;

    /* Controlled shutdown of broker 7: it leads nothing here, so the next
     * heartbeat lets it go, fenced (Kafka's SHUTDOWN_NOW). */
    hb.want_shut_down = true;
    r = do_heartbeat(md, &hb);
    assert_int_equal(r.error, 0);
    assert_false(r.should_shut_down);
    img = bk_md_image_acquire(md);
    assert_true(bk_md_image_broker(img, 7)->in_controlled_shutdown);
    bk_md_image_release(img);
    r = do_heartbeat(md, &hb);
    assert_true(r.should_shut_down);
    assert_true(r.fenced);
    /* No more heartbeats from an unfenced broker 8: fenced within about
     * 1.25 sessions. */
    struct bk_md_registration reg8 = reg;
    reg8.id = 8;
    r = do_register(md, &reg8);
    assert_int_equal(r.error, 0);
    struct bk_md_heartbeat hb8 = { .id = 8,
                                   .epoch = r.epoch,
                                   .metadata_offset = r.epoch + 1 };
    assert_false(do_heartbeat(md, &hb8).fenced);
    bool fenced = false;
    for (int i = 0; i < 300 && !fenced; i++) {
        usleep(10000);
        img = bk_md_image_acquire(md);
        fenced = bk_md_image_broker(img, 8)->fenced;
        bk_md_image_release(img);
    }
    assert_true(fenced);

    /* Broker 7's next life registers with a new epoch: no session of a
     * live broker stands in the way. */
    r = do_register(md, &reg);
    assert_int_equal(r.error, 0);
    assert_true(r.epoch > epoch);
    bk_md_stop(md);
}

/* What a pulling broker gets (bk_md_pull): the entries after an entry
 * boundary, which rebuild the same image when applied in order; nothing
 * when it is up to date; the whole image when its offset is not one the
 * tail has. */
static void test_pull(void **state)
{
    struct env *e = *state;
    struct bk_md *md = NULL;
    char err[BK_ERRMSG_SIZE];
    assert_int_equal(bk_md_start(&e->cfg, &md, err), 0);
    assert_int_equal(bk_md_wait_active(md, 10000), 0);
    assert_int_equal(
        bk_md_register_broker_sync(md, 1, "127.0.0.1", 9092, NULL, 5000, NULL),
        0);
    assert_int_equal(create_topic(md, "p1", 2), 0);
    assert_int_equal(create_topic(md, "p2", 3), 0);
    struct bk_md_image *img = bk_md_image_acquire(md);
    struct bk_arena arena;
    bk_arena_init(&arena, 4096, 0);
    uint8_t *payload;
    size_t len;
    int64_t high;
    assert_int_equal(bk_md_pull(md, 0, 1 << 20, &arena, &payload, &len, &high),
                     0);
    assert_int_equal(high, img->offset);
    assert_non_null(payload);
    assert_int_equal(payload[0], BK_MD_PULL_ENTRIES);
    /* Apply them to a fresh state machine: the same offset and topics. */
    struct bk_md_fsm f;
    assert_int_equal(bk_md_fsm_init(&f), 0);
    struct bk_rd rd;
    bk_rd_init(&rd, payload + 1, len - 1);
    while (bk_rd_left(&rd) > 0) {
        int64_t first = bk_rd_i64(&rd);
        int64_t next = bk_rd_i64(&rd);
        int32_t n = bk_rd_i32(&rd);
        assert_int_equal(first, f.cur->offset);
        assert_int_equal(bk_md_fsm_apply_entry(&f, rd.buf + rd.pos, (size_t)n),
                         0);
        assert_int_equal(f.cur->offset, next);
        bk_rd_skip(&rd, (size_t)n);
    }
    assert_int_equal(f.cur->offset, img->offset);
    assert_int_equal(f.cur->n_topics, 2);
    bk_md_fsm_close(&f);
    /* Up to date: nothing. */
    assert_int_equal(
        bk_md_pull(md, img->offset, 1 << 20, &arena, &payload, &len, &high), 0);
    assert_null(payload);
    /* Not an entry boundary: the image. */
    assert_int_equal(bk_md_pull(md, 1, 1 << 20, &arena, &payload, &len, &high),
                     0);
    assert_int_equal(payload[0], BK_MD_PULL_IMAGE);
    struct bk_md_image *copy;
    assert_int_equal(bk_md_image_restore(payload + 1, len - 1, &copy), 0);
    assert_int_equal(copy->offset, img->offset);
    assert_int_equal(copy->n_topics, 2);
    bk_md_image_release(copy);
    bk_arena_destroy(&arena);
    bk_md_image_release(img);
    bk_md_stop(md);
}

struct quorum_wait {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    bool done;
    size_t n_voters;
};

static void quorum_cb(void *data, int status, struct bk_md_quorum *q)
{
    struct quorum_wait *w = data;
    pthread_mutex_lock(&w->lock);
    w->n_voters = status == 0 ? q->n_voters : 0;
    w->done = true;
    pthread_cond_signal(&w->cond);
    pthread_mutex_unlock(&w->lock);
    bk_md_quorum_free(q);
}

/* The voters the active controller reports (DescribeQuorum's view). */
static size_t voters_of(struct bk_md *md)
{
    struct quorum_wait w = { PTHREAD_MUTEX_INITIALIZER,
                             PTHREAD_COND_INITIALIZER, false, 0 };
    assert_int_equal(bk_md_describe_quorum(md, quorum_cb, &w), 0);
    pthread_mutex_lock(&w.lock);
    while (!w.done) {
        pthread_cond_wait(&w.cond, &w.lock);
    }
    pthread_mutex_unlock(&w.lock);
    return w.n_voters;
}

static struct bk_md_member_resp change_voter(struct bk_md *md,
                                             int32_t id,
                                             const char *address)
{
    struct member_wait w = {
        PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, false, { 0 }
    };
    int rv = address != NULL ? bk_md_add_voter(md, id, address, member_cb, &w)
                             : bk_md_remove_voter(md, id, member_cb, &w);
    assert_int_equal(rv, 0);
    return member_wait(&w);
}

/* Issue 12: a controller joins a running quorum with an empty log, is
 * added as a voter once it has caught up, and counts in the quorum; a
 * voter is removed; the active controller does not remove itself; a
 * second add of a member is refused. */
static void test_add_and_remove_voter(void **state)
{
    struct env *e = *state;
    int ports[4] = { e->port, free_port(), free_port(), free_port() };
    char voters[160], joiner[200];
    snprintf(voters, sizeof(voters),
             "0@127.0.0.1:%d,1@127.0.0.1:%d,2@127.0.0.1:%d", ports[0], ports[1],
             ports[2]);
    snprintf(joiner, sizeof(joiner), "%s,3@127.0.0.1:%d", voters, ports[3]);
    char dirs[4][128];
    struct bk_md_config cfgs[4];
    struct bk_md *mds[4] = { NULL, NULL, NULL, NULL };
    char err[BK_ERRMSG_SIZE];
    for (int i = 0; i < 4; i++) {
        snprintf(dirs[i], sizeof(dirs[i]), "%s/n%d", e->root, i);
        cfgs[i] = e->cfg;
        cfgs[i].node_id = i;
        cfgs[i].voters = i < 3 ? voters : joiner;
        cfgs[i].join = i == 3;
        cfgs[i].dir = dirs[i];
        if (i < 3) {
            assert_int_equal(bk_md_start(&cfgs[i], &mds[i], err), 0);
        }
    }
    int a = wait_active_of(mds, 3, -1);
    assert_true(a >= 0);
    assert_int_equal(bk_md_register_broker_sync(mds[a], 0, "127.0.0.1", 9092,
                                                NULL, 5000, NULL),
                     0);
    assert_int_equal(create_topic(mds[a], "before-join", 1), 0);
    assert_int_equal(voters_of(mds[a]), 3);

    /* The joiner starts with an empty log and writes no configuration. */
    assert_int_equal(bk_md_start(&cfgs[3], &mds[3], err), 0);
    char addr[64];
    snprintf(addr, sizeof(addr), "127.0.0.1:%d", ports[3]);
    struct bk_md_member_resp r = change_voter(mds[a], 3, addr);
    assert_int_equal(r.error, 0);
    wait_topic(mds[3], "before-join");
    assert_int_equal(voters_of(mds[a]), 4);
    assert_int_equal(change_voter(mds[a], 3, addr).error, 126);
    assert_int_equal(change_voter(mds[a], a, NULL).error, 42);

    /* Two voters stop: 2 of 4 is no majority... */
    int gone[2], k = 0;
    for (int i = 0; i < 3 && k < 2; i++) {
        if (i != a) {
            gone[k++] = i;
        }
    }
    bk_md_stop(mds[gone[0]]);
    mds[gone[0]] = NULL;
    /* ...so one of them leaves the quorum first: 3 voters, 2 running. */
    r = change_voter(mds[a], gone[0], NULL);
    assert_int_equal(r.error, 0);
    assert_int_equal(voters_of(mds[a]), 3);
    assert_int_equal(change_voter(mds[a], gone[0], NULL).error, 127);
    bk_md_stop(mds[gone[1]]);
    mds[gone[1]] = NULL;
    /* The leader and the new voter are a majority of three. */
    assert_int_equal(create_topic(mds[a], "after-change", 1), 0);
    wait_topic(mds[3], "after-change");
    for (int i = 0; i < 4; i++) {
        bk_md_stop(mds[i]);
        rm_rf(dirs[i]);
    }
}

static void test_three_voters_failover(void **state)
{
    struct env *e = *state;
    char voters[128];
    int ports[3] = { e->port, free_port(), free_port() };
    snprintf(voters, sizeof(voters),
             "0@127.0.0.1:%d,1@127.0.0.1:%d,2@127.0.0.1:%d", ports[0], ports[1],
             ports[2]);
    char dirs[3][128];
    struct bk_md_config cfgs[3];
    struct bk_md *mds[3] = { NULL, NULL, NULL };
    char err[BK_ERRMSG_SIZE];
    for (int i = 0; i < 3; i++) {
        snprintf(dirs[i], sizeof(dirs[i]), "%s/n%d", e->root, i);
        cfgs[i] = e->cfg;
        cfgs[i].node_id = i;
        cfgs[i].voters = voters;
        cfgs[i].dir = dirs[i];
        /* Snapshots early, so that a node that was away catches up by
         * InstallSnapshot below. */
        cfgs[i].snapshot_threshold = 32;
        cfgs[i].snapshot_trailing = 8;
        assert_int_equal(bk_md_start(&cfgs[i], &mds[i], err), 0);
    }
    int a = wait_active_of(mds, 3, -1);
    assert_true(a >= 0);
    for (int32_t id = 0; id < 3; id++) {
        assert_int_equal(
            bk_md_register_broker_sync(mds[a], id, "127.0.0.1", 9092 + id, NULL,
                                       5000, NULL),
            0);
    }
    struct bk_arena arena;
    bk_arena_init(&arena, 4096, 0);
    struct bk_md_recs recs;
    bk_md_recs_init(&recs, &arena);
    char msg[BK_MD_MSG_SIZE];
    struct bk_md_topic_spec spec = {
        bk_str_c("replicated"), 6, 3, 0, NULL, 0, NULL
    };
    struct bk_md_defaults defs = { 1, 1 };
    struct bk_md_image *img = bk_md_image_acquire(mds[a]);
    assert_int_equal(
        bk_md_op_create_topic(img, &spec, &defs, bk_md_rng_system(), &recs,
                              NULL, msg),
        0);
    bk_md_image_release(img);
    assert_int_equal(bk_md_propose_sync(mds[a], recs.v, recs.n, 5000), 0);
    bk_arena_destroy(&arena);
    for (int i = 0; i < 3; i++) {
        wait_topic(mds[i], "replicated");
        if (i != a) {
            assert_int_equal(bk_md_leader(mds[i]), a);
            assert_int_equal(bk_md_propose_sync(mds[i], recs.v, 0, 100),
                             BK_EINVAL);
            assert_int_equal(bk_md_barrier_sync(mds[i], 5000), BK_ENOTLEADER);
        }
    }

    /* raft-notes §3.3: every raft connection, accepted or connected, has
     * TCP_NODELAY (our transport wrapper). */
    int conns, nodelay;
    count_nodelay(ports, 3, &conns, &nodelay);
    assert_true(conns >= 4);
    assert_int_equal(nodelay, conns);

    /* The active controller goes away; another takes over. */
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    bk_md_stop(mds[a]);
    mds[a] = NULL;
    int b = wait_active_of(mds, 3, a);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    long ms =
        (t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000;
    fprintf(stderr, "failover after a controlled stop: %ld ms\n", ms);
    assert_true(b >= 0);
    assert_int_not_equal(b, a);
    assert_true(has_topic(mds[b], "replicated"));
    assert_int_equal(create_topic(mds[b], "after-failover", 2), 0);
    int c = 3 - a - b;
    wait_topic(mds[c], "after-failover");

    /* While it is away the log moves far past it and is compacted. */
    for (int k = 0; k < 100; k++) {
        char name[32];
        snprintf(name, sizeof(name), "away-%d", k);
        assert_int_equal(create_topic(mds[b], name, 1), 0);
    }
    /* The old leader rejoins and catches up, by the leader's snapshot. */
    assert_int_equal(bk_md_start(&cfgs[a], &mds[a], err), 0);
    int64_t before = bk_md_images_installed(mds[a]);
    wait_topic(mds[a], "away-99");
    assert_true(bk_md_images_installed(mds[a]) > before);
    struct bk_md_image *ib = bk_md_image_acquire(mds[b]);
    struct bk_md_image *ia = bk_md_image_acquire(mds[a]);
    assert_int_equal(ia->n_topics, ib->n_topics);
    bk_md_image_release(ia);
    bk_md_image_release(ib);
    for (int i = 0; i < 3; i++) {
        bk_md_stop(mds[i]);
        rm_rf(dirs[i]);
    }
}

/* An AlterPartition, encoded and decoded as it travels, answered by the
 * controller once applied. */
struct ap_wait {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    bool done;
};

static void ap_cb(void *data, int status)
{
    struct ap_wait *w = data;
    assert_int_equal(status, 0);
    pthread_mutex_lock(&w->lock);
    w->done = true;
    pthread_cond_signal(&w->cond);
    pthread_mutex_unlock(&w->lock);
}

static void send_alter(struct bk_md *md,
                       const struct bk_msg_alter_partition_request *in,
                       struct bk_arena *arena,
                       struct bk_msg_alter_partition_response *resp)
{
    size_t n = bk_msg_alter_partition_request_size(in, 3);
    uint8_t *buf = bk_arena_alloc(arena, n);
    struct bk_wr wr;
    bk_wr_init(&wr, buf, n);
    assert_int_equal(bk_msg_alter_partition_request_encode(in, &wr, 3), 0);
    struct bk_msg_alter_partition_request *req =
        bk_arena_alloc(arena, sizeof(*req));
    struct bk_rd rd;
    bk_rd_init(&rd, buf, n);
    assert_int_equal(bk_msg_alter_partition_request_decode(req, &rd, 3, arena),
                     0);
    assert_int_equal(bk_md_alter_partition_prepare(req, 3, resp, arena), 0);
    struct ap_wait w = { PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER,
                         false };
    assert_int_equal(bk_md_alter_partition(md, req, 3, resp, ap_cb, &w), 0);
    pthread_mutex_lock(&w.lock);
    while (!w.done) {
        pthread_cond_wait(&w.cond, &w.lock);
    }
    pthread_mutex_unlock(&w.lock);
}

/* Issue 13: the leader of a partition with replicas {1, 2, 3} grows its
 * ISR to all three through the controller, which answers once the image
 * shows it; the same request again (its partition epoch now stale) gets
 * INVALID_UPDATE_VERSION, and a wrong broker epoch STALE_BROKER_EPOCH. */
static void test_alter_partition(void **state)
{
    struct env *e = *state;
    struct bk_md *md = NULL;
    char err[BK_ERRMSG_SIZE];
    assert_int_equal(bk_md_start(&e->cfg, &md, err), 0);
    assert_int_equal(bk_md_wait_active(md, 10000), 0);
    struct bk_arena arena;
    bk_arena_init(&arena, 4096, 0);
    struct bk_md_recs recs;
    bk_md_recs_init(&recs, &arena);
    char msg[BK_MD_MSG_SIZE];
    int64_t epochs[4];
    for (int32_t id = 1; id <= 3; id++) {
        assert_int_equal(
            bk_md_register_broker_sync(md, id, "127.0.0.1", 9000 + id, NULL,
                                       5000, &epochs[id]),
            0);
    }
    static const int32_t reps[] = { 1, 2, 3 };
    struct bk_md_replicas a = { 0, 3, reps };
    struct bk_md_topic_spec spec = { bk_str_c("isr"), -1, -1, 0, NULL, 1, &a };
    struct bk_md_defaults defs = { 1, 1 };
    struct bk_md_create_result res;
    struct bk_md_image *img = bk_md_image_acquire(md);
    assert_int_equal(
        bk_md_op_create_topic(img, &spec, &defs, bk_md_rng_system(), &recs,
                              &res, msg),
        0);
    bk_md_image_release(img);
    /* Followers not caught up yet: the leader alone in the ISR. */
    for (size_t i = 0; i < recs.n; i++) {
        if (recs.v[i].type == BK_MD_REC_PARTITION) {
            recs.v[i].u.partition.n_isr = 1;
        }
    }
    assert_int_equal(bk_md_propose_sync(md, recs.v, recs.n, 5000), 0);

    struct bk_msg_alter_partition_request_broker_state isr[3];
    for (int i = 0; i < 3; i++) {
        isr[i] = (struct bk_msg_alter_partition_request_broker_state){
            reps[i], epochs[reps[i]]
        };
    }
    struct bk_msg_alter_partition_request_partition_data pd = {
        .partition_index = 0,
        .leader_epoch = 0,
        .new_isr_count = -1,
        .new_isr_with_epochs = isr,
        .new_isr_with_epochs_count = 3,
        .partition_epoch = 0,
    };
    struct bk_msg_alter_partition_request_topic_data td = {
        .topic_id = res.topic_id, .partitions = &pd, .partitions_count = 1
    };
    struct bk_msg_alter_partition_request req = { .broker_id = 1,
                                                  .broker_epoch = epochs[1],
                                                  .topics = &td,
                                                  .topics_count = 1 };
    struct bk_msg_alter_partition_response resp;
    send_alter(md, &req, &arena, &resp);
    assert_int_equal(resp.error_code, 0);
    assert_int_equal(resp.topics_count, 1);
    const struct bk_msg_alter_partition_response_partition_data *rp =
        &resp.topics[0].partitions[0];
    assert_int_equal(rp->error_code, 0);
    assert_int_equal(rp->leader_id, 1);
    assert_int_equal(rp->leader_epoch, 0);
    assert_int_equal(rp->partition_epoch, 1);
    assert_int_equal(rp->isr_count, 3);
    /* Answered after the apply: the image already shows it. */
    img = bk_md_image_acquire(md);
    const struct bk_md_partition *p =
        bk_md_topic_partition(bk_md_image_topic_by_id(img, &res.topic_id), 0);
    assert_int_equal(p->n_isr, 3);
    assert_memory_equal(p->isr, reps, sizeof(reps));
    assert_int_equal(p->partition_epoch, 1);
    bk_md_image_release(img);

    send_alter(md, &req, &arena, &resp);
    assert_int_equal(resp.error_code, 0);
    assert_int_equal(resp.topics[0].partitions[0].error_code, 95);
    /* Refused: the schema's defaults, as Kafka answers. */
    assert_int_equal(resp.topics[0].partitions[0].leader_id, 0);
    assert_int_equal(resp.topics[0].partitions[0].partition_epoch, 0);
    assert_int_equal(resp.topics[0].partitions[0].isr_count, 0);

    /* A change decided on the same image commits first (as an election
     * would): the image skips this request's record, and the answer must
     * not claim its ISR (INVALID_UPDATE_VERSION sends the leader to the
     * metadata). Queued before the request, so that the controller
     * validates the request before the competing entry is applied. */
    static const int32_t won[] = { 1, 2 };
    struct bk_md_rec rival = { .type = BK_MD_REC_PARTITION };
    rival.u.partition = (struct bk_md_partition_rec){
        .topic_id = res.topic_id,
        .partition = 0,
        .n_replicas = 3,
        .replicas = reps,
        .n_isr = 2,
        .isr = won,
        .leader = 1,
        .leader_epoch = 0,
        .partition_epoch = 2,
    };
    struct ap_wait rw = { PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER,
                          false };
    pd.partition_epoch = 1;
    pd.new_isr_with_epochs_count = 2;
    isr[1] = isr[2]; /* {1, 3}: 2 leaves */
    assert_int_equal(bk_md_propose(md, &rival, 1, ap_cb, &rw), 0);
    send_alter(md, &req, &arena, &resp);
    assert_int_equal(resp.error_code, 0);
    assert_int_equal(resp.topics[0].partitions[0].error_code, 95);
    assert_int_equal(resp.topics[0].partitions[0].isr_count, 0);
    pthread_mutex_lock(&rw.lock);
    while (!rw.done) {
        pthread_cond_wait(&rw.cond, &rw.lock);
    }
    pthread_mutex_unlock(&rw.lock);
    img = bk_md_image_acquire(md);
    p = bk_md_topic_partition(bk_md_image_topic_by_id(img, &res.topic_id), 0);
    assert_int_equal(p->partition_epoch, 2);
    assert_memory_equal(p->isr, won, sizeof(won));
    bk_md_image_release(img);

    req.broker_epoch = epochs[1] + 1000;
    send_alter(md, &req, &arena, &resp);
    assert_int_equal(resp.error_code, 77);
    assert_int_equal(resp.topics_count, 0);

    bk_md_stop(md);
    bk_arena_destroy(&arena);
}

int main(void)
{
    bk_diag_set_level(getenv("BK_TEST_DEBUG") ? BK_DIAG_DEBUG : BK_DIAG_WARN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_start_propose_restart, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_snapshot_restart, setup, teardown),
        cmocka_unit_test_setup_teardown(test_three_voters_failover, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_bad_configs, setup, teardown),
        cmocka_unit_test_setup_teardown(test_membership, setup, teardown),
        cmocka_unit_test_setup_teardown(test_pull, setup, teardown),
        cmocka_unit_test_setup_teardown(test_add_and_remove_voter, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_no_quorum, setup, teardown),
        cmocka_unit_test_setup_teardown(test_alter_partition, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
