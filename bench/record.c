#include "record.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

void record_compute(const record_input *in, record_figures *f) {
    memset(f, 0, sizeof *f);
    const decode_result *r = in->res;
    const gpt2_config *c = &in->model->cfg;
    const int B = r->req.batch, S = r->req.context;
    const record_machine *mc = in->machine;
    roofline_decode_cost(c, B, S, in->q_bytes, in->qkv_bytes, &f->cost);
    roof_ceilings roof = {mc->read_gbs, mc->peak_gflops};
    roofline_predict(&f->cost, B, &roof, &f->pred);
    f->step_s = r->ns.median * 1e-9;
    f->tok_s = B / f->step_s;
    f->tok_s_min = B / (r->ns.max * 1e-9);
    f->tok_s_max = B / (r->ns.min * 1e-9);
    f->achieved_gbs = f->cost.total_bytes / f->step_s / 1e9;
    f->achieved_gflops = f->cost.total_flops / f->step_s / 1e9;
    f->mbu = f->achieved_gbs / mc->read_gbs;
    f->mfu = f->achieved_gflops / mc->peak_gflops;
    f->efficiency = f->tok_s / f->pred.tok_s;
    f->llc_resident = mc->llc_bytes > 0 && (f->cost.weights_bytes + f->cost.kv_read_bytes) <= mc->llc_bytes;
    double prof_total = 0;
    for (int op = 0; op < OP_COUNT; op++) prof_total += r->prof.ns[op];
    for (int op = 0; op < OP_COUNT; op++) {
        f->op_frac[op] = prof_total > 0 ? r->prof.ns[op] / prof_total : 0;
        f->op_ns[op] = f->op_frac[op] * r->ns.median; /* scaled to the median step */
        roofline_decode_op_cost(c, B, S, in->q_bytes, in->qkv_bytes, (gpt2_op)op, &f->op_bytes[op], &f->op_flops[op]);
        double tm = f->op_bytes[op] / (mc->read_gbs * 1e9), tc = f->op_flops[op] / (mc->peak_gflops * 1e9);
        f->serial_step_s += tm > tc ? tm : tc;
    }
    const record_probe *pr = in->probe;
    if (pr && pr->before_gbs > 0 && pr->after_gbs > 0) {
        f->probe_ok = 1;
        f->probe_gbs = (pr->before_gbs + pr->after_gbs) / 2;
        f->probe_gflops = pr->before_gflops > 0 && pr->after_gflops > 0 ? (pr->before_gflops + pr->after_gflops) / 2
                                                                         : mc->peak_gflops;
        roof_ceilings now = {f->probe_gbs, f->probe_gflops};
        roofline_predict(&f->cost, B, &now, &f->probe_pred);
        f->efficiency_probe = f->tok_s / f->probe_pred.tok_s;
    }
    if (in->calib && calib_predict(in->calib, c, B, S, in->q_bytes, in->qkv_bytes, &f->cal) == 0 && f->cal.tok_s > 0) {
        f->cal_ok = 1;
        for (int op = 0; op < OP_COUNT; op++) f->cal_op_ns[op] = calib_op_share_ns(&f->cal, op);
        f->prediction_error = f->tok_s / f->cal.tok_s - 1;
    }
}

static cJSON *num_array(const double *x, int n) {
    cJSON *a = cJSON_CreateArray();
    for (int i = 0; i < n; i++) cJSON_AddItemToArray(a, cJSON_CreateNumber(x[i]));
    return a;
}

static cJSON *int_matrix(const int *x, int rows, int cols) {
    cJSON *a = cJSON_CreateArray();
    for (int i = 0; i < rows; i++) cJSON_AddItemToArray(a, cJSON_CreateIntArray(x + (size_t)i * cols, cols));
    return a;
}

