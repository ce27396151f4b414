#!/bin/sh
# SPDX-License-Identifier: MIT
#
# t-tool - the shimmer command as a user meets it.
#
#   command line  --version, --help; every usage error exits 2 with a
#                 message and the usage on stderr.
#   run           real programs (sort, sqlite3, python3) print what they
#                 print without Shimmer; -o and --stats reach the program's
#                 SHIMMER_OPTIONS after the caller's, the library goes first
#                 in LD_PRELOAD, a bad option draws the library's warning;
#                 --stats and --stats=json report at exit; the exit status
#                 is the program's own (even a signal's), 127 for a program
#                 or library not found, 126 for a file that cannot be run.
#   stats, map    against tests/tool-fakepub, whose statistics are known to
#                 the byte: every number, the busiest class, the SVG's
#                 totals and page counts, the same from its JSON report;
#                 a wrong mark, version, size or offset is refused (exit 1);
#                 a process that never answers a picture request (exit 1).
#                 Errors: no such process, a process without Shimmer,
#                 another user's process (as root only), all exit 1.
#   live          against tests/tool-live under "shimmer run": 1000 blocks
#                 of 1000 bytes and more, allocated <= active <= mapped,
#                 JSON that parses, a heap picture whose totals equal the
#                 statistics, publish:false, --watch ending by itself when
#                 the process exits, and the library's own JSON report
#                 drawn as a map.
#
# Every command runs under a timeout; the helpers end by themselves after a
# minute.  XML is checked with python3 or xmllint, JSON with python3; a
# check whose tool is missing is skipped.

. "${top_srcdir:-.}/tests/tap.sh"
: "${top_builddir:=.}"
tool=$top_builddir/tools/shimmer
helper=$top_builddir/tests/helper
live=$top_builddir/tests/tool-live
fake=$top_builddir/tests/tool-fakepub

[ -n "$SHIMMER_LIB" ] && [ -f "$SHIMMER_LIB" ] ||
	bail "SHIMMER_LIB ('$SHIMMER_LIB') is not a file"
for p in "$tool" "$helper" "$live" "$fake"; do
	[ -x "$p" ] || bail "$p has not been built"
done
tmp=$(mktemp -d "${TMPDIR:-/tmp}/shimmer-tool.XXXXXX") || bail "mktemp failed"
bg=
cleanup() {
	for p in $bg; do
		kill "$p" 2>/dev/null
	done
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 1' HUP INT TERM
unset SHIMMER_OPTIONS
py=${PYTHON3:-}
[ -n "$py" ] && [ -x "$py" ] || py=

# t ARGS...: the tool, stdout to $tmp/out, stderr to $tmp/err, status in rc
# (standard input from $t_in, /dev/null unless set)
t() {
	timeout_run 60 "$tool" "$@" <"${t_in:-/dev/null}" >"$tmp/out" 2>"$tmp/err"
	rc=$?
}

# te VAR=VALUE ARGS...: the same with a variable set for the tool.
te() {
	te_var=$1
	shift
	timeout_run 60 env "$te_var" "$tool" "$@" </dev/null >"$tmp/out" 2>"$tmp/err"
	rc=$?
}

show() {
	diag "exit status $rc"
	diag_file "$tmp/out" stdout
	diag_file "$tmp/err" stderr
}

# A failure the user is told about in one line: the status, and a first
# stderr line that starts with "shimmer:".
failed_with() {
	[ "$rc" -eq "$1" ] && head -n 1 "$tmp/err" | grep -q '^shimmer: '
}

# The value after "KEY:" in the text report in FILE.
field() {
	awk -v k="$1:" '$1 == k { print $2; exit }' "$2"
}

# The value of KEY in a READYFILE of the helpers.
expect() {
	awk -v k="$1" '$1 == k { print $2; exit }' "$2"
}

# The value of a data-NAME attribute of the SVG's totals.
svg_total() {
	sed -n "/<g id=\"totals\"/s/.* data-$1=\"\\([0-9a-z]*\\)\".*/\\1/p" "$2" | head -n 1
}

# xml_ok FILE: 0 well-formed, 1 not, 77 nothing to check with.
xml_ok() {
	if [ -n "$py" ]; then
		"$py" -c 'import sys, xml.etree.ElementTree as E; E.parse(sys.argv[1])' \
			"$1" >"$tmp/xml.err" 2>&1
	elif command -v xmllint >/dev/null 2>&1; then
		xmllint --noout "$1" >"$tmp/xml.err" 2>&1
	else
		return 77
	fi
}

check_xml() {
	xml_ok "$1"
	case $? in
	0) ok 0 "$2" ;;
	77) skip 1 "neither python3 nor xmllint to check XML" ;;
	*) ok 1 "$2"; diag_file "$tmp/xml.err" "XML check" ;;
	esac
}

