/* test_weights_tool: gpt2-weights in-process (weights_main): init ->
 * inspect -> load -> logits equal to gpt2_synthetic's; convert to bf16,
 * f16, int8 and their accuracy against f32; the int8 layout and malformed
 * int8 folders; refusing to overwrite; fetch without network, from a
 * file:// mirror and from a loopback HTTP server (checksum, resume). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>

#include "../kernels/kernels.h"
#include "../weights_tools/weights_tool.h"
#include "test_support.h"

#define L_ 2
#define D_ 64
#define H_ 4
#define V_ 101
#define T_ 32
#define SEED_ 7

static char *g_dir;  /* a temporary folder for the whole program */
static char *g_f32;  /* g_dir/f32: the init output */

/* Runs gpt2-weights with the given arguments; output in *out (malloc'd,
 * may be NULL), status in *st. */
static int run(char **out, status_t *st, int argc, ...) {
    char *argv[32];
    argv[0] = "gpt2-weights";
    va_list ap;
    va_start(ap, argc);
    for (int i = 0; i < argc; i++) argv[i + 1] = va_arg(ap, char *);
    va_end(ap);
    argv[argc + 1] = NULL;
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    assert_non_null(f);
    memset(st, 0, sizeof *st);
    int rc = weights_main(argc + 1, argv, f, st);
    fclose(f);
    if (out)
        *out = buf;
    else
        free(buf);
    return rc;
}

static double now_s(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + t.tv_nsec * 1e-9;
}

static int group_setup(void **state) {
    (void)state;
    threads_init(2);
    g_dir = ts_mkdtemp();
    if (!g_dir) return -1;
    g_f32 = ts_path(g_dir, "f32");
    char seed[16];
    snprintf(seed, sizeof seed, "%d", SEED_);
    char *argv[] = {"gpt2-weights", "init", "--layers", "2", "--width", "64", "--heads", "4", "--vocab", "101",
                    "--ctx", "32", "--seed", seed, "--out", g_f32, NULL};
    status_t st = {0};
    FILE *devnull = fopen("/dev/null", "w");
    int rc = weights_main(16, argv, devnull, &st);
    fclose(devnull);
    if (rc) fprintf(stderr, "init failed: %s\n", st.msg);
    return rc ? -1 : 0;
}

static int group_teardown(void **state) {
    (void)state;
    ts_rmtree(g_dir);
    free(g_dir);
    free(g_f32);
    return 0;
}

static void tiny_config(gpt2_config *c) {
    memset(c, 0, sizeof *c);
    snprintf(c->name, sizeof c->name, "tiny");
    c->n_layer = L_;
    c->n_embd = D_;
    c->n_head = H_;
    c->vocab = V_;
    c->n_ctx = T_;
    c->ln_eps = 1e-5f;
}

/* B x T tokens */
#define B_ 3
#define TT_ 16
static void tokens(int *t) {
    uint64_t s = 99;
    for (int i = 0; i < B_ * TT_; i++) t[i] = (int)(ts_rand_u64(&s) % V_);
}

static float *logits_of(const char *path) {
    int tok[B_ * TT_];
    tokens(tok);
    float *l = NULL;
    status_t st = {0};
    int rc = ts_load_logits(path, tok, B_, TT_, 1, &l, &st);
    if (rc) fail_msg("loading %s: %s", path, st.msg);
    return l;
}

/* max abs difference and top-1 agreement of two (B*T, V) logit sets */
static void compare_logits(const char *what, const float *a, const float *b, double *max_abs, double *agree) {
    const size_t rows = (size_t)B_ * TT_;
    double mx = 0, mean = 0;
    int same = 0;
    for (size_t r = 0; r < rows; r++) {
        same += argmax_f32(a + r * V_, V_) == argmax_f32(b + r * V_, V_);
        for (int v = 0; v < V_; v++) {
            double d = fabs((double)a[r * V_ + v] - b[r * V_ + v]);
            mean += d;
            if (!(d <= mx)) mx = d;
        }
    }
    *max_abs = mx;
    *agree = (double)same / (double)rows;
    print_message("%s vs f32: logits max abs diff %.3g, mean abs diff %.3g, top-1 agreement %d/%d (%.1f%%)\n", what,
                  mx, mean / (double)(rows * V_), same, (int)rows, 100.0 * *agree);
}

/* ---- help and arguments ----------------------------------------------------- */

