#!/usr/bin/env bash
# scripts/sweep.sh: measure GPT-2 decode over a grid of batch sizes and
# contexts (and optionally thread counts and dtypes), then write the summary
# and the plots. One folder per run; rerun on the same folder to resume.
# shellcheck disable=SC2317  # functions run through capture and the traps look unreachable to it
# run by sh (as make bench does): the rest needs bash
if [ -z "${BASH_VERSION:-}" ]; then exec bash "$0" "$@"; fi
if [ "${BASH_VERSINFO[0]}" -lt 5 ]; then # EPOCHREALTIME times the points
    echo "sweep: needs bash 5 or later (this is $BASH_VERSION): install a newer bash" >&2
    exit 1
fi
set -u

usage() {
    cat <<'EOF'
usage: scripts/sweep.sh [--batches "1 2 4"] [--contexts "128 896"] [--threads "T ..."]
                        [--dtypes "f32"] [--model NAME | --weights PATH] [--out DIR]
                        [--steps N] [--reps R] [--passes P]

Measures the machine once (gpt2-bench machine), calibrates the operators once
per thread count and dtype for this run (gpt2-bench calibrate --remeasure: on a
shared host an earlier sweep's calibration is another minute's), then decode tokens/s at every
point of the grid, one point per gpt2-bench process, each record with the
roofline bound and the calibrated prediction, and ends with gpt2-bench report
(summary.md, decode.csv) and scripts/plot (PNG + SVG).

  --batches LIST   batch sizes B (default "1 2 4 8 16 32 64")
  --contexts LIST  tokens already in each sequence's KV cache, S (default "128 896")
  --threads LIST   thread counts (default: one per core, as gpt2-bench machine counts them)
  --dtypes LIST    weight dtypes (default "f32")
  --model NAME     gpt2, gpt2-medium, gpt2-large or gpt2-xl with synthetic seeded
                   weights (default gpt2: nothing to download)
  --weights PATH   a GPT-2 checkpoint (model.safetensors or its folder) instead
  --out DIR        the run's folder (default results/<host>-<date>-<rev>/, with the
                   symlink results/latest pointing at it)
  --steps N        timed decode steps per repetition (decode's default: 16)
  --reps R         repetitions per point and pass (decode's default: 5)
  --passes P       go over the whole grid P times (default 1), each point once per
                   pass; the report pools a point's passes (its step: the median of
                   the passes' median steps), so a slow minute is one pass, not the point
  -h, --help       this text
Lists take spaces or commas: --batches "1 2 4" or --batches 1,2,4.

The folder gets machine.json (machine-t<T>.json for further thread counts),
calib-t<T>-<dtype>.json (the calibration each decode used), decode.jsonl (one JSON record per measured point), decode.csv, skipped.tsv
(points refused for memory, with the reason), summary.md and plot/.
Resuming: rerun with --out DIR (any grid): points already in DIR/decode.jsonl
are not measured again and DIR/machine.json is reused. Ctrl-C stops cleanly
and prints the command that resumes; a finished point is never lost and no
file is left half-written. The machine figures are kept per host and thread
count beside the run folders (gpt2-bench machine --results PARENT) and reused
by later sweeps; run gpt2-bench machine --remeasure --results PARENT to redo them.

Environment: GPT2_BENCH (the binary, default build/gpt2-bench);
GPT2_SWEEP_QUICK_MACHINE=1 measures the machine and calibrates with --quick
(tests only: their figures mean nothing).
EOF
}

die() { # code message
    echo "sweep: $2" >&2
    exit "$1"
}
say() { echo "sweep: $*" >&2; }

bench=${GPT2_BENCH:-build/gpt2-bench}
here=$(cd "$(dirname "$0")" && pwd)
orig_args=("$@")

batches="1 2 4 8 16 32 64"
contexts="128 896"
threads=""
dtypes="f32"
model=""
weights=""
out=""
steps=""
reps=""
passes=1

set_opt() { # flag value
    case "$1" in
    --batches) batches=$2 ;;
    --contexts) contexts=$2 ;;
    --threads) threads=$2 ;;
    --dtypes) dtypes=$2 ;;
    --model) model=$2 ;;
    --weights) weights=$2 ;;
    --out) out=$2 ;;
    --steps) steps=$2 ;;
    --reps) reps=$2 ;;
    --passes) passes=$2 ;;
    esac
}

