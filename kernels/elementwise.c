/* elementwise: LayerNorm, GELU, softmax, residual add, embedding lookup. */
#include <math.h>
#include <string.h>

#include "kernels.h"

void layernorm_f32(float *out, const float *x, const float *w, const float *b, int M, int d, float eps) {
#pragma omp parallel for schedule(static) if ((size_t)M * d > 65536)
    for (int m = 0; m < M; m++) {
        const float *r = x + (size_t)m * d;
        float *o = out + (size_t)m * d;
        float mean = 0.0f;
        for (int i = 0; i < d; i++) mean += r[i];
        mean /= (float)d;
        float var = 0.0f;
        for (int i = 0; i < d; i++) {
            float c = r[i] - mean;
            var += c * c;
        }
        var /= (float)d;
        float inv = 1.0f / sqrtf(var + eps);
        for (int i = 0; i < d; i++) o[i] = (r[i] - mean) * inv * w[i] + b[i];
    }
}

void gelu_f32(float *x, size_t n) {
    const float c = 0.7978845608028654f; /* sqrt(2/pi) */
#pragma omp parallel for schedule(static) if (n > 65536)
    for (size_t i = 0; i < n; i++) {
        float v = x[i];
        x[i] = 0.5f * v * (1.0f + tanhf(c * (v + 0.044715f * v * v * v)));
    }
}

void softmax_f32(float *x, int n) {
    float mx = -INFINITY;
    for (int i = 0; i < n; i++) mx = x[i] > mx ? x[i] : mx;
    float sum = 0.0f;
    for (int i = 0; i < n; i++) {
        x[i] = expf(x[i] - mx);
        sum += x[i];
    }
    float inv = 1.0f / sum;
    for (int i = 0; i < n; i++) x[i] *= inv;
}

void add_f32(float *x, const float *y, size_t n) {
#pragma omp parallel for schedule(static) if (n > 262144)
    for (size_t i = 0; i < n; i++) x[i] += y[i];
}

void embed_f32(float *out, const float *wte, const float *wpe, const int *tokens, const int *positions, int M,
               int d) {
    for (int m = 0; m < M; m++) {
        const float *te = wte + (size_t)tokens[m] * d, *pe = wpe + (size_t)positions[m] * d;
        float *o = out + (size_t)m * d;
        for (int i = 0; i < d; i++) o[i] = te[i] + pe[i];
    }
}
