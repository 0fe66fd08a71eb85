#include "model_source.h"

#include <stdio.h>

static int one_source(const char *name, const char *weights, status_t *st) {
    if ((name != NULL) == (weights != NULL))
        return status_fail(st, ST_BAD_INPUT, "give exactly one of --model NAME (gpt2, gpt2-medium, gpt2-large, "
                           "gpt2-xl) or --weights PATH");
    return ST_OK;
}

int model_config(gpt2_config *c, const char *name, const char *weights, status_t *st) {
    int rc = one_source(name, weights, st);
    if (rc) return rc;
    if (name) return config_by_name(name, c, st);
    char cpath[1100], spath[1100];
    if ((rc = gpt2_resolve_paths(weights, cpath, sizeof cpath, spath, sizeof spath, st))) return rc;
    return config_from_json_file(cpath, c, st);
}

int model_open(gpt2_model *m, const char *name, const char *weights, uint64_t seed, status_t *st) {
    int rc0 = one_source(name, weights, st);
    if (rc0) return rc0;
    if (weights) {
        int rc = gpt2_load(m, weights, st);
        if (!rc && m->nonfinite)
            fprintf(stderr, "gpt2-bench: warning: %s holds %llu NaN/Inf values (first in %s): its logits will not "
                    "be meaningful, its timings still are\n",
                    m->source, (unsigned long long)m->nonfinite, m->nonfinite_tensor);
        return rc;
    }
    gpt2_config c;
    int rc = config_by_name(name, &c, st);
    if (rc) return rc;
    return gpt2_synthetic(m, &c, seed, st);
}

int model_pack(gpt2_model *m, const char *dtype_arg, int always, wdtype *dt, status_t *st) {
    *dt = m->stored_dtype;
    if (dtype_arg && wdtype_parse(dtype_arg, dt) != 0)
        return status_fail(st, ST_BAD_INPUT, "--dtype %s: use f32, bf16, f16 or int8", dtype_arg);
    if (*dt == WDT_F32 && !always) return ST_OK;
    return gpt2_pack_dtype(m, *dt, st);
}

int kv_dtype_parse(const char *arg, wdtype *dt, status_t *st) {
    *dt = WDT_F32;
    if (arg && (wdtype_parse(arg, dt) != 0 || *dt == WDT_INT8))
        return status_fail(st, ST_BAD_INPUT, "--kv-dtype %s: use f32, f16 or bf16", arg);
    return ST_OK;
}
