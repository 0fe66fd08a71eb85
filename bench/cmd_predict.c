/* gpt2-bench predict: the analytic model alone, no measurement. */
#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "calib.h"
#include "cli.h"
#include "commands.h"
#include "decode_machine.h"
#include "results.h"
#include "roofline.h"

static const char *USAGE =
    "usage: gpt2-bench predict --model NAME | --config FILE --batch B --context S [--dtype f32]\n"
    "                          [--bandwidth GB/s --flops GFLOP/s | --machine FILE] [--json -]\n"
    "  B and S take lists (1,2,4 or 1-64*2). Prints bytes and FLOPs per decode step,\n"
    "  the predicted tokens/s, which roof binds, the arithmetic intensity, the ridge\n"
    "  point and the batch at which decode turns compute-bound at that context.\n"
    "  --calibrated [--calibration FILE] [--force] [--results DIR]: also the calibrated forecast\n"
    "  (gpt2-bench calibrate), per operator, for any model shape, B, S and dtype on the machine\n"
    "  calibrated: FILE, or the calibration of the --machine file's host and threads (beside it,\n"
    "  else in DIR, default results). With --calibration alone the roof is optional.\n";

static double dtype_bytes(const char *dt) {
    if (strcmp(dt, "f32") == 0) return 4;
    if (strcmp(dt, "f16") == 0 || strcmp(dt, "bf16") == 0) return 2;
    if (strcmp(dt, "int8") == 0) return 1;
    return 0;
}

/* The calibration to forecast from: the file given, or the one of the
 * machine file's host and threads (beside the machine file, else in
 * results_dir), for dt/kvdt, else with f32 weights and/or an f32 KV cache
 * (then scaled by bytes). */
static int find_calibration(calibration *cal, const char *file, const char *machine_file, const char *results_dir,
                            const char *dt, const char *kvdt, int force, status_t *st) {
    int rc;
    if (!file) {
        if (!machine_file)
            return status_fail(st, ST_BAD_INPUT, "predict: --calibrated needs --calibration FILE or --machine FILE "
                               "(whose host and threads name the calibration)");
        result_machine m;
        if ((rc = results_read_machine(machine_file, &m, st))) return rc;
        if (m.threads < 1)
            return status_fail(st, ST_BAD_INPUT, "%s: no thread count: give --calibration FILE", machine_file);
        char dir[1100], path[1400];
        snprintf(dir, sizeof dir, "%s", machine_file);
        char *slash = strrchr(dir, '/');
        if (slash) *slash = 0;
        else snprintf(dir, sizeof dir, ".");
        const char *dirs[2] = {dir, results_dir ? results_dir : "results"};
        /* this dtype pair first, then scaled from f32 weights and/or an f32 KV cache */
        const char *dts[4][2] = {{dt, kvdt}, {"f32", kvdt}, {dt, "f32"}, {"f32", "f32"}};
        int found = 0;
        for (int k = 0; k < 4 && !found; k++)
            for (int di = 0; di < 2 && !found; di++) {
                calib_default_path(path, sizeof path, dirs[di], m.host, m.threads, dts[k][0], dts[k][1], 0);
                found = access(path, F_OK) == 0;
            }
        if (!found) {
            calib_default_path(path, sizeof path, dir, m.host, m.threads, dt, kvdt, 0);
            return status_fail(st, ST_BAD_INPUT,
                               "predict: no calibration for host %s with %d threads (looked for %s, and in %s): run "
                               "gpt2-bench calibrate --threads %d --dtype %s --kv-dtype %s there, or give "
                               "--calibration FILE",
                               m.host, m.threads, path, results_dir ? results_dir : "results", m.threads, dt, kvdt);
        }
        file = path;
        if ((rc = calib_load(cal, file, st))) return rc;
    } else if ((rc = calib_load(cal, file, st))) {
        return rc;
    }
    return calib_check_use(cal, "predict --calibrated", 0, NULL, NULL, force, st);
}

