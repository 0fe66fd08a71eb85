/* calib: the calibrated performance model (docs/method.md, "Calibrated
 * prediction"). `gpt2-bench calibrate` times each operator's own kernel on
 * this machine, alone, at the shapes the model uses:
 *   - the packed decode GEMM (linear_lw) at the model's five decode shapes
 *     (qkv, attn_proj, fc, fc_proj, lm_head) for M = 1, 2, 4, ..., 256 rows,
 *     weights cold (cycled through copies spanning several LLCs) unless the
 *     model's weights fit in the LLC (then warm, as the decode sees them);
 *   - decode attention of one layer over a KV cache at a few (B, S) points,
 *     from cache-resident to DRAM sizes: a fixed cost per layer plus the
 *     bandwidth that access pattern gets as a function of the KV bytes;
 *   - the elementwise operators per call at a few row counts: LayerNorm,
 *     GELU, residual add, embedding, K/V append (cold lines: write-allocate)
 *     and the greedy argmax over the logits;
 *   - a fixed per-step overhead: a 1-layer tiny model's decode step minus
 *     the sum of its operators.
 * calib_predict turns those tables into each operator's time at any
 * (model shape, B, S, dtype); their sum plus the overhead is the calibrated
 * step time.
 *
 * Units: _ns per call (GEMM, attention: one layer; elementwise: one call
 * over `rows` rows), _bytes, _gbs (1e9 bytes/s). */
#ifndef GR_CALIB_H
#define GR_CALIB_H

#include <cjson/cJSON.h>
#include <stdio.h>

#include "../kernels/gemm_lowp.h"
#include "../model/config.h"
#include "../model/forward.h"
#include "../model/status.h"

#define CALIB_SCHEMA_VERSION 1
#define CALIB_GEMM_MAX 8
#define CALIB_M_MAX 16
#define CALIB_ATTN_MAX 16
#define CALIB_ROWS_MAX 8
#define CALIB_ROUNDS 3 /* every table measured this many times, a few seconds apart; the median kept */
#define CALIB_ROUNDS_MAX 16

/* One decode GEMM shape: y: (M, n) = x: (M, k) @ W, W packed in the
 * calibration's dtype; ns[i]: time of one call at m[i] rows (median
 * of the samples, calibrate.c). */
typedef struct {
    char name[16];  /* qkv, attn_proj, fc, fc_proj, lm_head */
    int k, n;
    int lm_head;    /* packed from (n, k): the tied LM head */
    int nm;
    int m[CALIB_M_MAX]; /* ascending */
    double ns[CALIB_M_MAX];
} calib_gemm;

/* One layer of decode attention: B sequences x h heads, each attending to
 * S + 1 cached positions (the S cached plus the one just appended). */
typedef struct {
    int batch, context;
    double kv_bytes; /* K and V bytes the layer reads: B 2 (S+1) d Qkv */
    double ns;       /* time of one layer */
    double gbs;      /* kv_bytes / (ns - attn_fixed_ns): the bandwidth this access pattern gets */
} calib_attn;

typedef struct {
    int schema_version;
    int threads, quick;
    char host[256], cpu[128], date[32], git_revision[64];
    char kernel[16];           /* gemm path: avx2 or portable */
    char model[64];            /* the shapes measured: its name */
    int n_layer, n_head, n_embd, vocab, n_ctx;
    char dtype[8], kv_dtype[8];
    double q_bytes, qkv_bytes; /* bytes per weight, per cached element */
    int weights_resident;      /* 1: the model's weights fit in the LLC: measured warm */
    double llc_bytes;          /* the last-level cache assumed (hwloc) */
    double cold_bytes;         /* copies cycled through to keep weights / KV cold */
    int n_gemm;
    calib_gemm gemm[CALIB_GEMM_MAX];
    double attn_fixed_ns;      /* one layer at B = 1, S = 0: region start, scheduling */
    int n_attn;
    calib_attn attn[CALIB_ATTN_MAX]; /* ascending kv_bytes */
    int n_rows;
    int rows[CALIB_ROWS_MAX];  /* ascending */
    /* ns per call at rows[i] rows, at the calibrated model's d (and V) */
    double layernorm_ns[CALIB_ROWS_MAX]; /* rows x d */
    double gelu_ns[CALIB_ROWS_MAX];      /* rows x 4d */
    double add_ns[CALIB_ROWS_MAX];       /* rows x d residual add */
    double embed_ns[CALIB_ROWS_MAX];     /* rows token + position rows */
    double kv_append_ns[CALIB_ROWS_MAX]; /* one layer's K and V rows of `rows` sequences, cold lines */
    double argmax_ns[CALIB_ROWS_MAX];    /* rows x V logits */
    double step_overhead_ns;   /* per step, beyond the operators */
    double measure_s;
    double busy_cpus_before;   /* CPUs other work kept busy just before measuring (-1 unknown) */
    double probe_read_gbs;     /* the read bandwidth while calibrating: mean of the probes (probe.h)
                                * before and after each round; 0 = not measured (older files) */
    double probe_peak_gflops;  /* the FMA rate while calibrating (machine_peak_probe_gflops), the same
                                * way; 0 = not measured (older files) */
    int rounds;                /* rounds whose median each figure is (CALIB_ROUNDS; 1 for --quick; 0: older files) */
    char path[1024];           /* not saved: the file it was read from or written to */
} calibration;

