#include "roofline.h"

void roofline_decode_cost(const gpt2_config *c, int B, int S, double Q, double Qkv, step_cost *o) {
    const double d = c->n_embd, L = c->n_layer, V = c->vocab, h = c->n_head;
    o->weights_bytes = Q * (L * (12 * d * d + 13 * d) + V * d + 2 * d);
    o->kv_read_bytes = B * L * 2 * (double)S * d * Qkv;
    o->kv_write_bytes = B * L * 2 * d * Qkv;
    o->act_bytes = 4.0 * B * (36 * L * d + 3 * d + V);
    o->total_bytes = o->weights_bytes + o->kv_read_bytes + o->kv_write_bytes + o->act_bytes;
    o->dense_flops = 2.0 * B * L * 12 * d * d;
    o->attention_flops = 4.0 * B * L * (double)S * d;
    o->lm_head_flops = 2.0 * B * V * d;
    /* per layer: 2 LayerNorms ~8d each, GELU ~8 per element of 4d, biases
     * 9d, residuals 2d, softmax ~5 per score over h (S+1); plus ln_f */
    o->other_flops = B * (L * (16 * d + 32 * d + 9 * d + 2 * d + 5 * h * (S + 1.0)) + 8 * d);
    o->total_flops = o->dense_flops + o->attention_flops + o->lm_head_flops + o->other_flops;
}

void roofline_decode_op_cost(const gpt2_config *c, int B, int S, double Q, double Qkv, gpt2_op op,
                             double *bytes, double *flops) {
    const double d = c->n_embd, L = c->n_layer, V = c->vocab, h = c->n_head, b = B;
    const double a = 4.0; /* bytes per activation */
    double by = 0, fl = 0;
    switch (op) {
    case OP_QKV: by = Q * L * (3 * d * d + 3 * d) + a * b * L * 4 * d; fl = 2 * b * L * 3 * d * d + b * L * 3 * d; break;
    case OP_ATTENTION:
        by = b * L * 2 * (double)S * d * Qkv + a * b * L * 2 * d;
        fl = 4 * b * L * (double)S * d + b * L * 5 * h * (S + 1.0);
        break;
    case OP_ATTN_PROJ: by = Q * L * (d * d + d) + a * b * L * 2 * d; fl = 2 * b * L * d * d + b * L * d; break;
    case OP_FC: by = Q * L * (4 * d * d + 4 * d) + a * b * L * 5 * d; fl = 2 * b * L * 4 * d * d + b * L * 4 * d; break;
    case OP_GELU: by = a * b * L * 8 * d; fl = b * L * 32 * d; break;
    case OP_FC_PROJ: by = Q * L * (4 * d * d + d) + a * b * L * 5 * d; fl = 2 * b * L * 4 * d * d + b * L * d; break;
    case OP_LAYERNORM: by = Q * (L * 4 * d + 2 * d) + a * b * (L * 4 * d + 2 * d); fl = b * (L * 16 * d + 8 * d); break;
    case OP_LM_HEAD: by = Q * V * d + a * b * (d + V); fl = 2 * b * V * d; break;
    case OP_OTHER: /* embedding, K/V append, residual adds */
        by = b * L * 2 * d * Qkv + a * b * L * 6 * d;
        fl = b * L * 2 * d;
        break;
    case OP_ARGMAX: /* outside the analytic model: it reads the B x V logits lm_head has just written */
    default: break;
    }
    *bytes = by;
    *flops = fl;
}

void roofline_prefill_cost(const gpt2_config *c, int B, int P, double Q, int all_logits, int causal,
                           step_cost *o) {
    const double d = c->n_embd, L = c->n_layer, V = c->vocab, p = P, b = B;
    o->weights_bytes = Q * (L * (12 * d * d + 13 * d) + V * d + 2 * d);
    o->kv_read_bytes = 0;
    o->kv_write_bytes = b * L * 2 * p * d * 4;
    o->act_bytes = 4.0 * b * p * (36 * L * d + 2 * d) + 4.0 * b * (all_logits ? p : 1) * V;
    o->total_bytes = o->weights_bytes + o->kv_write_bytes + o->act_bytes;
    o->dense_flops = 2.0 * b * p * L * 12 * d * d;
    o->attention_flops = (causal ? 2.0 : 4.0) * b * L * p * p * d;
    o->lm_head_flops = 2.0 * b * (all_logits ? p : 1) * V * d;
    o->other_flops = b * p * (L * 59 * d + 8 * d);
    o->total_flops = o->dense_flops + o->attention_flops + o->lm_head_flops + o->other_flops;
}

void roofline_predict(const step_cost *cost, int B, const roof_ceilings *roof, roof_prediction *o) {
    o->t_memory_s = cost->total_bytes / (roof->bw_gbs * 1e9);
    o->t_compute_s = cost->total_flops / (roof->peak_gflops * 1e9);
    o->compute_bound = o->t_compute_s > o->t_memory_s;
    o->t_s = o->compute_bound ? o->t_compute_s : o->t_memory_s;
    o->tok_s = B / o->t_s;
    o->intensity = cost->total_flops / cost->total_bytes;
    o->ridge = roof->peak_gflops / roof->bw_gbs;
}

int roofline_crossover_batch(const gpt2_config *c, int S, double Q, double Qkv, const roof_ceilings *roof) {
    for (int B = 1; B <= (1 << 20); B = B < 64 ? B + 1 : B + B / 16) {
        step_cost cost;
        roof_prediction p;
        roofline_decode_cost(c, B, S, Q, Qkv, &cost);
        roofline_predict(&cost, B, roof, &p);
        if (p.compute_bound) return B;
    }
    return 0;
}
