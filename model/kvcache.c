#include "kvcache.h"

#include "../kernels/bigalloc.h"

#include <stdlib.h>
#include <string.h>

uint64_t kv_bytes(const gpt2_config *c, int batch, int cap) {
    return 2ull * (uint64_t)c->n_layer * (uint64_t)batch * (uint64_t)cap * (uint64_t)c->n_embd * sizeof(float);
}

int kv_init(kv_cache *kv, const gpt2_config *c, int batch, int cap, status_t *st) {
    memset(kv, 0, sizeof *kv);
    if (batch <= 0 || cap <= 0)
        return status_fail(st, ST_BAD_INPUT, "batch %d and KV capacity %d must be positive", batch, cap);
    if (cap > c->n_ctx)
        return status_fail(st, ST_BAD_INPUT,
                           "%d positions exceed the model's n_ctx %d: use fewer tokens or steps", cap, c->n_ctx);
    uint64_t bytes = kv_bytes(c, batch, cap);
    int rc = mem_check(st, "the KV cache", bytes);
    if (rc) return rc;
    kv->n_layer = c->n_layer;
    kv->batch = batch;
    kv->n_head = c->n_head;
    kv->head_dim = config_head_dim(c);
    kv->cap = cap;
    size_t half = (size_t)(bytes / 2);
    kv->k = big_alloc(half);
    kv->v = big_alloc(half);
    if (!kv->k || !kv->v) {
        kv_free(kv);
        return status_fail(st, ST_RUNTIME, "out of memory allocating a %.1f MiB KV cache", bytes / 1048576.0);
    }
    return ST_OK;
}

void kv_free(kv_cache *kv) {
    free(kv->k);
    free(kv->v);
    memset(kv, 0, sizeof *kv);
}

void kv_fill_synthetic(kv_cache *kv, int len, uint64_t seed) {
    size_t blocks = (size_t)kv->n_layer * kv->batch * kv->n_head;
    size_t per = (size_t)len * kv->head_dim;
#pragma omp parallel for schedule(static)
    for (size_t blk = 0; blk < blocks; blk++) {
        uint64_t s = seed ^ (blk * 0x9e3779b97f4a7c15ull);
        float *k = kv->k + blk * (size_t)kv->cap * kv->head_dim;
        float *v = kv->v + blk * (size_t)kv->cap * kv->head_dim;
        for (size_t i = 0; i < per; i++) {
            s = s * 6364136223846793005ull + 1442695040888963407ull;
            k[i] = (float)((int32_t)(s >> 32)) * (1.0f / 2147483648.0f);
            v[i] = (float)((int32_t)(s >> 16 & 0xffffffff)) * (1.0f / 2147483648.0f);
        }
    }
    kv->len = len;
}
