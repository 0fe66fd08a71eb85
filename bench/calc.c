/* calc: the model presets, Hugging Face config reading and the arithmetic
 * of the sizing sheet (calc.h, docs/calc.md). */
#include "calc.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli.h"

/* ---- models ---------------------------------------------------------------------- */

const char *const CALC_MODEL_NAMES =
    "gpt2, gpt2-medium, gpt2-large, gpt2-xl, gpt3-175b, llama-7b, llama-13b, llama2-70b, mixtral-8x7b";

void calc_model_from_gpt2(const gpt2_config *c, calc_model *m) {
    memset(m, 0, sizeof *m);
    snprintf(m->name, sizeof m->name, "%s", c->name);
    snprintf(m->type, sizeof m->type, "gpt2");
    m->n_layer = c->n_layer;
    m->n_embd = c->n_embd;
    m->n_head = c->n_head;
    m->n_kv_head = c->n_head;
    m->head_dim = c->n_embd / c->n_head;
    m->d_ff = 4 * c->n_embd;
    m->vocab = c->vocab;
    m->n_ctx = c->n_ctx;
    m->tied = 1;
    m->pos = CALC_POS_LEARNED;
    m->norm = CALC_NORM_LAYERNORM;
    m->mlp = CALC_MLP_GELU;
    m->attn_bias = m->mlp_bias = 1;
}

/* A LLaMA-style shape: rotary, RMSNorm, SwiGLU, no biases, untied head. */
static void llama_shape(calc_model *m, const char *name, const char *type, int L, int d, int h, int g, int f,
                        int V, int T) {
    memset(m, 0, sizeof *m);
    snprintf(m->name, sizeof m->name, "%s", name);
    snprintf(m->type, sizeof m->type, "%s", type);
    m->n_layer = L;
    m->n_embd = d;
    m->n_head = h;
    m->n_kv_head = g;
    m->head_dim = d / h;
    m->d_ff = f;
    m->vocab = V;
    m->n_ctx = T;
    m->tied = 0;
    m->pos = CALC_POS_ROTARY;
    m->norm = CALC_NORM_RMSNORM;
    m->mlp = CALC_MLP_SWIGLU;
}

int calc_model_by_name(const char *name, calc_model *m, status_t *st) {
    static const char *const names[] = {"gpt2",     "gpt2-medium", "gpt2-large", "gpt2-xl",     "gpt3-175b",
                                        "llama-7b", "llama-13b",   "llama2-70b", "mixtral-8x7b"};
    if (!name) name = "";
    if (strncmp(name, "gpt2", 4) == 0) {
        gpt2_config c;
        status_t ignore;
        if (config_by_name(name, &c, &ignore) == ST_OK) {
            calc_model_from_gpt2(&c, m);
            return ST_OK;
        }
    }
    if (strcmp(name, "gpt3-175b") == 0) {
        /* GPT-3 paper (Brown et al. 2020) Table 2.1: 96 layers, d 12288, 96
         * heads of 128, context 2048; GPT-2's architecture and vocabulary */
        gpt2_config c = {.n_layer = 96, .n_head = 96, .n_embd = 12288, .n_ctx = 2048, .vocab = 50257, .ln_eps = 1e-5f};
        snprintf(c.name, sizeof c.name, "gpt3-175b");
        calc_model_from_gpt2(&c, m);
        snprintf(m->type, sizeof m->type, "gpt3");
        return ST_OK;
    }
    if (strcmp(name, "llama-7b") == 0) {
        llama_shape(m, name, "llama", 32, 4096, 32, 32, 11008, 32000, 2048);
        return ST_OK;
    }
    if (strcmp(name, "llama-13b") == 0) {
        llama_shape(m, name, "llama", 40, 5120, 40, 40, 13824, 32000, 2048);
        return ST_OK;
    }
    if (strcmp(name, "llama2-70b") == 0) {
        llama_shape(m, name, "llama", 80, 8192, 64, 8, 28672, 32000, 4096);
        return ST_OK;
    }
    if (strcmp(name, "mixtral-8x7b") == 0) {
        llama_shape(m, name, "mixtral", 32, 4096, 32, 8, 14336, 32000, 32768);
        m->n_experts = 8;
        m->top_k = 2;
        return ST_OK;
    }
    int best = 0, bd = 1 << 20;
    for (int i = 0; i < (int)(sizeof names / sizeof names[0]); i++) {
        int dist = cli_edit_distance(name, names[i]);
        if (dist < bd) { bd = dist; best = i; }
    }
    if (bd <= 3)
        return status_fail(st, ST_BAD_INPUT,
                           "calc: unknown model '%s': did you mean %s? (models: %s, or --config FILE)", name,
                           names[best], CALC_MODEL_NAMES);
    return status_fail(st, ST_BAD_INPUT, "calc: unknown model '%s': use one of %s, or --config config.json", name,
                       CALC_MODEL_NAMES);
}

