/* test_forward: the GPT-2 forward pass on the gpt2-tiny fixture against the
 * float64 reference: logits by batched decode and by prefill (also chunked),
 * the full context, greedy generation, the n_ctx limit, batch independence
 * and refused tokens. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../bench/commands.h"
#include "../bench/npy.h"
#include "../kernels/gemm_packed.h"
#include "../kernels/kernels.h"
#include "../model/forward.h"
#include "../model/weights.h"
#include "test_support.h"

#define TOL_REF 1e-4 /* float32 against the float64 reference (tests/fixtures/README.md) */

static gpt2_model g_m;
static ts_reference g_ref;
static float *g_ref_logits; /* (B, T, V) */
static float *g_ref_full;   /* (1, n_ctx, V) */
static char *g_dir;

static int group_setup(void **state) {
    (void)state;
    threads_init(2);
    status_t st = {0};
    if (gpt2_load(&g_m, TS_FIXTURE_DIR, &st)) {
        fprintf(stderr, "%s\n", st.msg);
        return -1;
    }
    if (ts_reference_load(&g_ref)) return -1;
    int nd;
    int64_t sh[8];
    if (npy_read_f32(TS_FIXTURE_REF_LOGITS, &g_ref_logits, &nd, sh, &st) || nd != 3 || sh[0] != g_ref.B ||
        sh[1] != g_ref.T || sh[2] != g_ref.vocab)
        return -1;
    if (npy_read_f32(TS_FIXTURE_REF_FULL, &g_ref_full, &nd, sh, &st) || nd != 3 || sh[0] != 1 ||
        sh[1] != g_ref.n_full || sh[2] != g_ref.vocab)
        return -1;
    g_dir = ts_mkdtemp();
    return g_dir ? 0 : -1;
}

static int group_teardown(void **state) {
    (void)state;
    gpt2_free(&g_m);
    ts_reference_free(&g_ref);
    free(g_ref_logits);
    free(g_ref_full);
    ts_rmtree(g_dir);
    free(g_dir);
    return 0;
}

static size_t n_full_logits(void) { return (size_t)g_ref.n_full * g_ref.vocab; }

static float *fmalloc(size_t n) {
    float *p = malloc((n ? n : 1) * sizeof *p);
    assert_non_null(p);
    return p;
}

/* Runs gpt2-bench in-process; *out (malloc'd) gets what it printed. */
static int bench(char **out, status_t *st, int argc, char **argv) {
    size_t len = 0;
    char *buf = NULL;
    FILE *f = open_memstream(&buf, &len);
    assert_non_null(f);
    memset(st, 0, sizeof *st);
    int rc = bench_main(argc, argv, f, st);
    fclose(f);
    if (out) *out = buf;
    else free(buf);
    return rc;
}

/* ---- against the reference ------------------------------------------------- */

static void test_fixture_matches_reference_config(void **state) {
    (void)state;
    assert_int_equal(g_m.cfg.n_layer, g_ref.n_layer);
    assert_int_equal(g_m.cfg.n_head, g_ref.n_head);
    assert_int_equal(g_m.cfg.n_embd, g_ref.n_embd);
    assert_int_equal(g_m.cfg.n_ctx, g_ref.n_ctx);
    assert_int_equal(g_m.cfg.vocab, g_ref.vocab);
    assert_int_equal(g_ref.B, 3);
    assert_int_equal(g_ref.T, 12);
    assert_int_equal(g_ref.n_full, g_m.cfg.n_ctx);
    assert_int_equal(g_ref.n_prompt, 5);
    assert_int_equal(g_ref.n_cont, 16);
}

/* Logits of `tokens` (B, T) in one mode on every path, against `ref`. */
static void check_against(const int *tokens, int B, int T, int prefill, const float *ref, const char *what) {
    const int V = g_ref.vocab;
    float *l = fmalloc((size_t)B * T * V);
    gemm_path ps[3];
    const int np = ts_gemm_paths(ps);
    const gemm_path old = gemm_path_current();
    for (int pi = 0; pi < np; pi++) {
        gemm_path_force(ps[pi]);
        status_t st = {0};
        int rc = ts_logits(&g_m, tokens, B, T, prefill, l, &st);
        if (rc) fail_msg("%s: forward failed (%d): %s", what, rc, st.msg);
        double err = ts_max_abs_diff(l, ref, (size_t)B * T * V);
        print_message("  %s, %s, B=%d T=%d (%s): max abs error vs reference %.3g\n", what,
                      prefill ? "prefill" : "decode", B, T, gemm_path_name(ps[pi]), err);
        if (err > TOL_REF) fail_msg("%s %s logits off the reference by %g", what, prefill ? "prefill" : "decode", err);
    }
    gemm_path_force(old);
    free(l);
}

