#!/bin/sh
# Runs every test program given, continues past failures, and ends with one
# line "N passed, N failed" (programs, not cases); exit 1 if any failed.
# Shell tests (*.sh) run with sh; they find the binaries in $GPT2_BUILD.
set -u
pass=0; fail=0; failed=""
for t in "$@"; do
    echo "== $t"
    case "$t" in *.sh) run="sh $t" ;; *) run="$t" ;; esac
    if $run; then pass=$((pass + 1)); else fail=$((fail + 1)); failed="$failed $t"; fi
done
[ -n "$failed" ] && echo "failed:$failed"
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
