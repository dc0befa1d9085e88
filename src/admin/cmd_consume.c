/* brokerctl consume TOPIC: prints records.
 *
 * Options: -p PARTITION (default: every partition), -o beginning|end|N
 * (start offset; default beginning), --from-time T (the first record at or
 * after T: milliseconds since the epoch or an ISO-8601 UTC time such as
 * 2026-11-26T08:00:00Z), -c COUNT (stop after COUNT records), --follow
 * (keep waiting for new records instead of stopping at the end), -f FORMAT
 * with %t topic, %p partition, %o offset, %T timestamp (ms), %k key, %v
 * value, %h headers (k=v,k=v), %S value size, \n \t \\ (default "%v\n").
 * Records come from Fetch with the standard consumer semantics (whole
 * batches, KIP-74), read with the record iterator so every codec works.
 * When standard output is not a terminal but standard error is, a progress
 * line counts the records. */
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "admin/cli.h"
#include "admin/route.h"
#include "admin/topic_meta.h"
#include "common/err.h"
#include "common/heap.h"
#include "protocol/gen/fetch.h"
#include "protocol/gen/list_offsets.h"
#include "protocol/kerr.h"
#include "protocol/record_batch.h"

#define MAX_UNCOMPRESSED (256 * 1024 * 1024)

struct consume_opts {
    const char *topic;
    int32_t partition; /* -1: all */
    int64_t start;     /* -2 beginning, -1 end, >= 0 an offset */
    int64_t from_time; /* -1: none */
    int64_t count;     /* -1: no limit */
    bool follow;
    const char *format;
};

struct part_state {
    int32_t id;
    int64_t offset;
    int64_t hw;
    bool at_end;
};

static int parse_time(const char *v, int64_t *out)
{
    char *end;
    long long ms = strtoll(v, &end, 10);
    if (*end == '\0' && ms >= 0) {
        *out = ms;
        return 0;
    }
    struct tm tm;
    memset(&tm, 0, sizeof(tm));
    const char *rest = strptime(v, "%Y-%m-%dT%H:%M:%S", &tm);
    if (rest == NULL || (*rest != '\0' && strcmp(rest, "Z") != 0)) {
        return -1;
    }
    *out = (int64_t)timegm(&tm) * 1000;
    return 0;
}

static int parse_opts(int argc, char **argv, struct consume_opts *o)
{
    memset(o, 0, sizeof(*o));
    o->partition = -1;
    o->start = -2;
    o->from_time = -1;
    o->count = -1;
    o->format = "%v\\n";
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        char *end;
        if (a[0] != '-') {
            if (o->topic != NULL) {
                return bk_cli_fail("consume: unexpected argument '%s'", a);
            }
            o->topic = a;
        } else if (strcmp(a, "--follow") == 0) {
            o->follow = true;
        } else if (v == NULL) {
            return bk_cli_fail("consume: %s needs a value", a);
        } else if (strcmp(a, "-p") == 0 || strcmp(a, "--partition") == 0) {
            long p = strtol(v, &end, 10);
            if (*end != '\0' || p < 0 || p > INT32_MAX) {
                return bk_cli_fail("consume: -p: '%s' is not a partition", v);
            }
            o->partition = (int32_t)p;
            i++;
        } else if (strcmp(a, "-o") == 0 || strcmp(a, "--offset") == 0) {
            if (strcmp(v, "beginning") == 0) {
                o->start = -2;
            } else if (strcmp(v, "end") == 0) {
                o->start = -1;
            } else {
                long long x = strtoll(v, &end, 10);
                if (*end != '\0' || x < 0) {
                    return bk_cli_fail(
                        "consume: -o: '%s' is not beginning, "
                        "end or an offset",
                        v);
                }
                o->start = x;
            }
            i++;
        } else if (strcmp(a, "--from-time") == 0) {
            if (parse_time(v, &o->from_time) != 0) {
                return bk_cli_fail(
                    "consume: --from-time: '%s' is not "
                    "milliseconds or YYYY-MM-DDTHH:MM:SSZ",
                    v);
            }
            i++;
        } else if (strcmp(a, "-c") == 0 || strcmp(a, "--count") == 0) {
            long long x = strtoll(v, &end, 10);
            if (*end != '\0' || x <= 0) {
                return bk_cli_fail(
                    "consume: -c: '%s' is not a positive "
                    "count",
                    v);
            }
            o->count = x;
            i++;
        } else if (strcmp(a, "-f") == 0 || strcmp(a, "--format") == 0) {
            o->format = v;
            i++;
        } else {
            return bk_cli_fail("consume: unknown option '%s'", a);
        }
    }
    if (o->topic == NULL) {
        return bk_cli_fail(
            "usage: brokerctl consume TOPIC [-p PARTITION] "
            "[-o beginning|end|OFFSET] [--from-time T] "
            "[-c COUNT] [-f FORMAT] [--follow]");
    }
    return 0;
}

