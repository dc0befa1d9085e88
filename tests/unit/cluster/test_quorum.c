/* bk_md_describe_quorum on the real controller thread (a single voter over
 * raft_uv on a temporary directory): the leader, the term tracked through
 * the wrapped raft io (kept across a restart), the high watermark, the
 * leader's own progress, and a broker that heartbeats without being a
 * voter reported as an observer with the offset it sent. */
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
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "cluster/controller.h"
#include "common/err.h"

#define CLUSTER_ID "Q2x1c3Rlci1JZC0xMjM0NQ"

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
        if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0) {
            snprintf(p, sizeof(p), "%s/%s", path, e->d_name);
            unlink(p);
        }
    }
    closedir(d);
    rmdir(path);
}

struct env {
    char root[64];
    char dir[128];
    char voters[64];
    struct bk_md_config cfg;
};

static int setup(void **state)
{
    struct env *e = calloc(1, sizeof(*e));
    snprintf(e->root, sizeof(e->root), "/tmp/bk-quorum-XXXXXX");
    assert_non_null(mkdtemp(e->root));
    snprintf(e->dir, sizeof(e->dir), "%s/meta", e->root);
    snprintf(e->voters, sizeof(e->voters), "1@127.0.0.1:%d", free_port());
    e->cfg = (struct bk_md_config){
        .node_id = 1,
        .voters = e->voters,
        .dir = e->dir,
        .election_timeout_ms = 300,
        .heartbeat_timeout_ms = 50,
        .cluster_id = CLUSTER_ID,
        .broker_session_ms = 60000,
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

/* A callback on the raft thread, waited for here. */
struct waiter {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    bool done;
    int status;
    struct bk_md_quorum *q;
    struct bk_md_member_resp resp;
};

#define WAITER_INIT                                                          \
    {                                                                        \
        PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, false, 0, NULL, \
        {                                                                    \
            0                                                                \
        }                                                                    \
    }

static void signal_done(struct waiter *w)
{
    w->done = true;
    pthread_cond_signal(&w->cond);
    pthread_mutex_unlock(&w->lock);
}

static void quorum_cb(void *data, int status, struct bk_md_quorum *q)
{
    struct waiter *w = data;
    pthread_mutex_lock(&w->lock);
    w->status = status;
    w->q = q;
    signal_done(w);
}

static void member_cb(void *data, const struct bk_md_member_resp *resp)
{
    struct waiter *w = data;
    pthread_mutex_lock(&w->lock);
    w->resp = *resp;
    signal_done(w);
}

static void wait_done(struct waiter *w)
{
    pthread_mutex_lock(&w->lock);
    while (!w->done) {
        pthread_cond_wait(&w->cond, &w->lock);
    }
    pthread_mutex_unlock(&w->lock);
}

static struct bk_md_quorum *describe(struct bk_md *md)
{
    struct waiter w = WAITER_INIT;
    assert_int_equal(bk_md_describe_quorum(md, quorum_cb, &w), 0);
    wait_done(&w);
    assert_int_equal(w.status, 0);
    assert_non_null(w.q);
    return w.q;
}

static struct bk_md_member_resp member(struct bk_md *md,
                                       const struct bk_md_registration *reg,
                                       const struct bk_md_heartbeat *hb)
{
    struct waiter w = WAITER_INIT;
    if (reg != NULL) {
        assert_int_equal(bk_md_broker_register(md, reg, member_cb, &w), 0);
    } else {
        assert_int_equal(bk_md_broker_heartbeat(md, hb, member_cb, &w), 0);
    }
    wait_done(&w);
    assert_int_equal(w.resp.error, 0);
    return w.resp;
}

static int64_t image_offset(struct bk_md *md)
{
    struct bk_md_image *img = bk_md_image_acquire(md);
    int64_t off = img->offset;
    bk_md_image_release(img);
    return off;
}

static void test_describe_quorum(void **state)
{
    struct env *e = *state;
    struct bk_md *md = NULL;
    char err[BK_ERRMSG_SIZE];
    assert_int_equal(bk_md_start(&e->cfg, &md, err), 0);
    assert_int_equal(bk_md_wait_active(md, 10000), 0);

    struct bk_md_quorum *q = describe(md);
    assert_int_equal(q->leader, 1);
    assert_true(q->term >= 1);
    assert_int_equal(q->term, bk_md_term(md));
    assert_int_equal(q->high_watermark, image_offset(md));
    assert_int_equal(q->n_voters, 1);
    assert_int_equal(q->voters[0].id, 1);
    assert_int_equal(q->voters[0].log_end_offset, q->high_watermark);
    assert_int_equal(q->voters[0].last_fetch_ms, -1);
    assert_true(q->voters[0].last_caught_up_ms > 0);
    assert_int_equal(q->n_observers, 0);
    int64_t term = q->term;
    bk_md_quorum_free(q);

    /* A broker that is not a voter heartbeats an offset behind ours. */
    struct bk_md_registration reg = { .id = 7,
                                      .incarnation = { { 7 } },
                                      .cluster_id = CLUSTER_ID,
                                      .host = "127.0.0.1",
                                      .port = 19092 };
    int64_t epoch = member(md, &reg, NULL).epoch;
    struct bk_md_heartbeat hb = { .id = 7,
                                  .epoch = epoch,
                                  .metadata_offset = 0 };
    member(md, NULL, &hb);
    q = describe(md);
    assert_int_equal(q->n_observers, 1);
    assert_int_equal(q->observers[0].id, 7);
    assert_int_equal(q->observers[0].log_end_offset, 0);
    assert_true(q->observers[0].last_fetch_ms > 0);
    assert_int_equal(q->observers[0].last_caught_up_ms, -1);
    bk_md_quorum_free(q);
    /* Caught up: it reports what the controller has applied. */
    hb.metadata_offset = image_offset(md);
    member(md, NULL, &hb);
    q = describe(md);
    assert_int_equal(q->observers[0].log_end_offset, hb.metadata_offset);
    assert_true(q->observers[0].last_caught_up_ms > 0);
    bk_md_quorum_free(q);
    bk_md_stop(md);

    /* The term is read back at start (the wrapped load); a single voter
     * elects itself without a new term in raft 0.15, so it stays. (The
     * 3-node integration test sees an election raise it.) */
    assert_int_equal(bk_md_start(&e->cfg, &md, err), 0);
    assert_true(bk_md_term(md) >= term);
    assert_int_equal(bk_md_wait_active(md, 10000), 0);
    q = describe(md);
    assert_true(q->term >= term);
    bk_md_quorum_free(q);
    bk_md_stop(md);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_describe_quorum, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