int calc_model_validate(const calc_model *m, const char *where, status_t *st) {
#define RANGE(field, lo, hi)                                                                                    \
    if (m->field < (lo) || m->field > (hi))                                                                     \
        return status_fail(st, ST_BAD_INPUT, "%s: %s %d must be in %d..%d: fix the config", where, #field, m->field, \
                           (int)(lo), (int)(hi));
    RANGE(n_layer, 1, 4096)
    RANGE(n_embd, 1, 1 << 20)
    RANGE(n_head, 1, 1 << 16)
    RANGE(n_kv_head, 1, 1 << 16)
    RANGE(head_dim, 1, 1 << 16)
    RANGE(d_ff, 1, 1 << 22)
    RANGE(vocab, 1, 1 << 24)
    RANGE(n_ctx, 1, 1 << 26)
    RANGE(n_experts, 0, 4096)
    RANGE(top_k, 0, 4096)
    RANGE(sliding_window, 0, 1 << 26)
#undef RANGE
    if (m->n_head % m->n_kv_head != 0)
        return status_fail(st, ST_BAD_INPUT,
                           "%s: %d key/value heads must divide the %d attention heads: fix num_key_value_heads", where,
                           m->n_kv_head, m->n_head);
    if (m->n_experts > 0 && (m->top_k < 1 || m->top_k > m->n_experts))
        return status_fail(st, ST_BAD_INPUT, "%s: %d experts per token must be in 1..%d (the experts): fix "
                           "num_experts_per_tok", where, m->top_k, m->n_experts);
    if (m->n_experts == 0 && m->top_k != 0)
        return status_fail(st, ST_BAD_INPUT, "%s: experts per token without experts: give num_local_experts", where);
    /* every count must stay an exact integer in a double */
    double d = m->n_embd, qd = (double)m->n_head * m->head_dim, f = m->d_ff, E = m->n_experts > 0 ? m->n_experts : 1;
    double layer = 4 * d * qd + 3 * d * f * E + 2 * d * E;
    double total = m->n_layer * layer + 2.0 * m->vocab * d + (double)m->n_ctx * d;
    if (total > 1e15)
        return status_fail(st, ST_BAD_INPUT, "%s: a model of %.3g parameters is beyond any machine: check the config",
                           where, total);
    return ST_OK;
}

/* ---- Hugging Face config.json ---------------------------------------------------- */

/* An integer field; null counts as absent. */
static int jint(const cJSON *root, const char *key, int *out, int *found, const char *path, status_t *st) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, key);
    if (found) *found = 0;
    if (!v || cJSON_IsNull(v)) return ST_OK;
    double x = v->valuedouble;
    if (!cJSON_IsNumber(v) || x != floor(x) || x < 0 || x > 2147483647.0)
        return status_fail(st, ST_BAD_INPUT, "%s: \"%s\" must be a whole number: fix the config.json", path, key);
    *out = (int)x;
    if (found) *found = 1;
    return ST_OK;
}

static int jbool(const cJSON *root, const char *key, int *out, const char *path, status_t *st) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, key);
    if (!v || cJSON_IsNull(v)) return ST_OK;
    if (!cJSON_IsBool(v))
        return status_fail(st, ST_BAD_INPUT, "%s: \"%s\" must be true or false: fix the config.json", path, key);
    *out = cJSON_IsTrue(v);
    return ST_OK;
}

/* The model's name: the folder holding config.json, else the file's stem. */
static void name_from_path(const char *path, char *name, size_t n) {
    const char *slash = strrchr(path, '/');
    if (slash && slash > path) {
        const char *start = slash - 1;
        while (start > path && start[-1] != '/') start--;
        snprintf(name, n, "%.*s", (int)(slash - start), start);
    } else {
        snprintf(name, n, "checkpoint");
    }
}

static int required(int found, const char *key, const char *type, const char *path, status_t *st) {
    if (found) return ST_OK;
    return status_fail(st, ST_BAD_INPUT, "%s: \"%s\" is missing: give the model's Hugging Face %s config.json", path,
                       key, type);
}

static int from_gpt2_json(const cJSON *root, const char *text, const char *path, calc_model *m, status_t *st) {
    gpt2_config c;
    int rc = config_from_json_text(text, path, &c, st);
    if (rc) return rc;
    calc_model_from_gpt2(&c, m);
    int n_inner = 0, has_inner = 0;
    if ((rc = jint(root, "n_inner", &n_inner, &has_inner, path, st))) return rc;
    if (has_inner) m->d_ff = n_inner;
    if ((rc = jbool(root, "tie_word_embeddings", &m->tied, path, st))) return rc;
    return ST_OK;
}

