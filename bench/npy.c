#include "npy.h"

#include "outfile.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int npy_write_f32(const char *path, const float *data, int ndim, const int64_t *shape, status_t *st) {
    char hdr[256], dims[160] = "";
    uint64_t n = 1;
    for (int i = 0; i < ndim; i++) {
        size_t l = strlen(dims);
        snprintf(dims + l, sizeof dims - l, "%lld%s", (long long)shape[i], ndim == 1 ? "," : i + 1 < ndim ? ", " : "");
        n *= (uint64_t)shape[i];
    }
    int len = snprintf(hdr, sizeof hdr, "{'descr': '<f4', 'fortran_order': False, 'shape': (%s), }", dims);
    int total = 10 + len + 1;
    int pad = (64 - total % 64) % 64;
    outfile o;
    int rc = outfile_open(&o, path, st);
    if (rc) return rc;
    uint16_t hlen = (uint16_t)(len + pad + 1);
    unsigned char magic[10] = {0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0, (unsigned char)(hlen & 0xff),
                               (unsigned char)(hlen >> 8)};
    FILE *f = o.f;
    int ok = fwrite(magic, 1, 10, f) == 10 && fwrite(hdr, 1, (size_t)len, f) == (size_t)len;
    for (int i = 0; ok && i < pad; i++) ok = fputc(' ', f) != EOF;
    ok = ok && fputc('\n', f) != EOF && fwrite(data, sizeof(float), n, f) == n;
    if (!ok) o.err = errno;
    return outfile_commit(&o, st);
}

int npy_read_f32(const char *path, float **data, int *ndim, int64_t *shape, status_t *st) {
    *data = NULL;
    FILE *f = fopen(path, "rb");
    if (!f) return status_fail(st, ST_BAD_INPUT, "%s: cannot open (%s)", path, strerror(errno));
    unsigned char magic[10];
    if (fread(magic, 1, 10, f) != 10 || memcmp(magic, "\x93NUMPY", 6) != 0 || magic[6] != 1) {
        fclose(f);
        return status_fail(st, ST_BAD_INPUT, "%s: not a version-1 .npy file", path);
    }
    size_t hlen = magic[8] | (size_t)magic[9] << 8;
    char hdr[65536];
    if (fread(hdr, 1, hlen, f) != hlen) {
        fclose(f);
        return status_fail(st, ST_BAD_INPUT, "%s: truncated .npy header", path);
    }
    hdr[hlen] = 0;
    if (!strstr(hdr, "'descr': '<f4'") || strstr(hdr, "'fortran_order': True")) {
        fclose(f);
        return status_fail(st, ST_BAD_INPUT, "%s: only C-order little-endian float32 .npy is read", path);
    }
    const char *p = strstr(hdr, "'shape': (");
    if (!p) { fclose(f); return status_fail(st, ST_BAD_INPUT, "%s: .npy header has no shape", path); }
    p += 10;
    *ndim = 0;
    uint64_t n = 1;
    while (*p && *p != ')' && *ndim < 8) {
        char *end;
        long long v = strtoll(p, &end, 10);
        if (end == p) break;
        if (v < 0 || (v > 0 && n > UINT64_MAX / sizeof(float) / (uint64_t)v)) {
            fclose(f);
            return status_fail(st, ST_BAD_INPUT, "%s: .npy shape entry %lld is not a size", path, v);
        }
        shape[(*ndim)++] = v;
        n *= (uint64_t)v;
        p = end;
        while (*p == ',' || *p == ' ') p++;
    }
    /* the data must be in the file before anything is allocated for it */
    long here = ftell(f);
    struct stat sb;
    if (here < 0 || fstat(fileno(f), &sb) != 0 || (uint64_t)(sb.st_size - here) / sizeof(float) < n) {
        fclose(f);
        return status_fail(st, ST_BAD_INPUT, "%s: truncated .npy data", path);
    }
    *data = malloc(n ? n * sizeof(float) : 1);
    if (!*data || fread(*data, sizeof(float), n, f) != n) {
        fclose(f);
        free(*data);
        *data = NULL;
        return status_fail(st, ST_BAD_INPUT, "%s: truncated .npy data", path);
    }
    fclose(f);
    return ST_OK;
}
