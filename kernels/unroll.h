/* unroll: KERNEL_UNROLL(n) before a loop asks GCC to unroll it n times
 * (n may be a macro: it is expanded first). Used by the GEMM kernels, whose
 * unroll factors are -D settings for A/B runs (docs/method.md). */
#ifndef KERNELS_UNROLL_H
#define KERNELS_UNROLL_H

#define KERNEL_PRAGMA_(x) _Pragma(#x)
#define KERNEL_UNROLL(n) KERNEL_PRAGMA_(GCC unroll n)

#endif
