/* wt_check: tensor roles and the structural check of a GPT-2 checkpoint,
 * including the int8 layout (weights_tool.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "weights_tool.h"

static const char *strip_prefix(const char *name) {
    return strncmp(name, "transformer.", 12) == 0 ? name + 12 : name;
}

/* "h.<digits>.<rest>": the rest, or NULL. */
static const char *layer_rest(const char *n, long *layer) {
    if (strncmp(n, "h.", 2) != 0) return NULL;
    char *end = NULL;
    long l = strtol(n + 2, &end, 10);
    if (end == n + 2 || *end != '.') return NULL;
    if (layer) *layer = l;
    return end + 1;
}

static int is_matrix_rest(const char *r) {
    return strcmp(r, "attn.c_attn.weight") == 0 || strcmp(r, "attn.c_proj.weight") == 0 ||
           strcmp(r, "mlp.c_fc.weight") == 0 || strcmp(r, "mlp.c_proj.weight") == 0;
}

static int is_other_rest(const char *r) {
    static const char *const R[] = {"ln_1.weight", "ln_1.bias", "attn.c_attn.bias", "attn.c_proj.bias",
                                    "ln_2.weight", "ln_2.bias", "mlp.c_fc.bias",    "mlp.c_proj.bias"};
    for (size_t i = 0; i < sizeof R / sizeof R[0]; i++)
        if (strcmp(r, R[i]) == 0) return 1;
    return 0;
}

static wt_role role_plain(const char *n, int *out_dim) {
    if (strcmp(n, "wte.weight") == 0 || strcmp(n, "lm_head.weight") == 0) {
        if (out_dim) *out_dim = 0;
        return WT_ROLE_MATRIX;
    }
    if (strcmp(n, "wpe.weight") == 0 || strcmp(n, "ln_f.weight") == 0 || strcmp(n, "ln_f.bias") == 0)
        return WT_ROLE_OTHER;
    const char *r = layer_rest(n, NULL);
    if (r && is_matrix_rest(r)) {
        if (out_dim) *out_dim = 1;
        return WT_ROLE_MATRIX;
    }
    if (r && is_other_rest(r)) return WT_ROLE_OTHER;
    return WT_ROLE_UNKNOWN;
}

wt_role wt_tensor_role(const char *name, int *out_dim) {
    const char *n = strip_prefix(name);
    size_t len = strlen(n);
    if (len > 6 && strcmp(n + len - 6, ".scale") == 0) {
        char base[256];
        snprintf(base, sizeof base, "%.*s", (int)(len - 6), n);
        if (role_plain(base, out_dim) == WT_ROLE_MATRIX) return WT_ROLE_SCALE;
        return WT_ROLE_UNKNOWN;
    }
    return role_plain(n, out_dim);
}

static const st_tensor *find(const st_file *f, const char *name) {
    const st_tensor *t = st_find(f, name);
    if (t) return t;
    char pref[300];
    snprintf(pref, sizeof pref, "transformer.%s", name);
    return st_find(f, pref);
}

static void shape_str(char *buf, size_t n, const int64_t *shape, int nd) {
    buf[0] = 0;
    for (int i = 0; i < nd; i++) {
        size_t l = strlen(buf);
        snprintf(buf + l, n - l, "%s%lld", i ? ", " : "", (long long)shape[i]);
    }
}

/* One expected tensor: present, shape, dtype (I8 only for a matrix, then
 * with its scale). */
