/* GET /v1/...: a small read-only JSON API for operators and the console,
 * built with jansson. Cluster, brokers and topics come from the published
 * metadata image; groups from the coordinators of the shards (the groups
 * each shard has loaded, asked through its inbox).
 *
 *   /v1/cluster          cluster id, this node, controller, counts
 *   /v1/brokers          registered brokers
 *   /v1/topics           topics with partition count and replication
 *   /v1/topics/{name}    one topic: partitions (leader, replicas, ISR),
 *                        explicit configs
 *   /v1/groups           groups loaded by this node's coordinators
 *   /v1/groups/{id}      one group: members and their assignments
 *   /v1/topics/{name}/partitions/{p}/records?offset=|timestamp=&limit=
 *                        records of one partition (records.c) */
#include <jansson.h>
#include <microhttpd.h>
#include <string.h>

#include "api/api.h"
#include "cluster/controller.h"
#include "cluster/image.h"
#include "common/heap.h"
#include "coord/group_coord.h"
#include "group/consumer.h"
#include "group/group.h"
#include "http/http_int.h"
#include "net/net.h"

#define GROUPS_TIMEOUT_MS 2000

/* A UUID as Kafka prints it: 22 characters of unpadded base64url. */
static void uuid_text(const struct bk_uuid *u, char out[23])
{
    static const char tab[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    size_t o = 0;
    for (size_t i = 0; i < 16; i += 3) {
        uint32_t v = (uint32_t)u->b[i] << 16;
        v |= i + 1 < 16 ? (uint32_t)u->b[i + 1] << 8 : 0;
        v |= i + 2 < 16 ? u->b[i + 2] : 0;
        size_t chars = i + 2 < 16 ? 4 : (i + 1 < 16 ? 3 : 2);
        for (size_t k = 0; k < chars; k++) {
            out[o++] = tab[(v >> (18 - 6 * k)) & 63];
        }
    }
    out[o] = '\0';
}

static json_t *int_array(const int32_t *v, int32_t n)
{
    json_t *a = json_array();
    for (int32_t i = 0; a != NULL && i < n; i++) {
        json_array_append_new(a, json_integer(v[i]));
    }
    return a;
}

static json_t *cluster(struct bk_http *h, const struct bk_md_image *img)
{
    return json_pack(
        "{s:s, s:i, s:s, s:i, s:b, s:I, s:I, s:i, s:i}", "cluster_id",
        img->cluster_id != NULL ? img->cluster_id : h->src.cluster_id,
        "node_id", (int)h->src.node_id, "version", h->src.version,
        "controller_id", (int)bk_md_leader(h->src.md), "active_controller",
        bk_md_is_active(h->src.md), "metadata_offset", (json_int_t)img->offset,
        "raft_term", (json_int_t)bk_md_term(h->src.md), "brokers",
        (int)img->n_brokers, "topics", (int)img->n_topics);
}

static json_t *brokers(const struct bk_md_image *img)
{
    json_t *a = json_array();
    for (size_t i = 0; a != NULL && i < img->n_brokers; i++) {
        const struct bk_md_broker *b = &img->brokers[i];
        json_array_append_new(
            a, json_pack("{s:i, s:s, s:i, s:s?, s:b, s:b, s:I}", "id",
                         (int)b->id, "host", b->host, "port", (int)b->port,
                         "rack", b->rack, "fenced", b->fenced,
                         "in_controlled_shutdown", b->in_controlled_shutdown,
                         "epoch", (json_int_t)b->epoch));
    }
    return a;
}

static json_t *topic_summary(const struct bk_md_topic *t)
{
    char id[23];
    uuid_text(&t->id, id);
    int rf = t->n_partitions > 0 ? t->partitions[0].n_replicas : 0;
    return json_pack("{s:s, s:s, s:i, s:i}", "name", t->name, "id", id,
                     "partitions", (int)t->n_partitions, "replication_factor",
                     rf);
}

static json_t *topics(const struct bk_md_image *img)
{
    json_t *a = json_array();
    for (size_t i = 0; a != NULL && i < img->n_topics; i++) {
        json_array_append_new(a, topic_summary(img->by_name[i]));
    }
    return a;
}

static json_t *topic(const struct bk_md_topic *t)
{
    json_t *o = topic_summary(t);
    json_t *parts = json_array();
    json_t *cfg = json_object();
    for (int32_t i = 0; parts != NULL && i < t->n_partitions; i++) {
        const struct bk_md_partition *p = &t->partitions[i];
        json_array_append_new(
            parts, json_pack("{s:i, s:i, s:i, s:o, s:o}", "partition", (int)i,
                             "leader", (int)p->leader, "leader_epoch",
                             (int)p->leader_epoch, "replicas",
                             int_array(p->replicas, p->n_replicas), "isr",
                             int_array(p->isr, p->n_isr)));
    }
    for (size_t i = 0; cfg != NULL && i < t->configs.n; i++) {
        json_object_set_new(cfg, t->configs.kv[i].name,
                            json_string(t->configs.kv[i].value));
    }
    if (o != NULL) {
        json_object_set_new(o, "partitions_detail", parts);
        json_object_set_new(o, "configs", cfg);
    } else {
        json_decref(parts);
        json_decref(cfg);
    }
    return o;
}

/* ---- groups, from each shard's coordinator ------------------------------ */

struct groups_slot {
    json_t *list; /* owned; NULL: the shard coordinates nothing */
};

static void groups_fn(struct bk_shard *shard, void *slot)
{
    struct groups_slot *gs = slot;
    struct bk_api_shard *sh = shard->app;
    if (sh == NULL || sh->gcoord == NULL || bk_coord_group_closed(sh->gcoord)) {
        return;
    }
    struct bk_group_registry *r = bk_coord_group_registry(sh->gcoord);
    gs->list = json_array();
    for (const struct bk_group *g = r->groups; gs->list != NULL && g != NULL;
         g = g->next) {
        if (g->state == BK_GROUP_DEAD) {
            continue;
        }
        const char *state = g->consumer != NULL ? bk_cgroup_state(g)
                                                : bk_group_state_name(g->state);
        json_array_append_new(
            gs->list, json_pack("{s:s%, s:s, s:s, s:s?, s:i}", "group_id",
                                g->id, g->id_len, "state", state, "type",
                                g->consumer != NULL ? "consumer" : "classic",
                                "protocol_type", g->protocol_type, "members",
                                (int)g->nmembers));
    }
}

/* Kafka's ConsumerProtocol assignment (version, [topic, [partition]],
 * user data) as [{"topic", "partition"}]; empty when it does not parse. */
static json_t *classic_assignment(const uint8_t *b, size_t len)
{
    json_t *a = json_array();
    size_t pos = 2;
    if (a == NULL || len < 6) {
        return a;
    }
    uint32_t nt = ((uint32_t)b[2] << 24) | ((uint32_t)b[3] << 16) |
                  ((uint32_t)b[4] << 8) | b[5];
    pos = 6;
    for (uint32_t t = 0; t < nt && pos + 2 <= len; t++) {
        size_t sl = ((size_t)b[pos] << 8) | b[pos + 1];
        if (pos + 2 + sl + 4 > len) {
            break;
        }
        const char *name = (const char *)b + pos + 2;
        pos += 2 + sl;
        uint32_t np = ((uint32_t)b[pos] << 24) | ((uint32_t)b[pos + 1] << 16) |
                      ((uint32_t)b[pos + 2] << 8) | b[pos + 3];
        pos += 4;
        for (uint32_t k = 0; k < np && pos + 4 <= len; k++, pos += 4) {
            int32_t part = (int32_t)(((uint32_t)b[pos] << 24) |
                                     ((uint32_t)b[pos + 1] << 16) |
                                     ((uint32_t)b[pos + 2] << 8) | b[pos + 3]);
            json_array_append_new(a, json_pack("{s:s%, s:i}", "topic", name, sl,
                                               "partition", (int)part));
        }
    }
    return a;
}

static json_t *consumer_assignment(const struct bk_cgroup_set *set)
{
    json_t *a = json_array();
    for (size_t i = 0; a != NULL && i < set->n; i++) {
        char id[23];
        uuid_text(&set->v[i].topic_id, id);
        json_array_append_new(
            a, json_pack("{s:s, s:i}", "topic_id", id, "partition",
                         (int)set->v[i].partition));
    }
    return a;
}

/* The members of g with what each was assigned. */
static json_t *members_of(const struct bk_group *g)
{
    json_t *a = json_array();
    for (size_t i = 0; a != NULL && i < g->nmembers; i++) {
        const struct bk_group_member *m = g->members[i];
        json_array_append_new(
            a, json_pack("{s:s, s:s?, s:s?, s:s, s:o}", "member_id", m->id,
                         "client_id", m->client_id, "client_host",
                         m->client_host, "protocol", "classic", "assignment",
                         classic_assignment(m->assignment, m->assignment_len)));
    }
    const struct bk_cgroup *cg = g->consumer;
    for (size_t i = 0; a != NULL && cg != NULL && i < cg->nmembers; i++) {
        const struct bk_cmember *m = cg->members[i];
        if (m->classic) {
            continue; /* listed above with the classic members */
        }
        json_array_append_new(
            a, json_pack("{s:s, s:s?, s:s?, s:s, s:o}", "member_id", m->id,
                         "client_id", m->client_id, "client_host",
                         m->client_host, "protocol", "consumer", "assignment",
                         consumer_assignment(&m->assigned)));
    }
    return a;
}

struct group_slot {
    json_t *group; /* owned; NULL: not on this shard */
};

/* On a shard: the group named by arg (a NUL-terminated id), if loaded. */
static void group_fn(struct bk_shard *shard, void *slot, const void *arg)
{
    struct group_slot *gs = slot;
    const char *want = arg;
    struct bk_api_shard *sh = shard->app;
    if (sh == NULL || sh->gcoord == NULL || bk_coord_group_closed(sh->gcoord)) {
        return;
    }
    struct bk_group_registry *r = bk_coord_group_registry(sh->gcoord);
    for (const struct bk_group *g = r->groups; g != NULL; g = g->next) {
        if (g->state == BK_GROUP_DEAD || g->id_len != strlen(want) ||
            memcmp(g->id, want, g->id_len) != 0) {
            continue;
        }
        const char *state = g->consumer != NULL ? bk_cgroup_state(g)
                                                : bk_group_state_name(g->state);
        gs->group = json_pack("{s:s%, s:s, s:s, s:s?, s:o}", "group_id", g->id,
                              g->id_len, "state", state, "type",
                              g->consumer != NULL ? "consumer" : "classic",
                              "protocol_type", g->protocol_type, "members",
                              members_of(g));
        return;
    }
}

static void group_slot_free(void *slot)
{
    json_decref(((struct group_slot *)slot)->group);
}

/* /v1/groups/{id}: 404 when no coordinator here has it loaded. */
static void one_group(struct bk_http *h,
                      const char *id,
                      struct bk_http_page *page)
{
    struct bk_http_poll *poll;
    if (bk_http_poll_shards_arg(h->src.shards, group_fn, id, group_slot_free,
                                sizeof(struct group_slot), GROUPS_TIMEOUT_MS,
                                &poll) != 0) {
        bk_http_text(page, MHD_HTTP_SERVICE_UNAVAILABLE,
                     "a shard did not answer in time\n");
        return;
    }
    json_t *found = NULL;
    for (unsigned i = 0; found == NULL && i < bk_http_poll_count(poll); i++) {
        struct group_slot *gs = bk_http_poll_slot(poll, i);
        found = json_incref(gs->group);
    }
    bk_http_poll_free(poll);
    if (found == NULL) {
        bk_http_text(page, MHD_HTTP_NOT_FOUND,
                     "no coordinator on this broker has that group\n");
        return;
    }
    bk_http_send_json(page, found);
}

static void groups_slot_free(void *slot)
{
    json_decref(((struct groups_slot *)slot)->list);
}

static json_t *groups(struct bk_http *h)
{
    struct bk_http_poll *poll;
    if (bk_http_poll_shards(h->src.shards, groups_fn, groups_slot_free,
                            sizeof(struct groups_slot), GROUPS_TIMEOUT_MS,
                            &poll) != 0) {
        return NULL;
    }
    json_t *all = json_array();
    for (unsigned i = 0; all != NULL && i < bk_http_poll_count(poll); i++) {
        struct groups_slot *gs = bk_http_poll_slot(poll, i);
        if (gs->list != NULL) {
            json_array_extend(all, gs->list);
        }
    }
    bk_http_poll_free(poll);
    return all;
}

void bk_http_send_json(struct bk_http_page *page, json_t *doc)
{
    char *text = doc != NULL ? json_dumps(doc, JSON_COMPACT) : NULL;
    json_decref(doc);
    if (text == NULL) {
        return; /* the caller answers 500 */
    }
    size_t n = strlen(text);
    page->body = bk_malloc(n + 2);
    if (page->body != NULL) {
        memcpy(page->body, text, n);
        page->body[n] = '\n';
        page->body[n + 1] = '\0';
        page->len = n + 1;
        page->status = MHD_HTTP_OK;
        page->type = "application/json";
    }
    free(text); /* jansson's, from malloc */
}

void bk_http_v1(struct bk_http *h,
                const char *path,
                const struct bk_http_args *args,
                struct bk_http_page *page)
{
    const char *parts = strncmp(path, "/topics/", 8) == 0
                            ? strstr(path + 8, "/partitions/")
                            : NULL;
    if (parts != NULL) {
        bk_http_records(h, path + 8, (size_t)(parts - (path + 8)), parts, args,
                        page);
        return;
    }
    if (strncmp(path, "/groups/", 8) == 0 && path[8] != '\0') {
        one_group(h, path + 8, page);
        return;
    }
    if (strcmp(path, "/groups") == 0) {
        json_t *g = groups(h);
        if (g == NULL) {
            bk_http_text(page, MHD_HTTP_SERVICE_UNAVAILABLE,
                         "a shard did not answer in time\n");
            return;
        }
        bk_http_send_json(page, g);
        return;
    }
    struct bk_md_image *img = bk_md_image_acquire(h->src.md);
    json_t *doc = NULL;
    bool known = true;
    if (img == NULL) {
        bk_http_text(page, MHD_HTTP_SERVICE_UNAVAILABLE,
                     "no metadata image yet\n");
        return;
    }
    if (strcmp(path, "/cluster") == 0) {
        doc = cluster(h, img);
    } else if (strcmp(path, "/brokers") == 0) {
        doc = brokers(img);
    } else if (strcmp(path, "/topics") == 0) {
        doc = topics(img);
    } else if (strncmp(path, "/topics/", 8) == 0) {
        const char *name = path + 8;
        const struct bk_md_topic *t =
            bk_md_image_topic(img, name, strlen(name));
        known = t != NULL;
        doc = known ? topic(t) : NULL;
    } else {
        known = false;
    }
    /* Serialised before the image goes: doc borrows none of its strings
     * (jansson copies them), but keep the order obvious. */
    if (known) {
        bk_http_send_json(page, doc);
    }
    bk_md_image_release(img);
    if (!known) {
        bk_http_text(page, MHD_HTTP_NOT_FOUND, "not found\n");
    }
}
