/* brokerctl produce TOPIC: records from standard input, one per line.
 *
 * Options: -p PARTITION (else Kafka's default partitioner: murmur2 of the
 * key, or round-robin batches for records without a key), -K SEP (split
 * each line at the first SEP into key and value), -H KEY=VALUE (a header on
 * every record, repeatable), --acks all|1|0 (default all), -z CODEC (none,
 * gzip, snappy, lz4, zstd), --batch-bytes N. Batches are built with the
 * record batch builder and sent with Produce; a refused batch prints
 * Kafka's error name and message on one line and exits 1. On a terminal a
 * progress line shows the count. */
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "admin/cli.h"
#include "admin/cli_json.h"
#include "admin/route.h"
#include "admin/topic_meta.h"
#include "common/err.h"
#include "common/heap.h"
#include "protocol/gen/produce.h"
#include "protocol/kerr.h"
#include "protocol/record_batch.h"

#define MAX_HEADERS 32

struct produce_opts {
    const char *topic;
    int32_t partition; /* -1: partitioner */
    const char *key_sep;
    struct bk_record_header_kv headers[MAX_HEADERS];
    size_t nheaders;
    int16_t acks;
    enum bk_codec codec;
    size_t batch_bytes;
};

struct producer {
    const struct produce_opts *o;
    struct bk_client *c;
    struct bk_route route; /* the partitions' leaders */
    int retries;           /* leader refreshes for this batch */
    int32_t partitions;
    struct bk_batch_builder *b; /* one per partition */
    int64_t sent;
    int32_t rr; /* round-robin partition for records without a key */
    bool tty;
    time_t last_progress;
};

static int parse_opts(int argc, char **argv, struct produce_opts *o)
{
    memset(o, 0, sizeof(*o));
    o->partition = -1;
    o->acks = -1;
    o->codec = BK_CODEC_NONE;
    o->batch_bytes = 256 * 1024;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (a[0] != '-') {
            if (o->topic != NULL) {
                return bk_cli_fail("produce: unexpected argument '%s'", a);
            }
            o->topic = a;
        } else if (v == NULL) {
            return bk_cli_fail("produce: %s needs a value", a);
        } else if (strcmp(a, "-p") == 0 || strcmp(a, "--partition") == 0) {
            char *end;
            long p = strtol(v, &end, 10);
            if (*end != '\0' || p < 0 || p > INT32_MAX) {
                return bk_cli_fail("produce: -p: '%s' is not a partition", v);
            }
            o->partition = (int32_t)p;
            i++;
        } else if (strcmp(a, "-K") == 0 || strcmp(a, "--key-separator") == 0) {
            if (v[0] == '\0') {
                return bk_cli_fail("produce: -K: empty separator");
            }
            o->key_sep = v;
            i++;
        } else if (strcmp(a, "-H") == 0 || strcmp(a, "--header") == 0) {
            const char *eq = strchr(v, '=');
            if (eq == NULL || o->nheaders == MAX_HEADERS) {
                return bk_cli_fail(
                    "produce: -H: expected KEY=VALUE (at most "
                    "%d), got '%s'",
                    MAX_HEADERS, v);
            }
            struct bk_record_header_kv *h = &o->headers[o->nheaders++];
            h->key = (struct bk_str){ v, (int32_t)(eq - v) };
            h->value = (struct bk_bytes){ (const uint8_t *)eq + 1,
                                          (int32_t)strlen(eq + 1) };
            i++;
        } else if (strcmp(a, "--acks") == 0) {
            if (strcmp(v, "all") == 0 || strcmp(v, "-1") == 0) {
                o->acks = -1;
            } else if (strcmp(v, "1") == 0) {
                o->acks = 1;
            } else if (strcmp(v, "0") == 0) {
                o->acks = 0;
            } else {
                return bk_cli_fail("produce: --acks: '%s' is not all, 1 or 0",
                                   v);
            }
            i++;
        } else if (strcmp(a, "-z") == 0 || strcmp(a, "--compression") == 0) {
            if (bk_codec_from_name(v, &o->codec) != 0) {
                return bk_cli_fail(
                    "produce: -z: '%s' is not none, gzip, "
                    "snappy, lz4 or zstd",
                    v);
            }
            i++;
        } else if (strcmp(a, "--batch-bytes") == 0) {
            char *end;
            long n = strtol(v, &end, 10);
            if (*end != '\0' || n < 1024 || n > 64 * 1024 * 1024) {
                return bk_cli_fail(
                    "produce: --batch-bytes: '%s' is not in "
                    "1024..67108864",
                    v);
            }
            o->batch_bytes = (size_t)n;
            i++;
        } else {
            return bk_cli_fail("produce: unknown option '%s'", a);
        }
    }
    if (o->topic == NULL) {
        return bk_cli_fail(
            "usage: brokerctl produce TOPIC [-p PARTITION] "
            "[-K SEP] [-H K=V] [--acks all|1|0] [-z CODEC]");
    }
    return 0;
}