while [ $# -gt 0 ]; do
    case "$1" in
    -h | --help)
        usage
        exit 0
        ;;
    --batches | --contexts | --threads | --dtypes | --model | --weights | --out | --steps | --reps | --passes)
        [ $# -ge 2 ] || die 2 "$1 needs a value (see scripts/sweep.sh --help)"
        set_opt "$1" "$2"
        shift 2
        ;;
    --batches=* | --contexts=* | --threads=* | --dtypes=* | --model=* | --weights=* | --out=* | --steps=* | --reps=* | --passes=*)
        set_opt "${1%%=*}" "${1#*=}"
        shift
        ;;
    *) die 2 "unknown option '$1': see scripts/sweep.sh --help" ;;
    esac
done

# ---- checking the flags -------------------------------------------------------

is_uint() { case "$1" in '' | *[!0-9]*) return 1 ;; *) return 0 ;; esac }

list_of_ints() { # flag list min -> normalised list on stdout
    local flag=$1 list=${2//,/ } min=$3 v norm=""
    for v in $list; do
        if ! is_uint "$v" || [ "${#v}" -gt 7 ] || [ "$v" -lt "$min" ]; then
            die 2 "$flag: '$v' is not a whole number >= $min (give e.g. $flag \"1 2 4\")"
        fi
        norm="$norm $((10#$v))"
    done
    [ -n "$norm" ] || die 2 "$flag: the list is empty (give e.g. $flag \"1 2 4\")"
    echo "${norm# }"
}

batches=$(list_of_ints --batches "$batches" 1) || exit 2
contexts=$(list_of_ints --contexts "$contexts" 0) || exit 2
if [ -n "$threads" ]; then threads=$(list_of_ints --threads "$threads" 1) || exit 2; fi
dtypes=${dtypes//,/ }
for d in $dtypes; do
    case "$d" in
    f32 | bf16 | f16 | int8) ;;
    *) die 2 "--dtypes: '$d' is not one of f32, bf16, f16, int8" ;;
    esac
done
[ -n "${dtypes// /}" ] || die 2 "--dtypes: the list is empty (give e.g. --dtypes f32)"
if [ -n "$steps" ]; then
    { is_uint "$steps" && [ "${#steps}" -le 7 ] && [ "$steps" -ge 1 ]; } || die 2 "--steps: '$steps' is not a whole number >= 1"
fi
if [ -n "$reps" ]; then
    { is_uint "$reps" && [ "${#reps}" -le 6 ] && [ "$reps" -ge 1 ]; } || die 2 "--reps: '$reps' is not a whole number >= 1"
fi
{ is_uint "$passes" && [ "${#passes}" -le 2 ] && [ "$passes" -ge 1 ] && [ "$passes" -le 16 ]; } ||
    die 2 "--passes: '$passes' is not a whole number from 1 to 16"
