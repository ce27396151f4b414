/* SPDX-License-Identifier: MIT */
/*
 * tool.h - what the parts of the shimmer command share.
 *
 *   shimmer.c   the command line: dispatch, usage, --version
 *   run.c       "shimmer run": preload the library and exec the program
 *   pubread.c   find, map and check a process's published statistics
 *   stats.c     "shimmer stats": totals and busiest classes, text or JSON
 *   json.c      a small JSON reader, for the library's report
 *   heap.c      the heap picture, from a live process or a JSON report
 *   map.c       "shimmer map": the heap picture as SVG
 *
 * Exit statuses are the same everywhere: 0 success, 1 the work could not
 * be done (no such process, no statistics, an unreadable file), 2 a usage
 * error.  "shimmer run" adds 126 and 127, as a shell does.
 */
#ifndef SHIMMER_TOOL_H
#define SHIMMER_TOOL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define TOOL_EXIT_OK 0
#define TOOL_EXIT_FAIL 1
#define TOOL_EXIT_USAGE 2
#define TOOL_EXIT_NOEXEC 126
#define TOOL_EXIT_NOTFOUND 127

#if defined(__GNUC__)
# define TOOL_PRINTF(f, a) __attribute__((format(printf, f, a)))
# define TOOL_NORETURN __attribute__((noreturn))
#else
# define TOOL_PRINTF(f, a)
# define TOOL_NORETURN
#endif

/* shimmer.c */
void tool_error(const char *fmt, ...) TOOL_PRINTF(1, 2);
TOOL_NORETURN void tool_usage_error(const char *fmt, ...) TOOL_PRINTF(1, 2);
bool tool_parse_pid(const char *s, int *pid);
/* bytes for a person: "512 B", "1.5 KiB", "12.0 MiB"; buf of TOOL_HUMAN. */
#define TOOL_HUMAN 24
const char *tool_human(uint64_t bytes, char *buf);
void tool_print_usage(FILE *f);

/* The subcommands; argv[0] is the subcommand's name. */
int cmd_run(int argc, char **argv);
int cmd_stats(int argc, char **argv);
int cmd_map(int argc, char **argv);

#endif /* SHIMMER_TOOL_H */
