/* AlterPartition (api 56) on the active controller (controller.h): the
 * request is validated partition by partition on the raft thread against
 * the newest image (ops_isr.c), every change goes into one raft entry, and
 * the answer is complete once that entry is applied, so a leader never
 * hears of an ISR that the metadata log might still lose.
 *
 * Failure modes: this node is not (or stops being) the active controller
 * before the entry commits: top-level NOT_CONTROLLER, and the leader asks
 * the next controller, which answers INVALID_UPDATE_VERSION if the change
 * did commit after all (its partition epoch moved). A wrong broker epoch of
 * the sender: top-level STALE_BROKER_EPOCH, nothing else looked at. */
#include "protocol/gen/alter_partition.h"

#include <stdio.h>
#include <string.h>

#include "cluster/controller.h"
#include "common/diag.h"
#include "common/err.h"
#include "common/heap.h"

#define KERR_UNKNOWN_SERVER_ERROR (-1)

typedef struct bk_msg_alter_partition_request_partition_data req_part;
typedef struct bk_msg_alter_partition_response_partition_data resp_part;

struct ap_work {
    struct bk_md *md;
    const struct bk_msg_alter_partition_request *req; /* borrowed */
    int16_t version;
    struct bk_msg_alter_partition_response *resp; /* borrowed */
    bk_md_done_cb cb;
    void *data;
    struct bk_arena arena; /* the records and ISR members, raft thread */
};

static int32_t isr_count(const req_part *p, int16_t version)
{
    int32_t n = version >= 3 ? p->new_isr_with_epochs_count : p->new_isr_count;
    return n < 0 ? 0 : n;
}

int bk_md_alter_partition_prepare(
    const struct bk_msg_alter_partition_request *req,
    int16_t version,
    struct bk_msg_alter_partition_response *resp,
    struct bk_arena *arena)
{
    bk_msg_alter_partition_response_init(resp);
    int32_t nt = req->topics_count < 0 ? 0 : req->topics_count;
    resp->topics =
        bk_arena_alloc(arena, sizeof(*resp->topics) * (size_t)nt + 1);
    if (resp->topics == NULL) {
        return BK_ENOMEM;
    }
    resp->topics_count = nt;
    for (int32_t i = 0; i < nt; i++) {
        const struct bk_msg_alter_partition_request_topic_data *rt =
            &req->topics[i];
        struct bk_msg_alter_partition_response_topic_data *t = &resp->topics[i];
        int32_t np = rt->partitions_count < 0 ? 0 : rt->partitions_count;
        *t = (struct bk_msg_alter_partition_response_topic_data){
            .topic_name = rt->topic_name,
            .topic_id = rt->topic_id,
            .partitions =
                bk_arena_alloc(arena, sizeof(resp_part) * (size_t)np + 1),
            .partitions_count = np,
        };
        if (t->partitions == NULL) {
            return BK_ENOMEM;
        }
        for (int32_t k = 0; k < np; k++) {
            int32_t n = isr_count(&rt->partitions[k], version);
            /* A refused partition keeps the schema's defaults (zero, an
             * empty ISR), as Kafka answers it. */
            t->partitions[k] = (resp_part){
                .partition_index = rt->partitions[k].partition_index,
                .isr = bk_arena_alloc(arena, sizeof(int32_t) * (size_t)n + 1),
            };
            if (t->partitions[k].isr == NULL) {
                return BK_ENOMEM;
            }
        }
    }
    return 0;
}

/* The request's ISR as members: v3 carries their broker epochs, earlier
 * versions none (-1, KIP-903). NULL when out of memory. */
static struct bk_md_isr_member *members(struct ap_work *w, const req_part *p)
{
    int32_t n = isr_count(p, w->version);
    struct bk_md_isr_member *m =
        bk_arena_alloc(&w->arena, sizeof(*m) * (size_t)n + 1);
    for (int32_t i = 0; m != NULL && i < n; i++) {
        m[i] = w->version >= 3
                   ? (struct bk_md_isr_member){ p->new_isr_with_epochs[i]
                                                    .broker_id,
                                                p->new_isr_with_epochs[i]
                                                    .broker_epoch }
                   : (struct bk_md_isr_member){ p->new_isr[i], -1 };
    }
    return m;
}

