/* gemm_lowp: packed small-M GEMM with bf16 / f16 / int8 weights (see
 * gemm_lowp.h). Structure as gemm_packed.c: panels of 16 columns, register
 * blocks of up to 6 rows x 16 columns in named accumulators, balanced row
 * blocks, software prefetch ahead in the panel, OpenMP over panels. */
#include "gemm_lowp.h"

#include "bigalloc.h"
#include "unroll.h"

#include <cpuid.h>
#include <immintrin.h>
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#define NR GEMM_NR
#define MR 6
/* prefetch distance in bytes ahead in the panel (gemm_packed: 48 rows of
 * 64 bytes) */
#ifndef LOWP_PREFETCH_BYTES
#define LOWP_PREFETCH_BYTES 3072
#endif

/* ---- dtypes ------------------------------------------------------------- */

const char *wdtype_name(wdtype dt) {
    switch (dt) {
    case WDT_F32: return "f32";
    case WDT_BF16: return "bf16";
    case WDT_F16: return "f16";
    case WDT_INT8: return "int8";
    }
    return "?";
}

int wdtype_parse(const char *s, wdtype *out) {
    static const struct { const char *n; wdtype d; } T[] = {
        {"f32", WDT_F32},   {"fp32", WDT_F32}, {"float32", WDT_F32}, {"bf16", WDT_BF16}, {"bfloat16", WDT_BF16},
        {"f16", WDT_F16},   {"fp16", WDT_F16}, {"float16", WDT_F16}, {"int8", WDT_INT8}, {"i8", WDT_INT8}};
    if (!s) return -1;
    for (size_t i = 0; i < sizeof T / sizeof T[0]; i++)
        if (strcmp(s, T[i].n) == 0) {
            *out = T[i].d;
            return 0;
        }
    return -1;
}

size_t wdtype_bytes(wdtype dt) {
    switch (dt) {
    case WDT_F32: return 4;
    case WDT_BF16:
    case WDT_F16: return 2;
    case WDT_INT8: return 1;
    }
    return 0;
}

/* ---- scalar conversions -------------------------------------------------- */

static inline uint32_t f2u(float f) {
    uint32_t u;
    memcpy(&u, &f, 4);
    return u;
}

static inline float u2f(uint32_t u) {
    float f;
    memcpy(&f, &u, 4);
    return f;
}

