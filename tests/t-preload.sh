#!/bin/sh
# SPDX-License-Identifier: MIT
#
# t-preload - real programs with libshimmer preloaded produce exactly what
# they produce without it: python3 (dicts, lists, JSON, sorting), sqlite3
# (a 20000-row table built by a recursive CTE, grouped and ordered), git
# (init, commits, log, gc, fsck), the C compiler (an -O2 object file,
# identical byte for byte, and the program built from it) and sort (200000
# lines, in memory and through temporary files).  A ctypes check inside
# python3 shows that malloc in the preloaded process really is Shimmer's.
#
# A program that is not installed is skipped.  PYTHON3, SQLITE3 and GIT come
# from configure; the compiler and sort are looked up in PATH.

. "${top_srcdir:-.}/tests/tap.sh"
: "${top_srcdir:=.}"

tap_scratch preload

# both NAME COMMAND...: run the command plainly (output in $tmp/NAME.plain,
# stderr in .plain.err) and preloaded (.pre, .pre.err); statuses in
# rc_plain and rc_pre.
both() {
	b_name=$1
	shift
	timeout_run 300 "$@" >"$tmp/$b_name.plain" 2>"$tmp/$b_name.plain.err"
	rc_plain=$?
	timeout_run 300 env LD_PRELOAD="$SHIMMER_LIB" "$@" \
		>"$tmp/$b_name.pre" 2>"$tmp/$b_name.pre.err"
	rc_pre=$?
}

# same NAME DESCRIPTION: both runs succeeded with identical output.
same() {
	[ "$rc_plain" -eq 0 ] && [ "$rc_pre" -eq 0 ] &&
		[ -s "$tmp/$1.plain" ] && cmp -s "$tmp/$1.plain" "$tmp/$1.pre"
	ok $? "$2" || {
		diag "exit status plain $rc_plain, preloaded $rc_pre"
		diag_file "$tmp/$1.pre" "preloaded stdout"
		diag_file "$tmp/$1.pre.err" "preloaded stderr"
		diag_file "$tmp/$1.plain.err" "plain stderr"
	}
}

usable() { [ -n "$1" ] && [ -x "$1" ]; }

# ---- python3 ---------------------------------------------------------------
cat >"$tmp/work.py" <<'EOF'
import hashlib
import json
import random

random.seed(12345)
d = {}
for i in range(40000):
    d["k%d" % i] = [i, str(i) * (i % 7), {"v": i * 1.5, "t": (i, -i)}]
nums = [random.random() for _ in range(100000)]
nums.sort()
text = json.dumps(d, sort_keys=True)
back = json.loads(text)
assert back == json.loads(json.dumps(back))
words = sorted({"w%x" % random.getrandbits(40) for _ in range(50000)})
buf = bytearray()
for i in range(30000):
    buf += bytes([i % 251]) * (i % 40)
h = hashlib.sha256()
h.update(text.encode())
h.update(repr(nums[::997]).encode())
h.update("".join(words).encode())
h.update(bytes(buf))
print(len(d), len(words), len(buf), h.hexdigest())
EOF

cat >"$tmp/probe.py" <<'EOF'
import ctypes

lib = ctypes.CDLL(None)
lib.shimmer_version.restype = ctypes.c_char_p
lib.malloc.restype = ctypes.c_void_p
lib.malloc.argtypes = [ctypes.c_size_t]
lib.free.argtypes = [ctypes.c_void_p]
lib.shimmer_usable_size.restype = ctypes.c_size_t
lib.shimmer_usable_size.argtypes = [ctypes.c_void_p]
p = lib.malloc(100)
n = lib.shimmer_usable_size(p)
lib.free(p)
print(lib.shimmer_version().decode())
print("usable %s" % ("ok" if n >= 100 else "too small: %d" % n))
EOF

want_version=$(sed -n 's/^#define SHIMMER_VERSION "\(.*\)"$/\1/p' \
	"$top_srcdir/include/shimmer.h")

