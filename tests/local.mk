# SPDX-License-Identifier: MIT
# Black-box tests of the public behaviour.  The C programs link against
# libshimmer, so they run on Shimmer the way a program built with -lshimmer
# does; the shell scripts preload libshimmer into other programs (the helper
# below, and real programs found on the system).

# -fno-builtin-*: the tests count on every allocation call reaching the
# allocator, not being folded away by the compiler.
TEST_NOBUILTIN = -fno-builtin-malloc -fno-builtin-calloc \
	-fno-builtin-realloc -fno-builtin-free
TEST_COMMON = tests/tap.h tests/testutil.h

AM_TESTS_ENVIRONMENT = \
	SHIMMER_LIB='$(abs_top_builddir)/lib/.libs/libshimmer.so.1'; \
	top_builddir='$(abs_top_builddir)'; \
	top_srcdir='$(abs_top_srcdir)'; \
	PYTHON3='@PYTHON3@'; SQLITE3='@SQLITE3@'; GIT='@GIT@'; \
	export SHIMMER_LIB top_builddir top_srcdir PYTHON3 SQLITE3 GIT;

SHIMMER_C_TESTS = \
	tests/t-api \
	tests/t-sizes \
	tests/t-align \
	tests/t-realloc \
	tests/t-calloc \
	tests/t-lend \
	tests/t-dirty \
	tests/t-trim \
	tests/t-stress \
	tests/t-xthread \
	tests/t-thread-exit \
	tests/t-many-threads \
	tests/t-fork \
	tests/t-lifecycle \
	tests/t-linked \
	tests/t-footprint \
	tests/t-thp \
	tests/t-dlopen \
	tests/t-stats \
	tests/t-ctl \
	tests/t-errors \
	tests/t-cxx

SHIMMER_SH_TESTS = \
	tests/t-options.sh \
	tests/t-dss.sh \
	tests/t-preload.sh \
	tests/t-bench.sh

check_PROGRAMS += $(SHIMMER_C_TESTS) tests/helper
dist_check_SCRIPTS += $(SHIMMER_SH_TESTS)
TESTS += $(SHIMMER_C_TESTS) $(SHIMMER_SH_TESTS)
EXTRA_DIST += tests/tap.sh

tests_t_api_SOURCES = tests/t-api.c $(TEST_COMMON)
tests_t_api_CFLAGS = $(AM_CFLAGS) $(TEST_NOBUILTIN)
tests_t_api_LDADD = lib/libshimmer.la $(PTHREAD_LIBS)

tests_t_sizes_SOURCES = tests/t-sizes.c $(TEST_COMMON)
tests_t_sizes_CFLAGS = $(AM_CFLAGS) $(TEST_NOBUILTIN)
tests_t_sizes_LDADD = lib/libshimmer.la $(PTHREAD_LIBS)

tests_t_align_SOURCES = tests/t-align.c $(TEST_COMMON)
tests_t_align_CFLAGS = $(AM_CFLAGS) $(TEST_NOBUILTIN)
tests_t_align_LDADD = lib/libshimmer.la $(PTHREAD_LIBS)

tests_t_realloc_SOURCES = tests/t-realloc.c $(TEST_COMMON)
tests_t_realloc_CFLAGS = $(AM_CFLAGS) $(TEST_NOBUILTIN)
tests_t_realloc_LDADD = lib/libshimmer.la $(PTHREAD_LIBS)

tests_t_calloc_SOURCES = tests/t-calloc.c $(TEST_COMMON)
tests_t_calloc_CFLAGS = $(AM_CFLAGS) $(TEST_NOBUILTIN)
tests_t_calloc_LDADD = lib/libshimmer.la $(PTHREAD_LIBS)

tests_t_dirty_SOURCES = tests/t-dirty.c $(TEST_COMMON)
tests_t_dirty_CFLAGS = $(AM_CFLAGS) $(TEST_NOBUILTIN)
tests_t_dirty_LDADD = lib/libshimmer.la $(PTHREAD_LIBS)

tests_t_lend_SOURCES = tests/t-lend.c $(TEST_COMMON)
tests_t_lend_CFLAGS = $(AM_CFLAGS) $(TEST_NOBUILTIN)
tests_t_lend_LDADD = lib/libshimmer.la $(PTHREAD_LIBS)

tests_t_trim_SOURCES = tests/t-trim.c $(TEST_COMMON)
tests_t_trim_CFLAGS = $(AM_CFLAGS) $(TEST_NOBUILTIN)
tests_t_trim_LDADD = lib/libshimmer.la $(PTHREAD_LIBS)

