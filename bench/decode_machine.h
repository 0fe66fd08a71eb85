/* decode_machine: the ceilings a decode run is measured against, from a
 * given machine file or from the host's cached one (measured on first use). */
#ifndef GR_DECODE_MACHINE_H
#define GR_DECODE_MACHINE_H

#include <stdio.h>

#include "record.h"

int decode_machine_get(record_machine *mc, int threads, const char *machine_file, const char *results_dir,
                       int remeasure, FILE *progress, status_t *st);

/* Fills mc from a machine JSON object (the names `gpt2-bench machine`
 * writes); refuses one without positive read_gbs and peak_gflops. */
int decode_machine_from_json(record_machine *mc, const cJSON *j, const char *source, status_t *st);

#endif
