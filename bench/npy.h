/* npy: NumPy .npy files of little-endian float32 (format 1.0, C order). */
#ifndef GR_NPY_H
#define GR_NPY_H

#include <stdint.h>

#include "../model/status.h"

/* Written through outfile (a temporary beside PATH, then renamed): no
 * partial file is left. */
int npy_write_f32(const char *path, const float *data, int ndim, const int64_t *shape, status_t *st);

/* Reads a float32 array; *data malloc'd, shape up to 8 dims. */
int npy_read_f32(const char *path, float **data, int *ndim, int64_t *shape, status_t *st);

#endif
