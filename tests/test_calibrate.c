/* test_calibrate: the calibrated performance model (bench/calib.h).
 *   - on a made-up calibration the model gives hand-computed times
 *     (interpolation in M, in weight bytes, in KV bytes, in rows; the
 *     overhead; the per-operator shares);
 *   - predict --calibrated and the decode record agree on the same inputs;
 *   - a calibration from another host (or thread count) is refused with a
 *     clear message unless --force;
 *   - calibrate --quick runs and writes a valid file; decode finds the host's
 *     default calibration and never measures one implicitly.
 * No timing is asserted. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../bench/calib.h"
#include "../bench/commands.h"
#include "../bench/context.h"
#include "../kernels/kernels.h"
#include "test_support.h"

static char *g_dir;
static char g_host[256];
static char *g_cal;       /* made-up calibration of the fixture's shapes, this host */
static char *g_cal_other; /* the same, from another host */
static char *g_machine;   /* made-up machine file */

/* The fixture's shapes: L = 2, h = 4, d = 64, V = 101, n_ctx = 32. GEMM
 * tables: ns = a at M = 1 and 4a at M = 4 (so a x M in between, log-log);
 * attention: 500 ns fixed, 1 GB/s at 1024 KV bytes, 10 GB/s at 102400;
 * rows 1 and 4. */
static char *made_up_calibration(const char *host, int threads) {
    static const char *fmt =
        "{\"schema_version\":1,\"kind\":\"calibration\",\"threads\":%d,\"quick\":false,\"host\":\"%s\","
        "\"cpu\":\"made up\",\"date\":\"2025-01-01T00:00:00Z\",\"git_revision\":\"test\",\"kernel\":\"avx2\","
        "\"model\":\"gpt2-tiny\",\"n_layer\":2,\"n_head\":4,\"n_embd\":64,\"vocab\":101,\"n_ctx\":32,"
        "\"dtype\":\"f32\",\"kv_dtype\":\"f32\",\"q_bytes\":4,\"qkv_bytes\":4,\"weights_resident\":true,"
        "\"llc_bytes\":33554432,\"cold_bytes\":67108864,\"gemm\":["
        "{\"name\":\"qkv\",\"k\":64,\"n\":192,\"lm_head\":false,\"m\":[1,4],\"ns\":[1000,4000]},"
        "{\"name\":\"attn_proj\",\"k\":64,\"n\":64,\"lm_head\":false,\"m\":[1,4],\"ns\":[300,1200]},"
        "{\"name\":\"fc\",\"k\":64,\"n\":256,\"lm_head\":false,\"m\":[1,4],\"ns\":[1200,4800]},"
        "{\"name\":\"fc_proj\",\"k\":256,\"n\":64,\"lm_head\":false,\"m\":[1,4],\"ns\":[1100,4400]},"
        "{\"name\":\"lm_head\",\"k\":64,\"n\":101,\"lm_head\":true,\"m\":[1,4],\"ns\":[2000,8000]}],"
        "\"attention\":{\"fixed_ns\":500,\"points\":["
        "{\"batch\":1,\"context\":1,\"kv_bytes\":1024,\"ns\":1524,\"gbs\":1},"
        "{\"batch\":2,\"context\":49,\"kv_bytes\":102400,\"ns\":10740,\"gbs\":10}]},"
        "\"elementwise\":{\"rows\":[1,4],\"layernorm_ns\":[100,250],\"gelu_ns\":[200,500],\"add_ns\":[10,40],"
        "\"embed_ns\":[30,60],\"kv_append_ns\":[50,110],\"argmax_ns\":[400,1000]},"
        "\"step_overhead_ns\":1000,\"measure_s\":1}";
    char name[64];
    snprintf(name, sizeof name, "cal-%s-t%d.json", host, threads);
    char *path = ts_path(g_dir, name);
    char text[4096];
    snprintf(text, sizeof text, fmt, threads, host);
    assert_int_equal(ts_write_file(path, text, strlen(text)), 0);
    return path;
}