static void test_help(void **state) {
    (void)state;
    status_t st;
    char *out;
    assert_int_equal(run(&out, &st, 1, "--help"), 0);
    assert_non_null(strstr(out, "convert"));
    free(out);
    const char *cmds[] = {"init", "inspect", "convert", "fetch"};
    for (int i = 0; i < 4; i++) {
        assert_int_equal(run(&out, &st, 2, (char *)cmds[i], "--help"), 0);
        assert_non_null(strstr(out, "usage: gpt2-weights"));
        free(out);
    }
    assert_int_equal(run(NULL, &st, 0), 2);
    assert_int_equal(run(NULL, &st, 1, "inspekt"), 2);
    assert_non_null(strstr(st.msg, "did you mean 'inspect'"));
    assert_int_equal(run(NULL, &st, 3, "inspect", g_f32, "--jsn"), 2);
    assert_non_null(strstr(st.msg, "did you mean --json"));
    assert_int_equal(run(NULL, &st, 1, "inspect"), 2);
    assert_int_equal(run(NULL, &st, 6, "convert", g_f32, "--dtype", "fp8", "--out", "/tmp/x"), 2);
    assert_non_null(strstr(st.msg, "bf16, f16 or int8"));
    assert_int_equal(run(NULL, &st, 4, "init", "--model", "gpt3", "--out"), 2);
    assert_int_equal(run(NULL, &st, 5, "init", "--model", "gpt3", "--out", "/tmp/x"), 2);
    assert_non_null(strstr(st.msg, "unknown model"));
    assert_int_equal(run(NULL, &st, 3, "init", "--layers", "2"), 2);
    assert_int_equal(run(NULL, &st, 2, "inspect", "/nonexistent/model"), 2);
}

/* ---- init -> inspect -> load ------------------------------------------------ */

static void test_init_inspect_load(void **state) {
    (void)state;
    status_t st;
    char *out;
    assert_int_equal(run(&out, &st, 2, "inspect", g_f32), 0);
    assert_non_null(strstr(out, "check        ok"));
    assert_non_null(strstr(out, "loader       ok"));
    assert_non_null(strstr(out, "h.1.mlp.c_proj.weight"));
    assert_non_null(strstr(out, "NaN/Inf      none"));
    free(out);
    assert_int_equal(run(&out, &st, 4, "inspect", g_f32, "--json", "-"), 0);
    cJSON *j = cJSON_Parse(out);
    assert_non_null(j);
    gpt2_config c;
    tiny_config(&c);
    assert_true(cJSON_GetObjectItem(j, "parameters")->valuedouble == (double)config_param_count(&c));
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(j, "tensors")), 4 + 12 * L_);
    assert_true(cJSON_IsTrue(cJSON_GetObjectItem(cJSON_GetObjectItem(j, "check"), "ok")));
    assert_true(cJSON_IsTrue(cJSON_GetObjectItem(cJSON_GetObjectItem(j, "loader"), "ok")));
    const cJSON *ps = cJSON_GetObjectItem(j, "per_decode_step");
    assert_float_equal(cJSON_GetObjectItem(ps, "q_effective")->valuedouble, 4.0, 1e-9);
    /* every weight but wpe: the roofline's count (which adds no biases' share differently) */
    assert_float_equal(cJSON_GetObjectItem(ps, "weight_bytes")->valuedouble,
                       4.0 * (double)(config_param_count(&c) - (uint64_t)T_ * D_), 0.5);
    cJSON_Delete(j);
    free(out);
    /* config.json: the Hugging Face keys */
    char *cp = ts_path(g_f32, "config.json");
    char *text = ts_read_file(cp, NULL);
    assert_non_null(text);
    cJSON *cfg = cJSON_Parse(text);
    assert_string_equal(cJSON_GetObjectItem(cfg, "model_type")->valuestring, "gpt2");
    assert_string_equal(cJSON_GetObjectItem(cfg, "activation_function")->valuestring, "gelu_new");
    assert_int_equal(cJSON_GetObjectItem(cfg, "n_layer")->valueint, L_);
    assert_int_equal(cJSON_GetObjectItem(cfg, "n_positions")->valueint, T_);
    assert_int_equal(cJSON_GetObjectItem(cfg, "n_ctx")->valueint, T_);
    assert_int_equal(cJSON_GetObjectItem(cfg, "vocab_size")->valueint, V_);
    assert_non_null(cJSON_GetObjectItem(cfg, "layer_norm_epsilon"));
    cJSON_Delete(cfg);
    free(text);
    free(cp);
    /* the loaded checkpoint is gpt2_synthetic with that seed: same logits, bit for bit */
    gpt2_model syn;
    assert_int_equal(gpt2_synthetic(&syn, &c, SEED_, &st), 0);
    int tok[B_ * TT_];
    tokens(tok);
    float *ref = malloc((size_t)B_ * TT_ * V_ * sizeof *ref);
    assert_int_equal(ts_logits(&syn, tok, B_, TT_, 1, ref, &st), 0);
    gpt2_free(&syn);
    float *got = logits_of(g_f32);
    assert_memory_equal(got, ref, (size_t)B_ * TT_ * V_ * sizeof(float));
    free(got);
    free(ref);
    /* no temporary files left */
    char *cmd = malloc(strlen(g_f32) + 64);
    sprintf(cmd, "ls -A %s | grep -c tmp > /dev/null", g_f32);
    assert_int_not_equal(system(cmd), 0);
    free(cmd);
}

