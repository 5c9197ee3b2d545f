#!/bin/sh
# tests/scripts/manpage.sh LEAKCHECK MANPAGE: the man page (written by hand, harness/cli/leakcheck.1) must
# list exactly the options `leakcheck --help` lists, and carry the version `--version` prints.
# Prints what differs and exits 1, so an option added to main.c without its man entry fails.
set -eu
lc=$1
man=$2
[ -x "$lc" ] || { echo "manpage.sh: $lc is not an executable" >&2; exit 2; }
[ -r "$man" ] || { echo "manpage.sh: cannot read $man" >&2; exit 2; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
trap 'exit 2' HUP INT TERM

# --help: an option line starts with two spaces and a dash; its option column ends at the first
# two spaces after it ("  --port N             ...", "  -h, --help           ...").
"$lc" --help | awk '/^  -/ { s = substr($0, 3); i = index(s, "  "); print (i ? substr(s, 1, i - 1) : s) }' |
	grep -o -- '--*[a-z][a-z-]*' | sort -u >"$tmp/help"
# The man page: the tag line after each .TP of the OPTIONS section, roff's \- made a dash.
awk '/^\.SH / { in_opts = ($2 == "OPTIONS") } in_opts && tag { print; tag = 0 } in_opts && /^\.TP/ { tag = 1 }' "$man" |
	sed 's/\\-/-/g; s/\\f[BIRP]//g' | grep -o -- '--*[a-z][a-z-]*' | sort -u >"$tmp/man"
[ -s "$tmp/help" ] || { echo "manpage.sh: no options read from $lc --help" >&2; exit 2; }
status=0
if ! diff "$tmp/help" "$tmp/man" >"$tmp/diff"; then
	echo "FAIL: options of '$lc --help' (<) and $man (>) differ:"
	grep '^[<>]' "$tmp/diff"
	status=1
fi
version=$("$lc" --version | sed -n 's/^leakcheck //p')
if ! grep -q "^\.TH LEAKCHECK 1 .*\"leakcheck $version\"" "$man"; then
	echo "FAIL: $man's .TH line does not say \"leakcheck $version\" (leakcheck --version)"
	status=1
fi
[ "$status" = 0 ] && echo "manpage: $(wc -l <"$tmp/help") options, version $version: $man matches --help"
exit "$status"
