/* model_source: the model a command runs, from --model NAME (synthetic
 * weights in memory) or --weights PATH (a checkpoint). */
#ifndef GR_MODEL_SOURCE_H
#define GR_MODEL_SOURCE_H

#include "../model/weights.h"

/* Exactly one of name and weights must be non-NULL. */
int model_open(gpt2_model *m, const char *name, const char *weights, uint64_t seed, status_t *st);

#endif
