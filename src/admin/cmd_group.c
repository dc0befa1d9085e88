/* brokerctl group list|describe|reset-offsets|delete: what
 * kafka-consumer-groups.sh does, over the same APIs (ListGroups,
 * FindCoordinator, DescribeGroups, OffsetFetch, ListOffsets, OffsetCommit,
 * DeleteGroups). Group requests go to the group's coordinator, found with
 * FindCoordinator; ListOffsets goes to the bootstrap broker (the partition
 * leader on a single node). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "admin/cli.h"
#include "admin/cli_json.h"
#include "admin/topic_meta.h"
#include "protocol/gen/consumer_protocol_assignment.h"
#include "protocol/gen/delete_groups.h"
#include "protocol/gen/describe_groups.h"
#include "protocol/gen/find_coordinator.h"
#include "protocol/gen/list_groups.h"
#include "protocol/gen/list_offsets.h"
#include "protocol/gen/offset_commit.h"
#include "protocol/gen/offset_fetch.h"
#include "protocol/kerr.h"

static int usage(void)
{
    return bk_cli_fail(
        "usage: group list [--state S] | group describe GROUP | group "
        "reset-offsets GROUP --topic T[:P,...] (--to-earliest | --to-latest "
        "| --to-offset N | --to-datetime YYYY-MM-DDTHH:MM:SS[.mmm] | "
        "--shift-by N) [--dry-run] | group delete GROUP...");
}

int bk_cli_coordinator(const struct bk_cli *cli,
                       struct bk_client *boot,
                       int8_t key_type,
                       const char *group,
                       struct bk_arena *arena,
                       struct bk_client *storage,
                       struct bk_client **out,
                       bool *same)
{
    int16_t v = bk_client_version(boot, BK_API_FIND_COORDINATOR);
    if (v < 0) {
        return bk_cli_fail("%s does not support FindCoordinator", boot->addr);
    }
    struct bk_msg_find_coordinator_request req;
    bk_msg_find_coordinator_request_init(&req);
    struct bk_str key = bk_str_c(group);
    req.key = key;
    req.key_type = key_type;
    req.coordinator_keys = &key;
    req.coordinator_keys_count = 1;
    for (int attempt = 0;; attempt++) {
        struct bk_msg_find_coordinator_response resp;
        if (bk_client_call(boot, BK_API_FIND_COORDINATOR, v, &req, &resp,
                           arena) != 0) {
            return bk_cli_fail("%s", boot->errmsg);
        }
        int16_t err = resp.error_code;
        struct bk_str host = resp.host;
        int32_t port = resp.port;
        if (v >= 4 && resp.coordinators_count == 1) {
            err = resp.coordinators[0].error_code;
            host = resp.coordinators[0].host;
            port = resp.coordinators[0].port;
        }
        if (err == BK_KERR_COORDINATOR_NOT_AVAILABLE && attempt < 20) {
            struct timespec ts = { 0, 250 * 1000 * 1000 };
            nanosleep(&ts, NULL);
            continue;
        }
        if (err != 0) {
            return bk_cli_kerr(group, err, BK_STR_NULL);
        }
        char addr[300];
        snprintf(addr, sizeof(addr), "%.*s:%d", host.len, host.ptr, port);
        if (strcmp(addr, boot->addr) == 0) {
            *out = boot;
            *same = true;
            return 0;
        }
        if (bk_client_connect(storage, addr, cli->timeout_ms) != 0) {
            return bk_cli_fail("coordinator %s: %s", addr, storage->errmsg);
        }
        *same = false;
        *out = storage;
        return 0;
    }
}

/* ---- list ---- */

