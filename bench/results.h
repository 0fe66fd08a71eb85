/* results: reads what a sweep leaves in its folder (decode.jsonl from
 * `gpt2-bench decode --json`, machine.json from `gpt2-bench machine --json`,
 * skipped.tsv from scripts/sweep.sh) and the figures the report derives
 * from them. Only the fields the report uses are read; the rest of a record
 * is ignored, so newer records with more fields still read.
 *
 * Units as in the records: tok/s, GB/s (1e9 bytes/s), GFLOP/s, bytes and
 * FLOPs per decode step, ns. */
#ifndef GR_RESULTS_H
#define GR_RESULTS_H

#include <stdio.h>

#include "../model/status.h"

#define RESULT_OPS_MAX 16
#define RESULT_PASSES_MAX 16

/* One operator's share of a step (the record's "operators" array). */
typedef struct {
    char name[24];
    double time_ns;      /* measured, scaled to the median step */
    double time_frac;    /* share of the step's time, 0..1 */
    double bytes, flops; /* per step, from the analytic model */
    double predicted_ns; /* the operator's own roof: max(bytes / read bw, flops / peak) */
    double predicted_calibrated_ns; /* the calibrated prediction (with its share of the overhead); 0: none */
} result_op;

/* One decode measurement (one JSONL line). */
typedef struct {
    int line;                   /* 1-based line of the file it came from */
    char model[64], dtype[16], kv_dtype[16], kernel[32];
    int batch, context, threads, steps, reps;
    int interrupted;            /* fewer repetitions than asked: not a valid point */
    int compute_bound;          /* the prediction's bound: 1 compute, 0 memory */
    int llc_resident;           /* weights + KV fit in the measured LLC */
    double tok_s, tok_s_min, tok_s_max;   /* median, slowest and fastest repetition */
    double predicted_tok_s, efficiency, mbu, mfu;
    double achieved_gbs, achieved_gflops;
    double intensity, ridge;    /* FLOP/byte of the step; the machine's ridge */
    double step_ns_median, cv;
    double steal_fraction;     /* CPU time the hypervisor took during the repetitions, 0..1; -1 unknown */
    double bytes_per_step, flops_per_step;
    double weights_bytes;       /* bytes_per_step_split.weights: the part that does not grow with B */
    double read_gbs, peak_gflops; /* the ceilings the record was measured against (record.machine) */
    int has_calibrated;         /* the record carries the calibrated prediction (gpt2-bench calibrate) */
    double calibrated_tok_s;    /* predicted_calibrated_tok_s */
    double prediction_error;    /* measured / calibrated - 1 */
    double calib_probe_read_gbs; /* calibration.probe_read_gbs: the bandwidth while calibrating; 0 unknown */
    double calib_probe_peak_gflops; /* calibration.probe_peak_gflops: the FMA rate while calibrating; 0 unknown */
    int has_probe;              /* the record carries the probe of its minute (probe.read_gbs) */
    double probe_read_gbs;      /* read bandwidth probed around the point */
    double efficiency_probe;    /* tok/s / the roofline at the probed bandwidth (and FMA rate) */
    double probe_peak_gflops;   /* FMA rate probed around the point (probe.peak_gflops); 0: not probed */
    int pass;                   /* the record's "pass" (scripts/sweep.sh --passes), 1 when absent */
    int n_pass;                 /* passes pooled into this point (1: one record) */
    int pass_list[RESULT_PASSES_MAX]; /* which */
    double pass_spread;         /* its fastest pass's median tok/s / its slowest's - 1 (0: one pass) */
    int n_ops;                  /* 0 when the record has no per-operator split */
    result_op ops[RESULT_OPS_MAX];
} result_point;

typedef struct {
    result_point *p;
    int n;
    int bad_lines;    /* lines that are not a decode record (e.g. a torn last line) */
    int interrupted;  /* interrupted records left out */
    int replaced;     /* records replaced by a later one of the same point and pass */
    int pooled;       /* records pooled into another pass of the same point */
} result_set;

/* The machine file's figures (lenient: only read_gbs and peak_gflops are
 * required; absent strings read "unknown", absent numbers 0). */
