#include "cluster/records.h"

#include <string.h>

#include "common/assert.h"
#include "common/err.h"
#include "common/heap.h"

/* Field helpers. Strings and int32 arrays use the compact forms. */

static size_t i32_array_size(int32_t n)
{
    return bk_array_len_size(n, true) + 4 * (size_t)(n < 0 ? 0 : n);
}

static void wr_i32_array(struct bk_wr *wr, int32_t n, const int32_t *v)
{
    bk_wr_array_len(wr, n, true);
    for (int32_t i = 0; i < n; i++) {
        bk_wr_i32(wr, v[i]);
    }
}

static int32_t *rd_i32_array(struct bk_rd *rd,
                             struct bk_arena *arena,
                             int32_t *n_out)
{
    int32_t n = bk_rd_array_len(rd, true, false, 4);
    *n_out = 0;
    if (rd->err != 0) {
        return NULL;
    }
    if (n > BK_MD_MAX_REPLICAS) {
        bk_rd_fail(rd);
        return NULL;
    }
    int32_t *v = bk_arena_alloc(arena, 4 * (size_t)n + 1);
    if (v == NULL) {
        rd->err = BK_ENOMEM; /* sticky like BK_EPROTO */
        return NULL;
    }
    for (int32_t i = 0; i < n; i++) {
        v[i] = bk_rd_i32(rd);
    }
    *n_out = n;
    return v;
}

static struct bk_str rd_str(struct bk_rd *rd, bool nullable, int32_t max)
{
    struct bk_str s = bk_rd_str(rd, true, nullable);
    if (s.len > max) {
        bk_rd_fail(rd);
        return BK_STR_NULL;
    }
    return s;
}

static struct bk_bytes rd_bytes(struct bk_rd *rd, int32_t max)
{
    struct bk_bytes b = bk_rd_bytes(rd, true, false);
    if (b.len > max) {
        bk_rd_fail(rd);
        return BK_BYTES_NULL;
    }
    return b;
}

static size_t body_size(const struct bk_md_rec *rec)
{
    switch (rec->type) {
        case BK_MD_REC_BROKER: {
            const struct bk_md_broker_rec *b = &rec->u.broker;
            return 4 + 8 + bk_str_size(b->host, true) + 4 +
                   bk_str_size(b->rack, true) + 1 + 16 + 1;
        }
        case BK_MD_REC_TOPIC:
            return bk_str_size(rec->u.topic.name, true) + 16;
        case BK_MD_REC_PARTITION: {
            const struct bk_md_partition_rec *p = &rec->u.partition;
            return 16 + 4 + i32_array_size(p->n_replicas) +
                   i32_array_size(p->n_isr) + 4 + 4 + 4 + 1 +
                   i32_array_size(p->n_adding) + i32_array_size(p->n_removing) +
                   i32_array_size(p->n_elr) +
                   i32_array_size(p->n_last_known_elr);
        }
        case BK_MD_REC_CONFIG: {
            const struct bk_md_config_rec *c = &rec->u.config;
            return 1 + bk_str_size(c->resource, true) +
                   bk_str_size(c->name, true) + bk_str_size(c->value, true);
        }
        case BK_MD_REC_REMOVE_TOPIC:
            return 16;
        case BK_MD_REC_PRODUCER_IDS:
            return 4 + 8 + 8 + 4;
        case BK_MD_REC_FEATURE:
            return bk_str_size(rec->u.feature.name, true) + 2;
        case BK_MD_REC_CLUSTER:
            return bk_str_size(rec->u.cluster.cluster_id, true);
        case BK_MD_REC_CONTROLLER:
            return 4 + 16 + bk_str_size(rec->u.controller.host, true) + 4;
        case BK_MD_REC_CLIENT_QUOTA: {
            const struct bk_md_client_quota_rec *q = &rec->u.client_quota;
            size_t n = bk_array_len_size(q->n_entity, true);
            for (unsigned i = 0; i < q->n_entity; i++) {
                n += bk_str_size(q->entity[i].type, true) +
                     bk_str_size(q->entity[i].name, true);
            }
            return n + bk_str_size(q->key, true) + 8 + 1;
        }
        case BK_MD_REC_SCRAM: {
            const struct bk_md_scram_rec *c = &rec->u.scram;
            return bk_str_size(c->name, true) + 1 +
                   bk_bytes_size(c->salt, true) +
                   bk_bytes_size(c->stored_key, true) +
                   bk_bytes_size(c->server_key, true) + 4;
        }
        case BK_MD_REC_REMOVE_SCRAM:
            return bk_str_size(rec->u.remove_scram.name, true) + 1;
        case BK_MD_REC_ACL: {
            const struct bk_md_acl_rec *a = &rec->u.acl;
            return 16 + 1 + bk_str_size(a->name, true) + 1 +
                   bk_str_size(a->principal, true) +
                   bk_str_size(a->host, true) + 1 + 1;
        }
        case BK_MD_REC_REMOVE_ACL:
            return 16;
        default:
            return 0;
    }
}

