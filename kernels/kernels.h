/* kernels: row-major float32 compute primitives with no model knowledge.
 * Every matrix argument states its shape. Threads: each primitive splits
 * its own work with OpenMP when the work is large enough; OpenBLAS is given
 * the same thread count (threads_init), so the cores are never
 * oversubscribed. */
#ifndef GR_KERNELS_H
#define GR_KERNELS_H

#include <stddef.h>
#include <stdint.h>

/* y: (M, N) = x: (M, K) @ w: (K, N) + b: (N) (b may be NULL). */
void linear_f32(float *y, const float *x, const float *w, const float *b, int M, int K, int N);

/* y: (M, N) = x: (M, K) @ w^T, w: (N, K)   (the tied LM head: w = wte). */
void linear_nt_f32(float *y, const float *x, const float *w, int M, int K, int N);

/* out: (M, d) = LayerNorm(x: (M, d)) * w: (d) + b: (d). out may equal x. */
void layernorm_f32(float *out, const float *x, const float *w, const float *b, int M, int d, float eps);

/* x: (n) in place, GPT-2's tanh approximation of GELU. */
void gelu_f32(float *x, size_t n);

/* x: (n) in place, numerically stable (max subtracted). */
void softmax_f32(float *x, int n);

/* Index of the largest of x: (n) (the first on ties; a NaN never wins
 * unless x[0] is NaN, then 0): the greedy next token. */
int argmax_f32(const float *x, int n);
/* idx: (rows) = argmax_f32 of each row of x: (rows, n). */
void argmax_rows_f32(int *idx, const float *x, int rows, int n);

/* x: (n) += y: (n). */
void add_f32(float *x, const float *y, size_t n);

/* out: (M, d) = wte[tokens[i]] + wpe[positions[i]]. */
void embed_f32(float *out, const float *wte, const float *wpe, const int *tokens, const int *positions, int M,
               int d);

/* One query against n cached keys/values of one head:
 * out: (hd) = softmax(q . K^T * scale) @ V, q: (hd), K, V: (n, hd),
 * scratch: (n) floats. */
void attn_decode_head_f32(float *out, const float *q, const float *K, const float *V, int n, int hd,
                          float scale, float *scratch);

/* T queries of one head at positions p0..p0+T-1, each attending causally to
 * keys 0..p0+t: out: (T, out_stride), q: (T, q_stride) (first hd used),
 * K, V: (p0+T, hd), scratch: (p0+T). */
void attn_causal_head_f32(float *out, int out_stride, const float *q, int q_stride, const float *K,
                          const float *V, int p0, int T, int hd, float scale, float *scratch);

/* Thread setup for the whole program: OpenMP and OpenBLAS get `n` threads
 * (n <= 0: one per core). Returns the count in use. */
int threads_init(int n);
int threads_count(void);
/* Cores (online CPUs) of this machine. */
int cores_online(void);

#endif
