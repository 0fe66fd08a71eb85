/* test_decode: `gpt2-bench decode` end to end on the tiny fixture: the
 * record's fields and types, and its greedy tokens against the argmax of
 * the `logits` command on the same sequences. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../bench/commands.h"
#include "../bench/decode_run.h"
#include "../bench/npy.h"
#include "../model/forward.h"
#include "test_support.h"

static char *g_dir, *g_machine;

static int setup(void **state) {
    (void)state;
    g_dir = ts_mkdtemp();
    g_machine = ts_path(g_dir, "machine.json");
    /* made-up ceilings: the test checks the arithmetic, not this machine */
    const char *m = "{\"read_gbs\": 20.0, \"copy_gbs\": 15.0, \"triad_gbs\": 16.0, \"peak_gflops\": 100.0,"
                    " \"sgemm_gflops\": 80.0, \"spec_gflops\": 120.0, \"llc_bytes_measured\": 1048576,"
                    " \"stream_array_bytes\": 1048576}";
    return ts_write_file(g_machine, m, strlen(m));
}

static int teardown(void **state) {
    (void)state;
    ts_rmtree(g_dir);
    free(g_dir);
    free(g_machine);
    return 0;
}

static int run(const char **args, char **out_text, status_t *st) {
    char *argv[64];
    int argc = 0;
    argv[argc++] = "gpt2-bench";
    for (; args[argc - 1]; argc++) argv[argc] = (char *)args[argc - 1];
    size_t len = 0;
    char *text = NULL;
    FILE *f = open_memstream(&text, &len);
    memset(st, 0, sizeof *st);
    int rc = bench_main(argc, argv, f, st);
    fclose(f);
    if (out_text)
        *out_text = text;
    else
        free(text);
    return rc;
}

static const cJSON *field(const cJSON *o, const char *name) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);
    if (!v) print_error("missing field %s\n", name);
    assert_non_null(v);
    return v;
}

static double number(const cJSON *o, const char *name) {
    const cJSON *v = field(o, name);
    assert_true(cJSON_IsNumber(v));
    return v->valuedouble;
}

