/* machine: measured ceilings of this machine (see machine.h).
 *
 * JSON (one object, schema_version 1):
 *   schema_version, threads, quick, cpu, isa, host, date, compiler,
 *   compiler_flags, git_revision, pinning                   (numbers, bool, strings)
 *   read_gbs, copy_gbs, triad_gbs, stream_array_bytes, stream_reps, read_streams,
 *   stream_convention                                       (STREAM-style bandwidth)
 *   clock_ghz, clock_method, peak_gflops, peak_method, spec_gflops,
 *   spec_assumption, flops_per_cycle_per_core, spec_cores,
 *   sgemm_gflops, sgemm_size                                (compute)
 *   llc_bytes_measured, llc_bytes_hwloc, llc_method,
 *   cache_curve: [{bytes, gbs}]                             (cache)
 *   sgemm_shapes: [{m, k, n, lm_head, gflops, weight_gbs, median_gflops}],
 *   sgemv_shapes: [{k, n, lm_head, weight_gbs, median_weight_gbs}],
 *   shapes_method                                           (decode shapes)
 *   measure_s, busy_cpus_before, topology {..}, openblas {..}, env {..}      (context.h)
 *
 * Every parallel kernel runs in one OpenMP team of `threads` threads; each
 * thread works on its own contiguous part of each array, the same part that
 * it first touched when the array was filled (NUMA-local pages). Times come
 * from clock_gettime(CLOCK_MONOTONIC) on thread 0 between two barriers. */
#include "machine.h"
#include "cpustat.h"

#include <cblas.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdarg.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#if defined(__x86_64__) || defined(__i386__)
#define GR_X86 1
#include <immintrin.h>
#else
#define GR_X86 0
#endif

#include "../kernels/kernels.h"
#include "../kernels/pin.h"
#include "context.h"
#include "outfile.h"
#include "stats.h"

#define KIB ((int64_t)1024)
#define MIB (KIB * 1024)

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void progress_line(FILE *progress, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void progress_line(FILE *progress, const char *fmt, ...) {
    if (!progress) return;
    va_list ap;
    va_start(ap, fmt);
    fputs("machine: ", progress);
    vfprintf(progress, fmt, ap);
    fputc('\n', progress);
    va_end(ap);
    fflush(progress);
}

/* ------------------------------------------------------------------ ISA */

typedef enum { ISA_SCALAR = 0, ISA_AVX2 = 1, ISA_AVX512 = 2 } isa_t;
static const char *const ISA_NAME[3] = {"scalar", "avx2", "avx512"};
static const int ISA_LANES[3] = {1, 8, 16}; /* fp32 lanes of one vector */

static isa_t isa_detect(void) {
#if GR_X86
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f")) return ISA_AVX512;
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return ISA_AVX2;
#endif
    return ISA_SCALAR;
}

/* ----------------------------------------------------- memory and parts */

/* 2 MiB-aligned (transparent huge pages where the kernel allows), size
 * rounded up to 2 MiB. NULL when out of memory. */
static float *big_alloc(int64_t bytes) {
    const size_t align = 2u << 20;
    size_t sz = ((size_t)bytes + align - 1) / align * align;
    float *p = aligned_alloc(align, sz);
#ifdef MADV_HUGEPAGE
    if (p) madvise(p, sz, MADV_HUGEPAGE);
#endif
    return p;
}

/* Thread t's part [*lo, *hi) of n floats: equal parts, multiples of 1024
 * floats (4 KiB, so each part starts on its own page), the last takes the
 * rest. */
static void part(size_t n, int T, int t, size_t *lo, size_t *hi) {
    size_t per = (n / (size_t)T) & ~(size_t)1023;
    *lo = per * (size_t)t;
    *hi = t == T - 1 ? n : *lo + per;
}

/* x: (n) = v, each thread first-touching its own part. */
static void fill_parallel(float *x, size_t n, float v, int T) {
#pragma omp parallel num_threads(T)
    {
        size_t lo, hi;
        part(n, omp_get_num_threads(), omp_get_thread_num(), &lo, &hi);
        for (size_t i = lo; i < hi; i++) x[i] = v;
    }
}

/* ---------------------------------------------------- streaming kernels */
/* Each: x, a, b, c 64-byte aligned (parts start on 4 KiB), any n. */

#if GR_X86
__attribute__((target("avx512f"))) static double sum_avx512(const float *x, size_t n) {
    __m512 s0 = _mm512_setzero_ps(), s1 = s0, s2 = s0, s3 = s0, s4 = s0, s5 = s0, s6 = s0, s7 = s0;
    size_t i = 0;
    for (; i + 128 <= n; i += 128) {
        s0 = _mm512_add_ps(s0, _mm512_load_ps(x + i));
        s1 = _mm512_add_ps(s1, _mm512_load_ps(x + i + 16));
        s2 = _mm512_add_ps(s2, _mm512_load_ps(x + i + 32));
        s3 = _mm512_add_ps(s3, _mm512_load_ps(x + i + 48));
        s4 = _mm512_add_ps(s4, _mm512_load_ps(x + i + 64));
        s5 = _mm512_add_ps(s5, _mm512_load_ps(x + i + 80));
        s6 = _mm512_add_ps(s6, _mm512_load_ps(x + i + 96));
        s7 = _mm512_add_ps(s7, _mm512_load_ps(x + i + 112));
    }
    s0 = _mm512_add_ps(_mm512_add_ps(_mm512_add_ps(s0, s1), _mm512_add_ps(s2, s3)),
                       _mm512_add_ps(_mm512_add_ps(s4, s5), _mm512_add_ps(s6, s7)));
    float lanes[16];
    _mm512_storeu_ps(lanes, s0);
    double s = 0;
    for (int l = 0; l < 16; l++) s += lanes[l];
    for (; i < n; i++) s += x[i];
    return s;
}

__attribute__((target("avx2"))) static double sum_avx2(const float *x, size_t n) {
    __m256 s0 = _mm256_setzero_ps(), s1 = s0, s2 = s0, s3 = s0, s4 = s0, s5 = s0, s6 = s0, s7 = s0;
    size_t i = 0;
    for (; i + 64 <= n; i += 64) {
        s0 = _mm256_add_ps(s0, _mm256_load_ps(x + i));
        s1 = _mm256_add_ps(s1, _mm256_load_ps(x + i + 8));
        s2 = _mm256_add_ps(s2, _mm256_load_ps(x + i + 16));
        s3 = _mm256_add_ps(s3, _mm256_load_ps(x + i + 24));
        s4 = _mm256_add_ps(s4, _mm256_load_ps(x + i + 32));
        s5 = _mm256_add_ps(s5, _mm256_load_ps(x + i + 40));
        s6 = _mm256_add_ps(s6, _mm256_load_ps(x + i + 48));
        s7 = _mm256_add_ps(s7, _mm256_load_ps(x + i + 56));
    }
    s0 = _mm256_add_ps(_mm256_add_ps(_mm256_add_ps(s0, s1), _mm256_add_ps(s2, s3)),
                       _mm256_add_ps(_mm256_add_ps(s4, s5), _mm256_add_ps(s6, s7)));
    float lanes[8];
    _mm256_storeu_ps(lanes, s0);
    double s = 0;
    for (int l = 0; l < 8; l++) s += lanes[l];
    for (; i < n; i++) s += x[i];
    return s;
}

/* The copy loops keep a compiler barrier in the body so that the compiler
 * does not turn them into a memcpy call (whose large-size path uses
 * streaming stores, a different traffic pattern from STREAM's). */
__attribute__((target("avx512f"))) static void copy_avx512(float *c, const float *a, size_t n) {
    size_t i = 0;
    for (; i + 64 <= n; i += 64) {
        __m512 v0 = _mm512_load_ps(a + i), v1 = _mm512_load_ps(a + i + 16);
        __m512 v2 = _mm512_load_ps(a + i + 32), v3 = _mm512_load_ps(a + i + 48);
        _mm512_store_ps(c + i, v0);
        _mm512_store_ps(c + i + 16, v1);
        _mm512_store_ps(c + i + 32, v2);
        _mm512_store_ps(c + i + 48, v3);
        __asm__ volatile("" ::: "memory");
    }
    for (; i < n; i++) c[i] = a[i];
}

__attribute__((target("avx2"))) static void copy_avx2(float *c, const float *a, size_t n) {
    size_t i = 0;
    for (; i + 32 <= n; i += 32) {
        __m256 v0 = _mm256_load_ps(a + i), v1 = _mm256_load_ps(a + i + 8);
        __m256 v2 = _mm256_load_ps(a + i + 16), v3 = _mm256_load_ps(a + i + 24);
        _mm256_store_ps(c + i, v0);
        _mm256_store_ps(c + i + 8, v1);
        _mm256_store_ps(c + i + 16, v2);
        _mm256_store_ps(c + i + 24, v3);
        __asm__ volatile("" ::: "memory");
    }
    for (; i < n; i++) c[i] = a[i];
}

__attribute__((target("avx512f"))) static void triad_avx512(float *a, const float *b, const float *c, float s,
                                                            size_t n) {
    __m512 vs = _mm512_set1_ps(s);
    size_t i = 0;
    for (; i + 32 <= n; i += 32) {
        _mm512_store_ps(a + i, _mm512_fmadd_ps(vs, _mm512_load_ps(c + i), _mm512_load_ps(b + i)));
        _mm512_store_ps(a + i + 16, _mm512_fmadd_ps(vs, _mm512_load_ps(c + i + 16), _mm512_load_ps(b + i + 16)));
    }
    for (; i < n; i++) a[i] = b[i] + s * c[i];
}

__attribute__((target("avx2,fma"))) static void triad_avx2(float *a, const float *b, const float *c, float s,
                                                           size_t n) {
    __m256 vs = _mm256_set1_ps(s);
    size_t i = 0;
    for (; i + 16 <= n; i += 16) {
        _mm256_store_ps(a + i, _mm256_fmadd_ps(vs, _mm256_load_ps(c + i), _mm256_load_ps(b + i)));
        _mm256_store_ps(a + i + 8, _mm256_fmadd_ps(vs, _mm256_load_ps(c + i + 8), _mm256_load_ps(b + i + 8)));
    }
    for (; i < n; i++) a[i] = b[i] + s * c[i];
}
#endif

static double sum_generic(const float *x, size_t n) {
    float s[8] = {0};
    size_t i = 0;
    for (; i + 8 <= n; i += 8)
        for (int l = 0; l < 8; l++) s[l] += x[i + l];
    double t = 0;
    for (int l = 0; l < 8; l++) t += s[l];
    for (; i < n; i++) t += x[i];
    return t;
}

static void copy_generic(float *c, const float *a, size_t n) {
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        for (int l = 0; l < 8; l++) c[i + l] = a[i + l];
        __asm__ volatile("" ::: "memory");
    }
    for (; i < n; i++) c[i] = a[i];
}