/* init --model NAME takes the named shape (checked without writing gpt2's
 * 500 MB: the shape flags and --model together are refused). */
static void test_init_model_and_shape(void **state) {
    (void)state;
    status_t st;
    char *o = ts_path(g_dir, "both");
    assert_int_equal(run(NULL, &st, 7, "init", "--model", "gpt2", "--layers", "2", "--out", o), 2);
    assert_non_null(strstr(st.msg, "not both"));
    assert_false(ts_file_exists(o));
    /* n_head must divide n_embd: refused before anything is written */
    assert_int_equal(run(NULL, &st, 13, "init", "--layers", "1", "--width", "10", "--heads", "3", "--vocab", "5",
                         "--ctx", "4", "--out", o),
                     2);
    assert_false(ts_file_exists(o));
    free(o);
}

/* ---- convert bf16 / f16 ------------------------------------------------------ */

static void check_converted(const char *dir, const char *want_dtype) {
    char *sp = ts_path(dir, "model.safetensors");
    st_file f;
    status_t st = {0};
    assert_int_equal(st_open(&f, sp, &st), 0);
    for (int i = 0; i < f.n_tensors; i++) {
        const st_tensor *t = &f.tensors[i];
        const wt_role r = wt_tensor_role(t->name, NULL);
        if (r == WT_ROLE_MATRIX) assert_string_equal(t->dtype_str, want_dtype);
        else assert_string_equal(t->dtype_str, "F32");
        /* every tensor aligned to its element size in the file */
        assert_int_equal(((uintptr_t)(f.data + t->begin)) % st_dtype_size(t->dtype), 0);
    }
    st_close(&f);
    free(sp);
}

static void test_convert_half(void **state) {
    (void)state;
    float *ref = logits_of(g_f32);
    const char *dts[] = {"bf16", "f16"}, *sts[] = {"BF16", "F16"}, *torch[] = {"bfloat16", "float16"};
    for (int i = 0; i < 2; i++) {
        char name[32];
        snprintf(name, sizeof name, "conv-%s", dts[i]);
        char *o = ts_path(g_dir, name);
        status_t st;
        char *out;
        assert_int_equal(run(&out, &st, 6, "convert", g_f32, "--dtype", dts[i], "--out", o), 0);
        free(out);
        check_converted(o, sts[i]);
        char *cp = ts_path(o, "config.json");
        char *text = ts_read_file(cp, NULL);
        cJSON *cfg = cJSON_Parse(text);
        assert_string_equal(cJSON_GetObjectItem(cfg, "torch_dtype")->valuestring, torch[i]);
        assert_string_equal(cJSON_GetObjectItem(cfg, "gpt2_roofline_dtype")->valuestring, dts[i]);
        assert_int_equal(cJSON_GetObjectItem(cfg, "n_layer")->valueint, L_);
        cJSON_Delete(cfg);
        free(text);
        free(cp);
        assert_int_equal(run(&out, &st, 4, "inspect", o, "--json", "-"), 0);
        cJSON *j = cJSON_Parse(out);
        assert_true(cJSON_IsTrue(cJSON_GetObjectItem(cJSON_GetObjectItem(j, "loader"), "ok")));
        assert_string_equal(cJSON_GetObjectItem(j, "matrix_dtype")->valuestring, sts[i]);
        double q = cJSON_GetObjectItem(cJSON_GetObjectItem(j, "per_decode_step"), "q_effective")->valuedouble;
        assert_true(q > 2.0 && q < 2.2);
        cJSON_Delete(j);
        free(out);
        /* the existing loader widens them: logits close to f32 */
        float *got = logits_of(o);
        double mx, agree;
        compare_logits(dts[i], got, ref, &mx, &agree);
        assert_true(ts_all_finite(got, (size_t)B_ * TT_ * V_));
        assert_true(agree >= 0.9);
        assert_true(mx < 0.05);
        free(got);
        free(o);
    }
    free(ref);
}

/* ---- int8 --------------------------------------------------------------------- */

/* A copy of an int8 folder with every I8 matrix dequantized to F32 (scale
 * tensors dropped), so the float32 loader can run it. */
