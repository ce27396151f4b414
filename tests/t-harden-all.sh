#!/bin/sh
# SPDX-License-Identifier: MIT
#
# t-harden-all - every opt-in check at once (junk, uaf_check, canary,
# guard, random_slab) gives no false alarm: correct programs run with
# libshimmer preloaded exactly as they do without it, and Shimmer says
# nothing.  The programs: the helper from this directory (all size ranges;
# a multithreaded workload with cross-thread frees and content checks),
# python3, sqlite3 and sort; a program that is not installed is skipped.
# The same runs again with zero_free in place of junk (one fill for freed
# blocks at a time).

. "${top_srcdir:-.}/tests/tap.sh"
: "${top_builddir:=.}"
helper=$top_builddir/tests/helper

[ -x "$helper" ] || bail "$helper has not been built"
tap_scratch harden

ALL=junk:true,zero_free:false,uaf_check:true,canary:true,guard:true,random_slab:true
ZERO=junk:false,zero_free:true,uaf_check:true,canary:true,guard:true,random_slab:true

usable() { [ -n "$1" ] && [ -x "$1" ]; }


# hardened NAME OPTIONS COMMAND...: run preloaded with OPTIONS; stdout to
# $tmp/NAME.out, stderr to $tmp/NAME.err, status in rc.
hardened() {
	h_name=$1
	h_opts=$2
	shift 2
	timeout_run 300 env SHIMMER_OPTIONS="$h_opts" LD_PRELOAD="$SHIMMER_LIB" \
		"$@" >"$tmp/$h_name.out" 2>"$tmp/$h_name.err"
	rc=$?
}

# plain NAME COMMAND...: the reference run, without Shimmer.
plain() {
	p_name=$1
	shift
	timeout_run 300 "$@" >"$tmp/$p_name.ref" 2>"$tmp/$p_name.ref.err"
	rc_ref=$?
}

# agree NAME DESCRIPTION: the hardened run succeeded, printed nothing on
# stderr, and its stdout is the reference's.
agree() {
	[ "$rc_ref" -eq 0 ] && [ "$rc" -eq 0 ] && [ ! -s "$tmp/$1.err" ] &&
		[ -s "$tmp/$1.ref" ] && cmp -s "$tmp/$1.ref" "$tmp/$1.out"
	ok $? "$2" || {
		diag "exit status reference $rc_ref, hardened $rc"
		diag_file "$tmp/$1.out" "hardened stdout"
		diag_file "$tmp/$1.err" "hardened stderr"
		diag_file "$tmp/$1.ref.err" "reference stderr"
	}
}

cat >"$tmp/work.py" <<'EOF'
import hashlib
import json
import random
import threading

random.seed(4242)
d = {}
for i in range(20000):
    d["k%d" % i] = [i, str(i) * (i % 9), {"v": i * 0.5, "t": (i, -i)}]
text = json.dumps(d, sort_keys=True)
assert json.dumps(json.loads(text), sort_keys=True) == text
out = []
def work(n):
    s = sorted(("%x" % (x * 2654435761 % 4294967296)) * (x % 5 + 1)
               for x in range(n * 1000, n * 1000 + 20000))
    out.append(hashlib.sha256("".join(s).encode()).hexdigest())
threads = [threading.Thread(target=work, args=(n,)) for n in range(4)]
for t in threads:
    t.start()
for t in threads:
    t.join()
buf = bytearray()
for i in range(20000):
    buf += bytes([i % 251]) * (i % 50)
print(len(d), len(buf), sorted(out), hashlib.sha256(text.encode()).hexdigest())
EOF

cat >"$tmp/work.sql" <<'EOF'
CREATE TABLE t(id INTEGER PRIMARY KEY, grp INTEGER, name TEXT, val REAL);
WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 20000)
INSERT INTO t(grp, name, val)
	SELECT x % 97, printf('name-%08d', (x * 7919) % 20011), (x * 37 % 1000) / 8.0
	FROM c;
CREATE INDEX t_name ON t(name);
SELECT grp, count(*), sum(val), min(name), max(name) FROM t GROUP BY grp ORDER BY grp;
UPDATE t SET name = upper(name) || '-' || id WHERE id % 3 = 0;
DELETE FROM t WHERE id % 5 = 0;
SELECT count(*), max(name), total(length(name)) FROM t;
EOF

awk 'BEGIN { for (i = 0; i < 100000; i++) printf "%d %x\n", (i * 7919) % 100003, i * 31 }' \
	>"$tmp/lines"

for set in ALL ZERO; do
	eval "opts=\$$set"

	for job in basic threads; do
		hardened helper "$opts" "$helper" $job
		[ "$rc" -eq 0 ] && [ ! -s "$tmp/helper.err" ] && [ ! -s "$tmp/helper.out" ]
		ok $? "$set: the helper's job '$job' runs clean" || {
			diag "options $opts"
			diag "exit status $rc"
			diag_file "$tmp/helper.out" stdout
			diag_file "$tmp/helper.err" stderr
		}
	done

	if usable "$PYTHON3"; then
		plain py "$PYTHON3" "$tmp/work.py"
		hardened py "$opts" "$PYTHON3" "$tmp/work.py"
		agree py "$set: python3 (dicts, JSON, threads) gives the same output"
	else
		skip 1 "python3 not found"
	fi

	if usable "$SQLITE3"; then
		plain sql "$SQLITE3" :memory: ".read $tmp/work.sql"
		hardened sql "$opts" "$SQLITE3" :memory: ".read $tmp/work.sql"
		agree sql "$set: sqlite3 (20000 rows, index, update) gives the same output"
	else
		skip 1 "sqlite3 not found"
	fi

	sort_prog=$(command -v sort)
	if usable "$sort_prog"; then
		plain sort env LC_ALL=C "$sort_prog" -n -S 1M -T "$tmp" "$tmp/lines"
		hardened sort "$opts" env LC_ALL=C "$sort_prog" -n -S 1M -T "$tmp" "$tmp/lines"
		agree sort "$set: sort (100000 lines, through temporary files) gives the same output"
	else
		skip 1 "sort not found"
	fi
done

done_testing
