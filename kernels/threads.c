/* threads: one thread count for OpenMP (our kernels) and OpenBLAS. */
#include <omp.h>
#include <unistd.h>

#include "kernels.h"

void openblas_set_num_threads(int num_threads);

static int g_threads = 1;

int cores_online(void) {
    long c = sysconf(_SC_NPROCESSORS_ONLN);
    return c > 0 ? (int)c : 1;
}

int threads_init(int n) {
    if (n <= 0) n = cores_online();
    g_threads = n;
    omp_set_num_threads(n);
    openblas_set_num_threads(n);
    return n;
}

int threads_count(void) { return g_threads; }
