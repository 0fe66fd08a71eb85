/* test_calc: `gpt2-bench calc` against the published figures of
 * docs/calc.md and ../shared/docs/analytic-model.md, against the GPT-2
 * roofline model (roofline.c, `predict`), and hand-checked cases for each
 * architecture feature. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../bench/calc.h"
#include "../bench/commands.h"
#include "../bench/roofline.h"
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

static calc_model preset(const char *name) {
    calc_model m;
    status_t st;
    if (calc_model_by_name(name, &m, &st)) fail_msg("%s: %s", name, st.msg);
    return m;
}

static calc_params params(const char *name) {
    calc_model m = preset(name);
    calc_params p;
    calc_param_count(&m, &p);
    return p;
}

/* Relative difference. */
static double rel(double a, double b) { return fabs(a - b) / fabs(b); }

/* ---- running the command in-process ----------------------------------------------------- */

#include "test_run.h"

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

static int is_null(const cJSON *o, const char *key) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    if (!v) fail_msg("\"%s\" is missing", key);
    return cJSON_IsNull(v);
}

static void expect_refused(run_result r, const char *n1, const char *n2) {
    if (r.rc != ST_BAD_INPUT) fail_msg("exit %d, expected 2 (message: %s)", r.rc, r.st.msg);
    if (n1 && !strstr(r.st.msg, n1)) fail_msg("message \"%s\" does not mention \"%s\"", r.st.msg, n1);
    if (n2 && !strstr(r.st.msg, n2)) fail_msg("message \"%s\" does not mention \"%s\"", r.st.msg, n2);
    assert_null(strchr(r.st.msg, '\n'));
    free(r.out);
}

static char *write_config(const char *name, const char *text) {
    char *dir = ts_path(g_dir, name);
    assert_non_null(dir);
    mkdir(dir, 0755);
    char *path = ts_path(dir, "config.json");
    assert_int_equal(ts_write_file(path, text, strlen(text)), 0);
    free(dir);
    return path;
}

static calc_model from_json(const char *name, const char *text) {
    char *path = write_config(name, text);
    calc_model m;
    status_t st;
    int rc = calc_model_from_json_file(path, &m, &st);
    if (rc) fail_msg("%s: %s", path, st.msg);
    free(path);
    return m;
}

/* ---- GPT-2: the same bytes and FLOPs as roofline.c / predict ------------------------------- */

static void same_cost(const step_cost *a, const step_cost *b) {
    assert_true(a->weights_bytes == b->weights_bytes);
    assert_true(a->kv_read_bytes == b->kv_read_bytes);
    assert_true(a->kv_write_bytes == b->kv_write_bytes);
    assert_true(a->act_bytes == b->act_bytes);
    assert_true(a->total_bytes == b->total_bytes);
    assert_true(a->dense_flops == b->dense_flops);
    assert_true(a->attention_flops == b->attention_flops);
    assert_true(a->lm_head_flops == b->lm_head_flops);
    assert_true(a->other_flops == b->other_flops);
    assert_true(a->total_flops == b->total_flops);
}

static void test_gpt2_matches_roofline(void **state) {
    (void)state;
    static const char *const names[] = {"gpt2", "gpt2-medium", "gpt2-large", "gpt2-xl"};
    static const int Bs[] = {1, 3, 8, 64, 512}, Ss[] = {0, 1, 100, 1023};
    static const double Qs[] = {4, 2, 1}, Qkvs[] = {4, 2};
    for (int n = 0; n < 4; n++) {
        gpt2_config c;
        status_t st;
        assert_int_equal(config_by_name(names[n], &c, &st), 0);
        calc_model m = preset(names[n]);
        calc_params p;
        calc_param_count(&m, &p);
        assert_true(p.total == config_param_count(&c));
        for (int b = 0; b < 5; b++)
            for (int s = 0; s < 4; s++)
                for (int q = 0; q < 3; q++)
                    for (int k = 0; k < 2; k++) {
                        step_cost want, got;
                        roofline_decode_cost(&c, Bs[b], Ss[s], Qs[q], Qkvs[k], &want);
                        calc_decode_cost(&m, Bs[b], Ss[s], Qs[q], Qkvs[k], &got);
                        same_cost(&got, &want);
                    }
        static const int Ps[] = {1, 7, 128, 1024};
        for (int i = 0; i < 4; i++)
            for (int all = 0; all < 2; all++)
                for (int causal = 0; causal < 2; causal++) {
                    step_cost want, got;
                    roofline_prefill_cost(&c, 2, Ps[i], 4.0, all, causal, &want);
                    calc_prefill_cost(&m, 2, Ps[i], 4.0, 4.0, all, causal, &got);
                    same_cost(&got, &want);
                }
    }
}

static void test_gpt2_crossover_and_rate_match_roofline(void **state) {
    (void)state;
    gpt2_config c;
    status_t st;
    assert_int_equal(config_by_name("gpt2", &c, &st), 0);
    calc_model m = preset("gpt2");
    calc_inputs in;
    calc_inputs_default(&in, &m);
    in.bits = in.kv_bits = 32;
    in.activations = 1; /* predict's model counts activation traffic */
    static const roof_ceilings roofs[] = {{55.0, 436.0}, {100.0, 2000.0}, {20.0, 300.0}};
    for (int r = 0; r < 3; r++)
        for (int S = 0; S <= 64; S += 16) {
            int want = roofline_crossover_batch(&c, S, 4.0, 4.0, &roofs[r]);
            double got = calc_crossover(&m, &in, S, roofs[r].bw_gbs * 1e9, roofs[r].peak_gflops * 1e9);
            /* roofline.c steps B by 1 up to 64, then coarser */
            if (want > 0 && want <= 64) assert_true(got == want);
            else assert_true(want == 0 ? got == 0 || got > 64 : got <= want);
            for (int B = 1; B <= 16; B *= 4) {
                step_cost cost;
                roof_prediction pr;
                roofline_decode_cost(&c, B, S, 4.0, 4.0, &cost);
                roofline_predict(&cost, B, &roofs[r], &pr);
                calc_hardware hw = {.bandwidth = roofs[r].bw_gbs * 1e9, .flops = roofs[r].peak_gflops * 1e9};
                in.batch = B;
                in.context = S;
                calc_sheet sh;
                calc_compute(&m, &hw, &in, &sh);
                assert_true(rel(sh.decode_tok_s, pr.tok_s) < 1e-12);
                assert_int_equal(sh.decode_compute_bound, pr.compute_bound);
            }
        }
    /* without activation traffic (calc's default) only that term goes */
    in.activations = 0;
    double by, fl;
    calc_decode_counted(&m, &in, 8, 100, &by, &fl);
    step_cost cost;
    roofline_decode_cost(&c, 8, 100, 4.0, 4.0, &cost);
    assert_true(by == cost.total_bytes - cost.act_bytes);
    assert_true(fl == cost.total_flops);
}

