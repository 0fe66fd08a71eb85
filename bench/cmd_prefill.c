/* gpt2-bench prefill: B prompts of P tokens in one pass, timed, against the
 * compute roof (prefill is normally compute-bound). */
#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../kernels/kernels.h"
#include "../kernels/pin.h"
#include "cli.h"
#include "commands.h"
#include "decode_machine.h"
#include "model_source.h"
#include "outfile.h"
#include "roofline.h"
#include "stats.h"

static const char *USAGE =
    "usage: gpt2-bench prefill --model NAME | --weights PATH --batch B --prompt P\n"
    "         [--reps R] [--threads T] [--dtype f32|bf16|f16|int8] [--kv-dtype f32|f16|bf16]\n"
    "         [--machine FILE] [--results DIR] [--no-pack] [--json FILE|-]\n"
    "  times one forward pass over B x P prompt tokens (logits of the last position only):\n"
    "  prompt tokens/s, time to first token, achieved GFLOP/s against the compute roof\n";

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

int cmd_prefill(int argc, char **argv, FILE *out, status_t *st) {
    cli_flag fl[] = {{"--model", 1, 0},   {"--weights", 1, 0}, {"--batch", 1, 0},   {"--prompt", 1, 0},
                     {"--reps", 1, 0},    {"--threads", 1, 0}, {"--machine", 1, 0}, {"--results", 1, 0},
                     {"--no-pack", 0, 0}, {"--json", 1, 0},    {"--seed", 1, 0},    {"--help", 0, 0},
                     {"--dtype", 1, 0},   {"--kv-dtype", 1, 0}};
    const int nf = sizeof fl / sizeof fl[0];
    int rc = cli_parse(argc, argv, 1, fl, nf, "prefill", st);
    if (rc) return rc;
#define GET(name) cli_get(fl, nf, name)
    if (GET("--help")) { fputs(USAGE, out); return ST_OK; }
    long B = 0, P = 0, reps = 3, threads = cores_online(), seed = 1;
    if ((rc = cli_int(GET("--batch"), "--batch", 1, 1 << 16, &B, st)) ||
        (rc = cli_int(GET("--prompt"), "--prompt", 1, 1 << 20, &P, st)) ||
        (GET("--reps") && (rc = cli_int(GET("--reps"), "--reps", 1, 1000, &reps, st))) ||
        (GET("--threads") && (rc = cli_int(GET("--threads"), "--threads", 1, 4096, &threads, st))) ||
        (GET("--seed") && (rc = cli_int(GET("--seed"), "--seed", 0, 2147483647L, &seed, st))))
        return rc;
    /* refuse what can never work before any weights are made, the machine is
     * measured or anything is allocated */
    const char *json = GET("--json");
    gpt2_config cfg;
    wdtype wdt = WDT_F32, kvdt = WDT_F32;
    if ((json && strcmp(json, "-") != 0 && (rc = outfile_check(json, "prefill: --json", st))) ||
        (rc = kv_dtype_parse(GET("--kv-dtype"), &kvdt, st)) ||
        (rc = model_config(&cfg, GET("--model"), GET("--weights"), st)))
        return rc;
    if (P > cfg.n_ctx)
        return status_fail(st, ST_BAD_INPUT, "prefill: a %ld-token prompt exceeds %s's n_ctx %d: use --prompt %d or less",
                           P, cfg.name, cfg.n_ctx, cfg.n_ctx);
    double est = (double)B * P * cfg.n_embd * 48 + 2.0 * cfg.n_layer * B * P * cfg.n_embd * 4; /* beyond any machine? */
    uint64_t need = est > 1e18 ? UINT64_MAX
                               : gpt2_state_bytes_kv(&cfg, (int)B, (int)P, (int)P, (int)threads, kvdt) +
                                     (uint64_t)B * cfg.vocab * sizeof(float);
    char what[200];
    snprintf(what, sizeof what, "prefill: batch %ld with a %ld-token prompt (a %.2f GiB KV cache)", B, P,
             (double)kv_bytes(&cfg, (int)B, (int)P, kvdt) / 1073741824.0);
    if ((rc = mem_check(st, what, need))) return rc;
    gpt2_model m;
    if ((rc = model_open(&m, GET("--model"), GET("--weights"), (uint64_t)seed, st))) return rc;
    const int V = m.cfg.vocab;
    if (!GET("--no-pack")) rc = model_pack(&m, GET("--dtype"), 1, &wdt, st);
    int T = threads_init((int)threads);
    char pin[256] = "";
    threads_pin(T, pin, sizeof pin);
    record_machine mc;
    if (!rc)
        rc = decode_machine_get(&mc, T, GET("--machine"), GET("--results") ? GET("--results") : "results", 0, stderr, st);
    gpt2_state s;
    if (!rc) rc = gpt2_state_init_kv(&s, &m.cfg, (int)B, (int)P, (int)P, kvdt, st);
    if (rc) { gpt2_free(&m); return rc; }
    int *tokens = malloc((size_t)B * P * sizeof *tokens);
    float *logits = malloc((size_t)B * V * sizeof *logits); /* (B, V) */
    double *samples = calloc((size_t)reps, sizeof *samples);
    if (!tokens || !logits || !samples) rc = status_fail(st, ST_RUNTIME, "out of memory");
    uint64_t r = (uint64_t)seed * 2654435761u + 1;
    for (long i = 0; !rc && i < B * P; i++) {
        r = r * 6364136223846793005ull + 1442695040888963407ull;
        tokens[i] = (int)((r >> 33) % (uint64_t)V);
    }
    for (long i = -1; i < reps && !rc; i++) { /* i = -1: warm-up */
        s.kv.len = 0;
        double t0 = now_s();
        rc = gpt2_forward(&m, &s, tokens, (int)P, logits, LOGITS_LAST, st);
        if (i >= 0) samples[i] = now_s() - t0;
    }
    gpt2_profile prof = {0};
    if (!rc) { /* one more pass with per-operator timers, not a sample */
        s.kv.len = 0;
        s.prof = &prof;
        rc = gpt2_forward(&m, &s, tokens, (int)P, logits, LOGITS_LAST, st);
        s.prof = NULL;
    }
    double prof_total = 0;
    for (int op = 0; op < OP_COUNT; op++) prof_total += prof.ns[op];
    if (!rc) {
        stats_summary sm;
        stats_summarize(samples, (int)reps, &sm);
        step_cost cost;
        roofline_prefill_cost(&m.cfg, (int)B, (int)P, (double)wdtype_bytes(wdt), 0, 1, &cost);
        roof_ceilings roof = {mc.read_gbs, mc.peak_gflops};
        roof_prediction pred;
        roofline_predict(&cost, (int)B, &roof, &pred);
        double tok_s = B * P / sm.median, gflops = cost.total_flops / sm.median / 1e9;
        double pred_tok_s = B * P / pred.t_s;
        if (GET("--json")) {
            cJSON *o = cJSON_CreateObject();
            cJSON_AddStringToObject(o, "kind", "prefill");
            cJSON_AddStringToObject(o, "model", m.cfg.name);
            cJSON_AddNumberToObject(o, "threads", T);
            cJSON_AddStringToObject(o, "dtype", wdtype_name(wdt));
            cJSON_AddStringToObject(o, "kv_dtype", wdtype_name(kvdt));
            cJSON_AddNumberToObject(o, "batch", (double)B);
            cJSON_AddNumberToObject(o, "prompt", (double)P);
            cJSON_AddItemToObject(o, "samples_s", cJSON_CreateDoubleArray(samples, (int)reps));
            cJSON_AddNumberToObject(o, "ttft_s", sm.median);
            cJSON_AddNumberToObject(o, "tok_s", tok_s);
            cJSON_AddNumberToObject(o, "cv", sm.cv);
            cJSON_AddNumberToObject(o, "flops", cost.total_flops);
            cJSON_AddNumberToObject(o, "achieved_gflops", gflops);
            cJSON_AddNumberToObject(o, "mfu", gflops / mc.peak_gflops);
            cJSON_AddNumberToObject(o, "predicted_tok_s", pred_tok_s);
            cJSON_AddStringToObject(o, "bound", pred.compute_bound ? "compute" : "memory");
            cJSON_AddNumberToObject(o, "efficiency", tok_s / pred_tok_s);
            cJSON_AddNumberToObject(o, "peak_gflops", mc.peak_gflops);
            cJSON *ops = cJSON_AddArrayToObject(o, "operators");
            for (int op = 0; op < OP_COUNT; op++) {
                if (op == OP_ARGMAX) continue; /* the decode loop's: a prefill chooses no token */
                cJSON *e = cJSON_CreateObject();
                cJSON_AddStringToObject(e, "name", GPT2_OP_NAMES[op]);
                cJSON_AddNumberToObject(e, "time_frac", prof_total > 0 ? prof.ns[op] / prof_total : 0);
                cJSON_AddItemToArray(ops, e);
            }
            char *line = cJSON_PrintUnformatted(o);
            if (strcmp(json, "-") == 0)
                fprintf(out, "%s\n", line);
            else
                rc = record_append_line(json, line, st);
            free(line);
            cJSON_Delete(o);
        } else {
            fprintf(out, "prefill %s: B=%ld P=%ld, %s weights, %s KV, %d threads\n", m.cfg.name, B, P, wdtype_name(wdt),
                    wdtype_name(kvdt), T);
            fprintf(out, "  time to first token  %.3f s (median of %ld, cv %.3f)\n", sm.median, reps, sm.cv);
            fprintf(out, "  prompt tokens/s      %.1f  (predicted %.1f, %s-bound)\n", tok_s, pred_tok_s,
                    pred.compute_bound ? "compute" : "memory");
            fprintf(out, "  achieved             %.1f GFLOP/s = %.2f of the %.1f GFLOP/s FMA peak\n", gflops,
                    gflops / mc.peak_gflops, mc.peak_gflops);
            fprintf(out, "  efficiency           %.2f\n", tok_s / pred_tok_s);
            fprintf(out, "  time by operator    ");
            for (int op = 0; op < OP_COUNT; op++)
                if (op != OP_ARGMAX)
                    fprintf(out, " %s %.1f%%", GPT2_OP_NAMES[op], prof_total > 0 ? 100 * prof.ns[op] / prof_total : 0);
            fputc('\n', out);
        }
    }
    free(tokens);
    free(logits);
    free(samples);
    gpt2_state_free(&s);
    gpt2_free(&m);
    return rc;
#undef GET
}