uint16_t lw_f32_to_bf16(float f) {
    uint32_t u = f2u(f);
    if ((u & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((u >> 16) | 0x40u); /* quiet NaN */
    u += 0x7fffu + ((u >> 16) & 1u);
    return (uint16_t)(u >> 16);
}

uint16_t lw_f32_to_f16(float f) {
    const uint32_t u = f2u(f);
    const uint16_t sign = (uint16_t)((u >> 16) & 0x8000u);
    const uint32_t a = u & 0x7fffffffu;
    if (a > 0x7f800000u) return (uint16_t)(sign | 0x7e00u | ((a >> 13) & 0x3ffu)); /* NaN, quieted */
    if (a >= 0x477ff000u) return (uint16_t)(sign | 0x7c00u); /* >= 65520 (and inf): inf */
    if (a < 0x38800000u) { /* below 2^-14: a half subnormal or zero */
        const int s = 126 - (int)(a >> 23); /* value / 2^-24 = mant >> s */
        if (s > 24) return sign;
        const uint32_t mant = (a & 0x7fffffu) | 0x800000u;
        uint32_t r = mant >> s;
        const uint32_t rem = mant & ((1u << s) - 1), half = 1u << (s - 1);
        if (rem > half || (rem == half && (r & 1u))) r++;
        return (uint16_t)(sign | r);
    }
    uint32_t h = ((((a >> 23) - 112u) << 10) | ((a & 0x7fffffu) >> 13));
    const uint32_t rest = a & 0x1fffu;
    if (rest > 0x1000u || (rest == 0x1000u && (h & 1u))) h++; /* a carry into the exponent is right */
    return (uint16_t)(sign | h);
}

float lw_bf16_to_f32(uint16_t h) { return u2f((uint32_t)h << 16); }

float lw_f16_to_f32(uint16_t h) {
    const uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
    uint32_t e = (h >> 10) & 0x1fu, m = h & 0x3ffu;
    if (e == 0) {
        if (m == 0) return u2f(sign);
        /* subnormal: m * 2^-24, exact in float */
        float v = (float)m * (1.0f / 16777216.0f);
        return sign ? -v : v;
    }
    if (e == 31) return u2f(sign | 0x7f800000u | (m << 13));
    return u2f(sign | ((e + 112u) << 23) | (m << 13));
}

static int g_f16c = -1;

int lw_have_f16c(void) {
    if (g_f16c < 0) {
        __builtin_cpu_init();
        /* CPUID leaf 1, ECX bit 29 (clang 14 does not know "f16c" in
         * __builtin_cpu_supports) */
        unsigned a, b, c, d;
        g_f16c = __get_cpuid(1, &a, &b, &c, &d) && (c & (1u << 29)) ? 1 : 0;
    }
    return g_f16c;
}

#define AVX2_FN __attribute__((target("avx2,fma")))
#define F16C_FN __attribute__((target("avx2,fma,f16c")))

AVX2_FN static void cvt_bf16_avx2(uint16_t *dst, const float *src, size_t n) {
    size_t i = 0;
    const __m256i one = _mm256_set1_epi32(1), bias = _mm256_set1_epi32(0x7fff), qbit = _mm256_set1_epi32(0x40);
    for (; i + 8 <= n; i += 8) {
        const __m256 v = _mm256_loadu_ps(src + i);
        const __m256i u = _mm256_castps_si256(v);
        const __m256i hi = _mm256_srli_epi32(u, 16);
        __m256i r = _mm256_srli_epi32(_mm256_add_epi32(u, _mm256_add_epi32(bias, _mm256_and_si256(hi, one))), 16);
        const __m256i nan = _mm256_castps_si256(_mm256_cmp_ps(v, v, _CMP_UNORD_Q));
        r = _mm256_blendv_epi8(r, _mm256_or_si256(hi, qbit), nan);
        _mm_storeu_si128((__m128i *)(void *)(dst + i),
                         _mm_packus_epi32(_mm256_castsi256_si128(r), _mm256_extracti128_si256(r, 1)));
    }
    for (; i < n; i++) dst[i] = lw_f32_to_bf16(src[i]);
}

F16C_FN static void cvt_f16_avx2(uint16_t *dst, const float *src, size_t n) {
    size_t i = 0;
    for (; i + 8 <= n; i += 8)
        _mm_storeu_si128((__m128i *)(void *)(dst + i), _mm256_cvtps_ph(_mm256_loadu_ps(src + i), _MM_FROUND_TO_NEAREST_INT));
    for (; i < n; i++) dst[i] = lw_f32_to_f16(src[i]);
}

void cvt_f32_to_h(uint16_t *dst, const float *src, size_t n, wdtype dt) {
    const int simd = gemm_path_simd();
    if (dt == WDT_BF16) {
        if (simd)
            cvt_bf16_avx2(dst, src, n);
        else
            for (size_t i = 0; i < n; i++) dst[i] = lw_f32_to_bf16(src[i]);
    } else {
        if (simd && lw_have_f16c())
            cvt_f16_avx2(dst, src, n);
        else
            for (size_t i = 0; i < n; i++) dst[i] = lw_f32_to_f16(src[i]);
    }
}

void cvt_h_to_f32(float *dst, const uint16_t *src, size_t n, wdtype dt) {
    if (dt == WDT_BF16)
        for (size_t i = 0; i < n; i++) dst[i] = lw_bf16_to_f32(src[i]);
    else
        for (size_t i = 0; i < n; i++) dst[i] = lw_f16_to_f32(src[i]);
}

/* ---- int8 quantization --------------------------------------------------- */

static inline int8_t quant1(float w, float scale) {
    if (scale == 0.0f) return 0;
    float r = nearbyintf(w / scale);
    r = r > 127.0f ? 127.0f : r < -127.0f ? -127.0f : r;
    return (int8_t)r;
}

static inline float scale_of(float maxabs) { return (float)((double)maxabs / 127.0); }

/* w: element (k, n) at w[k * sk + n * sn]. */
static int quantize_strided(const float *w, size_t sk, size_t sn, int K, int N, int8_t *q, size_t qk, size_t qn,
                            float *scales) {
    int bad = 0;
#pragma omp parallel for schedule(static) reduction(| : bad) if ((size_t)K * N > (1u << 18))
    for (int n = 0; n < N; n++) {
        float mx = 0.0f;
        for (int k = 0; k < K; k++) {
            const float a = fabsf(w[(size_t)k * sk + (size_t)n * sn]);
            if (!isfinite(a)) bad = 1;
            mx = a > mx ? a : mx;
        }
        const float s = scale_of(mx);
        scales[n] = s;
        for (int k = 0; k < K; k++) q[(size_t)k * qk + (size_t)n * qn] = quant1(w[(size_t)k * sk + (size_t)n * sn], s);
    }
    return bad ? -2 : 0;
}

int lw_quantize_i8_kn(const float *w, int K, int N, int8_t *q, float *scales) {
    return quantize_strided(w, (size_t)N, 1, K, N, q, (size_t)N, 1, scales);
}

int lw_quantize_i8_nk(const float *w, int K, int N, int8_t *q, float *scales) {
    return quantize_strided(w, 1, (size_t)K, K, N, q, 1, (size_t)K, scales);
}

/* ---- packing ------------------------------------------------------------- */

size_t packed_lw_bytes(int K, int N, wdtype dt) {
    size_t Np = ((size_t)N + NR - 1) / NR * NR;
    return (size_t)K * Np * wdtype_bytes(dt);
}

static int lw_alloc(packed_lw *p, int K, int N, wdtype dt) {
    memset(p, 0, sizeof *p);
    p->K = K;
    p->N = N;
    p->Np = (N + NR - 1) / NR * NR;
    p->dt = dt;
    p->panels = big_alloc(packed_lw_bytes(K, N, dt) ? packed_lw_bytes(K, N, dt) : 64);
    if (!p->panels) return -1;
    if (dt == WDT_INT8) {
        p->scales = big_alloc((size_t)p->Np * sizeof(float));
        if (!p->scales) {
            packed_lw_free(p);
            return -1;
        }
        memset(p->scales, 0, (size_t)p->Np * sizeof(float));
    }
    return 0;
}

void packed_lw_free(packed_lw *p) {
    free(p->panels);
    free(p->scales);
    memset(p, 0, sizeof *p);
}

/* Fills the panels from a float source: element (k, n) at w[k*sk + n*sn],
 * rounded to p->dt (int8: with p->scales already set). */
static void pack_float(packed_lw *p, const float *w, size_t sk, size_t sn) {
    const int K = p->K, N = p->N, np = p->Np / NR;
#pragma omp parallel for schedule(static)
    for (int j = 0; j < np; j++) {
        for (int k = 0; k < K; k++) {
            const size_t o = ((size_t)j * K + k) * NR;
            for (int c = 0; c < NR; c++) {
                const int n = j * NR + c;
                const float v = n < N ? w[(size_t)k * sk + (size_t)n * sn] : 0.0f;
                switch (p->dt) {
                case WDT_F32: ((float *)p->panels)[o + c] = v; break;
                case WDT_BF16: ((uint16_t *)p->panels)[o + c] = lw_f32_to_bf16(v); break;
                case WDT_F16: ((uint16_t *)p->panels)[o + c] = lw_f32_to_f16(v); break;
                case WDT_INT8: ((int8_t *)p->panels)[o + c] = n < N ? quant1(v, p->scales[n]) : 0; break;
                }
            }
        }
    }
}

static int from_float(packed_lw *p, const float *w, int K, int N, wdtype dt, size_t sk, size_t sn) {
    if (lw_alloc(p, K, N, dt)) return -1;
    if (dt == WDT_INT8) {
        int bad = 0;
#pragma omp parallel for schedule(static) reduction(| : bad) if ((size_t)K * N > (1u << 18))
        for (int n = 0; n < N; n++) {
            float mx = 0.0f;
            for (int k = 0; k < K; k++) {
                const float a = fabsf(w[(size_t)k * sk + (size_t)n * sn]);
                if (!isfinite(a)) bad = 1;
                mx = a > mx ? a : mx;
            }
            p->scales[n] = scale_of(mx);
        }
        if (bad) {
            packed_lw_free(p);
            return -2;
        }
    }
    pack_float(p, w, sk, sn);
    return 0;
}

int packed_lw_from_kn(packed_lw *p, const float *w, int K, int N, wdtype dt) {
    return from_float(p, w, K, N, dt, (size_t)N, 1);
}

int packed_lw_from_nk(packed_lw *p, const float *w, int K, int N, wdtype dt) {
    return from_float(p, w, K, N, dt, 1, (size_t)K);
}

/* Copies elements of `esize` bytes: element (k, n) at src[k*sk + n*sn]. */
static void pack_raw(packed_lw *p, const void *src, size_t esize, size_t sk, size_t sn) {
    const int K = p->K, N = p->N, np = p->Np / NR;
    const unsigned char *s = src;
    unsigned char *d = p->panels;
#pragma omp parallel for schedule(static)
    for (int j = 0; j < np; j++)
        for (int k = 0; k < K; k++) {
            unsigned char *o = d + ((size_t)j * K + k) * NR * esize;
            for (int c = 0; c < NR; c++) {
                const int n = j * NR + c;
                if (n < N)
                    memcpy(o + c * esize, s + ((size_t)k * sk + (size_t)n * sn) * esize, esize);
                else
                    memset(o + c * esize, 0, esize);
            }
        }
}

static int from_i8(packed_lw *p, const int8_t *q, const float *scales, int K, int N, size_t sk, size_t sn) {
    if (lw_alloc(p, K, N, WDT_INT8)) return -1;
    memcpy(p->scales, scales, (size_t)N * sizeof(float));
    pack_raw(p, q, 1, sk, sn);
    return 0;
}

int packed_lw_from_kn_i8(packed_lw *p, const int8_t *q, const float *scales, int K, int N) {
    return from_i8(p, q, scales, K, N, (size_t)N, 1);
}

int packed_lw_from_nk_i8(packed_lw *p, const int8_t *q, const float *scales, int K, int N) {
    return from_i8(p, q, scales, K, N, 1, (size_t)K);
}

int packed_lw_from_kn_h(packed_lw *p, const uint16_t *w, int K, int N, wdtype dt) {
    if (dt != WDT_BF16 && dt != WDT_F16) return -2;
    if (lw_alloc(p, K, N, dt)) return -1;
    pack_raw(p, w, 2, (size_t)N, 1);
    return 0;
}

int packed_lw_from_nk_h(packed_lw *p, const uint16_t *w, int K, int N, wdtype dt) {
    if (dt != WDT_BF16 && dt != WDT_F16) return -2;
    if (lw_alloc(p, K, N, dt)) return -1;
    pack_raw(p, w, 2, 1, (size_t)K);
    return 0;
}

/* The float value of panel element i. */
static inline float elem(const packed_lw *p, size_t i) {
    switch (p->dt) {
    case WDT_F32: return ((const float *)p->panels)[i];
    case WDT_BF16: return lw_bf16_to_f32(((const uint16_t *)p->panels)[i]);
    case WDT_F16: return lw_f16_to_f32(((const uint16_t *)p->panels)[i]);
    case WDT_INT8: return (float)((const int8_t *)p->panels)[i];
    }
    return 0.0f;
}

void packed_lw_dequant_kn(const packed_lw *p, float *w) {
    const int K = p->K, N = p->N;
    for (int k = 0; k < K; k++)
        for (int n = 0; n < N; n++) {
            const size_t i = ((size_t)(n / NR) * K + k) * NR + (size_t)(n % NR);
            const float v = elem(p, i);
            w[(size_t)k * N + n] = p->dt == WDT_INT8 ? p->scales[n] * v : v;
        }
}

/* ---- portable path ---------------------------------------------------------- */

/* Stores an (mr, NR) block into y, clipped to nw columns: acc * s + b
 * (s: int8 scales or NULL). */
static inline void store_block(float *y, int ldy, const float *acc, int mr, int nw, const float *b, const float *s) {
    for (int m = 0; m < mr; m++)
        for (int c = 0; c < nw; c++) {
            float v = acc[m * NR + c];
            if (s) v *= s[c];
            y[(size_t)m * ldy + c] = v + (b ? b[c] : 0.0f);
        }
}

static void panel_portable(float *y, int ldy, const float *x, const packed_lw *p, size_t pidx0, int M, int nw,
                           const float *b, const float *s) {
    const int K = p->K;
    for (int m0 = 0; m0 < M; m0 += MR) {
        const int mr = M - m0 < MR ? M - m0 : MR;
        float acc[MR * NR] = {0};
        for (int k = 0; k < K; k++) {
            float wk[NR];
            for (int c = 0; c < NR; c++) wk[c] = elem(p, pidx0 + (size_t)k * NR + c);
            for (int m = 0; m < mr; m++) {
                const float xv = x[(size_t)(m0 + m) * K + k];
                for (int c = 0; c < NR; c++) acc[m * NR + c] += xv * wk[c];
            }
        }
        store_block(y + (size_t)m0 * ldy, ldy, acc, mr, nw, b, s);
    }
}

/* ---- AVX2 path ------------------------------------------------------------- */

/* Widening one k row (16 elements at P) into two vectors of 8 floats.
 * bf16: one 32-byte load; shifting each 32-bit lane left by 16 gives the
 * even columns (0, 2, .., 14) as floats, masking off the low half the odd
 * ones (1, 3, .., 15): no shuffles in the loop. The accumulators then hold
 * even / odd columns, put back in order once at the end (FIX_bf16). f16,
 * int8: columns 0..7 and 8..15. */
#define LOADW_bf16(P, w0, w1)                                                                 \
    {                                                                                         \
        const __m256i r_ = _mm256_load_si256((const __m256i *)(const void *)(P));             \
        w0 = _mm256_castsi256_ps(_mm256_slli_epi32(r_, 16));                                  \
        w1 = _mm256_castsi256_ps(_mm256_and_si256(r_, _mm256_set1_epi32((int)0xffff0000u)));   \
    }
#define FIX_bf16(a, c)                                                                        \
    {                                                                                         \
        const __m256 lo_ = _mm256_unpacklo_ps(a, c), hi_ = _mm256_unpackhi_ps(a, c);          \
        a = _mm256_permute2f128_ps(lo_, hi_, 0x20);                                           \
        c = _mm256_permute2f128_ps(lo_, hi_, 0x31);                                           \
    }
#define FIX_f16(a, c)
#define FIX_i8(a, c)
#define LOADW_f16(P, w0, w1)                                                        \
    w0 = _mm256_cvtph_ps(_mm_load_si128((const __m128i *)(const void *)(P)));      \
    w1 = _mm256_cvtph_ps(_mm_load_si128((const __m128i *)(const void *)((P) + 8)));
#define LOADW_i8(P, w0, w1)                                                                                 \
    w0 = _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_loadl_epi64((const __m128i *)(const void *)(P))));     \
    w1 = _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_loadl_epi64((const __m128i *)(const void *)((P) + 8))));

