/* test_commands: gpt2-bench end to end through bench_main, in-process, with
 * the output captured by open_memstream. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../bench/commands.h"
#include "../bench/npy.h"
#include "../kernels/kernels.h"
#include "../kernels/gemm_packed.h"
#include "test_support.h"

static char *g_dir;
static ts_reference g_ref;

static int group_setup(void **state) {
    (void)state;
    threads_init(2);
    g_dir = ts_mkdtemp();
    if (!g_dir) return -1;
    return ts_reference_load(&g_ref) ? -1 : 0;
}

static int group_teardown(void **state) {
    (void)state;
    ts_rmtree(g_dir);
    free(g_dir);
    ts_reference_free(&g_ref);
    return 0;
}

#include "test_run.h"

/* Refused with `code` and a message holding the needles. */
static void expect_refused(run_result r, int code, const char *n1, const char *n2) {
    if (r.rc != code) fail_msg("exit %d, expected %d (message: %s)", r.rc, code, r.st.msg);
    assert_int_equal(r.st.code, code);
    if (n1 && !strstr(r.st.msg, n1)) fail_msg("message \"%s\" does not mention \"%s\"", r.st.msg, n1);
    if (n2 && !strstr(r.st.msg, n2)) fail_msg("message \"%s\" does not mention \"%s\"", r.st.msg, n2);
    assert_null(strchr(r.st.msg, '\n')); /* one line */
    free(r.out);
}

static cJSON *parse_json_output(run_result r) {
    if (r.rc) fail_msg("exit %d: %s", r.rc, r.st.msg);
    cJSON *j = cJSON_Parse(r.out);
    if (!j) fail_msg("not JSON: %s", r.out);
    free(r.out);
    return j;
}

static double jnum(const cJSON *o, const char *key) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    if (!cJSON_IsNumber(v)) fail_msg("\"%s\" is not a number", key);
    return v->valuedouble;
}

/* ---- info ------------------------------------------------------------------------ */

static void test_info_model_json(void **state) {
    (void)state;
    cJSON *j = parse_json_output(RUN("info", "--model", "gpt2", "--json", "-"));
    assert_true(jnum(j, "parameters") == 124439808.0);
    assert_true(jnum(j, "parameters_stored") == 124439808.0);
    assert_true(jnum(j, "weight_bytes_f32") == 4.0 * 124439808.0);
    assert_true(jnum(j, "n_layer") == 12);
    assert_true(jnum(j, "n_head") == 12);
    assert_true(jnum(j, "n_embd") == 768);
    assert_true(jnum(j, "head_dim") == 64);
    assert_true(jnum(j, "n_ctx") == 1024);
    assert_true(jnum(j, "vocab_size") == 50257);
    assert_true(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(j, "lm_head_tied")));
    assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(j, "model")), "gpt2");
    cJSON_Delete(j);
    j = parse_json_output(RUN("info", "--model", "gpt2-xl", "--json=-"));
    assert_true(jnum(j, "parameters") == 1557611200.0);
    assert_true(jnum(j, "n_layer") == 48);
    cJSON_Delete(j);
}

static void test_info_model_text(void **state) {
    (void)state;
    run_result r = RUN("info", "--model", "gpt2-medium");
    assert_int_equal(r.rc, 0);
    assert_non_null(strstr(r.out, "gpt2-medium"));
    assert_non_null(strstr(r.out, "354823168"));
    assert_non_null(strstr(r.out, "tied to wte"));
    free(r.out);
}

