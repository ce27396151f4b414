#!/bin/sh
# SPDX-License-Identifier: MIT
#
# t-dss - the three ways Shimmer may use the brk heap (dss:primary,
# dss:secondary, dss:disabled) all allocate and free correctly, from one
# thread and from several; with dss:primary small blocks come from the brk
# heap (the [heap] line of /proc/self/maps), and with dss:disabled no block
# does.
#
# The helper (not linked with Shimmer) runs with libshimmer preloaded and
# reports how many of its blocks lie inside [heap].

. "${top_srcdir:-.}/tests/tap.sh"
: "${top_builddir:=.}"
helper=$top_builddir/tests/helper

[ -x "$helper" ] || bail "$helper has not been built"
tap_scratch dss

plan 10

# heap MODE: run the helper's heap job; sets small, any, total, rc
heap() {
	timeout_run 120 env SHIMMER_OPTIONS="dss:$1" LD_PRELOAD="$SHIMMER_LIB" \
		"$helper" preloaded heap >"$tmp/out" 2>"$tmp/err"
	rc=$?
	set -- $(sed -n 's/^heap //p' "$tmp/out")
	small=${1:--1}
	any=${2:--1}
	total=${3:--1}
}

show() {
	diag "exit status $rc; blocks in [heap]: $small small, $any in all, of $total"
	diag_file "$tmp/out" stdout
	diag_file "$tmp/err" stderr
}

for mode in primary secondary disabled; do
	timeout_run 120 env SHIMMER_OPTIONS="dss:$mode" LD_PRELOAD="$SHIMMER_LIB" \
		"$helper" basic threads >"$tmp/out" 2>"$tmp/err"
	rc=$?
	[ "$rc" -eq 0 ] && [ ! -s "$tmp/err" ]
	ok $? "dss:$mode: mixed sizes and threads allocate and free correctly" ||
		{ small=; any=; total=; show; }
done

heap primary
[ "$rc" -eq 0 ] && [ "$total" -gt 0 ]
ok $? "dss:primary: the heap job runs on Shimmer" || show
[ "$small" -gt 0 ]
ok $? "dss:primary: small blocks lie in [heap] ($small of 3000)" || show

heap secondary
[ "$rc" -eq 0 ] && [ "$total" -gt 0 ]
ok $? "dss:secondary: the heap job runs on Shimmer ($any blocks in [heap])" || show

heap disabled
[ "$rc" -eq 0 ] && [ "$total" -gt 0 ]
ok $? "dss:disabled: the heap job runs on Shimmer" || show
[ "$any" -eq 0 ]
ok $? "dss:disabled: no block lies in [heap]" || show

# The default is secondary: same behaviour as asking for it.
timeout_run 120 env LD_PRELOAD="$SHIMMER_LIB" "$helper" heap \
	>"$tmp/out" 2>"$tmp/err"
rc=$?
[ "$rc" -eq 0 ] && [ ! -s "$tmp/err" ]
ok $? "no dss option: the heap job runs quietly" || show

# brk memory after heavy use by several threads, then by one thread again.
timeout_run 120 env SHIMMER_OPTIONS=dss:primary,narenas:1 LD_PRELOAD="$SHIMMER_LIB" \
	"$helper" threads basic threads heap >"$tmp/out" 2>"$tmp/err"
rc=$?
[ "$rc" -eq 0 ] && [ ! -s "$tmp/err" ]
ok $? "dss:primary with one arena survives repeated threaded rounds" || show

done_testing
