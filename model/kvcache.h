/* kvcache: the keys and values of B sequences, all at the same length.
 * Layout per layer, sequence and head, so one head's history is contiguous:
 *   k, v: (L, B, h, cap, hd) float32. */
#ifndef GR_KVCACHE_H
#define GR_KVCACHE_H

#include <stdint.h>

#include "config.h"
#include "status.h"

typedef struct {
    int n_layer, batch, n_head, head_dim;
    int cap;   /* positions allocated per sequence */
    int len;   /* positions filled (same for every sequence) */
    float *k, *v;
} kv_cache;

uint64_t kv_bytes(const gpt2_config *c, int batch, int cap);

/* Checks memory before allocating; cap must not exceed n_ctx. */
int kv_init(kv_cache *kv, const gpt2_config *c, int batch, int cap, status_t *st);
void kv_free(kv_cache *kv);

/* Start of the (cap, hd) block for (layer, seq, head). */
static inline float *kv_k(const kv_cache *kv, int l, int b, int h) {
    return kv->k + ((((size_t)l * kv->batch + b) * kv->n_head + h) * kv->cap) * kv->head_dim;
}
static inline float *kv_v(const kv_cache *kv, int l, int b, int h) {
    return kv->v + ((((size_t)l * kv->batch + b) * kv->n_head + h) * kv->cap) * kv->head_dim;
}

/* Fills every sequence to `len` positions with seeded synthetic K/V (a
 * decode step's cost does not depend on the values). */
void kv_fill_synthetic(kv_cache *kv, int len, uint64_t seed);

#endif
