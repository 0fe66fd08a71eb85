/* test_kernels: every kernel of kernels/kernels.h against its scalar twin in
 * kernels/naive.h, on odd shapes (1, 3, 65, 769 and mixes). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../kernels/gemm_packed.h"
#include "../kernels/kernels.h"
#include "../kernels/naive.h"
#include "test_support.h"

static const int SIZES[] = {1, 3, 65, 769};
#define N_SIZES (int)(sizeof SIZES / sizeof SIZES[0])

static int group_setup(void **state) {
    (void)state;
    return threads_init(2) == 2 ? 0 : -1;
}

static float *fmalloc(size_t n) {
    float *p = malloc((n ? n : 1) * sizeof *p);
    assert_non_null(p);
    return p;
}

static void test_threads_init(void **state) {
    (void)state;
    assert_int_equal(threads_count(), 2);
    assert_int_equal(threads_init(1), 1);
    assert_int_equal(threads_count(), 1);
    assert_true(threads_init(0) >= 1); /* one per core */
    assert_int_equal(threads_init(2), 2);
    assert_int_equal(threads_count(), 2);
}

/* y = x @ w + b for M in {1,3,5}, K and N in SIZES, with and without bias. */
static void test_linear(void **state) {
    (void)state;
    const int Ms[] = {1, 3, 5};
    double worst = 0;
    for (int mi = 0; mi < 3; mi++)
        for (int ki = 0; ki < N_SIZES; ki++)
            for (int ni = 0; ni < N_SIZES; ni++)
                for (int with_b = 0; with_b < 2; with_b++) {
                    int M = Ms[mi], K = SIZES[ki], N = SIZES[ni];
                    float *x = fmalloc((size_t)M * K), *w = fmalloc((size_t)K * N), *b = fmalloc((size_t)N);
                    float *y = fmalloc((size_t)M * N), *ref = fmalloc((size_t)M * N);
                    uint64_t seed = (uint64_t)(M * 1000003 + K * 1009 + N * 7 + with_b);
                    ts_fill(x, (size_t)M * K, seed, -1, 1);
                    ts_fill(w, (size_t)K * N, seed + 1, -1, 1);
                    ts_fill(b, (size_t)N, seed + 2, -1, 1);
                    ts_fill(y, (size_t)M * N, seed + 3, 1e6f, 1e7f); /* garbage: must be overwritten */
                    linear_f32(y, x, w, with_b ? b : NULL, M, K, N);
                    naive_linear(ref, x, w, with_b ? b : NULL, M, K, N);
                    double err = ts_max_abs_diff(y, ref, (size_t)M * N);
                    if (err > worst) worst = err;
                    if (err > 1e-4)
                        fail_msg("linear M=%d K=%d N=%d bias=%d: max abs error %g", M, K, N, with_b, err);
                    free(x); free(w); free(b); free(y); free(ref);
                }
    print_message("linear: max abs error %.3g over all shapes\n", worst);
}

/* A larger M (the prefill GEMM path) with a big K. */
static void test_linear_large_m(void **state) {
    (void)state;
    const int M = 67, K = 769, N = 65;
    float *x = fmalloc((size_t)M * K), *w = fmalloc((size_t)K * N), *b = fmalloc(N);
    float *y = fmalloc((size_t)M * N), *ref = fmalloc((size_t)M * N);
    ts_fill(x, (size_t)M * K, 11, -1, 1);
    ts_fill(w, (size_t)K * N, 12, -1, 1);
    ts_fill(b, N, 13, -1, 1);
    linear_f32(y, x, w, b, M, K, N);
    naive_linear(ref, x, w, b, M, K, N);
    assert_true(ts_max_abs_diff(y, ref, (size_t)M * N) <= 1e-4);
    free(x); free(w); free(b); free(y); free(ref);
}

