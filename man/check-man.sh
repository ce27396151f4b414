#!/bin/sh
# SPDX-License-Identifier: MIT
# TAP test: every manual page in man/ formats without a warning from mandoc
# and man-db (the checks lintian makes), lexgrog reads its NAME line, and
# shimmer(3) covers exactly the functions that include/shimmer.h declares.
# A check whose tool is missing is skipped, not failed.

srcdir=${srcdir:-.}
mandir=$srcdir/man
header=$srcdir/include/shimmer.h

pages=$(ls "$mandir"/*.[1-8] 2>/dev/null | LC_ALL=C sort)
npages=$(printf '%s\n' "$pages" | grep -c .)
echo "1..$((npages * 3 + 7))"

n=0
failed=0
ok() {	# ok STATUS DESCRIPTION [DIAGNOSTICS]
	n=$((n + 1))
	if [ "$1" -eq 0 ]; then
		echo "ok $n - $2"
	else
		echo "not ok $n - $2"
		failed=1
		[ -n "$3" ] && printf '%s\n' "$3" | sed 's/^/# /'
	fi
	return 0
}
skip() {
	n=$((n + 1))
	echo "ok $n # SKIP $1"
}
have() { command -v "$1" >/dev/null 2>&1; }

for page in $pages; do
	name=${page##*/}

	if have mandoc; then
		out=$(mandoc -Tlint -W warning "$page" 2>&1)
		rc=$?
		[ -z "$out" ] || rc=1
		ok $rc "mandoc -Tlint $name" "$out"
	else
		skip "mandoc -Tlint $name: mandoc not installed"
	fi

	if have man && have groff; then
		out=$(LC_ALL=C.UTF-8 MANROFFSEQ='' MANWIDTH=80 \
			man --warnings -E UTF-8 -l -Tutf8 -Z "$page" 2>&1 >/dev/null)
		rc=$?
		[ -z "$out" ] || rc=1
		ok $rc "man --warnings $name" "$out"
	else
		skip "man --warnings $name: man or groff not installed"
	fi

	if have lexgrog; then
		out=$(lexgrog "$page" 2>&1)
		rc=$?
		case $out in *"parse failed"*) rc=1 ;; esac
		ok $rc "lexgrog $name" "$out"
	else
		skip "lexgrog $name: man-db not installed"
	fi
done

# The functions, as declared in the header and as shown by the page.
tmp=${TMPDIR:-/tmp}/check-man.$$
trap 'rm -f "$tmp".*' EXIT
grep -v '^typedef' "$header" |
	sed -n 's/.*\(shimmer_[a-z0-9_]*\)(.*/\1/p' | LC_ALL=C sort -u >"$tmp.h"
sed -n '/^\.SH SYNOPSIS/,/^\.SH /p' "$mandir/shimmer.3" |
	grep -v 'typedef' |
	sed -n 's/.*\(shimmer_[a-z0-9_]*\)(.*/\1/p' | LC_ALL=C sort -u >"$tmp.syn"
out=$(diff "$tmp.h" "$tmp.syn")
ok $? "SYNOPSIS of shimmer.3 declares the functions of shimmer.h" "$out"

sed -n '/^\.SH NAME/,/^\.SH /p' "$mandir/shimmer.3" |
	tr ', ' '\n\n' | grep '^shimmer_' | LC_ALL=C sort -u >"$tmp.name"
out=$(diff "$tmp.h" "$tmp.name")
ok $? "NAME of shimmer.3 lists the functions of shimmer.h" "$out"

sed -n '/^SHIMMER_MAN3_LINKS/,/^$/p' "$mandir/local.mk" |
	sed -n 's/.*\(shimmer_[a-z0-9_]*\)\.3.*/\1/p' | LC_ALL=C sort -u \
	>"$tmp.links"
out=$(diff "$tmp.h" "$tmp.links")
ok $? "man/local.mk links a page for each function of shimmer.h" "$out"

# Every SHIMMER_OPTIONS key is a .TP whose tag line has the documented shape
# (see the comment at the top of shimmer.3), so that tests can compare the
# section with the options table.
keyre='^\.BR [a-z_][a-z0-9_]* " \([a-z]+(\|[a-z]+)*, default [^,)]+(, range [0-9]+ to [0-9]+)?\)"$'
sed -n '/^\.SH ENVIRONMENT/,/^\.SH /p' "$mandir/shimmer.3" |
	sed -n '/^The keys are:/,$p' | grep -A1 '^\.TP' | grep -v '^\.TP' |
	grep -v '^--$' >"$tmp.keys"
out=$(grep -Ev "$keyre" "$tmp.keys")
[ -s "$tmp.keys" ] && [ -z "$out" ]
ok $? "ENVIRONMENT keys of shimmer.3 follow the tag-line format" "$out"

# ... and list the keys of the options table in lib/options.c, in its order,
# with the same types, defaults and ranges.
opts=$srcdir/lib/options.c
if grep -q 'shm_option_table\[\] = {' "$opts" 2>/dev/null; then
	sed -n '/shm_option_table\[\] = {/,/^};/p' "$opts" |
		sed -n 's/^[[:space:]]*{ *"\([a-z_0-9]*\)", *\("[^"]*"\|BOOL\), *OPT([a-z_0-9]*), *\([0-9]*\), *\([0-9]*\), *"\([^"]*\)".*/\1 \2 \3 \4 \5/p' |
		while read -r key type min max def; do
			type=$(echo "$type" | tr -d '"')
			[ "$type" = BOOL ] && type=bool
			if [ "$type" = unsigned ]; then
				echo ".BR $key \" ($type, default $def, range $min to $max)\""
			else
				echo ".BR $key \" ($type, default $def)\""
			fi
		done >"$tmp.table"
	out=$(diff "$tmp.table" "$tmp.keys")
	[ -s "$tmp.table" ] && [ -z "$out" ]
	ok $? "ENVIRONMENT keys of shimmer.3 match the table in lib/options.c" "$out"
else
	skip "ENVIRONMENT keys match lib/options.c: no options table there"
fi

# The struct shown in shimmer(3) has the members of the header's.
sed -n '/^struct shimmer_stats {/,/^};/p' "$header" |
	sed -n 's/^[[:space:]]*size_t \([a-z_]*\);.*/\1/p' >"$tmp.sh"
sed -n '/^struct shimmer_stats {/,/^};/p' "$mandir/shimmer.3" |
	sed -n 's/^[[:space:]]*size_t \([a-z_]*\);.*/\1/p' >"$tmp.sm"
out=$(diff "$tmp.sh" "$tmp.sm")
[ -s "$tmp.sh" ] && [ -z "$out" ]
ok $? "struct shimmer_stats in shimmer.3 matches shimmer.h" "$out"

# The example in shimmer(3) is the one packaging/t-install.sh compiles.
sed -n '/^\.SS Program source/,/^\.SH /p' "$mandir/shimmer.3" |
	sed -n '/^\.EX/,/^\.EE/p' >"$tmp.ex"
grep -q 'int$' "$tmp.ex" && grep -q '^main(void)' "$tmp.ex"
ok $? "shimmer.3 has the example program under Program source"

exit $failed