static void check_reference(int prefill) {
    check_against(g_ref.tokens, g_ref.B, g_ref.T, prefill, g_ref_logits, "reference.logits");
}

static void test_reference_decode(void **state) {
    (void)state;
    check_reference(0);
}

static void test_reference_prefill(void **state) {
    (void)state;
    check_reference(1);
}

/* Prefill in chunks (5 tokens, then 4 at positions 5..8), then decode the
 * last 3: attention with p0 > 0 on the prefill path. */
static void test_reference_chunked(void **state) {
    (void)state;
    const int B = g_ref.B, T = g_ref.T, V = g_ref.vocab;
    gpt2_state s;
    status_t st = {0};
    assert_int_equal(gpt2_state_init(&s, &g_m.cfg, B, 5, T, &st), ST_OK);
    float *l = fmalloc((size_t)B * 5 * V), *got = fmalloc((size_t)B * T * V);
    int *chunk = malloc((size_t)B * 5 * sizeof *chunk);
    assert_non_null(chunk);
    const int starts[] = {0, 5, 9, 10, 11}, lens[] = {5, 4, 1, 1, 1};
    for (int c = 0; c < 5; c++) {
        int p = starts[c], n = lens[c];
        for (int b = 0; b < B; b++)
            for (int t = 0; t < n; t++) chunk[b * n + t] = g_ref.tokens[b * T + p + t];
        assert_int_equal(s.kv.len, p);
        assert_int_equal(gpt2_forward(&g_m, &s, chunk, n, l, LOGITS_ALL, &st), ST_OK);
        for (int b = 0; b < B; b++)
            memcpy(got + ((size_t)b * T + p) * V, l + (size_t)b * n * V, (size_t)n * V * sizeof *l);
    }
    assert_int_equal(s.kv.len, T);
    double err = ts_max_abs_diff(got, g_ref_logits, (size_t)B * T * V);
    print_message("  chunked prefill 5+4 then decode: max abs error vs reference %.3g\n", err);
    assert_true(err <= TOL_REF);
    free(l);
    free(got);
    free(chunk);
    gpt2_state_free(&s);
}

/* LOGITS_LAST after a prefill is the last position; LOGITS_NONE fills the
 * cache only. */
static void test_logits_modes(void **state) {
    (void)state;
    const int B = g_ref.B, T = g_ref.T, V = g_ref.vocab;
    gpt2_state s;
    status_t st = {0};
    float *last = fmalloc((size_t)B * V);
    assert_int_equal(gpt2_state_init(&s, &g_m.cfg, B, T, T, &st), ST_OK);
    assert_int_equal(gpt2_forward(&g_m, &s, g_ref.tokens, T, last, LOGITS_LAST, &st), ST_OK);
    double err = 0;
    for (int b = 0; b < B; b++) {
        double e = ts_max_abs_diff(last + (size_t)b * V, g_ref_logits + ((size_t)b * T + T - 1) * V, V);
        if (e > err) err = e;
    }
    assert_true(err <= TOL_REF);
    gpt2_state_free(&s);

    /* the first T-1 tokens without logits, then the last one decoded */
    int *head = malloc((size_t)B * (T - 1) * sizeof *head), col[3];
    assert_non_null(head);
    for (int b = 0; b < B; b++) {
        memcpy(head + b * (T - 1), g_ref.tokens + b * T, (size_t)(T - 1) * sizeof *head);
        col[b] = g_ref.tokens[b * T + T - 1];
    }
    assert_int_equal(gpt2_state_init(&s, &g_m.cfg, B, T, T, &st), ST_OK);
    for (size_t i = 0; i < (size_t)B * V; i++) last[i] = -12345.0f;
    assert_int_equal(gpt2_forward(&g_m, &s, head, T - 1, NULL, LOGITS_NONE, &st), ST_OK);
    assert_int_equal(s.kv.len, T - 1);
    assert_int_equal(gpt2_forward(&g_m, &s, col, 1, last, LOGITS_LAST, &st), ST_OK);
    err = 0;
    for (int b = 0; b < B; b++) {
        double e = ts_max_abs_diff(last + (size_t)b * V, g_ref_logits + ((size_t)b * T + T - 1) * V, V);
        if (e > err) err = e;
    }
    assert_true(err <= TOL_REF);
    gpt2_state_free(&s);
    free(head);
    free(last);
}

