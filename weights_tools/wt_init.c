/* gpt2-weights init: a Hugging Face GPT-2 folder (config.json +
 * model.safetensors, F32, names without prefix, tied head) holding the
 * seeded synthetic weights of gpt2_synthetic, so `gpt2-bench --model gpt2`
 * and `--weights` on `init --model gpt2` run the same numbers. */
#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>

#include "../bench/cli.h"
#include "../model/weights.h"
#include "weights_tool.h"

static const char *USAGE =
    "usage: gpt2-weights init (--model NAME | --layers L --width d --heads h --vocab V --ctx T)\n"
    "                         [--seed N] --out DIR [--force]\n"
    "  Writes DIR/config.json and DIR/model.safetensors (F32, Hugging Face GPT-2 names)\n"
    "  with the seeded synthetic weights gpt2-bench uses for --model NAME (seed 1 by default).\n"
    "  NAME: gpt2, gpt2-medium, gpt2-large, gpt2-xl. DIR must not exist unless --force.\n";

/* config.json text of a GPT-2 config (malloc'd). */
static char *config_json(const gpt2_config *c, const char *dtype_key) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "model_type", "gpt2");
    cJSON *arch = cJSON_AddArrayToObject(o, "architectures");
    cJSON_AddItemToArray(arch, cJSON_CreateString("GPT2LMHeadModel"));
    cJSON_AddStringToObject(o, "activation_function", "gelu_new");
    cJSON_AddNumberToObject(o, "n_layer", c->n_layer);
    cJSON_AddNumberToObject(o, "n_head", c->n_head);
    cJSON_AddNumberToObject(o, "n_embd", c->n_embd);
    cJSON_AddNumberToObject(o, "n_positions", c->n_ctx);
    cJSON_AddNumberToObject(o, "n_ctx", c->n_ctx);
    cJSON_AddNumberToObject(o, "vocab_size", c->vocab);
    cJSON_AddNumberToObject(o, "layer_norm_epsilon", (double)c->ln_eps);
    cJSON_AddBoolToObject(o, "tie_word_embeddings", 1);
    cJSON_AddStringToObject(o, "torch_dtype", dtype_key);
    char *s = cJSON_Print(o);
    cJSON_Delete(o);
    return s;
}

static void add(wt_tensor *t, int *n, const char *name, const float *data, int64_t a, int64_t b) {
    wt_tensor *x = &t[(*n)++];
    memset(x, 0, sizeof *x);
    snprintf(x->name, sizeof x->name, "%s", name);
    snprintf(x->dtype, sizeof x->dtype, "F32");
    x->ndim = b ? 2 : 1;
    x->shape[0] = a;
    x->shape[1] = b;
    x->data = data;
    x->nbytes = (uint64_t)a * (uint64_t)(b ? b : 1) * 4;
    x->esize = 4;
}

