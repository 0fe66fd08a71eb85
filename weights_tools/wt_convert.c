/* gpt2-weights convert: a checkpoint's weight matrices to bf16, f16 or int8
 * (layout and naming in weights_tool.h and README.md); everything else F32,
 * unknown tensors copied as they are. */
#include <cjson/cJSON.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../kernels/gemm_lowp.h"
#include "../model/weights.h"
#include "weights_tool.h"

static const char *USAGE =
    "usage: gpt2-weights convert PATH --dtype bf16|f16|int8 --out DIR [--force]\n"
    "  Writes DIR/config.json and DIR/model.safetensors with the weight matrices (c_attn,\n"
    "  attn c_proj, c_fc, mlp c_proj, wte, lm_head) in DTYPE and LayerNorm, biases and wpe\n"
    "  in F32. bf16/f16: round to nearest even. int8: symmetric, one F32 scale per output\n"
    "  channel in \"<name>.scale\" [out] (out = dim 1 of a Conv1D [in, out], V for wte).\n"
    "  PATH: a model folder or its model.safetensors (F32, F16 or BF16). DIR must not exist\n"
    "  unless --force.\n";

static const char *torch_name(wdtype dt) {
    return dt == WDT_BF16 ? "bfloat16" : dt == WDT_F16 ? "float16" : "float32";
}