# start READYFILE COMMAND...: run it in the background, wait until it has
# written "ready PID" to READYFILE; sets pid (empty if it never did).
start() {
	s_ready=$1
	shift
	rm -f "$s_ready"
	"$@" </dev/null >"$s_ready.out" 2>"$s_ready.err" &
	bg="$bg $!"
	pid=
	for _ in $(seq 1 200); do
		if grep -q '^ready ' "$s_ready" 2>/dev/null; then
			pid=$(awk '$1 == "ready" { print $2 }' "$s_ready")
			return 0
		fi
		sleep 0.05
	done
	diag "never ready: $*"
	diag_file "$s_ready.err" stderr
	return 1
}

stop() {
	kill "$1" 2>/dev/null
	wait "$1" 2>/dev/null
}

# map_totals SVG DESCRIPTION: totals and page counts as the publisher says.
map_totals() {
	good=0
	for k in allocated active dirty mapped huge chunks huge-blocks \
		huge-bytes pages-header pages-free pages-dirty pages-large \
		pages-guard pages-slab pages-other; do
		if [ "$(svg_total "$k" "$1")" != "$(expect "$k" "$ex")" ]; then
			diag "$k: got '$(svg_total "$k" "$1")', want '$(expect "$k" "$ex")'"
			good=1
		fi
	done
	ok "$good" "$2"
}

# A process ID that is free: a child that has exited and been reaped.
dead_pid() {
	sh -c 'exit 0' &
	d=$!
	wait "$d"
	echo "$d"
}

version=$(sed -n 's/^#define PACKAGE_VERSION "\(.*\)"$/\1/p' "$top_builddir/config.h")

# ---- The command line ---------------------------------------------------------
t --version
[ "$rc" -eq 0 ] && [ "$(cat "$tmp/out")" = "shimmer $version" ] && [ ! -s "$tmp/err" ]
ok $? "--version prints 'shimmer $version'" || show
t -V
[ "$rc" -eq 0 ] && [ "$(cat "$tmp/out")" = "shimmer $version" ]
ok $? "-V is --version" || show
t --help
[ "$rc" -eq 0 ] && [ ! -s "$tmp/err" ] && grep -q 'shimmer run' "$tmp/out" &&
	grep -q 'shimmer stats' "$tmp/out" && grep -q 'shimmer map' "$tmp/out"
ok $? "--help shows the usage of run, stats and map on stdout" || show
t -h
[ "$rc" -eq 0 ] && grep -q '^Usage:' "$tmp/out"
ok $? "-h is --help" || show

# usage_error DESCRIPTION ARGS...: exit 2, a message, then the usage.
usage_error() {
	u_desc=$1
	shift
	t "$@"
	failed_with 2 && grep -q '^Usage:' "$tmp/err" && [ ! -s "$tmp/out" ]
	ok $? "usage error, exit 2: $u_desc" || show
}
usage_error "no command"
usage_error "an unknown command" frobnicate
usage_error "an unknown option" --frobnicate
usage_error "run without a program" run
usage_error "run with only options" run -o narenas:2 --stats
usage_error "run with an unknown option" run --bogus true
usage_error "run --stats with an unknown format" run --stats=xml true
usage_error "run -o without its value" run -o
usage_error "stats without a process" stats
usage_error "stats with a name for a process" stats init
usage_error "stats with a negative process ID" stats -- -1
usage_error "stats with two processes" stats 1 2
usage_error "stats --watch 0" stats --watch 0 1
usage_error "stats --watch with a word" stats --watch soon 1
usage_error "stats --watch without a value" stats 1 --watch
usage_error "stats with an unknown option" stats --bogus 1
usage_error "map without a source" map
usage_error "map with two sources" map 1 2
usage_error "map -o without a file" map 1 -o
usage_error "map with an unknown option" map --bogus 1

