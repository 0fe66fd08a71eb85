/* gpt2-bench calc: the sizing sheet (docs/calc.md) — parameters, memory, KV
 * cache, FLOPs, token rates, devices and cost of a transformer on given
 * hardware. Pure arithmetic: nothing is measured. */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "calc.h"
#include "cli.h"
#include "commands.h"
#include "decode_machine.h"

static const char *USAGE =
    "usage: gpt2-bench calc --model NAME | --config FILE\n"
    "         [--hardware NAME [--compute bf16|fp8] | --machine FILE | --cpu-channels N --cpu-mts MT/s]\n"
    "         [--bandwidth GB/s] [--flops GFLOP/s] [--memory GB]      (given by hand, or over a preset)\n"
    "         [--bits 16] [--kv-bits 16] [--batch 1] [--context S] [--prompt P]\n"
    "         [--attention causal|full] [--logits last|all] [--activations]\n"
    "         [--lora-rank 8] [--lora-targets q,v] [--tokens D] [--mfu 0.4] [--devices 1] [--recompute]\n"
    "         [--users U] [--tok-s-per-user R] [--price-per-hour USD] [--explain] [--json -]\n"
    "  The whole sizing sheet of one model on one kind of device: parameters (total, active, split,\n"
    "  12 L d^2), memory at any bits per weight, training memory (mixed-precision Adam, 16 B/param),\n"
    "  LoRA parameters, KV cache and the sequences that fit, FLOPs per token and per prefill,\n"
    "  training FLOPs, tokens and time, decode tokens/s, crossover batch, time to first token,\n"
    "  devices for a users x tokens/s target and cost per million tokens. --explain prints each\n"
    "  figure's formula and assumptions.\n"
    "  NAME: gpt2, gpt2-medium, gpt2-large, gpt2-xl, gpt3-175b, llama-7b, llama-13b, llama2-70b,\n"
    "  mixtral-8x7b. FILE: a Hugging Face config.json (gpt2, llama, mistral, mixtral) or its folder.\n"
    "  Hardware: a100-40gb, a100-80gb, h100-sxm, h100-pcie, h200, rtx-4090, l4 (datasheet memory,\n"
    "  bandwidth and dense FLOP/s). Defaults: context = the model's window, prompt = context,\n"
    "  --kv-bits 16 (32 when --bits is 32), tokens = 20 per parameter. D takes k, M, B, T suffixes.\n";

/* ---- explanations: the formula and assumptions of every figure ------------------------- */

typedef struct {
    const char *key, *text;
} explain_entry;

static const explain_entry EXPLAIN[] = {
    {"parameters_total",
     "exact: token table V*d + learned positions T*d + untied head V*d + L*(attention + MLP (or E experts + router "
     "d*E) + 2 norms) + final norm; attention d*h*hd + 2*d*g*hd + h*hd*d (+ biases); MLP GELU 2*d*f, SwiGLU 3*d*f "
     "(+ biases); LayerNorm 2d, RMSNorm d"},
    {"parameters_active", "parameters one token uses: the total less the E - k experts per layer it is not routed to"},
    {"parameters_12ld2",
     "12*L*d^2: 4d^2 attention + 8d^2 MLP per layer, exact only for multi-head attention with a 4d GELU MLP; no "
     "embeddings, biases or norms"},
    {"weight_bytes",
     "total parameters x bits / 8, rounded up: every parameter at the same bits (formats that keep embeddings, norms "
     "or block scales wider need a little more)"},
    {"train_memory_bytes",
     "16 bytes per parameter, mixed-precision Adam: 16-bit weights 2 + gradients 2 + fp32 master weights 4 + Adam m "
     "4 + v 4; activations, buffers and fragmentation not included"},
    {"train_devices", "ceil(train_memory_bytes / device memory): weights, gradients and optimiser state sharded "
                      "evenly (ZeRO-3 / FSDP), activations not counted"},
    {"lora_parameters",
     "rank x (in + out) per targeted matrix per layer (each expert's MLP matrices in a MoE): q d + h*hd, k and v "
     "d + g*hd, o h*hd + d, qkv d + (h + 2g)*hd, gate/up/down d + f, lm_head d + V"},
    {"kv_bytes_per_token", "2 (K and V) x L x g KV heads x hd x kv_bits / 8"},
    {"kv_bytes_per_sequence", "kv_bytes_per_token x min(context, sliding window)"},
    {"kv_bytes", "kv_bytes_per_sequence x batch"},
    {"max_sequences",
     "floor((devices x memory - weight_bytes) / kv_bytes_per_sequence): nothing kept back for activations, "
     "workspace or the framework"},
    {"flops_per_token",
     "forward FLOPs of one token with `context` cached: 2 x the matmul weights it uses (attention, k experts' or the "
     "MLP, router) + 2*V*d logits + 4*L*S*h*hd attention + elementwise (norms, activation, biases, residuals, "
     "softmax); 2 x active parameters beside it"},
    {"prefill_flops",
     "P-token prompt for B sequences: 2*B*P x matmul weights + 4*h*hd*L*B x query-key pairs (causal P^2/2, full P^2, "
     "window W: W*P - W^2/2) + 2*B*V*d logits at the last (or every) position + elementwise"},
    {"multiplications_per_layer",
     "one layer, one token with S cached: q d*h*hd, k and v d*g*hd each, o h*hd*d, scores and mix S*h*hd each, MLP "
     "d*f per matrix (x k experts), router d*E"},
    {"train_flops",
     "6*N*D: forward 2 and backward 4 FLOPs per active parameter per token; 8*N*D with --recompute (the forward "
     "again); attention's context term left out"},
    {"train_tokens", "--tokens when given, else the compute-optimal count"},
    {"compute_optimal_tokens", "20 tokens per parameter (Hoffmann et al. 2022, Chinchilla)"},
    {"train_time_s", "train_flops / (devices x dense peak FLOP/s x MFU); communication and stalls are inside the MFU"},
    {"bytes_per_step",
     "one decode step, B sequences with S cached: weights Q x every parameter except a learned position table (a "
     "MoE: the experts the batch touches, E(1 - (1 - k/E)^B) per layer) + KV read B*L*2*S*g*hd*Qkv + KV write "
     "B*L*2*g*hd*Qkv; activations (4 bytes per element per operator, predict's model) only with --activations"},
    {"flops_per_step", "B x the FLOPs of one token at S (flops_per_token)"},
    {"decode_tok_s",
     "B / max(bytes / (devices x M), FLOPs / (devices x C)): a bound; tensor parallel with no communication cost"},
    {"decode_tok_s_batch1", "the same at B = 1 with nothing cached: the ceiling on one stream's tokens/s"},
    {"crossover_batch",
     "smallest B with FLOPs/C > bytes/M at S = 0: about the ridge C/M for 16-bit weights, where a step does about B "
     "FLOPs per byte"},
    {"crossover_batch_at_context",
     "the same at S = context; none when the KV cache keeps decode memory-bound (attention does 2/Qkv FLOPs per KV "
     "byte whatever B)"},
    {"ttft_s",
     "max(prefill FLOPs / (devices x C x MFU), prefill bytes / (devices x M)): the first token of a B x P prefill"},
    {"devices_needed",
     "max(ceil((weights + users x KV per sequence) / memory), ceil(bytes(users) x rate / M), ceil(FLOPs(users) x "
     "rate / C)): tensor parallel with perfect scaling, every user at context S"},
    {"cost_per_million_tokens",
     "price per device-hour x devices / 3600 / tokens per second x 1e6 at full load: devices_needed serving the users "
     "when --tok-s-per-user is given, else --devices decoding --batch"},
};
#define N_EXPLAIN (int)(sizeof EXPLAIN / sizeof EXPLAIN[0])

