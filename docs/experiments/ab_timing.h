/* The clock and the sort the paired A/B harnesses of docs/experiments share. */
#ifndef GR_AB_TIMING_H
#define GR_AB_TIMING_H

#include <stdlib.h>
#include <time.h>

static inline double ab_now_s(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
}
static inline int ab_cmp_double(const void *a, const void *b) {
    const double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}
/* Sorts the n paired times ta (A), tb (B) and their ratios r = ta / tb in place. */
static inline void ab_sort(double *ta, double *tb, double *r, int n) {
    qsort(ta, n, sizeof(double), ab_cmp_double);
    qsort(tb, n, sizeof(double), ab_cmp_double);
    qsort(r, n, sizeof(double), ab_cmp_double);
}

#endif
