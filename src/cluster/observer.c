/* A broker that is not a voter pulls the metadata log (raft-notes.md §5.4,
 * replication-notes.md §13: brokers are data in the metadata, never raft
 * members). Its bk_md runs this thread instead of raft: it long-polls a
 * controller with a Fetch of __cluster_metadata from the image offset it
 * has applied, applies the entries it gets with the same state machine the
 * voters run (so its image is the same at the same offset), or installs
 * the whole image when the controller no longer has the entries. It asks
 * the active controller when it knows where that is (the endpoint in the
 * image), else the next of controller.quorum.bootstrap.servers.
 *
 * It never proposes: proposals fail with BK_ENOTLEADER, and requests for
 * the raft thread (bk_md_call) run here and find this node not active.
 * Nothing is kept on disk: after a restart the first pull brings the
 * image. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cluster/controller_int.h"
#include "common/diag.h"
#include "common/heap.h"
#include "net/kclient.h"
#include "protocol/gen/api.h"
#include "protocol/gen/fetch.h"
#include "protocol/header.h"

#define MAX_BOOTSTRAP  8
#define RETRY_MS       200
#define WAIT_MS        500
#define MAX_PULL_BYTES (8 << 20)
#define FETCH_VERSION  12

struct bk_md_observer {
    struct bk_md *md;
    uv_timer_t timer;
    struct bk_kclient *kc;
    char host[MAX_ADDR];
    int port;
    struct {
        char host[MAX_ADDR];
        int port;
    } boot[MAX_BOOTSTRAP];
    unsigned nboot;
    unsigned next_boot;
    bool force_image; /* the entries did not line up: take the image */
    bool caught_up_once;
};

struct pull_rpc {
    struct bk_md_observer *ob;
    struct bk_arena arena;
};

static void pull(uv_timer_t *t);

static int parse_bootstrap(struct bk_md_observer *ob, const char *list)
{
    const char *p = list;
    while (p != NULL && *p != '\0' && ob->nboot < MAX_BOOTSTRAP) {
        const char *end = strchr(p, ',');
        size_t len = end != NULL ? (size_t)(end - p) : strlen(p);
        char item[MAX_ADDR];
        snprintf(item, sizeof(item), "%.*s", (int)len, p);
        char *colon = strrchr(item, ':');
        if (colon == NULL) {
            return BK_ECONFIG;
        }
        *colon = '\0';
        char *tail;
        long port = strtol(colon + 1, &tail, 10);
        if (*tail != '\0' || port <= 0 || port > 65535) {
            return BK_ECONFIG; /* config.c checked it: not expected */
        }
        snprintf(ob->boot[ob->nboot].host, MAX_ADDR, "%s", item);
        ob->boot[ob->nboot].port = (int)port;
        ob->nboot++;
        p = end != NULL ? end + 1 : NULL;
    }
    return ob->nboot > 0 ? 0 : BK_ECONFIG;
}

/* The active controller's endpoint when known, else the next bootstrap
 * server. */
static void pick_target(struct bk_md_observer *ob, char *host, int *port)
{
    struct bk_md *md = ob->md;
    int32_t leader = atomic_load(&md->leader);
    const struct bk_md_controller *c =
        leader >= 0 ? bk_md_image_controller(md->fsm.cur, leader) : NULL;
    if (c != NULL) {
        snprintf(host, MAX_ADDR, "%s", c->host);
        *port = c->port;
        return;
    }
    unsigned i = ob->next_boot++ % ob->nboot;
    snprintf(host, MAX_ADDR, "%s", ob->boot[i].host);
    *port = ob->boot[i].port;
}

static int connect_to(struct bk_md_observer *ob, const char *host, int port)
{
    if (ob->kc != NULL && port == ob->port && strcmp(host, ob->host) == 0) {
        return 0;
    }
    if (ob->kc != NULL) {
        bk_kclient_close(ob->kc);
        ob->kc = NULL;
    }
    struct bk_kclient_opts o = { .connect_timeout_ms = 2000,
                                 .request_timeout_ms = WAIT_MS + 5000 };
    snprintf(ob->host, sizeof(ob->host), "%s", host);
    ob->port = port;
    return bk_kclient_new(&ob->md->loop, host, port, &o, &ob->kc);
}