/* calc --activations and predict print the same figures for gpt2. */
static void test_calc_command_matches_predict(void **state) {
    (void)state;
    static const char *const cases[][4] = {
        {"1", "0", "32", "f32"}, {"8", "512", "32", "f32"}, {"16", "1", "32", "f32"}, {"4", "100", "16", "bf16"}};
    for (int i = 0; i < 4; i++) {
        cJSON *p = json_of(RUN("predict", "--model", "gpt2", "--batch", (char *)cases[i][0], "--context",
                               (char *)cases[i][1], "--dtype", (char *)cases[i][3], "--kv-dtype", (char *)cases[i][3],
                               "--bandwidth", "55", "--flops", "436", "--json", "-"));
        cJSON *c = json_of(RUN("calc", "--model", "gpt2", "--batch", (char *)cases[i][0], "--context",
                               (char *)cases[i][1], "--bits", (char *)cases[i][2], "--kv-bits", (char *)cases[i][2],
                               "--bandwidth", "55", "--flops", "436", "--activations", "--json", "-"));
        assert_true(num(c, "bytes_per_step") == num(p, "bytes_per_step"));
        assert_true(num(c, "flops_per_step") == num(p, "flops_per_step"));
        assert_true(rel(num(c, "decode_tok_s"), num(p, "predicted_tok_s")) < 1e-12);
        assert_true(rel(num(c, "intensity"), num(p, "intensity")) < 1e-12);
        assert_true(rel(num(c, "ridge"), num(p, "ridge")) < 1e-12);
        assert_string_equal(cJSON_GetObjectItem(c, "bound")->valuestring, cJSON_GetObjectItem(p, "bound")->valuestring);
        const char *split[] = {"weights", "kv_read", "kv_write", "activations"};
        for (int k = 0; k < 4; k++)
            assert_true(num(cJSON_GetObjectItem(c, "bytes_per_step_split"), split[k]) ==
                        num(cJSON_GetObjectItem(p, "bytes_per_step_split"), split[k]));
        double pc = num(p, "crossover_batch");
        if (pc > 0 && pc <= 64) assert_true(num(c, "crossover_batch_at_context") == pc);
        cJSON_Delete(p);
        cJSON_Delete(c);
    }
}

/* ---- parameters --------------------------------------------------------------------------- */

static void test_published_parameter_counts(void **state) {
    (void)state;
    /* analytic-model.md and the checkpoints' own counts */
    assert_true(params("gpt2").total == 124439808ull);
    assert_true(params("gpt2-medium").total == 354823168ull);
    assert_true(params("gpt2-large").total == 774030080ull);
    assert_true(params("gpt2-xl").total == 1557611200ull);
    assert_true(params("llama-7b").total == 6738415616ull);
    assert_true(params("llama-13b").total == 13015864320ull);
    assert_true(params("llama2-70b").total == 68976648192ull);
    calc_params mx = params("mixtral-8x7b");
    assert_true(mx.total == 46702792704ull);
    /* Mistral AI: 46.7B total, 12.9B active per token */
    assert_true(fabs(mx.active / 1e9 - 12.9) < 0.05);
    assert_true(mx.active == 12879925248ull);
    /* GPT-3 paper: 175.0B */
    calc_params g3 = params("gpt3-175b");
    assert_true(g3.total == 174604259328ull);
    assert_true(fabs(g3.total / 1e9 - 175.0) < 0.5);
    /* the splits add up */
    static const char *const names[] = {"gpt2", "gpt3-175b", "llama-7b", "llama2-70b", "mixtral-8x7b"};
    for (int i = 0; i < 5; i++) {
        calc_params p = params(names[i]);
        assert_true(p.embedding + p.position + p.lm_head + p.attention + p.mlp + p.experts + p.router + p.norms ==
                    p.total);
        assert_true(p.non_embedding + p.embedding + p.position + p.lm_head == p.total);
    }
    /* 12 L d^2 beside the exact count */
    assert_true(params("gpt2").approx_12ld2 == 12.0 * 12 * 768 * 768);
    assert_true(params("llama-7b").approx_12ld2 == 6442450944.0);
    /* for GPT-2-shaped models the approximation is the non-embedding count
     * less biases and norms: 13 L d */
    calc_params g = params("gpt2-xl");
    assert_true((double)g.non_embedding - g.approx_12ld2 == 13.0 * 48 * 1600 + 2 * 1600);
}