# ---- run -----------------------------------------------------------------------
t run -o narenas:2 -otcache:false env
[ "$rc" -eq 0 ] && grep -qx 'SHIMMER_OPTIONS=narenas:2,tcache:false' "$tmp/out"
ok $? "run: -o KEY:VAL and -oKEY:VAL reach SHIMMER_OPTIONS in order" || show
grep -qx "LD_PRELOAD=$SHIMMER_LIB" "$tmp/out"
ok $? "run: LD_PRELOAD is the library SHIMMER_LIB names" || show

timeout_run 60 env SHIMMER_OPTIONS=decay_ms:5 LD_PRELOAD="$SHIMMER_LIB" \
	"$tool" run -o narenas:2 --stats env </dev/null >"$tmp/out" 2>"$tmp/err"
rc=$?
[ "$rc" -eq 0 ] &&
	grep -qx 'SHIMMER_OPTIONS=decay_ms:5,narenas:2,stats_print:true' "$tmp/out" &&
	grep -qx "LD_PRELOAD=$SHIMMER_LIB:$SHIMMER_LIB" "$tmp/out"
ok $? "run: the caller's SHIMMER_OPTIONS and LD_PRELOAD are kept, after ours" || show

t run --stats=json -- env
grep -qx 'SHIMMER_OPTIONS=stats_print:true,stats_format:json' "$tmp/out"
ok $? "run: --stats=json sets stats_print:true,stats_format:json" || show
t run env
[ "$rc" -eq 0 ] && ! grep -q '^SHIMMER_OPTIONS=' "$tmp/out"
ok $? "run: without options SHIMMER_OPTIONS stays unset (empty, it draws a warning)" || show

t run "$helper" preloaded
[ "$rc" -eq 0 ] && [ ! -s "$tmp/err" ] && grep -q "^shimmer $version" "$tmp/out"
ok $? "run: the program allocates with Shimmer" || show
(unset SHIMMER_LIB; t run "$helper" preloaded; [ "$rc" -eq 0 ] &&
	grep -q "^shimmer $version" "$tmp/out")
ok $? "run: without SHIMMER_LIB, the build tree's library is used" || show

awk 'BEGIN { for (i = 0; i < 30000; i++) printf "%d line %d\n", (i * 7919) % 10007, i }' \
	>"$tmp/sort.in"
timeout_run 60 sort -n "$tmp/sort.in" >"$tmp/plain" 2>&1
t run sort -n "$tmp/sort.in"
[ "$rc" -eq 0 ] && [ ! -s "$tmp/err" ] && cmp -s "$tmp/plain" "$tmp/out"
ok $? "run sort: the same output as without Shimmer" || show

if [ -n "$SQLITE3" ] && [ -x "$SQLITE3" ]; then
	sql="create table t(k, v); with recursive c(x) as (select 1 union all select x + 1 from c where x < 50000) insert into t select x, hex(zeroblob(x % 64)) from c; select k % 7, count(*), sum(length(v)) from t group by k % 7 order by 1;"
	timeout_run 60 "$SQLITE3" :memory: "$sql" >"$tmp/plain" 2>&1
	t run "$SQLITE3" :memory: "$sql"
	[ "$rc" -eq 0 ] && [ ! -s "$tmp/err" ] && [ -s "$tmp/out" ] &&
		cmp -s "$tmp/plain" "$tmp/out"
	ok $? "run sqlite3: the same output as without Shimmer" || show
else
	skip 1 "sqlite3 not found"
fi

