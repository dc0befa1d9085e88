#include "cluster/ops.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "cluster/assign.h"
#include "common/assert.h"
#include "common/err.h"
#include "common/heap.h"

static uint64_t system_next(void *data)
{
    (void)data;
    uint64_t v = 0;
    size_t got = 0;
    while (got < sizeof(v)) {
        ssize_t n = getrandom((uint8_t *)&v + got, sizeof(v) - got, 0);
        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            abort(); /* no entropy at all: nothing sensible to do */
        }
        got += (size_t)n;
    }
    return v;
}

static const struct bk_md_rng SYSTEM_RNG = { system_next, NULL };

const struct bk_md_rng *bk_md_rng_system(void)
{
    return &SYSTEM_RNG;
}

struct bk_uuid bk_md_random_uuid(const struct bk_md_rng *rng)
{
    struct bk_uuid u;
    for (;;) {
        /* Two calls, two numbers: */
        /* cppcheck-suppress duplicateAssignExpression */
        uint64_t hi = rng->next(rng->data);
        uint64_t lo = rng->next(rng->data);
        for (int i = 0; i < 8; i++) {
            u.b[i] = (uint8_t)(hi >> (56 - 8 * i));
            u.b[8 + i] = (uint8_t)(lo >> (56 - 8 * i));
        }
        u.b[6] = (uint8_t)((u.b[6] & 0x0f) | 0x40); /* version 4 */
        u.b[8] = (uint8_t)((u.b[8] & 0x3f) | 0x80); /* IETF variant */
        /* Kafka never hands out the zero id (and the reserved id 1 cannot
         * come out with the version bits set), nor one whose URL-safe
         * base64 form starts with '-' (top six bits 62). */
        if (!bk_uuid_is_zero(&u) && (u.b[0] >> 2) != 62) {
            return u;
        }
    }
}

void bk_md_recs_init(struct bk_md_recs *r, struct bk_arena *arena)
{
    r->arena = arena;
    r->v = NULL;
    r->n = 0;
    r->cap = 0;
}

struct bk_md_rec *bk_md_recs_add(struct bk_md_recs *r, uint16_t type)
{
    if (r->n == r->cap) {
        size_t cap = r->cap == 0 ? 16 : r->cap * 2;
        struct bk_md_rec *v = bk_arena_alloc(r->arena, cap * sizeof(*v));
        if (v == NULL) {
            return NULL;
        }
        if (r->n > 0) {
            memcpy(v, r->v, r->n * sizeof(*v));
        }
        r->v = v;
        r->cap = cap;
    }
    struct bk_md_rec *rec = &r->v[r->n++];
    memset(rec, 0, sizeof(*rec));
    rec->type = type;
    return rec;
}

/* An arena copy of s as a view; *ok cleared on OOM. */
static struct bk_str astr(struct bk_md_recs *r, const char *s, bool *ok)
{
    if (s == NULL) {
        return BK_STR_NULL;
    }
    size_t len = strlen(s);
    char *c = bk_arena_strndup(r->arena, s, len);
    if (c == NULL) {
        *ok = false;
        return BK_STR_NULL;
    }
    return (struct bk_str){ c, (int32_t)len };
}

static int16_t oom(struct bk_md_recs *out, size_t mark, char *msg)
{
    out->n = mark;
    snprintf(msg, BK_MD_MSG_SIZE, "out of memory");
    return BK_MD_KERR_UNKNOWN_SERVER_ERROR;
}

static int16_t fail(struct bk_md_recs *out, size_t mark, int16_t code)
{
    out->n = mark;
    return code;
}

/* Live brokers as assignment input (borrowed strings). */
static struct bk_md_assign_broker *live_brokers(const struct bk_md_image *img,
                                                size_t *n)
{
    struct bk_md_assign_broker *b = bk_calloc(img->n_brokers + 1, sizeof(*b));
    if (b == NULL) {
        return NULL;
    }
    size_t k = 0;
    for (size_t i = 0; i < img->n_brokers; i++) {
        if (!img->brokers[i].fenced) {
            b[k].id = img->brokers[i].id;
            b[k].rack = img->brokers[i].rack;
            k++;
        }
    }
    *n = k;
    return b;
}

/* Appends partitions [from, from + count) of topic id with replication
 * factor rf. Returns 0, or a Kafka code with msg. */
static int16_t add_partitions(const struct bk_md_image *img,
                              const struct bk_uuid *id,
                              int32_t from,
                              int32_t count,
                              int16_t rf,
                              const struct bk_md_rng *rng,
                              struct bk_md_recs *out,
                              char *msg)
{
    size_t n_live;
    struct bk_md_assign_broker *live = live_brokers(img, &n_live);
    if (live == NULL) {
        snprintf(msg, BK_MD_MSG_SIZE, "out of memory");
        return BK_MD_KERR_UNKNOWN_SERVER_ERROR;
    }
    if ((size_t)rf > n_live) {
        snprintf(msg, BK_MD_MSG_SIZE,
                 "Unable to replicate the partition %d time(s): The target "
                 "replication factor of %d cannot be reached because only "
                 "%zu broker(s) are registered.",
                 rf, rf, n_live);
        bk_free(live);
        return BK_MD_KERR_INVALID_REPLICATION_FACTOR;
    }
    int32_t *table = bk_arena_alloc(
        out->arena, (size_t)count * (size_t)rf * sizeof(int32_t) + 1);
    if (table == NULL) {
        bk_free(live);
        snprintf(msg, BK_MD_MSG_SIZE, "out of memory");
        return BK_MD_KERR_UNKNOWN_SERVER_ERROR;
    }
    int32_t start = (int32_t)(rng->next(rng->data) % n_live);
    int32_t shift = (int32_t)(rng->next(rng->data) % n_live);
    int rv = bk_md_assign_replicas(live, n_live, count, rf, start, shift, from,
                                   table);
    bk_free(live);
    if (rv != 0) {
        snprintf(msg, BK_MD_MSG_SIZE, "replica assignment failed: %s",
                 bk_strerror(rv));
        return BK_MD_KERR_UNKNOWN_SERVER_ERROR;
    }
    for (int32_t p = 0; p < count; p++) {
        struct bk_md_rec *r = bk_md_recs_add(out, BK_MD_REC_PARTITION);
        if (r == NULL) {
            snprintf(msg, BK_MD_MSG_SIZE, "out of memory");
            return BK_MD_KERR_UNKNOWN_SERVER_ERROR;
        }
        const int32_t *row = &table[(size_t)p * (size_t)rf];
        r->u.partition = (struct bk_md_partition_rec){
            .topic_id = *id,
            .partition = from + p,
            .n_replicas = rf,
            .replicas = row,
            /* A new partition is empty on every replica, so all of them
             * are in sync (Kafka: the ISR starts as the live replicas;
             * the assignment placed it on live brokers only). */
            .n_isr = rf,
            .isr = row,
            .leader = row[0],
            .leader_epoch = 0,
            .partition_epoch = 0,
        };
    }
    return BK_MD_KERR_NONE;
}