static void check_full_ctx(int prefill) {
    check_against(g_ref.full, 1, g_ref.n_full, prefill, g_ref_full, "full context (n_ctx tokens)");
}

static void test_full_ctx_decode(void **state) {
    (void)state;
    check_full_ctx(0);
}

static void test_full_ctx_prefill(void **state) {
    (void)state;
    check_full_ctx(1);
}

/* ---- greedy generation --------------------------------------------------------- */

/* Prefill the prompt, then decode greedily; ids: (B, steps). */
static void greedy(const int *prompt, int B, int P, int steps, int *ids) {
    const int V = g_m.cfg.vocab;
    gpt2_state s;
    status_t st = {0};
    assert_int_equal(gpt2_state_init(&s, &g_m.cfg, B, P, P + steps - 1, &st), ST_OK);
    float *l = fmalloc((size_t)B * V);
    int *next = malloc((size_t)B * sizeof *next);
    assert_non_null(next);
    assert_int_equal(gpt2_forward(&g_m, &s, prompt, P, l, LOGITS_LAST, &st), ST_OK);
    for (int i = 0; i < steps; i++) {
        for (int b = 0; b < B; b++) ids[b * steps + i] = next[b] = argmax_f32(l + (size_t)b * V, V);
        if (i + 1 < steps) assert_int_equal(gpt2_forward(&g_m, &s, next, 1, l, LOGITS_LAST, &st), ST_OK);
    }
    free(l);
    free(next);
    gpt2_state_free(&s);
}

static void test_greedy_continuation(void **state) {
    (void)state;
    const int P = g_ref.n_prompt, S = g_ref.n_cont;
    int *ids = malloc((size_t)2 * S * sizeof *ids);
    assert_non_null(ids);
    greedy(g_ref.prompt, 1, P, S, ids);
    assert_memory_equal(ids, g_ref.cont, (size_t)S * sizeof *ids);
    /* batched with another prompt: the first row is unchanged */
    int *two = malloc((size_t)2 * P * sizeof *two);
    assert_non_null(two);
    memcpy(two, g_ref.prompt, (size_t)P * sizeof *two);
    memcpy(two + P, g_ref.tokens + g_ref.T, (size_t)P * sizeof *two); /* sequence 1's first P ids */
    greedy(two, 2, P, S, ids);
    assert_memory_equal(ids, g_ref.cont, (size_t)S * sizeof *ids);
    free(two);
    free(ids);
}

static void test_greedy_via_command(void **state) {
    (void)state;
    char *tok = ts_tokens_arg(g_ref.prompt, 1, g_ref.n_prompt);
    char steps[16];
    snprintf(steps, sizeof steps, "%d", g_ref.n_cont);
    char *argv[] = {"gpt2-bench", "generate", "--weights", TS_FIXTURE_DIR, "--tokens", tok, "--steps", steps,
                    "--threads", "2"};
    char *out = NULL;
    status_t st;
    int rc = bench(&out, &st, 10, argv);
    if (rc) fail_msg("generate refused (%d): %s", rc, st.msg);
    char want[256] = "";
    for (int i = 0; i < g_ref.n_cont; i++)
        snprintf(want + strlen(want), sizeof want - strlen(want), "%s%d", i ? " " : "", g_ref.cont[i]);
    strcat(want, "\n");
    assert_string_equal(out, want);
    free(out);
    free(tok);
    threads_init(2);
}

/* ---- the n_ctx limit --------------------------------------------------------------- */

