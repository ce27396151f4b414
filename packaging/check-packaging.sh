#!/bin/bash
# SPDX-License-Identifier: MIT
#
# check-packaging.sh - build and check Shimmer's distribution packages.
#
# Run from the top of a configured build tree ("make check-packaging" does):
#   1. make dist (the release tarball) and make distcheck;
#   2. the Debian packages, built from that tarball with dpkg-buildpackage
#      (running "make check"), checked with lintian (no error, no warning)
#      and against debian/libshimmer1.symbols, then installed with apt,
#      used (pkg-config, man, a program built and run) and removed again;
#   3. the RPM packages, built with rpmbuild -ba from the same tarball,
#      checked with rpm -qpl, rpm -qp --provides and rpmlint (no error).
# The results are printed as TAP; the exit status is non-zero if any check
# failed.  As root, the tools it needs are installed with apt-get, and the
# Debian packages are installed and removed; otherwise those steps are
# skipped.  KEEP=1 keeps the scratch directory; NOCHECK=1 skips distcheck
# and the test suite inside the package builds (to look at the packaging
# alone while a test fails).

set -euo pipefail

export LC_ALL=C.UTF-8
here=$(cd "$(dirname "$0")" && pwd)
top_srcdir=$(cd "$here/.." && pwd)
builddir=$(pwd)
MAKE=${MAKE:-make}
start=$(date +%s)

if [ ! -f "$builddir/Makefile" ]; then
	echo "Bail out! run from the top of a configured build tree" >&2
	exit 2
fi
# The parent make's jobserver is not ours to use.
unset MAKEFLAGS MFLAGS MAKELEVEL

version=$(sed -n 's/^PACKAGE_VERSION = //p' "$builddir/Makefile")
tarball=$builddir/shimmer-$version.tar.gz
debarch=$(dpkg-architecture -qDEB_HOST_ARCH 2>/dev/null || echo amd64)
multiarch=$(dpkg-architecture -qDEB_HOST_MULTIARCH 2>/dev/null ||
	echo x86_64-linux-gnu)
debversion=$(sed -n '1s/^shimmer (\([^)]*\)).*/\1/p' "$top_srcdir/debian/changelog")

work=$(mktemp -d "${TMPDIR:-/tmp}/shimmer-packaging.XXXXXX")
logs=$work/logs
mkdir -p "$logs"

# Note: with pipefail, "producer | grep -q" fails when grep -q stops reading
# early; pipes below use grep >/dev/null instead.

# ---- TAP ------------------------------------------------------------------
n=0 npass=0 nfail=0 nskip=0
declare -A failed_step=()

tap_ok() {	# tap_ok STATUS DESCRIPTION [LOG]
	n=$((n + 1))
	if [ "$1" -eq 0 ]; then
		npass=$((npass + 1))
		echo "ok $n - $2"
	else
		nfail=$((nfail + 1))
		echo "not ok $n - $2"
		if [ -n "${3-}" ] && [ -s "$3" ]; then
			echo "#   last lines of $3:"
			tail -n 30 "$3" | sed 's/^/#   /'
		fi
	fi
}
tap_skip() {	# tap_skip DESCRIPTION REASON
	n=$((n + 1)) nskip=$((nskip + 1))
	echo "ok $n - $1 # SKIP $2"
}
diag() { sed 's/^/# /'; }

# step NAME DESCRIPTION [NEEDS...]: runs the function do_NAME in a subshell
# with errexit on, its output in $logs/NAME.log.  A step whose needed steps
# failed is skipped.
step() {
	local name=$1 desc=$2 need rc
	shift 2
	for need in "$@"; do
		if [ -n "${failed_step[$need]-}" ]; then
			failed_step[$name]=1
			tap_skip "$desc" "needs $need"
			return 0
		fi
	done
	local t0=$SECONDS
	set +e
	(set -e; "do_$name") >"$logs/$name.log" 2>&1
	rc=$?
	set -e
	[ "$rc" -eq 0 ] || failed_step[$name]=1
	tap_ok "$rc" "$desc ($((SECONDS - t0)) s)" "$logs/$name.log"
}

is_root() { [ "$(id -u)" -eq 0 ]; }

# ---- Tools ------------------------------------------------------------------
tools_pkgs=(autoconf automake libtool make gcc libc6-dev pkgconf
	dpkg-dev debhelper fakeroot lintian rpm rpmlint
	mandoc man-db binutils python3 sqlite3 git)

