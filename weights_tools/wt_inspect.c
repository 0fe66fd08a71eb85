/* gpt2-weights inspect: every tensor (name, dtype, shape, bytes), the
 * parameter count, the structural check (the loader's rules plus the int8
 * layout), the loader's own verdict (gpt2_load), NaN/Inf counts, and the
 * bytes one decode step reads at this checkpoint's dtypes. */
#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>

#include "../bench/roofline.h"
#include "../model/weights.h"
#include "weights_tool.h"

static const char *USAGE =
    "usage: gpt2-weights inspect PATH [--json -]\n"
    "  PATH: a model folder (config.json + model.safetensors) or its model.safetensors.\n"
    "  Lists every tensor, counts parameters, checks the checkpoint as the loader does (and\n"
    "  the int8 layout: each I8 matrix with its F32 \"<name>.scale\" [out]), runs the loader,\n"
    "  counts NaN/Inf per tensor and states the weight bytes one decode step reads.\n"
    "  Exit 2 when the checkpoint is refused.\n";

typedef struct {
    uint64_t nan, inf;
} nonfinite;

static nonfinite count_nonfinite(const st_file *f, const st_tensor *t) {
    nonfinite r = {0, 0};
    const unsigned char *p = f->data + t->begin;
    const uint64_t n = st_numel(t);
    if (t->dtype == ST_DT_F32) {
        for (uint64_t i = 0; i < n; i++) {
            uint32_t u;
            memcpy(&u, p + 4 * i, 4);
            if ((u & 0x7f800000u) == 0x7f800000u) {
                if (u & 0x7fffffu) r.nan++;
                else r.inf++;
            }
        }
    } else if (t->dtype == ST_DT_F16 || t->dtype == ST_DT_BF16) {
        const uint16_t em = t->dtype == ST_DT_F16 ? 0x7c00 : 0x7f80, mm = t->dtype == ST_DT_F16 ? 0x3ff : 0x7f;
        for (uint64_t i = 0; i < n; i++) {
            uint16_t h;
            memcpy(&h, p + 2 * i, 2);
            if ((h & em) == em) {
                if (h & mm) r.nan++;
                else r.inf++;
            }
        }
    }
    return r;
}

static void shape_text(char *b, size_t n, const st_tensor *t) {
    b[0] = '[';
    b[1] = 0;
    for (int i = 0; i < t->ndim; i++) {
        size_t l = strlen(b);
        snprintf(b + l, n - l, "%s%lld", i ? ", " : "", (long long)t->shape[i]);
    }
    size_t l = strlen(b);
    snprintf(b + l, n - l, "]");
}