if [ -n "$py" ]; then
	prog='import json; d = {str(i): list(range(i % 50)) for i in range(20000)}; s = json.dumps(d); print(len(s), len(json.loads(s)))'
	timeout_run 60 "$py" -c "$prog" >"$tmp/plain" 2>&1
	t run "$py" -c "$prog"
	[ "$rc" -eq 0 ] && [ ! -s "$tmp/err" ] && [ -s "$tmp/out" ] &&
		cmp -s "$tmp/plain" "$tmp/out"
	ok $? "run python3: the same output as without Shimmer" || show
else
	skip 1 "python3 not found"
fi

t run -o bogus:1 "$helper" basic
[ "$rc" -eq 0 ] && grep -q '^shimmer:.*bogus' "$tmp/err"
ok $? "run -o bogus:1: the library warns, the program runs" || show

t run --stats "$helper" basic
[ "$rc" -eq 0 ] && [ ! -s "$tmp/out" ] && grep -q '^ *allocated: *[0-9]' "$tmp/err"
ok $? "run --stats: the library's report on stderr at exit" || show
t run --stats=json "$helper" basic
cp "$tmp/err" "$tmp/report.json"
[ "$rc" -eq 0 ] && [ "$(tr -d ' \t\n' <"$tmp/err" | cut -c1)" = "{" ]
ok $? "run --stats=json: a JSON report on stderr at exit" || show
if [ -n "$py" ]; then
	"$py" -c 'import json, sys; d = json.load(sys.stdin); assert isinstance(d["allocated"], int)' \
		<"$tmp/report.json" >"$tmp/py" 2>&1
	ok $? "the report parses as JSON, with allocated" || diag_file "$tmp/py" python3
else
	skip 1 "python3 not found"
fi

t run sh -c 'exit 7'
[ "$rc" -eq 7 ] && [ ! -s "$tmp/err" ]
ok $? "run: the program's exit status is passed through" || show
t run false
[ "$rc" -eq 1 ]
ok $? "run false: exit status 1" || show
t run sh -c 'kill -TERM $$'
[ "$rc" -eq 143 ]
ok $? "run: a program killed by a signal is seen so by the caller" || show
t run no-such-program-here
failed_with 127 && grep -q 'not found' "$tmp/err"
ok $? "run: a program not in PATH, exit 127" || show
t run "$tmp/no/such/program"
failed_with 127
ok $? "run: a path that does not exist, exit 127" || show
printf 'not a program\n' >"$tmp/noexec"
chmod 644 "$tmp/noexec"
t run "$tmp/noexec"
failed_with 126
ok $? "run: a file that cannot be executed, exit 126" || show
te "SHIMMER_LIB=$tmp/no/libshimmer.so.1" run true
failed_with 127 && grep -q "$tmp/no/libshimmer.so.1" "$tmp/err"
ok $? "run: a library that is not there, exit 127, named" || show

# ---- stats and map against a publisher of known numbers -------------------------
if start "$tmp/fake.ready" "$fake" good "$tmp/fake.ready"; then
	fp=$pid
	ex=$tmp/fake.ready
	t stats "$fp"
	cp "$tmp/out" "$tmp/fake.txt"
	good=0
	for k in allocated active dirty mapped huge nmalloc nfree narenas nchunks; do
		if [ "$(field "$k" "$tmp/out")" != "$(expect "$k" "$ex")" ]; then
			diag "$k: got '$(field "$k" "$tmp/out")', want '$(expect "$k" "$ex")'"
			good=1
		fi
	done
	[ "$rc" -eq 0 ] && [ "$good" -eq 0 ]
	ok $? "stats: every total of the published counters is right" || show
	awk '/^busiest size classes:/ { getline; getline; print; exit }' "$tmp/out" \
		>"$tmp/top"
	[ "$(awk '{ print $1, $2, $3, $4, $5 }' "$tmp/top")" = "64 1100 600 5 71.1%" ]
	ok $? "stats: the busiest class, its live objects, slabs and use" ||
		diag_file "$tmp/top" "first class"

	t stats --json "$fp"
	cp "$tmp/out" "$tmp/fake-stats.json"
	if [ -n "$py" ]; then
		"$py" - "$tmp/fake-stats.json" "$ex" >"$tmp/py" 2>&1 <<'EOF'