static int cmd_list(const struct bk_cli *cli, int argc, char **argv)
{
    const char *state = NULL;
    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], "--state") == 0 && i + 1 < argc) {
            state = argv[++i];
        } else {
            return usage();
        }
    }
    struct bk_client c;
    if (bk_cli_connect(cli, &c) != 0) {
        return 1;
    }
    struct bk_arena arena;
    bk_arena_init(&arena, 64 * 1024, 0);
    int rc = 0;
    int16_t v = bk_client_version(&c, BK_API_LIST_GROUPS);
    struct bk_msg_list_groups_request req;
    bk_msg_list_groups_request_init(&req);
    struct bk_str st = state != NULL ? bk_str_c(state) : BK_STR_NULL;
    if (state != NULL && v >= 4) {
        req.states_filter = &st;
        req.states_filter_count = 1;
    }
    struct bk_msg_list_groups_response resp;
    if (v < 0) {
        rc = bk_cli_fail("%s does not support ListGroups", c.addr);
    } else if (bk_client_call(&c, BK_API_LIST_GROUPS, v, &req, &resp, &arena) !=
               0) {
        rc = bk_cli_fail("%s", c.errmsg);
    } else if (resp.error_code != 0) {
        rc = bk_cli_kerr(NULL, resp.error_code, BK_STR_NULL);
    } else if (cli->json) {
        json_t *a = json_array();
        for (int32_t i = 0; i < resp.groups_count; i++) {
            const struct bk_msg_list_groups_response_listed_group *g =
                &resp.groups[i];
            bk_cli_json_push(
                a,
                json_pack(
                    "{s:o, s:o, s:o}", "group",
                    bk_cli_json_str(g->group_id.ptr, g->group_id.len),
                    "protocol_type",
                    bk_cli_json_str(g->protocol_type.ptr, g->protocol_type.len),
                    "state",
                    bk_cli_json_str(g->group_state.ptr, g->group_state.len)));
        }
        rc = bk_cli_json_print(stdout, a);
    } else {
        printf("%-40s %-20s %s\n", "GROUP", "STATE", "PROTOCOL-TYPE");
        for (int32_t i = 0; i < resp.groups_count; i++) {
            const struct bk_msg_list_groups_response_listed_group *g =
                &resp.groups[i];
            printf("%-40.*s %-20.*s %.*s\n", g->group_id.len, g->group_id.ptr,
                   g->group_state.len < 0 ? 0 : g->group_state.len,
                   g->group_state.ptr, g->protocol_type.len,
                   g->protocol_type.ptr);
        }
    }
    bk_arena_destroy(&arena);
    bk_client_close(&c);
    return rc;
}

/* ---- shared: describe, offsets, log ends ---- */

struct part_row {
    char topic[256];
    int32_t partition;
    int64_t committed; /* -1: none */
    int64_t target;
    int64_t log_end;
    const char *member; /* NULL: none */
    const char *client;
    const char *host;
};

struct view {
    struct bk_msg_describe_groups_response_described_group *desc;
    struct part_row *rows;
    size_t nrows, cap;
};

static struct part_row *row_for(struct view *v, struct bk_str topic, int32_t p)
{
    for (size_t i = 0; i < v->nrows; i++) {
        if (v->rows[i].partition == p && bk_str_eq_c(topic, v->rows[i].topic)) {
            return &v->rows[i];
        }
    }
    if (v->nrows == v->cap) {
        size_t cap = v->cap ? v->cap * 2 : 64;
        struct part_row *r = realloc(v->rows, cap * sizeof(*r));
        if (r == NULL) {
            return NULL;
        }
        v->rows = r;
        v->cap = cap;
    }
    struct part_row *r = &v->rows[v->nrows++];
    memset(r, 0, sizeof(*r));
    snprintf(r->topic, sizeof(r->topic), "%.*s", topic.len, topic.ptr);
    r->partition = p;
    r->committed = -1;
    r->target = -1;
    r->log_end = -1;
    return r;
}

static char *cstr(struct bk_arena *a, struct bk_str s)
{
    return bk_arena_strndup(a, s.len > 0 ? s.ptr : "",
                            s.len > 0 ? (size_t)s.len : 0);
}