do_tools() {
	local missing=() p
	for p in "${tools_pkgs[@]}"; do
		dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null |
			grep 'install ok installed' >/dev/null || missing+=("$p")
	done
	[ ${#missing[@]} -eq 0 ] && { echo "all tools present"; return 0; }
	is_root || { echo "missing, and not root: ${missing[*]}"; return 1; }
	export DEBIAN_FRONTEND=noninteractive
	apt-get install -y --no-install-recommends "${missing[@]}" ||
		{ apt-get update && apt-get install -y --no-install-recommends \
			"${missing[@]}"; }
}

# ---- Release tarball --------------------------------------------------------
do_dist() {
	cd "$builddir"
	$MAKE dist
	tar tzf "$tarball" >"$work/dist-contents.txt"
	grep -x "shimmer-$version/shimmer.spec" "$work/dist-contents.txt"
	grep -x "shimmer-$version/configure" "$work/dist-contents.txt"
}

do_distcheck() {
	cd "$builddir"
	$MAKE distcheck
	test -f "$tarball"
}

# ---- Debian -----------------------------------------------------------------
debdir=$work/deb
debsrc=$debdir/shimmer-$version
debs=(libshimmer1 libshimmer-dev shimmer-tools)
debfile() { echo "$debdir/${1}_${debversion}_$2.deb"; }

do_deb_build() {
	case $debversion in
	"$version"-*) ;;
	*) echo "debian/changelog is at $debversion, the tarball at $version"
	   return 1 ;;
	esac
	mkdir -p "$debdir"
	cp "$tarball" "$debdir/shimmer_$version.orig.tar.gz"
	tar xzf "$tarball" -C "$debdir"
	cp -a "$top_srcdir/debian" "$debsrc/"
	cd "$debsrc"
	DEB_BUILD_OPTIONS="parallel=$(nproc)${NOCHECK:+ nocheck}" \
		dpkg-buildpackage -us -uc
	ls -l "$debdir"
}

do_deb_lintian() {
	local changes="$debdir/shimmer_${debversion}_$debarch.changes"
	lintian --display-info --fail-on error,warning "$changes" |
		tee "$work/lintian.txt"
}