static int from_llama_json(const cJSON *root, const char *type, const char *path, calc_model *m, status_t *st) {
    memset(m, 0, sizeof *m);
    snprintf(m->type, sizeof m->type, "%s", type);
    name_from_path(path, m->name, sizeof m->name);
    m->pos = CALC_POS_ROTARY;
    m->norm = CALC_NORM_RMSNORM;
    m->mlp = CALC_MLP_SWIGLU;
    int fd, fl, fh, fkv, fff, fv, fctx, fhd, fw, fe, fk, rc;
    if ((rc = jint(root, "hidden_size", &m->n_embd, &fd, path, st)) ||
        (rc = jint(root, "num_hidden_layers", &m->n_layer, &fl, path, st)) ||
        (rc = jint(root, "num_attention_heads", &m->n_head, &fh, path, st)) ||
        (rc = jint(root, "num_key_value_heads", &m->n_kv_head, &fkv, path, st)) ||
        (rc = jint(root, "intermediate_size", &m->d_ff, &fff, path, st)) ||
        (rc = jint(root, "vocab_size", &m->vocab, &fv, path, st)) ||
        (rc = jint(root, "max_position_embeddings", &m->n_ctx, &fctx, path, st)) ||
        (rc = jint(root, "head_dim", &m->head_dim, &fhd, path, st)) ||
        (rc = jint(root, "sliding_window", &m->sliding_window, &fw, path, st)) ||
        (rc = jint(root, "num_local_experts", &m->n_experts, &fe, path, st)) ||
        (rc = jint(root, "num_experts_per_tok", &m->top_k, &fk, path, st)) ||
        (rc = jbool(root, "tie_word_embeddings", &m->tied, path, st)) ||
        (rc = jbool(root, "attention_bias", &m->attn_bias, path, st)) ||
        (rc = jbool(root, "mlp_bias", &m->mlp_bias, path, st)))
        return rc;
    if ((rc = required(fd, "hidden_size", type, path, st)) ||
        (rc = required(fl, "num_hidden_layers", type, path, st)) ||
        (rc = required(fh, "num_attention_heads", type, path, st)) ||
        (rc = required(fff, "intermediate_size", type, path, st)) ||
        (rc = required(fv, "vocab_size", type, path, st)) ||
        (rc = required(fctx, "max_position_embeddings", type, path, st)))
        return rc;
    if (!fkv) m->n_kv_head = m->n_head;
    if (!fhd || m->head_dim == 0) {
        if (m->n_head <= 0 || m->n_embd % m->n_head != 0)
            return status_fail(st, ST_BAD_INPUT, "%s: num_attention_heads %d must divide hidden_size %d (or give "
                               "head_dim)", path, m->n_head, m->n_embd);
        m->head_dim = m->n_embd / m->n_head;
    }
    if (strcmp(type, "mixtral") == 0) {
        if ((rc = required(fe, "num_local_experts", type, path, st))) return rc;
        if (!fk) m->top_k = 2;
    } else if (fe || fk) {
        if (!fe || m->n_experts == 0) m->top_k = 0;
        if (m->n_experts > 0 && !fk) m->top_k = 2;
    }
    if (m->n_experts == 1) { m->n_experts = 0; m->top_k = 0; } /* one expert is a dense MLP */
    if (m->sliding_window >= m->n_ctx) m->sliding_window = 0;    /* a window as wide as the context changes nothing */
    return ST_OK;
}

int calc_model_from_json_text(const char *text, const char *path, calc_model *m, status_t *st) {
    cJSON *root = cJSON_Parse(text);
    if (!root || !cJSON_IsObject(root)) {
        cJSON_Delete(root);
        return status_fail(st, ST_BAD_INPUT, "%s: not a JSON object: give a Hugging Face config.json", path);
    }
    const cJSON *mt = cJSON_GetObjectItemCaseSensitive(root, "model_type");
    const char *type = cJSON_IsString(mt) ? mt->valuestring : NULL;
    if (!type &&
        (cJSON_GetObjectItemCaseSensitive(root, "n_embd") || cJSON_GetObjectItemCaseSensitive(root, "n_layer")))
        type = "gpt2"; /* old GPT-2 configs name no type */
    int rc;
    if (!type)
        rc = status_fail(st, ST_BAD_INPUT, "%s: no \"model_type\": give a Hugging Face config.json of type gpt2, "
                         "llama, mistral or mixtral", path);
    else if (strcmp(type, "gpt2") == 0)
        rc = from_gpt2_json(root, text, path, m, st);
    else if (strcmp(type, "llama") == 0 || strcmp(type, "mistral") == 0 || strcmp(type, "mixtral") == 0)
        rc = from_llama_json(root, type, path, m, st);
    else
        rc = status_fail(st, ST_BAD_INPUT, "%s: model_type \"%.40s\" is not supported: calc reads gpt2, llama, "
                         "mistral and mixtral (or give a preset with --model)", path, type);
    cJSON_Delete(root);
    return rc ? rc : calc_model_validate(m, path, st);
}

int calc_model_from_json_file(const char *path, calc_model *m, status_t *st) {
    char full[4096];
    struct stat sb;
    if (stat(path, &sb) == 0 && S_ISDIR(sb.st_mode)) {
        size_t n = strlen(path);
        snprintf(full, sizeof full, "%s%sconfig.json", path, n && path[n - 1] == '/' ? "" : "/");
    } else {
        snprintf(full, sizeof full, "%s", path);
    }
    FILE *f = fopen(full, "rb");
    if (!f)
        return status_fail(st, ST_BAD_INPUT, "%s: cannot open: give a Hugging Face config.json (or its folder)", full);
    char *text = malloc((1 << 20) + 1);
    if (!text) { fclose(f); return status_fail(st, ST_RUNTIME, "out of memory reading %s", full); }
    size_t got = fread(text, 1, 1 << 20, f);
    int more = fgetc(f) != EOF;
    fclose(f);
    if (more) {
        free(text);
        return status_fail(st, ST_BAD_INPUT, "%s: over 1 MiB is not a config.json", full);
    }
    text[got] = 0;
    int rc = calc_model_from_json_text(text, full, m, st);
    free(text);
    return rc;
}

