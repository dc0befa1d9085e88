/* ConsumerGroupDescribe (key 69), v0-1: KIP-848 groups (group.protocol=
 * consumer) as Kafka's GroupMetadataManager.consumerGroupDescribe shows
 * them, each on its coordinator shard: state, epochs, assignor, and every
 * member with its subscription, current assignment and target assignment
 * (topic names from the current metadata image; a topic missing from it
 * is left out, as Kafka does).
 *
 * A group that does not exist, or is a classic group, is GROUP_ID_NOT_FOUND
 * with Kafka's message: the Java Admin client then retries the group with
 * DescribeGroups, which is how describeConsumerGroups() shows classic
 * groups. An empty id is INVALID_GROUP_ID (GroupCoordinatorService); a
 * group this broker does not coordinate is NOT_COORDINATOR or
 * COORDINATOR_NOT_AVAILABLE, as for DescribeGroups. */
#include "protocol/gen/consumer_group_describe.h"

#include <stdio.h>
#include <string.h>

#include "api/access.h"
#include "api/authz.h"
#include "api/group_coord.h"
#include "cluster/controller.h"
#include "group/consumer.h"
#include "protocol/kerr.h"

typedef struct bk_msg_consumer_group_describe_response_described_group
    out_group;
typedef struct bk_msg_consumer_group_describe_response_member out_member;
typedef struct bk_msg_consumer_group_describe_response_topic_partitions out_tp;
typedef struct bk_msg_consumer_group_describe_response_assignment out_asg;

/* MemberType (v1+): a classic member (JoinGroup, KIP-848 migration) or
 * one that speaks the consumer protocol. */
#define MEMBER_TYPE_CLASSIC  0
#define MEMBER_TYPE_CONSUMER 1

struct cgd_state {
    struct bk_gops ops;
    out_group *out; /* arena; item i written by its owner */
};

/* A set of topic partitions as TopicPartitions, one entry per topic (in
 * the order topics first appear), with the name from img. Memory in b. */
static void describe_set(const struct bk_cgroup_set *s,
                         const struct bk_md_image *img,
                         struct bk_gbuf *b,
                         out_asg *o)
{
    o->topic_partitions = bk_gbuf_alloc(b, (s->n + 1) * sizeof(out_tp));
    int32_t *parts = bk_gbuf_alloc(b, (s->n + 1) * sizeof(int32_t));
    bool *used = bk_gbuf_alloc(b, s->n + 1);
    o->topic_partitions_count = 0;
    if (o->topic_partitions == NULL || parts == NULL || used == NULL) {
        return; /* b->failed is set: the group answers an error */
    }
    memset(used, 0, s->n + 1);
    size_t k = 0;
    for (size_t x = 0; x < s->n; x++) {
        if (used[x]) {
            continue;
        }
        const struct bk_uuid *id = &s->v[x].topic_id;
        const struct bk_md_topic *t =
            img != NULL ? bk_md_image_topic_by_id(img, id) : NULL;
        out_tp *tp = NULL;
        if (t != NULL) {
            tp = &o->topic_partitions[o->topic_partitions_count++];
            memset(tp, 0, sizeof(*tp));
            tp->topic_id = *id;
            tp->topic_name = bk_gbuf_str(b, t->name);
            tp->partitions = &parts[k];
        }
        for (size_t y = x; y < s->n; y++) {
            if (!used[y] && memcmp(&s->v[y].topic_id, id, sizeof(*id)) == 0) {
                used[y] = true;
                if (tp != NULL) {
                    parts[k++] = s->v[y].partition;
                    tp->partitions_count++;
                }
            }
        }
    }
}

static void describe_member(const struct bk_cmember *m,
                            const struct bk_md_image *img,
                            struct bk_gbuf *b,
                            out_member *om)
{
    memset(om, 0, sizeof(*om));
    om->member_id = bk_gbuf_str(b, m->id);
    om->instance_id = bk_gbuf_instance(b, m);
    om->rack_id = BK_STR_NULL; /* rack-aware assignment is not supported */
    om->member_epoch = m->epoch;
    om->client_id = bk_gbuf_str(b, m->client_id ? m->client_id : "");
    om->client_host = bk_gbuf_str(b, m->client_host ? m->client_host : "");
    om->subscribed_topic_names =
        bk_gbuf_alloc(b, (m->ntopics + 1) * sizeof(struct bk_str));
    if (om->subscribed_topic_names != NULL) {
        for (size_t i = 0; i < m->ntopics; i++) {
            om->subscribed_topic_names[i] = bk_gbuf_str(b, m->topics[i]);
        }
        om->subscribed_topic_names_count = (int32_t)m->ntopics;
    }
    om->subscribed_topic_regex = bk_gbuf_str(b, m->regex);
    /* Kafka's member keeps what it was told it owns (assignedPartitions)
     * apart from what it still has to revoke, as m->assigned does. */
    describe_set(&m->assigned, img, b, &om->assignment);
    describe_set(&m->target, img, b, &om->target_assignment);
    om->member_type = m->classic ? MEMBER_TYPE_CLASSIC : MEMBER_TYPE_CONSUMER;
}

