/* gpt2-bench report: what a sweep folder says. Reads DIR/machine.json and
 * DIR/decode.jsonl (and DIR/skipped.tsv from scripts/sweep.sh) and writes,
 * each atomically:
 *   DIR/summary.md       the machine, three findings computed from the data,
 *                        the plots, a table of every point, skipped points
 *   DIR/decode.csv       one row per valid point (regenerated, not appended)
 *   DIR/plot/meta.gp     gnuplot variables: machine, ceilings, series titles,
 *                        predicted crossovers, ranges, tics (scripts/plot loads it)
 *   DIR/plot/points.dat  measured points, one block per series (T, dtype, S)
 *   DIR/plot/predicted.dat   the roofline prediction per series over B
 *   DIR/plot/roofline.dat    intensity, GFLOP/s and a (B,S) label per point
 *   DIR/plot/efficiency.dat  the efficiency grid (B column x series row)
 *   DIR/plot/operators.dat   per-operator time shares for a few points
 *   DIR/plot/calibrated.dat  measured, calibrated and bound tokens/s per series
 *   DIR/plot/calibrated.gp   its gnuplot variables (ranges; whether any record has one)
 * The other modes answer scripts: --points (what is measured, for resuming),
 * --machine-threads, --describe FILE (a progress line), --compare DIR2. */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli.h"
#include "commands.h"
#include "results.h"
#include "stats.h"

static const char *USAGE =
    "usage: gpt2-bench report --dir DIR [--points | --point-passes | --machine-threads | --compare DIR2 [--plot-dir PD]]\n"
    "       gpt2-bench report --describe FILE\n"
    "  --dir DIR          a sweep folder: reads machine.json, decode.jsonl and skipped.tsv; writes\n"
    "                     summary.md, decode.csv and plot/*.dat + plot/meta.gp for scripts/plot\n"
    "  --points           only print one line \"B S T dtype\" per valid measured point\n"
    "  --point-passes     only print one line \"B S T dtype pass\" per pass of each point (sweep --passes)\n"
    "  --machine-threads  only print the thread count of DIR/machine.json\n"
    "  --describe FILE    one line per valid record of a decode JSONL file: tok/s, efficiency\n"
    "  --compare DIR2     ratio table (DIR2 / DIR) per point measured in both; with --plot-dir PD\n"
    "                     also PD/compare.dat and PD/compare-meta.gp for scripts/compare\n"
    "  Lines of decode.jsonl that are not valid records (a torn last line) are skipped and\n"
    "  named on stderr; interrupted records are left out; a re-measured point keeps its last record.\n";

#define PATH_LEN 4096
/* a point whose repetitions lost more than this share of the CPU time to
 * the hypervisor (steal_fraction) says so in the table */
#define STEAL_NOTE_FRACTION 0.02

/* ---- small helpers ----------------------------------------------------------------- */

static int join(char *buf, const char *dir, const char *name, status_t *st) {
    if ((size_t)snprintf(buf, PATH_LEN, "%s/%s", dir, name) >= PATH_LEN)
        return status_fail(st, ST_BAD_INPUT, "report: the path %s/%s is too long: use a shorter folder", dir, name);
    return ST_OK;
}

/* A gnuplot double-quoted string. */
static void gp_str(FILE *f, const char *s) {
    fputc('"', f);
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') fputc('\\', f);
        fputc(c < 32 ? ' ' : c, f);
    }
    fputc('"', f);
}

/* Text for a markdown table cell: '|' would split it. */
static void md_cell(FILE *f, const char *s) {
    for (; *s; s++) fputc(*s == '|' ? '/' : (*s == '\n' ? ' ' : *s), f);
}

/* Closes a memstream and writes its text to path atomically. */
static int flush_atomic(FILE *mem, char **text, size_t *len, const char *path, status_t *st) {
    if (fclose(mem) != 0 || !*text) return status_fail(st, ST_RUNTIME, "out of memory writing %s", path);
    int rc = results_write_atomic(path, *text, *len, st);
    free(*text);
    *text = NULL;
    return rc;
}

static const char *fmt_bytes(char *buf, size_t len, double b) {
    if (b <= 0) snprintf(buf, len, "none found");
    else if (b >= 1048576) snprintf(buf, len, "%.3g MiB", b / 1048576);
    else snprintf(buf, len, "%.3g KiB", b / 1024);
    return buf;
}

static const char *fmt_time(char *buf, size_t len, double s) {
    if (s >= 1) snprintf(buf, len, "%.2f s", s);
    else if (s >= 1e-3) snprintf(buf, len, "%.3g ms", s * 1e3);
    else snprintf(buf, len, "%.3g us", s * 1e6);
    return buf;
}

/* ---- series and groups ---------------------------------------------------------------- */

/* Points of one (T, dtype, S), by B: a contiguous run of the sorted set. */
typedef struct {
    int first, n;
    int group; /* index of its (T, dtype) group */
} series_t;

typedef struct {
    int first_series, n_series;
} group_t;

typedef struct {
    result_set rs;
    result_machine m;
    series_t *s;
    int ns;
    group_t *g;
    int ng;
    char dir[PATH_LEN];
} report_data;

static void data_free(report_data *d) {
    results_set_free(&d->rs);
    free(d->s);
    free(d->g);
    d->s = NULL;
    d->g = NULL;
}

static int build_series(report_data *d, status_t *st) {
    result_set *rs = &d->rs;
    results_sort(rs);
    d->s = calloc((size_t)(rs->n ? rs->n : 1), sizeof *d->s);
    d->g = calloc((size_t)(rs->n ? rs->n : 1), sizeof *d->g);
    if (!d->s || !d->g) return status_fail(st, ST_RUNTIME, "out of memory");
    d->ns = d->ng = 0;
    for (int i = 0; i < rs->n; i++) {
        const result_point *p = &rs->p[i], *q = i ? &rs->p[i - 1] : NULL;
        int new_group = !q || q->threads != p->threads || strcmp(q->dtype, p->dtype) != 0;
        if (new_group) d->g[d->ng++] = (group_t){d->ns, 0};
        if (new_group || q->context != p->context) {
            d->s[d->ns++] = (series_t){i, 0, d->ng - 1};
            d->g[d->ng - 1].n_series++;
        }
        d->s[d->ns - 1].n++;
    }
    return ST_OK;
}

static void series_title(const report_data *d, int si, char *buf, size_t len) {
    const result_point *p = &d->rs.p[d->s[si].first];
    if (d->ng > 1) snprintf(buf, len, "S=%d, T=%d, %s", p->context, p->threads, p->dtype);
    else snprintf(buf, len, "S=%d", p->context);
}

static const result_point *series_pt(const report_data *d, int si, int k) { return &d->rs.p[d->s[si].first + k]; }

static const result_point *series_last(const report_data *d, int si) {
    return series_pt(d, si, d->s[si].n - 1);
}

static int load_dir(report_data *d, const char *dir, FILE *warn, status_t *st) {
    memset(d, 0, sizeof *d);
    snprintf(d->dir, sizeof d->dir, "%s", dir);
    char path[PATH_LEN];
    struct stat sb;
    if (stat(dir, &sb) != 0 || !S_ISDIR(sb.st_mode))
        return status_fail(st, ST_BAD_INPUT, "report: %s is not a folder: give a folder made by scripts/sweep.sh", dir);
    int rc = join(path, dir, "machine.json", st);
    if (!rc) rc = results_read_machine(path, &d->m, st);
    if (!rc) rc = join(path, dir, "decode.jsonl", st);
    if (!rc) rc = results_read_decode(path, 0, &d->rs, warn, st);
    if (!rc && d->rs.n == 0)
        rc = status_fail(st, ST_BAD_INPUT, "report: %s holds no valid decode record: run scripts/sweep.sh --out %s",
                         path, dir);
    if (!rc) rc = build_series(d, st);
    if (rc) data_free(d);
    return rc;
}

/* ---- decode.csv --------------------------------------------------------------------------- */

/* The columns of `gpt2-bench decode --csv` (record.c), in the same order. */
static const char *CSV_HEADER =
    "model,dtype,kv_dtype,threads,batch,context,steps,reps,step_ns_median,tok_s,tok_s_min,tok_s_max,cv,"
    "bytes_per_step,flops_per_step,achieved_gbs,achieved_gflops,mbu,mfu,predicted_tok_s,bound,efficiency,"
    "llc_resident";

