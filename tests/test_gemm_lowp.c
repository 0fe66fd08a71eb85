/* test_gemm_lowp: the low-precision weight GEMM (kernels/gemm_lowp.h) on
 * every dtype and path against a naive twin (dequantize, then a double-
 * precision matmul) on odd shapes; exactness against the float32 packed
 * kernel run on the dequantized weights; int8 quantization error; the
 * half-precision KV-cache attention; the f32 -> f16/bf16 converters. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../kernels/gemm_lowp.h"
#include "../kernels/gemm_packed.h"
#include "../kernels/kernels.h"
#include "../kernels/naive.h"
#include "test_support.h"

static const wdtype DTS[] = {WDT_F32, WDT_BF16, WDT_F16, WDT_INT8};
#define N_DTS 4

static int group_setup(void **state) {
    (void)state;
    return threads_init(2) == 2 ? 0 : -1;
}

static void *xmalloc(size_t n) {
    void *p = malloc(n ? n : 1);
    assert_non_null(p);
    return p;
}

static float *fmalloc(size_t n) { return xmalloc(n * sizeof(float)); }

/* The naive twin: y = x @ w + b in double; bound[i] = sum |x||w| + |b|,
 * the scale against which a float32 result's error is relative. */
static void naive_ref(double *y, double *bound, const float *x, const float *w, const float *b, int M, int K,
                      int N) {
    for (int m = 0; m < M; m++)
        for (int n = 0; n < N; n++) {
            double acc = b ? b[n] : 0.0, mag = b ? fabs(b[n]) : 0.0;
            for (int k = 0; k < K; k++) {
                const double p = (double)x[(size_t)m * K + k] * w[(size_t)k * N + n];
                acc += p;
                mag += fabs(p);
            }
            y[(size_t)m * N + n] = acc;
            bound[(size_t)m * N + n] = mag;
        }
}

/* Largest |y - ref| / (1 + bound) over the matrix. */
static double rel_err(const float *y, const double *ref, const double *bound, size_t n) {
    double worst = 0;
    for (size_t i = 0; i < n; i++) {
        double e = fabs((double)y[i] - ref[i]) / (1.0 + bound[i]);
        if (!(e <= worst)) worst = e;
    }
    return worst;
}

static void test_wdtype_helpers(void **state) {
    (void)state;
    const char *names[] = {"f32", "bf16", "f16", "int8"};
    const size_t bytes[] = {4, 2, 2, 1};
    for (int i = 0; i < N_DTS; i++) {
        wdtype d;
        assert_string_equal(wdtype_name(DTS[i]), names[i]);
        assert_int_equal(wdtype_parse(names[i], &d), 0);
        assert_int_equal(d, DTS[i]);
        assert_int_equal(wdtype_bytes(DTS[i]), bytes[i]);
        assert_true(packed_lw_bytes(65, 17, DTS[i]) == 65 * 32 * bytes[i]);
    }
    wdtype d;
    assert_int_equal(wdtype_parse("bfloat16", &d), 0);
    assert_int_equal(d, WDT_BF16);
    assert_int_equal(wdtype_parse("int4", &d), -1);
    assert_int_equal(wdtype_parse("", &d), -1);
}

/* Every dtype and path, packed from (K, N) and from (N, K), against the
 * naive twin on the dequantized weights. */