import json, sys
d = json.load(open(sys.argv[1]))
want = dict(l.split() for l in open(sys.argv[2]))
for k in ("allocated", "active", "dirty", "mapped", "huge", "nmalloc",
          "nfree", "narenas", "nchunks"):
    assert d[k] == int(want[k]), (k, d[k], want[k])
top = d["classes"][0]
assert (top["class"], top["size"], top["nmalloc"], top["live"], top["slabs"],
        top["util"], top["nfills"], top["nflushes"]) == \
    (3, 64, 1100, 600, 5, 711, 8, 6), top
assert d["version"] == "0.1.0-fake" and isinstance(d["rss"], int)
EOF
		[ "$rc" -eq 0 ]
		ok $? "stats --json: parses, with the same numbers and classes" ||
			{ show; diag_file "$tmp/py" python3; }
	else
		[ "$rc" -eq 0 ] && grep -q "\"allocated\": $(expect allocated "$ex")," "$tmp/out"
		ok $? "stats --json: the same allocated (python3 not found)" || show
	fi

	t map "$fp" -o "$tmp/fake.svg"
	[ "$rc" -eq 0 ] && [ -s "$tmp/fake.svg" ] && [ ! -s "$tmp/err" ]
	ok $? "map PID: writes the picture" || show
	check_xml "$tmp/fake.svg" "map PID: the SVG is well-formed XML"
	map_totals "$tmp/fake.svg" "map PID: totals and page counts are right"
	[ "$(grep -c '<g class="chunk"' "$tmp/fake.svg")" -eq 3 ] &&
		[ "$(grep -c '<rect class="huge"' "$tmp/fake.svg")" -eq 2 ]
	ok $? "map PID: three chunks and two huge blocks drawn"

	t map -o - "$fp"
	[ "$rc" -eq 0 ] && head -n 1 "$tmp/out" | grep -q '^<?xml' &&
		grep -q '</svg>' "$tmp/out"
	ok $? "map -o -: the SVG on standard output" || show

	if [ "$(id -u)" -eq 0 ] && command -v setpriv >/dev/null 2>&1 &&
		setpriv --reuid=65534 --regid=65534 --clear-groups "$tool" --version \
			>/dev/null 2>&1; then
		as_nobody() {
			timeout_run 60 setpriv --reuid=65534 --regid=65534 --clear-groups \
				"$tool" "$@" >"$tmp/out" 2>"$tmp/err"
			rc=$?
		}
		as_nobody stats "$fp"
		failed_with 1 && grep -q 'permission denied' "$tmp/err"
		ok $? "stats on another user's process: permission denied, exit 1" || show
		as_nobody map "$fp" -o -
		failed_with 1 && [ ! -s "$tmp/out" ]
		ok $? "map on another user's process: exit 1" || show
	else
		skip 2 "not root, or no setpriv: cannot act as another user"
	fi
	stop "$fp"
else
	ok 1 "the fake publisher starts"
fi

t stats "$(dead_pid)"
failed_with 1 && grep -q 'no process' "$tmp/err"
ok $? "stats on a process that does not exist: exit 1" || show
t map "$(dead_pid)" -o "$tmp/none.svg"
failed_with 1 && [ ! -e "$tmp/none.svg" ]
ok $? "map on a process that does not exist: exit 1, no file" || show

sleep 30 &
sl=$!
bg="$bg $sl"
t stats "$sl"
failed_with 1 && grep -q 'publishes no Shimmer statistics' "$tmp/err"
ok $? "stats on a process without Shimmer: exit 1, says so" || show
t map "$sl" -o "$tmp/none.svg"
failed_with 1 && [ ! -e "$tmp/none.svg" ]
ok $? "map on a process without Shimmer: exit 1, no file" || show
stop "$sl"

for mode in badmagic badversion short badoffset; do
	if start "$tmp/bad.ready" "$fake" "$mode" "$tmp/bad.ready"; then
		t stats "$pid"
		failed_with 1 && [ ! -s "$tmp/out" ]
		ok $? "stats refuses a mapping with $mode: exit 1, one message" || show
		stop "$pid"
	else
		ok 1 "the fake publisher starts ($mode)"
	fi
