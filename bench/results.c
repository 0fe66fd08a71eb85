#include "results.h"

#include "outfile.h"
#include "stats.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- JSON fields ----------------------------------------------------------- */

static int get_num(const cJSON *o, const char *key, double *v, char *why, size_t why_len) {
    const cJSON *j = cJSON_GetObjectItemCaseSensitive(o, key);
    if (!cJSON_IsNumber(j) || !isfinite(j->valuedouble)) {
        snprintf(why, why_len, "no numeric field \"%s\"", key);
        return -1;
    }
    *v = j->valuedouble;
    return 0;
}

static int get_int(const cJSON *o, const char *key, int lo, int *v, char *why, size_t why_len) {
    double d;
    if (get_num(o, key, &d, why, why_len)) return -1;
    if (d < lo || d > 1e9 || d != floor(d)) {
        snprintf(why, why_len, "field \"%s\" is %g, not a whole number >= %d", key, d, lo);
        return -1;
    }
    *v = (int)d;
    return 0;
}

static int get_str(const cJSON *o, const char *key, char *buf, size_t len, char *why, size_t why_len) {
    const cJSON *j = cJSON_GetObjectItemCaseSensitive(o, key);
    if (!cJSON_IsString(j)) {
        snprintf(why, why_len, "no string field \"%s\"", key);
        return -1;
    }
    snprintf(buf, len, "%s", j->valuestring);
    return 0;
}

static double opt_num(const cJSON *o, const char *key, double dflt) {
    const cJSON *j = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsNumber(j) && isfinite(j->valuedouble) ? j->valuedouble : dflt;
}

/* An optional whole number; absent, or beyond an int (where a cast would be
 * undefined), reads 0. */
static int opt_int(const cJSON *o, const char *key) {
    double v = opt_num(o, key, 0);
    return v >= INT_MIN && v <= INT_MAX ? (int)v : 0;
}

static void opt_str(const cJSON *o, const char *key, char *buf, size_t len, const char *dflt) {
    const cJSON *j = cJSON_GetObjectItemCaseSensitive(o, key);
    snprintf(buf, len, "%s", cJSON_IsString(j) ? j->valuestring : dflt);
}

static int opt_bool(const cJSON *o, const char *key) {
    const cJSON *j = cJSON_GetObjectItemCaseSensitive(o, key);
    if (cJSON_IsBool(j)) return cJSON_IsTrue(j);
    return cJSON_IsNumber(j) ? j->valuedouble != 0 : 0;
}

/* ---- decode records ----------------------------------------------------------- */

static int parse_ops(const cJSON *o, result_point *p, char *why, size_t why_len) {
    const cJSON *ops = cJSON_GetObjectItemCaseSensitive(o, "operators");
    p->n_ops = 0;
    if (!ops) return 0;
    if (!cJSON_IsArray(ops)) {
        snprintf(why, why_len, "field \"operators\" is not an array");
        return -1;
    }
    const cJSON *e;
    cJSON_ArrayForEach(e, ops) {
        if (p->n_ops == RESULT_OPS_MAX) break;
        result_op *op = &p->ops[p->n_ops];
        if (get_str(e, "name", op->name, sizeof op->name, why, why_len) ||
            get_num(e, "time_ns", &op->time_ns, why, why_len) ||
            get_num(e, "time_frac", &op->time_frac, why, why_len) ||
            get_num(e, "predicted_ns", &op->predicted_ns, why, why_len))
            return -1;
        op->bytes = opt_num(e, "bytes", 0);
        op->predicted_calibrated_ns = opt_num(e, "predicted_calibrated_ns", 0);
        op->flops = opt_num(e, "flops", 0);
        p->n_ops++;
    }
    return 0;
}

