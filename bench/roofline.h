/* roofline: the analytic model of /docs/method.md — what one decode step
 * (or a prefill) must move and compute, and the time the machine's
 * ceilings allow for it. Symbols as in the docs: d, L, h, V, T, B, S,
 * Q (bytes per weight), Qkv (bytes per cached element). */
#ifndef GR_ROOFLINE_H
#define GR_ROOFLINE_H

#include "../model/config.h"
#include "../model/forward.h"

/* Bytes and FLOPs of one step, split as the JSON records them. */
typedef struct {
    double weights_bytes;     /* Q (L(12d^2+13d) + V d + 2d): every weight once */
    double kv_read_bytes;     /* B L 2 S d Qkv */
    double kv_write_bytes;    /* B L 2 d Qkv */
    double act_bytes;         /* activations, 4 bytes each, B (36 L d + 3d + V) */
    double total_bytes;
    double dense_flops;       /* 2 B L 12 d^2 */
    double attention_flops;   /* 4 B L S d */
    double lm_head_flops;     /* 2 B V d */
    double other_flops;       /* LayerNorm, GELU, softmax, biases, residuals */
    double total_flops;
} step_cost;

/* The machine's ceilings the prediction uses. */
typedef struct {
    double bw_gbs;      /* M: read-streaming bandwidth, GB/s (1e9 bytes/s) */
    double peak_gflops; /* C: measured FMA peak, GFLOP/s */
} roof_ceilings;

typedef struct {
    double t_memory_s, t_compute_s, t_s; /* t = max(bytes/M, flops/C) */
    double tok_s;                        /* B / t */
    int compute_bound;
    double intensity;                    /* FLOP per byte of this step */
    double ridge;                        /* C / M, FLOP per byte */
} roof_prediction;

void roofline_decode_cost(const gpt2_config *c, int B, int S, double Q, double Qkv, step_cost *out);

/* Per operator of forward.h (OP_*): the bytes and FLOPs the step's cost
 * assigns to it; they add up to the step's totals. */
void roofline_decode_op_cost(const gpt2_config *c, int B, int S, double Q, double Qkv, gpt2_op op,
                             double *bytes, double *flops);

/* Prefill of P tokens for B sequences. all_logits: LM head at every
 * position (else the last only); causal: attention over the causal half
 * (2 B L P^2 d) rather than the full square (4 B L P^2 d). */
void roofline_prefill_cost(const gpt2_config *c, int B, int P, double Q, int all_logits, int causal,
                           step_cost *out);

void roofline_predict(const step_cost *cost, int B, const roof_ceilings *roof, roof_prediction *out);

/* Smallest batch at which decode at context S is compute-bound (0 if none
 * up to 1<<20). */
int roofline_crossover_batch(const gpt2_config *c, int S, double Q, double Qkv, const roof_ceilings *roof);

#endif
