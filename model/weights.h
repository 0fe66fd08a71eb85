/* weights: a GPT-2 model's parameters as float32 row-major arrays, either
 * read from a Hugging Face checkpoint (mmap; F32 used in place when aligned,
 * F16/BF16 widened once at load) or synthesised from a seed.
 * Conv1D weights keep the checkpoint's [in, out] layout. */
#ifndef GR_WEIGHTS_H
#define GR_WEIGHTS_H

#include <stdint.h>

#include "../kernels/gemm_lowp.h"
#include "config.h"
#include "safetensors.h"
#include "status.h"

typedef struct {
    const float *ln1_w, *ln1_b;          /* (d) */
    const float *qkv_w, *qkv_b;          /* (d, 3d), (3d)  columns: q | k | v */
    const float *attn_proj_w, *attn_proj_b; /* (d, d), (d) */
    const float *ln2_w, *ln2_b;          /* (d) */
    const float *fc_w, *fc_b;            /* (d, 4d), (4d) */
    const float *fc_proj_w, *fc_proj_b;  /* (4d, d), (d) */
} gpt2_layer;

/* The layer matrices laid out for the small-M kernel (gemm_packed.h), in
 * the decode dtype (gemm_lowp.h). */
typedef struct {
    packed_lw qkv, attn_proj, fc, fc_proj;
} gpt2_layer_packed;

/* A weight matrix stored as int8 in the checkpoint: q and its per-channel
 * scales, as mapped (NULL when stored otherwise). */
typedef struct {
    const int8_t *q;
    const float *scale;
} gpt2_raw_i8;

typedef struct {
    gpt2_config cfg;
    const float *wte;      /* (V, d) token embedding */
    const float *wpe;      /* (T, d) position embedding */
    const float *lnf_w, *lnf_b; /* (d) */
    const float *lm_head;  /* (V, d); == wte when tied */
    int lm_head_tied;
    gpt2_layer *layers;    /* (L) */
    gpt2_raw_i8 (*raw_i8)[4]; /* (L) x {qkv, attn_proj, fc, fc_proj}: int8 as stored, or NULL */
    gpt2_raw_i8 lm_head_i8;
    /* ownership */
    st_file file;          /* mapped checkpoint, if any */
    int has_file;
    float **owned;         /* buffers this model allocated */
    int n_owned, cap_owned;
    char source[1100];     /* "synthetic seed N" or the file path */
    uint64_t nonfinite;    /* NaN/Inf values found in the checkpoint's tensors */
    char nonfinite_tensor[128]; /* the first tensor holding one */
    uint64_t weight_bytes_f32; /* bytes of the float32 parameters used */
    /* packed copies for decode (gpt2_pack); NULL until packed */
    gpt2_layer_packed *packed;  /* (L) */
    packed_lw lm_head_packed;   /* lm_head^T as (d, V) panels */
    wdtype packed_dtype;        /* weight dtype of the packed copies */
    wdtype stored_dtype;        /* dtype of the checkpoint's weight matrices (f32 for synthetic) */
    double pack_s;              /* load-time cost of packing, seconds */
    int packed_max_rows;        /* rows up to which forward uses the packed kernel */
} gpt2_model;

/* `path` is a model folder (config.json + model.safetensors) or the
 * .safetensors file inside one. */
int gpt2_load(gpt2_model *m, const char *path, status_t *st);

/* Real GPT-2 shapes, seeded synthetic values (N(0, 0.02)-like weights,
 * LayerNorm gains near 1), made in memory. */
int gpt2_synthetic(gpt2_model *m, const gpt2_config *cfg, uint64_t seed, status_t *st);

void gpt2_free(gpt2_model *m);

/* Lays every layer matrix and the LM head out in panels for the small-M
 * kernel (a second copy of the weights; memory checked first), and sets
 * packed_max_rows (GPT2_PACKED_MAX_ROWS overrides). Records pack_s.
 * gpt2_pack: float32; gpt2_pack_dtype: f32, bf16, f16 or int8 (rounded or
 * quantized from the float32 weights; for a checkpoint stored in that
 * dtype this gives back exactly the stored values). Low-precision panels
 * are used at every row count. */
int gpt2_pack(gpt2_model *m, status_t *st);
int gpt2_pack_dtype(gpt2_model *m, wdtype dt, status_t *st);

/* Rows (B x T) up to which the packed kernel is used, above which OpenBLAS
 * sgemm on the stored layout. Measured here (docs/method.md), the packed
 * kernel beat sgemm at every decode shape up to M = 256, so by default it
 * is always used; GPT2_PACKED_MAX_ROWS sets another threshold. */
#define GPT2_PACKED_MAX_ROWS_DEFAULT (1 << 30)

/* Resolves a model folder or file into the config.json and safetensors
 * paths. */
int gpt2_resolve_paths(const char *path, char *config_path, size_t clen, char *st_path, size_t slen,
                       status_t *st);

#endif