static int cmp_i32(const void *a, const void *b)
{
    int32_t x = *(const int32_t *)a;
    int32_t y = *(const int32_t *)b;
    return (x > y) - (x < y);
}

/* Kafka's checks of one partition's replica list, in Kafka 4.1's order
 * (ReplicationControlManager.validateManualPartitionAssignment): not empty,
 * then the brokers in ascending order, each registered and given once (so
 * [5, 5] with 5 unknown is "no such broker", [1, 1] is "more than once"),
 * then the size against the other partitions (rf; -1 for the first one),
 * then at least one unfenced broker to lead. */
static int16_t check_replicas(const struct bk_md_image *img,
                              const struct bk_md_replicas *a,
                              int32_t rf,
                              char *msg)
{
    if (a->n <= 0) {
        snprintf(msg, BK_MD_MSG_SIZE,
                 "The manual partition assignment includes an empty "
                 "replica list.");
        return BK_MD_KERR_INVALID_REPLICA_ASSIGNMENT;
    }
    if (a->n > BK_MD_MAX_REPLICAS) {
        /* brokerd's own limit on a replica list (records.h). */
        snprintf(msg, BK_MD_MSG_SIZE,
                 "The manual partition assignment includes %d replicas, "
                 "above the limit of %d.",
                 a->n, BK_MD_MAX_REPLICAS);
        return BK_MD_KERR_INVALID_REPLICA_ASSIGNMENT;
    }
    int32_t sorted[BK_MD_MAX_REPLICAS];
    memcpy(sorted, a->brokers, sizeof(int32_t) * (size_t)a->n);
    qsort(sorted, (size_t)a->n, sizeof(int32_t), cmp_i32);
    bool any_live = false;
    for (int32_t r = 0; r < a->n; r++) {
        const struct bk_md_broker *br = bk_md_image_broker(img, sorted[r]);
        if (br == NULL) {
            snprintf(msg, BK_MD_MSG_SIZE,
                     "The manual partition assignment includes broker %d, "
                     "but no such broker is registered.",
                     sorted[r]);
            return BK_MD_KERR_INVALID_REPLICA_ASSIGNMENT;
        }
        if (r > 0 && sorted[r - 1] == sorted[r]) {
            snprintf(msg, BK_MD_MSG_SIZE,
                     "The manual partition assignment includes the broker %d "
                     "more than once.",
                     sorted[r]);
            return BK_MD_KERR_INVALID_REPLICA_ASSIGNMENT;
        }
        any_live = any_live || !br->fenced;
    }
    if (rf != -1 && a->n != rf) {
        snprintf(msg, BK_MD_MSG_SIZE,
                 "The manual partition assignment includes a partition with "
                 "%d replica(s), but this is not consistent with previous "
                 "partitions, which have %d replica(s).",
                 a->n, rf);
        return BK_MD_KERR_INVALID_REPLICA_ASSIGNMENT;
    }
    if (!any_live) {
        snprintf(msg, BK_MD_MSG_SIZE,
                 "All brokers specified in the manual partition assignment "
                 "for partition %d are fenced or in controlled shutdown.",
                 a->partition);
        return BK_MD_KERR_INVALID_REPLICA_ASSIGNMENT;
    }
    return BK_MD_KERR_NONE;
}

/* Kafka's checks of a CreateTopics manual assignment, in Kafka 4.1's order:
 * each entry in request order (a partition given twice, then its replica
 * list), and only then the partition ids, which must be 0..n-1 (so a gap
 * loses to an unknown broker in a later entry). */
static int16_t check_manual(const struct bk_md_image *img,
                            const struct bk_md_topic_spec *spec,
                            char *msg)
{
    size_t n = spec->n_assignments;
    if (n > BK_MD_MAX_PARTITIONS) {
        snprintf(msg, BK_MD_MSG_SIZE,
                 "Number of partitions %zu is above the limit of %d.", n,
                 BK_MD_MAX_PARTITIONS);
        return BK_MD_KERR_INVALID_PARTITIONS;
    }
    for (size_t i = 0; i < n; i++) {
        const struct bk_md_replicas *a = &spec->assignments[i];
        for (size_t j = 0; j < i; j++) {
            if (spec->assignments[j].partition == a->partition) {
                snprintf(msg, BK_MD_MSG_SIZE,
                         "Found multiple manual partition assignments for "
                         "partition %d",
                         a->partition);
                return BK_MD_KERR_INVALID_REPLICA_ASSIGNMENT;
            }
        }
        int16_t code =
            check_replicas(img, a, i == 0 ? -1 : spec->assignments[0].n, msg);
        if (code != 0) {
            return code;
        }
    }
    for (size_t i = 0; i < n; i++) {
        int32_t p = spec->assignments[i].partition;
        if (p < 0 || (size_t)p >= n) {
            snprintf(msg, BK_MD_MSG_SIZE,
                     "partitions should be a consecutive 0-based integer "
                     "sequence");
            return BK_MD_KERR_INVALID_REPLICA_ASSIGNMENT;
        }
    }
    return BK_MD_KERR_NONE;
}