done

if start "$tmp/idle.ready" "$fake" idle "$tmp/idle.ready"; then
	t map "$pid" -o "$tmp/idle.svg"
	failed_with 1 && grep -q 'did not answer' "$tmp/err" && [ ! -e "$tmp/idle.svg" ]
	ok $? "map on a process that never answers: exit 1, says so, no file" || show
	stop "$pid"
else
	ok 1 "the fake publisher starts (idle)"
fi

# The same heap as the library's JSON report, with a line before it.
"$fake" json "$tmp/json.ready" >"$tmp/fake.json" 2>"$tmp/err"
ex=$tmp/json.ready
t map "$tmp/fake.json" -o "$tmp/fromjson.svg"
[ "$rc" -eq 0 ] && [ -s "$tmp/fromjson.svg" ]
ok $? "map FILE.json: draws the report's heap" || show
check_xml "$tmp/fromjson.svg" "map FILE.json: the SVG is well-formed XML"
map_totals "$tmp/fromjson.svg" "map FILE.json: totals and page counts are right"
grep -q '>384 B<' "$tmp/fromjson.svg"
ok $? "map FILE.json: the legend names the classes by size"
t_in=$tmp/fake.json
t map - -o -
t_in=
[ "$rc" -eq 0 ] && [ "$(svg_total allocated "$tmp/out")" = "$(expect allocated "$ex")" ]
ok $? "map - reads the report from standard input" || show

printf '{"allocated": 1, "heap": {"page_size": 4096, "chunk_size": 4194304, "chunks": [' \
	>"$tmp/cut.json"
t map "$tmp/cut.json" -o "$tmp/cut.svg"
failed_with 1 && [ ! -e "$tmp/cut.svg" ]
ok $? "map on a report cut short: exit 1, no file" || show
printf '{"allocated": 1}\n' >"$tmp/noheap.json"
t map "$tmp/noheap.json" -o "$tmp/noheap.svg"
failed_with 1 && grep -q 'no heap picture' "$tmp/err"
ok $? "map on a report without a heap picture: exit 1, says so" || show
t map "$tmp/no-such.json" -o "$tmp/none.svg"
failed_with 1
ok $? "map on a file that does not exist: exit 1" || show

# ---- Live processes on the real library --------------------------------------------
if ! grep -q 'shimmer-stats' "$SHIMMER_LIB"; then
	skip 13 "this libshimmer does not publish its statistics"
	done_testing
fi

# The tool's numbers for a quiet process, as "allocated active mapped".
live_totals() {
	t stats "$1"
	echo "$(field allocated "$tmp/out") $(field active "$tmp/out") $(field mapped "$tmp/out")"
}