/* Each architecture feature changes the count by what it should. */
static void test_architecture_features(void **state) {
    (void)state;
    calc_model base;
    memset(&base, 0, sizeof base);
    snprintf(base.name, sizeof base.name, "hand");
    base.n_layer = 2;
    base.n_embd = 64;
    base.n_head = 4;
    base.n_kv_head = 4;
    base.head_dim = 16;
    base.d_ff = 256;
    base.vocab = 100;
    base.n_ctx = 32;
    base.tied = 1;
    base.pos = CALC_POS_LEARNED;
    base.norm = CALC_NORM_LAYERNORM;
    base.mlp = CALC_MLP_GELU;
    base.attn_bias = base.mlp_bias = 1;
    calc_params p;
    calc_param_count(&base, &p);
    /* GPT-2 shape by hand: L(12d^2 + 13d) + Vd + Td + 2d */
    assert_true(p.total == 2 * (12 * 64 * 64 + 13 * 64) + 100 * 64 + 32 * 64 + 2 * 64);
    uint64_t t0 = p.total;

    calc_model m = base;
    m.tied = 0; /* untied head: + V d */
    calc_param_count(&m, &p);
    assert_true(p.total == t0 + 100 * 64 && p.lm_head == 6400);
    m = base;
    m.pos = CALC_POS_ROTARY; /* no position table: - T d */
    calc_param_count(&m, &p);
    assert_true(p.total == t0 - 32 * 64 && p.position == 0);
    m = base;
    m.norm = CALC_NORM_RMSNORM; /* no bias in the norms: - d per norm, 2L + 1 norms */
    calc_param_count(&m, &p);
    assert_true(p.total == t0 - 5 * 64);
    m = base;
    m.mlp = CALC_MLP_SWIGLU; /* a third matrix d f, and a bias of f */
    calc_param_count(&m, &p);
    assert_true(p.total == t0 + 2 * (64 * 256 + 256));
    m = base;
    m.attn_bias = m.mlp_bias = 0; /* biases: 4d attention + f + d MLP per layer */
    calc_param_count(&m, &p);
    assert_true(p.total == t0 - 2 * (4 * 64 + 256 + 64));
    m = base;
    m.n_kv_head = 2; /* grouped-query: k and v lose (h - g) hd columns each, and their biases */
    calc_param_count(&m, &p);
    assert_true(p.total == t0 - 2 * (2 * 64 * 32 + 2 * 32));
    assert_true(calc_kv_bytes_per_token(&m, 16) == 2.0 * 2 * 2 * 16 * 2);
    m.n_kv_head = 1; /* multi-query */
    calc_param_count(&m, &p);
    assert_true(p.total == t0 - 2 * (2 * 64 * 48 + 2 * 48));
    assert_true(calc_kv_bytes_per_token(&m, 16) == 2.0 * 2 * 1 * 16 * 2);
    m = base;
    m.n_experts = 4;
    m.top_k = 2; /* experts: 4 MLPs per layer plus a router d E; 2 active */
    calc_param_count(&m, &p);
    uint64_t one = 2 * 64 * 256 + 256 + 64;
    assert_true(p.total == t0 + 2 * (3 * one + 64 * 4));
    assert_true(p.active == p.total - 2 * 2 * one);
    assert_true(p.experts == 2 * 4 * one && p.experts_active == 2 * 2 * one && p.mlp == 0);
    /* decode FLOPs follow the active experts; bytes the experts touched */
    step_cost c1, c0;
    calc_decode_cost(&m, 1, 0, 2, 2, &c1);
    calc_decode_cost(&base, 1, 0, 2, 2, &c0);
    assert_true(c1.dense_flops == c0.dense_flops + 2.0 * 2 * (one - 256 - 64 + 64 * 4));
    assert_true(c1.weights_bytes == 2.0 * (p.active - 32 * 64));
    assert_true(calc_experts_touched(&m, 1) == 2);
    assert_true(fabs(calc_experts_touched(&m, 2) - 4 * (1 - 0.25)) < 1e-12);
    assert_true(fabs(calc_experts_touched(&m, 1000) - 4) < 1e-9);
    step_cost cb;
    calc_decode_cost(&m, 1000, 0, 2, 2, &cb);
    assert_true(fabs(cb.weights_bytes - 2.0 * (p.total - 32 * 64)) < 1e-3);
    /* a sliding window caps the cache and the attention */
    m = base;
    m.sliding_window = 8;
    assert_true(calc_kv_tokens(&m, 30) == 8 && calc_kv_tokens(&m, 5) == 5);
    calc_decode_cost(&m, 1, 30, 2, 2, &c1);
    calc_decode_cost(&base, 1, 8, 2, 2, &c0);
    assert_true(c1.attention_flops == c0.attention_flops && c1.kv_read_bytes == c0.kv_read_bytes);
    step_cost pw;
    calc_prefill_cost(&m, 1, 32, 2, 2, 0, 1, &pw);
    assert_true(pw.attention_flops == 4.0 * 2 * 64 * (8 * 32 - 32));
}

/* ---- memory --------------------------------------------------------------------------------- */

static calc_sheet sheet(const char *name, const char *hw_name, void (*edit)(calc_inputs *)) {
    calc_model m = preset(name);
    calc_hardware hw;
    status_t st;
    if (hw_name && calc_hardware_by_name(hw_name, "bf16", &hw, &st)) fail_msg("%s", st.msg);
    calc_inputs in;
    calc_inputs_default(&in, &m);
    if (edit) edit(&in);
    calc_sheet s;
    calc_compute(&m, hw_name ? &hw : NULL, &in, &s);
    return s;
}

static void bits4(calc_inputs *in) { in->bits = 4; }
static void bits242(calc_inputs *in) { in->bits = 2.42; }
static void bits8(calc_inputs *in) { in->bits = 8; in->kv_bits = 8; }

static void test_weight_and_training_memory(void **state) {
    (void)state;
    const double N = 6738415616.0;
    assert_true(sheet("llama-7b", NULL, NULL).weight_bytes == 2 * N);
    assert_true(sheet("llama-7b", NULL, bits8).weight_bytes == N);
    assert_true(sheet("llama-7b", NULL, bits4).weight_bytes == 3369207808.0);
    /* fractional bits: 6,738,415,616 x 2.42 / 8 = 2,038,370,723.84, rounded up */
    assert_true(sheet("llama-7b", NULL, bits242).weight_bytes == 2038370724.0);
    /* Llama 2 70B in 16 bits: the commonly quoted "140 GB" is 137.95 GB */
    assert_true(fabs(sheet("llama2-70b", NULL, NULL).weight_bytes / 1e9 - 137.95) < 0.01);
    /* mixed-precision Adam, 16 bytes per parameter (ZeRO, Rajbhandari et al.
     * 2020: GPT-2 1.5B needs at least 24 GB) */
    calc_sheet xl = sheet("gpt2-xl", NULL, NULL);
    assert_true(xl.train_memory_bytes == 16.0 * 1557611200.0);
    assert_true(xl.train_memory_bytes >= 24e9 && xl.train_memory_bytes < 25e9);
    assert_true(isnan(xl.train_devices));
    calc_sheet l7 = sheet("llama-7b", "a100-80gb", NULL);
    assert_true(l7.train_memory_bytes == 16 * N);
    assert_true(l7.train_devices == 2); /* 107.8 GB on 80 GB devices */
    assert_true(sheet("llama2-70b", "h100-sxm", NULL).train_devices == 14); /* 1103.6 GB / 80 GB */
}

static void test_lora(void **state) {
    (void)state;
    status_t st;
    unsigned mask;
    calc_model l7 = preset("llama-7b");
    /* alpaca-lora, r = 8 on q_proj, v_proj: "trainable params: 4194304 ||
     * all params: 6742609920" */
    assert_int_equal(calc_lora_targets("q,v", &l7, &mask, &st), 0);
    assert_true(calc_lora_params(&l7, 8, mask) == 4194304ull);
    assert_true(calc_lora_params(&l7, 8, mask) + params("llama-7b").total == 6742609920ull);
    assert_int_equal(calc_lora_targets("q_proj,v_proj", &l7, &mask, &st), 0);
    assert_true(calc_lora_params(&l7, 8, mask) == 4194304ull);
    /* Llama 2 7B (same shape), r = 16 on every linear layer: 39,976,960 */
    assert_int_equal(calc_lora_targets("all", &l7, &mask, &st), 0);
    assert_true(calc_lora_params(&l7, 16, mask) == 39976960ull);
    /* GPT-2, r = 8 on c_attn (q, k, v fused): 294,912 */
    calc_model g = preset("gpt2");
    assert_int_equal(calc_lora_targets("c_attn", &g, &mask, &st), 0);
    assert_true(calc_lora_params(&g, 8, mask) == 294912ull);
    /* GQA: k and v are d x g hd */
    calc_model l70 = preset("llama2-70b");
    assert_int_equal(calc_lora_targets("k,v", &l70, &mask, &st), 0);
    assert_true(calc_lora_params(&l70, 4, mask) == 4ull * 80 * 2 * (8192 + 1024));
    /* MoE: each expert's matrices */
    calc_model mx = preset("mixtral-8x7b");
    assert_int_equal(calc_lora_targets("w1", &mx, &mask, &st), 0);
    assert_true(calc_lora_params(&mx, 2, mask) == 2ull * 32 * 8 * (4096 + 14336));
    /* refused */
    assert_int_equal(calc_lora_targets("gate", &g, &mask, &st), ST_BAD_INPUT);
    assert_non_null(strstr(st.msg, "no gate"));
    assert_int_equal(calc_lora_targets("qkv,q", &g, &mask, &st), ST_BAD_INPUT);
    assert_int_equal(calc_lora_targets("qq", &g, &mask, &st), ST_BAD_INPUT);
    assert_non_null(strstr(st.msg, "did you mean"));
    assert_int_equal(calc_lora_targets("q,", &g, &mask, &st), ST_BAD_INPUT);
    /* all on a GELU model leaves the gate out */
    assert_int_equal(calc_lora_targets("all", &g, &mask, &st), 0);
    assert_true(calc_lora_params(&g, 1, mask) == 12ull * (4 * 2 * 768 + 2 * (768 + 3072)));
}

