/* bigalloc: allocations that stream (weights, KV cache), aligned to 2 MiB
 * and advised as transparent huge pages where the kernel allows it, so a
 * step's sequential reads are not held up by TLB misses. Free with free(). */
#ifndef GR_BIGALLOC_H
#define GR_BIGALLOC_H

#include <stddef.h>

/* NULL when out of memory. Below 2 MiB: a plain 64-byte aligned block. */
void *big_alloc(size_t bytes);

#endif