static void put_bytes(struct bk_bytes b)
{
    if (b.len > 0) {
        /* An error sticks to stdout; bk_cmd_consume checks it at the end. */
        (void)fwrite(b.ptr, 1, (size_t)b.len, stdout);
    }
}

static void print_record(const struct consume_opts *o,
                         int32_t partition,
                         struct bk_record *r)
{
    for (const char *f = o->format; *f != '\0'; f++) {
        if (*f == '\\' && f[1] != '\0') {
            f++;
            putchar(*f == 'n' ? '\n' : *f == 't' ? '\t' : *f);
            continue;
        }
        if (*f != '%' || f[1] == '\0') {
            putchar(*f);
            continue;
        }
        f++;
        switch (*f) {
            case 't':
                fputs(o->topic, stdout);
                break;
            case 'p':
                printf("%d", partition);
                break;
            case 'o':
                printf("%lld", (long long)r->offset);
                break;
            case 'T':
                printf("%lld", (long long)r->timestamp);
                break;
            case 'k':
                put_bytes(r->key);
                break;
            case 'v':
                put_bytes(r->value);
                break;
            case 'S':
                printf("%d", r->value.len < 0 ? -1 : r->value.len);
                break;
            case 'h': {
                struct bk_str hk;
                struct bk_bytes hv;
                bool first = true;
                while (bk_record_header_next(r, &hk, &hv) == 1) {
                    printf("%s%.*s=", first ? "" : ",", hk.len, hk.ptr);
                    put_bytes(hv);
                    first = false;
                }
                break;
            }
            case '%':
                putchar('%');
                break;
            default:
                putchar('%');
                putchar(*f);
                break;
        }
    }
}

/* Whether partition ps goes to leader in this round. */
static bool led_by(const struct bk_route *route,
                   const struct part_state *ps,
                   int32_t leader)
{
    return bk_route_leader(route, ps->id) == leader;
}

/* ListOffsets with timestamp ts (-2 earliest, -1 latest, else a time) for
 * the partitions of ps that leader leads, sent to it. A partition it no
 * longer leads sets *stale (while retries are left) and keeps its offset. */
static int list_offsets_at(struct bk_route *route,
                           int32_t leader,
                           const struct consume_opts *o,
                           struct part_state *ps,
                           int32_t n,
                           int64_t ts,
                           bool *stale)
{
    struct bk_client *c = bk_route_client(route, leader);
    if (c == NULL) {
        return 1;
    }
    int16_t ver = bk_client_version(c, BK_API_LIST_OFFSETS);
    if (ver < 1) {
        return bk_cli_fail("%s does not support ListOffsets v1+", c->addr);
    }
    struct bk_arena arena;
    bk_arena_init(&arena, 8192, 0);
    struct bk_msg_list_offsets_request req;
    bk_msg_list_offsets_request_init(&req);
    struct bk_msg_list_offsets_request_list_offsets_topic t;
    memset(&t, 0, sizeof(t));
    t.name = bk_str_c(o->topic);
    t.partitions = bk_arena_alloc(&arena, (size_t)n * sizeof(*t.partitions));
    if (t.partitions == NULL) {
        bk_arena_destroy(&arena);
        return bk_cli_fail("out of memory");
    }
    for (int32_t i = 0; i < n; i++) {
        if (!led_by(route, &ps[i], leader)) {
            continue;
        }
        struct bk_msg_list_offsets_request_list_offsets_partition *lp =
            &t.partitions[t.partitions_count++];
        lp->partition_index = ps[i].id;
        lp->current_leader_epoch = -1;
        lp->timestamp = ts;
    }
    req.replica_id = -1;
    req.topics = &t;
    req.topics_count = 1;
    struct bk_msg_list_offsets_response resp;
    if (bk_client_call(c, BK_API_LIST_OFFSETS, ver, &req, &resp, &arena) != 0) {
        bk_arena_destroy(&arena);
        return bk_cli_fail("%s", c->errmsg);
    }
    int rv = 0;
    for (int32_t i = 0; rv == 0 && i < n; i++) {
        if (!led_by(route, &ps[i], leader)) {
            continue;
        }
        const struct
            bk_msg_list_offsets_response_list_offsets_partition_response *r =
                NULL;
        for (int32_t k = 0;
             resp.topics_count == 1 && k < resp.topics[0].partitions_count;
             k++) {
            if (resp.topics[0].partitions[k].partition_index == ps[i].id) {
                r = &resp.topics[0].partitions[k];
            }
        }
        if (r != NULL && bk_route_retriable(r->error_code) &&
            route->retries < BK_ROUTE_MAX_RETRIES) {
            *stale = true;
            continue;
        }
        if (r == NULL || r->error_code != 0) {
            int16_t e =
                r != NULL ? r->error_code : BK_KERR_UNKNOWN_SERVER_ERROR;
            rv = bk_cli_fail("%s: partition %d: %s", bk_kerr_name(e), ps[i].id,
                             bk_kerr_message(e));
            break;
        }
        ps[i].offset = r->offset;
    }
    bk_arena_destroy(&arena);
    return rv;
}