/* y = x @ w^T, w: (N, K). */
static void test_linear_nt(void **state) {
    (void)state;
    const int Ms[] = {1, 3, 5, 66};
    double worst = 0;
    for (int mi = 0; mi < 4; mi++)
        for (int ki = 0; ki < N_SIZES; ki++)
            for (int ni = 0; ni < N_SIZES; ni++) {
                int M = Ms[mi], K = SIZES[ki], N = SIZES[ni];
                if (M == 66 && K == 769 && N == 769) continue; /* keep the naive oracle quick */
                float *x = fmalloc((size_t)M * K), *w = fmalloc((size_t)N * K);
                float *y = fmalloc((size_t)M * N), *ref = fmalloc((size_t)M * N);
                uint64_t seed = (uint64_t)(M * 7919 + K * 104729 + N);
                ts_fill(x, (size_t)M * K, seed, -1, 1);
                ts_fill(w, (size_t)N * K, seed + 1, -1, 1);
                ts_fill(y, (size_t)M * N, seed + 2, 1e6f, 1e7f);
                linear_nt_f32(y, x, w, M, K, N);
                naive_linear_nt(ref, x, w, M, K, N);
                double err = ts_max_abs_diff(y, ref, (size_t)M * N);
                if (err > worst) worst = err;
                if (err > 1e-4) fail_msg("linear_nt M=%d K=%d N=%d: max abs error %g", M, K, N, err);
                free(x); free(w); free(y); free(ref);
            }
    print_message("linear_nt: max abs error %.3g over all shapes\n", worst);
}

/* linear_nt(x, w) must equal linear(x, w^T). */
static void test_linear_nt_is_transpose(void **state) {
    (void)state;
    const int M = 3, K = 65, N = 769;
    float *x = fmalloc((size_t)M * K), *w = fmalloc((size_t)N * K), *wt = fmalloc((size_t)K * N);
    float *a = fmalloc((size_t)M * N), *b = fmalloc((size_t)M * N);
    ts_fill(x, (size_t)M * K, 21, -1, 1);
    ts_fill(w, (size_t)N * K, 22, -1, 1);
    for (int n = 0; n < N; n++)
        for (int k = 0; k < K; k++) wt[(size_t)k * N + n] = w[(size_t)n * K + k];
    linear_nt_f32(a, x, w, M, K, N);
    linear_f32(b, x, wt, NULL, M, K, N);
    assert_true(ts_max_abs_diff(a, b, (size_t)M * N) <= 1e-5);
    free(x); free(w); free(wt); free(a); free(b);
}

static void check_layernorm(int M, int d, float lo, float hi, double tol, uint64_t seed, int in_place) {
    float *x = fmalloc((size_t)M * d), *w = fmalloc(d), *b = fmalloc(d);
    float *y = fmalloc((size_t)M * d), *ref = fmalloc((size_t)M * d);
    ts_fill(x, (size_t)M * d, seed, lo, hi);
    ts_fill(w, d, seed + 1, 0.5f, 1.5f);
    ts_fill(b, d, seed + 2, -0.5f, 0.5f);
    naive_layernorm(ref, x, w, b, M, d, 1e-5f);
    if (in_place) {
        layernorm_f32(x, x, w, b, M, d, 1e-5f);
        memcpy(y, x, (size_t)M * d * sizeof *y);
    } else {
        layernorm_f32(y, x, w, b, M, d, 1e-5f);
    }
    double err = ts_max_abs_diff(y, ref, (size_t)M * d);
    if (err > tol)
        fail_msg("layernorm M=%d d=%d range [%g, %g] in_place=%d: max abs error %g", M, d, lo, hi, in_place, err);
    free(x); free(w); free(b); free(y); free(ref);
}

static void test_layernorm(void **state) {
    (void)state;
    const int Ms[] = {1, 3, 5};
    for (int mi = 0; mi < 3; mi++)
        for (int di = 0; di < N_SIZES; di++) {
            check_layernorm(Ms[mi], SIZES[di], -1, 1, 1e-4, (uint64_t)(mi * 10 + di), 0);
            check_layernorm(Ms[mi], SIZES[di], -1, 1, 1e-4, (uint64_t)(mi * 10 + di), 1);
            check_layernorm(Ms[mi], SIZES[di], -30, 50, 1e-4, (uint64_t)(mi * 10 + di + 100), 0);
        }
    /* enough rows to take the threaded path (M * d > 65536) */
    check_layernorm(97, 769, -2, 2, 1e-4, 7, 0);
    check_layernorm(97, 769, -2, 2, 1e-4, 8, 1);
}

/* d = 1: every row is its own mean, so the output is the bias. */
static void test_layernorm_constant_row(void **state) {
    (void)state;
    float x[4] = {3.0f, 3.0f, 3.0f, 3.0f}, w[4] = {2, 2, 2, 2}, b[4] = {0.25f, -1, 0, 7}, y[4];
    layernorm_f32(y, x, w, b, 1, 4, 1e-5f);
    for (int i = 0; i < 4; i++) assert_float_equal(y[i], b[i], 1e-6);
    float one = 5.0f, w1 = 3.0f, b1 = 0.5f, y1;
    layernorm_f32(&y1, &one, &w1, &b1, 1, 1, 1e-5f);
    assert_float_equal(y1, 0.5f, 1e-6);
}

