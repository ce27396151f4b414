#!/bin/sh
# SPDX-License-Identifier: MIT
# TAP test: install the tree into a scratch directory (make install
# DESTDIR=...), then build programs against the staged copy the way a user
# would, with pkg-config, and check that they run on the staged Shimmer.
# Run from the top of the build tree, as "make check" does; top_builddir
# may point elsewhere.

top_builddir=${top_builddir:-.}
srcdir=${srcdir:-.}
mk=$top_builddir/Makefile
pc=$top_builddir/shimmer.pc

if [ ! -f "$mk" ] || [ ! -f "$pc" ]; then
	echo "1..0 # SKIP no configured build tree at $top_builddir"
	exit 0
fi
if ! command -v pkg-config >/dev/null 2>&1; then
	echo "1..0 # SKIP pkg-config not installed"
	exit 0
fi

echo "1..9"
n=0
failed=0
ok() {	# ok STATUS DESCRIPTION [FILE-WITH-DIAGNOSTICS]
	n=$((n + 1))
	if [ "$1" -eq 0 ]; then
		echo "ok $n - $2"
	else
		echo "not ok $n - $2"
		failed=1
		[ -n "${3-}" ] && [ -s "$3" ] && sed 's/^/# /' "$3" | tail -n 40
	fi
	return 0
}

tmp=$(mktemp -d "${TMPDIR:-/tmp}/shimmer-install.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT
stage=$tmp/stage

# The configured directories and tools, as the build tree knows them.
libdir=$(pkg-config --variable=libdir "$pc")
includedir=$(pkg-config --variable=includedir "$pc")
version=$(pkg-config --modversion "$pc")
getvar() { sed -n "s/^$1 = //p" "$mk" | head -n 1; }
prefix=$(getvar prefix)
datarootdir=$(getvar datarootdir)
mandir=$(getvar mandir)
eval "datarootdir=\"$datarootdir\"; mandir=\"$mandir\""
cc=$(getvar CC)
cc=${cc:-cc}

# 1: install.  The sub-make must not inherit the jobserver of "make check".
MAKEFLAGS= MFLAGS= MAKELEVEL= ${MAKE:-make} -C "$top_builddir" install \
	DESTDIR="$stage" >"$tmp/log" 2>&1
ok $? "make install DESTDIR=..." "$tmp/log"

# 2: the files a user of the library needs, where the pkg-config file says.
: >"$tmp/log"
for f in "$libdir/libshimmer.so" "$libdir/pkgconfig/shimmer.pc" \
	"$includedir/shimmer.h" "$mandir/man3/shimmer.3" \
	"$mandir/man3/shimmer_malloc.3" "$mandir/man1/shimmer.1"; do
	[ -e "$stage$f" ] || echo "missing: $f" >>"$tmp/log"
done
soname=$(ls "$stage$libdir"/libshimmer.so.[0-9]* 2>/dev/null | head -n 1)
[ -n "$soname" ] || echo "missing: $libdir/libshimmer.so.N" >>"$tmp/log"
[ ! -s "$tmp/log" ]
ok $? "installed files are in place" "$tmp/log"

# 3: the staged pkg-config file.
export PKG_CONFIG_SYSROOT_DIR="$stage"
export PKG_CONFIG_LIBDIR="$stage$libdir/pkgconfig"
unset PKG_CONFIG_PATH
{
	pkg-config --validate shimmer &&
	test "$(pkg-config --modversion shimmer)" = "$version" &&
	grep -q "SHIMMER_VERSION \"$version\"" "$stage$includedir/shimmer.h"
} >"$tmp/log" 2>&1
ok $? "shimmer.pc validates; version $version matches shimmer.h" "$tmp/log"

# 4: only the malloc family, its __libc_ aliases, shimmer_* and C++'s
# operators new and delete (_Znw/_Zna/_Zdl/_Zda, mangled) are exported.
if command -v nm >/dev/null 2>&1 && [ -n "$soname" ]; then
	nm -D --defined-only "$soname" | awk '{ print $NF }' |
		grep -Ev '^(malloc|free|calloc|realloc|reallocarray|posix_memalign|aligned_alloc|memalign|valloc|pvalloc|malloc_usable_size|free_sized|free_aligned_sized|malloc_trim|malloc_stats|malloc_info|mallinfo2|__libc_(malloc|free|calloc|realloc|memalign|valloc|pvalloc)|shimmer_[a-z0-9_]+|_Z(nw|na|dl|da)[A-Za-z0-9_]*|_init|_fini)$' \
		>"$tmp/log"
	[ ! -s "$tmp/log" ]
	ok $? "libshimmer exports nothing but the allocator's names" "$tmp/log"
else
	n=$((n + 1)); echo "ok $n # SKIP nm not installed"
fi

# 5-7: a program built against the staged tree runs on the staged library.
cat >"$tmp/prog.c" <<'EOF'
#define _GNU_SOURCE 1
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <shimmer.h>

int
main(void)
{
	Dl_info info;
	void *sym = dlsym(RTLD_DEFAULT, "malloc");
	char *p = malloc(100);

	if (p == NULL)
		return 1;
	/* shimmer_usable_size() aborts on a pointer Shimmer did not hand out. */
	printf("usable %zu\n", shimmer_usable_size(p));
	if (sym != NULL && dladdr(sym, &info) != 0 && info.dli_fname != NULL)
		printf("malloc-from %s\n", info.dli_fname);
	printf("version %s\n", shimmer_version());
	free(p);
	return 0;
}
EOF
# shellcheck disable=SC2046
$cc -o "$tmp/prog" "$tmp/prog.c" $(pkg-config --cflags --libs shimmer) -ldl \
	>"$tmp/log" 2>&1
ok $? "cc prog.c \$(pkg-config --cflags --libs shimmer)" "$tmp/log"

LD_LIBRARY_PATH="$stage$libdir" "$tmp/prog" >"$tmp/out" 2>"$tmp/log"
rc=$?
cat "$tmp/out" >>"$tmp/log"
ok $rc "the program runs" "$tmp/log"

usable=$(sed -n 's/^usable //p' "$tmp/out")
from=$(sed -n 's/^malloc-from //p' "$tmp/out")
{
	[ "${usable:-0}" -ge 100 ] &&
	case $from in "$stage$libdir"/libshimmer.so*) true ;; *) false ;; esac &&
	grep -qx "version $version" "$tmp/out"
} >/dev/null 2>&1
ok $? "malloc is Shimmer's (usable $usable, from ${from:-?})" "$tmp/log"

# 8-9: the example program of shimmer(3), as printed in the page.
sed -n '/^\.SS Program source/,/^\.SH /p' "$srcdir/man/shimmer.3" |
	sed -n '/^\.EX/,/^\.EE/p' | sed '/^\.E[XE]/d; s/\\e/\\/g; s/\\-/-/g' \
	>"$tmp/example.c"
# shellcheck disable=SC2046
$cc -o "$tmp/example" "$tmp/example.c" $(pkg-config --cflags --libs shimmer) \
	>"$tmp/log" 2>&1
ok $? "the example in shimmer(3) compiles" "$tmp/log"

LD_LIBRARY_PATH="$stage$libdir" "$tmp/example" >"$tmp/out" 2>"$tmp/err"
rc=$?
cat "$tmp/out" "$tmp/err" >"$tmp/log"
[ $rc -eq 0 ] && grep -q '^asked for 100 bytes, got [0-9]' "$tmp/out" &&
	grep -qx "Shimmer $version" "$tmp/out" && [ -s "$tmp/err" ]
ok $? "the example in shimmer(3) runs and prints statistics" "$tmp/log"

exit $failed