static void progress(struct producer *pr, bool final)
{
    if (!pr->tty) {
        return;
    }
    time_t now = time(NULL);
    if (final || now != pr->last_progress) {
        fprintf(stderr, "\rproduced %lld records to %s%s", (long long)pr->sent,
                pr->o->topic, final ? "\n" : "");
        pr->last_progress = now;
    }
}

/* Sends one batch to the partition's leader. Returns 0, 1 after printing
 * why, or -code for a partition error that asks for the leader again. */
static int send_batch(struct producer *pr,
                      int32_t p,
                      uint8_t *batch,
                      size_t len,
                      struct bk_arena *arena)
{
    struct bk_client *c =
        bk_route_client(&pr->route, bk_route_leader(&pr->route, p));
    if (c == NULL) {
        return 1;
    }
    int16_t version = bk_client_version(c, BK_API_PRODUCE);
    if (version < 3) {
        return bk_cli_fail("%s does not support Produce v3+", c->addr);
    }
    struct bk_msg_produce_request req;
    bk_msg_produce_request_init(&req);
    struct bk_msg_produce_request_topic_produce_data td;
    struct bk_msg_produce_request_partition_produce_data pd;
    memset(&td, 0, sizeof(td));
    pd.index = p;
    pd.records = (struct bk_bytes){ batch, (int32_t)len };
    td.name = bk_str_c(pr->o->topic);
    td.partition_data = &pd;
    td.partition_data_count = 1;
    req.transactional_id = BK_STR_NULL;
    req.acks = pr->o->acks;
    req.timeout_ms = 30000;
    req.topic_data = &td;
    req.topic_data_count = 1;
    if (pr->o->acks == 0) {
        /* No answer comes back for acks=0: send and move on. */
        if (bk_client_send_only(c, BK_API_PRODUCE, version, &req) != 0) {
            return bk_cli_fail("%s", c->errmsg);
        }
        return 0;
    }
    struct bk_msg_produce_response resp;
    if (bk_client_call(c, BK_API_PRODUCE, version, &req, &resp, arena) != 0) {
        return bk_cli_fail("%s", c->errmsg);
    }
    if (resp.responses_count != 1 ||
        resp.responses[0].partition_responses_count != 1) {
        return bk_cli_fail("produce: malformed answer from %s", c->addr);
    }
    const struct bk_msg_produce_response_partition_produce_response *r =
        &resp.responses[0].partition_responses[0];
    int16_t code = r->error_code;
    if (code == 0) {
        return 0;
    }
    if (bk_route_retriable(code) && pr->retries < BK_ROUTE_MAX_RETRIES) {
        return -code;
    }
    struct bk_str m = r->error_message;
    return bk_cli_fail("%s: %.*s", bk_kerr_name(code),
                       m.len > 0 ? m.len : (int)strlen(bk_kerr_message(code)),
                       m.len > 0 ? m.ptr : bk_kerr_message(code));
}

/* Sends the batch of one partition and checks the answer; a batch its
 * broker does not lead goes to the leader Metadata names next (Kafka's
 * producer does the same; nothing was appended). */
static int flush_partition(struct producer *pr, int32_t p)
{
    struct bk_batch_builder *b = &pr->b[p];
    int32_t n = bk_batch_builder_count(b);
    if (n == 0) {
        return 0;
    }
    struct bk_arena arena;
    bk_arena_init(&arena, 16384, 0);
    uint8_t *batch;
    size_t len;
    int rv = bk_batch_builder_finish(b, &arena, &batch, &len);
    if (rv != 0) {
        bk_arena_destroy(&arena);
        return bk_cli_fail("produce: cannot build a batch: %s",
                           bk_strerror(rv));
    }
    pr->retries = 0;
    while ((rv = send_batch(pr, p, batch, len, &arena)) < 0) {
        pr->retries++;
        if (bk_route_refresh(&pr->route) != 0) {
            rv = 1;
            break;
        }
    }
    bk_arena_destroy(&arena);
    if (rv != 0) {
        return 1;
    }
    pr->sent += n;
    bk_batch_builder_free(b);
    bk_batch_builder_init(b, pr->o->codec);
    progress(pr, false);
    return 0;
}

