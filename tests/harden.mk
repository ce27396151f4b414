# SPDX-License-Identifier: MIT
# The hardening tests: one program per failure family, each case in a
# child process of its own with the options it needs (see
# tests/harden-util.h), plus two shell tests that preload libshimmer: every
# opt-in check at once under correct programs, and valgrind's memcheck.
# Included from Makefile.am after tests/local.mk, whose TEST_NOBUILTIN and
# TEST_COMMON it uses.

HARDEN_C_TESTS = \
	tests/t-harden-canary \
	tests/t-harden-uaf \
	tests/t-harden-freelist \
	tests/t-harden-xthread \
	tests/t-harden-guard \
	tests/t-harden-fill \
	tests/t-harden-random \
	tests/t-harden-report

HARDEN_SH_TESTS = \
	tests/t-harden-all.sh \
	tests/t-valgrind.sh

HARDEN_COMMON = $(TEST_COMMON) tests/harden-util.h

check_PROGRAMS += $(HARDEN_C_TESTS) tests/harden-vg
dist_check_SCRIPTS += $(HARDEN_SH_TESTS)
TESTS += $(HARDEN_C_TESTS) $(HARDEN_SH_TESTS)

tests_t_harden_canary_SOURCES = tests/t-harden-canary.c $(HARDEN_COMMON)
tests_t_harden_canary_CFLAGS = $(AM_CFLAGS) $(TEST_NOBUILTIN)
tests_t_harden_canary_LDADD = lib/libshimmer.la $(PTHREAD_LIBS)

tests_t_harden_uaf_SOURCES = tests/t-harden-uaf.c $(HARDEN_COMMON)
tests_t_harden_uaf_CFLAGS = $(AM_CFLAGS) $(TEST_NOBUILTIN)
tests_t_harden_uaf_LDADD = lib/libshimmer.la $(PTHREAD_LIBS)

tests_t_harden_freelist_SOURCES = tests/t-harden-freelist.c $(HARDEN_COMMON)
tests_t_harden_freelist_CFLAGS = $(AM_CFLAGS) $(TEST_NOBUILTIN)
tests_t_harden_freelist_LDADD = lib/libshimmer.la $(PTHREAD_LIBS)

tests_t_harden_xthread_SOURCES = tests/t-harden-xthread.c $(HARDEN_COMMON)
tests_t_harden_xthread_CFLAGS = $(AM_CFLAGS) $(TEST_NOBUILTIN)
tests_t_harden_xthread_LDADD = lib/libshimmer.la $(PTHREAD_LIBS)

tests_t_harden_guard_SOURCES = tests/t-harden-guard.c $(HARDEN_COMMON)
tests_t_harden_guard_CFLAGS = $(AM_CFLAGS) $(TEST_NOBUILTIN)
tests_t_harden_guard_LDADD = lib/libshimmer.la $(PTHREAD_LIBS)

tests_t_harden_fill_SOURCES = tests/t-harden-fill.c $(HARDEN_COMMON)
tests_t_harden_fill_CFLAGS = $(AM_CFLAGS) $(TEST_NOBUILTIN)
tests_t_harden_fill_LDADD = lib/libshimmer.la $(PTHREAD_LIBS)

tests_t_harden_random_SOURCES = tests/t-harden-random.c $(HARDEN_COMMON)
tests_t_harden_random_CFLAGS = $(AM_CFLAGS) $(TEST_NOBUILTIN)
tests_t_harden_random_LDADD = lib/libshimmer.la $(PTHREAD_LIBS)

tests_t_harden_report_SOURCES = tests/t-harden-report.c $(HARDEN_COMMON)
tests_t_harden_report_CFLAGS = $(AM_CFLAGS) $(TEST_NOBUILTIN)
tests_t_harden_report_LDADD = lib/libshimmer.la $(PTHREAD_LIBS)

# Not linked with Shimmer: t-valgrind.sh runs it under memcheck with
# libshimmer preloaded, and without.
tests_harden_vg_SOURCES = tests/harden-vg.c
tests_harden_vg_CFLAGS = $(AM_CFLAGS) $(TEST_NOBUILTIN)
