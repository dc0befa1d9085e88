#include "cluster/topic_config.h"

#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cluster/image.h"

static const char *const CLEANUP_POLICIES[] = { "compact", "delete", NULL };
static const char *const COMPRESSION_TYPES[] = {
    "uncompressed", "zstd", "lz4", "snappy", "gzip", "producer", NULL
};
static const char *const TIMESTAMP_TYPES[] = { "CreateTime", "LogAppendTime",
                                               NULL };

#define LMAX      9223372036854775807.0
#define IMAX      2147483647.0
#define F(f)      offsetof(struct bk_topic_settings, f)
#define NOF       BK_TOPIC_NO_FIELD
#define LMAX_TEXT "9223372036854775807"

/* Kafka 4.x topic configs (LogConfig / TopicConfig), sorted by name. The
 * defaults are Kafka's. The broker column is Kafka's
 * ServerTopicConfigSynonyms: the broker setting a topic falls back to, with
 * the default of the first such setting that has one (the one Kafka lists
 * as the DEFAULT_CONFIG synonym) and the factor from its unit. */
static const struct bk_md_cfg_def TABLE[] = {
    { "cleanup.policy", BK_MD_CFG_LIST, "delete", false, false, 0, 0,
      CLEANUP_POLICIES, true,
      "Retention policy for old segments: delete and/or compact.",
      "log.cleanup.policy", "delete", 1, F(cleanup_policy) },
    { "compression.gzip.level", BK_MD_CFG_INT, "-1", true, true, -1, 9, NULL,
      true, "Compression level when compression.type is gzip.",
      "compression.gzip.level", "-1", 1, F(compression_gzip_level) },
    { "compression.lz4.level", BK_MD_CFG_INT, "9", true, true, 1, 17, NULL,
      true, "Compression level when compression.type is lz4.",
      "compression.lz4.level", "9", 1, F(compression_lz4_level) },
    { "compression.type", BK_MD_CFG_STRING, "producer", false, false, 0, 0,
      COMPRESSION_TYPES, true,
      "Final compression of the topic's data; producer keeps the "
      "producer's codec.",
      "compression.type", "producer", 1, F(compression_type) },
    { "compression.zstd.level", BK_MD_CFG_INT, "3", true, true, -131072, 22,
      NULL, true, "Compression level when compression.type is zstd.",
      "compression.zstd.level", "3", 1, F(compression_zstd_level) },
    { "delete.retention.ms", BK_MD_CFG_LONG, "86400000", true, false, 0, 0,
      NULL, true, "How long delete tombstones are kept on compacted topics.",
      "log.cleaner.delete.retention.ms", "86400000", 1,
      F(delete_retention_ms) },
    { "file.delete.delay.ms", BK_MD_CFG_LONG, "60000", true, false, 0, 0, NULL,
      true, "Delay before a deleted segment file is removed.",
      "log.segment.delete.delay.ms", "60000", 1, F(file_delete_delay_ms) },
    { "flush.messages", BK_MD_CFG_LONG, LMAX_TEXT, true, false, 1, 0, NULL,
      true, "Force an fsync after this many messages.",
      "log.flush.interval.messages", LMAX_TEXT, 1, F(flush_messages) },
    { "flush.ms", BK_MD_CFG_LONG, LMAX_TEXT, true, false, 0, 0, NULL, true,
      "Force an fsync after this many milliseconds.",
      "log.flush.scheduler.interval.ms", LMAX_TEXT, 1, F(flush_ms) },
    { "follower.replication.throttled.replicas", BK_MD_CFG_LIST, "", false,
      false, 0, 0, NULL, true, "Replicas throttled on the follower side.", NULL,
      NULL, 1, NOF },
    { "index.interval.bytes", BK_MD_CFG_INT, "4096", true, false, 0, 0, NULL,
      true, "Bytes between offset index entries.", "log.index.interval.bytes",
      "4096", 1, F(index_interval_bytes) },
    { "leader.replication.throttled.replicas", BK_MD_CFG_LIST, "", false, false,
      0, 0, NULL, true, "Replicas throttled on the leader side.", NULL, NULL, 1,
      NOF },
    { "local.retention.bytes", BK_MD_CFG_LONG, "-2", true, false, -2, 0, NULL,
      true, "Local retention with tiered storage (-2: retention.bytes).",
      "log.local.retention.bytes", "-2", 1, F(local_retention_bytes) },
    { "local.retention.ms", BK_MD_CFG_LONG, "-2", true, false, -2, 0, NULL,
      true, "Local retention with tiered storage (-2: retention.ms).",
      "log.local.retention.ms", "-2", 1, F(local_retention_ms) },
    { "max.compaction.lag.ms", BK_MD_CFG_LONG, LMAX_TEXT, true, false, 1, 0,
      NULL, true, "Longest time a message stays ineligible for compaction.",
      "log.cleaner.max.compaction.lag.ms", LMAX_TEXT, 1,
      F(max_compaction_lag_ms) },
    { "max.message.bytes", BK_MD_CFG_INT, "1048588", true, false, 0, 0, NULL,
      true, "Largest record batch size allowed.", "message.max.bytes",
      "1048588", 1, F(max_message_bytes) },
    { "message.downconversion.enable", BK_MD_CFG_BOOLEAN, "true", false, false,
      0, 0, NULL, true,
      "Down-convert for old consumers (accepted; brokerd never "
      "down-converts).",
      "log.message.downconversion.enable", "true", 1,
      F(message_downconversion_enable) },
    { "message.timestamp.after.max.ms", BK_MD_CFG_LONG, "3600000", true, false,
      0, 0, NULL, true,
      "How far a CreateTime timestamp may be ahead of the broker's clock.",
      "log.message.timestamp.after.max.ms", "3600000", 1,
      F(message_timestamp_after_max_ms) },
    { "message.timestamp.before.max.ms", BK_MD_CFG_LONG, LMAX_TEXT, true, false,
      0, 0, NULL, true,
      "How far a CreateTime timestamp may be behind the broker's clock.",
      "log.message.timestamp.before.max.ms", LMAX_TEXT, 1,
      F(message_timestamp_before_max_ms) },
    { "message.timestamp.type", BK_MD_CFG_STRING, "CreateTime", false, false, 0,
      0, TIMESTAMP_TYPES, true,
      "CreateTime or LogAppendTime for the record timestamps.",
      "log.message.timestamp.type", "CreateTime", 1,
      F(message_timestamp_type) },
    { "min.cleanable.dirty.ratio", BK_MD_CFG_DOUBLE, "0.5", true, true, 0, 1,
      NULL, true, "Dirty ratio of the log that triggers compaction.",
      "log.cleaner.min.cleanable.ratio", "0.5", 1,
      F(min_cleanable_dirty_ratio) },
    { "min.compaction.lag.ms", BK_MD_CFG_LONG, "0", true, false, 0, 0, NULL,
      true, "Shortest time a message stays uncompacted.",
      "log.cleaner.min.compaction.lag.ms", "0", 1, F(min_compaction_lag_ms) },
    { "min.insync.replicas", BK_MD_CFG_INT, "1", true, false, 1, 0, NULL, true,
      "Replicas that must acknowledge an acks=all write.",
      "min.insync.replicas", "1", 1, F(min_insync_replicas) },
    { "preallocate", BK_MD_CFG_BOOLEAN, "false", false, false, 0, 0, NULL, true,
      "Preallocate segment files (takes effect at the next roll).",
      "log.preallocate", "false", 1, F(preallocate) },
    { "remote.storage.enable", BK_MD_CFG_BOOLEAN, "false", false, false, 0, 0,
      NULL, false,
      "Tiered storage (not supported by brokerd; must stay "
      "false).",
      NULL, NULL, 1, F(remote_storage_enable) },
    { "retention.bytes", BK_MD_CFG_LONG, "-1", false, false, 0, 0, NULL, true,
      "Size at which old segments are deleted (-1: no limit).",
      "log.retention.bytes", "-1", 1, F(retention_bytes) },
    { "retention.ms", BK_MD_CFG_LONG, "604800000", true, false, -1, 0, NULL,
      true, "Age at which old segments are deleted (-1: no limit).",
      "log.retention.hours", "168", 3600000, F(retention_ms) },
    { "segment.bytes", BK_MD_CFG_INT, "1073741824", true, false, 1048576, 0,
      NULL, true, "Segment size (takes effect at the next roll).",
      "log.segment.bytes", "1073741824", 1, F(segment_bytes) },
    { "segment.index.bytes", BK_MD_CFG_INT, "10485760", true, false, 4, 0, NULL,
      true, "Offset index size (takes effect at the next roll).",
      "log.index.size.max.bytes", "10485760", 1, F(segment_index_bytes) },
    { "segment.jitter.ms", BK_MD_CFG_LONG, "0", true, false, 0, 0, NULL, true,
      "Random jitter subtracted from segment.ms.", "log.roll.jitter.hours", "0",
      3600000, F(segment_jitter_ms) },
    { "segment.ms", BK_MD_CFG_LONG, "604800000", true, false, 1, 0, NULL, true,
      "Age at which a segment is rolled.", "log.roll.hours", "168", 3600000,
      F(segment_ms) },
    { "unclean.leader.election.enable", BK_MD_CFG_BOOLEAN, "false", false,
      false, 0, 0, NULL, true,
      "Allow an out-of-sync replica to become leader (data loss).",
      "unclean.leader.election.enable", "false", 1,
      F(unclean_leader_election_enable) },
};

