#!/bin/sh
# SPDX-License-Identifier: MIT
#
# t-valgrind - memcheck follows Shimmer's blocks.  With libshimmer
# preloaded and --soname-synonyms=somalloc=nouserintercepts, the program
# runs on Shimmer, whose blocks are announced to memcheck, and memcheck
# reports (as shimmer(3), NOTES, says) a leaked block, a read of a freed
# block and a write past the end of a block, each with the right sizes and
# the program's frames; the opt-in checks that memcheck replaces are
# switched off with one warning.  Without the option, memcheck replaces
# Shimmer's malloc with its own and still reports the leak.
#
# The mistakes are made by tests/harden-vg (not linked with Shimmer).
# Skipped without valgrind, or when the library was built without
# valgrind's headers (then it has no annotations to test).

. "${top_srcdir:-.}/tests/tap.sh"
: "${top_builddir:=.}"
prog=$top_builddir/tests/harden-vg

[ -x "$prog" ] || bail "$prog has not been built"

NTESTS=12
plan $NTESTS

if ! command -v valgrind >/dev/null 2>&1; then
	skip $NTESTS "valgrind is not installed"
	exit 0
fi

tap_scratch vg

show() {
	diag "exit status $rc"
	diag_file "$1" "memcheck's report"
	diag_file "$tmp/err" stderr
}

# Was the library built with the annotations?  The configuration says so;
# failing that, a leak memcheck cannot see in Shimmer's blocks says not.
annotated=unknown
if [ -f "$top_builddir/config.h" ]; then
	if grep -q '^#define SHM_VALGRIND 1' "$top_builddir/config.h"; then
		annotated=yes
	else
		annotated=no
	fi
fi
if [ "$annotated" = unknown ]; then
	timeout_run 120 env LD_PRELOAD="$SHIMMER_LIB" valgrind -q \
		--soname-synonyms=somalloc=nouserintercepts --leak-check=full \
		--log-file="$tmp/probe" "$prog" leak >/dev/null 2>&1
	if grep -q 'definitely lost' "$tmp/probe"; then
		annotated=yes
	else
		annotated=no
	fi
fi
if [ "$annotated" = no ]; then
	skip $NTESTS "libshimmer was built without valgrind annotations (valgrind/memcheck.h)"
	exit 0
fi

# valgrind hands LD_PRELOAD on to the program it runs, with its own
# preload added; the launcher itself also runs on Shimmer, outside memcheck.
keep='--soname-synonyms=somalloc=nouserintercepts'

# (a) A leak of 77 bytes, from main.
timeout_run 120 env LD_PRELOAD="$SHIMMER_LIB" valgrind -q --error-exitcode=42 \
	--leak-check=full --errors-for-leak-kinds=definite "$keep" \
	--log-file="$tmp/leak" "$prog" leak >"$tmp/out" 2>"$tmp/err"
rc=$?
[ "$rc" -eq 42 ] && grep -q '77 bytes in 1 blocks are definitely lost' "$tmp/leak"
ok $? "on Shimmer: a 77-byte leak is reported as definitely lost" || show "$tmp/leak"
sed -n '/77 bytes in 1 blocks/,/^==[0-9]*== *$/p' "$tmp/leak" >"$tmp/leak.stack"
grep -q 'main (' "$tmp/leak.stack" && grep -q 'leak (' "$tmp/leak.stack"
ok $? "on Shimmer: the leak's stack shows leak() and main()" || show "$tmp/leak"
! grep -q vgpreload_memcheck "$tmp/leak.stack"
ok $? "on Shimmer: the leaked block is Shimmer's, not memcheck's malloc's" ||
	show "$tmp/leak"

# (b) A read of byte 50 of a freed 64-byte block.
timeout_run 120 env LD_PRELOAD="$SHIMMER_LIB" valgrind -q --error-exitcode=42 \
	"$keep" --log-file="$tmp/uaf" "$prog" uaf-read >"$tmp/out" 2>"$tmp/err"
rc=$?
[ "$rc" -eq 42 ] && grep -q 'Invalid read of size 1' "$tmp/uaf" &&
	grep -q "50 bytes inside a block of size 64 free'd" "$tmp/uaf"
ok $? "on Shimmer: a read of a freed block is reported, 50 bytes inside 64" ||
	show "$tmp/uaf"
