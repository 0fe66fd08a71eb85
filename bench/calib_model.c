/* calib_model: the calibrated prediction from a calibration's tables, and
 * the calibration file (JSON) itself. See calib.h. */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "calib.h"
#include "context.h"
#include "machine.h"

/* ---- interpolation ------------------------------------------------------------ */

/* y at x by log-log interpolation over ascending xs; below the first point
 * the first value, beyond the last in proportion to x (GEMM time in M once
 * the kernel is compute-bound). */
static double interp_loglog_m(const int *xs, const double *ys, int n, double x) {
    if (n == 1) return x > xs[0] ? ys[0] * x / xs[0] : ys[0];
    if (x <= xs[0]) return ys[0];
    if (x >= xs[n - 1]) return ys[n - 1] * x / xs[n - 1];
    int i = 0;
    while (i + 2 < n && x > xs[i + 1]) i++;
    double t = (log(x) - log(xs[i])) / (log(xs[i + 1]) - log(xs[i]));
    return exp(log(ys[i]) + t * (log(ys[i + 1]) - log(ys[i])));
}

/* y at x linear between ascending xs, beyond the last along the last
 * segment (in proportion to x if that segment falls), the first value below. */
static double interp_linear_rows(const int *xs, const double *ys, int n, double x) {
    if (n == 1 || x <= xs[0]) return n == 1 && x > xs[0] ? ys[0] * x / xs[0] : ys[0];
    int i = 0;
    while (i + 2 < n && x > xs[i + 1]) i++;
    double slope = (ys[i + 1] - ys[i]) / (xs[i + 1] - xs[i]);
    if (x > xs[n - 1] && !(slope > 0)) return ys[n - 1] * x / xs[n - 1];
    return ys[i] + slope * (x - xs[i]);
}

/* Attention bandwidth (GB/s) at x KV bytes: log-linear in log x between the
 * measured points, constant beyond them. */
static double attn_gbs(const calibration *cal, double x) {
    const calib_attn *a = cal->attn;
    int n = cal->n_attn;
    if (n == 1 || x <= a[0].kv_bytes) return a[0].gbs;
    if (x >= a[n - 1].kv_bytes) return a[n - 1].gbs;
    int i = 0;
    while (i + 2 < n && x > a[i + 1].kv_bytes) i++;
    double t = (log(x) - log(a[i].kv_bytes)) / (log(a[i + 1].kv_bytes) - log(a[i].kv_bytes));
    return a[i].gbs + t * (a[i + 1].gbs - a[i].gbs);
}

static double gemm_at_m(const calib_gemm *g, double M) { return interp_loglog_m(g->m, g->ns, g->nm, M); }

/* One GEMM call of (K, N) with Q bytes per weight at M rows. */
static double gemm_ns(const calibration *cal, int K, int N, int lm_head, double Q, double M, int *interpolated) {
    if (Q == cal->q_bytes)
        for (int i = 0; i < cal->n_gemm; i++)
            if (cal->gemm[i].k == K && cal->gemm[i].n == N && cal->gemm[i].lm_head == lm_head)
                return gemm_at_m(&cal->gemm[i], M);
    *interpolated = 1;
    /* (weight bytes, time) of the shapes of the same kind; all shapes when none */
    double s[CALIB_GEMM_MAX], t[CALIB_GEMM_MAX];
    int n = 0;
    for (int pass = 0; pass < 2 && n == 0; pass++)
        for (int i = 0; i < cal->n_gemm; i++) {
            const calib_gemm *g = &cal->gemm[i];
            if (pass == 0 && g->lm_head != lm_head) continue;
            double si = (double)g->k * g->n * cal->q_bytes, ti = gemm_at_m(g, M);
            int k = 0;
            while (k < n && s[k] < si) k++;
            if (k < n && s[k] == si) { /* same size: their geometric mean */
                t[k] = sqrt(t[k] * ti);
                continue;
            }
            memmove(s + k + 1, s + k, (size_t)(n - k) * sizeof *s);
            memmove(t + k + 1, t + k, (size_t)(n - k) * sizeof *t);
            s[k] = si;
            t[k] = ti;
            n++;
        }
    double x = (double)K * N * Q;
    if (x <= s[0]) return t[0] * x / s[0];
    if (x >= s[n - 1]) return t[n - 1] * x / s[n - 1];
    int i = 0;
    while (i + 2 < n && x > s[i + 1]) i++;
    double f = (log(x) - log(s[i])) / (log(s[i + 1]) - log(s[i]));
    return exp(log(t[i]) + f * (log(t[i + 1]) - log(t[i])));
}