static void run(struct bk_gops *ops,
                size_t i,
                struct bk_coord_group *gc,
                struct bk_fan_part *part)
{
    (void)part;
    struct cgd_state *st = ops->data;
    out_group *o = &st->out[i];
    struct bk_gbuf *b = &ops->items[i].buf;
    struct bk_str id = ops->items[i].group_id;
    const struct bk_group *g = bk_group_find(bk_coord_group_registry(gc), id);
    if (g == NULL || g->state == BK_GROUP_DEAD || g->consumer == NULL) {
        /* GroupMetadataManager.group() / consumerGroup(). */
        bool missing = g == NULL || g->state == BK_GROUP_DEAD;
        size_t cap = (size_t)id.len + 40;
        char *msg = bk_gbuf_alloc(b, cap);
        int n = msg == NULL
                    ? -1
                    : snprintf(msg, cap,
                               missing ? "Group %.*s not found."
                                       : "Group %.*s is not a consumer group.",
                               (int)id.len, id.ptr);
        if (n >= 0) {
            o->error_message = (struct bk_str){ msg, n };
        }
        o->error_code = BK_KERR_GROUP_ID_NOT_FOUND;
        return;
    }
    const struct bk_cgroup *cg = g->consumer;
    o->group_state = bk_str_c(bk_cgroup_state(g));
    o->group_epoch = cg->group_epoch;
    /* The target assignment is recomputed whenever the group epoch moves,
     * so its epoch is the group epoch. */
    o->assignment_epoch = cg->group_epoch;
    o->assignor_name = bk_gbuf_str(b, cg->assignor ? cg->assignor : "uniform");
    const struct bk_msg_consumer_group_describe_request *req =
        ops->call->request;
    if (req->include_authorized_operations) {
        o->authorized_operations = BK_API_AUTHZ_GROUP; /* see done() */
    }
    o->members = bk_gbuf_alloc(b, (cg->nmembers + 1) * sizeof(out_member));
    if (o->members == NULL) {
        return;
    }
    struct bk_md_image *img = bk_md_image_acquire(ops->call->ctx->md);
    for (size_t k = 0; k < cg->nmembers; k++) {
        describe_member(cg->members[k], img, b, &o->members[k]);
    }
    bk_md_image_release(img);
    o->members_count = (int32_t)cg->nmembers;
}

static void done(struct bk_gops *ops)
{
    struct cgd_state *st = ops->data;
    struct bk_msg_consumer_group_describe_response resp;
    bk_msg_consumer_group_describe_response_init(&resp);
    resp.groups = st->out;
    resp.groups_count = (int32_t)ops->n;
    for (size_t i = 0; i < ops->n; i++) {
        int16_t err = ops->items[i].error;
        if (err == 0 && ops->items[i].buf.failed) {
            err = BK_KERR_UNKNOWN_SERVER_ERROR;
        }
        if (err != 0) {
            out_group *o = &st->out[i];
            o->error_code = err;
            o->error_message = BK_STR_NULL;
            o->group_state = bk_str_c("");
            o->assignor_name = bk_str_c("");
            o->members_count = 0;
            o->authorized_operations = BK_API_AUTHZ_NOT_ASKED;
        } else if (st->out[i].authorized_operations != BK_API_AUTHZ_NOT_ASKED) {
            /* What the ACLs allow, decided here on the connection's
             * shard (the owner filled in the set without them). */
            st->out[i].authorized_operations = bk_api_authz_ops(
                ops->call, NULL, BK_ACL_RES_GROUP, ops->items[i].group_id);
        }
    }
    bk_gops_reply(ops, &resp);
}

void bk_handle_consumer_group_describe(struct bk_call *call)
{
    const struct bk_msg_consumer_group_describe_request *req = call->request;
    size_t n = req->group_ids_count < 0 ? 0 : (size_t)req->group_ids_count;
    struct cgd_state *st = BK_GOPS_ALLOC(call, struct cgd_state, n);
    if (st == NULL) {
        return;
    }
    st->out = bk_arena_alloc(call->arena, (n + 1) * sizeof(*st->out));
    if (st->out == NULL) {
        bk_req_fail(call->req, "out of memory");
        return;
    }
    for (size_t i = 0; i < n; i++) {
        out_group *o = &st->out[i];
        memset(o, 0, sizeof(*o));
        o->group_id = req->group_ids[i];
        o->group_state = bk_str_c("");
        o->assignor_name = bk_str_c("");
        o->error_message = BK_STR_NULL;
        o->authorized_operations = BK_API_AUTHZ_NOT_ASKED;
        /* An empty id is INVALID_GROUP_ID before any routing
         * (GroupCoordinatorService.isGroupIdNotEmpty); a null id is
         * refused by bk_gcoord_route() the same way. */
        st->ops.items[i].group_id =
            req->group_ids[i].len > 0 ? req->group_ids[i] : BK_STR_NULL;
    }
    st->ops.group_op = BK_ACL_OP_DESCRIBE; /* security-notes.md §7 */
    if (bk_gops_start(&st->ops, run, done, st) != 0) {
        bk_req_fail(call->req, "out of memory");
    }
}
