# SPDX-License-Identifier: BSD-2-Clause
# nbmem: the top-level driver around CMake.
#   make demo      build and run the main example
#   make check     build everything and run the whole test suite, in
#                  both CPU modes (per-CPU rseq caches, per-thread)
#   make check-asan  the test suite again under ASan+UBSan
#   make check-tsan  the threaded stress tests under ThreadSanitizer
#   make bench     release build, benchmarks against the peers
#   make install PREFIX=/usr/local [DESTDIR=...]

PREFIX ?= /usr/local
BUILD ?= build
JOBS ?= $(shell nproc 2>/dev/null || echo 2)
CMAKE_GEN = -G Ninja

.PHONY: all demo check check-asan check-tsan check-percpu bench install \
	lint-man clean deps

all: deps
	cmake -S . -B $(BUILD) $(CMAKE_GEN) -DCMAKE_BUILD_TYPE=RelWithDebInfo
	cmake --build $(BUILD) -j $(JOBS)

deps:
	@sh scripts/deps.sh build

demo: deps
	cmake -S . -B $(BUILD)-release $(CMAKE_GEN) -DCMAKE_BUILD_TYPE=Release \
	    -DNBMEM_TESTS=OFF -DNBMEM_BENCH=OFF
	cmake --build $(BUILD)-release -j $(JOBS) --target vmem_demo \
	    --target stats_demo --target nbmemstat
	$(BUILD)-release/vmem_demo
	$(BUILD)-release/stats_demo $(BUILD)-release/nbmemstat

check:
	@sh scripts/deps.sh check
	cmake -S . -B $(BUILD) $(CMAKE_GEN) -DCMAKE_BUILD_TYPE=RelWithDebInfo \
	    -DNBMEM_SANITY=ON
	cmake --build $(BUILD) -j $(JOBS)
	sh scripts/lint-man.sh
	sh scripts/run-tests.sh $(BUILD)
	@echo "==== the suite again with per-thread caches (NBMEM_PERCPU=0)"
	NBMEM_PERCPU=0 sh scripts/run-tests.sh $(BUILD)

check-asan:
	@sh scripts/deps.sh check
	cmake -S . -B $(BUILD)-asan $(CMAKE_GEN) -DCMAKE_BUILD_TYPE=Debug \
	    -DCMAKE_C_COMPILER=clang -DNBMEM_SANITIZE=address,undefined \
	    -DNBMEM_BENCH=OFF
	cmake --build $(BUILD)-asan -j $(JOBS)
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 \
	LSAN_OPTIONS=suppressions=$(CURDIR)/scripts/lsan.supp:print_suppressions=0 \
	UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	    sh scripts/run-tests.sh $(BUILD)-asan

# The threaded and signal stress programs, fork, and the statistics read
# while arenas are destroyed, under ThreadSanitizer.
TSAN_TESTS = 'api/t_*_mt' api/t_fork 'unit/t_rseq' unit/t_stats unit/t_sig_open
check-tsan:
	@sh scripts/deps.sh check
	cmake -S . -B $(BUILD)-tsan $(CMAKE_GEN) -DCMAKE_BUILD_TYPE=RelWithDebInfo \
	    -DCMAKE_C_COMPILER=clang -DNBMEM_SANITIZE=thread -DNBMEM_BENCH=OFF
	cmake --build $(BUILD)-tsan -j $(JOBS)
	TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1 \
	    sh scripts/run-tests.sh $(BUILD)-tsan $(TSAN_TESTS)

# The whole suite again with per-CPU caches off (per-thread magazines).
check-percpu:
	NBMEM_PERCPU=0 sh scripts/run-tests.sh $(BUILD)

bench:
	@sh scripts/deps.sh bench
	cmake -S . -B $(BUILD)-release $(CMAKE_GEN) -DCMAKE_BUILD_TYPE=Release \
	    -DNBMEM_TESTS=OFF -DNBMEM_BENCH=ON
	cmake --build $(BUILD)-release -j $(JOBS)
	sh bench/scripts/run.sh $(BUILD)-release

install: deps
	cmake -S . -B $(BUILD)-release $(CMAKE_GEN) -DCMAKE_BUILD_TYPE=Release \
	    -DNBMEM_TESTS=OFF -DNBMEM_BENCH=OFF \
	    -DCMAKE_INSTALL_PREFIX=$(PREFIX)
	cmake --build $(BUILD)-release -j $(JOBS)
	DESTDIR=$(DESTDIR) cmake --install $(BUILD)-release

lint-man:
	sh scripts/lint-man.sh

clean:
	rm -rf $(BUILD) $(BUILD)-release $(BUILD)-asan $(BUILD)-tsan
