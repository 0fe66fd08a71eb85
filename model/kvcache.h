/* kvcache: the keys and values of B sequences, all at the same length.
 * Layout per layer, sequence and head, so one head's history is contiguous:
 *   k, v: (L, B, h, cap, hd) elements of dt (f32, or f16 / bf16 bits). */
#ifndef GR_KVCACHE_H
#define GR_KVCACHE_H

#include <stdint.h>

#include "../kernels/gemm_lowp.h"
#include "config.h"
#include "status.h"

typedef struct {
    int n_layer, batch, n_head, head_dim;
    int cap;       /* positions allocated per sequence */
    int len;       /* positions filled (same for every sequence) */
    wdtype dt;     /* WDT_F32, WDT_F16 or WDT_BF16 */
    size_t elem;   /* bytes per element */
    void *k, *v;
} kv_cache;

uint64_t kv_bytes(const gpt2_config *c, int batch, int cap, wdtype dt);

/* Checks memory before allocating; cap must not exceed n_ctx; dt f32, f16
 * or bf16. */
int kv_init(kv_cache *kv, const gpt2_config *c, int batch, int cap, wdtype dt, status_t *st);
void kv_free(kv_cache *kv);

/* Start of the (cap, hd) block for (layer, seq, head): float * for f32,
 * uint16_t * for f16/bf16. */
static inline void *kv_block(const kv_cache *kv, const void *base, int l, int b, int h) {
    return (char *)base + ((((size_t)l * kv->batch + b) * kv->n_head + h) * kv->cap) * kv->head_dim * kv->elem;
}
static inline void *kv_k(const kv_cache *kv, int l, int b, int h) { return kv_block(kv, kv->k, l, b, h); }
static inline void *kv_v(const kv_cache *kv, int l, int b, int h) { return kv_block(kv, kv->v, l, b, h); }

/* Writes hd values at position pos of a (cap, hd) block, converting. */
void kv_store(const kv_cache *kv, void *block, int pos, const float *src);

/* Fills every sequence to `len` positions with seeded synthetic K/V (a
 * decode step's cost does not depend on the values). */
void kv_fill_synthetic(kv_cache *kv, int len, uint64_t seed);

#endif
