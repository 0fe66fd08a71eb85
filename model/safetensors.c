#include "safetensors.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define ST_MAX_HEADER_BYTES (100u << 20) /* the format's own limit */

size_t st_dtype_size(st_dtype dt) {
    switch (dt) {
    case ST_DT_F32: return 4;
    case ST_DT_F16:
    case ST_DT_BF16: return 2;
    case ST_DT_I8: return 1;
    default: return 0;
    }
}

const char *st_dtype_name(st_dtype dt) {
    switch (dt) {
    case ST_DT_F32: return "F32";
    case ST_DT_F16: return "F16";
    case ST_DT_BF16: return "BF16";
    case ST_DT_I8: return "I8";
    default: return "other";
    }
}

static st_dtype parse_dtype(const char *s) {
    if (strcmp(s, "F32") == 0) return ST_DT_F32;
    if (strcmp(s, "F16") == 0) return ST_DT_F16;
    if (strcmp(s, "BF16") == 0) return ST_DT_BF16;
    if (strcmp(s, "I8") == 0) return ST_DT_I8;
    return ST_DT_OTHER;
}

/* Size in bytes of other dtypes, so their offsets can still be checked. */
static size_t other_dtype_size(const char *s) {
    static const struct { const char *n; size_t b; } T[] = {
        {"F64", 8}, {"I64", 8}, {"U64", 8}, {"I32", 4}, {"U32", 4}, {"I16", 2},
        {"U16", 2}, {"U8", 1},  {"BOOL", 1}, {"F8_E4M3", 1}, {"F8_E5M2", 1}};
    for (size_t i = 0; i < sizeof T / sizeof T[0]; i++)
        if (strcmp(s, T[i].n) == 0) return T[i].b;
    return 0;
}

uint64_t st_numel(const st_tensor *t) {
    uint64_t n = 1;
    for (int i = 0; i < t->ndim; i++) n *= (uint64_t)t->shape[i];
    return n;
}

static int cmp_begin(const void *a, const void *b) {
    const st_tensor *x = *(const st_tensor *const *)a, *y = *(const st_tensor *const *)b;
    return x->begin < y->begin ? -1 : x->begin > y->begin ? 1 : 0;
}

static int fail_close(st_file *f, int rc) {
    st_close(f);
    return rc;
}