#define TABLE_LEN (sizeof(TABLE) / sizeof(TABLE[0]))

const struct bk_md_cfg_def *bk_md_topic_cfg_table(size_t *n)
{
    *n = TABLE_LEN;
    return TABLE;
}

static int cmp_def(const void *key, const void *elem)
{
    return strcmp(key, ((const struct bk_md_cfg_def *)elem)->name);
}

const struct bk_md_cfg_def *bk_md_topic_cfg_find(const char *name)
{
    return bsearch(name, TABLE, TABLE_LEN, sizeof(TABLE[0]), cmp_def);
}

const char *bk_md_cfg_type_name(enum bk_md_cfg_type t)
{
    switch (t) {
        case BK_MD_CFG_BOOLEAN:
            return "boolean";
        case BK_MD_CFG_STRING:
            return "string";
        case BK_MD_CFG_INT:
            return "int";
        case BK_MD_CFG_SHORT:
            return "short";
        case BK_MD_CFG_LONG:
            return "long";
        case BK_MD_CFG_DOUBLE:
            return "double";
        case BK_MD_CFG_LIST:
            return "list";
        case BK_MD_CFG_CLASS:
            return "class";
        case BK_MD_CFG_PASSWORD:
            return "password";
    }
    return "unknown";
}

/* Kafka's error text names the type in capitals ("Not a number of type
 * LONG"). */