static void triad_generic(float *a, const float *b, const float *c, float s, size_t n) {
    for (size_t i = 0; i < n; i++) a[i] = b[i] + s * c[i];
}

typedef struct {
    double (*sum)(const float *, size_t);
    void (*copy)(float *, const float *, size_t);
    void (*triad)(float *, const float *, const float *, float, size_t);
} stream_fns;

static stream_fns stream_for(isa_t isa) {
    stream_fns f = {sum_generic, copy_generic, triad_generic};
#if GR_X86
    if (isa == ISA_AVX512) f = (stream_fns){sum_avx512, copy_avx512, triad_avx512};
    else if (isa == ISA_AVX2) f = (stream_fns){sum_avx2, copy_avx2, triad_avx2};
#else
    (void)isa;
#endif
    return f;
}

/* x[0..n) as MACHINE_READ_STREAMS equal pieces (multiples of 16 floats)
 * read side by side, then the remainder with `sum`. The AVX2 loop takes
 * 64 bytes of each piece in turn (the pieces' misses overlap: read in
 * blocks of 4 KiB instead, 4 streams read no faster than one); elsewhere
 * `sum` over 4 KiB of each in turn (the portable sum where x is not
 * 64-byte aligned). Partial sums go to double every 2^20 floats per piece,
 * so a sum of ones stays exact. */
#define READ_BLOCK 1024      /* floats: 4 KiB */
#define READ_EXACT (1 << 20) /* floats per piece between double sums */
_Static_assert(MACHINE_READ_STREAMS == 4, "sum_pieces_avx2 reads 4 pieces");
#if GR_X86
__attribute__((target("avx2"))) static double sum_pieces_avx2(const float *x, size_t piece, size_t len) {
    const float *p0 = x, *p1 = x + piece, *p2 = x + 2 * piece, *p3 = x + 3 * piece;
    __m256 a0 = _mm256_setzero_ps(), b0 = a0, a1 = a0, b1 = a0, a2 = a0, b2 = a0, a3 = a0, b3 = a0;
    for (size_t i = 0; i < len; i += 16) {
        a0 = _mm256_add_ps(a0, _mm256_load_ps(p0 + i)), b0 = _mm256_add_ps(b0, _mm256_load_ps(p0 + i + 8));
        a1 = _mm256_add_ps(a1, _mm256_load_ps(p1 + i)), b1 = _mm256_add_ps(b1, _mm256_load_ps(p1 + i + 8));
        a2 = _mm256_add_ps(a2, _mm256_load_ps(p2 + i)), b2 = _mm256_add_ps(b2, _mm256_load_ps(p2 + i + 8));
        a3 = _mm256_add_ps(a3, _mm256_load_ps(p3 + i)), b3 = _mm256_add_ps(b3, _mm256_load_ps(p3 + i + 8));
    }
    float l[4][8];
    _mm256_storeu_ps(l[0], _mm256_add_ps(a0, b0)), _mm256_storeu_ps(l[1], _mm256_add_ps(a1, b1));
    _mm256_storeu_ps(l[2], _mm256_add_ps(a2, b2)), _mm256_storeu_ps(l[3], _mm256_add_ps(a3, b3));
    double t = 0;
    for (int s = 0; s < 4; s++)
        for (int k = 0; k < 8; k++) t += l[s][k];
    return t;
}
#endif

static double sum_streams(isa_t isa, double (*sum)(const float *, size_t), const float *x, size_t n) {
    const int S = MACHINE_READ_STREAMS;
    const size_t piece = n / (size_t)S / 16 * 16;
    const int aligned = ((uintptr_t)x & 63) == 0;
    if (!aligned) sum = sum_generic; /* the vector sums load aligned */
    double t = 0;
#if GR_X86
    if (isa != ISA_SCALAR && aligned) {
        for (size_t i = 0; i < piece; i += READ_EXACT)
            t += sum_pieces_avx2(x + i, piece, piece - i < READ_EXACT ? piece - i : READ_EXACT);
    } else
#endif
    {
        (void)isa;
        for (size_t i = 0; i < piece; i += READ_BLOCK) {
            const size_t len = piece - i < READ_BLOCK ? piece - i : READ_BLOCK;
            for (int s = 0; s < S; s++) t += sum(x + (size_t)s * piece + i, len);
        }
    }
    const size_t done = piece * (size_t)S;
    return done < n ? t + sum(x + done, n - done) : t;
}

double machine_read_sum(const float *x, size_t n) {
    static int isa = -1; /* detected once; the same answer from every thread */
    if (isa < 0) isa = (int)isa_detect();
    return sum_streams((isa_t)isa, stream_for((isa_t)isa).sum, x, n);
}

/* ------------------------------------------------------------- the clock */

/* 100 dependent adds: each waits for the one before (1 cycle each on every
 * x86 core of the last 20 years); the empty asm keeps the compiler from
 * folding them into one. */
#define ADD1 x += 1; __asm__ volatile("" : "+r"(x));
#define ADD10 ADD1 ADD1 ADD1 ADD1 ADD1 ADD1 ADD1 ADD1 ADD1 ADD1
#define ADD100 ADD10 ADD10 ADD10 ADD10 ADD10 ADD10 ADD10 ADD10 ADD10 ADD10

static uint64_t add_chain(long blocks) {
    uint64_t x = 0;
    for (long i = 0; i < blocks; i++) { ADD100 }
    return x;
}

/* All T threads run the chain at once, each timing its own; the result is
 * the mean over threads of adds/s, best of `reps` after one untimed run. */
static double measure_clock_ghz(int T, long blocks, int reps, int *team, volatile uint64_t *sink) {
    double best = 0;
    double *rate = calloc((size_t)T, sizeof *rate); /* (T) GHz of each thread in this rep */
    if (!rate) return 0;
    for (int r = 0; r <= reps; r++) {
#pragma omp parallel num_threads(T)
        {
            int t = omp_get_thread_num();
            if (t == 0) *team = omp_get_num_threads();
#pragma omp barrier
            double t0 = now_s();
            uint64_t x = add_chain(blocks);
            double dt = now_s() - t0;
            rate[t] = dt > 0 ? (double)blocks * 100.0 / dt / 1e9 : 0;
#pragma omp atomic
            *sink += x;
        }
        double mean = 0;
        for (int t = 0; t < T; t++) mean += rate[t];
        mean /= T;
        if (r > 0 && mean > best) best = mean;
    }
    free(rate);
    return best;
}

/* ------------------------------------------------------------- FMA peak */
/* acc = acc * a + b in NACC independent registers: the FMA units stay busy
 * while each accumulator waits out its FMA latency. a < 1 and b small keep
 * the values near b / (1 - a): no overflow, no denormals. */

#if GR_X86
#define PEAK_ACC_512 16
__attribute__((target("avx512f"))) static float peak_avx512(long iters, float fa, float fb) {
    __m512 a = _mm512_set1_ps(fa), b = _mm512_set1_ps(fb);
    __m512 c0 = _mm512_set1_ps(0.0f), c1 = _mm512_set1_ps(0.1f), c2 = _mm512_set1_ps(0.2f),
           c3 = _mm512_set1_ps(0.3f), c4 = _mm512_set1_ps(0.4f), c5 = _mm512_set1_ps(0.5f),
           c6 = _mm512_set1_ps(0.6f), c7 = _mm512_set1_ps(0.7f), c8 = _mm512_set1_ps(0.8f),
           c9 = _mm512_set1_ps(0.9f), c10 = _mm512_set1_ps(1.0f), c11 = _mm512_set1_ps(1.1f),
           c12 = _mm512_set1_ps(1.2f), c13 = _mm512_set1_ps(1.3f), c14 = _mm512_set1_ps(1.4f),
           c15 = _mm512_set1_ps(1.5f);
    for (long i = 0; i < iters; i++) {
        c0 = _mm512_fmadd_ps(c0, a, b); c1 = _mm512_fmadd_ps(c1, a, b);
        c2 = _mm512_fmadd_ps(c2, a, b); c3 = _mm512_fmadd_ps(c3, a, b);
        c4 = _mm512_fmadd_ps(c4, a, b); c5 = _mm512_fmadd_ps(c5, a, b);
        c6 = _mm512_fmadd_ps(c6, a, b); c7 = _mm512_fmadd_ps(c7, a, b);
        c8 = _mm512_fmadd_ps(c8, a, b); c9 = _mm512_fmadd_ps(c9, a, b);
        c10 = _mm512_fmadd_ps(c10, a, b); c11 = _mm512_fmadd_ps(c11, a, b);
        c12 = _mm512_fmadd_ps(c12, a, b); c13 = _mm512_fmadd_ps(c13, a, b);
        c14 = _mm512_fmadd_ps(c14, a, b); c15 = _mm512_fmadd_ps(c15, a, b);
    }
    __m512 s = _mm512_add_ps(_mm512_add_ps(_mm512_add_ps(c0, c1), _mm512_add_ps(c2, c3)),
                             _mm512_add_ps(_mm512_add_ps(c4, c5), _mm512_add_ps(c6, c7)));
    s = _mm512_add_ps(s, _mm512_add_ps(_mm512_add_ps(_mm512_add_ps(c8, c9), _mm512_add_ps(c10, c11)),
                                       _mm512_add_ps(_mm512_add_ps(c12, c13), _mm512_add_ps(c14, c15))));
    float lanes[16];
    _mm512_storeu_ps(lanes, s);
    float r = 0;
    for (int l = 0; l < 16; l++) r += lanes[l];
    return r;
}

