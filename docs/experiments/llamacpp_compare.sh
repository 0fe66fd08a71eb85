#!/bin/bash
# gpt2-bench decode against llama.cpp's llama-batched-bench on the same
# weights, same machine, same minutes: for each round and each point, one
# llama.cpp run then gpt2-bench with the KV cache in f16 (llama.cpp's
# default cache type) and in f32 (the default sweep's), in turn; medians
# over rounds. From the repository root, after `make`:
#   bash docs/experiments/llamacpp_compare.sh PATH/TO/llama-batched-bench [ROUNDS] [f32|f16|int8]
# llama.cpp is not built here (not in Debian 12; its source is, for one, in
# PyPI's llama-cpp-python sdist under vendor/llama.cpp: cmake -B build
# -DCMAKE_BUILD_TYPE=Release && cmake --build build --target llama-batched-bench).
# The weights: `gpt2-weights init --model gpt2 --seed 1`, converted by
# docs/experiments/hf_to_gguf_gpt2.py (needs pip's numpy and gguf); int8 is
# llama.cpp's q8_0 (blocks of 32, 1.0625 bytes per weight) against gpt2-bench's
# int8 (a scale per output channel).
# Points: the issue-5 table, prompt 128 with B 1..64 and prompt 512 with
# B 1..16, 64 generated tokens each (llama.cpp's S_TG, contexts P..P+64);
# gpt2-bench decodes 3 x 32 steps at contexts P+20..P+52 after 4 warm-up steps.
# Writes the raw records and table.md into a results/llamacpp-* folder;
#   bash docs/experiments/llamacpp_compare.sh --table DIR   prints DIR's table again.
# THREADS (default 2) sets both programs' threads. gpt2-bench uses the host's
# machine file (results/machine-<host>-t<T>.json): measure it first
# (gpt2-bench machine), or the first point's minute measures it.
set -euo pipefail

table() { # DIR: the medians over rounds, as a Markdown table
    python3 - "$1" <<'PY'
import json, sys, statistics as st
out = sys.argv[1]
def records(path):  # a run cut short may end in a partial line: skipped
    out = []
    for line in open(path):
        try:
            out.append(json.loads(line))
        except ValueError:
            pass
    return out
ll = records(f"{out}/llamacpp.jsonl")
gb = records(f"{out}/gpt2bench.jsonl")
print("| prompt | B | llama.cpp tok/s | gpt2-bench kv f16 | ratio | gpt2-bench kv f32 | ratio | roofline (kv f16) | eff. llama.cpp | eff. gpt2-bench f16 |")
print("|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|")
nr = []
for pp, b in sorted({(x["pp"], x["pl"]) for x in ll}):
    lr = {x["round"]: x["speed_tg"] for x in ll if x["pp"] == pp and x["pl"] == b}
    g = {kv: {x["pass"]: x for x in gb if x["prompt"] == pp and x["batch"] == b and x["kv_dtype"] == kv} for kv in ("f16", "f32")}
    rounds = sorted(set(lr) & set(g["f16"]) & set(g["f32"]))
    med = lambda v: st.median(v) if v else float("nan")
    l = med([lr[r] for r in rounds])
    t16 = med([g["f16"][r]["tok_s"] for r in rounds])
    t32 = med([g["f32"][r]["tok_s"] for r in rounds])
    q16 = med([g["f16"][r]["tok_s"] / lr[r] for r in rounds])
    q32 = med([g["f32"][r]["tok_s"] / lr[r] for r in rounds])
    roof = med([g["f16"][r]["predicted_tok_s"] for r in rounds])
    print(f"| {pp} | {b} | {l:.1f} | {t16:.1f} | {q16:.2f} | {t32:.1f} | {q32:.2f} | {roof:.1f} | {l / roof:.2f} | {t16 / roof:.2f} |")
    nr.append(len(rounds))
print(f"\nratio: median over {min(nr)}-{max(nr)} rounds of gpt2-bench / llama.cpp in the same round")
PY
}

