#include "probe.h"

#include <omp.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../kernels/bigalloc.h"
#include "machine.h"
#include "stats.h"

#define PROBE_PASSES_MAX 64

size_t probe_bytes_for(double read_set_bytes) {
    double b = read_set_bytes > 0 ? read_set_bytes : 384.0 * 1048576;
    if (b < 65536) b = 65536;
    return (size_t)b / 4096 * 4096;
}

/* Thread t's part [lo, hi) of n floats, multiples of 1024 floats. */
static void part(size_t n, int T, int t, size_t *lo, size_t *hi) {
    size_t per = (n / (size_t)T) & ~(size_t)1023;
    *lo = per * (size_t)t;
    *hi = t == T - 1 ? n : *lo + per;
}

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

int probe_init(bw_probe *p, size_t bytes, status_t *st) {
    memset(p, 0, sizeof *p);
    p->n = bytes / sizeof(float) / 1024 * 1024;
    p->threads = omp_get_max_threads();
    uint64_t avail = mem_available_bytes();
    if (avail && (uint64_t)p->n * sizeof(float) > avail / 2)
        return status_fail(st, ST_RUNTIME, "probe: a %.0f MiB buffer is more than half the memory available",
                           bytes / 1048576.0);
    p->buf = big_alloc(p->n * sizeof(float));
    if (!p->buf) return status_fail(st, ST_RUNTIME, "probe: out of memory for a %.0f MiB buffer", bytes / 1048576.0);
    float *buf = p->buf;
    const size_t n = p->n;
#pragma omp parallel num_threads(p->threads)
    {
        size_t lo, hi;
        part(n, omp_get_num_threads(), omp_get_thread_num(), &lo, &hi);
        for (size_t i = lo; i < hi; i++) buf[i] = 1.0f;
    }
    return ST_OK;
}

double probe_read_gbs(const bw_probe *p, int passes) {
    if (!p->buf || passes < 1) return -1;
    if (passes > PROBE_PASSES_MAX) passes = PROBE_PASSES_MAX;
    double s[PROBE_PASSES_MAX];
    int bad = 0;
    const float *buf = p->buf;
    const size_t n = p->n;
    for (int r = 0; r <= passes; r++) {
        double t0 = 0, t1 = 0;
#pragma omp parallel num_threads(p->threads) reduction(+ : bad)
        {
            size_t lo, hi;
            part(n, omp_get_num_threads(), omp_get_thread_num(), &lo, &hi);
#pragma omp barrier
#pragma omp master
            t0 = now_s();
            double sum = machine_read_sum(buf + lo, hi - lo);
#pragma omp barrier
#pragma omp master
            t1 = now_s();
            if (sum != (double)(hi - lo)) bad++; /* all ones: exact below 2^24 per lane */
        }
        if (r > 0) s[r - 1] = t1 - t0;
    }
    if (bad) return -1;
    return (double)n * sizeof(float) / stats_median(s, passes) / 1e9;
}

void probe_free(bw_probe *p) {
    free(p->buf);
    memset(p, 0, sizeof *p);
}
