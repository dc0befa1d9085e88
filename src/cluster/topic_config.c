#include "cluster/topic_config.h"

#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static const char *const CLEANUP_POLICIES[] = { "compact", "delete", NULL };
static const char *const COMPRESSION_TYPES[] = {
    "uncompressed", "zstd", "lz4", "snappy", "gzip", "producer", NULL
};
static const char *const TIMESTAMP_TYPES[] = { "CreateTime", "LogAppendTime",
                                               NULL };

#define LMAX 9223372036854775807.0
#define IMAX 2147483647.0

/* Kafka 4.x topic configs (LogConfig / TopicConfig), sorted by name. The
 * defaults are Kafka's; a broker-level override (log.retention.ms, ...) is
 * applied by the broker when a topic config is not set explicitly. */
static const struct bk_md_cfg_def TABLE[] = {
    { "cleanup.policy", BK_MD_CFG_LIST, "delete", false, false, 0, 0,
      CLEANUP_POLICIES, true,
      "Retention policy for old segments: delete and/or compact." },
    { "compression.gzip.level", BK_MD_CFG_INT, "-1", true, true, -1, 9, NULL,
      true, "Compression level when compression.type is gzip." },
    { "compression.lz4.level", BK_MD_CFG_INT, "9", true, true, 1, 17, NULL,
      true, "Compression level when compression.type is lz4." },
    { "compression.type", BK_MD_CFG_STRING, "producer", false, false, 0, 0,
      COMPRESSION_TYPES, true,
      "Final compression of the topic's data; producer keeps the "
      "producer's codec." },
    { "compression.zstd.level", BK_MD_CFG_INT, "3", true, true, -131072, 22,
      NULL, true, "Compression level when compression.type is zstd." },
    { "delete.retention.ms", BK_MD_CFG_LONG, "86400000", true, false, 0, 0,
      NULL, true, "How long delete tombstones are kept on compacted topics." },
    { "file.delete.delay.ms", BK_MD_CFG_LONG, "60000", true, false, 0, 0, NULL,
      true, "Delay before a deleted segment file is removed." },
    { "flush.messages", BK_MD_CFG_LONG, "9223372036854775807", true, false, 1,
      0, NULL, true, "Force an fsync after this many messages." },
    { "flush.ms", BK_MD_CFG_LONG, "9223372036854775807", true, false, 0, 0,
      NULL, true, "Force an fsync after this many milliseconds." },
    { "follower.replication.throttled.replicas", BK_MD_CFG_LIST, "", false,
      false, 0, 0, NULL, true, "Replicas throttled on the follower side." },
    { "index.interval.bytes", BK_MD_CFG_INT, "4096", true, false, 0, 0, NULL,
      true, "Bytes between offset index entries." },
    { "leader.replication.throttled.replicas", BK_MD_CFG_LIST, "", false, false,
      0, 0, NULL, true, "Replicas throttled on the leader side." },
    { "local.retention.bytes", BK_MD_CFG_LONG, "-2", true, false, -2, 0, NULL,
      true, "Local retention with tiered storage (-2: retention.bytes)." },
    { "local.retention.ms", BK_MD_CFG_LONG, "-2", true, false, -2, 0, NULL,
      true, "Local retention with tiered storage (-2: retention.ms)." },
    { "max.compaction.lag.ms", BK_MD_CFG_LONG, "9223372036854775807", true,
      false, 1, 0, NULL, true,
      "Longest time a message stays ineligible for compaction." },
    { "max.message.bytes", BK_MD_CFG_INT, "1048588", true, false, 0, 0, NULL,
      true, "Largest record batch size allowed." },
    { "message.downconversion.enable", BK_MD_CFG_BOOLEAN, "true", false, false,
      0, 0, NULL, true,
      "Down-convert for old consumers (accepted; brokerd never "
      "down-converts)." },
    { "message.timestamp.after.max.ms", BK_MD_CFG_LONG, "3600000", true, false,
      0, 0, NULL, true,
      "How far a CreateTime timestamp may be ahead of the broker's clock." },
    { "message.timestamp.before.max.ms", BK_MD_CFG_LONG, "9223372036854775807",
      true, false, 0, 0, NULL, true,
      "How far a CreateTime timestamp may be behind the broker's clock." },
    { "message.timestamp.type", BK_MD_CFG_STRING, "CreateTime", false, false, 0,
      0, TIMESTAMP_TYPES, true,
      "CreateTime or LogAppendTime for the record timestamps." },
    { "min.cleanable.dirty.ratio", BK_MD_CFG_DOUBLE, "0.5", true, true, 0, 1,
      NULL, true, "Dirty ratio of the log that triggers compaction." },
    { "min.compaction.lag.ms", BK_MD_CFG_LONG, "0", true, false, 0, 0, NULL,
      true, "Shortest time a message stays uncompacted." },
    { "min.insync.replicas", BK_MD_CFG_INT, "1", true, false, 1, 0, NULL, true,
      "Replicas that must acknowledge an acks=all write." },
    { "preallocate", BK_MD_CFG_BOOLEAN, "false", false, false, 0, 0, NULL, true,
      "Preallocate segment files (takes effect at the next roll)." },
    { "remote.storage.enable", BK_MD_CFG_BOOLEAN, "false", false, false, 0, 0,
      NULL, false,
      "Tiered storage (not supported by brokerd; must stay "
      "false)." },
    { "retention.bytes", BK_MD_CFG_LONG, "-1", false, false, 0, 0, NULL, true,
      "Size at which old segments are deleted (-1: no limit)." },
    { "retention.ms", BK_MD_CFG_LONG, "604800000", true, false, -1, 0, NULL,
      true, "Age at which old segments are deleted (-1: no limit)." },
    { "segment.bytes", BK_MD_CFG_INT, "1073741824", true, false, 1048576, 0,
      NULL, true, "Segment size (takes effect at the next roll)." },
    { "segment.index.bytes", BK_MD_CFG_INT, "10485760", true, false, 4, 0, NULL,
      true, "Offset index size (takes effect at the next roll)." },
    { "segment.jitter.ms", BK_MD_CFG_LONG, "0", true, false, 0, 0, NULL, true,
      "Random jitter subtracted from segment.ms." },
    { "segment.ms", BK_MD_CFG_LONG, "604800000", true, false, 1, 0, NULL, true,
      "Age at which a segment is rolled." },
    { "unclean.leader.election.enable", BK_MD_CFG_BOOLEAN, "false", false,
      false, 0, 0, NULL, true,
      "Allow an out-of-sync replica to become leader (data loss)." },
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

static const char *type_name(enum bk_md_cfg_type t)
{
    switch (t) {
        case BK_MD_CFG_BOOLEAN:
            return "BOOLEAN";
        case BK_MD_CFG_STRING:
            return "STRING";
        case BK_MD_CFG_INT:
            return "INT";
        case BK_MD_CFG_SHORT:
            return "SHORT";
        case BK_MD_CFG_LONG:
            return "LONG";
        case BK_MD_CFG_DOUBLE:
            return "DOUBLE";
        default:
            return "LIST";
    }
}

static bool in_set(const char *const *valid, const char *v, size_t len)
{
    for (; *valid != NULL; valid++) {
        if (strlen(*valid) == len && strncmp(*valid, v, len) == 0) {
            return true;
        }
    }
    return false;
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

int16_t bk_md_topic_cfg_check(const char *name, const char *value, char *msg)
{
    const struct bk_md_cfg_def *d = bk_md_topic_cfg_find(name);
    if (d == NULL) {
        snprintf(msg, BK_MD_MSG_SIZE, "Unknown topic config name: %s", name);
        return BK_MD_KERR_INVALID_CONFIG;
    }
    if (value == NULL) {
        snprintf(msg, BK_MD_MSG_SIZE,
                 "Null value not supported for topic configs: %s", name);
        return BK_MD_KERR_INVALID_CONFIG;
    }
    const char *v = value;
    size_t len = strlen(v);
    double num = 0;
    switch (d->type) {
        case BK_MD_CFG_BOOLEAN:
            trim(&v, &len);
            if ((len == 4 && strncasecmp(v, "true", 4) == 0) ||
                (len == 5 && strncasecmp(v, "false", 5) == 0)) {
                if (strcmp(d->name, "remote.storage.enable") == 0 &&
                    strncasecmp(v, "true", 4) == 0) {
                    snprintf(msg, BK_MD_MSG_SIZE,
                             "Invalid value %s for configuration %s: tiered "
                             "storage is not supported",
                             value, name);
                    return BK_MD_KERR_INVALID_CONFIG;
                }
                return BK_MD_KERR_NONE;
            }
            snprintf(msg, BK_MD_MSG_SIZE,
                     "Invalid value %s for configuration %s: Expected value to "
                     "be either true or false",
                     value, name);
            return BK_MD_KERR_INVALID_CONFIG;
        case BK_MD_CFG_SHORT:
        case BK_MD_CFG_INT:
        case BK_MD_CFG_LONG: {
            trim(&v, &len);
            char buf[32];
            if (len == 0 || len >= sizeof(buf)) {
                goto not_number;
            }
            memcpy(buf, v, len);
            buf[len] = '\0';
            char *end;
            errno = 0;
            long long x = strtoll(buf, &end, 10);
            double lim = d->type == BK_MD_CFG_LONG  ? LMAX
                         : d->type == BK_MD_CFG_INT ? IMAX
                                                    : 32767.0;
            if (errno != 0 || *end != '\0' || (double)x > lim ||
                (double)x < -lim - 1) {
                goto not_number;
            }
            num = (double)x;
            break;
        }
        case BK_MD_CFG_DOUBLE: {
            trim(&v, &len);
            char buf[64];
            if (len == 0 || len >= sizeof(buf)) {
                goto not_number;
            }
            memcpy(buf, v, len);
            buf[len] = '\0';
            char *end;
            errno = 0;
            num = strtod(buf, &end);
            if (errno != 0 || *end != '\0' || isnan(num)) {
                goto not_number;
            }
            break;
        }
        case BK_MD_CFG_STRING:
            if (d->valid != NULL && !in_set(d->valid, v, len)) {
                char vals[96];
                set_list(vals, sizeof(vals), d);
                snprintf(
                    msg, BK_MD_MSG_SIZE,
                    "Invalid value %s for configuration %s: String must be "
                    "one of: %s",
                    value, name, vals);
                return BK_MD_KERR_INVALID_CONFIG;
            }
            return BK_MD_KERR_NONE;
        case BK_MD_CFG_LIST: {
            if (d->valid == NULL) {
                return BK_MD_KERR_NONE;
            }
            /* Comma-separated, each element trimmed and in the set. */
            const char *p = v;
            for (;;) {
                const char *comma = strchr(p, ',');
                size_t el = comma != NULL ? (size_t)(comma - p) : strlen(p);
                const char *e = p;
                trim(&e, &el);
                if (el > 0 && !in_set(d->valid, e, el)) {
                    char vals[96];
                    set_list(vals, sizeof(vals), d);
                    snprintf(msg, BK_MD_MSG_SIZE,
                             "Invalid value %.*s for configuration %s: String "
                             "must be one of: %s",
                             (int)el, e, name, vals);
                    return BK_MD_KERR_INVALID_CONFIG;
                }
                if (comma == NULL) {
                    break;
                }
                p = comma + 1;
            }
            return BK_MD_KERR_NONE;
        }
    }
    if (d->has_min && num < d->min) {
        snprintf(msg, BK_MD_MSG_SIZE,
                 "Invalid value %s for configuration %s: Value must be at "
                 "least %.17g",
                 value, name, d->min);
        return BK_MD_KERR_INVALID_CONFIG;
    }
    if (d->has_max && num > d->max) {
        snprintf(msg, BK_MD_MSG_SIZE,
                 "Invalid value %s for configuration %s: Value must be no "
                 "more than %.17g",
                 value, name, d->max);
        return BK_MD_KERR_INVALID_CONFIG;
    }
    return BK_MD_KERR_NONE;
not_number:
    snprintf(msg, BK_MD_MSG_SIZE,
             "Invalid value %s for configuration %s: Not a number of type %s",
             value, name, type_name(d->type));
    return BK_MD_KERR_INVALID_CONFIG;
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
