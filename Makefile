# gpt2-roofline: a plain Makefile. Objects and binaries go under $(BUILD).
#   make            build/gpt2-bench and build/gpt2-weights
#   make test       build and run every test
#   make check      the same tests built with ASan + UBSan (under build/asan)
#   make bench      build, measure the machine, run the default sweep, plot
#   make V=1        show full command lines
BUILD ?= build
CC ?= cc
OPT ?= -O2
SAN ?=
PKGS := openblas libcjson hwloc

ifeq ($(V),1)
Q :=
else
Q := @
endif

CFLAGS_COMMON = -std=c11 -D_GNU_SOURCE -Wall -Wextra -Wshadow -g -fopenmp -MMD -MP $(SAN) $(PKG_CFLAGS)
# recorded in every machine file (bench/context.c)
$(BUILD)/bench/context.o: CFLAGS += -DBUILD_CFLAGS='"$(OPT) (kernels -O3) $(SAN)"'
LDLIBS = $(PKG_LIBS) -lm
LDFLAGS += -fopenmp $(SAN)

KERNEL_SRCS := $(wildcard kernels/*.c)
MODEL_SRCS := $(wildcard model/*.c)
BENCH_SRCS := $(filter-out bench/main.c,$(wildcard bench/*.c))
WTOOLS_SRCS := $(filter-out weights_tools/main.c,$(wildcard weights_tools/*.c))
LIB_SRCS := $(KERNEL_SRCS) $(MODEL_SRCS) $(BENCH_SRCS) $(WTOOLS_SRCS)
LIB_OBJS := $(LIB_SRCS:%.c=$(BUILD)/%.o)
TEST_SRCS := $(wildcard tests/test_*.c)
TEST_BINS := $(TEST_SRCS:tests/%.c=$(BUILD)/tests/%)
TEST_SCRIPTS := $(wildcard tests/e2e_*.sh)

.PHONY: all test check bench clean deps
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

check:
	$(Q)$(MAKE) --no-print-directory BUILD=build/asan OPT=-O1 \
	    SAN="-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined" test

bench: all
	$(Q)sh scripts/install-deps.sh gnuplot-nox
	$(Q)GPT2_BENCH=$(BUILD)/gpt2-bench sh scripts/sweep.sh

clean:
	rm -rf build

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)