#define ROW_FMA(MRB, i)                                                 \
    if (MRB > i) {                                                      \
        const __m256 xv = _mm256_broadcast_ss(x + i * (size_t)K + k);  \
        a##i = _mm256_fmadd_ps(xv, w0, a##i);                           \
        c##i = _mm256_fmadd_ps(xv, w1, c##i);                           \
    }
#define ROW_STORE(TAG, MRB, i)                                          \
    if (MRB > i) {                                                      \
        FIX_##TAG(a##i, c##i)                                           \
        _mm256_storeu_ps(acc + i * NR, a##i);                           \
        _mm256_storeu_ps(acc + i * NR + 8, c##i);                       \
    }

/* LOWP_BLOCK_UNROLL: GCC's unroll factor for the blocks' k loop (M >= 3).
 * 4: in one process, calls back to back on cold weights (docs/experiments/
 * gemm_ab.sh "-DLOWP_BLOCK_UNROLL=4" DTYPE 8,16,64 100, against none,
 * 2026-11-23): bf16 x1.07-1.24 per shape, int8 x0.99-1.26, f16 x1.04-1.24,
 * largest at M = 8; 2 and 8 times less (bf16 x0.99-1.19 / x1.00-1.22, int8
 * x0.95-1.22 / x0.99-1.07). The reverse once it was in (=1 against 4): bf16
 * x0.89-1.00, int8 x0.85-1.05, f16 x0.83-1.02. */
#ifndef LOWP_BLOCK_UNROLL
#define LOWP_BLOCK_UNROLL 4
#endif
/* LOWP_PAIR_UNROLL: the same for the pair kernels' k loops (M = 1, 2). 4,
 * against none ("-DLOWP_PAIR_UNROLL=4" DTYPE 1,2 120, two runs): int8
 * x1.00-1.05, bf16 x0.99-1.05; the reverse, int8 x0.85-0.98. */
#ifndef LOWP_PAIR_UNROLL
#define LOWP_PAIR_UNROLL 4
#endif

/* Register block of MRB rows against one panel of element type ET. Prefetch
 * one 64-byte line per PFU k rows, LOWP_PREFETCH_BYTES ahead (pf: the
 * address to prefetch for k = 0). */
#define DEFINE_BLOCK(TAG, ET, FN, MRB)                                                                             \
    FN static void block_##TAG##_##MRB(float *y, int ldy, const float *x, int K, const ET *panel, int nw,         \
                                       const float *b, const float *s, const char *pf) {                          \
        __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0, a4 = a0, a5 = a0;                            \
        __m256 c0 = a0, c1 = a0, c2 = a0, c3 = a0, c4 = a0, c5 = a0;                                             \
        __m256 w0, w1;                                                                                           \
        enum { PFU = 64 / (NR * (int)sizeof(ET)) };                                                             \
        KERNEL_UNROLL(LOWP_BLOCK_UNROLL)                                                                         \
        for (int k = 0; k < K; k++) {                                                                            \
            if ((k & (PFU - 1)) == 0) _mm_prefetch(pf + (size_t)k * NR * sizeof(ET), _MM_HINT_T0);              \
            LOADW_##TAG(panel + (size_t)k * NR, w0, w1)                                                         \
            ROW_FMA(MRB, 0) ROW_FMA(MRB, 1) ROW_FMA(MRB, 2) ROW_FMA(MRB, 3) ROW_FMA(MRB, 4) ROW_FMA(MRB, 5)      \
        }                                                                                                        \
        float acc[6 * NR];                                                                                       \
        ROW_STORE(TAG, MRB, 0) ROW_STORE(TAG, MRB, 1) ROW_STORE(TAG, MRB, 2) ROW_STORE(TAG, MRB, 3) ROW_STORE(TAG, MRB, 4) ROW_STORE(TAG, MRB, 5) \
        store_block(y, ldy, acc, MRB, nw, b, s);                                                                 \
    }

/* M = 1 and 2, two panels at once (pa, pb: half a thread's range apart),
 * over the whole of K, prefetching as PAIR_PREFETCH says: each core streams two places
 * of the matrix instead of one; at M = 2 every widened weight vector feeds
 * both rows. Partial sums in tile: (M, 32), a row's 16 columns of pa then
 * its 16 of pb, bf16's even/odd column order kept until the store.
 * M = 1, against one panel at a time (prefetching ahead), gpt2-bench
 * kernels --batch 1, weights cold, 5 interleaved rounds each: bf16 26.4
 * against 22.8 and 25.1 against 20.1 GB/s (f32's kernel: 26.9, 26.7), int8
 * 20.8 against 19.8.
 * M = 2, against the 2-row block over one panel (4 chains): kernels --dtype
 * int8 --batch 2, 4 interleaved rounds: 64-80 against 39-60 GFLOP/s (x1.3-
 * 1.85, all five shapes); bf16 x0.99-1.13; decode --dtype int8 --batch 2
 * --context 128, 4 rounds: x1.37 and x1.40 (two A/B runs), bf16 x1.02-1.08.
 * M = 3 and 4 keep the 6-row blocks: pairs of panels in chunks of 64 K rows,
 * the rows two at a time (as f32's pair_avx2), widen each chunk again per
 * pair of rows (one widening per 2 rows, against one per 3 or 4 in a
 * block); decode int8, 4 rounds, two A/B runs: B = 4 x0.90 (0.81-0.94)
 * and x1.00 (0.79-1.12), B = 3 x1.14 (0.99-1.35) and x1.08 (0.87-1.27).
 * B = 3 alone, 8 rounds: S = 128 x1.06 (0.59-1.61), S = 896 x0.92
 * (0.77-1.17). Not kept (commit 7a903b7 has the code,
 * LOWP_TWO_STREAM_MAX_M there). */
#define LOWP_TWO_STREAM_MAX_M 2
/* Software prefetch in the pair kernels: one 64-byte line of each panel,
 * LOWP_PAIR_PF_BYTES ahead, every 64 bytes of k rows; PAIR_PF_<TAG>:
 * prefetch in pair1 (M = 1), PAIR2_PF_<TAG>: in pair2 (M = 2), 0: none.
 * Measured in one process, each call of the kernel with and without
 * timed back to back on cold copies of the weights (2 threads, 300 pairs
 * per shape), median of the paired speed-ups per gpt2 shape (re-run with
 * docs/experiments/gemm_ab.sh "-DLOWP_PAIR_PF_BYTES=0" int8 1 200, which
 * gives B/A = without/with: int8 x0.92-1.01, bf16 M = 2 x0.92-0.96): M = 1 int8 x0.99-1.10 over six runs
 * (median of all 30 figures x1.07) at 1024 bytes (512: x1.01-1.04, 1536
 * and 2048 no better), bf16 x1.02-1.04, f16 x1.02-1.06; M = 2 bf16
 * x1.04-1.12, f16 x1.09-1.12, int8 x0.94-1.00 (its widening, not memory,
 * limits it at M = 2: no prefetch there); decode --batch 1 --context 128,
 * 8 interleaved rounds of two builds: int8 x1.11, bf16 x1.04. The f32
 * pair kernels are slower with it (docs/experiments/f32_pair_prefetch_ab.c:
 * M = 1 x0.87-0.91, M = 2 x0.87-0.94): the hardware prefetcher keeps up
 * with a stream consumed a line per k row. Without software prefetch each core keeps too few lines
 * in flight: the widening per 64-byte line is 4 (int8) or 2 (16-bit)
 * times the f32 kernel's work, so fewer lines fit in the out-of-order
 * window. */
#ifndef LOWP_PAIR_PF_BYTES
#define LOWP_PAIR_PF_BYTES 1024
#endif
#define PAIR_PF_bf16 1
#define PAIR_PF_f16 1
#define PAIR_PF_i8 1
#define PAIR2_PF_bf16 1
#define PAIR2_PF_f16 1
#define PAIR2_PF_i8 0
#define PAIR_PREFETCH(ON, ET, KK)                                                                                \
    if ((ON) && LOWP_PAIR_PF_BYTES > 0 && ((KK) & (64 / (NR * (int)sizeof(ET)) - 1)) == 0) {                   \
        _mm_prefetch((const char *)(pa + (size_t)(KK) * NR) + LOWP_PAIR_PF_BYTES, _MM_HINT_T0);                 \
        _mm_prefetch((const char *)(pb + (size_t)(KK) * NR) + LOWP_PAIR_PF_BYTES, _MM_HINT_T0);                 \
    }
/* One k row of both panels against row XV: accumulator pairs (A, C) for pa
 * and (E, G) for pb. */
#define PAIR_FMA(XV, A, C, E, G)                                                                                 \
    {                                                                                                            \
        A = _mm256_fmadd_ps(XV, w0, A);                                                                          \
        C = _mm256_fmadd_ps(XV, w1, C);                                                                          \
        E = _mm256_fmadd_ps(XV, v0, E);                                                                          \
        G = _mm256_fmadd_ps(XV, v1, G);                                                                          \
    }
#define PAIR_LOADW(TAG, KK)                                                                                      \
    LOADW_##TAG(pa + (size_t)(KK) * NR, w0, w1)                                                                 \
    LOADW_##TAG(pb + (size_t)(KK) * NR, v0, v1)
#define TILE_STORE(T, A, C, E, G)                                                                                \
    _mm256_storeu_ps(T, A), _mm256_storeu_ps((T) + 8, C), _mm256_storeu_ps((T) + 16, E),                        \
    _mm256_storeu_ps((T) + 24, G);
#define DEFINE_PAIR(TAG, ET, FN)                                                                                  \
    /* one row, k unrolled by 2: eight chains */                                                                 \
    FN static void pair1_##TAG(float *tile, const float *x0, int kn, const ET *pa, const ET *pb) {               \
        __m256 a0 = _mm256_setzero_ps(), a1 = a0, c0 = a0, c1 = a0, e0 = a0, e1 = a0, g0 = a0, g1 = a0;         \
        __m256 w0, w1, v0, v1;                                                                                   \
        int k = 0;                                                                                               \
        KERNEL_UNROLL(LOWP_PAIR_UNROLL)                                                                          \
        for (; k + 1 < kn; k += 2) {                                                                             \
            PAIR_PREFETCH(PAIR_PF_##TAG, ET, k)                                                                  \
            const __m256 r0 = _mm256_broadcast_ss(x0 + k), r1 = _mm256_broadcast_ss(x0 + k + 1);                 \
            PAIR_LOADW(TAG, k) PAIR_FMA(r0, a0, c0, e0, g0)                                                      \
            PAIR_LOADW(TAG, k + 1) PAIR_FMA(r1, a1, c1, e1, g1)                                                  \
        }                                                                                                        \
        if (k < kn) {                                                                                            \
            const __m256 r0 = _mm256_broadcast_ss(x0 + k);                                                       \
            PAIR_LOADW(TAG, k) PAIR_FMA(r0, a0, c0, e0, g0)                                                      \
        }                                                                                                        \
        a0 = _mm256_add_ps(a0, a1), c0 = _mm256_add_ps(c0, c1);                                                  \
        e0 = _mm256_add_ps(e0, e1), g0 = _mm256_add_ps(g0, g1);                                                  \
        TILE_STORE(tile, a0, c0, e0, g0)                                                                         \
    }                                                                                                            \
    /* two rows, one widening of each weight vector for both: eight chains */                                   \
    FN static void pair2_##TAG(float *tile, const float *x0, const float *x1, int kn, const ET *pa, const ET *pb) \
    {                                                                                                            \
        __m256 a0 = _mm256_setzero_ps(), a1 = a0, c0 = a0, c1 = a0, e0 = a0, e1 = a0, g0 = a0, g1 = a0;         \
        __m256 w0, w1, v0, v1;                                                                                   \
        KERNEL_UNROLL(LOWP_PAIR_UNROLL)                                                                          \
        for (int k = 0; k < kn; k++) {                                                                           \
            PAIR_PREFETCH(PAIR2_PF_##TAG, ET, k)                                                                 \
            const __m256 r0 = _mm256_broadcast_ss(x0 + k), r1 = _mm256_broadcast_ss(x1 + k);                     \
            PAIR_LOADW(TAG, k)                                                                                   \
            PAIR_FMA(r0, a0, c0, e0, g0)                                                                         \
            PAIR_FMA(r1, a1, c1, e1, g1)                                                                         \
        }                                                                                                        \
        TILE_STORE(tile, a0, c0, e0, g0) TILE_STORE(tile + 2 * NR, a1, c1, e1, g1)                               \
    }                                                                                                            \
    /* y: the M (1 or 2) rows' outputs for panel pa (nwa columns at ya) and pb  \
     * (at yb; NULL: pb is pa again, its half of the tile dropped) */                                            \
    FN static void pair_##TAG(float *ya, float *yb, int ldy, const float *x, int K, int M, const ET *pa,         \
                              const ET *pb, int nwa, int nwb, const float *ba, const float *bb, const float *sa,  \
                              const float *sb) {                                                                 \
        float tile[2 * 2 * NR]; /* (M, 32) */                                                                    \
        if (M == 2)                                                                                              \
            pair2_##TAG(tile, x, x + K, K, pa, pb);                                                           \
        else                                                                                                     \
            pair1_##TAG(tile, x, K, pa, pb);                                                                  \
        for (int m = 0; m < M; m++) {                                                                            \
            float *t = tile + (size_t)m * 2 * NR;                                                                \
            __m256 a = _mm256_loadu_ps(t), c = _mm256_loadu_ps(t + 8), e = _mm256_loadu_ps(t + 16),              \
                   g = _mm256_loadu_ps(t + 24);                                                                  \
            FIX_##TAG(a, c) FIX_##TAG(e, g)                                                                      \
            TILE_STORE(t, a, c, e, g)                                                                            \
            store_block(ya + (size_t)m * ldy, 0, t, 1, nwa, ba, sa);                                             \
            if (yb) store_block(yb + (size_t)m * ldy, 0, t + NR, 1, nwb, bb, sb);                                \
        }                                                                                                        \
    }

#define DEFINE_ALL(TAG, ET, FN)      \
    DEFINE_BLOCK(TAG, ET, FN, 1)     \
    DEFINE_BLOCK(TAG, ET, FN, 2)     \
    DEFINE_BLOCK(TAG, ET, FN, 3)     \
    DEFINE_BLOCK(TAG, ET, FN, 4)     \
    DEFINE_BLOCK(TAG, ET, FN, 5)     \
    DEFINE_BLOCK(TAG, ET, FN, 6)     \
    DEFINE_PAIR(TAG, ET, FN)

DEFINE_ALL(bf16, uint16_t, AVX2_FN)
DEFINE_ALL(f16, uint16_t, F16C_FN)
DEFINE_ALL(i8, int8_t, AVX2_FN)

/* ---- AVX-512 path: the blocks (M >= 3) with one zmm per k row ----
 * A k row of 16 elements widens into one zmm of 16 floats in column order
 * (no even/odd fix-up for bf16), and each row's FMA takes x as an embedded
 * broadcast, as gemm_packed.c's AVX-512 blocks; the same prefetch, x read
 * in place. M = 1, 2 keep the AVX2 pair kernels. */
#define AVX512_FN __attribute__((target("avx512f,avx2,fma,f16c")))
#define LOADW512_bf16(P) \
    _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(_mm256_load_si256((const __m256i *)(const void *)(P))), 16))
