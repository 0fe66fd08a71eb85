#include "decode_run.h"
#include "cpustat.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

volatile sig_atomic_t decode_stop_requested = 0;

static double now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e9 + ts.tv_nsec;
}

static uint64_t next_rand(uint64_t *s) {
    *s = *s * 6364136223846793005ull + 1442695040888963407ull;
    return *s >> 33;
}

uint64_t decode_bytes_needed(const gpt2_config *c, const decode_request *rq, int threads) {
    int cap = rq->context + rq->warmup + rq->steps;
    int max_tokens = rq->real_prefill && rq->context > 0 ? rq->context : 1;
    /* sizes beyond any machine: say so rather than let the products wrap */
    double kv = 2.0 * c->n_layer * rq->batch * (double)cap * c->n_embd * 4;
    double act = 12.0 * rq->batch * (double)max_tokens * c->n_embd * 4 + (double)threads * cap * 4;
    if (kv + act > 1e18) return UINT64_MAX;
    return gpt2_state_bytes_kv(c, rq->batch, max_tokens, cap, threads, rq->kv_dtype) +
           (uint64_t)rq->batch * c->vocab * sizeof(float) * (rq->real_prefill ? 2 : 1);
}

void decode_result_free(decode_result *r) {
    free(r->samples_ns);
    free(r->prompt_tokens);
    free(r->output_tokens);
    free(r->input_tokens);
    memset(r, 0, sizeof *r);
}

void decode_profile_medians(const double *op_steps, int n, gpt2_profile *out) {
    double col[DECODE_PROFILE_STEPS_MAX];
    memset(out, 0, sizeof *out);
    if (n < 1 || n > DECODE_PROFILE_STEPS_MAX) return;
    for (int op = 0; op < OP_COUNT; op++) {
        for (int i = 0; i < n; i++) col[i] = op_steps[(size_t)i * OP_COUNT + op];
        out->ns[op] = n * stats_median(col, n);
    }
}

/* Runs n greedy steps from depth S: tok: (B) the first inputs, then the
 * argmax of each step. in_ids, out_ids: (B, n) or NULL. op_steps: (n,
 * OP_COUNT) each step's operator times when profiling (s->prof), or NULL. */
static int run_steps(const gpt2_model *m, gpt2_state *s, int S, const int *first, int n, float *logits, int *tok,
                     int *in_ids, int *out_ids, double *op_steps, status_t *st) {
    const int B = s->batch, V = m->cfg.vocab;
    s->kv.len = S;
    memcpy(tok, first, (size_t)B * sizeof *tok);
    for (int i = 0; i < n; i++) {
        if (in_ids)
            for (int b = 0; b < B; b++) in_ids[(size_t)b * n + i] = tok[b];
        gpt2_profile before = s->prof ? *s->prof : (gpt2_profile){{0}};
        int rc = gpt2_forward(m, s, tok, 1, logits, LOGITS_LAST, st);
        if (rc) return rc;
        const double t0 = s->prof ? now_ns() : 0;
        argmax_rows_f32(tok, logits, B, V); /* logits: (B, V) */
        if (s->prof) s->prof->ns[OP_ARGMAX] += now_ns() - t0;
        if (s->prof && op_steps)
            for (int op = 0; op < OP_COUNT; op++) op_steps[(size_t)i * OP_COUNT + op] = s->prof->ns[op] - before.ns[op];
        if (out_ids)
            for (int b = 0; b < B; b++) out_ids[(size_t)b * n + i] = tok[b];
        if (decode_stop_requested) return ST_OK;
    }
    return ST_OK;
}