static void test_gelu(void **state) {
    (void)state;
    const size_t ns[] = {1, 3, 7, 8, 9, 65, 769, 100003}; /* the last takes the threaded path */
    gemm_path ps[3];
    const int np = ts_gemm_paths(ps);
    const gemm_path old = gemm_path_current();
    for (int pi = 0; pi < np; pi++) {
        gemm_path_force(ps[pi]);
        double worst = 0;
        for (int i = 0; i < 8; i++) {
            size_t n = ns[i];
            float *x = fmalloc(n), *ref = fmalloc(n);
            ts_fill(x, n, 31 + i, -8, 8);
            memcpy(ref, x, n * sizeof *x);
            gelu_f32(x, n);
            naive_gelu(ref, n);
            double err = 0;
            for (size_t k = 0; k < n; k++) {
                double e = fabs((double)x[k] - ref[k]) / (1.0 + fabs(ref[k]));
                if (e > err) err = e;
            }
            if (err > worst) worst = err;
            if (err > 2e-6) fail_msg("gelu (%s) n=%zu: max relative error %g", gemm_path_name(ps[pi]), n, err);
            free(x);
            free(ref);
        }
        print_message("gelu (%s): max error %.3g relative to 1 + |gelu(x)|, x in [-8, 8]\n", gemm_path_name(ps[pi]),
                      worst);
        /* known values */
        float v[] = {0.0f, 1.0f, -1.0f, 2.0f, -2.0f, 3.0f, -3.0f, 6.0f, -0.5f};
        float want[] = {0.0f, 0.8411920f, -0.1588080f, 1.9545977f, -0.0454023f, 2.9963626f, -0.0036374f, 6.0f,
                        -0.1542860f};
        gelu_f32(v, 9);
        for (int i = 0; i < 9; i++) assert_float_equal(v[i], want[i], 2e-6 * (1 + fabs(want[i])));
    }
    gemm_path_force(old);
}

/* Far tails: gelu(x) -> x for large x and -> 0 for very negative x, within
 * float rounding of the exact value (1e-6 absolute, or relative for large
 * outputs), on every path and wherever the value sits in a vector. */
static void test_gelu_tails(void **state) {
    (void)state;
    const float xs[] = {10.0f, 30.0f, 1e4f, 1e20f, -10.0f, -30.0f, -100.0f, -1e4f, -1e6f, -1e20f};
    const int nx = (int)(sizeof xs / sizeof xs[0]);
    gemm_path ps[3];
    const int np = ts_gemm_paths(ps);
    const gemm_path old = gemm_path_current();
    int bad = 0;
    for (int pi = 0; pi < np; pi++) {
        gemm_path_force(ps[pi]);
        for (int i = 0; i < nx; i++) {
            float v[16];
            for (int k = 0; k < 16; k++) v[k] = xs[i]; /* 16: vector lanes and scalar tail alike */
            gelu_f32(v, 16);
            double want = xs[i] > 0 ? xs[i] : 0.0;
            for (int k = 0; k < 16; k++) {
                double err = fabs((double)v[k] - want);
                if (!isfinite(v[k]) || err > 1e-6 + 1e-6 * fabs(want)) {
                    print_message("  gelu (%s) of %g = %.9g, expected %g (error %.3g)\n", gemm_path_name(ps[pi]),
                                  (double)xs[i], (double)v[k], want, err);
                    bad++;
                    break;
                }
            }
        }
    }
    gemm_path_force(old);
    if (bad) fail_msg("%d far-tail GELU values are off", bad);
}

static void check_softmax(int n, float lo, float hi, uint64_t seed) {
    float *x = fmalloc(n), *ref = fmalloc(n);
    ts_fill(x, n, seed, lo, hi);
    memcpy(ref, x, (size_t)n * sizeof *x);
    softmax_f32(x, n);
    naive_softmax(ref, n);
    assert_true(ts_all_finite(x, n));
    double sum = 0;
    for (int i = 0; i < n; i++) {
        assert_true(x[i] >= 0.0f);
        sum += x[i];
    }
    if (fabs(sum - 1.0) > 1e-5) fail_msg("softmax n=%d range [%g, %g]: sums to %.9g", n, lo, hi, sum);
    double err = ts_max_abs_diff(x, ref, n);
    if (err > 1e-6) fail_msg("softmax n=%d range [%g, %g]: max abs error %g", n, lo, hi, err);
    free(x);
    free(ref);
}