passes=$((10#$passes)) # "08" is 8, not an octal error in the pass loop
[ -n "$model" ] && [ -n "$weights" ] && die 2 "--model and --weights exclude each other: give one"
if [ -n "$weights" ]; then
    [ -e "$weights" ] || die 2 "--weights $weights: no such file or folder"
    src=(--weights "$weights")
else
    src=(--model "${model:-gpt2}")
fi
extra=()
[ -n "$steps" ] && extra+=(--steps "$steps")
[ -n "$reps" ] && extra+=(--reps "$reps")

[ -x "$bench" ] || die 1 "$bench is not built: run make (or point GPT2_BENCH at gpt2-bench)"
export GPT2_BENCH=$bench

# ---- the run's folder -----------------------------------------------------------

default_out=0
if [ -z "$out" ]; then
    host=$(hostname 2>/dev/null || uname -n)
    host=${host%%.*}
    host=$(printf '%s' "$host" | tr -c 'A-Za-z0-9._-' '_')
    rev=$(git -C "$here/.." rev-parse --short HEAD 2>/dev/null || echo norev)
    git -C "$here/.." diff --quiet HEAD -- 2>/dev/null || rev="$rev-dirty"
    out=results/${host:-host}-$(date +%Y%m%d-%H%M%S)-$rev
    default_out=1
fi
out=${out%/}
[ -n "$out" ] || out=/
mkdir -p "$out" 2>/dev/null || die 1 "cannot make the folder $out: choose a writable --out"
[ -w "$out" ] || die 1 "$out is not writable: choose another --out"
# one sweep per folder: a lock on the folder itself (released when this shell
# ends, however it ends; children do not inherit it)
if command -v flock >/dev/null 2>&1; then
    exec 9<"$out" || die 1 "cannot open the folder $out"
    flock -n 9 || die 1 "another sweep is writing $out (it holds a lock on the folder): wait for it, or choose another --out"
fi
# temporaries of an earlier sweep that was killed (a point never lands half-written)
rm -f "$out"/.point.*.jsonl "$out"/.point.*.err "$out"/.skipped.tsv.* "$out"/.capture.*
if [ "$default_out" = 1 ]; then
    if ! { ln -sfn "$(basename "$out")" "results/.latest.$$" && mv -fT "results/.latest.$$" results/latest; }; then
        say "could not update the symlink results/latest (continuing)"
    fi
fi
cache=$(dirname "$out")

resume_cmd() {
    local a skip=0 cmd="scripts/sweep.sh"
    for a in ${orig_args[@]+"${orig_args[@]}"}; do
        if [ "$skip" = 1 ]; then skip=0; continue; fi
        case "$a" in
        --out) skip=1; continue ;;
        --out=*) continue ;;
        esac
        printf -v a '%q' "$a"
        cmd="$cmd $a"
    done
    printf -v a '%q' "$out"
    echo "$cmd --out $a"
}

# ---- signals: stop after the running point, never half a record --------------------

# From here on, no command substitution: bash 5.2 drops a trapped signal that
# lands while it parses one, either form (it prints "trap: ... unexpected EOF
# while looking for matching `)'", runs no trap, and may abandon the loop it
# is in): seen in 2 of 66 SIGINT and 2 of 40 SIGTERM tries of e2e_sweep's
# case (docs/robustness.md), and e2e_sweep checks that none is left below
# the trap line. capture CMD... runs CMD
# (a function or a program) with its output in a file and reads that back
# into $got instead, trailing newlines stripped, and returns CMD's status.
cap_file="$out/.capture.$$"
trap 'rm -f "$cap_file"' EXIT
got=""
capture() { # cmd... -> $got
    local rc
    "$@" >"$cap_file"
    rc=$?
    got=""
    IFS= read -r -d '' got <"$cap_file"
    while [ "${got%$'\n'}" != "$got" ]; do got=${got%$'\n'}; done
    return "$rc"
}

stop=0
stop_code=130
child=""
on_signal() { # exit code to use
    stop=1
    stop_code=$1
    if [ -n "$child" ]; then kill -TERM "$child" 2>/dev/null; fi
}
trap 'on_signal 130' INT
trap 'on_signal 143' TERM
trap 'on_signal 129' HUP

stopped() {
    local n_done resume
    capture count_done
    n_done=$got
    capture resume_cmd
    resume=$got
    say "interrupted: $measured_now point(s) measured in this run, $n_done in all in $out/decode.jsonl"
    say "to resume: $resume"
    exit "$stop_code"
}

