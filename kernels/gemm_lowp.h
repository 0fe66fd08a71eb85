/* gemm_lowp: the packed small-M GEMM (gemm_packed.h) with low-precision
 * weights: float32 activations, float32 accumulation, weights stored as
 * f32, bf16, f16 or int8 and widened in registers.
 *
 * Layout: panels of GEMM_NR (16) columns, (Np/16, K, 16) elements of the
 * weight dtype, Np = N rounded up to 16, zero-padded, columns in natural
 * order; 64-byte aligned (big_alloc). A k row of a panel is 64 bytes (f32),
 * 32 (bf16, f16) or 16 (int8).
 *
 * int8: symmetric, one float32 scale per output channel (column n of the
 * (K, N) matrix): scale[n] = max_k |w[k][n]| / 127, q = round-to-nearest-
 * even(w / scale) clamped to [-127, 127], so w ~= scale[n] * q and
 * |w - scale * q| <= scale / 2. A column of zeros has scale 0. The kernel
 * accumulates sum_k x[k] * q[k][n] in float32 and multiplies by scale[n]
 * once at the end. No VNNI (this kernel widens int8 to float; the CPUs it
 * was written on, AMD Zen 3, have no AVX-512 / AVX-VNNI).
 *
 * Paths: AVX2 + FMA (+ F16C for f16) and portable C, chosen at run time by
 * gemm_path_current() of gemm_packed.h (GPT2_KERNEL=portable, or
 * gemm_path_force in tests). f16 falls back to the portable path on an AVX2
 * CPU without F16C. f32 weights use linear_packed_f32 itself. */
#ifndef GR_GEMM_LOWP_H
#define GR_GEMM_LOWP_H

#include <stddef.h>
#include <stdint.h>

#include "gemm_packed.h"

typedef enum { WDT_F32, WDT_BF16, WDT_F16, WDT_INT8 } wdtype;

/* "f32", "bf16", "f16", "int8". */
const char *wdtype_name(wdtype dt);
/* Parses those names (also "fp32", "float32", "bfloat16", "fp16",
 * "float16", "i8"); 0, or -1 for another string. */
int wdtype_parse(const char *s, wdtype *out);
/* Bytes per stored element: 4, 2, 2, 1. */
size_t wdtype_bytes(wdtype dt);

typedef struct {
    int K, N, Np;
    wdtype dt;
    void *panels;  /* (Np/16, K, 16) elements of dt */
    float *scales; /* int8: (Np) per output channel, 0 past N; else NULL */
} packed_lw;

/* From w: (K, N) row-major ([in, out], GPT-2's Conv1D layout), rounded to
 * dt (bf16/f16: round to nearest even, f16 overflowing to inf; int8: the
 * quantization above). 0; -1 out of memory; -2 (int8 only) a non-finite
 * weight, which int8 cannot represent. */
int packed_lw_from_kn(packed_lw *p, const float *w, int K, int N, wdtype dt);
/* From w: (N, K) row-major (y = x w^T: the tied LM head, wte). */
int packed_lw_from_nk(packed_lw *p, const float *w, int K, int N, wdtype dt);
/* From already quantized int8 weights as a converted checkpoint stores
 * them: q: (K, N) with scales: (N) (a Conv1D weight and its ".scale"), or
 * q: (N, K) with scales: (N) (wte as the LM head). Uses them as they are. */
int packed_lw_from_kn_i8(packed_lw *p, const int8_t *q, const float *scales, int K, int N);
int packed_lw_from_nk_i8(packed_lw *p, const int8_t *q, const float *scales, int K, int N);
/* From raw bf16/f16 bits (dt WDT_BF16 or WDT_F16), (K, N) or (N, K):
 * copied, not rounded again. */
int packed_lw_from_kn_h(packed_lw *p, const uint16_t *w, int K, int N, wdtype dt);
int packed_lw_from_nk_h(packed_lw *p, const uint16_t *w, int K, int N, wdtype dt);

void packed_lw_free(packed_lw *p);
/* Bytes of the panels (not the int8 scales: 4 Np more). */
size_t packed_lw_bytes(int K, int N, wdtype dt);

/* y: (M, N) = x: (M, K) @ W + b: (N) (b may be NULL). */
void linear_lw(float *y, const float *x, const packed_lw *w, const float *b, int M);

/* The exact float values the kernel multiplies by, as w: (K, N): the widened
 * bf16/f16, or scale[n] * q (int8: the kernel applies the scale after the
 * sum, so it matches a float32 GEMM on these values to rounding). */
void packed_lw_dequant_kn(const packed_lw *p, float *w);

/* int8 quantization as above, for the converter (so a stored checkpoint
 * holds exactly what packed_lw_from_kn(..., WDT_INT8) would):
 * kn: w (K, N) -> q (K, N), scales (N), per column;
 * nk: w (N, K) -> q (N, K), scales (N), per row.
 * 0, or -2 when a weight is not finite (nothing useful written then). */
int lw_quantize_i8_kn(const float *w, int K, int N, int8_t *q, float *scales);
int lw_quantize_i8_nk(const float *w, int K, int N, int8_t *q, float *scales);

/* float32 -> f16 / bf16 bits, round to nearest even, both portable. f16:
 * overflow (|x| >= 65520) to inf, subnormals kept, NaN kept as a quiet NaN
 * with the top payload bits (as F16C's vcvtps2ph). bf16: NaN kept quiet. */
uint16_t lw_f32_to_f16(float f);
uint16_t lw_f32_to_bf16(float f);
float lw_f16_to_f32(uint16_t h);
float lw_bf16_to_f32(uint16_t h);

/* dst: (n) = src: (n) rounded to dt (WDT_F16 or WDT_BF16), round to nearest
 * even; the AVX2/F16C path gives the same bits as the portable one. For
 * appending K/V rows to a half-precision cache. */
void cvt_f32_to_h(uint16_t *dst, const float *src, size_t n, wdtype dt);
/* dst: (n) = src: (n) widened (exact). */
void cvt_h_to_f32(float *dst, const uint16_t *src, size_t n, wdtype dt);

/* One query against n cached keys/values of one head stored as f16 or bf16
 * (kv_dt WDT_F16 or WDT_BF16): out: (hd) = softmax(q . K^T * scale) @ V,
 * q: (hd) float32, K, V: (n, hd) half bits, scratch: (n) floats. Float32
 * arithmetic on the widened values (kernels/attention_lowp.c). */
void attn_decode_head_h(float *out, const float *q, const uint16_t *K, const uint16_t *V, int n, int hd,
                        float scale, float *scratch, wdtype kv_dt);

/* Whether this CPU has F16C (the AVX2 f16 paths need it). */
int lw_have_f16c(void);

#endif
