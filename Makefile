# ccpump: the two commands a new user runs are `make run` and `make test`.
# Everything else here is a convenience over CMake and ctest.

JOBS    ?= $(shell nproc 2>/dev/null || echo 2)
# -Werror in CI (CI=true), warnings only on a developer's machine.
WERROR  ?= $(if $(filter true 1 yes,$(CI)),ON,OFF)
CMAKE_FLAGS ?=
BUILD   := build
TSAN    := build-tsan
ASAN    := build-asan
FUZZ    := build-fuzz
FUZZ_SECONDS ?= 300
# Seconds per fuzz target in `make test`: enough to replay the seed corpus
# and try a few thousand mutations.
FUZZ_BRIEF   ?= 5
FUZZ_TARGETS := fuzz_ccm fuzz_convert fuzz_headers fuzz_import fuzz_bounce fuzz_und fuzz_files fuzz_marker
CTEST   := ctest --output-on-failure --timeout 120 -j $(JOBS)
# ThreadSanitizer's options for the concurrent tests; every process a test
# starts (the relay, its import program) inherits them.  tests/tsan.supp says
# what is not judged and why.
TSAN_OPTS := halt_on_error=1 second_deadlock_stack=1 suppressions=$(CURDIR)/tests/tsan.supp

.PHONY: all deps build run test test-unit tsan asan bench fuzz fuzz-build fuzz-brief clean help

all: build

help:
	@echo "make run    set up, build, relay a demo spool into a post office, run the benchmark"
	@echo "make test   set up, build, run every test (plain, ThreadSanitizer, ASan+UBSan)"
	@echo "make tsan   ThreadSanitizer build and its concurrent tests"
	@echo "make asan   ASan+UBSan build (libc malloc) and every test"
	@echo "make bench  the quick benchmark set"
	@echo "make fuzz   run the fuzz targets for longer (FUZZ_SECONDS, default 300)"
	@echo "make fuzz-brief   each fuzz target for FUZZ_BRIEF seconds (part of make test)"

deps:
	@bash scripts/deps.sh

# Configured every time (a fraction of a second on a configured tree), so
# that WERROR and CMAKE_FLAGS given now are the ones the build uses.
build: deps
	cmake -S . -B $(BUILD) -DCCPUMP_WERROR=$(WERROR) $(CMAKE_FLAGS)
	cmake --build $(BUILD) -j $(JOBS)

# The main job: a demo spool relayed into a fresh post office (checked
# exactly once), then the engine's benchmark.
DEMO_MESSAGES ?= 200000
run: build
	rm -rf $(BUILD)/demo
	./$(BUILD)/ccpump demo --dir $(BUILD)/demo --messages $(DEMO_MESSAGES)
	./$(BUILD)/ccpump bench

test-unit: build
	cd $(BUILD) && $(CTEST)

tsan: deps
	cmake -S . -B $(TSAN) -DCMAKE_C_COMPILER=clang -DCCPUMP_SANITIZE=thread -DCCPUMP_WERROR=$(WERROR) $(CMAKE_FLAGS)
	cmake --build $(TSAN) -j $(JOBS)
	cd $(TSAN) && TSAN_OPTIONS="$(TSAN_OPTS)" $(CTEST) -L concurrent

asan: deps
	cmake -S . -B $(ASAN) -DCMAKE_C_COMPILER=clang -DCCPUMP_SANITIZE=address -DCCPUMP_WERROR=$(WERROR) $(CMAKE_FLAGS)
	cmake --build $(ASAN) -j $(JOBS)
	cd $(ASAN) && ASAN_OPTIONS="detect_leaks=1 abort_on_error=1" UBSAN_OPTIONS="print_stacktrace=1 halt_on_error=1" $(CTEST)

# libFuzzer targets (tests/fuzz), seeded from tests/data; what they find new
# is kept in $(FUZZ)/corpus/<target>, crashes in $(FUZZ)/crash-*.
fuzz-build: deps
	cmake -S . -B $(FUZZ) -DCMAKE_C_COMPILER=clang -DCCPUMP_FUZZ=ON -DCCPUMP_SANITIZE=address -DBUILD_TESTING=OFF -DCCPUMP_WERROR=$(WERROR) $(CMAKE_FLAGS)
	cmake --build $(FUZZ) -j $(JOBS) --target $(FUZZ_TARGETS)

# Each target's seeds, from tests/data.
FUZZ_SEEDS_fuzz_ccm     := tests/data/ccm
FUZZ_SEEDS_fuzz_convert := tests/data
FUZZ_SEEDS_fuzz_headers := tests/data/gen
FUZZ_SEEDS_fuzz_import  := tests/data/ccm
FUZZ_SEEDS_fuzz_bounce  := tests/data/gen
FUZZ_SEEDS_fuzz_und     := tests/data/und
FUZZ_SEEDS_fuzz_files   := tests/data/files
FUZZ_SEEDS_fuzz_marker  := tests/data/markers

# fuzz_one TARGET SECONDS: one recipe line (the blank line before endef
# ends it, so that $(foreach) below makes one line a target).
define fuzz_one
	ASAN_OPTIONS="detect_leaks=1" UBSAN_OPTIONS="print_stacktrace=1 halt_on_error=1" \
	  ./$(FUZZ)/tests/fuzz/$(1) -max_total_time=$(2) -timeout=10 -rss_limit_mb=2048 \
	  -artifact_prefix=$(FUZZ)/ -print_final_stats=1 $(FUZZ)/corpus/$(1) $(FUZZ_SEEDS_$(1))

endef

define fuzz_run
	mkdir -p $(addprefix $(FUZZ)/corpus/,$(FUZZ_TARGETS))
	$(foreach t,$(FUZZ_TARGETS),$(call fuzz_one,$(t),$(1)))
endef

fuzz: fuzz-build
	$(call fuzz_run,$(FUZZ_SECONDS))

fuzz-brief: fuzz-build
	$(call fuzz_run,$(FUZZ_BRIEF))

test: test-unit tsan asan fuzz-brief
	@echo "make test: plain, ThreadSanitizer and ASan+UBSan suites passed"

# The quick benchmark set: ring peers, pump sweeps, plots, into BENCH_OUT.
# gnuplot (the plots) and DPDK (rte_ring) are wanted by make bench alone, so
# they are installed here and not by make deps.  DPDK is optional: without
# it (not root, or apt cannot get it) bench_ring skips rte_ring, saying so.
BENCH_OUT ?= bench/results
bench:
	@CCPUMP_EXTRA_PKGS="gnuplot-nox" CCPUMP_OPTIONAL_PKGS="libdpdk-dev" bash scripts/deps.sh
	$(MAKE) build
	@mkdir -p $(BENCH_OUT)
	./$(BUILD)/bench/bench_ring --quick $(BENCH_OUT)
	./$(BUILD)/bench/bench_ring --quick --queues ccp_ring,rte_ring --threads 1:1 --bursts 32 \
		--pin-split --csv $(BENCH_OUT)/ring-split.csv --json $(BENCH_OUT)/ring-split.json
	python3 bench/pump/sweep.py --set quick --ccpump ./$(BUILD)/ccpump $(BENCH_OUT)
	python3 bench/relay/sweep.py --set quick --ccpump ./$(BUILD)/ccpump $(BENCH_OUT)
	bash bench/plot.sh $(BENCH_OUT)
	@echo "make bench: CSV, JSON and plots in $(BENCH_OUT)/"

clean:
	rm -rf $(BUILD) $(TSAN) $(ASAN) build-fuzz