if start "$tmp/live.ready" "$tool" run "$live" "$tmp/live.ready"; then
	lp=$pid
	t stats "$lp"
	cp "$tmp/out" "$tmp/live.txt"
	a=$(field allocated "$tmp/live.txt")
	ac=$(field active "$tmp/live.txt")
	m=$(field mapped "$tmp/live.txt")
	[ "$rc" -eq 0 ] && [ -n "$a" ] && [ "$a" -ge 1000000 ]
	ok $? "stats on a live process: allocated >= 1,000,000 ($a)" || show
	[ -n "$a" ] && [ "$a" -le "$ac" ] && [ "$ac" -le "$m" ]
	ok $? "stats: allocated <= active <= mapped ($a, $ac, $m)" || show
	[ "$(field huge "$tmp/live.txt")" -ge $((8 << 20)) ] &&
		[ "$(field rss "$tmp/live.txt")" -gt 0 ]
	ok $? "stats: the 8 MiB block counts as huge; the RSS is there" || show
	t stats --json "$lp"
	if [ -n "$py" ]; then
		"$py" -c 'import json, sys; d = json.load(sys.stdin); print(d["allocated"]); assert d["classes"]' \
			<"$tmp/out" >"$tmp/py" 2>&1
		[ "$rc" -eq 0 ] && [ "$(cat "$tmp/py")" = "$a" ]
		ok $? "stats --json on a live process: parses, the same allocated" ||
			{ show; diag_file "$tmp/py" python3; }
	else
		[ "$rc" -eq 0 ] && grep -q "\"allocated\": $a," "$tmp/out"
		ok $? "stats --json on a live process (python3 not found)" || show
	fi

	# The picture and a report right after it must agree; the process is
	# quiet but for failing requests, so a second try only covers a
	# report that raced with its merging of counts.
	good=1
	for try in 1 2 3; do
		t map "$lp" -o "$tmp/live.svg"
		[ "$rc" -eq 0 ] || break
		s="$(svg_total allocated "$tmp/live.svg") $(svg_total active "$tmp/live.svg") $(svg_total mapped "$tmp/live.svg")"
		l=$(live_totals "$lp")
		[ "$s" = "$l" ] && { good=0; break; }
		diag "try $try: map says '$s', stats says '$l'"
	done
	ok "$good" "map on a live process: its totals equal the statistics" || show
	check_xml "$tmp/live.svg" "map on a live process: well-formed XML"
	[ "$(svg_total chunks "$tmp/live.svg")" -ge 1 ] &&
		[ "$(svg_total huge-blocks "$tmp/live.svg")" -ge 1 ] &&
		[ "$(svg_total pages-slab "$tmp/live.svg")" -gt 0 ] &&
		[ "$(svg_total pages-large "$tmp/live.svg")" -gt 0 ]
	ok $? "map on a live process: chunks with slab and large pages, a huge block"

	# --watch follows the process until it exits, then ends by itself.
	timeout_run 30 "$tool" stats --watch 1 "$lp" >"$tmp/watch" 2>"$tmp/watch.err" &
	wp=$!
	for _ in $(seq 1 200); do
		grep -q '^ *allocated:' "$tmp/watch" && break
		sleep 0.05
	done
	stop "$lp"
	wait "$wp"
	rc=$?
	[ "$rc" -eq 0 ] && tail -n 1 "$tmp/watch" | grep -q "process $lp has exited"
	ok $? "stats --watch: ends with status 0 when the process exits" ||
		{ diag "exit status $rc"; diag_file "$tmp/watch.err" stderr; }
else
	ok 1 "tool-live starts under shimmer run"
fi

if start "$tmp/idle2.ready" "$tool" run "$live" "$tmp/idle2.ready" idle; then
	t map "$pid" -o "$tmp/idle2.svg"
	{ [ "$rc" -eq 0 ] && xml_ok "$tmp/idle2.svg"; } ||
		{ failed_with 1 && grep -q 'did not answer' "$tmp/err"; }
	ok $? "map on an idle process: a picture, or exit 1 saying it did not answer" ||
		show
	stop "$pid"
else
	ok 1 "tool-live starts (idle)"
fi

if start "$tmp/nopub.ready" "$tool" run -o publish:false "$live" "$tmp/nopub.ready"; then
	t stats "$pid"
	failed_with 1 && grep -q 'publish:false' "$tmp/err"
	ok $? "stats on a process with publish:false: exit 1, says so" || show
	stop "$pid"
else
	ok 1 "tool-live starts with publish:false"
fi

# The library's own JSON report, drawn.
if grep -q '"heap"' "$tmp/report.json"; then
	t map "$tmp/report.json" -o "$tmp/report.svg"
	[ "$rc" -eq 0 ] && [ -s "$tmp/report.svg" ]
	ok $? "map on the library's JSON report: draws it" || show
	check_xml "$tmp/report.svg" "map on the library's JSON report: well-formed XML"
	good=0
	for k in allocated active dirty mapped huge; do
		want=$(sed -n "s/^ *\"$k\": *\\([0-9]*\\),\$/\\1/p" "$tmp/report.json" | head -n 1)
		if [ "$(svg_total "$k" "$tmp/report.svg")" != "$want" ]; then
			diag "$k: got '$(svg_total "$k" "$tmp/report.svg")', want '$want'"
			good=1
		fi
	done
	ok "$good" "map on the library's JSON report: its totals are the report's"
else
	skip 3 "the library's JSON report has no heap picture"
fi

done_testing
