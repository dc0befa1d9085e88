/* DescribeTopicPartitions (key 75), v0 (KIP-966).
 *
 * Topics and their partitions from the metadata image, in name order, at
 * most response_partition_limit partitions per answer (capped at 2000,
 * Kafka's max.request.partition.size.limit). Pagination as Kafka does it:
 * the request's cursor names the first topic and partition to describe;
 * when the limit cuts a topic short the answer's next_cursor names the
 * first partition left out, and when it ends exactly at a topic boundary
 * with topics left, it names the next topic at partition 0. An empty topic
 * list means every topic. A named topic that does not exist is answered
 * UNKNOWN_TOPIC_OR_PARTITION (INVALID_TOPIC_EXCEPTION for an illegal
 * name), with no partitions. A cursor naming a topic that the request's
 * list lacks is INVALID_REQUEST, as in Kafka. */
#include "protocol/gen/describe_topic_partitions.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "api/access.h"
#include "api/authz.h"
#include "api/call.h"
#include "cluster/controller.h"
#include "cluster/ops.h"
#include "protocol/kerr.h"

#define PARTITION_LIMIT 2000

typedef struct
    bk_msg_describe_topic_partitions_response_describe_topic_partitions_response_topic
        out_topic;
typedef struct
    bk_msg_describe_topic_partitions_response_describe_topic_partitions_response_partition
        out_part;

static int32_t *copy_ids(struct bk_call *call, const int32_t *v, int32_t n)
{
    int32_t *out = bk_arena_alloc(call->arena, (size_t)(n + 1) * sizeof(*v));
    if (out != NULL && n > 0) {
        memcpy(out, v, (size_t)n * sizeof(*v));
    }
    return out;
}

static int cmp_str(const void *a, const void *b)
{
    const struct bk_str *x = a, *y = b;
    size_t n = (size_t)(x->len < y->len ? x->len : y->len);
    int c = n > 0 ? memcmp(x->ptr, y->ptr, n) : 0;
    return c != 0 ? c : (x->len > y->len) - (x->len < y->len);
}

/* Fills partitions [from, from + max) of t; returns how many. */
static int32_t fill_parts(struct bk_call *call,
                          const struct bk_md_topic *t,
                          int32_t from,
                          int32_t max,
                          out_topic *out)
{
    int32_t n = t->n_partitions - from;
    if (n < 0) {
        n = 0;
    }
    if (n > max) {
        n = max;
    }
    out->partitions =
        bk_arena_alloc(call->arena, (size_t)(n + 1) * sizeof(out_part));
    if (out->partitions == NULL) {
        return -1;
    }
    for (int32_t k = 0; k < n; k++) {
        const struct bk_md_partition *p = &t->partitions[from + k];
        out_part *op = &out->partitions[k];
        memset(op, 0, sizeof(*op));
        op->error_code =
            p->leader >= 0 ? BK_KERR_NONE : BK_KERR_LEADER_NOT_AVAILABLE;
        op->partition_index = from + k;
        op->leader_id = p->leader;
        op->leader_epoch = p->leader_epoch;
        op->replica_nodes = copy_ids(call, p->replicas, p->n_replicas);
        op->replica_nodes_count = p->n_replicas;
        op->isr_nodes = copy_ids(call, p->isr, p->n_isr);
        op->isr_nodes_count = p->n_isr;
        /* Lists, never null (possibly empty): the Java client (4.1) reads
         * them without a null check, and Kafka always sends them. */
        op->eligible_leader_replicas = copy_ids(call, p->elr, p->n_elr);
        op->eligible_leader_replicas_count = p->n_elr;
        op->last_known_elr =
            copy_ids(call, p->last_known_elr, p->n_last_known_elr);
        op->last_known_elr_count = p->n_last_known_elr;
        op->offline_replicas = NULL;
        op->offline_replicas_count = 0;
        if (op->replica_nodes == NULL || op->isr_nodes == NULL ||
            op->eligible_leader_replicas == NULL ||
            op->last_known_elr == NULL) {
            return -1;
        }
    }
    out->partitions_count = n;
    return n;
}

