/* The Prometheus text writer and the histograms behind /metrics: bucket
 * placement at and around the bounds, cumulative exposition with +Inf,
 * _sum and _count, label and HELP escaping, shard merging, the per-shard
 * topic table and its bounded overflow, and the record count read from a
 * batch header. */
/* cmocka.h needs these headers first. */
/* clang-format off */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
/* clang-format on */
#include <string.h>

#include "common/heap.h"
#include "metrics/metrics.h"
#include "metrics/prom.h"

static void test_bucket_placement(void **state)
{
    (void)state;
    struct bk_hist h;
    memset(&h, 0, sizeof(h));
    /* Bounds are inclusive upper bounds (Prometheus' le). */
    bk_hist_observe(&h, &bk_hist_latency_us, 0);
    bk_hist_observe(&h, &bk_hist_latency_us, 100);
    bk_hist_observe(&h, &bk_hist_latency_us, 101);
    bk_hist_observe(&h, &bk_hist_latency_us, 10000000);
    bk_hist_observe(&h, &bk_hist_latency_us, 10000001);
    uint64_t cum[BK_HIST_MAX_BOUNDS + 1], sum;
    bk_hist_read(&h, &bk_hist_latency_us, cum, &sum);
    assert_int_equal(cum[0], 2); /* <= 100 us */
    assert_int_equal(cum[1], 3); /* <= 250 us */
    assert_int_equal(cum[14], 3);
    assert_int_equal(cum[15], 4); /* <= 10 s */
    assert_int_equal(cum[16], 5); /* +Inf: the count */
    assert_int_equal(sum, 0 + 100 + 101 + 10000000 + 10000001);
}

static void test_hist_exposition(void **state)
{
    (void)state;
    struct bk_hist h;
    memset(&h, 0, sizeof(h));
    bk_hist_observe(&h, &bk_hist_batch, 1);
    bk_hist_observe(&h, &bk_hist_batch, 3);
    bk_hist_observe(&h, &bk_hist_batch, 5000);
    struct bk_prom p;
    bk_prom_init(&p);
    struct bk_prom_label l[] = { { "api", "Produce" } };
    bk_prom_family(&p, "x_batch", "histogram", "Batch sizes.");
    bk_prom_hist(&p, "x_batch", l, 1, &h, &bk_hist_batch, 1.0);
    assert_int_equal(p.err, 0);
    assert_non_null(strstr(p.buf,
                           "# HELP x_batch Batch sizes.\n"
                           "# TYPE x_batch histogram\n"));
    assert_non_null(strstr(p.buf,
                           "x_batch_bucket{api=\"Produce\",le=\"1\"} "
                           "1\n"
                           "x_batch_bucket{api=\"Produce\",le=\"2\"} "
                           "1\n"
                           "x_batch_bucket{api=\"Produce\",le=\"4\"} "
                           "2\n"));
    assert_non_null(strstr(p.buf,
                           "x_batch_bucket{api=\"Produce\",le=\"4096\"} 2\n"
                           "x_batch_bucket{api=\"Produce\",le=\"+Inf\"} 3\n"
                           "x_batch_sum{api=\"Produce\"} 5004\n"
                           "x_batch_count{api=\"Produce\"} 3\n"));
    bk_prom_free(&p);
}

static void test_seconds_scale(void **state)
{
    (void)state;
    struct bk_hist h;
    memset(&h, 0, sizeof(h));
    bk_hist_observe(&h, &bk_hist_latency_us, 1500);
    struct bk_prom p;
    bk_prom_init(&p);
    bk_prom_hist(&p, "d_seconds", NULL, 0, &h, &bk_hist_latency_us, 1e-6);
    /* Bounds print as written, not as binary expansions. */
    assert_non_null(strstr(p.buf, "d_seconds_bucket{le=\"0.0001\"} 0\n"));
    assert_non_null(strstr(p.buf, "d_seconds_bucket{le=\"0.0025\"} 1\n"));
    assert_non_null(strstr(p.buf, "d_seconds_bucket{le=\"10\"} 1\n"));
    assert_non_null(strstr(p.buf, "d_seconds_sum 0.0015\n"));
    assert_non_null(strstr(p.buf, "d_seconds_count 1\n"));
    bk_prom_free(&p);
}

static void test_escaping(void **state)
{
    (void)state;
    struct bk_prom p;
    bk_prom_init(&p);
    bk_prom_family(&p, "t_total", "counter", "A \\ and a\nnewline \"kept\".");
    struct bk_prom_label l[] = { { "topic", "a\"b\\c\nd" }, { "v", "1" } };
    bk_prom_u64(&p, "t_total", l, 2, 18446744073709551615ull);
    bk_prom_f64(&p, "g", NULL, 0, 0.25);
    assert_string_equal(p.buf,
                        "# HELP t_total A \\\\ and a\\nnewline \"kept\".\n"
                        "# TYPE t_total counter\n"
                        "t_total{topic=\"a\\\"b\\\\c\\nd\",v=\"1\"} "
                        "18446744073709551615\n"
                        "g 0.25\n");
    bk_prom_free(&p);
}