/* Partition records for checked manual assignments of partitions
 * [from, from + n): leader = the first unfenced replica, alone in the
 * ISR. */
static int16_t add_manual(const struct bk_md_image *img,
                          const struct bk_uuid *id,
                          const struct bk_md_replicas *asg,
                          size_t n,
                          int32_t from,
                          struct bk_md_recs *out,
                          char *msg)
{
    for (int32_t p = from; p < from + (int32_t)n; p++) {
        const struct bk_md_replicas *a = NULL;
        for (size_t i = 0; i < n; i++) {
            if (asg[i].partition == p) {
                a = &asg[i];
            }
        }
        /* The checks made the partitions from..from+n-1, each once. */
        bk_assert(a != NULL);
        size_t sz = sizeof(int32_t) * (size_t)a->n;
        int32_t *replicas = bk_arena_alloc(out->arena, sz);
        int32_t *isr = bk_arena_alloc(out->arena, sz);
        struct bk_md_rec *r = bk_md_recs_add(out, BK_MD_REC_PARTITION);
        if (replicas == NULL || isr == NULL || r == NULL) {
            snprintf(msg, BK_MD_MSG_SIZE, "out of memory");
            return BK_MD_KERR_UNKNOWN_SERVER_ERROR;
        }
        int32_t n_isr = 0;
        for (int32_t k = 0; k < a->n; k++) {
            replicas[k] = a->brokers[k];
            /* The unfenced replicas start in sync (the partition is
             * empty everywhere), and the first of them leads. */
            if (!bk_md_image_broker(img, a->brokers[k])->fenced) {
                isr[n_isr++] = a->brokers[k];
            }
        }
        r->u.partition = (struct bk_md_partition_rec){
            .topic_id = *id,
            .partition = p,
            .n_replicas = a->n,
            .replicas = replicas,
            .n_isr = n_isr,
            .isr = isr,
            .leader = isr[0],
        };
    }
    return BK_MD_KERR_NONE;
}

/* The name is checked with its full length before it is ever used as a C
 * string: "x\0y" must be refused, not taken for "x". On success *name is an
 * arena copy (owned by out's arena) of the *len_out bytes. */
static int16_t create_topic_name(const struct bk_md_topic_spec *spec,
                                 struct bk_md_recs *out,
                                 size_t mark,
                                 const char **name,
                                 size_t *len_out,
                                 char *msg)
{
    const char *raw = spec->name.len > 0 ? spec->name.ptr : "";
    size_t len = spec->name.len > 0 ? (size_t)spec->name.len : 0;
    *len_out = len;
    int16_t code = bk_md_topic_name_check(raw, len, msg);
    if (code != 0) {
        return code;
    }
    /* Only [a-zA-Z0-9._-] is left, so the C string copy means the same. */
    *name = bk_arena_strndup(out->arena, raw, len);
    if (*name == NULL) {
        return oom(out, mark, msg);
    }
    return BK_MD_KERR_NONE;
}

/* The new name against the image: taken, or equal to an existing name once
 * '.' and '_' are confused (Kafka refuses both, since metric names cannot
 * tell them apart). */
static int16_t create_topic_vs_image(const struct bk_md_image *img,
                                     const char *name,
                                     size_t len,
                                     char *msg)
{
    if (bk_md_image_topic(img, name, len) != NULL) {
        snprintf(msg, BK_MD_MSG_SIZE, "Topic '%s' already exists.", name);
        return BK_MD_KERR_TOPIC_ALREADY_EXISTS;
    }
    for (size_t i = 0; i < img->n_topics; i++) {
        const char *other = img->by_name[i]->name;
        if (bk_md_topic_names_collide(name, len, other, strlen(other))) {
            snprintf(msg, BK_MD_MSG_SIZE,
                     "Topic '%s' collides with existing topic: %s", name,
                     other);
            return BK_MD_KERR_INVALID_TOPIC_EXCEPTION;
        }
    }
    return BK_MD_KERR_NONE;
}

/* The new name against the topics created earlier in the same batch, which
 * are in out but not yet in the image. */
static int16_t create_topic_vs_batch(const struct bk_md_recs *out,
                                     const char *name,
                                     size_t len,
                                     char *msg)
{
    for (size_t i = 0; i < out->n; i++) {
        if (out->v[i].type != BK_MD_REC_TOPIC) {
            continue;
        }
        struct bk_str o = out->v[i].u.topic.name;
        if (bk_str_eq_c(o, name)) {
            snprintf(msg, BK_MD_MSG_SIZE,
                     "Create topics request from client contains duplicate "
                     "topic name: %s",
                     name);
            return BK_MD_KERR_INVALID_REQUEST;
        }
        if (bk_md_topic_names_collide(name, len, o.ptr, (size_t)o.len)) {
            snprintf(msg, BK_MD_MSG_SIZE,
                     "Topic '%s' collides with existing topic: %.*s", name,
                     (int)o.len, o.ptr);
            return BK_MD_KERR_INVALID_TOPIC_EXCEPTION;
        }
    }
    return BK_MD_KERR_NONE;
}

/* The partition count and replication factor: from a manual assignment (which
 * excludes both numbers), else from the request, else from the defaults. */
