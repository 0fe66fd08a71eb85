/* forward: GPT-2 over B sequences that share one KV cache length.
 * A call feeds T new tokens per sequence (T = 1: one batched decode step;
 * T > 1: prefill, GEMMs over B*T rows, causal attention) at positions
 * kv.len .. kv.len+T-1, appends their K/V and returns logits.
 * Block (pre-LN): x += proj(attn(LN1(x))); x += fc_proj(gelu(fc(LN2(x)))). */
#ifndef GR_FORWARD_H
#define GR_FORWARD_H

#include "../kernels/kernels.h" /* argmax_f32 */
#include "kvcache.h"
#include "weights.h"

typedef enum {
    OP_QKV, OP_ATTENTION, OP_ATTN_PROJ, OP_FC, OP_GELU, OP_FC_PROJ, OP_LAYERNORM, OP_LM_HEAD, OP_OTHER,
    OP_ARGMAX, /* the greedy next token over the B x V logits: the decode loop's, not gpt2_forward's */
    OP_COUNT
} gpt2_op;

extern const char *const GPT2_OP_NAMES[OP_COUNT];

typedef struct {
    double ns[OP_COUNT];  /* accumulated wall time per operator */
} gpt2_profile;

typedef struct {
    int batch;       /* B */
    int max_tokens;  /* T per call at most; rows R = B * T */
    float *x;        /* (R, d) residual stream */
    float *xn;       /* (R, d) LayerNorm output */
    float *qkv;      /* (R, 3d) */
    float *att;      /* (R, d) attention output before projection */
    float *tmp;      /* (R, d) projection output */
    float *h;        /* (R, 4d) MLP hidden */
    float *scratch;  /* (threads, kv cap) attention scores */
    int n_scratch;
    int *tok_rows, *pos_rows; /* (R) */
    kv_cache kv;
    gpt2_profile *prof; /* NULL: no timing */
} gpt2_state;

/* Bytes gpt2_state_init will allocate (activations + KV cache). */
uint64_t gpt2_state_bytes(const gpt2_config *c, int batch, int max_tokens, int kv_cap, int threads);
uint64_t gpt2_state_bytes_kv(const gpt2_config *c, int batch, int max_tokens, int kv_cap, int threads, wdtype kv_dt);

/* A float32 KV cache; _kv: f32, f16 or bf16. */
int gpt2_state_init(gpt2_state *s, const gpt2_config *c, int batch, int max_tokens, int kv_cap, status_t *st);
int gpt2_state_init_kv(gpt2_state *s, const gpt2_config *c, int batch, int max_tokens, int kv_cap, wdtype kv_dt,
                       status_t *st);
void gpt2_state_free(gpt2_state *s);

typedef enum { LOGITS_NONE, LOGITS_LAST, LOGITS_ALL } gpt2_logits_mode;

/* tokens: (B, T) row-major ids. logits: (B, V) for LOGITS_LAST, (B, T, V)
 * for LOGITS_ALL. Refuses tokens outside the vocabulary and positions past
 * the cache (ST_BAD_INPUT). */
int gpt2_forward(const gpt2_model *m, gpt2_state *s, const int *tokens, int T, float *logits,
                 gpt2_logits_mode mode, status_t *st);


#endif