int results_parse_point(const char *line, result_point *p, char *why, size_t why_len) {
    memset(p, 0, sizeof *p);
    cJSON *o = cJSON_Parse(line);
    if (!o || !cJSON_IsObject(o)) {
        snprintf(why, why_len, "not a JSON object");
        cJSON_Delete(o);
        return -1;
    }
    int rc = -1;
    const cJSON *kind = cJSON_GetObjectItemCaseSensitive(o, "kind");
    const cJSON *split = cJSON_GetObjectItemCaseSensitive(o, "bytes_per_step_split");
    const cJSON *mach = cJSON_GetObjectItemCaseSensitive(o, "machine");
    char bound[16] = "";
    if (kind && !(cJSON_IsString(kind) && strcmp(kind->valuestring, "decode") == 0)) {
        snprintf(why, why_len, "not a decode record (\"kind\" is not \"decode\")");
    } else if (get_int(o, "batch", 1, &p->batch, why, why_len) || get_int(o, "context", 0, &p->context, why, why_len) ||
               get_int(o, "threads", 1, &p->threads, why, why_len) ||
               get_str(o, "dtype", p->dtype, sizeof p->dtype, why, why_len) ||
               get_num(o, "tok_s", &p->tok_s, why, why_len) || get_num(o, "tok_s_min", &p->tok_s_min, why, why_len) ||
               get_num(o, "tok_s_max", &p->tok_s_max, why, why_len) ||
               get_num(o, "predicted_tok_s", &p->predicted_tok_s, why, why_len) ||
               get_num(o, "efficiency", &p->efficiency, why, why_len) || get_num(o, "mbu", &p->mbu, why, why_len) ||
               get_num(o, "mfu", &p->mfu, why, why_len) ||
               get_num(o, "achieved_gbs", &p->achieved_gbs, why, why_len) ||
               get_num(o, "achieved_gflops", &p->achieved_gflops, why, why_len) ||
               get_num(o, "intensity", &p->intensity, why, why_len) ||
               get_num(o, "step_ns_median", &p->step_ns_median, why, why_len) ||
               get_num(o, "bytes_per_step", &p->bytes_per_step, why, why_len) ||
               get_num(o, "flops_per_step", &p->flops_per_step, why, why_len) ||
               get_str(o, "bound", bound, sizeof bound, why, why_len)) {
        /* why is filled */
    } else if (!cJSON_IsObject(split) || get_num(split, "weights", &p->weights_bytes, why, why_len)) {
        if (!cJSON_IsObject(split)) snprintf(why, why_len, "no object \"bytes_per_step_split\"");
    } else if (!cJSON_IsObject(mach) || get_num(mach, "read_gbs", &p->read_gbs, why, why_len) ||
               get_num(mach, "peak_gflops", &p->peak_gflops, why, why_len)) {
        if (!cJSON_IsObject(mach)) snprintf(why, why_len, "no object \"machine\"");
    } else if (!(p->tok_s > 0) || !(p->predicted_tok_s > 0) || !(p->step_ns_median > 0) || !(p->read_gbs > 0) ||
               !(p->peak_gflops > 0) || !(p->bytes_per_step > 0) || !(p->flops_per_step > 0)) {
        snprintf(why, why_len, "a rate, time or size that is not positive");
    } else if (strcmp(bound, "compute") != 0 && strcmp(bound, "memory") != 0) {
        snprintf(why, why_len, "field \"bound\" is \"%s\", not memory or compute", bound);
    } else if (parse_ops(o, p, why, why_len) == 0) {
        p->compute_bound = strcmp(bound, "compute") == 0;
        opt_str(o, "model", p->model, sizeof p->model, "unknown");
        opt_str(o, "kv_dtype", p->kv_dtype, sizeof p->kv_dtype, p->dtype);
        opt_str(o, "kernel", p->kernel, sizeof p->kernel, "unknown");
        p->steps = opt_int(o, "steps");
        p->reps = opt_int(o, "reps");
        p->interrupted = opt_bool(o, "interrupted");
        p->llc_resident = opt_bool(o, "llc_resident");
        p->cv = opt_num(o, "cv", 0);
        p->steal_fraction = opt_num(o, "steal_fraction", -1);
        p->ridge = opt_num(o, "ridge", p->peak_gflops / p->read_gbs);
        p->calibrated_tok_s = opt_num(o, "predicted_calibrated_tok_s", 0);
        p->has_calibrated = p->calibrated_tok_s > 0;
        p->prediction_error = p->has_calibrated ? opt_num(o, "prediction_error", p->tok_s / p->calibrated_tok_s - 1) : 0;
        const cJSON *calj = cJSON_GetObjectItemCaseSensitive(o, "calibration");
        p->calib_probe_read_gbs = cJSON_IsObject(calj) ? opt_num(calj, "probe_read_gbs", 0) : 0;
        p->calib_probe_peak_gflops = cJSON_IsObject(calj) ? opt_num(calj, "probe_peak_gflops", 0) : 0;
        const cJSON *probe = cJSON_GetObjectItemCaseSensitive(o, "probe");
        p->probe_read_gbs = cJSON_IsObject(probe) ? opt_num(probe, "read_gbs", 0) : 0;
        /* probe.peak_gflops is the machine file's figure unless the FMA rate was probed */
        p->probe_peak_gflops = cJSON_IsObject(probe) && cJSON_GetObjectItemCaseSensitive(probe, "peak_gflops_before")
                                   ? opt_num(probe, "peak_gflops", 0)
                                   : 0;
        p->efficiency_probe = opt_num(o, "efficiency_probe", 0);
        p->has_probe = p->probe_read_gbs > 0 && p->efficiency_probe > 0;
        p->pass = opt_int(o, "pass");
        if (p->pass < 1) p->pass = 1;
        p->n_pass = 1;
        p->pass_list[0] = p->pass;
        rc = 0;
    }
    cJSON_Delete(o);
    return rc;
}