static void test_linear_lw_naive(void **state) {
    (void)state;
    const int Ms[] = {1, 2, 3, 4, 7, 13}, Ks[] = {1, 3, 65, 769}, Ns[] = {1, 3, 17, 65, 769};
    gemm_path ps[3];
    const int np = ts_gemm_paths(ps);
    const gemm_path old = gemm_path_current();
    for (int pi = 0; pi < np; pi++) {
        gemm_path_force(ps[pi]);
        for (int di = 0; di < N_DTS; di++) {
            const wdtype dt = DTS[di];
            double worst = 0;
            for (int ki = 0; ki < 4; ki++)
                for (int ni = 0; ni < 5; ni++) {
                    const int K = Ks[ki], N = Ns[ni];
                    float *w = fmalloc((size_t)K * N), *wt = fmalloc((size_t)K * N), *b = fmalloc(N);
                    float *dq = fmalloc((size_t)K * N), *dq2 = fmalloc((size_t)K * N);
                    ts_fill(w, (size_t)K * N, (uint64_t)(K * 131 + N + di), -1, 1);
                    for (int k = 0; k < K; k++)
                        for (int n = 0; n < N; n++) wt[(size_t)n * K + k] = w[(size_t)k * N + n];
                    ts_fill(b, N, (uint64_t)(K + N * 7), -1, 1);
                    packed_lw pkn, pnk;
                    assert_int_equal(packed_lw_from_kn(&pkn, w, K, N, dt), 0);
                    assert_int_equal(packed_lw_from_nk(&pnk, wt, K, N, dt), 0);
                    assert_int_equal(pkn.Np % GEMM_NR, 0);
                    assert_true(pkn.Np >= N && pkn.Np < N + GEMM_NR);
                    assert_true(pkn.dt == dt);
                    assert_true((dt == WDT_INT8) == (pkn.scales != NULL));
                    /* both packings hold the same matrix */
                    assert_memory_equal(pkn.panels, pnk.panels, packed_lw_bytes(K, N, dt));
                    packed_lw_dequant_kn(&pkn, dq);
                    packed_lw_dequant_kn(&pnk, dq2);
                    assert_memory_equal(dq, dq2, (size_t)K * N * sizeof(float));
                    for (int mi = 0; mi < (int)(sizeof Ms / sizeof Ms[0]); mi++) {
                        const int M = Ms[mi];
                        float *x = fmalloc((size_t)M * K), *y = fmalloc((size_t)M * N + 1);
                        double *ref = xmalloc((size_t)M * N * sizeof(double));
                        double *bound = xmalloc((size_t)M * N * sizeof(double));
                        ts_fill(x, (size_t)M * K, (uint64_t)(M * 1000 + K + N), -1, 1);
                        for (int with_b = 0; with_b < 2; with_b++) {
                            const packed_lw *pw = with_b ? &pkn : &pnk;
                            ts_fill(y, (size_t)M * N, 77, 1e6f, 1e7f);
                            y[(size_t)M * N] = -55.0f; /* sentinel */
                            linear_lw(y, x, pw, with_b ? b : NULL, M);
                            naive_ref(ref, bound, x, dq, with_b ? b : NULL, M, K, N);
                            assert_float_equal(y[(size_t)M * N], -55.0f, 0);
                            double err = rel_err(y, ref, bound, (size_t)M * N);
                            if (!(err <= worst)) worst = err;
                            if (!(err <= 1e-4))
                                fail_msg("linear_lw %s (%s) M=%d K=%d N=%d bias=%d: relative error %g",
                                         wdtype_name(dt), gemm_path_name(ps[pi]), M, K, N, with_b, err);
                        }
                        free(x); free(y); free(ref); free(bound);
                    }
                    packed_lw_free(&pkn);
                    packed_lw_free(&pnk);
                    assert_null(pkn.panels);
                    free(w); free(wt); free(b); free(dq); free(dq2);
                }
            print_message("linear_lw %-4s (%s): max relative error %.3g\n", wdtype_name(dt),
                          gemm_path_name(ps[pi]), worst);
        }
    }
    gemm_path_force(old);
}

/* Exactness: each low-precision path equals the float32 packed kernel run
 * on packed_lw_dequant_kn's output within 1e-4 (relative). */
