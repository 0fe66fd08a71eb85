/* In-process paired A/B of the f32 pair kernels (M = 1, 2) of
 * kernels/gemm_packed.c (A, no software prefetch) against copies that
 * prefetch PFD bytes ahead in both panels (B); timed back to back on cold
 * copies of the weights, median of the paired speed-ups per gpt2 shape.
 *   gcc -O3 -std=c11 -fopenmp -D_GNU_SOURCE -DPFD=1024 -o /tmp/f32_ab \
 *       docs/experiments/f32_pair_prefetch_ab.c kernels/bigalloc.c -lm
 *   OMP_NUM_THREADS=2 /tmp/f32_ab M PAIRS
 * Not part of the build: a record of how docs/method.md's figures were taken. */
#include "../../kernels/gemm_packed.c"
#include <stdio.h>
#include <time.h>

#include "ab_timing.h"
#ifndef PFD
#define PFD 1024
#endif
AVX2_FN static void pair_rows1_pf(float *tile, const float *x0, int kn, const float *pa, const float *pb) {
    __m256 a0 = _mm256_setzero_ps(), a1 = a0, c0 = a0, c1 = a0, e0 = a0, e1 = a0, g0 = a0, g1 = a0;
    int k = 0;
    for (; k + 1 < kn; k += 2) {
        const float *p = pa + (size_t)k * NR, *q = pb + (size_t)k * NR;
        _mm_prefetch((const char *)p + PFD, _MM_HINT_T0); _mm_prefetch((const char *)q + PFD, _MM_HINT_T0);
        _mm_prefetch((const char *)p + PFD + 64, _MM_HINT_T0); _mm_prefetch((const char *)q + PFD + 64, _MM_HINT_T0);
        const __m256 r0 = _mm256_broadcast_ss(x0 + k), r1 = _mm256_broadcast_ss(x0 + k + 1);
        a0 = _mm256_fmadd_ps(r0, _mm256_load_ps(p), a0);
        a1 = _mm256_fmadd_ps(r0, _mm256_load_ps(p + 8), a1);
        e0 = _mm256_fmadd_ps(r0, _mm256_load_ps(q), e0);
        e1 = _mm256_fmadd_ps(r0, _mm256_load_ps(q + 8), e1);
        c0 = _mm256_fmadd_ps(r1, _mm256_load_ps(p + 16), c0);
        c1 = _mm256_fmadd_ps(r1, _mm256_load_ps(p + 24), c1);
        g0 = _mm256_fmadd_ps(r1, _mm256_load_ps(q + 16), g0);
        g1 = _mm256_fmadd_ps(r1, _mm256_load_ps(q + 24), g1);
    }
    _mm256_storeu_ps(tile, _mm256_add_ps(a0, c0)), _mm256_storeu_ps(tile + 8, _mm256_add_ps(a1, c1));
    _mm256_storeu_ps(tile + 16, _mm256_add_ps(e0, g0)), _mm256_storeu_ps(tile + 24, _mm256_add_ps(e1, g1));
}
AVX2_FN static void pair_rows2_pf(float *tile, const float *x0, const float *x1, int kn, const float *pa, const float *pb) {
    __m256 a0 = _mm256_setzero_ps(), a1 = a0, c0 = a0, c1 = a0, e0 = a0, e1 = a0, g0 = a0, g1 = a0;
    for (int k = 0; k < kn; k++) {
        const float *p = pa + (size_t)k * NR, *q = pb + (size_t)k * NR;
        _mm_prefetch((const char *)p + PFD, _MM_HINT_T0); _mm_prefetch((const char *)q + PFD, _MM_HINT_T0);
        const __m256 r0 = _mm256_broadcast_ss(x0 + k), r1 = _mm256_broadcast_ss(x1 + k);
        const __m256 w0 = _mm256_load_ps(p), w1 = _mm256_load_ps(p + 8);
        const __m256 v0 = _mm256_load_ps(q), v1 = _mm256_load_ps(q + 8);
        a0 = _mm256_fmadd_ps(r0, w0, a0); a1 = _mm256_fmadd_ps(r0, w1, a1);
        c0 = _mm256_fmadd_ps(r1, w0, c0); c1 = _mm256_fmadd_ps(r1, w1, c1);
        e0 = _mm256_fmadd_ps(r0, v0, e0); e1 = _mm256_fmadd_ps(r0, v1, e1);
        g0 = _mm256_fmadd_ps(r1, v0, g0); g1 = _mm256_fmadd_ps(r1, v1, g1);
    }
    _mm256_storeu_ps(tile, a0), _mm256_storeu_ps(tile + 8, a1); _mm256_storeu_ps(tile + 16, e0), _mm256_storeu_ps(tile + 24, e1);
    _mm256_storeu_ps(tile + 32, c0), _mm256_storeu_ps(tile + 40, c1); _mm256_storeu_ps(tile + 48, g0), _mm256_storeu_ps(tile + 56, g1);
}
static void run(int v, int M, float *y, const float *x, int K, int N, const float *base) {
    const int np = (N + NR - 1) / NR;
#pragma omp parallel
    {
        const int nt = omp_get_num_threads(), t = omp_get_thread_num();
        const int j0 = (int)((long)np * t / nt), j1 = (int)((long)np * (t + 1) / nt), h = (j1 - j0 + 1) / 2;
        float tile[4 * NR];
        for (int i = 0; i < h; i++) {
            const int ja = j0 + i, jb = j0 + h + i < j1 ? j0 + h + i : ja;
            const float *pa = base + (size_t)ja * K * NR, *pb = base + (size_t)jb * K * NR;
            if (M == 1) { if (v) pair_rows1_pf(tile, x, K, pa, pb); else pair_rows1(tile, x, K, pa, pb, 1); }
            else { if (v) pair_rows2_pf(tile, x, x + K, K, pa, pb); else pair_rows2(tile, x, x + K, K, pa, pb, 1); }
            y[ja * NR] += tile[0]; if (jb != ja) y[jb * NR] += tile[16];
        }
    }
}
int main(int argc, char **argv) {
    int M = argc > 1 ? atoi(argv[1]) : 1, iters = argc > 2 ? atoi(argv[2]) : 200;
    const int shapes[5][2] = {{768, 2304}, {768, 768}, {768, 3072}, {3072, 768}, {768, 50257}};
    const char *names[5] = {"qkv", "attn_proj", "fc", "fc_proj", "lm_head"};
    const size_t cold = 1024ul << 20;
    float *buf = aligned_alloc(64, cold);
    for (size_t i = 0; i < cold / 4; i++) buf[i] = 1e-3f * (float)(i % 13);
    float *x = malloc(sizeof(float) * 3072 * 2), *y = calloc(51200 * 2, sizeof(float));
    for (int i = 0; i < 3072 * 2; i++) x[i] = 1e-3f * (i % 7);
    printf("f32 M=%d prefetch %d bytes, %d pairs per shape\n", M, PFD, iters);
    for (int s = 0; s < 5; s++) {
        const int K = shapes[s][0], N = shapes[s][1], np = (N + NR - 1) / NR;
        const size_t bytes = (size_t)np * K * NR * 4, ncopy = cold / bytes > 0 ? cold / bytes : 1;
        double *ta = malloc(sizeof(double) * iters), *tb = malloc(sizeof(double) * iters), *r = malloc(sizeof(double) * iters);
        size_t c = 0;
        for (int it = -5; it < iters; it++) {
            double t[2];
            for (int o = 0; o < 2; o++) {
                int v = (it & 1) ? 1 - o : o;
                const float *base = buf + (c++ % ncopy) * (bytes / 4);
                double t0 = ab_now_s(); run(v, M, y, x, K, N, base); t[v] = ab_now_s() - t0;
            }
            if (it >= 0) { ta[it] = t[0]; tb[it] = t[1]; r[it] = t[0] / t[1]; }
        }
        ab_sort(ta, tb, r, iters);
        printf("%-10s A %.1f GB/s  B %.1f GB/s  speed-up B/A median %.3f (quartiles %.3f-%.3f)\n", names[s],
               bytes / ta[iters / 2] / 1e9, bytes / tb[iters / 2] / 1e9, r[iters / 2], r[iters / 4], r[3 * iters / 4]);
        free(ta); free(tb); free(r);
    }
    printf("%f\n", y[0]);
    return 0;
}
