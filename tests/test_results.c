/* test_results: the reader of a sweep folder (bench/results.c) and
 * `gpt2-bench report` (bench/cmd_report.c) on crafted folders: torn lines,
 * interrupted and repeated records, the fields the summary uses, the
 * summary's table rows, the CSV, the plot data and the script modes. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../bench/commands.h"
#include "../bench/record.h"
#include "../bench/results.h"
#include "test_support.h"

static char *g_dir;

static int group_setup(void **state) {
    (void)state;
    g_dir = ts_mkdtemp();
    return g_dir ? 0 : -1;
}

static int group_teardown(void **state) {
    (void)state;
    ts_rmtree(g_dir);
    free(g_dir);
    return 0;
}

/* ---- crafted records ---------------------------------------------------------------- */

/* The machine the crafted records are measured against. */
#define M_READ 10.0   /* GB/s */
#define M_PEAK 100.0  /* GFLOP/s */
#define W_BYTES 1e9   /* weights per step */
#define SEQ_BYTES(S) (1e6 + 1e3 * (S)) /* per sequence: activations + KV */
#define SEQ_FLOPS 2e8

/* One decode record as gpt2-bench decode writes it (the fields the reader
 * uses, plus a few it ignores), at batch B and context S, measured at
 * `eff` of the roof. malloc'd, one line. */
static char *make_record(int B, int S, double eff, int interrupted, const char *extra_field) {
    double bytes = W_BYTES + B * SEQ_BYTES(S), flops = B * SEQ_FLOPS;
    double tm = bytes / (M_READ * 1e9), tc = flops / (M_PEAK * 1e9), t = tm > tc ? tm : tc;
    double pred = B / t, tok = eff * pred, step = B / tok;
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "schema_version", 1);
    cJSON_AddStringToObject(o, "kind", "decode");
    cJSON_AddStringToObject(o, "model", "gpt2");
    cJSON_AddStringToObject(o, "dtype", "f32");
    cJSON_AddStringToObject(o, "kv_dtype", "f32");
    cJSON_AddNumberToObject(o, "threads", 2);
    cJSON_AddStringToObject(o, "kernel", "avx2");
    cJSON_AddNumberToObject(o, "batch", B);
    cJSON_AddNumberToObject(o, "context", S);
    cJSON_AddNumberToObject(o, "steps", 16);
    cJSON_AddNumberToObject(o, "reps", interrupted ? 2 : 5);
    cJSON_AddBoolToObject(o, "interrupted", interrupted);
    cJSON_AddNumberToObject(o, "step_ns_median", step * 1e9);
    cJSON_AddNumberToObject(o, "cv", 0.01);
    cJSON_AddNumberToObject(o, "tok_s", tok);
    cJSON_AddNumberToObject(o, "tok_s_min", tok * 0.9);
    cJSON_AddNumberToObject(o, "tok_s_max", tok * 1.05);
    cJSON_AddNumberToObject(o, "bytes_per_step", bytes);
    cJSON *bs = cJSON_AddObjectToObject(o, "bytes_per_step_split");
    cJSON_AddNumberToObject(bs, "weights", W_BYTES);
    cJSON_AddNumberToObject(bs, "kv_read", B * 1e3 * S);
    cJSON_AddNumberToObject(o, "flops_per_step", flops);
    cJSON_AddNumberToObject(o, "achieved_gbs", bytes / step / 1e9);
    cJSON_AddNumberToObject(o, "achieved_gflops", flops / step / 1e9);
    cJSON_AddNumberToObject(o, "mbu", bytes / step / 1e9 / M_READ);
    cJSON_AddNumberToObject(o, "mfu", flops / step / 1e9 / M_PEAK);
    cJSON_AddNumberToObject(o, "intensity", flops / bytes);
    cJSON_AddNumberToObject(o, "ridge", M_PEAK / M_READ);
    cJSON_AddNumberToObject(o, "predicted_tok_s", pred);
    cJSON_AddStringToObject(o, "bound", tc > tm ? "compute" : "memory");
    cJSON_AddNumberToObject(o, "efficiency", eff);
    cJSON_AddBoolToObject(o, "llc_resident", 0);
    cJSON *ops = cJSON_AddArrayToObject(o, "operators");
    /* attention holds most of the time beyond its roof */
    const char *names[3] = {"qkv", "attention", "lm_head"};
    const double frac[3] = {0.3, 0.6, 0.1}, roof_frac[3] = {0.28, 0.05, 0.09};
    for (int i = 0; i < 3; i++) {
        cJSON *e = cJSON_CreateObject();
        cJSON_AddStringToObject(e, "name", names[i]);
        cJSON_AddNumberToObject(e, "time_frac", frac[i]);
        cJSON_AddNumberToObject(e, "time_ns", frac[i] * step * 1e9);
        cJSON_AddNumberToObject(e, "bytes", 1e6);
        cJSON_AddNumberToObject(e, "flops", 1e6);
        cJSON_AddNumberToObject(e, "predicted_ns", roof_frac[i] * step * 1e9);
        cJSON_AddItemToArray(ops, e);
    }
    cJSON *m = cJSON_AddObjectToObject(o, "machine");
    cJSON_AddNumberToObject(m, "read_gbs", M_READ);
    cJSON_AddNumberToObject(m, "peak_gflops", M_PEAK);
    if (extra_field) cJSON_AddStringToObject(o, extra_field, "a field this reader does not know");
    char *s = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    return s;
}