grep -q 'uaf_read (' "$tmp/uaf" && ! grep -q vgpreload_memcheck "$tmp/uaf"
ok $? "on Shimmer: the read's report names uaf_read(), in Shimmer's block" ||
	show "$tmp/uaf"

# (c) A write one past the end of a 24-byte block.
timeout_run 120 env LD_PRELOAD="$SHIMMER_LIB" valgrind -q --error-exitcode=42 \
	"$keep" --log-file="$tmp/over" "$prog" overflow >"$tmp/out" 2>"$tmp/err"
rc=$?
[ "$rc" -eq 42 ] && grep -q 'Invalid write of size 1' "$tmp/over" &&
	grep -q '0 bytes after a block of size 24' "$tmp/over"
ok $? "on Shimmer: a write one past a 24-byte block is reported" ||
	show "$tmp/over"

# (e) The opt-in checks memcheck replaces are switched off, with one
# warning, and memcheck's own check still works.  (zero_free is left out:
# the valgrind launcher runs on Shimmer too, outside memcheck, and must
# not trip over anything but what this case is about.)
timeout_run 120 env LD_PRELOAD="$SHIMMER_LIB" \
	SHIMMER_OPTIONS=junk:true,uaf_check:true,canary:true \
	valgrind -q --error-exitcode=42 "$keep" --log-file="$tmp/opts" \
	"$prog" uaf-read >"$tmp/out" 2>"$tmp/err"
rc=$?
[ "$(grep -c '^shimmer:' "$tmp/err")" -eq 1 ] && grep -q valgrind "$tmp/err"
ok $? "on Shimmer: junk, uaf_check and canary give one warning" ||
	show "$tmp/opts"
[ "$rc" -eq 42 ] && grep -q "50 bytes inside a block of size 64 free'd" "$tmp/opts"
ok $? "on Shimmer with those options: memcheck still reports the read" ||
	show "$tmp/opts"

# A real program: on Shimmer, memcheck finds no invalid access and
# exactly the leaks it finds on its own allocator (sort leaks a little).
leaks() {
	sed -n 's/.*==[0-9]*== *\(.* blocks are definitely lost\).*/\1/p' "$1" | sort
}
printf 'b\na\n' >"$tmp/in"
timeout_run 120 env LD_PRELOAD="$SHIMMER_LIB" valgrind -q --leak-check=full \
	"$keep" --log-file="$tmp/sort.shm" sort "$tmp/in" >"$tmp/out" 2>"$tmp/err"
rc=$?
timeout_run 120 valgrind -q --leak-check=full --log-file="$tmp/sort.vg" \
	sort "$tmp/in" >/dev/null 2>&1
[ "$rc" -eq 0 ] && [ "$(cat "$tmp/out")" = "a
b" ] && ! grep -q -e 'Invalid' -e 'uninitialised' "$tmp/sort.shm" &&
	[ "$(leaks "$tmp/sort.shm")" = "$(leaks "$tmp/sort.vg")" ]
ok $? "on Shimmer: sort under memcheck, no error, the same leaks as without" || {
	show "$tmp/sort.shm"
	diag_file "$tmp/sort.vg" "memcheck's report on its own allocator"
}

# (d) By default memcheck's allocator replaces Shimmer's, and sees all.
timeout_run 120 env LD_PRELOAD="$SHIMMER_LIB" valgrind -q --error-exitcode=42 \
	--leak-check=full --errors-for-leak-kinds=definite \
	--log-file="$tmp/dleak" "$prog" leak >"$tmp/out" 2>"$tmp/err"
rc=$?
[ "$rc" -eq 42 ] && grep -q '77 bytes in 1 blocks are definitely lost' "$tmp/dleak"
ok $? "by default: the 77-byte leak is reported" || show "$tmp/dleak"
grep -q vgpreload_memcheck "$tmp/dleak"
ok $? "by default: the block is memcheck's malloc's" || show "$tmp/dleak"
timeout_run 120 env LD_PRELOAD="$SHIMMER_LIB" valgrind -q --error-exitcode=42 \
	--log-file="$tmp/dover" "$prog" overflow >"$tmp/out" 2>"$tmp/err"
rc=$?
[ "$rc" -eq 42 ] && grep -q '0 bytes after a block of size 24' "$tmp/dover"
ok $? "by default: the write past a 24-byte block is reported" || show "$tmp/dover"

done_testing
