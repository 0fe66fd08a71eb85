/* gpt2-bench kernels: the packed decode GEMM (weights in f32, bf16, f16 or
 * int8) against OpenBLAS sgemm on the same shape in f32, at a model's decode
 * shapes, weights cold, and which one wins at each (shape, M). This is the
 * measurement behind the choice of kernel (docs/method.md). */
#include <cblas.h>
#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../kernels/bigalloc.h"
#include "../kernels/gemm_lowp.h"
#include "../kernels/gemm_packed.h"
#include "../kernels/kernels.h"
#include "../kernels/pin.h"
#include "../model/config.h"
#include "cli.h"
#include "commands.h"

static const char *USAGE =
    "usage: gpt2-bench kernels [--model NAME] [--batch LIST] [--threads T] [--reps R] [--cold-bytes B]\n"
    "                          [--dtype f32|bf16|f16|int8] [--json -]\n"
    "  times the packed decode GEMM, its weights in --dtype (default f32), and OpenBLAS in f32\n"
    "  (sgemv at M = 1, sgemm above) at the model's decode shapes (its four layer matrices and\n"
    "  the LM head), with M = each batch size, weights cold (cycled through copies spanning\n"
    "  --cold-bytes of f32 weights, default 256 MiB), best of R; prints GFLOP/s, weight GB/s\n"
    "  (bytes as stored: 4, 2 or 1 per weight) and the faster kernel per (shape, M)\n";

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

typedef struct {
    const char *name;
    int K, N, lm_head; /* lm_head: w is (N, K), y = x w^T */
} shape;