static void test_info_weights(void **state) {
    (void)state;
    run_result r = RUN("info", "--weights", TS_FIXTURE_DIR);
    if (r.rc) fail_msg("exit %d: %s", r.rc, r.st.msg);
    assert_non_null(strstr(r.out, "gpt2-tiny"));
    assert_non_null(strstr(r.out, "108608"));
    assert_non_null(strstr(r.out, "model.safetensors"));
    assert_non_null(strstr(r.out, "tied to wte"));
    free(r.out);
    cJSON *j = parse_json_output(RUN("info", "--weights", TS_FIXTURE_ST, "--json", "-"));
    assert_true(jnum(j, "parameters") == 108608);
    assert_true(jnum(j, "n_layer") == 2);
    assert_true(jnum(j, "n_head") == 4);
    assert_true(jnum(j, "n_embd") == 64);
    assert_true(jnum(j, "head_dim") == 16);
    assert_true(jnum(j, "n_ctx") == 32);
    assert_true(jnum(j, "vocab_size") == 101);
    assert_true(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(j, "lm_head_tied")));
    assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(j, "model")), "gpt2-tiny");
    assert_non_null(strstr(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(j, "source")), "model.safetensors"));
    cJSON_Delete(j);
}

/* The model is named after its folder, however the folder is written. */
static void test_info_weights_name(void **state) {
    (void)state;
    const char *paths[] = {TS_FIXTURE_DIR, TS_FIXTURE_DIR "/", TS_FIXTURE_ST, "./" TS_FIXTURE_DIR "/"};
    int bad = 0;
    for (int i = 0; i < 4; i++) {
        cJSON *j = parse_json_output(RUN("info", "--weights", (char *)paths[i], "--json", "-"));
        const char *name = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(j, "model"));
        if (!name || strcmp(name, "gpt2-tiny") != 0) {
            print_message("  --weights %s: model named \"%s\", expected \"gpt2-tiny\"\n", paths[i],
                          name ? name : "(none)");
            bad++;
        }
        cJSON_Delete(j);
    }
    if (bad) fail_msg("%d of 4 spellings of the fixture path name the model wrongly", bad);
}

/* An untied LM head is counted in the stored parameters. */
static void test_info_untied(void **state) {
    (void)state;
    ts_tset s;
    assert_int_equal(ts_tset_from_file(&s, TS_FIXTURE_ST), 0);
    const ts_tensor *pw = ts_tset_find(&s, "wte.weight");
    assert_non_null(pw);
    ts_tensor wte = *pw;
    assert_int_equal(ts_tset_add(&s, "lm_head.weight", "F32", 2, wte.shape, wte.data, wte.nbytes), 0);
    char *cfg = ts_read_file(TS_FIXTURE_CONFIG, NULL);
    assert_non_null(cfg);
    char *folder = ts_make_model(g_dir, "untied", cfg, &s, TS_ALIGN8);
    assert_non_null(folder);
    cJSON *j = parse_json_output(RUN("info", "--weights", folder, "--json", "-"));
    assert_true(jnum(j, "parameters") == 108608);
    assert_true(jnum(j, "parameters_stored") == 108608 + 101 * 64);
    assert_true(jnum(j, "weight_bytes_f32") == 4.0 * (108608 + 101 * 64));
    assert_true(cJSON_IsFalse(cJSON_GetObjectItemCaseSensitive(j, "lm_head_tied")));
    cJSON_Delete(j);
    free(folder);
    free(cfg);
    ts_tset_free(&s);
}

static void test_info_refusals(void **state) {
    (void)state;
    char *jf = ts_path(g_dir, "info.json");
    expect_refused(RUN("info", "--model", "gpt2", "--json", jf), 2, "--json", NULL);
    assert_false(ts_file_exists(jf));
    free(jf);
    expect_refused(RUN("info", "--model", "gpt2", "--weights", TS_FIXTURE_DIR), 2, "--model", "--weights");
    expect_refused(RUN("info"), 2, "--model", "--weights");
    expect_refused(RUN("info", "--model", "gpt5"), 2, "gpt5", "gpt2-xl");
    expect_refused(RUN("info", "--weights", "tests/fixtures/none"), 2, "tests/fixtures/none", NULL);
    expect_refused(RUN("info", "--weigths", TS_FIXTURE_DIR), 2, "'--weigths'", "--weights");
    expect_refused(RUN("info", "--model"), 2, "--model", "value");
    expect_refused(RUN("info", "gpt2"), 2, "gpt2", NULL);
}