static int group_setup(void **state) {
    (void)state;
    threads_init(2);
    g_dir = ts_mkdtemp();
    if (!g_dir) return -1;
    context_hostname(g_host, sizeof g_host);
    g_cal = made_up_calibration(g_host, 2);
    g_cal_other = made_up_calibration("some-other-host", 2);
    g_machine = ts_path(g_dir, "machine.json");
    const char *m = "{\"read_gbs\": 20.0, \"copy_gbs\": 15.0, \"triad_gbs\": 16.0, \"peak_gflops\": 100.0,"
                    " \"sgemm_gflops\": 80.0, \"spec_gflops\": 120.0, \"llc_bytes_measured\": 33554432,"
                    " \"stream_array_bytes\": 1048576}";
    return ts_write_file(g_machine, m, strlen(m));
}

static int group_teardown(void **state) {
    (void)state;
    ts_rmtree(g_dir);
    free(g_dir);
    free(g_cal);
    free(g_cal_other);
    free(g_machine);
    return 0;
}

#include "test_run.h"

static void expect_refused(run_result r, int code, const char *n1, const char *n2) {
    if (r.rc != code) fail_msg("exit %d, expected %d (message: %s)", r.rc, code, r.st.msg);
    if (n1 && !strstr(r.st.msg, n1)) fail_msg("message \"%s\" does not mention \"%s\"", r.st.msg, n1);
    if (n2 && !strstr(r.st.msg, n2)) fail_msg("message \"%s\" does not mention \"%s\"", r.st.msg, n2);
    assert_null(strchr(r.st.msg, '\n'));
    free(r.out);
}

static cJSON *json_of(run_result r) {
    if (r.rc) fail_msg("exit %d: %s", r.rc, r.st.msg);
    cJSON *j = cJSON_Parse(r.out);
    if (!j) fail_msg("not JSON: %s", r.out);
    free(r.out);
    return j;
}

static double num(const cJSON *o, const char *key) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    if (!cJSON_IsNumber(v)) fail_msg("\"%s\" is not a number", key);
    return v->valuedouble;
}

static gpt2_config fixture_config(void) {
    gpt2_config c;
    status_t st = {0};
    assert_int_equal(config_from_json_file(TS_FIXTURE_CONFIG, &c, &st), 0);
    return c;
}

static void assert_near(double got, double want, const char *what) {
    if (!(fabs(got - want) <= 1e-9 * fabs(want) + 1e-9)) fail_msg("%s: %.12g, expected %.12g", what, got, want);
}

/* ---- the model on a made-up calibration ------------------------------------------- */

static void test_hand_computed_step(void **state) {
    (void)state;
    calibration cal;
    status_t st = {0};
    if (calib_load(&cal, g_cal, &st)) fail_msg("%s", st.msg);
    gpt2_config c = fixture_config();
    calib_prediction p;
    /* B = 2, S = 9: KV bytes of a layer x = 2 x 2 x 10 x 64 x 4 = 10240, halfway
     * (in log) between 1024 and 102400, so 5.5 GB/s */
    assert_int_equal(calib_predict(&cal, &c, 2, 9, 4, 4, &p), 0);
    assert_near(p.op_ns[OP_QKV], 2 * 2000.0, "qkv");            /* L x (1000 at M=1, 4000 at M=4: 2000 at M=2) */
    assert_near(p.op_ns[OP_ATTN_PROJ], 2 * 600.0, "attn_proj");
    assert_near(p.op_ns[OP_FC], 2 * 2400.0, "fc");
    assert_near(p.op_ns[OP_FC_PROJ], 2 * 2200.0, "fc_proj");
    assert_near(p.op_ns[OP_LM_HEAD], 4000.0, "lm_head");          /* once per step */
    const double attn = 2 * (500 + 10240 / 5.5);
    assert_near(p.op_ns[OP_ATTENTION], attn, "attention");
    assert_near(p.op_ns[OP_GELU], 2 * 300.0, "gelu");             /* 200 + (500-200)/3 x (2-1) */
    assert_near(p.op_ns[OP_LAYERNORM], 5 * 150.0, "layernorm");   /* 2L + 1 of them */
    assert_near(p.op_ns[OP_OTHER], 40 + 2 * (70 + 2 * 20.0), "other"); /* embed + L (append + 2 adds) */
    assert_near(p.op_ns[OP_ARGMAX], 600.0, "argmax");             /* 400 + (1000-400)/3 x (2-1) rows */
    assert_near(p.overhead_ns, 1000.0, "overhead");               /* the fixed per-step part alone */
    const double ops = 4000 + 1200 + 4800 + 4400 + 4000 + attn + 600 + 750 + 260 + 600;
    assert_near(p.step_ns, ops + 1000, "step");
    assert_near(p.tok_s, 2 / ((ops + 1000) * 1e-9), "tok/s");
    assert_false(p.shapes_interpolated);
    assert_false(p.dtype_scaled);
    /* the operators with their share of the overhead add up to the step */
    double sum = 0;
    for (int op = 0; op < OP_COUNT; op++) sum += calib_op_share_ns(&p, op);
    assert_near(sum, p.step_ns, "sum of shares");
    assert_near(calib_op_share_ns(&p, OP_QKV), 4000 * (ops + 1000) / ops, "qkv share");
}

