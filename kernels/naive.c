#include "naive.h"

#include <math.h>
#include <stdlib.h>

void naive_linear(float *y, const float *x, const float *w, const float *b, int M, int K, int N) {
    for (int m = 0; m < M; m++)
        for (int n = 0; n < N; n++) {
            double acc = b ? b[n] : 0.0;
            for (int k = 0; k < K; k++) acc += (double)x[(size_t)m * K + k] * w[(size_t)k * N + n];
            y[(size_t)m * N + n] = (float)acc;
        }
}

void naive_linear_nt(float *y, const float *x, const float *w, int M, int K, int N) {
    for (int m = 0; m < M; m++)
        for (int n = 0; n < N; n++) {
            double acc = 0.0;
            for (int k = 0; k < K; k++) acc += (double)x[(size_t)m * K + k] * w[(size_t)n * K + k];
            y[(size_t)m * N + n] = (float)acc;
        }
}

void naive_layernorm(float *out, const float *x, const float *w, const float *b, int M, int d, float eps) {
    for (int m = 0; m < M; m++) {
        const float *r = x + (size_t)m * d;
        double mean = 0, var = 0;
        for (int i = 0; i < d; i++) mean += r[i];
        mean /= d;
        for (int i = 0; i < d; i++) var += (r[i] - mean) * (r[i] - mean);
        var /= d;
        double inv = 1.0 / sqrt(var + eps);
        for (int i = 0; i < d; i++) out[(size_t)m * d + i] = (float)((r[i] - mean) * inv * w[i] + b[i]);
    }
}

void naive_gelu(float *x, size_t n) {
    for (size_t i = 0; i < n; i++) {
        double v = x[i];
        x[i] = (float)(0.5 * v * (1.0 + tanh(0.7978845608028654 * (v + 0.044715 * v * v * v))));
    }
}

void naive_softmax(float *x, int n) {
    double mx = -INFINITY, sum = 0;
    for (int i = 0; i < n; i++) mx = x[i] > mx ? x[i] : mx;
    for (int i = 0; i < n; i++) sum += exp(x[i] - mx);
    for (int i = 0; i < n; i++) x[i] = (float)(exp(x[i] - mx) / sum);
}

void naive_embed(float *out, const float *wte, const float *wpe, const int *tokens, const int *positions, int M,
                 int d) {
    for (int m = 0; m < M; m++)
        for (int i = 0; i < d; i++)
            out[(size_t)m * d + i] = wte[(size_t)tokens[m] * d + i] + wpe[(size_t)positions[m] * d + i];
}

void naive_attn_decode_head(float *out, const float *q, const float *K, const float *V, int n, int hd,
                            float scale) {
    float *s = malloc((size_t)n * sizeof *s);
    for (int t = 0; t < n; t++) {
        double acc = 0;
        for (int i = 0; i < hd; i++) acc += (double)q[i] * K[(size_t)t * hd + i];
        s[t] = (float)(acc * scale);
    }
    naive_softmax(s, n);
    for (int i = 0; i < hd; i++) {
        double acc = 0;
        for (int t = 0; t < n; t++) acc += (double)s[t] * V[(size_t)t * hd + i];
        out[i] = (float)acc;
    }
    free(s);
}

int naive_argmax(const float *x, int n) {
    int best = 0;
    for (int i = 1; i < n; i++)
        if (x[i] > x[best]) best = i;
    return best;
}