/* The body version written for each type (records.h has the constants). */
static unsigned current_version(unsigned type)
{
    static const unsigned versions[BK_MD_REC_TYPE_MAX + 1] = {
        [BK_MD_REC_BROKER] = BK_MD_BROKER_VERSION,
        [BK_MD_REC_TOPIC] = BK_MD_TOPIC_VERSION,
        [BK_MD_REC_PARTITION] = BK_MD_PARTITION_VERSION,
        [BK_MD_REC_CONFIG] = BK_MD_CONFIG_VERSION,
        [BK_MD_REC_REMOVE_TOPIC] = BK_MD_REMOVE_TOPIC_VERSION,
        [BK_MD_REC_PRODUCER_IDS] = BK_MD_PRODUCER_IDS_VERSION,
        [BK_MD_REC_FEATURE] = BK_MD_FEATURE_VERSION,
        [BK_MD_REC_CLUSTER] = BK_MD_CLUSTER_VERSION,
        [BK_MD_REC_CONTROLLER] = BK_MD_CONTROLLER_VERSION,
        [BK_MD_REC_CLIENT_QUOTA] = BK_MD_CLIENT_QUOTA_VERSION,
        [BK_MD_REC_SCRAM] = BK_MD_SCRAM_VERSION,
        [BK_MD_REC_REMOVE_SCRAM] = BK_MD_REMOVE_SCRAM_VERSION,
        [BK_MD_REC_ACL] = BK_MD_ACL_VERSION,
        [BK_MD_REC_REMOVE_ACL] = BK_MD_REMOVE_ACL_VERSION,
    };
    return type <= BK_MD_REC_TYPE_MAX ? versions[type] : 0;
}

size_t bk_md_rec_size(const struct bk_md_rec *rec)
{
    size_t body = body_size(rec);
    return bk_uvarint_size(rec->type) +
           bk_uvarint_size(current_version(rec->type)) +
           bk_uvarint_size((uint32_t)body) + body;
}