/* ListOffsets for every partition of ps, each asked of its leader;
 * refreshes the leaders and asks again while some answer that they do not
 * lead a partition (bounded). */
static int list_offsets(struct bk_route *route,
                        const struct consume_opts *o,
                        struct part_state *ps,
                        int32_t n,
                        int64_t ts)
{
    route->retries = 0;
    for (;;) {
        bool stale = false;
        int rv = 0;
        for (int32_t i = 0; rv == 0 && i < n; i++) {
            int32_t leader = bk_route_leader(route, ps[i].id);
            bool first = true;
            for (int32_t k = 0; k < i; k++) {
                first &= !led_by(route, &ps[k], leader);
            }
            if (first) {
                rv = list_offsets_at(route, leader, o, ps, n, ts, &stale);
            }
        }
        if (rv != 0 || !stale) {
            return rv;
        }
        route->retries++;
        if (bk_route_refresh(route) != 0) {
            return 1;
        }
    }
}

static int start_offsets(struct bk_route *route,
                         const struct consume_opts *o,
                         struct part_state *ps,
                         int32_t n)
{
    if (o->start >= 0 && o->from_time < 0) {
        for (int32_t i = 0; i < n; i++) {
            ps[i].offset = o->start;
        }
        return 0;
    }
    int64_t ts = o->from_time >= 0 ? o->from_time : o->start;
    int rv = list_offsets(route, o, ps, n, ts);
    bool none = false;
    for (int32_t i = 0; rv == 0 && i < n; i++) {
        none |= ps[i].offset < 0;
    }
    /* By time, and nothing at or after it: start at the end. */
    if (rv == 0 && none) {
        struct part_state *later = bk_calloc((size_t)n, sizeof(*later));
        if (later == NULL) {
            return bk_cli_fail("out of memory");
        }
        memcpy(later, ps, (size_t)n * sizeof(*later));
        rv = list_offsets(route, o, later, n, -1);
        for (int32_t i = 0; rv == 0 && i < n; i++) {
            if (ps[i].offset < 0) {
                ps[i].offset = later[i].offset;
            }
        }
        bk_free(later);
    }
    return rv;
}

struct consumer {
    const struct consume_opts *o;
    struct bk_route *route;
    struct part_state *ps;
    int32_t n;
    int64_t printed;
    bool progress;
};

/* Prints the records of one partition's answer; returns 1 when the count
 * is reached, 0 to go on, or an error after printing it. */
