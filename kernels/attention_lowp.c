/* attention_lowp: decode attention of one head over a K/V cache stored as
 * f16 or bf16 (gemm_lowp.h: attn_decode_head_h). Float32 arithmetic on the
 * widened values, as attention.c does on float32: AVX2 path (F16C for f16)
 * with dot products 8 lanes wide, a vector exp softmax and the weighted sum
 * of V in registers; portable path with plain loops. */
#include <immintrin.h>

#include "avx2_math.h"
#include <math.h>

#include "gemm_lowp.h"
#include "kernels.h"

static inline float widen(uint16_t h, wdtype dt) { return dt == WDT_BF16 ? lw_bf16_to_f32(h) : lw_f16_to_f32(h); }

static void attn_h_portable(float *out, const float *q, const uint16_t *K, const uint16_t *V, int n, int hd,
                            float scale, float *scratch, wdtype dt) {
    for (int t = 0; t < n; t++) {
        const uint16_t *k = K + (size_t)t * hd;
        float acc = 0.0f;
        for (int i = 0; i < hd; i++) acc += q[i] * widen(k[i], dt);
        scratch[t] = acc * scale;
    }
    softmax_f32(scratch, n);
    for (int i = 0; i < hd; i++) out[i] = 0.0f;
    for (int t = 0; t < n; t++) {
        const uint16_t *v = V + (size_t)t * hd;
        const float p = scratch[t];
        for (int i = 0; i < hd; i++) out[i] += p * widen(v[i], dt);
    }
}

#define F16C_FN __attribute__((target("avx2,fma,f16c")))


#define LD8_bf16(P) \
    _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)(const void *)(P))), 16))
#define LD8_f16(P) _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(const void *)(P)))