void bk_md_rec_encode(struct bk_wr *wr, const struct bk_md_rec *rec)
{
    if (rec->type == 0 || rec->type > BK_MD_REC_TYPE_MAX) {
        wr->err = BK_EINVAL;
        return;
    }
    size_t body = body_size(rec);
    bk_wr_uvarint(wr, rec->type);
    bk_wr_uvarint(wr, current_version(rec->type));
    bk_wr_uvarint(wr, (uint32_t)body);
    switch (rec->type) {
        case BK_MD_REC_BROKER: {
            const struct bk_md_broker_rec *b = &rec->u.broker;
            bk_wr_i32(wr, b->id);
            bk_wr_i64(wr, b->epoch);
            bk_wr_str(wr, b->host, true);
            bk_wr_i32(wr, b->port);
            bk_wr_str(wr, b->rack, true);
            bk_wr_bool(wr, b->fenced);
            bk_wr_uuid(wr, &b->incarnation);
            bk_wr_bool(wr, b->in_controlled_shutdown);
            break;
        }
        case BK_MD_REC_TOPIC:
            bk_wr_str(wr, rec->u.topic.name, true);
            bk_wr_uuid(wr, &rec->u.topic.id);
            break;
        case BK_MD_REC_PARTITION: {
            const struct bk_md_partition_rec *p = &rec->u.partition;
            bk_wr_uuid(wr, &p->topic_id);
            bk_wr_i32(wr, p->partition);
            wr_i32_array(wr, p->n_replicas, p->replicas);
            wr_i32_array(wr, p->n_isr, p->isr);
            bk_wr_i32(wr, p->leader);
            bk_wr_i32(wr, p->leader_epoch);
            bk_wr_i32(wr, p->partition_epoch);
            bk_wr_i8(wr, p->leader_recovery_state);
            wr_i32_array(wr, p->n_adding, p->adding);
            wr_i32_array(wr, p->n_removing, p->removing);
            wr_i32_array(wr, p->n_elr, p->elr);
            wr_i32_array(wr, p->n_last_known_elr, p->last_known_elr);
            break;
        }
        case BK_MD_REC_CONFIG: {
            const struct bk_md_config_rec *c = &rec->u.config;
            bk_wr_i8(wr, c->resource_type);
            bk_wr_str(wr, c->resource, true);
            bk_wr_str(wr, c->name, true);
            bk_wr_str(wr, c->value, true);
            break;
        }
        case BK_MD_REC_REMOVE_TOPIC:
            bk_wr_uuid(wr, &rec->u.remove_topic.topic_id);
            break;
        case BK_MD_REC_PRODUCER_IDS: {
            const struct bk_md_producer_ids_rec *p = &rec->u.producer_ids;
            bk_wr_i32(wr, p->broker_id);
            bk_wr_i64(wr, p->broker_epoch);
            bk_wr_i64(wr, p->first_id);
            bk_wr_i32(wr, p->count);
            break;
        }
        case BK_MD_REC_FEATURE:
            bk_wr_str(wr, rec->u.feature.name, true);
            bk_wr_i16(wr, rec->u.feature.level);
            break;
        case BK_MD_REC_CLUSTER:
            bk_wr_str(wr, rec->u.cluster.cluster_id, true);
            break;
        case BK_MD_REC_CONTROLLER: {
            const struct bk_md_controller_rec *c = &rec->u.controller;
            bk_wr_i32(wr, c->id);
            bk_wr_uuid(wr, &c->incarnation);
            bk_wr_str(wr, c->host, true);
            bk_wr_i32(wr, c->port);
            break;
        }
        case BK_MD_REC_CLIENT_QUOTA: {
            const struct bk_md_client_quota_rec *q = &rec->u.client_quota;
            bk_wr_array_len(wr, q->n_entity, true);
            for (unsigned i = 0; i < q->n_entity; i++) {
                bk_wr_str(wr, q->entity[i].type, true);
                bk_wr_str(wr, q->entity[i].name, true);
            }
            bk_wr_str(wr, q->key, true);
            bk_wr_f64(wr, q->value);
            bk_wr_bool(wr, q->remove);
            break;
        }
        case BK_MD_REC_SCRAM: {
            const struct bk_md_scram_rec *c = &rec->u.scram;
            bk_wr_str(wr, c->name, true);
            bk_wr_i8(wr, c->mechanism);
            bk_wr_bytes(wr, c->salt, true);
            bk_wr_bytes(wr, c->stored_key, true);
            bk_wr_bytes(wr, c->server_key, true);
            bk_wr_i32(wr, c->iterations);
            break;
        }
        case BK_MD_REC_REMOVE_SCRAM:
            bk_wr_str(wr, rec->u.remove_scram.name, true);
            bk_wr_i8(wr, rec->u.remove_scram.mechanism);
            break;
        case BK_MD_REC_ACL: {
            const struct bk_md_acl_rec *a = &rec->u.acl;
            bk_wr_uuid(wr, &a->id);
            bk_wr_i8(wr, a->res_type);
            bk_wr_str(wr, a->name, true);
            bk_wr_i8(wr, a->pattern);
            bk_wr_str(wr, a->principal, true);
            bk_wr_str(wr, a->host, true);
            bk_wr_i8(wr, a->op);
            bk_wr_i8(wr, a->perm);
            break;
        }
        case BK_MD_REC_REMOVE_ACL:
            bk_wr_uuid(wr, &rec->u.remove_acl.id);
            break;
        default:
            break;
    }
}

