/* wt_io: option parsing, the output folder, atomic files and the
 * safetensors writer of gpt2-weights. */
#include <cjson/cJSON.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../bench/cli.h"
#include "weights_tool.h"

int wt_parse(int argc, char **argv, wt_flag *fl, int nf, const char **pos, int max_pos, int *npos,
             const char *cmd, status_t *st) {
    for (int i = 0; i < nf; i++) fl[i].value = NULL;
    *npos = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strncmp(a, "--", 2) != 0 || strcmp(a, "-") == 0) {
            if (*npos >= max_pos)
                return status_fail(st, ST_BAD_INPUT, "%s: unexpected argument '%s': see gpt2-weights %s --help", cmd,
                                   a, cmd);
            pos[(*npos)++] = a;
            continue;
        }
        const char *eq = strchr(a, '=');
        size_t len = eq ? (size_t)(eq - a) : strlen(a);
        int found = -1;
        for (int f = 0; f < nf; f++)
            if (strlen(fl[f].name) == len && strncmp(fl[f].name, a, len) == 0) found = f;
        if (found < 0) {
            char tmp[80];
            snprintf(tmp, sizeof tmp, "%.*s", (int)(len < 79 ? len : 79), a);
            int best = -1, bd = 1 << 20;
            for (int f = 0; f < nf; f++) {
                int d = cli_edit_distance(tmp, fl[f].name);
                if (d < bd) { bd = d; best = f; }
            }
            if (best >= 0 && bd <= 3)
                return status_fail(st, ST_BAD_INPUT, "%s: unknown option '%s': did you mean %s? (gpt2-weights %s --help)",
                                   cmd, tmp, fl[best].name, cmd);
            return status_fail(st, ST_BAD_INPUT, "%s: unknown option '%s': see gpt2-weights %s --help", cmd, tmp, cmd);
        }
        if (fl[found].takes_value) {
            if (eq) {
                fl[found].value = eq + 1;
            } else {
                if (i + 1 >= argc)
                    return status_fail(st, ST_BAD_INPUT, "%s: %s needs a value", cmd, fl[found].name);
                fl[found].value = argv[++i];
            }
        } else {
            if (eq) return status_fail(st, ST_BAD_INPUT, "%s: %s takes no value", cmd, fl[found].name);
            fl[found].value = "";
        }
    }
    return ST_OK;
}

const char *wt_get(const wt_flag *fl, int nf, const char *name) {
    for (int i = 0; i < nf; i++)
        if (strcmp(fl[i].name, name) == 0) return fl[i].value;
    return NULL;
}

int wt_prepare_out(const char *dir, int force, int *created, const char *cmd, status_t *st) {
    *created = 0;
    if (!dir || !*dir) return status_fail(st, ST_BAD_INPUT, "%s: --out DIR is required", cmd);
    struct stat sb;
    if (stat(dir, &sb) == 0) {
        if (!S_ISDIR(sb.st_mode))
            return status_fail(st, ST_BAD_INPUT, "%s: --out %s exists and is not a folder: give a new folder", cmd, dir);
        if (!force)
            return status_fail(st, ST_BAD_INPUT, "%s: --out %s already exists: give --force to overwrite its files, "
                               "or a new folder", cmd, dir);
        return ST_OK;
    }
    if (mkdir(dir, 0755) != 0)
        return status_fail(st, errno == ENOENT || errno == ENOTDIR ? ST_BAD_INPUT : ST_RUNTIME,
                           "%s: cannot create --out %s (%s): its parent folder must exist and be writable", cmd, dir,
                           strerror(errno));
    *created = 1;
    return ST_OK;
}

void wt_cleanup_out(const char *dir, int created) {
    if (created) rmdir(dir); /* only when empty */
}

int wt_file_open(wt_file *w, const char *dir, const char *name, status_t *st) {
    memset(w, 0, sizeof *w);
    snprintf(w->final, sizeof w->final, "%s/%s", dir, name);
    snprintf(w->tmp, sizeof w->tmp, "%s/.%s.tmp-XXXXXX", dir, name);
    int fd = mkstemp(w->tmp);
    if (fd < 0)
        return status_fail(st, ST_RUNTIME, "cannot create a file in %s (%s): check the folder is writable", dir,
                           strerror(errno));
    fchmod(fd, 0644);
    w->f = fdopen(fd, "wb");
    if (!w->f) {
        close(fd);
        unlink(w->tmp);
        return status_fail(st, ST_RUNTIME, "cannot open %s (%s)", w->tmp, strerror(errno));
    }
    return ST_OK;
}