/* The topic names to walk, sorted, in the call's arena: every topic of the
 * image when the request names none (the image keeps them in name order),
 * else the request's names (a null name reads as ""). Sets *n even when it
 * returns NULL (OOM). */
static struct bk_str *sorted_names(
    struct bk_call *call,
    const struct bk_msg_describe_topic_partitions_request *req,
    const struct bk_md_image *img,
    size_t *n)
{
    struct bk_str *names;
    if (req->topics_count <= 0) {
        /* All topics the principal may DESCRIBE (Kafka leaves the others
         * out). */
        names =
            bk_arena_alloc(call->arena, (img->n_topics + 1) * sizeof(*names));
        *n = 0;
        for (size_t i = 0; names != NULL && i < img->n_topics; i++) {
            struct bk_str name = bk_str_c(img->by_name[i]->name);
            if (!bk_api_may(call, img, BK_ACL_OP_DESCRIBE, BK_ACL_RES_TOPIC,
                            name)) {
                continue;
            }
            names[*n] = bk_str_c(bk_call_cstr(call, name));
            if (names[(*n)++].ptr == NULL) {
                names = NULL;
            }
        }
        return names;
    }
    *n = (size_t)req->topics_count;
    names = bk_arena_alloc(call->arena, (*n + 1) * sizeof(*names));
    for (size_t i = 0; names != NULL && i < *n; i++) {
        names[i] = req->topics[i].name;
        if (names[i].len < 0) {
            names[i] = bk_str_c("");
        }
    }
    if (names != NULL) {
        qsort(names, *n, sizeof(*names), cmp_str);
    }
    return names;
}

/* Skips the names before the cursor's topic, setting *first to the first one
 * to describe. Returns false when the request lists topics and the cursor's
 * topic is not among them. */
static bool cursor_start(
    const struct bk_msg_describe_topic_partitions_request *req,
    const struct bk_str *names,
    size_t n,
    size_t *first)
{
    const struct bk_msg_describe_topic_partitions_request_cursor *cur =
        req->cursor;
    size_t i = 0;
    if (cur != NULL) {
        while (i < n && cmp_str(&names[i], &cur->topic_name) < 0) {
            i++;
        }
        if (req->topics_count > 0 &&
            (i == n || cmp_str(&names[i], &cur->topic_name) != 0)) {
            return false;
        }
    }
    *first = i;
    return true;
}

/* Kafka: "topic list should contain the cursor topic", an
 * InvalidRequestException answered on every topic asked. */
static void answer_bad_cursor(
    const struct bk_msg_describe_topic_partitions_request *req,
    struct bk_msg_describe_topic_partitions_response *resp,
    size_t n)
{
    for (size_t k = 0; k < n; k++) {
        out_topic *out = &resp->topics[k];
        memset(out, 0, sizeof(*out));
        out->error_code = BK_KERR_INVALID_REQUEST;
        out->name = req->topics[k].name;
        out->topic_authorized_operations = BK_API_AUTHZ_NOT_ASKED;
        out->partitions = NULL;
        out->partitions_count = 0;
    }
    resp->topics_count = (int32_t)n;
}

/* Points the answer's next cursor at partition `from` of topic name. Without
 * memory the answer goes out without a cursor, which ends the client's
 * paging early rather than failing the request. */
static void set_next_cursor(
    struct bk_call *call,
    struct bk_msg_describe_topic_partitions_response *resp,
    struct bk_str name,
    int32_t from)
{
    resp->next_cursor = bk_arena_alloc(call->arena, sizeof(*resp->next_cursor));
    if (resp->next_cursor == NULL) {
        return;
    }
    resp->next_cursor->topic_name = name;
    resp->next_cursor->partition_index = from;
}

/* Starts out for the topic named name: returns it, or NULL with out's error
 * when it does not exist (INVALID_TOPIC_EXCEPTION for an illegal name). */