int results_same_point(const result_point *a, const result_point *b) {
    return a->batch == b->batch && a->context == b->context && a->threads == b->threads &&
           strcmp(a->dtype, b->dtype) == 0;
}

int results_read_decode(const char *path, int missing_ok, result_set *rs, FILE *warn, status_t *st) {
    memset(rs, 0, sizeof *rs);
    FILE *f = fopen(path, "rb");
    if (!f) {
        if (errno == ENOENT && missing_ok) return ST_OK;
        return status_fail(st, ST_BAD_INPUT, "%s: cannot read (%s): give a folder made by scripts/sweep.sh", path,
                           strerror(errno));
    }
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    int lineno = 0, n_cap = 0, rc = ST_OK;
    while ((len = getline(&line, &cap, f)) >= 0) {
        lineno++;
        int torn = len == 0 || line[len - 1] != '\n';
        while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r')) line[--len] = 0;
        const char *s = line;
        while (*s == ' ' || *s == '\t') s++;
        if (!*s) continue; /* blank line */
        result_point p;
        char why[200];
        if (results_parse_point(s, &p, why, sizeof why)) {
            rs->bad_lines++;
            if (warn && torn)
                fprintf(warn, "%s line %d: the last line, cut short (no newline; %s); skipped\n", path, lineno, why);
            else if (warn)
                fprintf(warn, "%s line %d: %s; skipped\n", path, lineno, why);
            continue;
        }
        p.line = lineno;
        if (p.interrupted) {
            rs->interrupted++;
            if (warn)
                fprintf(warn, "%s line %d: B=%d S=%d was interrupted (%d repetitions); left out\n", path, lineno,
                        p.batch, p.context, p.reps);
            continue;
        }
        int dup = -1;
        for (int i = 0; i < rs->n && dup < 0; i++)
            if (results_same_point(&rs->p[i], &p) && rs->p[i].pass == p.pass) dup = i;
        if (dup >= 0) {
            rs->replaced++;
            if (warn)
                fprintf(warn, "%s line %d: B=%d S=%d T=%d %s measured again; the later record (this one) is used\n",
                        path, lineno, p.batch, p.context, p.threads, p.dtype);
            rs->p[dup] = p;
            continue;
        }
        if (rs->n == n_cap) {
            int nc = n_cap ? 2 * n_cap : 32;
            result_point *np = realloc(rs->p, (size_t)nc * sizeof *np);
            if (!np) {
                rc = status_fail(st, ST_RUNTIME, "out of memory reading %s", path);
                break;
            }
            rs->p = np;
            n_cap = nc;
        }
        rs->p[rs->n++] = p;
    }
    int read_err = ferror(f);
    free(line);
    fclose(f);
    if (!rc && read_err) rc = status_fail(st, ST_RUNTIME, "%s: read error: check the disk", path);
    if (rc) results_set_free(rs);
    else results_pool_passes(rs);
    return rc;
}

