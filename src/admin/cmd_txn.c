/* brokerctl txn list|describe|abort: what kafka-transactions.sh does
 * (KIP-664), over the same APIs. list asks every broker (each answers for
 * the transactional ids it coordinates) with ListTransactions; describe
 * asks the id's coordinator (FindCoordinator key type 1) with
 * DescribeTransactions; abort ends a hanging transaction on one
 * partition: DescribeProducers on its leader finds the producer whose
 * transaction starts at the given offset, and WriteTxnMarkers writes its
 * ABORT marker there with coordinator epoch -1 (an operator's marker,
 * which no coordinator epoch fences). */
#include <stdlib.h>
#include <string.h>

#include "admin/cli.h"
#include "admin/cli_json.h"
#include "admin/route.h"
#include "protocol/gen/describe_producers.h"
#include "protocol/gen/describe_transactions.h"
#include "protocol/gen/list_transactions.h"
#include "protocol/gen/write_txn_markers.h"
#include "protocol/kerr.h"

#define TXN_TOPIC "__transaction_state"

static int usage(void)
{
    return bk_cli_fail(
        "usage: txn list [--state S] | txn describe ID | txn abort --topic T "
        "--partition P --start-offset O");
}

/* ---- list ---- */

typedef struct bk_msg_list_transactions_response_transaction_state listed_txn;

/* One listed id: appended to arr (the --json document) or printed as a
 * row when arr is NULL. */
static void print_listed(json_t *arr, const listed_txn *t, int32_t node)
{
    if (arr != NULL) {
        json_t *o = json_object();
        bk_cli_json_set(
            o, "transactional_id", 16,
            bk_cli_json_str(t->transactional_id.ptr, t->transactional_id.len));
        bk_cli_json_set(o, "coordinator", 11, json_integer(node));
        bk_cli_json_set(o, "producer_id", 11, json_integer(t->producer_id));
        bk_cli_json_set(o, "state", 5,
                        bk_cli_json_str(t->transaction_state.ptr,
                                        t->transaction_state.len));
        bk_cli_json_push(arr, o);
        return;
    }
    printf("%.*s\t%d\t%lld\t%.*s\n", t->transactional_id.len,
           t->transactional_id.ptr, node, (long long)t->producer_id,
           t->transaction_state.len, t->transaction_state.ptr);
}

/* One broker's ids. Returns 0 or 1 after printing why. */
static int list_one(json_t *arr,
                    struct bk_client *c,
                    int32_t node,
                    const char *state,
                    struct bk_arena *arena)
{
    int16_t v = bk_client_version(c, BK_API_LIST_TRANSACTIONS);
    if (v < 0) {
        return bk_cli_fail("%s does not support ListTransactions", c->addr);
    }
    struct bk_msg_list_transactions_request req;
    bk_msg_list_transactions_request_init(&req);
    struct bk_str st = state != NULL ? bk_str_c(state) : BK_STR_NULL;
    if (state != NULL) {
        req.state_filters = &st;
        req.state_filters_count = 1;
    }
    struct bk_msg_list_transactions_response resp;
    if (bk_client_call(c, BK_API_LIST_TRANSACTIONS, v, &req, &resp, arena) !=
        0) {
        return bk_cli_fail("%s", c->errmsg);
    }
    if (resp.error_code != 0) {
        return bk_cli_kerr(c->addr, resp.error_code, BK_STR_NULL);
    }
    if (resp.unknown_state_filters_count > 0) {
        return bk_cli_fail("unknown transaction state '%s'", state);
    }
    for (int32_t i = 0; i < resp.transaction_states_count; i++) {
        print_listed(arr, &resp.transaction_states[i], node);
    }
    return 0;
}

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
    struct bk_client boot;
    if (bk_cli_connect(cli, &boot) != 0) {
        return 1;
    }
    struct bk_arena arena;
    bk_arena_init(&arena, 64 * 1024, 0);
    /* Metadata of the topic names every broker; before the topic exists
     * no broker coordinates anything. */
    struct bk_route r;
    int rc = 0;
    json_t *arr = cli->json ? json_array() : NULL;
    if (!cli->json) {
        printf("TRANSACTIONAL_ID\tCOORDINATOR\tPRODUCER_ID\tSTATE\n");
    }
    if (bk_route_open(&r, cli, &boot, TXN_TOPIC) == 0) {
        for (size_t i = 0; rc == 0 && i < r.n_brokers; i++) {
            struct bk_client *c = bk_route_client(&r, r.brokers[i].id);
            rc = c == NULL ? 1
                           : list_one(arr, c, r.brokers[i].id, state, &arena);
        }
        bk_route_close(&r);
    }
    if (arr != NULL) {
        if (rc == 0) {
            rc = bk_cli_json_print(stdout, arr);
        } else {
            json_decref(arr);
        }
    }
    bk_arena_destroy(&arena);
    bk_client_close(&boot);
    return rc;
}

/* ---- describe ---- */

typedef struct bk_msg_describe_transactions_response_transaction_state
    described_txn;