# runs "$@" in the background (so a signal is handled at once: the child
# gets SIGTERM, which gpt2-bench decode takes as a request to stop) and
# waits; the exit status is in $rc
run_child() {
    "$@" 9>&- &
    child=$!
    while :; do
        wait "$child"
        rc=$?
        if [ "$stop" = 1 ] && kill -0 "$child" 2>/dev/null; then
            kill -TERM "$child" 2>/dev/null
            continue
        fi
        break
    done
    child=""
}

count_done() { "$bench" report --dir "$out" --point-passes 2>/dev/null 9>&- | wc -l | tr -d ' '; }

# ---- the machine, once per thread count ------------------------------------------------

quick=()
[ "${GPT2_SWEEP_QUICK_MACHINE:-0}" = 1 ] && quick=(--quick)
measured_now=0

measure_machine() { # file [threads]
    local file=$1 tflag=()
    [ $# -ge 2 ] && tflag=(--threads "$2")
    say "machine: measuring (or reusing $cache/machine-<host>-t<T>.json) into $file"
    run_child "$bench" machine ${tflag[@]+"${tflag[@]}"} ${quick[@]+"${quick[@]}"} --results "$cache" --json "$file" >/dev/null
    [ "$stop" = 1 ] && stopped
    [ "$rc" = 0 ] || die "$rc" "gpt2-bench machine failed (see above); nothing was measured yet"
}

machine_threads() { "$bench" report --dir "$out" --machine-threads 9>&-; }

if [ ! -s "$out/machine.json" ]; then
    if [ -z "$threads" ]; then
        measure_machine "$out/machine.json"
    else
        measure_machine "$out/machine.json" "${threads%% *}"
    fi
else
    say "machine: reusing $out/machine.json"
fi
capture machine_threads || die 1 "$out/machine.json is not usable (see above): remove it and rerun"
mt=$got
[ -n "$threads" ] || threads=$mt
machine_file() { # T
    if [ "$1" = "$mt" ]; then echo "$out/machine.json"; else echo "$out/machine-t$1.json"; fi
}
for T in $threads; do
    capture machine_file "$T"
    f=$got
    [ -s "$f" ] || measure_machine "$f" "$T"
done

# ---- the calibration, once per thread count and dtype and run folder -----------------------
# Measured anew for each run (a resumed run keeps its own): a calibration
# reused from an earlier sweep of the same revision holds that sweep's
# minutes, and this host's bandwidth moves by a quarter between minutes
# (docs/method.md, "What it does not model").

calib_file() { echo "$out/calib-t$1-$2.json"; } # T dtype

for T in $threads; do
    for d in $dtypes; do
        capture calib_file "$T" "$d"
        f=$got
        [ -s "$f" ] && continue
        say "calibrate: T=$T $d: timing each operator alone into $f (and $cache/calib-<host>-t$T-$d-f32.json)"
        run_child "$bench" calibrate "${src[@]}" --threads "$T" --dtype "$d" ${quick[@]+"${quick[@]}"} \
            --remeasure --results "$cache" --json "$f" >/dev/null
        [ "$stop" = 1 ] && stopped
        [ "$rc" = 0 ] || die "$rc" "gpt2-bench calibrate failed (see above); nothing was measured yet"
    done
done

# ---- the grid ------------------------------------------------------------------------------

capture "$bench" report --dir "$out" --point-passes 9>&- || die 1 "cannot read $out/decode.jsonl (see above)"
done_list=$got
pending=()
total=0
for ((p = 1; p <= passes; p++)); do # pass-major: every point once, then again
    for T in $threads; do
        for d in $dtypes; do
            for S in $contexts; do
                for B in $batches; do
                    total=$((total + 1))
                    case "
$done_list
" in
                    *"
$B $S $T $d $p
"*) ;;
                    *) pending+=("$B $S $T $d $p") ;;
                    esac
                done
            done
        done
    done