/* Reads one tensor entry of the header into t. */
static int parse_entry(st_file *f, const cJSON *e, st_tensor *t, status_t *st) {
    const char *p = f->path;
    const char *name = e->string;
    if (!cJSON_IsObject(e))
        return status_fail(st, ST_BAD_INPUT, "%s: tensor %s: header entry is not an object", p, name);
    t->name = strdup(name);
    if (!t->name) return status_fail(st, ST_RUNTIME, "out of memory");
    const cJSON *dt = cJSON_GetObjectItemCaseSensitive(e, "dtype");
    const cJSON *shape = cJSON_GetObjectItemCaseSensitive(e, "shape");
    const cJSON *off = cJSON_GetObjectItemCaseSensitive(e, "data_offsets");
    if (!cJSON_IsString(dt) || !cJSON_IsArray(shape) || !cJSON_IsArray(off) || cJSON_GetArraySize(off) != 2)
        return status_fail(st, ST_BAD_INPUT,
                           "%s: tensor %s: header entry needs dtype, shape and data_offsets [begin, end]", p,
                           name);
    snprintf(t->dtype_str, sizeof t->dtype_str, "%s", dt->valuestring);
    t->dtype = parse_dtype(dt->valuestring);
    size_t esize = t->dtype == ST_DT_OTHER ? other_dtype_size(dt->valuestring) : st_dtype_size(t->dtype);
    if (esize == 0)
        return status_fail(st, ST_BAD_INPUT, "%s: tensor %s: unknown dtype \"%s\": F32, F16 or BF16 expected",
                           p, name, t->dtype_str);
    int nd = cJSON_GetArraySize(shape);
    if (nd > ST_MAX_DIMS)
        return status_fail(st, ST_BAD_INPUT, "%s: tensor %s: %d dimensions (at most %d)", p, name, nd,
                           ST_MAX_DIMS);
    t->ndim = nd;
    unsigned __int128 numel = 1;
    for (int i = 0; i < nd; i++) {
        const cJSON *s = cJSON_GetArrayItem(shape, i);
        if (!cJSON_IsNumber(s) || s->valuedouble < 0 || s->valuedouble > 9.0e15 ||
            s->valuedouble != floor(s->valuedouble))
            return status_fail(st, ST_BAD_INPUT, "%s: tensor %s: shape entry %d is not a size", p, name, i);
        t->shape[i] = (int64_t)s->valuedouble;
        numel *= (uint64_t)t->shape[i];
        if (numel > ((unsigned __int128)1 << 62))
            return status_fail(st, ST_BAD_INPUT, "%s: tensor %s: shape overflows 64 bits: the header is damaged", p, name);
    }
    /* the bytes too: 2^62 F32 elements are 2^64 bytes */
    if (numel * esize > ((unsigned __int128)1 << 62))
        return status_fail(st, ST_BAD_INPUT, "%s: tensor %s: shape overflows 64 bits (of bytes): the header is damaged", p,
                           name);
    const cJSON *b = cJSON_GetArrayItem(off, 0), *en = cJSON_GetArrayItem(off, 1);
    if (!cJSON_IsNumber(b) || !cJSON_IsNumber(en) || b->valuedouble < 0 || en->valuedouble < b->valuedouble ||
        en->valuedouble > 9.0e15 || b->valuedouble != floor(b->valuedouble) ||
        en->valuedouble != floor(en->valuedouble))
        return status_fail(st, ST_BAD_INPUT,
                           "%s: tensor %s: data_offsets must be whole numbers [begin, end], 0 <= begin <= end < 2^53 "
                           "(damaged header)",
                           p, name);
    t->begin = (uint64_t)b->valuedouble;
    t->end = (uint64_t)en->valuedouble;
    if (t->end > f->data_bytes)
        return status_fail(st, ST_BAD_INPUT,
                           "%s: tensor %s: data_offsets [%llu, %llu] run past the end of the data (%llu bytes): "
                           "the file is truncated or damaged",
                           p, name, (unsigned long long)t->begin, (unsigned long long)t->end,
                           (unsigned long long)f->data_bytes);
    if ((unsigned __int128)(t->end - t->begin) != numel * esize)
        return status_fail(st, ST_BAD_INPUT,
                           "%s: tensor %s: %llu bytes of data do not match its %s shape (%llu bytes)", p, name,
                           (unsigned long long)(t->end - t->begin), t->dtype_str,
                           (unsigned long long)(numel * esize));
    return ST_OK;
}

static char g_last_mapped[1024];

const char *st_last_mapped(void) { return g_last_mapped; }