/* Applies the entries of a pull; a gap makes the next pull ask for the
 * image. */
static void apply_entries(struct bk_md_observer *ob,
                          const uint8_t *p,
                          size_t len)
{
    struct bk_md_fsm *f = &ob->md->fsm;
    struct bk_rd rd;
    bk_rd_init(&rd, p, len);
    while (bk_rd_left(&rd) > 0) {
        int64_t first = bk_rd_i64(&rd);
        int64_t next = bk_rd_i64(&rd);
        int32_t n = bk_rd_i32(&rd);
        if (rd.err != 0 || n < 0 || (size_t)n > bk_rd_left(&rd)) {
            ob->force_image = true;
            return;
        }
        const uint8_t *entry = rd.buf + rd.pos;
        bk_rd_skip(&rd, (size_t)n);
        if (first < f->cur->offset && next <= f->cur->offset) {
            continue; /* already applied */
        }
        if (first != f->cur->offset ||
            bk_md_fsm_apply_entry(f, entry, (size_t)n) != 0 ||
            f->cur->offset != next) {
            ob->force_image = true;
            return;
        }
    }
}

static void apply_payload(struct bk_md_observer *ob, const struct bk_bytes *rec)
{
    if (rec->ptr == NULL || rec->len <= 0) {
        return; /* nothing new */
    }
    const uint8_t *p = rec->ptr + 1;
    size_t len = (size_t)rec->len - 1;
    if (rec->ptr[0] == BK_MD_PULL_ENTRIES) {
        apply_entries(ob, p, len);
        return;
    }
    struct bk_md_image *img;
    int rv = bk_md_image_restore(p, len, &img);
    if (rv != 0) {
        bk_diag_error("cluster",
                      "msg=\"cannot install the metadata image "
                      "from the controller\" err=%s",
                      bk_errname(rv));
        return;
    }
    bk_md_fsm_install(&ob->md->fsm, img);
    ob->force_image = false;
}

static void pulled(void *data, int status, const uint8_t *resp, size_t len)
{
    struct pull_rpc *rpc = data;
    struct bk_md_observer *ob = rpc->ob;
    struct bk_msg_fetch_response r;
    uint64_t next = 0;
    if (status == BK_ESHUTDOWN) {
        goto out;
    }
    if (status != 0 ||
        bk_resp_frame_decode(&rpc->arena, BK_API_FETCH, FETCH_VERSION, resp,
                             len, &r) != 0 ||
        r.responses_count != 1 || r.responses[0].partitions_count != 1 ||
        r.responses[0].partitions[0].error_code != 0) {
        /* This controller cannot serve: try the next one. */
        atomic_store(&ob->md->leader, -1);
        next = RETRY_MS;
    } else {
        const struct bk_msg_fetch_response_partition_data *pd =
            &r.responses[0].partitions[0];
        atomic_store(&ob->md->leader, pd->current_leader.leader_id);
        apply_payload(ob, &pd->records);
        atomic_store(&ob->md->high_offset, (long long)pd->high_watermark);
        if (!ob->caught_up_once &&
            ob->md->fsm.cur->offset >= pd->high_watermark) {
            ob->caught_up_once = true;
            bk_diag_info("cluster",
                         "offset=%lld msg=\"metadata caught up "
                         "from the controllers\"",
                         (long long)ob->md->fsm.cur->offset);
        }
    }
    uv_timer_start(&ob->timer, pull, next, 0);
out:
    bk_arena_destroy(&rpc->arena);
    bk_free(rpc);
}

static int send_pull(struct bk_md_observer *ob, struct pull_rpc *rpc)
{
    struct bk_msg_fetch_request_fetch_partition part = {
        .partition = 0,
        .current_leader_epoch = -1,
        .fetch_offset = ob->force_image ? -1 : ob->md->fsm.cur->offset,
        .last_fetched_epoch = -1,
        .log_start_offset = -1,
        .partition_max_bytes = MAX_PULL_BYTES,
    };
    struct bk_msg_fetch_request_fetch_topic topic = {
        .topic = bk_str_c("__cluster_metadata"),
        .partitions = &part,
        .partitions_count = 1,
    };
    struct bk_msg_fetch_request req;
    bk_msg_fetch_request_init(&req);
    req.replica_id = ob->md->node_id;
    req.max_wait_ms = WAIT_MS;
    req.min_bytes = 1;
    req.max_bytes = MAX_PULL_BYTES;
    req.topics = &topic;
    req.topics_count = 1;
    req.forgotten_topics_data_count = 0;
    req.rack_id = bk_str_c("");
    uint8_t *frame;
    size_t len;
    int rv = bk_req_frame_encode(&rpc->arena, BK_API_FETCH, FETCH_VERSION, 0,
                                 "brokerd", &req, &frame, &len);
    if (rv == 0) {
        rv = bk_kclient_send(ob->kc, frame, len, pulled, rpc);
    }
    return rv;
}

