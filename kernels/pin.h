/* pin: binds the OpenMP threads to cores through hwloc, so a measurement
 * runs on the same cores each time and two threads never share one core
 * while another core idles. */
#ifndef GR_PIN_H
#define GR_PIN_H

#include <stddef.h>

/* Binds OpenMP thread i of an n-thread team to core i (hwloc's core order;
 * with more threads than cores, to PU i mod PUs). Writes one line saying
 * what was done, or what failed, into desc (desc_len bytes). Returns 0 when
 * every thread was bound, nonzero otherwise (the threads are then left as
 * they were or partly bound: the program can go on, unpinned). Call after
 * threads_init(n): OpenBLAS threads created later inherit the binding of
 * the thread that creates them. */
int threads_pin(int n, char *desc, size_t desc_len);

/* The description written by the last threads_pin call ("not pinned" when
 * none was made). */
const char *threads_pin_description(void);

#endif
