/* ElectLeaders (key 43, v0-2): preferred or unclean leader elections asked
 * by an administrator (kafka-leader-election.sh, brokerctl partition
 * elect-leaders; replication-notes.md §9).
 *
 * Decided on the active controller's image (forward.c sends it there from
 * any other node) by bk_md_op_elect_leader, Kafka's rules; every election
 * of the request goes into one proposal, answered once applied. A null
 * topic list means every partition, and then, as Kafka answers, the
 * partitions whose election was not needed are left out. An unknown
 * election type fails every partition with INVALID_REQUEST, top-level too
 * (Kafka's getErrorResponse). */
#include "protocol/gen/elect_leaders.h"

#include <string.h>

#include "api/call.h"
#include "cluster/controller.h"
#include "cluster/ops.h"
#include "protocol/kerr.h"

typedef struct bk_msg_elect_leaders_response_replica_election_result
    topic_result;
typedef struct bk_msg_elect_leaders_response_partition_result part_result;

/* The message of an error: Kafka's own text unless the operation gave one;
 * null for success. */
static struct bk_str message(struct bk_call *call, int16_t code, const char *m)
{
    if (code == BK_KERR_NONE) {
        return BK_STR_NULL;
    }
    if (m[0] == '\0') {
        return bk_str_c(bk_kerr_message(code));
    }
    char *c = bk_arena_strndup(call->arena, m, strlen(m));
    return c != NULL ? bk_str_c(c) : bk_str_c(bk_kerr_message(code));
}

/* Elects one partition into r (and recs); skipped (false) when the caller
 * asked for every partition and this one needs no election. */
static bool elect_one(struct bk_call *call,
                      const struct bk_md_image *img,
                      struct bk_str topic,
                      int32_t partition,
                      bool all,
                      struct bk_md_recs *recs,
                      part_result *r)
{
    const struct bk_msg_elect_leaders_request *req = call->request;
    char msg[BK_MD_MSG_SIZE];
    int16_t code = BK_KERR_INVALID_REQUEST;
    msg[0] = '\0';
    if (req->election_type == BK_MD_ELECT_PREFERRED ||
        req->election_type == BK_MD_ELECT_UNCLEAN) {
        code = bk_md_op_elect_leader(
            img, topic.len > 0 ? topic.ptr : "",
            topic.len > 0 ? (size_t)topic.len : 0, partition,
            (enum bk_md_election)req->election_type, recs, msg);
    }
    if (code < 0) {
        code = BK_KERR_UNKNOWN_SERVER_ERROR;
    }
    if (all && code == BK_KERR_ELECTION_NOT_NEEDED) {
        return false;
    }
    *r = (part_result){ .partition_id = partition,
                        .error_code = code,
                        .error_message = message(call, code, msg) };
    return true;
}

/* Every partition of every topic, by name (Kafka: the null list). */
static topic_result *elect_all(struct bk_call *call,
                               const struct bk_md_image *img,
                               struct bk_md_recs *recs,
                               int32_t *n)
{
    topic_result *out =
        bk_arena_alloc(call->arena, sizeof(*out) * img->n_topics + 1);
    for (size_t i = 0; out != NULL && i < img->n_topics; i++) {
        const struct bk_md_topic *t = img->by_name[i];
        part_result *r = bk_arena_alloc(
            call->arena, sizeof(*r) * (size_t)t->n_partitions + 1);
        /* The answer outlives the image: the name is copied. */
        char *name = bk_arena_strndup(call->arena, t->name, strlen(t->name));
        if (r == NULL || name == NULL) {
            return NULL;
        }
        out[i] =
            (topic_result){ .topic = bk_str_c(name), .partition_result = r };
        for (int32_t p = 0; p < t->n_partitions; p++) {
            if (elect_one(call, img, out[i].topic, p, true, recs,
                          &r[out[i].partition_result_count])) {
                out[i].partition_result_count++;
            }
        }
    }
    *n = (int32_t)img->n_topics;
    return out;
}

static topic_result *elect_listed(struct bk_call *call,
                                  const struct bk_md_image *img,
                                  struct bk_md_recs *recs,
                                  int32_t *n)
{
    const struct bk_msg_elect_leaders_request *req = call->request;
    int32_t nt = req->topic_partitions_count;
    topic_result *out =
        bk_arena_alloc(call->arena, sizeof(*out) * (size_t)nt + 1);
    for (int32_t i = 0; out != NULL && i < nt; i++) {
        const struct bk_msg_elect_leaders_request_topic_partitions *tp =
            &req->topic_partitions[i];
        int32_t np = tp->partitions_count < 0 ? 0 : tp->partitions_count;
        part_result *r =
            bk_arena_alloc(call->arena, sizeof(*r) * (size_t)np + 1);
        if (r == NULL) {
            return NULL;
        }
        out[i] = (topic_result){ .topic = tp->topic,
                                 .partition_result = r,
                                 .partition_result_count = np };
        for (int32_t k = 0; k < np; k++) {
            elect_one(call, img, tp->topic, tp->partitions[k], false, recs,
                      &r[k]);
        }
    }
    *n = nt;
    return out;
}

/* The proposal failed: the elections it carried did not happen. */
static void applied(struct bk_call *call, int status)
{
    struct bk_msg_elect_leaders_response *resp = call->data_ptr;
    int16_t code = bk_api_md_kerr(status);
    for (int32_t i = 0; status != 0 && i < resp->replica_election_results_count;
         i++) {
        topic_result *t = &resp->replica_election_results[i];
        for (int32_t k = 0; k < t->partition_result_count; k++) {
            if (t->partition_result[k].error_code == BK_KERR_NONE) {
                t->partition_result[k].error_code = code;
                t->partition_result[k].error_message =
                    bk_str_c(bk_kerr_message(code));
            }
        }
    }
    bk_call_reply(call, resp);
}

void bk_handle_elect_leaders(struct bk_call *call)
{
    const struct bk_msg_elect_leaders_request *req = call->request;
    struct bk_msg_elect_leaders_response *resp =
        bk_arena_alloc(call->arena, sizeof(*resp));
    struct bk_md_image *img = bk_api_image(call);
    if (resp == NULL || img == NULL) {
        bk_md_image_release(img);
        bk_req_fail(call->req, "out of memory");
        return;
    }
    bk_msg_elect_leaders_response_init(resp);
    call->data_ptr = resp;
    struct bk_md_recs recs;
    bk_md_recs_init(&recs, call->arena);
    int32_t n = 0;
    resp->replica_election_results = req->topic_partitions_count < 0
                                         ? elect_all(call, img, &recs, &n)
                                         : elect_listed(call, img, &recs, &n);
    bk_md_image_release(img);
    if (resp->replica_election_results == NULL) {
        bk_req_fail(call->req, "out of memory");
        return;
    }
    resp->replica_election_results_count = n;
    if (req->election_type != BK_MD_ELECT_PREFERRED &&
        req->election_type != BK_MD_ELECT_UNCLEAN) {
        resp->error_code = BK_KERR_INVALID_REQUEST;
    }
    if (recs.n == 0) {
        bk_call_reply(call, resp);
        return;
    }
    int rv = bk_api_propose(call, recs.v, recs.n, applied);
    if (rv != 0) {
        applied(call, rv);
    }
}