tests_t_stress_SOURCES = tests/t-stress.c tests/workload.h $(TEST_COMMON)
tests_t_stress_CFLAGS = $(AM_CFLAGS) $(TEST_NOBUILTIN)
tests_t_stress_LDADD = lib/libshimmer.la $(PTHREAD_LIBS)

tests_t_xthread_SOURCES = tests/t-xthread.c $(TEST_COMMON)
tests_t_xthread_CFLAGS = $(AM_CFLAGS) $(TEST_NOBUILTIN)
tests_t_xthread_LDADD = lib/libshimmer.la $(PTHREAD_LIBS)

tests_t_thread_exit_SOURCES = tests/t-thread-exit.c $(TEST_COMMON)
tests_t_thread_exit_CFLAGS = $(AM_CFLAGS) $(TEST_NOBUILTIN)
tests_t_thread_exit_LDADD = lib/libshimmer.la $(PTHREAD_LIBS)

tests_t_many_threads_SOURCES = tests/t-many-threads.c $(TEST_COMMON)
tests_t_many_threads_CFLAGS = $(AM_CFLAGS) $(TEST_NOBUILTIN)
tests_t_many_threads_LDADD = lib/libshimmer.la $(PTHREAD_LIBS)

tests_t_footprint_SOURCES = tests/t-footprint.c $(TEST_COMMON)
tests_t_footprint_CFLAGS = $(AM_CFLAGS) $(TEST_NOBUILTIN)
tests_t_footprint_LDADD = lib/libshimmer.la $(PTHREAD_LIBS)

tests_t_thp_SOURCES = tests/t-thp.c $(TEST_COMMON)
tests_t_thp_CFLAGS = $(AM_CFLAGS) $(TEST_NOBUILTIN)
tests_t_thp_LDADD = lib/libshimmer.la $(PTHREAD_LIBS)

tests_t_fork_SOURCES = tests/t-fork.c $(TEST_COMMON)
tests_t_fork_CFLAGS = $(AM_CFLAGS) $(TEST_NOBUILTIN)
tests_t_fork_LDADD = lib/libshimmer.la $(PTHREAD_LIBS)

# dlopen and dladdr live in libdl before glibc 2.34; -ldl is harmless after.
tests_t_lifecycle_SOURCES = tests/t-lifecycle.c $(TEST_COMMON)
tests_t_lifecycle_CFLAGS = $(AM_CFLAGS) $(TEST_NOBUILTIN)
tests_t_lifecycle_LDADD = lib/libshimmer.la $(PTHREAD_LIBS) -ldl

# Not linked with libshimmer: it loads the library itself, with dlopen.
tests_t_dlopen_SOURCES = tests/t-dlopen.c $(TEST_COMMON)
tests_t_dlopen_LDADD = $(PTHREAD_LIBS) -ldl

tests_t_linked_SOURCES = tests/t-linked.c $(TEST_COMMON)
tests_t_linked_CFLAGS = $(AM_CFLAGS) $(TEST_NOBUILTIN)
tests_t_linked_LDADD = lib/libshimmer.la $(PTHREAD_LIBS) -ldl

# libstdc++ after libshimmer: its operators new and delete are the ones a
# failing new of Shimmer's hands over to.
tests_t_cxx_SOURCES = tests/t-cxx.c $(TEST_COMMON)
tests_t_cxx_CFLAGS = $(AM_CFLAGS) $(TEST_NOBUILTIN)
tests_t_cxx_LDADD = lib/libshimmer.la $(PTHREAD_LIBS) -lstdc++ -ldl

tests_t_stats_SOURCES = tests/t-stats.c $(TEST_COMMON)
tests_t_stats_CFLAGS = $(AM_CFLAGS) $(TEST_NOBUILTIN)
tests_t_stats_LDADD = lib/libshimmer.la $(PTHREAD_LIBS)
tests_t_ctl_SOURCES = tests/t-ctl.c $(TEST_COMMON)
tests_t_ctl_CFLAGS = $(AM_CFLAGS) $(TEST_NOBUILTIN)
tests_t_ctl_LDADD = lib/libshimmer.la $(PTHREAD_LIBS)

tests_t_errors_SOURCES = tests/t-errors.c $(TEST_COMMON)
tests_t_errors_CFLAGS = $(AM_CFLAGS) $(TEST_NOBUILTIN)
tests_t_errors_LDADD = lib/libshimmer.la $(PTHREAD_LIBS)

# Not linked with Shimmer: the shell tests preload it.
tests_helper_SOURCES = tests/helper.c tests/workload.h tests/testutil.h
tests_helper_CFLAGS = $(AM_CFLAGS) $(TEST_NOBUILTIN)
tests_helper_LDADD = $(PTHREAD_LIBS) -ldl