main() {
    llama=$1 rounds=${2:-3} dtype=${3:-f32}
    [[ $rounds =~ ^[1-9][0-9]*$ ]] || { echo "llamacpp_compare: ROUNDS '$rounds' is not a whole number >= 1" >&2; exit 2; }
    [ -x "$llama" ] || { echo "llamacpp_compare: '$llama' is not an executable llama-batched-bench: give its path" >&2; exit 2; }
    [ -x build/gpt2-bench ] || { echo "llamacpp_compare: build/gpt2-bench is missing: run make first, from the repository root" >&2; exit 2; }
    case $dtype in f32 | f16) gtype=$dtype ;; int8) gtype=q8_0 ;; *) echo "llamacpp_compare: dtype '$dtype' is not f32, f16 or int8" >&2; exit 2 ;; esac
    threads=${THREADS:-2}
    tmp=$(mktemp -d /tmp/llamacpp_compare.XXXXXX)
    trap 'rm -rf "$tmp"' EXIT
    out=results/llamacpp-$(hostname -s)-$(date -u +%Y%m%d-%H%M%S)-$dtype
    build/gpt2-weights init --model gpt2 --seed 1 --out "$tmp/hf" >/dev/null
    python3 docs/experiments/hf_to_gguf_gpt2.py "$tmp/hf" "$tmp/gpt2.gguf" "$gtype" >/dev/null
    mkdir -p "$out"
    {
        echo "date_utc $(date -u +%FT%TZ)"
        echo "commit $(git rev-parse --short HEAD 2>/dev/null || echo unknown)"
        echo "llama $llama"
        "$llama" --version 2>&1 | grep -i -E 'version|built' | head -2 || true
        echo "OPENBLAS_CORETYPE=${OPENBLAS_CORETYPE:-} OPENBLAS_L2_SIZE=${OPENBLAS_L2_SIZE:-} threads=$threads dtype=$dtype rounds=$rounds"
        grep -m1 'model name' /proc/cpuinfo || true
    } >"$out/context.txt"
    points="128:1 128:2 128:4 128:8 128:16 128:32 128:64 512:1 512:2 512:4 512:8 512:16"
    npts=$(wc -w <<<"$points")
    for r in $(seq 1 "$rounds"); do
        i=0
        for pt in $points; do
            pp=${pt%%:*} b=${pt##*:} i=$((i + 1))
            printf '\rround %d/%d, point %d/%d (prompt %d, B %d)   ' "$r" "$rounds" "$i" "$npts" "$pp" "$b" >&2
            if ! "$llama" -m "$tmp/gpt2.gguf" -c $((b * (pp + 64))) -b 2048 -ub 512 -npp "$pp" -ntg 64 \
                -npl "$b" -t "$threads" -fa on --output-format jsonl >"$tmp/ll.out" 2>"$out/llamacpp.err" ||
                ! grep -q '^{' "$tmp/ll.out"; then
                echo >&2
                echo "llamacpp_compare: llama-batched-bench gave no result at prompt $pp, B $b: see $out/llamacpp.err (the rounds so far: --table $out)" >&2
                exit 1
            fi
            grep '^{' "$tmp/ll.out" | sed "s/^{/{\"round\": $r, /" >>"$out/llamacpp.jsonl"
            for kv in f16 f32; do
                build/gpt2-bench decode --weights "$tmp/hf" --dtype "$dtype" --kv-dtype $kv \
                    --batch "$b" --context $((pp + 16)) --warmup 4 --steps 32 --reps 3 \
                    --threads "$threads" --probe 0 --quiet --pass "$r" --json - |
                    sed "s/^{/{\"prompt\": $pp, /" >>"$out/gpt2bench.jsonl"
            done
        done
    done
    echo >&2
    table "$out" | tee "$out/table.md"
    echo "wrote $out" >&2
}

# this case is read whole before it runs, so editing the file mid-run is safe
case ${1:-} in
-h | --help)
    sed -n "2,22p" "$0" | sed 's/^# \{0,1\}//'
    exit 0
    ;;
"")
    sed -n "2,22p" "$0" | sed 's/^# \{0,1\}//' >&2
    exit 2
    ;;
--table)
    [ -f "${2:-}/llamacpp.jsonl" ] || { echo "llamacpp_compare: --table needs a folder this script wrote" >&2; exit 2; }
    table "$2"
    exit
    ;;
*)
    main "$@"
    exit
    ;;
esac