int calib_predict(const calibration *cal, const gpt2_config *c, int B, int S, double Q, double Qkv,
                  calib_prediction *p) {
    memset(p, 0, sizeof *p);
    if (cal->n_gemm < 1 || cal->n_attn < 1 || cal->n_rows < 1 || cal->n_embd < 1 || cal->vocab < 1 || B < 1 || S < 0)
        return -1;
    const int d = c->n_embd, L = c->n_layer, V = c->vocab;
    const double b = B, Ld = L;
    int interp = 0;
    p->op_ns[OP_QKV] = Ld * gemm_ns(cal, d, 3 * d, 0, Q, b, &interp);
    p->op_ns[OP_ATTN_PROJ] = Ld * gemm_ns(cal, d, d, 0, Q, b, &interp);
    p->op_ns[OP_FC] = Ld * gemm_ns(cal, d, 4 * d, 0, Q, b, &interp);
    p->op_ns[OP_FC_PROJ] = Ld * gemm_ns(cal, 4 * d, d, 0, Q, b, &interp);
    p->op_ns[OP_LM_HEAD] = gemm_ns(cal, d, V, 1, Q, b, &interp);
    const double x = b * 2.0 * (S + 1.0) * d * Qkv;
    p->op_ns[OP_ATTENTION] = Ld * (cal->attn_fixed_ns + x / attn_gbs(cal, x));
    const double sd = (double)d / cal->n_embd, sv = (double)V / cal->vocab;
    const int nr = cal->n_rows;
    const int *r = cal->rows;
    p->op_ns[OP_GELU] = Ld * sd * interp_linear_rows(r, cal->gelu_ns, nr, b);
    p->op_ns[OP_LAYERNORM] = (2 * Ld + 1) * sd * interp_linear_rows(r, cal->layernorm_ns, nr, b);
    p->op_ns[OP_OTHER] = sd * (interp_linear_rows(r, cal->embed_ns, nr, b) +
                               Ld * (interp_linear_rows(r, cal->kv_append_ns, nr, b) +
                                     2 * interp_linear_rows(r, cal->add_ns, nr, b)));
    p->op_ns[OP_ARGMAX] = sv * interp_linear_rows(r, cal->argmax_ns, nr, b);
    p->overhead_ns = cal->step_overhead_ns;
    p->step_ns = p->overhead_ns;
    for (int op = 0; op < OP_COUNT; op++) p->step_ns += p->op_ns[op];
    p->tok_s = p->step_ns > 0 ? b / (p->step_ns * 1e-9) : 0;
    p->dtype_scaled = Q != cal->q_bytes || Qkv != cal->qkv_bytes;
    p->shapes_interpolated = interp && !p->dtype_scaled;
    return 0;
}

double calib_op_share_ns(const calib_prediction *p, int op) {
    double sum = 0;
    for (int o = 0; o < OP_COUNT; o++) sum += p->op_ns[o];
    return sum > 0 ? p->op_ns[op] * (p->step_ns / sum) : 0;
}

/* ---- JSON ----------------------------------------------------------------------- */

static cJSON *num_array(const double *x, int n) {
    cJSON *a = cJSON_CreateArray();
    for (int i = 0; a && i < n; i++) cJSON_AddItemToArray(a, cJSON_CreateNumber(x[i]));
    return a;
}

