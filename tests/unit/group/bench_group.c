/* The KIP-848 coordinator's cost per heartbeat: M members of one group
 * share one topic of P partitions; after they settle, each steady-state
 * heartbeat recomputes the targets (the server-side assignor) and
 * reconciles the member, as every ConsumerGroupHeartbeat does. Not a
 * test: prints figures. Usage:
 *   bench_group MEMBERS PARTITIONS [ASSIGNOR]
 * Prints "members=M partitions=P assignor=A settle_ms=X heartbeat_us=Y". */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "group/consumer.h"
#include "group/group.h"

static int32_t nparts;
static const struct bk_uuid topic = { { 1, 2, 3, 4 } };

static int32_t lookup(void *ctx, const char *name, struct bk_uuid *id)
{
    (void)ctx;
    if (strcmp(name, "t") != 0) {
        return -1;
    }
    *id = topic;
    return nparts;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

struct member {
    char id[32];
    int32_t epoch;
    struct bk_cgroup_tp *owned;
    int32_t nowned;
};

static void beat(struct bk_group_registry *r,
                 struct member *m,
                 const char *assignor,
                 bool first)
{
    static const struct bk_str topics[1] = { { "t", 1 } };
    struct bk_cgroup_heartbeat_req hb = {
        .member_id = bk_str_c(m->id),
        .member_epoch = m->epoch,
        .instance_id = BK_STR_NULL,
        .client_id = bk_str_c("bench"),
        .client_host = bk_str_c("/127.0.0.1"),
        .rebalance_timeout_ms = 300000,
        .topics = first ? topics : NULL,
        .ntopics = first ? 1 : 0,
        .regex = BK_STR_NULL,
        .server_assignor = first ? bk_str_c(assignor) : BK_STR_NULL,
        .owned = first ? NULL : m->owned,
        .nowned = first ? -1 : m->nowned,
    };
    struct bk_cgroup_result res;
    bk_cgroup_heartbeat(r, bk_str_c("bench"), &hb, lookup, NULL, &res);
    if (res.error != 0) {
        fprintf(stderr, "heartbeat error %d\n", res.error);
        exit(1);
    }
    m->epoch = res.member_epoch;
    if (res.assignment != NULL) {
        m->nowned = (int32_t)res.assignment->n;
        memcpy(m->owned, res.assignment->v,
               res.assignment->n * sizeof(*m->owned));
    }
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: bench_group MEMBERS PARTITIONS [ASSIGNOR]\n");
        return 2;
    }
    int nmembers = atoi(argv[1]);
    nparts = atoi(argv[2]);
    const char *assignor = argc > 3 ? argv[3] : "uniform";
    if (nmembers <= 0 || nparts <= 0) {
        fprintf(stderr, "bench_group: MEMBERS and PARTITIONS must be > 0\n");
        return 2;
    }
    struct bk_group_config cfg;
    bk_group_config_default(&cfg);
    struct bk_group_hooks hooks = { 0 };
    struct bk_group_registry r;
    bk_group_registry_init(&r, &cfg, bk_clock_system(), &hooks);
    struct member *ms = calloc((size_t)nmembers, sizeof(*ms));
    for (int i = 0; i < nmembers; i++) {
        snprintf(ms[i].id, sizeof(ms[i].id), "member-%06d", i);
        ms[i].owned = calloc((size_t)nparts, sizeof(*ms[i].owned));
    }
    double t0 = now_s();
    for (int i = 0; i < nmembers; i++) {
        beat(&r, &ms[i], assignor, true);
    }
    /* Everyone heartbeats until nobody's assignment moves. */
    for (int round = 0; round < 8; round++) {
        for (int i = 0; i < nmembers; i++) {
            beat(&r, &ms[i], assignor, false);
        }
    }
    double settle = now_s() - t0;
    int n = 0;
    t0 = now_s();
    while (n < 20 * nmembers && now_s() - t0 < 5.0) {
        beat(&r, &ms[n % nmembers], assignor, false);
        n++;
    }
    double per = (now_s() - t0) / n;
    int32_t total = 0;
    for (int i = 0; i < nmembers; i++) {
        total += ms[i].nowned;
    }
    printf(
        "members=%d partitions=%d assignor=%s settle_ms=%.1f "
        "heartbeat_us=%.1f assigned=%d\n",
        nmembers, nparts, assignor, settle * 1e3, per * 1e6, total);
    bk_group_registry_close(&r);
    for (int i = 0; i < nmembers; i++) {
        free(ms[i].owned);
    }
    free(ms);
    return total == nparts ? 0 : 1;
}