static int write_csv(const report_data *d, status_t *st) {
    char path[PATH_LEN], *text = NULL;
    size_t len = 0;
    int rc = join(path, d->dir, "decode.csv", st);
    if (rc) return rc;
    FILE *f = open_memstream(&text, &len);
    if (!f) return status_fail(st, ST_RUNTIME, "out of memory");
    fprintf(f, "%s\n", CSV_HEADER);
    for (int i = 0; i < d->rs.n; i++) {
        const result_point *p = &d->rs.p[i];
        fprintf(f, "%s,%s,%s,%d,%d,%d,%d,%d,%.0f,%.4f,%.4f,%.4f,%.5f,%.0f,%.0f,%.4f,%.4f,%.5f,%.5f,%.4f,%s,%.5f,%d\n",
                p->model, p->dtype, p->kv_dtype, p->threads, p->batch, p->context, p->steps, p->reps,
                p->step_ns_median, p->tok_s, p->tok_s_min, p->tok_s_max, p->cv, p->bytes_per_step, p->flops_per_step,
                p->achieved_gbs, p->achieved_gflops, p->mbu, p->mfu, p->predicted_tok_s,
                p->compute_bound ? "compute" : "memory", p->efficiency, p->llc_resident);
    }
    return flush_atomic(f, &text, &len, path, st);
}

/* ---- plot data ------------------------------------------------------------------------------ */

/* Distinct batch sizes over all points, ascending. */
static int distinct_batches(const report_data *d, int *out) {
    int n = 0;
    for (int i = 0; i < d->rs.n; i++) {
        int b = d->rs.p[i].batch, k = 0;
        while (k < n && out[k] < b) k++;
        if (k < n && out[k] == b) continue;
        memmove(out + k + 1, out + k, (size_t)(n - k) * sizeof *out);
        out[k] = b;
        n++;
    }
    return n;
}

/* Points whose operator split is drawn: the smallest and largest B of
 * each series, at most 8 bars. */
static int chosen_points(const report_data *d, int *idx, int max) {
    int n = 0;
    for (int si = 0; si < d->ns && n < max; si++) {
        const series_t *s = &d->s[si];
        if (d->rs.p[s->first].n_ops) idx[n++] = s->first;
        int last = s->first + s->n - 1;
        if (s->n > 1 && n < max && d->rs.p[last].n_ops) idx[n++] = last;
    }
    return n;
}

typedef struct {
    char *text;
    size_t len;
    FILE *f;
    char path[PATH_LEN];
} out_file;

static int out_open(out_file *o, const char *dir, const char *name, status_t *st) {
    memset(o, 0, sizeof *o);
    int rc = join(o->path, dir, name, st);
    if (rc) return rc;
    o->f = open_memstream(&o->text, &o->len);
    return o->f ? ST_OK : status_fail(st, ST_RUNTIME, "out of memory");
}

static int out_close(out_file *o, int rc, status_t *st) {
    if (!o->f) return rc;
    if (rc) {
        fclose(o->f);
        free(o->text);
        o->f = NULL;
        return rc;
    }
    rc = flush_atomic(o->f, &o->text, &o->len, o->path, st);
    o->f = NULL;
    return rc;
}