static void print_described(const struct bk_cli *cli, const described_txn *t)
{
    if (cli->json) {
        json_t *o = json_object();
        json_t *parts = json_array();
        bk_cli_json_set(
            o, "transactional_id", 16,
            bk_cli_json_str(t->transactional_id.ptr, t->transactional_id.len));
        bk_cli_json_set(o, "state", 5,
                        bk_cli_json_str(t->transaction_state.ptr,
                                        t->transaction_state.len));
        bk_cli_json_set(o, "producer_id", 11, json_integer(t->producer_id));
        bk_cli_json_set(o, "producer_epoch", 14,
                        json_integer(t->producer_epoch));
        bk_cli_json_set(o, "timeout_ms", 10,
                        json_integer(t->transaction_timeout_ms));
        bk_cli_json_set(o, "start_time_ms", 13,
                        json_integer(t->transaction_start_time_ms));
        for (int32_t i = 0; i < t->topics_count; i++) {
            for (int32_t j = 0; j < t->topics[i].partitions_count; j++) {
                char tp[512];
                int n = snprintf(tp, sizeof(tp), "%.*s-%d",
                                 t->topics[i].topic.len, t->topics[i].topic.ptr,
                                 t->topics[i].partitions[j]);
                bk_cli_json_push(
                    parts,
                    bk_cli_json_str(
                        tp, n < (int)sizeof(tp) ? n : (int)sizeof(tp) - 1));
            }
        }
        bk_cli_json_set(o, "partitions", 10, parts);
        (void)bk_cli_json_print(stdout, o);
        return;
    }
    printf(
        "transactional_id\t%.*s\nstate\t%.*s\nproducer_id\t%lld\n"
        "producer_epoch\t%d\ntimeout_ms\t%d\nstart_time_ms\t%lld\n"
        "partitions\t",
        t->transactional_id.len, t->transactional_id.ptr,
        t->transaction_state.len, t->transaction_state.ptr,
        (long long)t->producer_id, t->producer_epoch, t->transaction_timeout_ms,
        (long long)t->transaction_start_time_ms);
    bool first = true;
    for (int32_t i = 0; i < t->topics_count; i++) {
        for (int32_t j = 0; j < t->topics[i].partitions_count; j++) {
            printf("%s%.*s-%d", first ? "" : ",", t->topics[i].topic.len,
                   t->topics[i].topic.ptr, t->topics[i].partitions[j]);
            first = false;
        }
    }
    printf("\n");
}

static int cmd_describe(const struct bk_cli *cli, int argc, char **argv)
{
    if (argc != 1) {
        return usage();
    }
    struct bk_client boot, storage, *c;
    bool same = true;
    if (bk_cli_connect(cli, &boot) != 0) {
        return 1;
    }
    struct bk_arena arena;
    bk_arena_init(&arena, 64 * 1024, 0);
    int rc =
        bk_cli_coordinator(cli, &boot, 1, argv[0], &arena, &storage, &c, &same);
    int16_t v =
        rc == 0 ? bk_client_version(c, BK_API_DESCRIBE_TRANSACTIONS) : -1;
    if (rc == 0 && v < 0) {
        rc = bk_cli_fail("%s does not support DescribeTransactions", c->addr);
    }
    if (rc == 0) {
        struct bk_str id = bk_str_c(argv[0]);
        struct bk_msg_describe_transactions_request req = { &id, 1 };
        struct bk_msg_describe_transactions_response resp;
        if (bk_client_call(c, BK_API_DESCRIBE_TRANSACTIONS, v, &req, &resp,
                           &arena) != 0) {
            rc = bk_cli_fail("%s", c->errmsg);
        } else if (resp.transaction_states_count != 1) {
            rc = bk_cli_fail("%s: no answer for the id", c->addr);
        } else if (resp.transaction_states[0].error_code != 0) {
            rc = bk_cli_kerr(argv[0], resp.transaction_states[0].error_code,
                             BK_STR_NULL);
        } else {
            print_described(cli, &resp.transaction_states[0]);
        }
    }
    if (!same) {
        bk_client_close(&storage);
    }
    bk_arena_destroy(&arena);
    bk_client_close(&boot);
    return rc;
}

/* ---- abort ---- */

struct abort_args {
    const char *topic;
    int32_t partition;
    int64_t start_offset;
};

/* The producer with a transaction open at a->start_offset on the
 * partition, from its leader c: fills *pid and *epoch. Returns 0 or 1
 * after printing why. */
