# SPDX-License-Identifier: MIT
# Tests of the shimmer command (tools/).  Included from Makefile.am.
# Neither helper links libshimmer: tool-live runs under "shimmer run", and
# tool-fakepub publishes statistics of its own making, right and wrong, as
# lib/publish.h lays them out.

check_PROGRAMS += tests/tool-live tests/tool-fakepub
TESTS += tests/t-tool.sh
dist_check_SCRIPTS += tests/t-tool.sh

# -fno-builtin-malloc: every call must reach the preloaded allocator.
tests_tool_live_SOURCES = tests/tool-live.c
tests_tool_live_CFLAGS = $(AM_CFLAGS) -fno-builtin-malloc -fno-builtin-free
tests_tool_live_LDADD = -ldl

tests_tool_fakepub_SOURCES = tests/tool-fakepub.c lib/publish.h