static void test_n_ctx_limit_forward(void **state) {
    (void)state;
    const int n_ctx = g_m.cfg.n_ctx, V = g_m.cfg.vocab;
    gpt2_state s;
    status_t st = {0};
    /* a cache longer than n_ctx is refused */
    assert_int_equal(gpt2_state_init(&s, &g_m.cfg, 1, 1, n_ctx + 1, &st), ST_BAD_INPUT);
    assert_non_null(strstr(st.msg, "n_ctx"));
    /* n_ctx positions fit; one more does not */
    assert_int_equal(gpt2_state_init(&s, &g_m.cfg, 1, n_ctx, n_ctx, &st), ST_OK);
    float *l = fmalloc((size_t)V);
    assert_int_equal(gpt2_forward(&g_m, &s, g_ref.full, n_ctx, l, LOGITS_LAST, &st), ST_OK);
    assert_int_equal(s.kv.len, n_ctx);
    assert_true(ts_max_abs_diff(l, g_ref_full + (size_t)(n_ctx - 1) * V, V) <= TOL_REF);
    int one = 1;
    memset(&st, 0, sizeof st);
    assert_int_equal(gpt2_forward(&g_m, &s, &one, 1, l, LOGITS_LAST, &st), ST_BAD_INPUT);
    assert_int_equal(st.code, ST_BAD_INPUT);
    print_message("  refused: %s\n", st.msg);
    assert_non_null(strstr(st.msg, "n_ctx"));
    assert_int_equal(s.kv.len, n_ctx);
    gpt2_state_free(&s);
    /* more tokens in one call than the state was made for */
    assert_int_equal(gpt2_state_init(&s, &g_m.cfg, 1, 4, n_ctx, &st), ST_OK);
    assert_int_equal(gpt2_forward(&g_m, &s, g_ref.full, 5, NULL, LOGITS_NONE, &st), ST_BAD_INPUT);
    assert_int_equal(gpt2_forward(&g_m, &s, g_ref.full, 0, NULL, LOGITS_NONE, &st), ST_BAD_INPUT);
    assert_int_equal(s.kv.len, 0);
    gpt2_state_free(&s);
    free(l);
}

static void test_n_ctx_limit_commands(void **state) {
    (void)state;
    const int n_ctx = g_m.cfg.n_ctx;
    int *toks = malloc((size_t)(n_ctx + 1) * sizeof *toks);
    assert_non_null(toks);
    memcpy(toks, g_ref.full, (size_t)n_ctx * sizeof *toks);
    toks[n_ctx] = 7;
    char *npy = ts_path(g_dir, "ctx.npy");
    status_t st;
    /* logits: n_ctx tokens accepted, in both modes */
    char *ok = ts_tokens_arg(toks, 1, n_ctx), *over = ts_tokens_arg(toks, 1, n_ctx + 1);
    const char *modes[] = {"decode", "prefill"};
    for (int i = 0; i < 2; i++) {
        char *argv[] = {"gpt2-bench", "logits", "--weights", TS_FIXTURE_DIR, "--tokens", ok, "--mode",
                        (char *)modes[i], "--out", npy, "--threads", "2"};
        int rc = bench(NULL, &st, 12, argv);
        if (rc) fail_msg("logits with n_ctx tokens (%s) refused (%d): %s", modes[i], rc, st.msg);
        float *l;
        int nd;
        int64_t sh[8];
        assert_int_equal(npy_read_f32(npy, &l, &nd, sh, &st), ST_OK);
        assert_int_equal(nd, 3);
        assert_int_equal(sh[1], n_ctx);
        assert_true(ts_max_abs_diff(l, g_ref_full, (size_t)n_ctx * g_m.cfg.vocab) <= TOL_REF);
        free(l);
        assert_int_equal(remove(npy), 0);
        /* n_ctx + 1 refused, nothing written */
        char *argv2[] = {"gpt2-bench", "logits", "--weights", TS_FIXTURE_DIR, "--tokens", over, "--mode",
                         (char *)modes[i], "--out", npy, "--threads", "2"};
        rc = bench(NULL, &st, 12, argv2);
        print_message("  refused (%d): %s\n", rc, st.msg);
        assert_int_equal(rc, ST_BAD_INPUT);
        assert_non_null(strstr(st.msg, "n_ctx"));
        assert_false(ts_file_exists(npy));
    }
    /* generate: prompt + steps - 1 positions at most n_ctx */
    char *prompt = ts_tokens_arg(g_ref.prompt, 1, g_ref.n_prompt);
    char steps[16];
    snprintf(steps, sizeof steps, "%d", n_ctx - g_ref.n_prompt + 1);
    char *argv3[] = {"gpt2-bench", "generate", "--weights", TS_FIXTURE_DIR, "--tokens", prompt, "--steps", steps,
                     "--threads", "2"};
    char *out = NULL;
    int rc = bench(&out, &st, 10, argv3);
    if (rc) fail_msg("generate to exactly n_ctx refused (%d): %s", rc, st.msg);
    /* its first 16 ids are the reference continuation */
    char want[256] = "";
    for (int i = 0; i < g_ref.n_cont; i++)
        snprintf(want + strlen(want), sizeof want - strlen(want), "%d ", g_ref.cont[i]);
    assert_true(strncmp(out, want, strlen(want)) == 0);
    free(out);
    snprintf(steps, sizeof steps, "%d", n_ctx - g_ref.n_prompt + 2);
    rc = bench(NULL, &st, 10, argv3);
    print_message("  refused (%d): %s\n", rc, st.msg);
    assert_int_equal(rc, ST_BAD_INPUT);
    assert_non_null(strstr(st.msg, "n_ctx"));
    free(prompt);
    free(ok);
    free(over);
    free(npy);
    free(toks);
    threads_init(2);
}