static const char *MACHINE_JSON =
    "{\"schema_version\":1,\"threads\":2,\"quick\":false,\"cpu\":\"Test CPU | 9000\",\"isa\":\"avx2\","
    "\"host\":\"testhost\",\"date\":\"2025-01-01T00:00:00Z\",\"git_revision\":\"abc1234\",\"read_gbs\":10,"
    "\"copy_gbs\":9,\"triad_gbs\":9.5,\"peak_gflops\":100,\"spec_gflops\":128,\"spec_cores\":2,"
    "\"clock_ghz\":2,\"flops_per_cycle_per_core\":32,\"sgemm_gflops\":90,\"sgemm_size\":2048,"
    "\"llc_bytes_measured\":16777216,\"llc_bytes_hwloc\":33554432,\"read_median_gbs\":8.5}";

/* Appends text to a file. */
static void append(const char *path, const char *text) {
    FILE *f = fopen(path, "ab");
    assert_non_null(f);
    assert_int_equal(fputs(text, f) >= 0, 1);
    assert_int_equal(fclose(f), 0);
}

static void append_record(const char *path, int B, int S, double eff, int interrupted) {
    char *r = make_record(B, S, eff, interrupted, NULL);
    assert_non_null(r);
    append(path, r);
    append(path, "\n");
    free(r);
}

/* A fresh folder DIR/name with machine.json and a 2 x 2 grid (B 1, 8; S
 * 128, 896), plus a torn last line when torn. Returns the folder (malloc'd). */
static char *make_sweep_dir(const char *name, int torn) {
    char *dir = ts_path(g_dir, name);
    assert_non_null(dir);
    assert_int_equal(mkdir(dir, 0755), 0);
    char *mp = ts_path(dir, "machine.json"), *dp = ts_path(dir, "decode.jsonl");
    assert_int_equal(ts_write_file(mp, MACHINE_JSON, strlen(MACHINE_JSON)), 0);
    append_record(dp, 1, 128, 0.8, 0);
    append_record(dp, 8, 128, 0.7, 0);
    append_record(dp, 1, 896, 0.6, 0);
    append_record(dp, 8, 896, 0.3, 0);
    if (torn) append(dp, "{\"schema_version\":1,\"kind\":\"decode\",\"model\":\"gp");
    free(mp);
    free(dp);
    return dir;
}

/* ---- running gpt2-bench in-process --------------------------------------------------------- */

#include "test_run.h"

static void expect_ok(run_result r) {
    if (r.rc) fail_msg("exit %d: %s", r.rc, r.st.msg);
}

static void expect_refused(run_result r, int code, const char *needle) {
    if (r.rc != code) fail_msg("exit %d, expected %d (message: %s)", r.rc, code, r.st.msg);
    if (needle && !strstr(r.st.msg, needle)) fail_msg("message \"%s\" does not mention \"%s\"", r.st.msg, needle);
    assert_null(strchr(r.st.msg, '\n'));
    free(r.out);
}

static char *read_in(const char *dir, const char *name) {
    char *p = ts_path(dir, name);
    char *t = ts_read_file(p, NULL);
    if (!t) fail_msg("%s was not written", p);
    free(p);
    return t;
}

static void expect_contains(const char *text, const char *needle) {
    if (!strstr(text, needle)) fail_msg("\"%s\" not found in:\n%s", needle, text);
}

static int count_lines(const char *t) {
    int n = 0;
    for (; *t; t++) n += *t == '\n';
    return n;
}

/* ---- the reader ----------------------------------------------------------------------------- */