static void test_decode_record_and_tokens(void **state) {
    (void)state;
    char *jsonl = ts_path(g_dir, "decode.jsonl");
    const char *args[] = {"decode", "--weights", TS_FIXTURE_DIR, "--batch", "3", "--context", "8", "--steps", "4",
                          "--reps", "3", "--warmup", "2", "--prefill", "real", "--threads", "2", "--machine",
                          g_machine, "--json", jsonl, "--quiet", NULL};
    status_t st;
    int rc = run(args, NULL, &st);
    if (rc) print_error("%s\n", st.msg);
    assert_int_equal(rc, 0);
    size_t n = 0;
    char *text = ts_read_file(jsonl, &n);
    assert_non_null(text);
    assert_int_equal(text[n - 1], '\n');
    assert_null(strchr(text, '\n') + 1 < text + n ? strchr(strchr(text, '\n') + 1, '\n') : NULL);
    cJSON *o = cJSON_Parse(text);
    free(text);
    assert_non_null(o);
    /* every field the scripts rely on, with its type */
    assert_int_equal((int)number(o, "schema_version"), 1);
    assert_string_equal(field(o, "model")->valuestring, "gpt2-tiny");
    assert_string_equal(field(o, "dtype")->valuestring, "f32");
    assert_int_equal((int)number(o, "threads"), 2);
    assert_int_equal((int)number(o, "batch"), 3);
    assert_int_equal((int)number(o, "context"), 8);
    assert_int_equal((int)number(o, "steps"), 4);
    assert_int_equal((int)number(o, "reps"), 3);
    const cJSON *samples = field(o, "samples_ns");
    assert_true(cJSON_IsArray(samples));
    assert_int_equal(cJSON_GetArraySize(samples), 3);
    const char *positive[] = {"step_ns_median", "tok_s", "tok_s_min", "tok_s_max", "bytes_per_step",
                              "flops_per_step", "achieved_gbs", "achieved_gflops", "mbu", "mfu",
                              "predicted_tok_s", "efficiency", "intensity", "ridge"};
    for (size_t i = 0; i < sizeof positive / sizeof *positive; i++) assert_true(number(o, positive[i]) > 0);
    assert_true(number(o, "cv") >= 0);
    assert_true(number(o, "tok_s_min") <= number(o, "tok_s") && number(o, "tok_s") <= number(o, "tok_s_max"));
    const cJSON *bs = field(o, "bytes_per_step_split"), *fs = field(o, "flops_per_step_split");
    double bsum = number(bs, "weights") + number(bs, "kv_read") + number(bs, "kv_write") + number(bs, "activations");
    double fsum = number(fs, "dense") + number(fs, "attention") + number(fs, "lm_head") + number(fs, "other");
    assert_true(fabs(bsum - number(o, "bytes_per_step")) < 1e-6 * bsum);
    assert_true(fabs(fsum - number(o, "flops_per_step")) < 1e-6 * fsum);
    /* the figures follow from the measured time and the made-up ceilings */
    double step_s = number(o, "step_ns_median") * 1e-9;
    assert_true(fabs(number(o, "tok_s") - 3 / step_s) < 1e-6 * number(o, "tok_s"));
    assert_true(fabs(number(o, "mbu") - number(o, "bytes_per_step") / step_s / 20e9) < 1e-6);
    assert_true(fabs(number(o, "mfu") - number(o, "flops_per_step") / step_s / 100e9) < 1e-6);
    assert_true(fabs(number(o, "efficiency") - number(o, "tok_s") / number(o, "predicted_tok_s")) < 1e-9);
    /* the serial roof: each operator at its own roof, one after another; never below the whole-step roof */
    assert_true(number(o, "predicted_serial_step_s") >= number(o, "predicted_step_s") * (1 - 1e-9));
    assert_true(fabs(number(o, "efficiency_serial") - number(o, "predicted_serial_step_s") / step_s) < 1e-9);
    const char *bound = field(o, "bound")->valuestring;
    assert_true(strcmp(bound, "memory") == 0 || strcmp(bound, "compute") == 0);
    assert_true(cJSON_IsBool(field(o, "llc_resident")));
    assert_true(cJSON_IsTrue(field(o, "llc_resident"))); /* 0.4 MB of weights < the made-up 1 MiB LLC */
    const cJSON *ops = field(o, "operators");
    assert_int_equal(cJSON_GetArraySize(ops), OP_COUNT);
    double frac = 0;
    for (int i = 0; i < OP_COUNT; i++) {
        const cJSON *e = cJSON_GetArrayItem(ops, i);
        assert_string_equal(field(e, "name")->valuestring, GPT2_OP_NAMES[i]);
        frac += number(e, "time_frac");
        number(e, "bytes");
        number(e, "flops");
        number(e, "achieved_gbs");
        number(e, "achieved_gflops");
        assert_true(cJSON_IsString(field(e, "bound")));
    }
    assert_true(fabs(frac - 1) < 1e-9);
    assert_true(number(field(o, "machine"), "read_gbs") == 20.0);
    /* the probe of the minute: 3 x the made-up 1 MiB stream arrays, before
     * and after, and the roofline again at its bandwidth */
    const cJSON *probe = field(o, "probe");
    assert_true(number(probe, "bytes") == 3 * 1048576.0);
    assert_true(number(probe, "read_gbs_before") > 0 && number(probe, "read_gbs_after") > 0);
    assert_true(fabs(number(probe, "read_gbs") - (number(probe, "read_gbs_before") + number(probe, "read_gbs_after")) / 2) <
                1e-9 * number(probe, "read_gbs"));
    assert_true(fabs(number(o, "efficiency_probe") - number(o, "tok_s") / number(probe, "predicted_tok_s")) < 1e-9);
    /* its FMA side: the peak loop before and after, and the roofline at both
     * probed ceilings: batch / max(bytes / bandwidth, FLOPs / FMA rate) */
    const double fb = number(probe, "peak_gflops_before"), fa = number(probe, "peak_gflops_after");
    assert_true(fb > 0 && fa > 0);
    assert_true(fabs(number(probe, "peak_gflops") - (fb + fa) / 2) < 1e-9 * number(probe, "peak_gflops"));
    const double probe_mem_s = number(o, "bytes_per_step") / (number(probe, "read_gbs") * 1e9),
                 probe_cmp_s = number(o, "flops_per_step") / (number(probe, "peak_gflops") * 1e9);
    const double probe_step_s = probe_mem_s > probe_cmp_s ? probe_mem_s : probe_cmp_s;
    assert_true(fabs(number(probe, "predicted_tok_s") - number(o, "batch") / probe_step_s) <
                1e-6 * number(probe, "predicted_tok_s"));
    assert_string_equal(field(probe, "bound")->valuestring, probe_cmp_s > probe_mem_s ? "compute" : "memory");
    /* greedy tokens == argmax of the logits command over prompt + outputs */
    const cJSON *prompt = field(o, "prompt_tokens"), *ins = field(o, "input_tokens"),
                *outs = field(o, "output_tokens");
    assert_int_equal(cJSON_GetArraySize(prompt), 3);
    assert_int_equal(cJSON_GetArraySize(outs), 3);
    int seq[3][11];
    for (int b = 0; b < 3; b++) {
        const cJSON *p = cJSON_GetArrayItem(prompt, b), *in = cJSON_GetArrayItem(ins, b),
                    *q = cJSON_GetArrayItem(outs, b);
        assert_int_equal(cJSON_GetArraySize(p), 8);
        assert_int_equal(cJSON_GetArraySize(in), 4);
        assert_int_equal(cJSON_GetArraySize(q), 4);
        for (int t = 0; t < 8; t++) seq[b][t] = cJSON_GetArrayItem(p, t)->valueint;
        for (int t = 0; t < 3; t++) {
            seq[b][8 + t] = cJSON_GetArrayItem(in, t)->valueint;
            /* greedy: each step's output is the next step's input */
            assert_int_equal(cJSON_GetArrayItem(in, t + 1)->valueint, cJSON_GetArrayItem(q, t)->valueint);
        }
    }
    /* seq: prompt (8) + the first 3 inputs; the 4th input's logits are
     * not needed: logits at position 7 + i predict input i, and at 8 + i
     * output i */
    char *tok = ts_tokens_arg(&seq[0][0], 3, 11);
    char *npy = ts_path(g_dir, "l.npy");
    const char *largs[] = {"logits", "--weights", TS_FIXTURE_DIR, "--tokens", tok, "--out", npy, NULL};
    assert_int_equal(run(largs, NULL, &st), 0);
    float *logits;
    int ndim;
    int64_t shape[8];
    assert_int_equal(npy_read_f32(npy, &logits, &ndim, shape, &st), 0);
    assert_int_equal(shape[1], 11);
    for (int b = 0; b < 3; b++)
        for (int i = 0; i < 3; i++) {
            const float *at = logits + ((size_t)b * 11 + 8 + i) * shape[2];
            assert_int_equal(argmax_f32(at, (int)shape[2]), cJSON_GetArrayItem(cJSON_GetArrayItem(outs, b), i)->valueint);
            /* the first input is the prefill's own greedy token */
            const float *prev = logits + ((size_t)b * 11 + 7 + i) * shape[2];
            assert_int_equal(argmax_f32(prev, (int)shape[2]), cJSON_GetArrayItem(cJSON_GetArrayItem(ins, b), i)->valueint);
        }
    free(logits);
    free(tok);
    free(npy);
    cJSON_Delete(o);
    free(jsonl);
}