/* hd a multiple of 8 (GPT-2: 64). */
#define DEFINE_ATTN(TAG, FN)                                                                                       \
    FN static void attn_h_##TAG(float *out, const float *q, const uint16_t *K, const uint16_t *V, int n, int hd,  \
                                float scale, float *scratch) {                                                     \
        const int nv = hd / 8;                                                                                     \
        float mx = -INFINITY;                                                                                      \
        int t0 = 0;                                                                                                \
        if (hd == 64) {                                                                                            \
            const __m256 q0 = _mm256_loadu_ps(q), q1 = _mm256_loadu_ps(q + 8), q2 = _mm256_loadu_ps(q + 16),      \
                         q3 = _mm256_loadu_ps(q + 24), q4 = _mm256_loadu_ps(q + 32),                               \
                         q5 = _mm256_loadu_ps(q + 40), q6 = _mm256_loadu_ps(q + 48),                               \
                         q7 = _mm256_loadu_ps(q + 56);                                                             \
            __m256 vmx8 = _mm256_set1_ps(-INFINITY);                                                               \
            const __m256 vscale = _mm256_set1_ps(scale);                                                           \
            for (; t0 + 8 <= n; t0 += 8) {                                                                         \
                __m256 d[8];                                                                                       \
                for (int u = 0; u < 8; u++) {                                                                      \
                    const uint16_t *k = K + (size_t)(t0 + u) * 64;                                                 \
                    __m256 a = _mm256_mul_ps(q0, LD8_##TAG(k));                                                    \
                    __m256 c = _mm256_mul_ps(q1, LD8_##TAG(k + 8));                                                \
                    a = _mm256_fmadd_ps(q2, LD8_##TAG(k + 16), a);                                                 \
                    c = _mm256_fmadd_ps(q3, LD8_##TAG(k + 24), c);                                                 \
                    a = _mm256_fmadd_ps(q4, LD8_##TAG(k + 32), a);                                                 \
                    c = _mm256_fmadd_ps(q5, LD8_##TAG(k + 40), c);                                                 \
                    a = _mm256_fmadd_ps(q6, LD8_##TAG(k + 48), a);                                                 \
                    c = _mm256_fmadd_ps(q7, LD8_##TAG(k + 56), c);                                                 \
                    d[u] = _mm256_add_ps(a, c);                                                                    \
                }                                                                                                  \
                __m256 h01 = _mm256_hadd_ps(d[0], d[1]), h23 = _mm256_hadd_ps(d[2], d[3]);                        \
                __m256 h45 = _mm256_hadd_ps(d[4], d[5]), h67 = _mm256_hadd_ps(d[6], d[7]);                        \
                __m256 h0123 = _mm256_hadd_ps(h01, h23), h4567 = _mm256_hadd_ps(h45, h67);                        \
                __m256 lo = _mm256_permute2f128_ps(h0123, h4567, 0x20);                                            \
                __m256 hi = _mm256_permute2f128_ps(h0123, h4567, 0x31);                                            \
                __m256 sc = _mm256_mul_ps(_mm256_add_ps(lo, hi), vscale);                                          \
                _mm256_storeu_ps(scratch + t0, sc);                                                                \
                vmx8 = _mm256_max_ps(vmx8, sc);                                                                    \
            }                                                                                                      \
            float m8[8];                                                                                           \
            _mm256_storeu_ps(m8, vmx8);                                                                            \
            for (int u = 0; u < 8; u++) mx = m8[u] > mx ? m8[u] : mx;                                              \
        }                                                                                                          \
        for (int t = t0; t < n; t++) {                                                                             \
            const uint16_t *k = K + (size_t)t * hd;                                                                \
            __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();                                         \
            int j = 0;                                                                                             \
            for (; j + 1 < nv; j += 2) {                                                                           \
                acc0 = _mm256_fmadd_ps(_mm256_loadu_ps(q + 8 * j), LD8_##TAG(k + 8 * j), acc0);                    \
                acc1 = _mm256_fmadd_ps(_mm256_loadu_ps(q + 8 * j + 8), LD8_##TAG(k + 8 * j + 8), acc1);            \
            }                                                                                                      \
            if (j < nv) acc0 = _mm256_fmadd_ps(_mm256_loadu_ps(q + 8 * j), LD8_##TAG(k + 8 * j), acc0);            \
            const float s = hsum256(_mm256_add_ps(acc0, acc1)) * scale;                                            \
            scratch[t] = s;                                                                                        \
            mx = s > mx ? s : mx;                                                                                  \
        }                                                                                                          \
        const __m256 vmx = _mm256_set1_ps(mx);                                                                    \
        __m256 vsum = _mm256_setzero_ps();                                                                         \
        int t = 0;                                                                                                 \
        for (; t + 8 <= n; t += 8) {                                                                               \
            __m256 e = exp256(_mm256_sub_ps(_mm256_loadu_ps(scratch + t), vmx));                                   \
            _mm256_storeu_ps(scratch + t, e);                                                                      \
            vsum = _mm256_add_ps(vsum, e);                                                                         \
        }                                                                                                          \
        float sum = hsum256(vsum);                                                                                 \
        for (; t < n; t++) {                                                                                       \
            scratch[t] = expf(scratch[t] - mx);                                                                    \
            sum += scratch[t];                                                                                     \
        }                                                                                                          \
        const float inv = 1.0f / sum;                                                                              \
        for (int j0 = 0; j0 < nv; j0 += 8) {                                                                       \
            const int w = nv - j0 < 8 ? nv - j0 : 8;                                                               \
            __m256 acc[8];                                                                                         \
            for (int j = 0; j < w; j++) acc[j] = _mm256_setzero_ps();                                              \
            for (int tt = 0; tt < n; tt++) {                                                                       \
                const __m256 p = _mm256_set1_ps(scratch[tt]);                                                      \
                const uint16_t *v = V + (size_t)tt * hd + 8 * j0;                                                  \
                for (int j = 0; j < w; j++) acc[j] = _mm256_fmadd_ps(p, LD8_##TAG(v + 8 * j), acc[j]);             \
            }                                                                                                      \
            const __m256 vinv = _mm256_set1_ps(inv);                                                               \
            for (int j = 0; j < w; j++) _mm256_storeu_ps(out + 8 * (j0 + j), _mm256_mul_ps(acc[j], vinv));         \
        }                                                                                                          \
    }

DEFINE_ATTN(bf16, AVX2_FN)
DEFINE_ATTN(f16, F16C_FN)

void attn_decode_head_h(float *out, const float *q, const uint16_t *K, const uint16_t *V, int n, int hd,
                        float scale, float *scratch, wdtype kv_dt) {
    const int simd = hd % 8 == 0 && gemm_path_simd();
    if (simd && kv_dt == WDT_BF16)
        attn_h_bf16(out, q, K, V, n, hd, scale, scratch);
    else if (simd && kv_dt == WDT_F16 && lw_have_f16c())
        attn_h_f16(out, q, K, V, n, hd, scale, scratch);
    else
        attn_h_portable(out, q, K, V, n, hd, scale, scratch, kv_dt);
}
