/* In-process paired A/B of the bf16/f16/int8 pair kernels (M = 1, 2):
 * A = the kernel as built with LOWP_PAIR_PF_BYTES=0 (no software prefetch),
 * B = the same kernel prefetching PFD bytes ahead. Each iteration times one
 * call of A and one of B back to back (order alternating) on cold copies of
 * the weights, so both see the same minute of a shared machine; prints the
 * median of the paired speed-ups per gpt2 shape. From the repository root:
 *   gcc -O3 -std=c11 -fopenmp -D_GNU_SOURCE -DLOWP_PAIR_PF_BYTES=0 -DPFD=1024 \
 *       -o /tmp/lowp_ab docs/experiments/lowp_pair_prefetch_ab.c kernels/gemm_packed.c kernels/bigalloc.c -lm
 *   OMP_NUM_THREADS=2 /tmp/lowp_ab M int8|bf16|f16 PAIRS
 * (-DLOWP_PAIR2_PF... : pair2, M = 2, prefetches where PAIR2_PF_<tag> is 1.)
 * Not part of the build: a record of how docs/method.md's figures were taken. */
#include "../../kernels/gemm_lowp.c"
#include <stdio.h>
#include <time.h>
#ifndef PFD
#define PFD 1024
#endif
/* A (pair_<tag>) was defined above with the distance given on the command
 * line (0: none); B (pair_<tag>pf) takes PFD */