done
already=$((total - ${#pending[@]}))
if [ "$already" -gt 0 ]; then
    say "$already of $total points already in $out/decode.jsonl; measuring the other ${#pending[@]}"
else
    say "measuring $total point(s) into $out"
fi

fmt_dur() { # milliseconds
    local ms=$1 s=$(($1 / 1000))
    if [ "$ms" -lt 1000 ]; then echo "$ms ms"
    elif [ "$ms" -lt 10000 ]; then echo "$((ms / 1000)).$((ms % 1000 / 100)) s"
    elif [ "$s" -lt 60 ]; then echo "$s s"
    elif [ "$s" -lt 3600 ]; then echo "$((s / 60)) min $((s % 60)) s"
    else echo "$((s / 3600)) h $((s % 3600 / 60)) min"
    fi
}

# Time left: each point's wall time fitted as a + b * B * (S + 128) over the
# points measured so far (model load and warm-up, plus work growing with B and S).
obs=""
eta() { # remaining point keys as arguments
    local rem="" p b s
    for p in "$@"; do
        read -r b s _ <<<"$p"
        rem="$rem $((b * (s + 128)))"
    done
    printf '%s' "$obs" | awk -v rem="$rem" '
        NF == 2 { n++; sw += $1; st += $2; sww += $1 * $1; swt += $1 * $2 }
        END {
            if (n == 0) { print -1; exit }
            mw = sw / n; mt = st / n; var = sww / n - mw * mw
            b = var > 0 ? (swt / n - mw * mt) / var : 0; a = mt - b * mw
            if (b < 0) { b = 0; a = mt }
            if (a < 0) { a = 0; b = st / sw }
            k = split(rem, r, " "); s = 0
            for (i = 1; i <= k; i++) s += a + b * r[i]
            printf "%d\n", s + 0.5
        }'
}

record_skip() { # B S T dtype reason
    local f="$out/skipped.tsv" tmpf="$out/.skipped.tsv.$$" reason=${5//$'\t'/ }
    reason=${reason//$'\n'/ }
    {
        if [ -s "$f" ]; then
            awk -F '\t' -v b="$1" -v s="$2" -v t="$3" -v d="$4" '!($1 == b && $2 == s && $3 == t && $4 == d)' "$f"
        else
            printf '# batch\tcontext\tthreads\tdtype\treason (points scripts/sweep.sh could not measure)\n'
        fi
        printf '%s\t%s\t%s\t%s\t%s\n' "$1" "$2" "$3" "$4" "$reason"
    } >"$tmpf" || die 1 "cannot write $tmpf"
    mv -f "$tmpf" "$f" || die 1 "cannot write $f"
}

unskip() { # B S T dtype: a point measured after all leaves skipped.tsv
    local f="$out/skipped.tsv" tmpf="$out/.skipped.tsv.$$"
    [ -s "$f" ] || return 0
    awk -F '\t' -v b="$1" -v s="$2" -v t="$3" -v d="$4" '!($1 == b && $2 == s && $3 == t && $4 == d)' "$f" >"$tmpf" &&
        mv -f "$tmpf" "$f"
}

n_skipped=0
i=$already
for k in "${!pending[@]}"; do
    [ "$stop" = 1 ] && stopped
    read -r B S T d p <<<"${pending[$k]}"
    i=$((i + 1))
    tag="[$i/$total] B=$B S=$S T=$T $d"
    [ "$passes" -gt 1 ] && tag="$tag pass $p"
    tmp="$out/.point.$$.jsonl"
    err="$out/.point.$$.err"
    rm -f "$tmp" "$err"
    capture machine_file "$T"
    mfile=$got
    capture calib_file "$T" "$d"
    cfile=$got
    t0_us=${EPOCHREALTIME//[!0-9]/}
    run_child "$bench" decode "${src[@]}" --batch "$B" --context "$S" --threads "$T" --dtype "$d" \
        ${extra[@]+"${extra[@]}"} --machine "$mfile" --calibration "$cfile" \
        --pass "$p" --json "$tmp" --quiet >/dev/null 2>"$err"
    t1_us=${EPOCHREALTIME//[!0-9]/}
    capture tail -n 1 "$err" 2>/dev/null
    msg=$got
    msg=${msg#gpt2-bench: }
    # a whole record (not an interrupted one) is kept even when a signal came
    # just after it was written; report --describe refuses anything else
    desc=""
    if [ -s "$tmp" ] && capture "$bench" report --describe "$tmp" 2>/dev/null 9>&-; then desc=$got; fi
    if [ -n "$desc" ]; then
        # a line cut short by an earlier kill must not swallow this record
        last=""
        if [ -s "$out/decode.jsonl" ]; then
            capture tail -c 1 "$out/decode.jsonl"
            last=$got
        fi
        if [ -n "$last" ]; then
            printf '\n' >>"$out/decode.jsonl"
        fi
        cat "$tmp" >>"$out/decode.jsonl" || die 1 "cannot append to $out/decode.jsonl: check the disk"
        unskip "$B" "$S" "$T" "$d"
        measured_now=$((measured_now + 1))
    fi
    rm -f "$tmp" "$err"
    [ "$stop" = 1 ] && stopped
    if [ -n "$desc" ]; then
        ms=$(((t1_us - t0_us) / 1000))
        obs="$obs$((B * (S + 128))) $ms
"
        capture eta "${pending[@]:$((k + 1))}"
        left=$got
        capture fmt_dur "$ms"
        took=$got
        line="$tag: $desc, in $took"
        if [ $((k + 1)) -lt "${#pending[@]}" ] && [ "$left" -ge 0 ]; then
            capture fmt_dur "$left"
            left_text=$got
            line="$line; about $left_text left"
        fi
        say "$line"
    elif [ "$rc" = 0 ]; then
        die 1 "$tag: gpt2-bench decode exited 0 but wrote no valid record; the sweep stops"
    elif [ "$rc" = 2 ] && printf '%s' "$msg" | grep -qiE 'memory|n_ctx'; then
        record_skip "$B" "$S" "$T" "$d" "$msg"
        n_skipped=$((n_skipped + 1))
        say "$tag: skipped: $msg"
    else
        say "$tag: gpt2-bench decode failed (exit $rc): ${msg:-no message}"
        say "the sweep stops; $measured_now point(s) measured in this run are kept in $out/decode.jsonl"
        capture resume_cmd
        resume=$got
        say "after fixing the cause, resume with: $resume"
        exit "$rc"
    fi
done

# ---- report and plots -------------------------------------------------------------------------

say "grid done: $measured_now measured now, $already measured before, $n_skipped skipped"
capture count_done
n_done=$got
if [ "$n_done" = 0 ]; then
    die 1 "no point could be measured (the reasons are in $out/skipped.tsv): try smaller batches or contexts"
fi
# a signal during report or plot ends the sweep as interrupted (the records
# are whole; a rerun writes the report), not as a failure
"$bench" report --dir "$out" >&2 9>&- || {
    [ "$stop" = 1 ] && stopped
    die 1 "gpt2-bench report --dir $out failed (see above); the records are intact"
}
plots="plot/throughput.png, plot/roofline.png, plot/efficiency.png, plot/calibrated.png (and .svg)"
if command -v gnuplot >/dev/null 2>&1; then
    "$here/plot" "$out" >&2 9>&- || {
        [ "$stop" = 1 ] && stopped
        die 1 "scripts/plot $out failed (see above); the records and summary are intact"
    }
else
    say "gnuplot is not installed, so no plots: sudo apt-get install gnuplot-nox, then scripts/plot $out"
    plots="no plots (gnuplot missing)"
fi
echo "results in $out/: summary.md, decode.jsonl, decode.csv, machine.json, $plots"
[ "$default_out" = 1 ] && echo "(also reachable as results/latest)"
exit 0
