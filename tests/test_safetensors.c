/* test_safetensors: the safetensors reader, the checkpoint loader and the
 * config: the fixture read back, malformed checkpoints refused with a
 * message naming the file (and the tensor), and the layouts a real
 * checkpoint may have (prefixed names, explicit LM head, F16/BF16, a folder
 * or the file) giving the same logits. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../kernels/kernels.h"
#include "../model/config.h"
#include "../model/forward.h"
#include "../model/safetensors.h"
#include "../model/weights.h"
#include "test_support.h"

/* Shared across the group. */
static char *g_dir;          /* temp dir */
static char *g_config;       /* fixture config.json text */
static ts_tset g_fix;        /* fixture tensors */
static ts_reference g_ref;   /* tokens */
static float *g_logits;      /* fixture logits (B, T, V), prefill */
static int g_case;           /* counter for unique folder names */

static int group_setup(void **state) {
    (void)state;
    threads_init(2);
    g_dir = ts_mkdtemp();
    g_config = ts_read_file(TS_FIXTURE_CONFIG, NULL);
    if (!g_dir || !g_config) return -1;
    if (ts_tset_from_file(&g_fix, TS_FIXTURE_ST)) return -1;
    if (ts_reference_load(&g_ref)) return -1;
    status_t st = {0};
    if (ts_load_logits(TS_FIXTURE_DIR, g_ref.tokens, g_ref.B, g_ref.T, 1, &g_logits, &st)) {
        fprintf(stderr, "fixture logits: %s\n", st.msg);
        return -1;
    }
    return 0;
}

static int group_teardown(void **state) {
    (void)state;
    ts_rmtree(g_dir);
    free(g_dir);
    free(g_config);
    ts_tset_free(&g_fix);
    ts_reference_free(&g_ref);
    free(g_logits);
    return 0;
}

static size_t n_logits(void) { return (size_t)g_ref.B * g_ref.T * g_ref.vocab; }

/* A unique folder name per case. */
static void case_name(char *buf, size_t n, const char *what) { snprintf(buf, n, "%02d-%s", g_case++, what); }

/* A copy of the fixture tensors, to edit. */
static void fixture_copy(ts_tset *s) {
    memset(s, 0, sizeof *s);
    for (int i = 0; i < g_fix.n; i++) {
        const ts_tensor *t = &g_fix.t[i];
        assert_int_equal(ts_tset_add(s, t->name, t->dtype, t->ndim, t->shape, t->data, t->nbytes), 0);
    }
}

/* Model folder from a config text and a tensor set; malloc'd path. */
static char *make_model(const char *what, const char *config_text, const ts_tset *s, int layout) {
    char name[96];
    case_name(name, sizeof name, what);
    char *folder = ts_make_model(g_dir, name, config_text, s, layout);
    assert_non_null(folder);
    return folder;
}

/* Model folder whose model.safetensors is a raw header + data. */
static char *make_raw(const char *what, const char *header, const void *data, size_t n) {
    char *folder = make_model(what, g_config, NULL, TS_ALIGN8);
    char *stp = ts_path(folder, "model.safetensors");
    assert_int_equal(ts_write_st_raw(stp, header, data, n), 0);
    free(stp);
    return folder;
}

/* gpt2_load(path) must refuse with ST_BAD_INPUT and a message holding every
 * non-NULL needle. */
static void expect_refused(const char *path, const char *needle1, const char *needle2, const char *needle3) {
    gpt2_model m;
    status_t st = {0};
    int rc = gpt2_load(&m, path, &st);
    if (rc == ST_OK) {
        gpt2_free(&m);
        fail_msg("%s: loaded, but should have been refused", path);
    }
    print_message("  refused (%d): %s\n", rc, st.msg);
    assert_int_equal(rc, ST_BAD_INPUT);
    assert_int_equal(st.code, ST_BAD_INPUT);
    const char *needles[3] = {needle1, needle2, needle3};
    for (int i = 0; i < 3; i++)
        if (needles[i] && !strstr(st.msg, needles[i]))
            fail_msg("message \"%s\" does not mention \"%s\"", st.msg, needles[i]);
}

/* Same, for a folder: the message must name its model.safetensors. */
static void expect_refused_st(const char *folder, const char *needle2, const char *needle3) {
    char *stp = ts_path(folder, "model.safetensors");
    expect_refused(folder, stp, needle2, needle3);
    free(stp);
}

/* Logits of the model at `path` on the reference tokens (prefill). */
static float *logits_of(const char *path) {
    float *l = NULL;
    status_t st = {0};
    int rc = ts_load_logits(path, g_ref.tokens, g_ref.B, g_ref.T, 1, &l, &st);
    if (rc) fail_msg("%s: load/forward failed (%d): %s", path, rc, st.msg);
    return l;
}

/* ---- the fixture --------------------------------------------------------- */

static void test_fixture_open(void **state) {
    (void)state;
    st_file f;
    status_t st = {0};
    assert_int_equal(st_open(&f, TS_FIXTURE_ST, &st), ST_OK);
    assert_int_equal(f.n_tensors, 4 + 2 * 13); /* wte wpe ln_f.{w,b}; 12 + attn.bias per layer */
    assert_int_equal(f.file_bytes, 445080);
    const st_tensor *wte = st_find(&f, "wte.weight");
    assert_non_null(wte);
    assert_int_equal(wte->dtype, ST_DT_F32);
    assert_string_equal(wte->dtype_str, "F32");
    assert_int_equal(wte->ndim, 2);
    assert_int_equal(wte->shape[0], 101);
    assert_int_equal(wte->shape[1], 64);
    assert_int_equal(st_numel(wte), 101 * 64);
    assert_int_equal(wte->end - wte->begin, 101 * 64 * 4);
    const st_tensor *mask = st_find(&f, "h.1.attn.bias");
    assert_non_null(mask);
    assert_int_equal(mask->ndim, 4);
    assert_int_equal(st_numel(mask), 32 * 32);
    const st_tensor *fc = st_find(&f, "h.0.mlp.c_fc.weight");
    assert_non_null(fc);
    assert_int_equal(fc->shape[0], 64);
    assert_int_equal(fc->shape[1], 256);
    assert_null(st_find(&f, "lm_head.weight"));
    assert_null(st_find(&f, "wte"));
    assert_int_equal(f.data_bytes, 442624);

    /* st_to_f32 gives the bytes of the file, read here independently */
    size_t n;
    unsigned char *raw = (unsigned char *)ts_read_file(TS_FIXTURE_ST, &n);
    assert_non_null(raw);
    uint64_t hlen = 0;
    for (int i = 7; i >= 0; i--) hlen = hlen << 8 | raw[i];
    float *w = malloc(st_numel(wte) * sizeof *w);
    assert_non_null(w);
    st_to_f32(&f, wte, w);
    assert_memory_equal(w, raw + 8 + hlen + wte->begin, st_numel(wte) * 4);
    free(w);
    free(raw);
    st_close(&f);
    st_close(&f); /* closing twice is harmless */
}