static const char *type_upper(enum bk_md_cfg_type t)
{
    switch (t) {
        case BK_MD_CFG_SHORT:
            return "SHORT";
        case BK_MD_CFG_INT:
            return "INT";
        case BK_MD_CFG_LONG:
            return "LONG";
        case BK_MD_CFG_DOUBLE:
            return "DOUBLE";
        default:
            return "LIST";
    }
}

/* Index of v[0..len) in valid, or -1. */
static int in_set(const char *const *valid, const char *v, size_t len)
{
    for (int i = 0; valid[i] != NULL; i++) {
        if (strlen(valid[i]) == len && strncmp(valid[i], v, len) == 0) {
            return i;
        }
    }
    return -1;
}

/* Kafka trims values before parsing numbers and booleans. */
static void trim(const char **p, size_t *len)
{
    while (*len > 0 && (**p == ' ' || **p == '\t')) {
        (*p)++;
        (*len)--;
    }
    while (*len > 0 && ((*p)[*len - 1] == ' ' || (*p)[*len - 1] == '\t')) {
        (*len)--;
    }
}

static void set_list(char *msg, size_t cap, const struct bk_md_cfg_def *d)
{
    size_t k = 0;
    msg[0] = '\0';
    for (const char *const *v = d->valid; *v != NULL; v++) {
        int w =
            snprintf(msg + k, cap - k, "%s%s", v == d->valid ? "" : ", ", *v);
        if (w < 0 || (size_t)w >= cap - k) {
            return;
        }
        k += (size_t)w;
    }
}

/* A parsed value; which member holds it follows the row's type. */
union typed {
    bool b;
    int64_t i;     /* SHORT, INT, LONG */
    double d;      /* DOUBLE */
    int32_t index; /* STRING with a valid set */
    uint32_t bits; /* LIST with a valid set */
};

static int16_t bad(char *msg,
                   const char *value,
                   const char *name,
                   const char *why)
{
    snprintf(msg, BK_MD_MSG_SIZE, "Invalid value %s for configuration %s: %s",
             value, name, why);
    return BK_MD_KERR_INVALID_CONFIG;
}

