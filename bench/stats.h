/* stats: summary statistics of repeated timings. */
#ifndef GR_STATS_H
#define GR_STATS_H

typedef struct {
    int n;
    double median, mean, min, max, stddev, cv; /* cv = stddev / mean */
} stats_summary;

/* x: (n) samples, n >= 1; x is not modified. */
void stats_summarize(const double *x, int n, stats_summary *out);

/* The median of x: (n), n >= 1 (the mean of the middle two when n is
 * even); sorts x in place, allocates nothing. 0 when n < 1. */
double stats_median(double *x, int n);

#endif