static void test_softmax(void **state) {
    (void)state;
    for (int i = 0; i < N_SIZES; i++) {
        check_softmax(SIZES[i], -1, 1, 41 + i);
        check_softmax(SIZES[i], -10, 10, 51 + i);
        /* large magnitudes: exp would overflow without the max subtracted */
        check_softmax(SIZES[i], 80, 120, 61 + i);
        check_softmax(SIZES[i], -1e4f, 1e4f, 71 + i);
        check_softmax(SIZES[i], 1e30f, 1e30f * 1.000001f, 81 + i);
        check_softmax(SIZES[i], -1e30f, -1e30f * 0.999999f, 91 + i);
    }
}

static void test_softmax_special(void **state) {
    (void)state;
    /* equal values: uniform */
    float x[5] = {1000, 1000, 1000, 1000, 1000};
    softmax_f32(x, 5);
    for (int i = 0; i < 5; i++) assert_float_equal(x[i], 0.2f, 1e-7);
    /* masked entries (-inf) get zero; a single element gets one */
    float y[4] = {-INFINITY, 2.0f, -INFINITY, 2.0f};
    softmax_f32(y, 4);
    assert_float_equal(y[0], 0.0f, 0);
    assert_float_equal(y[1], 0.5f, 1e-7);
    assert_float_equal(y[2], 0.0f, 0);
    assert_float_equal(y[3], 0.5f, 1e-7);
    float z = -123.0f;
    softmax_f32(&z, 1);
    assert_float_equal(z, 1.0f, 0);
    /* one dominant value */
    float d[3] = {0.0f, 1e4f, 0.0f};
    softmax_f32(d, 3);
    assert_float_equal(d[1], 1.0f, 0);
    assert_float_equal(d[0], 0.0f, 0);
}

static void test_add(void **state) {
    (void)state;
    const size_t ns[] = {1, 3, 65, 769, 300007}; /* the last takes the threaded path */
    for (int i = 0; i < 5; i++) {
        size_t n = ns[i];
        float *x = fmalloc(n), *y = fmalloc(n), *ref = fmalloc(n);
        ts_fill(x, n, 101 + i, -1, 1);
        ts_fill(y, n, 201 + i, -1, 1);
        for (size_t k = 0; k < n; k++) ref[k] = x[k] + y[k];
        add_f32(x, y, n);
        assert_memory_equal(x, ref, n * sizeof *x);
        free(x); free(y); free(ref);
    }
}

/* argmax_f32 against naive_argmax on ties, NaN, -0/+0, infinities and odd
 * lengths, on every path; argmax_rows_f32 threaded and on a single row. */
static void test_argmax(void **state) {
    (void)state;
    const int ns[] = {1, 2, 7, 8, 9, 31, 32, 33, 65, 769, 50257};
    gemm_path ps[3];
    const int np = ts_gemm_paths(ps);
    const gemm_path old = gemm_path_current();
    float *x = fmalloc(50257);
    for (int pi = 0; pi < np; pi++) {
        gemm_path_force(ps[pi]);
        for (int i = 0; i < 11; i++) {
            const int n = ns[i];
            for (int c = 0; c < 9; c++) {
                ts_fill(x, (size_t)n, 31 + 7 * i + c, -4, 4);
                switch (c) {
                case 1: x[n - 1] = 9; break;                                    /* at the end */
                case 2: x[n / 2] = 9; x[n - 1] = 9; x[n / 3] = 9; break;        /* ties: the first */
                case 3: x[0] = NAN; break;                                      /* NaN first: 0 */
                case 4: for (int k = 1; k < n; k += 3) x[k] = NAN; break;       /* NaN skipped */
                case 5: for (int k = 0; k < n; k++) x[k] = -INFINITY; break;    /* all -inf: 0 */
                case 6: for (int k = 0; k < n; k++) x[k] = -1; x[n - 1] = 0.0f; x[n / 2] = -0.0f; break;
                case 7: x[n / 2] = INFINITY; if (n > 1) x[n / 2 + 1] = NAN; break;
                case 8: for (int k = 0; k < n; k++) x[k] = -(float)k; break;    /* the first */
                default: break;
                }
                if (argmax_f32(x, n) != naive_argmax(x, n))
                    fail_msg("%s: n = %d, case %d: %d, naive_argmax %d", gemm_path_name(ps[pi]), n, c,
                             argmax_f32(x, n), naive_argmax(x, n));
            }
        }
        /* rows: the threaded path (64 x 50257) and a single row */
        const int R = 64, V = 50257;
        float *l = fmalloc((size_t)R * V);
        int *idx = malloc(R * sizeof *idx);
        assert_non_null(idx);
        ts_fill(l, (size_t)R * V, 77, -10, 10);
        for (int r = 0; r < R; r++) l[(size_t)r * V + (size_t)r * 613 % V] = 20.0f + r;
        argmax_rows_f32(idx, l, R, V);
        for (int r = 0; r < R; r++) assert_int_equal(idx[r], (r * 613) % V);
        argmax_rows_f32(idx, l + V, 1, V);
        assert_int_equal(idx[0], 613);
        free(l);
        free(idx);
    }
    gemm_path_force(old);
    free(x);
}