int wt_cmd_init(int argc, char **argv, FILE *out, status_t *st) {
    wt_flag fl[] = {{"--model", 1, 0}, {"--layers", 1, 0}, {"--width", 1, 0}, {"--heads", 1, 0},
                    {"--vocab", 1, 0}, {"--ctx", 1, 0},    {"--seed", 1, 0},  {"--out", 1, 0},
                    {"--force", 0, 0}, {"--help", 0, 0}};
    const int nf = sizeof fl / sizeof fl[0];
    const char *pos[1];
    int npos, rc = wt_parse(argc, argv, fl, nf, pos, 0, &npos, "init", st);
    if (rc) return rc;
#define GET(n) wt_get(fl, nf, n)
    if (GET("--help")) {
        fputs(USAGE, out);
        return ST_OK;
    }
    gpt2_config c;
    const char *name = GET("--model");
    const int any_shape = GET("--layers") || GET("--width") || GET("--heads") || GET("--vocab") || GET("--ctx");
    if (name && any_shape)
        return status_fail(st, ST_BAD_INPUT, "init: give either --model NAME or the shape flags (--layers --width "
                           "--heads --vocab --ctx), not both");
    if (name) {
        if ((rc = config_by_name(name, &c, st))) return rc;
    } else {
        if (!any_shape)
            return status_fail(st, ST_BAD_INPUT, "init: give --model NAME or --layers L --width d --heads h --vocab V "
                               "--ctx T (see gpt2-weights init --help)");
        long L, d, h, V, T;
        if ((rc = cli_int(GET("--layers"), "--layers", 1, 4096, &L, st)) ||
            (rc = cli_int(GET("--width"), "--width", 1, 1 << 20, &d, st)) ||
            (rc = cli_int(GET("--heads"), "--heads", 1, 1 << 20, &h, st)) ||
            (rc = cli_int(GET("--vocab"), "--vocab", 1, 1 << 24, &V, st)) ||
            (rc = cli_int(GET("--ctx"), "--ctx", 1, 1 << 20, &T, st)))
            return rc;
        memset(&c, 0, sizeof c);
        snprintf(c.name, sizeof c.name, "synthetic");
        c.n_layer = (int)L;
        c.n_embd = (int)d;
        c.n_head = (int)h;
        c.vocab = (int)V;
        c.n_ctx = (int)T;
        c.ln_eps = 1e-5f;
        if ((rc = config_validate(&c, "init", st))) return rc;
    }
    long seed = 1;
    if (GET("--seed") && (rc = cli_int(GET("--seed"), "--seed", 0, 2147483647L, &seed, st))) return rc;
    const char *dir = GET("--out");
    if (!dir) return status_fail(st, ST_BAD_INPUT, "init: --out DIR is required (the model folder to write)");
    int created;
    if ((rc = wt_prepare_out(dir, GET("--force") != NULL, &created, "init", st))) return rc;
    gpt2_model m;
    if ((rc = gpt2_synthetic(&m, &c, (uint64_t)seed, st))) {
        wt_cleanup_out(dir, created);
        return rc;
    }
    const int64_t d = c.n_embd;
    const int nt = 4 + 12 * c.n_layer;
    wt_tensor *t = calloc((size_t)nt, sizeof *t);
    char *cfg = config_json(&c, "float32");
    if (!t || !cfg) {
        free(t);
        free(cfg);
        gpt2_free(&m);
        wt_cleanup_out(dir, created);
        return status_fail(st, ST_RUNTIME, "out of memory");
    }
    int n = 0;
    add(t, &n, "wte.weight", m.wte, c.vocab, d);
    add(t, &n, "wpe.weight", m.wpe, c.n_ctx, d);
    for (int l = 0; l < c.n_layer; l++) {
        const gpt2_layer *y = &m.layers[l];
        char nm[128];
#define ADD(suffix, p, a, b)                                    \
    snprintf(nm, sizeof nm, "h.%d.%s", l, suffix);              \
    add(t, &n, nm, p, a, b);
        ADD("ln_1.weight", y->ln1_w, d, 0);
        ADD("ln_1.bias", y->ln1_b, d, 0);
        ADD("attn.c_attn.weight", y->qkv_w, d, 3 * d);
        ADD("attn.c_attn.bias", y->qkv_b, 3 * d, 0);
        ADD("attn.c_proj.weight", y->attn_proj_w, d, d);
        ADD("attn.c_proj.bias", y->attn_proj_b, d, 0);
        ADD("ln_2.weight", y->ln2_w, d, 0);
        ADD("ln_2.bias", y->ln2_b, d, 0);
        ADD("mlp.c_fc.weight", y->fc_w, d, 4 * d);
        ADD("mlp.c_fc.bias", y->fc_b, 4 * d, 0);
        ADD("mlp.c_proj.weight", y->fc_proj_w, 4 * d, d);
        ADD("mlp.c_proj.bias", y->fc_proj_b, d, 0);
#undef ADD
    }
    add(t, &n, "ln_f.weight", m.lnf_w, d, 0);
    add(t, &n, "ln_f.bias", m.lnf_b, d, 0);
    uint64_t bytes = 0;
    for (int i = 0; i < n; i++) bytes += t[i].nbytes;
    rc = wt_write_safetensors(dir, t, n, "gpt2_roofline_dtype", "f32", st);
    if (!rc) rc = wt_write_text(dir, "config.json", cfg, st);
    if (!rc)
        fprintf(out, "wrote %s: config.json and model.safetensors (%d tensors, %llu parameters, %.1f MB F32, seed %ld)\n",
                dir, n, (unsigned long long)config_param_count(&c), bytes / 1e6, seed);
    free(t);
    free(cfg);
    gpt2_free(&m);
    if (rc) wt_cleanup_out(dir, created);
    return rc;
#undef GET
}
