#include "forward.h"

#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../kernels/kernels.h"

const char *const GPT2_OP_NAMES[OP_COUNT] = {"qkv",       "attention", "attn_proj", "fc",    "gelu",
                                             "fc_proj",   "layernorm", "lm_head",   "other", "argmax"};

static inline double now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e9 + ts.tv_nsec;
}

/* Times the statement into prof->ns[op] when profiling. */
#define TIMED(s, op, stmt)                                   \
    do {                                                     \
        double t0_ = (s)->prof ? now_ns() : 0;               \
        stmt;                                                \
        if ((s)->prof) (s)->prof->ns[op] += now_ns() - t0_;  \
    } while (0)

uint64_t gpt2_state_bytes_kv(const gpt2_config *c, int batch, int max_tokens, int kv_cap, int threads, wdtype kv_dt) {
    uint64_t R = (uint64_t)batch * max_tokens, d = (uint64_t)c->n_embd;
    return R * d * 4 * (1 + 1 + 3 + 1 + 1 + 4) + (uint64_t)threads * kv_cap * 4 + R * 8 +
           kv_bytes(c, batch, kv_cap, kv_dt);
}

uint64_t gpt2_state_bytes(const gpt2_config *c, int batch, int max_tokens, int kv_cap, int threads) {
    return gpt2_state_bytes_kv(c, batch, max_tokens, kv_cap, threads, WDT_F32);
}

void gpt2_state_free(gpt2_state *s) {
    free(s->x);
    free(s->xn);
    free(s->qkv);
    free(s->att);
    free(s->tmp);
    free(s->h);
    free(s->scratch);
    free(s->tok_rows);
    free(s->pos_rows);
    kv_free(&s->kv);
    memset(s, 0, sizeof *s);
}

static float *alloc_f32(size_t n) {
    void *p = NULL;
    return posix_memalign(&p, 64, (n ? n : 1) * sizeof(float)) ? NULL : p;
}

int gpt2_state_init(gpt2_state *s, const gpt2_config *c, int batch, int max_tokens, int kv_cap, status_t *st) {
    return gpt2_state_init_kv(s, c, batch, max_tokens, kv_cap, WDT_F32, st);
}

int gpt2_state_init_kv(gpt2_state *s, const gpt2_config *c, int batch, int max_tokens, int kv_cap, wdtype kv_dt,
                       status_t *st) {
    memset(s, 0, sizeof *s);
    if (batch <= 0 || max_tokens <= 0)
        return status_fail(st, ST_BAD_INPUT, "batch %d and tokens %d must be positive", batch, max_tokens);
    if (kv_cap > c->n_ctx)
        return status_fail(st, ST_BAD_INPUT,
                           "%d positions exceed the model's n_ctx %d: use fewer tokens or steps", kv_cap,
                           c->n_ctx);
    int threads = omp_get_max_threads();
    int rc = mem_check(st, "activations and KV cache",
                       gpt2_state_bytes_kv(c, batch, max_tokens, kv_cap, threads, kv_dt));
    if (rc) return rc;
    size_t R = (size_t)batch * max_tokens, d = (size_t)c->n_embd;
    s->batch = batch;
    s->max_tokens = max_tokens;
    s->x = alloc_f32(R * d);
    s->xn = alloc_f32(R * d);
    s->qkv = alloc_f32(R * 3 * d);
    s->att = alloc_f32(R * d);
    s->tmp = alloc_f32(R * d);
    s->h = alloc_f32(R * 4 * d);
    s->n_scratch = threads;
    s->scratch = alloc_f32((size_t)threads * kv_cap);
    s->tok_rows = malloc(R * sizeof(int));
    s->pos_rows = malloc(R * sizeof(int));
    if (!s->x || !s->xn || !s->qkv || !s->att || !s->tmp || !s->h || !s->scratch || !s->tok_rows ||
        !s->pos_rows) {
        gpt2_state_free(s);
        return status_fail(st, ST_RUNTIME, "out of memory for activations");
    }
    if ((rc = kv_init(&s->kv, c, batch, kv_cap, kv_dt, st))) {
        gpt2_state_free(s);
        return rc;
    }
    return ST_OK;
}

/* y: (R, N) = x: (R, K) @ W + b, through the packed small-M kernel when the
 * model has one and R is small, else OpenBLAS on the stored layout. */
static void dense(const gpt2_model *m, float *y, const float *x, const float *w, const packed_lw *pw,
                  const float *b, int R, int K, int N) {
    if (m->packed && (R <= m->packed_max_rows || m->packed_dtype != WDT_F32))
        linear_lw(y, x, pw, b, R);
    else
        linear_f32(y, x, w, b, R, K, N);
}

/* Appends the K and V columns of qkv rows to the cache at positions
 * len..len+T-1. qkv: (B*T, 3d). */
static void kv_append(kv_cache *kv, int l, const float *qkv, int B, int T, int d) {
    const int H = kv->n_head, hd = kv->head_dim;
    for (int b = 0; b < B; b++)
        for (int t = 0; t < T; t++) {
            const float *row = qkv + ((size_t)b * T + t) * 3 * d;
            for (int h = 0; h < H; h++) {
                kv_store(kv, kv_k(kv, l, b, h), kv->len + t, row + d + h * hd);
                kv_store(kv, kv_v(kv, l, b, h), kv->len + t, row + 2 * d + h * hd);
            }
        }
}