static void test_linear_lw_exact(void **state) {
    (void)state;
    const int Ms[] = {1, 2, 6, 7, 13, 64}, Ks[] = {3, 65, 768}, Ns[] = {17, 65, 769};
    gemm_path ps[3];
    const int np = ts_gemm_paths(ps);
    const gemm_path old = gemm_path_current();
    for (int pi = 0; pi < np; pi++) {
        gemm_path_force(ps[pi]);
        for (int di = 1; di < N_DTS; di++) {
            const wdtype dt = DTS[di];
            double worst = 0;
            for (int ki = 0; ki < 3; ki++)
                for (int ni = 0; ni < 3; ni++) {
                    const int K = Ks[ki], N = Ns[ni];
                    float *w = fmalloc((size_t)K * N), *dq = fmalloc((size_t)K * N), *b = fmalloc(N);
                    ts_fill(w, (size_t)K * N, (uint64_t)(K * 7 + N * 3 + di), -0.1f, 0.1f);
                    ts_fill(b, N, 5, -1, 1);
                    packed_lw p;
                    packed_w pf;
                    assert_int_equal(packed_lw_from_kn(&p, w, K, N, dt), 0);
                    packed_lw_dequant_kn(&p, dq);
                    assert_int_equal(packed_from_kn(&pf, dq, K, N), 0);
                    for (int mi = 0; mi < 6; mi++) {
                        const int M = Ms[mi];
                        float *x = fmalloc((size_t)M * K), *y = fmalloc((size_t)M * N), *yf = fmalloc((size_t)M * N);
                        double *ref = xmalloc((size_t)M * N * sizeof(double)), *bound = xmalloc((size_t)M * N * sizeof(double));
                        ts_fill(x, (size_t)M * K, (uint64_t)(M + K + N), -2, 2);
                        linear_lw(y, x, &p, b, M);
                        linear_packed_f32(yf, x, &pf, b, M);
                        /* the float32 kernel's own result as the reference, with the naive bound */
                        naive_ref(ref, bound, x, dq, b, M, K, N);
                        for (size_t i = 0; i < (size_t)M * N; i++) ref[i] = yf[i];
                        double err = rel_err(y, ref, bound, (size_t)M * N);
                        if (!(err <= worst)) worst = err;
                        if (!(err <= 1e-4))
                            fail_msg("linear_lw %s (%s) vs f32 on dequantized M=%d K=%d N=%d: relative error %g",
                                     wdtype_name(dt), gemm_path_name(ps[pi]), M, K, N, err);
                        free(x); free(y); free(yf); free(ref); free(bound);
                    }
                    packed_lw_free(&p);
                    packed_free(&pf);
                    free(w); free(dq); free(b);
                }
            print_message("exactness %-4s (%s): max relative difference to f32 on dequantized %.3g\n",
                          wdtype_name(dt), gemm_path_name(ps[pi]), worst);
        }
    }
    gemm_path_force(old);
}

/* int8: scale = max|w| / 127 per output channel, |w - dq| <= scale / 2, a
 * zero column has scale 0; the stored-int8 constructors reproduce the
 * packing from float exactly; non-finite weights are refused. */