static void ctx4096(calc_inputs *in) { in->context = 4096; }
static void batch8(calc_inputs *in) { in->batch = 8; }
static void two_devices(calc_inputs *in) { in->devices = 2; }

static void test_kv_cache(void **state) {
    (void)state;
    /* analytic-model.md: LLaMA-7B bf16, 512 KiB per token */
    calc_sheet s = sheet("llama-7b", "a100-80gb", NULL);
    assert_true(s.kv_bytes_per_token == 512.0 * 1024);
    assert_true(s.kv_bytes_per_sequence == 512.0 * 1024 * 2048); /* 1 GiB at its 2048 window */
    assert_true(s.kv_bytes == s.kv_bytes_per_sequence);
    assert_true(sheet("llama-7b", NULL, batch8).kv_bytes == 8.0 * 1024 * 1024 * 1024);
    assert_true(sheet("llama-7b", NULL, bits8).kv_bytes_per_token == 256.0 * 1024);
    /* (80e9 - 13,476,831,232) / 2^30 = 61.95 sequences of 2048 beside the weights */
    assert_true(s.max_sequences == 61);
    assert_true(s.fits == 1);
    assert_true(sheet("llama-7b", "a100-80gb", two_devices).max_sequences == 136);
    /* GQA: Llama 2 70B keeps 8 KV heads: 2 x 80 x 8 x 128 x 2 = 320 KiB per token */
    calc_sheet l70 = sheet("llama2-70b", "a100-80gb", ctx4096);
    assert_true(l70.kv_bytes_per_token == 327680.0);
    assert_true(l70.kv_bytes_per_sequence == 327680.0 * 4096);
    assert_true(l70.max_sequences == 0 && l70.fits == 0); /* 138 GB of weights on one 80 GB device */
    /* GPT-3 175B, 16-bit: 2 x 96 x 12288 x 2 = 4.5 MiB per token */
    assert_true(sheet("gpt3-175b", NULL, NULL).kv_bytes_per_token == 4.5 * 1024 * 1024);
    /* Mixtral: 8 KV heads of 128 over 32 layers: 128 KiB */
    assert_true(sheet("mixtral-8x7b", NULL, NULL).kv_bytes_per_token == 131072.0);
    assert_true(isnan(sheet("llama-7b", NULL, NULL).max_sequences));
}

/* ---- FLOPs ------------------------------------------------------------------------------------ */

static void test_flops_published(void **state) {
    (void)state;
    calc_model xl = preset("gpt2-xl");
    /* analytic-model.md: gpt2-xl over 1024 tokens, dense layers 3.02 TFLOP */
    calc_flops_split f;
    calc_prefill_split(&xl, 1024, 1, 0, &f);
    assert_true(fabs((f.attn_proj + f.mlp) / 1e12 - 3.02) < 0.005);
    /* 16,384 tokens, full attention 2(2 T^2 d) per layer, logits at every
     * position: 133.42 TFLOP, dense 36.2%, attention 61.8% */
    calc_prefill_split(&xl, 16384, 1, 0, &f);
    double mm = f.attn_proj + f.mlp + f.attention + f.logits;
    assert_true(fabs(mm / 1e12 - 133.42) < 0.005);
    assert_true(fabs(100 * (f.attn_proj + f.mlp) / mm - 36.2) < 0.05);
    assert_true(fabs(100 * f.attention / mm - 61.8) < 0.05);
    /* the shares the sheet prints count the elementwise FLOPs too: same digits */
    assert_true(fabs(100 * f.attention / f.total - 61.8) < 0.05);
    /* attention's share grows with the prompt */
    double last = 0;
    for (double P = 512; P <= 65536; P *= 2) {
        calc_prefill_split(&xl, P, 0, 1, &f);
        assert_true(f.attention / f.total > last);
        last = f.attention / f.total;
    }
    /* forward FLOPs per token: 2 x the parameters multiplied, about 2N */
    calc_sheet s = sheet("llama-7b", NULL, NULL);
    assert_true(s.flops_per_token_2n == 2 * 6738415616.0);
    step_cost c;
    calc_model l7 = preset("llama-7b");
    calc_decode_cost(&l7, 1, 0, 2, 2, &c);
    assert_true(c.dense_flops + c.lm_head_flops == 2.0 * (6738415616.0 - 32000.0 * 4096 - 65 * 4096));
    assert_true(rel(c.total_flops, 2 * 6738415616.0) < 0.02);
    /* multiplications per layer at context 2048, by hand: q, k, v, o 4 d^2,
     * scores and mix 2 S d, gate/up/down 3 d f */
    assert_true(s.mults.total == 4.0 * 4096 * 4096 + 2.0 * 2048 * 4096 + 3.0 * 4096 * 11008);
    assert_true(s.mults.total == 219152384.0);
    /* GQA: k and v are d x g hd */
    calc_sheet l70 = sheet("llama2-70b", NULL, NULL);
    assert_true(l70.mults.k == 8192.0 * 1024 && l70.mults.q == 8192.0 * 8192);
    /* attention FLOPs per token: 4 L S h hd */
    assert_true(s.flops_per_token - c.total_flops ==
                4.0 * 32 * 2048 * 4096 + 5.0 * 32 * 32 * 2048); /* + softmax 5 h S per layer */
}

static void gpt3_training(calc_inputs *in) {
    in->tokens = 300e9;
}