static int16_t create_topic_shape(const struct bk_md_image *img,
                                  const struct bk_md_topic_spec *spec,
                                  const struct bk_md_defaults *defs,
                                  int32_t *parts_out,
                                  int16_t *rf_out,
                                  char *msg)
{
    if (spec->n_assignments > 0) {
        /* Kafka 4.1 looks at the replication factor first. */
        if (spec->replication_factor != -1) {
            snprintf(msg, BK_MD_MSG_SIZE,
                     "A manual partition assignment was specified, but "
                     "replication factor was not set to -1.");
            return BK_MD_KERR_INVALID_REQUEST;
        }
        if (spec->num_partitions != -1) {
            snprintf(msg, BK_MD_MSG_SIZE,
                     "A manual partition assignment was specified, but "
                     "numPartitions was not set to -1.");
            return BK_MD_KERR_INVALID_REQUEST;
        }
        int16_t code = check_manual(img, spec, msg);
        if (code != 0) {
            return code;
        }
    }
    int32_t parts = spec->num_partitions == -1 ? defs->num_partitions
                                               : spec->num_partitions;
    if (spec->n_assignments > 0) {
        parts = (int32_t)spec->n_assignments;
    }
    if (parts <= 0) {
        snprintf(msg, BK_MD_MSG_SIZE,
                 "Number of partitions was set to an invalid non-positive "
                 "value.");
        return BK_MD_KERR_INVALID_PARTITIONS;
    }
    if (parts > BK_MD_MAX_PARTITIONS) {
        snprintf(msg, BK_MD_MSG_SIZE,
                 "Number of partitions %d is above the limit of %d.", parts,
                 BK_MD_MAX_PARTITIONS);
        return BK_MD_KERR_INVALID_PARTITIONS;
    }
    int16_t rf = spec->replication_factor == -1 ? defs->replication_factor
                                                : spec->replication_factor;
    if (spec->n_assignments > 0) {
        rf = (int16_t)spec->assignments[0].n;
    }
    if (rf <= 0) {
        snprintf(msg, BK_MD_MSG_SIZE,
                 "Replication factor must be larger than 0, or -1 to use the "
                 "default value.");
        return BK_MD_KERR_INVALID_REPLICATION_FACTOR;
    }
    *parts_out = parts;
    *rf_out = rf;
    return BK_MD_KERR_NONE;
}

/* Each topic config is a known key with a valid value, given once. */
static int16_t create_topic_configs_check(const struct bk_md_topic_spec *spec,
                                          char *msg)
{
    for (size_t i = 0; i < spec->n_configs; i++) {
        const struct bk_md_kv_in *kv = &spec->configs[i];
        int16_t code = bk_md_topic_cfg_check(kv->name != NULL ? kv->name : "",
                                             kv->value, msg);
        if (code != 0) {
            return code;
        }
        for (size_t j = 0; j < i; j++) {
            /* Not NULL: bk_md_topic_cfg_check refused a missing name above. */
            /* NOLINTNEXTLINE(clang-analyzer-core.NonNullParamChecker) */
            if (strcmp(spec->configs[j].name, kv->name) == 0) {
                snprintf(msg, BK_MD_MSG_SIZE,
                         "Duplicate config key %s in the request", kv->name);
                return BK_MD_KERR_INVALID_REQUEST;
            }
        }
    }
    /* min.insync.replicas above the replication factor makes every
     * acks=all write fail; Kafka accepts it, and so do we. */
    return BK_MD_KERR_NONE;
}

/* One config record per topic config of the request. */
static int16_t add_topic_configs(const char *name,
                                 const struct bk_md_topic_spec *spec,
                                 struct bk_md_recs *out,
                                 size_t mark,
                                 char *msg)
{
    bool ok = true;
    for (size_t i = 0; i < spec->n_configs; i++) {
        struct bk_md_rec *c = bk_md_recs_add(out, BK_MD_REC_CONFIG);
        if (c == NULL) {
            return oom(out, mark, msg);
        }
        c->u.config.resource_type = BK_MD_RES_TOPIC;
        c->u.config.resource = astr(out, name, &ok);
        c->u.config.name = astr(out, spec->configs[i].name, &ok);
        c->u.config.value = astr(out, spec->configs[i].value, &ok);
        if (!ok) {
            return oom(out, mark, msg);
        }
    }
    return BK_MD_KERR_NONE;
}

/* The records of a checked topic: the topic (with a fresh id, returned in
 * *id), its partitions, then its configs. On failure out is cut back to
 * mark, so a refused topic leaves nothing behind in the batch. */
static int16_t add_topic_records(const struct bk_md_image *img,
                                 const struct bk_md_topic_spec *spec,
                                 const char *name,
                                 int32_t parts,
                                 int16_t rf,
                                 const struct bk_md_rng *rng,
                                 struct bk_md_recs *out,
                                 size_t mark,
                                 struct bk_uuid *id,
                                 char *msg)
{
    bool ok = true;
    struct bk_md_rec *t = bk_md_recs_add(out, BK_MD_REC_TOPIC);
    if (t == NULL) {
        return oom(out, mark, msg);
    }
    t->u.topic.name = astr(out, name, &ok);
    t->u.topic.id = bk_md_random_uuid(rng);
    *id = t->u.topic.id;
    if (!ok) {
        return oom(out, mark, msg);
    }
    int16_t code;
    if (spec->n_assignments > 0) {
        code = add_manual(img, id, spec->assignments, spec->n_assignments, 0,
                          out, msg);
    } else {
        code = add_partitions(img, id, 0, parts, rf, rng, out, msg);
    }
    if (code != 0) {
        return fail(out, mark, code);
    }
    return add_topic_configs(name, spec, out, mark, msg);
}