int cmd_kernels(int argc, char **argv, FILE *out, status_t *st) {
    cli_flag fl[] = {{"--model", 1, 0}, {"--batch", 1, 0}, {"--threads", 1, 0}, {"--reps", 1, 0},
                     {"--cold-bytes", 1, 0}, {"--dtype", 1, 0}, {"--json", 1, 0}, {"--help", 0, 0}};
    const int nf = sizeof fl / sizeof fl[0];
    int rc = cli_parse(argc, argv, 1, fl, nf, "kernels", st);
    if (rc) return rc;
#define GET(name) cli_get(fl, nf, name)
    if (GET("--help")) { fputs(USAGE, out); return ST_OK; }
    gpt2_config c;
    if ((rc = config_by_name(GET("--model") ? GET("--model") : "gpt2", &c, st))) return rc;
    long threads = cores_online(), reps = 5, cold = 256l << 20;
    long *Ms = NULL;
    int nm = 0;
    if ((GET("--threads") && (rc = cli_int(GET("--threads"), "--threads", 1, 4096, &threads, st))) ||
        (GET("--reps") && (rc = cli_int(GET("--reps"), "--reps", 1, 1000, &reps, st))) ||
        (GET("--cold-bytes") && (rc = cli_int(GET("--cold-bytes"), "--cold-bytes", 1, 1l << 36, &cold, st))) ||
        (rc = cli_list(GET("--batch") ? GET("--batch") : "1-256*2", "--batch", 1, 4096, &Ms, &nm, st)))
        return rc;
    wdtype dt = WDT_F32;
    if (GET("--dtype") && wdtype_parse(GET("--dtype"), &dt) != 0) {
        free(Ms);
        return status_fail(st, ST_BAD_INPUT, "kernels: --dtype '%s' is not one of f32, bf16, f16, int8",
                           GET("--dtype"));
    }
    const char *json = GET("--json");
    if (json && strcmp(json, "-") != 0) {
        free(Ms);
        return status_fail(st, ST_BAD_INPUT, "kernels: --json takes '-' (stdout)");
    }
    int T = threads_init((int)threads);
    char pin[256] = "";
    threads_pin(T, pin, sizeof pin);
    const int d = c.n_embd;
    const shape shapes[] = {{"qkv", d, 3 * d, 0},     {"attn_proj", d, d, 0}, {"fc", d, 4 * d, 0},
                            {"fc_proj", 4 * d, d, 0}, {"lm_head", d, c.vocab, 1}};
    const int nshapes = sizeof shapes / sizeof shapes[0];
    long maxM = 1;
    for (int i = 0; i < nm; i++) maxM = Ms[i] > maxM ? Ms[i] : maxM;
    cJSON *root = cJSON_CreateObject();
    cJSON_AddStringToObject(root, "model", c.name);
    cJSON_AddNumberToObject(root, "threads", T);
    cJSON_AddStringToObject(root, "kernel", gemm_path_name(gemm_path_current()));
    cJSON_AddStringToObject(root, "dtype", wdtype_name(dt));
    cJSON *arr = cJSON_AddArrayToObject(root, "shapes");
    if (!json)
        fprintf(out, "%s decode shapes, %d threads, packed kernel %s with %s weights against OpenBLAS f32, "
                     "weights cold; GFLOP/s | weight GB/s\n%-10s %5s %18s %18s %8s\n",
                c.name, T, gemm_path_name(gemm_path_current()), wdtype_name(dt), "shape", "M", "packed", "openblas",
                "faster");
    for (int si = 0; si < nshapes && !rc; si++) {
        const shape *sh = &shapes[si];
        const size_t wbytes = (size_t)sh->K * sh->N * sizeof(float), pbytes = (size_t)sh->K * sh->N * wdtype_bytes(dt);
        int copies = (int)((size_t)cold / wbytes) + 1;
        if (copies > 512) copies = 512;
        rc = mem_check(st, "the kernel benchmark's weight copies", 2ull * copies * wbytes + maxM * 8ull * (sh->K + sh->N));
        if (rc) break;
        float **w = calloc((size_t)copies, sizeof *w);
        packed_lw *p = calloc((size_t)copies, sizeof *p);
        float *x = big_alloc((size_t)maxM * sh->K * sizeof(float)), *y = big_alloc((size_t)maxM * sh->N * sizeof(float));
        int ok = w && p && x && y;
        for (int i = 0; ok && i < copies; i++) {
            w[i] = big_alloc(wbytes);
            ok = w[i] != NULL;
            for (size_t e = 0; ok && e < wbytes / sizeof(float); e++) w[i][e] = (float)((e * 7 + i) % 13) * 0.01f;
            ok = ok && !(sh->lm_head ? packed_lw_from_nk(&p[i], w[i], sh->K, sh->N, dt)
                                     : packed_lw_from_kn(&p[i], w[i], sh->K, sh->N, dt));
        }
        for (size_t e = 0; ok && e < (size_t)maxM * sh->K; e++) x[e] = (float)(e % 17) * 0.01f;
        if (!ok) rc = status_fail(st, ST_RUNTIME, "out of memory for the kernel benchmark");
        cJSON *sj = cJSON_CreateObject();
        cJSON_AddStringToObject(sj, "name", sh->name);
        cJSON_AddNumberToObject(sj, "k", sh->K);
        cJSON_AddNumberToObject(sj, "n", sh->N);
        cJSON *rows = cJSON_AddArrayToObject(sj, "m");
        int packed_up_to = 0, still_packed = 1;
        for (int mi = 0; mi < nm && !rc; mi++) {
            const int M = (int)Ms[mi];
            double best[2] = {1e30, 1e30};
            for (int r = 0; r < reps + 1; r++) /* the first pass warms up, not timed */
                for (int kind = 0; kind < 2; kind++) {
                    double t0 = now_s();
                    for (int i = 0; i < copies; i++) {
                        if (kind == 0)
                            linear_lw(y, x, &p[i], NULL, M);
                        else if (sh->lm_head)
                            linear_nt_f32(y, x, w[i], M, sh->K, sh->N);
                        else
                            linear_f32(y, x, w[i], NULL, M, sh->K, sh->N);
                    }
                    double t = (now_s() - t0) / copies;
                    if (r > 0 && t < best[kind]) best[kind] = t;
                }
            const double flops = 2.0 * M * sh->K * sh->N;
            const int packed_wins = best[0] <= best[1];
            if (packed_wins && still_packed) packed_up_to = M;
            if (!packed_wins) still_packed = 0;
            cJSON *e = cJSON_CreateObject();
            cJSON_AddNumberToObject(e, "m", M);
            cJSON_AddNumberToObject(e, "packed_gflops", flops / best[0] / 1e9);
            cJSON_AddNumberToObject(e, "packed_weight_gbs", pbytes / best[0] / 1e9);
            cJSON_AddNumberToObject(e, "openblas_gflops", flops / best[1] / 1e9);
            cJSON_AddNumberToObject(e, "openblas_weight_gbs", wbytes / best[1] / 1e9);
            cJSON_AddStringToObject(e, "faster", packed_wins ? "packed" : "openblas");
            cJSON_AddItemToArray(rows, e);
            if (!json)
                fprintf(out, "%-10s %5d %7.1f | %7.1f  %7.1f | %7.1f %8s %.2fx\n", mi == 0 ? sh->name : "", M,
                        flops / best[0] / 1e9, pbytes / best[0] / 1e9, flops / best[1] / 1e9, wbytes / best[1] / 1e9,
                        packed_wins ? "packed" : "openblas", best[1] / best[0]);
        }
        cJSON_AddNumberToObject(sj, "packed_faster_up_to_m", packed_up_to);
        cJSON_AddItemToArray(arr, sj);
        for (int i = 0; i < copies && w && p; i++) {
            free(w[i]);
            packed_lw_free(&p[i]);
        }
        free(w);
        free(p);
        free(x);
        free(y);
    }
    if (!rc && json) {
        char *s = cJSON_PrintUnformatted(root);
        fprintf(out, "%s\n", s);
        free(s);
    }
    cJSON_Delete(root);
    free(Ms);
    return rc;
#undef GET
}