static const struct bk_md_topic *topic_entry(const struct bk_call *call,
                                             const struct bk_md_image *img,
                                             struct bk_str name,
                                             out_topic *out)
{
    memset(out, 0, sizeof(*out));
    out->name = name;
    /* DescribeTopicPartitions has no flag: Kafka 4.1 always reports them,
     * for unknown topics too. */
    out->topic_authorized_operations =
        bk_api_authz_ops(call, img, BK_ACL_RES_TOPIC, name);
    out->partitions = NULL;
    out->partitions_count = 0;
    /* Kafka: DESCRIBE on the topic, before whether it exists. */
    if (!bk_api_may(call, img, BK_ACL_OP_DESCRIBE, BK_ACL_RES_TOPIC, name)) {
        out->error_code = BK_KERR_TOPIC_AUTHORIZATION_FAILED;
        return NULL;
    }
    const struct bk_md_topic *t =
        bk_md_image_topic(img, name.ptr, (size_t)name.len);
    if (t == NULL) {
        char msg[BK_MD_MSG_SIZE];
        out->error_code =
            bk_md_topic_name_check(name.ptr, (size_t)name.len, msg) != 0
                ? BK_KERR_INVALID_TOPIC_EXCEPTION
                : BK_KERR_UNKNOWN_TOPIC_OR_PARTITION;
        return NULL;
    }
    out->topic_id = t->id;
    out->is_internal = t->name[0] == '_' && t->name[1] == '_';
    return t;
}

/* Describes names [first, n) until the partition limit is reached, leaving
 * a next cursor where it stopped. Returns 0, or -1 on OOM. */
static int describe_page(
    struct bk_call *call,
    const struct bk_md_image *img,
    const struct bk_msg_describe_topic_partitions_request *req,
    const struct bk_str *names,
    size_t first,
    size_t n,
    struct bk_msg_describe_topic_partitions_response *resp)
{
    const struct bk_msg_describe_topic_partitions_request_cursor *cur =
        req->cursor;
    int32_t remaining = req->response_partition_limit;
    if (remaining <= 0 || remaining > PARTITION_LIMIT) {
        remaining = PARTITION_LIMIT;
    }
    resp->topics_count = 0;
    for (size_t i = first; i < n; i++) {
        if (i > 0 && cmp_str(&names[i], &names[i - 1]) == 0) {
            continue; /* a name given twice is described once */
        }
        if (remaining == 0) {
            /* Ended exactly at a topic boundary: continue from here. */
            set_next_cursor(call, resp, names[i], 0);
            return 0;
        }
        out_topic *out = &resp->topics[resp->topics_count++];
        const struct bk_md_topic *t = topic_entry(call, img, names[i], out);
        if (t == NULL) {
            continue;
        }
        int32_t from = 0;
        if (cur != NULL && cmp_str(&names[i], &cur->topic_name) == 0 &&
            cur->partition_index > 0) {
            from = cur->partition_index;
        }
        int32_t got = fill_parts(call, t, from, remaining, out);
        if (got < 0) {
            return -1;
        }
        remaining -= got;
        if (from + got < t->n_partitions) {
            set_next_cursor(call, resp, names[i], from + got);
            return 0;
        }
    }
    return 0;
}

void bk_handle_describe_topic_partitions(struct bk_call *call)
{
    const struct bk_msg_describe_topic_partitions_request *req = call->request;
    struct bk_msg_describe_topic_partitions_response resp;
    bk_msg_describe_topic_partitions_response_init(&resp);
    resp.next_cursor = NULL;
    struct bk_md_image *img = bk_api_image(call);
    if (img == NULL) {
        bk_req_fail(call->req, "out of memory");
        return;
    }
    size_t n;
    struct bk_str *names = sorted_names(call, req, img, &n);
    resp.topics = bk_arena_alloc(call->arena, (n + 1) * sizeof(out_topic));
    if (names == NULL || resp.topics == NULL) {
        bk_md_image_release(img);
        bk_req_fail(call->req, "out of memory");
        return;
    }
    size_t first;
    if (!cursor_start(req, names, n, &first)) {
        answer_bad_cursor(req, &resp, n);
    } else if (describe_page(call, img, req, names, first, n, &resp) != 0) {
        bk_md_image_release(img);
        bk_req_fail(call->req, "out of memory");
        return;
    }
    bk_md_image_release(img);
    bk_call_reply(call, &resp);
}