cJSON *calib_to_json(const calibration *cal) {
    cJSON *o = cJSON_CreateObject();
    if (!o) return NULL;
    cJSON_AddNumberToObject(o, "schema_version", CALIB_SCHEMA_VERSION);
    cJSON_AddStringToObject(o, "kind", "calibration");
    cJSON_AddNumberToObject(o, "threads", cal->threads);
    cJSON_AddBoolToObject(o, "quick", cal->quick);
    cJSON_AddStringToObject(o, "host", cal->host);
    cJSON_AddStringToObject(o, "cpu", cal->cpu);
    cJSON_AddStringToObject(o, "date", cal->date);
    cJSON_AddStringToObject(o, "git_revision", cal->git_revision);
    cJSON_AddStringToObject(o, "kernel", cal->kernel);
    cJSON_AddStringToObject(o, "model", cal->model);
    cJSON_AddNumberToObject(o, "n_layer", cal->n_layer);
    cJSON_AddNumberToObject(o, "n_head", cal->n_head);
    cJSON_AddNumberToObject(o, "n_embd", cal->n_embd);
    cJSON_AddNumberToObject(o, "vocab", cal->vocab);
    cJSON_AddNumberToObject(o, "n_ctx", cal->n_ctx);
    cJSON_AddStringToObject(o, "dtype", cal->dtype);
    cJSON_AddStringToObject(o, "kv_dtype", cal->kv_dtype);
    cJSON_AddNumberToObject(o, "q_bytes", cal->q_bytes);
    cJSON_AddNumberToObject(o, "qkv_bytes", cal->qkv_bytes);
    cJSON_AddBoolToObject(o, "weights_resident", cal->weights_resident);
    cJSON_AddNumberToObject(o, "llc_bytes", cal->llc_bytes);
    cJSON_AddNumberToObject(o, "cold_bytes", cal->cold_bytes);
    cJSON *ga = cJSON_AddArrayToObject(o, "gemm");
    for (int i = 0; i < cal->n_gemm; i++) {
        const calib_gemm *g = &cal->gemm[i];
        cJSON *e = cJSON_CreateObject();
        cJSON_AddStringToObject(e, "name", g->name);
        cJSON_AddNumberToObject(e, "k", g->k);
        cJSON_AddNumberToObject(e, "n", g->n);
        cJSON_AddBoolToObject(e, "lm_head", g->lm_head);
        cJSON_AddItemToObject(e, "m", cJSON_CreateIntArray(g->m, g->nm));
        cJSON_AddItemToObject(e, "ns", num_array(g->ns, g->nm));
        double gf[CALIB_M_MAX], wb[CALIB_M_MAX];
        for (int k = 0; k < g->nm; k++) {
            gf[k] = 2.0 * g->m[k] * g->k * g->n / g->ns[k];
            wb[k] = (double)g->k * g->n * cal->q_bytes / g->ns[k];
        }
        cJSON_AddItemToObject(e, "gflops", num_array(gf, g->nm));
        cJSON_AddItemToObject(e, "weight_gbs", num_array(wb, g->nm));
        cJSON_AddItemToArray(ga, e);
    }
    cJSON *at = cJSON_AddObjectToObject(o, "attention");
    cJSON_AddNumberToObject(at, "fixed_ns", cal->attn_fixed_ns);
    cJSON *pts = cJSON_AddArrayToObject(at, "points");
    for (int i = 0; i < cal->n_attn; i++) {
        const calib_attn *a = &cal->attn[i];
        cJSON *e = cJSON_CreateObject();
        cJSON_AddNumberToObject(e, "batch", a->batch);
        cJSON_AddNumberToObject(e, "context", a->context);
        cJSON_AddNumberToObject(e, "kv_bytes", a->kv_bytes);
        cJSON_AddNumberToObject(e, "ns", a->ns);
        cJSON_AddNumberToObject(e, "gbs", a->gbs);
        cJSON_AddItemToArray(pts, e);
    }
    cJSON *el = cJSON_AddObjectToObject(o, "elementwise");
    cJSON_AddItemToObject(el, "rows", cJSON_CreateIntArray(cal->rows, cal->n_rows));
    cJSON_AddItemToObject(el, "layernorm_ns", num_array(cal->layernorm_ns, cal->n_rows));
    cJSON_AddItemToObject(el, "gelu_ns", num_array(cal->gelu_ns, cal->n_rows));
    cJSON_AddItemToObject(el, "add_ns", num_array(cal->add_ns, cal->n_rows));
    cJSON_AddItemToObject(el, "embed_ns", num_array(cal->embed_ns, cal->n_rows));
    cJSON_AddItemToObject(el, "kv_append_ns", num_array(cal->kv_append_ns, cal->n_rows));
    cJSON_AddItemToObject(el, "argmax_ns", num_array(cal->argmax_ns, cal->n_rows));
    cJSON_AddNumberToObject(o, "step_overhead_ns", cal->step_overhead_ns);
    cJSON_AddNumberToObject(o, "measure_s", cal->measure_s);
    cJSON_AddNumberToObject(o, "busy_cpus_before", cal->busy_cpus_before);
    cJSON_AddNumberToObject(o, "probe_read_gbs", cal->probe_read_gbs);
    cJSON_AddNumberToObject(o, "probe_peak_gflops", cal->probe_peak_gflops);
    cJSON_AddNumberToObject(o, "rounds", cal->rounds);
    cJSON_AddStringToObject(o, "method",
                            "median of 7 samples in each of `rounds` rounds, then the median over the rounds, ns per call; gemm: linear_lw, weights cold unless weights_resident; attention: one "
                            "layer, KV cold unless weights_resident, gbs = kv_bytes / (ns - fixed_ns); elementwise: "
                            "warm activations, kv_append to cold lines; step_overhead_ns: 1-layer tiny model step "
                            "minus its operators (docs/method.md, Calibrated prediction)");
    return o;
}

