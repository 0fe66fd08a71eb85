#include "weights.h"

#include "../kernels/bigalloc.h"

#include <errno.h>
#include <math.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

static float *own_alloc(gpt2_model *m, uint64_t n_floats) {
    if (m->n_owned == m->cap_owned) {
        int cap = m->cap_owned ? 2 * m->cap_owned : 64;
        float **o = realloc(m->owned, (size_t)cap * sizeof *o);
        if (!o) return NULL;
        m->owned = o;
        m->cap_owned = cap;
    }
    float *p = big_alloc((size_t)n_floats * sizeof(float));
    if (!p) return NULL;
    m->owned[m->n_owned++] = p;
    return p;
}

void gpt2_free(gpt2_model *m) {
    if (m->packed) {
        for (int l = 0; l < m->cfg.n_layer; l++) {
            packed_lw_free(&m->packed[l].qkv);
            packed_lw_free(&m->packed[l].attn_proj);
            packed_lw_free(&m->packed[l].fc);
            packed_lw_free(&m->packed[l].fc_proj);
        }
        free(m->packed);
        packed_lw_free(&m->lm_head_packed);
    }
    for (int i = 0; i < m->n_owned; i++) free(m->owned[i]);
    free(m->owned);
    free(m->layers);
    free(m->raw_i8);
    if (m->has_file) st_close(&m->file);
    memset(m, 0, sizeof *m);
}

int gpt2_resolve_paths(const char *path, char *config_path, size_t clen, char *st_path, size_t slen,
                       status_t *st) {
    struct stat sb;
    if (stat(path, &sb) != 0)
        return status_fail(st, ST_BAD_INPUT, "%s: %s: give a model folder or its model.safetensors", path,
                           strerror(errno));
    /* the canonical path, so "dir/", "./dir" and "." name the same folder */
    char real[PATH_MAX];
    if (realpath(path, real)) path = real;
    if (S_ISDIR(sb.st_mode)) {
        snprintf(st_path, slen, "%s/model.safetensors", path);
        snprintf(config_path, clen, "%s/config.json", path);
    } else {
        snprintf(st_path, slen, "%s", path);
        const char *slash = strrchr(path, '/');
        if (slash)
            snprintf(config_path, clen, "%.*s/config.json", (int)(slash - path), path);
        else
            snprintf(config_path, clen, "config.json");
    }
    if (stat(config_path, &sb) != 0)
        return status_fail(st, ST_BAD_INPUT, "%s: no config.json beside the weights: put the Hugging Face "
                           "config.json in the model folder", config_path);
    if (stat(st_path, &sb) != 0)
        return status_fail(st, ST_BAD_INPUT, "%s: %s: the model folder needs model.safetensors", st_path,
                           strerror(errno));
    return ST_OK;
}

/* Finds `name` with or without the "transformer." prefix. */
static const st_tensor *find_tensor(const st_file *f, const char *name) {
    const st_tensor *t = st_find(f, name);
    if (t) return t;
    char pref[256];
    snprintf(pref, sizeof pref, "transformer.%s", name);
    return st_find(f, pref);
}

/* An int8 weight matrix (gpt2-weights convert --dtype int8): q: (d0, d1)
 * int8 and "<name>.scale" float32, one scale per output channel: per
 * column (d1) for a Conv1D [in, out] matrix, per row (d0) for wte and
 * lm_head [V, d]. Dequantized once: w = q * scale. */