static void test_hand_computed_extrapolation(void **state) {
    (void)state;
    calibration cal;
    status_t st = {0};
    if (calib_load(&cal, g_cal, &st)) fail_msg("%s", st.msg);
    gpt2_config c = fixture_config();
    calib_prediction p;
    /* B = 8 beyond both tables: GEMM in proportion to M past M = 4, rows along
     * the last segment; S = 0 with B = 8: x = 8 x 2 x 1 x 256 = 4096 */
    assert_int_equal(calib_predict(&cal, &c, 8, 0, 4, 4, &p), 0);
    assert_near(p.op_ns[OP_QKV], 2 * 4000 * 8 / 4.0, "qkv at M=8");
    assert_near(p.op_ns[OP_LAYERNORM], 5 * (250 + 50 * 4.0), "layernorm at 8 rows");
    const double gbs = 1 + 9 * log(4096 / 1024.0) / log(100.0);
    assert_near(p.op_ns[OP_ATTENTION], 2 * (500 + 4096 / gbs), "attention at 4096 bytes");
    /* S = 31: 32768 KV bytes, between the two points (log-linear) */
    assert_int_equal(calib_predict(&cal, &c, 2, 31, 4, 4, &p), 0);
    assert_near(p.op_ns[OP_ATTENTION], 2 * (500 + 32768 / (1 + 9 * log(32.0) / log(100.0))), "attention, S=31");
}

static void test_hand_computed_other_shapes(void **state) {
    (void)state;
    calibration cal;
    status_t st = {0};
    if (calib_load(&cal, g_cal, &st)) fail_msg("%s", st.msg);
    gpt2_config c = fixture_config();
    calib_prediction p;
    /* bf16 weights: qkv is 64 x 192 x 2 = 24576 bytes, between attn_proj
     * (16384 bytes, 300 ns at M=1) and qkv (49152, 1000 ns): log-log */
    assert_int_equal(calib_predict(&cal, &c, 1, 0, 2, 4, &p), 0);
    double f = log(24576 / 16384.0) / log(49152 / 16384.0);
    assert_near(p.op_ns[OP_QKV], 2 * exp(log(300.0) + f * (log(1000.0) - log(300.0))), "bf16 qkv");
    /* attn_proj in bf16 (8192 bytes) is below every layer shape: in proportion */
    assert_near(p.op_ns[OP_ATTN_PROJ], 2 * 300 * 8192 / 16384.0, "bf16 attn_proj");
    assert_true(p.dtype_scaled);
    /* a wider model (d = 128, 2 layers): its qkv (128 x 384 x 4 = 196608 bytes)
     * is beyond the largest layer shapes (fc and fc_proj, 65536 bytes each:
     * their geometric mean), in proportion; the LM head by its own table;
     * elementwise per row scaled by d */
    gpt2_config w = c;
    w.n_embd = 128;
    w.n_head = 8;
    assert_int_equal(calib_predict(&cal, &w, 1, 0, 4, 4, &p), 0);
    assert_near(p.op_ns[OP_QKV], 2 * sqrt(1200.0 * 1100.0) * 196608 / 65536.0, "wider qkv");
    assert_near(p.op_ns[OP_LM_HEAD], 2000.0 * 2, "wider lm_head");
    assert_near(p.op_ns[OP_GELU], 2 * 200.0 * 2, "wider gelu");
    assert_true(p.shapes_interpolated);
    assert_false(p.dtype_scaled);
}

/* Rounds combine into the median of each figure (hand-computed), the
 * attention bandwidths follow from the median times, the probes average
 * over the rounds that have one; rounds of other shapes are refused. */