int16_t bk_md_op_create_topic(const struct bk_md_image *img,
                              const struct bk_md_topic_spec *spec,
                              const struct bk_md_defaults *defs,
                              const struct bk_md_rng *rng,
                              struct bk_md_recs *out,
                              struct bk_md_create_result *result,
                              char *msg)
{
    size_t mark = out->n;
    const char *name = NULL;
    size_t len = 0;
    int16_t code = create_topic_name(spec, out, mark, &name, &len, msg);
    if (code != 0) {
        return code;
    }
    code = create_topic_vs_image(img, name, len, msg);
    if (code != 0) {
        return code;
    }
    code = create_topic_vs_batch(out, name, len, msg);
    if (code != 0) {
        return code;
    }
    int32_t parts = 0;
    int16_t rf = 0;
    code = create_topic_shape(img, spec, defs, &parts, &rf, msg);
    if (code != 0) {
        return code;
    }
    code = create_topic_configs_check(spec, msg);
    if (code != 0) {
        return code;
    }
    struct bk_uuid id;
    code =
        add_topic_records(img, spec, name, parts, rf, rng, out, mark, &id, msg);
    if (code != 0) {
        return code;
    }
    if (result != NULL) {
        result->topic_id = id;
        result->num_partitions = parts;
        result->replication_factor = rf;
    }
    msg[0] = '\0';
    return BK_MD_KERR_NONE;
}

static int16_t delete_topic(const struct bk_md_topic *t,
                            struct bk_md_recs *out,
                            char *msg)
{
    struct bk_md_rec *r = bk_md_recs_add(out, BK_MD_REC_REMOVE_TOPIC);
    if (r == NULL) {
        return oom(out, out->n, msg);
    }
    r->u.remove_topic.topic_id = t->id;
    msg[0] = '\0';
    return BK_MD_KERR_NONE;
}

int16_t bk_md_op_delete_topic(const struct bk_md_image *img,
                              const char *name,
                              size_t name_len,
                              struct bk_md_recs *out,
                              char *msg)
{
    const struct bk_md_topic *t = bk_md_image_topic(img, name, name_len);
    if (t == NULL) {
        snprintf(msg, BK_MD_MSG_SIZE,
                 "This server does not host this topic-partition.");
        return BK_MD_KERR_UNKNOWN_TOPIC_OR_PARTITION;
    }
    return delete_topic(t, out, msg);
}

int16_t bk_md_op_delete_topic_id(const struct bk_md_image *img,
                                 const struct bk_uuid *id,
                                 struct bk_md_recs *out,
                                 char *msg)
{
    const struct bk_md_topic *t = bk_md_image_topic_by_id(img, id);
    if (t == NULL) {
        snprintf(msg, BK_MD_MSG_SIZE,
                 "This server does not host this topic "
                 "ID.");
        return BK_MD_KERR_UNKNOWN_TOPIC_ID;
    }
    return delete_topic(t, out, msg);
}

/* Kafka's checks of CreatePartitions' manual assignment for the `add` new
 * partitions of a topic whose partitions have rf replicas: one replica list
 * per new partition, then each list as CreateTopics checks it. The lists
 * have no partition ids on the wire; asg gets them numbered from `from`. */
static int16_t check_manual_growth(const struct bk_md_image *img,
                                   const struct bk_md_replicas *in,
                                   size_t n,
                                   int32_t from,
                                   int32_t add,
                                   int32_t rf,
                                   struct bk_md_replicas *asg,
                                   char *msg)
{
    if (n != (size_t)add) {
        snprintf(msg, BK_MD_MSG_SIZE,
                 "Attempted to add %d additional partition(s), but only %zu "
                 "assignment(s) were specified.",
                 add, n);
        return BK_MD_KERR_INVALID_REPLICA_ASSIGNMENT;
    }
    for (size_t i = 0; i < n; i++) {
        asg[i] = in[i];
        asg[i].partition = from + (int32_t)i;
        int16_t code = check_replicas(img, &asg[i], rf, msg);
        if (code != 0) {
            return code;
        }
    }
    return BK_MD_KERR_NONE;
}

/* CreatePartitions' checks of the new count, in Kafka 4.1's order and
 * words. */
static int16_t check_growth(const struct bk_md_topic *t,
                            int32_t count,
                            char *msg)
{
    if (count == t->n_partitions) {
        snprintf(msg, BK_MD_MSG_SIZE, "Topic already has %d partition(s).",
                 count);
        return BK_MD_KERR_INVALID_PARTITIONS;
    }
    if (count < t->n_partitions) {
        snprintf(msg, BK_MD_MSG_SIZE,
                 "The topic %s currently has %d partition(s); %d would not "
                 "be an increase.",
                 t->name, t->n_partitions, count);
        return BK_MD_KERR_INVALID_PARTITIONS;
    }
    if (count > BK_MD_MAX_PARTITIONS) {
        snprintf(msg, BK_MD_MSG_SIZE,
                 "Number of partitions %d is above the limit of %d.", count,
                 BK_MD_MAX_PARTITIONS);
        return BK_MD_KERR_INVALID_PARTITIONS;
    }
    return BK_MD_KERR_NONE;
}