static int handle_records(struct consumer *cs,
                          struct part_state *p,
                          struct bk_bytes recs)
{
    const uint8_t *b = recs.ptr;
    size_t left = recs.len > 0 ? (size_t)recs.len : 0;
    while (left >= BK_RB_HEADER_SIZE) {
        uint32_t blen = (uint32_t)b[8] << 24 | (uint32_t)b[9] << 16 |
                        (uint32_t)b[10] << 8 | b[11];
        size_t total = (size_t)blen + 12;
        if (blen > INT32_MAX || total > left) {
            break; /* a partial trailing batch (KIP-74): fetch it next */
        }
        struct bk_arena arena;
        bk_arena_init(&arena, 65536, 0);
        struct bk_record_iter it;
        int rv = bk_record_iter_init(&it, b, total, &arena, MAX_UNCOMPRESSED);
        if (rv != 0) {
            bk_arena_destroy(&arena);
            return -bk_cli_fail("consume: partition %d: unreadable batch: %s",
                                p->id, bk_strerror(rv));
        }
        int64_t next = it.base_offset + it.last_offset_delta + 1;
        if ((it.attributes & BK_RB_ATTR_CONTROL) == 0) {
            struct bk_record r;
            while ((rv = bk_record_iter_next(&it, &r)) == 1) {
                if (r.offset < p->offset) {
                    continue;
                }
                print_record(cs->o, p->id, &r);
                cs->printed++;
                if (cs->o->count > 0 && cs->printed >= cs->o->count) {
                    bk_arena_destroy(&arena);
                    return 1;
                }
            }
            if (rv < 0) {
                bk_arena_destroy(&arena);
                return -bk_cli_fail(
                    "consume: partition %d: %s", p->id,
                    it.reason != NULL ? it.reason : "malformed record");
            }
        }
        bk_arena_destroy(&arena);
        if (next > p->offset) {
            p->offset = next;
        }
        b += total;
        left -= total;
    }
    return 0;
}

/* One Fetch to leader for the partitions it leads. A partition it no
 * longer leads sets *stale (while retries are left). */
static int fetch_from(struct consumer *cs,
                      int32_t leader,
                      int16_t max_ver,
                      bool *stale)
{
    struct bk_client *c = bk_route_client(cs->route, leader);
    if (c == NULL) {
        return -1;
    }
    int16_t ver = bk_client_version(c, BK_API_FETCH);
    if (ver > max_ver) {
        ver = max_ver;
    }
    if (ver < 4) {
        return -bk_cli_fail("%s does not support Fetch v4+", c->addr);
    }
    struct bk_arena arena;
    bk_arena_init(&arena, 8192, 0);
    struct bk_msg_fetch_request req;
    bk_msg_fetch_request_init(&req);
    struct bk_msg_fetch_request_fetch_topic t;
    memset(&t, 0, sizeof(t));
    t.topic = bk_str_c(cs->o->topic);
    t.partitions =
        bk_arena_alloc(&arena, (size_t)cs->n * sizeof(*t.partitions));
    if (t.partitions == NULL) {
        bk_arena_destroy(&arena);
        return -bk_cli_fail("out of memory");
    }
    for (int32_t i = 0; i < cs->n; i++) {
        if ((cs->ps[i].at_end && !cs->o->follow) ||
            !led_by(cs->route, &cs->ps[i], leader)) {
            continue;
        }
        struct bk_msg_fetch_request_fetch_partition *fp =
            &t.partitions[t.partitions_count++];
        fp->partition = cs->ps[i].id;
        fp->current_leader_epoch = -1;
        fp->fetch_offset = cs->ps[i].offset;
        fp->last_fetched_epoch = -1;
        fp->log_start_offset = -1;
        fp->partition_max_bytes = 1024 * 1024;
    }
    req.replica_id = -1;
    req.max_wait_ms = 500;
    req.min_bytes = 1;
    req.max_bytes = 16 * 1024 * 1024;
    req.isolation_level = 0;
    req.session_id = 0;
    req.session_epoch = -1;
    req.topics = &t;
    req.topics_count = 1;
    struct bk_msg_fetch_response resp;
    if (bk_client_call(c, BK_API_FETCH, ver, &req, &resp, &arena) != 0) {
        bk_arena_destroy(&arena);
        return -bk_cli_fail("%s", c->errmsg);
    }
    if (resp.error_code != 0) {
        bk_arena_destroy(&arena);
        return -bk_cli_fail("%s: %s", bk_kerr_name(resp.error_code),
                            bk_kerr_message(resp.error_code));
    }
    int rv = 0;
    for (int32_t k = 0; rv == 0 && resp.responses_count == 1 &&
                        k < resp.responses[0].partitions_count;
         k++) {
        const struct bk_msg_fetch_response_partition_data *pd =
            &resp.responses[0].partitions[k];
        struct part_state *p = NULL;
        for (int32_t i = 0; i < cs->n; i++) {
            if (cs->ps[i].id == pd->partition_index) {
                p = &cs->ps[i];
            }
        }
        if (p == NULL) {
            continue;
        }
        if (bk_route_retriable(pd->error_code) &&
            cs->route->retries < BK_ROUTE_MAX_RETRIES) {
            *stale = true;
            continue;
        }
        if (pd->error_code != 0) {
            rv = -bk_cli_fail("%s: partition %d: %s",
                              bk_kerr_name(pd->error_code), p->id,
                              bk_kerr_message(pd->error_code));
            break;
        }
        p->hw = pd->high_watermark;
        rv = handle_records(cs, p, pd->records);
        if (p->offset >= p->hw) {
            p->at_end = true;
        }
    }
    bk_arena_destroy(&arena);
    return rv;
}