/* att: (B*T, d) = causal attention of every (sequence, head). */
static void attention_layer(gpt2_state *s, int l, int B, int T, int d) {
    kv_cache *kv = &s->kv;
    const int H = kv->n_head, hd = kv->head_dim, p0 = kv->len;
    const float scale = 1.0f / sqrtf((float)hd);
    /* never more threads than scratch rows made at gpt2_state_init, nor
     * than the program's thread count */
    const int nt = omp_get_max_threads() < s->n_scratch ? omp_get_max_threads() : s->n_scratch;
#pragma omp parallel for schedule(static) collapse(2) num_threads(nt)
    for (int b = 0; b < B; b++)
        for (int h = 0; h < H; h++) {
            float *scratch = s->scratch + (size_t)omp_get_thread_num() * kv->cap;
            float *out = s->att + (size_t)b * T * d + h * hd;
            const float *q = s->qkv + (size_t)b * T * 3 * d + h * hd;
            if (kv->dt == WDT_F32) {
                attn_causal_head_f32(out, d, q, 3 * d, kv_k(kv, l, b, h), kv_v(kv, l, b, h), p0, T, hd, scale,
                                     scratch);
            } else { /* half-precision cache: row t attends to positions 0..p0+t */
                for (int t = 0; t < T; t++)
                    attn_decode_head_h(out + (size_t)t * d, q + (size_t)t * 3 * d, kv_k(kv, l, b, h),
                                       kv_v(kv, l, b, h), p0 + t + 1, hd, scale, scratch, kv->dt);
            }
        }
}

int gpt2_forward(const gpt2_model *m, gpt2_state *s, const int *tokens, int T, float *logits,
                 gpt2_logits_mode mode, status_t *st) {
    const gpt2_config *c = &m->cfg;
    const int B = s->batch, d = c->n_embd, V = c->vocab, R = B * T;
    if (T <= 0 || T > s->max_tokens)
        return status_fail(st, ST_BAD_INPUT, "%d tokens per sequence in one call; this state takes 1..%d", T,
                           s->max_tokens);
    if (s->kv.len + T > s->kv.cap)
        return status_fail(st, ST_BAD_INPUT,
                           "position %d is past the %d positions allowed (n_ctx %d): use fewer tokens",
                           s->kv.len + T, s->kv.cap, c->n_ctx);
    for (int r = 0; r < R; r++) {
        if (tokens[r] < 0 || tokens[r] >= V)
            return status_fail(st, ST_BAD_INPUT, "token id %d is outside the vocabulary 0..%d", tokens[r], V - 1);
        s->tok_rows[r] = tokens[r];
        s->pos_rows[r] = s->kv.len + r % T;
    }
    TIMED(s, OP_OTHER, embed_f32(s->x, m->wte, m->wpe, s->tok_rows, s->pos_rows, R, d));
    for (int l = 0; l < c->n_layer; l++) {
        const gpt2_layer *w = &m->layers[l];
        const gpt2_layer_packed *pk = m->packed ? &m->packed[l] : NULL;
        TIMED(s, OP_LAYERNORM, layernorm_f32(s->xn, s->x, w->ln1_w, w->ln1_b, R, d, c->ln_eps));
        TIMED(s, OP_QKV, dense(m, s->qkv, s->xn, w->qkv_w, pk ? &pk->qkv : NULL, w->qkv_b, R, d, 3 * d));
        TIMED(s, OP_OTHER, kv_append(&s->kv, l, s->qkv, B, T, d));
        TIMED(s, OP_ATTENTION, attention_layer(s, l, B, T, d));
        TIMED(s, OP_ATTN_PROJ, dense(m, s->tmp, s->att, w->attn_proj_w, pk ? &pk->attn_proj : NULL, w->attn_proj_b, R, d, d));
        TIMED(s, OP_OTHER, add_f32(s->x, s->tmp, (size_t)R * d));
        TIMED(s, OP_LAYERNORM, layernorm_f32(s->xn, s->x, w->ln2_w, w->ln2_b, R, d, c->ln_eps));
        TIMED(s, OP_FC, dense(m, s->h, s->xn, w->fc_w, pk ? &pk->fc : NULL, w->fc_b, R, d, 4 * d));
        TIMED(s, OP_GELU, gelu_f32(s->h, (size_t)R * 4 * d));
        TIMED(s, OP_FC_PROJ, dense(m, s->tmp, s->h, w->fc_proj_w, pk ? &pk->fc_proj : NULL, w->fc_proj_b, R, 4 * d, d));
        TIMED(s, OP_OTHER, add_f32(s->x, s->tmp, (size_t)R * d));
    }
    s->kv.len += T;
    if (mode == LOGITS_NONE) return ST_OK;
    int rows = R;
    const float *src = s->x;
    if (mode == LOGITS_LAST && T > 1) { /* gather each sequence's last row */
        for (int b = 0; b < B; b++)
            memcpy(s->tmp + (size_t)b * d, s->x + ((size_t)b * T + T - 1) * d, (size_t)d * sizeof(float));
        rows = B;
        src = s->tmp;
    }
    TIMED(s, OP_LAYERNORM, layernorm_f32(s->xn, src, m->lnf_w, m->lnf_b, rows, d, c->ln_eps));
    if (m->packed && (rows <= m->packed_max_rows || m->packed_dtype != WDT_F32))
        TIMED(s, OP_LM_HEAD, linear_lw(logits, s->xn, &m->lm_head_packed, NULL, rows));
    else
        TIMED(s, OP_LM_HEAD, linear_nt_f32(logits, s->xn, m->lm_head, rows, d, V));
    return ST_OK;
}
