/* ListPartitionReassignments (key 46, v0): the reassignments in progress
 * (KIP-455; kafka-reassign-partitions.sh --verify and --list, brokerctl
 * partition reassignments).
 *
 * Answered from the active controller's image (forward.c sends it there),
 * as Kafka's controller answers: a null topic list means every partition
 * being reassigned; listed topics and partitions that are unknown or not
 * being reassigned are left out. Replicas are the partition's current
 * replicas, original and target together. */
#include "protocol/gen/list_partition_reassignments.h"

#include <string.h>

#include "api/call.h"
#include "cluster/ops.h"
#include "protocol/kerr.h"

typedef struct
    bk_msg_list_partition_reassignments_response_ongoing_topic_reassignment
        topic_resp;
typedef struct
    bk_msg_list_partition_reassignments_response_ongoing_partition_reassignment
        part_resp;

static int32_t *copy_ids(struct bk_call *call, const int32_t *v, int32_t n)
{
    int32_t *c = bk_arena_alloc(call->arena, sizeof(*c) * (size_t)n + 1);
    if (c != NULL && n > 0) {
        memcpy(c, v, sizeof(*c) * (size_t)n);
    }
    return c;
}

/* Adds partition p of t to out when it is being reassigned. Returns
 * false when out of memory. */
static bool add_part(struct bk_call *call,
                     const struct bk_md_topic *t,
                     int32_t p,
                     topic_resp *out)
{
    const struct bk_md_partition *mp = bk_md_topic_partition(t, p);
    if (mp == NULL || !bk_md_reassigning(mp)) {
        return true;
    }
    part_resp *r = &out->partitions[out->partitions_count];
    *r = (part_resp){
        .partition_index = p,
        .replicas = copy_ids(call, mp->replicas, mp->n_replicas),
        .replicas_count = mp->n_replicas,
        .adding_replicas = copy_ids(call, mp->adding, mp->n_adding),
        .adding_replicas_count = mp->n_adding,
        .removing_replicas = copy_ids(call, mp->removing, mp->n_removing),
        .removing_replicas_count = mp->n_removing,
    };
    out->partitions_count++;
    return r->replicas != NULL && r->adding_replicas != NULL &&
           r->removing_replicas != NULL;
}

/* The reassigned partitions of t (the listed ones, or all when idx is
 * NULL) into out; out is left empty when there are none. */
static bool add_topic(struct bk_call *call,
                      const struct bk_md_topic *t,
                      const int32_t *idx,
                      int32_t n_idx,
                      topic_resp *out)
{
    int32_t n = idx != NULL ? n_idx : t->n_partitions;
    char *name = bk_arena_strndup(call->arena, t->name, strlen(t->name));
    out->partitions =
        bk_arena_alloc(call->arena, sizeof(*out->partitions) * (size_t)n + 1);
    out->partitions_count = 0;
    if (name == NULL || out->partitions == NULL) {
        return false;
    }
    out->name = bk_str_c(name);
    bool ok = true;
    for (int32_t k = 0; ok && k < n; k++) {
        ok = add_part(call, t, idx != NULL ? idx[k] : k, out);
    }
    return ok;
}

static bool list_all(struct bk_call *call,
                     const struct bk_md_image *img,
                     struct bk_msg_list_partition_reassignments_response *resp)
{
    resp->topics =
        bk_arena_alloc(call->arena, sizeof(*resp->topics) * img->n_topics + 1);
    if (resp->topics == NULL) {
        return false;
    }
    for (size_t i = 0; i < img->n_topics; i++) {
        topic_resp *out = &resp->topics[resp->topics_count];
        if (!add_topic(call, img->by_name[i], NULL, 0, out)) {
            return false;
        }
        resp->topics_count += out->partitions_count > 0 ? 1 : 0;
    }
    return true;
}

static bool list_some(struct bk_call *call,
                      const struct bk_md_image *img,
                      struct bk_msg_list_partition_reassignments_response *resp)
{
    const struct bk_msg_list_partition_reassignments_request *req =
        call->request;
    resp->topics = bk_arena_alloc(
        call->arena, sizeof(*resp->topics) * (size_t)req->topics_count + 1);
    if (resp->topics == NULL) {
        return false;
    }
    for (int32_t i = 0; i < req->topics_count; i++) {
        struct bk_str name = req->topics[i].name;
        const struct bk_md_topic *t =
            name.len > 0 ? bk_md_image_topic(img, name.ptr, (size_t)name.len)
                         : NULL;
        int32_t n = req->topics[i].partition_indexes_count;
        topic_resp *out = &resp->topics[resp->topics_count];
        if (t == NULL || n <= 0) {
            continue;
        }
        if (!add_topic(call, t, req->topics[i].partition_indexes, n, out)) {
            return false;
        }
        resp->topics_count += out->partitions_count > 0 ? 1 : 0;
    }
    return true;
}

void bk_handle_list_partition_reassignments(struct bk_call *call)
{
    const struct bk_msg_list_partition_reassignments_request *req =
        call->request;
    struct bk_msg_list_partition_reassignments_response *resp =
        bk_arena_alloc(call->arena, sizeof(*resp));
    struct bk_md_image *img = bk_api_image(call);
    if (resp == NULL || img == NULL) {
        bk_md_image_release(img);
        bk_req_fail(call->req, "out of memory");
        return;
    }
    bk_msg_list_partition_reassignments_response_init(resp);
    resp->error_message = BK_STR_NULL; /* Kafka 4.1: null, not "" */
    resp->topics_count = 0;
    bool ok = req->topics_count < 0 ? list_all(call, img, resp)
                                    : list_some(call, img, resp);
    bk_md_image_release(img);
    if (!ok) {
        bk_req_fail(call->req, "out of memory");
        return;
    }
    bk_call_reply(call, resp);
}