static void test_int8_quantization(void **state) {
    (void)state;
    const int K = 769, N = 67;
    float *w = fmalloc((size_t)K * N), *wt = fmalloc((size_t)K * N), *dq = fmalloc((size_t)K * N);
    int8_t *q = xmalloc((size_t)K * N), *qt = xmalloc((size_t)K * N);
    float *s = fmalloc(N), *st = fmalloc(N);
    ts_fill(w, (size_t)K * N, 99, -0.3f, 0.3f);
    for (int k = 0; k < K; k++) {
        w[(size_t)k * N + 5] = 0.0f;                       /* a zero column */
        w[(size_t)k * N + 6] = (k % 2 ? 1e-30f : -1e-30f); /* a tiny one */
        w[(size_t)k * N + 7] *= 1000.0f;                   /* a large one */
    }
    for (int k = 0; k < K; k++)
        for (int n = 0; n < N; n++) wt[(size_t)n * K + k] = w[(size_t)k * N + n];
    packed_lw p;
    assert_int_equal(packed_lw_from_kn(&p, w, K, N, WDT_INT8), 0);
    packed_lw_dequant_kn(&p, dq);
    double worst = 0;
    for (int n = 0; n < N; n++) {
        float mx = 0;
        for (int k = 0; k < K; k++) mx = fmaxf(mx, fabsf(w[(size_t)k * N + n]));
        assert_float_equal(p.scales[n], mx / 127.0f, mx * 1e-6f);
        for (int k = 0; k < K; k++) {
            double e = fabs((double)w[(size_t)k * N + n] - dq[(size_t)k * N + n]);
            if (p.scales[n] > 0 && e / p.scales[n] > worst) worst = e / p.scales[n];
            if (e > p.scales[n] * 0.5 * (1 + 1e-6))
                fail_msg("int8 column %d row %d: |w - dq| = %g > scale/2 = %g", n, k, e, p.scales[n] / 2);
        }
    }
    assert_true(p.scales[5] == 0.0f);
    for (int k = 0; k < K; k++) assert_true(dq[(size_t)k * N + 5] == 0.0f);
    for (int n = N; n < p.Np; n++) assert_true(p.scales[n] == 0.0f);
    print_message("int8: max |w - dq| / scale = %.4f (bound 0.5)\n", worst);
    /* the converter's quantization, stored and repacked, is the same packing */
    assert_int_equal(lw_quantize_i8_kn(w, K, N, q, s), 0);
    assert_int_equal(lw_quantize_i8_nk(wt, K, N, qt, st), 0);
    assert_memory_equal(s, st, (size_t)N * sizeof(float));
    packed_lw a, c;
    assert_int_equal(packed_lw_from_kn_i8(&a, q, s, K, N), 0);
    assert_int_equal(packed_lw_from_nk_i8(&c, qt, st, K, N), 0);
    assert_memory_equal(a.panels, p.panels, packed_lw_bytes(K, N, WDT_INT8));
    assert_memory_equal(c.panels, p.panels, packed_lw_bytes(K, N, WDT_INT8));
    assert_memory_equal(a.scales, p.scales, (size_t)p.Np * sizeof(float));
    assert_memory_equal(c.scales, p.scales, (size_t)p.Np * sizeof(float));
    for (size_t i = 0; i < (size_t)K * N; i++) assert_true(q[i] >= -127 && q[i] <= 127);
    packed_lw_free(&a);
    packed_lw_free(&c);
    packed_lw_free(&p);
    /* non-finite: refused */
    w[3] = NAN;
    assert_int_equal(packed_lw_from_kn(&p, w, K, N, WDT_INT8), -2);
    assert_null(p.panels);
    assert_int_equal(lw_quantize_i8_kn(w, K, N, q, s), -2);
    w[3] = INFINITY;
    assert_int_equal(lw_quantize_i8_kn(w, K, N, q, s), -2);
    free(w); free(wt); free(dq); free(q); free(qt); free(s); free(st);
}

/* bf16/f16: packing rounds to nearest even (as the converters); values
 * already in the dtype survive exactly; raw bits pack as they are. */
static void test_half_packing(void **state) {
    (void)state;
    const int K = 65, N = 19;
    float *w = fmalloc((size_t)K * N), *dq = fmalloc((size_t)K * N), *dq2 = fmalloc((size_t)K * N);
    uint16_t *h = xmalloc((size_t)K * N * 2), *ht = xmalloc((size_t)K * N * 2);
    ts_fill(w, (size_t)K * N, 4, -3, 3);
    for (int di = 1; di <= 2; di++) {
        const wdtype dt = DTS[di];
        packed_lw p, p2, p3;
        assert_int_equal(packed_lw_from_kn(&p, w, K, N, dt), 0);
        packed_lw_dequant_kn(&p, dq);
        for (size_t i = 0; i < (size_t)K * N; i++) {
            const uint16_t bits = dt == WDT_BF16 ? ts_f32_to_bf16(w[i]) : ts_f32_to_f16(w[i]);
            h[i] = bits;
            assert_true(dq[i] == (dt == WDT_BF16 ? st_bf16_to_f32(bits) : st_f16_to_f32(bits)));
        }
        /* already representable: exact */
        assert_int_equal(packed_lw_from_kn(&p2, dq, K, N, dt), 0);
        packed_lw_dequant_kn(&p2, dq2);
        assert_memory_equal(dq, dq2, (size_t)K * N * sizeof(float));
        /* raw bits, (K, N) and (N, K) */
        assert_int_equal(packed_lw_from_kn_h(&p3, h, K, N, dt), 0);
        assert_memory_equal(p3.panels, p.panels, packed_lw_bytes(K, N, dt));
        packed_lw_free(&p3);
        for (int k = 0; k < K; k++)
            for (int n = 0; n < N; n++) ht[(size_t)n * K + k] = h[(size_t)k * N + n];
        assert_int_equal(packed_lw_from_nk_h(&p3, ht, K, N, dt), 0);
        assert_memory_equal(p3.panels, p.panels, packed_lw_bytes(K, N, dt));
        packed_lw_free(&p3);
        packed_lw_free(&p);
        packed_lw_free(&p2);
    }
    packed_lw p;
    assert_int_equal(packed_lw_from_kn_h(&p, h, K, N, WDT_INT8), -2);
    free(w); free(dq); free(dq2); free(h); free(ht);
}

