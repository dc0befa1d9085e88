/* GET /v1/topics/{name}/partitions/{p}/records: the records of one
 * partition that this broker hosts, for the console's record browser.
 *
 *   ?offset=N      from offset N (default: the log start)
 *   ?timestamp=T   from the first record at or after T (ms), instead
 *   ?limit=L       at most L records (default 20, at most 500)
 *
 * The answer: {"partition", "log_start", "high_watermark", "records":
 * [{"offset", "timestamp", "key", "value", "headers": [{"key",
 * "value"}]}]} with keys and values base64 (null stays null), so that any
 * bytes survive JSON; the console shows them as text, JSON or hex.
 *
 * Only committed records (below the high watermark) are shown, as a
 * read_uncommitted consumer sees them. The partition is read on the shard
 * that owns it (one copy of at most READ_BYTES of whole batches) and
 * decoded here, on the HTTP thread. Failure modes: an unknown topic or
 * partition 404; a partition this broker does not host (or has not
 * opened) 404 naming its leader; a bad argument 400; a shard that does
 * not answer 503. */
#include <jansson.h>
#include <microhttpd.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "cluster/controller.h"
#include "cluster/image.h"
#include "common/arena.h"
#include "common/err.h"
#include "common/heap.h"
#include "http/http_int.h"
#include "net/net.h"
#include "partition/manager.h"
#include "partition/replica.h"
#include "protocol/record_batch.h"

#define READ_BYTES       (1 << 20)
#define LIMIT_DEFAULT    20
#define LIMIT_MAX        500
#define READ_TIMEOUT_MS  2000
#define MAX_UNCOMPRESSED (8 << 20)

struct rec_query {
    struct bk_uuid topic_id;
    int32_t partition;
    bool by_time;
    int64_t from; /* offset or timestamp */
};

struct rec_slot {
    bool found;
    int16_t error; /* Kafka error of the read, 0 */
    int64_t log_start, hw, first;
    uint8_t *buf; /* owned (bk_malloc): whole batches from first */
    size_t len;
};

static void rec_slot_free(void *slot)
{
    bk_free(((struct rec_slot *)slot)->buf);
}

/* On the owning shard's thread. */
static void read_fn(struct bk_shard *shard, void *slot, const void *arg)
{
    const struct rec_query *q = arg;
    struct rec_slot *rs = slot;
    struct bk_api_shard *sh = shard->app;
    struct bk_partition *p =
        sh != NULL ? bk_part_find(&sh->rmgr.parts, &q->topic_id, q->partition)
                   : NULL;
    if (p == NULL) {
        return;
    }
    rs->found = true;
    rs->log_start = bk_replica_log_start(p);
    rs->hw = bk_replica_high_watermark(p);
    int64_t from = q->from;
    if (q->by_time) {
        int64_t ts;
        int32_t epoch;
        rs->error = bk_replica_list_offset(
            p, q->from, BK_ISOLATION_READ_UNCOMMITTED, &from, &ts, &epoch);
        if (rs->error != 0 || from < 0) {
            from = rs->hw; /* nothing at or after that time */
        }
    }
    from = from < rs->log_start ? rs->log_start : from;
    rs->first = from;
    if (from >= rs->hw) {
        return;
    }
    rs->buf = bk_malloc(READ_BYTES);
    int64_t next;
    int rv = rs->buf != NULL ? bk_replica_read_copy(p, from, rs->buf,
                                                    READ_BYTES, &rs->len, &next)
                             : BK_ENOMEM;
    if (rv == BK_ETOOLARGE) {
        rs->len = 0; /* one batch over READ_BYTES: shown as none */
    } else if (rv != 0) {
        rs->error = 56; /* KAFKA_STORAGE_ERROR */
        rs->len = 0;
    }
}