static int write_plot_data(const report_data *d, status_t *st) {
    char pdir[PATH_LEN];
    int rc = join(pdir, d->dir, "plot", st);
    if (rc) return rc;
    if (mkdir(pdir, 0777) != 0 && errno != EEXIST)
        return status_fail(st, ST_RUNTIME, "report: cannot make %s (%s): check the folder is writable", pdir,
                           strerror(errno));
    const result_set *rs = &d->rs;
    const result_machine *m = &d->m;
    double b_lo = 1e30, b_hi = 0, t_lo = 1e30, t_hi = 0, i_lo = 1e30, i_hi = 0, g_lo = 1e30, g_hi = 0, e_hi = 1;
    for (int i = 0; i < rs->n; i++) {
        const result_point *p = &rs->p[i];
        b_lo = fmin(b_lo, p->batch), b_hi = fmax(b_hi, p->batch);
        t_lo = fmin(t_lo, fmin(p->tok_s_min, p->predicted_tok_s));
        t_hi = fmax(t_hi, fmax(p->tok_s_max, p->predicted_tok_s));
        i_lo = fmin(i_lo, p->intensity), i_hi = fmax(i_hi, p->intensity);
        g_lo = fmin(g_lo, p->achieved_gflops), g_hi = fmax(g_hi, p->achieved_gflops);
        e_hi = fmax(e_hi, p->efficiency);
    }
    /* the predicted lines span the plotted batch range */
    double x_lo = b_lo / 1.5, x_hi = b_hi * 1.5;
    out_file pts, pred, roof, eff, ops, meta;
    memset(&pred, 0, sizeof pred);
    memset(&roof, 0, sizeof roof);
    memset(&eff, 0, sizeof eff);
    memset(&ops, 0, sizeof ops);
    memset(&meta, 0, sizeof meta);

    rc = out_open(&pts, pdir, "points.dat", st);
    if (!rc) rc = out_open(&pred, pdir, "predicted.dat", st);
    if (!rc) rc = out_open(&roof, pdir, "roofline.dat", st);
    if (!rc) rc = out_open(&eff, pdir, "efficiency.dat", st);
    if (!rc) rc = out_open(&ops, pdir, "operators.dat", st);
    if (!rc) rc = out_open(&meta, pdir, "meta.gp", st);
    int *bs = malloc((size_t)(rs->n ? rs->n : 1) * sizeof *bs);
    if (!rc && !bs) rc = status_fail(st, ST_RUNTIME, "out of memory");
    if (rc) goto done;

    fputs("# gpt2-bench report: measured decode points, one block (gnuplot index) per series, series as in meta.gp\n"
          "# B tok_s tok_s_min tok_s_max predicted_tok_s efficiency mbu mfu achieved_gbs achieved_gflops "
          "intensity S compute_bound\n",
          pts.f);
    fputs("# gpt2-bench report: the roofline prediction per series over B (same blocks as points.dat)\n"
          "# B predicted_tok_s\n",
          pred.f);
    fputs("# gpt2-bench report: per series block: intensity (FLOP/byte) achieved_gflops label\n", roof.f);
    for (int si = 0; si < d->ns; si++) {
        const series_t *s = &d->s[si];
        if (si) fputs("\n\n", pts.f), fputs("\n\n", pred.f), fputs("\n\n", roof.f);
        for (int k = 0; k < s->n; k++) {
            const result_point *p = series_pt(d, si, k);
            fprintf(pts.f, "%d %.6g %.6g %.6g %.6g %.5f %.5f %.5f %.6g %.6g %.6g %d %d\n", p->batch, p->tok_s,
                    p->tok_s_min, p->tok_s_max, p->predicted_tok_s, p->efficiency, p->mbu, p->mfu, p->achieved_gbs,
                    p->achieved_gflops, p->intensity, p->context, p->compute_bound);
            fprintf(roof.f, "%.6g %.6g \"(%d,%d)\"\n", p->intensity, p->achieved_gflops, p->batch, p->context);
        }
        const result_point *ref = series_last(d, si);
        double cross = results_crossover_batch(ref);
        const int NS = 96;
        int cross_done = !(cross > x_lo && cross < x_hi);
        for (int k = 0; k <= NS; k++) {
            double b = x_lo * pow(x_hi / x_lo, (double)k / NS);
            if (!cross_done && b >= cross) {
                fprintf(pred.f, "%.6g %.6g\n", cross, results_predicted_tok_s(ref, cross));
                cross_done = 1;
            }
            fprintf(pred.f, "%.6g %.6g\n", b, results_predicted_tok_s(ref, b));
        }
    }

    /* efficiency grid: x = index of B among all batches, y = series */
    int nb = distinct_batches(d, bs);
    fputs("# gpt2-bench report: efficiency grid: B_index series_index efficiency label (tics in meta.gp)\n", eff.f);
    for (int si = 0; si < d->ns; si++)
        for (int k = 0; k < d->s[si].n; k++) {
            const result_point *p = series_pt(d, si, k);
            int xi = 0;
            while (xi < nb && bs[xi] != p->batch) xi++;
            fprintf(eff.f, "%d %d %.4f \"%.2f\"\n", xi, si, p->efficiency, p->efficiency);
        }

    /* operator shares of a few points */
    int chosen[8];
    int nch = chosen_points(d, chosen, 8);
    const result_point *op_ref = nch ? &rs->p[chosen[0]] : NULL;
    fputs("# gpt2-bench report: share of the step time per operator (percent) for a few points\n", ops.f);
    fputs("point step_ms efficiency", ops.f);
    for (int o = 0; op_ref && o < op_ref->n_ops; o++) fprintf(ops.f, " %s", op_ref->ops[o].name);
    fputc('\n', ops.f);
    for (int c = 0; c < nch; c++) {
        const result_point *p = &rs->p[chosen[c]];
        if (d->ng > 1) fprintf(ops.f, "\"B=%d S=%d T=%d\"", p->batch, p->context, p->threads);
        else fprintf(ops.f, "\"B=%d S=%d\"", p->batch, p->context);
        fprintf(ops.f, " %.6g %.4f", p->step_ns_median * 1e-6, p->efficiency);
        for (int o = 0; o < op_ref->n_ops; o++) {
            double v = 0;
            for (int q = 0; q < p->n_ops; q++)
                if (strcmp(p->ops[q].name, op_ref->ops[o].name) == 0) v = 100 * p->ops[q].time_frac;
            fprintf(ops.f, " %.4f", v);
        }
        fputc('\n', ops.f);
    }

    /* meta.gp */
    const result_point *p0 = &rs->p[0];
    FILE *g = meta.f;
    fputs("# gpt2-bench report: variables for scripts/plot (machine.json + decode.jsonl)\n", g);
    fputs("cpu = ", g), gp_str(g, m->cpu), fputc('\n', g);
    char buf[512], tl[64] = "";
    int n_t = 0, tl_len = 0;
    for (int gi = 0; gi < d->ng; gi++) {
        int t = rs->p[d->s[d->g[gi].first_series].first].threads, seen = 0;
        for (int gj = 0; gj < gi; gj++) seen |= rs->p[d->s[d->g[gj].first_series].first].threads == t;
        if (seen || tl_len > 40) continue;
        tl_len += snprintf(tl + tl_len, sizeof tl - (size_t)tl_len, "%s%d", n_t ? ", " : "", t);
        n_t++;
    }
    if (n_t > 1) snprintf(buf, sizeof buf, "%s (%s), %s threads%s", m->cpu, m->isa, tl,
                          m->quick ? " - QUICK machine figures, not meaningful" : "");
    else snprintf(buf, sizeof buf, "%s (%s), %d thread%s%s", m->cpu, m->isa, p0->threads, p0->threads == 1 ? "" : "s",
                  m->quick ? " - QUICK machine figures, not meaningful" : "");
    fputs("machine_label = ", g), gp_str(g, buf), fputc('\n', g);
    snprintf(buf, sizeof buf, "%s, %s weights", p0->model, p0->dtype);
    fputs("model_label = ", g), gp_str(g, buf), fputc('\n', g);
    fprintf(g, "quick = %d\nread_gbs = %.6g\ncopy_gbs = %.6g\ntriad_gbs = %.6g\n", m->quick, m->read_gbs, m->copy_gbs,
            m->triad_gbs);
    fprintf(g, "peak_gflops = %.6g\nspec_gflops = %.6g\nsgemm_gflops = %.6g\nsgemm_size = %d\n", m->peak_gflops,
            m->spec_gflops, m->sgemm_gflops, m->sgemm_size);
    fprintf(g, "ridge = %.6g\n", m->peak_gflops / m->read_gbs);
    fprintf(g, "n_series = %d\nn_points = %d\n", d->ns, rs->n);
    for (int si = 0; si < d->ns; si++) {
        series_title(d, si, buf, sizeof buf);
        fprintf(g, "series_title_%d = ", si + 1), gp_str(g, buf), fputc('\n', g);
        const result_point *ref = series_last(d, si);
        double cross = results_crossover_batch(ref);
        fprintf(g, "series_context_%d = %d\ncross_%d = %.6g\ncross_tok_%d = %.6g\n", si + 1, ref->context, si + 1,
                cross, si + 1, cross > 0 ? results_predicted_tok_s(ref, cross) : 0);
    }
    fprintf(g, "b_lo = %.6g\nb_hi = %.6g\ntok_lo = %.6g\ntok_hi = %.6g\n", x_lo, x_hi, t_lo, t_hi);
    fprintf(g, "int_lo = %.6g\nint_hi = %.6g\ngflops_lo = %.6g\ngflops_hi = %.6g\n", i_lo, i_hi, g_lo, g_hi);
    fprintf(g, "eff_hi = %.6g\neff_nx = %d\neff_ny = %d\neff_xtics = \"(", e_hi, nb, d->ns);
    for (int k = 0; k < nb; k++) fprintf(g, "%s\\\"%d\\\" %d", k ? ", " : "", bs[k], k);
    fputs(")\"\nb_tics = \"(", g);
    for (int k = 0; k < nb; k++) fprintf(g, "%s%d", k ? ", " : "", bs[k]);
    fputs(")\"\neff_ytics = \"(", g);
    for (int si = 0; si < d->ns; si++) {
        series_title(d, si, buf, sizeof buf);
        fprintf(g, "%s\\\"%s\\\" %d", si ? ", " : "", buf, si);
    }
    fputs(")\"\n", g);
    fprintf(g, "n_op_points = %d\nn_ops = %d\n", nch, op_ref ? op_ref->n_ops : 0);

done:
    free(bs);
    rc = out_close(&pts, rc, st);
    rc = out_close(&pred, rc, st);
    rc = out_close(&roof, rc, st);
    rc = out_close(&eff, rc, st);
    rc = out_close(&ops, rc, st);
    rc = out_close(&meta, rc, st);
    return rc;
}

/* ---- the calibrated prediction against the measurement ---------------------------------------- */

static int n_calibrated(const report_data *d) {
    int n = 0;
    for (int i = 0; i < d->rs.n; i++) n += d->rs.p[i].has_calibrated;
    return n;
}

/* plot/calibrated.dat: per series block (as points.dat): B measured calibrated
 * bound error label ("NaN" where a record has no calibrated prediction);
 * plot/calibrated.gp: ranges and counts for scripts/plot. */
static int write_calibrated_plot(const report_data *d, status_t *st) {
    char pdir[PATH_LEN];
    int rc = join(pdir, d->dir, "plot", st);
    if (rc) return rc;
    out_file dat, gp;
    memset(&gp, 0, sizeof gp);
    rc = out_open(&dat, pdir, "calibrated.dat", st);
    if (!rc) rc = out_open(&gp, pdir, "calibrated.gp", st);
    if (!rc) {
        fputs("# gpt2-bench report: per series block (as points.dat): B tok_s predicted_calibrated_tok_s "
              "predicted_tok_s(bound) prediction_error label\n",
              dat.f);
        double lo = 1e30, hi = 0, emax = 0;
        for (int si = 0; si < d->ns; si++) {
            if (si) fputs("\n\n", dat.f);
            for (int k = 0; k < d->s[si].n; k++) {
                const result_point *p = series_pt(d, si, k);
                lo = fmin(lo, fmin(p->tok_s, p->predicted_tok_s));
                hi = fmax(hi, fmax(p->tok_s, p->predicted_tok_s));
                if (p->has_calibrated) {
                    lo = fmin(lo, p->calibrated_tok_s), hi = fmax(hi, p->calibrated_tok_s);
                    emax = fmax(emax, fabs(p->prediction_error));
                    fprintf(dat.f, "%d %.6g %.6g %.6g %.5f \"%+.1f%%\"\n", p->batch, p->tok_s, p->calibrated_tok_s,
                            p->predicted_tok_s, p->prediction_error, 100 * p->prediction_error);
                } else {
                    fprintf(dat.f, "%d %.6g NaN %.6g NaN \"\"\n", p->batch, p->tok_s, p->predicted_tok_s);
                }
            }
        }
        fprintf(gp.f, "# gpt2-bench report: variables of the calibrated chart (scripts/plot)\n"
                      "n_calibrated = %d\ncal_tok_lo = %.6g\ncal_tok_hi = %.6g\ncal_err_max = %.6g\n",
                n_calibrated(d), lo, hi, emax);
    }
    rc = out_close(&dat, rc, st);
    rc = out_close(&gp, rc, st);
    return rc;
}

/* Step time if each operator ran at its own roof, one after another. */
static double serial_roof_s(const result_point *p) {
    double t = 0;
    for (int k = 0; k < p->n_ops; k++) t += p->ops[k].predicted_ns * 1e-9;
    return t;
}