/* ---- parameters ------------------------------------------------------------------ */

static double qdim(const calc_model *m) { return (double)m->n_head * m->head_dim; }
static double kvdim(const calc_model *m) { return (double)m->n_kv_head * m->head_dim; }
static double experts_used(const calc_model *m) { return m->n_experts > 0 ? m->top_k : 1; }

/* One MLP's (one expert's) matrices. */
static double mlp_matmul(const calc_model *m) {
    return (m->mlp == CALC_MLP_SWIGLU ? 3.0 : 2.0) * m->n_embd * (double)m->d_ff;
}
static double mlp_biases(const calc_model *m) {
    if (!m->mlp_bias) return 0;
    return (m->mlp == CALC_MLP_SWIGLU ? 2.0 : 1.0) * m->d_ff + m->n_embd;
}
static double attn_matmul(const calc_model *m) {
    double d = m->n_embd;
    return d * qdim(m) + 2 * d * kvdim(m) + qdim(m) * d;
}
static double attn_biases(const calc_model *m) { return m->attn_bias ? qdim(m) + 2 * kvdim(m) + m->n_embd : 0; }
static double norm_params(const calc_model *m) { return (m->norm == CALC_NORM_LAYERNORM ? 2.0 : 1.0) * m->n_embd; }
static double router_params(const calc_model *m) { return m->n_experts > 0 ? (double)m->n_embd * m->n_experts : 0; }

void calc_param_count(const calc_model *m, calc_params *p) {
    memset(p, 0, sizeof *p);
    const uint64_t L = (uint64_t)m->n_layer, d = (uint64_t)m->n_embd, V = (uint64_t)m->vocab;
    p->attention_layer = (uint64_t)(attn_matmul(m) + attn_biases(m));
    uint64_t one_mlp = (uint64_t)(mlp_matmul(m) + mlp_biases(m));
    p->norms_layer = 2 * (uint64_t)norm_params(m);
    p->embedding = V * d;
    p->position = m->pos == CALC_POS_LEARNED ? (uint64_t)m->n_ctx * d : 0;
    p->lm_head = m->tied ? 0 : V * d;
    p->attention = L * p->attention_layer;
    if (m->n_experts > 0) {
        p->expert_layer = one_mlp;
        p->experts = L * (uint64_t)m->n_experts * one_mlp;
        p->experts_active = L * (uint64_t)m->top_k * one_mlp;
        p->router = L * (uint64_t)router_params(m);
    } else {
        p->mlp_layer = one_mlp;
        p->mlp = L * one_mlp;
    }
    p->norms = L * p->norms_layer + (uint64_t)norm_params(m);
    p->total = p->embedding + p->position + p->lm_head + p->attention + p->mlp + p->experts + p->router + p->norms;
    p->active = p->total - (p->experts - p->experts_active);
    p->non_embedding = p->total - p->embedding - p->position - p->lm_head;
    p->approx_12ld2 = 12.0 * (double)L * (double)d * (double)d;
}

/* ---- LoRA ------------------------------------------------------------------------ */

typedef struct {
    const char *name;
    unsigned mask;
} lora_name;

static const lora_name LORA_NAMES[] = {
    {"q", CALC_LORA_Q},
    {"q_proj", CALC_LORA_Q},
    {"k", CALC_LORA_K},
    {"k_proj", CALC_LORA_K},
    {"v", CALC_LORA_V},
    {"v_proj", CALC_LORA_V},
    {"o", CALC_LORA_O},
    {"o_proj", CALC_LORA_O},
    {"out_proj", CALC_LORA_O},
    {"qkv", CALC_LORA_QKV},
    {"c_attn", CALC_LORA_QKV},
    {"query_key_value", CALC_LORA_QKV},
    {"gate", CALC_LORA_GATE},
    {"gate_proj", CALC_LORA_GATE},
    {"w1", CALC_LORA_GATE},
    {"up", CALC_LORA_UP},
    {"up_proj", CALC_LORA_UP},
    {"w3", CALC_LORA_UP},
    {"c_fc", CALC_LORA_UP},
    {"fc", CALC_LORA_UP},
    {"down", CALC_LORA_DOWN},
    {"down_proj", CALC_LORA_DOWN},
    {"w2", CALC_LORA_DOWN},
    {"mlp.c_proj", CALC_LORA_DOWN},
    {"c_proj", CALC_LORA_O | CALC_LORA_DOWN},
    {"lm_head", CALC_LORA_LM_HEAD},
    {"all", CALC_LORA_Q | CALC_LORA_K | CALC_LORA_V | CALC_LORA_O | CALC_LORA_GATE | CALC_LORA_UP | CALC_LORA_DOWN},
    {"all-linear",
     CALC_LORA_Q | CALC_LORA_K | CALC_LORA_V | CALC_LORA_O | CALC_LORA_GATE | CALC_LORA_UP | CALC_LORA_DOWN},
};
#define N_LORA_NAMES (int)(sizeof LORA_NAMES / sizeof LORA_NAMES[0])