static const char *explain_text(const char *key) {
    for (int i = 0; i < N_EXPLAIN; i++)
        if (strcmp(EXPLAIN[i].key, key) == 0) return EXPLAIN[i].text;
    return NULL;
}

/* ---- number formats ------------------------------------------------------------------- */

typedef struct {
    char s[96];
} fmtbuf;

static fmtbuf commas(double x) {
    fmtbuf b;
    if (!isfinite(x)) { snprintf(b.s, sizeof b.s, "-"); return b; }
    char raw[64];
    snprintf(raw, sizeof raw, "%.0f", fabs(x));
    size_t n = strlen(raw), j = 0;
    if (x < 0) b.s[j++] = '-';
    for (size_t i = 0; i < n && j + 2 < sizeof b.s; i++) {
        b.s[j++] = raw[i];
        if ((n - 1 - i) % 3 == 0 && i + 1 < n) b.s[j++] = ',';
    }
    b.s[j] = 0;
    return b;
}

/* 1234567 -> "1.23 M" with the unit. */
static fmtbuf si(double x, const char *unit) {
    fmtbuf b;
    static const char *const pre[] = {"", "k", "M", "G", "T", "P", "E"};
    if (!isfinite(x)) { snprintf(b.s, sizeof b.s, "-"); return b; }
    if (fabs(x) >= 1e21) { snprintf(b.s, sizeof b.s, "%.3e %s", x, unit); return b; }
    int i = 0;
    double v = x;
    while (fabs(v) >= 1000 && i < 6) { v /= 1000; i++; }
    snprintf(b.s, sizeof b.s, "%.*f %s%s", fabs(v) < 10 ? 3 : fabs(v) < 100 ? 2 : 1, v, pre[i], unit);
    return b;
}

static fmtbuf duration(double s) {
    fmtbuf b;
    if (!isfinite(s)) snprintf(b.s, sizeof b.s, "-");
    else if (s < 1e-3) snprintf(b.s, sizeof b.s, "%.3g us", s * 1e6);
    else if (s < 1) snprintf(b.s, sizeof b.s, "%.3g ms", s * 1e3);
    else if (s < 120) snprintf(b.s, sizeof b.s, "%.3g s", s);
    else if (s < 7200) snprintf(b.s, sizeof b.s, "%.3g min", s / 60);
    else if (s < 172800) snprintf(b.s, sizeof b.s, "%.3g h", s / 3600);
    else snprintf(b.s, sizeof b.s, "%.4g days", s / 86400);
    return b;
}

/* ---- flags ------------------------------------------------------------------------------ */

/* A positive count with an optional k, M, B (or G), T suffix. */
static int parse_count(const char *s, const char *flag, double *out, status_t *st) {
    char *end = NULL;
    double v = s ? strtod(s, &end) : 0;
    double mult = 1;
    if (end && *end) {
        switch (*end) {
        case 'k': case 'K': mult = 1e3; break;
        case 'M': mult = 1e6; break;
        case 'B': case 'G': mult = 1e9; break;
        case 'T': mult = 1e12; break;
        default: mult = 0;
        }
        if (mult && end[1]) mult = 0;
    }
    v *= mult;
    if (!s || !*s || end == s || !(v > 0) || !isfinite(v) || v > 1e18)
        return status_fail(st, ST_BAD_INPUT, "%s '%s': give a positive number such as 300e9 or 1.4T (k, M, B, T)",
                           flag, s ? s : "");
    *out = v;
    return ST_OK;
}

/* A number in (0, hi]. */
static int parse_pos(const char *s, const char *flag, double hi, double *out, status_t *st) {
    return cli_double(s, flag, hi, out, st);
}

static int parse_whole(const char *s, const char *flag, long lo, long hi, double *out, status_t *st) {
    long v;
    int rc = cli_int(s, flag, lo, hi, &v, st);
    if (!rc) *out = (double)v;
    return rc;
}

/* ---- JSON --------------------------------------------------------------------------------- */

static void jnum(cJSON *o, const char *key, double v) {
    if (isfinite(v)) cJSON_AddNumberToObject(o, key, v);
    else cJSON_AddNullToObject(o, key);
}

static const char *attention_kind(const calc_model *m) {
    return m->n_kv_head == m->n_head ? "multi-head" : m->n_kv_head == 1 ? "multi-query" : "grouped-query";
}