if usable "$PYTHON3"; then
	both python "$PYTHON3" "$tmp/work.py"
	same python "python3: dicts, JSON round trip, sorting give the same result"

	timeout_run 120 env LD_PRELOAD="$SHIMMER_LIB" "$PYTHON3" "$tmp/probe.py" \
		>"$tmp/ct.out" 2>"$tmp/ct.err"
	rc=$?
	[ "$rc" -eq 0 ] && [ "$(sed -n 1p "$tmp/ct.out")" = "$want_version" ]
	ok $? "python3 -> ctypes: shimmer_version() is '$want_version'" || {
		diag_file "$tmp/ct.out" stdout
		diag_file "$tmp/ct.err" stderr
	}
	[ "$(sed -n 2p "$tmp/ct.out")" = "usable ok" ]
	ok $? "python3 -> ctypes: malloc(100) is a Shimmer block of >= 100 bytes" ||
		diag_file "$tmp/ct.out" stdout
else
	skip 3 "python3 not found"
fi

# ---- sqlite3 ----------------------------------------------------------------
cat >"$tmp/work.sql" <<'EOF'
CREATE TABLE t(id INTEGER PRIMARY KEY, grp INTEGER, name TEXT, val REAL);
WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 20000)
INSERT INTO t(grp, name, val)
	SELECT x % 97, printf('name-%08d', (x * 7919) % 20011), (x * 37 % 1000) / 8.0
	FROM c;
CREATE INDEX t_name ON t(name);
SELECT grp, count(*), sum(val), min(name), max(name) FROM t GROUP BY grp ORDER BY grp;
SELECT name, val FROM t ORDER BY name DESC, id LIMIT 50;
SELECT count(DISTINCT name), total(length(name)) FROM t;
SELECT group_concat(name, ',') FROM (SELECT name FROM t WHERE grp = 5 ORDER BY name);
UPDATE t SET name = upper(name) || '-' || id WHERE id % 3 = 0;
DELETE FROM t WHERE id % 5 = 0;
VACUUM;
SELECT count(*), max(name) FROM t;
EOF

if usable "$SQLITE3"; then
	rm -f "$tmp/db.plain" "$tmp/db.pre"
	timeout_run 300 "$SQLITE3" "$tmp/db.plain" <"$tmp/work.sql" \
		>"$tmp/sql.plain" 2>"$tmp/sql.plain.err"
	rc_plain=$?
	timeout_run 300 env LD_PRELOAD="$SHIMMER_LIB" "$SQLITE3" "$tmp/db.pre" \
		<"$tmp/work.sql" >"$tmp/sql.pre" 2>"$tmp/sql.pre.err"
	rc_pre=$?
	same sql "sqlite3: 20000 rows via recursive CTE, group/order/update/vacuum agree"
	both sqlcheck "$SQLITE3" "$tmp/db.pre" "PRAGMA integrity_check; SELECT count(*) FROM t;"
	same sqlcheck "sqlite3: the database written under Shimmer passes integrity_check"
else
	skip 2 "sqlite3 not found"
fi

# ---- git ------------------------------------------------------------------------
# Fixed identities and dates make the commit ids reproducible, so the two
# runs must agree on them.
git_work() {
	gw_dir=$1
	shift
	mkdir -p "$gw_dir" "$tmp/home" && cd "$gw_dir" || return 1
	(
		export HOME="$tmp/home" XDG_CONFIG_HOME="$tmp/home/.config" \
			GIT_CONFIG_NOSYSTEM=1 GIT_CONFIG_GLOBAL=/dev/null \
			GIT_AUTHOR_NAME="Shimmer Test" GIT_AUTHOR_EMAIL=test@example.org \
			GIT_COMMITTER_NAME="Shimmer Test" GIT_COMMITTER_EMAIL=test@example.org \
			GIT_AUTHOR_DATE="2021-02-03T04:05:06Z" \
			GIT_COMMITTER_DATE="2021-02-03T04:05:06Z" LC_ALL=C TZ=UTC
		"$@" "$GIT" -c init.defaultBranch=main init -q . || exit 1
		for round in 1 2 3 4; do
			i=0
			while [ $i -lt 40 ]; do
				awk -v r=$round -v f=$i 'BEGIN {
					for (l = 0; l < 200 + f * 5; l++)
						printf "round %d file %d line %d %d\n", r, f, l, (l * r * 7919) % 1000
				}' >"file$i.txt"
				i=$((i + 1 + round % 2))
			done
			"$@" "$GIT" add -A || exit 1
			"$@" "$GIT" commit -q -m "round $round" || exit 1
		done
		"$@" "$GIT" log --format='%H %T %s' &&
		"$@" "$GIT" diff --stat HEAD~3 HEAD &&
		"$@" "$GIT" gc -q &&
		"$@" "$GIT" fsck --strict 2>&1 &&
		"$@" "$GIT" count-objects -v | grep -v -e size -e prune
	)
}