static int n_serial(const report_data *d) {
    int n = 0;
    for (int i = 0; i < d->rs.n; i++) n += serial_roof_s(&d->rs.p[i]) > 0;
    return n;
}

static void sentence_serial(FILE *f, const report_data *d) {
    double lo = 1e30, hi = 0, worst_ratio = 1;
    const result_point *pl = NULL, *pr = NULL;
    for (int i = 0; i < d->rs.n; i++) {
        const result_point *p = &d->rs.p[i];
        double s = serial_roof_s(p);
        if (!(s > 0)) continue;
        double e = s / (p->step_ns_median * 1e-9), r = s / (p->batch / p->predicted_tok_s);
        if (e < lo) lo = e, pl = p;
        if (e > hi) hi = e;
        if (r > worst_ratio) worst_ratio = r, pr = p;
    }
    fprintf(f, "Summing each operator's own roof (its bytes / read bandwidth or its FLOPs / FMA peak) gives the step "
               "with no overlap between operators; against it, efficiency lies between %.2f (B=%d, S=%d) and %.2f: "
               "that part of the gap is the kernels'.",
            lo, pl->batch, pl->context, hi);
    if (pr)
        fprintf(f, " The rest is overlap the whole-step roof assumes: largest at B=%d, S=%d, where the operators at "
                   "their own roofs take %.2fx the whole-step roof (attention streams the KV cache while the GEMMs "
                   "are compute-bound; this step runs them one after the other, each on all cores).",
                pr->batch, pr->context, worst_ratio);
    else
        fputs(" Every point is bound by one resource throughout its step, so the whole-step roof is the sum.", f);
}

static int n_probed(const report_data *d) {
    int n = 0;
    for (int i = 0; i < d->rs.n; i++) n += d->rs.p[i].has_probe;
    return n;
}

/* The bandwidth the machine gave during the sweep (the probes around each
 * point) against the machine file's, and the efficiency against each. */
static void sentence_probe(FILE *f, const report_data *d) {
    int n = 0;
    double *bw = malloc(sizeof(double) * (size_t)d->rs.n), *ep = malloc(sizeof(double) * (size_t)d->rs.n),
           *em = malloc(sizeof(double) * (size_t)d->rs.n);
    if (!bw || !ep || !em) {
        free(bw), free(ep), free(em);
        return;
    }
    for (int i = 0; i < d->rs.n; i++) {
        const result_point *p = &d->rs.p[i];
        if (!p->has_probe) continue;
        bw[n] = p->probe_read_gbs, ep[n] = p->efficiency_probe, em[n] = p->efficiency;
        n++;
    }
    double bmed = stats_median(bw, n), emed = stats_median(ep, n), mmed = stats_median(em, n);
    fprintf(f, "The read bandwidth probed just before and after each of the %d point%s ranged %.1f-%.1f GB/s "
               "(median %.1f) against the machine file's %.1f GB/s: this host's bandwidth moves while a sweep runs. "
               "Against the probe of its own minute, efficiency lies between %.2f and %.2f (median %.2f); against "
               "the machine file, between %.2f and %.2f (median %.2f). Both are in every record "
               "(efficiency_probe, efficiency).",
            n, n == 1 ? "" : "s", bw[0], bw[n - 1], bmed, d->m.read_gbs, ep[0], ep[n - 1], emed, em[0], em[n - 1],
            mmed);
    int nf = 0;
    for (int i = 0; i < d->rs.n; i++)
        if (d->rs.p[i].probe_peak_gflops > 0) bw[nf++] = d->rs.p[i].probe_peak_gflops;
    if (nf > 0) {
        const double fmed = stats_median(bw, nf); /* sorts bw */
        fprintf(f, " The FMA rate probed alongside (the machine file's peak loop) ranged %.0f-%.0f GFLOP/s (median "
                   "%.0f) against the machine file's %.0f: where it sinks, a neighbour shares the cores, and the "
                   "compute-bound points' efficiency against the probe allows for it.",
                bw[0], bw[nf - 1], fmed, d->m.peak_gflops);
    }
    int ns = 0, over = 0;
    for (int i = 0; i < d->rs.n; i++) {
        const result_point *p = &d->rs.p[i];
        if (p->steal_fraction < 0) continue;
        bw[ns++] = 100 * p->steal_fraction;
        over += p->steal_fraction > STEAL_NOTE_FRACTION;
    }
    if (ns > 0) {
        const double smed = stats_median(bw, ns); /* sorts bw */
        fprintf(f, " The hypervisor took %.1f-%.1f%% of the CPU time during the points' repetitions (median %.1f%%, "
                   "steal_fraction in each record)%s",
                bw[0], bw[ns - 1], smed, over ? ": " : ".");
        if (over)
            fprintf(f, "%d point%s lost more than %.0f%%, marked in the table: their slow repetitions are partly "
                       "another guest's.", over, over == 1 ? "" : "s", 100 * STEAL_NOTE_FRACTION);
    }
    free(bw), free(ep), free(em);
}

/* The bandwidth the calibration ran at against the points' (both probed):
 * a forecast cannot be closer than the machine holds still. */
static void sentence_calibration_minute(FILE *f, const report_data *d) {
    double cal = 0, lo = 1e30, hi = 0, fcal_lo = 1e30, fcal_hi = 0, flo = 1e30, fhi = 0;
    for (int i = 0; i < d->rs.n; i++) {
        const result_point *p = &d->rs.p[i];
        if (!p->has_calibrated || !p->has_probe || !(p->calib_probe_read_gbs > 0)) continue;
        cal = p->calib_probe_read_gbs;
        lo = fmin(lo, p->probe_read_gbs), hi = fmax(hi, p->probe_read_gbs);
        if (p->calib_probe_peak_gflops > 0 && p->probe_peak_gflops > 0) { /* one calibration per dtype */
            fcal_lo = fmin(fcal_lo, p->calib_probe_peak_gflops), fcal_hi = fmax(fcal_hi, p->calib_probe_peak_gflops);
            flo = fmin(flo, p->probe_peak_gflops), fhi = fmax(fhi, p->probe_peak_gflops);
        }
    }
    if (cal > 0)
        fprintf(f, " The calibration ran at %.1f GB/s of probed read bandwidth, the points at %.1f-%.1f GB/s: "
                   "operators bound by memory move with that difference, which the forecast cannot know.",
                cal, lo, hi);
    if (fhi > 0) {
        fprintf(f, " Its probed FMA rate was %.0f", fcal_lo);
        if (fcal_hi > fcal_lo + 0.5) fprintf(f, "-%.0f", fcal_hi);
        fprintf(f, " GFLOP/s, the points' %.0f-%.0f: the compute-bound operators, and the widening of "
                   "low-precision weights, move with that one.", flo, fhi);
    }
}

static void sentence_calibrated(FILE *f, const report_data *d) {
    int n = 0, within = 0;
    double lo = 1e30, hi = -1e30;
    const result_point *w = NULL;
    double *abs_err = malloc((size_t)d->rs.n * sizeof *abs_err);
    for (int i = 0; i < d->rs.n; i++) {
        const result_point *p = &d->rs.p[i];
        if (!p->has_calibrated) continue;
        double e = p->prediction_error;
        if (abs_err) abs_err[n] = fabs(e);
        n++;
        within += fabs(e) <= 0.10;
        lo = fmin(lo, e), hi = fmax(hi, e);
        if (!w || fabs(e) > fabs(w->prediction_error)) w = p;
    }
    double med = abs_err ? stats_median(abs_err, n) : 0;
    free(abs_err);
    fprintf(f, "Over the %d point%s with a calibration (gpt2-bench calibrate), measured / calibrated - 1 lies between "
               "%+.1f%% and %+.1f%% (median |error| %.1f%%); %d of %d within 10%%. The largest miss is at B=%d, S=%d%s%s: "
               "%.1f tok/s measured against %.1f calibrated (%+.1f%%; the bound says %.1f)",
            n, n == 1 ? "" : "s", 100 * lo, 100 * hi, 100 * med, within, n, w->batch, w->context, d->ng > 1 ? ", " : "",
            d->ng > 1 ? w->dtype : "", w->tok_s, w->calibrated_tok_s, 100 * w->prediction_error, w->predicted_tok_s);
    int o = results_worst_calibrated_operator(w);
    if (o < 0) { /* records without the per-operator split */
        fputs(".", f);
        sentence_calibration_minute(f, d);
        return;
    }
    const result_op *op = &w->ops[o];
    char t1[32], t2[32];
    double step_miss = w->step_ns_median - w->batch / w->calibrated_tok_s * 1e9;
    fprintf(f, "; the operator that misses most there is %s: %s measured against %s predicted (%+.0f%%", op->name,
            fmt_time(t1, sizeof t1, op->time_ns * 1e-9), fmt_time(t2, sizeof t2, op->predicted_calibrated_ns * 1e-9),
            100 * (op->time_ns / op->predicted_calibrated_ns - 1));
    if (fabs(step_miss) > 0 && (op->time_ns - op->predicted_calibrated_ns) * step_miss > 0)
        fprintf(f, ", %.0f%% of the step's miss", 100 * (op->time_ns - op->predicted_calibrated_ns) / step_miss);
    fputs(").", f);
    sentence_calibration_minute(f, d);
}