/* Pools g[0..n) (records of one point, one per pass) into *out: the step
 * time is the median of the passes' median steps; every figure that
 * follows from it is recomputed or scaled; the rest is the latest
 * record's. */
static void pool_group(result_point *const *g, int n, result_point *out) {
    const result_point *latest = g[0];
    double meds[RESULT_PASSES_MAX], probe_gbs = 0, probe_pred = 0, probe_gflops = 0;
    int n_probe = 0, n_probe_fma = 0, reps = 0;
    double lo = g[0]->tok_s_min, hi = g[0]->tok_s_max, cv = 0, steal = -1;
    for (int k = 0; k < n; k++) {
        if (g[k]->line > latest->line) latest = g[k];
        meds[k] = g[k]->step_ns_median;
        reps += g[k]->reps;
        lo = fmin(lo, g[k]->tok_s_min), hi = fmax(hi, g[k]->tok_s_max), cv = fmax(cv, g[k]->cv);
        steal = fmax(steal, g[k]->steal_fraction);
        if (g[k]->has_probe) {
            probe_gbs += g[k]->probe_read_gbs;
            probe_pred += g[k]->tok_s / g[k]->efficiency_probe;
            n_probe++;
        }
        if (g[k]->probe_peak_gflops > 0) probe_gflops += g[k]->probe_peak_gflops, n_probe_fma++;
    }
    const double step = stats_median(meds, n);
    double fastest = meds[0], slowest = meds[0]; /* median step times */
    for (int k = 1; k < n; k++) fastest = fmin(fastest, meds[k]), slowest = fmax(slowest, meds[k]);
    result_point p = *latest;
    p.pass_spread = fastest > 0 ? slowest / fastest - 1 : 0;
    const double scale = p.step_ns_median / step; /* rates scale by this, times by its inverse */
    p.step_ns_median = step;
    p.tok_s = p.batch / (step * 1e-9);
    p.tok_s_min = fmin(lo, p.tok_s), p.tok_s_max = fmax(hi, p.tok_s);
    p.cv = cv;
    p.steal_fraction = steal; /* the largest of the passes' */
    p.reps = reps;
    p.efficiency = p.tok_s / p.predicted_tok_s;
    p.mbu *= scale, p.mfu *= scale, p.achieved_gbs *= scale, p.achieved_gflops *= scale;
    for (int o = 0; o < p.n_ops; o++) p.ops[o].time_ns /= scale;
    if (p.has_calibrated) p.prediction_error = p.tok_s / p.calibrated_tok_s - 1;
    p.has_probe = n_probe > 0;
    if (n_probe) {
        p.probe_read_gbs = probe_gbs / n_probe;
        p.efficiency_probe = p.tok_s / (probe_pred / n_probe);
    }
    p.probe_peak_gflops = n_probe_fma ? probe_gflops / n_probe_fma : 0;
    p.n_pass = 0;
    for (int k = 0; k < n && p.n_pass < RESULT_PASSES_MAX; k++) p.pass_list[p.n_pass++] = g[k]->pass;
    *out = p;
}

void results_pool_passes(result_set *rs) {
    int w = 0;
    char *used = calloc((size_t)rs->n + 1, 1);
    if (!used) return; /* out of memory: the passes stay separate points */
    for (int i = 0; i < rs->n; i++) {
        if (used[i]) continue;
        result_point *g[RESULT_PASSES_MAX];
        int n = 0;
        for (int j = i; j < rs->n; j++)
            if (!used[j] && results_same_point(&rs->p[i], &rs->p[j]) && n < RESULT_PASSES_MAX) {
                g[n++] = &rs->p[j];
                used[j] = 1;
            }
        result_point pooled;
        if (n > 1) {
            pool_group(g, n, &pooled);
            rs->pooled += n - 1;
        } else {
            pooled = rs->p[i];
        }
        rs->p[w++] = pooled; /* w <= i: nothing unread is overwritten */
    }
    rs->n = w;
    free(used);
}