static char *dequantized_copy(const char *dir, const char *name) {
    char *sp = ts_path(dir, "model.safetensors"), *cp = ts_path(dir, "config.json");
    ts_tset s;
    assert_int_equal(ts_tset_from_file(&s, sp), 0);
    for (int i = 0; i < s.n; i++) {
        ts_tensor *t = &s.t[i];
        if (strcmp(t->dtype, "I8") != 0) continue;
        char sn[200];
        snprintf(sn, sizeof sn, "%s.scale", t->name);
        ts_tensor *sc = ts_tset_find(&s, sn);
        assert_non_null(sc);
        int out_dim = 0;
        assert_int_equal(wt_tensor_role(t->name, &out_dim), WT_ROLE_MATRIX);
        const size_t rows = (size_t)t->shape[0], cols = (size_t)t->shape[1];
        float *w = malloc(rows * cols * sizeof *w), *scale = (float *)(void *)sc->data;
        for (size_t r = 0; r < rows; r++)
            for (size_t c = 0; c < cols; c++)
                w[r * cols + c] = scale[out_dim == 1 ? c : r] * (float)((int8_t *)t->data)[r * cols + c];
        assert_int_equal(ts_tensor_set_data(t, "F32", w, rows * cols * 4), 0);
        free(w);
    }
    for (int i = s.n - 1; i >= 0; i--)
        if (wt_tensor_role(s.t[i].name, NULL) == WT_ROLE_SCALE) ts_tset_remove(&s, s.t[i].name);
    char *cfg = ts_read_file(cp, NULL);
    char *folder = ts_make_model(g_dir, name, cfg, &s, TS_ALIGN8);
    assert_non_null(folder);
    free(cfg);
    ts_tset_free(&s);
    free(sp);
    free(cp);
    return folder;
}

static char *g_int8;

static void test_convert_int8(void **state) {
    (void)state;
    g_int8 = ts_path(g_dir, "conv-int8");
    status_t st;
    char *out;
    assert_int_equal(run(&out, &st, 6, "convert", g_f32, "--dtype", "int8", "--out", g_int8), 0);
    free(out);
    check_converted(g_int8, "I8");
    /* scales: one per output channel, beside every matrix */
    char *sp = ts_path(g_int8, "model.safetensors"), *fp = ts_path(g_f32, "model.safetensors");
    st_file f, src;
    assert_int_equal(st_open(&f, sp, &st), 0);
    assert_int_equal(st_open(&src, fp, &st), 0);
    int n_mat = 0;
    double worst = 0;
    for (int i = 0; i < f.n_tensors; i++) {
        const st_tensor *t = &f.tensors[i];
        int out_dim = -1;
        if (wt_tensor_role(t->name, &out_dim) != WT_ROLE_MATRIX) continue;
        n_mat++;
        char sn[200];
        snprintf(sn, sizeof sn, "%s.scale", t->name);
        const st_tensor *s = st_find(&f, sn);
        assert_non_null(s);
        assert_int_equal(s->dtype, ST_DT_F32);
        assert_int_equal(s->ndim, 1);
        assert_true(s->shape[0] == t->shape[out_dim]);
        if (strcmp(t->name, "wte.weight") == 0) assert_true(s->shape[0] == V_);
        if (strcmp(t->name, "h.0.mlp.c_fc.weight") == 0) assert_true(s->shape[0] == 4 * D_);
        /* |w - scale q| <= scale / 2 against the source */
        const st_tensor *w = st_find(&src, t->name);
        const float *wv = (const float *)(const void *)(src.data + w->begin);
        const int8_t *q = (const int8_t *)(f.data + t->begin);
        const float *sv = (const float *)(const void *)(f.data + s->begin);
        const size_t rows = (size_t)t->shape[0], cols = (size_t)t->shape[1];
        for (size_t r = 0; r < rows; r++)
            for (size_t c = 0; c < cols; c++) {
                const float sc = sv[out_dim == 1 ? c : r];
                const double e = fabs((double)wv[r * cols + c] - (double)sc * q[r * cols + c]);
                assert_true(e <= sc * 0.5 * (1 + 1e-6));
                if (e / sc > worst) worst = e / sc;
            }
    }
    assert_int_equal(n_mat, 1 + 4 * L_);
    print_message("int8 checkpoint: %d matrices, max |w - scale q| / scale = %.4f\n", n_mat, worst);
    st_close(&f);
    st_close(&src);
    free(sp);
    free(fp);
    /* inspect accepts it and reports the scales */
    assert_int_equal(run(&out, &st, 2, "inspect", g_int8), 0);
    assert_non_null(strstr(out, "int8 scales"));
    assert_non_null(strstr(out, "wte.weight.scale"));
    assert_non_null(strstr(out, "check        ok"));
    free(out);
    assert_int_equal(run(&out, &st, 4, "inspect", g_int8, "--json", "-"), 0);
    cJSON *j = cJSON_Parse(out);
    assert_string_equal(cJSON_GetObjectItem(j, "matrix_dtype")->valuestring, "I8");
    assert_true(cJSON_GetObjectItem(j, "scale_values")->valuedouble == V_ + L_ * (3 * D_ + D_ + 4 * D_ + D_));
    cJSON_Delete(j);
    free(out);
    /* config */
    char *cp = ts_path(g_int8, "config.json");
    char *text = ts_read_file(cp, NULL);
    cJSON *cfg = cJSON_Parse(text);
    assert_string_equal(cJSON_GetObjectItem(cfg, "gpt2_roofline_dtype")->valuestring, "int8");
    assert_non_null(cJSON_GetObjectItem(cfg, "gpt2_roofline_quantization"));
    cJSON_Delete(cfg);
    free(text);
    free(cp);
    /* accuracy: the dequantized weights run through the float32 loader */
    char *dq = dequantized_copy(g_int8, "int8-dequantized");
    float *ref = logits_of(g_f32), *got = logits_of(dq);
    double mx, agree;
    compare_logits("int8", got, ref, &mx, &agree);
    assert_true(ts_all_finite(got, (size_t)B_ * TT_ * V_));
    assert_true(agree >= 0.9);
    free(ref);
    free(got);
    free(dq);
    /* an int8 checkpoint is not converted again */
    char *o2 = ts_path(g_dir, "again");
    assert_int_equal(run(NULL, &st, 6, "convert", g_int8, "--dtype", "bf16", "--out", o2), 2);
    assert_non_null(strstr(st.msg, "already int8"));
    assert_false(ts_file_exists(o2));
    free(o2);
}