static void test_out_of_memory(void **state)
{
    (void)state;
    struct bk_prom p;
    bk_prom_init(&p);
    bk_heap_fault_config(0, 1);
    bk_prom_u64(&p, "a", NULL, 0, 1);
    bk_heap_fault_config(-1, 0);
    /* Sticky: later lines are dropped and the page is refused whole. */
    bk_prom_u64(&p, "b", NULL, 0, 2);
    assert_int_not_equal(p.err, 0);
    assert_int_equal(p.len, 0);
    bk_prom_free(&p);
}

static void test_counting_and_merge(void **state)
{
    (void)state;
    struct bk_metrics_shard *a = bk_metrics_shard_new();
    struct bk_metrics_shard *b = bk_metrics_shard_new();
    struct bk_metrics_shard *sum = bk_metrics_shard_new();
    assert_non_null(a);
    assert_non_null(b);
    assert_non_null(sum);
    bk_mx_request(a, 0, 9);
    bk_mx_request(b, 0, 9);
    bk_mx_request(b, 0, BK_MX_VERSIONS); /* out of range: ignored */
    bk_mx_request(b, -1, 0);
    bk_mx_error(a, 1, 6);
    bk_mx_error(a, 1, 0);  /* no error: not counted */
    bk_mx_error(a, 1, -1); /* UNKNOWN_SERVER_ERROR folds into 0 */
    bk_mx_latency(a, 0, BK_MX_TOTAL, 300);
    bk_mx_latency(b, 0, BK_MX_TOTAL, 300);
    assert_int_equal(bk_ctr_get(&b->requests[0][9]), 1);
    assert_int_equal(bk_ctr_get(&a->errors[1][6]), 1);
    assert_int_equal(bk_ctr_get(&a->errors[1][0]), 1);
    bk_hist_merge(&sum->latency[0][BK_MX_TOTAL], &a->latency[0][BK_MX_TOTAL]);
    bk_hist_merge(&sum->latency[0][BK_MX_TOTAL], &b->latency[0][BK_MX_TOTAL]);
    uint64_t cum[BK_HIST_MAX_BOUNDS + 1], s;
    bk_hist_read(&sum->latency[0][BK_MX_TOTAL], &bk_hist_latency_us, cum, &s);
    assert_int_equal(cum[1], 0);
    assert_int_equal(cum[2], 2); /* <= 500 us */
    assert_int_equal(s, 600);
    bk_metrics_shard_free(a);
    bk_metrics_shard_free(b);
    bk_metrics_shard_free(sum);
}

static void test_topic_table(void **state)
{
    (void)state;
    struct bk_metrics_shard *m = bk_metrics_shard_new();
    assert_non_null(m);
    uint8_t id[16];
    /* Ids that all hash to one slot: probing must keep them apart. */
    for (unsigned i = 0; i < BK_MX_TOPICS; i++) {
        memset(id, 0, sizeof(id));
        id[8] = (uint8_t)i;
        id[9] = (uint8_t)(i >> 8);
        bk_mx_topic_in(m, id, 10, 2);
    }
    memset(id, 0, sizeof(id));
    bk_mx_topic_in(m, id, 5, 1); /* the first again */
    id[10] = 1;
    bk_mx_topic_in(m, id, 7, 1); /* one too many: the overflow entry */
    bk_mx_topic_out(m, id, 3, 1);
    memset(id, 0, sizeof(id));
    struct bk_mx_topic *t = bk_mx_topic(m, id);
    assert_int_equal(bk_ctr_get(&t->bytes_in), 15);
    assert_int_equal(bk_ctr_get(&t->records_in), 3);
    assert_int_equal(bk_ctr_get(&m->other.bytes_in), 7);
    assert_int_equal(bk_ctr_get(&m->other.bytes_out), 3);
    bk_mx_topic_in(NULL, id, 1, 1); /* no block: nothing, no crash */
    bk_metrics_shard_free(m);
}

static void test_batch_records(void **state)
{
    (void)state;
    uint8_t batch[61];
    memset(batch, 0, sizeof(batch));
    batch[57] = 0;
    batch[58] = 1;
    batch[59] = 0;
    batch[60] = 3; /* 65539 records, big-endian */
    assert_int_equal(bk_mx_batch_records(batch, sizeof(batch)), 65539);
    assert_int_equal(bk_mx_batch_records(batch, 60), 0);
    batch[57] = 0x80; /* negative: not a count */
    assert_int_equal(bk_mx_batch_records(batch, sizeof(batch)), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bucket_placement),
        cmocka_unit_test(test_hist_exposition),
        cmocka_unit_test(test_seconds_scale),
        cmocka_unit_test(test_escaping),
        cmocka_unit_test(test_out_of_memory),
        cmocka_unit_test(test_counting_and_merge),
        cmocka_unit_test(test_topic_table),
        cmocka_unit_test(test_batch_records),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
