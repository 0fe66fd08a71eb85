/* stats: summary statistics of repeated timings. */
#ifndef GR_STATS_H
#define GR_STATS_H

typedef struct {
    int n;
    double median, mean, min, max, stddev, cv; /* cv = stddev / mean */
} stats_summary;

/* x: (n) samples, n >= 1; x is not modified. */
void stats_summarize(const double *x, int n, stats_summary *out);

#endif
