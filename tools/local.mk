# SPDX-License-Identifier: MIT
# The shimmer command.  A plain program: it does not link libshimmer (it
# runs other programs with it, and reads other processes' statistics
# through lib/publish.h), so it carries the install path of the library.
bin_PROGRAMS = tools/shimmer
tools_shimmer_SOURCES = \
	tools/tool.h \
	tools/shimmer.c \
	tools/run.c \
	tools/pubread.c tools/pubread.h \
	tools/stats.c \
	tools/json.c tools/json.h \
	tools/heap.c tools/heap.h \
	tools/map.c \
	lib/publish.h
tools_shimmer_CPPFLAGS = $(AM_CPPFLAGS) -DSHIMMER_LIBDIR='"$(libdir)"'