static void test_parse_every_field(void **state) {
    (void)state;
    char *line = make_record(8, 896, 0.5, 0, "a_new_field");
    result_point p;
    char why[200] = "";
    if (results_parse_point(line, &p, why, sizeof why)) fail_msg("refused: %s", why);
    free(line);
    assert_int_equal(p.batch, 8);
    assert_int_equal(p.context, 896);
    assert_int_equal(p.threads, 2);
    assert_string_equal(p.dtype, "f32");
    assert_string_equal(p.kv_dtype, "f32");
    assert_string_equal(p.model, "gpt2");
    assert_string_equal(p.kernel, "avx2");
    assert_int_equal(p.steps, 16);
    assert_int_equal(p.reps, 5);
    assert_int_equal(p.interrupted, 0);
    double bytes = W_BYTES + 8 * SEQ_BYTES(896), flops = 8 * SEQ_FLOPS, pred = 8 / (bytes / 1e10);
    assert_float_equal(p.predicted_tok_s, pred, pred * 1e-12);
    assert_float_equal(p.tok_s, 0.5 * pred, pred * 1e-12);
    assert_float_equal(p.tok_s_min, 0.45 * pred, pred * 1e-12);
    assert_float_equal(p.tok_s_max, 0.525 * pred, pred * 1e-12);
    assert_float_equal(p.efficiency, 0.5, 1e-15);
    assert_float_equal(p.mbu, 0.5, 1e-12);
    assert_float_equal(p.mfu, flops * 0.5 / (bytes / 1e10) / 1e9 / M_PEAK, 1e-12);
    assert_float_equal(p.achieved_gbs, 5.0, 1e-9);
    assert_true(p.achieved_gflops > 0);
    assert_float_equal(p.intensity, flops / bytes, 1e-12);
    assert_float_equal(p.ridge, 10.0, 1e-12);
    assert_int_equal(p.compute_bound, 0);
    assert_float_equal(p.bytes_per_step, bytes, 1);
    assert_float_equal(p.flops_per_step, flops, 1);
    assert_float_equal(p.weights_bytes, W_BYTES, 1);
    assert_float_equal(p.read_gbs, M_READ, 1e-12);
    assert_float_equal(p.peak_gflops, M_PEAK, 1e-12);
    assert_float_equal(p.cv, 0.01, 1e-15);
    assert_float_equal(p.step_ns_median, 8 / p.tok_s * 1e9, 1e-3);
    assert_int_equal(p.n_ops, 3);
    assert_string_equal(p.ops[1].name, "attention");
    assert_float_equal(p.ops[1].time_frac, 0.6, 1e-15);
    assert_float_equal(p.ops[1].time_ns, 0.6 * p.step_ns_median, 1e-3);
    assert_float_equal(p.ops[1].predicted_ns, 0.05 * p.step_ns_median, 1e-3);
}

static void test_parse_refusals(void **state) {
    (void)state;
    result_point p;
    char why[200];
    assert_int_equal(results_parse_point("{\"batch\":1,", &p, why, sizeof why), -1);
    assert_non_null(strstr(why, "JSON"));
    assert_int_equal(results_parse_point("[1,2]", &p, why, sizeof why), -1);
    assert_int_equal(results_parse_point("{\"kind\":\"prefill\",\"batch\":1}", &p, why, sizeof why), -1);
    assert_non_null(strstr(why, "decode"));
    /* each required field, removed in turn, is named */
    const char *required[] = {"batch", "context", "threads", "dtype", "tok_s", "predicted_tok_s", "efficiency",
                              "mbu", "mfu", "achieved_gbs", "intensity", "bound", "bytes_per_step_split", "machine"};
    for (size_t i = 0; i < sizeof required / sizeof *required; i++) {
        char *line = make_record(2, 128, 0.5, 0, NULL);
        cJSON *o = cJSON_Parse(line);
        free(line);
        cJSON_DeleteItemFromObjectCaseSensitive(o, required[i]);
        line = cJSON_PrintUnformatted(o);
        cJSON_Delete(o);
        if (!results_parse_point(line, &p, why, sizeof why)) fail_msg("accepted a record without %s", required[i]);
        if (!strstr(why, required[i])) fail_msg("why \"%s\" does not name %s", why, required[i]);
        free(line);
    }
    /* a negative batch and a non-positive rate are refused */
    char *line = make_record(2, 128, 0.5, 0, NULL);
    cJSON *o = cJSON_Parse(line);
    free(line);
    cJSON_ReplaceItemInObjectCaseSensitive(o, "batch", cJSON_CreateNumber(-3));
    line = cJSON_PrintUnformatted(o);
    assert_int_equal(results_parse_point(line, &p, why, sizeof why), -1);
    free(line);
    cJSON_ReplaceItemInObjectCaseSensitive(o, "batch", cJSON_CreateNumber(2));
    cJSON_ReplaceItemInObjectCaseSensitive(o, "tok_s", cJSON_CreateNumber(0));
    line = cJSON_PrintUnformatted(o);
    assert_int_equal(results_parse_point(line, &p, why, sizeof why), -1);
    free(line);
    cJSON_Delete(o);
}

static void test_read_torn_last_line(void **state) {
    (void)state;
    char *path = ts_path(g_dir, "torn.jsonl");
    append_record(path, 1, 128, 0.8, 0);
    append_record(path, 2, 128, 0.7, 0);
    char *whole = make_record(4, 128, 0.6, 0, NULL);
    whole[strlen(whole) / 2] = 0; /* the write of the third record cut in half */
    append(path, whole);
    free(whole);
    char *warn = NULL;
    size_t wl = 0;
    FILE *w = open_memstream(&warn, &wl);
    result_set rs;
    status_t st = {0};
    assert_int_equal(results_read_decode(path, 0, &rs, w, &st), ST_OK);
    fclose(w);
    assert_int_equal(rs.n, 2);
    assert_int_equal(rs.bad_lines, 1);
    assert_int_equal(rs.p[0].batch, 1);
    assert_int_equal(rs.p[1].batch, 2);
    assert_int_equal(rs.p[1].line, 2);
    expect_contains(warn, "line 3");
    expect_contains(warn, "cut short");
    assert_int_equal(count_lines(warn), 1);
    results_set_free(&rs);
    free(warn);
    free(path);
}

