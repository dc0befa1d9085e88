#include "admin/route.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "common/heap.h"
#include "protocol/gen/metadata.h"
#include "protocol/kerr.h"

#define RETRY_PAUSE_US (200 * 1000)

typedef struct bk_msg_metadata_response_metadata_response_broker md_broker;
typedef struct bk_msg_metadata_response_metadata_response_topic md_topic;

static void close_brokers(struct bk_route *r);

static struct bk_route_broker *find_broker(struct bk_route *r, int32_t id)
{
    for (size_t i = 0; i < r->n_brokers; i++) {
        if (r->brokers[i].id == id) {
            return &r->brokers[i];
        }
    }
    return NULL;
}

/* Records the brokers of an answer, keeping the connections to brokers
 * whose address is unchanged. */
static int take_brokers(struct bk_route *r, const md_broker *v, int32_t n)
{
    struct bk_route_broker *nb = bk_calloc((size_t)n + 1, sizeof(*nb));
    if (nb == NULL) {
        return bk_cli_fail("out of memory");
    }
    for (int32_t i = 0; i < n; i++) {
        nb[i].id = v[i].node_id;
        snprintf(nb[i].addr, sizeof(nb[i].addr), "%.*s:%d", v[i].host.len,
                 v[i].host.ptr, v[i].port);
        struct bk_route_broker *old = find_broker(r, nb[i].id);
        if (old != NULL && old->open && strcmp(old->addr, nb[i].addr) == 0) {
            nb[i].c = old->c;
            nb[i].open = true;
            old->open = false;
        }
    }
    close_brokers(r);
    r->brokers = nb;
    r->n_brokers = (size_t)n;
    return 0;
}

static int take_leaders(struct bk_route *r, const md_topic *t)
{
    if (t->error_code != 0 && t->error_code != BK_KERR_LEADER_NOT_AVAILABLE) {
        return bk_cli_fail("%s: %s", bk_kerr_name(t->error_code),
                           bk_kerr_message(t->error_code));
    }
    int32_t n = t->partitions_count > 0 ? t->partitions_count : 0;
    int32_t *leader = bk_calloc((size_t)n + 1, sizeof(*leader));
    if (leader == NULL) {
        return bk_cli_fail("out of memory");
    }
    for (int32_t i = 0; i < n; i++) {
        leader[i] = -1;
    }
    for (int32_t i = 0; i < n; i++) {
        int32_t p = t->partitions[i].partition_index;
        if (p >= 0 && p < n && t->partitions[i].error_code == 0) {
            leader[p] = t->partitions[i].leader_id;
        }
    }
    bk_free(r->leader);
    r->leader = leader;
    r->n_partitions = n;
    return 0;
}

static int lookup(struct bk_route *r)
{
    int16_t ver = bk_client_version(r->boot, BK_API_METADATA);
    if (ver < 1) {
        return bk_cli_fail("%s does not support Metadata v1+", r->boot->addr);
    }
    struct bk_arena arena;
    bk_arena_init(&arena, 8192, 0);
    struct bk_msg_metadata_request req;
    bk_msg_metadata_request_init(&req);
    struct bk_msg_metadata_request_metadata_request_topic rt;
    memset(&rt, 0, sizeof(rt));
    rt.name = bk_str_c(r->topic);
    req.topics = &rt;
    req.topics_count = 1;
    req.allow_auto_topic_creation = false;
    struct bk_msg_metadata_response resp;
    int rv;
    if (bk_client_call(r->boot, BK_API_METADATA, ver, &req, &resp, &arena) !=
        0) {
        rv = bk_cli_fail("%s", r->boot->errmsg);
    } else if (resp.topics_count != 1) {
        rv = bk_cli_fail("malformed Metadata answer from %s", r->boot->addr);
    } else {
        rv = take_brokers(r, resp.brokers, resp.brokers_count);
        if (rv == 0) {
            rv = take_leaders(r, &resp.topics[0]);
        }
    }
    bk_arena_destroy(&arena);
    return rv;
}

int bk_route_open(struct bk_route *r,
                  const struct bk_cli *cli,
                  struct bk_client *boot,
                  const char *topic)
{
    memset(r, 0, sizeof(*r));
    r->cli = cli;
    r->boot = boot;
    r->topic = topic;
    return lookup(r);
}

int bk_route_refresh(struct bk_route *r)
{
    usleep(RETRY_PAUSE_US);
    return lookup(r);
}

int32_t bk_route_leader(const struct bk_route *r, int32_t p)
{
    return p >= 0 && p < r->n_partitions ? r->leader[p] : -1;
}

struct bk_client *bk_route_client(struct bk_route *r, int32_t id)
{
    struct bk_route_broker *b = find_broker(r, id);
    /* One broker, an unknown leader (the request is answered with an
     * error that makes the caller refresh), or the broker the bootstrap
     * connection already talks to: no second connection. */
    if (r->n_brokers <= 1 || b == NULL || strcmp(b->addr, r->boot->addr) == 0) {
        return r->boot;
    }
    if (!b->open) {
        if (bk_client_connect(&b->c, b->addr, r->cli->timeout_ms) != 0) {
            bk_cli_fail("%s", b->c.errmsg);
            return NULL;
        }
        b->open = true;
    }
    return &b->c;
}

bool bk_route_retriable(int16_t code)
{
    /* Kafka's clients refresh metadata on these (InvalidMetadataException):
     * a leader moved or is being elected, or the leader has not applied
     * the topic's creation yet (a topic just created). */
    return code == BK_KERR_NOT_LEADER_OR_FOLLOWER ||
           code == BK_KERR_LEADER_NOT_AVAILABLE ||
           code == BK_KERR_UNKNOWN_TOPIC_OR_PARTITION;
}

static void close_brokers(struct bk_route *r)
{
    for (size_t i = 0; i < r->n_brokers; i++) {
        if (r->brokers[i].open) {
            bk_client_close(&r->brokers[i].c);
        }
    }
    bk_free(r->brokers);
    r->brokers = NULL;
    r->n_brokers = 0;
}

void bk_route_close(struct bk_route *r)
{
    close_brokers(r);
    bk_free(r->leader);
    r->leader = NULL;
    r->n_partitions = 0;
}