static int check_one(const st_file *f, const char *name, int nd, int64_t d0, int64_t d1, int matrix, int out_dim,
                     int *has_i8, status_t *st) {
    const st_tensor *t = find(f, name);
    if (!t)
        return status_fail(st, ST_BAD_INPUT, "%s: tensor %s is missing: not a complete GPT-2 checkpoint", f->path, name);
    const int64_t want[2] = {d0, d1};
    int ok = t->ndim == nd;
    for (int i = 0; ok && i < nd; i++) ok = t->shape[i] == want[i];
    if (!ok) {
        char got[128], exp[64];
        shape_str(got, sizeof got, t->shape, t->ndim);
        shape_str(exp, sizeof exp, want, nd);
        return status_fail(st, ST_BAD_INPUT,
                           "%s: tensor %s has shape [%s] but config.json implies [%s]: the config and the weights "
                           "disagree", f->path, t->name, got, exp);
    }
    const int half_or_f32 = t->dtype == ST_DT_F32 || t->dtype == ST_DT_F16 || t->dtype == ST_DT_BF16;
    if (t->dtype == ST_DT_I8 && matrix) {
        *has_i8 = 1;
        char sname[300];
        snprintf(sname, sizeof sname, "%s.scale", t->name);
        const st_tensor *s = st_find(f, sname);
        const int64_t out = want[out_dim];
        if (!s)
            return status_fail(st, ST_BAD_INPUT,
                               "%s: int8 tensor %s has no scale tensor %s (F32 [%lld]): the int8 checkpoint is "
                               "incomplete; convert it again with gpt2-weights convert --dtype int8",
                               f->path, t->name, sname, (long long)out);
        if (s->dtype != ST_DT_F32 || s->ndim != 1 || s->shape[0] != out) {
            char got[128];
            shape_str(got, sizeof got, s->shape, s->ndim);
            return status_fail(st, ST_BAD_INPUT,
                               "%s: scale tensor %s is %s [%s] but its int8 weight %s needs F32 [%lld] (one scale "
                               "per output channel): convert the checkpoint again",
                               f->path, sname, s->dtype_str, got, t->name, (long long)out);
        }
        return ST_OK;
    }
    if (!half_or_f32)
        return status_fail(st, ST_BAD_INPUT, "%s: tensor %s has dtype %s: F32, F16 or BF16 expected%s", f->path,
                           t->name, t->dtype_str, matrix ? " (or I8 with a .scale tensor)" : "");
    return ST_OK;
}

int wt_check_checkpoint(const st_file *f, const gpt2_config *c, int *has_i8, status_t *st) {
    *has_i8 = 0;
    const int64_t d = c->n_embd;
    int rc = check_one(f, "wte.weight", 2, c->vocab, d, 1, 0, has_i8, st);
    if (!rc) rc = check_one(f, "wpe.weight", 2, c->n_ctx, d, 0, 0, has_i8, st);
    if (!rc) rc = check_one(f, "ln_f.weight", 1, d, 0, 0, 0, has_i8, st);
    if (!rc) rc = check_one(f, "ln_f.bias", 1, d, 0, 0, 0, has_i8, st);
    for (int l = 0; l < c->n_layer && !rc; l++) {
        const struct { const char *s; int nd; int64_t a, b; int mat; } E[] = {
            {"ln_1.weight", 1, d, 0, 0},          {"ln_1.bias", 1, d, 0, 0},
            {"attn.c_attn.weight", 2, d, 3 * d, 1}, {"attn.c_attn.bias", 1, 3 * d, 0, 0},
            {"attn.c_proj.weight", 2, d, d, 1},   {"attn.c_proj.bias", 1, d, 0, 0},
            {"ln_2.weight", 1, d, 0, 0},          {"ln_2.bias", 1, d, 0, 0},
            {"mlp.c_fc.weight", 2, d, 4 * d, 1},  {"mlp.c_fc.bias", 1, 4 * d, 0, 0},
            {"mlp.c_proj.weight", 2, 4 * d, d, 1}, {"mlp.c_proj.bias", 1, d, 0, 0}};
        for (size_t i = 0; i < sizeof E / sizeof E[0] && !rc; i++) {
            char n[128];
            snprintf(n, sizeof n, "h.%d.%s", l, E[i].s);
            rc = check_one(f, n, E[i].nd, E[i].a, E[i].b, E[i].mat, 1, has_i8, st);
        }
    }
    if (!rc && st_find(f, "lm_head.weight")) rc = check_one(f, "lm_head.weight", 2, c->vocab, d, 1, 0, has_i8, st);
    if (rc) return rc;
    /* no layer beyond the config; no scale without an I8 matrix */
    for (int i = 0; i < f->n_tensors; i++) {
        const st_tensor *t = &f->tensors[i];
        long layer = -1;
        const char *n = strip_prefix(t->name);
        if (layer_rest(n, &layer) && layer >= c->n_layer)
            return status_fail(st, ST_BAD_INPUT,
                               "%s: has tensor %s but config.json says n_layer %d: the config and the weights disagree",
                               f->path, t->name, c->n_layer);
        const size_t len = strlen(t->name);
        if (len > 6 && strcmp(t->name + len - 6, ".scale") == 0) {
            char base[256];
            snprintf(base, sizeof base, "%.*s", (int)(len - 6), t->name);
            const st_tensor *m = st_find(f, base);
            if (!m && wt_tensor_role(base, NULL) == WT_ROLE_UNKNOWN) continue; /* not about GPT-2 */
            if (!m || m->dtype != ST_DT_I8)
                return status_fail(st, ST_BAD_INPUT,
                                   "%s: scale tensor %s belongs to no int8 tensor %s (%s): a damaged or mixed "
                                   "checkpoint; convert it again",
                                   f->path, t->name, base, m ? m->dtype_str : "missing");
        }
    }
    return ST_OK;
}