static void test_read_skips_bad_interrupted_and_repeats(void **state) {
    (void)state;
    char *path = ts_path(g_dir, "mixed.jsonl");
    append_record(path, 1, 128, 0.8, 0);
    append(path, "not json at all\n\n");            /* a bad line and a blank one */
    append_record(path, 2, 128, 0.7, 1);             /* interrupted */
    append_record(path, 1, 128, 0.5, 0);             /* B=1 again: replaces the first */
    append_record(path, 2, 896, 0.4, 0);
    result_set rs;
    status_t st = {0};
    char *warn = NULL;
    size_t wl = 0;
    FILE *w = open_memstream(&warn, &wl);
    assert_int_equal(results_read_decode(path, 0, &rs, w, &st), ST_OK);
    fclose(w);
    assert_int_equal(rs.n, 2);
    assert_int_equal(rs.bad_lines, 1);
    assert_int_equal(rs.interrupted, 1);
    assert_int_equal(rs.replaced, 1);
    assert_int_equal(rs.p[0].batch, 1);
    assert_float_equal(rs.p[0].efficiency, 0.5, 1e-15); /* the later record */
    expect_contains(warn, "line 2");
    expect_contains(warn, "interrupted");
    expect_contains(warn, "measured again");
    results_set_free(&rs);
    free(warn);

    /* a missing file: empty when allowed, else refused */
    char *missing = ts_path(g_dir, "no-such.jsonl");
    assert_int_equal(results_read_decode(missing, 1, &rs, NULL, &st), ST_OK);
    assert_int_equal(rs.n, 0);
    assert_int_equal(results_read_decode(missing, 0, &rs, NULL, &st), ST_BAD_INPUT);
    free(missing);
    free(path);
}

/* A record of pass K: make_record's line with "pass": K first. */
static void append_pass_record(const char *path, int B, int S, double eff, int pass) {
    char *r = make_record(B, S, eff, 0, NULL);
    assert_non_null(r);
    char head[32];
    snprintf(head, sizeof head, "{\"pass\":%d,", pass);
    append(path, head);
    append(path, r + 1);
    append(path, "\n");
    free(r);
}

/* Passes of one point pool into one point: the median of the passes'
 * median steps (hand-computed: the efficiencies 0.5, 0.7, 0.8 -> 0.7), the
 * rest recomputed from it; the same pass again replaces; --point-passes
 * lists each pass. */
static void test_read_pools_passes(void **state) {
    (void)state;
    char *dir = ts_path(g_dir, "passes");
    assert_int_equal(mkdir(dir, 0777), 0);
    char *path = ts_path(dir, "decode.jsonl");
    append_pass_record(path, 8, 128, 0.5, 1);
    append_pass_record(path, 8, 128, 0.6, 2);
    append_pass_record(path, 1, 128, 0.9, 1);
    append_pass_record(path, 8, 128, 0.8, 3);
    append_pass_record(path, 8, 128, 0.7, 2); /* pass 2 again: replaces 0.6 */
    result_set rs;
    status_t st = {0};
    assert_int_equal(results_read_decode(path, 0, &rs, NULL, &st), ST_OK);
    assert_int_equal(rs.n, 2);
    assert_int_equal(rs.replaced, 1);
    assert_int_equal(rs.pooled, 2);
    const result_point *p = rs.p[0].batch == 8 ? &rs.p[0] : &rs.p[1], *q = rs.p[0].batch == 8 ? &rs.p[1] : &rs.p[0];
    assert_float_equal(p->efficiency, 0.7, 1e-12);
    assert_float_equal(p->tok_s, 0.7 * p->predicted_tok_s, 1e-9 * p->tok_s);
    assert_float_equal(p->step_ns_median, 8 / p->tok_s * 1e9, 1e-6);
    assert_float_equal(p->mbu, p->achieved_gbs / M_READ, 1e-12);
    assert_float_equal(p->achieved_gbs, p->bytes_per_step / (p->step_ns_median * 1e-9) / 1e9, 1e-9);
    assert_true(p->tok_s_min <= p->tok_s && p->tok_s <= p->tok_s_max);
    assert_int_equal(p->reps, 15);
    assert_int_equal(p->n_pass, 3);
    assert_int_equal(p->pass_list[0], 1);
    assert_int_equal(p->pass_list[1], 2);
    assert_int_equal(p->pass_list[2], 3);
    assert_float_equal(p->pass_spread, 0.8 / 0.5 - 1, 1e-12); /* fastest / slowest pass */
    assert_int_equal(q->n_pass, 1);
    assert_float_equal(q->efficiency, 0.9, 1e-12);
    assert_float_equal(q->pass_spread, 0, 1e-15);
    results_set_free(&rs);
    run_result r = RUN("report", "--dir", dir, "--point-passes");
    expect_ok(r);
    expect_contains(r.out, "8 128 2 f32 1\n");
    expect_contains(r.out, "8 128 2 f32 2\n");
    expect_contains(r.out, "8 128 2 f32 3\n");
    expect_contains(r.out, "1 128 2 f32 1\n");
    free(r.out);
    r = RUN("report", "--dir", dir, "--points");
    expect_ok(r);
    assert_string_equal(r.out, "1 128 2 f32\n8 128 2 f32\n");
    free(r.out);
    /* the summary says how far the passes disagree: B = 8 alone, 0.8 / 0.5 */
    char *mp = ts_path(dir, "machine.json");
    assert_int_equal(ts_write_file(mp, MACHINE_JSON, strlen(MACHINE_JSON)), 0);
    r = RUN("report", "--dir", dir);
    expect_ok(r);
    free(r.out);
    char *md = read_in(dir, "summary.md");
    expect_contains(md, "- **Repeatability.** The 1 point measured in more than one pass differs between its fastest "
                        "and slowest pass by 60.0% at the median and by up to 60.0% (B=8, S=128); 1 by more than 10%.");
    free(md);
    free(mp);
    free(path);
    free(dir);
}