/* GPT2_KERNEL: a name that is no path, or a path this CPU lacks, is refused
 * in one line before any command runs; the paths it has are taken. */
static void test_kernel_env_refusals(void **state) {
    (void)state;
    setenv("GPT2_KERNEL", "avx3", 1);
    expect_refused(RUN("info", "--model", "gpt2"), 2, "GPT2_KERNEL=avx3", "avx512, avx2, portable or auto");
    const char *names[3] = {"avx512", "avx2", "portable"};
    const gemm_path paths[3] = {GEMM_PATH_AVX512, GEMM_PATH_AVX2, GEMM_PATH_PORTABLE};
    for (int i = 0; i < 3; i++) {
        setenv("GPT2_KERNEL", names[i], 1);
        run_result r = RUN("info", "--model", "gpt2");
        if (gemm_path_available(paths[i])) {
            if (r.rc) fail_msg("GPT2_KERNEL=%s: exit %d: %s", names[i], r.rc, r.st.msg);
            free(r.out);
        } else {
            expect_refused(r, 2, names[i], "lacks");
        }
    }
    unsetenv("GPT2_KERNEL");
}

/* ---- logits ----------------------------------------------------------------------- */

static void check_logits_file(const char *mode) {
    char *tok = ts_tokens_arg(g_ref.tokens, g_ref.B, g_ref.T);
    char name[64];
    snprintf(name, sizeof name, "logits-%s.npy", mode ? mode : "default");
    char *npy = ts_path(g_dir, name);
    run_result r = mode ? RUN("logits", "--weights", TS_FIXTURE_DIR, "--tokens", tok, "--mode", (char *)mode,
                              "--out", npy, "--threads", "2")
                        : RUN("logits", "--weights", TS_FIXTURE_DIR, "--tokens", tok, "--out", npy);
    if (r.rc) fail_msg("logits exit %d: %s", r.rc, r.st.msg);
    free(r.out);
    float *l, *ref;
    int nd, nd2;
    int64_t sh[8], sh2[8];
    status_t st = {0};
    assert_int_equal(npy_read_f32(npy, &l, &nd, sh, &st), ST_OK);
    assert_int_equal(nd, 3);
    assert_int_equal(sh[0], g_ref.B);
    assert_int_equal(sh[1], g_ref.T);
    assert_int_equal(sh[2], g_ref.vocab);
    assert_int_equal(npy_read_f32(TS_FIXTURE_REF_LOGITS, &ref, &nd2, sh2, &st), ST_OK);
    double err = ts_max_abs_diff(l, ref, (size_t)g_ref.B * g_ref.T * g_ref.vocab);
    print_message("  logits --mode %s: max abs error vs reference %.3g\n", mode ? mode : "(default)", err);
    assert_true(err <= 1e-4);
    /* no temporary left beside it */
    char tmp[1200];
    snprintf(tmp, sizeof tmp, "%s.tmp", npy);
    assert_false(ts_file_exists(tmp));
    free(l);
    free(ref);
    free(npy);
    free(tok);
    threads_init(2);
}

static void test_logits_decode(void **state) {
    (void)state;
    check_logits_file("decode");
}

static void test_logits_prefill(void **state) {
    (void)state;
    check_logits_file("prefill");
}

static void test_logits_default_mode(void **state) {
    (void)state;
    check_logits_file(NULL);
}

/* One sequence: shape (1, T, V). */
static void test_logits_single(void **state) {
    (void)state;
    char *npy = ts_path(g_dir, "one.npy");
    run_result r = RUN("logits", "--weights", TS_FIXTURE_DIR, "--tokens", "61, 25, 98", "--out", npy, "--threads", "2");
    if (r.rc) fail_msg("exit %d: %s", r.rc, r.st.msg);
    free(r.out);
    float *l;
    int nd;
    int64_t sh[8];
    status_t st = {0};
    assert_int_equal(npy_read_f32(npy, &l, &nd, sh, &st), ST_OK);
    assert_int_equal(nd, 3);
    assert_int_equal(sh[0], 1);
    assert_int_equal(sh[1], 3);
    assert_int_equal(sh[2], 101);
    free(l);
    free(npy);
    threads_init(2);
}

