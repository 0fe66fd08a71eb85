/* In-process paired A/B of the decode GEMM (docs/experiments/gemm_ab.sh
 * builds it): A is linear_lw as the repository builds it, B the same
 * source compiled with other -D settings (its symbols renamed *_B). Each
 * iteration times one call of A and one of B back to back, order
 * alternating, each on its own cold copy of the weights, so both see the
 * same minute of a shared machine; prints per gpt2 decode shape and M the
 * median GFLOP/s of each and the median of the paired speed-ups B/A with
 * its quartiles. Not part of the build. */
#include "../../kernels/gemm_lowp.h"

#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ab_timing.h"

void linear_lw_B(float *y, const float *x, const packed_lw *w, const float *b, int M);
void linear_packed_f32_B(float *y, const float *x, const packed_w *w, const float *b, int M);

static void call(int variant, float *y, const float *x, const packed_lw *w, int M) {
    if (w->dt == WDT_F32) {
        const packed_w pw = {w->K, w->N, w->Np, (float *)w->panels};
        (variant ? linear_packed_f32_B : linear_packed_f32)(y, x, &pw, NULL, M);
    } else {
        (variant ? linear_lw_B : linear_lw)(y, x, w, NULL, M);
    }
}

int main(int argc, char **argv) {
    if (argc < 4) {
        fprintf(stderr, "usage: gemm_ab DTYPE M[,M..] PAIRS [SHAPE]\n");
        return 2;
    }
    wdtype dt;
    if (wdtype_parse(argv[1], &dt)) return fprintf(stderr, "gemm_ab: unknown dtype %s\n", argv[1]), 2;
    const int pairs = atoi(argv[3]);
    const char *only = argc > 4 ? argv[4] : NULL;
    const struct { const char *name; int K, N; } shapes[] = {
        {"qkv", 768, 2304}, {"attn_proj", 768, 768}, {"fc", 768, 3072}, {"fc_proj", 3072, 768}, {"lm_head", 768, 50257}};
    const size_t cold_bytes = 512ul << 20; /* copies of the weights cycled through: well past the LLC */
    printf("%s, %d threads, %d pairs per point; A: as built, B: %s\n", argv[1], omp_get_max_threads(), pairs,
           getenv("GEMM_AB_B") ? getenv("GEMM_AB_B") : "(see gemm_ab.sh)");
    printf("%-10s %4s %9s %9s %8s %s\n", "shape", "M", "A GFLOP/s", "B GFLOP/s", "B/A", "quartiles");
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
        if (only && strcmp(only, shapes[s].name)) continue;
        const int K = shapes[s].K, N = shapes[s].N;
        float *w = malloc(sizeof(float) * K * N); /* w: (K, N) */
        for (size_t i = 0; i < (size_t)K * N; i++) w[i] = (float)((int)(i * 2654435761u >> 20) % 255 - 127) / 1024.0f;
        packed_lw first;
        if (packed_lw_from_kn(&first, w, K, N, dt)) return fprintf(stderr, "gemm_ab: out of memory\n"), 1;
        const size_t wbytes = (size_t)K * first.Np * wdtype_bytes(dt);
        int copies = (int)(cold_bytes / wbytes);
        if (copies < 2) copies = 2;
        packed_lw *cp = calloc(copies, sizeof *cp);
        if (!cp) return fprintf(stderr, "gemm_ab: out of memory\n"), 1;
        for (int c = 0; c < copies; c++) {
            cp[c] = first;
            cp[c].panels = aligned_alloc(64, (wbytes + 63) / 64 * 64);
            if (!cp[c].panels) return fprintf(stderr, "gemm_ab: out of memory copying %s\n", shapes[s].name), 1;
            memcpy(cp[c].panels, first.panels, wbytes);
        }
        char list[256];
        snprintf(list, sizeof list, "%s", argv[2]);
        for (char *tok = strtok(list, ","); tok; tok = strtok(NULL, ",")) {
            const int M = atoi(tok);
            float *x = malloc(sizeof(float) * M * K), *y = malloc(sizeof(float) * M * N); /* x: (M, K), y: (M, N) */
            for (int i = 0; i < M * K; i++) x[i] = (float)(i % 17 - 8) / 16.0f;
            double *ta = malloc(sizeof(double) * pairs), *tb = malloc(sizeof(double) * pairs),
                   *r = malloc(sizeof(double) * pairs);
            int next = 0;
            for (int it = -3; it < pairs; it++) {
                double t[2];
                for (int o = 0; o < 2; o++) {
                    const int v = (it & 1) ? 1 - o : o;
                    const double t0 = ab_now_s();
                    call(v, y, x, &cp[next], M);
                    t[v] = ab_now_s() - t0;
                    next = (next + 1) % copies;
                }
                if (it >= 0) ta[it] = t[0], tb[it] = t[1], r[it] = t[0] / t[1];
            }
            ab_sort(ta, tb, r, pairs);
            const double flops = 2.0 * M * K * N;
            printf("%-10s %4d %9.1f %9.1f %8.3f %.3f-%.3f\n", shapes[s].name, M, flops / ta[pairs / 2] / 1e9,
                   flops / tb[pairs / 2] / 1e9, r[pairs / 2], r[pairs / 4], r[3 * pairs / 4]);
            fflush(stdout);
            free(x), free(y), free(ta), free(tb), free(r);
        }
        for (int c = 0; c < copies; c++) free(cp[c].panels);
        free(cp);
        packed_lw_free(&first);
        free(w);
    }
    return 0;
}
