/* calibrate: each operator's own kernel timed alone at the model's decode
 * shapes (calib.h). */
#include <math.h>
#include <omp.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "../kernels/bigalloc.h"
#include "../kernels/gemm_lowp.h"
#include "../kernels/kernels.h"
#include "../model/kvcache.h"
#include "calib.h"
#include "probe.h"
#include "stats.h"
#include "context.h"
#include "decode_run.h"
#include "machine.h"

static double now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e9 + ts.tv_nsec;
}

static void say(FILE *progress, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void say(FILE *progress, const char *fmt, ...) {
    if (!progress) return;
    va_list ap;
    va_start(ap, fmt);
    fputs("calibrate: ", progress);
    vfprintf(progress, fmt, ap);
    fputc('\n', progress);
    va_end(ap);
    fflush(progress);
}

/* ---- timing ------------------------------------------------------------------- */

typedef void (*work_fn)(void *ctx, long i);

typedef struct {
    int samples;   /* samples per figure */
    double min_ns; /* a sample lasts at least this long (k calls) */
} timing;

/* ns per call, the median of the samples: one untimed call, then
 * `samples` samples of k calls each (k so that a sample lasts min_ns; a
 * first call that long is the first sample). The median, because a decode
 * record reports the median repetition: the forecast is of the same
 * statistic (the lower quartile, used before, forecast 3-8% fast on this
 * shared host). i runs on across all calls, so cycling through copies goes
 * on. */
static double time_calls(work_fn fn, void *ctx, const timing *tm) {
    long i = 0;
    fn(ctx, i++);
    double t0 = now_ns();
    fn(ctx, i++);
    double t1 = now_ns() - t0;
    double s[16];
    int n = 0, want = tm->samples < 16 ? tm->samples : 16;
    if (t1 > 1e8 && want > 3) want = 3; /* calls over 0.1 s: three samples are enough */
    long k = 1;
    if (t1 >= tm->min_ns) s[n++] = t1;
    else k = (long)ceil(tm->min_ns / (t1 > 1 ? t1 : 1));
    if (k > 1000000) k = 1000000;
    while (n < want) {
        t0 = now_ns();
        for (long j = 0; j < k; j++) fn(ctx, i++);
        s[n++] = (now_ns() - t0) / k;
    }
    return stats_median(s, n);
}

/* CPUs kept busy by other work over 0.25 s (from /proc/stat), -1 unknown. */
static double busy_cpus(void) {
    unsigned long long a[2][8];
    for (int k = 0; k < 2; k++) {
        FILE *f = fopen("/proc/stat", "r");
        if (!f) return -1;
        int got = fscanf(f, "cpu %llu %llu %llu %llu %llu %llu %llu %llu", &a[k][0], &a[k][1], &a[k][2], &a[k][3],
                         &a[k][4], &a[k][5], &a[k][6], &a[k][7]);
        fclose(f);
        if (got != 8) return -1;
        if (k == 0) {
            struct timespec ts = {0, 250000000};
            nanosleep(&ts, NULL);
        }
    }
    double total = 0, idle = (double)(a[1][3] - a[0][3]) + (double)(a[1][4] - a[0][4]);
    for (int i = 0; i < 8; i++) total += (double)(a[1][i] - a[0][i]);
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    return total > 0 && cpus > 0 ? (1 - idle / total) * cpus : -1;
}

static void fill(float *x, size_t n, uint64_t seed) {
    uint64_t s = seed * 0x9e3779b97f4a7c15ull + 1;
    for (size_t i = 0; i < n; i++) {
        s = s * 6364136223846793005ull + 1442695040888963407ull;
        x[i] = (float)((int32_t)(s >> 32)) * (0.05f / 2147483648.0f);
    }
}

static float *falloc(size_t n) { return big_alloc((n ? n : 1) * sizeof(float)); }

/* ---- GEMM ----------------------------------------------------------------------- */

typedef struct {
    packed_lw *p;
    int copies;
    float *x, *y;
    const float *bias;
    int M;
} gemm_ctx;

static void gemm_call(void *c, long i) {
    gemm_ctx *g = c;
    linear_lw(g->y, g->x, &g->p[i % g->copies], g->bias, g->M);
}

static int measure_gemm(calibration *cal, int si, const char *name, int K, int N, int lm_head, wdtype wdt,
                        int copies, const int *Ms, int nm, const timing *tm, FILE *progress, status_t *st) {
    calib_gemm *g = &cal->gemm[si];
    snprintf(g->name, sizeof g->name, "%s", name);
    g->k = K;
    g->n = N;
    g->lm_head = lm_head;
    const int maxM = Ms[nm - 1];
    const size_t pbytes = packed_lw_bytes(K, N, wdt) + (wdt == WDT_INT8 ? 4ull * N + 64 : 0);
    int rc = mem_check(st, "calibrate: the GEMM weight copies",
                       (uint64_t)copies * pbytes + 4ull * K * N + 4ull * maxM * (K + N) + 4ull * N);
    if (rc) return rc;
    float *w = falloc((size_t)K * N), *x = falloc((size_t)maxM * K), *y = falloc((size_t)maxM * N),
          *bias = falloc((size_t)N);
    packed_lw *p = calloc((size_t)copies, sizeof *p);
    int made = 0;
    if (!w || !x || !y || !bias || !p) rc = status_fail(st, ST_RUNTIME, "calibrate: out of memory for the %s GEMM", name);
    if (!rc) {
        fill(w, (size_t)K * N, 11 + si);
        fill(x, (size_t)maxM * K, 5);
        fill(bias, (size_t)N, 7);
        for (; made < copies && !rc; made++)
            if ((lm_head ? packed_lw_from_nk(&p[made], w, K, N, wdt) : packed_lw_from_kn(&p[made], w, K, N, wdt)) != 0)
                rc = status_fail(st, ST_RUNTIME, "calibrate: out of memory packing the %s weights", name);
    }
    free(w);
    w = NULL;
    double t0 = now_ns();
    for (int mi = 0; mi < nm && !rc; mi++) {
        gemm_ctx ctx = {p, copies, x, y, lm_head ? NULL : bias, Ms[mi]};
        g->m[mi] = Ms[mi];
        g->ns[mi] = time_calls(gemm_call, &ctx, tm);
        g->nm = mi + 1;
    }
    if (!rc)
        say(progress, "gemm %-9s K=%d N=%d (%d cop%s): M=1 %.1f us (%.1f GB/s of weights) ... M=%d %.1f us (%.1f GFLOP/s) "
            "(%.1f s)",
            name, K, N, copies, copies == 1 ? "y" : "ies", g->ns[0] * 1e-3, (double)K * N * cal->q_bytes / g->ns[0],
            g->m[g->nm - 1], g->ns[g->nm - 1] * 1e-3, 2.0 * g->m[g->nm - 1] * K * N / g->ns[g->nm - 1],
            (now_ns() - t0) * 1e-9);
    for (int i = 0; i < made; i++) packed_lw_free(&p[i]);
    free(p);
    free(x);
    free(y);
    free(bias);
    return rc;
}

/* ---- attention ------------------------------------------------------------------- */

typedef struct {
    kv_cache kv;
    int B, S, d;
    float *q, *out, *scratch;
} attn_ctx;

/* One layer (l = i mod copies) of decode attention, as model/forward.c's
 * attention_layer does it for T = 1: every (sequence, head) pair attends
 * to positions 0..S. */
static void attn_call(void *c, long i) {
    attn_ctx *a = c;
    const kv_cache *kv = &a->kv;
    const int l = (int)(i % kv->n_layer), H = kv->n_head, hd = kv->head_dim, d = a->d, S = a->S;
    const float scale = 1.0f / sqrtf((float)hd);
#pragma omp parallel for schedule(static) collapse(2)
    for (int b = 0; b < a->B; b++)
        for (int h = 0; h < H; h++) {
            float *scratch = a->scratch + (size_t)omp_get_thread_num() * kv->cap;
            float *out = a->out + (size_t)b * d + h * hd;
            const float *q = a->q + (size_t)b * 3 * d + h * hd;
            if (kv->dt == WDT_F32)
                attn_causal_head_f32(out, d, q, 3 * d, kv_k(kv, l, b, h), kv_v(kv, l, b, h), S, 1, hd, scale, scratch);
            else
                attn_decode_head_h(out, q, kv_k(kv, l, b, h), kv_v(kv, l, b, h), S + 1, hd, scale, scratch, kv->dt);
        }
}

/* Unused positions after the S + 1 read in each (sequence, head) block, as
 * a decode run has them: its cache holds S + warm-up + steps positions and
 * a timed step reads S + 1 .. S + steps of them, so with the defaults (4,
 * 16) 4 to 19 rows of each block lie unread between one block's data and
 * the next. They cost: decode B = 64, S = 128, attention 20.1-20.5 ms per
 * step with the default cache against 17.5-17.9 ms with --steps 2
 * --warmup 0 (a gap of 0-1 rows), 2 runs each; B = 16, S = 896: 26.8
 * against 25.4-26.1 ms. Measured with no gap (this was S + 1 until
 * 2026-11-24), attention ran faster alone than in the step. */
#define CALIB_ATTN_SLACK 12

static int measure_attention_point(const gpt2_config *c, wdtype kvdt, int B, int S, int copies, const timing *tm,
                                   double *ns, status_t *st) {
    gpt2_config kc = *c;
    kc.n_layer = copies;
    const int cap = S + 1 + CALIB_ATTN_SLACK;
    if (kc.n_ctx < cap) kc.n_ctx = cap;
    attn_ctx a;
    memset(&a, 0, sizeof a);
    a.B = B;
    a.S = S;
    a.d = c->n_embd;
    int rc = kv_init(&a.kv, &kc, B, cap, kvdt, st);
    if (rc) return rc;
    const int nt = omp_get_max_threads();
    a.q = falloc((size_t)B * 3 * a.d);
    a.out = falloc((size_t)B * a.d);
    a.scratch = falloc((size_t)nt * cap); /* (threads, cap): attn_call strides by kv.cap */
    if (!a.q || !a.out || !a.scratch) rc = status_fail(st, ST_RUNTIME, "calibrate: out of memory for attention");
    if (!rc) {
        fill(a.q, (size_t)B * 3 * a.d, 3);
        kv_fill_synthetic(&a.kv, S + 1, 9);
        *ns = time_calls(attn_call, &a, tm);
    }
    free(a.q);
    free(a.out);
    free(a.scratch);
    kv_free(&a.kv);
    return rc;
}

/* ---- elementwise --------------------------------------------------------------------- */

typedef struct {
    int R, d, V, n_ctx, wte_rows;
    float *x, *y, *out, *w, *b, *h, *wte, *wpe, *logits;
    int *tok, *pos, *best; /* best: (R) the argmax's output */
    kv_cache kv; /* K/V append: n_layer copies x cap positions */
    float *qkv;
    volatile int sink;
} elem_ctx;

static void ln_call(void *c, long i) {
    elem_ctx *e = c;
    (void)i;
    layernorm_f32(e->out, e->x, e->w, e->b, e->R, e->d, 1e-5f);
}

static void gelu_call(void *c, long i) {
    elem_ctx *e = c;
    (void)i;
    gelu_f32(e->h, (size_t)e->R * 4 * e->d);
}

static void add_call(void *c, long i) {
    elem_ctx *e = c;
    (void)i;
    add_f32(e->x, e->y, (size_t)e->R * e->d);
}

static void embed_call(void *c, long i) {
    elem_ctx *e = c;
    embed_f32(e->out, e->wte, e->wpe, e->tok + (i % 64), e->pos + (i % 64), e->R, e->d);
}

static void argmax_call(void *c, long i) {
    elem_ctx *e = c;
    (void)i;
    argmax_rows_f32(e->best, e->logits, e->R, e->V); /* as the decode loop runs it */
    e->sink = e->best[0];
}

/* model/forward.c's kv_append for one layer: the K and V columns of R rows
 * at one position, layer and position cycled so every line written is cold. */
static void append_call(void *c, long i) {
    elem_ctx *e = c;
    kv_cache *kv = &e->kv;
    const int l = (int)(i % kv->n_layer), pos = (int)((i / kv->n_layer) % kv->cap), H = kv->n_head,
              hd = kv->head_dim, d = e->d;
    for (int b = 0; b < e->R; b++) {
        const float *row = e->qkv + (size_t)b * 3 * d;
        for (int h = 0; h < H; h++) {
            kv_store(kv, kv_k(kv, l, b, h), pos, row + d + h * hd);
            kv_store(kv, kv_v(kv, l, b, h), pos, row + 2 * d + h * hd);
        }
    }
}

static void elem_free(elem_ctx *e) {
    free(e->x);
    free(e->y);
    free(e->out);
    free(e->w);
    free(e->b);
    free(e->h);
    free(e->wte);
    free(e->wpe);
    free(e->logits);
    free(e->tok);
    free(e->pos);
    free(e->best);
    free(e->qkv);
    kv_free(&e->kv);
}

static int measure_elementwise(calibration *cal, const gpt2_config *c, wdtype kvdt, int ri, const timing *tm,
                               status_t *st) {
    const int R = cal->rows[ri], d = c->n_embd, V = c->vocab;
    elem_ctx e;
    memset(&e, 0, sizeof e);
    e.R = R;
    e.d = d;
    e.V = V;
    e.n_ctx = c->n_ctx;
    e.wte_rows = (int)fmin(V, fmax(64, cal->cold_bytes / (4.0 * d)));
    /* K/V append: copies of `cap` positions spanning cold_bytes */
    const int cap = c->n_ctx < 16 ? c->n_ctx : 16;
    double per_layer = (double)R * 2 * d * cap * wdtype_bytes(kvdt);
    int copies = (int)fmin(1 << 20, fmax(1, ceil(cal->cold_bytes / per_layer)));
    uint64_t need = 4ull * ((uint64_t)R * d * 3 + (uint64_t)R * 4 * d + 2ull * d + (uint64_t)e.wte_rows * d +
                            (uint64_t)c->n_ctx * d + (uint64_t)R * V + (uint64_t)R * 3 * d) +
                    (uint64_t)(per_layer * copies);
    int rc = mem_check(st, "calibrate: the elementwise buffers", need);
    if (rc) return rc;
    e.x = falloc((size_t)R * d);
    e.y = falloc((size_t)R * d);
    e.out = falloc((size_t)R * d);
    e.w = falloc((size_t)d);
    e.b = falloc((size_t)d);
    e.h = falloc((size_t)R * 4 * d);
    e.wte = falloc((size_t)e.wte_rows * d);
    e.wpe = falloc((size_t)c->n_ctx * d);
    e.logits = falloc((size_t)R * V);
    e.tok = malloc((size_t)(R + 64) * sizeof *e.tok);
    e.pos = malloc((size_t)(R + 64) * sizeof *e.pos);
    e.best = malloc((size_t)R * sizeof *e.best);
    e.qkv = falloc((size_t)R * 3 * d);
    if (!e.x || !e.y || !e.out || !e.w || !e.b || !e.h || !e.wte || !e.wpe || !e.logits || !e.tok || !e.pos || !e.best || !e.qkv)
        rc = status_fail(st, ST_RUNTIME, "calibrate: out of memory for the elementwise operators");
    if (!rc) {
        gpt2_config kc = *c;
        kc.n_layer = copies;
        rc = kv_init(&e.kv, &kc, R, cap, kvdt, st);
    }
    if (!rc) {
        fill(e.x, (size_t)R * d, 1);
        fill(e.y, (size_t)R * d, 2);
        fill(e.w, (size_t)d, 3);
        fill(e.b, (size_t)d, 4);
        fill(e.h, (size_t)R * 4 * d, 5);
        fill(e.wte, (size_t)e.wte_rows * d, 6);
        fill(e.wpe, (size_t)c->n_ctx * d, 7);
        fill(e.logits, (size_t)R * V, 8);
        fill(e.qkv, (size_t)R * 3 * d, 9);
        uint64_t s = 12345;
        for (int i = 0; i < R + 64; i++) {
            s = s * 6364136223846793005ull + 1442695040888963407ull;
            e.tok[i] = (int)((s >> 33) % (uint64_t)e.wte_rows);
            e.pos[i] = (int)((s >> 13) % (uint64_t)c->n_ctx);
        }
        kv_fill_synthetic(&e.kv, cap, 4);
        cal->layernorm_ns[ri] = time_calls(ln_call, &e, tm);
        cal->gelu_ns[ri] = time_calls(gelu_call, &e, tm);
        cal->add_ns[ri] = time_calls(add_call, &e, tm);
        cal->embed_ns[ri] = time_calls(embed_call, &e, tm);
        cal->kv_append_ns[ri] = time_calls(append_call, &e, tm);
        cal->argmax_ns[ri] = time_calls(argmax_call, &e, tm);
    }
    elem_free(&e);
    return rc;
}

/* ---- the fixed per-step overhead ------------------------------------------------------- */

/* A 1-layer tiny model's decode step minus the sum of its operators: what a
 * step costs beyond its operators (the step's own loop, token checks,
 * function calls), at sizes where the operators are tiny. */
static int measure_overhead(wdtype wdt, wdtype kvdt, int quick, double *ns, status_t *st) {
    gpt2_config tc;
    memset(&tc, 0, sizeof tc);
    snprintf(tc.name, sizeof tc.name, "calibrate-tiny");
    tc.n_layer = 1;
    tc.n_head = 1;
    tc.n_embd = 64;
    tc.n_ctx = 128;
    tc.vocab = 64;
    tc.ln_eps = 1e-5f;
    gpt2_model m;
    int rc = gpt2_synthetic(&m, &tc, 1, st);
    if (rc) return rc;
    rc = gpt2_pack_dtype(&m, wdt, st);
    decode_result r;
    memset(&r, 0, sizeof r);
    if (!rc) {
        decode_request rq = {1, 8, quick ? 16 : 64, quick ? 3 : 9, 4, 0, 1, NULL, kvdt};
        rc = decode_measure(&m, &rq, &r, st);
    }
    if (!rc) {
        double prof = 0;
        for (int op = 0; op < OP_COUNT; op++) prof += r.prof.ns[op];
        prof = r.prof_steps > 0 ? prof / r.prof_steps : 0;
        *ns = r.ns.median > prof ? r.ns.median - prof : 0;
        decode_result_free(&r);
    }
    gpt2_free(&m);
    return rc;
}

/* ---- the whole calibration ---------------------------------------------------------------- */

typedef struct {
    int B, S;
    double x;
} attn_plan;

static int cmp_plan(const void *a, const void *b) {
    const attn_plan *p = a, *q = b;
    return p->x < q->x ? -1 : p->x > q->x;
}

/* One round: every table once. */
static int measure_round(calibration *cal, const gpt2_config *c, wdtype wdt, wdtype kvdt, int quick, FILE *progress,
                         status_t *st) {
    memset(cal, 0, sizeof *cal);
    double t_start = now_ns();
    cal->schema_version = CALIB_SCHEMA_VERSION;
    cal->threads = threads_count();
    cal->quick = quick;
    context_hostname(cal->host, sizeof cal->host);
    context_hw hw;
    context_hw_get(&hw);
    snprintf(cal->cpu, sizeof cal->cpu, "%s", hw.cpu);
    context_date_utc(cal->date, sizeof cal->date);
    context_git_revision(cal->git_revision, sizeof cal->git_revision);
    snprintf(cal->kernel, sizeof cal->kernel, "%s", gemm_path_name(gemm_path_current()));
    snprintf(cal->model, sizeof cal->model, "%s", c->name);
    cal->n_layer = c->n_layer;
    cal->n_head = c->n_head;
    cal->n_embd = c->n_embd;
    cal->vocab = c->vocab;
    cal->n_ctx = c->n_ctx;
    snprintf(cal->dtype, sizeof cal->dtype, "%s", wdtype_name(wdt));
    snprintf(cal->kv_dtype, sizeof cal->kv_dtype, "%s", wdtype_name(kvdt));
    cal->q_bytes = (double)wdtype_bytes(wdt);
    cal->qkv_bytes = (double)wdtype_bytes(kvdt);
    cal->llc_bytes = hw.llc_level ? (double)hw.cache_bytes[hw.llc_level] : 0;
    const double llc = cal->llc_bytes > 0 ? cal->llc_bytes : 32.0 * 1048576;
    cal->cold_bytes = quick ? 4.0 * 1048576 : fmin(1024.0 * 1048576, fmax(4 * llc, 128.0 * 1048576));
    const double d = c->n_embd, L = c->n_layer;
    const double weights = cal->q_bytes * (L * 12 * d * d + (double)c->vocab * d);
    cal->weights_resident = weights <= llc / 2;
    const timing tm = {quick ? 1 : 7, quick ? 2e5 : 3e6};
    cal->busy_cpus_before = quick ? -1 : busy_cpus();
    if (cal->busy_cpus_before >= 0.25)
        say(progress, "warning: other work keeps %.2f CPUs busy: the timings will be high and noisy; calibrate again "
            "when the machine is idle (--remeasure)", cal->busy_cpus_before);
    /* the read bandwidth of this minute, before and after (probe.h) */
    bw_probe probe;
    status_t pst = {0}; /* no probe (memory): the calibration goes on without one */
    int have_probe = probe_init(&probe, probe_bytes_for(quick ? 4.0 * 1048576 : 0), &pst) == ST_OK;
    double probe_before = have_probe ? probe_read_gbs(&probe, quick ? 3 : 7) : -1;
    /* and its FMA rate */
    const int fma_passes = quick ? 2 : PROBE_PEAK_PASSES;
    const double fma_before = machine_peak_probe_gflops(fma_passes, PROBE_PEAK_PASS_S);
    say(progress, "%s, %s weights, %s KV, %d threads, kernel %s; weights %s (%.1f MiB against an LLC of %.0f MiB)",
        c->name, cal->dtype, cal->kv_dtype, cal->threads, cal->kernel,
        cal->weights_resident ? "fit in the LLC: measured warm" : "cold: cycled through copies", weights / 1048576,
        llc / 1048576);

    /* GEMMs: M = 1, 2, 4, ..., 256 */
    int Ms[CALIB_M_MAX], nm = 0;
    for (int M = 1; M <= (quick ? 4 : 256); M *= 2) Ms[nm++] = M;
    const int dd = c->n_embd;
    struct {
        const char *name;
        int K, N, lm;
    } shapes[5] = {{"qkv", dd, 3 * dd, 0}, {"attn_proj", dd, dd, 0}, {"fc", dd, 4 * dd, 0},
                   {"fc_proj", 4 * dd, dd, 0}, {"lm_head", dd, c->vocab, 1}};
    int rc = ST_OK;
    for (int si = 0; si < 5 && !rc; si++) {
        double wbytes = (double)shapes[si].K * shapes[si].N * cal->q_bytes;
        int copies = cal->weights_resident ? (shapes[si].lm ? 1 : c->n_layer)
                                           : (int)fmin(4096, fmax(1, ceil(cal->cold_bytes / wbytes)));
        rc = measure_gemm(cal, si, shapes[si].name, shapes[si].K, shapes[si].N, shapes[si].lm, wdt, copies, Ms, nm, &tm,
                          progress, st);
        cal->n_gemm = si + 1;
    }

    /* attention: a few (B, S), from cache-resident to DRAM sizes */
    if (!rc) {
        static const int full[][2] = {{1, 0},  {1, 31},  {1, 127},  {4, 127}, {16, 127},
                                      {8, 511}, {64, 127}, {16, 895}, {64, 895}};
        static const int small[][2] = {{1, 0}, {1, 15}, {4, 15}};
        const int (*pts)[2] = quick ? small : full;
        int np = quick ? 3 : 9, n = 0;
        attn_plan plan[CALIB_ATTN_MAX];
        const double u = 2.0 * d * cal->qkv_bytes; /* bytes per sequence and position, one layer */
        for (int i = 0; i < np; i++) {
            int B = pts[i][0], S = pts[i][1] < c->n_ctx - 1 ? pts[i][1] : c->n_ctx - 1;
            double x = B * (S + 1.0) * u;
            int dup = 0;
            for (int k = 0; k < n; k++) dup |= plan[k].x == x;
            if (!dup) plan[n++] = (attn_plan){B, S, x};
        }
        qsort(plan, (size_t)n, sizeof *plan, cmp_plan);
        double t0 = now_ns();
        for (int i = 0; i < n && !rc; i++) {
            const attn_plan *p = &plan[i];
            int copies = cal->weights_resident ? c->n_layer : (int)fmin(1 << 20, fmax(1, ceil(cal->cold_bytes / p->x)));
            uint64_t need = (uint64_t)(p->x * copies);
            uint64_t avail = mem_available_bytes();
            if (i > 0 && avail && need > avail / 2) {
                say(progress, "attention B=%d S=%d left out: its %.0f MiB KV cache would take over half the free memory",
                    p->B, p->S, need / 1048576.0);
                continue;
            }
            double ns = 0;
            rc = measure_attention_point(c, kvdt, p->B, p->S, copies, &tm, &ns, st);
            if (rc) break;
            calib_attn *a = &cal->attn[cal->n_attn];
            if (cal->n_attn == 0) cal->attn_fixed_ns = ns;
            a->batch = p->B;
            a->context = p->S;
            a->kv_bytes = p->x;
            a->ns = ns;
            double rest = ns - cal->attn_fixed_ns;
            if (rest < 0.05 * ns) rest = 0.05 * ns; /* the fixed point itself, or noise */
            a->gbs = p->x / rest;
            cal->n_attn++;
        }
        if (!rc)
            say(progress, "attention: %.1f us per layer fixed; %.1f GB/s at %.0f KiB ... %.1f GB/s at %.0f MiB of KV per "
                "layer (%.1f s)",
                cal->attn_fixed_ns * 1e-3, cal->attn[cal->n_attn > 1].gbs, cal->attn[cal->n_attn > 1].kv_bytes / 1024,
                cal->attn[cal->n_attn - 1].gbs, cal->attn[cal->n_attn - 1].kv_bytes / 1048576, (now_ns() - t0) * 1e-9);
    }

    /* elementwise, per call at a few row counts */
    if (!rc) {
        static const int rows_full[] = {1, 4, 16, 64, 256}, rows_quick[] = {1, 4};
        cal->n_rows = quick ? 2 : 5;
        for (int i = 0; i < cal->n_rows; i++) cal->rows[i] = quick ? rows_quick[i] : rows_full[i];
        double t0 = now_ns();
        for (int i = 0; i < cal->n_rows && !rc; i++) rc = measure_elementwise(cal, c, kvdt, i, &tm, st);
        if (!rc) {
            int k = cal->n_rows - 1;
            say(progress, "elementwise at %d rows: layernorm %.1f, gelu %.1f, add %.1f, embed %.1f, K/V append %.1f, "
                "argmax %.1f us (%.1f s)",
                cal->rows[k], cal->layernorm_ns[k] * 1e-3, cal->gelu_ns[k] * 1e-3, cal->add_ns[k] * 1e-3,
                cal->embed_ns[k] * 1e-3, cal->kv_append_ns[k] * 1e-3, cal->argmax_ns[k] * 1e-3, (now_ns() - t0) * 1e-9);
        }
    }

    if (!rc) {
        rc = measure_overhead(wdt, kvdt, quick, &cal->step_overhead_ns, st);
        if (!rc) say(progress, "per-step overhead beyond the operators: %.1f us", cal->step_overhead_ns * 1e-3);
    }
    const double fma_after = rc ? 0 : machine_peak_probe_gflops(fma_passes, PROBE_PEAK_PASS_S);
    if (fma_before > 0 && fma_after > 0) {
        cal->probe_peak_gflops = (fma_before + fma_after) / 2;
        say(progress, "FMA rate of this minute (probe): %.0f GFLOP/s before, %.0f GFLOP/s after", fma_before, fma_after);
    }
    if (have_probe) {
        double probe_after = rc ? -1 : probe_read_gbs(&probe, quick ? 3 : 7);
        if (probe_before > 0 && probe_after > 0) {
            cal->probe_read_gbs = (probe_before + probe_after) / 2;
            say(progress, "read bandwidth of this minute (probe): %.1f GB/s before, %.1f GB/s after", probe_before,
                probe_after);
        }
        probe_free(&probe);
    }
    cal->measure_s = (now_ns() - t_start) * 1e-9;
    if (rc) return rc;
    /* a table value of 0 (a clock too coarse) would break the log-log model */
    for (int i = 0; i < cal->n_gemm; i++)
        for (int k = 0; k < cal->gemm[i].nm; k++)
            if (!(cal->gemm[i].ns[k] > 0)) cal->gemm[i].ns[k] = 1;
    double *tabs[6] = {cal->layernorm_ns, cal->gelu_ns, cal->add_ns, cal->embed_ns, cal->kv_append_ns, cal->argmax_ns};
    for (int t = 0; t < 6; t++)
        for (int k = 0; k < cal->n_rows; k++)
            if (!(tabs[t][k] > 0)) tabs[t][k] = 1;
    return ST_OK;
}

/* Every number of a table: the median over the rounds, into r[0]. */
#define MEDIAN_OF_ROUNDS(FIELD)                                               \
    {                                                                         \
        double v_[CALIB_ROUNDS_MAX];                                          \
        for (int k_ = 0; k_ < n; k_++) v_[k_] = r[k_].FIELD;                  \
        r[0].FIELD = stats_median(v_, n);                                       \
    }

static int same_tables(const calibration *a, const calibration *b) {
    if (a->n_gemm != b->n_gemm || a->n_attn != b->n_attn || a->n_rows != b->n_rows) return 0;
    for (int i = 0; i < a->n_gemm; i++)
        if (a->gemm[i].nm != b->gemm[i].nm || memcmp(a->gemm[i].m, b->gemm[i].m, sizeof a->gemm[i].m) != 0) return 0;
    for (int i = 0; i < a->n_attn; i++)
        if (a->attn[i].kv_bytes != b->attn[i].kv_bytes) return 0;
    for (int k = 0; k < a->n_rows; k++)
        if (a->rows[k] != b->rows[k]) return 0;
    return 1;
}

/* v: one figure in each of n rounds; keeps the largest max/min seen, and its name. */
static void spread_of(const double *v, int n, double *worst, const char *name, int m, char *what, size_t what_len) {
    double lo = v[0], hi = v[0];
    for (int k = 0; k < n; k++) {
        if (!(v[k] > 0)) return;
        lo = v[k] < lo ? v[k] : lo;
        hi = v[k] > hi ? v[k] : hi;
    }
    if (hi / lo > *worst) {
        *worst = hi / lo;
        if (what) snprintf(what, what_len, m ? "%s M=%d" : "%s", name, m);
    }
}

double calib_rounds_spread(const calibration *r, int n, char *what, size_t what_len) {
    double worst = 1, v[CALIB_ROUNDS_MAX];
    if (what && what_len) what[0] = '\0';
    if (n < 2 || n > CALIB_ROUNDS_MAX) return worst;
    for (int i = 0; i < r[0].n_gemm; i++)
        for (int j = 0; j < r[0].gemm[i].nm; j++) {
            for (int k = 0; k < n; k++) v[k] = r[k].gemm[i].ns[j];
            spread_of(v, n, &worst, r[0].gemm[i].name, r[0].gemm[i].m[j], what, what_len);
        }
    for (int i = 0; i < r[0].n_attn; i++) {
        for (int k = 0; k < n; k++) v[k] = r[k].attn[i].ns;
        spread_of(v, n, &worst, "attention", 0, what, what_len);
    }
    return worst;
}

int calib_median_of_rounds(calibration *r, int n) {
    if (n < 1 || n > CALIB_ROUNDS_MAX) return -1;
    for (int k = 1; k < n; k++)
        if (!same_tables(&r[0], &r[k])) return -1;
    double probe_sum = 0, fma_sum = 0;
    int n_probe = 0, n_fma = 0;
    for (int k = 0; k < n; k++) {
        if (r[k].probe_read_gbs > 0) probe_sum += r[k].probe_read_gbs, n_probe++;
        if (r[k].probe_peak_gflops > 0) fma_sum += r[k].probe_peak_gflops, n_fma++;
    }
    for (int i = 0; i < r[0].n_gemm; i++)
        for (int k = 0; k < r[0].gemm[i].nm; k++) MEDIAN_OF_ROUNDS(gemm[i].ns[k])
    MEDIAN_OF_ROUNDS(attn_fixed_ns)
    for (int i = 0; i < r[0].n_attn; i++) {
        MEDIAN_OF_ROUNDS(attn[i].ns)
        calib_attn *a = &r[0].attn[i];
        double rest = a->ns - r[0].attn_fixed_ns;
        if (rest < 0.05 * a->ns) rest = 0.05 * a->ns; /* as calib_measure: the fixed point itself, or noise */
        a->gbs = a->kv_bytes / rest;
    }
    for (int k = 0; k < r[0].n_rows; k++) {
        MEDIAN_OF_ROUNDS(layernorm_ns[k])
        MEDIAN_OF_ROUNDS(gelu_ns[k])
        MEDIAN_OF_ROUNDS(add_ns[k])
        MEDIAN_OF_ROUNDS(embed_ns[k])
        MEDIAN_OF_ROUNDS(kv_append_ns[k])
        MEDIAN_OF_ROUNDS(argmax_ns[k])
    }
    MEDIAN_OF_ROUNDS(step_overhead_ns)
    r[0].probe_read_gbs = n_probe ? probe_sum / n_probe : 0;
    r[0].probe_peak_gflops = n_fma ? fma_sum / n_fma : 0;
    r[0].rounds = n;
    return 0;
}

int calib_measure(calibration *cal, const gpt2_config *c, wdtype wdt, wdtype kvdt, int quick, FILE *progress,
                  status_t *st) {
    const int rounds = quick ? 1 : CALIB_ROUNDS;
    calibration *r = calloc((size_t)rounds, sizeof *r);
    if (!r) return status_fail(st, ST_RUNTIME, "calibrate: out of memory");
    double t0 = now_ns();
    int n = 0, rc = ST_OK;
    for (; n < rounds && !rc; n++) {
        if (rounds > 1) say(progress, "round %d of %d", n + 1, rounds);
        rc = measure_round(&r[n], c, wdt, kvdt, quick, progress, st);
    }
    char what[64];
    const double spread = !rc ? calib_rounds_spread(r, n, what, sizeof what) : 1;
    if (!rc && spread > CALIB_SPREAD_WARN)
        say(progress, "warning: the rounds disagree by up to x%.1f (%s): something else used the CPU or memory "
            "while calibrating; the medians are kept, but calibrate again on an idle machine (--remeasure) before "
            "trusting the forecast", spread, what);
    if (!rc && calib_median_of_rounds(r, n) != 0)
        rc = status_fail(st, ST_RUNTIME, "calibrate: the rounds measured different tables (memory changed while "
                         "measuring?): calibrate again");
    if (!rc) {
        r[0].measure_s = (now_ns() - t0) * 1e-9;
        *cal = r[0];
        say(progress, "done in %.1f s%s", cal->measure_s, rounds > 1 ? " (each figure: the median of the rounds)" : "");
    }
    free(r);
    return rc;
}

/* ---- files and reuse ----------------------------------------------------------------------- */

static int make_dirs(const char *dir, status_t *st) {
    char p[1024];
    if (snprintf(p, sizeof p, "%s", dir) >= (int)sizeof p)
        return status_fail(st, ST_BAD_INPUT, "calibrate: results folder '%s' is too long a path", dir);
    for (char *s = p + 1;; s++) {
        if (*s == '/' || *s == '\0') {
            char keep = *s;
            *s = '\0';
            if (mkdir(p, 0777) != 0 && access(p, F_OK) != 0)
                return status_fail(st, ST_RUNTIME, "calibrate: cannot create the folder '%s': pass --results DIR with "
                                   "a writable folder", p);
            *s = keep;
            if (!keep) break;
        }
    }
    struct stat sb;
    if (stat(dir, &sb) != 0 || !S_ISDIR(sb.st_mode))
        return status_fail(st, ST_BAD_INPUT, "calibrate: '%s' is not a folder: pass --results DIR with a folder", dir);
    return ST_OK;
}

static int same_shape(const calibration *cal, const gpt2_config *c) {
    return cal->n_layer == c->n_layer && cal->n_head == c->n_head && cal->n_embd == c->n_embd &&
           cal->vocab == c->vocab;
}

/* NULL when cal was measured at this git revision; else why (into buf). The
 * operators' costs are the kernels': another revision may have other ones. */
static const char *other_revision(const calibration *cal, char *buf, size_t len) {
    char rev[64];
    context_git_revision(rev, sizeof rev);
    if (strcmp(cal->git_revision, rev) == 0) return NULL;
    snprintf(buf, len, "measured at revision %s, this is %s", cal->git_revision, rev);
    return buf;
}

int calib_obtain(calibration *cal, const gpt2_config *c, wdtype wdt, wdtype kvdt, int threads, int quick,
                 int remeasure, const char *results_dir, FILE *progress, status_t *st) {
    if (!results_dir || !*results_dir) results_dir = "results";
    char host[256], path[1024];
    context_hostname(host, sizeof host);
    calib_default_path(path, sizeof path, results_dir, host, threads, wdtype_name(wdt), wdtype_name(kvdt), quick);
    if (!remeasure && access(path, F_OK) == 0) {
        status_t lst = {0};
        int rc = calib_load(cal, path, &lst);
        const char *why = NULL;
        char why_rev[200];
        if (rc) why = lst.msg;
        else if (strcmp(cal->host, host) != 0) why = "measured on another host";
        else if (cal->threads != threads) why = "measured with another thread count";
        else if (!same_shape(cal, c)) why = "measured for another model's shapes";
        else if (cal->quick != quick) why = cal->quick ? "a quick calibration" : "a full calibration";
        else if (strcmp(cal->dtype, wdtype_name(wdt)) != 0 || strcmp(cal->kv_dtype, wdtype_name(kvdt)) != 0)
            why = "measured with other dtypes";
        else why = other_revision(cal, why_rev, sizeof why_rev);
        if (!why) {
            say(progress, "reusing %s (measured %s; --remeasure to measure again)", path, cal->date);
            return ST_OK;
        }
        say(progress, "not reusing %s (%s): measuring again", path, why);
    }
    int rc = make_dirs(results_dir, st);
    if (!rc) rc = calib_measure(cal, c, wdt, kvdt, quick, progress, st);
    if (!rc) rc = calib_save(cal, path, st);
    if (rc) return rc;
    snprintf(cal->path, sizeof cal->path, "%s", path);
    say(progress, "saved %s", path);
    return ST_OK;
}

int calib_for_decode(calibration *cal, int *have, const gpt2_config *c, wdtype wdt, wdtype kvdt, int threads,
                     const char *file, const char *results_dir, int calibrate, int remeasure, int force,
                     FILE *progress, status_t *st) {
    *have = 0;
    int rc;
    if (file) {
        if ((rc = calib_load(cal, file, st)) ||
            (rc = calib_check_use(cal, "decode: --calibration", threads, wdtype_name(wdt), wdtype_name(kvdt), force, st)))
            return rc;
        *have = 1;
        return ST_OK;
    }
    if (calibrate) {
        if ((rc = calib_obtain(cal, c, wdt, kvdt, threads, 0, remeasure, results_dir, progress, st))) return rc;
        *have = 1;
        return ST_OK;
    }
    char host[256], path[1024];
    context_hostname(host, sizeof host);
    calib_default_path(path, sizeof path, results_dir && *results_dir ? results_dir : "results", host, threads,
                       wdtype_name(wdt), wdtype_name(kvdt), 0);
    if (access(path, F_OK) != 0) return ST_OK;
    status_t lst = {0};
    if (calib_load(cal, path, &lst) ||
        calib_check_use(cal, "decode", threads, wdtype_name(wdt), wdtype_name(kvdt), 0, &lst)) {
        say(progress, "not using %s: %s", path, lst.msg);
        return ST_OK;
    }
    char why_rev[200];
    if (other_revision(cal, why_rev, sizeof why_rev)) {
        say(progress, "not using %s: %s (other kernels, perhaps): gpt2-bench calibrate measures it again", path,
            why_rev);
        return ST_OK;
    }
    *have = 1;
    return ST_OK;
}
