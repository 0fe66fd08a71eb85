/* decode_run: one measured point of batched decode: B sequences with S
 * tokens in their KV caches, W warm-up steps, then R repetitions of N timed
 * steps, each repetition starting again at depth S. */
#ifndef GR_DECODE_RUN_H
#define GR_DECODE_RUN_H

#include <signal.h>
#include <stdio.h>

#include "../model/forward.h"
#include "stats.h"

typedef struct {
    int batch, context, steps, reps, warmup;
    int real_prefill;  /* 1: fill the cache by a real prefill of seeded prompts */
    uint64_t seed;
    FILE *progress;    /* NULL: quiet */
    wdtype kv_dtype;   /* KV cache element type */
} decode_request;

typedef struct {
    decode_request req;
    int reps_done;          /* < req.reps when interrupted */
    double *samples_ns;     /* (reps_done) nanoseconds per step, one per repetition */
    stats_summary ns;       /* over samples_ns */
    gpt2_profile prof;      /* one extra, untimed repetition with per-operator timers: per operator,
                               prof_steps x its median time over those steps (decode_profile_medians) */
    double prof_steps;      /* steps in prof */
    int *prompt_tokens;     /* (B, S) with real prefill, else NULL */
    int *input_tokens;      /* (B, N) ids fed at each step of the first repetition */
    int *output_tokens;     /* (B, N) greedy ids (argmax) each step produced */
    double fill_s;          /* time to fill the cache */
    double steal_fraction;  /* share of all CPUs' time the hypervisor took during the timed repetitions; -1 unknown */
} decode_result;

/* The per-operator split of the profiled repetition, robust to a step in
 * which the hypervisor or another thread took a core: out->ns[op] = n x the
 * median over the n steps of op's time (op_steps: (n, OP_COUNT)), so a
 * preemption inside one small operator of one step does not multiply its
 * share. Zeros when n is out of 1..DECODE_PROFILE_STEPS_MAX. */
#define DECODE_PROFILE_STEPS_MAX 4096
void decode_profile_medians(const double *op_steps, int n, gpt2_profile *out);

/* Set from a signal handler: the run stops at the end of the current step. */
extern volatile sig_atomic_t decode_stop_requested;

/* Bytes the point needs beyond the weights (state + KV + logits). */
uint64_t decode_bytes_needed(const gpt2_config *c, const decode_request *rq, int threads);

int decode_measure(const gpt2_model *m, const decode_request *rq, decode_result *out, status_t *st);
void decode_result_free(decode_result *r);

#endif
