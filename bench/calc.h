/* calc: the sizing sheet of `gpt2-bench calc` (docs/calc.md) — parameters,
 * memory, KV cache, FLOPs, token rates, devices and cost of a transformer
 * on given hardware, from the analytic model of roofline.h generalised to
 * the architectures below. For a GPT-2 shape every decode and prefill term
 * is the one roofline_decode_cost / roofline_prefill_cost gives.
 *
 * Symbols: d width, L layers, h query heads, g KV heads, hd head dim,
 * f MLP inner width (d_ff), V vocabulary, T position-table rows, E experts,
 * k experts per token, B batch, S cached tokens, P prompt tokens,
 * Q bytes per weight, Qkv bytes per cached element. */
#ifndef GR_CALC_H
#define GR_CALC_H

#include <stdint.h>

#include "../model/config.h"
#include "../model/status.h"
#include "roofline.h"

typedef enum { CALC_POS_LEARNED, CALC_POS_ROTARY } calc_pos;
typedef enum { CALC_NORM_LAYERNORM, CALC_NORM_RMSNORM } calc_norm;
typedef enum { CALC_MLP_GELU, CALC_MLP_SWIGLU } calc_mlp;

/* One architecture. */
typedef struct {
    char name[64];
    char type[16];       /* gpt2, gpt3, llama, mistral, mixtral */
    int n_layer;         /* L */
    int n_embd;          /* d */
    int n_head;          /* h */
    int n_kv_head;       /* g: h (multi-head), 1 < g < h (grouped), 1 (multi-query) */
    int head_dim;        /* hd: usually d / h */
    int d_ff;            /* f */
    int vocab;           /* V */
    int n_ctx;           /* T: context window (and learned position rows) */
    int tied;            /* LM head shares the token embedding */
    calc_pos pos;
    calc_norm norm;
    calc_mlp mlp;        /* GELU: up, down; SwiGLU: gate, up, down */
    int attn_bias;       /* biases on q, k, v, o */
    int mlp_bias;        /* biases on the MLP matrices */
    int n_experts;       /* E (0: dense MLP) */
    int top_k;           /* k experts per token (0: dense) */
    int sliding_window;  /* attention window in tokens (0: none) */
} calc_model;

/* gpt2, gpt2-medium, gpt2-large, gpt2-xl, gpt3-175b, llama-7b, llama-13b,
 * llama2-70b, mixtral-8x7b. */
int calc_model_by_name(const char *name, calc_model *m, status_t *st);
extern const char *const CALC_MODEL_NAMES; /* "gpt2, gpt2-medium, ..." */

/* The GPT-2 shape of config.h as a calc_model (learned positions,
 * LayerNorm, GELU with f = 4d, biases, tied head). */
void calc_model_from_gpt2(const gpt2_config *c, calc_model *m);

/* A Hugging Face config.json of model_type gpt2, llama, mistral or
 * mixtral. A path naming a folder reads its config.json. */
int calc_model_from_json_file(const char *path, calc_model *m, status_t *st);
int calc_model_from_json_text(const char *text, const char *path, calc_model *m, status_t *st);

int calc_model_validate(const calc_model *m, const char *where, status_t *st);

/* Exact parameter counts, split. Totals are over the whole model; the
 * _layer figures are one layer's (one expert's for expert_layer). */
typedef struct {
    uint64_t embedding;        /* token table V d */
    uint64_t position;         /* learned position table T d (0 for rotary) */
    uint64_t lm_head;          /* V d when untied, else 0 (it is the embedding) */
    uint64_t attention;        /* L x attention_layer */
    uint64_t mlp;              /* dense MLP, L x mlp_layer (0 for MoE) */
    uint64_t experts;          /* all experts, L E expert_layer (0 for dense) */
    uint64_t experts_active;   /* L k expert_layer */
    uint64_t router;           /* L d E */
    uint64_t norms;            /* 2 per layer + final */
    uint64_t attention_layer, mlp_layer, expert_layer, norms_layer;
    uint64_t total, active;    /* active: parameters one token uses (MoE: k of E experts) */
    uint64_t non_embedding;    /* total - embedding - position - lm_head */
    double approx_12ld2;       /* 12 L d^2 */
} calc_params;

void calc_param_count(const calc_model *m, calc_params *p);

/* LoRA targets, a bit each. */
enum {
    CALC_LORA_Q = 1, CALC_LORA_K = 2, CALC_LORA_V = 4, CALC_LORA_O = 8, CALC_LORA_QKV = 16,
    CALC_LORA_GATE = 32, CALC_LORA_UP = 64, CALC_LORA_DOWN = 128, CALC_LORA_LM_HEAD = 256
};
/* "q,v", "all", Hugging Face names (q_proj, c_attn, w1, ...). Refuses a
 * target this model does not have (gate on a GELU MLP). */
int calc_lora_targets(const char *list, const calc_model *m, unsigned *mask, status_t *st);
/* Trainable parameters: r (in + out) per targeted matrix, per layer (per
 * expert for the MLP of a MoE). */
uint64_t calc_lora_params(const calc_model *m, int rank, unsigned mask);
/* "q,v" for a mask. */
void calc_lora_names(unsigned mask, char *buf, size_t n);