static void test_embed(void **state) {
    (void)state;
    const int V = 101, P = 33;
    for (int di = 0; di < N_SIZES; di++) {
        int d = SIZES[di];
        const int Ms[] = {1, 3, 65};
        for (int mi = 0; mi < 3; mi++) {
            int M = Ms[mi];
            float *wte = fmalloc((size_t)V * d), *wpe = fmalloc((size_t)P * d);
            float *y = fmalloc((size_t)M * d), *ref = fmalloc((size_t)M * d);
            int *tok = malloc((size_t)M * sizeof *tok), *pos = malloc((size_t)M * sizeof *pos);
            assert_non_null(tok);
            assert_non_null(pos);
            ts_fill(wte, (size_t)V * d, 301 + di, -1, 1);
            ts_fill(wpe, (size_t)P * d, 401 + di, -1, 1);
            uint64_t s = 501 + (uint64_t)(di * 3 + mi);
            for (int m = 0; m < M; m++) {
                tok[m] = m == 0 ? V - 1 : (int)(ts_rand_u64(&s) % V);
                pos[m] = m == 0 ? P - 1 : (int)(ts_rand_u64(&s) % P);
            }
            embed_f32(y, wte, wpe, tok, pos, M, d);
            naive_embed(ref, wte, wpe, tok, pos, M, d);
            assert_memory_equal(y, ref, (size_t)M * d * sizeof *y);
            free(wte); free(wpe); free(y); free(ref); free(tok); free(pos);
        }
    }
}

static void check_decode_head(int n, int hd, float qscale, uint64_t seed, double *worst) {
    float *q = fmalloc(hd), *K = fmalloc((size_t)n * hd), *V = fmalloc((size_t)n * hd);
    float *out = fmalloc(hd), *ref = fmalloc(hd), *scratch = fmalloc(n + 1);
    ts_fill(q, hd, seed, -qscale, qscale);
    ts_fill(K, (size_t)n * hd, seed + 1, -1, 1);
    ts_fill(V, (size_t)n * hd, seed + 2, -1, 1);
    scratch[n] = 12345.0f; /* sentinel: scratch holds n floats */
    float scale = 1.0f / sqrtf((float)hd);
    attn_decode_head_f32(out, q, K, V, n, hd, scale, scratch);
    naive_attn_decode_head(ref, q, K, V, n, hd, scale);
    assert_float_equal(scratch[n], 12345.0f, 0);
    double err = ts_max_abs_diff(out, ref, hd);
    if (err > *worst) *worst = err;
    if (err > 1e-5) fail_msg("attn_decode_head n=%d hd=%d |q|<=%g: max abs error %g", n, hd, qscale, err);
    free(q); free(K); free(V); free(out); free(ref); free(scratch);
}

static void test_attn_decode_head(void **state) {
    (void)state;
    /* 16 and 64 (GPT-2); 8, 24, 128: other vector widths; 12: not a multiple of 8 */
    const int hds[] = {16, 64, 8, 24, 128, 12};
    const int ns[] = {1, 3, 7, 8, 9, 65, 769};
    gemm_path ps[3];
    const int np = ts_gemm_paths(ps);
    const gemm_path old = gemm_path_current();
    for (int pi = 0; pi < np; pi++) {
        gemm_path_force(ps[pi]);
        double worst = 0;
        for (int ni = 0; ni < 7; ni++)
            for (int hi = 0; hi < 6; hi++) {
                check_decode_head(ns[ni], hds[hi], 1.0f, (uint64_t)(600 + ni * 8 + hi), &worst);
                /* a sharp softmax: large scores */
                check_decode_head(ns[ni], hds[hi], 40.0f, (uint64_t)(700 + ni * 8 + hi), &worst);
            }
        print_message("attn_decode_head (%s): max abs error %.3g\n", gemm_path_name(ps[pi]), worst);
    }
    gemm_path_force(old);
}