/* ---- converters ---------------------------------------------------------- */

static float bits_f(uint32_t u) { return ts_bits_f32(u); }

/* Edge cases with their exact expected f16 and bf16 bits. */
static void test_cvt_edge_cases(void **state) {
    (void)state;
    const struct { float x; uint16_t f16, bf16; } C[] = {
        {0.0f, 0x0000, 0x0000},
        {-0.0f, 0x8000, 0x8000},
        {1.0f, 0x3c00, 0x3f80},
        {-2.5f, 0xc100, 0xc020},
        {65504.0f, 0x7bff, 0x4780},
        {0x1.ffdffep15f, 0x7bff, 0x4780},        /* just below the f16 rounding boundary */
        {65520.0f, 0x7c00, 0x4780},         /* overflows f16 to inf */
        {1e6f, 0x7c00, 0x4974},
        {-1e6f, 0xfc00, 0xc974},
        {INFINITY, 0x7c00, 0x7f80},
        {-INFINITY, 0xfc00, 0xff80},
        {0x1p-24f, 0x0001, 0x3380},    /* 2^-24: smallest f16 subnormal */
        {0x1p-25f, 0x0000, 0x3300},    /* 2^-25: a tie, to even (0) */
        {0x1.8p-25f, 0x0001, 0x3340},    /* 1.5 * 2^-25: rounds up */
        {0x1.8p-24f, 0x0002, 0x33c0},    /* 1.5 * 2^-24: a tie, to even (2) */
        {0x1.ff8p-15f, 0x03ff, 0x3880},    /* largest f16 subnormal */
        {0x1p-14f, 0x0400, 0x3880},    /* 2^-14: smallest f16 normal */
        {0x1.004p0f, 0x3c01, 0x3f80},       /* 1 + 2^-10 */
        {0x1.002p0f, 0x3c00, 0x3f80},   /* 1 + 2^-11: a tie, to even (down) */
        {0x1.006p0f, 0x3c02, 0x3f80},   /* 1 + 3 * 2^-11: a tie, to even (up) */
        {0x1.01p0f, 0x3c04, 0x3f80},      /* 1 + 2^-8: bf16 tie, to even (down) */
        {0x1.03p0f, 0x3c0c, 0x3f82},      /* 1 + 3 * 2^-8: bf16 tie, to even (up) */
        {1e-40f, 0x0000, 0x0001},           /* a float subnormal */
        {0x1.fffffep127f, 0x7c00, 0x7f80},    /* float max rounds to inf in bf16 */
    };
    const int nc = (int)(sizeof C / sizeof C[0]);
    gemm_path ps[3];
    const int np = ts_gemm_paths(ps);
    const gemm_path old = gemm_path_current();
    float src[32];
    uint16_t hf[32], hb[32];
    for (int i = 0; i < nc; i++) src[i] = C[i].x;
    for (int pi = 0; pi < np; pi++) {
        gemm_path_force(ps[pi]);
        cvt_f32_to_h(hf, src, (size_t)nc, WDT_F16);
        cvt_f32_to_h(hb, src, (size_t)nc, WDT_BF16);
        for (int i = 0; i < nc; i++) {
            if (hf[i] != C[i].f16)
                fail_msg("f16 (%s) of %.9g: 0x%04x, expected 0x%04x", gemm_path_name(ps[pi]), C[i].x, hf[i], C[i].f16);
            if (hb[i] != C[i].bf16)
                fail_msg("bf16 (%s) of %.9g: 0x%04x, expected 0x%04x", gemm_path_name(ps[pi]), C[i].x, hb[i],
                         C[i].bf16);
            assert_int_equal(lw_f32_to_f16(C[i].x), C[i].f16);
            assert_int_equal(lw_f32_to_bf16(C[i].x), C[i].bf16);
        }
        /* NaN stays NaN, quiet, sign kept, on both paths */
        float nans[9] = {NAN, -NAN, bits_f(0x7f800001u), bits_f(0xffc00001u), bits_f(0x7fbfffffu),
                         bits_f(0x7fc02000u), NAN, NAN, NAN};
        uint16_t nf[9], nb[9];
        cvt_f32_to_h(nf, nans, 9, WDT_F16);
        cvt_f32_to_h(nb, nans, 9, WDT_BF16);
        for (int i = 0; i < 9; i++) {
            assert_true(isnan(lw_f16_to_f32(nf[i])));
            assert_true(isnan(lw_bf16_to_f32(nb[i])));
            assert_true((nf[i] & 0x0200) && (nb[i] & 0x0040)); /* quiet */
            assert_int_equal(nf[i] >> 15, ts_f32_bits(nans[i]) >> 31);
            assert_int_equal(nb[i] >> 15, ts_f32_bits(nans[i]) >> 31);
            assert_int_equal(nf[i], lw_f32_to_f16(nans[i]));
            assert_int_equal(nb[i], lw_f32_to_bf16(nans[i]));
        }
    }
    gemm_path_force(old);
}

