#include "gemm_packed.h"

#include "bigalloc.h"
#include "unroll.h"

#include <immintrin.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NR GEMM_NR
#define MR 6 /* rows per register block: 6 x 2 ymm accumulators */
/* software prefetch distance, in k rows of a panel (64 bytes each); a
 * prefetch past the end of the matrix is harmless (no fault) */
#ifndef GEMM_PREFETCH_K
#define GEMM_PREFETCH_K 48
#endif

size_t packed_bytes(int K, int N) {
    size_t Np = ((size_t)N + NR - 1) / NR * NR;
    return (size_t)K * Np * sizeof(float);
}

static int packed_alloc(packed_w *p, int K, int N) {
    memset(p, 0, sizeof *p);
    p->K = K;
    p->N = N;
    p->Np = (N + NR - 1) / NR * NR;
    p->panels = big_alloc(packed_bytes(K, N));
    return p->panels ? 0 : -1;
}

int packed_from_kn(packed_w *p, const float *w, int K, int N) {
    if (packed_alloc(p, K, N)) return -1;
    const int np = p->Np / NR;
#pragma omp parallel for schedule(static)
    for (int j = 0; j < np; j++) {
        float *dst = p->panels + (size_t)j * K * NR;
        int n0 = j * NR, nw = N - n0 < NR ? N - n0 : NR;
        for (int k = 0; k < K; k++) {
            memcpy(dst + (size_t)k * NR, w + (size_t)k * N + n0, (size_t)nw * sizeof(float));
            for (int c = nw; c < NR; c++) dst[(size_t)k * NR + c] = 0.0f;
        }
    }
    return 0;
}

int packed_from_nk(packed_w *p, const float *w, int K, int N) {
    if (packed_alloc(p, K, N)) return -1;
    const int np = p->Np / NR;
#pragma omp parallel for schedule(static)
    for (int j = 0; j < np; j++) {
        float *dst = p->panels + (size_t)j * K * NR;
        for (int c = 0; c < NR; c++) {
            int n = j * NR + c;
            for (int k = 0; k < K; k++) dst[(size_t)k * NR + c] = n < N ? w[(size_t)n * K + k] : 0.0f;
        }
    }
    return 0;
}

void packed_free(packed_w *p) {
    free(p->panels);
    memset(p, 0, sizeof *p);
}

/* Stores an (mr, NR) block of results into y, clipped to nw columns. */
static inline void store_block(float *y, int ldy, const float *acc, int mr, int nw, const float *b) {
    for (int m = 0; m < mr; m++)
        for (int c = 0; c < nw; c++) y[(size_t)m * ldy + c] = acc[m * NR + c] + (b ? b[c] : 0.0f);
}

/* ---- portable path ---- */
static void panel_portable(float *y, int ldy, const float *x, int K, const float *panel, int M, int nw,
                           const float *b) {
    for (int m0 = 0; m0 < M; m0 += MR) {
        int mr = M - m0 < MR ? M - m0 : MR;
        float acc[MR * NR] = {0};
        for (int k = 0; k < K; k++) {
            const float *wk = panel + (size_t)k * NR;
            for (int m = 0; m < mr; m++) {
                float xv = x[(size_t)(m0 + m) * K + k];
                for (int c = 0; c < NR; c++) acc[m * NR + c] += xv * wk[c];
            }
        }
        store_block(y + (size_t)m0 * ldy, ldy, acc, mr, nw, b);
    }
}

/* ---- AVX2 + FMA path ---- */
#define AVX2_FN __attribute__((target("avx2,fma")))

/* The AVX2 path works on x packed per call into register blocks: the rows
 * of x are split into balanced blocks of at most MR rows, and each block is
 * stored k-major, xp: (K, rows), so a step of k broadcasts `rows`
 * consecutive floats. The K loop runs in chunks of GEMM_KC, so a chunk of
 * the panel (KC x 16 floats) and of every block of x stay in L1 while all
 * the blocks of rows use them; partial sums wait in a small tile. */
#ifndef GEMM_KC
#define GEMM_KC 256
#endif
/* M up to this walk two panels at once (block_avx2_row_2p, _row2_2p,
 * pair_avx2); smaller values give the one-panel kernels back, for A/B runs.
 * 4: at M = 5 the pairs were even with the 6-row blocks (decode B = 5
 * x0.97-1.02), at M = 6 and 8 slower (kernels, 4 rounds: x0.9-1.0). */
#ifndef GEMM_TWO_STREAM_MAX_M
#define GEMM_TWO_STREAM_MAX_M 4
#endif
_Static_assert(GEMM_TWO_STREAM_MAX_M >= 0 && GEMM_TWO_STREAM_MAX_M <= 16, "the pair tile holds at most 16 rows");
#define MC_MAX 120 /* rows of x per chunk at most (a multiple of MR) */