static void test_median_of_rounds(void **state) {
    (void)state;
    calibration r[3];
    status_t st = {0};
    for (int k = 0; k < 3; k++) assert_int_equal(calib_load(&r[k], g_cal, &st), 0);
    const double qkv1[3] = {1000, 3000, 2000}, fixed[3] = {500, 700, 600}, att1[3] = {10740, 20000, 5000},
                 ln4[3] = {250, 100, 900}, over[3] = {1000, 1100, 900}, probe[3] = {10, 0, 20};
    for (int k = 0; k < 3; k++) {
        r[k].gemm[0].ns[0] = qkv1[k];
        r[k].attn_fixed_ns = fixed[k];
        r[k].attn[1].ns = att1[k];
        r[k].layernorm_ns[1] = ln4[k];
        r[k].step_overhead_ns = over[k];
        r[k].probe_read_gbs = probe[k];
        r[k].probe_peak_gflops = 10 * probe[k];
    }
    calibration keep = r[1];
    assert_int_equal(calib_median_of_rounds(r, 3), 0);
    assert_true(r[0].gemm[0].ns[0] == 2000);
    assert_true(r[0].gemm[0].ns[1] == 4000); /* the same in every round */
    assert_true(r[0].attn_fixed_ns == 600);
    assert_true(r[0].attn[1].ns == 10740);
    assert_true(fabs(r[0].attn[1].gbs - 102400.0 / (10740 - 600)) < 1e-12);
    assert_true(r[0].layernorm_ns[1] == 250);
    assert_true(r[0].step_overhead_ns == 1000);
    assert_true(r[0].probe_read_gbs == 15); /* (10 + 20) / 2: the round without a probe left out */
    assert_true(r[0].probe_peak_gflops == 150); /* its FMA rate the same way */
    assert_int_equal(r[0].rounds, 3);
    /* one round: itself */
    r[0] = keep;
    assert_int_equal(calib_median_of_rounds(r, 1), 0);
    assert_true(r[0].gemm[0].ns[0] == 3000 && r[0].rounds == 1);
    /* tables of another shape, or no rounds: refused, untouched */
    r[0] = keep;
    r[2].n_rows = 1;
    assert_int_equal(calib_median_of_rounds(r, 3), -1);
    assert_true(r[0].gemm[0].ns[0] == 3000);
    assert_int_equal(calib_median_of_rounds(r, 0), -1);
}

/* The rounds' disagreement: 1 when they agree or there is one round; else
 * the largest max/min of one figure, named. */
static void test_rounds_spread(void **state) {
    (void)state;
    calibration r[3];
    status_t st = {0};
    char what[64], want[64];
    for (int k = 0; k < 3; k++) assert_int_equal(calib_load(&r[k], g_cal, &st), 0);
    assert_true(calib_rounds_spread(r, 3, what, sizeof what) == 1.0);
    assert_string_equal(what, "");
    r[1].gemm[0].ns[1] = 3 * r[0].gemm[0].ns[1]; /* one slow round of one figure */
    r[2].gemm[0].ns[1] = 1.5 * r[0].gemm[0].ns[1];
    assert_true(fabs(calib_rounds_spread(r, 3, what, sizeof what) - 3.0) < 1e-12);
    snprintf(want, sizeof want, "%s M=%d", r[0].gemm[0].name, r[0].gemm[0].m[1]);
    assert_string_equal(what, want);
    r[2].attn[0].ns = 4 * r[0].attn[0].ns; /* attention further apart still */
    assert_true(fabs(calib_rounds_spread(r, 3, what, sizeof what) - 4.0) < 1e-12);
    assert_string_equal(what, "attention");
    assert_true(calib_rounds_spread(r, 1, NULL, 0) == 1.0); /* one round: nothing to compare */
    assert_true(calib_rounds_spread(r, 2, NULL, 0) > CALIB_SPREAD_WARN); /* rounds 0 and 1: x3 */
}

