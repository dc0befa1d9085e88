/* DescribeGroups (key 15), v0-6: state, protocol and members of groups,
 * each on its coordinator shard. As Kafka does, member metadata and
 * assignments of classic groups are shown only while the group is Stable,
 * and an unknown group is described as Dead (v6: with GROUP_ID_NOT_FOUND).
 * KIP-848 groups are shown with their members' subscriptions and current
 * assignments in the consumer protocol's layout, for tools that only know
 * DescribeGroups (Kafka's Admin asks ConsumerGroupDescribe first,
 * consumer_group_describe.c). */
#include "protocol/gen/describe_groups.h"

#include <string.h>

#include "api/access.h"
#include "api/authz.h"
#include "api/group_coord.h"
#include "cluster/controller.h"
#include "group/consumer.h"
#include "protocol/gen/consumer_protocol_assignment.h"
#include "protocol/gen/consumer_protocol_subscription.h"
#include "protocol/kerr.h"

typedef struct bk_msg_describe_groups_response_described_group out_group;
typedef struct bk_msg_describe_groups_response_described_group_member
    out_member;

struct dg_state {
    struct bk_gops ops;
    out_group *out; /* arena; item i written by its owner */
};

/* A KIP-848 member as a classic consumer-protocol member: subscription
 * and assignment (topic names from the image) in the consumer protocol's
 * v0 layout, so that tools built for DescribeGroups show them. */
static void describe_cmember(const struct bk_cmember *m,
                             const struct bk_md_image *img,
                             struct bk_gbuf *b,
                             out_member *om)
{
    struct bk_arena a;
    bk_arena_init(&a, 4096, 0);
    struct bk_msg_consumer_protocol_subscription sub;
    bk_msg_consumer_protocol_subscription_init(&sub);
    sub.topics = bk_arena_alloc(&a, (m->ntopics + 1) * sizeof(*sub.topics));
    struct bk_msg_consumer_protocol_assignment asg;
    bk_msg_consumer_protocol_assignment_init(&asg);
    asg.assigned_partitions = bk_arena_alloc(
        &a, (m->assigned.n + 1) * sizeof(*asg.assigned_partitions));
    int32_t *parts = bk_arena_alloc(&a, (m->assigned.n + 1) * sizeof(*parts));
    om->member_metadata = bk_gbuf_bytes(b, NULL, 0);
    om->member_assignment = bk_gbuf_bytes(b, NULL, 0);
    if (sub.topics == NULL || asg.assigned_partitions == NULL ||
        parts == NULL) {
        bk_arena_destroy(&a);
        return;
    }
    for (size_t i = 0; i < m->ntopics; i++) {
        sub.topics[i] = bk_str_c(m->topics[i]);
    }
    sub.topics_count = (int32_t)m->ntopics;
    asg.assigned_partitions_count = 0;
    size_t k = 0;
    for (size_t i = 0; i < m->assigned.n; i++) {
        const struct bk_cgroup_tp *tp = &m->assigned.v[i];
        const struct bk_md_topic *t =
            img != NULL ? bk_md_image_topic_by_id(img, &tp->topic_id) : NULL;
        if (t == NULL) {
            continue;
        }
        struct bk_msg_consumer_protocol_assignment_topic_partition *o = NULL;
        for (int32_t x = 0; x < asg.assigned_partitions_count; x++) {
            if (bk_str_eq_c(asg.assigned_partitions[x].topic, t->name)) {
                o = &asg.assigned_partitions[x];
            }
        }
        if (o == NULL) {
            o = &asg.assigned_partitions[asg.assigned_partitions_count++];
            memset(o, 0, sizeof(*o));
            o->topic = bk_str_c(t->name);
            o->partitions = &parts[k];
        }
        /* Partitions of one topic are contiguous: the set is filled per
         * topic by the assignors; fall back to a copy when not. */
        if (o->partitions + o->partitions_count != &parts[k]) {
            int32_t *np = bk_arena_alloc(
                &a, ((size_t)o->partitions_count + 1) * sizeof(*np));
            if (np == NULL) {
                continue;
            }
            memcpy(np, o->partitions,
                   (size_t)o->partitions_count * sizeof(*np));
            o->partitions = np;
            np[o->partitions_count++] = tp->partition;
            continue;
        }
        parts[k++] = tp->partition;
        o->partitions_count++;
    }
    size_t sn = 2 + bk_msg_consumer_protocol_subscription_size(&sub, 0);
    size_t an = 2 + bk_msg_consumer_protocol_assignment_size(&asg, 0);
    uint8_t *sb = bk_gbuf_alloc(b, sn);
    uint8_t *ab = bk_gbuf_alloc(b, an);
    if (sb != NULL && ab != NULL) {
        struct bk_wr w;
        bk_wr_init(&w, sb, sn);
        bk_wr_i16(&w, 0);
        if (bk_msg_consumer_protocol_subscription_encode(&sub, &w, 0) == 0 &&
            w.err == 0) {
            om->member_metadata = (struct bk_bytes){ sb, (int32_t)w.len };
        }
        bk_wr_init(&w, ab, an);
        bk_wr_i16(&w, 0);
        if (bk_msg_consumer_protocol_assignment_encode(&asg, &w, 0) == 0 &&
            w.err == 0) {
            om->member_assignment = (struct bk_bytes){ ab, (int32_t)w.len };
        }
    }
    bk_arena_destroy(&a);
}