static void test_training_published(void **state) {
    (void)state;
    /* GPT-3 paper, Table D.1: 175B on 300B tokens, 3.14E+23 FLOPs */
    calc_sheet g3 = sheet("gpt3-175b", NULL, gpt3_training);
    assert_true(fabs(g3.train_flops / 1e23 - 3.14) < 0.005);
    assert_true(g3.train_flops == 6.0 * 174604259328.0 * 300e9);
    /* Chinchilla: about 20 tokens per parameter, 70B -> 1.4T */
    calc_sheet l70 = sheet("llama2-70b", NULL, NULL);
    assert_true(l70.compute_optimal_tokens == 20.0 * 68976648192.0);
    assert_true(fabs(l70.compute_optimal_tokens / 1e12 - 1.4) < 0.05);
    assert_true(l70.train_tokens == l70.compute_optimal_tokens);
    /* Narayanan et al. 2021 (Megatron-LM): GPT-3 on 300B tokens, 1024 A100s
     * at 140 TFLOP/s each, 8 T P / (n X) with recomputation: about 34 days */
    cJSON *j = json_of(RUN("calc", "--model", "gpt3-175b", "--tokens", "300B", "--flops", "140000", "--mfu", "1",
                           "--devices", "1024", "--recompute", "--json", "-"));
    assert_true(num(j, "train_flops") == 8.0 * 174604259328.0 * 300e9);
    assert_true(round(num(j, "train_time_s") / 86400) == 34);
    cJSON_Delete(j);
    /* hand-checked: LLaMA-7B, 1T tokens, 2048 A100-80GB at MFU 0.5:
     * 6 x 6,738,415,616 x 1e12 / (2048 x 312e12 x 0.5) */
    j = json_of(RUN("calc", "--model", "llama-7b", "--tokens", "1T", "--hardware", "a100-80gb", "--mfu", "0.5",
                    "--devices", "2048", "--json", "-"));
    assert_true(rel(num(j, "train_time_s"), 6 * 6738415616.0 * 1e12 / (2048 * 312e12 * 0.5)) < 1e-12);
    assert_true(num(j, "train_tokens") == 1e12);
    cJSON_Delete(j);
}

/* ---- inference ------------------------------------------------------------------------------ */

static void test_inference_published(void **state) {
    (void)state;
    /* analytic-model.md: LLaMA-7B on an A100 (2.0 TB/s, 312 TFLOP/s bf16):
     * batch-1 decode at most about 148 tokens/s, compute-bound near batch 156 */
    cJSON *j = json_of(RUN("calc", "--model", "llama-7b", "--bandwidth", "2000", "--flops", "312000", "--json", "-"));
    assert_true(round(num(j, "decode_tok_s_batch1")) == 148);
    assert_true(fabs(num(j, "ridge") - 156) < 1e-9);
    double cross = num(j, "crossover_batch");
    /* 161: 2 FLOPs per weight multiplied against 2 bytes per weight read,
     * and 2% of LLaMA-7B's weights (the input embedding) are read but not
     * multiplied, so the intensity is 0.98 B, not B */
    assert_true(rel(cross, 156) < 0.04);
    assert_true(cross == 161);
    assert_true(is_null(j, "crossover_batch_at_context")); /* 1 GiB of KV per sequence at 2048 */
    cJSON_Delete(j);
    /* DDR5: channels x 8 bytes x MT/s: 12 x DDR5-6000 = 576 GB/s */
    assert_true(calc_ddr_bandwidth(12, 6000) == 576e9);
    j = json_of(RUN("calc", "--model", "llama-7b", "--cpu-channels", "12", "--cpu-mts", "6000", "--bits", "4",
                    "--json", "-"));
    assert_true(num(cJSON_GetObjectItem(j, "hardware"), "bandwidth_bytes_s") == 576e9);
    /* memory-bound by hand: 576e9 / (3,369,207,808 B of 4-bit weights + one
     * token's 16-bit K/V, 512 KiB) = 171 tok/s */
    assert_true(rel(num(j, "decode_tok_s_batch1"), 576e9 / (3369207808.0 + 524288)) < 1e-12);
    assert_true(is_null(j, "crossover_batch")); /* no FLOP/s given */
    cJSON_Delete(j);
}

static void test_inference_hand_checked(void **state) {
    (void)state;
    /* TTFT: LLaMA-7B, 2048-token prompt on an A100 80GB at MFU 0.4:
     * 2 x 2048 x (L (4d^2 + 3 d f)) + 2 L P^2 d + 2 V d + elementwise */
    calc_model l7 = preset("llama-7b");
    calc_sheet s = sheet("llama-7b", "a100-80gb", NULL);
    double dense = 2.0 * 2048 * 32 * (4.0 * 4096 * 4096 + 3.0 * 4096 * 11008);
    double attn = 2.0 * 32 * 2048.0 * 2048 * 4096;
    double lm = 2.0 * 32000 * 4096;
    double other = 2048.0 * (32 * (2 * 4 * 4096 + 5 * 11008 + 2 * 4096) + 4 * 4096);
    assert_true(s.prefill_flops == dense + attn + lm + other);
    assert_true(rel(s.ttft_s, s.prefill_flops / (312e12 * 0.4)) < 1e-12);
    /* decode at batch B and context S: memory-bound, B / ((weights + KV) / M) */
    double kv = 2.0 * 32 * 2048 * 4096 * 2 + 2.0 * 32 * 4096 * 2;
    assert_true(rel(s.decode_tok_s, 1 / ((2 * 6738415616.0 + kv) / 2039e9)) < 1e-12);
    assert_false(s.decode_compute_bound);
    (void)l7;

    /* devices for 32 users at 20 tokens/s each, Llama 2 70B at 4096 on A100 80GB:
     * memory (137.95 GB + 32 x 1.342 GB) / 80 GB -> 3; bandwidth 180.9 GB x 20 / 2039 GB/s -> 2 */
    cJSON *j = json_of(RUN("calc", "--model", "llama2-70b", "--hardware", "a100-80gb", "--context", "4096", "--users",
                           "32", "--tok-s-per-user", "20", "--price-per-hour", "2", "--json", "-"));
    double w = 2 * 68976648192.0, kvs = 327680.0 * 4096;
    double need_mem = ceil((w + 32 * kvs) / 80e9);
    double step_bytes = w + 32 * kvs + 32 * 2.0 * 80 * 1024 * 2;
    double need_bw = ceil(step_bytes * 20 / 2039e9);
    assert_true(need_mem == 3 && need_bw == 2);
    assert_true(num(j, "devices_needed") == 3);
    /* cost: 3 devices x $2/h serving the 32 users at 3 x 2039 GB/s */
    double tok_s = 32 / (step_bytes / (3 * 2039e9));
    assert_true(rel(num(j, "serve_tok_s"), tok_s) < 1e-12);
    assert_true(rel(num(j, "cost_per_million_tokens"), 2.0 * 3 / 3600 / tok_s * 1e6) < 1e-12);
    cJSON_Delete(j);

    /* weights alone bound the devices without a rate target */
    j = json_of(RUN("calc", "--model", "llama2-70b", "--hardware", "h100-sxm", "--context", "4096", "--batch", "1",
                    "--json", "-"));
    assert_true(num(j, "devices_needed") == 2);
    assert_true(is_null(j, "cost_per_million_tokens"));
    cJSON_Delete(j);

    /* tensor parallel: n devices, n x the bandwidth */
    j = json_of(RUN("calc", "--model", "llama2-70b", "--hardware", "h100-sxm", "--devices", "4", "--json", "-"));
    /* batch 1, nothing cached: the weights and one token's K/V written */
    double b1 = num(j, "decode_tok_s_batch1");
    assert_true(rel(b1, 4 * 3350e9 / (2 * 68976648192.0 + 80 * 2 * 1024 * 2.0)) < 1e-12);
    cJSON_Delete(j);

    /* MoE: batch 1 reads the two experts it is routed to; a large batch all eight */
    j = json_of(RUN("calc", "--model", "mixtral-8x7b", "--bandwidth", "1000", "--flops", "1000000", "--context", "0",
                    "--json", "-"));
    assert_true(rel(num(j, "decode_tok_s_batch1"), 1e12 / (2 * 12879925248.0 + 32 * 2 * 1024 * 2.0)) < 1e-12);
    cJSON_Delete(j);
    j = json_of(RUN("calc", "--model", "mixtral-8x7b", "--bandwidth", "1000", "--flops", "1000000", "--context", "0",
                    "--batch", "4096", "--json", "-"));
    assert_true(rel(num(cJSON_GetObjectItem(j, "bytes_per_step_split"), "weights"), 2 * 46702792704.0) < 1e-9);
    cJSON_Delete(j);

    /* fp8 compute on an H100 doubles the FLOP/s: the crossover doubles */
    j = json_of(RUN("calc", "--model", "llama-7b", "--hardware", "h100-sxm", "--compute", "fp8", "--bits", "8",
                    "--json", "-"));
    assert_true(num(cJSON_GetObjectItem(j, "hardware"), "flops") == 1978.9e12);
    cJSON_Delete(j);
}