static void test_bad_calibration_files(void **state) {
    (void)state;
    calibration cal;
    status_t st = {0};
    char *bad = ts_path(g_dir, "bad.json");
    char *text = ts_read_file(g_cal, NULL);
    /* the M table out of order */
    char *m = strstr(text, "[1,4],\"ns\":[1000,4000]");
    assert_non_null(m);
    memcpy(m, "[4,1]", 5);
    assert_int_equal(ts_write_file(bad, text, strlen(text)), 0);
    assert_int_equal(calib_load(&cal, bad, &st), ST_BAD_INPUT);
    assert_non_null(strstr(st.msg, "\"m\""));
    assert_null(strchr(st.msg, '\n'));
    /* probe_read_gbs: optional (older files: 0), a number when present */
    free(text);
    text = ts_read_file(g_cal, NULL);
    assert_int_equal(calib_load(&cal, g_cal, &st), 0);
    assert_true(cal.probe_read_gbs == 0);
    char *with = malloc(strlen(text) + 64);
    sprintf(with, "{\"probe_read_gbs\": 12.5, %s", text + 1);
    assert_int_equal(ts_write_file(bad, with, strlen(with)), 0);
    assert_int_equal(calib_load(&cal, bad, &st), 0);
    assert_true(cal.probe_read_gbs == 12.5);
    sprintf(with, "{\"probe_read_gbs\": \"fast\", %s", text + 1);
    assert_int_equal(ts_write_file(bad, with, strlen(with)), 0);
    assert_int_equal(calib_load(&cal, bad, &st), ST_BAD_INPUT);
    assert_non_null(strstr(st.msg, "probe_read_gbs"));
    /* probe_peak_gflops likewise */
    assert_true(cal.probe_peak_gflops == 0);
    sprintf(with, "{\"probe_peak_gflops\": 150.5, %s", text + 1);
    assert_int_equal(ts_write_file(bad, with, strlen(with)), 0);
    assert_int_equal(calib_load(&cal, bad, &st), 0);
    assert_true(cal.probe_peak_gflops == 150.5);
    sprintf(with, "{\"probe_peak_gflops\": \"fast\", %s", text + 1);
    assert_int_equal(ts_write_file(bad, with, strlen(with)), 0);
    assert_int_equal(calib_load(&cal, bad, &st), ST_BAD_INPUT);
    assert_non_null(strstr(st.msg, "probe_peak_gflops"));
    free(with);
    assert_int_equal(ts_write_file(bad, "{\"kind\":\"decode\"}", 17), 0);
    assert_int_equal(calib_load(&cal, bad, &st), ST_BAD_INPUT);
    assert_non_null(strstr(st.msg, "not a calibration"));
    assert_int_equal(ts_write_file(bad, "not json", 8), 0);
    expect_refused(RUN("predict", "--calibrated", "--calibration", bad, "--model", "gpt2", "--batch", "1", "--context",
                       "8"),
                   ST_BAD_INPUT, "not JSON", NULL);
    free(text);
    free(bad);
}

/* ---- forecast and record agree ------------------------------------------------------ */

static const cJSON *op_entry(const cJSON *rec, const char *name) {
    const cJSON *e;
    cJSON_ArrayForEach(e, cJSON_GetObjectItemCaseSensitive(rec, "operators")) {
        if (strcmp(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(e, "name")), name) == 0) return e;
    }
    fail_msg("no operator %s", name);
    return NULL;
}