int16_t bk_md_op_create_partitions(const struct bk_md_image *img,
                                   const char *name,
                                   size_t name_len,
                                   int32_t count,
                                   const struct bk_md_replicas *assignments,
                                   size_t n_assignments,
                                   const struct bk_md_rng *rng,
                                   struct bk_md_recs *out,
                                   char *msg)
{
    size_t mark = out->n;
    const struct bk_md_topic *t = bk_md_image_topic(img, name, name_len);
    if (t == NULL) {
        snprintf(msg, BK_MD_MSG_SIZE,
                 "This server does not host this topic-partition.");
        return BK_MD_KERR_UNKNOWN_TOPIC_OR_PARTITION;
    }
    int16_t code = check_growth(t, count, msg);
    if (code != 0) {
        return code;
    }
    int16_t rf = t->n_partitions > 0 ? (int16_t)t->partitions[0].n_replicas : 1;
    int32_t add = count - t->n_partitions;
    if (assignments == NULL) {
        code = add_partitions(img, &t->id, t->n_partitions, add, rf, rng, out,
                              msg);
        if (code != 0) {
            return fail(out, mark, code);
        }
        msg[0] = '\0';
        return BK_MD_KERR_NONE;
    }
    struct bk_md_replicas *asg =
        bk_arena_alloc(out->arena, (n_assignments + 1) * sizeof(*asg));
    if (asg == NULL) {
        return oom(out, mark, msg);
    }
    code = check_manual_growth(img, assignments, n_assignments, t->n_partitions,
                               add, rf, asg, msg);
    if (code == 0) {
        code = add_manual(img, &t->id, asg, n_assignments, t->n_partitions, out,
                          msg);
    }
    if (code != 0) {
        return fail(out, mark, code);
    }
    msg[0] = '\0';
    return BK_MD_KERR_NONE;
}

/* Does the comma-separated list contain element e (len el)? */
static bool list_has(const char *list, const char *e, size_t el)
{
    const char *p = list;
    while (*p != '\0') {
        const char *comma = strchr(p, ',');
        size_t n = comma != NULL ? (size_t)(comma - p) : strlen(p);
        if (n == el && strncmp(p, e, el) == 0) {
            return true;
        }
        if (comma == NULL) {
            break;
        }
        p = comma + 1;
    }
    return false;
}

/* Computes cur (+|-) items for APPEND/SUBTRACT into an arena string. */
static char *list_edit(struct bk_arena *a,
                       const char *cur,
                       const char *items,
                       bool append)
{
    size_t cap = strlen(cur) + strlen(items) + 2;
    char *res = bk_arena_alloc(a, cap);
    if (res == NULL) {
        return NULL;
    }
    size_t k = 0;
    /* Keep current elements (minus the subtracted ones). */
    const char *p = cur;
    while (*p != '\0') {
        const char *comma = strchr(p, ',');
        size_t n = comma != NULL ? (size_t)(comma - p) : strlen(p);
        if (n > 0 && (append || !list_has(items, p, n))) {
            if (k > 0) {
                res[k++] = ',';
            }
            memcpy(res + k, p, n);
            k += n;
        }
        if (comma == NULL) {
            break;
        }
        p = comma + 1;
    }
    if (append) {
        p = items;
        while (*p != '\0') {
            const char *comma = strchr(p, ',');
            size_t n = comma != NULL ? (size_t)(comma - p) : strlen(p);
            res[k] = '\0';
            if (n > 0 && !list_has(res, p, n)) {
                if (k > 0) {
                    res[k++] = ',';
                }
                memcpy(res + k, p, n);
                k += n;
            }
            if (comma == NULL) {
                break;
            }
            p = comma + 1;
        }
    }
    res[k] = '\0';
    return res;
}

static bool broker_resource_ok(const char *res)
{
    if (res[0] == '\0') {
        return true;
    }
    char *end;
    errno = 0;
    long v = strtol(res, &end, 10);
    return errno == 0 && *end == '\0' && v >= 0 && v <= INT32_MAX;
}

/* The resource an AlterConfigs names: an existing topic (returned in *t) or
 * a broker ("" for the cluster-wide default, else a broker id). */
static int16_t alter_resource(const struct bk_md_image *img,
                              int8_t res_type,
                              const char *resource,
                              const struct bk_md_topic **t,
                              char *msg)
{
    *t = NULL;
    if (res_type == BK_MD_RES_TOPIC) {
        *t = bk_md_image_topic(img, resource, strlen(resource));
        if (*t == NULL) {
            snprintf(msg, BK_MD_MSG_SIZE,
                     "This server does not host this topic-partition.");
            return BK_MD_KERR_UNKNOWN_TOPIC_OR_PARTITION;
        }
    } else if (res_type == BK_MD_RES_BROKER) {
        if (!broker_resource_ok(resource)) {
            snprintf(msg, BK_MD_MSG_SIZE, "Invalid broker id %s", resource);
            return BK_MD_KERR_INVALID_REQUEST;
        }
    } else {
        snprintf(msg, BK_MD_MSG_SIZE, "Unsupported resource type %d", res_type);
        return BK_MD_KERR_INVALID_REQUEST;
    }
    return BK_MD_KERR_NONE;
}

/* The name of operation i: not given before in the request, not empty and,
 * for a topic, a known topic config (returned in *def; NULL for a broker,
 * whose names are not checked here). */
static int16_t alter_name(const struct bk_md_alter *ops,
                          size_t i,
                          bool topic,
                          const struct bk_md_cfg_def **def,
                          char *msg)
{
    const char *name = ops[i].name != NULL ? ops[i].name : "";
    for (size_t j = 0; j < i; j++) {
        if (strcmp(ops[j].name, name) == 0) {
            snprintf(msg, BK_MD_MSG_SIZE, "Error due to duplicate config keys");
            return BK_MD_KERR_INVALID_REQUEST;
        }
    }
    if (name[0] == '\0') {
        snprintf(msg, BK_MD_MSG_SIZE, "Config name must not be empty");
        return BK_MD_KERR_INVALID_CONFIG;
    }
    *def = NULL;
    if (topic) {
        *def = bk_md_topic_cfg_find(name);
        if (*def == NULL) {
            snprintf(msg, BK_MD_MSG_SIZE, "Unknown topic config name: %s",
                     name);
            return BK_MD_KERR_INVALID_CONFIG;
        }
    }
    return BK_MD_KERR_NONE;
}

/* The value that operation op leaves for config name (NULL: deleted, back to
 * the default). APPEND and SUBTRACT (KIP-339) edit the current list, or the
 * default when unset, and apply to list configs only; the result is an
 * arena string. */
