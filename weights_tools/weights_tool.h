/* weights_tool: gpt2-weights, the checkpoint tools, as library functions so
 * tests run them in-process (weights_tools/main.c is a thin wrapper).
 *
 *   init     a Hugging Face GPT-2 folder with seeded synthetic weights
 *   inspect  tensors, parameter count, checks, loader verdict, NaN/Inf,
 *            bytes per decode step
 *   convert  to bf16, f16 or int8 weight matrices
 *   fetch    a published checkpoint (or a mirror: GPT2_FETCH_URL)
 *
 * Converted checkpoints (see weights_tools/README.md):
 *   - the weight matrices are h.N.attn.c_attn.weight [d, 3d],
 *     h.N.attn.c_proj.weight [d, d], h.N.mlp.c_fc.weight [d, 4d],
 *     h.N.mlp.c_proj.weight [4d, d], wte.weight [V, d] (and lm_head.weight
 *     [V, d] when the head is untied), with or without the "transformer."
 *     prefix; every other tensor (LayerNorm, biases, wpe) stays F32;
 *   - bf16 / f16: those matrices are stored BF16 / F16 (round to nearest
 *     even), same names and shapes;
 *   - int8: those matrices are stored I8 with the same names and shapes,
 *     each with a companion F32 tensor "<name>.scale" of shape [out]: one
 *     scale per output channel, out = dim 1 for the Conv1D [in, out]
 *     matrices and out = V (dim 0) for wte / lm_head [V, d] (the LM head's
 *     outputs). Value = scale[out] * q, symmetric, scale = max|w| / 127,
 *     q = round-to-nearest-even(w / scale) in [-127, 127]
 *     (kernels/gemm_lowp.h: lw_quantize_i8_kn / _nk);
 *   - config.json gains "torch_dtype" ("bfloat16", "float16"; "float32" for
 *     int8, whose non-matrix tensors and compute are float32) and
 *     "gpt2_roofline_dtype" ("bf16", "f16", "int8"); the safetensors
 *     __metadata__ carries "gpt2_roofline_dtype" too. */
#ifndef GR_WEIGHTS_TOOL_H
#define GR_WEIGHTS_TOOL_H

#include <stdint.h>
#include <stdio.h>

#include "../model/config.h"
#include "../model/safetensors.h"
#include "../model/status.h"

/* argv[1] is the subcommand; output to `out`; a failure fills `st` and
 * returns its exit code (2 bad input, 1 runtime). */
int weights_main(int argc, char **argv, FILE *out, status_t *st);

int wt_cmd_init(int argc, char **argv, FILE *out, status_t *st);
int wt_cmd_inspect(int argc, char **argv, FILE *out, status_t *st);
int wt_cmd_convert(int argc, char **argv, FILE *out, status_t *st);
int wt_cmd_fetch(int argc, char **argv, FILE *out, status_t *st);

/* ---- shared helpers (wt_io.c) ---------------------------------------------- */

/* Options: "--name value", "--name=value" or a switch; positionals (not
 * starting with "--") collected in order. Unknown options are refused with
 * the nearest known one. */
typedef struct {
    const char *name;
    int takes_value;
    const char *value; /* filled: NULL absent, "" for a present switch */
} wt_flag;

int wt_parse(int argc, char **argv, wt_flag *fl, int nf, const char **pos, int max_pos, int *npos,
             const char *cmd, status_t *st);
const char *wt_get(const wt_flag *fl, int nf, const char *name);

/* Prepares the output folder: refuses an existing one unless `force`;
 * creates it otherwise (its parent must exist). *created: 1 when made here
 * (so a failure can remove it again). */
int wt_prepare_out(const char *dir, int force, int *created, const char *cmd, status_t *st);
/* Removes `dir` if it was created here and is empty. */
void wt_cleanup_out(const char *dir, int created);

/* A file written under a temporary name in its folder, renamed on commit. */
typedef struct {
    FILE *f;
    char tmp[1200];
    char final[1200];
} wt_file;

int wt_file_open(wt_file *w, const char *dir, const char *name, status_t *st);
int wt_file_write(wt_file *w, const void *p, size_t n, status_t *st);
int wt_file_commit(wt_file *w, status_t *st); /* fsync, close, rename */
void wt_file_abort(wt_file *w);

/* A tensor to write: name, safetensors dtype string, shape, bytes. */
typedef struct {
    char name[200];
    char dtype[16];
    int ndim;
    int64_t shape[ST_MAX_DIMS];
    const void *data;
    uint64_t nbytes;
    size_t esize; /* bytes per element, for alignment order */
} wt_tensor;

/* Writes DIR/model.safetensors: tensors ordered by element size (largest
 * first, stable), so each starts aligned to its element size; header padded
 * to 8 bytes; __metadata__ {"format": "pt"} plus meta_key: meta_val when
 * given. */
int wt_write_safetensors(const char *dir, const wt_tensor *t, int n, const char *meta_key, const char *meta_val,
                         status_t *st);

/* Writes text to DIR/NAME atomically. */
int wt_write_text(const char *dir, const char *name, const char *text, status_t *st);

/* ---- checkpoint checks (wt_check.c) ------------------------------------------- */

/* Role of a tensor of a GPT-2 checkpoint by name (prefix "transformer."
 * ignored). */
typedef enum {
    WT_ROLE_OTHER,   /* LayerNorm, bias, wpe: kept F32 by convert */
    WT_ROLE_MATRIX,  /* a weight matrix convert changes the dtype of */
    WT_ROLE_SCALE,   /* "<matrix>.scale" */
    WT_ROLE_UNKNOWN, /* not a GPT-2 parameter (e.g. attention mask buffers) */
} wt_role;

/* For a matrix: its output dimension index (1 for Conv1D [in, out], 0 for
 * wte / lm_head [V, d]). */
wt_role wt_tensor_role(const char *name, int *out_dim);

/* The structural check of a checkpoint against its config: every GPT-2
 * tensor present with the config's shape and an accepted dtype (F32, F16,
 * BF16; I8 for a matrix, then with its "<name>.scale" F32 [out]); no scale
 * without an I8 matrix; no layer beyond n_layer. ST_OK or ST_BAD_INPUT with
 * one line. *has_i8: whether any matrix is I8. */
int wt_check_checkpoint(const st_file *f, const gpt2_config *c, int *has_i8, status_t *st);

/* ---- sha256 (wt_sha256.c) ---------------------------------------------------- */

typedef struct {
    uint32_t h[8];
    uint64_t len;
    unsigned char buf[64];
    size_t nbuf;
} wt_sha256;

void wt_sha256_init(wt_sha256 *s);
void wt_sha256_update(wt_sha256 *s, const void *p, size_t n);
void wt_sha256_hex(wt_sha256 *s, char hex[65]);

#endif