/* n = 1: the output is the single value row, whatever the score. */
static void test_attn_decode_single(void **state) {
    (void)state;
    gemm_path ps[3];
    const int np = ts_gemm_paths(ps);
    const gemm_path old = gemm_path_current();
    for (int pi = 0; pi < np; pi++) {
        gemm_path_force(ps[pi]);
        float q[16], K[16], V[16], out[16], scratch[1];
        ts_fill(q, 16, 1, -100, 100);
        ts_fill(K, 16, 2, -100, 100);
        ts_fill(V, 16, 3, -1, 1);
        attn_decode_head_f32(out, q, K, V, 1, 16, 0.25f, scratch);
        for (int i = 0; i < 16; i++) assert_float_equal(out[i], V[i], 1e-6);
        /* equal keys: the mean of the values */
        float K2[3 * 16], V2[3 * 16], s3[3];
        for (int i = 0; i < 3 * 16; i++) K2[i] = K[i % 16];
        ts_fill(V2, 3 * 16, 4, -1, 1);
        attn_decode_head_f32(out, q, K2, V2, 3, 16, 0.25f, s3);
        for (int i = 0; i < 16; i++) assert_float_equal(out[i], (V2[i] + V2[16 + i] + V2[32 + i]) / 3, 1e-6);
    }
    gemm_path_force(old);
}

/* Causal attention of T queries at positions p0.. p0+T-1 with strided
 * q and out, against the naive decode head run per row. */
static void check_causal(int p0, int T, int hd, uint64_t seed, double *worst) {
    const int n = p0 + T, q_stride = 3 * hd + 5, out_stride = 2 * hd + 3;
    float *q = fmalloc((size_t)T * q_stride), *K = fmalloc((size_t)n * hd), *V = fmalloc((size_t)n * hd);
    float *out = fmalloc((size_t)T * out_stride), *ref = fmalloc(hd), *scratch = fmalloc(n);
    ts_fill(q, (size_t)T * q_stride, seed, -2, 2);
    ts_fill(K, (size_t)n * hd, seed + 1, -1, 1);
    ts_fill(V, (size_t)n * hd, seed + 2, -1, 1);
    for (size_t i = 0; i < (size_t)T * out_stride; i++) out[i] = -777.0f;
    float scale = 1.0f / sqrtf((float)hd);
    attn_causal_head_f32(out, out_stride, q, q_stride, K, V, p0, T, hd, scale, scratch);
    for (int t = 0; t < T; t++) {
        /* row t sees keys 0..p0+t only */
        naive_attn_decode_head(ref, q + (size_t)t * q_stride, K, V, p0 + t + 1, hd, scale);
        double err = ts_max_abs_diff(out + (size_t)t * out_stride, ref, hd);
        if (err > *worst) *worst = err;
        if (err > 1e-5) fail_msg("attn_causal p0=%d T=%d hd=%d row %d: max abs error %g", p0, T, hd, t, err);
        for (int i = hd; i < out_stride; i++)
            if (out[(size_t)t * out_stride + i] != -777.0f)
                fail_msg("attn_causal p0=%d T=%d hd=%d wrote outside row %d's first hd values", p0, T, hd, t);
    }
    free(q); free(K); free(V); free(out); free(ref); free(scratch);
}

static void test_attn_causal_head(void **state) {
    (void)state;
    const int p0s[] = {0, 1, 7, 64, 700};
    const int Ts[] = {1, 3, 5, 65};
    const int hds[] = {16, 64};
    gemm_path ps[3];
    const int np = ts_gemm_paths(ps);
    const gemm_path old = gemm_path_current();
    for (int pi = 0; pi < np; pi++) {
        gemm_path_force(ps[pi]);
        double worst = 0;
        for (int a = 0; a < 5; a++)
            for (int b = 0; b < 4; b++)
                for (int c = 0; c < 2; c++)
                    check_causal(p0s[a], Ts[b], hds[c], (uint64_t)(900 + a * 100 + b * 10 + c), &worst);
        print_message("attn_causal_head (%s): max abs error %.3g\n", gemm_path_name(ps[pi]), worst);
    }
    gemm_path_force(old);
}