/* How far the passes of a point disagree (sweep --passes): the noise floor
 * under any forecast. */
static int n_multi_pass(const report_data *d) {
    int n = 0;
    for (int i = 0; i < d->rs.n; i++) n += d->rs.p[i].n_pass > 1;
    return n;
}

static void sentence_repeatability(FILE *f, const report_data *d) {
    int n = 0, over = 0;
    const result_point *w = NULL;
    double *spread = malloc((size_t)d->rs.n * sizeof *spread);
    for (int i = 0; i < d->rs.n; i++) {
        const result_point *p = &d->rs.p[i];
        if (p->n_pass < 2) continue;
        if (spread) spread[n] = p->pass_spread;
        n++;
        over += p->pass_spread > 0.10;
        if (!w || p->pass_spread > w->pass_spread) w = p;
    }
    double med = spread ? stats_median(spread, n) : 0;
    free(spread);
    fprintf(f, "The %d point%s measured in more than one pass differ%s between %s fastest and slowest pass by %.1f%% "
               "at the median and by up to %.1f%% (B=%d, S=%d%s%s); %d by more than 10%%. A point's tokens/s is the "
               "median of its passes; where the passes themselves differ by more than 10%%, the measurement does not "
               "repeat to the 10%% a forecast is held to (docs/method.md, \"What it does not model\").",
            n, n == 1 ? "" : "s", n == 1 ? "s" : "", n == 1 ? "its" : "their", 100 * med, 100 * w->pass_spread,
            w->batch, w->context, d->ng > 1 ? ", " : "", d->ng > 1 ? w->dtype : "", over);
}

/* ---- summary.md ------------------------------------------------------------------------------- */

static void sentence_crossover(FILE *f, const report_data *d, int gi) {
    const group_t *gr = &d->g[gi];
    for (int k = 0; k < gr->n_series; k++) {
        int si = gr->first_series + k;
        const series_t *s = &d->s[si];
        const result_point *last = series_last(d, si), *first = series_pt(d, si, 0);
        double cross = results_crossover_batch(last);
        fprintf(f, "%s S=%d ", k ? "; at" : "At", last->context);
        if (cross < 0) {
            double b1 = (last->bytes_per_step - last->weights_bytes) / last->batch;
            double f1 = last->flops_per_step / last->batch;
            fprintf(f,
                    "the model predicts memory-bound decode at every batch (as B grows the intensity tends to "
                    "%.2f FLOP/byte, below the ridge of %.2f: KV-cache traffic grows with B as fast as the FLOPs)",
                    f1 / b1, last->ridge);
        } else {
            int bc = (int)ceil(cross);
            if (bc < 1) bc = 1;
            fprintf(f, "the model predicts compute-bound from B=%d", bc);
            if (bc > last->batch) fprintf(f, " (beyond the largest batch measured, %d)", last->batch);
        }
        const result_point **ser = malloc((size_t)s->n * sizeof *ser);
        if (!ser) return;
        for (int j = 0; j < s->n; j++) ser[j] = series_pt(d, si, j);
        double gain = 0;
        int knee = results_measured_knee(ser, s->n, &gain);
        if (s->n < 2)
            fprintf(f, "; only B=%d was measured, so the measured turn cannot be located", first->batch);
        else if (knee >= 0)
            fprintf(f, ", and the measured tokens/s stop scaling with batch from B=%d on (B=%d to B=%d: x%.2f for "
                       "x%g the batch)",
                    ser[knee]->batch, ser[knee]->batch, ser[knee + 1]->batch, gain,
                    (double)ser[knee + 1]->batch / ser[knee]->batch);
        else
            fprintf(f, ", while the measured tokens/s still scale with batch at the largest batches (x%.2f from B=%d "
                       "to B=%d: no measured turn yet)",
                    gain, ser[s->n - 2]->batch, last->batch);
        free(ser);
    }
    fputs(".", f);
}

static void sentence_gap(FILE *f, const report_data *d, int gi) {
    const group_t *gr = &d->g[gi];
    const result_point *w = NULL;
    for (int k = 0; k < gr->n_series; k++) {
        int si = gr->first_series + k;
        for (int j = 0; j < d->s[si].n; j++) {
            const result_point *p = series_pt(d, si, j);
            if (!w || p->efficiency < w->efficiency) w = p;
        }
    }
    char t1[32], t2[32], t3[32], t4[32];
    double step_s = w->step_ns_median * 1e-9, pred_s = w->batch / w->predicted_tok_s;
    fprintf(f, "The lowest efficiency is at B=%d, S=%d: %.1f tok/s against %.1f predicted (%s-bound), %.0f%% of the roof",
            w->batch, w->context, w->tok_s, w->predicted_tok_s, w->compute_bound ? "compute" : "memory",
            100 * w->efficiency);
    if (step_s > pred_s)
        fprintf(f, "; a step takes %s where the roof allows %s", fmt_time(t1, sizeof t1, step_s),
                fmt_time(t2, sizeof t2, pred_s));
    int o = results_worst_operator(w);
    if (o < 0) {
        fputs(". The record has no per-operator split, so the operator cannot be named.", f);
        return;
    }
    /* the gap in two parts: the overlap the whole-step roof assumes between
     * memory-bound and compute-bound operators, and the operators' own time
     * beyond their roofs */
    double serial_s = 0;
    for (int k = 0; k < w->n_ops; k++) serial_s += w->ops[k].predicted_ns * 1e-9;
    if (step_s > pred_s && serial_s > pred_s * 1.005)
        fprintf(f, ". Of the %s beyond the roof, %s is overlap the whole-step roof assumes (each operator at its own "
                   "roof, one after another, the step takes %s: a memory-bound and a compute-bound operator would have "
                   "to run at once) and %s is the operators' own time beyond their roofs",
                fmt_time(t1, sizeof t1, step_s - pred_s), fmt_time(t2, sizeof t2, serial_s - pred_s),
                fmt_time(t3, sizeof t3, serial_s), fmt_time(t4, sizeof t4, step_s > serial_s ? step_s - serial_s : 0));
    const result_op *op = &w->ops[o];
    double excess = (op->time_ns - op->predicted_ns) * 1e-9;
    fprintf(f, ". The operator with the most time beyond its own roof is %s: %s per step against %s (%s beyond it", op->name,
            fmt_time(t1, sizeof t1, op->time_ns * 1e-9), fmt_time(t2, sizeof t2, op->predicted_ns * 1e-9),
            fmt_time(t3, sizeof t3, excess));
    if (step_s > pred_s && excess > 0)
        fprintf(f, ", %.0f%% of the step's %s gap", 100 * excess / (step_s - pred_s),
                fmt_time(t4, sizeof t4, step_s - pred_s));
    fprintf(f, "; it takes %.0f%% of the step).", 100 * op->time_frac);
}

static void sentence_scaling(FILE *f, const report_data *d, int gi) {
    const group_t *gr = &d->g[gi];
    int picks[2] = {gr->first_series, gr->first_series + gr->n_series - 1};
    int np = gr->n_series > 1 ? 2 : 1;
    int said = 0;
    for (int k = 0; k < np; k++) {
        int si = picks[k];
        const result_point *a = series_pt(d, si, 0), *b = series_last(d, si);
        fprintf(f, "%s", said ? "; at " : "At ");
        said = 1;
        fprintf(f, "%s context (S=%d) ", np == 1 ? "the only" : (k == 0 ? "the shortest" : "the longest"), a->context);
        if (d->s[si].n < 2) {
            fprintf(f, "only B=%d was measured", a->batch);
            continue;
        }
        double ratio = b->tok_s / a->tok_s, pred = b->predicted_tok_s / a->predicted_tok_s;
        fprintf(f, "B=%d gives %.2fx the tokens/s of B=%d (the roof predicts %.2fx; %dx the batch)", b->batch, ratio,
                a->batch, pred, b->batch / a->batch);
    }
    fputs(".", f);
}

