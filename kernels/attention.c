/* attention: one head's attention over a contiguous K/V cache.
 * AVX2 path: dot products 8 lanes wide, a vector exp for the softmax, the
 * weighted sum of V in registers; portable path: plain loops. Both follow
 * the SIMD path of gemm_packed.h (GPT2_KERNEL). */
#include <immintrin.h>

#include "avx2_math.h"
#include <math.h>

#include "gemm_packed.h"
#include "kernels.h"

static void attn_head_portable(float *out, const float *q, const float *K, const float *V, int n, int hd,
                               float scale, float *scratch) {
    /* scores: (n) = q . K^T * scale */
    for (int t = 0; t < n; t++) {
        const float *k = K + (size_t)t * hd;
        float acc = 0.0f;
        for (int i = 0; i < hd; i++) acc += q[i] * k[i];
        scratch[t] = acc * scale;
    }
    softmax_f32(scratch, n);
    /* out: (hd) = scores @ V */
    for (int i = 0; i < hd; i++) out[i] = 0.0f;
    for (int t = 0; t < n; t++) {
        const float *v = V + (size_t)t * hd;
        const float p = scratch[t];
        for (int i = 0; i < hd; i++) out[i] += p * v[i];
    }
}



/* hd a multiple of 8 (GPT-2: 64). */
AVX2_FN static void attn_head_avx2(float *out, const float *q, const float *K, const float *V, int n, int hd,
                                   float scale, float *scratch) {
    const int nv = hd / 8;
    /* scores, and their max: 8 keys at a time, their 8 dot products
     * reduced together by a transpose-add tree into one vector */
    float mx = -INFINITY;
    int t0 = 0;
    if (hd == 64) {
        const __m256 q0 = _mm256_loadu_ps(q), q1 = _mm256_loadu_ps(q + 8), q2 = _mm256_loadu_ps(q + 16),
                     q3 = _mm256_loadu_ps(q + 24), q4 = _mm256_loadu_ps(q + 32), q5 = _mm256_loadu_ps(q + 40),
                     q6 = _mm256_loadu_ps(q + 48), q7 = _mm256_loadu_ps(q + 56);
        __m256 vmx8 = _mm256_set1_ps(-INFINITY);
        const __m256 vscale = _mm256_set1_ps(scale);
        for (; t0 + 8 <= n; t0 += 8) {
            __m256 d[8];
            for (int u = 0; u < 8; u++) {
                const float *k = K + (size_t)(t0 + u) * 64;
                __m256 a = _mm256_mul_ps(q0, _mm256_loadu_ps(k));
                __m256 c = _mm256_mul_ps(q1, _mm256_loadu_ps(k + 8));
                a = _mm256_fmadd_ps(q2, _mm256_loadu_ps(k + 16), a);
                c = _mm256_fmadd_ps(q3, _mm256_loadu_ps(k + 24), c);
                a = _mm256_fmadd_ps(q4, _mm256_loadu_ps(k + 32), a);
                c = _mm256_fmadd_ps(q5, _mm256_loadu_ps(k + 40), c);
                a = _mm256_fmadd_ps(q6, _mm256_loadu_ps(k + 48), a);
                c = _mm256_fmadd_ps(q7, _mm256_loadu_ps(k + 56), c);
                d[u] = _mm256_add_ps(a, c);
            }
            /* lane sums of d[0..7] into one vector, key u in lane u */
            __m256 h01 = _mm256_hadd_ps(d[0], d[1]), h23 = _mm256_hadd_ps(d[2], d[3]);
            __m256 h45 = _mm256_hadd_ps(d[4], d[5]), h67 = _mm256_hadd_ps(d[6], d[7]);
            __m256 h0123 = _mm256_hadd_ps(h01, h23), h4567 = _mm256_hadd_ps(h45, h67);
            __m256 lo = _mm256_permute2f128_ps(h0123, h4567, 0x20), hi = _mm256_permute2f128_ps(h0123, h4567, 0x31);
            __m256 sc = _mm256_mul_ps(_mm256_add_ps(lo, hi), vscale);
            _mm256_storeu_ps(scratch + t0, sc);
            vmx8 = _mm256_max_ps(vmx8, sc);
        }
        float m8[8];
        _mm256_storeu_ps(m8, vmx8);
        for (int u = 0; u < 8; u++) mx = m8[u] > mx ? m8[u] : mx;
    }
    for (int t = t0; t < n; t++) {
        const float *k = K + (size_t)t * hd;
        __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
        int j = 0;
        for (; j + 1 < nv; j += 2) {
            acc0 = _mm256_fmadd_ps(_mm256_loadu_ps(q + 8 * j), _mm256_loadu_ps(k + 8 * j), acc0);
            acc1 = _mm256_fmadd_ps(_mm256_loadu_ps(q + 8 * j + 8), _mm256_loadu_ps(k + 8 * j + 8), acc1);
        }
        if (j < nv) acc0 = _mm256_fmadd_ps(_mm256_loadu_ps(q + 8 * j), _mm256_loadu_ps(k + 8 * j), acc0);
        float s = hsum256(_mm256_add_ps(acc0, acc1)) * scale;
        scratch[t] = s;
        mx = s > mx ? s : mx;
    }
    /* softmax numerators and their sum */
    const __m256 vmx = _mm256_set1_ps(mx);
    __m256 vsum = _mm256_setzero_ps();
    int t = 0;
    for (; t + 8 <= n; t += 8) {
        __m256 e = exp256(_mm256_sub_ps(_mm256_loadu_ps(scratch + t), vmx));
        _mm256_storeu_ps(scratch + t, e);
        vsum = _mm256_add_ps(vsum, e);
    }
    float sum = hsum256(vsum);
    for (; t < n; t++) {
        scratch[t] = expf(scratch[t] - mx);
        sum += scratch[t];
    }
    const float inv = 1.0f / sum;
    /* out = sum_t p_t V[t], accumulated in registers 64 lanes at a time */
    for (int j0 = 0; j0 < nv; j0 += 8) {
        const int w = nv - j0 < 8 ? nv - j0 : 8;
        __m256 acc[8];
        for (int j = 0; j < w; j++) acc[j] = _mm256_setzero_ps();
        for (int tt = 0; tt < n; tt++) {
            const __m256 p = _mm256_set1_ps(scratch[tt]);
            const float *v = V + (size_t)tt * hd + 8 * j0;
            for (int j = 0; j < w; j++) acc[j] = _mm256_fmadd_ps(p, _mm256_loadu_ps(v + 8 * j), acc[j]);
        }
        const __m256 vinv = _mm256_set1_ps(inv);
        for (int j = 0; j < w; j++) _mm256_storeu_ps(out + 8 * (j0 + j), _mm256_mul_ps(acc[j], vinv));
    }
}

void attn_decode_head_f32(float *out, const float *q, const float *K, const float *V, int n, int hd,
                          float scale, float *scratch) {
    if (hd % 8 == 0 && gemm_path_simd())
        attn_head_avx2(out, q, K, V, n, hd, scale, scratch);
    else
        attn_head_portable(out, q, K, V, n, hd, scale, scratch);
}

void attn_causal_head_f32(float *out, int out_stride, const float *q, int q_stride, const float *K,
                          const float *V, int p0, int T, int hd, float scale, float *scratch) {
    for (int t = 0; t < T; t++)
        attn_decode_head_f32(out + (size_t)t * out_stride, q + (size_t)t * q_stride, K, V, p0 + t + 1, hd, scale,
                             scratch);
}