/* One Fetch to each leader of the partitions still read; when a broker
 * says it no longer leads one, the leaders are looked up again (bounded
 * refreshes in a row, as Kafka's consumer does). */
static int fetch_round(struct consumer *cs, int16_t max_ver)
{
    bool stale = false;
    int rv = 0;
    for (int32_t i = 0; rv == 0 && i < cs->n; i++) {
        const struct part_state *p = &cs->ps[i];
        if (p->at_end && !cs->o->follow) {
            continue;
        }
        int32_t leader = bk_route_leader(cs->route, p->id);
        bool first = true;
        for (int32_t k = 0; k < i; k++) {
            first &= (cs->ps[k].at_end && !cs->o->follow) ||
                     !led_by(cs->route, &cs->ps[k], leader);
        }
        if (first) {
            rv = fetch_from(cs, leader, max_ver, &stale);
        }
    }
    if (rv != 0) {
        return rv;
    }
    if (!stale) {
        cs->route->retries = 0;
        return 0;
    }
    cs->route->retries++;
    return bk_route_refresh(cs->route) != 0 ? -1 : 0;
}

int bk_cmd_consume(const struct bk_cli *cli, int argc, char **argv)
{
    struct consume_opts o;
    if (parse_opts(argc, argv, &o) != 0) {
        return 2;
    }
    struct bk_client c;
    if (bk_cli_connect(cli, &c) != 0) {
        return 1;
    }
    int rv = 1;
    struct part_state *ps = NULL;
    struct bk_topic_meta tm;
    struct bk_route route = { 0 };
    int16_t ver = bk_client_version(&c, BK_API_FETCH);
    if (ver > 12) {
        ver = 12; /* topics by name */
    }
    if (ver < 4) {
        bk_cli_fail("%s does not support Fetch v4+", c.addr);
        goto out;
    }
    if (bk_topic_meta_get(cli, &c, o.topic, false, &tm) != 0) {
        goto out;
    }
    if (tm.error != 0) {
        bk_cli_fail("%s: %s", bk_kerr_name(tm.error),
                    bk_kerr_message(tm.error));
        goto out;
    }
    if (o.partition >= tm.partitions) {
        bk_cli_fail("UNKNOWN_TOPIC_OR_PARTITION: topic %s has no partition %d",
                    o.topic, o.partition);
        goto out;
    }
    int32_t n = o.partition >= 0 ? 1 : tm.partitions;
    ps = bk_calloc((size_t)n, sizeof(*ps));
    if (ps == NULL) {
        bk_cli_fail("out of memory");
        goto out;
    }
    for (int32_t i = 0; i < n; i++) {
        ps[i].id = o.partition >= 0 ? o.partition : i;
    }
    if (bk_route_open(&route, cli, &c, o.topic) != 0 ||
        start_offsets(&route, &o, ps, n) != 0) {
        goto out;
    }
    struct consumer cs = { .o = &o, .route = &route, .ps = ps, .n = n };
    cs.progress = !isatty(1) && isatty(2);
    rv = 0;
    for (;;) {
        bool all_end = true;
        for (int32_t i = 0; i < n; i++) {
            all_end &= ps[i].at_end;
        }
        if (all_end && !o.follow) {
            break;
        }
        rv = fetch_round(&cs, ver);
        if (cs.progress) {
            fprintf(stderr, "\rconsumed %lld records", (long long)cs.printed);
        }
        if (rv != 0) {
            break;
        }
    }
    if (cs.progress) {
        fputc('\n', stderr);
    }
    if (fflush(stdout) != 0 || ferror(stdout)) {
        /* A full disk or a closed pipe must not look like success. */
        bk_cli_fail("cannot write the records to standard output");
        rv = -1;
    }
    rv = rv < 0 ? 1 : 0; /* 1 = the count was reached */
out:
    bk_route_close(&route);
    bk_free(ps);
    bk_client_close(&c);
    return rv == 0 ? 0 : 1;
}