#define PEAK_ACC_256 12
__attribute__((target("avx2,fma"))) static float peak_avx2(long iters, float fa, float fb) {
    __m256 a = _mm256_set1_ps(fa), b = _mm256_set1_ps(fb);
    __m256 c0 = _mm256_set1_ps(0.0f), c1 = _mm256_set1_ps(0.1f), c2 = _mm256_set1_ps(0.2f),
           c3 = _mm256_set1_ps(0.3f), c4 = _mm256_set1_ps(0.4f), c5 = _mm256_set1_ps(0.5f),
           c6 = _mm256_set1_ps(0.6f), c7 = _mm256_set1_ps(0.7f), c8 = _mm256_set1_ps(0.8f),
           c9 = _mm256_set1_ps(0.9f), c10 = _mm256_set1_ps(1.0f), c11 = _mm256_set1_ps(1.1f);
    for (long i = 0; i < iters; i++) {
        c0 = _mm256_fmadd_ps(c0, a, b); c1 = _mm256_fmadd_ps(c1, a, b);
        c2 = _mm256_fmadd_ps(c2, a, b); c3 = _mm256_fmadd_ps(c3, a, b);
        c4 = _mm256_fmadd_ps(c4, a, b); c5 = _mm256_fmadd_ps(c5, a, b);
        c6 = _mm256_fmadd_ps(c6, a, b); c7 = _mm256_fmadd_ps(c7, a, b);
        c8 = _mm256_fmadd_ps(c8, a, b); c9 = _mm256_fmadd_ps(c9, a, b);
        c10 = _mm256_fmadd_ps(c10, a, b); c11 = _mm256_fmadd_ps(c11, a, b);
    }
    __m256 s = _mm256_add_ps(_mm256_add_ps(_mm256_add_ps(c0, c1), _mm256_add_ps(c2, c3)),
                             _mm256_add_ps(_mm256_add_ps(c4, c5), _mm256_add_ps(c6, c7)));
    s = _mm256_add_ps(s, _mm256_add_ps(_mm256_add_ps(c8, c9), _mm256_add_ps(c10, c11)));
    float lanes[8];
    _mm256_storeu_ps(lanes, s);
    float r = 0;
    for (int l = 0; l < 8; l++) r += lanes[l];
    return r;
}
#endif

#define PEAK_ACC_SCALAR 16
static float peak_scalar(long iters, float fa, float fb) {
    float c[PEAK_ACC_SCALAR];
    for (int k = 0; k < PEAK_ACC_SCALAR; k++) c[k] = 0.1f * (float)k;
    for (long i = 0; i < iters; i++)
        for (int k = 0; k < PEAK_ACC_SCALAR; k++) c[k] = c[k] * fa + fb; /* mul + add: 2 FLOP */
    float r = 0;
    for (int k = 0; k < PEAK_ACC_SCALAR; k++) r += c[k];
    return r;
}

/* FLOPs of one iteration of the isa's loop (per thread). */
static double peak_flops_per_iter(isa_t isa) {
#if GR_X86
    if (isa == ISA_AVX512) return PEAK_ACC_512 * 16 * 2;
    if (isa == ISA_AVX2) return PEAK_ACC_256 * 8 * 2;
#endif
    (void)isa;
    return PEAK_ACC_SCALAR * 2;
}

static int peak_accumulators(isa_t isa) {
#if GR_X86
    if (isa == ISA_AVX512) return PEAK_ACC_512;
    if (isa == ISA_AVX2) return PEAK_ACC_256;
#endif
    (void)isa;
    return PEAK_ACC_SCALAR;
}

static float peak_run(isa_t isa, long iters, float fa, float fb) {
#if GR_X86
    if (isa == ISA_AVX512) return peak_avx512(iters, fa, fb);
    if (isa == ISA_AVX2) return peak_avx2(iters, fa, fb);
#endif
    return peak_scalar(iters, fa, fb);
}

/* All T threads at once; FLOPs of all threads / wall time between two
 * barriers, best of reps after one untimed run (the median if `median`).
 * Returns GFLOP/s; *checksum gets the accumulators' sum (must be finite). */
#define PEAK_REPS_MAX 64
static double measure_peak_gflops_of(isa_t isa, int T, long iters, int reps, int median, double *checksum) {
    volatile float va = 0.999f, vb = 0.001f; /* opaque to the compiler */
    float fa = va, fb = vb;
    double best = 0, t0 = 0, t1 = 0, g_rep[PEAK_REPS_MAX];
    if (reps > PEAK_REPS_MAX) reps = PEAK_REPS_MAX;
    double *sums = calloc((size_t)T, sizeof *sums); /* (T) each thread's result */
    if (!sums) return 0;
    for (int r = 0; r <= reps; r++) {
#pragma omp parallel num_threads(T)
        {
            int t = omp_get_thread_num();
#pragma omp barrier
            if (t == 0) t0 = now_s();
            sums[t] = peak_run(isa, iters, fa, fb);
#pragma omp barrier
            if (t == 0) t1 = now_s();
        }
        double g = peak_flops_per_iter(isa) * (double)iters * T / (t1 - t0) / 1e9;
        if (r > 0) g_rep[r - 1] = g;
        if (r > 0 && g > best) best = g;
    }
    *checksum = 0;
    for (int t = 0; t < T; t++) *checksum += sums[t];
    free(sums);
    return median && reps > 0 ? stats_median(g_rep, reps) : best;
}

static double measure_peak_gflops(isa_t isa, int T, long iters, int reps, double *checksum) {
    return measure_peak_gflops_of(isa, T, iters, reps, 0, checksum);
}

double machine_peak_probe_gflops(int passes, double pass_s) {
    const isa_t isa = isa_detect();
    if (passes < 1) passes = 1;
    /* a first pass of 20000 iterations (about 40 us here) sizes the passes by
     * the wall clock: under valgrind, whose FMAs are emulated, passes sized
     * by the clock took seconds each (test_decode: 21 s -> 2 min 49 s) */
    const int T = omp_get_max_threads();
    long iters = 20000;
    double checksum = 0;
    const double g0 = measure_peak_gflops_of(isa, T, iters, 1, 1, &checksum);
    if (!isfinite(checksum) || !(g0 > 0)) return 0;
    iters = (long)(pass_s * g0 * 1e9 / (peak_flops_per_iter(isa) * T)) + 1;
    const double g = measure_peak_gflops_of(isa, T, iters, passes, 1, &checksum);
    return isfinite(checksum) ? g : 0;
}

/* --------------------------------------------------------- cache curve */

/* Read bandwidth with a working set of `ws_bytes` in all: thread t reads
 * the first ws_bytes / T of its region of buf (region_floats floats from
 * buf + t * region_floats, first-touched by thread t, all 1.0f), `passes`
 * times per timing. Best of reps after one untimed timing. Returns GB/s,
 * or -1 if a sum is wrong. */
static double curve_point(stream_fns f, float *buf, size_t region_floats, int T, int64_t ws_bytes,
                          int64_t bytes_per_timing, int reps) {
    size_t per = (size_t)(ws_bytes / 4 / T) & ~(size_t)63;
    if (per < 64) per = 64;
    if (per > region_floats) per = region_floats;
    long passes = (long)(bytes_per_timing / ((int64_t)per * 4 * T));
    if (passes < 1) passes = 1;
    double best = INFINITY, t0 = 0, t1 = 0;
    int bad = 0;
    for (int r = 0; r <= reps; r++) {
#pragma omp parallel num_threads(T) reduction(+ : bad)
        {
            int t = omp_get_thread_num();
            const float *x = buf + (size_t)t * region_floats;
            double s = 0;
#pragma omp barrier
            if (t == 0) t0 = now_s();
            for (long p = 0; p < passes; p++) s = f.sum(x, per);
#pragma omp barrier
            if (t == 0) t1 = now_s();
            if (s != (double)per) bad++; /* all ones, exact in float below 2^24 per lane */
        }
        if (r > 0 && t1 - t0 < best) best = t1 - t0;
    }
    if (bad) return -1;
    return (double)per * 4 * T * (double)passes / best / 1e9;
}

static int cmp_double(const void *pa, const void *pb) {
    double x = *(const double *)pa, y = *(const double *)pb;
    return (x > y) - (x < y);
}

/* ------------------------------------------------------------ STREAM */

typedef struct {
    double read_gbs, copy_gbs, triad_gbs;
    double read_median_gbs;
} stream_result;

/* a, b, c: (n) floats each. Runs `reps`+1 passes of copy (c = a), then of
 * triad (a = b + 3 c), then of read (sum a, b and c), timing each pass between
 * barriers and keeping the best after the first; validates every element
 * after copy and triad and every sum. */