static int describe(struct bk_client *c,
                    const char *group,
                    struct bk_arena *arena,
                    struct view *v)
{
    int16_t ver = bk_client_version(c, BK_API_DESCRIBE_GROUPS);
    struct bk_msg_describe_groups_request req;
    bk_msg_describe_groups_request_init(&req);
    struct bk_str g = bk_str_c(group);
    req.groups = &g;
    req.groups_count = 1;
    struct bk_msg_describe_groups_response *resp =
        bk_arena_alloc(arena, sizeof(*resp));
    if (ver < 0 || resp == NULL) {
        return bk_cli_fail("%s does not support DescribeGroups", c->addr);
    }
    if (bk_client_call(c, BK_API_DESCRIBE_GROUPS, ver, &req, resp, arena) !=
        0) {
        return bk_cli_fail("%s", c->errmsg);
    }
    if (resp->groups_count != 1) {
        return bk_cli_fail("DescribeGroups: no answer for %s", group);
    }
    v->desc = &resp->groups[0];
    if (v->desc->error_code != 0 &&
        v->desc->error_code != BK_KERR_GROUP_ID_NOT_FOUND) {
        return bk_cli_kerr(group, v->desc->error_code, v->desc->error_message);
    }
    /* Copy what the next calls would overwrite (views into c's frame). */
    struct bk_msg_describe_groups_response_described_group *d = v->desc;
    d->group_state = bk_str_c(cstr(arena, d->group_state));
    d->protocol_type = bk_str_c(cstr(arena, d->protocol_type));
    for (int32_t i = 0; i < d->members_count; i++) {
        struct bk_msg_describe_groups_response_described_group_member *m =
            &d->members[i];
        const char *id = cstr(arena, m->member_id);
        const char *client = cstr(arena, m->client_id);
        const char *host = cstr(arena, m->client_host);
        if (m->member_assignment.len <= 2) {
            continue;
        }
        struct bk_rd rd;
        bk_rd_init(&rd, m->member_assignment.ptr,
                   (size_t)m->member_assignment.len);
        int16_t av = bk_rd_i16(&rd);
        struct bk_msg_consumer_protocol_assignment a;
        bk_msg_consumer_protocol_assignment_init(&a);
        if (av < 0 || bk_msg_consumer_protocol_assignment_decode(
                          &a, &rd, av > 3 ? 3 : av, arena) != 0) {
            continue;
        }
        for (int32_t t = 0; t < a.assigned_partitions_count; t++) {
            const struct bk_msg_consumer_protocol_assignment_topic_partition
                *tp = &a.assigned_partitions[t];
            for (int32_t p = 0; p < tp->partitions_count; p++) {
                struct part_row *r = row_for(v, tp->topic, tp->partitions[p]);
                if (r != NULL) {
                    r->member = id;
                    r->client = client;
                    r->host = host;
                }
            }
        }
    }
    return 0;
}

static int fetch_offsets(struct bk_client *c,
                         const char *group,
                         struct bk_arena *arena,
                         struct view *v)
{
    int16_t ver = bk_client_version(c, BK_API_OFFSET_FETCH);
    if (ver < 2) {
        return bk_cli_fail("%s does not support OffsetFetch v2+", c->addr);
    }
    if (ver > 7) {
        ver = 7; /* one group, top-level topics */
    }
    struct bk_msg_offset_fetch_request req;
    bk_msg_offset_fetch_request_init(&req);
    req.group_id = bk_str_c(group);
    req.topics = NULL;
    req.topics_count = -1; /* all */
    struct bk_msg_offset_fetch_response resp;
    if (bk_client_call(c, BK_API_OFFSET_FETCH, ver, &req, &resp, arena) != 0) {
        return bk_cli_fail("%s", c->errmsg);
    }
    if (resp.error_code != 0) {
        return bk_cli_kerr(group, resp.error_code, BK_STR_NULL);
    }
    for (int32_t t = 0; t < resp.topics_count; t++) {
        for (int32_t p = 0; p < resp.topics[t].partitions_count; p++) {
            const struct
                bk_msg_offset_fetch_response_offset_fetch_response_partition
                    *op = &resp.topics[t].partitions[p];
            struct part_row *r =
                row_for(v, resp.topics[t].name, op->partition_index);
            if (r != NULL) {
                r->committed = op->committed_offset;
            }
        }
    }
    return 0;
}

/* ListOffsets for every row with timestamp ts (-1 latest, -2 earliest, or
 * a time); out(row) receives the offset. */
