/* test_dtypes: the model run with bf16, f16 and int8 weights and f16/bf16
 * KV caches. Exactness: each low-precision path equals the float32 path run
 * on the dequantized weights (within 1e-4). Accuracy against the float32
 * model is measured and printed (max abs, mean abs, top-1 agreement), with
 * loose bounds only. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../kernels/gemm_lowp.h"
#include "../kernels/kernels.h"
#include "../model/forward.h"
#include "../model/weights.h"
#include "test_support.h"

static ts_reference g_ref;

static int setup(void **state) {
    (void)state;
    threads_init(2);
    return ts_reference_load(&g_ref);
}

static int teardown(void **state) {
    (void)state;
    ts_reference_free(&g_ref);
    return 0;
}

/* logits: (B, T, V) of the reference's three sequences, all positions by
 * prefill. */
static float *run_logits(const gpt2_model *m, wdtype kv_dt) {
    const int B = 3, T = 12, V = m->cfg.vocab;
    gpt2_state s;
    status_t st;
    assert_int_equal(gpt2_state_init_kv(&s, &m->cfg, B, T, T, kv_dt, &st), ST_OK);
    float *logits = malloc((size_t)B * T * V * sizeof(float));
    assert_int_equal(gpt2_forward(m, &s, g_ref.tokens, T, logits, LOGITS_ALL, &st), ST_OK);
    gpt2_state_free(&s);
    return logits;
}

static void compare(const char *what, const float *a, const float *ref, int rows, int V, double *max_abs,
                    double *top1) {
    double mx = 0, sum = 0;
    int agree = 0;
    for (int r = 0; r < rows; r++) {
        const float *x = a + (size_t)r * V, *y = ref + (size_t)r * V;
        for (int v = 0; v < V; v++) {
            double e = fabs((double)x[v] - y[v]);
            mx = e > mx ? e : mx;
            sum += e;
        }
        agree += argmax_f32(x, V) == argmax_f32(y, V);
    }
    *max_abs = mx;
    *top1 = (double)agree / rows;
    print_message("  %-26s max abs %.3g, mean abs %.3g, top-1 agreement %.3f\n", what, mx, sum / ((double)rows * V),
                  *top1);
}

/* dq: a float32 model whose layer matrices and LM head are the values the
 * packed low-precision kernel multiplies by; everything else shared. */
static float **make_dequantized(const gpt2_model *m, gpt2_model *dq, int *n_bufs) {
    const int d = m->cfg.n_embd, L = m->cfg.n_layer, V = m->cfg.vocab;
    *dq = *m;
    dq->packed = NULL;
    dq->owned = NULL;
    dq->n_owned = 0;
    dq->has_file = 0;
    gpt2_layer *layers = malloc((size_t)L * sizeof *layers);
    float **bufs = calloc((size_t)(4 * L + 2), sizeof *bufs);
    int nb = 0;
    for (int l = 0; l < L; l++) {
        layers[l] = m->layers[l];
        const packed_lw *p[4] = {&m->packed[l].qkv, &m->packed[l].attn_proj, &m->packed[l].fc, &m->packed[l].fc_proj};
        const float **dst[4] = {&layers[l].qkv_w, &layers[l].attn_proj_w, &layers[l].fc_w, &layers[l].fc_proj_w};
        for (int i = 0; i < 4; i++) {
            float *w = malloc((size_t)p[i]->K * p[i]->N * sizeof(float));
            packed_lw_dequant_kn(p[i], w);
            bufs[nb++] = w;
            *dst[i] = w;
        }
    }
    float *kn = malloc((size_t)d * V * sizeof(float)), *nk = malloc((size_t)V * d * sizeof(float));
    packed_lw_dequant_kn(&m->lm_head_packed, kn); /* (d, V) */
    for (int k = 0; k < d; k++)
        for (int v = 0; v < V; v++) nk[(size_t)v * d + k] = kn[(size_t)k * V + v];
    free(kn);
    bufs[nb++] = nk;
    dq->lm_head = nk;
    dq->lm_head_tied = 0;
    dq->layers = layers;
    *n_bufs = nb;
    return bufs;
}