static void test_logits_refusals(void **state) {
    (void)state;
    char *npy = ts_path(g_dir, "refused.npy");
    expect_refused(RUN("logits", "--weights", TS_FIXTURE_DIR, "--tokens", "1,2,3"), 2, "--out", NULL);
    expect_refused(RUN("logits", "--weights", TS_FIXTURE_DIR, "--tokens", "1,2,3", "--mode", "fast", "--out", npy), 2,
                   "--mode", "fast");
    expect_refused(RUN("logits", "--weights", TS_FIXTURE_DIR, "--tokens", "1,2;3", "--out", npy), 2, "--tokens", NULL);
    expect_refused(RUN("logits", "--weights", TS_FIXTURE_DIR, "--tokens", "1,x", "--out", npy), 2, "--tokens", NULL);
    expect_refused(RUN("logits", "--weights", TS_FIXTURE_DIR, "--out", npy), 2, "--tokens", NULL);
    expect_refused(RUN("logits", "--weights", TS_FIXTURE_DIR, "--tokens", "1", "--out", npy, "--threads", "0"), 2,
                   "--threads", NULL);
    expect_refused(RUN("logits", "--weights", TS_FIXTURE_DIR, "--tokens", "1", "--out"), 2, "--out", NULL);
    expect_refused(RUN("logits", "--wieghts", TS_FIXTURE_DIR, "--tokens", "1", "--out", npy), 2, "--weights", NULL);
    assert_false(ts_file_exists(npy));
    /* an output folder that does not exist */
    char *bad = ts_path(g_dir, "no/such/dir/x.npy");
    run_result r = RUN("logits", "--weights", TS_FIXTURE_DIR, "--tokens", "1,2", "--out", bad, "--threads", "2");
    assert_true(r.rc != 0);
    assert_non_null(strstr(r.st.msg, bad));
    free(r.out);
    free(bad);
    free(npy);
    threads_init(2);
}

/* ---- generate ----------------------------------------------------------------------- */

static void test_generate(void **state) {
    (void)state;
    char *tok = ts_tokens_arg(g_ref.prompt, 1, g_ref.n_prompt);
    char steps[16], want[256] = "";
    snprintf(steps, sizeof steps, "%d", g_ref.n_cont);
    for (int i = 0; i < g_ref.n_cont; i++)
        snprintf(want + strlen(want), sizeof want - strlen(want), "%s%d", i ? " " : "", g_ref.cont[i]);
    run_result r = RUN("generate", "--weights", TS_FIXTURE_DIR, "--tokens", tok, "--steps", steps, "--threads", "2");
    if (r.rc) fail_msg("exit %d: %s", r.rc, r.st.msg);
    char line[260];
    snprintf(line, sizeof line, "%s\n", want);
    assert_string_equal(r.out, line);
    free(r.out);
    /* two prompts: two lines, the first the same */
    int two[10];
    memcpy(two, g_ref.prompt, 5 * sizeof *two);
    memcpy(two + 5, g_ref.tokens + g_ref.T, 5 * sizeof *two);
    char *tok2 = ts_tokens_arg(two, 2, 5);
    r = RUN("generate", "--weights", TS_FIXTURE_DIR, "--tokens", tok2, "--steps", steps, "--threads", "2");
    if (r.rc) fail_msg("exit %d: %s", r.rc, r.st.msg);
    assert_true(strncmp(r.out, line, strlen(line)) == 0);
    const char *second = r.out + strlen(line);
    assert_non_null(strchr(second, '\n'));
    assert_null(strchr(strchr(second, '\n') + 1, '\n'));
    int n = 0;
    for (const char *p = second; *p && *p != '\n'; p++) n += *p == ' ';
    assert_int_equal(n + 1, g_ref.n_cont);
    free(r.out);
    /* one step: the first id */
    r = RUN("generate", "--weights", TS_FIXTURE_DIR, "--tokens", tok, "--steps", "1", "--threads", "2");
    assert_int_equal(r.rc, 0);
    char first[16];
    snprintf(first, sizeof first, "%d\n", g_ref.cont[0]);
    assert_string_equal(r.out, first);
    free(r.out);
    free(tok);
    free(tok2);
    threads_init(2);
}