static int bind_int8(gpt2_model *m, const st_tensor *t, int64_t d0, int64_t d1, const float **out, gpt2_raw_i8 *raw,
                     status_t *st) {
    const st_file *f = &m->file;
    const int per_row = strstr(t->name, "wte.") != NULL || strstr(t->name, "lm_head.") != NULL;
    const int64_t n_scales = per_row ? d0 : d1;
    char sname[300];
    snprintf(sname, sizeof sname, "%s.scale", t->name);
    const st_tensor *sc = st_find(f, sname);
    if (!sc)
        return status_fail(st, ST_BAD_INPUT, "%s: int8 tensor %s has no %s: convert the checkpoint again with "
                           "gpt2-weights convert --dtype int8", f->path, t->name, sname);
    if (sc->dtype != ST_DT_F32 || sc->ndim != 1 || sc->shape[0] != n_scales)
        return status_fail(st, ST_BAD_INPUT, "%s: %s must be F32 of shape [%lld] (one scale per output channel of "
                           "%s)", f->path, sname, (long long)n_scales, t->name);
    float *scales = own_alloc(m, (uint64_t)n_scales), *buf = own_alloc(m, (uint64_t)d0 * d1);
    if (!scales || !buf) return status_fail(st, ST_RUNTIME, "out of memory converting %s", t->name);
    st_to_f32(f, sc, scales);
    const int8_t *q = (const int8_t *)(const void *)(f->data + t->begin);
    raw->q = q; /* kept so the int8 kernel packs exactly what is stored */
    raw->scale = scales;
    for (int64_t r = 0; r < d0; r++)
        for (int64_t c = 0; c < d1; c++)
            buf[r * d1 + c] = (float)q[r * d1 + c] * scales[per_row ? r : c];
    *out = buf;
    return ST_OK;
}

/* Binds one tensor: checks presence, dtype and shape, then returns an f32
 * view (in place) or a widened copy. */
/* raw: where an int8 weight matrix is remembered; NULL for tensors that
 * must not be int8 (vectors, wpe). */
static int bind(gpt2_model *m, const char *name, int ndim, int64_t d0, int64_t d1, const float **out,
                gpt2_raw_i8 *raw, status_t *st) {
    const st_file *f = &m->file;
    const st_tensor *t = find_tensor(f, name);
    if (!t)
        return status_fail(st, ST_BAD_INPUT, "%s: tensor %s is missing: not a complete GPT-2 checkpoint", f->path,
                           name);
    if (t->dtype != ST_DT_F32 && t->dtype != ST_DT_F16 && t->dtype != ST_DT_BF16 &&
        !(t->dtype == ST_DT_I8 && raw))
        return status_fail(st, ST_BAD_INPUT, "%s: tensor %s has dtype %s: F32, F16 or BF16 expected (I8 for a "
                           "weight matrix with its .scale)", f->path, t->name, t->dtype_str);
    int64_t want[2] = {d0, d1};
    int ok = t->ndim == ndim;
    for (int i = 0; ok && i < ndim; i++) ok = t->shape[i] == want[i];
    if (!ok) {
        char got[128] = "", exp[64];
        for (int i = 0; i < t->ndim; i++) {
            size_t l = strlen(got);
            snprintf(got + l, sizeof got - l, "%s%lld", i ? ", " : "", (long long)t->shape[i]);
        }
        if (ndim == 1)
            snprintf(exp, sizeof exp, "%lld", (long long)d0);
        else
            snprintf(exp, sizeof exp, "%lld, %lld", (long long)d0, (long long)d1);
        return status_fail(st, ST_BAD_INPUT,
                           "%s: tensor %s has shape [%s] but config.json implies [%s]: the config and the "
                           "weights disagree",
                           f->path, t->name, got, exp);
    }
    const uint8_t *src = f->data + t->begin;
    if (t->dtype == ST_DT_I8) {
        int rc = bind_int8(m, t, d0, d1, out, raw, st);
        if (rc) return rc;
    } else if (t->dtype == ST_DT_F32 && ((uintptr_t)src % sizeof(float)) == 0) {
        *out = (const float *)(const void *)src;
    } else {
        float *buf = own_alloc(m, st_numel(t));
        if (!buf) return status_fail(st, ST_RUNTIME, "out of memory converting %s", t->name);
        st_to_f32(f, t, buf);
        *out = buf;
    }
    m->weight_bytes_f32 += st_numel(t) * 4;
    uint64_t bad = 0, n = st_numel(t);
    for (uint64_t i = 0; i < n; i++) bad += !isfinite((*out)[i]);
    if (bad && !m->nonfinite) snprintf(m->nonfinite_tensor, sizeof m->nonfinite_tensor, "%s", t->name);
    m->nonfinite += bad;
    return ST_OK;
}