static const double SHARE_TOKENS[] = {1024, 4096, 16384, 65536};
#define N_SHARE (int)(sizeof SHARE_TOKENS / sizeof SHARE_TOKENS[0])

/* The prompts whose FLOP shares the sheet lists: fixed sizes and P. */
static int share_prompts(double P, double *out) {
    int n = 0, placed = 0;
    for (int i = 0; i < N_SHARE; i++) {
        if (!placed && P <= SHARE_TOKENS[i]) {
            if (P < SHARE_TOKENS[i] && P > 0) out[n++] = P;
            placed = 1;
        }
        out[n++] = SHARE_TOKENS[i];
    }
    if (!placed && P > 0) out[n++] = P;
    return n;
}

static cJSON *sheet_json(const calc_model *m, const calc_hardware *hw, const calc_inputs *in, const calc_sheet *s,
                         const char *compute, int explain) {
    cJSON *o = cJSON_CreateObject();
    const calc_params *p = &s->p;
    cJSON_AddStringToObject(o, "model", m->name);
    cJSON_AddStringToObject(o, "model_type", m->type);
    cJSON *a = cJSON_AddObjectToObject(o, "architecture");
    cJSON_AddNumberToObject(a, "n_layer", m->n_layer);
    cJSON_AddNumberToObject(a, "n_embd", m->n_embd);
    cJSON_AddNumberToObject(a, "n_head", m->n_head);
    cJSON_AddNumberToObject(a, "n_kv_head", m->n_kv_head);
    cJSON_AddNumberToObject(a, "head_dim", m->head_dim);
    cJSON_AddNumberToObject(a, "d_ff", m->d_ff);
    cJSON_AddNumberToObject(a, "vocab_size", m->vocab);
    cJSON_AddNumberToObject(a, "n_ctx", m->n_ctx);
    cJSON_AddStringToObject(a, "attention", attention_kind(m));
    cJSON_AddStringToObject(a, "positions", m->pos == CALC_POS_LEARNED ? "learned" : "rotary");
    cJSON_AddStringToObject(a, "norm", m->norm == CALC_NORM_LAYERNORM ? "layernorm" : "rmsnorm");
    cJSON_AddStringToObject(a, "mlp", m->mlp == CALC_MLP_GELU ? "gelu" : "swiglu");
    cJSON_AddBoolToObject(a, "lm_head_tied", m->tied);
    cJSON_AddBoolToObject(a, "attention_bias", m->attn_bias);
    cJSON_AddBoolToObject(a, "mlp_bias", m->mlp_bias);
    cJSON_AddNumberToObject(a, "experts", m->n_experts);
    cJSON_AddNumberToObject(a, "experts_per_token", m->top_k);
    cJSON_AddNumberToObject(a, "sliding_window", m->sliding_window);

    if (hw) {
        cJSON *h = cJSON_AddObjectToObject(o, "hardware");
        cJSON_AddStringToObject(h, "name", hw->name);
        cJSON_AddStringToObject(h, "label", hw->label);
        jnum(h, "memory_bytes", hw->memory_bytes > 0 ? hw->memory_bytes : NAN);
        jnum(h, "bandwidth_bytes_s", hw->bandwidth > 0 ? hw->bandwidth : NAN);
        jnum(h, "flops", hw->flops > 0 ? hw->flops : NAN);
        cJSON_AddStringToObject(h, "compute", compute);
        cJSON_AddStringToObject(h, "source", hw->source);
    } else {
        cJSON_AddNullToObject(o, "hardware");
    }
    cJSON *i = cJSON_AddObjectToObject(o, "inputs");
    cJSON_AddNumberToObject(i, "bits", in->bits);
    cJSON_AddNumberToObject(i, "kv_bits", in->kv_bits);
    cJSON_AddNumberToObject(i, "batch", in->batch);
    cJSON_AddNumberToObject(i, "context", in->context);
    cJSON_AddNumberToObject(i, "prompt", in->prompt);
    cJSON_AddStringToObject(i, "attention", in->causal ? "causal" : "full");
    cJSON_AddStringToObject(i, "logits", in->all_logits ? "all" : "last");
    cJSON_AddBoolToObject(i, "activations", in->activations);
    cJSON_AddNumberToObject(i, "lora_rank", in->lora_rank);
    char targets[96];
    calc_lora_names(in->lora_mask, targets, sizeof targets);
    cJSON_AddStringToObject(i, "lora_targets", targets);
    cJSON_AddNumberToObject(i, "mfu", in->mfu);
    cJSON_AddNumberToObject(i, "devices", in->devices);
    cJSON_AddBoolToObject(i, "recompute", in->recompute);
    cJSON_AddNumberToObject(i, "users", s->users);
    jnum(i, "tok_s_per_user", in->tok_s_per_user > 0 ? in->tok_s_per_user : NAN);
    jnum(i, "price_per_hour", in->price_per_hour > 0 ? in->price_per_hour : NAN);

    /* parameters */
    cJSON_AddNumberToObject(o, "parameters_total", (double)p->total);
    cJSON_AddNumberToObject(o, "parameters_active", (double)p->active);
    cJSON_AddNumberToObject(o, "parameters_non_embedding", (double)p->non_embedding);
    cJSON_AddNumberToObject(o, "parameters_12ld2", p->approx_12ld2);
    cJSON *ps = cJSON_AddObjectToObject(o, "parameters_split");
    cJSON_AddNumberToObject(ps, "embedding", (double)p->embedding);
    cJSON_AddNumberToObject(ps, "position", (double)p->position);
    cJSON_AddNumberToObject(ps, "lm_head", (double)p->lm_head);
    cJSON_AddNumberToObject(ps, "attention", (double)p->attention);
    cJSON_AddNumberToObject(ps, "mlp", (double)p->mlp);
    cJSON_AddNumberToObject(ps, "experts", (double)p->experts);
    cJSON_AddNumberToObject(ps, "experts_active", (double)p->experts_active);
    cJSON_AddNumberToObject(ps, "router", (double)p->router);
    cJSON_AddNumberToObject(ps, "norms", (double)p->norms);
    cJSON *pl = cJSON_AddObjectToObject(o, "parameters_per_layer");
    cJSON_AddNumberToObject(pl, "attention", (double)p->attention_layer);
    cJSON_AddNumberToObject(pl, "mlp", (double)p->mlp_layer);
    cJSON_AddNumberToObject(pl, "expert", (double)p->expert_layer);
    cJSON_AddNumberToObject(pl, "norms", (double)p->norms_layer);

    /* memory */
    cJSON_AddNumberToObject(o, "weight_bytes", s->weight_bytes);
    cJSON *wb = cJSON_AddObjectToObject(o, "weight_bytes_by_bits");
    static const int BITS[] = {32, 16, 8, 4};
    for (int b = 0; b < 4; b++) {
        char k[8];
        snprintf(k, sizeof k, "%d", BITS[b]);
        cJSON_AddNumberToObject(wb, k, ceil((double)p->total * BITS[b] / 8));
    }
    cJSON_AddNumberToObject(o, "train_memory_bytes", s->train_memory_bytes);
    jnum(o, "train_devices", s->train_devices);
    cJSON_AddNumberToObject(o, "lora_parameters", s->lora_parameters);
    cJSON_AddNumberToObject(o, "kv_bytes_per_token", s->kv_bytes_per_token);
    cJSON_AddNumberToObject(o, "kv_tokens_per_sequence", s->kv_tokens);
    cJSON_AddNumberToObject(o, "kv_bytes_per_sequence", s->kv_bytes_per_sequence);
    cJSON_AddNumberToObject(o, "kv_bytes", s->kv_bytes);
    jnum(o, "max_sequences", s->max_sequences);
    if (s->fits < 0) cJSON_AddNullToObject(o, "fits");
    else cJSON_AddBoolToObject(o, "fits", s->fits);

    /* FLOPs */
    cJSON_AddNumberToObject(o, "flops_per_token", s->flops_per_token);
    cJSON_AddNumberToObject(o, "flops_per_token_2n", s->flops_per_token_2n);
    cJSON_AddNumberToObject(o, "prefill_flops", s->prefill_flops);
    cJSON *pf = cJSON_AddObjectToObject(o, "prefill_flops_split");
    cJSON_AddNumberToObject(pf, "dense", s->prefill.dense_flops);
    cJSON_AddNumberToObject(pf, "attention", s->prefill.attention_flops);
    cJSON_AddNumberToObject(pf, "lm_head", s->prefill.lm_head_flops);
    cJSON_AddNumberToObject(pf, "other", s->prefill.other_flops);
    cJSON *sh = cJSON_AddArrayToObject(o, "prefill_shares");
    double prompts[N_SHARE + 1];
    int np = share_prompts(in->prompt, prompts);
    for (int k = 0; k < np; k++) {
        calc_flops_split fs;
        calc_prefill_split(m, prompts[k], in->all_logits, in->causal, &fs);
        cJSON *e = cJSON_CreateObject();
        cJSON_AddNumberToObject(e, "tokens", prompts[k]);
        cJSON_AddNumberToObject(e, "flops", fs.total);
        cJSON_AddNumberToObject(e, "attention_proj", fs.attn_proj / fs.total);
        cJSON_AddNumberToObject(e, "mlp", fs.mlp / fs.total);
        cJSON_AddNumberToObject(e, "attention", fs.attention / fs.total);
        cJSON_AddNumberToObject(e, "logits", fs.logits / fs.total);
        cJSON_AddNumberToObject(e, "other", fs.other / fs.total);
        cJSON_AddItemToArray(sh, e);
    }
    cJSON *mu = cJSON_AddObjectToObject(o, "multiplications_per_layer");
    cJSON_AddNumberToObject(mu, "q", s->mults.q);
    cJSON_AddNumberToObject(mu, "k", s->mults.k);
    cJSON_AddNumberToObject(mu, "v", s->mults.v);
    cJSON_AddNumberToObject(mu, "o", s->mults.o);
    cJSON_AddNumberToObject(mu, "scores", s->mults.scores);
    cJSON_AddNumberToObject(mu, "mix", s->mults.mix);
    cJSON_AddNumberToObject(mu, "gate", s->mults.gate);
    cJSON_AddNumberToObject(mu, "up", s->mults.up);
    cJSON_AddNumberToObject(mu, "down", s->mults.down);
    cJSON_AddNumberToObject(mu, "router", s->mults.router);
    cJSON_AddNumberToObject(mu, "total", s->mults.total);
    cJSON_AddNumberToObject(o, "train_flops", s->train_flops);
    cJSON_AddNumberToObject(o, "train_tokens", s->train_tokens);
    cJSON_AddNumberToObject(o, "compute_optimal_tokens", s->compute_optimal_tokens);
    jnum(o, "train_time_s", s->train_time_s);

    /* inference */
    cJSON_AddNumberToObject(o, "bytes_per_step", s->decode_bytes);
    cJSON *bs = cJSON_AddObjectToObject(o, "bytes_per_step_split");
    cJSON_AddNumberToObject(bs, "weights", s->decode.weights_bytes);
    cJSON_AddNumberToObject(bs, "kv_read", s->decode.kv_read_bytes);
    cJSON_AddNumberToObject(bs, "kv_write", s->decode.kv_write_bytes);
    cJSON_AddNumberToObject(bs, "activations", s->decode.act_bytes);
    cJSON_AddBoolToObject(o, "activations_counted", in->activations);
    cJSON_AddNumberToObject(o, "flops_per_step", s->decode.total_flops);
    cJSON *fsp = cJSON_AddObjectToObject(o, "flops_per_step_split");
    cJSON_AddNumberToObject(fsp, "dense", s->decode.dense_flops);
    cJSON_AddNumberToObject(fsp, "attention", s->decode.attention_flops);
    cJSON_AddNumberToObject(fsp, "lm_head", s->decode.lm_head_flops);
    cJSON_AddNumberToObject(fsp, "other", s->decode.other_flops);
    cJSON_AddNumberToObject(o, "intensity", s->intensity);
    jnum(o, "ridge", s->ridge);
    jnum(o, "decode_step_s", s->decode_step_s);
    jnum(o, "decode_tok_s", s->decode_tok_s);
    if (isfinite(s->decode_tok_s))
        cJSON_AddStringToObject(o, "bound", s->decode_compute_bound ? "compute" : "memory");
    else
        cJSON_AddNullToObject(o, "bound");
    jnum(o, "decode_tok_s_batch1", s->decode_tok_s_batch1);
    jnum(o, "crossover_batch", s->crossover_batch > 0 ? s->crossover_batch : NAN);
    jnum(o, "crossover_batch_at_context", s->crossover_batch_at_context > 0 ? s->crossover_batch_at_context : NAN);
    jnum(o, "ttft_s", s->ttft_s);
    jnum(o, "devices_needed", s->devices_needed);
    jnum(o, "serve_tok_s", s->serve_tok_s);
    jnum(o, "cost_per_million_tokens", s->cost_per_million_tokens);
    if (explain) {
        cJSON *e = cJSON_AddObjectToObject(o, "explain");
        for (int k = 0; k < N_EXPLAIN; k++) cJSON_AddStringToObject(e, EXPLAIN[k].key, EXPLAIN[k].text);
    }
    return o;
}