cJSON *record_json(const record_input *in, const record_figures *f) {
    const decode_result *r = in->res;
    const record_machine *mc = in->machine;
    const gpt2_config *c = &in->model->cfg;
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "schema_version", RECORD_SCHEMA_VERSION);
    cJSON_AddStringToObject(o, "kind", "decode");
    cJSON_AddStringToObject(o, "model", c->name);
    cJSON_AddStringToObject(o, "weights_source", in->model->source);
    cJSON_AddStringToObject(o, "dtype", in->dtype);
    cJSON_AddStringToObject(o, "kv_dtype", in->kv_dtype);
    cJSON_AddNumberToObject(o, "threads", in->threads);
    cJSON_AddStringToObject(o, "pinning", in->pinning ? in->pinning : "none");
    cJSON_AddStringToObject(o, "kernel", in->kernel ? in->kernel : "unknown");
    cJSON_AddNumberToObject(o, "packed_max_rows", in->model->packed ? in->model->packed_max_rows : 0);
    cJSON_AddNumberToObject(o, "pass", in->pass > 1 ? in->pass : 1);
    cJSON_AddNumberToObject(o, "batch", r->req.batch);
    cJSON_AddNumberToObject(o, "context", r->req.context);
    cJSON_AddNumberToObject(o, "steps", r->req.steps);
    cJSON_AddNumberToObject(o, "reps", r->reps_done);
    cJSON_AddNumberToObject(o, "warmup", r->req.warmup);
    cJSON_AddStringToObject(o, "prefill", r->req.real_prefill ? "real" : "synthetic");
    cJSON_AddBoolToObject(o, "interrupted", r->reps_done < r->req.reps);
    cJSON_AddItemToObject(o, "samples_ns", num_array(r->samples_ns, r->reps_done));
    cJSON_AddNumberToObject(o, "step_ns_median", r->ns.median);
    cJSON_AddNumberToObject(o, "step_ns_mean", r->ns.mean);
    cJSON_AddNumberToObject(o, "step_ns_min", r->ns.min);
    cJSON_AddNumberToObject(o, "step_ns_max", r->ns.max);
    cJSON_AddNumberToObject(o, "step_ns_stddev", r->ns.stddev);
    cJSON_AddNumberToObject(o, "cv", r->ns.cv);
    if (r->steal_fraction >= 0)
        cJSON_AddNumberToObject(o, "steal_fraction", r->steal_fraction);
    else
        cJSON_AddNullToObject(o, "steal_fraction");
    cJSON_AddNumberToObject(o, "tok_s", f->tok_s);
    cJSON_AddNumberToObject(o, "tok_s_min", f->tok_s_min);
    cJSON_AddNumberToObject(o, "tok_s_max", f->tok_s_max);
    cJSON_AddNumberToObject(o, "bytes_per_step", f->cost.total_bytes);
    cJSON *bs = cJSON_AddObjectToObject(o, "bytes_per_step_split");
    cJSON_AddNumberToObject(bs, "weights", f->cost.weights_bytes);
    cJSON_AddNumberToObject(bs, "kv_read", f->cost.kv_read_bytes);
    cJSON_AddNumberToObject(bs, "kv_write", f->cost.kv_write_bytes);
    cJSON_AddNumberToObject(bs, "activations", f->cost.act_bytes);
    cJSON_AddNumberToObject(o, "flops_per_step", f->cost.total_flops);
    cJSON *fs = cJSON_AddObjectToObject(o, "flops_per_step_split");
    cJSON_AddNumberToObject(fs, "dense", f->cost.dense_flops);
    cJSON_AddNumberToObject(fs, "attention", f->cost.attention_flops);
    cJSON_AddNumberToObject(fs, "lm_head", f->cost.lm_head_flops);
    cJSON_AddNumberToObject(fs, "other", f->cost.other_flops);
    cJSON_AddNumberToObject(o, "achieved_gbs", f->achieved_gbs);
    cJSON_AddNumberToObject(o, "achieved_gflops", f->achieved_gflops);
    cJSON_AddNumberToObject(o, "mbu", f->mbu);
    cJSON_AddNumberToObject(o, "mfu", f->mfu);
    cJSON_AddNumberToObject(o, "intensity", f->pred.intensity);
    cJSON_AddNumberToObject(o, "ridge", f->pred.ridge);
    cJSON_AddNumberToObject(o, "predicted_tok_s", f->pred.tok_s);
    cJSON_AddNumberToObject(o, "predicted_step_s", f->pred.t_s);
    cJSON_AddNumberToObject(o, "predicted_memory_s", f->pred.t_memory_s);
    cJSON_AddNumberToObject(o, "predicted_compute_s", f->pred.t_compute_s);
    cJSON_AddStringToObject(o, "bound", f->pred.compute_bound ? "compute" : "memory");
    cJSON_AddNumberToObject(o, "efficiency", f->efficiency);
    cJSON_AddNumberToObject(o, "predicted_serial_step_s", f->serial_step_s);
    cJSON_AddNumberToObject(o, "efficiency_serial", f->serial_step_s / f->step_s);
    cJSON_AddBoolToObject(o, "llc_resident", f->llc_resident);
    if (f->cal_ok) {
        const calibration *cal = in->calib;
        cJSON_AddNumberToObject(o, "predicted_calibrated_tok_s", f->cal.tok_s);
        cJSON_AddNumberToObject(o, "predicted_calibrated_step_s", f->cal.step_ns * 1e-9);
        cJSON_AddNumberToObject(o, "predicted_calibrated_overhead_ns", f->cal.overhead_ns);
        cJSON_AddNumberToObject(o, "prediction_error", f->prediction_error);
        cJSON *cj = cJSON_AddObjectToObject(o, "calibration");
        cJSON_AddStringToObject(cj, "file", cal->path);
        cJSON_AddStringToObject(cj, "host", cal->host);
        cJSON_AddStringToObject(cj, "model", cal->model);
        cJSON_AddStringToObject(cj, "dtype", cal->dtype);
        cJSON_AddStringToObject(cj, "kv_dtype", cal->kv_dtype);
        cJSON_AddNumberToObject(cj, "threads", cal->threads);
        cJSON_AddStringToObject(cj, "date", cal->date);
        cJSON_AddBoolToObject(cj, "quick", cal->quick);
        cJSON_AddBoolToObject(cj, "shapes_interpolated", f->cal.shapes_interpolated);
        cJSON_AddBoolToObject(cj, "dtype_scaled", f->cal.dtype_scaled);
        cJSON_AddNumberToObject(cj, "probe_read_gbs", cal->probe_read_gbs);
        cJSON_AddNumberToObject(cj, "probe_peak_gflops", cal->probe_peak_gflops);
    }
    if (f->probe_ok) {
        cJSON *pj = cJSON_AddObjectToObject(o, "probe");
        cJSON_AddNumberToObject(pj, "read_gbs_before", in->probe->before_gbs);
        cJSON_AddNumberToObject(pj, "read_gbs_after", in->probe->after_gbs);
        cJSON_AddNumberToObject(pj, "read_gbs", f->probe_gbs);
        cJSON_AddNumberToObject(pj, "bytes", in->probe->bytes);
        if (in->probe->before_gflops > 0 && in->probe->after_gflops > 0) {
            cJSON_AddNumberToObject(pj, "peak_gflops_before", in->probe->before_gflops);
            cJSON_AddNumberToObject(pj, "peak_gflops_after", in->probe->after_gflops);
        }
        cJSON_AddNumberToObject(pj, "peak_gflops", f->probe_gflops);
        cJSON_AddNumberToObject(pj, "predicted_tok_s", f->probe_pred.tok_s);
        cJSON_AddStringToObject(pj, "bound", f->probe_pred.compute_bound ? "compute" : "memory");
        cJSON_AddNumberToObject(o, "efficiency_probe", f->efficiency_probe);
    }
    cJSON_AddNumberToObject(o, "cache_fill_s", r->fill_s);
    cJSON_AddNumberToObject(o, "pack_s", in->model->pack_s);
    cJSON *ops = cJSON_AddArrayToObject(o, "operators");
    for (int op = 0; op < OP_COUNT; op++) {
        cJSON *e = cJSON_CreateObject();
        double t_s = f->op_ns[op] * 1e-9;
        cJSON_AddStringToObject(e, "name", GPT2_OP_NAMES[op]);
        cJSON_AddNumberToObject(e, "time_frac", f->op_frac[op]);
        cJSON_AddNumberToObject(e, "time_ns", f->op_ns[op]);
        cJSON_AddNumberToObject(e, "bytes", f->op_bytes[op]);
        cJSON_AddNumberToObject(e, "flops", f->op_flops[op]);
        cJSON_AddNumberToObject(e, "achieved_gbs", t_s > 0 ? f->op_bytes[op] / t_s / 1e9 : 0);
        cJSON_AddNumberToObject(e, "achieved_gflops", t_s > 0 ? f->op_flops[op] / t_s / 1e9 : 0);
        double tm = f->op_bytes[op] / (mc->read_gbs * 1e9), tc = f->op_flops[op] / (mc->peak_gflops * 1e9);
        cJSON_AddStringToObject(e, "bound", tc > tm ? "compute" : "memory");
        cJSON_AddNumberToObject(e, "predicted_ns", (tc > tm ? tc : tm) * 1e9);
        if (f->cal_ok) cJSON_AddNumberToObject(e, "predicted_calibrated_ns", f->cal_op_ns[op]);
        cJSON_AddItemToArray(ops, e);
    }
    if (in->context) cJSON_AddItemToObject(o, "system", cJSON_Duplicate(in->context, 1));
    cJSON *m = cJSON_AddObjectToObject(o, "machine");
    cJSON_AddStringToObject(m, "file", mc->source);
    cJSON_AddNumberToObject(m, "read_gbs", mc->read_gbs);
    cJSON_AddNumberToObject(m, "copy_gbs", mc->copy_gbs);
    cJSON_AddNumberToObject(m, "triad_gbs", mc->triad_gbs);
    cJSON_AddNumberToObject(m, "peak_gflops", mc->peak_gflops);
    cJSON_AddNumberToObject(m, "sgemm_gflops", mc->sgemm_gflops);
    cJSON_AddNumberToObject(m, "spec_gflops", mc->spec_gflops);
    cJSON_AddNumberToObject(m, "llc_bytes", mc->llc_bytes);
    if (r->prompt_tokens && (size_t)r->req.batch * r->req.context <= 65536)
        cJSON_AddItemToObject(o, "prompt_tokens", int_matrix(r->prompt_tokens, r->req.batch, r->req.context));
    if ((size_t)r->req.batch * r->req.steps <= 65536) {
        cJSON_AddItemToObject(o, "input_tokens", int_matrix(r->input_tokens, r->req.batch, r->req.steps));
        cJSON_AddItemToObject(o, "output_tokens", int_matrix(r->output_tokens, r->req.batch, r->req.steps));
    }
    return o;
}