int calc_lora_targets(const char *list, const calc_model *m, unsigned *mask, status_t *st) {
    *mask = 0;
    const char *p = list ? list : "";
    if (!*p) return status_fail(st, ST_BAD_INPUT, "--lora-targets: give projections like q,v or all");
    while (*p) {
        const char *e = strchr(p, ',');
        size_t n = e ? (size_t)(e - p) : strlen(p);
        char word[64];
        if (n == 0 || n >= sizeof word)
            return status_fail(st, ST_BAD_INPUT, "--lora-targets '%s': give names separated by commas, like q,v", list);
        memcpy(word, p, n);
        word[n] = 0;
        int found = -1, best = 0, bd = 1 << 20;
        for (int i = 0; i < N_LORA_NAMES; i++) {
            if (strcmp(word, LORA_NAMES[i].name) == 0) { found = i; break; }
            int dist = cli_edit_distance(word, LORA_NAMES[i].name);
            if (dist < bd) { bd = dist; best = i; }
        }
        if (found < 0) {
            if (bd <= 2)
                return status_fail(st, ST_BAD_INPUT, "--lora-targets: unknown projection '%s': did you mean %s? (q, k, "
                                   "v, o, qkv, gate, up, down, lm_head, all)", word, LORA_NAMES[best].name);
            return status_fail(st, ST_BAD_INPUT,
                               "--lora-targets: unknown projection '%s': use q, k, v, o, qkv, gate, up, "
                               "down, lm_head or all (or the Hugging Face names q_proj, c_attn, ...)",
                               word);
        }
        unsigned add = LORA_NAMES[found].mask;
        if (strcmp(word, "all") == 0 || strcmp(word, "all-linear") == 0) {
            if (m->mlp != CALC_MLP_SWIGLU) add &= ~(unsigned)CALC_LORA_GATE;
        } else if ((add & CALC_LORA_GATE) && m->mlp != CALC_MLP_SWIGLU) {
            return status_fail(st, ST_BAD_INPUT, "--lora-targets: %s has a GELU MLP with no gate projection: use up "
                               "and down", m->name);
        }
        *mask |= add;
        p += n;
        if (*p == ',') {
            p++;
            if (!*p) return status_fail(st, ST_BAD_INPUT, "--lora-targets '%s': a trailing comma", list);
        }
    }
    if ((*mask & CALC_LORA_QKV) && (*mask & (CALC_LORA_Q | CALC_LORA_K | CALC_LORA_V)))
        return status_fail(st, ST_BAD_INPUT, "--lora-targets '%s': qkv (c_attn) is q, k and v fused into one matrix: "
                           "give qkv or q/k/v, not both", list);
    return ST_OK;
}

uint64_t calc_lora_params(const calc_model *m, int rank, unsigned mask) {
    const double d = m->n_embd, qd = qdim(m), kvd = kvdim(m), f = m->d_ff;
    const double E = m->n_experts > 0 ? m->n_experts : 1;
    double layer = 0;
    if (mask & CALC_LORA_Q) layer += d + qd;
    if (mask & CALC_LORA_K) layer += d + kvd;
    if (mask & CALC_LORA_V) layer += d + kvd;
    if (mask & CALC_LORA_O) layer += qd + d;
    if (mask & CALC_LORA_QKV) layer += d + qd + 2 * kvd;
    if ((mask & CALC_LORA_GATE) && m->mlp == CALC_MLP_SWIGLU) layer += E * (d + f);
    if (mask & CALC_LORA_UP) layer += E * (d + f);
    if (mask & CALC_LORA_DOWN) layer += E * (f + d);
    double total = (double)rank * (m->n_layer * layer + ((mask & CALC_LORA_LM_HEAD) ? d + m->vocab : 0));
    return (uint64_t)total;
}

void calc_lora_names(unsigned mask, char *buf, size_t n) {
    static const struct { unsigned bit; const char *name; } bits[] = {
        {CALC_LORA_Q, "q"},       {CALC_LORA_K, "k"},   {CALC_LORA_V, "v"},       {CALC_LORA_O, "o"},
        {CALC_LORA_QKV, "qkv"},   {CALC_LORA_GATE, "gate"}, {CALC_LORA_UP, "up"}, {CALC_LORA_DOWN, "down"},
        {CALC_LORA_LM_HEAD, "lm_head"}};
    size_t used = 0;
    if (n) buf[0] = 0;
    for (size_t i = 0; i < sizeof bits / sizeof bits[0]; i++)
        if ((mask & bits[i].bit) && used < n) {
            int w = snprintf(buf + used, n - used, "%s%s", used ? "," : "", bits[i].name);
            if (w > 0) used += (size_t)w;
        }
}

/* ---- KV cache, experts ------------------------------------------------------------ */

double calc_kv_bytes_per_token(const calc_model *m, double kv_bits) {
    return 2.0 * m->n_layer * kvdim(m) * kv_bits / 8.0;
}