if usable "$GIT"; then
	(git_work "$tmp/g.plain" timeout_run 120 env) \
		>"$tmp/git.plain" 2>"$tmp/git.plain.err"
	rc_plain=$?
	(git_work "$tmp/g.pre" timeout_run 120 env LD_PRELOAD="$SHIMMER_LIB") \
		>"$tmp/git.pre" 2>"$tmp/git.pre.err"
	rc_pre=$?
	same git "git: init, 4 commits, log, diff, gc, fsck agree (same commit ids)"
else
	skip 1 "git not found"
fi

# ---- the C compiler ------------------------------------------------------------
cc=$(command -v gcc || command -v cc)
cat >"$tmp/prog.c" <<'EOF'
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct node { struct node *l, *r; long key; };

static struct node *insert(struct node *t, long k)
{
	if (!t) {
		t = calloc(1, sizeof *t);
		t->key = k;
	} else if (k < t->key) {
		t->l = insert(t->l, k);
	} else {
		t->r = insert(t->r, k);
	}
	return t;
}

static long walk(const struct node *t, long acc)
{
	return t ? walk(t->r, walk(t->l, acc) * 31 + t->key) % 1000000007 : acc;
}

static int cmp(const void *a, const void *b)
{
	long x = *(const long *)a, y = *(const long *)b;
	return (x > y) - (x < y);
}

int main(void)
{
	struct node *t = NULL;
	long v[5000];
	for (long i = 0; i < 5000; i++) {
		v[i] = (i * 7919) % 5003;
		t = insert(t, v[i]);
	}
	qsort(v, 5000, sizeof v[0], cmp);
	printf("%ld %ld %ld\n", walk(t, 0), v[0], v[4999]);
	return 0;
}
EOF

if usable "$cc"; then
	(cd "$tmp" && "$cc" -O2 -c prog.c -o prog.plain.o) 2>"$tmp/cc.plain.err"
	rc_plain=$?
	(cd "$tmp" && timeout_run 300 env LD_PRELOAD="$SHIMMER_LIB" \
		"$cc" -O2 -c prog.c -o prog.pre.o) \
		2>"$tmp/cc.pre.err"
	rc_pre=$?
	[ "$rc_plain" -eq 0 ] && [ "$rc_pre" -eq 0 ] &&
		cmp -s "$tmp/prog.plain.o" "$tmp/prog.pre.o"
	ok $? "$cc -O2 under Shimmer writes the same object file" || {
		diag "exit status plain $rc_plain, preloaded $rc_pre"
		diag_file "$tmp/cc.pre.err" "preloaded stderr"
	}
	(cd "$tmp" && timeout_run 300 env LD_PRELOAD="$SHIMMER_LIB" \
		"$cc" -O2 prog.c -o prog.pre) \
		2>"$tmp/ld.pre.err" && (cd "$tmp" && "$cc" -O2 prog.c -o prog.plain) &&
		[ "$("$tmp/prog.pre")" = "$("$tmp/prog.plain")" ] &&
		[ -n "$("$tmp/prog.plain")" ]
	ok $? "a program compiled and linked under Shimmer runs correctly" ||
		diag_file "$tmp/ld.pre.err" "preloaded stderr"
else
	skip 2 "no C compiler found"
fi

# ---- sort -----------------------------------------------------------------------
sort=$(command -v sort)
if usable "$sort"; then
	awk 'BEGIN {
		srand(20240601)
		for (i = 0; i < 200000; i++)
			printf "%08x %d %s\n", int(rand() * 4294967295), int(rand() * 100000), substr("abcdefghijklmnopqrstuvwxyz", 1 + int(rand() * 26))
	}' >"$tmp/lines"
	both sort env LC_ALL=C "$sort" "$tmp/lines"
	same sort "sort: 200000 random lines"
	both sortn env LC_ALL=C "$sort" -k2,2n -k1,1r "$tmp/lines"
	same sortn "sort -k2,2n -k1,1r: keyed numeric sort"
	both sortt env LC_ALL=C TMPDIR="$tmp" "$sort" -S 1M --parallel=2 -u "$tmp/lines"
	same sortt "sort -S 1M --parallel=2 -u: merging through temporary files"
else
	skip 3 "sort not found"
fi

done_testing