static int16_t parse_bool(const struct bk_md_cfg_def *d,
                          const char *value,
                          union typed *out,
                          char *msg)
{
    const char *v = value;
    size_t len = strlen(v);
    trim(&v, &len);
    if (len == 4 && strncasecmp(v, "true", 4) == 0) {
        out->b = true;
    } else if (len == 5 && strncasecmp(v, "false", 5) == 0) {
        out->b = false;
    } else {
        return bad(msg, value, d->name,
                   "Expected value to be either true or false");
    }
    if (out->b && strcmp(d->name, "remote.storage.enable") == 0) {
        return bad(msg, value, d->name, "tiered storage is not supported");
    }
    return BK_MD_KERR_NONE;
}

/* Copies the trimmed value into buf; false when empty or too long. */
static bool trimmed(const char *value, char *buf, size_t cap)
{
    const char *v = value;
    size_t len = strlen(v);
    trim(&v, &len);
    if (len == 0 || len >= cap) {
        return false;
    }
    memcpy(buf, v, len);
    buf[len] = '\0';
    return true;
}

static int16_t parse_number(const struct bk_md_cfg_def *d,
                            const char *value,
                            union typed *out,
                            char *msg)
{
    char buf[64];
    char *end;
    double num;
    bool ok = trimmed(value, buf, sizeof(buf));
    errno = 0;
    if (d->type == BK_MD_CFG_DOUBLE) {
        num = ok ? strtod(buf, &end) : 0;
        ok = ok && errno == 0 && *end == '\0' && !isnan(num);
        out->d = num;
    } else {
        long long x = ok ? strtoll(buf, &end, 10) : 0;
        double lim = d->type == BK_MD_CFG_LONG  ? LMAX
                     : d->type == BK_MD_CFG_INT ? IMAX
                                                : 32767.0;
        ok = ok && errno == 0 && *end == '\0' && (double)x <= lim &&
             (double)x >= -lim - 1;
        out->i = (int64_t)x;
        num = (double)x;
    }
    if (!ok) {
        snprintf(msg, BK_MD_MSG_SIZE,
                 "Invalid value %s for configuration %s: Not a number of "
                 "type %s",
                 value, d->name, type_upper(d->type));
        return BK_MD_KERR_INVALID_CONFIG;
    }
    if (d->has_min && num < d->min) {
        snprintf(msg, BK_MD_MSG_SIZE,
                 "Invalid value %s for configuration %s: Value must be at "
                 "least %.17g",
                 value, d->name, d->min);
        return BK_MD_KERR_INVALID_CONFIG;
    }
    if (d->has_max && num > d->max) {
        snprintf(msg, BK_MD_MSG_SIZE,
                 "Invalid value %s for configuration %s: Value must be no "
                 "more than %.17g",
                 value, d->name, d->max);
        return BK_MD_KERR_INVALID_CONFIG;
    }
    return BK_MD_KERR_NONE;
}

static int16_t not_in_set(const struct bk_md_cfg_def *d,
                          const char *v,
                          int len,
                          char *msg)
{
    char vals[96];
    set_list(vals, sizeof(vals), d);
    snprintf(msg, BK_MD_MSG_SIZE,
             "Invalid value %.*s for configuration %s: String must be one "
             "of: %s",
             len, v, d->name, vals);
    return BK_MD_KERR_INVALID_CONFIG;
}

/* LIST: comma-separated, each element trimmed and in the set. */
static int16_t parse_list(const struct bk_md_cfg_def *d,
                          const char *value,
                          union typed *out,
                          char *msg)
{
    out->bits = 0;
    if (d->valid == NULL) {
        return BK_MD_KERR_NONE;
    }
    for (const char *p = value;;) {
        const char *comma = strchr(p, ',');
        size_t el = comma != NULL ? (size_t)(comma - p) : strlen(p);
        const char *e = p;
        trim(&e, &el);
        if (el > 0) {
            int i = in_set(d->valid, e, el);
            if (i < 0) {
                return not_in_set(d, e, (int)el, msg);
            }
            out->bits |= 1u << i;
        }
        if (comma == NULL) {
            return BK_MD_KERR_NONE;
        }
        p = comma + 1;
    }
}