static int run_stream(isa_t isa, stream_fns f, float *a, float *b, float *c, size_t n, int T, int reps, stream_result *out,
                      status_t *st) {
    const float scalar = 3.0f;
    fill_parallel(a, n, 1.0f, T);
    fill_parallel(b, n, 2.0f, T);
    fill_parallel(c, n, 0.0f, T);
    double t0 = 0, t1 = 0, best_copy = INFINITY, best_triad = INFINITY, best_read = INFINITY;
    for (int r = 0; r <= reps; r++) {
#pragma omp parallel num_threads(T)
        {
            int t = omp_get_thread_num();
            size_t lo, hi;
            part(n, T, t, &lo, &hi);
#pragma omp barrier
            if (t == 0) t0 = now_s();
            f.copy(c + lo, a + lo, hi - lo);
#pragma omp barrier
            if (t == 0) t1 = now_s();
        }
        if (r > 0 && t1 - t0 < best_copy) best_copy = t1 - t0;
    }
    for (int r = 0; r <= reps; r++) {
#pragma omp parallel num_threads(T)
        {
            int t = omp_get_thread_num();
            size_t lo, hi;
            part(n, T, t, &lo, &hi);
#pragma omp barrier
            if (t == 0) t0 = now_s();
            f.triad(a + lo, b + lo, c + lo, scalar, hi - lo);
#pragma omp barrier
            if (t == 0) t1 = now_s();
        }
        if (r > 0 && t1 - t0 < best_triad) best_triad = t1 - t0;
    }
    double *sums = calloc((size_t)T, sizeof *sums); /* (T) each thread's partial sum of b */
    const size_t nr = reps > 0 ? (size_t)reps : 0;
    double *read_s = calloc(nr + 1, sizeof *read_s); /* (reps) each timed read pass */
    if (!sums || !read_s) {
        free(sums);
        free(read_s);
        return status_fail(st, ST_RUNTIME, "machine: out of memory for %d partial sums", T);
    }
    int bad_sum = 0;
    for (int r = 0; r <= reps; r++) {
#pragma omp parallel num_threads(T)
        {
            int t = omp_get_thread_num();
            size_t lo, hi;
            part(n, T, t, &lo, &hi);
#pragma omp barrier
            if (t == 0) t0 = now_s();
            /* all three arrays, one after the other (each thread's part of
             * each as MACHINE_READ_STREAMS streams): a working set of
             * 3 x the array, so that a last-level cache that keeps part
             * of one array between passes (a victim cache, not strict
             * LRU) cannot lift the figure above what DRAM gives */
            sums[t] = sum_streams(isa, f.sum, a + lo, hi - lo) + sum_streams(isa, f.sum, b + lo, hi - lo) +
                      sum_streams(isa, f.sum, c + lo, hi - lo);
#pragma omp barrier
            if (t == 0) t1 = now_s();
        }
        if (r > 0 && t1 - t0 < best_read) best_read = t1 - t0;
        if (r > 0) read_s[r - 1] = t1 - t0;
        double total = 0;
        for (int t = 0; t < T; t++) total += sums[t];
        if (fabs(total - 8.0 * (double)n) > 1e-6 * 8.0 * (double)n) bad_sum = 1; /* a = 5, b = 2, c = 1 */
    }
    free(sums);
    const double median_read = nr == 0 ? best_read : stats_median(read_s, (int)nr);
    free(read_s);
    /* validate, as STREAM does, every element of the arrays written */
    size_t bad_copy = 0, bad_triad = 0;
#pragma omp parallel for num_threads(T) reduction(+ : bad_copy, bad_triad) schedule(static)
    for (size_t i = 0; i < n; i++) {
        bad_copy += c[i] != 1.0f;
        bad_triad += a[i] != 5.0f; /* 2 + 3 x 1, exact */
    }
    if (bad_copy || bad_triad || bad_sum)
        return status_fail(st, ST_RUNTIME,
                           "machine: STREAM validation failed (%zu wrong copy values, %zu wrong triad values, "
                           "read sum %s): the measurement is void; run it again, and suspect the memory or the "
                           "build if it repeats",
                           bad_copy, bad_triad, bad_sum ? "wrong" : "right");
    double bytes = (double)n * 4;
    out->copy_gbs = 2 * bytes / best_copy / 1e9;
    out->triad_gbs = 3 * bytes / best_triad / 1e9;
    out->read_gbs = 3 * bytes / best_read / 1e9;
    out->read_median_gbs = 3 * bytes / median_read / 1e9;
    return ST_OK;
}

/* ------------------------------------------------------------- sgemm */


/* Fills x: (n) with small values in [0.5, 1.5) / 64 (no denormals, no NaN),
 * in parallel (first touch). */
static void fill_weights(float *x, size_t n, int T) {
#pragma omp parallel for num_threads(T) schedule(static)
    for (size_t i = 0; i < n; i++) x[i] = (0.5f + (float)((i * 2654435761u) & 1023u) / 1024.0f) / 64.0f;
}

static double measure_sgemm_square(int size, int reps, int T) {
    size_t nn = (size_t)size * size;
    float *A = big_alloc((int64_t)nn * 4), *B = big_alloc((int64_t)nn * 4), *C = big_alloc((int64_t)nn * 4);
    double best = INFINITY;
    if (A && B && C) {
        fill_weights(A, nn, T);
        fill_weights(B, nn, T);
        fill_parallel(C, nn, 0.0f, T);
        for (int r = 0; r <= reps; r++) {
            double t0 = now_s();
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, size, size, size, 1.0f, A, size, B, size, 0.0f,
                        C, size);
            double dt = now_s() - t0;
            if (r > 0 && dt < best) best = dt;
        }
        if (!isfinite(C[nn / 2])) best = INFINITY;
    }
    free(A);
    free(B);
    free(C);
    return isfinite(best) ? 2.0 * size * (double)size * size / best / 1e9 : 0;
}

/* One (k, n) weight shape; lm_head: w is (n, k), called NoTrans/Trans. */
typedef struct {
    int k, n, lm_head;
} wshape;

static const wshape DECODE_SHAPES[5] = {
    {768, 2304, 0}, {768, 768, 0}, {768, 3072, 0}, {3072, 768, 0}, {768, 50257, 1}};
static const int DECODE_M[9] = {1, 2, 4, 8, 16, 32, 64, 128, 256};
static const int DECODE_M_QUICK[2] = {1, 16};

/* Times `calls` sgemm (or sgemv when gemv) calls of one shape, each on the
 * next of n_copies weight copies in pool (so the weights come from memory,
 * not cache); times[calls] gets each call's seconds. */
static void time_calls(const wshape *s, int m, int gemv, const float *pool, long n_copies, const float *x,
                       float *y, int calls, long *next, double *times) {
    size_t wfloats = (size_t)s->k * s->n;
    for (int r = 0; r < calls; r++) {
        const float *w = pool + (size_t)(*next % n_copies) * wfloats;
        (*next)++;
        double t0 = now_s();
        if (gemv) {
            if (s->lm_head) cblas_sgemv(CblasRowMajor, CblasNoTrans, s->n, s->k, 1.0f, w, s->k, x, 1, 0.0f, y, 1);
            else cblas_sgemv(CblasRowMajor, CblasTrans, s->k, s->n, 1.0f, w, s->n, x, 1, 0.0f, y, 1);
        } else if (s->lm_head) {
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, m, s->n, s->k, 1.0f, x, s->k, w, s->k, 0.0f, y,
                        s->n);
        } else {
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, m, s->n, s->k, 1.0f, x, s->k, w, s->n, 0.0f, y,
                        s->n);
        }
        times[r] = now_s() - t0;
    }
}

/* Calls per shape: enough for target_s (from one timed warm-up call),
 * within [min_calls, max_calls]. Returns the best and median seconds. */
static void time_shape(const wshape *s, int m, int gemv, const float *pool, long n_copies, const float *x, float *y,
                       double target_s, int min_calls, int max_calls, long *next, double *best_s, double *median_s) {
    double warm;
    time_calls(s, m, gemv, pool, n_copies, x, y, 1, next, &warm);
    int calls = warm > 0 ? (int)ceil(target_s / warm) : max_calls;
    if (calls < min_calls) calls = min_calls;
    if (calls > max_calls) calls = max_calls;
    double times[64]; /* (calls) seconds */
    time_calls(s, m, gemv, pool, n_copies, x, y, calls, next, times);
    qsort(times, (size_t)calls, sizeof times[0], cmp_double);
    *best_s = times[0];
    *median_s = calls % 2 ? times[calls / 2] : 0.5 * (times[calls / 2 - 1] + times[calls / 2]);
}

static int measure_decode_shapes(machine_info *m, int T, int quick, int64_t pool_bytes, FILE *progress,
                                 status_t *st) {
    const int *Ms = quick ? DECODE_M_QUICK : DECODE_M;
    int nM = quick ? 2 : 9;
    int maxM = Ms[nM - 1];
    size_t lm_floats = (size_t)768 * 50257;
    size_t pool_floats = (size_t)(pool_bytes / 4);
    if (pool_floats < lm_floats) pool_floats = lm_floats;
    size_t x_floats = (size_t)maxM * 3072, y_floats = (size_t)maxM * 50257;
    int rc = mem_check(st, "machine: decode-shape sgemm buffers", (uint64_t)(pool_floats + x_floats + y_floats) * 4);
    if (rc) return rc;
    float *pool = big_alloc((int64_t)pool_floats * 4); /* (pool_floats): copies of one weight matrix */
    float *x = big_alloc((int64_t)x_floats * 4);       /* (maxM, K) activations */
    float *y = big_alloc((int64_t)y_floats * 4);       /* (maxM, N) outputs */
    if (!pool || !x || !y) {
        free(pool);
        free(x);
        free(y);
        return status_fail(st, ST_RUNTIME, "machine: out of memory for %.0f MiB of sgemm buffers",
                           (double)(pool_floats + x_floats + y_floats) * 4 / MIB);
    }
    fill_weights(pool, pool_floats, T);
    fill_weights(x, x_floats, T);
    fill_parallel(y, y_floats, 0.0f, T);
    const double target_s = quick ? 0 : 0.1;
    const int min_calls = quick ? 1 : 3, max_calls = quick ? 1 : 50;
    long next = 0;
    m->n_shapes = 0;
    m->n_sgemv = 0;
    for (int si = 0; si < 5; si++) {
        const wshape *s = &DECODE_SHAPES[si];
        size_t wfloats = (size_t)s->k * s->n;
        long n_copies = (long)(pool_floats / wfloats);
        double wbytes = (double)wfloats * 4, best, med;
        double t_shape = now_s();
        time_shape(s, 1, 1, pool, n_copies, x, y, target_s, min_calls, max_calls, &next, &best, &med);
        machine_sgemv_shape *g = &m->sgemv[m->n_sgemv++];
        *g = (machine_sgemv_shape){s->k, s->n, s->lm_head, wbytes / best / 1e9, wbytes / med / 1e9};
        for (int mi = 0; mi < nM; mi++) {
            int M = Ms[mi];
            time_shape(s, M, 0, pool, n_copies, x, y, target_s, min_calls, max_calls, &next, &best, &med);
            double flops = 2.0 * M * (double)wfloats;
            machine_sgemm_shape *e = &m->shapes[m->n_shapes++];
            *e = (machine_sgemm_shape){M, s->k, s->n, s->lm_head, flops / best / 1e9, wbytes / best / 1e9,
                                       flops / med / 1e9};
        }
        const machine_sgemm_shape *last = &m->shapes[m->n_shapes - 1];
        progress_line(progress, "sgemm %s K=%d N=%d: sgemv %.1f GB/s; M=%d %.1f GFLOP/s ... M=%d %.1f GFLOP/s (%.1f s)",
                      s->lm_head ? "LM head" : "layer", s->k, s->n, g->weight_gbs, Ms[0],
                      m->shapes[m->n_shapes - nM].gflops, last->m, last->gflops, now_s() - t_shape);
    }
    int finite = isfinite(y[0]) && isfinite(y[y_floats / 2]);
    free(pool);
    free(x);
    free(y);
    if (!finite)
        return status_fail(st, ST_RUNTIME, "machine: sgemm produced non-finite values: check the OpenBLAS build");
    return ST_OK;
}