static void test_generate_refusals(void **state) {
    (void)state;
    expect_refused(RUN("generate", "--weights", TS_FIXTURE_DIR, "--tokens", "1,2", "--steps", "abc"), 2, "--steps",
                   "abc");
    expect_refused(RUN("generate", "--weights", TS_FIXTURE_DIR, "--tokens", "1,2", "--steps", "5x"), 2, "--steps",
                   NULL);
    expect_refused(RUN("generate", "--weights", TS_FIXTURE_DIR, "--tokens", "1,2", "--steps", "0"), 2, "--steps",
                   NULL);
    expect_refused(RUN("generate", "--weights", TS_FIXTURE_DIR, "--tokens", "1,2", "--steps", "-3"), 2, "--steps",
                   NULL);
    expect_refused(RUN("generate", "--weights", TS_FIXTURE_DIR, "--tokens", "1,2", "--steps",
                       "99999999999999999999999"),
                   2, "--steps", NULL);
    expect_refused(RUN("generate", "--weights", TS_FIXTURE_DIR, "--tokens", "1,2"), 2, "--steps", NULL);
    expect_refused(RUN("generate", "--weights", TS_FIXTURE_DIR, "--tokens", "1,2", "--steps", "40", "--threads", "2"),
                   2, "n_ctx", NULL);
    expect_refused(RUN("generate", "--weights", TS_FIXTURE_DIR, "--tokens", "1,2", "--step", "3"), 2, "--steps", NULL);
    threads_init(2);
}

/* ---- dispatch ------------------------------------------------------------------------ */

static void test_dispatch(void **state) {
    (void)state;
    expect_refused(RUN("infp"), 2, "'infp'", "'info'");
    expect_refused(RUN("generat", "--steps", "1"), 2, "'generate'", NULL);
    expect_refused(RUN("logit"), 2, "'logits'", NULL);
    expect_refused(RUN("completely-unrelated"), 2, "completely-unrelated", "--help");
    run_result r = run_argv((char *[]){NULL});
    expect_refused(r, 2, "command", NULL);
    r = RUN("--help");
    assert_int_equal(r.rc, 0);
    assert_non_null(strstr(r.out, "info"));
    assert_non_null(strstr(r.out, "logits"));
    assert_non_null(strstr(r.out, "generate"));
    free(r.out);
    const char *cmds[] = {"info", "logits", "generate"};
    for (int i = 0; i < 3; i++) {
        r = RUN((char *)cmds[i], "--help");
        assert_int_equal(r.rc, 0);
        assert_non_null(strstr(r.out, "usage"));
        assert_non_null(strstr(r.out, cmds[i]));
        free(r.out);
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_info_model_json),
        cmocka_unit_test(test_info_model_text),
        cmocka_unit_test(test_info_weights),
        cmocka_unit_test(test_info_weights_name),
        cmocka_unit_test(test_info_untied),
        cmocka_unit_test(test_info_refusals),
        cmocka_unit_test(test_kernel_env_refusals),
        cmocka_unit_test(test_logits_decode),
        cmocka_unit_test(test_logits_prefill),
        cmocka_unit_test(test_logits_default_mode),
        cmocka_unit_test(test_logits_single),
        cmocka_unit_test(test_logits_refusals),
        cmocka_unit_test(test_generate),
        cmocka_unit_test(test_generate_refusals),
        cmocka_unit_test(test_dispatch),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