static void one_partition(struct ap_work *w,
                          const struct bk_md_image *img,
                          const struct bk_uuid *id,
                          const req_part *p,
                          resp_part *out,
                          struct bk_md_recs *recs)
{
    struct bk_md_alter_isr a = {
        .sender = w->req->broker_id,
        .leader_epoch = p->leader_epoch,
        .partition_epoch = p->partition_epoch,
        .leader_recovery_state = p->leader_recovery_state,
        .n_isr = isr_count(p, w->version),
        .isr = members(w, p),
        .v2 = w->version >= 2,
    };
    if (a.isr == NULL) {
        out->error_code = KERR_UNKNOWN_SERVER_ERROR;
        return;
    }
    struct bk_md_isr_state st;
    char msg[BK_MD_MSG_SIZE];
    out->error_code = bk_md_op_alter_partition(img, id, p->partition_index, &a,
                                               recs, &st, msg);
    if (out->error_code != 0) {
        bk_diag_info("cluster", "broker=%d partition=%d error=%d msg=\"%s\"",
                     w->req->broker_id, p->partition_index, out->error_code,
                     msg);
        return;
    }
    /* The new ISR has the request's size, which prepare allocated. */
    out->leader_id = st.leader;
    out->leader_epoch = st.leader_epoch;
    out->partition_epoch = st.partition_epoch;
    out->leader_recovery_state = st.leader_recovery_state;
    out->isr_count = st.n_isr;
    memcpy(out->isr, st.isr, sizeof(int32_t) * (size_t)st.n_isr);
}

/* v2+ name topics by id; v0-1 by name (UNKNOWN_TOPIC_OR_PARTITION when
 * there is none, as Kafka). */
static void one_topic(struct ap_work *w,
                      const struct bk_md_image *img,
                      int32_t i,
                      struct bk_md_recs *recs)
{
    const struct bk_msg_alter_partition_request_topic_data *rt =
        &w->req->topics[i];
    struct bk_msg_alter_partition_response_topic_data *t = &w->resp->topics[i];
    struct bk_uuid id = rt->topic_id;
    int16_t missing = BK_MD_KERR_UNKNOWN_TOPIC_ID;
    if (w->version < 2) {
        const struct bk_md_topic *named =
            rt->topic_name.len > 0
                ? bk_md_image_topic(img, rt->topic_name.ptr,
                                    (size_t)rt->topic_name.len)
                : NULL;
        memset(&id, 0, sizeof(id));
        if (named != NULL) {
            id = named->id;
        }
        missing = BK_MD_KERR_UNKNOWN_TOPIC_OR_PARTITION;
        t->topic_id = id; /* not encoded below v2; the check after apply */
    }
    bool known = bk_md_image_topic_by_id(img, &id) != NULL;
    for (int32_t k = 0; k < t->partitions_count; k++) {
        if (!known) {
            t->partitions[k].error_code = missing;
            continue;
        }
        one_partition(w, img, &id, &rt->partitions[k], &t->partitions[k], recs);
    }
}

/* A top-level error answers nothing per partition (Kafka's
 * getErrorResponse). */
static void finish(struct ap_work *w, int16_t top_error)
{
    if (top_error != 0) {
        w->resp->error_code = top_error;
        w->resp->topics_count = 0;
    }
    bk_arena_destroy(&w->arena);
    bk_md_done_cb cb = w->cb;
    void *data = w->data;
    bk_free(w);
    cb(data, 0);
}

/* Whether the image holds what the answer says: the partition epoch and
 * the ISR. */
