#include "model_source.h"

#include <stdio.h>

int model_open(gpt2_model *m, const char *name, const char *weights, uint64_t seed, status_t *st) {
    if ((name != NULL) == (weights != NULL))
        return status_fail(st, ST_BAD_INPUT, "give exactly one of --model NAME (gpt2, gpt2-medium, gpt2-large, "
                           "gpt2-xl) or --weights PATH");
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
