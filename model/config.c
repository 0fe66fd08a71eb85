#include "config.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

typedef struct {
    const char *name;
    int n_layer, n_head, n_embd;
} named_size;

static const named_size NAMED[] = {
    {"gpt2", 12, 12, 768},
    {"gpt2-medium", 24, 16, 1024},
    {"gpt2-large", 36, 20, 1280},
    {"gpt2-xl", 48, 25, 1600},
};

int config_by_name(const char *name, gpt2_config *c, status_t *st) {
    for (size_t i = 0; i < sizeof NAMED / sizeof NAMED[0]; i++) {
        if (strcmp(name, NAMED[i].name) == 0) {
            memset(c, 0, sizeof *c);
            snprintf(c->name, sizeof c->name, "%s", name);
            c->n_layer = NAMED[i].n_layer;
            c->n_head = NAMED[i].n_head;
            c->n_embd = NAMED[i].n_embd;
            c->n_ctx = 1024;
            c->vocab = 50257;
            c->ln_eps = 1e-5f;
            return ST_OK;
        }
    }
    return status_fail(st, ST_BAD_INPUT,
                       "unknown model '%s': use gpt2, gpt2-medium, gpt2-large or gpt2-xl, "
                       "or --weights PATH for a checkpoint",
                       name);
}

/* Reads an integer field; `*out` untouched when absent. */
static int json_int(const cJSON *root, const char *key, int *out, int *found, const char *path,
                    status_t *st) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, key);
    if (!v) return ST_OK;
    double x = v->valuedouble;
    if (!cJSON_IsNumber(v) || x != floor(x) || x < -2147483648.0 || x > 2147483647.0)
        return status_fail(st, ST_BAD_INPUT, "%s: \"%s\" must be an integer: fix the config.json",
                           path, key);
    *out = (int)x;
    if (found) *found = 1;
    return ST_OK;
}

int config_from_json_text(const char *text, const char *path, gpt2_config *c, status_t *st) {
    cJSON *root = cJSON_Parse(text);
    if (!root || !cJSON_IsObject(root)) {
        cJSON_Delete(root);
        return status_fail(st, ST_BAD_INPUT, "%s: not a JSON object: give a Hugging Face GPT-2 config.json",
                           path);
    }
    memset(c, 0, sizeof *c);
    c->ln_eps = 1e-5f;
    c->n_ctx = -1;
    int rc = ST_OK, has_layer = 0, has_head = 0, has_embd = 0, has_vocab = 0;
    int n_pos = -1, n_ctx = -1, has_pos = 0, has_ctx = 0;
    if ((rc = json_int(root, "n_layer", &c->n_layer, &has_layer, path, st)) ||
        (rc = json_int(root, "n_head", &c->n_head, &has_head, path, st)) ||
        (rc = json_int(root, "n_embd", &c->n_embd, &has_embd, path, st)) ||
        (rc = json_int(root, "vocab_size", &c->vocab, &has_vocab, path, st)) ||
        (rc = json_int(root, "n_positions", &n_pos, &has_pos, path, st)) ||
        (rc = json_int(root, "n_ctx", &n_ctx, &has_ctx, path, st))) {
        cJSON_Delete(root);
        return rc;
    }
    const cJSON *eps = cJSON_GetObjectItemCaseSensitive(root, "layer_norm_epsilon");
    if (eps) {
        if (!cJSON_IsNumber(eps) || !(eps->valuedouble > 0) || eps->valuedouble > 1) {
            cJSON_Delete(root);
            return status_fail(st, ST_BAD_INPUT,
                               "%s: \"layer_norm_epsilon\" must be a number in (0, 1]: fix the config.json",
                               path);
        }
        c->ln_eps = (float)eps->valuedouble;
    }
    cJSON_Delete(root);
    const char *missing = !has_layer ? "n_layer" : !has_head ? "n_head" : !has_embd ? "n_embd"
                        : !has_vocab ? "vocab_size" : (!has_pos && !has_ctx) ? "n_positions" : NULL;
    if (missing)
        return status_fail(st, ST_BAD_INPUT, "%s: \"%s\" is missing: give a Hugging Face GPT-2 config.json",
                           path, missing);
    c->n_ctx = has_pos ? n_pos : n_ctx; /* a negative one is refused below, not skipped */
    /* name: the folder holding the config */
    const char *slash = strrchr(path, '/');
    if (slash && slash > path) {
        const char *start = slash - 1;
        while (start > path && start[-1] != '/') start--;
        snprintf(c->name, sizeof c->name, "%.*s", (int)(slash - start), start);
    } else {
        snprintf(c->name, sizeof c->name, "checkpoint");
    }
    return config_validate(c, path, st);
}