/* Random values over the whole float range and odd lengths: the AVX2 path
 * gives the portable path's bits; finite values agree with the test
 * suite's own rounding; widening back is exact. */
static void test_cvt_paths_agree(void **state) {
    (void)state;
    const size_t n = 100003;
    float *x = fmalloc(n), *back = fmalloc(n);
    uint16_t *a = xmalloc(n * 2), *b = xmalloc(n * 2);
    uint64_t s = 42;
    for (size_t i = 0; i < n; i++) {
        uint32_t u = (uint32_t)ts_rand_u64(&s);
        if (i % 3 == 0) u = (u & 0x807fffffu) | ((uint32_t)(90 + (i % 60)) << 23); /* around the f16 range */
        x[i] = ts_bits_f32(u);
    }
    for (int di = 1; di <= 2; di++) {
        const wdtype dt = DTS[di];
        const gemm_path old = gemm_path_force(GEMM_PATH_PORTABLE);
        cvt_f32_to_h(a, x, n, dt);
        gemm_path_force(GEMM_PATH_AVX2);
        for (size_t len = n; len + 20 > n; len -= 3) { /* tails of every length mod 8 */
            memset(b, 0, n * 2);
            cvt_f32_to_h(b, x, len, dt);
            assert_memory_equal(a, b, len * 2);
        }
        gemm_path_force(old);
        for (size_t i = 0; i < n; i++) {
            if (isnan(x[i])) continue;
            const uint16_t want = dt == WDT_BF16 ? ts_f32_to_bf16(x[i]) : ts_f32_to_f16(x[i]);
            if (a[i] != want) fail_msg("%s of %.9g (0x%08x): 0x%04x, expected 0x%04x", wdtype_name(dt), x[i],
                                       ts_f32_bits(x[i]), a[i], want);
        }
        cvt_h_to_f32(back, a, n, dt);
        for (size_t i = 0; i < n; i++) {
            const float ref = dt == WDT_BF16 ? st_bf16_to_f32(a[i]) : st_f16_to_f32(a[i]);
            assert_true(ts_f32_bits(back[i]) == ts_f32_bits(ref));
        }
    }
    free(x); free(back); free(a); free(b);
}

/* ---- half-precision KV attention ----------------------------------------------- */

