/* Brokers that are not voters pull the metadata log from a controller
 * (raft-notes.md §5.4; Kafka's observers Fetch __cluster_metadata the same
 * way): a Fetch of partition 0 of __cluster_metadata with the broker's id
 * as replica id, fetch_offset = the image offset it has applied. The
 * answer's records hold brokerd's payload (cluster/controller.h,
 * bk_md_pull: the entries after that offset, or the whole image when they
 * are gone), high_watermark this node's offset, and current_leader the
 * active controller as this node knows it.
 *
 * With nothing new the request waits, up to max_wait_ms, for the next
 * image this node applies (a long poll, as Kafka's fetch does), so a broker
 * learns of a change within one round trip. Clients (replica id -1) never
 * get here: to them the topic does not exist. */
#include "api/metadata_pull.h"

#include <string.h>

#include "cluster/controller.h"
#include "common/heap.h"
#include "protocol/kerr.h"

#define METADATA_TOPIC "__cluster_metadata"

struct pull {
    struct bk_api_waiting waiting; /* for a shard drain; first member */
    struct pull *next;             /* the shard's parked pulls */
    struct bk_call *call;
    uv_timer_t timer;
    int64_t from;
    size_t max_bytes;
};

static int32_t replica_of(const struct bk_call *call)
{
    const struct bk_msg_fetch_request *req = call->request;
    return call->hdr.api_version >= 15 ? req->replica_state.replica_id
                                       : req->replica_id;
}

bool bk_pull_is_metadata(const struct bk_call *call)
{
    const struct bk_msg_fetch_request *req = call->request;
    return call->hdr.api_version >= 12 && call->hdr.api_version < 13 &&
           replica_of(call) >= 0 && req->topics_count == 1 &&
           req->topics[0].partitions_count == 1 &&
           bk_str_eq(req->topics[0].topic, bk_str_c(METADATA_TOPIC));
}

/* Answers with what there is now (payload may be NULL: nothing new). */
static void answer(struct bk_call *call, int64_t from, size_t max_bytes)
{
    struct bk_msg_fetch_response resp;
    bk_msg_fetch_response_init(&resp);
    struct bk_msg_fetch_response_fetchable_topic_response *t =
        bk_arena_alloc(call->arena, sizeof(*t));
    struct bk_msg_fetch_response_partition_data *p =
        bk_arena_alloc(call->arena, sizeof(*p));
    if (t == NULL || p == NULL) {
        bk_req_fail(call->req, "out of memory");
        return;
    }
    memset(t, 0, sizeof(*t));
    memset(p, 0, sizeof(*p));
    uint8_t *payload;
    size_t len;
    int64_t high = -1;
    int rv = bk_md_pull(call->ctx->md, from, max_bytes, call->arena, &payload,
                        &len, &high);
    p->error_code = rv == 0               ? BK_KERR_NONE
                    : rv == BK_ENOTLEADER ? BK_KERR_NOT_CONTROLLER
                                          : BK_KERR_UNKNOWN_SERVER_ERROR;
    p->high_watermark = high;
    p->last_stable_offset = high;
    p->log_start_offset = -1;
    p->current_leader.leader_id = bk_md_leader(call->ctx->md);
    p->current_leader.leader_epoch = -1;
    p->preferred_read_replica = -1;
    p->aborted_transactions_count = -1;
    p->records =
        (struct bk_bytes){ payload, payload != NULL ? (int32_t)len : 0 };
    t->topic = bk_str_c(METADATA_TOPIC);
    t->partitions = p;
    t->partitions_count = 1;
    resp.responses = t;
    resp.responses_count = 1;
    resp.node_endpoints_count = -1;
    bk_call_reply(call, &resp);
}

static bool has_news(struct bk_call *call, int64_t from)
{
    struct bk_md_image *img = bk_md_image_acquire(call->ctx->md);
    bool news = img->offset != from;
    bk_md_image_release(img);
    return news;
}

static void pull_closed(uv_handle_t *h)
{
    bk_free(h->data);
}

/* Takes a parked pull off the shard's list and answers it. */
static void finish(struct pull *pl)
{
    struct bk_shard *shard = pl->call->req->shard;
    struct bk_api_shard *st = shard->app;
    for (struct pull **pp = &st->pulls; *pp != NULL; pp = &(*pp)->next) {
        if (*pp == pl) {
            *pp = pl->next;
            break;
        }
    }
    if (pl->waiting.cut_short != NULL) {
        bk_api_waiting_remove(shard, &pl->waiting);
    }
    uv_timer_stop(&pl->timer);
    answer(pl->call, pl->from, pl->max_bytes);
    uv_close((uv_handle_t *)&pl->timer, pull_closed);
}

static void expired(uv_timer_t *t)
{
    finish(t->data);
}

static void cut_short(struct bk_api_waiting *w)
{
    struct pull *pl = (struct pull *)w;
    pl->waiting.cut_short = NULL; /* the drain took it off its list */
    finish(pl);
}

void bk_pull_wake(struct bk_shard *shard)
{
    struct bk_api_shard *st = shard->app;
    struct pull *pl = st->pulls;
    while (pl != NULL) {
        struct pull *next = pl->next;
        if (has_news(pl->call, pl->from)) {
            finish(pl);
        }
        pl = next;
    }
}

void bk_handle_metadata_pull(struct bk_call *call)
{
    const struct bk_msg_fetch_request *req = call->request;
    const struct bk_msg_fetch_request_fetch_partition *fp =
        &req->topics[0].partitions[0];
    size_t max_bytes = fp->partition_max_bytes > 0
                           ? (size_t)fp->partition_max_bytes
                           : (size_t)1 << 20;
    if (has_news(call, fp->fetch_offset) || req->max_wait_ms <= 0) {
        answer(call, fp->fetch_offset, max_bytes);
        return;
    }
    struct pull *pl = bk_calloc(1, sizeof(*pl));
    if (pl == NULL) {
        answer(call, fp->fetch_offset, max_bytes);
        return;
    }
    struct bk_shard *shard = call->req->shard;
    struct bk_api_shard *st = shard->app;
    pl->call = call;
    pl->from = fp->fetch_offset;
    pl->max_bytes = max_bytes;
    uv_timer_init(&shard->loop, &pl->timer);
    pl->timer.data = pl;
    uv_timer_start(&pl->timer, expired, (uint64_t)req->max_wait_ms, 0);
    pl->waiting.cut_short = cut_short;
    bk_api_waiting_add(shard, &pl->waiting);
    pl->next = st->pulls;
    st->pulls = pl;
}