/* The calibrated prediction of one decode step. */
typedef struct {
    double op_ns[OP_COUNT]; /* each operator's own time per step (all layers) */
    double overhead_ns;     /* step_overhead_ns (the argmax is op_ns[OP_ARGMAX]) */
    double step_ns;         /* sum of the above */
    double tok_s;           /* B / step */
    int shapes_interpolated; /* a GEMM shape was not in the calibration: by weight bytes */
    int dtype_scaled;        /* the dtype or KV dtype differs from the calibration's: by bytes */
} calib_prediction;

/* Predicts one decode step of model shape c at batch B and context S, with
 * Q bytes per weight and Qkv per cached element:
 *   GEMMs: log-log interpolation of time in M within each shape's table
 *     (beyond the largest M: linear in M); a shape not in the table: at
 *     that M, log-log in the weight bytes K N Q between the two calibrated
 *     shapes of the same kind (layer or LM head) around it, or in
 *     proportion to the weight bytes of the nearest beyond them;
 *   attention per layer: attn_fixed_ns + x / bw(x), x = B 2 (S+1) d Qkv,
 *     bw log-linear in log x between the measured points (constant beyond);
 *   elementwise: linear in rows between the measured row counts (and
 *     beyond), scaled by d / d_cal (argmax by V / V_cal);
 * plus step_overhead_ns. Returns 0, or -1 when the calibration is unusable
 * (no tables). */
int calib_predict(const calibration *cal, const gpt2_config *c, int B, int S, double Q, double Qkv,
                  calib_prediction *p);

/* The operator's time with its proportional share of the step overhead,
 * so that the operators add up to the predicted step as the measured
 * per-operator times add up to the measured step. */
double calib_op_share_ns(const calib_prediction *p, int op);

/* ---- files ---------------------------------------------------------------- */

cJSON *calib_to_json(const calibration *cal);
/* Every field checked (present, right type, in range); ST_BAD_INPUT naming
 * the field otherwise. */
int calib_from_json(calibration *cal, const cJSON *j, status_t *st);
/* Reads and validates a calibration file. */
int calib_load(calibration *cal, const char *path, status_t *st);
/* Writes it atomically (JSON, pretty). */
int calib_save(const calibration *cal, const char *path, status_t *st);

/* DIR/calib-<host>-t<T>-<dtype>-<kvdtype>.json (-quick.json for --quick). */
const char *calib_default_path(char *buf, size_t len, const char *results_dir, const char *host, int threads,
                               const char *dtype, const char *kv_dtype, int quick);

/* Refuses (ST_BAD_INPUT, one line) a calibration measured on another host,
 * and, when threads > 0 / dtype / kv_dtype are given, with another thread
 * count or dtype, unless force. `who` starts the message. */
int calib_check_use(const calibration *cal, const char *who, int threads, const char *dtype, const char *kv_dtype,
                    int force, status_t *st);

/* ---- measuring -------------------------------------------------------------- */

/* Measures everything above for model shape c in dtype wdt / KV dtype kvdt
 * with the current OpenMP threads (threads_init first). quick: a few rows,
 * small sets (well under 2 s; figures not meaningful). */
int calib_measure(calibration *cal, const gpt2_config *c, wdtype wdt, wdtype kvdt, int quick, FILE *progress,
                  status_t *st);

/* Combines n rounds of the same tables (r[0..n-1], as calib_measure makes
 * them) into r[0]: every time the median over the rounds, the attention
 * bandwidths recomputed from them, probe_read_gbs the mean of the rounds'
 * probes, rounds = n. -1 (r untouched) when n is out of 1..CALIB_ROUNDS_MAX
 * or the rounds' tables differ in shape. */
int calib_median_of_rounds(calibration *r, int n);

/* How far the n rounds (same tables, before calib_median_of_rounds) disagree:
 * the largest max/min over the rounds of one GEMM or attention time, 1 when
 * they agree or n < 2; what: that figure ("fc M=1"), may be NULL. A rounds'
 * spread well above 1 means something else used the CPU or memory while
 * calibrating (calib_measure warns above CALIB_SPREAD_WARN). */
#define CALIB_SPREAD_WARN 1.5
double calib_rounds_spread(const calibration *r, int n, char *what, size_t what_len);

/* The results file for this host, threads and dtypes when present and valid
 * for model shape c (same host, threads, shape; a quick file serves only a
 * quick request) unless remeasure; else measures and writes it atomically
 * (creating results_dir). */
int calib_obtain(calibration *cal, const gpt2_config *c, wdtype wdt, wdtype kvdt, int threads, int quick,
                 int remeasure, const char *results_dir, FILE *progress, status_t *st);

/* The calibration a decode run uses, into *cal with *have = 1, or *have = 0:
 * file given: that file (checked with calib_check_use unless force);
 * calibrate: calib_obtain (reused unless remeasure);
 * else the host's default file in results_dir when present, usable and of
 * this git revision (never measured implicitly; one line on progress when
 * one is passed over). */
int calib_for_decode(calibration *cal, int *have, const gpt2_config *c, wdtype wdt, wdtype kvdt, int threads,
                     const char *file, const char *results_dir, int calibrate, int remeasure, int force,
                     FILE *progress, status_t *st);

#endif
