/* gpt2-bench calibrate: each operator's own cost on this machine at the
 * model's decode shapes, the tables of the calibrated prediction (calib.h,
 * docs/method.md "Calibrated prediction"). Kept per host, threads and
 * dtypes in DIR/calib-<host>-t<T>-<dtype>-<kvdtype>.json until --remeasure. */
#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>

#include "../kernels/kernels.h"
#include "../kernels/pin.h"
#include "calib.h"
#include "cli.h"
#include "commands.h"
#include "machine.h"
#include "model_source.h"

static const char *USAGE =
    "usage: gpt2-bench calibrate [--model NAME | --weights PATH | --config FILE] [--dtype f32|bf16|f16|int8]\n"
    "                            [--kv-dtype f32|f16|bf16] [--threads T] [--json FILE|-] [--results DIR]\n"
    "                            [--remeasure] [--quick]\n"
    "  Times each operator's kernel alone at the model's decode shapes: the packed GEMM at its\n"
    "  five shapes for M = 1..256 (weights cold), one layer of attention at a few (B, S), the\n"
    "  elementwise operators per row, and the fixed per-step overhead. decode and predict\n"
    "  --calibrated turn these tables into a per-operator prediction of any point.\n"
    "  --model NAME   shapes of gpt2 (default), gpt2-medium, gpt2-large or gpt2-xl; --weights PATH\n"
    "                 or --config FILE: the shapes of a checkpoint's config.json (values unused)\n"
    "  --threads T    threads, pinned one per core (default: all cores)\n"
    "  --json FILE|-  the calibration as JSON: '-' to stdout, FILE written atomically\n"
    "  --results DIR  folder of DIR/calib-<host>-t<T>-<dtype>-<kvdtype>.json (default: results),\n"
    "                 reused unless --remeasure (or measured for another host, threads, model\n"
    "                 or git revision: the costs are the kernels' of that revision)\n"
    "  --quick        tiny sets, few rows: checks the tool in under 2 s, figures not meaningful\n"
    "                 (kept apart, in ...-quick.json)\n";

int cmd_calibrate(int argc, char **argv, FILE *out, status_t *st) {
    cli_flag fl[] = {{"--model", 1, 0},  {"--weights", 1, 0}, {"--config", 1, 0},  {"--dtype", 1, 0},
                     {"--kv-dtype", 1, 0}, {"--threads", 1, 0}, {"--json", 1, 0},    {"--results", 1, 0},
                     {"--remeasure", 0, 0}, {"--quick", 0, 0},  {"--help", 0, 0}};
    const int nf = sizeof fl / sizeof fl[0];
    int rc = cli_parse(argc, argv, 1, fl, nf, "calibrate", st);
    if (rc) return rc;
#define GET(name) cli_get(fl, nf, name)
    if (GET("--help")) {
        fputs(USAGE, out);
        return ST_OK;
    }
    if (!!GET("--model") + !!GET("--weights") + !!GET("--config") > 1)
        return status_fail(st, ST_BAD_INPUT, "calibrate: give one of --model, --weights or --config");
    gpt2_config c;
    if (GET("--config"))
        rc = config_from_json_file(GET("--config"), &c, st);
    else if (GET("--weights"))
        rc = model_config(&c, NULL, GET("--weights"), st);
    else
        rc = config_by_name(GET("--model") ? GET("--model") : "gpt2", &c, st);
    if (rc) return rc;
    wdtype wdt = WDT_F32, kvdt = WDT_F32;
    if (GET("--dtype") && wdtype_parse(GET("--dtype"), &wdt) != 0)
        return status_fail(st, ST_BAD_INPUT, "calibrate: --dtype %s: use f32, bf16, f16 or int8", GET("--dtype"));
    if ((rc = kv_dtype_parse(GET("--kv-dtype"), &kvdt, st))) return rc;
    long threads = machine_default_threads();
    if (GET("--threads") && (rc = cli_int(GET("--threads"), "--threads", 1, 4096, &threads, st))) return rc;
    const char *json = GET("--json");
    if (json && !*json) return status_fail(st, ST_BAD_INPUT, "calibrate: --json takes FILE or '-'");
    int T = threads_init((int)threads);
    char pin[256] = "";
    threads_pin(T, pin, sizeof pin);
    calibration cal;
    rc = calib_obtain(&cal, &c, wdt, kvdt, T, GET("--quick") != NULL, GET("--remeasure") != NULL,
                      GET("--results") ? GET("--results") : "results", stderr, st);
    if (rc) return rc;
    if (json && strcmp(json, "-") == 0) {
        cJSON *j = calib_to_json(&cal);
        char *s = j ? cJSON_PrintUnformatted(j) : NULL;
        cJSON_Delete(j);
        if (!s) return status_fail(st, ST_RUNTIME, "calibrate: out of memory");
        fprintf(out, "%s\n", s);
        free(s);
        return ST_OK;
    }
    if (json && (rc = calib_save(&cal, json, st))) return rc;
    fprintf(out, "calibration  %s, %s weights, %s KV, %d threads on %s (host %s)%s\n", cal.model, cal.dtype,
            cal.kv_dtype, cal.threads, cal.cpu, cal.host, cal.quick ? ", QUICK: figures not meaningful" : "");
    fprintf(out, "file         %s%s%s\n", cal.path, json ? ", copied to " : "", json ? json : "");
    fprintf(out, "GEMM (packed, weights %s), us per call by M:\n%-10s", cal.weights_resident ? "warm" : "cold", "M");
    for (int i = 0; i < cal.n_gemm; i++) fprintf(out, " %12s", cal.gemm[i].name);
    fputc('\n', out);
    for (int k = 0; k < cal.gemm[0].nm; k++) {
        fprintf(out, "%-10d", cal.gemm[0].m[k]);
        for (int i = 0; i < cal.n_gemm; i++) fprintf(out, " %12.1f", k < cal.gemm[i].nm ? cal.gemm[i].ns[k] * 1e-3 : 0);
        fputc('\n', out);
    }
    fprintf(out, "attention, one layer: fixed %.1f us; by (B, S): ", cal.attn_fixed_ns * 1e-3);
    for (int i = 0; i < cal.n_attn; i++)
        fprintf(out, "%s(%d, %d) %.1f us, %.1f GB/s", i ? "; " : "", cal.attn[i].batch, cal.attn[i].context,
                cal.attn[i].ns * 1e-3, cal.attn[i].gbs);
    fprintf(out, "\nelementwise, us per call by rows:\n%-10s %10s %10s %10s %10s %10s %10s\n", "rows", "layernorm",
            "gelu", "add", "embed", "kv_append", "argmax");
    for (int k = 0; k < cal.n_rows; k++)
        fprintf(out, "%-10d %10.2f %10.2f %10.2f %10.2f %10.2f %10.2f\n", cal.rows[k], cal.layernorm_ns[k] * 1e-3,
                cal.gelu_ns[k] * 1e-3, cal.add_ns[k] * 1e-3, cal.embed_ns[k] * 1e-3, cal.kv_append_ns[k] * 1e-3,
                cal.argmax_ns[k] * 1e-3);
    fprintf(out, "per-step overhead %.1f us; measured in %.1f s\n", cal.step_overhead_ns * 1e-3, cal.measure_s);
    return ST_OK;
#undef GET
}