static int list_offsets(struct bk_client *c,
                        struct bk_arena *arena,
                        struct view *v,
                        int64_t ts,
                        bool into_target)
{
    int16_t ver = bk_client_version(c, BK_API_LIST_OFFSETS);
    if (ver < 1) {
        return bk_cli_fail("%s does not support ListOffsets v1+", c->addr);
    }
    for (size_t i = 0; i < v->nrows; i++) {
        struct bk_msg_list_offsets_request_list_offsets_partition lp = {
            .partition_index = v->rows[i].partition,
            .current_leader_epoch = -1,
            .timestamp = ts,
        };
        struct bk_msg_list_offsets_request_list_offsets_topic lt = {
            .name = bk_str_c(v->rows[i].topic),
            .partitions = &lp,
            .partitions_count = 1,
        };
        struct bk_msg_list_offsets_request req;
        bk_msg_list_offsets_request_init(&req);
        req.replica_id = -1;
        req.topics = &lt;
        req.topics_count = 1;
        struct bk_msg_list_offsets_response resp;
        if (bk_client_call(c, BK_API_LIST_OFFSETS, ver, &req, &resp, arena) !=
            0) {
            return bk_cli_fail("%s", c->errmsg);
        }
        int64_t off = -1;
        if (resp.topics_count == 1 && resp.topics[0].partitions_count == 1 &&
            resp.topics[0].partitions[0].error_code == 0) {
            off = resp.topics[0].partitions[0].offset;
        }
        if (into_target) {
            v->rows[i].target = off;
        } else {
            v->rows[i].log_end = off;
        }
    }
    return 0;
}

static int cmp_row(const void *a, const void *b)
{
    const struct part_row *x = a, *y = b;
    int c = strcmp(x->topic, y->topic);
    return c != 0
               ? c
               : (x->partition > y->partition) - (x->partition < y->partition);
}

/* Partition row r as a JSON object: the offset a reset commits, or the
 * committed offset, log end, lag and owner that describe shows. */
static json_t *row_json(const struct part_row *r, bool reset)
{
    if (reset) {
        return json_pack("{s:o, s:i, s:I}", "topic", bk_cli_json_cstr(r->topic),
                         "partition", r->partition, "new_offset",
                         (json_int_t)r->target);
    }
    bool known = r->committed >= 0 && r->log_end >= 0;
    return json_pack(
        "{s:o, s:i, s:I, s:I, s:o, s:o, s:o}", "topic",
        bk_cli_json_cstr(r->topic), "partition", r->partition, "committed",
        (json_int_t)r->committed, "log_end", (json_int_t)r->log_end, "lag",
        known ? json_integer((json_int_t)(r->log_end - r->committed))
              : json_null(),
        "member", bk_cli_json_cstr(r->member), "client",
        bk_cli_json_cstr(r->client));
}

/* Returns the exit code. */
static int print_rows(const struct bk_cli *cli,
                      const char *group,
                      const struct view *v,
                      bool reset)
{
    if (cli->json) {
        json_t *parts = json_array();
        for (size_t i = 0; i < v->nrows; i++) {
            bk_cli_json_push(parts, row_json(&v->rows[i], reset));
        }
        return bk_cli_json_print(
            stdout,
            json_pack("{s:o, s:o, s:i, s:o}", "group", bk_cli_json_cstr(group),
                      "state",
                      bk_cli_json_str(v->desc->group_state.ptr,
                                      v->desc->group_state.len),
                      "members",
                      v->desc->members_count < 0 ? 0 : v->desc->members_count,
                      "partitions", parts));
    }
    if (reset) {
        printf("%-40s %-30s %-10s %s\n", "GROUP", "TOPIC", "PARTITION",
               "NEW-OFFSET");
        for (size_t i = 0; i < v->nrows; i++) {
            printf("%-40s %-30s %-10d %lld\n", group, v->rows[i].topic,
                   v->rows[i].partition, (long long)v->rows[i].target);
        }
        return 0;
    }
    printf("Group %s is %.*s with %d member(s)\n\n", group,
           v->desc->group_state.len, v->desc->group_state.ptr,
           v->desc->members_count < 0 ? 0 : v->desc->members_count);
    printf("%-30s %-10s %-15s %-15s %-8s %-45s %-20s %s\n", "TOPIC",
           "PARTITION", "CURRENT-OFFSET", "LOG-END-OFFSET", "LAG",
           "CONSUMER-ID", "CLIENT-ID", "HOST");
    for (size_t i = 0; i < v->nrows; i++) {
        const struct part_row *r = &v->rows[i];
        char cur[24] = "-", end[24] = "-", lag[24] = "-";
        if (r->committed >= 0) {
            snprintf(cur, sizeof(cur), "%lld", (long long)r->committed);
        }
        if (r->log_end >= 0) {
            snprintf(end, sizeof(end), "%lld", (long long)r->log_end);
        }
        if (r->committed >= 0 && r->log_end >= 0) {
            snprintf(lag, sizeof(lag), "%lld",
                     (long long)(r->log_end - r->committed));
        }
        printf("%-30s %-10d %-15s %-15s %-8s %-45s %-20s %s\n", r->topic,
               r->partition, cur, end, lag, r->member ? r->member : "-",
               r->client ? r->client : "-", r->host ? r->host : "-");
    }
    return 0;
}

