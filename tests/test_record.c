/* record_compute: the figures of one decode record from made-up inputs
 * (no model weights, no timing): the roofline at the machine file's
 * ceilings and at the probe of the minute, including the FMA-rate
 * fallback when the probe measured bandwidth only. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <math.h>
#include <string.h>

#include "../bench/record.h"

typedef struct {
    gpt2_model model;
    record_machine machine;
    decode_result res;
    record_probe probe;
    record_input in;
} fixture;

/* gpt2 shapes, B = 8, S = 128, a 20 ms median step; ceilings 30 GB/s and
 * 190 GFLOP/s; a probe of 25 GB/s before, 35 after, FMA 150 and 170. */
static void make(fixture *fx) {
    memset(fx, 0, sizeof *fx);
    status_t st;
    assert_int_equal(config_by_name("gpt2", &fx->model.cfg, &st), 0);
    fx->machine.read_gbs = 30.0;
    fx->machine.peak_gflops = 190.0;
    fx->res.req.batch = 8;
    fx->res.req.context = 128;
    fx->res.ns.median = fx->res.ns.min = fx->res.ns.max = 20e6;
    for (int op = 0; op < OP_COUNT; op++) fx->res.prof.ns[op] = 1e6 * (op + 1);
    fx->probe = (record_probe){.before_gbs = 25.0, .after_gbs = 35.0, .bytes = 1 << 20, .before_gflops = 150.0,
                               .after_gflops = 170.0};
    fx->in = (record_input){.model = &fx->model, .dtype = "f32", .kv_dtype = "f32", .q_bytes = 4, .qkv_bytes = 4,
                            .threads = 2, .machine = &fx->machine, .res = &fx->res, .probe = &fx->probe};
}

static double roof_tok_s(const record_figures *f, int B, double gbs, double gflops) {
    const double mem_s = f->cost.total_bytes / (gbs * 1e9), cmp_s = f->cost.total_flops / (gflops * 1e9);
    return B / (mem_s > cmp_s ? mem_s : cmp_s);
}

static void test_machine_roofline(void **state) {
    (void)state;
    fixture fx;
    make(&fx);
    record_figures f;
    record_compute(&fx.in, &f);
    assert_true(fabs(f.tok_s - 8 / 0.020) < 1e-9);
    assert_true(fabs(f.pred.tok_s - roof_tok_s(&f, 8, 30.0, 190.0)) < 1e-9 * f.pred.tok_s);
    assert_true(fabs(f.efficiency - f.tok_s / f.pred.tok_s) < 1e-12);
    /* the per-operator times: each profile share of the median step */
    double sum = 0;
    for (int op = 0; op < OP_COUNT; op++) sum += f.op_ns[op];
    assert_true(fabs(sum - 20e6) < 1e-3);
    assert_true(fabs(f.op_ns[OP_OTHER] / f.op_ns[OP_QKV] - (OP_OTHER + 1)) < 1e-9);
    assert_true(fabs(f.op_ns[OP_ARGMAX] / f.op_ns[OP_QKV] - (OP_ARGMAX + 1)) < 1e-9);
}

static void test_probe_both_ceilings(void **state) {
    (void)state;
    fixture fx;
    make(&fx);
    record_figures f;
    record_compute(&fx.in, &f);
    assert_true(f.probe_ok);
    assert_true(fabs(f.probe_gbs - 30.0) < 1e-12);    /* (25 + 35) / 2 */
    assert_true(fabs(f.probe_gflops - 160.0) < 1e-12); /* (150 + 170) / 2 */
    assert_true(fabs(f.probe_pred.tok_s - roof_tok_s(&f, 8, 30.0, 160.0)) < 1e-9 * f.probe_pred.tok_s);
    assert_true(fabs(f.efficiency_probe - f.tok_s / f.probe_pred.tok_s) < 1e-12);
}

/* an FMA rate not probed (either side <= 0): the machine file's peak */
static void test_probe_fma_fallback(void **state) {
    (void)state;
    const double sides[][2] = {{0, 0}, {150.0, 0}, {0, 170.0}, {-1, 170.0}};
    for (size_t i = 0; i < sizeof sides / sizeof sides[0]; i++) {
        fixture fx;
        make(&fx);
        fx.probe.before_gflops = sides[i][0];
        fx.probe.after_gflops = sides[i][1];
        record_figures f;
        record_compute(&fx.in, &f);
        assert_true(f.probe_ok);
        assert_true(fabs(f.probe_gflops - 190.0) < 1e-12);
        assert_true(fabs(f.probe_pred.tok_s - roof_tok_s(&f, 8, 30.0, 190.0)) < 1e-9 * f.probe_pred.tok_s);
    }
}

/* a failed bandwidth probe (either side <= 0), or none: no probe figures */
static void test_probe_failed_or_absent(void **state) {
    (void)state;
    for (int i = 0; i < 3; i++) {
        fixture fx;
        make(&fx);
        if (i == 0) fx.probe.before_gbs = 0;
        if (i == 1) fx.probe.after_gbs = -1;
        if (i == 2) fx.in.probe = NULL;
        record_figures f;
        record_compute(&fx.in, &f);
        assert_false(f.probe_ok);
        assert_true(f.efficiency_probe == 0);
        cJSON *o = record_json(&fx.in, &f);
        assert_non_null(o);
        assert_null(cJSON_GetObjectItemCaseSensitive(o, "probe"));
        assert_null(cJSON_GetObjectItemCaseSensitive(o, "efficiency_probe"));
        cJSON_Delete(o);
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_machine_roofline),
        cmocka_unit_test(test_probe_both_ceilings),
        cmocka_unit_test(test_probe_fma_fallback),
        cmocka_unit_test(test_probe_failed_or_absent),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