static bool holds(const struct bk_md_image *img,
                  const struct bk_uuid *id,
                  const resp_part *out)
{
    const struct bk_md_topic *t = bk_md_image_topic_by_id(img, id);
    const struct bk_md_partition *mp =
        t != NULL ? bk_md_topic_partition(t, out->partition_index) : NULL;
    if (mp == NULL || mp->partition_epoch != out->partition_epoch ||
        mp->n_isr != out->isr_count) {
        return false;
    }
    return memcmp(mp->isr, out->isr, sizeof(int32_t) * (size_t)mp->n_isr) == 0;
}

/* The image skips a partition record that does not advance the partition
 * epoch: a change decided on the same image as this one (an election, a
 * reassignment step) committed first. The leader must then not take this
 * answer's ISR as committed: INVALID_UPDATE_VERSION sends it to the
 * metadata, which has the state that won. */
static void check_applied(struct ap_work *w)
{
    struct bk_md_image *img = bk_md_image_acquire(w->md);
    for (int32_t i = 0; i < w->resp->topics_count; i++) {
        struct bk_msg_alter_partition_response_topic_data *t =
            &w->resp->topics[i];
        for (int32_t k = 0; k < t->partitions_count; k++) {
            resp_part *out = &t->partitions[k];
            if (out->error_code == 0 && !holds(img, &t->topic_id, out)) {
                out->error_code = BK_MD_KERR_INVALID_UPDATE_VERSION;
                out->isr_count = 0;
            }
        }
    }
    bk_md_image_release(img);
}

static void applied(void *data, int status)
{
    struct ap_work *w = data;
    switch (status) {
        case 0:
        case BK_ESTATE: /* a topic deleted meanwhile: its record skipped */
            check_applied(w);
            finish(w, 0);
            return;
        case BK_ENOTLEADER:
        case BK_MD_EUNKNOWN:
        case BK_ESHUTDOWN:
            finish(w, BK_MD_KERR_NOT_CONTROLLER);
            return;
        default:
            finish(w, KERR_UNKNOWN_SERVER_ERROR);
    }
}

/* On the raft thread. */
static void run(void *data, int status)
{
    struct ap_work *w = data;
    if (status != 0 || !bk_md_is_active(w->md)) {
        finish(w, BK_MD_KERR_NOT_CONTROLLER);
        return;
    }
    struct bk_md_image *img = bk_md_image_acquire(w->md);
    char msg[BK_MD_MSG_SIZE];
    int16_t top = bk_md_check_broker_epoch(img, w->req->broker_id,
                                           w->req->broker_epoch, msg);
    struct bk_md_recs recs;
    bk_md_recs_init(&recs, &w->arena);
    for (int32_t i = 0; top == 0 && i < w->resp->topics_count; i++) {
        one_topic(w, img, i, &recs);
    }
    bk_md_image_release(img);
    if (top != 0) {
        bk_diag_info("cluster", "broker=%d error=%d msg=\"%s\"",
                     w->req->broker_id, top, msg);
    }
    if (top != 0 || recs.n == 0) {
        finish(w, top);
        return;
    }
    int rv = bk_md_propose(w->md, recs.v, recs.n, applied, w);
    if (rv != 0) {
        finish(w, rv == BK_ESHUTDOWN ? BK_MD_KERR_NOT_CONTROLLER
                                     : KERR_UNKNOWN_SERVER_ERROR);
    }
}

int bk_md_alter_partition(struct bk_md *md,
                          const struct bk_msg_alter_partition_request *req,
                          int16_t version,
                          struct bk_msg_alter_partition_response *resp,
                          bk_md_done_cb cb,
                          void *data)
{
    struct ap_work *w = bk_calloc(1, sizeof(*w));
    if (w == NULL) {
        return BK_ENOMEM;
    }
    *w = (struct ap_work){ .md = md,
                           .req = req,
                           .version = version,
                           .resp = resp,
                           .cb = cb,
                           .data = data };
    bk_arena_init(&w->arena, 4096, 0);
    int rv = bk_md_call(md, run, w);
    if (rv != 0) {
        bk_arena_destroy(&w->arena);
        bk_free(w);
    }
    return rv;
}