static int cmd_describe(const struct bk_cli *cli, int argc, char **argv)
{
    if (argc != 1) {
        return usage();
    }
    const char *group = argv[0];
    struct bk_client boot, storage, *c = NULL;
    if (bk_cli_connect(cli, &boot) != 0) {
        return 1;
    }
    struct bk_arena arena;
    bk_arena_init(&arena, 64 * 1024, 0);
    struct view v = { 0 };
    bool same = true;
    int rc =
        bk_cli_coordinator(cli, &boot, 0, group, &arena, &storage, &c, &same);
    if (rc == 0) {
        rc = describe(c, group, &arena, &v);
    }
    if (rc == 0) {
        rc = fetch_offsets(c, group, &arena, &v);
    }
    if (rc == 0) {
        rc = list_offsets(&boot, &arena, &v, -1, false);
    }
    if (rc == 0 && v.desc->error_code == BK_KERR_GROUP_ID_NOT_FOUND &&
        v.nrows == 0) {
        rc = bk_cli_fail("group %s does not exist", group);
    } else if (rc == 0) {
        qsort(v.rows, v.nrows, sizeof(*v.rows), cmp_row);
        rc = print_rows(cli, group, &v, false);
    }
    free(v.rows);
    bk_arena_destroy(&arena);
    if (!same) {
        bk_client_close(&storage);
    }
    bk_client_close(&boot);
    return rc;
}

/* ---- reset-offsets ---- */

enum reset_kind { R_NONE, R_EARLIEST, R_LATEST, R_OFFSET, R_TIME, R_SHIFT };

static int parse_time(const char *s, int64_t *ms)
{
    struct tm tm;
    memset(&tm, 0, sizeof(tm));
    const char *rest = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm);
    if (rest == NULL) {
        return -1;
    }
    int64_t frac = 0;
    if (*rest == '.') {
        char *end;
        frac = strtoll(rest + 1, &end, 10);
        rest = end;
    }
    if (*rest != '\0' && strcmp(rest, "Z") != 0) {
        return -1;
    }
    *ms = (int64_t)timegm(&tm) * 1000 + frac;
    return 0;
}

struct reset_opts {
    const char *group;
    const char *topic_arg; /* T or T:P,... */
    enum reset_kind kind;
    int64_t value; /* the offset, shift or time (ms) */
    bool dry;
};

/* Parses GROUP and the options; returns 0, or the exit code after the
 * message. */
