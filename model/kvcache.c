#include "kvcache.h"

#include "../kernels/bigalloc.h"

#include <stdlib.h>
#include <string.h>

uint64_t kv_bytes(const gpt2_config *c, int batch, int cap, wdtype dt) {
    return 2ull * (uint64_t)c->n_layer * (uint64_t)batch * (uint64_t)cap * (uint64_t)c->n_embd * wdtype_bytes(dt);
}

int kv_init(kv_cache *kv, const gpt2_config *c, int batch, int cap, wdtype dt, status_t *st) {
    memset(kv, 0, sizeof *kv);
    if (batch <= 0 || cap <= 0)
        return status_fail(st, ST_BAD_INPUT, "batch %d and KV capacity %d must be positive", batch, cap);
    if (cap > c->n_ctx)
        return status_fail(st, ST_BAD_INPUT,
                           "%d positions exceed the model's n_ctx %d: use fewer tokens or steps", cap, c->n_ctx);
    if (dt != WDT_F32 && dt != WDT_F16 && dt != WDT_BF16)
        return status_fail(st, ST_BAD_INPUT, "KV cache dtype %s: use f32, f16 or bf16", wdtype_name(dt));
    uint64_t bytes = kv_bytes(c, batch, cap, dt);
    int rc = mem_check(st, "the KV cache", bytes);
    if (rc) return rc;
    kv->n_layer = c->n_layer;
    kv->batch = batch;
    kv->n_head = c->n_head;
    kv->head_dim = config_head_dim(c);
    kv->cap = cap;
    kv->dt = dt;
    kv->elem = wdtype_bytes(dt);
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

void kv_store(const kv_cache *kv, void *block, int pos, const float *src) {
    const size_t hd = (size_t)kv->head_dim;
    if (kv->dt == WDT_F32)
        memcpy((float *)block + (size_t)pos * hd, src, hd * sizeof(float));
    else
        cvt_f32_to_h((uint16_t *)block + (size_t)pos * hd, src, hd, kv->dt);
}

void kv_fill_synthetic(kv_cache *kv, int len, uint64_t seed) {
    size_t blocks = (size_t)kv->n_layer * kv->batch * kv->n_head;
    size_t per = (size_t)len * kv->head_dim;
#pragma omp parallel for schedule(static)
    for (size_t blk = 0; blk < blocks; blk++) {
        uint64_t s = seed ^ (blk * 0x9e3779b97f4a7c15ull);
        char *k = (char *)kv->k + blk * (size_t)kv->cap * kv->head_dim * kv->elem;
        char *v = (char *)kv->v + blk * (size_t)kv->cap * kv->head_dim * kv->elem;
        for (size_t i = 0; i < per; i++) {
            s = s * 6364136223846793005ull + 1442695040888963407ull;
            float kf = (float)((int32_t)(s >> 32)) * (1.0f / 2147483648.0f);
            float vf = (float)((int32_t)(s >> 16 & 0xffffffff)) * (1.0f / 2147483648.0f);
            if (kv->dt == WDT_F32) {
                ((float *)(void *)k)[i] = kf;
                ((float *)(void *)v)[i] = vf;
            } else {
                cvt_f32_to_h((uint16_t *)(void *)k + i, &kf, 1, kv->dt);
                cvt_f32_to_h((uint16_t *)(void *)v + i, &vf, 1, kv->dt);
            }
        }
    }
    kv->len = len;
}