void results_set_free(result_set *rs) {
    free(rs->p);
    memset(rs, 0, sizeof *rs);
}

static int point_cmp(const void *a, const void *b) {
    const result_point *x = a, *y = b;
    if (x->threads != y->threads) return x->threads < y->threads ? -1 : 1;
    int c = strcmp(x->dtype, y->dtype);
    if (c) return c;
    if (x->context != y->context) return x->context < y->context ? -1 : 1;
    if (x->batch != y->batch) return x->batch < y->batch ? -1 : 1;
    return 0;
}

void results_sort(result_set *rs) {
    if (rs->n > 1) qsort(rs->p, (size_t)rs->n, sizeof *rs->p, point_cmp);
}

/* ---- machine file ------------------------------------------------------------- */

int results_read_machine(const char *path, result_machine *m, status_t *st) {
    memset(m, 0, sizeof *m);
    FILE *f = fopen(path, "rb");
    if (!f)
        return status_fail(st, ST_BAD_INPUT, "%s: cannot read (%s): make it with gpt2-bench machine --json %s", path,
                           strerror(errno), path);
    char *text = NULL;
    size_t len = 0;
    FILE *mem = open_memstream(&text, &len);
    int ch;
    while (mem && (ch = fgetc(f)) != EOF) fputc(ch, mem);
    fclose(f);
    if (!mem) return status_fail(st, ST_RUNTIME, "out of memory reading %s", path);
    fclose(mem);
    cJSON *o = cJSON_Parse(text);
    free(text);
    if (!cJSON_IsObject(o)) {
        cJSON_Delete(o);
        return status_fail(st, ST_BAD_INPUT, "%s: not a JSON object: remake it with gpt2-bench machine --json %s", path,
                           path);
    }
    opt_str(o, "cpu", m->cpu, sizeof m->cpu, "unknown CPU");
    opt_str(o, "isa", m->isa, sizeof m->isa, "unknown");
    opt_str(o, "host", m->host, sizeof m->host, "unknown");
    opt_str(o, "date", m->date, sizeof m->date, "unknown");
    opt_str(o, "git_revision", m->git_revision, sizeof m->git_revision, "unknown");
    m->threads = opt_int(o, "threads");
    m->spec_cores = opt_int(o, "spec_cores");
    m->quick = opt_bool(o, "quick");
    m->sgemm_size = opt_int(o, "sgemm_size");
    m->read_gbs = opt_num(o, "read_gbs", 0);
    m->read_median_gbs = opt_num(o, "read_median_gbs", 0);
    m->copy_gbs = opt_num(o, "copy_gbs", 0);
    m->triad_gbs = opt_num(o, "triad_gbs", 0);
    m->peak_gflops = opt_num(o, "peak_gflops", 0);
    m->spec_gflops = opt_num(o, "spec_gflops", 0);
    m->sgemm_gflops = opt_num(o, "sgemm_gflops", 0);
    m->clock_ghz = opt_num(o, "clock_ghz", 0);
    m->flops_per_cycle_per_core = opt_num(o, "flops_per_cycle_per_core", 0);
    m->llc_bytes_measured = opt_num(o, "llc_bytes_measured", 0);
    m->llc_bytes_hwloc = opt_num(o, "llc_bytes_hwloc", 0);
    cJSON_Delete(o);
    if (!(m->read_gbs > 0) || !(m->peak_gflops > 0))
        return status_fail(st, ST_BAD_INPUT,
                           "%s: no positive read_gbs and peak_gflops: not a gpt2-bench machine file "
                           "(make one with gpt2-bench machine --json FILE)",
                           path);
    return ST_OK;
}

/* ---- skipped.tsv ---------------------------------------------------------------- */

