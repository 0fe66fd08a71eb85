/* model_source: the model a command runs, from --model NAME (synthetic
 * weights in memory) or --weights PATH (a checkpoint), and the dtypes it
 * runs in (--dtype, --kv-dtype). */
#ifndef GR_MODEL_SOURCE_H
#define GR_MODEL_SOURCE_H

#include "../model/weights.h"

/* Exactly one of name and weights must be non-NULL. */
int model_open(gpt2_model *m, const char *name, const char *weights, uint64_t seed, status_t *st);

/* The shape of the model model_open would open, without making or mapping
 * any weights: commands check what they are asked against it first. */
int model_config(gpt2_config *c, const char *name, const char *weights, status_t *st);

/* Packs the weights for the decode kernels in `dtype_arg` (f32, bf16, f16,
 * int8; NULL: the checkpoint's stored dtype). When `always` is 0 and the
 * result would be float32, leaves the model unpacked (OpenBLAS on the
 * stored layout). *dt gets the dtype used. */
int model_pack(gpt2_model *m, const char *dtype_arg, int always, wdtype *dt, status_t *st);

/* --kv-dtype: f32 (NULL), f16 or bf16. */
int kv_dtype_parse(const char *arg, wdtype *dt, status_t *st);

#endif
