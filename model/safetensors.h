/* safetensors: a read-only, mmap'd view of a .safetensors file.
 * Layout: 8-byte little-endian header length N, N bytes of JSON header
 * ({name: {dtype, shape, data_offsets: [begin, end]}}, optional
 * "__metadata__"), then the data; offsets are relative to the data start.
 * st_open checks everything that does not depend on the model: header size,
 * JSON, every tensor's dtype/shape/offsets consistent, inside the file and
 * not overlapping. */
#ifndef GR_SAFETENSORS_H
#define GR_SAFETENSORS_H

#include <stddef.h>
#include <stdint.h>

#include "status.h"

typedef enum { ST_DT_F32, ST_DT_F16, ST_DT_BF16, ST_DT_I8, ST_DT_OTHER } st_dtype;

#define ST_MAX_DIMS 8

typedef struct {
    char *name;
    st_dtype dtype;
    char dtype_str[16];
    int ndim;
    int64_t shape[ST_MAX_DIMS];
    uint64_t begin, end;  /* byte offsets into the data section */
} st_tensor;

typedef struct {
    char path[1024];
    void *map;             /* whole file, PROT_READ */
    size_t file_bytes;
    const uint8_t *data;   /* start of the data section */
    uint64_t data_bytes;
    int n_tensors;
    st_tensor *tensors;
} st_file;

int st_open(st_file *f, const char *path, status_t *st);

/* The path of the file st_open mapped last ("" before any): a SIGBUS
 * handler names it when the file shrinks under its mapping. */
const char *st_last_mapped(void);
void st_close(st_file *f);

/* NULL when absent. */
const st_tensor *st_find(const st_file *f, const char *name);

size_t st_dtype_size(st_dtype dt);
const char *st_dtype_name(st_dtype dt);

/* Widens a tensor to float32 into `out` (numel floats). F32, F16, BF16. */
void st_to_f32(const st_file *f, const st_tensor *t, float *out);

uint64_t st_numel(const st_tensor *t);

float st_f16_to_f32(uint16_t h);
float st_bf16_to_f32(uint16_t h);

#endif
