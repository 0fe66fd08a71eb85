/* gpt2-bench decode: batched decode measured against the roofline. */
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "../kernels/gemm_packed.h"
#include "../kernels/kernels.h"
#include "../kernels/pin.h"
#include "calib.h"
#include "cli.h"
#include "context.h"
#include "machine.h"
#include "commands.h"
#include "decode_machine.h"
#include "decode_run.h"
#include "model_source.h"
#include "outfile.h"
#include "probe.h"
#include "record.h"

static const char *USAGE =
    "usage: gpt2-bench decode --model NAME | --weights PATH --batch B --context S\n"
    "         [--steps N] [--reps R] [--warmup W] [--threads T] [--dtype f32|bf16|f16|int8]\n"
    "         [--kv-dtype f32|f16|bf16]\n"
    "         [--prefill synthetic|real] [--json FILE|-] [--csv FILE] [--machine FILE]\n"
    "         [--results DIR] [--remeasure] [--no-pack] [--seed N] [--quiet]\n"
    "         [--calibration FILE | --calibrate] [--force] [--probe MIB] [--pass K]\n"
    "  B, S and T take lists: 1,2,4 or ranges 1-64*2 (multiply) or 1-8+1 (add)\n"
    "  --steps N     timed steps per repetition (default 16); --reps R (default 5);\n"
    "                --warmup W steps first (default 4); S + W + N must fit in n_ctx\n"
    "  --prefill     synthetic (default): the KV cache is filled with seeded values,\n"
    "                since a step's cost does not depend on them; real: a real prefill\n"
    "  --machine     ceilings from this file; default: results/machine-<host>-t<T>.json,\n"
    "                measured on first use (gpt2-bench machine), --remeasure to redo it\n"
    "  --calibration FILE  add the calibrated prediction (gpt2-bench calibrate) to every record;\n"
    "                default: results/calib-<host>-t<T>-<dtype>-<kvdtype>.json when present\n"
    "                (never measured unless --calibrate); --force takes a file from another\n"
    "                host, thread count or dtype\n"
    "  --probe MIB   read-bandwidth probe before and after each point, over MIB MiB (default:\n"
    "                the machine file's read-test set, 3 x its stream arrays; 0: no probe)\n"
    "  --pass K      written into the record as \"pass\" (scripts/sweep.sh --passes; default 1)\n"
    "  --no-pack     OpenBLAS on the stored weights instead of the packed decode kernel\n"
    "  --json FILE   append one JSON object per point ('-': stdout); --csv FILE appends rows\n";

static void on_signal(int sig) {
    (void)sig;
    decode_stop_requested = 1;
}

typedef struct {
    long *batches, *contexts, *threads;
    int nb, nc, nt;
} grid;

static void grid_free(grid *g) {
    free(g->batches);
    free(g->contexts);
    free(g->threads);
}

/* Writes the outputs for one finished point. */
static int emit(const record_input *in, const char *json, const char *csv, int quiet, FILE *out, int *header_done,
                status_t *st) {
    record_figures f;
    record_compute(in, &f);
    int rc = ST_OK;
    if (!quiet) {
        if (!*header_done) record_table_header(out);
        *header_done = 1;
        record_table_row(out, in, &f);
        record_table_operators(out, in, &f);
    }
    if (json) {
        cJSON *o = record_json(in, &f);
        char *line = cJSON_PrintUnformatted(o);
        if (strcmp(json, "-") == 0)
            fprintf(out, "%s\n", line);
        else
            rc = record_append_line(json, line, st);
        free(line);
        cJSON_Delete(o);
    }
    if (!rc && csv) {
        FILE *probe = fopen(csv, "r");
        int fresh = !probe || fgetc(probe) == EOF;
        if (probe) fclose(probe);
        char *row = NULL;
        size_t len = 0;
        FILE *mem = open_memstream(&row, &len);
        if (!mem) return status_fail(st, ST_RUNTIME, "out of memory");
        if (fresh) fprintf(mem, "%s\n", record_csv_header());
        record_csv_row(mem, in, &f);
        fclose(mem);
        if (len && row[len - 1] == '\n') row[len - 1] = 0;
        rc = record_append_line(csv, row, st);
        free(row);
    }
    return rc;
}