/* ---------------------------------------------------------- context */

static void copy_str(char *dst, size_t len, const char *src) { snprintf(dst, len, "%s", src ? src : ""); }

static const char *json_str(const cJSON *o, const char *name) {
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(o, name);
    return cJSON_IsString(it) ? it->valuestring : NULL;
}

/* Fills the context fields of m from context_json(). */
static int fill_context(machine_info *m, status_t *st) {
    cJSON *ctx = context_json();
    if (!ctx) return status_fail(st, ST_RUNTIME, "machine: out of memory describing the context");
    copy_str(m->cpu, sizeof m->cpu, json_str(ctx, "cpu"));
    copy_str(m->host, sizeof m->host, json_str(ctx, "host"));
    copy_str(m->date, sizeof m->date, json_str(ctx, "date"));
    copy_str(m->compiler, sizeof m->compiler, json_str(ctx, "compiler"));
    copy_str(m->compiler_flags, sizeof m->compiler_flags, json_str(ctx, "compiler_flags"));
    copy_str(m->git_revision, sizeof m->git_revision, json_str(ctx, "git_revision"));
    m->topology = cJSON_DetachItemFromObjectCaseSensitive(ctx, "topology");
    m->openblas = cJSON_DetachItemFromObjectCaseSensitive(ctx, "openblas");
    m->env = cJSON_DetachItemFromObjectCaseSensitive(ctx, "env");
    cJSON_Delete(ctx);
    return ST_OK;
}

/* ------------------------------------------------------------ measure */

/* x to 6 significant digits: far below the run-to-run noise, and printed
 * by cJSON (%1.15g) and read back to the very same double. */
static double sig6(double x) {
    char buf[32];
    snprintf(buf, sizeof buf, "%.6g", x);
    return strtod(buf, NULL);
}

static void round_figures(machine_info *m) {
    double *d[] = {&m->read_gbs,    &m->read_median_gbs, &m->copy_gbs,     &m->triad_gbs,
                   &m->clock_ghz,   &m->peak_gflops,     &m->spec_gflops,  &m->flops_per_cycle_per_core,
                   &m->sgemm_gflops, &m->measure_s,
                   &m->busy_cpus_before};
    for (size_t i = 0; i < sizeof d / sizeof d[0]; i++) *d[i] = sig6(*d[i]);
    for (int i = 0; i < m->n_curve; i++) m->curve[i].gbs = sig6(m->curve[i].gbs);
    for (int i = 0; i < m->n_shapes; i++) {
        m->shapes[i].gflops = sig6(m->shapes[i].gflops);
        m->shapes[i].weight_gbs = sig6(m->shapes[i].weight_gbs);
        m->shapes[i].median_gflops = sig6(m->shapes[i].median_gflops);
    }
    for (int i = 0; i < m->n_sgemv; i++) {
        m->sgemv[i].weight_gbs = sig6(m->sgemv[i].weight_gbs);
        m->sgemv[i].median_weight_gbs = sig6(m->sgemv[i].median_weight_gbs);
    }
}

void machine_free(machine_info *m) {
    if (!m) return;
    cJSON_Delete(m->topology);
    cJSON_Delete(m->openblas);
    cJSON_Delete(m->env);
    m->topology = m->openblas = m->env = NULL;
}

int machine_default_threads(void) {
    context_hw hw;
    context_hw_get(&hw);
    return hw.cores > 0 ? hw.cores : 1;
}

/* How many CPUs other work keeps busy, sampled over window_s while this
 * process sleeps (its own spinning threads, OpenMP's or OpenBLAS's, taken
 * out); -1 if unknown. */
static double busy_cpus_now(double window_s) {
    cpustat_ticks c0, c1;
    struct timespec p0, p1, w0, w1;
    if (cpustat_read(&c0)) return -1;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &p0);
    clock_gettime(CLOCK_MONOTONIC, &w0);
    struct timespec ts = {0, (long)(window_s * 1e9)};
    nanosleep(&ts, NULL);
    if (cpustat_read(&c1) || c1.total <= c0.total) return -1;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &p1);
    clock_gettime(CLOCK_MONOTONIC, &w1);
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    double all = (c1.busy - c0.busy) / (c1.total - c0.total) * (double)(cpus > 0 ? cpus : 1);
    double wall = (double)(w1.tv_sec - w0.tv_sec) + (double)(w1.tv_nsec - w0.tv_nsec) * 1e-9;
    double own = (double)(p1.tv_sec - p0.tv_sec) + (double)(p1.tv_nsec - p0.tv_nsec) * 1e-9;
    double other = wall > 0 ? all - own / wall : all;
    return other > 0 ? other : 0;
}

