#!/bin/sh
# SPDX-License-Identifier: MIT
#
# t-options - SHIMMER_OPTIONS as a user meets it.  Every documented key
# accepts its documented values silently; unknown keys, bad values,
# out-of-range numbers and malformed strings each produce a warning on
# stderr starting with "shimmer:" and are otherwise ignored: the program
# runs normally and exits 0.  Options that change how the heap works
# (tcache:false, narenas:1, decay_ms:0, ...) still run a multithreaded
# workload correctly, and stats_print:true reports at exit, in JSON with
# stats_format:json.
#
# The programs run with libshimmer preloaded: the helper from this
# directory (not linked with Shimmer), cat, sh and bash.

. "${top_srcdir:-.}/tests/tap.sh"
: "${top_builddir:=.}"
helper=$top_builddir/tests/helper

[ -x "$helper" ] || bail "$helper has not been built"
tap_scratch options

# run OPTIONS COMMAND...: stdout to $tmp/out, stderr to $tmp/err, status in rc
run() {
	run_opts=$1
	shift
	timeout_run 120 env SHIMMER_OPTIONS="$run_opts" LD_PRELOAD="$SHIMMER_LIB" \
		"$@" <"$tmp/in" >"$tmp/out" 2>"$tmp/err"
	rc=$?
}

show() {
	diag "exit status $rc"
	diag_file "$tmp/out" stdout
	diag_file "$tmp/err" stderr
}

# A valid setting: exit 0, not a word on stderr.
quiet() {
	q_desc=$1
	q_opts=$2
	shift 2
	run "$q_opts" "$@"
	[ "$rc" -eq 0 ] && [ ! -s "$tmp/err" ]
	ok $? "$q_desc" || show
}

# An invalid setting: exit 0 and a warning; every stderr line is ours.
warns() {
	w_desc=$1
	w_opts=$2
	shift 2
	run "$w_opts" "$@"
	[ "$rc" -eq 0 ] && grep -q '^shimmer:' "$tmp/err" &&
		! grep -v '^shimmer:' "$tmp/err" >/dev/null
	ok $? "$w_desc" || show
}

printf 'line one\nline two\n' >"$tmp/in"

# ---- accepted silently ------------------------------------------------
timeout_run 120 env LD_PRELOAD="$SHIMMER_LIB" "$helper" basic preloaded \
	>"$tmp/out" 2>"$tmp/err"
rc=$?
[ "$rc" -eq 0 ] && [ ! -s "$tmp/err" ] && grep -q '^shimmer ' "$tmp/out"
ok $? "without SHIMMER_OPTIONS the preloaded helper runs on Shimmer, quietly" || show

for o in narenas:1 narenas:4 narenas:1024 tcache:true tcache:false \
	decay_ms:0 decay_ms:1000 decay_ms:3600000 retain_chunks:0 \
	retain_chunks:1024 dss:primary dss:secondary dss:disabled \
	stats_print:false stats_format:text stats_format:json \
	narenas:2,tcache:false,decay_ms:5,retain_chunks:3,dss:disabled
do
	quiet "'$o' is accepted silently" "$o" "$helper" basic
done

# ---- warned about and ignored ------------------------------------------
long=$(awk 'BEGIN { for (i = 0; i < 10000; i++) printf "1" }')
longkey=$(awk 'BEGIN { for (i = 0; i < 10000; i++) printf "k" }')
for o in bogus:1 narenas:0 narenas:1025 narenas:-1 narenas:abc narenas:4x \
	narenas: narenas narenas:99999999999999999999 narenas:1:2 \
	tcache:maybe tcache: decay_ms:3600001 decay_ms:-5 \
	retain_chunks:1025 dss:sometimes stats_print:perhaps stats_format:xml \
	: ,,, :1 "narenas: 2"
do
	warns "'$o' gives a warning and is ignored" "$o" "$helper" basic
done
warns "an empty SHIMMER_OPTIONS gives a warning" "" "$helper" basic
warns "a 10000-digit narenas gives a warning" "narenas:$long" "$helper" basic
warns "a 10000-character dss value gives a warning" "dss:$longkey" "$helper" basic
warns "a 10000-character key gives a warning" "$longkey:1" "$helper" basic

warns "a bad key among good ones is warned about" "narenas:2,bogus:1,tcache:false" \
	"$helper" basic
grep -q bogus "$tmp/err"
ok $? "the warning names the offending key" || show

# ---- other programs -----------------------------------------------------
quiet "cat with good options" "narenas:2,tcache:false" cat
cmp -s "$tmp/in" "$tmp/out"
ok $? "cat copies its input unchanged"
warns "cat with a bad option" "narenas:0" cat
cmp -s "$tmp/in" "$tmp/out"
ok $? "and still copies its input unchanged"
quiet "sh -c true with good options" "decay_ms:0" sh -c true
warns "sh -c true with a bad option" "tcache:maybe" sh -c true

# ---- options that change the heap, under load ----------------------------
for o in tcache:false narenas:1 narenas:1,tcache:false narenas:1024 \
	decay_ms:0 decay_ms:0,retain_chunks:0 retain_chunks:1024 \
	dss:primary,tcache:false
do
	quiet "a multithreaded workload under '$o'" "$o" "$helper" basic threads
done

# ---- statistics at exit ---------------------------------------------------
run stats_print:true "$helper" basic
[ "$rc" -eq 0 ] && grep -q shimmer "$tmp/err" && [ ! -s "$tmp/out" ]
ok $? "stats_print:true writes a report naming shimmer to stderr at exit" || show

# A second program: bash, which leaves through exit() (dash uses _exit(),
# and coreutils close stderr on the way out, so neither can show a report).
if command -v bash >/dev/null 2>&1; then
	run stats_print:true bash -c 'read -r line; echo "$line"'
	[ "$rc" -eq 0 ] && grep -q shimmer "$tmp/err" &&
		[ "$(cat "$tmp/out")" = "line one" ]
	ok $? "stats_print:true under bash: output unchanged, report on stderr" || show
else
	skip 1 "bash not found"
fi

run stats_print:true,stats_format:json "$helper" basic
[ "$rc" -eq 0 ] && [ "$(tr -d ' \t\n' <"$tmp/err" | cut -c1)" = "{" ]
ok $? "stats_format:json prints a JSON object at exit" || show
if [ -n "$PYTHON3" ] && [ -x "$PYTHON3" ]; then
	"$PYTHON3" -c 'import json, sys; d = json.load(sys.stdin); assert isinstance(d, dict)' \
		<"$tmp/err" >"$tmp/py" 2>&1
	ok $? "the report parses as a JSON object" || diag_file "$tmp/py" python3
else
	skip 1 "python3 not found"
fi

run stats_print:false "$helper" basic
[ "$rc" -eq 0 ] && [ ! -s "$tmp/err" ]
ok $? "stats_print:false prints nothing" || show

done_testing
