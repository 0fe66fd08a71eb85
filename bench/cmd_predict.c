/* gpt2-bench predict: the analytic model alone, no measurement. */
#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "commands.h"
#include "decode_machine.h"
#include "roofline.h"

static const char *USAGE =
    "usage: gpt2-bench predict --model NAME | --config FILE --batch B --context S [--dtype f32]\n"
    "                          [--bandwidth GB/s --flops GFLOP/s | --machine FILE] [--json -]\n"
    "  B and S take lists (1,2,4 or 1-64*2). Prints bytes and FLOPs per decode step,\n"
    "  the predicted tokens/s, which roof binds, the arithmetic intensity, the ridge\n"
    "  point and the batch at which decode turns compute-bound at that context.\n";

static double dtype_bytes(const char *dt) {
    if (strcmp(dt, "f32") == 0) return 4;
    if (strcmp(dt, "f16") == 0 || strcmp(dt, "bf16") == 0) return 2;
    if (strcmp(dt, "int8") == 0) return 1;
    return 0;
}

int cmd_predict(int argc, char **argv, FILE *out, status_t *st) {
    cli_flag fl[] = {{"--model", 1, 0},     {"--config", 1, 0}, {"--batch", 1, 0},   {"--context", 1, 0},
                     {"--dtype", 1, 0},     {"--kv-dtype", 1, 0}, {"--bandwidth", 1, 0}, {"--flops", 1, 0},
                     {"--machine", 1, 0},   {"--json", 1, 0},   {"--help", 0, 0}};
    const int nf = sizeof fl / sizeof fl[0];
    int rc = cli_parse(argc, argv, 1, fl, nf, "predict", st);
    if (rc) return rc;
#define GET(name) cli_get(fl, nf, name)
    if (GET("--help")) { fputs(USAGE, out); return ST_OK; }
    gpt2_config c;
    if (GET("--model") && GET("--config"))
        return status_fail(st, ST_BAD_INPUT, "predict: give --model or --config, not both");
    if (GET("--config"))
        rc = config_from_json_file(GET("--config"), &c, st);
    else
        rc = config_by_name(GET("--model") ? GET("--model") : "", &c, st);
    if (rc) return rc;
    const char *dt = GET("--dtype") ? GET("--dtype") : "f32", *kvdt = GET("--kv-dtype") ? GET("--kv-dtype") : "f32";
    double Q = dtype_bytes(dt), Qkv = dtype_bytes(kvdt);
    if (!Q) return status_fail(st, ST_BAD_INPUT, "predict: --dtype %s: use f32, bf16, f16 or int8", dt);
    if (!Qkv || strcmp(kvdt, "int8") == 0)
        return status_fail(st, ST_BAD_INPUT, "predict: --kv-dtype %s: use f32, bf16 or f16", kvdt);
    roof_ceilings roof = {0, 0};
    char roof_source[1100] = "given";
    if (GET("--machine")) {
        if (GET("--bandwidth") || GET("--flops"))
            return status_fail(st, ST_BAD_INPUT, "predict: give --machine FILE or --bandwidth and --flops, not both");
        record_machine mc;
        if ((rc = decode_machine_get(&mc, 0, GET("--machine"), NULL, 0, NULL, st))) return rc;
        roof.bw_gbs = mc.read_gbs;
        roof.peak_gflops = mc.peak_gflops;
        snprintf(roof_source, sizeof roof_source, "%s", GET("--machine"));
    } else {
        if (!GET("--bandwidth") || !GET("--flops"))
            return status_fail(st, ST_BAD_INPUT,
                               "predict: the roof needs --bandwidth GB/s and --flops GFLOP/s, or --machine FILE");
        if ((rc = cli_double(GET("--bandwidth"), "--bandwidth", 1e7, &roof.bw_gbs, st)) ||
            (rc = cli_double(GET("--flops"), "--flops", 1e10, &roof.peak_gflops, st)))
            return rc;
    }
    if (!GET("--batch") || !GET("--context"))
        return status_fail(st, ST_BAD_INPUT, "predict: --batch B and --context S are required");
    long *bs = NULL, *cs = NULL;
    int nb = 0, nc = 0;
    if ((rc = cli_list(GET("--batch"), "--batch", 1, 1 << 20, &bs, &nb, st)) ||
        (rc = cli_list(GET("--context"), "--context", 0, 1 << 24, &cs, &nc, st))) {
        free(bs);
        return rc;
    }
    const char *json = GET("--json");
    if (json && strcmp(json, "-") != 0) rc = status_fail(st, ST_BAD_INPUT, "predict: --json takes '-' (stdout)");
    if (!rc && !json)
        fprintf(out, "%s, %s weights, %s KV, roof %.1f GB/s and %.1f GFLOP/s (%s)\n%5s %6s %10s %10s %10s %8s %8s %9s\n",
                c.name, dt, kvdt, roof.bw_gbs, roof.peak_gflops, roof_source, "B", "S", "MB/step", "GFLOP/step",
                "pred tok/s", "bound", "FLOP/B", "crossover");
    for (int i = 0; i < nb && !rc; i++)
        for (int j = 0; j < nc; j++) {
            step_cost cost;
            roof_prediction p;
            roofline_decode_cost(&c, (int)bs[i], (int)cs[j], Q, Qkv, &cost);
            roofline_predict(&cost, (int)bs[i], &roof, &p);
            int cross = roofline_crossover_batch(&c, (int)cs[j], Q, Qkv, &roof);
            if (json) {
                cJSON *o = cJSON_CreateObject();
                cJSON_AddStringToObject(o, "model", c.name);
                cJSON_AddStringToObject(o, "dtype", dt);
                cJSON_AddStringToObject(o, "kv_dtype", kvdt);
                cJSON_AddNumberToObject(o, "batch", (double)bs[i]);
                cJSON_AddNumberToObject(o, "context", (double)cs[j]);
                cJSON_AddNumberToObject(o, "bandwidth_gbs", roof.bw_gbs);
                cJSON_AddNumberToObject(o, "peak_gflops", roof.peak_gflops);
                cJSON_AddNumberToObject(o, "bytes_per_step", cost.total_bytes);
                cJSON *bsplit = cJSON_AddObjectToObject(o, "bytes_per_step_split");
                cJSON_AddNumberToObject(bsplit, "weights", cost.weights_bytes);
                cJSON_AddNumberToObject(bsplit, "kv_read", cost.kv_read_bytes);
                cJSON_AddNumberToObject(bsplit, "kv_write", cost.kv_write_bytes);
                cJSON_AddNumberToObject(bsplit, "activations", cost.act_bytes);
                cJSON_AddNumberToObject(o, "flops_per_step", cost.total_flops);
                cJSON *fsplit = cJSON_AddObjectToObject(o, "flops_per_step_split");
                cJSON_AddNumberToObject(fsplit, "dense", cost.dense_flops);
                cJSON_AddNumberToObject(fsplit, "attention", cost.attention_flops);
                cJSON_AddNumberToObject(fsplit, "lm_head", cost.lm_head_flops);
                cJSON_AddNumberToObject(fsplit, "other", cost.other_flops);
                cJSON_AddNumberToObject(o, "predicted_step_s", p.t_s);
                cJSON_AddNumberToObject(o, "predicted_tok_s", p.tok_s);
                cJSON_AddStringToObject(o, "bound", p.compute_bound ? "compute" : "memory");
                cJSON_AddNumberToObject(o, "intensity", p.intensity);
                cJSON_AddNumberToObject(o, "ridge", p.ridge);
                cJSON_AddNumberToObject(o, "crossover_batch", cross);
                char *s = cJSON_PrintUnformatted(o);
                fprintf(out, "%s\n", s);
                free(s);
                cJSON_Delete(o);
            } else {
                fprintf(out, "%5ld %6ld %10.1f %10.2f %10.1f %8s %8.2f %9d\n", bs[i], cs[j], cost.total_bytes / 1e6,
                        cost.total_flops / 1e9, p.tok_s, p.compute_bound ? "compute" : "memory", p.intensity, cross);
            }
        }
    free(bs);
    free(cs);
    return rc;
#undef GET
}