static json_t *b64(const uint8_t *p, int32_t len)
{
    static const char tab[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    if (len < 0) {
        return json_null();
    }
    size_t n = (size_t)len, o = 0;
    char *out = bk_malloc(4 * ((n + 2) / 3) + 1);
    if (out == NULL) {
        return NULL;
    }
    for (size_t i = 0; i < n; i += 3) {
        uint32_t v = (uint32_t)p[i] << 16;
        v |= i + 1 < n ? (uint32_t)p[i + 1] << 8 : 0;
        v |= i + 2 < n ? p[i + 2] : 0;
        out[o++] = tab[(v >> 18) & 63];
        out[o++] = tab[(v >> 12) & 63];
        out[o++] = i + 1 < n ? tab[(v >> 6) & 63] : '=';
        out[o++] = i + 2 < n ? tab[v & 63] : '=';
    }
    json_t *s = json_stringn(out, o);
    bk_free(out);
    return s;
}

static json_t *headers_of(struct bk_record *rec)
{
    json_t *a = json_array();
    struct bk_str k;
    struct bk_bytes v;
    while (a != NULL && bk_record_header_next(rec, &k, &v) == 1) {
        json_array_append_new(
            a,
            json_pack("{s:o, s:o}", "key", b64((const uint8_t *)k.ptr, k.len),
                      "value", b64((const uint8_t *)v.ptr, v.len)));
    }
    return a;
}

/* Appends the records of the batches in rs (from rs->first, below the high
 * watermark, control batches skipped) to out, at most limit. */
static void decode(const struct rec_slot *rs, int32_t limit, json_t *out)
{
    struct bk_arena arena;
    bk_arena_init(&arena, 64 * 1024, 0);
    size_t pos = 0;
    while (pos + 12 <= rs->len && (int32_t)json_array_size(out) < limit) {
        const uint8_t *b = rs->buf + pos;
        uint32_t blen = ((uint32_t)b[8] << 24) | ((uint32_t)b[9] << 16) |
                        ((uint32_t)b[10] << 8) | b[11];
        size_t size = (size_t)blen + 12;
        if (size > rs->len - pos) {
            break;
        }
        struct bk_record_iter it;
        if (bk_record_iter_init(&it, b, size, &arena, MAX_UNCOMPRESSED) == 0 &&
            (it.attributes & 0x20) == 0) { /* not a control batch */
            struct bk_record rec;
            while ((int32_t)json_array_size(out) < limit &&
                   bk_record_iter_next(&it, &rec) == 1 && rec.offset < rs->hw) {
                if (rec.offset < rs->first) {
                    continue;
                }
                json_array_append_new(
                    out, json_pack("{s:I, s:I, s:o, s:o, s:o}", "offset",
                                   (json_int_t)rec.offset, "timestamp",
                                   (json_int_t)rec.timestamp, "key",
                                   b64(rec.key.ptr, rec.key.len), "value",
                                   b64(rec.value.ptr, rec.value.len), "headers",
                                   headers_of(&rec)));
            }
        }
        bk_arena_reset(&arena);
        pos += size;
    }
    bk_arena_destroy(&arena);
}

/* A non-negative integer argument: 0 and *out, or 1 when absent, or -1
 * when malformed. */
static int int_arg(const struct bk_http_args *args,
                   const char *key,
                   int64_t *out)
{
    const char *v = args->get(args->data, key);
    if (v == NULL) {
        return 1;
    }
    char *end;
    long long n = strtoll(v, &end, 10);
    if (*v == '\0' || *end != '\0' || n < 0) {
        return -1;
    }
    *out = (int64_t)n;
    return 0;
}

static bool parse_query(const struct bk_http_args *args,
                        struct rec_query *q,
                        int64_t *limit)
{
    int64_t off = 0, ts = 0;
    int ro = int_arg(args, "offset", &off);
    int rt = int_arg(args, "timestamp", &ts);
    int rl = int_arg(args, "limit", limit);
    if (ro < 0 || rt < 0 || rl < 0 || (ro == 0 && rt == 0) ||
        (rl == 0 && (*limit < 1 || *limit > LIMIT_MAX))) {
        return false;
    }
    q->by_time = rt == 0;
    q->from = rt == 0 ? ts : off;
    return true;
}

static void answer(struct bk_http *h,
                   const struct rec_query *q,
                   int64_t limit,
                   struct bk_http_page *page)
{
    struct bk_http_poll *poll;
    if (bk_http_poll_shards_arg(h->src.shards, read_fn, q, rec_slot_free,
                                sizeof(struct rec_slot), READ_TIMEOUT_MS,
                                &poll) != 0) {
        bk_http_text(page, MHD_HTTP_SERVICE_UNAVAILABLE,
                     "a shard did not answer in time\n");
        return;
    }
    const struct rec_slot *rs = NULL;
    for (unsigned i = 0; i < bk_http_poll_count(poll); i++) {
        const struct rec_slot *s = bk_http_poll_slot(poll, i);
        rs = s->found ? s : rs;
    }
    if (rs == NULL) {
        bk_http_poll_free(poll);
        bk_http_text(page, MHD_HTTP_NOT_FOUND,
                     "this broker does not host that partition\n");
        return;
    }
    json_t *recs = json_array();
    if (recs != NULL) {
        decode(rs, (int32_t)limit, recs);
    }
    json_t *doc =
        json_pack("{s:i, s:I, s:I, s:i, s:o*}", "partition", (int)q->partition,
                  "log_start", (json_int_t)rs->log_start, "high_watermark",
                  (json_int_t)rs->hw, "error", (int)rs->error, "records", recs);
    bk_http_poll_free(poll);
    bk_http_send_json(page, doc);
}

void bk_http_records(struct bk_http *h,
                     const char *topic,
                     size_t topic_len,
                     const char *rest,
                     const struct bk_http_args *args,
                     struct bk_http_page *page)
{
    struct rec_query q = { 0 };
    int64_t limit = LIMIT_DEFAULT;
    /* "/partitions/<p>/records", p a non-negative int32 in decimal. */
    const char *num = rest + strlen("/partitions/");
    char *end = NULL;
    long part =
        strncmp(rest, "/partitions/", 12) == 0 && *num >= '0' && *num <= '9'
            ? strtol(num, &end, 10)
            : -1;
    if (part < 0 || part > INT32_MAX || end == NULL ||
        strcmp(end, "/records") != 0) {
        bk_http_text(page, MHD_HTTP_NOT_FOUND, "not found\n");
        return;
    }
    q.partition = (int32_t)part;
    if (!parse_query(args, &q, &limit)) {
        bk_http_text(page, MHD_HTTP_BAD_REQUEST,
                     "offset, timestamp: integers >= 0, not both; limit: "
                     "1 to 500\n");
        return;
    }
    struct bk_md_image *img = bk_md_image_acquire(h->src.md);
    const struct bk_md_topic *t =
        img != NULL ? bk_md_image_topic(img, topic, topic_len) : NULL;
    bool known = t != NULL && q.partition < t->n_partitions;
    if (known) {
        q.topic_id = t->id;
    }
    if (img != NULL) {
        bk_md_image_release(img);
    }
    if (!known) {
        bk_http_text(page, MHD_HTTP_NOT_FOUND, "no such topic or partition\n");
        return;
    }
    answer(h, &q, limit, page);
}
