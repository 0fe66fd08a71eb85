/* gpt2-bench machine: this machine's measured ceilings (bandwidth, FMA
 * peak, clock, LLC, OpenBLAS sgemm), measured once per host and thread
 * count and kept in DIR/machine-<host>-t<T>.json until --remeasure. */
#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>

#include "../kernels/kernels.h"
#include "../kernels/pin.h"
#include "cli.h"
#include "commands.h"
#include "context.h"
#include "machine.h"
#include "outfile.h"

static const char *USAGE =
    "usage: gpt2-bench machine [--threads T] [--json FILE|-] [--remeasure] [--quick] [--results DIR]\n"
    "  Measures streaming bandwidth (STREAM-style read, copy, triad), the FMA peak,\n"
    "  the clock, the LLC (read-bandwidth knee) and OpenBLAS sgemm (2048^3 and GPT-2\n"
    "  decode shapes), or reuses DIR/machine-<host>-t<T>.json from an earlier run.\n"
    "  --threads T    threads for OpenMP and OpenBLAS, pinned one per core (default: all cores)\n"
    "  --json FILE|-  the figures as JSON: '-' to stdout (one line), FILE written atomically\n"
    "  --remeasure    measure even when a results file exists\n"
    "  --quick        tiny arrays, few repetitions: checks the tool, figures not meaningful\n"
    "                 (kept apart, in machine-<host>-t<T>-quick.json)\n"
    "  --results DIR  folder of the results files (default: results)\n";

static const char *fmt_bytes(char *buf, size_t len, int64_t bytes) {
    if (bytes <= 0) snprintf(buf, len, "none");
    else if (bytes % (1024 * 1024) == 0) snprintf(buf, len, "%lld MiB", (long long)(bytes >> 20));
    else if (bytes % 1024 == 0) snprintf(buf, len, "%lld KiB", (long long)(bytes >> 10));
    else snprintf(buf, len, "%lld B", (long long)bytes);
    return buf;
}

static const machine_sgemm_shape *find_shape(const machine_info *m, int M, int k, int n) {
    for (int i = 0; i < m->n_shapes; i++)
        if (m->shapes[i].m == M && m->shapes[i].k == k && m->shapes[i].n == n) return &m->shapes[i];
    return NULL;
}

static void print_human(const machine_info *m, FILE *out) {
    char b1[32], b2[32];
    fprintf(out, "machine      %s (%s), host %s, %d thread%s%s\n", m->cpu, m->isa, m->host, m->threads,
            m->threads == 1 ? "" : "s", m->quick ? ", QUICK: figures not meaningful" : "");
    if (m->from_cache)
        fprintf(out, "source       %s (measured %s; --remeasure to measure again)\n", m->path, m->date);
    else
        fprintf(out, "source       measured now in %.1f s, saved to %s\n", m->measure_s, m->path);
    fprintf(out, "pinning      %s\n", m->pinning);
    if (m->busy_cpus_before >= 0.25)
        fprintf(out, "WARNING      other work kept %.2f CPUs busy when this was measured: figures low\n",
                m->busy_cpus_before);
    fprintf(out, "clock        %8.2f GHz       dependent integer adds, all threads\n", m->clock_ghz);
    fprintf(out, "read         %8.1f GB/s      sum of three float arrays in turn, 1 x bytes\n", m->read_gbs);
    fprintf(out, "copy         %8.1f GB/s      c = a, 2 x bytes (STREAM; write-allocate not counted)\n", m->copy_gbs);
    fprintf(out, "triad        %8.1f GB/s      a = b + s c, 3 x bytes (STREAM; write-allocate not counted)\n",
            m->triad_gbs);
    fprintf(out, "             arrays of %s each, best of %d passes after one\n",
            fmt_bytes(b1, sizeof b1, m->stream_array_bytes), m->stream_reps);
    fprintf(out, "FMA peak     %8.1f GFLOP/s   measured, %s register loop, all threads\n", m->peak_gflops, m->isa);
    fprintf(out, "spec peak    %8.1f GFLOP/s   %d cores x %.2f GHz x %.0f FLOP/cycle (assumes 2 FMA pipes/core)\n",
            m->spec_gflops, m->spec_cores, m->clock_ghz, m->flops_per_cycle_per_core);
    fprintf(out, "sgemm        %8.1f GFLOP/s   OpenBLAS %d^3\n", m->sgemm_gflops, m->sgemm_size);
    fprintf(out, "LLC          %s measured (read-bandwidth knee), %s per hwloc\n",
            fmt_bytes(b1, sizeof b1, m->llc_bytes_measured), fmt_bytes(b2, sizeof b2, m->llc_bytes_hwloc));
    fprintf(out, "ridge point  %8.2f FLOP/byte measured peak / read bandwidth (%.2f with sgemm)\n",
            m->peak_gflops / m->read_gbs, m->sgemm_gflops / m->read_gbs);
    fputs("read bandwidth by working set:", out);
    for (int i = 0; i < m->n_curve; i++)
        fprintf(out, "%s%s %.0f", i % 7 ? ", " : "\n  ", fmt_bytes(b1, sizeof b1, m->curve[i].bytes), m->curve[i].gbs);
    fputs(" GB/s\n", out);

    /* the decode-shape table: rows M, columns (K, N) */
    int ks[8], ns[8], nc = 0;
    for (int i = 0; i < m->n_shapes && nc < 8; i++) {
        int seen = 0;
        for (int c = 0; c < nc; c++) seen |= ks[c] == m->shapes[i].k && ns[c] == m->shapes[i].n;
        if (!seen) { ks[nc] = m->shapes[i].k; ns[nc] = m->shapes[i].n; nc++; }
    }
    if (!nc) return;
    fputs("OpenBLAS at decode shapes, weights cold: GFLOP/s | weight GB/s (best call)\n       M", out);
    for (int c = 0; c < nc; c++) {
        char h[32];
        snprintf(h, sizeof h, "%dx%d%s", ks[c], ns[c], ns[c] == 50257 ? "(LM)" : "");
        fprintf(out, " %17s", h);
    }
    fputc('\n', out);
    if (m->n_sgemv) {
        fputs("   sgemv", out);
        for (int c = 0; c < nc; c++) {
            const machine_sgemv_shape *g = NULL;
            for (int i = 0; i < m->n_sgemv; i++)
                if (m->sgemv[i].k == ks[c] && m->sgemv[i].n == ns[c]) g = &m->sgemv[i];
            if (g) fprintf(out, " %9.1f | %5.1f", g->weight_gbs / 2, g->weight_gbs); /* 2 k n FLOP per 4 k n B */
            else fprintf(out, " %17s", "-");
        }
        fputc('\n', out);
    }
    int last_m = 0;
    for (;;) { /* rows in increasing M */
        int next_m = 0;
        for (int i = 0; i < m->n_shapes; i++)
            if (m->shapes[i].m > last_m && (!next_m || m->shapes[i].m < next_m)) next_m = m->shapes[i].m;
        if (!next_m) break;
        fprintf(out, "%8d", next_m);
        for (int c = 0; c < nc; c++) {
            const machine_sgemm_shape *s = find_shape(m, next_m, ks[c], ns[c]);
            if (s) fprintf(out, " %9.1f | %5.1f", s->gflops, s->weight_gbs);
            else fprintf(out, " %17s", "-");
        }
        fputc('\n', out);
        last_m = next_m;
    }
}

