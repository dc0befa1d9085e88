/* ListGroups (key 16), v0-5: every group this broker coordinates, gathered
 * from every shard (each loads its offsets partitions first, so groups
 * come back after a restart), with the state filter (v4+, KIP-518, case-
 * insensitive) and the type filter (v5+, KIP-848: "classic" or
 * "consumer"). */
#include "protocol/gen/list_groups.h"

#include <string.h>
#include <strings.h>

#include "api/access.h"
#include "api/group_coord.h"
#include "cluster/controller.h"
#include "group/consumer.h"
#include "protocol/kerr.h"

typedef struct bk_msg_list_groups_response_listed_group out_group;

struct lg_shard {
    struct bk_gbuf buf;
    out_group *groups;
    size_t n;
};

struct lg_state {
    struct bk_fan fan;
    struct lg_shard *shards; /* one per shard, written by that shard */
};

static bool match(const struct bk_str *filter, int32_t n, const char *v)
{
    if (n <= 0) {
        return true;
    }
    size_t len = strlen(v);
    for (int32_t i = 0; i < n; i++) {
        if (filter[i].len >= 0 && (size_t)filter[i].len == len &&
            strncasecmp(filter[i].ptr, v, len) == 0) {
            return true;
        }
    }
    return false;
}

static void run_part(struct bk_fan_part *part)
{
    struct lg_state *st = part->fan->data;
    const struct bk_msg_list_groups_request *req = part->fan->call->request;
    int16_t v = part->fan->call->hdr.api_version;
    struct lg_shard *out = &st->shards[part->owner->id];
    struct bk_md_image *img = bk_md_image_acquire(part->fan->call->ctx->md);
    struct bk_coord_group *gc = bk_gcoord_load_all(part, img);
    bk_md_image_release(img);
    if (gc == NULL) {
        bk_fan_release(part);
        return;
    }
    struct bk_group_registry *r = bk_coord_group_registry(gc);
    out->groups =
        bk_gbuf_alloc(&out->buf, (r->ngroups + 1) * sizeof(out_group));
    for (const struct bk_group *g = r->groups; out->groups != NULL && g != NULL;
         g = g->next) {
        const char *state = g->consumer != NULL ? bk_cgroup_state(g)
                                                : bk_group_state_name(g->state);
        const char *type = g->consumer != NULL ? "consumer" : "classic";
        if (g->state == BK_GROUP_DEAD ||
            (v >= 4 &&
             !match(req->states_filter, req->states_filter_count, state)) ||
            (v >= 5 &&
             !match(req->types_filter, req->types_filter_count, type))) {
            continue;
        }
        out_group *o = &out->groups[out->n++];
        memset(o, 0, sizeof(*o));
        /* With its length: a group id may hold NUL bytes. */
        struct bk_bytes id = bk_gbuf_bytes(&out->buf, g->id, g->id_len);
        o->group_id = id.ptr != NULL
                          ? (struct bk_str){ (const char *)id.ptr, id.len }
                          : bk_str_c("");
        o->protocol_type =
            bk_gbuf_str(&out->buf, g->protocol_type ? g->protocol_type : "");
        o->group_state = bk_str_c(state);
        o->group_type = bk_str_c(type);
    }
    bk_fan_release(part);
}

static void done(struct bk_fan *fan)
{
    struct lg_state *st = fan->data;
    struct bk_call *call = fan->call;
    unsigned ns = call->req->shard->group->n;
    size_t total = 0;
    for (unsigned s = 0; s < ns; s++) {
        total += st->shards[s].n;
    }
    struct bk_msg_list_groups_response resp;
    bk_msg_list_groups_response_init(&resp);
    resp.groups = bk_arena_alloc(call->arena, (total + 1) * sizeof(out_group));
    struct bk_gbuf mem = { NULL, false };
    bool failed = resp.groups == NULL;
    size_t k = 0;
    /* Kafka: DESCRIBE on the cluster lists every group, else only those
     * with DESCRIBE on the group. */
    struct bk_md_image *img = bk_api_image(call);
    bool all = bk_api_may_cluster(call, img, BK_ACL_OP_DESCRIBE);
    for (unsigned s = 0; s < ns; s++) {
        struct lg_shard *sh = &st->shards[s];
        failed |= sh->buf.failed;
        for (size_t i = 0; resp.groups != NULL && i < sh->n; i++) {
            if (all || bk_api_may(call, img, BK_ACL_OP_DESCRIBE,
                                  BK_ACL_RES_GROUP, sh->groups[i].group_id)) {
                resp.groups[k++] = sh->groups[i];
            }
        }
        bk_gbuf_move(&mem, &sh->buf);
    }
    bk_md_image_release(img);
    resp.groups_count = (int32_t)k;
    if (failed) {
        resp.error_code = BK_KERR_UNKNOWN_SERVER_ERROR;
        resp.groups_count = 0;
    }
    bk_call_reply(call, &resp);
    bk_gbuf_free(&mem);
}

void bk_handle_list_groups(struct bk_call *call)
{
    unsigned ns = call->req->shard->group->n;
    struct lg_state *st = bk_arena_alloc(call->arena, sizeof(*st));
    unsigned *owner = bk_arena_alloc(call->arena, ns * sizeof(*owner));
    if (st == NULL || owner == NULL) {
        bk_req_fail(call->req, "out of memory");
        return;
    }
    st->shards = bk_arena_alloc(call->arena, ns * sizeof(*st->shards));
    if (st->shards == NULL) {
        bk_req_fail(call->req, "out of memory");
        return;
    }
    memset(st->shards, 0, ns * sizeof(*st->shards));
    for (unsigned s = 0; s < ns; s++) {
        owner[s] = s;
    }
    if (bk_fan_start(&st->fan, call, ns, owner, run_part, done, st) != 0) {
        bk_req_fail(call->req, "out of memory");
    }
}