/* --probe 0: no probe object and no efficiency_probe; --probe MIB sizes it */
/* The profiled repetition's per-operator split: per operator, n x its
 * median over the steps, so one step in which a core was taken away
 * (here: layernorm 1000x in step 2) does not multiply that operator's
 * share; out of range n gives zeros. */
static void test_profile_medians(void **state) {
    (void)state;
    enum { N = 5 };
    double steps[N * OP_COUNT];
    for (int i = 0; i < N; i++)
        for (int op = 0; op < OP_COUNT; op++) steps[i * OP_COUNT + op] = 100.0 * (op + 1) + i; /* median: +2 */
    steps[2 * OP_COUNT + OP_LAYERNORM] = 1e6;
    gpt2_profile p;
    decode_profile_medians(steps, N, &p);
    for (int op = 0; op < OP_COUNT; op++) {
        const double want = op == OP_LAYERNORM ? N * (100.0 * (op + 1) + 3) : N * (100.0 * (op + 1) + 2);
        assert_float_equal(p.ns[op], want, 1e-9);
    }
    decode_profile_medians(steps, 0, &p);
    for (int op = 0; op < OP_COUNT; op++) assert_float_equal(p.ns[op], 0, 0);
}

static void test_decode_probe_flag(void **state) {
    (void)state;
    const char *none[] = {"decode", "--weights", TS_FIXTURE_DIR, "--batch", "1", "--context", "4", "--steps", "2",
                          "--reps", "1", "--warmup", "0", "--machine", g_machine, "--probe", "0", "--json", "-",
                          "--quiet", NULL};
    const char *two[] = {"decode", "--weights", TS_FIXTURE_DIR, "--batch", "1", "--context", "4", "--steps", "2",
                         "--reps", "1", "--warmup", "0", "--machine", g_machine, "--probe", "2", "--json", "-",
                         "--quiet", NULL};
    status_t st;
    char *text = NULL;
    assert_int_equal(run(none, &text, &st), 0);
    cJSON *o = cJSON_Parse(text);
    assert_non_null(o);
    assert_null(cJSON_GetObjectItemCaseSensitive(o, "probe"));
    assert_null(cJSON_GetObjectItemCaseSensitive(o, "efficiency_probe"));
    cJSON_Delete(o);
    free(text);
    assert_int_equal(run(two, &text, &st), 0);
    o = cJSON_Parse(text);
    assert_non_null(o);
    assert_true(number(field(o, "probe"), "bytes") == 2 * 1048576.0);
    cJSON_Delete(o);
    free(text);
    const char *bad[] = {"decode", "--weights", TS_FIXTURE_DIR, "--batch", "1", "--context", "4",
                         "--machine", g_machine, "--probe", "-1", NULL};
    assert_int_equal(run(bad, NULL, &st), 2);
    assert_non_null(strstr(st.msg, "--probe"));
    const char *huge[] = {"decode", "--weights", TS_FIXTURE_DIR, "--batch", "1", "--context", "4",
                          "--machine", g_machine, "--probe", "65536", NULL};
    if (mem_available_bytes() && mem_available_bytes() / 2 < (65536ull << 20)) {
        assert_int_equal(run(huge, NULL, &st), 2);
        assert_non_null(strstr(st.msg, "more than half the memory available"));
    }
}