size_t bk_md_batch_header_size(size_t count)
{
    return 1 + bk_uvarint_size((uint32_t)count);
}

void bk_md_batch_header_encode(struct bk_wr *wr, size_t count)
{
    bk_wr_i8(wr, BK_MD_BATCH_FORMAT);
    bk_wr_uvarint(wr, (uint32_t)count);
}

int bk_md_batch_encode(const struct bk_md_rec *recs,
                       size_t n,
                       void *(*alloc)(size_t),
                       void **out,
                       size_t *out_len)
{
    size_t len = bk_md_batch_header_size(n);
    for (size_t i = 0; i < n; i++) {
        if (recs[i].type == 0 || recs[i].type > BK_MD_REC_TYPE_MAX) {
            return BK_EINVAL;
        }
        len += bk_md_rec_size(&recs[i]);
    }
    void *buf = alloc(len);
    if (buf == NULL) {
        return BK_ENOMEM;
    }
    struct bk_wr wr;
    bk_wr_init(&wr, buf, len);
    bk_md_batch_header_encode(&wr, n);
    for (size_t i = 0; i < n; i++) {
        bk_md_rec_encode(&wr, &recs[i]);
    }
    /* The sizes above are exact; a mismatch is a bug in this file. */
    bk_assert(wr.err == 0 && wr.len == len);
    *out = buf;
    *out_len = len;
    return 0;
}

static void decode_client_quota(struct bk_rd *rd,
                                struct bk_md_client_quota_rec *q)
{
    int32_t n = bk_rd_array_len(rd, true, false, 2);
    if (rd->err != 0 || n < 1 || n > BK_MD_QUOTA_MAX_PARTS) {
        bk_rd_fail(rd);
        return;
    }
    q->n_entity = (uint8_t)n;
    for (int32_t i = 0; i < n; i++) {
        q->entity[i].type = rd_str(rd, false, BK_MD_MAX_STR);
        q->entity[i].name = rd_str(rd, true, BK_MD_MAX_STR);
    }
    q->key = rd_str(rd, false, BK_MD_MAX_STR);
    q->value = bk_rd_f64(rd);
    q->remove = bk_rd_bool(rd);
}

/* Decodes the body of one record of a known type. Fields of versions newer
 * than the ones known here are skipped by the caller. */
