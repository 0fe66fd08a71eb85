/* test_support: helpers shared by the test programs, header-only (each test
 * program links only its own .c file and the library). Everything here is
 * `static inline` so a program that does not use a helper does not warn.
 *
 *   - seeded random numbers
 *   - a temporary directory, files in it, its removal
 *   - a safetensors writer: raw (header string + data bytes) and from a
 *     tensor set (name, dtype, shape, bytes) that tests can edit
 *   - f32 -> f16 / bf16 rounding (round to nearest even)
 *   - fixture paths and reference data (reference.json, .npy)
 *   - logits of a model over (B, T) tokens by prefill or batched decode
 */
#ifndef GR_TEST_SUPPORT_H
#define GR_TEST_SUPPORT_H

#include <cjson/cJSON.h>
#include <errno.h>
#include <ftw.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../bench/npy.h"
#include "../kernels/gemm_packed.h"
#include "../model/forward.h"
#include "../model/safetensors.h"
#include "../model/weights.h"

#define TS_FIXTURE_DIR "tests/fixtures/gpt2-tiny"
#define TS_FIXTURE_ST TS_FIXTURE_DIR "/model.safetensors"
#define TS_FIXTURE_CONFIG TS_FIXTURE_DIR "/config.json"
#define TS_FIXTURE_REF_JSON TS_FIXTURE_DIR "/reference.json"
#define TS_FIXTURE_REF_LOGITS TS_FIXTURE_DIR "/reference.logits.npy"
#define TS_FIXTURE_REF_FULL TS_FIXTURE_DIR "/reference.full_ctx.logits.npy"

/* ---- random numbers ---------------------------------------------------- */

/* The kernel paths this machine can run: portable always, AVX2 and
 * AVX-512 when present; tests of a kernel with a path of its own check each. */
static inline int ts_gemm_paths(gemm_path out[3]) {
    int n = 0;
    out[n++] = GEMM_PATH_PORTABLE;
    if (gemm_path_available(GEMM_PATH_AVX2)) out[n++] = GEMM_PATH_AVX2;
    if (gemm_path_available(GEMM_PATH_AVX512)) out[n++] = GEMM_PATH_AVX512;
    return n;
}

static inline uint64_t ts_rand_u64(uint64_t *s) {
    uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

/* Uniform in [lo, hi). */
static inline float ts_uniform(uint64_t *s, float lo, float hi) {
    double u = (double)(ts_rand_u64(s) >> 11) * (1.0 / 9007199254740992.0);
    return (float)(lo + (hi - lo) * u);
}

static inline void ts_fill(float *x, size_t n, uint64_t seed, float lo, float hi) {
    uint64_t s = seed;
    for (size_t i = 0; i < n; i++) x[i] = ts_uniform(&s, lo, hi);
}

/* ---- comparisons -------------------------------------------------------- */

static inline double ts_max_abs_diff(const float *a, const float *b, size_t n) {
    double m = 0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)a[i] - (double)b[i]);
        if (!(d <= m)) m = d; /* NaN propagates as the maximum */
    }
    return m;
}

static inline double ts_max_abs(const float *a, size_t n) {
    double m = 0;
    for (size_t i = 0; i < n; i++)
        if (fabs((double)a[i]) > m) m = fabs((double)a[i]);
    return m;
}

static inline int ts_all_finite(const float *a, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (!isfinite(a[i])) return 0;
    return 1;
}

/* ---- files --------------------------------------------------------------- */

/* A fresh directory under /tmp; malloc'd path, or NULL. */
static inline char *ts_mkdtemp(void) {
    char tmpl[] = "/tmp/gpt2-tests.XXXXXX";
    char *d = mkdtemp(tmpl);
    return d ? strdup(d) : NULL;
}

static inline int ts_rm_cb(const char *path, const struct stat *sb, int flag, struct FTW *ftw) {
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(path);
}

/* Removes a directory and everything in it. */
static inline int ts_rmtree(const char *dir) {
    if (!dir) return 0;
    return nftw(dir, ts_rm_cb, 16, FTW_DEPTH | FTW_PHYS);
}

/* Joins into a malloc'd string "a/b". */
static inline char *ts_path(const char *a, const char *b) {
    size_t n = strlen(a) + strlen(b) + 2;
    char *p = malloc(n);
    if (p) snprintf(p, n, "%s/%s", a, b);
    return p;
}