int cmd_decode(int argc, char **argv, FILE *out, status_t *st) {
    cli_flag fl[] = {{"--model", 1, 0},   {"--weights", 1, 0},  {"--batch", 1, 0},   {"--context", 1, 0},
                     {"--steps", 1, 0},   {"--reps", 1, 0},     {"--warmup", 1, 0},  {"--threads", 1, 0},
                     {"--dtype", 1, 0},   {"--kv-dtype", 1, 0}, {"--prefill", 1, 0}, {"--json", 1, 0},
                     {"--csv", 1, 0},     {"--machine", 1, 0},  {"--results", 1, 0}, {"--remeasure", 0, 0},
                     {"--no-pack", 0, 0}, {"--seed", 1, 0},     {"--quiet", 0, 0},   {"--help", 0, 0},
                     {"--calibration", 1, 0}, {"--calibrate", 0, 0}, {"--force", 0, 0}, {"--probe", 1, 0}, {"--pass", 1, 0}};
    const int nf = sizeof fl / sizeof fl[0];
    int rc = cli_parse(argc, argv, 1, fl, nf, "decode", st);
    if (rc) return rc;
    if (cli_get(fl, nf, "--help")) { fputs(USAGE, out); return ST_OK; }
#define GET(name) cli_get(fl, nf, name)
    wdtype wdt = WDT_F32, kvdt = WDT_F32;
    if (GET("--dtype") && wdtype_parse(GET("--dtype"), &wdt) != 0)
        return status_fail(st, ST_BAD_INPUT, "decode: --dtype %s: use f32, bf16, f16 or int8", GET("--dtype"));
    if ((rc = kv_dtype_parse(GET("--kv-dtype"), &kvdt, st))) return rc;
    if (GET("--no-pack") && GET("--dtype") && wdt != WDT_F32)
        return status_fail(st, ST_BAD_INPUT, "decode: --no-pack runs OpenBLAS on f32 weights: drop --dtype %s",
                           GET("--dtype"));
    if (GET("--no-pack") && (GET("--calibration") || GET("--calibrate")))
        return status_fail(st, ST_BAD_INPUT, "decode: the calibration times the packed kernel; --no-pack runs "
                           "OpenBLAS: drop --calibration/--calibrate or --no-pack");
    if (GET("--calibration") && GET("--calibrate"))
        return status_fail(st, ST_BAD_INPUT, "decode: give --calibration FILE or --calibrate, not both");
    if (GET("--calibration")) { /* a file that can never be used is refused before anything runs */
        calibration cal0;
        if ((rc = calib_load(&cal0, GET("--calibration"), st)) ||
            (rc = calib_check_use(&cal0, "decode: --calibration", 0, GET("--dtype") ? wdtype_name(wdt) : NULL,
                                  wdtype_name(kvdt),
                                  GET("--force") != NULL, st)))
            return rc;
    }
    const char *prefill = GET("--prefill") ? GET("--prefill") : "synthetic";
    if (strcmp(prefill, "synthetic") != 0 && strcmp(prefill, "real") != 0)
        return status_fail(st, ST_BAD_INPUT, "decode: --prefill '%s': use synthetic or real", prefill);
    if (!GET("--batch") || !GET("--context"))
        return status_fail(st, ST_BAD_INPUT, "decode: --batch B and --context S are required (see --help)");
    long steps = 16, reps = 5, warmup = 4, seed = 1, probe_mib = -1, pass = 1;
    if ((GET("--steps") && (rc = cli_int(GET("--steps"), "--steps", 1, 1 << 20, &steps, st))) ||
        (GET("--reps") && (rc = cli_int(GET("--reps"), "--reps", 1, 100000, &reps, st))) ||
        (GET("--warmup") && (rc = cli_int(GET("--warmup"), "--warmup", 0, 1 << 20, &warmup, st))) ||
        (GET("--seed") && (rc = cli_int(GET("--seed"), "--seed", 0, 2147483647L, &seed, st))) ||
        (GET("--probe") && (rc = cli_int(GET("--probe"), "--probe", 0, 1 << 16, &probe_mib, st))) ||
        (GET("--pass") && (rc = cli_int(GET("--pass"), "--pass", 1, 1000, &pass, st))))
        return rc;
    if (probe_mib > 0) {
        uint64_t avail = mem_available_bytes();
        if (avail && ((uint64_t)probe_mib << 20) > avail / 2)
            return status_fail(st, ST_BAD_INPUT,
                               "decode: --probe %ld MiB is more than half the memory available (%.1f GiB): "
                               "use a smaller probe, or --probe 0 for none", probe_mib, avail / 1073741824.0);
    }
    grid g = {0};
    long ncores = machine_default_threads(); /* one per core, as `machine` measures by default */
    if ((rc = cli_list(GET("--batch"), "--batch", 1, 1 << 16, &g.batches, &g.nb, st)) ||
        (rc = cli_list(GET("--context"), "--context", 0, 1 << 20, &g.contexts, &g.nc, st)) ||
        (GET("--threads") && (rc = cli_list(GET("--threads"), "--threads", 1, 4096, &g.threads, &g.nt, st)))) {
        grid_free(&g);
        return rc;
    }
    if (!g.threads) {
        g.threads = malloc(sizeof *g.threads);
        g.threads[0] = ncores;
        g.nt = 1;
    }
    /* refuse what can never work before any weights are made, the machine is
     * measured or anything is allocated: outputs that cannot be written,
     * points past n_ctx, points whose KV cache exceeds the memory here */
    const char *json = GET("--json"), *csv = GET("--csv");
    gpt2_config cfg;
    if ((json && strcmp(json, "-") != 0 && (rc = outfile_check(json, "decode: --json", st))) ||
        (csv && (rc = outfile_check(csv, "decode: --csv", st))) ||
        (rc = model_config(&cfg, GET("--model"), GET("--weights"), st))) {
        grid_free(&g);
        return rc;
    }
    long max_threads = 1;
    for (int i = 0; i < g.nt; i++) max_threads = g.threads[i] > max_threads ? g.threads[i] : max_threads;
    for (int i = 0; i < g.nc && !rc; i++)
        if (g.contexts[i] + warmup + steps > cfg.n_ctx)
            rc = status_fail(st, ST_BAD_INPUT,
                             "decode: context %ld + warm-up %ld + steps %ld = %ld positions exceed n_ctx %d: "
                             "lower the context or the steps",
                             g.contexts[i], warmup, steps, g.contexts[i] + warmup + steps, cfg.n_ctx);
    for (int bi = 0; bi < g.nb && !rc; bi++)
        for (int ci = 0; ci < g.nc && !rc; ci++) {
            decode_request rq = {(int)g.batches[bi], (int)g.contexts[ci], (int)steps, (int)reps, (int)warmup,
                                 strcmp(prefill, "real") == 0, (uint64_t)seed, NULL, kvdt};
            char what[200];
            snprintf(what, sizeof what, "decode: batch %d at context %d (a %.2f GiB KV cache)", rq.batch, rq.context,
                     (double)kv_bytes(&cfg, rq.batch, rq.context + rq.warmup + rq.steps, kvdt) / 1073741824.0);
            rc = mem_check(st, what, decode_bytes_needed(&cfg, &rq, (int)max_threads));
        }
    if (rc) {
        grid_free(&g);
        return rc;
    }
    gpt2_model m;
    if ((rc = model_open(&m, GET("--model"), GET("--weights"), (uint64_t)seed, st))) {
        grid_free(&g);
        return rc;
    }
    if (!GET("--no-pack")) rc = model_pack(&m, GET("--dtype"), 1, &wdt, st);
    const char *dtype = wdtype_name(wdt), *kv_dtype = wdtype_name(kvdt);
    const int quiet = GET("--quiet") != NULL;
    struct sigaction sa = {0}, old_int, old_term;
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    decode_stop_requested = 0;
    sigaction(SIGINT, &sa, &old_int);
    sigaction(SIGTERM, &sa, &old_term);
    int header_done = 0;
    cJSON *context = context_json(); /* date, CPU, OpenBLAS, env, compiler, revision: once per command */
    for (int ti = 0; ti < g.nt && !rc && !decode_stop_requested; ti++) {
        int T = threads_init((int)g.threads[ti]);
        char pin_desc[256] = "";
        threads_pin(T, pin_desc, sizeof pin_desc);
        record_machine mc;
        rc = decode_machine_get(&mc, T, GET("--machine"), GET("--results") ? GET("--results") : "results",
                                GET("--remeasure") != NULL, quiet ? NULL : stderr, st);
        /* the read bandwidth of each point's minute, probed before and after it */
        bw_probe probe = {0};
        status_t pst = {0};
        int have_probe = !rc && probe_mib != 0 &&
                         probe_init(&probe, probe_mib > 0 ? (size_t)probe_mib << 20 : probe_bytes_for(mc.read_set_bytes),
                                    &pst) == ST_OK;
        if (!rc && !have_probe && !quiet) fprintf(stderr, "decode: no bandwidth probe (%s)\n", pst.msg);
        calibration cal;
        int have_cal = 0;
        if (!rc && m.packed)
            rc = calib_for_decode(&cal, &have_cal, &m.cfg, wdt, kvdt, T, GET("--calibration"),
                                  GET("--results") ? GET("--results") : "results", GET("--calibrate") != NULL,
                                  GET("--remeasure") != NULL, GET("--force") != NULL, quiet ? NULL : stderr, st);
        for (int bi = 0; bi < g.nb && !rc && !decode_stop_requested; bi++)
            for (int ci = 0; ci < g.nc && !rc && !decode_stop_requested; ci++) {
                decode_request rq = {(int)g.batches[bi], (int)g.contexts[ci], (int)steps, (int)reps, (int)warmup,
                                     strcmp(prefill, "real") == 0, (uint64_t)seed, quiet ? NULL : stderr, kvdt};
                rc = mem_check(st, "this decode point", decode_bytes_needed(&m.cfg, &rq, T));
                decode_result res;
                record_probe pr = {-1, -1, (double)probe.n * sizeof(float), -1, -1};
                if (!rc && have_probe) {
                    pr.before_gbs = probe_read_gbs(&probe, 7);
                    pr.before_gflops = machine_peak_probe_gflops(PROBE_PEAK_PASSES, PROBE_PEAK_PASS_S);
                }
                if (!rc) rc = decode_measure(&m, &rq, &res, st);
                if (rc) break;
                if (have_probe) {
                    pr.after_gflops = machine_peak_probe_gflops(PROBE_PEAK_PASSES, PROBE_PEAK_PASS_S);
                    pr.after_gbs = probe_read_gbs(&probe, 7);
                }
                record_input in = {&m, dtype, kv_dtype, (double)wdtype_bytes(wdt), (double)wdtype_bytes(kvdt), T, pin_desc,
                                   m.packed ? gemm_path_name(gemm_path_current()) : "openblas", &mc, &res,
                                   context, have_cal ? &cal : NULL, have_probe ? &pr : NULL, (int)pass};
                rc = emit(&in, json, csv, quiet, out, &header_done, st);
                decode_result_free(&res);
            }
        probe_free(&probe);
    }
    if (!rc && decode_stop_requested)
        rc = status_fail(st, ST_RUNTIME, "decode: interrupted; the points measured so far were written");
    cJSON_Delete(context);
    sigaction(SIGINT, &old_int, NULL);
    sigaction(SIGTERM, &old_term, NULL);
    gpt2_free(&m);
    grid_free(&g);
    return rc;
#undef GET
}