int gpt2_load(gpt2_model *m, const char *path, status_t *st) {
    memset(m, 0, sizeof *m);
    char cpath[1100], spath[1100];
    int rc = gpt2_resolve_paths(path, cpath, sizeof cpath, spath, sizeof spath, st);
    if (rc) return rc;
    if ((rc = config_from_json_file(cpath, &m->cfg, st))) return rc;
    if ((rc = st_open(&m->file, spath, st))) return rc;
    m->has_file = 1;
    snprintf(m->source, sizeof m->source, "%s", spath);
    const gpt2_config *c = &m->cfg;
    const int64_t d = c->n_embd;
    m->layers = calloc((size_t)c->n_layer, sizeof *m->layers);
    if (!m->layers) { gpt2_free(m); return status_fail(st, ST_RUNTIME, "out of memory"); }
    m->raw_i8 = calloc((size_t)c->n_layer, sizeof *m->raw_i8);
    if (!m->raw_i8) { gpt2_free(m); return status_fail(st, ST_RUNTIME, "out of memory"); }
    gpt2_raw_i8 wte_i8 = {0};
    rc = bind(m, "wte.weight", 2, c->vocab, d, &m->wte, &wte_i8, st);
    if (!rc) rc = bind(m, "wpe.weight", 2, c->n_ctx, d, &m->wpe, NULL, st);
    if (!rc) rc = bind(m, "ln_f.weight", 1, d, 0, &m->lnf_w, NULL, st);
    if (!rc) rc = bind(m, "ln_f.bias", 1, d, 0, &m->lnf_b, NULL, st);
    for (int l = 0; l < c->n_layer && !rc; l++) {
        gpt2_layer *ly = &m->layers[l];
        char n[128];
#define BIND(field, suffix, nd, a, b, raw)                              \
    if (!rc) {                                                          \
        snprintf(n, sizeof n, "h.%d.%s", l, suffix);                    \
        rc = bind(m, n, nd, a, b, &ly->field, raw, st);                 \
    }
        BIND(ln1_w, "ln_1.weight", 1, d, 0, NULL);
        BIND(ln1_b, "ln_1.bias", 1, d, 0, NULL);
        BIND(qkv_w, "attn.c_attn.weight", 2, d, 3 * d, &m->raw_i8[l][0]);
        BIND(qkv_b, "attn.c_attn.bias", 1, 3 * d, 0, NULL);
        BIND(attn_proj_w, "attn.c_proj.weight", 2, d, d, &m->raw_i8[l][1]);
        BIND(attn_proj_b, "attn.c_proj.bias", 1, d, 0, NULL);
        BIND(ln2_w, "ln_2.weight", 1, d, 0, NULL);
        BIND(ln2_b, "ln_2.bias", 1, d, 0, NULL);
        BIND(fc_w, "mlp.c_fc.weight", 2, d, 4 * d, &m->raw_i8[l][2]);
        BIND(fc_b, "mlp.c_fc.bias", 1, 4 * d, 0, NULL);
        BIND(fc_proj_w, "mlp.c_proj.weight", 2, 4 * d, d, &m->raw_i8[l][3]);
        BIND(fc_proj_b, "mlp.c_proj.bias", 1, d, 0, NULL);
#undef BIND
    }
    if (!rc) {
        /* an extra layer in the file means the config is wrong */
        char n[64];
        snprintf(n, sizeof n, "h.%d.ln_1.weight", c->n_layer);
        if (find_tensor(&m->file, n))
            rc = status_fail(st, ST_BAD_INPUT,
                             "%s: has tensor %s but config.json says n_layer %d: the config and the weights "
                             "disagree",
                             spath, n, c->n_layer);
    }
    if (!rc) { /* the dtype the weight matrices are stored in */
        char n0[64];
        snprintf(n0, sizeof n0, "h.0.attn.c_attn.weight");
        const st_tensor *t0 = find_tensor(&m->file, n0);
        m->stored_dtype = !t0 ? WDT_F32 : t0->dtype == ST_DT_I8 ? WDT_INT8 : t0->dtype == ST_DT_BF16 ? WDT_BF16
                        : t0->dtype == ST_DT_F16 ? WDT_F16 : WDT_F32;
    }
    if (!rc) {
        if (st_find(&m->file, "lm_head.weight")) {
            rc = bind(m, "lm_head.weight", 2, c->vocab, d, &m->lm_head, &m->lm_head_i8, st);
            m->lm_head_tied = 0;
        } else {
            m->lm_head = m->wte;
            m->lm_head_i8 = wte_i8;
            m->lm_head_tied = 1;
        }
    }
    if (rc) { gpt2_free(m); return rc; }
    return ST_OK;
}