do_deb_symbols() {
	local x="$work/deb-x" want got
	rm -rf "$x"; mkdir -p "$x"
	dpkg-deb -x "$(debfile libshimmer1 "$debarch")" "$x"
	# Lines tagged (arch-bits=N) hold the C++ operators, whose mangled
	# names spell size_t by its width: only this machine's count.
	want=$(awk -v tag="(arch-bits=$(getconf LONG_BIT))" '
		$1 ~ /@Base$/ {
			s = $1
			if (substr(s, 1, 1) == "(") {
				if (index(s, tag) != 1)
					next
				s = substr(s, length(tag) + 1)
			}
			sub(/@Base$/, "", s)
			print s
		}' "$top_srcdir/debian/libshimmer1.symbols" | sort)
	got=$(nm -D --defined-only "$x"/usr/lib/"$multiarch"/libshimmer.so.1 |
		awk '{ print $NF }' | sort)
	diff <(echo "$want") <(echo "$got")
}

do_deb_contents() {
	local p
	for p in "${debs[@]}"; do
		echo "== $p"
		dpkg-deb -c "$(debfile "$p" "$debarch")" | awk '{ print $6, $7, $8 }'
	done >"$work/deb-contents.txt"
	cat "$work/deb-contents.txt"
	local want=(
		"./usr/lib/$multiarch/libshimmer.so.1"
		"./usr/lib/$multiarch/libshimmer.so"
		"./usr/lib/$multiarch/libshimmer.a"
		"./usr/lib/$multiarch/pkgconfig/shimmer.pc"
		"./usr/include/shimmer.h"
		"./usr/share/man/man3/shimmer.3.gz"
		"./usr/share/man/man3/shimmer_malloc.3.gz"
		"./usr/bin/shimmer"
		"./usr/share/man/man1/shimmer.1.gz"
		"./usr/share/doc/libshimmer1/copyright")
	for p in "${want[@]}"; do
		grep -q "^$p\( \|$\)" "$work/deb-contents.txt" ||
			{ echo "missing: $p"; return 1; }
	done
	! grep -q '\.la$' "$work/deb-contents.txt"
}

do_deb_install() {
	local p installed=()
	for p in "${debs[@]}"; do
		dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null |
			grep 'install ok installed' >/dev/null && installed+=("$p")
	done
	export DEBIAN_FRONTEND=noninteractive
	[ ${#installed[@]} -eq 0 ] || apt-get purge -y "${installed[@]}"
	apt-get install -y --no-install-recommends \
		"$(debfile libshimmer1 "$debarch")" \
		"$(debfile libshimmer-dev "$debarch")" \
		"$(debfile shimmer-tools "$debarch")"
	for p in "${debs[@]}"; do
		dpkg-query -W -f='${Package} ${Version} ${Status}\n' "$p"
	done
}

do_deb_pkgconfig() {
	env -u PKG_CONFIG_PATH -u PKG_CONFIG_LIBDIR -u PKG_CONFIG_SYSROOT_DIR \
		pkg-config --libs shimmer | tee "$work/pc-libs.txt"
	[ "$(tr -d ' \n' <"$work/pc-libs.txt")" = "-lshimmer" ]
	pkg-config --exists --print-errors "shimmer = $version"
}

do_deb_man() {
	man -w 3 shimmer
	man -w shimmer_malloc
	man -w 1 shimmer
	MANWIDTH=80 man -P cat 3 shimmer >"$work/man3.txt"
	grep -q 'shimmer_usable_size' "$work/man3.txt"
	grep -q 'SHIMMER_OPTIONS' "$work/man3.txt"
	MANWIDTH=80 man -P cat shimmer_free_sized | grep 'shimmer_free_sized' >/dev/null
	MANWIDTH=80 man -P cat 1 shimmer | grep 'shimmer run' >/dev/null
}

do_deb_program() {
	local t="$work/prog"
	mkdir -p "$t"
	cat >"$t/prog.c" <<'EOF'
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

	/* shimmer_usable_size() aborts on a pointer Shimmer did not hand out. */
	if (p == NULL || shimmer_usable_size(p) < 100)
		return 1;
	if (sym == NULL || dladdr(sym, &info) == 0 || info.dli_fname == NULL)
		return 2;
	printf("%s %s\n", shimmer_version(), info.dli_fname);
	free(p);
	return 0;
}
EOF
	# shellcheck disable=SC2046
	cc -o "$t/prog" "$t/prog.c" $(pkg-config --cflags --libs shimmer) -ldl
	"$t/prog" | tee "$t/out"
	grep -Eq "^$version /(usr/)?lib/$multiarch/libshimmer\.so\.1$" "$t/out"
}

do_deb_tool() {
	shimmer --version
	shimmer run --stats -- true 2>"$work/tool-stats.txt"
	cat "$work/tool-stats.txt"
	test -s "$work/tool-stats.txt"
	set +e
	shimmer run -- /nonexistent/program; rc=$?
	set -e
	[ "$rc" -eq 127 ]
}

do_deb_remove() {
	dpkg-query -L "${debs[@]}" | sort -u >"$work/deb-files.txt"
	DEBIAN_FRONTEND=noninteractive apt-get remove -y "${debs[@]}"
	local p f left=0
	for p in "${debs[@]}"; do
		if dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null |
			grep ' installed' >/dev/null; then
			echo "still installed: $p"; left=1
		fi
	done
	# Nothing is left to purge (no conffiles), but leave no record either.
	dpkg --purge "${debs[@]}"
	while read -r f; do
		if [ -f "$f" ] || [ -L "$f" ]; then
			echo "left behind: $f"; left=1
		fi
	done <"$work/deb-files.txt"
	[ "$left" -eq 0 ]
	! pkg-config --exists shimmer
}

# ---- RPM --------------------------------------------------------------------
rpmtop=$work/rpm
rpmarch=$(rpm --eval '%{_arch}' 2>/dev/null || echo x86_64)
rpmfile() {	# rpmfile SUBPACKAGE-SUFFIX
	ls "$rpmtop/RPMS/$rpmarch/shimmer${1}-$version-"*".$rpmarch.rpm"
}

do_rpm_build() {
	mkdir -p "$rpmtop/SOURCES"
	cp "$tarball" "$rpmtop/SOURCES/"
	tar xzf "$tarball" -C "$work" "shimmer-$version/shimmer.spec"
	# On Debian, rpm's brp-compress needs bash (it uses read -d) but runs
	# under dash, and documentation goes to NAME-VERSION directories; set
	# both as Fedora has them.  --nodeps: the BuildRequires are Fedora's
	# package names.
	rpmbuild -ba --nodeps ${NOCHECK:+--nocheck} --define "_topdir $rpmtop" \
		--define '__brp_compress bash %{_rpmconfigdir}/brp-compress %{?_prefix}' \
		--define '_docdir_fmt %%{NAME}' \
		"$work/shimmer-$version/shimmer.spec"
	find "$rpmtop/RPMS" "$rpmtop/SRPMS" -name '*.rpm' | sort
}

do_rpm_files() {
	local libdir sub f
	libdir=$(rpm --eval '%{_libdir}')
	for sub in "" -devel -static -tools; do
		echo "== shimmer$sub"
		rpm -qpl "$(rpmfile "$sub")" | sed "s/^/shimmer$sub /"
	done | tee "$work/rpm-files.txt"
	for f in \
		"shimmer $libdir/libshimmer.so.1" \
		"shimmer /usr/share/licenses/shimmer/COPYING" \
		"shimmer /usr/share/doc/shimmer/README" \
		"shimmer-devel /usr/include/shimmer.h" \
		"shimmer-devel $libdir/libshimmer.so" \
		"shimmer-devel $libdir/pkgconfig/shimmer.pc" \
		"shimmer-devel /usr/share/man/man3/shimmer.3.gz" \
		"shimmer-devel /usr/share/man/man3/shimmer_malloc.3.gz" \
		"shimmer-static $libdir/libshimmer.a" \
		"shimmer-tools /usr/bin/shimmer" \
		"shimmer-tools /usr/share/man/man1/shimmer.1.gz"; do
		grep -qx "$f" "$work/rpm-files.txt" ||
			{ echo "missing: $f"; return 1; }
	done
	! grep -q '\.la$' "$work/rpm-files.txt"
}

do_rpm_provides() {
	rpm -qp --provides "$(rpmfile "")" | tee "$work/rpm-provides.txt"
	rpm -qp --provides "$(rpmfile -devel)" | tee -a "$work/rpm-provides.txt"
	grep -q '^libshimmer\.so\.1()(64bit)' "$work/rpm-provides.txt"
	grep -q '^pkgconfig(shimmer) = ' "$work/rpm-provides.txt"
}

do_rpm_lint() {
	# rpmlint exits non-zero on errors; warnings are listed but accepted.
	# packaging/rpmlint.toml holds the Fedora settings Debian's rpmlint lacks.
	rpmlint -c "$here/rpmlint.toml" "$work/shimmer-$version/shimmer.spec" \
		"$rpmtop"/SRPMS/*.rpm "$rpmtop"/RPMS/*/*.rpm |
		tee "$work/rpmlint.txt"
	! grep -q ': E: ' "$work/rpmlint.txt"
}

# ---- Run --------------------------------------------------------------------
echo "# shimmer $version: packaging checks in $work"
step tools "the tools are installed"
step dist "make dist" tools
if [ -n "${NOCHECK-}" ]; then
	tap_skip "make distcheck" "NOCHECK is set"
else
	step distcheck "make distcheck" dist
fi

step deb_build "dpkg-buildpackage -us -uc from the dist tarball" dist
step deb_lintian "lintian: no errors, no warnings" deb_build
if [ -s "$work/lintian.txt" ]; then
	diag <"$work/lintian.txt"
fi
step deb_symbols "debian/libshimmer1.symbols lists exactly the exports" deb_build
step deb_contents "the .debs hold the expected files" deb_build
if is_root; then
	step deb_install "apt-get install ./*.deb" deb_build
	step deb_pkgconfig "pkg-config --libs shimmer prints -lshimmer" deb_install
	step deb_man "man 3 shimmer, man shimmer_malloc, man 1 shimmer" deb_install
	step deb_program "a program built with pkg-config runs on Shimmer" \
		deb_install
	step deb_tool "shimmer --version, shimmer run" deb_install
	step deb_remove "apt-get remove removes every file" deb_install
else
	for d in "apt-get install ./*.deb" "pkg-config --libs shimmer" \
		"man 3 shimmer" "a program built with pkg-config" "shimmer run" \
		"apt-get remove"; do
		tap_skip "$d" "not root"
	done
fi

step rpm_build "rpmbuild -ba from the dist tarball" dist
step rpm_files "rpm -qpl: the expected files in each package" rpm_build
step rpm_provides "rpm -qp --provides: libshimmer.so.1()(64bit), pkgconfig(shimmer)" rpm_build
step rpm_lint "rpmlint: no errors" rpm_build
if [ -s "$work/rpmlint.txt" ]; then
	grep -E ': [EW]: ' "$work/rpmlint.txt" | diag || :
fi

echo "1..$n"
echo "# took $(( $(date +%s) - start )) s"
echo "check-packaging: $npass passed, $nfail failed, $nskip skipped"
if [ "$nfail" -eq 0 ] && [ -z "${KEEP-}" ]; then
	rm -rf "$work"
else
	echo "# logs kept in $logs"
fi
[ "$nfail" -eq 0 ]