/* The one parser: validation and the typed settings both go through it. */
static int16_t parse(const struct bk_md_cfg_def *d,
                     const char *value,
                     union typed *out,
                     char *msg)
{
    out->i = 0;
    switch (d->type) {
        case BK_MD_CFG_BOOLEAN:
            return parse_bool(d, value, out, msg);
        case BK_MD_CFG_SHORT:
        case BK_MD_CFG_INT:
        case BK_MD_CFG_LONG:
        case BK_MD_CFG_DOUBLE:
            return parse_number(d, value, out, msg);
        case BK_MD_CFG_LIST:
            return parse_list(d, value, out, msg);
        case BK_MD_CFG_STRING:
        case BK_MD_CFG_CLASS:
        case BK_MD_CFG_PASSWORD:
            break;
    }
    out->index = -1;
    if (d->valid != NULL) {
        out->index = in_set(d->valid, value, strlen(value));
        if (out->index < 0) {
            return not_in_set(d, value, (int)strlen(value), msg);
        }
    }
    return BK_MD_KERR_NONE;
}

static int16_t check_def(const struct bk_md_cfg_def *d,
                         const char *name,
                         const char *value,
                         union typed *out,
                         char *msg)
{
    if (d == NULL) {
        snprintf(msg, BK_MD_MSG_SIZE, "Unknown topic config name: %s", name);
        return BK_MD_KERR_INVALID_CONFIG;
    }
    if (value == NULL) {
        snprintf(msg, BK_MD_MSG_SIZE,
                 "Null value not supported for topic configs: %s", name);
        return BK_MD_KERR_INVALID_CONFIG;
    }
    return parse(d, value, out, msg);
}

int16_t bk_md_topic_cfg_check(const char *name, const char *value, char *msg)
{
    union typed t;
    return check_def(bk_md_topic_cfg_find(name), name, value, &t, msg);
}

static void store(struct bk_topic_settings *s,
                  const struct bk_md_cfg_def *d,
                  const union typed *t)
{
    if (d->field == NOF) {
        return;
    }
    char *slot = (char *)s + d->field;
    switch (d->type) {
        case BK_MD_CFG_BOOLEAN:
            memcpy(slot, &t->b, sizeof(t->b));
            break;
        case BK_MD_CFG_SHORT:
        case BK_MD_CFG_INT:
        case BK_MD_CFG_LONG:
            memcpy(slot, &t->i, sizeof(t->i));
            break;
        case BK_MD_CFG_DOUBLE:
            memcpy(slot, &t->d, sizeof(t->d));
            break;
        case BK_MD_CFG_LIST:
            memcpy(slot, &t->bits, sizeof(t->bits));
            break;
        default:
            memcpy(slot, &t->index, sizeof(t->index));
            break;
    }
}

int16_t bk_topic_settings_set(struct bk_topic_settings *s,
                              const char *name,
                              const char *value,
                              char *msg)
{
    const struct bk_md_cfg_def *d = bk_md_topic_cfg_find(name);
    union typed t;
    int16_t code = check_def(d, name, value, &t, msg);
    if (code == BK_MD_KERR_NONE) {
        store(s, d, &t);
    }
    return code;
}

void bk_topic_settings_default(struct bk_topic_settings *s)
{
    char msg[BK_MD_MSG_SIZE];
    memset(s, 0, sizeof(*s));
    for (size_t i = 0; i < TABLE_LEN; i++) {
        union typed t;
        /* Every default passes its own row's check (a unit test). */
        if (parse(&TABLE[i], TABLE[i].dflt, &t, msg) == BK_MD_KERR_NONE) {
            store(s, &TABLE[i], &t);
        }
    }
}

const char *bk_topic_cfg_from_broker(const struct bk_md_cfg_def *d,
                                     const char *bvalue,
                                     char *out,
                                     size_t outlen)
{
    if (d->broker_scale == 1) {
        return bvalue;
    }
    char buf[32];
    char *end;
    if (!trimmed(bvalue, buf, sizeof(buf))) {
        return NULL;
    }
    errno = 0;
    long long x = strtoll(buf, &end, 10);
    if (errno != 0 || *end != '\0' || x > INT64_MAX / d->broker_scale) {
        return NULL;
    }
    /* Kafka: a negative retention in any unit means no limit. */
    long long v = x < 0 ? -1 : x * d->broker_scale;
    snprintf(out, outlen, "%lld", v);
    return out;
}

const char *bk_topic_dyn_lookup(const char *name,
                                void *data,
                                char *buf,
                                size_t buflen)
{
    const struct bk_topic_dyn_lookup *dl = data;
    const char *v = dl->static_lookup(name, dl->static_data, buf, buflen);
    if (v == NULL) {
        return NULL;
    }
    const char *dyn =
        dl->per_broker != NULL ? bk_md_configs_get(dl->per_broker, name) : NULL;
    if (dyn == NULL && dl->cluster != NULL) {
        dyn = bk_md_configs_get(dl->cluster, name);
    }
    return dyn != NULL ? dyn : v;
}