int wt_cmd_inspect(int argc, char **argv, FILE *out, status_t *st) {
    wt_flag fl[] = {{"--json", 1, 0}, {"--help", 0, 0}};
    const int nf = sizeof fl / sizeof fl[0];
    const char *pos[1];
    int npos, rc = wt_parse(argc, argv, fl, nf, pos, 1, &npos, "inspect", st);
    if (rc) return rc;
    if (wt_get(fl, nf, "--help")) {
        fputs(USAGE, out);
        return ST_OK;
    }
    const char *json = wt_get(fl, nf, "--json");
    if (json && strcmp(json, "-") != 0) return status_fail(st, ST_BAD_INPUT, "inspect: --json takes '-' (stdout)");
    if (npos != 1) return status_fail(st, ST_BAD_INPUT, "inspect: give PATH, a model folder or its model.safetensors");
    char cpath[1100], spath[1100];
    if ((rc = gpt2_resolve_paths(pos[0], cpath, sizeof cpath, spath, sizeof spath, st))) return rc;
    gpt2_config c;
    if ((rc = config_from_json_file(cpath, &c, st))) return rc;
    st_file f;
    if ((rc = st_open(&f, spath, st))) return rc;

    /* the structural check and the loader's verdict */
    status_t chk = {0}, ld = {0};
    int has_i8 = 0;
    const int chk_rc = wt_check_checkpoint(&f, &c, &has_i8, &chk);
    gpt2_model m;
    const int ld_rc = gpt2_load(&m, pos[0], &ld);
    if (!ld_rc) gpt2_free(&m);
    /* a loader without int8 support refusing a well-formed int8 checkpoint */
    const int ld_no_i8 = ld_rc && !chk_rc && has_i8 && strstr(ld.msg, "dtype I8") != NULL;

    /* counts */
    uint64_t params = 0, scale_vals = 0, step_bytes = 0, step_params = 0, total_bytes = 0;
    int n_bad = 0;
    const int untied = st_find(&f, "lm_head.weight") || st_find(&f, "transformer.lm_head.weight");
    char mat_dt[16] = "";
    nonfinite *nfv = calloc((size_t)(f.n_tensors ? f.n_tensors : 1), sizeof *nfv);
    if (!nfv) {
        st_close(&f);
        return status_fail(st, ST_RUNTIME, "out of memory");
    }
    for (int i = 0; i < f.n_tensors; i++) {
        const st_tensor *t = &f.tensors[i];
        const wt_role role = wt_tensor_role(t->name, NULL);
        const uint64_t n = st_numel(t), b = t->end - t->begin;
        total_bytes += b;
        nfv[i] = count_nonfinite(&f, t);
        if (nfv[i].nan || nfv[i].inf) n_bad++;
        if (role == WT_ROLE_SCALE) scale_vals += n;
        else if (role != WT_ROLE_UNKNOWN) params += n;
        if (role == WT_ROLE_MATRIX) {
            const char *dn = st_dtype_name(t->dtype);
            if (!mat_dt[0]) snprintf(mat_dt, sizeof mat_dt, "%s", dn);
            else if (strcmp(mat_dt, dn) != 0) snprintf(mat_dt, sizeof mat_dt, "mixed");
        }
        /* read every step: all weights but the position table (one row) and,
         * with an untied head, the token table (one row) */
        const char *plain = strncmp(t->name, "transformer.", 12) == 0 ? t->name + 12 : t->name;
        const int is_wte = strcmp(plain, "wte.weight") == 0 || strcmp(plain, "wte.weight.scale") == 0;
        if (role != WT_ROLE_UNKNOWN && strcmp(plain, "wpe.weight") != 0 && !(untied && is_wte)) {
            step_bytes += b;
            if (role != WT_ROLE_SCALE) step_params += n;
        }
    }
    const double q_eff = step_params ? (double)step_bytes / (double)step_params : 0;
    const double q_nom = strcmp(mat_dt, "I8") == 0 ? 1 : (strcmp(mat_dt, "F16") == 0 || strcmp(mat_dt, "BF16") == 0) ? 2 : 4;
    step_cost cost;
    roofline_decode_cost(&c, 1, 1, q_nom, 4.0, &cost);

    if (json) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "path", spath);
        cJSON_AddNumberToObject(o, "file_bytes", (double)f.file_bytes);
        cJSON *cj = cJSON_AddObjectToObject(o, "config");
        cJSON_AddNumberToObject(cj, "n_layer", c.n_layer);
        cJSON_AddNumberToObject(cj, "n_head", c.n_head);
        cJSON_AddNumberToObject(cj, "n_embd", c.n_embd);
        cJSON_AddNumberToObject(cj, "n_ctx", c.n_ctx);
        cJSON_AddNumberToObject(cj, "vocab_size", c.vocab);
        cJSON *ta = cJSON_AddArrayToObject(o, "tensors");
        for (int i = 0; i < f.n_tensors; i++) {
            const st_tensor *t = &f.tensors[i];
            cJSON *e = cJSON_CreateObject();
            cJSON_AddStringToObject(e, "name", t->name);
            cJSON_AddStringToObject(e, "dtype", t->dtype_str);
            cJSON *sh = cJSON_AddArrayToObject(e, "shape");
            for (int d = 0; d < t->ndim; d++) cJSON_AddItemToArray(sh, cJSON_CreateNumber((double)t->shape[d]));
            cJSON_AddNumberToObject(e, "bytes", (double)(t->end - t->begin));
            cJSON_AddNumberToObject(e, "nan", (double)nfv[i].nan);
            cJSON_AddNumberToObject(e, "inf", (double)nfv[i].inf);
            cJSON_AddItemToArray(ta, e);
        }
        cJSON_AddNumberToObject(o, "parameters", (double)params);
        cJSON_AddNumberToObject(o, "parameters_config", (double)config_param_count(&c));
        cJSON_AddNumberToObject(o, "scale_values", (double)scale_vals);
        cJSON_AddStringToObject(o, "matrix_dtype", mat_dt);
        cJSON *ck = cJSON_AddObjectToObject(o, "check");
        cJSON_AddBoolToObject(ck, "ok", chk_rc == 0);
        cJSON_AddStringToObject(ck, "message", chk_rc ? chk.msg : "");
        cJSON *lj = cJSON_AddObjectToObject(o, "loader");
        cJSON_AddBoolToObject(lj, "ok", ld_rc == 0);
        cJSON_AddBoolToObject(lj, "int8_unsupported", ld_no_i8);
        cJSON_AddStringToObject(lj, "message", ld_rc ? ld.msg : "");
        cJSON_AddNumberToObject(o, "tensors_with_nan_or_inf", n_bad);
        cJSON *ps = cJSON_AddObjectToObject(o, "per_decode_step");
        cJSON_AddNumberToObject(ps, "weight_bytes", (double)step_bytes);
        cJSON_AddNumberToObject(ps, "weight_bytes_f32", (double)step_params * 4);
        cJSON_AddNumberToObject(ps, "q_effective", q_eff);
        cJSON_AddNumberToObject(ps, "roofline_q", q_nom);
        cJSON_AddNumberToObject(ps, "roofline_weight_bytes", cost.weights_bytes);
        char *s = cJSON_PrintUnformatted(o);
        fprintf(out, "%s\n", s);
        free(s);
        cJSON_Delete(o);
    } else {
        fprintf(out, "file         %s (%zu bytes, %d tensors)\n", spath, f.file_bytes, f.n_tensors);
        fprintf(out, "config       %s: n_layer %d, n_head %d, n_embd %d, n_positions %d, vocab %d\n", cpath, c.n_layer,
                c.n_head, c.n_embd, c.n_ctx, c.vocab);
        fprintf(out, "%-40s %-5s %-16s %14s\n", "tensor", "dtype", "shape", "bytes");
        for (int i = 0; i < f.n_tensors; i++) {
            const st_tensor *t = &f.tensors[i];
            char sh[128];
            shape_text(sh, sizeof sh, t);
            fprintf(out, "%-40s %-5s %-16s %14llu\n", t->name, t->dtype_str, sh,
                    (unsigned long long)(t->end - t->begin));
        }
        fprintf(out, "parameters   %llu (config: %llu)%s\n", (unsigned long long)params,
                (unsigned long long)config_param_count(&c), untied ? ", untied lm_head counted" : "");
        if (scale_vals) fprintf(out, "int8 scales  %llu values (F32, one per output channel)\n", (unsigned long long)scale_vals);
        fprintf(out, "matrices     %s; LayerNorm, biases and wpe as stored\n", mat_dt[0] ? mat_dt : "none");
        fprintf(out, "check        %s\n", chk_rc ? chk.msg : "ok");
        if (ld_no_i8)
            fprintf(out, "loader       does not read I8 yet (this build): %s\n", ld.msg);
        else
            fprintf(out, "loader       %s\n", ld_rc ? ld.msg : "ok (gpt2_load accepts it)");
        if (!n_bad) fprintf(out, "NaN/Inf      none\n");
        for (int i = 0; i < f.n_tensors; i++)
            if (nfv[i].nan || nfv[i].inf)
                fprintf(out, "warning      tensor %s has %llu NaN and %llu Inf values\n", f.tensors[i].name,
                        (unsigned long long)nfv[i].nan, (unsigned long long)nfv[i].inf);
        fprintf(out, "per decode step: %.2f MB of weights (every tensor but wpe%s), %.3f bytes/weight; "
                     "%.2f MB at f32 (%.2fx); roofline Q=%g: %.2f MB\n",
                step_bytes / 1e6, untied ? " and wte" : "", q_eff, step_params * 4 / 1e6,
                step_bytes ? (double)step_params * 4 / (double)step_bytes : 0, q_nom, cost.weights_bytes / 1e6);
    }
    free(nfv);
    st_close(&f);
    if (chk_rc) {
        *st = chk;
        return chk_rc;
    }
    if (ld_rc && !ld_no_i8) {
        *st = ld;
        return ld_rc;
    }
    return ST_OK;
}
