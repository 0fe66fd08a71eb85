/* naive: scalar twins of kernels.h, written for clarity, used only as test
 * oracles. Same shapes and contracts as their fast counterparts. */
#ifndef GR_NAIVE_H
#define GR_NAIVE_H

#include <stddef.h>

void naive_linear(float *y, const float *x, const float *w, const float *b, int M, int K, int N);
void naive_linear_nt(float *y, const float *x, const float *w, int M, int K, int N);
void naive_layernorm(float *out, const float *x, const float *w, const float *b, int M, int d, float eps);
void naive_gelu(float *x, size_t n);
void naive_softmax(float *x, int n);
void naive_embed(float *out, const float *wte, const float *wpe, const int *tokens, const int *positions, int M,
                 int d);
/* The first index of the largest value; every comparison with a NaN is
 * false, so a NaN never wins unless it is x[0]. */
int naive_argmax(const float *x, int n);
void naive_attn_decode_head(float *out, const float *q, const float *K, const float *V, int n, int hd,
                            float scale);

#endif