static void pull(uv_timer_t *t)
{
    struct bk_md_observer *ob = t->data;
    char host[MAX_ADDR];
    int port = 0;
    pick_target(ob, host, &port);
    struct pull_rpc *rpc = bk_calloc(1, sizeof(*rpc));
    int rv = BK_ENOMEM;
    if (rpc != NULL) {
        rpc->ob = ob;
        bk_arena_init(&rpc->arena, 4096, 0);
        rv = connect_to(ob, host, port);
        if (rv == 0) {
            rv = send_pull(ob, rpc);
        }
        if (rv != 0) {
            bk_arena_destroy(&rpc->arena);
            bk_free(rpc);
        }
    }
    if (rv != 0) {
        uv_timer_start(&ob->timer, pull, RETRY_MS, 0);
    }
}

static void closed_cb(uv_handle_t *h)
{
    (void)h;
}

static void observer_wake(uv_async_t *h)
{
    struct bk_md *md = h->data;
    struct bk_md_observer *ob = md->observer;
    bool stopping;
    struct md_req *list = bk_md_int_take_queue(md, &stopping);
    bk_md_int_complete(list, stopping ? BK_ESHUTDOWN : BK_ENOTLEADER);
    if (!stopping || md->closing) {
        return;
    }
    md->closing = true;
    if (ob->kc != NULL) {
        bk_kclient_close(ob->kc);
        ob->kc = NULL;
    }
    uv_close((uv_handle_t *)&ob->timer, closed_cb);
    /* Senders hold qlock and check stopping, set before we got here. */
    pthread_mutex_lock(&md->qlock);
    pthread_mutex_unlock(&md->qlock);
    uv_close((uv_handle_t *)&md->wake, closed_cb);
}

static void *observer_main(void *arg)
{
    struct bk_md *md = arg;
    struct bk_md_observer *ob = md->observer;
    uv_async_init(&md->loop, &md->wake, observer_wake);
    md->wake.data = md;
    uv_timer_init(&md->loop, &ob->timer);
    ob->timer.data = ob;
    uv_timer_start(&ob->timer, pull, 0, 0);
    bk_md_int_start_done(md, 0);
    uv_run(&md->loop, UV_RUN_DEFAULT);
    uv_loop_close(&md->loop);
    bk_free(ob);
    md->observer = NULL;
    return NULL;
}

int bk_md_observer_start(struct bk_md *md, const char *bootstrap)
{
    struct bk_md_observer *ob = bk_calloc(1, sizeof(*ob));
    if (ob == NULL) {
        snprintf(md->errmsg, sizeof(md->errmsg), "out of memory");
        return BK_ENOMEM;
    }
    ob->md = md;
    if (bootstrap == NULL || parse_bootstrap(ob, bootstrap) != 0) {
        snprintf(md->errmsg, sizeof(md->errmsg),
                 "node.id %d is not a voter, so it needs the controllers' "
                 "listeners in controller.quorum.bootstrap.servers",
                 md->node_id);
        bk_free(ob);
        return BK_ECONFIG;
    }
    int rv = uv_loop_init(&md->loop);
    if (rv != 0) {
        bk_free(ob);
        snprintf(md->errmsg, sizeof(md->errmsg), "metadata loop: %s",
                 uv_strerror(rv));
        return BK_EIO;
    }
    md->observer = ob;
    rv = pthread_create(&md->thread, NULL, observer_main, md);
    if (rv != 0) {
        md->observer = NULL;
        uv_loop_close(&md->loop);
        bk_free(ob);
        snprintf(md->errmsg, sizeof(md->errmsg),
                 "cannot start the metadata thread");
        return BK_EIO;
    }
    return 0;
}
