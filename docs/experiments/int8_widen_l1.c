/* One core, panels in L1: the int8 one-row pair loop widening with
 * vpmovsxbd + vcvtdq2ps (as kernels/gemm_lowp.c) against a layout that
 * would widen a 32-byte load by shifts and masks (byte i of each dword at
 * the top, x 2^24) + vcvtdq2ps. Not part of the build:
 *   gcc -O3 -o /tmp/widen docs/experiments/int8_widen_l1.c && /tmp/widen */
#include <immintrin.h>
#include <stdio.h>
#include <stdint.h>
#include <time.h>

#include "ab_timing.h"
#define NR 16
#define W8(P) _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_loadl_epi64((const __m128i *)(const void *)(P))))
__attribute__((target("avx2,fma"),noinline)) void pmov(float *t, const float *x, int kn, const int8_t *pa, const int8_t *pb){
    __m256 a0=_mm256_setzero_ps(),a1=a0,c0=a0,c1=a0,e0=a0,e1=a0,g0=a0,g1=a0;
    for(int k=0;k+1<kn;k+=2){ const __m256 r0=_mm256_broadcast_ss(x+k), r1=_mm256_broadcast_ss(x+k+1);
        const int8_t *p=pa+k*NR,*q=pb+k*NR;
        a0=_mm256_fmadd_ps(r0,W8(p),a0); c0=_mm256_fmadd_ps(r0,W8(p+8),c0); e0=_mm256_fmadd_ps(r0,W8(q),e0); g0=_mm256_fmadd_ps(r0,W8(q+8),g0);
        a1=_mm256_fmadd_ps(r1,W8(p+16),a1); c1=_mm256_fmadd_ps(r1,W8(p+24),c1); e1=_mm256_fmadd_ps(r1,W8(q+16),e1); g1=_mm256_fmadd_ps(r1,W8(q+24),g1);}
    _mm256_storeu_ps(t,_mm256_add_ps(a0,a1));_mm256_storeu_ps(t+8,_mm256_add_ps(c0,c1));_mm256_storeu_ps(t+16,_mm256_add_ps(e0,e1));_mm256_storeu_ps(t+24,_mm256_add_ps(g0,g1));
}
/* 32 bytes = 2 k rows x 16 cols; byte i of dword j: row i/2, col (i%2)*8+j; v_i = bytes i at the top, as int32 (x 2^24) */
__attribute__((target("avx2,fma"),noinline)) void shft(float *t, const float *x, int kn, const int8_t *pa, const int8_t *pb){
    __m256 a0=_mm256_setzero_ps(),a1=a0,c0=a0,c1=a0,e0=a0,e1=a0,g0=a0,g1=a0;
    const __m256i m=_mm256_set1_epi32((int)0xff000000u);
    for(int k=0;k+1<kn;k+=2){ const __m256 r0=_mm256_broadcast_ss(x+k), r1=_mm256_broadcast_ss(x+k+1);
        const __m256i u=_mm256_load_si256((const __m256i*)(pa+k*NR)), v=_mm256_load_si256((const __m256i*)(pb+k*NR));
        a0=_mm256_fmadd_ps(r0,_mm256_cvtepi32_ps(_mm256_slli_epi32(u,24)),a0);
        c0=_mm256_fmadd_ps(r0,_mm256_cvtepi32_ps(_mm256_and_si256(_mm256_slli_epi32(u,16),m)),c0);
        a1=_mm256_fmadd_ps(r1,_mm256_cvtepi32_ps(_mm256_and_si256(_mm256_slli_epi32(u,8),m)),a1);
        c1=_mm256_fmadd_ps(r1,_mm256_cvtepi32_ps(_mm256_and_si256(u,m)),c1);
        e0=_mm256_fmadd_ps(r0,_mm256_cvtepi32_ps(_mm256_slli_epi32(v,24)),e0);
        g0=_mm256_fmadd_ps(r0,_mm256_cvtepi32_ps(_mm256_and_si256(_mm256_slli_epi32(v,16),m)),g0);
        e1=_mm256_fmadd_ps(r1,_mm256_cvtepi32_ps(_mm256_and_si256(_mm256_slli_epi32(v,8),m)),e1);
        g1=_mm256_fmadd_ps(r1,_mm256_cvtepi32_ps(_mm256_and_si256(v,m)),g1);}
    _mm256_storeu_ps(t,_mm256_add_ps(a0,a1));_mm256_storeu_ps(t+8,_mm256_add_ps(c0,c1));_mm256_storeu_ps(t+16,_mm256_add_ps(e0,e1));_mm256_storeu_ps(t+24,_mm256_add_ps(g0,g1));
}
int main(void){
    enum{K=512}; static int8_t pa[K*NR] __attribute__((aligned(64))), pb[K*NR] __attribute__((aligned(64))); static float x[K], t[32];
    for(int i=0;i<K*NR;i++){pa[i]=(int8_t)(i%7-3);pb[i]=(int8_t)(i%5-2);} for(int i=0;i<K;i++)x[i]=1e-3f*(i%9);
    const long R=400000;
    for(int rep=0;rep<3;rep++) for(int v=0;v<2;v++){ double t0=ab_now_s(); for(long r=0;r<R;r++){ if(v) shft(t,x,K,pa,pb); else pmov(t,x,K,pa,pb); __asm__ volatile(""::: "memory");}
        double g=2.0*K*NR*2*R/(ab_now_s()-t0)/1e9; printf("%s %.1f GFLOP/s\n", v?"shift":"pmovsx", g);}
    printf("%f\n",t[0]); return 0; }