static void test_dtype_helpers(void **state) {
    (void)state;
    assert_int_equal(st_dtype_size(ST_DT_F32), 4);
    assert_int_equal(st_dtype_size(ST_DT_F16), 2);
    assert_int_equal(st_dtype_size(ST_DT_BF16), 2);
    assert_string_equal(st_dtype_name(ST_DT_F32), "F32");
    assert_string_equal(st_dtype_name(ST_DT_F16), "F16");
    assert_string_equal(st_dtype_name(ST_DT_BF16), "BF16");
}

static void test_half_conversions(void **state) {
    (void)state;
    assert_true(st_f16_to_f32(0x3c00) == 1.0f);
    assert_true(st_f16_to_f32(0xc000) == -2.0f);
    assert_true(st_f16_to_f32(0x7bff) == 65504.0f);
    assert_true(st_f16_to_f32(0x0400) == ldexpf(1.0f, -14));       /* smallest normal */
    assert_true(st_f16_to_f32(0x0001) == ldexpf(1.0f, -24));       /* smallest subnormal */
    assert_true(st_f16_to_f32(0x03ff) == ldexpf(1023.0f, -24));    /* largest subnormal */
    assert_true(st_f16_to_f32(0x8001) == -ldexpf(1.0f, -24));
    assert_true(st_f16_to_f32(0x3555) == 0.333251953125f); /* 0.25 * (1 + 0x155 / 1024) */
    assert_true(st_f16_to_f32(0x0000) == 0.0f && !signbit(st_f16_to_f32(0x0000)));
    assert_true(st_f16_to_f32(0x8000) == 0.0f && signbit(st_f16_to_f32(0x8000)));
    assert_true(isinf(st_f16_to_f32(0x7c00)) && st_f16_to_f32(0x7c00) > 0);
    assert_true(isinf(st_f16_to_f32(0xfc00)) && st_f16_to_f32(0xfc00) < 0);
    assert_true(isnan(st_f16_to_f32(0x7e00)));
    assert_true(st_bf16_to_f32(0x3f80) == 1.0f);
    assert_true(st_bf16_to_f32(0xc040) == -3.0f);
    assert_true(st_bf16_to_f32(0x0001) == ldexpf(1.0f, -133));
    assert_true(isinf(st_bf16_to_f32(0x7f80)));
    /* every finite f16 survives the test's own f32 -> f16 rounding */
    for (uint32_t h = 0; h < 0x10000; h++) {
        if ((h & 0x7c00) == 0x7c00) continue;
        float f = st_f16_to_f32((uint16_t)h);
        if (ts_f32_to_f16(f) != (h == 0x8000 ? 0x8000 : h)) fail_msg("f16 0x%04x does not round trip", h);
    }
    for (uint32_t h = 0; h < 0x10000; h++) {
        if ((h & 0x7f80) == 0x7f80) continue;
        if (ts_f32_to_bf16(st_bf16_to_f32((uint16_t)h)) != h) fail_msg("bf16 0x%04x does not round trip", h);
    }
}

static void test_fixture_load(void **state) {
    (void)state;
    gpt2_model m;
    status_t st = {0};
    assert_int_equal(gpt2_load(&m, TS_FIXTURE_DIR, &st), ST_OK);
    assert_string_equal(m.cfg.name, "gpt2-tiny");
    assert_int_equal(m.cfg.n_layer, 2);
    assert_int_equal(m.cfg.n_head, 4);
    assert_int_equal(m.cfg.n_embd, 64);
    assert_int_equal(m.cfg.n_ctx, 32);
    assert_int_equal(m.cfg.vocab, 101);
    assert_float_equal(m.cfg.ln_eps, 1e-5f, 1e-12);
    assert_int_equal(config_head_dim(&m.cfg), 16);
    assert_true(m.lm_head_tied);
    assert_ptr_equal(m.lm_head, m.wte);
    assert_non_null(m.layers);
    assert_int_equal(m.weight_bytes_f32, config_param_count(&m.cfg) * 4);
    assert_int_equal(config_param_count(&m.cfg), 108608);
    assert_non_null(strstr(m.source, "model.safetensors"));
    /* values are the file's */
    const ts_tensor *wte = ts_tset_find(&g_fix, "wte.weight");
    const ts_tensor *fcb = ts_tset_find(&g_fix, "h.1.mlp.c_fc.bias");
    const ts_tensor *lnf = ts_tset_find(&g_fix, "ln_f.weight");
    assert_memory_equal(m.wte, wte->data, wte->nbytes);
    assert_memory_equal(m.layers[1].fc_b, fcb->data, fcb->nbytes);
    assert_memory_equal(m.lnf_w, lnf->data, lnf->nbytes);
    gpt2_free(&m);
}

/* ---- malformed files ------------------------------------------------------- */

