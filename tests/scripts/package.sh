#!/bin/sh
# tests/scripts/package.sh BUILD_DIR SOURCE_DIR DEB: checks the .deb that `make package` made (it runs
# this): DEB holds exactly the tree `cmake --install BUILD_DIR` installs (under /usr), its
# control file depends on valgrind and libexpat1, and unpacked (dpkg-deb -x, as dpkg -i would
# place it) its leakcheck runs and examples/ finds its CMake package. Not a CTest test: cpack
# alone takes ~3.7 s here (its preinstall pass over the build tree, dpkg-shlibdeps), which
# make check's time budget does not have. Exit status 0 when all hold, 1 with a FAIL line, 2
# when it could not run.
set -eu
[ $# -eq 3 ] || { echo "usage: tests/scripts/package.sh BUILD_DIR SOURCE_DIR DEB" >&2; exit 2; }
build=$1
src=$2
deb=$3
[ -f "$build/cmake_install.cmake" ] || { echo "package.sh: $build is not a configured build dir" >&2; exit 2; }
[ -f "$deb" ] || { echo "package.sh: no file $deb" >&2; exit 2; }
tmp=$(mktemp -d "${TMPDIR:-/tmp}/lc-package.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
trap 'exit 2' HUP INT TERM
fail() {
	echo "FAIL: $1"
	[ -z "${2:-}" ] || tail -n 25 "$2"
	exit 1
}

echo "checking $deb"

# The same tree as cmake --install, under /usr.
cmake --install "$build" --prefix "$tmp/prefix" >"$tmp/install.log" 2>&1 || fail "cmake --install" "$tmp/install.log"
(cd "$tmp/prefix" && find . -type f | sed 's|^\./|./usr/|' | sort) >"$tmp/installed"
dpkg-deb -c "$deb" | awk '$1 !~ /^d/ { print $NF }' | sort >"$tmp/packaged"
diff "$tmp/installed" "$tmp/packaged" >"$tmp/tree.diff" ||
	fail "${deb##*/}'s files (>) differ from cmake --install's (<)" "$tmp/tree.diff"
echo "  $(wc -l <"$tmp/packaged") files, the same as cmake --install's"
depends=$(dpkg-deb -f "$deb" Depends)
case $depends in
*valgrind*libexpat1*) echo "  Depends: $depends" ;;
*) fail "Depends lacks valgrind or libexpat1: $depends" ;;
esac

# Unpacked into a scratch root, as dpkg -i would place it.
dpkg-deb -x "$deb" "$tmp/root"
"$tmp/root/usr/bin/leakcheck" --version >"$tmp/version" 2>&1 || fail "usr/bin/leakcheck --version" "$tmp/version"
"$tmp/root/usr/bin/leakcheck" --help | grep -q -- '--cycles N' || fail "usr/bin/leakcheck --help lists no --cycles"
echo "  unpacked: $(cat "$tmp/version"); --help works"
cmake -S "$src/examples" -B "$tmp/ex" -DCMAKE_PREFIX_PATH="$tmp/root/usr" >"$tmp/ex.log" 2>&1 ||
	fail "examples/ does not configure against the unpacked .deb" "$tmp/ex.log"
ctest --test-dir "$tmp/ex" -N | grep -q 'Total Tests: 2' || fail "examples/ against the .deb: not 2 tests"
grep -q "leakcheck_DIR:PATH=$tmp/root/usr/lib" "$tmp/ex/CMakeCache.txt" ||
	fail "examples/ found another leakcheck: $(grep leakcheck_DIR "$tmp/ex/CMakeCache.txt")"
echo "package: ${deb##*/} installs the cmake --install tree, runs, and find_package(leakcheck) finds it"
