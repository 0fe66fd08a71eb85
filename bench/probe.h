/* probe: the read bandwidth of this minute (and, with
 * machine_peak_probe_gflops, its FMA rate). The machine file's read figure
 * was measured once, maybe hours ago; on a shared host the bandwidth moves
 * by 20% and more from minute to minute. A decode point is therefore
 * bracketed by two short probes (the STREAM read loop of machine.c over a
 * buffer several times the LLC, by the same pinned threads), and the record
 * carries them beside the figures measured against the machine file
 * (docs/method.md, "The probe of the minute").
 *
 * Units: _bytes, _gbs (1e9 bytes/s). */
#ifndef GR_PROBE_H
#define GR_PROBE_H

#include <stddef.h>

#include "../model/status.h"

typedef struct {
    float *buf;      /* (n) all 1.0f, thread t's part first-touched by thread t */
    size_t n;        /* floats */
    int threads;
} bw_probe;

/* Probe buffer bytes: the read test's own working set (machine file:
 * 3 x stream_array_bytes), so that the probe and the machine file's read
 * figure measure the same thing; 384 MiB when unknown (<= 0). A set only a
 * few times the LLC reads high on a CPU whose L3 keeps lines between passes. */
size_t probe_bytes_for(double read_set_bytes);

/* Allocates and first-touches `bytes` with the current OpenMP threads. */
int probe_init(bw_probe *p, size_t bytes, status_t *st);

/* The median of `passes` timed reads of the whole buffer (after one
 * untimed), in GB/s; -1 if a sum is wrong (the reading is void). */
double probe_read_gbs(const bw_probe *p, int passes);

void probe_free(bw_probe *p);

/* The FMA side of the probe (machine_peak_probe_gflops): this many passes
 * of about this many seconds, before and after each point. */
#define PROBE_PEAK_PASSES 5
#define PROBE_PEAK_PASS_S 0.01

#endif