static void test_forecast_matches_record(void **state) {
    (void)state;
    cJSON *rec = json_of(RUN("decode", "--weights", TS_FIXTURE_DIR, "--batch", "2", "--context", "4", "--steps", "2",
                             "--reps", "1", "--warmup", "0", "--threads", "2", "--machine", g_machine, "--calibration",
                             g_cal, "--json", "-", "--quiet"));
    cJSON *fc = json_of(RUN("predict", "--calibrated", "--calibration", g_cal, "--config", TS_FIXTURE_CONFIG,
                            "--batch", "2", "--context", "4", "--json", "-"));
    double a = num(rec, "predicted_calibrated_tok_s"), b = num(fc, "predicted_calibrated_tok_s");
    if (a != b) fail_msg("record %.17g, forecast %.17g", a, b);
    assert_true(num(rec, "predicted_calibrated_step_s") == num(fc, "predicted_calibrated_step_s"));
    /* and both are the model's own figure */
    calibration cal;
    status_t st = {0};
    assert_int_equal(calib_load(&cal, g_cal, &st), 0);
    gpt2_config c = fixture_config();
    calib_prediction p;
    assert_int_equal(calib_predict(&cal, &c, 2, 4, 4, 4, &p), 0);
    assert_true(a == p.tok_s);
    /* error = measured / calibrated - 1; the simple bound is still there */
    assert_near(num(rec, "prediction_error"), num(rec, "tok_s") / a - 1, "prediction_error");
    assert_true(num(rec, "predicted_tok_s") > 0);
    /* per operator, beside the measured time */
    const cJSON *ops = cJSON_GetObjectItemCaseSensitive(fc, "operators_calibrated_ns");
    double sum = 0;
    for (int op = 0; op < OP_COUNT; op++) {
        const cJSON *e = op_entry(rec, GPT2_OP_NAMES[op]);
        assert_true(num(e, "time_ns") >= 0);
        double r = num(e, "predicted_calibrated_ns");
        assert_true(r == num(ops, GPT2_OP_NAMES[op]));
        sum += r;
    }
    assert_near(sum, p.step_ns, "operators add up to the step");
    cJSON_Delete(rec);
    cJSON_Delete(fc);
    /* the text table carries it too */
    run_result t = RUN("predict", "--calibrated", "--calibration", g_cal, "--model", "gpt2-medium", "--batch", "1,8",
                       "--context", "128", "--bandwidth", "20", "--flops", "100");
    if (t.rc) fail_msg("exit %d: %s", t.rc, t.st.msg);
    assert_non_null(strstr(t.out, "cal tok/s"));
    free(t.out);
}

/* ---- refusals ------------------------------------------------------------------------- */

static void test_other_host_refused(void **state) {
    (void)state;
    expect_refused(RUN("decode", "--weights", TS_FIXTURE_DIR, "--batch", "1", "--context", "4", "--steps", "2",
                       "--reps", "1", "--warmup", "0", "--threads", "2", "--machine", g_machine, "--calibration",
                       g_cal_other, "--json", "-", "--quiet"),
                   ST_BAD_INPUT, "some-other-host", "--force");
    expect_refused(RUN("predict", "--calibrated", "--calibration", g_cal_other, "--model", "gpt2", "--batch", "1",
                       "--context", "8", "--json", "-"),
                   ST_BAD_INPUT, "another machine", "--force");
    /* --force takes it */
    cJSON *rec = json_of(RUN("decode", "--weights", TS_FIXTURE_DIR, "--batch", "1", "--context", "4", "--steps", "2",
                             "--reps", "1", "--warmup", "0", "--threads", "2", "--machine", g_machine, "--calibration",
                             g_cal_other, "--force", "--json", "-", "--quiet"));
    assert_true(num(rec, "predicted_calibrated_tok_s") > 0);
    assert_string_equal(
        cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(rec, "calibration"), "host")),
        "some-other-host");
    cJSON_Delete(rec);
    cJSON *fc = json_of(RUN("predict", "--calibrated", "--calibration", g_cal_other, "--force", "--model", "gpt2",
                            "--batch", "1", "--context", "8", "--json", "-"));
    assert_true(num(fc, "predicted_calibrated_tok_s") > 0);
    cJSON_Delete(fc);
    /* another thread count, and another dtype, for decode */
    char *t1 = made_up_calibration(g_host, 1);
    expect_refused(RUN("decode", "--weights", TS_FIXTURE_DIR, "--batch", "1", "--context", "4", "--steps", "2",
                       "--reps", "1", "--warmup", "0", "--threads", "2", "--machine", g_machine, "--calibration", t1,
                       "--json", "-", "--quiet"),
                   ST_BAD_INPUT, "1 threads", "--force");
    free(t1);
    expect_refused(RUN("decode", "--weights", TS_FIXTURE_DIR, "--batch", "1", "--context", "4", "--dtype", "bf16",
                       "--threads", "2", "--machine", g_machine, "--calibration", g_cal, "--json", "-", "--quiet"),
                   ST_BAD_INPUT, "f32 weights", "--dtype bf16");
    /* flags that do not go together */
    expect_refused(RUN("decode", "--weights", TS_FIXTURE_DIR, "--batch", "1", "--context", "4", "--no-pack",
                       "--calibration", g_cal),
                   ST_BAD_INPUT, "--no-pack", NULL);
    expect_refused(RUN("predict", "--model", "gpt2", "--batch", "1", "--context", "8", "--calibration", g_cal),
                   ST_BAD_INPUT, "--calibrated", NULL);
    expect_refused(RUN("predict", "--calibrated", "--model", "gpt2", "--batch", "1", "--context", "8"), ST_BAD_INPUT,
                   "--calibration FILE", NULL);
    expect_refused(RUN("calibrate", "--model", "gpt2", "--dtype", "f64"), ST_BAD_INPUT, "--dtype f64", NULL);
    expect_refused(RUN("calibrate", "--model", "gpt2", "--kv-dtype", "int8"), ST_BAD_INPUT, "--kv-dtype", NULL);
    expect_refused(RUN("calibrate", "--model", "gpt2", "--config", TS_FIXTURE_CONFIG), ST_BAD_INPUT, "one of", NULL);
    expect_refused(RUN("calibrate", "--model", "gpt3"), ST_BAD_INPUT, "gpt3", NULL);
}

