/* elementwise: LayerNorm, GELU, softmax, residual add, embedding lookup. */
#include <immintrin.h>
#include <math.h>
#include <string.h>

#include "gemm_packed.h"
#include "kernels.h"

/* Sum of x[0..n) in 16 independent lanes (the compiler keeps them in
 * vector registers), so a row is not one chain of dependent adds; the
 * order of the additions is fixed, so the result does not depend on the
 * batch or the thread. */
#define LN_LANES 16
static inline float sum_lanes(const float *x, int n) {
    float s[LN_LANES] = {0};
    int i = 0;
    for (; i + LN_LANES <= n; i += LN_LANES)
        for (int j = 0; j < LN_LANES; j++) s[j] += x[i + j];
    float t = 0.0f;
    for (; i < n; i++) t += x[i];
    for (int j = 0; j < LN_LANES; j++) t += s[j];
    return t;
}

static inline float sumsq_lanes(const float *x, int n, float mean) {
    float s[LN_LANES] = {0};
    int i = 0;
    for (; i + LN_LANES <= n; i += LN_LANES)
        for (int j = 0; j < LN_LANES; j++) {
            const float c = x[i + j] - mean;
            s[j] += c * c;
        }
    float t = 0.0f;
    for (; i < n; i++) t += (x[i] - mean) * (x[i] - mean);
    for (int j = 0; j < LN_LANES; j++) t += s[j];
    return t;
}

/* out, x: (M, d); w, b: (d). Rows split over the threads once there are
 * enough of them to pay for a parallel region (about 16 rows of 768). */
void layernorm_f32(float *out, const float *x, const float *w, const float *b, int M, int d, float eps) {
#pragma omp parallel for schedule(static) if ((size_t)M * d >= 12288)
    for (int m = 0; m < M; m++) {
        const float *r = x + (size_t)m * d;
        float *o = out + (size_t)m * d;
        const float mean = sum_lanes(r, d) / (float)d;
        const float var = sumsq_lanes(r, d, mean) / (float)d;
        const float inv = 1.0f / sqrtf(var + eps);
        for (int i = 0; i < d; i++) o[i] = (r[i] - mean) * inv * w[i] + b[i];
    }
}

/* tanh by the rational approximation Eigen uses (generic_fast_tanh_float:
 * odd degree 13 over even degree 6, input clamped to +-7.905 where float
 * tanh is 1), accurate to a few ulp; scalar and AVX2 versions compute the
 * same polynomial. */
static const float TANH_CLAMP = 7.90531110763549805f;
static const float TANH_P[7] = {-2.76076847742355e-16f, 2.00018790482477e-13f, -8.60467152213735e-11f,
                                5.12229709037114e-08f,  1.48572235717979e-05f, 6.37261928875436e-04f,
                                4.89352455891786e-03f};
static const float TANH_Q[4] = {1.19825839466702e-06f, 1.18534705686654e-04f, 2.26843463243900e-03f,
                                4.89352518554385e-03f};
#define GELU_C 0.7978845608028654f /* sqrt(2/pi) */

static inline float tanh_rational(float x) {
    /* past the clamp float tanh is +-1 exactly (the polynomial gives
     * 1 - 2^-22, which GELU would turn into -1.2e-7 |x| far out) */
    if (x >= TANH_CLAMP) return 1.0f;
    if (x <= -TANH_CLAMP) return -1.0f;
    const float x2 = x * x;
    float p = TANH_P[0];
    for (int i = 1; i < 7; i++) p = p * x2 + TANH_P[i];
    float q = TANH_Q[0];
    for (int i = 1; i < 4; i++) q = q * x2 + TANH_Q[i];
    return p * x / q;
}

static void gelu_range_portable(float *x, size_t n) {
    for (size_t i = 0; i < n; i++) {
        float v = x[i];
        x[i] = 0.5f * v * (1.0f + tanh_rational(GELU_C * (v + 0.044715f * v * v * v)));
    }
}

__attribute__((target("avx2,fma"))) static void gelu_range_avx2(float *x, size_t n) {
    const __m256 hi = _mm256_set1_ps(TANH_CLAMP), lo = _mm256_set1_ps(-TANH_CLAMP);
    const __m256 c = _mm256_set1_ps(GELU_C), k3 = _mm256_set1_ps(0.044715f);
    const __m256 half = _mm256_set1_ps(0.5f), one = _mm256_set1_ps(1.0f);
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256 v = _mm256_loadu_ps(x + i);
        __m256 u = _mm256_mul_ps(c, _mm256_fmadd_ps(_mm256_mul_ps(k3, v), _mm256_mul_ps(v, v), v));
        const __m256 sign = _mm256_and_ps(u, _mm256_set1_ps(-0.0f));
        const __m256 outside = _mm256_cmp_ps(_mm256_andnot_ps(_mm256_set1_ps(-0.0f), u), hi, _CMP_GE_OQ);
        u = _mm256_max_ps(lo, _mm256_min_ps(hi, u));
        __m256 u2 = _mm256_mul_ps(u, u);
        __m256 p = _mm256_set1_ps(TANH_P[0]);
        for (int j = 1; j < 7; j++) p = _mm256_fmadd_ps(p, u2, _mm256_set1_ps(TANH_P[j]));
        __m256 q = _mm256_set1_ps(TANH_Q[0]);
        for (int j = 1; j < 4; j++) q = _mm256_fmadd_ps(q, u2, _mm256_set1_ps(TANH_Q[j]));
        __m256 t = _mm256_div_ps(_mm256_mul_ps(p, u), q);
        t = _mm256_blendv_ps(t, _mm256_or_ps(one, sign), outside); /* +-1 past the clamp */
        _mm256_storeu_ps(x + i, _mm256_mul_ps(_mm256_mul_ps(half, v), _mm256_add_ps(one, t)));
    }
    gelu_range_portable(x + i, n - i);
}

static void gelu_range(float *x, size_t n) {
    if (gemm_path_simd())
        gelu_range_avx2(x, n);
    else
        gelu_range_portable(x, n);
}

void gelu_f32(float *x, size_t n) {
    const size_t chunk = 16384;
    if (n <= chunk) {
        gelu_range(x, n);
        return;
    }
#pragma omp parallel for schedule(static)
    for (size_t i = 0; i < n; i += chunk) gelu_range(x + i, n - i < chunk ? n - i : chunk);
}

void softmax_f32(float *x, int n) {
    float mx = -INFINITY;
    for (int i = 0; i < n; i++) mx = x[i] > mx ? x[i] : mx;
    float sum = 0.0f;
    for (int i = 0; i < n; i++) {
        x[i] = expf(x[i] - mx);
        sum += x[i];
    }
    float inv = 1.0f / sum;
    for (int i = 0; i < n; i++) x[i] *= inv;
}

void add_f32(float *x, const float *y, size_t n) {
#pragma omp parallel for schedule(static) if (n > 262144)
    for (size_t i = 0; i < n; i++) x[i] += y[i];
}

void embed_f32(float *out, const float *wte, const float *wpe, const int *tokens, const int *positions, int M,
               int d) {
    for (int m = 0; m < M; m++) {
        const float *te = wte + (size_t)tokens[m] * d, *pe = wpe + (size_t)positions[m] * d;
        float *o = out + (size_t)m * d;
        for (int i = 0; i < d; i++) o[i] = te[i] + pe[i];
    }
}
