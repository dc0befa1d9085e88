/* DeleteTopics (key 20), v1-6: by name, and from v6 by name or topic id.
 *
 * The removal records go into one proposal and the answer waits until they
 * are applied. The partitions' data is removed from disk in the background
 * by their shards when they see the new image (partition.c). */
#include "protocol/gen/delete_topics.h"

#include <stdio.h>
#include <string.h>

#include "api/access.h"
#include "api/call.h"
#include "cluster/controller.h"
#include "cluster/ops.h"
#include "protocol/kerr.h"

typedef struct bk_msg_delete_topics_response_deletable_topic_result out_topic;

struct dt_state {
    struct bk_msg_delete_topics_response resp;
    bool *proposed;
};

static void applied(struct bk_call *call, int status)
{
    struct dt_state *st = call->data_ptr;
    if (status != 0) {
        int16_t err = bk_api_md_kerr(status);
        for (int32_t i = 0; i < st->resp.responses_count; i++) {
            if (st->proposed[i]) {
                st->resp.responses[i].error_code = err;
                st->resp.responses[i].error_message =
                    bk_str_c(bk_kerr_message(err));
            }
        }
    }
    bk_call_reply(call, &st->resp);
}

static int16_t denied(char *msg)
{
    snprintf(msg, BK_MD_MSG_SIZE, "Authorization failed.");
    return BK_KERR_TOPIC_AUTHORIZATION_FAILED;
}

void bk_handle_delete_topics(struct bk_call *call)
{
    const struct bk_msg_delete_topics_request *req = call->request;
    bool v6 = call->hdr.api_version >= 6;
    int32_t n = v6 ? req->topics_count : req->topic_names_count;
    if (n < 0) {
        n = 0;
    }
    struct dt_state *st = bk_arena_alloc(call->arena, sizeof(*st));
    struct bk_md_image *img = bk_api_image(call);
    if (st != NULL) {
        bk_msg_delete_topics_response_init(&st->resp);
        st->resp.responses =
            bk_arena_alloc(call->arena, (size_t)(n + 1) * sizeof(out_topic));
        st->proposed = bk_arena_alloc(call->arena, (size_t)n + 1);
    }
    if (st == NULL || st->resp.responses == NULL || st->proposed == NULL ||
        img == NULL) {
        bk_md_image_release(img);
        bk_req_fail(call->req, "out of memory");
        return;
    }
    call->data_ptr = st;
    st->resp.responses_count = n;
    struct bk_md_recs recs;
    bk_md_recs_init(&recs, call->arena);
    for (int32_t i = 0; i < n; i++) {
        out_topic *out = &st->resp.responses[i];
        struct bk_str name = v6 ? req->topics[i].name : req->topic_names[i];
        char *msg = bk_arena_alloc(call->arena, BK_MD_MSG_SIZE);
        if (msg == NULL) {
            bk_md_image_release(img);
            bk_req_fail(call->req, "out of memory");
            return;
        }
        int16_t err;
        out->name = name;
        if (name.len >= 0) {
            /* By every byte of the name: "victim\0zzz" names no topic (a C
             * string of it would name "victim"). */
            size_t len = (size_t)name.len;
            const char *p = len > 0 ? name.ptr : "";
            const struct bk_md_topic *t = bk_md_image_topic(img, p, len);
            if (t != NULL) {
                out->topic_id = t->id;
            }
            /* Kafka: DELETE on the topic, checked before it is looked
             * for. */
            err =
                !bk_api_may(call, img, BK_ACL_OP_DELETE, BK_ACL_RES_TOPIC, name)
                    ? denied(msg)
                    : bk_md_op_delete_topic(img, p, len, &recs, msg);
        } else {
            out->topic_id = req->topics[i].topic_id;
            const struct bk_md_topic *t =
                bk_md_image_topic_by_id(img, &out->topic_id);
            if (t != NULL) {
                out->name = bk_str_c(bk_call_cstr(call, bk_str_c(t->name)));
            }
            /* By id, an unknown id is told as such; a known one needs
             * DELETE (which implies the DESCRIBE that reveals it). */
            err =
                t != NULL && !bk_api_may(call, img, BK_ACL_OP_DELETE,
                                         BK_ACL_RES_TOPIC, bk_str_c(t->name))
                    ? denied(msg)
                    : bk_md_op_delete_topic_id(img, &out->topic_id, &recs, msg);
        }
        out->error_code = err;
        out->error_message = err != 0 ? bk_str_c(msg) : BK_STR_NULL;
        st->proposed[i] = err == 0;
    }
    bk_md_image_release(img);
    if (recs.n == 0) {
        bk_call_reply(call, &st->resp);
        return;
    }
    int rv = bk_api_propose(call, recs.v, recs.n, applied);
    if (rv != 0) {
        applied(call, rv);
    }
}