int wt_file_write(wt_file *w, const void *p, size_t n, status_t *st) {
    if (n && fwrite(p, 1, n, w->f) != n)
        return status_fail(st, ST_RUNTIME, "writing %s failed (%s): check free disk space", w->final, strerror(errno));
    return ST_OK;
}

int wt_file_commit(wt_file *w, status_t *st) {
    int ok = fflush(w->f) == 0;
    int err = errno;
    if (ok && fsync(fileno(w->f)) != 0) { ok = 0; err = errno; }
    if (fclose(w->f) != 0 && ok) { ok = 0; err = errno; }
    w->f = NULL;
    if (!ok) {
        unlink(w->tmp);
        return status_fail(st, ST_RUNTIME, "writing %s failed (%s): check free disk space", w->final, strerror(err));
    }
    if (rename(w->tmp, w->final) != 0) {
        err = errno;
        unlink(w->tmp);
        return status_fail(st, ST_RUNTIME, "cannot rename %s to %s (%s)", w->tmp, w->final, strerror(err));
    }
    return ST_OK;
}

void wt_file_abort(wt_file *w) {
    if (w->f) fclose(w->f);
    w->f = NULL;
    if (w->tmp[0]) unlink(w->tmp);
}

int wt_write_text(const char *dir, const char *name, const char *text, status_t *st) {
    wt_file w;
    int rc = wt_file_open(&w, dir, name, st);
    if (rc) return rc;
    if ((rc = wt_file_write(&w, text, strlen(text), st))) {
        wt_file_abort(&w);
        return rc;
    }
    return wt_file_commit(&w, st);
}

int wt_write_safetensors(const char *dir, const wt_tensor *t, int n, const char *meta_key, const char *meta_val,
                         status_t *st) {
    /* order: element size descending, stable */
    int *ord = malloc((size_t)(n ? n : 1) * sizeof *ord);
    if (!ord) return status_fail(st, ST_RUNTIME, "out of memory");
    int k = 0;
    const size_t sizes[] = {8, 4, 2, 1};
    for (int s = 0; s < 4; s++)
        for (int i = 0; i < n; i++) {
            size_t e = t[i].esize;
            int cls = e >= 8 ? 0 : e >= 4 ? 1 : e >= 2 ? 2 : 3;
            if (sizes[cls] == sizes[s]) ord[k++] = i;
        }
    cJSON *root = cJSON_CreateObject();
    cJSON *meta = cJSON_AddObjectToObject(root, "__metadata__");
    cJSON_AddStringToObject(meta, "format", "pt");
    if (meta_key) cJSON_AddStringToObject(meta, meta_key, meta_val);
    uint64_t off = 0;
    for (int j = 0; j < n; j++) {
        const wt_tensor *x = &t[ord[j]];
        cJSON *e = cJSON_AddObjectToObject(root, x->name);
        cJSON_AddStringToObject(e, "dtype", x->dtype);
        cJSON *sh = cJSON_AddArrayToObject(e, "shape");
        for (int d = 0; d < x->ndim; d++) cJSON_AddItemToArray(sh, cJSON_CreateNumber((double)x->shape[d]));
        cJSON *o = cJSON_AddArrayToObject(e, "data_offsets");
        cJSON_AddItemToArray(o, cJSON_CreateNumber((double)off));
        cJSON_AddItemToArray(o, cJSON_CreateNumber((double)(off + x->nbytes)));
        off += x->nbytes;
    }
    char *json = cJSON_PrintUnformatted(root);
    cJSON_Delete(root);
    if (!json) {
        free(ord);
        return status_fail(st, ST_RUNTIME, "out of memory");
    }
    size_t hlen = strlen(json), padded = (hlen + 7) / 8 * 8;
    unsigned char le[8];
    for (int i = 0; i < 8; i++) le[i] = (unsigned char)((uint64_t)padded >> (8 * i));
    wt_file w;
    int rc = wt_file_open(&w, dir, "model.safetensors", st);
    if (!rc) rc = wt_file_write(&w, le, 8, st);
    if (!rc) rc = wt_file_write(&w, json, hlen, st);
    for (size_t i = hlen; i < padded && !rc; i++) rc = wt_file_write(&w, " ", 1, st);
    for (int j = 0; j < n && !rc; j++) rc = wt_file_write(&w, t[ord[j]].data, (size_t)t[ord[j]].nbytes, st);
    free(json);
    free(ord);
    if (rc) {
        wt_file_abort(&w);
        return rc;
    }
    return wt_file_commit(&w, st);
}
