/* linear: dense layers through OpenBLAS on weights as the checkpoint stores
 * them ([in, out] row-major). */
#include <cblas.h>
#include <string.h>

#include "kernels.h"

void linear_f32(float *y, const float *x, const float *w, const float *b, int M, int K, int N) {
    float beta = 0.0f;
    if (b) {
        for (int m = 0; m < M; m++) memcpy(y + (size_t)m * N, b, (size_t)N * sizeof *y);
        beta = 1.0f;
    }
    if (M == 1) /* y^T = w^T x: sgemv streams w once, faster than sgemm at M = 1 */
        cblas_sgemv(CblasRowMajor, CblasTrans, K, N, 1.0f, w, N, x, 1, beta, y, 1);
    else
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, M, N, K, 1.0f, x, K, w, N, beta, y, N);
}

void linear_nt_f32(float *y, const float *x, const float *w, int M, int K, int N) {
    if (M == 1)
        cblas_sgemv(CblasRowMajor, CblasNoTrans, N, K, 1.0f, w, K, x, 1, 0.0f, y, 1);
    else
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, M, N, K, 1.0f, x, K, w, K, 0.0f, y, N);
}