/* ---- calibrate --quick, and decode's default ----------------------------------------------- */

static void test_calibrate_quick(void **state) {
    (void)state;
    char *dir = ts_path(g_dir, "res");
    cJSON *j = json_of(RUN("calibrate", "--config", TS_FIXTURE_CONFIG, "--quick", "--threads", "2", "--results", dir,
                           "--json", "-"));
    calibration cal;
    status_t st = {0};
    if (calib_from_json(&cal, j, &st)) fail_msg("not a valid calibration: %s", st.msg);
    cJSON_Delete(j);
    assert_true(cal.quick);
    assert_int_equal(cal.threads, 2);
    assert_string_equal(cal.host, g_host);
    assert_int_equal(cal.n_gemm, 5);
    assert_int_equal(cal.n_embd, 64);
    assert_true(cal.n_attn >= 2);
    assert_true(cal.n_rows >= 2);
    assert_true(cal.probe_read_gbs > 0); /* the bandwidth of its minute */
    assert_true(cal.probe_peak_gflops > 0); /* and its FMA rate */
    assert_int_equal(cal.rounds, 1);     /* --quick: one round */
    char path[1400];
    calib_default_path(path, sizeof path, dir, g_host, 2, "f32", "f32", 1);
    assert_true(ts_file_exists(path));
    if (calib_load(&cal, path, &st)) fail_msg("%s", st.msg);
    gpt2_config c = fixture_config();
    calib_prediction p;
    assert_int_equal(calib_predict(&cal, &c, 2, 4, 4, 4, &p), 0);
    assert_true(p.step_ns > 0 && isfinite(p.step_ns));
    /* text output, reusing the file */
    run_result r = RUN("calibrate", "--config", TS_FIXTURE_CONFIG, "--quick", "--threads", "2", "--results", dir);
    if (r.rc) fail_msg("exit %d: %s", r.rc, r.st.msg);
    assert_non_null(strstr(r.out, "lm_head"));
    free(r.out);
    /* a file from another revision (other kernels, perhaps) is measured again */
    cJSON *old = json_of(RUN("calibrate", "--config", TS_FIXTURE_CONFIG, "--quick", "--threads", "2", "--results", dir,
                             "--json", "-"));
    cJSON_ReplaceItemInObjectCaseSensitive(old, "git_revision", cJSON_CreateString("0000000"));
    cJSON_ReplaceItemInObjectCaseSensitive(old, "date", cJSON_CreateString("2000-01-01T00:00:00Z"));
    char *txt = cJSON_Print(old);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(txt, f);
    fclose(f);
    free(txt);
    cJSON_Delete(old);
    cJSON *again = json_of(RUN("calibrate", "--config", TS_FIXTURE_CONFIG, "--quick", "--threads", "2", "--results",
                               dir, "--json", "-"));
    assert_string_not_equal(cJSON_GetObjectItemCaseSensitive(again, "git_revision")->valuestring, "0000000");
    assert_string_not_equal(cJSON_GetObjectItemCaseSensitive(again, "date")->valuestring, "2000-01-01T00:00:00Z");
    cJSON_Delete(again);

    /* decode in that folder: the quick file is not a default, nothing is measured */
    cJSON *rec = json_of(RUN("decode", "--weights", TS_FIXTURE_DIR, "--batch", "1", "--context", "4", "--steps", "2",
                             "--reps", "1", "--warmup", "0", "--threads", "2", "--machine", g_machine, "--results", dir,
                             "--json", "-", "--quiet"));
    assert_null(cJSON_GetObjectItemCaseSensitive(rec, "predicted_calibrated_tok_s"));
    assert_null(cJSON_GetObjectItemCaseSensitive(rec, "prediction_error"));
    assert_null(cJSON_GetObjectItemCaseSensitive(op_entry(rec, "qkv"), "predicted_calibrated_ns"));
    cJSON_Delete(rec);
    calib_default_path(path, sizeof path, dir, g_host, 2, "f32", "f32", 0);
    assert_false(ts_file_exists(path));
    /* the host's default file of another revision (other kernels) is passed over */
    assert_int_equal(ts_copy_file(g_cal, path), 0); /* git_revision "test" */
    rec = json_of(RUN("decode", "--weights", TS_FIXTURE_DIR, "--batch", "1", "--context", "4", "--steps", "2", "--reps",
                      "1", "--warmup", "0", "--threads", "2", "--machine", g_machine, "--results", dir, "--json", "-",
                      "--quiet"));
    assert_null(cJSON_GetObjectItemCaseSensitive(rec, "predicted_calibrated_tok_s"));
    cJSON_Delete(rec);
    /* of this revision: found and used */
    if (calib_load(&cal, g_cal, &st)) fail_msg("%s", st.msg);
    context_git_revision(cal.git_revision, sizeof cal.git_revision);
    if (calib_save(&cal, path, &st)) fail_msg("%s", st.msg);
    rec = json_of(RUN("decode", "--weights", TS_FIXTURE_DIR, "--batch", "1", "--context", "4", "--steps", "2", "--reps",
                      "1", "--warmup", "0", "--threads", "2", "--machine", g_machine, "--results", dir, "--json", "-",
                      "--quiet"));
    assert_true(num(rec, "predicted_calibrated_tok_s") > 0);
    cJSON_Delete(rec);
    free(dir);
}

