/* config: the shape of a GPT-2 model, by name or from a Hugging Face
 * config.json. Dimensions are named once here and nowhere else. */
#ifndef GR_CONFIG_H
#define GR_CONFIG_H

#include <stdint.h>

#include "status.h"

typedef struct {
    char name[64];  /* "gpt2", ..., or the checkpoint's folder name */
    int n_layer;    /* L */
    int n_head;     /* h; head dim hd = n_embd / n_head */
    int n_embd;     /* d */
    int n_ctx;      /* T: rows of the position table */
    int vocab;      /* V */
    float ln_eps;   /* LayerNorm epsilon */
} gpt2_config;

/* gpt2, gpt2-medium, gpt2-large, gpt2-xl. ST_BAD_INPUT for another name. */
int config_by_name(const char *name, gpt2_config *c, status_t *st);

/* Reads n_layer, n_head, n_embd, n_positions (or n_ctx), vocab_size,
 * layer_norm_epsilon from a config.json. */
int config_from_json_file(const char *path, gpt2_config *c, status_t *st);
int config_from_json_text(const char *text, const char *path, gpt2_config *c, status_t *st);

/* Refuses absurd shapes: non-positive sizes, n_head not dividing n_embd,
 * sizes whose products overflow. */
int config_validate(const gpt2_config *c, const char *where, status_t *st);

static inline int config_head_dim(const gpt2_config *c) { return c->n_embd / c->n_head; }

/* Exact parameter count with the LM head tied to wte:
 * L(12d^2 + 13d) + V d + T d + 2d. */
uint64_t config_param_count(const gpt2_config *c);

#endif