int machine_measure(machine_info *m, int threads, int quick, FILE *progress, status_t *st) {
    memset(m, 0, sizeof *m);
    double t_start = now_s();
    m->busy_cpus_before = busy_cpus_now(quick ? 0.05 : 0.25);
    if (threads <= 0) threads = machine_default_threads();
    const int T = threads;
    threads_init(T);
    m->schema_version = MACHINE_SCHEMA_VERSION;
    m->threads = T;
    m->quick = quick ? 1 : 0;
    copy_str(m->pinning, sizeof m->pinning, threads_pin_description());
    int rc = fill_context(m, st);
    if (rc) return rc;

    context_hw hw;
    context_hw_get(&hw);
    m->llc_bytes_hwloc = hw.llc_level ? hw.cache_bytes[hw.llc_level] : 0;
    int64_t llc_hwloc_total = hw.llc_level ? hw.cache_bytes[hw.llc_level] * hw.cache_instances[hw.llc_level] : 0;
    isa_t isa = isa_detect();
    copy_str(m->isa, sizeof m->isa, ISA_NAME[isa]);
    stream_fns f = stream_for(isa);
    progress_line(progress, "%s, %s, %d thread%s%s; pinning: %s", m->cpu, m->isa, T, T == 1 ? "" : "s",
                  quick ? ", quick (figures not meaningful)" : "", m->pinning);
    if (m->busy_cpus_before >= 0.25)
        progress_line(progress, "warning: other work keeps %.2f CPUs busy: the figures will be low and noisy; "
                      "measure again when the machine is idle (--remeasure)", m->busy_cpus_before);

    /* clock: dependent adds */
    volatile uint64_t sink = 0;
    int team = 0;
    long blocks = 10000; /* calibration: 1e6 adds */
    double ghz0 = measure_clock_ghz(T, blocks, 1, &team, &sink);
    if (team != T) {
        machine_free(m);
        return status_fail(st, ST_RUNTIME,
                           "machine: OpenMP ran %d threads where %d were asked: check OMP_THREAD_LIMIT and "
                           "OMP_DYNAMIC, or ask for fewer threads",
                           team, T);
    }
    if (!(ghz0 > 0)) ghz0 = 3.0;
    double clock_target_s = quick ? 0.002 : 0.03;
    blocks = (long)(clock_target_s * ghz0 * 1e9 / 100) + 1;
    m->clock_ghz = measure_clock_ghz(T, blocks, quick ? 2 : 7, &team, &sink);
    progress_line(progress, "clock %.2f GHz (dependent integer adds on all %d threads)", m->clock_ghz, T);

    /* FMA peak */
    double peak_target_s = quick ? 0.003 : 0.05;
    long iters = (long)(peak_target_s * m->clock_ghz * 1e9 * 2 / peak_accumulators(isa)) + 1;
    double checksum = 0;
    m->peak_gflops = measure_peak_gflops(isa, T, iters, quick ? 2 : 10, &checksum);
    if (!isfinite(checksum)) {
        machine_free(m);
        return status_fail(st, ST_RUNTIME, "machine: the FMA peak loop produced a non-finite result: the "
                                           "measurement is void; report it");
    }
    m->spec_cores = T < hw.cores ? T : hw.cores;
    if (m->spec_cores < 1) m->spec_cores = T;
    m->flops_per_cycle_per_core = 2.0 * ISA_LANES[isa] * 2.0;
    m->spec_gflops = m->spec_cores * m->clock_ghz * m->flops_per_cycle_per_core;
    progress_line(progress, "FMA peak %.1f GFLOP/s measured, %.1f spec (%d cores x %.2f GHz x %.0f FLOP/cycle)",
                  m->peak_gflops, m->spec_gflops, m->spec_cores, m->clock_ghz, m->flops_per_cycle_per_core);

    /* cache curve */
    int64_t curve_max = quick ? 8 * MIB : 256 * MIB;
    rc = mem_check(st, "machine: cache-curve buffer", (uint64_t)curve_max);
    if (rc) { machine_free(m); return rc; }
    size_t region_floats = ((size_t)(curve_max / 4) / (size_t)T) & ~(size_t)1023; /* floats per thread */
    float *cbuf = big_alloc(curve_max); /* (T, region_floats) */
    if (!cbuf) {
        machine_free(m);
        return status_fail(st, ST_RUNTIME, "machine: out of memory for a %.0f MiB buffer", (double)curve_max / MIB);
    }
#pragma omp parallel num_threads(T)
    {
        float *x = cbuf + (size_t)omp_get_thread_num() * region_floats;
        for (size_t i = 0; i < region_floats; i++) x[i] = 1.0f;
    }
    double t_curve = now_s();
    int64_t bytes_per_timing = quick ? 4 * MIB : 256 * MIB;
    for (int64_t ws = 32 * KIB; ws <= curve_max && m->n_curve < MACHINE_CURVE_MAX; ws *= 2) {
        double g = curve_point(f, cbuf, region_floats, T, ws, bytes_per_timing, quick ? 1 : 5);
        if (g < 0) {
            free(cbuf);
            machine_free(m);
            return status_fail(st, ST_RUNTIME, "machine: a read pass at %lld KiB summed wrong: the measurement is "
                               "void; run it again, and suspect the memory or the build if it repeats",
                               (long long)(ws / KIB));
        }
        m->curve[m->n_curve++] = (machine_curve_point){ws, g};
    }
    free(cbuf);
    /* the knee: the largest working set read at more than 1.5 x the best
     * bandwidth seen at any size 4 x larger or more (surely out of the
     * LLC). Comparing with the best of those, not one point, and asking
     * for 1.5 x rather than 1.3 x, keeps one slow outlier or the partial
     * hits of a set twice the LLC from moving the knee. */
    double plateau = m->curve[m->n_curve - 1].gbs;
    m->llc_bytes_measured = 0;
    for (int i = 0; i < m->n_curve; i++) {
        double dram = 0;
        for (int k = i + 2; k < m->n_curve; k++)
            if (m->curve[k].gbs > dram) dram = m->curve[k].gbs;
        if (dram > 0 && m->curve[i].gbs > 1.5 * dram) m->llc_bytes_measured = m->curve[i].bytes;
    }
    progress_line(progress, "read bandwidth %.0f GB/s at %lld KiB ... %.1f GB/s at %lld MiB; knee (LLC) %lld KiB, "
                  "hwloc LLC %lld KiB (%.1f s)",
                  m->curve[0].gbs, (long long)(m->curve[0].bytes / KIB), plateau,
                  (long long)(m->curve[m->n_curve - 1].bytes / MIB), (long long)(m->llc_bytes_measured / KIB),
                  (long long)(m->llc_bytes_hwloc / KIB), now_s() - t_curve);

    /* STREAM: arrays >= 4 x the LLC (measured, and hwloc's unless absurd),
     * at most 256 MiB each, at least 64 MiB */
    int64_t ram = (int64_t)sysconf(_SC_PHYS_PAGES) * (int64_t)sysconf(_SC_PAGESIZE);
    int64_t llc_for_size = m->llc_bytes_measured;
    if (llc_hwloc_total > llc_for_size && (ram <= 0 || llc_hwloc_total <= ram / 8)) llc_for_size = llc_hwloc_total;
    int64_t arr = 4 * llc_for_size;
    if (quick) arr = 4 * MIB;
    else if (arr < 64 * MIB) arr = 64 * MIB;
    else if (arr > 256 * MIB) arr = 256 * MIB;
    m->stream_array_bytes = arr;
    m->stream_reps = quick ? 2 : 10;
    m->read_streams = MACHINE_READ_STREAMS;
    rc = mem_check(st, "machine: STREAM arrays", (uint64_t)(3 * arr));
    if (rc) { machine_free(m); return rc; }
    float *a = big_alloc(arr), *b = big_alloc(arr), *c = big_alloc(arr); /* (n) floats each */
    if (!a || !b || !c) {
        free(a);
        free(b);
        free(c);
        machine_free(m);
        return status_fail(st, ST_RUNTIME, "machine: out of memory for 3 arrays of %.0f MiB", (double)arr / MIB);
    }
    stream_result sr = {0, 0, 0, 0};
    double t_stream = now_s();
    rc = run_stream(isa, f, a, b, c, (size_t)(arr / 4), T, m->stream_reps, &sr, st);
    free(a);
    free(b);
    free(c);
    if (rc) { machine_free(m); return rc; }
    m->read_gbs = sr.read_gbs;
    m->read_median_gbs = sr.read_median_gbs;
    m->copy_gbs = sr.copy_gbs;
    m->triad_gbs = sr.triad_gbs;
    progress_line(progress, "STREAM (3 x %lld MiB, best of %d): read %.1f (median pass %.1f), copy %.1f, triad %.1f GB/s "
                  "(%.1f s)", (long long)(arr / MIB), m->stream_reps, m->read_gbs, m->read_median_gbs, m->copy_gbs,
                  m->triad_gbs, now_s() - t_stream);

    /* OpenBLAS */
    m->sgemm_size = quick ? 256 : 2048;
    double t_sgemm = now_s();
    m->sgemm_gflops = measure_sgemm_square(m->sgemm_size, quick ? 1 : 4, T);
    if (!(m->sgemm_gflops > 0)) {
        machine_free(m);
        return status_fail(st, ST_RUNTIME, "machine: sgemm %d^3 failed (out of memory or non-finite results)",
                           m->sgemm_size);
    }
    progress_line(progress, "OpenBLAS sgemm %d^3: %.1f GFLOP/s (%.1f s)", m->sgemm_size, m->sgemm_gflops,
                  now_s() - t_sgemm);
    rc = measure_decode_shapes(m, T, quick, arr, progress, st);
    if (rc) { machine_free(m); return rc; }
    m->measure_s = now_s() - t_start;
    round_figures(m);
    progress_line(progress, "done in %.1f s", m->measure_s);
    (void)sink;
    return ST_OK;
}

/* --------------------------------------------------------------- JSON */

static const char *STREAM_CONVENTION =
    "STREAM counting: read 1 x (each of the three arrays read in turn, each thread's part of it as read_streams "
    "pieces read side by side, 64 bytes of each in turn), copy 2 x, triad 3 x the array bytes; the write-allocate read of each stored line "
    "is not counted (regular stores, no streaming stores); float32 arrays, OpenMP static parts first-touched by "
    "their threads; best of stream_reps timed passes after one untimed pass; values validated";
static const char *CLOCK_METHOD = "dependent integer-add chain (1 cycle per add) on every thread at once; mean over "
                                  "threads, best of 7 after one untimed run";
static const char *PEAK_METHOD = "register-only loop of independent FMAs (acc = acc * a + b) of the isa, "
                                 "12 (avx2) or 16 (avx512) accumulators per thread, all threads at once; "
                                 "best of 10 after one untimed run";
static const char *SPEC_ASSUMPTION = "spec_cores x clock_ghz x 2 FMA pipes per core x fp32 lanes of the isa "
                                     "(16 avx512, 8 avx2, 1 scalar) x 2 FLOP per FMA; cores whose 512-bit FMA "
                                     "is split in two 256-bit halves reach only half of the avx512 figure";
static const char *LLC_METHOD = "read-bandwidth knee: the largest working set (32 KiB .. 256 MiB in x2 steps, all "
                                "threads, best of 5) read at more than 1.5 x the best bandwidth at any set 4 x "
                                "larger or more; so at most 64 MiB can be seen; 0 = no knee";
static const char *SHAPES_METHOD = "OpenBLAS cblas_sgemm row-major, x: (m, k) @ w: (k, n), or for the LM head "
                                   "w: (n, k) NoTrans/Trans; weights cold (each call on the next of several copies "
                                   "spanning the STREAM array size); best and median of 3..50 calls after one; "
                                   "weight_gbs = 4 k n bytes / best time; sgemv_shapes: cblas_sgemv at m = 1 as "
                                   "the model calls it";