static int16_t alter_value(const struct bk_md_alter *op,
                           const char *name,
                           const struct bk_md_cfg_def *def,
                           const struct bk_md_configs *cur,
                           struct bk_arena *arena,
                           const char **value,
                           char *msg)
{
    *value = op->value;
    switch (op->op) {
        case BK_MD_ALTER_SET:
            break;
        case BK_MD_ALTER_DELETE:
            *value = NULL;
            break;
        case BK_MD_ALTER_APPEND:
        case BK_MD_ALTER_SUBTRACT: {
            if (def != NULL && def->type != BK_MD_CFG_LIST) {
                snprintf(msg, BK_MD_MSG_SIZE,
                         "Config value %s is not allowed for config key: %s",
                         op->op == BK_MD_ALTER_APPEND ? "append" : "subtract",
                         name);
                return BK_MD_KERR_INVALID_CONFIG;
            }
            const char *now = cur != NULL ? bk_md_configs_get(cur, name) : NULL;
            if (now == NULL) {
                now = def != NULL ? def->dflt : "";
            }
            *value = list_edit(arena, now, op->value != NULL ? op->value : "",
                               op->op == BK_MD_ALTER_APPEND);
            if (*value == NULL) {
                snprintf(msg, BK_MD_MSG_SIZE, "out of memory");
                return BK_MD_KERR_UNKNOWN_SERVER_ERROR;
            }
            break;
        }
        default:
            snprintf(msg, BK_MD_MSG_SIZE, "Unknown config operation %d",
                     op->op);
            return BK_MD_KERR_INVALID_REQUEST;
    }
    if (*value == NULL && op->op == BK_MD_ALTER_SET) {
        snprintf(msg, BK_MD_MSG_SIZE, "Null value not supported for : %s",
                 name);
        return BK_MD_KERR_INVALID_REQUEST;
    }
    return BK_MD_KERR_NONE;
}

/* Checks operation i and adds its config record. Returns 0 or a Kafka code
 * with msg; the caller cuts out back on failure. */
static int16_t alter_one(const struct bk_md_topic *t,
                         const struct bk_md_configs *cur,
                         int8_t res_type,
                         const char *resource,
                         const struct bk_md_alter *ops,
                         size_t i,
                         struct bk_md_recs *out,
                         char *msg)
{
    const struct bk_md_cfg_def *def;
    int16_t code = alter_name(ops, i, t != NULL, &def, msg);
    if (code != 0) {
        return code;
    }
    const char *name = ops[i].name != NULL ? ops[i].name : "";
    const char *value;
    code = alter_value(&ops[i], name, def, cur, out->arena, &value, msg);
    if (code != 0) {
        return code;
    }
    if (value != NULL && t != NULL) {
        code = bk_md_topic_cfg_check(name, value, msg);
        if (code != 0) {
            return code;
        }
    }
    bool ok = true;
    struct bk_md_rec *r = bk_md_recs_add(out, BK_MD_REC_CONFIG);
    if (r != NULL) {
        r->u.config.resource_type = res_type;
        r->u.config.resource = astr(out, resource, &ok);
        r->u.config.name = astr(out, name, &ok);
        r->u.config.value = astr(out, value, &ok);
    }
    if (r == NULL || !ok) {
        snprintf(msg, BK_MD_MSG_SIZE, "out of memory");
        return BK_MD_KERR_UNKNOWN_SERVER_ERROR;
    }
    return BK_MD_KERR_NONE;
}

int16_t bk_md_op_alter_configs(const struct bk_md_image *img,
                               int8_t res_type,
                               const char *resource,
                               const struct bk_md_alter *ops,
                               size_t n_ops,
                               struct bk_md_recs *out,
                               char *msg)
{
    size_t mark = out->n;
    const struct bk_md_topic *t;
    int16_t code = alter_resource(img, res_type, resource, &t, msg);
    if (code != 0) {
        return code;
    }
    const struct bk_md_configs *cur =
        t != NULL ? &t->configs : bk_md_image_broker_configs(img, resource);
    for (size_t i = 0; i < n_ops; i++) {
        code = alter_one(t, cur, res_type, resource, ops, i, out, msg);
        if (code != 0) {
            /* All or nothing: no record of this resource stays. */
            return fail(out, mark, code);
        }
        /* KIP-966: the ELR was chosen against the old min ISR. */
        if (t != NULL && ops[i].name != NULL &&
            strcmp(ops[i].name, "min.insync.replicas") == 0) {
            code = bk_md_op_clear_elr(img, t, out, msg);
            if (code != 0) {
                return fail(out, mark, code);
            }
        }
    }
    msg[0] = '\0';
    return BK_MD_KERR_NONE;
}

int16_t bk_md_op_alloc_producer_ids(const struct bk_md_image *img,
                                    int32_t broker_id,
                                    int64_t broker_epoch,
                                    struct bk_md_recs *out,
                                    int64_t *first,
                                    char *msg)
{
    const struct bk_md_broker *b = bk_md_image_broker(img, broker_id);
    if (b == NULL || b->epoch != broker_epoch || b->fenced) {
        snprintf(msg, BK_MD_MSG_SIZE,
                 "Broker %d with epoch %lld is not registered and unfenced.",
                 broker_id, (long long)broker_epoch);
        return BK_MD_KERR_STALE_BROKER_EPOCH;
    }
    struct bk_md_rec *r = bk_md_recs_add(out, BK_MD_REC_PRODUCER_IDS);
    if (r == NULL) {
        return oom(out, out->n, msg);
    }
    r->u.producer_ids = (struct bk_md_producer_ids_rec){
        .broker_id = broker_id,
        .broker_epoch = broker_epoch,
        .first_id = img->next_producer_id,
        .count = BK_MD_PRODUCER_ID_BLOCK,
    };
    if (first != NULL) {
        *first = img->next_producer_id;
    }
    msg[0] = '\0';
    return BK_MD_KERR_NONE;
}