/* ---- the human table ---------------------------------------------------------------------- */

static void row(FILE *out, int explain, const char *key, const char *label, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

static void row(FILE *out, int explain, const char *key, const char *label, const char *fmt, ...) {
    char val[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(val, sizeof val, fmt, ap);
    va_end(ap);
    fprintf(out, "  %-34s %s\n", label, val);
    const char *t = explain && key ? explain_text(key) : NULL;
    if (t) fprintf(out, "  %-34s   = %s\n", "", t);
}

static void sheet_text(FILE *out, const calc_model *m, const calc_hardware *hw, const calc_inputs *in,
                       const calc_sheet *s, const char *compute, int ex) {
    const calc_params *p = &s->p;
    const double N = (double)p->total;
    fprintf(out, "%s (%s): L=%d d=%d heads=%d kv_heads=%d (%s, head dim %d) d_ff=%d %s %s %s positions, %s LM head, "
            "%s, V=%d, window %d", m->name, m->type, m->n_layer, m->n_embd, m->n_head, m->n_kv_head, attention_kind(m),
            m->head_dim, m->d_ff, m->mlp == CALC_MLP_GELU ? "GELU MLP" : "SwiGLU MLP",
            m->norm == CALC_NORM_LAYERNORM ? "LayerNorm" : "RMSNorm", m->pos == CALC_POS_LEARNED ? "learned" : "rotary",
            m->tied ? "tied" : "untied",
            m->attn_bias && m->mlp_bias ? "biases" : m->attn_bias ? "attention biases" : m->mlp_bias ? "MLP biases"
                                                                                                      : "no biases",
            m->vocab, m->n_ctx);
    if (m->n_experts) fprintf(out, ", %d experts (top %d)", m->n_experts, m->top_k);
    if (m->sliding_window) fprintf(out, ", sliding window %d", m->sliding_window);
    fputc('\n', out);
    if (hw) {
        fmtbuf mb = si(hw->memory_bytes, "B"), bw = si(hw->bandwidth, "B/s"), fl = si(hw->flops, "FLOP/s");
        fprintf(out, "hardware: %s: %s, %s, %s %s dense%s\n", hw->label, hw->memory_bytes > 0 ? mb.s : "memory ?",
                hw->bandwidth > 0 ? bw.s : "bandwidth ?", hw->flops > 0 ? fl.s : "FLOP/s ?", compute,
                in->devices > 1 ? " (per device)" : "");
        fprintf(out, "  source: %s\n", hw->source);
    } else {
        fprintf(out, "hardware: none given (--hardware, --machine, --cpu-channels or --bandwidth/--flops/--memory): "
                     "rates, fits and times left out\n");
    }
    char targets[96];
    calc_lora_names(in->lora_mask, targets, sizeof targets);
    fprintf(out, "asked: weights %g bits, KV %g bits, batch %g, context %g, prompt %g (%s attention, %s logits), "
            "devices %g, MFU %g%s\n\n", in->bits, in->kv_bits, in->batch, in->context, in->prompt,
            in->causal ? "causal" : "full", in->all_logits ? "all" : "last", in->devices, in->mfu,
            in->activations ? ", activation traffic counted" : "");

    fprintf(out, "Parameters\n");
    row(out, ex, "parameters_total", "total", "%s  (%s)", commas(N).s, si(N, "").s);
    row(out, ex, "parameters_active", "active per token", "%s", commas((double)p->active).s);
    row(out, 0, NULL, "  token embedding (V d)", "%s", commas((double)p->embedding).s);
    if (p->position) row(out, 0, NULL, "  learned positions (T d)", "%s", commas((double)p->position).s);
    row(out, 0, NULL, m->tied ? "  LM head" : "  LM head (untied, V d)", m->tied ? "%s (tied to the embedding)" : "%s",
        commas((double)p->lm_head).s);
    row(out, 0, NULL, "  attention", "%s  (%s per layer)", commas((double)p->attention).s,
        commas((double)p->attention_layer).s);
    if (m->n_experts) {
        row(out, 0, NULL, "  experts (all)", "%s  (%s per expert per layer)", commas((double)p->experts).s,
            commas((double)p->expert_layer).s);
        row(out, 0, NULL, "  experts (active)", "%s", commas((double)p->experts_active).s);
        row(out, 0, NULL, "  router", "%s", commas((double)p->router).s);
    } else {
        row(out, 0, NULL, "  MLP", "%s  (%s per layer)", commas((double)p->mlp).s, commas((double)p->mlp_layer).s);
    }
    row(out, 0, NULL, "  norms", "%s", commas((double)p->norms).s);
    row(out, 0, NULL, "  non-embedding", "%s", commas((double)p->non_embedding).s);
    row(out, ex, "parameters_12ld2", "12 L d^2 approximation", "%s  (%+.1f%% of total)", commas(p->approx_12ld2).s,
        100 * (p->approx_12ld2 / N - 1));

    fprintf(out, "\nMemory\n");
    row(out, ex, "weight_bytes", "weights", "%s at %g bits  (%s B)", si(s->weight_bytes, "B").s, in->bits,
        commas(s->weight_bytes).s);
    row(out, 0, NULL, "  at 32 / 16 / 8 / 4 bits", "%s / %s / %s / %s", si(4 * N, "B").s, si(2 * N, "B").s,
        si(N, "B").s, si(ceil(N / 2), "B").s);
    row(out, ex, "train_memory_bytes", "training, mixed-precision Adam", "%s (16 B/param)",
        si(s->train_memory_bytes, "B").s);
    if (isfinite(s->train_devices)) row(out, ex, "train_devices", "  devices for it", "%.0f", s->train_devices);
    row(out, ex, "lora_parameters", "LoRA trainable parameters", "%s at rank %d on %s  (%.4f%% of total)",
        commas(s->lora_parameters).s, in->lora_rank, targets, 100 * s->lora_parameters / N);
    row(out, ex, "kv_bytes_per_token", "KV cache per token", "%s B  (%.4g KiB) at %g bits",
        commas(s->kv_bytes_per_token).s, s->kv_bytes_per_token / 1024, in->kv_bits);
    row(out, ex, "kv_bytes_per_sequence", "KV cache per sequence", "%s at context %g%s",
        si(s->kv_bytes_per_sequence, "B").s, in->context, s->kv_tokens < in->context ? " (window-capped)" : "");
    row(out, ex, "kv_bytes", "KV cache for the batch", "%s for %g sequence%s", si(s->kv_bytes, "B").s, in->batch,
        in->batch > 1 ? "s" : "");
    if (isfinite(s->max_sequences))
        row(out, ex, "max_sequences", "sequences that fit beside weights", "%s on %g device%s%s",
            commas(s->max_sequences).s, in->devices, in->devices > 1 ? "s" : "",
            s->fits ? "" : "  (the batch asked does NOT fit)");

    fprintf(out, "\nFLOPs\n");
    row(out, ex, "flops_per_token", "forward per token", "%s at context %g  (2 N = %s)",
        si(s->flops_per_token, "FLOP").s, in->context, si(s->flops_per_token_2n, "FLOP").s);
    row(out, ex, "prefill_flops", "prefill", "%s for %g x %g tokens  (attention %.1f%%)",
        si(s->prefill_flops, "FLOP").s, in->batch, in->prompt, 100 * s->prefill.attention_flops / s->prefill_flops);
    double prompts[N_SHARE + 1];
    int np = share_prompts(in->prompt, prompts);
    fprintf(out, "  %-34s %8s %10s %8s %8s %8s %8s %8s\n", "  shares as the prompt grows", "tokens", "FLOP", "attn",
            "qkvo", "mlp", "logits", "other");
    for (int k = 0; k < np; k++) {
        calc_flops_split fs;
        calc_prefill_split(m, prompts[k], in->all_logits, in->causal, &fs);
        fmtbuf f = si(fs.total, "");
        fprintf(out, "  %-34s %8.0f %10s %7.1f%% %7.1f%% %7.1f%% %7.1f%% %7.1f%%\n", "", prompts[k], f.s,
                100 * fs.attention / fs.total, 100 * fs.attn_proj / fs.total, 100 * fs.mlp / fs.total,
                100 * fs.logits / fs.total, 100 * fs.other / fs.total);
    }
    const calc_mults *mu = &s->mults;
    row(out, ex, "multiplications_per_layer", "multiplications per layer", "%s per token at context %g",
        commas(mu->total).s, in->context);
    fprintf(out, "  %-34s q %s, k %s, v %s, o %s, scores %s, mix %s,\n", "", commas(mu->q).s, commas(mu->k).s,
            commas(mu->v).s, commas(mu->o).s, commas(mu->scores).s, commas(mu->mix).s);
    fprintf(out, "  %-34s %s%s%sup %s, down %s%s%s\n", "", mu->gate > 0 ? "gate " : "",
            mu->gate > 0 ? commas(mu->gate).s : "", mu->gate > 0 ? ", " : "", commas(mu->up).s, commas(mu->down).s,
            mu->router > 0 ? ", router " : "", mu->router > 0 ? commas(mu->router).s : "");

    fprintf(out, "\nTraining\n");
    row(out, ex, "compute_optimal_tokens", "compute-optimal tokens", "%s (20 per parameter)",
        si(s->compute_optimal_tokens, "").s);
    row(out, ex, "train_flops", "training FLOPs", "%.4g on %s tokens (%s N D)", s->train_flops,
        si(s->train_tokens, "").s, in->recompute ? "8" : "6");
    if (isfinite(s->train_time_s))
        row(out, ex, "train_time_s", "training time", "%s on %g device%s at MFU %g  (%s device-hours)",
            duration(s->train_time_s).s, in->devices, in->devices > 1 ? "s" : "", in->mfu,
            commas(s->train_time_s * in->devices / 3600).s);

    fprintf(out, "\nInference%s\n", hw ? "" : " (no hardware: rates left out)");
    fmtbuf wb = si(s->decode.weights_bytes, "B"), kb = si(s->decode.kv_read_bytes + s->decode.kv_write_bytes, "B");
    row(out, ex, "bytes_per_step", "bytes per decode step", "%s  (weights %s, KV %s, activations %s%s)",
        si(s->decode_bytes, "B").s, wb.s, kb.s, si(s->decode.act_bytes, "B").s,
        in->activations ? "" : " not counted");
    row(out, ex, "flops_per_step", "FLOPs per decode step", "%s  (%.3g FLOP/byte)", si(s->decode.total_flops, "FLOP").s,
        s->intensity);
    if (isfinite(s->decode_tok_s)) {
        row(out, ex, "decode_tok_s_batch1", "decode bound, batch 1", "%.4g tokens/s", s->decode_tok_s_batch1);
        row(out, ex, "decode_tok_s", "decode bound at the batch asked", "%.4g tokens/s (%.4g per sequence), %s-bound",
            s->decode_tok_s, s->decode_tok_s / in->batch, s->decode_compute_bound ? "compute" : "memory");
    }
    if (isfinite(s->crossover_batch)) {
        char a[64], b[64];
        snprintf(a, sizeof a, s->crossover_batch > 0 ? "%.0f" : "none", s->crossover_batch);
        snprintf(b, sizeof b, s->crossover_batch_at_context > 0 ? "%.0f" : "none", s->crossover_batch_at_context);
        row(out, ex, "crossover_batch", "compute-bound from batch", "%s with nothing cached (ridge %.4g FLOP/byte)", a,
            s->ridge);
        row(out, ex, "crossover_batch_at_context", "  at the context asked", "%s", b);
    }
    if (isfinite(s->ttft_s))
        row(out, ex, "ttft_s", "time to first token", "%s for %g x %g tokens at MFU %g", duration(s->ttft_s).s,
            in->batch, in->prompt, in->mfu);
    if (isfinite(s->devices_needed)) {
        char rate[64] = "";
        if (in->tok_s_per_user > 0) snprintf(rate, sizeof rate, " at %g tokens/s each", in->tok_s_per_user);
        row(out, ex, "devices_needed", "devices needed", "%.0f for %g user%s%s with their KV caches", s->devices_needed,
            s->users, s->users > 1 ? "s" : "", rate);
    }
    if (isfinite(s->cost_per_million_tokens))
        row(out, ex, "cost_per_million_tokens", "cost per million tokens", "%.4g at %g per device-hour (%.4g tokens/s)",
            s->cost_per_million_tokens, in->price_per_hour, s->serve_tok_s);
}

/* ---- the command ---------------------------------------------------------------------------- */

int cmd_calc(int argc, char **argv, FILE *out, status_t *st) {
    cli_flag fl[] = {
        {"--model", 1, 0},        {"--config", 1, 0},       {"--hardware", 1, 0},      {"--compute", 1, 0},
        {"--machine", 1, 0},      {"--cpu-channels", 1, 0}, {"--cpu-mts", 1, 0},       {"--bandwidth", 1, 0},
        {"--flops", 1, 0},        {"--memory", 1, 0},       {"--bits", 1, 0},          {"--kv-bits", 1, 0},
        {"--batch", 1, 0},        {"--context", 1, 0},      {"--prompt", 1, 0},        {"--attention", 1, 0},
        {"--logits", 1, 0},       {"--activations", 0, 0},  {"--lora-rank", 1, 0},     {"--lora-targets", 1, 0},
        {"--tokens", 1, 0},       {"--mfu", 1, 0},          {"--devices", 1, 0},       {"--recompute", 0, 0},
        {"--users", 1, 0},        {"--tok-s-per-user", 1, 0}, {"--price-per-hour", 1, 0}, {"--explain", 0, 0},
        {"--json", 1, 0},         {"--help", 0, 0}};
    const int nf = sizeof fl / sizeof fl[0];
    int rc = cli_parse(argc, argv, 1, fl, nf, "calc", st);
    if (rc) return rc;
#define GET(name) cli_get(fl, nf, name)
    if (GET("--help")) { fputs(USAGE, out); return ST_OK; }

    /* the model */
    calc_model m;
    if (GET("--model") && GET("--config"))
        return status_fail(st, ST_BAD_INPUT, "calc: give --model or --config, not both");
    if (!GET("--model") && !GET("--config"))
        return status_fail(st, ST_BAD_INPUT, "calc: give --model NAME (%s) or --config config.json", CALC_MODEL_NAMES);
    rc = GET("--config") ? calc_model_from_json_file(GET("--config"), &m, st)
                         : calc_model_by_name(GET("--model"), &m, st);
    if (rc) return rc;

    /* the hardware */
    calc_hardware hwv, *hw = NULL;
    memset(&hwv, 0, sizeof hwv);
    const char *compute = GET("--compute") ? GET("--compute") : "bf16";
    int sources = !!GET("--hardware") + !!GET("--machine") + !!(GET("--cpu-channels") || GET("--cpu-mts"));
    if (sources > 1)
        return status_fail(st, ST_BAD_INPUT, "calc: give one of --hardware, --machine or --cpu-channels/--cpu-mts "
                           "(--bandwidth, --flops and --memory may be added to any)");
    if (GET("--compute") && !GET("--hardware"))
        return status_fail(st, ST_BAD_INPUT, "calc: --compute picks a --hardware preset's FLOP/s: give --hardware NAME "
                           "(or --flops by hand)");
    if (GET("--hardware")) {
        if ((rc = calc_hardware_by_name(GET("--hardware"), compute, &hwv, st))) return rc;
        hw = &hwv;
    } else if (GET("--machine")) {
        record_machine mc;
        if ((rc = decode_machine_get(&mc, 0, GET("--machine"), NULL, 0, NULL, st))) return rc;
        snprintf(hwv.name, sizeof hwv.name, "machine");
        snprintf(hwv.label, sizeof hwv.label, "this machine, measured");
        hwv.bandwidth = mc.read_gbs * 1e9;
        hwv.flops = mc.peak_gflops * 1e9;
        snprintf(hwv.source, sizeof hwv.source, "%s: read_gbs %.4g, peak_gflops %.4g (gpt2-bench machine)",
                 GET("--machine"), mc.read_gbs, mc.peak_gflops);
        compute = "measured";
        hw = &hwv;
    } else if (GET("--cpu-channels") || GET("--cpu-mts")) {
        double ch = 0, mts = 0;
        if (!GET("--cpu-channels") || !GET("--cpu-mts"))
            return status_fail(st, ST_BAD_INPUT, "calc: CPU memory needs both --cpu-channels N and --cpu-mts MT/s "
                               "(e.g. 12 and 6000 for DDR5-6000)");
        if ((rc = parse_whole(GET("--cpu-channels"), "--cpu-channels", 1, 64, &ch, st)) ||
            (rc = parse_pos(GET("--cpu-mts"), "--cpu-mts", 100000, &mts, st)))
            return rc;
        snprintf(hwv.name, sizeof hwv.name, "cpu");
        snprintf(hwv.label, sizeof hwv.label, "CPU, %g channels x %g MT/s", ch, mts);
        hwv.bandwidth = calc_ddr_bandwidth(ch, mts);
        snprintf(hwv.source, sizeof hwv.source, "channels x 8 bytes x MT/s = %g x 8 x %g MT/s (theoretical peak)", ch,
                 mts);
        compute = "given";
        hw = &hwv;
    }
    if (GET("--bandwidth") || GET("--flops") || GET("--memory")) {
        double v;
        if (!hw) {
            hw = &hwv;
            snprintf(hwv.name, sizeof hwv.name, "given");
            snprintf(hwv.label, sizeof hwv.label, "given by hand");
            snprintf(hwv.source, sizeof hwv.source, "--bandwidth/--flops/--memory");
            compute = "given";
        } else {
            size_t n = strlen(hwv.source);
            snprintf(hwv.source + n, sizeof hwv.source - n, "; overridden by hand:%s%s%s",
                     GET("--bandwidth") ? " --bandwidth" : "", GET("--flops") ? " --flops" : "",
                     GET("--memory") ? " --memory" : "");
        }
        if (GET("--bandwidth")) {
            if ((rc = parse_pos(GET("--bandwidth"), "--bandwidth", 1e7, &v, st))) return rc;
            hwv.bandwidth = v * 1e9;
        }
        if (GET("--flops")) {
            if ((rc = parse_pos(GET("--flops"), "--flops", 1e10, &v, st))) return rc;
            hwv.flops = v * 1e9;
        }
        if (GET("--memory")) {
            if ((rc = parse_pos(GET("--memory"), "--memory", 1e7, &v, st))) return rc;
            hwv.memory_bytes = v * 1e9;
        }
    }

    /* what is asked */
    calc_inputs in;
    calc_inputs_default(&in, &m);
    if (GET("--bits") && (rc = parse_pos(GET("--bits"), "--bits", 64, &in.bits, st))) return rc;
    in.kv_bits = in.bits >= 32 ? 32 : 16;
    if (GET("--kv-bits") && (rc = parse_pos(GET("--kv-bits"), "--kv-bits", 64, &in.kv_bits, st))) return rc;
    if (GET("--batch") && (rc = parse_whole(GET("--batch"), "--batch", 1, 1L << 30, &in.batch, st))) return rc;
    if (GET("--context") && (rc = parse_whole(GET("--context"), "--context", 0, 1L << 30, &in.context, st))) return rc;
    in.prompt = in.context > 0 ? in.context : m.n_ctx;
    if (GET("--prompt") && (rc = parse_whole(GET("--prompt"), "--prompt", 1, 1L << 30, &in.prompt, st))) return rc;
    if (in.context > m.n_ctx || in.prompt > m.n_ctx)
        return status_fail(st, ST_BAD_INPUT, "calc: --%s %.0f is beyond %s's window of %d positions: use %d or less",
                           in.context > m.n_ctx ? "context" : "prompt", in.context > m.n_ctx ? in.context : in.prompt,
                           m.name, m.n_ctx, m.n_ctx);
    if (GET("--attention")) {
        if (strcmp(GET("--attention"), "causal") == 0) in.causal = 1;
        else if (strcmp(GET("--attention"), "full") == 0) in.causal = 0;
        else return status_fail(st, ST_BAD_INPUT, "calc: --attention %s: use causal or full", GET("--attention"));
    }
    if (GET("--logits")) {
        if (strcmp(GET("--logits"), "last") == 0) in.all_logits = 0;
        else if (strcmp(GET("--logits"), "all") == 0) in.all_logits = 1;
        else return status_fail(st, ST_BAD_INPUT, "calc: --logits %s: use last or all", GET("--logits"));
    }
    in.activations = GET("--activations") != NULL;
    in.recompute = GET("--recompute") != NULL;
    if (GET("--lora-rank")) {
        double r;
        if ((rc = parse_whole(GET("--lora-rank"), "--lora-rank", 1, 65536, &r, st))) return rc;
        in.lora_rank = (int)r;
    }
    if (GET("--lora-targets") && (rc = calc_lora_targets(GET("--lora-targets"), &m, &in.lora_mask, st))) return rc;
    if (GET("--tokens") && (rc = parse_count(GET("--tokens"), "--tokens", &in.tokens, st))) return rc;
    if (GET("--mfu") && (rc = parse_pos(GET("--mfu"), "--mfu", 1, &in.mfu, st))) return rc;
    if (GET("--devices") && (rc = parse_whole(GET("--devices"), "--devices", 1, 1L << 24, &in.devices, st))) return rc;
    if (GET("--users") && (rc = parse_whole(GET("--users"), "--users", 1, 1L << 30, &in.users, st))) return rc;
    if (GET("--tok-s-per-user") &&
        (rc = parse_pos(GET("--tok-s-per-user"), "--tok-s-per-user", 1e9, &in.tok_s_per_user, st)))
        return rc;
    if (GET("--price-per-hour") &&
        (rc = parse_pos(GET("--price-per-hour"), "--price-per-hour", 1e9, &in.price_per_hour, st)))
        return rc;
    const char *json = GET("--json");
    if (json && strcmp(json, "-") != 0) return status_fail(st, ST_BAD_INPUT, "calc: --json takes '-' (stdout)");

    calc_sheet s;
    calc_compute(&m, hw, &in, &s);
    if (json) {
        cJSON *o = sheet_json(&m, hw, &in, &s, compute, GET("--explain") != NULL);
        char *text = o ? cJSON_PrintUnformatted(o) : NULL;
        cJSON_Delete(o);
        if (!text) return status_fail(st, ST_RUNTIME, "calc: out of memory writing the JSON");
        fprintf(out, "%s\n", text);
        free(text);
    } else {
        sheet_text(out, &m, hw, &in, &s, compute, GET("--explain") != NULL);
    }
    return ST_OK;
#undef GET
}