int decode_measure(const gpt2_model *m, const decode_request *rq, decode_result *r, status_t *st) {
    memset(r, 0, sizeof *r);
    r->steal_fraction = -1;
    r->req = *rq;
    const gpt2_config *c = &m->cfg;
    const int B = rq->batch, S = rq->context, N = rq->steps, V = c->vocab;
    if (B < 1 || S < 0 || N < 1 || rq->reps < 1 || rq->warmup < 0)
        return status_fail(st, ST_BAD_INPUT, "decode: batch, steps and reps must be >= 1, context and warmup >= 0");
    if (S + rq->warmup + N > c->n_ctx)
        return status_fail(st, ST_BAD_INPUT,
                           "decode: context %d + warm-up %d + steps %d = %d positions exceed n_ctx %d: "
                           "lower the context or the steps",
                           S, rq->warmup, N, S + rq->warmup + N, c->n_ctx);
    if (rq->real_prefill && S < 1)
        return status_fail(st, ST_BAD_INPUT, "decode: --prefill real needs a context of at least 1");
    gpt2_state s;
    int rc = gpt2_state_init_kv(&s, c, B, rq->real_prefill ? S : 1, S + rq->warmup + N, rq->kv_dtype, st);
    if (rc) return rc;
    float *logits = malloc((size_t)B * V * sizeof *logits); /* (B, V) */
    int *first = malloc((size_t)B * sizeof *first), *tok = malloc((size_t)B * sizeof *tok);
    r->samples_ns = calloc((size_t)rq->reps, sizeof *r->samples_ns);
    r->output_tokens = malloc((size_t)B * N * sizeof *r->output_tokens);
    r->input_tokens = malloc((size_t)B * N * sizeof *r->input_tokens);
    if (!logits || !first || !tok || !r->samples_ns || !r->output_tokens || !r->input_tokens) {
        rc = status_fail(st, ST_RUNTIME, "out of memory");
        goto done;
    }
    uint64_t seed = rq->seed ? rq->seed : 1;
    double t0 = now_ns();
    if (rq->real_prefill) {
        r->prompt_tokens = malloc((size_t)B * S * sizeof *r->prompt_tokens);
        if (!r->prompt_tokens) { rc = status_fail(st, ST_RUNTIME, "out of memory"); goto done; }
        for (size_t i = 0; i < (size_t)B * S; i++) r->prompt_tokens[i] = (int)(next_rand(&seed) % (uint64_t)V);
        if ((rc = gpt2_forward(m, &s, r->prompt_tokens, S, logits, LOGITS_LAST, st))) goto done;
        argmax_rows_f32(first, logits, B, V);
    } else {
        kv_fill_synthetic(&s.kv, S, seed);
        for (int b = 0; b < B; b++) first[b] = (int)(next_rand(&seed) % (uint64_t)V);
    }
    r->fill_s = (now_ns() - t0) * 1e-9;
    /* warm-up */
    if (rq->warmup && (rc = run_steps(m, &s, S, first, rq->warmup, logits, tok, NULL, NULL, NULL, st))) goto done;
    cpustat_ticks cpu0, cpu1;
    const int have_cpu0 = cpustat_read(&cpu0) == 0;
    for (int rep = 0; rep < rq->reps && !decode_stop_requested; rep++) {
        double a = now_ns();
        rc = run_steps(m, &s, S, first, N, logits, tok, rep == 0 ? r->input_tokens : NULL,
                       rep == 0 ? r->output_tokens : NULL, NULL, st);
        double b = now_ns();
        if (rc) goto done;
        if (decode_stop_requested) break; /* a cut-short repetition is not a sample */
        r->samples_ns[rep] = (b - a) / N;
        r->reps_done = rep + 1;
        if (rq->progress)
            fprintf(rq->progress, "\r  B=%d S=%d rep %d/%d: %.3f ms/step   ", B, S, rep + 1, rq->reps,
                    r->samples_ns[rep] * 1e-6);
    }
    if (rq->progress) fprintf(rq->progress, "\r%60s\r", "");
    r->steal_fraction = have_cpu0 && cpustat_read(&cpu1) == 0 ? cpustat_steal_fraction(&cpu0, &cpu1) : -1;
    if (r->reps_done == 0) {
        rc = status_fail(st, ST_RUNTIME, "decode: interrupted before any repetition finished");
        goto done;
    }
    stats_summarize(r->samples_ns, r->reps_done, &r->ns);
    /* one more repetition with per-operator timers (not a sample: timers
     * add their own small cost) */
    if (!decode_stop_requested) {
        const int np = N < DECODE_PROFILE_STEPS_MAX ? N : DECODE_PROFILE_STEPS_MAX;
        double *op_steps = malloc((size_t)np * OP_COUNT * sizeof *op_steps); /* (np, OP_COUNT) */
        if (!op_steps) {
            rc = status_fail(st, ST_RUNTIME, "decode: out of memory");
            goto done;
        }
        s.prof = &r->prof;
        rc = run_steps(m, &s, S, first, np, logits, tok, NULL, NULL, op_steps, st);
        s.prof = NULL;
        if (!rc && !decode_stop_requested) decode_profile_medians(op_steps, np, &r->prof);
        r->prof_steps = np;
        free(op_steps);
    }
done:
    free(logits);
    free(first);
    free(tok);
    gpt2_state_free(&s);
    if (rc) decode_result_free(r);
    return rc;
}
