#!/bin/sh
# SPDX-License-Identifier: MIT
#
# t-bench - every program of the benchmark suite runs on the library just
# built, preloaded as make bench runs it, briefly and with two threads,
# and ends with its result line: its own checks of the blocks it wrote
# (realloc's strings, the tags larson and xthread pass between threads,
# ...) held, its threads finished, and the blocks came from Shimmer.
# Nothing here looks at the times.

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

plan "$(printf '%s\n' "$runs" | wc -l)"

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