/* splitmix64: a seeded, reproducible stream */
static uint64_t splitmix64(uint64_t *s) {
    uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

/* Fills with mean + scale * u, u roughly N(0,1) (sum of 4 uniforms, scaled). */
static void fill(float *x, uint64_t n, uint64_t seed, float mean, float scale) {
#pragma omp parallel for schedule(static) if (n > (1u << 20))
    for (uint64_t blk = 0; blk < (n + 65535) / 65536; blk++) {
        uint64_t s = seed * 0x100000001b3ull + blk;
        uint64_t end = (blk + 1) * 65536 < n ? (blk + 1) * 65536 : n;
        for (uint64_t i = blk * 65536; i < end; i++) {
            uint64_t r = splitmix64(&s);
            float u = (float)((r & 0xffff) + ((r >> 16) & 0xffff) + ((r >> 32) & 0xffff) + (r >> 48)) *
                          (1.0f / 65536.0f) - 2.0f; /* mean 0, var 4/12 */
            x[i] = mean + scale * u * 1.7320508f;
        }
    }
}

int gpt2_synthetic(gpt2_model *m, const gpt2_config *cfg, uint64_t seed, status_t *st) {
    memset(m, 0, sizeof *m);
    m->cfg = *cfg;
    int rc = config_validate(cfg, cfg->name, st);
    if (rc) return rc;
    const uint64_t d = (uint64_t)cfg->n_embd;
    uint64_t total = config_param_count(cfg);
    if ((rc = mem_check(st, "synthetic weights", total * 4))) return rc;
    snprintf(m->source, sizeof m->source, "synthetic, seed %llu", (unsigned long long)seed);
    m->layers = calloc((size_t)cfg->n_layer, sizeof *m->layers);
    if (!m->layers) return status_fail(st, ST_RUNTIME, "out of memory");
    uint64_t tag = 0;
#define MAKE(ptr, n, mean, scale)                                               \
    do {                                                                        \
        float *b_ = own_alloc(m, (n));                                          \
        if (!b_) { gpt2_free(m); return status_fail(st, ST_RUNTIME, "out of memory for synthetic weights"); } \
        fill(b_, (n), seed * 1000003u + (tag++), (mean), (scale));              \
        (ptr) = b_;                                                             \
    } while (0)
    MAKE(m->wte, (uint64_t)cfg->vocab * d, 0.0f, 0.02f);
    MAKE(m->wpe, (uint64_t)cfg->n_ctx * d, 0.0f, 0.01f);
    MAKE(m->lnf_w, d, 1.0f, 0.05f);
    MAKE(m->lnf_b, d, 0.0f, 0.02f);
    for (int l = 0; l < cfg->n_layer; l++) {
        gpt2_layer *ly = &m->layers[l];
        MAKE(ly->ln1_w, d, 1.0f, 0.05f);
        MAKE(ly->ln1_b, d, 0.0f, 0.02f);
        MAKE(ly->qkv_w, d * 3 * d, 0.0f, 0.02f);
        MAKE(ly->qkv_b, 3 * d, 0.0f, 0.02f);
        MAKE(ly->attn_proj_w, d * d, 0.0f, 0.02f);
        MAKE(ly->attn_proj_b, d, 0.0f, 0.02f);
        MAKE(ly->ln2_w, d, 1.0f, 0.05f);
        MAKE(ly->ln2_b, d, 0.0f, 0.02f);
        MAKE(ly->fc_w, d * 4 * d, 0.0f, 0.02f);
        MAKE(ly->fc_b, 4 * d, 0.0f, 0.02f);
        MAKE(ly->fc_proj_w, 4 * d * d, 0.0f, 0.02f);
        MAKE(ly->fc_proj_b, d, 0.0f, 0.02f);
    }
#undef MAKE
    m->lm_head = m->wte;
    m->lm_head_tied = 1;
    m->weight_bytes_f32 = total * 4;
    return ST_OK;
}

int gpt2_pack(gpt2_model *m, status_t *st) { return gpt2_pack_dtype(m, WDT_F32, st); }

int gpt2_pack_dtype(gpt2_model *m, wdtype dt, status_t *st) {
    if (m->packed) {
        if (m->packed_dtype == dt) return ST_OK;
        return status_fail(st, ST_RUNTIME, "the model is already packed as %s", wdtype_name(m->packed_dtype));
    }
    const gpt2_config *c = &m->cfg;
    const int d = c->n_embd, L = c->n_layer;
    uint64_t need = (uint64_t)L * (packed_lw_bytes(d, 3 * d, dt) + packed_lw_bytes(d, d, dt) +
                                   packed_lw_bytes(d, 4 * d, dt) + packed_lw_bytes(4 * d, d, dt)) +
                    packed_lw_bytes(d, c->vocab, dt);
    int rc = mem_check(st, "the packed weights", need);
    if (rc) return rc;
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    m->packed = calloc((size_t)L, sizeof *m->packed);
    m->packed_dtype = dt;
    int bad = m->packed ? 0 : -1; /* 0, -1 out of memory, -2 a non-finite weight for int8 */
    for (int l = 0; l < L && !bad; l++) {
        const gpt2_layer *w = &m->layers[l];
        gpt2_layer_packed *p = &m->packed[l];
        packed_lw *dst[4] = {&p->qkv, &p->attn_proj, &p->fc, &p->fc_proj};
        const float *src[4] = {w->qkv_w, w->attn_proj_w, w->fc_w, w->fc_proj_w};
        const int K[4] = {d, d, d, 4 * d}, N[4] = {3 * d, d, 4 * d, d};
        for (int i = 0; i < 4 && !bad; i++) {
            const gpt2_raw_i8 *raw = m->raw_i8 ? &m->raw_i8[l][i] : NULL;
            /* an int8 checkpoint is packed as stored, not quantized again */
            bad = dt == WDT_INT8 && raw && raw->q ? packed_lw_from_kn_i8(dst[i], raw->q, raw->scale, K[i], N[i])
                                                  : packed_lw_from_kn(dst[i], src[i], K[i], N[i], dt);
        }
    }
    if (!bad)
        bad = dt == WDT_INT8 && m->lm_head_i8.q
                  ? packed_lw_from_nk_i8(&m->lm_head_packed, m->lm_head_i8.q, m->lm_head_i8.scale, d, c->vocab)
                  : packed_lw_from_nk(&m->lm_head_packed, m->lm_head, d, c->vocab, dt);
    if (bad == -2) return status_fail(st, ST_BAD_INPUT, "the weights hold NaN/Inf values, which int8 cannot represent");
    if (bad) return status_fail(st, ST_RUNTIME, "out of memory packing the weights");
    clock_gettime(CLOCK_MONOTONIC, &t1);
    m->pack_s = (double)(t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) * 1e-9;
    const char *env = getenv("GPT2_PACKED_MAX_ROWS");
    m->packed_max_rows = env ? atoi(env) : GPT2_PACKED_MAX_ROWS_DEFAULT;
    return ST_OK;
}
