# Thin wrapper: CMake does the work, in build/.
BUILD ?= build
CMAKE ?= cmake
CTEST ?= ctest
JOBS ?= 2
export MAKEFLAGS += --no-print-directory

FUZZ_BUILD ?= build-fuzz
FUZZ_CC ?= clang
FUZZ_SECONDS ?= 60
ASAN_BUILD ?= build-asan
# The unit suites that need no valgrind (CTest labels: one per suite binary): the case suites run their servers under it, and an
# ASan binary cannot run under valgrind.
SANITIZE_TESTS ?= ^(obj|vgxml|vgdb|judge|server|fuzz_replay)$$

.PHONY: all check demo bench clean configure fuzz sanitize package plots

all: configure
	$(CMAKE) --build $(BUILD) -j$(JOBS)

configure:
	@$(CMAKE) -S . -B $(BUILD) -DLC_WERROR=ON >/dev/null

check: configure
	$(CMAKE) --build $(BUILD) -j$(JOBS) --target check
	@tests/support/summarize $(BUILD)

demo: configure
	$(CMAKE) --build $(BUILD) -j$(JOBS) --target demo

# cases/heap.dat and cases/heap.svg (gnuplot, from gnuplot-nox) and the table in cases/README.md:
# every case variant through leakcheck afresh, with the case suites' options.
plots: all
	rm -rf $(BUILD)/transcripts-plots
	cases/transcripts --update --build $(BUILD) --reports $(BUILD)/transcripts-plots plot

# The .deb (CPack's DEB generator) in $(BUILD)/, then checked: the tree of cmake --install,
# under /usr, and it runs (tests/scripts/package.sh).
package: configure
	$(CMAKE) --build $(BUILD) -j$(JOBS) --target package
	tests/scripts/package.sh $(BUILD) . "$$(ls -t $(BUILD)/leakcheck_*.deb | head -n 1)"

bench: configure
	$(CMAKE) --build $(BUILD) -j$(JOBS) --target bench

# libFuzzer on the two valgrind-output readers, FUZZ_SECONDS each, in $(FUZZ_BUILD)/ (clang).
fuzz:
	@$(CMAKE) -S . -B $(FUZZ_BUILD) -DCMAKE_C_COMPILER=$(FUZZ_CC) -DLC_FUZZ=ON -DLC_WERROR=ON \
		-DLC_FUZZ_SECONDS=$(FUZZ_SECONDS) >/dev/null
	$(CMAKE) --build $(FUZZ_BUILD) -j$(JOBS) --target fuzz

# ASan+UBSan build in $(ASAN_BUILD)/, then the suites that need no valgrind.
sanitize:
	@$(CMAKE) -S . -B $(ASAN_BUILD) -DLC_SANITIZE=ON -DLC_WERROR=ON >/dev/null
	$(CMAKE) --build $(ASAN_BUILD) -j$(JOBS)
	cd $(ASAN_BUILD) && $(CTEST) --output-on-failure -j$(JOBS) -L '$(SANITIZE_TESTS)'

clean:
	rm -rf $(BUILD)