static int reset_parse(int argc, char **argv, struct reset_opts *o)
{
    if (argc < 1) {
        return usage();
    }
    *o = (struct reset_opts){ .group = argv[0], .kind = R_NONE };
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        char *end = NULL;
        if (strcmp(a, "--topic") == 0 && i + 1 < argc) {
            o->topic_arg = argv[++i];
        } else if (strcmp(a, "--to-earliest") == 0) {
            o->kind = R_EARLIEST;
        } else if (strcmp(a, "--to-latest") == 0) {
            o->kind = R_LATEST;
        } else if ((strcmp(a, "--to-offset") == 0 ||
                    strcmp(a, "--shift-by") == 0) &&
                   i + 1 < argc) {
            o->kind = a[2] == 't' ? R_OFFSET : R_SHIFT;
            errno = 0;
            o->value = strtoll(argv[++i], &end, 10);
            if (errno != 0 || *end != '\0') {
                return bk_cli_fail("%s: '%s' is not a number", a, argv[i]);
            }
        } else if (strcmp(a, "--to-datetime") == 0 && i + 1 < argc) {
            o->kind = R_TIME;
            if (parse_time(argv[++i], &o->value) != 0) {
                return bk_cli_fail(
                    "--to-datetime: '%s' is not YYYY-MM-DDTHH:MM:SS[.mmm]",
                    argv[i]);
            }
        } else if (strcmp(a, "--dry-run") == 0) {
            o->dry = true;
        } else if (strcmp(a, "--execute") == 0) {
            o->dry = false;
        } else {
            return usage();
        }
    }
    if (o->topic_arg == NULL || o->kind == R_NONE) {
        return usage();
    }
    return 0;
}

/* Whether partition p is in the list after the colon of T:P,... (every
 * partition when there is no colon). */
static bool reset_wants(const char *colon, int32_t p)
{
    if (colon == NULL) {
        return true;
    }
    bool want = false;
    for (const char *s = colon + 1; *s;) {
        char *end;
        long x = strtol(s, &end, 10);
        want |= x == p && end != s;
        s = *end == ',' ? end + 1 : (end == s ? s + 1 : end);
    }
    return want;
}

/* Fills sel with the requested partitions of topic, all of them whether
 * committed or not, with their committed offsets from v. */
static int reset_select(struct view *v,
                        struct view *sel,
                        const char *topic,
                        const char *colon,
                        int32_t partitions)
{
    for (int32_t p = 0; p < partitions; p++) {
        if (!reset_wants(colon, p)) {
            continue;
        }
        struct part_row *r = row_for(sel, bk_str_c(topic), p);
        struct part_row *old = row_for(v, bk_str_c(topic), p);
        if (r == NULL || old == NULL) {
            return bk_cli_fail("out of memory");
        }
        r->committed = old->committed;
    }
    return 0;
}

/* --to-offset and --shift-by: the wanted offset, clamped to [earliest,
 * latest] as kafka-consumer-groups does. sel's targets hold the latest
 * offsets on entry. */
static int reset_clamp(struct bk_client *boot,
                       struct bk_arena *arena,
                       struct view *sel,
                       const struct reset_opts *o)
{
    struct view lo = *sel;
    int64_t *latest = calloc(sel->nrows + 1, sizeof(*latest));
    for (size_t i = 0; latest != NULL && i < sel->nrows; i++) {
        latest[i] = sel->rows[i].target;
    }
    int rc = list_offsets(boot, arena, &lo, -2, true);
    for (size_t i = 0; rc == 0 && latest != NULL && i < sel->nrows; i++) {
        int64_t earliest = sel->rows[i].target;
        int64_t want = o->kind == R_OFFSET ? o->value
                                           : (sel->rows[i].committed >= 0
                                                  ? sel->rows[i].committed
                                                  : earliest) +
                                                 o->value;
        if (want < earliest) {
            want = earliest;
        }
        if (want > latest[i]) {
            want = latest[i];
        }
        sel->rows[i].target = want;
    }
    free(latest);
    return rc;
}

/* --to-datetime: where there is no record at or after the time, the log
 * end. sel's targets hold the offsets for the time on entry. */
static int reset_time_end(struct bk_client *boot,
                          struct bk_arena *arena,
                          struct view *sel)
{
    struct view end = *sel;
    int64_t *t = calloc(sel->nrows + 1, sizeof(*t));
    for (size_t i = 0; t != NULL && i < sel->nrows; i++) {
        t[i] = sel->rows[i].target;
    }
    int rc = list_offsets(boot, arena, &end, -1, false);
    for (size_t i = 0; t != NULL && i < sel->nrows; i++) {
        sel->rows[i].target = t[i] >= 0 ? t[i] : sel->rows[i].log_end;
    }
    free(t);
    return rc;
}