double calc_kv_tokens(const calc_model *m, double S) {
    return m->sliding_window > 0 && S > m->sliding_window ? (double)m->sliding_window : S;
}

double calc_experts_touched(const calc_model *m, double B) {
    if (m->n_experts <= 0) return 0;
    const double E = m->n_experts, k = m->top_k;
    if (k >= E) return E;
    return E * (1.0 - pow(1.0 - k / E, B));
}

/* ---- one decode step, one prefill --------------------------------------------------- */

/* Activation elements one token moves through a layer: each operator's
 * inputs and outputs once, as roofline_decode_op_cost counts them (GPT-2:
 * qkv 4d, attention 2d, proj 2d, norms 4d, other 6d, MLP 2d + 4f = 36d). */
static double act_per_layer(const calc_model *m) {
    const double d = m->n_embd, qd = qdim(m), kvd = kvdim(m), f = m->d_ff;
    double attn = (d + qd + 2 * kvd) + 2 * qd + (qd + d) + 4 * d + 6 * d;
    double mlp = m->mlp == CALC_MLP_SWIGLU ? (d + 2 * f) + 3 * f + (f + d) : (d + f) + 2 * f + (f + d);
    double router = m->n_experts > 0 ? d + m->n_experts : 0;
    return attn + experts_used(m) * mlp + router;
}

/* FLOPs per element of a norm (LayerNorm ~8: mean, centre, square, sum,
 * scale, affine; RMSNorm ~4) and of the MLP activation (GELU ~8 as
 * roofline.c; SiLU ~4 plus the gate product). */
static double norm_flops(const calc_model *m) { return (m->norm == CALC_NORM_LAYERNORM ? 8.0 : 4.0) * m->n_embd; }
static double act_flops(const calc_model *m) { return m->mlp == CALC_MLP_SWIGLU ? 5.0 : 8.0; }

/* Elementwise FLOPs of a layer for one token, without the softmax: two
 * norms, the MLP activation, biases, two residual adds, router softmax. */
static double other_per_layer(const calc_model *m) {
    return 2 * norm_flops(m) + act_flops(m) * m->d_ff * experts_used(m) + attn_biases(m) +
           experts_used(m) * mlp_biases(m) + 2.0 * m->n_embd + (m->n_experts > 0 ? 5.0 * m->n_experts : 0);
}

/* Matmul weights one token multiplies by in a layer. */
static double matmul_per_layer(const calc_model *m) {
    return attn_matmul(m) + experts_used(m) * mlp_matmul(m) + router_params(m);
}

/* Parameters a step of n tokens reads: all but a learned position table
 * (its n rows are negligible), and of the experts those the tokens touch. */
static double params_read(const calc_model *m, double n_tokens) {
    calc_params p;
    calc_param_count(m, &p);
    double read = (double)(p.total - p.position);
    if (m->n_experts > 0)
        read -= (double)m->n_layer * (m->n_experts - calc_experts_touched(m, n_tokens)) * (double)p.expert_layer;
    return read;
}

void calc_decode_cost(const calc_model *m, double B, double S, double Q, double Qkv, step_cost *o) {
    const double d = m->n_embd, L = m->n_layer, V = m->vocab, h = m->n_head, kvd = kvdim(m);
    const double Se = calc_kv_tokens(m, S);
    o->weights_bytes = Q * params_read(m, B);
    o->kv_read_bytes = B * L * 2 * Se * kvd * Qkv;
    o->kv_write_bytes = B * L * 2 * kvd * Qkv;
    o->act_bytes = 4.0 * B * (L * act_per_layer(m) + 3 * d + V);
    o->total_bytes = o->weights_bytes + o->kv_read_bytes + o->kv_write_bytes + o->act_bytes;
    o->dense_flops = 2.0 * B * L * matmul_per_layer(m);
    o->attention_flops = 4.0 * B * L * Se * qdim(m);
    o->lm_head_flops = 2.0 * B * V * d;
    o->other_flops = B * (L * (other_per_layer(m) + 5 * h * (Se + 1.0)) + norm_flops(m));
    o->total_flops = o->dense_flops + o->attention_flops + o->lm_head_flops + o->other_flops;
}

/* Query-key pairs per layer of a P-token prefill: the causal half P^2/2
 * (roofline.c's count), less beyond a sliding window; the full square. */
static double prefill_pairs(const calc_model *m, double P, int causal) {
    if (!causal) return P * P;
    double W = m->sliding_window;
    if (W > 0 && P > W) return W * P - W * W / 2;
    return P * P / 2;
}

