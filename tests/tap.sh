# SPDX-License-Identifier: MIT
# tap.sh - TAP output for the shell tests, the counterpart of tap.h.
# Sourced, not run.  Results go to stdout, diagnostics as "# ..." lines.

tap_run=0
tap_failed=0
tap_planned=

plan() {
	tap_planned=$1
	echo "1..$1"
}

# ok STATUS DESCRIPTION: STATUS is a command's exit status (0 passes).
ok() {
	tap_run=$((tap_run + 1))
	if [ "$1" -eq 0 ]; then
		echo "ok $tap_run - $2"
	else
		tap_failed=$((tap_failed + 1))
		echo "not ok $tap_run - $2"
	fi
	return "$1"
}

# check DESCRIPTION COMMAND...: run the command, report its success.
check() {
	tap_desc=$1
	shift
	"$@"
	ok $? "$tap_desc"
}

skip() {
	tap_n=$1
	shift
	while [ "$tap_n" -gt 0 ]; do
		tap_run=$((tap_run + 1))
		echo "ok $tap_run # SKIP $*"
		tap_n=$((tap_n - 1))
	done
}

diag() {
	printf '%s\n' "$@" | sed 's/^/# /'
}

# Show a file as diagnostics, at most a few lines of it.
diag_file() {
	if [ -s "$1" ]; then
		echo "# --- $2:"
		head -n 20 "$1" | cut -c1-300 | sed 's/^/#   /'
	fi
}

# timeout_run SECONDS COMMAND...: a command that hangs is killed (and so
# fails) instead of hanging the test suite; without timeout(1), just run it.
timeout_run() {
	if command -v timeout >/dev/null 2>&1; then
		timeout -k 5 "$@"
	else
		shift
		"$@"
	fi
}

bail() {
	echo "Bail out! $*"
	exit 255
}

# tap_scratch NAME: the start of every test that preloads the library:
# check $SHIMMER_LIB, make a scratch directory $tmp removed at exit, and
# clear SHIMMER_OPTIONS so only the options a case sets apply.
tap_scratch() {
	[ -n "$SHIMMER_LIB" ] && [ -f "$SHIMMER_LIB" ] ||
		bail "SHIMMER_LIB ('$SHIMMER_LIB') is not a file"
	tmp=$(mktemp -d "${TMPDIR:-/tmp}/shimmer-$1.XXXXXX") || bail "mktemp failed"
	trap 'rm -rf "$tmp"' EXIT
	unset SHIMMER_OPTIONS
}

done_testing() {
	if [ -z "$tap_planned" ]; then
		echo "1..$tap_run"
		tap_planned=$tap_run
	fi
	if [ "$tap_run" -ne "$tap_planned" ]; then
		echo "# planned $tap_planned tests but ran $tap_run"
		exit 1
	fi
	[ "$tap_failed" -eq 0 ] || exit 1
	exit 0
}