/* ---- reading, every field checked ------------------------------------------------ */

typedef struct {
    status_t *st;
    int rc;
} rd;

static const cJSON *item(rd *r, const cJSON *o, const char *key) {
    const cJSON *j = cJSON_GetObjectItemCaseSensitive(o, key);
    if (!j && !r->rc) r->rc = status_fail(r->st, ST_BAD_INPUT, "no field \"%s\"", key);
    return j;
}

static double rd_num(rd *r, const cJSON *o, const char *key, double lo, double hi) {
    const cJSON *j = item(r, o, key);
    if (r->rc) return 0;
    if (!cJSON_IsNumber(j) || !isfinite(j->valuedouble) || j->valuedouble < lo || j->valuedouble > hi) {
        r->rc = status_fail(r->st, ST_BAD_INPUT, "field \"%s\" is not a number in [%g, %g]", key, lo, hi);
        return 0;
    }
    return j->valuedouble;
}

static int rd_int(rd *r, const cJSON *o, const char *key, int lo, int hi) {
    double v = rd_num(r, o, key, lo, hi);
    if (!r->rc && v != floor(v)) r->rc = status_fail(r->st, ST_BAD_INPUT, "field \"%s\" is not a whole number", key);
    return (int)v;
}

static int rd_bool(rd *r, const cJSON *o, const char *key) {
    const cJSON *j = item(r, o, key);
    if (r->rc) return 0;
    if (!cJSON_IsBool(j)) r->rc = status_fail(r->st, ST_BAD_INPUT, "field \"%s\" is not true or false", key);
    return cJSON_IsTrue(j);
}

static void rd_str(rd *r, const cJSON *o, const char *key, char *buf, size_t len) {
    const cJSON *j = item(r, o, key);
    if (r->rc) return;
    if (!cJSON_IsString(j) || strlen(j->valuestring) >= len)
        r->rc = status_fail(r->st, ST_BAD_INPUT, "field \"%s\" is not a string of under %zu characters", key, len);
    else
        snprintf(buf, len, "%s", j->valuestring);
}

/* An array of n_expected (or, when *n < 0, 1..max: *n set) positive
 * numbers; strictly ascending when asc. */
static void rd_array(rd *r, const cJSON *o, const char *key, double *out, int *n, int max, int asc) {
    const cJSON *a = item(r, o, key);
    if (r->rc) return;
    int len = cJSON_IsArray(a) ? cJSON_GetArraySize(a) : -1;
    if (len < 1 || len > max || (*n >= 0 && len != *n)) {
        if (*n >= 0)
            r->rc = status_fail(r->st, ST_BAD_INPUT, "field \"%s\" is not an array of %d numbers", key, *n);
        else
            r->rc = status_fail(r->st, ST_BAD_INPUT, "field \"%s\" is not an array of 1 to %d numbers", key, max);
        return;
    }
    int i = 0;
    for (const cJSON *e = a->child; e; e = e->next, i++) {
        if (!cJSON_IsNumber(e) || !isfinite(e->valuedouble) || !(e->valuedouble > 0) ||
            (asc && i > 0 && !(e->valuedouble > out[i - 1]))) {
            r->rc = status_fail(r->st, ST_BAD_INPUT, "field \"%s\": element %d is not a positive number%s", key, i,
                                asc ? " above the one before" : "");
            return;
        }
        out[i] = e->valuedouble;
    }
    *n = len;
}