static int add_line(struct producer *pr, char *line, size_t len)
{
    const struct produce_opts *o = pr->o;
    struct bk_bytes key = BK_BYTES_NULL;
    struct bk_bytes value = { (const uint8_t *)line, (int32_t)len };
    if (o->key_sep != NULL) {
        char *sep = strstr(line, o->key_sep);
        if (sep != NULL) {
            key = (struct bk_bytes){ (const uint8_t *)line,
                                     (int32_t)(sep - line) };
            const char *v = sep + strlen(o->key_sep);
            value = (struct bk_bytes){ (const uint8_t *)v,
                                       (int32_t)(len - (size_t)(v - line)) };
        }
    }
    int32_t p = o->partition;
    if (p < 0) {
        p = key.len >= 0 ? bk_kafka_partition_for_key(key.ptr, (size_t)key.len,
                                                      pr->partitions)
                         : pr->rr;
    }
    if (p >= pr->partitions) {
        return bk_cli_fail(
            "UNKNOWN_TOPIC_OR_PARTITION: topic %s has %d "
            "partitions, no partition %d",
            o->topic, pr->partitions, p);
    }
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    int64_t now = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
    int rv = bk_batch_builder_add(&pr->b[p], now, key, value, o->headers,
                                  o->nheaders);
    if (rv != 0) {
        return bk_cli_fail("produce: %s", bk_strerror(rv));
    }
    if (bk_batch_builder_size(&pr->b[p]) >= o->batch_bytes) {
        if (key.len < 0 && o->partition < 0) {
            pr->rr = (pr->rr + 1) % pr->partitions; /* next sticky batch */
        }
        return flush_partition(pr, p);
    }
    return 0;
}

int bk_cmd_produce(const struct bk_cli *cli, int argc, char **argv)
{
    struct produce_opts o;
    if (parse_opts(argc, argv, &o) != 0) {
        return 2;
    }
    struct bk_client c;
    if (bk_cli_connect(cli, &c) != 0) {
        return 1;
    }
    struct producer pr = { .o = &o, .c = &c };
    pr.tty = isatty(2);
    struct bk_topic_meta tm;
    int rv = 1;
    if (bk_client_version(&c, BK_API_PRODUCE) < 3) {
        bk_cli_fail("%s does not support Produce v3+", c.addr);
        goto out;
    }
    if (bk_topic_meta_get(cli, &c, o.topic, true, &tm) != 0) {
        goto out;
    }
    if (tm.error != 0) {
        bk_cli_fail("%s: %s", bk_kerr_name(tm.error),
                    bk_kerr_message(tm.error));
        goto out;
    }
    if (bk_route_open(&pr.route, cli, &c, o.topic) != 0) {
        goto out;
    }
    pr.partitions = tm.partitions;
    pr.b = bk_calloc((size_t)tm.partitions, sizeof(*pr.b));
    if (pr.b == NULL) {
        bk_cli_fail("out of memory");
        goto out;
    }
    for (int32_t i = 0; i < tm.partitions; i++) {
        bk_batch_builder_init(&pr.b[i], o.codec);
    }
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    rv = 0;
    while (rv == 0 && (n = getline(&line, &cap, stdin)) >= 0) {
        if (n > 0 && line[n - 1] == '\n') {
            line[--n] = '\0';
        }
        rv = add_line(&pr, line, (size_t)n);
    }
    free(line);
    for (int32_t i = 0; rv == 0 && i < pr.partitions; i++) {
        rv = flush_partition(&pr, i);
    }
    if (rv == 0) {
        progress(&pr, true);
        if (cli->json) {
            rv = bk_cli_json_print(
                stdout,
                json_pack("{s:o, s:I}", "topic", bk_cli_json_cstr(o.topic),
                          "produced", (json_int_t)pr.sent));
        }
    }
    for (int32_t i = 0; i < pr.partitions; i++) {
        bk_batch_builder_free(&pr.b[i]);
    }
    bk_free(pr.b);
out:
    bk_route_close(&pr.route);
    bk_client_close(&c);
    return rv == 0 ? 0 : 1;
}