cJSON *machine_to_json(const machine_info *m) {
    cJSON *o = cJSON_CreateObject();
    if (!o) return NULL;
    cJSON_AddNumberToObject(o, "schema_version", m->schema_version);
    cJSON_AddNumberToObject(o, "threads", m->threads);
    cJSON_AddBoolToObject(o, "quick", m->quick);
    cJSON_AddStringToObject(o, "cpu", m->cpu);
    cJSON_AddStringToObject(o, "isa", m->isa);
    cJSON_AddStringToObject(o, "host", m->host);
    cJSON_AddStringToObject(o, "date", m->date);
    cJSON_AddStringToObject(o, "compiler", m->compiler);
    cJSON_AddStringToObject(o, "compiler_flags", m->compiler_flags);
    cJSON_AddStringToObject(o, "git_revision", m->git_revision);
    cJSON_AddStringToObject(o, "pinning", m->pinning);
    cJSON_AddNumberToObject(o, "read_gbs", m->read_gbs);
    cJSON_AddNumberToObject(o, "read_median_gbs", m->read_median_gbs);
    cJSON_AddNumberToObject(o, "copy_gbs", m->copy_gbs);
    cJSON_AddNumberToObject(o, "triad_gbs", m->triad_gbs);
    cJSON_AddNumberToObject(o, "stream_array_bytes", (double)m->stream_array_bytes);
    cJSON_AddNumberToObject(o, "stream_reps", m->stream_reps);
    cJSON_AddNumberToObject(o, "read_streams", m->read_streams);
    cJSON_AddStringToObject(o, "stream_convention", STREAM_CONVENTION);
    cJSON_AddNumberToObject(o, "clock_ghz", m->clock_ghz);
    cJSON_AddStringToObject(o, "clock_method", CLOCK_METHOD);
    cJSON_AddNumberToObject(o, "peak_gflops", m->peak_gflops);
    cJSON_AddStringToObject(o, "peak_method", PEAK_METHOD);
    cJSON_AddNumberToObject(o, "spec_gflops", m->spec_gflops);
    cJSON_AddStringToObject(o, "spec_assumption", SPEC_ASSUMPTION);
    cJSON_AddNumberToObject(o, "flops_per_cycle_per_core", m->flops_per_cycle_per_core);
    cJSON_AddNumberToObject(o, "spec_cores", m->spec_cores);
    cJSON_AddNumberToObject(o, "sgemm_gflops", m->sgemm_gflops);
    cJSON_AddNumberToObject(o, "sgemm_size", m->sgemm_size);
    cJSON_AddNumberToObject(o, "llc_bytes_measured", (double)m->llc_bytes_measured);
    cJSON_AddNumberToObject(o, "llc_bytes_hwloc", (double)m->llc_bytes_hwloc);
    cJSON_AddStringToObject(o, "llc_method", LLC_METHOD);
    cJSON *curve = cJSON_AddArrayToObject(o, "cache_curve");
    for (int i = 0; curve && i < m->n_curve; i++) {
        cJSON *p = cJSON_CreateObject();
        if (!p) break;
        cJSON_AddNumberToObject(p, "bytes", (double)m->curve[i].bytes);
        cJSON_AddNumberToObject(p, "gbs", m->curve[i].gbs);
        cJSON_AddItemToArray(curve, p);
    }
    cJSON *shapes = cJSON_AddArrayToObject(o, "sgemm_shapes");
    for (int i = 0; shapes && i < m->n_shapes; i++) {
        const machine_sgemm_shape *s = &m->shapes[i];
        cJSON *p = cJSON_CreateObject();
        if (!p) break;
        cJSON_AddNumberToObject(p, "m", s->m);
        cJSON_AddNumberToObject(p, "k", s->k);
        cJSON_AddNumberToObject(p, "n", s->n);
        cJSON_AddBoolToObject(p, "lm_head", s->lm_head);
        cJSON_AddNumberToObject(p, "gflops", s->gflops);
        cJSON_AddNumberToObject(p, "weight_gbs", s->weight_gbs);
        cJSON_AddNumberToObject(p, "median_gflops", s->median_gflops);
        cJSON_AddItemToArray(shapes, p);
    }
    cJSON *gemv = cJSON_AddArrayToObject(o, "sgemv_shapes");
    for (int i = 0; gemv && i < m->n_sgemv; i++) {
        const machine_sgemv_shape *s = &m->sgemv[i];
        cJSON *p = cJSON_CreateObject();
        if (!p) break;
        cJSON_AddNumberToObject(p, "k", s->k);
        cJSON_AddNumberToObject(p, "n", s->n);
        cJSON_AddBoolToObject(p, "lm_head", s->lm_head);
        cJSON_AddNumberToObject(p, "weight_gbs", s->weight_gbs);
        cJSON_AddNumberToObject(p, "median_weight_gbs", s->median_weight_gbs);
        cJSON_AddItemToArray(gemv, p);
    }
    cJSON_AddStringToObject(o, "shapes_method", SHAPES_METHOD);
    cJSON_AddNumberToObject(o, "measure_s", m->measure_s);
    cJSON_AddNumberToObject(o, "busy_cpus_before", m->busy_cpus_before);
    cJSON_AddItemToObject(o, "topology", m->topology ? cJSON_Duplicate(m->topology, 1) : cJSON_CreateObject());
    cJSON_AddItemToObject(o, "openblas", m->openblas ? cJSON_Duplicate(m->openblas, 1) : cJSON_CreateObject());
    cJSON_AddItemToObject(o, "env", m->env ? cJSON_Duplicate(m->env, 1) : cJSON_CreateObject());
    /* any failed allocation above leaves a member out: refuse the whole */
    if (!cJSON_GetObjectItemCaseSensitive(o, "env") || !cJSON_GetObjectItemCaseSensitive(o, "shapes_method") ||
        cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(o, "sgemm_shapes")) != m->n_shapes ||
        cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(o, "cache_curve")) != m->n_curve) {
        cJSON_Delete(o);
        return NULL;
    }
    return o;
}

/* Reads one number: present, a number, finite, within [lo, hi], and whole
 * when integral. */
static int get_num(const cJSON *o, const char *where, const char *name, double lo, double hi, int integral,
                   double *out, status_t *st) {
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(o, name);
    if (!it)
        return status_fail(st, ST_BAD_INPUT, "machine JSON: %s'%s' is missing: measure again (gpt2-bench machine "
                           "--remeasure)", where, name);
    if (!cJSON_IsNumber(it))
        return status_fail(st, ST_BAD_INPUT, "machine JSON: %s'%s' must be a number: measure again (gpt2-bench "
                           "machine --remeasure)", where, name);
    double v = it->valuedouble;
    if (!isfinite(v) || v < lo || v > hi || (integral && v != floor(v)))
        return status_fail(st, ST_BAD_INPUT, "machine JSON: %s'%s' is %g, outside %s[%g, %g]: measure again "
                           "(gpt2-bench machine --remeasure)", where, name, v, integral ? "whole numbers in " : "",
                           lo, hi);
    *out = v;
    return ST_OK;
}

static int get_bool(const cJSON *o, const char *where, const char *name, int *out, status_t *st) {
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(o, name);
    if (!cJSON_IsBool(it))
        return status_fail(st, ST_BAD_INPUT, "machine JSON: %s'%s' is %s: it must be true or false; measure again "
                           "(gpt2-bench machine --remeasure)", where, name, it ? "not a boolean" : "missing");
    *out = cJSON_IsTrue(it);
    return ST_OK;
}

static int get_str(const cJSON *o, const char *name, char *dst, size_t len, status_t *st) {
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(o, name);
    if (!cJSON_IsString(it) || !it->valuestring)
        return status_fail(st, ST_BAD_INPUT, "machine JSON: '%s' is %s: it must be a string; measure again "
                           "(gpt2-bench machine --remeasure)", name, it ? "not a string" : "missing");
    if (strlen(it->valuestring) >= len)
        return status_fail(st, ST_BAD_INPUT, "machine JSON: '%s' is longer than %zu characters: measure again "
                           "(gpt2-bench machine --remeasure)", name, len - 1);
    snprintf(dst, len, "%s", it->valuestring);
    return ST_OK;
}

static int get_obj(const cJSON *o, const char *name, cJSON **dst, status_t *st) {
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(o, name);
    if (!cJSON_IsObject(it))
        return status_fail(st, ST_BAD_INPUT, "machine JSON: '%s' is %s: it must be an object; measure again "
                           "(gpt2-bench machine --remeasure)", name, it ? "not an object" : "missing");
    *dst = cJSON_Duplicate(it, 1);
    if (!*dst) return status_fail(st, ST_RUNTIME, "machine JSON: out of memory copying '%s'", name);
    return ST_OK;
}

static const cJSON *get_array(const cJSON *o, const char *name, int max, status_t *st) {
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(o, name);
    if (!cJSON_IsArray(it)) {
        status_fail(st, ST_BAD_INPUT, "machine JSON: '%s' is %s: it must be an array; measure again (gpt2-bench "
                    "machine --remeasure)", name, it ? "not an array" : "missing");
        return NULL;
    }
    if (cJSON_GetArraySize(it) > max) {
        status_fail(st, ST_BAD_INPUT, "machine JSON: '%s' has %d entries, at most %d are allowed: measure again "
                    "(gpt2-bench machine --remeasure)", name, cJSON_GetArraySize(it), max);
        return NULL;
    }
    return it;
}

