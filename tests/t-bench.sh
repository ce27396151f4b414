#!/bin/sh
# SPDX-License-Identifier: MIT
#
# t-bench - every program of the benchmark suite runs on the library just
# built, preloaded as make bench runs it, briefly and with two threads,
# and ends with its result line: its own checks of the blocks it wrote
# (realloc's strings, the tags larson and xthread pass between threads,
# ...) held, its threads finished, and the blocks came from Shimmer.
# Nothing here looks at the times.  Then run.py's geometric means are
# checked on a made-up table, and last, the library's pages that make
# bench reports under its table against readelf's reading of the same
# program headers.

. "${top_srcdir:-.}/tests/tap.sh"
: "${top_builddir:=.}"
tap_scratch bench

# Each program with arguments that keep it short and small: memreturn's
# late sample is taken -d seconds after its free, frag's population is -n
# MiB; the others run for -d seconds.
runs='churn -d 0.2 -w 20000
cmix -d 0.2
larson -d 0.2
xthread -d 0.2
realloc -d 0.2 -M 1m
large -d 0.2
threads -d 0.2
falseshare -d 0.2
memreturn -d 1.2 -n 32
frag -n 8 -w 2
fastpath -d 0.2'

plan "$(($(printf '%s\n' "$runs" | wc -l) + 2))"

while read -r name args; do
	prog=$top_builddir/bench/$name
	# shellcheck disable=SC2086  # $args is a list of arguments
	timeout_run 120 env LD_PRELOAD="$SHIMMER_LIB" "$prog" -t 2 $args \
		>"$tmp/out" 2>"$tmp/err"
	rc=$?
	grep -q "^result bench=$name .*malloc=libshimmer" "$tmp/out"
	found=$?
	[ "$rc" -eq 0 ] && [ "$found" -eq 0 ] && [ ! -s "$tmp/err" ]
	ok $? "bench/$name $args: runs to its result line on Shimmer" || {
		diag "exit status $rc"
		diag_file "$tmp/out" stdout
		diag_file "$tmp/err" stderr
	}
done <<EOF
$runs
EOF

# Python code run with bench/run.py imported as run; its arguments follow.
run_py() {
	code=$1
	shift
	"$PYTHON3" -c "import sys; sys.path.insert(0, sys.argv[1]); import run
$code" "$top_srcdir/bench" "$@" 2>&1
}

# The table's geometric means: time over the time rows, peak RSS over the
# peak rows alone (the memory target's figure), all memory over every
# memory row.  Ratios 2 and 0.5 for time, 2 and 8 for peak RSS, and 64
# for another memory row give 1, 4 and the cube root of 1024.
if [ -z "$PYTHON3" ]; then
	skip 1 "python3 not found"
else
	got=$(run_py '
rows = [("time", "ns_per_op", 2.0), ("time", "ns_per_op", 0.5),
        ("memory", "hwm_kb", 2.0), ("memory", "hwm_kb", 8.0),
        ("memory", "rss_late_kb", 64.0)]
table = [dict(kind=k, key=key, ratio=dict(a=r)) for k, key, r in rows]
g = run.geomeans(table, ["a"])
print("%.3f %.3f %.3f" % (g["time"]["a"], g["peak"]["a"], g["memory"]["a"]))')
	[ "$got" = "1.000 4.000 10.079" ]
	ok $? "run.py's geometric means: time, peak RSS apart, all memory: $got"
fi

# The pages of its file and of its text that readelf's program headers give
# the library (the LOAD lines: VirtAddr is field 3, FileSiz field 5, and
# the flags hold an E where the segment is executable).
readelf_pages() {
	readelf -lW "$1" | while read -r type off vaddr paddr filesz memsz flags; do
		[ "$type" = LOAD ] && [ $((filesz)) -gt 0 ] || continue
		echo "$(((vaddr % 4096 + filesz + 4095) / 4096)) $((filesz)) $flags"
	done | {
		mapped=0
		while read -r pages size flags; do
			mapped=$((mapped + pages))
			case $flags in *E*) text="$size, $pages" ;; esac
		done
		echo "($mapped, ($text))"
	}
}

lib=$(readlink -f "$SHIMMER_LIB")
if [ -z "$PYTHON3" ] || ! command -v readelf >/dev/null 2>&1; then
	skip 1 "python3 or readelf not found"
else
	want=$(readelf_pages "$lib")
	got=$(run_py 'print(run.file_pages(sys.argv[2]))' "$lib")
	[ "$got" = "$want" ]
	ok $? "run.py reads the library's mapped pages and text as readelf does: $got" ||
		diag "readelf gives $want"
fi
done_testing