static void check_dtype(wdtype dt, double top1_min) {
    status_t st;
    gpt2_model f32, m;
    assert_int_equal(gpt2_load(&f32, TS_FIXTURE_DIR, &st), ST_OK);
    assert_int_equal(gpt2_load(&m, TS_FIXTURE_DIR, &st), ST_OK);
    assert_int_equal(gpt2_pack_dtype(&m, dt, &st), ST_OK);
    const int V = m.cfg.vocab, rows = 3 * 12;
    float *ref = run_logits(&f32, WDT_F32), *got = run_logits(&m, WDT_F32);
    gpt2_model dq;
    int nb;
    float **bufs = make_dequantized(&m, &dq, &nb);
    float *exact = run_logits(&dq, WDT_F32);
    double mx, top1;
    char what[64];
    snprintf(what, sizeof what, "%s vs dequantized f32", wdtype_name(dt));
    compare(what, got, exact, rows, V, &mx, &top1);
    assert_true(mx <= 1e-4);
    snprintf(what, sizeof what, "%s vs f32 model", wdtype_name(dt));
    compare(what, got, ref, rows, V, &mx, &top1);
    assert_true(top1 >= top1_min);
    for (int i = 0; i < rows * V; i++) assert_true(isfinite(got[i]));
    for (int i = 0; i < nb; i++) free(bufs[i]);
    free(bufs);
    free((void *)dq.layers);
    free(ref);
    free(got);
    free(exact);
    gpt2_free(&m);
    gpt2_free(&f32);
}

static void test_bf16(void **state) { (void)state; check_dtype(WDT_BF16, 0.9); }
static void test_f16(void **state) { (void)state; check_dtype(WDT_F16, 0.9); }
static void test_int8(void **state) { (void)state; check_dtype(WDT_INT8, 0.8); }

static void test_f32_packed_is_exact(void **state) {
    (void)state;
    check_dtype(WDT_F32, 1.0);
}

static void test_kv_half(void **state) {
    (void)state;
    status_t st;
    gpt2_model m;
    assert_int_equal(gpt2_load(&m, TS_FIXTURE_DIR, &st), ST_OK);
    const int V = m.cfg.vocab, rows = 3 * 12;
    float *ref = run_logits(&m, WDT_F32);
    const wdtype kvs[2] = {WDT_F16, WDT_BF16};
    for (int i = 0; i < 2; i++) {
        float *got = run_logits(&m, kvs[i]);
        double mx, top1;
        char what[64];
        snprintf(what, sizeof what, "%s KV cache vs f32 KV", wdtype_name(kvs[i]));
        compare(what, got, ref, rows, V, &mx, &top1);
        /* half a unit in the last place of every cached value: small */
        assert_true(mx < (kvs[i] == WDT_F16 ? 1e-3 : 1e-2));
        assert_true(top1 >= 0.9);
        free(got);
    }
    free(ref);
    gpt2_free(&m);
}

static void test_pack_twice_and_refusals(void **state) {
    (void)state;
    status_t st;
    gpt2_model m;
    assert_int_equal(gpt2_load(&m, TS_FIXTURE_DIR, &st), ST_OK);
    assert_int_equal(gpt2_pack_dtype(&m, WDT_BF16, &st), ST_OK);
    assert_int_equal(gpt2_pack_dtype(&m, WDT_BF16, &st), ST_OK);
    assert_int_equal(gpt2_pack_dtype(&m, WDT_INT8, &st), ST_RUNTIME);
    gpt2_free(&m);
    gpt2_state s;
    gpt2_config c;
    assert_int_equal(config_by_name("gpt2", &c, &st), ST_OK);
    assert_int_equal(gpt2_state_init_kv(&s, &c, 1, 1, 8, WDT_INT8, &st), ST_BAD_INPUT);
    assert_non_null(strstr(st.msg, "f16"));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_f32_packed_is_exact), cmocka_unit_test(test_bf16), cmocka_unit_test(test_f16),
        cmocka_unit_test(test_int8), cmocka_unit_test(test_kv_half), cmocka_unit_test(test_pack_twice_and_refusals),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