static int from_json(machine_info *m, const cJSON *j, status_t *st) {
    if (!cJSON_IsObject(j)) return status_fail(st, ST_BAD_INPUT, "machine JSON: not an object: measure again "
                                                                 "(gpt2-bench machine --remeasure)");
    const double BIG = 1e15, BYTES = 9007199254740992.0; /* 2^53 */
    double v;
    int rc;
#define NUM(field, name, lo, hi, integral, type)                                  \
    if ((rc = get_num(j, "", name, lo, hi, integral, &v, st))) return rc;          \
    m->field = (type)v;
    NUM(schema_version, "schema_version", 1, 1e6, 1, int)
    if (m->schema_version != MACHINE_SCHEMA_VERSION)
        return status_fail(st, ST_BAD_INPUT, "machine JSON: schema_version %d, this program reads %d: measure "
                           "again (gpt2-bench machine --remeasure)", m->schema_version, MACHINE_SCHEMA_VERSION);
    NUM(threads, "threads", 1, 1 << 20, 1, int)
    if ((rc = get_bool(j, "", "quick", &m->quick, st))) return rc;
    if ((rc = get_str(j, "cpu", m->cpu, sizeof m->cpu, st))) return rc;
    if ((rc = get_str(j, "isa", m->isa, sizeof m->isa, st))) return rc;
    if (strcmp(m->isa, "avx512") && strcmp(m->isa, "avx2") && strcmp(m->isa, "scalar"))
        return status_fail(st, ST_BAD_INPUT, "machine JSON: 'isa' is '%s', not avx512, avx2 or scalar: measure "
                           "again (gpt2-bench machine --remeasure)", m->isa);
    if ((rc = get_str(j, "host", m->host, sizeof m->host, st))) return rc;
    if ((rc = get_str(j, "date", m->date, sizeof m->date, st))) return rc;
    if ((rc = get_str(j, "compiler", m->compiler, sizeof m->compiler, st))) return rc;
    if ((rc = get_str(j, "compiler_flags", m->compiler_flags, sizeof m->compiler_flags, st))) return rc;
    if ((rc = get_str(j, "git_revision", m->git_revision, sizeof m->git_revision, st))) return rc;
    if ((rc = get_str(j, "pinning", m->pinning, sizeof m->pinning, st))) return rc;
    NUM(read_gbs, "read_gbs", 1e-9, BIG, 0, double)
    if (cJSON_GetObjectItemCaseSensitive(j, "read_median_gbs")) { /* optional: older files lack it */
        NUM(read_median_gbs, "read_median_gbs", 0, BIG, 0, double)
    }
    NUM(copy_gbs, "copy_gbs", 1e-9, BIG, 0, double)
    NUM(triad_gbs, "triad_gbs", 1e-9, BIG, 0, double)
    NUM(stream_array_bytes, "stream_array_bytes", 1, BYTES, 1, int64_t)
    NUM(stream_reps, "stream_reps", 1, 1e6, 1, int)
    m->read_streams = 1; /* optional: files from before the 4-stream read test */
    if (cJSON_GetObjectItemCaseSensitive(j, "read_streams")) {
        NUM(read_streams, "read_streams", 1, 64, 1, int)
    }
    NUM(clock_ghz, "clock_ghz", 1e-9, BIG, 0, double)
    NUM(peak_gflops, "peak_gflops", 1e-9, BIG, 0, double)
    NUM(spec_gflops, "spec_gflops", 1e-9, BIG, 0, double)
    NUM(flops_per_cycle_per_core, "flops_per_cycle_per_core", 1e-9, BIG, 0, double)
    NUM(spec_cores, "spec_cores", 1, 1 << 20, 1, int)
    NUM(sgemm_gflops, "sgemm_gflops", 1e-9, BIG, 0, double)
    NUM(sgemm_size, "sgemm_size", 1, 1e6, 1, int)
    NUM(llc_bytes_measured, "llc_bytes_measured", 0, BYTES, 1, int64_t)
    NUM(llc_bytes_hwloc, "llc_bytes_hwloc", 0, BYTES, 1, int64_t)
    NUM(measure_s, "measure_s", 0, BIG, 0, double)
    NUM(busy_cpus_before, "busy_cpus_before", -1, BIG, 0, double)
#undef NUM
    const cJSON *arr = get_array(j, "cache_curve", MACHINE_CURVE_MAX, st);
    if (!arr) return st->code;
    const cJSON *e;
    m->n_curve = 0;
    cJSON_ArrayForEach(e, arr) {
        machine_curve_point *p = &m->curve[m->n_curve++];
        if ((rc = get_num(e, "cache_curve[]: ", "bytes", 1, BYTES, 1, &v, st))) return rc;
        p->bytes = (int64_t)v;
        if ((rc = get_num(e, "cache_curve[]: ", "gbs", 0, BIG, 0, &p->gbs, st))) return rc;
    }
    if (!(arr = get_array(j, "sgemm_shapes", MACHINE_SHAPES_MAX, st))) return st->code;
    m->n_shapes = 0;
    cJSON_ArrayForEach(e, arr) {
        machine_sgemm_shape *s = &m->shapes[m->n_shapes++];
        const char *w = "sgemm_shapes[]: ";
        if ((rc = get_num(e, w, "m", 1, 1 << 30, 1, &v, st))) return rc;
        s->m = (int)v;
        if ((rc = get_num(e, w, "k", 1, 1 << 30, 1, &v, st))) return rc;
        s->k = (int)v;
        if ((rc = get_num(e, w, "n", 1, 1 << 30, 1, &v, st))) return rc;
        s->n = (int)v;
        if ((rc = get_bool(e, w, "lm_head", &s->lm_head, st))) return rc;
        if ((rc = get_num(e, w, "gflops", 0, BIG, 0, &s->gflops, st))) return rc;
        if ((rc = get_num(e, w, "weight_gbs", 0, BIG, 0, &s->weight_gbs, st))) return rc;
        if ((rc = get_num(e, w, "median_gflops", 0, BIG, 0, &s->median_gflops, st))) return rc;
    }
    if (!(arr = get_array(j, "sgemv_shapes", MACHINE_SGEMV_MAX, st))) return st->code;
    m->n_sgemv = 0;
    cJSON_ArrayForEach(e, arr) {
        machine_sgemv_shape *s = &m->sgemv[m->n_sgemv++];
        const char *w = "sgemv_shapes[]: ";
        if ((rc = get_num(e, w, "k", 1, 1 << 30, 1, &v, st))) return rc;
        s->k = (int)v;
        if ((rc = get_num(e, w, "n", 1, 1 << 30, 1, &v, st))) return rc;
        s->n = (int)v;
        if ((rc = get_bool(e, w, "lm_head", &s->lm_head, st))) return rc;
        if ((rc = get_num(e, w, "weight_gbs", 0, BIG, 0, &s->weight_gbs, st))) return rc;
        if ((rc = get_num(e, w, "median_weight_gbs", 0, BIG, 0, &s->median_weight_gbs, st))) return rc;
    }
    if ((rc = get_obj(j, "topology", &m->topology, st))) return rc;
    if ((rc = get_obj(j, "openblas", &m->openblas, st))) return rc;
    if ((rc = get_obj(j, "env", &m->env, st))) return rc;
    return ST_OK;
}

int machine_from_json(machine_info *m, const cJSON *j, status_t *st) {
    memset(m, 0, sizeof *m);
    int rc = from_json(m, j, st);
    if (rc) machine_free(m);
    return rc;
}

/* ------------------------------------------------------------- files */

const char *machine_host_token(char *h, size_t len, const char *host) {
    size_t i = 0;
    for (; host && host[i] && i + 1 < len; i++) {
        char ch = host[i];
        int ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') || ch == '.' ||
                 ch == '_' || ch == '-';
        h[i] = ok ? ch : '_';
    }
    h[i] = '\0';
    if (!h[0] || strcmp(h, ".") == 0 || strcmp(h, "..") == 0) snprintf(h, len, "unknown");
    return h;
}

const char *machine_default_path(char *buf, size_t len, const char *results_dir, const char *host, int threads,
                                 int quick) {
    char h[256];
    machine_host_token(h, sizeof h, host);
    snprintf(buf, len, "%s/machine-%s-t%d%s.json", results_dir && *results_dir ? results_dir : ".", h, threads,
             quick ? "-quick" : "");
    return buf;
}

int machine_write_atomic(const char *path, const char *text, status_t *st) {
    outfile o;
    int rc = outfile_open(&o, path, st);
    if (rc) return rc;
    if (fputs(text, o.f) == EOF || fputc('\n', o.f) == EOF) o.err = errno;
    return outfile_commit(&o, st);
}

/* mkdir -p */
static int make_dirs(const char *dir, status_t *st) {
    char p[1024];
    if (snprintf(p, sizeof p, "%s", dir) >= (int)sizeof p)
        return status_fail(st, ST_BAD_INPUT, "machine: results folder '%s' is too long a path", dir);
    for (char *s = p + 1; ; s++) {
        if (*s == '/' || *s == '\0') {
            char keep = *s;
            *s = '\0';
            if (mkdir(p, 0777) != 0 && errno != EEXIST) {
                int e = errno;
                return status_fail(st, e == ENOSPC || e == EIO ? ST_RUNTIME : ST_BAD_INPUT,
                                   "machine: cannot create the folder '%s': %s; pass --results DIR with a writable "
                                   "folder", p, strerror(e));
            }
            *s = keep;
            if (!keep) break;
        }
    }
    struct stat sb;
    if (stat(dir, &sb) != 0 || !S_ISDIR(sb.st_mode))
        return status_fail(st, ST_BAD_INPUT, "machine: '%s' is not a folder: pass --results DIR with a folder", dir);
    return ST_OK;
}

int machine_load(machine_info *m, const char *path, status_t *st) {
    memset(m, 0, sizeof *m);
    FILE *f = fopen(path, "rb");
    if (!f) return status_fail(st, ST_BAD_INPUT, "machine: cannot open '%s': %s", path, strerror(errno));
    const long max_bytes = 16L << 20;
    char *text = malloc((size_t)max_bytes + 1); /* (max_bytes + 1) the file, NUL-terminated */
    if (!text) {
        fclose(f);
        return status_fail(st, ST_RUNTIME, "machine: out of memory reading '%s'", path);
    }
    size_t n = fread(text, 1, (size_t)max_bytes + 1, f);
    int rerr = ferror(f);
    fclose(f);
    if (rerr || n > (size_t)max_bytes) {
        free(text);
        return status_fail(st, ST_BAD_INPUT, "machine: '%s' is %s: measure again (gpt2-bench machine --remeasure)",
                           path, rerr ? "unreadable" : "larger than 16 MiB");
    }
    text[n] = '\0';
    cJSON *j = cJSON_Parse(text);
    free(text);
    if (!j)
        return status_fail(st, ST_BAD_INPUT, "machine: '%s' is not valid JSON: measure again (gpt2-bench machine "
                           "--remeasure)", path);
    int rc = machine_from_json(m, j, st);
    cJSON_Delete(j);
    if (rc) {
        char msg[sizeof st->msg];
        snprintf(msg, sizeof msg, "%s", st->msg);
        return status_fail(st, rc, "%s: %s", path, msg);
    }
    snprintf(m->path, sizeof m->path, "%s", path);
    m->from_cache = 1;
    return ST_OK;
}

int machine_obtain(machine_info *m, int threads, int remeasure, int quick, const char *results_dir,
                   FILE *progress, status_t *st) {
    if (threads <= 0) threads = machine_default_threads();
    if (!results_dir || !*results_dir) results_dir = "results";
    char host[256], path[1024];
    context_hostname(host, sizeof host);
    machine_default_path(path, sizeof path, results_dir, host, threads, quick);
    if (!remeasure && access(path, F_OK) == 0) {
        status_t lst = {0};
        int rc = machine_load(m, path, &lst);
        const char *why = NULL;
        if (rc) why = lst.msg;
        else if (strcmp(m->host, host) != 0) why = "measured on another host";
        else if (m->threads != threads) why = "measured with another thread count";
        else if (m->quick && !quick) why = "a quick measurement";
        else if (m->read_streams != MACHINE_READ_STREAMS)
            why = "its read test read another number of streams per thread than this build";
        if (!why) {
            threads_init(threads);
            return ST_OK;
        }
        if (!rc) machine_free(m);
        progress_line(progress, "not reusing %s (%s): measuring again", path, why);
    }
    int rc = make_dirs(results_dir, st);
    if (rc) return rc;
    if ((rc = machine_measure(m, threads, quick, progress, st))) return rc;
    cJSON *j = machine_to_json(m);
    char *text = j ? cJSON_Print(j) : NULL;
    cJSON_Delete(j);
    if (!text) {
        machine_free(m);
        return status_fail(st, ST_RUNTIME, "machine: out of memory writing the JSON");
    }
    rc = machine_write_atomic(path, text, st);
    free(text);
    if (rc) {
        machine_free(m);
        return rc;
    }
    snprintf(m->path, sizeof m->path, "%s", path);
    m->from_cache = 0;
    progress_line(progress, "saved %s", path);
    return ST_OK;
}
