# lib_e2e.sh: what the shell end-to-end tests share, sourced from the
# repository root (tests/e2e_*.sh): the binary under test, the pass/fail
# counters and check(), and the exit when the binary is not built.
build=${GPT2_BUILD:-build}
bench=$build/gpt2-bench
export GPT2_BENCH="$bench" GPT2_SWEEP_QUICK_MACHINE=1
pass=0
fail=0
ok() { pass=$((pass + 1)); echo "ok - $1"; }
bad() { fail=$((fail + 1)); echo "FAIL - $1"; }
check() { # description command...
    d=$1
    shift
    if "$@"; then ok "$d"; else bad "$d"; fi
}

e2e_require_bench() { # the script's name
    if [ ! -x "$bench" ]; then
        echo "$1: $bench is not built (make first, or set GPT2_BUILD)"
        echo "$1: 0 passed, 1 failed"
        exit 1
    fi
}