static int write_summary(const report_data *d, const result_skip *sk, int nsk, const char *left_out,
                         status_t *st) {
    out_file o;
    int rc = out_open(&o, d->dir, "summary.md", st);
    if (rc) return rc;
    FILE *f = o.f;
    const result_machine *m = &d->m;
    const result_point *p0 = &d->rs.p[0];
    char b1[64], b2[64];
    fprintf(f, "# GPT-2 decode against the roofline: %s on ", p0->model);
    md_cell(f, m->cpu);
    fprintf(f, "\n\n%d point%s measured", d->rs.n, d->rs.n == 1 ? "" : "s");
    int n_skip_open = 0;
    for (int k = 0; k < nsk; k++) {
        int measured = 0;
        for (int i = 0; i < d->rs.n && !measured; i++) {
            const result_point *p = &d->rs.p[i];
            measured = p->batch == sk[k].batch && p->context == sk[k].context && p->threads == sk[k].threads &&
                       strcmp(p->dtype, sk[k].dtype) == 0;
        }
        n_skip_open += !measured;
    }
    if (n_skip_open) fprintf(f, ", %d skipped", n_skip_open);
    int max_pass = 1;
    for (int i = 0; i < d->rs.n; i++) max_pass = d->rs.p[i].n_pass > max_pass ? d->rs.p[i].n_pass : max_pass;
    if (max_pass > 1)
        fprintf(f, " (decode.jsonl, one JSON record per point and pass; decode.csv, the points as a table), model %s "
                   "with %s weights, %d decode steps per repetition, %d repetitions per point in %d passes over the "
                   "grid: a point's step is the median of its passes' median steps, so one slow minute is one pass.",
                p0->model, p0->dtype, p0->steps, p0->reps, max_pass);
    else
        fprintf(f, " (decode.jsonl, one JSON record per point; decode.csv, the same as a table), model %s with %s "
                   "weights, %d decode steps per repetition, %d repetitions per point.",
                p0->model, p0->dtype, p0->steps, p0->reps);
    if (m->quick)
        fputs("\n\n**The machine figures come from a quick measurement (`gpt2-bench machine --quick`): they check the "
              "tool and mean nothing about this machine.**",
              f);
    fputs("\n\n## Machine\n\n| | |\n|---|---|\n", f);
    fputs("| CPU | ", f), md_cell(f, m->cpu), fprintf(f, " (%s), host ", m->isa), md_cell(f, m->host);
    fprintf(f, " |\n| Threads used | %d (spec peak counts %d core%s) |\n", m->threads, m->spec_cores,
            m->spec_cores == 1 ? "" : "s");
    fprintf(f, "| Bandwidth, measured (STREAM convention) | read %.1f, copy %.1f, triad %.1f GB/s |\n", m->read_gbs,
            m->copy_gbs, m->triad_gbs);
    if (m->read_median_gbs > 0)
        fprintf(f, "| Read bandwidth, median pass | %.1f GB/s (the roof above is the best pass, as STREAM reports it; "
                   "on a shared host the two differ by what other tenants take) |\n",
                m->read_median_gbs);
    fprintf(f, "| FMA peak, measured | %.1f GFLOP/s |\n", m->peak_gflops);
    fprintf(f, "| Spec peak | %.1f GFLOP/s (%d cores x %.2f GHz x %.0f FLOP/cycle) |\n", m->spec_gflops, m->spec_cores,
            m->clock_ghz, m->flops_per_cycle_per_core);
    fprintf(f, "| OpenBLAS sgemm %d^3 | %.1f GFLOP/s |\n", m->sgemm_size, m->sgemm_gflops);
    fprintf(f, "| Ridge point | %.2f FLOP/byte (measured FMA peak / read bandwidth); %.2f with sgemm |\n",
            m->peak_gflops / m->read_gbs, m->sgemm_gflops / m->read_gbs);
    fprintf(f, "| Last-level cache | %s measured (bandwidth knee), %s per hwloc |\n",
            fmt_bytes(b1, sizeof b1, m->llc_bytes_measured), fmt_bytes(b2, sizeof b2, m->llc_bytes_hwloc));
    fputs("| Measured | ", f), md_cell(f, m->date), fputs(", revision ", f), md_cell(f, m->git_revision);
    fputs(" |\n\nEach point's prediction is one decode step's bytes / read bandwidth or its FLOPs / FMA peak, "
          "whichever is longer (the analytic model of docs/method.md); efficiency = measured tokens/s / predicted; "
          "MBU = achieved GB/s / read bandwidth; MFU = achieved GFLOP/s / FMA peak.\n",
          f);
    int other_t = 0;
    for (int i = 0; i < d->rs.n; i++) other_t += d->rs.p[i].threads != m->threads;
    if (other_t)
        fprintf(f, "\nThe table shows machine.json, measured with %d thread%s; the %d point%s measured with other "
                   "thread counts use the ceilings measured with theirs (machine-t<T>.json, copied into each record).\n",
                m->threads, m->threads == 1 ? "" : "s", other_t, other_t == 1 ? "" : "s");
    int other = 0;
    for (int i = 0; i < d->rs.n; i++) {
        const result_point *p = &d->rs.p[i];
        if (p->threads == m->threads && fabs(p->read_gbs - m->read_gbs) > 1e-6 * m->read_gbs) other++;
    }
    if (other)
        fprintf(f, "\n%d point%s measured with %d threads used other ceilings than machine.json (a machine file "
                   "measured at another time); their predictions use the figures in their own records.\n",
                other, other == 1 ? " was" : "s were", m->threads);

    fputs("\n## What the data says\n", f);
    for (int gi = 0; gi < d->ng; gi++) {
        char gname[64] = "";
        const result_point *gp = &d->rs.p[d->s[d->g[gi].first_series].first];
        if (d->ng > 1) snprintf(gname, sizeof gname, " (T=%d, %s)", gp->threads, gp->dtype);
        fprintf(f, "\n- **Where decode turns compute-bound%s.** ", gname);
        sentence_crossover(f, d, gi);
        fprintf(f, "\n- **Largest gap to the roof%s.** ", gname);
        sentence_gap(f, d, gi);
        fprintf(f, "\n- **Throughput against batch%s.** ", gname);
        sentence_scaling(f, d, gi);
        fputc('\n', f);
    }
    if (n_serial(d) > 0) {
        fputs("\n- **The operators against their own roofs.** ", f);
        sentence_serial(f, d);
        fputc('\n', f);
    }
    if (n_probed(d) > 0) {
        fputs("\n- **Bandwidth during the sweep.** ", f);
        sentence_probe(f, d);
        fputc('\n', f);
    }
    const int show_cal = n_calibrated(d) > 0;
    if (show_cal) {
        fputs("\n- **Calibrated prediction.** ", f);
        sentence_calibrated(f, d);
        fputc('\n', f);
    }
    if (n_multi_pass(d) > 0) {
        fputs("\n- **Repeatability.** ", f);
        sentence_repeatability(f, d);
        fputc('\n', f);
    }

    fputs("\n## Plots\n\n"
          "![Tokens/s against batch size, measured and predicted](plot/throughput.png)\n\n"
          "Tokens per second against batch size (log-log): measured median with the slowest and fastest repetition "
          "as error bars, and the roofline prediction as a line, per context. Where the line bends flat, decode turns "
          "compute-bound. ([SVG](plot/throughput.svg))\n\n"
          "![Roofline: achieved GFLOP/s against arithmetic intensity](plot/roofline.png)\n\n"
          "The classic roofline: each point's achieved GFLOP/s against its FLOPs per byte moved, under the measured "
          "read-bandwidth slope and FMA-peak ceiling (solid) and the spec and sgemm ceilings (dashed). "
          "([SVG](plot/roofline.svg))\n\n"
          "![Efficiency over the grid and per-operator time split](plot/efficiency.png)\n\n"
          "Left: efficiency (measured / predicted tokens/s) at every point. Right: the share of a step's time each "
          "operator takes, at the smallest and largest batch of each context. ([SVG](plot/efficiency.svg))\n",
          f);
    fputs("\n![Calibrated prediction against the measurement](plot/calibrated.png)\n\n"
          "Tokens per second against batch size (log-log), per context: measured (solid), the calibrated prediction "
          "(dashed, labelled with measured / calibrated - 1) and the simple roofline bound above them (dotted). "
          "([SVG](plot/calibrated.svg))\n",
          f);

    fputs("\n## Every point\n\n", f);
    int show_tg = d->ng > 1;
    fputs(show_tg ? "| B | S | T | dtype " : "| B | S ", f);
    const int show_probe = n_probed(d) > 0;
    fputs("| tok/s | min-max tok/s | predicted tok/s | bound | efficiency | MBU | MFU | GB/s | GFLOP/s | note |", f);
    if (show_probe) fputs(" probed GB/s | efficiency (probe) |", f);
    fputs(show_cal ? " calibrated tok/s | error | largest operator miss |\n" : "\n", f);
    fputs(show_tg ? "|--:|--:|--:|---" : "|--:|--:", f);
    fputs("|--:|--:|--:|---|--:|--:|--:|--:|--:|---|", f);
    if (show_probe) fputs("--:|--:|", f);
    fputs(show_cal ? "--:|--:|---|\n" : "\n", f);
    for (int i = 0; i < d->rs.n; i++) {
        const result_point *p = &d->rs.p[i];
        fprintf(f, "| %d | %d ", p->batch, p->context);
        if (show_tg) fprintf(f, "| %d | %s ", p->threads, p->dtype);
        char note[128] = "", steal[48] = "";
        if (p->steal_fraction > STEAL_NOTE_FRACTION)
            snprintf(steal, sizeof steal, "%.0f%% of the CPU time stolen", 100 * p->steal_fraction);
        const char *parts[3] = {p->llc_resident ? "fits in LLC" : "", p->cv > 0.05 ? "noisy (cv > 5%)" : "", steal};
        for (int k = 0; k < 3; k++)
            if (parts[k][0])
                snprintf(note + strlen(note), sizeof note - strlen(note), "%s%s", note[0] ? "; " : "", parts[k]);
        fprintf(f, "| %.1f | %.1f-%.1f | %.1f | %s | %.2f | %.2f | %.2f | %.1f | %.1f | %s |", p->tok_s,
                p->tok_s_min, p->tok_s_max, p->predicted_tok_s, p->compute_bound ? "compute" : "memory",
                p->efficiency, p->mbu, p->mfu, p->achieved_gbs, p->achieved_gflops, note);
        if (show_probe && p->has_probe)
            fprintf(f, " %.1f | %.2f |", p->probe_read_gbs, p->efficiency_probe);
        else if (show_probe)
            fputs(" | |", f);
        int wo = show_cal && p->has_calibrated ? results_worst_calibrated_operator(p) : -1;
        if (show_cal && p->has_calibrated && wo >= 0)
            fprintf(f, " %.1f | %+.1f%% | %s %+.0f%% |", p->calibrated_tok_s, 100 * p->prediction_error,
                    p->ops[wo].name, 100 * (p->ops[wo].time_ns / p->ops[wo].predicted_calibrated_ns - 1));
        else if (show_cal && p->has_calibrated)
            fprintf(f, " %.1f | %+.1f%% | |", p->calibrated_tok_s, 100 * p->prediction_error);
        else if (show_cal)
            fputs(" | | |", f);
        fputc('\n', f);
    }
    fputs("\n\"fits in LLC\": the weights and KV cache fit in the measured last-level cache, so the DRAM roof "
          "understates what the machine can do there.\n",
          f);
    if (n_skip_open) {
        fputs("\n## Skipped points\n\n| B | S | T | dtype | reason |\n|--:|--:|--:|---|---|\n", f);
        for (int k = 0; k < nsk; k++) {
            int measured = 0;
            for (int i = 0; i < d->rs.n && !measured; i++) {
                const result_point *p = &d->rs.p[i];
                measured = p->batch == sk[k].batch && p->context == sk[k].context && p->threads == sk[k].threads &&
                           strcmp(p->dtype, sk[k].dtype) == 0;
            }
            if (measured) continue;
            fprintf(f, "| %d | %d | %d | %s | ", sk[k].batch, sk[k].context, sk[k].threads, sk[k].dtype);
            md_cell(f, sk[k].reason);
            fputs(" |\n", f);
        }
    }
    if (left_out && *left_out) {
        fputs("\n## Records left out\n\n", f);
        const char *s = left_out;
        while (*s) {
            const char *e = strchr(s, '\n');
            size_t n = e ? (size_t)(e - s) : strlen(s);
            fprintf(f, "- %.*s\n", (int)n, s);
            s += n + (e ? 1 : 0);
        }
    }
    return out_close(&o, ST_OK, st);
}