static inline int ts_write_file(const char *path, const void *data, size_t n) {
    FILE *f = fopen(path, "wb");
    if (!f) return -1;
    size_t w = n ? fwrite(data, 1, n, f) : 0;
    int rc = fclose(f);
    return (w == n && rc == 0) ? 0 : -1;
}

/* Whole file, malloc'd and NUL-terminated; *n its size (may be NULL). */
static inline char *ts_read_file(const char *path, size_t *n) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    if (fseek(f, 0, SEEK_END) != 0) { fclose(f); return NULL; }
    long len = ftell(f);
    if (len < 0) { fclose(f); return NULL; }
    rewind(f);
    char *buf = malloc((size_t)len + 1);
    if (!buf) { fclose(f); return NULL; }
    size_t got = fread(buf, 1, (size_t)len, f);
    fclose(f);
    if (got != (size_t)len) { free(buf); return NULL; }
    buf[len] = 0;
    if (n) *n = (size_t)len;
    return buf;
}

static inline int ts_copy_file(const char *from, const char *to) {
    size_t n;
    char *b = ts_read_file(from, &n);
    if (!b) return -1;
    int rc = ts_write_file(to, b, n);
    free(b);
    return rc;
}

static inline int ts_file_exists(const char *path) {
    struct stat sb;
    return stat(path, &sb) == 0;
}

/* ---- safetensors writer --------------------------------------------------- */

/* Writes 8-byte little-endian `hlen_field`, `hlen` header bytes, then the data.
 * hlen_field normally equals hlen; a test can make them disagree. */
static inline int ts_write_st_raw_len(const char *path, uint64_t hlen_field, const char *header, size_t hlen,
                                      const void *data, size_t data_len) {
    FILE *f = fopen(path, "wb");
    if (!f) return -1;
    unsigned char le[8];
    for (int i = 0; i < 8; i++) le[i] = (unsigned char)(hlen_field >> (8 * i));
    int ok = fwrite(le, 1, 8, f) == 8;
    if (ok && hlen) ok = fwrite(header, 1, hlen, f) == hlen;
    if (ok && data_len) ok = fwrite(data, 1, data_len, f) == data_len;
    ok = (fclose(f) == 0) && ok;
    return ok ? 0 : -1;
}

/* Header given as a string (its length is the header length). */
static inline int ts_write_st_raw(const char *path, const char *header, const void *data, size_t data_len) {
    size_t hlen = strlen(header);
    return ts_write_st_raw_len(path, hlen, header, hlen, data, data_len);
}

/* One tensor of a set: its bytes are owned by the set. */
typedef struct {
    char name[160];
    char dtype[16];
    int ndim;
    int64_t shape[ST_MAX_DIMS];
    unsigned char *data;
    size_t nbytes;
} ts_tensor;

typedef struct {
    ts_tensor *t;
    int n, cap;
} ts_tset;

static inline int ts_tset_add(ts_tset *s, const char *name, const char *dtype, int ndim, const int64_t *shape,
                              const void *data, size_t nbytes) {
    if (s->n == s->cap) {
        int cap = s->cap ? 2 * s->cap : 32;
        ts_tensor *t = realloc(s->t, (size_t)cap * sizeof *t);
        if (!t) return -1;
        s->t = t;
        s->cap = cap;
    }
    ts_tensor *t = &s->t[s->n];
    memset(t, 0, sizeof *t);
    snprintf(t->name, sizeof t->name, "%s", name);
    snprintf(t->dtype, sizeof t->dtype, "%s", dtype);
    t->ndim = ndim;
    for (int i = 0; i < ndim; i++) t->shape[i] = shape[i];
    t->data = malloc(nbytes ? nbytes : 1);
    if (!t->data) return -1;
    if (nbytes) memcpy(t->data, data, nbytes);
    t->nbytes = nbytes;
    s->n++;
    return 0;
}

static inline void ts_tset_free(ts_tset *s) {
    for (int i = 0; i < s->n; i++) free(s->t[i].data);
    free(s->t);
    memset(s, 0, sizeof *s);
}

static inline ts_tensor *ts_tset_find(ts_tset *s, const char *name) {
    for (int i = 0; i < s->n; i++)
        if (strcmp(s->t[i].name, name) == 0) return &s->t[i];
    return NULL;
}