static void describe_consumer(const struct bk_group *g,
                              const struct bk_md_image *img,
                              struct bk_gbuf *b,
                              out_group *o)
{
    const struct bk_cgroup *cg = g->consumer;
    o->group_state = bk_str_c(bk_cgroup_state(g));
    o->protocol_type = bk_str_c("consumer");
    o->protocol_data = bk_gbuf_str(b, cg->assignor ? cg->assignor : "uniform");
    o->members = bk_gbuf_alloc(b, (cg->nmembers + 1) * sizeof(out_member));
    if (o->members == NULL) {
        return;
    }
    for (size_t k = 0; k < cg->nmembers; k++) {
        const struct bk_cmember *m = cg->members[k];
        out_member *om = &o->members[k];
        memset(om, 0, sizeof(*om));
        om->member_id = bk_gbuf_str(b, m->id);
        om->group_instance_id = bk_gbuf_instance(b, m);
        om->client_id = bk_gbuf_str(b, m->client_id);
        om->client_host = bk_gbuf_str(b, m->client_host);
        describe_cmember(m, img, b, om);
    }
    o->members_count = (int32_t)cg->nmembers;
}

static void run(struct bk_gops *ops,
                size_t i,
                struct bk_coord_group *gc,
                struct bk_fan_part *part)
{
    (void)part;
    struct dg_state *st = ops->data;
    out_group *o = &st->out[i];
    struct bk_gbuf *b = &ops->items[i].buf;
    const struct bk_group *g =
        bk_group_find(bk_coord_group_registry(gc), ops->items[i].group_id);
    if (g == NULL || g->state == BK_GROUP_DEAD) {
        o->group_state = bk_str_c("Dead");
        if (ops->call->hdr.api_version >= 6) {
            o->error_code = BK_KERR_GROUP_ID_NOT_FOUND;
            o->error_message = bk_str_c("Group not found.");
        }
        return;
    }
    if (g->consumer != NULL) {
        struct bk_md_image *img = bk_md_image_acquire(ops->call->ctx->md);
        describe_consumer(g, img, b, o);
        bk_md_image_release(img);
        return;
    }
    bool stable = g->state == BK_GROUP_STABLE;
    o->group_state = bk_str_c(bk_group_state_name(g->state));
    o->protocol_type = bk_gbuf_str(b, g->protocol_type ? g->protocol_type : "");
    o->protocol_data =
        bk_gbuf_str(b, stable && g->protocol != NULL ? g->protocol : "");
    o->members = bk_gbuf_alloc(b, (g->nmembers + 1) * sizeof(out_member));
    if (o->members == NULL) {
        return;
    }
    for (size_t k = 0; k < g->nmembers; k++) {
        const struct bk_group_member *m = g->members[k];
        out_member *om = &o->members[k];
        memset(om, 0, sizeof(*om));
        om->member_id = bk_gbuf_str(b, m->id);
        om->group_instance_id = bk_gbuf_instance(b, m);
        om->client_id = bk_gbuf_str(b, m->client_id);
        om->client_host = bk_gbuf_str(b, m->client_host);
        const struct bk_group_protocol *p = bk_group_member_protocol(g, m);
        om->member_metadata =
            stable && p != NULL ? bk_gbuf_bytes(b, p->metadata, p->metadata_len)
                                : bk_gbuf_bytes(b, NULL, 0);
        om->member_assignment =
            stable ? bk_gbuf_bytes(b, m->assignment, m->assignment_len)
                   : bk_gbuf_bytes(b, NULL, 0);
    }
    o->members_count = (int32_t)g->nmembers;
}

static void done(struct bk_gops *ops)
{
    struct dg_state *st = ops->data;
    const struct bk_msg_describe_groups_request *req = ops->call->request;
    struct bk_msg_describe_groups_response resp;
    bk_msg_describe_groups_response_init(&resp);
    resp.groups = st->out;
    resp.groups_count = (int32_t)ops->n;
    for (size_t i = 0; i < ops->n; i++) {
        if (ops->items[i].error != 0) {
            st->out[i].error_code = ops->items[i].error;
            st->out[i].members_count = 0;
        } else if (ops->items[i].buf.failed) {
            st->out[i].error_code = BK_KERR_UNKNOWN_SERVER_ERROR;
            st->out[i].members_count = 0;
        }
        /* KIP-430, v3+: as Kafka 4.1, for every group answered without an
         * error, Dead (unknown) groups before v6 included. */
        if (st->out[i].error_code == 0 && ops->call->hdr.api_version >= 3 &&
            req->include_authorized_operations) {
            st->out[i].authorized_operations = bk_api_authz_ops(
                ops->call, NULL, BK_ACL_RES_GROUP, ops->items[i].group_id);
        }
    }
    bk_gops_reply(ops, &resp);
}

void bk_handle_describe_groups(struct bk_call *call)
{
    const struct bk_msg_describe_groups_request *req = call->request;
    size_t n = req->groups_count < 0 ? 0 : (size_t)req->groups_count;
    struct dg_state *st = BK_GOPS_ALLOC(call, struct dg_state, n);
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
        o->group_id = req->groups[i];
        o->group_state = bk_str_c("");
        o->protocol_type = bk_str_c("");
        o->protocol_data = bk_str_c("");
        o->error_message = BK_STR_NULL;
        o->authorized_operations = BK_API_AUTHZ_NOT_ASKED;
        st->ops.items[i].group_id = req->groups[i];
    }
    st->ops.group_op = BK_ACL_OP_DESCRIBE; /* security-notes.md §7 */
    if (bk_gops_start(&st->ops, run, done, st) != 0) {
        bk_req_fail(call->req, "out of memory");
    }
}