static void decode_body(struct bk_rd *rd,
                        struct bk_md_rec *rec,
                        struct bk_arena *arena)
{
    switch (rec->type) {
        case BK_MD_REC_BROKER: {
            struct bk_md_broker_rec *b = &rec->u.broker;
            b->id = bk_rd_i32(rd);
            b->epoch = bk_rd_i64(rd);
            b->host = rd_str(rd, false, BK_MD_MAX_STR);
            b->port = bk_rd_i32(rd);
            b->rack = rd_str(rd, true, BK_MD_MAX_STR);
            b->fenced = bk_rd_bool(rd);
            memset(&b->incarnation, 0, sizeof(b->incarnation));
            b->in_controlled_shutdown = false;
            if (rec->version >= 1) {
                bk_rd_uuid(rd, &b->incarnation);
                b->in_controlled_shutdown = bk_rd_bool(rd);
            }
            break;
        }
        case BK_MD_REC_TOPIC:
            rec->u.topic.name = rd_str(rd, false, BK_MD_MAX_NAME);
            bk_rd_uuid(rd, &rec->u.topic.id);
            break;
        case BK_MD_REC_PARTITION: {
            struct bk_md_partition_rec *p = &rec->u.partition;
            bk_rd_uuid(rd, &p->topic_id);
            p->partition = bk_rd_i32(rd);
            p->replicas = rd_i32_array(rd, arena, &p->n_replicas);
            p->isr = rd_i32_array(rd, arena, &p->n_isr);
            p->leader = bk_rd_i32(rd);
            p->leader_epoch = bk_rd_i32(rd);
            p->partition_epoch = bk_rd_i32(rd);
            p->leader_recovery_state = rec->version >= 1 ? bk_rd_i8(rd) : 0;
            p->n_adding = p->n_removing = 0;
            p->adding = p->removing = NULL;
            if (rec->version >= 2) {
                p->adding = rd_i32_array(rd, arena, &p->n_adding);
                p->removing = rd_i32_array(rd, arena, &p->n_removing);
            }
            p->n_elr = p->n_last_known_elr = 0;
            p->elr = p->last_known_elr = NULL;
            if (rec->version >= 3) {
                p->elr = rd_i32_array(rd, arena, &p->n_elr);
                p->last_known_elr =
                    rd_i32_array(rd, arena, &p->n_last_known_elr);
            }
            break;
        }
        case BK_MD_REC_CONFIG: {
            struct bk_md_config_rec *c = &rec->u.config;
            c->resource_type = bk_rd_i8(rd);
            c->resource = rd_str(rd, false, BK_MD_MAX_STR);
            c->name = rd_str(rd, false, BK_MD_MAX_STR);
            c->value = rd_str(rd, true, BK_MD_MAX_STR);
            break;
        }
        case BK_MD_REC_REMOVE_TOPIC:
            bk_rd_uuid(rd, &rec->u.remove_topic.topic_id);
            break;
        case BK_MD_REC_PRODUCER_IDS: {
            struct bk_md_producer_ids_rec *p = &rec->u.producer_ids;
            p->broker_id = bk_rd_i32(rd);
            p->broker_epoch = bk_rd_i64(rd);
            p->first_id = bk_rd_i64(rd);
            p->count = bk_rd_i32(rd);
            break;
        }
        case BK_MD_REC_FEATURE:
            rec->u.feature.name = rd_str(rd, false, BK_MD_MAX_STR);
            rec->u.feature.level = bk_rd_i16(rd);
            break;
        case BK_MD_REC_CLUSTER:
            rec->u.cluster.cluster_id = rd_str(rd, false, BK_MD_MAX_NAME);
            break;
        case BK_MD_REC_CONTROLLER: {
            struct bk_md_controller_rec *c = &rec->u.controller;
            c->id = bk_rd_i32(rd);
            bk_rd_uuid(rd, &c->incarnation);
            c->host = rd_str(rd, false, BK_MD_MAX_STR);
            c->port = bk_rd_i32(rd);
            break;
        }
        case BK_MD_REC_CLIENT_QUOTA:
            decode_client_quota(rd, &rec->u.client_quota);
            break;
        case BK_MD_REC_SCRAM: {
            struct bk_md_scram_rec *c = &rec->u.scram;
            c->name = rd_str(rd, false, BK_MD_MAX_STR);
            c->mechanism = bk_rd_i8(rd);
            c->salt = rd_bytes(rd, BK_MD_MAX_SCRAM_SALT);
            c->stored_key = rd_bytes(rd, BK_MD_MAX_SCRAM_KEY);
            c->server_key = rd_bytes(rd, BK_MD_MAX_SCRAM_KEY);
            c->iterations = bk_rd_i32(rd);
            break;
        }
        case BK_MD_REC_REMOVE_SCRAM:
            rec->u.remove_scram.name = rd_str(rd, false, BK_MD_MAX_STR);
            rec->u.remove_scram.mechanism = bk_rd_i8(rd);
            break;
        case BK_MD_REC_ACL: {
            struct bk_md_acl_rec *a = &rec->u.acl;
            bk_rd_uuid(rd, &a->id);
            a->res_type = bk_rd_i8(rd);
            a->name = rd_str(rd, false, BK_MD_MAX_STR);
            a->pattern = bk_rd_i8(rd);
            a->principal = rd_str(rd, false, BK_MD_MAX_STR);
            a->host = rd_str(rd, false, BK_MD_MAX_STR);
            a->op = bk_rd_i8(rd);
            a->perm = bk_rd_i8(rd);
            break;
        }
        case BK_MD_REC_REMOVE_ACL:
            bk_rd_uuid(rd, &rec->u.remove_acl.id);
            break;
        default:
            bk_rd_fail(rd);
            break;
    }
}