#undef LOWP_PAIR_PF_BYTES
#define LOWP_PAIR_PF_BYTES PFD
#define LOADW_i8pf LOADW_i8
#define FIX_i8pf(a, c)
#define PAIR_PF_i8pf 1
#define PAIR2_PF_i8pf 1
DEFINE_PAIR(i8pf, int8_t, AVX2_FN)
#define LOADW_bf16pf LOADW_bf16
#define FIX_bf16pf FIX_bf16
#define PAIR_PF_bf16pf 1
#define PAIR2_PF_bf16pf 1
DEFINE_PAIR(bf16pf, uint16_t, AVX2_FN)
#define LOADW_f16pf LOADW_f16
#define FIX_f16pf(a, c)
#define PAIR_PF_f16pf 1
#define PAIR2_PF_f16pf 1
DEFINE_PAIR(f16pf, uint16_t, F16C_FN)
static double now(void){struct timespec t;clock_gettime(CLOCK_MONOTONIC,&t);return t.tv_sec+t.tv_nsec*1e-9;}
static int cmpd(const void*a,const void*b){double x=*(const double*)a,y=*(const double*)b;return x<y?-1:x>y;}
typedef void (*pairfn)(float*,float*,int,const float*,int,int,const void*,const void*,int,int,const float*,const float*,const float*,const float*);
static void run(int variant, int dt_bf16, float *y, const float *x, int K, int N, int M, const unsigned char *base, const float *sc) {
    const int np = (N + NR - 1) / NR; const size_t es = dt_bf16 ? 2 : 1, pbytes = (size_t)K * NR * es;
#pragma omp parallel
    {
        const int nt = omp_get_num_threads(), t = omp_get_thread_num();
        const int j0 = (int)((long)np * t / nt), j1 = (int)((long)np * (t + 1) / nt), h = (j1 - j0 + 1) / 2;
        for (int i = 0; i < h; i++) {
            const int ja = j0 + i, jb = j0 + h + i < j1 ? j0 + h + i : ja;
            const int na = N - ja * NR < NR ? N - ja * NR : NR, nb = N - jb * NR < NR ? N - jb * NR : NR;
            const unsigned char *pa = base + (size_t)ja * pbytes, *pb = base + (size_t)jb * pbytes;
            float *ya = y + ja * NR, *yb = jb != ja ? y + jb * NR : NULL;
            if (dt_bf16 == 2) {
                if (variant) pair_f16pf(ya, yb, N, x, K, M, (const uint16_t*)(const void*)pa, (const uint16_t*)(const void*)pb, na, nb, NULL, NULL, NULL, NULL);
                else pair_f16(ya, yb, N, x, K, M, (const uint16_t*)(const void*)pa, (const uint16_t*)(const void*)pb, na, nb, NULL, NULL, NULL, NULL);
            } else if (dt_bf16) {
                if (variant) pair_bf16pf(ya, yb, N, x, K, M, (const uint16_t*)(const void*)pa, (const uint16_t*)(const void*)pb, na, nb, NULL, NULL, NULL, NULL);
                else pair_bf16(ya, yb, N, x, K, M, (const uint16_t*)(const void*)pa, (const uint16_t*)(const void*)pb, na, nb, NULL, NULL, NULL, NULL);
            } else {
                if (variant) pair_i8pf(ya, yb, N, x, K, M, (const int8_t*)pa, (const int8_t*)pb, na, nb, NULL, NULL, sc + ja * NR, sc + jb * NR);
                else pair_i8(ya, yb, N, x, K, M, (const int8_t*)pa, (const int8_t*)pb, na, nb, NULL, NULL, sc + ja * NR, sc + jb * NR);
            }
        }
    }
}
int main(int argc, char **argv) {
    int M = argc > 1 ? atoi(argv[1]) : 1, dt_bf16 = argc > 2 && !strcmp(argv[2], "bf16") ? 1 : argc > 2 && !strcmp(argv[2], "f16") ? 2 : 0, iters = argc > 3 ? atoi(argv[3]) : 200;
    const int shapes[5][2] = {{768, 2304}, {768, 768}, {768, 3072}, {3072, 768}, {768, 50257}};
    const char *names[5] = {"qkv", "attn_proj", "fc", "fc_proj", "lm_head"};
    const size_t cold = 512ul << 20;
    unsigned char *buf = aligned_alloc(64, cold);
    for (size_t i = 0; i < cold; i++) buf[i] = (unsigned char)(i * 2654435761u >> 24) & (dt_bf16 ? 0x3f : 0xff);
    float *x = malloc(sizeof(float) * 3072 * 2), *y = malloc(sizeof(float) * 51200 * 2), *sc = malloc(sizeof(float) * 51200);
    for (int i = 0; i < 3072 * 2; i++) x[i] = 1e-3f * (i % 7);
    for (int i = 0; i < 51200; i++) sc[i] = 1e-2f;
    printf("M=%d %s prefetch %d bytes, %d iterations per shape, paired\n", M, dt_bf16 == 2 ? "f16" : dt_bf16 ? "bf16" : "int8", PFD, iters);
    double allr[5];
    for (int s = 0; s < 5; s++) {
        const int K = shapes[s][0], N = shapes[s][1], np = (N + NR - 1) / NR;
        const size_t bytes = (size_t)np * K * NR * (dt_bf16 ? 2 : 1), ncopy = cold / bytes > 0 ? cold / bytes : 1;
        double *ta = malloc(sizeof(double) * iters), *tb = malloc(sizeof(double) * iters), *r = malloc(sizeof(double) * iters);
        size_t c = 0;
        for (int it = -5; it < iters; it++) {
            double t[2];
            for (int o = 0; o < 2; o++) {
                int v = (it & 1) ? 1 - o : o;
                const unsigned char *base = buf + (c++ % ncopy) * bytes;
                double t0 = now(); run(v, dt_bf16, y, x, K, N, M, base, sc); t[v] = now() - t0;
            }
            if (it >= 0) { ta[it] = t[0]; tb[it] = t[1]; r[it] = t[0] / t[1]; }
        }
        qsort(ta, iters, sizeof(double), cmpd); qsort(tb, iters, sizeof(double), cmpd); qsort(r, iters, sizeof(double), cmpd);
        printf("%-10s A %.1f GB/s  B %.1f GB/s  speed-up B/A median %.3f (quartiles %.3f-%.3f)\n", names[s],
               bytes / ta[iters / 2] / 1e9, bytes / tb[iters / 2] / 1e9, r[iters / 2], r[iters / 4], r[3 * iters / 4]);
        allr[s] = r[iters / 2];
        free(ta); free(tb); free(r);
    }
    (void)allr; printf("%f\n", y[0]);
    return 0;
}
