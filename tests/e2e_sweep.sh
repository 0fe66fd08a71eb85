#!/bin/sh
# e2e_sweep: scripts/sweep.sh end to end on the tiny fixture (a 2 x 2 grid,
# a quick machine measurement) in a temporary folder: every file of a run is
# written; decode.jsonl holds exactly one valid record per point; a rerun
# measures nothing again; a sweep stopped with SIGINT, or killed with SIGKILL
# (and its last line torn), then rerun ends with exactly one record per point;
# a point that does not fit is recorded as skipped and the sweep goes on;
# plot writes non-empty PNGs; compare prints the ratio table; the sweep
# calibrates once per run folder (a new run anew, a resumed one not again)
# and every record carries the calibrated prediction, which the summary and
# the fourth chart show.
# Run from the repository root; the binaries are in $GPT2_BUILD (default build).
set -u
. tests/lib_e2e.sh
e2e_require_bench e2e_sweep
tmp=$(mktemp -d "${TMPDIR:-/tmp}/e2e_sweep.XXXXXX") || exit 1
bg=""
cleanup() {
    if [ -n "$bg" ]; then kill -KILL "$bg" 2>/dev/null; fi
    rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

fixture=tests/fixtures/gpt2-tiny
grid="--weights $fixture --batches 1,2 --contexts 4,8 --steps 4 --reps 3"

sweep() { # args... ; output in $tmp/out, $tmp/err
    # shellcheck disable=SC2086  # $grid is a word list
    bash scripts/sweep.sh $grid "$@" >"$tmp/out" 2>"$tmp/err"
}

# The points of a folder's valid records, and the count of records per point
# (a point measured twice shows up in report's stderr as "measured again").
points_of() { "$bench" report --dir "$1" --points 2>"$tmp/points.err"; }
n_lines() { if [ -f "$1" ]; then wc -l <"$1" | tr -d ' '; else echo 0; fi; }
one_record_per_point() { # dir expected_lines
    [ "$(points_of "$1" | wc -l | tr -d ' ')" = 4 ] || return 1
    [ "$(points_of "$1" | sort -u | wc -l | tr -d ' ')" = 4 ] || return 1
    ! grep -q "measured again\|interrupted" "$tmp/points.err" || return 1
    [ "$(n_lines "$1/decode.jsonl")" = "$2" ]
}
is_png() { [ -s "$1" ] && [ "$(head -c 4 "$1" | tail -c 3)" = PNG ]; }

# ---- a whole sweep --------------------------------------------------------------------
a=$tmp/runs/a
check "sweep on a 2x2 grid exits 0" sweep --out "$a"
T=$("$bench" report --dir "$a" --machine-threads 2>/dev/null)
for f in machine.json decode.jsonl decode.csv summary.md plot/meta.gp plot/points.dat \
    plot/throughput.svg plot/roofline.svg plot/efficiency.svg; do
    check "the run folder has $f" test -s "$a/$f"
done
for c in throughput roofline efficiency; do
    check "plot wrote a non-empty $c.png" is_png "$a/plot/$c.png"
done
check "the run folder has the calibration it used" test -s "$a/calib-t$T-f32.json"
check "the calibration was measured once, kept in the results folder" \
    test "$(find "$tmp/runs" -maxdepth 1 -name 'calib-*-t'"$T"'-f32-f32-quick.json' | wc -l | tr -d ' ')" = 1
check "every record carries the calibrated prediction and its error" \
    test "$(grep -c '"predicted_calibrated_tok_s":[0-9].*"prediction_error":' "$a/decode.jsonl")" = 4
check "every operator entry carries its calibrated time" \
    test "$(grep -o '"predicted_calibrated_ns":' "$a/decode.jsonl" | wc -l | tr -d ' ')" = 40 # 4 points x 10 operators
check "summary.md has the calibrated finding, naming an operator" \
    grep -q '^- \*\*Calibrated prediction\.\*\* Over the 4 points .*the operator that misses most there is [a-z_]*:' "$a/summary.md"
check "summary.md has the calibrated column and error per point" grep -q '^| 2 | 8 | .* | [-+][0-9.]*% | [a-z_]* [-+][0-9]*% |$' "$a/summary.md"
check "plot wrote a non-empty calibrated.png (the fourth chart)" is_png "$a/plot/calibrated.png"
check "the fourth chart has its data" test -s "$a/plot/calibrated.dat"
check "decode.jsonl has exactly one valid record per point" one_record_per_point "$a" 4
check "the points are the grid" test "$(points_of "$a" | tr '\n' ';')" = "1 4 $T f32;2 4 $T f32;1 8 $T f32;2 8 $T f32;"
check "decode.csv has a header and 4 rows" test "$(n_lines "$a/decode.csv")" = 5
check "summary.md has the table rows" grep -q "^| 2 | 8 | " "$a/summary.md"
check "summary.md says the bandwidth probed during the sweep" \
    grep -q '^- \*\*Bandwidth during the sweep\.\*\* The read bandwidth probed just before and after each of the 4 points' "$a/summary.md"
check "summary.md says the bandwidth the calibration ran at" \
    grep -q 'The calibration ran at [0-9.]* GB/s of probed read bandwidth, the points at [0-9.]*-[0-9.]* GB/s' "$a/summary.md"
check "every record carries its probe and serial roof" \
    sh -c "[ \$(grep -c '\"efficiency_probe\"' '$a/decode.jsonl') = 4 ] && [ \$(grep -c '\"efficiency_serial\"' '$a/decode.jsonl') = 4 ]"
check "summary.md has the three findings" test "$(grep -c '^- \*\*\(Where decode turns compute-bound\|Largest gap to the roof\|Throughput against batch\)\.\*\* [A-Z]' "$a/summary.md")" = 3
check "a progress line per point, with tok/s, efficiency and time left" \
    test "$(grep -c '^sweep: \[[1-4]/4\] B=[12] S=[48] .*tok/s.*efficiency' "$tmp/err")" = 4
check "the progress lines estimate the time left" grep -q "about .* left" "$tmp/err"
check "it prints where the results are" grep -q "results in $a" "$tmp/out"
check "no temporary file is left" test -z "$(find "$a" -name '*.tmp*' -o -name '.point.*')"

# ---- a rerun measures nothing -------------------------------------------------------------
check "a rerun on the finished folder exits 0" sweep --out "$a"
check "the rerun says every point is already there" grep -q "4 of 4 points already" "$tmp/err"
check "the rerun measured nothing again" one_record_per_point "$a" 4

# ---- a point that does not fit is skipped, and the sweep goes on -------------------------------
# context 30 + warm-up 4 + steps 4 exceeds the fixture's n_ctx of 32
check "a sweep with a point that cannot fit exits 0" sweep --out "$a" --contexts 4,30,8
check "the point is recorded in skipped.tsv" grep -q "^1	30	$T	f32	.*n_ctx" "$a/skipped.tsv"
check "summary.md lists the skipped points" grep -q "^| 2 | 30 | $T | f32 | " "$a/summary.md"
check "the sweep went on: still one record per point" one_record_per_point "$a" 4

# ---- no command substitution below the traps (bash 5.2 drops a signal that lands while one is parsed) ----
no_comsub_after_traps() {
    awk '/^trap .on_signal 130. INT$/ { on = 1; next } on' scripts/sweep.sh | sed -e 's/\$((//g' -e 's/^ *#.*//' |
        grep -n -E '\$\(|`' >"$tmp/comsub" && return 1
    grep -q '^trap .on_signal 130. INT$' scripts/sweep.sh
}
check "sweep.sh runs no command substitution once its traps are set" no_comsub_after_traps
check "--passes 08 is 8 passes, not an octal error" sweep --out "$tmp/runs/octal" --batches 1 --contexts 4 --passes 08 --reps 1
check "... and measures its 8 passes" test "$(n_lines "$tmp/runs/octal/decode.jsonl")" = 8

# ---- stopped with SIGINT after the first point lands, then resumed ------------------------------
# slower points (about 0.3 s each) so that the signal lands while one runs;
# SIGINT back to its default, since a background job of sh starts with it ignored
start_slow() { # dir
    set -- env --default-signal=INT bash scripts/sweep.sh --weights "$fixture" --batches 1,2 --contexts 4,8 \
        --steps 20 --reps 300 --out "$1"
    # shellcheck disable=SC2016  # perl's $SIG, not the shell's
    env --default-signal=INT true 2>/dev/null || set -- perl -e '$SIG{INT} = "DEFAULT"; exec @ARGV' "$@"
    "$@" >"$tmp/bg.out" 2>"$tmp/bg.err" &
    bg=$!
}
wait_first_point() { # dir: until decode.jsonl has a line (at most 60 s)
    i=0
    while [ "$(n_lines "$1/decode.jsonl")" -lt 1 ] && [ $i -lt 1200 ]; do
        sleep 0.05
        i=$((i + 1))
    done
    [ "$(n_lines "$1/decode.jsonl")" -ge 1 ]
}
b=$tmp/runs/b
start_slow "$b"
check "the first point of the slow sweep lands" wait_first_point "$b"
kill -INT "$bg" 2>/dev/null
wait "$bg"
rc=$?
bg=""
check "SIGINT stops the sweep with status 130 (got $rc)" test "$rc" = 130
check "it prints how to resume" grep -q "to resume: scripts/sweep.sh .*--out" "$tmp/bg.err"
check "the stopped sweep left no temporary file" test -z "$(find "$b" -name '.point.*' -o -name '*.tmp*')"
n_after_int=$(n_lines "$b/decode.jsonl")
check "every line written before SIGINT is a whole record ($n_after_int)" test "$(points_of "$b" | wc -l | tr -d ' ')" = "$n_after_int"
check "the rerun after SIGINT exits 0" sweep --out "$b"
check "after SIGINT and a rerun: exactly one record per point" one_record_per_point "$b" 4

# ---- killed with SIGKILL after the first point lands, a torn line added, then resumed -------------
c=$tmp/runs/c
start_slow "$c"
check "the first point of the slow sweep lands (KILL)" wait_first_point "$c"
kill -KILL "$bg" 2>/dev/null
wait "$bg" 2>/dev/null
bg=""
# what a write cut short by a crash leaves: half a line, no newline
printf '{"schema_version":1,"kind":"decode","model":"gpt2-ti' >>"$c/decode.jsonl"
n_valid=$(points_of "$c" | wc -l | tr -d ' ')
check "the torn line is skipped and named on stderr" grep -q "cut short" "$tmp/points.err"
check "the rerun after SIGKILL exits 0" sweep --out "$c"
check "the rerun names the torn line" grep -q "cut short" "$tmp/err"
check "after SIGKILL and a rerun: one valid record per point, the torn line kept apart" \
    one_record_per_point "$c" 5
check "the rerun measured only the missing points ($n_valid were there)" \
    test "$(grep -c '^sweep: \[' "$tmp/err")" = $((4 - n_valid))

# ---- two passes over the grid: a record per point and pass, one pooled point each --------------------
pp=$tmp/runs/passes
check "sweep --passes 2 exits 0" sweep --out "$pp" --passes 2
check "a record per point and pass (8)" test "$(n_lines "$pp/decode.jsonl")" = 8
check "--point-passes lists each pass of each point" test "$("$bench" report --dir "$pp" --point-passes | sort | tr '\n' ';')" = \
    "1 4 $T f32 1;1 4 $T f32 2;1 8 $T f32 1;1 8 $T f32 2;2 4 $T f32 1;2 4 $T f32 2;2 8 $T f32 1;2 8 $T f32 2;"
check "the passes pool into the 4 points" test "$(points_of "$pp" | wc -l | tr -d ' ')" = 4
check "decode.csv has a row per point, not per pass" test "$(n_lines "$pp/decode.csv")" = 5
check "summary.md says the passes" grep -q "6 repetitions per point in 2 passes over the grid" "$pp/summary.md"
check "the progress lines name the pass" grep -q "B=2 S=8 T=$T f32 pass 2:" "$tmp/err"
check "a new run calibrates anew, not from the earlier run's minutes" \
    sh -c "grep -q '^calibrate: saved ' '$tmp/err' && ! grep -q '^calibrate: reusing ' '$tmp/err'"
check "a rerun with --passes 2 measures nothing again" sweep --out "$pp" --passes 2
check "still 8 records" test "$(n_lines "$pp/decode.jsonl")" = 8
check "... and keeps the run's own calibration" sh -c "! grep -q '^sweep: calibrate:' '$tmp/err'"
check "a rerun with --passes 3 measures only the third pass" sweep --out "$pp" --passes 3
check "then 12 records" test "$(n_lines "$pp/decode.jsonl")" = 12
check "a bad --passes exits 2" sh -c "bash scripts/sweep.sh --passes 0 --out '$tmp/badp' >/dev/null 2>&1; test \$? = 2"

# ---- plot and compare on their own ---------------------------------------------------------------
rm -f "$a/plot/throughput.png"
check "scripts/plot DIR alone exits 0" sh -c "bash scripts/plot '$a' >/dev/null 2>&1"
check "scripts/plot rewrote throughput.png" is_png "$a/plot/throughput.png"
check "scripts/compare exits 0" sh -c "bash scripts/compare '$a' '$b' --out '$tmp/cmp' >'$tmp/cmp.txt' 2>/dev/null"
check "compare prints a row per common point" test "$(grep -c '^ *[12] *[48] ' "$tmp/cmp.txt")" = 4
check "compare draws the overlay" is_png "$tmp/cmp.png"

# ---- bad input: exit 2 with one line ---------------------------------------------------------------
bash scripts/sweep.sh --batches "1 x" --out "$tmp/bad" >/dev/null 2>"$tmp/bad.err"
rc=$?
check "a bad --batches list exits 2 (got $rc)" test "$rc" = 2
check "with one line on stderr" test "$(wc -l <"$tmp/bad.err" | tr -d ' ')" = 1
check "that names the flag" grep -q -- "--batches" "$tmp/bad.err"
bash scripts/sweep.sh --bogus >/dev/null 2>&1
rc=$?
check "an unknown flag exits 2 (got $rc)" test "$rc" = 2
bash scripts/plot "$tmp/no-such-folder" >/dev/null 2>&1
rc=$?
check "plot on a missing folder exits 2 (got $rc)" test "$rc" = 2

echo "e2e_sweep: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
