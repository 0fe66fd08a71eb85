#include "stats.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y ? 1 : 0;
}

double stats_median(double *x, int n) {
    if (n < 1) return 0;
    qsort(x, (size_t)n, sizeof *x, cmp_double);
    return n % 2 ? x[n / 2] : 0.5 * (x[n / 2 - 1] + x[n / 2]);
}

void stats_summarize(const double *x, int n, stats_summary *o) {
    memset(o, 0, sizeof *o);
    if (n <= 0) return;
    double *s = malloc((size_t)n * sizeof *s);
    if (!s) return;
    memcpy(s, x, (size_t)n * sizeof *s);
    o->median = stats_median(s, n);
    o->n = n;
    o->min = s[0];
    o->max = s[n - 1];
    double sum = 0;
    for (int i = 0; i < n; i++) sum += s[i];
    o->mean = sum / n;
    double var = 0;
    for (int i = 0; i < n; i++) var += (s[i] - o->mean) * (s[i] - o->mean);
    o->stddev = n > 1 ? sqrt(var / (n - 1)) : 0.0;
    o->cv = o->mean > 0 ? o->stddev / o->mean : 0.0;
    free(s);
}