int results_read_skipped(const char *path, result_skip **s, int *n, FILE *warn, status_t *st) {
    *s = NULL;
    *n = 0;
    FILE *f = fopen(path, "rb");
    if (!f) {
        if (errno == ENOENT) return ST_OK;
        return status_fail(st, ST_BAD_INPUT, "%s: cannot read (%s)", path, strerror(errno));
    }
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    int lineno = 0, n_cap = 0, rc = ST_OK;
    while ((len = getline(&line, &cap, f)) >= 0) {
        lineno++;
        while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r')) line[--len] = 0;
        if (!len || line[0] == '#') continue;
        result_skip k;
        memset(&k, 0, sizeof k);
        char dtype[16] = "";
        int used = 0;
        if (sscanf(line, "%d\t%d\t%d\t%15[^\t]\t%n", &k.batch, &k.context, &k.threads, dtype, &used) < 4 || !used ||
            k.batch < 1 || k.context < 0 || k.threads < 1) {
            if (warn) fprintf(warn, "%s line %d: not \"B<tab>S<tab>T<tab>dtype<tab>reason\"; skipped\n", path, lineno);
            continue;
        }
        snprintf(k.dtype, sizeof k.dtype, "%s", dtype);
        snprintf(k.reason, sizeof k.reason, "%s", line + used);
        if (*n == n_cap) {
            int nc = n_cap ? 2 * n_cap : 16;
            result_skip *ns = realloc(*s, (size_t)nc * sizeof *ns);
            if (!ns) {
                rc = status_fail(st, ST_RUNTIME, "out of memory reading %s", path);
                break;
            }
            *s = ns;
            n_cap = nc;
        }
        (*s)[(*n)++] = k;
    }
    free(line);
    fclose(f);
    if (rc) {
        free(*s);
        *s = NULL;
        *n = 0;
    }
    return rc;
}

/* ---- the model from one record ------------------------------------------------------ */

/* Per-sequence bytes and FLOPs of a step at the record's S. */
static void per_sequence(const result_point *p, double *b1, double *f1) {
    *b1 = (p->bytes_per_step - p->weights_bytes) / p->batch;
    *f1 = p->flops_per_step / p->batch;
}

double results_predicted_tok_s(const result_point *p, double b) {
    double b1, f1;
    per_sequence(p, &b1, &f1);
    double t_mem = (p->weights_bytes + b * b1) / (p->read_gbs * 1e9);
    double t_comp = b * f1 / (p->peak_gflops * 1e9);
    double t = t_mem > t_comp ? t_mem : t_comp;
    return t > 0 ? b / t : 0;
}

double results_crossover_batch(const result_point *p) {
    double b1, f1;
    per_sequence(p, &b1, &f1);
    double M = p->read_gbs * 1e9, C = p->peak_gflops * 1e9;
    double denom = f1 / C - b1 / M;
    if (!(denom > 0)) return -1;
    return (p->weights_bytes / M) / denom;
}

int results_measured_knee(const result_point *const *series, int n, double *gain) {
    int knee = -1;
    double g = 0;
    for (int i = 0; i + 1 < n; i++) {
        double rb = (double)series[i + 1]->batch / series[i]->batch;
        double rt = series[i + 1]->tok_s / series[i]->tok_s;
        if (rt < sqrt(rb)) {
            if (knee < 0) {
                knee = i;
                g = rt;
            }
        } else {
            knee = -1;
            g = rt;
        }
    }
    if (gain) *gain = g;
    return knee;
}

int results_worst_operator(const result_point *p) {
    int best = -1;
    double worst = -INFINITY;
    for (int i = 0; i < p->n_ops; i++) {
        double excess = p->ops[i].time_ns - p->ops[i].predicted_ns;
        if (excess > worst) {
            worst = excess;
            best = i;
        }
    }
    return best;
}

int results_worst_calibrated_operator(const result_point *p) {
    int best = -1;
    double worst = -1;
    for (int i = 0; i < p->n_ops; i++) {
        if (!(p->ops[i].predicted_calibrated_ns > 0)) continue;
        double miss = fabs(p->ops[i].time_ns - p->ops[i].predicted_calibrated_ns);
        if (miss > worst) {
            worst = miss;
            best = i;
        }
    }
    return best;
}

/* ---- files ------------------------------------------------------------------------ */

int results_write_atomic(const char *path, const char *text, size_t len, status_t *st) {
    return outfile_write(path, text, len, st);
}
