#!/bin/sh
# e2e_robustness: the failure paths of the gpt2-bench binary as a process:
# its exit status (2 bad input, 1 a failure while running, never a signal
# or a core dump) and stderr (one line, "gpt2-bench: ...", naming the
# input). The cases that need a real process, a signal or a file-size limit
# are here; tests/test_robustness.c tries the bulk of the bad inputs
# in-process.
#   - bad input of every command: exit 2 and one line
#   - a folder without config.json; NaN/Inf weights (a warning, exit 0)
#   - a KV cache bigger than this machine: refused in well under 10 s
#   - outputs that cannot be written; a full disk (/dev/full through a link,
#     standard output redirected to it); a file-size limit (ulimit -f) that
#     stops a write half-way: no partial file, no half line, no temporary
#   - SIGINT and SIGTERM during a long decode: exit 1 with a message, the
#     JSONL holds whole lines only, the point measured so far marked
#     "interrupted": true
#   - the checkpoint truncated while decode has it mapped: one line, exit 1
#   - sweeps killed with SIGINT, SIGTERM and SIGKILL at random moments, to
#     the script or its whole process group, then rerun: exactly one valid
#     record per point, every time
# Run from the repository root; the binaries are in $GPT2_BUILD (default build).
set -u
. tests/lib_e2e.sh
e2e_require_bench e2e_robustness
tmp=$(mktemp -d "${TMPDIR:-/tmp}/e2e_robustness.XXXXXX") || exit 1
bg=""
pgid=""
cleanup() {
    if [ -n "$bg" ]; then kill -KILL "$bg" 2>/dev/null; fi
    if [ -n "$pgid" ]; then kill -KILL "-$pgid" 2>/dev/null; fi
    rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

fixture=tests/fixtures/gpt2-tiny
machine=$tmp/machine.json
printf '{"read_gbs": 20.0, "peak_gflops": 100.0, "copy_gbs": 15.0, "triad_gbs": 16.0}\n' >"$machine"

# expect CODE NEEDLE ARGS...: gpt2-bench ARGS exits CODE with exactly one
# line on stderr, "gpt2-bench: ...", that holds NEEDLE.
expect() {
    want=$1
    needle=$2
    shift 2
    "$bench" "$@" >"$tmp/out" 2>"$tmp/err"
    rc=$?
    lines=$(wc -l <"$tmp/err" | tr -d ' ')
    if [ "$rc" = "$want" ] && [ "$lines" = 1 ] && grep -q '^gpt2-bench: ' "$tmp/err" &&
        grep -qF -- "$needle" "$tmp/err"; then
        ok "exit $want, one line naming '$needle': $*"
    else
        bad "exit $want, one line naming '$needle': $* (got exit $rc, $lines lines: $(head -c 300 "$tmp/err"))"
    fi
}
n_lines() { if [ -f "$1" ]; then wc -l <"$1" | tr -d ' '; else echo 0; fi; }
no_temporaries() { test -z "$(find "$1" -name '*.tmp*' -o -name '.point.*')"; }
dev_full_ok() { test -c /dev/full; }

# ---- bad input: exit 2, one line ------------------------------------------------------------
expect 2 "--batch" decode --weights $fixture --batch 0 --context 4 --machine "$machine"
expect 2 "--context" decode --weights $fixture --batch 1 --context x --machine "$machine"
expect 2 "--steps" decode --weights $fixture --batch 1 --context 4 --steps -1 --machine "$machine"
expect 2 "--reps" decode --weights $fixture --batch 1 --context 4 --reps 99999999999999999999 --machine "$machine"
expect 2 "n_ctx" decode --weights $fixture --batch 1 --context 30 --machine "$machine"
expect 2 "did you mean --batch" decode --weights $fixture --bacth 1 --context 4
expect 2 "--prompt" prefill --weights $fixture --batch 1 --prompt 0
expect 2 "n_ctx" prefill --weights $fixture --batch 1 --prompt 33 --machine "$machine"
expect 2 "--bandwidth" predict --model gpt2 --batch 1 --context 4 --bandwidth nan --flops 10
expect 2 "n_ctx" predict --model gpt2 --batch 1 --context 2048 --bandwidth 10 --flops 10
expect 2 "--steps" generate --weights $fixture --tokens 1,2 --steps 1.5
expect 2 "vocabulary" generate --weights $fixture --tokens 1,101 --steps 1
expect 2 "--tokens" logits --weights $fixture --tokens "1,2;3" --out "$tmp/l.npy"
expect 2 "--threads" machine --threads 0
expect 2 "--mfu" calc --model gpt2 --mfu 2
expect 2 "window" calc --model gpt2 --context 4096
expect 2 "did you mean 'decode'" decoed
expect 2 "did you mean 'calc'" CALC
expect 2 "no command given"
expect 2 "--help" frobnicate

# ---- checkpoints ------------------------------------------------------------------------------
mkdir "$tmp/noconfig"
cp $fixture/model.safetensors "$tmp/noconfig/"
expect 2 "config.json" info --weights "$tmp/noconfig"
expect 2 "config.json" decode --weights "$tmp/noconfig" --batch 1 --context 4 --machine "$machine"
mkdir "$tmp/badconfig"
cp $fixture/model.safetensors "$tmp/badconfig/"
sed 's/"n_head": 4/"n_head": 3/' $fixture/config.json >"$tmp/badconfig/config.json"
expect 2 "n_head 3" info --weights "$tmp/badconfig"
sed 's/"n_layer": 2/"n_layer": "two"/' $fixture/config.json >"$tmp/badconfig/config.json"
expect 2 "n_layer" logits --weights "$tmp/badconfig" --tokens 1 --out "$tmp/l.npy"
# NaN in the weights: a float32 NaN over the first value of wte.weight (its
# data_offsets from the header; the data starts after the 8-byte length and
# the header)
mkdir "$tmp/nan"
cp $fixture/config.json $fixture/model.safetensors "$tmp/nan/"
hlen=$(od -An -tu4 -N4 "$tmp/nan/model.safetensors" | tr -d ' ')
wte=$(head -c $((8 + hlen)) "$tmp/nan/model.safetensors" | tail -c "$hlen" |
    sed -n 's/.*"wte.weight":{[^}]*"data_offsets":\[\([0-9]*\),.*/\1/p')
printf '\377\377\377\177' | dd of="$tmp/nan/model.safetensors" bs=1 seek=$((8 + hlen + wte)) conv=notrunc 2>/dev/null
"$bench" info --weights "$tmp/nan" >"$tmp/out" 2>"$tmp/err"
rc=$?
check "NaN weights load: exit 0 (got $rc)" test "$rc" = 0
check "with one warning line on stderr" test "$(n_lines "$tmp/err")" = 1
check "that says NaN/Inf and names the file and tensor" \
    grep -q "^gpt2-bench: warning: .*nan/model.safetensors holds 1 NaN/Inf values (first in wte.weight)" "$tmp/err"

# ---- resources ------------------------------------------------------------------------------------
start=$(date +%s%N)
expect 2 "needs" decode --model gpt2 --batch 65536 --context 1000 --results "$tmp/never"
ms=$((($(date +%s%N) - start) / 1000000))
check "a KV cache past this machine's memory is refused fast (${ms} ms < 10 s)" test "$ms" -lt 10000
check "with the numbers: the KV cache, what is needed and what is available" \
    grep -q "a [0-9.]* GiB KV cache) needs [0-9.]* GiB but only [0-9.]* GiB of memory is available" "$tmp/err"
check "and before anything is measured" test ! -e "$tmp/never"
: >"$tmp/a-file"
expect 2 "is not a folder" logits --weights $fixture --tokens 1 --out "$tmp/a-file/out.npy"
expect 2 "is not a folder" decode --weights $fixture --batch 1 --context 4 --machine "$machine" --json "$tmp/a-file/x.jsonl"
expect 2 "is not a folder" machine --quick --results "$tmp" --json "$tmp/a-file/m.json"
expect 2 "does not exist" logits --weights $fixture --tokens 1 --out /proc/gpt2-no-such/out.npy
check "nothing was created under a file" test ! -e "$tmp/a-file/out.npy"

# a device as the output: written in place (a pipe cannot be fsync'd)
"$bench" decode --weights $fixture --batch 1 --context 4 --steps 2 --reps 1 --warmup 0 --results "$tmp" --machine "$machine" \
    --quiet --json /dev/stdout 2>"$tmp/err" | cat >"$tmp/piped.jsonl"
check "decode --json /dev/stdout into a pipe: one record, nothing on stderr" \
    test "$(n_lines "$tmp/piped.jsonl")" = 1 -a ! -s "$tmp/err"
if dev_full_ok; then
    ln -s /dev/full "$tmp/full"
    expect 1 "No space left" logits --weights $fixture --tokens "1,2;3,4" --out "$tmp/full"
    expect 1 "No space left" decode --weights $fixture --batch 1 --context 4 --steps 2 --reps 1 --warmup 0 \
        --machine "$machine" --quiet --json "$tmp/full"
    # machine reports its progress on stderr too: the message is the one "gpt2-bench:" line, the last
    "$bench" machine --quick --results "$tmp" --json "$tmp/full" >/dev/null 2>"$tmp/err"
    rc=$?
    check "machine --json on a full disk: exit 1 (got $rc)" test "$rc" = 1
    check "  with one gpt2-bench line, the last, naming the file" test "$(grep -c '^gpt2-bench: ' "$tmp/err")" = 1 -a \
        -n "$(tail -n 1 "$tmp/err" | grep "^gpt2-bench: $tmp/full: write failed (No space left")"
    check "the link to /dev/full is still a link" test -L "$tmp/full"
    check "and /dev/full still a device" dev_full_ok
    "$bench" info --model gpt2 >/dev/full 2>"$tmp/err"
    rc=$?
    check "standard output on a full disk: exit 1 (got $rc)" test "$rc" = 1
    check "with one line that says so" grep -q "^gpt2-bench: writing to standard output failed (No space left" "$tmp/err"
    "$bench" decode --weights $fixture --batch 1 --context 4 --steps 2 --reps 1 --warmup 0 --results "$tmp" --machine "$machine" \
        --quiet --json - >/dev/full 2>"$tmp/err"
    rc=$?
    check "decode --json - on a full disk: exit 1 (got $rc)" test "$rc" = 1
else
    echo "# /dev/full is not a character device here: full-disk cases skipped"
fi

# A file-size limit stops a write half-way, as a disk filling up does: the
# commands report it and leave no partial file, no half line, no temporary.
# The shell's ulimit -f unit (512 or 1024 bytes) is measured first.
(
    ulimit -f 1
    trap '' XFSZ
    head -c 2000 /dev/zero >"$tmp/unit" 2>/dev/null
)
unit=$(wc -c <"$tmp/unit" | tr -d ' ')
limited() { # blocks command...: runs with the file-size limit, SIGXFSZ ignored
    blocks=$1
    shift
    (
        ulimit -f "$blocks"
        trap '' XFSZ
        exec "$@"
    )
}
mkdir "$tmp/lim"
# 4 x 8 x 101 float32 = 12928 bytes of logits, over a 4 KiB limit
limited $((4096 / unit)) "$bench" logits --weights $fixture --tokens "1,2,3,4,5,6,7,8;1,2,3,4,5,6,7,8;1,2,3,4,5,6,7,8;1,2,3,4,5,6,7,8" \
    --out "$tmp/lim/l.npy" >/dev/null 2>"$tmp/err"
rc=$?
check "logits past the file-size limit: exit 1 (got $rc)" test "$rc" = 1
check "naming the file" grep -q "l.npy: write failed (File too large)" "$tmp/err"
check "and no partial .npy nor temporary" test -z "$(ls "$tmp/lim")"
run_point() { # blocks json: one decode point appended to json under the limit
    limited "$1" "$bench" decode --weights $fixture --batch 1 --context 4 --steps 2 --reps 1 --warmup 0 --results "$tmp" \
        --machine "$machine" --quiet --json "$2" >/dev/null 2>"$tmp/err"
}
run_point 100000 "$tmp/lim/d.jsonl"
cp "$tmp/lim/d.jsonl" "$tmp/one-record"
size=$(wc -c <"$tmp/lim/d.jsonl" | tr -d ' ')
run_point $((size / unit + 1)) "$tmp/lim/d.jsonl"
rc=$?
check "decode --json past the limit: exit 1 (got $rc)" test "$rc" = 1
check "saying no partial line was left" grep -q "d.jsonl: appending failed .*no partial line was left" "$tmp/err"
check "the JSONL is byte for byte what it was (one whole record)" cmp -s "$tmp/lim/d.jsonl" "$tmp/one-record"
run_point 1 "$tmp/lim/fresh.jsonl"
rc=$?
check "a first record that does not fit: exit 1 (got $rc), no file left" test "$rc" = 1 -a ! -e "$tmp/lim/fresh.jsonl"
limited 0 "$bench" decode --weights $fixture --batch 1 --context 4 --steps 2 --reps 1 --warmup 0 --results "$tmp" \
    --machine "$machine" --quiet --csv "$tmp/lim/d.csv" >/dev/null 2>"$tmp/err"
rc=$?
check "decode --csv past the limit: exit 1 (got $rc), no file left" test "$rc" = 1 -a ! -e "$tmp/lim/d.csv"
"$bench" machine --quick --results "$tmp" --json "$tmp/lim/machine.json" >/dev/null 2>&1
cp "$tmp/lim/machine.json" "$tmp/machine-ok.json"
limited 1 "$bench" machine --quick --results "$tmp" --json "$tmp/lim/m2.json" >/dev/null 2>"$tmp/err"
rc=$?
check "machine --json past the limit: exit 1 (got $rc), no file, no temporary" \
    test "$rc" = 1 -a ! -e "$tmp/lim/m2.json" -a -z "$(ls "$tmp/lim" | grep tmp)"
mkdir "$tmp/rep"
cp "$tmp/machine-ok.json" "$tmp/rep/machine.json"
cp "$tmp/one-record" "$tmp/rep/decode.jsonl"
limited 2 "$bench" report --dir "$tmp/rep" >/dev/null 2>"$tmp/err"
rc=$?
check "report past the limit: exit 1 (got $rc)" test "$rc" = 1
check "its summary.md not left half-written" test ! -e "$tmp/rep/summary.md"
check "no temporary left by report" no_temporaries "$tmp/rep"
check "the records untouched" cmp -s "$tmp/rep/decode.jsonl" "$tmp/one-record"

# ---- SIGINT / SIGTERM during a long decode ----------------------------------------------------------
# A grid of 4 points with endless repetitions: the signal lands in the first,
# once its progress line shows a repetition done (so the process is past its
# start, however loaded the machine). stderr then holds that progress line
# (carriage returns, no newline) and the one line of the message.
wait_progress() { # file: until a repetition is reported (at most 30 s)
    i=0
    while ! grep -q "rep [1-9]" "$1" 2>/dev/null && [ $i -lt 600 ]; do
        sleep 0.05
        i=$((i + 1))
    done
}
interrupt_decode() { # signal
    rm -f "$tmp/int.jsonl" "$tmp/int.err" # (the old stderr would look like progress)
    "$bench" decode --weights $fixture --batch 1,2 --context 4,8 --steps 4 --reps 100000 --warmup 0 --results "$tmp" \
        --machine "$machine" --json "$tmp/int.jsonl" >/dev/null 2>"$tmp/int.err" &
    bg=$!
    wait_progress "$tmp/int.err"
    sleep 0.2
    kill -"$1" "$bg"
    wait "$bg"
    rc=$?
    bg=""
    check "SIG$1 during decode: exit 1 (got $rc)" test "$rc" = 1
    check "SIG$1: one line on stderr saying it was interrupted" \
        test "$(n_lines "$tmp/int.err")" = 1 -a -n "$(grep 'gpt2-bench: decode: interrupted; the points measured so far were written' "$tmp/int.err")"
    check "SIG$1: the JSONL holds one whole line" test "$(n_lines "$tmp/int.jsonl")" = 1 -a \
        "$(tail -c 1 "$tmp/int.jsonl" | od -An -c | tr -d ' ')" = '\n'
    check "SIG$1: what was measured is marked \"interrupted\": true" grep -q '"interrupted":true' "$tmp/int.jsonl"
    "$bench" report --describe "$tmp/int.jsonl" >/dev/null 2>"$tmp/desc.err"
    check "SIG$1: the record reads back whole, as an interrupted one" \
        grep -q "int.jsonl line 1: B=1 S=4 was interrupted ([1-9][0-9]* repetitions); left out" "$tmp/desc.err"
}
interrupt_decode INT
interrupt_decode TERM

# ---- the checkpoint shrinks while mapped --------------------------------------------------------------
# The packed weights are copies, but the embeddings, LayerNorms and biases
# are read from the mapping at every step: the first read past the new end
# raises SIGBUS, which gpt2-bench turns into one line and exit 1.
shrink_during_decode() { # size [decode flags]: truncate to size while decode runs
    size=$1
    shift
    rm -rf "$tmp/shrink" "$tmp/bus.err"
    mkdir "$tmp/shrink"
    cp $fixture/config.json $fixture/model.safetensors "$tmp/shrink/"
    "$bench" decode --weights "$tmp/shrink" --batch 1 --context 4 --steps 4 --reps 100000 --warmup 0 --results "$tmp" \
        --machine "$machine" "$@" >/dev/null 2>"$tmp/bus.err" &
    bg=$!
    wait_progress "$tmp/bus.err"
    truncate -s "$size" "$tmp/shrink/model.safetensors"
    i=0
    while kill -0 "$bg" 2>/dev/null && [ $i -lt 100 ]; do
        sleep 0.1
        i=$((i + 1))
    done
    if kill -0 "$bg" 2>/dev/null; then kill -KILL "$bg"; fi
    wait "$bg"
    rc=$?
    bg=""
    check "checkpoint truncated to $size bytes under decode $*: exit 1, not a signal (got $rc)" test "$rc" = 1
    check "  with one line naming the file and what to do" test "$(n_lines "$tmp/bus.err")" = 1 -a \
        -n "$(grep "gpt2-bench: bus error reading the mapped file .*shrink/model.safetensors: .*rerun with the file left alone" "$tmp/bus.err")"
}
shrink_during_decode 0
shrink_during_decode 4096 --no-pack

# ---- sweeps killed at random moments, then rerun -------------------------------------------------------
# Each round: a sweep of a 2 x 2 grid is started in its own process group,
# killed after a random delay with a random signal sent to the script alone
# or to the whole group (Ctrl-C in a terminal signals the group; a crash or
# the OOM killer takes everything), resumed and killed again the same way,
# then resumed to the end. The folder must then hold exactly one valid
# record per point and no temporary.
rand() { # 0..$1-1
    echo $(($(od -An -N2 -tu2 /dev/urandom | tr -d ' ') % $1))
}
sweep_cmd="bash scripts/sweep.sh --weights $fixture --batches 1,2 --contexts 4,8 --steps 8 --reps 300"
kill_sweep_at_random() { # dir
    # SIGINT back to its default: a background job of sh starts with it ignored
    setsid sh -c "echo \$\$ >'$tmp/sweep.pid'; exec env --default-signal=INT $sweep_cmd --out '$1' \
        >'$tmp/sweep.out' 2>'$tmp/sweep.err'" &
    bg=$!
    i=0
    while [ ! -s "$tmp/sweep.pid" ] && [ $i -lt 100 ]; do sleep 0.02; i=$((i + 1)); done
    pgid=$(cat "$tmp/sweep.pid")
    rm -f "$tmp/sweep.pid"
    delay_ms=$((30 + $(rand 1300)))
    case $(rand 3) in 0) sig=INT ;; 1) sig=TERM ;; *) sig=KILL ;; esac
    if [ "$(rand 2)" = 0 ]; then target=group; else target=script; fi
    sleep "$((delay_ms / 1000)).$(printf '%03d' $((delay_ms % 1000)))"
    if [ "$target" = group ]; then kill -"$sig" "-$pgid" 2>/dev/null; else kill -"$sig" "$pgid" 2>/dev/null; fi
    wait "$bg"
    rc=$?
    # after SIGKILL of the script alone its running decode is an orphan: a
    # crash takes it too
    if [ "$sig" = KILL ]; then kill -KILL "-$pgid" 2>/dev/null; fi
    i=0
    while kill -0 "-$pgid" 2>/dev/null && [ $i -lt 200 ]; do sleep 0.05; i=$((i + 1)); done
    bg=""
    pgid=""
    echo "# round $round: SIG$sig to the $target after $delay_ms ms: exit $rc, $(n_lines "$1/decode.jsonl") line(s)"
}
one_record_per_point() { # dir
    "$bench" report --dir "$1" --points >"$tmp/points" 2>"$tmp/points.err" || return 1
    [ "$(wc -l <"$tmp/points" | tr -d ' ')" = 4 ] || return 1
    [ "$(sort -u "$tmp/points" | wc -l | tr -d ' ')" = 4 ] || return 1
    ! grep -q "measured again\|interrupted" "$tmp/points.err"
}
rounds=${GPT2_ROBUSTNESS_ROUNDS:-5}
round=1
while [ $round -le "$rounds" ]; do
    rdir=$tmp/sweeps/r$round
    mkdir -p "$tmp/sweeps"
    kill_sweep_at_random "$rdir"
    kill_sweep_at_random "$rdir"
    # shellcheck disable=SC2086  # $sweep_cmd is a word list
    $sweep_cmd --out "$rdir" >"$tmp/sweep.out" 2>"$tmp/sweep.err"
    rc=$?
    check "round $round: the resumed sweep exits 0 (got $rc)" test "$rc" = 0
    check "round $round: exactly one valid record per point" one_record_per_point "$rdir"
    check "round $round: no temporary left" no_temporaries "$rdir"
    check "round $round: the summary was written" test -s "$rdir/summary.md"
    round=$((round + 1))
done

echo "e2e_robustness: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
