#!/bin/bash
# In-process paired A/B of the decode GEMM: A as the repository builds it,
# B the same kernels/gemm_packed.c and kernels/gemm_lowp.c compiled with the
# -D settings given, their entry points renamed linear_packed_f32_B and
# linear_lw_B and everything else made local, so both live in one program
# (docs/experiments/gemm_ab.c). From the repository root:
#   bash docs/experiments/gemm_ab.sh "-DGEMM_KC=128" f32 16,64 200 [SHAPE]
# Not part of the build; needs gcc, objcopy, libgomp.
set -euo pipefail
[ $# -ge 4 ] || { echo "usage: gemm_ab.sh 'B CFLAGS' DTYPE M[,M..] PAIRS [SHAPE]" >&2; exit 2; }
bflags=$1; shift
dir=$(mktemp -d /tmp/gemm_ab.XXXXXX)
trap 'rm -rf "$dir"' EXIT
cc="gcc -std=c11 -D_GNU_SOURCE -O3 -g -fopenmp"
for f in gemm_packed gemm_lowp bigalloc; do $cc -c kernels/$f.c -o "$dir/$f.o"; done
# shellcheck disable=SC2086
for f in gemm_packed gemm_lowp; do $cc $bflags -c kernels/$f.c -o "$dir/${f}_B.o"; done
ld -r "$dir/gemm_packed_B.o" "$dir/gemm_lowp_B.o" -o "$dir/B.o"
objcopy --redefine-sym linear_packed_f32=linear_packed_f32_B --redefine-sym linear_lw=linear_lw_B "$dir/B.o"
objcopy -w --keep-global-symbol=linear_packed_f32_B --keep-global-symbol=linear_lw_B "$dir/B.o"
$cc docs/experiments/gemm_ab.c "$dir/gemm_packed.o" "$dir/gemm_lowp.o" "$dir/bigalloc.o" "$dir/B.o" -lm -o "$dir/gemm_ab"
GEMM_AB_B="$bflags" OMP_NUM_THREADS=${OMP_NUM_THREADS:-2} "$dir/gemm_ab" "$@"