static inline int ts_tset_remove(ts_tset *s, const char *name) {
    for (int i = 0; i < s->n; i++)
        if (strcmp(s->t[i].name, name) == 0) {
            free(s->t[i].data);
            memmove(&s->t[i], &s->t[i + 1], (size_t)(s->n - i - 1) * sizeof *s->t);
            s->n--;
            return 0;
        }
    return -1;
}

/* Sets the dtype string of the named tensor; -1 when absent. */
static inline int ts_tset_set_dtype(ts_tset *s, const char *name, const char *dtype) {
    ts_tensor *t = ts_tset_find(s, name);
    if (!t) return -1;
    snprintf(t->dtype, sizeof t->dtype, "%s", dtype);
    return 0;
}

/* Replaces a tensor's bytes (and dtype when not NULL). */
static inline int ts_tensor_set_data(ts_tensor *t, const char *dtype, const void *data, size_t nbytes) {
    unsigned char *d = malloc(nbytes ? nbytes : 1);
    if (!d) return -1;
    if (nbytes) memcpy(d, data, nbytes);
    free(t->data);
    t->data = d;
    t->nbytes = nbytes;
    if (dtype) snprintf(t->dtype, sizeof t->dtype, "%s", dtype);
    return 0;
}

/* Every tensor of a safetensors file, in header order. */
static inline int ts_tset_from_file(ts_tset *s, const char *path) {
    memset(s, 0, sizeof *s);
    st_file f;
    status_t st = {0};
    if (st_open(&f, path, &st) != ST_OK) return -1;
    int rc = 0;
    for (int i = 0; i < f.n_tensors && !rc; i++) {
        const st_tensor *t = &f.tensors[i];
        rc = ts_tset_add(s, t->name, t->dtype_str, t->ndim, t->shape, f.data + t->begin, t->end - t->begin);
    }
    st_close(&f);
    if (rc) ts_tset_free(s);
    return rc;
}

/* Layout of ts_tset_write's header. */
enum {
    TS_ALIGN8 = 0,    /* header padded with spaces to a multiple of 8 (as the reference writer does) */
    TS_UNALIGNED = 1, /* header length = 1 mod 4: every F32 tensor starts unaligned */
};

/* Writes the set as a safetensors file: tensors packed in order, with a
 * "__metadata__" entry. */
static inline int ts_tset_write(const ts_tset *s, const char *path, int layout) {
    cJSON *root = cJSON_CreateObject();
    cJSON *meta = cJSON_AddObjectToObject(root, "__metadata__");
    cJSON_AddStringToObject(meta, "format", "pt");
    size_t off = 0;
    for (int i = 0; i < s->n; i++) {
        const ts_tensor *t = &s->t[i];
        cJSON *e = cJSON_AddObjectToObject(root, t->name);
        cJSON_AddStringToObject(e, "dtype", t->dtype);
        cJSON *sh = cJSON_AddArrayToObject(e, "shape");
        for (int k = 0; k < t->ndim; k++) cJSON_AddItemToArray(sh, cJSON_CreateNumber((double)t->shape[k]));
        cJSON *o = cJSON_AddArrayToObject(e, "data_offsets");
        cJSON_AddItemToArray(o, cJSON_CreateNumber((double)off));
        cJSON_AddItemToArray(o, cJSON_CreateNumber((double)(off + t->nbytes)));
        off += t->nbytes;
    }
    char *json = cJSON_PrintUnformatted(root);
    cJSON_Delete(root);
    if (!json) return -1;
    size_t hlen = strlen(json);
    size_t padded = layout == TS_UNALIGNED ? hlen + (5 - hlen % 4) % 4 : (hlen + 7) / 8 * 8;
    char *hdr = malloc(padded + 1);
    unsigned char *data = malloc(off ? off : 1);
    int rc = -1;
    if (hdr && data) {
        memcpy(hdr, json, hlen);
        memset(hdr + hlen, ' ', padded - hlen);
        hdr[padded] = 0;
        size_t p = 0;
        for (int i = 0; i < s->n; i++) {
            if (s->t[i].nbytes) memcpy(data + p, s->t[i].data, s->t[i].nbytes);
            p += s->t[i].nbytes;
        }
        rc = ts_write_st_raw_len(path, padded, hdr, padded, data, off);
    }
    free(json);
    free(hdr);
    free(data);
    return rc;
}

/* Makes DIR/NAME/ with a config.json (text) and a model.safetensors from
 * the set; returns the folder path (malloc'd) or NULL. */