/* gpt2-bench kernels --dtype: every shape and M timed, the weight bytes
 * counted as stored (1 per int8 weight, 4 per f32 one for OpenBLAS); a bad
 * dtype refused in one line. */
static void test_kernels_command(void **state) {
    (void)state;
    cJSON *j = json_of(RUN("kernels", "--model", "gpt2", "--dtype", "int8", "--batch", "1,3", "--reps", "1",
                           "--cold-bytes", "1", "--threads", "2", "--json", "-"));
    assert_string_equal(cJSON_GetObjectItemCaseSensitive(j, "dtype")->valuestring, "int8");
    const cJSON *shapes = cJSON_GetObjectItemCaseSensitive(j, "shapes"), *sh;
    assert_int_equal(cJSON_GetArraySize(shapes), 5);
    cJSON_ArrayForEach(sh, shapes) {
        const cJSON *ms = cJSON_GetObjectItemCaseSensitive(sh, "m"), *e;
        assert_int_equal(cJSON_GetArraySize(ms), 2);
        cJSON_ArrayForEach(e, ms) {
            const double M = num(e, "m"), gf = num(e, "packed_gflops"), ob = num(e, "openblas_gflops");
            assert_true(gf > 0 && isfinite(gf) && ob > 0 && isfinite(ob));
            /* GB/s over GFLOP/s = bytes per weight / (2 M) FLOPs per weight */
            assert_near(num(e, "packed_weight_gbs") / gf, 1.0 / (2 * M), "int8 bytes per FLOP");
            assert_near(num(e, "openblas_weight_gbs") / ob, 4.0 / (2 * M), "f32 bytes per FLOP");
        }
    }
    cJSON_Delete(j);
    expect_refused(RUN("kernels", "--dtype", "int4"), 2, "--dtype", "int4");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hand_computed_step),
        cmocka_unit_test(test_hand_computed_extrapolation),
        cmocka_unit_test(test_hand_computed_other_shapes),
        cmocka_unit_test(test_median_of_rounds),
        cmocka_unit_test(test_rounds_spread),
        cmocka_unit_test(test_bad_calibration_files),
        cmocka_unit_test(test_forecast_matches_record),
        cmocka_unit_test(test_other_host_refused),
        cmocka_unit_test(test_calibrate_quick),
        cmocka_unit_test(test_kernels_command),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