void calc_prefill_cost(const calc_model *m, double B, double P, double Q, double Qkv, int all_logits, int causal,
                       step_cost *o) {
    const double d = m->n_embd, L = m->n_layer, V = m->vocab, kvd = kvdim(m);
    const double n_logits = all_logits ? P : 1;
    o->weights_bytes = Q * params_read(m, B * P);
    o->kv_read_bytes = 0;
    o->kv_write_bytes = B * L * 2 * P * kvd * Qkv;
    o->act_bytes = 4.0 * B * P * (L * act_per_layer(m) + 2 * d) + 4.0 * B * n_logits * V;
    o->total_bytes = o->weights_bytes + o->kv_write_bytes + o->act_bytes;
    o->dense_flops = 2.0 * B * P * L * matmul_per_layer(m);
    if (causal && !(m->sliding_window > 0 && P > m->sliding_window))
        o->attention_flops = 2.0 * B * L * P * P * qdim(m); /* = 4 qd pairs, in roofline.c's order */
    else
        o->attention_flops = 4.0 * B * L * prefill_pairs(m, P, causal) * qdim(m);
    o->lm_head_flops = 2.0 * B * n_logits * V * d;
    o->other_flops = B * P * (L * other_per_layer(m) + norm_flops(m));
    o->total_flops = o->dense_flops + o->attention_flops + o->lm_head_flops + o->other_flops;
}

void calc_prefill_split(const calc_model *m, double P, int all_logits, int causal, calc_flops_split *o) {
    step_cost c;
    calc_prefill_cost(m, 1, P, 2, 2, all_logits, causal, &c);
    o->attn_proj = 2.0 * P * m->n_layer * attn_matmul(m);
    o->mlp = c.dense_flops - o->attn_proj;
    o->attention = c.attention_flops;
    o->logits = c.lm_head_flops;
    o->other = c.other_flops;
    o->total = c.total_flops;
}

void calc_mults_per_layer(const calc_model *m, double S, calc_mults *o) {
    const double d = m->n_embd, qd = qdim(m), kvd = kvdim(m), f = m->d_ff, k = experts_used(m);
    const double Se = calc_kv_tokens(m, S);
    o->q = d * qd;
    o->k = d * kvd;
    o->v = d * kvd;
    o->o = qd * d;
    o->scores = Se * qd;
    o->mix = Se * qd;
    o->gate = m->mlp == CALC_MLP_SWIGLU ? k * d * f : 0;
    o->up = k * d * f;
    o->down = k * f * d;
    o->router = router_params(m);
    o->total = o->q + o->k + o->v + o->o + o->scores + o->mix + o->gate + o->up + o->down + o->router;
}

/* ---- the sheet ------------------------------------------------------------------- */

void calc_inputs_default(calc_inputs *in, const calc_model *m) {
    memset(in, 0, sizeof *in);
    in->bits = 16;
    in->kv_bits = 16;
    in->batch = 1;
    in->context = m->n_ctx;
    in->prompt = m->n_ctx;
    in->lora_rank = 8;
    in->lora_mask = CALC_LORA_Q | CALC_LORA_V;
    in->mfu = 0.4;
    in->devices = 1;
    in->causal = 1;
}

void calc_decode_counted(const calc_model *m, const calc_inputs *in, double B, double S, double *bytes,
                         double *flops) {
    step_cost c;
    calc_decode_cost(m, B, S, in->bits / 8, in->kv_bits / 8, &c);
    *bytes = c.total_bytes - (in->activations ? 0 : c.act_bytes);
    *flops = c.total_flops;
}

static int compute_bound(const calc_model *m, const calc_inputs *in, double B, double S, double M, double C) {
    double by, fl;
    calc_decode_counted(m, in, B, S, &by, &fl);
    return fl / C > by / M;
}

double calc_crossover(const calc_model *m, const calc_inputs *in, double S, double M, double C) {
    const double top = 1073741824.0; /* 2^30 */
    if (!(M > 0) || !(C > 0) || !compute_bound(m, in, top, S, M, C)) return 0;
    /* FLOPs grow as B, bytes as weights + B x per-sequence terms (MoE
     * weights concavely), so FLOPs / bytes only grows with B */
    double hi = 1;
    while (!compute_bound(m, in, hi, S, M, C)) hi *= 2;
    double lo = hi / 2; /* not compute-bound (or 0.5 when hi = 1) */
    if (hi == 1) return 1;
    while (hi - lo > 1) {
        double mid = floor((lo + hi) / 2);
        if (compute_bound(m, in, mid, S, M, C)) hi = mid;
        else lo = mid;
    }
    return hi;
}

/* Smallest whole number >= x, forgiving rounding just above an integer. */
static double ceil_count(double x) { return ceil(x * (1 - 1e-12)); }

static double step_time(double bytes, double flops, double M, double C) {
    double tm = M > 0 ? bytes / M : 0, tc = C > 0 ? flops / C : 0;
    return tm > tc ? tm : tc;
}

