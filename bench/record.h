/* record: one decode measurement as the JSONL object, the CSV row and the
 * human table row of the command contract (docs/schema.md). */
#ifndef GR_RECORD_H
#define GR_RECORD_H

#include <cjson/cJSON.h>
#include <stdio.h>

#include "calib.h"
#include "decode_run.h"
#include "roofline.h"

#define RECORD_SCHEMA_VERSION 1

/* The ceilings a record is measured against, from `gpt2-bench machine`. */
typedef struct {
    double read_gbs, copy_gbs, triad_gbs;
    double peak_gflops, sgemm_gflops, spec_gflops;
    double llc_bytes;   /* measured last-level cache, bytes */
    double read_set_bytes; /* bytes the read test sums per pass (its 3 arrays); 0: unknown */
    char source[1100];  /* the machine file the figures come from */
} record_machine;

/* The read bandwidth and FMA rate of the point's minute (probe.h): probes
 * just before and just after it. */
typedef struct {
    double before_gbs, after_gbs; /* median of a few passes each; <= 0: failed */
    double bytes;                 /* probe buffer */
    double before_gflops, after_gflops; /* the FMA peak loop, median of a few passes; <= 0: not probed */
} record_probe;

typedef struct {
    const gpt2_model *model;
    const char *dtype, *kv_dtype; /* "f32" */
    double q_bytes, qkv_bytes;    /* bytes per weight / per cached element */
    int threads;
    const char *pinning;
    const char *kernel;           /* gemm path: "avx2", "portable" */
    const record_machine *machine;
    const decode_result *res;
    const cJSON *context;         /* what it ran on (context_json), copied into the record as "system"; may be NULL */
    const calibration *calib;     /* NULL: no calibrated prediction in the record */
    const record_probe *probe;    /* NULL: not probed */
    int pass;                     /* the sweep's pass (--pass), 0 or 1: the first */
} record_input;

/* Derived figures, computed once and shared by the three outputs. */
typedef struct {
    step_cost cost;
    roof_prediction pred;
    double step_s, tok_s, tok_s_min, tok_s_max;
    double achieved_gbs, achieved_gflops, mbu, mfu, efficiency;
    int llc_resident;
    double serial_step_s;         /* each operator at its own roof, one after another */
    double op_ns[OP_COUNT], op_frac[OP_COUNT], op_bytes[OP_COUNT], op_flops[OP_COUNT];
    /* the calibrated prediction (calib.h), when cal_ok */
    /* the probe of the minute, when probe_ok: the roofline again with its
     * bandwidth and FMA rate (the machine file's FMA peak where that was
     * not probed) */
    int probe_ok;
    double probe_gbs;             /* mean of before and after */
    double probe_gflops;          /* mean of before and after, or the machine file's peak */
    roof_prediction probe_pred;
    double efficiency_probe;      /* tok_s / probe_pred.tok_s */
    int cal_ok;
    calib_prediction cal;
    double cal_op_ns[OP_COUNT];   /* each operator with its share of the step overhead */
    double prediction_error;      /* tok_s / cal.tok_s - 1 */
} record_figures;

void record_compute(const record_input *in, record_figures *f);
cJSON *record_json(const record_input *in, const record_figures *f);

void record_table_header(FILE *out);
void record_table_row(FILE *out, const record_input *in, const record_figures *f);
void record_table_operators(FILE *out, const record_input *in, const record_figures *f);

const char *record_csv_header(void);
void record_csv_row(FILE *out, const record_input *in, const record_figures *f);

/* Appends `line` plus '\n' to path with one write on an O_APPEND
 * descriptor, so a reader never sees half a record. */
int record_append_line(const char *path, const char *line, status_t *st);

#endif