/* ---- batch independence ---------------------------------------------------------- */

static void check_batch_vs_alone(int prefill) {
    const int B = g_ref.B, T = g_ref.T, V = g_ref.vocab;
    float *batch = fmalloc((size_t)B * T * V), *alone = fmalloc((size_t)B * T * V);
    status_t st = {0};
    assert_int_equal(ts_logits(&g_m, g_ref.tokens, B, T, prefill, batch, &st), ST_OK);
    for (int b = 0; b < B; b++)
        assert_int_equal(ts_logits(&g_m, g_ref.tokens + b * T, 1, T, prefill, alone + (size_t)b * T * V, &st), ST_OK);
    double err = ts_max_abs_diff(batch, alone, (size_t)B * T * V);
    print_message("  %s: batch of %d vs each alone, max abs difference %.3g\n", prefill ? "prefill" : "decode", B,
                  err);
    assert_true(err <= 1e-6);
    /* the order of the batch does not matter either */
    int *rev = malloc((size_t)B * T * sizeof *rev);
    assert_non_null(rev);
    for (int b = 0; b < B; b++) memcpy(rev + b * T, g_ref.tokens + (B - 1 - b) * T, (size_t)T * sizeof *rev);
    assert_int_equal(ts_logits(&g_m, rev, B, T, prefill, batch, &st), ST_OK);
    double err2 = 0;
    for (int b = 0; b < B; b++) {
        double e = ts_max_abs_diff(batch + (size_t)b * T * V, alone + (size_t)(B - 1 - b) * T * V, (size_t)T * V);
        if (e > err2) err2 = e;
    }
    assert_true(err2 <= 1e-6);
    free(rev);
    free(batch);
    free(alone);
}

static void test_batch_vs_alone_decode(void **state) {
    (void)state;
    check_batch_vs_alone(0);
}

static void test_batch_vs_alone_prefill(void **state) {
    (void)state;
    check_batch_vs_alone(1);
}

/* The same call twice gives the same logits. */
static void test_deterministic(void **state) {
    (void)state;
    const int B = g_ref.B, T = g_ref.T, V = g_ref.vocab;
    float *a = fmalloc((size_t)B * T * V), *b = fmalloc((size_t)B * T * V);
    status_t st = {0};
    assert_int_equal(ts_logits(&g_m, g_ref.tokens, B, T, 0, a, &st), ST_OK);
    assert_int_equal(ts_logits(&g_m, g_ref.tokens, B, T, 0, b, &st), ST_OK);
    assert_memory_equal(a, b, (size_t)B * T * V * sizeof *a);
    free(a);
    free(b);
}

/* ---- the packed weights (gpt2_pack) --------------------------------------------------- */