int cmd_machine(int argc, char **argv, FILE *out, status_t *st) {
    cli_flag fl[] = {{"--threads", 1, 0}, {"--json", 1, 0},    {"--remeasure", 0, 0},
                     {"--quick", 0, 0},   {"--results", 1, 0}, {"--help", 0, 0}};
    const int nf = sizeof fl / sizeof fl[0];
    int rc = cli_parse(argc, argv, 1, fl, nf, "machine", st);
    if (rc) return rc;
    if (cli_get(fl, nf, "--help")) {
        fputs(USAGE, out);
        return ST_OK;
    }
    context_hw hw;
    context_hw_get(&hw);
    int threads = hw.cores > 0 ? hw.cores : 1;
    const char *ts = cli_get(fl, nf, "--threads");
    if (ts) {
        long t;
        int max_t = hw.pus > 0 ? hw.pus : 1;
        if (cli_int(ts, "machine: --threads", 1, max_t, &t, st))
            return status_fail(st, ST_BAD_INPUT,
                               "machine: --threads '%s': must be a whole number from 1 to %d, the logical CPUs "
                               "here (more would oversubscribe them)", ts, max_t);
        threads = (int)t;
    }
    const char *json = cli_get(fl, nf, "--json");
    if (json && !*json) return status_fail(st, ST_BAD_INPUT, "machine: --json takes a file name or '-' (stdout)");
    if (json && strcmp(json, "-") != 0 && (rc = outfile_check(json, "machine: --json", st))) return rc;
    const char *results = cli_get(fl, nf, "--results");
    if (results && !*results) return status_fail(st, ST_BAD_INPUT, "machine: --results takes a folder");
    if (!results) results = "results";
    int remeasure = cli_get(fl, nf, "--remeasure") != NULL, quick = cli_get(fl, nf, "--quick") != NULL;

    threads_init(threads);
    char pin_desc[256];
    threads_pin(threads, pin_desc, sizeof pin_desc); /* a failure is described, not fatal */
    machine_info m;
    if ((rc = machine_obtain(&m, threads, remeasure, quick, results, stderr, st))) return rc;

    if (json) {
        cJSON *j = machine_to_json(&m);
        char *text = NULL;
        if (j) text = strcmp(json, "-") == 0 ? cJSON_PrintUnformatted(j) : cJSON_Print(j);
        cJSON_Delete(j);
        if (!text) {
            machine_free(&m);
            return status_fail(st, ST_RUNTIME, "machine: out of memory writing the JSON");
        }
        if (strcmp(json, "-") == 0) fprintf(out, "%s\n", text);
        else rc = machine_write_atomic(json, text, st);
        free(text);
        if (rc) {
            machine_free(&m);
            return rc;
        }
    }
    if (!json || strcmp(json, "-") != 0) {
        print_human(&m, out);
        if (json) fprintf(out, "wrote %s\n", json);
    }
    machine_free(&m);
    return ST_OK;
}