static void test_decode_human_and_csv(void **state) {
    (void)state;
    char *csv = ts_path(g_dir, "d.csv");
    const char *args[] = {"decode", "--weights", TS_FIXTURE_DIR, "--batch", "1,2", "--context", "0-4+4", "--steps",
                          "2", "--reps", "2", "--warmup", "0", "--machine", g_machine, "--csv", csv, NULL};
    status_t st;
    char *out = NULL;
    int rc = run(args, &out, &st);
    if (rc) print_error("%s\n", st.msg);
    assert_int_equal(rc, 0);
    assert_non_null(strstr(out, "tok/s"));
    assert_non_null(strstr(out, "lm_head"));
    free(out);
    size_t n = 0;
    char *text = ts_read_file(csv, &n);
    assert_non_null(text);
    int lines = 0;
    for (size_t i = 0; i < n; i++) lines += text[i] == '\n';
    assert_int_equal(lines, 1 + 4); /* header + 2 batches x 2 contexts */
    assert_true(strncmp(text, "model,", 6) == 0);
    free(text);
    free(csv);
}

static void test_decode_refusals(void **state) {
    (void)state;
    status_t st;
    /* 8 + 4 + 24 = 36 positions > n_ctx 32 */
    const char *a1[] = {"decode", "--weights", TS_FIXTURE_DIR, "--batch", "1", "--context", "8", "--steps", "24",
                        "--warmup", "4", "--machine", g_machine, "--quiet", NULL};
    assert_int_equal(run(a1, NULL, &st), 2);
    assert_non_null(strstr(st.msg, "n_ctx"));
    const char *a2[] = {"decode", "--weights", TS_FIXTURE_DIR, "--batch", "0", "--context", "8", "--machine",
                        g_machine, NULL};
    assert_int_equal(run(a2, NULL, &st), 2);
    assert_non_null(strstr(st.msg, "--batch"));
    const char *a3[] = {"decode", "--weights", TS_FIXTURE_DIR, "--batch", "1", "--context", "8", "--dtype", "q4",
                        "--machine", g_machine, NULL};
    assert_int_equal(run(a3, NULL, &st), 2);
    const char *a4[] = {"decode", "--weights", TS_FIXTURE_DIR, "--batch", "1", "--context", "4", "--machine",
                        TS_FIXTURE_CONFIG, NULL};
    assert_int_equal(run(a4, NULL, &st), 2);
    assert_non_null(strstr(st.msg, "read_gbs"));
    const char *a5[] = {"decode", "--weights", TS_FIXTURE_DIR, "--batch", "1", "--context", "4", "--machine",
                        g_machine, "--bacth", "2", NULL};
    assert_int_equal(run(a5, NULL, &st), 2);
    assert_non_null(strstr(st.msg, "--batch"));
}

static void test_predict_json(void **state) {
    (void)state;
    const char *args[] = {"predict", "--model", "gpt2", "--batch", "1", "--context", "0", "--bandwidth", "55",
                          "--flops", "436", "--json", "-", NULL};
    status_t st;
    char *out = NULL;
    assert_int_equal(run(args, &out, &st), 0);
    cJSON *o = cJSON_Parse(out);
    free(out);
    assert_non_null(o);
    assert_true(fabs(number(field(o, "bytes_per_step_split"), "weights") / 1e6 - 494.6) < 0.05);
    assert_string_equal(field(o, "bound")->valuestring, "memory");
    const char *names[] = {"bytes_per_step", "flops_per_step", "predicted_tok_s", "intensity", "ridge",
                           "crossover_batch"};
    for (size_t i = 0; i < sizeof names / sizeof *names; i++) assert_true(number(o, names[i]) > 0);
    cJSON_Delete(o);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_decode_record_and_tokens),
        cmocka_unit_test(test_profile_medians),
        cmocka_unit_test(test_decode_probe_flag),
        cmocka_unit_test(test_decode_human_and_csv),
        cmocka_unit_test(test_decode_refusals),
        cmocka_unit_test(test_predict_json),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