/* Balanced blocks of at most MR rows (M = 8: 4 + 4, M = 16: 6 + 5 + 5,
 * M = 13: 5 + 4 + 4), as the bf16/f16/int8 kernels have them.
 * GEMM_BLOCKS_BALANCED=0 gives back full blocks of MR rows first, the rest
 * last (6 + 2, 6 + 6 + 4), unless that leaves a single row, kept until
 * 2026-11-23: two builds' decode, interleaved, had found it faster (B = 8
 * x1.079, 5 rounds), but in one process, each call against the other back
 * to back on cold weights (docs/experiments/gemm_ab.sh
 * "-DGEMM_BLOCKS_BALANCED=1" f32 8,16,32,64 120, three runs), balanced
 * read x0.97-1.07 per shape, median about x1.03, at M = 8, 16, 32 and 64;
 * the reverse ("-DGEMM_BLOCKS_BALANCED=0", two runs) x0.93-1.03, median
 * about x0.99, fc_proj M = 8 the most (x0.93, x0.95). */
static inline int block_count(int M) { return (M + MR - 1) / MR; }
#ifndef GEMM_BLOCKS_BALANCED
#define GEMM_BLOCKS_BALANCED 1
#endif
static inline int block_rows(int M, int nblk, int blk, int *m0) {
    if (M % MR != 1 && !GEMM_BLOCKS_BALANCED) { /* full blocks of MR rows first, the rest last */
        *m0 = blk * MR;
        return M - *m0 < MR ? M - *m0 : MR;
    }
    int base = M / nblk, extra = M % nblk; /* balanced: no block of a single row */
    *m0 = blk * base + (blk < extra ? blk : extra);
    return base + (blk < extra);
}

/* xp: for each block, (K, rows) floats at xp + m0 * K. Called by every
 * thread of a parallel region: the blocks are shared out (orphaned omp for,
 * with its closing barrier). */
static void pack_rows(float *xp, const float *x, int M, int K) {
    const int nblk = block_count(M);
#pragma omp for schedule(static)
    for (int blk = 0; blk < nblk; blk++) {
        int m0, rows = block_rows(M, nblk, blk, &m0);
        float *dst = xp + (size_t)m0 * K;
        for (int i = 0; i < rows; i++)
            for (int k = 0; k < K; k++) dst[(size_t)k * rows + i] = x[(size_t)(m0 + i) * K + k];
    }
}

/* One register block of MRB rows against kn rows of a panel. The
 * accumulators are named variables, not an array (an array of __m256 is
 * spilled to the stack on every k). tile: (MRB, 16) partial sums, read
 * unless first. */
#define ROW_FMA(MRB, i)                                          \
    if (MRB > i) {                                               \
        const __m256 xv = _mm256_broadcast_ss(xb + i);           \
        a##i = _mm256_fmadd_ps(xv, w0, a##i);                    \
        c##i = _mm256_fmadd_ps(xv, w1, c##i);                    \
    }
#define ROW_LOAD(MRB, i)                                         \
    if (MRB > i) {                                               \
        a##i = _mm256_loadu_ps(tile + i * NR);                   \
        c##i = _mm256_loadu_ps(tile + i * NR + 8);               \
    }