/* With the weights packed for the small-M kernel, on each SIMD path, the
 * logits are still the reference's. */
static void test_packed_reference(void **state) {
    (void)state;
    const int B = g_ref.B, T = g_ref.T, V = g_ref.vocab;
    gpt2_model m;
    status_t st = {0};
    assert_int_equal(gpt2_load(&m, TS_FIXTURE_DIR, &st), ST_OK);
    assert_int_equal(gpt2_pack(&m, &st), ST_OK);
    assert_non_null(m.packed);
    assert_true(m.packed_max_rows >= B * T);
    assert_int_equal(gpt2_pack(&m, &st), ST_OK); /* twice: a no-op */
    gemm_path ps[3];
    const int np = ts_gemm_paths(ps);
    const gemm_path old = gemm_path_current();
    float *l = fmalloc((size_t)B * T * V), *lf = fmalloc((size_t)n_full_logits());
    for (int pi = 0; pi < np; pi++) {
        gemm_path_force(ps[pi]);
        for (int prefill = 0; prefill < 2; prefill++) {
            assert_int_equal(ts_logits(&m, g_ref.tokens, B, T, prefill, l, &st), ST_OK);
            double err = ts_max_abs_diff(l, g_ref_logits, (size_t)B * T * V);
            assert_int_equal(ts_logits(&m, g_ref.full, 1, g_ref.n_full, prefill, lf, &st), ST_OK);
            double errf = ts_max_abs_diff(lf, g_ref_full, n_full_logits());
            print_message("  packed (%s), %s: max abs error vs reference %.3g (full context %.3g)\n",
                          gemm_path_name(ps[pi]), prefill ? "prefill" : "decode", err, errf);
            if (err > TOL_REF || errf > TOL_REF)
                fail_msg("packed %s logits off the reference by %g / %g", prefill ? "prefill" : "decode", err, errf);
        }
        /* greedy generation is unchanged */
        int ids[16];
        gpt2_state s;
        assert_int_equal(gpt2_state_init(&s, &m.cfg, 1, g_ref.n_prompt, g_ref.n_prompt + 15, &st), ST_OK);
        assert_int_equal(gpt2_forward(&m, &s, g_ref.prompt, g_ref.n_prompt, l, LOGITS_LAST, &st), ST_OK);
        for (int i = 0; i < 16; i++) {
            ids[i] = argmax_f32(l, V);
            if (i < 15) assert_int_equal(gpt2_forward(&m, &s, &ids[i], 1, l, LOGITS_LAST, &st), ST_OK);
        }
        gpt2_state_free(&s);
        assert_memory_equal(ids, g_ref.cont, sizeof ids);
    }
    gemm_path_force(old);
    /* a threshold below the rows of a call: that call goes through OpenBLAS */
    m.packed_max_rows = 2;
    assert_int_equal(ts_logits(&m, g_ref.tokens, B, T, 0, l, &st), ST_OK);
    assert_true(ts_max_abs_diff(l, g_ref_logits, (size_t)B * T * V) <= TOL_REF);
    free(l);
    free(lf);
    gpt2_free(&m);
}

/* ---- refused input ------------------------------------------------------------------ */

