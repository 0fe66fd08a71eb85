/* The analytic model against the numbers in the docs (analytic-model.md),
 * and the statistics of repeated timings. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <math.h>

#include "../bench/roofline.h"
#include "../bench/stats.h"

static gpt2_config named(const char *name) {
    gpt2_config c;
    status_t st;
    assert_int_equal(config_by_name(name, &c, &st), 0);
    return c;
}

static void test_param_counts(void **state) {
    (void)state;
    gpt2_config g = named("gpt2"), xl = named("gpt2-xl");
    assert_true(config_param_count(&g) == 124439808ull);
    assert_true(config_param_count(&xl) == 1557611200ull);
}

static void test_gpt2_weight_bytes(void **state) {
    (void)state;
    gpt2_config g = named("gpt2");
    step_cost c;
    roofline_decode_cost(&g, 1, 0, 4.0, 4.0, &c);
    /* "about 494.6 MB of weights read": L(12d^2+13d) + Vd + 2d floats */
    assert_true(c.weights_bytes == 4.0 * (12.0 * (12 * 768.0 * 768 + 13 * 768) + 50257.0 * 768 + 2 * 768));
    assert_true(fabs(c.weights_bytes / 1e6 - 494.6) < 0.05);
    assert_true(c.kv_read_bytes == 0);
    assert_true(c.kv_write_bytes == 1.0 * 12 * 2 * 768 * 4);
}

static void test_decode_terms(void **state) {
    (void)state;
    gpt2_config g = named("gpt2");
    step_cost c;
    const int B = 8, S = 512;
    roofline_decode_cost(&g, B, S, 4.0, 2.0, &c);
    assert_true(c.kv_read_bytes == (double)B * 12 * 2 * S * 768 * 2.0);
    assert_true(c.dense_flops == 2.0 * B * 12 * 12 * 768.0 * 768);
    assert_true(c.lm_head_flops == 2.0 * B * 50257.0 * 768);
    assert_true(c.attention_flops == 4.0 * B * 12 * S * 768.0);
    assert_true(fabs(c.total_bytes - (c.weights_bytes + c.kv_read_bytes + c.kv_write_bytes + c.act_bytes)) < 1);
    /* per-operator costs add up to the step's */
    double by = 0, fl = 0;
    for (int op = 0; op < OP_COUNT; op++) {
        double b, f;
        roofline_decode_op_cost(&g, B, S, 4.0, 2.0, (gpt2_op)op, &b, &f);
        assert_true(b >= 0 && f >= 0);
        by += b;
        fl += f;
    }
    assert_true(fabs(by - c.total_bytes) / c.total_bytes < 1e-9);
    assert_true(fabs(fl - c.total_flops) / c.total_flops < 1e-9);
}

static void test_xl_prefill_flops(void **state) {
    (void)state;
    gpt2_config xl = named("gpt2-xl");
    /* dense layers over 1024 tokens: 2 T L (4d^2 + 2 d 4d) = 3.02 TFLOP */
    step_cost c;
    roofline_prefill_cost(&xl, 1, 1024, 4.0, 1, 0, &c);
    assert_true(fabs(c.dense_flops / 1e12 - 3.02) < 0.005);
    /* 16,384 tokens, full attention 2(2 T^2 d) per layer, logits 2 T d V:
     * 133.42 TFLOP, dense 36.2%, attention 61.8% */
    roofline_prefill_cost(&xl, 1, 16384, 4.0, 1, 0, &c);
    double total = c.dense_flops + c.attention_flops + c.lm_head_flops;
    assert_true(fabs(total / 1e12 - 133.42) < 0.005);
    assert_true(fabs(100 * c.dense_flops / total - 36.2) < 0.05);
    assert_true(fabs(100 * c.attention_flops / total - 61.8) < 0.05);
    /* the causal half */
    step_cost h;
    roofline_prefill_cost(&xl, 1, 16384, 4.0, 1, 1, &h);
    assert_true(fabs(h.attention_flops * 2 - c.attention_flops) < 1);
}

static void test_predict_and_crossover(void **state) {
    (void)state;
    gpt2_config g = named("gpt2");
    roof_ceilings roof = {55.0, 436.0};
    step_cost c;
    roof_prediction p;
    roofline_decode_cost(&g, 1, 0, 4.0, 4.0, &c);
    roofline_predict(&c, 1, &roof, &p);
    assert_false(p.compute_bound);
    assert_true(fabs(p.t_s - c.total_bytes / 55e9) < 1e-15);
    assert_true(fabs(p.tok_s - 1.0 / p.t_s) < 1e-9);
    assert_true(fabs(p.ridge - 436.0 / 55.0) < 1e-12);
    /* f32, small S: intensity about B/2, so compute-bound near B = 2 x ridge ~ 15-16 */
    int cross = roofline_crossover_batch(&g, 1, 4.0, 4.0, &roof);
    assert_true(cross >= 14 && cross <= 17);
    roofline_decode_cost(&g, cross, 1, 4.0, 4.0, &c);
    roofline_predict(&c, cross, &roof, &p);
    assert_true(p.compute_bound);
    roofline_decode_cost(&g, cross - 1, 1, 4.0, 4.0, &c);
    roofline_predict(&c, cross - 1, &roof, &p);
    assert_false(p.compute_bound);
    /* at long context the KV cache keeps decode memory-bound for any batch */
    assert_int_equal(roofline_crossover_batch(&g, 1024 * 64, 4.0, 4.0, &roof), 0);
}

static void test_stats(void **state) {
    (void)state;
    const double x[] = {5, 1, 4, 2, 3};
    stats_summary s;
    stats_summarize(x, 5, &s);
    assert_int_equal(s.n, 5);
    assert_true(s.median == 3 && s.min == 1 && s.max == 5 && s.mean == 3);
    assert_true(fabs(s.stddev - sqrt(2.5)) < 1e-12);
    assert_true(fabs(s.cv - sqrt(2.5) / 3) < 1e-12);
    const double y[] = {4, 1, 3, 2};
    stats_summarize(y, 4, &s);
    assert_true(s.median == 2.5);
    const double one[] = {7};
    stats_summarize(one, 1, &s);
    assert_true(s.median == 7 && s.stddev == 0 && s.cv == 0);
}

/* stats_median: odd and even counts, in place, nothing for n < 1 */
static void test_stats_median(void **state) {
    (void)state;
    double a[] = {5, 1, 4, 2, 3}, b[] = {4, 1, 3, 2}, c[] = {7};
    assert_true(stats_median(a, 5) == 3);
    assert_true(a[0] == 1 && a[4] == 5); /* sorted in place */
    assert_true(stats_median(b, 4) == 2.5);
    assert_true(stats_median(c, 1) == 7);
    assert_true(stats_median(c, 0) == 0);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_param_counts),   cmocka_unit_test(test_gpt2_weight_bytes),
        cmocka_unit_test(test_decode_terms),   cmocka_unit_test(test_xl_prefill_flops),
        cmocka_unit_test(test_predict_and_crossover), cmocka_unit_test(test_stats),
        cmocka_unit_test(test_stats_median),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
