#include "admin/quorum_view.h"

#include <string.h>
#include <time.h>

#include "admin/cli_json.h"
#include "protocol/kerr.h"

#define METADATA_TOPIC "__cluster_metadata"

typedef struct bk_msg_describe_quorum_response_replica_state replica;

int bk_quorum_view_fetch(struct bk_client *c,
                         struct bk_arena *arena,
                         struct bk_quorum_view *v)
{
    memset(v, 0, sizeof(*v));
    int16_t ver = bk_client_version(c, BK_API_DESCRIBE_QUORUM);
    if (ver < 0) {
        v->error = -1;
        return 0;
    }
    struct bk_msg_describe_quorum_request req;
    bk_msg_describe_quorum_request_init(&req);
    struct bk_msg_describe_quorum_request_topic_data t;
    struct bk_msg_describe_quorum_request_partition_data p = { 0 };
    memset(&t, 0, sizeof(t));
    t.topic_name = bk_str_c(METADATA_TOPIC);
    t.partitions = &p;
    t.partitions_count = 1;
    req.topics = &t;
    req.topics_count = 1;
    struct bk_msg_describe_quorum_response *resp =
        bk_arena_alloc(arena, sizeof(*resp));
    if (resp == NULL) {
        return bk_cli_fail("out of memory");
    }
    if (bk_client_call(c, BK_API_DESCRIBE_QUORUM, ver, &req, resp, arena) !=
        0) {
        return bk_cli_fail("%s", c->errmsg);
    }
    if (resp->error_code != 0) {
        v->error = resp->error_code;
    } else if (resp->topics_count != 1 ||
               resp->topics[0].partitions_count != 1) {
        v->error = BK_KERR_UNKNOWN_SERVER_ERROR;
    } else {
        v->part = &resp->topics[0].partitions[0];
        v->error = v->part->error_code;
    }
    return 0;
}

/* A wall-clock time in ms as ISO-8601 UTC, or "-" when unknown (< 0). */
static void format_ms(int64_t ms, char out[32])
{
    if (ms < 0) {
        snprintf(out, 32, "-");
        return;
    }
    time_t s = (time_t)(ms / 1000);
    struct tm tm;
    char day[24];
    if (gmtime_r(&s, &tm) == NULL ||
        strftime(day, sizeof(day), "%Y-%m-%dT%H:%M:%S", &tm) == 0) {
        snprintf(out, 32, "%lld", (long long)ms);
        return;
    }
    snprintf(out, 32, "%s.%03dZ", day, (int)(ms % 1000));
}

/* Records the replica is behind the high watermark; -1 when its offset is
 * unknown. */
static int64_t lag_of(const struct bk_quorum_view *v, const replica *r)
{
    if (r->log_end_offset < 0) {
        return -1;
    }
    int64_t lag = v->part->high_watermark - r->log_end_offset;
    return lag > 0 ? lag : 0;
}

static void print_replicas(FILE *out,
                           const struct bk_quorum_view *v,
                           const char *kind,
                           const replica *rs,
                           int32_t n)
{
    for (int32_t i = 0; i < n; i++) {
        const replica *r = &rs[i];
        char caught[32], lag[24];
        format_ms(r->last_caught_up_timestamp, caught);
        int64_t l = lag_of(v, r);
        snprintf(lag, sizeof(lag), l < 0 ? "-" : "%lld", (long long)l);
        const char *role =
            r->replica_id == v->part->leader_id ? "leader" : kind;
        fprintf(out, "  %-8d %-10s %-10s %s\n", r->replica_id, role, lag,
                caught);
    }
}

void bk_quorum_view_print(FILE *out, const struct bk_quorum_view *v)
{
    fprintf(out, "Quorum:\n");
    if (v->error != 0) {
        fprintf(out, "  unavailable: %s\n",
                v->error < 0 ? "DescribeQuorum is not supported"
                             : bk_kerr_name(v->error));
        return;
    }
    const struct bk_msg_describe_quorum_response_partition_data *p = v->part;
    fprintf(out, "  Leader:         %d\n", p->leader_id);
    fprintf(out, "  Leader epoch:   %d\n", p->leader_epoch);
    fprintf(out, "  High watermark: %lld\n", (long long)p->high_watermark);
    fprintf(out, "  %-8s %-10s %-10s %s\n", "ID", "ROLE", "LAG",
            "LAST CAUGHT UP");
    print_replicas(out, v, "follower", p->current_voters,
                   p->current_voters_count);
    print_replicas(out, v, "observer", p->observers, p->observers_count);
}

static json_t *json_replicas(const struct bk_quorum_view *v,
                             const replica *rs,
                             int32_t n)
{
    json_t *a = json_array();
    for (int32_t i = 0; i < n; i++) {
        const replica *r = &rs[i];
        int64_t lag = lag_of(v, r);
        bk_cli_json_push(
            a, json_pack("{s:i, s:I, s:o, s:I, s:I}", "id", r->replica_id,
                         "log_end_offset", (json_int_t)r->log_end_offset, "lag",
                         lag < 0 ? json_null() : json_integer((json_int_t)lag),
                         "last_fetch_timestamp",
                         (json_int_t)r->last_fetch_timestamp,
                         "last_caught_up_timestamp",
                         (json_int_t)r->last_caught_up_timestamp));
    }
    return a;
}

json_t *bk_quorum_view_json(const struct bk_quorum_view *v)
{
    if (v->error != 0) {
        return json_pack(
            "{s:s}", "error",
            v->error < 0 ? "UNSUPPORTED_VERSION" : bk_kerr_name(v->error));
    }
    const struct bk_msg_describe_quorum_response_partition_data *p = v->part;
    return json_pack(
        "{s:i, s:i, s:I, s:o, s:o}", "leader_id", p->leader_id, "leader_epoch",
        p->leader_epoch, "high_watermark", (json_int_t)p->high_watermark,
        "voters", json_replicas(v, p->current_voters, p->current_voters_count),
        "observers", json_replicas(v, p->observers, p->observers_count));
}