static void test_refuse_truncated(void **state) {
    (void)state;
    size_t n = 0;
    char *raw = ts_read_file(TS_FIXTURE_ST, &n);
    assert_non_null(raw);
    char *folder = make_model("truncated", g_config, NULL, TS_ALIGN8);
    char *stp = ts_path(folder, "model.safetensors");
    assert_int_equal(ts_write_file(stp, raw, n - 1000), 0); /* the last tensor loses its tail */
    expect_refused_st(folder, "wte.weight", "truncated");
    /* shorter than the 8-byte length */
    assert_int_equal(ts_write_file(stp, raw, 5), 0);
    expect_refused_st(folder, NULL, NULL);
    /* nothing at all */
    assert_int_equal(ts_write_file(stp, raw, 0), 0);
    expect_refused_st(folder, NULL, NULL);
    /* the header alone */
    uint64_t hlen = 0;
    for (int i = 7; i >= 0; i--) hlen = hlen << 8 | (unsigned char)raw[i];
    assert_int_equal(ts_write_file(stp, raw, 8 + hlen), 0);
    expect_refused_st(folder, NULL, NULL);
    free(stp);
    free(folder);
    free(raw);
}

static void test_refuse_header_length_past_end(void **state) {
    (void)state;
    const char *hdr = "{\"ln_f.bias\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}";
    float data = 1.0f;
    char *folder = make_model("hlen", g_config, NULL, TS_ALIGN8);
    char *stp = ts_path(folder, "model.safetensors");
    /* the length field says 4 bytes more than the file holds */
    assert_int_equal(ts_write_st_raw_len(stp, strlen(hdr) + 8, hdr, strlen(hdr), &data, 4), 0);
    expect_refused_st(folder, "header length", NULL);
    /* an absurd length (top bit set) */
    assert_int_equal(ts_write_st_raw_len(stp, 0xfffffffffffffff0ull, hdr, strlen(hdr), &data, 4), 0);
    expect_refused_st(folder, "header length", NULL);
    free(stp);
    free(folder);
}

static void test_refuse_header_not_json(void **state) {
    (void)state;
    float data[4] = {0};
    char *a = make_raw("notjson", "{\"wte.weight\": {\"dtype\": \"F32\", \"shape\": [4]", data, sizeof data);
    expect_refused_st(a, "JSON", NULL);
    char *b = make_raw("jsonarray", "[1, 2, 3]", data, sizeof data);
    expect_refused_st(b, "JSON", NULL);
    char *c = make_raw("binary", "\x01\x02garbage\xff", data, sizeof data);
    expect_refused_st(c, NULL, NULL);
    free(a);
    free(b);
    free(c);
}

static void test_refuse_offsets_outside_data(void **state) {
    (void)state;
    float data[6] = {0};
    char *a = make_raw("outside",
                       "{\"wpe.weight\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
                       "\"ln_f.bias\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[16,32]}}",
                       data, sizeof data);
    expect_refused_st(a, "ln_f.bias", NULL);
    /* begin after end */
    char *b = make_raw("reversed", "{\"ln_f.bias\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[8,0]}}", data,
                       sizeof data);
    expect_refused_st(b, "ln_f.bias", NULL);
    /* negative begin */
    char *c = make_raw("negative", "{\"ln_f.bias\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[-8,0]}}",
                       data, sizeof data);
    expect_refused_st(c, "ln_f.bias", NULL);
    /* byte count that does not match the shape */
    char *d = make_raw("sizemismatch", "{\"ln_f.bias\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,8]}}",
                       data, sizeof data);
    expect_refused_st(d, "ln_f.bias", NULL);
    /* offsets way past 2^64 */
    char *e = make_raw("huge", "{\"ln_f.bias\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[1e30,1e30]}}",
                       data, sizeof data);
    expect_refused_st(e, "ln_f.bias", NULL);
    free(a); free(b); free(c); free(d); free(e);
}

