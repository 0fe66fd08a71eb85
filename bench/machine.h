/* machine: this machine's measured ceilings for the roofline: streaming
 * bandwidth (STREAM-style read, copy, triad), the FMA peak of the widest
 * vector unit, the clock, the last-level cache size seen as a bandwidth
 * knee, OpenBLAS sgemm at 2048^3 and at GPT-2's decode shapes. Measured
 * once per host and thread count, saved as results/machine-<host>-t<T>.json
 * and reused until asked to measure again.
 *
 * Units are in the names: _bytes, _gbs (1e9 bytes/s), _gflops (1e9 FLOP/s),
 * _ghz, _s. Bandwidth follows STREAM's convention: copy counts 2 x the
 * array bytes, triad 3 x, read 1 x; the write-allocate read of a stored
 * line is not counted (regular stores, no streaming stores). */
#ifndef GR_MACHINE_H
#define GR_MACHINE_H

#include <cjson/cJSON.h>
#include <stdint.h>
#include <stdio.h>

#include "../model/status.h"

#define MACHINE_SCHEMA_VERSION 1
#define MACHINE_CURVE_MAX 24   /* working-set sizes of the cache curve */
#define MACHINE_SHAPES_MAX 64  /* sgemm decode shapes: 9 M x 5 (K, N) */
#define MACHINE_SGEMV_MAX 8    /* sgemv (M = 1) shapes: 5 */

/* One point of read bandwidth against working-set size (all threads). */
typedef struct {
    int64_t bytes; /* working set, summed over threads */
    double gbs;    /* best read bandwidth at that size */
} machine_curve_point;

/* OpenBLAS sgemm at one decode shape: y: (m, n) = x: (m, k) @ w, w of
 * k x n floats ((k, n) NoTrans, or (n, k) Trans for the LM head), weights
 * cold (cycled through copies spanning more than the LLC). */
typedef struct {
    int m, k, n;
    int lm_head;          /* 1: w is (n, k), cblas NoTrans/Trans (the tied LM head) */
    double gflops;        /* 2 m k n / best call time */
    double weight_gbs;    /* 4 k n bytes / best call time */
    double median_gflops; /* 2 m k n / median call time */
} machine_sgemm_shape;

/* OpenBLAS sgemv (what the model calls at M = 1) at one decode shape. */
typedef struct {
    int k, n;
    int lm_head;
    double weight_gbs;        /* 4 k n bytes / best call time */
    double median_weight_gbs; /* 4 k n bytes / median call time */
} machine_sgemv_shape;

typedef struct {
    int schema_version;  /* MACHINE_SCHEMA_VERSION */
    int threads;         /* OpenMP and OpenBLAS threads every figure used */
    int quick;           /* 1: tiny arrays and few repetitions, for tests only */
    char cpu[128];       /* model name (hwloc) */
    char isa[16];        /* widest vector unit found at run time: "avx512", "avx2" or "scalar" */
    char host[256], date[32], compiler[128], compiler_flags[512], git_revision[64];
    char pinning[256];   /* what threads_pin did */

    /* streaming bandwidth, STREAM convention (see above), best of stream_reps
     * timed passes after one untimed pass, each validated */
    double read_gbs, copy_gbs, triad_gbs;
    double read_median_gbs;     /* the read test's median pass: what a typical moment gives on a shared
                                 * host, beside the best (read_gbs, the roof); 0 in older files */
    int64_t stream_array_bytes; /* bytes of each of the 3 float arrays */
    int stream_reps;
    int read_streams;           /* streams each thread reads side by side in the read test (and the probe):
                                 * MACHINE_READ_STREAMS; 1 in files from before it (measured again) */

    /* compute */
    double clock_ghz;      /* dependent integer-add chain, all threads at once, mean over threads */
    double peak_gflops;    /* FMA (or mul+add) register loop of the isa, all threads at once */
    double spec_gflops;    /* spec_cores x clock_ghz x flops_per_cycle_per_core */
    double flops_per_cycle_per_core; /* assumed: 2 FMA pipes x lanes of the isa x 2 */
    int spec_cores;        /* min(threads, cores) */
    double sgemm_gflops;   /* OpenBLAS sgemm sgemm_size^3, best of a few */
    int sgemm_size;        /* 2048 (quick: smaller) */

    /* last-level cache */
    int64_t llc_bytes_measured; /* largest working set read > 1.5 x the best at sets >= 4 x larger
                                 * (the DRAM plateau); at most 64 MiB; 0 = no knee found */
    int64_t llc_bytes_hwloc;    /* hwloc's LLC, one instance; 0 = unknown */
    int n_curve;
    machine_curve_point curve[MACHINE_CURVE_MAX];

    int n_shapes;
    machine_sgemm_shape shapes[MACHINE_SHAPES_MAX];
    int n_sgemv;
    machine_sgemv_shape sgemv[MACHINE_SGEMV_MAX];

    double measure_s;       /* wall time of the whole measurement */
    double busy_cpus_before; /* CPUs kept busy by other work just before measuring (/proc/stat over
                              * 0.25 s; -1 unknown): well above 0 makes every figure low */

    /* context (owned; machine_free deletes them): hwloc topology, OpenBLAS
     * build, OPENBLAS_* / OMP_* / GOMP_* environment */
    cJSON *topology, *openblas, *env;

    /* not saved: where the figures came from */
    int from_cache;  /* 1: loaded from path, 0: measured now */
    char path[1024]; /* the results file read or written, "" if none */
} machine_info;