int bk_md_batch_decode(const void *buf,
                       size_t len,
                       struct bk_arena *arena,
                       struct bk_md_rec **recs_out,
                       size_t *n_out)
{
    struct bk_rd rd;
    bk_rd_init(&rd, buf, len);
    int8_t format = bk_rd_i8(&rd);
    uint32_t count = bk_rd_uvarint(&rd);
    if (rd.err != 0) {
        return BK_EPROTO;
    }
    if (format != BK_MD_BATCH_FORMAT) {
        return BK_EUNSUPPORTED;
    }
    /* Every record takes at least 3 bytes (three one-byte varints). */
    if (count > bk_rd_left(&rd) / 3) {
        return BK_EPROTO;
    }
    struct bk_md_rec *recs =
        bk_arena_alloc(arena, sizeof(*recs) * ((size_t)count + 1));
    if (recs == NULL) {
        return BK_ENOMEM;
    }
    for (uint32_t i = 0; i < count; i++) {
        struct bk_md_rec *rec = &recs[i];
        uint32_t type = bk_rd_uvarint(&rd);
        uint32_t version = bk_rd_uvarint(&rd);
        uint32_t body_len = bk_rd_uvarint(&rd);
        if (rd.err != 0 || body_len > bk_rd_left(&rd) || version > 0xffff) {
            return BK_EPROTO;
        }
        if (type == 0 || type > BK_MD_REC_TYPE_MAX) {
            return BK_EUNSUPPORTED;
        }
        rec->type = (uint16_t)type;
        rec->version = (uint16_t)version;
        struct bk_rd body;
        bk_rd_init(&body, rd.buf + rd.pos, body_len);
        decode_body(&body, rec, arena);
        if (body.err != 0) {
            return body.err == BK_ENOMEM ? BK_ENOMEM : BK_EPROTO;
        }
        /* A newer writer may have appended fields: skip them. */
        if (bk_rd_left(&body) != 0 && version <= current_version(type)) {
            return BK_EPROTO;
        }
        bk_rd_skip(&rd, body_len);
    }
    /* Raft entries are padded to a multiple of 8 bytes with zeros. */
    size_t pad = bk_rd_left(&rd);
    if (pad >= 8) {
        return BK_EPROTO;
    }
    for (size_t i = 0; i < pad; i++) {
        if (rd.buf[rd.pos + i] != 0) {
            return BK_EPROTO;
        }
    }
    *recs_out = recs;
    *n_out = count;
    return 0;
}

const char *bk_md_rec_type_name(unsigned type)
{
    static const char *const names[] = {
        "unknown",      "broker",       "topic",   "partition",  "config",
        "remove_topic", "producer_ids", "feature", "cluster",    "controller",
        "scram",        "remove_scram", "acl",     "remove_acl", "client_quota"
    };
    if (type > BK_MD_REC_TYPE_MAX) {
        return names[0];
    }
    return names[type];
}