/* Causality: changing a key/value after a row's position leaves that row alone. */
static void test_attn_causal_is_causal(void **state) {
    (void)state;
    const int p0 = 4, T = 6, hd = 16, n = p0 + T;
    float q[6 * 16], K[10 * 16], V[10 * 16], a[6 * 16], b[6 * 16], scratch[10];
    ts_fill(q, sizeof q / sizeof *q, 1, -1, 1);
    ts_fill(K, sizeof K / sizeof *K, 2, -1, 1);
    ts_fill(V, sizeof V / sizeof *V, 3, -1, 1);
    attn_causal_head_f32(a, hd, q, hd, K, V, p0, T, hd, 0.25f, scratch);
    for (int i = 0; i < hd; i++) { /* last position */
        K[(size_t)(n - 1) * hd + i] += 5.0f;
        V[(size_t)(n - 1) * hd + i] -= 3.0f;
    }
    attn_causal_head_f32(b, hd, q, hd, K, V, p0, T, hd, 0.25f, scratch);
    assert_memory_equal(a, b, (size_t)(T - 1) * hd * sizeof(float));
    assert_true(ts_max_abs_diff(a + (T - 1) * hd, b + (T - 1) * hd, hd) > 1e-3);
}

/* The packed small-M GEMM (gemm_packed.h): W packed from [K, N] and from
 * [N, K] (the tied LM head), against the naive oracle, on every path. */
static void test_linear_packed(void **state) {
    (void)state;
    /* M = 121 and 130 (at K = 65 only): more rows than one chunk of x
     * (MC_MAX, 120), the last chunk of 1 and of 10 rows */
    const int Ms[] = {1, 2, 3, 4, 5, 6, 7, 13, 121, 130};
    const int Ks[] = {1, 3, 65, 769};
    const int Ns[] = {1, 3, 15, 16, 17, 65, 769};
    gemm_path ps[3];
    const int np = ts_gemm_paths(ps);
    const gemm_path old = gemm_path_current();
    for (int pi = 0; pi < np; pi++) {
        gemm_path_force(ps[pi]);
        double worst = 0;
        for (int ki = 0; ki < 4; ki++)
            for (int ni = 0; ni < 7; ni++) {
                int K = Ks[ki], N = Ns[ni];
                float *w = fmalloc((size_t)K * N), *wt = fmalloc((size_t)N * K), *b = fmalloc(N);
                ts_fill(w, (size_t)K * N, (uint64_t)(K * 31 + N), -1, 1);
                for (int k = 0; k < K; k++)
                    for (int n = 0; n < N; n++) wt[(size_t)n * K + k] = w[(size_t)k * N + n];
                ts_fill(b, N, (uint64_t)(K + N * 7), -1, 1);
                packed_w pkn, pnk;
                assert_int_equal(packed_from_kn(&pkn, w, K, N), 0);
                assert_int_equal(packed_from_nk(&pnk, wt, K, N), 0);
                assert_int_equal(pkn.K, K);
                assert_int_equal(pkn.N, N);
                assert_int_equal(pkn.Np % GEMM_NR, 0);
                assert_true(pkn.Np >= N && pkn.Np < N + GEMM_NR);
                assert_true(packed_bytes(K, N) == (size_t)K * pkn.Np * sizeof(float));
                /* both packings hold the same matrix */
                assert_memory_equal(pkn.panels, pnk.panels, packed_bytes(K, N));
                for (int mi = 0; mi < (int)(sizeof Ms / sizeof *Ms); mi++) {
                    int M = Ms[mi];
                    if (M > 13 && K != 65) continue;
                    float *x = fmalloc((size_t)M * K), *y = fmalloc((size_t)M * N + 1), *ref = fmalloc((size_t)M * N);
                    ts_fill(x, (size_t)M * K, (uint64_t)(M * 1000 + K + N), -1, 1);
                    for (int with_b = 0; with_b < 2; with_b++) {
                        const packed_w *pw = with_b ? &pkn : &pnk;
                        ts_fill(y, (size_t)M * N, 77, 1e6f, 1e7f);
                        y[(size_t)M * N] = -55.0f; /* sentinel past the output */
                        linear_packed_f32(y, x, pw, with_b ? b : NULL, M);
                        naive_linear(ref, x, w, with_b ? b : NULL, M, K, N);
                        assert_float_equal(y[(size_t)M * N], -55.0f, 0);
                        double err = ts_max_abs_diff(y, ref, (size_t)M * N);
                        if (err > worst) worst = err;
                        if (err > 1e-4)
                            fail_msg("linear_packed (%s) M=%d K=%d N=%d bias=%d: max abs error %g",
                                     gemm_path_name(ps[pi]), M, K, N, with_b, err);
                    }
                    free(x); free(y); free(ref);
                }
                packed_free(&pkn);
                packed_free(&pnk);
                assert_null(pkn.panels);
                free(w); free(wt); free(b);
            }
        print_message("linear_packed (%s): max abs error %.3g over all shapes\n", gemm_path_name(ps[pi]), worst);
    }
    /* K = 3072 (fc_proj), M = 90: chunks of x by its bytes (GEMM_X_CHUNK_KIB),
     * 84 rows then 6 at 1 MiB */
    {
        const int M = 90, K = 3072, N = 17;
        float *w = fmalloc((size_t)K * N), *x = fmalloc((size_t)M * K), *y = fmalloc((size_t)M * N),
              *ref = fmalloc((size_t)M * N);
        ts_fill(w, (size_t)K * N, 5, -1, 1);
        ts_fill(x, (size_t)M * K, 6, -1, 1);
        packed_w pw;
        assert_int_equal(packed_from_kn(&pw, w, K, N), 0);
        naive_linear(ref, x, w, NULL, M, K, N);
        for (int pi = 0; pi < np; pi++) {
            gemm_path_force(ps[pi]);
            linear_packed_f32(y, x, &pw, NULL, M);
            double err = ts_max_abs_diff(y, ref, (size_t)M * N);
            if (err > 1e-3)
                fail_msg("linear_packed (%s) M=%d K=%d N=%d: max abs error %g", gemm_path_name(ps[pi]), M, K, N, err);
        }
        packed_free(&pw);
        free(w); free(x); free(y); free(ref);
    }
    gemm_path_force(old);
}