/* Copies the int8 folder with one edit to its tensors; inspect must refuse
 * it with exit 2 and a message containing `want`. */
typedef void (*tset_edit)(ts_tset *s);

static void edit_drop_scale(ts_tset *s) { assert_int_equal(ts_tset_remove(s, "h.1.attn.c_proj.weight.scale"), 0); }
static void edit_scale_shape(ts_tset *s) {
    ts_tensor *t = ts_tset_find(s, "h.0.mlp.c_fc.weight.scale");
    t->shape[0] = D_; /* [d] instead of [4d] */
    t->nbytes = D_ * 4;
}
static void edit_scale_dtype(ts_tset *s) {
    ts_tensor *t = ts_tset_find(s, "wte.weight.scale");
    uint16_t h[V_] = {0};
    ts_tensor_set_data(t, "F16", h, sizeof h);
}
static void edit_scale_2d(ts_tset *s) {
    ts_tensor *t = ts_tset_find(s, "h.0.attn.c_attn.weight.scale");
    t->ndim = 2;
    t->shape[0] = 1;
    t->shape[1] = 3 * D_;
}
static void edit_stray_scale(ts_tset *s) {
    float z[D_] = {0};
    const int64_t sh[1] = {D_};
    ts_tset_add(s, "ln_f.weight.scale", "F32", 1, sh, z, sizeof z);
}
static void edit_i8_bias(ts_tset *s) {
    ts_tensor *t = ts_tset_find(s, "h.0.ln_1.bias");
    int8_t z[D_] = {0};
    ts_tensor_set_data(t, "I8", z, sizeof z);
}

static void check_malformed(const char *name, tset_edit edit, const char *want) {
    char *sp = ts_path(g_int8, "model.safetensors"), *cp = ts_path(g_int8, "config.json");
    ts_tset s;
    assert_int_equal(ts_tset_from_file(&s, sp), 0);
    edit(&s);
    char *cfg = ts_read_file(cp, NULL);
    char *folder = ts_make_model(g_dir, name, cfg, &s, TS_ALIGN8);
    assert_non_null(folder);
    status_t st;
    char *out;
    int rc = run(&out, &st, 2, "inspect", folder);
    print_message("%s: exit %d: %s\n", name, rc, st.msg);
    assert_int_equal(rc, 2);
    if (!strstr(st.msg, want)) fail_msg("%s: message \"%s\" lacks \"%s\"", name, st.msg, want);
    assert_null(strchr(st.msg, '\n'));
    free(out);
    ts_tset_free(&s);
    free(cfg);
    free(folder);
    free(sp);
    free(cp);
}