int16_t bk_topic_settings_broker_defaults(struct bk_topic_settings *s,
                                          bk_topic_broker_lookup_cb lookup,
                                          void *data,
                                          char *msg)
{
    bk_topic_settings_default(s);
    for (size_t i = 0; i < TABLE_LEN; i++) {
        const struct bk_md_cfg_def *d = &TABLE[i];
        char text[32], num[32], why[BK_MD_MSG_SIZE];
        const char *bv = d->broker != NULL
                             ? lookup(d->broker, data, text, sizeof(text))
                             : NULL;
        if (bv == NULL) {
            continue;
        }
        const char *v = bk_topic_cfg_from_broker(d, bv, num, sizeof(num));
        union typed t;
        if (v == NULL) {
            snprintf(msg, BK_MD_MSG_SIZE, "%s: '%.64s' is not an integer",
                     d->broker, bv);
            return BK_MD_KERR_INVALID_CONFIG;
        }
        if (parse(d, v, &t, why) != BK_MD_KERR_NONE) {
            /* Name the broker setting the operator wrote, then the rule of
             * the topic config it is the default of. */
            snprintf(msg, BK_MD_MSG_SIZE, "%s: %.200s", d->broker, why);
            return BK_MD_KERR_INVALID_CONFIG;
        }
        store(s, d, &t);
    }
    return BK_MD_KERR_NONE;
}

void bk_topic_settings_resolve(struct bk_topic_settings *out,
                               const struct bk_topic_settings *defaults,
                               const struct bk_md_configs *explicit)
{
    if (defaults != NULL) {
        *out = *defaults;
    } else {
        bk_topic_settings_default(out);
    }
    for (size_t i = 0; explicit != NULL && i < explicit->n; i++) {
        char msg[BK_MD_MSG_SIZE];
        const struct bk_md_kv *kv = &explicit->kv[i];
        /* A refused value leaves the default in place. */
        (void)bk_topic_settings_set(out, kv->name, kv->value, msg);
    }
}

int16_t bk_md_topic_name_check(const char *name, size_t len, char *msg)
{
    if (len == 0) {
        snprintf(msg, BK_MD_MSG_SIZE,
                 "Topic name is illegal, it can't be "
                 "empty");
        return BK_MD_KERR_INVALID_TOPIC_EXCEPTION;
    }
    if ((len == 1 && name[0] == '.') ||
        (len == 2 && name[0] == '.' && name[1] == '.')) {
        snprintf(msg, BK_MD_MSG_SIZE, "Topic name cannot be \".\" or \"..\"");
        return BK_MD_KERR_INVALID_TOPIC_EXCEPTION;
    }
    if (len > 249) {
        snprintf(msg, BK_MD_MSG_SIZE,
                 "Topic name is illegal, it can't be longer than 249 "
                 "characters, topic name: %.*s...",
                 64, name);
        return BK_MD_KERR_INVALID_TOPIC_EXCEPTION;
    }
    for (size_t i = 0; i < len; i++) {
        char c = name[i];
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                  (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-';
        if (!ok) {
            /* Do not echo control bytes back; show printable ASCII only. */
            char shown[250];
            for (size_t j = 0; j < len; j++) {
                unsigned char u = (unsigned char)name[j];
                shown[j] = (u >= 0x20 && u < 0x7f) ? (char)u : '?';
            }
            snprintf(msg, BK_MD_MSG_SIZE,
                     "Topic name \"%.*s\" is illegal, it contains a "
                     "character other than ASCII alphanumerics, '.', '_' "
                     "and '-'",
                     (int)len, shown); /* cppcheck-suppress uninitvar */
            return BK_MD_KERR_INVALID_TOPIC_EXCEPTION;
        }
    }
    return BK_MD_KERR_NONE;
}

bool bk_md_topic_names_collide(const char *a,
                               size_t alen,
                               const char *b,
                               size_t blen)
{
    if (alen != blen || memcmp(a, b, alen) == 0) {
        return false;
    }
    for (size_t i = 0; i < alen; i++) {
        char x = a[i] == '.' ? '_' : a[i];
        char y = b[i] == '.' ? '_' : b[i];
        if (x != y) {
            return false;
        }
    }
    return true;
}