/* Appends to path one made-up record at (B, S = 128, efficiency 0.5) whose
 * first fields are `head` ("\"pass\":1,..." with its trailing comma). */
static void append_record_after(const char *path, int B, const char *head) {
    char *r = make_record(B, 128, 0.5, 0, NULL);
    assert_non_null(r);
    append(path, "{");
    append(path, head);
    append(path, r + 1);
    append(path, "\n");
    free(r);
}

/* steal_fraction: read (null or absent: unknown, -1), pooled as the largest
 * of the passes', and a point above 2% says so in the summary's table. */
static void test_steal_fraction(void **state) {
    (void)state;
    char *dir = ts_path(g_dir, "steal");
    assert_int_equal(mkdir(dir, 0777), 0);
    char *mp = ts_path(dir, "machine.json"), *path = ts_path(dir, "decode.jsonl");
    assert_int_equal(ts_write_file(mp, MACHINE_JSON, strlen(MACHINE_JSON)), 0);
    const int Bs[4] = {8, 8, 1, 2}, passes[4] = {1, 2, 1, 1};
    const char *steal[4] = {"0.03", "0.1", "null", NULL};
    for (int i = 0; i < 4; i++) {
        char head[64];
        if (steal[i])
            snprintf(head, sizeof head, "\"pass\":%d,\"steal_fraction\":%s,", passes[i], steal[i]);
        else
            snprintf(head, sizeof head, "\"pass\":%d,", passes[i]);
        append_record_after(path, Bs[i], head);
    }
    result_set rs;
    status_t st = {0};
    assert_int_equal(results_read_decode(path, 0, &rs, NULL, &st), ST_OK);
    assert_int_equal(rs.n, 3);
    for (int i = 0; i < rs.n; i++)
        assert_float_equal(rs.p[i].steal_fraction, rs.p[i].batch == 8 ? 0.1 : -1, 1e-12);
    results_set_free(&rs);
    run_result r = RUN("report", "--dir", dir);
    expect_ok(r);
    free(r.out);
    char *md = read_in(dir, "summary.md");
    expect_contains(md, "| 10% of the CPU time stolen |");
    const char *first = strstr(md, "CPU time stolen");
    assert_null(strstr(first + 1, "CPU time stolen")); /* the B = 1 and 2 points say nothing */
    free(md);
    free(mp);
    free(path);
    free(dir);
}

/* probe.peak_gflops counts as probed only beside peak_gflops_before (else it
 * is the machine file's figure); passes pool to the mean; the summary gives
 * the range of the probed points, and the calibration's own FMA probe
 * beside the calibrated ones' (B = 8 only). */
static void test_probe_peak(void **state) {
    (void)state;
    char *dir = ts_path(g_dir, "probe_peak");
    assert_int_equal(mkdir(dir, 0777), 0);
    char *mp = ts_path(dir, "machine.json"), *path = ts_path(dir, "decode.jsonl");
    assert_int_equal(ts_write_file(mp, MACHINE_JSON, strlen(MACHINE_JSON)), 0);
    const int Bs[4] = {8, 8, 1, 2}, passes[4] = {1, 2, 1, 1};
#define CAL_FIELDS "\"predicted_calibrated_tok_s\":100,\"calibration\":{\"probe_read_gbs\":24,\"probe_peak_gflops\":160},"
    const char *probe[4] = {
        CAL_FIELDS "\"probe\":{\"read_gbs\":20,\"peak_gflops_before\":90,\"peak_gflops_after\":110,\"peak_gflops\":100},",
        CAL_FIELDS "\"probe\":{\"read_gbs\":20,\"peak_gflops_before\":150,\"peak_gflops_after\":150,\"peak_gflops\":150},",
        "\"probe\":{\"read_gbs\":20,\"peak_gflops\":203},",
        "\"probe\":{\"read_gbs\":20,\"peak_gflops_before\":175,\"peak_gflops_after\":175,\"peak_gflops\":175},"};
    for (int i = 0; i < 4; i++) {
        char head[512];
        snprintf(head, sizeof head, "\"pass\":%d,%s\"efficiency_probe\":0.8,", passes[i], probe[i]);
        append_record_after(path, Bs[i], head);
    }
    result_set rs;
    status_t st = {0};
    assert_int_equal(results_read_decode(path, 0, &rs, NULL, &st), ST_OK);
    assert_int_equal(rs.n, 3);
    for (int i = 0; i < rs.n; i++)
        assert_float_equal(rs.p[i].probe_peak_gflops, rs.p[i].batch == 8 ? 125 : rs.p[i].batch == 2 ? 175 : 0, 1e-9);
    results_set_free(&rs);
    run_result r = RUN("report", "--dir", dir);
    expect_ok(r);
    free(r.out);
    char *md = read_in(dir, "summary.md");
    expect_contains(md, "The FMA rate probed alongside (the machine file's peak loop) ranged 125-175 GFLOP/s (median 150)");
    expect_contains(md, "Its probed FMA rate was 160 GFLOP/s, the points' 125-125:");
    free(md);
    free(mp);
    free(path);
    free(dir);
}