static void rd_int_array(rd *r, const cJSON *o, const char *key, int *out, int *n, int max) {
    double v[CALIB_M_MAX > CALIB_ROWS_MAX ? CALIB_M_MAX : CALIB_ROWS_MAX];
    *n = -1;
    rd_array(r, o, key, v, n, max, 1);
    for (int i = 0; !r->rc && i < *n; i++) {
        if (v[i] != floor(v[i]) || v[i] > 1 << 20) {
            r->rc = status_fail(r->st, ST_BAD_INPUT, "field \"%s\": element %d is not a whole number up to 2^20", key, i);
            return;
        }
        out[i] = (int)v[i];
    }
}

int calib_from_json(calibration *cal, const cJSON *j, status_t *st) {
    memset(cal, 0, sizeof *cal);
    rd r = {st, 0};
    if (!cJSON_IsObject(j)) return status_fail(st, ST_BAD_INPUT, "not a JSON object");
    const cJSON *kind = cJSON_GetObjectItemCaseSensitive(j, "kind");
    if (!cJSON_IsString(kind) || strcmp(kind->valuestring, "calibration") != 0)
        return status_fail(st, ST_BAD_INPUT, "not a calibration (\"kind\" is not \"calibration\")");
    cal->schema_version = rd_int(&r, j, "schema_version", CALIB_SCHEMA_VERSION, CALIB_SCHEMA_VERSION);
    cal->threads = rd_int(&r, j, "threads", 1, 4096);
    cal->quick = rd_bool(&r, j, "quick");
    rd_str(&r, j, "host", cal->host, sizeof cal->host);
    rd_str(&r, j, "cpu", cal->cpu, sizeof cal->cpu);
    rd_str(&r, j, "date", cal->date, sizeof cal->date);
    rd_str(&r, j, "git_revision", cal->git_revision, sizeof cal->git_revision);
    rd_str(&r, j, "kernel", cal->kernel, sizeof cal->kernel);
    rd_str(&r, j, "model", cal->model, sizeof cal->model);
    cal->n_layer = rd_int(&r, j, "n_layer", 1, 1 << 16);
    cal->n_head = rd_int(&r, j, "n_head", 1, 1 << 16);
    cal->n_embd = rd_int(&r, j, "n_embd", 1, 1 << 20);
    cal->vocab = rd_int(&r, j, "vocab", 1, 1 << 24);
    cal->n_ctx = rd_int(&r, j, "n_ctx", 1, 1 << 24);
    rd_str(&r, j, "dtype", cal->dtype, sizeof cal->dtype);
    rd_str(&r, j, "kv_dtype", cal->kv_dtype, sizeof cal->kv_dtype);
    cal->q_bytes = rd_num(&r, j, "q_bytes", 0.125, 8);
    cal->qkv_bytes = rd_num(&r, j, "qkv_bytes", 0.125, 8);
    cal->weights_resident = rd_bool(&r, j, "weights_resident");
    cal->llc_bytes = rd_num(&r, j, "llc_bytes", 0, 1e15);
    cal->cold_bytes = rd_num(&r, j, "cold_bytes", 0, 1e15);
    const cJSON *ga = item(&r, j, "gemm");
    if (!r.rc && (!cJSON_IsArray(ga) || cJSON_GetArraySize(ga) < 1 || cJSON_GetArraySize(ga) > CALIB_GEMM_MAX))
        r.rc = status_fail(st, ST_BAD_INPUT, "field \"gemm\" is not an array of 1 to %d shapes", CALIB_GEMM_MAX);
    for (const cJSON *e = r.rc ? NULL : ga->child; e && !r.rc; e = e->next) {
        calib_gemm *g = &cal->gemm[cal->n_gemm++];
        rd_str(&r, e, "name", g->name, sizeof g->name);
        g->k = rd_int(&r, e, "k", 1, 1 << 20);
        g->n = rd_int(&r, e, "n", 1, 1 << 24);
        g->lm_head = rd_bool(&r, e, "lm_head");
        rd_int_array(&r, e, "m", g->m, &g->nm, CALIB_M_MAX);
        rd_array(&r, e, "ns", g->ns, &g->nm, CALIB_M_MAX, 0);
    }
    const cJSON *at = item(&r, j, "attention");
    if (!r.rc && !cJSON_IsObject(at)) r.rc = status_fail(st, ST_BAD_INPUT, "field \"attention\" is not an object");
    if (!r.rc) cal->attn_fixed_ns = rd_num(&r, at, "fixed_ns", 0, 1e15);
    const cJSON *pts = r.rc ? NULL : item(&r, at, "points");
    if (!r.rc && (!cJSON_IsArray(pts) || cJSON_GetArraySize(pts) < 1 || cJSON_GetArraySize(pts) > CALIB_ATTN_MAX))
        r.rc = status_fail(st, ST_BAD_INPUT, "field \"attention.points\" is not an array of 1 to %d points",
                           CALIB_ATTN_MAX);
    for (const cJSON *e = r.rc ? NULL : pts->child; e && !r.rc; e = e->next) {
        calib_attn *a = &cal->attn[cal->n_attn++];
        a->batch = rd_int(&r, e, "batch", 1, 1 << 20);
        a->context = rd_int(&r, e, "context", 0, 1 << 24);
        a->kv_bytes = rd_num(&r, e, "kv_bytes", 1e-300, 1e18);
        a->ns = rd_num(&r, e, "ns", 1e-300, 1e18);
        a->gbs = rd_num(&r, e, "gbs", 1e-300, 1e18);
        if (!r.rc && cal->n_attn > 1 && !(a->kv_bytes > cal->attn[cal->n_attn - 2].kv_bytes))
            r.rc = status_fail(st, ST_BAD_INPUT, "field \"attention.points\": kv_bytes not ascending at point %d",
                               cal->n_attn - 1);
    }
    const cJSON *el = r.rc ? NULL : item(&r, j, "elementwise");
    if (!r.rc && !cJSON_IsObject(el)) r.rc = status_fail(st, ST_BAD_INPUT, "field \"elementwise\" is not an object");
    if (!r.rc) rd_int_array(&r, el, "rows", cal->rows, &cal->n_rows, CALIB_ROWS_MAX);
    rd_array(&r, el, "layernorm_ns", cal->layernorm_ns, &cal->n_rows, CALIB_ROWS_MAX, 0);
    rd_array(&r, el, "gelu_ns", cal->gelu_ns, &cal->n_rows, CALIB_ROWS_MAX, 0);
    rd_array(&r, el, "add_ns", cal->add_ns, &cal->n_rows, CALIB_ROWS_MAX, 0);
    rd_array(&r, el, "embed_ns", cal->embed_ns, &cal->n_rows, CALIB_ROWS_MAX, 0);
    rd_array(&r, el, "kv_append_ns", cal->kv_append_ns, &cal->n_rows, CALIB_ROWS_MAX, 0);
    rd_array(&r, el, "argmax_ns", cal->argmax_ns, &cal->n_rows, CALIB_ROWS_MAX, 0);
    cal->step_overhead_ns = rd_num(&r, j, "step_overhead_ns", 0, 1e15);
    cal->measure_s = rd_num(&r, j, "measure_s", 0, 1e9);
    const cJSON *busy = cJSON_GetObjectItemCaseSensitive(j, "busy_cpus_before"); /* optional */
    cal->busy_cpus_before = cJSON_IsNumber(busy) && isfinite(busy->valuedouble) ? busy->valuedouble : -1;
    const cJSON *probe = cJSON_GetObjectItemCaseSensitive(j, "probe_read_gbs"); /* optional: older files lack it */
    if (probe) cal->probe_read_gbs = rd_num(&r, j, "probe_read_gbs", 0, 1e6);
    if (cJSON_GetObjectItemCaseSensitive(j, "probe_peak_gflops")) /* optional: older files lack it */
        cal->probe_peak_gflops = rd_num(&r, j, "probe_peak_gflops", 0, 1e9);
    if (cJSON_GetObjectItemCaseSensitive(j, "rounds")) cal->rounds = rd_int(&r, j, "rounds", 0, 1000); /* optional */
    if (!r.rc) {
        wdtype dt;
        if (wdtype_parse(cal->dtype, &dt) != 0 || strcmp(wdtype_name(dt), cal->dtype) != 0)
            r.rc = status_fail(st, ST_BAD_INPUT, "field \"dtype\" is \"%s\", not f32, bf16, f16 or int8", cal->dtype);
        else if (wdtype_parse(cal->kv_dtype, &dt) != 0 || dt == WDT_INT8 || strcmp(wdtype_name(dt), cal->kv_dtype) != 0)
            r.rc = status_fail(st, ST_BAD_INPUT, "field \"kv_dtype\" is \"%s\", not f32, bf16 or f16", cal->kv_dtype);
    }
    if (r.rc) memset(cal, 0, sizeof *cal);
    return r.rc;
}

