/* argmax: the greedy choice of the next token, the index of the largest
 * logit of each row. The decode step runs it over B x V logits after the
 * LM head; done one row at a time by a scalar loop it took a tenth of a
 * gpt2 step at B = 64 (calibrate: 13.1 ms of 64 rows x 50257). */
#include <immintrin.h>

#include "avx2_math.h"
#include "gemm_packed.h"
#include "kernels.h"

/* The reference: the first index of the largest value; a NaN never wins
 * (every comparison with it is false), unless x[0] is NaN: then 0. */
static int argmax_portable(const float *x, int n) {
    int best = 0;
    for (int i = 1; i < n; i++)
        if (x[i] > x[best]) best = i;
    return best;
}

/* Two passes with the reference's answer: the largest value, then the
 * first index holding it (from L1/L2: a row of gpt2 logits is 196 KiB).
 * vmaxps returns its second operand when either is NaN, so with the
 * running maxima second a NaN input is skipped, and the maxima start from
 * x[0], never NaN here. -0 and +0 compare equal, so the first zero wins,
 * as in the reference. */
AVX2_FN static int argmax_avx2(const float *x, int n) {
    if (x[0] != x[0]) return 0;
    __m256 m0 = _mm256_set1_ps(x[0]), m1 = m0, m2 = m0, m3 = m0;
    int i = 0;
    for (; i + 32 <= n; i += 32) {
        m0 = _mm256_max_ps(_mm256_loadu_ps(x + i), m0);
        m1 = _mm256_max_ps(_mm256_loadu_ps(x + i + 8), m1);
        m2 = _mm256_max_ps(_mm256_loadu_ps(x + i + 16), m2);
        m3 = _mm256_max_ps(_mm256_loadu_ps(x + i + 24), m3);
    }
    float lanes[8];
    _mm256_storeu_ps(lanes, _mm256_max_ps(_mm256_max_ps(m0, m1), _mm256_max_ps(m2, m3)));
    float mx = lanes[0];
    for (int j = 1; j < 8; j++) mx = lanes[j] > mx ? lanes[j] : mx;
    for (; i < n; i++) mx = x[i] > mx ? x[i] : mx;
    const __m256 vm = _mm256_set1_ps(mx);
    for (i = 0; i + 8 <= n; i += 8) {
        const int hit = _mm256_movemask_ps(_mm256_cmp_ps(_mm256_loadu_ps(x + i), vm, _CMP_EQ_OQ));
        if (hit) return i + __builtin_ctz((unsigned)hit);
    }
    for (; i < n; i++)
        if (x[i] == mx) return i;
    return 0; /* not reached: mx is one of the values */
}

static int argmax_path(const float *x, int n, int simd) {
    if (n <= 1) return 0;
    return simd ? argmax_avx2(x, n) : argmax_portable(x, n);
}

int argmax_f32(const float *x, int n) { return argmax_path(x, n, gemm_path_simd()); }

/* idx: (rows); x: (rows, n). Rows split over the threads once there are
 * enough values to pay for a parallel region; the path is read once,
 * before them. */
void argmax_rows_f32(int *idx, const float *x, int rows, int n) {
    const int simd = gemm_path_simd();
#pragma omp parallel for schedule(static) if (rows > 1 && (size_t)rows * n >= 65536)
    for (int r = 0; r < rows; r++) idx[r] = argmax_path(x + (size_t)r * n, n, simd);
}