/* ---- hardware ---------------------------------------------------------------------------------- */

static void test_hardware(void **state) {
    (void)state;
    calc_hardware hw;
    status_t st;
    struct {
        const char *name;
        double mem_gb, bw_gbs, bf16_t, fp8_t;
    } want[] = {{"a100-40gb", 40, 1555, 312, 0},       {"a100-80gb", 80, 2039, 312, 0},
                {"h100-sxm", 80, 3350, 989.4, 1978.9}, {"h100-pcie", 80, 2000, 756, 1513},
                {"h200", 141, 4800, 989.4, 1978.9},    {"rtx-4090", 24, 1008, 165.2, 330.3},
                {"l4", 24, 300, 121, 242.5}};
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        assert_int_equal(calc_hardware_by_name(want[i].name, "bf16", &hw, &st), 0);
        assert_true(hw.memory_bytes == want[i].mem_gb * 1e9);
        assert_true(hw.bandwidth == want[i].bw_gbs * 1e9);
        assert_true(hw.flops == want[i].bf16_t * 1e12 && hw.flops_fp8 == want[i].fp8_t * 1e12);
        assert_non_null(strstr(hw.source, "sparsity"));
        if (want[i].fp8_t > 0) {
            assert_int_equal(calc_hardware_by_name(want[i].name, "fp8", &hw, &st), 0);
            assert_true(hw.flops == want[i].fp8_t * 1e12);
        } else {
            assert_int_equal(calc_hardware_by_name(want[i].name, "fp8", &hw, &st), ST_BAD_INPUT);
            assert_non_null(strstr(st.msg, "FP8"));
        }
    }
    assert_int_equal(calc_hardware_by_name("H100-SXM", "bf16", &hw, &st), 0);
    assert_int_equal(calc_hardware_by_name("h100-sx", "bf16", &hw, &st), ST_BAD_INPUT);
    assert_non_null(strstr(st.msg, "did you mean h100-sxm"));
    assert_int_equal(calc_hardware_by_name("tpu", "bf16", &hw, &st), ST_BAD_INPUT);
    assert_int_equal(calc_hardware_by_name("l4", "int4", &hw, &st), ST_BAD_INPUT);

    /* --machine: this machine's measured ceilings */
    char *mf = ts_path(g_dir, "machine.json");
    const char *mj = "{\"read_gbs\": 50.5, \"peak_gflops\": 800, \"copy_gbs\": 30}";
    assert_int_equal(ts_write_file(mf, mj, strlen(mj)), 0);
    cJSON *j = json_of(RUN("calc", "--model", "gpt2", "--machine", mf, "--memory", "64", "--json", "-"));
    cJSON *h = cJSON_GetObjectItem(j, "hardware");
    assert_true(num(h, "bandwidth_bytes_s") == 50.5e9 && num(h, "flops") == 800e9 && num(h, "memory_bytes") == 64e9);
    assert_false(is_null(j, "decode_tok_s") || is_null(j, "max_sequences") || is_null(j, "crossover_batch"));
    cJSON_Delete(j);
    /* a preset with a figure given by hand */
    j = json_of(RUN("calc", "--model", "gpt2", "--hardware", "a100-80gb", "--bandwidth", "2000", "--json", "-"));
    h = cJSON_GetObjectItem(j, "hardware");
    assert_true(num(h, "bandwidth_bytes_s") == 2000e9 && num(h, "flops") == 312e12);
    cJSON_Delete(j);
    expect_refused(RUN("calc", "--model", "gpt2", "--machine", "/nonexistent/m.json"), "cannot open", NULL);
    const char *bad = "{\"copy_gbs\": 30}";
    assert_int_equal(ts_write_file(mf, bad, strlen(bad)), 0);
    expect_refused(RUN("calc", "--model", "gpt2", "--machine", mf), "read_gbs", NULL);
    free(mf);
}

/* ---- Hugging Face configs ------------------------------------------------------------------------ */

