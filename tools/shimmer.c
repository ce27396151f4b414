/* SPDX-License-Identifier: MIT */
/*
 * shimmer.c - the shimmer command: run a program under the Shimmer
 * allocator, show a running process's allocator statistics, draw its heap.
 *
 * This file holds the command line and the helpers every subcommand uses;
 * each subcommand lives in a file of its own (see tool.h).
 */
#include "config.h"

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tool.h"

void tool_print_usage(FILE *f)
{
	fputs("Usage: shimmer run [-o KEY:VAL,...] [--stats[=text|json]] [--] PROGRAM [ARGS...]\n"
	      "       shimmer stats [--json] [--watch SECONDS] PID\n"
	      "       shimmer map PID|STATS.json [-o FILE.svg]\n"
	      "       shimmer --version | --help\n"
	      "\n"
	      "run     run PROGRAM with libshimmer preloaded\n"
	      "          -o KEY:VAL,...    Shimmer options (see shimmer(3), SHIMMER_OPTIONS)\n"
	      "          --stats[=FORMAT]  print the allocator's statistics to stderr at exit\n"
	      "stats   show the allocator statistics of running process PID\n"
	      "          --json            one JSON object instead of text\n"
	      "          --watch SECONDS   repeat every SECONDS until the process exits\n"
	      "map     draw the heap of running process PID, or of a JSON report, as SVG\n"
	      "          -o FILE           where to write it (default heap.svg, - for stdout)\n"
	      "\n"
	      "Exit status: run: PROGRAM's own, 126 if it cannot be executed, 127 if it\n"
	      "is not found; otherwise 0 on success, 1 on failure; 2 for a usage error.\n",
	      f);
}

void tool_error(const char *fmt, ...)
{
	va_list ap;

	fflush(stdout);
	fputs("shimmer: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

void tool_usage_error(const char *fmt, ...)
{
	va_list ap;

	fflush(stdout);
	fputs("shimmer: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	tool_print_usage(stderr);
	exit(TOOL_EXIT_USAGE);
}

/* A process ID: decimal digits only, 1 to INT_MAX; no sign, no spaces. */
bool tool_parse_pid(const char *s, int *pid)
{
	long v;
	char *end;

	if (!s || *s < '0' || *s > '9')
		return false;
	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || *end || v < 1 || v > INT_MAX)
		return false;
	*pid = (int)v;
	return true;
}

const char *tool_human(uint64_t bytes, char *buf)
{
	static const char *const unit[] = { "KiB", "MiB", "GiB", "TiB", "PiB", "EiB" };
	double v = (double)bytes;
	int u = -1;

	if (bytes < 1024) {
		snprintf(buf, TOOL_HUMAN, "%llu B", (unsigned long long)bytes);
		return buf;
	}
	while (v >= 1024 && u < 5) {
		v /= 1024;
		u++;
	}
	snprintf(buf, TOOL_HUMAN, "%.1f %s", v, unit[u]);
	return buf;
}

int main(int argc, char **argv)
{
	const char *cmd = argc > 1 ? argv[1] : NULL;

	if (!cmd)
		tool_usage_error("no command given");
	if (!strcmp(cmd, "run"))
		return cmd_run(argc - 1, argv + 1);
	if (!strcmp(cmd, "stats"))
		return cmd_stats(argc - 1, argv + 1);
	if (!strcmp(cmd, "map"))
		return cmd_map(argc - 1, argv + 1);
	if (!strcmp(cmd, "--version") || !strcmp(cmd, "-V")) {
		if (argc > 2)
			tool_usage_error("--version takes no argument");
		printf("shimmer %s\n", PACKAGE_VERSION);
		return fflush(stdout) || ferror(stdout) ? TOOL_EXIT_FAIL : TOOL_EXIT_OK;
	}
	if (!strcmp(cmd, "--help") || !strcmp(cmd, "-h")) {
		tool_print_usage(stdout);
		return fflush(stdout) || ferror(stdout) ? TOOL_EXIT_FAIL : TOOL_EXIT_OK;
	}
	if (cmd[0] == '-')
		tool_usage_error("unknown option '%s'", cmd);
	tool_usage_error("unknown command '%s'", cmd);
}
