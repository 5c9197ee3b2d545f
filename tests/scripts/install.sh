#!/bin/sh
# tests/scripts/install.sh BUILD_DIR SOURCE_DIR: leakcheck as another project gets it.
#   1. `cmake --install BUILD_DIR` into a fresh temp prefix: every file of the tree is there;
#   2. the installed bin/leakcheck answers --version and --help;
#   3. pkg-config: a program calling lc_options_init() compiles and links with
#      `pkg-config --cflags --libs leakcheck` alone, and runs;
#   4. examples/ (find_package(leakcheck), leakcheck_add_test) configures and builds against the
#      prefix, and its CTest says: the clean server passed with verdict clean, the leaky twin was
#      caught with verdict leak (a gate that stopped catching it fails here).
# Exit status 0 when all hold, 1 with a FAIL line otherwise, 2 when it could not run.
set -eu
[ $# -eq 2 ] || { echo "usage: tests/scripts/install.sh BUILD_DIR SOURCE_DIR" >&2; exit 2; }
build=$1
src=$2
[ -f "$build/cmake_install.cmake" ] || { echo "install.sh: $build is not a configured build dir" >&2; exit 2; }
tmp=$(mktemp -d "${TMPDIR:-/tmp}/lc-install.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
trap 'exit 2' HUP INT TERM
prefix=$tmp/prefix
fail() {
	echo "FAIL: $1"
	[ -z "${2:-}" ] || tail -n 25 "$2"
	exit 1
}

# 1. The tree.
cmake --install "$build" --prefix "$prefix" >"$tmp/install.log" 2>&1 || fail "cmake --install" "$tmp/install.log"
echo "installed into a temp prefix:"
(cd "$prefix" && find . -type f | sort | sed 's|^\./|    |')
# GNUInstallDirs may say lib64 or lib/<multiarch>: take libdir from where the archive went.
libdir=$(cd "$prefix" && find . -name libleakcheck.a | sed 's|^\./||; s|/libleakcheck\.a$||')
[ -n "$libdir" ] || fail "no libleakcheck.a installed"
expect="bin/leakcheck share/man/man1/leakcheck.1 $libdir/pkgconfig/leakcheck.pc $libdir/leakcheck/liblcalloc.so"
expect="$expect $libdir/leakcheck/pyagent/sitecustomize.py $libdir/leakcheck/pyagent/leakcheck_agent.py"
for f in leakcheckConfig.cmake leakcheckConfigVersion.cmake leakcheckTargets.cmake LeakcheckAddTest.cmake; do
	expect="$expect $libdir/cmake/leakcheck/$f"
done
for h in "$src"/include/lc/*.h; do expect="$expect include/lc/${h##*/}"; done
for s in "$src"/harness/suppressions/*.supp; do expect="$expect share/leakcheck/suppressions/${s##*/}"; done
for f in $expect; do
	[ -f "$prefix/$f" ] || fail "not installed: $f"
done
echo "  all $(echo "$expect" | wc -w) expected files are there"

# 2. The CLI from the prefix.
"$prefix/bin/leakcheck" --version >"$tmp/version" 2>&1 || fail "bin/leakcheck --version" "$tmp/version"
grep -q '^leakcheck [0-9][0-9.]*$' "$tmp/version" || fail "bin/leakcheck --version printed: $(cat "$tmp/version")"
"$prefix/bin/leakcheck" --help | grep -q -- '--cycles N' || fail "bin/leakcheck --help lists no --cycles"
echo "  $(cat "$tmp/version"); --help works"
# The installed CLI finds its allocator preload (beside it, not in the build tree).
json=$tmp/native.json
"$prefix/bin/leakcheck" -q --native --cycles 50 --json "$json" -- "$build/runtime/echo" {port} >"$tmp/native.log" 2>&1 ||
	fail "bin/leakcheck --native on runtime/echo" "$tmp/native.log"
grep -q '"measure": "allocator"' "$json" || fail "bin/leakcheck --native did not count the allocator" "$json"
grep -q "$prefix/$libdir/leakcheck/liblcalloc.so" "$json" || fail "bin/leakcheck --native used a preload outside the prefix" "$json"
echo "  bin/leakcheck --native counts the allocator with the installed preload"

# 3. pkg-config, from the prefix's .pc alone.
cat >"$tmp/pc.c" <<'PROG'
#include <stdio.h>
#include "lc/leakcheck.h"
int main(void)
{
	struct lc_options o;
	lc_options_init(&o, LC_ENGINE_MEMCHECK);
	printf("cycles=%u\n", o.cycles);
	return o.cycles == 200 ? 0 : 1;
}
PROG
flags=$(PKG_CONFIG_PATH=$prefix/$libdir/pkgconfig pkg-config --cflags --libs leakcheck 2>"$tmp/pc.err") ||
	fail "pkg-config --cflags --libs leakcheck" "$tmp/pc.err"
# shellcheck disable=SC2086 # the flags are words
${CC:-cc} -o "$tmp/pc" "$tmp/pc.c" $flags >"$tmp/cc.log" 2>&1 || fail "cc pc.c $flags" "$tmp/cc.log"
"$tmp/pc" >"$tmp/pc.out" || fail "the pkg-config program did not run" "$tmp/pc.out"
echo "  pkg-config --cflags --libs leakcheck: $flags"
echo "  a program calling lc_options_init() built with them: $(cat "$tmp/pc.out")"

# 4. examples/ against the prefix. Each leakcheck run is a second or three; 60 s is a hang.
cmake -S "$src/examples" -B "$tmp/ex" -DCMAKE_PREFIX_PATH="$prefix" >"$tmp/ex.log" 2>&1 ||
	fail "examples/ did not configure against the prefix" "$tmp/ex.log"
cmake --build "$tmp/ex" >>"$tmp/ex.log" 2>&1 || fail "examples/ did not build" "$tmp/ex.log"
ctest --test-dir "$tmp/ex" -N | grep -q 'Total Tests: 2' || fail "examples/ should have 2 tests"
# test NAME VERDICT: NAME passes, and its leakcheck said VERDICT.
check() {
	if ! ctest --test-dir "$tmp/ex" -R "^$1\$" -V --timeout 60 >"$tmp/$1.log" 2>&1; then
		fail "example test $1 failed" "$tmp/$1.log"
	fi
	grep -q "^[0-9]*: verdict: $2: " "$tmp/$1.log" || fail "example test $1: no 'verdict: $2'" "$tmp/$1.log"
	echo "  example $(grep -E "Test +#" "$tmp/$1.log" | sed 's/^ *[0-9]*\/[0-9]* //')"
	echo "    $(grep "^[0-9]*: verdict: " "$tmp/$1.log" | sed 's/^[0-9]*: //')"
}
check echo_leaks clean
check echo_leaky_is_caught leak
echo "install: the installed tree, pkg-config and the example project work"