static inline char *ts_make_model(const char *dir, const char *name, const char *config_text, const ts_tset *s,
                                  int layout) {
    char *folder = ts_path(dir, name);
    if (!folder) return NULL;
    if (mkdir(folder, 0755) != 0 && errno != EEXIST) { free(folder); return NULL; }
    char *cfg = ts_path(folder, "config.json");
    char *stp = ts_path(folder, "model.safetensors");
    int rc = !cfg || !stp;
    if (!rc && config_text) rc = ts_write_file(cfg, config_text, strlen(config_text));
    if (!rc && s) rc = ts_tset_write(s, stp, layout);
    free(cfg);
    free(stp);
    if (rc) { free(folder); return NULL; }
    return folder;
}

/* ---- half precision --------------------------------------------------------- */

static inline uint32_t ts_f32_bits(float f) {
    uint32_t u;
    memcpy(&u, &f, 4);
    return u;
}

static inline float ts_bits_f32(uint32_t u) {
    float f;
    memcpy(&f, &u, 4);
    return f;
}

/* Round to nearest even; finite inputs. */
static inline uint16_t ts_f32_to_bf16(float f) {
    uint32_t u = ts_f32_bits(f);
    if ((u & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((u >> 16) | 0x40); /* NaN stays NaN */
    u += 0x7fffu + ((u >> 16) & 1u);
    return (uint16_t)(u >> 16);
}

/* Round to nearest even, with subnormals and overflow to infinity. */
static inline uint16_t ts_f32_to_f16(float f) {
    uint32_t u = ts_f32_bits(f);
    uint16_t sign = (uint16_t)((u >> 16) & 0x8000u);
    uint32_t a = u & 0x7fffffffu;
    if (a > 0x7f800000u) return (uint16_t)(sign | 0x7e00u);
    if (a >= 0x477ff000u) return (uint16_t)(sign | 0x7c00u); /* >= 65520 rounds to infinity */
    if (a < 0x38800000u) { /* below 2^-14: subnormal half or zero */
        /* value = a as float; half subnormal unit is 2^-24 */
        float v = ts_bits_f32(a);
        float q = v * 16777216.0f; /* in units of 2^-24, exact scaling */
        float r = nearbyintf(q);  /* default rounding mode: nearest even */
        return (uint16_t)(sign | (uint16_t)r);
    }
    uint32_t exp = ((a >> 23) - 127 + 15);
    uint32_t mant = a & 0x7fffffu;
    uint32_t h = (exp << 10) | (mant >> 13);
    uint32_t rest = mant & 0x1fffu;
    if (rest > 0x1000u || (rest == 0x1000u && (h & 1u))) h++; /* may carry into the exponent: still right */
    return (uint16_t)(sign | h);
}

/* ---- fixture reference ------------------------------------------------------ */

typedef struct {
    int n_layer, n_head, n_embd, n_ctx, vocab;
    int B, T;
    int *tokens;         /* (B, T) */
    int n_prompt;
    int *prompt;         /* greedy_prompt */
    int n_cont;
    int *cont;           /* greedy_continuation */
    int n_full;
    int *full;           /* full_ctx_tokens */
} ts_reference;

static inline int *ts_json_int_array(const cJSON *a, int *n) {
    if (!cJSON_IsArray(a)) return NULL;
    *n = cJSON_GetArraySize(a);
    int *v = malloc((size_t)(*n ? *n : 1) * sizeof *v);
    if (!v) return NULL;
    int i = 0;
    for (const cJSON *e = a->child; e; e = e->next) v[i++] = cJSON_IsNumber(e) ? e->valueint : -1;
    return v;
}

static inline void ts_reference_free(ts_reference *r) {
    free(r->tokens);
    free(r->prompt);
    free(r->cont);
    free(r->full);
    memset(r, 0, sizeof *r);
}

static inline int ts_reference_load(ts_reference *r) {
    memset(r, 0, sizeof *r);
    char *text = ts_read_file(TS_FIXTURE_REF_JSON, NULL);
    if (!text) return -1;
    cJSON *root = cJSON_Parse(text);
    free(text);
    if (!root) return -1;
    int rc = 0;
    const cJSON *c = cJSON_GetObjectItemCaseSensitive(root, "config");
    r->n_layer = cJSON_GetObjectItemCaseSensitive(c, "n_layer")->valueint;
    r->n_head = cJSON_GetObjectItemCaseSensitive(c, "n_head")->valueint;
    r->n_embd = cJSON_GetObjectItemCaseSensitive(c, "n_embd")->valueint;
    r->n_ctx = cJSON_GetObjectItemCaseSensitive(c, "n_ctx")->valueint;
    r->vocab = cJSON_GetObjectItemCaseSensitive(c, "n_vocab")->valueint;
    const cJSON *toks = cJSON_GetObjectItemCaseSensitive(root, "tokens");
    r->B = cJSON_GetArraySize(toks);
    r->T = cJSON_GetArraySize(cJSON_GetArrayItem(toks, 0));
    r->tokens = malloc((size_t)r->B * r->T * sizeof *r->tokens);
    if (!r->tokens) rc = -1;
    for (int b = 0; b < r->B && !rc; b++) {
        int n = 0;
        int *row = ts_json_int_array(cJSON_GetArrayItem(toks, b), &n);
        if (!row || n != r->T) rc = -1;
        else memcpy(r->tokens + (size_t)b * r->T, row, (size_t)n * sizeof *row);
        free(row);
    }
    if (!rc) r->prompt = ts_json_int_array(cJSON_GetObjectItemCaseSensitive(root, "greedy_prompt"), &r->n_prompt);
    if (!rc) r->cont = ts_json_int_array(cJSON_GetObjectItemCaseSensitive(root, "greedy_continuation"), &r->n_cont);
    if (!rc) r->full = ts_json_int_array(cJSON_GetObjectItemCaseSensitive(root, "full_ctx_tokens"), &r->n_full);
    if (!r->prompt || !r->cont || !r->full) rc = -1;
    cJSON_Delete(root);
    if (rc) ts_reference_free(r);
    return rc;
}

/* "1,2,3;4,5,6" for (B, T) ids; malloc'd. */
static inline char *ts_tokens_arg(const int *tokens, int B, int T) {
    size_t cap = (size_t)B * T * 12 + 2, len = 0;
    char *s = malloc(cap);
    if (!s) return NULL;
    s[0] = 0;
    for (int b = 0; b < B; b++)
        for (int t = 0; t < T; t++)
            len += (size_t)snprintf(s + len, cap - len, "%s%d", t ? "," : (b ? ";" : ""), tokens[b * T + t]);
    return s;
}

/* ---- model helpers -------------------------------------------------------------- */

/* logits: (B, T, V) of every position. prefill: one gpt2_forward over all T;
 * else one batched decode step per position. */
static inline int ts_logits(const gpt2_model *m, const int *tokens, int B, int T, int prefill, float *logits,
                            status_t *st) {
    const int V = m->cfg.vocab;
    gpt2_state s;
    int rc = gpt2_state_init(&s, &m->cfg, B, prefill ? T : 1, T, st);
    if (rc) return rc;
    if (prefill) {
        rc = gpt2_forward(m, &s, tokens, T, logits, LOGITS_ALL, st);
    } else {
        int *col = malloc((size_t)B * sizeof *col);
        float *step = malloc((size_t)B * V * sizeof *step);
        if (!col || !step) rc = ST_RUNTIME;
        for (int t = 0; t < T && !rc; t++) {
            for (int b = 0; b < B; b++) col[b] = tokens[(size_t)b * T + t];
            rc = gpt2_forward(m, &s, col, 1, step, LOGITS_LAST, st);
            for (int b = 0; b < B && !rc; b++)
                memcpy(logits + ((size_t)b * T + t) * V, step + (size_t)b * V, (size_t)V * sizeof(float));
        }
        free(col);
        free(step);
    }
    gpt2_state_free(&s);
    return rc;
}

/* Loads a model folder/file and computes its (B, T, V) logits; malloc'd
 * logits in *out. Returns the load/forward status code. */
static inline int ts_load_logits(const char *path, const int *tokens, int B, int T, int prefill, float **out,
                                 status_t *st) {
    gpt2_model m;
    *out = NULL;
    int rc = gpt2_load(&m, path, st);
    if (rc) return rc;
    float *l = malloc((size_t)B * T * m.cfg.vocab * sizeof *l);
    rc = l ? ts_logits(&m, tokens, B, T, prefill, l, st) : ST_RUNTIME;
    gpt2_free(&m);
    if (rc) { free(l); return rc; }
    *out = l;
    return ST_OK;
}

#endif