void calc_compute(const calc_model *m, const calc_hardware *hw, const calc_inputs *in, calc_sheet *s) {
    memset(s, 0, sizeof *s);
    calc_param_count(m, &s->p);
    const double N = (double)s->p.total, Na = (double)s->p.active, Q = in->bits / 8, Qkv = in->kv_bits / 8;
    const double mem = hw ? hw->memory_bytes : 0, n = in->devices;
    const double M = hw ? hw->bandwidth * n : 0, C = hw ? hw->flops * n : 0;

    /* memory */
    s->weight_bytes = ceil(N * in->bits / 8);
    s->train_memory_bytes = 16.0 * N;
    s->train_devices = mem > 0 ? ceil_count(s->train_memory_bytes / mem) : NAN;
    s->lora_parameters = in->lora_rank > 0 ? (double)calc_lora_params(m, in->lora_rank, in->lora_mask) : 0;
    s->kv_bytes_per_token = calc_kv_bytes_per_token(m, in->kv_bits);
    s->kv_tokens = calc_kv_tokens(m, in->context);
    s->kv_bytes_per_sequence = s->kv_bytes_per_token * s->kv_tokens;
    s->kv_bytes = s->kv_bytes_per_sequence * in->batch;
    if (mem > 0) {
        double room = mem * n - s->weight_bytes;
        s->max_sequences = room <= 0 ? 0 : s->kv_bytes_per_sequence > 0 ? floor(room / s->kv_bytes_per_sequence) : NAN;
        s->fits = s->weight_bytes + s->kv_bytes <= mem * n;
    } else {
        s->max_sequences = NAN;
        s->fits = -1;
    }

    /* FLOPs */
    step_cost one;
    calc_decode_cost(m, 1, in->context, Q, Qkv, &one);
    s->flops_per_token = one.total_flops;
    s->flops_per_token_2n = 2.0 * Na;
    calc_prefill_cost(m, in->batch, in->prompt, Q, Qkv, in->all_logits, in->causal, &s->prefill);
    s->prefill_flops = s->prefill.total_flops;
    calc_mults_per_layer(m, in->context, &s->mults);
    s->compute_optimal_tokens = 20.0 * N;
    s->train_tokens = in->tokens > 0 ? in->tokens : s->compute_optimal_tokens;
    s->train_flops = (in->recompute ? 8.0 : 6.0) * Na * s->train_tokens;
    s->train_time_s = C > 0 ? s->train_flops / (C * in->mfu) : NAN;

    /* inference */
    calc_decode_cost(m, in->batch, in->context, Q, Qkv, &s->decode);
    s->decode_bytes = s->decode.total_bytes - (in->activations ? 0 : s->decode.act_bytes);
    s->intensity = s->decode.total_flops / s->decode_bytes;
    s->ridge = M > 0 && C > 0 ? C / M : NAN;
    /* a rate needs the bandwidth (decode is memory-bound until shown
     * otherwise); without FLOP/s the compute term is left out */
    if (M > 0) {
        s->decode_step_s = step_time(s->decode_bytes, s->decode.total_flops, M, C);
        s->decode_tok_s = in->batch / s->decode_step_s;
        s->decode_compute_bound = C > 0 && (M <= 0 || s->decode.total_flops / C > s->decode_bytes / M);
        double by, fl;
        calc_decode_counted(m, in, 1, 0, &by, &fl);
        s->decode_tok_s_batch1 = 1 / step_time(by, fl, M, C);
    } else {
        s->decode_step_s = s->decode_tok_s = s->decode_tok_s_batch1 = NAN;
    }
    if (M > 0 && C > 0) {
        s->crossover_batch = calc_crossover(m, in, 0, M, C);
        s->crossover_batch_at_context = calc_crossover(m, in, in->context, M, C);
    } else {
        s->crossover_batch = s->crossover_batch_at_context = NAN;
    }
    if (C > 0) { /* prefill is compute-bound: it needs the FLOP/s */
        double pb = s->prefill.total_bytes - (in->activations ? 0 : s->prefill.act_bytes);
        s->ttft_s = step_time(pb, s->prefill_flops, M, C * in->mfu);
    } else {
        s->ttft_s = NAN;
    }

    /* serving: users x tok/s each, with their KV caches, tensor parallel */
    s->users = in->users > 0 ? in->users : in->batch;
    double need = 0;
    int known = 0;
    if (mem > 0) {
        need = ceil_count((s->weight_bytes + s->users * s->kv_bytes_per_sequence) / mem);
        known = 1;
    }
    if (in->tok_s_per_user > 0) {
        double by, fl;
        calc_decode_counted(m, in, s->users, in->context, &by, &fl);
        if (hw && hw->bandwidth > 0) {
            need = fmax(need, ceil_count(by * in->tok_s_per_user / hw->bandwidth));
            known = 1;
        }
        if (hw && hw->flops > 0) { need = fmax(need, ceil_count(fl * in->tok_s_per_user / hw->flops)); known = 1; }
    }
    s->devices_needed = known ? fmax(need, 1) : NAN;
    /* cost: the devices needed serving the users when a rate is asked,
     * else `devices` decoding `batch` */
    double sn = n, sb = in->batch;
    if (in->tok_s_per_user > 0 && known) { sn = s->devices_needed; sb = s->users; }
    if (hw && hw->bandwidth > 0) {
        double by, fl;
        calc_decode_counted(m, in, sb, in->context, &by, &fl);
        s->serve_tok_s = sb / step_time(by, fl, hw->bandwidth * sn, hw->flops * sn);
    } else {
        s->serve_tok_s = NAN;
    }
    s->cost_per_million_tokens =
        in->price_per_hour > 0 && s->serve_tok_s > 0 ? in->price_per_hour * sn / 3600.0 / s->serve_tok_s * 1e6 : NAN;
}
