#!/bin/sh
# Runs every test program given, continues past failures, and ends with one
# line "N passed, N failed" (programs, not cases); exit 1 if any failed.
set -u
pass=0; fail=0; failed=""
for t in "$@"; do
    echo "== $t"
    if "$t"; then pass=$((pass + 1)); else fail=$((fail + 1)); failed="$failed $t"; fi
done
[ -n "$failed" ] && echo "failed:$failed"
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
