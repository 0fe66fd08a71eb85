/* gemm_packed: a weight-streaming GEMM for small M (the decode batch).
 * The weights are laid out once, at load time, in panels of GEMM_NR
 * columns: panels: (Np / NR, K, NR), Np = N rounded up to NR, zero-padded.
 * A step then reads each panel from memory once and uses it for every row
 * of x while it is in L1/L2; threads split the panels, so each core streams
 * its own part of the matrix. Paths: AVX-512, AVX2+FMA and portable C,
 * chosen at run time from what the CPU reports (GPT2_KERNEL=avx512|avx2|
 * portable|auto overrides; the AVX-512 path has its own blocks here (M > 4)
 * and in gemm_lowp.c (M >= 3); every other SIMD kernel is AVX2 on both). */
#ifndef GR_GEMM_PACKED_H
#define GR_GEMM_PACKED_H

#include <stddef.h>

#define GEMM_NR 16

typedef struct {
    int K, N, Np;
    float *panels; /* (Np/NR, K, NR), 64-byte aligned */
} packed_w;

typedef enum { GEMM_PATH_PORTABLE, GEMM_PATH_AVX2, GEMM_PATH_AVX512 } gemm_path;

/* From w: (K, N) row-major ([in, out], as GPT-2 stores Conv1D). 0 or -1. */
int packed_from_kn(packed_w *p, const float *w, int K, int N);
/* From w: (N, K) row-major (the tied LM head, wte), i.e. packs w^T. */
int packed_from_nk(packed_w *p, const float *w, int K, int N);
void packed_free(packed_w *p);
size_t packed_bytes(int K, int N);

/* y: (M, N) = x: (M, K) @ W + b: (N) (b may be NULL). */
void linear_packed_f32(float *y, const float *x, const packed_w *w, const float *b, int M);

/* The path in use, and forcing one (tests). Returns the previous one. */
gemm_path gemm_path_current(void);
gemm_path gemm_path_force(gemm_path p);
const char *gemm_path_name(gemm_path p);
int gemm_path_available(gemm_path p);
/* 1 on a SIMD path (AVX2 or AVX-512): the AVX2 kernels of attention,
 * the elementwise operators, argmax and the low-precision GEMMs apply. */
int gemm_path_simd(void);
/* NULL when GPT2_KERNEL is unset, auto, or names a path this CPU has; else
 * one line saying what is wrong with it and what to do (gpt2-bench refuses
 * to start with it). */
const char *gemm_path_env_problem(void);

#endif