#define LOADW512_f16(P) _mm512_cvtph_ps(_mm256_load_si256((const __m256i *)(const void *)(P)))
#define LOADW512_i8(P) _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_load_si128((const __m128i *)(const void *)(P))))
#define ROW512_FMA(MRB, i) \
    if (MRB > i) a##i = _mm512_fmadd_ps(_mm512_set1_ps(x[i * (size_t)K + k]), w, a##i);
#define ROW512_STORE(MRB, i) \
    if (MRB > i) _mm512_storeu_ps(acc + i * NR, a##i);
#define DEFINE_BLOCK512(TAG, ET, MRB)                                                                              \
    AVX512_FN static void block512_##TAG##_##MRB(float *y, int ldy, const float *x, int K, const ET *panel,      \
                                                 int nw, const float *b, const float *s, const char *pf) {       \
        __m512 a0 = _mm512_setzero_ps(), a1 = a0, a2 = a0, a3 = a0, a4 = a0, a5 = a0;                            \
        enum { PFU = 64 / (NR * (int)sizeof(ET)) };                                                             \
        KERNEL_UNROLL(LOWP_BLOCK_UNROLL)                                                                         \
        for (int k = 0; k < K; k++) {                                                                            \
            if ((k & (PFU - 1)) == 0) _mm_prefetch(pf + (size_t)k * NR * sizeof(ET), _MM_HINT_T0);              \
            const __m512 w = LOADW512_##TAG(panel + (size_t)k * NR);                                            \
            ROW512_FMA(MRB, 0) ROW512_FMA(MRB, 1) ROW512_FMA(MRB, 2) ROW512_FMA(MRB, 3) ROW512_FMA(MRB, 4)      \
            ROW512_FMA(MRB, 5)                                                                                   \
        }                                                                                                        \
        float acc[6 * NR];                                                                                       \
        ROW512_STORE(MRB, 0) ROW512_STORE(MRB, 1) ROW512_STORE(MRB, 2) ROW512_STORE(MRB, 3)                      \
        ROW512_STORE(MRB, 4) ROW512_STORE(MRB, 5)                                                                \
        store_block(y, ldy, acc, MRB, nw, b, s);                                                                 \
    }