static void test_tokens_outside_vocab(void **state) {
    (void)state;
    const int V = g_m.cfg.vocab;
    const int bad[] = {-1, V, V + 1, INT_MAX, INT_MIN};
    gpt2_state s;
    status_t st = {0};
    float *l = fmalloc((size_t)3 * 4 * V);
    for (int i = 0; i < 5; i++) {
        /* decode: the bad id in the middle of the batch */
        assert_int_equal(gpt2_state_init(&s, &g_m.cfg, 3, 4, 8, &st), ST_OK);
        int col[3] = {5, bad[i], 7};
        memset(&st, 0, sizeof st);
        assert_int_equal(gpt2_forward(&g_m, &s, col, 1, l, LOGITS_LAST, &st), ST_BAD_INPUT);
        assert_int_equal(st.code, ST_BAD_INPUT);
        char num[32];
        snprintf(num, sizeof num, "%d", bad[i]);
        if (!strstr(st.msg, num) || !strstr(st.msg, "vocabulary"))
            fail_msg("message \"%s\" names neither the id %d nor the vocabulary", st.msg, bad[i]);
        assert_int_equal(s.kv.len, 0);
        /* prefill: the bad id last */
        int seq[12] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, bad[i]};
        assert_int_equal(gpt2_forward(&g_m, &s, seq, 4, l, LOGITS_ALL, &st), ST_BAD_INPUT);
        assert_int_equal(s.kv.len, 0);
        /* the state still works afterwards */
        int good[3];
        for (int b = 0; b < 3; b++) good[b] = g_ref.tokens[b * g_ref.T];
        assert_int_equal(gpt2_forward(&g_m, &s, good, 1, l, LOGITS_LAST, &st), ST_OK);
        for (int b = 0; b < 3; b++)
            assert_true(ts_max_abs_diff(l + (size_t)b * V, g_ref_logits + (size_t)b * g_ref.T * V, V) <= TOL_REF);
        gpt2_state_free(&s);
    }
    free(l);
    /* through the command */
    char *npy = ts_path(g_dir, "vocab.npy");
    char *argv[] = {"gpt2-bench", "logits", "--weights", TS_FIXTURE_DIR, "--tokens", "1,2,101", "--out", npy,
                    "--threads", "2"};
    assert_int_equal(bench(NULL, &st, 10, argv), ST_BAD_INPUT);
    assert_non_null(strstr(st.msg, "101"));
    assert_false(ts_file_exists(npy));
    char *argv2[] = {"gpt2-bench", "generate", "--weights", TS_FIXTURE_DIR, "--tokens", "1,500", "--steps", "2",
                     "--threads", "2"};
    assert_int_equal(bench(NULL, &st, 10, argv2), ST_BAD_INPUT);
    assert_non_null(strstr(st.msg, "500"));
    free(npy);
    threads_init(2);
}

static void test_state_init_refusals(void **state) {
    (void)state;
    gpt2_state s;
    status_t st = {0};
    assert_int_equal(gpt2_state_init(&s, &g_m.cfg, 0, 1, 4, &st), ST_BAD_INPUT);
    assert_int_equal(gpt2_state_init(&s, &g_m.cfg, 1, 0, 4, &st), ST_BAD_INPUT);
    assert_int_equal(gpt2_state_init(&s, &g_m.cfg, -3, 1, 4, &st), ST_BAD_INPUT);
    assert_int_equal(gpt2_state_init(&s, &g_m.cfg, 1, 1, 0, &st), ST_BAD_INPUT);
    assert_true(gpt2_state_bytes(&g_m.cfg, 2, 3, 8, 2) >= kv_bytes(&g_m.cfg, 2, 8, WDT_F32));
    assert_int_equal(kv_bytes(&g_m.cfg, 2, 8, WDT_F32), 2ull * 2 * 2 * 8 * 64 * 4);
}

static void test_argmax(void **state) {
    (void)state;
    float a[] = {-5, -1, -3};
    assert_int_equal(argmax_f32(a, 3), 1);
    float b[] = {2, 7, 7, 1};
    assert_int_equal(argmax_f32(b, 4), 1); /* first on ties */
    float c[] = {-1};
    assert_int_equal(argmax_f32(c, 1), 0);
    float d[] = {0, 0, 0, 9};
    assert_int_equal(argmax_f32(d, 4), 3);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fixture_matches_reference_config),
        cmocka_unit_test(test_reference_decode),
        cmocka_unit_test(test_reference_prefill),
        cmocka_unit_test(test_reference_chunked),
        cmocka_unit_test(test_logits_modes),
        cmocka_unit_test(test_full_ctx_decode),
        cmocka_unit_test(test_full_ctx_prefill),
        cmocka_unit_test(test_greedy_continuation),
        cmocka_unit_test(test_greedy_via_command),
        cmocka_unit_test(test_n_ctx_limit_forward),
        cmocka_unit_test(test_n_ctx_limit_commands),
        cmocka_unit_test(test_batch_vs_alone_decode),
        cmocka_unit_test(test_batch_vs_alone_prefill),
        cmocka_unit_test(test_deterministic),
        cmocka_unit_test(test_packed_reference),
        cmocka_unit_test(test_tokens_outside_vocab),
        cmocka_unit_test(test_state_init_refusals),
        cmocka_unit_test(test_argmax),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