/* ---- modes ----------------------------------------------------------------------------------- */

static int mode_points(const char *dir, int passes, FILE *out, status_t *st) {
    char path[PATH_LEN];
    int rc = join(path, dir, "decode.jsonl", st);
    result_set rs;
    if (!rc) rc = results_read_decode(path, 1, &rs, stderr, st);
    if (rc) return rc;
    results_sort(&rs);
    for (int i = 0; i < rs.n; i++) {
        const result_point *p = &rs.p[i];
        if (!passes) fprintf(out, "%d %d %d %s\n", p->batch, p->context, p->threads, p->dtype);
        for (int k = 0; passes && k < p->n_pass; k++)
            fprintf(out, "%d %d %d %s %d\n", p->batch, p->context, p->threads, p->dtype, p->pass_list[k]);
    }
    results_set_free(&rs);
    return ST_OK;
}

static int mode_machine_threads(const char *dir, FILE *out, status_t *st) {
    char path[PATH_LEN];
    result_machine m;
    int rc = join(path, dir, "machine.json", st);
    if (!rc) rc = results_read_machine(path, &m, st);
    if (rc) return rc;
    if (m.threads < 1)
        return status_fail(st, ST_BAD_INPUT, "%s: no thread count: remake it with gpt2-bench machine --json %s", path,
                           path);
    fprintf(out, "%d\n", m.threads);
    return ST_OK;
}

static int mode_describe(const char *file, FILE *out, status_t *st) {
    result_set rs;
    int rc = results_read_decode(file, 0, &rs, stderr, st);
    if (rc) return rc;
    for (int i = 0; i < rs.n; i++) {
        const result_point *p = &rs.p[i];
        fprintf(out, "%.1f tok/s (%.1f-%.1f), efficiency %.2f of the predicted %.1f tok/s (%s-bound)\n", p->tok_s,
                p->tok_s_min, p->tok_s_max, p->efficiency, p->predicted_tok_s, p->compute_bound ? "compute" : "memory");
    }
    int n = rs.n;
    results_set_free(&rs);
    if (!n) return status_fail(st, ST_RUNTIME, "report: %s holds no valid decode record", file);
    return ST_OK;
}

static const char *base_name(const char *path, char *buf, size_t len) {
    snprintf(buf, len, "%s", path);
    size_t n = strlen(buf);
    while (n > 1 && buf[n - 1] == '/') buf[--n] = 0;
    const char *s = strrchr(buf, '/');
    return s ? s + 1 : buf;
}

static void dir_label(const report_data *d, char *buf, size_t len) {
    char b[PATH_LEN];
    const result_point *p = &d->rs.p[0];
    snprintf(buf, len, "%s: %s, %s, T=%d, %s", base_name(d->dir, b, sizeof b), d->m.cpu, p->model, p->threads,
             p->dtype);
}