static void add_calibrated(cJSON *o, const calibration *cal, const calib_prediction *cp) {
    cJSON_AddNumberToObject(o, "predicted_calibrated_tok_s", cp->tok_s);
    cJSON_AddNumberToObject(o, "predicted_calibrated_step_s", cp->step_ns * 1e-9);
    cJSON_AddNumberToObject(o, "predicted_calibrated_overhead_ns", cp->overhead_ns);
    cJSON *ops = cJSON_AddObjectToObject(o, "operators_calibrated_ns");
    for (int op = 0; op < OP_COUNT; op++) cJSON_AddNumberToObject(ops, GPT2_OP_NAMES[op], calib_op_share_ns(cp, op));
    cJSON *cj = cJSON_AddObjectToObject(o, "calibration");
    cJSON_AddStringToObject(cj, "file", cal->path);
    cJSON_AddStringToObject(cj, "host", cal->host);
    cJSON_AddStringToObject(cj, "model", cal->model);
    cJSON_AddStringToObject(cj, "dtype", cal->dtype);
    cJSON_AddStringToObject(cj, "kv_dtype", cal->kv_dtype);
    cJSON_AddNumberToObject(cj, "threads", cal->threads);
    cJSON_AddBoolToObject(cj, "quick", cal->quick);
    cJSON_AddBoolToObject(cj, "shapes_interpolated", cp->shapes_interpolated);
    cJSON_AddBoolToObject(cj, "dtype_scaled", cp->dtype_scaled);
}