int st_open(st_file *f, const char *path, status_t *st) {
    memset(f, 0, sizeof *f);
    snprintf(f->path, sizeof f->path, "%s", path);
    int fd = open(path, O_RDONLY);
    if (fd < 0)
        return status_fail(st, ST_BAD_INPUT, "%s: cannot open (%s): give a model folder or its model.safetensors",
                           path, strerror(errno));
    struct stat sb;
    if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
        close(fd);
        return status_fail(st, ST_BAD_INPUT, "%s: not a regular file", path);
    }
    if (sb.st_size < 8) {
        close(fd);
        return status_fail(st, ST_BAD_INPUT, "%s: %lld bytes is too short for a safetensors file (truncated?)",
                           path, (long long)sb.st_size);
    }
    f->file_bytes = (size_t)sb.st_size;
    f->map = mmap(NULL, f->file_bytes, PROT_READ, MAP_PRIVATE, fd, 0);
    close(fd);
    if (f->map == MAP_FAILED) {
        f->map = NULL;
        return status_fail(st, ST_RUNTIME, "%s: mmap failed (%s)", path, strerror(errno));
    }
    snprintf(g_last_mapped, sizeof g_last_mapped, "%s", path);
    const uint8_t *bytes = f->map;
    uint64_t hlen = 0;
    for (int i = 7; i >= 0; i--) hlen = (hlen << 8) | bytes[i];
    if (hlen > f->file_bytes - 8)
        return fail_close(f, status_fail(st, ST_BAD_INPUT,
                                         "%s: header length %llu runs past the end of the %zu-byte file "
                                         "(truncated or not safetensors)",
                                         path, (unsigned long long)hlen, f->file_bytes));
    if (hlen > ST_MAX_HEADER_BYTES)
        return fail_close(f, status_fail(st, ST_BAD_INPUT, "%s: header of %llu bytes exceeds the 100 MiB limit",
                                         path, (unsigned long long)hlen));
    f->data = bytes + 8 + hlen;
    f->data_bytes = f->file_bytes - 8 - hlen;
    cJSON *root = cJSON_ParseWithLength((const char *)bytes + 8, (size_t)hlen);
    if (!root || !cJSON_IsObject(root)) {
        cJSON_Delete(root);
        return fail_close(f, status_fail(st, ST_BAD_INPUT, "%s: header is not a JSON object (not a safetensors file?)",
                                         path));
    }
    int n = 0;
    for (const cJSON *e = root->child; e; e = e->next)
        if (strcmp(e->string, "__metadata__") != 0) n++;
    f->tensors = calloc(n ? (size_t)n : 1, sizeof *f->tensors);
    if (!f->tensors) {
        cJSON_Delete(root);
        return fail_close(f, status_fail(st, ST_RUNTIME, "out of memory"));
    }
    int rc = ST_OK;
    for (const cJSON *e = root->child; e && rc == ST_OK; e = e->next) {
        if (strcmp(e->string, "__metadata__") == 0) continue;
        rc = parse_entry(f, e, &f->tensors[f->n_tensors++], st);
    }
    cJSON_Delete(root);
    if (rc) return fail_close(f, rc);
    /* no two tensors may share bytes */
    st_tensor **order = malloc((size_t)(n ? n : 1) * sizeof *order);
    if (!order) return fail_close(f, status_fail(st, ST_RUNTIME, "out of memory"));
    for (int i = 0; i < n; i++) order[i] = &f->tensors[i];
    qsort(order, (size_t)n, sizeof *order, cmp_begin);
    const st_tensor *reach = NULL; /* the non-empty tensor ending furthest so far */
    for (int i = 0; i < n; i++) {
        if (order[i]->end == order[i]->begin) continue; /* empty: shares no bytes */
        if (reach && order[i]->begin < reach->end) {
            rc = status_fail(st, ST_BAD_INPUT, "%s: tensors %s and %s overlap in the data section (damaged file)",
                             path, reach->name, order[i]->name);
            break;
        }
        if (!reach || order[i]->end > reach->end) reach = order[i];
    }
    free(order);
    if (rc) return fail_close(f, rc);
    return ST_OK;
}

void st_close(st_file *f) {
    if (f->tensors) {
        for (int i = 0; i < f->n_tensors; i++) free(f->tensors[i].name);
        free(f->tensors);
    }
    if (f->map) munmap(f->map, f->file_bytes);
    f->map = NULL;
    f->tensors = NULL;
    f->n_tensors = 0;
}

const st_tensor *st_find(const st_file *f, const char *name) {
    for (int i = 0; i < f->n_tensors; i++)
        if (strcmp(f->tensors[i].name, name) == 0) return &f->tensors[i];
    return NULL;
}

float st_f16_to_f32(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000) << 16;
    uint32_t exp = (h >> 10) & 0x1f, mant = h & 0x3ff, bits;
    if (exp == 0) {
        if (mant == 0) {
            bits = sign;
        } else { /* subnormal: normalise */
            int e = -1;
            do { mant <<= 1; e++; } while (!(mant & 0x400));
            bits = sign | ((uint32_t)(127 - 15 - e) << 23) | ((mant & 0x3ff) << 13);
        }
    } else if (exp == 31) {
        bits = sign | 0x7f800000u | (mant << 13);
    } else {
        bits = sign | ((exp + 127 - 15) << 23) | (mant << 13);
    }
    float out;
    memcpy(&out, &bits, 4);
    return out;
}

float st_bf16_to_f32(uint16_t h) {
    uint32_t bits = (uint32_t)h << 16;
    float out;
    memcpy(&out, &bits, 4);
    return out;
}

void st_to_f32(const st_file *f, const st_tensor *t, float *out) {
    const uint8_t *src = f->data + t->begin;
    uint64_t n = st_numel(t);
    switch (t->dtype) {
    case ST_DT_F32: memcpy(out, src, n * 4); break;
    case ST_DT_F16:
        for (uint64_t i = 0; i < n; i++) {
            uint16_t h;
            memcpy(&h, src + 2 * i, 2);
            out[i] = st_f16_to_f32(h);
        }
        break;
    case ST_DT_BF16:
        for (uint64_t i = 0; i < n; i++) {
            uint16_t h;
            memcpy(&h, src + 2 * i, 2);
            out[i] = st_bf16_to_f32(h);
        }
        break;
    default: break;
    }
}