void record_table_header(FILE *out) {
    fprintf(out, "%5s %5s %9s %6s %8s %7s %8s %5s %5s %9s %8s %5s\n", "B", "S", "tok/s", "cv", "ms/step", "GB/s",
            "GFLOP/s", "MBU", "MFU", "pred tok/s", "bound", "eff");
}

void record_table_row(FILE *out, const record_input *in, const record_figures *f) {
    const decode_result *r = in->res;
    fprintf(out, "%5d %5d %9.1f %6.3f %8.3f %7.1f %8.1f %5.2f %5.2f %9.1f %8s %5.2f%s\n", r->req.batch,
            r->req.context, f->tok_s, r->ns.cv, f->step_s * 1e3, f->achieved_gbs, f->achieved_gflops, f->mbu, f->mfu,
            f->pred.tok_s, f->pred.compute_bound ? "compute" : "memory", f->efficiency,
            f->llc_resident ? "  (fits in LLC)" : "");
    if (f->probe_ok) {
        fprintf(out, "            this minute (probe): read %.1f GB/s before, %.1f after (machine file %.1f)",
                in->probe->before_gbs, in->probe->after_gbs, in->machine->read_gbs);
        if (in->probe->before_gflops > 0 && in->probe->after_gflops > 0)
            fprintf(out, "; FMA %.0f GFLOP/s before, %.0f after (machine file %.0f)", in->probe->before_gflops,
                    in->probe->after_gflops, in->machine->peak_gflops);
        fprintf(out, ": roofline at them %.1f tok/s, efficiency %.2f\n", f->probe_pred.tok_s, f->efficiency_probe);
    }
    if (f->cal_ok) {
        fprintf(out, "            calibrated prediction %.1f tok/s (%.3f ms/step); measured / calibrated - 1 = %+.1f%%",
                f->cal.tok_s, f->cal.step_ns * 1e-6, 100 * f->prediction_error);
        if (f->probe_ok && in->calib->probe_read_gbs > 0) {
            fprintf(out, " (calibrated at %.1f GB/s of probed read bandwidth", in->calib->probe_read_gbs);
            if (in->calib->probe_peak_gflops > 0)
                fprintf(out, ", %.0f GFLOP/s of probed FMA rate", in->calib->probe_peak_gflops);
            fputc(')', out);
        }
        fputc('\n', out);
    }
}

