# Thin wrapper: CMake does the work, in build/.
BUILD ?= build
CMAKE ?= cmake
JOBS ?= 2
export MAKEFLAGS += --no-print-directory

.PHONY: all check demo bench clean configure

all: configure
	$(CMAKE) --build $(BUILD) -j$(JOBS)

configure:
	@$(CMAKE) -S . -B $(BUILD) >/dev/null

check: configure
	$(CMAKE) --build $(BUILD) -j$(JOBS) --target check

demo: configure
	$(CMAKE) --build $(BUILD) -j$(JOBS) --target demo

bench: configure
	$(CMAKE) --build $(BUILD) -j$(JOBS) --target bench

clean:
	rm -rf $(BUILD)