static int mode_compare(const char *dir_a, const char *dir_b, const char *plot_dir, FILE *out, status_t *st) {
    report_data a, b;
    int rc = load_dir(&a, dir_a, stderr, st);
    if (rc) return rc;
    rc = load_dir(&b, dir_b, stderr, st);
    if (rc) {
        data_free(&a);
        return rc;
    }
    /* one (T, dtype) each: match on (B, S) alone, so two machines or two dtypes compare */
    int loose = a.ng == 1 && b.ng == 1;
    char la[512], lb[512];
    dir_label(&a, la, sizeof la);
    dir_label(&b, lb, sizeof lb);
    fprintf(out, "A = %s\nB = %s\n", la, lb);
    fprintf(out, "points matched on %s\n\n", loose ? "batch and context" : "batch, context, threads and dtype");
    fprintf(out, "%6s %6s%s %12s %12s %8s %7s %7s %8s\n", "batch", "ctx", loose ? "" : "      T dtype", "A tok/s",
            "B tok/s", "B/A", "A eff", "B eff", "B/A");
    int common = 0;
    double log_sum = 0;
    for (int i = 0; i < a.rs.n; i++) {
        const result_point *p = &a.rs.p[i];
        for (int j = 0; j < b.rs.n; j++) {
            const result_point *q = &b.rs.p[j];
            if (p->batch != q->batch || p->context != q->context) continue;
            if (!loose && (p->threads != q->threads || strcmp(p->dtype, q->dtype) != 0)) continue;
            common++;
            double r = q->tok_s / p->tok_s;
            log_sum += log(r);
            fprintf(out, "%6d %6d", p->batch, p->context);
            if (!loose) fprintf(out, " %6d %5s", p->threads, p->dtype);
            fprintf(out, " %12.1f %12.1f %8.3f %7.2f %7.2f %8.3f\n", p->tok_s, q->tok_s, r, p->efficiency,
                    q->efficiency, q->efficiency / p->efficiency);
        }
    }
    if (!common) {
        rc = status_fail(st, ST_BAD_INPUT,
                         "report: no point was measured in both %s and %s: sweep the same batches and contexts", dir_a,
                         dir_b);
    } else {
        fprintf(out, "\n%d common point%s; geometric mean of B/A tokens/s: %.3f\n", common, common == 1 ? "" : "s",
                exp(log_sum / common));
    }
    if (!rc && plot_dir) {
        out_file dat, meta;
        memset(&meta, 0, sizeof meta);
        rc = out_open(&dat, plot_dir, "compare.dat", st);
        if (!rc) rc = out_open(&meta, plot_dir, "compare-meta.gp", st);
        if (!rc) {
            fputs("# gpt2-bench report --compare: blocks of A's series, then B's: B tok_s tok_s_min tok_s_max "
                  "predicted_tok_s\n",
                  dat.f);
            const report_data *ds[2] = {&a, &b};
            int block = 0, nctx = 0, ctxs[64];
            for (int w = 0; w < 2; w++)
                for (int si = 0; si < ds[w]->ns; si++) {
                    int c = series_pt(ds[w], si, 0)->context, seen = 0;
                    for (int k = 0; k < nctx; k++) seen |= ctxs[k] == c;
                    if (!seen && nctx < 64) ctxs[nctx++] = c;
                }
            char buf[512];
            for (int w = 0; w < 2; w++)
                for (int si = 0; si < ds[w]->ns; si++, block++) {
                    if (block) fputs("\n\n", dat.f);
                    for (int k = 0; k < ds[w]->s[si].n; k++) {
                        const result_point *p = series_pt(ds[w], si, k);
                        fprintf(dat.f, "%d %.6g %.6g %.6g %.6g\n", p->batch, p->tok_s, p->tok_s_min, p->tok_s_max,
                                p->predicted_tok_s);
                    }
                    series_title(ds[w], si, buf, sizeof buf);
                    fprintf(meta.f, "block_title_%d = ", block + 1), gp_str(meta.f, buf), fputc('\n', meta.f);
                    fprintf(meta.f, "block_side_%d = %d\n", block + 1, w);
                    /* the same colour for the same context on both sides: its rank among all contexts */
                    int ctx = series_pt(ds[w], si, 0)->context, color = 1;
                    for (int c = 0; c < nctx; c++) color += ctxs[c] < ctx;
                    fprintf(meta.f, "block_color_%d = %d\n", block + 1, color);
                }
            fprintf(meta.f, "n_blocks = %d\n", block);
            double blo = 1e30, bhi = 0, tlo = 1e30, thi = 0;
            int bt[64], nbt = 0;
            for (int w = 0; w < 2; w++)
                for (int i = 0; i < ds[w]->rs.n; i++) {
                    const result_point *p = &ds[w]->rs.p[i];
                    blo = fmin(blo, p->batch), bhi = fmax(bhi, p->batch);
                    tlo = fmin(tlo, p->tok_s_min), thi = fmax(thi, p->tok_s_max);
                    int seen = 0;
                    for (int k = 0; k < nbt; k++) seen |= bt[k] == p->batch;
                    if (!seen && nbt < 64) bt[nbt++] = p->batch;
                }
            fprintf(meta.f, "b_lo = %.6g\nb_hi = %.6g\ntok_lo = %.6g\ntok_hi = %.6g\nb_tics = \"(", blo / 1.5, bhi * 1.5,
                    tlo / 1.5, thi * 1.5);
            for (int k = 0; k < nbt; k++) fprintf(meta.f, "%s%d", k ? ", " : "", bt[k]);
            fputs(")\"\n", meta.f);
            fputs("label_a = ", meta.f), gp_str(meta.f, la), fputc('\n', meta.f);
            fputs("label_b = ", meta.f), gp_str(meta.f, lb), fputc('\n', meta.f);
            fprintf(meta.f, "geomean = %.6g\ncommon = %d\n", exp(log_sum / common), common);
        }
        rc = out_close(&dat, rc, st);
        rc = out_close(&meta, rc, st);
    }
    data_free(&a);
    data_free(&b);
    return rc;
}

static int mode_report(const char *dir, FILE *out, status_t *st) {
    char *warn_text = NULL;
    size_t warn_len = 0;
    FILE *warn = open_memstream(&warn_text, &warn_len);
    if (!warn) return status_fail(st, ST_RUNTIME, "out of memory");
    report_data d;
    int rc = load_dir(&d, dir, warn, st);
    result_skip *sk = NULL;
    int nsk = 0;
    char path[PATH_LEN];
    if (!rc) rc = join(path, dir, "skipped.tsv", st);
    if (!rc) rc = results_read_skipped(path, &sk, &nsk, warn, st);
    fclose(warn);
    if (warn_text && *warn_text) fputs(warn_text, stderr);
    if (!rc) rc = write_plot_data(&d, st);
    if (!rc) rc = write_calibrated_plot(&d, st);
    if (!rc) rc = write_csv(&d, st);
    if (!rc) rc = write_summary(&d, sk, nsk, warn_text, st);
    if (!rc)
        fprintf(out, "report: %d point%s; wrote %s/summary.md, %s/decode.csv and %s/plot/*.dat\n", d.rs.n,
                d.rs.n == 1 ? "" : "s", dir, dir, dir);
    free(warn_text);
    free(sk);
    data_free(&d);
    return rc;
}

int cmd_report(int argc, char **argv, FILE *out, status_t *st) {
    cli_flag fl[] = {{"--dir", 1, 0},     {"--points", 0, 0},   {"--machine-threads", 0, 0}, {"--describe", 1, 0},
                     {"--compare", 1, 0}, {"--plot-dir", 1, 0}, {"--help", 0, 0}, {"--point-passes", 0, 0}};
    const int nf = sizeof fl / sizeof fl[0];
    int rc = cli_parse(argc, argv, 1, fl, nf, "report", st);
    if (rc) return rc;
    if (cli_get(fl, nf, "--help")) {
        fputs(USAGE, out);
        return ST_OK;
    }
    const char *dir = cli_get(fl, nf, "--dir"), *describe = cli_get(fl, nf, "--describe");
    const char *compare = cli_get(fl, nf, "--compare"), *plot_dir = cli_get(fl, nf, "--plot-dir");
    int points = cli_get(fl, nf, "--points") != NULL, mthreads = cli_get(fl, nf, "--machine-threads") != NULL;
    const int ppasses = cli_get(fl, nf, "--point-passes") != NULL;
    if (describe) {
        if (dir || points || ppasses || mthreads || compare)
            return status_fail(st, ST_BAD_INPUT, "report: --describe FILE goes alone (see gpt2-bench report --help)");
        return mode_describe(describe, out, st);
    }
    if (!dir || !*dir)
        return status_fail(st, ST_BAD_INPUT, "report: --dir DIR is required: the folder of a sweep (see --help)");
    if (points + ppasses + mthreads + (compare != NULL) > 1)
        return status_fail(st, ST_BAD_INPUT, "report: give one of --points, --point-passes, --machine-threads, --compare");
    if (plot_dir && !compare)
        return status_fail(st, ST_BAD_INPUT, "report: --plot-dir goes with --compare DIR2");
    if (points || ppasses) return mode_points(dir, ppasses, out, st);
    if (mthreads) return mode_machine_threads(dir, out, st);
    if (compare) return mode_compare(dir, compare, plot_dir, out, st);
    return mode_report(dir, out, st);
}