/* KV cache bytes per token: 2 L g hd Qkv. */
double calc_kv_bytes_per_token(const calc_model *m, double kv_bits);
/* Tokens a sequence at context S keeps (min(S, window)). */
double calc_kv_tokens(const calc_model *m, double S);

/* Experts one decode step of B tokens touches per layer, expected under
 * uniform routing: E (1 - (1 - k/E)^B); k at B = 1. */
double calc_experts_touched(const calc_model *m, double B);

/* One decode step (B sequences, S cached tokens each), split as
 * roofline_decode_cost splits it; identical to it for a GPT-2 shape.
 * weights: every parameter a step uses once, except a learned position
 * table (MoE: the experts the batch touches). */
void calc_decode_cost(const calc_model *m, double B, double S, double Q, double Qkv, step_cost *out);

/* Prefill of P tokens for B sequences; identical to roofline_prefill_cost
 * for a GPT-2 shape at Qkv = 4. */
void calc_prefill_cost(const calc_model *m, double B, double P, double Q, double Qkv, int all_logits,
                       int causal, step_cost *out);

/* Prefill FLOPs by where they go. */
typedef struct {
    double attn_proj;   /* q, k, v, o matrices */
    double mlp;         /* MLP or active experts, and the router */
    double attention;   /* scores and mix */
    double logits;      /* LM head */
    double other;       /* norms, activation, biases, residuals */
    double total;
} calc_flops_split;
void calc_prefill_split(const calc_model *m, double P, int all_logits, int causal, calc_flops_split *out);

/* Multiplications of one layer for one token with S cached (matmuls). */
typedef struct {
    double q, k, v, o, scores, mix, gate, up, down, router, total;
} calc_mults;
void calc_mults_per_layer(const calc_model *m, double S, calc_mults *out);

/* Hardware. Zero means unknown. */
typedef struct {
    char name[64];          /* preset key, "cpu", "machine" or "given" */
    char label[160];        /* human name */
    double memory_bytes;    /* per device */
    double bandwidth;       /* bytes/s per device */
    double flops;           /* FLOP/s per device at the chosen compute type */
    double flops_bf16, flops_fp8;
    char source[1200];      /* where the figures come from */
} calc_hardware;

extern const char *const CALC_HARDWARE_NAMES;
/* A preset; compute "bf16" or "fp8" picks its dense FLOP/s. */
int calc_hardware_by_name(const char *name, const char *compute, calc_hardware *hw, status_t *st);
/* DDR bandwidth, bytes/s: channels x 8 bytes x MT/s. */
double calc_ddr_bandwidth(double channels, double mts);

/* What the sheet is asked for. */
typedef struct {
    double bits, kv_bits;        /* per weight, per cached element */
    double batch, context, prompt;
    int lora_rank;
    unsigned lora_mask;
    double tokens;               /* training tokens; 0: compute-optimal */
    double mfu;                  /* for prefill and training time */
    double devices;
    int recompute;               /* training with full activation recomputation: 8 N D */
    int activations;             /* count activation traffic in decode bytes (predict's model) */
    int all_logits, causal;      /* prefill options as roofline_prefill_cost */
    double users;                /* 0: the batch */
    double tok_s_per_user;       /* 0: no rate target */
    double price_per_hour;       /* per device; 0: none */
} calc_inputs;

void calc_inputs_default(calc_inputs *in, const calc_model *m);

/* The sheet. NAN where the hardware needed is unknown. */
typedef struct {
    calc_params p;
    double weight_bytes;                 /* total parameters x bits / 8, rounded up */
    double train_memory_bytes, train_devices;
    double lora_parameters;
    double kv_bytes_per_token, kv_tokens, kv_bytes_per_sequence, kv_bytes;
    double max_sequences;                /* beside the weights on `devices` devices */
    int fits;                            /* weights + kv_bytes fit on `devices` */
    double flops_per_token, flops_per_token_2n;
    step_cost prefill;
    double prefill_flops;
    calc_mults mults;
    double train_tokens, compute_optimal_tokens, train_flops, train_time_s;
    step_cost decode;                    /* at batch, context */
    double decode_bytes;                 /* counted: without activations unless asked */
    double decode_step_s, decode_tok_s, intensity, ridge;
    int decode_compute_bound;
    double decode_tok_s_batch1;          /* B = 1, S = 0: the weights-only bound */
    double crossover_batch;              /* at S = 0; 0: none */
    double crossover_batch_at_context;   /* at S = context; 0: none */
    double ttft_s;
    double users, devices_needed, cost_per_million_tokens, serve_tok_s;
} calc_sheet;

void calc_compute(const calc_model *m, const calc_hardware *hw, const calc_inputs *in, calc_sheet *s);

/* The decode step's counted bytes and FLOPs at (B, S). */
void calc_decode_counted(const calc_model *m, const calc_inputs *in, double B, double S, double *bytes,
                         double *flops);
/* Smallest B whose decode step at S is compute-bound (FLOPs/C > bytes/M),
 * 0 if none up to 2^30. */
double calc_crossover(const calc_model *m, const calc_inputs *in, double S, double bandwidth, double flops);

#endif