void record_table_operators(FILE *out, const record_input *in, const record_figures *f) {
    const record_machine *mc = in->machine;
    fprintf(out, "      %-10s %7s %6s %9s %9s %8s %9s %8s%s\n", "operator", "ms", "share", "MB", "MFLOP", "GB/s",
            "GFLOP/s", "roof eff", f->cal_ok ? "   cal ms" : "");
    for (int op = 0; op < OP_COUNT; op++) {
        double t_s = f->op_ns[op] * 1e-9;
        double tm = f->op_bytes[op] / (mc->read_gbs * 1e9), tc = f->op_flops[op] / (mc->peak_gflops * 1e9);
        double roof_s = tc > tm ? tc : tm;
        if (f->op_bytes[op] <= 0 && f->op_flops[op] <= 0) /* outside the analytic model (argmax): no roof */
            fprintf(out, "      %-10s %7.3f %5.1f%% %9s %9s %8s %9s %8s", GPT2_OP_NAMES[op], t_s * 1e3,
                    100 * f->op_frac[op], "-", "-", "-", "-", "-");
        else
            fprintf(out, "      %-10s %7.3f %5.1f%% %9.2f %9.1f %8.1f %9.1f %8.2f", GPT2_OP_NAMES[op], t_s * 1e3,
                    100 * f->op_frac[op], f->op_bytes[op] / 1e6, f->op_flops[op] / 1e6,
                    t_s > 0 ? f->op_bytes[op] / t_s / 1e9 : 0, t_s > 0 ? f->op_flops[op] / t_s / 1e9 : 0,
                    t_s > 0 ? roof_s / t_s : 0);
        if (f->cal_ok) fprintf(out, " %8.3f", f->cal_op_ns[op] * 1e-6);
        fputc('\n', out);
    }
}