static void test_refuse_bad_entries(void **state) {
    (void)state;
    float data[4] = {0};
    struct {
        const char *what, *hdr;
    } cases[] = {
        {"nooffsets", "{\"ln_f.bias\":{\"dtype\":\"F32\",\"shape\":[4]}}"},
        {"noshape", "{\"ln_f.bias\":{\"dtype\":\"F32\",\"data_offsets\":[0,16]}}"},
        {"nodtype", "{\"ln_f.bias\":{\"shape\":[4],\"data_offsets\":[0,16]}}"},
        {"notobject", "{\"ln_f.bias\":[1,2,3]}"},
        {"negshape", "{\"ln_f.bias\":{\"dtype\":\"F32\",\"shape\":[-4],\"data_offsets\":[0,16]}}"},
        {"fracshape", "{\"ln_f.bias\":{\"dtype\":\"F32\",\"shape\":[2.5],\"data_offsets\":[0,10]}}"},
        {"strshape", "{\"ln_f.bias\":{\"dtype\":\"F32\",\"shape\":[\"4\"],\"data_offsets\":[0,16]}}"},
        {"threeoffsets", "{\"ln_f.bias\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,8,16]}}"},
        {"ninedims", "{\"ln_f.bias\":{\"dtype\":\"F32\",\"shape\":[1,1,1,1,1,1,1,1,4],\"data_offsets\":[0,16]}}"},
        {"dtypenum", "{\"ln_f.bias\":{\"dtype\":4,\"shape\":[4],\"data_offsets\":[0,16]}}"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *f = make_raw(cases[i].what, cases[i].hdr, data, sizeof data);
        expect_refused_st(f, "ln_f.bias", NULL);
        free(f);
    }
}

static void test_refuse_overlap(void **state) {
    (void)state;
    float data[6] = {0};
    char *a = make_raw("overlap",
                       "{\"ln_f.weight\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]},"
                       "\"ln_f.bias\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[8,24]}}",
                       data, sizeof data);
    expect_refused_st(a, "ln_f.weight", "ln_f.bias");
    /* the same bytes twice */
    char *b = make_raw("samebytes",
                       "{\"ln_f.weight\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]},"
                       "\"ln_f.bias\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]}}",
                       data, sizeof data);
    expect_refused_st(b, "ln_f.weight", "ln_f.bias");
    /* one tensor inside another, listed first */
    char *c = make_raw("inside",
                       "{\"ln_f.bias\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[8,12]},"
                       "\"ln_f.weight\":{\"dtype\":\"F32\",\"shape\":[6],\"data_offsets\":[0,24]}}",
                       data, sizeof data);
    expect_refused_st(c, "ln_f.weight", "ln_f.bias");
    free(a);
    free(b);
    free(c);
}

/* Two tensors overlap; an empty tensor whose offset falls between their
 * starts must not hide it. */
static void test_refuse_overlap_around_empty_tensor(void **state) {
    (void)state;
    float data[6] = {0};
    char *a = make_raw("overlap-empty",
                       "{\"ln_f.weight\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]},"
                       "\"empty\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[4,4]},"
                       "\"ln_f.bias\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[8,24]}}",
                       data, sizeof data);
    st_file f;
    status_t st = {0};
    char *stp = ts_path(a, "model.safetensors");
    int rc = st_open(&f, stp, &st);
    if (rc == ST_OK) st_close(&f);
    free(stp);
    free(a);
    if (rc != ST_BAD_INPUT)
        fail_msg("ln_f.weight [0,16] and ln_f.bias [8,24] overlap but st_open returned %d", rc);
    assert_non_null(strstr(st.msg, "overlap"));
}

/* data_offsets are byte counts: a fractional one is not a valid file. */
static void test_refuse_fractional_offsets(void **state) {
    (void)state;
    float data[5] = {0};
    char *a = make_raw("fracoffsets", "{\"ln_f.bias\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0.5,16.5]}}",
                       data, sizeof data);
    char *stp = ts_path(a, "model.safetensors");
    st_file f;
    status_t st = {0};
    int rc = st_open(&f, stp, &st);
    if (rc == ST_OK) st_close(&f);
    free(stp);
    free(a);
    if (rc != ST_BAD_INPUT) fail_msg("data_offsets [0.5, 16.5] accepted (st_open returned %d)", rc);
    assert_non_null(strstr(st.msg, "ln_f.bias"));
}

static void test_refuse_unknown_dtype(void **state) {
    (void)state;
    ts_tset s;
    fixture_copy(&s);
    assert_int_equal(ts_tset_set_dtype(&s, "h.0.ln_2.bias", "Q4"), 0);
    char *a = make_model("q4", g_config, &s, TS_ALIGN8);
    expect_refused_st(a, "h.0.ln_2.bias", "Q4");
    ts_tset_free(&s);
    free(a);
    /* a dtype the format knows but the model cannot use: F64 (same bytes: half the elements) */
    fixture_copy(&s);
    assert_int_equal(ts_tset_set_dtype(&s, "ln_f.bias", "F64"), 0);
    ts_tensor *t = ts_tset_find(&s, "ln_f.bias");
    assert_non_null(t);
    t->shape[0] = 32;
    char *b = make_model("f64", g_config, &s, TS_ALIGN8);
    expect_refused_st(b, "ln_f.bias", "F64");
    ts_tset_free(&s);
    free(b);
    /* I8 with the right shape and byte count */
    fixture_copy(&s);
    t = ts_tset_find(&s, "ln_f.weight");
    assert_non_null(t);
    unsigned char bytes[64] = {0};
    ts_tensor_set_data(t, "I8", bytes, sizeof bytes);
    char *c = make_model("i8", g_config, &s, TS_ALIGN8);
    expect_refused_st(c, "ln_f.weight", "I8");
    ts_tset_free(&s);
    free(c);
}

static void test_refuse_wrong_shape(void **state) {
    (void)state;
    ts_tset s;
    fixture_copy(&s);
    ts_tensor *t = ts_tset_find(&s, "h.1.mlp.c_fc.weight");
    t->shape[0] = 256; /* [256, 64]: the bytes still match */
    t->shape[1] = 64;
    char *a = make_model("shape", g_config, &s, TS_ALIGN8);
    expect_refused_st(a, "h.1.mlp.c_fc.weight", "256");
    ts_tset_free(&s);
    free(a);
    /* a 2-D bias */
    fixture_copy(&s);
    t = ts_tset_find(&s, "ln_f.bias");
    t->ndim = 2;
    t->shape[0] = 1;
    t->shape[1] = 64;
    char *b = make_model("shape2d", g_config, &s, TS_ALIGN8);
    expect_refused_st(b, "ln_f.bias", NULL);
    ts_tset_free(&s);
    free(b);
}

static void test_refuse_missing_tensor(void **state) {
    (void)state;
    const char *names[] = {"ln_f.bias", "wte.weight", "wpe.weight", "h.1.attn.c_proj.bias", "h.0.ln_1.weight"};
    for (int i = 0; i < 5; i++) {
        ts_tset s;
        fixture_copy(&s);
        assert_int_equal(ts_tset_remove(&s, names[i]), 0);
        char *a = make_model("missing", g_config, &s, TS_ALIGN8);
        expect_refused_st(a, names[i], "missing");
        ts_tset_free(&s);
        free(a);
    }
}

/* Replaces `"key": old` in the fixture config; malloc'd. */
static char *config_with(const char *key, const char *value) {
    cJSON *root = cJSON_Parse(g_config);
    assert_non_null(root);
    cJSON *v = cJSON_Parse(value);
    assert_non_null(v);
    if (cJSON_GetObjectItemCaseSensitive(root, key))
        cJSON_ReplaceItemInObjectCaseSensitive(root, key, v);
    else
        cJSON_AddItemToObject(root, key, v);
    char *s = cJSON_Print(root);
    cJSON_Delete(root);
    return s;
}

static char *config_without(const char *key) {
    cJSON *root = cJSON_Parse(g_config);
    assert_non_null(root);
    cJSON_DeleteItemFromObjectCaseSensitive(root, key);
    char *s = cJSON_Print(root);
    cJSON_Delete(root);
    return s;
}

static void test_refuse_config_contradicts_tensors(void **state) {
    (void)state;
    struct {
        const char *key, *value, *needle;
    } cases[] = {
        {"n_embd", "32", "wte.weight"},
        {"n_embd", "128", "wte.weight"},
        {"n_layer", "1", "h.1."},
        {"n_layer", "3", "h.2."},
        {"vocab_size", "100", "wte.weight"},
        {"n_positions", "16", "wpe.weight"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *cfg = config_with(cases[i].key, cases[i].value);
        char *a = make_model("contradicts", cfg, &g_fix, TS_ALIGN8);
        expect_refused_st(a, cases[i].needle, NULL);
        free(cfg);
        free(a);
    }
}

static void test_refuse_no_config(void **state) {
    (void)state;
    char *a = make_model("noconfig", NULL, &g_fix, TS_ALIGN8);
    expect_refused(a, "config.json", NULL, NULL);
    char *stp = ts_path(a, "model.safetensors");
    expect_refused(stp, "config.json", NULL, NULL);
    free(stp);
    free(a);
}

static void test_refuse_bad_config(void **state) {
    (void)state;
    struct {
        const char *key, *value, *needle; /* value NULL: remove the key */
    } cases[] = {
        {"n_layer", "\"2\"", "n_layer"},
        {"n_embd", "64.5", "n_embd"},
        {"n_head", "true", "n_head"},
        {"n_head", "5", "n_head"},   /* does not divide 64 */
        {"n_head", "0", "n_head"},
        {"n_layer", "0", "n_layer"}, /* zero layers */
        {"n_layer", "-2", "n_layer"},
        {"vocab_size", "0", "vocab_size"},
        {"vocab_size", "1e12", "vocab_size"},
        {"n_positions", "0", "n_positions"},
        {"layer_norm_epsilon", "\"x\"", "layer_norm_epsilon"},
        {"layer_norm_epsilon", "-1", "layer_norm_epsilon"},
        {"vocab_size", NULL, "vocab_size"},
        {"n_head", NULL, "n_head"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *cfg = cases[i].value ? config_with(cases[i].key, cases[i].value) : config_without(cases[i].key);
        char *a = make_model("badconfig", cfg, &g_fix, TS_ALIGN8);
        char *cp = ts_path(a, "config.json");
        expect_refused(a, cp, cases[i].needle, NULL);
        free(cp);
        free(cfg);
        free(a);
    }
    /* neither n_positions nor n_ctx */
    char *c1 = config_without("n_positions");
    cJSON *root = cJSON_Parse(c1);
    cJSON_DeleteItemFromObjectCaseSensitive(root, "n_ctx");
    char *c2 = cJSON_Print(root);
    cJSON_Delete(root);
    char *a = make_model("nopositions", c2, &g_fix, TS_ALIGN8);
    expect_refused(a, "config.json", "n_positions", NULL);
    free(a);
    free(c1);
    free(c2);
    /* not JSON at all, and a JSON array */
    const char *texts[] = {"{\"n_layer\": 2,", "[2, 4, 64]", ""};
    for (int i = 0; i < 3; i++) {
        char *b = make_model("configtext", texts[i], &g_fix, TS_ALIGN8);
        expect_refused(b, "config.json", NULL, NULL);
        free(b);
    }
}

static void test_refuse_bad_paths(void **state) {
    (void)state;
    expect_refused("tests/fixtures/no-such-model", "no-such-model", NULL, NULL);
    expect_refused("tests/fixtures/gpt2-tiny/no-such.safetensors", "no-such.safetensors", NULL, NULL);
    /* a folder with a config but no weights */
    char *a = make_model("noweights", g_config, NULL, TS_ALIGN8);
    expect_refused(a, "model.safetensors", NULL, NULL);
    free(a);
    /* a directory named model.safetensors */
    char *b = make_model("dirweights", g_config, NULL, TS_ALIGN8);
    char *stp = ts_path(b, "model.safetensors");
    assert_int_equal(mkdir(stp, 0755), 0);
    expect_refused(b, "model.safetensors", NULL, NULL);
    free(stp);
    free(b);
}

/* ---- layouts that must load and agree ------------------------------------------- */

static void check_same_logits(const char *path, const char *what, double tol) {
    float *l = logits_of(path);
    double err = ts_max_abs_diff(l, g_logits, n_logits());
    print_message("  %s: max abs difference from the fixture %.3g\n", what, err);
    free(l);
    if (err > tol) fail_msg("%s: logits differ from the fixture's by %g", what, err);
}

static void test_load_folder_and_file(void **state) {
    (void)state;
    check_same_logits(TS_FIXTURE_ST, "the .safetensors file", 0);
    check_same_logits(TS_FIXTURE_DIR "/", "the folder with a trailing slash", 0);
    /* an absolute path */
    char cwd[4096];
    assert_non_null(getcwd(cwd, sizeof cwd));
    char *abs = ts_path(cwd, TS_FIXTURE_ST);
    check_same_logits(abs, "an absolute file path", 0);
    free(abs);
    /* the logits themselves are the reference's (the forward tests measure this closely) */
    float *ref;
    int nd;
    int64_t shape[8];
    status_t st = {0};
    assert_int_equal(npy_read_f32(TS_FIXTURE_REF_LOGITS, &ref, &nd, shape, &st), ST_OK);
    assert_true(ts_max_abs_diff(ref, g_logits, n_logits()) <= 1e-4);
    free(ref);
}

static void test_load_transformer_prefix(void **state) {
    (void)state;
    ts_tset s;
    fixture_copy(&s);
    for (int i = 0; i < s.n; i++) {
        char n[sizeof s.t[i].name];
        const char *pre = "transformer.";
        size_t lp = strlen(pre), ln = strlen(s.t[i].name);
        assert_true(lp + ln < sizeof n);
        memcpy(n, pre, lp);
        memcpy(n + lp, s.t[i].name, ln + 1);
        memcpy(s.t[i].name, n, sizeof n);
    }
    char *a = make_model("prefix", g_config, &s, TS_ALIGN8);
    check_same_logits(a, "transformer. prefix", 1e-6);
    /* the prefixed names are also checked against the config */
    char *cfg = config_with("n_layer", "1");
    char *b = make_model("prefix-contradicts", cfg, &s, TS_ALIGN8);
    expect_refused_st(b, "h.1.", NULL);
    ts_tset_free(&s);
    free(cfg);
    free(a);
    free(b);
}

static void test_load_unaligned(void **state) {
    (void)state;
    char *a = make_model("unaligned", g_config, &g_fix, TS_UNALIGNED);
    gpt2_model m;
    status_t st = {0};
    assert_int_equal(gpt2_load(&m, a, &st), ST_OK);
    assert_int_equal((uintptr_t)m.wte % sizeof(float), 0);
    assert_int_equal((uintptr_t)m.layers[1].fc_proj_w % sizeof(float), 0);
    const ts_tensor *wte = ts_tset_find(&g_fix, "wte.weight");
    assert_memory_equal(m.wte, wte->data, wte->nbytes);
    gpt2_free(&m);
    check_same_logits(a, "unaligned F32 data", 1e-6);
    free(a);
}

static void test_load_extra_tensors(void **state) {
    (void)state;
    ts_tset s;
    fixture_copy(&s);
    /* buffers some exports add: ignored */
    float mb = -1e4f;
    int64_t one = 1;
    ts_tset_add(&s, "h.0.attn.masked_bias", "F32", 1, &one, &mb, sizeof mb);
    ts_tset_add(&s, "h.1.attn.masked_bias", "F32", 1, &one, &mb, sizeof mb);
    int64_t four = 4;
    uint8_t b8[4] = {1, 2, 3, 4};
    ts_tset_add(&s, "some.other.int", "U8", 1, &four, b8, 4);
    char *a = make_model("extra", g_config, &s, TS_ALIGN8);
    check_same_logits(a, "extra tensors", 1e-6);
    ts_tset_free(&s);
    free(a);
    /* the causal-mask buffers may be absent */
    fixture_copy(&s);
    ts_tset_remove(&s, "h.0.attn.bias");
    ts_tset_remove(&s, "h.1.attn.bias");
    char *b = make_model("nomask", g_config, &s, TS_ALIGN8);
    check_same_logits(b, "no attn.bias buffers", 1e-6);
    ts_tset_free(&s);
    free(b);
}

static void test_load_n_ctx_key(void **state) {
    (void)state;
    char *cfg = config_without("n_positions"); /* n_ctx 32 remains */
    char *a = make_model("nctx", cfg, &g_fix, TS_ALIGN8);
    gpt2_model m;
    status_t st = {0};
    assert_int_equal(gpt2_load(&m, a, &st), ST_OK);
    assert_int_equal(m.cfg.n_ctx, 32);
    gpt2_free(&m);
    free(cfg);
    free(a);
}

static void test_load_lm_head_equal(void **state) {
    (void)state;
    ts_tset s;
    fixture_copy(&s);
    const ts_tensor *wte = ts_tset_find(&s, "wte.weight");
    ts_tensor copy = *wte;
    assert_int_equal(ts_tset_add(&s, "lm_head.weight", "F32", 2, copy.shape, copy.data, copy.nbytes), 0);
    char *a = make_model("lmhead-equal", g_config, &s, TS_ALIGN8);
    gpt2_model m;
    status_t st = {0};
    assert_int_equal(gpt2_load(&m, a, &st), ST_OK);
    assert_false(m.lm_head_tied);
    assert_true(m.lm_head != m.wte);
    assert_memory_equal(m.lm_head, m.wte, copy.nbytes);
    assert_int_equal(m.weight_bytes_f32, (config_param_count(&m.cfg) + 101 * 64) * 4);
    gpt2_free(&m);
    check_same_logits(a, "lm_head.weight equal to wte", 1e-6);
    ts_tset_free(&s);
    free(a);
}

static void test_load_lm_head_different(void **state) {
    (void)state;
    const int V = 101, d = 64;
    ts_tset s;
    fixture_copy(&s);
    const float *wte = (const float *)(const void *)ts_tset_find(&s, "wte.weight")->data;
    /* lm_head[v] = -wte[V-1-v]: logits become -logits[V-1-v] */
    float *lm = malloc((size_t)V * d * sizeof *lm);
    assert_non_null(lm);
    for (int v = 0; v < V; v++)
        for (int k = 0; k < d; k++) lm[(size_t)v * d + k] = -wte[(size_t)(V - 1 - v) * d + k];
    int64_t shape[2] = {V, d};
    assert_int_equal(ts_tset_add(&s, "lm_head.weight", "F32", 2, shape, lm, (size_t)V * d * 4), 0);
    char *a = make_model("lmhead-diff", g_config, &s, TS_ALIGN8);
    float *l = logits_of(a);
    size_t rows = (size_t)g_ref.B * g_ref.T;
    double err = 0, changed = 0;
    for (size_t r = 0; r < rows; r++)
        for (int v = 0; v < V; v++) {
            double e = fabs((double)l[r * V + v] + g_logits[r * V + (V - 1 - v)]);
            double c = fabs((double)l[r * V + v] - g_logits[r * V + v]);
            if (e > err) err = e;
            if (c > changed) changed = c;
        }
    print_message("  own lm_head: max abs error %.3g, changed by up to %.3g\n", err, changed);
    assert_true(err <= 1e-5);
    assert_true(changed > 0.1);
    free(l);
    free(lm);
    ts_tset_free(&s);
    free(a);
}

/* Converts every F32 tensor of the fixture to F16 or BF16 (half) and makes
 * the F32 twin whose values are the rounded ones. */
static void make_half_pair(int bf16, ts_tset *half, ts_tset *rounded) {
    fixture_copy(half);
    fixture_copy(rounded);
    for (int i = 0; i < half->n; i++) {
        ts_tensor *h = &half->t[i], *r = &rounded->t[i];
        size_t n = h->nbytes / 4;
        uint16_t *hb = malloc(n * 2 + 2);
        float *rf = malloc(n * 4 + 4);
        assert_non_null(hb);
        assert_non_null(rf);
        for (size_t k = 0; k < n; k++) {
            float x;
            memcpy(&x, h->data + 4 * k, 4);
            hb[k] = bf16 ? ts_f32_to_bf16(x) : ts_f32_to_f16(x);
            rf[k] = bf16 ? st_bf16_to_f32(hb[k]) : st_f16_to_f32(hb[k]);
        }
        assert_int_equal(ts_tensor_set_data(h, bf16 ? "BF16" : "F16", hb, n * 2), 0);
        assert_int_equal(ts_tensor_set_data(r, NULL, rf, n * 4), 0);
        free(hb);
        free(rf);
    }
}

static void check_half(int bf16) {
    const char *name = bf16 ? "BF16" : "F16";
    ts_tset half, rounded;
    make_half_pair(bf16, &half, &rounded);
    char *a = make_model(bf16 ? "bf16" : "f16", g_config, &half, TS_ALIGN8);
    char *b = make_model(bf16 ? "bf16-as-f32" : "f16-as-f32", g_config, &rounded, TS_ALIGN8);
    /* the widened weights are exactly the rounded values */
    gpt2_model m;
    status_t st = {0};
    assert_int_equal(gpt2_load(&m, a, &st), ST_OK);
    const ts_tensor *rw = ts_tset_find(&rounded, "wte.weight");
    const ts_tensor *rp = ts_tset_find(&rounded, "h.1.mlp.c_proj.weight");
    const ts_tensor *rb = ts_tset_find(&rounded, "h.0.attn.c_attn.bias");
    assert_memory_equal(m.wte, rw->data, rw->nbytes);
    assert_memory_equal(m.layers[1].fc_proj_w, rp->data, rp->nbytes);
    assert_memory_equal(m.layers[0].qkv_b, rb->data, rb->nbytes);
    assert_int_equal(m.weight_bytes_f32, config_param_count(&m.cfg) * 4);
    gpt2_free(&m);
    float *lh = logits_of(a), *lr = logits_of(b);
    double err = ts_max_abs_diff(lh, lr, n_logits());
    double vs_f32 = ts_max_abs_diff(lh, g_logits, n_logits());
    print_message("  %s: max abs error vs F32 on the rounded weights %.3g (vs the original F32 model %.3g)\n", name,
                  err, vs_f32);
    if (err > 1e-4) fail_msg("%s logits differ from the rounded F32 model's by %g", name, err);
    assert_true(vs_f32 > 0); /* the rounding is real */
    free(lh);
    free(lr);
    ts_tset_free(&half);
    ts_tset_free(&rounded);
    free(a);
    free(b);
}

static void test_load_f16(void **state) {
    (void)state;
    check_half(0);
}

static void test_load_bf16(void **state) {
    (void)state;
    check_half(1);
}

/* Mixed storage: some tensors F16, some BF16, the rest F32. */
static void test_load_mixed_dtypes(void **state) {
    (void)state;
    ts_tset f16, bf16, r16, rb16, mixed, rmixed;
    make_half_pair(0, &f16, &r16);
    make_half_pair(1, &bf16, &rb16);
    fixture_copy(&mixed);
    fixture_copy(&rmixed);
    for (int i = 0; i < mixed.n; i++) {
        int pick = i % 3; /* 0: F32, 1: F16, 2: BF16 */
        if (pick == 0) continue;
        const ts_tensor *h = pick == 1 ? &f16.t[i] : &bf16.t[i];
        const ts_tensor *r = pick == 1 ? &r16.t[i] : &rb16.t[i];
        ts_tensor_set_data(&mixed.t[i], h->dtype, h->data, h->nbytes);
        ts_tensor_set_data(&rmixed.t[i], NULL, r->data, r->nbytes);
    }
    char *a = make_model("mixed", g_config, &mixed, TS_UNALIGNED);
    char *b = make_model("mixed-as-f32", g_config, &rmixed, TS_ALIGN8);
    float *la = logits_of(a), *lb = logits_of(b);
    double err = ts_max_abs_diff(la, lb, n_logits());
    print_message("  mixed F32/F16/BF16: max abs error %.3g\n", err);
    assert_true(err <= 1e-4);
    free(la); free(lb); free(a); free(b);
    ts_tset_free(&f16); ts_tset_free(&bf16); ts_tset_free(&r16); ts_tset_free(&rb16);
    ts_tset_free(&mixed); ts_tset_free(&rmixed);
}

/* ---- config ------------------------------------------------------------------- */

static void test_config_by_name(void **state) {
    (void)state;
    struct {
        const char *name;
        int L, h, d;
        uint64_t params;
    } cases[] = {
        {"gpt2", 12, 12, 768, 124439808ull},
        {"gpt2-medium", 24, 16, 1024, 354823168ull},
        {"gpt2-large", 36, 20, 1280, 774030080ull},
        {"gpt2-xl", 48, 25, 1600, 1557611200ull},
    };
    for (int i = 0; i < 4; i++) {
        gpt2_config c;
        status_t st = {0};
        assert_int_equal(config_by_name(cases[i].name, &c, &st), ST_OK);
        assert_string_equal(c.name, cases[i].name);
        assert_int_equal(c.n_layer, cases[i].L);
        assert_int_equal(c.n_head, cases[i].h);
        assert_int_equal(c.n_embd, cases[i].d);
        assert_int_equal(c.n_ctx, 1024);
        assert_int_equal(c.vocab, 50257);
        assert_int_equal(config_head_dim(&c), 64);
        assert_float_equal(c.ln_eps, 1e-5f, 1e-12);
        assert_int_equal(config_param_count(&c), cases[i].params);
        assert_int_equal(config_validate(&c, c.name, &st), ST_OK);
    }
    const char *bad[] = {"gpt3", "GPT2", "gpt2-small", "", "gpt2 "};
    for (int i = 0; i < 5; i++) {
        gpt2_config c;
        status_t st = {0};
        assert_int_equal(config_by_name(bad[i], &c, &st), ST_BAD_INPUT);
        assert_int_equal(st.code, ST_BAD_INPUT);
        assert_non_null(strstr(st.msg, "gpt2-medium"));
        char quoted[32];
        snprintf(quoted, sizeof quoted, "'%s'", bad[i]);
        assert_non_null(strstr(st.msg, quoted));
    }
}

static void test_config_param_count(void **state) {
    (void)state;
    gpt2_config c;
    status_t st = {0};
    assert_int_equal(config_by_name("gpt2", &c, &st), ST_OK);
    assert_int_equal(config_param_count(&c), 124439808ull);
    assert_int_equal(config_by_name("gpt2-xl", &c, &st), ST_OK);
    assert_int_equal(config_param_count(&c), 1557611200ull);
    /* the formula L(12d^2 + 13d) + Vd + Td + 2d on an odd shape */
    gpt2_config o = {.n_layer = 3, .n_head = 1, .n_embd = 5, .n_ctx = 7, .vocab = 11};
    assert_int_equal(config_param_count(&o), 3 * (12 * 25 + 13 * 5) + 11 * 5 + 7 * 5 + 2 * 5);
}

static void test_config_json(void **state) {
    (void)state;
    gpt2_config c;
    status_t st = {0};
    assert_int_equal(config_from_json_file(TS_FIXTURE_CONFIG, &c, &st), ST_OK);
    assert_string_equal(c.name, "gpt2-tiny");
    assert_int_equal(c.n_ctx, 32);
    assert_int_equal(config_from_json_text("{\"n_layer\":1,\"n_head\":2,\"n_embd\":8,\"n_ctx\":4,\"vocab_size\":3,"
                                           "\"layer_norm_epsilon\":0.001}",
                                           "somewhere/x/config.json", &c, &st),
                     ST_OK);
    assert_string_equal(c.name, "x");
    assert_int_equal(c.n_layer, 1);
    assert_int_equal(c.n_head, 2);
    assert_int_equal(c.n_embd, 8);
    assert_int_equal(c.n_ctx, 4);
    assert_int_equal(c.vocab, 3);
    assert_float_equal(c.ln_eps, 0.001f, 1e-9);
    /* n_positions wins over n_ctx */
    assert_int_equal(config_from_json_text("{\"n_layer\":1,\"n_head\":2,\"n_embd\":8,\"n_ctx\":4,\"n_positions\":6,"
                                           "\"vocab_size\":3}",
                                           "config.json", &c, &st),
                     ST_OK);
    assert_int_equal(c.n_ctx, 6);
    assert_float_equal(c.ln_eps, 1e-5f, 1e-12); /* default */
    /* huge: refused, not overflowed */
    assert_int_equal(config_from_json_text("{\"n_layer\":4096,\"n_head\":1,\"n_embd\":1048576,\"n_positions\":1,"
                                           "\"vocab_size\":16777216}",
                                           "big/config.json", &c, &st),
                     ST_BAD_INPUT);
    assert_non_null(strstr(st.msg, "big/config.json"));
    assert_int_equal(config_from_json_file("tests/fixtures/none/config.json", &c, &st), ST_BAD_INPUT);
    assert_non_null(strstr(st.msg, "tests/fixtures/none/config.json"));
}

static void test_config_validate(void **state) {
    (void)state;
    gpt2_config ok = {.name = "t", .n_layer = 2, .n_head = 4, .n_embd = 64, .n_ctx = 32, .vocab = 101,
                      .ln_eps = 1e-5f};
    status_t st = {0};
    assert_int_equal(config_validate(&ok, "here", &st), ST_OK);
    gpt2_config c = ok;
    c.n_head = 3;
    assert_int_equal(config_validate(&c, "here", &st), ST_BAD_INPUT);
    assert_non_null(strstr(st.msg, "here"));
    assert_non_null(strstr(st.msg, "n_head"));
    c = ok;
    c.n_layer = 0;
    assert_int_equal(config_validate(&c, "here", &st), ST_BAD_INPUT);
    c = ok;
    c.n_ctx = -1;
    assert_int_equal(config_validate(&c, "here", &st), ST_BAD_INPUT);
    c = ok;
    c.vocab = 0;
    assert_int_equal(config_validate(&c, "here", &st), ST_BAD_INPUT);
    c = ok;
    c.n_embd = 0;
    c.n_head = 1;
    assert_int_equal(config_validate(&c, "here", &st), ST_BAD_INPUT);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fixture_open),
        cmocka_unit_test(test_dtype_helpers),
        cmocka_unit_test(test_half_conversions),
        cmocka_unit_test(test_fixture_load),
        cmocka_unit_test(test_refuse_truncated),
        cmocka_unit_test(test_refuse_header_length_past_end),
        cmocka_unit_test(test_refuse_header_not_json),
        cmocka_unit_test(test_refuse_offsets_outside_data),
        cmocka_unit_test(test_refuse_bad_entries),
        cmocka_unit_test(test_refuse_overlap),
        cmocka_unit_test(test_refuse_overlap_around_empty_tensor),
        cmocka_unit_test(test_refuse_fractional_offsets),
        cmocka_unit_test(test_refuse_unknown_dtype),
        cmocka_unit_test(test_refuse_wrong_shape),
        cmocka_unit_test(test_refuse_missing_tensor),
        cmocka_unit_test(test_refuse_config_contradicts_tensors),
        cmocka_unit_test(test_refuse_no_config),
        cmocka_unit_test(test_refuse_bad_config),
        cmocka_unit_test(test_refuse_bad_paths),
        cmocka_unit_test(test_load_folder_and_file),
        cmocka_unit_test(test_load_transformer_prefix),
        cmocka_unit_test(test_load_unaligned),
        cmocka_unit_test(test_load_extra_tensors),
        cmocka_unit_test(test_load_n_ctx_key),
        cmocka_unit_test(test_load_lm_head_equal),
        cmocka_unit_test(test_load_lm_head_different),
        cmocka_unit_test(test_load_f16),
        cmocka_unit_test(test_load_bf16),
        cmocka_unit_test(test_load_mixed_dtypes),
        cmocka_unit_test(test_config_by_name),
        cmocka_unit_test(test_config_param_count),
        cmocka_unit_test(test_config_json),
        cmocka_unit_test(test_config_validate),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