int wt_cmd_convert(int argc, char **argv, FILE *out, status_t *st) {
    wt_flag fl[] = {{"--dtype", 1, 0}, {"--out", 1, 0}, {"--force", 0, 0}, {"--help", 0, 0}};
    const int nf = sizeof fl / sizeof fl[0];
    const char *pos[1];
    int npos, rc = wt_parse(argc, argv, fl, nf, pos, 1, &npos, "convert", st);
    if (rc) return rc;
    if (wt_get(fl, nf, "--help")) {
        fputs(USAGE, out);
        return ST_OK;
    }
    if (npos != 1) return status_fail(st, ST_BAD_INPUT, "convert: give PATH, a model folder or its model.safetensors");
    const char *dts = wt_get(fl, nf, "--dtype");
    wdtype dt;
    if (!dts || wdtype_parse(dts, &dt) != 0 || dt == WDT_F32)
        return status_fail(st, ST_BAD_INPUT, "convert: --dtype %s: give bf16, f16 or int8", dts ? dts : "is required:");
    const char *dir = wt_get(fl, nf, "--out");
    if (!dir) return status_fail(st, ST_BAD_INPUT, "convert: --out DIR is required (the folder to write)");
    char cpath[1100], spath[1100];
    if ((rc = gpt2_resolve_paths(pos[0], cpath, sizeof cpath, spath, sizeof spath, st))) return rc;
    {   /* the source's own folder would be replaced under the reader */
        char a[PATH_MAX], b[PATH_MAX], src_dir[1100];
        snprintf(src_dir, sizeof src_dir, "%s", spath);
        char *slash = strrchr(src_dir, '/');
        if (slash) *slash = 0;
        if (realpath(src_dir, a) && realpath(dir, b) && strcmp(a, b) == 0)
            return status_fail(st, ST_BAD_INPUT, "convert: --out %s is the source's own folder: give another folder", dir);
    }
    gpt2_config c;
    if ((rc = config_from_json_file(cpath, &c, st))) return rc;
    char *cfg_text = NULL;
    {
        FILE *cf = fopen(cpath, "rb");
        if (cf) {
            fseek(cf, 0, SEEK_END);
            long n = ftell(cf);
            rewind(cf);
            cfg_text = n >= 0 ? malloc((size_t)n + 1) : NULL;
            if (cfg_text) cfg_text[fread(cfg_text, 1, (size_t)n, cf)] = 0;
            fclose(cf);
        }
        if (!cfg_text) return status_fail(st, ST_RUNTIME, "%s: cannot read", cpath);
    }
    st_file f;
    if ((rc = st_open(&f, spath, st))) {
        free(cfg_text);
        return rc;
    }
    int has_i8 = 0;
    if ((rc = wt_check_checkpoint(&f, &c, &has_i8, st))) goto out_close;
    if (has_i8) {
        rc = status_fail(st, ST_BAD_INPUT, "convert: %s is already int8: convert from an F32, F16 or BF16 checkpoint",
                         spath);
        goto out_close;
    }
    /* output tensors: matrices converted (+ scales), others F32 or as is */
    uint64_t out_bytes = 0, in_bytes = 0;
    for (int i = 0; i < f.n_tensors; i++) {
        const st_tensor *t = &f.tensors[i];
        const wt_role r = wt_tensor_role(t->name, NULL);
        const uint64_t n = st_numel(t);
        in_bytes += t->end - t->begin;
        if (r == WT_ROLE_MATRIX) out_bytes += n * wdtype_bytes(dt) + (dt == WDT_INT8 ? 4 * (uint64_t)t->shape[0] : 0);
        else if (r != WT_ROLE_UNKNOWN) out_bytes += n * 4; /* unknown ones are mapped, not copied */
    }
    if ((rc = mem_check(st, "the converted weights", out_bytes))) goto out_close;
    int created = 0;
    if ((rc = wt_prepare_out(dir, wt_get(fl, nf, "--force") != NULL, &created, "convert", st))) goto out_close;

    wt_tensor *ot = calloc((size_t)f.n_tensors * 2 + 1, sizeof *ot);
    void **bufs = calloc((size_t)f.n_tensors * 2 + 1, sizeof *bufs);
    int no = 0, nb = 0;
    float *wide = NULL;
    if (!ot || !bufs) rc = status_fail(st, ST_RUNTIME, "out of memory");
    for (int i = 0; i < f.n_tensors && !rc; i++) {
        const st_tensor *t = &f.tensors[i];
        int out_dim = 0;
        const wt_role r = wt_tensor_role(t->name, &out_dim);
        const uint64_t n = st_numel(t);
        wt_tensor *o = &ot[no++];
        snprintf(o->name, sizeof o->name, "%s", t->name);
        o->ndim = t->ndim;
        memcpy(o->shape, t->shape, sizeof o->shape);
        if (r == WT_ROLE_UNKNOWN) { /* not a GPT-2 parameter: copied as it is */
            snprintf(o->dtype, sizeof o->dtype, "%s", t->dtype_str);
            o->data = f.data + t->begin;
            o->nbytes = t->end - t->begin;
            o->esize = n ? (size_t)(o->nbytes / n) : 1;
            continue;
        }
        /* the source values as float32 */
        const float *src;
        if (t->dtype == ST_DT_F32 && ((uintptr_t)(f.data + t->begin) % 4) == 0) {
            src = (const float *)(const void *)(f.data + t->begin);
        } else {
            free(wide);
            wide = malloc((size_t)(n ? n : 1) * sizeof *wide);
            if (!wide) { rc = status_fail(st, ST_RUNTIME, "out of memory converting %s", t->name); break; }
            st_to_f32(&f, t, wide);
            src = wide;
        }
        if (r != WT_ROLE_MATRIX) { /* LayerNorm, biases, wpe: F32 */
            snprintf(o->dtype, sizeof o->dtype, "F32");
            o->esize = 4;
            o->nbytes = n * 4;
            if (src == wide) { bufs[nb++] = wide; wide = NULL; }
            o->data = src;
            continue;
        }
        if (dt == WDT_BF16 || dt == WDT_F16) {
            uint16_t *h = malloc((size_t)(n ? n : 1) * 2);
            if (!h) { rc = status_fail(st, ST_RUNTIME, "out of memory converting %s", t->name); break; }
            bufs[nb++] = h;
            cvt_f32_to_h(h, src, (size_t)n, dt);
            if (dt == WDT_F16) {
                double worst = 0;
                for (uint64_t k = 0; k < n; k++)
                    if (isfinite(src[k]) && !isfinite(lw_f16_to_f32(h[k])) && fabs(src[k]) > worst) worst = fabs(src[k]);
                if (worst > 0) {
                    rc = status_fail(st, ST_BAD_INPUT, "convert: tensor %s has values up to %g, beyond f16's range "
                                     "(65504): use --dtype bf16", t->name, worst);
                    break;
                }
            }
            snprintf(o->dtype, sizeof o->dtype, "%s", dt == WDT_BF16 ? "BF16" : "F16");
            o->esize = 2;
            o->nbytes = n * 2;
            o->data = h;
        } else {
            const int64_t rows = t->shape[0], cols = t->shape[1];
            const int64_t nout = t->shape[out_dim];
            int8_t *q = malloc((size_t)(n ? n : 1));
            float *s = malloc((size_t)(nout ? nout : 1) * sizeof *s);
            if (!q || !s) { free(q); free(s); rc = status_fail(st, ST_RUNTIME, "out of memory converting %s", t->name); break; }
            bufs[nb++] = q;
            bufs[nb++] = s;
            /* Conv1D [in, out]: (K, N) per column; wte/lm_head [V, d]: (N, K) per row */
            int qrc = out_dim == 1 ? lw_quantize_i8_kn(src, (int)rows, (int)cols, q, s)
                                   : lw_quantize_i8_nk(src, (int)cols, (int)rows, q, s);
            if (qrc) {
                rc = status_fail(st, ST_BAD_INPUT, "convert: tensor %s has NaN or Inf values, which int8 cannot "
                                 "hold: fix the checkpoint (gpt2-weights inspect counts them)", t->name);
                break;
            }
            snprintf(o->dtype, sizeof o->dtype, "I8");
            o->esize = 1;
            o->nbytes = n;
            o->data = q;
            wt_tensor *so = &ot[no++];
            snprintf(so->name, sizeof so->name, "%s.scale", t->name);
            snprintf(so->dtype, sizeof so->dtype, "F32");
            so->ndim = 1;
            so->shape[0] = nout;
            so->esize = 4;
            so->nbytes = (uint64_t)nout * 4;
            so->data = s;
        }
    }
    free(wide);
    if (!rc) rc = wt_write_safetensors(dir, ot, no, "gpt2_roofline_dtype", wdtype_name(dt), st);
    if (!rc) {
        cJSON *root = cJSON_Parse(cfg_text);
        if (!root || !cJSON_IsObject(root)) {
            cJSON_Delete(root);
            rc = status_fail(st, ST_BAD_INPUT, "%s: not a JSON object", cpath);
        } else {
            cJSON_DeleteItemFromObjectCaseSensitive(root, "torch_dtype");
            cJSON_DeleteItemFromObjectCaseSensitive(root, "gpt2_roofline_dtype");
            cJSON_DeleteItemFromObjectCaseSensitive(root, "gpt2_roofline_quantization");
            cJSON_AddStringToObject(root, "torch_dtype", torch_name(dt));
            cJSON_AddStringToObject(root, "gpt2_roofline_dtype", wdtype_name(dt));
            if (dt == WDT_INT8) {
                cJSON *qz = cJSON_AddObjectToObject(root, "gpt2_roofline_quantization");
                cJSON_AddStringToObject(qz, "scheme", "symmetric int8, one F32 scale per output channel");
                cJSON_AddStringToObject(qz, "scale_tensor", "<weight name>.scale");
                cJSON_AddStringToObject(qz, "dequantize", "w = scale[out] * q; out = dim 1 of Conv1D [in, out], dim 0 of wte/lm_head [V, d]");
            }
            char *s = cJSON_Print(root);
            cJSON_Delete(root);
            rc = s ? wt_write_text(dir, "config.json", s, st) : status_fail(st, ST_RUNTIME, "out of memory");
            free(s);
        }
    }
    if (!rc) {
        uint64_t written = 0;
        for (int i = 0; i < no; i++) written += ot[i].nbytes;
        fprintf(out, "wrote %s: %d tensors, matrices %s, %.2f MB of tensors (from %.2f MB)\n", dir, no,
                wdtype_name(dt), written / 1e6, in_bytes / 1e6);
    }
    for (int i = 0; i < nb; i++) free(bufs[i]);
    free(bufs);
    free(ot);
    if (rc) wt_cleanup_out(dir, created);
out_close:
    st_close(&f);
    free(cfg_text);
    return rc;
}