int cmd_predict(int argc, char **argv, FILE *out, status_t *st) {
    cli_flag fl[] = {{"--model", 1, 0},     {"--config", 1, 0}, {"--batch", 1, 0},   {"--context", 1, 0},
                     {"--dtype", 1, 0},     {"--kv-dtype", 1, 0}, {"--bandwidth", 1, 0}, {"--flops", 1, 0},
                     {"--machine", 1, 0},   {"--json", 1, 0},   {"--help", 0, 0},
                     {"--calibrated", 0, 0}, {"--calibration", 1, 0}, {"--force", 0, 0}, {"--results", 1, 0}};
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
    const int calibrated = GET("--calibrated") != NULL;
    if (!calibrated && (GET("--calibration") || GET("--force") || GET("--results")))
        return status_fail(st, ST_BAD_INPUT, "predict: --calibration, --force and --results go with --calibrated");
    calibration cal;
    if (calibrated && (rc = find_calibration(&cal, GET("--calibration"), GET("--machine"), GET("--results"), dt, kvdt,
                                             GET("--force") != NULL, st)))
        return rc;
    const int have_roof = !calibrated || GET("--machine") || GET("--bandwidth") || GET("--flops");
    roof_ceilings roof = {0, 0};
    char roof_source[1100] = "given";
    if (!have_roof) {
        /* the calibrated forecast alone */
    } else if (GET("--machine")) {
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
    for (int j = 0; j < nc && !rc; j++)
        if (cs[j] > c.n_ctx)
            rc = status_fail(st, ST_BAD_INPUT, "predict: --context %ld is beyond %s's n_ctx of %d positions: use %d or less",
                             cs[j], c.name, c.n_ctx, c.n_ctx);
    const char *json = GET("--json");
    if (!rc && json && strcmp(json, "-") != 0)
        rc = status_fail(st, ST_BAD_INPUT, "predict: --json takes '-' (stdout)");
    if (!rc && calibrated && strcmp(cal.dtype, dt) != 0)
        fprintf(stderr, "gpt2-bench: predict: %s was calibrated with %s weights: %s is forecast by weight bytes "
                        "(approximate: docs/method.md, Calibrated prediction)\n", cal.path, cal.dtype, dt);
    if (!rc && calibrated && strcmp(cal.kv_dtype, kvdt) != 0)
        fprintf(stderr, "gpt2-bench: predict: %s was calibrated with a %s KV cache: %s is forecast by KV bytes "
                        "(approximate)\n", cal.path, cal.kv_dtype, kvdt);
    if (!rc && !json) {
        if (have_roof)
            fprintf(out, "%s, %s weights, %s KV, roof %.1f GB/s and %.1f GFLOP/s (%s)\n", c.name, dt, kvdt,
                    roof.bw_gbs, roof.peak_gflops, roof_source);
        else
            fprintf(out, "%s, %s weights, %s KV\n", c.name, dt, kvdt);
        if (calibrated)
            fprintf(out, "calibrated forecast from %s (%s, %s/%s, %d threads, host %s)\n", cal.path, cal.model,
                    cal.dtype, cal.kv_dtype, cal.threads, cal.host);
        fprintf(out, "%5s %6s %10s %10s %10s %8s %8s %9s%s\n", "B", "S", "MB/step", "GFLOP/step", "pred tok/s",
                "bound", "FLOP/B", "crossover", calibrated ? "  cal tok/s  cal ms/step" : "");
    }
    for (int i = 0; i < nb && !rc; i++)
        for (int j = 0; j < nc; j++) {
            step_cost cost;
            roof_prediction p;
            roofline_decode_cost(&c, (int)bs[i], (int)cs[j], Q, Qkv, &cost);
            memset(&p, 0, sizeof p);
            int cross = 0;
            if (have_roof) {
                roofline_predict(&cost, (int)bs[i], &roof, &p);
                cross = roofline_crossover_batch(&c, (int)cs[j], Q, Qkv, &roof);
            }
            calib_prediction cp;
            memset(&cp, 0, sizeof cp);
            if (calibrated && calib_predict(&cal, &c, (int)bs[i], (int)cs[j], Q, Qkv, &cp) != 0) {
                rc = status_fail(st, ST_BAD_INPUT, "predict: %s holds no usable tables: calibrate again", cal.path);
                break;
            }
            if (json) {
                cJSON *o = cJSON_CreateObject();
                cJSON_AddStringToObject(o, "model", c.name);
                cJSON_AddStringToObject(o, "dtype", dt);
                cJSON_AddStringToObject(o, "kv_dtype", kvdt);
                cJSON_AddNumberToObject(o, "batch", (double)bs[i]);
                cJSON_AddNumberToObject(o, "context", (double)cs[j]);
                if (have_roof) {
                    cJSON_AddNumberToObject(o, "bandwidth_gbs", roof.bw_gbs);
                    cJSON_AddNumberToObject(o, "peak_gflops", roof.peak_gflops);
                }
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
                if (have_roof) {
                    cJSON_AddNumberToObject(o, "predicted_step_s", p.t_s);
                    cJSON_AddNumberToObject(o, "predicted_tok_s", p.tok_s);
                    cJSON_AddStringToObject(o, "bound", p.compute_bound ? "compute" : "memory");
                    cJSON_AddNumberToObject(o, "intensity", p.intensity);
                    cJSON_AddNumberToObject(o, "ridge", p.ridge);
                    cJSON_AddNumberToObject(o, "crossover_batch", cross);
                }
                if (calibrated) add_calibrated(o, &cal, &cp);
                char *s = cJSON_PrintUnformatted(o);
                fprintf(out, "%s\n", s);
                free(s);
                cJSON_Delete(o);
            } else {
                if (have_roof)
                    fprintf(out, "%5ld %6ld %10.1f %10.2f %10.1f %8s %8.2f %9d", bs[i], cs[j], cost.total_bytes / 1e6,
                            cost.total_flops / 1e9, p.tok_s, p.compute_bound ? "compute" : "memory", p.intensity, cross);
                else
                    fprintf(out, "%5ld %6ld %10.1f %10.2f %10s %8s %8.2f %9s", bs[i], cs[j], cost.total_bytes / 1e6,
                            cost.total_flops / 1e9, "-", "-", cost.total_flops / cost.total_bytes, "-");
                if (calibrated) fprintf(out, " %10.1f %12.3f", cp.tok_s, cp.step_ns * 1e-6);
                fputc('\n', out);
            }
        }
    free(bs);
    free(cs);
    return rc;
#undef GET
}
