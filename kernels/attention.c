/* attention: one head's attention over a contiguous K/V cache. */
#include <math.h>

#include "kernels.h"

void attn_decode_head_f32(float *out, const float *q, const float *K, const float *V, int n, int hd,
                          float scale, float *scratch) {
    /* scores: (n) = q . K^T * scale */
    for (int t = 0; t < n; t++) {
        const float *k = K + (size_t)t * hd;
        float acc = 0.0f;
        for (int i = 0; i < hd; i++) acc += q[i] * k[i];
        scratch[t] = acc * scale;
    }
    softmax_f32(scratch, n);
    /* out: (hd) = scores @ V */
    for (int i = 0; i < hd; i++) out[i] = 0.0f;
    for (int t = 0; t < n; t++) {
        const float *v = V + (size_t)t * hd;
        const float p = scratch[t];
        for (int i = 0; i < hd; i++) out[i] += p * v[i];
    }
}

void attn_causal_head_f32(float *out, int out_stride, const float *q, int q_stride, const float *K,
                          const float *V, int p0, int T, int hd, float scale, float *scratch) {
    for (int t = 0; t < T; t++)
        attn_decode_head_f32(out + (size_t)t * out_stride, q + (size_t)t * q_stride, K, V, p0 + t + 1, hd, scale,
                             scratch);
}