static void test_read_machine_and_skipped(void **state) {
    (void)state;
    char *path = ts_path(g_dir, "m.json");
    assert_int_equal(ts_write_file(path, MACHINE_JSON, strlen(MACHINE_JSON)), 0);
    result_machine m;
    status_t st = {0};
    assert_int_equal(results_read_machine(path, &m, &st), ST_OK);
    assert_string_equal(m.cpu, "Test CPU | 9000");
    assert_int_equal(m.threads, 2);
    assert_float_equal(m.read_gbs, 10, 0);
    assert_float_equal(m.copy_gbs, 9, 0);
    assert_float_equal(m.triad_gbs, 9.5, 0);
    assert_float_equal(m.peak_gflops, 100, 0);
    assert_float_equal(m.spec_gflops, 128, 0);
    assert_float_equal(m.sgemm_gflops, 90, 0);
    assert_int_equal(m.sgemm_size, 2048);
    const char *bad = "{\"threads\":2,\"read_gbs\":10}";
    assert_int_equal(ts_write_file(path, bad, strlen(bad)), 0);
    assert_int_equal(results_read_machine(path, &m, &st), ST_BAD_INPUT);
    expect_contains(st.msg, "peak_gflops");
    assert_int_equal(ts_write_file(path, "{\"threads\":", 11), 0);
    assert_int_equal(results_read_machine(path, &m, &st), ST_BAD_INPUT);
    free(path);

    char *sp = ts_path(g_dir, "skipped.tsv");
    const char *tsv = "# batch\tcontext\tthreads\tdtype\treason\n"
                      "64\t896\t2\tf32\tthis decode point needs 9.00 GiB but only 2.00 GiB of memory is available\n"
                      "garbage line\n";
    assert_int_equal(ts_write_file(sp, tsv, strlen(tsv)), 0);
    result_skip *sk;
    int n;
    assert_int_equal(results_read_skipped(sp, &sk, &n, NULL, &st), ST_OK);
    assert_int_equal(n, 1);
    assert_int_equal(sk[0].batch, 64);
    assert_int_equal(sk[0].context, 896);
    assert_string_equal(sk[0].dtype, "f32");
    expect_contains(sk[0].reason, "of memory is available");
    free(sk);
    free(sp);
}

static void test_model_from_a_record(void **state) {
    (void)state;
    char *line = make_record(1, 0, 1.0, 0, NULL);
    result_point p;
    char why[200];
    assert_int_equal(results_parse_point(line, &p, why, sizeof why), 0);
    free(line);
    /* t_mem = (1e9 + b 1e6) / 1e10, t_comp = b 2e8 / 1e11: equal at b = 0.1 / 1.9e-3 */
    assert_float_equal(results_crossover_batch(&p), 0.1 / 1.9e-3, 1e-9);
    assert_float_equal(results_predicted_tok_s(&p, 1), 1 / 0.1001, 1e-9);
    assert_float_equal(results_predicted_tok_s(&p, 1000), 1000 / 2.0, 1e-9);
    /* per-sequence bytes that outgrow the FLOPs: never compute-bound */
    line = make_record(4, 400000, 1.0, 0, NULL);
    assert_int_equal(results_parse_point(line, &p, why, sizeof why), 0);
    free(line);
    assert_true(results_crossover_batch(&p) < 0);

    /* the measured knee: 10, 20, 40, 45 tok/s at B 1, 2, 4, 8 turns between 4 and 8 */
    result_point pts[4];
    const result_point *ser[4];
    const double tok[4] = {10, 20, 40, 45};
    for (int i = 0; i < 4; i++) {
        memset(&pts[i], 0, sizeof pts[i]);
        pts[i].batch = 1 << i;
        pts[i].tok_s = tok[i];
        ser[i] = &pts[i];
    }
    double gain = 0;
    assert_int_equal(results_measured_knee(ser, 4, &gain), 2);
    assert_float_equal(gain, 45.0 / 40, 1e-12);
    pts[3].tok_s = 80;
    assert_int_equal(results_measured_knee(ser, 4, &gain), -1);
    assert_float_equal(gain, 2.0, 1e-12); /* the last pair's */
    /* a dip that scales again afterwards is noise: the turn is where it stops for good */
    const double tok2[4] = {10, 10.2, 20, 21};
    for (int i = 0; i < 4; i++) pts[i].tok_s = tok2[i];
    assert_int_equal(results_measured_knee(ser, 4, &gain), 2);
    assert_float_equal(gain, 21.0 / 20, 1e-12);
    assert_int_equal(results_measured_knee(ser, 1, NULL), -1);

    line = make_record(8, 128, 0.5, 0, NULL);
    assert_int_equal(results_parse_point(line, &p, why, sizeof why), 0);
    free(line);
    assert_int_equal(results_worst_operator(&p), 1);
    p.n_ops = 0;
    assert_int_equal(results_worst_operator(&p), -1);
}

