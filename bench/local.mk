# SPDX-License-Identifier: MIT
# Benchmarks.  Built by "make bench", and by "make check", where
# tests/t-bench.sh runs each briefly on Shimmer for its own checks of what
# it wrote, never for its timings; not by "make".
#
# The programs link libc and pthreads only, never libshimmer.  run.py loads
# each allocator, Shimmer included, with LD_PRELOAD, so every allocator runs
# the same binary and the library measured is the one preloaded.
#
#   make bench                  full comparison (about 12 minutes on 2 cores)
#   make bench-quick            short one (about 2 minutes): make bench QUICK=1
#   make bench THREADS=16       more threads in the multi-threaded benchmarks
#   make bench SHIMMER_LIB_B=/path/other/libshimmer.so.1
#                               also run a second Shimmer build ("shimmer-b")
# RUNS, ALLOCATORS, BENCHES and SHIMMER_LIB are read by run.py as well;
# see bench/README.

BENCH_PROGS = \
	bench/churn \
	bench/cmix \
	bench/larson \
	bench/xthread \
	bench/realloc \
	bench/large \
	bench/threads \
	bench/falseshare \
	bench/memreturn \
	bench/frag \
	bench/fastpath

check_PROGRAMS += $(BENCH_PROGS)

# The compiler must treat the allocation functions as opaque calls: with the
# builtins on it may pair a malloc with its free and delete both, or merge
# malloc + memset into calloc, and then it is not the allocator that is timed.
BENCH_CFLAGS = $(AM_CFLAGS) -fno-builtin-malloc -fno-builtin-calloc \
	-fno-builtin-realloc -fno-builtin-free
# -ldl: dladdr/dlsym, to report which library malloc came from (part of libc
# itself since glibc 2.34, where libdl is an empty stub).
BENCH_LIBS = $(PTHREAD_LIBS) -ldl
BENCH_COMMON = bench/common.c bench/common.h

bench_churn_SOURCES = bench/churn.c $(BENCH_COMMON)
bench_churn_CFLAGS = $(BENCH_CFLAGS)
bench_churn_LDADD = $(BENCH_LIBS)

bench_cmix_SOURCES = bench/cmix.c $(BENCH_COMMON)
bench_cmix_CFLAGS = $(BENCH_CFLAGS)
bench_cmix_LDADD = $(BENCH_LIBS)

bench_larson_SOURCES = bench/larson.c $(BENCH_COMMON)
bench_larson_CFLAGS = $(BENCH_CFLAGS)
bench_larson_LDADD = $(BENCH_LIBS)

bench_xthread_SOURCES = bench/xthread.c $(BENCH_COMMON)
bench_xthread_CFLAGS = $(BENCH_CFLAGS)
bench_xthread_LDADD = $(BENCH_LIBS)

bench_realloc_SOURCES = bench/realloc.c $(BENCH_COMMON)
bench_realloc_CFLAGS = $(BENCH_CFLAGS)
bench_realloc_LDADD = $(BENCH_LIBS)

bench_large_SOURCES = bench/large.c $(BENCH_COMMON)
bench_large_CFLAGS = $(BENCH_CFLAGS)
bench_large_LDADD = $(BENCH_LIBS)

bench_threads_SOURCES = bench/threads.c $(BENCH_COMMON)
bench_threads_CFLAGS = $(BENCH_CFLAGS)
bench_threads_LDADD = $(BENCH_LIBS)

bench_falseshare_SOURCES = bench/falseshare.c $(BENCH_COMMON)
bench_falseshare_CFLAGS = $(BENCH_CFLAGS)
bench_falseshare_LDADD = $(BENCH_LIBS)

bench_memreturn_SOURCES = bench/memreturn.c $(BENCH_COMMON)
bench_memreturn_CFLAGS = $(BENCH_CFLAGS)
bench_memreturn_LDADD = $(BENCH_LIBS)

bench_frag_SOURCES = bench/frag.c $(BENCH_COMMON)
bench_frag_CFLAGS = $(BENCH_CFLAGS)
bench_frag_LDADD = $(BENCH_LIBS)

bench_fastpath_SOURCES = bench/fastpath.c $(BENCH_COMMON)
bench_fastpath_CFLAGS = $(BENCH_CFLAGS)
bench_fastpath_LDADD = $(BENCH_LIBS)

EXTRA_DIST += bench/run.py bench/README
CLEANFILES += $(BENCH_PROGS) bench/out/results.txt bench/out/results.csv \
	bench/out/results.svg bench/out/runs.csv

# run.py measures the library built beside --bindir (named by the dlname
# in lib/libshimmer.la) unless SHIMMER_LIB says otherwise.  Make variables
# given on the command line (QUICK=1, THREADS=16, ...) reach run.py through
# the environment.
bench:
	$(AM_V_at)$(MAKE) $(AM_MAKEFLAGS) lib/libshimmer.la $(BENCH_PROGS)
	@py="$(PYTHON3)"; \
	$${py:-python3} $(srcdir)/bench/run.py \
	    --bindir="$(abs_top_builddir)/bench" \
	    --out="$(abs_top_builddir)/bench/out"

bench-quick:
	$(AM_V_at)$(MAKE) $(AM_MAKEFLAGS) bench QUICK=1

# What the default-on checks cost: the same sources built without them
# (-DSHM_CHECKS=0), run side by side with the real library as shimmer-b.
EXTRA_LTLIBRARIES = bench/libshimmer-nochecks.la
bench_libshimmer_nochecks_la_SOURCES = $(lib_libshimmer_core_la_SOURCES)
bench_libshimmer_nochecks_la_CPPFLAGS = $(AM_CPPFLAGS) -DSHM_CHECKS=0
bench_libshimmer_nochecks_la_CFLAGS = $(lib_libshimmer_core_la_CFLAGS)
bench_libshimmer_nochecks_la_LIBADD = $(PTHREAD_LIBS)
bench_libshimmer_nochecks_la_LDFLAGS = -rpath $(abs_builddir)/bench \
	-avoid-version -shared -no-undefined
CLEANFILES += bench/libshimmer-nochecks.la

bench-checks:
	$(AM_V_at)$(MAKE) $(AM_MAKEFLAGS) bench/libshimmer-nochecks.la
	$(AM_V_at)$(MAKE) $(AM_MAKEFLAGS) bench ALLOCATORS=shimmer,shimmer-b \
	    SHIMMER_LIB_B=$(abs_top_builddir)/bench/.libs/libshimmer-nochecks.so

.PHONY: bench bench-quick bench-checks