/* Measures everything with `threads` threads (<= 0: one per core), calling
 * threads_init(threads) first (pinning is the caller's: threads_pin).
 * quick: tiny arrays and few repetitions (well under 2 s; figures not
 * meaningful). Progress lines go to `progress` when not NULL. On failure
 * (a result that does not validate, memory) fills st and returns its code;
 * *m is then freed. */
int machine_measure(machine_info *m, int threads, int quick, FILE *progress, status_t *st);

/* Releases the context objects; *m keeps its numbers. */
void machine_free(machine_info *m);

/* A new JSON object with every field (schema in the .c file's header).
 * NULL only when out of memory. */
cJSON *machine_to_json(const machine_info *m);

/* Reads *m from a JSON object made by machine_to_json, checking that every
 * field is present with the right type and range. On failure returns
 * ST_BAD_INPUT naming the field, *m freed. */
int machine_from_json(machine_info *m, const cJSON *j, status_t *st);

/* The results file for (host, threads): DIR/machine-<host>-t<T>.json, or
 * ...-t<T>-quick.json for quick measurements (host: characters other than
 * [A-Za-z0-9._-] become '_'). Returns buf. */
/* host as a file-name part: characters other than [A-Za-z0-9._-] become
 * '_'; empty, "." or ".." become "unknown". Writes at most len bytes into
 * buf and returns it. */
const char *machine_host_token(char *buf, size_t len, const char *host);

const char *machine_default_path(char *buf, size_t len, const char *results_dir, const char *host, int threads,
                                 int quick);

/* Loads the results file of this host and thread count when present and
 * valid (same host, same threads, same schema; a quick file serves only a
 * quick request) unless remeasure; else measures and writes the file
 * atomically (creating results_dir). threads <= 0: one per core. */
int machine_obtain(machine_info *m, int threads, int remeasure, int quick, const char *results_dir,
                   FILE *progress, status_t *st);

/* Reads and validates a machine JSON file (e.g. for --machine FILE). */
int machine_load(machine_info *m, const char *path, status_t *st);

/* Writes text and a newline to path atomically (outfile.h): a temporary
 * file in the same folder, flushed and fsync'd, then renamed over path. */
int machine_write_atomic(const char *path, const char *text, status_t *st);

/* The read test reads each thread's part of an array as this many equal
 * pieces side by side, 64 bytes of each in turn: one sequential stream per
 * thread leaves bandwidth unused on some CPUs (the 2-core Zen 3 VM: 21-24
 * GB/s with one stream per thread, 30-38 with four, 29-35 with six, in
 * one run), and the decode kernels read several streams per core (two
 * weight panels; K and V). */
#define MACHINE_READ_STREAMS 4

/* The sum of x[0..n) by the read kernel of the widest vector unit here
 * (the STREAM read test's own loop), in MACHINE_READ_STREAMS pieces read
 * side by side; x 64-byte aligned. For probes that must read memory
 * exactly as the read figure does (probe.h). */
double machine_read_sum(const float *x, size_t n);

/* The FMA rate of this minute: the machine file's peak loop (all current
 * OpenMP threads at once), `passes` timings of about pass_s seconds each
 * (sized by a short first pass, by the wall clock) after one untimed, their
 * median, in GFLOP/s (0 if the loop's result is not finite). For probes
 * (probe.h): on a shared host a neighbour on the sibling hardware thread
 * takes FMA issue slots as another takes bandwidth. */
double machine_peak_probe_gflops(int passes, double pass_s);

/* Cores hwloc counts (the default thread count). */
int machine_default_threads(void);

#endif