/* ---- report ------------------------------------------------------------------------------------ */

static void test_report_writes_summary(void **state) {
    (void)state;
    char *dir = make_sweep_dir("run-a", 1);
    char *sp = ts_path(dir, "skipped.tsv");
    const char *tsv = "64\t896\t2\tf32\tthis decode point needs 9.00 GiB but only 2.00 GiB of memory is available\n";
    assert_int_equal(ts_write_file(sp, tsv, strlen(tsv)), 0);
    free(sp);
    run_result r = RUN("report", "--dir", dir);
    expect_ok(r);
    expect_contains(r.out, "4 points");
    free(r.out);

    char *md = read_in(dir, "summary.md");
    /* the machine */
    expect_contains(md, "Test CPU / 9000"); /* '|' kept out of the table */
    expect_contains(md, "read 10.0, copy 9.0, triad 9.5 GB/s");
    expect_contains(md, "| Read bandwidth, median pass | 8.5 GB/s");
    expect_contains(md, "100.0 GFLOP/s");
    expect_contains(md, "128.0 GFLOP/s");
    expect_contains(md, "90.0 GFLOP/s");
    expect_contains(md, "10.00 FLOP/byte");
    /* every point's row: B, S, tok/s, min-max, predicted, bound, efficiency, MBU, MFU */
    const int bs[4] = {1, 8, 1, 8}, ss[4] = {128, 128, 896, 896};
    const double effs[4] = {0.8, 0.7, 0.6, 0.3};
    for (int i = 0; i < 4; i++) {
        char *line = make_record(bs[i], ss[i], effs[i], 0, NULL);
        result_point p;
        char why[200], row[256];
        assert_int_equal(results_parse_point(line, &p, why, sizeof why), 0);
        free(line);
        snprintf(row, sizeof row, "| %d | %d | %.1f | %.1f-%.1f | %.1f | %s | %.2f | %.2f | %.2f |", p.batch, p.context,
                 p.tok_s, p.tok_s_min, p.tok_s_max, p.predicted_tok_s, p.compute_bound ? "compute" : "memory",
                 p.efficiency, p.mbu, p.mfu);
        expect_contains(md, row);
    }
    /* the three findings, from the data */
    expect_contains(md, "Where decode turns compute-bound");
    expect_contains(md, "compute-bound from B=53"); /* ceil(0.1 / 1.9e-3 ...) at S=128 */
    expect_contains(md, "Largest gap to the roof");
    expect_contains(md, "B=8, S=896");
    expect_contains(md, "attention");
    /* the operators' own roofs sum to 0.42 of every step (0.28 + 0.05 + 0.09);
     * at B=8, S=896 the whole-step roof is 0.3 of it: 1.40x */
    expect_contains(md, "The operators against their own roofs");
    expect_contains(md, "efficiency lies between 0.42 (B=");
    expect_contains(md, "largest at B=8, S=896, where the operators at their own roofs take 1.40x");
    expect_contains(md, "is overlap the whole-step roof assumes");
    assert_null(strstr(md, "Bandwidth during the sweep")); /* no record carries a probe */
    expect_contains(md, "Throughput against batch");
    expect_contains(md, "shortest context (S=128)");
    expect_contains(md, "longest context (S=896)");
    /* plots, skipped points, the torn line */
    expect_contains(md, "](plot/throughput.png)");
    expect_contains(md, "](plot/roofline.png)");
    expect_contains(md, "](plot/efficiency.png)");
    expect_contains(md, "## Skipped points");
    expect_contains(md, "| 64 | 896 | 2 | f32 |");
    expect_contains(md, "## Records left out");
    expect_contains(md, "line 5");
    free(md);

    char *csv = read_in(dir, "decode.csv");
    assert_int_equal(count_lines(csv), 5);
    assert_int_equal(strncmp(csv, record_csv_header(), strlen(record_csv_header())), 0); /* decode --csv's columns */
    expect_contains(csv, "gpt2,f32,f32,2,8,896,16,5,");
    free(csv);

    char *meta = read_in(dir, "plot/meta.gp");
    expect_contains(meta, "n_series = 2");
    expect_contains(meta, "series_title_1 = \"S=128\"");
    expect_contains(meta, "cpu = \"Test CPU | 9000\"");
    free(meta);
    char *pts = read_in(dir, "plot/points.dat");
    expect_contains(pts, "\n\n\n1 "); /* the second block (S=896) after two blank lines */
    free(pts);
    char *ops = read_in(dir, "plot/operators.dat");
    expect_contains(ops, "point step_ms efficiency qkv attention lm_head");
    assert_int_equal(count_lines(ops), 6);
    free(ops);
    char *eff = read_in(dir, "plot/efficiency.dat");
    expect_contains(eff, "1 1 0.3000 \"0.30\"");
    free(eff);
    for (const char *const *f = (const char *const[]){"plot/predicted.dat", "plot/roofline.dat", NULL}; *f; f++)
        free(read_in(dir, *f));
    /* no temporaries left beside the outputs */
    for (int k = 0; k < 2; k++) {
        char *sub = k ? ts_path(dir, "plot") : strdup(dir);
        DIR *dh = opendir(sub);
        assert_non_null(dh);
        for (struct dirent *e; (e = readdir(dh));)
            if (strstr(e->d_name, ".tmp")) fail_msg("a temporary file was left: %s/%s", sub, e->d_name);
        closedir(dh);
        free(sub);
    }
    free(dir);
}