static void test_int8_malformed(void **state) {
    (void)state;
    assert_non_null(g_int8);
    check_malformed("bad-no-scale", edit_drop_scale, "has no scale tensor h.1.attn.c_proj.weight.scale");
    check_malformed("bad-scale-shape", edit_scale_shape, "needs F32 [256]");
    check_malformed("bad-scale-dtype", edit_scale_dtype, "is F16 [101]");
    check_malformed("bad-scale-2d", edit_scale_2d, "needs F32 [192]");
    check_malformed("bad-stray-scale", edit_stray_scale, "belongs to no int8 tensor");
    check_malformed("bad-i8-bias", edit_i8_bias, "has dtype I8");
}

/* ---- overwriting -------------------------------------------------------------- */

static void test_refuse_overwrite(void **state) {
    (void)state;
    status_t st;
    char *o = ts_path(g_dir, "conv-bf16");
    assert_true(ts_file_exists(o));
    char *sp = ts_path(o, "model.safetensors");
    size_t n0 = 0;
    char *before = ts_read_file(sp, &n0);
    assert_int_equal(run(NULL, &st, 6, "convert", g_f32, "--dtype", "f16", "--out", o), 2);
    assert_non_null(strstr(st.msg, "already exists"));
    assert_non_null(strstr(st.msg, "--force"));
    size_t n1 = 0;
    char *after = ts_read_file(sp, &n1);
    assert_true(n0 == n1 && memcmp(before, after, n0) == 0);
    free(after);
    assert_int_equal(run(NULL, &st, 7, "convert", g_f32, "--dtype", "f16", "--out", o, "--force"), 0);
    check_converted(o, "F16");
    /* into the source's own folder: refused even with --force */
    assert_int_equal(run(NULL, &st, 7, "convert", g_f32, "--dtype", "f16", "--out", g_f32, "--force"), 2);
    assert_non_null(strstr(st.msg, "own folder"));
    /* init too */
    assert_int_equal(run(NULL, &st, 13, "init", "--layers", "1", "--width", "8", "--heads", "2", "--vocab", "5",
                         "--ctx", "4", "--out", o),
                     2);
    assert_non_null(strstr(st.msg, "already exists"));
    /* an --out that is a file */
    assert_int_equal(run(NULL, &st, 6, "convert", g_f32, "--dtype", "f16", "--out", sp), 2);
    free(before);
    free(sp);
    free(o);
}

/* ---- sha256 ------------------------------------------------------------------- */