/* Forcing a path: the previous one is returned; portable is always there. */
static void test_gemm_path_force(void **state) {
    (void)state;
    assert_true(gemm_path_available(GEMM_PATH_PORTABLE));
    const gemm_path old = gemm_path_current();
    assert_int_equal(gemm_path_force(GEMM_PATH_PORTABLE), old);
    assert_int_equal(gemm_path_current(), GEMM_PATH_PORTABLE);
    assert_string_equal(gemm_path_name(GEMM_PATH_PORTABLE), "portable");
    assert_string_equal(gemm_path_name(GEMM_PATH_AVX2), "avx2");
    assert_int_equal(gemm_path_force(GEMM_PATH_AVX2), GEMM_PATH_PORTABLE);
    assert_int_equal(gemm_path_current(),
                     gemm_path_available(GEMM_PATH_AVX2) ? GEMM_PATH_AVX2 : GEMM_PATH_PORTABLE);
    assert_int_equal(gemm_path_simd(), gemm_path_current() != GEMM_PATH_PORTABLE);
    assert_string_equal(gemm_path_name(GEMM_PATH_AVX512), "avx512");
    gemm_path_force(GEMM_PATH_AVX512); /* where the CPU lacks it: portable, never a path it cannot run */
    assert_int_equal(gemm_path_current(),
                     gemm_path_available(GEMM_PATH_AVX512) ? GEMM_PATH_AVX512 : GEMM_PATH_PORTABLE);
    assert_true(!gemm_path_available(GEMM_PATH_AVX512) || gemm_path_available(GEMM_PATH_AVX2));
    assert_int_equal(gemm_path_simd(), gemm_path_current() != GEMM_PATH_PORTABLE);
    gemm_path_force(old);
    assert_int_equal(gemm_path_current(), old);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_threads_init),
        cmocka_unit_test(test_linear),
        cmocka_unit_test(test_linear_large_m),
        cmocka_unit_test(test_linear_nt),
        cmocka_unit_test(test_linear_nt_is_transpose),
        cmocka_unit_test(test_layernorm),
        cmocka_unit_test(test_layernorm_constant_row),
        cmocka_unit_test(test_gelu),
        cmocka_unit_test(test_gelu_tails),
        cmocka_unit_test(test_softmax),
        cmocka_unit_test(test_softmax_special),
        cmocka_unit_test(test_add),
        cmocka_unit_test(test_embed),
        cmocka_unit_test(test_argmax),
        cmocka_unit_test(test_attn_decode_head),
        cmocka_unit_test(test_attn_decode_single),
        cmocka_unit_test(test_attn_causal_head),
        cmocka_unit_test(test_attn_causal_is_causal),
        cmocka_unit_test(test_linear_packed),
        cmocka_unit_test(test_gemm_path_force),
    };
    return cmocka_run_group_tests(tests, group_setup, NULL);
}
