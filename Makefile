# ccpump: the two commands a new user runs are `make run` and `make test`.
# Everything else here is a convenience over CMake and ctest.

JOBS    ?= $(shell nproc 2>/dev/null || echo 2)
# -Werror in CI (CI=true), warnings only on a developer's machine.
WERROR  ?= $(if $(filter true 1 yes,$(CI)),ON,OFF)
CMAKE_FLAGS ?=
BUILD   := build
TSAN    := build-tsan
ASAN    := build-asan
CTEST   := ctest --output-on-failure --timeout 120 -j $(JOBS)

.PHONY: all deps build run test test-unit tsan asan bench fuzz clean help

all: build

help:
	@echo "make run    set up, build, run the benchmark on its defaults"
	@echo "make test   set up, build, run every test (plain, ThreadSanitizer, ASan+UBSan)"
	@echo "make tsan   ThreadSanitizer build and its concurrent tests"
	@echo "make asan   ASan+UBSan build (libc malloc) and every test"
	@echo "make bench  the quick benchmark set"
	@echo "make fuzz   run the fuzz targets for longer (FUZZ_SECONDS, default 300)"

deps:
	@bash scripts/deps.sh

$(BUILD)/.configured: CMakeLists.txt | deps
	cmake -S . -B $(BUILD) -DCCPUMP_WERROR=$(WERROR) $(CMAKE_FLAGS)
	@touch $@

build: deps $(BUILD)/.configured
	cmake --build $(BUILD) -j $(JOBS)

run: build
	./$(BUILD)/ccpump bench

test-unit: build
	cd $(BUILD) && $(CTEST)

tsan: deps
	cmake -S . -B $(TSAN) -DCMAKE_C_COMPILER=clang -DCCPUMP_SANITIZE=thread -DCCPUMP_WERROR=$(WERROR) $(CMAKE_FLAGS)
	cmake --build $(TSAN) -j $(JOBS)
	cd $(TSAN) && TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1 suppressions=$(CURDIR)/tests/tsan.supp" $(CTEST) -L concurrent

asan: deps
	cmake -S . -B $(ASAN) -DCMAKE_C_COMPILER=clang -DCCPUMP_SANITIZE=address -DCCPUMP_WERROR=$(WERROR) $(CMAKE_FLAGS)
	cmake --build $(ASAN) -j $(JOBS)
	cd $(ASAN) && ASAN_OPTIONS="detect_leaks=1 abort_on_error=1" UBSAN_OPTIONS="print_stacktrace=1 halt_on_error=1" $(CTEST)

test: test-unit tsan asan
	@echo "make test: plain, ThreadSanitizer and ASan+UBSan suites passed"

# The quick benchmark set: ring peers, pump sweeps, plots, into BENCH_OUT.
# DPDK and gnuplot are needed by make bench alone, so they are installed
# here and not by make deps (bench_ring skips rte_ring without DPDK).
BENCH_OUT ?= bench/results
bench:
	@CCPUMP_EXTRA_PKGS="libdpdk-dev gnuplot-nox" bash scripts/deps.sh
	@rm -f $(BUILD)/.configured
	$(MAKE) build
	@mkdir -p $(BENCH_OUT)
	./$(BUILD)/bench/bench_ring --quick $(BENCH_OUT)
	python3 bench/pump/sweep.py --set quick --ccpump ./$(BUILD)/ccpump $(BENCH_OUT)
	bash bench/plot.sh $(BENCH_OUT)
	@echo "make bench: CSV, JSON and plots in $(BENCH_OUT)/"

clean:
	rm -rf $(BUILD) $(TSAN) $(ASAN) build-fuzz