static int find_producer(struct bk_client *c,
                         const struct abort_args *a,
                         struct bk_arena *arena,
                         int64_t *pid,
                         int16_t *epoch)
{
    int16_t v = bk_client_version(c, BK_API_DESCRIBE_PRODUCERS);
    if (v < 0) {
        return bk_cli_fail("%s does not support DescribeProducers", c->addr);
    }
    int32_t part = a->partition;
    struct bk_msg_describe_producers_request_topic_request t = {
        bk_str_c(a->topic), &part, 1
    };
    struct bk_msg_describe_producers_request req = { &t, 1 };
    struct bk_msg_describe_producers_response resp;
    if (bk_client_call(c, BK_API_DESCRIBE_PRODUCERS, v, &req, &resp, arena) !=
        0) {
        return bk_cli_fail("%s", c->errmsg);
    }
    if (resp.topics_count != 1 || resp.topics[0].partitions_count != 1) {
        return bk_cli_fail("%s: no answer for the partition", c->addr);
    }
    const struct bk_msg_describe_producers_response_partition_response *p =
        &resp.topics[0].partitions[0];
    if (p->error_code != 0) {
        return bk_cli_kerr(a->topic, p->error_code, p->error_message);
    }
    for (int32_t i = 0; i < p->active_producers_count; i++) {
        if (p->active_producers[i].current_txn_start_offset ==
            a->start_offset) {
            *pid = p->active_producers[i].producer_id;
            *epoch = (int16_t)p->active_producers[i].producer_epoch;
            return 0;
        }
    }
    return bk_cli_fail("no transaction starts at offset %lld of %s-%d",
                       (long long)a->start_offset, a->topic, a->partition);
}

/* Writes the ABORT marker of pid/epoch on the partition through c. */
static int write_abort(struct bk_client *c,
                       const struct abort_args *a,
                       struct bk_arena *arena,
                       int64_t pid,
                       int16_t epoch)
{
    int16_t v = bk_client_version(c, BK_API_WRITE_TXN_MARKERS);
    if (v < 0) {
        return bk_cli_fail("%s does not support WriteTxnMarkers", c->addr);
    }
    int32_t part = a->partition;
    struct bk_msg_write_txn_markers_request_writable_txn_marker_topic t = {
        .name = bk_str_c(a->topic),
        .partition_indexes = &part,
        .partition_indexes_count = 1,
    };
    struct bk_msg_write_txn_markers_request_writable_txn_marker m = {
        .producer_id = pid,
        .producer_epoch = epoch,
        .transaction_result = false,
        .topics = &t,
        .topics_count = 1,
        .coordinator_epoch = -1,
    };
    struct bk_msg_write_txn_markers_request req = { &m, 1 };
    struct bk_msg_write_txn_markers_response resp;
    if (bk_client_call(c, BK_API_WRITE_TXN_MARKERS, v, &req, &resp, arena) !=
        0) {
        return bk_cli_fail("%s", c->errmsg);
    }
    if (resp.markers_count != 1 || resp.markers[0].topics_count != 1 ||
        resp.markers[0].topics[0].partitions_count != 1) {
        return bk_cli_fail("%s: no answer for the partition", c->addr);
    }
    int16_t err = resp.markers[0].topics[0].partitions[0].error_code;
    if (err != 0) {
        return bk_cli_kerr(a->topic, err, BK_STR_NULL);
    }
    printf(
        "aborted the transaction of producer %lld (epoch %d) at offset "
        "%lld of %s-%d\n",
        (long long)pid, epoch, (long long)a->start_offset, a->topic,
        a->partition);
    return 0;
}

static int parse_abort(int argc, char **argv, struct abort_args *a)
{
    *a = (struct abort_args){ NULL, -1, -1 };
    for (int i = 0; i + 1 < argc; i += 2) {
        char *end;
        if (strcmp(argv[i], "--topic") == 0) {
            a->topic = argv[i + 1];
        } else if (strcmp(argv[i], "--partition") == 0) {
            a->partition = (int32_t)strtol(argv[i + 1], &end, 10);
        } else if (strcmp(argv[i], "--start-offset") == 0) {
            a->start_offset = strtoll(argv[i + 1], &end, 10);
        } else {
            return -1;
        }
    }
    return argc % 2 == 0 && a->topic != NULL && a->partition >= 0 &&
                   a->start_offset >= 0
               ? 0
               : -1;
}

static int cmd_abort(const struct bk_cli *cli, int argc, char **argv)
{
    struct abort_args a;
    if (parse_abort(argc, argv, &a) != 0) {
        return usage();
    }
    struct bk_client boot;
    if (bk_cli_connect(cli, &boot) != 0) {
        return 1;
    }
    struct bk_arena arena;
    bk_arena_init(&arena, 64 * 1024, 0);
    struct bk_route r;
    int rc = bk_route_open(&r, cli, &boot, a.topic);
    if (rc == 0) {
        int32_t leader = bk_route_leader(&r, a.partition);
        struct bk_client *c = leader >= 0 ? bk_route_client(&r, leader) : NULL;
        int64_t pid = -1;
        int16_t epoch = -1;
        if (c == NULL) {
            rc = leader >= 0
                     ? 1
                     : bk_cli_fail("%s-%d has no leader", a.topic, a.partition);
        } else {
            rc = find_producer(c, &a, &arena, &pid, &epoch);
        }
        if (rc == 0) {
            rc = write_abort(c, &a, &arena, pid, epoch);
        }
        bk_route_close(&r);
    }
    bk_arena_destroy(&arena);
    bk_client_close(&boot);
    return rc;
}

int bk_cmd_txn(const struct bk_cli *cli, int argc, char **argv)
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
    if (strcmp(argv[0], "abort") == 0) {
        return cmd_abort(cli, argc - 1, argv + 1);
    }
    return usage();
}