int calib_load(calibration *cal, const char *path, status_t *st) {
    memset(cal, 0, sizeof *cal);
    FILE *f = fopen(path, "rb");
    if (!f)
        return status_fail(st, ST_BAD_INPUT, "%s: cannot open the calibration (%s): make one with gpt2-bench calibrate",
                           path, strerror(errno));
    char *text = NULL;
    size_t len = 0;
    FILE *mem = open_memstream(&text, &len);
    int ch;
    while (mem && (ch = fgetc(f)) != EOF && len < (16u << 20)) fputc(ch, mem);
    fclose(f);
    if (!mem) return status_fail(st, ST_RUNTIME, "out of memory reading %s", path);
    fclose(mem);
    cJSON *j = text ? cJSON_Parse(text) : NULL;
    free(text);
    if (!j)
        return status_fail(st, ST_BAD_INPUT, "%s: not JSON: give a file from gpt2-bench calibrate (or calibrate again)",
                           path);
    int rc = calib_from_json(cal, j, st);
    cJSON_Delete(j);
    if (rc) {
        char msg[sizeof st->msg];
        snprintf(msg, sizeof msg, "%s", st->msg);
        return status_fail(st, rc, "%s: not a usable calibration: %s (make one with gpt2-bench calibrate)", path, msg);
    }
    snprintf(cal->path, sizeof cal->path, "%s", path);
    return ST_OK;
}