static void test_hf_configs(void **state) {
    (void)state;
    /* the gpt2 fixture: n_inner null -> 4d, tied */
    calc_model g;
    status_t st;
    assert_int_equal(calc_model_from_json_file("tests/fixtures/gpt2-tiny", &g, &st), 0);
    assert_string_equal(g.name, "gpt2-tiny");
    calc_params p;
    calc_param_count(&g, &p);
    assert_true(p.total == 2 * (12 * 64 * 64 + 13 * 64) + 101 * 64 + 32 * 64 + 2 * 64);
    assert_true(g.d_ff == 256 && g.tied);
    /* gpt2 with n_inner and an untied head */
    g = from_json("gpt2-inner", "{\"model_type\":\"gpt2\",\"n_layer\":2,\"n_head\":4,\"n_embd\":64,\"n_positions\":32,"
                                "\"vocab_size\":101,\"n_inner\":128,\"tie_word_embeddings\":false}");
    calc_param_count(&g, &p);
    assert_true(p.total == 2 * (4 * 64 * 64 + 4 * 64 + 2 * 64 * 128 + 128 + 64 + 4 * 64) + 2 * 101 * 64 + 32 * 64 +
                               2 * 64);
    /* llama: LLaMA-7B's config.json gives the preset's count */
    calc_model l = from_json("llama-7b-hf",
                             "{\"model_type\":\"llama\",\"hidden_size\":4096,\"intermediate_size\":11008,"
                             "\"num_attention_heads\":32,\"num_hidden_layers\":32,\"vocab_size\":32000,"
                             "\"max_position_embeddings\":2048,\"hidden_act\":\"silu\",\"rms_norm_eps\":1e-06,"
                             "\"tie_word_embeddings\":false}");
    calc_param_count(&l, &p);
    assert_true(p.total == 6738415616ull);
    assert_string_equal(l.name, "llama-7b-hf");
    /* Llama 3.2 1B: tied head, GQA 8 of 32 heads, head_dim 64: 1,235,814,400 */
    l = from_json("llama-3.2-1b", "{\"model_type\":\"llama\",\"hidden_size\":2048,\"intermediate_size\":8192,"
                                  "\"num_attention_heads\":32,\"num_key_value_heads\":8,\"head_dim\":64,"
                                  "\"num_hidden_layers\":16,\"vocab_size\":128256,\"max_position_embeddings\":131072,"
                                  "\"tie_word_embeddings\":true,\"attention_bias\":false,\"mlp_bias\":false}");
    calc_param_count(&l, &p);
    assert_true(p.total == 1235814400ull);
    assert_true(calc_kv_bytes_per_token(&l, 16) == 2.0 * 16 * 8 * 64 * 2); /* 32 KiB */
    /* attention biases: + L (q + 2 kv + d) */
    l = from_json("llama-bias", "{\"model_type\":\"llama\",\"hidden_size\":2048,\"intermediate_size\":8192,"
                                "\"num_attention_heads\":32,\"num_key_value_heads\":8,\"head_dim\":64,"
                                "\"num_hidden_layers\":16,\"vocab_size\":128256,\"max_position_embeddings\":131072,"
                                "\"tie_word_embeddings\":true,\"attention_bias\":true}");
    calc_param_count(&l, &p);
    assert_true(p.total == 1235814400ull + 16 * (2048 + 2 * 512 + 2048));
    /* Mistral 7B v0.1: 7,241,732,096 parameters, GQA 8 heads, a 4096 window */
    calc_model mi =
        from_json("mistral-7b", "{\"model_type\":\"mistral\",\"hidden_size\":4096,\"intermediate_size\":14336,"
                                "\"num_attention_heads\":32,\"num_key_value_heads\":8,\"num_hidden_layers\":32,"
                                "\"vocab_size\":32000,\"max_position_embeddings\":32768,"
                                "\"sliding_window\":4096,\"tie_word_embeddings\":false}");
    calc_param_count(&mi, &p);
    assert_true(p.total == 7241732096ull);
    assert_true(calc_kv_bytes_per_token(&mi, 16) == 131072.0);
    assert_true(calc_kv_tokens(&mi, 8192) == 4096);
    unsigned mask;
    assert_int_equal(calc_lora_targets("all", &mi, &mask, &st), 0);
    assert_true(calc_lora_params(&mi, 16, mask) == 41943040ull); /* r = 16 on all linear layers */
    /* Mixtral 8x7B: 46,702,792,704 */
    calc_model mx =
        from_json("mixtral", "{\"model_type\":\"mixtral\",\"hidden_size\":4096,\"intermediate_size\":14336,"
                             "\"num_attention_heads\":32,\"num_key_value_heads\":8,\"num_hidden_layers\":32,"
                             "\"vocab_size\":32000,\"max_position_embeddings\":32768,\"sliding_window\":null,"
                             "\"num_local_experts\":8,\"num_experts_per_tok\":2}");
    calc_param_count(&mx, &p);
    assert_true(p.total == 46702792704ull && p.active == 12879925248ull);
    assert_int_equal(mx.sliding_window, 0);
    /* through the command */
    char *path = write_config("cmd-mixtral", "{\"model_type\":\"mixtral\",\"hidden_size\":4096,\"intermediate_size\":"
                                             "14336,\"num_attention_heads\":32,\"num_key_value_heads\":8,"
                                             "\"num_hidden_layers\":32,\"vocab_size\":32000,"
                                             "\"max_position_embeddings\":32768,\"num_local_experts\":8,"
                                             "\"num_experts_per_tok\":2}");
    cJSON *j = json_of(RUN("calc", "--config", path, "--json", "-"));
    assert_true(num(j, "parameters_total") == 46702792704.0 && num(j, "parameters_active") == 12879925248.0);
    cJSON_Delete(j);
    free(path);

    /* refused, one line each */
    static const char *const bad[][2] = {
        {"{\"model_type\":\"falcon\",\"hidden_size\":64}", "not supported"},
        {"{\"model_type\":\"llama\",\"num_hidden_layers\":2}", "hidden_size"},
        {"{\"model_type\":\"llama\",\"hidden_size\":64,\"intermediate_size\":128,\"num_attention_heads\":4,"
         "\"num_key_value_heads\":3,\"num_hidden_layers\":2,\"vocab_size\":10,\"max_position_embeddings\":16}",
         "divide"},
        {"{\"model_type\":\"llama\",\"hidden_size\":64.5}", "whole number"},
        {"{\"model_type\":\"llama\",\"hidden_size\":64,\"intermediate_size\":128,\"num_attention_heads\":4,"
         "\"num_hidden_layers\":2,\"vocab_size\":10,\"max_position_embeddings\":16,\"tie_word_embeddings\":1}",
         "true or false"},
        {"{\"model_type\":\"mixtral\",\"hidden_size\":64,\"intermediate_size\":128,\"num_attention_heads\":4,"
         "\"num_hidden_layers\":2,\"vocab_size\":10,\"max_position_embeddings\":16}",
         "num_local_experts"},
        {"[1,2]", "not a JSON object"},
        {"{\"n_layer\":2}", "n_head"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char name[32];
        snprintf(name, sizeof name, "bad%zu", i);
        char *bp = write_config(name, bad[i][0]);
        expect_refused(RUN("calc", "--config", bp), bad[i][1], NULL);
        free(bp);
    }
    expect_refused(RUN("calc", "--config", "/nonexistent/config.json"), "cannot open", NULL);
}

/* ---- the command: names, explanations, refusals ------------------------------------------------------ */

static void test_json_names_and_explain(void **state) {
    (void)state;
    static const char *const names[] = {
        "parameters_total", "parameters_active", "weight_bytes", "train_memory_bytes", "lora_parameters",
        "kv_bytes_per_token", "kv_bytes", "max_sequences", "flops_per_token", "prefill_flops", "train_flops",
        "train_tokens", "train_time_s", "decode_tok_s", "decode_tok_s_batch1", "crossover_batch", "ttft_s",
        "devices_needed", "cost_per_million_tokens"};
    cJSON *j = json_of(RUN("calc", "--model", "llama-13b", "--hardware", "h100-pcie", "--batch", "4", "--context",
                           "1024", "--lora-rank", "16", "--lora-targets", "q,k,v,o", "--price-per-hour", "2.5",
                           "--explain", "--json", "-"));
    cJSON *ex = cJSON_GetObjectItem(j, "explain");
    assert_non_null(ex);
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        if (!cJSON_IsNumber(cJSON_GetObjectItem(j, names[i]))) fail_msg("\"%s\" is not a number", names[i]);
        const char *e = cJSON_GetStringValue(cJSON_GetObjectItem(ex, names[i]));
        if (!e || strlen(e) < 20) fail_msg("no explanation for \"%s\"", names[i]);
    }
    assert_true(num(j, "kv_bytes") == 4 * 1024 * 819200.0); /* LLaMA-13B: 800 KiB per token */
    assert_true(num(j, "lora_parameters") == 16.0 * 40 * 4 * (5120 + 5120));
    assert_true(num(j, "weight_bytes") == 2 * 13015864320.0);
    cJSON_Delete(j);
    /* without hardware the hardware figures are null, the rest are there */
    j = json_of(RUN("calc", "--model", "gpt2", "--json", "-"));
    assert_true(is_null(j, "hardware") && is_null(j, "decode_tok_s") && is_null(j, "max_sequences") &&
                is_null(j, "train_time_s") && is_null(j, "devices_needed"));
    assert_true(num(j, "parameters_total") == 124439808.0);
    assert_true(num(cJSON_GetObjectItem(j, "inputs"), "kv_bits") == 16);
    cJSON_Delete(j);

    /* the human table and --explain */
    run_result r = RUN("calc", "--model", "mixtral-8x7b", "--hardware", "h200", "--explain");
    assert_int_equal(r.rc, 0);
    assert_non_null(strstr(r.out, "46,702,792,704"));
    assert_non_null(strstr(r.out, "12,879,925,248"));
    assert_non_null(strstr(r.out, "12 L d^2"));
    assert_non_null(strstr(r.out, "16 bytes per parameter"));
    assert_non_null(strstr(r.out, "sparsity"));
    assert_non_null(strstr(r.out, "experts (all)"));
    free(r.out);
    r = RUN("calc", "--help");
    assert_int_equal(r.rc, 0);
    assert_non_null(strstr(r.out, "--lora-targets"));
    free(r.out);
    /* --tokens suffixes */
    j = json_of(RUN("calc", "--model", "gpt2", "--tokens", "2.5M", "--json", "-"));
    assert_true(num(j, "train_tokens") == 2.5e6);
    cJSON_Delete(j);
}

