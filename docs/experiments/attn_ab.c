/* In-process paired A/B of decode attention (docs/experiments/attn_ab.sh
 * builds it): A is attn_decode_head_f32 as the repository builds it, B the
 * same source compiled with other -D settings (renamed *_B). One call is
 * one layer of decode attention as model/forward.c runs it (OpenMP over
 * the B x h (sequence, head) pairs, KV laid out (L, B, h, cap, hd)); the
 * layers are cycled, so the cache is cold as in a decode step. Each
 * iteration times A and B back to back, order alternating. Not part of
 * the build. */
#include "../../kernels/kernels.h"

#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ab_timing.h"

void attn_decode_head_f32_B(float *out, const float *q, const float *K, const float *V, int n, int hd, float scale,
                            float *scratch);


int main(int argc, char **argv) {
    if (argc < 4) return fprintf(stderr, "usage: attn_ab B[,B..] S[,S..] PAIRS\n"), 2;
    const int L = 12, H = 12, hd = 64, W = 20, pairs = atoi(argv[3]);
    const float scale = 0.125f;
    printf("%d threads, %d pairs per point, %d layers cycled; A: as built, B: %s\n", omp_get_max_threads(), pairs, L,
           getenv("ATTN_AB_B") ? getenv("ATTN_AB_B") : "?");
    printf("%4s %4s %8s %8s %8s %s\n", "B", "S", "A GB/s", "B GB/s", "B/A", "quartiles");
    char bl[256];
    snprintf(bl, sizeof bl, "%s", argv[1]);
    for (char *sb = bl, *bt; (bt = strtok_r(sb, ",", &sb));) {
        char sl[256];
        snprintf(sl, sizeof sl, "%s", argv[2]);
        for (char *ss = sl, *st; (st = strtok_r(ss, ",", &ss));) {
            const int B = atoi(bt), S = atoi(st), cap = S + W, n = S + 1;
            const size_t layer = (size_t)B * H * cap * hd; /* floats per layer: (B, h, cap, hd) */
            float *K = aligned_alloc(64, layer * L * sizeof(float)), *V = aligned_alloc(64, layer * L * sizeof(float));
            for (size_t i = 0; i < layer * L; i++) K[i] = (float)(i % 29) / 64.0f, V[i] = (float)(i % 31) / 64.0f;
            float *q = malloc(sizeof(float) * B * H * hd), *out = malloc(sizeof(float) * B * H * hd);
            float *scratch = malloc(sizeof(float) * cap * omp_get_max_threads());
            if (!K || !V || !q || !out || !scratch)
                return fprintf(stderr, "attn_ab: out of memory at B=%d S=%d: take fewer or smaller points\n", B, S), 1;
            for (int i = 0; i < B * H * hd; i++) q[i] = (float)(i % 13 - 6) / 8.0f;
            double *ta = malloc(sizeof(double) * pairs), *tb = malloc(sizeof(double) * pairs),
                   *r = malloc(sizeof(double) * pairs);
            int l = 0;
            for (int it = -3; it < pairs; it++) {
                double t[2];
                for (int o = 0; o < 2; o++) {
                    const int v = (it & 1) ? 1 - o : o;
                    const float *Kl = K + (size_t)l * layer, *Vl = V + (size_t)l * layer;
                    l = (l + 1) % L;
                    const double t0 = ab_now_s();
#pragma omp parallel for schedule(static) collapse(2)
                    for (int b = 0; b < B; b++)
                        for (int h = 0; h < H; h++) {
                            const size_t blk = ((size_t)b * H + h) * cap * hd;
                            float *sc = scratch + (size_t)omp_get_thread_num() * cap;
                            (v ? attn_decode_head_f32_B : attn_decode_head_f32)(out + (b * H + h) * hd,
                                                                              q + (b * H + h) * hd, Kl + blk,
                                                                              Vl + blk, n, hd, scale, sc);
                        }
                    t[v] = ab_now_s() - t0;
                }
                if (it >= 0) ta[it] = t[0], tb[it] = t[1], r[it] = t[0] / t[1];
            }
            ab_sort(ta, tb, r, pairs);
            const double bytes = 2.0 * B * H * n * hd * sizeof(float);
            printf("%4d %4d %8.1f %8.1f %8.3f %.3f-%.3f\n", B, S, bytes / ta[pairs / 2] / 1e9, bytes / tb[pairs / 2] / 1e9,
                   r[pairs / 2], r[pairs / 4], r[3 * pairs / 4]);
            fflush(stdout);
            free(K), free(V), free(q), free(out), free(scratch), free(ta), free(tb), free(r);
        }
    }
    return 0;
}