int calib_save(const calibration *cal, const char *path, status_t *st) {
    cJSON *j = calib_to_json(cal);
    char *text = j ? cJSON_Print(j) : NULL;
    cJSON_Delete(j);
    if (!text) return status_fail(st, ST_RUNTIME, "calibrate: out of memory writing the JSON");
    int rc = machine_write_atomic(path, text, st);
    free(text);
    return rc;
}

const char *calib_default_path(char *buf, size_t len, const char *results_dir, const char *host, int threads,
                               const char *dtype, const char *kv_dtype, int quick) {
    char h[256];
    machine_host_token(h, sizeof h, host);
    snprintf(buf, len, "%s/calib-%s-t%d-%s-%s%s.json", results_dir && *results_dir ? results_dir : ".", h, threads,
             dtype, kv_dtype, quick ? "-quick" : "");
    return buf;
}

int calib_check_use(const calibration *cal, const char *who, int threads, const char *dtype, const char *kv_dtype,
                    int force, status_t *st) {
    if (force) return ST_OK;
    char host[256];
    context_hostname(host, sizeof host);
    const char *src = cal->path[0] ? cal->path : "the calibration";
    if (strcmp(cal->host, host) != 0)
        return status_fail(st, ST_BAD_INPUT,
                           "%s: %s was measured on host '%s', this is '%s': its timings describe another machine; "
                           "run gpt2-bench calibrate here, or pass --force to use it anyway",
                           who, src, cal->host, host);
    if (threads > 0 && cal->threads != threads)
        return status_fail(st, ST_BAD_INPUT,
                           "%s: %s was measured with %d threads, this run uses %d: calibrate with --threads %d, or pass "
                           "--force to use it anyway",
                           who, src, cal->threads, threads, threads);
    if ((dtype && strcmp(cal->dtype, dtype) != 0) || (kv_dtype && strcmp(cal->kv_dtype, kv_dtype) != 0))
        return status_fail(st, ST_BAD_INPUT,
                           "%s: %s was measured with %s weights and %s KV, this run uses %s and %s: calibrate with "
                           "--dtype %s --kv-dtype %s, or pass --force to scale it by bytes",
                           who, src, cal->dtype, cal->kv_dtype, dtype ? dtype : cal->dtype,
                           kv_dtype ? kv_dtype : cal->kv_dtype, dtype ? dtype : cal->dtype,
                           kv_dtype ? kv_dtype : cal->kv_dtype);
    return ST_OK;
}
