# SPDX-License-Identifier: MIT
# Unit tests of the allocator's internals: linked against the convenience
# library so that they can call shm_* functions directly.
UNIT_TESTS = tests/unit/t-sizeclass tests/unit/t-page tests/unit/t-huge \
	tests/unit/t-decay tests/unit/t-arena tests/unit/t-tcache \
	tests/unit/t-colour tests/unit/t-pool tests/unit/t-resident
check_PROGRAMS += $(UNIT_TESTS)
TESTS += $(UNIT_TESTS)
tests_unit_t_sizeclass_SOURCES = tests/unit/t-sizeclass.c tests/tap.h
tests_unit_t_sizeclass_LDADD = lib/libshimmer-core.la $(PTHREAD_LIBS)
tests_unit_t_page_SOURCES = tests/unit/t-page.c tests/tap.h
tests_unit_t_page_LDADD = lib/libshimmer-core.la $(PTHREAD_LIBS)
tests_unit_t_huge_SOURCES = tests/unit/t-huge.c tests/unit/clock.h tests/tap.h
tests_unit_t_huge_LDADD = lib/libshimmer-core.la $(PTHREAD_LIBS)
tests_unit_t_decay_SOURCES = tests/unit/t-decay.c tests/tap.h
tests_unit_t_decay_LDADD = lib/libshimmer-core.la $(PTHREAD_LIBS)
tests_unit_t_arena_SOURCES = tests/unit/t-arena.c tests/tap.h
tests_unit_t_arena_LDADD = lib/libshimmer-core.la $(PTHREAD_LIBS)
tests_unit_t_tcache_SOURCES = tests/unit/t-tcache.c tests/unit/clock.h tests/tap.h
tests_unit_t_tcache_LDADD = lib/libshimmer-core.la $(PTHREAD_LIBS)
tests_unit_t_colour_SOURCES = tests/unit/t-colour.c tests/tap.h
tests_unit_t_colour_LDADD = lib/libshimmer-core.la $(PTHREAD_LIBS)
tests_unit_t_pool_SOURCES = tests/unit/t-pool.c tests/tap.h
tests_unit_t_pool_LDADD = lib/libshimmer-core.la $(PTHREAD_LIBS)
tests_unit_t_resident_SOURCES = tests/unit/t-resident.c tests/tap.h
tests_unit_t_resident_LDADD = lib/libshimmer-core.la $(PTHREAD_LIBS)