int16_t bk_md_op_change_partition(const struct bk_md_image *img,
                                  const struct bk_uuid *topic_id,
                                  int32_t partition,
                                  int32_t expected_partition_epoch,
                                  int32_t leader,
                                  const int32_t *isr,
                                  int32_t n_isr,
                                  struct bk_md_recs *out,
                                  char *msg)
{
    const struct bk_md_topic *t = bk_md_image_topic_by_id(img, topic_id);
    if (t == NULL) {
        snprintf(msg, BK_MD_MSG_SIZE,
                 "This server does not host this topic "
                 "ID.");
        return BK_MD_KERR_UNKNOWN_TOPIC_ID;
    }
    const struct bk_md_partition *p = bk_md_topic_partition(t, partition);
    if (p == NULL) {
        snprintf(msg, BK_MD_MSG_SIZE,
                 "This server does not host this topic-partition.");
        return BK_MD_KERR_UNKNOWN_TOPIC_OR_PARTITION;
    }
    if (p->partition_epoch != expected_partition_epoch) {
        snprintf(msg, BK_MD_MSG_SIZE, "Partition %s-%d has epoch %d, not %d.",
                 t->name, partition, p->partition_epoch,
                 expected_partition_epoch);
        return BK_MD_KERR_INVALID_UPDATE_VERSION;
    }
    if (n_isr < 0 || n_isr > p->n_replicas ||
        (n_isr == 0 && p->n_isr > 0 && !bk_md_elr_enabled(img))) {
        snprintf(msg, BK_MD_MSG_SIZE, "Invalid ISR size %d.", n_isr);
        return BK_MD_KERR_INELIGIBLE_REPLICA;
    }
    bool leader_in_isr = leader == -1;
    for (int32_t i = 0; i < n_isr; i++) {
        bool replica = false;
        for (int32_t k = 0; k < p->n_replicas; k++) {
            replica = replica || p->replicas[k] == isr[i];
        }
        bool dup = false;
        for (int32_t k = 0; k < i; k++) {
            dup = dup || isr[k] == isr[i];
        }
        if (!replica || dup) {
            snprintf(msg, BK_MD_MSG_SIZE,
                     "Broker %d cannot be in the ISR of %s-%d: it is %s.",
                     isr[i], t->name, partition,
                     dup ? "listed twice" : "not a replica");
            return BK_MD_KERR_INELIGIBLE_REPLICA;
        }
        leader_in_isr = leader_in_isr || isr[i] == leader;
    }
    if (!leader_in_isr) {
        snprintf(msg, BK_MD_MSG_SIZE, "Leader %d of %s-%d must be in the ISR.",
                 leader, t->name, partition);
        return BK_MD_KERR_INELIGIBLE_REPLICA;
    }
    int32_t *isr_copy =
        bk_arena_alloc(out->arena, sizeof(int32_t) * (size_t)n_isr + 1);
    int32_t *replicas =
        bk_arena_alloc(out->arena, sizeof(int32_t) * (size_t)p->n_replicas + 1);
    int32_t *elr =
        bk_arena_alloc(out->arena, sizeof(int32_t) * (size_t)p->n_replicas + 1);
    int32_t *lke =
        bk_arena_alloc(out->arena, sizeof(int32_t) * (size_t)p->n_replicas + 1);
    struct bk_md_rec *r =
        isr_copy != NULL && replicas != NULL && elr != NULL && lke != NULL
            ? bk_md_recs_add(out, BK_MD_REC_PARTITION)
            : NULL;
    if (r == NULL) {
        return oom(out, out->n, msg);
    }
    if (n_isr > 0) {
        memcpy(isr_copy, isr, sizeof(int32_t) * (size_t)n_isr);
    }
    memcpy(replicas, p->replicas, sizeof(int32_t) * (size_t)p->n_replicas);
    int32_t n_elr, n_lke;
    bk_md_elr_target(img, t, p, isr, n_isr, -1, elr, &n_elr, lke, &n_lke);
    r->u.partition = (struct bk_md_partition_rec){
        .topic_id = t->id,
        .partition = partition,
        .n_replicas = p->n_replicas,
        .replicas = replicas,
        .n_isr = n_isr,
        .isr = isr_copy,
        .leader = leader,
        .leader_epoch = p->leader_epoch + (leader != p->leader ? 1 : 0),
        .partition_epoch = p->partition_epoch + 1,
        .leader_recovery_state = p->leader_recovery_state,
        .n_adding = p->n_adding,
        .adding = p->adding,
        .n_removing = p->n_removing,
        .removing = p->removing,
        .n_elr = n_elr,
        .elr = elr,
        .n_last_known_elr = n_lke,
        .last_known_elr = lke,
    };
    /* The arrays of a reassignment in progress are the image's: the record
     * must own copies, as it may outlive the image. */
    if (bk_md_reassigning(p)) {
        int32_t *a = bk_arena_alloc(out->arena,
                                    sizeof(int32_t) * (size_t)p->n_adding + 1);
        int32_t *rm = bk_arena_alloc(
            out->arena, sizeof(int32_t) * (size_t)p->n_removing + 1);
        if (a == NULL || rm == NULL) {
            return oom(out, out->n - 1, msg);
        }
        memcpy(a, p->adding, sizeof(int32_t) * (size_t)p->n_adding);
        memcpy(rm, p->removing, sizeof(int32_t) * (size_t)p->n_removing);
        r->u.partition.adding = a;
        r->u.partition.removing = rm;
        if (bk_md_reassign_complete(img, p, &r->u.partition, out->arena) < 0) {
            return oom(out, out->n - 1, msg);
        }
    }
    msg[0] = '\0';
    return BK_MD_KERR_NONE;
}