/* Sets the target offset of each row of sel. */
static int reset_targets(struct bk_client *boot,
                         struct bk_arena *arena,
                         struct view *sel,
                         const struct reset_opts *o)
{
    int64_t ts = o->kind == R_EARLIEST ? -2
                 : o->kind == R_LATEST ? -1
                 : o->kind == R_TIME   ? o->value
                                       : -1;
    int rc = list_offsets(boot, arena, sel, ts, true);
    if (rc == 0 && (o->kind == R_OFFSET || o->kind == R_SHIFT)) {
        rc = reset_clamp(boot, arena, sel, o);
    } else if (rc == 0 && o->kind == R_TIME) {
        rc = reset_time_end(boot, arena, sel);
    }
    return rc;
}

/* Commits the target offsets of sel for group (OffsetCommit v2+, as an
 * admin client: no generation, no member). */
static int reset_commit(struct bk_client *c,
                        struct bk_arena *arena,
                        const char *group,
                        const char *topic,
                        const struct view *sel)
{
    int16_t ver = bk_client_version(c, BK_API_OFFSET_COMMIT);
    struct bk_msg_offset_commit_request_offset_commit_request_partition *ps =
        bk_arena_alloc(arena, (sel->nrows + 1) * sizeof(*ps));
    if (ver < 2 || ps == NULL) {
        return bk_cli_fail("%s does not support OffsetCommit v2+", c->addr);
    }
    for (size_t i = 0; i < sel->nrows; i++) {
        memset(&ps[i], 0, sizeof(ps[i]));
        ps[i].partition_index = sel->rows[i].partition;
        ps[i].committed_offset = sel->rows[i].target;
        ps[i].committed_leader_epoch = -1;
        ps[i].committed_metadata = bk_str_c("");
    }
    struct bk_msg_offset_commit_request_offset_commit_request_topic t = {
        .name = bk_str_c(topic),
        .partitions = ps,
        .partitions_count = (int32_t)sel->nrows,
    };
    struct bk_msg_offset_commit_request req;
    bk_msg_offset_commit_request_init(&req);
    req.group_id = bk_str_c(group);
    req.generation_id_or_member_epoch = -1;
    req.member_id = bk_str_c("");
    req.retention_time_ms = -1;
    req.topics = &t;
    req.topics_count = 1;
    struct bk_msg_offset_commit_response resp;
    int rc = 0;
    if (bk_client_call(c, BK_API_OFFSET_COMMIT, ver, &req, &resp, arena) != 0) {
        rc = bk_cli_fail("%s", c->errmsg);
    }
    for (int32_t ti = 0; rc == 0 && ti < resp.topics_count; ti++) {
        for (int32_t p = 0; p < resp.topics[ti].partitions_count; p++) {
            int16_t e = resp.topics[ti].partitions[p].error_code;
            if (e != 0 && rc == 0) {
                rc = bk_cli_kerr(group, e, BK_STR_NULL);
            }
        }
    }
    return rc;
}

/* Finds the group's coordinator and reads the group: it must be empty.
 * Fills v with its committed offsets. */
static int reset_load_group(const struct bk_cli *cli,
                            struct bk_client *boot,
                            const char *group,
                            struct bk_arena *arena,
                            struct bk_client *storage,
                            struct bk_client **c,
                            bool *same,
                            struct view *v)
{
    int rc = bk_cli_coordinator(cli, boot, 0, group, arena, storage, c, same);
    if (rc == 0) {
        rc = describe(*c, group, arena, v);
    }
    if (rc == 0 && v->desc->members_count > 0) {
        rc = bk_cli_fail(
            "group %s is %.*s with %d member(s): offsets can only be reset "
            "while it is empty (stop its consumers first)",
            group, v->desc->group_state.len, v->desc->group_state.ptr,
            v->desc->members_count);
    }
    if (rc == 0) {
        rc = fetch_offsets(*c, group, arena, v);
    }
    return rc;
}

