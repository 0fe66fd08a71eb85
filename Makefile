# gpt2-roofline: a plain Makefile. Objects and binaries go under $(BUILD).
#   make            build/gpt2-bench and build/gpt2-weights
#   make test       build and run every test
#   make check      the same tests built with ASan + UBSan (under build/asan), and
#                   docs/experiments checked to compile
#   make fuzz       the libFuzzer targets (clang); make fuzz-run FUZZ_SECONDS=N runs each
#   make memcheck   the end-to-end cmocka programs under valgrind (docs/robustness.md)
#   make bench      build, measure the machine, run the default sweep, plot
#   make V=1        show full command lines
BUILD ?= build
CC ?= cc
OPT ?= -O2
SAN ?=
OMPFLAG ?= -fopenmp
PKGS := openblas libcjson hwloc

ifeq ($(V),1)
Q :=
else
Q := @
endif

CFLAGS_COMMON = -std=c11 -D_GNU_SOURCE -Wall -Wextra -Wshadow -g $(OMPFLAG) -MMD -MP $(SAN) $(PKG_CFLAGS)
# recorded in every machine file (bench/context.c)
$(BUILD)/bench/context.o: CFLAGS += -DBUILD_CFLAGS='"$(OPT) (kernels -O3) $(SAN)"'
LDLIBS = $(PKG_LIBS) -lm
LDFLAGS += $(OMPFLAG) $(SAN)