static void check_attn_h(int n, int hd, wdtype dt, float qscale, uint64_t seed, double *worst) {
    float *q = fmalloc(hd), *Kf = fmalloc((size_t)n * hd), *Vf = fmalloc((size_t)n * hd);
    float *out = fmalloc(hd), *ref = fmalloc(hd), *scratch = fmalloc(n);
    uint16_t *K = xmalloc((size_t)n * hd * 2), *V = xmalloc((size_t)n * hd * 2);
    ts_fill(q, hd, seed, -qscale, qscale);
    ts_fill(Kf, (size_t)n * hd, seed + 1, -1, 1);
    ts_fill(Vf, (size_t)n * hd, seed + 2, -1, 1);
    cvt_f32_to_h(K, Kf, (size_t)n * hd, dt);
    cvt_f32_to_h(V, Vf, (size_t)n * hd, dt);
    cvt_h_to_f32(Kf, K, (size_t)n * hd, dt); /* the dequantized cache */
    cvt_h_to_f32(Vf, V, (size_t)n * hd, dt);
    const float scale = 1.0f / sqrtf((float)hd);
    attn_decode_head_h(out, q, K, V, n, hd, scale, scratch, dt);
    naive_attn_decode_head(ref, q, Kf, Vf, n, hd, scale);
    double err = ts_max_abs_diff(out, ref, hd);
    if (err > *worst) *worst = err;
    if (err > 1e-5)
        fail_msg("attn_decode_head_h %s n=%d hd=%d |q|<=%g: max abs error %g", wdtype_name(dt), n, hd, qscale, err);
    free(q); free(Kf); free(Vf); free(out); free(ref); free(scratch); free(K); free(V);
}

static void test_attn_h(void **state) {
    (void)state;
    const int hds[] = {64, 16, 8, 24, 128, 12};
    const int ns[] = {1, 3, 7, 8, 9, 65, 769};
    gemm_path ps[3];
    const int np = ts_gemm_paths(ps);
    const gemm_path old = gemm_path_current();
    for (int pi = 0; pi < np; pi++) {
        gemm_path_force(ps[pi]);
        for (int di = 1; di <= 2; di++) {
            double worst = 0;
            for (int ni = 0; ni < 7; ni++)
                for (int hi = 0; hi < 6; hi++) {
                    check_attn_h(ns[ni], hds[hi], DTS[di], 1.0f, (uint64_t)(600 + ni * 8 + hi), &worst);
                    check_attn_h(ns[ni], hds[hi], DTS[di], 40.0f, (uint64_t)(700 + ni * 8 + hi), &worst);
                }
            print_message("attn_decode_head_h %s (%s): max abs error %.3g\n", wdtype_name(DTS[di]),
                          gemm_path_name(ps[pi]), worst);
        }
    }
    gemm_path_force(old);
}

/* n = 1: the output is the single value row, widened. */
static void test_attn_h_single(void **state) {
    (void)state;
    gemm_path ps[3];
    const int np = ts_gemm_paths(ps);
    const gemm_path old = gemm_path_current();
    for (int pi = 0; pi < np; pi++) {
        gemm_path_force(ps[pi]);
        for (int di = 1; di <= 2; di++) {
            float q[64], Kf[64], Vf[64], out[64], s[1];
            uint16_t K[64], V[64];
            ts_fill(q, 64, 1, -100, 100);
            ts_fill(Kf, 64, 2, -100, 100);
            ts_fill(Vf, 64, 3, -1, 1);
            cvt_f32_to_h(K, Kf, 64, DTS[di]);
            cvt_f32_to_h(V, Vf, 64, DTS[di]);
            attn_decode_head_h(out, q, K, V, 1, 64, 0.125f, s, DTS[di]);
            cvt_h_to_f32(Vf, V, 64, DTS[di]);
            for (int i = 0; i < 64; i++) assert_float_equal(out[i], Vf[i], 1e-6);
        }
    }
    gemm_path_force(old);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_wdtype_helpers),
        cmocka_unit_test(test_linear_lw_naive),
        cmocka_unit_test(test_linear_lw_exact),
        cmocka_unit_test(test_int8_quantization),
        cmocka_unit_test(test_half_packing),
        cmocka_unit_test(test_cvt_edge_cases),
        cmocka_unit_test(test_cvt_paths_agree),
        cmocka_unit_test(test_attn_h),
        cmocka_unit_test(test_attn_h_single),
    };
    return cmocka_run_group_tests(tests, group_setup, NULL);
}
