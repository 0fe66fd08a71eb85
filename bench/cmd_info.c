/* gpt2-bench info: a model's shape, exact parameter count and weight bytes. */
#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "commands.h"
#include "model_source.h"

static const char *USAGE =
    "usage: gpt2-bench info --model NAME | --weights PATH [--json -]\n"
    "  NAME: gpt2, gpt2-medium, gpt2-large, gpt2-xl (synthetic weights)\n"
    "  PATH: a Hugging Face GPT-2 folder or its model.safetensors\n";

int cmd_info(int argc, char **argv, FILE *out, status_t *st) {
    cli_flag fl[] = {{"--model", 1, 0}, {"--weights", 1, 0}, {"--json", 1, 0}, {"--help", 0, 0}};
    const int nf = sizeof fl / sizeof fl[0];
    int rc = cli_parse(argc, argv, 1, fl, nf, "info", st);
    if (rc) return rc;
    if (cli_get(fl, nf, "--help")) { fputs(USAGE, out); return ST_OK; }
    const char *json = cli_get(fl, nf, "--json");
    if (json && strcmp(json, "-") != 0)
        return status_fail(st, ST_BAD_INPUT, "info: --json takes '-' (stdout)");
    const char *name = cli_get(fl, nf, "--model"), *weights = cli_get(fl, nf, "--weights");
    gpt2_config c;
    gpt2_model m;
    int loaded = 0;
    if (name && !weights) { /* shapes only: no need to make the weights */
        if ((rc = config_by_name(name, &c, st))) return rc;
    } else {
        if ((rc = model_open(&m, name, weights, 1, st))) return rc;
        c = m.cfg;
        loaded = 1;
    }
    uint64_t params = config_param_count(&c);
    int tied = loaded ? m.lm_head_tied : 1;
    /* an untied head is a second V x d matrix */
    uint64_t stored = params + (tied ? 0 : (uint64_t)c.vocab * c.n_embd);
    if (json) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "model", c.name);
        cJSON_AddStringToObject(o, "source", loaded ? m.source : "synthetic (shape only)");
        cJSON_AddNumberToObject(o, "n_layer", c.n_layer);
        cJSON_AddNumberToObject(o, "n_head", c.n_head);
        cJSON_AddNumberToObject(o, "n_embd", c.n_embd);
        cJSON_AddNumberToObject(o, "head_dim", config_head_dim(&c));
        cJSON_AddNumberToObject(o, "n_ctx", c.n_ctx);
        cJSON_AddNumberToObject(o, "vocab_size", c.vocab);
        cJSON_AddNumberToObject(o, "layer_norm_epsilon", c.ln_eps);
        cJSON_AddBoolToObject(o, "lm_head_tied", tied);
        cJSON_AddNumberToObject(o, "parameters", (double)params);
        cJSON_AddNumberToObject(o, "parameters_stored", (double)stored);
        cJSON_AddNumberToObject(o, "weight_bytes_f32", (double)stored * 4);
        char *s = cJSON_PrintUnformatted(o);
        fprintf(out, "%s\n", s);
        free(s);
        cJSON_Delete(o);
    } else {
        fprintf(out, "model        %s (%s)\n", c.name, loaded ? m.source : "synthetic, shape only");
        fprintf(out, "layers       %d\nheads        %d (head dim %d)\nwidth        %d\n", c.n_layer, c.n_head,
                config_head_dim(&c), c.n_embd);
        fprintf(out, "positions    %d\nvocabulary   %d\nLN epsilon   %g\n", c.n_ctx, c.vocab, c.ln_eps);
        fprintf(out, "LM head      %s\n", tied ? "tied to wte" : "own lm_head.weight");
        fprintf(out, "parameters   %llu (exact, tied head counted once)\n", (unsigned long long)params);
        fprintf(out, "weights f32  %.1f MB\n", stored * 4 / 1e6);
    }
    if (loaded) gpt2_free(&m);
    return ST_OK;
}