static void test_sha256(void **state) {
    (void)state;
    char hex[65];
    wt_sha256 s;
    wt_sha256_init(&s);
    wt_sha256_update(&s, "abc", 3);
    wt_sha256_hex(&s, hex);
    assert_string_equal(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    wt_sha256_init(&s);
    wt_sha256_hex(&s, hex);
    assert_string_equal(hex, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    const char *m = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
    wt_sha256_init(&s);
    for (size_t i = 0; i < strlen(m); i++) wt_sha256_update(&s, m + i, 1); /* byte by byte */
    wt_sha256_hex(&s, hex);
    assert_string_equal(hex, "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
}

/* ---- fetch ---------------------------------------------------------------------- */

static void test_fetch_no_network(void **state) {
    (void)state;
    status_t st;
    char *o = ts_path(g_dir, "fetched-none");
    const char *srcs[] = {"file:///nonexistent", "http://127.0.0.1:1", "https://gpt2-weights-test.invalid"};
    for (int i = 0; i < 3; i++) {
        setenv("GPT2_FETCH_URL", srcs[i], 1);
        double t0 = now_s();
        int rc = run(NULL, &st, 4, "fetch", "gpt2", "--out", o);
        double dt = now_s() - t0;
        print_message("fetch from %s: exit %d in %.2f s: %s\n", srcs[i], rc, dt, st.msg);
        assert_int_equal(rc, 1);
        assert_true(dt < 5.0);
        assert_non_null(strstr(st.msg, "fetch: "));
        assert_null(strchr(st.msg, '\n'));
        assert_false(ts_file_exists(o)); /* nothing left behind */
    }
    unsetenv("GPT2_FETCH_URL");
    assert_int_equal(run(NULL, &st, 4, "fetch", "gpt3", "--out", o), 2);
    free(o);
}

static char *sha_of(const char *path) {
    size_t n = 0;
    char *b = ts_read_file(path, &n);
    assert_non_null(b);
    wt_sha256 s;
    wt_sha256_init(&s);
    wt_sha256_update(&s, b, n);
    char *hex = malloc(80);
    wt_sha256_hex(&s, hex);
    free(b);
    return hex;
}

/* A mirror: DIR/mirror/gpt2/{config.json, model.safetensors[.sha256]}
 * holding the tiny model. Returns the mirror root. */
static char *make_mirror(const char *sha_text) {
    char *root = ts_path(g_dir, "mirror");
    mkdir(root, 0755);
    char *m = ts_path(root, "gpt2");
    mkdir(m, 0755);
    char *a = ts_path(g_f32, "config.json"), *b = ts_path(g_f32, "model.safetensors");
    char *a2 = ts_path(m, "config.json"), *b2 = ts_path(m, "model.safetensors"), *s2 = ts_path(m, "model.safetensors.sha256");
    assert_int_equal(ts_copy_file(a, a2), 0);
    assert_int_equal(ts_copy_file(b, b2), 0);
    if (sha_text) {
        char line[200];
        snprintf(line, sizeof line, "%s  model.safetensors\n", sha_text);
        assert_int_equal(ts_write_file(s2, line, strlen(line)), 0);
    } else {
        remove(s2);
    }
    free(a); free(b); free(a2); free(b2); free(s2); free(m);
    return root;
}

static void expect_same_file(const char *a, const char *b) {
    size_t na = 0, nb = 0;
    char *x = ts_read_file(a, &na), *y = ts_read_file(b, &nb);
    assert_non_null(x);
    assert_non_null(y);
    assert_true(na == nb && memcmp(x, y, na) == 0);
    free(x);
    free(y);
}

static void test_fetch_file_mirror(void **state) {
    (void)state;
    char *src = ts_path(g_f32, "model.safetensors");
    char *sha = sha_of(src);
    char *root = make_mirror(sha);
    char base[1200];
    snprintf(base, sizeof base, "file://%s", root);
    setenv("GPT2_FETCH_URL", base, 1);
    status_t st;
    char *out;
    char *o = ts_path(g_dir, "fetched-file");
    assert_int_equal(run(&out, &st, 4, "fetch", "gpt2", "--out", o), 0);
    assert_non_null(strstr(out, "verified"));
    free(out);
    char *got = ts_path(o, "model.safetensors");
    expect_same_file(got, src);
    /* done: a second fetch is refused without --force */
    assert_int_equal(run(NULL, &st, 4, "fetch", "gpt2", "--out", o), 2);
    assert_non_null(strstr(st.msg, "--force"));
    assert_int_equal(run(NULL, &st, 5, "fetch", "gpt2", "--out", o, "--force"), 0);
    /* resume: a partial download is continued */
    char *o2 = ts_path(g_dir, "fetched-resume");
    mkdir(o2, 0755);
    size_t n = 0;
    char *whole = ts_read_file(src, &n);
    char *part = ts_path(o2, ".model.safetensors.part");
    assert_int_equal(ts_write_file(part, whole, n / 3), 0);
    assert_int_equal(run(NULL, &st, 4, "fetch", "gpt2", "--out", o2), 0);
    char *got2 = ts_path(o2, "model.safetensors");
    expect_same_file(got2, src);
    assert_false(ts_file_exists(part));
    /* a damaged partial: the checksum refuses it and removes it */
    char *o3 = ts_path(g_dir, "fetched-damaged");
    mkdir(o3, 0755);
    char *part3 = ts_path(o3, ".model.safetensors.part");
    whole[10] ^= 1;
    assert_int_equal(ts_write_file(part3, whole, n / 2), 0);
    assert_int_equal(run(NULL, &st, 4, "fetch", "gpt2", "--out", o3), 1);
    assert_non_null(strstr(st.msg, "sha256"));
    assert_false(ts_file_exists(part3));
    char *got3 = ts_path(o3, "model.safetensors");
    assert_false(ts_file_exists(got3));
    /* then again: whole */
    assert_int_equal(run(NULL, &st, 4, "fetch", "gpt2", "--out", o3), 0);
    expect_same_file(got3, src);
    /* no published checksum: fetched, said unverified */
    free(make_mirror(NULL));
    char *o4 = ts_path(g_dir, "fetched-nosum");
    assert_int_equal(run(&out, &st, 4, "fetch", "gpt2", "--out", o4), 0);
    assert_non_null(strstr(out, "not verified"));
    free(out);
    unsetenv("GPT2_FETCH_URL");
    free(src); free(sha); free(root); free(o); free(got); free(o2); free(whole); free(part); free(got2);
    free(o3); free(part3); free(got3); free(o4);
}

/* A loopback HTTP/1.0 server over `root` with Range support, serving
 * `conns` connections; when cut > 0 the first body is cut after `cut`
 * bytes. Returns its pid; *port set. */
static pid_t http_server(const char *root, int conns, size_t cut, int *port) {
    int s = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(s >= 0);
    int one = 1;
    setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = 0;
    assert_int_equal(bind(s, (struct sockaddr *)&a, sizeof a), 0);
    assert_int_equal(listen(s, 8), 0);
    socklen_t al = sizeof a;
    getsockname(s, (struct sockaddr *)&a, &al);
    *port = ntohs(a.sin_port);
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid > 0) {
        close(s);
        return pid;
    }
    signal(SIGPIPE, SIG_IGN);
    for (int c = 0; c < conns; c++) {
        int fd = accept(s, NULL, NULL);
        if (fd < 0) _exit(1);
        char req[4096];
        size_t rl = 0;
        while (rl < sizeof req - 1) {
            ssize_t r = recv(fd, req + rl, sizeof req - 1 - rl, 0);
            if (r <= 0) break;
            rl += (size_t)r;
            req[rl] = 0;
            if (strstr(req, "\r\n\r\n")) break;
        }
        char path[1024] = "";
        sscanf(req, "GET %1000s", path);
        unsigned long long from = 0;
        const char *rg = strstr(req, "Range: bytes=");
        if (rg) from = strtoull(rg + 13, NULL, 10);
        char *fp = malloc(strlen(root) + strlen(path) + 2);
        sprintf(fp, "%s%s", root, path);
        size_t n = 0;
        char *data = ts_read_file(fp, &n);
        free(fp);
        char hdr[512];
        if (!data) {
            snprintf(hdr, sizeof hdr, "HTTP/1.0 404 Not Found\r\nContent-Length: 0\r\n\r\n");
            send(fd, hdr, strlen(hdr), 0);
        } else if (from >= n && from > 0) {
            snprintf(hdr, sizeof hdr, "HTTP/1.0 416 Range Not Satisfiable\r\nContent-Length: 0\r\n\r\n");
            send(fd, hdr, strlen(hdr), 0);
        } else {
            size_t len = n - (size_t)from;
            if (from)
                snprintf(hdr, sizeof hdr, "HTTP/1.0 206 Partial Content\r\nContent-Length: %zu\r\n"
                         "Content-Range: bytes %llu-%zu/%zu\r\n\r\n", len, from, n - 1, n);
            else
                snprintf(hdr, sizeof hdr, "HTTP/1.0 200 OK\r\nContent-Length: %zu\r\n\r\n", len);
            send(fd, hdr, strlen(hdr), 0);
            size_t send_len = len;
            if (cut && len > cut) {
                send_len = cut;
                cut = 0;
            }
            send(fd, data + from, send_len, 0);
        }
        free(data);
        shutdown(fd, SHUT_WR);
        close(fd);
    }
    _exit(0);
}

static void test_fetch_http_loopback(void **state) {
    (void)state;
    char *src = ts_path(g_f32, "model.safetensors");
    char *sha = sha_of(src);
    char *root = make_mirror(sha);
    size_t n = 0;
    char *whole = ts_read_file(src, &n);
    int port;
    /* connection 1: config.json, 2: config.json.sha256 (404), 3: the weights cut short */
    pid_t pid = http_server(root, 3, n / 2, &port);
    char base[64];
    snprintf(base, sizeof base, "http://127.0.0.1:%d", port);
    setenv("GPT2_FETCH_URL", base, 1);
    char *o = ts_path(g_dir, "fetched-http");
    status_t st;
    char *out;
    assert_int_equal(run(NULL, &st, 4, "fetch", "gpt2", "--out", o), 1);
    assert_non_null(strstr(st.msg, "resume"));
    int status;
    waitpid(pid, &status, 0);
    char *part = ts_path(o, ".model.safetensors.part");
    assert_true(ts_file_exists(part));
    /* resumed with a Range: config (2 connections), the rest of the weights, its checksum */
    pid = http_server(root, 4, 0, &port);
    snprintf(base, sizeof base, "http://127.0.0.1:%d/", port);
    setenv("GPT2_FETCH_URL", base, 1);
    assert_int_equal(run(&out, &st, 4, "fetch", "gpt2", "--out", o), 0);
    assert_non_null(strstr(out, "verified"));
    free(out);
    waitpid(pid, &status, 0);
    char *got = ts_path(o, "model.safetensors");
    expect_same_file(got, src);
    assert_false(ts_file_exists(part));
    unsetenv("GPT2_FETCH_URL");
    free(src); free(sha); free(root); free(whole); free(o); free(part); free(got);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_help),
        cmocka_unit_test(test_init_inspect_load),
        cmocka_unit_test(test_init_model_and_shape),
        cmocka_unit_test(test_convert_half),
        cmocka_unit_test(test_convert_int8),
        cmocka_unit_test(test_int8_malformed),
        cmocka_unit_test(test_refuse_overwrite),
        cmocka_unit_test(test_sha256),
        cmocka_unit_test(test_fetch_no_network),
        cmocka_unit_test(test_fetch_file_mirror),
        cmocka_unit_test(test_fetch_http_loopback),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