typedef struct {
    char cpu[128], isa[16], host[256], date[32], git_revision[64];
    int threads, spec_cores, quick, sgemm_size;
    double read_gbs, copy_gbs, triad_gbs;
    double read_median_gbs; /* the read test's median pass; 0 when the file predates it */
    double peak_gflops, spec_gflops, sgemm_gflops, clock_ghz, flops_per_cycle_per_core;
    double llc_bytes_measured, llc_bytes_hwloc;
} result_machine;

/* A point the sweep could not measure (skipped.tsv: B S T dtype reason,
 * tab-separated, '#' lines are comments). */
typedef struct {
    int batch, context, threads;
    char dtype[16];
    char reason[512];
} result_skip;

/* Parses one JSONL line into *p. Returns 0, or -1 with the reason in why
 * (e.g. "not valid JSON", "no numeric field \"tok_s\""). */
int results_parse_point(const char *line, result_point *p, char *why, size_t why_len);

/* Reads a decode JSONL file. Lines that are not valid records are skipped,
 * each with one line on `warn` (when not NULL) naming the file and line;
 * interrupted records are left out (also said on warn); a later record of
 * the same (B, S, T, dtype) replaces an earlier one. A missing file is an
 * empty set when missing_ok, else ST_BAD_INPUT. */
int results_read_decode(const char *path, int missing_ok, result_set *rs, FILE *warn, status_t *st);
void results_set_free(result_set *rs);

/* Records of one point from different passes (scripts/sweep.sh --passes)
 * become one point: its step time the median of the passes' median steps,
 * tok/s, efficiency, MBU, MFU, achieved rates, operator times and the
 * calibrated error recomputed from it, tok/s min and max over all passes,
 * cv and steal_fraction the largest, reps summed, the probe averaged;
 * pass_list says which passes, pass_spread how far they disagree. results_read_decode does this before
 * returning. */
void results_pool_passes(result_set *rs);

/* Orders points by threads, dtype, context, batch. */
void results_sort(result_set *rs);

/* Same (B, S, T, dtype). */
int results_same_point(const result_point *a, const result_point *b);

int results_read_machine(const char *path, result_machine *m, status_t *st);

/* Reads skipped.tsv; a missing file gives 0 entries. Malformed lines are
 * skipped with a line on warn. *s is malloc'd (free it). */
int results_read_skipped(const char *path, result_skip **s, int *n, FILE *warn, status_t *st);

/* ---- the analytic model again, from one record ---------------------------
 * A step's bytes are W + B b1 (weights once, KV and activations per
 * sequence) and its FLOPs B f1, so one record at (B, S) gives the roofline
 * at every batch for that S and machine. */

/* Predicted tokens/s at batch b for the record's context and machine. */
double results_predicted_tok_s(const result_point *p, double b);

/* The batch at which the step's FLOP time equals its memory time (the
 * prediction turns compute-bound above it); < 0 when it never does (the
 * per-sequence bytes grow as fast as the FLOPs, e.g. at long context). */
double results_crossover_batch(const result_point *p);

/* Where the measured throughput of one series (points of one T, dtype and
 * S, sorted by B) stops scaling with batch for good: the first pair of
 * neighbours from which on every pair's tokens/s grow by less than the
 * square root of its batch ratio (half the log-gain of a memory-bound
 * step, whose tokens/s grow with B). A dip followed by scaling again is
 * noise, not a turn. Returns the index i of the lower point of that pair,
 * or -1 if the last pair still scales (or n < 2). *gain (may be NULL): the
 * tok/s ratio of pair i, or of the last pair when there is no turn. */
int results_measured_knee(const result_point *const *series, int n, double *gain);

/* The operator holding the most time beyond its own roof
 * (time_ns - predicted_ns); -1 when the record has no operators. */
int results_worst_operator(const result_point *p);

/* The operator whose calibrated prediction misses its measured time by the
 * most nanoseconds (|time_ns - predicted_calibrated_ns|: its part of the
 * step's error); -1 when the record has no calibrated operators. */
int results_worst_calibrated_operator(const result_point *p);

/* Writes text to path atomically (outfile.h: temporary file in the same
 * folder, fsync'd, renamed over path; a device is written in place). */
int results_write_atomic(const char *path, const char *text, size_t len, status_t *st);

#endif