const char *record_csv_header(void) {
    return "model,dtype,kv_dtype,threads,batch,context,steps,reps,step_ns_median,tok_s,tok_s_min,tok_s_max,cv,"
           "bytes_per_step,flops_per_step,achieved_gbs,achieved_gflops,mbu,mfu,predicted_tok_s,bound,efficiency,"
           "llc_resident";
}

void record_csv_row(FILE *out, const record_input *in, const record_figures *f) {
    const decode_result *r = in->res;
    fprintf(out, "%s,%s,%s,%d,%d,%d,%d,%d,%.0f,%.4f,%.4f,%.4f,%.5f,%.0f,%.0f,%.4f,%.4f,%.5f,%.5f,%.4f,%s,%.5f,%d\n",
            in->model->cfg.name, in->dtype, in->kv_dtype, in->threads, r->req.batch, r->req.context, r->req.steps,
            r->reps_done, r->ns.median, f->tok_s, f->tok_s_min, f->tok_s_max, r->ns.cv, f->cost.total_bytes,
            f->cost.total_flops, f->achieved_gbs, f->achieved_gflops, f->mbu, f->mfu, f->pred.tok_s,
            f->pred.compute_bound ? "compute" : "memory", f->efficiency, f->llc_resident);
}

int record_append_line(const char *path, const char *line, status_t *st) {
    int fd = open(path, O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (fd < 0)
        return status_fail(st, ST_BAD_INPUT, "%s: cannot open for appending (%s): choose a writable path", path,
                           strerror(errno));
    /* a regular file that is empty now: it is removed again if this first line fails */
    struct stat sb;
    int fresh = fstat(fd, &sb) == 0 && S_ISREG(sb.st_mode) && sb.st_size == 0;
    size_t n = strlen(line);
    char *buf = malloc(n + 1);
    if (!buf) { close(fd); return status_fail(st, ST_RUNTIME, "out of memory"); }
    memcpy(buf, line, n);
    buf[n] = '\n';
    ssize_t w = write(fd, buf, n + 1);
    int e = errno;
    free(buf);
    if (w != (ssize_t)(n + 1)) {
        /* never leave half a line: cut back what was written */
        if (w > 0 && fstat(fd, &sb) == 0 && S_ISREG(sb.st_mode) && ftruncate(fd, sb.st_size - w) != 0) {
            /* best effort */
        }
        close(fd);
        if (fresh) unlink(path);
        return status_fail(st, ST_RUNTIME, "%s: appending failed (%s): check the free space; no partial line was left",
                           path, w < 0 ? strerror(e) : "short write");
    }
    /* a device (/dev/stdout, a pipe) cannot be synced: only a file's fsync failure counts */
    int sync_bad = fsync(fd) != 0 && errno != EINVAL && errno != EROFS;
    e = errno;
    if (close(fd) != 0 && !sync_bad) {
        sync_bad = 1;
        e = errno;
    }
    if (sync_bad) return status_fail(st, ST_RUNTIME, "%s: write failed (%s): check the disk", path, strerror(e));
    return ST_OK;
}
