#include "decode_machine.h"

#include <stdlib.h>
#include <string.h>

#include "machine.h"

static double num(const cJSON *j, const char *key) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, key);
    return cJSON_IsNumber(v) ? v->valuedouble : 0.0;
}

int decode_machine_from_json(record_machine *mc, const cJSON *j, const char *source, status_t *st) {
    memset(mc, 0, sizeof *mc);
    snprintf(mc->source, sizeof mc->source, "%s", source);
    mc->read_gbs = num(j, "read_gbs");
    mc->copy_gbs = num(j, "copy_gbs");
    mc->triad_gbs = num(j, "triad_gbs");
    mc->peak_gflops = num(j, "peak_gflops");
    mc->sgemm_gflops = num(j, "sgemm_gflops");
    mc->spec_gflops = num(j, "spec_gflops");
    mc->llc_bytes = num(j, "llc_bytes_measured");
    mc->read_set_bytes = 3 * num(j, "stream_array_bytes");
    if (!(mc->read_gbs > 0) || !(mc->peak_gflops > 0))
        return status_fail(st, ST_BAD_INPUT,
                           "%s: no positive read_gbs and peak_gflops: not a gpt2-bench machine file "
                           "(make one with gpt2-bench machine --json FILE)",
                           source);
    return ST_OK;
}

int decode_machine_get(record_machine *mc, int threads, const char *machine_file, const char *results_dir,
                       int remeasure, FILE *progress, status_t *st) {
    if (machine_file) {
        FILE *f = fopen(machine_file, "rb");
        if (!f) return status_fail(st, ST_BAD_INPUT, "%s: cannot open the machine file", machine_file);
        char *text = NULL;
        size_t len = 0;
        FILE *mem = open_memstream(&text, &len);
        int ch;
        while (mem && (ch = fgetc(f)) != EOF) fputc(ch, mem);
        fclose(f);
        if (mem) fclose(mem);
        cJSON *j = text ? cJSON_Parse(text) : NULL;
        free(text);
        if (!j) return status_fail(st, ST_BAD_INPUT, "%s: not JSON: give a file from gpt2-bench machine --json", machine_file);
        int rc = decode_machine_from_json(mc, j, machine_file, st);
        cJSON_Delete(j);
        return rc;
    }
    machine_info info;
    int rc = machine_obtain(&info, threads, remeasure, 0, results_dir, progress, st);
    if (rc) return rc;
    cJSON *j = machine_to_json(&info);
    rc = j ? decode_machine_from_json(mc, j, info.path, st) : status_fail(st, ST_RUNTIME, "out of memory");
    cJSON_Delete(j);
    machine_free(&info);
    return rc;
}