static int cmd_reset(const struct bk_cli *cli, int argc, char **argv)
{
    struct reset_opts o = { 0 };
    int rc = reset_parse(argc, argv, &o);
    if (rc != 0) {
        return rc;
    }
    char topic[256];
    const char *colon = strchr(o.topic_arg, ':');
    snprintf(topic, sizeof(topic), "%.*s",
             (int)(colon ? (size_t)(colon - o.topic_arg) : strlen(o.topic_arg)),
             o.topic_arg);
    struct bk_client boot, storage, *c = NULL;
    if (bk_cli_connect(cli, &boot) != 0) {
        return 1;
    }
    struct bk_arena arena;
    bk_arena_init(&arena, 64 * 1024, 0);
    struct view v = { 0 };
    bool same = true;
    struct bk_topic_meta tm;
    rc = bk_topic_meta_get(cli, &boot, topic, false, &tm);
    if (rc == 0 && tm.error != 0) {
        rc = bk_cli_kerr(topic, tm.error, BK_STR_NULL);
    }
    if (rc == 0) {
        rc = reset_load_group(cli, &boot, o.group, &arena, &storage, &c, &same,
                              &v);
    }
    struct view sel = { 0 };
    sel.desc = v.desc;
    if (rc == 0) {
        rc = reset_select(&v, &sel, topic, colon, tm.partitions);
    }
    if (rc == 0) {
        rc = reset_targets(&boot, &arena, &sel, &o);
    }
    if (rc == 0 && !o.dry) {
        rc = reset_commit(c, &arena, o.group, topic, &sel);
    }
    if (rc == 0) {
        rc = print_rows(cli, o.group, &sel, true);
        if (o.dry && !cli->json) {
            printf("(dry run: nothing was committed; use --execute)\n");
        }
    }
    free(sel.rows);
    free(v.rows);
    bk_arena_destroy(&arena);
    if (!same) {
        bk_client_close(&storage);
    }
    bk_client_close(&boot);
    return rc;
}

/* ---- delete ---- */

static int cmd_delete(const struct bk_cli *cli, int argc, char **argv)
{
    if (argc < 1) {
        return usage();
    }
    struct bk_client boot;
    if (bk_cli_connect(cli, &boot) != 0) {
        return 1;
    }
    struct bk_arena arena;
    bk_arena_init(&arena, 64 * 1024, 0);
    int rc = 0;
    for (int i = 0; i < argc; i++) {
        struct bk_client storage, *cp = NULL;
        bool same = true;
        if (bk_cli_coordinator(cli, &boot, 0, argv[i], &arena, &storage, &cp,
                               &same) != 0) {
            rc = 1;
            continue;
        }
        struct bk_client *c = cp;
        int16_t ver = bk_client_version(c, BK_API_DELETE_GROUPS);
        struct bk_msg_delete_groups_request req;
        bk_msg_delete_groups_request_init(&req);
        struct bk_str g = bk_str_c(argv[i]);
        req.groups_names = &g;
        req.groups_names_count = 1;
        struct bk_msg_delete_groups_response resp;
        if (ver < 0) {
            rc = bk_cli_fail("%s does not support DeleteGroups", c->addr);
        } else if (bk_client_call(c, BK_API_DELETE_GROUPS, ver, &req, &resp,
                                  &arena) != 0) {
            rc = bk_cli_fail("%s", c->errmsg);
        } else if (resp.results_count != 1) {
            rc = bk_cli_fail("DeleteGroups: no answer for %s", argv[i]);
        } else if (resp.results[0].error_code != 0) {
            rc = bk_cli_kerr(argv[i], resp.results[0].error_code, BK_STR_NULL);
        } else if (!cli->json) {
            printf("Deleted group %s\n", argv[i]);
        }
        if (!same) {
            bk_client_close(&storage);
        }
    }
    bk_arena_destroy(&arena);
    bk_client_close(&boot);
    return rc;
}

int bk_cmd_group(const struct bk_cli *cli, int argc, char **argv)
{
    if (argc < 1) {
        return usage();
    }
    if (strcmp(argv[0], "list") == 0) {
        return cmd_list(cli, argc - 1, argv + 1);
    }
    if (strcmp(argv[0], "describe") == 0) {
        return cmd_describe(cli, argc - 1, argv + 1);
    }
    if (strcmp(argv[0], "reset-offsets") == 0) {
        return cmd_reset(cli, argc - 1, argv + 1);
    }
    if (strcmp(argv[0], "delete") == 0) {
        return cmd_delete(cli, argc - 1, argv + 1);
    }
    return usage();
}