#define DEFINE_ALL512(TAG, ET)  \
    DEFINE_BLOCK512(TAG, ET, 1) \
    DEFINE_BLOCK512(TAG, ET, 2) \
    DEFINE_BLOCK512(TAG, ET, 3) \
    DEFINE_BLOCK512(TAG, ET, 4) \
    DEFINE_BLOCK512(TAG, ET, 5) \
    DEFINE_BLOCK512(TAG, ET, 6)
DEFINE_ALL512(bf16, uint16_t)
DEFINE_ALL512(f16, uint16_t)
DEFINE_ALL512(i8, int8_t)

/* One panel against all M rows in balanced register blocks; the first block
 * prefetches ahead in this panel, the second (reading the panel again from
 * L2) the next panel. next: the following panel or NULL. wide: the AVX-512
 * blocks. */
#define DEFINE_PANEL(TAG, ET)                                                                                      \
    static void panel_##TAG(float *y, int ldy, const float *x, int K, const ET *panel, int M, int nw,            \
                            const float *b, const float *s, const ET *next, int wide) {                           \
        typedef void blk_fn(float *, int, const float *, int, const ET *, int, const float *, const float *,     \
                            const char *);                                                                       \
        static blk_fn *const fns[2][MR + 1] = {                                                                  \
            {NULL, block_##TAG##_1, block_##TAG##_2, block_##TAG##_3, block_##TAG##_4, block_##TAG##_5,          \
             block_##TAG##_6},                                                                                   \
            {NULL, block512_##TAG##_1, block512_##TAG##_2, block512_##TAG##_3, block512_##TAG##_4,               \
             block512_##TAG##_5, block512_##TAG##_6}};                                                           \
        const char *ahead = (const char *)panel + LOWP_PREFETCH_BYTES;                                           \
        const int nblk = (M + MR - 1) / MR;                                                                      \
        for (int blk = 0, m0 = 0; blk < nblk; blk++) {                                                           \
            const int rows = (M - m0) / (nblk - blk) + ((M - m0) % (nblk - blk) != 0);                           \
            const char *pf = blk == 1 && next ? (const char *)next : ahead;                                      \
            fns[wide][rows](y + (size_t)m0 * ldy, ldy, x + (size_t)m0 * K, K, panel, nw, b, s, pf);              \
            m0 += rows;                                                                                          \
        }                                                                                                        \
    }

DEFINE_PANEL(bf16, uint16_t)
DEFINE_PANEL(f16, uint16_t)
DEFINE_PANEL(i8, int8_t)

/* ---- dispatch ---------------------------------------------------------------- */

void linear_lw(float *y, const float *x, const packed_lw *w, const float *b, int M) {
    if (w->dt == WDT_F32) {
        const packed_w pw = {w->K, w->N, w->Np, (float *)w->panels};
        linear_packed_f32(y, x, &pw, b, M);
        return;
    }
    const int K = w->K, N = w->N, np = w->Np / NR;
    const size_t es = wdtype_bytes(w->dt), pbytes = (size_t)K * NR * es;
    int simd = gemm_path_simd();
    if (w->dt == WDT_F16 && !lw_have_f16c()) simd = 0;
    const int wide = simd && gemm_path_current() == GEMM_PATH_AVX512;
    const wdtype dt = w->dt;
    const unsigned char *base = w->panels;
    if (M <= LOWP_TWO_STREAM_MAX_M && simd) { /* two streams per core: panels i and h + i of each thread's range */
#pragma omp parallel if (np > 1 && (size_t)K * w->Np > 16384)
        {
            const int nt = omp_get_num_threads(), t = omp_get_thread_num();
            const int j0 = (int)((long)np * t / nt), j1 = (int)((long)np * (t + 1) / nt), h = (j1 - j0 + 1) / 2;
            for (int i = 0; i < h; i++) {
                const int ja = j0 + i, jb = j0 + h + i < j1 ? j0 + h + i : ja; /* the odd panel: paired with itself */
                const int na = N - ja * NR < NR ? N - ja * NR : NR, nb = N - jb * NR < NR ? N - jb * NR : NR;
                const unsigned char *pa = base + (size_t)ja * pbytes, *pb = base + (size_t)jb * pbytes;
                float *ya = y + ja * NR, *yb = jb != ja ? y + jb * NR : NULL;
                const float *ba = b ? b + ja * NR : NULL, *bb = b ? b + jb * NR : NULL;
                if (dt == WDT_BF16)
                    pair_bf16(ya, yb, N, x, K, M, (const uint16_t *)(const void *)pa,
                              (const uint16_t *)(const void *)pb, na, nb, ba, bb, NULL, NULL);
                else if (dt == WDT_F16)
                    pair_f16(ya, yb, N, x, K, M, (const uint16_t *)(const void *)pa,
                             (const uint16_t *)(const void *)pb, na, nb, ba, bb, NULL, NULL);
                else
                    pair_i8(ya, yb, N, x, K, M, (const int8_t *)pa, (const int8_t *)pb, na, nb, ba, bb,
                            w->scales + ja * NR, w->scales + jb * NR);
            }
        }
        return;
    }
#pragma omp parallel for schedule(static) if (np > 1 && (size_t)K * w->Np > 16384)
    for (int j = 0; j < np; j++) {
        const int n0 = j * NR, nw = N - n0 < NR ? N - n0 : NR;
        const unsigned char *panel = base + (size_t)j * pbytes;
        const unsigned char *next = j + 1 < np ? panel + pbytes : NULL;
        const float *bj = b ? b + n0 : NULL, *sj = dt == WDT_INT8 ? w->scales + n0 : NULL;
        float *yj = y + n0;
        if (!simd) {
            panel_portable(yj, N, x, w, (size_t)j * K * NR, M, nw, bj, sj);
        } else if (dt == WDT_BF16) {
            panel_bf16(yj, N, x, K, (const uint16_t *)(const void *)panel, M, nw, bj, NULL,
                       (const uint16_t *)(const void *)next, wide);
        } else if (dt == WDT_F16) {
            panel_f16(yj, N, x, K, (const uint16_t *)(const void *)panel, M, nw, bj, NULL,
                      (const uint16_t *)(const void *)next, wide);
        } else {
            panel_i8(yj, N, x, K, (const int8_t *)panel, M, nw, bj, sj, (const int8_t *)next, wide);
        }
    }
}