KERNEL_SRCS := $(wildcard kernels/*.c)
MODEL_SRCS := $(wildcard model/*.c)
BENCH_SRCS := $(filter-out bench/main.c,$(wildcard bench/*.c))
WTOOLS_SRCS := $(filter-out weights_tools/main.c,$(wildcard weights_tools/*.c))
LIB_SRCS := $(KERNEL_SRCS) $(MODEL_SRCS) $(BENCH_SRCS) $(WTOOLS_SRCS)
LIB_OBJS := $(LIB_SRCS:%.c=$(BUILD)/%.o)
TEST_SRCS := $(wildcard tests/test_*.c)
TEST_BINS := $(TEST_SRCS:tests/%.c=$(BUILD)/tests/%)
TEST_SCRIPTS := $(wildcard tests/e2e_*.sh)

FUZZ_TARGETS := safetensors config cli results
FUZZ_SECONDS ?= 60

# make memcheck: the end-to-end cmocka programs under valgrind (plain build);
# any invalid access, definite, indirect or possible leak fails it, except
# the libraries' thread pools named in tests/valgrind.supp.
MEMCHECK_TESTS := test_commands test_decode test_robustness
VALGRIND := valgrind --tool=memcheck --error-exitcode=99 --leak-check=full \
    --show-leak-kinds=definite,indirect,possible --errors-for-leak-kinds=definite,indirect,possible \
    --suppressions=tests/valgrind.supp --num-callers=30

.PHONY: all test check bench clean deps fuzz fuzz-run memcheck experiments
all: $(BUILD)/gpt2-bench $(BUILD)/gpt2-weights

# The system packages, found through pkg-config or installed first.
ifeq ($(filter clean,$(MAKECMDGOALS)),)
-include $(BUILD)/pkg.mk
endif
$(BUILD)/pkg.mk: scripts/install-deps.sh
	$(Q)sh scripts/install-deps.sh
	$(Q)mkdir -p $(@D)
	$(Q)printf 'PKG_CFLAGS := %s\nPKG_LIBS := %s\n' "$$(pkg-config --cflags $(PKGS))" \
	    "$$(pkg-config --libs $(PKGS))" > $@.tmp && mv $@.tmp $@
	$(Q)printf 'CMOCKA_LIBS := %s\n' "$$(pkg-config --libs cmocka)" >> $@
deps: $(BUILD)/pkg.mk

# kernels are the hot path: built with -O3
$(BUILD)/kernels/%.o: kernels/%.c | $(BUILD)/pkg.mk
	@mkdir -p $(@D)
	@$(if $(Q),echo "  CC      $<")
	$(Q)$(CC) $(CFLAGS_COMMON) -O3 $(CFLAGS) -c $< -o $@

$(BUILD)/%.o: %.c | $(BUILD)/pkg.mk
	@mkdir -p $(@D)
	@$(if $(Q),echo "  CC      $<")
	$(Q)$(CC) $(CFLAGS_COMMON) $(OPT) $(CFLAGS) -c $< -o $@

$(BUILD)/gpt2-bench: $(BUILD)/bench/main.o $(LIB_OBJS)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) $(LDFLAGS) $^ $(LDLIBS) -o $@

$(BUILD)/gpt2-weights: $(BUILD)/weights_tools/main.o $(LIB_OBJS)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) $(LDFLAGS) $^ $(LDLIBS) -o $@

$(BUILD)/tests/%: $(BUILD)/tests/%.o $(LIB_OBJS)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) $(LDFLAGS) $^ $(LDLIBS) $(CMOCKA_LIBS) -o $@

# Tests run from the repository root; end-to-end tests call build binaries.
test: all $(TEST_BINS)
	$(Q)GPT2_BUILD=$(BUILD) sh tests/run-all.sh $(TEST_BINS) $(TEST_SCRIPTS)

check: experiments
	$(Q)$(MAKE) --no-print-directory BUILD=build/asan OPT=-O1 \
	    SAN="-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined" test

# The A/B harnesses of docs/experiments are built by hand (each file says
# how), not by the tests: here they are only checked to still compile
# against the kernels, and the scripts to parse, so they do not rot.
experiments: $(BUILD)/pkg.mk
	$(Q)for f in docs/experiments/*.c; do \
	    $(CC) -fsyntax-only -Werror $(filter-out -MMD -MP,$(CFLAGS_COMMON)) -Ikernels $$f || exit 1; done
	$(Q)for f in docs/experiments/*.sh; do bash -n $$f || exit 1; done
	$(Q)if command -v python3 >/dev/null; then for f in docs/experiments/*.py; do \
	    python3 -c 'import ast, sys; ast.parse(open(sys.argv[1]).read(), sys.argv[1])' $$f || exit 1; done; \
	else echo "experiments: python3 not found, docs/experiments/*.py not checked"; fi

# libFuzzer targets (clang), library built with ASan + UBSan; seeds in
# tests/fuzz/seeds/<target>. fuzz-run runs each for FUZZ_SECONDS.
fuzz:
	$(Q)$(MAKE) --no-print-directory BUILD=build/fuzz CC=clang OPT=-O1 OMPFLAG=-fopenmp=libgomp \
	    SAN="-fsanitize=fuzzer-no-link,address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined" \
	    $(FUZZ_TARGETS:%=build/fuzz/fuzz/fuzz_%)

$(BUILD)/fuzz/fuzz_%: tests/fuzz/fuzz_%.c $(LIB_OBJS)
	@mkdir -p $(@D)
	@$(if $(Q),echo "  FUZZ    $@")
	$(Q)$(CC) $(CFLAGS_COMMON) $(OPT) -fsanitize=fuzzer $< $(LIB_OBJS) $(LDLIBS) -o $@

fuzz-run: fuzz
	$(Q)for t in $(FUZZ_TARGETS); do \
	    mkdir -p build/fuzz/corpus/$$t; log=build/fuzz/fuzz_$$t.log; \
	    echo "== fuzz_$$t for $(FUZZ_SECONDS) s"; \
	    if build/fuzz/fuzz/fuzz_$$t -max_total_time=$(FUZZ_SECONDS) -timeout=10 -rss_limit_mb=2048 \
	        -print_final_stats=1 build/fuzz/corpus/$$t tests/fuzz/seeds/$$t > $$log 2>&1; then \
	        grep -E "^stat::(number_of_executed_units|average_exec_per_sec|new_units_added)" $$log; \
	    else tail -40 $$log; echo "fuzz_$$t failed: see $$log"; exit 1; fi; \
	done

memcheck: all $(MEMCHECK_TESTS:%=$(BUILD)/tests/%)
	$(Q)for t in $(MEMCHECK_TESTS); do \
	    log=$(BUILD)/memcheck-$$t.log; echo "== valgrind $$t"; \
	    if GPT2_VALGRIND=1 $(VALGRIND) --log-file=$$log $(BUILD)/tests/$$t > $$log.out 2>&1; then \
	        grep -E "ERROR SUMMARY|definitely lost|possibly lost" $$log | sed 's/^==[0-9]*== /  /'; \
	    else tail -60 $$log.out; tail -80 $$log; echo "valgrind $$t failed: see $$log"; exit 1; fi; \
	done

bench: all
	$(Q)sh scripts/install-deps.sh gnuplot-nox
	$(Q)GPT2_BENCH=$(BUILD)/gpt2-bench sh scripts/sweep.sh --passes 3 --reps 2

clean:
	rm -rf build

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)
