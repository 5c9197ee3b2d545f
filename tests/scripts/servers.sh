#!/bin/bash
# tests/scripts/servers.sh run NAME | table | compare | names
#   run NAME  the matrix's command for NAME (harness/servers/matrix) must say clean (exit 0),
#             and its positive control, where it has one, must be caught (exit 1)
#   table     runs every clean command and prints the README's table (verdict, time)
#   compare   every command and control under memcheck and natively: the README's engine table
#   names     the servers, one per line (CMake makes one test per name)
# NATIVE=1 runs every command with the native engine (--native; --suppressions dropped).
# From the repository root, after `make`. A server that is not installed fails: it is a test.
set -uo pipefail
cd "$(dirname "$0")/../.." || exit 2
LC=${LC:-build/harness/leakcheck}
matrix=harness/servers/matrix

field() { # NAME N: field N of NAME's line, trimmed
	awk -F'|' -v n="$1" -v f="$2" '!/^#/ && NF >= 3 { gsub(/^ +| +$/, "", $1); if ($1 == n) { gsub(/^ +| +$/, "", $f); print $f } }' "$matrix"
}

# NAME [EXTRA]: the command's words, EXTRA inserted before `--`, leakcheck made a path. With
# NATIVE=1, --native too, and without --suppressions FILE (memcheck's only).
words() {
	local cmd extra=${2:-} out=() skip=0
	cmd=$(field "$1" 2)
	[ -n "$cmd" ] || { echo "servers.sh: no server '$1' in $matrix" >&2; exit 2; }
	[ "${NATIVE:-0}" = 1 ] && extra="--native $extra"
	eval "set -- $cmd"
	for w in "$@"; do
		if [ "$skip" = 1 ]; then skip=0
		elif [ "$w" = --suppressions ] && [ "${NATIVE:-0}" = 1 ]; then skip=1
		elif [ "$w" = leakcheck ]; then out+=("$LC")
		elif [ "$w" = -- ] && [ -n "$extra" ]; then eval "out+=($extra)"; out+=(--)
		else out+=("$w"); fi
	done
	printf '%s\0' "${out[@]}"
}

run_one() { # NAME EXPECTED-STATUS [EXTRA]: runs, prints the verdict, checks the status
	local -a cmd
	mapfile -d '' cmd < <(words "$1" "${3:-}")
	local out rc
	out=$("${cmd[@]}" 2>&1); rc=$?
	printf '%s\n' "$out" | grep -E 'retained while|verdict:' | sed 's/^/    /'
	[ "$rc" = "$2" ] || { echo "FAIL $1${3:+ (control)}: exit $rc, expected $2"; printf '%s\n' "$out" | tail -n 15; return 1; }
}

case ${1:-} in
names) awk -F'|' '!/^#/ && NF >= 3 { gsub(/ /, "", $1); print $1 }' "$matrix" ;;
run)
	name=${2:?usage: servers.sh run NAME}
	echo "$name: clean command"
	run_one "$name" 0 || exit 1
	control=$(field "$name" 3)
	if [ "$control" != - ]; then
		echo "$name: positive control ($control)"
		run_one "$name" 1 "$control" || exit 1
	fi
	;;
table)
	echo "| server | command | verdict here | time | positive control (options added) | its verdict |"
	echo "| --- | --- | --- | --- | --- | --- |"
	for name in $("$0" names); do
		mapfile -d '' cmd < <(words "$name")
		out=$("${cmd[@]}" 2>&1)
		verdict=$(printf '%s\n' "$out" | sed -n 's/^verdict: \([a-z]*\).*(\([0-9.]*s\))$/\1 | \2/p')
		control=$(field "$name" 3) cverdict=-
		if [ "$control" != - ]; then
			mapfile -d '' cmd < <(words "$name" "$control")
			cverdict=$("${cmd[@]}" 2>&1 | sed -n 's/^verdict: \([a-z]*\).*(\([0-9.]*s\))$/\1 (\2)/p')
			control="\`$control\`"
		fi
		echo "| $name | \`$(field "$name" 2)\` | ${verdict:-? | ?} | $control | $cverdict |"
	done
	;;
compare)
	# the same commands under both engines: verdict and time of the clean command and of the control
	verdict_of() { sed -n 's/^verdict: \([a-z]*\).*(\([0-9.]*s\))$/\1 (\2)/p'; }
	echo "| server | memcheck: command | its control | native: command | its control |"
	echo "| --- | --- | --- | --- | --- |"
	for name in $("$0" names); do
		control=$(field "$name" 3) row="| $name |"
		for native in 0 1; do
			mapfile -d '' cmd < <(NATIVE=$native words "$name")
			row="$row $("${cmd[@]}" 2>&1 | verdict_of) |"
			if [ "$control" != - ]; then
				mapfile -d '' cmd < <(NATIVE=$native words "$name" "$control")
				row="$row $("${cmd[@]}" 2>&1 | verdict_of) |"
			else
				row="$row - |"
			fi
		done
		echo "$row"
	done
	;;
*) echo "usage: tests/scripts/servers.sh run NAME | table | compare | names" >&2; exit 2 ;;
esac