int config_from_json_file(const char *path, gpt2_config *c, status_t *st) {
    FILE *f = fopen(path, "rb");
    if (!f)
        return status_fail(st, ST_BAD_INPUT, "%s: cannot open: a checkpoint folder needs its config.json",
                           path);
    struct stat sb;
    if (fstat(fileno(f), &sb) == 0 && S_ISDIR(sb.st_mode)) {
        fclose(f);
        return status_fail(st, ST_BAD_INPUT, "%s: is a folder: give the config.json inside it", path);
    }
    if (fseek(f, 0, SEEK_END) != 0) { fclose(f); return status_fail(st, ST_BAD_INPUT, "%s: cannot read", path); }
    long n = ftell(f);
    if (n < 0 || n > (1 << 20)) {
        fclose(f);
        return status_fail(st, ST_BAD_INPUT, "%s: %ld bytes is not a config.json (limit 1 MiB)", path, n);
    }
    rewind(f);
    char *text = malloc((size_t)n + 1);
    if (!text) { fclose(f); return status_fail(st, ST_RUNTIME, "out of memory reading %s", path); }
    size_t got = fread(text, 1, (size_t)n, f);
    fclose(f);
    text[got] = 0;
    int rc = config_from_json_text(text, path, c, st);
    free(text);
    return rc;
}

int config_validate(const gpt2_config *c, const char *where, status_t *st) {
    const int max_dim = 1 << 20;
    if (c->n_layer <= 0 || c->n_layer > 4096)
        return status_fail(st, ST_BAD_INPUT, "%s: n_layer %d must be in 1..4096", where, c->n_layer);
    if (c->n_embd <= 0 || c->n_embd > max_dim)
        return status_fail(st, ST_BAD_INPUT, "%s: n_embd %d must be in 1..%d", where, c->n_embd, max_dim);
    if (c->n_head <= 0 || c->n_embd % c->n_head != 0)
        return status_fail(st, ST_BAD_INPUT, "%s: n_head %d must be positive and divide n_embd %d", where,
                           c->n_head, c->n_embd);
    if (c->n_ctx <= 0 || c->n_ctx > max_dim)
        return status_fail(st, ST_BAD_INPUT, "%s: n_positions %d must be in 1..%d", where, c->n_ctx, max_dim);
    if (c->vocab <= 0 || c->vocab > (1 << 24))
        return status_fail(st, ST_BAD_INPUT, "%s: vocab_size %d must be in 1..%d", where, c->vocab, 1 << 24);
    /* largest tensor must stay well inside 64 bits of bytes */
    double biggest = (double)c->vocab * c->n_embd * 4.0;
    double layer = 16.0 * c->n_embd * (double)c->n_embd * 4.0;
    if (biggest > 1e15 || layer * c->n_layer > 1e15)
        return status_fail(st, ST_BAD_INPUT, "%s: model of %.3g bytes is beyond any machine", where,
                           biggest + layer * c->n_layer);
    return ST_OK;
}

uint64_t config_param_count(const gpt2_config *c) {
    uint64_t d = (uint64_t)c->n_embd, L = (uint64_t)c->n_layer;
    return L * (12 * d * d + 13 * d) + (uint64_t)c->vocab * d + (uint64_t)c->n_ctx * d + 2 * d;
}