static void test_refusals(void **state) {
    (void)state;
    expect_refused(RUN("calc"), "--model", NULL);
    expect_refused(RUN("calc", "--model", "llama-8b"), "did you mean", "llama-7b");
    expect_refused(RUN("calc", "--model", "bert"), "unknown model", NULL);
    expect_refused(RUN("calc", "--model", "gpt2", "--config", "x.json"), "not both", NULL);
    expect_refused(RUN("calc", "--model", "gpt2", "--bits", "0"), "--bits", NULL);
    expect_refused(RUN("calc", "--model", "gpt2", "--bits", "65"), "--bits", NULL);
    expect_refused(RUN("calc", "--model", "gpt2", "--batch", "0"), "--batch", NULL);
    expect_refused(RUN("calc", "--model", "gpt2", "--mfu", "1.5"), "--mfu", NULL);
    expect_refused(RUN("calc", "--model", "gpt2", "--tokens", "many"), "--tokens", NULL);
    expect_refused(RUN("calc", "--model", "gpt2", "--tokens", "3X"), "--tokens", NULL);
    expect_refused(RUN("calc", "--model", "gpt2", "--json", "out.json"), "--json", NULL);
    expect_refused(RUN("calc", "--model", "gpt2", "--attention", "sparse"), "causal", NULL);
    expect_refused(RUN("calc", "--model", "gpt2", "--logits", "some"), "last", NULL);
    expect_refused(RUN("calc", "--model", "gpt2", "--lora-targets", "gate"), "no gate", NULL);
    expect_refused(RUN("calc", "--model", "gpt2", "--hardware", "a100"), "did you mean", NULL);
    expect_refused(RUN("calc", "--model", "gpt2", "--hardware", "a100-80gb", "--compute", "fp8"), "FP8", NULL);
    expect_refused(RUN("calc", "--model", "gpt2", "--compute", "fp8"), "--hardware", NULL);
    expect_refused(RUN("calc", "--model", "gpt2", "--cpu-channels", "12"), "--cpu-mts", NULL);
    expect_refused(RUN("calc", "--model", "gpt2", "--hardware", "l4", "--cpu-channels", "2", "--cpu-mts", "4800"),
                   "one of", NULL);
    expect_refused(RUN("calc", "--model", "gpt2", "--bandwidth", "-5"), "--bandwidth", NULL);
    expect_refused(RUN("calc", "--model", "gpt2", "--batchh", "2"), "did you mean --batch", NULL);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_gpt2_matches_roofline),
        cmocka_unit_test(test_gpt2_crossover_and_rate_match_roofline),
        cmocka_unit_test(test_calc_command_matches_predict),
        cmocka_unit_test(test_published_parameter_counts),
        cmocka_unit_test(test_architecture_features),
        cmocka_unit_test(test_weight_and_training_memory),
        cmocka_unit_test(test_lora),
        cmocka_unit_test(test_kv_cache),
        cmocka_unit_test(test_flops_published),
        cmocka_unit_test(test_training_published),
        cmocka_unit_test(test_inference_published),
        cmocka_unit_test(test_inference_hand_checked),
        cmocka_unit_test(test_hardware),
        cmocka_unit_test(test_hf_configs),
        cmocka_unit_test(test_json_names_and_explain),
        cmocka_unit_test(test_refusals),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