#define ROW_STORE(MRB, i)                                        \
    if (MRB > i) {                                               \
        _mm256_storeu_ps(tile + i * NR, a##i);                   \
        _mm256_storeu_ps(tile + i * NR + 8, c##i);               \
    }
/* GEMM_BLOCK_UNROLL: GCC's unroll factor for the blocks' k loop. 4: in one
 * process, calls back to back on cold weights (docs/experiments/gemm_ab.sh
 * "-DGEMM_BLOCK_UNROLL=4" f32 8,16,64 120, against none, 2026-11-23), x1.02-1.11
 * per shape over two runs, M = 64 x1.05-1.11, and at M = 32, 64 fc_proj
 * x1.11-1.14; 2: x0.98-1.07; 8: x0.99-1.09. The reverse, once it was in
 * (-DGEMM_BLOCK_UNROLL=1 against 4), two runs: x0.94-1.005, median about
 * x0.985; a null B (the same flags) x0.99-1.01 in the same half hour. */
#ifndef GEMM_BLOCK_UNROLL
#define GEMM_BLOCK_UNROLL 4
#endif
/* GEMM_PAIR_UNROLL: the same for the pair kernels' k loops (M = 1 .. 4). 4,
 * against none ("-DGEMM_PAIR_UNROLL=4" f32 1,2,3,4 120, two runs): M = 1-3
 * x0.97-1.02 (memory-bound: no change), M = 4 x1.01-1.08; the reverse M = 1
 * x0.99-1.02, M = 4 x0.905-1.00. */
#ifndef GEMM_PAIR_UNROLL
#define GEMM_PAIR_UNROLL 4
#endif
#define DEFINE_AVX2_BLOCK(MRB)                                                                          \
    AVX2_FN static void block_avx2_##MRB(float *tile, const float *xp, int kn, const float *panel,      \
                                         int first, const float *pf, int pstep) {                       \
        __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0, a4 = a0, a5 = a0;                   \
        __m256 c0 = a0, c1 = a0, c2 = a0, c3 = a0, c4 = a0, c5 = a0;                                    \
        if (!first) { ROW_LOAD(MRB, 0) ROW_LOAD(MRB, 1) ROW_LOAD(MRB, 2) ROW_LOAD(MRB, 3)                \
                      ROW_LOAD(MRB, 4) ROW_LOAD(MRB, 5) }                                               \
        KERNEL_UNROLL(GEMM_BLOCK_UNROLL)                                                                \
        for (int k = 0; k < kn; k++) {                                                                  \
            if (pf) _mm_prefetch((const char *)(pf + (size_t)((k * pstep) >> 16) * NR), _MM_HINT_T1);    \
            const __m256 w0 = _mm256_load_ps(panel + (size_t)k * NR);                                   \
            const __m256 w1 = _mm256_load_ps(panel + (size_t)k * NR + 8);                               \
            const float *xb = xp + (size_t)k * MRB;                                                     \
            ROW_FMA(MRB, 0) ROW_FMA(MRB, 1) ROW_FMA(MRB, 2) ROW_FMA(MRB, 3) ROW_FMA(MRB, 4) ROW_FMA(MRB, 5) \
        }                                                                                               \
        ROW_STORE(MRB, 0) ROW_STORE(MRB, 1) ROW_STORE(MRB, 2) ROW_STORE(MRB, 3) ROW_STORE(MRB, 4)        \
        ROW_STORE(MRB, 5)                                                                               \
    }
DEFINE_AVX2_BLOCK(1)
DEFINE_AVX2_BLOCK(2)
DEFINE_AVX2_BLOCK(3)
DEFINE_AVX2_BLOCK(4)
DEFINE_AVX2_BLOCK(5)
DEFINE_AVX2_BLOCK(6)

/* ---- AVX-512 path: the same blocks, one zmm per row ----
 * A panel row (16 floats) is one zmm, so a k step of an MRB-row block is
 * one load of the panel and MRB FMAs whose x operand the compiler takes as
 * an embedded broadcast ({1to16}): 1 + MRB instructions where the AVX2
 * block needs 2 + 3 MRB (two halves, a broadcast per row). Same x packing,
 * K chunks, tile and prefetch schedule as block_avx2_*. M <= 4 keeps the
 * AVX2 pair kernels (memory-bound: at M = 1 calibrate reads the weights at
 * 33-35 GB/s on the Zen 4 VM, its read test 34.1). */
#define AVX512_FN __attribute__((target("avx512f,avx2,fma")))
#define ROW512_FMA(MRB, i) \
    if (MRB > i) a##i = _mm512_fmadd_ps(_mm512_set1_ps(xb[i]), w, a##i);
#define ROW512_LOAD(MRB, i) \
    if (MRB > i) a##i = _mm512_loadu_ps(tile + i * NR);
#define ROW512_STORE(MRB, i) \
    if (MRB > i) _mm512_storeu_ps(tile + i * NR, a##i);
#define DEFINE_AVX512_BLOCK(MRB)                                                                          \
    AVX512_FN static void block_avx512_##MRB(float *tile, const float *xp, int kn, const float *panel,    \
                                             int first, const float *pf, int pstep) {                     \
        __m512 a0 = _mm512_setzero_ps(), a1 = a0, a2 = a0, a3 = a0, a4 = a0, a5 = a0;                     \
        if (!first) { ROW512_LOAD(MRB, 0) ROW512_LOAD(MRB, 1) ROW512_LOAD(MRB, 2) ROW512_LOAD(MRB, 3)      \
                      ROW512_LOAD(MRB, 4) ROW512_LOAD(MRB, 5) }                                           \
        KERNEL_UNROLL(GEMM_BLOCK_UNROLL)                                                                  \
        for (int k = 0; k < kn; k++) {                                                                    \
            if (pf) _mm_prefetch((const char *)(pf + (size_t)((k * pstep) >> 16) * NR), _MM_HINT_T1);      \
            const __m512 w = _mm512_load_ps(panel + (size_t)k * NR);                                      \
            const float *xb = xp + (size_t)k * MRB;                                                       \
            ROW512_FMA(MRB, 0) ROW512_FMA(MRB, 1) ROW512_FMA(MRB, 2) ROW512_FMA(MRB, 3) ROW512_FMA(MRB, 4) \
            ROW512_FMA(MRB, 5)                                                                            \
        }                                                                                                 \
        ROW512_STORE(MRB, 0) ROW512_STORE(MRB, 1) ROW512_STORE(MRB, 2) ROW512_STORE(MRB, 3)                \
        ROW512_STORE(MRB, 4) ROW512_STORE(MRB, 5)                                                         \
    }
DEFINE_AVX512_BLOCK(1)
DEFINE_AVX512_BLOCK(2)
DEFINE_AVX512_BLOCK(3)
DEFINE_AVX512_BLOCK(4)
DEFINE_AVX512_BLOCK(5)
DEFINE_AVX512_BLOCK(6)

/* The register blocks by path (0: AVX2, 1: AVX-512) and rows (1 .. MR). */
typedef void block_fn(float *tile, const float *xp, int kn, const float *panel, int first, const float *pf, int pstep);
static block_fn *const BLOCK_FNS[2][MR + 1] = {
    {NULL, block_avx2_1, block_avx2_2, block_avx2_3, block_avx2_4, block_avx2_5, block_avx2_6},
    {NULL, block_avx512_1, block_avx512_2, block_avx512_3, block_avx512_4, block_avx512_5, block_avx512_6}};

/* M = 1, one panel (the odd one left when a thread's range is walked two
 * panels at a time by block_avx2_row_2p): two independent chains per half
 * (k unrolled by 2), as the single row otherwise waits on FMA latency; x is
 * one contiguous row. No software prefetch: the hardware prefetcher
 * follows a contiguous stream better alone (gpt2-bench kernels, M = 1,
 * weights cold, 6 interleaved rounds: 24.4-25.4 GB/s without against 21-24
 * with a prefetch 48 rows ahead; 0, 128 and 256 rows ahead no better). */
AVX2_FN static void block_avx2_row(float *y, const float *x, int K, const float *panel, int nw, const float *b) {
    __m256 a0 = _mm256_setzero_ps(), a1 = a0, c0 = a0, c1 = a0;
    int k = 0;
    for (; k + 1 < K; k += 2) {
        const float *p = panel + (size_t)k * NR;
        __m256 x0 = _mm256_broadcast_ss(x + k), x1 = _mm256_broadcast_ss(x + k + 1);
        a0 = _mm256_fmadd_ps(x0, _mm256_load_ps(p), a0);
        a1 = _mm256_fmadd_ps(x0, _mm256_load_ps(p + 8), a1);
        c0 = _mm256_fmadd_ps(x1, _mm256_load_ps(p + 16), c0);
        c1 = _mm256_fmadd_ps(x1, _mm256_load_ps(p + 24), c1);
    }
    if (k < K) {
        const float *p = panel + (size_t)k * NR;
        __m256 x0 = _mm256_broadcast_ss(x + k);
        a0 = _mm256_fmadd_ps(x0, _mm256_load_ps(p), a0);
        a1 = _mm256_fmadd_ps(x0, _mm256_load_ps(p + 8), a1);
    }
    float acc[NR];
    _mm256_storeu_ps(acc, _mm256_add_ps(a0, c0));
    _mm256_storeu_ps(acc + 8, _mm256_add_ps(a1, c1));
    store_block(y, 0, acc, 1, nw, b);
}


/* M = 2, one panel (the odd one left when a thread's range is walked two
 * panels at a time by block_avx2_row2_2p): the M = 1 kernel for two rows
 * read in place (x0, x1 contiguous rows of K), k unrolled by 2: eight
 * independent chains, no packing of x, no K chunks, no software prefetch. Decode B = 2, S = 128, 5 interleaved
 * rounds: 91.6 tok/s against 85.2 through the packed blocks (x1.075); the
 * same in-place kernel for 3 and 4 rows gained nothing (x1.04, x0.98). */
AVX2_FN static void block_avx2_row2(float *y, int ldy, const float *x, int K, const float *panel, int nw,
                                    const float *b) {
    const float *x0 = x, *x1 = x + K;
    __m256 a0 = _mm256_setzero_ps(), a1 = a0, c0 = a0, c1 = a0, e0 = a0, e1 = a0, g0 = a0, g1 = a0;
    int k = 0;
    for (; k + 1 < K; k += 2) {
        const float *p = panel + (size_t)k * NR;
        const __m256 w0 = _mm256_load_ps(p), w1 = _mm256_load_ps(p + 8), v0 = _mm256_load_ps(p + 16),
                     v1 = _mm256_load_ps(p + 24);
        const __m256 r0 = _mm256_broadcast_ss(x0 + k), r1 = _mm256_broadcast_ss(x1 + k);
        const __m256 s0 = _mm256_broadcast_ss(x0 + k + 1), s1 = _mm256_broadcast_ss(x1 + k + 1);
        a0 = _mm256_fmadd_ps(r0, w0, a0);
        a1 = _mm256_fmadd_ps(r0, w1, a1);
        c0 = _mm256_fmadd_ps(r1, w0, c0);
        c1 = _mm256_fmadd_ps(r1, w1, c1);
        e0 = _mm256_fmadd_ps(s0, v0, e0);
        e1 = _mm256_fmadd_ps(s0, v1, e1);
        g0 = _mm256_fmadd_ps(s1, v0, g0);
        g1 = _mm256_fmadd_ps(s1, v1, g1);
    }
    if (k < K) {
        const float *p = panel + (size_t)k * NR;
        const __m256 w0 = _mm256_load_ps(p), w1 = _mm256_load_ps(p + 8);
        const __m256 r0 = _mm256_broadcast_ss(x0 + k), r1 = _mm256_broadcast_ss(x1 + k);
        a0 = _mm256_fmadd_ps(r0, w0, a0);
        a1 = _mm256_fmadd_ps(r0, w1, a1);
        c0 = _mm256_fmadd_ps(r1, w0, c0);
        c1 = _mm256_fmadd_ps(r1, w1, c1);
    }
    float acc[2 * NR];
    _mm256_storeu_ps(acc, _mm256_add_ps(a0, e0));
    _mm256_storeu_ps(acc + 8, _mm256_add_ps(a1, e1));
    _mm256_storeu_ps(acc + NR, _mm256_add_ps(c0, g0));
    _mm256_storeu_ps(acc + NR + 8, _mm256_add_ps(c1, g1));
    store_block(y, ldy, acc, 2, nw, b);
}


/* M = 3 .. GEMM_TWO_STREAM_MAX_M, two panels at once: the K rows of a pair
 * of panels (pa, pb) run in chunks of GEMM_KC2 (8 KiB of the pair, in L1),
 * each chunk against the rows two at a time (the last alone when M is odd),
 * x read in place, no software prefetch; partial sums wait in tile: (M, 32),
 * a row's 16 columns of pa then its 16 of pb. Against the packed 3- and
 * 4-row blocks (one panel at a time, prefetching the next), gpt2-bench
 * kernels, weights cold, 4 interleaved rounds: M = 3 x1.25-1.45, M = 4
 * x1.2-1.35 with chunks of 64 rows (128: x1.05-1.2, 512: x1.05-1.3);
 * decode, 5 interleaved rounds: B = 4 x1.10 at S = 128 and 896, B = 3
 * x1.14 / x1.04. */
#ifndef GEMM_KC2
#define GEMM_KC2 64
#endif
AVX2_FN static void pair_rows2(float *tile, const float *x0, const float *x1, int kn, const float *pa,
                               const float *pb, int first) {
    __m256 a0 = _mm256_setzero_ps(), a1 = a0, c0 = a0, c1 = a0, e0 = a0, e1 = a0, g0 = a0, g1 = a0;
    if (!first) {
        a0 = _mm256_loadu_ps(tile), a1 = _mm256_loadu_ps(tile + 8);
        e0 = _mm256_loadu_ps(tile + 16), e1 = _mm256_loadu_ps(tile + 24);
        c0 = _mm256_loadu_ps(tile + 32), c1 = _mm256_loadu_ps(tile + 40);
        g0 = _mm256_loadu_ps(tile + 48), g1 = _mm256_loadu_ps(tile + 56);
    }
    KERNEL_UNROLL(GEMM_PAIR_UNROLL)
    for (int k = 0; k < kn; k++) {
        const float *p = pa + (size_t)k * NR, *q = pb + (size_t)k * NR;
        const __m256 r0 = _mm256_broadcast_ss(x0 + k), r1 = _mm256_broadcast_ss(x1 + k);
        const __m256 w0 = _mm256_load_ps(p), w1 = _mm256_load_ps(p + 8);
        const __m256 v0 = _mm256_load_ps(q), v1 = _mm256_load_ps(q + 8);
        a0 = _mm256_fmadd_ps(r0, w0, a0);
        a1 = _mm256_fmadd_ps(r0, w1, a1);
        c0 = _mm256_fmadd_ps(r1, w0, c0);
        c1 = _mm256_fmadd_ps(r1, w1, c1);
        e0 = _mm256_fmadd_ps(r0, v0, e0);
        e1 = _mm256_fmadd_ps(r0, v1, e1);
        g0 = _mm256_fmadd_ps(r1, v0, g0);
        g1 = _mm256_fmadd_ps(r1, v1, g1);
    }
    _mm256_storeu_ps(tile, a0), _mm256_storeu_ps(tile + 8, a1);
    _mm256_storeu_ps(tile + 16, e0), _mm256_storeu_ps(tile + 24, e1);
    _mm256_storeu_ps(tile + 32, c0), _mm256_storeu_ps(tile + 40, c1);
    _mm256_storeu_ps(tile + 48, g0), _mm256_storeu_ps(tile + 56, g1);
}
/* One row against the pair, k unrolled by 2 (eight chains). */
AVX2_FN static void pair_rows1(float *tile, const float *x0, int kn, const float *pa, const float *pb, int first) {
    __m256 a0 = _mm256_setzero_ps(), a1 = a0, c0 = a0, c1 = a0, e0 = a0, e1 = a0, g0 = a0, g1 = a0;
    if (!first) {
        a0 = _mm256_loadu_ps(tile), a1 = _mm256_loadu_ps(tile + 8);
        e0 = _mm256_loadu_ps(tile + 16), e1 = _mm256_loadu_ps(tile + 24);
    }
    int k = 0;
    KERNEL_UNROLL(GEMM_PAIR_UNROLL)
    for (; k + 1 < kn; k += 2) {
        const float *p = pa + (size_t)k * NR, *q = pb + (size_t)k * NR;
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
    if (k < kn) {
        const float *p = pa + (size_t)k * NR, *q = pb + (size_t)k * NR;
        const __m256 r0 = _mm256_broadcast_ss(x0 + k);
        a0 = _mm256_fmadd_ps(r0, _mm256_load_ps(p), a0);
        a1 = _mm256_fmadd_ps(r0, _mm256_load_ps(p + 8), a1);
        e0 = _mm256_fmadd_ps(r0, _mm256_load_ps(q), e0);
        e1 = _mm256_fmadd_ps(r0, _mm256_load_ps(q + 8), e1);
    }
    _mm256_storeu_ps(tile, _mm256_add_ps(a0, c0)), _mm256_storeu_ps(tile + 8, _mm256_add_ps(a1, c1));
    _mm256_storeu_ps(tile + 16, _mm256_add_ps(e0, g0)), _mm256_storeu_ps(tile + 24, _mm256_add_ps(e1, g1));
}
/* M = 1, two panels at once: pa and pb lie half a thread's range apart, so
 * each core streams two places of the matrix instead of one: pair_rows1
 * over the whole of K. Against one
 * panel at a time (block_avx2_row over the range), gpt2-bench kernels
 * --batch 1, weights cold, 5 interleaved rounds: 26.8 against 24.7 GB/s,
 * all five shapes faster. */
static void block_avx2_row_2p(float *ya, float *yb, const float *x, int K, const float *pa, const float *pb, int nwa,
                              int nwb, const float *ba, const float *bb) {
    float tile[2 * NR]; /* (1, 32) */
    pair_rows1(tile, x, K, pa, pb, 1);
    store_block(ya, 0, tile, 1, nwa, ba);
    store_block(yb, 0, tile + NR, 1, nwb, bb);
}

/* M = 2, two panels at once (pa, pb half a thread's range apart, as
 * block_avx2_row_2p): pair_rows2 over the whole of K, rows x0, x1 read in place,
 * no software prefetch. Against block_avx2_row2 over the range (one panel
 * at a time): gpt2-bench kernels --batch 2, weights cold, 5 interleaved
 * rounds: 24.1-26.6 against 21.5-22.1 GB/s, all five shapes faster; decode
 * B = 2, 5 interleaved rounds: S = 128 x1.10, S = 896 x1.07. ldy: the row
 * stride of ya and yb. */
static void block_avx2_row2_2p(float *ya, float *yb, int ldy, const float *x, int K, const float *pa,
                               const float *pb, int nwa, int nwb, const float *ba, const float *bb) {
    float tile[4 * NR]; /* (2, 32) */
    pair_rows2(tile, x, x + K, K, pa, pb, 1);
    for (int m = 0; m < 2; m++) {
        store_block(ya + (size_t)m * ldy, 0, tile + (size_t)m * 2 * NR, 1, nwa, ba);
        store_block(yb + (size_t)m * ldy, 0, tile + (size_t)m * 2 * NR + NR, 1, nwb, bb);
    }
}

/* y: the M rows' outputs for panels ja (nwa columns at ya) and jb (at yb). */
static void pair_avx2(float *ya, float *yb, int ldy, const float *x, int K, int M, const float *pa, const float *pb,
                      int nwa, int nwb, const float *ba, const float *bb) {
    float tile[GEMM_TWO_STREAM_MAX_M * 2 * NR]; /* (M, 32) */
    for (int k0 = 0; k0 < K; k0 += GEMM_KC2) {
        const int kn = K - k0 < GEMM_KC2 ? K - k0 : GEMM_KC2;
        const float *pk = pa + (size_t)k0 * NR, *qk = pb + (size_t)k0 * NR;
        int m = 0;
        for (; m + 1 < M; m += 2)
            pair_rows2(tile + (size_t)m * 2 * NR, x + (size_t)m * K + k0, x + (size_t)(m + 1) * K + k0, kn, pk, qk,
                       k0 == 0);
        if (m < M) pair_rows1(tile + (size_t)m * 2 * NR, x + (size_t)m * K + k0, kn, pk, qk, k0 == 0);
    }
    for (int m = 0; m < M; m++) {
        store_block(ya + (size_t)m * ldy, 0, tile + (size_t)m * 2 * NR, 1, nwa, ba);
        if (yb) store_block(yb + (size_t)m * ldy, 0, tile + (size_t)m * 2 * NR + NR, 1, nwb, bb);
    }
}

/* One panel against the M rows packed in xp. The first block of each K
 * chunk reads the chunk (prefetching its own rows ahead); the same rows of
 * the next panel are prefetched into L2 a line at a time spread evenly over
 * the other blocks (over both when there are two), so that memory streams
 * while the FMAs run instead of in a burst during one block. Against one
 * block prefetching the whole next chunk into L1 (gpt2-bench kernels,
 * weights cold, 4-5 interleaved rounds): M = 8 x1.1-1.2, M = 16-32
 * x1.05-1.2, M = 64 x1.03-1.07; decode S = 128, 8 interleaved rounds: B = 8
 * x1.13, B = 12 x1.21, B = 16 x1.09, B = 64 x1.09. next: the following
 * panel, or NULL. */
static void panel_avx2(float *y, int ldy, const float *xp, int K, const float *panel, int M, int nw,
                       const float *b, const float *next, int wide) { /* wide: the AVX-512 blocks */
    float tile[MC_MAX * NR]; /* (M, 16) partial sums */
    const int nblk = block_count(M);
    for (int k0 = 0; k0 < K; k0 += GEMM_KC) {
        const int kn = K - k0 < GEMM_KC ? K - k0 : GEMM_KC;
        const float *pk = panel + (size_t)k0 * NR;
        for (int blk = 0; blk < nblk; blk++) {
            int m0, rows = block_rows(M, nblk, blk, &m0);
            /* next panel's chunk: parts for all blocks but the first (both of two) */
            const int share0 = nblk <= 2, parts = nblk - !share0, part = blk - !share0;
            const float *pf = next && part >= 0 ? next + (size_t)k0 * NR + (size_t)(part * kn / parts) * NR
                            : blk == 0 ? pk + (size_t)GEMM_PREFETCH_K * NR : NULL;
            const int pstep = next && part >= 0 ? (1 << 16) / parts : 1 << 16; /* rows per k, 16.16 */
            const float *xb = xp + (size_t)m0 * K + (size_t)k0 * rows;
            float *tb = tile + (size_t)m0 * NR;
            BLOCK_FNS[wide][rows](tb, xb, kn, pk, k0 == 0, pf, pstep);
        }
    }
    store_block(y, ldy, tile, M, nw, b);
}

/* ---- dispatch ---- */
/* GEMM_PREFER_AVX512: whether the default path is AVX-512 where the CPU has
 * it (else AVX2, with AVX-512 only when asked: GPT2_KERNEL=avx512). */
#ifndef GEMM_PREFER_AVX512
#define GEMM_PREFER_AVX512 1
#endif
static int g_path = -1;

int gemm_path_available(gemm_path p) {
    if (p == GEMM_PATH_PORTABLE) return 1;
    __builtin_cpu_init();
    const int avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    return p == GEMM_PATH_AVX2 ? avx2 : avx2 && __builtin_cpu_supports("avx512f");
}

/* The path GPT2_KERNEL asks for: -1 unset or auto, -2 a name that is no path. */
static int env_kernel(void) {
    const char *env = getenv("GPT2_KERNEL");
    if (!env || !*env || strcmp(env, "auto") == 0) return -1;
    for (int p = GEMM_PATH_PORTABLE; p <= GEMM_PATH_AVX512; p++)
        if (strcmp(env, gemm_path_name((gemm_path)p)) == 0) return p;
    return -2;
}

gemm_path gemm_path_current(void) {
    if (g_path < 0) {
        const int want = env_kernel();
        if (want >= 0 && gemm_path_available((gemm_path)want))
            g_path = want;
        else if (GEMM_PREFER_AVX512 && gemm_path_available(GEMM_PATH_AVX512))
            g_path = GEMM_PATH_AVX512;
        else
            g_path = gemm_path_available(GEMM_PATH_AVX2) ? GEMM_PATH_AVX2 : GEMM_PATH_PORTABLE;
    }
    return (gemm_path)g_path;
}

gemm_path gemm_path_force(gemm_path p) {
    gemm_path old = gemm_path_current();
    g_path = gemm_path_available(p) ? (int)p : (int)GEMM_PATH_PORTABLE;
    return old;
}

const char *gemm_path_name(gemm_path p) {
    return p == GEMM_PATH_AVX512 ? "avx512" : p == GEMM_PATH_AVX2 ? "avx2" : "portable";
}

int gemm_path_simd(void) { return gemm_path_current() != GEMM_PATH_PORTABLE; }

const char *gemm_path_env_problem(void) {
    const int want = env_kernel();
    if (want == -1 || (want >= 0 && gemm_path_available((gemm_path)want))) return NULL;
    if (want == GEMM_PATH_AVX2) return "GPT2_KERNEL=avx2: this CPU lacks AVX2+FMA: unset it, or set it to portable";
    if (want == GEMM_PATH_AVX512)
        return "GPT2_KERNEL=avx512: this CPU lacks AVX-512: unset it, or set it to avx2 or portable";
    static char msg[160]; /* read once, at start-up */
    snprintf(msg, sizeof msg, "GPT2_KERNEL=%.40s names no kernel path: use avx512, avx2, portable or auto (or unset it)",
             getenv("GPT2_KERNEL"));
    return msg;
}

/* Rows of x kept in cache while a thread's panels stream past them: a
 * chunk of at most GEMM_X_CHUNK_KIB of x, a multiple of MR rows, at most
 * MC_MAX. */
/* 1 MiB, not the 256 KiB that would stay in the 512 KiB L2: x read again
 * per panel from L3 costs less than the weights streamed again from memory
 * per extra chunk (fc_proj, K = 3072: 18 rows a chunk at 256 KiB, so B = 64
 * read its weights 4 times). gpt2-bench kernels --batch 32,64, 4 interleaved
 * rounds: fc_proj M = 64 168 against 141 GFLOP/s, M = 32 153 against 139,
 * K = 768 shapes unchanged (one chunk either way); decode S = 128, 5 rounds:
 * B = 32 x1.05 (0.91-1.20), B = 64 x1.02 (0.96-1.15); prefill of 512 tokens,
 * 3 rounds, x0.93-1.03 (noise). */
#ifndef GEMM_X_CHUNK_KIB
#define GEMM_X_CHUNK_KIB 1024
#endif
static int rows_per_chunk(int K) {
    int mc = (int)(((size_t)GEMM_X_CHUNK_KIB << 10) / ((size_t)K * sizeof(float))) / MR * MR;
    return mc < MR ? MR : mc > MC_MAX ? MC_MAX : mc;
}

void linear_packed_f32(float *y, const float *x, const packed_w *w, const float *b, int M) {
    const int K = w->K, N = w->N, np = w->Np / NR;
    const gemm_path path = gemm_path_current();
    const int simd = path != GEMM_PATH_PORTABLE, wide = path == GEMM_PATH_AVX512;
    const int mc = rows_per_chunk(K);
    const int packs = simd && M > GEMM_TWO_STREAM_MAX_M;
    float *xp = packs ? malloc((size_t)(M < mc ? M : mc) * K * sizeof(float)) : NULL; /* (chunk rows, K) */
    const int use_packed = packs && xp;
    /* Each thread owns one contiguous range of panels (so each core streams
     * its own part of the matrix) and walks it once per chunk of rows; with
     * a single chunk (decode) every panel is read exactly once. */
#pragma omp parallel if (np > 1 && (size_t)K * w->Np > 16384)
    {
        const int nt = omp_get_num_threads(), t = omp_get_thread_num();
        const int j0 = (int)((long)np * t / nt), j1 = (int)((long)np * (t + 1) / nt);
        if (simd && M <= GEMM_TWO_STREAM_MAX_M) { /* two streams: panels i and h + i of the range */
            const int h = (j1 - j0 + 1) / 2;
            for (int i = 0; i < h; i++) {
                const int ja = j0 + i, jb = j0 + h + i, na = N - ja * NR < NR ? N - ja * NR : NR;
                const float *pa = w->panels + (size_t)ja * K * NR, *ba = b ? b + ja * NR : NULL;
                if (jb < j1) {
                    const int nb = N - jb * NR < NR ? N - jb * NR : NR;
                    const float *pb = w->panels + (size_t)jb * K * NR, *bb = b ? b + jb * NR : NULL;
                    if (M == 1)
                        block_avx2_row_2p(y + ja * NR, y + jb * NR, x, K, pa, pb, na, nb, ba, bb);
                    else if (M == 2)
                        block_avx2_row2_2p(y + ja * NR, y + jb * NR, N, x, K, pa, pb, na, nb, ba, bb);
                    else
                        pair_avx2(y + ja * NR, y + jb * NR, N, x, K, M, pa, pb, na, nb, ba, bb);
                } else if (M == 1) {
                    block_avx2_row(y + ja * NR, x, K, pa, na, ba);
                } else if (M == 2) {
                    block_avx2_row2(y + ja * NR, N, x, K, pa, na, ba);
                } else { /* the odd panel: paired with itself, its second half of the tile dropped */
                    pair_avx2(y + ja * NR, NULL, N, x, K, M, pa, pa, na, 0, ba, NULL);
                }
            }
        }
        for (int m0 = 0; m0 < M && !(simd && M <= GEMM_TWO_STREAM_MAX_M); m0 += mc) {
            const int rows = M - m0 < mc ? M - m0 : mc;
            const float *xc = x + (size_t)m0 * K;
            float *yc = y + (size_t)m0 * N;
            if (use_packed) {
#pragma omp barrier
                pack_rows(xp, xc, rows, K); /* ends with a barrier: xp is ready for every thread */
            }
            for (int j = j0; j < j1; j++) {
                const int n0 = j * NR, nw = N - n0 < NR ? N - n0 : NR;
                const float *panel = w->panels + (size_t)j * K * NR;
                const float *bj = b ? b + n0 : NULL;
                if (simd && rows == 1)
                    block_avx2_row(yc + n0, xc, K, panel, nw, bj);
                else if (simd && rows == 2)
                    block_avx2_row2(yc + n0, N, xc, K, panel, nw, bj);
                else if (use_packed)
                    panel_avx2(yc + n0, N, xp, K, panel, rows, nw, bj, j + 1 < j1 ? panel + (size_t)K * NR : NULL, wide);
                else
                    panel_portable(yc + n0, N, xc, K, panel, rows, nw, bj);
            }
        }
    }
    free(xp);
}