static void test_report_script_modes(void **state) {
    (void)state;
    char *dir = make_sweep_dir("run-b", 1);
    run_result r = RUN("report", "--dir", dir, "--points");
    expect_ok(r);
    assert_string_equal(r.out, "1 128 2 f32\n8 128 2 f32\n1 896 2 f32\n8 896 2 f32\n");
    free(r.out);
    r = RUN("report", "--dir", dir, "--machine-threads");
    expect_ok(r);
    assert_string_equal(r.out, "2\n");
    free(r.out);
    char *dp = ts_path(dir, "decode.jsonl");
    r = RUN("report", "--describe", dp);
    expect_ok(r);
    assert_int_equal(count_lines(r.out), 4);
    expect_contains(r.out, "efficiency 0.30");
    expect_contains(r.out, "tok/s");
    free(r.out);
    free(dp);

    /* --points on a folder without records yet: nothing, no error (a fresh sweep) */
    char *fresh = ts_path(g_dir, "fresh");
    assert_int_equal(mkdir(fresh, 0755), 0);
    r = RUN("report", "--dir", fresh, "--points");
    expect_ok(r);
    assert_string_equal(r.out, "");
    free(r.out);

    /* compare: the same grid at half the speed */
    char *slow = ts_path(g_dir, "run-slow");
    assert_int_equal(mkdir(slow, 0755), 0);
    char *mp = ts_path(slow, "machine.json"), *sd = ts_path(slow, "decode.jsonl");
    assert_int_equal(ts_write_file(mp, MACHINE_JSON, strlen(MACHINE_JSON)), 0);
    append_record(sd, 1, 128, 0.4, 0);
    append_record(sd, 8, 128, 0.35, 0);
    append_record(sd, 1, 896, 0.3, 0);
    r = RUN("report", "--dir", dir, "--compare", slow, "--plot-dir", fresh);
    expect_ok(r);
    expect_contains(r.out, "3 common points");
    expect_contains(r.out, "0.500");
    free(r.out);
    char *cd = read_in(fresh, "compare.dat");
    free(cd);
    char *cm = read_in(fresh, "compare-meta.gp");
    expect_contains(cm, "n_blocks = 4");
    free(cm);
    free(mp);
    free(sd);

    /* refusals: one line, exit 2 */
    expect_refused(RUN("report"), ST_BAD_INPUT, "--dir");
    expect_refused(RUN("report", "--dir", "/nonexistent/sweep"), ST_BAD_INPUT, "not a folder");
    expect_refused(RUN("report", "--dir", fresh), ST_BAD_INPUT, "machine.json");
    expect_refused(RUN("report", "--dir", dir, "--points", "--machine-threads"), ST_BAD_INPUT, "one of");
    expect_refused(RUN("report", "--dir", dir, "--plot-dir", fresh), ST_BAD_INPUT, "--compare");
    expect_refused(RUN("report", "--dri", dir), ST_BAD_INPUT, "--dir");
    char *empty = ts_path(g_dir, "empty");
    assert_int_equal(mkdir(empty, 0755), 0);
    char *ep = ts_path(empty, "machine.json"), *ed = ts_path(empty, "decode.jsonl");
    assert_int_equal(ts_write_file(ep, MACHINE_JSON, strlen(MACHINE_JSON)), 0);
    append(ed, "{\"torn\n");
    expect_refused(RUN("report", "--dir", empty), ST_BAD_INPUT, "no valid decode record");
    expect_refused(RUN("report", "--describe", ed), ST_RUNTIME, "no valid decode record");
    free(ep);
    free(ed);
    free(empty);
    free(slow);
    free(fresh);
    free(dir);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_every_field),
        cmocka_unit_test(test_parse_refusals),
        cmocka_unit_test(test_read_torn_last_line),
        cmocka_unit_test(test_read_skips_bad_interrupted_and_repeats),
        cmocka_unit_test(test_read_pools_passes),
        cmocka_unit_test(test_steal_fraction),
        cmocka_unit_test(test_probe_peak),
        cmocka_unit_test(test_read_machine_and_skipped),
        cmocka_unit_test(test_model_from_a_record),
        cmocka_unit_test(test_report_writes_summary),
        cmocka_unit_test(test_report_script_modes),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
