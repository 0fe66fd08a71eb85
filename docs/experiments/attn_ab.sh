#!/bin/bash
# In-process paired A/B of decode attention: A as the repository builds
# kernels/attention.c, B the same file compiled with the -D settings given
# (attn_decode_head_f32 renamed attn_decode_head_f32_B, the rest local);
# docs/experiments/attn_ab.c times one layer of each back to back. From the
# repository root:
#   bash docs/experiments/attn_ab.sh "-DATTN_PREFETCH_V=1" 16,64 128,896 100
# Not part of the build; needs gcc, objcopy, libgomp.
set -euo pipefail
[ $# -ge 4 ] || { echo "usage: attn_ab.sh 'B CFLAGS' B[,B..] S[,S..] PAIRS" >&2; exit 2; }
bflags=$1; shift
dir=$(mktemp -d /tmp/attn_ab.XXXXXX)
trap 'rm -rf "$dir"' EXIT
cc="gcc -std=c11 -D_GNU_SOURCE -O3 -g -fopenmp"
for f in attention gemm_packed elementwise bigalloc; do $cc -c kernels/$f.c -o "$dir/$f.o"; done
# shellcheck disable=SC2086
$cc $bflags -c kernels/attention.c -o "$dir/B.o"
objcopy --redefine-sym attn_decode_head_f32=attn_decode_head_f32_B "$dir/B.o"
objcopy -w --keep-global-symbol=attn_decode_head_f32_B "$dir/B.o"
$cc docs/experiments/attn_ab.c "$dir"/attention.o "$dir"/gemm_packed.o "$dir"/elementwise.o "$dir"/bigalloc.o "$dir/B.o" -lm -o "$dir/attn_ab"
ATTN_AB_B="$bflags" OMP_NUM_THREADS=${OMP_NUM_THREADS:-2} "$dir/attn_ab" "$@"
